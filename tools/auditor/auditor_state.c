/* SPDX-License-Identifier: Apache-2.0 */
/* The auditor's LMDB state (state.h says what is stored and how). */
#include "auditor_state.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tool_state.h"

#define ALERT_VALUE_MIN (1 + 8 + 1 + 1 + 2)
#define ORIGIN_VALUE    (1 + 1 + 8 + 8)
#define META_NEXT       "alerts.next"

enum { DB_ALERTS, DB_ORIGINS, DB_META, DB_COUNT };

static const char *const db_names[DB_COUNT] = {"alerts", "origins", "meta"};

struct astate {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	bool read_only;
};

const char *alert_kind_name(int kind)
{
	static const char *const names[_ALERT_KIND_MAX] = {
	    [ALERT_FORK] = "fork",
	    [ALERT_ROLLBACK] = "rollback",
	    [ALERT_GAP] = "gap",
	    [ALERT_BAD_SIGNATURE] = "bad-signature",
	    [ALERT_UNKNOWN_ORIGIN] = "unknown-origin",
	    [ALERT_MALFORMED] = "malformed",
	    [ALERT_SILENT] = "silent",
	    [ALERT_MIRROR] = "mirror",
	    [ALERT_BLOB] = "blob",
	};
	return kind > 0 && kind < _ALERT_KIND_MAX ? names[kind] : NULL;
}

int astate_open(const char *dir, bool read_only, struct astate **ret)
{
	static const struct tool_state_spec spec = {
	    .db_names = db_names,
	    .n_dbs = DB_COUNT,
	    .meta_db = DB_META,
	    .first_db = DB_ALERTS,
	    .format = ASTATE_FORMAT,
	    .map_size = ASTATE_MAP_SIZE,
	    /* MDB_NOTLS: a reader's slot belongs to its transaction, so that a callback of
	     * astate_each_alert may read the origins. */
	    .env_flags = MDB_NOTLS,
	    .mode = 0600,
	};
	struct astate *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->read_only = read_only;
	rc = tool_state_open(dir, read_only, &spec, &s->env, s->dbi);
	if (rc) {
		free(s);
		return rc;
	}
	*ret = s;
	return 0;
}

void astate_close(struct astate *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	free(s);
}

int astate_alert_add(struct astate *s, const struct astate_alert *a, uint64_t *ret_seq)
{
	size_t olen = a->origin ? strlen(a->origin) : 0, mlen = a->msg ? strlen(a->msg) : 0;
	size_t elen = a->evidence_len < ASTATE_EVIDENCE_MAX ? a->evidence_len : ASTATE_EVIDENCE_MAX;
	MDB_val mk = {strlen(META_NEXT), META_NEXT}, d, k;
	uint8_t key[8], *val, next_buf[8];
	uint64_t seq = 0;
	MDB_txn *txn;
	size_t len, off = 0;
	int rc;

	if (s->read_only)
		return -EROFS;
	if (olen > 255 || a->kind <= 0 || a->kind >= _ALERT_KIND_MAX)
		return -EINVAL;
	if (mlen >= ASTATE_MSG_MAX)
		mlen = ASTATE_MSG_MAX - 1;
	len = ALERT_VALUE_MIN + olen + mlen + elen;
	val = malloc(len);
	if (!val)
		return -ENOMEM;
	val[off++] = 1;
	tool_state_be64(val + off, a->time_ns);
	off += 8;
	val[off++] = (uint8_t)a->kind;
	val[off++] = (uint8_t)olen;
	memcpy(val + off, a->origin ? a->origin : "", olen);
	off += olen;
	val[off++] = (uint8_t)(mlen >> 8);
	val[off++] = (uint8_t)mlen;
	memcpy(val + off, a->msg ? a->msg : "", mlen);
	off += mlen;
	if (elen)
		memcpy(val + off, a->evidence, elen);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		free(val);
		return tool_state_err(rc);
	}
	rc = mdb_get(txn, s->dbi[DB_META], &mk, &d);
	if (rc == MDB_SUCCESS && d.mv_size == 8)
		seq = tool_state_rd64(d.mv_data);
	else if (rc != MDB_NOTFOUND)
		rc = rc ? rc : MDB_CORRUPTED;
	else
		rc = 0;
	if (rc == 0) {
		tool_state_be64(key, seq);
		k = (MDB_val){8, key};
		d = (MDB_val){len, val};
		rc = mdb_put(txn, s->dbi[DB_ALERTS], &k, &d, MDB_APPEND);
	}
	if (rc == 0) {
		tool_state_be64(next_buf, seq + 1);
		d = (MDB_val){8, next_buf};
		rc = mdb_put(txn, s->dbi[DB_META], &mk, &d, 0);
	}
	free(val);
	if (rc) {
		mdb_txn_abort(txn);
		return tool_state_err(rc);
	}
	rc = tool_state_err(mdb_txn_commit(txn));
	if (rc == 0 && ret_seq)
		*ret_seq = seq;
	return rc;
}

