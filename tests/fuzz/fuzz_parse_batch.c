/* fuzz_parse_batch.c: fuzzes parse_batch, parse_batch_page and json_pretty (core/parse_batch.c, core/render.c) on the same bytes. */
/* SPDX-License-Identifier: MIT */
/*
 * Invariants: only CORE_OK or CORE_EPARSE; a parsed batch follows model.h
 * (id set, every string NULL or non-empty, times 0 or positive, statuses in
 * range); batch_copy() is a deep, equal copy; raw_json parses back to an
 * equal batch; json_pretty() accepts every object the parsers accept and is
 * idempotent.
 */
#include <math.h>
#include <stdbool.h>

#include "buf.h"
#include "fuzz.h"
#include "parse.h"

#define TIME_MAX_S ((int64_t)1000000000000000LL) /* json_get_time's 1e15 */

static void check_batch(const struct batch *b)
{
	const char *const strs[] = { b->endpoint, b->model, b->input_file_id,
				     b->output_file_id, b->error_file_id,
				     b->completion_window, b->status_raw };
	const int64_t times[] = { b->created_at, b->in_progress_at,
				  b->expires_at, b->finalizing_at,
				  b->completed_at, b->failed_at,
				  b->expired_at, b->cancelling_at,
				  b->cancelled_at };
	size_t i;

	FUZZ_CHECK(b->id && b->id[0]);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		FUZZ_CHECK(fuzz_str_ok(strs[i]));
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		FUZZ_CHECK(times[i] >= 0 && times[i] <= TIME_MAX_S);
	FUZZ_CHECK((unsigned)b->status < BATCH_STATUS_COUNT);
	FUZZ_CHECK(b->status == batch_status_parse(b->status_raw));
	FUZZ_CHECK(b->nerrors == 0 || b->errors);
	for (i = 0; i < b->nerrors; i++) {
		FUZZ_CHECK(fuzz_str_ok(b->errors[i].code));
		FUZZ_CHECK(fuzz_str_ok(b->errors[i].message));
		FUZZ_CHECK(fuzz_str_ok(b->errors[i].param));
	}
	FUZZ_CHECK(b->nmetadata == 0 || b->metadata);
	for (i = 0; i < b->nmetadata; i++) {
		FUZZ_CHECK(b->metadata[i].key != NULL);
		FUZZ_CHECK(b->metadata[i].value && b->metadata[i].value[0]);
		/* The lookup finds the first value under a key. */
		FUZZ_CHECK(batch_metadata_get(b, b->metadata[i].key) != NULL);
	}
	FUZZ_CHECK(b->raw_json && b->raw_json[0] == '{');
}

/*
 * After a round trip through raw_json, numbers may differ in their last
 * digits: cJSON prints 15 significant digits whenever its own (relative)
 * comparison finds them close enough. Strings made from numbers and
 * integers past 2^53 are compared with that tolerance.
 */
static bool num_close(double a, double b)
{
	return a == b || fabs(a - b) <= 1e-13 * fmax(fabs(a), fabs(b));
}

static bool str_close(const char *a, const char *b)
{
	char *ea, *eb;
	double x, y;

	if (!a || !b)
		return !a && !b;
	if (!strcmp(a, b))
		return true;
	x = strtod(a, &ea);
	y = strtod(b, &eb);
	return !*ea && !*eb && isfinite(x) && isfinite(y) && num_close(x, y);
}

/* deep: equal strings in separate allocations; else equal up to number
 * printing. */
