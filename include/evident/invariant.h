/* SPDX-License-Identifier: Apache-2.0 */
/* Invariants: conditions the code itself guarantees, stated where they hold (STYLE.md,
 * "Invariants").
 *
 * INVARIANT(cond) checks a cheap condition in every build, release included: a false one is a
 * bug in evidentd (never bad input, which is validated and answered with an error), and
 * carrying on would write wrong evidence, so it prints where and what to stderr and aborts
 * (a core dump; systemd restarts the daemon, and nothing acknowledged is lost).
 * DEBUG_INVARIANT(cond) is for checks too costly for the hot path (a loop, a hash): it is
 * compiled only without NDEBUG, like assert().
 *
 * Header-only, no dependencies: every library of the project may include it. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

__attribute__((noreturn, cold)) static inline void
evident__invariant_failed(const char *cond, const char *file, int line, const char *func)
{
	fprintf(stderr, "%s:%d: %s: invariant violated: %s\n", file, line, func, cond);
	fflush(stderr);
	abort();
}

#define INVARIANT(cond)                \
	(__builtin_expect(!!(cond), 1) \
	     ? (void)0                 \
	     : evident__invariant_failed(#cond, __FILE__, __LINE__, __func__))

#ifdef NDEBUG
#define DEBUG_INVARIANT(cond) ((void)0)
#else
#define DEBUG_INVARIANT(cond) INVARIANT(cond)
#endif
