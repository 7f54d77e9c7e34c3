/* SPDX-License-Identifier: Apache-2.0 */
/* Readers: snapshots, entry access, iteration, time seek, stored checkpoints, blob reads. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int snapshot_size(struct vault_reader *r)
{
	MDB_cursor *cur;
	MDB_val k, d;
	int rc;

	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_LEAVES], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	rc = vault__cursor_get(r->v, cur, &k, &d, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		r->size = 0;
		return 0;
	}
	if (rc)
		return vault__err_from_mdb(rc);
	if (k.mv_size != 8)
		return -EBADMSG;
	r->size = vault__rd64(k.mv_data) + 1;
	return 0;
}

int vault_reader_begin(struct vault *v, struct vault_reader **ret)
{
	struct vault_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	r->v = v;
	rc = vault__txn_begin(v, false, &r->txn);
	if (rc < 0) {
		free(r);
		return rc;
	}
	rc = snapshot_size(r);
	if (rc < 0) {
		vault_reader_end(r);
		return rc;
	}
	*ret = r;
	return 0;
}

void vault_reader_end(struct vault_reader *r)
{
	if (!r)
		return;
	vault__txn_abort(r->v, r->txn);
	free(r);
}

int vault_reader_renew(struct vault_reader *r)
{
	int rc;

	vault__txn_abort(r->v, r->txn);
	r->txn = NULL;
	rc = vault__txn_begin(r->v, false, &r->txn);
	if (rc < 0)
		return rc;
	return snapshot_size(r);
}

uint64_t vault_reader_size(const struct vault_reader *r)
{
	return r->size;
}

struct vault *vault_reader_vault(const struct vault_reader *r)
{
	return r->v;
}

static int fill_entry(const MDB_val *leafval, const MDB_val *payload, struct vault_entry *ret)
{
	struct vault_entry e = {0};

	if (leafval->mv_size != VAULT_LEAF_LEN + 32 ||
	    vault_leaf_decode(leafval->mv_data, VAULT_LEAF_LEN, &e.leaf) < 0)
		return -EBADMSG;
	memcpy(e.leaf_hash, (const uint8_t *)leafval->mv_data + VAULT_LEAF_LEN, 32);
	if (payload && e.leaf.version == 2) {
		/* nonce || payload (FORMAT.md §3) */
		if (payload->mv_size < VAULT_NONCE_LEN)
			return -EBADMSG;
		e.payload_nonce = payload->mv_data;
		e.payload = (const uint8_t *)payload->mv_data + VAULT_NONCE_LEN;
		e.payload_len = payload->mv_size - VAULT_NONCE_LEN;
	} else if (payload) {
		e.payload = payload->mv_size ? payload->mv_data : (const uint8_t *)"";
		e.payload_len = payload->mv_size;
	}
	*ret = e;
	return 0;
}

int vault_get(struct vault_reader *r, uint64_t seq, struct vault_entry *ret)
{
	uint8_t key[8];
	MDB_val k = {8, key}, leaf, pay;
	int rc;

	if (seq >= r->size)
		return -ENOENT;
	vault__be64(key, seq);
	rc = vault__get(r->v, r->txn, DB_LEAVES, &k, &leaf);
	if (rc)
		return vault__err_from_mdb(rc);
	rc = vault__get(r->v, r->txn, DB_PAYLOADS, &k, &pay);
	if (rc && rc != MDB_NOTFOUND)
		return vault__err_from_mdb(rc);
	return fill_entry(&leaf, rc == 0 ? &pay : NULL, ret);
}

int vault_iter_init(struct vault_reader *r, uint64_t start, struct vault_iter *it)
{
	MDB_cursor *cl = NULL, *cp = NULL;
	int rc;

	*it = (struct vault_iter){.r = r, .next = start};
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_LEAVES], &cl);
	if (rc == 0)
		rc = mdb_cursor_open(r->txn, r->v->dbi[DB_PAYLOADS], &cp);
	if (rc) {
		if (cl)
			mdb_cursor_close(cl);
		return vault__err_from_mdb(rc);
	}
	it->cur_leaf = cl;
	it->cur_payload = cp;
	return 0;
}

void vault_iter_deinit(struct vault_iter *it)
{
	if (it->cur_leaf)
		mdb_cursor_close(it->cur_leaf);
	if (it->cur_payload)
		mdb_cursor_close(it->cur_payload);
	it->cur_leaf = it->cur_payload = NULL;
}

