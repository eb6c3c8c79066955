/* SPDX-License-Identifier: MIT */
/* validate.c: streaming validation of batch input JSONL, with model insertion. */
/*
 * DESIGN
 *
 * Lines. jv_feed() splits the caller's chunk at '\n' with memchr(). A line
 * that lies whole inside the chunk is checked in place; if it needs no
 * change it joins the pending "span", a run of the caller's bytes that is
 * emitted with one callback when something else must be emitted or when
 * jv_feed() returns. A line cut by the chunk end is copied to v->lb and
 * checked when its '\n' arrives. A line longer than max_line_bytes is never
 * held: its error is recorded as soon as the limit is crossed and the rest
 * of it passes straight through (v->skipping) up to its '\n'.
 *
 * Checking. scan_line() is one iterative pass over the raw bytes: RFC 8259
 * grammar, strict UTF-8 inside strings (outside strings only ASCII can be
 * valid), nesting up to JV_MAX_DEPTH on a bit stack (no recursion, so
 * 100,000 '[' cost nothing). Plain string bytes are skipped 16 at a time
 * (SSE2; 8 at a time elsewhere).
 * On the way it notes where the first top-level "custom_id", "method",
 * "url" and "body" values are, and the first "model" member of that body,
 * comparing keys after decoding escapes ("b\u006fdy" is body), as cJSON's
 * first-match lookup does. Only those few strings are decoded afterwards.
 * cJSON is not used: it cannot give raw offsets, it allocates per value and
 * recurses per nesting level.
 *
 * Rewriting. A valid line without body.model gets the precomputed
 * `"model": "<deployment>", ` (or without ", " for an empty body) after
 * the body's '{'. Rewritten lines up to 64 KiB are gathered in v->ob and
 * emitted together; a longer one is emitted as prefix, insertion, suffix.
 *
 * Duplicates. custom_ids are not stored: a 64-bit hash of the decoded id
 * and the line of its first use go into an open-addressing set (12 bytes a
 * slot, load <= 3/4: 3 MiB for 100,000 ids). Two different ids collide with
 * probability about n^2 / 2^65 (3e-10 for n = 100,000), which would show
 * as a false duplicate_custom_id. Past max_requests no new ids are added
 * (the file has failed with too_many_tasks anyway), so memory stays bounded
 * by the limit; lines keep being checked against the ids already known.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "validate.h"

/* Rewritten lines are gathered up to this size per emit. */
#define JV_OUT_CHUNK ((size_t)64 * 1024)
/* A line buffer larger than this is freed after its line. */
#define JV_LB_KEEP ((size_t)1 << 20)
#define JV_SET_MIN 1024
#define JV_SHOW 64 /* source bytes of a user string shown in a message */

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

static const char *const code_names[JV_CODE_COUNT] = {
	[JV_INVALID_JSON_LINE] = "invalid_json_line",
	[JV_DUPLICATE_CUSTOM_ID] = "duplicate_custom_id",
	[JV_MODEL_MISMATCH] = "model_mismatch",
	[JV_URL_MISMATCH] = "url_mismatch",
	[JV_TOO_MANY_TASKS] = "too_many_tasks",
	[JV_EMPTY_FILE] = "empty_file",
	[JV_INVALID_REQUEST] = "invalid_request",
};

/* The endpoints the Batch API accepts in an input line's "url". */
static const char *const batch_urls[] = {
	"/v1/chat/completions", "/chat/completions", "/v1/responses",
	"/responses",		"/v1/embeddings",    "/embeddings",
	"/v1/completions",	"/completions",
};

static const char empty_file_msg[] =
	"The input file is empty. Please ensure that the batch contains at "
	"least one request.";

enum jtype {
	JT_NONE,
	JT_OBJECT,
	JT_ARRAY,
	JT_STRING,
	JT_NUMBER,
	JT_BOOL,
	JT_NULL
};

static const char *const jtype_names[] = {
	[JT_NONE] = "nothing",	  [JT_OBJECT] = "an object",
	[JT_ARRAY] = "an array",  [JT_STRING] = "a string",
	[JT_NUMBER] = "a number", [JT_BOOL] = "a boolean",
	[JT_NULL] = "null",
};

/* The members a line is checked for. F_MODEL is inside the body. */
enum field { F_CUSTOM_ID, F_METHOD, F_URL, F_BODY, F_MODEL, F_COUNT };

struct jfield {
	bool seen;
	bool esc; /* a string containing escapes */
	enum jtype type;
	/* String: the first byte after '"'; container: its '{' or '['. */
	size_t start;
	size_t end; /* string: its closing '"' */
};

struct scan {
	struct jfield f[F_COUNT];
	enum jtype top;	   /* type of the line's value */
	bool body_members; /* the body object has at least one member */
	char msg[200];	   /* why scan_line() failed */
};

/* custom_id hashes (0 = empty slot) and the line each first appeared on. */
struct idset {
	uint64_t *hash;
	uint32_t *line; /* 0 when the line number does not fit */
	size_t cap;	/* power of two, or 0 */
	size_t count;
};

struct jv {
	jv_emit_fn emit;
	void *emit_ctx;
	char *dep; /* deployment, raw */
	size_t dep_len;
	char *ins;	  /* "\"model\": \"<dep JSON-escaped>\", " */
	size_t ins_len;	  /* with the trailing ", " */
	size_t ins_empty; /* without it, for an empty body */
	char *model;	  /* decoded body.model of the current line */
	size_t model_cap;
	uint64_t max_requests;
	uint64_t max_bytes;
	size_t max_line;
	size_t max_errors;

	struct jv_report rep;
	struct jv_error *errs;
	size_t errs_cap;

