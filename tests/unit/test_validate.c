/* SPDX-License-Identifier: MIT */
/* test_validate.c: the streaming JSONL validator: rules, model insertion, chunking, limits, hostile input. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"
#include "validate.h"

#define DEP "gpt-4o-batch"
#define L(id, rest) "{\"custom_id\":\"" id "\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\"," rest "}"
#define OKLINE(id) L(id, "\"body\":{\"model\":\"" DEP "\",\"messages\":[]}")
#define NOMODEL(id) L(id, "\"body\":{\"messages\":[]}")
#define WITHMODEL(id) L(id, "\"body\":{\"model\": \"" DEP "\", \"messages\":[]}")

/* What the emit callback saw: the bytes, and per byte 'M' (modified) or '.'. */
struct sink {
	struct buf out;
	struct buf flags;
	size_t chunks;
	size_t fail_at;	 /* 1-based chunk number to fail on; 0 = never */
};

static enum core_rc collect(void *ctx, const char *data, size_t len, bool modified)
{
	struct sink *s = ctx;
	size_t i;

	s->chunks++;
	if (s->fail_at && s->chunks >= s->fail_at)
		return CORE_EIO;
	if (len == 0 || buf_add(&s->out, data, len))
		return CORE_ENOMEM; /* empty chunks are a bug too */
	for (i = 0; i < len; i++)
		if (buf_add(&s->flags, modified ? "M" : ".", 1))
			return CORE_ENOMEM;
	return CORE_OK;
}

/* A whole run: output, flags, report copy, text. */
struct result {
	struct sink sink;
	struct jv_report rep;
	struct jv_error errs[64];
	struct buf text;
	enum core_rc feed_rc;	 /* first non-OK jv_feed */
	enum core_rc finish_rc;
	size_t mem_peak;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* chunk: 0 = all at once, SIZE_MAX = random splits (seeded), else fixed size. */
static void run_cfg(const struct jv_config *cfg, const char *in, size_t len, size_t chunk,
		    uint64_t seed, struct result *r)
{
	struct core_err err = CORE_ERR_INIT;
	struct jv *v = NULL;
	size_t off = 0, n, m;

	memset(r, 0, sizeof(*r));
	r->sink.out = (struct buf)BUF_INIT(0);
	r->sink.flags = (struct buf)BUF_INIT(0);
	r->text = (struct buf)BUF_INIT(0);
	rng_state = seed ? seed : 88172645463325252ULL;
	if (jv_new(cfg, collect, &r->sink, &v, &err) != CORE_OK) {
		r->feed_rc = err.rc;
		return;
	}
	while (off < len) {
		if (chunk == 0)
			n = len - off;
		else if (chunk == SIZE_MAX)
			n = 1 + (size_t)(rnd() % (rnd() % 4 == 0 ? 4096 : 64));
		else
			n = chunk;
		if (n > len - off)
			n = len - off;
		r->feed_rc = jv_feed(v, in + off, n, &err);
		if (r->feed_rc)
			break;
		m = jv_memory(v);
		if (m > r->mem_peak)
			r->mem_peak = m;
		off += n;
	}
	r->finish_rc = jv_finish(v, &err);
	r->rep = *jv_report(v);
	if (r->rep.nerrors)
		memcpy(r->errs, r->rep.errors,
		       (r->rep.nerrors < 64 ? r->rep.nerrors : 64) * sizeof(r->errs[0]));
	if (jv_report_text(v, &r->text))
		r->finish_rc = CORE_ENOMEM;
	jv_free(v);
}

static void run(const char *in, size_t len, size_t chunk, struct result *r)
{
	struct jv_config cfg = { .deployment = DEP, .max_requests = 100000 };

	run_cfg(&cfg, in, len, chunk, 0, r);
}

static void result_release(struct result *r)
{
	buf_release(&r->sink.out);
	buf_release(&r->sink.flags);
	buf_release(&r->text);
}

static const char *out_of(const struct result *r)
{
	return r->sink.out.data ? r->sink.out.data : "";
}

static bool same_output(const struct result *r, const char *want)
{
	return r->sink.out.len == strlen(want) && !memcmp(out_of(r), want, r->sink.out.len);
}

/* One char per output line: 'M' all modified, '.' none, '?' mixed. */
static char *line_flags(const struct result *r)
{
	static char s[256];
	size_t i, k = 0;
	char cur = 0;

	for (i = 0; i < r->sink.out.len && k < sizeof(s) - 2; i++) {
		char f = r->sink.flags.data[i];

		if (!cur)
			cur = f;
		else if (cur != f)
			cur = '?';
		if (r->sink.out.data[i] == '\n' || i + 1 == r->sink.out.len) {
			s[k++] = cur;
			cur = 0;
		}
	}
	s[k] = '\0';
	return s;
}

/* Is there an error with this code, line, and message containing sub? */
static bool has_error(const struct result *r, enum jv_code code, uint64_t line,
		      const char *sub)
{
	size_t i;

	for (i = 0; i < r->rep.nerrors && i < 64; i++)
		if (r->errs[i].code == code && r->errs[i].line == line &&
		    (!sub || strstr(r->errs[i].message, sub)))
			return true;
	return false;
}

/* Runs one line (plus '\n') and expects exactly one error. */
static bool one_error(const char *line, enum jv_code code, const char *sub)
{
	struct result r;
	struct buf in = BUF_INIT(0);
	bool pass;

	if (buf_printf(&in, "%s\n", line))
		return false;
	run(in.data, in.len, 0, &r);
	pass = r.rep.errors_total == 1 && has_error(&r, code, 1, sub) &&
	       r.sink.out.len == in.len && !memcmp(out_of(&r), in.data, in.len);
	if (!pass && r.rep.nerrors)
		printf("# got %s: %s\n", jv_code_name(r.errs[0].code), r.errs[0].message);
	result_release(&r);
	buf_release(&in);
	return pass;
}

/* Runs one valid line; true when the output is exactly want. */
static bool inserts(const char *line, const char *want)
{
	struct result r;
	bool pass;

	run(line, strlen(line), 0, &r);
	pass = r.rep.errors_total == 0 && same_output(&r, want) && r.rep.transformed;
	if (!pass)
		printf("# got [%s] errors %" PRIu64 " %s\n", out_of(&r), r.rep.errors_total,
		       r.rep.nerrors ? r.errs[0].message : "");
	result_release(&r);
	return pass;
}

static bool same_result(const struct result *a, const struct result *b)
{
	size_t i;

	if (a->sink.out.len != b->sink.out.len || a->sink.flags.len != b->sink.flags.len ||
	    (a->sink.out.len && memcmp(a->sink.out.data, b->sink.out.data, a->sink.out.len)) ||
	    (a->sink.flags.len &&
	     memcmp(a->sink.flags.data, b->sink.flags.data, a->sink.flags.len)) ||
	    a->rep.requests != b->rep.requests || a->rep.bytes_in != b->rep.bytes_in ||
	    a->rep.bytes_out != b->rep.bytes_out || a->rep.transformed != b->rep.transformed ||
	    strcmp(a->rep.url, b->rep.url) || a->rep.nerrors != b->rep.nerrors ||
	    a->rep.errors_total != b->rep.errors_total || a->text.len != b->text.len ||
	    (a->text.len && strcmp(a->text.data, b->text.data)) ||
	    a->feed_rc != b->feed_rc || a->finish_rc != b->finish_rc)
		return false;
	for (i = 0; i < a->rep.nerrors && i < 64; i++)
		if (a->errs[i].code != b->errs[i].code || a->errs[i].line != b->errs[i].line ||
		    strcmp(a->errs[i].message, b->errs[i].message))
			return false;
	return true;
}

/* Every chunking gives the same result as feeding everything at once. */
static bool chunking_invariant(const struct jv_config *cfg, const char *in, size_t len,
			       int seeds)
{
	static const size_t sizes[] = { 1, 2, 3, 5, 7, 64, 4096 };
	struct result whole, other;
	bool pass = true;
	size_t i;
	int s;

	run_cfg(cfg, in, len, 0, 0, &whole);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && pass; i++) {
		run_cfg(cfg, in, len, sizes[i], 0, &other);
		if (!same_result(&whole, &other)) {
			printf("# chunk size %zu differs\n", sizes[i]);
			pass = false;
		}
		result_release(&other);
	}
	for (s = 1; s <= seeds && pass; s++) {
		run_cfg(cfg, in, len, SIZE_MAX, (uint64_t)s * 7919, &other);
		if (!same_result(&whole, &other)) {
			printf("# random split seed %d differs\n", s);
			pass = false;
		}
		result_release(&other);
	}
	result_release(&whole);
	return pass;
}

