/* SPDX-License-Identifier: Apache-2.0 */
/* Opening and closing a vault, LMDB environment and transaction lifecycle, map growth. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_MAP_SIZE (1ull << 30) /* 1 GiB: address space only; the file grows as used */
#define DEFAULT_MAP_MAX  (1ull << 40) /* 1 TiB */
#define RESIZE_WAIT_SEC  30

static const char *const db_names[_DB_MAX] = {
    [DB_META] = "meta",   [DB_LEAVES] = "leaves", [DB_PAYLOADS] = "payloads",
    [DB_NODES] = "nodes", [DB_DEDUP] = "dedup",   [DB_CHECKPOINTS] = "checkpoints",
    [DB_BLOBS] = "blobs", [DB_CHUNKS] = "chunks", [DB_STAGING] = "staging",
    [DB_TYPES] = "types",
};

/* ------------------------------------------------------------------ transactions */

int vault__txn_begin(struct vault *v, bool write, MDB_txn **ret)
{
	for (int attempt = 0;; attempt++) {
		int rc;

		if (pthread_rwlock_rdlock(&v->map_lock) != 0)
			return -EIO;
		rc = mdb_txn_begin(v->env, NULL, write ? 0 : MDB_RDONLY, ret);
		if (rc == 0)
			return 0;
		pthread_rwlock_unlock(&v->map_lock);
		if (rc != MDB_MAP_RESIZED || attempt > 3)
			return vault__err_from_mdb(rc);
		/* Another process grew the map: adopt its size while no txn is open here. */
		if (pthread_rwlock_wrlock(&v->map_lock) != 0)
			return -EIO;
		rc = mdb_env_set_mapsize(v->env, 0);
		if (rc == 0) {
			MDB_envinfo ei;
			mdb_env_info(v->env, &ei);
			v->map_size = ei.me_mapsize;
		}
		pthread_rwlock_unlock(&v->map_lock);
		if (rc)
			return vault__err_from_mdb(rc);
	}
}

void vault__txn_abort(struct vault *v, MDB_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&v->map_lock);
}

int vault__txn_commit(struct vault *v, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);
	pthread_rwlock_unlock(&v->map_lock);
	/* LMDB reports a short write (what a full disk usually gives) as EIO: when the
	 * filesystem is out of room (under 1 MiB left) it was a full disk, not a failing one. */
	if (rc == EIO && vault__disk_short(v, 1u << 20, 0))
		return -ENOSPC;
	return vault__err_from_mdb(rc);
}

int vault__grow_map(struct vault *v)
{
	struct timespec until;
	uint64_t want;
	int rc;

	if (v->map_size >= v->map_max)
		return -ENOSPC;
	want = v->map_size > v->map_max / 2 ? v->map_max : v->map_size * 2;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += RESIZE_WAIT_SEC;
	/* Readers in other threads hold the lock shared for the length of one read; wait for
	 * them, but never forever: a resize that cannot happen is reported as a full vault. */
	if (pthread_rwlock_timedwrlock(&v->map_lock, &until) != 0)
		return -ENOSPC;
	rc = mdb_env_set_mapsize(v->env, (size_t)want);
	if (rc == 0)
		v->map_size = want;
	pthread_rwlock_unlock(&v->map_lock);
	return vault__err_from_mdb(rc);
}

int vault__leaf_get(struct vault *v, MDB_txn *txn, uint64_t seq, struct vault_leaf *ret_leaf,
                    uint8_t ret_hash[32])
{
	uint8_t key[8];
	MDB_val k = {8, key}, val;
	int rc;

	vault__be64(key, seq);
	rc = mdb_get(txn, v->dbi[DB_LEAVES], &k, &val);
	if (rc)
		return vault__err_from_mdb(rc);
	if (val.mv_size != VAULT_LEAF_LEN + 32)
		return -EBADMSG;
	if (ret_leaf && vault_leaf_decode(val.mv_data, VAULT_LEAF_LEN, ret_leaf) < 0)
		return -EBADMSG;
	if (ret_hash)
		memcpy(ret_hash, (const uint8_t *)val.mv_data + VAULT_LEAF_LEN, 32);
	return 0;
}

