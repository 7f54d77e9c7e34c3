/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the adversarial search (daemon/explain/METHODS.md §6): a planted failure
 * region ("approve iff a > 5 and b < 2", another region decided by c) must be recovered with
 * precision >= 0.95 and box IoU >= 0.8, by the black-box search (a model and explainer written
 * in C) and by the tree cell method (a hand-written XGBoost JSON model with path-dependent
 * TreeSHAP); the decision cell of random XGBoost and LightGBM ensembles holds no threshold and
 * every row in it reaches the same leaves (checked by evaluating each split independently);
 * the Wilson interval against closed forms; same seed, same bits; the row budget counted by a
 * wrapping function. */
#include <errno.h>
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

/* ------------------------------------------------------------------ the planted model */

/* Four features a, b, c, d in [0, 10]. Approve iff (a > 5 and b < 2) or c > 8. Reasons:
 * c > 8 approves because of c; the plant approves because of a and b; rejections blame a. */
#define PM 4

static bool in_plant(const double *z)
{
	return z[0] > 5 && z[1] < 2 && z[2] <= 8;
}

static int planted_predict(void *userdata, const double *rows, size_t n, double *out, char *err,
                           size_t err_size)
{
	size_t M = userdata ? *(const size_t *)userdata : PM; /* row stride */
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++) {
		const double *z = rows + i * M;
		out[i] = z[2] > 8 ? 2 + 0.1 * (z[2] - 8) : in_plant(z) ? 1.5 - 0.01 * z[3] : -1;
	}
	return 0;
}

static int planted_explain(void *userdata, const double *z, size_t output, double *phi, char *err,
                           size_t err_size)
{
	size_t M = userdata ? *(const size_t *)userdata : PM;
	(void)output;
	(void)err;
	(void)err_size;
	for (size_t j = PM; j < M; j++)
		phi[j] = 0;
	if (z[2] > 8) {
		phi[0] = 0.1, phi[1] = 0.1, phi[2] = 2, phi[3] = 0;
	} else if (in_plant(z)) {
		phi[0] = 1.5, phi[1] = 1.2, phi[2] = -0.3, phi[3] = -0.01 * z[3];
	} else {
		phi[0] = -1, phi[1] = -0.5, phi[2] = -0.2, phi[3] = 0;
	}
	return 0;
}

/* Counts rows through any function. */
struct counter {
	const struct ex_fn *inner;
	uint64_t rows, calls;
};

static int counting_predict(void *userdata, const double *rows, size_t n, double *out, char *err,
                            size_t err_size)
{
	struct counter *c = userdata;
	c->rows += n;
	c->calls++;
	return c->inner->predict(c->inner->userdata, rows, n, out, err, err_size);
}

static void reference_rows(double *ref, size_t n, size_t M)
{
	for (size_t i = 0; i < n * M; i++)
		ref[i] = 10 * urand();
}

/* IoU within [0, 10]^M of a box and the planted box (a in (5,10], b in [0,2), c in [0,8]). */
static double plant_iou(const struct ex_region *r, size_t M)
{
	double inter = 1, vb = 1, vp = 1;
	for (size_t j = 0; j < M; j++) {
		double lo = fmax(0, r->box[j].lo), hi = fmin(10, r->box[j].hi);
		double plo = j == 0 ? 5 : 0, phi = j == 1 ? 2 : j == 2 ? 8 : 10;
		if (hi < lo)
			hi = lo;
		vb *= hi - lo;
		vp *= phi - plo;
		double il = fmax(lo, plo), ih = fmin(hi, phi);
		inter *= ih > il ? ih - il : 0;
	}
	return inter / (vb + vp - inter);
}

static void print_region(const char *what, const struct ex_region *r)
{
	printf("# %s: method %s precision %.4f [%.4f, %.4f] (%zu/%zu) coverage %.4f support %zu "
	       "rows %llu steps %u exact %d sampled %d grown %d\n",
	       what, r->method, r->precision, r->precision_lo, r->precision_hi, r->eval_hits,
	       r->eval_n, r->coverage, r->support, (unsigned long long)r->model_rows, r->steps,
	       r->exact, r->growth_sampled, r->grown);
	for (size_t i = 0; i < r->n_rule; i++)
		printf("#   x%zu %s %.9g .. %.9g %s\n", r->rule[i].feature,
		       r->rule[i].lo_incl ? "[" : "(", r->rule[i].lo, r->rule[i].hi,
		       r->rule[i].hi_incl ? "]" : ")");
}

static void check_exemplars(const struct ex_region *r, bool (*p)(const double *))
{
	ck_assert_uint_ge(r->n_exemplars, 3);
	ck_assert_uint_le(r->n_exemplars, 5);
	for (size_t i = 0; i < r->n_exemplars; i++) {
		const double *z = r->exemplars + i * r->n_features;
		ck_assert_msg(p(z), "exemplar %zu lies outside the planted region", i);
		for (size_t t = 0; t < i; t++)
			ck_assert_msg(memcmp(z, r->exemplars + t * r->n_features,
			                     r->n_features * sizeof(double)) != 0,
			              "exemplars %zu and %zu are the same point", t, i);
	}
}

/* ------------------------------------------------------------------ ex_wilson_interval */

/* The interval's ends solve (p_hat - p)^2 = z^2 p (1 - p) / n: the quadratic
 * (1 + z^2/n) p^2 - (2 p_hat + z^2/n) p + p_hat^2 = 0. */
