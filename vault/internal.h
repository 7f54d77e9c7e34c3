/* SPDX-License-Identifier: Apache-2.0 */
/* Shared internals of the vault sources (vault__ prefix). Not installed, not for other folders. */
#pragma once

#include <errno.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "vault.h"

/* 2: the models database (FORMAT.md §2); a writer migrates a vault of format 1 on open, and
 * readers read both. */
#define VAULT_FORMAT_VERSION 2
#define VAULT_MODEL_BATCH    65536 /* entries indexed per transaction when an open migrates */
#define VAULT_FORMAT_TAG     "evidentd-vault"
/* Blobs are stored in chunks of this size (each an LMDB overflow value): big enough that the
 * per-chunk overhead is negligible, small enough to stream without holding a whole artifact. */
#define VAULT_BLOB_CHUNK     (1u << 20)
#define VAULT_MAX_DBS        16
#define VAULT_MAX_READERS    254
#define VAULT__SNAPS         8 /* read snapshots a reader process checks at once */

struct vault__lmdb_snap;

/* Named LMDB databases (FORMAT.md §2). */
enum vault__db {
	DB_META,        /* string key -> value */
	DB_LEAVES,      /* u64be seq -> leaf (91 bytes) || leaf hash (32) */
	DB_PAYLOADS,    /* u64be seq -> payload bytes (absent when pruned) */
	DB_NODES,       /* u64be post-order position -> interior node hash (level >= 1) */
	DB_DEDUP,       /* client || 0x00 || request -> u64be seq */
	DB_CHECKPOINTS, /* u64be tree size -> signed note text */
	DB_BLOBS,       /* sha256 -> u64be size || u64be blob id || u32be chunk count */
	DB_CHUNKS,      /* u64be blob id || u32be chunk index -> bytes */
	DB_STAGING,     /* u64be blob id -> empty (blobs being written) */
	DB_TYPES,       /* u16be type || u64be seq -> empty, for every type but record */
	DB_COSIGS,      /* u64be tree size || key id || name -> pubkey || signature line */
	DB_SUBJECTS,    /* subject || 0x00 || u64be seq -> empty */
	DB_MODELS,      /* model_id@version || 0x00 || u64be seq -> empty (records, models) */
	_DB_MAX,
};

struct vault__hasher {
	EVP_MD_CTX *ctx;
	const EVP_MD *md;
};

struct vault {
	MDB_env *env;
	MDB_dbi dbi[_DB_MAX];
	char *dir;
	unsigned flags;
	/* DIR/writer.lock: a writer holds it exclusively while open; a reader that found no
	 * writer running holds it shared while it has a transaction open (FORMAT.md §1). -1 when
	 * not open (a reader of a live vault, or of a folder without the file). */
	int lock_fd;
	/* Readers: no writer was running at open, so LMDB runs with MDB_NOLOCK and never touches
	 * lock.mdb. When a writer starts meanwhile, the environment is reopened with LMDB's locks
	 * (vault__txn_begin), and env_err keeps why when that fails (env is then NULL). */
	bool nolock;
	int env_err;
	bool mirror; /* meta `mirror`: the origin's entries, no signing key (FORMAT.md §10) */
	vault_dedup_key_fn mirror_dedup_key; /* vault_options.mirror_dedup_key */
	void *mirror_dedup_userdata;
	bool no_cosigs;       /* a reader of a vault without the cosigs database (older writer) */
	bool no_subjects;     /* ... without the subjects database */
	bool no_models;       /* ... without the models database (format 1) */
	bool models_complete; /* meta model_index is "complete": vault_model_next may answer */
	vault_model_key_fn model_key; /* writers: vault_options.model_key */
	void *model_userdata;
	uint8_t leaf_version; /* writers: the leaf version of new entries (1 or 2) */
	/* Writers: nonces of v2 leaves drawn from OpenSSL's CSPRNG 256 at a time (one RAND_bytes
	 * call costs a getpid system call: a tenth of an append on a VM); nonce_used bytes of the
	 * pool are spent (and wiped). */
	uint8_t nonce_pool[256 * VAULT_NONCE_LEN];
	size_t nonce_used;
	/* Readers: LMDB trusts data.mdb, so each read transaction's snapshot is checked as it is
	 * read (lmdbcheck.h): the pages an operation reaches, just before LMDB reaches them
	 * (vault__get, vault__cursor_get). The checks of the snapshots of open transactions, by
	 * transaction id, under check_mutex; damage: the last problem found. */
	bool check;
	int data_fd; /* data.mdb, read-only; -1 for writers */
	pthread_mutex_t check_mutex;
	struct vault__lmdb_snap *snaps[VAULT__SNAPS];
	unsigned snap_refs[VAULT__SNAPS];
	char damage[256];
	pthread_mutex_t rlock_mutex;
	unsigned rlock_txns; /* read transactions open under the shared lock of writer.lock */
	uint64_t map_size;
	uint64_t map_max;
	uint64_t disk_reserve; /* free bytes a commit must leave on the filesystem */
	/* LMDB allows mdb_env_set_mapsize() only while no transaction is open in the process:
	 * every transaction holds this lock shared, a resize takes it exclusively. */
	pthread_rwlock_t map_lock;

