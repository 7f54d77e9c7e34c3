/* SPDX-License-Identifier: Apache-2.0 */
/* The writer thread: the vault's only writer. Appends are group-committed: every append job
 * waiting when a commit starts goes into one LMDB transaction (one full fsync), so durability
 * costs one fsync per batch, not per record. Other jobs (blob chunks, registrations) run in
 * queue order between batches. Finished jobs go back to the event loop through a uv_async.
 *
 * At low load there is no thread hop: jobs are queued by the loop's callbacks and looked at
 * once they have run (a uv_check handle right after the I/O callbacks; a uv_idle handle,
 * started as they are queued, in the next iteration before the loop can sleep). When the writer
 * thread is idle and the queue is a few appends (at most WRITER_INLINE_MAX entries, none off_loop,
 * no commit_window_us), the loop commits them, in one synced transaction as the thread would, and
 * runs their done callbacks at once: the Ack is written by the thread that read the record, right
 * after the commit. Otherwise the thread is woken and group-commits as before; while it works,
 * everything queued meanwhile waits for its next batch. Jobs the loop never commits (run jobs,
 * off_loop) wake the thread as they are queued. The vault has one writer at a time: the loop
 * commits only while the thread is idle (not working, under the lock) and the thread takes no job
 * and signs nothing while the loop does (loop_owns); the thread signs the tail the loop appended
 * (the loop wakes it when it sleeps without a deadline).
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

/* The most entries the loop thread commits itself (above: the writer thread's batch). */
#define WRITER_INLINE_MAX 16

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
	/* Never committed on the loop thread: the loop must stay free while it commits (a record
	 * whose verdict deadline timer must be able to fire meanwhile). */
	bool off_loop;
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
	uv_check_t kick_check;          /* after the I/O callbacks: commit or wake (writer.c) */
	uv_idle_t kick_idle;            /* ... or at the next iteration, without sleeping */
	bool kick_pending;              /* loop thread: jobs queued since the last look */
	void (*after_done)(void *data); /* once per wake-up, after the done callbacks */
	void *after_done_data;
	bool stop;
	bool started;
	bool working;   /* under lock: the thread is processing a batch or signing */
	bool loop_owns; /* under lock: the loop thread is committing (the thread keeps off) */
	bool sleeping;  /* under lock: the thread waits without a deadline */
	struct writer_policy policy; /* under lock; the thread works on a copy */
	/* the writer thread's (read by the loop while loop_owns): the signed head and when the
	 * tail must be signed */
	uint64_t signed_size;
	uint64_t sign_due_ns;               /* monotonic; 0: nothing unsigned */
	int sign_failed;                    /* the last signing error (logged once), 0 */
	size_t queued_jobs;                 /* loop thread's view: enqueued and not yet done */
	atomic_uint_fast64_t busy_since_ns; /* 0 when idle: for the watchdog */
	atomic_uint_fast64_t commits, entries, checkpoints;
	/* writer thread: called after each checkpoint it signs, with the tree size */
	void (*signed_fn)(void *data, uint64_t size);
	void *signed_data;
	/* called after each batch committed (by the thread, or by the loop for its own commits),
	 * with the vault's size (lock) */
	void (*committed_fn)(void *data, uint64_t size);
	void *committed_data;
	struct metric *m_entries, *m_seconds; /* the committing thread's: the policy's histograms */
};

/* Starts the thread on a vault whose head is signed up to signed_size entries. signed_fn (may
 * be NULL) is called on the writer thread after every checkpoint it signs. Returns 0 or a
 * negative errno. */
int writer_start(struct writer *w, uv_loop_t *loop, struct vault *v, uint64_t signed_size,
                 const struct writer_policy *policy, void (*signed_fn)(void *, uint64_t),
                 void *signed_data);
/* Installs fn (may be NULL), called after every batch committed with the vault's size, on the
 * thread that committed it (the writer thread, or the loop thread for the few appends it commits
 * itself, after their acks): it must not block (the forwarder only wakes up). Any thread. */
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
