/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the confidence score (daemon/explain/METHODS.md §7): its components against cases
 * whose answer is known (exact methods give 1, a tie straddling rank k gives 1/2), the gates, the
 * flip cap and bit-for-bit replay. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "explain.h"
#include "testutil.h"

/* A linear model f = w . x and its exact Shapley values against a zero background. */
struct linear {
	double w[6];
	size_t M;
};

static int linear_predict(void *ud, const double *rows, size_t n, double *out, char *err,
                          size_t err_size)
{
	const struct linear *l = ud;
	(void)err;
	(void)err_size;
	for (size_t i = 0; i < n; i++) {
		out[i] = 0;
		for (size_t j = 0; j < l->M; j++)
			out[i] += l->w[j] * rows[i * l->M + j];
	}
	return 0;
}

static int linear_explain(void *ud, const double *x, size_t output, double *phi, char *err,
                          size_t err_size)
{
	const struct linear *l = ud;
	(void)output;
	(void)err;
	(void)err_size;
	for (size_t j = 0; j < l->M; j++)
		phi[j] = l->w[j] * x[j];
	return 0;
}

START_TEST(test_p_est)
{
	double phi[4] = {3, 2, 1, 1}, se0[4] = {0}, se[4] = {0, 0, 0.3, 0.3}, p, q;

	ck_assert_int_eq(ex_confidence_p_est(phi, NULL, 4, 3, 0, 1, &p), 0);
	ck_assert_double_eq(p, 1);
	ck_assert_int_eq(ex_confidence_p_est(phi, se0, 4, 3, 0, 1, &p), 0);
	ck_assert_double_eq(p, 1);
	/* features 2 and 3 tie at rank 3: each wins half the draws */
	ck_assert_int_eq(ex_confidence_p_est(phi, se, 4, 3, 4000, 7, &p), 0);
	ck_assert_double_ge(p, 0.45);
	ck_assert_double_le(p, 0.55);
	ck_assert_int_eq(ex_confidence_p_est(phi, se, 4, 3, 4000, 7, &q), 0);
	ck_assert_mem_eq(&p, &q, sizeof(p));
	/* far apart relative to the errors: always reproduced */
	double far[4] = {30, -20, 10, 0.1}, small[4] = {0.5, 0.5, 0.5, 0.5};
	ck_assert_int_eq(ex_confidence_p_est(far, small, 4, 3, 0, 7, &p), 0);
	ck_assert_double_ge(p, 0.999);
	ck_assert_int_eq(ex_confidence_p_est(far, small, 4, 6, 0, 7, &p), -EINVAL);
}
END_TEST

START_TEST(test_agreement)
{
	double a[5] = {5, -4, 3, 0.1, 0}, b[5] = {4, -5, 3, 0.2, 0}, c[5] = {5, 4, 3, 0, 0};
	double d[5] = {5, -4, 0, 0, 3};

	ck_assert_double_eq(ex_confidence_agreement(a, a, 5, 3), 1);
	/* order inside the top-k does not matter */
	ck_assert_double_eq(ex_confidence_agreement(a, b, 5, 3), 1);
	/* a sign flip or a different member costs 1/k each */
	ck_assert_double_eq_tol(ex_confidence_agreement(a, c, 5, 3), 2.0 / 3, 1e-15);
	ck_assert_double_eq_tol(ex_confidence_agreement(a, d, 5, 3), 2.0 / 3, 1e-15);
}
END_TEST

