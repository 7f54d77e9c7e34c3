/* SPDX-License-Identifier: Apache-2.0 */
/* Loop tests of the writer thread (daemon/writer.c) on a real uv_loop_t and a temporary vault.
 * Callbacks are counted the way libuv's own tests count them, and the loop is driven one
 * iteration at a time (UV_RUN_ONCE) until the counted event, with a bounded number of
 * iterations and a watchdog timer: no sleeps (tests/common/looptest.h). A gate job holds the
 * writer thread so that what a batch holds is decided by the test, not by timing. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "looptest.h"
#include "testutil.h"
#include "vault.h"
#include "writer.h"

#define N_JOBS 20 /* more than WRITER_INLINE_MAX */

static uv_loop_t loop;
static char *dir;
static struct vault *vault;
static struct writer w;

/* counted callbacks */
static unsigned done_cb_called;
static unsigned after_done_cb_called;
static unsigned append_cb_called;

static bool run_until(const unsigned *count, unsigned want)
{
	return looptest_run_until(&loop, UV_RUN_ONCE, count, want, NULL);
}

static void on_after_done(void *data)
{
	(void)data;
	after_done_cb_called++;
}

static void setup(void)
{
	struct writer_policy p = {.max_batch = 0,
	                          .commit_window_us = 0,
	                          .sign_after_entries = UINT32_MAX,
	                          .sign_after_ms = UINT32_MAX};

	done_cb_called = after_done_cb_called = append_cb_called = 0;
	looptest_init(&loop);
	dir = test_tmpdir("writer");
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, NULL, &vault), 0);
	ck_assert_int_eq(writer_start(&w, &loop, vault, 0, &p, NULL, NULL), 0);
	w.after_done = on_after_done;
}

static void teardown(void)
{
	writer_stop(&w);
	looptest_close(&loop);
	vault_close(vault);
	test_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------------ append jobs */

struct tjob {
	struct job job;
	uint8_t payload[32];
	unsigned order; /* done_cb_called when its done callback ran */
};

static struct tjob jobs[N_JOBS];

static void tjob_done(struct job *j)
{
	struct tjob *t = (struct tjob *)j;
	t->order = ++done_cb_called;
}

/* jobs[i]: one entry of the given type with a payload naming i. */
static struct job *tjob(size_t i, uint16_t type)
{
	struct tjob *t = &jobs[i];

	memset(t, 0, sizeof(*t));
	memset(t->payload, (int)i + 1, sizeof(t->payload));
	t->job.n = 1;
	t->job.in = &t->job.in1;
	t->job.res = &t->job.res1;
	t->job.in1 = (struct vault_entry_in){
	    .type = type, .payload = t->payload, .payload_len = sizeof(t->payload)};
	t->job.done = tjob_done;
	return &t->job;
}

static uint64_t commits(void)
{
	return atomic_load(&w.commits);
}

/* Jobs queued while the writer is busy are committed together: one transaction (one fsync)
 * for all of them, consecutive seqs, done callbacks in queue order, and one after_done call
 * for the whole batch. */
START_TEST(writer_submit_batches_what_waits)
{
	looptest_gate_close(&w, &done_cb_called);
	uint64_t c0 = commits(), size0 = vault_size(vault);
	for (size_t i = 0; i < N_JOBS; i++)
		writer_submit(&w, tjob(i, VAULT_ENTRY_NOTICE));
	ck_assert(!writer_idle(&w));
	looptest_gate_open();
	ck_assert(run_until(&done_cb_called, N_JOBS + 1));
	ck_assert_uint_eq(commits() - c0, 1);
	ck_assert_uint_eq(vault_size(vault), size0 + N_JOBS);
	for (size_t i = 0; i < N_JOBS; i++) {
		ck_assert_int_eq(jobs[i].job.rc, 0);
		ck_assert_uint_eq(jobs[i].job.res1.seq, size0 + i);
		ck_assert_uint_eq(jobs[i].order, i + 2); /* the gate's came first */
	}
	ck_assert(writer_idle(&w));
	/* the gate and the batch may come back in one wake-up or two, never one per job */
	ck_assert_uint_ge(after_done_cb_called, 1);
	ck_assert_uint_le(after_done_cb_called, 2);
}
END_TEST

/* max_batch bounds the entries of one commit: 20 jobs at 5 a commit are 4 commits. */
START_TEST(writer_submit_splits_at_max_batch)
{
	struct writer_policy p = {
	    .max_batch = 5, .sign_after_entries = UINT32_MAX, .sign_after_ms = UINT32_MAX};

	writer_configure(&w, &p);
	looptest_gate_close(&w, &done_cb_called);
	uint64_t c0 = commits();
	for (size_t i = 0; i < N_JOBS; i++)
		writer_submit(&w, tjob(i, VAULT_ENTRY_NOTICE));
	looptest_gate_open();
	ck_assert(run_until(&done_cb_called, N_JOBS + 1));
	ck_assert_uint_eq(commits() - c0, 4);
	for (size_t i = 0; i < N_JOBS; i++)
		ck_assert_int_eq(jobs[i].job.rc, 0);
}
END_TEST

/* An entry the vault refuses in the middle of a batch fails alone: its neighbours are
 * committed (each job retried on its own), in order, and every done callback runs once. */
START_TEST(writer_submit_isolates_a_bad_entry)
{
	const size_t bad = N_JOBS / 2;

	looptest_gate_close(&w, &done_cb_called);
	uint64_t size0 = vault_size(vault);
	for (size_t i = 0; i < N_JOBS; i++)
		writer_submit(&w, tjob(i, i == bad ? 0 : VAULT_ENTRY_NOTICE)); /* type 0: invalid */
	looptest_gate_open();
	ck_assert(run_until(&done_cb_called, N_JOBS + 1));
	ck_assert_uint_eq(vault_size(vault), size0 + N_JOBS - 1);
	uint64_t seq = size0;
	for (size_t i = 0; i < N_JOBS; i++) {
		ck_assert_uint_eq(jobs[i].order, i + 2);
		if (i == bad) {
			ck_assert_int_eq(jobs[i].job.rc, -EINVAL);
			continue;
		}
		ck_assert_int_eq(jobs[i].job.rc, 0);
		ck_assert_uint_eq(jobs[i].job.res1.seq, seq++);
	}
}
END_TEST

/* ------------------------------------------------------------------ commits on the loop */

/* Where each commit ran (writer_on_commit calls back on the committing thread), and the
 * checkpoints signed; the thread reports after handing its jobs back, so the test waits for
 * these with a condition variable (bounded: a lost wake-up fails the test, never hangs it). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned commits, signs;
	uint64_t signed_size;
	pthread_t last;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_committed(void *data, uint64_t size)
{
	(void)data;
	(void)size;
	pthread_mutex_lock(&seen.lock);
	seen.commits++;
	seen.last = pthread_self();
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
}

static void on_signed(void *data, uint64_t size)
{
	(void)data;
	pthread_mutex_lock(&seen.lock);
	seen.signs++;
	seen.signed_size = size;
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
}

/* Waits until *count reaches want (60 s at most); returns the thread of the last commit. */
static pthread_t wait_seen(const unsigned *count, unsigned want)
{
	struct timespec until;
	pthread_t t;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&seen.lock);
	while (*count < want && pthread_cond_timedwait(&seen.cond, &seen.lock, &until) == 0)
		;
	ck_assert_uint_ge(*count, want);
	t = seen.last;
	pthread_mutex_unlock(&seen.lock);
	return t;
}

