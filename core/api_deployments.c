/* SPDX-License-Identifier: MIT */
/* api_deployments.c: listing deployments (Azure legacy data plane) or models (OpenAI). */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "parse.h"

/* The last data-plane versions that still served GET /openai/deployments. */
#define LEGACY_DEPLOYMENTS_VERSION "2022-12-01"

enum core_rc api_deployment_list(struct api_client *c,
				 struct deployment_list *out,
				 struct core_err *err)
{
	struct api_call call = { .op = API_OP_DEPLOYMENT_LIST, .method = HTTP_GET,
				 .sink_fd = -1, .idempotent = true };
	struct http_response resp;
	enum deployment_source src;
	char *url = NULL;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	if (c->surface == API_SURFACE_OPENAI) {
		call.path = "models";
		src = DEPLOY_SRC_MODELS;
	} else {
		url = url_build(API_SURFACE_AZURE, c->base,
				LEGACY_DEPLOYMENTS_VERSION, "deployments", NULL);
		if (!url)
			return core_err_set(err, CORE_ENOMEM, "out of memory");
		call.url_override = url;
		src = DEPLOY_SRC_LEGACY;
	}
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc)
		rc = parse_deployments(resp.body.data, resp.body.len, src, out,
				       err);
	else if (rc == CORE_ENOTFOUND && src == DEPLOY_SRC_LEGACY)
		core_err_set(err, rc,
			     "this resource does not list deployments on the data "
			     "plane; name them with -o deployments=a,b");
	http_response_release(&resp);
	free(url);
	return rc;
}
