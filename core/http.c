/* SPDX-License-Identifier: MIT */
/* http.c: libcurl requests with timeouts, bounded retries and streaming bodies. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "parse.h"
#include "retry.h"

#define ERROR_BODY_MAX (64 * 1024)
/* curl's upload buffer (its default is 64 KiB): fewer, larger sends. */
#define UPLOAD_BUFFER (256L * 1024)
#define DOWNLOAD_BUFFER (256L * 1024)
/* How long a read waits for a source before the transfer pauses (it then
 * still reads the server's answer: an early error is seen). Long enough to
 * cover the gap at close (validation's end, fsync, journal) before the end
 * comes: a paused transfer only resumes at curl's next progress call, up to
 * a second later. */
#define SOURCE_WAIT_MS 1000

struct http_client {
	struct http_config cfg;
	char *ca_file;
	char *user_agent;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	_Atomic uint64_t requests, retries, failures, bytes_up, bytes_down,
		reconciled, connects;
};

void http_config_defaults(struct http_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->connect_timeout_ms = 10000;
	cfg->request_timeout_ms = 30000;
	cfg->transfer_stall_ms = 30000;
	cfg->deadline_ms = 120000;
	cfg->max_retries = 4;
	cfg->backoff_base_ms = 500;
	cfg->backoff_max_ms = 8000;
	cfg->retry_after_cap_ms = 60000;
	cfg->max_body_bytes = 16u << 20;
}

void http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->body.limit = 0;
}

