/* SPDX-License-Identifier: Apache-2.0 */
/* ex-predict: a test-only tool that loads a model with the explain library and prints its
 * margins, so the oracle tests compare the loaders with the training library itself.
 *
 *     ex-predict MODEL ROWS.csv
 *
 * ROWS.csv has a header line and one row per line; an empty field or "nan" is missing. One
 * JSON line per row: {"row":i,"margin":[...]} with %.17g (exact doubles). Exit 0 on success,
 * 1 on a refused model or a bad row, 2 on usage errors. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "explain.h"

static int parse_row(char *line, double *x, size_t n, size_t lineno)
{
	size_t i = 0;
	char *p = line;

	for (;;) {
		char *end = strchr(p, ',');
		if (end)
			*end = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		size_t l = strlen(p);
		while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '\r'))
			p[--l] = '\0';
		if (i >= n) {
			fprintf(stderr, "ex-predict: line %zu: more than %zu fields\n", lineno, n);
			return -EINVAL;
		}
		if (!*p || !strcasecmp(p, "nan")) {
			x[i] = NAN;
		} else {
			char *e;
			errno = 0;
			x[i] = strtod(p, &e);
			if (e == p || *e) {
				fprintf(stderr,
				        "ex-predict: line %zu: field %zu: \"%s\" is not a number\n",
				        lineno, i + 1, p);
				return -EINVAL;
			}
		}
		i++;
		if (!end)
			break;
		p = end + 1;
	}
	if (i != n) {
		fprintf(stderr, "ex-predict: line %zu: %zu fields, the model has %zu features\n",
		        lineno, i, n);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ex_model *m = NULL;
	char err[EX_ERR_MAX] = "";
	char *line = NULL;
	size_t cap = 0, lineno = 0, row = 0;
	double *x = NULL, *out = NULL;
	FILE *f;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: ex-predict MODEL ROWS.csv\n");
		return 2;
	}
	rc = ex_model_load(argv[1], EX_FORMAT_AUTO, &m, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ex-predict: %s (%s)\n", err[0] ? err : argv[1], strerror(-rc));
		return 1;
	}
	f = fopen(argv[2], "re");
	if (!f) {
		fprintf(stderr, "ex-predict: %s: %s\n", argv[2], strerror(errno));
		ex_model_free(m);
		return 1;
	}
	size_t M = ex_model_n_features(m), K = ex_model_n_outputs(m);
	x = calloc(M ? M : 1, sizeof(double));
	out = calloc(K ? K : 1, sizeof(double));
	rc = x && out ? 0 : -ENOMEM;
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		if (lineno++ == 0) { /* the header: one name per feature */
			size_t fields = 1;
			for (const char *p = line; *p; p++)
				fields += *p == ',';
			if (fields != M) {
				fprintf(stderr,
				        "ex-predict: %s: the header has %zu fields, the model %zu "
				        "features\n",
				        argv[2], fields, M);
				rc = -EINVAL;
			}
			continue;
		}
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || !strcmp(line, "\r"))
			continue;
		rc = parse_row(line, x, M, lineno);
		if (rc == 0)
			rc = ex_predict_margin(m, x, NULL, out);
		if (rc < 0) {
			fprintf(stderr, "ex-predict: line %zu: %s\n", lineno, strerror(-rc));
			break;
		}
		printf("{\"row\":%zu,\"margin\":[", row++);
		for (size_t k = 0; k < K; k++)
			printf("%s%.17g", k ? "," : "", out[k]);
		printf("]}\n");
	}
	fclose(f);
	free(line);
	free(x);
	free(out);
	ex_model_free(m);
	return rc < 0 ? 1 : 0;
}
