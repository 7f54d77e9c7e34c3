/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the linear model loader on arbitrary bytes. A refusal must say why; a model that
 * loads is evaluated, linked and explained on rows of zeros, NaN, small integers and values at
 * the split rules' edges (negative fractions, float rounding, 2^24, 2^31, +-1e300), which must
 * not crash (attributions may refuse, never misbehave). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const double edges[] = {
	    -0.5,  3.9999999, 16777215.7, 2147483648.0, -1e-36, 1.0000000180025095e-35,
	    1e300, -1e300,    INFINITY,   -0.0};
	const size_t n_edges = sizeof(edges) / sizeof(edges[0]);
	struct ex_model *m;
	char err[EX_ERR_MAX] = "";

	if (ex_model_load_buffer(data, size, EX_FORMAT_LINEAR_JSON, "fuzz", &m, err, sizeof(err)) !=
	    0) {
		if (!err[0] || !strstr(err, "fuzz"))
			abort(); /* every refusal names the model and says why */
		return 0;
	}
	size_t M = ex_model_n_features(m), K = ex_model_n_outputs(m);
	if (M && M <= 4096 && K && K <= 64) {
		double *x = calloc(M, sizeof(double)), *phi = malloc(M * K * sizeof(double));
		double out[64], base[64];
		for (int row = 0; x && phi && row < 4; row++) {
			for (size_t i = 0; i < M; i++)
				x[i] = row == 0   ? 0.0
				       : row == 1 ? NAN
				       : row == 2 ? (double)i - 1.5
				                  : edges[i % n_edges];
			if (ex_predict_margin(m, x, NULL, out) == 0)
				ex_link_apply(m, out);
			if (ex_model_is_trees(m))
				ex_treeshap(m, x, phi, base);
			else
				ex_linear_shap(m, x, NULL, 0, phi, base);
		}
		free(x);
		free(phi);
	}
	ex_model_free(m);
	return 0;
}
