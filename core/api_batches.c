/* SPDX-License-Identifier: MIT */
/* api_batches.c: Batches API calls: create (with lost-response reconciliation), get, list, cancel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_internal.h"
#include "parse.h"

/* Metadata limits of the service (OpenAI Metadata; Azure follows). */
#define METADATA_MAX_PAIRS 16
#define METADATA_MAX_KEY 64
#define METADATA_MAX_VALUE 512
/* How far back a reconciliation looks: pages of 100, newest first. */
#define RECONCILE_PAGES 3

static enum core_rc batch_resp(struct http_response *resp, struct batch *out,
			       struct core_err *err)
{
	enum core_rc rc = parse_batch(resp->body.data, resp->body.len, out, err);

	if (rc == CORE_EPARSE && err)
		err->http_status = resp->status;
	return rc;
}

static enum core_rc batch_get_raw(struct api_client *c, const char *id,
				  struct http_response *resp,
				  struct core_err *err)
{
	struct api_call call = { .op = API_OP_BATCH_GET, .method = HTTP_GET,
				 .sink_fd = -1, .idempotent = true };
	enum core_rc rc;
	char *path;

	if (!id || !*id)
		return core_err_set(err, CORE_EINVAL, "empty batch id");
	path = api_path_with_id("batches", id, NULL);
	if (!path)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	call.path = path;
	rc = api_call_run(c, &call, resp, err);
	free(path);
	return rc;
}

enum core_rc api_batch_get(struct api_client *c, const char *id,
			   struct batch *out, struct core_err *err)
{
	struct http_response resp;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	http_response_init(&resp);
	rc = batch_get_raw(c, id, &resp, err);
	if (!rc)
		rc = batch_resp(&resp, out, err);
	http_response_release(&resp);
	return rc;
}

enum core_rc api_batch_list(struct api_client *c, const char *after, int limit,
			    struct batch_page *out, struct core_err *err)
{
	struct api_call call = { .op = API_OP_BATCH_LIST, .method = HTTP_GET,
				 .path = "batches", .sink_fd = -1,
				 .idempotent = true };
	struct buf q = BUF_INIT(0);
	struct http_response resp;
	enum core_rc rc = CORE_OK;
	char lim[16];

	memset(out, 0, sizeof(*out));
	snprintf(lim, sizeof(lim), "%d", limit);
	if (limit > 0)
		rc = api_query_add(&q, "limit", lim);
	if (!rc)
		rc = api_query_add(&q, "after", after);
	if (rc) {
		buf_release(&q);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	call.query = q.data;
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc)
		rc = parse_batch_page(resp.body.data, resp.body.len, out, err);
	http_response_release(&resp);
	buf_release(&q);
	return rc;
}

enum core_rc api_batch_cancel(struct api_client *c, const char *id,
			      struct batch *out, struct core_err *err)
{
	/* Cancelling twice is harmless (cancelling/cancelled answer again),
	 * so the POST is idempotent for retry purposes. */
	struct api_call call = { .op = API_OP_BATCH_CANCEL, .method = HTTP_POST,
				 .body = "", .body_len = 0, .sink_fd = -1,
				 .idempotent = true };
	struct http_response resp;
	struct batch tmp;
	enum core_rc rc;
	char *path;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!id || !*id)
		return core_err_set(err, CORE_EINVAL, "empty batch id");
	path = api_path_with_id("batches", id, "/cancel");
	if (!path)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	call.path = path;
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc) {
		rc = batch_resp(&resp, out ? out : &tmp, err);
		if (!rc && !out)
			batch_release(&tmp);
	}
	http_response_release(&resp);
	free(path);
	return rc;
}

/* ---- create ----------------------------------------------------------- */

struct create_lookup {
	struct api_client *c;
	const struct api_batch_create *req;
	const char *value; /* the reconcile key's value */
};

/* Finds a batch created by a lost attempt: same input file and key value. */
static enum core_rc create_reconcile(void *ctx, struct buf *body,
				     struct core_err *err)
{
	struct create_lookup *cl = ctx;
	struct http_response resp;
	char *after = NULL, *found = NULL;
	enum core_rc rc = CORE_ENOTFOUND;
	int pages;