static bool batch_equal(const struct batch *a, const struct batch *b,
			bool deep)
{
#define S(f) (deep ? fuzz_str_copied(a->f, b->f) : str_close(a->f, b->f))
#define I(f) (deep ? a->f == b->f : num_close((double)a->f, (double)b->f))
	size_t i;

	if (!S(id) || !S(endpoint) || !S(model) || !S(input_file_id) ||
	    !S(output_file_id) || !S(error_file_id) || !S(completion_window) ||
	    !S(status_raw) || a->status != b->status ||
	    a->created_at != b->created_at ||
	    a->in_progress_at != b->in_progress_at ||
	    a->expires_at != b->expires_at ||
	    a->finalizing_at != b->finalizing_at ||
	    a->completed_at != b->completed_at ||
	    a->failed_at != b->failed_at || a->expired_at != b->expired_at ||
	    a->cancelling_at != b->cancelling_at ||
	    a->cancelled_at != b->cancelled_at || !I(counts.total) ||
	    !I(counts.completed) || !I(counts.failed) ||
	    !I(usage.input_tokens) || !I(usage.cached_tokens) ||
	    !I(usage.output_tokens) || !I(usage.reasoning_tokens) ||
	    !I(usage.total_tokens) || a->nerrors != b->nerrors ||
	    a->nmetadata != b->nmetadata)
		return false;
	if (deep && (!S(raw_json) || (a->nerrors && a->errors == b->errors) ||
		     (a->nmetadata && a->metadata == b->metadata)))
		return false;
	for (i = 0; i < a->nerrors; i++)
		if (!S(errors[i].code) || !S(errors[i].message) ||
		    !S(errors[i].param) || !I(errors[i].line))
			return false;
	for (i = 0; i < a->nmetadata; i++)
		if (!S(metadata[i].key) || !S(metadata[i].value))
			return false;
	return true;
#undef S
#undef I
}

/* The deep copy and the round trip through raw_json. */
static void check_copies(const struct batch *b)
{
	struct core_err err = CORE_ERR_INIT;
	struct batch c, again;

	FUZZ_CHECK(batch_copy(&c, b) == CORE_OK);
	FUZZ_CHECK(batch_equal(b, &c, true));
	batch_release(&c);
	FUZZ_CHECK(c.id == NULL && c.nerrors == 0); /* release zeroes */
	batch_release(&c);			    /* and is idempotent */

	FUZZ_CHECK(parse_batch(b->raw_json, strlen(b->raw_json), &again,
			       &err) == CORE_OK);
	FUZZ_CHECK(batch_equal(b, &again, false));
	/* Printing what it printed gives the same text (a fixed point). */
	FUZZ_CHECK(!strcmp(b->raw_json, again.raw_json));
	batch_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	struct core_err err = CORE_ERR_INIT;
	struct buf pretty = BUF_INIT(0), pretty2 = BUF_INIT(0);
	struct batch b;
	struct batch_page page;
	enum core_rc rb, rp, rj;
	size_t i;

	rb = parse_batch(json, size, &b, &err);
	FUZZ_CHECK(rb == CORE_OK || rb == CORE_EPARSE);
	if (rb == CORE_OK) {
		check_batch(&b);
		check_copies(&b);
	} else {
		FUZZ_CHECK(b.id == NULL && b.raw_json == NULL && b.nerrors == 0);
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	batch_release(&b);

	core_err_clear(&err);
	rp = parse_batch_page(json, size, &page, &err);
	FUZZ_CHECK(rp == CORE_OK || rp == CORE_EPARSE);
	if (rp == CORE_OK) {
		FUZZ_CHECK(page.n == 0 || page.items);
		for (i = 0; i < page.n; i++)
			check_batch(&page.items[i]);
		FUZZ_CHECK(fuzz_str_ok(page.first_id));
		FUZZ_CHECK(fuzz_str_ok(page.last_id));
		FUZZ_CHECK(page.n == 0 || page.last_id);
	} else {
		FUZZ_CHECK(page.n == 0 && !page.items && !page.first_id &&
			   !page.last_id);
	}
	batch_page_release(&page);

	core_err_clear(&err);
	rj = json_pretty(json, size, &pretty, &err);
	FUZZ_CHECK(rj == CORE_OK || rj == CORE_EPARSE);
	/* Whatever the parsers accept is JSON. */
	if (rb == CORE_OK || rp == CORE_OK)
		FUZZ_CHECK(rj == CORE_OK);
	if (rj == CORE_OK) {
		FUZZ_CHECK(pretty.len > 0 && pretty.data[pretty.len - 1] == '\n');
		FUZZ_CHECK(strlen(pretty.data) == pretty.len);
		FUZZ_CHECK(json_pretty(pretty.data, pretty.len, &pretty2,
				       &err) == CORE_OK);
		FUZZ_CHECK(pretty2.len == pretty.len &&
			   !memcmp(pretty.data, pretty2.data, pretty.len));
	}
	buf_release(&pretty);
	buf_release(&pretty2);
	return 0;
}
