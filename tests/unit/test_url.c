/* SPDX-License-Identifier: MIT */
/* test_url.c: URLs per surface, endpoint checks, segment escaping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "url.h"

static int check(enum api_surface s, const char *ep, const char *ver,
		 const char *path, const char *q, const char *want)
{
	char *base = url_base(s, ep), *u = url_build(s, base, ver, path, q);
	int r = u && strcmp(u, want) == 0;

	if (!r)
		printf("# got %s\n", u ? u : "(null)");
	free(base);
	free(u);
	return r;
}

int main(void)
{
	enum api_surface s;
	char *e;

	ok(check(API_SURFACE_AZURE, "https://r.openai.azure.com", "2024-10-21",
		 "batches", NULL,
		 "https://r.openai.azure.com/openai/batches?api-version=2024-10-21"),
	   "azure dated");
	ok(check(API_SURFACE_AZURE, "https://r.openai.azure.com/openai/", "2025-04-01-preview",
		 "batches", "limit=5&after=batch_1",
		 "https://r.openai.azure.com/openai/batches?api-version=2025-04-01-preview&limit=5&after=batch_1"),
	   "azure dated, endpoint with /openai/, query appended");
	ok(check(API_SURFACE_AZURE_V1, "https://r.openai.azure.com/openai/v1/", NULL,
		 "files", NULL, "https://r.openai.azure.com/openai/v1/files"),
	   "azure v1 strips /openai/v1");
	ok(check(API_SURFACE_AZURE_V1, "https://r.services.ai.azure.com", "preview",
		 "batches", "limit=2",
		 "https://r.services.ai.azure.com/openai/v1/batches?api-version=preview&limit=2"),
	   "azure v1 with api-version=preview");
	ok(check(API_SURFACE_OPENAI, "https://api.openai.com/v1/", "ignored",
		 "files/f/content", NULL, "https://api.openai.com/v1/files/f/content"),
	   "openai ignores api-version");
	ok(check(API_SURFACE_OPENAI, "http://127.0.0.1:8080/v1", NULL, "batches",
		 "limit=1", "http://127.0.0.1:8080/v1/batches?limit=1"),
	   "openai with a query");

	ok(url_check_endpoint("https://r.openai.azure.com", false, NULL) == CORE_OK,
	   "https ok");
	ok(url_check_endpoint("http://127.0.0.1:1234", false, NULL) == CORE_OK,
	   "http to loopback ok");
	ok(url_check_endpoint("http://localhost:1234/x", false, NULL) == CORE_OK,
	   "http to localhost ok");
	ok(url_check_endpoint("http://[::1]:99", false, NULL) == CORE_OK,
	   "http to ::1 ok");
	ok(url_check_endpoint("http://example.com", false, NULL) == CORE_EINVAL,
	   "plain http elsewhere refused");
	ok(url_check_endpoint("http://127.0.0.1.evil.com", false, NULL) == CORE_EINVAL,
	   "loopback look-alike refused");
	ok(url_check_endpoint("http://example.com", true, NULL) == CORE_OK,
	   "plain http allowed when asked");
	ok(url_check_endpoint("ftp://x", true, NULL) == CORE_EINVAL, "ftp refused");
	ok(url_check_endpoint("https://user:pw@x.com", false, NULL) == CORE_EINVAL,
	   "credentials in the URL refused");
	ok(url_check_endpoint("https://x.com/?a=1", false, NULL) == CORE_EINVAL,
	   "query refused");
	ok(url_check_endpoint("https://", false, NULL) == CORE_EINVAL, "no host");
	ok(url_check_endpoint("https://x.com/a b", false, NULL) == CORE_EINVAL,
	   "spaces refused");
	ok(url_check_endpoint(NULL, false, NULL) == CORE_EINVAL, "NULL refused");

	e = url_escape_segment("batch_abc-1.2~");
	ok(e && strcmp(e, "batch_abc-1.2~") == 0, "unreserved kept");
	free(e);
	e = url_escape_segment("../../etc/passwd?x=1#f");
	ok(e && strcmp(e, "..%2F..%2Fetc%2Fpasswd%3Fx%3D1%23f") == 0,
	   "slashes, ? and # escaped (%s)", e);
	free(e);
	e = url_escape_segment("..");
	ok(e && strcmp(e, "%2E%2E") == 0, "'..' escaped whole");
	free(e);
	e = url_escape_segment("a\nb\x01%");
	ok(e && strcmp(e, "a%0Ab%01%25") == 0, "control bytes and %% escaped");
	free(e);

	ok(api_surface_parse("Azure", &s) && s == API_SURFACE_AZURE, "parse azure");
	ok(api_surface_parse("v1", &s) && s == API_SURFACE_AZURE_V1, "parse v1");
	ok(api_surface_parse("openai", &s) && s == API_SURFACE_OPENAI, "parse openai");
	ok(!api_surface_parse("aws", &s), "unknown surface");
	return done_testing();
}