	uint64_t line;	   /* number of the line being read, 1-based */
	unsigned bom_held; /* BOM bytes matched while undecided */
	bool bom_decided;
	bool bom_dropped;
	bool skipping; /* inside an over-long line: pass bytes until '\n' */
	bool finished;
	bool too_many_said;
	enum core_rc stopped; /* non-OK: the emit callback or OOM stopped us */
	uint64_t blank_first; /* a run of blank lines not judged yet */
	uint64_t blank_count;
	uint64_t url_line; /* the line that set rep.url */

	char *lb; /* the current line, when cut by a chunk end */
	size_t lb_len;
	size_t lb_cap;
	char *ob; /* rewritten lines waiting, JV_OUT_CHUNK bytes */
	size_t ob_len;
	const char *span; /* the caller's unchanged bytes not emitted yet */
	size_t span_len;

	struct idset ids;
};

const char *jv_code_name(enum jv_code c)
{
	if ((unsigned)c >= JV_CODE_COUNT)
		return "unknown";
	return code_names[c];
}

/* --- UTF-8 and display --- */

/* Length of the strict UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], lo = 0x80, hi = 0xBF;
	size_t k, i;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		k = 2;
	} else if (c < 0xF0) {
		k = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		k = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (n < k || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < k; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return k;
}

/* Offset of the first byte that is not valid UTF-8, or n. */
static size_t utf8_first_invalid(const unsigned char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_len(s + i, n - i);
		if (!k)
			return i;
		i += k;
	}
	return n;
}

/*
 * Renders the first bytes of s (len of them available, total in the
 * whole value) for a message: at most JV_SHOW source bytes, control bytes
 * and invalid UTF-8 as \xNN, a UTF-8 sequence never cut, "..." when
 * shortened. Returns dst.
 */
static const char *show(char *dst, size_t dstsz, const char *s, size_t len,
			size_t total)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, k;

	while (i < len && i < JV_SHOW) {
		k = u[i] < 0x80 ? 1 : utf8_len(u + i, len - i);
		if (k == 0 ||
		    (k == 1 && (u[i] < 0x20 || u[i] == 0x7F || u[i] == '\\'))) {
			if (o + 4 + 4 > dstsz)
				break;
			snprintf(dst + o, dstsz - o, "\\x%02x", u[i]);
			o += 4;
			i++;
			continue;
		}
		if (o + k + 4 > dstsz || i + k > JV_SHOW)
			break;
		memcpy(dst + o, s + i, k);
		o += k;
		i += k;
	}
	if (i < total) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

/* --- the report --- */

