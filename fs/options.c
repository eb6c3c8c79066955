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

#include "auth.h"
#include "options.h"
#include "token.h"

#define OPT(t, p, v) { t, offsetof(struct bfs_options, p), v }

static const struct fuse_opt bfs_opts[] = {
	OPT("surface=%s", surface, 0),
	OPT("endpoint=%s", endpoint, 0),
	OPT("api_version=%s", api_version, 0),
	OPT("key_file=%s", key_file, 0),
	OPT("auth=%s", auth, 0),
	OPT("scope=%s", scope, 0),
	OPT("tenant_id=%s", tenant_id, 0),
	OPT("client_id=%s", client_id, 0),
	OPT("authority_host=%s", authority_host, 0),
	OPT("imds_endpoint=%s", imds_endpoint, 0),
	OPT("token_command=%s", token_command, 0),
	OPT("az_command=%s", az_command, 0),
	OPT("subscription_id=%s", subscription_id, 0),
	OPT("resource_group=%s", resource_group, 0),
	OPT("account_name=%s", account_name, 0),
	OPT("management_endpoint=%s", management_endpoint, 0),
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
	OPT("stream_after=%s", stream_after, 0),
	OPT("max_streams=%d", max_streams, 0),
	OPT("max_downloads=%d", max_downloads, 0),
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
	OPT("log_level=%s", log_level, 0),
	OPT("-d", debug, 1),
	OPT("-f", foreground, 1),
	OPT("foreground", foreground, 1),
	FUSE_OPT_END
};

/* Options that would carry a secret on the command line. */
static bool is_secret_option(const char *arg)
{
	static const char *const names[] = {
		"api_key=", "key=", "token=", "ad_token=", "access_token=", "secret=",
		"client_secret=", "password=", "certificate_password=",
		"identity_header=", NULL
	};
	size_t i;

	for (i = 0; names[i]; i++)
		if (!strncmp(arg, names[i], strlen(names[i])))
			return true;
	return false;
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct bfs_options *o = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !o->mountpoint) {
		o->mountpoint = strdup(arg);
		return o->mountpoint ? 0 : -1;
	}
	if (key == FUSE_OPT_KEY_NONOPT && !o->source) {
		/* "batchfs SOURCE MOUNTPOINT", as mount(8) and fstab call it */
		o->source = o->mountpoint;
		o->mountpoint = strdup(arg);
		return o->mountpoint ? 0 : -1;
	}
	/* fstab-only options mount(8) may pass along: not ours, not libfuse's */
	if (key == FUSE_OPT_KEY_OPT &&
	    (!strncmp(arg, "x-", 2) || !strncmp(arg, "comment=", 8) ||
	     !strcmp(arg, "_netdev") || !strcmp(arg, "nofail") ||
	     !strcmp(arg, "noauto") || !strcmp(arg, "auto") || !strcmp(arg, "defaults")))
		return 0;
	if (key == FUSE_OPT_KEY_NONOPT) {
		fprintf(stderr, "batchfs: unexpected argument '%s'\n", arg);
		return -1;
	}
	/* Refuse secrets on the command line: they would be visible in ps. */
	if (key == FUSE_OPT_KEY_OPT && is_secret_option(arg)) {
		/* never echo arg: its value is the secret */
		fprintf(stderr, "batchfs: secrets are not accepted as options (they "
				"would show in ps); use AZURE_OPENAI_API_KEY, "
				"OPENAI_API_KEY, -o key_file=PATH, or the AZURE_* "
				"variables of the Azure SDKs\n");
		return -1;
	}
	return 1;
}

