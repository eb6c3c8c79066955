/* SPDX-License-Identifier: MIT */
/* token.c: building token sources from the configuration, and the DefaultAzureCredential chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "assertion.h"
#include "auth.h"
#include "log.h"
#include "token_internal.h"
#include "url.h"

static const char *const kind_names[TOKEN_KIND_COUNT] = {
	[TOKEN_CHAIN] = "default",
	[TOKEN_ENVIRONMENT] = "environment",
	[TOKEN_CLIENT_SECRET] = "client-secret",
	[TOKEN_CLIENT_CERTIFICATE] = "client-certificate",
	[TOKEN_WORKLOAD_IDENTITY] = "workload-identity",
	[TOKEN_MANAGED_IDENTITY] = "managed-identity",
	[TOKEN_AZURE_CLI] = "azure-cli",
	[TOKEN_COMMAND] = "token-command",
};

bool token_kind_parse(const char *name, enum token_kind *out)
{
	int i;

	for (i = 0; i < TOKEN_KIND_COUNT; i++)
		if (name && !strcmp(name, kind_names[i])) {
			*out = (enum token_kind)i;
			return true;
		}
	return false;
}

const char *token_kind_name(enum token_kind k)
{
	return (unsigned)k < TOKEN_KIND_COUNT ? kind_names[k] : "?";
}

void token_release(struct token *t)
{
	if (!t)
		return;
	secret_free(t->value);
	t->value = NULL;
	t->expires_on = 0;
}

void token_config_defaults(struct token_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	http_config_defaults(&cfg->http);
}

char *token_scope_resource(const char *scope)
{
	size_t n = strlen(scope);
	const char *suffix = "/.default";
	size_t k = strlen(suffix);

	if (n > k && !strcmp(scope + n - k, suffix))
		n -= k;
	return strndup(scope, n);
}

/* ---- construction ------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static char *dup_secret(const char *s)
{
	char *d = dup_or_null(s);

	if (d)
		(void)mlock(d, strlen(d) + 1);
	return d;
}

/* An endpoint batchfs may send a token request (and so a secret) to. */
static enum core_rc endpoint_ok(const char *what, const char *url, bool allow_http,
				struct core_err *err)
{
	struct core_err e = CORE_ERR_INIT;

	if (url_check_endpoint(url, allow_http, &e))
		return core_err_set(err, CORE_EINVAL, "%s: %s", what, e.msg);
	return CORE_OK;
}

static enum core_rc need(const char *value, const char *what, enum token_kind k,
			 struct core_err *err)
{
	if (value && *value)
		return CORE_OK;
	return core_err_set(err, CORE_EINVAL, "auth=%s needs %s", kind_names[k], what);
}

static enum core_rc member_new(enum token_kind kind, const struct token_config *cfg,
			       bool in_chain, struct token_source **out,
			       struct core_err *err);

void token_source_free(struct token_source *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < s->nmembers; i++)
		token_source_free(s->members[i]);
	http_client_free(s->http);
	cert_credential_free(s->cert);
	secret_free(s->client_secret);
	secret_free(s->identity_header);
	free(s->authority);
	free(s->tenant_id);
	free(s->client_id);
	free(s->federated_token_file);
	free(s->identity_endpoint);
	free(s->imds_endpoint);
	free(s->az_command);
	free(s->token_command);
	free(s);
}

/* Which kinds the environment sets up, in DefaultAzureCredential's order. */
static bool env_has_secret(const struct token_config *c)
{
	return c->tenant_id && c->client_id && c->client_secret;
}

static bool env_has_certificate(const struct token_config *c)
{
	return c->tenant_id && c->client_id && c->certificate_path;
}

