/* SPDX-License-Identifier: Apache-2.0 */
/* vault-mirror: a test auditor without NATS (never installed). Mirrors a stopped origin vault
 * into a mirror vault the way evident-auditor does from the fleet's messages: every entry,
 * checkpoint and artifact blob is encoded as its fleet message (fleet/fleet.h), decoded and
 * checked again, and stored with the vault's mirror API, so that the tests of evidentctl can
 * compare a mirror with its origin.
 *
 *   vault-mirror ORIGIN MIRROR [--subject ID]... [--batch N]
 *       continues MIRROR (created when missing, for ORIGIN's origin and verifier key) from
 *       its size up to ORIGIN's: entries in batches of N (default 7) through
 *       vault_mirror_append with their payloads, nonces, dedup keys and models
 *       (proto/entry_key.h, for the dedup and model indexes),
 *       each stored checkpoint once the mirror covers it (vault_mirror_checkpoint), and the
 *       blobs of the artifact entries mirrored, in FLEET_BLOB_CHUNK chunks. An entry's data
 *       subject is mirrored when it is one of the IDs given (the vault has no lookup from an
 *       entry to its subject). Prints the mirror's size.
 *
 * Exit 0, 1 on an error (printed), 2 on a usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.pb-c.h"
#include "entry_key.h"
#include "fleet.h"
#include "vault.h"

#define PROG        "vault-mirror"
#define SUBJECTS    16
#define CHECKPOINTS 4096

static int fail(const char *what, int err)
{
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(-err));
	return 1;
}

/* The subject of entry seq among the IDs given, or NULL. */
static const char *subject_of(struct vault_reader *r, const char *const *ids, size_t n,
                              uint64_t seq)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t found;
		if (vault_subject_next(r, ids[i], seq, &found) == 0 && found == seq)
			return ids[i];
	}
	return NULL;
}

/* The entry as a FleetEntry went over the wire and came back decoded (*ret). */
static int through_the_wire(const struct vault_entry *e, const char *origin, const char *subject,
                            struct fleet_entry *ret)
{
	struct fleet_entry fe = {.origin = origin,
	                         .nonce = e->payload_nonce,
	                         .payload = e->payload,
	                         .payload_len = e->payload_len,
	                         .subject = subject};
	char reason[FLEET_REASON_MAX];
	uint8_t *buf;
	size_t len;
	int rc;

	vault_leaf_encode(&e->leaf, fe.leaf);
	rc = fleet_entry_encode(&fe, &buf, &len);
	if (rc < 0)
		return rc;
	rc = fleet_entry_decode(buf, len, origin, ret, reason, sizeof(reason));
	free(buf);
	if (rc < 0)
		fprintf(stderr, PROG ": %s\n", reason);
	return rc;
}

/* Copies the blob an artifact entry names, chunk by chunk through FleetBlobChunk. */
static int mirror_blob(struct vault *m, struct vault_reader *r, const char *origin,
                       const struct vault_entry *e)
{
	static uint8_t data[FLEET_BLOB_CHUNK];
	Evident__Entry__V1__ArtifactEntry *a;
	struct vault_blob_writer *w;
	uint64_t size;
	int rc;

	if (!e->payload)
		return 0;
	a = evident__entry__v1__artifact_entry__unpack(NULL, e->payload_len, e->payload);
	if (!a)
		return -EBADMSG;
	if (!a->has_sha256 || a->sha256.len != VAULT_HASH_LEN ||
	    vault_blob_stat(r, a->sha256.data, &size) < 0) {
		evident__entry__v1__artifact_entry__free_unpacked(a, NULL);
		return 0; /* nothing to copy */
	}
	rc = vault_blob_begin(m, &w);
	for (uint64_t off = 0; rc == 0 && (off < size || off == 0);) {
		struct fleet_blob_chunk c = {.origin = origin,
		                             .size = size,
		                             .offset = off,
		                             .data = data},
		                        d;
		char reason[FLEET_REASON_MAX];
		uint8_t *buf;
		size_t len;
		ssize_t n = vault_blob_read(r, a->sha256.data, off, data, sizeof(data));
		if (n < 0) {
			rc = (int)n;
			break;
		}
		memcpy(c.hash, a->sha256.data, VAULT_HASH_LEN);
		c.len = (size_t)n;
		rc = fleet_blob_chunk_encode(&c, &buf, &len);
		if (rc < 0)
			break;
		rc = fleet_blob_chunk_decode(buf, len, origin, &d, reason, sizeof(reason));
		free(buf);
		if (rc < 0) {
			fprintf(stderr, PROG ": %s\n", reason);
			break;
		}
		rc = vault_blob_write(w, d.data, d.len);
		fleet_blob_chunk_deinit(&d);
		off += (uint64_t)n;
		if (size == 0)
			break;
	}
	if (rc == 0) {
		rc = vault_blob_finish(w, a->sha256.data, size, NULL);
		rc = rc == 1 ? 0 : rc;
	} else if (w) {
		vault_blob_abort(w);
	}
	evident__entry__v1__artifact_entry__free_unpacked(a, NULL);
	return rc;
}

