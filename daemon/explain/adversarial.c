/* SPDX-License-Identifier: Apache-2.0 */
/* Adversarial search for the same failure (METHODS.md §6): where else does the model make
 * the same decision for the same signed top-k reasons? Black boxes: labelled reference rows,
 * hill-climbing and a small genetic algorithm under a row budget, then a PRIM box with a
 * Wilson interval on fresh points. Trees: the exact decision cell of x, grown face by face
 * while the signature holds on every cell of the new slab. Everything random comes from one
 * ex_rng seeded by the caller, and every loop runs in a fixed order, so a seed replays. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rng.h"

#define Z95 1.959963984540054

int ex_wilson_interval(size_t hits, size_t n, double z, double *ret_lo, double *ret_hi)
{
	if (hits > n || !(z > 0) || !ret_lo || !ret_hi)
		return -EINVAL;
	if (n == 0) {
		*ret_lo = 0;
		*ret_hi = 1;
		return 0;
	}
	double nn = (double)n, p = (double)hits / nn, z2 = z * z;
	double denom = 1 + z2 / nn;
	double center = (p + z2 / (2 * nn)) / denom;
	double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
	double lo = center - half, hi = center + half;
	/* the closed forms at the ends, so 0/n and n/n are exact */
	if (hits == 0)
		lo = 0;
	if (hits == n)
		hi = 1;
	*ret_lo = lo < 0 ? 0 : lo;
	*ret_hi = hi > 1 ? 1 : hi;
	return 0;
}

void ex_region_free(struct ex_region *r)
{
	if (!r)
		return;
	free(r->box);
	free(r->rule);
	free(r->exemplars);
	free(r);
}

/* ------------------------------------------------------------------ the failure signature */

struct adv {
	const struct ex_fn *f;
	const struct ex_explainer *e;
	struct ex_decision d;
	const struct ex_feature_info *info;
	size_t M, G;
	size_t output, k;
	int topk[EX_ADV_KMAX];
	int decision;
	double jaccard;
	bool decision_only;
	uint64_t budget, used;
	double *phi; /* M */
	char *err;
	size_t err_size;
	/* labelled points */
	double *lab;
	unsigned char *lab_p;
	size_t n_lab, cap_lab;
};

static int lab_add(struct adv *a, const double *z, unsigned char p)
{
	if (a->n_lab == a->cap_lab) {
		size_t cap = a->cap_lab ? a->cap_lab * 2 : 256;
		double *rows = realloc(a->lab, cap * a->M * sizeof(double));
		if (!rows)
			return -ENOMEM;
		a->lab = rows;
		unsigned char *p2 = realloc(a->lab_p, cap);
		if (!p2)
			return -ENOMEM;
		a->lab_p = p2;
		a->cap_lab = cap;
	}
	memcpy(a->lab + a->n_lab * a->M, z, a->M * sizeof(double));
	a->lab_p[a->n_lab++] = p;
	return 0;
}

static bool same_reasons(const struct adv *a, const double *phi)
{
	int tk[EX_ADV_KMAX];
	size_t k = ex_signed_topk(phi, a->M, a->k, tk);

	if (a->jaccard <= 0)
		return k == a->k && memcmp(tk, a->topk, k * sizeof(int)) == 0;
	size_t inter = 0;
	for (size_t i = 0; i < k; i++)
		for (size_t j = 0; j < a->k; j++)
			inter += abs(tk[i]) == abs(a->topk[j]);
	size_t uni = k + a->k - inter;
	return uni && (double)inter / (double)uni >= a->jaccard;
}

/* P for n rows. With early_stop the rows after the first failure are left unknown (p = 2) and
 * unexplained; with record the known rows join the labelled set. The rows are charged to the
 * budget: callers check room first (-ENOSPC otherwise). */
static int eval_rows(struct adv *a, const double *rows, size_t n, unsigned char *p, bool early_stop,
                     bool record)
{
	if (!n)
		return 0;
	if (a->used + n > a->budget)
		return ex__fail(a->err, a->err_size, -ENOSPC,
		                "adversarial: budget of %llu rows spent",
		                (unsigned long long)a->budget);
	double *out = malloc(n * a->G * sizeof(double));
	if (!out)
		return ex__fail(a->err, a->err_size, -ENOMEM, "adversarial: out of memory");
	int rc = a->f->predict(a->f->userdata, rows, n, out, a->err, a->err_size);
	a->used += n;
	if (rc < 0) {
		free(out);
		return rc;
	}
	bool failed = false;
	for (size_t i = 0; i < n; i++) {
		const double *z = rows + i * a->M;
		if (failed) {
			p[i] = 2;
			continue;
		}
		bool ok = ex_decide(&a->d, out + i * a->G, a->G) == a->decision;
		if (ok && !a->decision_only) {
			rc = a->e->explain(a->e->userdata, z, a->output, a->phi, a->err,
			                   a->err_size);
			if (rc < 0) {
				free(out);
				return rc;
			}
			ok = same_reasons(a, a->phi);
		}
		p[i] = ok;
		if (record && (rc = lab_add(a, z, p[i])) < 0) {
			free(out);
			return ex__fail(a->err, a->err_size, rc, "adversarial: out of memory");
		}
		if (!ok && early_stop)
			failed = true;
	}
	free(out);
	return 0;
}

/* Scores x: decision, explained output, signature. Charges one row. */
static int adv_start(struct adv *a, const double *x)
{
	double *out = malloc(a->G * sizeof(double));
	if (!out)
		return ex__fail(a->err, a->err_size, -ENOMEM, "adversarial: out of memory");
	int rc = a->f->predict(a->f->userdata, x, 1, out, a->err, a->err_size);
	a->used++;
	if (rc < 0) {
		free(out);
		return rc;
	}
	a->decision = ex_decide(&a->d, out, a->G);
	free(out);
	a->output = a->d.argmax && a->G > 1 ? (size_t)a->decision : 0;
	if (a->decision_only)
		return 0;
	rc = a->e->explain(a->e->userdata, x, a->output, a->phi, a->err, a->err_size);
	if (rc < 0)
		return rc;
	a->k = ex_topk_size(a->phi, a->M, a->k);
	ex_signed_topk(a->phi, a->M, a->k, a->topk);
	return 0;
}

struct cfg {
	uint64_t seed, budget;
	size_t kmax, n_seeds, max_ref, n_eval, n_ex, min_support, max_cells, sample_cells;
	double jaccard, peel;
};

static void cfg_fill(const struct ex_adv_config *c, struct cfg *o)
{
	struct ex_adv_config z = {0};
	if (!c)
		c = &z;
	o->seed = c->seed;
	o->budget = c->budget ? c->budget : 20000;
	o->kmax = c->kmax ? c->kmax : 3;
	if (o->kmax > EX_ADV_KMAX)
		o->kmax = EX_ADV_KMAX;
	o->jaccard = c->jaccard;
	o->n_seeds = c->n_seeds ? c->n_seeds : 50;
	o->max_ref = c->max_ref ? c->max_ref : 1000;
	o->n_eval = c->n_eval ? c->n_eval : 400;
	o->n_ex = c->n_exemplars ? c->n_exemplars : 5;
	if (o->n_ex > 5)
		o->n_ex = 5;
	o->peel = c->peel > 0 && c->peel < 0.5 ? c->peel : 0.05;
	o->min_support = c->min_support ? c->min_support : 20;
	o->max_cells = c->max_cells ? c->max_cells : 64;
	o->sample_cells = c->sample_cells ? c->sample_cells : 24;
}

static int adv_init(struct adv *a, const struct ex_fn *f, const struct ex_explainer *e,
                    const struct ex_feature_info *info, const struct ex_decision *d,
                    const struct cfg *c, char *err, size_t err_size)
{
	memset(a, 0, sizeof(*a));
	a->f = f;
	a->e = e;
	a->d = d ? *d : (struct ex_decision){.threshold = 0};
	a->info = info;
	a->M = f->n_features;
	a->G = f->n_outputs;
	a->k = c->kmax;
	a->jaccard = c->jaccard;
	a->decision_only = !e || !e->explain;
	a->budget = c->budget;
	a->err = err;
	a->err_size = err_size;
	a->phi = malloc(a->M * sizeof(double));
	if (!a->phi)
		return ex__fail(err, err_size, -ENOMEM, "adversarial: out of memory");
	return 0;
}

static void adv_deinit(struct adv *a)
{
	free(a->phi);
	free(a->lab);
	free(a->lab_p);
}

/* ------------------------------------------------------------------ boxes */

static double feat_dist(const struct ex_feature_info *fi, double u, double v)
{
	if (isnan(u) || isnan(v))
		return isnan(u) && isnan(v) ? 0 : 1;
	if (fi->categorical)
		return u != v;
	return fabs(u - v) / (fi->mad > 0 ? fi->mad : 1);
}

static double row_dist(const struct ex_feature_info *info, size_t M, const double *u,
                       const double *v)
{
	double s = 0;
	for (size_t j = 0; j < M; j++)
		s += feat_dist(&info[j], u[j], v[j]);
	return s;
}

