/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet wire contract (fleet/FLEET.md): NATS subjects derived from a vault's origin, the
 * Nats-Msg-Id of each message, and the protobuf messages (fleet/fleet.proto) an evidentd
 * forwarder and an auditor exchange through NATS JetStream.
 *
 * This header is the whole public API of the fleet library.
 *  - Pure functions: no I/O, no logging, no global state; any thread.
 *  - int functions return >= 0 on success and a negative errno on failure.
 *  - Decoders check everything that can be checked without a vault and, on -EBADMSG, write a
 *    one-line reason naming the message and what is wrong into reason (NUL-terminated,
 *    truncated to reason_size; reason may be NULL), e.g. "entry: leaf is 12 bytes, not 91".
 *  - A decoded message owns its memory: its pointers borrow from storage the message holds
 *    until its *_deinit (which takes a zeroed or already deinitialised struct too). A message
 *    filled by the caller for encoding borrows the caller's memory and is never deinit'd.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vault.h"

/* Largest data of one blob chunk; every chunk but a blob's last holds exactly this much. */
#define FLEET_BLOB_CHUNK  (256u << 10)
/* Blobs larger than this are refused (no model artifact comes near it). */
#define FLEET_BLOB_MAX    (1ull << 40)
/* Blob references one entry may carry. */
#define FLEET_BLOBS_MAX   64
/* Longest origin token: every byte of the longest origin escaped, and the NUL. */
#define FLEET_TOKEN_MAX   (3 * VAULT_ORIGIN_MAX + 1)
/* Longest subject prefix accepted (a NATS subject of one or more tokens). */
#define FLEET_PREFIX_MAX  128
/* Longest subject fleet_subject writes, NUL included. */
#define FLEET_SUBJECT_MAX (FLEET_PREFIX_MAX + 2 * FLEET_TOKEN_MAX + 16)
/* Longest Nats-Msg-Id fleet_msg_id writes, NUL included. */
#define FLEET_MSG_ID_MAX  (2 * VAULT_ORIGIN_MAX + 96)
/* A reason buffer large enough for every reason the decoders write. */
#define FLEET_REASON_MAX  256

/* The four kinds of message, named by a subject's last token(s). */
enum fleet_kind {
	FLEET_ENTRY = 1,      /* P.<tok>.entry: struct fleet_entry */
	FLEET_BLOB = 2,       /* P.<tok>.blob: struct fleet_blob_chunk */
	FLEET_CHECKPOINT = 3, /* P.<tok>.checkpoint: struct fleet_checkpoint */
	FLEET_COSIG = 4,      /* P.<tok>.cosig.<auditor tok>: struct fleet_cosig */
};

/* ------------------------------------------------------------------ names */

/* An origin (or an auditor's name) as the fleet accepts it: 1..VAULT_ORIGIN_MAX bytes of
 * UTF-8 (shortest forms, no surrogates) without control characters (bytes 0x00-0x1f, 0x7f).
 * Returns 0, or -EINVAL with reason (may be NULL) saying what is wrong ("empty", "invalid
 * UTF-8 at byte 3", ...). */
int fleet_name_check(const char *name, size_t len, char *reason, size_t reason_size);

/* The subject token of an origin: its bytes with every byte outside [A-Za-z0-9_-] written as
 * '=' and two uppercase hex digits ("evidentd.local/3f" -> "evidentd=2Elocal=2F3f"). Writes
 * the NUL-terminated token into buf. Returns its length; -EINVAL when origin fails
 * fleet_name_check; -ENOBUFS when buf is too small (FLEET_TOKEN_MAX always suffices). */
int fleet_subject_token(const char *origin, char *buf, size_t size);

/* The inverse of fleet_subject_token: decodes tok[0..len) into buf (NUL-terminated).
 * Only the canonical form is accepted, so that each origin has exactly one token: '=' must be
 * followed by two uppercase hex digits of a byte outside [A-Za-z0-9_-], and every other byte
 * must be in [A-Za-z0-9_-]. Returns the origin's length; -EINVAL for a malformed token (an
 * empty one, a byte outside the alphabet, a truncated or lowercase escape, an escape of a
 * byte that needs none) or when the origin decoded fails fleet_name_check; -ENOBUFS. */
int fleet_subject_origin(const char *tok, size_t len, char *buf, size_t size);

/* Writes the subject of a message into buf: "<prefix>.<origin token>.entry" (.blob,
 * .checkpoint) or, for FLEET_COSIG, "<prefix>.<origin token>.cosig.<auditor token>".
 * prefix: one or more NATS tokens separated by '.', each of [A-Za-z0-9_-] (at most
 * FLEET_PREFIX_MAX bytes). auditor: the auditor's name for FLEET_COSIG, else ignored (NULL).
 * Returns the length; -EINVAL (bad prefix, origin, auditor or kind); -ENOBUFS
 * (FLEET_SUBJECT_MAX always suffices). */
