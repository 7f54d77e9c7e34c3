/* SPDX-License-Identifier: Apache-2.0 */
/* The write path: batched appends (one LMDB transaction, full fsync), dedup, prune and
 * checkpoint signing. Only one thread at a time may be in here (vault.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "evident/invariant.h"
#include "internal.h"

void vault__head_load(const struct vault *v, struct vault__head *h)
{
	unsigned top = v->size ? 64 - (unsigned)__builtin_clzll(v->size) : 0;

	h->size = v->size;
	h->last_ts = v->last_ts;
	memcpy(h->last_leaf_hash, v->last_leaf_hash, 32);
	memcpy(h->frontier, v->frontier, (size_t)top * 32);
}

void vault__head_store(struct vault *v, const struct vault__head *h)
{
	unsigned top = h->size ? 64 - (unsigned)__builtin_clzll(h->size) : 0;

	v->size = h->size;
	v->last_ts = h->last_ts;
	memcpy(v->last_leaf_hash, h->last_leaf_hash, 32);
	memcpy(v->frontier, h->frontier, (size_t)top * 32);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

ssize_t vault__dedup_key(const char *client, const char *request, uint8_t *out)
{
	size_t cl = strlen(client), rl = strlen(request);

	if (cl + 1 + rl > VAULT_DEDUP_KEY_MAX)
		return -EINVAL;
	if (out) {
		memcpy(out, client, cl);
		out[cl] = 0;
		memcpy(out + cl + 1, request, rl);
	}
	return (ssize_t)(cl + 1 + rl);
}

bool vault__disk_short(struct vault *v, uint64_t reserve, uint64_t need)
{
	struct statvfs st;
	int fd;

	if (mdb_env_get_fd(v->env, &fd) != 0 || fstatvfs(fd, &st) != 0)
		return false;
	return (uint64_t)st.f_bavail * st.f_frsize < reserve + need;
}

/* Bytes a commit of these entries may add to the file: payloads, leaves, nodes, index keys and
 * the pages around them, generously. */
static uint64_t commit_estimate(const struct vault_entry_in *in, size_t n)
{
	uint64_t bytes = 64 * 1024;

	for (size_t i = 0; i < n; i++)
		bytes += in[i].payload_len + in[i].payload_len / 8 + 512;
	return bytes;
}

static bool dedup_valid(const struct vault_entry_in *e)
{
	if (!e->dedup_client && !e->dedup_request)
		return true;
	if (!e->dedup_client || !e->dedup_request)
		return false;
	return vault__dedup_key(e->dedup_client, e->dedup_request, NULL) > 0;
}

static bool subject_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return !s || (n > 0 && n <= VAULT_SUBJECT_MAX);
}

/* Appends one entry inside txn, advancing h. subject may be NULL. */
static int append_one(struct vault *v, MDB_txn *txn, struct vault__head *h, uint16_t type,
                      const void *payload, size_t len, const char *subject,
                      struct vault_append_result *res)
{
	struct vault_leaf leaf = {.version = v->leaf_version, .seq = h->size, .type = type};
	uint8_t nonce[VAULT_NONCE_LEN];
	int rc;

