/* SPDX-License-Identifier: MIT */
/* http.h: the one HTTP layer: libcurl, timeouts, retries, backoff, streaming bodies. */
#ifndef BATCHFS_HTTP_H
#define BATCHFS_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

/*
 * DESIGN
 * ------
 * http_perform() runs one logical request as one or more attempts. Each
 * attempt uses its own CURL easy handle; all handles of a client share one
 * CURLSH (connection cache, DNS, TLS sessions), so connections are reused
 * across threads. No lock is held during network I/O: the share's locks are
 * taken by libcurl around its own short critical sections only.
 *
 * Retries (this is the only place in batchfs that retries or sleeps):
 * 408, 429, 5xx and transport errors are retried up to max_retries times with
 * jittered exponential backoff, or after the server's retry-after-ms /
 * Retry-After hint when it is under retry_after_cap_ms (a longer hint ends
 * the call with CORE_ETHROTTLED and the hint in err->retry_after_ms).
 * A request marked non-idempotent (a POST that creates something) is sent
 * again only when the previous attempt provably did not reach the
 * application: nothing was sent (connect failure), or the server answered
 * 408/429/503. Otherwise the outcome is ambiguous: the request's reconcile
 * hook is asked to find what the lost attempt created; if it finds it, the
 * call succeeds with that object; if it reports CORE_ENOTFOUND the request is
 * sent again; without a hook the call fails with CORE_EAMBIGUOUS.
 *
 * Timeouts: connect_timeout_ms per attempt; request_timeout_ms per attempt
 * for small JSON calls; for transfers (uploads, downloads) no overall
 * timeout but a stall timeout (no byte moved for transfer_stall_ms); and
 * deadline_ms bounds the whole call, retries and waits included, for
 * non-transfer calls.
 *
 * Bodies: request bodies come from memory (JSON) or are streamed from a file
 * descriptor as multipart/form-data with pread(), never loaded whole; or,
 * for a file still being written, from an http_source whose read() blocks
 * until the bytes exist (sent chunked: the size is unknown when the upload
 * starts; time spent waiting for the source never counts as a stall). A
 * multipart body cut before its closing boundary cannot have been acted on:
 * such an attempt is resent as if nothing had been sent. A source that
 * reports itself abandoned ends the call with CORE_ECANCELLED. A 2xx
 * response body is either buffered (bounded by max_body_bytes) or streamed
 * into a sink file descriptor with pwrite() at an offset. A download cut
 * short is resumed with "Range: bytes=N-" from what already arrived; a server
 * that answers the range with a full 200 has the file rewritten from its
 * start (same bytes), so data once reported through sink_progress is never
 * taken back (readers may already have served it). Error bodies are always
 * buffered (first 64 KiB) and parsed into err->code / err->msg.
 *
 * Thread-safety: a struct http_client is safe to use from any number of
 * threads at once after http_client_new(); http_client_free() must not race
 * with calls. Secrets: the caller passes the auth header in
 * http_request.secret_header, or an auth_line callback; it is copied into
 * curl's header list only for the attempt and wiped right after; it never
 * reaches logs or messages. A 401 with an auth_line callback renews the
 * credential once and resends at once (not counted against max_retries).
 */

struct http_config {
	long connect_timeout_ms;  /* default 10000 */
	long request_timeout_ms;  /* per attempt, JSON calls; default 30000 */
	long transfer_stall_ms;	  /* transfers: abort after no progress; default 30000 */
	long deadline_ms;	  /* whole call incl. retries (JSON calls); default 120000 */
	int max_retries;	  /* default 4 */
	long backoff_base_ms;	  /* default 500 */
	long backoff_max_ms;	  /* default 8000 */
	long retry_after_cap_ms;  /* default 60000 */
	size_t max_body_bytes;	  /* buffered 2xx bodies; default 16 MiB */
	const char *ca_file;	  /* NULL: the system CA bundle */
	const char *user_agent;	  /* NULL: "batchfs/VERSION" */
	bool no_proxy;		  /* never through a proxy (IMDS must not be) */
};

void http_config_defaults(struct http_config *cfg);

enum http_method { HTTP_GET, HTTP_POST, HTTP_DELETE };

/*
 * The file part of an upload that is still being written. The callbacks
 * run on the transfer's thread. read() copies up to n bytes at off into dst
 * and returns how many (> 0), waiting up to wait_ms for some to exist; 0 at
 * the end of the source; -1 when the source is abandoned;
 * HTTP_SOURCE_WAIT when nothing came in time (the transfer then pauses,
 * still reading the server's answer, and asks ready() until it is true:
 * bytes at off exist, or the end, or abandonment). size() is the final size
 * once read() has reported the end, else -1. Every attempt reads from 0.
 */
