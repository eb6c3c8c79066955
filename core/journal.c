/* SPDX-License-Identifier: MIT */
/* journal.c: durable per-submission step logs, and reading them back after a crash. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "journal.h"

#define JOURNAL_MAX (64 * 1024)

struct journal {
	int fd;
	char *path;
};

/* Percent-escapes everything but a safe set, so values never hold spaces,
 * newlines or '='. */
static enum core_rc put_escaped(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	enum core_rc rc = CORE_OK;

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/')
			rc = buf_add(b, s, 1);
		else
			rc = buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
	return rc;
}

static char *unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t i, j = 0;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n + 1 && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char h[3] = { s[i + 1], s[i + 2], 0 };

			out[j++] = (char)strtol(h, NULL, 16);
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return out;
}

static enum core_rc write_durable(int fd, const char *data, size_t len,
				  struct core_err *err)
{
	while (len) {
		ssize_t w = write(fd, data, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return core_err_set(err, errno == ENOSPC ? CORE_ENOSPC : CORE_EIO,
					    "cannot write the journal: %s", strerror(errno));
		}
		data += w;
		len -= (size_t)w;
	}
	if (fdatasync(fd) != 0)
		return core_err_set(err, CORE_EIO, "cannot sync the journal: %s",
				    strerror(errno));
	return CORE_OK;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

enum core_rc journal_begin(const char *dir, const struct journal_info *info,
			   struct journal **out, struct core_err *err)
{
	struct buf line = BUF_INIT(JOURNAL_MAX);
	struct journal *j;
	enum core_rc rc;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (!j || asprintf(&j->path, "%s/%s.journal", dir, info->submit_id) < 0) {
		free(j);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC |
				      O_NOFOLLOW,
		     0600);
	if (j->fd < 0) {
		rc = core_err_set(err, CORE_EIO, "cannot create journal '%s': %s",
				  j->path, strerror(errno));
		free(j->path);
		free(j);
		return rc;
	}
	rc = buf_addstr(&line, "begin name=");
	if (!rc)
		rc = put_escaped(&line, info->name);
	if (!rc)
		rc = buf_addstr(&line, " deployment=");
	if (!rc)
		rc = put_escaped(&line, info->deployment);
	if (!rc)
		rc = buf_printf(&line, " size=%llu sha256=%s submit=%s time=%lld\n",
				(unsigned long long)info->size, info->sha256,
				info->submit_id, (long long)time(NULL));
	if (!rc)
		rc = write_durable(j->fd, line.data, line.len, err);
	else
		core_err_set(err, rc, "journal line too long");
	buf_release(&line);
	if (rc) {
		journal_close(j, true);
		return rc;
	}
	sync_dir(dir);
	*out = j;
	return CORE_OK;
}

enum core_rc journal_step(struct journal *j, const char *step, const char *key,
			  const char *value, struct core_err *err)
{
	struct buf line = BUF_INIT(JOURNAL_MAX);
	enum core_rc rc;

	if (!j)
		return CORE_OK;
	rc = buf_addstr(&line, step);
	if (!rc && key && value) {
		rc = buf_printf(&line, " %s=", key);
		if (!rc)
			rc = put_escaped(&line, value);
	}
	if (!rc)
		rc = buf_addstr(&line, "\n");
	if (!rc)
		rc = write_durable(j->fd, line.data, line.len, err);
	else
		core_err_set(err, rc, "journal line too long");
	buf_release(&line);
	return rc;
}

void journal_close(struct journal *j, bool remove)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (remove)
		unlink(j->path);
	free(j->path);
	free(j);
}

/* Finds " key=value" in a line and returns the unescaped value, or NULL. */
static char *field(const char *line, const char *key)
{
	size_t klen = strlen(key);
	const char *p = line;

	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[klen] == '=') {
			const char *v = p + klen + 1;

			return unescape(v, strcspn(v, " \n"));
		}
		p += klen;
	}
	return NULL;
}

static void record_free(struct journal_record *r)
{
	free(r->path);
	free(r->name);
	free(r->deployment);
	free(r->sha256);
	free(r->submit_id);
	free(r->file_id);
	free(r->batch_id);
}

void journal_records_free(struct journal_record *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		record_free(&r[i]);
	free(r);
}

/* Parses one journal; a torn last line (crash mid-write) is ignored. */
static bool record_read(const char *path, struct journal_record *r)
{
	char text[JOURNAL_MAX + 1], *line, *save = NULL, *v;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return false;
	n = read(fd, text, JOURNAL_MAX);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	/* Only whole lines count. */
	v = strrchr(text, '\n');
	if (!v)
		return false;
	v[1] = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "begin ", 6)) {
			r->name = field(line, "name");
			r->deployment = field(line, "deployment");
			r->sha256 = field(line, "sha256");
			r->submit_id = field(line, "submit");
			v = field(line, "size");
			r->size = v ? strtoull(v, NULL, 10) : 0;
			free(v);
			v = field(line, "time");
			r->time = v ? strtoll(v, NULL, 10) : 0;
			free(v);
			r->state = JOURNAL_BEGUN;
		} else if (!strncmp(line, "uploaded", 8)) {
			free(r->file_id);
			r->file_id = field(line, "file");
			r->state = JOURNAL_UPLOADED;
		} else if (!strcmp(line, "processed")) {
			r->state = JOURNAL_PROCESSED;
		} else if (!strncmp(line, "created", 7)) {
			free(r->batch_id);
			r->batch_id = field(line, "batch");
			r->state = JOURNAL_CREATED;
		} else if (!strcmp(line, "done") || !strcmp(line, "failed")) {
			r->state = JOURNAL_SETTLED;
		}
	}
	if (!r->submit_id || !r->name) {
		record_free(r);
		return false;
	}
	r->path = strdup(path);
	return r->path != NULL;
}

enum core_rc journal_scan(const char *dir, struct journal_record **out,
			  size_t *n, struct core_err *err)
{
	struct journal_record *recs = NULL;
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? CORE_OK
				       : core_err_set(err, CORE_EIO, "cannot read '%s': %s",
						      dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char *path;

		if (len < 9 || strcmp(de->d_name + len - 8, ".journal"))
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct journal_record *g = realloc(recs, nc * sizeof(*g));

			if (!g)
				break;
			recs = g;
			cap = nc;
		}
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			break;
		if (record_read(path, &recs[*n]))
			(*n)++;
		else
			core_err_set(err, CORE_EIO, "unreadable journal '%s' (left in place)",
				     path);
		free(path);
	}
	closedir(d);
	*out = recs;
	return CORE_OK;
}
