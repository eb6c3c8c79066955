/* SPDX-License-Identifier: MIT */
/* url.h: request URLs for the three API surfaces, and escaping of ids in paths. */
#ifndef BATCHFS_URL_H
#define BATCHFS_URL_H

#include <stdbool.h>

#include "err.h"

enum api_surface {
	API_SURFACE_AZURE,    /* {endpoint}/openai/{path}?api-version=V */
	API_SURFACE_AZURE_V1, /* {endpoint}/openai/v1/{path} */
	API_SURFACE_OPENAI,   /* {base, default https://api.openai.com/v1}/{path} */
};

/* "azure", "azure-v1", "openai"; parse also accepts "v1". */
const char *api_surface_name(enum api_surface s);
bool api_surface_parse(const char *s, enum api_surface *out);

/*
 * Checks a user-supplied endpoint: http(s) scheme, a host, no user:password,
 * no query or fragment. Plain http is accepted only for loopback hosts
 * (127.0.0.0/8, ::1, localhost) unless allow_http is set.
 */
enum core_rc url_check_endpoint(const char *endpoint, bool allow_http,
				struct core_err *err);

/*
 * The base URL requests are built from: endpoint without trailing slashes;
 * for the Azure surfaces also without a trailing "/openai" or "/openai/v1",
 * so both "https://r.openai.azure.com" and "https://r.openai.azure.com/openai/v1/"
 * work. Returns a heap string or NULL (out of memory).
 */
char *url_base(enum api_surface s, const char *endpoint);

/*
 * Builds {base}/{prefix}/{path}[?api-version=V][&query]. path must already
 * be escaped (use url_escape_segment() for ids); query is "k=v&k=v" already
 * escaped, or NULL. api_version is required for API_SURFACE_AZURE and
 * optional for API_SURFACE_AZURE_V1 ("preview"); ignored for OpenAI.
 * Returns a heap string or NULL (out of memory).
 */
char *url_build(enum api_surface s, const char *base, const char *api_version,
		const char *path, const char *query);

/* Percent-escapes everything but RFC 3986 unreserved characters, so an id
 * containing '/', '..', '?', '%' or control bytes stays one path segment.
 * Returns a heap string or NULL. */
char *url_escape_segment(const char *s);

#endif
