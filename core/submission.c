/* SPDX-License-Identifier: MIT */
/* submission.c: streaming validation + spooling of one submitted file, then upload and batch create. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "hasher.h"
#include "journal.h"
#include "log.h"
#include "submission.h"
#include "validate.h"

#define COPY_CHUNK (1u << 20)
#define HASH_THREAD_AFTER (4u << 20)

struct submission {
	struct submission_config cfg;
	char *deployment;
	char *name;
	struct spool *sp;
	/* The input as written. */
	char *in_path;
	int in_fd;
	uint64_t in_size;
	/* The bytes to upload when they differ from the input. */
	char *up_path;
	int up_fd;
	uint64_t up_size;
	uint64_t emitted; /* validator output so far (either file) */
	struct jv *jv;
	uint64_t in_writeback, up_writeback; /* see spool_writeback() */
	struct hasher *hash;
	char sha_hex[65];
	bool finished;
	bool io_failed;
	struct core_err io_err;
	char *file_id;
	struct journal *journal; /* while committing */
	struct upstream *up;	 /* the upload under way while written */
	bool stream_refused;	 /* no room when it was tried: not again */
	struct buf report;
};

static enum core_rc write_all(int fd, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == ENOSPC || errno == EDQUOT ? CORE_ENOSPC : CORE_EIO;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return CORE_OK;
}

/* Starts the upload file with a copy of the first `upto` input bytes. */
static enum core_rc upload_file_start(struct submission *s, uint64_t upto,
				      struct core_err *err)
{
	char *chunk;
	uint64_t off = 0;
	enum core_rc rc;

	rc = spool_create(s->sp, "upload", &s->up_path, &s->up_fd, err);
	if (rc)
		return rc;
	rc = spool_reserve(s->sp, upto, err);
	if (rc)
		return rc;
	s->up_size = upto;
	chunk = malloc(COPY_CHUNK);
	if (!chunk)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	while (off < upto) {
		size_t n = upto - off > COPY_CHUNK ? COPY_CHUNK : (size_t)(upto - off);
		ssize_t r = pread(s->in_fd, chunk, n, (off_t)off);

		if (r <= 0) {
			free(chunk);
			return core_err_set(err, CORE_EIO, "cannot read the spool: %s",
					    r < 0 ? strerror(errno) : "short read");
		}
		rc = write_all(s->up_fd, chunk, (size_t)r, off);
		if (rc) {
			free(chunk);
			return core_err_set(err, rc, "cannot write the spool: %s",
					    strerror(errno));
		}
		off += (uint64_t)r;
	}
	free(chunk);
	return CORE_OK;
}

/* Validator output: only needed on disk once it departs from the input. */
static enum core_rc on_emit(void *ctx, const char *data, size_t len,
			    bool modified)
{
	struct submission *s = ctx;
	enum core_rc rc = CORE_OK;

	if (s->up_fd < 0 && modified)
		rc = upload_file_start(s, s->emitted, &s->io_err);
	if (!rc && s->up_fd >= 0) {
		rc = spool_reserve(s->sp, len, &s->io_err);
		if (!rc) {
			rc = write_all(s->up_fd, data, len, s->up_size);
			if (rc)
				core_err_set(&s->io_err, rc, "cannot write the spool: %s",
					     strerror(errno));
			else
				s->up_size += len;
			spool_writeback(s->up_fd, s->up_size, &s->up_writeback);
		}
	}
	if (rc) {
		s->io_failed = true;
		s->io_err.rc = rc;
		return rc;
	}
	s->emitted += len;
	return CORE_OK;
}

static enum core_rc start_input(struct submission *s, struct core_err *err)
{
	struct jv_config jc = {
		.deployment = s->deployment,
		.max_requests = s->cfg.max_requests,
		.max_bytes = s->cfg.max_bytes,
	};
	enum core_rc rc;

	rc = hasher_new(&s->hash, err);
	if (rc)
		return rc;
	rc = jv_new(&jc, on_emit, s, &s->jv, err);
	if (rc)
		return rc;
	return spool_create(s->sp, "input", &s->in_path, &s->in_fd, err);
}

