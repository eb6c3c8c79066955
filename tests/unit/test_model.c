/* SPDX-License-Identifier: MIT */
/* test_model.c: status names in every case and spelling the service uses. */
#include <string.h>

#include "model.h"
#include "tap.h"

int main(void)
{
	static const struct {
		const char *in;
		enum batch_status want;
	} cases[] = {
		{ "validating", BATCH_STATUS_VALIDATING },
		{ "Validating", BATCH_STATUS_VALIDATING },
		{ "VALIDATING", BATCH_STATUS_VALIDATING },
		{ "in_progress", BATCH_STATUS_IN_PROGRESS },
		{ "In_Progress", BATCH_STATUS_IN_PROGRESS },
		{ "InProgress", BATCH_STATUS_IN_PROGRESS },
		{ "in-progress", BATCH_STATUS_IN_PROGRESS },
		{ "Finalizing", BATCH_STATUS_FINALIZING },
		{ "Completed", BATCH_STATUS_COMPLETED },
		{ "failed", BATCH_STATUS_FAILED },
		{ "Expired", BATCH_STATUS_EXPIRED },
		{ "cancelling", BATCH_STATUS_CANCELLING },
		{ "Canceling", BATCH_STATUS_CANCELLING },
		{ "Cancelled", BATCH_STATUS_CANCELLED },
		{ "canceled", BATCH_STATUS_CANCELLED },
		{ "", BATCH_STATUS_UNKNOWN },
		{ "done", BATCH_STATUS_UNKNOWN },
		{ "completedX", BATCH_STATUS_UNKNOWN },
		{ "complete", BATCH_STATUS_UNKNOWN },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(batch_status_parse(cases[i].in) == cases[i].want, "status '%s'",
		   cases[i].in);
	ok(batch_status_parse(NULL) == BATCH_STATUS_UNKNOWN, "NULL status");
	ok(strcmp(batch_status_name(BATCH_STATUS_IN_PROGRESS), "in_progress") == 0,
	   "canonical name");
	ok(batch_status_is_terminal(BATCH_STATUS_COMPLETED) &&
		   batch_status_is_terminal(BATCH_STATUS_FAILED) &&
		   batch_status_is_terminal(BATCH_STATUS_EXPIRED) &&
		   batch_status_is_terminal(BATCH_STATUS_CANCELLED),
	   "terminal states");
	ok(!batch_status_is_terminal(BATCH_STATUS_CANCELLING) &&
		   !batch_status_is_terminal(BATCH_STATUS_VALIDATING),
	   "non-terminal states");
	ok(file_status_parse("Processed") == FILE_STATUS_PROCESSED, "file processed");
	ok(file_status_parse("pending") == FILE_STATUS_PENDING, "file pending");
	ok(file_status_parse(NULL) == FILE_STATUS_UNKNOWN, "file status null");
	ok(strcmp(file_status_name(FILE_STATUS_ERROR), "error") == 0, "file name");
	return done_testing();
}