static void add_error(struct jv *v, enum jv_code code, uint64_t line,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_error(struct jv *v, enum jv_code code, uint64_t line,
		      const char *fmt, ...)
{
	struct jv_error *e;
	va_list ap;

	v->rep.errors_total++;
	if (v->rep.nerrors >= v->max_errors)
		return;
	if (v->rep.nerrors == v->errs_cap) {
		size_t ncap = v->errs_cap ? v->errs_cap * 2 : 8;

		if (ncap > v->max_errors)
			ncap = v->max_errors;
		e = realloc(v->errs, ncap * sizeof(*e));
		if (!e)
			return; /* still counted in errors_total */
		v->errs = e;
		v->errs_cap = ncap;
		v->rep.errors = e;
	}
	e = &v->errs[v->rep.nerrors++];
	e->code = code;
	e->line = line;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/* A run of blank lines followed by a request: each blank line is invalid. */
static void flush_blanks(struct jv *v)
{
	uint64_t i;

	for (i = 0; i < v->blank_count; i++) {
		if (v->rep.nerrors >= v->max_errors) {
			v->rep.errors_total += v->blank_count - i;
			break;
		}
		add_error(v, JV_INVALID_JSON_LINE, v->blank_first + i,
			  "line is blank; only the last lines of a file may be "
			  "blank");
	}
	v->blank_count = 0;
}

/* Counts a request line; too_many_tasks on the first one past the limit. */
static void count_request(struct jv *v)
{
	v->rep.requests++;
	if (v->max_requests && v->rep.requests > v->max_requests &&
	    !v->too_many_said) {
		v->too_many_said = true;
		add_error(v, JV_TOO_MANY_TASKS, v->line,
			  "the file has more than %" PRIu64
			  " requests (line %" PRIu64 " is request %" PRIu64 ")",
			  v->max_requests, v->line, v->rep.requests);
	}
}

/* --- custom_id set --- */

static enum core_rc ids_grow(struct idset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : JV_SET_MIN, i, j;
	uint64_t *nh = calloc(ncap, sizeof(*nh));
	uint32_t *nl = calloc(ncap, sizeof(*nl));

	if (!nh || !nl) {
		free(nh);
		free(nl);
		return CORE_ENOMEM;
	}
	for (i = 0; i < s->cap; i++) {
		if (!s->hash[i])
			continue;
		j = (size_t)s->hash[i] & (ncap - 1);
		while (nh[j])
			j = (j + 1) & (ncap - 1);
		nh[j] = s->hash[i];
		nl[j] = s->line[i];
	}
	free(s->hash);
	free(s->line);
	s->hash = nh;
	s->line = nl;
	s->cap = ncap;
	return CORE_OK;
}

/*
 * Looks h up. Found: *dup = true, *first = its line (0 if unknown).
 * Otherwise adds it with `line` when add is set.
 */
static enum core_rc ids_check(struct idset *s, uint64_t h, uint64_t line,
			      bool add, bool *dup, uint64_t *first)
{
	size_t j;
	enum core_rc rc;

	*dup = false;
	if (!h)
		h = 1;
	if (s->cap) {
		j = (size_t)h & (s->cap - 1);
		while (s->hash[j]) {
			if (s->hash[j] == h) {
				*dup = true;
				*first = s->line[j];
				return CORE_OK;
			}
			j = (j + 1) & (s->cap - 1);
		}
	}
	if (!add)
		return CORE_OK;
	if ((s->count + 1) * 4 > s->cap * 3) {
		rc = ids_grow(s);
		if (rc)
			return rc;
	}
	j = (size_t)h & (s->cap - 1);
	while (s->hash[j])
		j = (j + 1) & (s->cap - 1);
	s->hash[j] = h;
	s->line[j] = line <= UINT32_MAX ? (uint32_t)line : 0;
	s->count++;
	return CORE_OK;
}

/* --- the line scanner --- */

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool fail(struct scan *sc, const unsigned char *s, size_t n,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records why the line is invalid; bad UTF-8 anywhere takes precedence. */
static bool fail(struct scan *sc, const unsigned char *s, size_t n,
		 const char *fmt, ...)
{
	size_t bad = utf8_first_invalid(s, n);
	va_list ap;
	int k;

	if (bad < n) {
		snprintf(sc->msg, sizeof(sc->msg),
			 "not valid UTF-8 (byte 0x%02x at column %zu)", s[bad],
			 bad + 1);
		return false;
	}
	k = snprintf(sc->msg, sizeof(sc->msg), "not valid JSON: ");
	va_start(ap, fmt);
	vsnprintf(sc->msg + k, sizeof(sc->msg) - (size_t)k, fmt, ap);
	va_end(ap);
	return false;
}

static bool fail_at(struct scan *sc, const unsigned char *s, size_t n, size_t i)
{
	if (s[i] == 0)
		return fail(sc, s, n, "NUL byte at column %zu", i + 1);
	if (s[i] > 0x20 && s[i] < 0x7F)
		return fail(sc, s, n, "unexpected '%c' at column %zu", s[i],
			    i + 1);
	return fail(sc, s, n, "unexpected byte 0x%02x at column %zu", s[i],
		    i + 1);
}

/*
 * Skips plain string bytes from s[i]: returns the index of the first '"',
 * '\\', control or non-ASCII byte, or of a byte near the end that was not
 * examined (the caller goes on byte by byte). SSE2 (always there on
 * x86-64): 16 bytes a step, and a signed compare with 0x20 catches both
 * control bytes and bytes >= 0x80. Elsewhere: 8 bytes a step in a uint64_t.
 */
#if defined(__SSE2__)
static inline size_t skip_plain(const unsigned char *s, size_t n, size_t i)
{
	const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\');
	const __m128i sp = _mm_set1_epi8(0x20);
	__m128i x, m;
	int mask;

	while (n - i >= 16) {
		x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q),
					      _mm_cmpeq_epi8(x, b)),
				 _mm_cmplt_epi8(x, sp));
		mask = _mm_movemask_epi8(m);
		if (mask)
			return i + (size_t)__builtin_ctz((unsigned)mask);
		i += 16;
	}
	return i;
}
#else
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline size_t skip_plain(const unsigned char *s, size_t n, size_t i)
{
	uint64_t w, q, b;

	while (n - i >= 8) {
		memcpy(&w, s + i, 8);
		q = w ^ (ONES * '"');
		b = w ^ (ONES * '\\');
		/* Zero-byte tests for '"' and '\\', a borrow test for < 0x20,
		 * and the high bits. */
		q = ((q - ONES) & ~q) | ((b - ONES) & ~b);
		if ((q | (w - ONES * 0x20) | w) & HIGHS)
			break;
		i += 8;
	}
	return i;
}
#endif

/* s[*pi] follows an opening '"'. On success *pi is at the closing '"'. */
static bool scan_string(const unsigned char *s, size_t n, size_t *pi, bool *esc,
			struct scan *sc)
{
	size_t i = *pi, k;
	unsigned c;

