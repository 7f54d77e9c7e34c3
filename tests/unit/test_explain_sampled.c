/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the sampled Shapley estimators and background summarisation: KernelSHAP and
 * antithetic permutation sampling against an independent brute-force enumeration of the
 * interventional game, interval coverage over many seeds, determinism, budgets and errors. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "testutil.h"

/* ------------------------------------------------------------------ test models */

/* A counting wrapper: every model row passes through here. */
struct counted {
	double (*fn)(const double *x, size_t o);
	size_t M, G;
	uint64_t rows, calls;
	int fail_after; /* fail once this many calls were made (-1: never) */
	bool nan_out;
};

static int counted_predict(void *ud, const double *rows, size_t n, double *out, char *err,
                           size_t err_size)
{
	struct counted *c = ud;

	if (c->fail_after >= 0 && c->calls >= (uint64_t)c->fail_after) {
		snprintf(err, err_size, "oracle 'test' crashed");
		return -EPIPE;
	}
	c->calls++;
	c->rows += n;
	for (size_t i = 0; i < n; i++)
		for (size_t o = 0; o < c->G; o++)
			out[i * c->G + o] = c->nan_out ? NAN : c->fn(rows + i * c->M, o);
	return 0;
}

static struct ex_fn as_fn(struct counted *c)
{
	return (struct ex_fn){
	    .predict = counted_predict, .userdata = c, .n_features = c->M, .n_outputs = c->G};
}

/* Interactions of order 2 and 3, smooth and kinked terms; two outputs. */
static double nonlinear(const double *x, size_t o)
{
	double a = x[0] * x[1] * x[2] + sin(x[3]) * x[4] + exp(0.3 * x[5]) + x[6] * x[6] * x[7] +
	           fmax(x[8], x[9]);
	return o == 0 ? a : tanh(0.5 * a) - x[0] * x[9];
}

/* The same with 12 features (the sampled regime). */
static double nonlinear12(const double *x, size_t o)
{
	(void)o;
	return nonlinear(x, 0) + x[10] * x[11] * x[0] + 0.5 * fabs(x[11] - x[3]);
}

/* Logistic regression: a probability, so the game is not additive. */
static double logistic(const double *x, size_t o)
{
	static const double w[10] = {0.8, -1.2, 0.5, 2.0, -0.3, 0.0, 1.1, -0.7, 0.25, 0.9};
	double m = -0.2;
	(void)o;
	for (size_t j = 0; j < 10; j++)
		m += w[j] * x[j];
	return 1 / (1 + exp(-m));
}

/* Only pairwise interactions: paired KernelSHAP is exact for it. */
static double pairwise(const double *x, size_t o)
{
	(void)o;
	return 2 * x[0] * x[1] - x[2] * x[5] + 3 * x[3] + x[4] * x[4] + x[6] * x[7] * 0.5 + x[8] -
	       x[9] * x[1] + x[10] * x[11] + x[12];
}

static uint64_t rs = 99;

static double urand(void)
{
	return (double)(test_rand(&rs) >> 11) / 9007199254740992.0;
}

static void random_rows(double *r, size_t n, size_t M)
{
	for (size_t i = 0; i < n * M; i++)
		r[i] = 4 * urand() - 2;
}

/* Independent reference: every coalition's value by averaging hybrid rows, then the Shapley
 * formula with factorial weights from lgamma. M <= 14. */
static void brute(double (*fn)(const double *, size_t), size_t M, size_t G, const double *x,
                  const double *bg, const double *w, size_t n_bg, double *phi)
{
	size_t n = (size_t)1 << M;
	double *v = calloc(n * G, sizeof(double)), *row = malloc(M * sizeof(double)), wsum = 0;

	for (size_t b = 0; b < n_bg; b++)
		wsum += w ? w[b] : 1;
	for (size_t S = 0; S < n; S++)
		for (size_t b = 0; b < n_bg; b++) {
			for (size_t j = 0; j < M; j++)
				row[j] = (S >> j) & 1 ? x[j] : bg[b * M + j];
			for (size_t o = 0; o < G; o++)
				v[S * G + o] += (w ? w[b] : 1) * fn(row, o) / wsum;
		}
	for (size_t o = 0; o < G; o++)
		for (size_t j = 0; j < M; j++) {
			double acc = 0;
			for (size_t S = 0; S < n; S++) {
				if ((S >> j) & 1)
					continue;
				size_t s = (size_t)__builtin_popcountll(S);
				double wt = exp(lgamma((double)s + 1) + lgamma((double)(M - s)) -
				                lgamma((double)M + 1));
				acc += wt * (v[(S | (1u << j)) * G + o] - v[S * G + o]);
			}
			phi[o * M + j] = acc;
		}
	free(v);
	free(row);
}

