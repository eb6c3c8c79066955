/* SPDX-License-Identifier: MIT */
/* strmap.h: a string-keyed hash map of pointers (chained, growing). */
#ifndef BATCHFS_STRMAP_H
#define BATCHFS_STRMAP_H

#include <stddef.h>

#include "err.h"

/*
 * Ownership: the map copies keys; values are the caller's (strmap_free()
 * calls free_value on each, if given). Thread-safety: none; callers lock.
 */
struct strmap;

struct strmap *strmap_new(void (*free_value)(void *));
void strmap_free(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces (freeing the old value). CORE_ENOMEM on failure
 * (the value is then not owned by the map). */
enum core_rc strmap_put(struct strmap *m, const char *key, void *value)
	__attribute__((warn_unused_result));
/* Removes and returns the value (not freed), or NULL. */
void *strmap_take(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);
/* Calls fn for every entry, in no particular order; fn must not modify m. */
void strmap_each(const struct strmap *m,
		 void (*fn)(const char *key, void *value, void *ctx), void *ctx);

#endif