void http_response_release(struct http_response *r)
{
	buf_release(&r->body);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
		       void *ud)
{
	struct http_client *c = ud;

	(void)h;
	(void)access;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct http_client *c = ud;

	(void)h;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

enum core_rc http_client_new(const struct http_config *cfg,
			     struct http_client **out, struct core_err *err)
{
	struct http_client *c;
	int i;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	c->cfg = *cfg;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
	c->user_agent = strdup(cfg->user_agent ? cfg->user_agent
					       : "batchfs/" PACKAGE_VERSION);
	c->share = curl_share_init();
	if ((cfg->ca_file && !c->ca_file) || !c->user_agent || !c->share) {
		http_client_free(c);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	c->cfg.ca_file = c->ca_file;
	c->cfg.user_agent = c->user_agent;
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	*out = c;
	return CORE_OK;
}

void http_client_free(struct http_client *c)
{
	int i;

	if (!c)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	free(c->ca_file);
	free(c->user_agent);
	free(c);
}

void http_client_stats(const struct http_client *c, struct http_stats *out)
{
	out->requests = atomic_load(&c->requests);
	out->retries = atomic_load(&c->retries);
	out->failures = atomic_load(&c->failures);
	out->bytes_up = atomic_load(&c->bytes_up);
	out->bytes_down = atomic_load(&c->bytes_down);
	out->reconciled = atomic_load(&c->reconciled);
	out->connects = atomic_load(&c->connects);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t jitter_random(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)now_ms() * 2654435761u;
	return r;
}

/* ---- one attempt ------------------------------------------------------ */

/* Streaming multipart body: head, the file's bytes, tail. */
struct mp_body {
	char *head;
	size_t head_len;
	char tail[96];
	size_t tail_len;
	int fd;
	off_t size; /* a source's: known once src_ended */
	off_t pos; /* position in the whole body */
	int io_errno;
	bool short_read;
	const struct http_source *src;
	bool src_ended;
	bool src_abandoned;
	bool tail_given;      /* the closing boundary went to curl */
	bool src_paused;      /* the transfer waits for the source */
	int64_t src_moved_ms; /* when the source last handed over bytes */
};

struct attempt {
	struct http_client *c;
	const struct http_request *req;
	struct http_response *resp;
	struct mp_body *mp;
	CURL *h;
	enum { BODY_UNDECIDED = 0, BODY_SINK, BODY_BUFFER } body_mode;
	bool sink_failed;
	int sink_errno;
	int64_t resume_from;  /* Range start asked for (0: whole body) */
	int64_t write_pos;    /* where the next body byte goes, from sink_off */
	int64_t range_start;  /* Content-Range start of a 206, -1 if none */
	bool body_too_big;
	bool aborted;
	bool stalled;	       /* a source upload made no progress (see on_progress) */
	bool answered_early;   /* ... or had its answer before the body's end */
	int early_calls;       /* progress calls since that answer began */
	curl_off_t last_ul, last_dl;
	int64_t moved_ms;      /* when curl last reported bytes moving */
	char retry_after_ms[32];
	char retry_after[64];
	int should_retry; /* -1 unset, 0 false, 1 true */
	const char *secret; /* the auth line for this attempt, or NULL */
};

/* The next bytes of a source at foff into dst; false when the attempt must
 * abort (abandoned). Sets src_ended (and the size) at its end. */
static bool src_read(struct mp_body *mp, char *dst, size_t n, off_t foff,
		     size_t *got)
{
	ssize_t r = mp->src->read(mp->src->ctx, dst, n, foff, SOURCE_WAIT_MS);

	*got = 0;
	mp->src_moved_ms = now_ms();
	if (r == HTTP_SOURCE_WAIT) {
		mp->src_paused = true;
		return true;
	}
	if (r < 0) {
		mp->src_abandoned = true;
		return false;
	}
	if (r == 0) {
		if (mp->src_ended && foff != mp->size) {
			mp->short_read = true; /* a retry found less than before */
			return false;
		}
		mp->src_ended = true;
		mp->size = foff;
		return true;
	}
	*got = (size_t)r;
	return true;
}

static size_t mp_read(char *dst, size_t size, size_t nitems, void *ud)
{
	struct mp_body *mp = ud;
	size_t want = size * nitems, done = 0;

	while (done < want) {
		off_t file_end = (off_t)mp->head_len + mp->size;

		if (mp->pos < (off_t)mp->head_len) {
			size_t n = mp->head_len - (size_t)mp->pos;

			if (n > want - done)
				n = want - done;
			memcpy(dst + done, mp->head + mp->pos, n);
			mp->pos += (off_t)n;
			done += n;
		} else if (mp->src && (!mp->src_ended || mp->pos < file_end)) {
			size_t got;

			if (done)
				break; /* hand over what we have before waiting */
			if (!src_read(mp, dst, want, mp->pos - (off_t)mp->head_len,
				      &got))
				return CURL_READFUNC_ABORT;
			if (mp->src_paused)
				return CURL_READFUNC_PAUSE;
			mp->pos += (off_t)got;
			done += got;
			if (got)
				break;
		} else if (mp->pos < file_end) {
			off_t foff = mp->pos - (off_t)mp->head_len;
			size_t n = want - done;
			ssize_t got;

			if ((off_t)n > mp->size - foff)
				n = (size_t)(mp->size - foff);
			got = pread(mp->fd, dst + done, n, foff);
			if (got < 0) {
				if (errno == EINTR)
					continue;
				mp->io_errno = errno;
				return CURL_READFUNC_ABORT;
			}
			if (got == 0) {
				mp->short_read = true;
				return CURL_READFUNC_ABORT;
			}
			mp->pos += got;
			done += (size_t)got;
			/* Hand curl what we have rather than loop on a slow disk. */
			break;
		} else {
			off_t toff = mp->pos - file_end;
			size_t n = mp->tail_len - (size_t)toff;

			if (toff >= (off_t)mp->tail_len)
				break;
			if (n > want - done)
				n = want - done;
			mp->tail_given = true;
			memcpy(dst + done, mp->tail + toff, n);
			mp->pos += (off_t)n;
			done += n;
		}
	}
	return done;
}

static int mp_seek(void *ud, curl_off_t offset, int origin)
{
	struct mp_body *mp = ud;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	mp->pos = (off_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* Keeps a header value in dst (truncated, trimmed). */
static void hdr_copy(char *dst, size_t dsz, const char *v, size_t n)
{
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	while (n && *v == ' ') {
		v++;
		n--;
	}
	if (n >= dsz)
		n = dsz - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static bool hdr_is(const char *line, size_t n, const char *name, const char **val,
		   size_t *vlen)
{
	size_t k = strlen(name);

	if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
		return false;
	*val = line + k + 1;
	*vlen = n - k - 1;
	return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
	struct attempt *a = ud;
	size_t n = size * nitems, vlen;
	const char *v;
	char tmp[16];

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue): forget earlier hints. */
		a->retry_after_ms[0] = a->retry_after[0] = '\0';
		a->should_retry = -1;
		a->range_start = -1;
		return n;
	}
	if (hdr_is(line, n, "retry-after-ms", &v, &vlen) ||
	    hdr_is(line, n, "x-ms-retry-after-ms", &v, &vlen))
		hdr_copy(a->retry_after_ms, sizeof(a->retry_after_ms), v, vlen);
	else if (hdr_is(line, n, "retry-after", &v, &vlen))
		hdr_copy(a->retry_after, sizeof(a->retry_after), v, vlen);
	else if (hdr_is(line, n, "apim-request-id", &v, &vlen) ||
		 hdr_is(line, n, "x-request-id", &v, &vlen))
		hdr_copy(a->resp->request_id, sizeof(a->resp->request_id), v,
			 vlen);
	else if (hdr_is(line, n, "content-range", &v, &vlen)) {
		char cr[96];
		long long start;

		hdr_copy(cr, sizeof(cr), v, vlen);
		if (sscanf(cr, "bytes %lld-", &start) == 1)
			a->range_start = start;
	} else if (hdr_is(line, n, "x-should-retry", &v, &vlen)) {
		hdr_copy(tmp, sizeof(tmp), v, vlen);
		a->should_retry = strcasecmp(tmp, "true") == 0	  ? 1
				  : strcasecmp(tmp, "false") == 0 ? 0
								  : -1;
	}
	return n;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *ud)
{
	struct attempt *a = ud;
	size_t n = size * nitems;

	if (!a->body_mode) {
		/* First body bytes: the status is known; pick where they go. */
		long st = 0;

		curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &st);
		if (st >= 200 && st < 300 && a->req->sink_fd >= 0) {
			a->body_mode = BODY_SINK;
			/* 206 continues where we asked; a 200 starts over. */
			a->write_pos = st == 206 ? a->resume_from : 0;
			if (st == 206 && a->range_start != a->resume_from) {
				a->sink_failed = true;
				a->sink_errno = EPROTO;
				return 0;
			}
		} else {
			a->body_mode = BODY_BUFFER;
			if (st < 200 || st >= 300)
				a->resp->body.limit = ERROR_BODY_MAX;
		}
	}
	if (a->body_mode == BODY_SINK) {
		size_t off = 0;

		while (off < n) {
			ssize_t w = pwrite(a->req->sink_fd, data + off, n - off,
					   a->req->sink_off + (off_t)a->write_pos);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				a->sink_failed = true;
				a->sink_errno = errno;
				return 0;
			}
			off += (size_t)w;
			a->write_pos += w;
		}
		if (a->write_pos > a->resp->sink_bytes) {
			a->resp->sink_bytes = a->write_pos;
			if (a->req->sink_progress)
				a->req->sink_progress(a->req->sink_progress_ctx,
						      a->resp->sink_bytes);
		}
		return n;
	}
	if (buf_add(&a->resp->body, data, n) != CORE_OK) {
		a->body_too_big = true;
		return 0;
	}
	return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct attempt *a = ud;

	(void)dltotal;
	(void)ultotal;
	if (a->req->cancelled && a->req->cancelled(a->req->cancel_ctx)) {
		a->aborted = true;
		return 1;
	}
	if (a->mp && a->mp->src) {
		/* Stall detection of a source upload: no byte moved for the
		 * stall time, not counting time spent waiting for the source. */
		int64_t now = now_ms(), last;
		struct mp_body *mp = a->mp;

		if (mp->src_paused) {
			long st = 0;

			/* The server answered before the body's end (an error):
			 * curl would wait for the body; the answer is final. Take
			 * it once its body is in (or after a few more calls when
			 * its length is unknown), so its message is complete. */
			curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &st);
			if (st >= 300) {
				curl_off_t len = -1;

				curl_easy_getinfo(a->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
				if ((len >= 0 && dlnow >= len) || ++a->early_calls > 2) {
					a->answered_early = true;
					return 1;
				}
			}
			mp->src_moved_ms = now;
			if (mp->src->ready(mp->src->ctx, mp->pos - (off_t)mp->head_len)) {
				mp->src_paused = false;
				curl_easy_pause(a->h, CURLPAUSE_CONT);
			}
			return 0;
		}
		if (ulnow != a->last_ul || dlnow != a->last_dl) {
			a->last_ul = ulnow;
			a->last_dl = dlnow;
			a->moved_ms = now;
		}
		last = a->moved_ms > a->mp->src_moved_ms ? a->moved_ms
							 : a->mp->src_moved_ms;
		if (now - last > a->c->cfg.transfer_stall_ms) {
			a->stalled = true;
			return 1;
		}
	}
	return 0;
}

/* Wipes and frees a header list that may hold the secret. */
static void headers_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p; p = p->next)
		if (p->data)
			OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static struct curl_slist *headers_build(const struct http_request *req,
					const char *secret,
					const char *content_type,
					int64_t resume_from, bool chunked,
					bool *oom)
{
	struct curl_slist *l = NULL, *n;
	const char *const *h;
	char ctype[160], accept[128], range[64];

#define ADD(s)                                  \
	do {                                    \
		n = curl_slist_append(l, (s));  \
		if (!n)                         \
			goto fail;              \
		l = n;                          \
	} while (0)

	snprintf(accept, sizeof(accept), "Accept: %s",
		 req->accept ? req->accept : "application/json");
	ADD(accept);
	if (content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
		ADD(ctype);
	}
	if (resume_from > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%lld-",
			 (long long)resume_from);
		ADD(range);
	}
	if (chunked)
		ADD("Transfer-Encoding: chunked");
	for (h = req->headers; h && *h; h++)
		ADD(*h);
	if (secret)
		ADD(secret);
	return l;
