/* SPDX-License-Identifier: Apache-2.0 */
/* The writer thread (see writer.h). */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_done(uv_async_t *a)
{
	struct writer *w = a->data;
	struct job *j;

	pthread_mutex_lock(&w->lock);
	j = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	while (j) {
		struct job *next = j->next;
		w->queued_jobs--;
		j->done(j);
		j = next;
	}
	if (w->after_done)
		w->after_done(w->after_done_data);
}

static void finish(struct writer *w, struct job *first, struct job *last)
{
	pthread_mutex_lock(&w->lock);
	if (w->done_tail)
		w->done_tail->next = first;
	else
		w->done_head = first;
	w->done_tail = last;
	pthread_mutex_unlock(&w->lock);
	uv_async_send(&w->done_async);
}

/* Appends the entries of jobs [first, end) in one transaction. */
static void commit_batch(struct writer *w, struct job *first, struct job *end, size_t total)
{
	struct vault_entry_in *in;
	struct vault_append_result *res;
	size_t k = 0;
	int rc;

	if (first->next == end) {
		/* one job: its own arrays */
		first->rc = vault_append(w->vault, first->in, first->n, first->res);
		atomic_fetch_add(&w->commits, 1);
		if (first->rc == 0)
			atomic_fetch_add(&w->entries, first->n);
		return;
	}
	in = malloc(total * sizeof(*in));
	res = malloc(total * sizeof(*res));
	if (!in || !res) {
		free(in);
		free(res);
		for (struct job *j = first; j != end; j = j->next)
			j->rc = -ENOMEM;
		return;
	}
	for (struct job *j = first; j != end; j = j->next) {
		memcpy(in + k, j->in, j->n * sizeof(*in));
		k += j->n;
	}
	rc = vault_append(w->vault, in, total, res);
	atomic_fetch_add(&w->commits, 1);
	if (rc == -EINVAL) {
		/* Should not happen (entries are validated first), but never let one bad
		 * entry fail its neighbours: retry each job alone. */
		for (struct job *j = first; j != end; j = j->next)
			j->rc = vault_append(w->vault, j->in, j->n, j->res);
	} else {
		k = 0;
		for (struct job *j = first; j != end; j = j->next) {
			j->rc = rc;
			if (rc == 0)
				memcpy(j->res, res + k, j->n * sizeof(*res));
			k += j->n;
		}
		if (rc == 0)
			atomic_fetch_add(&w->entries, total);
	}
	free(in);
	free(res);
}

static void process(struct writer *w, struct job *list)
{
	struct job *j = list;

	while (j) {
		if (j->run) {
			j->run(j, w->vault);
			j = j->next;
			continue;
		}
		/* a run of append jobs, up to max_batch entries */
		struct job *end = j;
		size_t total = 0;
		while (end && !end->run && (total == 0 || total + end->n <= w->max_batch)) {
			total += end->n;
			end = end->next;
		}
		commit_batch(w, j, end, total);
		j = end;
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->head && w->stop)
			break;
		if (w->commit_window_us) {
			/* Optional: let a few more records join this commit. */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (long)w->commit_window_us * 1000;
			until.tv_sec += until.tv_nsec / 1000000000;
			until.tv_nsec %= 1000000000;
			while (!w->stop &&
			       pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
				;
		}
		struct job *list = w->head, *last = w->tail;
		w->head = w->tail = NULL;
		pthread_mutex_unlock(&w->lock);

		atomic_store(&w->busy_since_ns, mono_ns());
		process(w, list);
		atomic_store(&w->busy_since_ns, 0);
		finish(w, list, last);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int writer_start(struct writer *w, uv_loop_t *loop, struct vault *v, uint32_t max_batch,
                 uint32_t commit_window_us)
{
	int rc;

	*w = (struct writer){.vault = v,
	                     .max_batch = max_batch ? max_batch : 4096,
	                     .commit_window_us = commit_window_us};
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	rc = uv_async_init(loop, &w->done_async, on_done);
	if (rc < 0)
		return rc;
	w->done_async.data = w;
	rc = -pthread_create(&w->thread, NULL, writer_main, w);
	if (rc < 0) {
		uv_close((uv_handle_t *)&w->done_async, NULL);
		return rc;
	}
	w->started = true;
	return 0;
}

void writer_submit(struct writer *w, struct job *j)
{
	j->next = NULL;
	w->queued_jobs++;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

bool writer_idle(const struct writer *w)
{
	return w->queued_jobs == 0;
}

uint64_t writer_busy_ns(struct writer *w)
{
	uint64_t since = atomic_load(&w->busy_since_ns);
	return since ? mono_ns() - since : 0;
}

void writer_stop(struct writer *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->started = false;
	/* run what finished last, then the handle can go */
	on_done(&w->done_async);
	uv_close((uv_handle_t *)&w->done_async, NULL);
}
