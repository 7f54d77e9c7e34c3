/* SPDX-License-Identifier: Apache-2.0 */
/* The witness's LMDB state (state.h says what is stored and how). */
#include "state.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evident/invariant.h"
#include "tool_state.h"

#define LOG_VALUE_MIN (1 + 8 + VAULT_HASH_LEN + 8)
#define EV_KEY_LEN    9
#define EV_VALUE_MIN  (1 + 8 + 8 + 1 + 4)
#define META_NEXT_SEQ "evidence.next"

enum { DB_LOGS, DB_EVIDENCE, DB_META, DB_COUNT };

static const char *const db_names[DB_COUNT] = {"logs", "evidence", "meta"};

struct state {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	bool read_only;
};

struct state_txn {
	struct state *s;
	MDB_txn *txn;
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------------------ opening */

int state_open(const char *dir, bool read_only, struct state **ret)
{
	static const struct tool_state_spec spec = {
	    .db_names = db_names,
	    .n_dbs = DB_COUNT,
	    .meta_db = DB_META,
	    .first_db = DB_LOGS,
	    .format = STATE_FORMAT,
	    .map_size = STATE_MAP_SIZE,
	    .env_flags = 0, /* every commit is synced (data and meta page) */
	    .mode = 0640,
	};
	struct state *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->read_only = read_only;
	rc = tool_state_open(dir, read_only, &spec, &s->env, s->dbi);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*ret = s;
	return 0;
}

void state_close(struct state *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	free(s);
}

/* ------------------------------------------------------------------ writing */

int state_begin(struct state *s, struct state_txn **ret)
{
	struct state_txn *t;
	int rc;

	if (s->read_only)
		return -EROFS;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = tool_state_err(mdb_txn_begin(s->env, NULL, 0, &t->txn));
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->s = s;
	*ret = t;
	return 0;
}

int state_commit(struct state_txn *t)
{
	int rc = tool_state_err(mdb_txn_commit(t->txn));

	free(t);
	return rc;
}

void state_abort(struct state_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

static int decode_log(const MDB_val *d, struct state_log *ret)
{
	const uint8_t *p = d->mv_data;

	if (d->mv_size < LOG_VALUE_MIN || p[0] != 1)
		return -EBADMSG;
	ret->size = tool_state_rd64(p + 1);
	memcpy(ret->root, p + 9, VAULT_HASH_LEN);
	ret->time_s = tool_state_rd64(p + 9 + VAULT_HASH_LEN);
	ret->note = (const char *)p + LOG_VALUE_MIN;
	ret->note_len = d->mv_size - LOG_VALUE_MIN;
	return 0;
}

int state_get_log(struct state_txn *t, const char *origin, struct witness_log_state *ret)
{
	MDB_val k = {strlen(origin), (void *)origin}, d;
	struct state_log l;
	int rc = mdb_get(t->txn, t->s->dbi[DB_LOGS], &k, &d);

	if (rc == MDB_NOTFOUND) {
		*ret = (struct witness_log_state){.known = false};
		return 0;
	}
	if (rc)
		return tool_state_err(rc);
	rc = decode_log(&d, &l);
	if (rc < 0)
		return rc;
	ret->known = true;
	ret->size = l.size;
	memcpy(ret->root, l.root, VAULT_HASH_LEN);
	return 0;
}

int state_put_log(struct state_txn *t, const struct vault_checkpoint *cp, const char *note,
                  size_t note_len, uint64_t time_s)
{
	size_t olen = strlen(cp->origin);
	MDB_val k = {olen, (void *)cp->origin}, d = {LOG_VALUE_MIN + note_len, NULL};
	uint8_t *p;
	int rc;

	if (olen == 0 || olen > VAULT_ORIGIN_MAX || note_len > VAULT_NOTE_MAX)
		return -EINVAL;
	/* MDB_RESERVE: LMDB hands out the room, the value is written in place. */
	rc = tool_state_err(mdb_put(t->txn, t->s->dbi[DB_LOGS], &k, &d, MDB_RESERVE));
	if (rc < 0)
		return rc;
	p = d.mv_data;
	p[0] = 1;
	tool_state_be64(p + 1, cp->size);
	memcpy(p + 9, cp->root, VAULT_HASH_LEN);
	tool_state_be64(p + 9 + VAULT_HASH_LEN, time_s);
	memcpy(p + LOG_VALUE_MIN, note, note_len);
	return 0;
}

/* meta counters: "evidence.kept.KIND", "evidence.dropped.KIND", "evidence.next" (be64). */
static int meta_get(MDB_txn *txn, struct state *s, const char *key, uint64_t *ret)
{
	MDB_val k = {strlen(key), (void *)key}, d;
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &d);

	if (rc == MDB_NOTFOUND) {
		*ret = 0;
		return 0;
	}
	if (rc)
		return tool_state_err(rc);
	if (d.mv_size != 8)
		return -EBADMSG;
	*ret = tool_state_rd64(d.mv_data);
	return 0;
}

static int meta_put(MDB_txn *txn, struct state *s, const char *key, uint64_t v)
{
	uint8_t buf[8];
	MDB_val k = {strlen(key), (void *)key}, d = {8, buf};

	tool_state_be64(buf, v);
	return tool_state_err(mdb_put(txn, s->dbi[DB_META], &k, &d, 0));
}

static void counter_key(char *buf, size_t size, const char *what, enum witness_verdict kind)
{
	snprintf(buf, size, "evidence.%s.%s", what, witness_verdict_name(kind));
}

/* Deletes the oldest record of kind (the lowest seq under its key prefix). */
static int drop_oldest(MDB_txn *txn, struct state *s, enum witness_verdict kind)
{
	uint8_t key[EV_KEY_LEN] = {(uint8_t)kind};
	MDB_val k = {EV_KEY_LEN, key}, d;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, s->dbi[DB_EVIDENCE], &cur);

