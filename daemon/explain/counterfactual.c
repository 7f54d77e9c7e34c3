/* SPDX-License-Identifier: Apache-2.0 */
/* Counterfactuals (METHODS.md §5.1, §5.2): exact single-feature flips for tree ensembles
 * (threshold scan with each format's tie rule) and linear models (closed form, then the
 * nearest flipping double), grid + bisection for black boxes, and sparse few-feature
 * counterfactuals by growing spheres with sparsification. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rng.h"
#include "whatif.h"

#define CF_DEFAULT_BUDGET 200000
#define CF_GRID_QUANTILES 64 /* METHODS.md §5.2: background quantiles */
#define CF_GRID_LOCAL     16 /* per side: points within 2 MAD of x_j */
#define CF_SECTION_POINTS 7  /* interior points per bisection call (8x narrower per call) */
#define CF_SPHERE_SAMPLES 256
#define CF_SPHERE_LAYERS  48
#define CF_SPHERE_REFINE  6 /* segment bisection calls per sphere candidate */
#define CF_SPHERE_KEEP    8 /* flipping sphere points refined per run */

static const char bb_caveat[] =
    "black-box search: the grid can miss flip regions narrower than its spacing, bisection "
    "assumes one crossing inside the bracket, and growing spheres is a random search";

/* ------------------------------------------------------------------ context */

int wi__ctx_init(struct wi_ctx *w, const struct ex_whatif_input *in, const double *x,
                 const struct ex_cf_config *c, char *err, size_t err_size)
{
	memset(w, 0, sizeof(*w));
	w->err = err;
	w->err_size = err_size;
	if (!in || !in->f || !in->f->predict || !x)
		return ex__fail(err, err_size, -EINVAL, "what-if: needs f and x");
	if ((!in->bg || !in->n_bg) && !(in->model && in->info))
		return ex__fail(
		    err, err_size, -EINVAL,
		    "what-if: needs background rows (bg, n_bg > 0), or a model file and "
		    "the feature facts (info)");
	w->f = in->f;
	w->m = in->model;
	w->x = x;
	w->M = in->f->n_features;
	w->G = in->f->n_outputs;
	w->bg = in->bg;
	w->n_bg = in->bg ? in->n_bg : 0;
	if (!w->M || !w->G)
		return ex__fail(err, err_size, -EINVAL, "what-if: f has no features or no outputs");
	if (w->m && (w->m->n_features != w->M || w->m->n_outputs != w->G))
		return ex__fail(
		    err, err_size, -EINVAL,
		    "what-if: the model has %zu features and %zu outputs, f %zu and %zu",
		    w->m->n_features, w->m->n_outputs, w->M, w->G);
	w->d = in->decision ? *in->decision : (struct ex_decision){.threshold = 0};
	if (c) {
		w->cfg = *c;
	}
	if (!w->cfg.budget)
		w->cfg.budget = CF_DEFAULT_BUDGET;
	if (!w->cfg.max_features)
		w->cfg.max_features = 3;
	if (!w->cfg.n_results)
		w->cfg.n_results = 3;
	if (!(w->cfg.tolerance > 0))
		w->cfg.tolerance = 1e-3;
	if (!w->cfg.max_batch_rows)
		w->cfg.max_batch_rows = 65536;
	w->fx = calloc(w->G, sizeof(double));
	w->row = malloc(w->M * sizeof(double));
	w->out = malloc(w->G * sizeof(double));
	if (!w->fx || !w->row || !w->out)
		return -ENOMEM;
	if (in->info) {
		w->info = in->info;
	} else {
		w->own_info = calloc(w->M, sizeof(*w->own_info));
		if (!w->own_info)
			return -ENOMEM;
		int rc = ex_feature_info_from_rows(in->bg, in->n_bg, w->M, w->own_info);
		if (rc < 0)
			return ex__fail(err, err_size, rc,
			                "what-if: feature facts from the background");
		w->info = w->own_info;
	}
	w->cat = calloc(w->M, sizeof(bool));
	if (!w->cat)
		return -ENOMEM;
	for (size_t j = 0; j < w->M; j++)
		w->cat[j] = w->info[j].categorical;
	for (size_t t = 0; w->m && ex_model_is_trees(w->m) && t < w->m->n_trees; t++) {
		const struct ex_tree *tr = &w->m->trees[t];
		for (int32_t i = 0; i < tr->n_nodes; i++)
			if (tr->nodes[i].left >= 0 && (tr->nodes[i].cmp == EX_CMP_XGB_CAT ||
			                               tr->nodes[i].cmp == EX_CMP_LGB_CAT))
				w->cat[tr->nodes[i].feature] = true;
	}
	int rc = wi__eval(w, x, 1, w->fx);
	if (rc < 0)
		return rc;
	if (w->m) {
		/* f must be the model's margins: the exact scans use the model, results use f */
		rc = ex_predict_margin(w->m, x, NULL, w->out);
		if (rc < 0)
			return ex__fail(err, err_size, rc, "what-if: the model cannot evaluate x");
		for (size_t g = 0; g < w->G; g++)
			if (!(fabs(w->out[g] - w->fx[g]) <= 1e-9 * (1 + fabs(w->fx[g]))))
				return ex__fail(
				    err, err_size, -EINVAL,
				    "what-if: f and the model disagree at x, output %zu: "
				    "%.17g vs %.17g (f must be the model's margins)",
				    g, w->fx[g], w->out[g]);
	}
	w->dec0 = ex_decide(&w->d, w->fx, w->G);
	return 0;
}

void wi__ctx_deinit(struct wi_ctx *w)
{
	free(w->fx);
	free(w->row);
	free(w->out);
	free(w->own_info);
	free(w->cat);
	free(w->buf);
	free(w->buf_out);
	free(w->leaf_x);
	free(w->uses);
	memset(w, 0, sizeof(*w));
}

int wi__eval(struct wi_ctx *w, const double *rows, size_t n, double *out)
{
	for (size_t i = 0; i < n; i += w->cfg.max_batch_rows) {
		size_t k = n - i < w->cfg.max_batch_rows ? n - i : w->cfg.max_batch_rows;
		if (w->rows + k > w->cfg.budget)
			return ex__fail(w->err, w->err_size, -ENOSPC,
			                "what-if: the budget of %zu model rows is spent",
			                w->cfg.budget);
		w->rows += k;
		int rc = w->f->predict(w->f->userdata, rows + i * w->M, k, out + i * w->G, w->err,
		                       w->err_size);
		if (rc < 0)
			return rc;
	}
	return 0;
}

