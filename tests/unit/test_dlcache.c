/* SPDX-License-Identifier: MIT */
/* test_dlcache.c: the download cache, driven by a fake fetch the test controls. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dlcache.h"
#include "tap.h"

#define CHUNK 4096
#define NEVER UINT64_MAX

/*
 * The fake fetch writes a pattern that depends on the key and the offset in
 * CHUNK-sized pieces, calling progress after each. A rule (per key, or for
 * every key when key is NULL) makes it wait at a gate the test opens, fail,
 * or write too few or too many bytes. While it waits at the gate it polls
 * dlcache_fetch_cancelled() (as the http layer's cancel hook would); the
 * timed wait is only that poll, never what a test relies on for ordering.
 */
struct rule {
	const char *key;	/* NULL: any key */
	uint64_t block_at;	/* wait at the gate when this many bytes are written */
	uint64_t fail_at;	/* fail when this many bytes are written */
	uint64_t short_by;	/* write this many bytes fewer and succeed */
	uint64_t long_by;	/* write this many bytes more and succeed */
	int times;		/* next `times` fetches of key; -1 = always */
};

struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* any counter below changed */
	struct rule rules[8];
	int nrules;
	bool gate_open;
	int calls, running, max_running, blocked, finished, cancelled;
	int opened;		/* reader threads that have opened */
};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->gate_open = true;
}

static void fake_destroy(struct fake *f)
{
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
}

static void fake_rule(struct fake *f, const char *key, uint64_t block_at,
		      uint64_t fail_at, uint64_t short_by, uint64_t long_by,
		      int times)
{
	struct rule r = { key, block_at, fail_at, short_by, long_by, times };

	pthread_mutex_lock(&f->lock);
	f->rules[f->nrules++] = r;
	pthread_mutex_unlock(&f->lock);
}