	/* Writer state, valid when flags & VAULT_OPEN_WRITE. */
	uint64_t size;
	uint64_t last_ts;
	uint8_t last_leaf_hash[VAULT_HASH_LEN];
	uint8_t frontier[64][VAULT_HASH_LEN]; /* perfect subtrees of the right edge, by level */
	uint64_t next_blob_id;
	EVP_PKEY *sign_key;
	struct vault_pubkey pubkey;
	char origin[VAULT_ORIGIN_MAX + 1];
	struct vault__hasher hasher;
	EVP_MD *sha256; /* fetched once */
};

struct vault_reader {
	struct vault *v;
	MDB_txn *txn;
	uint64_t size;
};

/* errors.c. MDB_MAP_FULL becomes VAULT__EMAPFULL inside the library: write paths grow the map
 * and retry, and report -ENOSPC only when it cannot grow (the disk being full is -ENOSPC
 * already and is not retried). */
#define VAULT__EMAPFULL (-EFBIG)
int vault__err_from_mdb(int rc);

/* digest.c */
int vault__hasher_init(struct vault__hasher *h, const EVP_MD *md);
void vault__hasher_deinit(struct vault__hasher *h);
int vault__sha256(struct vault__hasher *h, const void *data, size_t len, uint8_t out[32]);
int vault__sha256_2(struct vault__hasher *h, const void *a, size_t alen, const void *b, size_t blen,
                    uint8_t out[32]);
int vault__hash_leaf(struct vault__hasher *h, const void *data, size_t len, uint8_t out[32]);
int vault__hash_children(struct vault__hasher *h, const uint8_t l[32], const uint8_t r[32],
                         uint8_t out[32]);
/* base64 (standard alphabet, padded). encode: returns output length (NUL-terminated);
 * decode: strict (canonical padding, no whitespace), returns decoded length or -EBADMSG. */
size_t vault__b64_encode(const uint8_t *in, size_t len, char *out);
ssize_t vault__b64_decode(const char *in, size_t len, uint8_t *out, size_t out_size);

/* leaf.c: prune payload; out needs 51 + strlen(reason) bytes (reason <= 1024 bytes). */
#define VAULT__PRUNE_MAX (51 + 1024)
size_t vault__prune_encode(uint64_t target, const uint8_t hash[32], uint64_t len,
                           const char *reason, uint8_t *out);

/* merkle.c: position of interior node (level >= 1, index) in post-order over all nodes. */
uint64_t vault__node_pos(unsigned level, uint64_t index);
/* Hash of the perfect subtree (level, index) read through txn. */
int vault__subtree(struct vault *v, MDB_txn *txn, struct vault__hasher *h, unsigned level,
                   uint64_t index, uint8_t out[32]);
/* MTH of leaves [start, end) (RFC 6962), start aligned as the recursion produces. */
int vault__range_hash(struct vault *v, MDB_txn *txn, struct vault__hasher *h, uint64_t start,
                      uint64_t end, uint8_t out[32]);
/* Root from a frontier of perfect subtrees for size. */
int vault__frontier_root(struct vault__hasher *h, uint8_t frontier[64][32], uint64_t size,
                         uint8_t out[32]);

/* append.c: what a write transaction changes in the writer's memory; installed (head_store)
 * only after its commit. */
struct vault__head {
	uint64_t size;
	uint64_t last_ts;
	uint8_t last_leaf_hash[32];
	uint8_t frontier[64][32];
};
void vault__head_load(const struct vault *v, struct vault__head *h);
void vault__head_store(struct vault *v, const struct vault__head *h);
/* Stores one entry whose leaf is made (leaf->seq == h->size) inside txn: the leaf and its
 * hash, the payload (nonce || payload for a nonce; nothing when payload is NULL), the subject
 * index, the Merkle nodes it completes and the type index; advances h and fills res. The one
 * function that writes an entry: vault_append's and vault_mirror_append's. */
