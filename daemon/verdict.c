/* SPDX-License-Identifier: Apache-2.0 */
/* Verdict waits (verdict.h). */
#include "verdict.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dispatch.h"
#include "entry.pb-c.h"
#include "evident/invariant.h"
#include "log.h"
#include "realtime.h"
#include "session.h"
#include "writer.h"

#define PENDING_EARLY_NS 2000000 /* answer PENDING this long before the deadline */

struct verdict_wait {
	struct verdict_wait *prev, *next; /* in v->auditing while an audit is to answer */
	bool auditing;
	struct verdict_wait **holder; /* cleared when the wait ends (verdict_wait_hold) */
	struct verdicts *v;
	struct session *s;
	uint64_t record_seq, incident_seq;
	bool durable;      /* record_seq is known */
	bool answered;     /* the Verdict frame was sent */
	bool finished;     /* ended: unlinked, session released */
	bool timer_closed; /* the timer's close callback ran */
	int64_t deadline_ns;
	uv_timer_t timer;
	uint8_t *deferred; /* the verdict entry without record_seq, until it is known */
	size_t deferred_len;
	/* a guard's verdict (verdict_wait_guard), decided when the record was read */
	int guard_action; /* 0: none */
	int64_t guard_decided_ns;
	char **guard_names, **guard_reasons;
	size_t n_guards;
	const char *subject; /* the record's data subject (after request_id), or NULL */
	char request_id[];
};

void verdict_init(struct verdicts *v, uv_loop_t *loop, struct writer *writer)
{
	*v = (struct verdicts){.loop = loop, .writer = writer};
}

bool verdict_idle(const struct verdicts *v)
{
	return v->n_waits == 0;
}

static void maybe_free(struct verdict_wait *vw)
{
	if (vw->finished && vw->timer_closed) {
		free(vw->deferred);
		for (size_t i = 0; i < vw->n_guards; i++) {
			free(vw->guard_names[i]);
			free(vw->guard_reasons[i]);
		}
		free(vw->guard_names);
		free(vw->guard_reasons);
		free(vw);
	}
}

static void wait_closed(uv_handle_t *h)
{
	struct verdict_wait *vw = h->data;
	vw->timer_closed = true;
	maybe_free(vw);
}

static void stop_timer(struct verdict_wait *vw)
{
	if (!uv_is_closing((uv_handle_t *)&vw->timer)) {
		uv_timer_stop(&vw->timer);
		uv_close((uv_handle_t *)&vw->timer, wait_closed);
	}
}

static void unlink_auditing(struct verdict_wait *vw)
{
	struct verdicts *v = vw->v;

	if (!vw->auditing)
		return;
	if (vw->prev)
		vw->prev->next = vw->next;
	else
		v->auditing = vw->next;
	if (vw->next)
		vw->next->prev = vw->prev;
	vw->prev = vw->next = NULL;
	vw->auditing = false;
}

/* Ends the wait: unlinked, the session released; freed once the timer is closed. */
static void finish(struct verdict_wait *vw)
{
	INVARIANT(!vw->finished && vw->v->n_waits > 0);
	unlink_auditing(vw);
	if (vw->holder)
		*vw->holder = NULL;
	vw->v->n_waits--;
	session_unref(vw->s);
	vw->finished = true;
	stop_timer(vw);
	maybe_free(vw);
}