static double max_abs_diff(const double *a, const double *b, size_t n)
{
	double d = 0;
	for (size_t i = 0; i < n; i++)
		d = fmax(d, fabs(a[i] - b[i]));
	return d;
}

/* ------------------------------------------------------------------ ex_kernelshap */

static void check_enumeration(double (*fn)(const double *, size_t), size_t M, size_t G,
                              const double *w)
{
	struct counted c = {.fn = fn, .M = M, .G = G, .fail_after = -1};
	struct ex_fn f = as_fn(&c);
	double x[16], bg[8 * 16], truth[2 * 16];
	struct ex_sampled_result r;
	struct ex_sampled_config cfg = {.seed = 1};
	char err[256] = "";

	random_rows(x, 1, M);
	random_rows(bg, 8, M);
	bg[3 * M + 2] = x[2]; /* equal cells: the row cache shares them */
	brute(fn, M, G, x, bg, w, 8, truth);
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, w, 8, &cfg, &r, err, sizeof(err)), 0);
	ck_assert(r.exact);
	ck_assert(r.converged);
	ck_assert_uint_eq(r.n_players, M);
	ck_assert_double_le(max_abs_diff(r.phi, truth, M * G), 1e-9);
	for (size_t i = 0; i < M * G; i++)
		ck_assert_double_eq(r.se[i], 0);
	ck_assert_double_le(r.residual, 1e-9);
	ck_assert_uint_eq(r.coalitions, ((uint64_t)1 << M) - 2);
	/* counted rows: the two reference evaluations plus at most n_bg per coalition, fewer
	 * thanks to the shared cells */
	ck_assert_uint_eq(r.model_rows, c.rows);
	ck_assert_uint_lt(c.rows, 9 + 8 * r.coalitions);
	ex_sampled_result_free(&r);
}

START_TEST(test_kernelshap_enumeration_equals_brute_force)
{
	double w[8] = {1, 2, 0.5, 3, 1, 1, 0.25, 4};

	check_enumeration(nonlinear, 10, 2, NULL);
	check_enumeration(nonlinear, 10, 1, w);
	check_enumeration(logistic, 10, 1, NULL);
}
END_TEST

START_TEST(test_kernelshap_non_players_get_zero)
{
	struct counted c = {.fn = nonlinear, .M = 10, .G = 1, .fail_after = -1};
	struct ex_fn f = as_fn(&c);
	double x[10], bg[4 * 10], truth[10];
	struct ex_sampled_result r;
	struct ex_sampled_config cfg = {.seed = 3};
	char err[256];

	random_rows(x, 1, 10);
	random_rows(bg, 4, 10);
	for (size_t b = 0; b < 4; b++)
		bg[b * 10 + 4] = x[4], bg[b * 10 + 7] = x[7];
	brute(nonlinear, 10, 1, x, bg, NULL, 4, truth);
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 4, &cfg, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n_players, 8);
	ck_assert_double_eq(r.phi[4], 0);
	ck_assert_double_eq(r.phi[7], 0);
	ck_assert_double_le(max_abs_diff(r.phi, truth, 10), 1e-9);
	ex_sampled_result_free(&r);
}
END_TEST

/* One seed of a coverage test: runs cfg, checks the budget and the efficiency constraint,
 * counts the features whose 95% interval holds the truth (requiring a positive standard
 * error when se_positive) and returns the max error. */
