/* SPDX-License-Identifier: MIT */
/* mounted.h: how the mount ended (unmounted or aborted), told the moment the kernel ends the connection; a dead mount detached. */
#ifndef BATCHFS_MOUNTED_H
#define BATCHFS_MOUNTED_H

#include <stdbool.h>

/*
 * The kernel ends a FUSE connection the same way whether the mount was
 * unmounted or aborted (/sys/fs/fuse/connections/N/abort, umount -f, a kernel
 * request timeout): the device reads fail (ENODEV, or ECONNABORTED when a
 * request was being handed over) and poll() reports POLLERR. The mount table
 * tells them apart: an unmount has removed our mount before the connection
 * ends; an abort leaves a dead mount that answers "Transport endpoint is not
 * connected" to everyone until it is detached (libfuse leaves it).
 *
 * The watch decides at once, from its own thread polling the device, not when
 * the FUSE loop returns: libfuse joins its workers first, and one may still be
 * uploading a submission for minutes, time enough for the path to be mounted
 * again. Our mount is known by its device number (MAJ:MIN), read from the mount
 * table when the watch starts; the kernel frees that number only after the
 * connection ended, so a later mount on the same path is never taken for ours.
 * On an abort the watch logs it and detaches our mount if it is the top one on
 * the path: umount2(MNT_DETACH) as root, `fusermount3 -u -z` otherwise.
 *
 * Neither the watch nor its lookups touch the mount (a dead one answers
 * ENOTCONN): they read /proc/self/mountinfo and poll the device.
 */

struct fuse_session;

/*
 * Reads the session's device through batchfs, which turns ECONNABORTED into
 * ENODEV: Linux answers ECONNABORTED instead of ENODEV to a thread that was
 * taking a request off the queue when the connection ended (an unmount
 * included), and libfuse 3.14 takes it for an error: it prints it with
 * perror() from a worker it then cancels, which can leave stderr's lock held
 * (a later fprintf to stderr hangs), and makes the loop fail. Which way the
 * connection ended is the watch's business below. Call after mounting, before
 * the loop. Returns 0 or -errno.
 */
int mounted_device_io(struct fuse_session *se);

/* True once a device read was answered ECONNABORTED (for the log, after the loop). */
bool mounted_saw_econnaborted(void);

enum mount_end {
	MOUNT_END_NONE,      /* the connection has not ended (a stop signal ended the loop) */
	MOUNT_END_UNMOUNTED, /* ended by an unmount: a clean stop */
	MOUNT_END_ABORTED,   /* ended with our mount still in place: aborted, detached */
};

struct mount_watch;

/*
 * Starts watching the connection on `fuse_fd` (the session's /dev/fuse fd) for
 * the mount at `mountpoint` (absolute and canonical, as the mount table holds
 * it). Call once mounted and after fuse_daemonize() (it starts a thread). The
 * caller keeps `fuse_fd` open until mount_watch_stop(). Returns 0 or -errno
 * (-ENOENT: no fuse mount of ours at `mountpoint`).
 */
int mount_watch_start(const char *mountpoint, int fuse_fd, struct mount_watch **out);

/*
 * Stops the watch and frees it (NULL: MOUNT_END_NONE). Call after the FUSE
 * loop returned and before unmounting: when the connection has ended, its
 * verdict was made (and a dead mount detached) by then or is made now.
 * Call from one thread, once.
 */
enum mount_end mount_watch_stop(struct mount_watch *w);

#endif
