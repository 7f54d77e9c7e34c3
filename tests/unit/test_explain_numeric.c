/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the explain library's numeric kernels and small helpers: the random number
 * generator against an independent (Python big-integer) implementation of splitmix64 and
 * xoshiro256** and against its distributions; Cholesky's conditioning checks; decisions, signed
 * top-k sets and feature facts against hand-computed values. Cholesky and its solve against
 * LAPACK are in test_explain_lapack.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "linalg.h"
#include "rng.h"
#include "testutil.h"

/* ------------------------------------------------------------------ rng */

START_TEST(test_rng_next_reference)
{
	/* first outputs for seeds 0 and 42, from a Python re-implementation with big integers */
	static const uint64_t want0[4] = {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull,
	                                  0x1a5f849d4933e6e0ull, 0x6aa594f1262d2d2cull};
	static const uint64_t want42[4] = {0x15780b2e0c2ec716ull, 0x6104d9866d113a7eull,
	                                   0xae17533239e499a1ull, 0xecb8ad4703b360a1ull};
	struct ex_rng r;

	ex_rng_seed(&r, 0);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(ex_rng_next(&r), want0[i]);
	ex_rng_seed(&r, 42);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(ex_rng_next(&r), want42[i]);
}
END_TEST

START_TEST(test_rng_uniform_and_normal)
{
	struct ex_rng r;
	double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
	const int n = 200000;

	ex_rng_seed(&r, 7);
	for (int i = 0; i < n; i++) {
		double u = ex_rng_uniform(&r);
		ck_assert(u >= 0 && u < 1);
		sum += u;
		sum2 += u * u;
		double z = ex_rng_normal(&r);
		ck_assert(isfinite(z));
		nsum += z;
		nsum2 += z * z;
	}
	/* mean 1/2, variance 1/12; normal mean 0, variance 1: 6 standard errors */
	ck_assert_double_le(fabs(sum / n - 0.5), 6 * sqrt(1.0 / 12 / n));
	ck_assert_double_le(fabs(sum2 / n - sum / n * (sum / n) - 1.0 / 12), 0.002);
	ck_assert_double_le(fabs(nsum / n), 6 / sqrt(n));
	ck_assert_double_le(fabs(nsum2 / n - 1), 6 * sqrt(2.0 / n));
}
END_TEST

START_TEST(test_rng_below_and_shuffle)
{
	struct ex_rng r;
	size_t count[7] = {0}, first[5] = {0}, idx[5];
	const int n = 70000;

	ex_rng_seed(&r, 9);
	for (int i = 0; i < n; i++) {
		uint64_t v = ex_rng_below(&r, 7);
		ck_assert_uint_lt(v, 7);
		count[v]++;
	}
	double chi2 = 0;
	for (int k = 0; k < 7; k++)
		chi2 += (count[k] - n / 7.0) * (count[k] - n / 7.0) / (n / 7.0);
	ck_assert_double_lt(chi2, 22.46); /* chi-square, 6 degrees of freedom, p = 0.001 */
	ck_assert_uint_eq(ex_rng_below(&r, 1), 0);
	for (int i = 0; i < 10000; i++) {
		bool seen[5] = {false};
		for (size_t k = 0; k < 5; k++)
			idx[k] = k;
		ex_rng_shuffle(&r, idx, 5);
		for (size_t k = 0; k < 5; k++) {
			ck_assert_uint_lt(idx[k], 5);
			ck_assert(!seen[idx[k]]);
			seen[idx[k]] = true;
		}
		first[idx[0]]++;
	}
	for (int k = 0; k < 5; k++)
		ck_assert_uint_gt(first[k], 1800); /* 2000 expected */
}
END_TEST

START_TEST(test_rng_seed_from)
{
	ck_assert_uint_eq(ex_rng_seed_from("abc", 3), 0x29e32c04ec3f9c30ull);
	ck_assert_uint_ne(ex_rng_seed_from("abd", 3), ex_rng_seed_from("abc", 3));
}
END_TEST

/* ------------------------------------------------------------------ linalg */

