/* fuzz_validate.c: fuzzes the streaming JSONL validator (core/validate.c): chunking, configs, output and report invariants. */
/* SPDX-License-Identifier: MIT */
/*
 * The whole input is the JSONL file. A hash of its first 8 bytes seeds the
 * chunk sizes and picks a second config (line limit, error limit, request
 * limit, deployment), so the same bytes always take the same path. Each
 * input is validated so:
 *   1. fed in those chunks: the output must be the input with nothing but
 *      model insertions (and a dropped BOM), line by line;
 *   2. fed whole: the report, output and per-byte flags must be identical;
 *   3. with an emit callback that fails at some chunk: the error comes back
 *      and sticks, nothing crashes;
 *   4. when the file had no error: its output validated again is accepted
 *      unchanged, and cJSON reads the same fields the validator checked.
 * all of it twice: with the service's limits and deployment "gpt-4o-batch"
 * (so that ordinary lines pass), and with the hashed config.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>

#include "buf.h"
#include "fuzz.h"
#include "validate.h"

static const char *const deployments[] = {
	"gpt-4o-batch",
	"REPLACE-WITH-MODEL-DEPLOYMENT-NAME",
	"we\"ird\\dep\t",
	"d\xc3\xa9ploiement-\xe2\x82\xac",
};

static const char *const batch_urls[] = {
	"/v1/chat/completions", "/chat/completions", "/v1/responses",
	"/responses",		"/v1/embeddings",    "/embeddings",
	"/v1/completions",	"/completions",
};

/* What the emit callback saw: the bytes and per byte 'M' (modified) or '.'. */
struct sink {
	struct buf out;
	struct buf flags;
	size_t chunks;
	size_t fail_at; /* 1-based chunk to fail on; 0 = never */
	bool empty_chunk;
};

struct run {
	struct sink sink;
	struct jv_report rep;
	struct jv_error *errs; /* copy of rep.errors */
	struct buf text;
	enum core_rc feed_rc; /* first non-OK jv_feed */
	enum core_rc finish_rc;
	size_t mem_peak;
};

static enum core_rc collect(void *ctx, const char *data, size_t len,
			    bool modified)
{
	struct sink *s = ctx;
	size_t i;

	s->chunks++;
	if (s->fail_at && s->chunks >= s->fail_at)
		return CORE_EIO;
	if (len == 0 || !data)
		s->empty_chunk = true;
	if (buf_add(&s->out, data, len))
		abort();
	for (i = 0; i < len; i++)
		if (buf_add(&s->flags, modified ? "M" : ".", 1))
			abort();
	return CORE_OK;
}

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* seed 0: everything in one jv_feed; else chunk sizes from the seed. */
static void run(const struct jv_config *cfg, const char *in, size_t len,
		uint64_t seed, size_t fail_at, struct run *r)
{
	struct core_err err = CORE_ERR_INIT;
	struct jv *v = NULL;
	size_t off = 0, n, m;
	enum core_rc rc;

	memset(r, 0, sizeof(*r));
	r->sink.out = (struct buf)BUF_INIT(0);
	r->sink.flags = (struct buf)BUF_INIT(0);
	r->sink.fail_at = fail_at;
	r->text = (struct buf)BUF_INIT(0);
	rng = seed | 1;
	FUZZ_CHECK(jv_new(cfg, collect, &r->sink, &v, &err) == CORE_OK);
	while (off < len) {
		if (!seed)
			n = len - off;
		else if (rnd() % 4 == 0)
			n = 1 + (size_t)(rnd() % 4096);
		else
			n = 1 + (size_t)(rnd() % 16);
		if (n > len - off)
			n = len - off;
		rc = jv_feed(v, in + off, n, &err);
		if (rc && !r->feed_rc)
			r->feed_rc = rc;
		m = jv_memory(v);
		if (m > r->mem_peak)
			r->mem_peak = m;
		off += n;
	}
	r->finish_rc = jv_finish(v, &err);
	FUZZ_CHECK(jv_finish(v, &err) != CORE_OK); /* a second call refuses */
	r->rep = *jv_report(v);
	if (r->rep.nerrors) {
		r->errs = malloc(r->rep.nerrors * sizeof(*r->errs));
		FUZZ_CHECK(r->errs != NULL);
		memcpy(r->errs, r->rep.errors,
		       r->rep.nerrors * sizeof(*r->errs));
	}
	r->rep.errors = NULL;
	FUZZ_CHECK(jv_report_text(v, &r->text) == CORE_OK);
	jv_free(v);
}

static void run_release(struct run *r)
{
	buf_release(&r->sink.out);
	buf_release(&r->sink.flags);
	buf_release(&r->text);
	free(r->errs);
}