static bool in_bound(const struct ex_region_bound *b, double v)
{
	if (b->missing)
		return isnan(v);
	if (isinf(b->lo) && isinf(b->hi))
		return true;
	if (isnan(v))
		return false;
	if (!isinf(b->lo) && (b->lo_incl ? v < b->lo : v <= b->lo))
		return false;
	if (!isinf(b->hi) && (b->hi_incl ? v > b->hi : v >= b->hi))
		return false;
	return true;
}

static bool in_box(const struct ex_region_bound *box, size_t M, const double *z)
{
	for (size_t j = 0; j < M; j++)
		if (!in_bound(&box[j], z[j]))
			return false;
	return true;
}

/* The finite sampling interval of feature j inside box b: the box intersected with the
 * plausible range, falling back to the reference rows' range and to x. */
static void sample_range(const struct ex_region_bound *b, const struct ex_feature_info *fi,
                         const double *ref, size_t n_ref, size_t M, size_t j, double xj,
                         double *ret_a, double *ret_b)
{
	double lo = fi->min, hi = fi->max;
	if (isnan(lo) || isnan(hi)) {
		lo = hi = isnan(xj) ? 0 : xj;
		for (size_t r = 0; r < n_ref; r++) {
			double v = ref[r * M + j];
			if (v < lo)
				lo = v;
			if (v > hi)
				hi = v;
		}
	}
	double a = isinf(b->lo) ? lo : b->lo, c = isinf(b->hi) ? hi : b->hi;
	if (!isinf(b->lo) && a < b->lo)
		a = b->lo;
	if (a < lo && isinf(b->lo))
		a = lo;
	if (!isinf(b->lo) && lo > a)
		a = lo;
	if (!isinf(b->hi) && hi < c)
		c = hi;
	if (a > c) { /* the box lies outside the plausible range: use its finite side */
		a = !isinf(b->lo) ? b->lo : b->hi;
		c = !isinf(b->hi) ? b->hi : b->lo;
		if (a > c)
			c = a;
	}
	*ret_a = a;
	*ret_b = c;
}

/* One point uniform in box (continuous), observed levels for categoricals, integral for
 * integer features, always inside the box. */
static void sample_in_box(struct ex_rng *rng, const struct ex_region_bound *box,
                          const struct ex_feature_info *info, const double *ref, size_t n_ref,
                          size_t M, const double *x, double *z)
{
	for (size_t j = 0; j < M; j++) {
		const struct ex_region_bound *b = &box[j];
		if (b->missing) {
			z[j] = NAN;
			continue;
		}
		if (info[j].categorical || (b->lo == b->hi && b->lo_incl && b->hi_incl)) {
			/* a random reference row's level inside the box, else x's */
			double v = x[j];
			if (!(b->lo == b->hi) && n_ref) {
				size_t start = (size_t)ex_rng_below(rng, n_ref);
				for (size_t t = 0; t < n_ref; t++) {
					double w = ref[((start + t) % n_ref) * M + j];
					if (in_bound(b, w)) {
						v = w;
						break;
					}
				}
			} else if (b->lo == b->hi) {
				v = b->lo;
			}
			z[j] = v;
			continue;
		}
		double a, c;
		sample_range(b, &info[j], ref, n_ref, M, j, x[j], &a, &c);
		double v = a + ex_rng_uniform(rng) * (c - a);
		if (info[j].integer) {
			double r = round(v);
			if (!in_bound(b, r))
				r = in_bound(b, ceil(v)) ? ceil(v) : floor(v);
			if (in_bound(b, r))
				v = r;
		}
		if (!in_bound(b, v))
			v = in_bound(b, a) ? a : nextafter(a, INFINITY);
		if (!in_bound(b, v))
			v = in_bound(b, c) ? c : nextafter(c, -INFINITY);
		if (!in_bound(b, v) && in_bound(b, x[j]))
			v = x[j];
		z[j] = v;
	}
}

/* k-medoids (BUILD then best-improvement swaps) of pts[0..n) in MAD-scaled L1; writes the
 * medoid indices to med[0..k) in ascending order and returns k. */
static size_t kmedoids(const double *pts, size_t n, size_t M, const struct ex_feature_info *info,
                       size_t k, size_t *med)
{
	if (k > n)
		k = n;
	if (!k)
		return 0;
	double *D = malloc(n * n * sizeof(double));
	double *near = malloc(n * sizeof(double));
	bool *is_med = calloc(n, sizeof(bool));
	if (!D || !near || !is_med) {
		/* fall back to evenly spaced points */
		for (size_t i = 0; i < k; i++)
			med[i] = i * n / k;
		free(D);
		free(near);
		free(is_med);
		return k;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i; j < n; j++)
			D[i * n + j] = D[j * n + i] = row_dist(info, M, pts + i * M, pts + j * M);
	size_t got = 0;
	for (size_t i = 0; i < n; i++)
		near[i] = INFINITY;
	while (got < k) {
		size_t best = n;
		double best_cost = INFINITY;
		for (size_t c = 0; c < n; c++) {
			if (is_med[c])
				continue;
			double cost = 0;
			for (size_t i = 0; i < n; i++)
				cost += fmin(near[i], D[c * n + i]);
			if (cost < best_cost) {
				best_cost = cost;
				best = c;
			}
		}
		if (best == n)
			break;
		is_med[best] = true;
		med[got++] = best;
		for (size_t i = 0; i < n; i++)
			near[i] = fmin(near[i], D[best * n + i]);
	}
	/* swaps */
	for (int iter = 0; iter < 20; iter++) {
		double cur = 0;
		for (size_t i = 0; i < n; i++) {
			double d = INFINITY;
			for (size_t t = 0; t < got; t++)
				d = fmin(d, D[med[t] * n + i]);
			cur += d;
		}
		double best = cur;
		size_t bt = got, bh = n;
		for (size_t t = 0; t < got; t++)
			for (size_t h = 0; h < n; h++) {
				if (is_med[h])
					continue;
				double cost = 0;
				for (size_t i = 0; i < n; i++) {
					double d = D[h * n + i];
					for (size_t u = 0; u < got; u++)
						if (u != t)
							d = fmin(d, D[med[u] * n + i]);
					cost += d;
				}
				if (cost < best - 1e-12 * (1 + best)) {
					best = cost;
					bt = t;
					bh = h;
				}
			}
		if (bt == got)
			break;
		is_med[med[bt]] = false;
		is_med[bh] = true;
		med[bt] = bh;
	}
	for (size_t a = 1; a < got; a++)
		for (size_t b = a; b > 0 && med[b - 1] > med[b]; b--) {
			size_t t = med[b];
			med[b] = med[b - 1];
			med[b - 1] = t;
		}
	free(D);
	free(near);
	free(is_med);
	return got;
}

/* Fills the report for a box: precision on fresh points, coverage, support, exemplars, rule.
 * Takes ownership of box. */
static int finish_region(struct adv *a, struct ex_region_bound *box, const double *x,
                         const double *ref, size_t n_ref, const struct cfg *c, struct ex_rng *rng,
                         struct ex_region *r)
{
	size_t M = a->M;
	int rc = 0;

