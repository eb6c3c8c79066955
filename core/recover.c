/* SPDX-License-Identifier: MIT */
/* recover.c: settles leftover submission journals against the service. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "recover.h"

#define LOOKUP_PAGES 5

/* Finds the batch whose metadata names this submission. */
static enum core_rc find_batch(struct api_client *api, const struct journal_record *r,
			       char **batch_id, struct core_err *err)
{
	char *after = NULL;
	enum core_rc rc = CORE_OK;
	int pages;

	*batch_id = NULL;
	if (r->batch_id) {
		struct batch b;

		rc = api_batch_get(api, r->batch_id, &b, err);
		if (!rc) {
			*batch_id = strdup(b.id);
			batch_release(&b);
			return CORE_OK;
		}
		if (rc != CORE_ENOTFOUND)
			return rc;
	}
	for (pages = 0; pages < LOOKUP_PAGES && !*batch_id; pages++) {
		struct batch_page p;
		size_t i;

		rc = api_batch_list(api, after, 100, &p, err);
		if (rc)
			break;
		for (i = 0; i < p.n && !*batch_id; i++) {
			const char *v = batch_metadata_get(&p.items[i], "batchfs_submit");

			if (v && !strcmp(v, r->submit_id))
				*batch_id = strdup(p.items[i].id);
		}
		free(after);
		after = p.has_more && p.last_id ? strdup(p.last_id) : NULL;
		batch_page_release(&p);
		if (!after)
			break;
	}
	free(after);
	return rc;
}

/* Finds the uploaded input: recorded, or same name and size, uploaded since. */
static enum core_rc find_file(struct api_client *api, const struct journal_record *r,
			      char **file_id, struct core_err *err)
{
	struct file_page p;
	enum core_rc rc;
	size_t i;

	*file_id = NULL;
	if (r->file_id) {
		*file_id = strdup(r->file_id);
		return CORE_OK;
	}
	rc = api_file_list(api, "batch", NULL, 0, &p, err);
	if (rc)
		return rc;
	for (i = 0; i < p.n && !*file_id; i++) {
		const struct api_file *f = &p.items[i];

		if (f->filename && !strcmp(f->filename, r->name) &&
		    (f->bytes == COUNT_NONE || (uint64_t)f->bytes == r->size) &&
		    (!f->created_at || f->created_at >= r->time - 300))
			*file_id = strdup(f->id);
	}
	file_page_release(&p);
	return CORE_OK;
}

static void stamp(char *out, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

enum core_rc recover_submissions(struct api_client *api, const char *journal_dir,
				 struct buf *report, struct recover_result *res,
				 struct core_err *err)
{
	struct journal_record *recs;
	size_t n, i;
	enum core_rc rc;
	char when[32];

	memset(res, 0, sizeof(*res));
	rc = journal_scan(journal_dir, &recs, &n, err);
	if (rc)
		return rc;
	stamp(when, sizeof(when));
	for (i = 0; i < n; i++) {
		struct journal_record *r = &recs[i];
		struct core_err lerr = CORE_ERR_INIT;
		char *batch = NULL, *file = NULL;
		bool settled = true;

		if (r->state == JOURNAL_SETTLED) {
			unlink(r->path);
			continue;
		}
		rc = find_batch(api, r, &batch, &lerr);
		if (!rc && batch) {
			res->finished++;
			(void)!buf_printf(report,
					  "%s %s/%s: finished after a restart: batch %s exists\n",
					  when, r->deployment ? r->deployment : "?", r->name, batch);
		} else if (!rc) {
			rc = find_file(api, r, &file, &lerr);
			if (!rc && file)
				rc = api_file_delete(api, file, &lerr);
			if (rc == CORE_ENOTFOUND)
				rc = CORE_OK;
			if (!rc) {
				res->rolled_back++;
				(void)!buf_printf(report,
						  "%s %s/%s: rolled back after a restart: %s; "
						  "copy the file again to submit it\n",
						  when, r->deployment ? r->deployment : "?", r->name,
						  file ? "the uploaded input was deleted"
						       : "nothing had reached the service");
			}
		}
		if (rc) {
			settled = false;
			res->pending++;
			(void)!buf_printf(report,
					  "%s %s/%s: could not be settled yet (%s); "
					  "will retry at the next mount\n",
					  when, r->deployment ? r->deployment : "?", r->name,
					  lerr.msg);
			log_warn("recovery of %s: %s", r->name, lerr.msg);
			rc = CORE_OK;
		}
		if (settled)
			unlink(r->path);
		free(batch);
		free(file);
	}
	journal_records_free(recs, n);
	return CORE_OK;
}
