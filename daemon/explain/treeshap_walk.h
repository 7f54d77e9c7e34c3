/* SPDX-License-Identifier: Apache-2.0 */
/* The batched TreeSHAP walk of treeshap.c (METHODS.md §1.6), written once for any vector
 * width: treeshap.c includes it once per width, with WALK_BYTES (bytes in a vector) and
 * WALK_SUFFIX (appended to every name) defined, and picks one at run time. The lanes are GNU C
 * vectors of doubles; every operation is element-wise and no width has FMA contraction, so
 * every width gives the same bits. No include guard, on purpose. */

#define WALK_CAT_(a, b) a##_##b
#define WALK_CAT(a, b)  WALK_CAT_(a, b)
#define W(name)         WALK_CAT(name, WALK_SUFFIX)
#define vec             W(vec)
#define veci            W(veci)
#define vecf            W(vecf)
#define VL              (WALK_BYTES / 8) /* doubles in a vec */
#define NV              (RB / VL)        /* vecs per block of rows */

typedef double vec __attribute__((vector_size(WALK_BYTES)));
typedef int64_t veci __attribute__((vector_size(WALK_BYTES)));
typedef float vecf __attribute__((vector_size(WALK_BYTES / 2)));

struct W(bwalk) {
	const struct ex_model *m;
	const struct ex_tree *tree;
	unsigned Q;
	size_t nr; /* rows in this block */
	const double *x[RB];
	const double *xt; /* the rows transposed: per feature, NV vecs */
	veci valid[NV];   /* all ones in the lanes of rows (r < nr) */
	const double *tab;
	vec *o;        /* per feature, NV vecs: 1 while the row has taken every edge on f so far */
	vec *phi;      /* per feature, NV vecs: this block's attributions to the tree's output */
	veci path[NV]; /* all ones while the row has taken every edge so far */
	veci leaf[NV]; /* the value of the leaf the row reaches (its bits; 0 until then) */
};

/* The child each row goes to at node, as a double; rows past nr get -1. XGBoost's numeric
 * split in the lanes (ex_node_next's rule: NaN to the default child, else left when
 * (float)x < threshold, the conversion rounding as the scalar cast does), the others through
 * ex_node_next row by row. */
static inline void W(next_rows)(const struct W(bwalk) * b, const struct ex_node *node, vec *hot)
{
	double h[RB];

	if (node->cmp == EX_CMP_XGB_LT) {
		const vec *x = (const vec *)(b->xt + (size_t)node->feature * RB);
		const veci left = (veci)((vec){0} + (double)node->left),
		           right = (veci)((vec){0} + (double)node->right),
		           dflt = node->default_left ? left : right, none = (veci)((vec){0} - 1.0);
		const vecf t = (vecf){0} + node->threshold_f;
		for (size_t j = 0; j < NV; j++) {
			veci lt =
			    __builtin_convertvector(__builtin_convertvector(x[j], vecf) < t, veci);
			veci nan = x[j] != x[j];
			veci c = (lt & left) | (~lt & right);
			c = (nan & dflt) | (~nan & c);
			hot[j] = (vec)((b->valid[j] & c) | (~b->valid[j] & none));
		}
		return;
	}
	for (size_t r = 0; r < RB; r++)
		h[r] = r < b->nr ? ex_node_next(b->m, node, b->x[r]) : -1;
	memcpy(hot, h, sizeof(h));
}

/* H (Q x NV vecs) of the subtree at the internal node n given C; frame: this depth's
 * scratch. */
