/* SPDX-License-Identifier: Apache-2.0 */
/* Records and reviews (ingest.h): the request path from a decoded frame to its Ack. */
#include "ingest.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "daemon.h"
#include "dispatch.h"
#include "entry_key.h"
#include "guards.h"
#include "holds.h"
#include "incident.h"
#include "log.h"
#include "realtime.h"
#include "registration.h"
#include "retry.h"
#include "session.h"
#include "triggers.h"
#include "verdict.h"
#include "writer.h"

#define E(x) EVIDENT__V1__ERROR__CODE__##x

static void answer_now(struct verdict_wait *vw, int action, const char *why)
{
	verdict_answer(vw, action, NAN, 0, &why, 1);
}

struct entry_job {
	struct job job;
	uint8_t *payload;
	int type;
	struct firing *fired;    /* trigger firings, written once the record's seq is known */
	struct model_info *mi;   /* records: the model version */
	long res_slot;           /* records: reservoir slot taken (-1: none) */
	double *res_x;           /* ... and the features to put there */
	struct verdict_wait *vw; /* records: a verdict is wanted */
	uint64_t incident_id;    /* reviews: the incident it reviews */
	uint64_t received_ns;    /* records: read (exporter_now_ns), for the ack latency */
	const char *subject;     /* records: the data subject (in the same allocation), or NULL */
	char request_id[];       /* the dedup key is (session's client name, request_id) */
};

static void entry_job_free(struct entry_job *ej)
{
	free(ej->payload);
	free(ej->res_x);
	triggers_firings_free(ej->fired);
	free(ej);
}

/* The vault answered "stored before": acknowledge only a true retry of the entry it names
 * (retry.h). Otherwise answers the error itself and returns false. */
static bool retry_confirmed(struct session *s, struct entry_job *ej)
{
	struct job *j = &ej->job;
	char why[400];
	int rv = retry_check(s->d->vault, ej->type, j->res1.seq, ej->payload, j->in1.payload_len,
	                     s->client_name, ej->request_id, why, sizeof(why));

	if (rv == RETRY_SAME)
		return true;
	if (rv < 0) {
		snprintf(why, sizeof(why),
		         "not acknowledged: reading the stored entry %" PRIu64 ": %s", j->res1.seq,
		         strerror(-rv));
		log_error("retry %s of %s: %s", ej->request_id, s->client_name, why);
	} else {
		retry_notice(&s->d->writer, rv, j->res1.seq, s->client_name, ej->request_id,
		             ej->type, ej->payload, j->in1.payload_len, why);
		if (rv == RETRY_MISMATCH)
			log_error("retry %s of %s not acknowledged: %s (run evidentctl verify)",
			          ej->request_id, s->client_name, why);
		else
			log_warning("client %s: %s", s->client_name, why);
	}
	s->d->stats.refused++;
	if (!s->closing)
		session_reply_error(s, rv == RETRY_CONFLICT ? E(CONFLICT) : E(INTERNAL), why,
		                    ej->request_id);
	return false;
}

