/* SPDX-License-Identifier: Apache-2.0 */
/* Mirrors (vault.h, FORMAT.md §10): another host's entries and checkpoints stored as that host
 * stored them, checked link by link before they are written. Entries go through the same
 * vault__put_entry as vault_append's, so leaves, payloads, nodes and indexes are the origin's.
 * Writer thread only, as every write path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evident/invariant.h"
#include "internal.h"

#define SIG_DASH "\xe2\x80\x94 " /* U+2014 and a space: a note signature line starts so */

static bool subject_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return !s || (n > 0 && n <= VAULT_SUBJECT_MAX);
}

/* The dedup key of a payload (the mirror's dedup function), into dk; returns its length, 0
 * when the entry carries none, or a negative errno. */
static ssize_t derive_key(struct vault *v, uint16_t type, const uint8_t *payload, size_t len,
                          uint8_t dk[VAULT_DEDUP_KEY_MAX + 1])
{
	char client[VAULT_DEDUP_KEY_MAX], request[VAULT_DEDUP_KEY_MAX];
	int rc;

	if (!v->mirror_dedup_key)
		return 0;
	rc = v->mirror_dedup_key(v->mirror_dedup_userdata, type, payload, len, client, request);
	if (rc <= 0)
		/* a payload the application cannot read carries no key it could have stored */
		return rc == -EBADMSG ? 0 : rc;
	client[VAULT_DEDUP_KEY_MAX - 1] = request[VAULT_DEDUP_KEY_MAX - 1] = '\0';
	return vault__dedup_key(client, request, dk);
}

/* A mirrored prune entry: the payload it names goes from the mirror, with the dedup key that
 * names that entry, as vault_prune did at the origin. The prune must name an earlier entry
 * that is not a prune, with that entry's commitment and length. */
