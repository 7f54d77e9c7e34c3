/* SPDX-License-Identifier: Apache-2.0 */
/* adversarial-bench: wall time per explained row of the failure-region search on one tree
 * model (daemon/explain/METHODS.md §6), with path-dependent TreeSHAP as the signature's explainer.
 *
 *   adversarial-bench --model FILE --rows FILE [--method tree|search] [--n N] [--ref N]
 *                     [--budget ROWS] [--seed S]
 *
 * The first --ref rows (default 1000) are the reference rows (feature info and coverage);
 * the next --n rows (default 10) are explained one at a time. Prints one line per row and a
 * summary (mean and median milliseconds). Single-threaded, as the library is. */
#include <getopt.h>
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

static int load_rows(const char *path, struct ex_rows *r)
{
	FILE *f = fopen(path, "rbe");
	char *buf, err[512];
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "adversarial-bench: cannot read %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "adversarial-bench: cannot read %s\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	int rc = ex_rows_parse(buf, (size_t)n, path, r, err, sizeof(err));
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "adversarial-bench: %s\n", err);
		return -1;
	}
	return 0;
}

struct shap_ctx {
	const struct ex_model *m;
	double *phi, *base;
};

static int treeshap_explain(void *userdata, const double *x, size_t output, double *phi, char *err,
                            size_t err_size)
{
	struct shap_ctx *c = userdata;
	size_t M = ex_model_n_features(c->m);
	int rc = ex_treeshap(c->m, x, c->phi, c->base);
	if (rc < 0) {
		snprintf(err, err_size, "treeshap: error %d", rc);
		return rc;
	}
	memcpy(phi, c->phi + output * M, M * sizeof(double));
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"model", required_argument, NULL, 'm'},  {"rows", required_argument, NULL, 'r'},
	    {"method", required_argument, NULL, 'k'}, {"n", required_argument, NULL, 'n'},
	    {"ref", required_argument, NULL, 'f'},    {"budget", required_argument, NULL, 'b'},
	    {"seed", required_argument, NULL, 's'},   {0}};
	const char *model_path = NULL, *rows_path = NULL, *method = "tree";
	size_t n = 10, n_ref = 1000, budget = 0;
	uint64_t seed = 1;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			model_path = optarg;
			break;
		case 'r':
			rows_path = optarg;
			break;
		case 'k':
			method = optarg;
			break;
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			n_ref = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			budget = strtoull(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (!model_path || !rows_path ||
	    (strcmp(method, "tree") != 0 && strcmp(method, "search") != 0)) {
		fprintf(stderr, "usage: adversarial-bench --model FILE --rows FILE "
		                "[--method tree|search] [--n N] [--ref N] [--budget ROWS] "
		                "[--seed S]\n");
		return 2;
	}
	char err[EX_ERR_MAX];
	struct ex_model *m;
	if (ex_model_load(model_path, EX_FORMAT_AUTO, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "adversarial-bench: %s\n", err);
		return 1;
	}
	struct ex_rows rows;
	if (load_rows(rows_path, &rows) < 0)
		return 1;
	size_t M = ex_model_n_features(m);
	if (rows.n_cols != M || rows.n_rows < 2) {
		fprintf(stderr, "adversarial-bench: %s has %zu columns, the model %zu features\n",
		        rows_path, rows.n_cols, M);
		return 1;
	}
	if (n_ref >= rows.n_rows)
		n_ref = rows.n_rows - 1;
	if (n_ref + n > rows.n_rows)
		n = rows.n_rows - n_ref;
	struct ex_feature_info *info = calloc(M, sizeof(*info));
	struct shap_ctx sc = {.m = m,
	                      .phi = malloc(ex_model_n_outputs(m) * M * sizeof(double)),
	                      .base = malloc(ex_model_n_outputs(m) * sizeof(double))};
	double *ms = malloc(n * sizeof(double));
	if (!info || !sc.phi || !sc.base || !ms ||
	    ex_feature_info_from_rows(rows.values, n_ref, M, info) < 0) {
		fprintf(stderr, "adversarial-bench: out of memory\n");
		return 1;
	}
	struct ex_explainer e = {.explain = treeshap_explain, .userdata = &sc};
	struct ex_fn f;
	ex_fn_from_model(m, &f);
	struct ex_decision d = {.argmax = ex_model_n_outputs(m) > 1};
	struct ex_adv_config c = {.seed = seed, .budget = budget};
	printf("model %s: %zu trees, %zu features; method %s, %zu reference rows, budget %zu\n",
	       model_path, ex_model_n_trees(m), M, method, n_ref, budget ? budget : 20000);
	for (size_t i = 0; i < n; i++) {
		const double *x = rows.values + (n_ref + i) * M;
		struct ex_region *r = NULL;
		double t0 = now();
		int rc = strcmp(method, "tree") == 0
		             ? ex_adversarial_tree(m, NULL, &e, x, rows.values, n_ref, info, &d, &c,
		                                   &r, err, sizeof(err))
		             : ex_adversarial_search(&f, &e, x, rows.values, n_ref, info, &d, &c,
		                                     &r, err, sizeof(err));
		ms[i] = (now() - t0) * 1e3;
		if (rc < 0) {
			fprintf(stderr, "adversarial-bench: row %zu: %s\n", n_ref + i, err);
			return 1;
		}
		printf(
		    "row %zu: %.1f ms, %llu model rows, rule %zu features, steps %u, precision "
		    "%.3f [%.3f, %.3f], coverage %.3f, support %zu, exact %d, sampled %d, budget "
		    "hit %d\n",
		    n_ref + i, ms[i], (unsigned long long)r->model_rows, r->n_rule, r->steps,
		    r->precision, r->precision_lo, r->precision_hi, r->coverage, r->support,
		    r->exact, r->growth_sampled, r->budget_exhausted);
		ex_region_free(r);
	}
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ms[i];
	qsort(ms, n, sizeof(double), cmp_double);
	printf("rows %zu: mean %.1f ms, median %.1f ms per row\n", n, n ? sum / (double)n : 0,
	       n ? ms[n / 2] : 0);
	free(ms);
	free(info);
	free(sc.phi);
	free(sc.base);
	ex_rows_free(&rows);
	ex_model_free(m);
	return 0;
}
