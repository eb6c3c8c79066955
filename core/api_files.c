/* SPDX-License-Identifier: MIT */
/* api_files.c: Files API calls: upload (streamed), get, list, delete, content, wait. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "parse.h"

static enum core_rc parse_file_resp(struct http_response *resp,
				    struct api_file *out, struct core_err *err)
{
	enum core_rc rc = parse_file(resp->body.data, resp->body.len, out, err);

	if (rc == CORE_EPARSE && err)
		err->http_status = resp->status;
	return rc;
}

enum core_rc api_file_get(struct api_client *c, const char *id,
			  struct api_file *out, struct core_err *err)
{
	struct http_response resp;
	struct api_call call = { .op = API_OP_FILE_GET, .method = HTTP_GET,
				 .sink_fd = -1, .idempotent = true };
	char *path;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	if (!id || !*id)
		return core_err_set(err, CORE_EINVAL, "empty file id");
	path = api_path_with_id("files", id, NULL);
	if (!path)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	call.path = path;
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc)
		rc = parse_file_resp(&resp, out, err);
	http_response_release(&resp);
	free(path);
	return rc;
}

/* After a lost upload response: is there a file we just created? */
struct upload_lookup {
	struct api_client *c;
	const struct api_upload *up;
	int64_t started; /* Unix seconds when the call started */
};

static enum core_rc upload_reconcile(void *ctx, struct buf *body,
				     struct core_err *err)
{
	struct upload_lookup *ul = ctx;
	struct file_page page;
	const struct api_file *best = NULL;
	struct http_response resp;
	struct api_call call = { .op = API_OP_FILE_GET, .method = HTTP_GET,
				 .sink_fd = -1, .idempotent = true };
	enum core_rc rc;
	size_t i;
	char *path;
	off_t size = ul->up->source ? ul->up->source->size(ul->up->source->ctx)
				    : ul->up->size;

	rc = api_file_list(ul->c, ul->up->purpose ? ul->up->purpose : "batch",
			   NULL, 0, &page, err);
	if (rc)
		return rc;
	for (i = 0; i < page.n; i++) {
		const struct api_file *f = &page.items[i];

		if (!f->filename || strcmp(f->filename, ul->up->filename) != 0)
			continue;
		if (f->bytes != COUNT_NONE && f->bytes != (int64_t)size)
			continue;
		/* Allow for clock skew between us and the service. */
		if (f->created_at && f->created_at < ul->started - 300)
			continue;
		if (!best || f->created_at > best->created_at)
			best = f;
	}
	if (!best) {
		file_page_release(&page);
		return CORE_ENOTFOUND;
	}
	path = api_path_with_id("files", best->id, NULL);
	file_page_release(&page);
	if (!path)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	call.path = path;
	http_response_init(&resp);
	rc = api_call_run(ul->c, &call, &resp, err);
	free(path);
	if (!rc) {
		buf_reset(body);
		rc = buf_add(body, resp.body.data, resp.body.len);
	}
	http_response_release(&resp);
	return rc;
}

enum core_rc api_file_upload(struct api_client *c, const struct api_upload *up,
			     struct api_file *out, struct core_err *err)
{
	const char *purpose = up->purpose ? up->purpose : "batch";
	const char *fields[7] = { "purpose", purpose, NULL, NULL, NULL, NULL, NULL };
	char secs[32];
	struct http_upload hu = { .fd = up->fd, .size = up->size,
				  .source = up->source,
				  .field_name = "file", .filename = up->filename,
				  .fields = fields };
	struct upload_lookup ul = { .c = c, .up = up, .started = (int64_t)time(NULL) };
	struct api_call call = { .op = API_OP_FILE_UPLOAD, .method = HTTP_POST,
				 .path = "files", .upload = &hu, .sink_fd = -1,
				 .idempotent = false, .transfer = true,
				 .reconcile = upload_reconcile,
				 .reconcile_ctx = &ul,
				 .cancelled = up->cancelled,
				 .cancel_ctx = up->cancel_ctx };
	struct http_response resp;
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	if ((!up->source && (up->fd < 0 || up->size < 0)) || !up->filename ||
	    !*up->filename)
		return core_err_set(err, CORE_EINVAL, "bad upload arguments");
	if (up->expires_after_s > 0) {
		/* Azure documents dotted names; OpenAI (and its SDKs) brackets. */
		bool dotted = c->surface != API_SURFACE_OPENAI;

		snprintf(secs, sizeof(secs), "%" PRId64, up->expires_after_s);
		fields[2] = dotted ? "expires_after.anchor" : "expires_after[anchor]";
		fields[3] = "created_at";
		fields[4] = dotted ? "expires_after.seconds" : "expires_after[seconds]";
		fields[5] = secs;
	}
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc)
		rc = parse_file_resp(&resp, out, err);
	http_response_release(&resp);
	return rc;
}

