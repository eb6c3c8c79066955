/* SPDX-License-Identifier: MIT */
/* test_parse_file.c: File objects, lists and delete answers. */
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "tap.h"

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static enum core_rc parse_text(char *s, size_t len, struct api_file *f)
{
	enum core_rc rc = parse_file(s, len, f, NULL);

	free(s);
	return rc;
}

static enum core_rc load(const char *name, struct api_file *f)
{
	size_t len;
	char *s = fixture(name, &len);

	return parse_text(s, len, f);
}

/* The response body of a spec example (tests/fixtures/specs/). */
static enum core_rc load_example(const char *name, const char *code,
				 struct api_file *f)
{
	size_t len;
	char *s = example_body(name, code, &len);

	return parse_text(s, len, f);
}

int main(void)
{
	struct api_file f;
	struct file_page p;
	struct core_err err = CORE_ERR_INIT;
	bool deleted;
	size_t len;
	char *s;

	ok(load("seed_file_upload_python.json", &f) == CORE_OK, "seed python upload");
	ok(streq(f.id, "file-9f3a81d899b4442f98b640e4bc3535dd") && f.bytes == 815 &&
		   f.status == FILE_STATUS_UNKNOWN && f.status_details == NULL,
	   "status null -> unknown");
	ok(streq(f.filename, "test.jsonl") && streq(f.purpose, "batch") &&
		   f.created_at == 1722476551,
	   "fields");
	api_file_release(&f);
	ok(load("seed_file_upload_rest.json", &f) == CORE_OK &&
		   f.status == FILE_STATUS_PENDING && f.bytes == 686,
	   "seed REST upload is pending");
	api_file_release(&f);
	ok(load("seed_file_processed_rest.json", &f) == CORE_OK &&
		   f.status == FILE_STATUS_PROCESSED,
	   "seed REST file processed");
	api_file_release(&f);
	ok(load_example("authoring-2024-10-21/upload_file.json", "201", &f) == CORE_OK &&
		   f.status == FILE_STATUS_PENDING,
	   "spec upload example pending");
	api_file_release(&f);
	ok(load_example("authoring-2024-10-21/get_file.json", "200", &f) == CORE_OK &&
		   f.id != NULL,
	   "spec get_file");
	api_file_release(&f);

	s = example_body("authoring-2024-10-21/get_files.json", "200", &len);
	ok(parse_file_page(s, len, &p, &err) == CORE_OK && p.n >= 1 && !p.has_more &&
		   streq(p.last_id, p.items[p.n - 1].id),
	   "spec get_files (no has_more on dated versions)");
	file_page_release(&p);
	free(s);
	s = example_body("authoring-2025-04-01-preview/get_files.json", "200", &len);
	ok(parse_file_page(s, len, &p, &err) == CORE_OK && p.n >= 1, "spec preview get_files");
	file_page_release(&p);
	free(s);

	s = example_body("authoring-2024-10-21/delete_file.json", "200", &len);
	ok(parse_file_deleted(s, len, &deleted, &err) == CORE_OK && deleted,
	   "spec delete_file");
	free(s);
	ok(parse_file_deleted("{\"deleted\":false}", strlen("{\"deleted\":false}"), &deleted, &err) == CORE_OK &&
		   !deleted,
	   "deleted false");

	ok(parse_file("{\"id\":\"f\",\"bytes\":null,\"status\":\"error\","
		      "\"status_details\":\"bad line 3\"}", strlen("{\"id\":\"f\",\"bytes\":null,\"status\":\"error\","
		      "\"status_details\":\"bad line 3\"}"), &f, &err) == CORE_OK &&
		   f.bytes == COUNT_NONE && f.status == FILE_STATUS_ERROR &&
		   streq(f.status_details, "bad line 3"),
	   "bytes null, error details");
	api_file_release(&f);
	ok(parse_file("{\"id\":\"f\",\"bytes\":\"12\",\"created_at\":\"2024-07-19T17:13:57Z\"}", strlen("{\"id\":\"f\",\"bytes\":\"12\",\"created_at\":\"2024-07-19T17:13:57Z\"}"), &f, &err) == CORE_OK &&
		   f.bytes == 12 && f.created_at == 1721409237,
	   "bytes as a string, ISO created_at");
	api_file_release(&f);
	ok(parse_file("{\"id\":\"f\",\"bytes\":-7}", strlen("{\"id\":\"f\",\"bytes\":-7}"), &f, &err) == CORE_OK &&
		   f.bytes == COUNT_NONE,
	   "negative bytes -> unknown");
	api_file_release(&f);
	ok(parse_file("{\"bytes\":1}", strlen("{\"bytes\":1}"), &f, &err) == CORE_EPARSE && f.id == NULL,
	   "no id: %s", err.msg);
	ok(parse_file("{\"id\":7}", strlen("{\"id\":7}"), &f, &err) == CORE_EPARSE, "numeric id refused");
	return done_testing();
}