bool wi__flips(const struct wi_ctx *w, const double *out)
{
	int dec = ex_decide(&w->d, out, w->G);
	return w->cfg.use_target ? dec == w->cfg.target && dec != w->dec0 : dec != w->dec0;
}

/* Grows the scratch rows to n rows. */
static int ensure_buf(struct wi_ctx *w, size_t n)
{
	if (n <= w->buf_cap)
		return 0;
	double *b = realloc(w->buf, n * w->M * sizeof(double));
	if (!b)
		return -ENOMEM;
	w->buf = b;
	double *o = realloc(w->buf_out, n * w->G * sizeof(double));
	if (!o)
		return -ENOMEM;
	w->buf_out = o;
	w->buf_cap = n;
	return 0;
}

double wi__lo(const struct wi_ctx *w, size_t j)
{
	return isnan(w->info[j].min) ? -INFINITY : w->info[j].min;
}

double wi__hi(const struct wi_ctx *w, size_t j)
{
	return isnan(w->info[j].max) ? INFINITY : w->info[j].max;
}

static double mad_of(const struct wi_ctx *w, size_t j)
{
	double m = w->info[j].mad;
	return m > 0 && isfinite(m) ? m : 1.0;
}

/* ------------------------------------------------------------------ candidates */

struct cand {
	size_t n;    /* changed features */
	size_t *idx; /* ascending */
	double *val;
	double dist;
	bool exact, bisected;
	double bracket[2];
	size_t order; /* insertion index */
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static void cands_free(struct cands *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->v[i].idx);
		free(cs->v[i].val);
	}
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

static double change_dist(const struct wi_ctx *w, size_t j, double v)
{
	if (w->cat[j])
		return v == w->x[j] ? 0 : 1;
	return fabs(v - w->x[j]) / mad_of(w, j);
}

/* Adds a candidate from the row y (only features differing from x count). */
static int cands_add_row(struct wi_ctx *w, struct cands *cs, const double *y, bool exact,
                         bool bisected, const double *bracket)
{
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? 2 * cs->cap : 16;
		struct cand *v = realloc(cs->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		cs->v = v;
		cs->cap = cap;
	}
	struct cand *c = &cs->v[cs->n];
	memset(c, 0, sizeof(*c));
	size_t k = 0;
	for (size_t j = 0; j < w->M; j++)
		k += !(y[j] == w->x[j] || (isnan(y[j]) && isnan(w->x[j])));
	c->idx = malloc((k ? k : 1) * sizeof(size_t));
	c->val = malloc((k ? k : 1) * sizeof(double));
	if (!c->idx || !c->val) {
		free(c->idx);
		free(c->val);
		return -ENOMEM;
	}
	for (size_t j = 0; j < w->M; j++) {
		if (y[j] == w->x[j] || (isnan(y[j]) && isnan(w->x[j])))
			continue;
		c->idx[c->n] = j;
		c->val[c->n++] = y[j];
		c->dist += change_dist(w, j, y[j]);
	}
	c->order = cs->n;
	c->exact = exact;
	c->bisected = bisected;
	if (bracket) {
		c->bracket[0] = bracket[0];
		c->bracket[1] = bracket[1];
	}
	cs->n++;
	return 0;
}

static int add_single(struct wi_ctx *w, struct cands *cs, size_t j, double v, bool exact,
                      bool bisected, const double *bracket)
{
	memcpy(w->row, w->x, w->M * sizeof(double));
	w->row[j] = v;
	return cands_add_row(w, cs, w->row, exact, bisected, bracket);
}

/* ------------------------------------------------------------------ ordered doubles */

