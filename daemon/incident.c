/* SPDX-License-Identifier: Apache-2.0 */
/* Incident submission (incident.h). */
#include "incident.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "entry.pb-c.h"
#include "holds.h"
#include "log.h"
#include "triggers.h"
#include "verdict.h"
#include "workers.h"
#include "writer.h"

struct incident_job {
	struct job job;
	struct daemon *d;
	uint8_t **payloads;
	bool *open;
	uint64_t record_seq;
	char *subject; /* the record's, or NULL */
	const struct model_info *mi;
	struct verdict_wait *vw; /* held: NULL once the wait ended (answered at its deadline) */
};

static void incident_job_free(struct incident_job *ij)
{
	for (size_t i = 0; i < ij->job.n; i++)
		free(ij->payloads[i]);
	free(ij->payloads);
	free(ij->open);
	free(ij->subject);
	free(ij->job.in);
	free(ij->job.res);
	free(ij);
}

static void pending(struct verdict_wait *vw, uint64_t incident_seq, const char *why)
{
	verdict_answer(vw, EVIDENT__V1__VERDICT__ACTION__PENDING, NAN, incident_seq, &why, 1);
}

/* An incident entry is durable: counted by trigger and status, and logged with its seq, its
 * record's and its model (journal fields: journalctl EVIDENT_INCIDENT=SEQ). */
static void incident_written(struct daemon *d, const struct vault_entry_in *in,
                             const struct vault_append_result *res, uint64_t record_seq)
{
	Evident__Entry__V1__IncidentEntry *e =
	    evident__entry__v1__incident_entry__unpack(NULL, in->payload_len, in->payload);
	char model[300];

	if (!e)
		return;
	bool limited = e->status == EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__RATE_LIMITED;
	const char *status = e->recovered ? "recovered" : limited ? "rate_limited" : "open";
	exporter_incident(d, e->trigger ? e->trigger : "", status);
	snprintf(model, sizeof(model), "%s@%s", e->model_id ? e->model_id : "",
	         e->model_version ? e->model_version : "");
	log_at(limited ? LOG_DEBUG : LOG_NOTICE, LOG_ABOUT(record_seq, res->seq, model),
	       "incident %" PRIu64 ": %s %s fired on record %" PRIu64 " of %s (%s)", res->seq,
	       e->guard ? "guard" : "trigger", e->trigger ? e->trigger : "", record_seq, model,
	       status);
	evident__entry__v1__incident_entry__free_unpacked(e, NULL);
}

/* The incidents are durable: the OPEN ones are audited. */
static void incident_done(struct job *j)
{
	struct incident_job *ij = (struct incident_job *)j;
	struct daemon *d = ij->d;
	struct verdict_wait *vw = ij->vw;

	for (size_t i = 0; i < j->n; i++)
		if (ij->open[i])
			holds_incident_written(d->holds, ij->record_seq,
			                       j->rc < 0 ? 0 : j->res[i].seq, j->rc == 0);
	for (size_t i = 0; j->rc == 0 && i < j->n; i++)
		incident_written(d, &j->in[i], &ij->job.res[i], ij->record_seq);
	if (j->rc < 0) {
		d->stats.incidents_lost += j->n;
		metric_add(d->ex.incidents_lost, j->n);
		log_error("recording %zu incident(s) failed: %s", j->n, strerror(-j->rc));
		if (vw)
			pending(vw, 0, "the incident could not be recorded: no audit");
	} else {
		for (size_t i = 0; i < j->n; i++) {
			if (!ij->open[i])
				continue;
			const char *why = workers_submit(&d->workers, ij->mi, j->res[i].seq,
			                                 ij->payloads[i], j->in[i].payload_len);
			if (vw && why)
				pending(vw, j->res[i].seq, why);
			else if (vw)
				verdict_wait_audit(vw, j->res[i].seq);
			vw = NULL;
		}
		if (vw)
			pending(vw, 0, "the trigger fired over its rate limit: not audited");
	}
	incident_job_free(ij);
}

void incident_submit(struct daemon *d, struct firing *f, uint64_t record_seq,
                     const struct model_info *mi, const char *subject, struct verdict_wait *vw)
{
	size_t n = 0;
	for (struct firing *x = f; x; x = x->next)
		n++;
	struct incident_job *ij = calloc(1, sizeof(*ij));
	if (ij) {
		ij->payloads = calloc(n, sizeof(uint8_t *));
		ij->open = calloc(n, sizeof(bool));
		ij->job.in = calloc(n, sizeof(struct vault_entry_in));
		ij->job.res = calloc(n, sizeof(struct vault_append_result));
		ij->subject = subject ? strdup(subject) : NULL;
	}
	if (!ij || !ij->payloads || !ij->open || !ij->job.in || !ij->job.res ||
	    (subject && !ij->subject)) {
		d->stats.incidents_lost += n;
		log_error("recording %zu incident(s) for record %llu: out of memory", n,
		          (unsigned long long)record_seq);
		if (ij)
			incident_job_free(ij);
		triggers_firings_free(f);
		if (vw)
			pending(vw, 0, "out of memory recording the incident");
		return;
	}
	ij->d = d;
	ij->mi = mi;
	ij->record_seq = record_seq;
	if (vw)
		verdict_wait_hold(vw, &ij->vw);
	for (struct firing *x = f; x; x = x->next) {
		size_t len;
		uint8_t *p = triggers_firing_payload(x, record_seq, &len);
		ij->open[ij->job.n] = x->open;
		ij->payloads[ij->job.n] = p;
		/* held from now: an erasure or retention batch queued after this job must not
		 * prune the record an open incident names */
		if (x->open)
			holds_incident_queued(d->holds, record_seq);
		/* evidence about a record already stored: it may use the disk reserve */
		ij->job.in[ij->job.n++] = (struct vault_entry_in){.type = VAULT_ENTRY_INCIDENT,
		                                                  .payload = p,
		                                                  .payload_len = len,
		                                                  .reserved = true,
		                                                  .subject = ij->subject};
	}
	triggers_firings_free(f);
	ij->job.done = incident_done;
	ij->job.off_loop = vw != NULL; /* its verdict's deadline timer stays free to fire */
	writer_submit(&d->writer, &ij->job);
}