static void wilson_by_quadratic(size_t h, size_t n, double z, double *lo, double *hi)
{
	double ph = (double)h / (double)n, zn = z * z / (double)n;
	double A = 1 + zn, B = -(2 * ph + zn), C = ph * ph;
	double disc = sqrt(B * B - 4 * A * C);
	*lo = (-B - disc) / (2 * A);
	*hi = (-B + disc) / (2 * A);
}

START_TEST(ex_wilson_interval_matches_closed_forms)
{
	const double z = 1.959963984540054;
	double lo, hi, qlo, qhi;

	/* 0/n: [0, z^2 / (n + z^2)]; n/n: [n / (n + z^2), 1] */
	for (size_t n = 1; n <= 1000; n *= 10) {
		ck_assert_int_eq(ex_wilson_interval(0, n, z, &lo, &hi), 0);
		ck_assert_double_eq(lo, 0);
		ck_assert_double_eq_tol(hi, z * z / ((double)n + z * z), 1e-12);
		ck_assert_int_eq(ex_wilson_interval(n, n, z, &lo, &hi), 0);
		ck_assert_double_eq(hi, 1);
		ck_assert_double_eq_tol(lo, (double)n / ((double)n + z * z), 1e-12);
	}
	/* textbook: 0/10 -> upper 0.2775; 10/10 -> lower 0.7225 */
	ex_wilson_interval(0, 10, z, &lo, &hi);
	ck_assert_double_eq_tol(hi, 0.2775, 5e-5);
	ex_wilson_interval(10, 10, z, &lo, &hi);
	ck_assert_double_eq_tol(lo, 0.7225, 5e-5);
	for (size_t n = 2; n < 300; n += 37)
		for (size_t h = 1; h < n; h += 1 + n / 7) {
			ck_assert_int_eq(ex_wilson_interval(h, n, z, &lo, &hi), 0);
			wilson_by_quadratic(h, n, z, &qlo, &qhi);
			ck_assert_double_eq_tol(lo, qlo, 1e-12);
			ck_assert_double_eq_tol(hi, qhi, 1e-12);
			ck_assert(lo < (double)h / (double)n && (double)h / (double)n < hi);
		}
	ck_assert_int_eq(ex_wilson_interval(0, 0, z, &lo, &hi), 0);
	ck_assert(lo == 0 && hi == 1);
	ck_assert_int_eq(ex_wilson_interval(5, 4, z, &lo, &hi), -EINVAL);
	ck_assert_int_eq(ex_wilson_interval(1, 4, 0, &lo, &hi), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ ex_adversarial_search */

static struct ex_region *run_planted(size_t M, bool explain, uint64_t seed, size_t budget,
                                     struct counter *cnt, int *ret_rc, char *err)
{
	static const struct ex_fn planted_raw = {
	    .predict = planted_predict, .n_features = PM, .n_outputs = 1};
	struct ex_fn raw = planted_raw;
	static size_t stride;
	stride = M;
	raw.n_features = M;
	raw.userdata = &stride;
	cnt->inner = &raw;
	cnt->rows = cnt->calls = 0;
	struct ex_fn f = {
	    .predict = counting_predict, .userdata = cnt, .n_features = M, .n_outputs = 1};
	struct ex_explainer e = {.explain = planted_explain, .userdata = &stride};
	size_t n_ref = 1000;
	double *ref = malloc(n_ref * M * sizeof(double));
	struct ex_feature_info *info = calloc(M, sizeof(*info));
	double x[8] = {7, 1, 4, 5, 5, 5, 5, 5};
	uint64_t save = rng;
	rng = 99;
	reference_rows(ref, n_ref, M);
	rng = save;
	ck_assert_int_eq(ex_feature_info_from_rows(ref, n_ref, M, info), 0);
	struct ex_adv_config c = {.seed = seed, .budget = budget};
	struct ex_region *r = NULL;
	*ret_rc = ex_adversarial_search(&f, explain ? &e : NULL, x, ref, n_ref, info, NULL, &c, &r,
	                                err, EX_ERR_MAX);
	free(ref);
	free(info);
	return r;
}

START_TEST(ex_adversarial_search_recovers_planted_region)
{
	char err[EX_ERR_MAX] = "";
	struct counter cnt;
	int rc;
	struct ex_region *r = run_planted(PM, true, 7, 20000, &cnt, &rc, err);

	ck_assert_msg(rc == 0, "%s", err);
	print_region("search", r);
	double iou = plant_iou(r, PM);
	printf("# IoU %.4f\n", iou);
	ck_assert_str_eq(r->method, "search");
	ck_assert(!r->exact && !r->decision_only && !r->relaxed);
	ck_assert_int_eq(r->decision, 1);
	/* x's signature: +a, +b, -c */
	ck_assert_uint_eq(r->k, 3);
	ck_assert_int_eq(r->topk[0], 1);
	ck_assert_int_eq(r->topk[1], 2);
	ck_assert_int_eq(r->topk[2], -3);
	ck_assert_msg(r->precision >= 0.95, "precision %g", r->precision);
	ck_assert_msg(iou >= 0.8, "IoU %g", iou);
	ck_assert(r->precision_lo <= r->precision && r->precision <= r->precision_hi);
	ck_assert_uint_gt(r->eval_n, 100);
	ck_assert_uint_gt(r->support, 50);
	/* coverage against an independent count of reference rows in the box: about 8% */
	ck_assert(r->coverage > 0.04 && r->coverage < 0.12);
	check_exemplars(r, in_plant);
	/* the rule names a, b and c only; d is unbounded */
	for (size_t i = 0; i < r->n_rule; i++)
		ck_assert_uint_lt(r->rule[i].feature, 3);
	ck_assert_uint_le(r->model_rows, 20000);
	ck_assert_uint_eq(r->model_rows, cnt.rows);
	ex_region_free(r);
}
END_TEST

START_TEST(ex_adversarial_search_decision_only_and_irrelevant_features)
{
	/* decision only: P is "approved", the union of the plant and c > 8, which is no box;
	 * the box found must still be pure and hold x, and say that it is decision-only. With
	 * three more irrelevant features the plant's box is still found (explainer on). */
	char err[EX_ERR_MAX] = "";
	struct counter cnt;
	int rc;
	struct ex_region *r = run_planted(PM, false, 3, 8000, &cnt, &rc, err);

	ck_assert_msg(rc == 0, "%s", err);
	print_region("decision only", r);
	ck_assert(r->decision_only);
	ck_assert_uint_eq(r->k, 0);
	ck_assert_msg(r->precision >= 0.95, "precision %g", r->precision);
	double x[PM] = {7, 1, 4, 5};
	for (size_t j = 0; j < PM; j++)
		ck_assert(x[j] >= r->box[j].lo && x[j] <= r->box[j].hi);
	ck_assert_uint_le(r->model_rows, 8000);
	ex_region_free(r);

	r = run_planted(7, true, 11, 20000, &cnt, &rc, err);
	ck_assert_msg(rc == 0, "%s", err);
	print_region("7 features", r);
	double iou = plant_iou(r, 7);
	printf("# IoU %.4f\n", iou);
	ck_assert_msg(r->precision >= 0.95, "precision %g", r->precision);
	ck_assert_msg(iou >= 0.8, "IoU %g", iou);
	ex_region_free(r);
}
END_TEST

START_TEST(ex_adversarial_search_same_seed_same_bits)
{
	char err[EX_ERR_MAX] = "";
	struct counter c1, c2;
	int rc1, rc2;
	struct ex_region *a = run_planted(PM, true, 5, 6000, &c1, &rc1, err);
	struct ex_region *b = run_planted(PM, true, 5, 6000, &c2, &rc2, err);

	ck_assert(rc1 == 0 && rc2 == 0);
	ck_assert_uint_eq(c1.rows, c2.rows);
	ck_assert_uint_eq(c1.calls, c2.calls);
	ck_assert_mem_eq(a->box, b->box, PM * sizeof(*a->box));
	ck_assert_uint_eq(a->n_exemplars, b->n_exemplars);
	ck_assert_mem_eq(a->exemplars, b->exemplars, a->n_exemplars * PM * sizeof(double));
	ck_assert_uint_eq(a->eval_hits, b->eval_hits);
	ck_assert_uint_eq(a->support, b->support);
	ck_assert_uint_eq(a->n_labelled, b->n_labelled);
	ck_assert(memcmp(&a->precision, &b->precision, sizeof(double)) == 0);
	/* another seed explores differently */
	struct ex_region *d = run_planted(PM, true, 6, 6000, &c2, &rc2, err);
	ck_assert(d->n_positive != a->n_positive ||
	          memcmp(d->exemplars, a->exemplars, a->n_exemplars * PM * sizeof(double)));
	ex_region_free(a);
	ex_region_free(b);
	ex_region_free(d);
}
END_TEST

START_TEST(ex_adversarial_search_respects_budget)
{
	char err[EX_ERR_MAX] = "";
	struct counter cnt;
	int rc;
	static const size_t budgets[] = {17, 100, 1001, 2500};

	for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
		struct ex_region *r = run_planted(PM, true, 1, budgets[i], &cnt, &rc, err);
		ck_assert_msg(rc == 0, "budget %zu: %s", budgets[i], err);
		ck_assert_uint_le(cnt.rows, budgets[i]);
		ck_assert_uint_eq(cnt.rows, r->model_rows);
		ex_region_free(r);
	}
	struct ex_region *r = run_planted(PM, true, 1, 16, &cnt, &rc, err);
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(err, "budget"));
	ck_assert_uint_eq(cnt.rows, 0);
	/* bad arguments name the problem */
	struct ex_fn f = {.predict = planted_predict, .n_features = PM, .n_outputs = 1};
	double x[PM] = {0};
	struct ex_feature_info info[PM] = {{0}};
	rc = ex_adversarial_search(&f, NULL, x, NULL, 0, info, NULL, NULL, &r, err, sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "reference rows"));
}
END_TEST