static enum core_rc source_init(struct token_source *s, const struct token_config *cfg,
				bool in_chain, struct core_err *err)
{
	enum token_kind k = s->kind;
	struct http_config hc = cfg->http;
	const char *authority = cfg->authority_host ? cfg->authority_host
						    : TOKEN_DEFAULT_AUTHORITY;
	enum core_rc rc;

	switch (k) {
	case TOKEN_CLIENT_SECRET:
	case TOKEN_CLIENT_CERTIFICATE:
	case TOKEN_WORKLOAD_IDENTITY:
		if ((rc = need(cfg->tenant_id, "AZURE_TENANT_ID", k, err)) ||
		    (rc = need(cfg->client_id, "AZURE_CLIENT_ID", k, err)))
			return rc;
		if (k == TOKEN_CLIENT_SECRET &&
		    (rc = need(cfg->client_secret, "AZURE_CLIENT_SECRET", k, err)))
			return rc;
		if (k == TOKEN_CLIENT_CERTIFICATE &&
		    (rc = need(cfg->certificate_path, "AZURE_CLIENT_CERTIFICATE_PATH",
			       k, err)))
			return rc;
		if (k == TOKEN_WORKLOAD_IDENTITY &&
		    (rc = need(cfg->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE",
			       k, err)))
			return rc;
		if (!strstr(authority, "://")) {
			/* AZURE_AUTHORITY_HOST may be a bare host name */
			size_t n = strlen(authority) + 9;

			s->authority = malloc(n);
			if (s->authority)
				snprintf(s->authority, n, "https://%s", authority);
		} else {
			s->authority = strdup(authority);
		}
		if (!s->authority)
			return core_err_set(err, CORE_ENOMEM, "out of memory");
		while (*s->authority && s->authority[strlen(s->authority) - 1] == '/')
			s->authority[strlen(s->authority) - 1] = '\0';
		if ((rc = endpoint_ok("authority host", s->authority, cfg->allow_http, err)))
			return rc;
		if (k == TOKEN_CLIENT_SECRET)
			s->client_secret = dup_secret(cfg->client_secret);
		if (k == TOKEN_WORKLOAD_IDENTITY) {
			/* read again at each renewal, maybe after a chdir("/") */
			char cwd[4096];

			if (cfg->federated_token_file[0] != '/' && getcwd(cwd, sizeof(cwd))) {
				if (asprintf(&s->federated_token_file, "%s/%s", cwd,
					     cfg->federated_token_file) < 0)
					s->federated_token_file = NULL;
			} else {
				s->federated_token_file = strdup(cfg->federated_token_file);
			}
			if (!s->federated_token_file)
				return core_err_set(err, CORE_ENOMEM, "out of memory");
		}
		if (k == TOKEN_CLIENT_CERTIFICATE) {
			rc = cert_credential_load(cfg->certificate_path,
						  cfg->certificate_password, &s->cert, err);
			if (rc)
				return rc;
		}
		break;
	case TOKEN_MANAGED_IDENTITY:
		hc.no_proxy = true; /* identity endpoints are local by design */
		if (cfg->identity_endpoint && cfg->identity_header) {
			s->app_service = true;
			s->identity_endpoint = strdup(cfg->identity_endpoint);
			s->identity_header = dup_secret(cfg->identity_header);
			if ((rc = endpoint_ok("IDENTITY_ENDPOINT", cfg->identity_endpoint,
					      cfg->allow_http, err)))
				return rc;
		} else {
			/* IMDS is plain http on a link-local address by design. */
			s->imds_endpoint = strdup(cfg->imds_endpoint ? cfg->imds_endpoint
								     : TOKEN_DEFAULT_IMDS);
			if (in_chain) {
				/* Off Azure nothing answers at IMDS: find out fast. */
				hc.connect_timeout_ms = cfg->imds_probe_timeout_ms > 0
								? cfg->imds_probe_timeout_ms
								: 1000;
				hc.max_retries = 0;
			}
		}
		break;
	case TOKEN_AZURE_CLI:
		s->az_command = strdup(cfg->az_command ? cfg->az_command : "az");
		break;
	case TOKEN_COMMAND:
		if ((rc = need(cfg->token_command, "-o token_command=CMD", k, err)))
			return rc;
		s->token_command = strdup(cfg->token_command);
		break;
	default:
		break;
	}
	s->tenant_id = dup_or_null(cfg->tenant_id);
	s->client_id = dup_or_null(cfg->client_id);
	s->command_timeout_ms = cfg->command_timeout_ms > 0 ? cfg->command_timeout_ms : 10000;
	if (k == TOKEN_CLIENT_SECRET || k == TOKEN_CLIENT_CERTIFICATE ||
	    k == TOKEN_WORKLOAD_IDENTITY || k == TOKEN_MANAGED_IDENTITY) {
		rc = http_client_new(&hc, &s->http, err);
		if (rc)
			return rc;
	}
	return CORE_OK;
}

static enum core_rc member_new(enum token_kind kind, const struct token_config *cfg,
			       bool in_chain, struct token_source **out,
			       struct core_err *err)
{
	struct token_source *s = calloc(1, sizeof(*s));
	enum core_rc rc;

	*out = NULL;
	if (!s)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	s->kind = kind;
	atomic_init(&s->chosen, -1);
	if (kind == TOKEN_ENVIRONMENT || kind == TOKEN_CHAIN) {
		enum token_kind order[TOKEN_CHAIN_MAX];
		int n = 0, i;

		if (env_has_secret(cfg))
			order[n++] = TOKEN_CLIENT_SECRET;
		else if (env_has_certificate(cfg))
			order[n++] = TOKEN_CLIENT_CERTIFICATE;
		if (kind == TOKEN_ENVIRONMENT && !n) {
			free(s);
			return core_err_set(err, CORE_EINVAL,
					    "auth=environment needs AZURE_TENANT_ID, "
					    "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or "
					    "AZURE_CLIENT_CERTIFICATE_PATH");
		}
		if (kind == TOKEN_CHAIN) {
			if (cfg->federated_token_file && cfg->tenant_id && cfg->client_id)
				order[n++] = TOKEN_WORKLOAD_IDENTITY;
			order[n++] = TOKEN_MANAGED_IDENTITY;
			order[n++] = TOKEN_AZURE_CLI;
		}
		for (i = 0; i < n; i++) {
			rc = member_new(order[i], cfg, kind == TOKEN_CHAIN,
					&s->members[i], err);
			if (rc) {
				token_source_free(s);
				return rc;
			}
			s->nmembers++;
		}
		if (kind == TOKEN_ENVIRONMENT)
			atomic_store(&s->chosen, 0);
		*out = s;
		return CORE_OK;
	}
	rc = source_init(s, cfg, in_chain, err);
	if (rc) {
		token_source_free(s);
		return rc;
	}
	*out = s;
	return CORE_OK;
}

