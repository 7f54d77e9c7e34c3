/* SPDX-License-Identifier: Apache-2.0 */
/* Exact interventional SHAP of a linear model (METHODS.md §1.10):
 * phi_i = beta_i (x_i - mean_b x_i), base = beta_0 + beta . mean_b x, in margin space (log-odds
 * for a logit link, where the model is additive; probability-space attributions would not be
 * linear and need KernelSHAP). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "shap_internal.h"

int ex_linear_shap(const struct ex_model *m, const double *x, const double *bg, size_t n_bg,
                   double *phi, double *base)
{
	size_t M;
	double *mean;
	int rc;

	if (!m || ex_model_is_trees(m) || !m->coef || !x || !phi || !base || (n_bg && !bg))
		return -EINVAL;
	M = m->n_features;
	for (size_t i = 0; i < M; i++)
		if (isnan(x[i]))
			return -EINVAL; /* a linear model has no rule for a missing value */
	mean = calloc(M, sizeof(double));
	if (!mean)
		return -ENOMEM;
	if (n_bg) {
		for (size_t r = 0; r < n_bg; r++)
			for (size_t i = 0; i < M; i++) {
				if (isnan(bg[r * M + i])) {
					free(mean);
					return -EINVAL;
				}
				mean[i] += bg[r * M + i] / (double)n_bg;
			}
	} else if (m->feature_means) {
		memcpy(mean, m->feature_means, M * sizeof(double));
	}
	base[0] = m->intercept;
	for (size_t i = 0; i < M; i++) {
		phi[i] = m->coef[i] * (x[i] - mean[i]);
		base[0] += m->coef[i] * mean[i];
	}
	free(mean);
	rc = ex__check_efficiency(m, x, phi, base);
	return rc;
}
