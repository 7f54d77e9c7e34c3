/* SPDX-License-Identifier: Apache-2.0 */
/* Witness cosignatures stored beside the checkpoints they cover (FORMAT.md §5), and the
 * witnessed checkpoint a proof should cite.
 *
 * A cosignature is not a log entry: an entry would need a new checkpoint, which would need new
 * cosignatures, forever. The cosigs database holds, per checkpoint size and witness, the
 * witness's public key and the signature line it returned; every line is verified against the
 * stored checkpoint before it is kept, so a reader may count them without the witnesses' keys
 * (a verifier who does not trust the vault checks them itself: they travel in the note). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define COSIG_KEY_MAX (8 + 4 + VAULT_ORIGIN_MAX)

static size_t cosig_key(uint64_t size, const struct vault_pubkey *key, uint8_t *out)
{
	size_t nlen = strlen(key->name);

	vault__be64(out, size);
	memcpy(out + 8, key->id, 4);
	memcpy(out + 12, key->name, nlen);
	return 12 + nlen;
}

static int cosig_add_once(struct vault *v, uint64_t size, const struct vault_pubkey *key,
                          const char *line, size_t len)
{
	uint8_t kbuf[COSIG_KEY_MAX], ck[8], val[32 + VAULT_SIGLINE_MAX];
	MDB_val k = {8, ck}, d;
	struct vault_cosig_check chk;
	MDB_txn *txn;
	char *note;
	int rc;

	rc = vault__txn_begin(v, true, &txn);
	if (rc < 0)
		return rc;
	vault__be64(ck, size);
	rc = vault__err_from_mdb(vault__get(v, txn, DB_CHECKPOINTS, &k, &d));
	if (rc < 0)
		goto out;
	/* The checkpoint with this one line added must verify by key. */
	note = malloc(d.mv_size + len);
	if (!note) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(note, d.mv_data, d.mv_size);
	memcpy(note + d.mv_size, line, len);
	rc = vault_cosignatures_verify(note, d.mv_size + len, key, 1, 0, &chk);
	free(note);
	if (rc < 0 && rc != -EBADMSG)
		goto out;
	if (rc != 1 || chk.line_off != d.mv_size) {
		rc = -EKEYREJECTED;
		goto out;
	}
	memcpy(val, key->key, 32);
	memcpy(val + 32, line, len);
	k = (MDB_val){cosig_key(size, key, kbuf), kbuf};
	d = (MDB_val){32 + len, val};
	rc = vault__err_from_mdb(mdb_put(txn, v->dbi[DB_COSIGS], &k, &d, 0));
	if (rc < 0)
		goto out;
	return vault__txn_commit(v, txn);
out:
	vault__txn_abort(v, txn);
	return rc;
}

