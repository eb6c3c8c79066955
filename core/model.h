/* SPDX-License-Identifier: MIT */
/* model.h: plain C structs for the service's objects (batches, files, deployments). */
#ifndef BATCHFS_MODEL_H
#define BATCHFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * These structs are what the parsers (parse.h) produce and the API client
 * (api.h) returns. They carry no cJSON: every string is an owned, NUL-
 * terminated heap copy, or NULL when the service sent null, "" or nothing.
 *
 * Ownership: a struct owns all its strings and arrays; the matching
 * *_release() frees them and zeroes the struct (safe on a zeroed struct and
 * twice in a row). Thread-safety: plain data, no locking.
 *
 * Unknown values: timestamps are 0 when null/absent (TIME_NONE); counts and
 * byte sizes are -1 when null/absent (COUNT_NONE).
 */
#define TIME_NONE 0
#define COUNT_NONE (-1)

enum batch_status {
	BATCH_STATUS_UNKNOWN = 0,
	BATCH_STATUS_VALIDATING,
	BATCH_STATUS_FAILED,
	BATCH_STATUS_IN_PROGRESS,
	BATCH_STATUS_FINALIZING,
	BATCH_STATUS_COMPLETED,
	BATCH_STATUS_EXPIRED,
	BATCH_STATUS_CANCELLING,
	BATCH_STATUS_CANCELLED,
	BATCH_STATUS_COUNT
};

/* Case-insensitive; "In_Progress", "in-progress" and "inprogress" all map. */
enum batch_status batch_status_parse(const char *s);
/* Lowercase canonical name ("in_progress"); "unknown" for UNKNOWN. */
const char *batch_status_name(enum batch_status st);
/* completed, failed, expired, cancelled: nothing will change any more. */
bool batch_status_is_terminal(enum batch_status st);

enum file_status {
	FILE_STATUS_UNKNOWN = 0, /* null or absent: OpenAI deprecated the field */
	FILE_STATUS_UPLOADED,
	FILE_STATUS_PENDING,
	FILE_STATUS_RUNNING,
	FILE_STATUS_PROCESSED,
	FILE_STATUS_ERROR,
	FILE_STATUS_DELETING,
	FILE_STATUS_DELETED,
	FILE_STATUS_COUNT
};

enum file_status file_status_parse(const char *s);
const char *file_status_name(enum file_status st);

struct kv {
	char *key;
	char *value;
};

/* One job-level error (Batch.errors.data[]). line is -1 when absent. */
struct batch_error {
	char *code;
	char *message;
	char *param;
	long line;
};

struct batch_counts {
	int64_t total, completed, failed; /* COUNT_NONE when null */
};

/* Token usage (OpenAI batches created after 2025-09-07); COUNT_NONE when absent. */
struct batch_usage {
	int64_t input_tokens, cached_tokens, output_tokens, reasoning_tokens,
		total_tokens;
};

struct batch {
	char *id;
	char *endpoint;
	char *model;
	char *input_file_id;
	char *output_file_id; /* NULL until the output exists ("" maps to NULL) */
	char *error_file_id;
	char *completion_window;
	enum batch_status status;
	char *status_raw; /* the string the service sent, for display */
	int64_t created_at, in_progress_at, expires_at, finalizing_at,
		completed_at, failed_at, expired_at, cancelling_at,
		cancelled_at;
	struct batch_counts counts;
	struct batch_usage usage;
	struct batch_error *errors;
	size_t nerrors;
	struct kv *metadata;
	size_t nmetadata;
	char *raw_json; /* the object as the service sent it (compact), or NULL */
};

/* Returns the metadata value for key, or NULL. Borrowed pointer. */
const char *batch_metadata_get(const struct batch *b, const char *key);
void batch_release(struct batch *b);
/* Deep copy: *dst (overwritten, not released) gets its own strings. */
enum core_rc batch_copy(struct batch *dst, const struct batch *src)
	__attribute__((warn_unused_result));

/* One page of GET /batches. last_id falls back to the last item's id. */
struct batch_page {
	struct batch *items;
	size_t n;
	bool has_more;
	char *first_id;
	char *last_id;
};

void batch_page_release(struct batch_page *p);

struct api_file {
	char *id;
	char *filename;
	char *purpose;
	enum file_status status;
	char *status_details;
	int64_t bytes; /* COUNT_NONE when null */
	int64_t created_at, expires_at;
};

void api_file_release(struct api_file *f);
enum core_rc api_file_copy(struct api_file *dst, const struct api_file *src)
	__attribute__((warn_unused_result));

struct file_page {
	struct api_file *items;
	size_t n;
	bool has_more;
	char *last_id;
};

void file_page_release(struct file_page *p);

/*
 * A deployment (Azure) or model (OpenAI) usable as `model` in batch lines.
 * sku is NULL when the source does not say (legacy data plane, OpenAI).
 */
struct deployment {
	char *name;
	char *model;
	char *sku;
	char *status;
};

struct deployment_list {
	struct deployment *items;
	size_t n;
	char *next_link; /* ARM paging; NULL when absent */
};

void deployment_list_release(struct deployment_list *l);

#endif