	INVARIANT(leaf.version == 1 || leaf.version == 2);
	leaf.timestamp_ns = now_ns();
	if (leaf.timestamp_ns < h->last_ts)
		leaf.timestamp_ns = h->last_ts; /* the clock stepped back: keep time order */
	leaf.payload_len = len;
	memcpy(leaf.prev_hash, h->last_leaf_hash, 32);
	/* v2: a blinded commitment, SHA-256(nonce || payload), the nonce from OpenSSL's CSPRNG
	 * (a DRBG seeded by the kernel): once the payload and its nonce are pruned, hashing
	 * guessed payloads can no longer confirm one. */
	if (leaf.version == 2) {
		if (v->nonce_used == 0 || v->nonce_used >= sizeof(v->nonce_pool)) {
			if (RAND_bytes(v->nonce_pool, sizeof(v->nonce_pool)) != 1)
				return -EIO;
			v->nonce_used = 0;
		}
		memcpy(nonce, v->nonce_pool + v->nonce_used, sizeof(nonce));
		OPENSSL_cleanse(v->nonce_pool + v->nonce_used, sizeof(nonce));
		v->nonce_used += sizeof(nonce);
	}
	rc = leaf.version == 2 ? vault__sha256_2(&v->hasher, nonce, sizeof(nonce), payload, len,
	                                         leaf.payload_hash)
	                       : vault__sha256(&v->hasher, payload, len, leaf.payload_hash);
	if (rc < 0)
		return rc;
	/* an empty payload is stored (as nothing, or the nonce alone): NULL would mean pruned */
	return vault__put_entry(v, txn, h, &leaf, leaf.version == 2 ? nonce : NULL,
	                        payload ? payload : "", len, subject, res);
}

size_t vault__model_index_key(vault_model_key_fn fn, void *userdata, uint16_t type,
                              const uint8_t *payload, size_t len, uint64_t seq,
                              uint8_t out[VAULT_MODEL_MAX + 1 + 8])
{
	char model[VAULT_MODEL_MAX + 1];
	size_t ml;

	if (type != VAULT_ENTRY_RECORD && type != VAULT_ENTRY_MODEL)
		return 0;
	model[0] = '\0';
	if (fn(userdata, type, payload, len, model) <= 0)
		return 0; /* about no model, or a payload the application cannot read */
	ml = strnlen(model, sizeof(model));
	if (ml == 0 || ml > VAULT_MODEL_MAX)
		return 0;
	memcpy(out, model, ml);
	out[ml] = 0;
	vault__be64(out + ml + 1, seq);
	return ml + 1 + 8;
}

int vault__model_put(struct vault *v, MDB_txn *txn, uint16_t type, const void *payload, size_t len,
                     uint64_t seq)
{
	uint8_t mk[VAULT_MODEL_MAX + 1 + 8];
	MDB_val k = {0, mk}, empty = {0, NULL};

	if (!v->model_key)
		return 0;
	k.mv_size =
	    vault__model_index_key(v->model_key, v->model_userdata, type, payload, len, seq, mk);
	if (k.mv_size == 0)
		return 0;
	return vault__err_from_mdb(mdb_put(txn, v->dbi[DB_MODELS], &k, &empty, 0));
}

