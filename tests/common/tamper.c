/* SPDX-License-Identifier: Apache-2.0 */
/* Test-only vault tampering (see tamper.h). Knows the layout of vault/FORMAT.md. */
#include "tamper.h"

#include <errno.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vault.h"

struct tenv {
	MDB_env *env;
	MDB_txn *txn;
};

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int t_open(const char *dir, struct tenv *t)
{
	int rc = mdb_env_create(&t->env);
	if (rc)
		return -rc;
	mdb_env_set_maxdbs(t->env, 16);
	mdb_env_set_mapsize(t->env, 1ull << 30);
	rc = mdb_env_open(t->env, dir, 0, 0640);
	if (rc == 0)
		rc = mdb_txn_begin(t->env, NULL, 0, &t->txn);
	if (rc) {
		mdb_env_close(t->env);
		return rc > 0 ? -rc : -EIO;
	}
	return 0;
}

static int t_close(struct tenv *t, int rc)
{
	if (rc == 0)
		rc = mdb_txn_commit(t->txn) ? -EIO : 0;
	else
		mdb_txn_abort(t->txn);
	mdb_env_close(t->env);
	return rc;
}

static MDB_dbi t_db(struct tenv *t, const char *name)
{
	MDB_dbi dbi = 0;
	mdb_dbi_open(t->txn, name, 0, &dbi);
	return dbi;
}

/* Copies value at key, lets f modify it, writes it back. */
static int t_modify(struct tenv *t, const char *db, const void *key, size_t klen,
                    void (*f)(uint8_t *, size_t, void *), void *arg)
{
	MDB_dbi dbi = t_db(t, db);
	MDB_val k = {klen, (void *)key}, d;
	int rc = mdb_get(t->txn, dbi, &k, &d);
	if (rc)
		return -ENOENT;
	uint8_t *copy = malloc(d.mv_size ? d.mv_size : 1);
	memcpy(copy, d.mv_data, d.mv_size);
	f(copy, d.mv_size, arg);
	d.mv_data = copy;
	rc = mdb_put(t->txn, dbi, &k, &d, 0);
	free(copy);
	return rc ? -EIO : 0;
}

static void flip(uint8_t *p, size_t len, void *arg)
{
	uint32_t off = *(uint32_t *)arg;
	if (len)
		p[off % len] ^= 0x01;
}

int tamper_payload_byte(const char *dir, uint64_t seq, uint32_t offset)
{
	struct tenv t;
	uint8_t key[8];
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	be64(key, seq);
	return t_close(&t, t_modify(&t, "payloads", key, 8, flip, &offset));
}

int tamper_leaf_byte(const char *dir, uint64_t seq, uint32_t offset)
{
	struct tenv t;
	uint8_t key[8];
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	be64(key, seq);
	return t_close(&t, t_modify(&t, "leaves", key, 8, flip, &offset));
}

static void forge(uint8_t *p, size_t len, void *arg)
{
	uint8_t buf[1 + 91];
	unsigned n = 0;
	(void)arg;
	if (len != 91 + 32)
		return;
	p[18] ^= 0x40; /* timestamp */
	buf[0] = 0x00;
	memcpy(buf + 1, p, 91);
	EVP_Digest(buf, sizeof(buf), p + 91, &n, EVP_sha256(), NULL);
}

int tamper_forge_leaf(const char *dir, uint64_t seq)
{
	struct tenv t;
	uint8_t key[8];
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	be64(key, seq);
	return t_close(&t, t_modify(&t, "leaves", key, 8, forge, NULL));
}

static int t_del(struct tenv *t, const char *db, uint64_t seq)
{
	uint8_t key[8];
	MDB_val k = {8, key};
	be64(key, seq);
	int rc = mdb_del(t->txn, t_db(t, db), &k, NULL);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : -EIO;
}

int tamper_delete_entry(const char *dir, uint64_t seq)
{
	struct tenv t;
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	rc = t_del(&t, "leaves", seq);
	if (rc == 0)
		rc = t_del(&t, "payloads", seq);
	return t_close(&t, rc);
}

int tamper_delete_payload(const char *dir, uint64_t seq)
{
	struct tenv t;
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	return t_close(&t, t_del(&t, "payloads", seq));
}

/* Stores db's value at seq under the key to instead. */
static int move_in(struct tenv *t, const char *db, uint64_t seq, uint64_t to)
{
	MDB_dbi dbi = t_db(t, db);
	uint8_t k1[8], k2[8];
	MDB_val a = {8, k1}, b = {8, k2}, d;
	be64(k1, seq);
	be64(k2, to);
	if (mdb_get(t->txn, dbi, &a, &d))
		return -ENOENT;
	void *copy = malloc(d.mv_size + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, d.mv_data, d.mv_size);
	d.mv_data = copy;
	int rc = mdb_put(t->txn, dbi, &b, &d, 0) || mdb_del(t->txn, dbi, &a, NULL) ? -EIO : 0;
	free(copy);
	return rc;
}

