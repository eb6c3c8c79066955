/* SPDX-License-Identifier: MIT */
/* api_internal.h: what the api_*.c files share: the client struct and one raw call. */
#ifndef BATCHFS_API_INTERNAL_H
#define BATCHFS_API_INTERNAL_H

/* PRIVATE to core/api_*.c. */
#include <stdatomic.h>

#include "api.h"

struct api_client {
	enum api_surface surface;
	char *base;	    /* url_base() of the endpoint */
	char *api_version;  /* NULL when the surface takes none */
	char *org_header;   /* "OpenAI-Organization: X" or NULL */
	char *proj_header;  /* "OpenAI-Project: X" or NULL */
	struct auth *auth;
	struct http_client *http;
	_Atomic uint64_t calls[API_OP_COUNT];
};

struct api_call {
	enum api_op op;
	enum http_method method;
	const char *path;  /* escaped, relative to the surface prefix */
	const char *query; /* escaped "k=v&..." or NULL */
	const char *body;  /* JSON body or NULL */
	size_t body_len;
	const struct http_upload *upload;
	const char *accept;
	int sink_fd;	   /* -1: buffer the body */
	off_t sink_off;
	void (*sink_progress)(void *ctx, int64_t bytes);
	void *sink_progress_ctx;
	bool idempotent;
	bool transfer;
	enum core_rc (*reconcile)(void *ctx, struct buf *body,
				  struct core_err *err);
	void *reconcile_ctx;
	bool (*cancelled)(void *ctx); /* polled during the transfer and waits */
	void *cancel_ctx;
	const char *url_override; /* absolute URL (legacy listing) or NULL */
};

/* Builds the URL and headers, counts the call, runs it through http. */
enum core_rc api_call_run(struct api_client *c, const struct api_call *call,
			  struct http_response *resp, struct core_err *err)
	__attribute__((warn_unused_result));

/* Appends "&key=<escaped value>" (no '&' first) to q; NULL/"" value: nothing. */
enum core_rc api_query_add(struct buf *q, const char *key, const char *value)
	__attribute__((warn_unused_result));

/* "files/<escaped id><suffix>"; heap string or NULL. */
char *api_path_with_id(const char *collection, const char *id,
		       const char *suffix);

#endif