	r->n_features = M;
	r->box = box;
	r->decision = a->decision;
	r->output = a->output;
	r->decision_only = a->decision_only;
	r->relaxed = !a->decision_only && a->jaccard > 0;
	if (!a->decision_only) {
		r->k = a->k;
		memcpy(r->topk, a->topk, a->k * sizeof(int));
	}
	/* the rule */
	r->rule = calloc(M ? M : 1, sizeof(*r->rule));
	if (!r->rule)
		return ex__fail(a->err, a->err_size, -ENOMEM, "adversarial: out of memory");
	for (size_t j = 0; j < M; j++)
		if (box[j].missing || !isinf(box[j].lo) || !isinf(box[j].hi))
			r->rule[r->n_rule++] = box[j];
	/* precision on fresh points */
	size_t n_eval = c->n_eval;
	if (a->used + n_eval > a->budget)
		n_eval = (size_t)(a->budget - a->used);
	double *ev = malloc((n_eval ? n_eval : 1) * M * sizeof(double));
	unsigned char *evp = malloc(n_eval ? n_eval : 1);
	if (!ev || !evp) {
		free(ev);
		free(evp);
		return ex__fail(a->err, a->err_size, -ENOMEM, "adversarial: out of memory");
	}
	for (size_t i = 0; i < n_eval; i++)
		sample_in_box(rng, box, a->info, ref, n_ref, M, x, ev + i * M);
	rc = eval_rows(a, ev, n_eval, evp, false, false);
	if (rc < 0)
		goto out;
	r->eval_n = n_eval;
	for (size_t i = 0; i < n_eval; i++)
		r->eval_hits += evp[i] == 1;
	r->precision = n_eval ? (double)r->eval_hits / (double)n_eval : 0;
	ex_wilson_interval(r->eval_hits, n_eval, Z95, &r->precision_lo, &r->precision_hi);
	/* coverage */
	for (size_t i = 0; i < n_ref; i++)
		r->coverage_n += in_box(box, M, ref + i * M);
	r->coverage = n_ref ? (double)r->coverage_n / (double)n_ref : 0;
	/* support, and candidates for exemplars: points with P inside the box (x first) */
	size_t max_cand = 300, n_cand = 0, n_pos_in = 0;
	for (size_t i = 0; i < a->n_lab; i++) {
		r->n_positive += a->lab_p[i] == 1;
		if (a->lab_p[i] == 1 && in_box(box, M, a->lab + i * M))
			n_pos_in++;
	}
	r->n_labelled = a->n_lab;
	r->support = n_pos_in;
	size_t total = 1 + n_pos_in + r->eval_hits;
	double *cand = malloc((total < max_cand ? total : max_cand) * M * sizeof(double));
	size_t *med = malloc(c->n_ex * sizeof(size_t));
	if (!cand || !med) {
		free(cand);
		free(med);
		rc = ex__fail(a->err, a->err_size, -ENOMEM, "adversarial: out of memory");
		goto out;
	}
	/* evenly spaced selection over the list [x, labelled positives in box, eval hits] */
	size_t stride_num = total, stride_den = total < max_cand ? total : max_cand, seen = 0;
	size_t next_pick = 0;
	for (size_t pass = 0; pass < 3; pass++) {
		size_t lim = pass == 0 ? 1 : pass == 1 ? a->n_lab : n_eval;
		for (size_t i = 0; i < lim; i++) {
			const double *z;
			if (pass == 0)
				z = x;
			else if (pass == 1)
				z = a->lab_p[i] == 1 && in_box(box, M, a->lab + i * M)
				        ? a->lab + i * M
				        : NULL;
			else
				z = evp[i] == 1 ? ev + i * M : NULL;
			if (!z)
				continue;
			if (seen == next_pick * stride_num / stride_den && n_cand < stride_den) {
				memcpy(cand + n_cand * M, z, M * sizeof(double));
				n_cand++;
				next_pick++;
			}
			seen++;
		}
	}
	size_t k = kmedoids(cand, n_cand, M, a->info, c->n_ex, med);
	r->exemplars = malloc((k ? k : 1) * M * sizeof(double));
	if (!r->exemplars) {
		free(cand);
		free(med);
		rc = ex__fail(a->err, a->err_size, -ENOMEM, "adversarial: out of memory");
		goto out;
	}
	for (size_t i = 0; i < k; i++)
		memcpy(r->exemplars + i * M, cand + med[i] * M, M * sizeof(double));
	r->n_exemplars = k;
	free(cand);
	free(med);
out:
	free(ev);
	free(evp);
	r->model_rows = a->used;
	return rc;
}

/* ------------------------------------------------------------------ PRIM */

/* Friedman and Fisher's patient rule induction on labelled points X (n x M) with P in y and
 * weights w: peel, pick the largest box of the trajectory whose weighted mean is within 0.01
 * of the best, paste, trim. Categorical codes are peeled as ordered codes. */
struct prim {
	const double *X, *w;
	const unsigned char *y;
	size_t n, M;
	size_t **order; /* per feature: point indices by value, NaN last */
	bool *in;
	double *lo, *hi; /* inclusive; +-inf unbounded */
};

/* counts and weighted sums of a set of points */
struct tally {
	size_t n;
	double w, wpos;
};

static int cmp_key(const void *pa, const void *pb)
{
	const double *a = pa, *b = pb;
	/* (value, index) pairs; NaN sorts last */
	if (isnan(a[0]) != isnan(b[0]))
		return isnan(a[0]) ? 1 : -1;
	if (a[0] != b[0] && !isnan(a[0]))
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : a[1] > b[1];
}

static void tally_add(struct tally *t, const struct prim *p, size_t i)
{
	double w = p->w ? p->w[i] : 1;
	t->n++;
	t->w += w;
	t->wpos += p->y[i] == 1 ? w : 0;
}

static double tally_mean(struct tally in, struct tally change, int sign)
{
	double w = in.w + sign * change.w, pos = in.wpos + sign * change.wpos;
	return w > 0 ? pos / w : 0;
}

static bool prim_inside_except(const struct prim *p, size_t i, size_t skip)
{
	for (size_t j = 0; j < p->M; j++) {
		if (j == skip)
			continue;
		double v = p->X[i * p->M + j];
		if (!isinf(p->lo[j]) && !(v >= p->lo[j]))
			return false;
		if (!isinf(p->hi[j]) && !(v <= p->hi[j]))
			return false;
	}
	return true;
}

static struct tally prim_mark(struct prim *p)
{
	struct tally t = {0};
	for (size_t i = 0; i < p->n; i++) {
		p->in[i] = prim_inside_except(p, i, p->M);
		if (p->in[i])
			tally_add(&t, p, i);
	}
	return t;
}

/* Peels the in-box points at the low (side 0) or high (1) end of feature j: at least r of
 * them, ties included. Returns what goes; *ret_bound the new inclusive bound (the first kept
 * value); n = 0 when nothing or everything would go. */
static struct tally prim_peel_cand(const struct prim *p, size_t j, int side, size_t r, size_t nb,
                                   double *ret_bound)
{
	const size_t *ord = p->order[j];
	struct tally t = {0}, none = {0};
	double last = NAN;
	for (size_t k = 0; k < p->n; k++) {
		size_t i = ord[side ? p->n - 1 - k : k];
		if (!p->in[i])
			continue;
		double v = p->X[i * p->M + j];
		if (t.n >= r && !(v == last) && !(isnan(v) && isnan(last))) {
			if (isnan(v))
				return none; /* cannot bound by NaN */
			*ret_bound = v;
			return t.n < nb ? t : none;
		}
		tally_add(&t, p, i);
		last = v;
	}
	return none;
}

/* Pastes along feature j side: adds at least r outside points adjacent to the box (ties
 * included) that lie inside on every other feature. */
static struct tally prim_paste_cand(const struct prim *p, size_t j, int side, size_t r,
                                    double *ret_bound)
{
	const size_t *ord = p->order[j];
	struct tally t = {0};
	double bound = side ? p->hi[j] : p->lo[j];
	double last = NAN;
	if (isinf(bound))
		return t;
	/* walk outward from the bound: low side descending below lo, high side ascending */
	for (size_t k = 0; k < p->n; k++) {
		size_t i = ord[side ? k : p->n - 1 - k];
		double v = p->X[i * p->M + j];
		if (isnan(v))
			continue;
		if (side ? !(v > bound) : !(v < bound))
			continue;
		if (!prim_inside_except(p, i, j))
			continue;
		if (t.n >= r && v != last)
			break;
		tally_add(&t, p, i);
		last = v;
	}
	*ret_bound = last;
	return t;
}

/* Fits the box; lo/hi out (inclusive, +-inf unbounded); w NULL for equal weights. Returns
 * peeling steps or -ENOMEM. */