int vault_cosignature_add(struct vault *v, uint64_t size, const struct vault_pubkey *key,
                          const char *line, size_t len)
{
	int rc;

	if (!(v->flags & VAULT_OPEN_WRITE))
		return -EROFS;
	if (!key || !line || vault__key_type(key) != VAULT_KEY_COSIGNATURE_V1 || len == 0 ||
	    len > VAULT_SIGLINE_MAX || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		return -EINVAL;
	rc = cosig_add_once(v, size, key, line, len);
	/* Growing the map is the writer thread's business (vault.h); a cosignature that does
	 * not fit now is offered again by its caller after the writer grew it. */
	return rc == VAULT__EMAPFULL ? -ENOSPC : rc;
}

/* Writes meta name = value in its own synced transaction (growing the map when full). */
static int meta_put(struct vault *v, const char *name, const char *value)
{
	MDB_val k = {strlen(name), (void *)name}, d = {strlen(value), (void *)value};
	MDB_txn *txn;
	int rc;

	if (!(v->flags & VAULT_OPEN_WRITE))
		return -EROFS;
	for (;;) {
		rc = vault__txn_begin(v, true, &txn);
		if (rc < 0)
			return rc;
		rc = vault__err_from_mdb(mdb_put(txn, v->dbi[DB_META], &k, &d, 0));
		if (rc < 0)
			vault__txn_abort(v, txn);
		else
			rc = vault__txn_commit(v, txn);
		if (rc != VAULT__EMAPFULL)
			return rc;
		rc = vault__grow_map(v);
		if (rc < 0)
			return rc;
	}
}

/* Reads meta name as a decimal number <= max. Returns 1; 0 with *ret = 0 when absent. */
static int meta_get_u64(struct vault_reader *r, const char *name, uint64_t max, uint64_t *ret)
{
	MDB_val k = {strlen(name), (void *)name}, d;
	char buf[24];
	unsigned long long q;
	char *end;
	int rc = vault__get(r->v, r->txn, DB_META, &k, &d);

	*ret = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return vault__err_from_mdb(rc);
	if (d.mv_size == 0 || d.mv_size >= sizeof(buf))
		return -EBADMSG;
	memcpy(buf, d.mv_data, d.mv_size);
	buf[d.mv_size] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return -EBADMSG;
	errno = 0;
	q = strtoull(buf, &end, 10);
	if (*end || errno || q > max)
		return -EBADMSG;
	*ret = q;
	return 1;
}

int vault_witness_quorum_set(struct vault *v, unsigned quorum)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", quorum);
	return meta_put(v, "witness_quorum", buf);
}

int vault_forwarded_set(struct vault *v, uint64_t count)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, count);
	return meta_put(v, "forwarded", buf);
}

/* ------------------------------------------------------------------ readers */

/* Positions cur on the first cosignature of size. Returns 0, or -ENOENT when there is none. */
static int cosig_first(struct vault *v, MDB_cursor *cur, uint64_t size, MDB_val *k, MDB_val *d,
                       uint8_t key[8])
{
	int rc;

	vault__be64(key, size);
	*k = (MDB_val){8, key};
	rc = vault__cursor_get(v, cur, k, d, MDB_SET_RANGE);
	if (rc)
		return vault__err_from_mdb(rc);
	if (k->mv_size < 8 || vault__rd64(k->mv_data) != size)
		return -ENOENT;
	return 0;
}

static bool cosig_valid_value(const MDB_val *d)
{
	const char *line = (const char *)d->mv_data + 32;
	size_t len = d->mv_size - 32;

	return d->mv_size > 32 && len <= VAULT_SIGLINE_MAX && line[len - 1] == '\n' &&
	       !memchr(line, '\n', len - 1);
}

int vault__note_with_cosigs(struct vault_reader *r, uint64_t size, const MDB_val *note, char **ret)
{
	uint8_t key[8];
	MDB_val k, d;
	MDB_cursor *cur;
	size_t len = note->mv_size;
	char *out = malloc(len + 1), *grown;
	int rc;

	if (!out)
		return -ENOMEM;
	memcpy(out, note->mv_data, len);
	if (r->v->no_cosigs)
		goto done;
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_COSIGS], &cur);
	if (rc) {
		free(out);
		return vault__err_from_mdb(rc);
	}
	for (rc = cosig_first(r->v, cur, size, &k, &d, key); rc == 0;
	     rc = vault__err_from_mdb(vault__cursor_get(r->v, cur, &k, &d, MDB_NEXT))) {
		if (k.mv_size < 8 || vault__rd64(k.mv_data) != size)
			break;
		if (!cosig_valid_value(&d))
			continue; /* damaged: vault_verify reports it; a note never carries it */
		if (len + d.mv_size - 32 > VAULT_NOTE_MAX)
			break; /* parsers refuse longer notes: keep the first ones */
		grown = realloc(out, len + d.mv_size - 32 + 1);
		if (!grown) {
			mdb_cursor_close(cur);
			free(out);
			return -ENOMEM;
		}
		out = grown;
		memcpy(out + len, (const char *)d.mv_data + 32, d.mv_size - 32);
		len += d.mv_size - 32;
	}
	mdb_cursor_close(cur);
	if (rc < 0 && rc != -ENOENT) {
		free(out);
		return rc;
	}
