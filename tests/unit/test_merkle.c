/* SPDX-License-Identifier: Apache-2.0 */
/* Merkle tree tests: the vault's stored-tree roots and proofs against a naive recursive
 * RFC 6962 reference for every tree size up to 130, the verifiers against corrupted proofs,
 * and the public RFC 6962 vectors (tests/data/merkle, from transparency-dev/merkle). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vault.h"

#define N_MAX 130

/* ------------------------------------------------------------------ naive reference */

typedef uint8_t hash_t[VAULT_HASH_LEN];

static hash_t leaf_hashes[N_MAX];
/* MTH of leaf_hashes[start, start + n), memoised: the probes below ask for the same subtrees
 * millions of times, and each vault_hash_children is a heap allocation (slow under ASan).
 * Cleared whenever leaf_hashes changes. */
static hash_t mth_memo[N_MAX][N_MAX + 1];
static bool mth_known[N_MAX][N_MAX + 1];

static void ref_mth(const hash_t *leaves, size_t n, uint8_t out[32])
{
	if (n == 0) {
		vault_hash_empty(out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], 32);
		return;
	}
	bool ours = leaves >= leaf_hashes && leaves + n <= leaf_hashes + N_MAX;
	size_t start = ours ? (size_t)(leaves - leaf_hashes) : 0;
	if (ours && mth_known[start][n]) {
		memcpy(out, mth_memo[start][n], 32);
		return;
	}
	size_t k = 1;
	while (k * 2 < n)
		k *= 2;
	uint8_t l[32], r[32];
	ref_mth(leaves, k, l);
	ref_mth(leaves + k, n - k, r);
	TEST_ASSERT_INT(vault_hash_children(l, r, out), ==, 0);
	if (ours) {
		memcpy(mth_memo[start][n], out, 32);
		mth_known[start][n] = true;
	}
}

static void ref_path(size_t m, const hash_t *leaves, size_t n, hash_t *out, size_t *len)
{
	if (n <= 1)
		return;
	size_t k = 1;
	while (k * 2 < n)
		k *= 2;
	if (m < k) {
		ref_path(m, leaves, k, out, len);
		ref_mth(leaves + k, n - k, out[(*len)++]);
	} else {
		ref_path(m - k, leaves + k, n - k, out, len);
		ref_mth(leaves, k, out[(*len)++]);
	}
}

static void ref_subproof(size_t m, const hash_t *leaves, size_t n, int flag, hash_t *out,
                         size_t *len)
{
	if (m == n) {
		if (!flag)
			ref_mth(leaves, n, out[(*len)++]);
		return;
	}
	size_t k = 1;
	while (k * 2 < n)
		k *= 2;
	if (m <= k) {
		ref_subproof(m, leaves, k, flag, out, len);
		ref_mth(leaves + k, n - k, out[(*len)++]);
	} else {
		ref_subproof(m - k, leaves + k, n - k, 0, out, len);
		ref_mth(leaves, k, out[(*len)++]);
	}
}

/* ------------------------------------------------------------------ a vault of N_MAX entries */

static char *dir;
static struct vault *v;
static hash_t roots[N_MAX + 1];

static void setup(void)
{
	dir = test_tmpdir("merkle");
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, NULL, &v), 0);
	/* One entry per append: every tree shape is produced by the incremental writer. */
	for (int i = 0; i < N_MAX; i++) {
		char payload[32];
		struct vault_entry_in in = {.type = VAULT_ENTRY_RECORD, .payload = payload};
		struct vault_append_result res;
		in.payload_len = (size_t)snprintf(payload, sizeof(payload), "entry %d", i);
		ck_assert_int_eq(vault_append(v, &in, 1, &res), 0);
		ck_assert_uint_eq(res.seq, (uint64_t)i);
		memcpy(leaf_hashes[i], res.leaf_hash, 32);
	}
	memset(mth_known, 0, sizeof(mth_known));
	for (size_t n = 0; n <= N_MAX; n++)
		ref_mth((const hash_t *)leaf_hashes, n, roots[n]);
}

