/* SPDX-License-Identifier: MIT */
/* test_parse_batch.c: Batch objects and pages from the seed's and the specs' own examples. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "tap.h"

static enum core_rc parse_text(const char *name, char *s, size_t len,
			       struct batch *b)
{
	struct core_err err = CORE_ERR_INIT;
	enum core_rc rc = parse_batch(s, len, b, &err);

	if (rc)
		printf("# %s: %s\n", name, err.msg);
	free(s);
	return rc;
}

static enum core_rc load(const char *name, struct batch *b)
{
	size_t len;
	char *s = fixture(name, &len);

	return parse_text(name, s, len, b);
}

/* The response body of a spec example (tests/fixtures/specs/). */
static enum core_rc load_example(const char *name, const char *code,
				 struct batch *b)
{
	size_t len;
	char *s = example_body(name, code, &len);

	return parse_text(name, s, len, b);
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

int main(void)
{
	struct batch b;
	struct batch_page p;
	struct core_err err = CORE_ERR_INIT;
	size_t len;
	char *s;

	/* Seed, Python output: integer timestamps, endpoint null, zero counts. */
	ok(load("seed_batch_create_python.json", &b) == CORE_OK, "seed python create parses");
	ok(streq(b.id, "batch_6caaf24d-54a5-46be-b1b7-518884fcbdde"), "id");
	ok(b.status == BATCH_STATUS_VALIDATING, "status validating");
	ok(b.endpoint == NULL, "endpoint null -> NULL");
	ok(b.created_at == 1722476583 && b.expires_at == 1722562983, "int timestamps");
	ok(b.in_progress_at == TIME_NONE && b.completed_at == TIME_NONE, "null timestamps");
	ok(b.counts.total == 0 && b.counts.completed == 0, "counts 0");
	ok(b.output_file_id == NULL && b.error_file_id == NULL && b.nerrors == 0,
	   "no files, no errors");
	ok(b.nmetadata == 0, "metadata null");
	batch_release(&b);

	ok(load("seed_batch_completed_python.json", &b) == CORE_OK, "seed completed parses");
	ok(b.status == BATCH_STATUS_COMPLETED && batch_status_is_terminal(b.status),
	   "completed");
	ok(streq(b.output_file_id, "file-3304e310-3b39-4e34-9f1c-e1c1504b2b2a") &&
		   streq(b.error_file_id, "file-c795ae52-3ba7-417d-86ec-07eebca57d0b"),
	   "both file ids");
	ok(b.counts.total == 3 && b.counts.completed == 3 && b.counts.failed == 0,
	   "counts");
	batch_release(&b);

	/* Seed, REST output: ISO timestamps, "Validating", null counts. */
	ok(load("seed_batch_create_rest.json", &b) == CORE_OK, "seed REST create parses");
	ok(b.status == BATCH_STATUS_VALIDATING && streq(b.status_raw, "Validating"),
	   "capitalised status normalised, raw kept");
	ok(b.created_at == 1721409237 && b.expires_at == 1721495637,
	   "ISO-8601 timestamps with 7 fractional digits");
	ok(b.counts.total == COUNT_NONE && b.counts.completed == COUNT_NONE &&
		   b.counts.failed == COUNT_NONE,
	   "null counts -> COUNT_NONE");
	batch_release(&b);

	/* Seed, failed job (cleaned of its doc typos): errors.data array. */
	ok(load("seed_batch_failed.json", &b) == CORE_OK, "seed failed parses");
	ok(b.status == BATCH_STATUS_FAILED, "failed");
	ok(b.nerrors == 1 && streq(b.errors[0].code, "empty_file") &&
		   b.errors[0].line == -1,
	   "errors.data array, line absent");
	ok(b.counts.total == 10 && b.counts.completed == COUNT_NONE,
	   "partially null counts");
	batch_release(&b);

	/* The seed's raw text is not JSON (curly quotes, trailing comma). */
	s = fixture("seed_batch_failed_raw.txt", &len);
	ok(parse_batch(s, len, &b, &err) == CORE_EPARSE && strstr(err.msg, "not valid json"),
	   "doc typo body is a parse error with a message: %s", err.msg);
	ok(b.id == NULL, "out left empty on error");
	free(s);

	/* Azure spec: errors.data as ONE object, line as a string, "" ids. */
	ok(load("azure_batch_errors_object.json", &b) == CORE_OK, "spec object form parses");
	ok(b.nerrors == 1 && streq(b.errors[0].code, "invalid_json_line") &&
		   b.errors[0].line == 3,
	   "errors.data object, line \"3\" -> 3");
	ok(b.errors[0].param == NULL, "param \"\" -> NULL");
	ok(b.output_file_id == NULL && b.error_file_id == NULL, "\"\" file ids -> NULL");
	ok(b.status == BATCH_STATUS_FAILED && b.failed_at == 1721409301,
	   "\"Failed\" and a Z timestamp");
	ok(b.nmetadata == 0, "empty metadata object");
	batch_release(&b);

	/* OpenAI: several errors, numeric code, null line; metadata. */
	ok(load("openai_batch_failed.json", &b) == CORE_OK, "openai failed parses");
	ok(b.nerrors == 3 && b.errors[0].line == 4 && streq(b.errors[1].param, "body.model"),
	   "errors array with lines");
	ok(streq(b.errors[2].code, "404") && b.errors[2].line == -1,
	   "numeric code stringified, null line");
	batch_release(&b);
	ok(load("openai_batch_create.json", &b) == CORE_OK, "openai create parses");
	ok(streq(batch_metadata_get(&b, "customer_id"), "user_123456789") &&
		   b.nmetadata == 2 && batch_metadata_get(&b, "nope") == NULL,
	   "metadata map");
	ok(streq(b.endpoint, "/v1/chat/completions"), "endpoint");
	batch_release(&b);
	ok(load("openai_batch_usage.json", &b) == CORE_OK, "openai usage parses");
	ok(b.usage.input_tokens == 1500 && b.usage.cached_tokens == 1024 &&
		   b.usage.output_tokens == 500 && b.usage.reasoning_tokens == 300 &&
		   b.usage.total_tokens == 2000 && streq(b.model, "gpt-4o-2024-08-06"),
	   "usage and model");
	batch_release(&b);
	ok(load("seed_batch_create_python.json", &b) == CORE_OK &&
		   b.usage.input_tokens == COUNT_NONE,
	   "usage absent -> COUNT_NONE");
	batch_release(&b);

	/* Spec examples. */
	ok(load_example("authoring-2024-10-21/post_batch.json", "200", &b) == CORE_OK,
	   "spec post_batch");
	batch_release(&b);
	ok(load_example("authoring-2024-10-21/cancel_batch.json", "200", &b) == CORE_OK &&
		   b.status == BATCH_STATUS_CANCELLING,
	   "spec cancel_batch is cancelling");
	batch_release(&b);
	ok(load_example("authoring-2025-04-01-preview/get_batch.json", "200", &b) == CORE_OK,
	   "spec preview get_batch");
	batch_release(&b);
	ok(load_example("authoring-2025-04-01-preview/post_batch_blob.json", "201", &b) == CORE_OK,
	   "spec preview blob batch (no input_file_id)");
	batch_release(&b);

	/* raw_json keeps the object (unknown fields too); copies are deep. */
	ok(load("openai_batch_usage.json", &b) == CORE_OK && b.raw_json &&
		   strstr(b.raw_json, "\"reasoning_tokens\":300"),
	   "raw_json kept");
	{
		struct batch c;
		struct buf pretty = BUF_INIT(0);

		ok(batch_copy(&c, &b) == CORE_OK && c.id != b.id && streq(c.id, b.id) &&
			   c.usage.total_tokens == 2000 && streq(c.raw_json, b.raw_json),
		   "batch_copy is deep");
		batch_release(&b);
		ok(streq(c.model, "gpt-4o-2024-08-06"), "copy survives the original");
		ok(json_pretty(c.raw_json, strlen(c.raw_json), &pretty, &err) == CORE_OK &&
			   strstr(pretty.data, "{\n  \"id\": \"batch_u1\",\n") &&
			   strstr(pretty.data, "\n    \"input_tokens_details\": {\n      \"cached_tokens\": 1024\n    },") &&
			   pretty.data[pretty.len - 1] == '\n',
		   "json_pretty indents by two spaces");
		buf_release(&pretty);
		ok(json_pretty("{\"a\":[],\"b\":{},\"c\":\"q\\\"\"}", strlen("{\"a\":[],\"b\":{},\"c\":\"q\\\"\"}"), &pretty, &err) == CORE_OK &&
			   streq(pretty.data, "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": \"q\\\"\"\n}\n"),
		   "empty containers and escapes: %s", pretty.data);
		buf_release(&pretty);
		ok(json_pretty("{nope", 5, &pretty, &err) == CORE_EPARSE, "not json");
		buf_release(&pretty);
		batch_release(&c);
	}

	/* Pages. */
	s = example_body("authoring-2024-10-21/get_batches.json", "200", &len);
	ok(parse_batch_page(s, len, &p, &err) == CORE_OK, "spec get_batches page");
	ok(p.n == 1 && !p.has_more && streq(p.last_id, "batch_72a2792ef7d24ba7b82c7fe4a37e379f"),
	   "first_id/last_id inside the item ignored; last_id from the item");
	ok(p.items[0].counts.total == 500 &&
		   streq(batch_metadata_get(&p.items[0], "batch_description"), "Evaluation job"),
	   "item fields");
	batch_page_release(&p);
	free(s);
	s = fixture("seed_batch_list_preview.json", &len);
	ok(parse_batch_page(s, len, &p, &err) == CORE_OK && p.n == 2 &&
		   streq(p.first_id, "batch_4ddc7b60-19a9-419b-8b93-b9a3274b33b5") &&
		   streq(p.last_id, "batch_6287485f-50fc-4efa-bcc5-b86690037f43") &&
		   !p.has_more,
	   "seed list page with first_id/last_id");
	batch_page_release(&p);
	free(s);
	s = fixture("batch_list_no_last_id.json", &len);
	ok(parse_batch_page(s, len, &p, &err) == CORE_OK, "page without last_id");
	ok(p.n == 3 && p.has_more && streq(p.last_id, "batch_1"),
	   "item without id skipped; last_id falls back to the last item");
	ok(p.items[1].status == BATCH_STATUS_IN_PROGRESS &&
		   p.items[2].created_at == 1729011128,
	   "mixed statuses and timestamp forms in one page");
	batch_page_release(&p);
	free(s);
	ok(parse_batch_page("{\"data\":{}}", strlen("{\"data\":{}}"), &p, &err) == CORE_EPARSE,
	   "data not an array: %s", err.msg);
	ok(parse_batch_page("{\"data\":[],\"has_more\":\"true\"}", strlen("{\"data\":[],\"has_more\":\"true\"}"), &p, &err) == CORE_OK &&
		   p.n == 0 && p.has_more && p.last_id == NULL,
	   "empty page, has_more as a string");
	batch_page_release(&p);
	return done_testing();
}