/* Cuts any upload under way: the service never gets its closing boundary. */
static void stream_drop(struct submission *s)
{
	if (!s->up)
		return;
	upstream_abandon(s->up); /* never waits: callers hold locks */
	s->up = NULL;
}

/* The upload's bytes so far: the validator's output, from whichever file
 * holds it (the same prefix in both once they part). */
static void stream_feed(struct submission *s, uint64_t avail)
{
	if (s->up)
		upstream_feed(s->up, s->up_fd >= 0 ? s->up_fd : s->in_fd, avail,
			      s->up_fd >= 0);
}

/* Starts the upload once the input is large enough to gain from it. */
static void stream_maybe_start(struct submission *s)
{
	struct core_err err = CORE_ERR_INIT;

	if (s->up || s->stream_refused || !s->cfg.stream_after || !s->cfg.api ||
	    !s->cfg.streams || s->in_size < s->cfg.stream_after ||
	    jv_report(s->jv)->errors_total)
		return;
	if (upstream_start(s->cfg.api, s->name, s->cfg.streams, &s->up, &err)) {
		s->stream_refused = true;
		log_debug("%s: uploading at close (%s)", s->name, err.msg);
		return;
	}
	log_debug("%s: uploading while written", s->name);
}

void submission_abandon(struct submission *s)
{
	stream_drop(s);
}

static void drop_input(struct submission *s)
{
	stream_drop(s);
	if (s->in_fd >= 0)
		close(s->in_fd);
	if (s->up_fd >= 0)
		close(s->up_fd);
	spool_remove(s->sp, s->in_path, s->in_size);
	spool_remove(s->sp, s->up_path, s->up_size);
	free(s->in_path);
	free(s->up_path);
	s->in_path = s->up_path = NULL;
	s->in_fd = s->up_fd = -1;
	s->in_size = s->up_size = s->emitted = 0;
	s->in_writeback = s->up_writeback = 0;
	jv_free(s->jv);
	s->jv = NULL;
	hasher_free(s->hash);
	s->hash = NULL;
	s->finished = false;
	s->stream_refused = false;
	s->io_failed = false;
	core_err_clear(&s->io_err);
	buf_reset(&s->report);
}

enum core_rc submission_new(struct spool *sp, const struct submission_config *cfg,
			    struct submission **out, struct core_err *err)
{
	struct submission *s = calloc(1, sizeof(*s));
	enum core_rc rc;

	*out = NULL;
	if (!s)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	s->cfg = *cfg;
	s->sp = sp;
	s->in_fd = s->up_fd = -1;
	s->deployment = strdup(cfg->deployment);
	s->name = strdup(cfg->name);
	if (!s->deployment || !s->name) {
		submission_free(s);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	if (!s->cfg.process_timeout_ms)
		s->cfg.process_timeout_ms = 600000;
	rc = start_input(s, err);
	if (rc) {
		submission_free(s);
		return rc;
	}
	*out = s;
	return CORE_OK;
}

void submission_free(struct submission *s)
{
	if (!s)
		return;
	drop_input(s);
	journal_close(s->journal, false);
	free(s->deployment);
	free(s->name);
	free(s->file_id);
	buf_release(&s->report);
	free(s);
}

enum core_rc submission_reset(struct submission *s, struct core_err *err)
{
	drop_input(s);
	return start_input(s, err);
}

enum core_rc submission_set_name(struct submission *s, const char *name)
{
	char *n;