int vault__put_entry(struct vault *v, MDB_txn *txn, struct vault__head *h,
                     const struct vault_leaf *leaf_in, const uint8_t *nonce, const void *payload,
                     size_t len, const char *subject, struct vault_append_result *res)
{
	const struct vault_leaf leaf = *leaf_in;
	uint8_t rec[VAULT_LEAF_LEN + 32], key[8], node[32];
	MDB_val k = {8, key}, d;
	uint64_t idx = h->size;
	unsigned level = 0;
	int rc;

	INVARIANT(h->size >= v->size); /* the batch's head starts at the committed one */
	INVARIANT(leaf.seq == h->size);
	INVARIANT(!payload || (leaf.version == 2) == (nonce != NULL));
	vault_leaf_encode(&leaf, rec);
	rc = vault__hash_leaf(&v->hasher, rec, VAULT_LEAF_LEN, rec + VAULT_LEAF_LEN);
	if (rc < 0)
		return rc;

	vault__be64(key, leaf.seq);
	d = (MDB_val){sizeof(rec), rec};
	rc = mdb_put(txn, v->dbi[DB_LEAVES], &k, &d, MDB_APPEND);
	if (rc)
		return vault__err_from_mdb(rc);
	if (payload && nonce) {
		/* stored as nonce || payload, written in place */
		d = (MDB_val){VAULT_NONCE_LEN + len, NULL};
		rc = mdb_put(txn, v->dbi[DB_PAYLOADS], &k, &d, MDB_APPEND | MDB_RESERVE);
		if (rc == 0) {
			memcpy(d.mv_data, nonce, VAULT_NONCE_LEN);
			if (len)
				memcpy((uint8_t *)d.mv_data + VAULT_NONCE_LEN, payload, len);
		}
	} else if (payload) {
		d = (MDB_val){len, (void *)payload};
		rc = mdb_put(txn, v->dbi[DB_PAYLOADS], &k, &d, MDB_APPEND);
	}
	if (rc)
		return vault__err_from_mdb(rc);
	if (subject) {
		size_t sl = strlen(subject);
		uint8_t sk[VAULT_SUBJECT_MAX + 1 + 8];
		MDB_val skey = {sl + 1 + 8, sk}, empty = {0, NULL};
		memcpy(sk, subject, sl);
		sk[sl] = 0;
		vault__be64(sk + sl + 1, leaf.seq);
		rc = mdb_put(txn, v->dbi[DB_SUBJECTS], &skey, &empty, 0);
		if (rc)
			return vault__err_from_mdb(rc);
	}

	rc = payload ? vault__model_put(v, txn, leaf.type, payload, len, leaf.seq) : 0;
	if (rc < 0)
		return rc;

	/* Complete every perfect subtree this leaf closes (RFC 6962 shape). */
	memcpy(node, rec + VAULT_LEAF_LEN, 32);
	while (idx & 1) {
		rc = vault__hash_children(&v->hasher, h->frontier[level], node, node);
		if (rc < 0)
			return rc;
		idx >>= 1;
		level++;
		vault__be64(key, vault__node_pos(level, idx));
		d = (MDB_val){32, node};
		rc = mdb_put(txn, v->dbi[DB_NODES], &k, &d, MDB_APPEND);
		if (rc)
			return vault__err_from_mdb(rc);
	}
	INVARIANT(level < 64); /* a tree of at most 2^64 leaves */
	memcpy(h->frontier[level], node, 32);

	/* Everything but the bulk type is indexed by type, so models, incidents and the like
	 * are found without reading every record. */
	if (leaf.type != VAULT_ENTRY_RECORD) {
		uint8_t tk[10];
		MDB_val tkey = {sizeof(tk), tk}, empty = {0, NULL};
		tk[0] = (uint8_t)(leaf.type >> 8);
		tk[1] = (uint8_t)leaf.type;
		vault__be64(tk + 2, leaf.seq);
		rc = mdb_put(txn, v->dbi[DB_TYPES], &tkey, &empty, 0);
		if (rc)
			return vault__err_from_mdb(rc);
	}

	h->size++;
	h->last_ts = leaf.timestamp_ns;
	memcpy(h->last_leaf_hash, rec + VAULT_LEAF_LEN, 32);
	res->seq = leaf.seq;
	res->timestamp_ns = leaf.timestamp_ns;
	memcpy(res->leaf_hash, rec + VAULT_LEAF_LEN, 32);
	res->duplicate = false;
	return 0;
}

