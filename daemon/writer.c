/* SPDX-License-Identifier: Apache-2.0 */
/* The writer thread (see writer.h). */
#include "writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evident/invariant.h"
#include "log.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Runs the done callbacks of a finished list (loop thread). */
static void run_done(struct writer *w, struct job *j)
{
	while (j) {
		struct job *next = j->next;
		INVARIANT(w->queued_jobs > 0);
		w->queued_jobs--;
		j->done(j);
		j = next;
	}
}

/* What the writer thread finished (loop thread). */
static void take_done(struct writer *w)
{
	struct job *j;

	pthread_mutex_lock(&w->lock);
	j = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	run_done(w, j);
}

static void on_done(uv_async_t *a)
{
	struct writer *w = a->data;

	take_done(w);
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

/* A commit of n entries that started at t0 (metrics.h; NULL histograms: nothing). */
static void observe_commit(struct writer *w, size_t n, uint64_t t0)
{
	metric_observe(w->m_entries, (double)n);
	metric_observe(w->m_seconds, (double)(mono_ns() - t0) / 1e9);
}

/* Appends the entries of jobs [first, end) in one transaction. */
static void commit_batch(struct writer *w, struct job *first, struct job *end, size_t total)
{
	struct vault_entry_in *in;
	struct vault_append_result *res;
	size_t k = 0;
	uint64_t t0 = mono_ns();
	int rc;

	if (first->next == end) {
		/* one job: its own arrays */
		first->rc = vault_append(w->vault, first->in, first->n, first->res);
		observe_commit(w, first->n, t0);
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
	INVARIANT(k == total);
	rc = vault_append(w->vault, in, total, res);
	observe_commit(w, total, t0);
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

static void process(struct writer *w, struct job *list, uint32_t max_batch)
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
		while (end && !end->run && (total == 0 || total + end->n <= max_batch)) {
			total += end->n;
			end = end->next;
		}
		commit_batch(w, j, end, total);
		j = end;
	}
}

static uint64_t sign_delay_ns(const struct writer_policy *p)
{
	uint64_t ms = p->sign_after_ms;

	if (p->sign_interval_s && (uint64_t)p->sign_interval_s * 1000 < ms)
		ms = (uint64_t)p->sign_interval_s * 1000;
	return ms * 1000000;
}

static void sign(struct writer *w)
{
	uint64_t size = vault_size(w->vault);

	INVARIANT(size >= w->signed_size); /* the tree only grows */
	int rc = vault_checkpoint_sign(w->vault, NULL);

	if (rc == 0) {
		if (w->sign_failed)
			log_notice("signing checkpoints again (tree size %" PRIu64 ")", size);
		w->signed_size = size;
		w->sign_due_ns = 0;
		w->sign_failed = 0;
		atomic_fetch_add(&w->checkpoints, 1);
		if (w->signed_fn)
			w->signed_fn(w->signed_data, size);
		return;
	}
	if (rc != w->sign_failed)
		log_error("signing a checkpoint of %" PRIu64 " entries failed: %s%s; retrying",
		          size, strerror(-rc),
		          rc == -EUCLEAN ? " (the vault does not extend its last checkpoint: "
		                           "run evidentctl verify)"
		                         : "");
	w->sign_failed = rc;
	w->sign_due_ns = 0; /* the next look schedules the retry one delay later */
}

/* After a batch (its acks are on their way): sign when the tail is long or old enough. */
static void maybe_sign(struct writer *w, const struct writer_policy *p)
{
	uint64_t size = vault_size(w->vault), now = mono_ns();

	if (size <= w->signed_size)
		return;
	if (!w->sign_due_ns) {
		w->sign_due_ns = now + sign_delay_ns(p);
		if (w->sign_failed)
			return; /* retry at the deadline, not in a hot loop */
	}
	if (size - w->signed_size >= p->sign_after_entries || now >= w->sign_due_ns)
		sign(w);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct writer_policy p = w->policy;
		struct timespec until;

		while ((!w->head || w->loop_owns) && !w->stop) {
			p = w->policy;
			if (!w->loop_owns && vault_size(w->vault) > w->signed_size) {
				/* an unsigned tail (the loop's commits, a failed signature): sign
				 * it when due, else schedule its deadline */
				w->working = true;
				pthread_mutex_unlock(&w->lock);
				maybe_sign(w, &p);
				pthread_mutex_lock(&w->lock);
				w->working = false;
				if (w->head || w->stop)
					continue;
			}
			if (!w->sign_due_ns || w->loop_owns) {
				w->sleeping = true; /* the loop wakes us after its commits */
				pthread_cond_wait(&w->wake, &w->lock);
				w->sleeping = false;
				continue;
			}
			/* idle with an unsigned tail: wake up for its deadline */
			until.tv_sec = (time_t)(w->sign_due_ns / 1000000000);
			until.tv_nsec = (long)(w->sign_due_ns % 1000000000);
			pthread_cond_timedwait(&w->wake, &w->lock, &until);
		}
		if (!w->head && w->stop)
			break;
		INVARIANT(!w->loop_owns); /* the loop commits only while the thread is idle */
		if (p.commit_window_us) {
			/* Optional: let a few more records join this commit. */
			uint64_t t = mono_ns() + (uint64_t)p.commit_window_us * 1000;
			until.tv_sec = (time_t)(t / 1000000000);
			until.tv_nsec = (long)(t % 1000000000);
			while (!w->stop &&
			       pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
				;
		}
		struct job *list = w->head, *last = w->tail;
		void (*committed_fn)(void *, uint64_t) = w->committed_fn;
		void *committed_data = w->committed_data;
		w->head = w->tail = NULL;
		w->working = true;
		pthread_mutex_unlock(&w->lock);

		atomic_store(&w->busy_since_ns, mono_ns());
		w->m_entries = p.commit_entries;
		w->m_seconds = p.commit_seconds;
		process(w, list, p.max_batch ? p.max_batch : 4096);
		finish(w, list, last);
		if (committed_fn)
			committed_fn(committed_data, vault_size(w->vault));
		maybe_sign(w, &p);
		atomic_store(&w->busy_since_ns, 0);
		pthread_mutex_lock(&w->lock);
		w->working = false;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void writer_on_commit(struct writer *w, void (*fn)(void *, uint64_t), void *data)
{
	pthread_mutex_lock(&w->lock);
	w->committed_fn = fn;
	w->committed_data = data;
	pthread_mutex_unlock(&w->lock);
}

static bool inline_fits(const struct job *j)
{
	size_t n = 0;

	for (; j; j = j->next) {
		if (j->run || j->off_loop)
			return false;
		n += j->n;
		if (n > WRITER_INLINE_MAX)
			return false;
	}
	return true;
}

/* After the loop's callbacks queued jobs: commit them here when the writer thread is idle and
 * they are few (no thread hop at low load), else wake the writer (group commit). */
static void kick(struct writer *w)
{
	void (*committed_fn)(void *, uint64_t);
	void *committed_data;
	struct job *list;
	uint32_t max_batch;
	uint64_t size;
	bool wake;

	uv_idle_stop(&w->kick_idle);
	if (!w->kick_pending)
		return;
	w->kick_pending = false;
	pthread_mutex_lock(&w->lock);
	if (!w->head) {
		pthread_mutex_unlock(&w->lock);
		return;
	}
	if (w->working || w->stop || w->policy.commit_window_us || !inline_fits(w->head)) {
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		return;
	}
	list = w->head;
	w->head = w->tail = NULL;
	w->loop_owns = true;
	max_batch = w->policy.max_batch ? w->policy.max_batch : 4096;
	w->m_entries = w->policy.commit_entries; /* the thread's while loop_owns */
	w->m_seconds = w->policy.commit_seconds;
	committed_fn = w->committed_fn;
	committed_data = w->committed_data;
	pthread_mutex_unlock(&w->lock);

	take_done(w); /* what the thread finished goes first: a connection's acks stay in order */
	atomic_store(&w->busy_since_ns, mono_ns());
	process(w, list, max_batch);
	atomic_store(&w->busy_since_ns, 0);

	pthread_mutex_lock(&w->lock);
	size = vault_size(w->vault);
	w->loop_owns = false;
	/* the thread schedules the new tail's signature; a sleeping thread must hear of it */
	wake = w->head || (w->sleeping && size > w->signed_size) ||
	       size - w->signed_size >= w->policy.sign_after_entries;
	if (wake)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	run_done(w, list);
	if (w->after_done)
		w->after_done(w->after_done_data); /* the acks are written here */
	if (committed_fn)
		committed_fn(committed_data, size);
}

static void on_check(uv_check_t *h)
{
	kick(h->data);
}

static void on_idle(uv_idle_t *h)
{
	kick(h->data);
}

int writer_start(struct writer *w, uv_loop_t *loop, struct vault *v, uint64_t signed_size,
                 const struct writer_policy *policy, void (*signed_fn)(void *, uint64_t),
                 void *signed_data)
{
	pthread_condattr_t ca;
	int rc;

	*w = (struct writer){.vault = v,
	                     .policy = *policy,
	                     .signed_size = signed_size,
	                     .signed_fn = signed_fn,
	                     .signed_data = signed_data};
	pthread_mutex_init(&w->lock, NULL);
	/* deadlines on the monotonic clock: a wall-clock step must not delay a signature */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = uv_async_init(loop, &w->done_async, on_done);
	if (rc < 0)
		return rc;
	w->done_async.data = w;
	/* jobs queued by I/O callbacks are looked at right after them (check); the others by an
	 * idle handle started with the queueing, which also keeps the loop from sleeping until
	 * it ran; neither handle keeps the loop alive */
	uv_check_init(loop, &w->kick_check);
	uv_idle_init(loop, &w->kick_idle);
	w->kick_check.data = w->kick_idle.data = w;
	uv_check_start(&w->kick_check, on_check);
	uv_unref((uv_handle_t *)&w->kick_check);
	uv_unref((uv_handle_t *)&w->kick_idle);
	rc = -pthread_create(&w->thread, NULL, writer_main, w);
	if (rc < 0) {
		uv_close((uv_handle_t *)&w->done_async, NULL);
		uv_close((uv_handle_t *)&w->kick_check, NULL);
		uv_close((uv_handle_t *)&w->kick_idle, NULL);
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
	if (j->run || j->off_loop) /* never the loop's to commit: the thread, now */
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	w->kick_pending = true; /* the loop's check or idle handle commits or wakes */
	uv_idle_start(&w->kick_idle, on_idle);
}

struct append_job {
	struct job job;
	uint8_t *payload;
	writer_append_fn done;
	void *data;
	char subject[]; /* "" for none */
};

static const char *type_name(int type)
{
	const char *name = vault_entry_type_name(type);
	return name ? name : "invalid";
}

static void append_done(struct job *j)
{
	struct append_job *aj = (struct append_job *)j;

	if (j->rc < 0)
		log_error("recording a %s entry failed: %s", type_name(j->in1.type),
		          strerror(-j->rc));
	if (aj->done)
		aj->done(aj->data, j->rc);
	free(aj->payload);
	free(aj);
}

int writer_append(struct writer *w, uint16_t type, uint8_t *payload, size_t len, bool reserved,
                  writer_append_fn done, void *data)
{
	return writer_append_subject(w, type, payload, len, reserved, NULL, done, data);
}

int writer_append_subject(struct writer *w, uint16_t type, uint8_t *payload, size_t len,
                          bool reserved, const char *subject, writer_append_fn done, void *data)
{
	size_t slen = subject ? strlen(subject) : 0;
	struct append_job *aj = calloc(1, sizeof(*aj) + slen + 1);

	if (!aj) {
		log_error("recording a %s entry: out of memory", type_name(type));
		free(payload);
		return -ENOMEM;
	}
	aj->payload = payload;
	aj->done = done;
	aj->data = data;
	aj->job.n = 1;
	aj->job.in = &aj->job.in1;
	aj->job.res = &aj->job.res1;
	memcpy(aj->subject, subject ? subject : "", slen + 1);
	aj->job.in1 = (struct vault_entry_in){.type = type,
	                                      .payload = payload,
	                                      .payload_len = len,
	                                      .reserved = reserved,
	                                      .subject = slen ? aj->subject : NULL};
	aj->job.done = append_done;
	writer_submit(w, &aj->job);
	return 0;
}

void writer_configure(struct writer *w, const struct writer_policy *policy)
{
	pthread_mutex_lock(&w->lock);
	w->policy = *policy;
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
	/* run what finished last, then the handles can go */
	on_done(&w->done_async);
	uv_close((uv_handle_t *)&w->done_async, NULL);
	uv_close((uv_handle_t *)&w->kick_check, NULL);
	uv_close((uv_handle_t *)&w->kick_idle, NULL);
}
