/* SPDX-License-Identifier: Apache-2.0 */
/* evidentd's metrics ([metrics] listen; the metrics library, metrics.h): the series the
 * daemon's files update, the HTTP server, and a one-second sampler of the gauges that only the
 * loop thread may read. README.md ("Metrics") lists every series.
 *
 * Every series is created at start, whether or not [metrics] listen is set (an update is one
 * relaxed atomic add; without a registry the pointers are NULL and updates do nothing, as in
 * the loop tests). Counters are updated where the event happens, on the thread it happens on
 * (the loop, the writer, a worker); a scrape runs on the server's own thread, reads atomics
 * only, and never takes a lock the writer or the loop holds. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "metrics.h"
#include "vault.h"

struct daemon;

#define EXPORTER_CODES   16 /* error codes counted by value (Error.Code) */
#define EXPORTER_ACTIONS 5  /* verdict actions (Verdict.Action) */

struct exporter {
	struct metrics *m;
	struct metrics_server *server;
	uv_timer_t timer;
	bool timer_on;
	/* the request path */
	struct metric *records, *duplicates, *reviews, *registrations;
	struct metric *refusals[EXPORTER_CODES]; /* evidentd_refusals_total{code} */
	struct metric *ack_latency;              /* receive -> Ack queued, seconds */
	struct metric *connections, *connections_total, *connections_rejected;
	struct metric *queue_bytes, *writer_jobs;
	/* the writer (read by the writer thread from its policy: writer.h) */
	struct metric *commit_entries, *commit_seconds;
	/* the vault (sampled once a second) */
	struct metric *vault_entries, *vault_bytes, *map_bytes, *map_used, *map_max;
	struct metric *checkpoint_entries, *checkpoints; /* the newest signed checkpoint */
	/* incidents, audits, verdicts */
	struct metric_family *incidents; /* {trigger, status} */
	struct metric *incidents_lost;
	struct metric_family *audits; /* {status} */
	struct metric *audit_seconds, *audit_jobs;
	struct metric *verdicts[EXPORTER_ACTIONS]; /* {action} */
	struct metric *verdicts_late, *verdicts_undelivered;
	/* witnesses, forwarding */
	struct metric *witnessed_entries, *witness_lag, *cosignatures, *witness_refusals;
	struct metric *forward_lag, *forward_position;
};

/* Creates the registry and every series (a failure is logged and metrics stay off: ingest
 * does not depend on them), then, when cfg.metrics_listen is set, serves it. Returns 0, or -1
 * when the server cannot start (logged: "[metrics] listen = ADDR:PORT: the port is in use"):
 * the start fails. Loop thread, after the vault is open. */
int exporter_start(struct daemon *d);
/* Stops the one-second sampler (the drain's end; loop thread). */
void exporter_stop_timer(struct daemon *d);
/* Stops the server and frees the registry (after every other thread has stopped). */
void exporter_free(struct daemon *d);

/* Monotonic nanoseconds (the ack latency's clock). */
uint64_t exporter_now_ns(void);
/* Counted where they happen (any NULL series is a no-op). */
void exporter_refusal(struct daemon *d, int code);
/* An incident entry written: its trigger (or guard) and status ("open", "rate_limited",
 * "recovered"). */
void exporter_incident(struct daemon *d, const char *trigger, const char *status);
void exporter_audited(struct daemon *d, int status, double seconds);
void exporter_verdict(struct daemon *d, int action, bool late, bool delivered);
/* Samples the loop's gauges now (queue depths, connections; after a writer batch). */
void exporter_sample(struct daemon *d);
