/* SPDX-License-Identifier: MIT */
/* api_client.c: the API client object, URL/headers per surface, and the raw call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "buf.h"
#include "log.h"

static const char *const op_names[API_OP_COUNT] = {
	[API_OP_FILE_UPLOAD] = "file_upload",
	[API_OP_FILE_GET] = "file_get",
	[API_OP_FILE_LIST] = "file_list",
	[API_OP_FILE_DELETE] = "file_delete",
	[API_OP_FILE_CONTENT] = "file_content",
	[API_OP_BATCH_CREATE] = "batch_create",
	[API_OP_BATCH_GET] = "batch_get",
	[API_OP_BATCH_LIST] = "batch_list",
	[API_OP_BATCH_CANCEL] = "batch_cancel",
	[API_OP_DEPLOYMENT_LIST] = "deployment_list",
};

const char *api_op_name(enum api_op op)
{
	return (unsigned)op < API_OP_COUNT ? op_names[op] : "?";
}

void api_config_defaults(struct api_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->surface = API_SURFACE_AZURE;
	cfg->api_version = NULL; /* api_client_new(): the Azure default */
	http_config_defaults(&cfg->http);
}

static bool version_ok(const char *v)
{
	size_t i;

	if (!*v || strlen(v) > 40)
		return false;
	for (i = 0; v[i]; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '.'))
			return false;
	return true;
}

static char *header_line(const char *name, const char *value)
{
	struct buf b = BUF_INIT(0);

	if (!value || !*value)
		return NULL;
	if (buf_printf(&b, "%s: %s", name, value)) {
		buf_release(&b);
		return NULL;
	}
	return buf_take(&b);
}

enum core_rc api_client_new(const struct api_config *cfg, struct auth *auth,
			    struct api_client **out, struct core_err *err)
{
	struct api_client *c;
	const char *endpoint = cfg->endpoint;
	const char *version = cfg->api_version;
	enum core_rc rc;

	*out = NULL;
	if (cfg->surface == API_SURFACE_OPENAI && (!endpoint || !*endpoint))
		endpoint = API_DEFAULT_OPENAI_BASE;
	if (cfg->surface == API_SURFACE_AZURE && (!version || !*version))
		version = API_DEFAULT_AZURE_VERSION;
	if (cfg->surface == API_SURFACE_OPENAI)
		version = NULL;
	rc = url_check_endpoint(endpoint, cfg->allow_http, err);
	if (rc)
		goto fail;
	if (version && *version && !version_ok(version)) {
		rc = core_err_set(err, CORE_EINVAL, "invalid api-version '%.40s'",
				  version);
		goto fail;
	}
	if (!auth) {
		rc = core_err_set(err, CORE_EINVAL, "no credential given");
		goto fail;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto fail;
	}
	c->surface = cfg->surface;
	c->base = url_base(cfg->surface, endpoint);
	c->api_version = version && *version ? strdup(version) : NULL;
	c->org_header = header_line("OpenAI-Organization", cfg->organization);
	c->proj_header = header_line("OpenAI-Project", cfg->project);
	c->auth = auth;
	auth = NULL;
	if (!c->base || (version && *version && !c->api_version) ||
	    (cfg->organization && *cfg->organization && !c->org_header) ||
	    (cfg->project && *cfg->project && !c->proj_header)) {
		api_client_free(c);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	rc = http_client_new(&cfg->http, &c->http, err);
	if (rc) {
		api_client_free(c);
		return rc;
	}
	*out = c;
	return CORE_OK;
fail:
	auth_free(auth);
	return rc;
}

void api_client_free(struct api_client *c)
{
	if (!c)
		return;
	http_client_free(c->http);
	auth_free(c->auth);
	free(c->base);
	free(c->api_version);
	free(c->org_header);
	free(c->proj_header);
	free(c);
}

enum api_surface api_client_surface(const struct api_client *c)
{
	return c->surface;
}

void api_client_stats(const struct api_client *c, struct api_stats *out)
{
	int i;

	for (i = 0; i < API_OP_COUNT; i++)
		out->calls[i] = atomic_load(&c->calls[i]);
	http_client_stats(c->http, &out->http);
}

enum core_rc api_query_add(struct buf *q, const char *key, const char *value)
{
	enum core_rc rc;
	char *esc;

	if (!value || !*value)
		return CORE_OK;
	esc = url_escape_segment(value);
	if (!esc)
		return CORE_ENOMEM;
	rc = buf_printf(q, "%s%s=%s", q->len ? "&" : "", key, esc);
	free(esc);
	return rc;
}

char *api_path_with_id(const char *collection, const char *id,
		       const char *suffix)
{
	struct buf b = BUF_INIT(0);
	char *esc = url_escape_segment(id);

	if (!esc)
		return NULL;
	if (buf_printf(&b, "%s/%s%s", collection, esc, suffix ? suffix : "")) {
		free(esc);
		buf_release(&b);
		return NULL;
	}
	free(esc);
	return buf_take(&b);
}

/* "GET /openai/batches/x": the URL's path, no host or query, bounded. */
static void make_label(char *dst, size_t n, enum http_method m, const char *url)
{
	const char *p = strstr(url, "://");
	const char *meth = m == HTTP_GET ? "GET" : m == HTTP_POST ? "POST" : "DELETE";
	size_t len;

	p = p ? strchr(p + 3, '/') : NULL;
	if (!p)
		p = "/";
	len = strcspn(p, "?");
	if (len > 120)
		snprintf(dst, n, "%s %.117s...", meth, p);
	else
		snprintf(dst, n, "%s %.*s", meth, (int)len, p);
}

enum core_rc api_call_run(struct api_client *c, const struct api_call *call,
			  struct http_response *resp, struct core_err *err)
{
	const char *headers[3] = { NULL, NULL, NULL };
	struct http_request req;
	char label[160], *url;
	enum core_rc rc;
	int nh = 0;

	atomic_fetch_add(&c->calls[call->op], 1);
	url = call->url_override
		      ? strdup(call->url_override)
		      : url_build(c->surface, c->base, c->api_version,
				  call->path, call->query);
	if (!url)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	if (c->org_header)
		headers[nh++] = c->org_header;
	if (c->proj_header)
		headers[nh++] = c->proj_header;
	make_label(label, sizeof(label), call->method, url);
	memset(&req, 0, sizeof(req));
	req.method = call->method;
	req.url = url;
	req.label = label;
	req.accept = call->accept;
	req.headers = headers;
	req.auth_line = auth_header;
	req.auth_ctx = c->auth;
	req.body = call->body;
	req.body_len = call->body_len;
	req.upload = call->upload;
	req.sink_fd = call->sink_fd;
	req.sink_off = call->sink_off;
	req.sink_progress = call->sink_progress;
	req.sink_progress_ctx = call->sink_progress_ctx;
	req.idempotent = call->idempotent;
	req.transfer = call->transfer;
	req.reconcile = call->reconcile;
	req.reconcile_ctx = call->reconcile_ctx;
	req.cancelled = call->cancelled;
	req.cancel_ctx = call->cancel_ctx;
	log_debug("%s", label);
	rc = http_perform(c->http, &req, resp, err);
	free(url);
	if (rc)
		log_debug("%s failed: %s", label, err ? err->msg : core_rc_str(rc));
	return rc;
}