	if (!strcmp(name, s->name))
		return CORE_OK;
	n = strdup(name);
	if (!n)
		return CORE_ENOMEM;
	stream_drop(s); /* it was sent under the old name */
	free(s->name);
	s->name = n;
	return CORE_OK;
}

uint64_t submission_size(const struct submission *s)
{
	return s->in_size;
}

int submission_fd(const struct submission *s)
{
	return s->in_fd;
}

bool submission_finished(const struct submission *s)
{
	return s->finished;
}

const char *submission_report(const struct submission *s)
{
	return s->report.data ? s->report.data : "";
}

const char *submission_sha256(const struct submission *s)
{
	return s->sha_hex;
}

const char *submission_file_id(const struct submission *s)
{
	return s->file_id;
}

uint64_t submission_requests(const struct submission *s)
{
	return s->jv ? jv_report(s->jv)->requests : 0;
}

static enum core_rc write_input(struct submission *s, const char *data,
				size_t len, uint64_t off, struct core_err *err)
{
	enum core_rc rc;

	if (s->finished)
		return core_err_set(err, CORE_EINVAL,
				    "'%s' is already submitted; write a new file", s->name);
	if (off != s->in_size)
		return core_err_set(err, CORE_EINVAL,
				    "'%s': writes must be sequential (offset %llu, "
				    "expected %llu); random writes are not supported",
				    s->name, (unsigned long long)off,
				    (unsigned long long)s->in_size);
	if (s->io_failed)
		return core_err_set(err, s->io_err.rc, "%s", s->io_err.msg);
	if (s->cfg.max_bytes && s->in_size + len > s->cfg.max_bytes)
		return core_err_set(err, CORE_ETOOBIG,
				    "'%s' is larger than the service's input limit of "
				    "%llu bytes: split it into several files",
				    s->name, (unsigned long long)s->cfg.max_bytes);
	rc = spool_reserve(s->sp, len, err);
	if (rc)
		return rc;
	rc = write_all(s->in_fd, data, len, s->in_size);
	if (rc) {
		spool_unreserve(s->sp, len);
		return core_err_set(err, rc, "cannot write the spool: %s",
				    strerror(errno));
	}
	spool_writeback(s->in_fd, s->in_size + len, &s->in_writeback);
	/* Past HASH_THREAD_AFTER a thread hashes the spool as it grows. */
	if (!hasher_following(s->hash) && s->in_size >= HASH_THREAD_AFTER)
		hasher_follow(s->hash, s->in_fd, s->in_size);
	s->in_size += len;
	if (hasher_following(s->hash))
		hasher_feed(s->hash, s->in_size);
	else
		hasher_update(s->hash, data, len);
	rc = jv_feed(s->jv, data, len, err);
	if (rc && s->io_failed)
		return core_err_set(err, s->io_err.rc, "%s", s->io_err.msg);
	return rc;
}

enum core_rc submission_write(struct submission *s, const char *data, size_t len,
			      uint64_t off, struct core_err *err)
{
	enum core_rc rc = write_input(s, data, len, off, err);

	if (rc || (s->jv && jv_report(s->jv)->errors_total)) {
		stream_drop(s); /* never to be submitted as it is */
		return rc;
	}
	stream_maybe_start(s);
	stream_feed(s, s->emitted);
	return CORE_OK;
}

enum core_rc submission_finish(struct submission *s, struct core_err *err)
{
	const struct jv_report *r;
	enum core_rc rc;