/* Replaces every occurrence of from by to (heap result). */
static char *replace_all(const char *s, const char *from, const char *to)
{
	struct buf b = BUF_INIT(0);
	const char *p;
	size_t fl = strlen(from);

	while ((p = strstr(s, from))) {
		if (buf_add(&b, s, (size_t)(p - s)) || buf_addstr(&b, to))
			return NULL;
		s = p + fl;
	}
	if (buf_addstr(&b, s))
		return NULL;
	return buf_take(&b);
}

static void test_basics(void)
{
	struct jv_config cfg = { .deployment = DEP };
	struct core_err err = CORE_ERR_INIT;
	struct sink s = { BUF_INIT(0), BUF_INIT(0), 0, 0 };
	struct jv *v = NULL;
	static const char *const names[] = {
		"invalid_json_line", "duplicate_custom_id", "model_mismatch", "url_mismatch",
		"too_many_tasks",    "empty_file",	    "invalid_request",
	};
	int i;
	bool names_ok = true;

	for (i = 0; i < JV_CODE_COUNT; i++)
		names_ok &= !strcmp(jv_code_name((enum jv_code)i), names[i]);
	ok(names_ok, "jv_code_name gives the service's codes");
	ok(!strcmp(jv_code_name(JV_CODE_COUNT), "unknown"), "out-of-range code is 'unknown'");

	cfg.deployment = NULL;
	ok(jv_new(&cfg, collect, &s, &v, &err) == CORE_EINVAL && !v && err.msg[0],
	   "no deployment: EINVAL");
	cfg.deployment = "";
	ok(jv_new(&cfg, collect, &s, &v, &err) == CORE_EINVAL, "empty deployment: EINVAL");
	cfg.deployment = "bad\xff";
	ok(jv_new(&cfg, collect, &s, &v, &err) == CORE_EINVAL,
	   "deployment not UTF-8: EINVAL");
	cfg.deployment = DEP;
	ok(jv_new(&cfg, NULL, &s, &v, &err) == CORE_EINVAL, "no emit callback: EINVAL");
	jv_free(NULL);

	/* Feed after finish, finish twice. */
	ok(jv_new(&cfg, collect, &s, &v, &err) == CORE_OK, "jv_new");
	ok(jv_feed(v, OKLINE("a") "\n", sizeof(OKLINE("a")), &err) == CORE_OK, "feed");
	ok(jv_finish(v, &err) == CORE_OK, "finish");
	ok(jv_feed(v, "x", 1, &err) == CORE_EINVAL, "feed after finish: EINVAL");
	ok(jv_finish(v, &err) == CORE_EINVAL, "second finish: EINVAL");
	ok(jv_report(v)->requests == 1 && jv_report(v)->errors_total == 0, "report kept");
	jv_free(v);
	buf_release(&s.out);
	buf_release(&s.flags);
}

static void test_seed(void)
{
	struct jv_config cfg = { .deployment = DEP, .max_requests = 100000 };
	struct result r;
	size_t len;
	char *raw = fixture("validate/seed_chat.jsonl", &len);
	char *fixed = replace_all(raw, "REPLACE-WITH-MODEL-DEPLOYMENT-NAME", DEP);
	char *bare = replace_all(raw, "\"model\": \"REPLACE-WITH-MODEL-DEPLOYMENT-NAME\", ", "");

	run(fixed, strlen(fixed), 0, &r);
	ok(r.rep.errors_total == 0 && r.rep.requests == 3 && !strcmp(r.rep.url, "/chat/completions"),
	   "seed sample lines with the deployment filled in pass");
	ok(same_output(&r, fixed) && !r.rep.transformed && r.sink.chunks == 1 &&
		   !strcmp(line_flags(&r), "..."),
	   "valid lines pass through unchanged, as one span");
	ok(r.rep.bytes_in == strlen(fixed) && r.rep.bytes_out == strlen(fixed), "byte counts");
	result_release(&r);

	run(raw, len, 0, &r);
	ok(r.rep.errors_total == 3 && has_error(&r, JV_MODEL_MISMATCH, 1, "'REPLACE-WITH-MODEL-DEPLOYMENT-NAME'") &&
		   has_error(&r, JV_MODEL_MISMATCH, 2, "deployment '" DEP "'") &&
		   has_error(&r, JV_MODEL_MISMATCH, 3, NULL),
	   "seed lines as published: model_mismatch on lines 1-3");
	ok(same_output(&r, raw), "invalid lines are still emitted unchanged");
	result_release(&r);

	ok(strlen(bare) + 3 * (strlen(DEP) + 13) == strlen(fixed), "bare seed lost the model");
	run(bare, strlen(bare), 0, &r);
	ok(r.rep.errors_total == 0 && same_output(&r, fixed) && r.rep.transformed &&
		   !strcmp(line_flags(&r), "MMM"),
	   "seed lines without a model get exactly the published model text back");
	ok(r.rep.bytes_in == strlen(bare) && r.rep.bytes_out == strlen(fixed),
	   "bytes_out counts the insertions");
	result_release(&r);
	ok(chunking_invariant(&cfg, bare, strlen(bare), 5), "seed without model: every chunking");
	free(raw);
	free(fixed);
	free(bare);
}

