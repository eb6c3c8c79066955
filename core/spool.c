/* SPDX-License-Identifier: MIT */
/* spool.c: a private, budgeted directory of spool files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privdir.h"
#include "spool.h"

struct spool {
	char *dir;
	uint64_t max_bytes;
	uint64_t used;
	pthread_mutex_t lock;
};

enum core_rc spool_open(const struct spool_config *cfg, struct spool **out,
			struct core_err *err)
{
	struct spool *s;
	struct stat st;

	*out = NULL;
	if (!cfg->dir || !*cfg->dir)
		return core_err_set(err, CORE_EINVAL, "no spool directory");
	if (privdir_make(cfg->dir) != 0)
		return core_err_set(err, CORE_EIO, "cannot create spool '%s': %s",
				    cfg->dir, strerror(errno));
	if (lstat(cfg->dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return core_err_set(err, CORE_EIO, "spool '%s' is not a directory",
				    cfg->dir);
	if (st.st_uid != geteuid())
		return core_err_set(err, CORE_EINVAL,
				    "spool '%s' belongs to another user", cfg->dir);
	if (st.st_mode & 077)
		return core_err_set(err, CORE_EINVAL,
				    "spool '%s' is accessible to others (mode %03o); "
				    "run: chmod 700 '%s'",
				    cfg->dir, (unsigned)(st.st_mode & 0777), cfg->dir);
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(cfg->dir))) {
		free(s);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	s->max_bytes = cfg->max_bytes;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return CORE_OK;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}

const char *spool_dir(const struct spool *s)
{
	return s->dir;
}

enum core_rc spool_create(struct spool *s, const char *tag, char **path, int *fd,
			  struct core_err *err)
{
	uint8_t rnd[8];
	char name[4096];
	int i, f;

	*path = NULL;
	*fd = -1;
	for (i = 0; i < 8; i++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return core_err_set(err, CORE_EIO, "getrandom failed");
		snprintf(name, sizeof(name), "%s/%s-%02x%02x%02x%02x%02x%02x%02x%02x",
			 s->dir, tag, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
			 rnd[6], rnd[7]);
		f = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (f >= 0) {
			*path = strdup(name);
			if (!*path) {
				close(f);
				unlink(name);
				return core_err_set(err, CORE_ENOMEM, "out of memory");
			}
			*fd = f;
			return CORE_OK;
		}
		if (errno != EEXIST)
			break;
	}
	return core_err_set(err, errno == ENOSPC ? CORE_ENOSPC : CORE_EIO,
			    "cannot create a spool file in '%s': %s", s->dir,
			    strerror(errno));
}

enum core_rc spool_reserve(struct spool *s, uint64_t n, struct core_err *err)
{
	enum core_rc rc = CORE_OK;
	uint64_t used;

	pthread_mutex_lock(&s->lock);
	if (s->max_bytes && s->used + n > s->max_bytes)
		rc = CORE_ENOSPC;
	else
		s->used += n;
	used = s->used;
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return core_err_set(err, rc,
				    "the spool is full (%llu of %llu bytes used by "
				    "submissions and receipts): remove receipts from "
				    "submit/ or mount with a larger -o spool_size=",
				    (unsigned long long)used,
				    (unsigned long long)s->max_bytes);
	return CORE_OK;
}

void spool_unreserve(struct spool *s, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	s->used = n > s->used ? 0 : s->used - n;
	pthread_mutex_unlock(&s->lock);
}

void spool_remove(struct spool *s, const char *path, uint64_t bytes)
{
	if (path)
		unlink(path);
	spool_unreserve(s, bytes);
}

void spool_wipe_data(struct spool *s)
{
	struct dirent *de;
	DIR *d = opendir(s->dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "input-", 6) && strncmp(de->d_name, "upload-", 7))
			continue;
		(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

uint64_t spool_used(struct spool *s)
{
	uint64_t u;

	pthread_mutex_lock(&s->lock);
	u = s->used;
	pthread_mutex_unlock(&s->lock);
	return u;
}

void spool_writeback(int fd, uint64_t size, uint64_t *started)
{
	uint64_t upto = size - size % SPOOL_WRITEBACK_STEP;

	if (upto <= *started)
		return;
	/* A hint only: an error here shows again at the fsync that counts. */
	(void)sync_file_range(fd, (off_t)*started, (off_t)(upto - *started),
			      SYNC_FILE_RANGE_WRITE);
	*started = upto;
}