START_TEST(test_cholesky_conditioning)
{
	/* rank one: positive semi-definite, fixed by jitter (or refused), never a NaN factor */
	double A[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, L[9], rcond = -1, jitter = -1;
	int rc = ex_cholesky(A, 3, L, &rcond, &jitter);
	ck_assert(rc == 0 || rc == -EDOM);
	if (rc == 0) {
		ck_assert_double_gt(jitter, 0);
		for (int i = 0; i < 9; i++)
			ck_assert(isfinite(L[i]));
	}
	/* indefinite: refused */
	double B[4] = {1, 2, 2, 1};
	ck_assert_int_eq(ex_cholesky(B, 2, L, &rcond, &jitter), -EDOM);
	ck_assert_int_eq(ex_cholesky(B, 0, L, &rcond, &jitter), -EINVAL);
	/* diagonal 1 and 1e-8: rcond 1e-8, no jitter needed */
	double D[4] = {1, 0, 0, 1e-8};
	ck_assert_int_eq(ex_cholesky(D, 2, L, &rcond, &jitter), 0);
	ck_assert_double_eq_tol(rcond, 1e-8, 1e-20);
	ck_assert_double_eq(jitter, 0);
}
END_TEST

/* ------------------------------------------------------------------ helpers */

START_TEST(test_decide)
{
	struct ex_decision thr = {.threshold = 0.5}, arg = {.argmax = true};
	double a[1] = {0.5}, b[1] = {0.4999}, c[3] = {0.1, 0.7, 0.2};

	ck_assert_int_eq(ex_decide(&thr, a, 1), 1); /* the threshold itself decides 1 */
	ck_assert_int_eq(ex_decide(&thr, b, 1), 0);
	ck_assert_int_eq(ex_decide(&arg, c, 3), 1);
	ck_assert_int_eq(ex_decide(&arg, a, 1), 1); /* one output: the threshold rule (0) */
}
END_TEST

START_TEST(test_signed_topk)
{
	double phi[6] = {0.5, -3, 2, -2, 0, 1};
	int idx[6];

	ck_assert_uint_eq(ex_signed_topk(phi, 6, 3, idx), 3);
	/* |phi|: 3 (f1), 2 (f2 and f3: the lower index wins), ascending feature order */
	ck_assert_int_eq(idx[0], -2);
	ck_assert_int_eq(idx[1], 3);
	ck_assert_int_eq(idx[2], -4);
	ck_assert_uint_eq(ex_signed_topk(phi, 6, 2, idx), 2);
	ck_assert_int_eq(idx[0], -2);
	ck_assert_int_eq(idx[1], 3);
	ck_assert_uint_eq(ex_signed_topk(phi, 2, 9, idx), 2);
	/* zero counts as negative in the encoding */
	double z[1] = {0};
	ck_assert_uint_eq(ex_signed_topk(z, 1, 1, idx), 1);
	ck_assert_int_eq(idx[0], -1);
}
END_TEST

START_TEST(test_topk_size)
{
	double phi[5] = {10, 5, 0.3, 0.1, 0}, zero[3] = {0, 0, 0};

	/* total 15.4: 2% is 0.308, so 10 and 5 count */
	ck_assert_uint_eq(ex_topk_size(phi, 5, 5), 2);
	ck_assert_uint_eq(ex_topk_size(phi, 5, 1), 1);
	ck_assert_uint_eq(ex_topk_size(zero, 3, 5), 1);
}
END_TEST

START_TEST(test_feature_info_from_rows)
{
	/* column 0: 0..200 (integers); column 1: constant 3; column 2: NaN except 2 values */
	enum { N = 201 };
	double rows[N * 3];
	struct ex_feature_info info[3];

	for (int i = 0; i < N; i++) {
		rows[i * 3] = i;
		rows[i * 3 + 1] = 3;
		rows[i * 3 + 2] = i == 0 ? 1.5 : i == 1 ? 2.5 : NAN;
	}
	ck_assert_int_eq(ex_feature_info_from_rows(rows, N, 3, info), 0);
	ck_assert_double_eq_tol(info[0].min, 1, 1e-12); /* 0.5th percentile of 0..200 */
	ck_assert_double_eq_tol(info[0].max, 199, 1e-12);
	ck_assert_double_eq(info[0].mad, 50);
	ck_assert(info[0].integer);
	ck_assert(!info[0].immutable && !info[0].categorical);
	ck_assert_double_eq(info[1].mad, 1e-9); /* no spread at all: the floor */
	ck_assert(info[1].integer);
	ck_assert(!info[2].integer);
	ck_assert_double_eq(info[2].mad, 0.5);
	ck_assert_int_eq(ex_feature_info_from_rows(rows, 0, 3, info), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("explain_numeric");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
	    {"ex_rng_next", test_rng_next_reference},
	    {"ex_rng_uniform", test_rng_uniform_and_normal},
	    {"ex_rng_below", test_rng_below_and_shuffle},
	    {"ex_rng_seed_from", test_rng_seed_from},
	    {"ex_cholesky_conditioning", test_cholesky_conditioning},
	    {"ex_decide", test_decide},
	    {"ex_signed_topk", test_signed_topk},
	    {"ex_topk_size", test_topk_size},
	    {"ex_feature_info_from_rows", test_feature_info_from_rows},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return test_run_suite(s);
}
