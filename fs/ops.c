/* SPDX-License-Identifier: MIT */
/* ops.c: the FUSE operations: parse the path, dispatch to the tree's areas, map errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse.h>

#include "bfs.h"
#include "log.h"
#include "ops.h"

struct bfs *bfs_instance;

void bfs_stat_dir(struct stat *st, time_t mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = bfs_instance->cfg.uid;
	st->st_gid = bfs_instance->cfg.gid;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

void bfs_stat_file(struct stat *st, mode_t mode, off_t size, time_t mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | mode;
	st->st_nlink = 1;
	st->st_size = size;
	st->st_blocks = (size + 511) / 512;
	st->st_blksize = 128 * 1024;
	st->st_uid = bfs_instance->cfg.uid;
	st->st_gid = bfs_instance->cfg.gid;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

struct handle *handle_new(enum handle_kind kind)
{
	struct bfs *b = bfs_instance;
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	pthread_mutex_lock(&b->handles_lock);
	h->next = b->handles;
	if (b->handles)
		b->handles->prev = h;
	b->handles = h;
	pthread_mutex_unlock(&b->handles_lock);
	return h;
}

void handle_free(struct handle *h)
{
	struct bfs *b = bfs_instance;

	if (!h)
		return;
	pthread_mutex_lock(&b->handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		b->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&b->handles_lock);
	buf_release(&h->text);
	if (h->dl)
		dlcache_close(h->dl);
	free(h->id);
	free(h);
}

void handles_free_all(struct bfs *b)
{
	while (b->handles) {
		struct handle *h = b->handles;

		if (h->kind == H_SUBMIT)
			submit_drop_handle(b, h);
		handle_free(h);
	}
}

int snapshot_open(struct fuse_file_info *fi, struct buf *text)
{
	struct handle *h = handle_new(H_SNAPSHOT);

	if (!h) {
		buf_release(text);
		return -ENOMEM;
	}
	h->text = *text;
	fi->fh = (uint64_t)(uintptr_t)h;
	/* The size of dynamic text may change between stat and read: serve
	 * exactly this snapshot, never clamped or padded by a cached size. */
	fi->direct_io = 1;
	return 0;
}

static struct handle *fh(const struct fuse_file_info *fi)
{
	return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

static int parse(const char *path, struct bfs_path *p)
{
	if (!bfs_path_parse(path, p))
		return -ENAMETOOLONG;
	return p->kind == NODE_NONE ? -ENOENT : 0;
}

/* ---- attributes and directories ---------------------------------------- */

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct bfs *b = bfs_instance;
	struct bfs_path p;
	char target[700];
	int ret;

	(void)fi;
	ret = parse(path, &p);
	if (ret)
		return ret;
	switch (p.kind) {
	case NODE_ROOT:
	case NODE_DEPLOYMENTS:
		bfs_stat_dir(st, b->started);
		return 0;
	case NODE_DEPLOYMENT:
	case NODE_DEP_BATCHES:
		if (!deps_has(b, p.dep))
			return -ENOENT;
		bfs_stat_dir(st, b->started);
		return 0;
	case NODE_SUBMIT_DIR:
	case NODE_SUBMIT_FILE:
		return submit_getattr(b, &p, st);
	case NODE_DEP_LINK:
		if (!deps_has(b, p.dep))
			return -ENOENT;
		ret = deps_link_target(b, p.dep, p.name, target, sizeof(target));
		if (ret)
			return ret;
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)strlen(target);
		st->st_uid = b->cfg.uid;
		st->st_gid = b->cfg.gid;
		st->st_mtime = b->started;
		return 0;
	case NODE_BATCHES:
	case NODE_BATCH:
	case NODE_BATCH_FILE:
		return batches_getattr(b, &p, st);
	case NODE_FILES:
	case NODE_FILE:
		return files_getattr(b, &p, st);
	case NODE_META:
	case NODE_META_FILE:
		return meta_getattr(b, &p, st);
	default:
		return -ENOENT;
	}
}

struct fill {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_entry(void *ctx, const char *name, const struct stat *st)
{
	struct fill *f = ctx;

	return f->filler(f->buf, name, st, 0, st ? FUSE_FILL_DIR_PLUS : 0);
}

/* Only counted: libfuse keeps the listing in its own handle of the directory. */
static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	__atomic_add_fetch(&bfs_instance->open_dirs, 1, __ATOMIC_RELAXED);
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	__atomic_sub_fetch(&bfs_instance->open_dirs, 1, __ATOMIC_RELAXED);
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	static const char *const root[] = { "deployments", "batches", "files",
					    ".batchfs", NULL };
	struct bfs *b = bfs_instance;
	struct fill f = { buf, filler };
	struct bfs_path p;
	struct stat st;
	int ret, i;

