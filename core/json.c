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

enum core_rc json_parse_object(const char *data, size_t len, cJSON **out,
			       struct core_err *err)
{
	const char *end = NULL;
	cJSON *root;

	*out = NULL;
	if (!data || len == 0)
		return core_err_set(err, CORE_EPARSE, "empty response body");
	/* JSON forbids raw NUL bytes; cJSON would silently cut strings at one. */
	if (memchr(data, '\0', len))
		return core_err_set(err, CORE_EPARSE,
				    "response contains a NUL byte (at byte %zu)",
				    (size_t)((const char *)memchr(data, '\0', len) - data));
	root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (!root) {
		size_t off = end && end >= data ? (size_t)(end - data) : 0;

		return core_err_set(err, CORE_EPARSE,
				    "response is not valid json (at byte %zu of %zu)",
				    off, len);
	}
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
