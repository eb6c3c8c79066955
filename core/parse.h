/* SPDX-License-Identifier: MIT */
/* parse.h: response body parsers: JSON bytes in, model.h structs out. */
#ifndef BATCHFS_PARSE_H
#define BATCHFS_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "model.h"

/*
 * Every parser takes len bytes of a response body (need not be NUL-
 * terminated), fills a zero-initialised *out and returns CORE_OK, or
 * CORE_EPARSE / CORE_ENOMEM with a message in *err and *out left empty
 * (already released). The tolerance rules of notes/api.md §9-10 apply:
 * timestamps as integers or ISO strings, statuses in any case, null and ""
 * as absent, errors.data as object or array, line as number or string,
 * error codes as strings or numbers, unknown fields ignored.
 * A body that cannot be parsed is an error, never a crash.
 * Pure functions; thread-safe.
 */

/* A Batch object. Requires a non-empty string id. */
enum core_rc parse_batch(const char *json, size_t len, struct batch *out,
			 struct core_err *err)
	__attribute__((warn_unused_result));

/* A list of batches: {data:[...], has_more, first_id, last_id}. Items without
 * an id are skipped; last_id falls back to the last item's id. */
enum core_rc parse_batch_page(const char *json, size_t len,
			      struct batch_page *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* A File object. Requires a non-empty string id. */
enum core_rc parse_file(const char *json, size_t len, struct api_file *out,
			struct core_err *err)
	__attribute__((warn_unused_result));

/* A list of files. has_more is false when the surface does not send it. */
enum core_rc parse_file_page(const char *json, size_t len,
			     struct file_page *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* A delete answer {id, object, deleted}. *deleted is false when absent. */
enum core_rc parse_file_deleted(const char *json, size_t len, bool *deleted,
				struct core_err *err)
	__attribute__((warn_unused_result));

enum deployment_source {
	DEPLOY_SRC_LEGACY,  /* GET /openai/deployments (2022-12-01) {data:[{id, model, status}]} */
	DEPLOY_SRC_MODELS,  /* GET /v1/models {data:[{id, owned_by}]} */
	DEPLOY_SRC_ARM,	    /* ARM Deployments_List {value:[{name, sku{name}, properties{model{name}}}], nextLink} */
};

enum core_rc parse_deployments(const char *json, size_t len,
			       enum deployment_source src,
			       struct deployment_list *out,
			       struct core_err *err)
	__attribute__((warn_unused_result));

/*
 * Reads an error body, in any of the shapes the surfaces send:
 * {"error":{"code","message","type","param"}}, Azure's {"error":{"code":"404",...}},
 * a bare {"code","message"}, or anything else (HTML, truncated JSON). Sets
 * err->code (the service code, or "" when none) and appends the service's
 * message, sanitised to printable text and truncated, to err->msg.
 * Never fails.
 */
void parse_error_body(const char *body, size_t len, struct core_err *err);

/* Re-indents a JSON text for people (2-space indent, trailing newline),
 * appending to *out. CORE_EPARSE if it is not JSON. */
enum core_rc json_pretty(const char *json, size_t len, struct buf *out,
			 struct core_err *err)
	__attribute__((warn_unused_result));

#endif
