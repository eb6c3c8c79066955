/* SPDX-License-Identifier: MIT */
/* fs_files.c: files/: the resource's files, readable, removable with rm. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse.h>

#include "bfs.h"

int files_getattr(struct bfs *b, const struct bfs_path *p, struct stat *st)
{
	struct core_err err = CORE_ERR_INIT;
	struct api_file f;
	enum core_rc rc;

	if (p->kind == NODE_FILES) {
		bfs_stat_dir(st, b->started);
		return 0;
	}
	if (!bfs_name_ok(p->id))
		return -ENOENT;
	rc = cache_file_get(b->cache, p->id, &f, &err);
	if (rc)
		return bfs_errno(rc);
	bfs_stat_file(st, 0444, f.bytes > 0 ? (off_t)f.bytes : 0,
		      (time_t)f.created_at);
	api_file_release(&f);
	return 0;
}

int files_readdir(struct bfs *b, bfs_fill_fn fill, void *ctx)
{
	struct core_err err = CORE_ERR_INIT;
	struct file_briefs all;
	struct stat st;
	enum core_rc rc;
	size_t i;

	rc = cache_file_list(b->cache, &all, &err);
	if (rc) {
		errlog_add(b->errors, "listing files: %s%s", err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	for (i = 0; i < all.n; i++) {
		if (!bfs_name_ok(all.items[i].id))
			continue;
		bfs_stat_file(&st, 0444, all.items[i].bytes > 0 ? (off_t)all.items[i].bytes : 0,
			      (time_t)all.items[i].created_at);
		if (fill(ctx, all.items[i].id, &st))
			break;
	}
	file_briefs_release(&all);
	return 0;
}

/* A file the service says is empty: check it by downloading (cheap). */
static int verify_empty(struct bfs *b, const char *id)
{
	struct core_err err = CORE_ERR_INIT;
	int64_t got = 0;
	enum core_rc rc;
	int fd = open(b->cache_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0)
		return -EIO;
	rc = api_file_content(b->api, id, fd, 0, &got, NULL, NULL, &err);
	close(fd);
	if (rc) {
		errlog_add(b->errors, "file %s: %s%s", id, err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	if (got) {
		errlog_add(b->errors, "file %s: the service says 0 bytes but sent %lld; "
			   "not served", id, (long long)got);
		return -EIO;
	}
	return 0;
}

int remote_file_open(struct bfs *b, const struct api_file *f,
		     struct fuse_file_info *fi)
{
	struct core_err err = CORE_ERR_INIT;
	struct buf none = BUF_INIT(0);
	struct handle *h;
	enum core_rc rc;
	int ret;

	if (f->bytes == COUNT_NONE) {
		errlog_add(b->errors, "file %s: the service gave no size; not served "
			   "(a wrong size could truncate or pad it)", f->id);
		return -EBADMSG;
	}
	if (f->bytes == 0) {
		ret = verify_empty(b, f->id);
		return ret ? ret : snapshot_open(fi, &none);
	}
	h = handle_new(H_DOWNLOAD);
	rc = h ? dlcache_open(b->dl, f->id, (uint64_t)f->bytes, &h->dl, &err)
	       : CORE_ENOMEM;
	if (rc) {
		handle_free(h);
		errlog_add(b->errors, "file %s: %s%s", f->id, err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 1; /* immutable content */
	return 0;
}

int files_open(struct bfs *b, const struct bfs_path *p, struct fuse_file_info *fi)
{
	struct core_err err = CORE_ERR_INIT;
	struct api_file f;
	enum core_rc rc;
	int ret;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	if (!bfs_name_ok(p->id))
		return -ENOENT;
	rc = cache_file_get(b->cache, p->id, &f, &err);
	if (rc)
		return bfs_errno(rc);
	ret = remote_file_open(b, &f, fi);
	api_file_release(&f);
	return ret;
}

int files_unlink(struct bfs *b, const char *id)
{
	struct core_err err = CORE_ERR_INIT;
	enum core_rc rc;

	if (!bfs_name_ok(id))
		return -ENOENT;
	rc = api_file_delete(b->api, id, &err);
	if (rc) {
		errlog_add(b->errors, "rm files/%s: %s%s", id, err.msg, bfs_hint(err.rc));
		return bfs_errno(rc);
	}
	cache_file_forget(b->cache, id);
	return 0;
}