static double coverage_seed(struct counted *c, const double *x, const double *bg, size_t n_bg,
                            const struct ex_sampled_config *cfg, const double *truth,
                            bool se_positive, size_t *inside, size_t *total)
{
	struct ex_fn f = as_fn(c);
	struct ex_sampled_result r;
	char err[256];
	double e;

	c->rows = 0;
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, n_bg, cfg, &r, err, sizeof(err)), 0);
	ck_assert(!r.exact);
	ck_assert_uint_le(c->rows, cfg->budget);
	ck_assert_double_le(r.residual, 1e-9);
	for (size_t j = 0; j < c->M; j++) {
		if (se_positive)
			ck_assert_double_gt(r.se[j], 0);
		*inside += fabs(r.phi[j] - truth[j]) <= 1.959964 * r.se[j] + 1e-9;
		(*total)++;
	}
	e = max_abs_diff(r.phi, truth, c->M);
	ex_sampled_result_free(&r);
	return e;
}

/* Sampling regime: over many seeds the true values lie within the reported 95% intervals
 * about 95% of the time, the efficiency constraint holds exactly and the budget is kept. */
static void coverage(bool fixed, double lo, double hi)
{
	enum { M = 12, NBG = 4, SEEDS = 150 };
	struct counted c = {.fn = nonlinear12, .M = M, .G = 1, .fail_after = -1};
	double x[M], bg[NBG * M], truth[M];
	size_t inside = 0, total = 0;

	random_rows(x, 1, M);
	random_rows(bg, NBG, M);
	brute(nonlinear12, M, 1, x, bg, NULL, NBG, truth);
	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		struct ex_sampled_config cfg = {
		    .seed = seed, .budget = 700 * NBG, .fixed = fixed, .rel_tolerance = 0.02};
		coverage_seed(&c, x, bg, NBG, &cfg, truth, true, &inside, &total);
	}
	double rate = (double)inside / (double)total;
	ck_assert_msg(rate >= lo && rate <= hi, "95%% intervals covered the truth %.3f of the time",
	              rate);
}

START_TEST(test_kernelshap_interval_coverage)
{
	coverage(true, 0.90, 0.99);
	coverage(false, 0.87, 1.0);
}
END_TEST

/* 50 features: a sum of terms over at most three features each (pairs, triples, a maximum
 * of three), whose interventional Shapley values follow from each term's own small game. */
enum { M50 = 50 };

static double term50(size_t k, const double *x)
{
	size_t a = k % M50, b = (k * 7 + 3) % M50, c = (k * 13 + 11) % M50;

	switch (k % 4) {
	case 0:
		return x[a] * x[b] * x[c];
	case 1:
		return fmax(x[a], fmax(x[b], 0.5 * x[c]));
	case 2:
		return sin(x[a]) * x[b] + 0.3 * x[c];
	default:
		return x[a] * x[b];
	}
}

static double sum50(const double *x, size_t o)
{
	double s = 0;
	(void)o;
	for (size_t k = 0; k < 40; k++)
		s += term50(k, x);
	return s;
}

/* Exact values: each term's features form a game of at most 3 players per background row;
 * enumerate it, credit its players, average over the background. */
static void truth50(const double *x, const double *bg, size_t n_bg, double *phi)
{
	double row[M50];

	memset(phi, 0, M50 * sizeof(double));
	for (size_t k = 0; k < 40; k++) {
		size_t idx[3] = {k % M50, (k * 7 + 3) % M50, (k * 13 + 11) % M50}, n = 0, pl[3];
		for (size_t i = 0; i < 3; i++) {
			bool seen = false;
			for (size_t t = 0; t < n; t++)
				seen |= pl[t] == idx[i];
			if (!seen)
				pl[n++] = idx[i];
		}
		for (size_t b = 0; b < n_bg; b++) {
			double v[8];
			for (size_t S = 0; S < ((size_t)1 << n); S++) {
				memcpy(row, bg + b * M50, sizeof(row));
				for (size_t t = 0; t < n; t++)
					if ((S >> t) & 1)
						row[pl[t]] = x[pl[t]];
				v[S] = term50(k, row);
			}
			for (size_t t = 0; t < n; t++)
				for (size_t S = 0; S < ((size_t)1 << n); S++) {
					if ((S >> t) & 1)
						continue;
					size_t s = (size_t)__builtin_popcountll(S);
					double wt =
					    exp(lgamma((double)s + 1) + lgamma((double)(n - s)) -
					        lgamma((double)n + 1));
					phi[pl[t]] +=
					    wt * (v[S | ((size_t)1 << t)] - v[S]) / (double)n_bg;
				}
		}
	}
}

