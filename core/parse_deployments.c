/* SPDX-License-Identifier: MIT */
/* parse_deployments.c: deployment/model listings from the legacy data plane, /models and ARM. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "parse.h"

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
	return rc;
}

enum core_rc parse_deployments(const char *json, size_t len,
			       enum deployment_source src,
			       struct deployment_list *out,
			       struct core_err *err)
{
	const cJSON *arr, *it;
	cJSON *root;
	enum core_rc rc;
	size_t n;

	memset(out, 0, sizeof(*out));
	rc = json_parse_object(json, len, &root, err);
	if (rc)
		return rc;
	arr = json_get(root, src == DEPLOY_SRC_ARM ? "value" : "data");
	if (!cJSON_IsArray(arr)) {
		rc = core_err_set(err, CORE_EPARSE,
				  "deployment list has no '%s' array",
				  src == DEPLOY_SRC_ARM ? "value" : "data");
		goto out;
	}
	n = (size_t)cJSON_GetArraySize(arr);
	if (n) {
		out->items = calloc(n, sizeof(*out->items));
		if (!out->items) {
			rc = core_err_set(err, CORE_ENOMEM, "out of memory");
			goto out;
		}
	}
	cJSON_ArrayForEach(it, arr)
	{
		struct deployment *d;

		if (out->n >= n)
			break;
		d = &out->items[out->n];
		rc = deployment_from_json(it, src, d);
		if (rc) {
			out->n++; /* let the release free the partial item */
			core_err_set(err, rc, "out of memory");
			goto out;
		}
		if (!d->name) {
			free(d->model);
			free(d->sku);
			free(d->status);
			memset(d, 0, sizeof(*d));
			continue;
		}
		out->n++;
	}
	if (src == DEPLOY_SRC_ARM &&
	    json_dup_string(root, "nextLink", &out->next_link))
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
out:
	cJSON_Delete(root);
	if (rc)
		deployment_list_release(out);
	return rc;
}
