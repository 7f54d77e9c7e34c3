/* SPDX-License-Identifier: Apache-2.0 */
/* Loop test helpers (looptest.h). */
#include "looptest.h"

#include <check.h>
#include <pthread.h>

#define WATCHDOG_MS 30000

static uv_timer_t watchdog;
static bool watchdog_fired;

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	watchdog_fired = true;
}

void looptest_init(uv_loop_t *loop)
{
	watchdog_fired = false;
	ck_assert_int_eq(uv_loop_init(loop), 0);
	ck_assert_int_eq(uv_timer_init(loop, &watchdog), 0);
	ck_assert_int_eq(uv_timer_start(&watchdog, on_watchdog, WATCHDOG_MS, 0), 0);
	uv_unref((uv_handle_t *)&watchdog);
}

void looptest_close(uv_loop_t *loop)
{
	uv_close((uv_handle_t *)&watchdog, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(loop), 0);
}

bool looptest_run_until(uv_loop_t *loop, uv_run_mode mode, const unsigned *count, unsigned want,
                        void (*poll)(void))
{
	for (int i = 0; i < LOOPTEST_MAX_ITER && *count < want && !watchdog_fired; i++) {
		uv_run(loop, mode);
		if (poll)
			poll();
	}
	return *count >= want;
}

/* ------------------------------------------------------------------ the writer gate */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, open;
	unsigned *done_count;
	struct job job;
} gate = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void gate_run(struct job *j, struct vault *v)
{
	(void)v;
	pthread_mutex_lock(&gate.lock);
	gate.entered = true;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.open)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
	j->rc = 0;
}

static void gate_done(struct job *j)
{
	(void)j;
	if (gate.done_count)
		(*gate.done_count)++;
}

void looptest_gate_close(struct writer *w, unsigned *done_count)
{
	pthread_mutex_lock(&gate.lock);
	gate.entered = gate.open = false;
	pthread_mutex_unlock(&gate.lock);
	gate.done_count = done_count;
	gate.job = (struct job){.run = gate_run, .done = gate_done};
	writer_submit(w, &gate.job);
	pthread_mutex_lock(&gate.lock);
	while (!gate.entered)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

void looptest_gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}
