/* SPDX-License-Identifier: MIT */
/* cache.h: TTL caches of the service's batches, their listing, and file metadata. */
#ifndef BATCHFS_CACHE_H
#define BATCHFS_CACHE_H

#include <stdint.h>

#include "api.h"
#include "model.h"

/*
 * DESIGN
 * ------
 * The filesystem asks this cache, never the API directly, for batches and
 * file metadata. One mutex guards the maps; it is never held during a
 * network call: a miss is fetched unlocked and stored afterwards, unless a
 * newer copy arrived meanwhile (each entry records when its fetch started).
 *
 * The batch listing is refreshed single-flight: while one thread pages
 * through GET /batches (100 per call), other callers wait for its result
 * instead of paging again, so `ls -l batches/` costs ceil(N/100) calls and
 * nothing per entry: every listed batch is also stored as a batch entry.
 * A batch not in the listing is fetched by id (lookups by id always work).
 * Terminal batches never go stale; others after batch_ttl_ms. Misses are
 * remembered for negative_ttl_ms.
 *
 * Ownership: every out-struct is a deep copy owned by the caller.
 * Thread-safety: all functions may be called from any thread.
 */
struct cache_config {
	long list_ttl_ms;     /* listing freshness; default 5000 */
	long batch_ttl_ms;    /* non-terminal batch freshness; default 5000 */
	long negative_ttl_ms; /* remembered 404s; default 2000 */
	long file_ttl_ms;     /* file metadata until processed; default 5000 */
};

void cache_config_defaults(struct cache_config *cfg);

/* The part of a batch a directory listing needs. */
struct batch_brief {
	char *id;
	int64_t created_at;
	enum batch_status status;
	char *name;	  /* metadata batchfs_name, or NULL */
	char *deployment; /* metadata batchfs_deployment, else the batch's model */
};

struct batch_briefs {
	struct batch_brief *items; /* newest first */
	size_t n;
};

void batch_briefs_release(struct batch_briefs *b);

struct file_brief {
	char *id;
	char *filename;
	char *purpose;
	int64_t bytes;
	int64_t created_at;
};

struct file_briefs {
	struct file_brief *items;
	size_t n;
};

void file_briefs_release(struct file_briefs *f);

struct cache_stats {
	uint64_t hits, misses, list_refreshes;
};

struct cache;

/* api is borrowed and must outlive the cache. */
enum core_rc cache_new(struct api_client *api, const struct cache_config *cfg,
		       struct cache **out, struct core_err *err)
	__attribute__((warn_unused_result));
void cache_free(struct cache *c);

enum core_rc cache_batch_get(struct cache *c, const char *id, struct batch *out,
			     struct core_err *err)
	__attribute__((warn_unused_result));

/* Like cache_batch_get, but ignores freshness (a refresh is fetched). */
enum core_rc cache_batch_refresh(struct cache *c, const char *id,
				 struct batch *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* Every batch of the resource, newest first. */
enum core_rc cache_batch_list(struct cache *c, struct batch_briefs *out,
			      struct core_err *err)
	__attribute__((warn_unused_result));

/* Stores a batch we just created or changed (and lists it at once). */
void cache_batch_put(struct cache *c, const struct batch *b);

enum core_rc cache_file_get(struct cache *c, const char *id,
			    struct api_file *out, struct core_err *err)
	__attribute__((warn_unused_result));

/* Every file of the resource (purpose filter NULL = all), newest first. */
enum core_rc cache_file_list(struct cache *c, struct file_briefs *out,
			     struct core_err *err)
	__attribute__((warn_unused_result));

/* Forgets a file (after a delete). */
void cache_file_forget(struct cache *c, const char *id);

void cache_stats(struct cache *c, struct cache_stats *out);

#endif
