/* SPDX-License-Identifier: MIT */
/* upstream.h: an upload that runs on its own thread while its file is still being written. */
#ifndef BATCHFS_UPSTREAM_H
#define BATCHFS_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "err.h"

/*
 * DESIGN
 * ------
 * A submission large enough to gain from it starts its upload (POST /files,
 * sent chunked) while the writer is still writing: the bytes validated so
 * far are handed over with upstream_feed(), the transfer thread sends them
 * as they come and waits (without counting it as a stall) for more. The
 * closing multipart boundary, without which the service creates nothing, is
 * sent only after upstream_end(): the committer calls it once the whole
 * input is valid and journaled. Abandoning (upstream_abort) cuts the
 * request before that boundary: nothing is created on the service.
 *
 * If the upload fails before upstream_end() (the connection dropped while
 * the writer paused, the retries ran out...), upstream_finish() says so with
 * *before_end: nothing can exist on the service, so the committer uploads
 * the finished file the ordinary way instead. Failures after the end are
 * the upload's outcome, exactly as for api_file_upload() (which this runs).
 *
 * A budget caps how many run at once (each holds a thread and a
 * connection); upstream_start() refuses with CORE_ENOSPC beyond it and the
 * submission then uploads at close as usual.
 *
 * Ownership: the caller owns the upstream and ends it with upstream_finish()
 * then upstream_free(), or gives it up with upstream_abandon(), which never
 * waits (callers hold locks): the transfer ends at its next callback and the
 * thread frees it. The upstream reads its own duplicates of the fds fed, so
 * the owner may close its fds at once. Before the API client is freed,
 * upstream_drain() waits for every thread of a budget to end.
 * Thread-safety: feed/end/abandon from any thread; start/finish/free by
 * the owner only.
 */

struct upstream_budget {
	int max; /* uploads running at once; 0: none */
	/* Guarded by upstream.c's lock; read them with upstream_counts(). */
	int running;	  /* started and not yet freed */
	int active;	  /* their transfer threads still at work */
	uint64_t started; /* ever started */
};

/* A snapshot of a budget's counters (thread-safe). */
void upstream_counts(struct upstream_budget *b, int *active, uint64_t *started);

struct upstream;

/* Starts uploading `filename` (purpose batch) on a new thread. */
enum core_rc upstream_start(struct api_client *api, const char *filename,
			    struct upstream_budget *budget, struct upstream **out,
			    struct core_err *err)
	__attribute__((warn_unused_result));

/* Bytes [0, avail) are final and readable from fd: the input (which 0) or
 * the upload file (which 1) once the bytes part from the input; the prefix
 * read so far is the same in both. fd is duplicated on first use. */
void upstream_feed(struct upstream *u, int fd, uint64_t avail, int which);

/* No more bytes: the body may be closed. */
void upstream_end(struct upstream *u);

/* Abandons the upload (never created on the service) and forgets it: u is
 * freed by its thread; never waits. */
void upstream_abandon(struct upstream *u);

/* Waits until every upload thread of the budget has ended. */
void upstream_drain(struct upstream_budget *b);

/*
 * Waits for the outcome. On CORE_OK *out is the file (release with
 * api_file_release). On failure *before_end tells whether it failed before
 * upstream_end() was called (nothing uploaded: try the ordinary way).
 */
enum core_rc upstream_finish(struct upstream *u, struct api_file *out,
			     bool *before_end, struct core_err *err)
	__attribute__((warn_unused_result));

/* After upstream_finish(); otherwise the same as upstream_abandon(). */
void upstream_free(struct upstream *u);

#endif
