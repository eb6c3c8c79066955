/* SPDX-License-Identifier: MIT */
/* log.c: leveled logging to stderr or syslog. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static _Atomic int log_level = LOG_LVL_WARN;
static _Atomic bool log_syslog;

void log_init(enum log_level level, bool use_syslog)
{
	atomic_store(&log_level, (int)level);
	atomic_store(&log_syslog, use_syslog);
	if (use_syslog)
		openlog("batchfs", LOG_PID, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	va_list ap;

	if ((int)level > atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (atomic_load(&log_syslog)) {
		syslog(prio[level], "%s", line);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ batchfs %s: %s\n", stamp,
			ts.tv_nsec / 1000000L, names[level], line);
	}
}
