/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for counterfactuals and the flip test: every reported change flips the decision
 * under an independent evaluation (ex_predict_margin or the test's own function); for trees
 * and linear models the reported value is the nearest flip (its neighbouring double on the
 * near side does not flip, and a brute-force scan of every threshold's float/double
 * neighbours finds nothing nearer); ranges, immutables, integers; black-box brackets contain
 * the known crossing of a smooth function; the same seed gives bit-identical results. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

static uint64_t rng = 4242;

static double urand(void)
{
	return (double)(test_rand(&rng) >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------------ random tree models */

struct builder {
	struct ex_node *nodes;
	int32_t n, cap;
	size_t M;
	bool lgb;
	struct ex_model *m;
	bool cat; /* feature M-1 is split as a category (XGBoost) */
};

static int32_t add_node(struct builder *b)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->nodes = realloc(b->nodes, (size_t)b->cap * sizeof(*b->nodes));
	}
	memset(&b->nodes[b->n], 0, sizeof(b->nodes[0]));
	b->nodes[b->n].left = b->nodes[b->n].right = b->nodes[b->n].feature = -1;
	return b->n++;
}

static int32_t grow(struct builder *b, unsigned depth, unsigned max_depth)
{
	int32_t n = add_node(b);

	if (depth == max_depth || (depth > 1 && urand() < 0.2)) {
		b->nodes[n].value = urand() * 2 - 1;
		b->nodes[n].cover = 1 + floor(urand() * 10);
		return n;
	}
	int32_t l = grow(b, depth + 1, max_depth);
	int32_t r = grow(b, depth + 1, max_depth);
	struct ex_node *node = &b->nodes[n];
	node->left = l;
	node->right = r;
	node->feature = (int32_t)(test_rand(&rng) % b->M);
	node->default_left = test_rand(&rng) & 1;
	node->cover = b->nodes[l].cover + b->nodes[r].cover;
	/* thresholds on a coarse grid so that trees share some of them */
	double t = floor(urand() * 40) / 40 + 0.0123;
	if (b->cat && node->feature == (int32_t)b->M - 1) {
		node->cmp = EX_CMP_XGB_CAT;
		b->m->cat_words =
		    realloc(b->m->cat_words, (b->m->n_cat_words + 1) * sizeof(uint32_t));
		b->m->cat_words[b->m->n_cat_words] = (uint32_t)test_rand(&rng) & 0x1f;
		node->cat_off = (uint32_t)b->m->n_cat_words++;
		node->cat_len = 1;
	} else if (b->lgb) {
		node->cmp = EX_CMP_LGB_LE;
		node->threshold = t;
	} else {
		node->cmp = EX_CMP_XGB_LT;
		node->threshold_f = (float)t;
	}
	return n;
}

static struct ex_model *random_model(size_t M, size_t n_trees, unsigned depth, bool lgb, bool cat)
{
	struct ex_model *m = ex_model_new(lgb ? EX_FORMAT_LIGHTGBM_TEXT : EX_FORMAT_XGBOOST_JSON);
	char err[EX_ERR_MAX];

	m->n_features = M;
	m->n_outputs = 1;
	m->link = EX_LINK_IDENTITY;
	m->output_scale = 1.0;
	m->link_scale = 1.0;
	m->base_margin = calloc(1, sizeof(double));
	m->trees = calloc(n_trees, sizeof(*m->trees));
	m->n_trees = n_trees;
	for (size_t t = 0; t < n_trees; t++) {
		struct builder b = {.M = M, .lgb = lgb, .m = m, .cat = cat};
		grow(&b, 0, depth);
		m->trees[t].nodes = b.nodes;
		m->trees[t].n_nodes = b.n;
	}
	ck_assert_msg(ex_model_finish_trees(m, "random", err, sizeof(err)) == 0, "%s", err);
	return m;
}

static struct ex_model *linear_model(const double *coef, size_t M, double intercept)
{
	struct ex_model *m = ex_model_new(EX_FORMAT_LINEAR_JSON);
	m->n_features = M;
	m->n_outputs = 1;
	m->link = EX_LINK_LOGIT;
	m->output_scale = 1;
	m->link_scale = 1;
	m->coef = malloc(M * sizeof(double));
	memcpy(m->coef, coef, M * sizeof(double));
	m->intercept = intercept;
	return m;
}

static double margin(const struct ex_model *m, const double *x)
{
	double out[4];
	ck_assert_int_eq(ex_predict_margin(m, x, NULL, out), 0);
	return out[0];
}

static int decide_at(const struct ex_model *m, const double *x, size_t j, double v)
{
	double y[64];
	memcpy(y, x, m->n_features * sizeof(double));
	y[j] = v;
	return margin(m, y) >= 0;
}

static double *uniform_rows(size_t n, size_t M)
{
	double *bg = malloc(n * M * sizeof(double));
	for (size_t i = 0; i < n * M; i++)
		bg[i] = urand();
	return bg;
}

/* Every representative value of feature j: each threshold, its float and double neighbours,
 * and the midpoints between thresholds: the brute-force scan. */
static size_t representatives(const struct ex_model *m, size_t j, double *out, size_t cap)
{
	size_t n = 0;
	for (size_t t = 0; t < m->n_trees; t++)
		for (int32_t i = 0; i < m->trees[t].n_nodes; i++) {
			const struct ex_node *nd = &m->trees[t].nodes[i];
			if (nd->left < 0 || nd->feature != (int32_t)j || n + 8 > cap)
				continue;
			double th =
			    nd->cmp == EX_CMP_XGB_LT ? (double)nd->threshold_f : nd->threshold;
			float tf = nd->threshold_f;
			double c[] = {
			    th,
			    nextafter(th, INFINITY),
			    nextafter(th, -INFINITY),
			    (double)nextafterf(tf, INFINITY),
			    (double)nextafterf(tf, -INFINITY),
			    ((double)nextafterf(tf, -INFINITY) + (double)tf) / 2,
			    nextafter(((double)nextafterf(tf, -INFINITY) + (double)tf) / 2,
			              INFINITY),
			    th + 0.01};
			for (size_t k = 0; k < 8; k++)
				out[n++] = c[k];
		}
	return n;
}

static void fn_model(const struct ex_model *m, struct ex_fn *f)
{
	ex_fn_from_model(m, f);
}

/* ------------------------------------------------------------------ ex_cf_single */

static void check_trees_nearest(bool lgb)
{
	size_t M = 5, n_bg = 200;
	double *bg = uniform_rows(n_bg, M);
	struct ex_feature_info info[5];
	char err[EX_ERR_MAX];
	double reps[4096];

	ck_assert_int_eq(ex_feature_info_from_rows(bg, n_bg, M, info), 0);
	for (size_t j = 0; j < M; j++) { /* wide ranges: the scan must find far flips too */
		info[j].min = -1;
		info[j].max = 2;
		info[j].integer = false;
	}
	int found = 0;
	for (int trial = 0; trial < 40; trial++) {
		struct ex_model *m = random_model(M, 6, 4, lgb, false);
		struct ex_fn f;
		fn_model(m, &f);
		double x[5];
		for (size_t j = 0; j < M; j++)
			x[j] = urand();
		/* a threshold at 0: the decision is margin >= 0 */
		m->base_margin[0] = -margin(m, x) + (urand() - 0.5) * 0.2;
		struct ex_whatif_input in = {
		    .f = &f, .model = m, .bg = bg, .n_bg = n_bg, .info = info};
		int d0 = margin(m, x) >= 0;
		for (size_t j = 0; j < M; j++) {
			struct ex_cf_result r;
			int rc = ex_cf_single(&in, x, j, NULL, &r, err, sizeof(err));
			ck_assert_msg(rc == 0, "%s", err);
			ck_assert_int_eq(r.decision, d0);
			double best_up = INFINITY, best_dn = INFINITY;
			size_t nr = representatives(m, j, reps, 4096);
			for (size_t k = 0; k < nr; k++) {
				double v = reps[k];
				if (v < -1 || v > 2 || decide_at(m, x, j, v) == d0)
					continue;
				if (v > x[j])
					best_up = fmin(best_up, v - x[j]);
				else
					best_dn = fmin(best_dn, x[j] - v);
			}
			bool have_up = false, have_dn = false;
			for (size_t k = 0; k < r.n; k++) {
				const struct ex_counterfactual *c = &r.cf[k];
				ck_assert_uint_eq(c->n_changed, 1);
				ck_assert_uint_eq(c->changes[0].feature, j);
				double v = c->changes[0].to;
				ck_assert(c->exact);
				/* independent evaluation: it flips, its near neighbour does not */
				ck_assert_int_ne(decide_at(m, x, j, v), d0);
				ck_assert_int_eq(decide_at(m, x, j, nextafter(v, x[j])), d0);
				ck_assert(v >= -1 && v <= 2);
				if (k)
					ck_assert(c->distance >= r.cf[k - 1].distance);
				if (v > x[j]) {
					have_up = true;
					ck_assert_msg(v - x[j] <= best_up,
					              "feature %zu: %.17g vs brute %.17g", j,
					              v - x[j], best_up);
				} else {
					have_dn = true;
					ck_assert(x[j] - v <= best_dn);
				}
				double y[5];
				memcpy(y, x, sizeof(y));
				y[j] = v;
				ck_assert(c->prediction[0] == margin(m, y));
				found++;
			}
			/* brute force finds no flip on a side the scan says has none */
			ck_assert(have_up || best_up == INFINITY);
			ck_assert(have_dn || best_dn == INFINITY);
			ex_cf_result_free(&r);
		}
		ex_model_free(m);
	}
	ck_assert_int_gt(found, 20);
	free(bg);
}

START_TEST(ex_cf_single_xgboost_is_nearest)
{
	check_trees_nearest(false);
}
END_TEST

START_TEST(ex_cf_single_lightgbm_is_nearest)
{
	check_trees_nearest(true);
}
END_TEST

START_TEST(ex_cf_single_integer_trees)
{
	size_t M = 3, n_bg = 100;
	double *bg = uniform_rows(n_bg, M);
	struct ex_feature_info info[3];
	char err[EX_ERR_MAX];
	int found = 0;

	ck_assert_int_eq(ex_feature_info_from_rows(bg, n_bg, M, info), 0);
	for (int trial = 0; trial < 40; trial++) {
		struct ex_model *m = random_model(M, 6, 3, trial & 1, false);
		/* stretch thresholds to [0, 6) so that several integers fall between them */
		for (size_t t = 0; t < m->n_trees; t++)
			for (int32_t i = 0; i < m->trees[t].n_nodes; i++) {
				m->trees[t].nodes[i].threshold_f *= 6;
				m->trees[t].nodes[i].threshold *= 6;
			}
		struct ex_fn f;
		fn_model(m, &f);
		double x[3] = {urand() * 6, urand() * 6, 2};
		m->base_margin[0] = -margin(m, x) + (urand() - 0.5) * 0.2;
		int d0 = margin(m, x) >= 0;
		for (size_t j = 0; j < M; j++)
			info[j] = (struct ex_feature_info){
			    .integer = true, .min = -2, .max = 8, .mad = 1};
		struct ex_whatif_input in = {
		    .f = &f, .model = m, .bg = bg, .n_bg = n_bg, .info = info};
		for (size_t j = 0; j < M; j++) {
			struct ex_cf_result r;
			ck_assert_msg(ex_cf_single(&in, x, j, NULL, &r, err, sizeof(err)) == 0,
			              "%s", err);
			/* brute force over the integers of the range */
			double up = NAN, dn = NAN;
			for (int v = -2; v <= 8; v++) {
				if (decide_at(m, x, j, v) == d0)
					continue;
				if (v > x[j] && isnan(up))
					up = v;
				if (v < x[j])
					dn = v;
			}
			size_t want = !isnan(up) + !isnan(dn);
			ck_assert_uint_eq(r.n, want);
			for (size_t k = 0; k < r.n; k++) {
				double v = r.cf[k].changes[0].to;
				ck_assert(v == (v > x[j] ? up : dn));
				found++;
			}
			ex_cf_result_free(&r);
		}
		ex_model_free(m);
	}
	ck_assert_int_gt(found, 20);
	free(bg);
}
END_TEST

static int argmax_at(const struct ex_model *m, const double *x, size_t j, double v)
{
	struct ex_decision d = {.argmax = true};
	double y[8], out[4];
	memcpy(y, x, m->n_features * sizeof(double));
	y[j] = v;
	ck_assert_int_eq(ex_predict_margin(m, y, NULL, out), 0);
	return ex_decide(&d, out, m->n_outputs);
}

START_TEST(ex_cf_single_multiclass_argmax)
{
	size_t M = 4, G = 3, n_bg = 100;
	double *bg = uniform_rows(n_bg, M), reps[4096];
	struct ex_feature_info info[4];
	struct ex_decision d = {.argmax = true};
	char err[EX_ERR_MAX];
	int found = 0;

	ck_assert_int_eq(ex_feature_info_from_rows(bg, n_bg, M, info), 0);
	for (int trial = 0; trial < 30; trial++) {
		struct ex_model *m = random_model(M, 12, 3, trial & 1, false);
		m->n_outputs = G;
		m->base_margin = realloc(m->base_margin, G * sizeof(double));
		for (size_t g = 0; g < G; g++)
			m->base_margin[g] = (urand() - 0.5) * 0.3;
		for (size_t t = 0; t < m->n_trees; t++)
			m->trees[t].group = (int32_t)(t % G);
		struct ex_fn f;
		fn_model(m, &f);
		double x[4];
		for (size_t j = 0; j < M; j++)
			x[j] = urand();
		int d0 = argmax_at(m, x, 0, x[0]);
		struct ex_whatif_input in = {
		    .f = &f, .model = m, .bg = bg, .n_bg = n_bg, .info = info, .decision = &d};
		for (int want = -1; want < (int)G; want++) {
			if (want == d0)
				continue;
			struct ex_cf_config c = {.use_target = want >= 0, .target = want};
			for (size_t j = 0; j < M; j++) {
				struct ex_cf_result r;
				ck_assert_msg(ex_cf_single(&in, x, j, &c, &r, err, sizeof(err)) ==
				                  0,
				              "%s", err);
				ck_assert_int_eq(r.decision, d0);
				double best_up = INFINITY, best_dn = INFINITY;
				size_t nr = representatives(m, j, reps, 4096);
				for (size_t k = 0; k < nr; k++) {
					double v = reps[k];
					int dv = argmax_at(m, x, j, v);
					if (v < info[j].min || v > info[j].max || dv == d0 ||
					    (want >= 0 && dv != want))
						continue;
					if (v > x[j])
						best_up = fmin(best_up, v - x[j]);
					else
						best_dn = fmin(best_dn, x[j] - v);
				}
				for (size_t k = 0; k < r.n; k++) {
					double v = r.cf[k].changes[0].to;
					int dv = argmax_at(m, x, j, v);
					ck_assert_int_ne(dv, d0);
					ck_assert_int_eq(dv, r.cf[k].decision);
					if (want >= 0)
						ck_assert_int_eq(dv, want);
					/* the near neighbour gives no wanted decision */
					int dn = argmax_at(m, x, j, nextafter(v, x[j]));
					ck_assert(want < 0 ? dn == d0 : dn != want);
					if (v > x[j])
						ck_assert(v - x[j] <= best_up);
					else
						ck_assert(x[j] - v <= best_dn);
					found++;
				}
				ex_cf_result_free(&r);
			}
		}
		ex_model_free(m);
	}
	ck_assert_int_gt(found, 10);
	free(bg);
}
END_TEST

START_TEST(ex_cf_single_xgboost_float_tie)
{
	/* one stump: (float)x < 0.3f goes left (-1), else right (+1); x = 0.1 */
	struct ex_model *m = random_model(1, 1, 1, false, false);
	struct ex_node *root = &m->trees[0].nodes[0];
	struct ex_fn f;
	char err[EX_ERR_MAX];
	double x[1] = {0.1}, bg[4] = {0, 0.25, 0.5, 1};
	struct ex_feature_info info = {.min = -10, .max = 10, .mad = 0.25};

	root->feature = 0;
	root->threshold_f = 0.3f;
	m->trees[0].nodes[root->left].value = -1;
	m->trees[0].nodes[root->right].value = 1;
	fn_model(m, &f);
	struct ex_whatif_input in = {.f = &f, .model = m, .bg = bg, .n_bg = 4, .info = &info};
	struct ex_cf_result r;
	ck_assert_msg(ex_cf_single(&in, x, 0, NULL, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(r.n, 1);
	double v = r.cf[0].changes[0].to;
	/* the lowest double whose float cast is 0.3f, below 0.3f itself */
	ck_assert((float)v == 0.3f);
	ck_assert((float)nextafter(v, 0) < 0.3f);
	ck_assert(v < (double)0.3f);
	ck_assert(r.cf[0].prediction[0] == 1);
	ex_cf_result_free(&r);
	ex_model_free(m);
}
END_TEST

START_TEST(ex_cf_single_linear_closed_form)
{
	double coef[3] = {2.0, -0.5, 1e-3}, x[3] = {0.4225, 0.1, 5};
	struct ex_model *m = linear_model(coef, 3, -1.0);
	struct ex_fn f;
	char err[EX_ERR_MAX];
	double *bg = uniform_rows(50, 3);
	struct ex_feature_info info[3];

	for (size_t j = 0; j < 3; j++)
		info[j] = (struct ex_feature_info){.min = -100, .max = 100, .mad = 0.5};
	fn_model(m, &f);
	struct ex_whatif_input in = {.f = &f, .model = m, .bg = bg, .n_bg = 50, .info = info};
	double mg = margin(m, x);
	ck_assert(mg < 0);
	for (size_t j = 0; j < 2; j++) {
		struct ex_cf_result r;
		ck_assert_msg(ex_cf_single(&in, x, j, NULL, &r, err, sizeof(err)) == 0, "%s", err);
		ck_assert_uint_eq(r.n, 1);
		double v = r.cf[0].changes[0].to, vstar = x[j] + (0 - mg) / coef[j];
		ck_assert_msg(fabs(v - vstar) <= 1e-12 * (1 + fabs(vstar)), "%.17g vs %.17g", v,
		              vstar);
		ck_assert_int_eq(decide_at(m, x, j, v), 1);
		ck_assert_int_eq(decide_at(m, x, j, nextafter(v, x[j])), 0);
		ck_assert(r.cf[0].exact);
		ck_assert(fabs(r.cf[0].distance - fabs(v - x[j]) / 0.5) <= 1e-12);
		ex_cf_result_free(&r);
	}
	/* feature 2 would need x_2 = 5 + 200: outside [-100, 100] */
	struct ex_cf_result r;
	ck_assert_int_eq(ex_cf_single(&in, x, 2, NULL, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 0);
	ex_cf_result_free(&r);
	/* integer feature: rounded in the flipping direction, the integer before does not flip */
	info[1].integer = true;
	ck_assert_int_eq(ex_cf_single(&in, x, 1, NULL, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 1);
	double v = r.cf[0].changes[0].to;
	ck_assert(v == floor(v));
	ck_assert_int_eq(decide_at(m, x, 1, v), 1);
	ck_assert_int_eq(decide_at(m, x, 1, v + 1), 0);
	ex_cf_result_free(&r);
	/* immutable: nothing */
	info[0].immutable = true;
	ck_assert_int_eq(ex_cf_single(&in, x, 0, NULL, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 0);
	ex_cf_result_free(&r);
	/* out of range j */
	ck_assert_int_eq(ex_cf_single(&in, x, 3, NULL, &r, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "feature 3"));
	ex_model_free(m);
	free(bg);
}
END_TEST

/* A smooth black box: out = x0^3 + 0.5 x1 - 0.2, crossing at x0 = cbrt(0.2 - 0.5 x1). */
static int smooth_predict(void *userdata, const double *rows, size_t n, double *out, char *err,
                          size_t err_size)
{
	size_t *calls = userdata;
	(void)err;
	(void)err_size;
	(*calls)++;
	for (size_t i = 0; i < n; i++) {
		const double *r = rows + i * 3;
		out[i] = r[0] * r[0] * r[0] + 0.5 * r[1] - 0.2;
	}
	return 0;
}

START_TEST(ex_cf_single_blackbox_bracket)
{
	size_t calls = 0;
	struct ex_fn f = {
	    .predict = smooth_predict, .userdata = &calls, .n_features = 3, .n_outputs = 1};
	double *bg = malloc(300 * 3 * sizeof(double));
	char err[EX_ERR_MAX];

	for (size_t i = 0; i < 300 * 3; i++)
		bg[i] = urand() * 2 - 1;
	struct ex_whatif_input in = {.f = &f, .bg = bg, .n_bg = 300};
	struct ex_cf_config c = {.tolerance = 1e-4};
	double x[3] = {-0.2, 0.1, 0.5};
	double truth = cbrt(0.2 - 0.05);
	struct ex_cf_result r;

	ck_assert_msg(ex_cf_single(&in, x, 0, &c, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(r.n, 1);
	const struct ex_counterfactual *cf = &r.cf[0];
	ck_assert(cf->bisected && !cf->exact);
	ck_assert_ptr_nonnull(r.caveat);
	ck_assert_msg(cf->bracket[0] < truth && truth <= cf->bracket[1], "[%g, %g] vs %g",
	              cf->bracket[0], cf->bracket[1], truth);
	struct ex_feature_info info[3];
	ex_feature_info_from_rows(bg, 300, 3, info);
	ck_assert(cf->bracket[1] - cf->bracket[0] <= 1e-4 * info[0].mad * (1 + 1e-9));
	ck_assert(cf->changes[0].to == cf->bracket[1]);
	ck_assert(cf->prediction[0] >= 0);
	ck_assert(r.model_rows > 0 && calls < 20);
	ex_cf_result_free(&r);
	/* feature 2 is ignored: no flip */
	ck_assert_int_eq(ex_cf_single(&in, x, 2, &c, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 0);
	ex_cf_result_free(&r);
	/* a budget too small for the grid */
	c.budget = 10;
	ck_assert_int_eq(ex_cf_single(&in, x, 0, &c, &r, err, sizeof(err)), -ENOSPC);
	free(bg);
}
END_TEST

static int failing_predict(void *userdata, const double *rows, size_t n, double *out, char *err,
                           size_t err_size)
{
	(void)userdata;
	for (size_t i = 0; i < n; i++) {
		if (rows[i * 2 + 1] > 0.9) {
			snprintf(err, err_size, "row %zu: oracle said no", i);
			return -EPROTO;
		}
		out[i] = rows[i * 2] + rows[i * 2 + 1] - 1;
	}
	return 0;
}

START_TEST(ex_cf_single_reports_f_errors)
{
	struct ex_fn f = {.predict = failing_predict, .n_features = 2, .n_outputs = 1};
	double *bg = uniform_rows(100, 2), x[2] = {0.1, 0.2};
	char err[EX_ERR_MAX];
	struct ex_cf_result r;
	struct ex_whatif_input in = {.f = &f, .bg = bg, .n_bg = 100};

	ck_assert_int_eq(ex_cf_single(&in, x, 1, NULL, &r, err, sizeof(err)), -EPROTO);
	ck_assert_msg(strstr(err, "feature 1") && strstr(err, "oracle said no"), "%s", err);
	ck_assert_ptr_null(r.cf);
	free(bg);
}
END_TEST

START_TEST(ex_cf_single_categorical_levels)
{
	size_t M = 3, n_bg = 100;
	struct ex_model *m = random_model(M, 8, 3, false, true);
	double *bg = uniform_rows(n_bg, M);
	char err[EX_ERR_MAX];
	struct ex_fn f;

	for (size_t i = 0; i < n_bg; i++) /* levels 0..4, level 4 the most frequent */
		bg[i * M + 2] = i < 40 ? 4 : (double)(i % 4);
	fn_model(m, &f);
	int got = 0;
	for (int trial = 0; trial < 30; trial++) {
		double x[3] = {urand(), urand(), (double)(trial % 5)};
		m->base_margin[0] -= margin(m, x) - 0.01;
		struct ex_whatif_input in = {.f = &f, .model = m, .bg = bg, .n_bg = n_bg};
		struct ex_cf_result r;
		ck_assert_msg(ex_cf_single(&in, x, 2, NULL, &r, err, sizeof(err)) == 0, "%s", err);
		for (size_t k = 0; k < r.n; k++) {
			double v = r.cf[k].changes[0].to;
			ck_assert(v == floor(v) && v >= 0 && v <= 4 && v != x[2]);
			/* most frequent first: 4, then 0, 1, 2, 3 (equal counts, ascending) */
			if (k)
				ck_assert(r.cf[k - 1].changes[0].to == 4 ||
				          r.cf[k - 1].changes[0].to < v);
			ck_assert_int_ne(decide_at(m, x, 2, v), margin(m, x) >= 0);
			ck_assert(r.cf[k].distance == 1);
			got++;
		}
		/* every observed level that flips is reported (up to n_results = 3) */
		size_t flipping = 0;
		for (int lv = 0; lv < 5; lv++)
			flipping +=
			    lv != (int)x[2] && decide_at(m, x, 2, lv) != (margin(m, x) >= 0);
		ck_assert_uint_eq(r.n, flipping < 3 ? flipping : 3);
		if (x[2] != 4 && decide_at(m, x, 2, 4) != (margin(m, x) >= 0))
			ck_assert(r.cf[0].changes[0].to == 4);
		ex_cf_result_free(&r);
	}
	ck_assert_int_gt(got, 0);
	ex_model_free(m);
	free(bg);
}
END_TEST

/* ------------------------------------------------------------------ ex_counterfactuals */

/* out = min(x0, x1) - 0.6 + 0.0 * x2: no single feature flips when both are low */
static int min_predict(void *userdata, const double *rows, size_t n, double *out, char *err,
                       size_t err_size)
{
	(void)userdata;
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++) {
		const double *r = rows + i * 4;
		out[i] = fmin(r[0], r[1]) - 0.6 + 0 * r[2] + 0 * r[3];
	}
	return 0;
}

START_TEST(ex_counterfactuals_sparse_pair)
{
	struct ex_fn f = {.predict = min_predict, .n_features = 4, .n_outputs = 1};
	double *bg = uniform_rows(300, 4);
	struct ex_feature_info info[4];
	char err[EX_ERR_MAX];
	double x[4] = {0.4, 0.5, 0.5, 0.5};

	ck_assert_int_eq(ex_feature_info_from_rows(bg, 300, 4, info), 0);
	info[3].immutable = true;
	struct ex_whatif_input in = {.f = &f, .bg = bg, .n_bg = 300, .info = info};
	struct ex_cf_config c = {.seed = 7, .n_results = 3};
	struct ex_cf_result r, r2;
	ck_assert_msg(ex_counterfactuals(&in, x, &c, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_ge(r.n, 1);
	ck_assert_int_eq(r.decision, 0);
	for (size_t k = 0; k < r.n; k++) {
		const struct ex_counterfactual *cf = &r.cf[k];
		double y[4];
		memcpy(y, x, sizeof(y));
		double d = 0;
		for (size_t t = 0; t < cf->n_changed; t++) {
			size_t j = cf->changes[t].feature;
			ck_assert_uint_ne(j, 3); /* immutable */
			ck_assert(cf->changes[t].from == x[j]);
			y[j] = cf->changes[t].to;
			ck_assert(y[j] >= info[j].min && y[j] <= info[j].max);
			d += fabs(y[j] - x[j]) / info[j].mad;
		}
		ck_assert(fabs(d - cf->distance) <= 1e-12 * (1 + d));
		double out;
		min_predict(NULL, y, 1, &out, NULL, 0);
		ck_assert(out >= 0); /* flips under independent evaluation */
		ck_assert_uint_le(cf->n_changed, 3);
		if (k)
			ck_assert(cf->distance >= r.cf[k - 1].distance);
	}
	/* the nearest flip changes both x0 and x1 (0.2 + 0.1 in raw units, sparse) */
	ck_assert_uint_eq(r.cf[0].n_changed, 2);
	ck_assert_uint_eq(r.cf[0].changes[0].feature, 0);
	ck_assert_uint_eq(r.cf[0].changes[1].feature, 1);
	double ideal = 0.2 / info[0].mad + 0.1 / info[1].mad;
	ck_assert_msg(r.cf[0].distance <= ideal * 1.5, "%g vs ideal %g", r.cf[0].distance, ideal);
	/* diverse: different feature sets */
	for (size_t a = 0; a < r.n; a++)
		for (size_t b = a + 1; b < r.n; b++) {
			bool same = r.cf[a].n_changed == r.cf[b].n_changed;
			for (size_t t = 0; same && t < r.cf[a].n_changed; t++)
				same = r.cf[a].changes[t].feature == r.cf[b].changes[t].feature;
			ck_assert(!same);
		}
	/* the same seed gives bit-identical results */
	ck_assert_int_eq(ex_counterfactuals(&in, x, &c, &r2, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, r2.n);
	ck_assert(r.model_rows == r2.model_rows);
	for (size_t k = 0; k < r.n; k++) {
		ck_assert_uint_eq(r.cf[k].n_changed, r2.cf[k].n_changed);
		ck_assert(memcmp(r.cf[k].changes, r2.cf[k].changes,
		                 r.cf[k].n_changed * sizeof(*r.cf[k].changes)) == 0);
		ck_assert(memcmp(&r.cf[k].distance, &r2.cf[k].distance, sizeof(double)) == 0);
	}
	ex_cf_result_free(&r);
	ex_cf_result_free(&r2);
	free(bg);
}
END_TEST

START_TEST(ex_counterfactuals_trees_flip)
{
	size_t M = 6, n_bg = 200;
	double *bg = uniform_rows(n_bg, M);
	struct ex_feature_info info[6];
	char err[EX_ERR_MAX];

	ck_assert_int_eq(ex_feature_info_from_rows(bg, n_bg, M, info), 0);
	info[1].immutable = true;
	info[4].integer = false;
	for (int trial = 0; trial < 10; trial++) {
		struct ex_model *m = random_model(M, 10, 4, trial & 1, false);
		struct ex_fn f;
		double x[6];
		for (size_t j = 0; j < M; j++)
			x[j] = urand();
		m->base_margin[0] = -margin(m, x) - 0.05 - urand() * 0.3;
		fn_model(m, &f);
		struct ex_whatif_input in = {
		    .f = &f, .model = m, .bg = bg, .n_bg = n_bg, .info = info};
		struct ex_cf_config c = {.seed = (uint64_t)trial};
		struct ex_cf_result r;
		ck_assert_msg(ex_counterfactuals(&in, x, &c, &r, err, sizeof(err)) == 0, "%s", err);
		for (size_t k = 0; k < r.n; k++) {
			double y[6];
			memcpy(y, x, sizeof(y));
			for (size_t t = 0; t < r.cf[k].n_changed; t++) {
				size_t j = r.cf[k].changes[t].feature;
				ck_assert_uint_ne(j, 1);
				y[j] = r.cf[k].changes[t].to;
				ck_assert(y[j] >= info[j].min && y[j] <= info[j].max);
			}
			ck_assert(margin(m, y) >= 0);
			ck_assert(r.cf[k].prediction[0] == margin(m, y));
		}
		ex_cf_result_free(&r);
		ex_model_free(m);
	}
	free(bg);
}
END_TEST

START_TEST(ex_counterfactuals_rejects_mismatched_f)
{
	double coef[2] = {1, 1};
	struct ex_model *m = linear_model(coef, 2, 0), *m2 = linear_model(coef, 2, 1);
	struct ex_fn f;
	double bg[4] = {0, 0, 1, 1}, x[2] = {0.1, 0.2};
	char err[EX_ERR_MAX];
	struct ex_cf_result r;

	fn_model(m2, &f);
	struct ex_whatif_input in = {.f = &f, .model = m, .bg = bg, .n_bg = 2};
	ck_assert_int_eq(ex_counterfactuals(&in, x, NULL, &r, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "disagree"));
	in.bg = NULL;
	ck_assert_int_eq(ex_counterfactuals(&in, x, NULL, &r, err, sizeof(err)), -EINVAL);
	ex_model_free(m);
	ex_model_free(m2);
}
END_TEST

/* ------------------------------------------------------------------ ex_flip_test */

START_TEST(ex_flip_test_planted)
{
	/* margin = 4 x0 + 0.05 x1 + 2 x2 - 2.2; x2 immutable */
	double coef[3] = {4, 0.05, 2}, phi[3];
	struct ex_model *m = linear_model(coef, 3, -2.2);
	struct ex_fn f;
	double *bg = uniform_rows(400, 3);
	struct ex_feature_info info[3];
	char err[EX_ERR_MAX];

	ck_assert_int_eq(ex_feature_info_from_rows(bg, 400, 3, info), 0);
	info[2].immutable = true;
	fn_model(m, &f);
	struct ex_whatif_input in = {.f = &f, .model = m, .bg = bg, .n_bg = 400, .info = info};
	/* near the threshold: margin 0.004 */
	double x[3] = {0.5, 0.48, 0.1 - 0.5 * 0.024 + 0.002};
	double mg = margin(m, x);
	ck_assert(mg > 0 && mg < 0.01);
	ck_assert_int_eq(ex_linear_shap(m, x, bg, 400, phi, &(double){0}), 0);
	phi[1] = 0.001; /* make x1 unimportant whatever the background says */
	struct ex_flip_result r;
	ck_assert_msg(ex_flip_test(&in, x, phi, NULL, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert(r.fragile);
	ck_assert(!r.fragile_categorical);
	ck_assert_uint_eq(r.n_fragile, 1);
	ck_assert_uint_eq(r.fragile_features[0], 1);
	ck_assert(r.features[1].low_importance && r.features[1].plausible && r.features[1].exact);
	/* the linear closed form */
	double v = x[1] + (0 - mg) / coef[1];
	ck_assert(fabs(r.features[1].value - v) <= 1e-12);
	ck_assert(fabs(r.features[1].distance - fabs(v - x[1]) / info[1].mad) <= 1e-9);
	ck_assert(r.features[1].score < 0 && r.features[1].decision == 0);
	ck_assert(r.predictions[1] == r.features[1].score && isnan(r.predictions[2]));
	ck_assert(r.low_share == 0.05 && r.kappa == 0.5 && r.n_outputs == 1);
	ck_assert(r.features[2].immutable && !r.features[2].flips && !r.features[2].low_importance);
	ck_assert(fabs(r.margin - mg) <= 1e-15);
	ck_assert_int_eq(r.decision, 1);
	/* feature 0 flips too (within kappa MAD): both mutable features flip */
	ck_assert(r.features[0].plausible);
	ck_assert(fabs(r.fragility_index - 1.0) <= 1e-15);
	ex_flip_result_free(&r);

	/* far from the threshold: nothing plausible flips */
	x[0] = 0.9;
	ck_assert_int_eq(ex_flip_test(&in, x, phi, NULL, &r, err, sizeof(err)), 0);
	ck_assert(!r.fragile);
	ck_assert_uint_eq(r.n_fragile, 0);
	ck_assert(!r.features[1].plausible);
	ck_assert(r.fragility_index == 0);
	ex_flip_result_free(&r);
	ex_model_free(m);
	free(bg);
}
END_TEST

START_TEST(ex_flip_test_trees)
{
	size_t M = 5, n_bg = 200;
	double *bg = uniform_rows(n_bg, M);
	struct ex_feature_info info[5];
	char err[EX_ERR_MAX];
	double phi[5], base;

	ck_assert_int_eq(ex_feature_info_from_rows(bg, n_bg, M, info), 0);
	info[0].immutable = true;
	for (int trial = 0; trial < 20; trial++) {
		struct ex_model *m = random_model(M, 8, 3, false, false);
		struct ex_fn f;
		double x[5];
		for (size_t j = 0; j < M; j++)
			x[j] = urand();
		m->base_margin[0] -= margin(m, x) - 0.001;
		fn_model(m, &f);
		ck_assert_int_eq(ex_treeshap(m, x, phi, &base), 0);
		struct ex_whatif_input in = {
		    .f = &f, .model = m, .bg = bg, .n_bg = n_bg, .info = info};
		struct ex_flip_result r;
		ck_assert_msg(ex_flip_test(&in, x, phi, NULL, &r, err, sizeof(err)) == 0, "%s",
		              err);
		double total = 0;
		for (size_t j = 0; j < M; j++)
			total += fabs(phi[j]);
		size_t plaus = 0, fr = 0;
		for (size_t j = 0; j < M; j++) {
			const struct ex_flip_feature *o = &r.features[j];
			ck_assert(o->low_importance == (j != 0 && fabs(phi[j]) <= 0.05 * total));
			if (o->flips) {
				ck_assert_int_eq(decide_at(m, x, j, o->value), 0);
				ck_assert(o->plausible == (o->distance <= 0.5));
			}
			plaus += o->plausible;
			fr += o->plausible && o->low_importance;
		}
		ck_assert(!r.features[0].flips);
		ck_assert_uint_eq(r.n_fragile, fr);
		ck_assert(r.fragile == (fr > 0));
		ck_assert(fabs(r.fragility_index - (double)plaus / 4) <= 1e-15);
		ex_flip_result_free(&r);
		ex_model_free(m);
	}
	free(bg);
}
END_TEST

/* A tree model's own ranges: every split of feature j lies inside [min, max] (min goes left
 * of the lowest, max right of the highest), the MAD is the range / EX_RANGE_PER_MAD, a
 * category split marks the feature categorical, and a linear model has none. */
START_TEST(ex_feature_info_from_model_spans_the_splits)
{
	for (int trial = 0; trial < 20; trial++) {
		bool lgb = trial & 1, cat = !lgb && trial % 4 == 0;
		size_t M = 6;
		struct ex_model *m = random_model(M, 10, 4, lgb, cat);
		struct ex_feature_info info[6];
		ck_assert_int_eq(ex_feature_info_from_model(m, info), 0);
		for (size_t j = 0; j < M; j++) {
			double lo = INFINITY, hi = -INFINITY;
			size_t splits = 0;
			bool category = false;
			for (size_t t = 0; t < m->n_trees; t++)
				for (int32_t i = 0; i < m->trees[t].n_nodes; i++) {
					const struct ex_node *nd = &m->trees[t].nodes[i];
					if (nd->left < 0 || nd->feature != (int32_t)j)
						continue;
					if (nd->cmp == EX_CMP_XGB_CAT) {
						category = true;
						continue;
					}
					double th = lgb ? nd->threshold : (double)nd->threshold_f;
					lo = fmin(lo, th);
					hi = fmax(hi, th);
					splits++;
				}
			ck_assert(info[j].categorical == category);
			ck_assert(!info[j].immutable && !info[j].integer);
			if (!splits) {
				ck_assert(isnan(info[j].min) && isnan(info[j].max));
				ck_assert(info[j].mad == 0);
				continue;
			}
			/* min takes the left branch of the lowest split, max the right of the
			 * highest */
			double y[6] = {0};
			for (size_t t = 0; t < m->n_trees; t++)
				for (int32_t i = 0; i < m->trees[t].n_nodes; i++) {
					const struct ex_node *nd = &m->trees[t].nodes[i];
					if (nd->left < 0 || nd->feature != (int32_t)j ||
					    nd->cmp == EX_CMP_XGB_CAT)
						continue;
					y[j] = info[j].min;
					ck_assert_int_eq(ex_node_next(m, nd, y), nd->left);
					y[j] = info[j].max;
					ck_assert_int_eq(ex_node_next(m, nd, y), nd->right);
				}
			/* ... and no wider than the splits (XGBoost's cut is a float's rounding) */
			ck_assert(info[j].min <= lo && info[j].max > hi - 1e-6);
			ck_assert(info[j].max - info[j].min < hi - lo + 1e-6);
			if (lo < hi)
				ck_assert_double_eq(info[j].mad,
				                    (info[j].max - info[j].min) / EX_RANGE_PER_MAD);
			else
				ck_assert(info[j].mad == 0);
		}
		ex_model_free(m);
	}
	double coef[2] = {1, 2};
	struct ex_model *lin = linear_model(coef, 2, 0);
	struct ex_feature_info li[2];
	ck_assert_int_eq(ex_feature_info_from_model(lin, li), -ENOTSUP);
	ex_model_free(lin);
}
END_TEST

/* The flip test of a tree model without background rows (bg NULL, info from the model):
 * every numeric feature gets the same result as with a background and the same info (the
 * exact scan needs no rows), and a category split gets the levels the splits tell apart:
 * a flipping category is found whenever one in 0..40 flips. */
START_TEST(ex_flip_test_trees_without_background)
{
	size_t M = 4, n_bg = 50;
	double *bg = uniform_rows(n_bg, M), phi[4], base;
	char err[EX_ERR_MAX];
	int cat_flips = 0;

	for (size_t i = 0; i < n_bg; i++)
		bg[i * M + M - 1] = (double)(i % 3);
	for (int trial = 0; trial < 30; trial++) {
		bool cat = trial % 3 != 2;
		struct ex_model *m = random_model(M, 8, 3, trial % 3 == 2, cat);
		struct ex_feature_info info[4];
		struct ex_fn f;
		double x[4] = {urand(), urand(), urand(), cat ? (double)(trial % 5) : urand()};
		m->base_margin[0] -= margin(m, x) - 0.002;
		fn_model(m, &f);
		ck_assert_int_eq(ex_feature_info_from_model(m, info), 0);
		ck_assert_int_eq(ex_treeshap(m, x, phi, &base), 0);
		struct ex_whatif_input none = {.f = &f, .model = m, .info = info},
		                       rows = {.f = &f,
		                               .model = m,
		                               .bg = bg,
		                               .n_bg = n_bg,
		                               .info = info};
		struct ex_flip_result a, b;
		ck_assert_msg(ex_flip_test(&none, x, phi, NULL, &a, err, sizeof(err)) == 0, "%s",
		              err);
		ck_assert_msg(ex_flip_test(&rows, x, phi, NULL, &b, err, sizeof(err)) == 0, "%s",
		              err);
		for (size_t j = 0; j < M; j++) {
			const struct ex_flip_feature *p = &a.features[j], *q = &b.features[j];
			if (p->flips)
				ck_assert_int_ne(decide_at(m, x, j, p->value), margin(m, x) >= 0);
			if (info[j].categorical) {
				bool any = false;
				for (int c = 0; c <= 40; c++)
					any |= c != (int)x[j] &&
					       decide_at(m, x, j, c) != (margin(m, x) >= 0);
				ck_assert(p->flips == any);
				ck_assert(!p->flips ||
				          (p->value == floor(p->value) && p->value >= 0));
				cat_flips += p->flips;
				continue;
			}
			ck_assert(p->flips == q->flips && p->plausible == q->plausible);
			ck_assert(p->flips ? p->value == q->value && p->distance == q->distance
			                   : isnan(p->value) && isnan(q->value));
		}
		ex_flip_result_free(&a);
		ex_flip_result_free(&b);
		ex_model_free(m);
	}
	ck_assert_int_gt(cat_flips, 0);
	/* black boxes and linear models without info still need rows */
	double coef[2] = {1, -1}, x2[2] = {0.2, 0.1}, p2[2] = {0.1, 0.1};
	struct ex_model *lin = linear_model(coef, 2, 0);
	struct ex_fn lf;
	struct ex_flip_result r;
	fn_model(lin, &lf);
	struct ex_whatif_input in = {.f = &lf, .model = lin};
	ck_assert_int_eq(ex_flip_test(&in, x2, p2, NULL, &r, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "needs background rows"), "%s", err);
	ex_model_free(lin);
	free(bg);
}
END_TEST

/* out = x0 - 0.5 - 0.02 [x1 == 3]: category 3 of x1 flips a near-threshold row */
static int cat_predict(void *userdata, const double *rows, size_t n, double *out, char *err,
                       size_t err_size)
{
	(void)userdata;
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++)
		out[i] = rows[i * 2] - 0.5 - 0.02 * (rows[i * 2 + 1] == 3);
	return 0;
}

START_TEST(ex_flip_test_categorical)
{
	struct ex_fn f = {.predict = cat_predict, .n_features = 2, .n_outputs = 1};
	double *bg = uniform_rows(200, 2), x[2] = {0.51, 1}, phi[2] = {1.0, 0.001};
	struct ex_feature_info info[2];
	char err[EX_ERR_MAX];
	struct ex_flip_result r;

	for (size_t i = 0; i < 200; i++)
		bg[i * 2 + 1] = (double)(i % 4);
	ck_assert_int_eq(ex_feature_info_from_rows(bg, 200, 2, info), 0);
	info[1].categorical = true;
	struct ex_whatif_input in = {.f = &f, .bg = bg, .n_bg = 200, .info = info};
	ck_assert_msg(ex_flip_test(&in, x, phi, NULL, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert(r.fragile && r.fragile_categorical);
	ck_assert_uint_eq(r.n_fragile, 1);
	ck_assert_uint_eq(r.fragile_features[0], 1);
	ck_assert(r.features[1].categorical && r.features[1].plausible);
	ck_assert(r.features[1].value == 3 && r.features[1].distance == 1);
	ck_assert(!r.features[0].low_importance && r.features[0].flips);
	/* black box: the bracket's flipping end, within 0.01 below x0 */
	ck_assert(r.features[0].value < 0.5 && r.features[0].value > 0.49);
	ck_assert(!r.features[0].exact);
	ex_flip_result_free(&r);
	/* another category: x1 = 3 already below the threshold; no low-importance flip upward */
	x[0] = 0.9;
	ck_assert_int_eq(ex_flip_test(&in, x, phi, NULL, &r, err, sizeof(err)), 0);
	ck_assert(!r.fragile && !r.fragile_categorical && !r.features[1].flips);
	ex_flip_result_free(&r);
	free(bg);
}
END_TEST

/* The model as a function: many rows at once (tree-major blocks) give exactly the margins of
 * ex_predict_margin row by row, for block boundaries, NaN values and multi-output models. */
START_TEST(ex_fn_from_model_rows_equal_single)
{
	const size_t M = 7;
	for (int trial = 0; trial < 6; trial++) {
		struct ex_model *m = random_model(M, 40, 4, trial & 1, false);
		if (trial >= 4) {
			/* two outputs, every other tree on output 1, a scale */
			m->n_outputs = 2;
			free(m->base_margin);
			m->base_margin = calloc(2, sizeof(double));
			m->base_margin[1] = 0.25;
			for (size_t t = 0; t < m->n_trees; t++)
				m->trees[t].group = (int32_t)(t & 1);
			m->output_scale = trial == 5 ? 0.1 : 1.0;
		}
		size_t K = m->n_outputs, n = 150;
		double *X = malloc(n * M * sizeof(double)), *a = malloc(n * K * sizeof(double)),
		       *b = malloc(n * K * sizeof(double));
		uint64_t st = 77 + (uint64_t)trial;
		for (size_t i = 0; i < n * M; i++) {
			st = st * 6364136223846793005ull + 1442695040888963407ull;
			X[i] =
			    (i % 13 == 5) ? NAN : (double)(st >> 11) / 9007199254740992.0 * 4 - 2;
		}
		struct ex_fn f;
		ex_fn_from_model(m, &f);
		for (size_t rows = 1; rows <= n; rows += 37) {
			ck_assert_int_eq(f.predict(f.userdata, X, rows, a, NULL, 0), 0);
			for (size_t i = 0; i < rows; i++)
				ck_assert_int_eq(ex_predict_margin(m, X + i * M, NULL, b + i * K),
				                 0);
			ck_assert_mem_eq(a, b, rows * K * sizeof(double));
		}
		free(X);
		free(a);
		free(b);
		ex_model_free(m);
	}
}
END_TEST

static Suite *whatif_suite(void)
{
	Suite *s = suite_create("explain_whatif");
	TCase *tc;

	tc = tcase_create("ex_fn_from_model");
	tcase_add_test(tc, ex_fn_from_model_rows_equal_single);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_cf_single");
	tcase_add_test(tc, ex_cf_single_xgboost_is_nearest);
	tcase_add_test(tc, ex_cf_single_lightgbm_is_nearest);
	tcase_add_test(tc, ex_cf_single_xgboost_float_tie);
	tcase_add_test(tc, ex_cf_single_multiclass_argmax);
	tcase_add_test(tc, ex_cf_single_integer_trees);
	tcase_add_test(tc, ex_cf_single_linear_closed_form);
	tcase_add_test(tc, ex_cf_single_blackbox_bracket);
	tcase_add_test(tc, ex_cf_single_categorical_levels);
	tcase_add_test(tc, ex_cf_single_reports_f_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_counterfactuals");
	tcase_add_test(tc, ex_counterfactuals_sparse_pair);
	tcase_add_test(tc, ex_counterfactuals_trees_flip);
	tcase_add_test(tc, ex_counterfactuals_rejects_mismatched_f);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_flip_test");
	tcase_add_test(tc, ex_flip_test_planted);
	tcase_add_test(tc, ex_flip_test_trees);
	tcase_add_test(tc, ex_flip_test_categorical);
	tcase_add_test(tc, ex_flip_test_trees_without_background);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_feature_info_from_model");
	tcase_add_test(tc, ex_feature_info_from_model_spans_the_splits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(whatif_suite());
}
