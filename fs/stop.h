/* SPDX-License-Identifier: MIT */
/* stop.h: stopping the mount on SIGTERM/SIGINT/SIGHUP without dropping submissions in flight. */
#ifndef BATCHFS_STOP_H
#define BATCHFS_STOP_H

#include "bfs.h"

struct fuse;

/*
 * Installs signal handlers and a watcher thread. On a stop signal the
 * watcher waits until no submission is being committed (logging what it
 * waits for), then ends the FUSE loop by unmounting. Call stop_end() after
 * the loop returned. Returns 0 or -1.
 */
int stop_begin(struct bfs *b, struct fuse *f);
void stop_end(void);

#endif