/* Positions cursor c at key seq using NEXT when it is adjacent (the common case while
 * iterating), a seek otherwise. Returns 1 found, 0 absent, <0 error. */
static int cursor_at(struct vault *v, MDB_cursor *c, uint64_t seq, bool *positioned, MDB_val *val)
{
	uint8_t key[8];
	MDB_val k, d;
	int rc;

	if (*positioned) {
		rc = vault__cursor_get(v, c, &k, &d, MDB_GET_CURRENT);
		if (rc == 0 && k.mv_size == 8) {
			uint64_t cur = vault__rd64(k.mv_data);
			if (cur == seq) {
				*val = d;
				return 1;
			}
			if (cur > seq)
				goto seek;
			if (cur + 1 == seq) {
				rc = vault__cursor_get(v, c, &k, &d, MDB_NEXT);
				if (rc == MDB_NOTFOUND)
					return 0;
				if (rc)
					return vault__err_from_mdb(rc);
				if (k.mv_size == 8 && vault__rd64(k.mv_data) == seq) {
					*val = d;
					return 1;
				}
				return 0;
			}
		}
	}
seek:
	vault__be64(key, seq);
	k = (MDB_val){8, key};
	rc = vault__cursor_get(v, c, &k, &d, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND) {
		*positioned = false;
		return 0;
	}
	if (rc)
		return vault__err_from_mdb(rc);
	*positioned = true;
	if (k.mv_size == 8 && vault__rd64(k.mv_data) == seq) {
		*val = d;
		return 1;
	}
	return 0;
}

int vault_iter_next(struct vault_iter *it, struct vault_entry *ret)
{
	MDB_val leaf, pay;
	int rc;

	if (it->next >= it->r->size)
		return 0;
	rc = cursor_at(it->r->v, it->cur_leaf, it->next, &it->leaf_positioned, &leaf);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -EBADMSG; /* a hole in the leaves: vault_verify names it */
	rc = cursor_at(it->r->v, it->cur_payload, it->next, &it->payload_positioned, &pay);
	if (rc < 0)
		return rc;
	rc = fill_entry(&leaf, rc ? &pay : NULL, ret);
	if (rc < 0)
		return rc;
	it->next++;
	return 1;
}

int vault_subject_next(struct vault_reader *r, const char *subject, uint64_t from,
                       uint64_t *ret_seq)
{
	size_t sl = subject ? strlen(subject) : 0;
	uint8_t sk[VAULT_SUBJECT_MAX + 1 + 8];
	MDB_val k = {sl + 1 + 8, sk}, d;
	MDB_cursor *cur;
	int rc;

	if (sl == 0 || sl > VAULT_SUBJECT_MAX)
		return -EINVAL;
	if (r->v->no_subjects)
		return -ENOENT;
	memcpy(sk, subject, sl);
	sk[sl] = 0;
	vault__be64(sk + sl + 1, from);
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_SUBJECTS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	rc = vault__cursor_get(r->v, cur, &k, &d, MDB_SET_RANGE);
	if (rc == 0 && (k.mv_size != sl + 1 + 8 || memcmp(k.mv_data, sk, sl + 1) != 0))
		rc = MDB_NOTFOUND; /* the next key is another subject's */
	if (rc == 0) {
		uint64_t seq = vault__rd64((const uint8_t *)k.mv_data + sl + 1);
		if (seq >= r->size)
			rc = MDB_NOTFOUND;
		else
			*ret_seq = seq;
	}
	mdb_cursor_close(cur);
	return vault__err_from_mdb(rc);
}

/* The first seq >= from under key prefix mk[0..ml) || 0x00 in the models index, or -ENOENT. */
static int model_first(struct vault_reader *r, MDB_cursor *cur, const uint8_t *mk, size_t ml,
                       uint64_t from, uint64_t *ret_seq)
{
	uint8_t key[VAULT_MODEL_MAX + 1 + 8];
	MDB_val k = {ml + 1 + 8, key}, d;
	int rc;

	memcpy(key, mk, ml);
	key[ml] = 0;
	vault__be64(key + ml + 1, from);
	rc = vault__cursor_get(r->v, cur, &k, &d, MDB_SET_RANGE);
	if (rc)
		return vault__err_from_mdb(rc);
	if (k.mv_size != ml + 1 + 8 || memcmp(k.mv_data, key, ml + 1) != 0)
		return -ENOENT; /* the next key is another model's */
	*ret_seq = vault__rd64((const uint8_t *)k.mv_data + ml + 1);
	return *ret_seq < r->size ? 0 : -ENOENT;
}

