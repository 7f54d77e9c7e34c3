/* SPDX-License-Identifier: Apache-2.0 */
/* Shared plumbing of the sampled Shapley estimators (internal): the game, the budget and the
 * stopping rule. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "explain.h"

struct game;

struct sampled_run {
	struct game *game;
	size_t P, G, M, n_bg;
	uint64_t budget; /* model rows */
	double tolerance, rel_tolerance;
};

/* Validates the arguments, builds the game (f(x) and f(b) evaluated) and allocates *ret.
 * On error nothing needs freeing. */
int sampled_begin(const struct ex_fn *f, const double *x, const double *bg, const double *w,
                  size_t n_bg, const struct ex_sampled_config *c, struct sampled_run *run,
                  struct ex_sampled_result *ret, char *err, size_t err_size);
/* Coalitions the rest of the budget pays for in the worst case (no cached rows). */
uint64_t sampled_affordable(const struct sampled_run *run);
/* The stopping rule over every output; also returns max stderr and the ratio. */
bool sampled_converged(const struct sampled_run *run, const struct ex_sampled_result *r,
                       double *ret_max_se, double *ret_ratio);
/* Units (pairs) a further round should bring the total to. */
size_t sampled_forecast(const struct sampled_run *run, size_t n, double max_se, double ratio);
/* Fills the cost counters and the efficiency residual. */
void sampled_finish(struct sampled_run *run, struct ex_sampled_result *r);
/* Frees the game; on error (rc < 0) also the result. */
void sampled_end(struct sampled_run *run, struct ex_sampled_result *r, int rc);