	if (s->finished)
		return CORE_OK;
	buf_reset(&s->report);
	rc = jv_finish(s->jv, err);
	if (rc)
		stream_drop(s);
	if (rc && s->io_failed)
		return core_err_set(err, s->io_err.rc, "%s", s->io_err.msg);
	if (rc)
		return rc;
	rc = hasher_final(s->hash, s->sha_hex, err);
	if (rc) {
		stream_drop(s);
		return rc;
	}
	if (fsync(s->in_fd) != 0 || (s->up_fd >= 0 && fsync(s->up_fd) != 0)) {
		stream_drop(s);
		return core_err_set(err, CORE_EIO, "cannot sync the spool: %s",
				    strerror(errno));
	}
	r = jv_report(s->jv);
	if (r->errors_total || (s->up_fd < 0 && s->emitted > s->in_size))
		stream_drop(s);
	else
		stream_feed(s, s->up_fd >= 0 ? s->up_size : s->in_size);
	if (r->errors_total) {
		if (buf_printf(&s->report, "%s: %llu problem%s found; nothing was uploaded\n",
			       s->name, (unsigned long long)r->errors_total,
			       r->errors_total == 1 ? "" : "s") ||
		    jv_report_text(s->jv, &s->report))
			return core_err_set(err, CORE_ENOMEM, "out of memory");
		return core_err_set(err, CORE_EINVAL, "'%s' is not a valid batch input "
				    "(%llu problem%s, first: line %llu: %s)",
				    s->name, (unsigned long long)r->errors_total,
				    r->errors_total == 1 ? "" : "s",
				    (unsigned long long)r->errors[0].line,
				    jv_code_name(r->errors[0].code));
	}
	s->finished = true;
	return CORE_OK;
}

/* The create-time endpoint: Azure documents "/chat/completions" (no /v1)
 * whatever the lines say; OpenAI wants the /v1 form. */
static void create_endpoint(enum api_surface surface, const char *url,
			    char *out, size_t n)
{
	if (surface == API_SURFACE_OPENAI)
		snprintf(out, n, "%s%s", strncmp(url, "/v1/", 4) ? "/v1" : "", url);
	else
		snprintf(out, n, "%s", strncmp(url, "/v1/", 4) ? url : url + 3);
}

static void random_id(char *out, size_t n)
{
	uint8_t r[16];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r));
	for (i = 0; i < sizeof(r) && 2 * i + 2 < n; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/*
 * Test-only switch: BATCHFS_CRASH_AT=<step> makes the daemon die by SIGKILL
 * right after that journal step is durable, so tests can prove recovery at
 * every step. Steps: begun, uploaded, processed, created.
 */
static void crash_point(const char *step)
{
	const char *at = getenv("BATCHFS_CRASH_AT");

	if (at && !strcmp(at, step)) {
		log_error("BATCHFS_CRASH_AT=%s: stopping hard (test switch)", step);
		raise(SIGKILL);
	}
}

/* Appends to the report; a report that cannot grow is cut short, no more. */
static void report_addf(struct submission *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void report_addf(struct submission *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (buf_addstr(&s->report, line) != CORE_OK)
		log_warn("report for '%s' cut short", s->name);
}

/* Records a commit failure in the report, keeping the error for the caller. */
static enum core_rc commit_failed(struct submission *s, const char *step,
				  enum core_rc rc, struct core_err *err)
{
	stream_drop(s); /* (an upload under way when the journal failed) */
	buf_reset(&s->report);
	report_addf(s, "%s: %s failed (%s): %s\n", s->name, step, core_rc_str(rc),
		    err && err->msg[0] ? err->msg : "");
	return rc;
}

/* Closes the upload under way, or uploads now; an upload under way that
 * failed before its end created nothing: then upload the ordinary way. */
static enum core_rc upload(struct submission *s, struct api_client *api,
			   const struct api_upload *up, struct api_file *f,
			   struct core_err *err)
{
	enum core_rc rc;
	bool before_end = false;

	if (s->up) {
		upstream_end(s->up);
		rc = upstream_finish(s->up, f, &before_end, err);
		upstream_free(s->up);
		s->up = NULL;
		if (!rc || !before_end)
			return rc;
		log_info("%s: the upload under way failed before its end (%s); "
			 "uploading again", s->name, err ? err->msg : "");
		core_err_clear(err);
	}
	return api_file_upload(api, up, f, err);
}

enum core_rc submission_commit(struct submission *s, struct api_client *api,
			       struct batch *out, struct core_err *err)
{
	struct core_err local = CORE_ERR_INIT;
	struct api_upload up = { 0 };
	struct api_file f;
	struct api_batch_create req = { 0 };
	struct kv md[4];
	char endpoint[160], submit_id[40], name[513];
	const struct jv_report *r = jv_report(s->jv);
	enum core_rc rc;

	memset(out, 0, sizeof(*out));
	memset(&f, 0, sizeof(f));
	if (!err)
		err = &local;
	if (!s->finished)
		return core_err_set(err, CORE_EINVAL, "submission not finished");
	up.fd = s->up_fd >= 0 ? s->up_fd : s->in_fd;
	up.size = (off_t)(s->up_fd >= 0 ? s->up_size : s->in_size);
	up.filename = s->name;
	up.purpose = "batch";
	random_id(submit_id, sizeof(submit_id));

	/* Durable before anything is sent: a crash from here on is recovered. */
	{
		struct journal_info ji = { s->name, s->deployment, s->sha_hex,
					   submit_id, (uint64_t)up.size };

		rc = journal_begin(spool_dir(s->sp), &ji, &s->journal, err);
		if (rc)
			return commit_failed(s, "journaling", rc, err);
	}
	crash_point("begun");
	rc = upload(s, api, &up, &f, err);
	if (rc) {
		/* An upload that failed may still have landed (outcome unknown):
		 * the journal stays for recovery to look for it. */
		journal_close(s->journal, rc != CORE_EAMBIGUOUS);
		s->journal = NULL;
		return commit_failed(s, "upload", rc, err);
	}
	free(s->file_id);
	s->file_id = strdup(f.id);
	rc = journal_step(s->journal, "uploaded", "file", f.id, err);
	if (rc)
		goto cleanup_file;
	crash_point("uploaded");
	if (f.status != FILE_STATUS_PROCESSED &&
	    (s->cfg.surface != API_SURFACE_OPENAI ||
	     (f.status != FILE_STATUS_UNKNOWN && f.status != FILE_STATUS_UPLOADED))) {
		char *id = strdup(f.id);

		api_file_release(&f);
		rc = id ? api_file_wait_processed(api, id, s->cfg.process_timeout_ms,
						  &f, err)
			: CORE_ENOMEM;
		free(id);
		if (rc)
			goto cleanup_file;
	}
	rc = journal_step(s->journal, "processed", NULL, NULL, err);
	if (rc)
		goto cleanup_file;
	crash_point("processed");
	create_endpoint(s->cfg.surface, r->url, endpoint, sizeof(endpoint));
	snprintf(name, sizeof(name), "%s", s->name);
	md[0] = (struct kv){ (char *)"batchfs_name", name };
	md[1] = (struct kv){ (char *)"batchfs_deployment", s->deployment };
	md[2] = (struct kv){ (char *)"batchfs_sha256", s->sha_hex };
	md[3] = (struct kv){ (char *)"batchfs_submit", submit_id };
	req.input_file_id = f.id;
	req.endpoint = endpoint;
	req.completion_window = "24h";
	req.metadata = md;
	req.nmetadata = 4;
	req.reconcile_key = "batchfs_submit";
	rc = api_batch_create(api, &req, out, err);
	if (rc == CORE_EAMBIGUOUS) {
		/* The batch may exist: keep its input and the journal (the next
		 * mount settles it), say so. */
		journal_close(s->journal, false);
		s->journal = NULL;
		api_file_release(&f);
		buf_reset(&s->report);
		report_addf(s,
			    "%s: the batch create's outcome is unknown (%s); the "
			    "uploaded input %s was kept; check batches/ for a batch "
			    "whose metadata has batchfs_submit=%s\n",
			    s->name, err->msg, s->file_id ? s->file_id : "?",
			    submit_id);
		return rc;
	}
	if (!rc) {
		struct core_err jerr = CORE_ERR_INIT;

		/* The batch exists: a journal that cannot say so any more is
		 * settled by recovery (it finds the batch by its metadata). */
		if (journal_step(s->journal, "created", "batch", out->id, &jerr) == CORE_OK) {
			crash_point("created");
			if (journal_step(s->journal, "done", NULL, NULL, &jerr) == CORE_OK) {
				journal_close(s->journal, true);
				s->journal = NULL;
			}
		}
		journal_close(s->journal, false);
		s->journal = NULL;
		api_file_release(&f);
		buf_reset(&s->report);
		return CORE_OK;
	}
cleanup_file:
	commit_failed(s, rc == CORE_ETIMEDOUT || f.status == FILE_STATUS_ERROR
				 ? "processing the upload"
				 : "creating the batch",
		      rc, err);
	{
		/* Nothing half-done on the server: delete the orphan input. */
		struct core_err derr = CORE_ERR_INIT;

		if (s->file_id && api_file_delete(api, s->file_id, &derr) != CORE_OK) {
			log_warn("%s: could not delete the uploaded input %s: %s",
				 s->name, s->file_id, derr.msg);
			report_addf(s, "the uploaded input %s could not be deleted: %s "
				    "(the next mount will try again)\n",
				    s->file_id, derr.msg);
			journal_close(s->journal, false); /* recovery retries */
		} else {
			if (s->file_id)
				report_addf(s, "the uploaded input %s was deleted\n",
					    s->file_id);
			if (journal_step(s->journal, "failed", NULL, NULL, &derr) == CORE_OK)
				journal_close(s->journal, true);
			else
				journal_close(s->journal, false);
		}
		s->journal = NULL;
	}
	api_file_release(&f);
	return rc;
}
