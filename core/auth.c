/* SPDX-License-Identifier: MIT */
/* auth.c: holding, formatting and wiping credentials. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>

#include "auth.h"

struct auth {
	enum auth_kind kind;
	size_t len;
	char *secret;
};

void secret_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

enum core_rc auth_new(enum auth_kind kind, const char *secret,
		      struct auth **out, struct core_err *err)
{
	struct auth *a;
	size_t i, n;

	*out = NULL;
	if (!secret || !*secret)
		return core_err_set(err, CORE_EINVAL, "empty credential");
	n = strlen(secret);
	for (i = 0; i < n; i++)
		if ((unsigned char)secret[i] < 0x20 || secret[i] == 0x7f)
			return core_err_set(err, CORE_EINVAL,
					    "credential contains control characters");
	a = calloc(1, sizeof(*a));
	if (!a)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	a->secret = strdup(secret);
	if (!a->secret) {
		free(a);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	a->kind = kind;
	a->len = n;
	/* Best effort: keep the key out of swap. */
	(void)mlock(a->secret, n + 1);
	*out = a;
	return CORE_OK;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(a->secret, a->len);
	munlock(a->secret, a->len + 1);
	free(a->secret);
	free(a);
}

enum auth_kind auth_get_kind(const struct auth *a)
{
	return a->kind;
}

const char *auth_kind_name(const struct auth *a)
{
	return a->kind == AUTH_API_KEY ? "api-key" : "bearer";
}

enum core_rc auth_header(const struct auth *a, char **line, struct core_err *err)
{
	const char *prefix =
		a->kind == AUTH_API_KEY ? "api-key: " : "Authorization: Bearer ";
	size_t n = strlen(prefix) + a->len + 1;
	char *s = malloc(n);

	*line = NULL;
	if (!s)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	snprintf(s, n, "%s%s", prefix, a->secret);
	*line = s;
	return CORE_OK;
}

void auth_header_free(char *line)
{
	secret_free(line);
}
