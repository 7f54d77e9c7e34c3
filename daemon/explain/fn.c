/* SPDX-License-Identifier: Apache-2.0 */
/* Models as functions (ex_fn), decisions, and feature facts from background rows. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int model_predict(void *userdata, const double *rows, size_t n_rows, double *out, char *err,
                         size_t err_size)
{
	const struct ex_model *m = userdata;

	if (ex_model_is_trees(m))
		return ex__predict_margin_rows(m, rows, n_rows, out) < 0
		           ? ex__fail(err, err_size, -EINVAL, "the model cannot evaluate the rows")
		           : 0;
	for (size_t i = 0; i < n_rows; i++) {
		int rc =
		    ex_predict_margin(m, rows + i * m->n_features, NULL, out + i * m->n_outputs);
		if (rc < 0)
			return ex__fail(
			    err, err_size, rc,
			    "row %zu: the model cannot evaluate it (a missing value for "
			    "a linear model?)",
			    i);
	}
	return 0;
}

void ex_fn_from_model(const struct ex_model *m, struct ex_fn *ret)
{
	*ret = (struct ex_fn){.predict = model_predict,
	                      .userdata = (void *)m,
	                      .n_features = m->n_features,
	                      .n_outputs = m->n_outputs};
}

int ex_decide(const struct ex_decision *d, const double *out, size_t n_outputs)
{
	if (d->argmax && n_outputs > 1) {
		size_t best = 0;
		for (size_t g = 1; g < n_outputs; g++)
			if (out[g] > out[best])
				best = g;
		return (int)best;
	}
	return out[0] >= d->threshold ? 1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Linear interpolation between order statistics of sorted v[0..n). */
static double quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)pos;
	double frac = pos - (double)lo;
	return lo + 1 < n ? v[lo] + frac * (v[lo + 1] - v[lo]) : v[n - 1];
}

int ex_feature_info_from_rows(const double *bg, size_t n_bg, size_t n_features,
                              struct ex_feature_info *info)
{
	double *col, *dev;

	if (!bg || !n_bg || !info)
		return -EINVAL;
	col = malloc(n_bg * sizeof(double));
	dev = malloc(n_bg * sizeof(double));
	if (!col || !dev) {
		free(col);
		free(dev);
		return -ENOMEM;
	}
	for (size_t j = 0; j < n_features; j++) {
		size_t n = 0;
		bool integral = true;
		for (size_t r = 0; r < n_bg; r++) {
			double v = bg[r * n_features + j];
			if (isnan(v))
				continue;
			col[n++] = v;
			integral &= v == floor(v);
		}
		struct ex_feature_info fi = {.min = NAN, .max = NAN};
		if (n) {
			qsort(col, n, sizeof(double), cmp_double);
			fi.min = quantile(col, n, 0.005);
			fi.max = quantile(col, n, 0.995);
			double med = quantile(col, n, 0.5);
			for (size_t k = 0; k < n; k++)
				dev[k] = fabs(col[k] - med);
			qsort(dev, n, sizeof(double), cmp_double);
			fi.mad = quantile(dev, n, 0.5);
			if (fi.mad <= 0)
				fi.mad = (col[n - 1] - col[0]) / 100;
			if (fi.mad <= 1e-9)
				fi.mad = 1e-9;
			fi.integer = integral;
		}
		info[j] = fi;
	}
	free(col);
	free(dev);
	return 0;
}

size_t ex_signed_topk(const double *phi, size_t n, size_t k, int *idx)
{
	size_t got = 0;

	if (k > n)
		k = n;
	/* selection by repeated scans: k is at most a handful */
	for (size_t r = 0; r < k; r++) {
		size_t best = n;
		for (size_t j = 0; j < n; j++) {
			bool taken = false;
			for (size_t t = 0; t < got; t++)
				taken |= (size_t)abs(idx[t]) - 1 == j;
			if (taken)
				continue;
			if (best == n || fabs(phi[j]) > fabs(phi[best]))
				best = j;
		}
		idx[got++] = phi[best] > 0 ? (int)best + 1 : -((int)best + 1);
	}
	/* ascending feature index, so equal sets compare equal element by element */
	for (size_t a = 1; a < got; a++)
		for (size_t b = a; b > 0 && abs(idx[b - 1]) > abs(idx[b]); b--) {
			int t = idx[b];
			idx[b] = idx[b - 1];
			idx[b - 1] = t;
		}
	return got;
}

size_t ex_topk_size(const double *phi, size_t n, size_t kmax)
{
	double total = 0;
	size_t big = 0;

	for (size_t j = 0; j < n; j++)
		total += fabs(phi[j]);
	for (size_t j = 0; j < n; j++)
		big += fabs(phi[j]) >= 0.02 * total && total > 0;
	if (big > kmax)
		big = kmax;
	return big ? big : 1;
}
