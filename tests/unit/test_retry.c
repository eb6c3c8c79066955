/* SPDX-License-Identifier: MIT */
/* test_retry.c: retry hints, retryable statuses, backoff with jitter. */
#include "retry.h"
#include "tap.h"

int main(void)
{
	const struct retry_policy p = { .max_retries = 4, .base_ms = 500,
					.max_backoff_ms = 8000,
					.retry_after_cap_ms = 60000 };
	int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
	int a;
	long d;

	ok(retry_after_parse("1500", NULL, now) == 1500, "retry-after-ms");
	ok(retry_after_parse("250.7", "9", now) == 250,
	   "retry-after-ms wins over Retry-After");
	ok(retry_after_parse(NULL, "7", now) == 7000, "Retry-After seconds");
	ok(retry_after_parse(NULL, "0.5", now) == 500, "fractional seconds");
	ok(retry_after_parse(NULL, "Sun, 06 Nov 1994 08:49:47 GMT", now) == 10000,
	   "Retry-After as an HTTP date, 10 s ahead");
	ok(retry_after_parse(NULL, "Sun, 06 Nov 1994 08:49:00 GMT", now) == 0,
	   "an HTTP date in the past means now");
	ok(retry_after_parse("junk", "also junk", now) == -1, "garbage ignored");
	ok(retry_after_parse("junk", "3", now) == 3000,
	   "bad retry-after-ms falls back to Retry-After");
	ok(retry_after_parse(NULL, NULL, now) == -1, "no hint");
	ok(retry_after_parse("-5", NULL, now) == 0, "negative reads as 0");
	ok(retry_after_parse(NULL, "99999999999", now) > 60000, "huge stays huge");
	ok(retry_after_parse(NULL, "Fri, 31 Dec 9999 23:59:59 GMT", now) == (long)1e12,
	   "a date far ahead is capped like huge seconds (no overflow)");
	ok(retry_after_parse(NULL, "Sun, 06 Nov 99999999 08:49:37 GMT", now) == -1,
	   "a date past year 9999 is no hint");

	ok(retry_status_retryable(429) && retry_status_retryable(408) &&
		   retry_status_retryable(500) && retry_status_retryable(503) &&
		   retry_status_retryable(504),
	   "429/408/5xx retryable");
	ok(!retry_status_retryable(400) && !retry_status_retryable(401) &&
		   !retry_status_retryable(404) && !retry_status_retryable(409),
	   "4xx not retryable");
	ok(retry_status_unprocessed(429) && retry_status_unprocessed(503) &&
		   retry_status_unprocessed(408),
	   "429/503/408 prove nothing happened");
	ok(!retry_status_unprocessed(500) && !retry_status_unprocessed(502) &&
		   !retry_status_unprocessed(504),
	   "500/502/504 after a POST are ambiguous");

	ok(retry_delay_ms(&p, 0, 1234, 0) == 1234, "hint used as is");
	ok(retry_delay_ms(&p, 0, 60001, 0) == -1, "hint over the cap: do not retry");
	ok(retry_delay_ms(&p, 0, -1, 0xffffffffu) == 500, "first backoff, no jitter");
	ok(retry_delay_ms(&p, 0, -1, 0) == 375, "first backoff, full jitter (x0.75)");
	ok(retry_delay_ms(&p, 3, -1, 0xffffffffu) == 4000, "doubles");
	ok(retry_delay_ms(&p, 10, -1, 0xffffffffu) == 8000, "capped");
	for (a = 0; a < 40; a++) {
		d = retry_delay_ms(&p, a, -1, (uint32_t)a * 2654435761u);
		if (d < 375 || d > 8000)
			break;
	}
	ok(a == 40, "backoff always within [375, 8000] ms");
	return done_testing();
}