	if (rc)
		return tool_state_err(rc);
	rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
	if (rc == 0 && (k.mv_size != EV_KEY_LEN || ((const uint8_t *)k.mv_data)[0] != kind))
		rc = MDB_NOTFOUND; /* the counter says there is one: the state is damaged */
	if (rc == 0)
		rc = mdb_cursor_del(cur, 0);
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? -EBADMSG : tool_state_err(rc);
}

int state_put_evidence(struct state_txn *t, enum witness_verdict kind, const char *origin,
                       uint64_t time_s, const char *body, size_t body_len, uint64_t *ret_seq)
{
	struct state *s = t->s;
	size_t olen = strlen(origin);
	char kept_key[64], dropped_key[64];
	uint64_t kept, dropped, seq;
	struct witness_log_state latest;
	struct state_log l = {0};
	uint8_t key[EV_KEY_LEN], *p;
	MDB_val k = {EV_KEY_LEN, key}, d, ld;
	int rc;

	if (!witness_verdict_is_evidence(kind) || body_len > WITNESS_BODY_MAX || olen == 0 ||
	    olen > VAULT_ORIGIN_MAX)
		return -EINVAL;
	counter_key(kept_key, sizeof(kept_key), "kept", kind);
	counter_key(dropped_key, sizeof(dropped_key), "dropped", kind);
	rc = meta_get(t->txn, s, kept_key, &kept);
	if (rc == 0)
		rc = meta_get(t->txn, s, dropped_key, &dropped);
	if (rc == 0)
		rc = meta_get(t->txn, s, META_NEXT_SEQ, &seq);
	if (rc < 0)
		return rc;
	if (kept >= STATE_EVIDENCE_MAX) {
		rc = meta_put(t->txn, s, dropped_key, dropped + 1);
		if (rc < 0 || kind == WITNESS_FORK)
			return rc < 0 ? rc : 1; /* forks keep the first ones */
		rc = drop_oldest(t->txn, s, kind);
		if (rc < 0)
			return rc;
		kept--;
	}
	/* The origin's latest cosigned checkpoint, as this transaction sees it. */
	rc = state_get_log(t, origin, &latest);
	if (rc < 0)
		return rc;
	ld = (MDB_val){strlen(origin), (void *)origin};
	if (latest.known) {
		rc = tool_state_err(mdb_get(t->txn, s->dbi[DB_LOGS], &ld, &ld));
		if (rc == 0)
			rc = decode_log(&ld, &l);
		if (rc < 0)
			return rc;
	}
	key[0] = (uint8_t)kind;
	tool_state_be64(key + 1, seq);
	d.mv_size = EV_VALUE_MIN + olen + l.note_len + body_len;
	rc = tool_state_err(mdb_put(t->txn, s->dbi[DB_EVIDENCE], &k, &d, MDB_RESERVE));
	if (rc < 0)
		return rc;
	p = d.mv_data;
	p[0] = 1;
	tool_state_be64(p + 1, time_s);
	tool_state_be64(p + 9, latest.known ? latest.size : 0);
	p[17] = (uint8_t)olen;
	memcpy(p + 18, origin, olen);
	p += 18 + olen;
	p[0] = (uint8_t)(l.note_len >> 24);
	p[1] = (uint8_t)(l.note_len >> 16);
	p[2] = (uint8_t)(l.note_len >> 8);
	p[3] = (uint8_t)l.note_len;
	memcpy(p + 4, l.note, l.note_len);
	memcpy(p + 4 + l.note_len, body, body_len);
	rc = meta_put(t->txn, s, kept_key, kept + 1);
	if (rc == 0)
		rc = meta_put(t->txn, s, META_NEXT_SEQ, seq + 1);
	if (rc < 0)
		return rc;
	*ret_seq = seq;
	return 0;
}

