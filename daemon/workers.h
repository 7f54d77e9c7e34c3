/* SPDX-License-Identifier: Apache-2.0 */
/* The audit worker pool: OPEN incidents become jobs in a bounded queue; `workers` threads run
 * each audit (audit.h) on the model artifact read from the vault (hash checked) and send the
 * result back to the loop, which appends the audit entry. Records sent with
 * verdict_deadline_ms wait here for their verdict: the audit's fast phase answers PROCEED or
 * REVIEW, a timer answers PENDING just before the deadline, never later. Every verdict sent is
 * recorded (verdict entry); every audit that cannot run is recorded (notice entry). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct daemon;
struct session;
struct model_info;
struct workers_cache;
struct registry;
struct vault;
struct audit_model;
struct audit_oracle;
typedef struct Evident__V1__ModelManifest Evident__V1__ModelManifest;

struct workers {
	struct daemon *d;
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
	struct verdict_wait *waits;  /* verdicts not answered yet */
	uint64_t audits, skipped, verdicts[4];
};

/* A record waiting for its verdict (loop thread). */
struct verdict_wait;

int workers_start(struct workers *w, struct daemon *d, uv_loop_t *loop);
/* Joins the threads (after workers_idle) and closes the async handle. */
void workers_stop(struct workers *w);
/* True when nothing is queued, running, or waiting to be recorded. */
bool workers_idle(const struct workers *w);

/* A record that asks for a verdict was received (loop thread): its deadline timer starts now,
 * before the record is durable, so PENDING is never late even when the commit is slow. The
 * session is referenced until the wait ends. Returns NULL when out of memory. */
struct verdict_wait *verdict_wait_new(struct workers *w, struct session *s, const char *request_id,
                                      int64_t deadline_ns);
/* The record is durable at record_seq. Returns true when the wait goes on (the caller passes
 * it to the incident or answers it); false when it was already answered (PENDING at the
 * deadline), whose verdict entry is written now and the wait ended. */
bool verdict_wait_durable(struct verdict_wait *vw, uint64_t record_seq);
/* The record was not stored: the wait ends without a verdict entry. */
void verdict_wait_drop(struct verdict_wait *vw);
/* Answers (loop thread): action is evident.v1.Verdict.Action; reasons are strings. The
 * verdict entry is written once the record's seq is known. */
void verdict_answer(struct verdict_wait *vw, int action, double confidence, uint64_t incident_seq,
                    const char *const *reasons, size_t n_reasons);

/* One OPEN incident entry is durable (payload: its IncidentEntry bytes). Queues its audit,
 * or records why it cannot run. vw (may be NULL) gets its verdict from this audit. */
void workers_submit(struct workers *w, const struct model_info *mi, uint64_t incident_seq,
                    const uint8_t *payload, size_t len, struct verdict_wait *vw);

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

/* Crash recovery of audits. Before this run's START entry: the range of the last run when it
 * ended without a STOP entry (its START to the end; *ret_clean when it stopped cleanly).
 * Returns 0 or a vault error. */
int workers_recovery_range(struct vault *v, uint64_t *ret_from, uint64_t *ret_to, bool *ret_clean);
/* After workers_start: every OPEN incident in [from, to) that no audit or notice entry names
 * (its audit was queued or running when the daemon died) is queued again, its audit marked
 * "recovered". Returns the number queued, or a negative errno. */
long workers_recover(struct workers *w, const struct registry *reg, uint64_t from, uint64_t to);

/* At start: the reservoirs of the registered versions (without reference data) refilled
 * from the newest records of the vault, reading back at most max_scan entries, so an audit
 * right after a restart has its background. Returns the records taken or a negative errno. */
long workers_reservoir_seed(struct registry *reg, struct vault *v, uint64_t max_scan);

/* The reservoir of recent records (registry.h): called on the loop for every accepted record
 * before it is written; returns the slot it takes (or -1), and workers_reservoir_fill puts the
 * features in once the seq is known. */
long workers_reservoir_pick(struct model_info *mi);
void workers_reservoir_fill(struct model_info *mi, long slot, const double *x, uint64_t seq);
