/* SPDX-License-Identifier: MIT */
/* privdir.h: creating private (0700) directories, parents included. */
#ifndef BATCHFS_PRIVDIR_H
#define BATCHFS_PRIVDIR_H

/* mkdir -p; directories it creates are 0700. 0, or -1 with errno set.
 * Thread-safe (no shared state). */
int privdir_make(const char *path);

#endif
