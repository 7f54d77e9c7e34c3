/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 6962 / RFC 9162 Merkle tree: proof verification (pure) and proof generation from the
 * node store.
 *
 * The store keeps every perfect subtree of height >= 1 once it is complete, keyed by its
 * position in post-order over all nodes. Post-order is exactly the order in which an
 * append-only tree completes its nodes, so keys only grow and LMDB can use MDB_APPEND. Leaf
 * hashes (height 0) live beside their leaves. Any MTH(D[a:b]) the RFC recursion asks for is
 * either a stored perfect subtree or splits into a perfect left part and a right part that
 * touches the tree's right edge, so a proof costs O(log n) lookups. */
#include <errno.h>
#include <string.h>

#include "internal.h"

static uint64_t largest_pow2_below(uint64_t n)
{
	/* n >= 2: the largest power of two strictly less than n, i.e. the highest bit of n - 1
	 * (also above 2^63, where doubling a candidate would overflow: a damaged vault can claim
	 * that many entries). */
	return 1ull << (63 - __builtin_clzll(n - 1));
}

static bool is_pow2(uint64_t n)
{
	return n && !(n & (n - 1));
}

uint64_t vault__node_pos(unsigned level, uint64_t index)
{
	uint64_t m = (index + 1) << level; /* leaves covered up to and including this node */
	uint64_t nodes = 2 * m - (uint64_t)__builtin_popcountll(m);
	return nodes - 1 - (uint64_t)__builtin_ctzll(index + 1);
}

/* ------------------------------------------------------------------ verification */

