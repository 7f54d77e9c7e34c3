/* SPDX-License-Identifier: Apache-2.0 */
/* Opening and closing a vault, LMDB environment and transaction lifecycle, map growth. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evident/invariant.h"
#include "internal.h"
#include "lmdbcheck.h"

#define DEFAULT_MAP_SIZE    (1ull << 30) /* 1 GiB: address space only; the file grows as used */
#define DEFAULT_MAP_MAX     (1ull << 40) /* 1 TiB */
#define RESIZE_WAIT_SEC     30
/* A writer waits this long for readers of the stopped vault to end their transactions. */
#define WRITER_WAIT_MS      10000
#define WRITER_WAIT_STEP_MS 20

static const char *const db_names[_DB_MAX] = {
    [DB_META] = "meta",     [DB_LEAVES] = "leaves", [DB_PAYLOADS] = "payloads",
    [DB_NODES] = "nodes",   [DB_DEDUP] = "dedup",   [DB_CHECKPOINTS] = "checkpoints",
    [DB_BLOBS] = "blobs",   [DB_CHUNKS] = "chunks", [DB_STAGING] = "staging",
    [DB_TYPES] = "types",   [DB_COSIGS] = "cosigs", [DB_SUBJECTS] = "subjects",
    [DB_MODELS] = "models",
};

/* ------------------------------------------------------------------ reader locks */

static int path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Opens DIR/writer.lock for a shared lock. Returns the fd, -ENOENT when there is none (no
 * writer ever ran on this folder), or another negative errno. */
