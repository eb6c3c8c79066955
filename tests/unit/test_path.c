/* SPDX-License-Identifier: MIT */
/* test_path.c: the mount path parser and the drop box's name rules. */
#include <string.h>

#include "path.h"
#include "tap.h"

static int is(const char *path, enum node_kind kind)
{
	struct bfs_path p;

	return bfs_path_parse(path, &p) && p.kind == kind;
}

int main(void)
{
	struct bfs_path p;
	char longpath[BFS_PATH_MAX + 10];
	size_t base;

	ok(is("/", NODE_ROOT), "root");
	ok(is("/deployments", NODE_DEPLOYMENTS), "deployments");
	ok(is("/deployments/", NODE_DEPLOYMENTS), "trailing slash");
	ok(bfs_path_parse("/deployments/gpt-4o-batch/submit/x.jsonl", &p) &&
		   p.kind == NODE_SUBMIT_FILE && !strcmp(p.dep, "gpt-4o-batch") &&
		   !strcmp(p.name, "x.jsonl"),
	   "submit file with its deployment and name");
	ok(is("/deployments/d/submit", NODE_SUBMIT_DIR), "submit dir");
	ok(is("/deployments/d/batches", NODE_DEP_BATCHES), "deployment batches");
	ok(bfs_path_parse("/deployments/d/batches/x.jsonl", &p) &&
		   p.kind == NODE_DEP_LINK && !strcmp(p.name, "x.jsonl"),
	   "deployment link");
	ok(is("/deployments/d/other", NODE_NONE), "unknown deployment child");
	ok(is("/deployments/d/submit/x/y", NODE_NONE), "too deep under submit");
	ok(bfs_path_parse("/batches/batch_1/status", &p) && p.kind == NODE_BATCH_FILE &&
		   p.file == BF_STATUS && !strcmp(p.id, "batch_1"),
	   "batch status");
	ok(bfs_path_parse("/batches/b/output.jsonl", &p) && p.file == BF_OUTPUT,
	   "output.jsonl");
	ok(bfs_path_parse("/batches/b/errors.jsonl", &p) && p.file == BF_ERRORS,
	   "errors.jsonl");
	ok(bfs_path_parse("/batches/b/cancel", &p) && p.file == BF_CANCEL, "cancel");
	ok(is("/batches/b/nope", NODE_NONE), "unknown batch file");
	ok(is("/batches/b", NODE_BATCH), "batch dir");
	ok(is("/files/file-1", NODE_FILE), "file");
	ok(is("/.batchfs/stats", NODE_META_FILE), "meta file");
	ok(is("/nope", NODE_NONE), "unknown top level");
	ok(!bfs_path_parse("/batches/../etc", &p), "'..' refused");
	ok(!bfs_path_parse("/batches/./b", &p), "'.' refused");
	ok(!bfs_path_parse("//batches", &p), "empty component refused");
	ok(!bfs_path_parse("relative", &p), "relative refused");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	ok(!bfs_path_parse(longpath, &p), "over-long path refused");
	ok(is("/a/b/c/d/e/f/g", NODE_NONE), "very deep path is just absent");

	ok(bfs_name_ok("batch_abc-123"), "plain id ok");
	ok(!bfs_name_ok("a/b") && !bfs_name_ok("..") && !bfs_name_ok(".") &&
		   !bfs_name_ok("") && !bfs_name_ok("a\nb") && !bfs_name_ok("a\x7f"),
	   "slash, dots, empty, control characters refused");
	{
		char n[300];

		memset(n, 'x', 256);
		n[256] = '\0';
		ok(!bfs_name_ok(n), "256-byte name refused");
		n[255] = '\0';
		ok(bfs_name_ok(n), "255-byte name ok");
	}

	ok(submit_name_is_candidate("x.jsonl"), "x.jsonl is submitted");
	ok(!submit_name_is_candidate(".x.jsonl.AbC123"), "rsync temp is staged");
	ok(!submit_name_is_candidate(".x.jsonl"), "hidden is staged");
	ok(!submit_name_is_candidate("x.jsonl.part") && !submit_name_is_candidate("x.tmp") &&
		   !submit_name_is_candidate("x.jsonl~") &&
		   !submit_name_is_candidate(".x.jsonl.swp"),
	   "part, tmp, backup and swap files are staged");
	ok(!submit_name_is_candidate(".jsonl"), "bare suffix is not a name");
	ok(submit_name_is_reason("x.jsonl.error", &base) && base == 7, "reason file");
	ok(!submit_name_is_reason("x.error", &base), "only NAME.jsonl.error");
	ok(!strcmp(batch_file_name(BF_BATCH_JSON), "batch.json"), "file names");
	return done_testing();
}
