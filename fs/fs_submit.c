/* SPDX-License-Identifier: MIT */
/* fs_submit.c: deployments/D/submit/: the drop box where a written or renamed NAME.jsonl becomes a batch. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>

#include "bfs.h"
#include "log.h"

/*
 * DESIGN
 * ------
 * Each name in submit/ is an entry holding a submission (core/submission.h):
 * the bytes as written, validated while they arrive. A candidate name
 * (NAME.jsonl, not hidden) is committed (upload, wait for processing,
 * create the batch) when its writer closes it (flush from the opening
 * process, with data written) or, as a fallback, at release; or when a
 * staged file is renamed to a candidate name (rsync, editors). The commit
 * runs without any lock held; the entry's state (COMMITTING) keeps writers
 * out meanwhile. Its outcome is what close()/rename() return; a failure's
 * reason is kept as NAME.jsonl.error next to it and in .batchfs/errors.
 * After success the name stays as a receipt (same bytes, same size) so
 * that cp -p, rsync -a and mv can finish their metadata calls; removing
 * it never touches the batch.
 */

static void entry_ref_locked(struct entry *e)
{
	e->refs++;
}

/* Drops a reference; the last one frees the entry. Caller holds deps_lock. */
static void entry_unref_locked(struct entry *e)
{
	if (--e->refs)
		return;
	submission_free(e->sub);
	free(e->name);
	free(e->batch_id);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void entry_unref_cb(void *p)
{
	entry_unref_locked(p);
}

static struct drop *drop_get_locked(struct bfs *b, const char *dep)
{
	return strmap_get(b->deps, dep);
}

static void now_ts(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static enum core_rc entry_new_submission(struct bfs *b, const char *dep,
					 const char *name,
					 struct submission **out,
					 struct core_err *err)
{
	struct submission_config sc = {
		.deployment = dep,
		.name = name,
		.max_requests = b->cfg.max_requests,
		.max_bytes = b->cfg.max_input_bytes,
		.surface = api_client_surface(b->api),
		.process_timeout_ms = b->cfg.process_timeout_ms,
		/* Only a name that is submitted at close streams: a staged
		 * name (rsync's .NAME.XXXX) would be uploaded under it. */
		.stream_after = submit_name_is_candidate(name) ? b->cfg.stream_after : 0,
		.streams = &b->streams,
		.api = b->api,
	};

	return submission_new(b->spool, &sc, out, err);
}

int submit_getattr(struct bfs *b, const struct bfs_path *p, struct stat *st)
{
	struct drop *d;
	struct entry *e;
	const char *reason;
	size_t base;
	int ret = -ENOENT;

	pthread_mutex_lock(&b->deps_lock);
	d = drop_get_locked(b, p->dep);
	if (d && p->kind == NODE_SUBMIT_DIR) {
		bfs_stat_dir(st, b->started);
		ret = 0;
	} else if (d && (e = strmap_get(d->entries, p->name))) {
		bfs_stat_file(st, e->mode, (off_t)e->size, e->mtime.tv_sec);
		st->st_mtim = e->mtime;
		st->st_ctim = e->ctime;
		ret = 0;
	} else if (d && submit_name_is_reason(p->name, &base)) {
		char key[256];

		snprintf(key, sizeof(key), "%.*s", (int)base, p->name);
		reason = strmap_get(d->reasons, key);
		if (reason) {
			bfs_stat_file(st, 0444, (off_t)strlen(reason), b->started);
			ret = 0;
		}
	}
	pthread_mutex_unlock(&b->deps_lock);
	return ret;
}

struct readdir_ctx {
	char **names;
	size_t n, cap;
	bool oom;
	const char *suffix;
};

static void add_name(const char *key, void *value, void *ctx)
{
	struct readdir_ctx *r = ctx;
	char *s;

	(void)value;
	if (r->oom)
		return;
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 32;
		char **g = realloc(r->names, nc * sizeof(*g));

		if (!g) {
			r->oom = true;
			return;
		}
		r->names = g;
		r->cap = nc;
	}
	s = malloc(strlen(key) + strlen(r->suffix) + 1);
	if (!s) {
		r->oom = true;
		return;
	}
	strcpy(s, key);
	strcat(s, r->suffix);
	r->names[r->n++] = s;
}

int submit_readdir(struct bfs *b, const char *dep, bfs_fill_fn fill, void *ctx)
{
	struct readdir_ctx r = { NULL, 0, 0, false, "" };
	struct drop *d;
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&b->deps_lock);
	d = drop_get_locked(b, dep);
	if (!d) {
		ret = -ENOENT;
	} else {
		strmap_each(d->entries, add_name, &r);
		r.suffix = ".error";
		strmap_each(d->reasons, add_name, &r);
	}
	pthread_mutex_unlock(&b->deps_lock);
	for (i = 0; i < r.n; i++) {
		if (!ret && !r.oom && bfs_name_ok(r.names[i]) &&
		    fill(ctx, r.names[i], NULL))
			ret = 1;
		free(r.names[i]);
	}
	free(r.names);
	if (r.oom)
		return -ENOMEM;
	return ret > 0 ? 0 : ret;
}

