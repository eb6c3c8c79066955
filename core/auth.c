/* SPDX-License-Identifier: MIT */
/* auth.c: holding, caching, refreshing, formatting and wiping credentials. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "log.h"
#include "token.h"

#define FAIL_HOLD_S 2	     /* after a failed fetch, fail fast this long */
#define REFRESH_MARGIN_S 300 /* renew this long before expiry (at most) */

struct auth {
	enum auth_kind kind;
	size_t len;
	char *secret;		 /* static kinds; the current token for AUTH_TOKEN */
	/* AUTH_TOKEN only */
	struct token_source *src;
	char *scope;
	pthread_mutex_t lock;
	pthread_cond_t fetched;
	bool fetching;
	int64_t acquired_at, expires_on, refresh_at, fail_until;
	uint64_t fetches, failures;
	struct core_err last_err;
};

void secret_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static void secret_drop(char *s, size_t len)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, len);
	munlock(s, len + 1);
	free(s);
}

static bool printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

enum core_rc auth_new(enum auth_kind kind, const char *secret,
		      struct auth **out, struct core_err *err)
{
	struct auth *a;
	size_t n;

	*out = NULL;
	if (kind == AUTH_TOKEN)
		return core_err_set(err, CORE_EINVAL, "a token credential needs a source");
	if (!secret || !*secret)
		return core_err_set(err, CORE_EINVAL, "empty credential");
	n = strlen(secret);
	if (!printable(secret, n))
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

enum core_rc auth_new_token(struct token_source *src, const char *scope,
			    struct auth **out, struct core_err *err)
{
	struct auth *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a || !(a->scope = strdup(scope))) {
		free(a);
		token_source_free(src);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	a->kind = AUTH_TOKEN;
	a->src = src;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->fetched, NULL);
	core_err_clear(&a->last_err);
	*out = a;
	return CORE_OK;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	secret_drop(a->secret, a->len);
	if (a->kind == AUTH_TOKEN) {
		token_source_free(a->src);
		free(a->scope);
		pthread_mutex_destroy(&a->lock);
		pthread_cond_destroy(&a->fetched);
	}
	free(a);
}

enum auth_kind auth_get_kind(const struct auth *a)
{
	return a->kind;
}

const char *auth_kind_name(const struct auth *a)
{
	if (a->kind == AUTH_TOKEN)
		return token_source_kind(a->src);
	return a->kind == AUTH_API_KEY ? "api-key" : "bearer";
}

static enum core_rc format_line(enum auth_kind kind, const char *secret,
				char **line, struct core_err *err)
{
	const char *prefix = kind == AUTH_API_KEY ? "api-key: " : "Authorization: Bearer ";
	size_t n = strlen(prefix) + strlen(secret) + 1;
	char *s = malloc(n);

	*line = NULL;
	if (!s)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	snprintf(s, n, "%s%s", prefix, secret);
	*line = s;
	return CORE_OK;
}

/* Is the refused line the one built from the current token? (a->lock held) */
static bool refused_current(const struct auth *a, const char *refused)
{
	static const char prefix[] = "Authorization: Bearer ";

	return refused && a->secret && !strncmp(refused, prefix, sizeof(prefix) - 1) &&
	       !strcmp(refused + sizeof(prefix) - 1, a->secret);
}

static int64_t refresh_time(int64_t now, int64_t expires_on)
{
	int64_t margin;

	if (expires_on <= 0)
		return 0; /* unknown lifetime: renewed on a 401 only */
	margin = (expires_on - now) / 2;
	if (margin > REFRESH_MARGIN_S)
		margin = REFRESH_MARGIN_S;
	if (margin < 0)
		margin = 0;
	return expires_on - margin;
}

/* Fetches a new token with the lock released; called and returns with it held. */
static enum core_rc token_fetch_locked(struct auth *a, struct core_err *err)
{
	struct token t;
	struct core_err ferr = CORE_ERR_INIT;
	enum core_rc rc;
	int64_t now;

