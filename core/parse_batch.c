/* SPDX-License-Identifier: MIT */
/* parse_batch.c: tolerant parsing of Batch objects and batch list pages. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "parse.h"

static enum core_rc parse_one_error(const cJSON *it, struct batch_error *e)
{
	enum core_rc rc;
	const cJSON *line;

	e->line = -1;
	if (!cJSON_IsObject(it))
		return CORE_OK;
	rc = json_dup_string(it, "code", &e->code);
	if (!rc)
		rc = json_dup_string(it, "message", &e->message);
	if (!rc)
		rc = json_dup_string(it, "param", &e->param);
	line = json_get(it, "line");
	if (cJSON_IsNumber(line) || cJSON_IsString(line))
		e->line = (long)json_get_int(it, "line", -1);
	return rc;
}

/* errors: null | {object, data: [..] | {..}} | [..] (tolerated). */
static enum core_rc parse_errors(const cJSON *errors, struct batch *b)
{
	const cJSON *data = errors, *it;
	size_t n = 0, i = 0;
	enum core_rc rc = CORE_OK;

	if (cJSON_IsObject(errors))
		data = json_get(errors, "data");
	if (cJSON_IsObject(data))
		n = 1;
	else if (cJSON_IsArray(data))
		n = (size_t)cJSON_GetArraySize(data);
	else
		return CORE_OK;
	if (n == 0)
		return CORE_OK;
	b->errors = calloc(n, sizeof(*b->errors));
	if (!b->errors)
		return CORE_ENOMEM;
	if (cJSON_IsObject(data)) {
		b->nerrors = 1;
		return parse_one_error(data, &b->errors[0]);
	}
	cJSON_ArrayForEach(it, data)
	{
		if (i >= n)
			break;
		b->nerrors = i + 1;
		rc = parse_one_error(it, &b->errors[i++]);
		if (rc)
			return rc;
	}
	return CORE_OK;
}

static enum core_rc parse_metadata(const cJSON *md, struct batch *b)
{
	const cJSON *it;
	size_t n;

	if (!cJSON_IsObject(md))
		return CORE_OK;
	n = (size_t)cJSON_GetArraySize(md);
	if (n == 0)
		return CORE_OK;
	b->metadata = calloc(n, sizeof(*b->metadata));
	if (!b->metadata)
		return CORE_ENOMEM;
	cJSON_ArrayForEach(it, md)
	{
		char *val = NULL;
		struct kv *kv;

		if (b->nmetadata >= n || !it->string)
			break;
		if (json_dup_item(it, &val))
			return CORE_ENOMEM;
		if (!val)
			continue; /* null or non-scalar values are not metadata */
		kv = &b->metadata[b->nmetadata];
		kv->key = strdup(it->string);
		kv->value = val;
		if (!kv->key) {
			free(val);
			kv->value = NULL;
			return CORE_ENOMEM;
		}
		b->nmetadata++;
	}
	return CORE_OK;
}

static void parse_counts(const cJSON *rc, struct batch_counts *c)
{
	c->total = json_get_int(rc, "total", COUNT_NONE);
	c->completed = json_get_int(rc, "completed", COUNT_NONE);
	c->failed = json_get_int(rc, "failed", COUNT_NONE);
}

static void parse_usage(const cJSON *u, struct batch_usage *us)
{
	us->input_tokens = json_get_int(u, "input_tokens", COUNT_NONE);
	us->output_tokens = json_get_int(u, "output_tokens", COUNT_NONE);
	us->total_tokens = json_get_int(u, "total_tokens", COUNT_NONE);
	us->cached_tokens = json_get_int(json_get(u, "input_tokens_details"),
					 "cached_tokens", COUNT_NONE);
	us->reasoning_tokens = json_get_int(
		json_get(u, "output_tokens_details"), "reasoning_tokens",
		COUNT_NONE);
}

