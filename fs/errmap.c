/* SPDX-License-Identifier: MIT */
/* errmap.c: the one table from core result codes to errno (README "Errors"). */
#include <errno.h>

#include "bfs.h"

int bfs_errno(enum core_rc rc)
{
	/* clang-format off */
	switch (rc) {
	case CORE_OK:		return 0;
	case CORE_EINVAL:	return -EINVAL;	   /* invalid input, 400 */
	case CORE_ENOMEM:	return -ENOMEM;
	case CORE_EIO:		return -EIO;	   /* local disk */
	case CORE_ETOOBIG:	return -EFBIG;	   /* over the input size limit, 413 */
	case CORE_ENOTFOUND:	return -ENOENT;	   /* 404 */
	case CORE_EAUTH:	return -EACCES;	   /* 401, 403 */
	case CORE_ETHROTTLED:	return -EAGAIN;	   /* 429 after the retry budget */
	case CORE_EQUOTA:	return -EDQUOT;	   /* token_limit_exceeded, file quota */
	case CORE_ECONFLICT:	return -EBUSY;	   /* 409: wrong state */
	case CORE_EPARSE:	return -EBADMSG;   /* unparsable answer */
	case CORE_ETRANSPORT:	return -EIO;	   /* network down, reset, TLS */
	case CORE_ETIMEDOUT:	return -ETIMEDOUT; /* deadline, stall, 408/504 */
	case CORE_EAMBIGUOUS:	return -EIO;	   /* outcome unknown; see .error */
	case CORE_EHTTP:	return -EIO;	   /* 5xx after retries */
	case CORE_ECANCELLED:	return -EINTR;
	case CORE_ENOSPC:	return -ENOSPC;	   /* spool or cache budget */
	case CORE_RC_COUNT:	break;
	}
	/* clang-format on */
	return -EIO;
}