static void entry_done(struct job *j)
{
	struct entry_job *ej = (struct entry_job *)j;
	struct session *s = j->owner;
	struct daemon *d = s->d;

	session_discharge(s, j->cost);
	if (j->rc == 0 && ej->type == VAULT_ENTRY_REVIEW && ej->incident_id)
		holds_incident_reviewed(d->holds, ej->incident_id); /* durable (now or before) */
	if (j->rc == 0 && j->res1.duplicate && !retry_confirmed(s, ej)) {
		if (ej->vw)
			verdict_wait_drop(ej->vw);
	} else if (j->rc == 0) {
		if (!s->closing)
			session_reply_ack(s, ej->request_id, &j->res1);
		if (ej->received_ns)
			metric_observe(d->ex.ack_latency,
			               (double)(exporter_now_ns() - ej->received_ns) / 1e9);
		if (!j->res1.duplicate && ej->type == VAULT_ENTRY_RECORD)
			metric_inc(d->ex.records);
		if (j->res1.duplicate) {
			d->stats.duplicates++;
			metric_inc(d->ex.duplicates);
		} else if (ej->res_x)
			registry_reservoir_fill(ej->mi, ej->res_slot, ej->res_x, j->res1.seq);
		struct verdict_wait *vw = ej->vw;
		if (vw && !verdict_wait_durable(vw, j->res1.seq))
			vw = NULL; /* answered PENDING at its deadline already */
		if (vw && verdict_wait_guarded(vw)) {
			/* A guard's action is at least REVIEW and an audit's at most REVIEW: the
			 * guard's verdict is the stricter, so it is the one verdict, sent right
			 * after the Ack. A retry gets it again (the constraint holds for it too,
			 * and the first one may have been lost with the first Ack). A trigger's
			 * incident (or the guard's own, audit = yes) is still written and
			 * audited; its audit's verdict goes only to the vault. */
			verdict_answer_guard(vw);
			if (ej->fired && !j->res1.duplicate)
				incident_submit(d, ej->fired, j->res1.seq, ej->mi, ej->subject,
				                NULL);
			if (!j->res1.duplicate)
				ej->fired = NULL;
		} else if (j->res1.duplicate) {
			if (vw)
				answer_now(
				    vw, EVIDENT__V1__VERDICT__ACTION__PENDING,
				    "a retry of a stored record: its verdict went to the first "
				    "delivery (see the vault's verdict entries)");
		} else if (ej->fired) {
			incident_submit(d, ej->fired, j->res1.seq, ej->mi, ej->subject, vw);
			ej->fired = NULL;
		} else if (vw) {
			answer_now(vw, EVIDENT__V1__VERDICT__ACTION__PROCEED,
			           "no trigger rule fired");
		}
	} else {
		char msg[160];
		if (ej->vw)
			verdict_wait_drop(ej->vw);
		if (j->rc == -ENOSPC)
			d->stats.vault_full++;
		snprintf(msg, sizeof(msg), "not stored: %s",
		         j->rc == -ENOSPC ? "the vault is full (disk or map); retry later"
		                          : strerror(-j->rc));
		if (j->rc != -ENOSPC)
			log_error("writing %s %s of %s failed: %s", vault_entry_type_name(ej->type),
			          ej->request_id, s->client_name, strerror(-j->rc));
		if (!s->closing)
			session_reply_error(s, dispatch_write_error(j->rc), msg, ej->request_id);
	}
	entry_job_free(ej);
	session_unref(s);
}

/* What a record or a review carries beside its entry until it is durable. */
struct record_extras {
	struct model_info *mi;
	long res_slot;
	double *res_x;           /* taken */
	struct verdict_wait *vw; /* taken */
	const char *subject;     /* the record's data subject (copied), or NULL */
	uint64_t incident_id;    /* a review's incident */
	uint64_t received_ns;    /* a record's, for the ack latency */
	bool deadline;           /* a verdict is due by a deadline: commit off the loop */
};

/* Queues one entry with the (client, request id) dedup key. Takes payload, fired and the
 * extras' buffer (x may be NULL). */
static void submit_entry(struct session *s, int type, uint8_t *payload, size_t len,
                         const char *request_id, struct firing *fired,
                         const struct record_extras *x)
{
	size_t rlen = strlen(request_id), slen = x && x->subject ? strlen(x->subject) + 1 : 0;
	struct entry_job *ej = malloc(sizeof(*ej) + rlen + 1 + slen);

	if (!ej) {
		free(payload);
		triggers_firings_free(fired);
		if (x) {
			free(x->res_x);
			if (x->vw)
				verdict_wait_drop(x->vw);
		}
		session_reply_error(s, E(INTERNAL), "out of memory", request_id);
		return;
	}
	memset(ej, 0, sizeof(*ej));
	ej->fired = fired;
	ej->res_slot = -1;
	memcpy(ej->request_id, request_id, rlen + 1);
	if (x) {
		ej->mi = x->mi;
		ej->res_slot = x->res_slot;
		ej->res_x = x->res_x;
		ej->vw = x->vw;
		ej->incident_id = x->incident_id;
		ej->received_ns = x->received_ns;
		ej->job.off_loop = x->deadline; /* the deadline's timer must be free to fire */
		if (slen) {
			char *subject = ej->request_id + rlen + 1;
			memcpy(subject, x->subject, slen);
			ej->subject = subject;
		}
	}
	ej->payload = payload;
	ej->type = type;
	ej->job.n = 1;
	ej->job.in = &ej->job.in1;
	ej->job.res = &ej->job.res1;
	ej->job.in1 = (struct vault_entry_in){.type = (uint16_t)type,
	                                      .payload = payload,
	                                      .payload_len = len,
	                                      .dedup_client = s->client_name, /* outlives ej */
	                                      .dedup_request = ej->request_id,
	                                      .subject = ej->subject};
	ej->job.done = entry_done;
	ej->job.owner = s;
	ej->job.cost = len;
	session_charge(s, ej->job.cost);
	writer_submit(&s->d->writer, &ej->job);
}

