/* SPDX-License-Identifier: Apache-2.0 */
/* Full re-derivation of a vault from its stored bytes (as Tessera's fsck): the only judge of
 * whether a vault is intact.
 *
 * The calling thread walks the leaves in order and rebuilds the chain, the leaf hashes, every
 * Merkle node and every checkpointed root. Payload hashing (the bulk of the bytes) runs
 * beside it in worker threads over contiguous seq ranges, each in its own read transaction.
 * The vault is append-only, so every snapshot taken after the walker's agrees with it on
 * entries below the walker's size; the one thing a later snapshot may lack is a payload
 * pruned in between, so a payload a worker misses is re-read in the walker's snapshot before
 * it is called missing. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define PROGRESS_EVERY 65536
#define MAX_WORKERS    8

static const char *const problem_names[_VAULT_PROBLEM_MAX] = {
    [VAULT_OK] = "ok",
    [VAULT_PROBLEM_LEAF_MALFORMED] = "malformed leaf",
    [VAULT_PROBLEM_SEQ_GAP] = "missing entry",
    [VAULT_PROBLEM_SEQ_MISMATCH] = "entry out of place",
    [VAULT_PROBLEM_CHAIN] = "hash chain broken",
    [VAULT_PROBLEM_TIME_ORDER] = "timestamps out of order",
    [VAULT_PROBLEM_PAYLOAD_HASH] = "payload does not match its leaf",
    [VAULT_PROBLEM_PAYLOAD_MISSING] = "payload missing without a prune entry",
    [VAULT_PROBLEM_PRUNE_MALFORMED] = "invalid prune entry",
    [VAULT_PROBLEM_LEAF_HASH] = "leaf hash does not match the leaf",
    [VAULT_PROBLEM_NODE] = "Merkle node does not match",
    [VAULT_PROBLEM_CHECKPOINT_SIG] = "checkpoint signature invalid",
    [VAULT_PROBLEM_CHECKPOINT_ROOT] = "checkpoint root does not match the entries",
    [VAULT_PROBLEM_TRUNCATED] = "vault truncated relative to a checkpoint",
    [VAULT_PROBLEM_EXTRA] = "data stored beyond the last entry",
    [VAULT_PROBLEM_BLOB] = "blob content does not match its hash",
    [VAULT_PROBLEM_DEDUP] = "dedup index disagrees with the entries",
    [VAULT_PROBLEM_INDEX] = "type index disagrees with the entries",
    [VAULT_PROBLEM_UNSIGNED] = "no signed checkpoint covers the entries",
    [VAULT_PROBLEM_MODEL_INDEX] = "model index disagrees with the entries",
};

const char *vault_problem_name(enum vault_problem p)
{
	if ((int)p < 0 || p >= _VAULT_PROBLEM_MAX)
		return "unknown problem";
	return problem_names[p];
}

struct finding {
	enum vault_problem problem;
	uint64_t seq;
	char detail[256];
};

/* Keeps the finding with the lowest seq (the first bad entry). */
static void found(struct finding *f, enum vault_problem p, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void found(struct finding *f, enum vault_problem p, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (f->problem != VAULT_OK && f->seq <= seq)
		return;
	f->problem = p;
	f->seq = seq;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

static int u64vec_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		uint64_t *nv = realloc(a->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* ------------------------------------------------------------------ payload workers */

/* The dedup index is compared with the entries as two multisets of (key, seq) pairs: each
 * side sums a keyed 128-bit hash (SipHash-2-4 with a key drawn for this run, which whoever
 * damaged the file cannot know) of every pair, the entries' side in the payload workers as
 * they derive each key, the index's side in one walk of the index in key order. Equal sums
 * and counts mean equal multisets (a different multiset with the same sum is a collision of
 * an unknown PRF: 2^-128); anything else sends verify back over the entries, looking each
 * key up, to name the first entry whose key is missing or wrong (dedup_exact). Looking every
 * key up is what verify did before: one random descent of a 730 MB B-tree an entry on ten
 * million, a third of verify's time there. The model index is compared the same way, as
 * (model key, seq) pairs. */
#define PAIR_KEY_MAX                                                             \
	(VAULT_DEDUP_KEY_MAX + 1 > VAULT_MODEL_MAX + 9 ? VAULT_DEDUP_KEY_MAX + 1 \
	                                               : VAULT_MODEL_MAX + 9)
struct pair_sum {
	uint64_t lo, hi, n;
	bool odd; /* a key that cannot be an entry's (too long): never equal */
};

static void pair_sum_add(struct pair_sum *a, const uint8_t prf_key[16], const void *dk, size_t dkl,
                         uint64_t seq)
{
	uint8_t in[PAIR_KEY_MAX + 8], out[16];
	uint64_t x, y;

	a->n++;
	if (dkl > PAIR_KEY_MAX) {
		a->odd = true;
		return;
	}
	memcpy(in, dk, dkl);
	vault__be64(in + dkl, seq); /* seq has a fixed length: the pair's encoding is unique */
	crypto_shorthash_siphashx24(out, in, dkl + 8, prf_key);
	memcpy(&x, out, 8);
	memcpy(&y, out + 8, 8);
	a->lo += x;
	a->hi += y + (a->lo < x);
}

static bool pair_sum_equal(const struct pair_sum *a, const struct pair_sum *b)
{
	return !a->odd && !b->odd && a->n == b->n && a->lo == b->lo && a->hi == b->hi;
}

static void pair_sum_merge(struct pair_sum *into, const struct pair_sum *a)
{
	into->lo += a->lo;
	into->hi += a->hi + (into->lo < a->lo);
	into->n += a->n;
	into->odd |= a->odd;
}

/* With a model_key callback and a complete model index: the entry's model index key is added
 * to *sum and counted in *modeled. */
static void model_entry_add(const struct vault *v, const struct vault_verify_options *o,
                            uint64_t seq, uint16_t type, const uint8_t *payload, size_t len,
                            struct pair_sum *sum, uint64_t *modeled, const uint8_t prf_key[16])
{
	uint8_t mk[VAULT_MODEL_MAX + 1 + 8];
	size_t ml;

	if (!o || !o->model_key || !v->models_complete)
		return;
	ml = vault__model_index_key(o->model_key, o->model_userdata, type, payload, len, seq, mk);
	if (ml) {
		pair_sum_add(sum, prf_key, mk, ml, seq);
		(*modeled)++;
	}
}

/* With a dedup_key callback: the entry's key (client, request, seq) is added to *sum; without
 * a sum (dedup_exact) it is looked up instead and must be in the index and name the entry.
 * Counts the keyed entries in *keyed (the index may hold no others: check_dedup). */
static int dedup_entry_check(struct vault *v, MDB_txn *txn, const struct vault_verify_options *o,
                             uint64_t seq, uint16_t type, const uint8_t *payload, size_t len,
                             struct finding *f, uint64_t *keyed, struct pair_sum *sum,
                             const uint8_t prf_key[16])
{
	char client[VAULT_DEDUP_KEY_MAX], request[VAULT_DEDUP_KEY_MAX];
	uint8_t dk[VAULT_DEDUP_KEY_MAX + 1];
	MDB_val k, d;
	ssize_t kl;
	int rc;

	if (!o || !o->dedup_key)
		return 0;
	rc = o->dedup_key(o->dedup_userdata, type, payload, len, client, request);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		found(f, VAULT_PROBLEM_DEDUP, seq,
		      "entry %" PRIu64 ": its payload does not decode, so its dedup key cannot be "
		      "derived",
		      seq);
		return 0;
	}
	client[VAULT_DEDUP_KEY_MAX - 1] = request[VAULT_DEDUP_KEY_MAX - 1] = 0;
	kl = vault__dedup_key(client, request, dk);
	if (kl < 0) {
		found(f, VAULT_PROBLEM_DEDUP, seq, "entry %" PRIu64 ": its dedup key is too long",
		      seq);
		return 0;
	}
	if (sum) {
		pair_sum_add(sum, prf_key, dk, (size_t)kl, seq);
		(*keyed)++;
		return 0;
	}
	k = (MDB_val){(size_t)kl, dk};
	rc = vault__get(v, txn, DB_DEDUP, &k, &d);
	if (rc == MDB_NOTFOUND) {
		found(f, VAULT_PROBLEM_DEDUP, seq,
		      "entry %" PRIu64 ": its dedup key (client \"%.60s\", request \"%.60s\") is "
		      "missing from the index: a retry would be stored twice",
		      seq, client, request);
		return 0;
	}
	if (rc)
		return vault__err_from_mdb(rc);
	if (d.mv_size != 8 || vault__rd64(d.mv_data) != seq) {
		found(f, VAULT_PROBLEM_DEDUP, seq,
		      "entry %" PRIu64 ": its dedup key (client \"%.60s\", request \"%.60s\") "
		      "names entry %" PRIu64 " instead",
		      seq, client, request, d.mv_size == 8 ? vault__rd64(d.mv_data) : UINT64_MAX);
		return 0;
	}
	(*keyed)++;
	return 0;
}

struct worker {
	struct vault *v;
	const struct vault_verify_options *o;
	uint64_t keyed; /* entries carrying a dedup key, checked against the index */
	struct pair_sum sum;
	uint64_t modeled; /* entries with a model, their keys in msum */
	struct pair_sum msum;
	const uint8_t *prf_key;
	pthread_t thread;
	uint64_t from, to;
	_Atomic uint64_t done;
	_Atomic bool *stop;
	uint64_t bytes;
	struct u64vec missing; /* seqs without a payload, ascending */
	struct finding f;
	int err;
};

static void *payload_worker(void *arg)
{
	struct worker *w = arg;
	struct vault *v = w->v;
	struct vault__hasher h = {0};
	MDB_txn *txn = NULL;
	MDB_cursor *cl = NULL, *cp = NULL;
	MDB_val lk, lv, pk, pv;
	uint8_t key[8];
	int rc, prc;

	if ((w->err = vault__hasher_init(&h, v->sha256)) < 0)
		return NULL;
	if ((w->err = vault__txn_begin(v, false, &txn)) < 0 ||
	    (w->err = vault__check_all(v, txn, 1)) < 0)
		goto out;
	if ((rc = mdb_cursor_open(txn, v->dbi[DB_LEAVES], &cl)) ||
	    (rc = mdb_cursor_open(txn, v->dbi[DB_PAYLOADS], &cp))) {
		w->err = vault__err_from_mdb(rc);
		goto out;
	}
	vault__be64(key, w->from);
	lk = pk = (MDB_val){8, key};
	rc = mdb_cursor_get(cl, &lk, &lv, MDB_SET_RANGE);
	prc = mdb_cursor_get(cp, &pk, &pv, MDB_SET_RANGE);
	for (uint64_t seq = w->from; seq < w->to; seq++) {
		struct vault_leaf leaf;
		uint8_t hash[32];

		if (atomic_load_explicit(w->stop, memory_order_relaxed))
			break;
		/* Leaves are the walker's business; here only their payload fields matter. */
		while (rc == 0 && lk.mv_size == 8 && vault__rd64(lk.mv_data) < seq)
			rc = mdb_cursor_get(cl, &lk, &lv, MDB_NEXT);
		if (rc || lk.mv_size != 8 || vault__rd64(lk.mv_data) != seq ||
		    vault_leaf_decode(lv.mv_data, lv.mv_size >= VAULT_LEAF_LEN ? VAULT_LEAF_LEN : 0,
		                      &leaf) < 0)
			goto next; /* reported by the walker */
		while (prc == 0 && pk.mv_size == 8 && vault__rd64(pk.mv_data) < seq)
			prc = mdb_cursor_get(cp, &pk, &pv, MDB_NEXT);
		if (prc != 0 || pk.mv_size != 8 || vault__rd64(pk.mv_data) != seq) {
			if (prc != 0 && prc != MDB_NOTFOUND) {
				w->err = vault__err_from_mdb(prc);
				break;
			}
			if (u64vec_push(&w->missing, seq) < 0) {
				w->err = -ENOMEM;
				break;
			}
			goto next;
		}
		/* v1: the value is the payload; v2: nonce || payload (FORMAT.md §3) */
		const uint8_t *pdata = pv.mv_data;
		size_t plen = pv.mv_size;
		if (leaf.version == 2 && plen < VAULT_NONCE_LEN) {
			found(&w->f, VAULT_PROBLEM_PAYLOAD_HASH, seq,
			      "entry %" PRIu64 ": stored payload of %zu bytes has no room for its "
			      "%d-byte nonce",
			      seq, plen, VAULT_NONCE_LEN);
			break;
		}
		if (leaf.version == 2) {
			pdata += VAULT_NONCE_LEN;
			plen -= VAULT_NONCE_LEN;
		}
		if ((leaf.version == 2
		         ? vault__sha256_2(&h, pv.mv_data, VAULT_NONCE_LEN, pdata, plen, hash)
		         : vault__sha256(&h, pdata, plen, hash)) < 0) {
			w->err = -EIO;
			break;
		}
		w->bytes += plen;
		if (plen != leaf.payload_len || memcmp(hash, leaf.payload_hash, 32) != 0) {
			char a[65], b[65];
			found(
			    &w->f, VAULT_PROBLEM_PAYLOAD_HASH, seq,
			    "entry %" PRIu64 ": payload has %zu bytes, %s %s; its leaf says "
			    "%" PRIu64 " bytes, %s",
			    seq, plen, leaf.version == 2 ? "SHA-256(nonce || payload)" : "SHA-256",
			    vault_hex(hash, a), leaf.payload_len, vault_hex(leaf.payload_hash, b));
			break;
		}
		w->err = dedup_entry_check(v, txn, w->o, seq, leaf.type, pdata, plen, &w->f,
		                           &w->keyed, &w->sum, w->prf_key);
		model_entry_add(v, w->o, seq, leaf.type, pdata, plen, &w->msum, &w->modeled,
		                w->prf_key);
		if (w->err < 0 || w->f.problem != VAULT_OK)
			break;
	next:
		if ((seq & 1023) == 0)
			atomic_store_explicit(&w->done, seq - w->from, memory_order_relaxed);
	}
	atomic_store_explicit(&w->done, w->to - w->from, memory_order_relaxed);
out:
	if (cl)
		mdb_cursor_close(cl);
	if (cp)
		mdb_cursor_close(cp);
	vault__txn_abort(v, txn);
	vault__hasher_deinit(&h);
	return NULL;
}

/* ------------------------------------------------------------------ checkpoints */

struct cp_check {
	uint64_t size;
	uint8_t root[32];
	char label[64];
};

static int cp_cmp(const void *a, const void *b)
{
	const struct cp_check *x = a, *y = b;
	return x->size < y->size ? -1 : x->size > y->size;
}

/* Collects stored and external checkpoints, checking signatures and sizes. */
static int collect_checkpoints(struct vault *v, MDB_txn *txn, uint64_t n,
                               const struct vault_verify_options *o, const struct vault_pubkey *key,
                               struct cp_check **ret, size_t *ret_n, struct finding *f)
{
	struct cp_check *cps = NULL;
	size_t count = 0, cap = 0;
	MDB_cursor *cur;
	MDB_val k, d;
	int rc;

	rc = mdb_cursor_open(txn, v->dbi[DB_CHECKPOINTS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	size_t ext = o ? o->n_checkpoints : 0;
	for (size_t i = 0;; i++) {
		struct vault_checkpoint cp;
		const char *note;
		size_t len;
		char label[64];

		if (i < ext) {
			note = o->checkpoints[i];
			len = o->checkpoint_lens[i];
			snprintf(label, sizeof(label), "given checkpoint #%zu", i + 1);
		} else {
			rc = mdb_cursor_get(cur, &k, &d, i == ext ? MDB_FIRST : MDB_NEXT);
			if (rc == MDB_NOTFOUND)
				break;
			if (rc) {
				rc = vault__err_from_mdb(rc);
				goto fail;
			}
			note = d.mv_data;
			len = d.mv_size;
			snprintf(label, sizeof(label), "stored checkpoint of size %" PRIu64,
			         k.mv_size == 8 ? vault__rd64(k.mv_data) : 0);
		}
		rc = vault_checkpoint_parse(note, len, key, &cp);
		if (rc < 0) {
			found(f, VAULT_PROBLEM_CHECKPOINT_SIG, n, "%s: %s", label,
			      rc == -ENOKEY         ? "not signed by the vault's key"
			      : rc == -EKEYREJECTED ? "signature does not verify"
			                            : "malformed signed note");
			continue;
		}
		if (strcmp(cp.origin, v->origin) != 0) {
			found(f, VAULT_PROBLEM_CHECKPOINT_SIG, n,
			      "%s: origin \"%s\" is not this vault's \"%s\"", label, cp.origin,
			      v->origin);
			continue;
		}
		if (i >= ext && (k.mv_size != 8 || vault__rd64(k.mv_data) != cp.size)) {
			found(f, VAULT_PROBLEM_CHECKPOINT_SIG, n,
			      "%s: stored under the wrong size (body says %" PRIu64 ")", label,
			      cp.size);
			continue;
		}
		if (cp.size > n) {
			found(f, VAULT_PROBLEM_TRUNCATED, n,
			      "%s covers %" PRIu64 " entries but the vault holds %" PRIu64
			      ": entries %" PRIu64 "..%" PRIu64 " are gone",
			      label, cp.size, n, n, cp.size - 1);
			continue;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			struct cp_check *nc = realloc(cps, cap * sizeof(*nc));
			if (!nc) {
				rc = -ENOMEM;
				goto fail;
			}
			cps = nc;
		}
		cps[count].size = cp.size;
		memcpy(cps[count].root, cp.root, 32);
		snprintf(cps[count].label, sizeof(cps[count].label), "%s", label);
		count++;
	}
	mdb_cursor_close(cur);
	if (count)
		qsort(cps, count, sizeof(*cps), cp_cmp);
	*ret = cps;
	*ret_n = count;
	return 0;
fail:
	mdb_cursor_close(cur);
	free(cps);
	return rc;
}

/* ------------------------------------------------------------------ the walker */

struct walk {
	struct vault *v;
	MDB_txn *txn;
	struct vault__hasher h;
	uint64_t n;
	struct finding f;
	struct u64vec pruned; /* targets named by prune entries, in entry order */
	uint64_t prune_entries;
	uint64_t indexed; /* non-record entries, each of which must be in the type index */
	const struct vault_verify_options *o;
	uint64_t keyed;      /* entries whose dedup key was found naming them (workers + missing) */
	struct pair_sum sum; /* their (key, seq) pairs */
	uint64_t modeled;    /* entries with a model (workers + missing) */
	struct pair_sum msum; /* their model index keys */
	uint8_t prf_key[16];
};

/* A stored payload value as the leaf commits to it: *d becomes the payload (a v2 value's
 * nonce skipped) and *ret_commit its commitment. Returns 0; 1 when the value is too short to
 * hold a v2 nonce (damage); -EIO. */
static int payload_commit(struct vault__hasher *h, const struct vault_leaf *leaf, MDB_val *d,
                          uint8_t ret_commit[32])
{
	const uint8_t *nonce = d->mv_data;

	if (leaf->version == 2) {
		if (d->mv_size < VAULT_NONCE_LEN)
			return 1;
		d->mv_data = (uint8_t *)d->mv_data + VAULT_NONCE_LEN;
		d->mv_size -= VAULT_NONCE_LEN;
		return vault__sha256_2(h, nonce, VAULT_NONCE_LEN, d->mv_data, d->mv_size,
		                       ret_commit) < 0
		           ? -EIO
		           : 0;
	}
	return vault__sha256(h, d->mv_data, d->mv_size, ret_commit) < 0 ? -EIO : 0;
}

/* Checks a prune entry's payload against its target, read from the walker's snapshot. */
static int check_prune(struct walk *w, uint64_t seq, const struct vault_leaf *leaf)
{
	uint8_t key[8], hash[32];
	MDB_val k = {8, key}, d;
	struct vault_prune_info pi;
	struct vault_leaf target;
	int rc;

	vault__be64(key, seq);
	rc = vault__get(w->v, w->txn, DB_PAYLOADS, &k, &d);
	if (rc == MDB_NOTFOUND) {
		found(&w->f, VAULT_PROBLEM_PAYLOAD_MISSING, seq,
		      "prune entry %" PRIu64 " has lost its own payload", seq);
		return 0;
	}
	if (rc)
		return vault__err_from_mdb(rc);
	rc = payload_commit(&w->h, leaf, &d, hash);
	if (rc < 0)
		return rc;
	if (rc > 0 || memcmp(hash, leaf->payload_hash, 32) != 0) {
		/* The payload workers report the altered payload at this seq; still take its
		 * target so the pruned payload is not also called missing at a lower seq. */
		if (vault_prune_decode(d.mv_data, d.mv_size, &pi) == 0)
			return u64vec_push(&w->pruned, pi.target_seq);
		return 0;
	}
	if (vault_prune_decode(d.mv_data, d.mv_size, &pi) < 0) {
		found(&w->f, VAULT_PROBLEM_PRUNE_MALFORMED, seq,
		      "prune entry %" PRIu64 " does not decode", seq);
		return 0;
	}
	if (pi.target_seq >= seq) {
		found(&w->f, VAULT_PROBLEM_PRUNE_MALFORMED, seq,
		      "prune entry %" PRIu64 " names entry %" PRIu64 ", which is not older", seq,
		      pi.target_seq);
		return 0;
	}
	rc = vault__leaf_get(w->v, w->txn, pi.target_seq, &target, NULL);
	if (rc < 0)
		return rc == -ENOENT || rc == -EBADMSG ? 0 : rc; /* reported by the walk */
	if (target.type == VAULT_ENTRY_PRUNE || target.payload_len != pi.payload_len ||
	    memcmp(target.payload_hash, pi.payload_hash, 32) != 0) {
		found(&w->f, VAULT_PROBLEM_PRUNE_MALFORMED, seq,
		      "prune entry %" PRIu64 " does not describe entry %" PRIu64, seq,
		      pi.target_seq);
		return 0;
	}
	w->prune_entries++;
	return u64vec_push(&w->pruned, pi.target_seq);
}

/* The walk stopped at a problem; prune entries after it still explain missing payloads
 * before it, so collect their targets (without judging them: the vault already failed). */
static int collect_later_prunes(struct walk *w, uint64_t from)
{
	MDB_cursor *c;
	uint8_t key[8];
	MDB_val k = {8, key}, d;
	int rc;

	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_LEAVES], &c);
	if (rc)
		return vault__err_from_mdb(rc);
	vault__be64(key, from);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		struct vault_leaf leaf;
		struct vault_prune_info pi;
		MDB_val pk = k, pd;
		if (vault_leaf_decode(d.mv_data, d.mv_size < VAULT_LEAF_LEN ? 0 : VAULT_LEAF_LEN,
		                      &leaf) < 0 ||
		    leaf.type != VAULT_ENTRY_PRUNE)
			continue;
		uint8_t commit[32];
		if (vault__get(w->v, w->txn, DB_PAYLOADS, &pk, &pd) == 0 &&
		    payload_commit(&w->h, &leaf, &pd, commit) == 0 &&
		    vault_prune_decode(pd.mv_data, pd.mv_size, &pi) == 0 &&
		    u64vec_push(&w->pruned, pi.target_seq) < 0) {
			mdb_cursor_close(c);
			return -ENOMEM;
		}
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : vault__err_from_mdb(rc);
}

/* Where the walk is: the cursors over the leaves and the Merkle nodes (with their last
 * results), the previous leaf hash, the tree's frontier, the next checkpoint to compare. */
struct walk_pos {
	MDB_cursor *cl, *cn;
	MDB_val lk, lv, nk, nv;
	int lrc, nrc;
	uint8_t prev[32];
	uint8_t frontier[64][32];
	uint64_t last_ts;
	size_t next_cp;
};

/* Entry seq's leaf, at the leaf cursor: present, decodable, numbered seq, its stored hash
 * right, chained to the previous one, not older than it. Returns 0 with *leaf and its hash
 * lh, 1 when it is not (the finding is in w->f), or a negative errno. */
static int read_leaf(struct walk *w, struct walk_pos *p, uint64_t seq, struct vault_leaf *leaf,
                     uint8_t lh[32])
{
	if (p->lrc == MDB_NOTFOUND ||
	    (p->lrc == 0 && p->lk.mv_size == 8 && vault__rd64(p->lk.mv_data) > seq)) {
		found(&w->f, VAULT_PROBLEM_SEQ_GAP, seq, "entry %" PRIu64 " is missing (deleted?)",
		      seq);
		return 1;
	}
	if (p->lrc)
		return vault__err_from_mdb(p->lrc);
	if (p->lk.mv_size != 8 || p->lv.mv_size != VAULT_LEAF_LEN + 32 ||
	    vault_leaf_decode(p->lv.mv_data, VAULT_LEAF_LEN, leaf) < 0) {
		found(&w->f, VAULT_PROBLEM_LEAF_MALFORMED, seq,
		      "entry %" PRIu64 ": stored leaf does not decode", seq);
		return 1;
	}
	if (leaf->seq != seq) {
		found(&w->f, VAULT_PROBLEM_SEQ_MISMATCH, seq,
		      "entry %" PRIu64 ": its leaf says it is entry %" PRIu64, seq, leaf->seq);
		return 1;
	}
	if (vault__hash_leaf(&w->h, p->lv.mv_data, VAULT_LEAF_LEN, lh) < 0)
		return -EIO;
	if (memcmp(lh, (const uint8_t *)p->lv.mv_data + VAULT_LEAF_LEN, 32) != 0) {
		found(&w->f, VAULT_PROBLEM_LEAF_HASH, seq,
		      "entry %" PRIu64 ": leaf was altered (its hash does not match)", seq);
		return 1;
	}
	if (memcmp(leaf->prev_hash, p->prev, 32) != 0) {
		/* The leaf hash checked out, so either this leaf's link or the previous leaf
		 * changed; name the earlier one. */
		found(&w->f, VAULT_PROBLEM_CHAIN, seq ? seq - 1 : 0,
		      "entry %" PRIu64 " does not chain to entry %" PRIu64
		      " (one of them was altered)",
		      seq, seq ? seq - 1 : 0);
		return 1;
	}
	if (leaf->timestamp_ns < p->last_ts) {
		found(&w->f, VAULT_PROBLEM_TIME_ORDER, seq,
		      "entry %" PRIu64 " is older than entry %" PRIu64, seq, seq - 1);
		return 1;
	}
	return 0;
}

/* A prune entry describes its target (a finding does not stop the walk here); every entry
 * but a record is in the type index. Returns 0, 1 when an entry is missing from the index,
 * or a negative errno. */
static int check_indexed(struct walk *w, uint64_t seq, const struct vault_leaf *leaf)
{
	int rc;

	if (leaf->type == VAULT_ENTRY_PRUNE && (rc = check_prune(w, seq, leaf)) < 0)
		return rc;
	if (leaf->type == VAULT_ENTRY_RECORD)
		return 0;
	uint8_t tk[10];
	MDB_val tkey = {10, tk}, td;
	tk[0] = (uint8_t)(leaf->type >> 8);
	tk[1] = (uint8_t)leaf->type;
	vault__be64(tk + 2, seq);
	rc = vault__get(w->v, w->txn, DB_TYPES, &tkey, &td);
	if (rc == MDB_NOTFOUND) {
		found(&w->f, VAULT_PROBLEM_INDEX, seq,
		      "entry %" PRIu64 " (%s) is missing from the type index", seq,
		      vault_entry_type_name(leaf->type) ? vault_entry_type_name(leaf->type)
		                                        : "unknown type");
		return 1;
	}
	if (rc)
		return vault__err_from_mdb(rc);
	w->indexed++;
	return 0;
}

/* Rebuilds the tree as the writer did with leaf hash lh of entry seq and compares each node
 * it completes with the stored one, at the node cursor. Returns 0, 1 when a node is missing
 * or altered, or a negative errno. */
static int check_nodes(struct walk *w, struct walk_pos *p, uint64_t seq, const uint8_t lh[32])
{
	uint8_t node[32];
	uint64_t idx = seq;
	unsigned level = 0;

	memcpy(node, lh, 32);
	while (idx & 1) {
		if (vault__hash_children(&w->h, p->frontier[level], node, node) < 0)
			return -EIO;
		idx >>= 1;
		level++;
		uint64_t pos = vault__node_pos(level, idx);
		bool there = p->nrc == 0 && p->nk.mv_size == 8 && vault__rd64(p->nk.mv_data) == pos;
		if (!there || p->nv.mv_size != 32 || memcmp(p->nv.mv_data, node, 32) != 0) {
			if (p->nrc != 0 && p->nrc != MDB_NOTFOUND)
				return vault__err_from_mdb(p->nrc);
			found(&w->f, VAULT_PROBLEM_NODE, seq,
			      "Merkle node (level %u, index %" PRIu64
			      ") completed by entry %" PRIu64 " is %s",
			      level, idx, seq, there ? "altered" : "missing");
			return 1;
		}
		p->nrc = mdb_cursor_get(p->cn, &p->nk, &p->nv, MDB_NEXT);
	}
	memcpy(p->frontier[level], node, 32);
	return 0;
}

/* The checkpoints of the first size entries: their roots against the tree's. Returns 0 or a
 * negative errno; a different root is a finding. */
static int check_checkpoints(struct walk *w, struct walk_pos *p, const struct cp_check *cps,
                             size_t ncps, uint64_t size)
{
	while (p->next_cp < ncps && cps[p->next_cp].size == size) {
		const struct cp_check *cp = &cps[p->next_cp++];
		uint8_t root[32];
		if (size == 0)
			vault_hash_empty(root);
		else if (vault__frontier_root(&w->h, p->frontier, size, root) < 0)
			return -EIO;
		if (memcmp(root, cp->root, 32) == 0)
			continue;
		if (size == 0)
			found(&w->f, VAULT_PROBLEM_CHECKPOINT_ROOT, 0,
			      "%s: root of the empty tree differs", cp->label);
		else
			found(&w->f, VAULT_PROBLEM_CHECKPOINT_ROOT, size - 1,
			      "%s: the first %" PRIu64
			      " entries have a different root (an entry up to %" PRIu64
			      " was changed)",
			      cp->label, size, size - 1);
	}
	return 0;
}

/* Progress: the walker's entries done, or a worker's when it is behind. */
static void report_progress(const struct walk *w, const struct vault_verify_options *o,
                            const struct worker *workers, size_t nworkers, uint64_t done)
{
	for (size_t i = 0; i < nworkers; i++) {
		uint64_t wd =
		    workers[i].from + atomic_load_explicit(&workers[i].done, memory_order_relaxed);
		if (wd < workers[i].to && wd < done)
			done = wd;
	}
	o->progress(o->progress_userdata, done, w->n);
}

/* Walks the leaves in order: each leaf, the indexes it must be in, the Merkle nodes it
 * completes, the checkpoints it ends; stops at the first finding, collecting the prune
 * entries after it. Returns 0 (with the root in ret_root when nothing was found) or a
 * negative errno. */
static int walk(struct walk *w, const struct cp_check *cps, size_t ncps,
                const struct vault_verify_options *o, struct worker *workers, size_t nworkers,
                uint8_t ret_root[32])
{
	struct vault *v = w->v;
	struct walk_pos p = {0};
	int rc;

	if ((rc = mdb_cursor_open(w->txn, v->dbi[DB_LEAVES], &p.cl)) ||
	    (rc = mdb_cursor_open(w->txn, v->dbi[DB_NODES], &p.cn))) {
		rc = vault__err_from_mdb(rc);
		goto out;
	}
	p.lrc = mdb_cursor_get(p.cl, &p.lk, &p.lv, MDB_FIRST);
	p.nrc = mdb_cursor_get(p.cn, &p.nk, &p.nv, MDB_FIRST);
	if ((rc = check_checkpoints(w, &p, cps, ncps, 0)) < 0)
		goto out;
	for (uint64_t seq = 0; seq < w->n; seq++) {
		struct vault_leaf leaf;
		uint8_t lh[32];

		if (w->f.problem != VAULT_OK && w->f.seq <= seq)
			break;
		if ((rc = read_leaf(w, &p, seq, &leaf, lh)) ||
		    (rc = check_indexed(w, seq, &leaf))) {
			if (rc < 0)
				goto out;
			break;
		}
		p.last_ts = leaf.timestamp_ns;
		memcpy(p.prev, lh, 32);
		if ((rc = check_nodes(w, &p, seq, lh)) < 0)
			goto out;
		if (w->f.problem != VAULT_OK && w->f.seq <= seq)
			break; /* a node failed above, or the prune check */
		if ((rc = check_checkpoints(w, &p, cps, ncps, seq + 1)) < 0)
			goto out;
		p.lrc = mdb_cursor_get(p.cl, &p.lk, &p.lv, MDB_NEXT);
		if (o && o->progress && (seq % PROGRESS_EVERY) == PROGRESS_EVERY - 1)
			report_progress(w, o, workers, nworkers, seq + 1);
	}
	if (w->f.problem != VAULT_OK && w->f.seq < w->n) {
		rc = collect_later_prunes(w, w->f.seq);
		if (rc < 0)
			goto out;
	}
	if (w->f.problem == VAULT_OK && p.nrc == 0) {
		found(&w->f, VAULT_PROBLEM_EXTRA, w->n,
		      "Merkle nodes stored beyond the %" PRIu64 " entries (an entry was removed?)",
		      w->n);
	}
	rc = 0;
	if (w->f.problem == VAULT_OK && vault__frontier_root(&w->h, p.frontier, w->n, ret_root) < 0)
		rc = -EIO;
out:
	if (p.cl)
		mdb_cursor_close(p.cl);
	if (p.cn)
		mdb_cursor_close(p.cn);
	return rc;
}

static int u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Payloads the workers did not find must be named by a prune entry, or still be present in
 * the walker's (older) snapshot, where they are hashed now. */
static int check_missing(struct walk *w, struct worker *workers, size_t nworkers, uint64_t *bytes)
{
	if (w->pruned.n)
		qsort(w->pruned.v, w->pruned.n, sizeof(uint64_t), u64cmp);
	for (size_t i = 0; i < nworkers; i++) {
		for (size_t j = 0; j < workers[i].missing.n; j++) {
			uint64_t seq = workers[i].missing.v[j];
			uint8_t key[8], hash[32];
			MDB_val k = {8, key}, d;
			struct vault_leaf leaf;
			int rc;

			if (w->pruned.n &&
			    bsearch(&seq, w->pruned.v, w->pruned.n, sizeof(uint64_t), u64cmp))
				continue;
			vault__be64(key, seq);
			rc = vault__get(w->v, w->txn, DB_PAYLOADS, &k, &d);
			if (rc == MDB_NOTFOUND) {
				found(&w->f, VAULT_PROBLEM_PAYLOAD_MISSING, seq,
				      "entry %" PRIu64 ": payload is missing and no prune entry "
				      "names it",
				      seq);
				break;
			}
			if (rc)
				return vault__err_from_mdb(rc);
			rc = vault__leaf_get(w->v, w->txn, seq, &leaf, NULL);
			if (rc < 0)
				continue; /* reported by the walk */
			rc = payload_commit(&w->h, &leaf, &d, hash);
			if (rc < 0)
				return rc;
			*bytes += d.mv_size;
			if (rc > 0 || d.mv_size != leaf.payload_len ||
			    memcmp(hash, leaf.payload_hash, 32)) {
				found(&w->f, VAULT_PROBLEM_PAYLOAD_HASH, seq,
				      "entry %" PRIu64 ": payload does not match its leaf", seq);
				continue;
			}
			rc = dedup_entry_check(w->v, w->txn, w->o, seq, leaf.type, d.mv_data,
			                       d.mv_size, &w->f, &w->keyed, &w->sum, w->prf_key);
			model_entry_add(w->v, w->o, seq, leaf.type, d.mv_data, d.mv_size, &w->msum,
			                &w->modeled, w->prf_key);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int check_indexes(struct walk *w);

static int check_tail(struct walk *w)
{
	MDB_cursor *cur;
	MDB_val k, d;
	int rc;

	/* Nothing may be stored past the last leaf: a leftover payload means a removed leaf. */
	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_PAYLOADS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	rc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
	if (rc == 0 && k.mv_size == 8 && vault__rd64(k.mv_data) >= w->n)
		found(&w->f, VAULT_PROBLEM_EXTRA, w->n,
		      "a payload is stored for entry %" PRIu64 " but the log ends at %" PRIu64
		      " entries (the last entries were removed?)",
		      vault__rd64(k.mv_data), w->n);
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return vault__err_from_mdb(rc);

	/* The type index holds exactly the non-record entries. */
	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_TYPES], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	uint64_t indexed = 0;
	while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
		if (k.mv_size != 10 || vault__rd64((const uint8_t *)k.mv_data + 2) >= w->n) {
			found(&w->f, VAULT_PROBLEM_INDEX, w->n,
			      "the type index names an entry beyond the log");
			break;
		}
		indexed++;
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return vault__err_from_mdb(rc);
	if (w->f.problem == VAULT_OK && indexed != w->indexed)
		found(&w->f, VAULT_PROBLEM_INDEX, w->n,
		      "the type index has %" PRIu64 " entries, the log %" PRIu64
		      " entries of indexed types",
		      indexed, w->indexed);

	/* The subject index names entries of the log (what subject an entry was appended with
	 * is not in its payload's bytes for the vault to re-derive). */
	if (w->f.problem == VAULT_OK && !w->v->no_subjects) {
		rc = mdb_cursor_open(w->txn, w->v->dbi[DB_SUBJECTS], &cur);
		if (rc)
			return vault__err_from_mdb(rc);
		while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
			const uint8_t *kb = k.mv_data;
			if (k.mv_size < 10 || k.mv_size > VAULT_SUBJECT_MAX + 9 ||
			    kb[k.mv_size - 9] != 0 || memchr(kb, 0, k.mv_size - 9) ||
			    vault__rd64(kb + k.mv_size - 8) >= w->n) {
				found(&w->f, VAULT_PROBLEM_INDEX, w->n,
				      "the subject index holds a malformed key or names an entry "
				      "beyond the log");
				break;
			}
		}
		mdb_cursor_close(cur);
		if (rc && rc != MDB_NOTFOUND)
			return vault__err_from_mdb(rc);
	}
	return check_indexes(w);
}

/* Prints a dedup key (client ‖ 0 ‖ request) as "client \"C\", request \"R\"". */
static void key_text(const MDB_val *k, char *buf, size_t size)
{
	const char *p = k->mv_data, *nul = memchr(p, 0, k->mv_size);
	int cl = nul ? (int)(nul - p) : (int)k->mv_size;
	int rl = nul ? (int)(k->mv_size - (size_t)cl - 1) : 0;

	snprintf(buf, size, "client \"%.*s\", request \"%.*s\"", cl > 60 ? 60 : cl, p,
	         rl > 60 ? 60 : rl, nul ? nul + 1 : "");
}

/* Calls fn on every entry with a payload in the walker's snapshot that matches its leaf, in
 * seq order, until fn fails or finds something (in w->f). Returns 0 or a negative errno. */
static int each_payload(struct walk *w,
                        int (*fn)(struct walk *w, uint64_t seq, const struct vault_leaf *leaf,
                                  const uint8_t *payload, size_t len))
{
	MDB_cursor *cur;
	MDB_val k, d;
	int rc;

	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_PAYLOADS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	while ((rc = vault__cursor_get(w->v, cur, &k, &d, MDB_NEXT)) == 0) {
		struct vault_leaf leaf;
		uint8_t commit[32];
		uint64_t seq = k.mv_size == 8 ? vault__rd64(k.mv_data) : UINT64_MAX;
		if (seq >= w->n || vault__leaf_get(w->v, w->txn, seq, &leaf, NULL) < 0 ||
		    payload_commit(&w->h, &leaf, &d, commit) != 0 ||
		    memcmp(commit, leaf.payload_hash, 32) != 0)
			continue; /* damage the payload checks report */
		rc = fn(w, seq, &leaf, d.mv_data, d.mv_size);
		if (rc < 0 || w->f.problem != VAULT_OK)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc < 0 ? rc : rc ? vault__err_from_mdb(rc) : 0;
}

static int dedup_lookup(struct walk *w, uint64_t seq, const struct vault_leaf *leaf,
                        const uint8_t *payload, size_t len)
{
	uint64_t keyed = 0;
	return dedup_entry_check(w->v, w->txn, w->o, seq, leaf->type, payload, len, &w->f, &keyed,
	                         NULL, NULL);
}

/* Every entry's dedup key looked up in the index: the first entry whose key is missing or
 * names another entry is the finding. */
static int dedup_exact(struct walk *w)
{
	return each_payload(w, dedup_lookup);
}

/* An entry with a model must be in the model index under it. */
static int model_lookup(struct walk *w, uint64_t seq, const struct vault_leaf *leaf,
                        const uint8_t *payload, size_t len)
{
	uint8_t mk[VAULT_MODEL_MAX + 1 + 8];
	size_t ml = vault__model_index_key(w->o->model_key, w->o->model_userdata, leaf->type,
	                                   payload, len, seq, mk);
	MDB_val k = {ml, mk}, d;
	int rc;

	if (!ml)
		return 0;
	rc = vault__get(w->v, w->txn, DB_MODELS, &k, &d);
	if (rc == MDB_NOTFOUND)
		found(&w->f, VAULT_PROBLEM_MODEL_INDEX, seq,
		      "entry %" PRIu64
		      " (model %s) is missing from the model index: evidentctl log "
		      "--model would not list it",
		      seq, (const char *)mk);
	return rc == MDB_NOTFOUND ? 0 : rc ? vault__err_from_mdb(rc) : 0;
}

/* The model index (when complete) against the entries: every key names an entry of the log;
 * the keys naming entries with a payload are, as a multiset, those the entries give. */
static int check_models(struct walk *w)
{
	const struct vault_verify_options *o = w->o;
	struct pair_sum index_sum = {0};
	uint64_t present = 0;
	MDB_cursor *cur;
	MDB_val k, d;
	int rc;

	if (!o || !o->model_key || !w->v->models_complete)
		return 0;
	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_MODELS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	/* the keys' own form, and the multiset of those naming entries with a payload */
	while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
		const uint8_t *key = k.mv_data;
		uint64_t seq;
		if (k.mv_size < 10 || k.mv_size > VAULT_MODEL_MAX + 9 || key[k.mv_size - 9] != 0) {
			found(&w->f, VAULT_PROBLEM_MODEL_INDEX, w->n,
			      "a model index key of %zu bytes is not MODEL, 0, seq", k.mv_size);
			break;
		}
		seq = vault__rd64(key + k.mv_size - 8);
		if (seq >= w->n) {
			found(&w->f, VAULT_PROBLEM_MODEL_INDEX, w->n,
			      "the model index names entry %" PRIu64 ", beyond the log", seq);
			break;
		}
		if (w->pruned.n &&
		    bsearch(&seq, w->pruned.v, w->pruned.n, sizeof(uint64_t), u64cmp))
			continue; /* its model cannot be read again; the key outlives the payload */
		present++;
		pair_sum_add(&index_sum, w->prf_key, key, k.mv_size, seq);
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return vault__err_from_mdb(rc);
	if (w->f.problem != VAULT_OK ||
	    (present == w->modeled && pair_sum_equal(&index_sum, &w->msum)))
		return 0;
	/* They differ: an entry missing from the index, or a key naming an entry under a
	 * model that is not its own (found by deriving the named entry's key). */
	rc = each_payload(w, model_lookup);
	if (rc < 0 || w->f.problem != VAULT_OK)
		return rc;
	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_MODELS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
		uint64_t seq = vault__rd64((const uint8_t *)k.mv_data + k.mv_size - 8);
		uint8_t pkey[8], mk[VAULT_MODEL_MAX + 1 + 8], commit[32];
		MDB_val pk = {8, pkey}, pd;
		struct vault_leaf leaf;
		size_t ml;

		vault__be64(pkey, seq);
		if (vault__get(w->v, w->txn, DB_PAYLOADS, &pk, &pd) != 0 ||
		    vault__leaf_get(w->v, w->txn, seq, &leaf, NULL) < 0 ||
		    payload_commit(&w->h, &leaf, &pd, commit) != 0)
			continue; /* pruned (or damaged: reported by the payload check) */
		ml = vault__model_index_key(o->model_key, o->model_userdata, leaf.type, pd.mv_data,
		                            pd.mv_size, seq, mk);
		if (ml != k.mv_size || memcmp(mk, k.mv_data, ml) != 0) {
			found(&w->f, VAULT_PROBLEM_MODEL_INDEX, seq,
			      "the model index lists entry %" PRIu64 " under model %.*s, %s", seq,
			      (int)(k.mv_size - 9), (const char *)k.mv_data,
			      ml ? "not its own" : "but it names no model");
			break;
		}
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return vault__err_from_mdb(rc);
	if (w->f.problem == VAULT_OK)
		found(&w->f, VAULT_PROBLEM_MODEL_INDEX, w->n,
		      "the model index holds %" PRIu64 " keys of entries with a payload, the "
		      "entries give %" PRIu64,
		      present, w->modeled);
	return 0;
}

/* The dedup index is derived data: every key names an entry of the log; with a dedup_key
 * callback, the keys naming present entries are, as a multiset of (key, seq), those the
 * entries carry (summed by the payload workers: struct pair_sum), and at most one key names
 * each pruned entry (whose key can no longer be derived). A forged key would make the daemon
 * answer a new record "duplicate" and drop it; a deleted one would store a retry twice. */
static int check_dedup(struct walk *w)
{
	const struct vault_verify_options *o = w->o;
	struct u64vec at_pruned = {0};
	struct pair_sum index_sum = {0};
	uint64_t present = 0;
	MDB_cursor *cur;
	MDB_val k, d;
	char text[200];
	int rc;

	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_DEDUP], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
		uint64_t seq = d.mv_size == 8 ? vault__rd64(d.mv_data) : UINT64_MAX;
		if (seq >= w->n) {
			key_text(&k, text, sizeof(text));
			found(&w->f, VAULT_PROBLEM_DEDUP, w->n,
			      "dedup key (%s) names entry %" PRIu64 ", beyond the log", text, seq);
			break;
		}
		/* (no prune entries: v is NULL, which bsearch must not get) */
		if (w->pruned.n &&
		    bsearch(&seq, w->pruned.v, w->pruned.n, sizeof(uint64_t), u64cmp)) {
			if (u64vec_push(&at_pruned, seq) < 0) {
				rc = -ENOMEM;
				goto out;
			}
		} else {
			present++;
			pair_sum_add(&index_sum, w->prf_key, k.mv_data, k.mv_size, seq);
		}
	}
	if (rc != MDB_NOTFOUND) {
		rc = rc ? vault__err_from_mdb(rc) : 0;
		if (rc < 0 || w->f.problem != VAULT_OK)
			goto out;
	}
	rc = 0;
	if (!o || !o->dedup_key || w->f.problem != VAULT_OK)
		goto out;
	if (at_pruned.n > 1) {
		qsort(at_pruned.v, at_pruned.n, sizeof(uint64_t), u64cmp);
		for (size_t i = 1; i < at_pruned.n; i++)
			if (at_pruned.v[i] == at_pruned.v[i - 1]) {
				found(&w->f, VAULT_PROBLEM_DEDUP, w->n,
				      "two dedup keys name pruned entry %" PRIu64, at_pruned.v[i]);
				goto out;
			}
	}
	if (present == w->keyed && pair_sum_equal(&index_sum, &w->sum))
		goto out;
	/* The multisets differ: an entry whose key is missing or names another entry, found by
	 * looking every key up, or else a key that no entry carries, found to name it. */
	rc = dedup_exact(w);
	if (rc < 0 || w->f.problem != VAULT_OK)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		uint64_t seq = d.mv_size == 8 ? vault__rd64(d.mv_data) : UINT64_MAX;
		char client[VAULT_DEDUP_KEY_MAX], request[VAULT_DEDUP_KEY_MAX];
		uint8_t key[8], dk[VAULT_DEDUP_KEY_MAX + 1];
		MDB_val pk = {8, key}, pd;
		struct vault_leaf leaf;
		ssize_t kl = -1;

		vault__be64(key, seq);
		uint8_t commit[32];
		if (vault__get(w->v, w->txn, DB_PAYLOADS, &pk, &pd) != 0 ||
		    vault__leaf_get(w->v, w->txn, seq, &leaf, NULL) < 0 ||
		    payload_commit(&w->h, &leaf, &pd, commit) != 0)
			continue; /* pruned (or damaged: reported by the payload check) */
		int kr = o->dedup_key(o->dedup_userdata, leaf.type, pd.mv_data, pd.mv_size, client,
		                      request);
		if (kr == 1) {
			client[VAULT_DEDUP_KEY_MAX - 1] = request[VAULT_DEDUP_KEY_MAX - 1] = 0;
			kl = vault__dedup_key(client, request, dk);
		}
		if (kl < 0 || (size_t)kl != k.mv_size || memcmp(dk, k.mv_data, k.mv_size) != 0) {
			key_text(&k, text, sizeof(text));
			found(&w->f, VAULT_PROBLEM_DEDUP, seq,
			      "dedup key (%s) names entry %" PRIu64 ", which %s: a new record "
			      "under this key would be answered \"duplicate\" and not stored",
			      text, seq, kr == 1 ? "carries another key" : "carries no key");
			rc = 0;
			goto out;
		}
	}
	rc = 0;
	found(&w->f, VAULT_PROBLEM_DEDUP, w->n,
	      "the dedup index holds %" PRIu64
	      " keys of present entries, the entries carry %" PRIu64,
	      present, w->keyed);
out:
	mdb_cursor_close(cur);
	free(at_pruned.v);
	return rc;
}

struct models_job {
	struct walk w; /* the walker's, with its own transaction, hasher and finding */
	pthread_t thread;
	int rc;
};

static void *models_thread(void *arg)
{
	struct models_job *j = arg;
	j->rc = check_models(&j->w);
	return NULL;
}

/* The dedup index, then the model index: each is one walk of its database in key order
 * (ten million keys each on a vault of ten million records). When nothing was committed
 * since the walker's snapshot, a second transaction sees the very same snapshot, and the
 * model index is walked in it on a thread of its own beside the dedup index; otherwise (a
 * live writer) one after the other in the walker's. */
static int check_indexes(struct walk *w)
{
	struct models_job *j = NULL;
	MDB_txn *t2 = NULL;
	int rc;

	if (w->o && w->o->model_key && w->v->models_complete && w->o->threads != 1 &&
	    vault__txn_begin(w->v, false, &t2) == 0) {
		if (mdb_txn_id(t2) == mdb_txn_id(w->txn) && (j = calloc(1, sizeof(*j)))) {
			j->w = *w;
			j->w.txn = t2;
			memset(&j->w.f, 0, sizeof(j->w.f));
			if (vault__hasher_init(&j->w.h, w->v->sha256) < 0 ||
			    pthread_create(&j->thread, NULL, models_thread, j) != 0) {
				vault__hasher_deinit(&j->w.h);
				free(j);
				j = NULL;
			}
		}
		if (!j) {
			vault__txn_abort(w->v, t2);
			t2 = NULL;
		}
	}
	rc = check_dedup(w);
	if (j) {
		pthread_join(j->thread, NULL);
		if (rc == 0)
			rc = j->rc;
		if (j->w.f.problem != VAULT_OK)
			found(&w->f, j->w.f.problem, j->w.f.seq, "%s", j->w.f.detail);
		vault__hasher_deinit(&j->w.h);
		vault__txn_abort(w->v, t2);
		free(j);
		return rc;
	}
	if (rc < 0 || w->f.problem != VAULT_OK)
		return rc;
	return check_models(w);
}

static int check_blobs(struct walk *w, uint64_t *ret_count)
{
	MDB_cursor *cur;
	MDB_val k, d;
	uint64_t count = 0;
	int rc;

	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_BLOBS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
		EVP_MD_CTX *ctx = w->h.ctx;
		uint64_t size, id, total = 0;
		uint32_t chunks;
		uint8_t hash[32];
		unsigned hl;
		char hx[65];

		if (k.mv_size != 32 || d.mv_size != 20) {
			found(&w->f, VAULT_PROBLEM_BLOB, w->n, "a blob record is malformed");
			break;
		}
		size = vault__rd64(d.mv_data);
		id = vault__rd64((const uint8_t *)d.mv_data + 8);
		chunks = vault__rd32((const uint8_t *)d.mv_data + 16);
		if (EVP_DigestInit_ex(ctx, w->v->sha256, NULL) != 1) {
			rc = -EIO;
			goto out;
		}
		for (uint32_t i = 0; i < chunks; i++) {
			uint8_t ck[12];
			MDB_val kk = {12, ck}, cd;
			vault__be64(ck, id);
			vault__be32(ck + 8, i);
			rc = vault__get(w->v, w->txn, DB_CHUNKS, &kk, &cd);
			if (rc == MDB_NOTFOUND)
				break;
			if (rc) {
				rc = vault__err_from_mdb(rc);
				goto out;
			}
			if (EVP_DigestUpdate(ctx, cd.mv_data, cd.mv_size) != 1) {
				rc = -EIO;
				goto out;
			}
			total += cd.mv_size;
		}
		if (EVP_DigestFinal_ex(ctx, hash, &hl) != 1) {
			rc = -EIO;
			goto out;
		}
		if (rc == MDB_NOTFOUND || total != size || memcmp(hash, k.mv_data, 32) != 0) {
			found(&w->f, VAULT_PROBLEM_BLOB, w->n, "blob %s: content was altered",
			      vault_hex(k.mv_data, hx));
			rc = 0;
			break;
		}
		count++;
	}
	rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : vault__err_from_mdb(rc);
out:
	mdb_cursor_close(cur);
	*ret_count = count;
	return rc;
}