static int append_batch(struct vault *v, const struct vault_entry_in *in, size_t n,
                        struct vault_append_result *ret)
{
	struct vault__head h;
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	vault__head_load(v, &h);
	for (size_t i = 0; i < n; i++) {
		const struct vault_entry_in *e = &in[i];
		uint8_t dk[VAULT_DEDUP_KEY_MAX + 1], seqbuf[8];
		MDB_val k, d;

		if (e->dedup_client) {
			k = (MDB_val){
			    (size_t)vault__dedup_key(e->dedup_client, e->dedup_request, dk), dk};
			rc = mdb_get(txn, v->dbi[DB_DEDUP], &k, &d);
			if (rc == 0) {
				struct vault_leaf leaf;
				if (d.mv_size != 8) {
					rc = -EBADMSG;
					goto fail;
				}
				ret[i].seq = vault__rd64(d.mv_data);
				rc = vault__leaf_get(v, txn, ret[i].seq, &leaf, ret[i].leaf_hash);
				if (rc < 0)
					goto fail;
				ret[i].timestamp_ns = leaf.timestamp_ns;
				ret[i].duplicate = true;
				continue;
			}
			if (rc != MDB_NOTFOUND) {
				rc = vault__err_from_mdb(rc);
				goto fail;
			}
		}
		rc = append_one(v, txn, &h, e->type, e->payload, e->payload_len, e->subject,
		                &ret[i]);
		if (rc < 0)
			goto fail;
		if (e->dedup_client) {
			vault__be64(seqbuf, ret[i].seq);
			d = (MDB_val){8, seqbuf};
			rc = mdb_put(txn, v->dbi[DB_DEDUP], &k, &d, MDB_NOOVERWRITE);
			if (rc) {
				rc = vault__err_from_mdb(rc);
				goto fail;
			}
		}
	}
	bool reserved = true;
	for (size_t i = 0; i < n; i++)
		reserved = reserved && in[i].reserved;
	if (v->disk_reserve &&
	    vault__disk_short(v, reserved ? 0 : v->disk_reserve, commit_estimate(in, n))) {
		rc = -ENOSPC;
		goto fail;
	}
	rc = vault__txn_commit(v, txn);
	if (rc == 0)
		vault__head_store(v, &h);
	return rc;
fail:
	vault__txn_abort(v, txn);
	return rc;
}

int vault_append(struct vault *v, const struct vault_entry_in *in, size_t n,
                 struct vault_append_result *ret)
{
	int rc;

	if (!(v->flags & VAULT_OPEN_WRITE))
		return -EROFS;
	if (v->flags & VAULT_OPEN_MIRROR)
		return -EPERM; /* a mirror holds the origin's entries only */
	if (n == 0)
		return 0;
	if (!in || !ret)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct vault_entry_in *e = &in[i];
		if (e->type == 0 || e->type >= _VAULT_ENTRY_TYPE_MAX ||
		    e->type == VAULT_ENTRY_PRUNE)
			return -EINVAL;
		if (e->payload_len > VAULT_PAYLOAD_MAX || (e->payload_len && !e->payload))
			return -EINVAL;
		if (!dedup_valid(e) || !subject_valid(e->subject))
			return -EINVAL;
	}
	/* A full map is grown and the whole batch retried: the aborted txn changed nothing. */
	while ((rc = append_batch(v, in, n, ret)) == VAULT__EMAPFULL) {
		int g = vault__grow_map(v);
		if (g < 0)
			return g;
	}
	return rc;
}

int vault_dedup_lookup(struct vault *v, const char *client, const char *request, uint64_t *ret_seq)
{
	struct vault_entry_in e = {.dedup_client = client, .dedup_request = request};
	uint8_t dk[VAULT_DEDUP_KEY_MAX + 1];
	MDB_txn *txn;
	MDB_val k, d;
	int rc;

	if (!client || !request || !dedup_valid(&e))
		return -EINVAL;
	k = (MDB_val){(size_t)vault__dedup_key(client, request, dk), dk};
	rc = vault__txn_begin(v, false, &txn);
	if (rc < 0)
		return rc;
	rc = vault__get(v, txn, DB_DEDUP, &k, &d);
	if (rc == 0 && d.mv_size == 8)
		*ret_seq = vault__rd64(d.mv_data);
	else if (rc == 0)
		rc = -EBADMSG;
	else
		rc = vault__err_from_mdb(rc);
	vault__txn_abort(v, txn);
	return rc;
}

/* Prunes one entry inside txn: its payload (and nonce) and its dedup key go, a prune entry
 * comes. Returns 0; 1 when the payload was already gone (nothing changed); errors. */