static uint64_t dkey(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

static double dval(uint64_t k)
{
	uint64_t u = k >> 63 ? k & ~(UINT64_C(1) << 63) : ~k;
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

/* ------------------------------------------------------------------ categorical levels */

struct level {
	double v;
	size_t count;
};

static int cmp_level(const void *a, const void *b)
{
	const struct level *p = a, *q = b;
	if (p->count != q->count)
		return p->count > q->count ? -1 : 1;
	return p->v < q->v ? -1 : p->v > q->v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static bool is_cat_split(const struct ex_node *nd, size_t j)
{
	return nd->left >= 0 && nd->feature == (int32_t)j &&
	       (nd->cmp == EX_CMP_XGB_CAT || nd->cmp == EX_CMP_LGB_CAT);
}

/* Without reference rows: the categories the model's categorical splits on feature j name,
 * and the smallest non-negative one none names (every category outside the splits' sets
 * takes the same path through every tree), ascending. None for a linear model or a feature
 * never split as a category. */
static int model_levels(const struct wi_ctx *w, size_t j, double **ret, size_t *ret_n)
{
	const struct ex_model *m = w->m;
	size_t words = 0, k = 0;
	uint32_t *named = NULL;
	double *lv = NULL;

	*ret = NULL;
	*ret_n = 0;
	for (size_t t = 0; m && ex_model_is_trees(m) && t < m->n_trees; t++)
		for (int32_t i = 0; i < m->trees[t].n_nodes; i++)
			if (is_cat_split(&m->trees[t].nodes[i], j) &&
			    m->trees[t].nodes[i].cat_len > words)
				words = m->trees[t].nodes[i].cat_len;
	named = calloc(words + 1, sizeof(uint32_t));
	lv = malloc((words * 32 + 1) * sizeof(double));
	if (!named || !lv) {
		free(named);
		free(lv);
		return -ENOMEM;
	}
	for (size_t t = 0; words && t < m->n_trees; t++)
		for (int32_t i = 0; i < m->trees[t].n_nodes; i++) {
			const struct ex_node *nd = &m->trees[t].nodes[i];
			if (is_cat_split(nd, j))
				for (uint32_t q = 0; q < nd->cat_len; q++)
					named[q] |= m->cat_words[nd->cat_off + q];
		}
	bool other = false;
	for (size_t c = 0; words && c <= words * 32; c++) {
		bool in = c < words * 32 && (named[c / 32] >> (c % 32)) & 1;
		if (in || !other)
			lv[k++] = (double)c;
		other |= !in;
	}
	free(named);
	*ret = lv;
	*ret_n = k;
	return 0;
}

/* Distinct non-NaN values of column j, most frequent first; *ret (malloc'd), *ret_n. Without
 * reference rows, the levels the model's splits distinguish (model_levels). */
int wi__levels(const struct wi_ctx *w, size_t j, double **ret, size_t *ret_n)
{
	if (!w->n_bg)
		return model_levels(w, j, ret, ret_n);

	double *col = malloc(w->n_bg * sizeof(double));
	struct level *lv = malloc(w->n_bg * sizeof(*lv));
	size_t n = 0, k = 0;

	if (!col || !lv) {
		free(col);
		free(lv);
		return -ENOMEM;
	}
	for (size_t r = 0; r < w->n_bg; r++)
		if (!isnan(w->bg[r * w->M + j]))
			col[n++] = w->bg[r * w->M + j];
	qsort(col, n, sizeof(double), cmp_double);
	for (size_t i = 0; i < n; i++) {
		if (k && lv[k - 1].v == col[i])
			lv[k - 1].count++;
		else
			lv[k++] = (struct level){col[i], 1};
	}
	qsort(lv, k, sizeof(*lv), cmp_level);
	for (size_t i = 0; i < k; i++)
		col[i] = lv[i].v;
	free(lv);
	*ret = col;
	*ret_n = k;
	return 0;
}

static int single_categorical(struct wi_ctx *w, size_t j, struct cands *cs)
{
	double *lv;
	size_t n, k = 0;
	int rc = wi__levels(w, j, &lv, &n);

	if (rc < 0)
		return rc;
	rc = ensure_buf(w, n ? n : 1);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (lv[i] == w->x[j])
			continue;
		memcpy(w->buf + k * w->M, w->x, w->M * sizeof(double));
		w->buf[k * w->M + j] = lv[i];
		k++;
	}
	if (!k)
		goto out;
	if (w->m) {
		for (size_t i = 0; i < k; i++)
			ex_predict_margin(w->m, w->buf + i * w->M, NULL, w->buf_out + i * w->G);
	} else {
		rc = wi__eval(w, w->buf, k, w->buf_out);
		if (rc < 0)
			goto out;
	}
	for (size_t i = 0, got = 0; i < k && got < w->cfg.n_results; i++) {
		if (!wi__flips(w, w->buf_out + i * w->G))
			continue;
		rc = add_single(w, cs, j, w->buf[i * w->M + j], true, false, NULL);
		if (rc < 0)
			goto out;
		got++;
	}
out:
	free(lv);
	return rc;
}

/* The member of [a, b] (inclusive, doubles) nearest to v, integral when integer; false if
 * none. */
static bool nearest_member(double a, double b, double v, bool integer, double *ret)
{
	if (integer) {
		a = ceil(a);
		b = floor(b);
	}
	if (!(a <= b))
		return false;
	*ret = v < a ? a : v > b ? b : v;
	return true;
}

/* ------------------------------------------------------------------ trees: exact scan */

/* The lowest double that XGBoost's float compare puts at or above t (goes right). */
static double xgb_cut(float t)
{
	float lo = nextafterf(t, -INFINITY);
	if (!isfinite(lo))
		return (double)t;
	double mid = ((double)lo + (double)t) * 0.5;
	return (float)mid >= t ? mid : nextafter(mid, INFINITY);
}

static double tree_leaf(const struct ex_model *m, const struct ex_tree *t, const double *x)
{
	int32_t i = 0;
	while (t->nodes[i].left >= 0)
		i = ex_node_next(m, &t->nodes[i], x);
	return t->nodes[i].value;
}

/* One tree's value as a function of x_j (the rest of x fixed) changes only at its own cuts
 * of feature j, so each tree is evaluated once per own region and the changes become events
 * (cut, output, delta); a sweep over the sorted events gives every region's margins. */
struct event {
	double cut;
	double delta;
	uint32_t tree;
	int32_t group;
};

static int cmp_event(const void *a, const void *b)
{
	const struct event *p = a, *q = b;
	if (p->cut != q->cut)
		return p->cut < q->cut ? -1 : 1;
	return p->tree < q->tree ? -1 : p->tree > q->tree;
}

struct dbuf {
	double *v;
	size_t n, cap;
};

static int dbuf_push(struct dbuf *b, double v)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		double *p = realloc(b->v, cap * sizeof(double));
		if (!p)
			return -ENOMEM;
		b->v = p;
		b->cap = cap;
	}
	b->v[b->n++] = v;
	return 0;
}

static size_t sort_unique(double *v, size_t n)
{
	size_t k = 0;
	if (!n)
		return 0;
	qsort(v, n, sizeof(double), cmp_double);
	for (size_t i = 0; i < n; i++)
		if (!k || v[i] != v[k - 1])
			v[k++] = v[i];
	return k;
}

/* The cuts of feature j in tree t: for each split, the lowest double that compares on the
 * upper side (XGBoost: the float cast reaches t; LightGBM: above t), plus LightGBM's band
 * |x| <= kZeroThreshold, read as 0. */
static int tree_cuts(const struct ex_tree *t, size_t j, struct dbuf *b)
{
	bool lgb = false;
	int rc = 0;

	for (int32_t i = 0; i < t->n_nodes && rc == 0; i++) {
		const struct ex_node *nd = &t->nodes[i];
		if (nd->left < 0 || nd->feature != (int32_t)j)
			continue;
		if (nd->cmp == EX_CMP_XGB_LT) {
			rc = dbuf_push(b, xgb_cut(nd->threshold_f));
		} else if (nd->cmp == EX_CMP_LGB_LE) {
			rc = dbuf_push(b, nextafter(nd->threshold, INFINITY));
			lgb = true;
		}
	}
	if (rc == 0 && lgb)
		rc = dbuf_push(b, -EX_LGB_ZERO);
	if (rc == 0 && lgb)
		rc = dbuf_push(b, nextafter(EX_LGB_ZERO, INFINITY));
	return rc;
}

/* Margins of region r (reg: G sums of leaves) into w->out; true when they flip. Near a tie the
 * row y is evaluated in full (the sweep sums in another order than ex_predict_margin). */
static bool region_flips(struct wi_ctx *w, const double *reg, const double *y)
{
	const struct ex_model *m = w->m;
	for (size_t g = 0; g < w->G; g++)
		w->out[g] = (m->base_margin ? m->base_margin[g] : 0.0) + reg[g] * m->output_scale;
	bool near = false;
	if (w->d.argmax && w->G > 1) {
		for (size_t a = 0; a < w->G; a++)
			for (size_t b = a + 1; b < w->G; b++)
				near |= fabs(w->out[a] - w->out[b]) <= 1e-9 * (1 + fabs(w->out[a]));
	} else {
		near = fabs(w->out[0] - w->d.threshold) <= 1e-9 * (1 + fabs(w->out[0]));
	}
	if (near)
		ex_predict_margin(m, y, NULL, w->out);
	return wi__flips(w, w->out);
}