static void teardown(void)
{
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}

START_TEST(vault_root_matches_reference_every_size)
{
	struct vault_reader *r;
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_uint_eq(vault_reader_size(r), N_MAX);
	for (size_t n = 0; n <= N_MAX; n++) {
		uint8_t root[32];
		ck_assert_int_eq(vault_root(r, n, root), 0);
		ck_assert_mem_eq(root, roots[n], 32);
	}
	uint8_t root[32];
	ck_assert_int_eq(vault_root(r, N_MAX + 1, root), -ERANGE);
	vault_reader_end(r);
}
END_TEST

START_TEST(vault_prove_inclusion_matches_reference)
{
	struct vault_reader *r;
	TEST_ASSERT_INT(vault_reader_begin(v, &r), ==, 0);
	for (size_t n = 1; n <= N_MAX; n++) {
		for (size_t m = 0; m < n; m++) {
			hash_t got[VAULT_PROOF_MAX], want[VAULT_PROOF_MAX];
			size_t wl = 0;
			int gl = vault_prove_inclusion(r, m, n, got);
			ref_path(m, (const hash_t *)leaf_hashes, n, want, &wl);
			TEST_ASSERT_INT(gl, ==, (int)wl);
			TEST_ASSERT(wl == 0 || memcmp(got, want, wl * 32) == 0);
			TEST_ASSERT_INT(vault_merkle_verify_inclusion(m, n, leaf_hashes[m],
			                                              (const hash_t *)got, wl,
			                                              roots[n]),
			                ==, 0);
		}
	}
	hash_t p[VAULT_PROOF_MAX];
	TEST_ASSERT_INT(vault_prove_inclusion(r, 5, 5, p), ==, -ERANGE);
	TEST_ASSERT_INT(vault_prove_inclusion(r, 0, N_MAX + 1, p), ==, -ERANGE);
	vault_reader_end(r);
}
END_TEST

START_TEST(vault_prove_consistency_matches_reference)
{
	struct vault_reader *r;
	TEST_ASSERT_INT(vault_reader_begin(v, &r), ==, 0);
	for (size_t n = 1; n <= N_MAX; n++) {
		for (size_t m = 1; m <= n; m++) {
			hash_t got[VAULT_PROOF_MAX], want[VAULT_PROOF_MAX];
			size_t wl = 0;
			int gl = vault_prove_consistency(r, m, n, got);
			ref_subproof(m, (const hash_t *)leaf_hashes, n, 1, want, &wl);
			TEST_ASSERT_INT(gl, ==, (int)wl);
			TEST_ASSERT(wl == 0 || memcmp(got, want, wl * 32) == 0);
			TEST_ASSERT_INT(vault_merkle_verify_consistency(m, n, roots[m], roots[n],
			                                                (const hash_t *)got, wl),
			                ==, 0);
		}
	}
	hash_t p[VAULT_PROOF_MAX];
	TEST_ASSERT_INT(vault_prove_consistency(r, 0, 3, p), ==, -ERANGE);
	TEST_ASSERT_INT(vault_prove_consistency(r, 4, 3, p), ==, -ERANGE);
	vault_reader_end(r);
}
END_TEST

/* ------------------------------------------------------------------ corrupted proofs */

