/* SPDX-License-Identifier: MIT */
/* cache.c: TTL caches of batches, the batch listing and file metadata, without locks across I/O. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "log.h"
#include "strmap.h"

#define LIST_PAGE 100
#define LIST_MAX_PAGES 100000 /* a server that never stops paging */

struct bentry {
	struct batch b;
	bool present;	    /* false: a remembered 404 */
	int64_t fetched_ms; /* when the fetch that produced it started */
};

struct fentry {
	struct api_file f;
	bool present;
	int64_t fetched_ms;
};

/* A listing refreshed single-flight. */
struct listing {
	char **ids;
	size_t n;
	int64_t fetched_ms;
	bool valid;
	bool refreshing;
	uint64_t gen;	     /* bumped when a refresh ends */
	enum core_rc last_rc; /* outcome of the last refresh */
	struct core_err last_err;
};

struct cache {
	struct api_client *api;
	struct cache_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t list_cv;
	struct strmap *batches; /* id -> struct bentry */
	struct strmap *files;	/* id -> struct fentry */
	struct listing blist, flist;
	_Atomic uint64_t hits, misses, refreshes;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cache_config_defaults(struct cache_config *cfg)
{
	cfg->list_ttl_ms = 5000;
	cfg->batch_ttl_ms = 5000;
	cfg->negative_ttl_ms = 2000;
	cfg->file_ttl_ms = 5000;
}

static void bentry_free(void *p)
{
	struct bentry *e = p;

	batch_release(&e->b);
	free(e);
}

static void fentry_free(void *p)
{
	struct fentry *e = p;

	api_file_release(&e->f);
	free(e);
}

static void ids_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

enum core_rc cache_new(struct api_client *api, const struct cache_config *cfg,
		       struct cache **out, struct core_err *err)
{
	struct cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	c->api = api;
	c->cfg = *cfg;
	c->batches = strmap_new(bentry_free);
	c->files = strmap_new(fentry_free);
	if (!c->batches || !c->files) {
		strmap_free(c->batches);
		strmap_free(c->files);
		free(c);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->list_cv, NULL);
	*out = c;
	return CORE_OK;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	strmap_free(c->batches);
	strmap_free(c->files);
	ids_free(c->blist.ids, c->blist.n);
	ids_free(c->flist.ids, c->flist.n);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->list_cv);
	free(c);
}

void cache_stats(struct cache *c, struct cache_stats *out)
{
	out->hits = atomic_load(&c->hits);
	out->misses = atomic_load(&c->misses);
	out->list_refreshes = atomic_load(&c->refreshes);
}

/* ---- batches ---------------------------------------------------------- */

/* Stores b (copied) unless a newer fetch already stored one. Caller locks. */
static void batch_store_locked(struct cache *c, const struct batch *b,
			       int64_t fetched_ms)
{
	struct bentry *e = strmap_get(c->batches, b->id);

	if (e && e->present && e->fetched_ms > fetched_ms)
		return;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		if (strmap_put(c->batches, b->id, e)) {
			free(e);
			return;
		}
	} else {
		batch_release(&e->b);
	}
	if (batch_copy(&e->b, b)) {
		bentry_free(strmap_take(c->batches, b->id));
		return;
	}
	e->present = true;
	e->fetched_ms = fetched_ms;
}

static bool batch_fresh(const struct cache *c, const struct bentry *e,
			int64_t now)
{
	if (!e->present)
		return now - e->fetched_ms < c->cfg.negative_ttl_ms;
	return batch_status_is_terminal(e->b.status) ||
	       now - e->fetched_ms < c->cfg.batch_ttl_ms;
}

static enum core_rc batch_get(struct cache *c, const char *id, bool force,
			      struct batch *out, struct core_err *err)
{
	struct bentry *e;
	struct batch fetched;
	int64_t start;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	e = strmap_get(c->batches, id);
	if (!force && e && batch_fresh(c, e, now_ms())) {
		atomic_fetch_add(&c->hits, 1);
		rc = e->present ? batch_copy(out, &e->b) : CORE_ENOTFOUND;
		pthread_mutex_unlock(&c->lock);
		if (rc == CORE_ENOTFOUND)
			return core_err_set(err, rc, "no batch '%.80s'", id);
		return rc ? core_err_set(err, rc, "out of memory") : CORE_OK;
	}
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add(&c->misses, 1);

