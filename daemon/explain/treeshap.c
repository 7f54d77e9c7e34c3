/* SPDX-License-Identifier: Apache-2.0 */
/* Path-dependent TreeSHAP and SHAP interaction values by Gauss-Legendre quadrature
 * (METHODS.md §1.1, §1.5, §1.8).
 *
 * For one leaf with distinct path features U, v(S) = value * prod_{j in U∩S} o_j *
 * prod_{j in U\S} z_j (z: product of cover ratios of the path's edges on j, o: whether x takes
 * all of them). Its Shapley values are value * (o_i - z_i) * ∫_0^1 prod_{j≠i} g_j(t) dt with
 * g = z + t (o - z): a polynomial of degree |U| - 1, integrated exactly by ceil(|U|/2) Gauss
 * points. Walking down the tree we carry C(t) = prod g(t) at every node; on the way back each
 * edge adds sum_q w_q H(t_q) (r_new - r_old)(t_q), r = (o - z) / g, to its feature, and the
 * differences telescope when a feature repeats on a path. Every factor g lies in [0, 1], so
 * nothing overflows or cancels catastrophically (unlike the classic recursion's unwinding).
 * Cost O(T * L * Q) per row; the efficiency identity is checked on every call. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evident/invariant.h"
#include "model.h"
#include "shap_internal.h"

#define Q_MAX 40 /* 80 distinct features on one path; deeper paths are refused */

/* Legendre P_n(x) and P_{n-1}(x) by the three-term recurrence. */
static void legendre(unsigned n, double x, double *pn, double *pn1)
{
	double p0 = 1, p1 = x;

	for (unsigned k = 2; k <= n; k++) {
		double p2 = ((2.0 * k - 1) * x * p1 - (k - 1.0) * p0) / k;
		p0 = p1;
		p1 = p2;
	}
	*pn = n == 0 ? 1 : p1;
	*pn1 = p0;
}

/* Gauss-Legendre nodes and weights on [0, 1]: Newton's method on P_n from the usual
 * Chebyshev-like guesses, which converge to full precision in a few steps for n <= 40. */
void ex__gauss_legendre(unsigned n, double *t, double *w)
{
	for (unsigned i = 0; i < (n + 1) / 2; i++) {
		double x = cos(M_PI * (i + 0.75) / (n + 0.5)), pn, pn1, dp;
		for (int it = 0; it < 100; it++) {
			legendre(n, x, &pn, &pn1);
			dp = n * (x * pn - pn1) / (x * x - 1);
			double dx = pn / dp;
			x -= dx;
			if (fabs(dx) < 1e-15)
				break;
		}
		legendre(n, x, &pn, &pn1);
		dp = n * (x * pn - pn1) / (x * x - 1);
		double wt = 2 / ((1 - x * x) * dp * dp);
		/* map [-1, 1] to [0, 1] */
		t[i] = (1 - x) / 2;
		t[n - 1 - i] = (1 + x) / 2;
		w[i] = w[n - 1 - i] = wt / 2;
	}
}

/* ------------------------------------------------------------------ the walk */

struct qwalk {
	const struct ex_model *m;
	const struct ex_tree *tree;
	const double *x;
	unsigned Q;
	const double *t, *w, *inv1mt; /* nodes, weights, 1 / (1 - t) */
	double *z, *o;   /* per feature: current path state, 1/1 when not on the path */
	double *ig;      /* per feature: Q_MAX values of 1 / g(t_k) for its current state */
	double *phi;     /* this tree's output row (M values) */
	double *scratch; /* (depth + 2) frames of FRAME * Q doubles */
	/* interactions only */
	double *dir;       /* M x M, or NULL */
	int *active;       /* distinct features on the current path */
	unsigned *on_path; /* per feature: edges on the current path */
	unsigned n_active;
};

#define FRAME 4 /* doubles per quadrature point in a frame: C2, Hc, dr, saved 1/g */

/* H (Q values) of the subtree at node n (an internal node) given C; frame points at this
 * depth's scratch.
 *
 * With o in {0, 1}: a cold edge (o = 0) has g = z (1 - t) and r = -1 / (1 - t) whatever z is,
 * so it needs no division at all unless its subtree splits on the same feature again (then
 * one, for 1/z); a hot edge keeps o and needs Q. Each feature's 1/g is kept with its state,
 * so a node reads its parent-side 1/g instead of dividing again. Leaf children are folded in
 * without a call. Specialised below for small Q so the loops over quadrature points unroll. */
