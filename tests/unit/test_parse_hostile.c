/* SPDX-License-Identifier: MIT */
/* test_parse_hostile.c: malformed bodies: truncated, wrong types, deep nesting, huge strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "parse.h"
#include "tap.h"

static const char *const fixtures[] = {
	"seed_batch_create_rest.json", "seed_batch_completed_python.json",
	"seed_batch_list_preview.json", "seed_file_upload_rest.json",
	"azure_batch_errors_object.json", "openai_batch_failed.json",
	"openai_batch_usage.json",
};

/* Every parser on every prefix of a body: only OK or EPARSE, never a crash. */
static int all_prefixes(const char *body, size_t len)
{
	size_t cut;
	int bad = 0;

	for (cut = 0; cut < len; cut++) {
		struct batch b;
		struct batch_page bp;
		struct api_file f;
		struct file_page fp;
		struct deployment_list dl;
		struct core_err err = CORE_ERR_INIT;
		enum core_rc r[5];
		int i;

		r[0] = parse_batch(body, cut, &b, &err);
		r[1] = parse_batch_page(body, cut, &bp, &err);
		r[2] = parse_file(body, cut, &f, &err);
		r[3] = parse_file_page(body, cut, &fp, &err);
		r[4] = parse_deployments(body, cut, DEPLOY_SRC_ARM, &dl, &err);
		parse_error_body(body, cut, &err);
		for (i = 0; i < 5; i++)
			if (r[i] != CORE_OK && r[i] != CORE_EPARSE)
				bad++;
		batch_release(&b);
		batch_page_release(&bp);
		api_file_release(&f);
		file_page_release(&fp);
		deployment_list_release(&dl);
	}
	return bad;
}

int main(void)
{
	struct batch b;
	struct batch_page p;
	struct core_err err = CORE_ERR_INIT;
	struct buf big = BUF_INIT(0);
	size_t i, len;
	const char *s;
	char *f, *longid;
	enum core_rc rc;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		f = fixture(fixtures[i], &len);
		ok(all_prefixes(f, len) == 0, "every truncation of %s is OK or EPARSE",
		   fixtures[i]);
		free(f);
	}

	/* Wrong JSON types in every field. */
	s = "{\"id\":\"batch_x\",\"status\":42,\"created_at\":{},\"expires_at\":[1],"
	    "\"request_counts\":\"lots\",\"errors\":\"none\",\"metadata\":[1,2],"
	    "\"output_file_id\":{\"a\":1},\"error_file_id\":true,\"endpoint\":[],"
	    "\"usage\":7,\"in_progress_at\":-5,\"completed_at\":1e300}";
	ok(parse_batch(s, strlen(s), &b, &err) == CORE_OK, "wrong types tolerated");
	ok(b.status == BATCH_STATUS_UNKNOWN && !strcmp(b.status_raw, "42") &&
		   b.created_at == TIME_NONE && b.expires_at == TIME_NONE &&
		   b.counts.total == COUNT_NONE && b.nerrors == 0 && b.nmetadata == 0 &&
		   b.output_file_id == NULL && b.error_file_id == NULL &&
		   b.endpoint == NULL && b.in_progress_at == TIME_NONE &&
		   b.completed_at == TIME_NONE,
	   "wrong types read as absent");
	batch_release(&b);
	s = "{\"id\":\"b\",\"errors\":{\"data\":[1,\"x\",null,{\"code\":{},\"line\":\"abc\"}]},"
	    "\"metadata\":{\"k\":null,\"n\":5,\"o\":{}}}";
	ok(parse_batch(s, strlen(s), &b, &err) == CORE_OK && b.nerrors == 4 &&
		   b.errors[3].code == NULL && b.errors[3].line == -1 &&
		   b.nmetadata == 1 && !strcmp(b.metadata[0].value, "5"),
	   "odd errors items and metadata values");
	batch_release(&b);
	ok(parse_batch("{\"id\":null}", strlen("{\"id\":null}"), &b, &err) == CORE_EPARSE, "null id");
	ok(parse_batch("{\"id\":\"\"}", strlen("{\"id\":\"\"}"), &b, &err) == CORE_EPARSE, "empty id");
	ok(parse_batch("[1,2,3]", strlen("[1,2,3]"), &b, &err) == CORE_EPARSE, "array root");
	ok(parse_batch("\"batch\"", strlen("\"batch\""), &b, &err) == CORE_EPARSE, "string root");
	ok(parse_batch("", strlen(""), &b, &err) == CORE_EPARSE, "empty body");
	ok(parse_batch(NULL, 0, &b, &err) == CORE_EPARSE, "NULL body");
	ok(parse_batch("{\"id\":\"a\"} trailing", strlen("{\"id\":\"a\"} trailing"), &b, &err) == CORE_OK,
	   "trailing bytes after the object are ignored");
	batch_release(&b);
	ok(parse_batch("{\"id\":\"a\0b\"}", sizeof("{\"id\":\"a\0b\"}") - 1, &b, &err) == CORE_EPARSE,
	   "NUL inside the body is a parse error");
	s = "{\"id\":\"a\\u0000b\",\"status\":\"x\\\\u0000\"}";
	ok(parse_batch(s, strlen(s), &b, &err) == CORE_OK && !strcmp(b.id, "a\x01" "b") &&
		   !strcmp(b.status_raw, "x\\u0000"),
	   "an escaped NUL becomes \\u0001 (no aliasing), an escaped backslash stays");
	batch_release(&b);
	s = "\xff\xfe\x00\x01garbage\x80\x81";
	ok(parse_batch(s, 13, &b, &err) == CORE_EPARSE, "binary garbage");
	ok(parse_batch("{\"id\":\"\xc3\x28\"}", strlen("{\"id\":\"\xc3\x28\"}"), &b, &err) == CORE_OK,
	   "invalid UTF-8 in a string does not crash");
	batch_release(&b);

	/* Nesting 100,000 deep. */
	for (i = 0; i < 100000; i++)
		if (buf_addstr(&big, "{\"a\":"))
			break;
	rc = buf_addstr(&big, "1");
	for (i = 0; i < 100000 && !rc; i++)
		rc = buf_addstr(&big, "}");
	ok(rc == CORE_OK && parse_batch(big.data, big.len, &b, &err) == CORE_EPARSE,
	   "100,000-deep nesting refused: %s", err.msg);
	buf_reset(&big);
	rc = buf_addstr(&big, "{\"id\":\"b\",\"x\":");
	for (i = 0; i < 100000 && !rc; i++)
		rc = buf_addstr(&big, "[");
	ok(rc == CORE_OK && parse_batch(big.data, big.len, &b, &err) == CORE_EPARSE,
	   "deep unterminated arrays refused");

	/* Huge strings. */
	longid = repeat('x', 10000);
	buf_reset(&big);
	rc = buf_printf(&big, "{\"id\":\"%s\",\"status\":\"completed\"}", longid);
	ok(rc == CORE_OK && parse_batch(big.data, big.len, &b, &err) == CORE_OK &&
		   strlen(b.id) == 10000,
	   "10,000-character id parses (sanitising is the fs layer's job)");
	batch_release(&b);
	free(longid);
	longid = repeat('m', 8u << 20);
	buf_reset(&big);
	rc = buf_printf(&big, "{\"data\":[{\"id\":\"b1\",\"metadata\":{\"k\":\"%s\"}}]}", longid);
	ok(rc == CORE_OK && parse_batch_page(big.data, big.len, &p, &err) == CORE_OK &&
		   p.n == 1,
	   "8 MiB string in a page");
	batch_page_release(&p);
	free(longid);
	buf_release(&big);
	return done_testing();
}
