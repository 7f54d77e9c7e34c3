/* SPDX-License-Identifier: Apache-2.0 */
/* Content-addressed blobs (model artifacts, reference data) of any size. A blob is written
 * in VAULT_BLOB_CHUNK pieces under a fresh blob id marked as staging; finishing checks the
 * SHA-256 and publishes the id under the hash. So memory stays at one chunk whatever the
 * size, and a crash mid-upload leaves only staged chunks, dropped at the next writer open. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct vault_blob_writer {
	struct vault *v;
	uint64_t id;
	uint8_t *buf;
	size_t fill;
	uint32_t chunks; /* chunks flushed */
	uint64_t written;
	EVP_MD_CTX *sha;
	int error; /* sticky first error */
};

int vault_blob_begin(struct vault *v, struct vault_blob_writer **ret)
{
	struct vault_blob_writer *w;

	if (!(v->flags & VAULT_OPEN_WRITE))
		return -EROFS;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->v = v;
	w->buf = malloc(VAULT_BLOB_CHUNK);
	w->sha = EVP_MD_CTX_new();
	if (!w->buf || !w->sha || EVP_DigestInit_ex(w->sha, v->sha256, NULL) != 1) {
		vault_blob_abort(w);
		return -ENOMEM;
	}
	w->id = v->next_blob_id++;
	*ret = w;
	return 0;
}

static void chunk_key(uint8_t key[12], uint64_t id, uint32_t idx)
{
	vault__be64(key, id);
	vault__be32(key + 8, idx);
}

/* Writes the buffered chunk (and the staging mark with the first one) in its own txn. */
static int flush_once(struct vault_blob_writer *w)
{
	struct vault *v = w->v;
	uint8_t key[12], id[8];
	MDB_val k = {12, key}, d = {w->fill, w->buf};
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	if (w->chunks == 0) {
		MDB_val sk = {8, id}, sd = {0, NULL};
		vault__be64(id, w->id);
		rc = mdb_put(txn, v->dbi[DB_STAGING], &sk, &sd, 0);
		if (rc)
			goto fail;
	}
	chunk_key(key, w->id, w->chunks);
	rc = mdb_put(txn, v->dbi[DB_CHUNKS], &k, &d, 0);
	if (rc)
		goto fail;
	rc = vault__txn_commit(v, txn);
	if (rc == 0) {
		w->chunks++;
		w->fill = 0;
	}
	return rc;
fail:
	vault__txn_abort(v, txn);
	return vault__err_from_mdb(rc);
}

static int flush_chunk(struct vault_blob_writer *w)
{
	int rc;

	while ((rc = flush_once(w)) == VAULT__EMAPFULL) {
		int g = vault__grow_map(w->v);
		if (g < 0)
			return g;
	}
	return rc;
}

int vault_blob_write(struct vault_blob_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (w->error)
		return w->error;
	if (len && EVP_DigestUpdate(w->sha, data, len) != 1)
		return w->error = -EIO;
	while (len > 0) {
		size_t n = VAULT_BLOB_CHUNK - w->fill;
		if (n > len)
			n = len;
		memcpy(w->buf + w->fill, p, n);
		w->fill += n;
		p += n;
		len -= n;
		w->written += n;
		if (w->fill == VAULT_BLOB_CHUNK) {
			int rc = flush_chunk(w);
			if (rc < 0)
				return w->error = rc;
		}
	}
	return 0;
}

uint64_t vault_blob_written(const struct vault_blob_writer *w)
{
	return w->written;
}

/* Deletes chunks [0, count) of blob id and its staging mark within txn. */
static int drop_chunks(struct vault *v, MDB_txn *txn, uint64_t id, uint32_t count)
{
	uint8_t key[12], sid[8];
	MDB_val k = {12, key}, sk = {8, sid};
	int rc;

	for (uint32_t i = 0; i < count; i++) {
		chunk_key(key, id, i);
		k = (MDB_val){12, key};
		rc = mdb_del(txn, v->dbi[DB_CHUNKS], &k, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
	}
	vault__be64(sid, id);
	rc = mdb_del(txn, v->dbi[DB_STAGING], &sk, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int finish_once(struct vault_blob_writer *w, const uint8_t hash[32], bool valid,
                       int *ret_existed)
{
	struct vault *v = w->v;
	uint8_t key[12], meta[20];
	MDB_val hk = {32, (void *)hash}, d;
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	if (!valid) {
		rc = drop_chunks(v, txn, w->id, w->chunks);
		goto done;
	}
	rc = mdb_get(txn, v->dbi[DB_BLOBS], &hk, &d);
	if (rc == 0) {
		*ret_existed = 1;
		rc = drop_chunks(v, txn, w->id, w->chunks);
		goto done;
	}
	if (rc != MDB_NOTFOUND)
		goto done;
	if (w->fill > 0) {
		MDB_val k = {12, key}, cd = {w->fill, w->buf};
		chunk_key(key, w->id, w->chunks);
		rc = mdb_put(txn, v->dbi[DB_CHUNKS], &k, &cd, 0);
		if (rc)
			goto done;
	}
	vault__be64(meta, w->written);
	vault__be64(meta + 8, w->id);
	vault__be32(meta + 16, w->chunks + (w->fill > 0));
	d = (MDB_val){sizeof(meta), meta};
	rc = mdb_put(txn, v->dbi[DB_BLOBS], &hk, &d, MDB_NOOVERWRITE);
	if (rc)
		goto done;
	{
		uint8_t sid[8];
		MDB_val sk = {8, sid};
		vault__be64(sid, w->id);
		rc = mdb_del(txn, v->dbi[DB_STAGING], &sk, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
done:
	if (rc) {
		vault__txn_abort(v, txn);
		return vault__err_from_mdb(rc);
	}
	return vault__txn_commit(v, txn);
}

int vault_blob_finish(struct vault_blob_writer *w, const uint8_t *expect, uint64_t expect_size,
                      uint8_t *ret_hash)
{
	uint8_t hash[32];
	unsigned int hl = 0;
	bool valid;
	int rc, existed = 0;

	if (w->error) {
		rc = w->error;
		vault_blob_abort(w);
		return rc;
	}
	if (EVP_DigestFinal_ex(w->sha, hash, &hl) != 1 || hl != 32) {
		vault_blob_abort(w);
		return -EIO;
	}
	valid = (!expect || memcmp(expect, hash, 32) == 0) &&
	        (expect_size == UINT64_MAX || expect_size == w->written);
	while ((rc = finish_once(w, hash, valid, &existed)) == VAULT__EMAPFULL) {
		int g = vault__grow_map(w->v);
		if (g < 0) {
			rc = g;
			break;
		}
	}
	w->chunks = 0; /* handled: abort must not touch the store again */
	vault_blob_abort(w);
	if (rc < 0)
		return rc;
	if (!valid)
		return -EBADMSG;
	if (ret_hash)
		memcpy(ret_hash, hash, 32);
	return existed;
}

void vault_blob_abort(struct vault_blob_writer *w)
{
	if (!w)
		return;
	if (w->chunks > 0) {
		/* Best effort: what cannot be dropped now is dropped at the next writer open. */
		MDB_txn *txn;
		if (vault__txn_begin(w->v, true, &txn) == 0) {
			if (drop_chunks(w->v, txn, w->id, w->chunks) == 0)
				vault__txn_commit(w->v, txn);
			else
				vault__txn_abort(w->v, txn);
		}
	}
	EVP_MD_CTX_free(w->sha);
	free(w->buf);
	free(w);
}
