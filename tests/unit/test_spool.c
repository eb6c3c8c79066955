/* SPDX-License-Identifier: MIT */
/* test_spool.c: the spool's directory, budget and early writeback. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "tap.h"

int main(void)
{
	char dir[] = "/tmp/test_spool.XXXXXX", sub[64], *path = NULL, *buf;
	struct spool_config cfg = { sub, 3 * SPOOL_WRITEBACK_STEP };
	struct core_err err = CORE_ERR_INIT;
	struct spool *sp = NULL;
	uint64_t started = 0, size = 0, total = 2 * SPOOL_WRITEBACK_STEP + 12345;
	size_t chunk = 1000003;
	struct stat st;
	int fd = -1, pipefd[2];
	bool same = true;

	ok(mkdtemp(dir) != NULL, "a scratch directory");
	snprintf(sub, sizeof(sub), "%s/spool", dir);
	ok(spool_open(&cfg, &sp, &err) == CORE_OK, "opens %s", err.msg);
	ok(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0700, "created 0700");
	ok(spool_create(sp, "input", &path, &fd, &err) == CORE_OK && fd >= 0, "a file");
	buf = malloc(chunk);
	memset(buf, 'j', chunk);

	/* Appends in odd sizes: writeback starts only at whole steps, once each. */
	spool_writeback(fd, 0, &started);
	ok(started == 0, "nothing to start at 0 bytes");
	while (size < total) {
		size_t n = total - size < chunk ? (size_t)(total - size) : chunk;

		if (spool_reserve(sp, n, &err) || pwrite(fd, buf, n, (off_t)size) != (ssize_t)n)
			break;
		size += n;
		spool_writeback(fd, size, &started);
		if (started != size - size % SPOOL_WRITEBACK_STEP)
			break;
	}
	ok(size == total, "every append written and counted");
	ok(started == 2 * SPOOL_WRITEBACK_STEP, "writeback started up to the last whole step (%llu)",
	   (unsigned long long)started);
	spool_writeback(fd, size, &started);
	ok(started == 2 * SPOOL_WRITEBACK_STEP, "calling again starts nothing more");
	ok(fsync(fd) == 0, "fsync after it");
	for (uint64_t off = 0; off < size && same; off += chunk) {
		char *back = calloc(1, chunk);
		ssize_t r = pread(fd, back, chunk, (off_t)off);

		same = r > 0 && memcmp(back, buf, (size_t)r) == 0;
		free(back);
	}
	ok(same, "the bytes read back unchanged");

	/* The budget: 3 steps in all, 2 steps and a bit are used. */
	ok(spool_reserve(sp, SPOOL_WRITEBACK_STEP, &err) == CORE_ENOSPC, "past the budget: ENOSPC");
	ok(err.msg[0] != '\0', "with a message: %s", err.msg);

	/* A hint on something that is not a file does no harm. */
	ok(pipe(pipefd) == 0, "a pipe");
	started = 0;
	spool_writeback(pipefd[1], SPOOL_WRITEBACK_STEP, &started);
	ok(started == SPOOL_WRITEBACK_STEP, "a failing hint is ignored (only fsync reports)");
	close(pipefd[0]);
	close(pipefd[1]);

	close(fd);
	spool_remove(sp, path, size);
	ok(spool_used(sp) == 0, "removing gives the budget back");
	free(path);
	free(buf);
	spool_close(sp);
	rmdir(sub);
	rmdir(dir);
	return done_testing();
}
