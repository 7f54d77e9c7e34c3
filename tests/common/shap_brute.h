/* SPDX-License-Identifier: Apache-2.0 */
/* Brute-force Shapley values by enumerating all 2^M coalitions (M <= 12): the reference the
 * explain tests compare every exact method against (tests only). */
#pragma once

#include <stddef.h>

#include "model.h"

/* v(S) of one output: the path-dependent game (ex_treeshap's) or the interventional one. */
double brute_v_path(const struct ex_model *m, size_t g, unsigned S, const double *x);
double brute_v_interv(const struct ex_model *m, size_t g, unsigned S, const double *x,
                      const double *bg, size_t n_bg);

typedef double (*brute_game_fn)(const struct ex_model *, size_t, unsigned, const double *,
                                const double *, size_t);
/* The path-dependent game in brute_game_fn form. */
double brute_g_path(const struct ex_model *m, size_t g, unsigned S, const double *x,
                    const double *bg, size_t n);

/* Shapley values (phi: n_outputs x M) and v(empty) (base) of the game v. */
void brute_shapley(const struct ex_model *m, brute_game_fn v, const double *x, const double *bg,
                   size_t n_bg, double *phi, double *base);
/* Shapley interaction index of the path-dependent game (n_outputs x M x M). */
void brute_interactions(const struct ex_model *m, const double *x, double *inter);
