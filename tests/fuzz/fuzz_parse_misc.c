/* fuzz_parse_misc.c: fuzzes parse_deployments (3 sources), parse_error_body, token responses, time parsing, retry_after_parse and url escaping/checks. */
/* SPDX-License-Identifier: MIT */
/*
 * The bytes go whole to the body parsers, and as a C string (cut at the
 * first NUL) to the string functions. Invariants:
 *   - parse_deployments: CORE_OK or CORE_EPARSE; every item named; sku only
 *     from ARM, next_link only from ARM, /models' model is its id;
 *   - parse_error_body: the caller's message prefix is kept, msg and code
 *     stay NUL-terminated and printable, a full msg buffer does not overflow;
 *   - time parsing: any time it returns, formatted back as ISO-8601, as an
 *     HTTP-date and as Unix seconds, parses to the same time;
 *   - parse_token (JSON and bare): CORE_OK with a non-empty token of
 *     printable bytes without spaces (it goes into a header), or CORE_EPARSE
 *     with nothing kept; parse_token_error keeps msg/code terminated and
 *     msg free of control bytes;
 *   - retry_after_parse: -1 or a non-negative number of milliseconds;
 *   - url_escape_segment: only unreserved bytes and %XX (no '/', nothing
 *     below 0x21), never "." or "..", and it decodes back to the input;
 *   - url_check_endpoint: an accepted endpoint has an http(s) scheme, no
 *     spaces, query, fragment or credentials; allow_http only widens.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <strings.h>
#include <time.h>

#include "fuzz.h"
#include "parse.h"
#include "token_internal.h"
#include "retry.h"
#include "timeparse.h"
#include "url.h"

/* 1000-01-01 .. 9999-12-31: what %Y prints with exactly 4 digits. */
#define ISO_MIN ((int64_t)-30610224000LL)
#define ISO_MAX ((int64_t)253402300799LL)
/* The range of Unix-seconds strings time_parse_iso8601 reads (1e15). */
#define TIME_UNIX_MAX ((int64_t)1000000000000000LL)
#define NOW ((int64_t)1722476583)

static void check_deployments(const char *json, size_t len,
			      enum deployment_source src)
{
	struct core_err err = CORE_ERR_INIT;
	struct deployment_list l;
	enum core_rc rc;
	size_t i;

	rc = parse_deployments(json, len, src, &l, &err);
	FUZZ_CHECK(rc == CORE_OK || rc == CORE_EPARSE);
	if (rc != CORE_OK) {
		FUZZ_CHECK(l.n == 0 && !l.items && !l.next_link);
		FUZZ_CHECK(err.msg[0] != '\0');
		return;
	}
	FUZZ_CHECK(l.n == 0 || l.items);
	for (i = 0; i < l.n; i++) {
		const struct deployment *d = &l.items[i];

		FUZZ_CHECK(d->name && d->name[0]);
		FUZZ_CHECK(fuzz_str_ok(d->model) && fuzz_str_ok(d->sku) &&
			   fuzz_str_ok(d->status));
		if (src != DEPLOY_SRC_ARM)
			FUZZ_CHECK(d->sku == NULL);
		if (src == DEPLOY_SRC_MODELS)
			FUZZ_CHECK(d->model && !strcmp(d->model, d->name) &&
				   d->status == NULL);
	}
	FUZZ_CHECK(fuzz_str_ok(l.next_link));
	if (src != DEPLOY_SRC_ARM)
		FUZZ_CHECK(l.next_link == NULL);
	deployment_list_release(&l);
	FUZZ_CHECK(l.items == NULL && l.n == 0);
}

