/* SPDX-License-Identifier: MIT */
/* main.c: the batchfs program: options, preflight, mount, the FUSE loop, clean unmount. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "arm.h"
#include "bfs.h"
#include "config.h"
#include "fuse_timeout.h"
#include "fusedev_io.h"
#include "log.h"
#include "mounted.h"
#include "notify.h"
#include "ops.h"
#include "options.h"
#include "privdir.h"
#include "recover.h"
#include "stop.h"

#define DEFAULT_SPOOL_SIZE (4ull << 30)
#define DEFAULT_STREAM_AFTER (8ull << 20)
#define DEFAULT_CACHE_SIZE (4ull << 30)

/* "2G", "512M", "100k", "12345" -> bytes; false if malformed. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	default: break;
	}
	if (end == s || *end)
		return false;
	*out = v;
	return true;
}

/* $XDG_x_HOME/batchfs/sub, or ~/.local/state (or ~/.cache)/batchfs/sub. */
static char *default_dir(const char *xdg, const char *fallback, const char *sub)
{
	const char *base = getenv(xdg), *home = getenv("HOME");
	char *out = NULL;

	if (base && *base) {
		if (asprintf(&out, "%s/batchfs/%s", base, sub) < 0)
			return NULL;
	} else if (home && *home) {
		if (asprintf(&out, "%s/%s/batchfs/%s", home, fallback, sub) < 0)
			return NULL;
	} else if (asprintf(&out, "/tmp/batchfs-%u/%s", (unsigned)getuid(), sub) < 0) {
		return NULL;
	}
	return out;
}

/* Bridges dlcache's progress (uint64) to the API's (int64). */
struct progress_bridge {
	void (*progress)(void *pctx, uint64_t n);
	void *pctx;
};

static void bridge_progress(void *ctx, int64_t bytes)
{
	struct progress_bridge *pb = ctx;

	if (bytes > 0)
		pb->progress(pb->pctx, (uint64_t)bytes);
}

static enum core_rc fetch_file(void *ctx, const char *key, uint64_t size, int fd,
			       void (*progress)(void *pctx, uint64_t n),
			       void *pctx, struct core_err *err)
{
	struct api_client *api = ctx;
	struct progress_bridge pb = { progress, pctx };
	int64_t written = 0;

	(void)size;
	return api_file_content(api, key, fd, 0, &written, bridge_progress, &pb,
				err);
}

static int add_deployments(struct bfs *b, const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (*tok && !deps_add(b, tok)) {
			fprintf(stderr, "batchfs: '%s' is not a valid deployment name\n", tok);
			free(copy);
			return -1;
		}
	free(copy);
	return 0;
}

static char *config_summary(const struct bfs_options *o, const struct api_config *cfg,
			    const char *spool, const char *cache, uint64_t spool_size,
			    uint64_t cache_size, const struct cache_config *cc,
			    const char *auth_kind, unsigned kernel_timeout_s)
{
	char *s = NULL;

	if (asprintf(&s,
		     "surface %s\nendpoint %s\napi_version %s\nauth %s\n"
		     "spool_dir %s\nspool_size %llu\ncache_dir %s\ncache_size %llu\n"
		     "list_ttl_ms %ld\nstatus_ttl_ms %ld\nconnect_timeout_ms %ld\n"
		     "request_timeout_ms %ld\ndeadline_ms %ld\nstall_timeout_ms %ld\n"
		     "max_retries %d\nallow_other %d\nkernel_request_timeout_s %u\n",
		     api_surface_name(cfg->surface), cfg->endpoint ? cfg->endpoint : "(default)",
		     cfg->api_version ? cfg->api_version : "-", auth_kind, spool,
		     (unsigned long long)spool_size, cache, (unsigned long long)cache_size,
		     cc->list_ttl_ms, cc->batch_ttl_ms, cfg->http.connect_timeout_ms,
		     cfg->http.request_timeout_ms, cfg->http.deadline_ms,
		     cfg->http.transfer_stall_ms, cfg->http.max_retries,
		     o->allow_other, kernel_timeout_s) < 0)
		return NULL;
	return s;
}