static int prune_one(struct vault *v, MDB_txn *txn, struct vault__head *h,
                     const struct vault_prune_in *p, struct vault_append_result *ret)
{
	uint8_t key[8], payload[VAULT__PRUNE_MAX], dk[VAULT_DEDUP_KEY_MAX + 1];
	MDB_val k = {8, key}, d;
	struct vault_leaf leaf;
	size_t plen;
	int rc;

	rc = vault__leaf_get(v, txn, p->seq, &leaf, ret->leaf_hash);
	if (rc < 0)
		return rc;
	if (leaf.type == VAULT_ENTRY_PRUNE)
		return -EINVAL;
	vault__be64(key, p->seq);
	rc = mdb_get(txn, v->dbi[DB_PAYLOADS], &k, &d);
	if (rc == MDB_NOTFOUND) {
		ret->seq = p->seq;
		ret->timestamp_ns = leaf.timestamp_ns;
		ret->duplicate = true;
		return 1;
	}
	if (rc == 0)
		rc = mdb_del(txn, v->dbi[DB_PAYLOADS], &k, NULL);
	if (rc)
		return vault__err_from_mdb(rc);
	/* The dedup key goes with the payload when it names this entry: a later retry of that
	 * request is a new record, and the key can no longer be re-derived anyway. */
	if (p->dedup_client) {
		MDB_val dkey = {(size_t)vault__dedup_key(p->dedup_client, p->dedup_request, dk),
		                dk};
		rc = mdb_get(txn, v->dbi[DB_DEDUP], &dkey, &d);
		if (rc == 0 && d.mv_size == 8 && vault__rd64(d.mv_data) == p->seq)
			rc = mdb_del(txn, v->dbi[DB_DEDUP], &dkey, NULL);
		else if (rc == 0 || rc == MDB_NOTFOUND)
			rc = 0; /* another entry's key, or none: left alone */
		if (rc)
			return vault__err_from_mdb(rc);
	}
	plen = vault__prune_encode(p->seq, leaf.payload_hash, leaf.payload_len, p->reason, payload);
	return append_one(v, txn, h, VAULT_ENTRY_PRUNE, payload, plen, NULL, ret);
}

static int prune_batch_once(struct vault *v, const struct vault_prune_in *in, size_t n,
                            struct vault_append_result *ret)
{
	struct vault__head h;
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	vault__head_load(v, &h);
	for (size_t i = 0; i < n; i++) {
		rc = prune_one(v, txn, &h, &in[i], &ret[i]);
		if (rc < 0)
			goto fail;
	}
	rc = vault__txn_commit(v, txn);
	if (rc == 0)
		vault__head_store(v, &h);
	return rc;
fail:
	vault__txn_abort(v, txn);
	return rc;
}

int vault_prune_batch(struct vault *v, const struct vault_prune_in *in, size_t n,
                      struct vault_append_result *ret)
{
	int rc;

	if (!(v->flags & VAULT_OPEN_WRITE))
		return -EROFS;
	if (v->flags & VAULT_OPEN_MIRROR)
		return -EPERM; /* a mirror prunes what the origin's prune entries name */
	if (n == 0)
		return 0;
	if (!in || !ret)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		struct vault_entry_in e = {.dedup_client = in[i].dedup_client,
		                           .dedup_request = in[i].dedup_request};
		if ((in[i].reason && strlen(in[i].reason) > 1024) || !dedup_valid(&e))
			return -EINVAL;
		if (in[i].seq >= v->size)
			return -ENOENT;
	}
	while ((rc = prune_batch_once(v, in, n, ret)) == VAULT__EMAPFULL) {
		int g = vault__grow_map(v);
		if (g < 0)
			return g;
	}
	return rc;
}

int vault_prune(struct vault *v, uint64_t seq, const char *reason, struct vault_append_result *ret)
{
	struct vault_prune_in in = {.seq = seq, .reason = reason};
	struct vault_append_result res;
	int rc = vault_prune_batch(v, &in, 1, &res);

	if (rc == 0 && res.duplicate)
		return -EALREADY;
	if (rc == 0 && ret)
		*ret = res;
	return rc;
}