#undef ADD
fail:
	*oom = true;
	headers_free(l);
	return NULL;
}

struct attempt_result {
	CURLcode cc;
	long status;
	bool sent; /* some bytes of the request left this machine */
	char curl_msg[CURL_ERROR_SIZE];
};

static void attempt_setup_common(struct http_client *c, CURL *h,
				 const struct http_request *req,
				 int64_t remaining_ms)
{
	long stall_s = (c->cfg.transfer_stall_ms + 999) / 1000;

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->cfg.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
	if (c->cfg.no_proxy)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->cfg.user_agent);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Idle connections the shared cache may keep (curl: 4 per handle). */
	curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 64L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
	if (req->transfer) /* fewer, larger writes than curl's 16 KiB */
		curl_easy_setopt(h, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFFER);
	/* libcurl silently resends a request whose reused connection died:
	 * never let it do that to a POST that creates something. */
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, req->idempotent ? 0L : 1L);
	if (!req->transfer) {
		long t = c->cfg.request_timeout_ms;

		if (remaining_ms < t)
			t = remaining_ms > 1 ? (long)remaining_ms : 1;
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, t);
	}
	/* Stall detection: fewer than 1 byte/s for stall_s seconds. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_s > 0 ? stall_s : 1L);
}

static void attempt_run(struct http_client *c, struct attempt *a,
			int64_t remaining_ms, struct attempt_result *ar,
			bool *oom)
{
	const struct http_request *req = a->req;
	struct curl_slist *hdrs;
	char ctype[128];
	const char *content_type = NULL;
	curl_off_t up = 0, down = 0;
	long reqsize = 0, nconn = 0;
	CURL *h;

	memset(ar, 0, sizeof(*ar));
	h = curl_easy_init();
	if (!h) {
		*oom = true;
		return;
	}
	a->h = h;
	attempt_setup_common(c, h, req, remaining_ms);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ar->curl_msg);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

	switch (req->method) {
	case HTTP_GET:
		break;
	case HTTP_DELETE:
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
		break;
	case HTTP_POST:
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		if (a->mp) {
			a->mp->pos = 0;
			a->mp->tail_given = false;
			a->mp->src_paused = false;
			a->mp->src_moved_ms = a->moved_ms = now_ms();
			curl_easy_setopt(h, CURLOPT_READFUNCTION, mp_read);
			curl_easy_setopt(h, CURLOPT_READDATA, a->mp);
			curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, mp_seek);
			curl_easy_setopt(h, CURLOPT_SEEKDATA, a->mp);
			curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER);
			/* A source's size is unknown: chunked (see headers). */
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 a->mp->src ? (curl_off_t)-1
						    : (curl_off_t)(a->mp->head_len +
								   (size_t)a->mp->size +
								   a->mp->tail_len));
			if (a->mp->src) {
				/* on_progress watches for stalls instead */
				curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 0L);
				/* Chunked framing is HTTP/1.1's: never let it reach
				 * an HTTP/2 stream (curl 7.88 would frame anyway). */
				curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
						 (long)CURL_HTTP_VERSION_1_1);
			}
			snprintf(ctype, sizeof(ctype),
				 "multipart/form-data; boundary=%.70s",
				 a->mp->tail + 4);
			/* tail is "\r\n--BOUNDARY--\r\n": cut the boundary out. */
			*strstr(ctype, "--\r\n") = '\0';
			content_type = ctype;
		} else {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS,
					 req->body ? req->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(req->body ? req->body_len : 0));
			content_type = req->content_type ? req->content_type
							  : "application/json";
		}
		break;
	}
	hdrs = headers_build(req, a->secret, content_type, a->resume_from,
			     a->mp && a->mp->src, oom);
	if (*oom) {
		curl_easy_cleanup(h);
		return;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

	ar->cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ar->status);
	curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &reqsize);
	curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
	atomic_fetch_add(&c->connects, (uint64_t)(nconn > 0 ? nconn : 0));
	ar->sent = reqsize > 0 || up > 0;
	atomic_fetch_add(&c->requests, 1);
	atomic_fetch_add(&c->bytes_up, (uint64_t)(up > 0 ? up : 0));
	atomic_fetch_add(&c->bytes_down, (uint64_t)(down > 0 ? down : 0));
	curl_easy_cleanup(h);
	headers_free(hdrs);
}

