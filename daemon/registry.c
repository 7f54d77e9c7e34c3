/* SPDX-License-Identifier: Apache-2.0 */
/* Model registry: a small chained hash table keyed by "ID@VERSION", and each version's
 * reservoir of recent records (registry.h). */
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "entry.pb-c.h"

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

int registry_key(const char *id, const char *version, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s@%s", id ? id : "", version ? version : "");
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int registry_init(struct registry *r)
{
	*r = (struct registry){.n_buckets = 64};
	r->buckets = calloc(r->n_buckets, sizeof(*r->buckets));
	return r->buckets ? 0 : -ENOMEM;
}

void registry_deinit(struct registry *r)
{
	for (size_t i = 0; r->buckets && i < r->n_buckets; i++) {
		struct model_info *m = r->buckets[i];
		while (m) {
			struct model_info *next = m->next;
			evident__v1__model_manifest__free_unpacked(m->manifest, NULL);
			free(m->key);
			if (m->recent) {
				free(m->recent->rows);
				free(m->recent->seqs);
				free(m->recent);
			}
			free(m);
			m = next;
		}
	}
	free(r->buckets);
	*r = (struct registry){0};
}

const struct model_info *registry_find(const struct registry *r, const char *id,
                                       const char *version)
{
	char key[DISPATCH_ID_MAX + DISPATCH_VERSION_MAX + 2];

	if (registry_key(id, version, key, sizeof(key)) < 0)
		return NULL;
	for (struct model_info *m = r->buckets[fnv1a(key) % r->n_buckets]; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

static void rehash(struct registry *r)
{
	size_t n = r->n_buckets * 4;
	struct model_info **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return; /* keep the old table: still correct, only slower */
	for (size_t i = 0; i < r->n_buckets; i++) {
		struct model_info *m = r->buckets[i];
		while (m) {
			struct model_info *next = m->next;
			size_t b = fnv1a(m->key) % n;
			m->next = nb[b];
			nb[b] = m;
			m = next;
		}
	}
	free(r->buckets);
	r->buckets = nb;
	r->n_buckets = n;
}

int registry_add(struct registry *r, Evident__V1__ModelManifest *manifest, uint64_t seq,
                 const uint8_t leaf_hash[VAULT_HASH_LEN], const uint8_t digest[VAULT_HASH_LEN])
{
	char key[DISPATCH_ID_MAX + DISPATCH_VERSION_MAX + 2];
	struct model_info *m;

	if (registry_key(manifest->model_id, manifest->version, key, sizeof(key)) < 0 ||
	    registry_find(r, manifest->model_id, manifest->version)) {
		evident__v1__model_manifest__free_unpacked(manifest, NULL);
		return -EEXIST;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->key = strdup(key))) {
		free(m);
		evident__v1__model_manifest__free_unpacked(manifest, NULL);
		return -ENOMEM;
	}
	m->seq = seq;
	m->manifest = manifest;
	memcpy(m->leaf_hash, leaf_hash, VAULT_HASH_LEN);
	memcpy(m->digest, digest, VAULT_HASH_LEN);
	if (r->count + 1 > r->n_buckets * 2)
		rehash(r);
	size_t b = fnv1a(key) % r->n_buckets;
	m->next = r->buckets[b];
	r->buckets[b] = m;
	r->count++;
	return 0;
}

int registry_load(struct registry *r, struct vault *v, size_t *ret_bad)
{
	struct vault_reader *rd;
	uint64_t seq = 0;
	size_t bad = 0;
	int rc;

	rc = vault_reader_begin(v, &rd);
	if (rc < 0)
		return rc;
	while ((rc = vault_next_of_type(rd, VAULT_ENTRY_MODEL, seq, &seq)) == 0) {
		struct vault_entry e;
		Evident__Entry__V1__ModelEntry *me;
		uint8_t digest[VAULT_HASH_LEN];

		rc = vault_get(rd, seq, &e);
		if (rc < 0)
			break;
		me = e.payload
		         ? evident__entry__v1__model_entry__unpack(NULL, e.payload_len, e.payload)
		         : NULL;
		if (!me || !me->manifest || dispatch_manifest_digest(me->manifest, digest) < 0) {
			bad++;
		} else {
			Evident__V1__ModelManifest *mf = me->manifest;
			me->manifest = NULL; /* moved into the registry */
			rc = registry_add(r, mf, seq, e.leaf_hash, digest);
			if (rc < 0 && rc != -EEXIST) {
				evident__entry__v1__model_entry__free_unpacked(me, NULL);
				break;
			}
		}
		if (me)
			evident__entry__v1__model_entry__free_unpacked(me, NULL);
		seq++;
	}
	vault_reader_end(rd);
	if (rc == -ENOENT)
		rc = 0;
	if (ret_bad)
		*ret_bad = bad;
	return rc;
}

/* ------------------------------------------------------------------ reservoirs of recent records
 */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

long registry_reservoir_pick(struct model_info *mi)
{
	struct reservoir *r = mi->recent;
	size_t M = mi->manifest->n_features;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -1;
		r->rows = malloc(REGISTRY_RESERVOIR_CAP * (M ? M : 1) * sizeof(double));
		r->seqs = malloc(REGISTRY_RESERVOIR_CAP * sizeof(uint64_t));
		if (!r->rows || !r->seqs) {
			free(r->rows);
			free(r->seqs);
			free(r);
			return -1;
		}
		r->cap = REGISTRY_RESERVOIR_CAP;
		r->rng = mi->seq;
		mi->recent = r;
	}
	uint64_t k = r->seen++;
	if (k < r->cap)
		return (long)k;
	k = splitmix(&r->rng) % (k + 1);
	return k < r->cap ? (long)k : -1;
}

void registry_reservoir_fill(struct model_info *mi, long slot, const double *x, uint64_t seq)
{
	struct reservoir *r = mi->recent;
	size_t M = mi->manifest->n_features;

	if (!r || slot < 0 || (size_t)slot >= r->cap)
		return;
	/* slots fill in commit order: a slot past n is appended at n instead */
	size_t s = (size_t)slot < r->n ? (size_t)slot : r->n;
	memcpy(r->rows + s * M, x, M * sizeof(double));
	r->seqs[s] = seq;
	if (s == r->n)
		r->n++;
}

static bool in_sorted(const uint64_t *a, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] == v)
			return true;
		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int cmp_seq(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

void registry_reservoir_forget(struct registry *reg, const uint64_t *seqs, size_t n)
{
	uint64_t *sorted;

	if (!n || !(sorted = malloc(n * sizeof(*sorted))))
		return; /* without memory the rows stay: they are the records' own, still stored
		         * as leaves, and audits name them by seq */
	memcpy(sorted, seqs, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_seq);
	for (size_t b = 0; b < reg->n_buckets; b++)
		for (struct model_info *mi = reg->buckets[b]; mi; mi = mi->next) {
			struct reservoir *r = mi->recent;
			size_t M = mi->manifest->n_features;
			for (size_t s = 0; r && s < r->n;) {
				if (!in_sorted(sorted, n, r->seqs[s])) {
					s++;
					continue;
				}
				/* the last filled slot takes its place */
				r->n--;
				memmove(r->rows + s * M, r->rows + r->n * M, M * sizeof(double));
				r->seqs[s] = r->seqs[r->n];
			}
		}
	free(sorted);
}

long registry_reservoir_seed(struct registry *reg, struct vault *v, uint64_t max_scan)
{
	struct vault_reader *r;
	long taken = 0;
	int rc = vault_reader_begin(v, &r);

	if (rc < 0)
		return rc;
	uint64_t size = vault_reader_size(r), stop = size > max_scan ? size - max_scan : 0;
	/* newest first: a version's reservoir takes its most recent records (the reservoir
	 * then samples the records of this run among them) */
	for (uint64_t seq = size; seq-- > stop;) {
		struct vault_entry e;
		if (vault_get(r, seq, &e) < 0 || e.leaf.type != VAULT_ENTRY_RECORD || !e.payload)
			continue;
		Evident__Entry__V1__RecordEntry *re =
		    evident__entry__v1__record_entry__unpack(NULL, e.payload_len, e.payload);
		const Evident__V1__Record *rec = re ? re->record : NULL;
		struct model_info *mi =
		    rec ? (struct model_info *)registry_find(reg, rec->model_id, rec->model_version)
		        : NULL;
		if (mi && rec->n_features == mi->manifest->n_features &&
		    !(mi->manifest->reference_data_sha256 &&
		      *mi->manifest->reference_data_sha256) &&
		    (!mi->recent || mi->recent->seen < REGISTRY_RESERVOIR_CAP)) {
			long slot = registry_reservoir_pick(mi);
			if (slot >= 0) {
				registry_reservoir_fill(mi, slot, rec->features, seq);
				taken++;
			}
		}
		if (re)
			evident__entry__v1__record_entry__free_unpacked(re, NULL);
	}
	vault_reader_end(r);
	return taken;
}
