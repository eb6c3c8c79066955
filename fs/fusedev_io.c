/* SPDX-License-Identifier: MIT */
/* fusedev_io.c: reading the FUSE device for libfuse: ECONNABORTED read as ENODEV, the connection's end reported once. */
#include <errno.h>
#include <pthread.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fusedev_io.h"

static void (*end_hook)(void); /* set before the loop's threads start */
static bool ended;             /* __atomic */
static bool saw_econnaborted;  /* __atomic */

/* Called by libfuse's workers with cancellation enabled: no stdio, no locks
 * here, except in the end hook, which runs with cancellation disabled. */
static ssize_t device_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	int err = errno, old;

	(void)userdata;
	if (n >= 0 || (err != ENODEV && err != ECONNABORTED))
		return n;
	if (err == ECONNABORTED)
		__atomic_store_n(&saw_econnaborted, true, __ATOMIC_RELAXED);
	if (end_hook && !__atomic_exchange_n(&ended, true, __ATOMIC_ACQ_REL)) {
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
		end_hook();
		pthread_setcancelstate(old, NULL);
	}
	errno = ENODEV;
	return n;
}

static ssize_t device_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	return writev(fd, iov, count);
}

int fusedev_io_install(struct fuse_session *se, void (*on_end)(void))
{
	static const struct fuse_custom_io io = { .read = device_read, .writev = device_writev };

	end_hook = on_end;
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

bool fusedev_io_saw_econnaborted(void)
{
	return __atomic_load_n(&saw_econnaborted, __ATOMIC_RELAXED);
}
