/* SPDX-License-Identifier: MIT */
/* mounted.c: how the mount ended, unmounted or aborted, decided when the connection ends; a dead mount detached. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mounted.h"

#define DEV_LEN 32
#define FORCED_UNMOUNT_GRACE_MS 500

/* Written by mounted_identify() before any thread, then only read, except
 * `end`: written by the one mounted_connection_ended() call, read after the
 * loop's workers are joined. */
static struct {
	char mountpoint[PATH_MAX];
	int id;            /* mount ID, 0: unknown */
	char dev[DEV_LEN]; /* MAJ:MIN */
	enum mount_end end;
} ours;

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

/* Whether a mountinfo line ("ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS
 * [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS") is mount `id`, a fuse one at our
 * mountpoint; copies its MAJ:MIN into `dev`. Modifies `line`. */
static bool line_is(char *line, int id, char dev[DEV_LEN])
{
	char *save = NULL, *tok;
	int field = 0;
	bool after_dash = false;

	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), field++) {
		if (after_dash) /* the filesystem type */
			return strcmp(tok, "fuse") == 0 || strncmp(tok, "fuse.", 5) == 0;
		if (field == 0 && atoi(tok) != id)
			return false;
		if (field == 2) {
			snprintf(dev, DEV_LEN, "%s", tok);
		} else if (field == 4) {
			unescape_octal(tok);
			if (strcmp(tok, ours.mountpoint) != 0)
				return false;
		} else if (field > 5 && strcmp(tok, "-") == 0) {
			after_dash = true;
		}
	}
	return false;
}

/* Finds mount `id` at our mountpoint in the mount table; its device goes to
 * `dev`. Returns 1 (found), 0 (not there) or -errno. */
static int table_find(int id, char dev[DEV_LEN])
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return -errno;
	while (!found && getline(&line, &cap, f) > 0)
		found = line_is(line, id, dev);
	free(line);
	fclose(f);
	return found;
}

/* Whether our mount (its ID and device) is still in the mount table: 1, 0 or -errno. */
static int ours_present(void)
{
	char dev[DEV_LEN] = "";
	int rc = table_find(ours.id, dev);

	return rc == 1 ? strcmp(dev, ours.dev) == 0 : rc;
}

/* The mount ID of the mount an open descriptor is on (its fdinfo), or -errno. */
static int mount_id_of(int fd)
{
	char path[64], key[32];
	long value;
	FILE *f;
	int id = -ENOENT;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%31[^:]:%ld\n", key, &value) == 2) {
		if (strcmp(key, "mnt_id") == 0) {
			id = (int)value;
			break;
		}
	}
	fclose(f);
	return id;
}

/* The ID of the top mount at our mountpoint and an O_PATH descriptor of it
 * in *fd (the caller closes it). An O_PATH open sends the daemon nothing. */
static int top_mount(int *fd)
{
	int id;

	*fd = open(ours.mountpoint, O_PATH | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	id = mount_id_of(*fd);
	if (id < 0) {
		close(*fd);
		*fd = -1;
	}
	return id;
}

int mounted_identify(const char *mountpoint)
{
	int fd, id, rc;

	if (snprintf(ours.mountpoint, sizeof(ours.mountpoint), "%s", mountpoint) >=
	    (int)sizeof(ours.mountpoint))
		return -ENAMETOOLONG;
	id = top_mount(&fd);
	if (id < 0)
		return id;
	close(fd);
	rc = table_find(id, ours.dev);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT; /* the top mount there is not a fuse one */
	ours.id = id;
	return 0;
}

/* Waits up to `ms` for our mount to leave the mount table (umount -f removes
 * it right after aborting the connection), woken by each change of the table.
 * Returns 1 (gone), 0 (still there) or -errno. */
static int wait_gone(int ms)
{
	struct timespec start, now;
	struct pollfd p = { .events = POLLPRI };
	int rc, left = ms;

	p.fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (p.fd < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while ((rc = ours_present()) == 1 && left > 0) {
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
				  (now.tv_nsec - start.tv_nsec) / 1000000);
	}
	close(p.fd);
	return rc < 0 ? rc : rc == 0;
}

/* fusermount3 -u -z on our mountpoint, from its own directory when there. */
static int fusermount_detach(void)
{
	char prog[] = "fusermount3", unmount[] = "-u", lazy[] = "-z", end[] = "--";
	char path[] = "PATH=/usr/local/bin:/usr/bin:/bin";
	char *const argv[] = { prog, unmount, lazy, end, ours.mountpoint, NULL };
	char *const envp[] = { path, NULL }; /* nothing of ours: no secrets */
	pid_t pid;
	int status, rc;

	if (access("/usr/bin/fusermount3", X_OK) == 0)
		rc = posix_spawn(&pid, "/usr/bin/fusermount3", NULL, NULL, argv, envp);
	else
		rc = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, envp);
	if (rc != 0)
		return -rc;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* Detaches our dead mount, only when it is the top one at the path. */
static void detach(void)
{
	char self[64];
	int fd, id, rc;

	id = top_mount(&fd);
	if (id < 0) {
		rc = id;
	} else if (id != ours.id) {
		log_error("another mount covers %s: detach the dead one under it with "
			  "umount -l (as root)",
			  ours.mountpoint);
		close(fd);
		return;
	} else if (geteuid() == 0) {
		/* the descriptor's own mount, whatever the path holds now */
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		rc = umount2(self, MNT_DETACH) == 0 ? 0 : -errno;
	} else {
		rc = fusermount_detach();
	}
	if (fd >= 0)
		close(fd);
	if (rc < 0 && ours_present() == 1)
		log_error("cannot detach %s (%s): run fusermount3 -u -z %s", ours.mountpoint,
			  strerror(-rc), ours.mountpoint);
}

void mounted_connection_ended(void)
{
	int rc;

	if (!ours.id) {
		ours.end = MOUNT_END_UNMOUNTED; /* unknown: see mounted_identify() */
		return;
	}
	rc = ours_present();
	if (rc == 1)
		rc = wait_gone(FORCED_UNMOUNT_GRACE_MS) == 1 ? 0 : 1;
	if (rc == 0) {
		ours.end = MOUNT_END_UNMOUNTED;
		return;
	}
	ours.end = MOUNT_END_ABORTED;
	if (rc < 0) {
		log_error("the FUSE connection of %s ended and the mount table cannot be "
			  "read (%s): if it answers 'Transport endpoint is not connected', "
			  "run fusermount3 -u -z %s",
			  ours.mountpoint, strerror(-rc), ours.mountpoint);
		return;
	}
	log_error("the FUSE connection of %s was aborted (its abort file under "
		  "/sys/fs/fuse/connections or a kernel request timeout): "
		  "detaching the dead mount",
		  ours.mountpoint);
	detach();
}

enum mount_end mounted_end(void)
{
	return ours.end;
}
