/* SPDX-License-Identifier: Apache-2.0 */
/* The auditor's own state: a small LMDB environment in the state folder (data.mdb, lock.mdb),
 * never a mirror. Three databases:
 *
 *  - "alerts": every anomaly recorded, in order. Key: seq (be64). Value: version 1 (1 byte),
 *    time (be64, ns since the epoch), kind (1 byte, enum alert_kind), origin length (1) and
 *    origin ("" for a message whose subject names no origin), message length (be16) and
 *    message (one line), then the evidence: the bytes of the message that contradicted the
 *    mirror or was refused (at most ASTATE_EVIDENCE_MAX; empty for conditions).
 *  - "origins": per origin whose mirror stopped taking entries. Key: the origin's bytes.
 *    Value: version 1, flags (1 byte, ASTATE_STOPPED), the seq of the alert that stopped it
 *    (be64), the first alert seq still open (be64: alerts of the origin below it were
 *    cleared by an operator).
 *  - "meta": "format" = ASTATE_FORMAT; "alerts.next" (be64).
 *
 * Each write is its own transaction committed with LMDB's full sync: when it returns 0 the
 * alert is on disk. Alerts are rare (the auditor bounds how many of one kind it writes per
 * origin and counts the rest). Functions return 0 or a negative errno (-ENOSPC map full, -EIO
 * LMDB error, -EBADMSG a stored value does not decode) and never log. One thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ASTATE_FORMAT       "evident-auditor state 1"
#define ASTATE_EVIDENCE_MAX (1u << 20)
#define ASTATE_MAP_SIZE     (1ull << 32)
#define ASTATE_MSG_MAX      1024

/* What went wrong. The numbers are stored; never reuse one. */
enum alert_kind {
	ALERT_FORK = 1,           /* an entry or checkpoint contradicting the mirror */
	ALERT_ROLLBACK = 2,       /* a signed checkpoint of a smaller tree the mirror contradicts */
	ALERT_GAP = 3,            /* entries missing for longer than the gap bound */
	ALERT_BAD_SIGNATURE = 4,  /* a checkpoint the origin's key did not sign */
	ALERT_UNKNOWN_ORIGIN = 5, /* messages of an origin the trust file does not list */
	ALERT_MALFORMED = 6,      /* a message the fleet decoders refused, or on a wrong subject */
	ALERT_SILENT = 7,         /* no checkpoint for --silent-after */
	ALERT_MIRROR = 8,         /* the mirror cannot be written (disk full, permissions) */
	ALERT_BLOB = 9,           /* a blob whose chunks do not make its hash */
	_ALERT_KIND_MAX,
};

/* "fork", "rollback", "gap", "bad-signature", "unknown-origin", "malformed", "silent",
 * "mirror", "blob"; NULL out of range. Static. */
const char *alert_kind_name(int kind);

enum { ASTATE_STOPPED = 1 << 0 };

struct astate;

/* Opens (creating when missing) the state in folder dir, which must exist. read_only opens an
 * existing one without writing. Returns 0 and *ret; -ENOENT (read_only, none there); -EBADMSG
 * (another format); errors of mdb_env_open. */
int astate_open(const char *dir, bool read_only, struct astate **ret);
void astate_close(struct astate *s); /* takes NULL */

struct astate_alert {
	uint64_t seq; /* filled by astate_alert_add and by reading */
	uint64_t time_ns;
	enum alert_kind kind;
	const char *origin; /* NUL-terminated, <= 255 bytes */
	const char *msg;    /* NUL-terminated, < ASTATE_MSG_MAX bytes (longer is cut) */
	const uint8_t *evidence;
	size_t evidence_len; /* cut to ASTATE_EVIDENCE_MAX */
};

/* Records an alert. Returns 0 and *ret_seq (may be NULL). */
int astate_alert_add(struct astate *s, const struct astate_alert *a, uint64_t *ret_seq);

struct astate_origin {
	unsigned flags;      /* ASTATE_STOPPED */
	uint64_t stopped_by; /* the alert seq that stopped the mirror */
	uint64_t open_from;  /* alerts of the origin with seq < open_from are cleared */
};

/* Returns 0 and *ret; -ENOENT when the origin has no record (nothing stopped or cleared). */
int astate_origin_get(struct astate *s, const char *origin, struct astate_origin *ret);
int astate_origin_put(struct astate *s, const char *origin, const struct astate_origin *o);

/* Calls fn for every alert with seq >= from in seq order, in one snapshot; pointers are valid
 * during the call only. Stops at fn's first nonzero return and returns it; 0 at the end;
 * -EBADMSG for a value that does not decode. */
int astate_each_alert(struct astate *s, uint64_t from,
                      int (*fn)(void *ud, const struct astate_alert *a), void *ud);
/* Calls fn for every origin record (origin order). Same conventions. */
int astate_each_origin(struct astate *s,
                       int (*fn)(void *ud, const char *origin, const struct astate_origin *o),
                       void *ud);

/* Decodes a stored alert value (exposed for the unit test). Returns 0 or -EBADMSG; *ret
 * borrows from val; origin and msg are copied NUL-terminated into the buffers. */
int astate_alert_decode(const uint8_t *val, size_t len, uint64_t seq, struct astate_alert *ret,
                        char origin[256], char msg[ASTATE_MSG_MAX]);
