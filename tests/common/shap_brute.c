/* SPDX-License-Identifier: Apache-2.0 */
/* Brute-force Shapley enumeration (tests only; see shap_brute.h). */
#include "shap_brute.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ brute force */

/* v_x(S) of the path-dependent game for one output. */
static double expv(const struct ex_model *m, const struct ex_tree *t, int32_t n, unsigned S,
                   const double *x)
{
	const struct ex_node *node = &t->nodes[n];

	if (node->cmp == EX_CMP_LEAF)
		return node->value;
	if (S >> node->feature & 1)
		return expv(m, t, ex_node_next(m, node, x), S, x);
	if (node->cover <= 0)
		return 0;
	return t->nodes[node->left].cover / node->cover * expv(m, t, node->left, S, x) +
	       t->nodes[node->right].cover / node->cover * expv(m, t, node->right, S, x);
}

double brute_v_path(const struct ex_model *m, size_t g, unsigned S, const double *x)
{
	double v = m->base_margin[g];
	for (size_t t = 0; t < m->n_trees; t++)
		if ((size_t)m->trees[t].group == g)
			v += m->output_scale * expv(m, &m->trees[t], 0, S, x);
	return v;
}

/* v(S) = mean_b f(x_S, b_rest) */
double brute_v_interv(const struct ex_model *m, size_t g, unsigned S, const double *x,
                      const double *bg, size_t n_bg)
{
	double z[16], out[8], sum = 0;

	for (size_t r = 0; r < n_bg; r++) {
		for (size_t i = 0; i < m->n_features; i++)
			z[i] = (S >> i & 1) ? x[i] : bg[r * m->n_features + i];
		ck_assert_int_eq(ex_predict_margin(m, z, NULL, out), 0);
		sum += out[g];
	}
	return sum / (double)n_bg;
}

double brute_g_path(const struct ex_model *m, size_t g, unsigned S, const double *x,
                    const double *bg, size_t n)
{
	(void)bg;
	(void)n;
	return brute_v_path(m, g, S, x);
}

static double factorial(unsigned n)
{
	double f = 1;
	for (unsigned k = 2; k <= n; k++)
		f *= k;
	return f;
}

void brute_shapley(const struct ex_model *m, brute_game_fn v, const double *x, const double *bg,
                   size_t n_bg, double *phi, double *base)
{
	size_t M = m->n_features;
	unsigned full = (1u << M) - 1;
	double *val = malloc((full + 1) * sizeof(double));

	for (size_t g = 0; g < m->n_outputs; g++) {
		for (unsigned S = 0; S <= full; S++)
			val[S] = v(m, g, S, x, bg, n_bg);
		base[g] = val[0];
		for (size_t i = 0; i < M; i++) {
			double s = 0;
			for (unsigned S = 0; S <= full; S++) {
				if (S >> i & 1)
					continue;
				unsigned k = (unsigned)__builtin_popcount(S);
				double w = factorial(k) * factorial((unsigned)M - k - 1) /
				           factorial((unsigned)M);
				s += w * (val[S | 1u << i] - val[S]);
			}
			phi[g * M + i] = s;
		}
	}
	free(val);
}

void brute_interactions(const struct ex_model *m, const double *x, double *inter)
{
	size_t M = m->n_features;
	unsigned full = (1u << M) - 1;
	double *val = malloc((full + 1) * sizeof(double)), phi[8 * 16], base[8];

	brute_shapley(m, brute_g_path, x, NULL, 0, phi, base);
	for (size_t g = 0; g < m->n_outputs; g++) {
		double *out = inter + g * M * M;
		for (unsigned S = 0; S <= full; S++)
			val[S] = brute_v_path(m, g, S, x);
		for (size_t i = 0; i < M; i++)
			for (size_t j = 0; j < M; j++) {
				if (i == j)
					continue;
				double s = 0;
				for (unsigned S = 0; S <= full; S++) {
					if ((S >> i & 1) || (S >> j & 1))
						continue;
					unsigned k = (unsigned)__builtin_popcount(S);
					double w = factorial(k) * factorial((unsigned)M - k - 2) /
					           (2 * factorial((unsigned)M - 1));
					s += w * (val[S | 1u << i | 1u << j] - val[S | 1u << i] -
					          val[S | 1u << j] + val[S]);
				}
				out[i * M + j] = s;
			}
		for (size_t i = 0; i < M; i++) {
			double off = 0;
			for (size_t j = 0; j < M; j++)
				if (j != i)
					off += out[i * M + j];
			out[i * M + i] = phi[g * M + i] - off;
		}
	}
	free(val);
}
