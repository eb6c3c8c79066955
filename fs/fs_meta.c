/* SPDX-License-Identifier: MIT */
/* fs_meta.c: .batchfs/: version, configuration, credential, stats and recent errors. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <fuse.h>

#include "bfs.h"
#include "config.h"

static const char *const meta_files[] = { "version", "config", "credential", "stats",
					   "errors", "recovery", NULL };

static enum core_rc time_line(struct buf *out, const char *name, int64_t t)
{
	char when[32] = "-";
	struct tm tm;
	time_t tt = (time_t)t;

	if (t > 0 && gmtime_r(&tt, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf_printf(out, "%s %s\n", name, when);
}

/* .batchfs/credential: what the mount authenticates with; never the secret. */
static enum core_rc credential_render(struct auth *a, const char *label, struct buf *out)
{
	struct auth_status st;
	enum core_rc rc;

	auth_get_status(a, &st);
	rc = buf_printf(out, "%skind %s\n%sidentity %s\n", label, st.kind, label,
			st.identity);
	if (!rc && st.scope[0])
		rc = buf_printf(out, "%sscope %s\n%stokens_fetched %llu\n"
				"%stoken_failures %llu\n",
				label, st.scope, label, (unsigned long long)st.fetches,
				label, (unsigned long long)st.failures);
	if (!rc && st.scope[0]) {
		char name[64];

		snprintf(name, sizeof(name), "%stoken_acquired", label);
		rc = time_line(out, name, st.acquired_at);
		snprintf(name, sizeof(name), "%stoken_expires", label);
		if (!rc)
			rc = time_line(out, name, st.expires_on);
		snprintf(name, sizeof(name), "%stoken_refresh", label);
		if (!rc)
			rc = time_line(out, name, st.refresh_at);
		if (!rc)
			rc = buf_printf(out, "%slast_error %s\n", label,
					st.last_error[0] ? st.last_error : "-");
	}
	return rc;
}

static int meta_render(struct bfs *b, const char *name, struct buf *out)
{
	enum core_rc rc = CORE_EINVAL;

	if (!strcmp(name, "version")) {
		rc = buf_printf(out, "batchfs %s\nlibfuse %d\n%s\n", PACKAGE_VERSION,
				fuse_version(), curl_version());
	} else if (!strcmp(name, "config")) {
		rc = buf_addstr(out, b->cfg.summary ? b->cfg.summary : "");
	} else if (!strcmp(name, "credential")) {
		rc = credential_render(b->auth, "", out);
		if (!rc && b->arm_auth)
			rc = credential_render(b->arm_auth, "management_", out);
	} else if (!strcmp(name, "recovery")) {
		rc = buf_addstr(out, b->recovery ? b->recovery : "");
	} else if (!strcmp(name, "errors")) {
		rc = errlog_render(b->errors, out);
	} else if (!strcmp(name, "stats")) {
		struct api_stats as;
		struct cache_stats cs;
		struct dlcache_stats ds;
		int i;

		api_client_stats(b->api, &as);
		cache_stats(b->cache, &cs);
		dlcache_stats(b->dl, &ds);
		rc = CORE_OK;
		for (i = 0; i < API_OP_COUNT && !rc; i++)
			rc = buf_printf(out, "api_calls.%s %llu\n",
					api_op_name((enum api_op)i),
					(unsigned long long)as.calls[i]);
		if (!rc)
			rc = buf_printf(out,
					"http_requests %llu\nhttp_retries %llu\n"
					"http_failures %llu\nhttp_connects %llu\n"
					"http_reconciled %llu\nbytes_up %llu\nbytes_down %llu\n"
					"cache_hits %llu\ncache_misses %llu\n"
					"cache_list_refreshes %llu\n"
					"download_hits %llu\ndownload_misses %llu\n"
					"downloads %llu\ndownload_failures %llu\n"
					"download_cached_bytes %llu\nspool_bytes %llu\n",
					(unsigned long long)as.http.requests,
					(unsigned long long)as.http.retries,
					(unsigned long long)as.http.failures,
					(unsigned long long)as.http.connects,
					(unsigned long long)as.http.reconciled,
					(unsigned long long)as.http.bytes_up,
					(unsigned long long)as.http.bytes_down,
					(unsigned long long)cs.hits,
					(unsigned long long)cs.misses,
					(unsigned long long)cs.list_refreshes,
					(unsigned long long)ds.hits,
					(unsigned long long)ds.misses,
					(unsigned long long)ds.downloads,
					(unsigned long long)ds.failures,
					(unsigned long long)ds.bytes_cached,
					(unsigned long long)spool_used(b->spool));
		if (!rc) {
			int active;
			uint64_t started;

			upstream_counts(&b->streams, &active, &started);
			rc = buf_printf(out, "uploads_while_written %llu\n"
					"uploads_while_written_active %d\nopen_dirs %u\n",
					(unsigned long long)started, active,
					__atomic_load_n(&b->open_dirs, __ATOMIC_RELAXED));
		}
	}
	return bfs_errno(rc);
}

int meta_getattr(struct bfs *b, const struct bfs_path *p, struct stat *st)
{
	struct buf text = BUF_INIT(0);
	int ret;

	if (p->kind == NODE_META) {
		bfs_stat_dir(st, b->started);
		return 0;
	}
	ret = meta_render(b, p->name, &text);
	if (!ret)
		bfs_stat_file(st, 0444, (off_t)text.len, b->started);
	buf_release(&text);
	return ret == -EINVAL ? -ENOENT : ret;
}

int meta_readdir(struct bfs *b, bfs_fill_fn fill, void *ctx)
{
	int i;

	(void)b;
	for (i = 0; meta_files[i]; i++)
		if (fill(ctx, meta_files[i], NULL))
			break;
	return 0;
}

int meta_open(struct bfs *b, const struct bfs_path *p, struct fuse_file_info *fi)
{
	struct buf text = BUF_INIT(0);
	int ret;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	ret = meta_render(b, p->name, &text);
	if (ret) {
		buf_release(&text);
		return ret == -EINVAL ? -ENOENT : ret;
	}
	return snapshot_open(fi, &text);
}
