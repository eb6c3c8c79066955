/* SPDX-License-Identifier: MIT */
/* render.c: pretty-printing the service's JSON for people (batch.json). */
#include <string.h>

#include "json.h"
#include "parse.h"

/* Appends n spaces of indentation. */
static enum core_rc indent(struct buf *out, int depth)
{
	static const char spaces[] = "                                ";
	enum core_rc rc = CORE_OK;
	int n = depth * 2;

	while (n > 0 && !rc) {
		int k = n > 32 ? 32 : n;

		rc = buf_add(out, spaces, (size_t)k);
		n -= k;
	}
	return rc;
}

static enum core_rc emit(const cJSON *it, int depth, struct buf *out)
{
	const cJSON *c;
	enum core_rc rc = CORE_OK;
	bool obj = cJSON_IsObject(it);
	char *s;

	if (obj || cJSON_IsArray(it)) {
		if (!it->child)
			return buf_addstr(out, obj ? "{}" : "[]");
		rc = buf_addstr(out, obj ? "{\n" : "[\n");
		for (c = it->child; c && !rc; c = c->next) {
			rc = indent(out, depth + 1);
			if (!rc && obj) {
				cJSON *key = cJSON_CreateString(c->string ? c->string : "");

				s = key ? cJSON_PrintUnformatted(key) : NULL;
				cJSON_Delete(key);
				if (!s)
					return CORE_ENOMEM;
				rc = buf_printf(out, "%s: ", s);
				cJSON_free(s);
			}
			if (!rc)
				rc = emit(c, depth + 1, out);
			if (!rc)
				rc = buf_addstr(out, c->next ? ",\n" : "\n");
		}
		if (!rc)
			rc = indent(out, depth);
		if (!rc)
			rc = buf_addstr(out, obj ? "}" : "]");
		return rc;
	}
	/* Scalars: cJSON's own rendering (strings escaped, numbers exact). */
	s = cJSON_PrintUnformatted(it);
	if (!s)
		return CORE_ENOMEM;
	rc = buf_addstr(out, s);
	cJSON_free(s);
	return rc;
}

enum core_rc json_pretty(const char *json, size_t len, struct buf *out,
			 struct core_err *err)
{
	const char *end = NULL;
	cJSON *root;
	enum core_rc rc;

	if (!json || !len || memchr(json, '\0', len))
		return core_err_set(err, CORE_EPARSE, "not json");
	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!root)
		return core_err_set(err, CORE_EPARSE, "not json");
	rc = emit(root, 0, out);
	if (!rc)
		rc = buf_addstr(out, "\n");
	cJSON_Delete(root);
	if (rc)
		return core_err_set(err, rc, "cannot render json");
	return CORE_OK;
}
