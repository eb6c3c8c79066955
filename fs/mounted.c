/* SPDX-License-Identifier: MIT */
/* mounted.c: how the mount ended (unmounted or aborted), told the moment the kernel ends the connection; a dead mount detached. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "log.h"
#include "mounted.h"

#define DEV_LEN 32

struct mount_watch {
	pthread_t thread;
	int fuse_fd;
	int wake_fd; /* eventfd written by mount_watch_stop() */
	char *mountpoint;
	char dev[DEV_LEN]; /* our mount's MAJ:MIN */
	enum mount_end end; /* written by the thread, read after the join */
};

static bool saw_econnaborted; /* __atomic: set by libfuse's workers */

/* No stdio here: libfuse cancels its workers while they are in this call. */
static ssize_t device_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n < 0 && errno == ECONNABORTED) {
		__atomic_store_n(&saw_econnaborted, true, __ATOMIC_RELAXED);
		errno = ENODEV;
	}
	return n;
}

static ssize_t device_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	return writev(fd, iov, count);
}

int mounted_device_io(struct fuse_session *se)
{
	static const struct fuse_custom_io io = { .read = device_read, .writev = device_writev };

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

bool mounted_saw_econnaborted(void)
{
	return __atomic_load_n(&saw_econnaborted, __ATOMIC_RELAXED);
}

/* What the mount table holds at one path. */
struct table_scan {
	const char *mountpoint;
	const char *ours; /* MAJ:MIN to look for, or NULL */
	bool ours_present;
	bool any;          /* something is mounted there */
	bool top_fuse;     /* the top (last listed) mount there is a fuse one */
	char top_dev[DEV_LEN];
};

/* Undoes the kernel's octal escapes of mountinfo paths (space \040, tab
 * \011, newline \012, backslash \134), in place. */
static void unescape_octal(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] -
 * FSTYPE SOURCE SUPEROPTS". Modifies `line`. */
static void scan_line(char *line, struct table_scan *s)
{
	char *save = NULL, *tok, *dev = NULL;
	int field = 0;
	bool after_dash = false;

	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), field++) {
		if (after_dash) { /* the filesystem type: the last field we need */
			s->any = true;
			s->top_fuse = strcmp(tok, "fuse") == 0 || strncmp(tok, "fuse.", 5) == 0;
			snprintf(s->top_dev, sizeof(s->top_dev), "%s", dev);
			if (s->ours && s->top_fuse && strcmp(dev, s->ours) == 0)
				s->ours_present = true;
			return;
		}
		if (field == 2) {
			dev = tok;
		} else if (field == 4) {
			unescape_octal(tok);
			if (strcmp(tok, s->mountpoint) != 0)
				return;
		} else if (field > 5 && strcmp(tok, "-") == 0) {
			after_dash = true;
		}
	}
}

/* Fills `s` from /proc/self/mountinfo. Returns 0 or -errno. */
static int scan_table(struct table_scan *s)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0)
		scan_line(line, s);
	free(line);
	fclose(f);
	return 0;
}

/* Detaches the top mount at `mountpoint` lazily. Returns 0 or -errno. */
static int detach(const char *mountpoint)
{
	char prog[] = "fusermount3", unmount[] = "-u", lazy[] = "-z", end[] = "--";
	char path[] = "PATH=/usr/local/bin:/usr/bin:/bin";
	char *const argv[] = { prog, unmount, lazy, end, (char *)mountpoint, NULL };
	char *const envp[] = { path, NULL }; /* nothing of ours: no secrets */
	pid_t pid;
	int status, rc;

	if (geteuid() == 0)
		return umount2(mountpoint, MNT_DETACH) == 0 ? 0 : -errno;
	rc = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, envp);
	if (rc != 0)
		return -rc;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The connection ended: unmounted, or aborted with our mount left (detached here). */
static void decide(struct mount_watch *w)
{
	struct table_scan s = { .mountpoint = w->mountpoint, .ours = w->dev };
	int rc;

	if (scan_table(&s) != 0 || !s.ours_present) {
		w->end = MOUNT_END_UNMOUNTED;
		return;
	}
	w->end = MOUNT_END_ABORTED;
	log_error("the FUSE connection of %s was aborted (its abort file under "
		  "/sys/fs/fuse/connections, umount -f or a kernel request timeout): "
		  "detaching the dead mount",
		  w->mountpoint);
	if (!s.top_fuse || strcmp(s.top_dev, w->dev) != 0) {
		log_error("another mount covers %s: detach the dead one under it with "
			  "umount -l (as root)",
			  w->mountpoint);
		return;
	}
	rc = detach(w->mountpoint);
	if (rc < 0) {
		struct table_scan again = { .mountpoint = w->mountpoint, .ours = w->dev };

		/* umount -f detaches it itself right after the abort */
		if (scan_table(&again) == 0 && !again.ours_present)
			return;
		log_error("cannot detach %s (%s): run fusermount3 -u -z %s", w->mountpoint,
			  strerror(-rc), w->mountpoint);
	}
}

static void *watch_main(void *arg)
{
	struct mount_watch *w = arg;
	/* events 0: poll() reports POLLERR (the connection ended) all the same */
	struct pollfd p[2] = { { w->fuse_fd, 0, 0 }, { w->wake_fd, POLLIN, 0 } };

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("cannot watch the FUSE connection: %s", strerror(errno));
			return NULL;
		}
		if (p[0].revents & (POLLERR | POLLHUP)) {
			decide(w);
			return NULL;
		}
		if (p[1].revents & POLLIN) {
			/* Stopped: the loop may have returned because the connection
			 * ended a moment ago; look once more. */
			struct pollfd last = { w->fuse_fd, 0, 0 };

			if (poll(&last, 1, 0) == 1 && (last.revents & (POLLERR | POLLHUP)))
				decide(w);
			return NULL;
		}
	}
}

int mount_watch_start(const char *mountpoint, int fuse_fd, struct mount_watch **out)
{
	struct table_scan s = { .mountpoint = mountpoint };
	struct mount_watch *w;
	int rc;

	*out = NULL;
	rc = scan_table(&s);
	if (rc < 0)
		return rc;
	if (!s.any || !s.top_fuse)
		return -ENOENT;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fuse_fd = fuse_fd;
	w->end = MOUNT_END_NONE;
	snprintf(w->dev, sizeof(w->dev), "%s", s.top_dev);
	w->mountpoint = strdup(mountpoint);
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (!w->mountpoint || w->wake_fd < 0) {
		rc = w->mountpoint ? -errno : -ENOMEM;
		goto fail;
	}
	rc = -pthread_create(&w->thread, NULL, watch_main, w);
	if (rc == 0) {
		*out = w;
		return 0;
	}
fail:
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	free(w->mountpoint);
	free(w);
	return rc;
}

enum mount_end mount_watch_stop(struct mount_watch *w)
{
	uint64_t one = 1;
	enum mount_end end;

	if (!w)
		return MOUNT_END_NONE;
	if (write(w->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		log_warn("cannot stop the FUSE connection watch: %s", strerror(errno));
	pthread_join(w->thread, NULL);
	end = w->end;
	close(w->wake_fd);
	free(w->mountpoint);
	free(w);
	return end;
}