	for (pages = 0; pages < RECONCILE_PAGES && !found; pages++) {
		struct batch_page page;
		size_t i;

		rc = api_batch_list(cl->c, after, 100, &page, err);
		if (rc)
			break;
		for (i = 0; i < page.n && !found; i++) {
			const struct batch *b = &page.items[i];
			const char *v = batch_metadata_get(b, cl->req->reconcile_key);

			if (v && !strcmp(v, cl->value) && b->input_file_id &&
			    !strcmp(b->input_file_id, cl->req->input_file_id))
				found = strdup(b->id);
		}
		free(after);
		after = page.has_more && page.last_id ? strdup(page.last_id) : NULL;
		batch_page_release(&page);
		rc = CORE_ENOTFOUND;
		if (!after)
			break;
	}
	free(after);
	if (!found)
		return rc;
	http_response_init(&resp);
	rc = batch_get_raw(cl->c, found, &resp, err);
	free(found);
	if (!rc) {
		buf_reset(body);
		rc = buf_add(body, resp.body.data, resp.body.len);
	}
	http_response_release(&resp);
	return rc;
}

static enum core_rc create_body(const struct api_batch_create *req, char **out,
				struct core_err *err)
{
	cJSON *root = cJSON_CreateObject(), *md = NULL;
	size_t i;
	bool ok = root != NULL;

	*out = NULL;
	ok = ok && cJSON_AddStringToObject(root, "input_file_id", req->input_file_id);
	ok = ok && cJSON_AddStringToObject(root, "endpoint", req->endpoint);
	ok = ok && cJSON_AddStringToObject(root, "completion_window",
					   req->completion_window
						   ? req->completion_window
						   : "24h");
	if (ok && req->nmetadata) {
		md = cJSON_AddObjectToObject(root, "metadata");
		ok = md != NULL;
		for (i = 0; ok && i < req->nmetadata; i++)
			ok = cJSON_AddStringToObject(md, req->metadata[i].key,
						     req->metadata[i].value) != NULL;
	}
	if (ok)
		*out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!*out)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	return CORE_OK;
}

enum core_rc api_batch_create(struct api_client *c,
			      const struct api_batch_create *req,
			      struct batch *out, struct core_err *err)
{
	struct create_lookup cl = { .c = c, .req = req, .value = NULL };
	struct api_call call = { .op = API_OP_BATCH_CREATE, .method = HTTP_POST,
				 .path = "batches", .sink_fd = -1,
				 .idempotent = false };
	struct http_response resp;
	char *body = NULL;
	enum core_rc rc;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!req->input_file_id || !*req->input_file_id || !req->endpoint ||
	    !*req->endpoint)
		return core_err_set(err, CORE_EINVAL,
				    "batch create needs an input file id and an endpoint");
	if (req->nmetadata > METADATA_MAX_PAIRS)
		return core_err_set(err, CORE_EINVAL,
				    "metadata has %zu pairs; the service allows %d",
				    req->nmetadata, METADATA_MAX_PAIRS);
	for (i = 0; i < req->nmetadata; i++) {
		const struct kv *kv = &req->metadata[i];

		if (!kv->key || !kv->value || !*kv->key ||
		    strlen(kv->key) > METADATA_MAX_KEY ||
		    strlen(kv->value) > METADATA_MAX_VALUE)
			return core_err_set(err, CORE_EINVAL,
					    "metadata pair %zu breaks the limits "
					    "(key 1-%d chars, value <= %d chars)",
					    i + 1, METADATA_MAX_KEY, METADATA_MAX_VALUE);
		if (req->reconcile_key && !strcmp(kv->key, req->reconcile_key))
			cl.value = kv->value;
	}
	if (req->reconcile_key && !cl.value)
		return core_err_set(err, CORE_EINVAL,
				    "reconcile key '%.64s' is not in the metadata",
				    req->reconcile_key);
	rc = create_body(req, &body, err);
	if (rc)
		return rc;
	call.body = body;
	call.body_len = strlen(body);
	if (cl.value) {
		call.reconcile = create_reconcile;
		call.reconcile_ctx = &cl;
	}
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc)
		rc = batch_resp(&resp, out, err);
	http_response_release(&resp);
	cJSON_free(body);
	return rc;
}
