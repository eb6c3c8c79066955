/* SPDX-License-Identifier: MIT */
/* bfs.h: the mounted filesystem's shared state and the functions its parts call on each other. */
#ifndef BATCHFS_BFS_H
#define BATCHFS_BFS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "api.h"
#include "buf.h"
#include "cache.h"
#include "dlcache.h"
#include "errlog.h"
#include "inflight.h"
#include "path.h"
#include "spool.h"
#include "strmap.h"
#include "submission.h"

/*
 * One struct bfs per mount, created in main() before the FUSE loop and
 * freed after it. Its parts are thread-safe on their own (cache, dlcache,
 * spool, errlog, api). The tables here have their own locks:
 *
 *   deps_lock   guards deps (deployment names) and each deployment's
 *               submit table (struct drop) and its entries' fields.
 *   entry->lock serialises the data path of one submit entry (write,
 *               truncate, read, commit's finish) and is never held during
 *               network I/O. Lock order: entry->lock, then deps_lock.
 *
 * Nothing in fs/ talks HTTP or parses JSON: it calls core/.
 */

/* One name in a submit/ drop box. */
enum entry_state {
	ENTRY_STAGING,	  /* being written, or a temp name waiting */
	ENTRY_COMMITTING, /* uploading / creating the batch */
	ENTRY_DONE,	  /* submitted: a receipt */
	ENTRY_FAILED,	  /* the last attempt failed; see its .error */
};

struct entry {
	pthread_mutex_t lock;
	char *name;
	enum entry_state state;
	struct submission *sub; /* the spooled bytes (all states) */
	char *batch_id;		/* ENTRY_DONE */
	mode_t mode;
	uint64_t size;		/* bytes written (copy of the submission's, for stat) */
	struct timespec mtime, ctime;
	int writers;		/* open write handles */
	bool dirty;		/* written/created/truncated since the last commit */
	bool write_failed;	/* a write failed: never submit what is left */
	unsigned refs;		/* handles + the table */
};

/* A deployment's drop box: names -> entries, and failure reasons. */
struct drop {
	char *deployment;
	struct strmap *entries; /* name -> struct entry * */
	struct strmap *reasons; /* submitted name -> char * report */
};

struct bfs_config {
	uid_t uid;
	gid_t gid;
	uint64_t max_input_bytes;   /* 200 MB */
	uint64_t max_requests;	    /* 100000 / 50000 */
	long process_timeout_ms;
	uint64_t stream_after;	    /* upload while written past this (0: never) */
	double attr_timeout;	    /* kernel attr/entry cache, seconds */
	char *summary;		    /* effective configuration, no secrets */
};

struct bfs {
	struct bfs_config cfg;
	struct api_client *api;
	struct auth *auth;     /* borrowed from api: the data-plane credential */
	struct auth *arm_auth; /* owned: ARM discovery's credential, or NULL */
	struct cache *cache;
	struct dlcache *dl;
	struct spool *spool;
	struct errlog *errors;
	struct inflight *inflight; /* identical submissions in flight */
	struct upstream_budget streams; /* uploads running while written */
	pthread_mutex_t deps_lock;
	struct strmap *deps; /* name -> struct drop * */
	time_t started;
	char *recovery; /* what start-up recovery did (.batchfs/recovery) */
	char *cache_dir;
	/* Open handles, so that the ones whose RELEASE never came (unmounted
	 * or signalled with files open) are freed at exit. */
	pthread_mutex_t handles_lock;
	struct handle *handles;
	/* Directories open (__atomic): libfuse holds a handle for each until
	 * RELEASEDIR; .batchfs/stats shows it as open_dirs. */
	unsigned open_dirs;
};

/* The instance of this mount (set before the FUSE loop starts). */
extern struct bfs *bfs_instance;

/* ---- errmap.c ---------------------------------------------------------- */

/* The one core->errno table (documented in the README). Returns -errno. */
int bfs_errno(enum core_rc rc);
/* " (what to do ...)" for the codes a user can act on, else "". */
const char *bfs_hint(enum core_rc rc);

/* ---- deps.c ------------------------------------------------------------ */

/* Adds a deployment name (mkdir, config, learnt); false if not a valid name. */
bool deps_add(struct bfs *b, const char *name);
bool deps_has(struct bfs *b, const char *name);
/* Removes an empty, unused deployment directory: 0 or -errno. */
int deps_remove(struct bfs *b, const char *name);
/* A sorted snapshot of the names. */
char **deps_list(struct bfs *b, size_t *n);
void deps_list_free(char **names, size_t n);
void drop_free(void *p);

