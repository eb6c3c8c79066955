/* SPDX-License-Identifier: MIT */
/* bfcore.c: a small command-line driver of core/ for the integration tests. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "api.h"
#include "log.h"

/*
 * Usage: bfcore [options] COMMAND [args]
 * Prints one JSON object on stdout: {"result": ..., "stats": {...}} on
 * success (exit 0), {"error": {...}, "stats": {...}} on failure (exit 1).
 * The key comes from BFCORE_KEY, AZURE_OPENAI_API_KEY or OPENAI_API_KEY.
 */

static cJSON *file_json(const struct api_file *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", f->id);
	if (f->filename)
		cJSON_AddStringToObject(o, "filename", f->filename);
	if (f->purpose)
		cJSON_AddStringToObject(o, "purpose", f->purpose);
	cJSON_AddStringToObject(o, "status", file_status_name(f->status));
	cJSON_AddNumberToObject(o, "bytes", (double)f->bytes);
	cJSON_AddNumberToObject(o, "created_at", (double)f->created_at);
	if (f->status_details)
		cJSON_AddStringToObject(o, "status_details", f->status_details);
	return o;
}

static void add_opt_string(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static cJSON *batch_json(const struct batch *b)
{
	cJSON *o = cJSON_CreateObject(), *c, *e, *md;
	size_t i;

	cJSON_AddStringToObject(o, "id", b->id);
	cJSON_AddStringToObject(o, "status", batch_status_name(b->status));
	add_opt_string(o, "status_raw", b->status_raw);
	add_opt_string(o, "endpoint", b->endpoint);
	add_opt_string(o, "input_file_id", b->input_file_id);
	add_opt_string(o, "output_file_id", b->output_file_id);
	add_opt_string(o, "error_file_id", b->error_file_id);
	cJSON_AddNumberToObject(o, "created_at", (double)b->created_at);
	cJSON_AddNumberToObject(o, "completed_at", (double)b->completed_at);
	cJSON_AddNumberToObject(o, "cancelled_at", (double)b->cancelled_at);
	cJSON_AddNumberToObject(o, "failed_at", (double)b->failed_at);
	c = cJSON_AddObjectToObject(o, "counts");
	cJSON_AddNumberToObject(c, "total", (double)b->counts.total);
	cJSON_AddNumberToObject(c, "completed", (double)b->counts.completed);
	cJSON_AddNumberToObject(c, "failed", (double)b->counts.failed);
	e = cJSON_AddArrayToObject(o, "errors");
	for (i = 0; i < b->nerrors; i++) {
		cJSON *x = cJSON_CreateObject();

		add_opt_string(x, "code", b->errors[i].code);
		add_opt_string(x, "message", b->errors[i].message);
		cJSON_AddNumberToObject(x, "line", (double)b->errors[i].line);
		cJSON_AddItemToArray(e, x);
	}
	md = cJSON_AddObjectToObject(o, "metadata");
	for (i = 0; i < b->nmetadata; i++)
		cJSON_AddStringToObject(md, b->metadata[i].key, b->metadata[i].value);
	return o;
}

static long vmhwm_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static cJSON *stats_json(struct api_client *c)
{
	struct api_stats st;
	struct rusage ru;
	cJSON *o = cJSON_CreateObject(), *calls;
	int i;

	if (c) {
		api_client_stats(c, &st);
		calls = cJSON_AddObjectToObject(o, "calls");
		for (i = 0; i < API_OP_COUNT; i++)
			cJSON_AddNumberToObject(calls, api_op_name((enum api_op)i),
						(double)st.calls[i]);
		cJSON_AddNumberToObject(o, "requests", (double)st.http.requests);
		cJSON_AddNumberToObject(o, "retries", (double)st.http.retries);
		cJSON_AddNumberToObject(o, "failures", (double)st.http.failures);
		cJSON_AddNumberToObject(o, "bytes_up", (double)st.http.bytes_up);
		cJSON_AddNumberToObject(o, "bytes_down", (double)st.http.bytes_down);
		cJSON_AddNumberToObject(o, "reconciled", (double)st.http.reconciled);
		cJSON_AddNumberToObject(o, "connects", (double)st.http.connects);
	}
	getrusage(RUSAGE_SELF, &ru);
	cJSON_AddNumberToObject(o, "maxrss_kb", (double)ru.ru_maxrss);
	/* VmHWM is this program's own peak: ru_maxrss on Linux also carries the
	 * peak of the process that forked us (kept across exec). */
	cJSON_AddNumberToObject(o, "vmhwm_kb", (double)vmhwm_kb());
	return o;
}

static int finish(struct api_client *c, cJSON *result, enum core_rc rc,
		  const struct core_err *err)
{
	cJSON *out = cJSON_CreateObject();
	char *s;

	if (rc) {
		cJSON *e = cJSON_AddObjectToObject(out, "error");

		cJSON_AddStringToObject(e, "rc", core_rc_name(rc));
		cJSON_AddNumberToObject(e, "http_status", (double)err->http_status);
		cJSON_AddStringToObject(e, "code", err->code);
		cJSON_AddNumberToObject(e, "retry_after_ms", (double)err->retry_after_ms);
		cJSON_AddStringToObject(e, "message", err->msg);
		cJSON_Delete(result);
	} else {
		cJSON_AddItemToObject(out, "result", result ? result : cJSON_CreateNull());
	}
	cJSON_AddItemToObject(out, "stats", stats_json(c));
	s = cJSON_PrintUnformatted(out);
	puts(s);
	cJSON_free(s);
	cJSON_Delete(out);
	return rc ? 1 : 0;
}

struct par_ctx {
	struct api_client *c;
	const char *id;
	int n;
	int ok;
};

static void *par_worker(void *arg)
{
	struct par_ctx *p = arg;
	int i;

	for (i = 0; i < p->n; i++) {
		struct batch b;

		if (api_batch_get(p->c, p->id, &b, NULL) == CORE_OK &&
		    strcmp(b.id, p->id) == 0)
			p->ok++;
		batch_release(&b);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bfcore [--surface S] [--endpoint URL] [--api-version V] [--auth K]\n"
		"  [--connect-timeout-ms N] [--request-timeout-ms N] [--deadline-ms N]\n"
		"  [--stall-ms N] [--max-retries N] [--backoff-ms N] [--retry-after-cap-ms N]\n"
		"  [--debug] COMMAND ...\n"
		"commands: upload PATH [NAME] | file-get ID | file-list [PURPOSE] |\n"
		"  file-delete ID | content ID OUT | wait-file ID TIMEOUT_MS |\n"
		"  batch-create FILE_ID ENDPOINT [--reconcile KEY] [k=v ...] |\n"
		"  batch-get ID | batch-list [LIMIT [AFTER]] | batch-list-all LIMIT |\n"
		"  batch-cancel ID | deployments | parallel-get THREADS COUNT ID\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "surface", required_argument, NULL, 's' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "api-version", required_argument, NULL, 'v' },
		{ "auth", required_argument, NULL, 'a' },
		{ "connect-timeout-ms", required_argument, NULL, 'C' },
		{ "request-timeout-ms", required_argument, NULL, 'R' },
		{ "deadline-ms", required_argument, NULL, 'D' },
		{ "stall-ms", required_argument, NULL, 'S' },
		{ "max-retries", required_argument, NULL, 'm' },
		{ "backoff-ms", required_argument, NULL, 'b' },
		{ "retry-after-cap-ms", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct core_err err = CORE_ERR_INIT;
	struct api_config cfg;
	struct api_client *client = NULL;
	struct auth *auth = NULL;
	const char *key, *auth_kind = NULL, *cmd;
	enum auth_kind kind;
	cJSON *result = NULL;
	enum core_rc rc;
	int opt, ret;

	api_config_defaults(&cfg);
	cfg.http.backoff_base_ms = 100;
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (!api_surface_parse(optarg, &cfg.surface)) {
				usage();
				return 2;
			}
			break;
		case 'e': cfg.endpoint = optarg; break;
		case 'v': cfg.api_version = optarg; break;
		case 'a': auth_kind = optarg; break;
		case 'C': cfg.http.connect_timeout_ms = atol(optarg); break;
		case 'R': cfg.http.request_timeout_ms = atol(optarg); break;
		case 'D': cfg.http.deadline_ms = atol(optarg); break;
		case 'S': cfg.http.transfer_stall_ms = atol(optarg); break;
		case 'm': cfg.http.max_retries = atoi(optarg); break;
		case 'b': cfg.http.backoff_base_ms = atol(optarg); break;
		case 'c': cfg.http.retry_after_cap_ms = atol(optarg); break;
		case 'd': log_init(LOG_LVL_DEBUG, false); break;
		default:
			usage();
			return 2;
		}
	}
	if (optind >= argc) {
		usage();
		return 2;
	}
	cmd = argv[optind++];
	key = getenv("BFCORE_KEY");
	if (!key)
		key = getenv(cfg.surface == API_SURFACE_OPENAI ? "OPENAI_API_KEY"
							      : "AZURE_OPENAI_API_KEY");
	kind = cfg.surface == API_SURFACE_OPENAI ? AUTH_BEARER : AUTH_API_KEY;
	if (auth_kind)
		kind = strcmp(auth_kind, "bearer") == 0 ? AUTH_BEARER : AUTH_API_KEY;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = auth_new(kind, key, &auth, &err);
	if (!rc)
		rc = api_client_new(&cfg, auth, &client, &err);
	if (rc) {
		ret = finish(NULL, NULL, rc, &err);
		goto out;
	}

#define NEED(n)                          \
	do {                             \
		if (argc - optind < (n)) { \
			usage();         \
			ret = 2;         \
			goto out;        \
		}                        \
	} while (0)

	if (!strcmp(cmd, "upload")) {
		struct api_upload up = { 0 };
		struct api_file f;
		struct stat st;
		const char *path;
		int fd;

		NEED(1);
		path = argv[optind];
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) != 0) {
			fprintf(stderr, "bfcore: %s: %s\n", path, strerror(errno));
			ret = 2;
			goto out;
		}
		up.fd = fd;
		up.size = st.st_size;
		up.filename = argc - optind > 1 ? argv[optind + 1] : strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		rc = api_file_upload(client, &up, &f, &err);
		close(fd);
		if (!rc)
			result = file_json(&f);
		api_file_release(&f);
	} else if (!strcmp(cmd, "file-get") || !strcmp(cmd, "wait-file")) {
		struct api_file f;

		NEED(!strcmp(cmd, "file-get") ? 1 : 2);
		if (!strcmp(cmd, "file-get"))
			rc = api_file_get(client, argv[optind], &f, &err);
		else
			rc = api_file_wait_processed(client, argv[optind],
						     atol(argv[optind + 1]), &f, &err);
		if (!rc)
			result = file_json(&f);
		api_file_release(&f);
	} else if (!strcmp(cmd, "file-list")) {
		struct file_page p;
		size_t i;

		rc = api_file_list(client, argc > optind ? argv[optind] : NULL, NULL, 0,
				   &p, &err);
		if (!rc) {
			result = cJSON_CreateArray();
			for (i = 0; i < p.n; i++)
				cJSON_AddItemToArray(result, file_json(&p.items[i]));
		}
		file_page_release(&p);
	} else if (!strcmp(cmd, "file-delete")) {
		NEED(1);
		rc = api_file_delete(client, argv[optind], &err);
		if (!rc)
			result = cJSON_CreateTrue();
	} else if (!strcmp(cmd, "content")) {
		int64_t n = 0;
		int fd;

		NEED(2);
		fd = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0) {
			fprintf(stderr, "bfcore: %s: %s\n", argv[optind + 1], strerror(errno));
			ret = 2;
			goto out;
		}
		rc = api_file_content(client, argv[optind], fd, 0, &n, NULL, NULL, &err);
		close(fd);
		if (!rc) {
			result = cJSON_CreateObject();
			cJSON_AddNumberToObject(result, "bytes", (double)n);
		}
	} else if (!strcmp(cmd, "batch-create")) {
		struct api_batch_create req = { 0 };
		struct kv md[16];
		struct batch b;
		int i;

		NEED(2);
		req.input_file_id = argv[optind];
		req.endpoint = argv[optind + 1];
		for (i = optind + 2; i < argc && req.nmetadata < 16; i++) {
			char *eq;

			if (!strcmp(argv[i], "--reconcile") && i + 1 < argc) {
				req.reconcile_key = argv[++i];
				continue;
			}
			eq = strchr(argv[i], '=');
			if (!eq)
				continue;
			*eq = '\0';
			md[req.nmetadata].key = argv[i];
			md[req.nmetadata].value = eq + 1;
			req.nmetadata++;
		}
		req.metadata = md;
		rc = api_batch_create(client, &req, &b, &err);
		if (!rc)
			result = batch_json(&b);
		batch_release(&b);
	} else if (!strcmp(cmd, "batch-get") || !strcmp(cmd, "batch-cancel")) {
		struct batch b;

		NEED(1);
		if (!strcmp(cmd, "batch-get"))
			rc = api_batch_get(client, argv[optind], &b, &err);
		else
			rc = api_batch_cancel(client, argv[optind], &b, &err);
		if (!rc)
			result = batch_json(&b);
		batch_release(&b);
	} else if (!strcmp(cmd, "batch-list")) {
		struct batch_page p;
		size_t i;
		cJSON *items;

		rc = api_batch_list(client, argc - optind > 1 ? argv[optind + 1] : NULL,
				    argc > optind ? atoi(argv[optind]) : 0, &p, &err);
		if (!rc) {
			result = cJSON_CreateObject();
			items = cJSON_AddArrayToObject(result, "data");
			for (i = 0; i < p.n; i++)
				cJSON_AddItemToArray(items, batch_json(&p.items[i]));
			cJSON_AddBoolToObject(result, "has_more", p.has_more);
			add_opt_string(result, "last_id", p.last_id);
		}
		batch_page_release(&p);
	} else if (!strcmp(cmd, "batch-list-all")) {
		/* Walks every page; prints the ids in order and the page count. */
		char *after = NULL;
		cJSON *ids;
		int pages = 0, limit;

		NEED(1);
		limit = atoi(argv[optind]);
		result = cJSON_CreateObject();
		ids = cJSON_AddArrayToObject(result, "ids");
		for (;;) {
			struct batch_page p;
			size_t i;

			rc = api_batch_list(client, after, limit, &p, &err);
			if (rc)
				break;
			pages++;
			for (i = 0; i < p.n; i++)
				cJSON_AddItemToArray(ids, cJSON_CreateString(p.items[i].id));
			free(after);
			after = p.has_more && p.last_id ? strdup(p.last_id) : NULL;
			batch_page_release(&p);
			if (!after)
				break;
		}
		free(after);
		cJSON_AddNumberToObject(result, "pages", pages);
	} else if (!strcmp(cmd, "parallel-get")) {
		/* THREADS x COUNT concurrent batch-gets on one shared client. */
		struct par_ctx ctx[64];
		pthread_t th[64];
		int nt, i, total = 0;

		NEED(3);
		nt = atoi(argv[optind]);
		if (nt < 1 || nt > 64) {
			usage();
			ret = 2;
			goto out;
		}
		for (i = 0; i < nt; i++) {
			ctx[i] = (struct par_ctx){ client, argv[optind + 2],
						   atoi(argv[optind + 1]), 0 };
			pthread_create(&th[i], NULL, par_worker, &ctx[i]);
		}
		for (i = 0; i < nt; i++) {
			pthread_join(th[i], NULL);
			total += ctx[i].ok;
		}
		result = cJSON_CreateObject();
		cJSON_AddNumberToObject(result, "ok", total);
	} else if (!strcmp(cmd, "deployments")) {
		struct deployment_list l;
		size_t i;

		rc = api_deployment_list(client, &l, &err);
		if (!rc) {
			result = cJSON_CreateArray();
			for (i = 0; i < l.n; i++)
				cJSON_AddItemToArray(result, cJSON_CreateString(l.items[i].name));
		}
		deployment_list_release(&l);
	} else {
		usage();
		ret = 2;
		goto out;
	}
	ret = finish(client, result, rc, &err);
out:
	api_client_free(client);
	curl_global_cleanup();
	return ret;
}