static void test_errors(void)
{
	struct jv_config cfg = { .deployment = DEP, .max_requests = 2 };
	struct result r;
	const char *in;

	in = OKLINE("a") "\n{\"custom_id\": \"b\",\n" OKLINE("c") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 1 && has_error(&r, JV_INVALID_JSON_LINE, 2, "not valid JSON"),
	   "invalid_json_line on line 2");
	ok(r.rep.requests == 3, "invalid lines count as requests");
	result_release(&r);

	in = OKLINE("a") "\n" OKLINE("b") "\n" OKLINE("a") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 1 &&
		   has_error(&r, JV_DUPLICATE_CUSTOM_ID, 3, "custom_id 'a' is already used on line 1"),
	   "duplicate_custom_id on line 3 names the id and line 1");
	result_release(&r);

	/* Escapes decode before comparing: "\u0061" is "a". */
	in = OKLINE("a") "\n" OKLINE("\\u0061") "\n";
	run(in, strlen(in), 0, &r);
	ok(has_error(&r, JV_DUPLICATE_CUSTOM_ID, 2, "'a'"), "duplicate through an escape");
	result_release(&r);

	/* A surrogate pair decodes to the same id as raw UTF-8; a lone surrogate does not. */
	in = OKLINE("\xf0\x9f\x98\x80") "\n" OKLINE("\\ud83d\\ude00") "\n" OKLINE("\\ud83d") "\n"
		OKLINE("\\ud83d\\u0041") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 1 && has_error(&r, JV_DUPLICATE_CUSTOM_ID, 2, "'\xf0\x9f\x98\x80'"),
	   "duplicate through a surrogate pair escape");
	result_release(&r);

	in = OKLINE("a") "\n" L("b", "\"body\":{\"model\":\"gpt-4o\"}") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 1 &&
		   has_error(&r, JV_MODEL_MISMATCH, 2,
			     "the line names model 'gpt-4o', this drop box is for deployment '" DEP "'"),
	   "model_mismatch on line 2");
	result_release(&r);

	in = "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/foo\",\"body\":{}}\n";
	ok(one_error(in, JV_URL_MISMATCH, "url '/v1/foo' is not a batch endpoint"),
	   "url_mismatch: not a batch endpoint");
	in = OKLINE("a") "\n"
	     "{\"custom_id\":\"b\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{}}\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 1 &&
		   has_error(&r, JV_URL_MISMATCH, 2,
			     "url '/v1/embeddings' differs from '/v1/chat/completions' used since line 1"),
	   "url_mismatch: differs from the first line's");
	ok(!strcmp(r.rep.url, "/v1/chat/completions"), "report names the url");
	result_release(&r);
	{
		static const char *const urls[] = {
			"/v1/chat/completions", "/chat/completions", "/v1/responses", "/responses",
			"/v1/embeddings",	"/embeddings",	     "/v1/completions", "/completions",
		};
		struct buf b = BUF_INIT(0);
		size_t i;
		bool all = true;

		for (i = 0; i < 8; i++) {
			buf_reset(&b);
			if (buf_printf(&b, "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"%s\","
					   "\"body\":{\"model\":\"" DEP "\"}}\n", urls[i]))
				all = false;
			run(b.data, b.len, 0, &r);
			all &= r.rep.errors_total == 0 && !strcmp(r.rep.url, urls[i]);
			result_release(&r);
		}
		ok(all, "all eight batch endpoints accepted");
		buf_release(&b);
	}
	in = "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions/\",\"body\":{}}";
	ok(one_error(in, JV_URL_MISMATCH, "is not a batch endpoint"), "trailing slash is not an endpoint");

	in = OKLINE("a") "\n" OKLINE("b") "\n" OKLINE("c") "\n" OKLINE("d") "\n";
	run_cfg(&cfg, in, strlen(in), 0, 0, &r);
	ok(r.rep.errors_total == 1 &&
		   has_error(&r, JV_TOO_MANY_TASKS, 3, "more than 2 requests"),
	   "too_many_tasks once, on line 3, with max_requests 2");
	ok(r.rep.requests == 4, "validation goes on after too_many_tasks");
	result_release(&r);
	in = OKLINE("a") "\n" OKLINE("b") "\n" OKLINE("c") "\n" OKLINE("a") "\n" OKLINE("c") "\n";
	run_cfg(&cfg, in, strlen(in), 0, 0, &r);
	ok(has_error(&r, JV_DUPLICATE_CUSTOM_ID, 4, "line 1") && r.rep.errors_total == 2,
	   "past the limit ids are still checked, but no longer recorded");
	result_release(&r);

	run("", 0, 0, &r);
	ok(r.rep.errors_total == 1 &&
		   has_error(&r, JV_EMPTY_FILE, 0,
			     "The input file is empty. Please ensure that the batch contains at least one request."),
	   "empty_file for 0 bytes, line 0");
	ok(r.sink.chunks == 0 && r.rep.bytes_out == 0, "nothing emitted");
	result_release(&r);
	run("\n \r\n\t\n", 6, 1, &r);
	ok(r.rep.errors_total == 1 && has_error(&r, JV_EMPTY_FILE, 0, NULL) &&
		   same_output(&r, "\n \r\n\t\n"),
	   "empty_file for blank lines only (and they are emitted)");
	result_release(&r);

	/* invalid_request */
	ok(one_error("{\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "missing custom_id"), "missing custom_id");
	ok(one_error("{\"custom_id\":7,\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "custom_id must be a string"), "custom_id a number");
	ok(one_error("{\"custom_id\":null,\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "custom_id must be a string, not null"), "custom_id null");
	ok(one_error("{\"custom_id\":\"\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "custom_id must not be empty"), "custom_id empty");
	ok(one_error("{\"custom_id\":\"a\",\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "missing method"), "missing method");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"GET\",\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "method must be \"POST\", not 'GET'"), "method GET");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"post\",\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "not 'post'"), "method is case-sensitive");
	ok(one_error("{\"custom_id\":\"a\",\"method\":[],\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "method must be a string, not an array"), "method an array");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"body\":{}}",
		     JV_INVALID_REQUEST, "missing url"), "missing url");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":1,\"body\":{}}",
		     JV_INVALID_REQUEST, "url must be a string, not a number"), "url a number");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\"}",
		     JV_INVALID_REQUEST, "missing body"), "missing body");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":[]}",
		     JV_INVALID_REQUEST, "body must be a JSON object, not an array"), "body an array");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":\"{}\"}",
		     JV_INVALID_REQUEST, "body must be a JSON object, not a string"), "body a string");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{\"model\":5}}",
		     JV_INVALID_REQUEST, "body.model must be a string, not a number"), "model a number");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{\"model\":null}}",
		     JV_INVALID_REQUEST, "body.model must be a string, not null"), "model null");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{\"model\":\"\"}}",
		     JV_MODEL_MISMATCH, "names model ''"), "model empty string is a mismatch");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{\"model\":\"" DEP "x\"}}",
		     JV_MODEL_MISMATCH, NULL), "model with a suffix is a mismatch");

	/* Duplicate keys: the first one counts, as with cJSON. */
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"GET\",\"method\":\"POST\",\"url\":\"/v1/responses\",\"body\":{}}",
		     JV_INVALID_REQUEST, "'GET'"), "first of duplicate keys wins");

	/* User strings in messages are truncated and escaped. */
	{
		char *id = repeat('x', 500);
		struct buf b = BUF_INIT(0);

		if (buf_printf(&b, "%s\n%s\n", OKLINE("a\\u0001\\n"), OKLINE("a\\u0001\\n")))
			return;
		run(b.data, b.len, 0, &r);
		ok(has_error(&r, JV_DUPLICATE_CUSTOM_ID, 2, "'a\\x01\\x0a'"),
		   "control characters in the id are escaped in the message");
		result_release(&r);
		buf_reset(&b);
		if (buf_printf(&b,
			       "{\"custom_id\":\"%s\",\"method\":\"POST\",\"url\":\"/responses\",\"body\":{}}\n"
			       "{\"custom_id\":\"%s\",\"method\":\"POST\",\"url\":\"/responses\",\"body\":{}}\n",
			       id, id))
			return;
		run(b.data, b.len, 0, &r);
		ok(r.rep.nerrors == 1 && strstr(r.errs[0].message, "...'") &&
			   strlen(r.errs[0].message) < 120,
		   "a long id is cut in the message: %s", r.errs[0].message);
		result_release(&r);
		buf_release(&b);
		free(id);
	}
}