done:
	out[len] = '\0';
	*ret = out;
	return 0;
}

int vault_cosignature_count(struct vault_reader *r, uint64_t size, unsigned *ret_count)
{
	uint8_t key[8];
	MDB_val k, d;
	MDB_cursor *cur;
	unsigned n = 0;
	int rc;

	if (r->v->no_cosigs) {
		*ret_count = 0;
		return 0;
	}
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_COSIGS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	for (rc = cosig_first(r->v, cur, size, &k, &d, key); rc == 0;
	     rc = vault__err_from_mdb(vault__cursor_get(r->v, cur, &k, &d, MDB_NEXT))) {
		if (k.mv_size < 8 || vault__rd64(k.mv_data) != size)
			break;
		n += cosig_valid_value(&d);
	}
	mdb_cursor_close(cur);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	*ret_count = n;
	return 0;
}

int vault_witness_quorum(struct vault_reader *r, unsigned *ret_quorum)
{
	uint64_t q;
	int rc = meta_get_u64(r, "witness_quorum", 255, &q);

	*ret_quorum = (unsigned)q;
	return rc < 0 ? rc : 0;
}

int vault_forwarded(struct vault_reader *r, uint64_t *ret_count)
{
	return meta_get_u64(r, "forwarded", UINT64_MAX, ret_count);
}

int vault_checkpoint_get(struct vault_reader *r, uint64_t size, char **ret_note,
                         struct vault_checkpoint *ret_cp)
{
	uint8_t key[8];
	MDB_val k = {8, key}, d;
	struct vault_checkpoint cp;
	char *note = NULL;
	int rc;

	vault__be64(key, size);
	rc = vault__err_from_mdb(vault__get(r->v, r->txn, DB_CHECKPOINTS, &k, &d));
	if (rc < 0)
		return rc;
	rc = vault_checkpoint_parse(d.mv_data, d.mv_size, NULL, &cp);
	if (rc == 0 && ret_note)
		rc = vault__note_with_cosigs(r, size, &d, &note);
	if (rc < 0)
		return rc;
	if (ret_note)
		*ret_note = note;
	if (ret_cp)
		*ret_cp = cp;
	return 0;
}

int vault_checkpoint_witnessed(struct vault_reader *r, uint64_t covers, unsigned quorum,
                               char **ret_note, struct vault_checkpoint *ret_cp)
{
	MDB_val k, d;
	MDB_cursor *cur;
	uint64_t size = 0, best = 0;
	unsigned n = 0;
	int rc;

	if (quorum == 0) {
		struct vault_checkpoint cp;
		rc = vault_checkpoint_latest(r, ret_note, &cp);
		if (rc == 0 && cp.size <= covers) {
			if (ret_note)
				free(*ret_note);
			return -ENOENT;
		}
		if (rc == 0 && ret_cp)
			*ret_cp = cp;
		return rc;
	}
	if (r->v->no_cosigs)
		return -ENOENT;
	/* Walk the cosignatures from the newest size down: sizes group together in key order. */
	rc = mdb_cursor_open(r->txn, r->v->dbi[DB_COSIGS], &cur);
	if (rc)
		return vault__err_from_mdb(rc);
	for (rc = vault__cursor_get(r->v, cur, &k, &d, MDB_LAST); rc == 0;
	     rc = vault__cursor_get(r->v, cur, &k, &d, MDB_PREV)) {
		uint64_t s;
		if (k.mv_size < 8)
			continue;
		s = vault__rd64(k.mv_data);
		if (s <= covers)
			break;
		if (s != size) {
			size = s;
			n = 0;
		}
		n += cosig_valid_value(&d);
		if (n >= quorum) {
			best = size;
			break;
		}
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return vault__err_from_mdb(rc);
	if (best == 0)
		return -ENOENT;
	return vault_checkpoint_get(r, best, ret_note, ret_cp);
}