static void setup_seen(void)
{
	setup();
	seen.commits = seen.signs = 0;
	writer_on_commit(&w, on_committed, NULL);
}

/* The writer thread idle, one append is committed by the loop thread within the loop
 * iteration that follows its submit (no wake-up of the thread, no uv_async back): its done
 * callback and after_done have run when that iteration returns. */
START_TEST(writer_commits_a_lone_append_on_the_loop)
{
	uint64_t c0 = commits(), size0 = vault_size(vault);

	writer_submit(&w, tjob(0, VAULT_ENTRY_NOTICE));
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_uint_eq(done_cb_called, 1);
	ck_assert_uint_eq(after_done_cb_called, 1);
	ck_assert_int_eq(jobs[0].job.rc, 0);
	ck_assert_uint_eq(jobs[0].job.res1.seq, size0);
	ck_assert_uint_eq(commits() - c0, 1);
	ck_assert(pthread_equal(wait_seen(&seen.commits, 1), pthread_self()));
	ck_assert(writer_idle(&w));
}
END_TEST

/* More than WRITER_INLINE_MAX entries queued at once (load) go to the writer thread, in one
 * commit; so does an off_loop job, even alone. */
START_TEST(writer_hands_load_and_off_loop_jobs_to_the_thread)
{
	uint64_t c0 = commits();

	for (size_t i = 0; i < WRITER_INLINE_MAX + 1; i++)
		writer_submit(&w, tjob(i, VAULT_ENTRY_NOTICE));
	ck_assert(run_until(&done_cb_called, WRITER_INLINE_MAX + 1));
	ck_assert_uint_eq(commits() - c0, 1);
	ck_assert(!pthread_equal(wait_seen(&seen.commits, 1), pthread_self()));

	struct job *j = tjob(WRITER_INLINE_MAX + 1, VAULT_ENTRY_NOTICE);
	j->off_loop = true;
	writer_submit(&w, j);
	ck_assert(run_until(&done_cb_called, WRITER_INLINE_MAX + 2));
	ck_assert_int_eq(j->rc, 0);
	ck_assert(!pthread_equal(wait_seen(&seen.commits, 2), pthread_self()));
}
END_TEST

