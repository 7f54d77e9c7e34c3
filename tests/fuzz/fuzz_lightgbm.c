/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the lightgbm model loader on arbitrary bytes; a model that loads is evaluated and
 * explained on a few rows, which must not crash (attributions may refuse, never misbehave). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ex_model *m;
	char err[EX_ERR_MAX];

	if (ex_model_load_buffer(data, size, EX_FORMAT_LIGHTGBM_TEXT, "fuzz", &m, err,
	                         sizeof(err)) != 0) {
		if (!err[0])
			abort(); /* every refusal says why */
		return 0;
	}
	size_t M = ex_model_n_features(m), K = ex_model_n_outputs(m);
	if (M <= 4096 && K <= 64) {
		double *x = calloc(M, sizeof(double)), *phi = malloc(M * K * sizeof(double));
		double out[64], base[64];
		for (int row = 0; x && phi && row < 3; row++) {
			for (size_t i = 0; i < M; i++)
				x[i] = row == 0 ? 0.0 : row == 1 ? NAN : (double)i - 1.5;
			ex_predict_margin(m, x, NULL, out);
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
