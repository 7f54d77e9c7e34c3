/* SPDX-License-Identifier: Apache-2.0 */
/* explain-bench: attribution throughput of the explain library on one model file and one row
 * file, with N threads, reported as rows/s; optionally dumps the attributions (base value
 * appended per output, XGBoost's pred_contribs layout) for checking against another library.
 *
 *   explain-bench --model FILE --rows FILE [--method treeshap|single|classic|
 *                 interventional|interactions] [--background FILE] [--threads N] [--min-seconds S]
 *                 [--dump FILE]
 *
 * Driven by tests/bench/explain_bench.py, which times XGBoost's pred_contribs on the same
 * model and rows in the same run. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
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

struct ctx {
	const struct ex_model *m;
	const struct ex_rows *rows, *bg;
	const char *method;
	size_t M, K, per_row;
	double *out; /* per row: per_row values */
	unsigned threads;
	int rc;
};

struct worker {
	struct ctx *c;
	unsigned id;
	pthread_t th;
};

static int one(struct ctx *c, size_t i, double *phi, double *base)
{
	const double *x = c->rows->values + i * c->M;

	if (!strcmp(c->method, "single"))
		return ex_treeshap(c->m, x, phi, base);
	if (!strcmp(c->method, "classic"))
		return ex_treeshap_classic(c->m, x, phi, base);
	if (!strcmp(c->method, "interventional"))
		return ex_treeshap_interventional(c->m, x, c->bg->values, c->bg->n_rows, phi, base);
	if (!strcmp(c->method, "interactions"))
		return ex_interactions(c->m, x, phi, base);
	return -EINVAL;
}

/* treeshap: the batched entry point over this thread's contiguous share of the rows */
static void work_rows(struct worker *w)
{
	struct ctx *c = w->c;
	size_t n = c->rows->n_rows, from = n * w->id / c->threads,
	       to = n * (w->id + 1) / c->threads;
	double *phi = malloc((to - from + 1) * c->K * c->M * sizeof(double));
	double *base = malloc((to - from + 1) * c->K * sizeof(double));
	int rc = ex_treeshap_rows(c->m, c->rows->values + from * c->M, to - from, phi, base, NULL);

	if (rc < 0)
		c->rc = rc;
	for (size_t i = from; rc == 0 && c->out && i < to; i++) {
		double *o = c->out + i * c->per_row;
		for (size_t g = 0; g < c->K; g++) {
			memcpy(o + g * (c->M + 1), phi + ((i - from) * c->K + g) * c->M,
			       c->M * sizeof(double));
			o[g * (c->M + 1) + c->M] = base[(i - from) * c->K + g];
		}
	}
	free(phi);
	free(base);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct ctx *c = w->c;

	if (!strcmp(c->method, "treeshap")) {
		work_rows(w);
		return NULL;
	}
	bool inter = !strcmp(c->method, "interactions");
	size_t plen = inter ? c->K * c->M * c->M : c->K * c->M;
	double *phi = malloc(plen * sizeof(double)), base[64];

	for (size_t i = w->id; i < c->rows->n_rows; i += c->threads) {
		int rc = one(c, i, phi, base);
		if (rc < 0) {
			c->rc = rc;
			break;
		}
		if (c->out && !inter) {
			/* XGBoost's pred_contribs layout: per output, M contributions then bias */
			double *o = c->out + i * c->per_row;
			for (size_t g = 0; g < c->K; g++) {
				memcpy(o + g * (c->M + 1), phi + g * c->M, c->M * sizeof(double));
				o[g * (c->M + 1) + c->M] = base[g];
			}
		}
	}
	free(phi);
	return NULL;
}