static int prim_fit(const double *X, const unsigned char *y, const double *w, size_t n, size_t M,
                    double peel, size_t min_support, double *lo, double *hi)
{
	struct prim p = {.X = X, .w = w, .y = y, .n = n, .M = M, .lo = lo, .hi = hi};
	int steps = 0, rc = 0;
	size_t cap = 64, n_traj = 0;
	double *traj = NULL, *tmean = NULL, *key = NULL;

	for (size_t j = 0; j < M; j++)
		lo[j] = -INFINITY, hi[j] = INFINITY;
	p.order = calloc(M ? M : 1, sizeof(size_t *));
	p.in = malloc((n ? n : 1) * sizeof(bool));
	key = malloc((n ? n : 1) * 2 * sizeof(double));
	traj = malloc(cap * 2 * (M ? M : 1) * sizeof(double));
	tmean = malloc(cap * sizeof(double));
	if (!p.order || !p.in || !key || !traj || !tmean) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < M; j++) {
		p.order[j] = malloc((n ? n : 1) * sizeof(size_t));
		if (!p.order[j]) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			key[2 * i] = X[i * M + j];
			key[2 * i + 1] = (double)i;
		}
		qsort(key, n, 2 * sizeof(double), cmp_key);
		for (size_t i = 0; i < n; i++)
			p.order[j][i] = (size_t)key[2 * i + 1];
	}
	struct tally in = prim_mark(&p);
	/* trajectory[0] = the whole space */
	memcpy(traj, lo, M * sizeof(double));
	memcpy(traj + M, hi, M * sizeof(double));
	tmean[n_traj++] = tally_mean(in, in, 0);
	while ((double)in.n * (1 - peel) >= (double)min_support && in.wpos < in.w) {
		size_t r = (size_t)floor(peel * (double)in.n);
		if (r < 1)
			r = 1;
		double best_mean = -1, best_bound = 0;
		size_t best_j = M;
		struct tally best = {0};
		int best_side = 0;
		for (size_t j = 0; j < M; j++)
			for (int side = 0; side < 2; side++) {
				double bnd;
				struct tally t = prim_peel_cand(&p, j, side, r, in.n, &bnd);
				if (!t.n)
					continue;
				double mean = tally_mean(in, t, -1);
				if (mean > best_mean || (mean == best_mean && t.n < best.n)) {
					best_mean = mean;
					best_j = j;
					best_side = side;
					best = t;
					best_bound = bnd;
				}
			}
		if (best_j == M)
			break;
		if (best_side)
			hi[best_j] = best_bound;
		else
			lo[best_j] = best_bound;
		for (size_t i = 0; i < n; i++)
			if (p.in[i]) {
				double v = X[i * M + best_j];
				if (best_side ? !(v <= best_bound) : !(v >= best_bound))
					p.in[i] = false;
			}
		in.n -= best.n;
		in.w -= best.w;
		in.wpos -= best.wpos;
		steps++;
		if (n_traj == cap) {
			cap *= 2;
			double *t2 = realloc(traj, cap * 2 * M * sizeof(double));
			if (t2)
				traj = t2;
			double *m2 = t2 ? realloc(tmean, cap * sizeof(double)) : NULL;
			if (m2)
				tmean = m2;
			if (!t2 || !m2) {
				rc = -ENOMEM;
				goto out;
			}
		}
		memcpy(traj + n_traj * 2 * M, lo, M * sizeof(double));
		memcpy(traj + n_traj * 2 * M + M, hi, M * sizeof(double));
		tmean[n_traj++] = tally_mean(in, in, 0);
	}
	/* the largest box whose mean is within 0.01 of the best */
	double top = 0;
	for (size_t t = 0; t < n_traj; t++)
		top = fmax(top, tmean[t]);
	size_t pick = 0;
	while (pick + 1 < n_traj && tmean[pick] < top - 0.01)
		pick++;
	memcpy(lo, traj + pick * 2 * M, M * sizeof(double));
	memcpy(hi, traj + pick * 2 * M + M, M * sizeof(double));
	in = prim_mark(&p);
	/* pasting: widen one side at a time while the mean does not fall */
	for (int iter = 0; iter < 1000 && in.n; iter++) {
		double cur = tally_mean(in, in, 0);
		size_t r = (size_t)floor(peel * (double)in.n);
		if (r < 1)
			r = 1;
		double best_mean = -1, best_bound = 0;
		size_t best_j = M;
		int best_side = 0;
		for (size_t j = 0; j < M; j++)
			for (int side = 0; side < 2; side++) {
				double bnd;
				struct tally t = prim_paste_cand(&p, j, side, r, &bnd);
				if (!t.n)
					continue;
				double mean = tally_mean(in, t, 1);
				if (mean > best_mean) {
					best_mean = mean;
					best_j = j;
					best_side = side;
					best_bound = bnd;
				}
			}
		if (best_j == M || best_mean < cur)
			break;
		if (best_side)
			hi[best_j] = best_bound;
		else
			lo[best_j] = best_bound;
		in = prim_mark(&p);
	}
	/* trim: a bounded side moves in to the outermost point with P (only points without P
	 * lie beyond it) */
	for (size_t j = 0; j < M && in.wpos > 0; j++) {
		double pmin = INFINITY, pmax = -INFINITY;
		for (size_t i = 0; i < n; i++)
			if (p.in[i] && y[i] == 1) {
				pmin = fmin(pmin, X[i * M + j]);
				pmax = fmax(pmax, X[i * M + j]);
			}
		if (!isinf(lo[j]) && pmin > lo[j])
			lo[j] = pmin;
		if (!isinf(hi[j]) && pmax < hi[j])
			hi[j] = pmax;
	}
	rc = steps;
out:
	if (p.order)
		for (size_t j = 0; j < M; j++)
			free(p.order[j]);
	free(p.order);
	free(p.in);
	free(key);
	free(traj);
	free(tmean);
	return rc;
}

/* ------------------------------------------------------------------ black-box search */

struct dist_idx {
	double d;
	size_t i;
};