static int handle_for(struct bfs *b, struct drop *d, struct entry *e,
		      struct fuse_file_info *fi)
{
	struct handle *h = handle_new(H_SUBMIT);

	(void)b;
	if (!h)
		return -ENOMEM;
	h->entry = e;
	h->drop = d;
	h->opener = fuse_get_context()->pid;
	h->write_mode = (fi->flags & O_ACCMODE) != O_RDONLY;
	fi->fh = (uint64_t)(uintptr_t)h;
	/* Content and size follow the submission exactly: no page cache. */
	fi->direct_io = 1;
	return 0;
}

/* Forgets the failure reason of name (a new attempt starts). */
static void reason_clear_locked(struct drop *d, const char *name)
{
	free(strmap_take(d->reasons, name));
}

/*
 * A new entry for name, with its own submission, put in the table in place
 * of any older one (which lives on for its open handles and its commit:
 * every writer that truncates gets private bytes, last close decides).
 */
static int entry_open_new(struct bfs *b, const char *dep, const char *name,
			  mode_t mode, bool created, struct fuse_file_info *fi)
{
	struct core_err err = CORE_ERR_INIT;
	struct submission *sub = NULL;
	struct drop *d;
	struct entry *e;
	enum core_rc rc;
	int ret;

	rc = entry_new_submission(b, dep, name, &sub, &err);
	if (rc) {
		errlog_add(b->errors, "submit %s/%s: %s%s", dep, name, err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name))) {
		free(e);
		submission_free(sub);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->sub = sub;
	e->state = ENTRY_STAGING;
	e->mode = mode;
	e->dirty = true;
	now_ts(&e->mtime);
	e->ctime = e->mtime;
	e->refs = 1; /* the table */

	pthread_mutex_lock(&b->deps_lock);
	d = drop_get_locked(b, dep);
	if (!d) {
		ret = -ENOENT;
	} else if (strmap_put(d->entries, name, e)) {
		ret = -ENOMEM;
	} else {
		reason_clear_locked(d, name);
		entry_ref_locked(e); /* the handle */
		e->writers++;
		ret = handle_for(b, d, e, fi);
		if (!ret) {
			struct handle *h = (struct handle *)(uintptr_t)fi->fh;

			h->created = created;
			h->wrote = !created; /* opened with O_TRUNC */
		} else {
			e->writers--;
			e->refs--;
		}
		e = NULL; /* owned by the table now */
	}
	pthread_mutex_unlock(&b->deps_lock);
	if (e) {
		submission_free(e->sub);
		free(e->name);
		pthread_mutex_destroy(&e->lock);
		free(e);
	}
	return ret;
}