/* Replaces a relative path by the same path from the current directory. */
static int make_absolute(char **path)
{
	char cwd[PATH_MAX], *abs;

	if (!*path || (*path)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, *path) < 0)
		return -1;
	free(*path);
	*path = abs;
	return 0;
}

/* Adds the batch deployments the management API lists: 0, or -1 (warned). */
static int discover_arm(struct bfs *b, const struct bfs_options *o,
			const struct api_config *cfg)
{
	struct core_err err = CORE_ERR_INIT;
	struct deployment_list dl;
	struct arm_config ac;
	size_t i;

	memset(&ac, 0, sizeof(ac));
	ac.endpoint = o->management_endpoint;
	ac.subscription_id = o->subscription_id ? o->subscription_id
						: getenv("AZURE_SUBSCRIPTION_ID");
	ac.resource_group = o->resource_group;
	ac.account_name = o->account_name;
	ac.allow_http = o->allow_http;
	ac.http = cfg->http;
	if (arm_deployment_list(&ac, b->arm_auth, &dl, &err) != CORE_OK) {
		/* The mount still works with the deployments named or learnt. */
		fprintf(stderr, "batchfs: warning: deployment discovery through the "
				"management API failed: %s\n", err.msg);
		return -1;
	}
	for (i = 0; i < dl.n; i++)
		deps_add(b, dl.items[i].name);
	log_info("ARM: %zu batch deployment(s) found", dl.n);
	deployment_list_release(&dl);
	return 0;
}

/* -o log_level=, or debug for -o debug/-d, else warnings and errors. */
static bool log_level_parse(const struct bfs_options *o, enum log_level *out)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	int i;

	*out = o->debug ? LOG_LVL_DEBUG : LOG_LVL_WARN;
	if (!o->log_level)
		return true;
	for (i = 0; i < 4; i++)
		if (!strcmp(o->log_level, names[i]) ||
		    (i == 1 && !strcmp(o->log_level, "warn"))) {
			*out = (enum log_level)i;
			return true;
		}
	return false;
}

/* A kernel FUSE request timeout aborts the mount when a close() in submit/
 * waits longer for its upload and processing (see fuse_timeout.h). */
static void warn_kernel_timeout(unsigned timeout_s, long process_timeout_ms)
{
	if (!timeout_s)
		return;
	log_warn("the kernel aborts a FUSE mount whose request waits %u s "
		 "(fs.fuse.default_request_timeout / max_request_timeout); a close() in "
		 "submit/ waits for its upload and then up to process_timeout_ms (%ld s) for "
		 "the service, so a longer wait would end this mount: set both to 0 or "
		 "well above that",
		 timeout_s, process_timeout_ms / 1000);
}

/* The exit code once the FUSE loop returned `loop_rc` and the connection
 * ended as `end` (see mounted.h). An unmount is a clean stop even when the
 * kernel said ECONNABORTED because a request was being handed over (read as
 * ENODEV by fusedev_io.c); an aborted connection (already logged and
 * detached) is a failure. */
