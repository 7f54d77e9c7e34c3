/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the attribution files (ex__ prefix). */
#pragma once

#include "model.h"

/* Gauss-Legendre nodes t[0..n) and weights w[0..n) on [0, 1]. */
void ex__gauss_legendre(unsigned n, double *t, double *w);
/* A tree's cover-weighted mean leaf value (its share of the path-dependent base value),
 * unscaled by output_scale. */
double ex__tree_expectation(const struct ex_tree *t);
/* -EDOM unless base + sum phi equals the margin of x for every output (within
 * ex_efficiency_tolerance); -ENOMEM. */
int ex__check_efficiency(const struct ex_model *m, const double *x, const double *phi,
                         const double *base);
/* The same check against margins already computed (n_outputs values): 0 or -EDOM. */
int ex__check_sum(const struct ex_model *m, const double *margin, const double *phi,
                  const double *base);