/* Every way of damaging a valid inclusion proof must be rejected. */
static void inclusion_probes(size_t m, size_t n, const hash_t *proof, size_t len)
{
	hash_t bad[VAULT_PROOF_MAX + 1];
	const uint8_t *leaf = leaf_hashes[m], *root = roots[n];

	/* Index +-1 and sizes +-1, x2, /2, each with the real leaf and root for that claim:
	 * rejected unless the proof happens to be that claim's real proof too. */
	const size_t alt[][2] = {{m + 1, n}, {m - 1, n}, {m, n + 1},
	                         {m, n - 1}, {m, n * 2}, {m, n / 2}};
	for (size_t a = 0; a < sizeof(alt) / sizeof(alt[0]); a++) {
		size_t am = alt[a][0], an = alt[a][1];
		hash_t real[VAULT_PROOF_MAX];
		size_t rl = 0;
		if (am >= an || an > N_MAX || am > N_MAX || (am == m && an == n))
			continue;
		ref_path(am, (const hash_t *)leaf_hashes, an, real, &rl);
		if (rl == len && (len == 0 || memcmp(real, proof, len * 32) == 0))
			continue;
		TEST_ASSERT_INT(
		    vault_merkle_verify_inclusion(am, an, leaf_hashes[am], proof, len, roots[an]),
		    !=, 0);
	}
	/* the same proof and root claimed for a neighbouring index */
	if (m + 1 < n)
		TEST_ASSERT_INT(vault_merkle_verify_inclusion(m + 1, n, leaf, proof, len, root), !=,
		                0);
	/* wrong leaf (the root is the leaf itself in a one-leaf tree), wrong root */
	if (n > 1)
		TEST_ASSERT_INT(vault_merkle_verify_inclusion(m, n, roots[n], proof, len, root), !=,
		                0);
	if (n > 1)
		TEST_ASSERT_INT(vault_merkle_verify_inclusion(m, n, leaf, proof, len, roots[n - 1]),
		                !=, 0);
	/* a flipped bit in every node */
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, proof, len * 32);
		bad[i][(i * 7) % 32] ^= (uint8_t)(1u << (i % 8));
		TEST_ASSERT_INT(
		    vault_merkle_verify_inclusion(m, n, leaf, (const hash_t *)bad, len, root), !=,
		    0);
	}
	/* a missing node, an extra node (at the end and at the front) */
	if (len > 0) {
		TEST_ASSERT_INT(vault_merkle_verify_inclusion(m, n, leaf, proof, len - 1, root), !=,
		                0);
		TEST_ASSERT_INT(vault_merkle_verify_inclusion(m, n, leaf, proof + 1, len - 1, root),
		                !=, 0);
	}
	memcpy(bad, proof, len * 32);
	memcpy(bad[len], leaf, 32);
	TEST_ASSERT_INT(
	    vault_merkle_verify_inclusion(m, n, leaf, (const hash_t *)bad, len + 1, root), !=, 0);
	memcpy(bad[0], root, 32);
	memcpy(bad + 1, proof, len * 32);
	TEST_ASSERT_INT(
	    vault_merkle_verify_inclusion(m, n, leaf, (const hash_t *)bad, len + 1, root), !=, 0);
}

static void consistency_probes(size_t m, size_t n, const hash_t *proof, size_t len)
{
	hash_t bad[VAULT_PROOF_MAX + 1];
	const uint8_t *r1 = roots[m], *r2 = roots[n];

	/* swapped roots (when they differ) */
	if (m != n)
		TEST_ASSERT_INT(vault_merkle_verify_consistency(m, n, r2, r1, proof, len), !=, 0);
	/* Wrong sizes, each with that size's real root: the proof for (m, n) must not prove
	 * another pair of this log's heads unless it is that pair's proof too. (With the
	 * original roots a changed size can be accepted: the proof then describes some other
	 * tree whose interior node equals one of ours, which no verifier can tell apart.) */
	const size_t alt[][2] = {{m, n + 1}, {m, n * 2}, {m - 1, n}, {m + 1, n}, {m, n - 1}};
	for (size_t a = 0; a < sizeof(alt) / sizeof(alt[0]); a++) {
		size_t am = alt[a][0], an = alt[a][1];
		hash_t real[VAULT_PROOF_MAX];
		size_t rl = 0;
		if (am < 1 || am > an || an > N_MAX || (am == m && an == n))
			continue;
		ref_subproof(am, (const hash_t *)leaf_hashes, an, 1, real, &rl);
		if (rl == len && (len == 0 || memcmp(real, proof, len * 32) == 0))
			continue;
		TEST_ASSERT_INT(
		    vault_merkle_verify_consistency(am, an, roots[am], roots[an], proof, len), !=,
		    0);
	}
	/* from size 0: never a proof, whatever it carries */
	TEST_ASSERT_INT(vault_merkle_verify_consistency(0, n, roots[0], r2, NULL, 0), ==, -EBADMSG);
	TEST_ASSERT_INT(vault_merkle_verify_consistency(0, n, roots[0], r2, proof, len), ==,
	                -EBADMSG);
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, proof, len * 32);
		bad[i][(i * 5) % 32] ^= (uint8_t)(0x80u >> (i % 8));
		TEST_ASSERT_INT(
		    vault_merkle_verify_consistency(m, n, r1, r2, (const hash_t *)bad, len), !=, 0);
	}
	if (len > 0) {
		TEST_ASSERT_INT(vault_merkle_verify_consistency(m, n, r1, r2, proof, len - 1), !=,
		                0);
		TEST_ASSERT_INT(vault_merkle_verify_consistency(m, n, r1, r2, proof + 1, len - 1),
		                !=, 0);
	}
	memcpy(bad, proof, len * 32);
	memcpy(bad[len], r1, 32);
	TEST_ASSERT_INT(vault_merkle_verify_consistency(m, n, r1, r2, (const hash_t *)bad, len + 1),
	                !=, 0);
}

