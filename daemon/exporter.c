/* SPDX-License-Identifier: Apache-2.0 */
/* evidentd's metrics (exporter.h). */
#include "exporter.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "entry.pb-c.h"
#include "evident.pb-c.h"
#include "evident_version.h"
#include "log.h"
#include "publish.h"
#include "session.h"

#define SAMPLE_MS 1000

uint64_t exporter_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* An enum value's name as a label: "VAULT_FULL" -> "vault_full". */
static void label_of(const char *name, char *out, size_t size)
{
	size_t i = 0;

	for (; name[i] && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[i] = '\0';
}

/* A counter family with one series per value 1..n-1 of a protobuf enum (its name in lower
 * case as the label): out[value]. */
static void by_enum(struct metrics *m, const ProtobufCEnumDescriptor *e, const char *name,
                    const char *help, const char *label, struct metric **out, int n)
{
	for (unsigned i = 0; i < e->n_values; i++) {
		char value[64];
		int v = e->values[i].value;
		if (v <= 0 || v >= n)
			continue;
		label_of(e->values[i].name, value, sizeof(value));
		out[v] = metrics_labelled(m, METRIC_COUNTER, name, help, label, value);
	}
}

/* The series of exporter.h; a NULL left by a failure only turns its updates off. */
static void create(struct exporter *x)
{
	struct metrics *m = x->m;
	double latency[18], batch[14], commit[16], audit[14];
	const char *trigger_status[] = {"trigger", "status", NULL};
	const char *status[] = {"status", NULL};

	/* 50 us .. 6.5 s; 1 .. 8192 entries; 50 us .. 1.6 s; 1 ms .. 8 s */
	metrics_exponential_buckets(50e-6, 2, 18, latency);
	metrics_exponential_buckets(1, 2, 14, batch);
	metrics_exponential_buckets(50e-6, 2, 16, commit);
	metrics_exponential_buckets(1e-3, 2, 14, audit);
	x->records = metrics_counter(m, "evidentd_records_total",
	                             "Records stored in the vault and acknowledged (a retry of a "
	                             "stored one is a duplicate).");
	x->duplicates = metrics_counter(
	    m, "evidentd_duplicates_total",
	    "Retries acknowledged as duplicates of a stored entry (not stored again).");
	x->reviews = metrics_counter(m, "evidentd_reviews_total", "Reviews received.");
	x->registrations =
	    metrics_counter(m, "evidentd_registrations_total", "Model versions registered.");
	by_enum(m, &evident__v1__error__code__descriptor, "evidentd_refusals_total",
	        "Requests answered with an Error, by its code.", "code", x->refusals,
	        EXPORTER_CODES);
	x->ack_latency = metrics_histogram(
	    m, "evidentd_ack_latency_seconds",
	    "From a record's frame read to its Ack queued for the client, durable in between.",
	    latency, 18);
	x->connections = metrics_gauge(m, "evidentd_connections", "Open client connections.");
	x->connections_total =
	    metrics_counter(m, "evidentd_connections_total", "Client connections accepted.");
	x->connections_rejected = metrics_counter(
	    m, "evidentd_connections_rejected_total",
	    "Connections refused or closed by the connection limits or the allow lists.");
	x->queue_bytes = metrics_gauge(
	    m, "evidentd_queue_bytes",
	    "Bytes of records, chunks and partial frames waiting for the writer (max_queue).");
	x->writer_jobs =
	    metrics_gauge(m, "evidentd_writer_queue_jobs", "Writer jobs queued or running.");
	x->commit_entries = metrics_histogram(m, "evidentd_commit_batch_entries",
	                                      "Entries per group commit.", batch, 14);
	x->commit_seconds =
	    metrics_histogram(m, "evidentd_commit_duration_seconds",
	                      "One group commit: the LMDB transaction with its fsync.", commit, 16);
	x->vault_entries = metrics_gauge(m, "evidentd_vault_entries", "Entries in the vault.");
	x->vault_bytes = metrics_gauge(m, "evidentd_vault_bytes", "Size of the vault's data.mdb.");
	x->map_bytes = metrics_gauge(m, "evidentd_vault_map_bytes",
	                             "The LMDB map's current size (grows up to map_max).");
	x->map_used = metrics_gauge(m, "evidentd_vault_map_used_bytes",
	                            "Bytes of the map in use (the file's extent).");
	x->map_max = metrics_gauge(m, "evidentd_vault_map_max_bytes",
	                           "map_max: beyond it records get VAULT_FULL.");
	x->checkpoint_entries = metrics_gauge(m, "evidentd_checkpoint_entries",
	                                      "Tree size of the newest signed checkpoint.");
	x->checkpoints =
	    metrics_counter(m, "evidentd_checkpoints_total", "Checkpoints signed by the writer.");
	x->incidents = metrics_family(m, METRIC_COUNTER, "evidentd_incidents_total",
	                              "Incident entries written, by trigger (or guard) and "
	                              "status (open, rate_limited; recovered after a crash).",
	                              trigger_status, NULL, 0);
	x->incidents_lost =
	    metrics_counter(m, "evidentd_incidents_lost_total",
	                    "Firings that could not be recorded (out of memory, a failed write).");
	x->audits = metrics_family(m, METRIC_COUNTER, "evidentd_audits_total",
	                           "Audits finished, by status (complete, partial, failed).",
	                           status, NULL, 0);
	x->audit_seconds =
	    metrics_histogram(m, "evidentd_audit_duration_seconds",
	                      "One audit on a worker, from its start to its document.", audit, 14);
	x->audit_jobs = metrics_gauge(m, "evidentd_audit_queue_jobs",
	                              "Audits queued, running or waiting to be recorded.");
	by_enum(m, &evident__v1__verdict__action__descriptor, "evidentd_verdicts_total",
	        "Verdicts sent, by action.", "action", x->verdicts, EXPORTER_ACTIONS);
	x->verdicts_late = metrics_counter(
	    m, "evidentd_verdicts_late_total",
	    "Verdicts decided after their deadline (sent as PENDING; the audit is recorded).");
	x->verdicts_undelivered =
	    metrics_counter(m, "evidentd_verdicts_undelivered_total",
	                    "Verdicts whose connection was gone (recorded, not delivered).");
	x->witnessed_entries = metrics_gauge(
	    m, "evidentd_witnessed_entries",
	    "Tree size of the newest checkpoint with witness_quorum cosignatures (this run).");
	x->witness_lag = metrics_gauge(
	    m, "evidentd_witness_lag_entries",
	    "Entries signed but not yet covered by a witnessed checkpoint (0 without witnesses).");
	x->cosignatures = metrics_counter(m, "evidentd_witness_cosignatures_total",
	                                  "Cosignatures received from witnesses and stored.");
	x->witness_refusals = metrics_counter(
	    m, "evidentd_witness_refusals_total",
	    "Submissions a witness refused (409, 422) or could not be reached for.");
	metrics_add_build_info(m, "evidentd_build_info", EVIDENT_VERSION);
	metrics_add_process(m);
}

static void on_timer_closed(uv_handle_t *h)
{
	(void)h;
}

void exporter_stop_timer(struct daemon *d)
{
	if (!d->ex.timer_on)
		return;
	d->ex.timer_on = false;
	uv_close((uv_handle_t *)&d->ex.timer, on_timer_closed);
}

void exporter_free(struct daemon *d)
{
	metrics_server_stop(d->ex.server); /* no scrape runs after this */
	d->ex.server = NULL;
	metrics_free(d->ex.m);
	d->ex.m = NULL;
}

void exporter_refusal(struct daemon *d, int code)
{
	if (code > 0 && code < EXPORTER_CODES)
		metric_inc(d->ex.refusals[code]);
}

void exporter_incident(struct daemon *d, const char *trigger, const char *status)
{
	const char *values[] = {trigger, status};

	if (d->ex.incidents)
		metric_inc(metric_family_get(d->ex.incidents, values));
}

void exporter_audited(struct daemon *d, int status, double seconds)
{
	static const char *const names[] = {"complete", "partial", "failed"};
	const char *values[] = {status >= 0 && status <= 2 ? names[status] : "unknown"};

	if (!d->ex.audits)
		return;
	metric_inc(metric_family_get(d->ex.audits, values));
	metric_observe(d->ex.audit_seconds, seconds);
}

void exporter_verdict(struct daemon *d, int action, bool late, bool delivered)
{
	if (action > 0 && action < EXPORTER_ACTIONS)
		metric_inc(d->ex.verdicts[action]);
	if (late)
		metric_inc(d->ex.verdicts_late);
	if (!delivered)
		metric_inc(d->ex.verdicts_undelivered);
}

void exporter_sample(struct daemon *d)
{
	struct exporter *x = &d->ex;

	if (!x->m)
		return;
	metric_set(x->connections, (double)d->n_sessions);
	metric_set(x->queue_bytes, (double)d->queued_bytes);
	metric_set(x->writer_jobs, (double)d->writer.queued_jobs);
	metric_set(x->audit_jobs, (double)d->workers.in_flight);
}

/* Once a second on the loop: the vault's sizes and the publisher's counters. */
static void on_sample(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct exporter *x = &d->ex;
	struct vault_info info;
	struct vault_reader *r;
	uint64_t forwarded = 0;

	exporter_sample(d);
	if (d->vault && vault_info(d->vault, &info) == 0) {
		metric_set(x->vault_entries, (double)info.size);
		metric_set(x->vault_bytes, (double)info.file_bytes);
		metric_set(x->map_bytes, (double)info.map_bytes);
		metric_set(x->map_used, (double)info.file_bytes);
		if (vault_reader_begin(d->vault, &r) == 0) {
			if (vault_forwarded(r, &forwarded) < 0)
				forwarded = 0;
			vault_reader_end(r);
		}
		if (forwarded) {
			/* a forwarder has recorded its position: how far behind it is */
			if (!x->forward_lag)
				x->forward_lag = metrics_gauge(
				    x->m, "evidentd_forward_lag_entries",
				    "Entries committed and not yet acknowledged by the forwarder's "
				    "JetStream (its stored position).");
			metric_set(x->forward_lag,
			           info.size > forwarded ? (double)(info.size - forwarded) : 0);
		}
	}
	if (d->publisher) {
		struct publish_stats ps;
		publish_get_stats(d->publisher, &ps);
		metric_set(x->witnessed_entries, (double)ps.witnessed_size);
		double signed_size = metric_value(x->checkpoint_entries);
		metric_set(x->witness_lag,
		           d->cfg.n_witnesses && signed_size > (double)ps.witnessed_size
		               ? signed_size - (double)ps.witnessed_size
		               : 0);
		metric_add(x->cosignatures, ps.cosigned - (uint64_t)metric_value(x->cosignatures));
		uint64_t refused = ps.refused + ps.unreachable;
		metric_add(x->witness_refusals,
		           refused - (uint64_t)metric_value(x->witness_refusals));
	}
}

int exporter_start(struct daemon *d)
{
	struct exporter *x = &d->ex;
	char err[400];
	int rc;

	x->m = metrics_new();
	if (!x->m) {
		log_error("metrics: out of memory; running without them");
		return 0;
	}
	create(x);
	metric_set(x->map_max, (double)d->cfg.map_max);
	if (d->cfg.metrics_listen) {
		rc = metrics_server_start(x->m, d->cfg.metrics_listen, NULL, &x->server, err,
		                          sizeof(err));
		if (rc < 0) {
			log_error("%s: [metrics] listen = %s: %s",
			          d->cfg.path ? d->cfg.path : "config", d->cfg.metrics_listen, err);
			return -1;
		}
		log_notice("metrics served at http://%s/metrics",
		           metrics_server_address(x->server));
	}
	uv_timer_init(d->loop, &x->timer);
	x->timer.data = d;
	x->timer_on = true;
	uv_timer_start(&x->timer, on_sample, 0, SAMPLE_MS);
	return 0;
}