enum core_rc token_source_new(enum token_kind kind, const struct token_config *cfg,
			      struct token_source **out, struct core_err *err)
{
	return member_new(kind, cfg, false, out, err);
}

/* ---- fetching ------------------------------------------------------------ */

static enum core_rc chain_fetch(struct token_source *s, const char *scope,
				struct token *out, struct core_err *err)
{
	char tried[sizeof(err->msg)] = "";
	int chosen = atomic_load(&s->chosen), i;

	if (chosen >= 0)
		return token_source_fetch(s->members[chosen], scope, out, err);
	for (i = 0; i < s->nmembers; i++) {
		struct core_err e = CORE_ERR_INIT;
		enum core_rc rc = token_source_fetch(s->members[i], scope, out, &e);
		size_t used = strlen(tried);

		if (rc == CORE_OK) {
			atomic_store(&s->chosen, i);
			log_info("credential chain: using %s",
				 token_source_kind(s->members[i]));
			return CORE_OK;
		}
		if (rc != CORE_ENOTFOUND) {
			/* Set up but failing: stop here, as DefaultAzureCredential does. */
			if (err)
				*err = e;
			return core_err_set(err, rc, "%s: %s",
					    token_source_kind(s->members[i]), e.msg);
		}
		snprintf(tried + used, sizeof(tried) - used, "%s%s: %.160s",
			 used ? "; " : "", token_source_kind(s->members[i]), e.msg);
	}
	return core_err_set(err, CORE_EAUTH,
			    "no credential found (tried %s); set AZURE_OPENAI_API_KEY, "
			    "the AZURE_* variables of a service principal, or run "
			    "'az login'", tried);
}

enum core_rc token_source_fetch(struct token_source *s, const char *scope,
				struct token *out, struct core_err *err)
{
	memset(out, 0, sizeof(*out));
	switch (s->kind) {
	case TOKEN_CHAIN:
		return chain_fetch(s, scope, out, err);
	case TOKEN_ENVIRONMENT:
		return token_source_fetch(s->members[0], scope, out, err);
	case TOKEN_CLIENT_SECRET:
	case TOKEN_CLIENT_CERTIFICATE:
	case TOKEN_WORKLOAD_IDENTITY:
		return token_entra_fetch(s, scope, out, err);
	case TOKEN_MANAGED_IDENTITY:
		return token_msi_fetch(s, scope, out, err);
	case TOKEN_AZURE_CLI:
	case TOKEN_COMMAND:
		return token_exec_fetch(s, scope, out, err);
	default:
		return core_err_set(err, CORE_EINVAL, "unknown credential kind");
	}
}

const char *token_source_kind(const struct token_source *s)
{
	int chosen = atomic_load(&s->chosen);

	if ((s->kind == TOKEN_CHAIN || s->kind == TOKEN_ENVIRONMENT) && chosen >= 0)
		return token_source_kind(s->members[chosen]);
	if (s->kind == TOKEN_MANAGED_IDENTITY)
		return s->app_service ? "managed-identity (app service)"
				      : "managed-identity (imds)";
	return kind_names[s->kind];
}

void token_source_describe(const struct token_source *s, char *buf, size_t n)
{
	int chosen = atomic_load(&s->chosen);

	if ((s->kind == TOKEN_CHAIN || s->kind == TOKEN_ENVIRONMENT)) {
		if (chosen >= 0)
			token_source_describe(s->members[chosen], buf, n);
		else
			snprintf(buf, n, "not chosen yet");
		return;
	}
	switch (s->kind) {
	case TOKEN_CLIENT_CERTIFICATE:
		snprintf(buf, n, "tenant=%s client_id=%s certificate=%s", s->tenant_id,
			 s->client_id, cert_credential_thumbprint(s->cert));
		break;
	case TOKEN_CLIENT_SECRET:
	case TOKEN_WORKLOAD_IDENTITY:
		snprintf(buf, n, "tenant=%s client_id=%s", s->tenant_id, s->client_id);
		break;
	case TOKEN_MANAGED_IDENTITY:
		snprintf(buf, n, "client_id=%s endpoint=%s",
			 s->client_id ? s->client_id : "system-assigned",
			 s->app_service ? s->identity_endpoint : s->imds_endpoint);
		break;
	case TOKEN_AZURE_CLI:
		snprintf(buf, n, "command=%s%s%s", s->az_command,
			 s->tenant_id ? " tenant=" : "", s->tenant_id ? s->tenant_id : "");
		break;
	case TOKEN_COMMAND:
		snprintf(buf, n, "command=%s", s->token_command);
		break;
	default:
		snprintf(buf, n, "-");
	}
}