static void test_insertion(void)
{
	struct jv_config cfg = { .deployment = "we\"ird\\dep\t" };
	struct result r;
	const char *in;

	ok(inserts(L("a", "\"body\":{}"), L("a", "\"body\":{\"model\": \"" DEP "\"}")),
	   "empty body");
	ok(inserts(L("a", "\"body\":{ \t }"), L("a", "\"body\":{\"model\": \"" DEP "\" \t }")),
	   "body with only whitespace inside");
	ok(inserts(L("a", "\"body\":{\"x\":1}"), L("a", "\"body\":{\"model\": \"" DEP "\", \"x\":1}")),
	   "body with a member");
	ok(inserts(L("a", "\"body\" :\t{ \"x\":1}"),
		   L("a", "\"body\" :\t{\"model\": \"" DEP "\",  \"x\":1}")),
	   "whitespace around the body's brace is kept");
	ok(inserts("{\"custom_id\":\"a\",\"meta\":{\"body\":{\"model\":\"inner\"}},\"method\":\"POST\","
		   "\"url\":\"/v1/responses\",\"body\":{\"input\":{\"model\":\"nested\"},"
		   "\"tools\":[{\"model\":1}]},\"tail\":{\"body\":{}}}",
		   "{\"custom_id\":\"a\",\"meta\":{\"body\":{\"model\":\"inner\"}},\"method\":\"POST\","
		   "\"url\":\"/v1/responses\",\"body\":{\"model\": \"" DEP "\", \"input\":{\"model\":\"nested\"},"
		   "\"tools\":[{\"model\":1}]},\"tail\":{\"body\":{}}}"),
	   "nested objects (and nested body/model keys) before and after the body");
	ok(inserts("{\"note\":\"\\\"body\\\": {\",\"custom_id\":\"a\",\"method\":\"POST\","
		   "\"url\":\"/v1/responses\",\"body\":{\"x\":\"}\"}}",
		   "{\"note\":\"\\\"body\\\": {\",\"custom_id\":\"a\",\"method\":\"POST\","
		   "\"url\":\"/v1/responses\",\"body\":{\"model\": \"" DEP "\", \"x\":\"}\"}}"),
	   "\"body\" inside a string before the real one");
	ok(inserts("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\","
		   "\"b\\u006fdy\":{\"x\":1}}",
		   "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\","
		   "\"b\\u006fdy\":{\"model\": \"" DEP "\", \"x\":1}}"),
	   "escaped key \"b\\u006fdy\"");
	ok(inserts("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\","
		   "\"body\":{\"x\":1},\"body\":{\"model\":\"other\"}}",
		   "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\","
		   "\"body\":{\"model\": \"" DEP "\", \"x\":1},\"body\":{\"model\":\"other\"}}"),
	   "of two body keys the first is used");
	ok(inserts("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\","
		   "\"bodyx\":{},\"body\":{\"y\":[]}}",
		   "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\","
		   "\"bodyx\":{},\"body\":{\"model\": \"" DEP "\", \"y\":[]}}"),
	   "a key that only starts with body is not body");
	ok(one_error("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/responses\","
		     "\"body\":{\"m\\u006fdel\":\"other\"}}",
		     JV_MODEL_MISMATCH, "'other'"),
	   "escaped model key is the model");
	ok(inserts(L("a", "\"body\":{\"x\":1}") "\r\n", L("a", "\"body\":{\"model\": \"" DEP "\", \"x\":1}") "\r\n"),
	   "CRLF line: '\\r\\n' kept");
	ok(inserts(" \t" L("a", "\"body\":{}") " \r\n", " \t" L("a", "\"body\":{\"model\": \"" DEP "\"}") " \r\n"),
	   "whitespace around the line kept");

	/* A deployment that needs JSON escaping. */
	in = L("a", "\"body\":{\"n\":1}") "\n" L("b", "\"body\":{\"model\":\"we\\\"ird\\\\dep\\t\"}") "\n";
	run_cfg(&cfg, in, strlen(in), 0, 0, &r);
	ok(r.rep.errors_total == 0 &&
		   same_output(&r, L("a", "\"body\":{\"model\": \"we\\\"ird\\\\dep\\u0009\", \"n\":1}") "\n"
				   L("b", "\"body\":{\"model\":\"we\\\"ird\\\\dep\\t\"}") "\n"),
	   "deployment JSON-escaped on insertion, compared decoded");
	result_release(&r);

	/* Flags and chunks: unchanged runs are spans; rewritten lines are modified. */
	in = OKLINE("a") "\n" OKLINE("b") "\n" NOMODEL("c") "\n" NOMODEL("d") "\n" OKLINE("e") "\n";
	run(in, strlen(in), 0, &r);
	ok(!strcmp(line_flags(&r), "..MM.") && r.sink.chunks == 3,
	   "modified flags per line, adjacent rewritten lines share a chunk (%s, %zu chunks)",
	   line_flags(&r), r.sink.chunks);
	ok(same_output(&r, OKLINE("a") "\n" OKLINE("b") "\n" WITHMODEL("c") "\n" WITHMODEL("d") "\n" OKLINE("e") "\n"),
	   "output of a mixed file");
	result_release(&r);

	/* The first of two "method" keys counts; invalid lines are never rewritten. */
	in = L("a", "\"body\":{\"x\":1},\"method\":1") "\n" NOMODEL("a") "\n" NOMODEL("b") "\n" NOMODEL("b") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 2 && has_error(&r, JV_DUPLICATE_CUSTOM_ID, 2, "line 1") &&
		   has_error(&r, JV_DUPLICATE_CUSTOM_ID, 4, "line 3") && !strcmp(line_flags(&r), "M.M.") &&
		   same_output(&r, L("a", "\"body\":{\"model\": \"" DEP "\", \"x\":1},\"method\":1") "\n"
				   NOMODEL("a") "\n" WITHMODEL("b") "\n" NOMODEL("b") "\n"),
	   "a later duplicate 'method' key is ignored; duplicate lines are not rewritten");
	result_release(&r);
	in = NOMODEL("a") "\n" NOMODEL("a") "\n" L("b", "\"body\":{\"x\":1},\"oops\"") "\n";
	run(in, strlen(in), 0, &r);
	ok(!strcmp(line_flags(&r), "M..") &&
		   same_output(&r, WITHMODEL("a") "\n" NOMODEL("a") "\n" L("b", "\"body\":{\"x\":1},\"oops\"") "\n"),
	   "invalid lines (duplicate, bad JSON) are emitted unmodified");
	result_release(&r);

	/* A rewritten line longer than the output chunk: prefix, insertion, suffix. */
	{
		struct jv_config dcfg = { .deployment = DEP };
		char *big = repeat('z', 200000);
		struct buf b = BUF_INIT(0), want = BUF_INIT(0);

		if (buf_printf(&b, "%s\n{\"custom_id\":\"big\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
				   "\"body\":{\"s\":\"%s\"}}\n%s\n", NOMODEL("a"), big, OKLINE("c")) ||
		    buf_printf(&want, "%s\n{\"custom_id\":\"big\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
				      "\"body\":{\"model\": \"" DEP "\", \"s\":\"%s\"}}\n%s\n",
			       WITHMODEL("a"), big, OKLINE("c")))
			return;
		run(b.data, b.len, 0, &r);
		ok(r.rep.errors_total == 0 && r.sink.out.len == want.len &&
			   !memcmp(r.sink.out.data, want.data, want.len) && !strcmp(line_flags(&r), "MM."),
		   "a 200 KB line gets its model too");
		result_release(&r);
		ok(chunking_invariant(&dcfg, b.data, b.len, 3),
		   "200 KB rewritten line: every chunking");
		buf_release(&b);
		buf_release(&want);
		free(big);
	}
}

