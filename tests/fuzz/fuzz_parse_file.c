/* fuzz_parse_file.c: fuzzes parse_file, parse_file_page and parse_file_deleted (core/parse_file.c) on the same bytes. */
/* SPDX-License-Identifier: MIT */
/*
 * Invariants: only CORE_OK or CORE_EPARSE, with *out empty on failure; a
 * parsed file follows model.h (id set, strings NULL or non-empty, bytes
 * COUNT_NONE or more, times 0 or positive, status in range);
 * api_file_copy() is a deep, equal copy; the three parsers agree on
 * whether the body is a JSON object.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "parse.h"

#define TIME_MAX_S ((int64_t)1000000000000000LL) /* json_get_time's 1e15 */

static void check_file(const struct api_file *f)
{
	FUZZ_CHECK(f->id && f->id[0]);
	FUZZ_CHECK(fuzz_str_ok(f->filename));
	FUZZ_CHECK(fuzz_str_ok(f->purpose));
	FUZZ_CHECK(fuzz_str_ok(f->status_details));
	FUZZ_CHECK((unsigned)f->status < FILE_STATUS_COUNT);
	FUZZ_CHECK(f->bytes >= COUNT_NONE);
	FUZZ_CHECK(f->created_at >= 0 && f->created_at <= TIME_MAX_S);
	FUZZ_CHECK(f->expires_at >= 0 && f->expires_at <= TIME_MAX_S);
}

static void check_copy(const struct api_file *f)
{
	struct api_file c;

	FUZZ_CHECK(api_file_copy(&c, f) == CORE_OK);
	FUZZ_CHECK(fuzz_str_copied(f->id, c.id));
	FUZZ_CHECK(fuzz_str_copied(f->filename, c.filename));
	FUZZ_CHECK(fuzz_str_copied(f->purpose, c.purpose));
	FUZZ_CHECK(fuzz_str_copied(f->status_details, c.status_details));
	FUZZ_CHECK(c.status == f->status && c.bytes == f->bytes &&
		   c.created_at == f->created_at &&
		   c.expires_at == f->expires_at);
	api_file_release(&c);
	FUZZ_CHECK(c.id == NULL);
	api_file_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	struct core_err err = CORE_ERR_INIT;
	struct api_file f;
	struct file_page page;
	enum core_rc rf, rp, rd;
	bool deleted = true;
	size_t i;

	rf = parse_file(json, size, &f, &err);
	FUZZ_CHECK(rf == CORE_OK || rf == CORE_EPARSE);
	if (rf == CORE_OK) {
		check_file(&f);
		check_copy(&f);
	} else {
		FUZZ_CHECK(!f.id && !f.filename && !f.purpose &&
			   !f.status_details);
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	api_file_release(&f);

	core_err_clear(&err);
	rp = parse_file_page(json, size, &page, &err);
	FUZZ_CHECK(rp == CORE_OK || rp == CORE_EPARSE);
	if (rp == CORE_OK) {
		FUZZ_CHECK(page.n == 0 || page.items);
		for (i = 0; i < page.n; i++)
			check_file(&page.items[i]);
		FUZZ_CHECK(fuzz_str_ok(page.last_id));
		FUZZ_CHECK(page.n == 0 || page.last_id);
	} else {
		FUZZ_CHECK(page.n == 0 && !page.items && !page.last_id);
	}
	file_page_release(&page);

	core_err_clear(&err);
	rd = parse_file_deleted(json, size, &deleted, &err);
	FUZZ_CHECK(rd == CORE_OK || rd == CORE_EPARSE);
	if (rd != CORE_OK) {
		FUZZ_CHECK(!deleted);
		/* Not a JSON object: nothing else parses it either. */
		FUZZ_CHECK(rf != CORE_OK && rp != CORE_OK);
	}
	return 0;
}
