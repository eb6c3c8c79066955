/* SPDX-License-Identifier: MIT */
/* inflight.h: one flight per key: identical submissions in progress wait for the first one's result. */
#ifndef BATCHFS_INFLIGHT_H
#define BATCHFS_INFLIGHT_H

#include <stdbool.h>

#include "err.h"

/*
 * The first caller of inflight_join() for a key leads: it does the work and
 * calls inflight_finish() with the outcome. Callers that join while it is in
 * flight wait and get that outcome (a copy of the batch id) instead of doing
 * the work again. Once finished, the key is forgotten: a later join leads
 * anew. Followers that get a failure may lead a retry themselves.
 *
 * Thread-safety: any thread; followers block on a condition variable; no
 * lock is held by a leader while it works.
 */
struct inflight;

struct inflight *inflight_new(void);
void inflight_free(struct inflight *f);

/* true: you lead (call inflight_finish). false: *rc and *batch_id (heap,
 * or NULL) hold the leader's outcome. */
bool inflight_join(struct inflight *f, const char *key, enum core_rc *rc,
		   char **batch_id);
void inflight_finish(struct inflight *f, const char *key, enum core_rc rc,
		     const char *batch_id);
/* Whether key is in flight now (a hint: it may end at once). */
bool inflight_busy(struct inflight *f, const char *key);

#endif