static void test_stream(void)
{
	struct jv_config cfg = { .deployment = DEP, .max_requests = 100000 };
	struct result r;
	const char *in;
	struct buf b = BUF_INIT(0);

	/* BOM */
	in = "\xEF\xBB\xBF" OKLINE("a") "\n" OKLINE("b") "\n" OKLINE("c");
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 0 && same_output(&r, in + 3), "a leading BOM is dropped");
	ok(r.rep.transformed && r.rep.bytes_in == strlen(in) && r.rep.bytes_out == strlen(in) - 3,
	   "BOM: transformed, counted in bytes_in only");
	ok(!strcmp(line_flags(&r), "M.."), "BOM: line 1 flagged modified (%s)", line_flags(&r));
	result_release(&r);
	ok(chunking_invariant(&cfg, in, strlen(in), 10), "BOM: every chunking");
	in = "\xEF\xBB\xBF" NOMODEL("a") "\n";
	run(in, strlen(in), 1, &r);
	ok(same_output(&r, WITHMODEL("a") "\n") && !strcmp(line_flags(&r), "M"),
	   "BOM and an inserted model on line 1");
	result_release(&r);
	run("\xEF\xBB\xBF", 3, 1, &r);
	ok(r.rep.errors_total == 1 && has_error(&r, JV_EMPTY_FILE, 0, NULL) &&
		   r.sink.out.len == 0 && r.rep.bytes_in == 3,
	   "a BOM alone is an empty file");
	result_release(&r);
	in = "\xEF\xBB" OKLINE("a") "\n";
	run(in, strlen(in), 1, &r);
	ok(has_error(&r, JV_INVALID_JSON_LINE, 1, "not valid UTF-8") && same_output(&r, in),
	   "half a BOM is input (invalid UTF-8), emitted as is");
	result_release(&r);
	run("\xEF", 1, 0, &r);
	ok(has_error(&r, JV_INVALID_JSON_LINE, 1, "not valid UTF-8") && same_output(&r, "\xEF"),
	   "a file of one 0xEF byte");
	result_release(&r);
	in = OKLINE("a") "\n\xEF\xBB\xBF" OKLINE("b") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 1 && has_error(&r, JV_INVALID_JSON_LINE, 2, "0xef") &&
		   same_output(&r, in) && !r.rep.transformed,
	   "a BOM on line 2 is not dropped");
	result_release(&r);

	/* CRLF */
	in = OKLINE("a") "\r\n" OKLINE("b") "\r\n" OKLINE("c") "\r\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 0 && same_output(&r, in) && r.rep.requests == 3, "CRLF lines");
	result_release(&r);
	in = OKLINE("a") "\r\r\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 0, "several '\\r' are whitespace too");
	result_release(&r);

	/* Blank lines */
	in = OKLINE("a") "\n\n \t\r\n" OKLINE("b") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 2 && has_error(&r, JV_INVALID_JSON_LINE, 2, "blank") &&
		   has_error(&r, JV_INVALID_JSON_LINE, 3, "blank") && r.rep.requests == 2,
	   "blank lines in the middle: invalid_json_line each");
	ok(r.errs[0].line == 2 && r.errs[1].line == 3 && same_output(&r, in), "in line order, emitted");
	result_release(&r);
	in = "\n" OKLINE("a") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 1 && has_error(&r, JV_INVALID_JSON_LINE, 1, "blank"),
	   "a blank first line");
	result_release(&r);
	in = OKLINE("a") "\n" OKLINE("b") "\n\n  \n\r\n\t";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 0 && r.rep.requests == 2 && same_output(&r, in),
	   "blank lines at the end are ignored (and emitted)");
	result_release(&r);
	in = OKLINE("a") "\n\n" L("b", "\"body\":{},") "\n";
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 2 && r.errs[0].line == 2 && r.errs[1].line == 3,
	   "blank line error comes before the next line's own error");
	result_release(&r);
	ok(chunking_invariant(&cfg, in, strlen(in), 5), "blank lines: every chunking");

	/* Last line without '\n' */
	in = OKLINE("a") "\n" NOMODEL("b");
	run(in, strlen(in), 0, &r);
	ok(r.rep.errors_total == 0 && r.rep.requests == 2 &&
		   same_output(&r, OKLINE("a") "\n" WITHMODEL("b")),
	   "last line without '\\n' validated and rewritten at finish");
	result_release(&r);
	in = OKLINE("a") "\n" OKLINE("a");
	run(in, strlen(in), 3, &r);
	ok(has_error(&r, JV_DUPLICATE_CUSTOM_ID, 2, NULL), "last line without '\\n' checked");
	result_release(&r);
	in = OKLINE("a") "\n{\"custom_id\"";
	run(in, strlen(in), 0, &r);
	ok(has_error(&r, JV_INVALID_JSON_LINE, 2, "ends before") && same_output(&r, in),
	   "truncated last line: invalid_json_line");
	result_release(&r);

	/* max_bytes */
	{
		struct jv_config c = { .deployment = DEP, .max_bytes = 100 };
		struct core_err err = CORE_ERR_INIT;
		struct sink s = { BUF_INIT(0), BUF_INIT(0), 0, 0 };
		struct jv *v;
		char data[200];

		memset(data, ' ', sizeof(data));
		if (jv_new(&c, collect, &s, &v, &err))
			return;
		ok(jv_feed(v, data, 60, &err) == CORE_OK, "60 of 100 bytes");
		ok(jv_feed(v, data, 41, &err) == CORE_ETOOBIG && strstr(err.msg, "100 bytes"),
		   "the chunk that crosses max_bytes: ETOOBIG (%s)", err.msg);
		ok(jv_report(v)->bytes_in == 60, "that chunk was not consumed");
		ok(jv_feed(v, data, 40, &err) == CORE_OK && jv_report(v)->bytes_in == 100,
		   "up to exactly max_bytes is fine");
		ok(jv_feed(v, data, 1, &err) == CORE_ETOOBIG, "one more byte is not");
		ok(jv_feed(v, data, 0, &err) == CORE_OK, "an empty feed is");
		ok(jv_finish(v, &err) == CORE_OK &&
			   jv_report(v)->errors_total == 1 && jv_report(v)->errors[0].code == JV_EMPTY_FILE,
		   "finish after ETOOBIG still works");
		jv_free(v);
		buf_release(&s.out);
		buf_release(&s.flags);
	}

	/* The emit callback stops the stream. */
	{
		struct core_err err = CORE_ERR_INIT;
		struct sink s = { BUF_INIT(0), BUF_INIT(0), 0, 1 };
		struct jv *v;

		if (jv_new(&cfg, collect, &s, &v, &err))
			return;
		in = OKLINE("a") "\n";
		ok(jv_feed(v, in, strlen(in), &err) == CORE_EIO && err.msg[0],
		   "emit failure is returned by jv_feed");
		ok(jv_feed(v, in, strlen(in), &err) == CORE_EIO, "and again by later feeds");
		ok(jv_finish(v, &err) == CORE_EIO, "and by jv_finish");
		jv_free(v);
		s.fail_at = 1;
		s.chunks = 0;
		if (jv_new(&cfg, collect, &s, &v, &err))
			return;
		in = OKLINE("a");
		ok(jv_feed(v, in, strlen(in), &err) == CORE_OK && s.chunks == 0,
		   "a partial line is held, not emitted");
		ok(jv_finish(v, &err) == CORE_EIO, "emit failure at finish is returned");
		jv_free(v);
		buf_release(&s.out);
		buf_release(&s.flags);
	}

	/* Every chunking of a file with everything in it. */
	buf_reset(&b);
	if (buf_printf(&b,
		       "\xEF\xBB\xBF%s\r\n%s\n\n%s\n{\"custom_id\": \"\\u00e9t\\u00e9 \xe2\x82\xac\", \"method\": \"POST\","
		       " \"url\": \"/v1/chat/completions\", \"body\": {\"messages\": [{\"content\": \"\\ud83d\\ude00 \xf0\x9f\x98\x80\"}]}}\n"
		       "not json\n%s\n%s\n  \n%s",
		       OKLINE("a"), NOMODEL("b"), L("c", "\"body\":{\"model\":\"x\"}"), OKLINE("a"),
		       NOMODEL("d"), NOMODEL("e")))
		return;
	run(b.data, b.len, 0, &r);
	ok(r.rep.errors_total == 5 && has_error(&r, JV_INVALID_JSON_LINE, 3, "blank") &&
		   has_error(&r, JV_INVALID_JSON_LINE, 9, "blank") &&
		   has_error(&r, JV_MODEL_MISMATCH, 4, NULL) && has_error(&r, JV_INVALID_JSON_LINE, 6, NULL) &&
		   has_error(&r, JV_DUPLICATE_CUSTOM_ID, 7, NULL) && r.rep.requests == 8,
	   "mixed file: the expected errors");
	ok(!strcmp(line_flags(&r), "MM..M..M.M"), "mixed file: flags %s", line_flags(&r));
	result_release(&r);
	ok(chunking_invariant(&cfg, b.data, b.len, 40),
	   "mixed file: 1 byte at a time, fixed sizes and 40 random splits agree with one feed");
	buf_release(&b);
}

