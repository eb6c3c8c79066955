/* SPDX-License-Identifier: MIT */
/* journal.h: the per-submission write-ahead journal that makes submissions crash-safe. */
#ifndef BATCHFS_JOURNAL_H
#define BATCHFS_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/*
 * DESIGN
 * ------
 * Every submission that starts talking to the service first writes a small
 * journal file in the spool's journal directory, and appends one line per
 * step, each made durable (fsync) before the next network call:
 *
 *   begin name=N deployment=D size=S sha256=H submit=ID time=T
 *   uploaded file=F          the input is on the service as F
 *   processed                the service accepted it for batching
 *   created batch=B          the batch exists
 *   done | failed            the outcome is final (the file is then removed)
 *
 * Values are percent-escaped (no spaces, newlines or '%' in them). A file
 * still present at mount time belongs to a submission the previous daemon
 * did not finish (kill -9, power loss): recovery (recover.h) looks up what
 * reached the service and finishes or rolls back each one.
 *
 * Thread-safety: a struct journal belongs to one submission (one thread at
 * a time); journal_scan() is for start-up.
 */

struct journal;

struct journal_info {
	const char *name;
	const char *deployment;
	const char *sha256;
	const char *submit_id;
	uint64_t size;
};

/* Creates DIR/<submit_id>.journal with its "begin" line, durable. */
enum core_rc journal_begin(const char *dir, const struct journal_info *info,
			   struct journal **out, struct core_err *err)
	__attribute__((warn_unused_result));

/* Appends "step key=value" (key/value may be NULL), durable. */
enum core_rc journal_step(struct journal *j, const char *step, const char *key,
			  const char *value, struct core_err *err)
	__attribute__((warn_unused_result));

/* Closes; with remove, deletes the file (the submission is settled). */
void journal_close(struct journal *j, bool remove);

enum journal_state {
	JOURNAL_BEGUN,
	JOURNAL_UPLOADED,
	JOURNAL_PROCESSED,
	JOURNAL_CREATED,
	JOURNAL_SETTLED, /* done or failed */
};

/* What a leftover journal says. Strings are owned (journal_records_free). */
struct journal_record {
	char *path;
	char *name, *deployment, *sha256, *submit_id;
	uint64_t size;
	int64_t time;
	char *file_id;	/* when uploaded */
	char *batch_id; /* when created */
	enum journal_state state;
};

/* Reads every *.journal in dir (unreadable ones are reported as errors in
 * *err but skipped). */
enum core_rc journal_scan(const char *dir, struct journal_record **out,
			  size_t *n, struct core_err *err)
	__attribute__((warn_unused_result));
void journal_records_free(struct journal_record *r, size_t n);

#endif
