/* SPDX-License-Identifier: MIT */
/* url.c: building request URLs per API surface and escaping path segments. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "url.h"

const char *api_surface_name(enum api_surface s)
{
	switch (s) {
	case API_SURFACE_AZURE:
		return "azure";
	case API_SURFACE_AZURE_V1:
		return "azure-v1";
	case API_SURFACE_OPENAI:
		return "openai";
	}
	return "?";
}

bool api_surface_parse(const char *s, enum api_surface *out)
{
	if (!strcasecmp(s, "azure"))
		*out = API_SURFACE_AZURE;
	else if (!strcasecmp(s, "azure-v1") || !strcasecmp(s, "v1") ||
		 !strcasecmp(s, "azure_v1"))
		*out = API_SURFACE_AZURE_V1;
	else if (!strcasecmp(s, "openai"))
		*out = API_SURFACE_OPENAI;
	else
		return false;
	return true;
}

static bool host_is_loopback(const char *host, size_t n)
{
	if (n == 9 && !strncasecmp(host, "localhost", 9))
		return true;
	if (n >= 4 && !strncmp(host, "127.", 4)) {
		size_t i;

		for (i = 4; i < n; i++)
			if (!isdigit((unsigned char)host[i]) && host[i] != '.')
				return false;
		return true;
	}
	return (n == 5 && !strncmp(host, "[::1]", 5));
}

enum core_rc url_check_endpoint(const char *ep, bool allow_http,
				struct core_err *err)
{
	const char *host, *end;
	bool https;
	size_t n;

	if (!ep || !*ep)
		return core_err_set(err, CORE_EINVAL, "no endpoint configured");
	if (!strncasecmp(ep, "https://", 8)) {
		https = true;
		host = ep + 8;
	} else if (!strncasecmp(ep, "http://", 7)) {
		https = false;
		host = ep + 7;
	} else {
		return core_err_set(err, CORE_EINVAL,
				    "endpoint must start with https://");
	}
	end = host + strcspn(host, "/?#");
	if (*end == '?' || *end == '#' || strchr(end, '?') || strchr(end, '#'))
		return core_err_set(err, CORE_EINVAL,
				    "endpoint must not have a query or fragment");
	if (memchr(host, '@', (size_t)(end - host)))
		return core_err_set(err, CORE_EINVAL,
				    "endpoint must not contain credentials");
	for (n = 0; ep[n]; n++)
		if ((unsigned char)ep[n] <= ' ' || ep[n] == 0x7f)
			return core_err_set(err, CORE_EINVAL,
					    "endpoint contains spaces or control characters");
	/* host without :port */
	n = (size_t)(end - host);
	if (n && host[0] == '[') {
		const char *rb = memchr(host, ']', n);

		n = rb ? (size_t)(rb - host) + 1 : n;
	} else {
		const char *colon = memchr(host, ':', n);

		if (colon)
			n = (size_t)(colon - host);
	}
	if (n == 0)
		return core_err_set(err, CORE_EINVAL, "endpoint has no host");
	if (!https && !allow_http && !host_is_loopback(host, n))
		return core_err_set(err, CORE_EINVAL,
				    "refusing plain http:// to a non-loopback host "
				    "(use https://, or -o allow_http if you really mean it)");
	return CORE_OK;
}

static void strip_suffix(char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n >= m && !strcasecmp(s + n - m, suffix))
		s[n - m] = '\0';
}

static void strip_slashes(char *s)
{
	size_t n = strlen(s);

	while (n && s[n - 1] == '/')
		s[--n] = '\0';
}

char *url_base(enum api_surface s, const char *endpoint)
{
	char *b = strdup(endpoint ? endpoint : "");

	if (!b)
		return NULL;
	strip_slashes(b);
	if (s != API_SURFACE_OPENAI) {
		strip_suffix(b, "/openai/v1");
		strip_suffix(b, "/openai");
		strip_slashes(b);
	}
	return b;
}

char *url_build(enum api_surface s, const char *base, const char *api_version,
		const char *path, const char *query)
{
	struct buf u = BUF_INIT(0);
	char sep = '?';
	enum core_rc rc;

	switch (s) {
	case API_SURFACE_AZURE:
		rc = buf_printf(&u, "%s/openai/%s", base, path);
		if (!rc && api_version) {
			rc = buf_printf(&u, "?api-version=%s", api_version);
			sep = '&';
		}
		break;
	case API_SURFACE_AZURE_V1:
		rc = buf_printf(&u, "%s/openai/v1/%s", base, path);
		if (!rc && api_version && *api_version) {
			rc = buf_printf(&u, "?api-version=%s", api_version);
			sep = '&';
		}
		break;
	case API_SURFACE_OPENAI:
	default:
		rc = buf_printf(&u, "%s/%s", base, path);
		break;
	}
	if (!rc && query && *query)
		rc = buf_printf(&u, "%c%s", sep, query);
	if (rc) {
		buf_release(&u);
		return NULL;
	}
	return buf_take(&u);
}

char *url_escape_segment(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, j = 0;
	char *out;

	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	out[j] = '\0';
	/* "." and ".." are unreserved but would still move up a level. */
	if (!strcmp(out, ".") || !strcmp(out, "..")) {
		j = 0;
		for (i = 0; i < n; i++) {
			out[j++] = '%';
			out[j++] = '2';
			out[j++] = 'E';
		}
		out[j] = '\0';
	}
	return out;
}