	a->fetching = true;
	pthread_mutex_unlock(&a->lock);
	rc = token_source_fetch(a->src, a->scope, &t, &ferr);
	pthread_mutex_lock(&a->lock);
	a->fetching = false;
	now = (int64_t)time(NULL);
	if (rc == CORE_OK) {
		size_t n = strlen(t.value);

		if (!printable(t.value, n)) {
			token_release(&t);
			rc = core_err_set(&ferr, CORE_EAUTH,
					  "%s returned a token with control characters",
					  token_source_kind(a->src));
		} else {
			secret_drop(a->secret, a->len);
			a->secret = t.value; /* ownership moves; wiped by secret_drop() */
			a->len = n;
			(void)mlock(a->secret, n + 1);
			a->acquired_at = now;
			a->expires_on = t.expires_on;
			a->refresh_at = refresh_time(now, t.expires_on);
			a->fetches++;
			a->fail_until = 0;
			core_err_clear(&a->last_err);
			log_info("credential: %s token acquired%s", token_source_kind(a->src),
				 t.expires_on ? "" : " (no expiry given)");
		}
	}
	if (rc) {
		a->failures++;
		a->fail_until = now + FAIL_HOLD_S;
		a->last_err = ferr;
		log_warn("credential: getting a token failed: %s", ferr.msg);
	}
	pthread_cond_broadcast(&a->fetched);
	if (rc && err)
		*err = ferr;
	return rc;
}

static enum core_rc token_header(struct auth *a, const char *refused, char **line,
				 struct core_err *err)
{
	enum core_rc rc = CORE_OK;
	bool forced = false;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		int64_t now = (int64_t)time(NULL);
		bool have = a->secret && (a->expires_on == 0 || now < a->expires_on);
		bool stale = refused_current(a, refused) && !forced;

		if (have && !stale && (a->refresh_at == 0 || now < a->refresh_at))
			break; /* fresh */
		if (a->fetching) {
			if (have && !stale)
				break; /* still valid: use it while another thread renews */
			pthread_cond_wait(&a->fetched, &a->lock);
			if (refused_current(a, refused) == false)
				forced = true; /* someone renewed it meanwhile */
			continue;
		}
		if (now < a->fail_until && !stale) {
			if (have)
				break;
			if (err)
				*err = a->last_err;
			rc = core_err_set(err, a->last_err.rc ? a->last_err.rc : CORE_EAUTH,
					  "%s", a->last_err.msg);
			goto out;
		}
		rc = token_fetch_locked(a, err);
		forced = true;
		if (rc) {
			if (have && !stale) {
				rc = CORE_OK; /* renewal failed; the old one still works */
				core_err_clear(err);
				break;
			}
			goto out;
		}
	}
	rc = format_line(AUTH_TOKEN, a->secret, line, err);
out:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

enum core_rc auth_header(void *ctx, const char *refused, char **line,
			 struct core_err *err)
{
	struct auth *a = ctx;

	*line = NULL;
	if (a->kind == AUTH_TOKEN)
		return token_header(a, refused, line, err);
	if (refused) /* a key or a static token: nothing to renew */
		return core_err_set(err, CORE_ENOTFOUND, "a static credential cannot be renewed");
	return format_line(a->kind, a->secret, line, err);
}

void auth_header_free(char *line)
{
	secret_free(line);
}

void auth_get_status(struct auth *a, struct auth_status *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->kind, sizeof(out->kind), "%s", auth_kind_name(a));
	if (a->kind != AUTH_TOKEN) {
		snprintf(out->identity, sizeof(out->identity), "-");
		return;
	}
	token_source_describe(a->src, out->identity, sizeof(out->identity));
	pthread_mutex_lock(&a->lock);
	snprintf(out->scope, sizeof(out->scope), "%s", a->scope);
	out->acquired_at = a->acquired_at;
	out->expires_on = a->expires_on;
	out->refresh_at = a->refresh_at;
	out->fetches = a->fetches;
	out->failures = a->failures;
	snprintf(out->last_error, sizeof(out->last_error), "%s", a->last_err.msg);
	pthread_mutex_unlock(&a->lock);
}
