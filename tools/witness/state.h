/* SPDX-License-Identifier: Apache-2.0 */
/* The witness's state: a small LMDB environment of its own in the state folder (data.mdb,
 * lock.mdb), not a vault. Three databases:
 *
 *  - "logs": per log origin, the latest checkpoint the witness cosigned (size, root hash, the
 *    time, the note as submitted). Key: the origin's bytes. Value: version 1 (1 byte), size
 *    (be64), root (32), time (be64, POSIX seconds), the note.
 *  - "evidence": refused submissions that carried a valid log signature (rollback, fork, bad
 *    proof), each with the time, the origin, the latest cosigned size and note at that moment,
 *    and the whole request body. Key: kind (1 byte, enum witness_verdict), seq (be64). Value:
 *    version 1, time (be64), latest size (be64), origin length (1) and origin, note length
 *    (be32) and note, then the body.
 *  - "meta": "format" = STATE_FORMAT; per kind of evidence, how many are kept and how many
 *    were dropped; the next evidence seq.
 *
 * Evidence is bounded: at most STATE_EVIDENCE_MAX records of each kind. Forks keep the first
 * ones (the first split view is the proof; anyone who could add more holds the log's key);
 * rollbacks and bad proofs, which anyone can replay from public checkpoints, keep the newest.
 * What is dropped is counted. With 64 KiB bodies and 8 KiB notes that is at most about 55 MiB;
 * the map is STATE_MAP_SIZE.
 *
 * Every write happens in a transaction of the committer thread (committer.c), committed with
 * LMDB's full sync: when state_commit returns 0 the batch is on disk. Functions return 0 or a
 * negative errno (-ENOSPC: the map is full; -EIO: LMDB reports an I/O error or damage;
 * -EBADMSG: a stored value does not decode) and never log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "witness.h"

#define STATE_FORMAT       "evident-witness state 1"
#define STATE_EVIDENCE_MAX 256
#define STATE_MAP_SIZE     (1ull << 30)

struct state;

/* Opens (creating when missing) the state in folder dir, which must exist. read_only opens an
 * existing state without writing (for --logs and --evidence, also while a server runs).
 * Returns 0 and *ret (close with state_close); -ENOENT (read_only, no state there); -EBADMSG
 * (the folder holds another format); errors of mdb_env_open as negative errnos. */
int state_open(const char *dir, bool read_only, struct state **ret);
void state_close(struct state *s); /* takes NULL */

/* A write transaction. One at a time (the committer thread). */
struct state_txn;

int state_begin(struct state *s, struct state_txn **ret);
/* Commits with a full sync and frees t. Returns 0 or -ENOSPC/-EIO (nothing written). */
int state_commit(struct state_txn *t);
void state_abort(struct state_txn *t); /* frees t; takes NULL */

/* The latest checkpoint cosigned for origin, as the transaction sees it (its own writes
 * included). Returns 0 with ret->known false when there is none; -EBADMSG. */
int state_get_log(struct state_txn *t, const char *origin, struct witness_log_state *ret);
/* Records cp as the latest checkpoint cosigned for its origin, with its note and the time. */
int state_put_log(struct state_txn *t, const struct vault_checkpoint *cp, const char *note,
                  size_t note_len, uint64_t time_s);
/* Keeps a refused submission of kind (an evidence verdict) as evidence, with the origin's
 * latest cosigned size and note as the transaction sees them. Returns 0 and *ret_seq (its
 * number) when kept, 1 when the kind's bound dropped it; -EINVAL for a kind that is not
 * evidence or a body over WITNESS_BODY_MAX. */
int state_put_evidence(struct state_txn *t, enum witness_verdict kind, const char *origin,
                       uint64_t time_s, const char *body, size_t body_len, uint64_t *ret_seq);

/* ------------------------------------------------------------------ reading */

struct state_log {
	const char *origin; /* NUL-terminated */
	uint64_t size;
	uint8_t root[VAULT_HASH_LEN];
	uint64_t time_s;
	const char *note; /* not NUL-terminated */
	size_t note_len;
};

struct state_evidence {
	uint64_t seq;
	enum witness_verdict kind;
	uint64_t time_s;
	const char *origin; /* NUL-terminated */
	uint64_t latest_size;
	const char *note; /* the latest cosigned note then (may be empty) */
	size_t note_len;
	const char *body;
	size_t body_len;
};

struct state_counts {
	uint64_t logs;
	uint64_t kept[_WITNESS_VERDICT_MAX];    /* evidence kept, by kind */
	uint64_t dropped[_WITNESS_VERDICT_MAX]; /* evidence dropped by the bound, by kind */
};

/* Calls fn for every log (origin order) or every evidence record (kind, then seq order) in one
 * read snapshot; pointers are valid during the call only. Stops at fn's first negative return
 * and returns it; 0 at the end; -EBADMSG for a value that does not decode. */
int state_each_log(struct state *s, int (*fn)(void *ud, const struct state_log *l), void *ud);
int state_each_evidence(struct state *s, int (*fn)(void *ud, const struct state_evidence *e),
                        void *ud);
int state_counts(struct state *s, struct state_counts *ret);