	*esc = false;
	for (;;) {
		i = skip_plain(s, n, i);
		if (i >= n)
			return fail(sc, s, n,
				    "a string is not closed before the end of "
				    "the line");
		c = s[i];
		if (c == '"') {
			*pi = i;
			return true;
		}
		if (c == '\\') {
			*esc = true;
			if (i + 1 >= n)
				return fail(sc, s, n,
					    "a string is not closed before the "
					    "end of the line");
			switch (s[i + 1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				i += 2;
				break;
			case 'u':
				if (n - i < 6 || hexval(s[i + 2]) < 0 ||
				    hexval(s[i + 3]) < 0 ||
				    hexval(s[i + 4]) < 0 ||
				    hexval(s[i + 5]) < 0)
					return fail(sc, s, n,
						    "invalid \\u escape at "
						    "column %zu",
						    i + 1);
				i += 6;
				break;
			default:
				return fail(sc, s, n,
					    "invalid escape at column %zu",
					    i + 1);
			}
			continue;
		}
		if (c < 0x20) {
			if (c == 0)
				return fail(sc, s, n, "NUL byte at column %zu",
					    i + 1);
			return fail(sc, s, n,
				    "unescaped control character 0x%02x in a "
				    "string at column %zu",
				    c, i + 1);
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		k = utf8_len(s + i, n - i);
		if (!k)
			return fail(sc, s, n, "invalid UTF-8 at column %zu",
				    i + 1);
		i += k;
	}
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at s[*pi]. */
static bool scan_number(const unsigned char *s, size_t n, size_t *pi)
{
	size_t i = *pi;

	if (s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && is_digit(s[i]))
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] | 0x20) == 'e') {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	*pi = i;
	return true;
}

static size_t utf8_put(unsigned char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

static unsigned long hex4(const unsigned char *s)
{
	return (unsigned long)(hexval(s[0]) << 12 | hexval(s[1]) << 8 |
			       hexval(s[2]) << 4 | hexval(s[3]));
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/*
 * Decodes the escape at r[*pi] (r[*pi] == '\\', already validated) into
 * o; returns the number of bytes and moves *pi past the escape. A
 * surrogate pair becomes one code point; a lone surrogate decodes to its
 * 3-byte (WTF-8) form, so different escapes never decode alike.
 */
static size_t decode_escape(const unsigned char *r, size_t n, size_t *pi,
			    unsigned char *o)
{
	size_t i = *pi;
	unsigned long cp, lo;

	*pi = i + 2;
	switch (r[i + 1]) {
	case 'b':
		o[0] = '\b';
		return 1;
	case 'f':
		o[0] = '\f';
		return 1;
	case 'n':
		o[0] = '\n';
		return 1;
	case 'r':
		o[0] = '\r';
		return 1;
	case 't':
		o[0] = '\t';
		return 1;
	case 'u':
		break;
	default: /* '"', '\\', '/' */
		o[0] = r[i + 1];
		return 1;
	}
	cp = hex4(r + i + 2);
	*pi = i + 6;
	if (cp >= 0xD800 && cp <= 0xDBFF && n - i >= 12 && r[i + 6] == '\\' &&
	    r[i + 7] == 'u') {
		lo = hex4(r + i + 8);
		if (lo >= 0xDC00 && lo <= 0xDFFF) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			*pi = i + 12;
		}
	}
	return utf8_put(o, cp);
}

/*
 * Decodes the content r[0..n) of a string scan_string() accepted. Writes
 * the first cap decoded bytes to out, returns the decoded length, and, when
 * hash is set, a 64-bit hash of all decoded bytes (FNV-1a, length mixed in,
 * murmur3 finaliser).
 */
static size_t jstr_decode(const unsigned char *r, size_t n, bool esc, char *out,
			  size_t cap, uint64_t *hash)
{
	unsigned char tmp[4];
	uint64_t h = FNV_OFFSET;
	size_t i = 0, len = 0, k, j;

	if (!esc) {
		memcpy(out, r, n < cap ? n : cap);
		len = n;
		if (hash)
			for (i = 0; i < n; i++)
				h = (h ^ r[i]) * FNV_PRIME;
	}
	while (esc && i < n) {
		if (r[i] != '\\') {
			tmp[0] = r[i++];
			k = 1;
		} else {
			k = decode_escape(r, n, &i, tmp);
		}
		for (j = 0; j < k; j++, len++) {
			if (len < cap)
				out[len] = (char)tmp[j];
			h = (h ^ tmp[j]) * FNV_PRIME;
		}
	}
	if (hash) {
		h ^= (uint64_t)len * 0x9E3779B97F4A7C15ULL;
		h ^= h >> 33;
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
		h *= 0xc4ceb9fe1a85ec53ULL;
		h ^= h >> 33;
		*hash = h;
	}
	return len;
}

/* Does the key r[0..n) (escapes decoded) spell name? */
static bool key_is(const unsigned char *r, size_t n, bool esc, const char *name,
		   size_t nlen)
{
	char tmp[16];

	if (!esc)
		return n == nlen && !memcmp(r, name, nlen);
	if (n < nlen)
		return false;
	return jstr_decode(r, n, true, tmp, sizeof(tmp), NULL) == nlen &&
	       !memcmp(tmp, name, nlen);
}

static int top_key(const unsigned char *r, size_t n, bool esc)
{
	if (key_is(r, n, esc, "custom_id", 9))
		return F_CUSTOM_ID;
	if (key_is(r, n, esc, "method", 6))
		return F_METHOD;
	if (key_is(r, n, esc, "url", 3))
		return F_URL;
	if (key_is(r, n, esc, "body", 4))
		return F_BODY;
	return -1;
}

enum scan_state { S_VALUE, S_ARR_FIRST, S_OBJ_FIRST, S_KEY, S_COLON, S_AFTER };

/*
 * Checks that s[0..n) is one JSON value with only whitespace around it and
 * notes the fields of struct scan. Iterative; the container stack is a bit
 * per level (1 = object).
 */
static bool scan_line(const unsigned char *s, size_t n, struct scan *sc)
{
	unsigned char stack[JV_MAX_DEPTH / 8 + 1];
	enum scan_state st = S_VALUE;
	size_t i = 0, depth = 0, body_depth = 0, start, end;
	enum jtype type;
	int field = -1;
	bool esc, in_obj;
	unsigned char c;

	memset(sc, 0, sizeof(*sc));
	for (;;) {
		while (i < n && is_ws(s[i]))
			i++;
		if (i == n) {
			if (st == S_AFTER && depth == 0)
				return true;
			return fail(sc, s, n,
				    "the line ends before the JSON value is "
				    "complete");
		}
		c = s[i];
		switch (st) {
		case S_AFTER:
			if (depth == 0 && c == 0)
				return fail_at(sc, s, n, i);
			if (depth == 0)
				return fail(sc, s, n,
					    "unexpected data after the JSON "
					    "value at column %zu",
					    i + 1);
			in_obj = stack[(depth - 1) / 8] &
				 (1u << ((depth - 1) % 8));
			if (c == ',') {
				st = in_obj ? S_KEY : S_VALUE;
				i++;
				continue;
			}
			if (c != (in_obj ? '}' : ']'))
				return fail_at(sc, s, n, i);
			goto close;
		case S_OBJ_FIRST:
			if (c == '}')
				goto close;
			__attribute__((fallthrough));
		case S_KEY:
			if (c != '"')
				return fail_at(sc, s, n, i);
			start = ++i;
			if (!scan_string(s, n, &i, &esc, sc))
				return false;
			field = -1;
			if (depth == 1) {
				field = top_key(s + start, i - start, esc);
			} else if (body_depth && depth == body_depth) {
				sc->body_members = true;
				if (key_is(s + start, i - start, esc, "model",
					   5))
					field = F_MODEL;
			}
			/* Of duplicate keys the first wins, as in cJSON. */
			if (field >= 0 && sc->f[field].seen)
				field = -1;
			i++;
			st = S_COLON;
			continue;
		case S_COLON:
			if (c != ':')
				return fail_at(sc, s, n, i);
			i++;
			st = S_VALUE;
			continue;
		case S_ARR_FIRST:
			if (c == ']')
				goto close;
			__attribute__((fallthrough));
		case S_VALUE:
			break;
		}

		/* A value starts at i. */
		start = i;
		end = i;
		esc = false;
		switch (c) {
		case '{':
		case '[':
			if (depth == JV_MAX_DEPTH)
				return fail(sc, s, n,
					    "nested deeper than %d levels at "
					    "column %zu",
					    JV_MAX_DEPTH, i + 1);
			if (c == '{')
				stack[depth / 8] |=
					(unsigned char)(1u << (depth % 8));
			else
				stack[depth / 8] &=
					(unsigned char)~(1u << (depth % 8));
			depth++;
			if (c == '{' && field == F_BODY)
				body_depth = depth;
			type = c == '{' ? JT_OBJECT : JT_ARRAY;
			st = c == '{' ? S_OBJ_FIRST : S_ARR_FIRST;
			i++;
			break;
		case '"':
			start = ++i;
			if (!scan_string(s, n, &i, &esc, sc))
				return false;
			end = i++;
			type = JT_STRING;
			st = S_AFTER;
			break;
		case 't':
		case 'f':
		case 'n': {
			const char *lit = c == 't'   ? "true"
					  : c == 'f' ? "false"
						     : "null";
			size_t ll = strlen(lit);

			if (n - i < ll || memcmp(s + i, lit, ll))
				return fail_at(sc, s, n, i);
			i += ll;
			type = c == 'n' ? JT_NULL : JT_BOOL;
			st = S_AFTER;
			break;
		}
		default:
			if (c != '-' && !is_digit(c))
				return fail_at(sc, s, n, i);
			if (!scan_number(s, n, &i))
				return fail(sc, s, n,
					    "malformed number at column %zu",
					    start + 1);
			type = JT_NUMBER;
			st = S_AFTER;
			break;
		}
		if (sc->top == JT_NONE)
			sc->top = type;
		if (field >= 0) {
			struct jfield *f = &sc->f[field];

			f->seen = true;
			f->type = type;
			f->esc = esc;
			f->start = start;
			f->end = end;
			field = -1;
		}
		continue;
	close:
		depth--;
		if (body_depth && depth < body_depth)
			body_depth = 0;
		i++;
		st = S_AFTER;
	}
}

/* --- per-line checks --- */

static bool is_blank(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_ws((unsigned char)p[i]))
			return false;
	return true;
}

static bool is_batch_url(const char *u, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(batch_urls) / sizeof(batch_urls[0]); i++)
		if (strlen(batch_urls[i]) == len &&
		    !memcmp(batch_urls[i], u, len))
			return true;
	return false;
}

