/* SPDX-License-Identifier: Apache-2.0 */
/* The witness library: everything evident-witness does with untrusted bytes, pure and without
 * I/O, so that the server, the fuzz target (tests/fuzz/fuzz_witness.c) and the tests run the
 * same code:
 *
 *  - add-checkpoint request bodies (c2sp.org/tlog-witness): "old N\n", up to 63 base64
 *    consistency proof lines, a blank line, then the checkpoint as a signed note;
 *  - the log's signature on the submitted checkpoint, by the keys trusted for its origin;
 *  - the add-checkpoint decision against the latest checkpoint the witness cosigned;
 *  - trust files: the log verifier keys the witness accepts.
 *
 * Conventions (as vault.h): int functions return >= 0 on success and a negative errno on
 * failure; out-parameters are named ret_* and written only on success; error messages go into
 * a caller's buffer (err, err_size: NUL-terminated, truncated to fit; err may be NULL). The
 * library never logs, never exits and has no global state: any thread may call any function.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vault.h"

/* Consistency proof lines a request may carry (c2sp.org/tlog-witness: "MUST NOT send more
 * than 63"). */
#define WITNESS_PROOF_MAX 63
/* Request body bytes the server accepts. The largest valid body is about 11 KiB (the old size
 * line, 63 proof lines of 45 bytes, a note of at most VAULT_NOTE_MAX bytes). */
#define WITNESS_BODY_MAX  (64 * 1024)
/* Room for any error message of this library. */
#define WITNESS_ERR_MAX   256

/* ------------------------------------------------------------------ request bodies */

/* A parsed add-checkpoint request. Nothing in it is authenticated until
 * witness_request_verify accepted it. */
struct witness_request {
	uint64_t old_size;
	uint8_t proof[WITNESS_PROOF_MAX][VAULT_HASH_LEN];
	size_t proof_len;
	/* The checkpoint note, borrowed from the body given to witness_request_parse (valid as
	 * long as that body is): its text (the checkpoint body, what a cosignature signs) is
	 * note[0..note_text_len), the signature lines follow the blank line after it. */
	const char *note;
	size_t note_len;
	size_t note_text_len;
	size_t note_line; /* the body's line number where the note starts (for messages) */
	struct vault_checkpoint cp; /* the checkpoint's origin, size and root hash */
};

/* Parses an add-checkpoint body[0..len): the old size line, the proof lines, the blank line and
 * the checkpoint note, every part in its canonical form (decimal sizes without leading zeros,
 * padded base64 of exactly 32 bytes with zero padding bits, lines ending in '\n' alone). Also
 * refuses what the body alone shows to be wrong: a proof with old size 0, more than
 * WITNESS_PROOF_MAX proof lines, an old size larger than the checkpoint's size.
 * The body may hold any bytes (NUL included). On success *ret borrows from body.
 * Returns 0; -EBADMSG with a message naming the problem and its line ("line 3: proof hash:
 * 43 characters, 44 expected (base64 of a 32-byte hash)"); -EMSGSIZE when len is over
 * WITNESS_BODY_MAX. */
int witness_request_parse(const char *body, size_t len, struct witness_request *ret, char *err,
                          size_t err_size);

/* Verifies the log's signature on the request's checkpoint against keys[0..n), the keys trusted
 * for its origin (each of type VAULT_KEY_ED25519 and named as the origin). Signature lines by
 * other keys are ignored (c2sp.org/signed-note). A signature line by one of the keys that does
 * not verify rejects the note, even when another key's verifies (the signed-note "SHOULD").
 * Returns 0 when a key's signature verifies; -ENOKEY when no signature line is by any of the
 * keys (n == 0 included); -EKEYREJECTED when one is and does not verify; -ENOMEM/-EIO
 * (OpenSSL). Either error writes a message naming the origin (and the key). */
int witness_request_verify(const struct witness_request *req, const struct vault_pubkey *keys,
                           size_t n, char *err, size_t err_size);

/* ------------------------------------------------------------------ the decision */

