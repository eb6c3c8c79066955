/* SPDX-License-Identifier: MIT */
/* errlog.c: ring buffer of recent error messages. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "errlog.h"
#include "log.h"

struct entry {
	time_t when;
	char msg[480];
};

struct errlog {
	pthread_mutex_t lock;
	struct entry ring[ERRLOG_SIZE];
	unsigned next;
	unsigned count;
};

struct errlog *errlog_new(void)
{
	struct errlog *e = calloc(1, sizeof(*e));

	if (e)
		pthread_mutex_init(&e->lock, NULL);
	return e;
}

void errlog_free(struct errlog *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void errlog_add(struct errlog *e, const char *fmt, ...)
{
	struct entry ent;
	va_list ap;
	char *p;

	ent.when = time(NULL);
	va_start(ap, fmt);
	vsnprintf(ent.msg, sizeof(ent.msg), fmt, ap);
	va_end(ap);
	for (p = ent.msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	log_warn("%s", ent.msg);
	pthread_mutex_lock(&e->lock);
	e->ring[e->next] = ent;
	e->next = (e->next + 1) % ERRLOG_SIZE;
	if (e->count < ERRLOG_SIZE)
		e->count++;
	pthread_mutex_unlock(&e->lock);
}

enum core_rc errlog_render(struct errlog *e, struct buf *out)
{
	enum core_rc rc = CORE_OK;
	unsigned i, start;

	pthread_mutex_lock(&e->lock);
	start = (e->next + ERRLOG_SIZE - e->count) % ERRLOG_SIZE;
	for (i = 0; i < e->count && !rc; i++) {
		const struct entry *ent = &e->ring[(start + i) % ERRLOG_SIZE];
		struct tm tm;
		char stamp[32];

		gmtime_r(&ent->when, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		rc = buf_printf(out, "%s %s\n", stamp, ent->msg);
	}
	pthread_mutex_unlock(&e->lock);
	return rc;
}
