/* SPDX-License-Identifier: MIT */
/* test_buf.c: the bounded buffer. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

int main(void)
{
	struct buf b = BUF_INIT(0), lim = BUF_INIT(8);
	char *s;
	int i;

	ok(buf_add(&b, "abc", 3) == CORE_OK, "add");
	ok(b.len == 3 && strcmp(b.data, "abc") == 0, "content and NUL");
	ok(buf_printf(&b, "-%d-", 42) == CORE_OK && strcmp(b.data, "abc-42-") == 0,
	   "printf appends");
	for (i = 0; i < 1000; i++)
		if (buf_addstr(&b, "0123456789"))
			break;
	ok(i == 1000 && b.len == 7 + 10000, "grows past the first chunk");
	buf_reset(&b);
	ok(b.len == 0 && b.data[0] == '\0', "reset empties");
	s = buf_take(&b);
	ok(s && *s == '\0' && b.data == NULL, "take hands over");
	free(s);
	s = buf_take(&b);
	ok(s && *s == '\0', "take of an empty buffer gives \"\"");
	free(s);
	ok(buf_add(&lim, "12345678", 8) == CORE_OK, "up to the limit");
	ok(buf_add(&lim, "9", 1) == CORE_ETOOBIG, "past the limit fails");
	ok(lim.len == 8 && strcmp(lim.data, "12345678") == 0,
	   "a failed add leaves the buffer as it was");
	ok(buf_add(&lim, "", 0) == CORE_OK, "empty add at the limit");
	buf_release(&lim);
	ok(lim.data == NULL && lim.limit == 8, "release keeps the limit");
	ok(buf_add(&lim, "x", (size_t)-1) == CORE_ETOOBIG, "size overflow refused");
	buf_release(&b);
	return done_testing();
}