/* ---- classification --------------------------------------------------- */

static enum core_rc status_to_rc(long status, const struct core_err *err)
{
	if (strstr(err->code, "token_limit_exceeded") ||
	    strstr(err->msg, "token_limit_exceeded") ||
	    !strcmp(err->code, "quotaExceeded") ||
	    !strcmp(err->code, "insufficient_quota"))
		return CORE_EQUOTA;
	switch (status) {
	case 400:
	case 405:
	case 415:
	case 422:
		return CORE_EINVAL;
	case 401:
	case 403:
		return CORE_EAUTH;
	case 404:
	case 410:
		return CORE_ENOTFOUND;
	case 408:
	case 504:
		return CORE_ETIMEDOUT;
	case 409:
	case 412:
		return CORE_ECONFLICT;
	case 413:
		return CORE_ETOOBIG;
	case 429:
		return CORE_ETHROTTLED;
	default:
		return CORE_EHTTP;
	}
}

static enum core_rc curl_to_rc(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return CORE_ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return CORE_ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return CORE_ECANCELLED;
	default:
		return CORE_ETRANSPORT;
	}
}

/* Fills err for a completed HTTP exchange with a non-2xx status:
 * "POST /openai/batches: HTTP 400 [code]: the service's message". */
static void http_error_fill(const struct http_request *req, long status,
			    const struct http_response *resp,
			    struct core_err *err)
{
	struct core_err svc = CORE_ERR_INIT;