static void req_error(struct jv *v, const char *what, const struct jfield *f)
{
	if (!f->seen)
		add_error(v, JV_INVALID_REQUEST, v->line, "missing %s", what);
	else
		add_error(v, JV_INVALID_REQUEST, v->line,
			  "%s must be %s, not %s", what,
			  !strcmp(what, "body") ? "a JSON object" : "a string",
			  jtype_names[f->type]);
}

/*
 * Checks one non-blank line p[0..n) ('\n' excluded) and records its error,
 * if any. *insert: the line is valid and its body has no model; *at is
 * where the model goes and *empty whether the body has no member.
 */
static enum core_rc check_line(struct jv *v, const char *p, size_t n,
			       bool *insert, size_t *at, bool *empty)
{
	const unsigned char *s = (const unsigned char *)p;
	struct scan sc;
	struct jfield *f;
	char id[JV_SHOW + 8], url[sizeof(v->rep.url)], method[8];
	char a[JV_SHOW * 4 + 8], b[JV_SHOW * 4 + 8];
	size_t len, ulen;
	uint64_t h, first;
	bool dup, add;
	enum core_rc rc;

	*insert = false;
	if (!scan_line(s, n, &sc)) {
		add_error(v, JV_INVALID_JSON_LINE, v->line, "%s", sc.msg);
		return CORE_OK;
	}
	if (sc.top != JT_OBJECT) {
		add_error(v, JV_INVALID_JSON_LINE, v->line,
			  "the line is %s, not a JSON object",
			  jtype_names[sc.top]);
		return CORE_OK;
	}

	f = &sc.f[F_CUSTOM_ID];
	if (!f->seen || f->type != JT_STRING) {
		req_error(v, "custom_id", f);
		return CORE_OK;
	}
	len = jstr_decode(s + f->start, f->end - f->start, f->esc, id,
			  sizeof(id), &h);
	if (!len) {
		add_error(v, JV_INVALID_REQUEST, v->line,
			  "custom_id must not be empty");
		return CORE_OK;
	}
	add = !v->max_requests || v->rep.requests <= v->max_requests;
	rc = ids_check(&v->ids, h, v->line, add, &dup, &first);
	if (rc)
		return rc;
	if (dup) {
		show(a, sizeof(a), id, len < sizeof(id) ? len : sizeof(id),
		     len);
		if (first)
			add_error(v, JV_DUPLICATE_CUSTOM_ID, v->line,
				  "custom_id '%s' is already used on line "
				  "%" PRIu64,
				  a, first);
		else
			add_error(v, JV_DUPLICATE_CUSTOM_ID, v->line,
				  "custom_id '%s' is already used on an "
				  "earlier line",
				  a);
		return CORE_OK;
	}

	f = &sc.f[F_METHOD];
	if (!f->seen || f->type != JT_STRING) {
		req_error(v, "method", f);
		return CORE_OK;
	}
	len = jstr_decode(s + f->start, f->end - f->start, f->esc, method,
			  sizeof(method), NULL);
	if (len != 4 || memcmp(method, "POST", 4)) {
		show(a, sizeof(a), method,
		     len < sizeof(method) ? len : sizeof(method), len);
		add_error(v, JV_INVALID_REQUEST, v->line,
			  "method must be \"POST\", not '%s'", a);
		return CORE_OK;
	}

	f = &sc.f[F_URL];
	if (!f->seen || f->type != JT_STRING) {
		req_error(v, "url", f);
		return CORE_OK;
	}
	ulen = jstr_decode(s + f->start, f->end - f->start, f->esc, url,
			   sizeof(url) - 1, NULL);
	if (ulen >= sizeof(url) || !is_batch_url(url, ulen)) {
		show(a, sizeof(a), url,
		     ulen < sizeof(url) - 1 ? ulen : sizeof(url) - 1, ulen);
		add_error(v, JV_URL_MISMATCH, v->line,
			  "url '%s' is not a batch endpoint", a);
		return CORE_OK;
	}
	url[ulen] = '\0';
	if (!v->rep.url[0]) {
		memcpy(v->rep.url, url, ulen + 1);
		v->url_line = v->line;
	} else if (strcmp(url, v->rep.url)) {
		add_error(v, JV_URL_MISMATCH, v->line,
			  "url '%s' differs from '%s' used since line %" PRIu64,
			  url, v->rep.url, v->url_line);
		return CORE_OK;
	}

	f = &sc.f[F_BODY];
	if (!f->seen || f->type != JT_OBJECT) {
		req_error(v, "body", f);
		return CORE_OK;
	}

	f = &sc.f[F_MODEL];
	if (!f->seen) {
		*insert = true;
		*at = sc.f[F_BODY].start + 1;
		*empty = !sc.body_members;
		return CORE_OK;
	}
	if (f->type != JT_STRING) {
		add_error(v, JV_INVALID_REQUEST, v->line,
			  "body.model must be a string, not %s",
			  jtype_names[f->type]);
		return CORE_OK;
	}
	len = jstr_decode(s + f->start, f->end - f->start, f->esc, v->model,
			  v->model_cap, NULL);
	if (len != v->dep_len || memcmp(v->model, v->dep, len)) {
		show(a, sizeof(a), v->model,
		     len < v->model_cap ? len : v->model_cap, len);
		show(b, sizeof(b), v->dep, v->dep_len, v->dep_len);
		add_error(v, JV_MODEL_MISMATCH, v->line,
			  "the line names model '%s', this drop box is for "
			  "deployment '%s'",
			  a, b);
	}
	return CORE_OK;
}