int fleet_subject(const char *prefix, const char *origin, enum fleet_kind kind, const char *auditor,
                  char *buf, size_t size);

/* Parses a subject written by fleet_subject with this prefix: *kind, the origin into origin
 * (origin_size bytes; VAULT_ORIGIN_MAX + 1 suffices) and for FLEET_COSIG the auditor's name
 * into auditor (auditor_size bytes; may be NULL for other kinds: then a cosig subject is
 * -EINVAL). Hostile subjects are expected: anything else (another prefix, a missing or extra
 * token, an unknown kind, a token fleet_subject_origin refuses, over FLEET_SUBJECT_MAX) is
 * -EINVAL; -ENOBUFS when a buffer is too small. Nothing is written on error. */
int fleet_subject_parse(const char *prefix, const char *subject, enum fleet_kind *kind,
                        char *origin, size_t origin_size, char *auditor, size_t auditor_size);

/* The Nats-Msg-Id of a message, into buf (NUL-terminated):
 *   FLEET_ENTRY       "<origin>/e/<seq>/<first 16 hex of the leaf hash>"   number = seq,
 *                     hash = the leaf hash
 *   FLEET_BLOB        "<origin>/b/<64 hex of the blob hash>/<offset>"      number = offset,
 *                     hash = the blob's SHA-256
 *   FLEET_CHECKPOINT  "<origin>/c/<size>/<first 16 hex of the root>"       number = size,
 *                     hash = the root
 *   FLEET_COSIG       "<origin>/s/<auditor>/<size>"                        number = size,
 *                     auditor = the auditor's name (hash ignored, may be NULL)
 * Numbers in decimal, hex lowercase. JetStream drops a message whose id it has seen within
 * its duplicate window: a retry is dropped, a different entry under a reused seq is not.
 * Returns the length; -EINVAL (bad kind, origin or auditor, NULL hash); -ENOBUFS
 * (FLEET_MSG_ID_MAX always suffices). */
int fleet_msg_id(enum fleet_kind kind, const char *origin, uint64_t number,
                 const uint8_t hash[VAULT_HASH_LEN], const char *auditor, char *buf, size_t size);

/* ------------------------------------------------------------------ messages */

struct fleet_blob_ref {
	uint8_t hash[VAULT_HASH_LEN];
	uint64_t size;
};

/* FleetEntry: one vault entry. */
struct fleet_entry {
	const char *origin;
	uint8_t leaf[VAULT_LEAF_LEN]; /* vault_leaf_encode's bytes */
	const uint8_t *nonce;   /* VAULT_NONCE_LEN bytes: v2 leaves with a payload; else NULL */
	const uint8_t *payload; /* NULL: pruned at the origin before it was forwarded */
	size_t payload_len;
	const char *subject; /* the entry's data subject; NULL: none */
	const struct fleet_blob_ref *blobs;
	size_t n_blobs; /* <= FLEET_BLOBS_MAX */
	uint64_t sent_ns;
	/* Filled by fleet_entry_decode (ignored by encode): */
	struct vault_leaf decoded;         /* the leaf decoded */
	uint8_t leaf_hash[VAULT_HASH_LEN]; /* its RFC 6962 leaf hash */
	void *priv;                        /* the storage the pointers borrow from */
};

/* Encodes e (payload_pruned is written as payload == NULL) into a malloc'd buffer (*ret,
 * caller frees). Checks the shape (origin, leaf decodes, nonce present exactly for a v2 leaf
 * with a payload, payload length as in the leaf, subject, blob count) but not the payload's
 * commitment. Returns 0; -EINVAL for a malformed e; -ENOMEM. */
int fleet_entry_encode(const struct fleet_entry *e, uint8_t **ret, size_t *ret_len);

/* Decodes and checks a FleetEntry: a well-formed protobuf with valid strings; an origin
 * (fleet_name_check) equal to expect_origin when that is not NULL (the subject's origin); a
 * leaf of VAULT_LEAF_LEN bytes that decodes (version 1 or 2); payload present exactly when
 * payload_pruned is false, of the leaf's payload length, matching the leaf's commitment; a
 * nonce of VAULT_NONCE_LEN bytes exactly when the leaf is v2 and the payload present (none
 * otherwise); a prune entry's payload present and decoding as one (vault_prune_decode) and
 * naming a seq below its own; a subject of 1..VAULT_SUBJECT_MAX bytes; blob references of 32
 * byte hashes, at most FLEET_BLOBS_MAX, sizes <= FLEET_BLOB_MAX.
 * Not checked (needs the mirror): the seq continues the mirror, prev_hash chains, time order.
 * Returns 0 with *ret filled (fleet_entry_deinit it); -EBADMSG with reason; -ENOMEM. */
