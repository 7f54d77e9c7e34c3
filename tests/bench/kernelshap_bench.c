/* SPDX-License-Identifier: Apache-2.0 */
/* kernelshap-bench: model rows (oracle calls) and wall time KernelSHAP spends to reach a
 * target max absolute error against exact interventional TreeSHAP, beside shap's fixed
 * budget of 2M + 2048 coalitions, on one tree model, its rows and a background.
 *
 *   kernelshap-bench --model FILE --rows FILE --background FILE [--seeds N] [--target E]
 *
 * For every row and seed: the exact values (ex_treeshap_interventional), then
 *   shap 100%     shap's KernelExplainer scheme and default budget: 2M + 2048 coalitions,
 *                 each against every background row, sizes drawn by kernel weight, in one
 *                 round (ex_kernelshap with shared_coalitions, kernel_weight_sizes and
 *                 fixed): the baseline,
 *   evidentd N%   evidentd's ex_kernelshap (coalitions stratified by background row) with
 *                 N% of that budget in model rows, N = 100, 50, 25,
 *   perm 100%     ex_permutation_shap with the whole budget (the cross-check),
 *   kernel-w N%   ex_kernelshap drawing sampled sizes by kernel weight (kernel_weight_sizes,
 *                 the estimator before leverage-score size sampling), N = 100, 50,
 *   to-target     (with --to-target) ex_kernelshap in its adaptive mode, stopping at max
 *                 stderr <= target / 3, within 500 budgets,
 * and prints mean model rows, coalitions, max |phi - exact| and time per method. Driven by
 * tests/bench/kernelshap_bench.py, which trains the models. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "explain.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int load_rows(const char *path, size_t M, struct ex_rows *r)
{
	char err[256];
	size_t len;
	FILE *f = fopen(path, "rb");
	char *text;
	int rc;

	if (!f) {
		fprintf(stderr, "kernelshap-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	rewind(f);
	text = malloc(len + 1);
	if (!text || fread(text, 1, len, f) != len) {
		fclose(f);
		free(text);
		return -1;
	}
	fclose(f);
	rc = ex_rows_parse(text, len, path, r, err, sizeof(err));
	free(text);
	if (rc < 0 || r->n_cols != M) {
		fprintf(stderr, "kernelshap-bench: %s: %s\n", path,
		        rc < 0 ? err : "column count differs from the model's features");
		return -1;
	}
	return 0;
}

struct tally {
	const char *name;
	double rows, coalitions, err, seconds, within;
	unsigned n;
};

static void add(struct tally *t, const struct ex_sampled_result *r, const double *exact, size_t M,
                double seconds, double target)
{
	double e = 0;
	for (size_t j = 0; j < M; j++)
		e = fmax(e, fabs(r->phi[j] - exact[j]));
	t->rows += (double)r->model_rows;
	t->coalitions += (double)r->coalitions;
	t->err += e;
	t->within += e <= target;
	t->seconds += seconds;
	t->n++;
}

int main(int argc, char **argv)
{
	const char *model_path = NULL, *rows_path = NULL, *bg_path = NULL;
	unsigned seeds = 5;
	double target = 1e-3;
	int to_target = 0;
	const struct option opts[] = {{"model", required_argument, NULL, 'm'},
	                              {"rows", required_argument, NULL, 'r'},
	                              {"background", required_argument, NULL, 'b'},
	                              {"seeds", required_argument, NULL, 's'},
	                              {"target", required_argument, NULL, 't'},
	                              {"to-target", no_argument, &to_target, 1},
	                              {NULL, 0, NULL, 0}};
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			model_path = optarg;
			break;
		case 'r':
			rows_path = optarg;
			break;
		case 'b':
			bg_path = optarg;
			break;
		case 's':
			seeds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			target = strtod(optarg, NULL);
			break;
		case 0:
			break;
		default:
			fprintf(stderr,
			        "usage: kernelshap-bench --model FILE --rows FILE --background "
			        "FILE [--seeds N] [--target E]\n");
			return 2;
		}
	}
	if (!model_path || !rows_path || !bg_path || !seeds || !(target > 0)) {
		fprintf(stderr,
		        "kernelshap-bench: --model, --rows and --background are required\n");
		return 2;
	}
	struct ex_model *m;
	char err[512];
	if (ex_model_load(model_path, EX_FORMAT_AUTO, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "kernelshap-bench: %s\n", err);
		return 3;
	}
	size_t M = ex_model_n_features(m);
	struct ex_rows rows, bg;
	if (load_rows(rows_path, M, &rows) < 0 || load_rows(bg_path, M, &bg) < 0)
		return 3;
	struct ex_fn f;
	ex_fn_from_model(m, &f);
	double *exact = malloc(M * sizeof(double)), base;
	struct tally t[8] = {{.name = "shap 100%"},    {.name = "evidentd 100%"},
	                     {.name = "evidentd 50%"}, {.name = "evidentd 25%"},
	                     {.name = "perm 100%"},    {.name = "kernel-w 100%"},
	                     {.name = "kernel-w 50%"}, {.name = "to-target"}};
	int n_methods = to_target ? 8 : 7;
	size_t n_bg = bg.n_rows;

	for (size_t i = 0; i < rows.n_rows; i++) {
		const double *x = rows.values + i * M;
		if (ex_treeshap_interventional(m, x, bg.values, n_bg, exact, &base) < 0)
			return 3;
		for (unsigned s = 1; s <= seeds; s++) {
			uint64_t full = ex_sampled_default_budget(M, n_bg);
			struct ex_sampled_config cfgs[8] = {
			    {.seed = s,
			     .fixed = true,
			     .shared_coalitions = true,
			     .kernel_weight_sizes = true},
			    {.seed = s, .fixed = true, .budget = full},
			    {.seed = s, .fixed = true, .budget = full / 2},
			    {.seed = s, .fixed = true, .budget = full / 4},
			    {.seed = s, .fixed = true, .budget = full},
			    {.seed = s, .fixed = true, .budget = full, .kernel_weight_sizes = true},
			    {.seed = s,
			     .fixed = true,
			     .budget = full / 2,
			     .kernel_weight_sizes = true},
			    {.seed = s, .tolerance = target / 3, .budget = 500 * full},
			};
			for (int k = 0; k < n_methods; k++) {
				struct ex_sampled_result r;
				double t0 = now();
				int rc = k != 4
				             ? ex_kernelshap(&f, x, bg.values, NULL, n_bg, &cfgs[k],
				                             &r, err, sizeof(err))
				             : ex_permutation_shap(&f, x, bg.values, NULL, n_bg,
				                                   &cfgs[k], &r, err, sizeof(err));
				if (rc < 0) {
					fprintf(stderr, "kernelshap-bench: %s: %s\n", t[k].name,
					        err);
					return 1;
				}
				add(&t[k], &r, exact, M, now() - t0, target);
				ex_sampled_result_free(&r);
			}
		}
	}
	printf("M=%zu background=%zu rows=%zu seeds=%u; mean over rows and seeds; to-target stops "
	       "at max stderr <= %g\n",
	       M, n_bg, rows.n_rows, seeds, target / 3);
	printf("%-14s %12s %11s %12s %9s %10s\n", "method", "model rows", "coalitions", "max|err|",
	       "<=target", "ms/row");
	for (int k = 0; k < n_methods; k++)
		printf("%-14s %12.0f %11.0f %12.2e %8.0f%% %10.2f\n", t[k].name, t[k].rows / t[k].n,
		       t[k].coalitions / t[k].n, t[k].err / t[k].n, 100 * t[k].within / t[k].n,
		       1e3 * t[k].seconds / t[k].n);
	printf("evidentd 50%% / shap 100%%: %.2f of the model rows at %.2f of the max error\n",
	       t[2].rows / t[0].rows, t[2].err / t[0].err);
	printf("kernel-w 50%% / shap 100%%: %.2f of the model rows at %.2f of the max error\n",
	       t[6].rows / t[0].rows, t[6].err / t[0].err);
	free(exact);
	ex_rows_free(&rows);
	ex_rows_free(&bg);
	ex_model_free(m);
	return 0;
}