static void fake_gate(struct fake *f, bool open)
{
	pthread_mutex_lock(&f->lock);
	f->gate_open = open;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Waits until *field (a counter of f) is at least n. */
static void fake_wait(struct fake *f, const int *field, int n)
{
	pthread_mutex_lock(&f->lock);
	while (*field < n)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

static int fake_get(struct fake *f, const int *field)
{
	int v;

	pthread_mutex_lock(&f->lock);
	v = *field;
	pthread_mutex_unlock(&f->lock);
	return v;
}

static unsigned key_seed(const char *key)
{
	unsigned h = 5381;

	while (*key)
		h = h * 33 + (unsigned char)*key++;
	return h;
}

static unsigned char pat(unsigned seed, uint64_t off)
{
	return (unsigned char)(seed + off * 7 + (off >> 9));
}

/* Returns false when the download was cancelled while waiting. */
static bool gate_wait(struct fake *f, void *pctx)
{
	struct timespec ts;
	bool go = true;

	pthread_mutex_lock(&f->lock);
	f->blocked++;
	pthread_cond_broadcast(&f->cond);
	while (!f->gate_open) {
		if (dlcache_fetch_cancelled(pctx)) {
			f->cancelled++;
			go = false;
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	}
	f->blocked--;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return go;
}

static enum core_rc fake_fetch(void *ctx, const char *key, uint64_t size,
			       int fd, void (*progress)(void *, uint64_t),
			       void *pctx, struct core_err *err)
{
	struct fake *f = ctx;
	struct rule b = { NULL, NEVER, NEVER, 0, 0, -1 };
	unsigned char chunk[CHUNK];
	unsigned seed = key_seed(key);
	uint64_t off = 0, limit, i, n;
	enum core_rc rc = CORE_OK;
	int k;

	pthread_mutex_lock(&f->lock);
	for (k = 0; k < f->nrules; k++) {
		struct rule *r = &f->rules[k];

		if (r->times != 0 && (!r->key || strcmp(r->key, key) == 0)) {
			b = *r;
			if (r->times > 0)
				r->times--;
			break;
		}
	}
	f->calls++;
	if (++f->running > f->max_running)
		f->max_running = f->running;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);

	limit = size - b.short_by + b.long_by;
	for (;;) {
		if (off >= b.block_at) {
			b.block_at = NEVER;
			if (!gate_wait(f, pctx)) {
				rc = core_err_set(err, CORE_ECANCELLED,
						  "fake: cancelled");
				break;
			}
		}
		if (off >= limit)
			break;
		if (off >= b.fail_at) {
			rc = core_err_set(err, CORE_ETRANSPORT,
					  "fake: connection reset after %" PRIu64
					  " bytes", off);
			break;
		}
		n = limit - off < CHUNK ? limit - off : CHUNK;
		for (i = 0; i < n; i++)
			chunk[i] = pat(seed, off + i);
		if (pwrite(fd, chunk, n, (off_t)off) != (ssize_t)n) {
			rc = core_err_set(err, CORE_EIO, "fake: pwrite failed");
			break;
		}
		off += n;
		progress(pctx, off);
	}

	pthread_mutex_lock(&f->lock);
	f->running--;
	f->finished++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* Reads the whole file in `chunk`-byte reads, checking every byte and that
 * only the last read is short. *bad counts wrong bytes or sizes. */
static enum core_rc read_all(struct dlcache_handle *h, const char *key,
			     uint64_t size, size_t chunk, uint64_t *total,
			     uint64_t *bad, struct core_err *err)
{
	unsigned seed = key_seed(key);
	char *buf = malloc(chunk);
	uint64_t off = 0, want;
	enum core_rc rc;
	size_t got, i;

	*bad = 0;
	*total = 0;
	if (!h) {
		free(buf);
		return CORE_EINVAL;
	}
	for (;;) {
		rc = dlcache_read(h, buf, chunk, off, &got, err);
		if (rc != CORE_OK || got == 0)
			break;
		want = size - off < chunk ? size - off : chunk;
		if (got != want)
			(*bad)++;
		for (i = 0; i < got; i++)
			if ((unsigned char)buf[i] != pat(seed, off + i))
				(*bad)++;
		off += got;
	}
	free(buf);
	*total = off;
	return rc;
}

/* Checks [off, off+len) against the pattern: returns the byte count read or
 * -1 on error or a wrong byte. */
static long read_at(struct dlcache_handle *h, const char *key, uint64_t off,
		    size_t len)
{
	unsigned seed = key_seed(key);
	char *buf = malloc(len ? len : 1);
	size_t got, i;
	long ret;

	if (!h || dlcache_read(h, buf, len, off, &got, NULL) != CORE_OK) {
		free(buf);
		return -1;
	}
	ret = (long)got;
	for (i = 0; i < got; i++)
		if ((unsigned char)buf[i] != pat(seed, off + i))
			ret = -1;
	free(buf);
	return ret;
}

/* Opens, reads fully and closes; true when every byte was right. */
static bool fetch_whole(struct dlcache *c, const char *key, uint64_t size)
{
	struct dlcache_handle *h = NULL;
	uint64_t total, bad;
	enum core_rc rc;

	if (dlcache_open(c, key, size, &h, NULL) != CORE_OK)
		return false;
	rc = read_all(h, key, size, 3000, &total, &bad, NULL);
	dlcache_close(h);
	return rc == CORE_OK && total == size && bad == 0;
}

struct reader {
	pthread_t th;
	struct dlcache *c;
	struct fake *f;
	const char *key;
	uint64_t size;
	enum core_rc open_rc, read_rc;
	uint64_t total, bad;
	struct core_err err;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct dlcache_handle *h = NULL;

	r->err = (struct core_err)CORE_ERR_INIT;
	r->open_rc = dlcache_open(r->c, r->key, r->size, &h, &r->err);
	pthread_mutex_lock(&r->f->lock);
	r->f->opened++;
	pthread_cond_broadcast(&r->f->cond);
	pthread_mutex_unlock(&r->f->lock);
	if (r->open_rc != CORE_OK)
		return NULL;
	r->read_rc = read_all(h, r->key, r->size, 5000, &r->total, &r->bad,
			      &r->err);
	dlcache_close(h);
	return NULL;
}

static void reader_start(struct reader *r, struct dlcache *c, struct fake *f,
			 const char *key, uint64_t size)
{
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->f = f;
	r->key = key;
	r->size = size;
	pthread_create(&r->th, NULL, reader_main, r);
}

/* Number of entries in dir (without . and ..); *ours: all named "dl-...". */
static int dir_count(const char *dir, bool *ours)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (ours)
		*ours = true;
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (ours && (strncmp(de->d_name, "dl-", 3) != 0 ||
			     strlen(de->d_name) > 40))
			*ours = false;
	}
	closedir(d);
	return n;
}

static char base[PATH_MAX];

static void path_of(char *out, size_t size, const char *sub)
{
	int n = snprintf(out, size, "%s/%s", base, sub);

	if (n < 0 || (size_t)n >= size) {
		ok(0, "path too long: %s/%s", base, sub);
		exit(done_testing());
	}
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct dlcache *cache_new(const char *sub, uint64_t max_bytes,
				 int max_downloads, struct fake *f)
{
	struct dlcache_config cfg = { NULL, max_bytes, max_downloads };
	struct core_err err = CORE_ERR_INIT;
	struct dlcache *c = NULL;
	static char dir[PATH_MAX];

	path_of(dir, sizeof(dir), sub);
	cfg.dir = dir;
	if (dlcache_new(&cfg, fake_fetch, f, &c, &err) != CORE_OK)
		printf("# dlcache_new: %s\n", err.msg);
	return c;
}

static void test_basic(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_handle *h = NULL, *z = NULL;
	struct dlcache_stats st;
	struct stat sb;
	const uint64_t size = 3 * CHUNK + 123;
	uint64_t total, bad;
	char path[PATH_MAX], buf[16];
	size_t got = 99;
	bool ours;

	fake_init(&f);
	c = cache_new("basic", 0, 0, &f);
	ok(c != NULL, "basic: cache created");
	ok(dlcache_open(c, "file-a", size, &h, NULL) == CORE_OK, "basic: open");
	ok(dlcache_size(h) == size, "basic: size of the handle");
	ok(read_all(h, "file-a", size, 1000, &total, &bad, NULL) == CORE_OK &&
		   total == size && bad == 0,
	   "basic: whole file read in unaligned pieces, every byte right");
	ok(read_at(h, "file-a", size - 10, 100) == 10,
	   "basic: a read across the end is short");
	ok(read_at(h, "file-a", size, 100) == 0, "basic: a read at EOF gives 0");
	ok(read_at(h, "file-a", size + 5, 100) == 0,
	   "basic: a read past EOF gives 0");
	ok(dlcache_read(h, buf, 0, 0, &got, NULL) == CORE_OK && got == 0,
	   "basic: a zero-length read gives 0");
	ok(read_at(h, "file-a", CHUNK - 3, 7) == 7,
	   "basic: a read across a chunk boundary");
	dlcache_close(h);
	dlcache_stats(c, &st);
	ok(st.misses == 1 && st.hits == 0 && st.downloads == 1 &&
		   st.entries == 1 && st.bytes_cached == size,
	   "basic: one miss, one download, one entry of the right size");

	ok(dlcache_open(c, "file-a", size, &h, NULL) == CORE_OK &&
		   read_at(h, "file-a", 0, 5000) == 5000,
	   "basic: second open reads");
	dlcache_close(h);
	dlcache_stats(c, &st);
	ok(st.hits == 1 && st.misses == 1 && fake_get(&f, &f.calls) == 1,
	   "basic: the second open is a hit, no second fetch");

	ok(dlcache_open(c, "empty", 0, &z, NULL) == CORE_OK &&
		   dlcache_read(z, buf, sizeof(buf), 0, &got, NULL) == CORE_OK &&
		   got == 0,
	   "basic: an empty file reads EOF");
	dlcache_close(z);
	ok(fake_get(&f, &f.calls) == 1, "basic: an empty file is not fetched");

	/* The key's size changed: a new download, the new content. */
	ok(fetch_whole(c, "file-a", size + 1000) &&
		   fake_get(&f, &f.calls) == 2,
	   "basic: a different size downloads again");
	dlcache_stats(c, &st);
	ok(st.entries == 1 && st.bytes_cached == size + 1000,
	   "basic: the old entry was replaced");

	path_of(path, sizeof(path), "basic");
	ok(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0700,
	   "basic: directory is 0700");
	ok(dir_count(path, &ours) == 1 && ours, "basic: one cache file");
	{
		DIR *d = opendir(path);
		struct dirent *de;
		bool mode_ok = false;

		while (d && (de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' &&
			    fstatat(dirfd(d), de->d_name, &sb, 0) == 0)
				mode_ok = (sb.st_mode & 07777) == 0600 &&
					  sb.st_size == (off_t)(size + 1000);
		if (d)
			closedir(d);
		ok(mode_ok, "basic: the cache file is 0600 and complete");
	}
	dlcache_free(c);
	ok(dir_count(path, NULL) == 0, "basic: free deletes the cache files");
	fake_destroy(&f);
}

static void test_streaming(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_handle *h = NULL;
	struct reader r;
	const uint64_t size = 64 * CHUNK;

	fake_init(&f);
	c = cache_new("stream", 0, 0, &f);
	fake_rule(&f, "stream", CHUNK, NEVER, 0, 0, -1);
	fake_gate(&f, false);
	ok(dlcache_open(c, "stream", size, &h, NULL) == CORE_OK,
	   "stream: open starts the download");
	ok(read_at(h, "stream", 0, CHUNK) == CHUNK,
	   "stream: the first chunk is read");
	/* the gate is closed: the fetch cannot have got past CHUNK bytes */
	pthread_mutex_lock(&f.lock);
	ok(f.finished == 0 && f.calls == 1 && !f.gate_open,
	   "stream: ...while the fetch has not finished");
	pthread_mutex_unlock(&f.lock);
	fake_wait(&f, &f.blocked, 1);
	ok(fake_get(&f, &f.finished) == 0,
	   "stream: ...and is held at the gate");
	ok(read_at(h, "stream", 100, 200) == 200,
	   "stream: a smaller read inside the arrived bytes");
	/* this reader needs bytes that have not arrived; it waits */
	reader_start(&r, c, &f, "stream", size);
	fake_wait(&f, &f.opened, 1);
	fake_gate(&f, true);
	pthread_join(r.th, NULL);
	ok(r.open_rc == CORE_OK && r.read_rc == CORE_OK && r.total == size &&
		   r.bad == 0,
	   "stream: a waiting reader gets the whole file once it arrives");
	ok(read_at(h, "stream", size - CHUNK, CHUNK) == CHUNK,
	   "stream: the first handle reads the end");
	dlcache_close(h);
	ok(fake_get(&f, &f.calls) == 1, "stream: one fetch");
	dlcache_free(c);
	fake_destroy(&f);
}

#define NREADERS 8

static void test_single_flight(void)
{
	struct fake f;
	struct dlcache *c;
	struct reader r[NREADERS];
	struct dlcache_stats st;
	const uint64_t size = 10 * CHUNK + 17;
	int i, good = 0;

	fake_init(&f);
	c = cache_new("flight", 0, 0, &f);
	fake_rule(&f, "shared", 0, NEVER, 0, 0, -1);
	fake_gate(&f, false);
	for (i = 0; i < NREADERS; i++)
		reader_start(&r[i], c, &f, "shared", size);
	/* all have opened while the one fetch is held before its first byte */
	fake_wait(&f, &f.opened, NREADERS);
	fake_wait(&f, &f.blocked, 1);
	fake_gate(&f, true);
	for (i = 0; i < NREADERS; i++) {
		pthread_join(r[i].th, NULL);
		if (r[i].open_rc == CORE_OK && r[i].read_rc == CORE_OK &&
		    r[i].total == size && r[i].bad == 0)
			good++;
	}
	ok(good == NREADERS, "flight: %d readers all read every byte", good);
	ok(fake_get(&f, &f.calls) == 1, "flight: one fetch for %d readers",
	   NREADERS);
	dlcache_stats(c, &st);
	ok(st.misses == 1 && st.hits == NREADERS - 1 && st.downloads == 1,
	   "flight: one miss and %d hits", NREADERS - 1);
	ok(fetch_whole(c, "shared", size) && fake_get(&f, &f.calls) == 1,
	   "flight: a later open is a hit");
	dlcache_free(c);
	fake_destroy(&f);
}

static void test_failure(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_handle *hold = NULL, *h2 = NULL;
	struct reader r[3];
	struct dlcache_stats st;
	struct core_err err = CORE_ERR_INIT;
	const uint64_t size = 8 * CHUNK;
	char path[PATH_MAX], buf[10];
	size_t got;
	int i, good = 0;

	fake_init(&f);
	c = cache_new("fail", 0, 0, &f);
	path_of(path, sizeof(path), "fail");
	fake_rule(&f, "flaky", CHUNK, 2 * CHUNK, 0, 0, 1);
	fake_gate(&f, false);
	ok(dlcache_open(c, "flaky", size, &hold, NULL) == CORE_OK,
	   "fail: open");
	for (i = 0; i < 3; i++)
		reader_start(&r[i], c, &f, "flaky", size);
	fake_wait(&f, &f.opened, 3);
	fake_wait(&f, &f.blocked, 1);
	ok(read_at(hold, "flaky", 0, CHUNK) == CHUNK,
	   "fail: bytes before the failure are served");
	fake_gate(&f, true);
	for (i = 0; i < 3; i++) {
		pthread_join(r[i].th, NULL);
		if (r[i].open_rc == CORE_OK &&
		    r[i].read_rc == CORE_ETRANSPORT &&
		    strstr(r[i].err.msg, "connection reset") &&
		    r[i].bad == 0)
			good++;
	}
	ok(good == 3, "fail: all %d waiting readers get the fetch's error",
	   good);
	ok(hold && dlcache_read(hold, buf, sizeof(buf), 0, &got, &err) ==
			   CORE_ETRANSPORT &&
		   err.rc == CORE_ETRANSPORT,
	   "fail: the failed entry's handle keeps failing");
	dlcache_stats(c, &st);
	ok(st.failures == 1 && st.entries == 0 && st.bytes_cached == 0,
	   "fail: the entry left the cache");
	ok(dir_count(path, NULL) == 1,
	   "fail: its file stays while a handle pins it");

	ok(dlcache_open(c, "flaky", size, &h2, NULL) == CORE_OK,
	   "fail: reopen while the failed one is still pinned");
	{
		uint64_t total, bad;

		ok(read_all(h2, "flaky", size, 4096, &total, &bad, NULL) ==
				   CORE_OK &&
			   total == size && bad == 0,
		   "fail: the retry downloads and reads every byte");
	}
	ok(fake_get(&f, &f.calls) == 2, "fail: the retry was a second fetch");
	ok(dir_count(path, NULL) == 2, "fail: old and new files both there");
	dlcache_close(hold);
	ok(dir_count(path, NULL) == 1,
	   "fail: closing the last handle deletes the failed file");
	dlcache_close(h2);
	dlcache_stats(c, &st);
	ok(st.entries == 1 && st.failures == 1 && st.misses == 2,
	   "fail: the retried entry is cached");
	dlcache_free(c);
	fake_destroy(&f);
}

static void test_short_long(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_handle *h = NULL;
	struct core_err err = CORE_ERR_INIT;
	struct dlcache_stats st;
	uint64_t total, bad;
	char path[PATH_MAX];

	fake_init(&f);
	c = cache_new("short", 0, 0, &f);
	path_of(path, sizeof(path), "short");
	fake_rule(&f, "short", NEVER, NEVER, 10, 0, 1);
	fake_rule(&f, "long", NEVER, NEVER, 0, 10, 1);
	ok(dlcache_open(c, "short", 20000, &h, NULL) == CORE_OK, "short: open");
	ok(read_all(h, "short", 20000, 4000, &total, &bad, &err) == CORE_EIO &&
		   bad == 0,
	   "short: a short download is an error");
	ok(strstr(err.msg, "short download") &&
		   strstr(err.msg, "expected 20000 bytes, got 19990"),
	   "short: message says what was expected (%s)", err.msg);
	ok(total < 20000, "short: never served as complete");
	dlcache_close(h);
	ok(dir_count(path, NULL) == 0, "short: its file is gone");
	ok(fetch_whole(c, "short", 20000) && fake_get(&f, &f.calls) == 2,
	   "short: the next open downloads again and succeeds");

	err = (struct core_err)CORE_ERR_INIT;
	ok(dlcache_open(c, "long", 5000, &h, NULL) == CORE_OK, "long: open");
	ok(read_all(h, "long", 5000, 5000, &total, &bad, &err) == CORE_EIO &&
		   strstr(err.msg, "expected 5000 bytes, got 5010"),
	   "long: a download longer than the size is an error (%s)", err.msg);
	dlcache_close(h);
	dlcache_stats(c, &st);
	ok(st.failures == 2 && st.entries == 1, "short: two failures counted");
	dlcache_free(c);
	fake_destroy(&f);
}

static void test_lru(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_handle *pin = NULL;
	struct dlcache_stats st;
	char path[PATH_MAX];
	int calls;

	fake_init(&f);
	c = cache_new("lru", 3000, 0, &f);
	path_of(path, sizeof(path), "lru");
	ok(fetch_whole(c, "k1", 1000) && fetch_whole(c, "k2", 1000) &&
		   fetch_whole(c, "k3", 1000),
	   "lru: three files fill the cache");
	dlcache_stats(c, &st);
	ok(st.entries == 3 && st.bytes_cached == 3000 && st.evictions == 0,
	   "lru: 3000 bytes cached, nothing evicted");
	ok(fetch_whole(c, "k1", 1000), "lru: k1 used again");
	/* LRU order (oldest first): k2, k3, k1 */
	ok(fetch_whole(c, "k4", 1000), "lru: k4 read");
	dlcache_stats(c, &st);
	ok(st.entries == 3 && st.bytes_cached == 3000 && st.evictions == 1,
	   "lru: one eviction keeps it at 3000 bytes");
	/* order (oldest first): k3, k1, k4; pin k4, then use k1 and k3 */
	ok(dlcache_open(c, "k4", 1000, &pin, NULL) == CORE_OK, "lru: pin k4");
	calls = fake_get(&f, &f.calls);
	ok(fetch_whole(c, "k1", 1000) && fetch_whole(c, "k3", 1000) &&
		   fake_get(&f, &f.calls) == calls,
	   "lru: k1 and k3 are still cached");
	/* the oldest is now the pinned k4, then k1 */
	ok(fetch_whole(c, "k5", 1000), "lru: k5 read while k4 is pinned");
	dlcache_close(pin);
	calls = fake_get(&f, &f.calls);
	ok(fetch_whole(c, "k4", 1000) && fake_get(&f, &f.calls) == calls,
	   "lru: the pinned k4 was not evicted");
	ok(fetch_whole(c, "k1", 1000) && fake_get(&f, &f.calls) == calls + 1,
	   "lru: k1, the oldest unpinned, was");
	ok(fetch_whole(c, "k2", 1000) && fake_get(&f, &f.calls) == calls + 2,
	   "lru: an evicted key downloads again");
	dlcache_stats(c, &st);
	ok(st.entries == 3 && st.bytes_cached == 3000,
	   "lru: still 3 entries, 3000 bytes");
	ok(dir_count(path, NULL) == 3, "lru: 3 files on disk");
	dlcache_free(c);
	fake_destroy(&f);
}

static void test_over_budget(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_handle *h = NULL, *p4 = NULL;
	struct dlcache_handle *p[3] = { NULL, NULL, NULL };
	struct dlcache_stats st;
	uint64_t total, bad;
	char path[PATH_MAX];
	int i;

	fake_init(&f);
	c = cache_new("over", 3000, 0, &f);
	path_of(path, sizeof(path), "over");
	ok(dlcache_open(c, "big", 10000, &h, NULL) == CORE_OK &&
		   read_all(h, "big", 10000, 3000, &total, &bad, NULL) ==
			   CORE_OK &&
		   total == 10000 && bad == 0,
	   "over: a file larger than max_bytes is readable");
	dlcache_stats(c, &st);
	ok(st.bytes_cached == 10000 && st.entries == 1,
	   "over: it is counted while open");
	dlcache_close(h);
	dlcache_stats(c, &st);
	ok(st.bytes_cached == 0 && st.entries == 0 && st.evictions == 1,
	   "over: evicted at its last close");
	ok(dir_count(path, NULL) == 0, "over: its file is deleted");
	ok(fetch_whole(c, "big", 10000) && fake_get(&f, &f.calls) == 2,
	   "over: opening it again downloads again");

	/* everything pinned: the fourth does not fit */
	for (i = 0; i < 3; i++) {
		char key[16];

		snprintf(key, sizeof(key), "p%d", i);
		ok(dlcache_open(c, key, 1000, &p[i], NULL) == CORE_OK &&
			   read_at(p[i], key, 0, 1000) == 1000,
		   "over: %s pinned", key);
	}
	ok(dlcache_open(c, "p4", 1000, &p4, NULL) == CORE_OK &&
		   read_at(p4, "p4", 0, 1000) == 1000,
	   "over: a fourth file with all others pinned is readable");
	dlcache_stats(c, &st);
	ok(st.bytes_cached == 4000 && st.entries == 4,
	   "over: 4000 bytes while pinned");
	dlcache_close(p4);
	dlcache_stats(c, &st);
	ok(st.bytes_cached == 3000 && st.entries == 3,
	   "over: the over-budget one went at its close");
	for (i = 0; i < 3; i++)
		dlcache_close(p[i]);
	dlcache_stats(c, &st);
	ok(st.bytes_cached == 3000 && st.entries == 3,
	   "over: the pinned ones stay after their close");
	ok(dir_count(path, NULL) == 3, "over: 3 files on disk");

	/* an over-budget download nobody reads any more is told to stop */
	fake_rule(&f, "huge", CHUNK, NEVER, 0, 0, -1);
	fake_gate(&f, false);
	ok(dlcache_open(c, "huge", 100000, &h, NULL) == CORE_OK &&
		   read_at(h, "huge", 0, 100) == 100,
	   "over: a huge file starts");
	fake_wait(&f, &f.blocked, 1);
	dlcache_close(h);
	fake_wait(&f, &f.cancelled, 1);
	dlcache_wait_idle(c);
	dlcache_stats(c, &st);
	ok(st.bytes_cached <= 3000 && fake_get(&f, &f.cancelled) == 1,
	   "over: its fetch saw the cancellation");
	ok(dir_count(path, NULL) == (int)st.entries,
	   "over: its file is deleted");
	fake_gate(&f, true);
	dlcache_free(c);
	fake_destroy(&f);
}

static void test_hostile(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_stats st;
	char path[PATH_MAX], *longkey, *bytes;
	const char *keys[10];
	struct stat sb;
	bool ours;
	int i, n = 0, good = 0, calls;

	longkey = malloc(10001);
	for (i = 0; i < 10000; i++)
		longkey[i] = "../"[i % 3];
	longkey[10000] = '\0';
	bytes = malloc(256);
	for (i = 0; i < 255; i++)
		bytes[i] = (char)(i + 1);
	bytes[255] = '\0';
	keys[n++] = "../../x";
	keys[n++] = "../x";
	keys[n++] = "/etc/passwd";
	keys[n++] = "..";
	keys[n++] = ".";
	keys[n++] = "";
	keys[n++] = "a/b/c";
	keys[n++] = "dl-0123456789abcdef-1";
	keys[n++] = longkey;
	keys[n++] = bytes;

	fake_init(&f);
	path_of(path, sizeof(path), "h");
	mkdir(path, 0700);
	c = cache_new("h/cache", 0, 0, &f);
	for (i = 0; i < n; i++)
		if (fetch_whole(c, keys[i], 5000))
			good++;
	ok(good == n, "hostile: all %d keys read their own content", good);
	path_of(path, sizeof(path), "h/cache");
	ok(dir_count(path, &ours) == n && ours,
	   "hostile: %d files, all with our names, in the cache dir", n);
	path_of(path, sizeof(path), "h");
	ok(dir_count(path, NULL) == 1, "hostile: nothing next to the dir");
	path_of(path, sizeof(path), "x");
	ok(stat(path, &sb) != 0 && errno == ENOENT,
	   "hostile: '../../x' did not escape");
	path_of(path, sizeof(path), "h/x");
	ok(stat(path, &sb) != 0 && errno == ENOENT,
	   "hostile: '../x' did not escape");
	dlcache_stats(c, &st);
	ok(st.entries == (uint64_t)n, "hostile: %d distinct entries", n);
	calls = fake_get(&f, &f.calls);
	ok(fetch_whole(c, longkey, 5000) && fetch_whole(c, "../../x", 5000) &&
		   fake_get(&f, &f.calls) == calls,
	   "hostile: the long and the dotted key are hits");
	dlcache_free(c);
	fake_destroy(&f);
	free(longkey);
	free(bytes);
}

static void test_max_downloads(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_handle *h[5];
	const char *keys[5] = { "m0", "m1", "m2", "m3", "m4" };
	uint64_t total, bad;
	int i, good = 0;

	fake_init(&f);
	c = cache_new("maxdl", 0, 2, &f);
	fake_rule(&f, NULL, 0, NEVER, 0, 0, -1);
	fake_gate(&f, false);
	for (i = 0; i < 5; i++)
		if (dlcache_open(c, keys[i], 3 * CHUNK, &h[i], NULL) != CORE_OK)
			h[i] = NULL;
	fake_wait(&f, &f.blocked, 2);
	pthread_mutex_lock(&f.lock);
	ok(f.running == 2 && f.calls == 2,
	   "maxdl: two fetches run, three wait in the queue");
	pthread_mutex_unlock(&f.lock);
	fake_gate(&f, true);
	/* read the last one first: it waits behind the queue */
	for (i = 4; i >= 0; i--) {
		if (h[i] && read_all(h[i], keys[i], 3 * CHUNK, 4096, &total,
				     &bad, NULL) == CORE_OK &&
		    total == 3 * CHUNK && bad == 0)
			good++;
		dlcache_close(h[i]);
	}
	ok(good == 5, "maxdl: all 5 files read");
	ok(fake_get(&f, &f.calls) == 5 && fake_get(&f, &f.max_running) == 2,
	   "maxdl: 5 fetches, never more than 2 at once");
	dlcache_free(c);
	fake_destroy(&f);
}

static void test_free_in_flight(void)
{
	struct fake f;
	struct dlcache *c;
	struct dlcache_handle *h1 = NULL, *h2 = NULL;
	char path[PATH_MAX];

	fake_init(&f);
	c = cache_new("inflight", 0, 1, &f);
	path_of(path, sizeof(path), "inflight");
	fake_rule(&f, NULL, CHUNK, NEVER, 0, 0, -1);
	fake_gate(&f, false);
	ok(dlcache_open(c, "f1", 10 * CHUNK, &h1, NULL) == CORE_OK &&
		   dlcache_open(c, "f2", 10 * CHUNK, &h2, NULL) == CORE_OK,
	   "inflight: two opens, one running, one queued");
	fake_wait(&f, &f.blocked, 1);
	dlcache_close(h1);
	dlcache_close(h2);
	dlcache_free(c);
	ok(fake_get(&f, &f.cancelled) == 1 && fake_get(&f, &f.finished) == 1,
	   "inflight: free stopped the running fetch");
	ok(fake_get(&f, &f.calls) == 1, "inflight: the queued one never ran");
	ok(dir_count(path, NULL) == 0, "inflight: no file left behind");
	fake_destroy(&f);
}

static void test_setup(void)
{
	struct fake f;
	struct dlcache *c = NULL;
	struct dlcache_config cfg = { NULL, 0, 0 };
	struct core_err err = CORE_ERR_INIT;
	char dir[PATH_MAX], file[PATH_MAX + 64], link[PATH_MAX];
	struct stat sb;
	FILE *fp;

	fake_init(&f);
	path_of(dir, sizeof(dir), "setup");
	mkdir(dir, 0755);
	snprintf(file, sizeof(file), "%s/dl-0123456789abcdef-1f", dir);
	fp = fopen(file, "w");
	if (fp)
		fclose(fp);
	snprintf(file, sizeof(file), "%s/keep.txt", dir);
	fp = fopen(file, "w");
	if (fp)
		fclose(fp);
	cfg.dir = dir;
	ok(dlcache_new(&cfg, fake_fetch, &f, &c, &err) == CORE_OK,
	   "setup: existing directory");
	ok(stat(dir, &sb) == 0 && (sb.st_mode & 07777) == 0700,
	   "setup: made private (0700)");
	ok(dir_count(dir, NULL) == 1 && stat(file, &sb) == 0,
	   "setup: stale cache file wiped, a foreign file left alone");
	dlcache_free(c);

	c = NULL;
	cfg.dir = NULL;
	ok(dlcache_new(&cfg, fake_fetch, &f, &c, &err) == CORE_EINVAL && !c,
	   "setup: no dir is invalid");
	cfg.dir = dir;
	cfg.max_downloads = -1;
	ok(dlcache_new(&cfg, fake_fetch, &f, &c, &err) == CORE_EINVAL,
	   "setup: negative max_downloads is invalid");
	cfg.max_downloads = 0;
	ok(dlcache_new(&cfg, NULL, &f, &c, &err) == CORE_EINVAL,
	   "setup: no fetch is invalid");
	path_of(link, sizeof(link), "link");
	ok(symlink(dir, link) == 0, "setup: symlink made");
	cfg.dir = link;
	ok(dlcache_new(&cfg, fake_fetch, &f, &c, &err) == CORE_EIO,
	   "setup: a symlinked dir is refused (%s)", err.msg);
	path_of(link, sizeof(link), "no/such/dir");
	cfg.dir = link;
	ok(dlcache_new(&cfg, fake_fetch, &f, &c, &err) == CORE_EIO,
	   "setup: a missing parent is an error (%s)", err.msg);
	fake_destroy(&f);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(base, sizeof(base), "%s/test_dlcache.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return done_testing();
	}
	test_basic();
	test_streaming();
	test_single_flight();
	test_failure();
	test_short_long();
	test_lru();
	test_over_budget();
	test_hostile();
	test_max_downloads();
	test_free_in_flight();
	test_setup();
	rm_tree(base);
	return done_testing();
}