/* At M = 50 and half of shap's default budget, over seeds: the 95% intervals of both size
 * samplers (leverage scores, the default, and kernel weight) cover the exact values at their
 * stated rate, and leverage sampling's mean max error is no larger. */
static double coverage50(bool kernel_weight_sizes, double *mean_err)
{
	enum { NBG = 4, SEEDS = 60 };
	struct counted c = {.fn = sum50, .M = M50, .G = 1, .fail_after = -1};
	double x[M50], bg[NBG * M50], truth[M50], err_sum = 0;
	size_t inside = 0, total = 0;

	rs = 50;
	random_rows(x, 1, M50);
	random_rows(bg, NBG, M50);
	truth50(x, bg, NBG, truth);
	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		struct ex_sampled_config cfg = {.seed = seed,
		                                .budget = ex_sampled_default_budget(M50, NBG) / 2,
		                                .fixed = true,
		                                .kernel_weight_sizes = kernel_weight_sizes};
		err_sum += coverage_seed(&c, x, bg, NBG, &cfg, truth, false, &inside, &total);
	}
	*mean_err = err_sum / SEEDS;
	return (double)inside / (double)total;
}

START_TEST(test_kernelshap_coverage_m50)
{
	double e_lev, e_kw;
	double lev = coverage50(false, &e_lev), kw = coverage50(true, &e_kw);

	ck_assert_msg(lev >= 0.91 && lev <= 0.985, "leverage: 95%% intervals covered %.3f", lev);
	ck_assert_msg(kw >= 0.91 && kw <= 0.985, "kernel weight: 95%% intervals covered %.3f", kw);
	ck_assert_msg(e_lev <= e_kw, "mean max error: leverage %.3g, kernel weight %.3g", e_lev,
	              e_kw);
}
END_TEST

START_TEST(test_kernelshap_paired_exact_for_pairwise_games)
{
	enum { M = 13 };
	struct counted c = {.fn = pairwise, .M = M, .G = 1, .fail_after = -1};
	struct ex_fn f = as_fn(&c);
	double x[M], bg[3 * M], truth[M];
	struct ex_sampled_result r;
	struct ex_sampled_config cfg = {.seed = 5, .budget = 300 * 3};
	char err[256];

	random_rows(x, 1, M);
	random_rows(bg, 3, M);
	brute(pairwise, M, 1, x, bg, NULL, 3, truth);
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 3, &cfg, &r, err, sizeof(err)), 0);
	ck_assert(!r.exact);
	ck_assert_double_le(max_abs_diff(r.phi, truth, M), 1e-9);
	for (size_t j = 0; j < M; j++)
		ck_assert_double_le(r.se[j], 1e-9);
	ck_assert(r.converged);
	ex_sampled_result_free(&r);
}
END_TEST

START_TEST(test_kernelshap_same_seed_bit_identical)
{
	enum { M = 12 };
	struct counted c = {.fn = nonlinear12, .M = M, .G = 1, .fail_after = -1};
	struct ex_fn f = as_fn(&c);
	double x[M], bg[5 * M];
	struct ex_sampled_result a, b, d;
	struct ex_sampled_config cfg = {.seed = 42, .budget = 900 * 5};
	char err[256];

	random_rows(x, 1, M);
	random_rows(bg, 5, M);
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 5, &cfg, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 5, &cfg, &b, err, sizeof(err)), 0);
	ck_assert_mem_eq(a.phi, b.phi, M * sizeof(double));
	ck_assert_mem_eq(a.se, b.se, M * sizeof(double));
	ck_assert_uint_eq(a.model_rows, b.model_rows);
	cfg.seed = 43;
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 5, &cfg, &d, err, sizeof(err)), 0);
	ck_assert(memcmp(a.phi, d.phi, M * sizeof(double)) != 0);
	ex_sampled_result_free(&a);
	ex_sampled_result_free(&b);
	ex_sampled_result_free(&d);
}
END_TEST