static bool same_bytes(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

static bool same_run(const struct run *a, const struct run *b)
{
	size_t i;

	if (!same_bytes(&a->sink.out, &b->sink.out) ||
	    !same_bytes(&a->sink.flags, &b->sink.flags) ||
	    !same_bytes(&a->text, &b->text) ||
	    a->rep.requests != b->rep.requests ||
	    a->rep.bytes_in != b->rep.bytes_in ||
	    a->rep.bytes_out != b->rep.bytes_out ||
	    a->rep.transformed != b->rep.transformed ||
	    strcmp(a->rep.url, b->rep.url) || a->rep.nerrors != b->rep.nerrors ||
	    a->rep.errors_total != b->rep.errors_total ||
	    a->feed_rc != b->feed_rc || a->finish_rc != b->finish_rc)
		return false;
	for (i = 0; i < a->rep.nerrors; i++)
		if (a->errs[i].code != b->errs[i].code ||
		    a->errs[i].line != b->errs[i].line ||
		    strcmp(a->errs[i].message, b->errs[i].message))
			return false;
	return true;
}

/* `"model": "<d JSON-escaped>", ` as the validator inserts it. */
static size_t insertion(const char *d, char *o)
{
	static const char hexd[] = "0123456789abcdef";
	char *q = o;
	unsigned char c;

	memcpy(q, "\"model\": \"", 10);
	q += 10;
	for (; *d; d++) {
		c = (unsigned char)*d;
		if (c == '"' || c == '\\') {
			*q++ = '\\';
			*q++ = (char)c;
		} else if (c < 0x20) {
			memcpy(q, "\\u00", 4);
			q[4] = hexd[c >> 4];
			q[5] = hexd[c & 15];
			q += 6;
		} else {
			*q++ = (char)c;
		}
	}
	memcpy(q, "\", ", 3);
	return (size_t)(q - o) + 3;
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool blank(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_ws((unsigned char)p[i]))
			return false;
	return true;
}

/* Length of the line at p (up to and including '\n', or to end). */
static size_t line_len(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);

	return nl ? (size_t)(nl - p) + 1 : n;
}

static bool all_flags(const char *f, size_t n, char want)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (f[i] != want)
			return false;
	return true;
}

/* out == in with ins[0..il) inserted right after one '{' of in. */
static bool is_insertion(const char *in, size_t n, const char *out,
			 size_t on, const char *ins, size_t il)
{
	size_t pre = 0, suf = 0, p;

	if (on != n + il)
		return false;
	while (pre < n && in[pre] == out[pre])
		pre++;
	while (suf < n && in[n - 1 - suf] == out[on - 1 - suf])
		suf++;
	for (p = n - suf; p <= pre; p++)
		if (p > 0 && in[p - 1] == '{' && !memcmp(out + p, ins, il))
			return true;
	return false;
}

static bool printable(const char *s, size_t cap)
{
	size_t i;

	for (i = 0; i < cap && s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return i < cap;
}

static bool utf8_valid(const unsigned char *s)
{
	while (*s) {
		size_t k, i;

		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xC2 && *s < 0xE0)
			k = 2;
		else if (*s >= 0xE0 && *s < 0xF0)
			k = 3;
		else if (*s >= 0xF0 && *s < 0xF5)
			k = 4;
		else
			return false;
		for (i = 1; i < k; i++)
			if ((s[i] & 0xC0) != 0x80)
				return false;
		s += k;
	}
	return true;
}

/*
 * Run 1's output against the input, line by line; run 1's report against
 * an independent count. in/n is the input without a leading BOM.
 */
static void check_output(const struct jv_config *cfg, const char *in,
			 size_t n, bool bom, const struct run *r)
{
	char ins[256];
	size_t il = insertion(cfg->deployment, ins), ip = 0, op = 0, li, ol;
	size_t max_line = cfg->max_line_bytes ? cfg->max_line_bytes
					       : JV_DEFAULT_MAX_LINE;
	const char *out = r->sink.out.data, *fl = r->sink.flags.data;
	uint64_t line = 0, requests = 0, e;
	bool changed;

	while (ip < n || op < r->sink.out.len) {
		FUZZ_CHECK(ip < n && op < r->sink.out.len);
		li = line_len(in + ip, n - ip);
		ol = line_len(out + op, r->sink.out.len - op);
		line++;
		changed = li != ol || memcmp(in + ip, out + op, li);
		if (changed) {
			/* A rewritten line: all of it flagged, one insertion. */
			FUZZ_CHECK(all_flags(fl + op, ol, 'M'));
			FUZZ_CHECK(is_insertion(in + ip, li, out + op, ol, ins,
						il) ||
				   is_insertion(in + ip, li, out + op, ol, ins,
						il - 2));
			for (e = 0; e < r->rep.nerrors; e++)
				FUZZ_CHECK(r->errs[e].line != line ||
					   r->errs[e].code == JV_TOO_MANY_TASKS);
		} else {
			FUZZ_CHECK(all_flags(fl + op, ol,
					     bom && line == 1 ? 'M' : '.'));
		}
		li -= in[ip + li - 1] == '\n';
		if (li > max_line || !blank(in + ip, li))
			requests++;
		ip += line_len(in + ip, n - ip);
		op += ol;
	}
	FUZZ_CHECK(r->rep.requests == requests);
	/* Nothing modified: the output is the input, byte for byte. */
	if (!r->rep.transformed)
		FUZZ_CHECK(!bom && (!fl || !memchr(fl, 'M', r->sink.flags.len)) &&
			   r->sink.out.len == n && (!n || !memcmp(out, in, n)));
}