/* ------------------------------------------------------------------ reading */

static int decode_evidence(const MDB_val *k, const MDB_val *d, char origin[VAULT_ORIGIN_MAX + 1],
                           struct state_evidence *ret)
{
	const uint8_t *key = k->mv_data, *p = d->mv_data;
	size_t olen, nlen;

	if (k->mv_size != EV_KEY_LEN || !witness_verdict_is_evidence(key[0]) ||
	    d->mv_size < EV_VALUE_MIN || p[0] != 1)
		return -EBADMSG;
	olen = p[17];
	if (olen == 0 || d->mv_size < EV_VALUE_MIN + olen)
		return -EBADMSG;
	nlen = rd32(p + 18 + olen);
	if (nlen > d->mv_size - EV_VALUE_MIN - olen)
		return -EBADMSG;
	memcpy(origin, p + 18, olen);
	origin[olen] = '\0';
	*ret = (struct state_evidence){
	    .seq = tool_state_rd64(key + 1),
	    .kind = key[0],
	    .time_s = tool_state_rd64(p + 1),
	    .origin = origin,
	    .latest_size = tool_state_rd64(p + 9),
	    .note = (const char *)p + 22 + olen,
	    .note_len = nlen,
	    .body = (const char *)p + 22 + olen + nlen,
	    .body_len = d->mv_size - EV_VALUE_MIN - olen - nlen,
	};
	return 0;
}

static int each(struct state *s, int db, int (*fn)(void *ud, const MDB_val *k, const MDB_val *d),
                void *ud)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, d;
	int rc = tool_state_read_cursor(s->env, s->dbi[db], &txn, &cur);

	if (rc < 0)
		return rc;
	for (int m = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     m = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (m == MDB_NOTFOUND)
			break;
		rc = m ? tool_state_err(m) : fn(ud, &k, &d);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

struct each_ctx {
	int (*log_fn)(void *ud, const struct state_log *l);
	int (*ev_fn)(void *ud, const struct state_evidence *e);
	void *ud;
};

static int each_log_entry(void *ud, const MDB_val *k, const MDB_val *d)
{
	struct each_ctx *c = ud;
	char origin[VAULT_ORIGIN_MAX + 1];
	struct state_log l;
	int rc;

	if (k->mv_size == 0 || k->mv_size > VAULT_ORIGIN_MAX)
		return -EBADMSG;
	rc = decode_log(d, &l);
	if (rc < 0)
		return rc;
	memcpy(origin, k->mv_data, k->mv_size);
	origin[k->mv_size] = '\0';
	l.origin = origin;
	return c->log_fn(c->ud, &l);
}

static int each_evidence_entry(void *ud, const MDB_val *k, const MDB_val *d)
{
	struct each_ctx *c = ud;
	char origin[VAULT_ORIGIN_MAX + 1];
	struct state_evidence e;
	int rc = decode_evidence(k, d, origin, &e);

	return rc < 0 ? rc : c->ev_fn(c->ud, &e);
}

int state_each_log(struct state *s, int (*fn)(void *ud, const struct state_log *l), void *ud)
{
	struct each_ctx c = {.log_fn = fn, .ud = ud};
	return each(s, DB_LOGS, each_log_entry, &c);
}

int state_each_evidence(struct state *s, int (*fn)(void *ud, const struct state_evidence *e),
                        void *ud)
{
	struct each_ctx c = {.ev_fn = fn, .ud = ud};
	return each(s, DB_EVIDENCE, each_evidence_entry, &c);
}

int state_counts(struct state *s, struct state_counts *ret)
{
	struct state_counts c = {0};
	MDB_txn *txn;
	MDB_stat st;
	int rc = tool_state_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));

	if (rc < 0)
		return rc;
	rc = tool_state_err(mdb_stat(txn, s->dbi[DB_LOGS], &st));
	if (rc == 0)
		c.logs = st.ms_entries;
	for (int v = 0; v < _WITNESS_VERDICT_MAX && rc == 0; v++) {
		char key[64];
		if (!witness_verdict_is_evidence(v))
			continue;
		counter_key(key, sizeof(key), "kept", v);
		rc = meta_get(txn, s, key, &c.kept[v]);
		counter_key(key, sizeof(key), "dropped", v);
		if (rc == 0)
			rc = meta_get(txn, s, key, &c.dropped[v]);
	}
	mdb_txn_abort(txn);
	if (rc < 0)
		return rc;
	*ret = c;
	return 0;
}
