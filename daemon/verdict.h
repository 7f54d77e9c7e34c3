/* SPDX-License-Identifier: Apache-2.0 */
/* Verdict waits: a record sent with verdict_deadline_ms waits here for its Verdict. The wait
 * starts when the record is read; a timer answers PENDING just before the deadline, never
 * later; otherwise the record's commit (no rule fired: PROCEED), its incident (rate limited,
 * not recorded: PENDING) or its audit's fast phase (PROCEED or REVIEW) answers. A record a
 * guard caught (guards.h) waits here too, with or without a deadline: its verdict (REVIEW or
 * HOLD) is decided when it is read and sent with its Ack, or at the deadline if the commit
 * is later. Every verdict sent is recorded as a verdict entry once the record's seq is known.
 * Loop thread only.
 *
 * A wait holds a reference on its session (session.h) until it ends; a Verdict for a
 * connection that closed meanwhile is recorded as not delivered. Failures to record (out of
 * memory, the writer's errors) are logged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct config_guard;
struct session;
struct writer;
struct verdict_wait;

struct verdicts {
	uv_loop_t *loop;
	struct writer *writer;           /* verdict entries are appended through it */
	struct verdict_wait *auditing;   /* waits whose verdict an audit will give */
	size_t n_waits;                  /* not ended yet */
	void (*after_timer)(void *data); /* after a deadline answered: send the replies */
	void *after_timer_data;
#define VERDICT_ACTIONS 5
	uint64_t answered[VERDICT_ACTIONS]; /* by evident.v1.Verdict.Action */
};

/* Ready to serve waits on loop, recording through writer. */
void verdict_init(struct verdicts *v, uv_loop_t *loop, struct writer *writer);
/* True when no wait is open (each one ended has its verdict entry queued to the writer). */
bool verdict_idle(const struct verdicts *v);

/* A record that asks for a verdict was received: its deadline timer starts now, before the
 * record is durable, so PENDING is never late even when the commit is slow (deadline_ns 0: no
 * deadline, for a guarded record sent without one: no timer). Takes a reference on s until
 * the wait ends. The verdict entry carries the record's data subject (may be NULL; copied).
 * Returns NULL when out of memory. */
struct verdict_wait *verdict_wait_new(struct verdicts *v, struct session *s, const char *request_id,
                                      const char *subject, int64_t deadline_ns);
/* The record is durable at record_seq. Returns true when the wait goes on (the caller answers
 * it or hands it to an audit); false when it was answered already (PENDING at the deadline):
 * its verdict entry is written now and the wait has ended. */
bool verdict_wait_durable(struct verdict_wait *vw, uint64_t record_seq);
/* The record was not stored: the wait ends without a verdict entry. */
void verdict_wait_drop(struct verdict_wait *vw);
/* *holder = vw, set to NULL when the wait ends: a durable record's wait can be answered (and
 * end) at its deadline while its incident is still being written. One holder at a time. */
void verdict_wait_hold(struct verdict_wait *vw, struct verdict_wait **holder);
/* The audit of incident incident_seq (queued) gives this wait its verdict (verdict_audited);
 * the holder is released. */
void verdict_wait_audit(struct verdict_wait *vw, uint64_t incident_seq);

/* Answers: action is evident.v1.Verdict.Action; reasons are strings (copied). Nothing when
 * the wait was answered already. A PROCEED or REVIEW decided at or after the deadline is sent
 * as PENDING. The verdict entry is written once the record's seq is known, and the wait ends
 * then. */
void verdict_answer(struct verdict_wait *vw, int action, double confidence, uint64_t incident_seq,
                    const char *const *reasons, size_t n_reasons);
/* The guards guards[0..n) caught the record when it was read (decided_ns): action
 * (evident.v1.Verdict.Action, REVIEW or HOLD) is its verdict, with each guard's name in
 * Verdict.guards and "guard NAME: REASON" in Verdict.reasons (copied). Once per wait. Returns
 * 0 or -ENOMEM (the wait stays usable without it). */
int verdict_wait_guard(struct verdict_wait *vw, int action, int64_t decided_ns,
                       const struct config_guard *const *guards, size_t n);
bool verdict_wait_guarded(const struct verdict_wait *vw);
/* Answers with the guards' verdict (verdict_wait_guard; nothing if answered already). It
 * was decided before the deadline, so it is never turned into PENDING. */
void verdict_answer_guard(struct verdict_wait *vw);

/* The audit of incident_seq decided (its fast phase), or ended without deciding: answers the
 * wait verdict_wait_audit gave it, if that wait is still open; nothing otherwise. */
void verdict_audited(struct verdicts *v, uint64_t incident_seq, int action, double confidence,
                     const char *const *reasons, size_t n_reasons);