	(void)offset;
	(void)fi;
	(void)flags;
	ret = parse(path, &p);
	if (ret)
		return ret;
	bfs_stat_dir(&st, b->started);
	filler(buf, ".", &st, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	switch (p.kind) {
	case NODE_ROOT:
		for (i = 0; root[i]; i++)
			if (fill_entry(&f, root[i], &st))
				break;
		return 0;
	case NODE_DEPLOYMENTS: {
		size_t n, k;
		char **names = deps_list(b, &n);

		if (!names)
			return -ENOMEM;
		for (k = 0; k < n; k++)
			if (fill_entry(&f, names[k], &st))
				break;
		deps_list_free(names, n);
		return 0;
	}
	case NODE_DEPLOYMENT:
		if (!deps_has(b, p.dep))
			return -ENOENT;
		fill_entry(&f, "submit", &st);
		fill_entry(&f, "batches", &st);
		return 0;
	case NODE_SUBMIT_DIR:
		return submit_readdir(b, p.dep, fill_entry, &f);
	case NODE_DEP_BATCHES:
		if (!deps_has(b, p.dep))
			return -ENOENT;
		return deps_links_readdir(b, p.dep, fill_entry, &f);
	case NODE_BATCHES:
	case NODE_BATCH:
		return batches_readdir(b, &p, fill_entry, &f);
	case NODE_FILES:
		return files_readdir(b, fill_entry, &f);
	case NODE_META:
		return meta_readdir(b, fill_entry, &f);
	default:
		return -ENOTDIR;
	}
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	struct bfs_path p;
	int ret = parse(path, &p);

	if (ret)
		return ret;
	if (p.kind != NODE_DEP_LINK)
		return -EINVAL;
	return deps_link_target(bfs_instance, p.dep, p.name, buf, size);
}

static int op_mkdir(const char *path, mode_t mode)
{
	struct bfs_path p;
	int ret = parse(path, &p);

	(void)mode;
	if (ret == -ENOENT)
		return -EPERM;
	if (ret)
		return ret;
	if (p.kind != NODE_DEPLOYMENT)
		return -EPERM; /* only deployments/NAME can be made */
	if (deps_has(bfs_instance, p.dep))
		return -EEXIST;
	return deps_add(bfs_instance, p.dep) ? 0 : -EINVAL;
}

static int op_rmdir(const char *path)
{
	struct bfs_path p;
	int ret = parse(path, &p);

	if (ret)
		return ret;
	if (p.kind != NODE_DEPLOYMENT)
		return -EPERM;
	return deps_remove(bfs_instance, p.dep);
}

/* ---- files ---------------------------------------------------------------- */

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct bfs_path p;
	int ret = parse(path, &p);

	if (ret == -ENOENT)
		return -EACCES;
	if (ret)
		return ret;
	if (p.kind != NODE_SUBMIT_FILE)
		return -EACCES; /* only submit/ takes new files */
	return submit_create(bfs_instance, &p, mode, fi);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct bfs *b = bfs_instance;
	struct bfs_path p;
	int ret = parse(path, &p);

	if (ret)
		return ret;
	switch (p.kind) {
	case NODE_SUBMIT_FILE:
		return submit_open(b, &p, fi);
	case NODE_BATCH_FILE:
		return batches_open(b, &p, fi);
	case NODE_FILE:
		return files_open(b, &p, fi);
	case NODE_META_FILE:
		return meta_open(b, &p, fi);
	default:
		return -EISDIR;
	}
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);
	struct core_err err = CORE_ERR_INIT;
	enum core_rc rc;
	size_t got = 0;

	(void)path;
	if (!h)
		return -EBADF;
	switch (h->kind) {
	case H_SNAPSHOT:
		if ((size_t)off >= h->text.len)
			return 0;
		if (size > h->text.len - (size_t)off)
			size = h->text.len - (size_t)off;
		memcpy(buf, h->text.data + off, size);
		return (int)size;
	case H_DOWNLOAD:
		rc = dlcache_read(h->dl, buf, size, (uint64_t)off, &got, &err);
		if (rc) {
			errlog_add(bfs_instance->errors, "reading %s: %s%s", path, err.msg, bfs_hint(err.rc));
			return bfs_errno(rc);
		}
		return (int)got;
	case H_SUBMIT:
		return submit_read(bfs_instance, h, buf, size, off);
	case H_CANCEL:
		return 0;
	}
	return -EIO;
}

