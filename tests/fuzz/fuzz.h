/* SPDX-License-Identifier: MIT */
/* fuzz.h: what the libFuzzer harnesses share: the entry point and a checked-invariant macro. */
#ifndef BATCHFS_FUZZ_H
#define BATCHFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer calls this once per input; always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An invariant that must hold for every input. A failure prints the
 * condition and aborts, which libFuzzer reports as a crash and saves the
 * input as crash-<sha1> (reproduce with: ./fuzz_x crash-<sha1>).
 */
#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			fuzz_fail(__FILE__, __LINE__, #cond);                 \
	} while (0)

__attribute__((noreturn)) static inline void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
	abort();
}

/* A NUL-terminated heap copy of the input (so ASan sees overreads). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* NULL, or a non-empty string: the model.h rule for every parsed string. */
static inline int fuzz_str_ok(const char *s)
{
	return !s || s[0] != '\0';
}

/* Both NULL, or equal strings in different allocations (a deep copy). */
static inline int fuzz_str_copied(const char *a, const char *b)
{
	if (!a || !b)
		return !a && !b;
	return a != b && strcmp(a, b) == 0;
}

#endif
