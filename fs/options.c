/* SPDX-License-Identifier: MIT */
/* options.c: parsing -o options and SDK environment variables into an API config. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "options.h"

#define OPT(t, p, v) { t, offsetof(struct bfs_options, p), v }

static const struct fuse_opt bfs_opts[] = {
	OPT("surface=%s", surface, 0),
	OPT("endpoint=%s", endpoint, 0),
	OPT("api_version=%s", api_version, 0),
	OPT("key_file=%s", key_file, 0),
	OPT("auth=%s", auth, 0),
	OPT("organization=%s", organization, 0),
	OPT("project=%s", project, 0),
	OPT("ca_file=%s", ca_file, 0),
	OPT("deployments=%s", deployments, 0),
	OPT("allow_http", allow_http, 1),
	OPT("connect_timeout_ms=%d", connect_timeout_ms, 0),
	OPT("request_timeout_ms=%d", request_timeout_ms, 0),
	OPT("deadline_ms=%d", deadline_ms, 0),
	OPT("stall_timeout_ms=%d", stall_timeout_ms, 0),
	OPT("max_retries=%d", max_retries, 0),
	OPT("spool_dir=%s", spool_dir, 0),
	OPT("cache_dir=%s", cache_dir, 0),
	OPT("spool_size=%s", spool_size, 0),
	OPT("cache_size=%s", cache_size, 0),
	OPT("list_ttl_ms=%d", list_ttl_ms, 0),
	OPT("status_ttl_ms=%d", status_ttl_ms, 0),
	OPT("process_timeout_ms=%d", process_timeout_ms, 0),
	OPT("attr_timeout=%s", attr_timeout, 0),
	OPT("allow_other", allow_other, 1),
	OPT("--check", check_only, 1),
	OPT("-h", show_help, 1),
	OPT("--help", show_help, 1),
	OPT("-V", show_version, 1),
	OPT("--version", show_version, 1),
	OPT("debug", debug, 1),
	OPT("-d", debug, 1),
	OPT("-f", foreground, 1),
	OPT("foreground", foreground, 1),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct bfs_options *o = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !o->mountpoint) {
		o->mountpoint = strdup(arg);
		return o->mountpoint ? 0 : -1;
	}
	if (key == FUSE_OPT_KEY_NONOPT) {
		fprintf(stderr, "batchfs: unexpected argument '%s'\n", arg);
		return -1;
	}
	/* Refuse secrets on the command line: they would be visible in ps. */
	if (key == FUSE_OPT_KEY_OPT &&
	    (!strncmp(arg, "api_key=", 8) || !strncmp(arg, "key=", 4) ||
	     !strncmp(arg, "token=", 6))) {
		fprintf(stderr, "batchfs: secrets are not accepted as options (they "
				"would show in ps); use AZURE_OPENAI_API_KEY, "
				"OPENAI_API_KEY or -o key_file=PATH\n");
		return -1;
	}
	return 1;
}

void bfs_options_usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "\n"
	       "batchfs options:\n"
	       "    -o surface=azure|azure-v1|openai  API surface (default azure,\n"
	       "                           or openai when only OPENAI_API_KEY is set)\n"
	       "    -o endpoint=URL        resource endpoint (AZURE_OPENAI_ENDPOINT,\n"
	       "                           OPENAI_BASE_URL)\n"
	       "    -o api_version=V       Azure api-version (OPENAI_API_VERSION,\n"
	       "                           default " API_DEFAULT_AZURE_VERSION ")\n"
	       "    -o key_file=PATH       read the API key from PATH (mode 0600)\n"
	       "    -o auth=api-key|bearer how to send the key (default: api-key on\n"
	       "                           Azure, bearer on OpenAI)\n"
	       "    -o organization=ORG    OpenAI-Organization header\n"
	       "    -o project=PROJ        OpenAI-Project header\n"
	       "    -o ca_file=PATH        CA bundle for TLS verification\n"
	       "    -o deployments=a,b     batch deployments to show\n"
	       "    -o allow_http          allow plain http:// to non-loopback hosts\n"
	       "    -o connect_timeout_ms=N, request_timeout_ms=N, deadline_ms=N,\n"
	       "       stall_timeout_ms=N, max_retries=N   network limits\n"
	       "    -o spool_dir=DIR       private spool (default $XDG_STATE_HOME/batchfs/spool)\n"
	       "    -o cache_dir=DIR       download cache (default $XDG_CACHE_HOME/batchfs)\n"
	       "    -o spool_size=N        spool budget, e.g. 2G (default 4G)\n"
	       "    -o cache_size=N        download cache budget (default 4G)\n"
	       "    -o list_ttl_ms=N       how long a batch listing is reused (5000)\n"
	       "    -o status_ttl_ms=N     how long a running batch's status is reused (5000)\n"
	       "    -o process_timeout_ms=N  wait for an upload to be processed (600000)\n"
	       "    -o attr_timeout=S      kernel attribute cache, seconds (1)\n"
	       "    -o allow_other         let other users in (adds default_permissions)\n"
	       "    -o debug               verbose logging\n"
	       "    -f                     stay in the foreground\n"
	       "    --check                check the endpoint and credential, then exit\n"
	       "\n"
	       "environment: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY,\n"
	       "    OPENAI_API_VERSION, OPENAI_API_KEY, OPENAI_BASE_URL\n",
	       prog);
}