/* ------------------------------------------------------------------ meta helpers */

static int meta_get(struct vault *v, MDB_txn *txn, const char *key, MDB_val *ret)
{
	MDB_val k = {strlen(key), (void *)key};
	return vault__err_from_mdb(mdb_get(txn, v->dbi[DB_META], &k, ret));
}

static int meta_put(struct vault *v, MDB_txn *txn, const char *key, const void *val, size_t len)
{
	MDB_val k = {strlen(key), (void *)key}, d = {len, (void *)val};
	return vault__err_from_mdb(mdb_put(txn, v->dbi[DB_META], &k, &d, 0));
}

static int meta_get_str(struct vault *v, MDB_txn *txn, const char *key, char *buf, size_t size)
{
	MDB_val d;
	int rc = meta_get(v, txn, key, &d);
	if (rc < 0)
		return rc;
	if (d.mv_size >= size || memchr(d.mv_data, '\0', d.mv_size))
		return -EBADMSG;
	memcpy(buf, d.mv_data, d.mv_size);
	buf[d.mv_size] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ open */

static int open_dbis(struct vault *v, bool write)
{
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, write, &txn);
	if (rc < 0)
		return rc;
	for (int i = 0; i < _DB_MAX; i++) {
		rc = mdb_dbi_open(txn, db_names[i], write ? MDB_CREATE : 0, &v->dbi[i]);
		if (rc) {
			vault__txn_abort(v, txn);
			/* A reader that finds no such database: not a vault (or an empty LMDB). */
			return rc == MDB_NOTFOUND ? -EBADMSG : vault__err_from_mdb(rc);
		}
	}
	/* Committing (even a read txn) keeps the handles open for the environment. */
	return vault__txn_commit(v, txn);
}

static int generate_origin(char *buf, size_t size)
{
	uint8_t rnd[8];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	snprintf(buf, size, "evidentd.local/%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
	         rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	return 0;
}

static bool valid_origin(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VAULT_ORIGIN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == '+' || s[i] == 0x7f)
			return false;
	return true;
}

/* Checks or initialises the meta records; loads origin and the recorded verifier key. */
static int init_meta(struct vault *v, const struct vault_options *opts, bool write)
{
	char fmt[64], vkey[512];
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, write, &txn);
	if (rc < 0)
		return rc;
	rc = meta_get_str(v, txn, "format", fmt, sizeof(fmt));
	if (rc == -ENOENT && write) {
		char created[32];
		const char *origin = opts ? opts->origin : NULL;
		char gen[VAULT_ORIGIN_MAX + 1];

		if (!origin) {
			rc = generate_origin(gen, sizeof(gen));
			if (rc < 0)
				goto fail;
			origin = gen;
		}
		if (!valid_origin(origin)) {
			rc = -EINVAL;
			goto fail;
		}
		snprintf(fmt, sizeof(fmt), "%s %d", VAULT_FORMAT_TAG, VAULT_FORMAT_VERSION);
		snprintf(created, sizeof(created), "%lld", (long long)time(NULL));
		if ((rc = meta_put(v, txn, "format", fmt, strlen(fmt))) < 0 ||
		    (rc = meta_put(v, txn, "origin", origin, strlen(origin))) < 0 ||
		    (rc = meta_put(v, txn, "created", created, strlen(created))) < 0)
			goto fail;
	} else if (rc < 0) {
		if (rc == -ENOENT)
			rc = -EBADMSG;
		goto fail;
	} else {
		char want[64];
		snprintf(want, sizeof(want), "%s %d", VAULT_FORMAT_TAG, VAULT_FORMAT_VERSION);
		if (strcmp(fmt, want) != 0) {
			rc = -EBADMSG;
			goto fail;
		}
	}
	rc = meta_get_str(v, txn, "origin", v->origin, sizeof(v->origin));
	if (rc < 0)
		goto fail;

	rc = meta_get_str(v, txn, "vkey", vkey, sizeof(vkey));
	if (rc == 0) {
		struct vault_pubkey recorded;
		if (vault_pubkey_parse(vkey, strlen(vkey), NULL, &recorded) < 0) {
			rc = -EBADMSG;
			goto fail;
		}
		if (write) {
			struct vault_pubkey mine;
			rc = vault__pubkey_from_pkey(v->sign_key, v->origin, &mine);
			if (rc < 0)
				goto fail;
			if (memcmp(recorded.key, mine.key, 32) != 0 ||
			    strcmp(recorded.name, v->origin) != 0) {
				rc = -EKEYREJECTED;
				goto fail;
			}
		}
		v->pubkey = recorded;
	} else if (rc == -ENOENT && write) {
		/* First writer: record the verifier key, named after the origin. */
		rc = vault__pubkey_from_pkey(v->sign_key, v->origin, &v->pubkey);
		if (rc < 0)
			goto fail;
		rc = vault_pubkey_format(&v->pubkey, vkey, sizeof(vkey));
		if (rc < 0)
			goto fail;
		rc = meta_put(v, txn, "vkey", vkey, (size_t)rc);
		if (rc < 0)
			goto fail;
	} else if (rc != -ENOENT) {
		goto fail;
	}
	return write ? vault__txn_commit(v, txn) : (vault__txn_abort(v, txn), 0);