/* --- output --- */

static enum core_rc do_emit(struct jv *v, const char *p, size_t n,
			    bool modified)
{
	enum core_rc rc;

	if (!n)
		return CORE_OK;
	rc = v->emit(v->emit_ctx, p, n, modified);
	if (rc) {
		v->stopped = rc;
		return rc;
	}
	v->rep.bytes_out += n;
	return CORE_OK;
}

static enum core_rc flush_span(struct jv *v)
{
	const char *p = v->span;
	size_t n = v->span_len;

	v->span = NULL;
	v->span_len = 0;
	return do_emit(v, p, n, false);
}

static enum core_rc flush_out(struct jv *v)
{
	size_t n = v->ob_len;

	v->ob_len = 0;
	return do_emit(v, v->ob, n, true);
}

/* At most one of the two holds bytes at any time. */
static enum core_rc flush_all(struct jv *v)
{
	enum core_rc rc = flush_span(v);

	return rc ? rc : flush_out(v);
}

/*
 * Passes n input bytes through unchanged. spannable: p lies in the caller's
 * buffer of the current jv_feed(), so it may be emitted later with its
 * neighbours. Line 1 after a dropped BOM is flagged modified.
 */
static enum core_rc pass(struct jv *v, const char *p, size_t n, bool spannable)
{
	bool mod = v->bom_dropped && v->line == 1;
	enum core_rc rc;

	if (!n)
		return CORE_OK;
	if (mod || !spannable) {
		rc = flush_all(v);
		return rc ? rc : do_emit(v, p, n, mod);
	}
	rc = flush_out(v);
	if (!rc && v->span_len && v->span + v->span_len != p)
		rc = flush_span(v);
	if (rc)
		return rc;
	if (!v->span_len)
		v->span = p;
	v->span_len += n;
	return CORE_OK;
}

