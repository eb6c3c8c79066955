/* SPDX-License-Identifier: MIT */
/* validate.h: streaming validation of batch input JSONL, with model insertion. */
#ifndef BATCHFS_VALIDATE_H
#define BATCHFS_VALIDATE_H

/*
 * A struct jv checks a batch input file while it is being written: the
 * caller feeds the bytes in any chunking (jv_feed), ends with jv_finish, and
 * reads the report. The rules mirror the service's own validation
 * (notes/api.md §3.5, §4.1) so a submission fails here, with line numbers,
 * instead of an hour later in the service's queue:
 *
 *   - Lines end at '\n'; a '\r' before it is JSON whitespace. The last line
 *     may lack '\n'. Whitespace-only lines are ignored at the end of the
 *     file; one followed by a request line is invalid_json_line.
 *   - Each line is one JSON object (RFC 8259 grammar, strict UTF-8, nesting
 *     up to JV_MAX_DEPTH) with custom_id (non-empty string, unique),
 *     method "POST", url (a batch endpoint, the same on every line) and body
 *     (an object whose "model", when present, is the deployment name).
 *   - A body without "model" gets `"model": "<deployment>", ` inserted right
 *     after its '{'; no other byte changes.
 *   - A leading UTF-8 BOM is dropped. The real service rejects BOM files
 *     with the misleading "A valid model deployment name couldn't be
 *     extracted from the input file" message (api.md §3.5, Q12).
 *
 * Every byte fed comes out through the emit callback, in order, whether the
 * line is valid or not (the caller decides what to do with a failed file):
 * unchanged runs as spans of the caller's own buffer, rewritten lines as
 * copies. Validation failures never stop the stream; they accumulate in the
 * report (see struct jv_report).
 *
 * Ownership: jv_new() copies what it needs from the config (the deployment
 * string is not kept). The report and its errors belong to the struct jv
 * and live until jv_free(). The bytes passed to the emit callback are only
 * valid during the callback.
 * Memory: bounded by max_line_bytes (one partial line), a 64 KiB output
 * buffer, max_errors entries and 12 bytes per slot of the custom_id hash set
 * (at most ~3 MiB for 100,000 requests); see jv_memory().
 * Thread-safety: a struct jv belongs to one caller at a time (the caller
 * serialises); no globals except constant tables, so separate structs may
 * be used from separate threads. Deterministic: fit for a fuzzer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define JV_DEFAULT_MAX_LINE ((size_t)32 << 20) /* 32 MiB */
#define JV_DEFAULT_MAX_ERRORS 20
/* JSON nesting limit, as cJSON's CJSON_NESTING_LIMIT. */
#define JV_MAX_DEPTH 1000

struct jv_config {
	/* Required: the model/deployment name every line must use. */
	const char *deployment;
	/* 100000 (Azure) or 50000 (OpenAI); 0 = no limit. */
	uint64_t max_requests;
	/* Input size limit, e.g. 200 MB (200*1000*1000); 0 = none. */
	uint64_t max_bytes;
	/* Longest line accepted, '\n' not counted; 0 = JV_DEFAULT_MAX_LINE. A
	 * longer line is invalid_json_line (even if it is only whitespace). */
	size_t max_line_bytes;
	/* Errors kept in the report; 0 = JV_DEFAULT_MAX_ERRORS. */
	size_t max_errors;
};

/* The service's validation error codes (api.md §3.5). */
enum jv_code {
	JV_INVALID_JSON_LINE,
	JV_DUPLICATE_CUSTOM_ID,
	JV_MODEL_MISMATCH,
	JV_URL_MISMATCH,
	JV_TOO_MANY_TASKS,
	JV_EMPTY_FILE,
	JV_INVALID_REQUEST,
	JV_CODE_COUNT
};

/* The service's own code: "invalid_json_line", ... "invalid_request";
 * "unknown" for an out-of-range value. */
const char *jv_code_name(enum jv_code c);

struct jv_error {
	enum jv_code code;
	uint64_t line; /* 1-based, 0 = whole file */
	/* Printable: user strings in it are truncated and escaped. */
	char message[240];
};

/*
 * At most one error is reported per line: the first failed check in this
 * order: UTF-8 and JSON syntax, object, custom_id, duplicate custom_id,
 * method, url, body, body.model. too_many_tasks comes in addition, once, on
 * the first line past max_requests.
 */
struct jv_report {
	/* Non-blank or over-long lines, valid or not (each one is a task). */
	uint64_t requests;
	uint64_t bytes_in;  /* bytes fed */
	uint64_t bytes_out; /* bytes emitted */
	/* The output differs from the input (model inserted or BOM dropped). */
	bool transformed;
	/* The url every line uses: the first accepted one ("" if none yet). */
	char url[128];
	/* The first max_errors errors, in line order. */
	const struct jv_error *errors;
	size_t nerrors;
	uint64_t errors_total; /* all errors found */
};

/*
 * Receives the bytes to upload, in order. modified == false: the chunk is a
 * verbatim copy of a contiguous run of input bytes. modified == true: the
 * chunk is all or part of a rewritten line (a line with an inserted model,
 * or line 1 after a dropped BOM); consecutive rewritten lines may share one
 * chunk. Return non-OK to stop: jv_feed/jv_finish return that code, and the
 * struct jv refuses further input (returns it again).
 */
typedef enum core_rc (*jv_emit_fn)(void *ctx, const char *data, size_t len,
				   bool modified);

struct jv;

/*
 * Creates a validator. cfg->deployment must be a non-empty, valid UTF-8
 * string (else CORE_EINVAL). emit is required. CORE_ENOMEM when out of
 * memory. *out is freed with jv_free().
 */
enum core_rc jv_new(const struct jv_config *cfg, jv_emit_fn emit,
		    void *emit_ctx, struct jv **out, struct core_err *err)
	__attribute__((warn_unused_result));

/*
 * Feeds the next len bytes (any chunking: a line may span many calls, a call
 * may hold many lines). On return every complete line fed so far has been
 * emitted; a partial line is held (up to max_line_bytes) until its '\n'.
 * Returns CORE_ETOOBIG (with a message) as soon as bytes_in would exceed
 * max_bytes, without consuming the chunk (the caller may still finish).
 * Validation failures are NOT returned here: they accumulate in the report.
 * Other returns: the emit callback's code, CORE_ENOMEM, CORE_EINVAL after
 * jv_finish.
 */
enum core_rc jv_feed(struct jv *v, const char *data, size_t len,
		     struct core_err *err) __attribute__((warn_unused_result));

/*
 * End of input: validates and emits a last line without '\n', and reports
 * empty_file when there was no request. Call once (a second call returns
 * CORE_EINVAL).
 */
enum core_rc jv_finish(struct jv *v, struct core_err *err)
	__attribute__((warn_unused_result));

/* The report so far (final after jv_finish). Valid until the next call on v. */
const struct jv_report *jv_report(const struct jv *v);

/*
 * Appends a human-readable report to *out: one line per kept error,
 * "line N: code: message\n" ("file: code: message\n" for whole-file
 * errors), then "... and K more\n" when errors were dropped. Nothing for a
 * clean file. Returns buf_printf's code (CORE_ENOMEM / CORE_ETOOBIG).
 */
enum core_rc jv_report_text(const struct jv *v, struct buf *out)
	__attribute__((warn_unused_result));

/* Bytes of heap the validator holds now (buffers, error list, hash set);
 * for tests and for accounting in the caller. */
size_t jv_memory(const struct jv *v);

/* Frees v (NULL allowed). */
void jv_free(struct jv *v);

#endif
