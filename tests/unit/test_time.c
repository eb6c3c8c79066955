/* SPDX-License-Identifier: MIT */
/* test_time.c: ISO-8601 and HTTP-date parsing. */
#include <stdint.h>

#include "tap.h"
#include "timeparse.h"

int main(void)
{
	static const struct {
		const char *in;
		int64_t want;
	} iso[] = {
		/* The seed's REST examples: 7 fractional digits and an offset. */
		{ "2024-07-19T17:13:57.2491382+00:00", 1721409237 },
		{ "2024-07-20T17:13:57.1918498+00:00", 1721495637 },
		{ "2024-07-19T17:13:57Z", 1721409237 },
		{ "2024-07-19t17:13:57z", 1721409237 },
		{ "2024-07-19 17:13:57", 1721409237 },
		{ "2024-07-19T19:13:57+02:00", 1721409237 },
		{ "2024-07-19T12:13:57-0500", 1721409237 },
		{ "2024-07-19T17:13Z", 1721409180 },
		{ "2024-07-19", 1721347200 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2000-02-29T00:00:00Z", 951782400 },
		{ "1722476583", 1722476583 },
		{ "1722476583.75", 1722476583 },
		{ "  2024-07-19T17:13:57Z  ", 1721409237 },
	};
	static const char *const bad_iso[] = {
		"", "yesterday", "2024-13-01T00:00:00Z", "2024-07-19T25:00:00Z",
		"2024-07-19T17:13:57+99:00", "2024-07-19T17:13:57 junk", "2024-7-19",
		"2024-07-19T17:13:57.Z", "1e400", "12abc",
	};
	static const struct {
		const char *in;
		int64_t want;
	} http[] = {
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", 784111777 },
		{ "Sun Nov  6 08:49:37 1994", 784111777 },
		{ "Wed, 27 Nov 2026 10:00:00 GMT", 1795773600 },
	};
	static const char *const bad_http[] = { "", "tomorrow", "Sun, 06 Foo 1994 08:49:37 GMT",
						"Sun, 06 Nov 1994 08:49:37 PST", "120",
						/* found by fuzz_parse_misc: years out of range */
						"Sun, 06 Jan -2147483648 08:49:37 GMT",
						"Sun, 06 Nov 99999999 08:49:37 GMT",
						"Sun Nov  6 08:49:37 1994722476783" };
	size_t i;
	int64_t t;

	for (i = 0; i < sizeof(iso) / sizeof(iso[0]); i++) {
		t = -1;
		ok(time_parse_iso8601(iso[i].in, &t) && t == iso[i].want,
		   "iso '%s' -> %lld (got %lld)", iso[i].in, (long long)iso[i].want,
		   (long long)t);
	}
	for (i = 0; i < sizeof(bad_iso) / sizeof(bad_iso[0]); i++)
		ok(!time_parse_iso8601(bad_iso[i], &t), "iso rejects '%s'", bad_iso[i]);
	ok(!time_parse_iso8601(NULL, &t), "iso rejects NULL");
	for (i = 0; i < sizeof(http) / sizeof(http[0]); i++) {
		t = -1;
		ok(time_parse_http_date(http[i].in, &t) && t == http[i].want,
		   "http-date '%s' (got %lld)", http[i].in, (long long)t);
	}
	for (i = 0; i < sizeof(bad_http) / sizeof(bad_http[0]); i++)
		ok(!time_parse_http_date(bad_http[i], &t), "http-date rejects '%s'",
		   bad_http[i]);
	ok(time_from_utc(1969, 12, 31, 23, 59, 59) == -1, "before the epoch");
	return done_testing();
}