/* Emits line p[0..n) with the model inserted at offset at. */
static enum core_rc emit_inserted(struct jv *v, const char *p, size_t n,
				  size_t at, bool empty)
{
	size_t il = empty ? v->ins_empty : v->ins_len;
	enum core_rc rc;

	v->rep.transformed = true;
	rc = flush_span(v);
	if (rc)
		return rc;
	if (n + il <= JV_OUT_CHUNK) {
		if (v->ob_len + n + il > JV_OUT_CHUNK) {
			rc = flush_out(v);
			if (rc)
				return rc;
		}
		if (!v->ob) {
			v->ob = malloc(JV_OUT_CHUNK);
			if (!v->ob)
				return CORE_ENOMEM;
		}
		memcpy(v->ob + v->ob_len, p, at);
		memcpy(v->ob + v->ob_len + at, v->ins, il);
		memcpy(v->ob + v->ob_len + at + il, p + at, n - at);
		v->ob_len += n + il;
		return CORE_OK;
	}
	rc = flush_out(v);
	if (!rc)
		rc = do_emit(v, p, at, true);
	if (!rc)
		rc = do_emit(v, v->ins, il, true);
	if (!rc)
		rc = do_emit(v, p + at, n - at, true);
	return rc;
}

/* --- the stream --- */

/* The current line has just grown past max_line bytes. */
static void too_long(struct jv *v)
{
	flush_blanks(v);
	count_request(v);
	add_error(v, JV_INVALID_JSON_LINE, v->line,
		  "line %" PRIu64 " is longer than %zu bytes", v->line,
		  v->max_line);
}

/* A complete line p[0..len), its '\n' included when has_nl. */
static enum core_rc line_done(struct jv *v, const char *p, size_t len,
			      bool has_nl, bool spannable)
{
	size_t n = len - (has_nl ? 1 : 0), at = 0;
	bool insert = false, empty = false;
	enum core_rc rc = CORE_OK;

	if (n > v->max_line) {
		/* Checked first, as for a line that arrives in pieces. */
		too_long(v);
	} else if (is_blank(p, n)) {
		/* Judged at the next request line; fine at the end. */
		if (has_nl && !v->blank_count++)
			v->blank_first = v->line;
	} else {
		flush_blanks(v);
		count_request(v);
		rc = check_line(v, p, n, &insert, &at, &empty);
		if (rc)
			return rc;
	}
	if (insert)
		rc = emit_inserted(v, p, len, at, empty);
	else
		rc = pass(v, p, len, spannable);
	if (has_nl)
		v->line++;
	return rc;
}

static enum core_rc lb_add(struct jv *v, const char *p, size_t n)
{
	size_t need = v->lb_len + n, ncap;
	char *nb;

	if (need > v->lb_cap) {
		ncap = v->lb_cap ? v->lb_cap : 4096;
		while (ncap < need)
			ncap *= 2;
		if (ncap > v->max_line + 1)
			ncap = v->max_line + 1;
		nb = realloc(v->lb, ncap);
		if (!nb)
			return CORE_ENOMEM;
		v->lb = nb;
		v->lb_cap = ncap;
	}
	memcpy(v->lb + v->lb_len, p, n);
	v->lb_len = need;
	return CORE_OK;
}

static void lb_clear(struct jv *v)
{
	v->lb_len = 0;
	if (v->lb_cap > JV_LB_KEEP) {
		free(v->lb);
		v->lb = NULL;
		v->lb_cap = 0;
	}
}

/* Splits p[0..len) into lines. spannable: p is the caller's buffer. */
static enum core_rc consume(struct jv *v, const char *p, size_t len,
			    bool spannable)
{
	const char *nl;
	size_t take;
	enum core_rc rc;

	while (len) {
		nl = memchr(p, '\n', len);
		if (v->skipping) {
			take = nl ? (size_t)(nl - p) + 1 : len;
			rc = pass(v, p, take, spannable);
			if (rc)
				return rc;
			if (nl) {
				v->skipping = false;
				v->line++;
			}
			p += take;
			len -= take;
			continue;
		}
		take = nl ? (size_t)(nl - p) : len; /* without the '\n' */
		if (nl && !v->lb_len && spannable) {
			/* A whole line in the caller's buffer. */
			rc = line_done(v, p, take + 1, true, true);
			if (rc)
				return rc;
			p += take + 1;
			len -= take + 1;
			continue;
		}
		if (take > v->max_line - v->lb_len) {
			too_long(v);
			rc = pass(v, v->lb, v->lb_len, false);
			lb_clear(v);
			if (rc)
				return rc;
			v->skipping = true;
			continue;
		}
		if (nl)
			take++;
		rc = lb_add(v, p, take);
		if (rc)
			return rc;
		p += take;
		len -= take;
		if (nl) {
			rc = line_done(v, v->lb, v->lb_len, true, false);
			lb_clear(v);
			if (rc)
				return rc;
		}
	}
	return CORE_OK;
}

static enum core_rc stop(struct jv *v, enum core_rc rc, struct core_err *err)
{
	v->span = NULL;
	v->span_len = 0;
	v->stopped = rc;
	if (rc == CORE_ENOMEM)
		return core_err_set(err, rc,
				    "out of memory while validating the input");
	return core_err_set(err, rc,
			    "the output callback stopped the validation (%s)",
			    core_rc_str(rc));
}

static enum core_rc usable(const struct jv *v, struct core_err *err)
{
	if (v->stopped)
		return core_err_set(
			err, v->stopped,
			"the validation was stopped by an earlier error (%s)",
			core_rc_str(v->stopped));
	if (v->finished)
		return core_err_set(err, CORE_EINVAL,
				    "the input was already finished");
	return CORE_OK;
}

enum core_rc jv_feed(struct jv *v, const char *data, size_t len,
		     struct core_err *err)
{
	enum core_rc rc;