	start = now_ms();
	rc = api_batch_get(c->api, id, &fetched, err);
	pthread_mutex_lock(&c->lock);
	if (rc == CORE_OK) {
		batch_store_locked(c, &fetched, start);
	} else if (rc == CORE_ENOTFOUND) {
		e = strmap_get(c->batches, id);
		if (!e && (e = calloc(1, sizeof(*e))) && strmap_put(c->batches, id, e)) {
			free(e);
			e = NULL;
		}
		if (e && e->fetched_ms <= start) {
			batch_release(&e->b);
			e->present = false;
			e->fetched_ms = start;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (rc == CORE_OK) {
		*out = fetched;
		if (strcmp(fetched.id, id) != 0) {
			/* A server answering with another object than asked. */
			batch_release(out);
			return core_err_set(err, CORE_EPARSE,
					    "asked for batch '%.80s', got another id", id);
		}
	}
	return rc;
}

enum core_rc cache_batch_get(struct cache *c, const char *id, struct batch *out,
			     struct core_err *err)
{
	return batch_get(c, id, false, out, err);
}

enum core_rc cache_batch_refresh(struct cache *c, const char *id,
				 struct batch *out, struct core_err *err)
{
	return batch_get(c, id, true, out, err);
}

void cache_batch_put(struct cache *c, const struct batch *b)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	batch_store_locked(c, b, now_ms());
	if (c->blist.valid) {
		for (i = 0; i < c->blist.n; i++)
			if (!strcmp(c->blist.ids[i], b->id))
				break;
		if (i == c->blist.n) {
			char **n = realloc(c->blist.ids,
					   (c->blist.n + 1) * sizeof(*n));
			char *id = strdup(b->id);

			if (n)
				c->blist.ids = n;
			if (n && id) {
				memmove(n + 1, n, c->blist.n * sizeof(*n));
				n[0] = id;
				c->blist.n++;
			} else {
				free(id);
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/* Appends id to a growing, de-duplicated id array. */
static enum core_rc ids_add(char ***ids, size_t *n, size_t *cap,
			    struct strmap *seen, const char *id)
{
	char *copy;

	if (strmap_get(seen, id))
		return CORE_OK;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		char **g = realloc(*ids, nc * sizeof(*g));

		if (!g)
			return CORE_ENOMEM;
		*ids = g;
		*cap = nc;
	}
	copy = strdup(id);
	if (!copy)
		return CORE_ENOMEM;
	if (strmap_put(seen, id, copy)) {
		free(copy);
		return CORE_ENOMEM;
	}
	(*ids)[(*n)++] = copy;
	return CORE_OK;
}

/* Collects the ids of one page into the growing, de-duplicated list. */
struct id_list {
	char **ids;
	size_t n, cap;
	struct strmap *seen;
};

/*
 * One page of a listing: fetches it (after = cursor or NULL), stores its
 * objects, adds their ids to l, and sets *next to the next cursor (heap) or
 * NULL when the listing is done.
 */
typedef enum core_rc (*page_fn)(struct cache *c, int64_t start, const char *after,
				struct id_list *l, char **next,
				struct core_err *err);

static enum core_rc batch_page_fn(struct cache *c, int64_t start,
				  const char *after, struct id_list *l,
				  char **next, struct core_err *err)
{
	struct batch_page p;
	enum core_rc rc;
	size_t i;

	*next = NULL;
	rc = api_batch_list(c->api, after, LIST_PAGE, &p, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < p.n; i++)
		batch_store_locked(c, &p.items[i], start);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < p.n && !rc; i++)
		rc = ids_add(&l->ids, &l->n, &l->cap, l->seen, p.items[i].id);
	if (!rc && p.has_more && p.n && p.last_id &&
	    !(*next = strdup(p.last_id)))
		rc = CORE_ENOMEM;
	batch_page_release(&p);
	return rc;
}

static enum core_rc file_page_fn(struct cache *c, int64_t start,
				 const char *after, struct id_list *l,
				 char **next, struct core_err *err)
{
	struct file_page p;
	enum core_rc rc;
	size_t i;

	*next = NULL;
	rc = api_file_list(c->api, NULL, after, 0, &p, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < p.n; i++) {
		struct fentry *e = strmap_get(c->files, p.items[i].id);

		if (e && e->fetched_ms > start)
			continue;
		if (!e && (e = calloc(1, sizeof(*e))) &&
		    strmap_put(c->files, p.items[i].id, e)) {
			free(e);
			e = NULL;
		}
		if (!e)
			continue;
		api_file_release(&e->f);
		e->present = api_file_copy(&e->f, &p.items[i]) == CORE_OK;
		e->fetched_ms = start;
	}
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < p.n && !rc; i++)
		rc = ids_add(&l->ids, &l->n, &l->cap, l->seen, p.items[i].id);
	if (!rc && p.has_more && p.n && p.last_id &&
	    !(*next = strdup(p.last_id)))
		rc = CORE_ENOMEM;
	file_page_release(&p);
	return rc;
}

/* Walks every page; stops when done or when the cursor does not move. */
static enum core_rc fetch_ids(struct cache *c, page_fn page, int64_t start,
			      char ***ids, size_t *n, struct core_err *err)
{
	struct id_list l = { NULL, 0, 0, strmap_new(NULL) };
	char *after = NULL, *next = NULL;
	enum core_rc rc = CORE_OK;
	int pages;

	*ids = NULL;
	*n = 0;
	if (!l.seen)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	for (pages = 0; pages < LIST_MAX_PAGES; pages++) {
		rc = page(c, start, after, &l, &next, err);
		if (rc || !next || (after && !strcmp(after, next)))
			break;
		free(after);
		after = next;
		next = NULL;
	}
	free(after);
	free(next);
	strmap_free(l.seen); /* its values are the ids array's strings */
	if (rc == CORE_ENOMEM)
		core_err_set(err, rc, "out of memory while listing");
	if (rc) {
		ids_free(l.ids, l.n);
		return rc;
	}
	*ids = l.ids;
	*n = l.n;
	return CORE_OK;
}

static enum core_rc fetch_batch_ids(struct cache *c, int64_t start, char ***ids,
				    size_t *n, struct core_err *err)
{
	return fetch_ids(c, batch_page_fn, start, ids, n, err);
}

static enum core_rc fetch_file_ids(struct cache *c, int64_t start, char ***ids,
				   size_t *n, struct core_err *err)
{
	return fetch_ids(c, file_page_fn, start, ids, n, err);
}

/*
 * Makes L fresh (refreshing it single-flight) and returns with c->lock held
 * and CORE_OK, or unlocked with the refresh's error.
 */
static enum core_rc listing_fresh_locked(
	struct cache *c, struct listing *L,
	enum core_rc (*fetch)(struct cache *, int64_t, char ***, size_t *,
			      struct core_err *),
	struct core_err *err)
{
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (L->valid && now_ms() - L->fetched_ms < c->cfg.list_ttl_ms) {
			atomic_fetch_add(&c->hits, 1);
			return CORE_OK;
		}
		if (!L->refreshing) {
			struct core_err ferr = CORE_ERR_INIT;
			int64_t start = now_ms();
			char **ids;
			size_t n;
			enum core_rc rc;

			L->refreshing = true;
			pthread_mutex_unlock(&c->lock);
			atomic_fetch_add(&c->refreshes, 1);
			rc = fetch(c, start, &ids, &n, &ferr);
			pthread_mutex_lock(&c->lock);
			L->refreshing = false;
			L->gen++;
			L->last_rc = rc;
			L->last_err = ferr;
			if (!rc) {
				ids_free(L->ids, L->n);
				L->ids = ids;
				L->n = n;
				L->fetched_ms = start;
				L->valid = true;
			}
			pthread_cond_broadcast(&c->list_cv);
			if (rc) {
				pthread_mutex_unlock(&c->lock);
				if (err)
					*err = ferr;
				return rc;
			}
			return CORE_OK;
		} else {
			uint64_t gen = L->gen;

			while (L->gen == gen)
				pthread_cond_wait(&c->list_cv, &c->lock);
			if (L->last_rc) {
				enum core_rc rc = L->last_rc;

				if (err)
					*err = L->last_err;
				pthread_mutex_unlock(&c->lock);
				return rc;
			}
			/* The refresh we waited for is fresh: loop to use it. */
		}
	}
}

void batch_briefs_release(struct batch_briefs *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->items[i].id);
		free(b->items[i].name);
		free(b->items[i].deployment);
	}
	free(b->items);
	memset(b, 0, sizeof(*b));
}