/* Sizes of the stored checkpoints, ascending, into sizes; returns how many. */
static size_t checkpoint_sizes(struct vault_reader *r, uint64_t *sizes)
{
	struct vault_checkpoint cp;
	uint64_t max = vault_reader_size(r);
	size_t n = 0;

	while (n < CHECKPOINTS && vault_checkpoint_at_most(r, max, NULL, &cp) == 0) {
		sizes[n++] = cp.size;
		if (cp.size == 0)
			break;
		max = cp.size - 1;
	}
	for (size_t i = 0; i < n / 2; i++) {
		uint64_t t = sizes[i];
		sizes[i] = sizes[n - 1 - i];
		sizes[n - 1 - i] = t;
	}
	return n;
}

static int mirror_checkpoint(struct vault *m, struct vault_reader *r, const char *origin,
                             uint64_t size)
{
	struct fleet_checkpoint c = {.origin = origin}, d;
	char *note, reason[FLEET_REASON_MAX];
	uint8_t *buf;
	size_t len;
	int rc = vault_checkpoint_get(r, size, &note, NULL);

	if (rc < 0)
		return rc;
	c.note = note;
	c.note_len = strlen(note);
	rc = fleet_checkpoint_encode(&c, &buf, &len);
	if (rc == 0) {
		rc = fleet_checkpoint_decode(buf, len, origin, &d, reason, sizeof(reason));
		free(buf);
		if (rc == 0) {
			rc = vault_mirror_checkpoint(m, d.note, d.note_len);
			fleet_checkpoint_deinit(&d);
		}
	}
	free(note);
	return rc == -ESTALE ? 0 : rc; /* held already */
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"subject", required_argument, NULL, 's'},
	    {"batch", required_argument, NULL, 'b'},
	    {0},
	};
	static uint64_t sizes[CHECKPOINTS];
	const char *ids[SUBJECTS];
	size_t n_ids = 0, batch = 7, n_cps, next_cp = 0;
	struct vault *o, *m;
	struct vault_reader *r;
	struct vault_info info;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 's' && n_ids < SUBJECTS)
			ids[n_ids++] = optarg;
		else if (opt == 'b' && atoi(optarg) > 0)
			batch = (size_t)atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: " PROG " ORIGIN MIRROR [--subject ID]... [--batch N]\n");
		return 2;
	}
	rc = vault_open(argv[optind], VAULT_OPEN_READ, NULL, &o);
	if (rc < 0)
		return fail(argv[optind], rc);
	rc = vault_info(o, &info);
	if (rc < 0)
		return fail("vault_info", rc);
	struct vault_options mo = {.origin = info.origin,
	                           .mirror_key = &info.key,
	                           .mirror_dedup_key = entry_dedup_key_fn,
	                           .model_key = entry_model_key_fn};
	rc = vault_open(argv[optind + 1], VAULT_OPEN_WRITE | VAULT_OPEN_CREATE | VAULT_OPEN_MIRROR,
	                &mo, &m);
	if (rc < 0)
		return fail(argv[optind + 1], rc);
	rc = vault_reader_begin(o, &r);
	if (rc < 0)
		return fail("reader", rc);
	n_cps = checkpoint_sizes(r, sizes);
	struct fleet_entry *fe = calloc(batch, sizeof(*fe));
	struct vault_mirror_in *in = calloc(batch, sizeof(*in));
	uint64_t size = vault_size(m), end = vault_reader_size(r);
	while (rc == 0) {
		/* checkpoints the mirror covers now */
		while (rc == 0 && next_cp < n_cps && sizes[next_cp] <= size)
			rc = mirror_checkpoint(m, r, info.origin, sizes[next_cp++]);
		if (rc < 0 || size == end)
			break;
		size_t n = 0;
		/* a batch ends at the next checkpoint, as a forwarder sends them in log order */
		uint64_t stop = next_cp < n_cps && sizes[next_cp] < end ? sizes[next_cp] : end;
		for (; n < batch && size + n < stop && rc == 0; n++) {
			struct vault_entry e;
			rc = vault_get(r, size + n, &e);
			if (rc == 0)
				rc = through_the_wire(&e, info.origin,
				                      subject_of(r, ids, n_ids, size + n), &fe[n]);
			if (rc == 0 && e.leaf.type == VAULT_ENTRY_ARTIFACT)
				rc = mirror_blob(m, r, info.origin, &e);
			if (rc < 0)
				break;
			in[n] = (struct vault_mirror_in){.leaf = fe[n].leaf,
			                                 .nonce = fe[n].nonce,
			                                 .payload = fe[n].payload,
			                                 .payload_len = fe[n].payload_len,
			                                 .subject = fe[n].subject};
		}
		if (rc == 0) {
			struct vault_mirror_result res;
			rc = vault_mirror_append(m, in, n, &res);
			if (rc < 0)
				fprintf(stderr, PROG ": entry %" PRIu64 " refused\n",
				        size + res.index);
			size = vault_size(m);
		}
		for (size_t i = 0; i < batch; i++)
			fleet_entry_deinit(&fe[i]);
	}
	vault_reader_end(r);
	free(fe);
	free(in);
	if (rc < 0)
		return fail("mirror", rc);
	printf("%" PRIu64 "\n", vault_size(m));
	vault_close(m);
	vault_close(o);
	return 0;
}
