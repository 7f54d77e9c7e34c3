/* SPDX-License-Identifier: Apache-2.0 */
/* The explain library's hand-written linear algebra against reference LAPACK: Cholesky and its
 * solve (ex_cholesky, ex_cholesky_solve) against LAPACKE_dpotrf / LAPACKE_dposv, and LIME's
 * weighted ridge (ex__lime_fit) against LAPACKE_dposv on the centred normal equations. The
 * only tests that need liblapacke-dev: without it meson registers this test as skipped, with
 * a message, and every other test still builds and runs. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "lime_internal.h"
#include "linalg.h"
#include "testutil.h"

static uint64_t chol_rs = 5, ridge_rs = 777;

static double urand(uint64_t *state)
{
	return (double)(test_rand(state) >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------------ ex_cholesky */

/* A = B B^T + n I: symmetric positive definite. */
static void random_spd(double *A, size_t n)
{
	double *B = malloc(n * n * sizeof(double));
	for (size_t i = 0; i < n * n; i++)
		B[i] = 2 * urand(&chol_rs) - 1;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			double s = 0;
			for (size_t k = 0; k < n; k++)
				s += B[i * n + k] * B[j * n + k];
			A[i * n + j] = s + (i == j ? (double)n : 0);
		}
	free(B);
}

START_TEST(test_cholesky_against_lapack)
{
	for (size_t n = 1; n <= 30; n++) {
		double *A = malloc(n * n * sizeof(double)), *L = malloc(n * n * sizeof(double));
		double *R = malloc(n * n * sizeof(double)), rcond, jitter;
		random_spd(A, n);
		memcpy(R, A, n * n * sizeof(double));
		ck_assert_int_eq(ex_cholesky(A, n, L, &rcond, &jitter), 0);
		ck_assert_double_eq(jitter, 0);
		ck_assert(rcond > 0 && rcond <= 1);
		ck_assert_int_eq(
		    LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, R, (lapack_int)n), 0);
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j <= i; j++)
				ck_assert_double_le(fabs(L[i * n + j] - R[i * n + j]),
				                    1e-12 * (1 + fabs(R[i * n + j])));
		free(A);
		free(L);
		free(R);
	}
}
END_TEST

START_TEST(test_cholesky_solve_against_lapack)
{
	for (size_t n = 1; n <= 30; n += 3) {
		double *A = malloc(n * n * sizeof(double)), *L = malloc(n * n * sizeof(double));
		double *R = malloc(n * n * sizeof(double)), *b = malloc(n * sizeof(double));
		double *c = malloc(n * sizeof(double)), rcond, jitter;
		random_spd(A, n);
		memcpy(R, A, n * n * sizeof(double));
		for (size_t i = 0; i < n; i++)
			b[i] = c[i] = 2 * urand(&chol_rs) - 1;
		ck_assert_int_eq(ex_cholesky(A, n, L, &rcond, &jitter), 0);
		ex_cholesky_solve(L, n, b);
		ck_assert_int_eq(
		    LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, 1, R, (lapack_int)n, c, 1),
		    0);
		for (size_t i = 0; i < n; i++)
			ck_assert_double_le(fabs(b[i] - c[i]), 1e-11 * (1 + fabs(c[i])));
		free(A);
		free(L);
		free(R);
		free(b);
		free(c);
	}
}
END_TEST

/* ------------------------------------------------------------------ ex__lime_fit */

START_TEST(ex_lime_ridge_equals_dposv)
{
	size_t n = 300, M = 6;
	double *Z = malloc(n * M * sizeof(double)), y[300], w[300];
	size_t S[4] = {4, 0, 2, 5};
	size_t p = 4;

	for (int trial = 0; trial < 20; trial++) {
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < M; j++)
				Z[i * M + j] = urand(&ridge_rs) < 0.4;
			y[i] = urand(&ridge_rs) * 3 + Z[i * M] - 2 * Z[i * M + 2];
			w[i] = urand(&ridge_rs);
		}
		double alpha = trial % 2 ? 1.0 : 1e-3;
		struct lime_gram g;
		double coef[4], icpt, r2, se[4];
		ck_assert_int_eq(ex__lime_gram(Z, y, w, n, M, &g), 0);
		ck_assert_int_eq(ex__lime_fit(&g, S, p, alpha, coef, &icpt, &r2, se, NULL), 0);
		ex__lime_gram_free(&g);

		/* reference: weighted means, centred normal equations, LAPACK */
		double sw = 0, my = 0, mz[4] = {0}, A[16] = {0}, b[4] = {0};
		for (size_t i = 0; i < n; i++) {
			sw += w[i];
			my += w[i] * y[i];
			for (size_t a = 0; a < p; a++)
				mz[a] += w[i] * Z[i * M + S[a]];
		}
		my /= sw;
		for (size_t a = 0; a < p; a++)
			mz[a] /= sw;
		for (size_t i = 0; i < n; i++)
			for (size_t a = 0; a < p; a++) {
				b[a] += w[i] * (Z[i * M + S[a]] - mz[a]) * (y[i] - my);
				for (size_t c = 0; c < p; c++)
					A[a * p + c] += w[i] * (Z[i * M + S[a]] - mz[a]) *
					                (Z[i * M + S[c]] - mz[c]);
			}
		for (size_t a = 0; a < p; a++)
			A[a * p + a] += alpha;
		ck_assert_int_eq(
		    LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', (lapack_int)p, 1, A, (lapack_int)p, b, 1),
		    0);
		double ref_icpt = my, rss = 0, tss = 0;
		for (size_t a = 0; a < p; a++) {
			ck_assert_msg(fabs(coef[a] - b[a]) <= 1e-10 * (1 + fabs(b[a])), "%g vs %g",
			              coef[a], b[a]);
			ref_icpt -= mz[a] * b[a];
		}
		ck_assert(fabs(icpt - ref_icpt) <= 1e-10 * (1 + fabs(ref_icpt)));
		for (size_t i = 0; i < n; i++) {
			double pred = ref_icpt;
			for (size_t a = 0; a < p; a++)
				pred += b[a] * Z[i * M + S[a]];
			rss += w[i] * (y[i] - pred) * (y[i] - pred);
			tss += w[i] * (y[i] - my) * (y[i] - my);
		}
		ck_assert_msg(fabs(r2 - (1 - rss / tss)) <= 1e-10, "r2 %.17g vs %.17g", r2,
		              1 - rss / tss);
		for (size_t a = 0; a < p; a++)
			ck_assert(se[a] > 0 && isfinite(se[a]));
	}
	free(Z);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("explain_lapack");
	TCase *tc;

	tc = tcase_create("ex_cholesky");
	tcase_add_test(tc, test_cholesky_against_lapack);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_cholesky_solve");
	tcase_add_test(tc, test_cholesky_solve_against_lapack);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex__lime_fit");
	tcase_add_test(tc, ex_lime_ridge_equals_dposv);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
