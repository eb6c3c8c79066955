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

const char *bfs_hint(enum core_rc rc)
{
	/* What a user can do about it: the one line .batchfs/errors and the log
	 * add after the reason. */
	switch (rc) {
	case CORE_EAUTH:
		return " (check the key or token: see .batchfs/credential)";
	case CORE_ETHROTTLED:
		return " (the service throttles: try again later)";
	case CORE_EQUOTA:
		return " (the quota is full: wait for running batches to finish, then copy again)";
	case CORE_ETRANSPORT:
	case CORE_EHTTP:
		return " (the service or the network failed: try again; see .batchfs/stats)";
	case CORE_ETIMEDOUT:
		return " (too slow: check the network, or raise -o deadline_ms=)";
	case CORE_EPARSE:
		return " (the service sent an answer batchfs cannot read)";
	case CORE_ENOSPC:
		return " (free space: rm old receipts in submit/, or raise -o spool_size=)";
	case CORE_EAMBIGUOUS:
		return " (the outcome is unknown: look in batches/ before copying again)";
	default:
		return "";
	}
}