START_TEST(ex_adversarial_search_relaxed_signature)
{
	/* top-k Jaccard >= 0.6 on unsigned sets: c > 8 approves with {a, b, c} too, so P is
	 * "approved" and the region is no longer cut at c = 8 */
	static size_t stride = PM;
	struct ex_fn f = {.predict = planted_predict, .n_features = PM, .n_outputs = 1};
	struct ex_explainer e = {.explain = planted_explain, .userdata = &stride};
	size_t n_ref = 1000;
	double *ref = malloc(n_ref * PM * sizeof(double));
	struct ex_feature_info info[PM];
	double x[PM] = {7, 1, 4, 5};
	char err[EX_ERR_MAX] = "";
	reference_rows(ref, n_ref, PM);
	ck_assert_int_eq(ex_feature_info_from_rows(ref, n_ref, PM, info), 0);
	struct ex_adv_config c = {.seed = 2, .budget = 8000, .jaccard = 0.6};
	struct ex_region *r = NULL;
	int rc = ex_adversarial_search(&f, &e, x, ref, n_ref, info, NULL, &c, &r, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	print_region("relaxed", r);
	ck_assert(r->relaxed && !r->decision_only);
	ck_assert_msg(r->precision >= 0.95, "precision %g", r->precision);
	ck_assert_msg(r->box[2].hi > 9, "c still cut at %g", r->box[2].hi);
	ex_region_free(r);
	free(ref);
}
END_TEST

/* Three classes over a in [0, 10], a categorical k in {0, 1, 2, 3} and a noise feature:
 * class 2 iff a > 5 and k == 2, class 0 iff a <= 5, else class 1. */
static int classes_predict(void *userdata, const double *rows, size_t n, double *out, char *err,
                           size_t err_size)
{
	(void)userdata;
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++) {
		const double *z = rows + i * 3;
		int cls = z[0] <= 5 ? 0 : z[1] == 2 ? 2 : 1;
		for (int g = 0; g < 3; g++)
			out[i * 3 + (size_t)g] = g == cls ? 1 + 0.01 * z[2] : 0;
	}
	return 0;
}

