/* SPDX-License-Identifier: MIT */
/* auth.h: the one place secrets live: API keys and bearer tokens, and their headers. */
#ifndef BATCHFS_AUTH_H
#define BATCHFS_AUTH_H

#include "err.h"

/*
 * A struct auth holds one credential. The secret is copied in, kept in
 * memory locked against swapping where possible, and wiped with
 * OPENSSL_cleanse() when freed. It never appears in a log line, an error
 * message or a returned struct; only auth_header() reveals it, into a buffer
 * that the caller passes back to auth_header_free() (which wipes it).
 *
 * Thread-safety: an auth is immutable after auth_new_*(); auth_header() may
 * be called from any thread. (Token credentials that refresh come later and
 * will refresh outside any lock.)
 */
enum auth_kind {
	AUTH_API_KEY, /* Azure "api-key: K" */
	AUTH_BEARER,  /* "Authorization: Bearer K" (OpenAI keys, Entra tokens, Azure v1 keys) */
};

struct auth;

/* Copies secret (must be non-empty, printable, no CR/LF). */
enum core_rc auth_new(enum auth_kind kind, const char *secret,
		      struct auth **out, struct core_err *err)
	__attribute__((warn_unused_result));
void auth_free(struct auth *a);

enum auth_kind auth_get_kind(const struct auth *a);
/* "api-key" or "bearer": what .batchfs/ may show. */
const char *auth_kind_name(const struct auth *a);

/* The full header line, heap-allocated; free it with auth_header_free(). */
enum core_rc auth_header(const struct auth *a, char **line, struct core_err *err)
	__attribute__((warn_unused_result));
void auth_header_free(char *line);

/* Wipes and frees any heap string that held a secret. NULL is fine. */
void secret_free(char *s);

#endif