/* The per-tree facts every scan of this x shares (struct wi_ctx, leaf_x and uses). */
static int tree_facts(struct wi_ctx *w)
{
	const struct ex_model *m = w->m;

	if (w->leaf_x)
		return 0;
	w->uses_words = (w->M + 63) / 64;
	w->leaf_x = malloc((m->n_trees ? m->n_trees : 1) * sizeof(double));
	w->uses = calloc((m->n_trees ? m->n_trees : 1) * w->uses_words, sizeof(uint64_t));
	if (!w->leaf_x || !w->uses) {
		free(w->leaf_x);
		free(w->uses);
		w->leaf_x = NULL;
		w->uses = NULL;
		return -ENOMEM;
	}
	for (size_t t = 0; t < m->n_trees; t++) {
		const struct ex_tree *tr = &m->trees[t];
		w->leaf_x[t] = tree_leaf(m, tr, w->x);
		for (int32_t i = 0; i < tr->n_nodes; i++) {
			const struct ex_node *nd = &tr->nodes[i];
			if (nd->left >= 0 && nd->feature >= 0 && (size_t)nd->feature < w->M)
				w->uses[t * w->uses_words + (size_t)nd->feature / 64] |=
				    1ull << ((size_t)nd->feature % 64);
		}
	}
	return 0;
}

