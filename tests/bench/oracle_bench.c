/* SPDX-License-Identifier: Apache-2.0 */
/* oracle-bench: rows per second through the oracle protocol's client (ex_oracle_predict).
 *
 *     oracle-bench [--procs N] [--rows N] [--features M] [--batch B] [--repeat R]
 *                  [--artifact PATH | --linear] COMMAND
 *
 * --linear writes a linear-json model with M features to a temporary file and passes it as
 * EVIDENT_ARTIFACT (for evident-oracle). Rows are uniform in [-1, 1). Prints the start-up
 * (open + probe) time and, per repeat, the wall time and rows/s of one ex_oracle_predict of
 * all rows; then the median. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "explain.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"procs", required_argument, NULL, 'p'},    {"rows", required_argument, NULL, 'n'},
	    {"features", required_argument, NULL, 'm'}, {"batch", required_argument, NULL, 'b'},
	    {"repeat", required_argument, NULL, 'r'},   {"artifact", required_argument, NULL, 'a'},
	    {"linear", no_argument, NULL, 'l'},         {NULL, 0, NULL, 0}};
	unsigned procs = 1, repeat = 5;
	size_t n = 10000, M = 50, batch = 0;
	const char *artifact = NULL;
	char linear_path[] = "/tmp/oracle-bench-XXXXXX";
	bool linear = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			procs = (unsigned)atoi(optarg);
			break;
		case 'n':
			n = (size_t)atol(optarg);
			break;
		case 'm':
			M = (size_t)atol(optarg);
			break;
		case 'b':
			batch = (size_t)atol(optarg);
			break;
		case 'r':
			repeat = (unsigned)atoi(optarg);
			break;
		case 'a':
			artifact = optarg;
			break;
		case 'l':
			linear = true;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || repeat == 0 || repeat > 100 || n == 0 || M == 0) {
		fprintf(stderr,
		        "usage: oracle-bench [--procs N] [--rows N] [--features M] [--batch B] "
		        "[--repeat R] [--artifact PATH | --linear] COMMAND\n");
		return 2;
	}
	if (linear) {
		int fd = mkstemp(linear_path);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f) {
			perror("oracle-bench: mkstemp");
			return 1;
		}
		fprintf(f, "{\"intercept\": 0.25, \"link\": \"logit\", \"coef\": [");
		for (size_t j = 0; j < M; j++)
			fprintf(f, "%s%.3f", j ? ", " : "", 0.01 * (double)(j % 17) - 0.05);
		fprintf(f, "]}\n");
		fclose(f);
		artifact = linear_path;
	}
	double *x = malloc(n * M * sizeof(double)), *out;
	uint64_t s = 88172645463325252ull;
	for (size_t i = 0; i < n * M; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		x[i] = (double)(s >> 11) / 4503599627370496.0 - 1.0;
	}
	struct ex_oracle_config cfg = {.command = argv[optind],
	                               .artifact_path = artifact,
	                               .n_features = M,
	                               .n_procs = procs,
	                               .timeout_ms = 120000,
	                               .max_batch_rows = batch};
	struct ex_oracle *o;
	char err[EX_ERR_MAX];
	double t0 = now_s();
	if (ex_oracle_open(&cfg, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "oracle-bench: %s\n", err);
		return 1;
	}
	printf("open + probe: %.3f s, %zu outputs\n", now_s() - t0, ex_oracle_n_outputs(o));
	out = malloc(n * ex_oracle_n_outputs(o) * sizeof(double));
	double rates[100];
	for (unsigned r = 0; r < repeat; r++) {
		t0 = now_s();
		if (ex_oracle_predict(o, x, n, out, err, sizeof(err)) < 0) {
			fprintf(stderr, "oracle-bench: %s\n", err);
			return 1;
		}
		double dt = now_s() - t0;
		rates[r] = (double)n / dt;
		printf("run %u: %zu rows x %zu features in %.4f s: %.0f rows/s\n", r, n, M, dt,
		       rates[r]);
	}
	qsort(rates, repeat, sizeof(double), cmp);
	printf("median: %.0f rows/s (procs %u, batch %zu)\n", rates[repeat / 2], procs,
	       batch ? batch : 4096);
	ex_oracle_close(o);
	if (linear)
		unlink(linear_path);
	free(x);
	free(out);
	return 0;
}
