/* SPDX-License-Identifier: MIT */
/* dlcache.c: bounded on-disk cache of immutable remote files, filled by background downloads that readers follow. */

/*
 * DESIGN
 * ------
 * State: one mutex (c->lock) guards everything below. Entries live in a
 * chained hash table keyed by the full key string (the "index") and, while
 * indexed, in an LRU list (most recent at the head). An entry that is not
 * indexed is only alive because a handle pins it or its download has not
 * ended; the last of those to let go deletes it.
 *
 * Life of an entry:
 *   dlcache_open (miss) -> QUEUED: reserved in bytes_cached, in the FIFO
 *   worker dequeues     -> RUNNING: creates the file, calls fetch unlocked;
 *                          progress() raises e->avail and wakes readers
 *   fetch ends          -> DONE (avail == size), or FAILED: dropped from the
 *                          index at once (so the next open retries), its
 *                          error kept for the handles that still pin it
 *   evicted / failed and unpinned and not downloading -> file closed,
 *                          unlinked, memory freed (outside the lock)
 *
 * The last byte is never released by progress() but only when the fetch has
 * returned CORE_OK and the file has exactly `size` bytes, so no reader sees
 * the end of a download that turns out short, long or failed.
 *
 * Readers: dlcache_read() waits on the entry's condition variable until
 * avail covers the range or the entry failed, copies e->fd, drops the lock
 * and pread()s. The handle's pin keeps the fd open while it copies. To
 * avoid waking every reader on every progress call, waiters record the
 * smallest end offset any of them needs (e->wake_at); progress broadcasts
 * only once avail reaches it (the end of a download always broadcasts).
 *
 * Workers: max_downloads threads started by dlcache_new() take entries from
 * a FIFO (redis bio.c shape). dlcache_free() fails the queued entries,
 * raises a flag that dlcache_fetch_cancelled() reports, and joins them.
 *
 * Files: named "dl-<16 hex of FNV-1a 64 of the key>-<hex counter>", created
 * with openat(O_CREAT|O_EXCL|O_NOFOLLOW, 0600) relative to the directory's
 * fd, so no byte of a key ever reaches a path. The key is kept in memory.
 *
 * Locking: the lock is never held across fetch, pread, close or unlink;
 * victims are collected under the lock and deleted after it is dropped.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlcache.h"
#include "log.h"

#define DLCACHE_MIN_BUCKETS 64
#define DLCACHE_NAME_PREFIX "dl-"

enum dl_state { DL_QUEUED, DL_RUNNING, DL_DONE, DL_FAILED };

struct dlentry {
	struct dlcache *c;
	char *key;		/* owned copy; never changes */
	uint64_t hash;
	uint64_t size;
	uint64_t avail;		/* bytes durable in fd; == size when DL_DONE */
	uint64_t wake_at;	/* smallest end a waiter needs (UINT64_MAX: none) */
	enum dl_state state;
	struct core_err err;	/* the failure, when DL_FAILED */
	int fd;			/* -1 until the worker created the file */
	bool has_file;		/* name exists in the directory */
	bool indexed;		/* in the hash table and LRU list */
	bool over_budget;	/* did not fit: evict at its last close */
	unsigned readers;	/* open handles */
	unsigned waiters;	/* readers blocked in dlcache_read() */
	atomic_bool cancel;	/* nobody needs this download any more */
	pthread_cond_t cond;	/* progress or end; waited on with c->lock */
	struct dlentry *hnext;	/* hash chain */
	struct dlentry *lru_prev, *lru_next;
	struct dlentry *qnext;	/* FIFO, then the victim list */
	char name[40];
};

struct dlcache_handle {
	struct dlcache *c;
	struct dlentry *e;	/* NULL for an empty file */
	uint64_t size;
};

struct dlcache {
	pthread_mutex_t lock;
	pthread_cond_t work_cond;	/* queue non-empty, or stopping */
	pthread_cond_t idle_cond;	/* queue empty and no fetch running */
	int dirfd;
	uint64_t max_bytes;
	dlcache_fetch_fn fetch;
	void *fetch_ctx;
	pthread_t *workers;
	int nworkers;
	bool stopping;
	atomic_bool stop_flag;		/* stopping, readable without the lock */
	struct dlentry **buckets;
	size_t nbuckets;		/* a power of two */
	struct dlentry *lru_head, *lru_tail;
	struct dlentry *q_head, *q_tail;
	int running;			/* entries taken by workers */
	uint64_t name_seq;
	struct dlcache_stats st;	/* bytes_cached, entries: indexed ones */
};