static int op_write(const char *path, const char *data, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);
	int ret;

	(void)path;
	if (!h)
		return -EBADF;
	switch (h->kind) {
	case H_SUBMIT:
		return submit_write(bfs_instance, h, data, size, off);
	case H_CANCEL:
		if (!size)
			return 0;
		ret = batches_cancel_write(bfs_instance, h->id);
		return ret ? ret : (int)size;
	default:
		return -EBADF;
	}
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);

	(void)path;
	if (h && h->kind == H_SUBMIT)
		return submit_flush(bfs_instance, h, fuse_get_context()->pid);
	return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);

	(void)path;
	if (h && h->kind == H_SUBMIT)
		submit_release(bfs_instance, h);
	handle_free(h);
	return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	(void)fi;
	return 0; /* the spool is synced before anything is sent */
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct bfs_path p;
	int ret = parse(path, &p);

	if (ret)
		return ret;
	if (p.kind == NODE_SUBMIT_FILE)
		return submit_truncate(bfs_instance, &p, size, fi);
	if (p.kind == NODE_BATCH_FILE && p.file == BF_CANCEL)
		return 0; /* `echo cancel > cancel` truncates first */
	return -EACCES;
}

static int op_unlink(const char *path)
{
	struct bfs_path p;
	int ret = parse(path, &p);

	if (ret)
		return ret;
	if (p.kind == NODE_SUBMIT_FILE)
		return submit_unlink(bfs_instance, &p);
	if (p.kind == NODE_FILE)
		return files_unlink(bfs_instance, p.id);
	return -EPERM;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct bfs_path pf, pt;
	int ret = parse(from, &pf);

	if (ret)
		return ret;
	if (!bfs_path_parse(to, &pt))
		return -ENAMETOOLONG;
	if (pf.kind != NODE_SUBMIT_FILE)
		return -EPERM;
	return submit_rename(bfs_instance, &pf, &pt, flags);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct bfs_path p;
	int ret = parse(path, &p);

	(void)fi;
	if (ret)
		return ret;
	if (p.kind == NODE_SUBMIT_FILE)
		return submit_setattr(bfs_instance, &p, &mode, NULL);
	return -EPERM;
}

static int op_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	struct bfs *b = bfs_instance;
	struct bfs_path p;
	int ret = parse(path, &p);

	(void)fi;
	if (ret)
		return ret;
	if (p.kind != NODE_SUBMIT_FILE)
		return -EPERM;
	/* Owner is fixed: accept only what it already is (cp -p, rsync -a). */
	if ((uid != (uid_t)-1 && uid != b->cfg.uid) ||
	    (gid != (gid_t)-1 && gid != b->cfg.gid))
		return -EPERM;
	return submit_setattr(b, &p, NULL, NULL);
}

static int op_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	struct bfs_path p;
	int ret = parse(path, &p);

	(void)fi;
	if (ret)
		return ret;
	if (p.kind == NODE_SUBMIT_FILE)
		return submit_setattr(bfs_instance, &p, NULL, tv);
	return -EPERM;
}

/* Links and special files have no meaning in this tree. */
static int op_symlink(const char *target, const char *path)
{
	(void)target;
	(void)path;
	return -EPERM;
}

static int op_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EPERM;
}

static int op_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)path;
	(void)mode;
	(void)dev;
	return -EPERM;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	memset(sv, 0, sizeof(*sv));
	if (statvfs(spool_dir(bfs_instance->spool), sv) != 0)
		return -errno;
	sv->f_namemax = 255;
	return 0;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct bfs *b = bfs_instance;

	(void)conn;
	cfg->use_ino = 0;
	cfg->nullpath_ok = 0;
	cfg->entry_timeout = b->cfg.attr_timeout;
	cfg->attr_timeout = b->cfg.attr_timeout;
	cfg->negative_timeout = 0;
	cfg->hard_remove = 1;
	return b;
}

const struct fuse_operations bfs_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.symlink = op_symlink,
	.link = op_link,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.chmod = op_chmod,
	.chown = op_chown,
	.truncate = op_truncate,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.statfs = op_statfs,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.create = op_create,
	.utimens = op_utimens,
};
