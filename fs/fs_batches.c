/* SPDX-License-Identifier: MIT */
/* fs_batches.c: batches/ and batches/ID/{status,batch.json,...,cancel}, and deployments' batch links. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fuse.h>

#include "bfs.h"
#include "log.h"
#include "parse.h"

/* Which files batches/ID has for this batch. */
static bool batch_has(const struct batch *bt, enum batch_file f)
{
	switch (f) {
	case BF_STATUS:
	case BF_BATCH_JSON:
	case BF_CANCEL:
		return true;
	case BF_INPUT:
		return bt->input_file_id != NULL;
	case BF_OUTPUT:
		return bt->output_file_id != NULL;
	case BF_ERRORS:
		return bt->error_file_id != NULL;
	case BF_ERROR:
		return bt->nerrors > 0;
	default:
		return false;
	}
}

static const char *batch_file_id(const struct batch *bt, enum batch_file f)
{
	return f == BF_INPUT ? bt->input_file_id
	       : f == BF_OUTPUT ? bt->output_file_id
	       : f == BF_ERRORS ? bt->error_file_id
				: NULL;
}

/* The text of a rendered file (status, batch.json, error). */
static int render(const struct batch *bt, enum batch_file f, struct buf *out)
{
	enum core_rc rc = CORE_OK;
	size_t i;

	switch (f) {
	case BF_STATUS:
		rc = buf_printf(out, "%s\n", batch_status_name(bt->status));
		break;
	case BF_BATCH_JSON:
		if (bt->raw_json)
			rc = json_pretty(bt->raw_json, strlen(bt->raw_json), out, NULL);
		else
			rc = buf_addstr(out, "{}\n");
		break;
	case BF_ERROR:
		for (i = 0; i < bt->nerrors && !rc; i++) {
			const struct batch_error *e = &bt->errors[i];

			if (e->line >= 0)
				rc = buf_printf(out, "line %ld: ", e->line);
			if (!rc)
				rc = buf_printf(out, "%s: %s",
						e->code ? e->code : "error",
						e->message ? e->message : "");
			if (!rc && e->param)
				rc = buf_printf(out, " (param %s)", e->param);
			if (!rc)
				rc = buf_addstr(out, "\n");
		}
		break;
	case BF_CANCEL:
		break;
	default:
		rc = CORE_EINVAL;
	}
	return bfs_errno(rc);
}

