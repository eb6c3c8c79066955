/* SPDX-License-Identifier: MIT */
/* submission.h: one submitted JSONL file: validated while written, spooled, then uploaded and turned into a batch. */
#ifndef BATCHFS_SUBMISSION_H
#define BATCHFS_SUBMISSION_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "buf.h"
#include "err.h"
#include "model.h"
#include "spool.h"
#include "upstream.h"

/*
 * DESIGN
 * ------
 * The bytes a writer sends land, in order, in a spool file (the original
 * input) while a streaming validator (validate.h) checks each completed
 * line and SHA-256 hashes the input: no second pass at close. If a line
 * needs its "model" inserted (or a BOM is dropped), the validator's output
 * differs from the input: a second spool file then receives the bytes to
 * upload, starting with a copy of the identical prefix; otherwise the
 * original file is uploaded as is.
 *
 * Once the input passes stream_after bytes (and the budget has room), its
 * upload starts on its own thread while the writer goes on (upstream.h):
 * the validated bytes are sent as they land; the body is closed only at
 * commit, after the journal. Findings, a rename, a reset or abandonment cut
 * that upload before its end, so the service never creates the file.
 *
 * submission_finish() ends the input (last line, empty file) and fsyncs.
 * submission_commit() uploads (streamed from the spool), waits until the
 * service reports the file processed, and creates the batch with metadata
 * naming the file (batchfs_name), the deployment (batchfs_deployment), the
 * input's SHA-256 (batchfs_sha256) and a random submission id
 * (batchfs_submit) by which a create whose response was lost is found
 * again rather than repeated. If anything fails after the upload, the
 * uploaded file is deleted, so nothing is left half-done on the server
 * (except when the create's outcome is unknown: then the file may belong to
 * a batch and is kept; the report says so).
 *
 * Past 4 MiB the SHA-256 is taken by a thread reading the input spool as it
 * grows (hasher.h), off the writer's path.
 *
 * Ownership: the submission owns its spool files and removes them in
 * submission_free(). Thread-safety: a submission belongs to one thread at a
 * time; callers serialise (fs/ holds the entry's lock while writing and
 * hands the submission to exactly one committer). Its hashing thread and
 * its upload thread only read the spool (the upload through its own fds).
 */
struct submission_config {
	const char *deployment;	 /* the model every line must name */
	const char *name;	 /* the file name the user gave */
	uint64_t max_requests;	 /* 100000 Azure, 50000 OpenAI */
	uint64_t max_bytes;	 /* 200 MB */
	enum api_surface surface;
	long process_timeout_ms; /* wait for "processed"; default 600000 */
	/* Streamed uploads (optional): start once this many bytes are written
	 * (0: never), within the budget, through api. */
	uint64_t stream_after;
	struct upstream_budget *streams;
	struct api_client *api;
};

struct submission;

enum core_rc submission_new(struct spool *sp, const struct submission_config *cfg,
			    struct submission **out, struct core_err *err)
	__attribute__((warn_unused_result));
void submission_free(struct submission *s);

/*
 * Appends len bytes written at offset off. Writes must be sequential (off ==
 * the size so far, else CORE_EINVAL); over max_bytes: CORE_ETOOBIG; spool
 * budget spent: CORE_ENOSPC. Validation findings do not fail the write; they
 * are collected for submission_finish().
 */
enum core_rc submission_write(struct submission *s, const char *data, size_t len,
			      uint64_t off, struct core_err *err)
	__attribute__((warn_unused_result));

/* Drops everything written (truncate to 0): a fresh start. */
enum core_rc submission_reset(struct submission *s, struct core_err *err)
	__attribute__((warn_unused_result));

/* Gives up any upload under way (the writer died, or the same bytes are
 * already being submitted): the service creates nothing. */
void submission_abandon(struct submission *s);

/* Renames the submission (the name uploaded and put in the metadata). */
enum core_rc submission_set_name(struct submission *s, const char *name)
	__attribute__((warn_unused_result));

uint64_t submission_size(const struct submission *s);
/* The original bytes, for reading back (pread). */
int submission_fd(const struct submission *s);

/*
 * Ends the input. CORE_OK when valid; CORE_EINVAL when not (report() then
 * lists the findings with their codes and line numbers); CORE_EIO when the
 * spool could not be synced.
 */
enum core_rc submission_finish(struct submission *s, struct core_err *err)
	__attribute__((warn_unused_result));
bool submission_finished(const struct submission *s);

/* Uploads and creates the batch (after a successful finish). May block on
 * the network for long: never call it with a lock held. */
enum core_rc submission_commit(struct submission *s, struct api_client *api,
			       struct batch *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* What went wrong, for people: validation findings or the commit failure.
 * "" when nothing did. Borrowed; valid until the next call that changes s. */
const char *submission_report(const struct submission *s);
/* Hex SHA-256 of the input as written (valid after finish). */
const char *submission_sha256(const struct submission *s);
/* Requests counted by the validator. */
uint64_t submission_requests(const struct submission *s);
/* The uploaded input file id, or NULL. */
const char *submission_file_id(const struct submission *s);

#endif
