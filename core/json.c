/* SPDX-License-Identifier: MIT */
/* json.c: tolerant field readers over cJSON for the response parsers. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "model.h"
#include "timeparse.h"

/*
 * cJSON decodes a \u0000 escape and ends the C string there, so
 * "a\u0000b" would read as "a" (another object's id). Returns a copy with
 * each such escape made \u0001 (a control character keeps the string
 * distinct, and ids with one are never shown as names), or NULL when there
 * is none (*oom tells a failed copy apart).
 */
static char *escaped_nuls_replaced(const char *data, size_t len, bool *oom)
{
	char *copy = NULL;
	size_t i;

	*oom = false;
	for (i = 0; i + 5 < len; i++) {
		if (data[i] != '\\')
			continue;
		if (data[i + 1] == 'u' && !memcmp(data + i + 2, "0000", 4)) {
			if (!copy) {
				copy = malloc(len);
				if (!copy) {
					*oom = true;
					return NULL;
				}
				memcpy(copy, data, len);
			}
			copy[i + 5] = '1';
		}
		i++; /* skip the escaped character */
	}
	return copy;
}

enum core_rc json_parse_object(const char *data, size_t len, cJSON **out,
			       struct core_err *err)
{
	const char *end = NULL;
	char *copy;
	bool oom;
	cJSON *root;
	size_t off;

	*out = NULL;
	if (!data || len == 0)
		return core_err_set(err, CORE_EPARSE, "empty response body");
	/* JSON forbids raw NUL bytes; cJSON would silently cut strings at one. */
	if (memchr(data, '\0', len))
		return core_err_set(err, CORE_EPARSE,
				    "response contains a NUL byte (at byte %zu)",
				    (size_t)((const char *)memchr(data, '\0', len) - data));
	copy = escaped_nuls_replaced(data, len, &oom);
	if (oom)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	root = cJSON_ParseWithLengthOpts(copy ? copy : data, len, &end, 0);
	off = end && end >= (copy ? copy : data) ? (size_t)(end - (copy ? copy : data)) : 0;
	free(copy);
	if (!root)
		return core_err_set(err, CORE_EPARSE,
				    "response is not valid json (at byte %zu of %zu)",
				    off, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return core_err_set(err, CORE_EPARSE,
				    "response is json but not an object");
	}
	*out = root;
	return CORE_OK;
}

const cJSON *json_get(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static bool double_is_integral(double v)
{
	return isfinite(v) && v == floor(v) && fabs(v) < 9.2e18;
}

enum core_rc json_dup_item(const cJSON *item, char **out)
{
	char tmp[64];

	*out = NULL;
	if (cJSON_IsString(item) && item->valuestring) {
		if (!item->valuestring[0])
			return CORE_OK;
		*out = strdup(item->valuestring);
		return *out ? CORE_OK : CORE_ENOMEM;
	}
	if (cJSON_IsNumber(item)) {
		if (double_is_integral(item->valuedouble))
			snprintf(tmp, sizeof(tmp), "%" PRId64,
				 (int64_t)item->valuedouble);
		else if (isfinite(item->valuedouble))
			snprintf(tmp, sizeof(tmp), "%.17g", item->valuedouble);
		else
			return CORE_OK;
		*out = strdup(tmp);
		return *out ? CORE_OK : CORE_ENOMEM;
	}
	return CORE_OK;
}

enum core_rc json_dup_string(const cJSON *obj, const char *key, char **out)
{
	return json_dup_item(json_get(obj, key), out);
}

const char *json_peek_string(const cJSON *obj, const char *key)
{
	const cJSON *it = json_get(obj, key);

	if (cJSON_IsString(it) && it->valuestring && it->valuestring[0])
		return it->valuestring;
	return NULL;
}

int64_t json_get_time(const cJSON *obj, const char *key)
{
	const cJSON *it = json_get(obj, key);
	int64_t t;

	if (cJSON_IsNumber(it)) {
		if (!isfinite(it->valuedouble) || it->valuedouble <= 0 ||
		    it->valuedouble > 1e15)
			return TIME_NONE;
		return (int64_t)it->valuedouble;
	}
	if (cJSON_IsString(it) && it->valuestring &&
	    time_parse_iso8601(it->valuestring, &t) && t > 0)
		return t;
	return TIME_NONE;
}

int64_t json_get_int(const cJSON *obj, const char *key, int64_t dflt)
{
	const cJSON *it = json_get(obj, key);

	if (cJSON_IsNumber(it)) {
		if (!isfinite(it->valuedouble) || fabs(it->valuedouble) > 9.2e18)
			return dflt;
		return (int64_t)it->valuedouble;
	}
	if (cJSON_IsString(it) && it->valuestring && it->valuestring[0]) {
		char *end;
		long long v = strtoll(it->valuestring, &end, 10);

		if (*end == '\0')
			return (int64_t)v;
	}
	return dflt;
}

bool json_get_bool(const cJSON *obj, const char *key, bool dflt)
{
	const cJSON *it = json_get(obj, key);

	if (cJSON_IsBool(it))
		return cJSON_IsTrue(it);
	if (cJSON_IsNumber(it))
		return it->valuedouble != 0;
	if (cJSON_IsString(it) && it->valuestring) {
		if (strcasecmp(it->valuestring, "true") == 0)
			return true;
		if (strcasecmp(it->valuestring, "false") == 0)
			return false;
	}
	return dflt;
}

enum core_rc json_collect(const cJSON *arr, size_t item_size,
			  enum core_rc (*fill)(const cJSON *item, void *elem,
					       struct core_err *err),
			  void **items, size_t *n, struct core_err *err)
{
	const cJSON *it;
	size_t cap;
	char *base;
	enum core_rc rc;

	*items = NULL;
	*n = 0;
	if (!cJSON_IsArray(arr))
		return CORE_EPARSE;
	cap = (size_t)cJSON_GetArraySize(arr);
	if (!cap)
		return CORE_OK;
	base = calloc(cap, item_size);
	if (!base)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	*items = base;
	cJSON_ArrayForEach(it, arr)
	{
		struct core_err item_err = CORE_ERR_INIT;

		if (*n >= cap)
			break;
		rc = fill(it, base + *n * item_size, &item_err);
		if (rc == CORE_OK)
			(*n)++;
		else if (rc != CORE_EPARSE)
			return core_err_set(err, rc, "%s", item_err.msg);
	}
	return CORE_OK;
}
