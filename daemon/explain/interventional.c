/* SPDX-License-Identifier: Apache-2.0 */
/* Interventional TreeSHAP (METHODS.md §1.9): exact Shapley values of
 * v(S) = mean_b f(x_S, b_rest) over background rows b. For one row b and one tree, a walk
 * follows edges x and b agree on for free; where they part, the x side puts the feature in N
 * (the features x must supply), the b side in B; a feature already committed to one side
 * follows that side only. At a leaf reached with sets N and B, the leaf's value is the
 * difference of a product game: each i in N gains value * (|N|-1)! |B|! / (|N|+|B|)!, each
 * i in B loses value * |N|! (|B|-1)! / (|N|+|B|)!. O(T L R) per row in the worst case. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "shap_internal.h"

#define SIDE_NONE 0
#define SIDE_X    1
#define SIDE_B    2

struct iwalk {
	const struct ex_model *m;
	const struct ex_tree *tree;
	const double *x, *b;
	double *phi;
	unsigned char *side; /* per feature */
	int *stack;          /* features committed on the current path */
	unsigned n_x, n_b, depth;
	const double *coef_x; /* [n][b] = (n-1)! b! / (n+b)!  (n >= 1) */
	const double *coef_b; /* [n][b] = n! (b-1)! / (n+b)!  (b >= 1) */
	unsigned dim;
	double scale;
};

static void iwalk_rec(struct iwalk *w, int32_t n)
{
	const struct ex_node *node = &w->tree->nodes[n];

	if (node->cmp == EX_CMP_LEAF) {
		double v = node->value * w->scale;
		if (w->n_x + w->n_b == 0)
			return; /* x and b agree: no contribution */
		for (unsigned i = 0; i < w->depth; i++) {
			int f = w->stack[i];
			if (w->side[f] == SIDE_X)
				w->phi[f] += v * w->coef_x[w->n_x * w->dim + w->n_b];
			else
				w->phi[f] -= v * w->coef_b[w->n_x * w->dim + w->n_b];
		}
		return;
	}
	int f = node->feature;
	int32_t cx = ex_node_next(w->m, node, w->x), cb = ex_node_next(w->m, node, w->b);

	if (w->side[f] == SIDE_X) {
		iwalk_rec(w, cx);
	} else if (w->side[f] == SIDE_B) {
		iwalk_rec(w, cb);
	} else if (cx == cb) {
		iwalk_rec(w, cx);
	} else {
		w->stack[w->depth++] = f;
		w->side[f] = SIDE_X;
		w->n_x++;
		iwalk_rec(w, cx);
		w->n_x--;
		w->side[f] = SIDE_B;
		w->n_b++;
		iwalk_rec(w, cb);
		w->n_b--;
		w->side[f] = SIDE_NONE;
		w->depth--;
	}
}

int ex_treeshap_interventional(const struct ex_model *m, const double *x, const double *bg,
                               size_t n_bg, double *phi, double *base)
{
	size_t M;
	struct iwalk w = {.m = m, .x = x};
	double *coef = NULL, *fb = NULL;
	int rc = 0;

	if (!m || !ex_model_is_trees(m) || !x || !bg || n_bg == 0 || !phi || !base)
		return -EINVAL;
	M = m->n_features;
	w.dim = m->max_depth + 2;
	coef = malloc(2 * (size_t)w.dim * w.dim * sizeof(double));
	w.side = calloc(M, 1);
	w.stack = malloc(w.dim * sizeof(int));
	fb = malloc(m->n_outputs * sizeof(double));
	if (!coef || !w.side || !w.stack || !fb) {
		rc = -ENOMEM;
		goto out;
	}
	/* (n-1)! b! / (n+b)! and n! (b-1)! / (n+b)!, built from the Beta recursion without
	 * factorials (which overflow): c(n, b) = c(n, b-1) * b / (n+b). */
	for (unsigned n = 0; n < w.dim; n++)
		for (unsigned b = 0; b < w.dim; b++) {
			double cx = 0, cb = 0;
			if (n >= 1) {
				cx = 1.0 / n; /* (n-1)! 0! / n! */
				for (unsigned k = 1; k <= b; k++)
					cx *= (double)k / (n + k);
			}
			if (b >= 1) {
				cb = 1.0 / b;
				for (unsigned k = 1; k <= n; k++)
					cb *= (double)k / (b + k);
			}
			coef[n * w.dim + b] = cx;
			coef[w.dim * w.dim + n * w.dim + b] = cb;
		}
	w.coef_x = coef;
	w.coef_b = coef + (size_t)w.dim * w.dim;
	memset(phi, 0, m->n_outputs * M * sizeof(double));
	memset(base, 0, m->n_outputs * sizeof(double));
	w.scale = m->output_scale / (double)n_bg;
	for (size_t r = 0; r < n_bg; r++) {
		w.b = bg + r * M;
		rc = ex_predict_margin(m, w.b, NULL, fb);
		if (rc < 0)
			goto out;
		for (size_t g = 0; g < m->n_outputs; g++)
			base[g] += fb[g] / (double)n_bg;
		for (size_t t = 0; t < m->n_trees; t++) {
			w.tree = &m->trees[t];
			w.phi = phi + (size_t)w.tree->group * M;
			if (w.tree->n_nodes > 1)
				iwalk_rec(&w, 0);
		}
	}
	rc = ex__check_efficiency(m, x, phi, base);
out:
	free(coef);
	free(w.side);
	free(w.stack);
	free(fb);
	return rc;
}
