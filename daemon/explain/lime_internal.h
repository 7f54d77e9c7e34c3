/* SPDX-License-Identifier: Apache-2.0 */
/* LIME's weighted ridge, exposed for its tests (compared against LAPACKE_dposv). Not
 * installed. */
#pragma once

#include <stddef.h>

/* Weighted, centred sufficient statistics of a design Z (n x M, row-major), labels y, weights
 * w: C = sum_i w_i (z_i - mz)(z_i - mz)', cy = sum_i w_i (z_i - mz)(y_i - my), syy, sw, and
 * n_eff = sw^2 / sum w^2. */
struct lime_gram {
	size_t M;
	double *mz, *C, *cy; /* M, M x M, M */
	double syy, sw, my, n_eff;
};

/* Returns 0, -ENOMEM, -EDOM (weights sum to 0). Free with ex__lime_gram_free. */
int ex__lime_gram(const double *Z, const double *y, const double *w, size_t n, size_t M,
                  struct lime_gram *g);
void ex__lime_gram_free(struct lime_gram *g);
/* Ridge on the columns S[0..p): (C_SS + alpha I) coef = cy_S by ex_cholesky; the intercept
 * is unpenalised (my - mz_S . coef); r2 the weighted R^2; se (may be NULL) the standard errors
 * sqrt(RSS / (n_eff - p - 1) [A^-1]_aa); *jitter (may be NULL) raised to the Cholesky jitter
 * used. Returns 0, -ENOMEM, -EDOM. */
int ex__lime_fit(const struct lime_gram *g, const size_t *S, size_t p, double alpha, double *coef,
                 double *intercept, double *r2, double *se, double *jitter);