static int single_trees(struct wi_ctx *w, size_t j, struct cands *cs)
{
	const struct ex_model *m = w->m;
	struct dbuf all = {0}, own = {0};
	struct event *ev = NULL;
	size_t n_ev = 0, ev_cap = 0, G = w->G;
	double *fixed = calloc(G, sizeof(double)), *reg = NULL, *y = w->row;
	int rc = 0;

	if (!fixed || tree_facts(w) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(y, w->x, w->M * sizeof(double));
	for (size_t t = 0; t < m->n_trees; t++) {
		const struct ex_tree *tr = &m->trees[t];
		if (!(w->uses[t * w->uses_words + j / 64] & (1ull << (j % 64)))) {
			/* never splits on x_j: its leaf is the same in every region */
			fixed[tr->group] += w->leaf_x[t];
			continue;
		}
		own.n = 0;
		rc = tree_cuts(tr, j, &own);
		if (rc < 0)
			goto out;
		if (!own.n) {
			fixed[tr->group] += tree_leaf(m, tr, w->x);
			continue;
		}
		own.n = sort_unique(own.v, own.n);
		y[j] = nextafter(own.v[0], -INFINITY);
		double prev = tree_leaf(m, tr, y);
		fixed[tr->group] += prev;
		for (size_t k = 0; k < own.n; k++) {
			y[j] = own.v[k];
			double v = tree_leaf(m, tr, y);
			if (dbuf_push(&all, own.v[k]) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			if (v == prev)
				continue;
			if (n_ev == ev_cap) {
				ev_cap = ev_cap ? 2 * ev_cap : 256;
				struct event *e2 = realloc(ev, ev_cap * sizeof(*ev));
				if (!e2) {
					rc = -ENOMEM;
					goto out;
				}
				ev = e2;
			}
			ev[n_ev++] = (struct event){own.v[k], v - prev, (uint32_t)t, tr->group};
			prev = v;
		}
	}
	size_t n_cuts = sort_unique(all.v, all.n);
	if (!n_cuts)
		goto out; /* f does not depend on x_j */
	if (n_ev)
		qsort(ev, n_ev, sizeof(*ev), cmp_event);
	/* region r = [cuts[r-1], cuts[r]) with cuts[-1] = -inf, cuts[n] = +inf */
	const double *cuts = all.v;
	reg = malloc((n_cuts + 1) * G * sizeof(double));
	if (!reg) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(reg, fixed, G * sizeof(double));
	for (size_t r = 1, e = 0; r <= n_cuts; r++) {
		memcpy(reg + r * G, reg + (r - 1) * G, G * sizeof(double));
		for (; e < n_ev && ev[e].cut <= cuts[r - 1]; e++)
			reg[r * G + ev[e].group] += ev[e].delta;
	}

	double xj = w->x[j], lo = wi__lo(w, j), hi = wi__hi(w, j);
	bool integer = w->info[j].integer;
	size_t rx = 0;
	while (rx < n_cuts && cuts[rx] <= xj)
		rx++;
	memcpy(y, w->x, w->M * sizeof(double));
	/* upwards: the lowest allowed member of the first flipping region */
	for (size_t r = rx + 1; r <= n_cuts; r++) {
		double a = cuts[r - 1], b = r < n_cuts ? nextafter(cuts[r], -INFINITY) : INFINITY;
		if (a > hi)
			break;
		double v;
		if (!nearest_member(a > lo ? a : lo, b < hi ? b : hi, xj, integer, &v))
			continue;
		y[j] = v;
		if (region_flips(w, reg + r * G, y)) {
			rc = add_single(w, cs, j, v, true, false, NULL);
			break;
		}
	}
	y[j] = xj;
	/* downwards: the highest allowed member */
	for (size_t r = rx; rc == 0 && r-- > 0;) {
		double a = r > 0 ? cuts[r - 1] : -INFINITY, b = nextafter(cuts[r], -INFINITY);
		if (b < lo)
			break;
		double v;
		if (!nearest_member(a > lo ? a : lo, b < hi ? b : hi, xj, integer, &v))
			continue;
		y[j] = v;
		if (region_flips(w, reg + r * G, y)) {
			rc = add_single(w, cs, j, v, true, false, NULL);
			break;
		}
	}
out:
	free(all.v);
	free(own.v);
	free(ev);
	free(fixed);
	free(reg);
	return rc;
}

/* ------------------------------------------------------------------ ranges of a tree model */

int ex_feature_info_from_model(const struct ex_model *m, struct ex_feature_info *info)
{
	struct dbuf b = {0};
	int rc = 0;

	if (!m || !info)
		return -EINVAL;
	if (!ex_model_is_trees(m))
		return -ENOTSUP;
	for (size_t j = 0; j < m->n_features && rc == 0; j++) {
		struct ex_feature_info *fi = &info[j];
		bool zero_band = false;

		*fi = (struct ex_feature_info){
		    .categorical = m->categorical && m->categorical[j], .min = NAN, .max = NAN};
		b.n = 0;
		for (size_t t = 0; t < m->n_trees && rc == 0; t++)
			for (int32_t i = 0; i < m->trees[t].n_nodes && rc == 0; i++) {
				const struct ex_node *nd = &m->trees[t].nodes[i];
				if (nd->left < 0 || nd->feature != (int32_t)j)
					continue;
				if (is_cat_split(nd, j)) {
					fi->categorical = true;
				} else if (nd->cmp == EX_CMP_XGB_LT) {
					rc = dbuf_push(&b, xgb_cut(nd->threshold_f));
				} else if (nd->cmp == EX_CMP_LGB_LE) {
					rc = dbuf_push(&b, nextafter(nd->threshold, INFINITY));
					zero_band |= nd->missing == EX_MISSING_ZERO;
				}
			}
		/* LightGBM reads |x| <= kZeroThreshold as missing for these splits: a region */
		if (rc == 0 && zero_band)
			rc = dbuf_push(&b, -EX_LGB_ZERO);
		if (rc == 0 && zero_band)
			rc = dbuf_push(&b, nextafter(EX_LGB_ZERO, INFINITY));
		if (rc < 0 || !b.n)
			continue;
		size_t n = sort_unique(b.v, b.n);
		/* from the highest value left of the lowest split to the lowest value right of the
		 * highest: every region the model tells apart has a member inside */
		fi->min = nextafter(b.v[0], -INFINITY);
		fi->max = b.v[n - 1];
		fi->mad = n > 1 ? (fi->max - fi->min) / EX_RANGE_PER_MAD : 0;
	}
	free(b.v);
	return rc;
}

/* ------------------------------------------------------------------ linear: closed form */

static bool linear_flips(struct wi_ctx *w, size_t j, double v)
{
	memcpy(w->row, w->x, w->M * sizeof(double));
	w->row[j] = v;
	ex_predict_margin(w->m, w->row, NULL, w->out);
	return wi__flips(w, w->out);
}

static int single_linear(struct wi_ctx *w, size_t j, struct cands *cs)
{
	double beta = w->m->coef[j], xj = w->x[j];
	double lo = wi__lo(w, j), hi = wi__hi(w, j);

	if (beta == 0 || w->G != 1)
		return 0;
	/* the margin is monotone in x_j (rounding is monotone), so only one direction can flip */
	double vstar = xj + (w->d.threshold - w->fx[0]) / beta;
	if (!isfinite(vstar))
		return 0;
	/* dec 1 needs a lower margin, dec 0 a higher one */
	double dir = (w->dec0 == 0) == (beta > 0) ? 1 : -1;
	double far = vstar, step = (fabs(vstar) + fabs(xj) + 1e-300) * 1e-15;
	int tries = 0;
	if ((far - xj) * dir <= 0)
		far = nextafter(xj, dir * INFINITY);
	while (!linear_flips(w, j, far)) {
		far += dir * step;
		step *= 2;
		if (++tries > 2100 || !isfinite(far))
			return 0; /* no flip (e.g. the target decision is not on this line) */
	}
	/* bisection on the ordered doubles between xj (no flip) and far (flips) */
	uint64_t kn = dkey(xj), kf = dkey(far);
	while (kn + 1 != kf && kf + 1 != kn) {
		uint64_t mid = kn < kf ? kn + (kf - kn) / 2 : kf + (kn - kf) / 2;
		if (linear_flips(w, j, dval(mid)))
			kf = mid;
		else
			kn = mid;
	}
	double v = dval(kf);
	if (w->info[j].integer) {
		v = dir > 0 ? ceil(v) : floor(v);
		if (!linear_flips(w, j, v))
			return 0;
	}
	if (v < lo || v > hi)
		return 0;
	return add_single(w, cs, j, v, true, false, NULL);
}

/* ------------------------------------------------------------------ black box: grid */

static double quantile_sorted(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)pos;
	double frac = pos - (double)lo;
	return lo + 1 < n ? v[lo] + frac * (v[lo + 1] - v[lo]) : v[n - 1];
}

static int bb_bisect(struct wi_ctx *w, size_t j, double near, double flip, struct cands *cs)
{
	double tol = w->cfg.tolerance * mad_of(w, j);
	bool integer = w->info[j].integer;
	int rc = ensure_buf(w, CF_SECTION_POINTS);

	if (rc < 0)
		return rc;
	for (int it = 0; it < 200; it++) {
		double width = fabs(flip - near);
		if (integer ? width <= 1 : width <= tol)
			break;
		size_t k = 0;
		double pts[CF_SECTION_POINTS];
		for (size_t i = 1; i <= CF_SECTION_POINTS; i++) {
			double p = near + (flip - near) * (double)i / (CF_SECTION_POINTS + 1);
			if (integer)
				p = near < flip ? ceil(p) : floor(p);
			if (p == near || p == flip || (k && p == pts[k - 1]))
				continue;
			pts[k++] = p;
		}
		if (!k)
			break; /* no double strictly between */
		for (size_t i = 0; i < k; i++) {
			memcpy(w->buf + i * w->M, w->x, w->M * sizeof(double));
			w->buf[i * w->M + j] = pts[i];
		}
		rc = wi__eval(w, w->buf, k, w->buf_out);
		if (rc < 0)
			return rc;
		size_t i = 0;
		while (i < k && !wi__flips(w, w->buf_out + i * w->G))
			i++;
		if (i < k)
			flip = pts[i];
		if (i > 0)
			near = pts[i - 1];
	}
	double bracket[2] = {near, flip};
	return add_single(w, cs, j, flip, false, true, bracket);
}

static int single_blackbox(struct wi_ctx *w, size_t j, struct cands *cs)
{
	double xj = w->x[j], lo = wi__lo(w, j), hi = wi__hi(w, j), mad = mad_of(w, j);
	bool integer = w->info[j].integer;
	size_t cap = CF_GRID_QUANTILES + 2 * CF_GRID_LOCAL, n = 0, nc = 0;
	double *grid = malloc(cap * sizeof(double)), *col = malloc(w->n_bg * sizeof(double));
	int rc = 0;

	if (!grid || !col) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t r = 0; r < w->n_bg; r++)
		if (!isnan(w->bg[r * w->M + j]))
			col[nc++] = w->bg[r * w->M + j];
	qsort(col, nc, sizeof(double), cmp_double);
	for (size_t q = 0; nc && q < CF_GRID_QUANTILES; q++)
		grid[n++] = quantile_sorted(col, nc, (double)q / (CF_GRID_QUANTILES - 1));
	for (int i = 1; i <= CF_GRID_LOCAL; i++) {
		grid[n++] = xj + 2 * mad * i / CF_GRID_LOCAL;
		grid[n++] = xj - 2 * mad * i / CF_GRID_LOCAL;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		double v = integer ? round(grid[i]) : grid[i];
		if (v < lo || v > hi || v == xj || !isfinite(v))
			continue;
		grid[k++] = v;
	}
	qsort(grid, k, sizeof(double), cmp_double);
	n = 0;
	for (size_t i = 0; i < k; i++)
		if (!n || grid[i] != grid[n - 1])
			grid[n++] = grid[i];
	if (!n)
		goto out;
	rc = ensure_buf(w, n);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		memcpy(w->buf + i * w->M, w->x, w->M * sizeof(double));
		w->buf[i * w->M + j] = grid[i];
	}
	rc = wi__eval(w, w->buf, n, w->buf_out);
	if (rc < 0)
		goto out;
	bool *fl = malloc(n * sizeof(bool));
	if (!fl) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		fl[i] = wi__flips(w, w->buf_out + i * w->G);
	size_t up = 0;
	while (up < n && grid[up] < xj)
		up++;
	/* up: first grid point above xj */
	double near_up = xj, near_dn = xj, flip_up = NAN, flip_dn = NAN;
	for (size_t i = up; i < n; i++) {
		if (fl[i]) {
			flip_up = grid[i];
			break;
		}
		near_up = grid[i];
	}
	for (size_t i = up; i-- > 0;) {
		if (fl[i]) {
			flip_dn = grid[i];
			break;
		}
		near_dn = grid[i];
	}
	free(fl);
	if (!isnan(flip_up))
		rc = bb_bisect(w, j, near_up, flip_up, cs);
	if (rc == 0 && !isnan(flip_dn))
		rc = bb_bisect(w, j, near_dn, flip_dn, cs);
