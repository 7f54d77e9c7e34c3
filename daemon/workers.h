/* SPDX-License-Identifier: Apache-2.0 */
/* The audit worker pool: OPEN incidents become jobs in a bounded queue; `workers` threads run
 * each audit (audit.h) on the model artifact read from the vault (hash checked, loaded once
 * per version) and send the result back to the loop, which appends the audit entry. The
 * pool knows no connection: an audit's verdict goes to its owner through a hook
 * (struct workers_hooks; daemon.c hands it to the verdict waits, verdict.h). Every audit that
 * cannot run is recorded (a notice entry). Loop thread unless stated otherwise. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct model_info;
struct workers_cache;
struct registry;
struct vault;
struct writer;
struct audit_model;
struct audit_oracle;
typedef struct Evident__V1__ModelManifest Evident__V1__ModelManifest;

/* What the pool tells its owner, on the loop thread. */
struct workers_hooks {
	/* The audit of incident_seq decided in its fast phase (action: evident.v1.Verdict.Action
	 * PROCEED or REVIEW, with its confidence and reasons), or ended without deciding
	 * (REVIEW, NAN, one reason). Called for every audit, with or without a verdict wait. */
	void (*verdict)(void *data, uint64_t incident_seq, int action, double confidence,
	                const char *const *reasons, size_t n_reasons);
	/* After the events of one wake-up are handled (may be NULL). */
	void (*after_events)(void *data);
	/* An audit ended with status (enum audit_status) after seconds on its worker, before its
	 * entry is queued (may be NULL; the metrics). */
	void (*audited)(void *data, uint64_t incident_seq, int status, double seconds);
	void *data;
};

struct workers {
	struct vault *vault;      /* models and records are read from it (own transactions) */
	struct writer *writer;    /* audit and notice entries go through it */
	const struct config *cfg; /* [model ID] sections, read on the loop when a job is queued */
	struct workers_hooks hooks;
	pthread_t *threads;
	size_t n_threads;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct audit_job *head, *tail; /* queued */
	size_t queued, running, cap;
	struct worker_event *events; /* worker -> loop, under lock */
	uv_async_t async;
	bool started, stop;
	struct workers_cache *cache; /* loaded models by ID@VERSION, under lock */
	size_t in_flight;            /* loop's view: jobs enqueued and not yet recorded */
	uint64_t audits, skipped;
};

/* Starts cfg->workers threads (none for 0: every audit is then skipped) with a queue of
 * cfg->job_queue jobs. cfg must stay valid while the pool runs. Returns 0 or a negative
 * errno. */
int workers_start(struct workers *w, uv_loop_t *loop, struct vault *v, struct writer *writer,
                  const struct config *cfg, const struct workers_hooks *hooks);
/* Joins the threads (after workers_idle) and closes the async handle. */
void workers_stop(struct workers *w);
/* True when nothing is queued, running, or waiting to be recorded. */
bool workers_idle(const struct workers *w);

/* One OPEN incident entry is durable (payload: its IncidentEntry bytes). Queues its audit and
 * returns NULL, or returns why it cannot run (a static string), which is recorded as an
 * audit_skipped notice entry. */
const char *workers_submit(struct workers *w, const struct model_info *mi, uint64_t incident_seq,
                           const uint8_t *payload, size_t len);

/* Why workers_load_model failed. */
enum workers_load_fault {
	WORKERS_LOAD_OK = 0,
	WORKERS_LOAD_SYSTEM,      /* the vault could not be read, out of memory */
	WORKERS_LOAD_ARTIFACT,    /* the artifact or reference data does not load with the
	                           * framework's loader (or its oracle does not start on it), is
	                           * too large to load, or disagrees with the manifest */
	WORKERS_LOAD_UNSUPPORTED, /* a valid version the daemon's audits cannot evaluate: framework
	                           * "oracle" without an oracle command, a decision rule on an
	                           * output other than 0 */
};

/* Loads a registered version for audits, the daemon's one loader (the audit workers cache
 * what it returns; a registration is checked with it before it is acknowledged): the model
 * artifact read from the vault with its SHA-256 checked, loaded with its framework's loader
 * (audit_model_new: feature count and names checked against the manifest's) or, for
 * framework "oracle", its oracle started (oc: the [model ID] section; NULL or without a
 * command: -ENOTSUP), and the reference data, when the manifest names some, turned into
 * rows. Any thread (its own read transaction). Returns 0 with *ret_am (audit_model_free) and
 * the reference rows (malloc'd; NULL and 0 without reference data), or a negative errno with
 * the reason in err and the kind of failure in *ret_fault. */
int workers_load_model(struct vault *v, const Evident__V1__ModelManifest *mf,
                       const struct audit_oracle *oc, struct audit_model **ret_am,
                       double **ret_ref_rows, size_t *ret_ref_n, enum workers_load_fault *ret_fault,
                       char *err, size_t err_size);

/* Crash recovery of audits. Before this run's START entry: the range of the runs since the
 * last clean STOP when the last run ended without one (from the first of those runs' START to
 * the end: a run that re-queued its predecessor's audits may have been killed too), or
 * *ret_clean when it stopped cleanly. Returns 0 or a vault error. */
int workers_recovery_range(struct vault *v, uint64_t *ret_from, uint64_t *ret_to, bool *ret_clean);
/* After workers_start: every OPEN incident in [from, to) that no audit or notice entry names
 * (its audit was queued or running when the daemon died) is queued again, its audit marked
 * "recovered". Returns the number queued, or a negative errno. */
long workers_recover(struct workers *w, const struct registry *reg, uint64_t from, uint64_t to);