static int open_writer_lock_ro(const char *dir)
{
	char path[PATH_MAX];
	int fd, rc = path_join(path, sizeof(path), dir, "writer.lock");

	if (rc < 0)
		return rc;
	/* O_NONBLOCK: a FIFO in its place must not hang the reader */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* A reader of a vault no writer runs on (v->nolock) holds writer.lock shared while it has a
 * transaction open, so that no writer starts under it: LMDB does not know about it, and a
 * writer would reuse the pages it reads. Called with map_lock held shared. Returns 0, or
 * -EWOULDBLOCK when a writer holds the lock now. */
static int rlock_acquire(struct vault *v)
{
	int rc = 0;

	pthread_mutex_lock(&v->rlock_mutex);
	if (v->rlock_txns == 0) {
		if (v->lock_fd < 0) {
			/* No writer.lock at open: a writer may have created it since. */
			int fd = open_writer_lock_ro(v->dir);
			if (fd >= 0)
				v->lock_fd = fd;
			else if (fd != -ENOENT)
				rc = fd;
		}
		if (rc == 0 && v->lock_fd >= 0 && flock(v->lock_fd, LOCK_SH | LOCK_NB) < 0)
			rc = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
	}
	if (rc == 0)
		v->rlock_txns++;
	pthread_mutex_unlock(&v->rlock_mutex);
	return rc;
}

static void rlock_release(struct vault *v)
{
	pthread_mutex_lock(&v->rlock_mutex);
	if (v->rlock_txns > 0 && --v->rlock_txns == 0 && v->lock_fd >= 0)
		flock(v->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&v->rlock_mutex);
}

static int env_open(struct vault *v, bool write, char *err, size_t err_size);
static int dbis_open(struct vault *v, MDB_txn *txn, bool write);

/* A writer started on the vault this reader opened without locks: from now on this reader
 * registers its transactions in lock.mdb, as LMDB requires next to a writer. No transaction of
 * this process is open (map_lock is taken exclusively), so the environment can be reopened.
 * Its structure is not checked again: what is new in it, the writer wrote. */
static int reader_relock(struct vault *v)
{
	MDB_txn *txn;
	int rc = 0;

	if (pthread_rwlock_wrlock(&v->map_lock) != 0)
		return -EIO;
	if (v->nolock && v->env) {
		mdb_env_close(v->env);
		v->env = NULL;
		v->nolock = false;
		if (v->lock_fd >= 0)
			close(v->lock_fd);
		v->lock_fd = -1;
		rc = env_open(v, false, NULL, 0);
		if (rc == 0) {
			rc = mdb_txn_begin(v->env, NULL, MDB_RDONLY, &txn);
			if (rc == 0) {
				rc = dbis_open(v, txn, false);
				/* committed, even read-only, so that the handles stay open */
				if (rc == 0)
					rc = vault__err_from_mdb(mdb_txn_commit(txn));
				else
					mdb_txn_abort(txn);
			} else {
				rc = vault__err_from_mdb(rc);
			}
		}
		if (rc < 0) {
			if (v->env)
				mdb_env_close(v->env);
			v->env = NULL;
			v->env_err = rc;
		}
	}
	pthread_rwlock_unlock(&v->map_lock);
	return rc;
}

/* ------------------------------------------------------------------ checked snapshots */

static int check_metas(struct vault *v, int data_fd, struct vault__lmdb_metas *ret, char *err,
                       size_t err_size);

/* A reader's transaction txn begins: find or open the check of its snapshot (lmdbcheck.h),
 * from the meta page it uses. Called with map_lock held shared. Returns 0; -ESTALE when a live
 * writer replaced that meta page already (begin again); -EUCLEAN (v->damage says where);
 * -EAGAIN when VAULT__SNAPS snapshots are in use. */
static int snap_attach(struct vault *v, MDB_txn *txn)
{
	uint64_t id = mdb_txn_id(txn);
	struct vault__lmdb_metas m;
	struct vault__lmdb_snap *s;
	unsigned meta, slot = VAULT__SNAPS;
	int rc;

	pthread_mutex_lock(&v->check_mutex);
	for (unsigned i = 0; i < VAULT__SNAPS; i++) {
		if (v->snaps[i] && vault__lmdb_snap_txnid(v->snaps[i]) == id) {
			v->snap_refs[i]++;
			pthread_mutex_unlock(&v->check_mutex);
			return 0;
		}
		/* an empty slot, else one no transaction uses */
		if (!v->snaps[i] ? slot == VAULT__SNAPS || v->snaps[slot]
		                 : slot == VAULT__SNAPS && !v->snap_refs[i])
			slot = i;
	}
	rc = slot == VAULT__SNAPS ? -EAGAIN
	                          : check_metas(v, v->data_fd, &m, v->damage, sizeof(v->damage));
	if (rc == 0) {
		/* LMDB's choice: with locks the transaction id's parity (the lock file holds the
		 * id); without, the newer meta page (the first on a tie). */
		meta = v->nolock ? m.txnid[0] < m.txnid[1] : (unsigned)(id & 1);
		rc = m.txnid[meta] != id ? -ESTALE
		                         : vault__lmdb_snap_open(v->data_fd, &m, meta, id, &s,
		                                                 v->damage, sizeof(v->damage));
	}
	if (rc == 0) {
		vault__lmdb_snap_free(v->snaps[slot]);
		v->snaps[slot] = s;
		v->snap_refs[slot] = 1;
	}
	pthread_mutex_unlock(&v->check_mutex);
	return rc;
}

/* The snapshot of txnid, with check_mutex held; NULL when none is open. */
static struct vault__lmdb_snap *snap_find(struct vault *v, uint64_t id, unsigned *ret_slot)
{
	for (unsigned i = 0; i < VAULT__SNAPS; i++)
		if (v->snaps[i] && vault__lmdb_snap_txnid(v->snaps[i]) == id) {
			if (ret_slot)
				*ret_slot = i;
			return v->snaps[i];
		}
	return NULL;
}

static void snap_detach(struct vault *v, MDB_txn *txn)
{
	unsigned slot;

	if (!v->check)
		return;
	pthread_mutex_lock(&v->check_mutex);
	if (snap_find(v, mdb_txn_id(txn), &slot) && v->snap_refs[slot])
		v->snap_refs[slot]--;
	pthread_mutex_unlock(&v->check_mutex);
}

static int snap_check(struct vault *v, MDB_txn *txn, enum vault__db db, enum vault__lmdb_op op,
                      const MDB_val *k)
{
	struct vault__lmdb_snap *s;
	int rc;

	pthread_mutex_lock(&v->check_mutex);
	s = snap_find(v, mdb_txn_id(txn), NULL);
	/* every reader transaction has one (vault__txn_begin) */
	INVARIANT(s != NULL);
	rc = vault__lmdb_snap_check(s, db_names[db], op, k ? k->mv_data : NULL, k ? k->mv_size : 0,
	                            v->damage, sizeof(v->damage));
	pthread_mutex_unlock(&v->check_mutex);
	return rc;
}

int vault__get(struct vault *v, MDB_txn *txn, enum vault__db db, MDB_val *k, MDB_val *d)
{
	if (v->check) {
		int rc = snap_check(v, txn, db, VAULT__LMDB_KEY, k);
		if (rc < 0)
			return rc;
	}
	return mdb_get(txn, v->dbi[db], k, d);
}

int vault__cursor_get(struct vault *v, MDB_cursor *c, MDB_val *k, MDB_val *d, MDB_cursor_op op)
{
	if (v->check && op != MDB_GET_CURRENT) {
		MDB_val ck, cd, *key = k;
		MDB_dbi dbi = mdb_cursor_dbi(c);
		enum vault__lmdb_op o;
		int db = 0, rc;

		while (db < _DB_MAX && v->dbi[db] != dbi)
			db++;
		if (db == _DB_MAX)
			return -EINVAL;
		switch (op) {
		case MDB_SET:
		case MDB_SET_KEY:
			o = VAULT__LMDB_KEY;
			break;
		case MDB_SET_RANGE:
			o = VAULT__LMDB_RANGE;
			break;
		case MDB_FIRST:
			o = VAULT__LMDB_FIRST;
			break;
		case MDB_LAST:
			o = VAULT__LMDB_LAST;
			break;
		case MDB_NEXT:
		case MDB_PREV:
			/* from the cursor's key (its leaf is checked); unpositioned: first or last
			 */
			if (mdb_cursor_get(c, &ck, &cd, MDB_GET_CURRENT) == 0) {
				o = op == MDB_NEXT ? VAULT__LMDB_NEXT : VAULT__LMDB_PREV;
				key = &ck;
			} else {
				o = op == MDB_NEXT ? VAULT__LMDB_FIRST : VAULT__LMDB_LAST;
			}
			break;
		default:
			return -EINVAL; /* the vault uses no other operation on a reader */
		}
		/* FIRST and LAST read no key (the caller's may be unset) */
		if (o == VAULT__LMDB_FIRST || o == VAULT__LMDB_LAST)
			key = NULL;
		rc = snap_check(v, mdb_cursor_txn(c), (enum vault__db)db, o, key);
		if (rc < 0)
			return rc;
	}
	return mdb_cursor_get(c, k, d, op);
}

int vault__check_all(struct vault *v, MDB_txn *txn, unsigned threads)
{
	struct vault__lmdb_snap *s;
	int rc;

	if (!v->check)
		return 0;
	pthread_mutex_lock(&v->check_mutex);
	s = snap_find(v, mdb_txn_id(txn), NULL);
	INVARIANT(s != NULL);
	rc = vault__lmdb_snap_check_all(s, threads, v->damage, sizeof(v->damage));
	pthread_mutex_unlock(&v->check_mutex);
	return rc;
}

int vault_damage_detail(struct vault *v, char *buf, size_t size)
{
	int n = 0;

	if (!buf || !size)
		return 0;
	buf[0] = '\0';
	pthread_mutex_lock(&v->check_mutex);
	if (v->damage[0])
		n = snprintf(buf, size, "data.mdb: %s", v->damage);
	pthread_mutex_unlock(&v->check_mutex);
	return n < 0 ? 0 : n;
}

/* ------------------------------------------------------------------ transactions */

int vault__txn_begin(struct vault *v, bool write, MDB_txn **ret)
{
	for (int attempt = 0;; attempt++) {
		int rc;

		if (pthread_rwlock_rdlock(&v->map_lock) != 0)
			return -EIO;
		if (!v->env) {
			pthread_rwlock_unlock(&v->map_lock);
			return v->env_err ? v->env_err : -EIO;
		}
		if (v->nolock) {
			rc = rlock_acquire(v);
			if (rc < 0) {
				pthread_rwlock_unlock(&v->map_lock);
				if (rc != -EWOULDBLOCK || attempt > 3)
					return rc == -EWOULDBLOCK ? -EAGAIN : rc;
				rc = reader_relock(v);
				if (rc < 0)
					return rc;
				continue;
			}
		}
		rc = mdb_txn_begin(v->env, NULL, write ? 0 : MDB_RDONLY, ret);
		if (rc == 0 && v->check) {
			rc = snap_attach(v, *ret);
			if (rc == 0)
				return 0;
			mdb_txn_abort(*ret);
			if (v->nolock)
				rlock_release(v);
			pthread_rwlock_unlock(&v->map_lock);
			/* A live writer committed twice in between: a newer snapshot. */
			if (rc != -ESTALE || attempt > 20)
				return rc == -ESTALE ? -EAGAIN : rc;
			continue;
		}
		if (rc == 0)
			return 0;
		if (v->nolock)
			rlock_release(v);
		pthread_rwlock_unlock(&v->map_lock);
		if (rc != MDB_MAP_RESIZED || attempt > 3)
			return vault__err_from_mdb(rc);
		/* Another process grew the map: adopt its size while no txn is open here. */
		if (pthread_rwlock_wrlock(&v->map_lock) != 0)
			return -EIO;
		rc = v->env ? mdb_env_set_mapsize(v->env, 0) : 0;
		if (rc == 0 && v->env) {
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
	snap_detach(v, txn);
	mdb_txn_abort(txn);
	if (v->nolock)
		rlock_release(v);
	pthread_rwlock_unlock(&v->map_lock);
}

int vault__txn_commit(struct vault *v, MDB_txn *txn)
{
	int rc;

	snap_detach(v, txn);
	rc = mdb_txn_commit(txn);
	if (v->nolock)
		rlock_release(v);
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
	rc = vault__get(v, txn, DB_LEAVES, &k, &val);
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
	return vault__err_from_mdb(vault__get(v, txn, DB_META, &k, ret));
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

static int dbis_open(struct vault *v, MDB_txn *txn, bool write)
{
	for (int i = 0; i < _DB_MAX; i++) {
		int rc = mdb_dbi_open(txn, db_names[i], write ? MDB_CREATE : 0, &v->dbi[i]);
		/* Cosignatures and subjects came with format 1's second release: a reader of a
		 * vault no writer of that release opened yet sees none. */
		if (rc == MDB_NOTFOUND && i == DB_COSIGS) {
			v->no_cosigs = true;
			continue;
		}
		if (rc == MDB_NOTFOUND && i == DB_SUBJECTS) {
			v->no_subjects = true;
			continue;
		}
		if (rc == MDB_NOTFOUND && i == DB_MODELS) {
			v->no_models = true; /* format 1 */
			continue;
		}
		if (rc)
			/* A reader that finds no such database: not a vault (or an empty LMDB). */
			return rc == MDB_NOTFOUND ? -EBADMSG : vault__err_from_mdb(rc);
	}
	return 0;
}

/* Readers: the transaction's snapshot is checked as it is read (vault__txn_begin checks its
 * main database, which mdb_dbi_open reads). */
static int open_dbis(struct vault *v, bool write, char *err, size_t err_size)
{
	MDB_txn *txn;
	int rc;

	rc = vault__txn_begin(v, write, &txn);
	if (rc == 0 && (rc = dbis_open(v, txn, write)) < 0)
		vault__txn_abort(v, txn); /* a database's record refused by the page check, say */
	if (rc < 0) {
		if (rc == -EUCLEAN && err && err_size)
			snprintf(err, err_size, "%s", v->damage);
		return rc;
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

/* A mirror's meta records (FORMAT.md §10): `mirror` = "yes", and the origin and verifier key
 * given at creation, which every later open must give again. Called by init_meta once the
 * format is known; existing: the vault was there before this open. */
static int init_mirror_meta(struct vault *v, MDB_txn *txn, const struct vault_options *opts,
                            bool write, bool existing, const char *key_path)
{
	bool mirror_open = v->flags & VAULT_OPEN_MIRROR;
	char mark[8];
	int rc = meta_get_str(v, txn, "mirror", mark, sizeof(mark));

	if (rc == 0)
		v->mirror = true;
	else if (rc != -ENOENT)
		return rc;
	if (write && existing && v->mirror != mirror_open)
		return -EPERM; /* a mirror is never opened as an origin, nor the reverse */
	if (write && !existing && mirror_open) {
		char vkey[512];
		int vlen = vault_pubkey_format(opts->mirror_key, vkey, sizeof(vkey));
		if (vlen < 0)
			return vlen;
		if ((rc = meta_put(v, txn, "mirror", "yes", 3)) < 0 ||
		    (rc = meta_put(v, txn, "vkey", vkey, (size_t)vlen)) < 0)
			return rc;
		v->mirror = true;
	}
	/* An origin's writer creates its signing key only once it knows the folder is no mirror */
	if (write && !mirror_open && !v->sign_key)
		return vault__key_load_or_create(key_path, true, &v->sign_key);
	return 0;
}

/* Checks or initialises the meta records; loads origin and the recorded verifier key. */
static int init_meta(struct vault *v, const struct vault_options *opts, bool write,
                     const char *key_path)
{
	char fmt[64], vkey[512];
	bool existing = true;
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

		existing = false;

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
		/* a new vault's model index is complete when every append maintains it */
		const char *mi = opts && opts->model_key ? "complete" : "0";
		if ((rc = meta_put(v, txn, "format", fmt, strlen(fmt))) < 0 ||
		    (rc = meta_put(v, txn, "model_index", mi, strlen(mi))) < 0 ||
		    (rc = meta_put(v, txn, "origin", origin, strlen(origin))) < 0 ||
		    (rc = meta_put(v, txn, "created", created, strlen(created))) < 0)
			goto fail;
	} else if (rc < 0) {
		if (rc == -ENOENT)
			rc = -EBADMSG;
		goto fail;
	} else {
		char want[64], old[64];
		/* format 1 lacks the models database: readers scan, a writer migrates */
		snprintf(want, sizeof(want), "%s %d", VAULT_FORMAT_TAG, VAULT_FORMAT_VERSION);
		snprintf(old, sizeof(old), "%s %d", VAULT_FORMAT_TAG, 1);
		if (strcmp(fmt, want) != 0 && strcmp(fmt, old) != 0) {
			rc = -EBADMSG;
			goto fail;
		}
	}
	{
		char mi[32];
		v->models_complete = !v->no_models &&
		                     meta_get_str(v, txn, "model_index", mi, sizeof(mi)) == 0 &&
		                     strcmp(mi, "complete") == 0;
	}
	rc = meta_get_str(v, txn, "origin", v->origin, sizeof(v->origin));
	if (rc < 0)
		goto fail;
	rc = init_mirror_meta(v, txn, opts, write, existing, key_path);
	if (rc < 0)
		goto fail;

	rc = meta_get_str(v, txn, "vkey", vkey, sizeof(vkey));
	if (rc == 0) {
		struct vault_pubkey recorded;
		if (vault_pubkey_parse(vkey, strlen(vkey), NULL, &recorded) < 0) {
			rc = -EBADMSG;
			goto fail;
		}
		if (write && v->mirror) {
			/* the origin and key this mirror was created for, and no other */
			const struct vault_pubkey *want = opts->mirror_key;
			if (strcmp(v->origin, opts->origin) != 0 ||
			    memcmp(recorded.key, want->key, 32) != 0 ||
			    strcmp(recorded.name, want->name) != 0) {
				rc = -EKEYREJECTED;
				goto fail;
			}
		} else if (write) {
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

/* Opens the LMDB environment: writers and readers of a live vault with LMDB's locks (a reader
 * registers in lock.mdb's reader table), readers of a vault no writer runs on with
 * MDB_NOLOCK (v->nolock: lock.mdb is neither created nor written). */
static int env_open(struct vault *v, bool write, char *err, size_t err_size)
{
	unsigned flags = MDB_NOTLS | (write ? 0 : MDB_RDONLY) | (v->nolock ? MDB_NOLOCK : 0);
	MDB_envinfo ei;
	int rc;

	rc = mdb_env_create(&v->env);
	if (rc)
		return vault__err_from_mdb(rc);
	if ((rc = mdb_env_set_maxdbs(v->env, VAULT_MAX_DBS)) ||
	    (rc = mdb_env_set_maxreaders(v->env, VAULT_MAX_READERS)) ||
	    (rc = mdb_env_set_mapsize(v->env, (size_t)v->map_size)))
		return vault__err_from_mdb(rc);
	rc = mdb_env_open(v->env, v->dir, flags, 0640);
	if (rc && !write && !v->nolock && (rc == EACCES || rc == EPERM || rc == EROFS)) {
		/* A writer runs, and LMDB cannot register this reader: reading without that
		 * would let the writer reuse pages under it. */
		if (err && err_size)
			snprintf(
			    err, err_size,
			    "lock.mdb: not writable by this user, and a writer is running (LMDB "
			    "registers readers there)");
		return -ENOLCK;
	}
	if (rc)
		return vault__err_from_mdb(rc);
	mdb_env_info(v->env, &ei);
	v->map_size = ei.me_mapsize;
	return 0;
}

/* One transaction of the model index's migration: indexes entries [from, to) (their payloads,
 * when not pruned), records meta model_index (to, or "complete" at the end) and the format. */
static int models_migrate_step(struct vault *v, uint64_t from, uint64_t to)
{
	char mark[32], fmt[64];
	MDB_txn *txn;
	int rc = vault__txn_begin(v, true, &txn);

	if (rc < 0)
		return rc;
	for (uint64_t seq = from; rc == 0 && seq < to; seq++) {
		struct vault_leaf leaf;
		uint8_t key[8];
		MDB_val k = {8, key}, d;

		rc = vault__leaf_get(v, txn, seq, &leaf, NULL);
		if (rc < 0 || (leaf.type != VAULT_ENTRY_RECORD && leaf.type != VAULT_ENTRY_MODEL))
			continue;
		vault__be64(key, seq);
		rc = mdb_get(txn, v->dbi[DB_PAYLOADS], &k, &d);
		if (rc == MDB_NOTFOUND) {
			rc = 0; /* pruned: its model can no longer be read */
			continue;
		}
		if (rc == 0 && leaf.version == 2 && d.mv_size < VAULT_NONCE_LEN)
			continue; /* malformed: verify reports it */
		if (rc == 0 && leaf.version == 2)
			rc = vault__model_put(v, txn, leaf.type,
			                      (uint8_t *)d.mv_data + VAULT_NONCE_LEN,
			                      d.mv_size - VAULT_NONCE_LEN, seq);
		else if (rc == 0)
			rc = vault__model_put(v, txn, leaf.type, d.mv_data, d.mv_size, seq);
		else
			rc = vault__err_from_mdb(rc);
	}
	if (to == v->size)
		snprintf(mark, sizeof(mark), "complete");
	else
		snprintf(mark, sizeof(mark), "%" PRIu64, to);
	snprintf(fmt, sizeof(fmt), "%s %d", VAULT_FORMAT_TAG, VAULT_FORMAT_VERSION);
	if (rc == 0 && (rc = meta_put(v, txn, "model_index", mark, strlen(mark))) == 0)
		rc = meta_put(v, txn, "format", fmt, strlen(fmt));
	if (rc < 0) {
		vault__txn_abort(v, txn);
		return rc;
	}
	return vault__txn_commit(v, txn);
}

/* Writers: brings the model index up to date (FORMAT.md §2). meta model_index is "complete"
 * when every entry is indexed, else N: entries below N are (a vault of format 1 has none:
 * N = 0). With a model_key, entries [N, size) are indexed in transactions of
 * VAULT_MODEL_BATCH entries, each recording how far it got (a crash resumes there); without
 * one, appends are not indexed, so a complete index becomes N = size. */
static int models_migrate(struct vault *v)
{
	char mark[32];
	uint64_t from = 0;
	MDB_txn *txn;
	int rc = vault__txn_begin(v, false, &txn);

	if (rc < 0)
		return rc;
	rc = meta_get_str(v, txn, "model_index", mark, sizeof(mark));
	vault__txn_abort(v, txn);
	if (rc == 0 && strcmp(mark, "complete") == 0) {
		if (v->model_key)
			return 0;
		snprintf(mark, sizeof(mark), "%" PRIu64, v->size);
		for (;;) {
			rc = vault__txn_begin(v, true, &txn);
			if (rc < 0)
				return rc;
			rc = meta_put(v, txn, "model_index", mark, strlen(mark));
			rc = rc < 0 ? (vault__txn_abort(v, txn), rc) : vault__txn_commit(v, txn);
			if (rc != VAULT__EMAPFULL || (rc = vault__grow_map(v)) < 0)
				break;
		}
		v->models_complete = false;
		return rc;
	}
	if (rc == 0) {
		char *end;
		errno = 0;
		from = strtoull(mark, &end, 10);
		if (*end || errno || from > v->size)
			from = 0; /* unreadable: index everything again (puts are idempotent) */
	} else if (rc != -ENOENT) {
		return rc;
	}
	if (!v->model_key)
		return 0;
	do {
		uint64_t to =
		    v->size - from > VAULT_MODEL_BATCH ? from + VAULT_MODEL_BATCH : v->size;
		rc = models_migrate_step(v, from, to);
		if (rc == VAULT__EMAPFULL) {
			rc = vault__grow_map(v);
			continue;
		}
		from = to;
	} while (rc == 0 && from < v->size);
	v->models_complete = rc == 0;
	return rc;
}

/* Takes DIR/writer.lock exclusively. Readers of a stopped vault hold it shared for the length
 * of a transaction: wait for them, up to WRITER_WAIT_MS. */
static int writer_lock(struct vault *v)
{
	char path[PATH_MAX];
	int rc = path_join(path, sizeof(path), v->dir, "writer.lock");

	if (rc < 0)
		return rc;
	v->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (v->lock_fd < 0)
		return -errno;
	for (unsigned waited = 0;; waited += WRITER_WAIT_STEP_MS) {
		struct timespec step = {0, WRITER_WAIT_STEP_MS * 1000000L};
		bool shared;
		int probe;

		if (flock(v->lock_fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		/* Shared holders are readers, an exclusive one another writer. */
		probe = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (probe < 0)
			return -errno;
		shared = flock(probe, LOCK_SH | LOCK_NB) == 0;
		close(probe);
		if (!shared)
			return -EBUSY;
		if (waited >= WRITER_WAIT_MS)
			return -EAGAIN;
		nanosleep(&step, NULL);
	}
}

/* Readers: is a writer running (writer.lock held exclusively)? When none is, hold the lock
 * shared for the rest of the open (v->rlock_txns counts it) and read without LMDB's locks. */
static int reader_mode(struct vault *v, char *err, size_t err_size)
{
	int fd = open_writer_lock_ro(v->dir);

	if (fd == -ENOENT) {
		v->nolock = true; /* no writer ever ran here */
		v->rlock_txns = 1;
		return 0;
	}
	if (fd < 0) {
		if (err && err_size)
			snprintf(err, err_size, "writer.lock: %s", strerror(-fd));
		return fd;
	}
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		v->lock_fd = fd;
		v->nolock = true;
		v->rlock_txns = 1;
		return 0;
	}
	int e = errno;
	close(fd);
	if (e != EWOULDBLOCK)
		return -e;
	v->nolock = false; /* a writer runs */
	return 0;
}

/* Readers: the meta pages before LMDB reads them. A live writer may be writing one as it is
 * read: a failure is believed after a few tries only. */
static int check_metas(struct vault *v, int data_fd, struct vault__lmdb_metas *ret, char *err,
                       size_t err_size)
{
	int rc;

	for (int attempt = 0;; attempt++) {
		struct timespec pause = {0, 20 * 1000000L};
		rc = vault__lmdb_check_metas(data_fd, ret, err, err_size);
		if (rc != -EUCLEAN || v->nolock || attempt >= 4)
			return rc;
		nanosleep(&pause, NULL);
	}
}

int vault_open(const char *dir, unsigned flags, const struct vault_options *opts,
               struct vault **ret)
{
	return vault_open_detail(dir, flags, opts, ret, NULL, 0);
}

int vault_open_detail(const char *dir, unsigned flags, const struct vault_options *opts,
                      struct vault **ret, char *err, size_t err_size)
{
	struct vault *v;
	char path[PATH_MAX], key_path[PATH_MAX] = "", detail[256] = "";
	bool write = flags & VAULT_OPEN_WRITE, in_data = false;
	int data_fd = -1;
	struct stat st;
	int rc;

	if (err && err_size)
		err[0] = '\0';

	if (!dir || !ret || ((flags & VAULT_OPEN_CREATE) && !write))
		return -EINVAL;
	if (opts && opts->map_max && opts->map_size > opts->map_max)
		return -EINVAL;
	if (opts && opts->leaf_version > VAULT_LEAF_VERSION)
		return -EINVAL;
	/* a mirror: a writer given the origin and its Ed25519 log key, named after the origin */
	if ((flags & VAULT_OPEN_MIRROR) &&
	    (!write || !opts || !opts->origin || !opts->mirror_key ||
	     strcmp(opts->mirror_key->name, opts->origin) != 0 ||
	     (opts->mirror_key->type != 0 && opts->mirror_key->type != VAULT_KEY_ED25519)))
		return -EINVAL;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->lock_fd = -1;
	v->flags = flags;
	v->map_size = opts && opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
	v->map_max = opts && opts->map_max ? opts->map_max : DEFAULT_MAP_MAX;
	v->disk_reserve = opts ? opts->disk_reserve : 0;
	v->leaf_version = opts && opts->leaf_version ? opts->leaf_version : VAULT_LEAF_VERSION;
	v->model_key = opts && write ? opts->model_key : NULL;
	v->model_userdata = opts ? opts->model_userdata : NULL;
	v->mirror_dedup_key = opts ? opts->mirror_dedup_key : NULL;
	v->mirror_dedup_userdata = opts ? opts->mirror_dedup_userdata : NULL;
	if (v->map_size > v->map_max)
		v->map_size = v->map_max;
	if (pthread_rwlock_init(&v->map_lock, NULL) != 0) {
		free(v);
		return -ENOMEM;
	}
	v->data_fd = -1;
	if (pthread_mutex_init(&v->check_mutex, NULL) != 0) {
		pthread_rwlock_destroy(&v->map_lock);
		free(v);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&v->rlock_mutex, NULL) != 0) {
		pthread_mutex_destroy(&v->check_mutex);
		pthread_rwlock_destroy(&v->map_lock);
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
		rc = writer_lock(v);
		if (rc < 0)
			goto fail;
		const char *kp = opts ? opts->key_path : NULL;
		if (!kp) {
			if ((rc = path_join(path, sizeof(path), dir, "signing.key")) < 0)
				goto fail;
			kp = path;
		}
		if (strlen(kp) >= sizeof(key_path)) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		strcpy(key_path, kp);
		/* created in init_meta, once the folder is known to be no mirror's */
		rc = flags & VAULT_OPEN_MIRROR ? 0
		                               : vault__key_load_or_create(kp, false, &v->sign_key);
		if (rc < 0 && rc != -ENOENT)
			goto fail;
	}

	if (!write) {
		/* LMDB trusts data.mdb: check what it will read before it reads it. */
		data_fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (data_fd < 0) {
			rc = -errno;
			goto fail;
		}
		if (fstat(data_fd, &st) < 0) {
			rc = -errno;
			goto fail;
		}
		if (!S_ISREG(st.st_mode)) {
			/* a FIFO or device would hang or feed LMDB endless bytes */
			rc = S_ISDIR(st.st_mode) ? -EISDIR : -EBADMSG;
			goto fail;
		}
		rc = reader_mode(v, detail, sizeof(detail));
		if (rc < 0)
			goto fail;
		struct vault__lmdb_metas m;
		rc = check_metas(v, data_fd, &m, detail, sizeof(detail));
		if (rc < 0)
			goto fail_data;
	}
	rc = env_open(v, write, detail, sizeof(detail));
	if (rc < 0)
		goto fail;
	v->data_fd = data_fd;
	v->check = !write;
	data_fd = -1; /* v's now */
	rc = open_dbis(v, write, detail, sizeof(detail));
	if (rc < 0)
		goto fail_data;
	rc = init_meta(v, opts, write, key_path);
	if (rc < 0)
		goto fail;
	if (write) {
		int dead;
		mdb_reader_check(v->env, &dead);
		rc = load_writer_state(v);
		if (rc == 0)
			rc = models_migrate(v);
		if (rc < 0)
			goto fail;
	} else {
		/* the open's own hold: transactions take it from now on */
		if (v->nolock)
			rlock_release(v);
	}
	*ret = v;
	return 0;
fail_data:
	/* Problems found in data.mdb are named as "data.mdb: page N: ..." */
	in_data = (rc == -EUCLEAN || rc == -EBADMSG) && strncmp(detail, "page ", 5) == 0;
fail:
	if (err && err_size)
		snprintf(err, err_size, "%s%s", in_data ? "data.mdb: " : "", detail);
	if (data_fd >= 0)
		close(data_fd);
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
	if (v->data_fd >= 0)
		close(v->data_fd);
	for (unsigned i = 0; i < VAULT__SNAPS; i++)
		vault__lmdb_snap_free(v->snaps[i]);
	pthread_mutex_destroy(&v->check_mutex);
	EVP_PKEY_free(v->sign_key);
	vault__hasher_deinit(&v->hasher);
	EVP_MD_free(v->sha256);
	pthread_mutex_destroy(&v->rlock_mutex);
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
	info.mirror = v->mirror;
	/* A damaged vault is still described (verify has to open it to name the damage) */
	rc = vault_root(r, r->size, info.root);
	if (rc == -EBADMSG) {
		memset(info.root, 0, sizeof(info.root));
		info.damaged = true;
	} else if (rc < 0) {
		goto out;
	}
	if (r->size > 0) {
		struct vault_leaf leaf;
		rc = vault__leaf_get(v, r->txn, r->size - 1, &leaf, info.last_leaf_hash);
		if (rc == -EBADMSG || rc == -ENOENT) {
			memset(info.last_leaf_hash, 0, sizeof(info.last_leaf_hash));
			info.damaged = true;
		} else if (rc < 0) {
			goto out;
		} else {
			info.last_timestamp_ns = leaf.timestamp_ns;
		}
	}
	rc = mdb_cursor_open(r->txn, v->dbi[DB_BLOBS], &cur);
	if (rc) {
		rc = vault__err_from_mdb(rc);
		goto out;
	}
	while ((rc = vault__cursor_get(v, cur, &k, &d, MDB_NEXT)) == 0) {
		/* a malformed record is verify's to report; it counts for nothing here */
		if (k.mv_size == VAULT_HASH_LEN && d.mv_size == 20) {
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
	} else if (rc == -EBADMSG) {
		info.damaged = true;
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

/* ------------------------------------------------------------------ compaction */

int vault_compact(const char *dir, uint64_t *ret_before, uint64_t *ret_after)
{
	char data[PATH_MAX], tmp[PATH_MAX], lockp[PATH_MAX], lockmdb[PATH_MAX];
	struct stat st, st2;
	MDB_env *env = NULL;
	int lock_fd, fd = -1, dfd, rc;

	if (!dir)
		return -EINVAL;
	if (path_join(data, sizeof(data), dir, "data.mdb") < 0 ||
	    path_join(tmp, sizeof(tmp), dir, "data.mdb.compact") < 0 ||
	    path_join(lockp, sizeof(lockp), dir, "writer.lock") < 0 ||
	    path_join(lockmdb, sizeof(lockmdb), dir, "lock.mdb") < 0)
		return -ENAMETOOLONG;
	if (stat(data, &st) < 0)
		return -errno;
	/* Exclusive: no writer, and no reader of the stopped vault (they hold it shared). */
	lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (lock_fd < 0)
		return -errno;
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out;
	}
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, VAULT_MAX_DBS);
	/* read-only and without the lock file: nobody else has the vault open (writer.lock) */
	if (rc == 0)
		rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0640);
	if (rc) {
		rc = vault__err_from_mdb(rc);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 0777);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* LMDB's compacting copy writes only the pages in use, renumbered: freed pages (the
	 * pruned payloads' old bytes among them) are not copied. */
	rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
	if (rc) {
		rc = rc == ENOSPC ? -ENOSPC : vault__err_from_mdb(rc);
		goto out_unlink;
	}
	if (fsync(fd) < 0 || fstat(fd, &st2) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	close(fd);
	fd = -1;
	mdb_env_close(env);
	env = NULL;
	if (rename(tmp, data) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	/* the old lock file describes the old file's transactions: the next opener makes a new
	 * one (none of ours is open: writer.lock is held) */
	unlink(lockmdb);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			rc = -errno;
		close(dfd);
	}
	if (rc == 0 && ret_before)
		*ret_before = (uint64_t)st.st_size;
	if (rc == 0 && ret_after)
		*ret_after = (uint64_t)st2.st_size;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	if (env)
		mdb_env_close(env);
	close(lock_fd);
	return rc;
}