int tamper_move_entry(const char *dir, uint64_t seq, uint64_t to)
{
	struct tenv t;
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	rc = move_in(&t, "leaves", seq, to);
	if (rc == 0)
		rc = move_in(&t, "payloads", seq, to);
	return t_close(&t, rc);
}

static int swap_in(struct tenv *t, const char *db, uint64_t seq)
{
	MDB_dbi dbi = t_db(t, db);
	uint8_t k1[8], k2[8];
	MDB_val a = {8, k1}, b = {8, k2}, da, db2;
	be64(k1, seq);
	be64(k2, seq + 1);
	if (mdb_get(t->txn, dbi, &a, &da) || mdb_get(t->txn, dbi, &b, &db2))
		return -ENOENT;
	void *ca = malloc(da.mv_size + 1), *cb = malloc(db2.mv_size + 1);
	memcpy(ca, da.mv_data, da.mv_size);
	memcpy(cb, db2.mv_data, db2.mv_size);
	MDB_val na = {db2.mv_size, cb}, nb = {da.mv_size, ca};
	int rc = mdb_put(t->txn, dbi, &a, &na, 0) || mdb_put(t->txn, dbi, &b, &nb, 0) ? -EIO : 0;
	free(ca);
	free(cb);
	return rc;
}

int tamper_swap_entries(const char *dir, uint64_t seq)
{
	struct tenv t;
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	rc = swap_in(&t, "leaves", seq);
	if (rc == 0)
		rc = swap_in(&t, "payloads", seq);
	return t_close(&t, rc);
}

/* Deletes every key >= from (u64 big-endian keys) in db. */
static int del_from(struct tenv *t, const char *db, uint64_t from)
{
	MDB_cursor *c;
	uint8_t key[8];
	MDB_val k = {8, key}, d;
	int rc;
	be64(key, from);
	if (mdb_cursor_open(t->txn, t_db(t, db), &c))
		return -EIO;
	rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
	while (rc == 0) {
		if (mdb_cursor_del(c, 0)) {
			mdb_cursor_close(c);
			return -EIO;
		}
		rc = mdb_cursor_get(c, &k, &d, MDB_GET_CURRENT);
		if (rc == 0 && k.mv_size == 8 && rd64(k.mv_data) < from)
			break;
	}
	mdb_cursor_close(c);
	return 0;
}

/* Interior nodes completed by the first n leaves: 2n - popcount(n) nodes in total, of which
 * n are leaves; post-order positions of all of them are < 2n - popcount(n). */
/* Type index keys are (u16 type, u64 seq): delete those naming seq >= from. */
static int del_types_from(struct tenv *t, uint64_t from)
{
	MDB_cursor *c;
	MDB_val k, d;
	int rc;
	if (mdb_cursor_open(t->txn, t_db(t, "types"), &c))
		return -EIO;
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;) {
		if (k.mv_size == 10 && rd64((const uint8_t *)k.mv_data + 2) >= from) {
			if (mdb_cursor_del(c, 0))
				break;
			rc = mdb_cursor_get(c, &k, &d, MDB_GET_CURRENT);
		} else {
			rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
		}
	}
	mdb_cursor_close(c);
	return 0;
}

int tamper_unindex(const char *dir, uint64_t seq)
{
	struct tenv t;
	int rc = t_open(dir, &t);
	MDB_cursor *c;
	MDB_val k, d;
	if (rc)
		return rc;
	if (mdb_cursor_open(t.txn, t_db(&t, "types"), &c))
		return t_close(&t, -EIO);
	rc = -ENOENT;
	for (int g = mdb_cursor_get(c, &k, &d, MDB_FIRST); g == 0;
	     g = mdb_cursor_get(c, &k, &d, MDB_NEXT))
		if (k.mv_size == 10 && rd64((const uint8_t *)k.mv_data + 2) == seq) {
			rc = mdb_cursor_del(c, 0) ? -EIO : 0;
			break;
		}
	mdb_cursor_close(c);
	return t_close(&t, rc);
}

static int truncate_to(const char *dir, uint64_t n, int checkpoints_too)
{
	struct tenv t;
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	rc = del_from(&t, "leaves", n);
	if (rc == 0)
		rc = del_from(&t, "payloads", n);
	if (rc == 0)
		rc = del_from(&t, "nodes", 2 * n - (uint64_t)__builtin_popcountll(n));
	if (rc == 0)
		rc = del_types_from(&t, n);
	if (rc == 0 && checkpoints_too)
		rc = del_from(&t, "checkpoints", n + 1);
	return t_close(&t, rc);
}