out:
	free(grid);
	free(col);
	return rc;
}

/* ------------------------------------------------------------------ single feature */

static int single(struct wi_ctx *w, size_t j, struct cands *cs)
{
	if (w->info[j].immutable || isnan(w->x[j]))
		return 0;
	if (w->cat[j])
		return single_categorical(w, j, cs);
	if (w->m && ex_model_is_trees(w->m))
		return single_trees(w, j, cs);
	if (w->m)
		return single_linear(w, j, cs);
	return single_blackbox(w, j, cs);
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *p = a, *q = b;
	if (p->dist != q->dist)
		return p->dist < q->dist ? -1 : 1;
	if (p->n != q->n)
		return p->n < q->n ? -1 : 1;
	for (size_t i = 0; i < p->n; i++)
		if (p->idx[i] != q->idx[i])
			return p->idx[i] < q->idx[i] ? -1 : 1;
	/* then the order found (categorical levels: most frequent first) */
	return p->order < q->order ? -1 : p->order > q->order;
}

static bool same_set(const struct cand *p, const struct cand *q)
{
	if (p->n != q->n)
		return false;
	for (size_t i = 0; i < p->n; i++)
		if (p->idx[i] != q->idx[i])
			return false;
	return true;
}

/* Sorts, keeps the nearest per feature set when `distinct`, evaluates f at the first n and
 * fills ret. */
static int finish(struct wi_ctx *w, struct cands *cs, size_t n_max, bool distinct,
                  struct ex_cf_result *ret)
{
	int rc;

	if (cs->n)
		qsort(cs->v, cs->n, sizeof(*cs->v), cmp_cand);
	size_t k = 0;
	for (size_t i = 0; i < cs->n; i++) {
		bool dup = false;
		for (size_t t = 0; distinct && t < k && !dup; t++)
			dup = same_set(&cs->v[t], &cs->v[i]);
		if (dup || k >= n_max) {
			free(cs->v[i].idx);
			free(cs->v[i].val);
			continue;
		}
		cs->v[k++] = cs->v[i];
	}
	cs->n = k;
	ret->n_features = w->M;
	ret->n_outputs = w->G;
	ret->decision = w->dec0;
	ret->fx = malloc(w->G * sizeof(double));
	ret->cf = calloc(k ? k : 1, sizeof(*ret->cf));
	if (!ret->fx || !ret->cf)
		return -ENOMEM;
	memcpy(ret->fx, w->fx, w->G * sizeof(double));
	if (!k)
		goto done;
	rc = ensure_buf(w, k);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < k; i++) {
		double *y = w->buf + i * w->M;
		memcpy(y, w->x, w->M * sizeof(double));
		for (size_t t = 0; t < cs->v[i].n; t++)
			y[cs->v[i].idx[t]] = cs->v[i].val[t];
	}
	rc = wi__eval(w, w->buf, k, w->buf_out);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < k; i++) {
		struct cand *c = &cs->v[i];
		struct ex_counterfactual *o = &ret->cf[i];
		const double *p = w->buf_out + i * w->G;
		if (!wi__flips(w, p))
			return ex__fail(
			    w->err, w->err_size, -EINVAL,
			    "what-if: feature %zu = %.17g flips the model but not f (f must "
			    "be the model's margins, and deterministic)",
			    c->idx[0], c->val[0]);
		o->changes = malloc(c->n * sizeof(*o->changes));
		o->prediction = malloc(w->G * sizeof(double));
		if (!o->changes || !o->prediction)
			return -ENOMEM;
		for (size_t t = 0; t < c->n; t++)
			o->changes[t] =
			    (struct ex_cf_change){c->idx[t], w->x[c->idx[t]], c->val[t]};
		o->n_changed = c->n;
		memcpy(o->prediction, p, w->G * sizeof(double));
		o->decision = ex_decide(&w->d, p, w->G);
		o->distance = c->dist;
		o->exact = c->exact;
		o->bisected = c->bisected;
		o->bracket[0] = c->bracket[0];
		o->bracket[1] = c->bracket[1];
		ret->n++;
	}
done:
	for (size_t i = 0; i < ret->n; i++)
		if (!ret->cf[i].exact)
			ret->caveat = bb_caveat;
	ret->model_rows = w->rows;
	return 0;
}

/* Puts "PREFIX" before the reason already in err (f's or a search's). */
static void prefix_err(char *err, size_t size, const char *who, size_t j)
{
	char old[EX_ERR_MAX];
	if (!err || !size)
		return;
	snprintf(old, sizeof(old), "%s", err);
	int n = snprintf(err, size, "%s: feature %zu: ", who, j);
	if (n >= 0 && (size_t)n < size)
		snprintf(err + n, size - (size_t)n, "%s", old);
}

void ex_cf_result_free(struct ex_cf_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->cf && i < r->n; i++) {
		free(r->cf[i].changes);
		free(r->cf[i].prediction);
	}
	free(r->cf);
	free(r->fx);
	memset(r, 0, sizeof(*r));
}

