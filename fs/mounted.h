/* SPDX-License-Identifier: MIT */
/* mounted.h: how the mount ended, unmounted or aborted, decided when the connection ends; a dead mount detached. */
#ifndef BATCHFS_MOUNTED_H
#define BATCHFS_MOUNTED_H

/*
 * The kernel ends a FUSE connection the same way whether the mount was
 * unmounted or aborted (/sys/fs/fuse/connections/N/abort, umount -f, a kernel
 * request timeout): the device reads fail. The mount table tells them apart:
 * an unmount has removed our mount; an abort leaves a dead mount that answers
 * "Transport endpoint is not connected" to everyone until it is detached
 * (libfuse leaves it).
 *
 * Our mount is known by its mount ID and device number, read when mounted.
 * The decision is made when the first device read fails (fusedev_io.h), not
 * when the FUSE loop returns: libfuse joins its workers first, one may still
 * be uploading for minutes, and by then the path may be mounted again (by a
 * restart) and the numbers reused. umount -f aborts the connection a moment
 * before it removes the mount, so a mount still there gets half a second to
 * go (watching the mount table, not sleeping) before it counts as aborted.
 * An aborted mount is logged and detached, exactly ours: as root through an
 * O_PATH descriptor of the path whose mount ID is checked, otherwise with
 * `fusermount3 -u -z` after the same check. No step touches the mount (a dead
 * one answers ENOTCONN): mountinfo, fdinfo and O_PATH opens send the daemon
 * nothing.
 *
 * One mount per process: the state is the file's own.
 */

enum mount_end {
	MOUNT_END_NONE,      /* the connection has not ended (a stop signal ended the loop) */
	MOUNT_END_UNMOUNTED, /* ended by an unmount: a clean stop */
	MOUNT_END_ABORTED,   /* ended with our mount in place: aborted (detached if we could) */
};

/* Records which mount is ours. Call right after fuse_mount(), before the
 * loop's threads. Returns 0 or -errno (without it every end counts as an
 * unmount and a dead mount is left). */
int mounted_identify(const char *mountpoint);

/* The connection ended: decides how, logs and detaches an aborted mount.
 * Called once, by the device reader (fusedev_io_install()'s on_end). */
void mounted_connection_ended(void);

/* What mounted_connection_ended() decided; MOUNT_END_NONE before it ran.
 * Read it after the FUSE loop returned (its workers are joined then). */
enum mount_end mounted_end(void);

#endif
