/* SPDX-License-Identifier: MIT */
/* retry.c: retry-after parsing, retryable statuses and jittered backoff. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>

#include "retry.h"
#include "timeparse.h"

/* A non-negative decimal number, possibly fractional, and nothing else. */
static bool parse_number(const char *s, double *out)
{
	char *end;
	double v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s) && *s != '.' && *s != '-')
		return false;
	v = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (*end || !isfinite(v))
		return false;
	*out = v < 0 ? 0 : v;
	return true;
}

long retry_after_parse(const char *retry_after_ms, const char *retry_after,
		       int64_t now)
{
	double v;
	int64_t when;

	if (retry_after_ms && parse_number(retry_after_ms, &v))
		return v > 1e12 ? (long)1e12 : (long)v;
	if (retry_after && parse_number(retry_after, &v))
		return v > 1e9 ? (long)1e12 : (long)(v * 1000.0);
	if (retry_after && time_parse_http_date(retry_after, &when))
		return when <= now ? 0
		       : when - now > 1000000000 ? (long)1e12
						 : (long)((when - now) * 1000);
	return -1;
}

bool retry_status_retryable(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool retry_status_unprocessed(long status)
{
	return status == 408 || status == 429 || status == 503;
}

long retry_delay_ms(const struct retry_policy *p, int attempt,
		    long retry_after_ms, uint32_t rnd)
{
	double d, jitter;

	if (retry_after_ms >= 0)
		return retry_after_ms > p->retry_after_cap_ms ? -1 : retry_after_ms;
	d = (double)p->base_ms * pow(2.0, attempt < 30 ? attempt : 30);
	if (d > (double)p->max_backoff_ms)
		d = (double)p->max_backoff_ms;
	jitter = 0.75 + 0.25 * ((double)rnd / 4294967295.0);
	return (long)(d * jitter);
}