static uint64_t key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a 64 */

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static bool over_limit(const struct dlcache *c)
{
	return c->max_bytes && c->st.bytes_cached > c->max_bytes;
}

/* ---- LRU list and hash index; all with c->lock held ---- */

static void lru_unlink(struct dlcache *c, struct dlentry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct dlcache *c, struct dlentry *e)
{
	e->lru_prev = NULL;
	e->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = e;
	else
		c->lru_tail = e;
	c->lru_head = e;
}

static void lru_touch(struct dlcache *c, struct dlentry *e)
{
	if (!e->indexed || c->lru_head == e)
		return;
	lru_unlink(c, e);
	lru_push(c, e);
}

static struct dlentry *index_find(struct dlcache *c, const char *key,
				  uint64_t hash)
{
	struct dlentry *e;

	for (e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == hash && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Doubles the table when it is full; on ENOMEM the chains just get longer. */
static void index_grow(struct dlcache *c)
{
	struct dlentry **nb, *e, *next;
	size_t i, n = c->nbuckets * 2;

	if (c->st.entries < c->nbuckets || n < c->nbuckets)
		return;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < c->nbuckets; i++)
		for (e = c->buckets[i]; e; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
}

static void index_add(struct dlcache *c, struct dlentry *e)
{
	struct dlentry **b;

	index_grow(c);
	b = &c->buckets[e->hash & (c->nbuckets - 1)];
	e->hnext = *b;
	*b = e;
	lru_push(c, e);
	e->indexed = true;
	c->st.entries++;
	c->st.bytes_cached += e->size;
}

static void index_remove(struct dlcache *c, struct dlentry *e)
{
	struct dlentry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	assert(e->indexed);
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	e->hnext = NULL;
	lru_unlink(c, e);
	e->indexed = false;
	c->st.entries--;
	c->st.bytes_cached -= e->size;
}

/* ---- entries ---- */

static struct dlentry *entry_new(struct dlcache *c, const char *key,
				 uint64_t hash, uint64_t size)
{
	struct dlentry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->key = strdup(key);
	if (!e->key || pthread_cond_init(&e->cond, NULL) != 0) {
		free(e->key);
		free(e);
		return NULL;
	}
	e->c = c;
	e->hash = hash;
	e->size = size;
	e->wake_at = UINT64_MAX;
	e->state = DL_QUEUED;
	e->fd = -1;
	atomic_init(&e->cancel, false);
	snprintf(e->name, sizeof(e->name), DLCACHE_NAME_PREFIX "%016" PRIx64
		 "-%" PRIx64, hash, ++c->name_seq);
	return e;
}

/* Closes and deletes the entry's file and frees it. Called without the lock,
 * once nothing refers to the entry any more. */
static void entry_destroy(struct dlcache *c, struct dlentry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->has_file && unlinkat(c->dirfd, e->name, 0) != 0)
		log_warn("dlcache: cannot delete '%s': %s", e->name,
			 strerror(errno));
	pthread_cond_destroy(&e->cond);
	free(e->key);
	free(e);
}

static void destroy_list(struct dlcache *c, struct dlentry *list)
{
	struct dlentry *next;

	for (; list; list = next) {
		next = list->qnext;
		entry_destroy(c, list);
	}
}

/*
 * With the lock held: evicts least-recently-used complete, unpinned entries
 * until `need` more bytes fit under max_bytes, moving them onto *victims
 * (to be destroyed after unlocking). Returns whether it fits now.
 */
static bool make_room(struct dlcache *c, uint64_t need,
		      struct dlentry **victims)
{
	struct dlentry *e, *prev;

	if (!c->max_bytes)
		return true;
	for (e = c->lru_tail; e; e = prev) {
		if (need <= c->max_bytes &&
		    c->st.bytes_cached <= c->max_bytes - need)
			return true;
		prev = e->lru_prev;
		if (e->state != DL_DONE || e->readers)
			continue;
		index_remove(c, e);
		c->st.evictions++;
		e->qnext = *victims;
		*victims = e;
	}
	return need <= c->max_bytes &&
	       c->st.bytes_cached <= c->max_bytes - need;
}

/* ---- downloads ---- */

static void dl_progress(void *pctx, uint64_t n)
{
	struct dlentry *e = pctx;
	struct dlcache *c = e->c;

	pthread_mutex_lock(&c->lock);
	/* the last byte waits for dl_finish(): EOF only after the size check */
	if (n >= e->size)
		n = e->size - 1;
	if (n > e->avail) {
		e->avail = n;
		if (e->waiters && n >= e->wake_at) {
			e->wake_at = UINT64_MAX;
			pthread_cond_broadcast(&e->cond);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

bool dlcache_fetch_cancelled(void *pctx)
{
	struct dlentry *e = pctx;

	return atomic_load(&e->cancel) || atomic_load(&e->c->stop_flag);
}

/* Runs one download without the lock: creates the file, fetches, checks the
 * size. Returns the outcome in *err. */
static enum core_rc dl_run(struct dlcache *c, struct dlentry *e,
			   struct core_err *err)
{
	enum core_rc rc;
	struct stat st;
	int fd;

	if (dlcache_fetch_cancelled(e))
		return core_err_set(err, CORE_ECANCELLED,
				    "download of '%.80s' cancelled", e->key);
	fd = openat(c->dirfd, e->name,
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return core_err_set(err, CORE_EIO,
				    "cannot create cache file '%s': %s",
				    e->name, strerror(errno));
	/* Blocks allocated up front: the writes that follow skip ext4's
	 * delayed allocation (a third of a cold read's CPU without it). */
	if (e->size && fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)e->size) != 0)
		log_debug("dlcache: fallocate %s: %s", e->name, strerror(errno));
	pthread_mutex_lock(&c->lock);
	e->fd = fd;
	e->has_file = true;
	c->st.downloads++;
	pthread_mutex_unlock(&c->lock);

	log_debug("dlcache: downloading '%.80s' (%" PRIu64 " bytes) into %s",
		  e->key, e->size, e->name);
	rc = c->fetch(c->fetch_ctx, e->key, e->size, fd, dl_progress, e, err);
	if (rc != CORE_OK) {
		if (err->rc == CORE_OK)
			core_err_set(err, rc, "download of '%.80s' failed: %s",
				     e->key, core_rc_str(rc));
		err->rc = rc;
		return rc;
	}
	if (fstat(fd, &st) != 0)
		return core_err_set(err, CORE_EIO, "cannot stat '%s': %s",
				    e->name, strerror(errno));
	if ((uint64_t)st.st_size < e->size)
		return core_err_set(err, CORE_EIO,
				    "short download of '%.80s': expected %" PRIu64
				    " bytes, got %" PRIu64,
				    e->key, e->size, (uint64_t)st.st_size);
	if ((uint64_t)st.st_size > e->size)
		return core_err_set(err, CORE_EIO,
				    "download of '%.80s' is too long: expected %"
				    PRIu64 " bytes, got %" PRIu64,
				    e->key, e->size, (uint64_t)st.st_size);
	return CORE_OK;
}

/*
 * With the lock held: records the end of e's download and wakes its
 * readers. Returns whether the caller must destroy e after unlocking.
 */
static bool dl_finish(struct dlcache *c, struct dlentry *e, enum core_rc rc,
		      const struct core_err *err)
{
	if (rc == CORE_OK) {
		e->state = DL_DONE;
		e->avail = e->size;
	} else {
		e->state = DL_FAILED;
		e->err = *err;
		c->st.failures++;
		if (e->indexed)
			index_remove(c, e);
	}
	e->wake_at = UINT64_MAX;
	pthread_cond_broadcast(&e->cond);
	if (e->readers)
		return false;
	if (!e->indexed)
		return true;
	if (e->over_budget) {
		if (!over_limit(c)) {
			e->over_budget = false;
			return false;
		}
		index_remove(c, e);
		c->st.evictions++;
		return true;
	}
	return false;
}

static void *dl_worker(void *arg)
{
	struct dlcache *c = arg;
	struct dlentry *e;
	enum core_rc rc;
	bool destroy;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct core_err err = CORE_ERR_INIT;

		while (!c->q_head && !c->stopping)
			pthread_cond_wait(&c->work_cond, &c->lock);
		if (c->stopping)
			break;
		e = c->q_head;
		c->q_head = e->qnext;
		if (!c->q_head)
			c->q_tail = NULL;
		e->qnext = NULL;
		e->state = DL_RUNNING;
		c->running++;
		pthread_mutex_unlock(&c->lock);

		rc = dl_run(c, e, &err);
		if (rc)
			log_info("dlcache: %s", err.msg);

		pthread_mutex_lock(&c->lock);
		destroy = dl_finish(c, e, rc, &err);
		if (destroy) {
			pthread_mutex_unlock(&c->lock);
			entry_destroy(c, e);
			pthread_mutex_lock(&c->lock);
		}
		/* only now: an idle cache has deleted what it dropped */
		c->running--;
		if (!c->q_head && !c->running)
			pthread_cond_broadcast(&c->idle_cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- the cache ---- */

/* Whether name is one of ours: "dl-" 16 hex "-" 1..16 hex. */
static bool is_cache_name(const char *name)
{
	size_t i, n;

	if (strncmp(name, DLCACHE_NAME_PREFIX, 3) != 0)
		return false;
	name += 3;
	for (i = 0; i < 16; i++)
		if (!name[i] || !strchr("0123456789abcdef", name[i]))
			return false;
	if (name[16] != '-')
		return false;
	name += 17;
	n = strspn(name, "0123456789abcdef");
	return n >= 1 && n <= 16 && name[n] == '\0';
}

/* Deletes the files an earlier run left; leaves anything else alone. */
static enum core_rc wipe_dir(int dirfd, const char *dir, struct core_err *err)
{
	struct dirent *de;
	unsigned others = 0;
	DIR *d;
	int fd;

	fd = dup(dirfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return core_err_set(err, CORE_EIO, "cannot list '%s': %s", dir,
				    strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (!is_cache_name(de->d_name))
			others++;
		else if (unlinkat(dirfd, de->d_name, 0) != 0)
			log_warn("dlcache: cannot delete '%s/%s': %s", dir,
				 de->d_name, strerror(errno));
	}
	closedir(d);
	if (others)
		log_warn("dlcache: '%s' holds %u entries that are not cache "
			 "files; left alone", dir, others);
	return CORE_OK;
}

static enum core_rc open_dir(const char *dir, int *out, struct core_err *err)
{
	struct stat st;
	int fd;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return core_err_set(err, CORE_EIO,
				    "cannot create cache directory '%s': %s",
				    dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return core_err_set(err, CORE_EIO,
				    "cannot open cache directory '%s': %s",
				    dir, strerror(errno));
	if (fstat(fd, &st) != 0 ||
	    ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) != 0)) {
		core_err_set(err, CORE_EIO,
			     "cannot make cache directory '%s' private: %s",
			     dir, strerror(errno));
		close(fd);
		return CORE_EIO;
	}
	*out = fd;
	return CORE_OK;
}

enum core_rc dlcache_new(const struct dlcache_config *cfg,
			 dlcache_fetch_fn fetch, void *fetch_ctx,
			 struct dlcache **out, struct core_err *err)
{
	struct dlcache *c;
	enum core_rc rc;
	int i, n;

	assert(out);
	*out = NULL;
	if (!cfg || !cfg->dir || !*cfg->dir || !fetch ||
	    cfg->max_downloads < 0 ||
	    cfg->max_downloads > DLCACHE_MAX_DOWNLOADS)
		return core_err_set(err, CORE_EINVAL,
				    "invalid download cache configuration");
	n = cfg->max_downloads ? cfg->max_downloads : DLCACHE_DEFAULT_DOWNLOADS;
	c = calloc(1, sizeof(*c));
	if (!c)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	c->dirfd = -1;
	c->max_bytes = cfg->max_bytes;
	c->fetch = fetch;
	c->fetch_ctx = fetch_ctx;
	atomic_init(&c->stop_flag, false);
	c->nbuckets = DLCACHE_MIN_BUCKETS;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	c->workers = calloc((size_t)n, sizeof(*c->workers));
	if (!c->buckets || !c->workers) {
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto out_free;
	}
	rc = open_dir(cfg->dir, &c->dirfd, err);
	if (rc)
		goto out_free;
	rc = wipe_dir(c->dirfd, cfg->dir, err);
	if (rc)
		goto out_free;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		rc = core_err_set(err, CORE_ENOMEM, "cannot create a mutex");
		goto out_free;
	}
	if (pthread_cond_init(&c->work_cond, NULL) != 0) {
		rc = core_err_set(err, CORE_ENOMEM,
				  "cannot create a condition");
		goto out_mutex;
	}
	if (pthread_cond_init(&c->idle_cond, NULL) != 0) {
		rc = core_err_set(err, CORE_ENOMEM,
				  "cannot create a condition");
		goto out_work;
	}
	for (i = 0; i < n; i++) {
		if (pthread_create(&c->workers[i], NULL, dl_worker, c) != 0) {
			/* dlcache_free() stops and joins the ones started */
			dlcache_free(c);
			return core_err_set(err, CORE_ENOMEM,
					    "cannot start download threads");
		}
		c->nworkers++;
	}
	*out = c;
	return CORE_OK;

out_work:
	pthread_cond_destroy(&c->work_cond);
out_mutex:
	pthread_mutex_destroy(&c->lock);
out_free:
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c->workers);
	free(c->buckets);
	free(c);
	return rc;
}

void dlcache_free(struct dlcache *c)
{
	struct dlentry *e, *victims = NULL;
	int i;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	atomic_store(&c->stop_flag, true);
	while ((e = c->q_head) != NULL) {
		c->q_head = e->qnext;
		e->qnext = NULL;
		e->state = DL_FAILED;
		core_err_set(&e->err, CORE_ECANCELLED,
			     "download of '%.80s' cancelled: cache stopping",
			     e->key);
		pthread_cond_broadcast(&e->cond);
		if (!e->indexed && !e->readers) {
			e->qnext = victims;
			victims = e;
		}
	}
	c->q_tail = NULL;
	pthread_cond_broadcast(&c->work_cond);
	pthread_cond_broadcast(&c->idle_cond);
	pthread_mutex_unlock(&c->lock);

	for (i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i], NULL);

	/* No thread is left; handles must have been closed. */
	while ((e = c->lru_head) != NULL) {
		assert(e->readers == 0);
		index_remove(c, e);
		e->qnext = victims;
		victims = e;
	}
	destroy_list(c, victims);
	pthread_cond_destroy(&c->idle_cond);
	pthread_cond_destroy(&c->work_cond);
	pthread_mutex_destroy(&c->lock);
	close(c->dirfd);
	free(c->workers);
	free(c->buckets);
	free(c);
}

/* With the lock held: forgets e (the key's size changed); its handles keep
 * it alive; a download nobody reads is told to stop. */
static void drop_entry(struct dlcache *c, struct dlentry *e,
		       struct dlentry **victims)
{
	index_remove(c, e);
	if (e->readers)
		return;
	if (e->state == DL_DONE) {
		e->qnext = *victims;
		*victims = e;
	} else {
		atomic_store(&e->cancel, true);
	}
}

enum core_rc dlcache_open(struct dlcache *c, const char *key, uint64_t size,
			  struct dlcache_handle **out, struct core_err *err)
{
	struct dlentry *e, *victims = NULL;
	struct dlcache_handle *h;
	uint64_t hash, old_size = 0;
	bool resized = false, over = false;

	assert(c && key && out);
	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	h->c = c;
	h->size = size;
	if (size == 0) {
		*out = h;
		return CORE_OK;
	}
	hash = key_hash(key);

	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		free(h);
		return core_err_set(err, CORE_ECANCELLED,
				    "download cache is stopping");
	}
	e = index_find(c, key, hash);
	if (e && e->size != size) {
		resized = true;
		old_size = e->size;
		drop_entry(c, e, &victims);
		e = NULL;
	}
	if (e) {
		c->st.hits++;
		lru_touch(c, e);
	} else {
		e = entry_new(c, key, hash, size);
		if (!e) {
			pthread_mutex_unlock(&c->lock);
			destroy_list(c, victims);
			free(h);
			return core_err_set(err, CORE_ENOMEM, "out of memory");
		}
		e->over_budget = over = !make_room(c, size, &victims);
		index_add(c, e);
		if (c->q_tail)
			c->q_tail->qnext = e;
		else
			c->q_head = e;
		c->q_tail = e;
		c->st.misses++;
		pthread_cond_signal(&c->work_cond);
	}
	e->readers++;
	h->e = e;
	pthread_mutex_unlock(&c->lock);

	destroy_list(c, victims);
	if (resized)
		log_warn("dlcache: '%.80s' was cached with %" PRIu64
			 " bytes, now %" PRIu64 "; downloading it again",
			 key, old_size, size);
	if (over)
		log_debug("dlcache: '%.80s' (%" PRIu64 " bytes) does not fit; "
			  "evicted at its last close", key, size);
	*out = h;
	return CORE_OK;
}

enum core_rc dlcache_read(struct dlcache_handle *h, char *buf, size_t len,
			  uint64_t off, size_t *got, struct core_err *err)
{
	struct dlentry *e;
	struct dlcache *c;
	uint64_t end;
	size_t want, done = 0;
	ssize_t n;
	int fd;

	assert(h && got && (buf || !len));
	*got = 0;
	if (off >= h->size || len == 0)
		return CORE_OK;
	want = len;
	if (want > h->size - off)
		want = (size_t)(h->size - off);
	end = off + want;
	e = h->e;
	c = h->c;

	pthread_mutex_lock(&c->lock);
	while (e->state != DL_FAILED && e->avail < end) {
		if (end < e->wake_at)
			e->wake_at = end;
		e->waiters++;
		pthread_cond_wait(&e->cond, &c->lock);
		e->waiters--;
	}
	if (e->state == DL_FAILED) {
		enum core_rc rc = e->err.rc;

		if (err)
			*err = e->err;
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	fd = e->fd;
	pthread_mutex_unlock(&c->lock);

	while (done < want) {
		n = pread(fd, buf + done, want - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return core_err_set(err, CORE_EIO,
					    "cannot read cache file '%s': %s",
					    e->name, strerror(errno));
		if (n == 0)
			return core_err_set(err, CORE_EIO,
					    "cache file '%s' ends at %" PRIu64
					    ", before the %" PRIu64
					    " bytes reported",
					    e->name, off + done, end);
		done += (size_t)n;
	}
	*got = want;
	return CORE_OK;
}

void dlcache_close(struct dlcache_handle *h)
{
	struct dlentry *e;
	struct dlcache *c;
	bool destroy = false;

	if (!h)
		return;
	e = h->e;
	c = h->c;
	free(h);
	if (!e)
		return;

	pthread_mutex_lock(&c->lock);
	assert(e->readers > 0);
	if (--e->readers == 0) {
		bool downloading =
			e->state == DL_QUEUED || e->state == DL_RUNNING;

		if (!e->indexed) {
			if (downloading)
				atomic_store(&e->cancel, true);
			else
				destroy = true;
		} else if (e->over_budget) {
			if (!over_limit(c)) {
				e->over_budget = false;
			} else {
				index_remove(c, e);
				c->st.evictions++;
				if (downloading)
					atomic_store(&e->cancel, true);
				else
					destroy = true;
			}
		}
	}
	lru_touch(c, e);
	pthread_mutex_unlock(&c->lock);
	if (destroy)
		entry_destroy(c, e);
}

uint64_t dlcache_size(const struct dlcache_handle *h)
{
	return h->size;
}

void dlcache_wait_idle(struct dlcache *c)
{
	pthread_mutex_lock(&c->lock);
	while ((c->q_head || c->running) && !c->stopping)
		pthread_cond_wait(&c->idle_cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

void dlcache_stats(struct dlcache *c, struct dlcache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	pthread_mutex_unlock(&c->lock);
}
