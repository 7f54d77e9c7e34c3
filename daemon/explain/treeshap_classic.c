/* SPDX-License-Identifier: Apache-2.0 */
/* Classic path-dependent TreeSHAP, the EXTEND/UNWIND recursion of Lundberg et al. 2020
 * (METHODS.md §1.2), in double. O(T L D^2). Kept as the reference the quadrature
 * implementation is tested against; the production path is ex_treeshap(). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "shap_internal.h"

struct elem {
	int feat;
	double z, o, w;
};

struct cwalk {
	const struct ex_model *m;
	const struct ex_tree *tree;
	const double *x;
	double *phi;
	double scale;
	struct elem *slots; /* (depth + 2) frames of (depth + 2) elements */
	unsigned stride;
};

static void extend(struct elem *p, unsigned m, double z, double o, int f)
{
	p[m].feat = f;
	p[m].z = z;
	p[m].o = o;
	p[m].w = m == 0 ? 1.0 : 0.0;
	for (int k = (int)m - 1; k >= 0; k--) {
		p[k + 1].w += o * p[k].w * (k + 1) / (m + 1);
		p[k].w = z * p[k].w * (m - k) / (m + 1);
	}
}

/* Sum of the weights with element i unwound (p untouched); m+1 elements in p. */
static double unwound_sum(const struct elem *p, unsigned m, unsigned i)
{
	double z = p[i].z, o = p[i].o, total = 0;

	if (o != 0) {
		double carry = p[m].w;
		for (int k = (int)m - 1; k >= 0; k--) {
			double wk = carry * (m + 1) / ((k + 1) * o);
			total += wk;
			carry = p[k].w - wk * z * (m - k) / (m + 1);
		}
	} else {
		for (unsigned k = 0; k < m; k++)
			total += p[k].w * (m + 1) / (z * (m - k));
	}
	return total;
}

static void unwind(struct elem *p, unsigned m, unsigned i)
{
	double z = p[i].z, o = p[i].o, carry = p[m].w;

	for (int k = (int)m - 1; k >= 0; k--) {
		if (o != 0) {
			double wk = carry * (m + 1) / ((k + 1) * o);
			carry = p[k].w - wk * z * (m - k) / (m + 1);
			p[k].w = wk;
		} else {
			p[k].w = p[k].w * (m + 1) / (z * (m - k));
		}
	}
	for (unsigned k = i; k < m; k++) {
		p[k].feat = p[k + 1].feat;
		p[k].z = p[k + 1].z;
		p[k].o = p[k + 1].o;
	}
}

/* parent holds `len` elements (the unique path so far, with a dummy at 0). */
static void recurse(struct cwalk *c, int32_t n, const struct elem *parent, unsigned len,
                    unsigned depth, double pz, double po, int pf)
{
	const struct ex_node *node = &c->tree->nodes[n];
	struct elem *p = c->slots + (size_t)depth * c->stride;

	memcpy(p, parent, len * sizeof(*p));
	extend(p, len, pz, po, pf);
	len++;
	if (node->cmp == EX_CMP_LEAF) {
		for (unsigned i = 1; i < len; i++)
			c->phi[p[i].feat] +=
			    unwound_sum(p, len - 1, i) * (p[i].o - p[i].z) * node->value * c->scale;
		return;
	}
	int32_t hot = ex_node_next(c->m, node, c->x);
	int32_t cold = hot == node->left ? node->right : node->left;
	double hz = node->cover > 0 ? c->tree->nodes[hot].cover / node->cover : 0;
	double cz = node->cover > 0 ? c->tree->nodes[cold].cover / node->cover : 0;
	double iz = 1, io = 1;
	unsigned k;

	for (k = 1; k < len; k++)
		if (p[k].feat == node->feature)
			break;
	if (k < len) {
		iz = p[k].z;
		io = p[k].o;
		unwind(p, len - 1, k);
		len--;
	}
	if (iz * hz != 0 || io != 0)
		recurse(c, hot, p, len, depth + 1, iz * hz, io, node->feature);
	/* a cold child with no cover never contributes (the o=0 branch would divide by z=0) */
	if (iz * cz != 0)
		recurse(c, cold, p, len, depth + 1, iz * cz, 0, node->feature);
}

int ex_treeshap_classic(const struct ex_model *m, const double *x, double *phi, double *base)
{
	size_t M;
	struct cwalk c = {.m = m, .x = x};

	if (!m || !ex_model_is_trees(m) || !x || !phi || !base)
		return -EINVAL;
	M = m->n_features;
	c.stride = m->max_depth + 2;
	c.slots = malloc((size_t)(m->max_depth + 3) * c.stride * sizeof(struct elem));
	if (!c.slots)
		return -ENOMEM;
	memset(phi, 0, m->n_outputs * M * sizeof(double));
	for (size_t g = 0; g < m->n_outputs; g++)
		base[g] = m->base_margin ? m->base_margin[g] : 0.0;
	for (size_t t = 0; t < m->n_trees; t++) {
		const struct ex_tree *tree = &m->trees[t];
		struct elem root = {.feat = -1, .z = 1, .o = 1, .w = 1};

		c.tree = tree;
		c.phi = phi + (size_t)tree->group * M;
		c.scale = m->output_scale;
		base[tree->group] += ex__tree_expectation(tree) * m->output_scale;
		if (tree->n_nodes > 1)
			recurse(&c, 0, &root, 0, 0, 1, 1, -1);
	}
	free(c.slots);
	return ex__check_efficiency(m, x, phi, base);
}
