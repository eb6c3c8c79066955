/* SPDX-License-Identifier: MIT */
/* upstream.c: an upload that runs on its own thread while its file is still being written. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "upstream.h"

/* Guards every budget's counters (a few updates per upload); budget_cond
 * tells upstream_drain() that a thread ended. */
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t budget_cond = PTHREAD_COND_INITIALIZER;

struct upstream {
	struct api_client *api;
	char *filename;
	struct upstream_budget *budget;
	struct http_source src;
	pthread_t thread;
	bool joined;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Our own duplicates of the fds fed (the owner may close its own
	 * while an abandoned transfer still reads): the input, and the upload
	 * file if the bytes part from it. fd is the one to read. */
	int fds[2];
	int fd;
	bool detached;	 /* abandoned: the thread frees it when it ends */
	bool exited;	 /* the thread has its outcome */
	uint64_t avail;
	bool ended;	 /* upstream_end() was called */
	bool abandoned;	 /* upstream_abort() was called */
	bool src_ended;	 /* this attempt read to the end (size known) */

	/* The outcome, written by the thread before it exits. */
	enum core_rc rc;
	struct core_err err;
	struct api_file file;
	bool failed_before_end;
};

static ssize_t upstream_read(void *ctx, char *dst, size_t n, off_t off,
			     int wait_ms)
{
	struct upstream *u = ctx;
	uint64_t at = (uint64_t)off;
	struct timespec until;
	ssize_t r;
	int fd;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)wait_ms * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&u->lock);
	if (at == 0)
		u->src_ended = false; /* a new attempt */
	while (!u->abandoned && !u->ended && at >= u->avail)
		if (pthread_cond_timedwait(&u->cond, &u->lock, &until) == ETIMEDOUT) {
			if (!u->abandoned && !u->ended && at >= u->avail) {
				pthread_mutex_unlock(&u->lock);
				return HTTP_SOURCE_WAIT;
			}
		}
	if (u->abandoned) {
		pthread_mutex_unlock(&u->lock);
		return -1;
	}
	if (at >= u->avail) {
		u->src_ended = true;
		pthread_mutex_unlock(&u->lock);
		return 0;
	}
	if (n > u->avail - at)
		n = (size_t)(u->avail - at);
	fd = u->fd;
	pthread_mutex_unlock(&u->lock);
	do
		r = pread(fd, dst, n, off);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		log_warn("%s: reading the spool for the upload failed: %s",
			 u->filename, r < 0 ? strerror(errno) : "short read");
		return -1;
	}
	return r;
}

static bool upstream_ready(void *ctx, off_t off)
{
	struct upstream *u = ctx;
	bool ready;

	pthread_mutex_lock(&u->lock);
	ready = u->abandoned || u->ended || (uint64_t)off < u->avail;
	pthread_mutex_unlock(&u->lock);
	return ready;
}

static off_t upstream_size(void *ctx)
{
	struct upstream *u = ctx;
	off_t size;

	pthread_mutex_lock(&u->lock);
	size = u->src_ended ? (off_t)u->avail : -1;
	pthread_mutex_unlock(&u->lock);
	return size;
}

static bool upstream_cancelled(void *ctx)
{
	struct upstream *u = ctx;
	bool gone;

	pthread_mutex_lock(&u->lock);
	gone = u->abandoned;
	pthread_mutex_unlock(&u->lock);
	return gone;
}

static void *upstream_main(void *arg)
{
	struct upstream *u = arg;
	struct core_err err = CORE_ERR_INIT;
	struct upstream_budget *budget;
	struct api_file file;
	bool detached;
	struct api_upload up = {
		.fd = -1,
		.source = &u->src,
		.filename = u->filename,
		.purpose = "batch",
		.cancelled = upstream_cancelled,
		.cancel_ctx = u,
	};
	enum core_rc rc;

	rc = api_file_upload(u->api, &up, &file, &err);
	pthread_mutex_lock(&u->lock);
	u->rc = rc;
	u->err = err;
	if (!rc)
		u->file = file;
	/* The closing boundary cannot have gone out if the last attempt did
	 * not read to the end: nothing was created. */
	u->failed_before_end = rc && !u->src_ended;
	u->exited = true;
	detached = u->detached;
	pthread_mutex_unlock(&u->lock);
	budget = u->budget;
	if (detached) {
		if (!rc && u->file.id) {
			/* It ended before it was abandoned: nothing will use the
			 * file, so it goes (best effort). */
			struct core_err derr = CORE_ERR_INIT;

			if (api_file_delete(u->api, u->file.id, &derr))
				log_warn("%s: could not delete the abandoned upload %s: %s",
					 u->filename, u->file.id, derr.msg);
		}
		u->joined = true; /* detached: nobody joins */
		upstream_free(u);
	}
	pthread_mutex_lock(&budget_lock);
	budget->active--;
	pthread_cond_broadcast(&budget_cond);
	pthread_mutex_unlock(&budget_lock);
	return NULL;
}