START_TEST(vault_merkle_verify_inclusion_rejects_corruption)
{
	struct vault_reader *r;
	TEST_ASSERT_INT(vault_reader_begin(v, &r), ==, 0);
	for (size_t n = 1; n <= N_MAX; n++)
		for (size_t m = 0; m < n; m++) {
			hash_t p[VAULT_PROOF_MAX];
			int len = vault_prove_inclusion(r, m, n, p);
			TEST_ASSERT_INT(len, >=, 0);
			inclusion_probes(m, n, (const hash_t *)p, (size_t)len);
		}
	/* index beyond size, and size 0 */
	TEST_ASSERT_INT(vault_merkle_verify_inclusion(3, 3, leaf_hashes[0], NULL, 0, roots[3]), ==,
	                -EBADMSG);
	TEST_ASSERT_INT(vault_merkle_verify_inclusion(0, 0, leaf_hashes[0], NULL, 0, roots[0]), ==,
	                -EBADMSG);
	vault_reader_end(r);
}
END_TEST

START_TEST(vault_merkle_verify_consistency_rejects_corruption)
{
	struct vault_reader *r;
	TEST_ASSERT_INT(vault_reader_begin(v, &r), ==, 0);
	for (size_t n = 1; n <= N_MAX; n++)
		for (size_t m = 1; m <= n; m++) {
			hash_t p[VAULT_PROOF_MAX];
			int len = vault_prove_consistency(r, m, n, p);
			TEST_ASSERT_INT(len, >=, 0);
			consistency_probes(m, n, (const hash_t *)p, (size_t)len);
		}
	/* equal sizes: only the empty proof with equal roots */
	TEST_ASSERT_INT(vault_merkle_verify_consistency(7, 7, roots[7], roots[7], NULL, 0), ==, 0);
	TEST_ASSERT_INT(vault_merkle_verify_consistency(7, 7, roots[7], roots[6], NULL, 0), ==,
	                -EBADMSG);
	TEST_ASSERT_INT(vault_merkle_verify_consistency(7, 7, roots[7], roots[7],
	                                                (const hash_t *)leaf_hashes, 1),
	                ==, -EBADMSG);
	/* shrinking */
	TEST_ASSERT_INT(vault_merkle_verify_consistency(8, 7, roots[8], roots[7], NULL, 0), ==,
	                -EBADMSG);
	vault_reader_end(r);
}
END_TEST

/* ------------------------------------------------------------------ public RFC 6962 vectors */

