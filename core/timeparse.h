/* SPDX-License-Identifier: MIT */
/* timeparse.h: tolerant timestamp parsing (Unix seconds or ISO-8601). */
#ifndef BATCHFS_TIMEPARSE_H
#define BATCHFS_TIMEPARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/*
 * Parses an ISO-8601 / RFC 3339 date-time such as
 * "2024-07-19T17:13:57.2491382+00:00", "2024-07-19T17:13:57Z",
 * "2024-07-19 17:13:57" (taken as UTC) or a bare date "2024-07-19", or a
 * decimal string of Unix seconds ("1722476583", "1722476583.5").
 * Fractions are dropped. On success stores Unix seconds in *out.
 * Pure function; thread-safe.
 */
bool time_parse_iso8601(const char *s, int64_t *out);

/*
 * Parses an HTTP-date (RFC 9110: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
 * plus the obsolete RFC 850 and asctime forms). Pure; thread-safe.
 */
bool time_parse_http_date(const char *s, int64_t *out);

/* Days-from-civil arithmetic: seconds since the epoch of a UTC date-time. */
int64_t time_from_utc(int year, int mon, int day, int hour, int min, int sec);

#endif
