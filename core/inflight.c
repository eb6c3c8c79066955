/* SPDX-License-Identifier: MIT */
/* inflight.c: keyed single-flight with result hand-off. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "inflight.h"
#include "strmap.h"

struct flight {
	bool done;
	enum core_rc rc;
	char *batch_id;
	unsigned refs; /* leader + followers */
};

struct inflight {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct strmap *flights; /* key -> struct flight * (while in flight) */
};

static void flight_unref(struct flight *fl)
{
	if (--fl->refs)
		return;
	free(fl->batch_id);
	free(fl);
}

struct inflight *inflight_new(void)
{
	struct inflight *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->flights = strmap_new(NULL);
	if (!f->flights) {
		free(f);
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cv, NULL);
	return f;
}

void inflight_free(struct inflight *f)
{
	if (!f)
		return;
	strmap_free(f->flights);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cv);
	free(f);
}

bool inflight_join(struct inflight *f, const char *key, enum core_rc *rc,
		   char **batch_id)
{
	struct flight *fl;

	*batch_id = NULL;
	pthread_mutex_lock(&f->lock);
	fl = strmap_get(f->flights, key);
	if (!fl) {
		fl = calloc(1, sizeof(*fl));
		if (fl && strmap_put(f->flights, key, fl) == CORE_OK) {
			fl->refs = 1;
		} else {
			free(fl);
		}
		pthread_mutex_unlock(&f->lock);
		return true; /* lead (or, out of memory, just do the work) */
	}
	fl->refs++;
	while (!fl->done)
		pthread_cond_wait(&f->cv, &f->lock);
	*rc = fl->rc;
	if (fl->batch_id)
		*batch_id = strdup(fl->batch_id);
	flight_unref(fl);
	pthread_mutex_unlock(&f->lock);
	return false;
}

bool inflight_busy(struct inflight *f, const char *key)
{
	bool busy;

	pthread_mutex_lock(&f->lock);
	busy = strmap_get(f->flights, key) != NULL;
	pthread_mutex_unlock(&f->lock);
	return busy;
}

void inflight_finish(struct inflight *f, const char *key, enum core_rc rc,
		     const char *batch_id)
{
	struct flight *fl;

	pthread_mutex_lock(&f->lock);
	fl = strmap_take(f->flights, key);
	if (fl) {
		fl->done = true;
		fl->rc = rc;
		fl->batch_id = batch_id ? strdup(batch_id) : NULL;
		pthread_cond_broadcast(&f->cv);
		flight_unref(fl);
	}
	pthread_mutex_unlock(&f->lock);
}
