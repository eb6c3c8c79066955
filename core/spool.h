/* SPDX-License-Identifier: MIT */
/* spool.h: the private on-disk spool where submitted data lands before it is uploaded. */
#ifndef BATCHFS_SPOOL_H
#define BATCHFS_SPOOL_H

#include <stdint.h>

#include "err.h"

/*
 * The spool is a directory only its owner can enter (0700; refused if it is
 * group- or world-accessible or owned by someone else); each file in it is
 * 0600. It has a size budget: spool_reserve() fails with CORE_ENOSPC and a
 * message saying what to do when the budget is spent.
 *
 * Thread-safety: all functions may be called from any thread (a mutex
 * guards the accounting; no I/O happens under it).
 */
struct spool_config {
	const char *dir;    /* created if missing */
	uint64_t max_bytes; /* budget; 0 = unlimited */
};

struct spool;

enum core_rc spool_open(const struct spool_config *cfg, struct spool **out,
			struct core_err *err)
	__attribute__((warn_unused_result));
void spool_close(struct spool *s);

/* A new empty spool file, open O_RDWR; *path (heap) names it. */
enum core_rc spool_create(struct spool *s, const char *tag, char **path, int *fd,
			  struct core_err *err)
	__attribute__((warn_unused_result));
/* Counts n more bytes against the budget, or fails with CORE_ENOSPC. */
enum core_rc spool_reserve(struct spool *s, uint64_t n, struct core_err *err)
	__attribute__((warn_unused_result));
/* Gives back n bytes of budget. */
void spool_unreserve(struct spool *s, uint64_t n);
/* Removes a spool file and gives back its bytes. */
void spool_remove(struct spool *s, const char *path, uint64_t bytes);
uint64_t spool_used(struct spool *s);
/*
 * Starts the disk's writeback of a spool file that grows by appends, in
 * SPOOL_WRITEBACK_STEP pieces: call it after each append with the file's
 * size; *started (0 at first) remembers how far writeback was started. It
 * does not wait, and reports nothing (fsync() at the end is what makes the
 * data durable): it only leaves that fsync less to wait for.
 */
#define SPOOL_WRITEBACK_STEP (8u << 20)
void spool_writeback(int fd, uint64_t size, uint64_t *started);
/* At start-up, after recovery: removes data files a previous daemon left
 * (receipts do not outlive their daemon). Journals are not touched. */
void spool_wipe_data(struct spool *s);
const char *spool_dir(const struct spool *s);

#endif
