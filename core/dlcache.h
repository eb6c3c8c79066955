/* SPDX-License-Identifier: MIT */
/* dlcache.h: bounded on-disk cache of immutable remote files, filled by background downloads that readers follow. */
#ifndef BATCHFS_DLCACHE_H
#define BATCHFS_DLCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * A dlcache maps a key (a remote file id) of known, exact size to a local
 * file in a private directory. dlcache_open() pins the entry and, on a miss,
 * queues its download; a pool of worker threads runs the caller's fetch
 * function, which writes the bytes in order and reports progress; readers
 * block in dlcache_read() only until the bytes they asked for have arrived,
 * so the first bytes are served long before the download ends. The content
 * is never held in memory: reads pread() the entry's file.
 *
 * Ownership: the cache keeps no pointer into cfg and copies every key. In
 * memory it holds only a small struct and the key per entry; the content is
 * only on disk.
 * A struct dlcache_handle belongs to whoever opened it and must be closed
 * with dlcache_close() exactly once, before dlcache_free().
 *
 * Thread-safety: every function may be called from any thread at once,
 * except dlcache_new() and dlcache_free(), which must not race with other
 * calls on the same cache. One mutex guards the cache; it is never held
 * while a fetch runs, while a reader copies bytes, or while files are
 * closed or unlinked. The fetch function runs on one of the cache's worker
 * threads without that lock; the progress callback takes it briefly.
 *
 * Size bound: max_bytes bounds the sum of the sizes of the entries in the
 * cache (complete and downloading; space is reserved when a download is
 * queued). Before a new entry is added, least-recently-used complete
 * entries that no handle pins are evicted until it fits. If it still does
 * not fit (the others are pinned or downloading, or the entry alone is
 * larger than max_bytes; every evictable entry has then been evicted, to
 * overshoot the budget as little as possible), it is downloaded anyway so
 * that reads work, and marked "over budget": when its last handle closes it
 * is evicted unless the cache has meanwhile got back under max_bytes.
 * While such an entry has no handle and is still downloading, its fetch is
 * asked to stop (see dlcache_fetch_cancelled()). So bytes_cached can exceed
 * max_bytes only by entries that are pinned or still downloading.
 */

struct dlcache_config {
	const char *dir;	/* private directory (0700) */
	uint64_t max_bytes;	/* total size of cached content; 0: unlimited */
	int max_downloads;	/* concurrent downloads; 0: 16; at most 64 */
};

#define DLCACHE_DEFAULT_DOWNLOADS 16
#define DLCACHE_MAX_DOWNLOADS 64

/*
 * Downloads the file `key` into fd (a fresh, empty regular file opened
 * O_RDWR) starting at offset 0. It calls progress(pctx, n) as the first n
 * bytes become durable in fd (monotonic, may be called often; bytes once
 * reported must never be rewritten or truncated), and returns CORE_OK when
 * all bytes are there. The cache then checks that fd holds exactly `size`
 * bytes (else CORE_EIO, "short download ..."); readers get the last byte
 * only after that check, so a bad download is never served as complete.
 * Runs on a worker thread; may block on the network. It may poll
 * dlcache_fetch_cancelled(pctx) and return CORE_ECANCELLED when that turns
 * true. On failure it fills err (when it leaves err->rc at CORE_OK the
 * cache writes a generic message).
 */
typedef enum core_rc (*dlcache_fetch_fn)(void *ctx, const char *key,
					 uint64_t size, int fd,
					 void (*progress)(void *pctx, uint64_t n),
					 void *pctx, struct core_err *err);

struct dlcache;
struct dlcache_handle;

/*
 * Creates the cache and starts its max_downloads worker threads. cfg->dir is
 * created with mode 0700 if missing (its parent must exist), set to 0700 if
 * it exists, and must not be a symlink. Files left in it by an earlier run
 * (names "dl-<hex>-<hex>") are deleted; other files are left alone and
 * logged, so that a mistyped dir such as $HOME loses nothing.
 * Errors: CORE_EINVAL (bad config), CORE_EIO (the directory), CORE_ENOMEM.
 */
enum core_rc dlcache_new(const struct dlcache_config *cfg,
			 dlcache_fetch_fn fetch, void *fetch_ctx,
			 struct dlcache **out, struct core_err *err)
	__attribute__((warn_unused_result));

/*
 * Stops the cache: queued downloads are dropped, running fetches are asked
 * to stop (dlcache_fetch_cancelled()) and waited for, then every cached file
 * is deleted and all memory freed. All handles must be closed first.
 * NULL is allowed.
 */
void dlcache_free(struct dlcache *c);

/*
 * Pins the entry for key (size = its exact byte count), starting its
 * download if it is not cached or downloading. Never blocks on the network
 * (it takes the cache lock and may delete evicted files). A file of size 0
 * is not cached and needs no download (reads give EOF). If the key is
 * cached with a different size the old entry is dropped from the cache (its
 * handles keep working) and a new one is downloaded. *out must be closed
 * with dlcache_close().
 * Errors: CORE_ENOMEM, CORE_ECANCELLED (the cache is being freed).
 */
enum core_rc dlcache_open(struct dlcache *c, const char *key, uint64_t size,
			  struct dlcache_handle **out, struct core_err *err)
	__attribute__((warn_unused_result));

/*
 * Copies bytes [off, off+len) into buf, waiting until they have arrived.
 * *got is len, or less only at end of file (off+len > size); 0 at or past
 * EOF. If the download failed, returns its error (and the entry is dropped
 * so that the next dlcache_open starts again); reads of that handle keep
 * failing. CORE_EIO when the local file cannot be read. The wait has no
 * timeout of its own: the fetch must end (a stalled transfer must fail).
 */
enum core_rc dlcache_read(struct dlcache_handle *h, char *buf, size_t len,
			  uint64_t off, size_t *got, struct core_err *err)
	__attribute__((warn_unused_result));

/* Unpins the entry and frees the handle. NULL is allowed. */
void dlcache_close(struct dlcache_handle *h);

/* The exact size of the handle's file, as given to dlcache_open(). */
uint64_t dlcache_size(const struct dlcache_handle *h);

/*
 * For the fetch function: true once the cache wants the download with this
 * pctx to stop (dlcache_free(), or an over-budget entry nobody reads any
 * more). Lock-free; suitable for an http cancel hook.
 */
bool dlcache_fetch_cancelled(void *pctx);

/*
 * Waits until no download is queued or running. Opens that happen during
 * the wait may extend it. For tests and orderly shutdown.
 */
void dlcache_wait_idle(struct dlcache *c);

/*
 * Counters (since dlcache_new) and current totals:
 * hits: opens served by an entry already cached or downloading;
 * misses: opens that queued a download; downloads: fetches started;
 * failures: downloads that ended in an error (cancellations and short
 * downloads included); evictions: entries dropped to make room or at the
 * last close of an over-budget entry; bytes_cached: sum of the sizes of the
 * entries in the cache (downloading ones included); entries: their count.
 */
struct dlcache_stats {
	uint64_t hits, misses, downloads, failures, evictions, bytes_cached,
		entries;
};

void dlcache_stats(struct dlcache *c, struct dlcache_stats *out);

#endif