/* ------------------------------------------------------------------ checkpoints */

int vault__write_checkpoint_file(struct vault *v, const char *note)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	size_t len = strlen(note), off = 0;
	int fd, dfd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s/.checkpoint.tmp", v->dir) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/checkpoint", v->dir) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, note + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	dfd = open(v->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		rc = -errno;
	close(dfd);
	return rc;
}

static int checkpoint_once(struct vault *v, char **ret_note)
{
	struct vault_checkpoint last, cp = {0};
	uint8_t key[8], root[32];
	MDB_val k = {8, key}, d;
	MDB_cursor *cur;
	MDB_txn *txn;
	char body[VAULT_ORIGIN_MAX + 128], *note = NULL;
	bool have_last = false;
	int rc, blen;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	rc = mdb_cursor_open(txn, v->dbi[DB_CHECKPOINTS], &cur);
	if (rc) {
		rc = vault__err_from_mdb(rc);
		goto fail;
	}
	rc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == 0) {
		/* Never sign a head that does not extend the last signed one. */
		rc = vault_checkpoint_parse(d.mv_data, d.mv_size, &v->pubkey, &last);
		if (rc < 0 || last.size > v->size) {
			rc = -EUCLEAN;
			goto fail;
		}
		rc = vault__range_hash(v, txn, &v->hasher, 0, last.size, root);
		if (rc < 0)
			goto fail;
		if (memcmp(root, last.root, 32) != 0) {
			rc = -EUCLEAN;
			goto fail;
		}
		have_last = true;
		if (last.size == v->size) {
			if (ret_note) {
				note = strndup(d.mv_data, d.mv_size);
				if (!note) {
					rc = -ENOMEM;
					goto fail;
				}
				*ret_note = note;
			}
			vault__txn_abort(v, txn);
			return 0;
		}
	} else if (rc != MDB_NOTFOUND) {
		rc = vault__err_from_mdb(rc);
		goto fail;
	}
	(void)have_last;

	strcpy(cp.origin, v->origin);
	cp.size = v->size;
	rc = vault__frontier_root(&v->hasher, v->frontier, v->size, cp.root);
	if (rc < 0)
		goto fail;
	blen = vault_checkpoint_body(&cp, body, sizeof(body));
	if (blen < 0) {
		rc = blen;
		goto fail;
	}
	rc = vault__note_sign(v->sign_key, &v->pubkey, body, (size_t)blen, &note);
	if (rc < 0)
		goto fail;
	vault__be64(key, cp.size);
	k = (MDB_val){8, key};
	d = (MDB_val){strlen(note), note};
	rc = mdb_put(txn, v->dbi[DB_CHECKPOINTS], &k, &d, MDB_APPEND);
	if (rc) {
		rc = vault__err_from_mdb(rc);
		goto fail;
	}
	rc = vault__txn_commit(v, txn);
	if (rc < 0) {
		free(note);
		return rc;
	}
	rc = vault__write_checkpoint_file(v, note);
	if (rc < 0 || !ret_note)
		free(note);
	else
		*ret_note = note;
	return rc;
fail:
	free(note);
	vault__txn_abort(v, txn);
	return rc;
}

uint64_t vault_size(const struct vault *v)
{
	return v->size;
}

int vault_checkpoint_sign(struct vault *v, char **ret_note)
{
	int rc;

	if (!(v->flags & VAULT_OPEN_WRITE))
		return -EROFS;
	if (v->flags & VAULT_OPEN_MIRROR)
		return -EPERM; /* no signing key: the origin signs (vault_mirror_checkpoint) */
	while ((rc = checkpoint_once(v, ret_note)) == VAULT__EMAPFULL) {
		int g = vault__grow_map(v);
		if (g < 0)
			return g;
	}
	return rc;
}