START_TEST(test_p_noise)
{
	struct linear l = {.w = {4, -2, 1, 0.5, 0.25, 0.1}, .M = 6};
	struct ex_fn f = {
	    .predict = linear_predict, .userdata = &l, .n_features = 6, .n_outputs = 1};
	struct ex_explainer e = {.explain = linear_explain, .userdata = &l};
	struct ex_decision d = {.threshold = 0};
	struct ex_feature_info info[6];
	double x[6] = {1, -1, 1, 1, 1, 1}, phi[6], p, q;
	size_t used;
	struct ex_noise_config c = {.seed = 3, .neighbours = 32};
	char err[128];

	for (size_t j = 0; j < 6; j++)
		info[j] = (struct ex_feature_info){.min = NAN, .max = NAN, .mad = 0.1};
	linear_explain(&l, x, 0, phi, NULL, 0);
	/* well separated contributions, small noise: every neighbour reproduces T */
	ck_assert_int_eq(
	    ex_confidence_p_noise(&f, &e, &d, x, phi, 0, info, &c, &p, &used, err, sizeof(err)), 0);
	ck_assert_double_eq(p, 1);
	ck_assert_uint_eq(used, 32);
	/* phi = {4, -3, 1, 1, 0, 0}: two equal contributions straddle rank 3 and noise swaps them
	 * about half the time */
	double y[6] = {1, 1.5, 1, 2, 0, 0};
	linear_explain(&l, y, 0, phi, NULL, 0);
	info[2].mad = info[3].mad = 10;
	c.neighbours = 200;
	c.kmax = 3;
	ck_assert_int_eq(
	    ex_confidence_p_noise(&f, &e, &d, y, phi, 0, info, &c, &p, &used, err, sizeof(err)), 0);
	ck_assert_uint_eq(used, 200);
	ck_assert_double_ge(p, 0.35);
	ck_assert_double_le(p, 0.65);
	ck_assert_int_eq(
	    ex_confidence_p_noise(&f, &e, &d, y, phi, 0, info, &c, &q, &used, err, sizeof(err)), 0);
	ck_assert_mem_eq(&p, &q, sizeof(p));
	/* immutable features get no noise: with both immutable nothing moves */
	info[2].immutable = info[3].immutable = true;
	ck_assert_int_eq(
	    ex_confidence_p_noise(&f, &e, &d, y, phi, 0, info, &c, &p, &used, err, sizeof(err)), 0);
	ck_assert_double_eq(p, 1);
	/* a row on the threshold: neighbours with the other decision do not count */
	double z[6] = {0, 0, 0, 0, 0, 0};
	for (size_t j = 0; j < 6; j++)
		info[j] = (struct ex_feature_info){.min = NAN, .max = NAN, .mad = 1};
	linear_explain(&l, z, 0, phi, NULL, 0);
	c.neighbours = 32;
	ck_assert_int_eq(
	    ex_confidence_p_noise(&f, &e, &d, z, phi, 0, info, &c, &p, &used, err, sizeof(err)), 0);
	ck_assert_uint_lt(used, 128);
	ck_assert_uint_gt(used, 0);
	ck_assert_int_eq(
	    ex_confidence_p_noise(&f, &e, &d, z, phi, 1, info, &c, &p, &used, err, sizeof(err)),
	    -EINVAL);
}
END_TEST

START_TEST(test_combine)
{
	struct ex_confidence_parts p = {.p_est = 1,
	                                .p_noise = 1,
	                                .a_method = 1,
	                                .residual = 0,
	                                .residual_limit = 1e-9,
	                                .deterministic = true,
	                                .score_matches = true,
	                                .golden_ok = true};
	struct ex_confidence c;

	ex_confidence_combine(&p, &c);
	ck_assert_double_eq(c.c, 1);
	ck_assert(c.gate);
	p.p_est = 0.9;
	p.p_noise = 0.5;
	p.a_method = 2.0 / 3;
	ex_confidence_combine(&p, &c);
	ck_assert_double_eq_tol(c.c, 0.3, 1e-15);
	ck_assert(!c.capped);
	p.p_noise = 1;
	p.fragile = true;
	ex_confidence_combine(&p, &c);
	ck_assert_double_eq(c.c, EX_CONF_FRAGILE_CAP);
	ck_assert(c.capped);
	ck_assert(c.fragile);
	p.fragile = false;
	p.residual = 1e-6;
	p.deterministic = false;
	ex_confidence_combine(&p, &c);
	ck_assert_double_eq(c.c, 0);
	ck_assert_uint_eq(c.gates_failed, EX_GATE_EFFICIENCY | EX_GATE_DETERMINISTIC);
	p.residual = NAN;
	p.deterministic = true;
	ex_confidence_combine(&p, &c);
	ck_assert_uint_eq(c.gates_failed, EX_GATE_EFFICIENCY);
	ck_assert_ptr_nonnull(strstr(ex_confidence_meaning, "probability"));
}
END_TEST

START_TEST(test_residual_limit)
{
	double se[3] = {0.3, 0.4, 0};

	ck_assert_double_eq(ex_confidence_residual_limit(true, se, 3, 9), 1e-8);
	ck_assert_double_eq_tol(ex_confidence_residual_limit(false, se, 3, 9), 1.5, 1e-15);
	ck_assert_double_eq(ex_confidence_residual_limit(false, NULL, 3, 0), 1e-9);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("explain_confidence");
	TCase *tc = tcase_create("ex_confidence_p_est");

	tcase_add_test(tc, test_p_est);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_confidence_agreement");
	tcase_add_test(tc, test_agreement);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_confidence_p_noise");
	tcase_add_test(tc, test_p_noise);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_confidence_combine");
	tcase_add_test(tc, test_combine);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_confidence_residual_limit");
	tcase_add_test(tc, test_residual_limit);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
