/* SPDX-License-Identifier: MIT */
/* tap.c: TAP output, fixture loading and helpers for the unit tests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tap.h"

static int tests_run, tests_failed;

bool tap_ok(bool pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tests_run++;
	if (!pass)
		tests_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tests_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
	return pass;
}

int done_testing(void)
{
	printf("1..%d\n", tests_run);
	return tests_failed ? 1 : 0;
}

char *fixture(const char *name, size_t *len)
{
	const char *dir = getenv("BATCHFS_FIXTURES");
	char path[4096];
	FILE *f;
	char *data;
	long n;

	if (!dir)
		dir = "tests/fixtures";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		printf("Bail out! cannot read fixture %s\n", path);
		exit(1);
	}
	rewind(f);
	data = malloc((size_t)n + 1);
	if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
		printf("Bail out! cannot read fixture %s\n", path);
		exit(1);
	}
	fclose(f);
	data[n] = '\0';
	if (len)
		*len = (size_t)n;
	return data;
}

char *example_body(const char *name, const char *code, size_t *len)
{
	char path[512], *text, *out;
	cJSON *root, *body;

	snprintf(path, sizeof(path), "specs/%s", name);
	text = fixture(path, NULL);
	root = cJSON_Parse(text);
	body = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "responses"),
						       code),
				   "body");
	if (!body) {
		printf("Bail out! %s has no body for %s\n", name, code);
		exit(1);
	}
	out = cJSON_PrintUnformatted(body);
	cJSON_Delete(root);
	free(text);
	if (len)
		*len = strlen(out);
	return out;
}

char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	if (!s) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}
