/* SPDX-License-Identifier: Apache-2.0 */
/* The pure part of request handling: decoding frames with a bounded allocator, validating
 * Hello, manifests and records, and building vault payloads and reply frames. No I/O, no
 * libuv, no logging: the session calls it, tests and the dispatch fuzz target call it too. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evident.pb-c.h"
#include "registry.h"

#define PROTOCOL_VERSION      1
#define DISPATCH_CLIENT_MAX   128
#define DISPATCH_REQUEST_MAX  256
#define DISPATCH_ID_MAX       128
#define DISPATCH_VERSION_MAX  64
#define DISPATCH_DECISION_MAX 256
#define DISPATCH_TRACE_MAX    128
#define DISPATCH_MAP_MAX      64
#define DISPATCH_KEY_MAX      64
#define DISPATCH_LABEL_MAX    256
#define DISPATCH_SCORES_MAX   1024
#define DISPATCH_FEATURES_MAX 100000
#define DISPATCH_SUBJECT_MAX  128  /* bytes of Record.subject, Erase.subject (VAULT_SUBJECT_MAX) */
#define DISPATCH_HOLD_ID_MAX  128  /* bytes of a hold_id */
#define DISPATCH_REASON_MAX   1024 /* bytes of a Hold, Release or Erase reason */
#define DISPATCH_PERSON_MAX   256  /* bytes of a holder or requested_by */
/* Decoded messages may take at most this multiple of the frame size in memory (plus 64 KiB).
 * protobuf-c gives each sub-message its whole struct: a 2-byte empty Feature becomes ~100
 * bytes, so the factor must cover that; frames are decoded one at a time on the loop thread,
 * so this also bounds the daemon's decoding memory overall (64 MiB at the 1 MiB default). */
#define DISPATCH_ALLOC_FACTOR 64

typedef Evident__V1__Error__Code dispatch_code;

/* Scratch memory reused for decoding one frame after another (optional): most of a frame's
 * allocations come from it by bumping a pointer, the rest from malloc. */
struct dispatch_arena {
	uint8_t *buf;
	size_t cap;
};

/* A decoded frame and the bounded allocator that owns its memory. */
struct dispatch_msg {
	ProtobufCAllocator alloc;
	size_t used, cap;
	struct dispatch_arena *arena;
	size_t arena_off;
	Evident__V1__Frame *frame;
};

/* Decodes body[0..len). arena (may be NULL) must not be in use by another message: free the
 * previous one first. Every string field, at any depth, must be UTF-8 without a NUL byte
 * (wirecheck.h: protobuf-c would hand "x\0one" on as "x"). Returns 0 with m->frame set (free
 * with dispatch_msg_free), or BAD_MESSAGE with a reason in err, for a string naming its
 * field: "record.request_id: NUL byte at offset 1". */
dispatch_code dispatch_decode(const uint8_t *body, size_t len, struct dispatch_arena *arena,
                              struct dispatch_msg *m, char *err, size_t err_size);
void dispatch_msg_free(struct dispatch_msg *m);

struct peer {
	uint32_t uid, gid, pid;
	bool known;
};

/* Checks a Hello. Returns 0, BAD_PROTOCOL_VERSION or BAD_MESSAGE (err says why). */
dispatch_code dispatch_check_hello(const Evident__V1__Hello *h, char *err, size_t err_size);

/* Checks a manifest: ids, framework, output space, decision rule, features, artifact hash and
 * size, reference data. Returns 0 or BAD_MESSAGE. */
dispatch_code dispatch_check_manifest(const Evident__V1__ModelManifest *m, char *err,
                                      size_t err_size);

/* Canonical bytes of a manifest (map entries sorted, then protobuf-c's field order) and their
 * SHA-256: two registrations are "the same" when their digests are equal. Sorts m's map in
 * place. Returns 0 or -ENOMEM. *ret_bytes (may be NULL) is malloc'd, caller frees. */
int dispatch_manifest_canonical(Evident__V1__ModelManifest *m, uint8_t **ret_bytes, size_t *ret_len,
                                uint8_t digest[32]);
/* The digest only, of a const manifest (copies what it must sort). */
int dispatch_manifest_digest(const Evident__V1__ModelManifest *m, uint8_t digest[32]);

/* Checks a record against the registry. On success *ret_model names its model. Returns 0,
 * BAD_MESSAGE, UNKNOWN_MODEL or SCHEMA_MISMATCH. */
dispatch_code dispatch_check_record(const Evident__V1__Record *r, const struct registry *reg,
                                    const struct model_info **ret_model, char *err,
                                    size_t err_size);