void bfs_options_usage(const char *prog)
{
	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n"
	       "\n"
	       "SOURCE, as mount(8) and /etc/fstab pass it, is the endpoint when it is\n"
	       "an https:// URL, else only a name. See man batchfs.\n"
	       "\n"
	       "service:\n"
	       "    -o surface=azure|azure-v1|openai  API surface (default azure,\n"
	       "                           or openai when only OPENAI_API_KEY is set)\n"
	       "    -o endpoint=URL        resource endpoint (AZURE_OPENAI_ENDPOINT,\n"
	       "                           OPENAI_BASE_URL)\n"
	       "    -o api_version=V       Azure api-version (OPENAI_API_VERSION,\n"
	       "                           default " API_DEFAULT_AZURE_VERSION ")\n"
	       "    -o organization=ORG    OpenAI-Organization header (OPENAI_ORG_ID)\n"
	       "    -o project=PROJ        OpenAI-Project header (OPENAI_PROJECT_ID)\n"
	       "    -o deployments=a,b     batch deployments to show\n"
	       "\n"
	       "credentials (secrets only from the environment or files, never options):\n"
	       "    -o key_file=PATH       read the API key from PATH (mode 0600)\n"
	       "    -o auth=MODE           api-key | bearer (how a key is sent),\n"
	       "                           ad-token (AZURE_OPENAI_AD_TOKEN), or an Entra ID\n"
	       "                           source: default (the DefaultAzureCredential chain),\n"
	       "                           environment, client-secret, client-certificate,\n"
	       "                           workload-identity, managed-identity, azure-cli,\n"
	       "                           token-command. Default: a key if one is set, else\n"
	       "                           AZURE_OPENAI_AD_TOKEN, else token_command, else\n"
	       "                           the chain\n"
	       "    -o scope=S             token scope (default\n"
	       "                           " TOKEN_SCOPE_COGNITIVE ")\n"
	       "    -o tenant_id=T, client_id=C   (AZURE_TENANT_ID, AZURE_CLIENT_ID)\n"
	       "    -o authority_host=URL  Entra ID authority (AZURE_AUTHORITY_HOST)\n"
	       "    -o imds_endpoint=URL   managed identity endpoint (default\n"
	       "                           " TOKEN_DEFAULT_IMDS ")\n"
	       "    -o token_command=CMD   a command printing a token (or token JSON)\n"
	       "    -o az_command=PATH     the Azure CLI (default az on PATH)\n"
	       "\n"
	       "deployment discovery through the management API (Entra ID token):\n"
	       "    -o subscription_id=S   (AZURE_SUBSCRIPTION_ID)\n"
	       "    -o resource_group=G, account_name=A\n"
	       "    -o management_endpoint=URL  (default https://management.azure.com)\n"
	       "\n"
	       "network:\n"
	       "    -o ca_file=PATH        CA bundle for TLS verification\n"
	       "    -o allow_http          allow plain http:// to non-loopback hosts\n"
	       "    -o connect_timeout_ms=N, request_timeout_ms=N, deadline_ms=N,\n"
	       "       stall_timeout_ms=N, max_retries=N   network limits\n"
	       "\n"
	       "local state and caching:\n"
	       "    -o spool_dir=DIR       private spool (default $XDG_STATE_HOME/batchfs/spool)\n"
	       "    -o cache_dir=DIR       download cache (default\n"
	       "                           $XDG_CACHE_HOME/batchfs/downloads)\n"
	       "    -o spool_size=N        spool budget, e.g. 2G (default 4G)\n"
	       "    -o cache_size=N        download cache budget (default 4G)\n"
	       "    -o stream_after=N      upload a submission while it is written once\n"
	       "                           it reaches N bytes (default 8M; 0: at close)\n"
	       "    -o max_streams=N       such uploads at once (default 8)\n"
	       "    -o max_downloads=N     downloads at once (default 16, at most 64)\n"
	       "    -o list_ttl_ms=N       how long a batch listing is reused (5000)\n"
	       "    -o status_ttl_ms=N     how long a running batch's status is reused (5000)\n"
	       "    -o process_timeout_ms=N  wait for an upload to be processed (600000)\n"
	       "    -o attr_timeout=S      kernel attribute cache, seconds (1)\n"
	       "\n"
	       "mounting:\n"
	       "    -o allow_other         let other users in (adds default_permissions)\n"
	       "    -o uid=N, gid=N, umask=M  owner and mode bits shown for every file\n"
	       "    -o auto_unmount        unmount when the daemon dies\n"
	       "    -o _netdev, nofail, x-systemd.*  fstab options, accepted and ignored\n"
	       "    -o log_level=L         error, warning (default), info or debug\n"
	       "    -o debug, -d           log_level=debug\n"
	       "    -f                     stay in the foreground (log to stderr; else syslog)\n"
	       "    --check                check the endpoint and credential, then exit\n"
	       "    -h, --help             this text;  -V, --version   the version\n"
	       "\n"
	       "environment: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION,\n"
	       "    AZURE_OPENAI_AD_TOKEN, OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID,\n"
	       "    OPENAI_PROJECT_ID, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,\n"
	       "    AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_CERTIFICATE_PASSWORD,\n"
	       "    AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST, IDENTITY_ENDPOINT,\n"
	       "    IDENTITY_HEADER, AZURE_POD_IDENTITY_AUTHORITY_HOST, AZURE_SUBSCRIPTION_ID,\n"
	       "    NOTIFY_SOCKET (systemd Type=notify)\n",
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
	free(o->scope);
	free(o->tenant_id);
	free(o->client_id);
	free(o->authority_host);
	free(o->imds_endpoint);
	free(o->token_command);
	free(o->az_command);
	free(o->subscription_id);
	free(o->resource_group);
	free(o->account_name);
	free(o->management_endpoint);
	free(o->organization);
	free(o->project);
	free(o->ca_file);
	free(o->deployments);
	free(o->spool_dir);
	free(o->cache_dir);
	free(o->spool_size);
	free(o->stream_after);
	free(o->cache_size);
	free(o->attr_timeout);
	free(o->mountpoint);
	free(o->source);
	free(o->log_level);
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

/* The SOURCE argument is the endpoint when it is a URL (fstab's first
 * field); anything else ("batchfs", "none") is only a name. */
static bool source_url(const struct bfs_options *o)
{
	return o->source && (!strncmp(o->source, "https://", 8) ||
			     !strncmp(o->source, "http://", 7));
}

static void token_config_fill(const struct bfs_options *o, const struct api_config *api,
			      struct token_config *tc)
{
	token_config_defaults(tc);
	tc->authority_host = o->authority_host ? o->authority_host : env("AZURE_AUTHORITY_HOST");
	tc->tenant_id = o->tenant_id ? o->tenant_id : env("AZURE_TENANT_ID");
	tc->client_id = o->client_id ? o->client_id : env("AZURE_CLIENT_ID");
	tc->client_secret = env("AZURE_CLIENT_SECRET");
	tc->certificate_path = env("AZURE_CLIENT_CERTIFICATE_PATH");
	tc->certificate_password = env("AZURE_CLIENT_CERTIFICATE_PASSWORD");
	tc->federated_token_file = env("AZURE_FEDERATED_TOKEN_FILE");
	tc->identity_endpoint = env("IDENTITY_ENDPOINT");
	tc->identity_header = env("IDENTITY_HEADER");
	tc->imds_endpoint = o->imds_endpoint ? o->imds_endpoint
					     : env("AZURE_POD_IDENTITY_AUTHORITY_HOST");
	tc->az_command = o->az_command;
	tc->token_command = o->token_command;
	tc->allow_http = api->allow_http;
	tc->http = api->http;
}

static enum core_rc token_auth_new(const struct bfs_options *o,
				   const struct api_config *api, enum token_kind kind,
				   const char *scope, struct auth **auth,
				   struct core_err *err)
{
	struct token_config tc;
	struct token_source *src;
	enum core_rc rc;

	token_config_fill(o, api, &tc);
	rc = token_source_new(kind, &tc, &src, err);
	if (rc)
		return rc;
	return auth_new_token(src, scope, auth, err);
}

/*
 * Which credential: -o auth= when given; else a key (key_file, then the
 * SDK's key variables), then AZURE_OPENAI_AD_TOKEN, then token_command,
 * then (Azure surfaces) the DefaultAzureCredential chain.
 */
static enum core_rc credential_new(const struct bfs_options *o,
				   const struct api_config *cfg, const char *key_env,
				   struct auth **auth, struct core_err *err)
{
	const char *scope = o->scope ? o->scope : TOKEN_SCOPE_COGNITIVE;
	const char *mode = o->auth;
	bool azure = cfg->surface != API_SURFACE_OPENAI;
	enum auth_kind kind;
	enum token_kind tk;
	char *key = NULL;
	enum core_rc rc;

	if (mode && token_kind_parse(mode, &tk)) {
		if (!azure)
			return core_err_set(err, CORE_EINVAL,
					    "auth=%s gives Entra ID tokens, which only Azure "
					    "takes; OpenAI needs OPENAI_API_KEY", mode);
		return token_auth_new(o, cfg, tk, scope, auth, err);
	}
	if (mode && !strcmp(mode, "ad-token")) {
		if (!env("AZURE_OPENAI_AD_TOKEN"))
			return core_err_set(err, CORE_EAUTH,
					    "auth=ad-token needs AZURE_OPENAI_AD_TOKEN");
		return auth_new(AUTH_BEARER, env("AZURE_OPENAI_AD_TOKEN"), auth, err);
	}
	if (mode && strcmp(mode, "api-key") && strcmp(mode, "bearer"))
		return core_err_set(err, CORE_EINVAL,
				    "unknown auth '%s' (api-key, bearer, ad-token, default, "
				    "environment, client-secret, client-certificate, "
				    "workload-identity, managed-identity, azure-cli, "
				    "token-command)", mode);
	if (o->key_file) {
		rc = read_key_file(o->key_file, &key, err);
		if (rc)
			return rc;
	} else {
		const char *k = env(key_env);

		if (!k && azure)
			k = env("OPENAI_API_KEY");
		if (!k && !azure)
			return core_err_set(err, CORE_EAUTH,
					    "no API key: set %s or -o key_file=PATH",
					    key_env);
		if (!k && mode)
			return core_err_set(err, CORE_EAUTH,
					    "auth=%s needs a key: set %s or -o key_file=PATH",
					    mode, key_env);
		if (!k && env("AZURE_OPENAI_AD_TOKEN"))
			return auth_new(AUTH_BEARER, env("AZURE_OPENAI_AD_TOKEN"), auth, err);
		if (!k)
			return token_auth_new(o, cfg, o->token_command ? TOKEN_COMMAND
								       : TOKEN_CHAIN,
					      scope, auth, err);
		key = strdup(k);
		if (!key)
			return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	kind = azure ? AUTH_API_KEY : AUTH_BEARER;
	if (mode && !strcmp(mode, "bearer"))
		kind = AUTH_BEARER;
	else if (mode && !strcmp(mode, "api-key"))
		kind = AUTH_API_KEY;
	rc = auth_new(kind, key, auth, err);
	secret_free(key);
	return rc;
}

enum core_rc bfs_options_arm_auth(const struct bfs_options *o, struct auth **auth,
				  struct core_err *err)
{
	struct api_config cfg;
	enum token_kind tk = TOKEN_CHAIN;
	const char *sub = o->subscription_id ? o->subscription_id
					     : env("AZURE_SUBSCRIPTION_ID");

	*auth = NULL;
	if (!sub || !o->resource_group || !o->account_name)
		return CORE_OK;
	/* the data plane's Entra ID source; with a key there, the same
	 * choice the data plane would make without one */
	if (!o->auth || !token_kind_parse(o->auth, &tk))
		tk = o->token_command ? TOKEN_COMMAND : TOKEN_CHAIN;
	api_config_defaults(&cfg);
	cfg.allow_http = o->allow_http;
	cfg.http.ca_file = o->ca_file;
	if (o->connect_timeout_ms > 0)
		cfg.http.connect_timeout_ms = o->connect_timeout_ms;
	if (o->max_retries >= 0)
		cfg.http.max_retries = o->max_retries;
	return token_auth_new(o, &cfg, tk, TOKEN_SCOPE_MANAGEMENT, auth, err);
}

void bfs_options_wipe_secret_env(void)
{
	static const char *const names[] = {
		"AZURE_OPENAI_API_KEY", "OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN",
		"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
		"IDENTITY_HEADER", NULL
	};
	size_t i;

	for (i = 0; names[i]; i++) {
		char *v = getenv(names[i]);

		/* wipe in place: /proc/PID/environ shows the original block */
		if (v)
			OPENSSL_cleanse(v, strlen(v));
		unsetenv(names[i]);
	}
}

enum core_rc bfs_options_api_config(const struct bfs_options *o,
				    struct api_config *cfg, struct auth **auth,
				    struct core_err *err)
{
	const char *key_env = NULL;

	*auth = NULL;
	api_config_defaults(cfg);
	if (o->surface) {
		if (!api_surface_parse(o->surface, &cfg->surface))
			return core_err_set(err, CORE_EINVAL,
					    "unknown surface '%s' (azure, azure-v1, openai)",
					    o->surface);
	} else if (!env("AZURE_OPENAI_ENDPOINT") && !o->endpoint && !source_url(o) &&
		   env("OPENAI_API_KEY") && !env("AZURE_OPENAI_API_KEY")) {
		cfg->surface = API_SURFACE_OPENAI;
	}
	if (cfg->surface == API_SURFACE_OPENAI) {
		cfg->endpoint = o->endpoint	 ? o->endpoint
				: source_url(o) ? o->source
						: env("OPENAI_BASE_URL");
		key_env = "OPENAI_API_KEY";
	} else {
		cfg->endpoint = o->endpoint	 ? o->endpoint
				: source_url(o) ? o->source
						: env("AZURE_OPENAI_ENDPOINT");
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

	return credential_new(o, cfg, key_env, auth, err);
}