static int loop_outcome(int loop_rc, enum mount_end end)
{
	if (end == MOUNT_END_ABORTED)
		return 1;
	if (loop_rc != 0 && loop_rc != -ENODEV) {
		log_error("the FUSE loop failed: %s", loop_rc < 0 ? strerror(-loop_rc) : "error");
		return 1;
	}
	if (end == MOUNT_END_UNMOUNTED && fusedev_io_saw_econnaborted())
		log_info("unmounted with a request still queued (the kernel's "
			 "ECONNABORTED at unmount): a clean stop");
	return 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct core_err err = CORE_ERR_INIT;
	struct bfs_options o;
	struct api_config cfg;
	struct cache_config cc;
	struct auth *auth = NULL;
	struct bfs b;
	struct batch_page page;
	struct deployment_list dl;
	struct spool_config sc;
	struct dlcache_config dc;
	struct fuse *fuse = NULL;
	struct fuse_loop_config *loop = NULL;
	char *spool = NULL, *cache = NULL;
	uint64_t spool_size = DEFAULT_SPOOL_SIZE, cache_size = DEFAULT_CACHE_SIZE;
	struct rlimit nocore = { 0, 0 };
	enum log_level level;
	unsigned kernel_timeout_s;
	size_t i;
	int ret = 1, rc;

	memset(&b, 0, sizeof(b));
	b.cfg.stream_after = DEFAULT_STREAM_AFTER;
	if (bfs_options_parse(&args, &o) != 0) {
		bfs_options_release(&o); /* strings parsed before the bad option */
		fuse_opt_free_args(&args);
		return 2;
	}
	if (o.show_help) {
		bfs_options_usage(argv[0]);
		ret = 0;
		goto out_opts;
	}
	if (o.show_version) {
		printf("batchfs %s (libfuse %d, %s)\n", PACKAGE_VERSION, fuse_version(),
		       curl_version());
		ret = 0;
		goto out_opts;
	}
	if (!log_level_parse(&o, &level)) {
		fprintf(stderr, "batchfs: log_level must be error, warning, info or debug\n");
		ret = 2;
		goto out_opts;
	}
	log_init(level, false);
	/* Keep the key out of core dumps and away from ptrace by other
	 * processes of this user. */
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!o.mountpoint && !o.check_only) {
		fprintf(stderr, "batchfs: no mountpoint given (see --help)\n");
		ret = 2;
		goto out_opts;
	}
	if (o.mountpoint) {
		/* Absolute: the daemon changes directory to / before unmounting. */
		char *abs = realpath(o.mountpoint, NULL);

		if (!abs) {
			fprintf(stderr, "batchfs: bad mountpoint '%s': %s\n", o.mountpoint,
				strerror(errno));
			ret = 2;
			goto out_opts;
		}
		free(o.mountpoint);
		o.mountpoint = abs;
	}
	/* fuse_daemonize() changes directory to /: every path used later
	 * must not depend on where batchfs was started. */
	if (make_absolute(&o.spool_dir) || make_absolute(&o.cache_dir) ||
	    make_absolute(&o.ca_file) || make_absolute(&o.key_file)) {
		fprintf(stderr, "batchfs: out of memory\n");
		goto out_opts;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "batchfs: cannot initialise libcurl\n");
		goto out_opts;
	}
	cache_config_defaults(&cc);
	if (o.list_ttl_ms > 0)
		cc.list_ttl_ms = o.list_ttl_ms;
	if (o.status_ttl_ms > 0)
		cc.batch_ttl_ms = cc.file_ttl_ms = o.status_ttl_ms;
	if ((o.spool_size && !parse_size(o.spool_size, &spool_size)) ||
	    (o.cache_size && !parse_size(o.cache_size, &cache_size)) ||
	    (o.stream_after && !parse_size(o.stream_after, &b.cfg.stream_after))) {
		fprintf(stderr, "batchfs: bad size in spool_size=, cache_size= or stream_after=\n");
		ret = 2;
		goto out_curl;
	}
	if (o.max_downloads < 0 || o.max_downloads > DLCACHE_MAX_DOWNLOADS) {
		fprintf(stderr, "batchfs: max_downloads= must be 1 to %d (0: the default, %d)\n",
			DLCACHE_MAX_DOWNLOADS, DLCACHE_DEFAULT_DOWNLOADS);
		ret = 2;
		goto out_curl;
	}
	if (bfs_options_arm_auth(&o, &b.arm_auth, &err) ||
	    bfs_options_api_config(&o, &cfg, &auth, &err)) {
		bfs_options_wipe_secret_env();
		fprintf(stderr, "batchfs: %s\n", err.msg);
		goto out_curl;
	}
	bfs_options_wipe_secret_env();
	b.auth = auth;
	if (api_client_new(&cfg, auth, &b.api, &err)) {
		fprintf(stderr, "batchfs: %s\n", err.msg);
		goto out_curl;
	}

	/* Preflight, before anything is mounted: endpoint and credential. */
	if (api_batch_list(b.api, NULL, 1, &page, &err)) {
		fprintf(stderr, "batchfs: cannot use %s: %s\n",
			cfg.endpoint ? cfg.endpoint : API_DEFAULT_OPENAI_BASE, err.msg);
		goto out_api;
	}
	if (o.check_only) {
		printf("batchfs: %s endpoint reachable, credential accepted\n",
		       api_surface_name(cfg.surface));
		batch_page_release(&page);
		ret = 0;
		goto out_api;
	}

	pthread_mutex_init(&b.deps_lock, NULL);
	pthread_mutex_init(&b.handles_lock, NULL);
	b.deps = strmap_new(drop_free);
	b.errors = errlog_new();
	b.inflight = inflight_new();
	b.started = time(NULL);
	b.cfg.uid = getuid();
	b.cfg.gid = getgid();
	b.cfg.max_input_bytes = 200ull * 1000 * 1000;
	b.cfg.max_requests = cfg.surface == API_SURFACE_OPENAI ? 50000 : 100000;
	b.cfg.process_timeout_ms = o.process_timeout_ms > 0 ? o.process_timeout_ms : 600000;
	b.cfg.attr_timeout = o.attr_timeout ? atof(o.attr_timeout) : 1.0;
	b.streams.max = o.max_streams > 0 ? o.max_streams : 8;
	if (!b.deps || !b.errors || !b.inflight) {
		fprintf(stderr, "batchfs: out of memory\n");
		goto out_page;
	}
	bfs_instance = &b;
	for (i = 0; i < page.n; i++) {
		const char *dep = batch_metadata_get(&page.items[i], "batchfs_deployment");

		if (dep)
			deps_add(&b, dep);
	}
	if (o.deployments && add_deployments(&b, o.deployments)) {
		ret = 2;
		goto out_page;
	}
	/* Discovery: ARM when configured (it knows the SKUs), else the data
	 * plane's legacy listing or /models; the names given and learnt stay. */
	if (!b.arm_auth || discover_arm(&b, &o, &cfg) != 0) {
		if (api_deployment_list(b.api, &dl, &err) == CORE_OK) {
			for (i = 0; i < dl.n; i++)
				if (!dl.items[i].sku || strcasestr(dl.items[i].sku, "batch"))
					deps_add(&b, dl.items[i].name);
			deployment_list_release(&dl);
		} else {
			log_info("deployment listing not available: %s", err.msg);
		}
	}

	spool = o.spool_dir ? strdup(o.spool_dir) : default_dir("XDG_STATE_HOME", ".local/state", "spool");
	cache = o.cache_dir ? strdup(o.cache_dir) : default_dir("XDG_CACHE_HOME", ".cache", "downloads");
	if (!spool || !cache) {
		fprintf(stderr, "batchfs: out of memory\n");
		goto out_page;
	}
	sc.dir = spool;
	sc.max_bytes = spool_size;
	if (spool_open(&sc, &b.spool, &err)) {
		fprintf(stderr, "batchfs: %s\n", err.msg);
		goto out_page;
	}
	if (privdir_make(cache) != 0) {
		fprintf(stderr, "batchfs: cannot create cache directory '%s': %s\n",
			cache, strerror(errno));
		goto out_page;
	}
	/* Settle what a previous daemon left half-done, before mounting. */
	{
		struct buf rep = BUF_INIT(0);
		struct recover_result rr;

		if (recover_submissions(b.api, spool, &rep, &rr, &err) != CORE_OK)
			log_warn("recovery: %s", err.msg);
		if (rep.len) {
			fprintf(stderr, "batchfs: recovered %u submission(s) left by a previous "
					"daemon (see .batchfs/recovery):\n%s",
				rr.finished + rr.rolled_back + rr.pending, rep.data);
			b.recovery = buf_take(&rep);
		}
		buf_release(&rep);
		spool_wipe_data(b.spool);
	}
	dc.dir = cache;
	b.cache_dir = cache;
	dc.max_bytes = cache_size;
	dc.max_downloads = o.max_downloads; /* 0: the default */
	if (cache_new(b.api, &cc, &b.cache, &err)) {
		fprintf(stderr, "batchfs: %s\n", err.msg);
		goto out_page;
	}
	kernel_timeout_s = fuse_request_timeout_s("/proc/sys/fs/fuse");
	warn_kernel_timeout(kernel_timeout_s, b.cfg.process_timeout_ms);
	b.cfg.summary = config_summary(&o, &cfg, spool, cache, spool_size, cache_size,
				       &cc, auth_kind_name(auth), kernel_timeout_s);

	/* Mount options: ours are consumed; the rest go to libfuse. */
	if (fuse_opt_add_arg(&args, "-ofsname=batchfs,subtype=batchfs") ||
	    (o.allow_other &&
	     fuse_opt_add_arg(&args, "-oallow_other,default_permissions"))) {
		fprintf(stderr, "batchfs: out of memory\n");
		goto out_page;
	}
	fuse = fuse_new(&args, &bfs_ops, sizeof(bfs_ops), &b);
	if (!fuse) {
		fprintf(stderr, "batchfs: invalid mount options\n");
		ret = 2;
		goto out_page;
	}
	if (fuse_mount(fuse, o.mountpoint) != 0) {
		fprintf(stderr, "batchfs: cannot mount on '%s'\n", o.mountpoint);
		goto out_fuse;
	}
	rc = mounted_identify(o.mountpoint);
	if (rc < 0)
		log_warn("cannot identify the mount on %s (%s): an aborted connection "
			 "will leave its dead mount for fusermount3 -u -z",
			 o.mountpoint, strerror(-rc));
	rc = fusedev_io_install(fuse_get_session(fuse), mounted_connection_ended);
	if (rc < 0) {
		fprintf(stderr, "batchfs: cannot set up the FUSE device: %s\n", strerror(-rc));
		goto out_unmount;
	}
	if (fuse_daemonize(o.foreground) != 0) {
		fprintf(stderr, "batchfs: cannot go to the background\n");
		goto out_unmount;
	}
	if (!o.foreground)
		log_init(level, true);
	/* Threads only after the fork of fuse_daemonize(): a child keeps only
	 * the forking thread (the download workers would be gone). */
	if (dlcache_new(&dc, fetch_file, b.api, &b.dl, &err)) {
		log_error("%s", err.msg);
		goto out_unmount;
	}
	if (stop_begin(&b, fuse) != 0) {
		log_error("cannot install signal handlers");
		goto out_unmount;
	}
	/* A close() that submits holds its thread for the upload: allow many. */
	loop = fuse_loop_cfg_create();
	if (!loop) {
		log_error("out of memory");
		goto out_signals;
	}
	fuse_loop_cfg_set_max_threads(loop, 64);
	fuse_loop_cfg_set_idle_threads(loop, 16);
	{
		char ready[PATH_MAX + 64];

		/* MAINPID: after fuse_daemonize() this is the child's pid. */
		snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld\nSTATUS=mounted on %s",
			 (long)getpid(), o.mountpoint);
		notify_systemd(ready);
	}
	ret = fuse_loop_mt(fuse, loop);
	ret = loop_outcome(ret, mounted_end()); /* decided while the loop ran */
	notify_systemd("STOPPING=1");
	fuse_loop_cfg_destroy(loop);
out_signals:
	stop_end();
out_unmount:
	fuse_unmount(fuse);
out_fuse:
	fuse_destroy(fuse);
	handles_free_all(&b);
out_page:
	batch_page_release(&page);
	/* Drop boxes first: their submissions hold spool files. */
	if (b.deps)
		strmap_free(b.deps);
	cache_free(b.cache);
	dlcache_free(b.dl);
	spool_close(b.spool);
	errlog_free(b.errors);
	inflight_free(b.inflight);
	free(b.cfg.summary);
	free(b.recovery);
	free(spool);
	free(cache);
	pthread_mutex_destroy(&b.deps_lock);
	pthread_mutex_destroy(&b.handles_lock);
out_api:
	upstream_drain(&b.streams); /* abandoned uploads still use the client */
	api_client_free(b.api);
out_curl:
	auth_free(b.arm_auth);
	curl_global_cleanup();
out_opts:
	bfs_options_release(&o);
	fuse_opt_free_args(&args);
	return ret;
}