static void test_long_lines(void)
{
	struct jv_config cfg = { .deployment = DEP, .max_line_bytes = 1 << 20 };
	struct result r;
	struct buf b = BUF_INIT(0);
	size_t big = 40u << 20, i;
	char *s;
	bool same;

	/* A 40 MB line between two good ones. */
	s = repeat('A', big);
	if (buf_printf(&b, "%s\n{\"custom_id\":\"big\",\"x\":\"%s\"}\n%s\n", OKLINE("a"), s, OKLINE("b")))
		return;
	free(s);
	run_cfg(&cfg, b.data, b.len, 128 * 1024, 0, &r);
	ok(r.rep.errors_total == 1 &&
		   has_error(&r, JV_INVALID_JSON_LINE, 2, "line 2 is longer than 1048576 bytes"),
	   "a 40 MB line with max_line_bytes 1 MiB: invalid_json_line on line 2");
	ok(r.rep.requests == 3, "the long line counts as a request; line 3 still checked");
	same = r.sink.out.len == b.len && !memcmp(r.sink.out.data, b.data, b.len);
	ok(same, "the long line is emitted unchanged");
	ok(r.mem_peak < (1u << 20) + 256 * 1024,
	   "memory stays below max_line_bytes + small (peak %zu bytes)", r.mem_peak);
	result_release(&r);
	run_cfg(&cfg, b.data, b.len, 0, 0, &r);
	ok(r.rep.errors_total == 1 && has_error(&r, JV_INVALID_JSON_LINE, 2, "longer than") &&
		   r.sink.out.len == b.len && r.mem_peak < 256 * 1024,
	   "the same line fed in one piece is never copied (peak %zu)", r.mem_peak);
	result_release(&r);
	run_cfg(&cfg, b.data, b.len, 1000003, 0, &r);
	ok(r.rep.errors_total == 1 && has_error(&r, JV_INVALID_JSON_LINE, 2, "longer than") &&
		   r.sink.out.len == b.len && !memcmp(r.sink.out.data, b.data, b.len),
	   "and in odd 1 MB chunks");
	result_release(&r);
	buf_release(&b);

	/* Exactly at the limit. */
	cfg.max_line_bytes = 100;
	for (i = 0; i < 2; i++) {
		size_t target = 100 + i, pad;
		char line[256];

		snprintf(line, sizeof(line), "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/responses\","
			 "\"body\":{\"model\":\"%s\"}}", DEP);
		if (strlen(line) > 100)
			return;
		pad = target - strlen(line);
		memset(line + strlen(line), ' ', pad);
		line[target] = '\n';
		line[target + 1] = '\0';
		run_cfg(&cfg, line, target + 1, 0, 0, &r);
		ok(i == 0 ? r.rep.errors_total == 0 : has_error(&r, JV_INVALID_JSON_LINE, 1, "longer than 100 bytes"),
		   "a %zu-byte line with max_line_bytes 100, in one piece", target);
		result_release(&r);
		run_cfg(&cfg, line, target + 1, 1, 0, &r);
		ok(i == 0 ? r.rep.errors_total == 0 : has_error(&r, JV_INVALID_JSON_LINE, 1, "longer than 100 bytes"),
		   "a %zu-byte line with max_line_bytes 100, byte by byte", target);
		result_release(&r);
		ok(chunking_invariant(&cfg, line, target + 1, 5), "%zu-byte line: every chunking", target);
	}
	/* An over-long line of whitespace is over-long, not blank, however it is fed. */
	{
		char *sp = repeat(' ', 150);

		if (buf_printf(&b, "%s\n%s\n", OKLINE("a"), sp))
			return;
		cfg.max_line_bytes = 120;
		run_cfg(&cfg, b.data, b.len, 0, 0, &r);
		ok(r.rep.errors_total == 1 && has_error(&r, JV_INVALID_JSON_LINE, 2, "longer than 120"),
		   "a 150-byte whitespace line with max_line_bytes 120 is too long, even at the end");
		result_release(&r);
		ok(chunking_invariant(&cfg, b.data, b.len, 10), "long whitespace line: every chunking");
		buf_reset(&b);
		free(sp);
	}
	/* Long last line without '\n'; long line then short ones; all chunkings. */
	{
		char *x = repeat('y', 300);

		if (buf_printf(&b, "%s\n{\"custom_id\":\"%s\"}\n%s\n{\"a\":\"%s", OKLINE("a"), x, OKLINE("b"), x))
			return;
		cfg.max_line_bytes = 200;
		run_cfg(&cfg, b.data, b.len, 7, 0, &r);
		ok(r.rep.errors_total == 2 && has_error(&r, JV_INVALID_JSON_LINE, 2, "longer") &&
			   has_error(&r, JV_INVALID_JSON_LINE, 4, "longer") && r.rep.requests == 4 &&
			   same_output(&r, b.data),
		   "long lines in the middle and at the end, without '\\n'");
		result_release(&r);
		ok(chunking_invariant(&cfg, b.data, b.len, 20), "long lines: every chunking");
		buf_release(&b);
		free(x);
	}
}

static void test_many(void)
{
	struct jv_config cfg = { .deployment = DEP, .max_requests = 100000 };
	struct result r;
	struct buf b = BUF_INIT(0);
	int i;
	bool all;

	for (i = 0; i < 100000; i++)
		if (buf_printf(&b, "{\"custom_id\":\"request-%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
				   "\"body\":{\"model\":\"" DEP "\",\"messages\":[{\"role\":\"user\",\"content\":\"q%d\"}]}}\n",
			       i, i))
			return;
	run_cfg(&cfg, b.data, b.len, 128 * 1024, 0, &r);
	ok(r.rep.requests == 100000 && r.rep.errors_total == 0,
	   "100,000 distinct ids: no duplicate reported, no too_many_tasks");
	ok(r.mem_peak < 8 * 1000 * 1000, "100,000 requests need well under 8 MB (peak %zu bytes)",
	   r.mem_peak);
	ok(r.sink.out.len == b.len && !memcmp(r.sink.out.data, b.data, b.len) &&
		   r.sink.chunks <= 2 * (b.len / (128 * 1024) + 1),
	   "unchanged input passes through in large chunks (%zu chunks for %zu feeds)", r.sink.chunks, b.len / (128 * 1024) + 1);
	result_release(&r);

	/* Now with duplicates planted at known lines. */
	buf_reset(&b);
	for (i = 0; i < 100000; i++) {
		int id = i;

		if (i == 50000)
			id = 7; /* line 50001 repeats line 8 */
		else if (i == 99999)
			id = 99998; /* last line repeats the one before */
		else if (i == 12345)
			id = 0;
		if (buf_printf(&b, "{\"custom_id\":\"request-%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
				   "\"body\":{\"messages\":[]}}\n", id))
			return;
	}
	cfg.max_errors = 100;
	run_cfg(&cfg, b.data, b.len, 65536, 0, &r);
	all = r.rep.errors_total == 3 &&
	      has_error(&r, JV_DUPLICATE_CUSTOM_ID, 12346, "'request-0' is already used on line 1") &&
	      has_error(&r, JV_DUPLICATE_CUSTOM_ID, 50001, "'request-7' is already used on line 8") &&
	      has_error(&r, JV_DUPLICATE_CUSTOM_ID, 100000, "'request-99998' is already used on line 99999");
	ok(all, "planted duplicates among 100,000 found, and only those (%" PRIu64 " errors)",
	   r.rep.errors_total);
	ok(r.rep.transformed && r.sink.out.len == b.len + 99997 * (strlen(DEP) + 13),
	   "valid lines got their model; duplicates did not");
	result_release(&r);
	buf_release(&b);
}