/* Options that take no value: a token like these after "deployments=" is an
 * option of its own, not one more deployment name. */
static bool is_flag_option(const char *tok, size_t n)
{
	static const char *const flags[] = {
		"allow_other", "allow_root", "allow_http", "auto_unmount",
		"default_permissions", "debug", "foreground", "ro", "rw", "dev",
		"nodev", "suid", "nosuid", "exec", "noexec", "async", "sync",
		"atime", "noatime", "_netdev", "nofail", "defaults", "user",
		"users", "auto", "noauto", NULL
	};
	int i;

	for (i = 0; flags[i]; i++)
		if (strlen(flags[i]) == n && !strncmp(tok, flags[i], n))
			return true;
	return false;
}

/*
 * fuse_opt splits -o values at commas, so "-o deployments=a,b" would read
 * as "deployments=a" and an unknown option "b". Escape the commas that
 * continue a deployments= list (tokens without '=' that are not flags).
 * Returns a new string or NULL when nothing needed escaping.
 */
static char *escape_deployment_lists(const char *v)
{
	size_t n = strlen(v), i, j = 0;
	bool in_list = false;
	char *out = malloc(2 * n + 1);

	if (!out)
		return NULL;
	for (i = 0; i <= n; i++) {
		const char *tok = v + i;
		size_t len = strcspn(tok, ",");
		bool has_eq = memchr(tok, '=', len) != NULL;

		if (i > 0) {
			if (in_list && !has_eq && len && !is_flag_option(tok, len))
				out[j++] = '\\';
			else
				in_list = false;
			out[j++] = ',';
		}
		if (!strncmp(tok, "deployments=", 12))
			in_list = true;
		memcpy(out + j, tok, len);
		j += len;
		i += len;
	}
	out[j] = '\0';
	if (!strcmp(out, v)) {
		free(out);
		return NULL;
	}
	return out;
}

int bfs_options_parse(struct fuse_args *args, struct bfs_options *o)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	int i;

	memset(o, 0, sizeof(*o));
	/* Rebuild the arguments with deployments= lists escaped. */
	for (i = 0; i < args->argc; i++) {
		const char *arg = args->argv[i];
		bool joined = i > 0 && !strncmp(arg, "-o", 2) && arg[2];
		bool value = i > 1 && !strcmp(args->argv[i - 1], "-o");
		char *esc = NULL, *full = NULL;
		int r;

		if (joined)
			esc = escape_deployment_lists(arg + 2);
		else if (value)
			esc = escape_deployment_lists(arg);
		if (esc && joined && asprintf(&full, "-o%s", esc) < 0)
			full = NULL;
		r = fuse_opt_add_arg(&copy, full ? full : esc ? esc : arg);
		free(esc);
		free(full);
		if (r) {
			fuse_opt_free_args(&copy);
			return -1;
		}
	}
	fuse_opt_free_args(args);
	*args = copy;
	o->max_retries = -1;
	if (fuse_opt_parse(args, o, bfs_opts, opt_proc) == -1)
		return -1;
	return 0;
}

void bfs_options_release(struct bfs_options *o)
{
	free(o->surface);
	free(o->endpoint);
	free(o->api_version);
	free(o->key_file);
	free(o->auth);
	free(o->organization);
	free(o->project);
	free(o->ca_file);
	free(o->deployments);
	free(o->spool_dir);
	free(o->cache_dir);
	free(o->spool_size);
	free(o->cache_size);
	free(o->attr_timeout);
	free(o->mountpoint);
	memset(o, 0, sizeof(*o));
}

