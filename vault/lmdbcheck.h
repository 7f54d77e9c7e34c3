/* SPDX-License-Identifier: Apache-2.0 */
/* A checker of LMDB's page format (internal to the vault library; vault/FORMAT.md §1).
 *
 * LMDB trusts its file: a damaged node offset, key or data size, overflow page count or child
 * page number makes it read outside the page, outside the file (SIGBUS: the map is larger than
 * the file) or trip one of its assertions (abort). So before a reader lets LMDB walk data.mdb,
 * this checks what LMDB will walk, with bounds checks before every access: the two meta pages,
 * then the main database of the reader's snapshot whole, then of each named database the pages
 * an operation is about to reach, just before it (or every page, for a reader that reads
 * everything). Everything LMDB dereferences on the read paths is checked, and key order too
 * (a cursor's moves between pages must be the ones a search would make, or it would reach
 * pages not checked); what it copies out (value bytes) is the vault's business. The free-page
 * database is not walked: read transactions never open it.
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

/* A snapshot being read: what of its B-trees was checked (FORMAT.md §1). Pages are read
 * through a map of the file as long as it was when the snapshot was opened, never beyond. */
struct vault__lmdb_snap;

/* Opens the snapshot of transaction txnid, which meta page `meta` (0 or 1) starts, as read from
 * fd now, and checks its main database whole (a record per named database). Returns 0 and
 * *ret (free with vault__lmdb_snap_free); -ESTALE when the meta page no longer holds txnid (a
 * live writer committed twice since: begin a newer snapshot); -EUCLEAN with "page N: problem"
 * in err; -EIO, -ENOMEM. */
int vault__lmdb_snap_open(int fd, const struct vault__lmdb_metas *m, unsigned meta, uint64_t txnid,
                          struct vault__lmdb_snap **ret, char *err, size_t err_size);
void vault__lmdb_snap_free(struct vault__lmdb_snap *s); /* takes NULL */
uint64_t vault__lmdb_snap_txnid(const struct vault__lmdb_snap *s);

/* What a cursor operation of LMDB is about to read of a named database. */
enum vault__lmdb_op {
	VAULT__LMDB_KEY,   /* mdb_get, MDB_SET, MDB_SET_KEY: the search path of key */
	VAULT__LMDB_RANGE, /* MDB_SET_RANGE: that path, and the next leaf when key is past its last
	                    */
	VAULT__LMDB_FIRST, /* MDB_FIRST (and MDB_NEXT of a cursor not yet positioned) */
	VAULT__LMDB_LAST,  /* MDB_LAST (and MDB_PREV of a cursor not yet positioned) */
	VAULT__LMDB_NEXT, /* MDB_NEXT from key: key's leaf, and the next one when key is its last */
	VAULT__LMDB_PREV, /* MDB_PREV from key: likewise the previous leaf */
};

/* Checks, before LMDB reads them, the pages of database db (its name in the main database) that
 * the operation reaches: each page as the whole walk checks it, plus key order inside the page
 * and inside the bounds its parent gives it, so that the checked pages form a correctly ordered
 * part of a B-tree and a cursor between them is where a search for its key puts it. Pages
 * checked before are not read again. A database the snapshot lacks passes (LMDB reads none of
 * it). Returns 0; -EUCLEAN with "page N: problem" in err (and every later call fails the same
 * way); -ENOMEM. Not thread-safe: one caller at a time. */
int vault__lmdb_snap_check(struct vault__lmdb_snap *s, const char *db, enum vault__lmdb_op op,
                           const void *key, size_t klen, char *err, size_t err_size);
/* Checks every page of every named database and their entry counts (a whole walk: what a
 * reader that reads everything pays once), the databases on up to `threads` threads at once
 * (each whole on one; 0 or 1: on the caller's). Returns as vault__lmdb_snap_check; also
 * -EAGAIN when a thread cannot be started (nothing is then known about the pages). */
int vault__lmdb_snap_check_all(struct vault__lmdb_snap *s, unsigned threads, char *err,
                               size_t err_size);

/* Walks every B-tree of the snapshot of transaction txnid, which meta page `meta` (0 or 1)
 * starts, as read from fd now: every page is in the file, is the page its parent names, is visited
 * once, has the type its depth requires, and every node lies inside its page; overflow values fit
 * their pages; the named databases are plain (no duplicates) and their records' depth and entry
 * counts are right: vault__lmdb_snap_open and vault__lmdb_snap_check_all on up to `threads`
 * threads (8 bytes of memory per page of the file). Returns 0; -ESTALE when the meta page no longer
 * holds txnid (a live writer committed twice since: begin a newer snapshot); -EUCLEAN with "page N:
 * problem" in err; -EIO, -ENOMEM. */
int vault__lmdb_check_snapshot(int fd, const struct vault__lmdb_metas *m, unsigned meta,
                               uint64_t txnid, unsigned threads, char *err, size_t err_size);
