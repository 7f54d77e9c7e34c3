/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for LIME: the bins against an independent percentile computation; a model that
 * is linear in x's bin indicators is recovered exactly (no selection, alpha -> 0); a model
 * ignoring a feature gives it a coefficient within noise; selection finds the planted
 * features; the same seed is bit-identical. The ridge solve against LAPACKE_dposv is in
 * test_explain_lapack.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lime_internal.h"
#include "model.h"
#include "testutil.h"

static uint64_t rng = 777;

static double urand(void)
{
	return (double)(test_rand(&rng) >> 11) / 9007199254740992.0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Background: features 0..M-2 uniform on [0, 10), the last a category 0..3. */
static double *background(size_t n, size_t M)
{
	double *bg = malloc(n * M * sizeof(double));
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < M; j++)
			bg[i * M + j] = j + 1 == M ? (double)(test_rand(&rng) % 4) : urand() * 10;
	return bg;
}

/* f = c0 + sum_j c_j [bin_j(row) == bin_j(x0)]: linear in LIME's indicators */
struct binmodel {
	const struct ex_lime_bins *bins;
	const double *x0;
	const double *c; /* M + 1 */
	size_t M;
};

static int bin_predict(void *ud, const double *rows, size_t n, double *out, char *err,
                       size_t err_size)
{
	const struct binmodel *b = ud;
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++) {
		double s = b->c[0];
		for (size_t j = 0; j < b->M; j++)
			s += b->c[j + 1] * (ex_lime_bin_of(b->bins, j, rows[i * b->M + j]) ==
			                    ex_lime_bin_of(b->bins, j, b->x0[j]));
		out[i * 2] = s;
		out[i * 2 + 1] = -s; /* a second output, to check `output` */
	}
	return 0;
}

/* f = 3 x0 - 2 x1 + 0 x2 + 0 x3 (raw values) */
static int lin_predict(void *ud, const double *rows, size_t n, double *out, char *err,
                       size_t err_size)
{
	(void)ud;
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++)
		out[i] = 3 * rows[i * 4] - 2 * rows[i * 4 + 1];
	return 0;
}

/* ------------------------------------------------------------------ ex_lime_bins_fit */

START_TEST(ex_lime_bins_fit_quartiles)
{
	size_t n = 101, M = 3;
	double *bg = background(n, M), col[101];
	struct ex_feature_info info[3] = {{0}, {0}, {.categorical = true}};
	struct ex_lime_bins *b;
	char err[EX_ERR_MAX];

	ck_assert_msg(ex_lime_bins_fit(bg, n, M, info, &b, err, sizeof(err)) == 0, "%s", err);
	for (size_t j = 0; j < 2; j++) {
		for (size_t i = 0; i < n; i++)
			col[i] = bg[i * M + j];
		qsort(col, n, sizeof(double), cmp_double);
		/* n = 101: the quartiles are exactly the order statistics 25, 50, 75 */
		double q[3] = {col[25], col[50], col[75]};
		ck_assert_int_eq(ex_lime_bin_of(b, j, q[0]), 0); /* an edge is in the lower bin */
		ck_assert_int_eq(ex_lime_bin_of(b, j, nextafter(q[0], INFINITY)), 1);
		ck_assert_int_eq(ex_lime_bin_of(b, j, q[1]), 1);
		ck_assert_int_eq(ex_lime_bin_of(b, j, nextafter(q[1], INFINITY)), 2);
		ck_assert_int_eq(ex_lime_bin_of(b, j, q[2]), 2);
		ck_assert_int_eq(ex_lime_bin_of(b, j, nextafter(q[2], INFINITY)), 3);
		ck_assert_int_eq(ex_lime_bin_of(b, j, -1e300), 0);
		ck_assert_int_eq(ex_lime_bin_of(b, j, 1e300), 3);
		ck_assert_int_eq(ex_lime_bin_of(b, j, NAN), -1);
	}
	/* categorical: one bin per observed level, unseen levels -1 */
	int seen[4] = {0};
	for (int lv = 0; lv < 4; lv++) {
		int k = ex_lime_bin_of(b, 2, lv);
		ck_assert(k >= 0 && k < 4 && !seen[k]);
		seen[k] = 1;
	}
	ck_assert_int_eq(ex_lime_bin_of(b, 2, 7), -1);
	ex_lime_bins_free(b);
	bg[0 * M + 1] = NAN;
	for (size_t i = 0; i < n; i++)
		bg[i * M + 1] = NAN;
	ck_assert_int_eq(ex_lime_bins_fit(bg, n, M, info, &b, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "feature 1"));
	free(bg);
}
END_TEST