int vault_merkle_verify_inclusion(uint64_t index, uint64_t tree_size,
                                  const uint8_t leaf_hash[VAULT_HASH_LEN],
                                  const uint8_t (*proof)[VAULT_HASH_LEN], size_t proof_len,
                                  const uint8_t root[VAULT_HASH_LEN])
{
	struct vault__hasher h;
	uint8_t r[32];
	uint64_t fn = index, sn;
	int rc = -EBADMSG;

	if (!leaf_hash || !root || (proof_len && !proof))
		return -EINVAL;
	if (index >= tree_size || proof_len > VAULT_PROOF_MAX)
		return -EBADMSG;
	if (vault__hasher_init(&h, NULL) < 0)
		return -ENOMEM;
	sn = tree_size - 1;
	memcpy(r, leaf_hash, 32);
	for (size_t i = 0; i < proof_len; i++) {
		if (sn == 0)
			goto out;
		if ((fn & 1) || fn == sn) {
			if (vault__hash_children(&h, proof[i], r, r) < 0)
				goto err;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (vault__hash_children(&h, r, proof[i], r) < 0) {
			goto err;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn == 0 && memcmp(r, root, 32) == 0)
		rc = 0;
out:
	vault__hasher_deinit(&h);
	return rc;
err:
	vault__hasher_deinit(&h);
	return -EIO;
}

int vault_merkle_verify_consistency(uint64_t size1, uint64_t size2,
                                    const uint8_t root1[VAULT_HASH_LEN],
                                    const uint8_t root2[VAULT_HASH_LEN],
                                    const uint8_t (*proof)[VAULT_HASH_LEN], size_t proof_len)
{
	struct vault__hasher h;
	uint8_t fr[32], sr[32];
	const uint8_t *path[VAULT_PROOF_MAX + 1];
	size_t n = 0;
	uint64_t fn, sn;
	int rc = -EBADMSG;

	if (!root1 || !root2 || (proof_len && !proof))
		return -EINVAL;
	if (size1 == 0 || size1 > size2 || proof_len > VAULT_PROOF_MAX)
		return -EBADMSG;
	if (size1 == size2)
		return proof_len == 0 && memcmp(root1, root2, 32) == 0 ? 0 : -EBADMSG;
	if (proof_len == 0)
		return -EBADMSG;
	/* When size1 is a power of two its root is the first node of the path (RFC 9162). */
	if (is_pow2(size1))
		path[n++] = root1;
	for (size_t i = 0; i < proof_len; i++)
		path[n++] = proof[i];

	if (vault__hasher_init(&h, NULL) < 0)
		return -ENOMEM;
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, path[0], 32);
	memcpy(sr, path[0], 32);
	for (size_t i = 1; i < n; i++) {
		if (sn == 0)
			goto out;
		if ((fn & 1) || fn == sn) {
			if (vault__hash_children(&h, path[i], fr, fr) < 0 ||
			    vault__hash_children(&h, path[i], sr, sr) < 0)
				goto err;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (vault__hash_children(&h, sr, path[i], sr) < 0) {
			goto err;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn == 0 && memcmp(fr, root1, 32) == 0 && memcmp(sr, root2, 32) == 0)
		rc = 0;
out:
	vault__hasher_deinit(&h);
	return rc;
err:
	vault__hasher_deinit(&h);
	return -EIO;
}

/* ------------------------------------------------------------------ store side */

int vault__subtree(struct vault *v, MDB_txn *txn, struct vault__hasher *h, unsigned level,
                   uint64_t index, uint8_t out[32])
{
	uint8_t key[8];
	MDB_val k = {8, key}, val;
	int rc;

	(void)h;
	if (level == 0) {
		vault__be64(key, index);
		rc = vault__get(v, txn, DB_LEAVES, &k, &val);
		if (rc) /* inside the tree's size: damage, not "no such entry" */
			return rc == MDB_NOTFOUND ? -EBADMSG : vault__err_from_mdb(rc);
		if (val.mv_size != VAULT_LEAF_LEN + 32)
			return -EBADMSG;
		memcpy(out, (const uint8_t *)val.mv_data + VAULT_LEAF_LEN, 32);
		return 0;
	}
	vault__be64(key, vault__node_pos(level, index));
	rc = vault__get(v, txn, DB_NODES, &k, &val);
	if (rc)
		return rc == MDB_NOTFOUND ? -EBADMSG : vault__err_from_mdb(rc);
	if (val.mv_size != 32)
		return -EBADMSG;
	memcpy(out, val.mv_data, 32);
	return 0;
}

int vault__range_hash(struct vault *v, MDB_txn *txn, struct vault__hasher *h, uint64_t start,
                      uint64_t end, uint8_t out[32])
{
	uint64_t n = end - start;
	uint8_t l[32], r[32];
	int rc;

	if (n == 0) {
		vault_hash_empty(out);
		return 0;
	}
	if (is_pow2(n) && start % n == 0)
		return vault__subtree(v, txn, h, (unsigned)__builtin_ctzll(n), start / n, out);
	uint64_t k = largest_pow2_below(n);
	rc = vault__range_hash(v, txn, h, start, start + k, l);
	if (rc < 0)
		return rc;
	rc = vault__range_hash(v, txn, h, start + k, end, r);
	if (rc < 0)
		return rc;
	return vault__hash_children(h, l, r, out);
}

int vault__frontier_root(struct vault__hasher *h, uint8_t frontier[64][32], uint64_t size,
                         uint8_t out[32])
{
	uint8_t acc[32];
	bool have = false;

	if (size == 0) {
		vault_hash_empty(out);
		return 0;
	}
	for (unsigned lvl = 0; lvl < 64; lvl++) {
		if (!(size >> lvl & 1))
			continue;
		if (!have) {
			memcpy(acc, frontier[lvl], 32);
			have = true;
		} else if (vault__hash_children(h, frontier[lvl], acc, acc) < 0) {
			return -EIO;
		}
	}
	memcpy(out, acc, 32);
	return 0;
}

/* RFC 6962 §2.1.1 PATH(m, D[a:b]), appending to proof[*n]. */
static int path(struct vault *v, MDB_txn *txn, struct vault__hasher *h, uint64_t m, uint64_t a,
                uint64_t b, uint8_t (*proof)[32], size_t *n)
{
	uint64_t size = b - a, k;
	int rc;

	if (size <= 1)
		return 0;
	k = largest_pow2_below(size);
	if (m < k) {
		rc = path(v, txn, h, m, a, a + k, proof, n);
		if (rc < 0)
			return rc;
		return vault__range_hash(v, txn, h, a + k, b, proof[(*n)++]);
	}
	rc = path(v, txn, h, m - k, a + k, b, proof, n);
	if (rc < 0)
		return rc;
	return vault__range_hash(v, txn, h, a, a + k, proof[(*n)++]);
}

/* RFC 6962 §2.1.2 SUBPROOF(m, D[a:b], flag). */
static int subproof(struct vault *v, MDB_txn *txn, struct vault__hasher *h, uint64_t m, uint64_t a,
                    uint64_t b, bool flag, uint8_t (*proof)[32], size_t *n)
{
	uint64_t size = b - a, k;
	int rc;

	if (m == size) {
		if (flag)
			return 0;
		return vault__range_hash(v, txn, h, a, b, proof[(*n)++]);
	}
	k = largest_pow2_below(size);
	if (m <= k) {
		rc = subproof(v, txn, h, m, a, a + k, flag, proof, n);
		if (rc < 0)
			return rc;
		return vault__range_hash(v, txn, h, a + k, b, proof[(*n)++]);
	}
	rc = subproof(v, txn, h, m - k, a + k, b, false, proof, n);
	if (rc < 0)
		return rc;
	return vault__range_hash(v, txn, h, a, a + k, proof[(*n)++]);
}

int vault_root(struct vault_reader *r, uint64_t tree_size, uint8_t ret_root[VAULT_HASH_LEN])
{
	struct vault__hasher h;
	int rc;

	if (tree_size > r->size)
		return -ERANGE;
	if (vault__hasher_init(&h, r->v->sha256) < 0)
		return -ENOMEM;
	rc = vault__range_hash(r->v, r->txn, &h, 0, tree_size, ret_root);
	vault__hasher_deinit(&h);
	return rc;
}

int vault_prove_inclusion(struct vault_reader *r, uint64_t index, uint64_t tree_size,
                          uint8_t (*ret_proof)[VAULT_HASH_LEN])
{
	struct vault__hasher h;
	size_t n = 0;
	int rc;

	if (tree_size > r->size || index >= tree_size)
		return -ERANGE;
	if (vault__hasher_init(&h, r->v->sha256) < 0)
		return -ENOMEM;
	rc = path(r->v, r->txn, &h, index, 0, tree_size, ret_proof, &n);
	vault__hasher_deinit(&h);
	return rc < 0 ? rc : (int)n;
}

int vault_prove_consistency(struct vault_reader *r, uint64_t size1, uint64_t size2,
                            uint8_t (*ret_proof)[VAULT_HASH_LEN])
{
	struct vault__hasher h;
	size_t n = 0;
	int rc;

	if (size1 == 0 || size1 > size2 || size2 > r->size)
		return -ERANGE;
	if (vault__hasher_init(&h, r->v->sha256) < 0)
		return -ENOMEM;
	rc = subproof(r->v, r->txn, &h, size1, 0, size2, true, ret_proof, &n);
	vault__hasher_deinit(&h);
	return rc < 0 ? rc : (int)n;
}
