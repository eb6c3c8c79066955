/* SPDX-License-Identifier: MIT */
/* mounted.h: is a FUSE mount still on our mountpoint once the loop ended, and detaching a dead one. */
#ifndef BATCHFS_MOUNTED_H
#define BATCHFS_MOUNTED_H

#include <stdbool.h>

/*
 * The FUSE loop ends the same way (the device read fails) whether the mount
 * was unmounted or its connection aborted (/sys/fs/fuse/connections/N/abort,
 * umount -f, a kernel request timeout). The mount table tells them apart: an
 * unmount has removed the mount before the kernel ends the connection; an
 * abort leaves a dead mount that answers "Transport endpoint is not
 * connected" until someone detaches it.
 *
 * `mountpoint` is an absolute, canonical path (realpath() before mounting:
 * the mount table holds the resolved path). Neither call touches the mount
 * itself (no stat: a dead mount answers ENOTCONN), so both are safe on one.
 * Thread-safe; they keep no state.
 */

/* True when /proc/self/mountinfo holds a fuse mount (type fuse or fuse.*)
 * at `mountpoint`. False when it holds none or cannot be read. */
bool mounted_fuse_at(const char *mountpoint);

/* Detaches the mount at `mountpoint` lazily: umount2(MNT_DETACH) as root,
 * `fusermount3 -u -z` otherwise. Returns 0 or -errno. */
int mounted_detach(const char *mountpoint);

#endif
