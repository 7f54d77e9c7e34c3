/* SPDX-License-Identifier: Apache-2.0 */
/* The writer thread: the vault's only writer. Appends are group-committed: every append job
 * waiting when a commit starts goes into one LMDB transaction (one full fsync), so durability
 * costs one fsync per batch, not per record. Other jobs (blob chunks, registrations) run in
 * queue order between batches. Finished jobs go back to the event loop through a uv_async.
 *
 * The writer also keeps the unsigned tail short: after a batch's jobs are handed back to the
 * loop (their acks go out meanwhile), it signs a checkpoint when the entries appended since
 * the last one reach sign_after_entries, or when the first of them has waited sign_after_ms
 * (or sign_interval_s, whichever is shorter); when idle it wakes up for that deadline. A
 * failure (a full disk) is logged once and retried at the next deadline. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "metrics.h"
#include "vault.h"

struct job;
typedef void (*job_fn)(struct job *j);
typedef void (*job_run_fn)(struct job *j, struct vault *v);

struct job {
	struct job *next;
	/* Appends: n entries (in/res arrays owned by the job, or the inline single slots). */
	size_t n;
	struct vault_entry_in *in;
	struct vault_append_result *res;
	struct vault_entry_in in1;
	struct vault_append_result res1;
	/* Other jobs: run on the writer thread instead of appending. */
	job_run_fn run;
	/* Called on the loop thread once the job is done (rc set); frees the job. */
	job_fn done;
	int rc;
	void *owner; /* for done() */
	void *data;  /* for run() and done() */
	size_t cost; /* bytes accounted against the daemon's queue limits */
};

/* What a reload may change. Handed over under the writer's lock (writer_configure). */
struct writer_policy {
	struct metric *commit_entries; /* histograms (metrics.h) of each commit; NULL: none */
	struct metric *commit_seconds;
	uint32_t max_batch;          /* entries per commit (0: 4096) */
	uint32_t commit_window_us;   /* wait for more records before a commit */
	uint32_t sign_after_entries; /* unsigned entries that trigger a checkpoint */
	uint32_t sign_after_ms;      /* age of the first unsigned entry that triggers one */
	uint32_t sign_interval_s;    /* upper bound of that age (checkpoint_interval) */
};

struct writer {
	struct vault *vault;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *head, *tail; /* queued */
	struct job *done_head, *done_tail;
	uv_async_t done_async;          /* wakes the loop to run done callbacks */
	void (*after_done)(void *data); /* once per wake-up, after the done callbacks */
	void *after_done_data;
	bool stop;
	bool started;
	struct writer_policy policy; /* under lock; the thread works on a copy */
	/* writer thread only: the signed head and when the tail must be signed */
	uint64_t signed_size;
	uint64_t sign_due_ns;               /* monotonic; 0: nothing unsigned */
	int sign_failed;                    /* the last signing error (logged once), 0 */
	size_t queued_jobs;                 /* loop thread's view: enqueued and not yet done */
	atomic_uint_fast64_t busy_since_ns; /* 0 when idle: for the watchdog */
	atomic_uint_fast64_t commits, entries, checkpoints;
	/* writer thread: called after each checkpoint it signs, with the tree size */
	void (*signed_fn)(void *data, uint64_t size);
	void *signed_data;
	/* writer thread: called after each batch it committed, with the vault's size (lock) */
	void (*committed_fn)(void *data, uint64_t size);
	void *committed_data;
	struct metric *m_entries, *m_seconds; /* writer thread: its policy's histograms */
};

/* Starts the thread on a vault whose head is signed up to signed_size entries. signed_fn (may
 * be NULL) is called on the writer thread after every checkpoint it signs. Returns 0 or a
 * negative errno. */
int writer_start(struct writer *w, uv_loop_t *loop, struct vault *v, uint64_t signed_size,
                 const struct writer_policy *policy, void (*signed_fn)(void *, uint64_t),
                 void *signed_data);
/* Installs fn (may be NULL), called on the writer thread after every batch it commits with the
 * vault's size: it must not block (the forwarder only wakes up). Any thread. */
void writer_on_commit(struct writer *w, void (*fn)(void *, uint64_t), void *data);
/* Applies a new policy (loop thread; takes effect from the next batch). */
void writer_configure(struct writer *w, const struct writer_policy *policy);
/* Queues a job (loop thread). */
void writer_submit(struct writer *w, struct job *j);
/* Called on the loop thread once writer_append's entry is done (rc: 0 or a negative errno). */
typedef void (*writer_append_fn)(void *data, int rc);
/* Queues one entry of the given type whose payload the writer takes (freed once done); the
 * entry may use the disk reserve when reserved (vault.h). A failure is logged ("recording a
 * TYPE entry failed"); done (may be NULL) runs after the commit either way. Returns 0, or
 * -ENOMEM (logged, payload freed, done not called). Loop thread. */
int writer_append(struct writer *w, uint16_t type, uint8_t *payload, size_t len, bool reserved,
                  writer_append_fn done, void *data);
/* As writer_append, for an entry about data subject `subject` (vault_entry_in.subject; copied;
 * NULL: none): an incident's audit or a verdict inherits its record's. */
int writer_append_subject(struct writer *w, uint16_t type, uint8_t *payload, size_t len,
                          bool reserved, const char *subject, writer_append_fn done, void *data);
/* Stops after the queue is empty and joins; pending done callbacks still run on the next
 * loop iteration. Then closes the async handle. */
void writer_stop(struct writer *w);
/* True when no job is queued or running. */
bool writer_idle(const struct writer *w);
/* Nanoseconds the writer has been busy with the current batch (0 when idle). */
uint64_t writer_busy_ns(struct writer *w);