enum core_rc upstream_start(struct api_client *api, const char *filename,
			    struct upstream_budget *budget, struct upstream **out,
			    struct core_err *err)
{
	struct upstream *u;
	bool room;
	int e;

	*out = NULL;
	pthread_mutex_lock(&budget_lock);
	room = budget && budget->running < budget->max;
	if (room) {
		budget->running++;
		budget->active++;
		budget->started++;
	}
	pthread_mutex_unlock(&budget_lock);
	if (!room)
		return core_err_set(err, CORE_ENOSPC, "no room for another streamed upload");
	u = calloc(1, sizeof(*u));
	if (!u || !(u->filename = strdup(filename))) {
		free(u);
		pthread_mutex_lock(&budget_lock);
		budget->running--;
		budget->active--;
		pthread_mutex_unlock(&budget_lock);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	u->api = api;
	u->budget = budget;
	u->fd = u->fds[0] = u->fds[1] = -1;
	u->src = (struct http_source){ upstream_read, upstream_ready, upstream_size, u };
	pthread_mutex_init(&u->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&u->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	e = pthread_create(&u->thread, NULL, upstream_main, u);
	if (e) {
		pthread_mutex_lock(&budget_lock);
		budget->active--;
		pthread_mutex_unlock(&budget_lock);
		u->joined = true; /* nothing to join */
		upstream_free(u);
		return core_err_set(err, CORE_ENOMEM, "cannot start the upload thread: %s",
				    strerror(e));
	}
	*out = u;
	return CORE_OK;
}

void upstream_counts(struct upstream_budget *b, int *active, uint64_t *started)
{
	pthread_mutex_lock(&budget_lock);
	*active = b->active;
	*started = b->started;
	pthread_mutex_unlock(&budget_lock);
}

void upstream_feed(struct upstream *u, int fd, uint64_t avail, int which)
{
	pthread_mutex_lock(&u->lock);
	if (u->fds[which] < 0) {
		u->fds[which] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (u->fds[which] < 0) {
			log_warn("%s: cannot follow the spool (%s): uploading at close",
				 u->filename, strerror(errno));
			u->abandoned = true; /* fails before its end: redone */
		}
	}
	u->fd = u->fds[which];
	if (avail > u->avail)
		u->avail = avail;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

void upstream_end(struct upstream *u)
{
	pthread_mutex_lock(&u->lock);
	u->ended = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

static void upstream_join(struct upstream *u)
{
	if (u->joined)
		return;
	pthread_join(u->thread, NULL);
	u->joined = true;
}

void upstream_abandon(struct upstream *u)
{
	pthread_t thread;
	bool exited;

	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	if (!u->ended)
		u->abandoned = true;
	pthread_cond_broadcast(&u->cond);
	exited = u->exited;
	if (!exited)
		u->detached = true;
	thread = u->thread; /* u may be gone once the lock is dropped */
	pthread_mutex_unlock(&u->lock);
	if (!exited) {
		/* It ends at its next callback and frees itself; no waiting
		 * here (callers may hold locks). */
		pthread_detach(thread);
		return;
	}
	upstream_join(u);
	if (!u->rc)
		log_warn("%s: upload %s completed although abandoned", u->filename,
			 u->file.id ? u->file.id : "?");
	upstream_free(u);
}

void upstream_drain(struct upstream_budget *b)
{
	pthread_mutex_lock(&budget_lock);
	while (b->active > 0)
		pthread_cond_wait(&budget_cond, &budget_lock);
	pthread_mutex_unlock(&budget_lock);
}

enum core_rc upstream_finish(struct upstream *u, struct api_file *out,
			     bool *before_end, struct core_err *err)
{
	upstream_join(u);
	*before_end = u->failed_before_end;
	if (u->rc) {
		if (err)
			*err = u->err;
		return u->rc;
	}
	*out = u->file;
	memset(&u->file, 0, sizeof(u->file));
	return CORE_OK;
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	if (!u->joined) { /* not finished: abandon instead (it frees itself) */
		upstream_abandon(u);
		return;
	}
	if (u->fds[0] >= 0)
		close(u->fds[0]);
	if (u->fds[1] >= 0)
		close(u->fds[1]);
	api_file_release(&u->file);
	pthread_mutex_lock(&budget_lock);
	u->budget->running--;
	pthread_mutex_unlock(&budget_lock);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u->filename);
	free(u);
}