int wi__single_shared(struct wi_ctx *w, size_t j, size_t budget, struct ex_cf_result *ret)
{
	struct cands cs = {0};
	uint64_t rows0 = w->rows;
	size_t budget0 = w->cfg.budget;
	int rc;

	memset(ret, 0, sizeof(*ret));
	/* as a fresh context: f(x) counted, this search's budget */
	w->rows = 1;
	w->cfg.budget = budget;
	rc = single(w, j, &cs);
	if (rc < 0)
		prefix_err(w->err, w->err_size, "ex_cf_single", j);
	if (rc == 0)
		rc = finish(w, &cs, w->cat[j] ? w->cfg.n_results : 2, false, ret);
	if (rc == -ENOMEM)
		ex__fail(w->err, w->err_size, rc, "ex_cf_single: feature %zu: out of memory", j);
	cands_free(&cs);
	w->rows = rows0;
	w->cfg.budget = budget0;
	if (rc < 0)
		ex_cf_result_free(ret);
	return rc;
}

int ex_cf_single(const struct ex_whatif_input *in, const double *x, size_t j,
                 const struct ex_cf_config *c, struct ex_cf_result *ret, char *err, size_t err_size)
{
	struct wi_ctx w;
	struct cands cs = {0};
	int rc;

	if (!ret)
		return ex__fail(err, err_size, -EINVAL, "ex_cf_single: ret is NULL");
	memset(ret, 0, sizeof(*ret));
	rc = wi__ctx_init(&w, in, x, c, err, err_size);
	if (rc == 0 && j >= w.M)
		rc = ex__fail(err, err_size, -EINVAL, "ex_cf_single: feature %zu of %zu", j, w.M);
	if (rc == 0) {
		rc = single(&w, j, &cs);
		if (rc < 0)
			prefix_err(err, err_size, "ex_cf_single", j);
	}
	if (rc == 0)
		rc = finish(&w, &cs, w.cat[j] ? w.cfg.n_results : 2, false, ret);
	if (rc == -ENOMEM)
		ex__fail(err, err_size, rc, "ex_cf_single: feature %zu: out of memory", j);
	cands_free(&cs);
	wi__ctx_deinit(&w);
	if (rc < 0)
		ex_cf_result_free(ret);
	return rc;
}

/* ------------------------------------------------------------------ growing spheres */

struct sphere {
	size_t *mut; /* mutable, non-missing features */
	size_t n_mut;
	double **levels; /* per feature: observed levels (categorical only) */
	size_t *n_levels;
	size_t *sub; /* the sample's subspace */
	double *dir;
};

/* A point in the layer [a, a + eta] of a random subspace of 2..max_features features. */
static void sphere_point(struct wi_ctx *w, struct sphere *sp, struct ex_rng *rng, double a,
                         double eta, double *y)
{
	size_t smax = w->cfg.max_features < sp->n_mut ? w->cfg.max_features : sp->n_mut;
	size_t s = 2 + (smax > 2 ? (size_t)ex_rng_below(rng, smax - 1) : 0);
	double norm = 0;

	memcpy(y, w->x, w->M * sizeof(double));
	/* partial Fisher-Yates for the subspace */
	for (size_t i = 0; i < s; i++) {
		size_t r = i + (size_t)ex_rng_below(rng, sp->n_mut - i);
		size_t t = sp->mut[i];
		sp->mut[i] = sp->mut[r];
		sp->mut[r] = t;
		sp->sub[i] = sp->mut[i];
	}
	size_t num = 0;
	for (size_t i = 0; i < s; i++) {
		size_t j = sp->sub[i];
		if (sp->levels[j]) {
			if (sp->n_levels[j])
				y[j] = sp->levels[j][ex_rng_below(rng, sp->n_levels[j])];
			sp->dir[i] = 0;
			continue;
		}
		sp->dir[i] = ex_rng_normal(rng);
		norm += sp->dir[i] * sp->dir[i];
		num++;
	}
	if (!num || norm <= 0)
		return;
	double u = ex_rng_uniform(rng), dn = (double)num;
	double r = pow(pow(a, dn) + u * (pow(a + eta, dn) - pow(a, dn)), 1 / dn);
	norm = sqrt(norm);
	for (size_t i = 0; i < s; i++) {
		size_t j = sp->sub[i];
		if (sp->levels[j])
			continue;
		double v = w->x[j] + r * sp->dir[i] / norm * mad_of(w, j);
		v = v < wi__lo(w, j) ? wi__lo(w, j) : v > wi__hi(w, j) ? wi__hi(w, j) : v;
		if (w->info[j].integer)
			v = round(v);
		y[j] = v;
	}
}

static double row_dist(struct wi_ctx *w, const double *y)
{
	double d = 0;
	for (size_t j = 0; j < w->M; j++)
		if (y[j] != w->x[j])
			d += change_dist(w, j, y[j]);
	return d;
}

static int eval_one(struct wi_ctx *w, const double *y, bool *ret_flips)
{
	int rc = wi__eval(w, y, 1, w->out);
	if (rc == 0)
		*ret_flips = wi__flips(w, w->out);
	return rc;
}

/* x + t (e0 - x) over e0's numeric changes; integers rounded away from x. */
static void segment_point(struct wi_ctx *w, const double *e0, double t, double *r)
{
	for (size_t j = 0; j < w->M; j++) {
		bool num = !(w->cat[j]);
		r[j] = e0[j] == w->x[j] || !num ? e0[j] : w->x[j] + t * (e0[j] - w->x[j]);
		if (num && w->info[j].integer && r[j] != e0[j])
			r[j] = e0[j] > w->x[j] ? ceil(r[j]) : floor(r[j]);
	}
}