	parse_error_body(resp->body.data, resp->body.len, &svc);
	snprintf(err->code, sizeof(err->code), "%s", svc.code);
	core_err_set(err, CORE_EHTTP, "%s: HTTP %ld%s%s%s%s%s",
		 req->label, status, svc.code[0] ? " [" : "", svc.code,
		 svc.code[0] ? "]" : "", svc.msg[0] ? ": " : "", svc.msg);
	err->http_status = status;
	err->rc = status_to_rc(status, err);
}

/* Sleeps ms in slices, returning false if cancelled meanwhile. */
static bool backoff_sleep(const struct http_request *req, long ms)
{
	int64_t until = now_ms() + ms;

	for (;;) {
		int64_t left = until - now_ms();
		struct timespec ts;

		if (req->cancelled && req->cancelled(req->cancel_ctx))
			return false;
		if (left <= 0)
			return true;
		if (left > 100)
			left = 100;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static enum core_rc multipart_prepare(const struct http_upload *up,
				      struct mp_body *mp, struct core_err *err)
{
	struct buf head = BUF_INIT(0);
	char boundary[48], fname[256];
	uint8_t rnd[12];
	const char *const *f;
	size_t i, j;
	enum core_rc rc = CORE_OK;

	memset(mp, 0, sizeof(*mp));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return core_err_set(err, CORE_EIO, "getrandom failed");
	j = (size_t)snprintf(boundary, sizeof(boundary), "batchfs-");
	for (i = 0; i < sizeof(rnd); i++)
		j += (size_t)snprintf(boundary + j, sizeof(boundary) - j, "%02x",
				      rnd[i]);
	/* The filename goes into a quoted header: keep it printable and tame. */
	for (i = 0, j = 0; up->filename && up->filename[i] && j + 1 < sizeof(fname);
	     i++) {
		unsigned char ch = (unsigned char)up->filename[i];

		fname[j++] = (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\' ||
			      ch == '/')
				     ? '_'
				     : (char)ch;
	}
	fname[j] = '\0';
	for (f = up->fields; f && f[0] && f[1] && !rc; f += 2)
		rc = buf_printf(&head,
				"--%s\r\nContent-Disposition: form-data; name=\"%s\""
				"\r\n\r\n%s\r\n",
				boundary, f[0], f[1]);
	if (!rc)
		rc = buf_printf(&head,
				"--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
				"filename=\"%s\"\r\nContent-Type: application/octet-stream"
				"\r\n\r\n",
				boundary, up->field_name ? up->field_name : "file",
				fname[0] ? fname : "input.jsonl");
	if (rc) {
		buf_release(&head);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	mp->head_len = head.len;
	mp->head = buf_take(&head);
	mp->tail_len = (size_t)snprintf(mp->tail, sizeof(mp->tail),
					"\r\n--%s--\r\n", boundary);
	mp->fd = up->fd;
	mp->size = up->source ? 0 : up->size;
	mp->src = up->source;
	return CORE_OK;
}

/* ---- the call --------------------------------------------------------- */

enum core_rc http_perform(struct http_client *c, const struct http_request *req,
			  struct http_response *resp, struct core_err *err)
{
	struct retry_policy pol = {
		.max_retries = c->cfg.max_retries,
		.base_ms = c->cfg.backoff_base_ms,
		.max_backoff_ms = c->cfg.backoff_max_ms,
		.retry_after_cap_ms = c->cfg.retry_after_cap_ms,
	};
	struct core_err local = CORE_ERR_INIT;
	struct mp_body mp;
	int64_t start = now_ms();
	enum core_rc rc = CORE_OK;
	bool restart_sink = false, auth_renewed = false;
	char *auth_line = NULL;
	int attempt;

	if (!err)
		err = &local;
	core_err_clear(err);
	buf_release(&resp->body);
	resp->status = 0;
	resp->sink_bytes = 0;
	resp->attempts = 0;
	resp->reconciled = false;
	resp->request_id[0] = '\0';
	if (req->upload) {
		rc = multipart_prepare(req->upload, &mp, err);
		if (rc)
			return rc;
	}

	for (attempt = 0;; attempt++) {
		struct attempt a = { .c = c, .req = req, .resp = resp,
				     .mp = req->upload ? &mp : NULL,
				     .should_retry = -1 };
		struct attempt_result ar;
		bool oom = false, retryable, safe, hint_too_long = false;
		long hint, delay;
		int64_t remaining = c->cfg.deadline_ms - (now_ms() - start);

		if (!req->transfer && remaining <= 0) {
			if (!rc)
				core_err_set(err, CORE_ETIMEDOUT,
					     "%s: deadline of %ld ms exceeded",
					     req->label, c->cfg.deadline_ms);
			rc = CORE_ETIMEDOUT;
			err->rc = rc;
			break;
		}
		core_err_clear(err);
		buf_reset(&resp->body);
		resp->body.limit = c->cfg.max_body_bytes;
		/* A download resumes from what earlier attempts wrote. */
		a.resume_from = req->sink_fd >= 0 && !restart_sink ? resp->sink_bytes : 0;
		restart_sink = false;
		a.range_start = -1;
		if (req->auth_line && !auth_line) {
			rc = req->auth_line(req->auth_ctx, NULL, &auth_line, err);
			if (rc)
				break;
		}
		a.secret = req->auth_line ? auth_line : req->secret_header;
		resp->attempts = attempt + 1;
		if (attempt > 0)
			atomic_fetch_add(&c->retries, 1);

		attempt_run(c, &a, remaining, &ar, &oom);
		if (oom) {
			rc = core_err_set(err, CORE_ENOMEM, "out of memory");
			break;
		}
		resp->status = ar.status;

		/* Local failures first: they are never retried. */
		if (a.mp && (a.mp->io_errno || a.mp->short_read)) {
			rc = core_err_set(err, CORE_EIO,
					  "%s: reading the upload failed: %s",
					  req->label,
					  a.mp->short_read ? "file shrank while uploading"
							   : strerror(a.mp->io_errno));
			break;
		}
		if (a.mp && a.mp->src_abandoned) {
			rc = core_err_set(err, CORE_ECANCELLED,
					  "%s: the upload's source was abandoned",
					  req->label);
			break;
		}
		if (a.answered_early) {
			ar.cc = CURLE_OK; /* a complete exchange: judge the status */
		} else if (a.stalled) {
			ar.cc = CURLE_OPERATION_TIMEDOUT;
			snprintf(ar.curl_msg, sizeof(ar.curl_msg),
				 "no progress for %ld ms", c->cfg.transfer_stall_ms);
		} else if (a.aborted || ar.cc == CURLE_ABORTED_BY_CALLBACK) {
			rc = core_err_set(err, CORE_ECANCELLED, "%s: cancelled",
					  req->label);
			break;
		}
		if (a.sink_failed && a.sink_errno == EPROTO) {
			/* A 206 for another range than asked: start over. */
			restart_sink = true;
			rc = core_err_set(err, CORE_ETRANSPORT,
					  "%s: server answered another range than asked",
					  req->label);
			retryable = true;
			safe = true;
			goto decide;
		}
		if (a.sink_failed) {
			rc = core_err_set(err, CORE_EIO, "%s: writing the download failed: %s",
					  req->label, strerror(a.sink_errno));
			break;
		}
		if (a.body_too_big && ar.status >= 200 && ar.status < 300) {
			rc = core_err_set(err, CORE_ETOOBIG,
					  "%s: response body larger than %zu bytes",
					  req->label, c->cfg.max_body_bytes);
			break;
		}

		if (ar.cc == CURLE_OK || (a.body_too_big && ar.status)) {
			if (ar.status >= 200 && ar.status < 300) {
				rc = CORE_OK; /* an earlier attempt's error is moot */
				core_err_clear(err);
				break;
			}
			err->http_status = ar.status;
			http_error_fill(req, ar.status, resp, err);
			rc = err->rc;
			if (ar.status == 401 && req->auth_line && !auth_renewed) {
				/* A refused token: renew it once and resend now. A
				 * 401 means the request was not acted on. */
				char *fresh = NULL;
				struct core_err aerr = CORE_ERR_INIT;
				enum core_rc arc;

				auth_renewed = true;
				arc = req->auth_line(req->auth_ctx, auth_line, &fresh, &aerr);
				if (arc == CORE_OK) {
					secret_free(auth_line);
					auth_line = fresh;
					log_info("%s: credential refused (401); "
						 "retrying with a renewed token", req->label);
					attempt--;
					continue;
				}
				if (arc != CORE_ENOTFOUND) /* not: nothing to renew */
					snprintf(err->msg + strlen(err->msg),
						 sizeof(err->msg) - strlen(err->msg),
						 " (renewing the token failed: %s)", aerr.msg);
			}
			retryable = retry_status_retryable(ar.status);
			if (a.should_retry >= 0)
				retryable = a.should_retry == 1;
			safe = req->idempotent || retry_status_unprocessed(ar.status) ||
			       (a.mp && !a.mp->tail_given);
		} else {
			rc = curl_to_rc(ar.cc);
			core_err_set(err, rc, "%s: %s%s%s", req->label,
				     ar.cc == CURLE_OPERATION_TIMEDOUT && ar.status == 0 &&
						     !ar.sent
					     ? "connect timed out"
					     : curl_easy_strerror(ar.cc),
				     ar.curl_msg[0] ? ": " : "", ar.curl_msg);
			err->http_status = ar.status;
			retryable = rc == CORE_ETRANSPORT || rc == CORE_ETIMEDOUT;
			/* A multipart body without its closing boundary
			 * cannot have created anything. */
			safe = req->idempotent || !ar.sent ||
			       (a.mp && !a.mp->tail_given) ||
			       ar.cc == CURLE_COULDNT_CONNECT ||
			       ar.cc == CURLE_COULDNT_RESOLVE_HOST ||
			       ar.cc == CURLE_COULDNT_RESOLVE_PROXY;
		}
decide:
		hint = retry_after_parse(a.retry_after_ms[0] ? a.retry_after_ms : NULL,
					 a.retry_after[0] ? a.retry_after : NULL,
					 (int64_t)time(NULL));
		err->retry_after_ms = hint;
		if (!retryable)
			break;
		if (!safe) {
			/* The request may have been acted on. Ask, never resend blindly. */
			enum core_rc rrc;
			struct core_err rerr = CORE_ERR_INIT;

			if (!req->reconcile) {
				rc = CORE_EAMBIGUOUS;
				err->rc = rc;
				snprintf(err->msg + strlen(err->msg),
					 sizeof(err->msg) - strlen(err->msg),
					 " (the request may have reached the server; not resent)");
				break;
			}
			buf_reset(&resp->body);
			resp->body.limit = c->cfg.max_body_bytes;
			rrc = req->reconcile(req->reconcile_ctx, &resp->body, &rerr);
			if (rrc == CORE_OK) {
				atomic_fetch_add(&c->reconciled, 1);
				log_info("%s: outcome of a lost response recovered by lookup",
					 req->label);
				resp->reconciled = true;
				resp->status = 200;
				core_err_clear(err);
				rc = CORE_OK;
				break;
			}
			if (rrc != CORE_ENOTFOUND) {
				rc = CORE_EAMBIGUOUS;
				snprintf(err->msg + strlen(err->msg),
					 sizeof(err->msg) - strlen(err->msg),
					 " (outcome unknown: lookup failed: %s)", rerr.msg);
				err->rc = rc;
				break;
			}
			/* Not found: the lost attempt created nothing; safe to resend. */
		}
		if (attempt >= c->cfg.max_retries)
			break;
		delay = retry_delay_ms(&pol, attempt, hint, jitter_random());
		if (delay < 0) {
			hint_too_long = true;
			snprintf(err->msg + strlen(err->msg),
				 sizeof(err->msg) - strlen(err->msg),
				 " (server asks to retry after %ld ms, over the %ld ms cap)",
				 hint, c->cfg.retry_after_cap_ms);
		}
		if (hint_too_long)
			break;
		if (!req->transfer &&
		    now_ms() + delay - start > c->cfg.deadline_ms) {
			snprintf(err->msg + strlen(err->msg),
				 sizeof(err->msg) - strlen(err->msg),
				 " (gave up: retrying would pass the %ld ms deadline)",
				 c->cfg.deadline_ms);
			break;
		}
		log_debug("%s: attempt %d failed (%s); retrying in %ld ms",
			  req->label, attempt + 1, core_rc_str(rc), delay);
		if (!backoff_sleep(req, delay)) {
			rc = core_err_set(err, CORE_ECANCELLED, "%s: cancelled",
					  req->label);
			break;
		}
	}
	if (req->upload)
		free(mp.head);
	secret_free(auth_line);
	if (rc) {
		err->rc = rc;
		atomic_fetch_add(&c->failures, 1);
		if (resp->attempts > 1)
			snprintf(err->msg + strlen(err->msg),
				 sizeof(err->msg) - strlen(err->msg),
				 " after %d attempts", resp->attempts);
	}
	return rc;
}
