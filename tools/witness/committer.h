/* SPDX-License-Identifier: Apache-2.0 */
/* The committer: one thread that owns the witness's state and decides every add-checkpoint
 * request whose log signature verified, in group commits.
 *
 * HTTP threads parse and verify (the Ed25519 work, concurrently) and queue a job. The committer
 * takes everything queued (up to max_batch), opens one LMDB write transaction, decides the jobs
 * in queue order with witness_check against the state as the earlier jobs of the batch left it
 * (a job's acceptance is written before the next one reads), keeps the refusals that are
 * evidence, commits once with a full sync, and only then hands every job back. Reading the
 * latest size and recording the new one in one transaction of one thread is what makes the
 * race of c2sp.org/tlog-witness (two sizes checked, then the smaller one stored last)
 * impossible; one sync for the batch is what makes it fast. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "state.h"
#include "witness.h"

struct commit_job {
	/* In, owned by the submitter and unchanged until done is called. */
	const struct witness_request *req; /* parsed, its signature verified */
	const char *body;                  /* the whole request body, kept as evidence */
	size_t body_len;
	void (*done)(struct commit_job *job); /* called once, on the committer thread */

	/* Out, written by the committer before done. */
	int rc; /* 0; -ESHUTDOWN (never queued); or the state's error: nothing of the batch
	         * was written, no verdict holds */
	enum witness_verdict verdict;
	struct witness_log_state latest; /* the latest cosigned checkpoint the decision saw */
	bool evidence_kept;              /* the refusal was kept as evidence #evidence_seq */
	uint64_t evidence_seq;
	uint64_t timestamp; /* POSIX seconds after the commit: the cosignature's timestamp */

	struct commit_job *next; /* the queue's link (committer's) */
};

struct committer;

struct committer_stats {
	uint64_t jobs;    /* decided */
	uint64_t commits; /* synced transactions */
	uint64_t failed;  /* jobs of batches whose transaction failed */
	uint64_t max_batch_seen;
};

/* Starts the thread on state s (which it uses alone until committer_stop). max_batch >= 1 jobs
 * share a transaction at most (1: one synced commit per request, the naive design).
 * Returns 0 and *ret; -ENOMEM; errors of pthread_create. */
struct metric;
/* batch_hist (may be NULL) is a histogram (metrics.h) observing each batch's size. */
int committer_start(struct state *s, unsigned max_batch, struct metric *batch_hist,
                    struct committer **ret);
/* Queues job. Any thread. job->done will be called on the committer thread after the batch
 * holding it committed or failed; from then on the committer does not touch job.
 * Returns 0, or -ESHUTDOWN once committer_stop began (done is not called). */
int committer_submit(struct committer *c, struct commit_job *job);
/* Stops taking jobs, decides and hands back every job queued before, joins the thread and
 * frees c. Takes NULL. Writes the totals into *ret_stats (may be NULL). */
void committer_stop(struct committer *c, struct committer_stats *ret_stats);
