/* SPDX-License-Identifier: MIT */
/* buf.h: a bounded, growable byte buffer for response bodies and strings. */
#ifndef BATCHFS_BUF_H
#define BATCHFS_BUF_H

#include <stddef.h>

#include "err.h"

/*
 * Ownership: a struct buf owns its bytes. buf_release() frees them and
 * leaves an empty buffer; buf_take() hands them to the caller, who must
 * free() them. The data is always NUL-terminated (when non-NULL) so it can be
 * handed to a string parser; len does not count the NUL.
 * A buffer never grows past `limit` bytes (0 = no limit): buf_add() then
 * returns CORE_ETOOBIG and leaves the buffer as it was.
 * Thread-safety: none; a buffer belongs to one thread at a time.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t limit;
};

#define BUF_INIT(lim) { NULL, 0, 0, (lim) }

enum core_rc buf_add(struct buf *b, const void *data, size_t len)
	__attribute__((warn_unused_result));
enum core_rc buf_addstr(struct buf *b, const char *s)
	__attribute__((warn_unused_result));
enum core_rc buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), warn_unused_result));
/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
/* Frees the memory; the buffer is empty and reusable (limit kept). */
void buf_release(struct buf *b);
/* Returns the bytes (never NULL on success; "" for an empty buffer) and
 * empties the buffer. NULL only when memory ran out. */
char *buf_take(struct buf *b);

#endif