/* ------------------------------------------------------------------ ex_lime */

START_TEST(ex_lime_recovers_bin_model)
{
	size_t n = 400, M = 5;
	double *bg = background(n, M);
	struct ex_feature_info info[5] = {{0}};
	struct ex_lime_bins *b;
	char err[EX_ERR_MAX];
	double c[6] = {0.7, 2.0, -1.5, 0.0, 0.25, 3.0};

	info[4].categorical = true;
	ck_assert_int_eq(ex_lime_bins_fit(bg, n, M, info, &b, err, sizeof(err)), 0);
	double x0[5] = {1.0, 5.5, 9.0, 3.3, 2};
	struct binmodel bm = {.bins = b, .x0 = x0, .c = c, .M = M};
	struct ex_fn f = {.predict = bin_predict, .userdata = &bm, .n_features = M, .n_outputs = 2};
	struct ex_lime_config cfg = {.seed = 1,
	                             .n_samples = 3000,
	                             .selection = EX_LIME_NONE,
	                             .alpha = 1e-10,
	                             .n_repeats = 3};
	struct ex_lime_result r;
	ck_assert_msg(ex_lime(&f, b, x0, &cfg, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(r.n_selected, M);
	for (size_t j = 0; j < M; j++)
		ck_assert_msg(fabs(r.coef[j] - c[j + 1]) <= 1e-6, "coef %zu: %.17g vs %g", j,
		              r.coef[j], c[j + 1]);
	ck_assert(fabs(r.intercept - c[0]) <= 1e-6);
	ck_assert(r.r2 > 1 - 1e-9);
	ck_assert(fabs(r.local_pred - r.fx) <= 1e-6);
	ck_assert(fabs(r.fx - (0.7 + 2 - 1.5 + 0.25 + 3)) <= 1e-12);
	ck_assert(r.jaccard == 1 && r.vsi == 100);
	ck_assert_msg(r.csi == 100, "csi %g", r.csi);
	ck_assert(r.sign_flip[0] == 0 && r.coef_cv[0] < 1e-6);
	ck_assert_uint_eq(r.model_rows, 3 * 3000);
	ex_lime_result_free(&r);
	/* output 1 is -f */
	cfg.output = 1;
	cfg.n_repeats = 1;
	ck_assert_int_eq(ex_lime(&f, b, x0, &cfg, &r, err, sizeof(err)), 0);
	ck_assert(fabs(r.coef[0] + 2.0) <= 1e-6);
	ex_lime_result_free(&r);
	cfg.output = 2;
	ck_assert_int_eq(ex_lime(&f, b, x0, &cfg, &r, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "output 2"));
	ex_lime_bins_free(b);
	free(bg);
}
END_TEST

START_TEST(ex_lime_ignored_feature_within_noise)
{
	size_t n = 500, M = 4;
	double *bg = background(n, M);
	struct ex_lime_bins *b;
	char err[EX_ERR_MAX];
	struct ex_fn f = {.predict = lin_predict, .n_features = M, .n_outputs = 1};
	double x[4] = {2.0, 7.0, 4.0, 1};

	ck_assert_int_eq(ex_lime_bins_fit(bg, n, M, NULL, &b, err, sizeof(err)), 0);
	struct ex_lime_config cfg = {.seed = 99, .selection = EX_LIME_NONE, .n_repeats = 5};
	struct ex_lime_result r;
	ck_assert_msg(ex_lime(&f, b, x, &cfg, &r, err, sizeof(err)) == 0, "%s", err);
	/* x0 low helps... 3 x0 in its bottom quartile: indicator coefficient negative */
	ck_assert(r.coef[0] < -3 && r.coef[1] < -3);
	for (size_t j = 2; j < 4; j++) {
		ck_assert_msg(fabs(r.coef[j]) <= 4 * r.coef_se[j] + 1e-9, "coef %zu = %g, se %g", j,
		              r.coef[j], r.coef_se[j]);
		ck_assert(fabs(r.coef[j]) < 0.1 * fabs(r.coef[0]));
	}
	ck_assert(r.sign_flip[0] == 0 && r.sign_flip[1] == 0);
	ck_assert(r.coef_cv[0] < 0.1);
	ck_assert(r.coef_cv[0] > 0); /* the repeats use different seeds */
	ck_assert(r.r2 > 0.3 && r.r2 <= 1);
	ex_lime_result_free(&r);
	ex_lime_bins_free(b);
	free(bg);
}
END_TEST

START_TEST(ex_lime_selection_finds_planted)
{
	size_t n = 400, M = 8;
	double *bg = background(n, M);
	struct ex_lime_bins *b;
	char err[EX_ERR_MAX];
	double c[9] = {0, 0.1, 4, 0, -3, 0.05, 0, 0, 0};
	double x0[8] = {1, 2, 3, 4, 5, 6, 7, 2};

	ck_assert_int_eq(ex_lime_bins_fit(bg, n, M, NULL, &b, err, sizeof(err)), 0);
	struct binmodel bm = {.bins = b, .x0 = x0, .c = c, .M = M};
	struct ex_fn f = {.predict = bin_predict, .userdata = &bm, .n_features = M, .n_outputs = 2};
	enum ex_lime_selection sels[3] = {EX_LIME_AUTO, EX_LIME_FORWARD, EX_LIME_HIGHEST_WEIGHTS};
	for (int s = 0; s < 3; s++) {
		struct ex_lime_config cfg = {.seed = 5,
		                             .n_samples = 2000,
		                             .n_select = 2,
		                             .selection = sels[s],
		                             .n_repeats = 4};
		struct ex_lime_result r;
		ck_assert_msg(ex_lime(&f, b, x0, &cfg, &r, err, sizeof(err)) == 0, "%s", err);
		ck_assert_uint_eq(r.n_selected, 2);
		ck_assert_uint_eq(r.selected[0], 1); /* the strongest first for forward selection */
		ck_assert_uint_eq(r.selected[1], 3);
		for (size_t j = 0; j < M; j++)
			if (j != 1 && j != 3)
				ck_assert(r.coef[j] == 0);
		ck_assert(r.jaccard == 1);
		ex_lime_result_free(&r);
	}
	ex_lime_bins_free(b);
	free(bg);
}
END_TEST

START_TEST(ex_lime_same_seed_bit_identical)
{
	size_t n = 300, M = 4;
	double *bg = background(n, M);
	struct ex_lime_bins *b;
	char err[EX_ERR_MAX];
	struct ex_fn f = {.predict = lin_predict, .n_features = M, .n_outputs = 1};
	double x[4] = {5, 5, 5, 2};
	struct ex_lime_result r1, r2, r3;

	ck_assert_int_eq(ex_lime_bins_fit(bg, n, M, NULL, &b, err, sizeof(err)), 0);
	struct ex_lime_config cfg = {.seed = 1234, .n_samples = 1000, .n_select = 3};
	ck_assert_int_eq(ex_lime(&f, b, x, &cfg, &r1, err, sizeof(err)), 0);
	ck_assert_int_eq(ex_lime(&f, b, x, &cfg, &r2, err, sizeof(err)), 0);
	ck_assert(memcmp(r1.coef, r2.coef, M * sizeof(double)) == 0);
	ck_assert(memcmp(r1.coef_se, r2.coef_se, M * sizeof(double)) == 0);
	ck_assert(memcmp(r1.coef_cv, r2.coef_cv, M * sizeof(double)) == 0);
	ck_assert(memcmp(&r1.intercept, &r2.intercept, sizeof(double)) == 0);
	ck_assert(memcmp(&r1.jaccard, &r2.jaccard, sizeof(double)) == 0);
	ck_assert(memcmp(&r1.csi, &r2.csi, sizeof(double)) == 0);
	ck_assert_uint_eq(r1.n_repeats, 10);
	ck_assert(r1.jaccard >= 0 && r1.jaccard <= 1 && r1.vsi >= 0 && r1.vsi <= 100);
	cfg.seed = 1235;
	ck_assert_int_eq(ex_lime(&f, b, x, &cfg, &r3, err, sizeof(err)), 0);
	ck_assert(memcmp(r1.coef, r3.coef, M * sizeof(double)) != 0);
	ex_lime_result_free(&r1);
	ex_lime_result_free(&r2);
	ex_lime_result_free(&r3);
	ex_lime_bins_free(b);
	free(bg);
}
END_TEST

/* noise: a hash of the row's bits, no structure for LIME to find */
static int noise_predict(void *ud, const double *rows, size_t n, double *out, char *err,
                         size_t err_size)
{
	(void)ud;
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++) {
		uint64_t h = 1469598103934665603u;
		for (size_t j = 0; j < 4; j++) {
			uint64_t u;
			memcpy(&u, &rows[i * 4 + j], sizeof(u));
			h = (h ^ u) * 1099511628211u;
		}
		out[i] = (double)(h >> 11) / 9007199254740992.0;
	}
	return 0;
}

START_TEST(ex_lime_adaptive_samples)
{
	size_t n = 300, M = 4;
	double *bg = background(n, M), x[4] = {5, 5, 5, 2};
	struct ex_lime_bins *b;
	char err[EX_ERR_MAX];
	struct ex_lime_result r;

	ck_assert_int_eq(ex_lime_bins_fit(bg, n, M, NULL, &b, err, sizeof(err)), 0);
	/* noise never stabilises: 500, 1000, 2000 samples, then "unstable" */
	struct ex_fn fn = {.predict = noise_predict, .n_features = M, .n_outputs = 1};
	struct ex_lime_config cfg = {
	    .seed = 3, .n_samples = 500, .max_samples = 2000, .n_select = 2, .n_repeats = 3};
	ck_assert_int_eq(ex_lime(&fn, b, x, &cfg, &r, err, sizeof(err)), 0);
	ck_assert_msg(!r.stable && r.jaccard < 0.8, "jaccard %g", r.jaccard);
	ck_assert_uint_eq(r.n_samples, 2000);
	ck_assert_uint_eq(r.model_rows, 3 * (500 + 1000 + 2000));
	ex_lime_result_free(&r);
	/* a clear linear model is stable at once */
	struct ex_fn fl = {.predict = lin_predict, .n_features = M, .n_outputs = 1};
	ck_assert_int_eq(ex_lime(&fl, b, x, &cfg, &r, err, sizeof(err)), 0);
	ck_assert(r.stable && r.jaccard >= 0.8);
	ck_assert_uint_eq(r.n_samples, 500);
	ck_assert_uint_eq(r.model_rows, 3 * 500);
	ex_lime_result_free(&r);
	ex_lime_bins_free(b);
	free(bg);
}
END_TEST

static Suite *lime_suite(void)
{
	Suite *s = suite_create("explain_lime");
	TCase *tc;

	tc = tcase_create("ex_lime_bins_fit");
	tcase_add_test(tc, ex_lime_bins_fit_quartiles);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_lime");
	tcase_add_test(tc, ex_lime_recovers_bin_model);
	tcase_add_test(tc, ex_lime_ignored_feature_within_noise);
	tcase_add_test(tc, ex_lime_selection_finds_planted);
	tcase_add_test(tc, ex_lime_same_seed_bit_identical);
	tcase_add_test(tc, ex_lime_adaptive_samples);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(lime_suite());
}
