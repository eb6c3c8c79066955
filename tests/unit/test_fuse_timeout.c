/* SPDX-License-Identifier: MIT */
/* test_fuse_timeout.c: the kernel FUSE request timeout batchfs reads from fs.fuse sysctls. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuse_timeout.h"
#include "tap.h"

static char dir[] = "/tmp/test_fuse_timeout.XXXXXX";

/* Writes both sysctl files (NULL: the file is absent). */
static void set(const char *def, const char *max)
{
	const char *names[2] = { "default_request_timeout", "max_request_timeout" };
	const char *values[2] = { def, max };
	char path[128];
	int i;

	for (i = 0; i < 2; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
		if (!values[i])
			continue;
		f = fopen(path, "w");
		if (f) {
			fputs(values[i], f);
			fclose(f);
		}
	}
}

static unsigned timeout_with(const char *def, const char *max)
{
	set(def, max);
	return fuse_request_timeout_s(dir);
}

int main(void)
{
	ok(mkdtemp(dir) != NULL, "a scratch directory");
	ok(timeout_with(NULL, NULL) == 0, "no sysctl files (a kernel before 6.14): none");
	ok(fuse_request_timeout_s("/nonexistent") == 0, "no directory: none");
	ok(timeout_with("0\n", "0\n") == 0, "both 0 (the kernel's default): none");
	ok(timeout_with("600\n", "0\n") == 600, "the default applies to a daemon asking none");
	ok(timeout_with("0\n", "300\n") == 300, "the maximum alone applies too");
	ok(timeout_with("600\n", "300\n") == 300, "the maximum caps the default");
	ok(timeout_with("200\n", "300\n") == 200, "a default under the maximum stays");
	ok(timeout_with("5\n", "0\n") == 15, "raised to the kernel's 15 s check period");
	ok(timeout_with("junk\n", NULL) == 0, "an unreadable value counts as none");
	set(NULL, NULL);
	rmdir(dir);
	return done_testing();
}