static int mirror_prune(struct vault *v, MDB_txn *txn, const struct vault_leaf *leaf,
                        const uint8_t *payload, size_t len)
{
	struct vault_prune_info pi;
	struct vault_leaf target;
	uint8_t key[8], dk[VAULT_DEDUP_KEY_MAX + 1];
	MDB_val k = {8, key}, d;
	ssize_t kl;
	int rc;

	if (vault_prune_decode(payload, len, &pi) < 0 || pi.target_seq >= leaf->seq)
		return -EBADMSG;
	rc = vault__leaf_get(v, txn, pi.target_seq, &target, NULL);
	if (rc < 0)
		return rc == -ENOENT ? -EBADMSG : rc;
	if (target.type == VAULT_ENTRY_PRUNE || target.payload_len != pi.payload_len ||
	    memcmp(target.payload_hash, pi.payload_hash, VAULT_HASH_LEN) != 0)
		return -EBADMSG;
	vault__be64(key, pi.target_seq);
	rc = mdb_get(txn, v->dbi[DB_PAYLOADS], &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0; /* it came without its payload: pruned before it was sent */
	if (rc)
		return vault__err_from_mdb(rc);
	size_t skip = target.version == 2 ? VAULT_NONCE_LEN : 0;
	if (d.mv_size < skip)
		return -EBADMSG;
	kl = derive_key(v, target.type, (const uint8_t *)d.mv_data + skip, d.mv_size - skip, dk);
	if (kl < 0)
		return (int)kl;
	if (kl > 0) {
		MDB_val dkey = {(size_t)kl, dk}, s;
		rc = mdb_get(txn, v->dbi[DB_DEDUP], &dkey, &s);
		if (rc == 0 && s.mv_size == 8 && vault__rd64(s.mv_data) == pi.target_seq)
			rc = mdb_del(txn, v->dbi[DB_DEDUP], &dkey, NULL);
		else if (rc == 0 || rc == MDB_NOTFOUND)
			rc = 0;
		if (rc)
			return vault__err_from_mdb(rc);
	}
	rc = mdb_del(txn, v->dbi[DB_PAYLOADS], &k, NULL);
	return rc ? vault__err_from_mdb(rc) : 0;
}

/* Checks one origin entry against the head h and stores it inside txn. */
static int mirror_one(struct vault *v, MDB_txn *txn, struct vault__head *h,
                      const struct vault_mirror_in *e)
{
	struct vault_append_result res;
	struct vault_leaf leaf;
	uint8_t c[VAULT_HASH_LEN], dk[VAULT_DEDUP_KEY_MAX + 1];
	ssize_t kl;
	int rc;

	if (vault_leaf_decode(e->leaf, VAULT_LEAF_LEN, &leaf) < 0)
		return -EBADMSG;
	if (leaf.seq < h->size)
		return -ESTALE;
	if (leaf.seq > h->size)
		return -EAGAIN;
	if (leaf.type == 0 || memcmp(leaf.prev_hash, h->last_leaf_hash, VAULT_HASH_LEN) != 0 ||
	    leaf.timestamp_ns < h->last_ts)
		return -EBADMSG;
	if (e->payload) {
		if (e->payload_len != leaf.payload_len || (leaf.version == 2) != (e->nonce != NULL))
			return -EBADMSG;
		rc = leaf.version == 2 ? vault__sha256_2(&v->hasher, e->nonce, VAULT_NONCE_LEN,
		                                         e->payload, e->payload_len, c)
		                       : vault__sha256(&v->hasher, e->payload, e->payload_len, c);
		if (rc < 0)
			return rc;
		if (memcmp(c, leaf.payload_hash, VAULT_HASH_LEN) != 0)
			return -EBADMSG;
	} else if (e->nonce || leaf.type == VAULT_ENTRY_PRUNE) {
		return -EBADMSG; /* a nonce goes with its payload; prune entries are never pruned */
	}
	if (leaf.type == VAULT_ENTRY_PRUNE) {
		rc = mirror_prune(v, txn, &leaf, e->payload, e->payload_len);
		if (rc < 0)
			return rc;
	}
	rc = vault__put_entry(v, txn, h, &leaf, e->payload ? e->nonce : NULL,
	                      e->payload ? e->payload : NULL, e->payload_len, e->subject, &res);
	if (rc < 0)
		return rc;
	INVARIANT(res.seq == leaf.seq);
	if (!e->payload)
		return 0;
	kl = derive_key(v, leaf.type, e->payload, e->payload_len, dk);
	if (kl <= 0)
		return (int)kl;
	/* The first entry with a key keeps it, as at the origin (which appends no second one) */
	uint8_t seqbuf[8];
	MDB_val dkey = {(size_t)kl, dk}, d = {8, seqbuf};
	vault__be64(seqbuf, leaf.seq);
	rc = mdb_put(txn, v->dbi[DB_DEDUP], &dkey, &d, MDB_NOOVERWRITE);
	return rc && rc != MDB_KEYEXIST ? vault__err_from_mdb(rc) : 0;
}

static int mirror_batch(struct vault *v, const struct vault_mirror_in *in, size_t n,
                        size_t *ret_index)
{
	struct vault__head h;
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	vault__head_load(v, &h);
	for (size_t i = 0; i < n; i++) {
		*ret_index = i;
		rc = mirror_one(v, txn, &h, &in[i]);
		if (rc < 0) {
			vault__txn_abort(v, txn);
			return rc;
		}
	}
	*ret_index = n;
	rc = vault__txn_commit(v, txn);
	if (rc == 0)
		vault__head_store(v, &h);
	return rc;
}

int vault_mirror_append(struct vault *v, const struct vault_mirror_in *in, size_t n,
                        struct vault_mirror_result *ret)
{
	size_t index = 0;
	int rc;

	if (!v || (n && !in))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!in[i].leaf || (in[i].payload && in[i].payload_len > VAULT_PAYLOAD_MAX) ||
		    !subject_ok(in[i].subject))
			return -EINVAL;
	if (!(v->flags & VAULT_OPEN_WRITE))
		rc = -EROFS;
	else if (!(v->flags & VAULT_OPEN_MIRROR))
		rc = -EPERM;
	else
		/* A full map is grown and the whole batch retried: the aborted txn changed nothing
		 */
		while ((rc = mirror_batch(v, in, n, &index)) == VAULT__EMAPFULL) {
			int g = vault__grow_map(v);
			if (g < 0) {
				rc = g;
				break;
			}
		}
	if (ret)
		*ret = (struct vault_mirror_result){.index = index, .size = v->size};
	return rc;
}