static int file_size(struct bfs *b, const char *file_id, off_t *size)
{
	struct core_err err = CORE_ERR_INIT;
	struct api_file f;
	enum core_rc rc = cache_file_get(b->cache, file_id, &f, &err);

	if (rc) {
		errlog_add(b->errors, "file %s: %s%s", file_id, err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	*size = f.bytes > 0 ? (off_t)f.bytes : 0;
	api_file_release(&f);
	return 0;
}

/* The batch behind batches/ID (from the cache): 0 or -errno; failures other
 * than "no such batch" are logged. */
static int batch_lookup(struct bfs *b, const char *id, struct batch *bt)
{
	struct core_err err = CORE_ERR_INIT;
	enum core_rc rc;

	if (!bfs_name_ok(id))
		return -ENOENT;
	rc = cache_batch_get(b->cache, id, bt, &err);
	if (rc && rc != CORE_ENOTFOUND)
		errlog_add(b->errors, "batch %s: %s%s", id, err.msg, bfs_hint(err.rc));
	return bfs_errno(rc);
}

int batches_getattr(struct bfs *b, const struct bfs_path *p, struct stat *st)
{
	struct batch bt;
	struct buf text = BUF_INIT(0);
	off_t size = 0;
	int ret = 0;

	if (p->kind == NODE_BATCHES) {
		bfs_stat_dir(st, b->started);
		return 0;
	}
	ret = batch_lookup(b, p->id, &bt);
	if (ret)
		return ret;
	if (p->kind == NODE_BATCH) {
		bfs_stat_dir(st, (time_t)bt.created_at);
		goto out;
	}
	if (!batch_has(&bt, p->file)) {
		ret = -ENOENT;
		goto out;
	}
	switch (p->file) {
	case BF_INPUT:
	case BF_OUTPUT:
	case BF_ERRORS:
		ret = file_size(b, batch_file_id(&bt, p->file), &size);
		bfs_stat_file(st, 0444, size, (time_t)bt.created_at);
		break;
	case BF_CANCEL:
		bfs_stat_file(st, 0200, 0, (time_t)bt.created_at);
		break;
	default:
		ret = render(&bt, p->file, &text);
		bfs_stat_file(st, 0444, (off_t)text.len, (time_t)bt.created_at);
	}
out:
	buf_release(&text);
	batch_release(&bt);
	return ret;
}

int batches_readdir(struct bfs *b, const struct bfs_path *p, bfs_fill_fn fill,
		    void *ctx)
{
	struct core_err err = CORE_ERR_INIT;
	struct stat st;
	enum core_rc rc;
	size_t i;

	if (p->kind == NODE_BATCHES) {
		struct batch_briefs all;

		rc = cache_batch_list(b->cache, &all, &err);
		if (rc) {
			errlog_add(b->errors, "listing batches: %s%s", err.msg, bfs_hint(err.rc));
			return bfs_errno(rc);
		}
		for (i = 0; i < all.n; i++) {
			if (all.items[i].deployment)
				deps_add(b, all.items[i].deployment);
			if (!bfs_name_ok(all.items[i].id))
				continue;
			bfs_stat_dir(&st, (time_t)all.items[i].created_at);
			if (fill(ctx, all.items[i].id, &st))
				break;
		}
		batch_briefs_release(&all);
		return 0;
	} else {
		struct batch bt;
		int f;

		int ret = batch_lookup(b, p->id, &bt);

		if (ret)
			return ret;
		for (f = 1; f < BF_COUNT; f++) {
			if (!batch_has(&bt, (enum batch_file)f))
				continue;
			/* No attributes here: each file's own getattr knows them. */
			if (fill(ctx, batch_file_name((enum batch_file)f), NULL))
				break;
		}
		batch_release(&bt);
		return 0;
	}
}

int batches_open(struct bfs *b, const struct bfs_path *p,
		 struct fuse_file_info *fi)
{
	struct core_err err = CORE_ERR_INIT;
	struct batch bt;
	struct buf text = BUF_INIT(0);
	enum core_rc rc;
	int ret;

	if (!bfs_name_ok(p->id))
		return -ENOENT;
	if (p->file == BF_CANCEL) {
		struct handle *h;

		if ((fi->flags & O_ACCMODE) == O_RDONLY)
			return -EACCES;
		h = handle_new(H_CANCEL);
		if (!h || !(h->id = strdup(p->id))) {
			handle_free(h);
			return -ENOMEM;
		}
		fi->fh = (uint64_t)(uintptr_t)h;
		fi->direct_io = 1;
		fi->nonseekable = 1;
		return 0;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	/* A status read refreshes a stale batch; terminal ones stay put. */
	ret = batch_lookup(b, p->id, &bt);
	if (ret)
		return ret;
	if (!batch_has(&bt, p->file)) {
		batch_release(&bt);
		return -ENOENT;
	}
	if (p->file == BF_INPUT || p->file == BF_OUTPUT || p->file == BF_ERRORS) {
		struct api_file f;
		const char *fid = batch_file_id(&bt, p->file);

		rc = cache_file_get(b->cache, fid, &f, &err);
		if (rc) {
			errlog_add(b->errors, "batch %s %s: %s%s", p->id,
				   batch_file_name(p->file), err.msg, bfs_hint(err.rc));
			batch_release(&bt);
			return bfs_errno(rc);
		}
		batch_release(&bt);
		ret = remote_file_open(b, &f, fi);
		api_file_release(&f);
		return ret;
	}
	ret = render(&bt, p->file, &text);
	batch_release(&bt);
	if (ret) {
		buf_release(&text);
		return ret;
	}
	return snapshot_open(fi, &text);
}

int batches_cancel_write(struct bfs *b, const char *id)
{
	struct core_err err = CORE_ERR_INIT;
	struct batch bt;
	enum core_rc rc;

	rc = cache_batch_refresh(b->cache, id, &bt, &err);
	if (rc) {
		errlog_add(b->errors, "cancel %s: %s%s", id, err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	if (bt.status == BATCH_STATUS_CANCELLING ||
	    bt.status == BATCH_STATUS_CANCELLED) {
		batch_release(&bt);
		return 0; /* already what was asked */
	}
	if (batch_status_is_terminal(bt.status)) {
		errlog_add(b->errors, "cancel %s: the batch is already %s; nothing to cancel",
			   id, batch_status_name(bt.status));
		batch_release(&bt);
		return -EPERM;
	}
	batch_release(&bt);
	rc = api_batch_cancel(b->api, id, &bt, &err);
	if (rc) {
		errlog_add(b->errors, "cancel %s: %s%s", id, err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	cache_batch_put(b->cache, &bt);
	log_info("cancel %s: %s", id, batch_status_name(bt.status));
	batch_release(&bt);
	return 0;
}

/* ---- deployments/D/batches/: links named after the submitted files ----- */

/* The link name of a brief in its deployment: the submitted file's name,
 * or the batch id for batches not made by batchfs. Older duplicates of a
 * name get ".<batch id>" appended. */
static void link_name(const struct batch_brief *bb, bool newest, char *out,
		      size_t n)
{
	if (bb->name && bfs_name_ok(bb->name) && newest)
		snprintf(out, n, "%s", bb->name);
	else if (bb->name && bfs_name_ok(bb->name))
		snprintf(out, n, "%s.%s", bb->name, bb->id);
	else
		snprintf(out, n, "%s", bb->id);
}

/* Walks the deployment's batches, newest first, with their link names. */
static int dep_links_walk(struct bfs *b, const char *dep,
			  int (*cb)(void *ctx, const struct batch_brief *bb,
				    const char *link),
			  void *ctx)
{
	struct core_err err = CORE_ERR_INIT;
	struct batch_briefs all;
	struct strmap *seen = strmap_new(NULL);
	char link[600];
	enum core_rc rc;
	size_t i;
	int ret = 0;

	if (!seen)
		return -ENOMEM;
	rc = cache_batch_list(b->cache, &all, &err);
	if (rc) {
		strmap_free(seen);
		errlog_add(b->errors, "listing batches: %s%s", err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	for (i = 0; i < all.n && !ret; i++) {
		const struct batch_brief *bb = &all.items[i];
		bool newest;

		if (!bb->deployment || strcmp(bb->deployment, dep) != 0 ||
		    !bfs_name_ok(bb->id))
			continue;
		newest = bb->name && !strmap_get(seen, bb->name);
		if (newest && strmap_put(seen, bb->name, (void *)1))
			newest = false;
		link_name(bb, newest, link, sizeof(link));
		if (bfs_name_ok(link))
			ret = cb(ctx, bb, link);
	}
	batch_briefs_release(&all);
	strmap_free(seen);
	return ret > 0 ? 0 : ret;
}

struct fill_ctx {
	bfs_fill_fn fill;
	void *ctx;
};

static int fill_link(void *ctx, const struct batch_brief *bb, const char *link)
{
	struct fill_ctx *fc = ctx;
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFLNK | 0777;
	st.st_nlink = 1;
	st.st_size = (off_t)(strlen("../../../batches/") + strlen(bb->id));
	st.st_mtime = st.st_ctime = (time_t)bb->created_at;
	return fc->fill(fc->ctx, link, &st) ? 1 : 0;
}

int deps_links_readdir(struct bfs *b, const char *dep, bfs_fill_fn fill,
		       void *ctx)
{
	struct fill_ctx fc = { fill, ctx };

	return dep_links_walk(b, dep, fill_link, &fc);
}

struct find_ctx {
	const char *link;
	char *out;
	size_t n;
	bool found;
};

static int find_link(void *ctx, const struct batch_brief *bb, const char *link)
{
	struct find_ctx *f = ctx;

	if (strcmp(link, f->link) != 0)
		return 0;
	snprintf(f->out, f->n, "../../../batches/%s", bb->id);
	f->found = true;
	return 1;
}

int deps_link_target(struct bfs *b, const char *dep, const char *link,
		     char *out, size_t n)
{
	struct find_ctx f = { link, out, n, false };
	int ret = dep_links_walk(b, dep, find_link, &f);

	if (ret)
		return ret;
	return f.found ? 0 : -ENOENT;
}