int tamper_truncate(const char *dir, uint64_t n)
{
	return truncate_to(dir, n, 1);
}

int tamper_truncate_entries(const char *dir, uint64_t n)
{
	return truncate_to(dir, n, 0);
}

int tamper_node_byte(const char *dir, unsigned level, uint64_t index)
{
	struct tenv t;
	uint8_t key[8];
	uint32_t off = 3;
	uint64_t m = (index + 1) << level;
	uint64_t pos =
	    2 * m - (uint64_t)__builtin_popcountll(m) - 1 - (uint64_t)__builtin_ctzll(index + 1);
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	be64(key, pos);
	return t_close(&t, t_modify(&t, "nodes", key, 8, flip, &off));
}

int tamper_blob_byte(const char *dir, uint64_t offset)
{
	struct tenv t;
	MDB_cursor *c;
	MDB_val k, d;
	uint32_t off = (uint32_t)offset;
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	if (mdb_cursor_open(t.txn, t_db(&t, "chunks"), &c))
		return t_close(&t, -EIO);
	rc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
	uint8_t key[12];
	if (rc == 0 && k.mv_size == 12)
		memcpy(key, k.mv_data, 12);
	mdb_cursor_close(c);
	if (rc)
		return t_close(&t, -ENOENT);
	return t_close(&t, t_modify(&t, "chunks", key, 12, flip, &off));
}

static uint64_t node_pos(unsigned level, uint64_t index)
{
	uint64_t m = (index + 1) << level;
	return 2 * m - (uint64_t)__builtin_popcountll(m) - 1 - (uint64_t)__builtin_ctzll(index + 1);
}

static void sha(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const uint8_t *c,
                size_t clen, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, a, alen);
	if (blen)
		EVP_DigestUpdate(ctx, b, blen);
	if (clen)
		EVP_DigestUpdate(ctx, c, clen);
	EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
}

/* Deletes the checkpoints, the witnesses' cosignatures of them (when the vault has a cosigs
 * database) and DIR/checkpoint. */
