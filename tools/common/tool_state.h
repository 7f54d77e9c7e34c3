/* SPDX-License-Identifier: Apache-2.0 */
/* The LMDB state evident-witness and evident-auditor each keep under --state DIR: an LMDB
 * environment with named databases, one of which ("meta" by convention) holds "format" = the
 * program's format line, so that neither program opens the other's state (or anything else).
 * A library: every function returns 0 or a negative errno, none logs or exits. */
#ifndef EVIDENT_TOOLS_TOOL_STATE_H
#define EVIDENT_TOOLS_TOOL_STATE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct tool_state_spec {
	const char *const *db_names; /* the named databases, opened into dbi[i] */
	unsigned n_dbs;
	unsigned meta_db;   /* the database holding "format" */
	unsigned first_db;  /* a state without "format" is new only when this one is empty */
	const char *format; /* the format line, written into a new state */
	size_t map_size;    /* mdb_env_set_mapsize */
	unsigned env_flags; /* mdb_env_open flags besides MDB_RDONLY (0: every commit synced) */
	mode_t mode;        /* of data.mdb and lock.mdb when created */
};

/* Opens the state in the existing folder dir: read_only needs DIR/data.mdb to exist; otherwise
 * a missing state is created with spec->format. On success *ret_env is the caller's
 * (mdb_env_close) and ret_dbi[0 .. n_dbs-1] are the databases' handles. Returns 0;
 * -ENAMETOOLONG; -ENOENT (read_only and no state); -EBADMSG (a database is missing, the
 * format line differs, or a non-empty state lacks it: not this program's state); -ENOSPC;
 * -EIO (LMDB corruption, version mismatch); another negative errno from the system. */
int tool_state_open(const char *dir, bool read_only, const struct tool_state_spec *spec,
                    MDB_env **ret_env, MDB_dbi *ret_dbi);

/* Begins a read-only transaction on env and opens a cursor on dbi in it, for a walk. On
 * success *ret_txn and *ret_cur are the caller's (mdb_cursor_close, then mdb_txn_abort).
 * Returns 0 or a negative errno as tool_state_err. */
int tool_state_read_cursor(MDB_env *env, MDB_dbi dbi, MDB_txn **ret_txn, MDB_cursor **ret_cur);

/* An LMDB return code as 0 or a negative errno: MDB_NOTFOUND -ENOENT, map or transaction
 * full -ENOSPC, LMDB's own failures -EIO, system errors as themselves. */
int tool_state_err(int mdb_rc);

/* Big-endian 64-bit integers, the byte order of the states' keys and values. */
void tool_state_be64(uint8_t *p, uint64_t v);
uint64_t tool_state_rd64(const uint8_t *p);

#endif