int vault_model_next(struct vault_reader *r, const char *model, uint64_t from, uint64_t *ret_seq)
{
	size_t ml = model ? strlen(model) : 0;
	uint8_t key[VAULT_MODEL_MAX + 2];
	uint64_t best = UINT64_MAX, seq;
	MDB_cursor *cur;
	int rc;

	if (ml == 0 || ml >= VAULT_MODEL_MAX)
		return -EINVAL;
	if (r->v->no_models || !r->v->models_complete)
		return -ENOTSUP;
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_MODELS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	if (strchr(model, '@')) {
		rc = model_first(r, cur, (const uint8_t *)model, ml, from, &seq);
		if (rc == 0)
			best = seq;
	} else {
		/* any version: the earliest of each version's first entry from `from` on */
		MDB_val k = {ml + 1, key}, d;
		memcpy(key, model, ml);
		key[ml] = '@';
		for (rc = vault__cursor_get(r->v, cur, &k, &d, MDB_SET_RANGE); rc == 0;
		     rc = vault__cursor_get(r->v, cur, &k, &d, MDB_SET_RANGE)) {
			const uint8_t *kk = k.mv_data, *nul = memchr(kk, 0, k.mv_size);
			size_t vl;
			if (k.mv_size < ml + 1 || memcmp(kk, model, ml) != 0 || kk[ml] != '@' ||
			    !nul)
				break;
			vl = (size_t)(nul - kk); /* "ID@VERSION" */
			if (vl > VAULT_MODEL_MAX)
				break;
			uint8_t ver[VAULT_MODEL_MAX + 2];
			memcpy(ver, kk, vl);
			int r2 = model_first(r, cur, ver, vl, from, &seq);
			if (r2 == 0 && seq < best)
				best = seq;
			else if (r2 < 0 && r2 != -ENOENT) {
				rc = r2;
				break;
			}
			/* past every key of this version: "ID@VERSION" || 0x01 */
			memcpy(key, ver, vl);
			key[vl] = 1;
			k = (MDB_val){vl + 1, key};
		}
		rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : vault__err_from_mdb(rc);
	}
	mdb_cursor_close(cur);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (best == UINT64_MAX)
		return -ENOENT;
	*ret_seq = best;
	return 0;
}

