/* SPDX-License-Identifier: MIT */
/* path.h: parsing mount paths into the tree's node kinds (pure, no FUSE). */
#ifndef BATCHFS_PATH_H
#define BATCHFS_PATH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The tree:
 *   /                                  NODE_ROOT
 *   /deployments                       NODE_DEPLOYMENTS
 *   /deployments/D                     NODE_DEPLOYMENT
 *   /deployments/D/submit              NODE_SUBMIT_DIR
 *   /deployments/D/submit/N            NODE_SUBMIT_FILE
 *   /deployments/D/batches             NODE_DEP_BATCHES
 *   /deployments/D/batches/L           NODE_DEP_LINK
 *   /batches                           NODE_BATCHES
 *   /batches/ID                        NODE_BATCH
 *   /batches/ID/F                      NODE_BATCH_FILE (F one of enum batch_file)
 *   /files, /files/ID                  NODE_FILES, NODE_FILE
 *   /.batchfs, /.batchfs/F             NODE_META, NODE_META_FILE
 * Anything else is NODE_NONE (ENOENT). Components point into a copy of the
 * path held by struct bfs_path. Pure functions; thread-safe.
 */
enum node_kind {
	NODE_NONE = 0,
	NODE_ROOT,
	NODE_DEPLOYMENTS,
	NODE_DEPLOYMENT,
	NODE_SUBMIT_DIR,
	NODE_SUBMIT_FILE,
	NODE_DEP_BATCHES,
	NODE_DEP_LINK,
	NODE_BATCHES,
	NODE_BATCH,
	NODE_BATCH_FILE,
	NODE_FILES,
	NODE_FILE,
	NODE_META,
	NODE_META_FILE,
};

enum batch_file {
	BF_NONE = 0,
	BF_STATUS,
	BF_BATCH_JSON,
	BF_INPUT,
	BF_OUTPUT,
	BF_ERRORS,
	BF_ERROR,
	BF_CANCEL,
	BF_COUNT
};

#define BFS_PATH_MAX 4096

struct bfs_path {
	enum node_kind kind;
	enum batch_file file; /* for NODE_BATCH_FILE */
	const char *dep;      /* deployment name */
	const char *id;	      /* batch or file id */
	const char *name;     /* submit file, link or meta file name */
	char buf[BFS_PATH_MAX];
};

/* Parses path (absolute, as FUSE gives it). Returns false for a path longer
 * than BFS_PATH_MAX or with empty, "." or ".." components. */
bool bfs_path_parse(const char *path, struct bfs_path *out);

/* The file names under batches/ID, indexed by enum batch_file. */
const char *batch_file_name(enum batch_file f);

/* Whether s is usable as one path component: 1..255 bytes, no '/', no NUL,
 * no control characters, not "." or "..". Names from the server that are
 * not are not shown. */
bool bfs_name_ok(const char *s);

/*
 * Submit drop-box names: a candidate is submitted on close or rename-into;
 * a staging name (".x.jsonl.AbC123", "*.part", "*.tmp", "*~", ".*.swp",
 * anything not ending in ".jsonl") never is on its own.
 */
bool submit_name_is_candidate(const char *name);

/* "x.jsonl.error": the reason file of a failed submission; *base gets the
 * length of the submitted name it belongs to. */
bool submit_name_is_reason(const char *name, size_t *base_len);

#endif