/* The RFC 6962 example tree (transparency-dev/merkle testonly/constants.go). */
static const char *const rfc_leaves_hex[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *const rfc_roots_hex[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

START_TEST(vault_hash_leaf_rfc6962_example_roots)
{
	hash_t leaves[8];
	for (int i = 0; i < 8; i++) {
		uint8_t data[16];
		size_t n = strlen(rfc_leaves_hex[i]) / 2;
		for (size_t k = 0; k < n; k++)
			sscanf(rfc_leaves_hex[i] + 2 * k, "%2hhx", &data[k]);
		ck_assert_int_eq(vault_hash_leaf(data, n, leaves[i]), 0);
	}
	for (int size = 0; size <= 8; size++) {
		uint8_t got[32], want[32];
		ref_mth((const hash_t *)leaves, (size_t)size, got);
		ck_assert_int_eq(vault_unhex(rfc_roots_hex[size], 64, want), 0);
		ck_assert_mem_eq(got, want, 32);
	}
}
END_TEST

/* A minimal reader for the vectors' flat JSON (Go MarshalIndent output). jansson cannot hold
 * the uint64 values the probes use (up to 2^64-1), hence this. */
static bool jfield(const char *text, const char *name, const char **ret)
{
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":", name);
	const char *p = strstr(text, key);
	if (!p)
		return false;
	p += strlen(key);
	while (*p == ' ')
		p++;
	*ret = p;
	return true;
}

static uint64_t ju64(const char *text, const char *name)
{
	const char *p;
	ck_assert_msg(jfield(text, name, &p), "no field %s", name);
	return strtoull(p, NULL, 10);
}

static bool jbool(const char *text, const char *name)
{
	const char *p;
	ck_assert_msg(jfield(text, name, &p), "no field %s", name);
	return strncmp(p, "true", 4) == 0;
}

/* Decodes a base64 string starting at p (at its opening quote). Returns the byte count, or
 * -1 for null. */
static int jb64_at(const char *p, uint8_t *out, size_t size, const char **end)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (strncmp(p, "null", 4) == 0) {
		*end = p + 4;
		return -1;
	}
	ck_assert(*p == '"');
	p++;
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (; *p && *p != '"'; p++) {
		if (*p == '=')
			continue;
		const char *c = strchr(al, *p);
		ck_assert_ptr_nonnull(c);
		acc = acc << 6 | (uint32_t)(c - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < size)
				out[n] = (uint8_t)(acc >> bits);
			n++;
		}
	}
	*end = p + 1;
	return (int)n;
}

static int jb64(const char *text, const char *name, uint8_t *out, size_t size)
{
	const char *p, *end;
	ck_assert_msg(jfield(text, name, &p), "no field %s", name);
	return jb64_at(p, out, size, &end);
}

/* Reads the "proof" array. Returns the count; *all32 false when any element is not 32 bytes
 * (a probe no fixed-width verifier can even be handed). */
static size_t jproof(const char *text, hash_t *out, bool *all32)
{
	const char *p;
	size_t n = 0;
	*all32 = true;
	ck_assert(jfield(text, "proof", &p));
	if (strncmp(p, "null", 4) == 0)
		return 0;
	ck_assert(*p == '[');
	p++;
	for (;;) {
		while (*p == ' ' || *p == '\n' || *p == ',')
			p++;
		if (*p == ']')
			break;
		uint8_t buf[64];
		const char *end;
		int len = jb64_at(p, buf, sizeof(buf), &end);
		if (len != 32)
			*all32 = false;
		else if (n < VAULT_PROOF_MAX + 1)
			memcpy(out[n], buf, 32);
		n++;
		p = end;
	}
	return n;
}

static char *vectors_dir;

