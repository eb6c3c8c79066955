/* SPDX-License-Identifier: MIT */
/* hasher.h: SHA-256 of a file being written, computed inline or by its own thread following the writes. */
#ifndef BATCHFS_HASHER_H
#define BATCHFS_HASHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * DESIGN
 * ------
 * SHA-256 is a third of the CPU a large submission costs. A hasher starts
 * inline (hasher_update() on the bytes as written); once the file is large
 * enough the owner calls hasher_follow(): a thread then reads the file
 * itself (pread, from the page cache) up to what hasher_feed() says is
 * written, so the hashing runs on another core while the writer goes on.
 * hasher_final() waits for it to catch up. If the thread cannot start,
 * hashing stays inline: hasher_follow() reports it and the owner goes on
 * with hasher_update().
 *
 * Ownership: the owner keeps fd open until hasher_final() or hasher_free().
 * Thread-safety: one owner thread calls everything; the hasher's own thread
 * only reads fd.
 */

struct hasher;

enum core_rc hasher_new(struct hasher **out, struct core_err *err)
	__attribute__((warn_unused_result));

/* Hashes bytes inline (before hasher_follow() only). */
void hasher_update(struct hasher *h, const void *data, size_t len);

/* From now on a thread hashes fd from offset `from` (all bytes before it
 * were given to hasher_update). false: no thread; keep hashing inline. */
bool hasher_follow(struct hasher *h, int fd, uint64_t from);

/* Whether a thread follows the file. */
bool hasher_following(const struct hasher *h);

/* Bytes [0, size) of fd are written (after hasher_follow). */
void hasher_feed(struct hasher *h, uint64_t size);

/* The lowercase hex digest (65 bytes with the NUL) once every byte fed is
 * hashed. CORE_EIO if the thread could not read the file. */
enum core_rc hasher_final(struct hasher *h, char hex[65], struct core_err *err)
	__attribute__((warn_unused_result));

/* Stops the thread (if any) and frees. NULL is allowed. */
void hasher_free(struct hasher *h);

#endif
