/* SPDX-License-Identifier: MIT */
/* ops.h: the FUSE operations table of batchfs. */
#ifndef BATCHFS_OPS_H
#define BATCHFS_OPS_H

#include <fuse.h>

extern const struct fuse_operations bfs_ops;

#endif