static void setup_signing(void)
{
	struct writer_policy p = {.sign_after_entries = UINT32_MAX, .sign_after_ms = 1};

	done_cb_called = after_done_cb_called = append_cb_called = 0;
	seen.commits = seen.signs = 0;
	looptest_init(&loop);
	dir = test_tmpdir("writer");
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, NULL, &vault), 0);
	ck_assert_int_eq(vault_checkpoint_sign(vault, NULL), 0);
	ck_assert_int_eq(writer_start(&w, &loop, vault, vault_size(vault), &p, on_signed, NULL), 0);
	w.after_done = on_after_done;
}

/* An entry the loop committed is signed by the thread within sign_after_ms although the
 * thread was asleep without a deadline when it was appended. */
START_TEST(writer_signs_what_the_loop_committed)
{
	writer_submit(&w, tjob(0, VAULT_ENTRY_NOTICE));
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_uint_eq(done_cb_called, 1);
	wait_seen(&seen.signs, 1);
	pthread_mutex_lock(&seen.lock);
	ck_assert_uint_eq(seen.signed_size, 1);
	pthread_mutex_unlock(&seen.lock);
}
END_TEST

/* ------------------------------------------------------------------ writer_append */

static void on_appended(void *data, int rc)
{
	int *ret = data;
	*ret = rc;
	append_cb_called++;
}

/* The writer owns the payload (ASan checks it is freed once) and calls back with the result,
 * on the loop; a refused entry is reported the same way. */
START_TEST(writer_append_calls_back_with_the_result)
{
	int rc_ok = 1, rc_bad = 1;
	uint8_t *p = malloc(8), *q = malloc(8);

	ck_assert(p && q);
	memset(p, 7, 8);
	memset(q, 8, 8);
	uint64_t size0 = vault_size(vault);
	ck_assert_int_eq(writer_append(&w, VAULT_ENTRY_NOTICE, p, 8, false, on_appended, &rc_ok),
	                 0);
	ck_assert_int_eq(writer_append(&w, 0, q, 8, false, on_appended, &rc_bad), 0);
	ck_assert(run_until(&append_cb_called, 2));
	ck_assert_int_eq(rc_ok, 0);
	ck_assert_int_eq(rc_bad, -EINVAL);
	ck_assert_uint_eq(vault_size(vault), size0 + 1);
}
END_TEST

/* ------------------------------------------------------------------ writer_stop */

/* A stop drains: every queued job is committed and its done callback runs within
 * writer_stop, without another loop iteration. */
START_TEST(writer_stop_drains_the_queue)
{
	looptest_gate_close(&w, &done_cb_called);
	uint64_t size0 = vault_size(vault);
	for (size_t i = 0; i < N_JOBS; i++)
		writer_submit(&w, tjob(i, VAULT_ENTRY_NOTICE));
	looptest_gate_open();
	writer_stop(&w);
	ck_assert_uint_eq(done_cb_called, N_JOBS + 1);
	ck_assert(writer_idle(&w));
	ck_assert_uint_eq(vault_size(vault), size0 + N_JOBS);
	for (size_t i = 0; i < N_JOBS; i++)
		ck_assert_int_eq(jobs[i].job.rc, 0);
}
END_TEST

static Suite *writer_suite(void)
{
	Suite *s = suite_create("writer");
	TCase *tc = tcase_create("writer_submit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, writer_submit_batches_what_waits);
	tcase_add_test(tc, writer_submit_splits_at_max_batch);
	tcase_add_test(tc, writer_submit_isolates_a_bad_entry);
	suite_add_tcase(s, tc);
	tc = tcase_create("writer_kick");
	tcase_add_checked_fixture(tc, setup_seen, teardown);
	tcase_add_test(tc, writer_commits_a_lone_append_on_the_loop);
	tcase_add_test(tc, writer_hands_load_and_off_loop_jobs_to_the_thread);
	suite_add_tcase(s, tc);
	tc = tcase_create("writer_signs");
	tcase_add_checked_fixture(tc, setup_signing, teardown);
	tcase_add_test(tc, writer_signs_what_the_loop_committed);
	suite_add_tcase(s, tc);
	tc = tcase_create("writer_append");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, writer_append_calls_back_with_the_result);
	suite_add_tcase(s, tc);
	tc = tcase_create("writer_stop");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, writer_stop_drains_the_queue);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(writer_suite());
}
