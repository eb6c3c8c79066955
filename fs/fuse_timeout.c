/* SPDX-License-Identifier: MIT */
/* fuse_timeout.c: the kernel's FUSE request timeout (Linux 6.14+), which aborts a mount whose request waits too long. */
#include <stdio.h>

#include "fuse_timeout.h"

/* The kernel's FUSE_TIMEOUT_TIMER_FREQ: timeouts are checked this often. */
#define KERNEL_TIMEOUT_FLOOR_S 15u

/* One sysctl file's value; 0 when absent or unreadable. */
static unsigned read_sysctl(const char *dir, const char *name)
{
	char path[512];
	unsigned v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%u", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

unsigned fuse_request_timeout_s(const char *sysctl_dir)
{
	unsigned def = read_sysctl(sysctl_dir, "default_request_timeout");
	unsigned max = read_sysctl(sysctl_dir, "max_request_timeout");
	unsigned t = def;

	/* As the kernel's init_server_timeout() does for a daemon asking none. */
	if (max)
		t = t ? (t < max ? t : max) : max;
	if (t && t < KERNEL_TIMEOUT_FLOOR_S)
		t = KERNEL_TIMEOUT_FLOOR_S;
	return t;
}
