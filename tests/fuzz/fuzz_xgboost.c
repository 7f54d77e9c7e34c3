/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the xgboost model loader on arbitrary bytes. A refusal must say why; a model that
 * loads is evaluated, linked and explained on rows of zeros, NaN, small integers and values at
 * the split rules' edges (negative fractions, float rounding, 2^24, 2^31, +-1e300), which must
 * not crash (attributions may refuse, never misbehave); one row alone and the four together
 * must get the same bits from ex_treeshap_rows. The loader's JSON reader (xjson.h) is checked
 * against jansson on the same bytes (inputs without XGBoost's bare NaN / Infinity, which
 * jansson refuses, and without NUL bytes, which jansson skips where JSON has none): both
 * accept or both refuse, and accepted documents hold the same values, reals to the bit. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "xjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct xj_doc *d, const struct xj_tok *t, json_t *j)
{
	switch (t->type) {
	case XJ_NULL:
		if (!json_is_null(j))
			abort();
		return;
	case XJ_TRUE:
	case XJ_FALSE:
		if (!json_is_boolean(j) || json_is_true(j) != (t->type == XJ_TRUE))
			abort();
		return;
	case XJ_INT:
		if (!json_is_integer(j) || json_integer_value(j) != t->v.i)
			abort();
		return;
	case XJ_REAL: {
		double v = json_is_real(j) ? json_real_value(j) : NAN;
		if (!json_is_real(j) || memcmp(&v, &t->v.d, sizeof(v)) != 0)
			abort();
		return;
	}
	case XJ_STRING:
		if (!json_is_string(j) || json_string_length(j) != t->size ||
		    memcmp(json_string_value(j), t->v.s, t->size + 1) != 0)
			abort();
		return;
	case XJ_ARRAY: {
		const struct xj_tok *e = t + 1;
		if (!json_is_array(j) || json_array_size(j) != t->size)
			abort();
		for (size_t i = 0; i < t->size; i++, e = xj_skip(d, e))
			same(d, e, json_array_get(j, i));
		return;
	}
	case XJ_OBJECT: {
		const struct xj_tok *k = t + 1;
		const char *key;
		json_t *v;
		/* repeated keys: the last one counts in both */
		if (!json_is_object(j) || json_object_size(j) > t->size)
			abort();
		for (size_t i = 0; i < t->size; i++, k = xj_skip(d, k + 1))
			same(d, xj_get(d, t, k->v.s), json_object_get(j, k->v.s));
		json_object_foreach(j, key, v)
		{
			if (!xj_get(d, t, key))
				abort();
		}
		return;
	}
	default:
		abort();
	}
}

static void check_reader(const uint8_t *data, size_t size)
{
	static const char *const words[] = {"NaN", "Infinity"};
	struct xj_doc doc;
	char err[256];
	json_error_t je;

	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
		if (memmem(data, size, words[w], strlen(words[w])))
			return;
	if (memchr(data, '\0', size))
		return;
	int rc = xj_parse(&doc, (const char *)data, size, err, sizeof(err));
	json_t *j = json_loadb((const char *)data, size, 0, &je);
	if ((rc == 0) != (j != NULL))
		abort(); /* one accepts what the other refuses */
	if (rc < 0 && (!err[0] || !strstr(err, "line ")))
		abort(); /* a refusal says where */
	if (rc == 0) {
		same(&doc, doc.tok, j);
		xj_free(&doc);
	}
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const double edges[] = {
	    -0.5,  3.9999999, 16777215.7, 2147483648.0, -1e-36, 1.0000000180025095e-35,
	    1e300, -1e300,    INFINITY,   -0.0};
	const size_t n_edges = sizeof(edges) / sizeof(edges[0]);
	struct ex_model *m;
	char err[EX_ERR_MAX] = "";

	check_reader(data, size);
	if (ex_model_load_buffer(data, size, EX_FORMAT_XGBOOST_JSON, "fuzz", &m, err,
	                         sizeof(err)) != 0) {
		if (!err[0] || !strstr(err, "fuzz"))
			abort(); /* every refusal names the model and says why */
		return 0;
	}
	size_t M = ex_model_n_features(m), K = ex_model_n_outputs(m);
	if (M && M <= 4096 && K && K <= 64) {
		double *X = calloc(4 * M, sizeof(double)),
		       *phi = malloc(4 * M * K * sizeof(double));
		double *phi1 = malloc(M * K * sizeof(double));
		double out[64], base[4 * 64], base1[64];
		int rcs[4], rc1;
		for (int row = 0; X && phi && phi1 && row < 4; row++) {
			double *x = X + (size_t)row * M;
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
		if (X && phi && phi1 && ex_model_is_trees(m) &&
		    ex_treeshap_rows(m, X, 4, phi, base, rcs) == 0) {
			for (size_t row = 0; row < 4; row++) {
				if (ex_treeshap_rows(m, X + row * M, 1, phi1, base1, &rc1) != 0 ||
				    rc1 != rcs[row] ||
				    memcmp(phi1, phi + row * M * K, M * K * sizeof(double)) ||
				    memcmp(base1, base + row * K, K * sizeof(double)))
					abort(); /* a row alone differs from the same row in a block
					          */
			}
		}
		free(X);
		free(phi);
		free(phi1);
	}
	ex_model_free(m);
	return 0;
}
