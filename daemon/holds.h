/* SPDX-License-Identifier: Apache-2.0 */
/* What retention and erasure must never prune: the legal holds in force (hold entries not
 * released) and the open incidents (status OPEN, no review yet). Kept in memory, rebuilt at
 * start from the vault (holds_load), consulted by the writer thread before every prune.
 *
 * An entry's payload is held when
 *  - an active hold lists its seq (HoldEntry.seqs: the entry a Hold's seq names; for a Hold's
 *    incident_id the incident, its record, and the audits and verdicts naming them when the
 *    hold was placed);
 *  - it is about the record of an incident under an active hold or of an open incident: the
 *    record itself, every incident naming it (IncidentEntry.record_seq), and the audits and
 *    verdicts naming it (their record_seq), written before the hold or after it;
 *  - it is a review of an incident under an active hold, or a notice about an entry or
 *    incident so held (NoticeEntry.entry_seq, incident_seq).
 *
 * Threads: the loop thread reports incidents and reviews; the writer thread places and releases
 * holds inside the jobs that append their entries (so that a prune queued after a hold's entry
 * sees the hold) and asks what is held; one mutex guards everything. Every update errs on the
 * side of keeping: an incident holds its record from the moment it is queued for writing, and
 * a review or a release frees what it covered only once it is durable; when memory runs out
 * for an update, everything is held (nothing is pruned) until the next start rebuilds the
 * holds from the vault (holds_degraded says so). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vault.h"

#define HOLDS_NONE UINT64_MAX /* no seq */

struct holds;

/* Returns 0 and *ret (free with holds_free), or -ENOMEM. */
int holds_new(struct holds **ret);
void holds_free(struct holds *h); /* takes NULL */

/* Rebuilds the holds from the vault's hold and release entries and the open incidents from its
 * incident and review entries, in seq order. Before the writer starts. Returns 0; -EBADMSG
 * when an entry of these types does not decode (err names its seq); a vault error; -ENOMEM. */
int holds_load(struct holds *h, struct vault *v, char *err, size_t err_size);

/* ------------------------------------------------------------------ writer thread */

/* The seq of the hold entry of the active hold hold_id. Returns 0 or -ENOENT. */
int holds_find(struct holds *h, const char *hold_id, uint64_t *ret_seq);

/* What a Hold covers when it is placed, read through r: for an entry (incident false) that
 * seq; for an incident, its entry, its record, the audits naming it and the verdicts naming its
 * record. Returns 0 with the seqs (sorted, malloc'd) and the incident's record (HOLDS_NONE for
 * an entry, or when the incident's payload is gone); -ENOENT (no such entry) or -EINVAL (the
 * entry is not an incident) with the reason in why ("hold: no entry 1234 (the vault holds 99
 * entries)"); a vault error; -ENOMEM. */
int holds_resolve(struct vault_reader *r, bool incident, uint64_t seq, uint64_t **ret_seqs,
                  size_t *ret_n, uint64_t *ret_record, char *why, size_t why_size);

/* Puts hold_id (not active: holds_find) in force: its hold entry is hold_seq, it covers
 * seqs[0..n) (sorted; taken; NULL with n > 0 when the caller ran out of memory copying them:
 * then everything is held until the next start) and, for an incident hold, everything about
 * incident_seq and its record record_seq (HOLDS_NONE when unknown or not an incident hold). */
void holds_place(struct holds *h, const char *hold_id, uint64_t hold_seq, uint64_t *seqs, size_t n,
                 uint64_t incident_seq, uint64_t record_seq);
/* Ends hold_id (its release is durable). Returns 0 or -ENOENT. */
int holds_release(struct holds *h, const char *hold_id);

/* Whether the payload of entry seq (of the given type, payload[0..len) as stored) is held.
 * why (may be NULL) receives what holds it: the hold_id, or "open incident SEQ". Any thread. */
bool holds_covers(struct holds *h, uint64_t seq, uint16_t type, const uint8_t *payload, size_t len,
                  char *why, size_t why_size);

/* The smallest seq a lifted hold covered since the last call (a release, a review, an
 * incident that was not written), HOLDS_NONE when nothing was lifted: retention, which skips
 * held entries, looks at the entries from there again. Any thread. */
uint64_t holds_take_lifted(struct holds *h);

/* Active holds and open incidents (status, logs). Any thread. */
void holds_counts(struct holds *h, size_t *ret_holds, size_t *ret_open_incidents);
/* True once an update ran out of memory: everything is held until the next start. */
bool holds_degraded(struct holds *h);

/* ------------------------------------------------------------------ loop thread */

/* An OPEN incident on record_seq is queued for writing: its record is held from now. */
void holds_incident_queued(struct holds *h, uint64_t record_seq);
/* That incident is durable at incident_seq (written) or was not written (the hold it took
 * ends). */
void holds_incident_written(struct holds *h, uint64_t record_seq, uint64_t incident_seq,
                            bool written);
/* A review of incident_seq is durable: the incident is no longer open. */
void holds_incident_reviewed(struct holds *h, uint64_t incident_seq);