static void record(struct session *s, const uint8_t *body, size_t len,
                   const Evident__V1__Record *rec)
{
	struct daemon *d = s->d;
	const struct model_info *mi;
	char err[256];
	uint8_t *payload;
	size_t plen;
	dispatch_code code;
	uint64_t received_ns = exporter_now_ns();

	if (d->queued_bytes > d->cfg.max_queue) {
		d->stats.overloaded++;
		session_reply_error(s, E(OVERLOADED), "the daemon's queue is full; retry later",
		                    rec->request_id);
		return;
	}
	code = dispatch_check_record(rec, &d->models, &mi, err, sizeof(err));
	if (code) {
		d->stats.refused++;
		log_debug("session %llu (%s): record %s refused: %s", (unsigned long long)s->id,
		          s->client_name, rec->request_id ? rec->request_id : "", err);
		session_reply_error(s, code, err, rec->request_id);
		return;
	}
	if (dispatch_record_payload(body, len, rec, s->client_name, &s->peer, realtime_ns(),
	                            &payload, &plen) < 0) {
		session_reply_error(s, E(INTERNAL), "out of memory", rec->request_id);
		return;
	}
	d->stats.records++;
	struct model_info *m = (struct model_info *)mi; /* its reservoir changes */
	long slot = registry_reservoir_pick(m);
	double *res_x = NULL;
	if (slot >= 0 && (res_x = malloc((rec->n_features ? rec->n_features : 1) * sizeof(double))))
		memcpy(res_x, rec->features, rec->n_features * sizeof(double));
	struct firing *fired = NULL;
	int64_t now = realtime_ns();
	if (d->n_triggers)
		fired = triggers_evaluate(d->triggers, d->n_triggers, mi, rec, s->client_name,
		                          (uint64_t)now, &d->stats.incidents_lost);
	struct guard_catch caught = {0};
	if (d->guards)
		guards_evaluate(d->guards, mi, rec, s->client_name, (uint64_t)now, &caught, &fired,
		                &d->stats.incidents_lost);
	for (struct firing *f = fired; f; f = f->next)
		d->stats.incidents++;
	struct record_extras x = {.mi = m,
	                          .res_slot = res_x ? slot : -1,
	                          .res_x = res_x,
	                          .subject = rec->subject,
	                          .received_ns = received_ns,
	                          .deadline = rec->verdict_deadline_ms != 0};
	/* a guard's verdict is always sent (it is a constraint), with or without a deadline */
	if (rec->verdict_deadline_ms || caught.n)
		x.vw = verdict_wait_new(&d->verdicts, s, rec->request_id, rec->subject,
		                        rec->verdict_deadline_ms
		                            ? now + (int64_t)rec->verdict_deadline_ms * 1000000
		                            : 0);
	if (caught.n) {
		d->stats.guarded++;
		d->stats.guarded_hold += caught.action == EVIDENT__V1__VERDICT__ACTION__HOLD;
		if (!x.vw ||
		    verdict_wait_guard(x.vw, caught.action, now, caught.guards, caught.n) < 0) {
			/* never store a guarded record without its verdict: the client retries */
			if (x.vw)
				verdict_wait_drop(x.vw);
			free(payload);
			free(res_x);
			triggers_firings_free(fired);
			session_reply_error(s, E(INTERNAL), "out of memory", rec->request_id);
			return;
		}
	}
	submit_entry(s, VAULT_ENTRY_RECORD, payload, plen, rec->request_id, fired, &x);
}