static bool printable_from(const char *s, size_t from)
{
	size_t i;

	for (i = from; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static void check_error_body(const char *body, size_t len)
{
	static const char prefix[] = "cannot get batch 'b1' (HTTP 400)";
	struct core_err err = CORE_ERR_INIT;
	size_t i;

	parse_error_body(body, len, NULL); /* allowed, does nothing */

	snprintf(err.msg, sizeof(err.msg), "%s", prefix);
	snprintf(err.code, sizeof(err.code), "stale_code");
	parse_error_body(body, len, &err);
	FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
	FUZZ_CHECK(!strncmp(err.msg, prefix, strlen(prefix)));
	FUZZ_CHECK(printable_from(err.msg, strlen(prefix)));
	FUZZ_CHECK(memchr(err.code, '\0', sizeof(err.code)) != NULL);
	for (i = 0; err.code[i]; i++)
		FUZZ_CHECK(isgraph((unsigned char)err.code[i]));
	if (!len)
		FUZZ_CHECK(!strcmp(err.msg, prefix) && !err.code[0]);

	/* A message buffer that is already full stays as it was. */
	memset(err.msg, 'x', sizeof(err.msg) - 1);
	err.msg[sizeof(err.msg) - 1] = '\0';
	parse_error_body(body, len, &err);
	FUZZ_CHECK(strlen(err.msg) == sizeof(err.msg) - 1);
	for (i = 0; i < sizeof(err.msg) - 1; i++)
		FUZZ_CHECK(err.msg[i] == 'x');
}

/* t, formatted every way the parsers read, comes back as t. */
static void check_time_roundtrip(int64_t t)
{
	char s[64];
	struct tm tm;
	time_t tt = (time_t)t;
	int64_t back;

	if (t >= -TIME_UNIX_MAX && t <= TIME_UNIX_MAX) {
		snprintf(s, sizeof(s), "%" PRId64, t);
		FUZZ_CHECK(time_parse_iso8601(s, &back) && back == t);
	}
	if (t < ISO_MIN || t > ISO_MAX || !gmtime_r(&tt, &tm))
		return;
	FUZZ_CHECK(strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm));
	FUZZ_CHECK(time_parse_iso8601(s, &back) && back == t);
	FUZZ_CHECK(strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S+00:00", &tm));
	FUZZ_CHECK(time_parse_iso8601(s, &back) && back == t);
	FUZZ_CHECK(strftime(s, sizeof(s), "%a, %d %b %Y %H:%M:%S GMT", &tm));
	FUZZ_CHECK(time_parse_http_date(s, &back) && back == t);
	FUZZ_CHECK(strftime(s, sizeof(s), "%a %b %e %H:%M:%S %Y", &tm));
	FUZZ_CHECK(time_parse_http_date(s, &back) && back == t);
}

static void check_times(const char *s)
{
	int64_t t = 0, t2 = 0;

	if (time_parse_iso8601(s, &t)) {
		FUZZ_CHECK(time_parse_iso8601(s, &t2) && t2 == t);
		check_time_roundtrip(t);
	}
	if (time_parse_http_date(s, &t))
		check_time_roundtrip(t);
}

static void check_retry(const char *s)
{
	const char *nl = strchr(s, '\n');
	char *ms = NULL;
	long v;

	v = retry_after_parse(s, NULL, NOW);
	FUZZ_CHECK(v >= -1);
	v = retry_after_parse(NULL, s, NOW);
	FUZZ_CHECK(v >= -1);
	if (nl) {
		/* "retry-after-ms\nRetry-After": both headers at once. */
		ms = fuzz_cstr((const uint8_t *)s, (size_t)(nl - s));
		v = retry_after_parse(ms, nl + 1, NOW);
		FUZZ_CHECK(v >= -1);
		if (retry_after_parse(ms, NULL, NOW) >= 0)
			FUZZ_CHECK(v == retry_after_parse(ms, NULL, NOW));
		free(ms);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void check_escape(const char *s)
{
	char *e = url_escape_segment(s), *d;
	size_t i, j = 0, n = strlen(s);

	FUZZ_CHECK(e != NULL);
	FUZZ_CHECK(strlen(e) <= 3 * n);
	FUZZ_CHECK(strcmp(e, ".") && strcmp(e, ".."));
	FUZZ_CHECK(n == 0 || e[0] != '\0');
	d = malloc(n + 1);
	FUZZ_CHECK(d != NULL);
	for (i = 0; e[i]; i++) {
		unsigned char c = (unsigned char)e[i];

		FUZZ_CHECK(c != '/' && c >= 0x21 && c < 0x7f);
		if (c == '%') {
			FUZZ_CHECK(hexval(e[i + 1]) >= 0 && hexval(e[i + 2]) >= 0);
			d[j++] = (char)(hexval(e[i + 1]) * 16 + hexval(e[i + 2]));
			i += 2;
		} else {
			FUZZ_CHECK(isalnum(c) || strchr("-_.~", c));
			d[j++] = (char)c;
		}
		FUZZ_CHECK(j <= n);
	}
	d[j] = '\0';
	FUZZ_CHECK(j == n && !memcmp(d, s, n));
	free(d);
	free(e);
}

static void check_endpoint(const char *s)
{
	struct core_err err = CORE_ERR_INIT;
	enum core_rc strict = url_check_endpoint(s, false, &err);
	enum core_rc loose = url_check_endpoint(s, true, &err);
	const char *host, *end;
	char *base, *u;
	size_t i;

	FUZZ_CHECK(strict == CORE_OK || strict == CORE_EINVAL);
	FUZZ_CHECK(loose == CORE_OK || loose == CORE_EINVAL);
	if (strict == CORE_OK)
		FUZZ_CHECK(loose == CORE_OK);
	if (loose != CORE_OK)
		return;
	FUZZ_CHECK(!strncasecmp(s, "https://", 8) ||
		   !strncasecmp(s, "http://", 7));
	for (i = 0; s[i]; i++)
		FUZZ_CHECK((unsigned char)s[i] > ' ' && s[i] != 0x7f);
	FUZZ_CHECK(!strchr(s, '?') && !strchr(s, '#'));
	host = strstr(s, "://") + 3;
	end = host + strcspn(host, "/");
	FUZZ_CHECK(end > host && !memchr(host, '@', (size_t)(end - host)));

	for (i = 0; i < 3; i++) {
		base = url_base((enum api_surface)i, s);
		FUZZ_CHECK(base != NULL);
		FUZZ_CHECK(!base[0] || base[strlen(base) - 1] != '/');
		FUZZ_CHECK(!strncmp(base, s, strlen(base)));
		u = url_build((enum api_surface)i, base, "2024-10-21",
			      "batches/b%2F1", "limit=100");
		FUZZ_CHECK(u != NULL && !strncmp(u, base, strlen(base)));
		free(u);
		free(base);
	}
}

static void check_token(const char *body, size_t len, bool bare)
{
	struct core_err err = CORE_ERR_INIT;
	struct token t;
	enum core_rc rc = parse_token(body, len, NOW, bare, &t, &err);
	size_t i;

	FUZZ_CHECK(rc == CORE_OK || rc == CORE_EPARSE);
	if (rc != CORE_OK) {
		FUZZ_CHECK(t.value == NULL && t.expires_on == 0 && err.msg[0]);
		return;
	}
	FUZZ_CHECK(t.value && t.value[0] && t.expires_on >= 0);
	for (i = 0; t.value[i]; i++)
		FUZZ_CHECK((unsigned char)t.value[i] > 0x20 && t.value[i] != 0x7f);
	token_release(&t);
	FUZZ_CHECK(t.value == NULL);
}

static void check_token_error(const char *body, size_t len)
{
	struct core_err err = CORE_ERR_INIT;
	size_t i;

	err.http_status = 400;
	parse_token_error(body, len, &err);
	FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
	FUZZ_CHECK(memchr(err.code, '\0', sizeof(err.code)) != NULL);
	for (i = 0; err.msg[i]; i++)
		FUZZ_CHECK((unsigned char)err.msg[i] >= 0x20);
	parse_token_error(body, len, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	char *s = fuzz_cstr(data, size);

	check_deployments(json, size, DEPLOY_SRC_LEGACY);
	check_deployments(json, size, DEPLOY_SRC_MODELS);
	check_deployments(json, size, DEPLOY_SRC_ARM);
	check_error_body(json, size);
	check_token(json, size, false);
	check_token(json, size, true);
	check_token_error(json, size);
	check_times(s);
	check_retry(s);
	check_escape(s);
	check_endpoint(s);
	free(s);
	return 0;
}
