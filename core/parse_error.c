/* SPDX-License-Identifier: MIT */
/* parse_error.c: reading the service's error bodies, in every shape, into core_err. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "parse.h"

/* Appends s to err->msg as printable ASCII/UTF-8 text, without control bytes. */
static void msg_append(struct core_err *err, const char *s, size_t n)
{
	size_t used = strlen(err->msg), i;

	for (i = 0; i < n && used + 1 < sizeof(err->msg); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0')
			break;
		err->msg[used++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	err->msg[used] = '\0';
}

static void set_code(struct core_err *err, const cJSON *code)
{
	char *s = NULL;
	size_t i;

	if (json_dup_item(code, &s) || !s)
		return;
	snprintf(err->code, sizeof(err->code), "%s", s);
	for (i = 0; err->code[i]; i++)
		if (!isgraph((unsigned char)err->code[i]))
			err->code[i] = '_';
	free(s);
}

void parse_error_body(const char *body, size_t len, struct core_err *err)
{
	const cJSON *e, *msg;
	cJSON *root = NULL;
	struct core_err ignore = CORE_ERR_INIT;
	size_t used;

	if (!err)
		return;
	err->code[0] = '\0';
	if (!body || !len)
		return;
	if (json_parse_object(body, len, &root, &ignore) == CORE_OK) {
		e = json_get(root, "error");
		if (!cJSON_IsObject(e))
			e = root;
		set_code(err, json_get(e, "code"));
		if (!err->code[0])
			set_code(err, json_get(e, "type"));
		msg = json_get(e, "message");
		if (cJSON_IsString(msg) && msg->valuestring &&
		    msg->valuestring[0]) {
			used = strlen(err->msg);
			if (used && used + 2 < sizeof(err->msg))
				msg_append(err, ": ", 2);
			msg_append(err, msg->valuestring,
				   strlen(msg->valuestring));
		}
		cJSON_Delete(root);
		return;
	}
	/* Not JSON (an HTML gateway page, a truncated body): quote its start. */
	used = strlen(err->msg);
	if (used && used + 2 < sizeof(err->msg))
		msg_append(err, ": ", 2);
	msg_append(err, "unexpected body: ", 17);
	msg_append(err, body, len < 120 ? len : 120);
}