int submit_create(struct bfs *b, const struct bfs_path *p, mode_t mode,
		  struct fuse_file_info *fi)
{
	size_t base;

	if (!bfs_name_ok(p->name))
		return -EINVAL;
	if (submit_name_is_reason(p->name, &base))
		return -EPERM; /* reserved for failure reasons */
	if (!deps_has(b, p->dep))
		return -ENOENT;
	return entry_open_new(b, p->dep, p->name,
			      (mode & 0777) ? (mode & 0666) : 0644, true, fi);
}

int submit_open(struct bfs *b, const struct bfs_path *p,
		struct fuse_file_info *fi)
{
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct drop *d;
	struct entry *e;
	size_t base;
	int ret = 0;

	pthread_mutex_lock(&b->deps_lock);
	d = drop_get_locked(b, p->dep);
	e = d ? strmap_get(d->entries, p->name) : NULL;
	if (!e) {
		char key[256];
		const char *reason;

		ret = -ENOENT;
		if (d && submit_name_is_reason(p->name, &base) && !writing) {
			snprintf(key, sizeof(key), "%.*s", (int)base, p->name);
			reason = strmap_get(d->reasons, key);
			if (reason) {
				struct buf text = BUF_INIT(0);

				ret = buf_addstr(&text, reason) ? -ENOMEM : 0;
				pthread_mutex_unlock(&b->deps_lock);
				if (ret) {
					buf_release(&text);
					return ret;
				}
				return snapshot_open(fi, &text);
			}
		}
		pthread_mutex_unlock(&b->deps_lock);
		return ret;
	}
	if (writing && (fi->flags & O_TRUNC)) {
		/* A fresh, private submission under this name. */
		mode_t mode = e->mode;

		pthread_mutex_unlock(&b->deps_lock);
		return entry_open_new(b, p->dep, p->name, mode, false, fi);
	}
	/* A receipt opened for writing without O_TRUNC cannot be edited
	 * (writes fail with EPERM) but may be truncated to 0 first, as
	 * truncate(1) does: open, ftruncate, close. */
	if (writing && e->state == ENTRY_COMMITTING)
		ret = -EBUSY;
	if (!ret) {
		entry_ref_locked(e);
		if (writing)
			e->writers++;
	}
	pthread_mutex_unlock(&b->deps_lock);
	if (ret)
		return ret;

	ret = handle_for(b, d, e, fi);
	if (!ret)
		return 0;
	pthread_mutex_lock(&b->deps_lock);
	if (writing)
		e->writers--;
	entry_unref_locked(e);
	pthread_mutex_unlock(&b->deps_lock);
	return ret;
}