static int load_rows(const char *path, struct ex_rows *r)
{
	FILE *f = fopen(path, "rbe");
	char *buf, err[512];
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "explain-bench: cannot read %s\n", path);
		return -1;
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "explain-bench: cannot read %s\n", path);
		return -1;
	}
	fclose(f);
	int rc = ex_rows_parse(buf, (size_t)n, path, r, err, sizeof(err));
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "explain-bench: %s\n", err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
	                                     {"rows", required_argument, NULL, 'r'},
	                                     {"method", required_argument, NULL, 'x'},
	                                     {"background", required_argument, NULL, 'b'},
	                                     {"threads", required_argument, NULL, 't'},
	                                     {"min-seconds", required_argument, NULL, 's'},
	                                     {"dump", required_argument, NULL, 'd'},
	                                     {0}};
	const char *model = NULL, *rows_path = NULL, *bg_path = NULL, *dump = NULL;
	struct ctx c = {.method = "treeshap", .threads = 1};
	struct ex_rows rows = {0}, bg = {0};
	struct ex_model *m;
	double min_seconds = 1.0;
	char err[EX_ERR_MAX];
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			model = optarg;
			break;
		case 'r':
			rows_path = optarg;
			break;
		case 'x':
			c.method = optarg;
			break;
		case 'b':
			bg_path = optarg;
			break;
		case 't':
			c.threads = (unsigned)atoi(optarg);
			break;
		case 's':
			min_seconds = atof(optarg);
			break;
		case 'd':
			dump = optarg;
			break;
		default:
			return 2;
		}
	}
	if (!model || !rows_path || c.threads < 1 || c.threads > 64) {
		fprintf(stderr,
		        "usage: explain-bench --model FILE --rows FILE [--method M] "
		        "[--background FILE] [--threads N] [--min-seconds S] [--dump FILE]\n");
		return 2;
	}
	if (ex_model_load(model, EX_FORMAT_AUTO, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "explain-bench: %s\n", err);
		return 3;
	}
	if (load_rows(rows_path, &rows) < 0 || (bg_path && load_rows(bg_path, &bg) < 0))
		return 3;
	c.m = m;
	c.rows = &rows;
	c.bg = &bg;
	c.M = ex_model_n_features(m);
	c.K = ex_model_n_outputs(m);
	if (rows.n_cols != c.M) {
		fprintf(stderr, "explain-bench: rows have %zu columns, the model %zu features\n",
		        rows.n_cols, c.M);
		return 2;
	}
	c.per_row = c.K * (c.M + 1);
	if (dump)
		c.out = malloc(rows.n_rows * c.per_row * sizeof(double));

	/* Repeat whole passes until min_seconds have passed, so short runs are not noise. */
	double t0 = now(), elapsed;
	size_t passes = 0;
	do {
		struct worker ws[64];
		for (unsigned t = 0; t < c.threads; t++) {
			ws[t] = (struct worker){.c = &c, .id = t};
			if (t)
				pthread_create(&ws[t].th, NULL, work, &ws[t]);
		}
		work(&ws[0]);
		for (unsigned t = 1; t < c.threads; t++)
			pthread_join(ws[t].th, NULL);
		passes++;
		elapsed = now() - t0;
		if (c.out && passes == 1) {
			FILE *f = fopen(dump, "wbe");
			if (!f || fwrite(c.out, sizeof(double), rows.n_rows * c.per_row, f) !=
			              rows.n_rows * c.per_row) {
				fprintf(stderr, "explain-bench: cannot write %s\n", dump);
				return 3;
			}
			fclose(f);
		}
	} while (c.rc == 0 && elapsed < min_seconds);
	if (c.rc < 0) {
		fprintf(stderr, "explain-bench: %s failed: %s\n", c.method, strerror(-c.rc));
		return 1;
	}
	printf("%s %u %zu %.6f %.1f\n", c.method, c.threads, rows.n_rows * passes, elapsed,
	       (double)(rows.n_rows * passes) / elapsed);
	free(c.out);
	ex_rows_free(&rows);
	ex_rows_free(&bg);
	ex_model_free(m);
	return 0;
}