static void test_report_text(void)
{
	struct jv_config cfg = { .deployment = DEP, .max_errors = 2 };
	struct result r;
	const char *in = "x\n" OKLINE("a") "\n{}\n" OKLINE("a") "\n[]\n";

	run_cfg(&cfg, in, strlen(in), 0, 0, &r);
	ok(r.rep.errors_total == 4 && r.rep.nerrors == 2, "max_errors keeps 2 of 4");
	ok(r.text.data && !strcmp(r.text.data,
				  "line 1: invalid_json_line: not valid JSON: unexpected 'x' at column 1\n"
				  "line 3: invalid_request: missing custom_id\n"
				  "... and 2 more\n"),
	   "report text: one line per kept error, then '... and K more'");
	result_release(&r);
	run("", 0, 0, &r);
	ok(r.text.data && !strcmp(r.text.data,
				  "file: empty_file: The input file is empty. Please ensure that the "
				  "batch contains at least one request.\n"),
	   "whole-file errors say 'file:'");
	result_release(&r);
	run(OKLINE("a"), strlen(OKLINE("a")), 0, &r);
	ok(r.text.len == 0, "a clean file has an empty report");
	result_release(&r);

	/* Default max_errors is 20. */
	{
		struct buf b = BUF_INIT(0);
		int i;

		for (i = 0; i < 30; i++)
			if (buf_addstr(&b, "nope\n"))
				return;
		run(b.data, b.len, 0, &r);
		ok(r.rep.nerrors == 20 && r.rep.errors_total == 30 && strstr(r.text.data, "... and 10 more\n"),
		   "default keeps 20 errors");
		result_release(&r);
		buf_release(&b);
	}
}

