/* SPDX-License-Identifier: MIT */
/* fusedev_econnaborted.c: LD_PRELOAD fault for the tests: a /dev/fuse read failing with ENODEV fails with ECONNABORTED. */
/*
 * When a connection ends (unmount or abort) while a daemon thread is taking a
 * request off the queue, Linux answers that read with ECONNABORTED instead of
 * ENODEV (fs/fuse/dev.c, fuse_dev_do_read: "Must not put request on fpq->io
 * queue after having been shut down"). The window is narrow and cannot be
 * opened on demand, so the tests inject that answer: every failed read of the
 * FUSE device that would say ENODEV says ECONNABORTED, as it does when the race
 * is lost. Nothing else changes.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef ssize_t (*read_fn)(int, void *, size_t);

static int is_fuse_device(int fd)
{
	char link[64], target[32];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, "/dev/fuse") == 0;
}

ssize_t read(int fd, void *buf, size_t count)
{
	static read_fn real_read;
	read_fn fn = __atomic_load_n(&real_read, __ATOMIC_ACQUIRE);
	ssize_t n;

	if (!fn) {
		fn = (read_fn)dlsym(RTLD_NEXT, "read");
		if (!fn) {
			errno = ENOSYS;
			return -1;
		}
		__atomic_store_n(&real_read, fn, __ATOMIC_RELEASE);
	}
	n = fn(fd, buf, count);
	if (n < 0 && errno == ENODEV)
		errno = is_fuse_device(fd) ? ECONNABORTED : ENODEV;
	return n;
}