static int classes_explain(void *userdata, const double *z, size_t output, double *phi, char *err,
                           size_t err_size)
{
	(void)userdata;
	if (output != 2) {
		snprintf(err, err_size, "asked for output %zu", output);
		return -EINVAL;
	}
	phi[0] = z[0] > 5 ? 1 : -1;
	phi[1] = z[1] == 2 ? 0.8 : -0.8;
	phi[2] = 0.001;
	return 0;
}

static bool in_class2(const double *z)
{
	return z[0] > 5 && z[1] == 2;
}

START_TEST(ex_adversarial_search_argmax_and_categorical)
{
	struct ex_fn f = {.predict = classes_predict, .n_features = 3, .n_outputs = 3};
	struct ex_explainer e = {.explain = classes_explain};
	struct ex_decision d = {.argmax = true};
	size_t n_ref = 800;
	double *ref = malloc(n_ref * 3 * sizeof(double));
	struct ex_feature_info info[3];
	double x[3] = {7, 2, 5};
	char err[EX_ERR_MAX] = "";
	for (size_t i = 0; i < n_ref; i++) {
		ref[i * 3] = 10 * urand();
		ref[i * 3 + 1] = (double)(test_rand(&rng) % 4);
		ref[i * 3 + 2] = 10 * urand();
	}
	ck_assert_int_eq(ex_feature_info_from_rows(ref, n_ref, 3, info), 0);
	info[1].categorical = true;
	struct ex_adv_config c = {.seed = 3, .budget = 6000};
	struct ex_region *r = NULL;
	int rc = ex_adversarial_search(&f, &e, x, ref, n_ref, info, &d, &c, &r, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	print_region("argmax", r);
	ck_assert_int_eq(r->decision, 2);
	ck_assert_uint_eq(r->output, 2);
	ck_assert_msg(r->precision >= 0.95, "precision %g", r->precision);
	ck_assert(r->box[1].lo == 2 && r->box[1].hi == 2);
	ck_assert(r->box[0].lo > 4.5 && r->box[0].lo < 5.5);
	check_exemplars(r, in_class2);
	/* exemplars keep observed levels: k is 2 exactly */
	for (size_t i = 0; i < r->n_exemplars; i++)
		ck_assert_double_eq(r->exemplars[i * 3 + 1], 2);
	ex_region_free(r);
	/* an explainer error is passed on with its reason */
	d.argmax = false;
	rc = ex_adversarial_search(&f, &e, x, ref, n_ref, info, &d, &c, &r, err, sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(err, "asked for output 0");
	free(ref);
}
END_TEST

/* A diagonal band, no box: approve iff |a - b| < 0.5 (four features in [0, 10]). */
static int band_predict(void *userdata, const double *rows, size_t n, double *out, char *err,
                        size_t err_size)
{
	(void)userdata;
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++)
		out[i] = 0.5 - fabs(rows[i * PM] - rows[i * PM + 1]);
	return 0;
}

static bool in_band(const double *z)
{
	return fabs(z[0] - z[1]) < 0.5;
}

START_TEST(ex_adversarial_search_grows_from_x_when_no_box_fits)
{
	struct ex_fn f = {.predict = band_predict, .n_features = PM, .n_outputs = 1};
	size_t n_ref = 1000;
	double *ref = malloc(n_ref * PM * sizeof(double));
	struct ex_feature_info info[PM];
	double x[PM] = {5, 5.1, 3, 3};
	char err[EX_ERR_MAX] = "";
	rng = 77; /* the same reference rows with and without CK_FORK */
	reference_rows(ref, n_ref, PM);
	ck_assert_int_eq(ex_feature_info_from_rows(ref, n_ref, PM, info), 0);
	struct ex_adv_config c = {.seed = 4, .budget = 6000};
	struct ex_region *r = NULL;
	int rc =
	    ex_adversarial_search(&f, NULL, x, ref, n_ref, info, NULL, &c, &r, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	print_region("band", r);
	ck_assert(r->grown);
	ck_assert_msg(r->precision >= 0.95, "precision %g", r->precision);
	/* the box holds x, lies in the band where it is bounded, and c, d are free */
	for (size_t j = 0; j < PM; j++)
		ck_assert(x[j] >= r->box[j].lo && x[j] <= r->box[j].hi);
	/* sampled growth: the box may cut a corner of the band, not much */
	ck_assert(r->box[0].hi - r->box[1].lo <= 0.75 && r->box[1].hi - r->box[0].lo <= 0.75);
	ck_assert(isinf(r->box[2].lo) && isinf(r->box[2].hi) && isinf(r->box[3].lo) &&
	          isinf(r->box[3].hi));
	check_exemplars(r, in_band);
	ex_region_free(r);
	free(ref);
}
END_TEST

/* ------------------------------------------------------------------ trees */

/* One XGBoost JSON tree from its node arrays (as JSON list bodies). */
static void tree_json(char *buf, size_t size, int id, const char *left, const char *right,
                      const char *cond, const char *idx, const char *hess, int n_nodes)
{
	const char *zeros = n_nodes == 5 ? "0,0,0,0,0" : "0,0,0";
	const char *parents = n_nodes == 5 ? "2147483647,0,0,2,2" : "2147483647,0,0";
	const char *loss = n_nodes == 5 ? "1,0,1,0,0" : "1,0,0";
	snprintf(
	    buf, size,
	    "{\"base_weights\":[%s],\"categories\":[],\"categories_nodes\":[],"
	    "\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[%s],\"id\":%d,"
	    "\"left_children\":[%s],\"right_children\":[%s],\"loss_changes\":[%s],"
	    "\"parents\":[%s],\"split_conditions\":[%s],\"split_indices\":[%s],"
	    "\"split_type\":[%s],\"sum_hessian\":[%s],\"tree_param\":{\"num_deleted\":\"0\","
	    "\"num_feature\":\"4\",\"num_nodes\":\"%d\",\"size_leaf_vector\":\"0\"}}",
	    zeros, zeros, id, left, right, loss, parents, cond, idx, zeros, hess, n_nodes);
}

/* A hand-written XGBoost model: tree 0 "a < 5 ? -1 : (b < 2 ? 3 : -1)", tree 1
 * "c < 8 ? -0.5 : 4", and noise stumps (+-0.001) on a < 3, a < 7.5, b < 1, b < 6, c < 4,
 * d < 5 that cut the plant into cells. Approve iff margin >= 0. */
static char *planted_xgb_json(void)
{
	char trees[8][1024];
	int n = 0;
	/* tree 0: node0 a<5 -> 1 (leaf -1) / 2; node2 b<2 -> 3 (3) / 4 (-1) */
	tree_json(trees[n], sizeof(trees[0]), n, "1,-1,3,-1,-1", "2,-1,4,-1,-1", "5,-1,2,3,-1",
	          "0,0,1,0,0", "100,50,50,10,40", 5);
	n++;
	tree_json(trees[n], sizeof(trees[0]), n, "1,-1,-1", "2,-1,-1", "8,-0.5,4", "2,0,0",
	          "100,80,20", 3);
	n++;
	static const struct {
		int f;
		const char *t;
	} noise[] = {{0, "3"}, {0, "7.5"}, {1, "1"}, {1, "6"}, {2, "4"}, {3, "5"}};
	for (size_t i = 0; i < 6; i++, n++) {
		char cond[64], idx[32];
		snprintf(cond, sizeof(cond), "%s,-0.001,0.001", noise[i].t);
		snprintf(idx, sizeof(idx), "%d,0,0", noise[i].f);
		tree_json(trees[n], sizeof(trees[0]), n, "1,-1,-1", "2,-1,-1", cond, idx,
		          "100,50,50", 3);
	}
	char *s;
	int len = asprintf(
	    &s,
	    "{\"learner\":{\"attributes\":{},\"feature_names\":[\"a\",\"b\",\"c\",\"d\"],"
	    "\"feature_types\":[\"float\",\"float\",\"float\",\"float\"],"
	    "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_trees\":\"8\"},"
	    "\"tree_info\":[0,0,0,0,0,0,0,0],\"trees\":[%s,%s,%s,%s,%s,%s,%s,%s]},"
	    "\"name\":\"gbtree\"},"
	    "\"learner_model_param\":{\"base_score\":\"5E-1\",\"num_class\":\"0\","
	    "\"num_feature\":\"4\",\"num_target\":\"1\"},"
	    "\"objective\":{\"name\":\"binary:logistic\",\"reg_loss_param\":{}}},"
	    "\"version\":[1,7,6]}",
	    trees[0], trees[1], trees[2], trees[3], trees[4], trees[5], trees[6], trees[7]);
	ck_assert_int_gt(len, 0);
	return s;
}

static int treeshap_explain(void *userdata, const double *z, size_t output, double *phi, char *err,
                            size_t err_size)
{
	const struct ex_model *m = userdata;
	double phi_all[64], base[4];
	int rc = ex_treeshap(m, z, phi_all, base);
	if (rc < 0) {
		snprintf(err, err_size, "treeshap failed");
		return rc;
	}
	memcpy(phi, phi_all + output * m->n_features, m->n_features * sizeof(double));
	return 0;
}

static bool in_plant_tree(const double *z)
{
	return z[0] >= 5 && z[1] < 2 && z[2] < 8;
}

START_TEST(ex_adversarial_tree_recovers_planted_region)
{
	char err[EX_ERR_MAX] = "";
	char *json = planted_xgb_json();
	struct ex_model *m = NULL;
	int rc = ex_model_load_buffer(json, strlen(json), EX_FORMAT_AUTO, "planted", &m, err,
	                              sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	free(json);
	size_t n_ref = 500;
	double *ref = malloc(n_ref * PM * sizeof(double));
	struct ex_feature_info info[PM];
	reference_rows(ref, n_ref, PM);
	ck_assert_int_eq(ex_feature_info_from_rows(ref, n_ref, PM, info), 0);
	struct ex_fn model_fn;
	ex_fn_from_model(m, &model_fn);
	struct counter cnt = {.inner = &model_fn};
	struct ex_fn f = {
	    .predict = counting_predict, .userdata = &cnt, .n_features = PM, .n_outputs = 1};
	struct ex_explainer e = {.explain = treeshap_explain, .userdata = m};
	double x[PM] = {7, 1, 4, 5};
	struct ex_adv_config c = {.seed = 1, .budget = 2000};
	struct ex_region *r = NULL;

	rc = ex_adversarial_tree(m, &f, &e, x, ref, n_ref, info, NULL, &c, &r, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	print_region("tree", r);
	double iou = plant_iou(r, PM);
	printf("# IoU %.6f\n", iou);
	ck_assert_str_eq(r->method, "tree-cell");
	ck_assert(r->exact && !r->growth_sampled && !r->budget_exhausted);
	ck_assert_msg(iou >= 0.999, "IoU %g", iou);
	/* exact: every fresh point in the box has P */
	ck_assert_uint_eq(r->eval_hits, r->eval_n);
	ck_assert_double_eq(r->precision, 1);
	/* the rule: a >= 5 (inclusive: XGBoost sends a == 5 right), b <= the float below 2,
	 * c <= the float below 8; d unbounded */
	ck_assert_uint_eq(r->n_rule, 3);
	ck_assert(r->rule[0].feature == 0 && r->rule[0].lo == 5 && r->rule[0].lo_incl &&
	          isinf(r->rule[0].hi));
	ck_assert(r->rule[1].feature == 1 && isinf(r->rule[1].lo) &&
	          r->rule[1].hi == (double)nextafterf(2, 0) && r->rule[1].hi_incl);
	ck_assert(r->rule[2].feature == 2 && r->rule[2].hi == (double)nextafterf(8, 0));
	check_exemplars(r, in_plant_tree);
	ck_assert_uint_le(cnt.rows, 2000);
	ck_assert_uint_eq(cnt.rows, r->model_rows);

	/* decision only: P is "approved", which also holds for c >= 8: the c face grows */
	ex_region_free(r);
	rc =
	    ex_adversarial_tree(m, NULL, NULL, x, ref, n_ref, info, NULL, &c, &r, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	print_region("tree decision only", r);
	ck_assert(r->decision_only && r->exact);
	ck_assert(isinf(r->box[2].hi));
	ck_assert_uint_eq(r->eval_hits, r->eval_n);

	/* same seed, same bits */
	struct ex_region *r2 = NULL;
	rc = ex_adversarial_tree(m, NULL, NULL, x, ref, n_ref, info, NULL, &c, &r2, err,
	                         sizeof(err));
	ck_assert_int_eq(rc, 0);
	ck_assert_mem_eq(r->box, r2->box, PM * sizeof(*r->box));
	ck_assert_mem_eq(r->exemplars, r2->exemplars, r->n_exemplars * PM * sizeof(double));
	ex_region_free(r2);
	ex_region_free(r);

	/* a tiny budget stops the growth and says so */
	c.budget = 17; /* growth needs 22 rows beyond x */
	c.n_eval = 1;
	cnt.rows = 0;
	rc = ex_adversarial_tree(m, &f, &e, x, ref, n_ref, info, NULL, &c, &r, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_le(cnt.rows, 17);
	ck_assert(r->budget_exhausted);
	ex_region_free(r);

	/* a linear model is refused */
	static const char lin[] = "{\"coef\": [1, 2, 3, 4], \"intercept\": 0}";
	struct ex_model *lm = NULL;
	ck_assert_int_eq(
	    ex_model_load_buffer(lin, strlen(lin), EX_FORMAT_AUTO, "lin", &lm, err, sizeof(err)),
	    0);
	rc = ex_adversarial_tree(lm, NULL, NULL, x, ref, n_ref, info, NULL, &c, &r, err,
	                         sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a tree model"));
	ex_model_free(lm);
	ex_model_free(m);
	free(ref);
}
END_TEST

/* ------------------------------------------------------------------ ex_tree_cell */

struct tb {
	struct ex_node *nodes;
	int32_t n, cap;
	size_t M;
	bool lgb;
};

static int32_t tb_add(struct tb *b)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->nodes = realloc(b->nodes, (size_t)b->cap * sizeof(*b->nodes));
	}
	memset(&b->nodes[b->n], 0, sizeof(b->nodes[0]));
	b->nodes[b->n].left = b->nodes[b->n].right = b->nodes[b->n].feature = -1;
	return b->n++;
}

/* Thresholds on a coarse grid so that many trees share them; some at 0 and +-1e-35 for
 * LightGBM's zero rule. */
static int32_t tb_grow(struct tb *b, unsigned depth, unsigned max_depth)
{
	int32_t n = tb_add(b);
	if (depth == max_depth || (depth > 1 && urand() < 0.2)) {
		b->nodes[n].value = urand() - 0.5;
		b->nodes[n].cover = 1 + floor(urand() * 10);
		return n;
	}
	int32_t l = tb_grow(b, depth + 1, max_depth);
	int32_t r = tb_grow(b, depth + 1, max_depth);
	struct ex_node *nd = &b->nodes[n];
	nd->left = l;
	nd->right = r;
	nd->feature = (int32_t)(test_rand(&rng) % b->M);
	nd->default_left = test_rand(&rng) & 1;
	nd->cover = b->nodes[l].cover + b->nodes[r].cover;
	double t = floor(urand() * 20) / 8 - 1.2;
	if (urand() < 0.1)
		t = urand() < 0.5 ? 0 : (urand() < 0.5 ? 1e-35 : -1e-35);
	if (b->lgb) {
		nd->cmp = EX_CMP_LGB_LE;
		nd->threshold = t;
		nd->missing = (uint8_t)(test_rand(&rng) % 3);
	} else {
		nd->cmp = EX_CMP_XGB_LT;
		nd->threshold_f = (float)(t + 0.1); /* not exactly representable in float */
	}
	return n;
}

static struct ex_model *random_trees(size_t M, size_t n_trees, bool lgb)
{
	struct ex_model *m = ex_model_new(lgb ? EX_FORMAT_LIGHTGBM_TEXT : EX_FORMAT_XGBOOST_JSON);
	char err[EX_ERR_MAX];
	m->n_features = M;
	m->n_outputs = 1;
	m->link = EX_LINK_IDENTITY;
	m->output_scale = 1;
	m->base_margin = calloc(1, sizeof(double));
	m->trees = calloc(n_trees, sizeof(*m->trees));
	m->n_trees = n_trees;
	for (size_t t = 0; t < n_trees; t++) {
		struct tb b = {.M = M, .lgb = lgb};
		tb_grow(&b, 0, 4);
		m->trees[t].nodes = b.nodes;
		m->trees[t].n_nodes = b.n;
	}
	ck_assert_msg(ex_model_finish_trees(m, "random", err, sizeof(err)) == 0, "%s", err);
	return m;
}

/* The side of one split, computed here from the format's documented rule. */
static int split_side(const struct ex_node *nd, double v)
{
	if (nd->cmp == EX_CMP_XGB_LT)
		return isnan(v) ? !nd->default_left : !((float)v < nd->threshold_f);
	/* LightGBM */
	if (isnan(v) && nd->missing != EX_MISSING_NAN)
		v = 0;
	if (fabs(v) <= (double)1e-35f)
		v = 0;
	if (nd->missing == EX_MISSING_ZERO && v == 0)
		return !nd->default_left;
	if (nd->missing == EX_MISSING_NAN && isnan(v))
		return !nd->default_left;
	return !(v <= nd->threshold);
}

static bool in_range(const struct ex_region_bound *b, double v)
{
	if (b->missing)
		return isnan(v);
	return (isinf(b->lo) || (b->lo_incl ? v >= b->lo : v > b->lo)) &&
	       (isinf(b->hi) || (b->hi_incl ? v <= b->hi : v < b->hi));
}

static double lowest(const struct ex_region_bound *b)
{
	return b->lo_incl ? b->lo : nextafter(b->lo, INFINITY);
}

static double highest(const struct ex_region_bound *b)
{
	return b->hi_incl ? b->hi : nextafter(b->hi, -INFINITY);
}

START_TEST(ex_tree_cell_holds_no_threshold)
{
	for (int trial = 0; trial < 40; trial++) {
		bool lgb = trial % 2;
		size_t M = 3 + (size_t)(trial % 5);
		struct ex_model *m = random_trees(M, 5 + (size_t)trial, lgb);
		struct ex_region_bound box[8];
		for (int row = 0; row < 20; row++) {
			double x[8], z[8], mx, mz;
			for (size_t j = 0; j < M; j++) {
				/* often exactly on a threshold */
				x[j] = floor(urand() * 24) / 8 - 1.2 + (lgb ? 0 : 0.1);
				if (!lgb && urand() < 0.5)
					x[j] = (double)(float)x[j];
				if (urand() < 0.05)
					x[j] = urand() < 0.5 ? 0 : 1e-36;
				if (urand() < 0.05)
					x[j] = NAN;
			}
			ck_assert_int_eq(ex_tree_cell(m, x, box), 0);
			/* x is inside; every split on j sends lo, hi and x the same way; just
			 * outside a finite bound some split on j changes side (the bound is the
			 * nearest one) */
			for (size_t j = 0; j < M; j++) {
				const struct ex_region_bound *b = &box[j];
				ck_assert_uint_eq(b->feature, j);
				if (isnan(x[j])) {
					ck_assert(b->missing);
					continue;
				}
				ck_assert(!isinf(b->lo) ? lowest(b) <= x[j] : !b->lo_incl);
				ck_assert(!isinf(b->hi) ? highest(b) >= x[j] : !b->hi_incl);
				bool out_lo = isinf(b->lo), out_hi = isinf(b->hi);
				for (size_t t = 0; t < m->n_trees; t++)
					for (int32_t k = 0; k < m->trees[t].n_nodes; k++) {
						const struct ex_node *nd = &m->trees[t].nodes[k];
						if (nd->cmp == EX_CMP_LEAF ||
						    (size_t)nd->feature != j)
							continue;
						int sx = split_side(nd, x[j]);
						double lo = isinf(b->lo) ? -1e300 : lowest(b);
						double hi = isinf(b->hi) ? 1e300 : highest(b);
						ck_assert_msg(split_side(nd, lo) == sx &&
						                  split_side(nd, hi) == sx,
						              "trial %d feature %zu: a threshold "
						              "inside [%.17g, %.17g]",
						              trial, j, lo, hi);
						if (!isinf(b->lo))
							out_lo |=
							    split_side(nd,
							               nextafter(lo, -INFINITY)) !=
							        sx ||
							    split_side(nd, lgb ? lo
							                       : (double)nextafterf(
							                             (float)lo,
							                             -INFINITY)) !=
							        sx;
						if (!isinf(b->hi))
							out_hi |=
							    split_side(nd,
							               nextafter(hi, INFINITY)) !=
							        sx ||
							    split_side(nd, lgb ? hi
							                       : (double)nextafterf(
							                             (float)hi,
							                             INFINITY)) !=
							        sx;
					}
				ck_assert_msg(out_lo && out_hi,
				              "trial %d feature %zu: a bound is not a threshold",
				              trial, j);
			}
			/* every sampled row in the box has x's prediction, bit for bit */
			ck_assert_int_eq(ex_predict_margin(m, x, NULL, &mx), 0);
			for (int s = 0; s < 50; s++) {
				for (size_t j = 0; j < M; j++) {
					const struct ex_region_bound *b = &box[j];
					if (b->missing) {
						z[j] = NAN;
						continue;
					}
					double lo = isinf(b->lo) ? -1e6 : lowest(b);
					double hi = isinf(b->hi) ? 1e6 : highest(b);
					double u = urand();
					z[j] = s % 5 == 0   ? lo
					       : s % 5 == 1 ? hi
					                    : lo + u * (hi - lo);
					if (z[j] > hi)
						z[j] = hi;
				}
				ck_assert_int_eq(ex_predict_margin(m, z, NULL, &mz), 0);
				ck_assert_msg(memcmp(&mx, &mz, sizeof(double)) == 0,
				              "trial %d: prediction %.17g in the cell, %.17g at x",
				              trial, mz, mx);
			}
		}
		ex_model_free(m);
	}
	double x[2] = {0, 0};
	struct ex_region_bound box[2];
	ck_assert_int_eq(ex_tree_cell(NULL, x, box), -EINVAL);
}
END_TEST

START_TEST(ex_adversarial_tree_random_ensembles_are_exact)
{
	/* random XGBoost and LightGBM ensembles: an exact grown box must hold x's decision and
	 * signed top-k at every point, checked here on points drawn independently of the
	 * library's sampler, including the boxes' extreme corners */
	size_t n_exact = 0;
	for (int trial = 0; trial < 16; trial++) {
		bool lgb = trial % 2;
		size_t M = 3 + (size_t)(trial % 3);
		struct ex_model *m = random_trees(M, 4 + (size_t)(trial % 4), lgb);
		size_t n_ref = 200;
		double *ref = malloc(n_ref * M * sizeof(double));
		struct ex_feature_info info[8];
		for (size_t i = 0; i < n_ref * M; i++)
			ref[i] = 3 * urand() - 1.5;
		ck_assert_int_eq(ex_feature_info_from_rows(ref, n_ref, M, info), 0);
		struct ex_explainer e = {.explain = treeshap_explain, .userdata = m};
		struct ex_adv_config c = {.seed = (uint64_t)trial, .budget = 4000, .n_eval = 100};
		double x[8], z[8], phi[8];
		for (size_t j = 0; j < M; j++)
			x[j] = 3 * urand() - 1.5;
		char err[EX_ERR_MAX] = "";
		struct ex_region *r = NULL;
		int rc = ex_adversarial_tree(m, NULL, trial % 4 < 2 ? &e : NULL, x, ref, n_ref,
		                             info, NULL, &c, &r, err, sizeof(err));
		ck_assert_msg(rc == 0, "%s", err);
		int sx[8], sz[8];
		double mx, mz;
		ck_assert_int_eq(ex_predict_margin(m, x, NULL, &mx), 0);
		ex_treeshap(m, x, phi, &mz);
		ex_signed_topk(phi, M, r->k ? r->k : 1, sx);
		for (size_t j = 0; j < M; j++)
			ck_assert(in_range(&r->box[j], x[j]));
		if (!r->exact) {
			ex_region_free(r);
			free(ref);
			ex_model_free(m);
			continue;
		}
		n_exact++;
		ck_assert_uint_eq(r->eval_hits, r->eval_n);
		for (int s = 0; s < 300; s++) {
			for (size_t j = 0; j < M; j++) {
				const struct ex_region_bound *b = &r->box[j];
				double lo = isinf(b->lo) ? -5 : lowest(b),
				       hi = isinf(b->hi) ? 5 : highest(b);
				z[j] = s % 3 == 0 ? lo : s % 3 == 1 ? hi : lo + urand() * (hi - lo);
				if (z[j] > hi)
					z[j] = hi;
			}
			ck_assert_int_eq(ex_predict_margin(m, z, NULL, &mz), 0);
			ck_assert_msg((mz >= 0) == (mx >= 0),
			              "trial %d: decision changes in the box", trial);
			if (r->decision_only)
				continue;
			ck_assert_int_eq(ex_treeshap(m, z, phi, &mz), 0);
			ex_signed_topk(phi, M, r->k, sz);
			ck_assert_msg(memcmp(sx, sz, r->k * sizeof(int)) == 0,
			              "trial %d: top-k changes in the box", trial);
		}
		ex_region_free(r);
		free(ref);
		ex_model_free(m);
	}
	printf("# %zu of 16 random boxes exact\n", n_exact);
	ck_assert_uint_ge(n_exact, 4); /* the rest grew past 64 cells: sampled */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("explain_adversarial");
	TCase *tc;

	tc = tcase_create("ex_wilson_interval");
	tcase_add_test(tc, ex_wilson_interval_matches_closed_forms);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_adversarial_search");
	tcase_add_test(tc, ex_adversarial_search_recovers_planted_region);
	tcase_add_test(tc, ex_adversarial_search_decision_only_and_irrelevant_features);
	tcase_add_test(tc, ex_adversarial_search_same_seed_same_bits);
	tcase_add_test(tc, ex_adversarial_search_respects_budget);
	tcase_add_test(tc, ex_adversarial_search_relaxed_signature);
	tcase_add_test(tc, ex_adversarial_search_argmax_and_categorical);
	tcase_add_test(tc, ex_adversarial_search_grows_from_x_when_no_box_fits);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_adversarial_tree");
	tcase_add_test(tc, ex_adversarial_tree_recovers_planted_region);
	tcase_add_test(tc, ex_adversarial_tree_random_ensembles_are_exact);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_tree_cell");
	tcase_add_test(tc, ex_tree_cell_holds_no_threshold);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