static int drop_checkpoints(struct tenv *t, const char *dir)
{
	char path[4096];
	MDB_dbi cosigs;
	int rc = mdb_drop(t->txn, t_db(t, "checkpoints"), 0) ? -EIO : 0;
	if (rc == 0 && mdb_dbi_open(t->txn, "cosigs", 0, &cosigs) == 0 &&
	    mdb_drop(t->txn, cosigs, 0))
		rc = -EIO;
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	if (rc == 0 && unlink(path) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

int tamper_uncheckpoint(const char *dir)
{
	struct tenv t;
	int rc = t_open(dir, &t);
	if (rc)
		return rc;
	return t_close(&t, drop_checkpoints(&t, dir));
}

static void flip_middle(uint8_t *p, size_t len, void *arg)
{
	(void)arg;
	if (len)
		p[len / 2] ^= 0x01;
}

int tamper_rewrite(const char *dir, uint64_t seq)
{
	uint8_t frontier[64][32], prev[32] = {0}, key[8], zero = 0x00, one = 0x01;
	MDB_dbi leaves, payloads, nodes;
	MDB_cursor *c;
	MDB_val k, d;
	struct tenv t;
	uint64_t n = 0;
	int rc = t_open(dir, &t);

	if (rc)
		return rc;
	leaves = t_db(&t, "leaves");
	payloads = t_db(&t, "payloads");
	nodes = t_db(&t, "nodes");
	be64(key, seq);
	rc = t_modify(&t, "payloads", key, 8, flip_middle, NULL);
	if (rc == 0 && mdb_drop(t.txn, nodes, 0))
		rc = -EIO;
	if (rc == 0 && mdb_cursor_open(t.txn, leaves, &c))
		rc = -EIO;
	if (rc)
		return t_close(&t, rc);
	/* Every leaf from seq on: its payload hash (seq only), its link and its hash; then the
	 * whole tree again, as the vault builds it (post-order node positions). */
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT), n++) {
		uint8_t rec[91 + 32], node[32];
		uint64_t idx = n;
		unsigned level = 0;
		if (d.mv_size != sizeof(rec) || rd64(k.mv_data) != n)
			break;
		memcpy(rec, d.mv_data, sizeof(rec));
		if (n >= seq) {
			if (n == seq) {
				MDB_val pk = {8, key}, pd;
				if (mdb_get(t.txn, payloads, &pk, &pd) == 0)
					sha(pd.mv_data, pd.mv_size, NULL, 0, NULL, 0, rec + 27);
			}
			memcpy(rec + 59, prev, 32);
			sha(&zero, 1, rec, 91, NULL, 0, rec + 91);
			MDB_val nd = {sizeof(rec), rec};
			if (mdb_cursor_put(c, &k, &nd, MDB_CURRENT)) {
				rc = -EIO;
				break;
			}
		}
		memcpy(prev, rec + 91, 32);
		memcpy(node, rec + 91, 32);
		while (idx & 1) {
			uint8_t nk[8];
			sha(&one, 1, frontier[level], 32, node, 32, node);
			idx >>= 1;
			level++;
			be64(nk, node_pos(level, idx));
			MDB_val kk = {8, nk}, vv = {32, node};
			if (mdb_put(t.txn, nodes, &kk, &vv, 0)) {
				rc = -EIO;
				break;
			}
		}
		memcpy(frontier[level], node, 32);
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = drop_checkpoints(&t, dir);
	return t_close(&t, rc > 0 ? -EIO : rc);
}

/* The dedup key client ‖ 0 ‖ request into key (512 bytes); returns its length or 0. */
static size_t dedup_key(const char *client, const char *request, uint8_t key[512])
{
	size_t cl = strlen(client), rl = strlen(request);

	if (cl + 1 + rl > 512)
		return 0;
	memcpy(key, client, cl);
	key[cl] = 0;
	memcpy(key + cl + 1, request, rl);
	return cl + 1 + rl;
}

int tamper_dedup_put(const char *dir, const char *client, const char *request, uint64_t seq)
{
	uint8_t key[512], val[8];
	size_t kl = dedup_key(client, request, key);
	struct tenv t;
	int rc;

	if (!kl)
		return -EINVAL;
	rc = t_open(dir, &t);
	if (rc)
		return rc;
	be64(val, seq);
	MDB_val k = {kl, key}, d = {8, val};
	return t_close(&t, mdb_put(t.txn, t_db(&t, "dedup"), &k, &d, 0) ? -EIO : 0);
}

int tamper_dedup_del(const char *dir, const char *client, const char *request)
{
	uint8_t key[512];
	size_t kl = dedup_key(client, request, key);
	struct tenv t;
	int rc;

	if (!kl)
		return -EINVAL;
	rc = t_open(dir, &t);
	if (rc)
		return rc;
	MDB_val k = {kl, key};
	return t_close(&t, mdb_del(t.txn, t_db(&t, "dedup"), &k, NULL) ? -ENOENT : 0);
}

int tamper_model_index(const char *dir, const char *model, uint64_t seq, bool add)
{
	uint8_t key[VAULT_MODEL_MAX + 1 + 8], empty = 0;
	size_t ml = strlen(model);
	struct tenv t;
	int rc;

	if (ml == 0 || ml > VAULT_MODEL_MAX)
		return -EINVAL;
	memcpy(key, model, ml);
	key[ml] = 0;
	be64(key + ml + 1, seq);
	rc = t_open(dir, &t);
	if (rc)
		return rc;
	MDB_val k = {ml + 1 + 8, key}, d = {0, &empty};
	MDB_dbi db = t_db(&t, "models");
	return t_close(&t, add ? (mdb_put(t.txn, db, &k, &d, 0) ? -EIO : 0)
	                       : (mdb_del(t.txn, db, &k, NULL) ? -ENOENT : 0));
}

int tamper_rewrite_resign(const char *dir, uint64_t seq)
{
	struct vault *v;
	int rc = tamper_rewrite(dir, seq);

	if (rc)
		return rc;
	/* With the key, the vault's own code signs the forged tree as it would the real one. */
	rc = vault_open(dir, VAULT_OPEN_WRITE, NULL, &v);
	if (rc < 0)
		return rc;
	rc = vault_checkpoint_sign(v, NULL);
	vault_close(v);
	return rc;
}

int tamper_format1(const char *dir)
{
	MDB_val k = {6, "format"}, d = {16, "evidentd-vault 1"}, mi = {11, "model_index"};
	struct tenv t;
	int rc = t_open(dir, &t);

	if (rc)
		return rc;
	MDB_dbi meta = t_db(&t, "meta"), models;
	rc = mdb_dbi_open(t.txn, "models", 0, &models);
	if (rc == 0)
		rc = mdb_drop(t.txn, models, 1);
	if (rc == 0)
		rc = mdb_put(t.txn, meta, &k, &d, 0);
	if (rc == 0)
		rc = mdb_del(t.txn, meta, &mi, NULL);
	return t_close(&t, rc ? -EIO : 0);
}
