/* SPDX-License-Identifier: MIT */
/* fusedev_io.h: reading the FUSE device for libfuse: ECONNABORTED read as ENODEV, the connection's end reported once. */
#ifndef BATCHFS_FUSEDEV_IO_H
#define BATCHFS_FUSEDEV_IO_H

#include <stdbool.h>

struct fuse_session;

/*
 * Installs batchfs's reader of the session's device (fuse_session_custom_io()
 * on the mounted session's fd; nothing else changes: batchfs uses no splice).
 *
 * Linux answers ECONNABORTED instead of ENODEV to a thread that was taking a
 * request off the queue when the connection ended, an unmount included, and
 * libfuse 3.14 takes it for an error: it perror()s it from a worker it then
 * cancels, which can leave stderr's lock held (the next fprintf to stderr
 * hangs), and the loop fails. The reader turns it into ENODEV, the end libfuse
 * expects.
 *
 * The first read that finds the connection ended calls `on_end` (may be NULL)
 * in that libfuse worker, with cancellation disabled, before the read returns:
 * the earliest moment the daemon can know, while the other workers may still
 * be busy. `on_end` runs once per process.
 *
 * Call once, after mounting and before the loop. Returns 0 or -errno.
 */
int fusedev_io_install(struct fuse_session *se, void (*on_end)(void));

/* True once a device read was answered ECONNABORTED. Thread-safe. */
bool fusedev_io_saw_econnaborted(void);

#endif