static char *dup_opt(const char *s, bool *ok)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*ok = false;
	return d;
}

enum core_rc cache_batch_list(struct cache *c, struct batch_briefs *out,
			      struct core_err *err)
{
	enum core_rc rc;
	bool ok = true;
	size_t i;

	memset(out, 0, sizeof(*out));
	rc = listing_fresh_locked(c, &c->blist, fetch_batch_ids, err);
	if (rc)
		return rc;
	out->items = c->blist.n ? calloc(c->blist.n, sizeof(*out->items)) : NULL;
	if (c->blist.n && !out->items)
		ok = false;
	for (i = 0; ok && i < c->blist.n; i++) {
		const struct bentry *e = strmap_get(c->batches, c->blist.ids[i]);
		struct batch_brief *d = &out->items[out->n];
		const char *dep;

		if (!e || !e->present)
			continue; /* vanished (404 since): not listed */
		dep = batch_metadata_get(&e->b, "batchfs_deployment");
		d->id = dup_opt(e->b.id, &ok);
		d->name = dup_opt(batch_metadata_get(&e->b, "batchfs_name"), &ok);
		d->deployment = dup_opt(dep ? dep : e->b.model, &ok);
		d->created_at = e->b.created_at;
		d->status = e->b.status;
		out->n++;
	}
	pthread_mutex_unlock(&c->lock);
	if (!ok) {
		batch_briefs_release(out);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	return CORE_OK;
}

/* ---- files ------------------------------------------------------------ */

static bool file_final(const struct api_file *f)
{
	return f->status != FILE_STATUS_PENDING && f->status != FILE_STATUS_RUNNING &&
	       f->status != FILE_STATUS_UPLOADED;
}

enum core_rc cache_file_get(struct cache *c, const char *id,
			    struct api_file *out, struct core_err *err)
{
	struct fentry *e;
	struct api_file fetched;
	int64_t start, now = now_ms();
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	e = strmap_get(c->files, id);
	if (e && ((e->present && (file_final(&e->f) ||
				  now - e->fetched_ms < c->cfg.file_ttl_ms)) ||
		  (!e->present && now - e->fetched_ms < c->cfg.negative_ttl_ms))) {
		atomic_fetch_add(&c->hits, 1);
		rc = e->present ? api_file_copy(out, &e->f) : CORE_ENOTFOUND;
		pthread_mutex_unlock(&c->lock);
		if (rc == CORE_ENOTFOUND)
			return core_err_set(err, rc, "no file '%.80s'", id);
		return rc ? core_err_set(err, rc, "out of memory") : CORE_OK;
	}
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add(&c->misses, 1);
	start = now_ms();
	rc = api_file_get(c->api, id, &fetched, err);
	if (rc && rc != CORE_ENOTFOUND)
		return rc;
	pthread_mutex_lock(&c->lock);
	e = strmap_get(c->files, id);
	if (!e && (e = calloc(1, sizeof(*e))) && strmap_put(c->files, id, e)) {
		free(e);
		e = NULL;
	}
	if (e && e->fetched_ms <= start) {
		api_file_release(&e->f);
		e->present = rc == CORE_OK && api_file_copy(&e->f, &fetched) == CORE_OK;
		e->fetched_ms = start;
	}
	pthread_mutex_unlock(&c->lock);
	if (rc == CORE_OK)
		*out = fetched;
	return rc;
}

void cache_file_forget(struct cache *c, const char *id)
{
	struct fentry *e;
	size_t i;

	pthread_mutex_lock(&c->lock);
	e = strmap_take(c->files, id);
	if (e)
		fentry_free(e);
	for (i = 0; i < c->flist.n; i++)
		if (!strcmp(c->flist.ids[i], id)) {
			free(c->flist.ids[i]);
			memmove(&c->flist.ids[i], &c->flist.ids[i + 1],
				(c->flist.n - i - 1) * sizeof(char *));
			c->flist.n--;
			break;
		}
	pthread_mutex_unlock(&c->lock);
}

void file_briefs_release(struct file_briefs *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->items[i].id);
		free(f->items[i].filename);
		free(f->items[i].purpose);
	}
	free(f->items);
	memset(f, 0, sizeof(*f));
}

enum core_rc cache_file_list(struct cache *c, struct file_briefs *out,
			     struct core_err *err)
{
	enum core_rc rc;
	bool ok = true;
	size_t i;

	memset(out, 0, sizeof(*out));
	rc = listing_fresh_locked(c, &c->flist, fetch_file_ids, err);
	if (rc)
		return rc;
	out->items = c->flist.n ? calloc(c->flist.n, sizeof(*out->items)) : NULL;
	if (c->flist.n && !out->items)
		ok = false;
	for (i = 0; ok && i < c->flist.n; i++) {
		const struct fentry *e = strmap_get(c->files, c->flist.ids[i]);
		struct file_brief *d = &out->items[out->n];

		if (!e || !e->present)
			continue;
		d->id = dup_opt(e->f.id, &ok);
		d->filename = dup_opt(e->f.filename, &ok);
		d->purpose = dup_opt(e->f.purpose, &ok);
		d->bytes = e->f.bytes;
		d->created_at = e->f.created_at;
		out->n++;
	}
	pthread_mutex_unlock(&c->lock);
	if (!ok) {
		file_briefs_release(out);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	return CORE_OK;
}
