/* fuzz_path.c: fuzzes mount-path parsing and name checks (fs/path.c): bfs_path_parse, bfs_name_ok, submit_name_is_candidate/_reason. */
/* SPDX-License-Identifier: MIT */
/*
 * The input, cut at its first NUL, is a path as FUSE would pass it.
 * Invariants of bfs_path_parse: components are non-empty, never contain
 * '/', are never "." or "..", and point into out->buf; the kind matches
 * exactly the fields it sets; a path it refuses is too long, relative or
 * has an empty/"."/".." component; the canonical path rebuilt from the
 * result parses to the same result. Every NUL-free piece of the input
 * (and every component) goes through the name predicates, checked against
 * their documented rules.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "path.h"

/* Which fields each kind sets: D dep, I id, N name, F file. */
enum { D = 1, I = 2, N = 4, F = 8 };

static int fields_of(enum node_kind k)
{
	switch (k) {
	case NODE_DEPLOYMENT:
	case NODE_SUBMIT_DIR:
	case NODE_DEP_BATCHES:
		return D;
	case NODE_SUBMIT_FILE:
	case NODE_DEP_LINK:
		return D | N;
	case NODE_BATCH:
	case NODE_FILE:
		return I;
	case NODE_BATCH_FILE:
		return I | F;
	case NODE_META_FILE:
		return N;
	default:
		return 0;
	}
}

static bool comp_ok(const struct bfs_path *p, const char *c)
{
	return c >= p->buf && c < p->buf + sizeof(p->buf) && c[0] &&
	       !strchr(c, '/') && strcmp(c, ".") && strcmp(c, "..") &&
	       strlen(c) < sizeof(p->buf);
}

/* The path the fields describe, or false for NODE_NONE. */
static bool canonical(const struct bfs_path *p, char *s, size_t cap)
{
	static const char *const fixed[] = {
		[NODE_ROOT] = "/",	     [NODE_DEPLOYMENTS] = "/deployments",
		[NODE_BATCHES] = "/batches", [NODE_FILES] = "/files",
		[NODE_META] = "/.batchfs",
	};
	int n;

	switch (p->kind) {
	case NODE_ROOT:
	case NODE_DEPLOYMENTS:
	case NODE_BATCHES:
	case NODE_FILES:
	case NODE_META:
		n = snprintf(s, cap, "%s", fixed[p->kind]);
		break;
	case NODE_DEPLOYMENT:
		n = snprintf(s, cap, "/deployments/%s", p->dep);
		break;
	case NODE_SUBMIT_DIR:
		n = snprintf(s, cap, "/deployments/%s/submit", p->dep);
		break;
	case NODE_SUBMIT_FILE:
		n = snprintf(s, cap, "/deployments/%s/submit/%s", p->dep, p->name);
		break;
	case NODE_DEP_BATCHES:
		n = snprintf(s, cap, "/deployments/%s/batches", p->dep);
		break;
	case NODE_DEP_LINK:
		n = snprintf(s, cap, "/deployments/%s/batches/%s", p->dep, p->name);
		break;
	case NODE_BATCH:
		n = snprintf(s, cap, "/batches/%s", p->id);
		break;
	case NODE_BATCH_FILE:
		n = snprintf(s, cap, "/batches/%s/%s", p->id,
			     batch_file_name(p->file));
		break;
	case NODE_FILE:
		n = snprintf(s, cap, "/files/%s", p->id);
		break;
	case NODE_META_FILE:
		n = snprintf(s, cap, "/.batchfs/%s", p->name);
		break;
	default:
		return false;
	}
	return n > 0 && (size_t)n < cap;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Why a refused path is refused: one of the documented reasons. */
static bool refusable(const char *path)
{
	const char *c = path + 1, *slash;
	size_t n;

	if (strlen(path) >= BFS_PATH_MAX || path[0] != '/')
		return true;
	while (*c) {
		slash = strchr(c, '/');
		n = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return true;
		if (!slash)
			break;
		c = slash + 1;
	}
	return false;
}

/* Rules of path.h for one NUL-free string. */
static void check_name(const char *s)
{
	size_t n = strlen(s), i, base = 0;
	bool ok = bfs_name_ok(s), ctl = false;

	for (i = 0; i < n; i++)
		ctl |= (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
	FUZZ_CHECK(ok == (n >= 1 && n <= 255 && !strchr(s, '/') && !ctl &&
			  strcmp(s, ".") && strcmp(s, "..")));
	if (submit_name_is_candidate(s))
		FUZZ_CHECK(s[0] != '.' && n > 6 &&
			   !strcmp(s + n - 6, ".jsonl"));
	if (submit_name_is_reason(s, &base)) {
		FUZZ_CHECK(n > 12 && !strcmp(s + n - 12, ".jsonl.error"));
		FUZZ_CHECK(base == n - 6 && !strncmp(s + base - 6, ".jsonl", 6));
	}
}

static void check_parsed(const char *path, const struct bfs_path *p)
{
	int f = fields_of(p->kind);
	char canon[BFS_PATH_MAX + 64];
	struct bfs_path q;

	FUZZ_CHECK((unsigned)p->kind <= NODE_META_FILE);
	FUZZ_CHECK((unsigned)p->file < BF_COUNT);
	if (p->kind == NODE_NONE)
		return; /* ENOENT: fields are not used */
	FUZZ_CHECK(!!(f & D) == !!p->dep && !!(f & I) == !!p->id &&
		   !!(f & N) == !!p->name && !!(f & F) == (p->file != BF_NONE));
	FUZZ_CHECK(!p->dep || comp_ok(p, p->dep));
	FUZZ_CHECK(!p->id || comp_ok(p, p->id));
	FUZZ_CHECK(!p->name || comp_ok(p, p->name));
	FUZZ_CHECK(!refusable(path));
	if (p->file != BF_NONE)
		FUZZ_CHECK(batch_file_name(p->file)[0] != '\0');

	FUZZ_CHECK(canonical(p, canon, sizeof(canon)));
	if (strlen(canon) >= BFS_PATH_MAX)
		return; /* only a trailing-slash path can be one byte short */
	FUZZ_CHECK(bfs_path_parse(canon, &q));
	FUZZ_CHECK(q.kind == p->kind && q.file == p->file &&
		   str_eq(q.dep, p->dep) && str_eq(q.id, p->id) &&
		   str_eq(q.name, p->name));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_cstr(data, size), *piece, *c, *save = NULL;
	struct bfs_path *p = malloc(sizeof(*p));
	size_t i, n;

	FUZZ_CHECK(p != NULL);
	if (bfs_path_parse(path, p))
		check_parsed(path, p);
	else
		FUZZ_CHECK(refusable(path));

	/* The name predicates on every NUL-separated piece and component. */
	for (i = 0; i < size; i += n + 1) {
		piece = fuzz_cstr(data + i, size - i);
		n = strlen(piece);
		check_name(piece);
		for (c = strtok_r(piece, "/", &save); c;
		     c = strtok_r(NULL, "/", &save))
			check_name(c);
		free(piece);
	}
	for (i = 0; i < BF_COUNT + 2; i++)
		FUZZ_CHECK(batch_file_name((enum batch_file)i) != NULL);
	free(p);
	free(path);
	return 0;
}