/* What the witness holds about one log: the latest checkpoint it cosigned. */
struct witness_log_state {
	bool known;    /* a checkpoint of this log was cosigned before */
	uint64_t size; /* its tree size; 0 when !known */
	uint8_t root[VAULT_HASH_LEN];
};

enum witness_verdict {
	/* 200: consistent with the latest cosigned checkpoint (or the first of the log): cosign
	 * it, and it becomes the latest when it is larger (or the first). */
	WITNESS_COSIGN = 0,
	/* 409: the old size is not the latest cosigned size; the checkpoint itself agrees with
	 * what was cosigned (larger, or the same tree head). A client out of date, not evidence. */
	WITNESS_STALE,
	/* 409: the checkpoint is smaller than the latest cosigned one (a replayed or rolled back
	 * tree head). Evidence. */
	WITNESS_ROLLBACK,
	/* 409: the same size as the latest cosigned checkpoint with another root hash: the log
	 * signed two trees of one size, a split view. Evidence. */
	WITNESS_FORK,
	/* 422: the consistency proof from the latest cosigned checkpoint does not verify. Evidence
	 * (the witness cannot tell a forged proof from a log that cannot prove consistency). */
	WITNESS_BAD_PROOF,
	_WITNESS_VERDICT_MAX,
};

/* Decides an add-checkpoint request whose log signature verified (witness_request_verify) and
 * which witness_request_parse accepted, against the log's latest cosigned checkpoint: the
 * checks of c2sp.org/tlog-witness in an order that also classifies every refusal. Pure: the
 * caller applies the verdict (records the checkpoint on WITNESS_COSIGN) atomically with
 * reading *latest, which is what keeps concurrent submissions from rolling the log back. */
enum witness_verdict witness_check(const struct witness_log_state *latest,
                                   const struct witness_request *req);

/* The HTTP status a verdict is answered with (200, 409 or 422). */
int witness_verdict_status(enum witness_verdict v);
/* Whether a refusal is kept as evidence (rollback, fork, bad proof). */
bool witness_verdict_is_evidence(enum witness_verdict v);
/* A short lowercase name ("cosign", "stale", "rollback", "fork", "bad-proof"); static; NULL
 * for a value out of range. */
const char *witness_verdict_name(enum witness_verdict v);

/* ------------------------------------------------------------------ trust files */

/* The log verifier keys a witness trusts, sorted by name (the log's origin). */
struct witness_trust {
	struct vault_pubkey *keys; /* owned */
	size_t n;
};

/* Parses a trust file text[0..len): one C2SP verifier key "ORIGIN+KEYID+BASE64" of type
 * VAULT_KEY_ED25519 per line; lines that are blank or start with '#' (after blanks) are
 * ignored; blanks around a key are allowed. Several keys may name one origin (a key rotation);
 * the same key twice is an error. filename names the file in messages.
 * Returns 0 and *ret (free with witness_trust_deinit; n may be 0); -EBADMSG with a message
 * "FILE:LINE:COLUMN: what is wrong"; -ENOMEM. */
int witness_trust_parse(const char *text, size_t len, const char *filename,
                        struct witness_trust *ret, char *err, size_t err_size);
/* Bytes a trust file may have. */
#define WITNESS_TRUST_MAX (1 << 20)
/* Reads the trust file at path (at most WITNESS_TRUST_MAX bytes) and parses it with
 * witness_trust_parse (the same *ret and err; room for path in err: WITNESS_ERR_MAX plus its
 * length). Returns 0; -EFBIG (too large); -EBADMSG (err says where); -ENOMEM; the negative
 * errno of opening or reading it. */
int witness_trust_load(const char *path, struct witness_trust *ret, char *err, size_t err_size);
/* Frees the keys; takes a zeroed struct. */
void witness_trust_deinit(struct witness_trust *t);
/* The keys trusted for origin: returns how many (0 when none) and, when there are, *ret_first
 * points at the first of them in t->keys (they are adjacent). */
size_t witness_trust_find(const struct witness_trust *t, const char *origin,
                          const struct vault_pubkey **ret_first);