/* Sparsifies the flipping row e (in place), then bisects along the segment x -> e. */
static int refine(struct wi_ctx *w, double *e)
{
	double *y = malloc(w->M * sizeof(double));
	size_t *ch = malloc(w->M * sizeof(size_t));
	int rc = 0;

	if (!y || !ch) {
		rc = -ENOMEM;
		goto out;
	}
	size_t n = 0;
	for (size_t j = 0; j < w->M; j++)
		if (e[j] != w->x[j])
			ch[n++] = j;
	/* smallest change first (insertion sort: n <= max_features) */
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && change_dist(w, ch[b], e[ch[b]]) <
		                                change_dist(w, ch[b - 1], e[ch[b - 1]]);
		     b--) {
			size_t t = ch[b];
			ch[b] = ch[b - 1];
			ch[b - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		bool fl = false;
		memcpy(y, e, w->M * sizeof(double));
		y[ch[i]] = w->x[ch[i]];
		rc = eval_one(w, y, &fl);
		if (rc < 0)
			goto out;
		if (fl)
			e[ch[i]] = w->x[ch[i]];
	}
	/* segment x -> e0 over the numeric changes (categorical ones stay): flips at t = 1 */
	double t_no = 0, t_fl = 1;
	memcpy(y, e, w->M * sizeof(double)); /* y = e0 */
	rc = ensure_buf(w, CF_SECTION_POINTS);
	if (rc < 0)
		goto out;
	for (int it = 0; it < CF_SPHERE_REFINE; it++) {
		double ts[CF_SECTION_POINTS];
		for (size_t i = 0; i < CF_SECTION_POINTS; i++) {
			ts[i] = t_no + (t_fl - t_no) * (double)(i + 1) / (CF_SECTION_POINTS + 1);
			segment_point(w, y, ts[i], w->buf + i * w->M);
		}
		rc = wi__eval(w, w->buf, CF_SECTION_POINTS, w->buf_out);
		if (rc < 0)
			goto out;
		size_t i = 0;
		while (i < CF_SECTION_POINTS && !wi__flips(w, w->buf_out + i * w->G))
			i++;
		if (i < CF_SECTION_POINTS) {
			t_fl = ts[i];
			memcpy(e, w->buf + i * w->M, w->M * sizeof(double));
		}
		if (i > 0)
			t_no = ts[i - 1];
	}
out:
	free(y);
	free(ch);
	return rc;
}

static int growing_spheres(struct wi_ctx *w, struct cands *cs)
{
	struct sphere sp = {0};
	struct ex_rng rng;
	size_t N = CF_SPHERE_SAMPLES;
	int rc = 0;

	sp.mut = malloc(w->M * sizeof(size_t));
	sp.sub = malloc(w->M * sizeof(size_t));
	sp.dir = malloc(w->M * sizeof(double));
	sp.levels = calloc(w->M, sizeof(double *));
	sp.n_levels = calloc(w->M, sizeof(size_t));
	double *keep = malloc(CF_SPHERE_KEEP * w->M * sizeof(double));
	double *kd = malloc(CF_SPHERE_KEEP * sizeof(double));
	if (!sp.mut || !sp.sub || !sp.dir || !sp.levels || !sp.n_levels || !keep || !kd) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < w->M; j++) {
		if (w->info[j].immutable || isnan(w->x[j]))
			continue;
		sp.mut[sp.n_mut++] = j;
		if (w->cat[j]) {
			rc = wi__levels(w, j, &sp.levels[j], &sp.n_levels[j]);
			if (rc < 0)
				goto out;
			if (!sp.levels[j]) /* keep the marker non-NULL */
				sp.levels[j] = malloc(sizeof(double));
		}
	}
	if (sp.n_mut < 2 || w->cfg.max_features < 2)
		goto out;
	ex_rng_seed(&rng, w->cfg.seed ^ UINT64_C(0x9e3779b97f4a7c15));
	rc = ensure_buf(w, N);
	if (rc < 0)
		goto out;

	/* METHODS.md §5.2: shrink eta while the first ball already holds flips, then grow layers */
	double eta = 1.0, a = 0;
	size_t n_keep = 0;
	for (int layer = 0; layer < CF_SPHERE_LAYERS && !n_keep; layer++) {
		if (w->rows + N > w->cfg.budget)
			break;
		for (size_t i = 0; i < N; i++)
			sphere_point(w, &sp, &rng, a, eta, w->buf + i * w->M);
		rc = wi__eval(w, w->buf, N, w->buf_out);
		if (rc < 0)
			goto out;
		size_t nf = 0;
		for (size_t i = 0; i < N; i++)
			nf += wi__flips(w, w->buf_out + i * w->G);
		if (nf && a == 0 && layer < 12) {
			eta /= 2; /* the first ball flips: shrink it */
			continue;
		}
		if (!nf) {
			a += eta;
			if (layer >= 12 || a > eta) /* growing: wider layers further out */
				eta *= 1.25;
			continue;
		}
		/* the nearest flipping samples (MAD-scaled L1) */
		for (size_t i = 0; i < N; i++) {
			if (!wi__flips(w, w->buf_out + i * w->G))
				continue;
			double d = row_dist(w, w->buf + i * w->M);
			size_t p = n_keep < CF_SPHERE_KEEP ? n_keep++ : CF_SPHERE_KEEP;
			if (p == CF_SPHERE_KEEP) {
				if (d >= kd[CF_SPHERE_KEEP - 1])
					continue;
				p = CF_SPHERE_KEEP - 1;
			}
			while (p > 0 && kd[p - 1] > d) {
				kd[p] = kd[p - 1];
				memcpy(keep + p * w->M, keep + (p - 1) * w->M,
				       w->M * sizeof(double));
				p--;
			}
			kd[p] = d;
			memcpy(keep + p * w->M, w->buf + i * w->M, w->M * sizeof(double));
		}
	}
	for (size_t i = 0; i < n_keep; i++) {
		double *e = keep + i * w->M;
		rc = refine(w, e);
		if (rc == -ENOSPC) {
			rc = 0; /* keep what is refined so far */
			break;
		}
		if (rc < 0)
			goto out;
		rc = cands_add_row(w, cs, e, false, false, NULL);
		if (rc < 0)
			goto out;
	}
out:
	for (size_t j = 0; sp.levels && j < w->M; j++)
		free(sp.levels[j]);
	free(sp.levels);
	free(sp.n_levels);
	free(sp.mut);
	free(sp.sub);
	free(sp.dir);
	free(keep);
	free(kd);
	return rc;
}

int ex_counterfactuals(const struct ex_whatif_input *in, const double *x,
                       const struct ex_cf_config *c, struct ex_cf_result *ret, char *err,
                       size_t err_size)
{
	struct wi_ctx w;
	struct cands cs = {0};
	int rc;

	if (!ret)
		return ex__fail(err, err_size, -EINVAL, "ex_counterfactuals: ret is NULL");
	memset(ret, 0, sizeof(*ret));
	rc = wi__ctx_init(&w, in, x, c, err, err_size);
	for (size_t j = 0; rc == 0 && j < w.M; j++) {
		rc = single(&w, j, &cs);
		if (rc < 0 && rc != -ENOMEM && rc != -ENOSPC)
			prefix_err(err, err_size, "ex_counterfactuals", j);
	}
	if (rc == 0)
		rc = growing_spheres(&w, &cs);
	if (rc == 0)
		rc = finish(&w, &cs, w.cfg.n_results, true, ret);
	if (rc == -ENOMEM)
		ex__fail(err, err_size, rc, "ex_counterfactuals: out of memory");
	cands_free(&cs);
	wi__ctx_deinit(&w);
	if (rc < 0)
		ex_cf_result_free(ret);
	return rc;
}
