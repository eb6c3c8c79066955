/* SPDX-License-Identifier: MIT */
/* err.c: core result codes, their names, and error formatting. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* clang-format off */
static const struct {
	const char *str;
	const char *name;
} rc_names[CORE_RC_COUNT] = {
	[CORE_OK]	  = { "ok",			"CORE_OK" },
	[CORE_EINVAL]	  = { "invalid request",	"CORE_EINVAL" },
	[CORE_ENOMEM]	  = { "out of memory",		"CORE_ENOMEM" },
	[CORE_EIO]	  = { "local i/o error",	"CORE_EIO" },
	[CORE_ETOOBIG]	  = { "too big",		"CORE_ETOOBIG" },
	[CORE_ENOTFOUND]  = { "not found",		"CORE_ENOTFOUND" },
	[CORE_EAUTH]	  = { "not authorized",		"CORE_EAUTH" },
	[CORE_ETHROTTLED] = { "rate limited",		"CORE_ETHROTTLED" },
	[CORE_EQUOTA]	  = { "quota exceeded",		"CORE_EQUOTA" },
	[CORE_ECONFLICT]  = { "conflict",		"CORE_ECONFLICT" },
	[CORE_EPARSE]	  = { "unparsable response",	"CORE_EPARSE" },
	[CORE_ETRANSPORT] = { "transport error",	"CORE_ETRANSPORT" },
	[CORE_ETIMEDOUT]  = { "timed out",		"CORE_ETIMEDOUT" },
	[CORE_EAMBIGUOUS] = { "outcome unknown",	"CORE_EAMBIGUOUS" },
	[CORE_EHTTP]	  = { "http error",		"CORE_EHTTP" },
	[CORE_ECANCELLED] = { "cancelled",		"CORE_ECANCELLED" },
	[CORE_ENOSPC]	  = { "no space",		"CORE_ENOSPC" },
};
/* clang-format on */

void core_err_clear(struct core_err *err)
{
	static const struct core_err init = CORE_ERR_INIT;

	if (err)
		*err = init;
}

enum core_rc core_err_set(struct core_err *err, enum core_rc rc,
			  const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return rc;
	err->rc = rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

const char *core_rc_str(enum core_rc rc)
{
	if ((unsigned)rc >= CORE_RC_COUNT)
		return "unknown error";
	return rc_names[rc].str;
}

const char *core_rc_name(enum core_rc rc)
{
	if ((unsigned)rc >= CORE_RC_COUNT)
		return "CORE_E?";
	return rc_names[rc].name;
}