int fleet_entry_decode(const uint8_t *buf, size_t len, const char *expect_origin,
                       struct fleet_entry *ret, char *reason, size_t reason_size);
void fleet_entry_deinit(struct fleet_entry *e);

/* FleetBlobChunk: bytes [offset, offset + len) of the blob hash of size bytes. Chunk k holds
 * [k * FLEET_BLOB_CHUNK, min((k + 1) * FLEET_BLOB_CHUNK, size)): offset is a multiple of
 * FLEET_BLOB_CHUNK below size (0 for an empty blob) and len is exactly what that leaves. */
struct fleet_blob_chunk {
	const char *origin;
	uint8_t hash[VAULT_HASH_LEN];
	uint64_t size; /* <= FLEET_BLOB_MAX */
	uint64_t offset;
	const uint8_t *data;
	size_t len;
	void *priv; /* decode: the storage data borrows from */
};

/* Returns 0; -EINVAL when the chunk is not as described above; -ENOMEM. *ret malloc'd. */
int fleet_blob_chunk_encode(const struct fleet_blob_chunk *c, uint8_t **ret, size_t *ret_len);
/* Decodes and checks (origin, expect_origin, hash length, size, offset and length as above).
 * Returns 0 (fleet_blob_chunk_deinit *ret); -EBADMSG with reason; -ENOMEM. */
int fleet_blob_chunk_decode(const uint8_t *buf, size_t len, const char *expect_origin,
                            struct fleet_blob_chunk *ret, char *reason, size_t reason_size);
void fleet_blob_chunk_deinit(struct fleet_blob_chunk *c);

/* FleetCheckpoint: a signed checkpoint note as the origin stores it (its signature, possibly
 * followed by cosignature lines). */
struct fleet_checkpoint {
	const char *origin;
	const char *note; /* not NUL-terminated: note_len bytes */
	size_t note_len;  /* <= VAULT_NOTE_MAX */
	/* Filled by decode: the note's body, parsed without checking the signature (only the
	 * origin's key, which the receiver holds, can). */
	struct vault_checkpoint cp;
	void *priv;
};

/* Returns 0; -EINVAL (bad origin, empty or oversized note); -ENOMEM. *ret malloc'd. */
int fleet_checkpoint_encode(const struct fleet_checkpoint *c, uint8_t **ret, size_t *ret_len);
/* Decodes and checks: origin (and expect_origin), the note parses as a signed checkpoint
 * note (vault_checkpoint_parse without a key) and its origin line is the message's origin.
 * Returns 0 (fleet_checkpoint_deinit *ret); -EBADMSG with reason; -ENOMEM. */
int fleet_checkpoint_decode(const uint8_t *buf, size_t len, const char *expect_origin,
                            struct fleet_checkpoint *ret, char *reason, size_t reason_size);
void fleet_checkpoint_deinit(struct fleet_checkpoint *c);

/* FleetCosig: an auditor's tlog-cosignature/v1 line for the origin's checkpoint of size. */
struct fleet_cosig {
	const char *origin;
	uint64_t size;
	const char *auditor; /* its name: the name of its verifier key */
	const char *line;    /* "\u2014 <auditor> <base64>\n", not NUL-terminated */
	size_t line_len;     /* <= VAULT_SIGLINE_MAX */
	const char *vkey;    /* the auditor's verifier key text, informative; NULL: none */
	size_t vkey_len;
	void *priv;
};

/* Returns 0; -EINVAL (as decode's checks); -ENOMEM. *ret malloc'd. */
int fleet_cosig_encode(const struct fleet_cosig *c, uint8_t **ret, size_t *ret_len);
/* Decodes and checks: origin (and expect_origin), size > 0, the auditor's name
 * (fleet_name_check, no space or '+'), one line "\u2014 <auditor> <base64>\n" of at most
 * VAULT_SIGLINE_MAX bytes, and vkey (when present) a verifier key of type
 * VAULT_KEY_COSIGNATURE_V1 named auditor. The signature itself needs the checkpoint: the
 * receiver checks it (vault_cosignature_add does). Returns 0 (fleet_cosig_deinit *ret);
 * -EBADMSG with reason; -ENOMEM. */
int fleet_cosig_decode(const uint8_t *buf, size_t len, const char *expect_origin,
                       struct fleet_cosig *ret, char *reason, size_t reason_size);
void fleet_cosig_deinit(struct fleet_cosig *c);
