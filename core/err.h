/* SPDX-License-Identifier: MIT */
/* err.h: core result codes and the error detail struct every core call can fill. */
#ifndef BATCHFS_ERR_H
#define BATCHFS_ERR_H

/*
 * Every core/ function returns an enum core_rc (CORE_OK == 0) and may take a
 * struct core_err * (NULL allowed) for details. core/ never returns errno
 * values; fs/ maps these codes to errno in one place (fs/errmap.c).
 *
 * Thread-safety: a struct core_err belongs to its caller; nothing here keeps
 * state. Messages never contain secrets (callers must not format them in).
 */

enum core_rc {
	CORE_OK = 0,
	CORE_EINVAL,	  /* request rejected as invalid (HTTP 400, bad input) */
	CORE_ENOMEM,	  /* allocation failed */
	CORE_EIO,	  /* local I/O error on a file descriptor */
	CORE_ETOOBIG,	  /* a body or file exceeded a size limit */
	CORE_ENOTFOUND,	  /* HTTP 404, unknown id */
	CORE_EAUTH,	  /* HTTP 401/403 */
	CORE_ETHROTTLED,  /* HTTP 429 still there after the retry budget */
	CORE_EQUOTA,	  /* quota exhausted (token_limit_exceeded, file count) */
	CORE_ECONFLICT,	  /* HTTP 409 or the object is in the wrong state */
	CORE_EPARSE,	  /* a response could not be parsed */
	CORE_ETRANSPORT,  /* connection refused/reset, TLS, DNS */
	CORE_ETIMEDOUT,	  /* a deadline expired (connect, stall, overall) */
	CORE_EAMBIGUOUS,  /* a non-idempotent request may or may not have happened */
	CORE_EHTTP,	  /* any other HTTP failure (5xx after retries, 3xx...) */
	CORE_ECANCELLED,  /* the caller aborted the operation */
	CORE_ENOSPC,	  /* a local size limit (spool, cache) is full */
	CORE_RC_COUNT
};

struct core_err {
	enum core_rc rc;
	long http_status;     /* 0 when no HTTP response arrived */
	long retry_after_ms;  /* -1 when the server sent no retry hint */
	char code[64];	      /* the service's error code ("" when none) */
	char msg[512];	      /* human-readable, lowercase, no secrets */
};

#define CORE_ERR_INIT { CORE_OK, 0, -1, "", "" }

/* Resets *err to CORE_ERR_INIT. NULL is allowed. */
void core_err_clear(struct core_err *err);

/*
 * Records rc and a printf-style message in *err (NULL allowed) and returns
 * rc, so callers can write `return core_err_set(err, CORE_EINVAL, ...);`.
 * Leaves http_status, retry_after_ms and code as they are.
 */
enum core_rc core_err_set(struct core_err *err, enum core_rc rc,
			  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Short stable name of a result code ("ok", "not found", ...). */
const char *core_rc_str(enum core_rc rc);

/* Symbolic name of a result code ("CORE_ENOTFOUND"), for logs and tests. */
const char *core_rc_name(enum core_rc rc);

#endif
