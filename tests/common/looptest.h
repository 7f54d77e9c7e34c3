/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the loop tests (tests/unit/test_writer.c, test_session.c): a real uv_loop_t
 * driven one iteration at a time until a counted callback reaches its count, the way libuv's
 * own tests count callbacks, with a bounded number of iterations and a watchdog timer instead
 * of sleeps; and a gate that holds the writer thread, so that what one batch holds is decided
 * by the test, not by timing. Check assertions abort the test on failure. */
#pragma once

#include <stdbool.h>
#include <uv.h>

#include "writer.h"

/* Iterations looptest_run_until gives an event at the most. */
#define LOOPTEST_MAX_ITER 10000

/* uv_loop_init plus a watchdog timer (unreferenced: it never keeps the loop alive) after
 * which looptest_run_until gives up. */
void looptest_init(uv_loop_t *loop);
/* Closes the watchdog, runs the loop until nothing is left and checks that uv_loop_close
 * succeeds (no handle was left open). */
void looptest_close(uv_loop_t *loop);

/* Runs the loop (mode UV_RUN_ONCE: waiting for an event, for threads' wake-ups;
 * UV_RUN_NOWAIT: only what is ready, for sockets within the test) and then poll (may be
 * NULL: e.g. reading the test's client socket), until *count reaches want. False when it
 * does not within LOOPTEST_MAX_ITER iterations or before the watchdog fires. */
bool looptest_run_until(uv_loop_t *loop, uv_run_mode mode, const unsigned *count, unsigned want,
                        void (*poll)(void));

/* Queues a job that blocks w's thread and returns once the thread is inside it: jobs queued
 * next wait for looptest_gate_open and are then taken by the writer in one list. The gate's
 * done callback counts in *done_count (may be NULL). One gate per process. */
void looptest_gate_close(struct writer *w, unsigned *done_count);
void looptest_gate_open(void);
