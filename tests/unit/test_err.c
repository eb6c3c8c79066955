/* SPDX-License-Identifier: MIT */
/* test_err.c: result-code names and error formatting. */
#include <string.h>

#include "err.h"
#include "tap.h"

int main(void)
{
	static const struct {
		enum core_rc rc;
		const char *str, *name;
	} cases[] = {
		{ CORE_OK, "ok", "CORE_OK" },
		{ CORE_ENOTFOUND, "not found", "CORE_ENOTFOUND" },
		{ CORE_ETHROTTLED, "rate limited", "CORE_ETHROTTLED" },
		{ CORE_EAMBIGUOUS, "outcome unknown", "CORE_EAMBIGUOUS" },
		{ CORE_ECANCELLED, "cancelled", "CORE_ECANCELLED" },
	};
	struct core_err err = CORE_ERR_INIT;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok(strcmp(core_rc_str(cases[i].rc), cases[i].str) == 0, "str %s",
		   cases[i].str);
		ok(strcmp(core_rc_name(cases[i].rc), cases[i].name) == 0, "name %s",
		   cases[i].name);
	}
	for (rc = 0; rc < CORE_RC_COUNT; rc++)
		ok(core_rc_str((enum core_rc)rc) && *core_rc_str((enum core_rc)rc),
		   "every code has a string (%d)", rc);
	ok(strcmp(core_rc_str((enum core_rc)999), "unknown error") == 0,
	   "out-of-range code is safe");
	ok(core_err_set(&err, CORE_EPARSE, "bad %s", "json") == CORE_EPARSE,
	   "core_err_set returns rc");
	ok(err.rc == CORE_EPARSE && strcmp(err.msg, "bad json") == 0, "formats msg");
	ok(err.retry_after_ms == -1 && err.http_status == 0, "init values kept");
	ok(core_err_set(NULL, CORE_EIO, "x") == CORE_EIO, "NULL err allowed");
	core_err_set(&err, CORE_EIO, "%s", "0123456789012345678901234567890123456789"
					   "0123456789012345678901234567890123456789"
					   "0123456789012345678901234567890123456789"
					   "0123456789012345678901234567890123456789"
					   "0123456789012345678901234567890123456789"
					   "0123456789012345678901234567890123456789"
					   "0123456789012345678901234567890123456789");
	ok(strlen(err.msg) == sizeof(err.msg) - 1 || strlen(err.msg) == 280,
	   "long messages are bounded");
	core_err_clear(&err);
	ok(err.rc == CORE_OK && err.msg[0] == '\0' && err.retry_after_ms == -1,
	   "clear resets");
	return done_testing();
}