int submit_write(struct bfs *b, struct handle *h, const char *data, size_t len,
		 off_t off)
{
	struct core_err err = CORE_ERR_INIT;
	struct entry *e = h->entry;
	uint64_t size;
	enum core_rc rc = CORE_OK;
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	pthread_mutex_lock(&b->deps_lock);
	if (e->state == ENTRY_COMMITTING)
		ret = -EBUSY;
	else if (e->state != ENTRY_STAGING)
		ret = -EPERM;
	pthread_mutex_unlock(&b->deps_lock);
	if (!ret)
		rc = submission_write(e->sub, data, len, (uint64_t)off, &err);
	pthread_mutex_unlock(&e->lock);
	if (ret)
		return ret;
	h->wrote = true;
	pthread_mutex_lock(&e->lock);
	size = submission_size(e->sub);
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_lock(&b->deps_lock);
	e->size = size;
	e->dirty = true;
	now_ts(&e->mtime);
	if (!rc)
		reason_clear_locked(h->drop, e->name);
	if (rc) {
		/* Remember why: a later close must not submit a partial file. */
		char *why = NULL;

		if (asprintf(&why, "%s: writing failed (%s): %s\n", e->name,
			     core_rc_str(rc), err.msg) > 0 &&
		    strmap_put(h->drop->reasons, e->name, why) == CORE_OK)
			why = NULL;
		free(why);
		e->state = ENTRY_FAILED;
		e->write_failed = true;
	}
	pthread_mutex_unlock(&b->deps_lock);
	if (rc) {
		errlog_add(b->errors, "submit %s/%s: %s%s", h->drop->deployment, e->name,
			   err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	return (int)len;
}

int submit_read(struct bfs *b, struct handle *h, char *buf, size_t len, off_t off)
{
	struct entry *e = h->entry;
	ssize_t n;

	(void)b;
	pthread_mutex_lock(&e->lock);
	n = pread(submission_fd(e->sub), buf, len, off);
	pthread_mutex_unlock(&e->lock);
	return n < 0 ? -EIO : (int)n;
}

/* Sets the reason of a failed entry from its submission's report. */
static void set_reason_locked(struct drop *d, struct entry *e,
			      const char *fallback)
{
	const char *rep = submission_report(e->sub);
	char *why = strdup(rep[0] ? rep : fallback);

	if (!why)
		return;
	if (strmap_put(d->reasons, e->name, why))
		free(why);
}

/* Validates the written bytes, uploads them and creates the batch.
 * Returns 0 or -errno; the outcome is also recorded in the entry. */
static int commit(struct bfs *b, struct drop *d, struct entry *e)
{
	struct core_err err = CORE_ERR_INIT;
	struct batch bt = { 0 };
	char *key = NULL, *shared = NULL;
	enum core_rc rc;
	char fallback[700];

	pthread_mutex_lock(&e->lock);
	pthread_mutex_lock(&b->deps_lock);
	if (e->write_failed) {
		/* A write already failed: never submit what is left. */
		e->dirty = false;
		pthread_mutex_unlock(&b->deps_lock);
		pthread_mutex_unlock(&e->lock);
		return -EIO;
	}
	if (e->state != ENTRY_STAGING) {
		pthread_mutex_unlock(&b->deps_lock);
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
	e->state = ENTRY_COMMITTING;
	e->dirty = false;
	pthread_mutex_unlock(&b->deps_lock);
	rc = submission_set_name(e->sub, e->name);
	if (!rc)
		rc = submission_finish(e->sub, &err);
	if (!rc && asprintf(&key, "%s\n%s\n%s", d->deployment, e->name,
			    submission_sha256(e->sub)) < 0)
		key = NULL;
	pthread_mutex_unlock(&e->lock);

	/* No lock from here on: the network. The same bytes under the same
	 * name to the same deployment, already in flight: share its outcome
	 * rather than create a second batch. After a failure, retry. */
	if (!rc && key && inflight_busy(b->inflight, key))
		/* The same bytes are being submitted: this upload is not
		 * needed (should that one fail, this one uploads at once). */
		submission_abandon(e->sub);
	while (!rc && key) {
		enum core_rc theirs;

		if (inflight_join(b->inflight, key, &theirs, &shared)) {
			rc = submission_commit(e->sub, b->api, &bt, &err);
			inflight_finish(b->inflight, key, rc, rc ? NULL : bt.id);
			break;
		}
		if (theirs == CORE_OK && shared) {
			log_info("%s/%s: identical to a submission in flight; shares batch %s",
				 d->deployment, e->name, shared);
			submission_abandon(e->sub); /* (if it joined before the first) */
			break;
		}
		free(shared);
		shared = NULL;
	}
	if (!rc && !key)
		rc = submission_commit(e->sub, b->api, &bt, &err);
	free(key);

	snprintf(fallback, sizeof(fallback), "%s: %s\n", e->name, err.msg);
	pthread_mutex_lock(&b->deps_lock);
	if (!rc) {
		e->state = ENTRY_DONE;
		free(e->batch_id);
		e->batch_id = shared ? shared : strdup(bt.id);
		shared = NULL;
		reason_clear_locked(d, e->name);
	} else {
		e->state = ENTRY_FAILED;
		set_reason_locked(d, e, fallback);
	}
	pthread_mutex_unlock(&b->deps_lock);
	if (!rc) {
		if (bt.id) {
			cache_batch_put(b->cache, &bt);
			log_info("submitted %s/%s as %s", d->deployment, e->name, bt.id);
		}
		batch_release(&bt);
		return 0;
	}
	errlog_add(b->errors, "submit %s/%s: %s%s", d->deployment, e->name, err.msg, bfs_hint(err.rc));
	return bfs_errno(rc);
}

/*
 * Whether pid is a process being torn down by a signal (Ctrl-C, kill): the
 * kernel closes its files as it exits, which looks like a normal close. Its
 * /proc/PID/stat says PF_EXITING in flags (field 9) and the signal in the
 * low bits of exit_code (field 52, Linux >= 3.5).
 */
static bool killed_by_signal(pid_t pid)
{
	char path[64], text[2048], *p;
	unsigned long long flags = 0, code = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	p = strrchr(text, ')'); /* the command name may hold spaces */
	if (!p)
		return false;
	for (field = 2; p && *p; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			break;
		if (field + 1 == 9)
			flags = strtoull(p + 1, NULL, 10);
		if (field + 1 == 52)
			code = strtoull(p + 1, NULL, 10);
	}
	return (flags & 0x4) && (code & 0x7f); /* PF_EXITING, WTERMSIG */
}

/* The writer died by a signal mid-way: never submit the part it wrote. */
static int abandon(struct bfs *b, struct handle *h)
{
	struct entry *e = h->entry;
	char *why = NULL;
	bool staging;

	h->wrote = false;
	h->created = false;
	pthread_mutex_lock(&e->lock);
	pthread_mutex_lock(&b->deps_lock);
	staging = e->state == ENTRY_STAGING;
	pthread_mutex_unlock(&b->deps_lock);
	if (staging)
		submission_abandon(e->sub); /* what was written never reaches the service */
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_lock(&b->deps_lock);
	if (e->state == ENTRY_STAGING) {
		e->state = ENTRY_FAILED;
		e->write_failed = true;
		if (asprintf(&why, "%s: the writing process was interrupted by a signal "
			     "before it finished; nothing was submitted\n", e->name) > 0 &&
		    strmap_put(h->drop->reasons, e->name, why) == CORE_OK)
			why = NULL;
		free(why);
	}
	pthread_mutex_unlock(&b->deps_lock);
	errlog_add(b->errors, "submit %s/%s: writer interrupted; nothing submitted",
		   h->drop->deployment, e->name);
	return 0;
}

int submit_flush(struct bfs *b, struct handle *h, pid_t pid)
{
	struct entry *e = h->entry;
	uint64_t size;
	int ret;

	if (pid != h->opener || !(h->wrote || h->created) ||
	    !submit_name_is_candidate(e->name))
		return 0;
	if (killed_by_signal(pid))
		return abandon(b, h);
	pthread_mutex_lock(&b->deps_lock);
	if (e->write_failed) {
		/* Its reason is already recorded; never submit the rest. */
		pthread_mutex_unlock(&b->deps_lock);
		h->wrote = false;
		h->created = false;
		return -EIO;
	}
	pthread_mutex_unlock(&b->deps_lock);
	pthread_mutex_lock(&e->lock);
	size = submission_size(e->sub);
	pthread_mutex_unlock(&e->lock);
	if (size == 0) {
		/*
		 * Nothing written yet. This may be the final close of an
		 * empty file (cp /dev/null) or a shell closing its copy of
		 * the fd after dup2 before the command writes: say why it
		 * cannot be submitted, but keep the file open for writing.
		 * The next write clears the reason; release still decides.
		 */
		char *why = NULL;

		if (asprintf(&why, "%s: 1 problem found; nothing was uploaded\n"
			     "file: empty_file: The input file is empty. Please ensure "
			     "that the batch contains at least one request.\n",
			     e->name) < 0)
			return -EINVAL;
		pthread_mutex_lock(&b->deps_lock);
		if (strmap_put(h->drop->reasons, e->name, why))
			free(why);
		pthread_mutex_unlock(&b->deps_lock);
		errlog_add(b->errors, "submit %s/%s: closed with nothing written (empty_file)",
			   h->drop->deployment, e->name);
		return -EINVAL;
	}
	ret = commit(b, h->drop, e);
	h->wrote = false;
	h->created = false;
	return ret;
}

void submit_drop_handle(struct bfs *b, struct handle *h)
{
	pthread_mutex_lock(&b->deps_lock);
	if (h->write_mode)
		h->entry->writers--;
	entry_unref_locked(h->entry);
	pthread_mutex_unlock(&b->deps_lock);
	h->entry = NULL;
}

void submit_release(struct bfs *b, struct handle *h)
{
	struct entry *e = h->entry;
	bool candidate;

	pthread_mutex_lock(&b->deps_lock);
	candidate = submit_name_is_candidate(e->name);
	pthread_mutex_unlock(&b->deps_lock);
	/* The fallback commit: data written but no flush from the opener
	 * committed it (another process closed last, or nothing was written
	 * to a new file). Its outcome is kept in .error. */
	if ((h->wrote || h->created) && candidate)
		(void)commit(b, h->drop, e);
	submit_drop_handle(b, h);
}

int submit_truncate(struct bfs *b, const struct bfs_path *p, off_t size,
		    struct fuse_file_info *fi)
{
	struct core_err err = CORE_ERR_INIT;
	struct drop *d;
	struct entry *e;
	enum core_rc rc;
	int ret = 0;

	(void)fi;
	pthread_mutex_lock(&b->deps_lock);
	d = drop_get_locked(b, p->dep);
	e = d ? strmap_get(d->entries, p->name) : NULL;
	if (!e)
		ret = -ENOENT;
	else if (e->state == ENTRY_COMMITTING)
		ret = -EBUSY;
	else
		entry_ref_locked(e);
	pthread_mutex_unlock(&b->deps_lock);
	if (ret)
		return ret;
	pthread_mutex_lock(&e->lock);
	if ((uint64_t)size == submission_size(e->sub))
		rc = CORE_OK;
	else if (size == 0)
		rc = submission_reset(e->sub, &err);
	else
		rc = core_err_set(&err, CORE_EINVAL, "only truncation to 0 is supported");
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_lock(&b->deps_lock);
	if (!rc && size == 0) {
		e->size = 0;
		e->state = ENTRY_STAGING;
		e->dirty = true;
		free(e->batch_id);
		e->batch_id = NULL;
		now_ts(&e->mtime);
		reason_clear_locked(d, e->name);
	}
	entry_unref_locked(e);
	pthread_mutex_unlock(&b->deps_lock);
	return bfs_errno(rc);
}

int submit_setattr(struct bfs *b, const struct bfs_path *p, const mode_t *mode,
		   const struct timespec tv[2])
{
	struct drop *d;
	struct entry *e;
	int ret = 0;

	pthread_mutex_lock(&b->deps_lock);
	d = drop_get_locked(b, p->dep);
	e = d ? strmap_get(d->entries, p->name) : NULL;
	if (!e) {
		ret = -ENOENT;
	} else {
		if (mode)
			e->mode = *mode & 07777;
		if (tv) {
			if (tv[1].tv_nsec == UTIME_NOW)
				now_ts(&e->mtime);
			else if (tv[1].tv_nsec != UTIME_OMIT)
				e->mtime = tv[1];
		}
		now_ts(&e->ctime);
	}
	pthread_mutex_unlock(&b->deps_lock);
	return ret;
}

int submit_unlink(struct bfs *b, const struct bfs_path *p)
{
	struct drop *d;
	struct entry *e;
	size_t base;
	int ret = 0;

	pthread_mutex_lock(&b->deps_lock);
	d = drop_get_locked(b, p->dep);
	e = d ? strmap_get(d->entries, p->name) : NULL;
	if (!d) {
		ret = -ENOENT;
	} else if (e) {
		if (e->state == ENTRY_COMMITTING)
			ret = -EBUSY;
		else
			entry_unref_locked(strmap_take(d->entries, p->name));
	} else if (submit_name_is_reason(p->name, &base)) {
		char key[256];
		char *r;

		snprintf(key, sizeof(key), "%.*s", (int)base, p->name);
		r = strmap_take(d->reasons, key);
		ret = r ? 0 : -ENOENT;
		free(r);
	} else {
		ret = -ENOENT;
	}
	pthread_mutex_unlock(&b->deps_lock);
	return ret;
}

int submit_rename(struct bfs *b, const struct bfs_path *from,
		  const struct bfs_path *to, unsigned flags)
{
	struct drop *d;
	struct entry *e, *old;
	bool do_commit;
	char *newname;
	size_t base;
	int ret = 0;

	if (to->kind != NODE_SUBMIT_FILE || from->kind != NODE_SUBMIT_FILE ||
	    strcmp(from->dep, to->dep) != 0)
		return -EXDEV;
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if (!bfs_name_ok(to->name) || submit_name_is_reason(to->name, &base))
		return -EPERM;
	newname = strdup(to->name);
	if (!newname)
		return -ENOMEM;
	pthread_mutex_lock(&b->deps_lock);
	d = drop_get_locked(b, from->dep);
	e = d ? strmap_get(d->entries, from->name) : NULL;
	old = d ? strmap_get(d->entries, to->name) : NULL;
	if (!e)
		ret = -ENOENT;
	else if (e == old)
		ret = 0;
	else if ((flags & RENAME_NOREPLACE) && old)
		ret = -EEXIST;
	else if (e->state == ENTRY_COMMITTING ||
		 (old && old->state == ENTRY_COMMITTING))
		ret = -EBUSY;
	if (ret || e == old) {
		pthread_mutex_unlock(&b->deps_lock);
		free(newname);
		return ret;
	}
	/* Move the entry (and its reason) to the new name. */
	e = strmap_take(d->entries, from->name);
	if (strmap_put(d->entries, newname, e)) {
		if (strmap_put(d->entries, from->name, e))
			entry_unref_locked(e);
		pthread_mutex_unlock(&b->deps_lock);
		free(newname);
		return -ENOMEM;
	}
	free(e->name);
	e->name = newname;
	{
		char *r = strmap_take(d->reasons, from->name);

		if (r && strmap_put(d->reasons, newname, r))
			free(r);
	}
	/* Renaming a staged file to NAME.jsonl submits it. */
	do_commit = e->state == ENTRY_STAGING && submit_name_is_candidate(newname);
	if (do_commit)
		entry_ref_locked(e);
	now_ts(&e->ctime);
	pthread_mutex_unlock(&b->deps_lock);
	if (!do_commit)
		return 0;
	ret = commit(b, d, e);
	pthread_mutex_lock(&b->deps_lock);
	entry_unref_locked(e);
	pthread_mutex_unlock(&b->deps_lock);
	return ret;
}

struct busy_ctx {
	bool busy;
};

static void entry_busy(const char *key, void *value, void *ctx)
{
	const struct entry *e = value;

	(void)key;
	if (e->state == ENTRY_COMMITTING)
		((struct busy_ctx *)ctx)->busy = true;
}

static void drop_busy(const char *key, void *value, void *ctx)
{
	const struct drop *d = value;

	(void)key;
	strmap_each(d->entries, entry_busy, ctx);
}

bool submit_busy(struct bfs *b)
{
	struct busy_ctx c = { false };

	pthread_mutex_lock(&b->deps_lock);
	strmap_each(b->deps, drop_busy, &c);
	pthread_mutex_unlock(&b->deps_lock);
	return c.busy;
}