static int cmp_dist_idx(const void *pa, const void *pb)
{
	const struct dist_idx *a = pa, *b = pb;
	if (a->d != b->d)
		return a->d < b->d ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

struct search {
	struct adv *a;
	struct ex_rng rng;
	const double *x, *ref;
	size_t n_ref, M;
	size_t *mutable_j;
	size_t n_mut;
	double *archive; /* ring of recent points with P, for novelty */
	size_t n_arch, arch_next, cap_arch;
	double *rows;     /* batch_cap x M: the rows of one evaluation */
	unsigned char *p; /* batch_cap: their labels */
	size_t batch_cap;
	double *pool; /* cap_pool x M: the starting points (x first), all with P */
	size_t n_pool, cap_pool;
};

static double clamp_feature(const struct ex_feature_info *fi, double v)
{
	if (!isnan(fi->min) && v < fi->min)
		v = fi->min;
	if (!isnan(fi->max) && v > fi->max)
		v = fi->max;
	if (fi->integer)
		v = round(v);
	return v;
}

/* One move on feature j: resample from the marginal or step +-0.25 MAD. */
static void mutate_feature(struct search *s, double *z, size_t j, bool marginal)
{
	const struct ex_feature_info *fi = &s->a->info[j];
	if (marginal || fi->categorical || isnan(z[j])) {
		z[j] = s->ref[ex_rng_below(&s->rng, s->n_ref) * s->M + j];
		return;
	}
	double step = 0.25 * (fi->mad > 0 ? fi->mad : 1);
	if (fi->integer && step < 1)
		step = 1;
	z[j] = clamp_feature(fi, z[j] + (ex_rng_below(&s->rng, 2) ? step : -step));
}

static double novelty(const struct search *s, const double *z)
{
	double best = INFINITY;
	for (size_t i = 0; i < s->n_arch; i++)
		best = fmin(best, row_dist(s->a->info, s->M, z, s->archive + i * s->M));
	double v = best / (double)(s->n_mut ? s->n_mut : 1);
	return v > 1 ? 1 : v;
}

static void archive_add(struct search *s, const double *z)
{
	memcpy(s->archive + s->arch_next * s->M, z, s->M * sizeof(double));
	s->arch_next = (s->arch_next + 1) % s->cap_arch;
	if (s->n_arch < s->cap_arch)
		s->n_arch++;
}

static double penalty(const struct search *s, const double *z)
{
	double pen = 0;
	for (size_t j = 0; j < s->M; j++) {
		const struct ex_feature_info *fi = &s->a->info[j];
		double mad = fi->mad > 0 ? fi->mad : 1;
		if (!isnan(fi->min) && z[j] < fi->min)
			pen += (fi->min - z[j]) / mad;
		if (!isnan(fi->max) && z[j] > fi->max)
			pen += (z[j] - fi->max) / mad;
	}
	return pen;
}

/* s(z) = P - lambda dist(z, x) / m + mu novelty(z) - penalty (METHODS.md §6.2). */
static double score(const struct search *s, const double *z, unsigned char p)
{
	double m = (double)(s->n_mut ? s->n_mut : 1);
	return (p == 1) - 0.05 * row_dist(s->a->info, s->M, z, s->x) / m + 0.2 * novelty(s, z) -
	       0.5 * penalty(s, z);
}

/* PRIM on the labelled points into box, widened to hold x (the region is about x). Returns
 * the peeling steps or a negative errno. */
static int fit_box(struct adv *a, const double *x, const struct cfg *cf, size_t u_start,
                   struct ex_region_bound *box)
{
	size_t M = a->M;
	double *lo = malloc(M * sizeof(double)), *hi = malloc(M * sizeof(double));
	double *w = NULL;
	int rc = lo && hi ? 0 : -ENOMEM;
	/* the points sampled uniformly in earlier boxes (from u_start on) measure volume, the
	 * search's points do not: both halves weigh the same */
	if (!rc && u_start < a->n_lab) {
		w = malloc(a->n_lab * sizeof(double));
		if (!w)
			rc = -ENOMEM;
		double wu = (double)u_start / (double)(a->n_lab - u_start);
		if (wu < 1)
			wu = 1;
		for (size_t i = 0; w && i < a->n_lab; i++)
			w[i] = i < u_start ? 1 : wu;
	}
	if (!rc)
		rc = prim_fit(a->lab, a->lab_p, w, a->n_lab, M, cf->peel, cf->min_support, lo, hi);
	free(w);
	if (rc < 0) {
		free(lo);
		free(hi);
		return ex__fail(a->err, a->err_size, rc, "adversarial search: out of memory");
	}
	for (size_t j = 0; j < M; j++) {
		box[j] = (struct ex_region_bound){.feature = j,
		                                  .lo = lo[j],
		                                  .hi = hi[j],
		                                  .lo_incl = !isinf(lo[j]),
		                                  .hi_incl = !isinf(hi[j])};
		if (isnan(x[j]))
			continue;
		if (x[j] < box[j].lo)
			box[j].lo = x[j];
		if (x[j] > box[j].hi)
			box[j].hi = x[j];
	}
	free(lo);
	free(hi);
	return rc;
}

/* Anchor-like growth from x for the search: the box starts at the point x and each face of a
 * mutable feature moves out by a width in MAD units (doubling after a success, halving after
 * a failure, given up below 1/32 MAD) when 16 points sampled uniformly in the new slab all
 * have P. A side that reaches the plausible range is left unbounded. Returns the steps. */
static int grow_from_x(struct search *s, struct ex_region_bound *box, uint64_t end,
                       size_t batch_cap, double *rows, unsigned char *p)
{
	struct adv *a = s->a;
	size_t M = s->M, n_s = 16 < batch_cap ? 16 : batch_cap;
	const double *x = s->x;
	double *width = malloc(2 * M * sizeof(double));
	int steps = 0, rc;
	if (!width)
		return ex__fail(a->err, a->err_size, -ENOMEM, "adversarial search: out of memory");
	for (size_t j = 0; j < M; j++) {
		box[j] = (struct ex_region_bound){
		    .feature = j, .lo = x[j], .hi = x[j], .lo_incl = true, .hi_incl = true};
		if (isnan(x[j])) {
			box[j].missing = true;
			box[j].lo = box[j].hi = NAN;
		}
		double mad = a->info[j].mad > 0 ? a->info[j].mad : 1;
		bool grows = !box[j].missing && !a->info[j].immutable && !a->info[j].categorical &&
		             !isnan(a->info[j].min) && !isnan(a->info[j].max);
		width[2 * j] = width[2 * j + 1] = grows ? 0.25 * mad : 0;
	}
	bool progress = true;
	while (progress) {
		progress = false;
		for (size_t face = 0; face < 2 * M; face++) {
			size_t j = face / 2;
			int up = face % 2;
			const struct ex_feature_info *fi = &a->info[j];
			double mad = fi->mad > 0 ? fi->mad : 1, w = width[face];
			if (w <= 0 || (up ? isinf(box[j].hi) : isinf(box[j].lo)))
				continue;
			if (a->used + n_s > end)
				goto done;
			double from = up ? box[j].hi : box[j].lo;
			double to = up ? fmin(from + w, fi->max) : fmax(from - w, fi->min);
			if (fi->integer)
				to = up ? fmax(ceil(to), from + 1) : fmin(floor(to), from - 1);
			/* the slab: feature j in [from, to], the box elsewhere */
			struct ex_region_bound save = box[j];
			box[j].lo = up ? from : to;
			box[j].hi = up ? to : from;
			for (size_t q = 0; q < n_s; q++)
				sample_in_box(&s->rng, box, a->info, s->ref, s->n_ref, M, x,
				              rows + q * M);
			box[j] = save;
			if ((rc = eval_rows(a, rows, n_s, p, true, true)) < 0) {
				free(width);
				return rc;
			}
			bool all = true;
			for (size_t q = 0; q < n_s; q++)
				all &= p[q] == 1;
			progress = true;
			if (!all) {
				width[face] = w / 2 < mad / 32 ? 0 : w / 2;
				continue;
			}
			steps++;
			width[face] = 2 * w;
			if (up)
				box[j].hi = to >= fi->max ? INFINITY : to;
			else
				box[j].lo = to <= fi->min ? -INFINITY : to;
			if (isinf(box[j].hi))
				box[j].hi_incl = false;
			if (isinf(box[j].lo))
				box[j].lo_incl = false;
		}
	}
done:
	free(width);
	return steps;
}

static int search_oom(const struct search *s)
{
	return ex__fail(s->a->err, s->a->err_size, -ENOMEM, "adversarial search: out of memory");
}

/* 1. The reference rows nearest x are labelled, at most max_ref of them and a third of the
 * budget up to end. Returns how many, or a negative errno. */
static long label_nearest(struct search *s, const struct cfg *cf, uint64_t end)
{
	size_t M = s->M, n_ref = s->n_ref;
	struct dist_idx *order = malloc(n_ref * sizeof(*order));
	int rc = 0;

	if (!order)
		return search_oom(s);
	for (size_t i = 0; i < n_ref; i++)
		order[i] = (struct dist_idx){row_dist(s->a->info, M, s->x, s->ref + i * M), i};
	qsort(order, n_ref, sizeof(*order), cmp_dist_idx);
	size_t n_lab_ref = n_ref < cf->max_ref ? n_ref : cf->max_ref;
	if (n_lab_ref > (end - s->a->used) / 3)
		n_lab_ref = (size_t)((end - s->a->used) / 3);
	for (size_t i0 = 0; i0 < n_lab_ref && rc >= 0; i0 += s->batch_cap) {
		size_t nb = n_lab_ref - i0 < s->batch_cap ? n_lab_ref - i0 : s->batch_cap;
		for (size_t t = 0; t < nb; t++)
			memcpy(s->rows + t * M, s->ref + order[i0 + t].i * M, M * sizeof(double));
		rc = eval_rows(s->a, s->rows, nb, s->p, false, true);
	}
	free(order);
	return rc < 0 ? rc : (long)n_lab_ref;
}

/* 2. The seed pool: x and the nearest labelled reference rows with P (the archive gets them
 * too). */
static int seed_pool(struct search *s, const struct cfg *cf)
{
	const struct adv *a = s->a;
	size_t M = s->M;

	s->cap_pool = 2 * cf->n_seeds + 1;
	s->pool = malloc(s->cap_pool * M * sizeof(double));
	if (!s->pool)
		return search_oom(s);
	memcpy(s->pool, s->x, M * sizeof(double));
	s->n_pool = 1;
	archive_add(s, s->x);
	for (size_t i = 0; i < a->n_lab && s->n_pool < cf->n_seeds + 1; i++)
		if (a->lab_p[i] == 1) {
			memcpy(s->pool + s->n_pool++ * M, a->lab + i * M, M * sizeof(double));
			archive_add(s, a->lab + i * M);
		}
	return 0;
}

/* ... and perturbations of the seeds, one to three features moved: those with P join the
 * pool. */
static int perturb_seeds(struct search *s, const struct cfg *cf, uint64_t end)
{
	size_t M = s->M, n_pert = cf->n_seeds;
	int rc;

	if (n_pert > (end - s->a->used) / 10)
		n_pert = (size_t)((end - s->a->used) / 10);
	if (n_pert > s->batch_cap)
		n_pert = s->batch_cap;
	for (size_t i = 0; i < n_pert; i++) {
		double *z = s->rows + i * M;
		memcpy(z, s->pool + (i % s->n_pool) * M, M * sizeof(double));
		size_t moves = 1 + (size_t)ex_rng_below(&s->rng, 3);
		for (size_t t = 0; t < moves; t++)
			mutate_feature(s, z, s->mutable_j[ex_rng_below(&s->rng, s->n_mut)],
			               ex_rng_below(&s->rng, 2));
	}
	if ((rc = eval_rows(s->a, s->rows, n_pert, s->p, false, true)) < 0)
		return rc;
	for (size_t i = 0; i < n_pert; i++)
		if (s->p[i] == 1) {
			archive_add(s, s->rows + i * M);
			if (s->n_pool < s->cap_pool)
				memcpy(s->pool + s->n_pool++ * M, s->rows + i * M,
				       M * sizeof(double));
		}
	return 0;
}

/* 3. Hill-climbing from up to 32 seeds in lock-step, one mutation a step; a climb that
 * has not improved for 15 steps restarts from the next seed. Until hc_end rows are used. */
static int hill_climb(struct search *s, uint64_t hc_end)
{
	struct adv *a = s->a;
	size_t M = s->M, R = s->n_pool < 32 ? s->n_pool : 32, next_seed = R;
	double *cur = malloc(R * M * sizeof(double)), *cur_s = malloc(R * sizeof(double));
	size_t *stale = calloc(R, sizeof(size_t));
	int rc = 0;

	if (!cur || !cur_s || !stale) {
		rc = search_oom(s);
		goto out;
	}
	for (size_t t = 0; t < R; t++) {
		memcpy(cur + t * M, s->pool + t * M, M * sizeof(double));
		cur_s[t] = score(s, cur + t * M, 1);
	}
	while (a->used + R <= hc_end) {
		for (size_t t = 0; t < R; t++) {
			double *z = s->rows + t * M;
			memcpy(z, cur + t * M, M * sizeof(double));
			mutate_feature(s, z, s->mutable_j[ex_rng_below(&s->rng, s->n_mut)],
			               ex_rng_below(&s->rng, 2));
		}
		if ((rc = eval_rows(a, s->rows, R, s->p, false, true)) < 0)
			goto out;
		for (size_t t = 0; t < R; t++) {
			double sc = score(s, s->rows + t * M, s->p[t]);
			if (s->p[t] == 1)
				archive_add(s, s->rows + t * M);
			if (sc >= cur_s[t]) {
				memcpy(cur + t * M, s->rows + t * M, M * sizeof(double));
				stale[t] = sc > cur_s[t] ? 0 : stale[t] + 1;
				cur_s[t] = sc;
			} else {
				stale[t]++;
			}
			if (stale[t] >= 15) { /* restart */
				size_t q = next_seed++ % s->n_pool;
				memcpy(cur + t * M, s->pool + q * M, M * sizeof(double));
				cur_s[t] = score(s, cur + t * M, 1);
				stale[t] = 0;
			}
		}
	}
out:
	free(cur);
	free(cur_s);
	free(stale);
	return rc;
}

/* One generation's N children of the np parents in pop (written after them): tournament
 * parents, uniform crossover, each mutable feature mutated with probability 1/m (at least
 * one). */
static void breed(struct search *s, const double *pop, const double *fit, size_t np, double *kids,
                  size_t N)
{
	size_t M = s->M;

	for (size_t t = 0; t < N; t++) {
		size_t pa[2];
		for (int w = 0; w < 2; w++) { /* tournament of two */
			size_t u = (size_t)ex_rng_below(&s->rng, np);
			size_t v = (size_t)ex_rng_below(&s->rng, np);
			pa[w] = fit[u] >= fit[v] ? u : v;
		}
		double *z = kids + t * M;
		for (size_t j = 0; j < M; j++)
			z[j] = pop[pa[ex_rng_below(&s->rng, 2)] * M + j];
		size_t muts = 0;
		for (size_t q = 0; q < s->n_mut; q++)
			if (ex_rng_uniform(&s->rng) < 1.0 / (double)s->n_mut) {
				mutate_feature(s, z, s->mutable_j[q], true);
				muts++;
			}
		if (!muts)
			mutate_feature(s, z, s->mutable_j[ex_rng_below(&s->rng, s->n_mut)], true);
	}
}

/* Sorts the tot rows of pop by fitness, best first (stable: earlier wins ties). */
static void sort_by_fitness(double *pop, double *fit, size_t tot, size_t M)
{
	for (size_t u = 1; u < tot; u++)
		for (size_t v = u; v > 0 && fit[v - 1] < fit[v]; v--) {
			double tf = fit[v];
			fit[v] = fit[v - 1];
			fit[v - 1] = tf;
			for (size_t j = 0; j < M; j++) {
				double tz = pop[v * M + j];
				pop[v * M + j] = pop[(v - 1) * M + j];
				pop[(v - 1) * M + j] = tz;
			}
		}
}

/* 4. A genetic algorithm on the points with P (the archive): populations of 32, the best of
 * parents and children kept, until search_end rows are used. */
static int evolve(struct search *s, uint64_t search_end)
{
	struct adv *a = s->a;
	const size_t N = 32; /* <= batch_cap */
	size_t M = s->M, np = 0;
	double *pop = malloc(2 * N * M * sizeof(double)), *fit = malloc(2 * N * sizeof(double));
	int rc = 0;

	if (!pop || !fit) {
		rc = search_oom(s);
		goto out;
	}
	for (size_t i = 0; i < s->n_arch && np < N; i++, np++) {
		memcpy(pop + np * M, s->archive + i * M, M * sizeof(double));
		fit[np] = score(s, pop + np * M, 1);
	}
	while (np >= 2 && a->used + N <= search_end) {
		double *kids = pop + np * M;
		breed(s, pop, fit, np, kids, N);
		if ((rc = eval_rows(a, kids, N, s->p, false, true)) < 0)
			goto out;
		for (size_t t = 0; t < N; t++) {
			fit[np + t] = score(s, kids + t * M, s->p[t]);
			if (s->p[t] == 1)
				archive_add(s, kids + t * M);
		}
		/* keep the best np of parents + children */
		size_t tot = np + N;
		sort_by_fitness(pop, fit, tot, M);
		if (np < N)
			np = tot < N ? tot : N;
	}
out:
	free(pop);
	free(fit);
	return rc;
}

/* Makes room for n rows in the evaluation batch. */
static int batch_reserve(struct search *s, size_t n)
{
	if (n <= s->batch_cap)
		return 0;
	double *r2 = realloc(s->rows, n * s->M * sizeof(double));
	unsigned char *p2 = r2 ? realloc(s->p, n) : NULL;
	if (r2)
		s->rows = r2;
	if (p2)
		s->p = p2;
	if (!r2 || !p2)
		return search_oom(s);
	s->batch_cap = n;
	return 0;
}

/* A point in box for the refinement: in the box itself, or (widened) in the box widened by
 * a quarter of its width plus one MAD on each bounded side. */
static void sample_refinement(struct search *s, const struct ex_region_bound *box, bool widened,
                              double *z)
{
	const struct ex_feature_info *info = s->a->info;
	size_t M = s->M;

	sample_in_box(&s->rng, box, info, s->ref, s->n_ref, M, s->x, z);
	if (!widened)
		return;
	for (size_t j = 0; j < M; j++) {
		const struct ex_region_bound *b = &box[j];
		if (b->missing || b->lo == b->hi || info[j].immutable || info[j].categorical)
			continue;
		double a0, b0;
		sample_range(b, &info[j], s->ref, s->n_ref, M, j, s->x[j], &a0, &b0);
		double w = 0.25 * (b0 - a0) + (info[j].mad > 0 ? info[j].mad : 0);
		if (!isinf(b->lo))
			a0 -= w;
		if (!isinf(b->hi))
			b0 += w;
		z[j] = clamp_feature(&info[j], a0 + ex_rng_uniform(&s->rng) * (b0 - a0));
	}
}

/* 5. PRIM on everything labelled into box; refinement rounds label fresh points in the box
 * and around it (the search's points crowd around x, so the first box can be pure on them
 * and not in volume), up to half of the budget left before end, then the final fit. Returns
 * its peeling steps or a negative errno. */
static int refine_box(struct search *s, const struct cfg *cf, uint64_t end,
                      struct ex_region_bound *box)
{
	struct adv *a = s->a;
	size_t u_start = a->n_lab;
	uint64_t refine_end = a->used + (end - a->used) / 2;
	int steps = 0, rc;

	for (int round = 0; round < 5; round++) {
		if ((rc = fit_box(a, s->x, cf, u_start, box)) < 0)
			return rc;
		steps = rc;
		if (round == 4)
			break;
		uint64_t left = refine_end > a->used ? refine_end - a->used : 0;
		size_t n_r = (size_t)(left / (uint64_t)(4 - round));
		if (n_r < 8)
			continue;
		if ((rc = batch_reserve(s, n_r)) < 0)
			return rc;
		for (size_t i = 0; i < n_r; i++) /* half inside, half widened */
			sample_refinement(s, box, i % 2, s->rows + i * s->M);
		if ((rc = eval_rows(a, s->rows, n_r, s->p, false, true)) < 0)
			return rc;
	}
	return steps;
}

/* A check on up to 100 fresh points in the final box (the refinement points picked it, so
 * they flatter it): a box with a point without P there and a Wilson lower bound below 0.95
 * (the region is no box the points could show, typically in many dimensions) is replaced by
 * one grown outward from x, when the budget left before end pays for it. */
static int check_box(struct search *s, uint64_t end, struct ex_region_bound *box,
                     struct ex_region *r)
{
	struct adv *a = s->a;
	size_t u_in = 0, u_hit = 0;
	size_t n_chk = (size_t)((end > a->used ? end - a->used : 0) / 4);
	int rc;

	if (n_chk > 100)
		n_chk = 100;
	if (n_chk > s->batch_cap)
		n_chk = s->batch_cap;
	for (size_t i = 0; i < n_chk; i++)
		sample_in_box(&s->rng, box, a->info, s->ref, s->n_ref, s->M, s->x,
		              s->rows + i * s->M);
	if ((rc = eval_rows(a, s->rows, n_chk, s->p, false, true)) < 0)
		return rc;
	for (size_t i = 0; i < n_chk; i++) {
		u_in++;
		u_hit += s->p[i] == 1;
	}
	double u_lo, u_hi;
	ex_wilson_interval(u_hit, u_in, Z95, &u_lo, &u_hi);
	if (s->n_mut && u_hit < u_in && u_lo < 0.95 && end >= a->used + 64) {
		if ((rc = grow_from_x(s, box, end, s->batch_cap, s->rows, s->p)) < 0)
			return rc;
		r->steps = (unsigned)rc;
		r->grown = true;
	}
	return 0;
}

/* The search's state for x: the batch buffers, the archive, the mutable features. */
static int search_init(struct search *s, struct adv *a, const double *x, const double *ref,
                       size_t n_ref, uint64_t seed)
{
	size_t M = a->M;

	ex_rng_seed(&s->rng, seed);
	s->a = a;
	s->x = x;
	s->ref = ref;
	s->n_ref = n_ref;
	s->M = M;
	s->cap_arch = 64;
	s->batch_cap = 1024;
	s->mutable_j = malloc(M * sizeof(size_t));
	s->archive = malloc(s->cap_arch * M * sizeof(double));
	s->rows = malloc(s->batch_cap * M * sizeof(double));
	s->p = malloc(s->batch_cap);
	if (!s->mutable_j || !s->archive || !s->rows || !s->p)
		return search_oom(s);
	for (size_t j = 0; j < M; j++)
		if (!a->info[j].immutable)
			s->mutable_j[s->n_mut++] = j;
	return 0;
}

static void search_deinit(struct search *s)
{
	free(s->mutable_j);
	free(s->archive);
	free(s->rows);
	free(s->p);
	free(s->pool);
}

int ex_adversarial_search(const struct ex_fn *f, const struct ex_explainer *e, const double *x,
                          const double *ref, size_t n_ref, const struct ex_feature_info *info,
                          const struct ex_decision *d, const struct ex_adv_config *c,
                          struct ex_region **ret, char *err, size_t err_size)
{
	struct cfg cf;
	struct adv a;
	struct search s = {0};
	struct ex_region *r = NULL;
	struct ex_region_bound *box = NULL;
	long n_lab_ref = 0;
	int rc;

	if (!f || !f->predict || !f->n_features || !f->n_outputs || !x || !ref || !n_ref || !info ||
	    !ret)
		return ex__fail(err, err_size, -EINVAL,
		                "adversarial search: missing model, row, reference rows or feature "
		                "info");
	cfg_fill(c, &cf);
	if (cf.budget < 17)
		return ex__fail(
		    err, err_size, -ENOSPC,
		    "adversarial search: budget %llu rows cannot pay for x plus 16 rows",
		    (unsigned long long)cf.budget);
	if ((rc = adv_init(&a, f, e, info, d, &cf, err, err_size)) < 0)
		return rc;
	if ((rc = adv_start(&a, x)) < 0 || (rc = search_init(&s, &a, x, ref, n_ref, cf.seed)) < 0)
		goto out;
	/* the eval set is paid last: keep its share */
	if (cf.n_eval > (cf.budget - 1) / 4)
		cf.n_eval = (size_t)((cf.budget - 1) / 4);
	uint64_t end = cf.budget - cf.n_eval;

	if ((n_lab_ref = label_nearest(&s, &cf, end)) < 0) {
		rc = (int)n_lab_ref;
		goto out;
	}
	if ((rc = seed_pool(&s, &cf)) < 0)
		goto out;
	/* the search spends half of what is left; the region's fit the other half */
	uint64_t search_end = a.used + (end - a.used) / 2;
	if (s.n_mut) { /* else the region is what the reference rows show */
		if ((rc = perturb_seeds(&s, &cf, end)) < 0 ||
		    (rc = hill_climb(&s, a.used + (search_end - a.used) / 2)) < 0 ||
		    (rc = evolve(&s, search_end)) < 0)
			goto out;
	}
	box = calloc(a.M, sizeof(*box));
	r = calloc(1, sizeof(*r));
	if (!box || !r) {
		rc = search_oom(&s);
		goto out;
	}
	if ((rc = refine_box(&s, &cf, end, box)) < 0)
		goto out;
	r->steps = (unsigned)rc;
	if ((rc = check_box(&s, end, box, r)) < 0)
		goto out;
	r->method = "search";
	r->budget_exhausted = (size_t)n_lab_ref < (n_ref < cf.max_ref ? n_ref : cf.max_ref);
	rc = finish_region(&a, box, x, ref, n_ref, &cf, &s.rng, r);
	box = NULL;
	if (rc < 0)
		goto out;
	*ret = r;
	r = NULL;
	rc = 0;
out:
	ex_region_free(r);
	free(box);
	search_deinit(&s);
	adv_deinit(&a);
	return rc;
}

/* ------------------------------------------------------------------ tree decision cell */

/* The largest double d with (float)d < t (t a finite float). */
static double xgb_below(float t)
{
	float pf = nextafterf(t, -INFINITY);
	if (isinf(pf))
		return -DBL_MAX;
	double m = ((double)pf + (double)t) / 2; /* exact: 25 significant bits */
	return (float)m < t ? m : nextafter(m, -INFINITY);
}

/* Per feature: sorted unique effective thresholds; XGBoost: left iff (float)x < t; LightGBM:
 * left iff x <= t (after folding kZeroThreshold into t). */
struct cell_feat {
	double *t;
	size_t n;
	bool fixed;  /* a categorical split or a missing x_j: the box keeps x_j itself */
	bool nogrow; /* immutable: the cell's interval, never grown */
	size_t xs;   /* x's slab: 0..n */
	size_t a, b; /* the box's slab range */
};

struct cell {
	const struct ex_model *m;
	bool xgb;
	size_t M;
	struct cell_feat *cf;
};

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return a < b ? -1 : a > b;
}