/* Every stored cosignature verifies by the key stored with it over the checkpoint of its
 * size (vault_cosignature_add checked it; here the stored bytes are checked again, so that a
 * damaged or forged line is found, not carried into proofs). */
static int check_cosigs(struct walk *w, uint64_t *ret_count)
{
	MDB_cursor *cur;
	MDB_val k, d;
	uint64_t count = 0;
	int rc;

	*ret_count = 0;
	if (w->v->no_cosigs)
		return 0;
	rc = mdb_cursor_open(w->txn, w->v->dbi[DB_COSIGS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0 && w->f.problem == VAULT_OK;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		struct vault_pubkey key = {.type = VAULT_KEY_COSIGNATURE_V1};
		struct vault_cosig_check chk;
		uint8_t ck[8], id[4];
		MDB_val kk = {8, ck}, note;
		uint64_t size;
		size_t nlen;
		char *buf;

		if (k.mv_size < 13 || k.mv_size > 12 + VAULT_ORIGIN_MAX || d.mv_size <= 32 ||
		    d.mv_size > 32 + VAULT_SIGLINE_MAX) {
			found(&w->f, VAULT_PROBLEM_CHECKPOINT_SIG, w->n,
			      "a stored cosignature record is malformed (key %zu bytes, value %zu)",
			      k.mv_size, d.mv_size);
			break;
		}
		size = vault__rd64(k.mv_data);
		nlen = k.mv_size - 12;
		memcpy(key.name, (const char *)k.mv_data + 12, nlen);
		key.name[nlen] = '\0';
		memcpy(key.key, d.mv_data, 32);
		memcpy(key.id, (const uint8_t *)k.mv_data + 8, 4);
		if (vault__key_id(key.name, key.type, key.key, id) < 0 || memcmp(id, key.id, 4) ||
		    strlen(key.name) != nlen) {
			found(&w->f, VAULT_PROBLEM_CHECKPOINT_SIG, w->n,
			      "the stored cosignature of checkpoint %" PRIu64
			      " names a key id that is not its key's",
			      size);
			break;
		}
		vault__be64(ck, size);
		rc = vault__get(w->v, w->txn, DB_CHECKPOINTS, &kk, &note);
		if (rc == MDB_NOTFOUND) {
			found(&w->f, VAULT_PROBLEM_CHECKPOINT_SIG, w->n,
			      "a cosignature by %s is stored for a checkpoint of size %" PRIu64
			      " that the vault does not hold",
			      key.name, size);
			break;
		}
		if (rc) {
			rc = vault__err_from_mdb(rc);
			goto out;
		}
		buf = malloc(note.mv_size + d.mv_size - 32);
		if (!buf) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(buf, note.mv_data, note.mv_size);
		memcpy(buf + note.mv_size, (const char *)d.mv_data + 32, d.mv_size - 32);
		rc =
		    vault_cosignatures_verify(buf, note.mv_size + d.mv_size - 32, &key, 1, 0, &chk);
		free(buf);
		if (rc != 1 || chk.line_off != note.mv_size) {
			found(&w->f, VAULT_PROBLEM_CHECKPOINT_SIG, w->n,
			      "the stored cosignature by %s of the checkpoint of size %" PRIu64
			      " does not verify",
			      key.name, size);
			break;
		}
		count++;
	}
	rc = rc == MDB_NOTFOUND || rc == 0 || rc == 1 ? 0 : vault__err_from_mdb(rc);
	*ret_count = count;
out:
	mdb_cursor_close(cur);
	return rc;
}

int vault_verify(struct vault *v, const struct vault_verify_options *o,
                 struct vault_verify_report *ret)
{
	struct walk w = {.v = v, .o = o};
	struct worker workers[MAX_WORKERS];
	struct cp_check *cps = NULL;
	size_t ncps = 0, nworkers = 0;
	_Atomic bool stop = false;
	const struct vault_pubkey *key = o && o->key ? o->key : &v->pubkey;
	struct vault_verify_report rep = {0};
	uint64_t bytes = 0;
	unsigned threads;
	int rc;

	memset(workers, 0, sizeof(workers));
	if (o && o->n_checkpoints && (!o->checkpoints || !o->checkpoint_lens))
		return -EINVAL;
	if (RAND_bytes(w.prf_key, sizeof(w.prf_key)) != 1)
		return -EIO;
	rc = vault__hasher_init(&w.h, v->sha256);
	if (rc < 0)
		return rc;
	rc = vault__txn_begin(v, false, &w.txn);
	if (rc < 0)
		goto out_hasher;
	threads = o && o->threads ? o->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;
	/* verify reads every page: one walk checks them all (FORMAT.md §1), a database per
	 * thread */
	rc = vault__check_all(v, w.txn, threads < MAX_WORKERS ? threads : MAX_WORKERS);
	if (rc < 0)
		goto out;
	{
		MDB_cursor *c;
		MDB_val k, d;
		rc = mdb_cursor_open(w.txn, v->dbi[DB_LEAVES], &c);
		if (rc) {
			rc = vault__err_from_mdb(rc);
			goto out;
		}
		rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
		mdb_cursor_close(c);
		if (rc == 0 && k.mv_size == 8) {
			w.n = vault__rd64(k.mv_data) + 1;
		} else if (rc != MDB_NOTFOUND) {
			rc = rc ? vault__err_from_mdb(rc) : -EBADMSG;
			goto out;
		}
	}
	rc = collect_checkpoints(v, w.txn, w.n, o, key, &cps, &ncps, &w.f);
	if (rc < 0)
		goto out;

	/* as many payload workers as threads, beside the walker: the walker does about a third
	 * of the work, so with one worker fewer the workers finished last and a core idled */
	nworkers = threads;
	if (nworkers > MAX_WORKERS)
		nworkers = MAX_WORKERS;
	if (w.n < 4096)
		nworkers = 1;
	for (size_t i = 0; i < nworkers; i++) {
		workers[i].v = v;
		workers[i].o = o;
		/* i * (n / k) + min(i, n % k): no product of n overflows, whatever the (possibly
		 * damaged) last key made n */
		uint64_t q = w.n / nworkers, rem = w.n % nworkers;
		workers[i].from = q * i + (i < rem ? i : rem);
		workers[i].to = q * (i + 1) + (i + 1 < rem ? i + 1 : rem);
		workers[i].stop = &stop;
		workers[i].prf_key = w.prf_key;
	}
	size_t started = 0;
	if (threads > 1) {
		for (; started < nworkers; started++)
			if (pthread_create(&workers[started].thread, NULL, payload_worker,
			                   &workers[started]) != 0)
				break;
		if (started < nworkers) {
			atomic_store(&stop, true);
			for (size_t i = 0; i < started; i++)
				pthread_join(workers[i].thread, NULL);
			rc = -EAGAIN;
			goto out;
		}
	}
	rc = walk(&w, cps, ncps, o, workers, nworkers, rep.root);
	if (rc < 0 || (w.f.problem != VAULT_OK))
		atomic_store(&stop, true);
	if (threads > 1) {
		for (size_t i = 0; i < started; i++)
			pthread_join(workers[i].thread, NULL);
	} else if (rc == 0) {
		/* Sequential: only entries before the walker's finding can lower it. */
		if (w.f.problem != VAULT_OK && workers[0].to > w.f.seq)
			workers[0].to = w.f.seq;
		atomic_store(&stop, false);
		payload_worker(&workers[0]);
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < nworkers; i++) {
		if (workers[i].err < 0) {
			rc = workers[i].err;
			goto out;
		}
		if (workers[i].f.problem != VAULT_OK)
			found(&w.f, workers[i].f.problem, workers[i].f.seq, "%s",
			      workers[i].f.detail);
		bytes += workers[i].bytes;
		w.keyed += workers[i].keyed;
		pair_sum_merge(&w.sum, &workers[i].sum);
		w.modeled += workers[i].modeled;
		pair_sum_merge(&w.msum, &workers[i].msum);
	}
	rc = check_missing(&w, workers, nworkers, &bytes);
	if (rc < 0)
		goto out;
	if (w.f.problem == VAULT_OK) {
		rc = check_tail(&w);
		if (rc < 0)
			goto out;
	}
	if (w.f.problem == VAULT_OK && !(o && o->skip_blobs)) {
		rc = check_blobs(&w, &rep.blobs);
		if (rc < 0)
			goto out;
	}
	if (w.f.problem == VAULT_OK) {
		rc = check_cosigs(&w, &rep.cosignatures);
		if (rc < 0)
			goto out;
	}
	for (size_t i = 0; i < ncps; i++)
		if (cps[i].size > rep.signed_size)
			rep.signed_size = cps[i].size;
	if (w.f.problem == VAULT_OK && w.n > 0 && rep.signed_size == 0)
		found(&w.f, VAULT_PROBLEM_UNSIGNED, w.n,
		      "%" PRIu64 " entries and no checkpoint signed by %s covers any of them: the "
		      "whole log could have been rewritten without a trace",
		      w.n, key->name[0] ? key->name : "the key");
	rep.unsigned_entries = w.n - rep.signed_size;
	if (rep.unsigned_entries) {
		struct vault_leaf leaf;
		if (vault__leaf_get(v, w.txn, rep.signed_size, &leaf, NULL) == 0)
			rep.unsigned_since_ns = leaf.timestamp_ns;
	}
	rep.dedup_keys = w.keyed;
	rep.model_keys = w.modeled;
	if (o && o->progress)
		o->progress(o->progress_userdata, w.n, w.n);

	rep.problem = w.f.problem;
	rep.bad_seq = w.f.seq;
	snprintf(rep.detail, sizeof(rep.detail), "%s", w.f.detail);
	rep.entries = w.n;
	rep.payload_bytes = bytes;
	rep.pruned = w.prune_entries;
	rep.checkpoints = ncps;
	*ret = rep;
	rc = 0;
out:
	for (size_t i = 0; i < nworkers; i++)
		free(workers[i].missing.v);
	free(w.pruned.v);
	free(cps);
	vault__txn_abort(v, w.txn);
out_hasher:
	vault__hasher_deinit(&w.h);
	return rc;
}