	rc = usable(v, err);
	if (rc)
		return rc;
	if (v->max_bytes && len > v->max_bytes - v->rep.bytes_in)
		return core_err_set(err, CORE_ETOOBIG,
				    "the input is larger than %" PRIu64
				    " bytes",
				    v->max_bytes);
	v->rep.bytes_in += len;
	if (!v->bom_decided) {
		while (len && v->bom_held < 3 &&
		       (unsigned char)*data == utf8_bom[v->bom_held]) {
			v->bom_held++;
			data++;
			len--;
		}
		if (v->bom_held == 3) {
			v->bom_decided = v->bom_dropped = true;
			v->rep.transformed = true;
		} else if (len) {
			/* Not a BOM after all: the bytes held are input. */
			v->bom_decided = true;
			rc = consume(v, (const char *)utf8_bom, v->bom_held,
				     false);
			if (rc)
				return stop(v, rc, err);
		} else {
			return CORE_OK;
		}
	}
	rc = consume(v, data, len, true);
	if (!rc)
		rc = flush_all(v);
	if (rc)
		return stop(v, rc, err);
	return CORE_OK;
}

enum core_rc jv_finish(struct jv *v, struct core_err *err)
{
	enum core_rc rc;

	rc = usable(v, err);
	if (rc)
		return rc;
	v->finished = true;
	if (!v->bom_decided) {
		v->bom_decided = true;
		rc = consume(v, (const char *)utf8_bom, v->bom_held, false);
		if (rc)
			return stop(v, rc, err);
	}
	if (v->lb_len) {
		rc = line_done(v, v->lb, v->lb_len, false, false);
		lb_clear(v);
		if (rc)
			return stop(v, rc, err);
	}
	rc = flush_all(v);
	if (rc)
		return stop(v, rc, err);
	v->blank_count = 0; /* blank lines at the end are fine */
	if (!v->rep.requests)
		add_error(v, JV_EMPTY_FILE, 0, "%s", empty_file_msg);
	return CORE_OK;
}

const struct jv_report *jv_report(const struct jv *v)
{
	return &v->rep;
}

enum core_rc jv_report_text(const struct jv *v, struct buf *out)
{
	const struct jv_error *e;
	enum core_rc rc = CORE_OK;
	size_t i;

	for (i = 0; i < v->rep.nerrors && !rc; i++) {
		e = &v->rep.errors[i];
		if (e->line)
			rc = buf_printf(out, "line %" PRIu64 ": %s: %s\n",
					e->line, jv_code_name(e->code),
					e->message);
		else
			rc = buf_printf(out, "file: %s: %s\n",
					jv_code_name(e->code), e->message);
	}
	if (!rc && v->rep.errors_total > v->rep.nerrors)
		rc = buf_printf(out, "... and %" PRIu64 " more\n",
				v->rep.errors_total - v->rep.nerrors);
	return rc;
}

size_t jv_memory(const struct jv *v)
{
	return sizeof(*v) + v->dep_len + 1 + v->ins_len + 1 + v->model_cap +
	       v->errs_cap * sizeof(*v->errs) + v->lb_cap +
	       (v->ob ? JV_OUT_CHUNK : 0) +
	       v->ids.cap * (sizeof(*v->ids.hash) + sizeof(*v->ids.line));
}

/* "\"model\": \"<d JSON-escaped>\", " */
static char *make_insertion(const char *d, size_t len, size_t *outlen)
{
	static const char hexd[] = "0123456789abcdef";
	char *o = malloc(len * 6 + 16), *q;
	size_t i;
	unsigned char c;

	if (!o)
		return NULL;
	q = o;
	memcpy(q, "\"model\": \"", 10);
	q += 10;
	for (i = 0; i < len; i++) {
		c = (unsigned char)d[i];
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
	memcpy(q, "\", ", 4);
	*outlen = (size_t)(q - o) + 3;
	return o;
}

enum core_rc jv_new(const struct jv_config *cfg, jv_emit_fn emit,
		    void *emit_ctx, struct jv **out, struct core_err *err)
{
	struct jv *v;
	size_t dl;

	*out = NULL;
	if (!cfg || !emit || !cfg->deployment || !cfg->deployment[0])
		return core_err_set(err, CORE_EINVAL,
				    "a deployment name is required");
	dl = strlen(cfg->deployment);
	if (utf8_first_invalid((const unsigned char *)cfg->deployment, dl) < dl)
		return core_err_set(err, CORE_EINVAL,
				    "the deployment name is not valid UTF-8");
	v = calloc(1, sizeof(*v));
	if (!v)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	v->emit = emit;
	v->emit_ctx = emit_ctx;
	v->dep_len = dl;
	v->dep = strdup(cfg->deployment);
	v->ins = make_insertion(cfg->deployment, dl, &v->ins_len);
	v->ins_empty = v->ins_len - 2;
	v->model_cap = dl > JV_SHOW ? dl : JV_SHOW;
	v->model = malloc(v->model_cap);
	if (!v->dep || !v->ins || !v->model) {
		jv_free(v);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	v->max_requests = cfg->max_requests;
	v->max_bytes = cfg->max_bytes;
	v->max_line =
		cfg->max_line_bytes ? cfg->max_line_bytes : JV_DEFAULT_MAX_LINE;
	if (v->max_line > SIZE_MAX / 4)
		v->max_line = SIZE_MAX / 4;
	v->max_errors =
		cfg->max_errors ? cfg->max_errors : JV_DEFAULT_MAX_ERRORS;
	v->line = 1;
	*out = v;
	return CORE_OK;
}

void jv_free(struct jv *v)
{
	if (!v)
		return;
	free(v->dep);
	free(v->ins);
	free(v->model);
	free(v->errs);
	free(v->lb);
	free(v->ob);
	free(v->ids.hash);
	free(v->ids.line);
	free(v);
}