static int add_t(struct cell_feat *c, size_t *cap, double t)
{
	if (c->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		double *t2 = realloc(c->t, *cap * sizeof(double));
		if (!t2)
			return -ENOMEM;
		c->t = t2;
	}
	c->t[c->n++] = t;
	return 0;
}

static void cell_free(struct cell *c)
{
	if (c->cf)
		for (size_t j = 0; j < c->M; j++)
			free(c->cf[j].t);
	free(c->cf);
}

static int cell_build(struct cell *c, const struct ex_model *m, const double *x,
                      const struct ex_feature_info *info)
{
	size_t M = m->n_features;
	size_t *cap = calloc(M ? M : 1, sizeof(size_t));
	double *scratch = calloc(M ? M : 1, sizeof(double));
	c->m = m;
	c->M = M;
	c->xgb = m->format == EX_FORMAT_XGBOOST_JSON;
	c->cf = calloc(M ? M : 1, sizeof(*c->cf));
	if (!cap || !scratch || !c->cf) {
		free(cap);
		free(scratch);
		return -ENOMEM;
	}
	for (size_t ti = 0; ti < m->n_trees; ti++) {
		const struct ex_tree *tr = &m->trees[ti];
		for (int32_t ni = 0; ni < tr->n_nodes; ni++) {
			const struct ex_node *nd = &tr->nodes[ni];
			if (nd->cmp == EX_CMP_LEAF || nd->feature < 0 || (size_t)nd->feature >= M)
				continue;
			struct cell_feat *f = &c->cf[nd->feature];
			size_t *cp = &cap[nd->feature];
			int rc = 0;
			switch (nd->cmp) {
			case EX_CMP_XGB_LT:
				rc = add_t(f, cp, (double)nd->threshold_f);
				break;
			case EX_CMP_LGB_LE: {
				/* the side is "v <= t" away from the zero zone [-Z, Z], which is
				 * mapped to 0 (or sent to the default child under missing Zero):
				 * the only places the side can change are t, -Z and Z; keep those
				 * where it does */
				double cand[3] = {nd->threshold, nextafter(-EX_LGB_ZERO, -INFINITY),
				                  EX_LGB_ZERO};
				if (cand[0] >= 0 && cand[0] < EX_LGB_ZERO)
					cand[0] = EX_LGB_ZERO;
				else if (cand[0] >= -EX_LGB_ZERO && cand[0] < 0)
					cand[0] = cand[1];
				for (int q = 0; q < 3 && !rc; q++) {
					scratch[nd->feature] = cand[q];
					int32_t at = ex_node_next(m, nd, scratch);
					scratch[nd->feature] = nextafter(cand[q], INFINITY);
					if (ex_node_next(m, nd, scratch) != at)
						rc = add_t(f, cp, cand[q]);
				}
				break;
			}
			default:
				f->fixed = true;
			}
			if (rc < 0) {
				free(cap);
				free(scratch);
				return rc;
			}
		}
	}
	free(cap);
	free(scratch);
	for (size_t j = 0; j < M; j++) {
		struct cell_feat *f = &c->cf[j];
		if (f->n) {
			qsort(f->t, f->n, sizeof(double), cmp_double);
			size_t u = 1;
			for (size_t i = 1; i < f->n; i++)
				if (f->t[i] != f->t[u - 1])
					f->t[u++] = f->t[i];
			f->n = u;
		}
		if (isnan(x[j]))
			f->fixed = true;
		if (info && info[j].immutable)
			f->nogrow = true;
		if (!f->fixed) {
			size_t k = 0;
			for (size_t i = 0; i < f->n; i++)
				k += c->xgb ? (float)x[j] >= (float)f->t[i] : f->t[i] < x[j];
			f->xs = k;
		}
		f->a = f->b = f->xs;
	}
	return 0;
}