static inline __attribute__((always_inline)) void
qrec_body(struct qwalk *q, int32_t n, const double *C, double *H, double *frame, const unsigned Q,
          void (*self)(struct qwalk *, int32_t, const double *, double *, double *))
{
	const struct ex_node *nodes = q->tree->nodes, *node = &nodes[n];
	double *C2 = frame, *Hc = frame + Q, *dr = frame + 2 * Q, *saved = frame + 3 * Q;
	double *next_frame = frame + FRAME * Q;
	double r_old[Q_MAX];
	int32_t hot = ex_node_next(q->m, node, q->x);
	int f = node->feature;
	double zo = q->z[f], oo = q->o[f];
	double *igf = q->ig + (size_t)f * Q_MAX;

	for (unsigned k = 0; k < Q; k++) {
		saved[k] = igf[k];
		r_old[k] = (oo - zo) * saved[k];
		H[k] = 0;
	}
	for (int side = 0; side < 2; side++) {
		int32_t c = side ? node->right : node->left;
		const struct ex_node *child = &nodes[c];
		bool leaf = child->cmp == EX_CMP_LEAF;
		double zn = zo * child->frac;
		double on = c == hot ? oo : 0.0;
		double acc = 0;

		if (on == 0) {
			if (zn == 0)
				continue; /* contributes to no coalition */
			for (unsigned k = 0; k < Q; k++) {
				C2[k] = C[k] * zn * (1 - q->t[k]) * saved[k];
				dr[k] = -q->inv1mt[k] - r_old[k];
			}
			if (!leaf) {
				double iz = 1.0 / zn;
				for (unsigned k = 0; k < Q; k++)
					igf[k] = iz * q->inv1mt[k];
			}
		} else {
			for (unsigned k = 0; k < Q; k++) {
				double g = zn + q->t[k] * (1 - zn), ig = 1.0 / g;
				C2[k] = C[k] * g * saved[k];
				dr[k] = (1 - zn) * ig - r_old[k];
				igf[k] = ig;
			}
		}
		if (leaf) {
			for (unsigned k = 0; k < Q; k++)
				Hc[k] = child->value * C2[k];
		} else {
			q->z[f] = zn;
			q->o[f] = on;
			if (q->dir && q->on_path[f]++ == 0)
				q->active[q->n_active++] = f;
			self(q, c, C2, Hc, next_frame);
			if (q->dir && --q->on_path[f] == 0)
				q->n_active--;
			q->z[f] = zo;
			q->o[f] = oo;
		}
		for (unsigned k = 0; k < Q; k++) {
			/* r = (o - z) / g: the differences telescope over repeats of f */
			double term = q->w[k] * Hc[k] * dr[k];
			acc += term;
			H[k] += Hc[k];
		}
		if (q->dir) {
			/* pairs with every other feature active above this edge */
			for (unsigned a = 0; a < q->n_active; a++) {
				int j = q->active[a];
				double s = 0;
				if (j == f)
					continue;
				for (unsigned k = 0; k < Q; k++)
					s += q->w[k] * Hc[k] * dr[k] * q->ig[(size_t)j * Q_MAX + k];
				q->dir[(size_t)f * q->m->n_features + (size_t)j] +=
				    s * (q->o[j] - q->z[j]);
			}
		}
		q->phi[f] += acc;
	}
	for (unsigned k = 0; k < Q; k++)
		igf[k] = saved[k];
}