fail:
	vault__txn_abort(v, txn);
	return rc;
}

/* Rebuilds the writer's in-memory state (size, chain head, frontier) from the store, and drops
 * blobs whose upload never finished. */
static int load_writer_state(struct vault *v)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	uint64_t start = 0;
	int rc;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	rc = mdb_cursor_open(txn, v->dbi[DB_LEAVES], &cur);
	if (rc)
		goto mdb_fail;
	rc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
	if (rc == 0) {
		struct vault_leaf leaf;
		if (k.mv_size != 8 || d.mv_size != VAULT_LEAF_LEN + 32 ||
		    vault_leaf_decode(d.mv_data, VAULT_LEAF_LEN, &leaf) < 0) {
			rc = -EBADMSG;
			goto fail;
		}
		v->size = vault__rd64(k.mv_data) + 1;
		v->last_ts = leaf.timestamp_ns;
		memcpy(v->last_leaf_hash, (const uint8_t *)d.mv_data + VAULT_LEAF_LEN, 32);
	} else if (rc != MDB_NOTFOUND) {
		goto mdb_fail;
	}
	mdb_cursor_close(cur);
	cur = NULL;

	for (int lvl = 63; lvl >= 0; lvl--) {
		if (!(v->size >> lvl & 1))
			continue;
		rc = vault__subtree(v, txn, &v->hasher, (unsigned)lvl, start >> lvl,
		                    v->frontier[lvl]);
		if (rc < 0)
			goto fail;
		start += 1ull << lvl;
	}

	/* Blob ids: one past the largest used or staged. */
	for (int db = DB_CHUNKS; db <= DB_STAGING; db++) {
		rc = mdb_cursor_open(txn, v->dbi[db], &cur);
		if (rc)
			goto mdb_fail;
		rc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
		if (rc == 0 && k.mv_size >= 8) {
			uint64_t id = vault__rd64(k.mv_data) + 1;
			if (id > v->next_blob_id)
				v->next_blob_id = id;
		} else if (rc != 0 && rc != MDB_NOTFOUND) {
			goto mdb_fail;
		}
		mdb_cursor_close(cur);
		cur = NULL;
	}
	if (v->next_blob_id == 0)
		v->next_blob_id = 1;

	/* Staged blobs of a writer that died mid-upload. */
	rc = mdb_cursor_open(txn, v->dbi[DB_STAGING], &cur);
	if (rc)
		goto mdb_fail;
	while ((rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST)) == 0) {
		uint8_t ck[12];
		MDB_val key = {12, ck}, val;
		MDB_cursor *cc;
		if (k.mv_size != 8) {
			rc = -EBADMSG;
			goto fail;
		}
		memcpy(ck, k.mv_data, 8);
		vault__be32(ck + 8, 0);
		rc = mdb_cursor_open(txn, v->dbi[DB_CHUNKS], &cc);
		if (rc)
			goto mdb_fail;
		while ((rc = mdb_cursor_get(cc, &key, &val, MDB_SET_RANGE)) == 0 &&
		       key.mv_size == 12 && memcmp(key.mv_data, ck, 8) == 0) {
			rc = mdb_cursor_del(cc, 0);
			if (rc)
				break;
			key = (MDB_val){12, ck};
		}
		mdb_cursor_close(cc);
		if (rc && rc != MDB_NOTFOUND)
			goto mdb_fail;
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			goto mdb_fail;
	}
	if (rc != MDB_NOTFOUND)
		goto mdb_fail;
	mdb_cursor_close(cur);
	return vault__txn_commit(v, txn);