START_TEST(test_kernelshap_errors)
{
	enum { M = 12 };
	struct counted c = {.fn = nonlinear12, .M = M, .G = 1, .fail_after = -1};
	struct ex_fn f = as_fn(&c);
	double x[M], bg[2 * M];
	struct ex_sampled_result r;
	struct ex_sampled_config cfg = {.seed = 1, .budget = 20};
	char err[256] = "";

	random_rows(x, 1, M);
	random_rows(bg, 2, M);
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 2, &cfg, &r, err, sizeof(err)), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(err, "budget of 20 model rows"));
	ck_assert_ptr_null(r.phi);
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 0, &cfg, &r, err, sizeof(err)), -EINVAL);
	cfg.budget = 0;
	cfg.tolerance = -1;
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 2, &cfg, &r, err, sizeof(err)), -EINVAL);
	cfg.tolerance = 0;
	double wneg[2] = {1, -1};
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, wneg, 2, &cfg, &r, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "background row 1"));
	/* the model's own error passes through with its message */
	c.fail_after = 2;
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 2, &cfg, &r, err, sizeof(err)), -EPIPE);
	ck_assert_ptr_nonnull(strstr(err, "crashed"));
	c.fail_after = -1;
	c.nan_out = true;
	ck_assert_int_eq(ex_kernelshap(&f, x, bg, NULL, 2, &cfg, &r, err, sizeof(err)), -EDOM);
	ck_assert_ptr_nonnull(strstr(err, "non-finite"));
}
END_TEST

/* ------------------------------------------------------------------ ex_permutation_shap */

