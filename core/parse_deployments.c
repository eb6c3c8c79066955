/* SPDX-License-Identifier: MIT */
/* parse_deployments.c: deployment/model listings from the legacy data plane, /models and ARM. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "parse.h"

static void deployment_clear(struct deployment *d)
{
	free(d->name);
	free(d->model);
	free(d->sku);
	free(d->status);
	memset(d, 0, sizeof(*d));
}

static enum core_rc deployment_from_json(const cJSON *o,
					 enum deployment_source src,
					 struct deployment *d)
{
	const cJSON *props;
	enum core_rc rc = CORE_OK;

	memset(d, 0, sizeof(*d));
	switch (src) {
	case DEPLOY_SRC_LEGACY:
		rc = json_dup_string(o, "id", &d->name);
		if (!rc)
			rc = json_dup_string(o, "model", &d->model);
		if (!rc)
			rc = json_dup_string(o, "status", &d->status);
		break;
	case DEPLOY_SRC_MODELS:
		rc = json_dup_string(o, "id", &d->name);
		if (!rc)
			rc = json_dup_string(o, "id", &d->model);
		break;
	case DEPLOY_SRC_ARM:
		props = json_get(o, "properties");
		rc = json_dup_string(o, "name", &d->name);
		if (!rc)
			rc = json_dup_string(json_get(o, "sku"), "name", &d->sku);
		if (!rc)
			rc = json_dup_string(json_get(props, "model"), "name",
					     &d->model);
		if (!rc)
			rc = json_dup_string(props, "provisioningState",
					     &d->status);
		break;
	}
	if (!rc && !d->name)
		rc = CORE_EPARSE; /* nameless: skipped */
	if (rc)
		deployment_clear(d);
	return rc;
}

#define FILL(src)                                                            \
	static enum core_rc fill_##src(const cJSON *item, void *elem,        \
				       struct core_err *err)                 \
	{                                                                    \
		(void)err;                                                   \
		return deployment_from_json(item, DEPLOY_SRC_##src, elem);   \
	}
FILL(LEGACY)
FILL(MODELS)
FILL(ARM)
#undef FILL

enum core_rc parse_deployments(const char *json, size_t len,
			       enum deployment_source src,
			       struct deployment_list *out,
			       struct core_err *err)
{
	const char *key = src == DEPLOY_SRC_ARM ? "value" : "data";
	enum core_rc (*fill)(const cJSON *, void *, struct core_err *) =
		src == DEPLOY_SRC_ARM	   ? fill_ARM
		: src == DEPLOY_SRC_MODELS ? fill_MODELS
					   : fill_LEGACY;
	cJSON *root;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	rc = json_parse_object(json, len, &root, err);
	if (rc)
		return rc;
	rc = json_collect(json_get(root, key), sizeof(struct deployment), fill,
			  (void **)&out->items, &out->n, err);
	if (rc == CORE_EPARSE)
		core_err_set(err, rc, "deployment list has no '%s' array", key);
	if (!rc && src == DEPLOY_SRC_ARM &&
	    json_dup_string(root, "nextLink", &out->next_link))
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
	cJSON_Delete(root);
	if (rc)
		deployment_list_release(out);
	return rc;
}