/* Reads a key file that only its owner can read; trailing newline dropped. */
static enum core_rc read_key_file(const char *path, char **out,
				  struct core_err *err)
{
	char buf[4096];
	struct stat st;
	ssize_t n;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return core_err_set(err, CORE_EINVAL, "cannot open key file '%s': %s",
				    path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return core_err_set(err, CORE_EINVAL,
				    "key file '%s' is not a regular file", path);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return core_err_set(err, CORE_EINVAL,
				    "key file '%s' is readable by others (mode %03o); "
				    "run: chmod 600 '%s'",
				    path, (unsigned)(st.st_mode & 0777), path);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return core_err_set(err, CORE_EINVAL, "cannot read key file '%s': %s",
				    path, strerror(errno));
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
		     buf[n - 1] == ' '))
		buf[--n] = '\0';
	*out = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (!*out)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	return CORE_OK;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

enum core_rc bfs_options_api_config(const struct bfs_options *o,
				    struct api_config *cfg, struct auth **auth,
				    struct core_err *err)
{
	enum auth_kind kind;
	const char *key_env = NULL;
	char *key = NULL;
	enum core_rc rc;

	*auth = NULL;
	api_config_defaults(cfg);
	if (o->surface) {
		if (!api_surface_parse(o->surface, &cfg->surface))
			return core_err_set(err, CORE_EINVAL,
					    "unknown surface '%s' (azure, azure-v1, openai)",
					    o->surface);
	} else if (!env("AZURE_OPENAI_ENDPOINT") && !o->endpoint &&
		   env("OPENAI_API_KEY") && !env("AZURE_OPENAI_API_KEY")) {
		cfg->surface = API_SURFACE_OPENAI;
	}
	if (cfg->surface == API_SURFACE_OPENAI) {
		cfg->endpoint = o->endpoint ? o->endpoint : env("OPENAI_BASE_URL");
		key_env = "OPENAI_API_KEY";
	} else {
		cfg->endpoint = o->endpoint ? o->endpoint : env("AZURE_OPENAI_ENDPOINT");
		key_env = "AZURE_OPENAI_API_KEY";
		if (cfg->surface == API_SURFACE_AZURE)
			cfg->api_version = o->api_version ? o->api_version
				: env("OPENAI_API_VERSION") ? env("OPENAI_API_VERSION")
							    : API_DEFAULT_AZURE_VERSION;
		else
			cfg->api_version = o->api_version;
		if (!cfg->endpoint)
			return core_err_set(err, CORE_EINVAL,
					    "no endpoint: set AZURE_OPENAI_ENDPOINT or -o endpoint=URL");
	}
	cfg->organization = o->organization ? o->organization : env("OPENAI_ORG_ID");
	cfg->project = o->project ? o->project : env("OPENAI_PROJECT_ID");
	cfg->allow_http = o->allow_http;
	cfg->http.ca_file = o->ca_file;
	if (o->connect_timeout_ms > 0)
		cfg->http.connect_timeout_ms = o->connect_timeout_ms;
	if (o->request_timeout_ms > 0)
		cfg->http.request_timeout_ms = o->request_timeout_ms;
	if (o->deadline_ms > 0)
		cfg->http.deadline_ms = o->deadline_ms;
	if (o->stall_timeout_ms > 0)
		cfg->http.transfer_stall_ms = o->stall_timeout_ms;
	if (o->max_retries >= 0)
		cfg->http.max_retries = o->max_retries;

	if (o->key_file) {
		rc = read_key_file(o->key_file, &key, err);
		if (rc)
			return rc;
	} else {
		const char *k = env(key_env);

		if (!k && cfg->surface != API_SURFACE_OPENAI)
			k = env("OPENAI_API_KEY");
		if (!k)
			return core_err_set(err, CORE_EAUTH,
					    "no API key: set %s or -o key_file=PATH",
					    key_env);
		key = strdup(k);
		if (!key)
			return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	kind = cfg->surface == API_SURFACE_OPENAI ? AUTH_BEARER : AUTH_API_KEY;
	if (o->auth && !strcmp(o->auth, "bearer"))
		kind = AUTH_BEARER;
	else if (o->auth && !strcmp(o->auth, "api-key"))
		kind = AUTH_API_KEY;
	else if (o->auth) {
		secret_free(key);
		return core_err_set(err, CORE_EINVAL,
				    "unknown auth '%s' (api-key, bearer)", o->auth);
	}
	rc = auth_new(kind, key, auth, err);
	secret_free(key);
	return rc;
}
