/* SPDX-License-Identifier: MIT */
/* tap.h: a minimal TAP producer for the unit tests. */
#ifndef BATCHFS_TAP_H
#define BATCHFS_TAP_H

#include <stdbool.h>
#include <stddef.h>

/* ok() evaluates cond exactly once (it is a function argument). */
#define ok(cond, ...) tap_ok((cond) ? true : false, __FILE__, __LINE__, __VA_ARGS__)

bool tap_ok(bool pass, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prints the plan "1..N" and returns the exit status (0 if all passed). */
int done_testing(void);
/* Reads BATCHFS_FIXTURES/name into a heap buffer (NUL-terminated); aborts the
 * test run with a failure when missing. */
char *fixture(const char *name, size_t *len);
/* The response body for HTTP status `code` of a spec example file under
 * fixtures/specs/ (its "responses": {code: {"body": ...}}), as JSON text. */
char *example_body(const char *name, const char *code, size_t *len);
/* A heap string of n copies of ch. */
char *repeat(char ch, size_t n);

#endif