/* ---- the node handlers (getattr/readdir per area) ----------------------- */

struct fuse_file_info;
typedef int (*bfs_fill_fn)(void *ctx, const char *name, const struct stat *st);

void bfs_stat_dir(struct stat *st, time_t mtime);
void bfs_stat_file(struct stat *st, mode_t mode, off_t size, time_t mtime);

int batches_getattr(struct bfs *b, const struct bfs_path *p, struct stat *st);
int batches_readdir(struct bfs *b, const struct bfs_path *p, bfs_fill_fn fill,
		    void *ctx);
int batches_open(struct bfs *b, const struct bfs_path *p,
		 struct fuse_file_info *fi);
int batches_cancel_write(struct bfs *b, const char *id);
int deps_links_readdir(struct bfs *b, const char *dep, bfs_fill_fn fill,
		       void *ctx);
int deps_link_target(struct bfs *b, const char *dep, const char *link,
		     char *out, size_t n);

int files_getattr(struct bfs *b, const struct bfs_path *p, struct stat *st);
int files_readdir(struct bfs *b, bfs_fill_fn fill, void *ctx);
int files_open(struct bfs *b, const struct bfs_path *p, struct fuse_file_info *fi);
int files_unlink(struct bfs *b, const char *id);
/* Opens a file of the service through the download cache (f from
 * cache_file_get). An unknown size is refused (EBADMSG); a claimed size of
 * 0 is checked by downloading (EIO if content arrives). */
int remote_file_open(struct bfs *b, const struct api_file *f,
		     struct fuse_file_info *fi);

int meta_getattr(struct bfs *b, const struct bfs_path *p, struct stat *st);
int meta_readdir(struct bfs *b, bfs_fill_fn fill, void *ctx);
int meta_open(struct bfs *b, const struct bfs_path *p, struct fuse_file_info *fi);

/* submit/: fs_submit.c */
int submit_getattr(struct bfs *b, const struct bfs_path *p, struct stat *st);
int submit_readdir(struct bfs *b, const char *dep, bfs_fill_fn fill, void *ctx);
int submit_create(struct bfs *b, const struct bfs_path *p, mode_t mode,
		  struct fuse_file_info *fi);
int submit_open(struct bfs *b, const struct bfs_path *p,
		struct fuse_file_info *fi);
int submit_unlink(struct bfs *b, const struct bfs_path *p);
int submit_rename(struct bfs *b, const struct bfs_path *from,
		  const struct bfs_path *to, unsigned flags);
int submit_truncate(struct bfs *b, const struct bfs_path *p, off_t size,
		    struct fuse_file_info *fi);
int submit_setattr(struct bfs *b, const struct bfs_path *p, const mode_t *mode,
		   const struct timespec tv[2]);
bool submit_busy(struct bfs *b);
/* The drop box's value destructor: drops the table's reference. */
void entry_unref_cb(void *p);

/* ---- open file handles (fi->fh) ---------------------------------------- */

enum handle_kind {
	H_SNAPSHOT, /* rendered text, served from memory (direct_io) */
	H_DOWNLOAD, /* a remote file through the download cache */
	H_SUBMIT,   /* a submit/ entry */
	H_CANCEL,   /* batches/ID/cancel */
};

struct handle {
	struct handle *prev, *next; /* bfs->handles */
	enum handle_kind kind;
	struct buf text;		 /* H_SNAPSHOT */
	struct dlcache_handle *dl;	 /* H_DOWNLOAD */
	struct entry *entry;		 /* H_SUBMIT */
	struct drop *drop;		 /* H_SUBMIT */
	pid_t opener;			 /* H_SUBMIT */
	bool wrote;			 /* H_SUBMIT: wrote or truncated */
	bool created;			 /* H_SUBMIT: made by this open */
	bool write_mode;
	char *id;			 /* H_CANCEL */
};

struct handle *handle_new(enum handle_kind kind);
void handle_free(struct handle *h);
/* At exit, after the FUSE loop: drops handles whose release never came. */
void handles_free_all(struct bfs *b);

/* Puts a rendered snapshot in a new handle (direct_io). */
int snapshot_open(struct fuse_file_info *fi, struct buf *text);

int submit_write(struct bfs *b, struct handle *h, const char *data, size_t len,
		 off_t off);
int submit_read(struct bfs *b, struct handle *h, char *buf, size_t len, off_t off);
int submit_flush(struct bfs *b, struct handle *h, pid_t pid);
void submit_release(struct bfs *b, struct handle *h);
/* Lets go of a handle's entry without committing (exit path). */
void submit_drop_handle(struct bfs *b, struct handle *h);

#endif
