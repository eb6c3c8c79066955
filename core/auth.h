/* SPDX-License-Identifier: MIT */
/* auth.h: the one place secrets live: API keys and bearer tokens, their cache, and their headers. */
#ifndef BATCHFS_AUTH_H
#define BATCHFS_AUTH_H

#include <stdint.h>

#include "err.h"

struct token_source;

/*
 * A struct auth holds one credential: a static secret (an API key or a
 * bearer token), or a token source (token.h) whose tokens it caches.
 * Secrets are copied in, kept in memory locked against swapping where
 * possible, and wiped with OPENSSL_cleanse() when replaced or freed. They
 * never appear in a log line, an error message or a returned struct; only
 * auth_header() reveals one, into a buffer the caller passes back to
 * auth_header_free() (which wipes it).
 *
 * Token refresh: a token is reused until its refresh time (5 minutes before
 * it expires, or half its lifetime when that is shorter), then fetched
 * again; a 401 (auth_header() with the refused line) fetches a new one at
 * once unless another thread already did. One thread fetches at a time,
 * without holding the lock during the fetch; others keep using a still
 * valid token meanwhile, or wait for the fetch when there is none. After a
 * failed fetch, calls fail fast with the same error for 2 seconds.
 *
 * Thread-safety: every function may be called from any thread at once,
 * except auth_free().
 */
enum auth_kind {
	AUTH_API_KEY, /* Azure "api-key: K" */
	AUTH_BEARER,  /* "Authorization: Bearer K" (OpenAI keys, a static token) */
	AUTH_TOKEN,   /* "Authorization: Bearer T", T from a token source */
};

struct auth;

/* Copies secret (must be non-empty, printable, no CR/LF). */
enum core_rc auth_new(enum auth_kind kind, const char *secret,
		      struct auth **out, struct core_err *err)
	__attribute__((warn_unused_result));

/* A token credential for scope; takes ownership of src (freed on failure
 * too). No I/O: the first token is fetched by the first auth_header(). */
enum core_rc auth_new_token(struct token_source *src, const char *scope,
			    struct auth **out, struct core_err *err)
	__attribute__((warn_unused_result));
void auth_free(struct auth *a);

enum auth_kind auth_get_kind(const struct auth *a);
/* "api-key", "bearer", or the token source's kind ("client-secret", ...):
 * what .batchfs/ may show. The string stays valid while a lives. */
const char *auth_kind_name(const struct auth *a);

/*
 * The full header line, heap-allocated; free it with auth_header_free().
 * refused: NULL, or a line the server just answered 401 to (a token
 * credential then fetches a new token; a static one answers CORE_ENOTFOUND:
 * nothing to renew). Fits http_request.auth_line
 * (pass the struct auth as ctx). May do network or process I/O.
 */
enum core_rc auth_header(void *a, const char *refused, char **line,
			 struct core_err *err)
	__attribute__((warn_unused_result));
void auth_header_free(char *line);

/* What .batchfs/credential shows: never a secret. */
struct auth_status {
	char kind[48];	       /* as auth_kind_name() */
	char identity[320];    /* "tenant=T client_id=C", "-" for keys */
	char scope[128];       /* token scope, "" for keys */
	int64_t acquired_at;   /* unix seconds of the current token; 0 none */
	int64_t expires_on;    /* of the current token; 0 unknown or none */
	int64_t refresh_at;    /* when it will be renewed; 0 never */
	uint64_t fetches;      /* tokens fetched so far */
	uint64_t failures;     /* fetches that failed */
	char last_error[512];  /* of the last failed fetch, "" if none */
};

void auth_get_status(struct auth *a, struct auth_status *out);

/* Wipes and frees any heap string that held a secret. NULL is fine. */
void secret_free(char *s);

#endif