mdb_fail:
	rc = vault__err_from_mdb(rc);
fail:
	if (cur)
		mdb_cursor_close(cur);
	vault__txn_abort(v, txn);
	return rc;
}

static int path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int env_open(struct vault *v, bool write)
{
	unsigned base = MDB_NOTLS | (write ? 0 : MDB_RDONLY);
	int rc;

	rc = mdb_env_create(&v->env);
	if (rc)
		return vault__err_from_mdb(rc);
	if ((rc = mdb_env_set_maxdbs(v->env, VAULT_MAX_DBS)) ||
	    (rc = mdb_env_set_maxreaders(v->env, VAULT_MAX_READERS)) ||
	    (rc = mdb_env_set_mapsize(v->env, (size_t)v->map_size)))
		return vault__err_from_mdb(rc);
	rc = mdb_env_open(v->env, v->dir, base, 0640);
	if (rc && !write && (rc == EACCES || rc == EROFS)) {
		/* lock.mdb is not writable: a read-only copy. Read without locks. */
		mdb_env_close(v->env);
		v->env = NULL;
		rc = mdb_env_create(&v->env);
		if (rc)
			return vault__err_from_mdb(rc);
		if ((rc = mdb_env_set_maxdbs(v->env, VAULT_MAX_DBS)) ||
		    (rc = mdb_env_set_mapsize(v->env, (size_t)v->map_size)))
			return vault__err_from_mdb(rc);
		rc = mdb_env_open(v->env, v->dir, base | MDB_NOLOCK, 0640);
	}
	if (rc)
		return vault__err_from_mdb(rc);
	MDB_envinfo ei;
	mdb_env_info(v->env, &ei);
	v->map_size = ei.me_mapsize;
	return 0;
}

int vault_open(const char *dir, unsigned flags, const struct vault_options *opts,
               struct vault **ret)
{
	struct vault *v;
	char path[PATH_MAX];
	bool write = flags & VAULT_OPEN_WRITE;
	struct stat st;
	int rc;

	if (!dir || !ret || ((flags & VAULT_OPEN_CREATE) && !write))
		return -EINVAL;
	if (opts && opts->map_max && opts->map_size > opts->map_max)
		return -EINVAL;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->lock_fd = -1;
	v->flags = flags;
	v->map_size = opts && opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
	v->map_max = opts && opts->map_max ? opts->map_max : DEFAULT_MAP_MAX;
	v->disk_reserve = opts ? opts->disk_reserve : 0;
	if (v->map_size > v->map_max)
		v->map_size = v->map_max;
	if (pthread_rwlock_init(&v->map_lock, NULL) != 0) {
		free(v);
		return -ENOMEM;
	}
	v->dir = strdup(dir);
	if (!v->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!v->sha256) {
		rc = -EIO;
		goto fail;
	}
	rc = vault__hasher_init(&v->hasher, v->sha256);
	if (rc < 0)
		goto fail;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT || !(flags & VAULT_OPEN_CREATE)) {
			rc = -errno;
			goto fail;
		}
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			rc = -errno;
			goto fail;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		rc = -ENOTDIR;
		goto fail;
	}
	if ((rc = path_join(path, sizeof(path), dir, "data.mdb")) < 0)
		goto fail;
	if (access(path, F_OK) < 0 && !(flags & VAULT_OPEN_CREATE)) {
		rc = -errno;
		goto fail;
	}

	if (write) {
		if ((rc = path_join(path, sizeof(path), dir, "writer.lock")) < 0)
			goto fail;
		v->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
		if (v->lock_fd < 0) {
			rc = -errno;
			goto fail;
		}
		if (flock(v->lock_fd, LOCK_EX | LOCK_NB) < 0) {
			rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
			goto fail;
		}
		const char *kp = opts ? opts->key_path : NULL;
		if (!kp) {
			if ((rc = path_join(path, sizeof(path), dir, "signing.key")) < 0)
				goto fail;
			kp = path;
		}
		rc = vault__key_load_or_create(kp, true, &v->sign_key);
		if (rc < 0)
			goto fail;
	}

	rc = env_open(v, write);
	if (rc < 0)
		goto fail;
	rc = open_dbis(v, write);
	if (rc < 0)
		goto fail;
	rc = init_meta(v, opts, write);
	if (rc < 0)
		goto fail;
	if (write) {
		int dead;
		mdb_reader_check(v->env, &dead);
		rc = load_writer_state(v);
		if (rc < 0)
			goto fail;
	}
	*ret = v;
	return 0;
