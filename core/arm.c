/* SPDX-License-Identifier: MIT */
/* arm.c: deployment discovery through the Azure management API (ARM). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm.h"
#include "log.h"
#include "parse.h"
#include "url.h"

bool arm_sku_is_batch(const char *sku)
{
	return sku && (!strcasecmp(sku, "GlobalBatch") || !strcasecmp(sku, "DataZoneBatch"));
}

/* Length of "scheme://host[:port]" at the start of url. */
static size_t origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return 0;
	p += 3;
	return (size_t)(p - url) + strcspn(p, "/?#");
}

static bool same_origin(const char *a, const char *b)
{
	size_t n = origin_len(a);

	return n && n == origin_len(b) && !strncasecmp(a, b, n);
}

/* Moves the items of page into all (both released by the caller). */
static enum core_rc take_items(struct deployment_list *all, struct deployment_list *page,
			       struct core_err *err)
{
	struct deployment *items;
	size_t i;

	items = realloc(all->items, (all->n + page->n + 1) * sizeof(*items));
	if (!items)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	all->items = items;
	for (i = 0; i < page->n; i++) {
		if (!arm_sku_is_batch(page->items[i].sku)) {
			log_debug("ARM: deployment '%s' (sku %s) is not a batch deployment",
				  page->items[i].name,
				  page->items[i].sku ? page->items[i].sku : "none");
			continue;
		}
		all->items[all->n++] = page->items[i];
		memset(&page->items[i], 0, sizeof(page->items[i]));
	}
	return CORE_OK;
}

enum core_rc arm_deployment_list(const struct arm_config *cfg, struct auth *auth,
				 struct deployment_list *out, struct core_err *err)
{
	const char *endpoint = cfg->endpoint ? cfg->endpoint : ARM_DEFAULT_ENDPOINT;
	char *sub = NULL, *rg = NULL, *acct = NULL, *url = NULL, *base = NULL;
	struct http_client *http = NULL;
	enum core_rc rc;
	int page;

	memset(out, 0, sizeof(*out));
	rc = url_check_endpoint(endpoint, cfg->allow_http, err);
	if (rc)
		return rc;
	sub = url_escape_segment(cfg->subscription_id);
	rg = url_escape_segment(cfg->resource_group);
	acct = url_escape_segment(cfg->account_name);
	base = strdup(endpoint);
	if (!sub || !rg || !acct || !base) {
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto out;
	}
	while (*base && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	if (asprintf(&url, "%s/subscriptions/%s/resourceGroups/%s/providers/"
			   "Microsoft.CognitiveServices/accounts/%s/deployments"
			   "?api-version=" ARM_API_VERSION,
		     base, sub, rg, acct) < 0) {
		url = NULL;
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto out;
	}
	rc = http_client_new(&cfg->http, &http, err);
	if (rc)
		goto out;
	for (page = 0; url && page < ARM_MAX_PAGES; page++) {
		struct http_request req;
		struct http_response resp;
		struct deployment_list pl;
		char label[200];

		snprintf(label, sizeof(label), "GET %.60s/.../accounts/%.60s/deployments",
			 base, cfg->account_name);
		memset(&req, 0, sizeof(req));
		req.method = HTTP_GET;
		req.url = url;
		req.label = label;
		req.sink_fd = -1;
		req.idempotent = true;
		req.auth_line = auth_header;
		req.auth_ctx = auth;
		http_response_init(&resp);
		rc = http_perform(http, &req, &resp, err);
		if (!rc)
			rc = parse_deployments(resp.body.data, resp.body.len,
					       DEPLOY_SRC_ARM, &pl, err);
		http_response_release(&resp);
		if (rc)
			break;
		rc = take_items(out, &pl, err);
		free(url);
		url = pl.next_link;
		pl.next_link = NULL;
		deployment_list_release(&pl);
		if (rc)
			break;
		if (url && !same_origin(url, base)) {
			log_warn("ARM: nextLink leads to another host; not followed");
			free(url);
			url = NULL;
		}
	}
	if (!rc && url)
		log_warn("ARM: stopped after %d pages of deployments", ARM_MAX_PAGES);
out:
	if (rc)
		deployment_list_release(out);
	http_client_free(http);
	free(url);
	free(sub);
	free(rg);
	free(acct);
	free(base);
	return rc;
}
