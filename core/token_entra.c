/* SPDX-License-Identifier: MIT */
/* token_entra.c: tokens from the Entra ID token endpoint (client secret, certificate, workload identity). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "assertion.h"
#include "auth.h"
#include "log.h"
#include "token_internal.h"
#include "url.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define FEDERATED_TOKEN_MAX 65536

/* Reads the federated token file (Kubernetes rotates it: read it each time). */
static enum core_rc read_federated_token(const char *path, char **out,
					 struct core_err *err)
{
	char *buf = malloc(FEDERATED_TOKEN_MAX + 1);
	size_t len = 0;
	ssize_t n;
	int fd;

	*out = NULL;
	if (!buf)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return core_err_set(err, CORE_EAUTH,
				    "cannot read AZURE_FEDERATED_TOKEN_FILE '%s': %s",
				    path, strerror(errno));
	}
	while (len < FEDERATED_TOKEN_MAX &&
	       (n = read(fd, buf + len, FEDERATED_TOKEN_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
		       buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	if (!len || strlen(buf) != len) {
		secret_free(buf);
		return core_err_set(err, CORE_EAUTH,
				    "AZURE_FEDERATED_TOKEN_FILE '%s' is empty or not text",
				    path);
	}
	*out = buf;
	return CORE_OK;
}

/* "k=v&k=v..." from pairs (values escaped), in one exact allocation so no
 * stray copy of a secret is left behind by a growing buffer. */
static char *form_body(const char *const *pairs)
{
	char *esc[16] = { 0 }, *body = NULL;
	size_t n = 1, i, used = 0;

	for (i = 0; pairs[i] && i < 16; i += 2) {
		esc[i] = url_escape_segment(pairs[i + 1]);
		if (!esc[i])
			goto out;
		n += strlen(pairs[i]) + strlen(esc[i]) + 2;
	}
	body = malloc(n);
	if (!body)
		goto out;
	body[0] = '\0';
	for (i = 0; pairs[i] && i < 16; i += 2)
		used += (size_t)snprintf(body + used, n - used, "%s%s=%s",
					 used ? "&" : "", pairs[i], esc[i]);
out:
	for (i = 0; i < 16; i += 2)
		secret_free(esc[i]);
	return body;
}

enum core_rc token_entra_fetch(struct token_source *s, const char *scope,
			       struct token *out, struct core_err *err)
{
	struct http_request req;
	struct http_response resp;
	char *tenant = url_escape_segment(s->tenant_id), *url = NULL;
	char *assertion = NULL, *body = NULL, label[200];
	const char *pairs[12];
	enum core_rc rc;
	size_t n;
	int np = 0;

	if (!tenant)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	n = strlen(s->authority) + strlen(tenant) + 32;
	url = malloc(n);
	if (!url) {
		free(tenant);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	snprintf(url, n, "%s/%s/oauth2/v2.0/token", s->authority, tenant);
	snprintf(label, sizeof(label), "POST %.120s/%.40s/oauth2/v2.0/token",
		 s->authority, s->tenant_id);
	free(tenant);

	if (s->kind == TOKEN_CLIENT_CERTIFICATE)
		rc = cert_credential_assertion(s->cert, s->client_id, url,
					       (int64_t)time(NULL), &assertion, err);
	else if (s->kind == TOKEN_WORKLOAD_IDENTITY)
		rc = read_federated_token(s->federated_token_file, &assertion, err);
	else
		rc = CORE_OK;
	if (rc) {
		free(url);
		return rc;
	}
	pairs[np++] = "grant_type";
	pairs[np++] = "client_credentials";
	pairs[np++] = "client_id";
	pairs[np++] = s->client_id;
	pairs[np++] = "scope";
	pairs[np++] = scope;
	if (assertion) {
		pairs[np++] = "client_assertion_type";
		pairs[np++] = ASSERTION_TYPE;
		pairs[np++] = "client_assertion";
		pairs[np++] = assertion;
	} else {
		pairs[np++] = "client_secret";
		pairs[np++] = s->client_secret;
	}
	pairs[np] = NULL;
	body = form_body(pairs);
	secret_free(assertion);
	if (!body) {
		free(url);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}

	memset(&req, 0, sizeof(req));
	req.method = HTTP_POST;
	req.url = url;
	req.label = label;
	req.body = body;
	req.body_len = strlen(body);
	req.content_type = "application/x-www-form-urlencoded";
	req.sink_fd = -1;
	req.idempotent = true; /* asking twice only mints two tokens */
	http_response_init(&resp);
	rc = http_perform(s->http, &req, &resp, err);
	secret_free(body);
	if (rc == CORE_OK) {
		rc = parse_token(resp.body.data, resp.body.len, (int64_t)time(NULL),
				 false, out, err);
	} else if (err && err->http_status >= 400 && err->http_status < 500) {
		/* Entra ID's own words: AADSTS code and what it means. */
		char prefix[256];

		snprintf(prefix, sizeof(prefix),
			 "Entra ID refused the %s credential (tenant %.80s, client %.80s)",
			 token_kind_name(s->kind), s->tenant_id, s->client_id);
		rc = token_refused(err, CORE_EAUTH, resp.body.data, resp.body.len, prefix);
	}
	if (resp.body.data)
		OPENSSL_cleanse(resp.body.data, resp.body.len);
	http_response_release(&resp);
	free(url);
	return rc;
}