static void test_hostile(void)
{
	struct jv_config cfg = { .deployment = DEP, .max_requests = 100000 };
	struct result r;
	struct buf b = BUF_INIT(0);
	size_t i;
	char *s;

	/* Invalid UTF-8, everywhere. */
	static const char *const bad_utf8[] = {
		"{\"custom_id\":\"a\xff\"}",	     /* 0xFF */
		"{\"custom_id\":\"\xc0\x80\"}",	     /* overlong NUL */
		"{\"custom_id\":\"\xe0\x80\xaf\"}",  /* overlong '/' */
		"{\"custom_id\":\"\xed\xa0\x80\"}",  /* UTF-16 surrogate */
		"{\"custom_id\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
		"{\"custom_id\":\"\x80\"}",	     /* lone continuation */
		"{\"custom_id\":\"\xe2\x82\"}",	     /* truncated */
		"{\"custom_id\":\"a\"}\xe2\x82",     /* truncated at the end of the line */
		"\xfe{}",			     /* before the object */
	};
	bool all = true;

	for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		bool one = one_error(bad_utf8[i], JV_INVALID_JSON_LINE, "not valid UTF-8");

		if (!one)
			printf("# bad UTF-8 case %zu\n", i);
		all &= one;
	}
	ok(all, "invalid UTF-8 in strings, after and before the value: 'not valid UTF-8'");
	ok(one_error("{\"custom_id\":\"\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9\",\"method\":\"POST\",\"url\":\"/v1/responses\","
		     "\"body\":{\"model\":\"x\"}}", JV_MODEL_MISMATCH, NULL),
	   "valid 2-, 3- and 4-byte UTF-8 accepted");

	/* NUL bytes. */
	{
		static const char nul_in_string[] = "{\"custom_id\":\"a\0b\"}\n";
		static const char nul_outside[] = "{\"custom_id\":\"a\"}\0\n";
		static const char nul_line[] = "\0\n";

		run(nul_in_string, sizeof(nul_in_string) - 1, 0, &r);
		ok(has_error(&r, JV_INVALID_JSON_LINE, 1, "NUL byte at column 16"), "NUL in a string");
		result_release(&r);
		run(nul_outside, sizeof(nul_outside) - 1, 1, &r);
		ok(has_error(&r, JV_INVALID_JSON_LINE, 1, "NUL byte at column 18") &&
			   r.sink.out.len == sizeof(nul_outside) - 1,
		   "NUL after the object");
		result_release(&r);
		run(nul_line, sizeof(nul_line) - 1, 0, &r);
		ok(has_error(&r, JV_INVALID_JSON_LINE, 1, "NUL"), "a line of one NUL");
		result_release(&r);
	}

	/* Syntax. */
	ok(one_error("{\"a\":01}", JV_INVALID_JSON_LINE, "unexpected '1'"), "leading zero");
	ok(one_error("{\"a\":1.}", JV_INVALID_JSON_LINE, "malformed number"), "1.");
	ok(one_error("{\"a\":-}", JV_INVALID_JSON_LINE, "malformed number"), "-");
	ok(one_error("{\"a\":1e}", JV_INVALID_JSON_LINE, "malformed number"), "1e");
	ok(one_error("{\"a\":+1}", JV_INVALID_JSON_LINE, "unexpected '+'"), "+1");
	ok(one_error("{\"a\":tru}", JV_INVALID_JSON_LINE, "unexpected 't'"), "tru");
	ok(one_error("{\"a\":nulll}", JV_INVALID_JSON_LINE, "unexpected 'l'"), "nulll");
	ok(one_error("{\"a\":1,}", JV_INVALID_JSON_LINE, "unexpected '}'"), "trailing comma");
	ok(one_error("{\"a\" 1}", JV_INVALID_JSON_LINE, "unexpected '1'"), "missing colon");
	ok(one_error("{a:1}", JV_INVALID_JSON_LINE, "unexpected 'a'"), "unquoted key");
	ok(one_error("{'a':1}", JV_INVALID_JSON_LINE, "unexpected '''"), "single quotes");
	ok(one_error("{\"a\":[1,2}", JV_INVALID_JSON_LINE, "unexpected '}'"), "mismatched brackets");
	ok(one_error("{\"a\":\"x}", JV_INVALID_JSON_LINE, "not closed"), "unterminated string");
	ok(one_error("{\"a\":\"x\\", JV_INVALID_JSON_LINE, "not closed"), "backslash at the end");
	ok(one_error("{\"a\":\"\\x\"}", JV_INVALID_JSON_LINE, "invalid escape"), "bad escape");
	ok(one_error("{\"a\":\"\\u12G4\"}", JV_INVALID_JSON_LINE, "invalid \\u escape"), "bad \\u");
	ok(one_error("{\"a\":\"\\u12\"}", JV_INVALID_JSON_LINE, "invalid \\u escape"), "short \\u");
	ok(one_error("{\"a\":\"tab\there\"}", JV_INVALID_JSON_LINE, "control character 0x09"),
	   "raw tab in a string");
	ok(one_error("{\"a\":1} {\"b\":2}", JV_INVALID_JSON_LINE, "unexpected data after"),
	   "two objects on a line");
	ok(one_error("{\"a\":1}x", JV_INVALID_JSON_LINE, "unexpected data after"), "garbage after");
	ok(one_error("{\"a\":1", JV_INVALID_JSON_LINE, "ends before"), "unclosed object");
	ok(one_error("[1,2]", JV_INVALID_JSON_LINE, "the line is an array, not a JSON object"), "array line");
	ok(one_error("\"s\"", JV_INVALID_JSON_LINE, "a string, not a JSON object"), "string line");
	ok(one_error("42", JV_INVALID_JSON_LINE, "a number, not a JSON object"), "number line");
	ok(one_error("null", JV_INVALID_JSON_LINE, "null, not a JSON object"), "null line");
	ok(one_error("\f{}", JV_INVALID_JSON_LINE, "unexpected byte 0x0c"), "form feed is not whitespace");
	ok(one_error("{\"custom_id\":\"\\ud800\",\"method\":\"POST\",\"url\":\"/responses\",\"body\":{\"model\":1}}",
		     JV_INVALID_REQUEST, "body.model"),
	   "a lone surrogate escape is grammatical JSON");
	ok(one_error("{\"custom_id\":\"\\uD83D\\uDE00\",\"method\":\"POST\",\"url\":\"/responses\",\"body\":{\"model\":\"\\u00e9\"}}",
		     JV_MODEL_MISMATCH, "'\xc3\xa9'"),
	   "escapes decoded in messages");

	/* Deep nesting: no recursion, a clean error past JV_MAX_DEPTH. */
	for (i = 0; i < 100000; i++)
		if (buf_addstr(&b, "["))
			return;
	run(b.data, b.len, 0, &r);
	ok(has_error(&r, JV_INVALID_JSON_LINE, 1, "nested deeper than 1000 levels"),
	   "100,000 '[': an error, not a crash");
	result_release(&r);
	buf_reset(&b);
	if (buf_addstr(&b, "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/responses\",\"body\":"))
		return;
	for (i = 0; i < 100000; i++)
		if (buf_addstr(&b, "{\"a\":"))
			return;
	run(b.data, b.len, 4096, &r);
	ok(has_error(&r, JV_INVALID_JSON_LINE, 1, "nested deeper"), "100,000 nested objects");
	result_release(&r);
	buf_reset(&b);
	if (buf_addstr(&b, "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/responses\",\"body\":{\"x\":"))
		return;
	for (i = 0; i < JV_MAX_DEPTH - 2; i++)
		if (buf_addstr(&b, "["))
			return;
	for (i = 0; i < JV_MAX_DEPTH - 2; i++)
		if (buf_addstr(&b, "]"))
			return;
	if (buf_addstr(&b, "}}"))
		return;
	run(b.data, b.len, 0, &r);
	ok(r.rep.errors_total == 0 && r.rep.transformed, "nesting of exactly %d levels is fine",
	   JV_MAX_DEPTH);
	result_release(&r);
	{
		/* One level more. */
		struct buf c = BUF_INIT(0);

		if (buf_add(&c, b.data, 70) || buf_addstr(&c, "[") || buf_add(&c, b.data + 70, b.len - 72) ||
		    buf_addstr(&c, "]}}"))
			return;
		run(c.data, c.len, 0, &r);
		ok(has_error(&r, JV_INVALID_JSON_LINE, 1, "nested deeper"), "%d levels is not",
		   JV_MAX_DEPTH + 1);
		result_release(&r);
		buf_release(&c);
	}

	/* A huge valid string. */
	s = repeat('q', 10u << 20);
	buf_reset(&b);
	if (buf_printf(&b, "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/responses\",\"body\":{\"input\":\"%s\"}}\n", s))
		return;
	free(s);
	run(b.data, b.len, 1 << 16, &r);
	ok(r.rep.errors_total == 0 && r.sink.out.len == b.len + strlen(DEP) + 13,
	   "a 10 MB string is fine");
	result_release(&r);

	/* Binary garbage: errors, never a crash; same result in every chunking. */
	buf_reset(&b);
	rng_state = 12345;
	for (i = 0; i < (1u << 20); i++) {
		unsigned char c = (unsigned char)rnd();

		if (buf_add(&b, &c, 1))
			return;
	}
	run(b.data, b.len, 0, &r);
	ok(r.rep.errors_total > 0 && r.sink.out.len == b.len && !memcmp(r.sink.out.data, b.data, b.len),
	   "1 MB of random bytes: %" PRIu64 " errors, emitted unchanged", r.rep.errors_total);
	result_release(&r);
	ok(chunking_invariant(&cfg, b.data, b.len, 2), "random bytes: every chunking");
	buf_release(&b);
}

/* Mutations of a valid file: chunking never matters; the output is the input when nothing was rewritten. */
static void test_mutations(void)
{
	static const char alphabet[] = "{}[]\":,\\ \n\r\0\xff\xc3\xa9u0e-.tnf";
	struct jv_config cfg = { .deployment = DEP, .max_requests = 5, .max_line_bytes = 150 };
	const char *base = "\xEF\xBB\xBF" OKLINE("a") "\n" NOMODEL("b") "\r\n\n"
			   "{\"custom_id\":\"c\\u0041\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"k\":[1,2.5e3,true,null,{\"model\":\"z\"}]}}\n"
			   OKLINE("d") "\n" NOMODEL("e");
	size_t blen = strlen(base);
	char *m = malloc(blen + 64);
	int iter, bad = 0, passthrough_bad = 0;
	struct result whole, split;

	for (iter = 0; iter < 600 && m; iter++) {
		size_t len = blen, k, nmut;

		memcpy(m, base, blen);
		rng_state = (uint64_t)iter * 2654435761u + 1;
		nmut = 1 + rnd() % 4;
		for (k = 0; k < nmut; k++) {
			size_t pos = rnd() % len;
			char c = alphabet[rnd() % (sizeof(alphabet) - 1)];

			switch (rnd() % 3) {
			case 0:
				m[pos] = c;
				break;
			case 1:
				memmove(m + pos + 1, m + pos, len - pos);
				m[pos] = c;
				len++;
				break;
			default:
				memmove(m + pos, m + pos + 1, len - pos - 1);
				len--;
				break;
			}
		}
		run_cfg(&cfg, m, len, 0, 0, &whole);
		run_cfg(&cfg, m, len, SIZE_MAX, (uint64_t)iter + 1, &split);
		if (!same_result(&whole, &split))
			bad++;
		result_release(&split);
		run_cfg(&cfg, m, len, 1, 0, &split);
		if (!same_result(&whole, &split))
			bad++;
		if (!whole.rep.transformed &&
		    (whole.sink.out.len != len || memcmp(out_of(&whole), m, len)))
			passthrough_bad++;
		if (whole.rep.bytes_in != len || whole.rep.bytes_out != whole.sink.out.len)
			passthrough_bad++;
		result_release(&split);
		result_release(&whole);
	}
	ok(m && bad == 0, "600 mutated files: whole, byte-by-byte and random splits agree (%d differ)", bad);
	ok(passthrough_bad == 0, "untransformed output is the input; byte counts add up");
	free(m);
}

int main(void)
{
	test_basics();
	test_seed();
	test_errors();
	test_insertion();
	test_stream();
	test_long_lines();
	test_many();
	test_report_text();
	test_hostile();
	test_mutations();
	return done_testing();
}