int vault_seek_time(struct vault_reader *r, uint64_t ts, uint64_t *ret_seq)
{
	uint64_t lo = 0, hi = r->size;

	/* Timestamps never decrease with seq (the writer clamps a clock that steps back). */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct vault_leaf leaf;
		int rc = vault__leaf_get(r->v, r->txn, mid, &leaf, NULL);
		if (rc < 0)
			return rc;
		if (leaf.timestamp_ns < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_seq = lo;
	return 0;
}

int vault_checkpoint_at_most(struct vault_reader *r, uint64_t max_size, char **ret_note,
                             struct vault_checkpoint *ret_cp)
{
	uint8_t key[8];
	MDB_val k = {8, key}, d;
	MDB_cursor *cur;
	struct vault_checkpoint cp;
	int rc;

	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_CHECKPOINTS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	if (max_size == UINT64_MAX) {
		rc = vault__cursor_get(r->v, cur, &k, &d, MDB_LAST);
	} else {
		vault__be64(key, max_size + 1);
		rc = vault__cursor_get(r->v, cur, &k, &d, MDB_SET_RANGE);
		if (rc == 0)
			rc = vault__cursor_get(r->v, cur, &k, &d, MDB_PREV);
		else if (rc == MDB_NOTFOUND)
			rc = vault__cursor_get(r->v, cur, &k, &d, MDB_LAST);
	}
	if (rc) {
		mdb_cursor_close(cur);
		return vault__err_from_mdb(rc);
	}
	rc = vault_checkpoint_parse(d.mv_data, d.mv_size, NULL, &cp);
	if (rc == 0 && ret_note)
		rc = vault__note_with_cosigs(r, cp.size, &d, ret_note);
	mdb_cursor_close(cur);
	if (rc == 0 && ret_cp)
		*ret_cp = cp;
	return rc;
}

int vault_checkpoint_latest(struct vault_reader *r, char **ret_note,
                            struct vault_checkpoint *ret_cp)
{
	return vault_checkpoint_at_most(r, UINT64_MAX, ret_note, ret_cp);
}

/* ------------------------------------------------------------------ blobs */

int vault__blob_meta(struct vault_reader *r, const uint8_t hash[32], uint64_t *ret_size,
                     uint64_t *ret_id, uint32_t *ret_chunks)
{
	MDB_val k = {32, (void *)hash}, d;
	int rc = vault__get(r->v, r->txn, DB_BLOBS, &k, &d);

	if (rc)
		return vault__err_from_mdb(rc);
	if (d.mv_size != 20)
		return -EBADMSG;
	uint64_t size = vault__rd64(d.mv_data);
	uint32_t chunks = vault__rd32((const uint8_t *)d.mv_data + 16);
	/* Every chunk but the last is full (blob.c): the count follows from the size. */
	if (chunks != size / VAULT_BLOB_CHUNK + (size % VAULT_BLOB_CHUNK != 0))
		return -EBADMSG;
	if (ret_size)
		*ret_size = size;
	if (ret_id)
		*ret_id = vault__rd64((const uint8_t *)d.mv_data + 8);
	if (ret_chunks)
		*ret_chunks = chunks;
	return 0;
}

int vault_blob_stat(struct vault_reader *r, const uint8_t hash[VAULT_HASH_LEN], uint64_t *ret_size)
{
	return vault__blob_meta(r, hash, ret_size, NULL, NULL);
}

ssize_t vault_blob_read(struct vault_reader *r, const uint8_t hash[VAULT_HASH_LEN], uint64_t offset,
                        void *buf, size_t len)
{
	uint64_t size, id;
	uint32_t chunks;
	size_t done = 0;
	int rc;

	rc = vault__blob_meta(r, hash, &size, &id, &chunks);
	if (rc < 0)
		return rc;
	if (offset >= size)
		return 0;
	if (len > size - offset)
		len = (size_t)(size - offset);
	while (done < len) {
		uint64_t pos = offset + done;
		uint32_t idx = (uint32_t)(pos / VAULT_BLOB_CHUNK);
		size_t in = (size_t)(pos % VAULT_BLOB_CHUNK), n;
		uint8_t key[12];
		MDB_val k = {12, key}, d;

		vault__be64(key, id);
		vault__be32(key + 8, idx);
		rc = vault__get(r->v, r->txn, DB_CHUNKS, &k, &d);
		if (rc)
			return rc == MDB_NOTFOUND ? -EIO : vault__err_from_mdb(rc);
		/* chunk idx holds bytes [idx * CHUNK, min(size, (idx + 1) * CHUNK)) */
		if (d.mv_size != (idx + 1u < chunks ? VAULT_BLOB_CHUNK
		                                    : size - (uint64_t)idx * VAULT_BLOB_CHUNK) ||
		    d.mv_size <= in)
			return -EIO;
		n = d.mv_size - in;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)buf + done, (const uint8_t *)d.mv_data + in, n);
		done += n;
	}
	return (ssize_t)done;
}

int vault_blob_load(struct vault_reader *r, const uint8_t hash[VAULT_HASH_LEN], uint64_t max,
                    void **ret, size_t *ret_len)
{
	uint8_t got[VAULT_HASH_LEN], *buf;
	uint64_t size;
	int rc = vault_blob_stat(r, hash, &size);

	if (rc < 0)
		return rc;
	if (size > max || size > SIZE_MAX - 1)
		return -EFBIG;
	buf = malloc(size ? (size_t)size : 1);
	if (!buf)
		return -ENOMEM;
	ssize_t n = size ? vault_blob_read(r, hash, 0, buf, (size_t)size) : 0;
	if (n < 0 || (uint64_t)n != size) {
		free(buf);
		return n < 0 ? (int)n : -EIO;
	}
	rc = vault_sha256(buf, (size_t)size, got);
	if (rc == 0 && memcmp(got, hash, VAULT_HASH_LEN))
		rc = -EBADMSG;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*ret = buf;
	*ret_len = (size_t)size;
	return 0;
}

/* ------------------------------------------------------------------ type index */

static void type_key(uint8_t k[10], int type, uint64_t seq)
{
	k[0] = (uint8_t)(type >> 8);
	k[1] = (uint8_t)type;
	vault__be64(k + 2, seq);
}

/* A type index key k of type's entries: its seq into *ret_seq. */
static bool type_key_seq(const MDB_val *k, int type, uint64_t *ret_seq)
{
	const uint8_t *p = k->mv_data;

	if (k->mv_size != 10 || p[0] != (uint8_t)(type >> 8) || p[1] != (uint8_t)type)
		return false;
	*ret_seq = vault__rd64(p + 2);
	return true;
}