START_TEST(test_permutation_shap_agrees)
{
	enum { M = 12, NBG = 4, SEEDS = 60 };
	struct counted c = {.fn = nonlinear12, .M = M, .G = 1, .fail_after = -1};
	struct ex_fn f = as_fn(&c);
	double x[M], bg[NBG * M], truth[M];
	size_t inside = 0;
	char err[256];

	random_rows(x, 1, M);
	random_rows(bg, NBG, M);
	brute(nonlinear12, M, 1, x, bg, NULL, NBG, truth);
	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		struct ex_sampled_result r;
		struct ex_sampled_config cfg = {.seed = seed, .budget = 3000 * NBG, .fixed = true};
		c.rows = 0;
		ck_assert_int_eq(
		    ex_permutation_shap(&f, x, bg, NULL, NBG, &cfg, &r, err, sizeof(err)), 0);
		ck_assert_uint_le(c.rows, cfg.budget);
		/* every permutation splits f(x) - base exactly */
		ck_assert_double_le(r.residual, 1e-9);
		for (size_t j = 0; j < M; j++)
			inside += fabs(r.phi[j] - truth[j]) <= 1.959964 * r.se[j] + 1e-9;
		ex_sampled_result_free(&r);
	}
	double rate = (double)inside / (SEEDS * M);
	ck_assert_msg(rate >= 0.88 && rate <= 0.99, "coverage %.3f", rate);

	/* adaptive: stops at the tolerance; the same seed replays bit for bit */
	struct ex_sampled_result a, b;
	struct ex_sampled_config cfg = {.seed = 9, .tolerance = 0.02, .budget = 200000 * NBG};
	ck_assert_int_eq(ex_permutation_shap(&f, x, bg, NULL, NBG, &cfg, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(ex_permutation_shap(&f, x, bg, NULL, NBG, &cfg, &b, err, sizeof(err)), 0);
	ck_assert(a.converged);
	ck_assert_mem_eq(a.phi, b.phi, M * sizeof(double));
	ck_assert_mem_eq(a.se, b.se, M * sizeof(double));
	for (size_t j = 0; j < M; j++)
		ck_assert_double_le(a.se[j], 0.02);
	ck_assert_double_le(max_abs_diff(a.phi, truth, M), 5 * 0.02);
	ex_sampled_result_free(&a);
	ex_sampled_result_free(&b);
	cfg.budget = 10;
	ck_assert_int_eq(ex_permutation_shap(&f, x, bg, NULL, NBG, &cfg, &a, err, sizeof(err)),
	                 -ENOSPC);
}
END_TEST

/* ------------------------------------------------------------------ background */

START_TEST(test_background_summarize)
{
	enum { N = 300, M = 3, K = 3 };
	double rows[N * M], out[K * M], w[K];
	static const double centre[K][M] = {{0, 0, 1}, {10, 10, 5}, {-10, 20, 9}};
	size_t got = 0;
	struct ex_feature_info info[M];

	/* three separated blobs of 50, 100, 150 rows; feature 2 is an integer code */
	for (size_t i = 0; i < N; i++) {
		size_t c = i < 50 ? 0 : i < 150 ? 1 : 2;
		rows[i * M] = centre[c][0] + urand() - 0.5;
		rows[i * M + 1] = centre[c][1] + urand() - 0.5;
		rows[i * M + 2] = centre[c][2] + (urand() < 0.3 ? 1 : 0);
	}
	ck_assert_int_eq(ex_feature_info_from_rows(rows, N, M, info), 0);
	ck_assert_int_eq(ex_background_summarize(rows, N, M, info, K, 7, out, w, &got), 0);
	ck_assert_uint_eq(got, K);
	double wsum = 0;
	for (size_t k = 0; k < K; k++) {
		size_t c = out[k * M] < -5 ? 2 : out[k * M] > 5 ? 1 : 0;
		ck_assert_double_le(fabs(out[k * M] - centre[c][0]), 0.2);
		ck_assert_double_le(fabs(out[k * M + 1] - centre[c][1]), 0.2);
		/* snapped to an observed code, not a fractional mean */
		ck_assert(out[k * M + 2] == centre[c][2] || out[k * M + 2] == centre[c][2] + 1);
		ck_assert_double_eq(w[k], c == 0 ? 50 : c == 1 ? 100 : 150);
		wsum += w[k];
	}
	ck_assert_double_eq(wsum, N);

	/* deterministic from the seed; with info computed internally too */
	double out2[K * M], w2[K];
	size_t got2;
	ck_assert_int_eq(ex_background_summarize(rows, N, M, NULL, K, 7, out2, w2, &got2), 0);
	ck_assert_uint_eq(got2, got);
	ck_assert_mem_eq(out, out2, sizeof(out));

	/* fewer rows than centroids: copied */
	ck_assert_int_eq(ex_background_summarize(rows, 2, M, info, K, 7, out, w, &got), 0);
	ck_assert_uint_eq(got, 2);
	ck_assert_mem_eq(out, rows, 2 * M * sizeof(double));
	ck_assert_double_eq(w[1], 1);
	ck_assert_int_eq(ex_background_summarize(rows, 0, M, info, K, 7, out, w, &got), -EINVAL);
}
END_TEST

START_TEST(test_background_digest)
{
	/* reference: hashlib.sha256 over the same little-endian bytes, computed outside C:
	 * n=2, M=1, rows {1.0, -2.5}, weights {1.0, 1.0} */
	double rows[2] = {1.0, -2.5}, w[2] = {1, 1};
	char a[65], b[65];

	ex_background_digest(rows, NULL, 2, 1, a);
	ex_background_digest(rows, w, 2, 1, b);
	ck_assert_str_eq(a, b);
	ck_assert_str_eq(a, "9871ef304601b69e565e6238ff34c7eba13628e6eb8ccf5b370a9273ba83ce45");
	w[1] = 2;
	ex_background_digest(rows, w, 2, 1, b);
	ck_assert_str_ne(a, b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("explain_sampled");
	TCase *tc = tcase_create("ex_kernelshap");

	tcase_add_test(tc, test_kernelshap_enumeration_equals_brute_force);
	tcase_add_test(tc, test_kernelshap_non_players_get_zero);
	tcase_add_test(tc, test_kernelshap_interval_coverage);
	tcase_add_test(tc, test_kernelshap_coverage_m50);
	tcase_add_test(tc, test_kernelshap_paired_exact_for_pairwise_games);
	tcase_add_test(tc, test_kernelshap_same_seed_bit_identical);
	tcase_add_test(tc, test_kernelshap_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_permutation_shap");
	tcase_add_test(tc, test_permutation_shap_agrees);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_background_summarize");
	tcase_add_test(tc, test_background_summarize);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_background_digest");
	tcase_add_test(tc, test_background_digest);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