/* Checks a data subject id (Record.subject, Erase.subject; field names it in err): 1 to
 * DISPATCH_SUBJECT_MAX bytes of UTF-8 without NUL or control characters (C0, DEL, C1).
 * Returns 0 or BAD_MESSAGE: "record.subject: control character 0x0a at offset 3". */
dispatch_code dispatch_check_subject(const char *field, const char *s, char *err, size_t err_size);

/* Checks the admin messages (the sender's right to send them is the caller's business):
 * request_id 1-256 bytes; a Hold names exactly one of seq and incident_id, a hold_id of 1 to
 * DISPATCH_HOLD_ID_MAX bytes without control characters, a reason (1 to DISPATCH_REASON_MAX
 * bytes) and a holder (1 to DISPATCH_PERSON_MAX bytes, no control characters); a Release the
 * hold_id, reason and holder; an Erase a subject (dispatch_check_subject), a reason and
 * requested_by. Returns 0 or BAD_MESSAGE naming the field ("hold.reason is required"). */
dispatch_code dispatch_check_hold(const Evident__V1__Hold *h, char *err, size_t err_size);
dispatch_code dispatch_check_release(const Evident__V1__Release *r, char *err, size_t err_size);
dispatch_code dispatch_check_erase(const Evident__V1__Erase *e, char *err, size_t err_size);

/* Builds a RecordEntry payload that embeds the record exactly as it arrived: when frame_body
 * holds the record as its only field, those bytes are copied verbatim; otherwise the decoded
 * record is packed again. Returns 0 and a malloc'd buffer, or -ENOMEM. */
int dispatch_record_payload(const uint8_t *frame_body, size_t len, const Evident__V1__Record *rec,
                            const char *client, const struct peer *peer, int64_t received_ns,
                            uint8_t **ret, size_t *ret_len);

/* ReviewEntry and LifecycleEntry payloads (malloc'd). */
int dispatch_review_payload(const Evident__V1__Review *rv, const char *client, int64_t received_ns,
                            uint8_t **ret, size_t *ret_len);

/* A HoldEntry payload for a hold entry (h set, the seqs it covers) or a release entry (r set,
 * no seqs), from the admin peer client / peer (malloc'd). Returns 0 or -ENOMEM. */
int dispatch_hold_payload(const Evident__V1__Hold *h, const Evident__V1__Release *r,
                          const char *client, const struct peer *peer, const uint64_t *seqs,
                          size_t n_seqs, uint8_t **ret, size_t *ret_len);

/* What an erasure did (ErasureEntry's counts and holds). */
struct dispatch_erasure {
	uint64_t entries, pruned, already_pruned;
	const uint64_t *held_seqs; /* payloads kept under a hold */
	size_t n_held;
	const char *const *blocking; /* the hold ids that kept them ("incident:SEQ": open) */
	size_t n_blocking;
};

/* An ErasureEntry payload (malloc'd). Returns 0 or -ENOMEM. */
int dispatch_erasure_payload(const Evident__V1__Erase *e, const char *client,
                             const struct peer *peer, const struct dispatch_erasure *what,
                             uint8_t **ret, size_t *ret_len);

/* One top-level field of an encoded message buf[0..len) (an entry's payload), read without
 * decoding the rest (an audit's document, a record's features): the last occurrence of field
 * number `field` as a varint (dispatch_field_u64) or as a length-delimited value
 * (dispatch_field_bytes: a view into buf). Returns 1 when found, 0 when absent, -EBADMSG when
 * buf is not a well-formed encoding or the field has another wire type. */
int dispatch_field_u64(const uint8_t *buf, size_t len, unsigned field, uint64_t *ret);
int dispatch_field_bytes(const uint8_t *buf, size_t len, unsigned field, const uint8_t **ret,
                         size_t *ret_len);

/* Packs any protobuf-c message into a malloc'd buffer. Returns 0 or -ENOMEM. */
int dispatch_pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len);

/* Reply frames, varint-prefixed, appended to a growing buffer (*buf, *len, *cap). */
int dispatch_reply_ack(uint8_t **buf, size_t *len, size_t *cap, const char *request_id,
                       uint64_t seq, const uint8_t leaf_hash[32], bool duplicate);
int dispatch_reply_error(uint8_t **buf, size_t *len, size_t *cap, dispatch_code code,
                         const char *message, const char *request_id);
int dispatch_reply_frame(uint8_t **buf, size_t *len, size_t *cap, const Evident__V1__Frame *f);

/* The code answering a write that failed with rc: VAULT_FULL for -ENOSPC (a full disk or
 * map, or disk_reserve reached: the client keeps the record and retries), INTERNAL for
 * anything else. */
dispatch_code dispatch_write_error(int rc);

/* Names for logs: "UNKNOWN_MODEL", ... */
const char *dispatch_code_name(dispatch_code c);
