/* SPDX-License-Identifier: MIT */
/* api.h: the Files, Batches and deployments API client for Azure OpenAI and OpenAI. */
#ifndef BATCHFS_API_H
#define BATCHFS_API_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "err.h"
#include "http.h"
#include "model.h"
#include "url.h"

/*
 * One struct api_client talks to one resource on one surface:
 *   API_SURFACE_AZURE     {endpoint}/openai/{path}?api-version=V (default 2024-10-21)
 *   API_SURFACE_AZURE_V1  {endpoint}/openai/v1/{path}
 *   API_SURFACE_OPENAI    {endpoint, default https://api.openai.com/v1}/{path}
 *
 * Thread-safety: every api_* call may run on any thread concurrently; the
 * client is immutable after api_client_new() except for atomic counters.
 * No lock is held across network I/O (see http.h).
 *
 * Ownership: out-structs are filled zeroed-then-owned by the caller, who
 * releases them with the model.h *_release() functions (also after an error:
 * they are left empty). String parameters are borrowed for the call.
 *
 * Errors: enum core_rc plus *err (NULL allowed) with HTTP status, the
 * service's error code and message, and Retry-After; see err.h and http.h.
 */

#define API_DEFAULT_AZURE_VERSION "2024-10-21"
#define API_DEFAULT_OPENAI_BASE "https://api.openai.com/v1"

struct api_config {
	enum api_surface surface;
	const char *endpoint;	  /* resource endpoint / base URL */
	const char *api_version;  /* Azure dated (required, defaulted); v1 optional */
	const char *organization; /* OpenAI-Organization header, or NULL */
	const char *project;	  /* OpenAI-Project header, or NULL */
	bool allow_http;	  /* plain http:// to a non-loopback host */
	struct http_config http;
};

/* Zeroes cfg, sets the Azure surface and the http defaults. A NULL
 * api_version means "2024-10-21" on the Azure dated surface, none elsewhere. */
void api_config_defaults(struct api_config *cfg);

enum api_op {
	API_OP_FILE_UPLOAD,
	API_OP_FILE_GET,
	API_OP_FILE_LIST,
	API_OP_FILE_DELETE,
	API_OP_FILE_CONTENT,
	API_OP_BATCH_CREATE,
	API_OP_BATCH_GET,
	API_OP_BATCH_LIST,
	API_OP_BATCH_CANCEL,
	API_OP_DEPLOYMENT_LIST,
	API_OP_COUNT
};

/* "file_upload", "batch_list", ... (stable: shown in .batchfs/stats). */
const char *api_op_name(enum api_op op);

struct api_stats {
	uint64_t calls[API_OP_COUNT]; /* logical calls, retries not counted */
	struct http_stats http;
};

struct api_client;

/*
 * Checks the configuration (endpoint scheme and host, version) and takes
 * ownership of auth (freed by api_client_free(), also on failure).
 * Does no network I/O.
 */
enum core_rc api_client_new(const struct api_config *cfg, struct auth *auth,
			    struct api_client **out, struct core_err *err)
	__attribute__((warn_unused_result));
void api_client_free(struct api_client *c);

enum api_surface api_client_surface(const struct api_client *c);
void api_client_stats(const struct api_client *c, struct api_stats *out);

/* ---- Files ------------------------------------------------------------ */

struct api_upload {
	int fd;			 /* read with pread() from 0 to size */
	off_t size;
	/* Or a file still being written (http.h), sent as it grows; then fd
	 * and size are not used. */
	const struct http_source *source;
	/* Optional: polled during the transfer and between retries; true
	 * abandons the upload (CORE_ECANCELLED). */
	bool (*cancelled)(void *ctx);
	void *cancel_ctx;
	const char *filename;	 /* the name the service records */
	const char *purpose;	 /* NULL: "batch" */
	int64_t expires_after_s; /* 0: none; else expires_after created_at+s */
};

/*
 * POST /files, streaming the body from fd (never loaded whole). After a lost
 * response the upload is looked up (same filename and size, created since
 * the call started) rather than blindly sent twice.
 */
enum core_rc api_file_upload(struct api_client *c, const struct api_upload *up,
			     struct api_file *out, struct core_err *err)
	__attribute__((warn_unused_result));

enum core_rc api_file_get(struct api_client *c, const char *id,
			  struct api_file *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* One page; purpose/after may be NULL, limit 0 = the service default. */
enum core_rc api_file_list(struct api_client *c, const char *purpose,
			   const char *after, int limit, struct file_page *out,
			   struct core_err *err)
	__attribute__((warn_unused_result));

enum core_rc api_file_delete(struct api_client *c, const char *id,
			     struct core_err *err)
	__attribute__((warn_unused_result));

/*
 * GET /files/{id}/content streamed into fd at offset off with pwrite() (a
 * regular file: an interrupted transfer resumes with a Range request, and
 * bytes already written are never changed). *written gets the byte count.
 * progress (may be NULL) is told how many leading bytes are in fd, as they
 * arrive. The body is never held in memory.
 */
enum core_rc api_file_content(struct api_client *c, const char *id, int fd,
			      off_t off, int64_t *written,
			      void (*progress)(void *ctx, int64_t bytes),
			      void *progress_ctx, struct core_err *err)
	__attribute__((warn_unused_result));

/*
 * Polls GET /files/{id} until the status is processed (on OpenAI also
 * absent or "uploaded": the field is deprecated there; Azure creates batches
 * only from "processed" files), error (CORE_EINVAL with status_details) or deleted,
 * or timeout_ms passes (CORE_ETIMEDOUT). Interval starts at 100 ms and
 * doubles up to 2 s. *out holds the last file seen.
 */
enum core_rc api_file_wait_processed(struct api_client *c, const char *id,
				     long timeout_ms, struct api_file *out,
				     struct core_err *err)
	__attribute__((warn_unused_result));

/* ---- Batches ---------------------------------------------------------- */

struct api_batch_create {
	const char *input_file_id;
	const char *endpoint;	       /* "/chat/completions", "/v1/chat/completions" */
	const char *completion_window; /* NULL: "24h" */
	const struct kv *metadata;     /* at most 16 pairs, key <= 64, value <= 512 */
	size_t nmetadata;
	/*
	 * Optional: the metadata key whose value is unique to this request
	 * (e.g. a submission hash). With it, a create whose response was
	 * lost is reconciled by finding the batch that carries it; without
	 * it such a create fails with CORE_EAMBIGUOUS and is not resent.
	 */
	const char *reconcile_key;
};

enum core_rc api_batch_create(struct api_client *c,
			      const struct api_batch_create *req,
			      struct batch *out, struct core_err *err)
	__attribute__((warn_unused_result));

enum core_rc api_batch_get(struct api_client *c, const char *id,
			   struct batch *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* One page, newest first; after may be NULL, limit 0 = the service default. */
enum core_rc api_batch_list(struct api_client *c, const char *after, int limit,
			    struct batch_page *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* POST /batches/{id}/cancel; *out (may be NULL) gets the batch returned. */
enum core_rc api_batch_cancel(struct api_client *c, const char *id,
			      struct batch *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* ---- Deployments ------------------------------------------------------ */

/*
 * Lists what the service offers: on Azure the legacy data-plane listing
 * (GET /openai/deployments?api-version=2022-12-01; best effort, absent on
 * many resources: CORE_ENOTFOUND then), on OpenAI GET /models.
 */
enum core_rc api_deployment_list(struct api_client *c,
				 struct deployment_list *out,
				 struct core_err *err)
	__attribute__((warn_unused_result));

#endif