int vault_mirror_leaf(struct vault *v, uint64_t seq, uint8_t ret_leaf[VAULT_LEAF_LEN],
                      uint8_t ret_hash[VAULT_HASH_LEN])
{
	struct vault_leaf leaf;
	uint8_t hash[VAULT_HASH_LEN];
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, false, &txn);
	if (rc < 0)
		return rc;
	rc = vault__leaf_get(v, txn, seq, &leaf, hash);
	vault__txn_abort(v, txn);
	if (rc < 0)
		return rc;
	/* the encoding is fixed: decoding and encoding again gives the stored bytes */
	if (ret_leaf)
		vault_leaf_encode(&leaf, ret_leaf);
	if (ret_hash)
		memcpy(ret_hash, hash, VAULT_HASH_LEN);
	return 0;
}

/* The note as the origin stored it: the body and the first signature line by the mirror's
 * key (name and key id), malloc'd and NUL-terminated into *ret. */
static int origin_note(struct vault *v, const char *note, size_t len, char **ret)
{
	const struct vault_pubkey *key = &v->pubkey;
	size_t body_len, nl = strlen(key->name), dl = strlen(SIG_DASH);
	const char *p, *end = note + len;
	int rc = vault_note_split(note, len, &body_len);

	if (rc < 0)
		return -EBADMSG;
	for (p = note + body_len + 1; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);
		uint8_t sig[128];
		ssize_t sl;

		if (ll > dl + nl + 1 && memcmp(p, SIG_DASH, dl) == 0 &&
		    memcmp(p + dl, key->name, nl) == 0 && p[dl + nl] == ' ' &&
		    (sl = vault__b64_decode(p + dl + nl + 1, ll - dl - nl - 2, sig, sizeof(sig))) >=
		        4 &&
		    memcmp(sig, key->id, 4) == 0) {
			char *out = malloc(body_len + 1 + ll + 1);
			if (!out)
				return -ENOMEM;
			memcpy(out, note, body_len);
			out[body_len] = '\n';
			memcpy(out + body_len + 1, p, ll);
			out[body_len + 1 + ll] = '\0';
			*ret = out;
			return 0;
		}
		p += ll;
	}
	return -EBADMSG;
}

static int checkpoint_once(struct vault *v, const struct vault_checkpoint *cp, const char *note)
{
	uint8_t key[8], root[VAULT_HASH_LEN];
	MDB_val k = {8, key}, d;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	if (cp->size == 0)
		vault_hash_empty(root);
	else if ((rc = vault__range_hash(v, txn, &v->hasher, 0, cp->size, root)) < 0)
		goto fail;
	if (memcmp(root, cp->root, VAULT_HASH_LEN) != 0) {
		rc = -EXDEV;
		goto fail;
	}
	rc = mdb_cursor_open(txn, v->dbi[DB_CHECKPOINTS], &cur);
	if (rc) {
		rc = vault__err_from_mdb(rc);
		goto fail;
	}
	rc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == 0 && k.mv_size == 8 && vault__rd64(k.mv_data) >= cp->size) {
		rc = -ESTALE;
		goto fail;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rc = vault__err_from_mdb(rc);
		goto fail;
	}
	vault__be64(key, cp->size);
	k = (MDB_val){8, key};
	d = (MDB_val){strlen(note), (void *)note};
	rc = mdb_put(txn, v->dbi[DB_CHECKPOINTS], &k, &d, MDB_APPEND);
	if (rc) {
		rc = vault__err_from_mdb(rc);
		goto fail;
	}
	rc = vault__txn_commit(v, txn);
	return rc < 0 ? rc : vault__write_checkpoint_file(v, note);
fail:
	vault__txn_abort(v, txn);
	return rc;
}

int vault_mirror_checkpoint(struct vault *v, const char *note, size_t len)
{
	struct vault_checkpoint cp;
	char *stored = NULL;
	int rc;

	if (!v || (!note && len))
		return -EINVAL;
	if (!(v->flags & VAULT_OPEN_WRITE))
		return -EROFS;
	if (!(v->flags & VAULT_OPEN_MIRROR))
		return -EPERM;
	if (!note || len == 0 || vault_checkpoint_parse(note, len, &v->pubkey, &cp) < 0 ||
	    strcmp(cp.origin, v->origin) != 0)
		return -EBADMSG;
	if (cp.size > v->size)
		return -ERANGE;
	rc = origin_note(v, note, len, &stored);
	if (rc < 0)
		return rc;
	while ((rc = checkpoint_once(v, &cp, stored)) == VAULT__EMAPFULL) {
		int g = vault__grow_map(v);
		if (g < 0) {
			rc = g;
			break;
		}
	}
	free(stored);
	return rc;
}