enum core_rc api_file_list(struct api_client *c, const char *purpose,
			   const char *after, int limit, struct file_page *out,
			   struct core_err *err)
{
	struct api_call call = { .op = API_OP_FILE_LIST, .method = HTTP_GET,
				 .path = "files", .sink_fd = -1,
				 .idempotent = true };
	struct buf q = BUF_INIT(0);
	struct http_response resp;
	char lim[16];
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	snprintf(lim, sizeof(lim), "%d", limit);
	rc = api_query_add(&q, "purpose", purpose);
	if (!rc)
		rc = api_query_add(&q, "after", after);
	if (!rc && limit > 0)
		rc = api_query_add(&q, "limit", lim);
	if (rc) {
		buf_release(&q);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	call.query = q.data;
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc)
		rc = parse_file_page(resp.body.data, resp.body.len, out, err);
	http_response_release(&resp);
	buf_release(&q);
	return rc;
}

enum core_rc api_file_delete(struct api_client *c, const char *id,
			     struct core_err *err)
{
	struct api_call call = { .op = API_OP_FILE_DELETE, .method = HTTP_DELETE,
				 .sink_fd = -1, .idempotent = true };
	struct http_response resp;
	bool deleted = false;
	char *path;
	enum core_rc rc;

	if (!id || !*id)
		return core_err_set(err, CORE_EINVAL, "empty file id");
	path = api_path_with_id("files", id, NULL);
	if (!path)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	call.path = path;
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc && resp.body.len)
		rc = parse_file_deleted(resp.body.data, resp.body.len, &deleted,
					err);
	else if (!rc)
		deleted = true; /* an empty 2xx (204) is a success too */
	if (!rc && !deleted)
		rc = core_err_set(err, CORE_EHTTP,
				  "DELETE file '%.64s': the service says not deleted",
				  id);
	http_response_release(&resp);
	free(path);
	return rc;
}

enum core_rc api_file_content(struct api_client *c, const char *id, int fd,
			      off_t off, int64_t *written,
			      void (*progress)(void *ctx, int64_t bytes),
			      void *progress_ctx, struct core_err *err)
{
	struct api_call call = { .op = API_OP_FILE_CONTENT, .method = HTTP_GET,
				 .accept = "application/octet-stream, */*",
				 .sink_fd = fd, .sink_off = off,
				 .sink_progress = progress,
				 .sink_progress_ctx = progress_ctx,
				 .idempotent = true, .transfer = true };
	struct http_response resp;
	char *path;
	enum core_rc rc;

	*written = 0;
	if (!id || !*id || fd < 0)
		return core_err_set(err, CORE_EINVAL, "bad content arguments");
	path = api_path_with_id("files", id, "/content");
	if (!path)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	call.path = path;
	http_response_init(&resp);
	rc = api_call_run(c, &call, &resp, err);
	if (!rc)
		*written = resp.sink_bytes;
	http_response_release(&resp);
	free(path);
	return rc;
}

enum core_rc api_file_wait_processed(struct api_client *c, const char *id,
				     long timeout_ms, struct api_file *out,
				     struct core_err *err)
{
	struct timespec start, now, ts;
	long interval = 100, elapsed;
	enum core_rc rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		rc = api_file_get(c, id, out, err);
		if (rc)
			return rc;
		switch (out->status) {
		case FILE_STATUS_PROCESSED:
			return CORE_OK;
		case FILE_STATUS_UNKNOWN:
		case FILE_STATUS_UPLOADED:
			/* OpenAI deprecated the field: absent or "uploaded" means
			 * usable. Azure creates batches only from "processed". */
			if (c->surface == API_SURFACE_OPENAI)
				return CORE_OK;
			break;
		case FILE_STATUS_ERROR:
			return core_err_set(err, CORE_EINVAL,
					    "file '%.64s' failed processing: %.300s", id,
					    out->status_details ? out->status_details
								: "no details given");
		case FILE_STATUS_DELETING:
		case FILE_STATUS_DELETED:
			return core_err_set(err, CORE_ENOTFOUND,
					    "file '%.64s' was deleted", id);
		default:
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 +
			  (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= timeout_ms)
			return core_err_set(err, CORE_ETIMEDOUT,
					    "file '%.64s' still %s after %ld ms", id,
					    file_status_name(out->status), elapsed);
		api_file_release(out);
		if (interval > timeout_ms - elapsed)
			interval = timeout_ms - elapsed;
		ts.tv_sec = interval / 1000;
		ts.tv_nsec = (interval % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		interval = interval * 2 > 2000 ? 2000 : interval * 2;
	}
}