static void check_report(const struct jv_config *cfg, const struct run *r,
			 size_t lines)
{
	size_t max_errors = cfg->max_errors ? cfg->max_errors
					    : JV_DEFAULT_MAX_ERRORS;
	uint64_t last = 0;
	size_t i;
	bool empty_said = false;

	FUZZ_CHECK(r->rep.nerrors <= r->rep.errors_total);
	FUZZ_CHECK(r->rep.nerrors == (r->rep.errors_total < max_errors
					      ? r->rep.errors_total
					      : max_errors));
	for (i = 0; i < r->rep.nerrors; i++) {
		const struct jv_error *e = &r->errs[i];

		FUZZ_CHECK((unsigned)e->code < JV_CODE_COUNT);
		FUZZ_CHECK(printable(e->message, sizeof(e->message)));
		FUZZ_CHECK(utf8_valid((const unsigned char *)e->message));
		FUZZ_CHECK(e->line <= lines);
		if (e->line == 0) {
			FUZZ_CHECK(e->code == JV_EMPTY_FILE);
			empty_said = true;
		} else {
			FUZZ_CHECK(e->code != JV_EMPTY_FILE && !empty_said);
			FUZZ_CHECK(e->line >= last); /* in line order */
			last = e->line;
		}
	}
	if (r->rep.requests == 0)
		FUZZ_CHECK(r->rep.errors_total == 1 && r->rep.nerrors == 1 &&
			   r->errs[0].code == JV_EMPTY_FILE);
	if (r->rep.errors_total == 0)
		FUZZ_CHECK(r->text.len == 0);
	else
		FUZZ_CHECK(r->text.len > 0 &&
			   r->text.data[r->text.len - 1] == '\n');
	FUZZ_CHECK(printable(r->rep.url, sizeof(r->rep.url)));
	if (r->rep.url[0]) {
		bool known = false;

		for (i = 0; i < sizeof(batch_urls) / sizeof(batch_urls[0]); i++)
			known |= !strcmp(r->rep.url, batch_urls[i]);
		FUZZ_CHECK(known);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An accepted file's output, read by cJSON: the fields the validator checked. */
static void check_with_cjson(const struct jv_config *cfg, const struct run *r)
{
	const char *out = r->sink.out.data;
	size_t n = r->sink.out.len, p = 0, l, nids = 0, i;
	char **ids = calloc(r->rep.requests + 1, sizeof(*ids));
	bool nul_escape = false;

	FUZZ_CHECK(ids != NULL);
	for (p = 0; p < n; p += l) {
		const cJSON *f, *body;
		const char *end = NULL;
		cJSON *o;

		l = line_len(out + p, n - p);
		if (blank(out + p, l))
			continue;
		/* cJSON cuts strings at "\u0000" and differs from the
		 * validator then; such lines are skipped. */
		if (memmem(out + p, l, "u0000", 5)) {
			nul_escape = true;
			continue;
		}
		o = cJSON_ParseWithLengthOpts(out + p, l, &end, 0);
		if (!o)
			continue; /* cJSON's own limits (long numbers, surrogates) */
		FUZZ_CHECK(cJSON_IsObject(o));
		f = cJSON_GetObjectItemCaseSensitive(o, "custom_id");
		FUZZ_CHECK(cJSON_IsString(f) && f->valuestring[0]);
		ids[nids] = strdup(f->valuestring);
		FUZZ_CHECK(ids[nids] != NULL);
		nids++;
		f = cJSON_GetObjectItemCaseSensitive(o, "method");
		FUZZ_CHECK(cJSON_IsString(f) && !strcmp(f->valuestring, "POST"));
		f = cJSON_GetObjectItemCaseSensitive(o, "url");
		FUZZ_CHECK(cJSON_IsString(f) &&
			   !strcmp(f->valuestring, r->rep.url));
		body = cJSON_GetObjectItemCaseSensitive(o, "body");
		FUZZ_CHECK(cJSON_IsObject(body));
		f = cJSON_GetObjectItemCaseSensitive(body, "model");
		FUZZ_CHECK(cJSON_IsString(f) &&
			   !strcmp(f->valuestring, cfg->deployment));
		cJSON_Delete(o);
	}
	if (!nul_escape && nids > 1) {
		qsort(ids, nids, sizeof(*ids), cmp_str);
		for (i = 1; i < nids; i++)
			FUZZ_CHECK(strcmp(ids[i - 1], ids[i]) != 0);
	}
	for (i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
}

/* All the checks for one config; fail_at_pick != 0 adds the failing run. */
static void check_config(const struct jv_config *cfg, const char *in,
			 size_t size, uint64_t seed, uint64_t fail_at_pick)
{
	struct run chunked, whole, failing, again;
	bool bom = size >= 3 && !memcmp(in, "\xEF\xBB\xBF", 3);
	size_t i, lines = 0;

	for (i = bom ? 3 : 0; i < size; i += line_len(in + i, size - i))
		lines++;

	run(cfg, in, size, seed, 0, &chunked);
	FUZZ_CHECK(chunked.feed_rc == CORE_OK && chunked.finish_rc == CORE_OK);
	FUZZ_CHECK(!chunked.sink.empty_chunk);
	FUZZ_CHECK(chunked.rep.bytes_in == size);
	FUZZ_CHECK(chunked.rep.bytes_out == chunked.sink.out.len);
	FUZZ_CHECK(chunked.sink.flags.len == chunked.sink.out.len);
	FUZZ_CHECK(!bom || chunked.rep.transformed);
	check_output(cfg, in + (bom ? 3 : 0), size - (bom ? 3 : 0), bom,
		     &chunked);
	check_report(cfg, &chunked, lines);
	/* Bounded memory: a 64 KiB output buffer, one line, the id set. */
	FUZZ_CHECK(chunked.mem_peak <=
		   (size_t)(64 << 10) + 8192 + 2 * size + 4096 +
			   12 * (4 * chunked.rep.requests + 2048) +
			   64 * sizeof(struct jv_error));

	/* Any chunking gives what one whole feed gives. */
	run(cfg, in, size, 0, 0, &whole);
	FUZZ_CHECK(same_run(&chunked, &whole));

	if (fail_at_pick && chunked.sink.chunks) {
		size_t at = 1 + (size_t)(fail_at_pick % chunked.sink.chunks);

		run(cfg, in, size, seed, at, &failing);
		FUZZ_CHECK(failing.feed_rc == CORE_EIO ||
			   failing.finish_rc == CORE_EIO);
		FUZZ_CHECK(failing.finish_rc != CORE_OK);
		FUZZ_CHECK(failing.rep.bytes_out <= chunked.rep.bytes_out);
		run_release(&failing);
	}

	if (whole.rep.errors_total == 0) {
		struct jv_config c2 = *cfg;

		c2.max_line_bytes = 0; /* insertions lengthen lines */
		run(&c2, whole.sink.out.data ? whole.sink.out.data : "",
		    whole.sink.out.len, seed >> 8, 0, &again);
		FUZZ_CHECK(again.rep.errors_total == 0 &&
			   !again.rep.transformed &&
			   same_bytes(&again.sink.out, &whole.sink.out));
		run_release(&again);
		check_with_cjson(cfg, &whole);
	}
	run_release(&chunked);
	run_release(&whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t line_limits[] = { 16, 100, 1000, 0 };
	static const size_t error_limits[] = { 1, 3, 64, 0 };
	static const uint64_t request_limits[] = { 1, 3, 0, 100000 };
	const char *in = (const char *)data;
	struct jv_config plain = { .deployment = deployments[0],
				   .max_requests = 100000 };
	struct jv_config odd = { 0 };
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	/* The chunk sizes and the second config come from the first bytes. */
	for (i = 0; i < size && i < 8; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	odd.max_line_bytes = line_limits[h & 3];
	odd.max_errors = error_limits[(h >> 2) & 3];
	odd.max_requests = request_limits[(h >> 4) & 3];
	odd.deployment = deployments[(h >> 6) & 3];

	/* The service's limits and a plain deployment: most lines pass. */
	check_config(&plain, in, size, h >> 8, 0);
	/* Small limits and deployments that need escaping. */
	check_config(&odd, in, size, h >> 9, h >> 40 | 1);
	return 0;
}
