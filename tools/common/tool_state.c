/* SPDX-License-Identifier: Apache-2.0 */
/* The LMDB state of evident-witness and evident-auditor (tool_state.h). */
#include "tool_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int tool_state_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_PANIC:
	case MDB_BAD_TXN:
		return -EIO;
	}
	return rc > 0 ? -rc : -EIO;
}

void tool_state_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t tool_state_rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int tool_state_read_cursor(MDB_env *env, MDB_dbi dbi, MDB_txn **ret_txn, MDB_cursor **ret_cur)
{
	int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, ret_txn);

	if (rc)
		return tool_state_err(rc);
	rc = mdb_cursor_open(*ret_txn, dbi, ret_cur);
	if (rc) {
		mdb_txn_abort(*ret_txn);
		return tool_state_err(rc);
	}
	return 0;
}

static int check_format(MDB_txn *txn, bool read_only, const struct tool_state_spec *spec,
                        const MDB_dbi *dbi)
{
	MDB_val k = {strlen("format"), "format"}, d;
	MDB_stat st;
	int rc = mdb_get(txn, dbi[spec->meta_db], &k, &d);

	if (rc == MDB_SUCCESS)
		return d.mv_size == strlen(spec->format) &&
		               memcmp(d.mv_data, spec->format, d.mv_size) == 0
		           ? 0
		           : -EBADMSG;
	if (rc != MDB_NOTFOUND)
		return tool_state_err(rc);
	/* A new state: nothing in it yet. A state without its format line is not ours. */
	rc = mdb_stat(txn, dbi[spec->first_db], &st);
	if (rc)
		return tool_state_err(rc);
	if (st.ms_entries != 0 || read_only)
		return -EBADMSG;
	d = (MDB_val){strlen(spec->format), (void *)spec->format};
	return tool_state_err(mdb_put(txn, dbi[spec->meta_db], &k, &d, 0));
}

int tool_state_open(const char *dir, bool read_only, const struct tool_state_spec *spec,
                    MDB_env **ret_env, MDB_dbi *ret_dbi)
{
	char path[4096];
	struct stat st;
	MDB_env *env;
	MDB_txn *txn;
	int rc;

	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (read_only && stat(path, &st) < 0)
		return -errno;
	rc = mdb_env_create(&env);
	if (rc)
		return tool_state_err(rc);
	rc = mdb_env_set_maxdbs(env, spec->n_dbs);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, spec->map_size);
	if (rc == 0)
		rc = mdb_env_open(env, dir, spec->env_flags | (read_only ? MDB_RDONLY : 0),
		                  spec->mode);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, read_only ? MDB_RDONLY : 0, &txn);
	if (rc) {
		rc = tool_state_err(rc);
		goto fail;
	}
	for (unsigned i = 0; i < spec->n_dbs && rc == 0; i++)
		rc = mdb_dbi_open(txn, spec->db_names[i], read_only ? 0 : MDB_CREATE, &ret_dbi[i]);
	/* read-only, and a database is missing: not this program's state */
	rc = rc == MDB_NOTFOUND ? -EBADMSG : tool_state_err(rc);
	if (rc == 0)
		rc = check_format(txn, read_only, spec, ret_dbi);
	/* Committed even read-only: the database handles of an aborted transaction close. */
	if (rc == 0)
		rc = tool_state_err(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	if (rc)
		goto fail;
	*ret_env = env;
	return 0;
fail:
	mdb_env_close(env);
	return rc;
}