/* Fills *b from a parsed object. On failure *b is released. */
static enum core_rc batch_from_json(const cJSON *o, struct batch *b,
				    struct core_err *err)
{
	static const struct {
		const char *key;
		size_t off;
	} strings[] = {
		{ "id", offsetof(struct batch, id) },
		{ "endpoint", offsetof(struct batch, endpoint) },
		{ "model", offsetof(struct batch, model) },
		{ "input_file_id", offsetof(struct batch, input_file_id) },
		{ "output_file_id", offsetof(struct batch, output_file_id) },
		{ "error_file_id", offsetof(struct batch, error_file_id) },
		{ "completion_window", offsetof(struct batch, completion_window) },
		{ "status", offsetof(struct batch, status_raw) },
	};
	static const struct {
		const char *key;
		size_t off;
	} times[] = {
		{ "created_at", offsetof(struct batch, created_at) },
		{ "in_progress_at", offsetof(struct batch, in_progress_at) },
		{ "expires_at", offsetof(struct batch, expires_at) },
		{ "finalizing_at", offsetof(struct batch, finalizing_at) },
		{ "completed_at", offsetof(struct batch, completed_at) },
		{ "failed_at", offsetof(struct batch, failed_at) },
		{ "expired_at", offsetof(struct batch, expired_at) },
		{ "cancelling_at", offsetof(struct batch, cancelling_at) },
		{ "cancelled_at", offsetof(struct batch, cancelled_at) },
	};
	enum core_rc rc = CORE_OK;
	size_t i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]) && !rc; i++)
		rc = json_dup_string(o, strings[i].key,
				     (char **)(void *)((char *)b + strings[i].off));
	if (rc)
		goto fail;
	if (!b->id || !cJSON_IsString(json_get(o, "id"))) {
		rc = core_err_set(err, CORE_EPARSE, "batch object has no id");
		goto fail;
	}
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		*(int64_t *)(void *)((char *)b + times[i].off) =
			json_get_time(o, times[i].key);
	b->status = batch_status_parse(b->status_raw);
	parse_counts(json_get(o, "request_counts"), &b->counts);
	parse_usage(json_get(o, "usage"), &b->usage);
	rc = parse_errors(json_get(o, "errors"), b);
	if (!rc)
		rc = parse_metadata(json_get(o, "metadata"), b);
	if (!rc) {
		/* Kept for display (batch.json): unknown fields included.
		 * cJSON allocates with malloc (no hooks installed). */
		b->raw_json = cJSON_PrintUnformatted(o);
		if (!b->raw_json)
			rc = CORE_ENOMEM;
	}
	if (!rc)
		return CORE_OK;
fail:
	if (rc == CORE_ENOMEM)
		core_err_set(err, rc, "out of memory parsing a batch");
	batch_release(b);
	return rc;
}

enum core_rc parse_batch(const char *json, size_t len, struct batch *out,
			 struct core_err *err)
{
	cJSON *root;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	rc = json_parse_object(json, len, &root, err);
	if (rc)
		return rc;
	rc = batch_from_json(root, out, err);
	cJSON_Delete(root);
	return rc;
}

static enum core_rc batch_fill(const cJSON *item, void *elem,
			       struct core_err *err)
{
	return batch_from_json(item, elem, err);
}

enum core_rc parse_batch_page(const char *json, size_t len,
			      struct batch_page *out, struct core_err *err)
{
	cJSON *root;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	rc = json_parse_object(json, len, &root, err);
	if (rc)
		return rc;
	rc = json_collect(json_get(root, "data"), sizeof(struct batch), batch_fill,
			  (void **)&out->items, &out->n, err);
	if (rc == CORE_EPARSE)
		core_err_set(err, rc, "batch list has no 'data' array");
	out->has_more = json_get_bool(root, "has_more", false);
	if (!rc && (json_dup_string(root, "first_id", &out->first_id) ||
		    json_dup_string(root, "last_id", &out->last_id)))
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
	if (!rc && !out->last_id && out->n) {
		out->last_id = strdup(out->items[out->n - 1].id);
		if (!out->last_id)
			rc = core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	cJSON_Delete(root);
	if (rc)
		batch_page_release(out);
	return rc;
}
