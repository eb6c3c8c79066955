/* SPDX-License-Identifier: MIT */
/* retry.h: the retry policy of the HTTP layer as pure, testable functions. */
#ifndef BATCHFS_RETRY_H
#define BATCHFS_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Only core/http.c acts on these decisions; nothing else in batchfs retries
 * or sleeps. Pure functions; thread-safe.
 */
struct retry_policy {
	int max_retries;	 /* retries after the first attempt */
	long base_ms;		 /* first backoff */
	long max_backoff_ms;	 /* backoff ceiling */
	long retry_after_cap_ms; /* a server hint above this is not waited for */
};

/*
 * The server's retry hint in milliseconds, or -1 when there is none that
 * parses. Order (as the official SDKs): retry-after-ms (milliseconds, may be
 * fractional; x-ms-retry-after-ms is passed in the same slot), then
 * Retry-After as seconds (may be fractional), then Retry-After as an
 * HTTP-date relative to now (Unix seconds). Negative values read as 0.
 */
long retry_after_parse(const char *retry_after_ms, const char *retry_after,
		       int64_t now);

/* 408, 429 and every 5xx are worth another attempt. */
bool retry_status_retryable(long status);

/*
 * Statuses that prove the server did not act on the request (throttled or
 * refused at the door), so even a non-idempotent POST may be sent again:
 * 408, 429 and 503. A 500/502/504 after a POST is ambiguous.
 */
bool retry_status_unprocessed(long status);

/*
 * Milliseconds to wait before retry number attempt+1 (attempt counts from
 * 0). With a server hint, the hint itself, or -1 ("do not retry") when it
 * exceeds the cap. Without, exponential backoff base*2^attempt capped at
 * max_backoff_ms, scaled by a jitter factor in [0.75, 1.0] taken from rnd.
 */
long retry_delay_ms(const struct retry_policy *p, int attempt,
		    long retry_after_ms, uint32_t rnd);

#endif
