/* SPDX-License-Identifier: Apache-2.0 */
/* The one translation of LMDB's error codes into the vault's negative errnos. */
#include <errno.h>

#include "internal.h"

int vault__err_from_mdb(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return VAULT__EMAPFULL;
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
	case MDB_TLS_FULL:
		return -EAGAIN;
	case MDB_MAP_RESIZED:
		return -ESTALE;
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_DBI:
		return -EBADMSG;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_PANIC:
	case MDB_BAD_RSLOT:
	case MDB_BAD_TXN:
	case MDB_BAD_VALSIZE:
		return -EIO;
	case MDB_DBS_FULL:
		return -EMFILE;
	case ENOSPC: /* the disk, a quota or the file size limit: the vault is full */
	case EDQUOT:
	case EFBIG:
		return -ENOSPC;
	default:
		if (rc > 0)
			return -rc;
		if (rc > -4096) /* already a negative errno (vault__get's checks) */
			return rc;
		return -EIO;
	}
}
