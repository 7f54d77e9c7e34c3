/* SPDX-License-Identifier: Apache-2.0 */
/* whatif-bench: per-row time of the what-if methods (flip test, counterfactuals, LIME) on one
 * model file, exact (model given) and black-box (the same model seen only as a function).
 * Rows and background are drawn N(0, 1), as the bench model's training data.
 *
 *   whatif-bench MODEL [ROWS (20)] [BACKGROUND (500)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "explain.h"
#include "rng.h"

/* CPU time of this (single) thread: the machine may be shared, and the methods are
 * single-threaded, so this is the per-row cost without other processes' interference. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct bstat {
	const char *name;
	double seconds;
	uint64_t rows;
	size_t count, found;
};

static void report(const struct bstat *s)
{
	printf("%-28s %9.3f cpu ms/row  %9.0f model rows/row  (%zu/%zu with a result)\n", s->name,
	       1e3 * s->seconds / (double)s->count, (double)s->rows / (double)s->count, s->found,
	       s->count);
}

int main(int argc, char **argv)
{
	char err[EX_ERR_MAX];
	struct ex_model *m;

	if (argc < 2) {
		fprintf(stderr, "usage: whatif-bench MODEL [ROWS] [BACKGROUND]\n");
		return 2;
	}
	size_t n_rows = argc > 2 ? strtoul(argv[2], NULL, 10) : 20;
	size_t n_bg = argc > 3 ? strtoul(argv[3], NULL, 10) : 500;
	if (ex_model_load(argv[1], EX_FORMAT_AUTO, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	size_t M = ex_model_n_features(m), G = ex_model_n_outputs(m);
	double *bg = malloc(n_bg * M * sizeof(double)), *X = malloc(n_rows * M * sizeof(double));
	double *phi = malloc(G * M * sizeof(double)), *base = malloc(G * sizeof(double));
	struct ex_feature_info *info = malloc(M * sizeof(*info));
	struct ex_rng rng;
	struct ex_fn f;
	struct ex_lime_bins *bins;

	ex_rng_seed(&rng, 1);
	for (size_t i = 0; i < n_bg * M; i++)
		bg[i] = ex_rng_normal(&rng);
	for (size_t i = 0; i < n_rows * M; i++)
		X[i] = ex_rng_normal(&rng);
	ex_feature_info_from_rows(bg, n_bg, M, info);
	ex_fn_from_model(m, &f);
	if (ex_lime_bins_fit(bg, n_bg, M, info, &bins, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("model %s: %zu trees, %zu features; %zu rows, %zu background rows\n", argv[1],
	       ex_model_n_trees(m), M, n_rows, n_bg);

	struct bstat st[6] = {
	    {.name = "flip test (exact scan)"},     {.name = "counterfactuals (exact+GS)"},
	    {.name = "flip test (black box)"},      {.name = "counterfactuals (black box)"},
	    {.name = "lime (5000 samples, 1 run)"}, {.name = "lime (5000 samples, 10 runs)"}};
	for (size_t i = 0; i < n_rows; i++) {
		const double *x = X + i * M;
		if (ex_treeshap(m, x, phi, base) < 0)
			return 1;
		for (int mode = 0; mode < 2; mode++) {
			struct ex_whatif_input in = {.f = &f,
			                             .model = mode ? NULL : m,
			                             .bg = bg,
			                             .n_bg = n_bg,
			                             .info = info};
			struct ex_flip_result fr;
			struct ex_cf_result cr;
			struct ex_cf_config cc = {.seed = i, .budget = 1000000};
			struct ex_flip_config fc = {.cf = cc};
			double t0 = now();
			if (ex_flip_test(&in, x, phi, &fc, &fr, err, sizeof(err)) < 0) {
				fprintf(stderr, "flip: %s\n", err);
				return 1;
			}
			double t1 = now();
			st[2 * mode].seconds += t1 - t0;
			st[2 * mode].rows += fr.model_rows;
			st[2 * mode].count++;
			st[2 * mode].found += fr.fragile;
			ex_flip_result_free(&fr);
			t0 = now();
			if (ex_counterfactuals(&in, x, &cc, &cr, err, sizeof(err)) < 0) {
				fprintf(stderr, "counterfactuals: %s\n", err);
				return 1;
			}
			t1 = now();
			st[2 * mode + 1].seconds += t1 - t0;
			st[2 * mode + 1].rows += cr.model_rows;
			st[2 * mode + 1].count++;
			st[2 * mode + 1].found += cr.n > 0;
			ex_cf_result_free(&cr);
		}
		for (int k = 0; k < 2; k++) {
			struct ex_lime_config lc = {.seed = i, .n_repeats = k ? 10 : 1};
			struct ex_lime_result lr;
			double t0 = now();
			if (ex_lime(&f, bins, x, &lc, &lr, err, sizeof(err)) < 0) {
				fprintf(stderr, "lime: %s\n", err);
				return 1;
			}
			st[4 + k].seconds += now() - t0;
			st[4 + k].rows += lr.model_rows;
			st[4 + k].count++;
			st[4 + k].found += lr.jaccard >= 0.8;
			ex_lime_result_free(&lr);
		}
	}
	for (int k = 0; k < 6; k++)
		report(&st[k]);
	printf("(flip: rows FRAGILE; counterfactuals: rows with one; lime: Jaccard >= 0.8)\n");
	ex_lime_bins_free(bins);
	ex_model_free(m);
	free(bg);
	free(X);
	free(phi);
	free(base);
	free(info);
	return 0;
}
