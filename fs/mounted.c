/* SPDX-License-Identifier: MIT */
/* mounted.c: is a FUSE mount still on our mountpoint once the loop ended, and detaching a dead one. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mounted.h"

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

/* Whether one mountinfo line ("ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS
 * [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS") is a fuse mount (type fuse or
 * fuse.SUBTYPE) at `mountpoint`. Modifies `line`. */
static bool line_is_fuse_at(char *line, const char *mountpoint)
{
	char *save = NULL, *tok;
	int field = 0;
	bool after_dash = false;

	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), field++) {
		if (after_dash)
			return strcmp(tok, "fuse") == 0 || strncmp(tok, "fuse.", 5) == 0;
		if (field == 4) {
			unescape_octal(tok);
			if (strcmp(tok, mountpoint) != 0)
				return false;
		} else if (field > 5 && strcmp(tok, "-") == 0) {
			after_dash = true;
		}
	}
	return false;
}

bool mounted_fuse_at(const char *mountpoint)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0)
		found = line_is_fuse_at(line, mountpoint);
	free(line);
	fclose(f);
	return found;
}

int mounted_detach(const char *mountpoint)
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
