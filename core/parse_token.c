/* SPDX-License-Identifier: MIT */
/* parse_token.c: reading access-token responses (Entra ID, IMDS, App Service, az) and their errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "json.h"
#include "parse.h"
#include "token_internal.h"

#define TOKEN_MAX 16384

/* A token must be one printable line: it goes into an HTTP header. */
static bool token_text_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || n > TOKEN_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" in local time, as older az prints expiresOn. */
static int64_t local_datetime(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec;

	if (!s || sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

static enum core_rc bare_token(const char *body, size_t len, struct token *out,
			       struct core_err *err)
{
	while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' ||
		       body[len - 1] == ' '))
		len--;
	while (len && (*body == ' ' || *body == '\n')) {
		body++;
		len--;
	}
	if (!token_text_ok(body, len))
		return core_err_set(err, CORE_EPARSE,
				    "not a token: expected one line of printable text or JSON");
	out->value = strndup(body, len);
	out->expires_on = 0;
	return out->value ? CORE_OK : core_err_set(err, CORE_ENOMEM, "out of memory");
}

enum core_rc parse_token(const char *body, size_t len, int64_t now, bool bare_ok,
			 struct token *out, struct core_err *err)
{
	const char *value;
	cJSON *root = NULL;
	int64_t exp = 0, in;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	if (!body)
		return core_err_set(err, CORE_EPARSE, "empty token response");
	while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' ||
			   body[i] == '\t'))
		i++;
	if (bare_ok && i < len && body[i] != '{')
		return bare_token(body + i, len - i, out, err);
	if (json_parse_object(body, len, &root, err))
		return core_err_set(err, CORE_EPARSE, "token response is not a JSON object");
	value = json_peek_string(root, "access_token");
	if (!value)
		value = json_peek_string(root, "accessToken");
	if (!value || !token_text_ok(value, strlen(value))) {
		cJSON_Delete(root);
		return core_err_set(err, CORE_EPARSE,
				    "token response has no usable access_token");
	}
	exp = json_get_int(root, "expires_on", 0);
	if (exp <= 0)
		exp = local_datetime(json_peek_string(root, "expiresOn"));
	if (exp <= 0) {
		in = json_get_int(root, "expires_in", -1);
		if (in > 0 && in < 100L * 365 * 86400)
			exp = now + in;
	}
	out->value = strdup(value);
	out->expires_on = exp > 0 ? exp : 0;
	/* wipe cJSON's copy of the token before it is freed */
	OPENSSL_cleanse((void *)value, strlen(value));
	cJSON_Delete(root);
	if (!out->value)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	return CORE_OK;
}

void parse_token_error(const char *body, size_t len, struct core_err *err)
{
	const char *desc, *code;
	cJSON *root = NULL;
	struct core_err ignore = CORE_ERR_INIT;
	size_t n;

	if (!err)
		return;
	if (!body || !len || json_parse_object(body, len, &root, &ignore)) {
		err->msg[0] = '\0';
		parse_error_body(body, len, err);
		if (!err->msg[0])
			snprintf(err->msg, sizeof(err->msg), "HTTP %ld", err->http_status);
		return;
	}
	desc = json_peek_string(root, "error_description");
	code = json_peek_string(root, "error");
	if (!desc && !code) {
		cJSON_Delete(root);
		err->msg[0] = '\0';
		parse_error_body(body, len, err);
		return;
	}
	if (code)
		snprintf(err->code, sizeof(err->code), "%s", code);
	if (!desc)
		desc = code;
	/* AADSTS descriptions go on with "\r\nTrace ID: ..." lines: keep the first. */
	n = strcspn(desc, "\r\n");
	if (n >= sizeof(err->msg))
		n = sizeof(err->msg) - 1;
	memcpy(err->msg, desc, n);
	err->msg[n] = '\0';
	for (n = 0; err->msg[n]; n++)
		if ((unsigned char)err->msg[n] < 0x20)
			err->msg[n] = ' ';
	cJSON_Delete(root);
}

enum core_rc token_refused(struct core_err *err, enum core_rc rc, const char *body,
			   size_t len, const char *prefix)
{
	char said[sizeof(err->msg)];

	if (!err)
		return rc;
	parse_token_error(body, len, err);
	snprintf(said, sizeof(said), "%s", err->msg);
	return core_err_set(err, rc, "%s: %s", prefix, said);
}
