/* SPDX-License-Identifier: MIT */
/* log.h: leveled logging to stderr or syslog; never given secrets. */
#ifndef BATCHFS_LOG_H
#define BATCHFS_LOG_H

#include <stdbool.h>

/*
 * Thread-safety: log_msg() may be called from any thread; each message is
 * written with one call so lines do not interleave. log_init() and
 * log_set_level() are meant for start-up (they use atomics, so a later call
 * is safe but racy in effect only).
 * Callers must never pass secrets (keys, tokens, Authorization headers).
 */
enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* use_syslog: send to syslog(3) with ident "batchfs" instead of stderr. */
void log_init(enum log_level level, bool use_syslog);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
