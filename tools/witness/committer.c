/* SPDX-License-Identifier: Apache-2.0 */
/* The committer thread: group commit of add-checkpoint decisions (committer.h). */
#include "committer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evident/invariant.h"
#include "log.h"
#include "metrics.h"

struct committer {
	struct state *state;
	unsigned max_batch;
	struct metric *batch_hist; /* metrics.h; NULL: none */
	pthread_t thread;

	pthread_mutex_t lock; /* guards the queue, stopping and stats */
	pthread_cond_t wake;
	struct commit_job *head, *tail;
	bool stopping;
	struct committer_stats stats;
};

static uint64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec > 0 ? (uint64_t)ts.tv_sec : 0;
}

/* Decides one job inside the batch's transaction and writes what it changes. */
static int decide(struct state_txn *txn, struct commit_job *job, uint64_t time_s)
{
	const struct witness_request *req = job->req;
	int rc = state_get_log(txn, req->cp.origin, &job->latest);

	if (rc < 0)
		return rc;
	job->verdict = witness_check(&job->latest, req);
	job->evidence_kept = false;
	if (job->verdict == WITNESS_COSIGN) {
		/* A re-submission of the latest tree head changes nothing. */
		if (!job->latest.known || req->cp.size > job->latest.size)
			rc = state_put_log(txn, &req->cp, req->note, req->note_len, time_s);
	} else if (witness_verdict_is_evidence(job->verdict)) {
		rc = state_put_evidence(txn, job->verdict, req->cp.origin, time_s, job->body,
		                        job->body_len, &job->evidence_seq);
		job->evidence_kept = rc == 0;
		if (rc == 1)
			rc = 0;
	}
	return rc;
}

/* Decides the batch in one transaction, commits it with a sync, then hands every job back. */
static void run_batch(struct committer *c, struct commit_job *batch, unsigned n)
{
	struct state_txn *txn = NULL;
	uint64_t started = now_s(), ts;
	struct commit_job *job, *next;
	int rc = state_begin(c->state, &txn);

	for (job = batch; job && rc == 0; job = job->next)
		rc = decide(txn, job, started);
	if (rc == 0)
		rc = state_commit(txn);
	else
		state_abort(txn);
	if (rc < 0)
		log_error("state: a batch of %u requests could not be committed (nothing of it was "
		          "written; the clients get 500): %s",
		          n, strerror(-rc));
	/* Every cosignature of the batch says "as of now": after the sync. */
	ts = now_s();
	pthread_mutex_lock(&c->lock);
	c->stats.jobs += n;
	c->stats.commits += rc == 0;
	c->stats.failed += rc < 0 ? n : 0;
	if (n > c->stats.max_batch_seen)
		c->stats.max_batch_seen = n;
	pthread_mutex_unlock(&c->lock);
	metric_observe(c->batch_hist, n);
	for (job = batch; job; job = next) {
		next = job->next; /* done() may free the job */
		job->rc = rc;
		job->timestamp = ts;
		job->done(job);
	}
}

static void *committer_main(void *arg)
{
	struct committer *c = arg;

	for (;;) {
		struct commit_job *batch, *last;
		unsigned n = 1;

		pthread_mutex_lock(&c->lock);
		while (!c->head && !c->stopping)
			pthread_cond_wait(&c->wake, &c->lock);
		if (!c->head) {
			INVARIANT(c->stopping);
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		/* Everything waiting, up to max_batch, in arrival order. */
		batch = last = c->head;
		while (last->next && n < c->max_batch) {
			last = last->next;
			n++;
		}
		c->head = last->next;
		if (!c->head)
			c->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&c->lock);
		run_batch(c, batch, n);
	}
}

int committer_start(struct state *s, unsigned max_batch, struct metric *batch_hist,
                    struct committer **ret)
{
	struct committer *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	INVARIANT(max_batch >= 1);
	c->state = s;
	c->max_batch = max_batch;
	c->batch_hist = batch_hist;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	rc = pthread_create(&c->thread, NULL, committer_main, c);
	if (rc) {
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return -rc;
	}
	*ret = c;
	return 0;
}

int committer_submit(struct committer *c, struct commit_job *job)
{
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		return -ESHUTDOWN;
	}
	job->next = NULL;
	if (c->tail)
		c->tail->next = job;
	else
		c->head = job;
	c->tail = job;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void committer_stop(struct committer *c, struct committer_stats *ret_stats)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	INVARIANT(!c->head);
	if (ret_stats)
		*ret_stats = c->stats;
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
