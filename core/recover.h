/* SPDX-License-Identifier: MIT */
/* recover.h: finishing or rolling back the submissions a stopped daemon left in its journal. */
#ifndef BATCHFS_RECOVER_H
#define BATCHFS_RECOVER_H

#include "api.h"
#include "buf.h"
#include "err.h"

/*
 * For each unsettled journal (journal.h), before the filesystem is mounted:
 *  - if the batch exists (recorded, or found by its batchfs_submit metadata),
 *    the submission is finished: nothing to do but report it;
 *  - otherwise, if the input was uploaded (recorded, or found by name, size
 *    and time), it is deleted: the submission is rolled back;
 *  - otherwise nothing had reached the service: rolled back.
 * Its close() never returned success, so rolling back is what the writer
 * was told; a batch that exists all the same is reported, never duplicated.
 * Each outcome is one line appended to *report. Journals that could not be
 * settled (the service unreachable) stay for the next mount.
 * Not thread-safe: call once at start-up.
 */
struct recover_result {
	unsigned finished, rolled_back, pending;
};

enum core_rc recover_submissions(struct api_client *api, const char *journal_dir,
				 struct buf *report, struct recover_result *res,
				 struct core_err *err)
	__attribute__((warn_unused_result));

#endif