/* Records are not in the type index: the first record at or after from (backward: the last
 * one before from), its leaves read one by one. Returns 0, -ENOENT or a read's error. */
static int record_near(struct vault_reader *r, uint64_t from, bool backward, uint64_t *ret_seq)
{
	uint64_t s = from;

	while (backward ? s > 0 : s < r->size) {
		uint64_t at = backward ? --s : s++;
		struct vault_leaf leaf;
		int rc = vault__leaf_get(r->v, r->txn, at, &leaf, NULL);
		if (rc < 0)
			return rc;
		if (leaf.type == VAULT_ENTRY_RECORD) {
			*ret_seq = at;
			return 0;
		}
	}
	return -ENOENT;
}

int vault_next_of_type(struct vault_reader *r, int type, uint64_t from, uint64_t *ret_seq)
{
	uint64_t seq;
	uint8_t key[10];
	MDB_val k = {10, key}, d;
	MDB_cursor *cur;
	int rc;

	if (type <= 0 || type >= _VAULT_ENTRY_TYPE_MAX)
		return -EINVAL;
	if (type == VAULT_ENTRY_RECORD)
		return record_near(r, from, false, ret_seq);
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_TYPES], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	type_key(key, type, from);
	rc = vault__cursor_get(r->v, cur, &k, &d, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == 10 && memcmp(k.mv_data, key, 10) < 0) {
		/* keys out of order (a damaged page): callers loop on from = seq + 1 */
		rc = -EBADMSG;
	} else if (rc == 0 && type_key_seq(&k, type, &seq) && seq < r->size) {
		*ret_seq = seq;
		rc = 0;
	} else {
		rc = rc == 0 || rc == MDB_NOTFOUND ? -ENOENT : vault__err_from_mdb(rc);
	}
	mdb_cursor_close(cur);
	return rc;
}

int vault_prev_of_type(struct vault_reader *r, int type, uint64_t before, uint64_t *ret_seq)
{
	uint64_t seq;
	uint8_t key[10];
	MDB_val k = {10, key}, d;
	MDB_cursor *cur;
	int rc;

	if (type <= 0 || type >= _VAULT_ENTRY_TYPE_MAX)
		return -EINVAL;
	if (before > r->size)
		before = r->size;
	if (type == VAULT_ENTRY_RECORD)
		return record_near(r, before, true, ret_seq);
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_TYPES], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	type_key(key, type, before);
	/* the key before the first one at or after (type, before) */
	rc = vault__cursor_get(r->v, cur, &k, &d, MDB_SET_RANGE);
	if (rc == 0)
		rc = vault__cursor_get(r->v, cur, &k, &d, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = vault__cursor_get(r->v, cur, &k, &d, MDB_LAST);
	if (rc == 0 && type_key_seq(&k, type, &seq) && seq < before) {
		*ret_seq = seq;
		rc = 0;
	} else {
		rc = rc == 0 || rc == MDB_NOTFOUND ? -ENOENT : vault__err_from_mdb(rc);
	}
	mdb_cursor_close(cur);
	return rc;
}

int vault_count_type(struct vault_reader *r, int type, uint64_t *ret_count)
{
	uint8_t key[10];
	MDB_val k = {10, key}, d;
	MDB_cursor *cur;
	uint64_t count = 0;
	int rc;

	if (type <= 0 || type >= _VAULT_ENTRY_TYPE_MAX)
		return -EINVAL;
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_TYPES], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	if (type != VAULT_ENTRY_RECORD)
		type_key(key, type, 0);
	for (rc = type == VAULT_ENTRY_RECORD ? vault__cursor_get(r->v, cur, &k, &d, MDB_FIRST)
	                                     : vault__cursor_get(r->v, cur, &k, &d, MDB_SET_RANGE);
	     rc == 0; rc = vault__cursor_get(r->v, cur, &k, &d, MDB_NEXT)) {
		const uint8_t *kk = k.mv_data;
		if (k.mv_size != 10 || vault__rd64(kk + 2) >= r->size)
			continue;
		if (type != VAULT_ENTRY_RECORD &&
		    (kk[0] != (uint8_t)(type >> 8) || kk[1] != (uint8_t)type))
			break;
		count++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return vault__err_from_mdb(rc);
	*ret_count = type == VAULT_ENTRY_RECORD ? r->size - count : count;
	return 0;
}