static inline __attribute__((always_inline)) void
W(brec_body)(struct W(bwalk) * b, int32_t n, const vec *restrict C, vec *restrict H,
             vec *restrict frame, const unsigned Q,
             void (*self)(struct W(bwalk) *, int32_t, const vec *, vec *, vec *))
{
	const struct ex_node *nodes = b->tree->nodes, *node = &nodes[n];
	const size_t L = (size_t)Q * NV;
	vec *restrict C2 = frame, *restrict Hc = frame + L;
	vec *next_frame = frame + 2 * L;
	int f = node->feature;
	vec *of = b->o + (size_t)f * NV, oo[NV], hot[NV];
	veci path[NV];

	memcpy(path, b->path, sizeof(path));
	W(next_rows)(b, node, hot);
	for (size_t j = 0; j < NV; j++)
		oo[j] = of[j];
	for (size_t l = 0; l < L; l++)
		H[l] = (vec){0};
	for (int side = 0; side < 2; side++) {
		int32_t c = side ? node->right : node->left;
		const struct ex_node *child = &nodes[c];
		const double *d = b->tab + (size_t)c * EDGE(Q);
		const double fr = d[4 * Q], cd = c;
		vec on[NV], pb[NV], pc[NV], sA[NV], sB[NV];
		veci any = {0};

		/* one of on (case A), pb (B) and pc (C) is 1 and the others 0 in each lane, so the
		 * sums below select one constant exactly, without branches */
		for (size_t j = 0; j < NV; j++) {
			on[j] = (vec)((veci)oo[j] & (hot[j] == cd));
			pb[j] = oo[j] - on[j];
			pc[j] = 1.0 - oo[j];
			sA[j] = sB[j] = (vec){0};
			any |= (veci)on[j];
		}
		if (fr == 0) {
			int64_t some = 0;
			for (size_t i = 0; i < VL; i++)
				some |= any[i];
			if (!some)
				continue; /* zero in every lane: contributes to no coalition */
		}
		for (unsigned k = 0; k < Q; k++) {
			double mA = d[k], mB = d[2 * Q + k];
			for (size_t j = 0; j < NV; j++) {
				C2[k * NV + j] =
				    C[k * NV + j] * (on[j] * mA + pb[j] * mB + pc[j] * fr);
			}
		}
		if (child->cmp == EX_CMP_LEAF) {
			vec v = (vec){0} + child->value;
			for (size_t l = 0; l < L; l++)
				Hc[l] = child->value * C2[l];
			for (size_t j = 0; j < NV; j++)
				b->leaf[j] |= (veci)v & path[j] & (hot[j] == cd);
		} else {
			for (size_t j = 0; j < NV; j++) {
				of[j] = on[j];
				b->path[j] = path[j] & (hot[j] == cd);
			}
			self(b, c, C2, Hc, next_frame);
			for (size_t j = 0; j < NV; j++) {
				of[j] = oo[j];
				b->path[j] = path[j];
			}
		}
		/* sum_k w (r_new - r_old) Hc for case A and for case B; on and pb pick one */
		for (unsigned k = 0; k < Q; k++) {
			double wA = d[Q + k], wB = d[3 * Q + k];
			for (size_t j = 0; j < NV; j++) {
				sA[j] += wA * Hc[k * NV + j];
				sB[j] += wB * Hc[k * NV + j];
				H[k * NV + j] += Hc[k * NV + j];
			}
		}
		for (size_t j = 0; j < NV; j++)
			b->phi[(size_t)f * NV + j] += on[j] * sA[j] + pb[j] * sB[j];
	}
}

#define BREC_FIXED(NQ)                                                                             \
	static void W(brec_##NQ)(struct W(bwalk) * b, int32_t n, const vec *C, vec *H, vec *frame) \
	{                                                                                          \
		W(brec_body)(b, n, C, H, frame, NQ, W(brec_##NQ));                                 \
	}
BREC_FIXED(1)
BREC_FIXED(2)
BREC_FIXED(3)
BREC_FIXED(4)
BREC_FIXED(5)
BREC_FIXED(6)
BREC_FIXED(7)
BREC_FIXED(8)

static void W(brec_any)(struct W(bwalk) * b, int32_t n, const vec *C, vec *H, vec *frame)
{
	W(brec_body)(b, n, C, H, frame, b->Q, W(brec_any));
}

static void W(brec)(struct W(bwalk) * b, int32_t n, const vec *C, vec *H, vec *frame)
{
	static void (*const fixed[])(struct W(bwalk) *, int32_t, const vec *, vec *, vec *) = {
	    NULL,      W(brec_1), W(brec_2), W(brec_3), W(brec_4),
	    W(brec_5), W(brec_6), W(brec_7), W(brec_8)};

	if (b->Q < sizeof(fixed) / sizeof(fixed[0]))
		fixed[b->Q](b, n, C, H, frame);
	else
		W(brec_any)(b, n, C, H, frame);
}

/* One block of rows through one tree (struct walk_args says what it reads and writes). */
static void W(walk_block)(struct walk_args *a)
{
	struct W(bwalk) b = {.m = a->m,
	                     .tree = a->tree,
	                     .Q = a->Q,
	                     .nr = a->nr,
	                     .tab = a->tab,
	                     .o = (vec *)a->o,
	                     .phi = (vec *)a->phi};
	vec *ones = (vec *)a->scratch, *H = ones + Q_MAX * NV;

	INVARIANT(a->nr >= 1 && a->nr <= RB && a->Q >= 1 && a->Q <= Q_MAX);

	memcpy(b.x, a->x, sizeof(b.x));
	b.xt = a->xt;
	for (size_t r = 0; r < RB; r++)
		((int64_t *)b.valid)[r] = r < a->nr ? -1 : 0;
	for (size_t l = 0; l < (size_t)a->Q * NV; l++)
		ones[l] = (vec){0} + a->scale;
	memset(b.path, 0xff, sizeof(b.path));
	W(brec)(&b, 0, ones, H, H + Q_MAX * NV);
	memcpy(a->leaf, b.leaf, sizeof(a->leaf));
}

#undef BREC_FIXED
#undef NV
#undef VL
#undef vecf
#undef veci
#undef vec
#undef W
#undef WALK_CAT
#undef WALK_CAT_
#undef WALK_BYTES
#undef WALK_SUFFIX