/* Inclusive double limits of slab k of feature j (x's own slab widened to hold x). */
static void slab(const struct cell *c, size_t j, size_t k, double xj, double *ret_lo,
                 double *ret_hi, bool *ret_lo_incl)
{
	const struct cell_feat *f = &c->cf[j];
	double lo = -INFINITY, hi = INFINITY;
	bool lo_incl = false;
	if (c->xgb) {
		if (k > 0) {
			float t = (float)f->t[k - 1];
			lo = t;
			if (k == f->xs && xj < lo)
				lo = nextafter(xgb_below(t), INFINITY);
			lo_incl = true;
		}
		if (k < f->n) {
			float t = (float)f->t[k];
			hi = nextafterf(t, -INFINITY);
			if (k == f->xs && xj > hi)
				hi = xgb_below(t);
		}
	} else {
		if (k > 0)
			lo = f->t[k - 1]; /* exclusive */
		if (k < f->n)
			hi = f->t[k];
	}
	*ret_lo = lo;
	*ret_hi = hi;
	*ret_lo_incl = lo_incl;
}

static void cell_bound(const struct cell *c, size_t j, double xj, struct ex_region_bound *b)
{
	const struct cell_feat *f = &c->cf[j];
	*b = (struct ex_region_bound){.feature = j, .lo = -INFINITY, .hi = INFINITY};
	if (isnan(xj)) {
		b->missing = true;
		b->lo = b->hi = NAN;
		return;
	}
	if (f->fixed) {
		b->lo = b->hi = xj;
		b->lo_incl = b->hi_incl = true;
		return;
	}
	if (!f->n) /* no tree splits on it */
		return;
	double lo, hi, dummy_hi, dummy_lo;
	bool lo_incl, dummy;
	slab(c, j, f->a, xj, &lo, &dummy_hi, &lo_incl);
	slab(c, j, f->b, xj, &dummy_lo, &hi, &dummy);
	b->lo = lo;
	b->hi = hi;
	b->lo_incl = !isinf(lo) && lo_incl;
	b->hi_incl = !isinf(hi);
}

