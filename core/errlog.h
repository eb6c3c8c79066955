/* SPDX-License-Identifier: MIT */
/* errlog.h: a ring of the most recent errors, for .batchfs/errors. */
#ifndef BATCHFS_ERRLOG_H
#define BATCHFS_ERRLOG_H

#include "buf.h"

/*
 * Keeps the last ERRLOG_SIZE messages (each cut at 480 bytes) with their
 * time. Also logs each one (log_warn). Never given secrets.
 * Thread-safety: any thread; one mutex, no I/O under it but the log write.
 */
#define ERRLOG_SIZE 100

struct errlog;

struct errlog *errlog_new(void);
void errlog_free(struct errlog *e);
void errlog_add(struct errlog *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends "2026-11-27T08:00:00Z message\n" lines, oldest first. */
enum core_rc errlog_render(struct errlog *e, struct buf *out)
	__attribute__((warn_unused_result));

#endif
