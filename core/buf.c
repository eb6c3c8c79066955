/* SPDX-License-Identifier: MIT */
/* buf.c: bounded growable byte buffer. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static enum core_rc buf_grow(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *n;

	if (extra > SIZE_MAX - b->len - 1)
		return CORE_ETOOBIG;
	need = b->len + extra + 1;
	if (b->limit && need - 1 > b->limit)
		return CORE_ETOOBIG;
	if (need <= b->cap)
		return CORE_OK;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	n = realloc(b->data, ncap);
	if (!n)
		return CORE_ENOMEM;
	b->data = n;
	b->cap = ncap;
	return CORE_OK;
}

enum core_rc buf_add(struct buf *b, const void *data, size_t len)
{
	enum core_rc rc = buf_grow(b, len);

	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return CORE_OK;
}

enum core_rc buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

enum core_rc buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	enum core_rc rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return CORE_EINVAL;
	rc = buf_grow(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return CORE_OK;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *buf_take(struct buf *b)
{
	char *p = b->data;

	if (!p)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
