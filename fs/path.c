/* SPDX-License-Identifier: MIT */
/* path.c: splitting mount paths into node kinds and checking names. */
#include <string.h>

#include "path.h"

static const char *const batch_files[BF_COUNT] = {
	[BF_NONE] = "",
	[BF_STATUS] = "status",
	[BF_BATCH_JSON] = "batch.json",
	[BF_INPUT] = "input.jsonl",
	[BF_OUTPUT] = "output.jsonl",
	[BF_ERRORS] = "errors.jsonl",
	[BF_ERROR] = "error",
	[BF_CANCEL] = "cancel",
};

const char *batch_file_name(enum batch_file f)
{
	return (unsigned)f < BF_COUNT ? batch_files[f] : "";
}

bool bfs_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n == 0 || n > 255 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '/' || s[i] == 0x7f)
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool submit_name_is_candidate(const char *name)
{
	return name[0] != '.' && strlen(name) > 6 && ends_with(name, ".jsonl");
}

bool submit_name_is_reason(const char *name, size_t *base_len)
{
	size_t n = strlen(name);

	if (n <= 12 || !ends_with(name, ".jsonl.error"))
		return false;
	*base_len = n - 6;
	return true;
}

bool bfs_path_parse(const char *path, struct bfs_path *out)
{
	char *comp[5], *p;
	size_t len = strlen(path);
	int n = 0, i;

	memset(out, 0, sizeof(*out) - sizeof(out->buf));
	out->buf[0] = '\0';
	if (len >= sizeof(out->buf) || path[0] != '/')
		return false;
	memcpy(out->buf, path, len + 1);
	p = out->buf + 1;
	while (*p) {
		char *slash = strchr(p, '/');

		if (n == 5)
			return true; /* too deep: NODE_NONE */
		comp[n++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
		if (!*p)
			break; /* trailing slash */
	}
	for (i = 0; i < n; i++)
		if (!*comp[i] || !strcmp(comp[i], ".") || !strcmp(comp[i], ".."))
			return false;

	if (n == 0) {
		out->kind = NODE_ROOT;
	} else if (!strcmp(comp[0], "deployments")) {
		if (n >= 2)
			out->dep = comp[1];
		if (n == 1)
			out->kind = NODE_DEPLOYMENTS;
		else if (n == 2)
			out->kind = NODE_DEPLOYMENT;
		else if (!strcmp(comp[2], "submit"))
			out->kind = n == 3 ? NODE_SUBMIT_DIR
				    : n == 4 ? NODE_SUBMIT_FILE
					     : NODE_NONE;
		else if (!strcmp(comp[2], "batches"))
			out->kind = n == 3 ? NODE_DEP_BATCHES
				    : n == 4 ? NODE_DEP_LINK
					     : NODE_NONE;
		if (n == 4)
			out->name = comp[3];
	} else if (!strcmp(comp[0], "batches")) {
		if (n == 1) {
			out->kind = NODE_BATCHES;
		} else if (n == 2) {
			out->kind = NODE_BATCH;
			out->id = comp[1];
		} else if (n == 3) {
			for (i = 1; i < BF_COUNT; i++)
				if (!strcmp(comp[2], batch_files[i]))
					out->file = (enum batch_file)i;
			if (out->file) {
				out->kind = NODE_BATCH_FILE;
				out->id = comp[1];
			}
		}
	} else if (!strcmp(comp[0], "files")) {
		if (n == 1) {
			out->kind = NODE_FILES;
		} else if (n == 2) {
			out->kind = NODE_FILE;
			out->id = comp[1];
		}
	} else if (!strcmp(comp[0], ".batchfs")) {
		if (n == 1) {
			out->kind = NODE_META;
		} else if (n == 2) {
			out->kind = NODE_META_FILE;
			out->name = comp[1];
		}
	}
	return true;
}