int astate_alert_decode(const uint8_t *val, size_t len, uint64_t seq, struct astate_alert *ret,
                        char origin[256], char msg[ASTATE_MSG_MAX])
{
	size_t off = 0, olen, mlen;

	if (len < ALERT_VALUE_MIN || val[0] != 1)
		return -EBADMSG;
	off = 1;
	ret->seq = seq;
	ret->time_ns = tool_state_rd64(val + off);
	off += 8;
	ret->kind = val[off++];
	if (!alert_kind_name(ret->kind))
		return -EBADMSG;
	olen = val[off++];
	if (len - off < olen + 2)
		return -EBADMSG;
	memcpy(origin, val + off, olen);
	origin[olen] = '\0';
	if (memchr(origin, '\0', olen))
		return -EBADMSG;
	off += olen;
	mlen = (size_t)val[off] << 8 | val[off + 1];
	off += 2;
	if (mlen >= ASTATE_MSG_MAX || len - off < mlen)
		return -EBADMSG;
	memcpy(msg, val + off, mlen);
	msg[mlen] = '\0';
	if (memchr(msg, '\0', mlen))
		return -EBADMSG;
	off += mlen;
	ret->origin = origin;
	ret->msg = msg;
	ret->evidence = val + off;
	ret->evidence_len = len - off;
	return 0;
}

int astate_each_alert(struct astate *s, uint64_t from,
                      int (*fn)(void *ud, const struct astate_alert *a), void *ud)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, d;
	uint8_t key[8];
	char origin[256], msg[ASTATE_MSG_MAX];
	int rc, op = MDB_SET_RANGE;

	rc = tool_state_read_cursor(s->env, s->dbi[DB_ALERTS], &txn, &cur);
	if (rc)
		return rc;
	tool_state_be64(key, from);
	k = (MDB_val){8, key};
	for (;;) {
		struct astate_alert a;
		rc = mdb_cursor_get(cur, &k, &d, op);
		op = MDB_NEXT;
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc) {
			rc = tool_state_err(rc);
			break;
		}
		if (k.mv_size != 8) {
			rc = -EBADMSG;
			break;
		}
		rc = astate_alert_decode(d.mv_data, d.mv_size, tool_state_rd64(k.mv_data), &a,
		                         origin, msg);
		if (rc == 0)
			rc = fn(ud, &a);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

static int origin_decode(const MDB_val *d, struct astate_origin *ret)
{
	const uint8_t *p = d->mv_data;

	if (d->mv_size != ORIGIN_VALUE || p[0] != 1)
		return -EBADMSG;
	ret->flags = p[1];
	ret->stopped_by = tool_state_rd64(p + 2);
	ret->open_from = tool_state_rd64(p + 10);
	return 0;
}

int astate_origin_get(struct astate *s, const char *origin, struct astate_origin *ret)
{
	MDB_val k = {strlen(origin), (void *)origin}, d;
	MDB_txn *txn;
	int rc;

	if (k.mv_size == 0 || k.mv_size > 255)
		return -ENOENT;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return tool_state_err(rc);
	rc = mdb_get(txn, s->dbi[DB_ORIGINS], &k, &d);
	rc = rc ? tool_state_err(rc) : origin_decode(&d, ret);
	mdb_txn_abort(txn);
	return rc;
}

int astate_origin_put(struct astate *s, const char *origin, const struct astate_origin *o)
{
	MDB_val k = {strlen(origin), (void *)origin}, d;
	uint8_t val[ORIGIN_VALUE];
	MDB_txn *txn;
	int rc;

	if (s->read_only)
		return -EROFS;
	if (k.mv_size == 0 || k.mv_size > 255)
		return -EINVAL;
	val[0] = 1;
	val[1] = (uint8_t)o->flags;
	tool_state_be64(val + 2, o->stopped_by);
	tool_state_be64(val + 10, o->open_from);
	d = (MDB_val){sizeof(val), val};
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return tool_state_err(rc);
	rc = mdb_put(txn, s->dbi[DB_ORIGINS], &k, &d, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return tool_state_err(rc);
	}
	return tool_state_err(mdb_txn_commit(txn));
}

int astate_each_origin(struct astate *s,
                       int (*fn)(void *ud, const char *origin, const struct astate_origin *o),
                       void *ud)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, d;
	int rc, op = MDB_FIRST;

	rc = tool_state_read_cursor(s->env, s->dbi[DB_ORIGINS], &txn, &cur);
	if (rc)
		return rc;
	for (;;) {
		struct astate_origin o;
		char name[256];
		rc = mdb_cursor_get(cur, &k, &d, op);
		op = MDB_NEXT;
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc) {
			rc = tool_state_err(rc);
			break;
		}
		if (k.mv_size == 0 || k.mv_size > 255 || memchr(k.mv_data, '\0', k.mv_size)) {
			rc = -EBADMSG;
			break;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		rc = origin_decode(&d, &o);
		if (rc == 0)
			rc = fn(ud, name, &o);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}