fail:
	vault_close(v);
	return rc;
}

void vault_close(struct vault *v)
{
	if (!v)
		return;
	if (v->env)
		mdb_env_close(v->env);
	if (v->lock_fd >= 0)
		close(v->lock_fd);
	EVP_PKEY_free(v->sign_key);
	vault__hasher_deinit(&v->hasher);
	EVP_MD_free(v->sha256);
	pthread_rwlock_destroy(&v->map_lock);
	free(v->dir);
	free(v);
}

const char *vault_dir(const struct vault *v)
{
	return v->dir;
}

int vault_maintain(struct vault *v)
{
	int dead = 0;

	if (!(v->flags & VAULT_OPEN_WRITE))
		return -EROFS;
	int rc = mdb_reader_check(v->env, &dead);
	return rc ? vault__err_from_mdb(rc) : dead;
}

int vault_info(struct vault *v, struct vault_info *ret)
{
	struct vault_info info = {0};
	struct vault_reader *r;
	MDB_cursor *cur;
	MDB_val k, d;
	MDB_envinfo ei;
	char path[PATH_MAX];
	struct stat st;
	int rc;

	rc = vault_reader_begin(v, &r);
	if (rc < 0)
		return rc;
	info.size = r->size;
	info.format_version = VAULT_FORMAT_VERSION;
	strcpy(info.origin, v->origin);
	info.key = v->pubkey;
	rc = vault_root(r, r->size, info.root);
	if (rc < 0)
		goto out;
	if (r->size > 0) {
		struct vault_leaf leaf;
		rc = vault__leaf_get(v, r->txn, r->size - 1, &leaf, info.last_leaf_hash);
		if (rc < 0)
			goto out;
		info.last_timestamp_ns = leaf.timestamp_ns;
	}
	rc = mdb_cursor_open(r->txn, v->dbi[DB_BLOBS], &cur);
	if (rc) {
		rc = vault__err_from_mdb(rc);
		goto out;
	}
	while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
		if (d.mv_size >= 8) {
			info.blob_count++;
			info.blob_bytes += vault__rd64(d.mv_data);
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		rc = vault__err_from_mdb(rc);
		goto out;
	}
	struct vault_checkpoint cp;
	rc = vault_checkpoint_latest(r, NULL, &cp);
	if (rc == 0) {
		info.has_checkpoint = true;
		info.checkpoint_size = cp.size;
	} else if (rc != -ENOENT) {
		goto out;
	}
	rc = 0;
	mdb_env_info(v->env, &ei);
	info.map_bytes = ei.me_mapsize;
	if (path_join(path, sizeof(path), v->dir, "data.mdb") == 0 && stat(path, &st) == 0)
		info.file_bytes = (uint64_t)st.st_size;
	*ret = info;
out:
	vault_reader_end(r);
	return rc;
}