/* A review by record_seq must name a record entry (a guarded record has no incident to
 * name). Returns true, or answers BAD_MESSAGE itself. */
static bool reviewed_record_exists(struct session *s, uint64_t seq, const char *request_id)
{
	struct vault_reader *r;
	struct vault_entry e;
	char why[160];
	int rc = vault_reader_begin(s->d->vault, &r);

	if (rc < 0) {
		session_reply_error(s, dispatch_write_error(rc), strerror(-rc), request_id);
		return false;
	}
	uint64_t size = vault_reader_size(r);
	rc = seq < size ? vault_get(r, seq, &e) : -ENOENT;
	if (rc == -ENOENT)
		snprintf(why, sizeof(why),
		         "review: no entry %" PRIu64 " (the vault holds %" PRIu64 " entries)", seq,
		         size);
	else if (rc < 0)
		snprintf(why, sizeof(why), "review: reading entry %" PRIu64 ": %s", seq,
		         strerror(-rc));
	else if (e.leaf.type != VAULT_ENTRY_RECORD)
		snprintf(why, sizeof(why),
		         "review: entry %" PRIu64 " is not a record (it is a %s entry): review "
		         "an incident by incident_id",
		         seq, vault_entry_type_name(e.leaf.type));
	vault_reader_end(r);
	if (rc == 0 && e.leaf.type == VAULT_ENTRY_RECORD)
		return true;
	session_reply_error(s, rc < 0 && rc != -ENOENT ? E(INTERNAL) : E(BAD_MESSAGE), why,
	                    request_id);
	return false;
}

static void review(struct session *s, const Evident__V1__Review *rv)
{
	char rid[64];
	const char *request_id = rv->request_id;
	uint8_t *payload;
	size_t plen;

	if (rv->has_incident_id == rv->has_record_seq || !rv->reviewer || !*rv->reviewer ||
	    !rv->outcome || !*rv->outcome || strlen(rv->reviewer) > 128 ||
	    strlen(rv->outcome) > 64 || (rv->note && strlen(rv->note) > 16384) ||
	    (request_id && strlen(request_id) > DISPATCH_REQUEST_MAX)) {
		session_reply_error(
		    s, E(BAD_MESSAGE),
		    "review needs one of incident_id and record_seq (a guarded record), reviewer "
		    "(<= 128 bytes) and outcome (<= 64 bytes); note <= 16 KiB",
		    request_id);
		return;
	}
	if (rv->has_record_seq && !reviewed_record_exists(s, rv->record_seq, request_id))
		return;
	request_id = entry_review_request_id(rv, rid);
	if (dispatch_review_payload(rv, s->client_name, realtime_ns(), &payload, &plen) < 0) {
		session_reply_error(s, E(INTERNAL), "out of memory", request_id);
		return;
	}
	s->d->stats.reviews++;
	metric_inc(s->d->ex.reviews);
	struct record_extras x = {.res_slot = -1, .incident_id = rv->incident_id};
	submit_entry(s, VAULT_ENTRY_REVIEW, payload, plen, request_id, NULL, &x);
}

void ingest_frame(struct session *s, const uint8_t *body, size_t len, const Evident__V1__Frame *f)
{
	switch (f->body_case) {
	case EVIDENT__V1__FRAME__BODY_RECORD:
		record(s, body, len, f->record);
		break;
	case EVIDENT__V1__FRAME__BODY_REGISTER_MODEL:
		registration_begin(s, f->register_model);
		break;
	case EVIDENT__V1__FRAME__BODY_ARTIFACT_CHUNK:
		registration_chunk(s, f->artifact_chunk);
		break;
	case EVIDENT__V1__FRAME__BODY_REVIEW:
		review(s, f->review);
		break;
	case EVIDENT__V1__FRAME__BODY_HOLD:
		admin_hold(s, f->hold);
		break;
	case EVIDENT__V1__FRAME__BODY_RELEASE:
		admin_release(s, f->release);
		break;
	case EVIDENT__V1__FRAME__BODY_ERASE:
		admin_erase(s, f->erase);
		break;
	default:
		session_reply_error(s, E(BAD_MESSAGE),
		                    "this frame is sent by the daemon, not by clients", NULL);
		break;
	}
}
