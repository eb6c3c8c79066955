/* SPDX-License-Identifier: MIT */
/* model.c: status names and the release functions of the model structs. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const char *const batch_status_names[BATCH_STATUS_COUNT] = {
	[BATCH_STATUS_UNKNOWN] = "unknown",
	[BATCH_STATUS_VALIDATING] = "validating",
	[BATCH_STATUS_FAILED] = "failed",
	[BATCH_STATUS_IN_PROGRESS] = "in_progress",
	[BATCH_STATUS_FINALIZING] = "finalizing",
	[BATCH_STATUS_COMPLETED] = "completed",
	[BATCH_STATUS_EXPIRED] = "expired",
	[BATCH_STATUS_CANCELLING] = "cancelling",
	[BATCH_STATUS_CANCELLED] = "cancelled",
};

static const char *const file_status_names[FILE_STATUS_COUNT] = {
	[FILE_STATUS_UNKNOWN] = "unknown",
	[FILE_STATUS_UPLOADED] = "uploaded",
	[FILE_STATUS_PENDING] = "pending",
	[FILE_STATUS_RUNNING] = "running",
	[FILE_STATUS_PROCESSED] = "processed",
	[FILE_STATUS_ERROR] = "error",
	[FILE_STATUS_DELETING] = "deleting",
	[FILE_STATUS_DELETED] = "deleted",
};

/*
 * Compares ignoring case and the separators '_', '-' and ' ', so that
 * "In_Progress", "in-progress" and "InProgress" all match "in_progress".
 */
static bool status_eq(const char *s, const char *canon)
{
	for (;;) {
		while (*s == '_' || *s == '-' || *s == ' ')
			s++;
		while (*canon == '_')
			canon++;
		if (!*s || !*canon)
			return !*s && !*canon;
		if (tolower((unsigned char)*s) != *canon)
			return false;
		s++;
		canon++;
	}
}

enum batch_status batch_status_parse(const char *s)
{
	int i;

	if (!s)
		return BATCH_STATUS_UNKNOWN;
	for (i = 1; i < BATCH_STATUS_COUNT; i++)
		if (status_eq(s, batch_status_names[i]))
			return (enum batch_status)i;
	/* "canceled"/"canceling": American spelling seen in SDK samples. */
	if (status_eq(s, "canceled"))
		return BATCH_STATUS_CANCELLED;
	if (status_eq(s, "canceling"))
		return BATCH_STATUS_CANCELLING;
	return BATCH_STATUS_UNKNOWN;
}

const char *batch_status_name(enum batch_status st)
{
	if ((unsigned)st >= BATCH_STATUS_COUNT)
		return "unknown";
	return batch_status_names[st];
}

bool batch_status_is_terminal(enum batch_status st)
{
	return st == BATCH_STATUS_COMPLETED || st == BATCH_STATUS_FAILED ||
	       st == BATCH_STATUS_EXPIRED || st == BATCH_STATUS_CANCELLED;
}

enum file_status file_status_parse(const char *s)
{
	int i;

	if (!s)
		return FILE_STATUS_UNKNOWN;
	for (i = 1; i < FILE_STATUS_COUNT; i++)
		if (status_eq(s, file_status_names[i]))
			return (enum file_status)i;
	return FILE_STATUS_UNKNOWN;
}

const char *file_status_name(enum file_status st)
{
	if ((unsigned)st >= FILE_STATUS_COUNT)
		return "unknown";
	return file_status_names[st];
}

const char *batch_metadata_get(const struct batch *b, const char *key)
{
	size_t i;

	for (i = 0; i < b->nmetadata; i++)
		if (strcmp(b->metadata[i].key, key) == 0)
			return b->metadata[i].value;
	return NULL;
}