#define QREC_FIXED(NQ)                                                                \
	static void qrec_##NQ(struct qwalk *q, int32_t n, const double *C, double *H, \
	                      double *frame)                                          \
	{                                                                             \
		qrec_body(q, n, C, H, frame, NQ, qrec_##NQ);                          \
	}
QREC_FIXED(1)
QREC_FIXED(2)
QREC_FIXED(3)
QREC_FIXED(4)
QREC_FIXED(5)
QREC_FIXED(6)
QREC_FIXED(7)
QREC_FIXED(8)

static void qrec_any(struct qwalk *q, int32_t n, const double *C, double *H, double *frame)
{
	qrec_body(q, n, C, H, frame, q->Q, qrec_any);
}

static void qrec(struct qwalk *q, int32_t n, const double *C, double *H, double *frame)
{
	static void (*const fixed[])(struct qwalk *, int32_t, const double *, double *,
	                             double *) = {NULL,   qrec_1, qrec_2, qrec_3, qrec_4,
	                                          qrec_5, qrec_6, qrec_7, qrec_8};

	if (q->Q < sizeof(fixed) / sizeof(fixed[0]))
		fixed[q->Q](q, n, C, H, frame);
	else
		qrec_any(q, n, C, H, frame);
}

double ex__tree_expectation(const struct ex_tree *t)
{
	return t->expectation;
}

static int quadrature(const struct ex_model *m, const double *x, double *phi, double *base,
                      double *inter)
{
	size_t M = m->n_features;
	double gl_t[Q_MAX + 1][Q_MAX], gl_w[Q_MAX + 1][Q_MAX], gl_inv1mt[Q_MAX + 1][Q_MAX];
	bool have_q[Q_MAX + 1] = {false};
	struct qwalk q = {.m = m, .x = x};
	double *dir = NULL;
	int rc = 0;

	if (!ex_model_is_trees(m) || !x || !phi || !base)
		return -EINVAL;
	if ((m->max_path_features + 1) / 2 > Q_MAX)
		return -ENOTSUP;
	q.z = malloc(2 * M * sizeof(double));
	q.ig = malloc(M * Q_MAX * sizeof(double));
	q.scratch = malloc((size_t)(m->max_depth + 2) * FRAME * Q_MAX * sizeof(double) +
	                   2 * Q_MAX * sizeof(double));
	if (inter) {
		dir = calloc(m->n_outputs * M * M, sizeof(double));
		q.active = malloc((m->max_depth + 1) * sizeof(int));
		q.on_path = calloc(M, sizeof(unsigned));
	}
	if (!q.z || !q.ig || !q.scratch || (inter && (!dir || !q.active || !q.on_path))) {
		rc = -ENOMEM;
		goto out;
	}
	q.o = q.z + M;
	for (size_t i = 0; i < 2 * M; i++)
		q.z[i] = 1.0;
	for (size_t i = 0; i < M * Q_MAX; i++)
		q.ig[i] = 1.0;
	memset(phi, 0, m->n_outputs * M * sizeof(double));
	for (size_t g = 0; g < m->n_outputs; g++)
		base[g] = m->base_margin ? m->base_margin[g] : 0.0;
	if (inter)
		memset(inter, 0, m->n_outputs * M * M * sizeof(double));

	for (size_t ti = 0; ti < m->n_trees; ti++) {
		const struct ex_tree *tree = &m->trees[ti];
		unsigned Q = (tree->path_features + 1) / 2;
		double *ones, *H;

		if (Q < 1)
			Q = 1;
		if (!have_q[Q]) {
			ex__gauss_legendre(Q, gl_t[Q], gl_w[Q]);
			for (unsigned k = 0; k < Q; k++)
				gl_inv1mt[Q][k] = 1.0 / (1 - gl_t[Q][k]);
			have_q[Q] = true;
		}
		q.tree = tree;
		q.Q = Q;
		q.t = gl_t[Q];
		q.w = gl_w[Q];
		q.inv1mt = gl_inv1mt[Q];
		q.phi = phi + (size_t)tree->group * M;
		base[tree->group] += ex__tree_expectation(tree) * m->output_scale;
		if (tree->n_nodes <= 1)
			continue; /* a constant tree: all in the base value */
		ones = q.scratch;
		H = q.scratch + Q;
		for (unsigned k = 0; k < Q; k++)
			ones[k] = m->output_scale;
		if (inter) {
			q.dir = dir + (size_t)tree->group * M * M;
			q.n_active = 0;
		}
		qrec(&q, 0, ones, H, q.scratch + 2 * Q_MAX);
	}
	if (inter) {
		/* Phi_ij = (Dir_ij + Dir_ji) / 2 (linear over trees); the diagonal holds the main
		 * effects, phi_i minus its interactions */
		for (size_t g = 0; g < m->n_outputs; g++) {
			double *out = inter + g * M * M, *d = dir + g * M * M;
			for (size_t i = 0; i < M; i++)
				for (size_t j = 0; j < M; j++)
					if (i != j)
						out[i * M + j] = (d[i * M + j] + d[j * M + i]) / 2;
			for (size_t i = 0; i < M; i++) {
				double off = 0;
				for (size_t j = 0; j < M; j++)
					if (j != i)
						off += out[i * M + j];
				out[i * M + i] = phi[g * M + i] - off;
			}
		}
	}
	rc = ex__check_efficiency(m, x, phi, base);
out:
	free(q.z);
	free(q.ig);
	free(q.scratch);
	free(dir);
	free(q.active);
	free(q.on_path);
	return rc;
}

/* ------------------------------------------------------------------ batches of rows */

/* Many rows at once. What a row changes in the walk is only o, and o is 0 or 1: z (the cover
 * ratios of a path) belongs to the tree. So every edge has three cases, each with constants
 * that belong to the tree alone, with f the edge's feature and zo its z above the edge:
 *   A, o of f above is 1 and x takes the edge: g goes from zo + t (1 - zo) to zn + t (1 - zn);
 *   B, o of f above is 1 and x does not take it: g goes to zn (1 - t), r to -1 / (1 - t);
 *   C, o of f above is 0: g = z (1 - t) before and after, so C(t) scales by the edge's cover
 *      ratio and r does not change (nothing is added to f).
 * edge_table() computes, once per tree and call, the factor C(t) is multiplied by and
 * w (r_new - r_old) for A and B at every edge; the walk then only multiplies, selects and
 * adds, over (quadrature point, row) lanes the compiler vectorises, with no division.
 * A row's numbers do not depend on the rows beside it (lanes never mix), so a row explained
 * alone gets the same bits as in any batch. */
#define RB      8             /* rows walked together */
#define SB      256           /* rows that share one computation of a tree's edge table */
#define EDGE(Q) (4 * (Q) + 1) /* doubles per edge: mult_A, wdr_A, mult_B, wdr_B (Q each), frac */

struct btab {
	const struct ex_tree *tree;
	unsigned Q;
	const double *t, *w;
	double *z;   /* per feature: z above the current node (1 off the path) */
	double *tab; /* EDGE(Q) doubles per node, by the node's index (the root's unused) */
};

static void edge_table(struct btab *e, int32_t n)
{
	const struct ex_node *nodes = e->tree->nodes, *node = &nodes[n];
	const unsigned Q = e->Q;
	int f = node->feature;
	double zo = e->z[f], r_old[Q_MAX], g_old[Q_MAX];

	for (unsigned k = 0; k < Q; k++) {
		g_old[k] = zo + e->t[k] * (1 - zo);
		r_old[k] = (1 - zo) / g_old[k];
	}
	for (int side = 0; side < 2; side++) {
		int32_t c = side ? node->right : node->left;
		const struct ex_node *child = &nodes[c];
		double zn = zo * child->frac, *d = e->tab + (size_t)c * EDGE(Q);

		for (unsigned k = 0; k < Q; k++) {
			double g = zn + e->t[k] * (1 - zn);
			d[k] = g / g_old[k];
			d[Q + k] = e->w[k] * ((1 - zn) / g - r_old[k]);
			d[2 * Q + k] = zn * (1 - e->t[k]) / g_old[k];
			d[3 * Q + k] = e->w[k] * (-1 / (1 - e->t[k]) - r_old[k]);
		}
		d[4 * Q] = child->frac;
		if (child->cmp != EX_CMP_LEAF) {
			e->z[f] = zn;
			edge_table(e, c);
			e->z[f] = zo;
		}
	}
}

/* What a walk of one block of rows through one tree reads and writes. */
struct walk_args {
	const struct ex_model *m;
	const struct ex_tree *tree;
	unsigned Q;
	size_t nr; /* rows in the block, up to RB */
	const double *x[RB];
	const double *xt;  /* M x RB: the rows transposed (0 past nr) */
	const double *tab; /* the tree's edge table */
	double scale;      /* the model's output scale: C(t) at the root */
	double *o;         /* M x RB: 1 while the row has taken every edge on the feature */
	double *phi;       /* M x RB: the block's attributions to the tree's output (added to) */
	double *scratch;   /* ((max_depth + 2) * 2 + 2) * Q_MAX * RB */
	double leaf[RB];   /* out: the value of the leaf each row reaches */
};

/* The walk for baseline vectors of two doubles (SSE2 on x86-64) and, where the compiler can
 * target them, for AVX2's four and AVX-512's eight, picked at run time. The same bits either
 * way: the library is built with -ffp-contract=off, so AVX-512 (which has FMA) multiplies and
 * adds as the others do. */
#define WALK_BYTES  16
#define WALK_SUFFIX base
#include "treeshap_walk.h"
#if defined(__x86_64__) && defined(__GNUC__)
#define WALK_AVX2 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
#define WALK_BYTES  32
#define WALK_SUFFIX avx2
#include "treeshap_walk.h"
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq")
#endif
#define WALK_BYTES  64
#define WALK_SUFFIX avx512
#include "treeshap_walk.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

typedef void walk_fn(struct walk_args *);

static walk_fn *pick_walk(void)
{
#ifdef WALK_AVX2
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
		return walk_block_avx512;
	if (__builtin_cpu_supports("avx2"))
		return walk_block_avx2;
#endif
	return walk_block_base;
}

int ex_treeshap_rows_margins(const struct ex_model *m, const double *X, size_t n_rows, double *phi,
                             double *base, double *margins, int *ret_rc)
{
	size_t M, K, max_nodes = 1;
	double gl_t[Q_MAX + 1][Q_MAX], gl_w[Q_MAX + 1][Q_MAX];
	bool have_q[Q_MAX + 1] = {false};
	struct walk_args b = {.m = m, .scale = m ? m->output_scale : 1.0};
	struct btab e = {0};
	double *phit = NULL, *margin = NULL, *xt = NULL;
	walk_fn *walk = pick_walk();
	int rc = 0;

	if (!m || !ex_model_is_trees(m) || (n_rows && (!X || !phi || !base)))
		return -EINVAL;
	if ((m->max_path_features + 1) / 2 > Q_MAX)
		return -ENOTSUP;
	M = m->n_features;
	K = m->n_outputs;
	for (size_t ti = 0; ti < m->n_trees; ti++)
		if ((size_t)m->trees[ti].n_nodes > max_nodes)
			max_nodes = (size_t)m->trees[ti].n_nodes;
	/* the walk's arrays hold whole vectors of any width */
	b.o = aligned_alloc(64, M * RB * sizeof(double));
	e.z = malloc(M * sizeof(double));
	e.tab = malloc(max_nodes * EDGE(Q_MAX) * sizeof(double));
	b.scratch =
	    aligned_alloc(64, ((size_t)(m->max_depth + 2) * 2 + 2) * Q_MAX * RB * sizeof(double));
	if (!margins)
		margin = malloc((n_rows < SB ? n_rows : SB) * K * sizeof(double) + 1);
	/* the superblock's attributions, lane-major ([block][output][feature] vectors); a
	 * row's sums are added in the same order as into its own row, so the same bits */
	phit = aligned_alloc(64, (SB / RB) * K * M * RB * sizeof(double));
	xt = aligned_alloc(64, (SB / RB) * M * RB * sizeof(double));
	if (!b.o || !e.z || !e.tab || !b.scratch || (!margins && !margin) || !phit || !xt) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < M * RB; i++)
		b.o[i] = 1.0;
	for (size_t i = 0; i < M; i++)
		e.z[i] = 1.0;
	for (size_t i = 0; i < n_rows; i++)
		for (size_t g = 0; g < K; g++)
			base[i * K + g] = m->base_margin ? m->base_margin[g] : 0.0;

	for (size_t sb = 0; sb < n_rows; sb += SB) {
		size_t ns = n_rows - sb < SB ? n_rows - sb : SB;
		/* the margins as ex_predict_margin sums them: from the base margin, each tree's
		 * leaf in tree order (then scaled, when the model averages) */
		double *mg = margins ? margins + sb * K : margin;
		bool scaled = m->output_scale != 1.0;

		memset(phit, 0, (ns + RB - 1) / RB * K * M * RB * sizeof(double));
		for (size_t i = 0; i < (ns + RB - 1) / RB * RB; i++)
			for (size_t f = 0; f < M; f++)
				xt[(i / RB * M + f) * RB + i % RB] =
				    i < ns ? X[(sb + i) * M + f] : 0.0;
		for (size_t i = 0; i < ns * K; i++)
			mg[i] = scaled || !m->base_margin ? 0.0 : m->base_margin[i % K];

		for (size_t ti = 0; ti < m->n_trees; ti++) {
			const struct ex_tree *tree = &m->trees[ti];
			unsigned Q = (tree->path_features + 1) / 2;

			if (Q < 1)
				Q = 1;
			if (!have_q[Q]) {
				ex__gauss_legendre(Q, gl_t[Q], gl_w[Q]);
				have_q[Q] = true;
			}
			for (size_t i = sb; i < sb + ns; i++)
				base[i * K + (size_t)tree->group] +=
				    tree->expectation * m->output_scale;
			/* the scratch frames and Q_MAX were sized by the model's maxima */
			INVARIANT(tree->depth <= m->max_depth &&
			          tree->path_features <= m->max_path_features);
			if (tree->n_nodes <= 1) {
				for (size_t i = 0; i < ns; i++)
					mg[i * K + (size_t)tree->group] += tree->nodes[0].value;
				continue;
			}
			e.tree = tree;
			e.Q = Q;
			e.t = gl_t[Q];
			e.w = gl_w[Q];
			edge_table(&e, 0);
			b.tree = tree;
			b.Q = Q;
			b.tab = e.tab;
			for (size_t first = sb; first < sb + ns; first += RB) {
				b.nr = sb + ns - first < RB ? sb + ns - first : RB;
				for (size_t r = 0; r < RB; r++)
					b.x[r] = X + (first + (r < b.nr ? r : 0)) * M;
				b.phi =
				    phit + ((first - sb) / RB * K + (size_t)tree->group) * M * RB;
				b.xt = xt + (first - sb) / RB * M * RB;
				walk(&b);
				for (size_t r = 0; r < b.nr; r++)
					mg[(first - sb + r) * K + (size_t)tree->group] += b.leaf[r];
			}
		}
		for (size_t i = sb; i < sb + ns; i++) {
			const double *pt = phit + (i - sb) / RB * K * M * RB;
			for (size_t j = 0; j < K * M; j++)
				phi[i * K * M + j] = pt[j * RB + (i - sb) % RB];
		}
		if (scaled)
			for (size_t i = 0; i < ns * K; i++)
				mg[i] = (m->base_margin ? m->base_margin[i % K] : 0.0) +
				        mg[i] * m->output_scale;
		/* every row is checked; a failing row is reported, the others stay valid */
		for (size_t i = sb; i < sb + ns; i++) {
			int r = ex__check_sum(m, mg + (i - sb) * K, phi + i * K * M, base + i * K);
			if (ret_rc)
				ret_rc[i] = r;
			else if (r < 0 && rc == 0)
				rc = r;
		}
	}
out:
	free(b.o);
	free(e.z);
	free(e.tab);
	free(b.scratch);
	free(margin);
	free(phit);
	free(xt);
	return rc;
}

