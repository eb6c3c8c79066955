/* SPDX-License-Identifier: MIT */
/* parse_file.c: tolerant parsing of File objects, file lists and delete answers. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "parse.h"

static enum core_rc file_from_json(const cJSON *o, struct api_file *f,
				   struct core_err *err)
{
	enum core_rc rc;
	char *status = NULL;
	const cJSON *details;

	memset(f, 0, sizeof(*f));
	rc = json_dup_string(o, "id", &f->id);
	if (!rc)
		rc = json_dup_string(o, "filename", &f->filename);
	if (!rc)
		rc = json_dup_string(o, "purpose", &f->purpose);
	if (!rc)
		rc = json_dup_string(o, "status", &status);
	details = json_get(o, "status_details");
	if (!rc && cJSON_IsString(details))
		rc = json_dup_item(details, &f->status_details);
	else if (!rc && cJSON_IsObject(details))
		rc = json_dup_string(details, "message", &f->status_details);
	if (rc) {
		free(status);
		api_file_release(f);
		return core_err_set(err, rc, "out of memory parsing a file");
	}
	if (!f->id || !cJSON_IsString(json_get(o, "id"))) {
		free(status);
		api_file_release(f);
		return core_err_set(err, CORE_EPARSE, "file object has no id");
	}
	f->status = file_status_parse(status);
	free(status);
	f->bytes = json_get_int(o, "bytes", COUNT_NONE);
	if (f->bytes < COUNT_NONE)
		f->bytes = COUNT_NONE;
	f->created_at = json_get_time(o, "created_at");
	f->expires_at = json_get_time(o, "expires_at");
	return CORE_OK;
}

enum core_rc parse_file(const char *json, size_t len, struct api_file *out,
			struct core_err *err)
{
	cJSON *root;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	rc = json_parse_object(json, len, &root, err);
	if (rc)
		return rc;
	rc = file_from_json(root, out, err);
	cJSON_Delete(root);
	return rc;
}

static enum core_rc file_fill(const cJSON *item, void *elem,
			      struct core_err *err)
{
	return file_from_json(item, elem, err);
}

enum core_rc parse_file_page(const char *json, size_t len,
			     struct file_page *out, struct core_err *err)
{
	cJSON *root;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	rc = json_parse_object(json, len, &root, err);
	if (rc)
		return rc;
	rc = json_collect(json_get(root, "data"), sizeof(struct api_file),
			  file_fill, (void **)&out->items, &out->n, err);
	if (rc == CORE_EPARSE)
		core_err_set(err, rc, "file list has no 'data' array");
	out->has_more = json_get_bool(root, "has_more", false);
	if (!rc && json_dup_string(root, "last_id", &out->last_id))
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
	if (!rc && !out->last_id && out->n) {
		out->last_id = strdup(out->items[out->n - 1].id);
		if (!out->last_id)
			rc = core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	cJSON_Delete(root);
	if (rc)
		file_page_release(out);
	return rc;
}

enum core_rc parse_file_deleted(const char *json, size_t len, bool *deleted,
				struct core_err *err)
{
	cJSON *root;
	enum core_rc rc;

	*deleted = false;
	rc = json_parse_object(json, len, &root, err);
	if (rc)
		return rc;
	*deleted = json_get_bool(root, "deleted", false);
	cJSON_Delete(root);
	return CORE_OK;
}