/* A point of slab k of feature j: x_j clamped into it. */
static double slab_rep(const struct cell *c, size_t j, size_t k, double xj)
{
	double lo, hi;
	bool lo_incl;
	slab(c, j, k, xj, &lo, &hi, &lo_incl);
	if (!lo_incl && !isinf(lo))
		lo = nextafter(lo, INFINITY);
	return xj < lo ? lo : xj > hi ? hi : xj;
}

int ex_tree_cell(const struct ex_model *m, const double *x, struct ex_region_bound *box)
{
	struct cell c = {0};

	if (!m || !x || !box || !ex_model_is_trees(m))
		return -EINVAL;
	int rc = cell_build(&c, m, x, NULL);
	if (rc == 0)
		for (size_t j = 0; j < c.M; j++)
			cell_bound(&c, j, x[j], &box[j]);
	cell_free(&c);
	return rc;
}

/* The n rows of a slab: feature j's intervals s_lo .. s_lo + width - 1, the cell's ranges for
 * the other features (fixed ones at x): every combination in order when enumerate (idx: M
 * counters of scratch), else n cells drawn at random. */
static void slab_rows(const struct cell *cell, size_t M, const double *x, size_t j, size_t s_lo,
                      size_t width, bool enumerate, size_t n, struct ex_rng *rng, size_t *idx,
                      double *rows)
{
	for (size_t i = 0; i < M; i++)
		idx[i] = i == j ? s_lo : cell->cf[i].a;
	for (size_t q = 0; q < n; q++) {
		double *z = rows + q * M;
		for (size_t i = 0; i < M; i++) {
			const struct cell_feat *fi = &cell->cf[i];
			size_t k;
			if (fi->fixed) {
				z[i] = x[i];
				continue;
			}
			if (i == j)
				k = enumerate ? idx[i] : s_lo + (size_t)ex_rng_below(rng, width);
			else if (enumerate)
				k = idx[i];
			else
				k = fi->a + (size_t)ex_rng_below(rng, fi->b - fi->a + 1);
			z[i] = slab_rep(cell, i, k, x[i]);
		}
		if (enumerate) /* next combination, mixed radix */
			for (size_t i = 0; i < M; i++) {
				if (cell->cf[i].fixed)
					continue;
				size_t first = i == j ? s_lo : cell->cf[i].a;
				size_t last = i == j ? s_lo + width - 1 : cell->cf[i].b;
				if (++idx[i] <= last)
					break;
				idx[i] = first;
			}
	}
}

int ex_adversarial_tree(const struct ex_model *m, const struct ex_fn *f,
                        const struct ex_explainer *e, const double *x, const double *ref,
                        size_t n_ref, const struct ex_feature_info *info,
                        const struct ex_decision *d, const struct ex_adv_config *c,
                        struct ex_region **ret, char *err, size_t err_size)
{
	struct cfg cf;
	struct adv a;
	struct cell cell = {0};
	struct ex_fn own;
	struct ex_rng rng;
	struct ex_region *r = NULL;
	struct ex_region_bound *box = NULL;
	double *rows = NULL;
	unsigned char *p = NULL, *blocked = NULL;
	size_t *idx = NULL, *stride = NULL;
	int rc;

	if (!m || !x || !info || !ret || (n_ref && !ref))
		return ex__fail(err, err_size, -EINVAL,
		                "adversarial tree: missing model, row or feature info");
	if (!ex_model_is_trees(m))
		return ex__fail(err, err_size, -EINVAL,
		                "adversarial tree: not a tree model (use ex_adversarial_search)");
	if (!f) {
		ex_fn_from_model(m, &own);
		f = &own;
	}
	if (f->n_features != m->n_features || !f->predict || !f->n_outputs)
		return ex__fail(err, err_size, -EINVAL,
		                "adversarial tree: the function has %zu features, the model %zu",
		                f->n_features, m->n_features);
	cfg_fill(c, &cf);
	if (cf.budget < 17)
		return ex__fail(err, err_size, -ENOSPC,
		                "adversarial tree: budget %llu rows cannot pay for x plus 16 rows",
		                (unsigned long long)cf.budget);
	if ((rc = adv_init(&a, f, e, info, d, &cf, err, err_size)) < 0)
		return rc;
	size_t M = a.M;
	ex_rng_seed(&rng, cf.seed);
	if ((rc = adv_start(&a, x)) < 0)
		goto out;
	if ((rc = cell_build(&cell, m, x, info)) < 0) {
		rc = ex__fail(err, err_size, rc, "adversarial tree: out of memory");
		goto out;
	}
	if (cf.n_eval > (cf.budget - 1) / 4)
		cf.n_eval = (size_t)((cf.budget - 1) / 4);
	uint64_t end = cf.budget - cf.n_eval;
	size_t max_rows = cf.max_cells > cf.sample_cells ? cf.max_cells : cf.sample_cells;
	rows = malloc(max_rows * M * sizeof(double));
	p = malloc(max_rows);
	blocked = calloc(2 * M, 1);
	stride = malloc(2 * M * sizeof(size_t));
	idx = malloc(M * sizeof(size_t));
	r = calloc(1, sizeof(*r));
	box = calloc(M, sizeof(*box));
	if (!rows || !p || !blocked || !stride || !idx || !r || !box) {
		rc = ex__fail(err, err_size, -ENOMEM, "adversarial tree: out of memory");
		goto out;
	}
	for (size_t q = 0; q < 2 * M; q++)
		stride[q] = 1;
	/* x's own cell: P holds (it is x's) */
	rc = lab_add(&a, x, 1);
	if (rc < 0)
		goto out;
	bool progress = true;
	while (progress && !r->budget_exhausted) {
		progress = false;
		for (size_t face = 0; face < 2 * M && !r->budget_exhausted; face++) {
			size_t j = face / 2;
			int up = face % 2;
			struct cell_feat *fj = &cell.cf[j];
			if (blocked[face] || fj->fixed || fj->nogrow || !fj->n)
				continue;
			if (up ? fj->b == fj->n : fj->a == 0) {
				blocked[face] = 1;
				continue;
			}
			/* the new slab: `width` intervals of feature j beyond the face (galloping:
			 * the width doubles after a success and halves after a failure) */
			size_t width = stride[face], room = up ? fj->n - fj->b : fj->a;
			if (width > room)
				width = room;
			size_t s_lo = up ? fj->b + 1 : fj->a - width;
			/* its cells: width times the product of the other features' ranges */
			double count = (double)width;
			for (size_t i = 0; i < M; i++)
				if (i != j && !cell.cf[i].fixed)
					count *= (double)(cell.cf[i].b - cell.cf[i].a + 1);
			bool enumerate = count <= (double)cf.max_cells;
			size_t n = enumerate ? (size_t)count : cf.sample_cells;
			if (a.used + n > end) {
				r->budget_exhausted = true;
				break;
			}
			slab_rows(&cell, M, x, j, s_lo, width, enumerate, n, &rng, idx, rows);
			if ((rc = eval_rows(&a, rows, n, p, true, true)) < 0)
				goto out;
			bool all = true;
			for (size_t q = 0; q < n; q++)
				all &= p[q] == 1;
			if (!all) {
				/* a cell without P was found: it stays in every later slab of this
				 * face at width 1; a wider slab may have failed further out */
				if (width == 1)
					blocked[face] = 1;
				else
					stride[face] = width / 2;
				progress = true;
				continue;
			}
			if (!enumerate)
				r->growth_sampled = true;
			if (up)
				fj->b += width;
			else
				fj->a -= width;
			stride[face] = width * 2;
			r->steps++;
			progress = true;
		}
	}
	for (size_t j = 0; j < M; j++)
		cell_bound(&cell, j, x[j], &box[j]);
	r->method = "tree-cell";
	r->exact = !r->growth_sampled;
	rc = finish_region(&a, box, x, ref, n_ref, &cf, &rng, r);
	box = NULL;
	if (rc < 0)
		goto out;
	*ret = r;
	r = NULL;
	rc = 0;
out:
	ex_region_free(r);
	free(box);
	free(rows);
	free(p);
	free(blocked);
	free(stride);
	free(idx);
	cell_free(&cell);
	adv_deinit(&a);
	return rc;
}