int ex_treeshap_rows(const struct ex_model *m, const double *X, size_t n_rows, double *phi,
                     double *base, int *ret_rc)
{
	return ex_treeshap_rows_margins(m, X, n_rows, phi, base, NULL, ret_rc);
}

int ex_treeshap(const struct ex_model *m, const double *x, double *phi, double *base)
{
	return quadrature(m, x, phi, base, NULL);
}

int ex_interactions(const struct ex_model *m, const double *x, double *inter, double *base)
{
	double *phi;
	int rc;

	if (!m || !inter)
		return -EINVAL;
	phi = malloc(m->n_outputs * m->n_features * sizeof(double));
	if (!phi)
		return -ENOMEM;
	rc = quadrature(m, x, phi, base, inter);
	free(phi);
	return rc;
}

int ex__check_sum(const struct ex_model *m, const double *margin, const double *phi,
                  const double *base)
{
	for (size_t g = 0; g < m->n_outputs; g++) {
		double sum = base[g];
		for (size_t i = 0; i < m->n_features; i++)
			sum += phi[g * m->n_features + i];
		if (!(fabs(sum - margin[g]) <= ex_efficiency_tolerance(margin[g])))
			return -EDOM;
	}
	return 0;
}

int ex__check_efficiency(const struct ex_model *m, const double *x, const double *phi,
                         const double *base)
{
	double *f = malloc(m->n_outputs * sizeof(double));
	int rc = 0;

	if (!f)
		return -ENOMEM;
	rc = ex_predict_margin(m, x, NULL, f);
	if (rc == 0)
		rc = ex__check_sum(m, f, phi, base);
	free(f);
	return rc;
}