/* Appends record_seq (field 1, varint) to the deferred entry and writes it. */
static void write_deferred(struct verdict_wait *vw)
{
	uint8_t *p = realloc(vw->deferred, vw->deferred_len + 11);
	uint64_t x = vw->record_seq;
	size_t n = vw->deferred_len;

	if (!p) {
		log_error("recording the verdict of record %" PRIu64 ": out of memory", x);
		return;
	}
	p[n++] = 0x08;
	do {
		p[n++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
		x >>= 7;
	} while (x);
	vw->deferred = NULL;
	writer_append_subject(vw->v->writer, VAULT_ENTRY_VERDICT, p, n, true, vw->subject, NULL,
	                      NULL);
}

static void on_deadline(uv_timer_t *t)
{
	struct verdict_wait *vw = t->data;
	struct verdicts *v = vw->v;
	const char *why = "no verdict within the deadline: the audit is still running (its result "
	                  "will be in the vault)";

	/* a guard decided when the record was read: its verdict, not PENDING, before the
	 * deadline even when the commit is slower (the Ack follows) */
	if (vw->guard_action)
		verdict_answer_guard(vw);
	else
		verdict_answer(vw, EVIDENT__V1__VERDICT__ACTION__PENDING, NAN, vw->incident_seq,
		               &why, 1);
	if (v->after_timer)
		v->after_timer(v->after_timer_data);
}

struct verdict_wait *verdict_wait_new(struct verdicts *v, struct session *s, const char *request_id,
                                      const char *subject, int64_t deadline_ns)
{
	size_t rl = strlen(request_id), sl = subject ? strlen(subject) + 1 : 0;
	struct verdict_wait *vw = calloc(1, sizeof(*vw) + rl + 1 + sl);

	if (!vw)
		return NULL;
	memcpy(vw->request_id, request_id, rl + 1);
	if (sl) {
		memcpy(vw->request_id + rl + 1, subject, sl);
		vw->subject = vw->request_id + rl + 1;
	}
	vw->v = v;
	vw->s = s;
	session_ref(s);
	vw->deadline_ns = deadline_ns;
	uv_timer_init(v->loop, &vw->timer);
	vw->timer.data = vw;
	if (deadline_ns) {
		int64_t left = deadline_ns - realtime_ns();
		int64_t early = left / 10 < PENDING_EARLY_NS ? left / 10 : PENDING_EARLY_NS;
		left -= early;
		uv_timer_start(&vw->timer, on_deadline, left > 0 ? (uint64_t)left / 1000000 : 0, 0);
	}
	v->n_waits++;
	return vw;
}

bool verdict_wait_durable(struct verdict_wait *vw, uint64_t record_seq)
{
	vw->record_seq = record_seq;
	vw->durable = true;
	if (!vw->answered)
		return true;
	write_deferred(vw);
	finish(vw);
	return false;
}

void verdict_wait_drop(struct verdict_wait *vw)
{
	finish(vw);
}

void verdict_wait_hold(struct verdict_wait *vw, struct verdict_wait **holder)
{
	vw->holder = holder;
	*holder = vw;
}

void verdict_wait_audit(struct verdict_wait *vw, uint64_t incident_seq)
{
	struct verdicts *v = vw->v;

	vw->holder = NULL;
	vw->incident_seq = incident_seq;
	if (vw->answered || vw->auditing)
		return;
	vw->auditing = true;
	vw->prev = NULL;
	vw->next = v->auditing;
	if (v->auditing)
		v->auditing->prev = vw;
	v->auditing = vw;
}

/* Sends the Verdict and records it: decided_ns is when the action was chosen; guards names the
 * guards whose verdict it is (n_guards may be 0). */
static void answer(struct verdict_wait *vw, int action, double confidence, uint64_t incident_seq,
                   const char *const *reasons, size_t n_reasons, char *const *guards,
                   size_t n_guards, int64_t decided_ns)
{
	Evident__V1__Verdict msg = EVIDENT__V1__VERDICT__INIT;
	Evident__Entry__V1__VerdictEntry e = EVIDENT__ENTRY__V1__VERDICT_ENTRY__INIT;

	if (vw->answered)
		return;
	/* decided after the deadline (the loop ran the timer late): never a late PROCEED or
	 * REVIEW, the client was promised an answer by then */
	static const char *const late = "no verdict within the deadline: it was decided too late "
	                                "(the audit's result is in the vault)";
	bool too_late = action != EVIDENT__V1__VERDICT__ACTION__PENDING && vw->deadline_ns &&
	                decided_ns >= vw->deadline_ns;
	if (too_late) {
		action = EVIDENT__V1__VERDICT__ACTION__PENDING;
		confidence = NAN;
		reasons = (const char *const *)&late;
		n_reasons = 1;
		n_guards = 0;
	}
	/* the promise of the deadline: after it, only PENDING */
	INVARIANT(action == EVIDENT__V1__VERDICT__ACTION__PENDING || !vw->deadline_ns ||
	          decided_ns < vw->deadline_ns);
	vw->answered = true;
	unlink_auditing(vw);
	msg.request_id = vw->request_id;
	msg.has_seq = vw->durable;
	msg.seq = vw->record_seq;
	msg.has_action = true;
	msg.action = action;
	if (isfinite(confidence)) {
		msg.has_confidence = true;
		msg.confidence = confidence;
	}
	if (incident_seq) {
		msg.has_incident_id = true;
		msg.incident_id = incident_seq;
	}
	msg.n_reasons = n_reasons;
	msg.reasons = (char **)reasons;
	msg.n_guards = n_guards;
	msg.guards = (char **)guards;
	bool delivered = session_send_verdict(vw->s, &msg);
	exporter_verdict(vw->s->d, action, too_late, delivered);
	if (action == EVIDENT__V1__VERDICT__ACTION__REVIEW ||
	    action == EVIDENT__V1__VERDICT__ACTION__HOLD)
		log_at(LOG_INFO, LOG_ABOUT(vw->durable ? vw->record_seq : 0, incident_seq, NULL),
		       "record %s of %s: verdict %s%s: %s", vw->request_id, vw->s->client_name,
		       action == EVIDENT__V1__VERDICT__ACTION__HOLD ? "HOLD" : "REVIEW",
		       delivered ? "" : " (not delivered: the connection is gone)",
		       n_reasons ? reasons[0] : "");
	e.has_incident_seq = true;
	e.incident_seq = incident_seq;
	e.client_name = vw->s->client_name;
	e.verdict = &msg;
	e.has_deadline_unix_ns = vw->deadline_ns != 0;
	e.deadline_unix_ns = vw->deadline_ns;
	e.has_decided_unix_ns = true;
	e.decided_unix_ns = decided_ns;
	e.has_delivered = true;
	e.delivered = delivered;
	if (action >= 0 && action < VERDICT_ACTIONS)
		vw->v->answered[action]++;
	stop_timer(vw);
	if (!vw->durable) {
		/* answered before the record is durable: the entry waits for its seq */
		if (dispatch_pack(&e.base, &vw->deferred, &vw->deferred_len) < 0)
			log_error("recording the verdict of %s: out of memory", vw->request_id);
		return;
	}
	e.has_record_seq = true;
	e.record_seq = vw->record_seq;
	uint8_t *buf;
	size_t len;
	if (dispatch_pack(&e.base, &buf, &len) < 0)
		log_error("recording a verdict entry: out of memory");
	else
		writer_append_subject(vw->v->writer, VAULT_ENTRY_VERDICT, buf, len, true,
		                      vw->subject, NULL, NULL);
	finish(vw);
}

void verdict_answer(struct verdict_wait *vw, int action, double confidence, uint64_t incident_seq,
                    const char *const *reasons, size_t n_reasons)
{
	answer(vw, action, confidence, incident_seq, reasons, n_reasons, NULL, 0, realtime_ns());
}

int verdict_wait_guard(struct verdict_wait *vw, int action, int64_t decided_ns,
                       const struct config_guard *const *guards, size_t n)
{
	INVARIANT(!vw->guard_action && n > 0);
	vw->guard_names = calloc(n, sizeof(char *));
	vw->guard_reasons = calloc(n, sizeof(char *));
	if (!vw->guard_names || !vw->guard_reasons)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct config_guard *g = guards[i];
		size_t len = strlen(g->name) + strlen(g->reason) + 16;
		vw->guard_names[i] = strdup(g->name);
		vw->guard_reasons[i] = malloc(len);
		vw->n_guards++;
		if (!vw->guard_names[i] || !vw->guard_reasons[i])
			return -ENOMEM;
		snprintf(vw->guard_reasons[i], len, "guard %s: %s", g->name, g->reason);
	}
	vw->guard_action = action;
	vw->guard_decided_ns = decided_ns;
	return 0;
}

bool verdict_wait_guarded(const struct verdict_wait *vw)
{
	return vw->guard_action != 0;
}

void verdict_answer_guard(struct verdict_wait *vw)
{
	INVARIANT(vw->guard_action);
	answer(vw, vw->guard_action, NAN, 0, (const char *const *)vw->guard_reasons, vw->n_guards,
	       vw->guard_names, vw->n_guards, vw->guard_decided_ns);
}

void verdict_audited(struct verdicts *v, uint64_t incident_seq, int action, double confidence,
                     const char *const *reasons, size_t n_reasons)
{
	for (struct verdict_wait *vw = v->auditing; vw; vw = vw->next)
		if (vw->incident_seq == incident_seq) {
			verdict_answer(vw, action, confidence, incident_seq, reasons, n_reasons);
			return;
		}
}