static int check_vector(const char *path, bool consistency)
{
	char *text = test_read_file(path, NULL);
	hash_t proof[VAULT_PROOF_MAX + 8];
	bool all32, want_err;
	uint8_t a[64], b[64];
	int rc;

	ck_assert_msg(text != NULL, "cannot read %s", path);
	want_err = jbool(text, "wantErr");
	size_t n = jproof(text, proof, &all32);
	if (!consistency) {
		uint64_t idx = ju64(text, "leafIdx"), size = ju64(text, "treeSize");
		int rl = jb64(text, "root", a, sizeof(a)),
		    ll = jb64(text, "leafHash", b, sizeof(b));
		if (!all32 || rl != 32 || ll != 32 || n > VAULT_PROOF_MAX)
			rc = -EBADMSG; /* malformed input: our types cannot even express it */
		else
			rc = vault_merkle_verify_inclusion(idx, size, b, (const hash_t *)proof, n,
			                                   a);
	} else {
		uint64_t s1 = ju64(text, "size1"), s2 = ju64(text, "size2");
		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		int l1 = jb64(text, "root1", a, sizeof(a)), l2 = jb64(text, "root2", b, sizeof(b));
		/* Some probes use short placeholder roots ("don't care"); zero-padded to 32
		 * bytes they keep their equal/unequal relation, which is all they test. */
		if (l1 > 0 && l1 < 32)
			l1 = 32;
		if (l2 > 0 && l2 < 32)
			l2 = 32;
		if (!all32 || l1 != 32 || l2 != 32 || n > VAULT_PROOF_MAX)
			rc = -EBADMSG;
		else
			rc =
			    vault_merkle_verify_consistency(s1, s2, a, b, (const hash_t *)proof, n);
		/* Deliberate difference: RFC 9162 lets (0, 0) with an empty proof pass; we
		 * refuse every consistency claim from size 0 (vault.h), so expect an error. */
		if (s1 == 0)
			want_err = true;
	}
	ck_assert_msg(want_err ? rc != 0 : rc == 0, "%s: want %s, got %d", path,
	              want_err ? "rejection" : "success", rc);
	free(text);
	return 1;
}

static int walk_vectors(const char *folder, bool consistency)
{
	struct dirent **names;
	int n = scandir(folder, &names, NULL, alphasort), count = 0;
	ck_assert_msg(n >= 0, "cannot list %s", folder);
	for (int i = 0; i < n; i++) {
		char sub[1024];
		snprintf(sub, sizeof(sub), "%s/%s", folder, names[i]->d_name);
		if (names[i]->d_name[0] != '.') {
			if (names[i]->d_type == DT_DIR)
				count += walk_vectors(sub, consistency);
			else if (strstr(names[i]->d_name, ".json"))
				count += check_vector(sub, consistency);
		}
		free(names[i]);
	}
	free(names);
	return count;
}

START_TEST(vault_merkle_verify_inclusion_public_vectors)
{
	char d[1024];
	snprintf(d, sizeof(d), "%s/inclusion", vectors_dir);
	ck_assert_int_ge(walk_vectors(d, false), 30);
}
END_TEST

START_TEST(vault_merkle_verify_consistency_public_vectors)
{
	char d[1024];
	snprintf(d, sizeof(d), "%s/consistency", vectors_dir);
	ck_assert_int_ge(walk_vectors(d, true), 40);
}
END_TEST

/* ------------------------------------------------------------------ known answers */

START_TEST(vault_hash_empty_is_sha256_of_nothing)
{
	uint8_t a[32], b[32];
	vault_hash_empty(a);
	ck_assert_int_eq(vault_sha256("", 0, b), 0);
	ck_assert_mem_eq(a, b, 32);
}
END_TEST

static Suite *merkle_suite(void)
{
	Suite *s = suite_create("merkle");
	TCase *tc;

	tc = tcase_create("vault_root");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_root_matches_reference_every_size);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_prove_inclusion");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_prove_inclusion_matches_reference);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_prove_consistency");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_prove_consistency_matches_reference);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_merkle_verify_inclusion");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_merkle_verify_inclusion_rejects_corruption);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_merkle_verify_consistency");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_merkle_verify_consistency_rejects_corruption);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_hash_empty");
	tcase_add_test(tc, vault_hash_empty_is_sha256_of_nothing);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_hash_leaf");
	tcase_add_test(tc, vault_hash_leaf_rfc6962_example_roots);
	suite_add_tcase(s, tc);
	if (vectors_dir) {
		tc = tcase_create("public_vectors");
		tcase_add_test(tc, vault_merkle_verify_inclusion_public_vectors);
		tcase_add_test(tc, vault_merkle_verify_consistency_public_vectors);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(int argc, char **argv)
{
	/* argv[1]: tests/data/merkle (the vectors from transparency-dev/merkle) */
	vectors_dir = argc > 1 ? argv[1] : NULL;
	return test_run_suite(merkle_suite());
}
