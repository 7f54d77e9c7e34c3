/* SPDX-License-Identifier: Apache-2.0 */
/* A checker of LMDB's page format (internal to the vault library; vault/FORMAT.md §1).
 *
 * LMDB trusts its file: a damaged node offset, key or data size, overflow page count or child
 * page number makes it read outside the page, outside the file (SIGBUS: the map is larger than
 * the file) or trip one of its assertions (abort). So before a reader lets LMDB walk data.mdb,
 * this walks what LMDB will walk, with pread and bounds checks only: the two meta pages, then
 * every B-tree reachable from the meta page of the reader's snapshot (the main database and
 * every named database recorded in it). Everything LMDB dereferences on the read paths is
 * checked; what it merely compares or copies out (key order, value bytes) is the vault's
 * business. The free-page database is not walked: read transactions never open it.
 *
 * The layout is LMDB 0.9's (MDB_DATA_VERSION 1) with the native pgno_t (size_t): page header
 * {pgno, pad u16, flags u16, lower u16, upper u16 | overflow page count u32}, node
 * {lo u16, hi u16, flags u16, key size u16, key, data}, meta {magic, version, address,
 * mapsize, free and main database records, last page, txnid} after the header of pages 0 and
 * 1, host byte order. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* What the meta pages say (both checked). */
struct vault__lmdb_metas {
	uint64_t file_size; /* bytes of data.mdb when read */
	uint32_t psize;
	uint64_t txnid[2]; /* of meta page 0 and 1 */
};

/* Reads and checks both meta pages of the data file open at fd, as LMDB reads them when it
 * opens the file. Returns 0 and *ret; -EBADMSG when neither page is an LMDB meta page (not an
 * LMDB file: empty, or something else); -EUCLEAN when the file is LMDB's but a meta page is
 * damaged; -EIO (or another negative errno) when the file cannot be read. On -EBADMSG and
 * -EUCLEAN err receives a one-line reason, "page N: ..." (NUL-terminated, truncated to
 * err_size). */
int vault__lmdb_check_metas(int fd, struct vault__lmdb_metas *ret, char *err, size_t err_size);

/* Walks every B-tree of the snapshot of transaction txnid, which meta page `meta` (0 or 1)
 * starts, as read from fd now: every page is in the file, is the page its parent names, is visited
 * once, has the type its depth requires, and every node lies inside its page; overflow values fit
 * their pages; the named databases are plain (no duplicates) and their records' depth and entry
 * counts are right. Reads each page once (pread); allocates about 40 page buffers and one bit per
 * page of the file. Returns 0; -ESTALE when the meta page no longer holds txnid (a live writer
 * committed twice since: begin a newer snapshot); -EUCLEAN with "page N: problem" in err;
 * -EIO, -ENOMEM. */
int vault__lmdb_check_snapshot(int fd, const struct vault__lmdb_metas *m, unsigned meta,
                               uint64_t txnid, char *err, size_t err_size);