int vault__put_entry(struct vault *v, MDB_txn *txn, struct vault__head *h,
                     const struct vault_leaf *leaf, const uint8_t *nonce, const void *payload,
                     size_t len, const char *subject, struct vault_append_result *res);
/* The model index's key of entry seq (FORMAT.md §2: MODEL || 0x00 || u64be seq) into out, as
 * fn (an application's vault_model_key_fn) names the entry's model. Returns the key's length,
 * or 0 when the entry names none (another type, no model, a payload fn cannot read). */
size_t vault__model_index_key(vault_model_key_fn fn, void *userdata, uint16_t type,
                              const uint8_t *payload, size_t len, uint64_t seq,
                              uint8_t out[VAULT_MODEL_MAX + 1 + 8]);
/* Indexes entry seq of type by its model (v->model_key) when it has one. Returns 0 or an LMDB
 * error as a negative errno. */
int vault__model_put(struct vault *v, MDB_txn *txn, uint16_t type, const void *payload, size_t len,
                     uint64_t seq);
/* Replaces DIR/checkpoint atomically and durably (write, fsync, rename, fsync folder). */
int vault__write_checkpoint_file(struct vault *v, const char *note);

/* read.c */
int vault__blob_meta(struct vault_reader *r, const uint8_t hash[32], uint64_t *ret_size,
                     uint64_t *ret_id, uint32_t *ret_chunks);

/* cosig.c: note (the stored checkpoint d) with every stored cosignature of tree size `size`
 * appended, malloc'd and NUL-terminated into *ret. */
int vault__note_with_cosigs(struct vault_reader *r, uint64_t size, const MDB_val *d, char **ret);

/* note.c */
int vault__key_load_or_create(const char *path, bool create, EVP_PKEY **ret);
int vault__pubkey_from_pkey(EVP_PKEY *pkey, const char *name, struct vault_pubkey *ret);
int vault__note_sign(EVP_PKEY *pkey, const struct vault_pubkey *pub, const char *body,
                     size_t body_len, char **ret_note);
/* The key id of c2sp.org/signed-note: SHA-256(name || '\n' || type || key)[:4]. */
int vault__key_id(const char *name, uint8_t type, const uint8_t key[32], uint8_t ret[4]);
/* A key's signature type; 0 (a zero-initialised key) is VAULT_KEY_ED25519. */
uint8_t vault__key_type(const struct vault_pubkey *key);

/* env.c */
int vault__txn_begin(struct vault *v, bool write, MDB_txn **ret);
void vault__txn_abort(struct vault *v, MDB_txn *txn); /* takes NULL */
int vault__txn_commit(struct vault *v, MDB_txn *txn);
int vault__grow_map(struct vault *v);
/* The dedup database's key: client ‖ 0x00 ‖ request (FORMAT.md §2), into out (at least
 * VAULT_DEDUP_KEY_MAX + 1 bytes; NULL: only measure). Returns its length, or -EINVAL when it
 * would exceed VAULT_DEDUP_KEY_MAX. */
ssize_t vault__dedup_key(const char *client, const char *request, uint8_t *out);
/* True when the vault's filesystem has less than reserve + need bytes free. Unknown (statvfs
 * failed): false. */
bool vault__disk_short(struct vault *v, uint64_t reserve, uint64_t need);
int vault__leaf_get(struct vault *v, MDB_txn *txn, uint64_t seq, struct vault_leaf *ret_leaf,
                    uint8_t ret_hash[32]);
/* Every read of a reader goes through these two instead of mdb_get and mdb_cursor_get: they
 * check the pages LMDB is about to reach first (FORMAT.md §1).
 * Return LMDB's result, or a negative errno (-EUCLEAN: damage, named by vault_damage_detail)
 * that vault__err_from_mdb passes on. Writers' reads go straight to LMDB. */
int vault__get(struct vault *v, MDB_txn *txn, enum vault__db db, MDB_val *k, MDB_val *d);
int vault__cursor_get(struct vault *v, MDB_cursor *c, MDB_val *k, MDB_val *d, MDB_cursor_op op);
/* A reader that reads everything (verify) checks every page of its snapshot at once: one walk
 * instead of a check before each read, its databases on up to `threads` threads. Returns 0 or
 * as vault__get (-EAGAIN: no thread could be started). */
int vault__check_all(struct vault *v, MDB_txn *txn, unsigned threads);

static inline void vault__be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t vault__rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void vault__be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t vault__rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define VAULT__CLEANUP(f) __attribute__((cleanup(f)))
