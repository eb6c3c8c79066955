/* SPDX-License-Identifier: MIT */
/* token_msi.c: managed identity tokens from IMDS or the App Service identity endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "token_internal.h"
#include "url.h"

#define IMDS_PATH "/metadata/identity/oauth2/token"
#define IMDS_VERSION "2018-02-01"
#define APP_SERVICE_VERSION "2019-08-01"

/* An error body shaped like the identity endpoints' own: JSON with "error". */
static bool imds_shaped(const struct http_response *resp)
{
	const char *b = resp->body.data;

	return b && resp->body.len > 1 && b[0] == '{' && memmem(b, resp->body.len, "\"error\"", 7);
}

enum core_rc token_msi_fetch(struct token_source *s, const char *scope,
			     struct token *out, struct core_err *err)
{
	const char *headers[2] = { NULL, NULL };
	char *resource = token_scope_resource(scope), *res_esc = NULL;
	char *cid_esc = NULL, *url = NULL, *secret = NULL, label[200];
	const char *base = s->app_service ? s->identity_endpoint : s->imds_endpoint;
	struct http_request req;
	struct http_response resp;
	enum core_rc rc;
	size_t n;

	if (resource)
		res_esc = url_escape_segment(resource);
	if (s->client_id)
		cid_esc = url_escape_segment(s->client_id);
	n = strlen(base) + (res_esc ? strlen(res_esc) : 0) +
	    (cid_esc ? strlen(cid_esc) : 0) + 128;
	url = res_esc && (!s->client_id || cid_esc) ? malloc(n) : NULL;
	if (url && s->app_service) {
		snprintf(url, n, "%s%sapi-version=%s&resource=%s%s%s", base,
			 strchr(base, '?') ? "&" : "?", APP_SERVICE_VERSION, res_esc,
			 cid_esc ? "&client_id=" : "", cid_esc ? cid_esc : "");
		n = strlen(s->identity_header) + 32;
		secret = malloc(n);
		if (secret)
			snprintf(secret, n, "X-IDENTITY-HEADER: %s", s->identity_header);
	} else if (url) {
		size_t b = strlen(base);

		while (b && base[b - 1] == '/')
			b--;
		snprintf(url, n, "%.*s" IMDS_PATH "?api-version=" IMDS_VERSION
				 "&resource=%s%s%s",
			 (int)b, base, res_esc, cid_esc ? "&client_id=" : "",
			 cid_esc ? cid_esc : "");
		headers[0] = "Metadata: true";
	}
	free(resource);
	free(res_esc);
	free(cid_esc);
	if (!url || (s->app_service && !secret)) {
		free(url);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	snprintf(label, sizeof(label), "GET %.150s (managed identity)", base);
	memset(&req, 0, sizeof(req));
	req.method = HTTP_GET;
	req.url = url;
	req.label = label;
	req.headers = headers;
	req.secret_header = secret;
	req.sink_fd = -1;
	req.idempotent = true;
	http_response_init(&resp);
	rc = http_perform(s->http, &req, &resp, err);
	secret_free(secret);
	if (rc == CORE_OK) {
		rc = parse_token(resp.body.data, resp.body.len, (int64_t)time(NULL),
				 false, out, err);
	} else if (err && err->http_status == 0 &&
		   (rc == CORE_ETRANSPORT || rc == CORE_ETIMEDOUT)) {
		/* Nothing listens: not on Azure, or no identity endpoint here. */
		rc = core_err_set(err, CORE_ENOTFOUND,
				  "no managed identity endpoint answered at %s", base);
	} else if (err && (err->http_status == 400 || err->http_status == 403 ||
			   err->http_status == 404 || !imds_shaped(&resp))) {
		/* IMDS answers 400 when the VM has no (such) identity; a 403, a
		 * 404 or a body that is not IMDS's JSON comes from something
		 * else (a proxy, a firewall, another server): no IMDS here. */
		rc = token_refused(err, CORE_ENOTFOUND, resp.body.data, resp.body.len,
				   "no managed identity here");
	} else if (err && err->http_status >= 401 && err->http_status < 500) {
		rc = token_refused(err, CORE_EAUTH, resp.body.data, resp.body.len,
				   "managed identity refused");
	}
	if (resp.body.data)
		OPENSSL_cleanse(resp.body.data, resp.body.len);
	http_response_release(&resp);
	free(url);
	return rc;
}