#define HTTP_SOURCE_WAIT (-2)
struct http_source {
	ssize_t (*read)(void *ctx, char *dst, size_t n, off_t off, int wait_ms);
	bool (*ready)(void *ctx, off_t off);
	off_t (*size)(void *ctx);
	void *ctx;
};

/* A multipart/form-data body: fields, then one file part read from fd
 * (or from source, when set: then fd and size are not used). */
struct http_upload {
	int fd;			   /* read with pread() from offset 0 */
	off_t size;		   /* exact number of bytes to send */
	const struct http_source *source;
	const char *field_name;	   /* "file" */
	const char *filename;	   /* sanitised for the header */
	const char *const *fields; /* name, value, name, value, ..., NULL */
};

struct http_request {
	enum http_method method;
	const char *url;
	const char *label;		/* for messages: "POST /openai/batches" */
	const char *accept;		/* Accept header value; NULL: application/json */
	const char *const *headers;	/* NULL-terminated "Name: value" lines */
	const char *secret_header;	/* auth line; wiped after each attempt */
	/* Or: asked for the auth line before the first attempt (refused NULL)
	 * and once more after a 401 with the line that was refused; a token
	 * credential then fetches a new token; CORE_ENOTFOUND then means there
	 * is nothing to renew and the 401 stands. *line is wiped and freed with
	 * secret_free(). May do HTTP itself (not through this request). */
	enum core_rc (*auth_line)(void *ctx, const char *refused, char **line,
				  struct core_err *err);
	void *auth_ctx;
	const char *body;		/* JSON body (POST), or NULL */
	const char *content_type;	/* of body; NULL: application/json */
	size_t body_len;
	const struct http_upload *upload; /* or a streamed multipart body */
	int sink_fd;			/* >= 0: 2xx body goes here (pwrite) */
	off_t sink_off;			/* where the body starts in sink_fd */
	/* Optional: told the count of leading body bytes now in sink_fd
	 * (monotonic across retries). Called on the transfer's thread. */
	void (*sink_progress)(void *ctx, int64_t bytes);
	void *sink_progress_ctx;
	bool idempotent;		/* safe to send twice */
	bool transfer;			/* large body: stall timeout, no deadline */
	/* Called after an ambiguous failure; see DESIGN. May do HTTP itself. */
	enum core_rc (*reconcile)(void *ctx, struct buf *body,
				  struct core_err *err);
	void *reconcile_ctx;
	/* Polled during transfers and waits; true aborts with CORE_ECANCELLED. */
	bool (*cancelled)(void *ctx);
	void *cancel_ctx;
};

struct http_response {
	long status;	       /* final HTTP status; 0 when none arrived */
	struct buf body;       /* buffered body (2xx without sink, or error) */
	int64_t sink_bytes;    /* leading body bytes in sink_fd (the body's size on success) */
	int attempts;	       /* attempts made (1 = no retry) */
	bool reconciled;       /* body came from the reconcile hook */
	char request_id[96];   /* apim-request-id / x-request-id, for support */
};

void http_response_init(struct http_response *r);
void http_response_release(struct http_response *r);

struct http_stats {
	uint64_t requests;   /* attempts sent */
	uint64_t retries;    /* attempts beyond the first */
	uint64_t failures;   /* calls that ended in an error */
	uint64_t bytes_up;
	uint64_t bytes_down;
	uint64_t reconciled; /* ambiguous POSTs resolved by their hook */
	uint64_t connects;   /* new connections opened (the rest reused one) */
};

struct http_client;

/* Copies cfg (and its strings). curl_global_init() must have been called. */
enum core_rc http_client_new(const struct http_config *cfg,
			     struct http_client **out, struct core_err *err)
	__attribute__((warn_unused_result));
void http_client_free(struct http_client *c);

/* A consistent-enough snapshot of the counters (each read atomically). */
void http_client_stats(const struct http_client *c, struct http_stats *out);

/*
 * Runs the request; see DESIGN. On CORE_OK, resp->status is 2xx and the body
 * is in resp->body or the sink. On failure err has the rc, the HTTP status
 * (0 if none), the service's code and message, and retry_after_ms.
 */
enum core_rc http_perform(struct http_client *c, const struct http_request *req,
			  struct http_response *resp, struct core_err *err)
	__attribute__((warn_unused_result));

#endif
