/* SPDX-License-Identifier: MIT */
/* fuse_timeout.h: the kernel's FUSE request timeout (Linux 6.14+), which aborts a mount whose request waits too long. */
#ifndef BATCHFS_FUSE_TIMEOUT_H
#define BATCHFS_FUSE_TIMEOUT_H

/*
 * Since Linux 6.14 the kernel can abort a FUSE connection whose request goes
 * unanswered for too long: fs.fuse.default_request_timeout applies to a daemon
 * that asks for no timeout (batchfs asks for none; libfuse 3.14 cannot), and
 * fs.fuse.max_request_timeout caps every daemon, applying even when the
 * default is 0. A close() in submit/ is such a request: it waits for the
 * upload and for the service to process it. An abort ends the whole mount.
 *
 * Returns the timeout in seconds the kernel gives a new batchfs mount, read
 * from `sysctl_dir` (normally "/proc/sys/fs/fuse"): 0 when none applies or
 * the files are absent (an older kernel). The kernel checks every 15 s, so a
 * timeout below that is raised to 15. Thread-safe; keeps no state.
 */
unsigned fuse_request_timeout_s(const char *sysctl_dir);

#endif