void batch_release(struct batch *b)
{
	size_t i;

	if (!b)
		return;
	free(b->id);
	free(b->endpoint);
	free(b->model);
	free(b->input_file_id);
	free(b->output_file_id);
	free(b->error_file_id);
	free(b->completion_window);
	free(b->status_raw);
	for (i = 0; i < b->nerrors; i++) {
		free(b->errors[i].code);
		free(b->errors[i].message);
		free(b->errors[i].param);
	}
	free(b->errors);
	for (i = 0; i < b->nmetadata; i++) {
		free(b->metadata[i].key);
		free(b->metadata[i].value);
	}
	free(b->metadata);
	free(b->raw_json);
	memset(b, 0, sizeof(*b));
}

/* strdup that keeps NULL; sets *ok false when a copy fails. */
static char *dup_or_null(const char *s, bool *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

enum core_rc batch_copy(struct batch *dst, const struct batch *src)
{
	bool ok = true;
	size_t i;

	*dst = *src;
	dst->errors = NULL;
	dst->metadata = NULL;
	dst->nerrors = dst->nmetadata = 0;
	dst->id = dup_or_null(src->id, &ok);
	dst->endpoint = dup_or_null(src->endpoint, &ok);
	dst->model = dup_or_null(src->model, &ok);
	dst->input_file_id = dup_or_null(src->input_file_id, &ok);
	dst->output_file_id = dup_or_null(src->output_file_id, &ok);
	dst->error_file_id = dup_or_null(src->error_file_id, &ok);
	dst->completion_window = dup_or_null(src->completion_window, &ok);
	dst->status_raw = dup_or_null(src->status_raw, &ok);
	dst->raw_json = dup_or_null(src->raw_json, &ok);
	if (ok && src->nerrors) {
		dst->errors = calloc(src->nerrors, sizeof(*dst->errors));
		ok = dst->errors != NULL;
		for (i = 0; ok && i < src->nerrors; i++, dst->nerrors++) {
			dst->errors[i].code = dup_or_null(src->errors[i].code, &ok);
			dst->errors[i].message = dup_or_null(src->errors[i].message, &ok);
			dst->errors[i].param = dup_or_null(src->errors[i].param, &ok);
			dst->errors[i].line = src->errors[i].line;
		}
	}
	if (ok && src->nmetadata) {
		dst->metadata = calloc(src->nmetadata, sizeof(*dst->metadata));
		ok = dst->metadata != NULL;
		for (i = 0; ok && i < src->nmetadata; i++, dst->nmetadata++) {
			dst->metadata[i].key = dup_or_null(src->metadata[i].key, &ok);
			dst->metadata[i].value = dup_or_null(src->metadata[i].value, &ok);
		}
	}
	if (!ok) {
		batch_release(dst);
		return CORE_ENOMEM;
	}
	return CORE_OK;
}

void batch_page_release(struct batch_page *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		batch_release(&p->items[i]);
	free(p->items);
	free(p->first_id);
	free(p->last_id);
	memset(p, 0, sizeof(*p));
}

void api_file_release(struct api_file *f)
{
	if (!f)
		return;
	free(f->id);
	free(f->filename);
	free(f->purpose);
	free(f->status_details);
	memset(f, 0, sizeof(*f));
}

enum core_rc api_file_copy(struct api_file *dst, const struct api_file *src)
{
	bool ok = true;

	*dst = *src;
	dst->id = dup_or_null(src->id, &ok);
	dst->filename = dup_or_null(src->filename, &ok);
	dst->purpose = dup_or_null(src->purpose, &ok);
	dst->status_details = dup_or_null(src->status_details, &ok);
	if (!ok) {
		api_file_release(dst);
		return CORE_ENOMEM;
	}
	return CORE_OK;
}

void file_page_release(struct file_page *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		api_file_release(&p->items[i]);
	free(p->items);
	free(p->last_id);
	memset(p, 0, sizeof(*p));
}

void deployment_list_release(struct deployment_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->items[i].name);
		free(l->items[i].model);
		free(l->items[i].sku);
		free(l->items[i].status);
	}
	free(l->items);
	free(l->next_link);
	memset(l, 0, sizeof(*l));
}
