/* SPDX-License-Identifier: Apache-2.0 */
/* Row files: evidentctl explain's --rows and --background, and registered reference data
 * (explain.h, "input rows"). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "explain.h"

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

void ex_rows_free(struct ex_rows *r)
{
	if (r->names)
		for (size_t i = 0; i < r->n_cols; i++)
			free(r->names[i]);
	free(r->names);
	free(r->values);
	*r = (struct ex_rows){0};
}

static bool missing_token(const char *s, size_t len)
{
	return len == 0 || (len == 3 && (!strncmp(s, "nan", 3) || !strncmp(s, "NaN", 3))) ||
	       (len == 2 && !strncmp(s, "NA", 2));
}

/* ------------------------------------------------------------------ CSV */

/* Splits one CSV line (RFC 4180 quotes) into fields; returns the count or -1 on bad quoting.
 * Fields point into buf (modified in place). */
static int csv_split(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		char *out, *start;
		if (n == max)
			return -1;
		if (*p == '"') {
			start = out = ++p;
			for (;;) {
				if (!*p)
					return -1;
				if (*p == '"') {
					if (p[1] == '"') {
						*out++ = '"';
						p += 2;
						continue;
					}
					p++;
					break;
				}
				*out++ = *p++;
			}
			if (*p && *p != ',')
				return -1;
			*out = '\0';
		} else {
			start = p;
			while (*p && *p != ',')
				p++;
		}
		fields[n++] = start;
		if (!*p)
			break;
		*p++ = '\0';
	}
	return (int)n;
}

static size_t count_fields(const char *line)
{
	size_t n = 1;
	for (; *line; line++)
		n += *line == ',';
	return n;
}

static int parse_csv(char *text, const char *name, struct ex_rows *r, char *err, size_t err_size)
{
	char *save = NULL, *line;
	char **fields = NULL;
	size_t cap = 0, lineno = 0;
	bool header = true;
	int rc = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line), maxf = count_fields(line);
		int n;

		lineno++;
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0)
			continue;
		free(fields);
		fields = malloc(maxf * sizeof(*fields));
		if (!fields)
			return -ENOMEM;
		n = csv_split(line, fields, maxf);
		if (n < 0) {
			rc = fail(err, err_size, "%s: line %zu: bad CSV quoting", name, lineno);
			goto out;
		}
		if (header) {
			header = false;
			r->n_cols = (size_t)n;
			r->names = calloc(r->n_cols, sizeof(char *));
			if (!r->names) {
				rc = -ENOMEM;
				goto out;
			}
			for (size_t i = 0; i < r->n_cols; i++)
				if (!(r->names[i] = strdup(fields[i]))) {
					rc = -ENOMEM;
					goto out;
				}
			continue;
		}
		if ((size_t)n != r->n_cols) {
			rc = fail(err, err_size, "%s: line %zu: %d fields, the header has %zu",
			          name, lineno, n, r->n_cols);
			goto out;
		}
		if ((r->n_rows + 1) * r->n_cols > cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			while (ncap < (r->n_rows + 1) * r->n_cols)
				ncap *= 2;
			double *nv = realloc(r->values, ncap * sizeof(double));
			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			r->values = nv;
			cap = ncap;
		}
		for (size_t j = 0; j < r->n_cols; j++) {
			const char *f = fields[j];
			size_t fl = strlen(f);
			double v;

			while (fl && f[fl - 1] == ' ')
				fl--;
			while (fl && *f == ' ') {
				f++;
				fl--;
			}
			if (missing_token(f, fl)) {
				v = NAN;
			} else if (!ex__decimal(f, fl, &v)) {
				char *end;
				v = strtod(f, &end);
				if (end != f + fl) {
					rc = fail(err, err_size,
					          "%s: line %zu, column %zu (%s): \"%.*s\" is not "
					          "a number",
					          name, lineno, j + 1, r->names[j], (int)fl, f);
					goto out;
				}
			}
			r->values[r->n_rows * r->n_cols + j] = v;
		}
		r->n_rows++;
	}
	if (header)
		rc = fail(err, err_size, "%s: empty file (expected a header line)", name);
out:
	free(fields);
	return rc;
}

/* ------------------------------------------------------------------ JSON */

static int parse_json(const char *text, size_t len, const char *name, struct ex_rows *r, char *err,
                      size_t err_size)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_DECODE_ANY, &je), *arr, *fn = NULL;
	int rc = 0;

	if (!root)
		return fail(err, err_size, "%s: line %d: %s", name, je.line, je.text);
	if (json_is_object(root)) {
		arr = json_object_get(root, "rows");
		fn = json_object_get(root, "feature_names");
		if (!json_is_array(arr)) {
			rc = fail(err, err_size, "%s: \"rows\" must be an array of arrays", name);
			goto out;
		}
		if (fn && !json_is_array(fn) && !json_is_null(fn)) {
			rc = fail(err, err_size,
			          "%s: \"feature_names\" must be an array of strings", name);
			goto out;
		}
		if (json_is_null(fn))
			fn = NULL;
	} else if (json_is_array(root)) {
		arr = root;
	} else {
		rc = fail(err, err_size, "%s: expected an array of rows or an object with \"rows\"",
		          name);
		goto out;
	}
	r->n_rows = json_array_size(arr);
	if (r->n_rows) {
		json_t *first = json_array_get(arr, 0);
		if (!json_is_array(first)) {
			rc = fail(err, err_size, "%s: rows[0] is not an array", name);
			goto out;
		}
		r->n_cols = json_array_size(first);
	} else if (fn) {
		r->n_cols = json_array_size(fn);
	}
	if (fn) {
		if (json_array_size(fn) != r->n_cols) {
			rc = fail(err, err_size, "%s: %zu feature_names for rows of %zu values",
			          name, json_array_size(fn), r->n_cols);
			goto out;
		}
		r->names = calloc(r->n_cols ? r->n_cols : 1, sizeof(char *));
		if (!r->names) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t j = 0; j < r->n_cols; j++) {
			const char *s = json_string_value(json_array_get(fn, j));
			if (!s) {
				rc = fail(err, err_size, "%s: feature_names[%zu] is not a string",
				          name, j);
				goto out;
			}
			if (!(r->names[j] = strdup(s))) {
				rc = -ENOMEM;
				goto out;
			}
		}
	}
	r->values = malloc((r->n_rows * r->n_cols + 1) * sizeof(double));
	if (!r->values) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		json_t *row = json_array_get(arr, i);
		if (!json_is_array(row) || json_array_size(row) != r->n_cols) {
			rc = fail(err, err_size, "%s: rows[%zu]: expected an array of %zu values",
			          name, i, r->n_cols);
			goto out;
		}
		for (size_t j = 0; j < r->n_cols; j++) {
			json_t *v = json_array_get(row, j);
			if (json_is_null(v)) {
				r->values[i * r->n_cols + j] = NAN;
			} else if (json_is_number(v)) {
				r->values[i * r->n_cols + j] = json_number_value(v);
			} else {
				rc = fail(err, err_size, "%s: rows[%zu][%zu]: not a number or null",
				          name, i, j);
				goto out;
			}
		}
	}
out:
	json_decref(root);
	return rc;
}

int ex_rows_parse(const char *text, size_t len, const char *name, struct ex_rows *ret, char *err,
                  size_t err_size)
{
	struct ex_rows r = {0};
	size_t i = 0;
	int rc;

	while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
		i++;
	if (i < len && (text[i] == '[' || text[i] == '{')) {
		rc = parse_json(text, len, name, &r, err, err_size);
	} else {
		char *copy = malloc(len + 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, text, len);
		copy[len] = '\0';
		if (memchr(text, '\0', len))
			rc = fail(err, err_size, "%s: contains a NUL byte, not a CSV file", name);
		else
			rc = parse_csv(copy, name, &r, err, err_size);
		free(copy);
	}
	if (rc < 0) {
		ex_rows_free(&r);
		return rc;
	}
	*ret = r;
	return 0;
}

int ex_rows_select(struct ex_rows *r, size_t n_features,
                   const char *(*feature_name)(void *, size_t), void *userdata, const char *name,
                   char *err, size_t err_size)
{
	bool by_name = r->names != NULL;
	size_t *col;
	double *nv;

	for (size_t j = 0; by_name && j < n_features; j++)
		if (!feature_name(userdata, j))
			by_name = false;
	if (!by_name) {
		if (r->n_cols != n_features) {
			snprintf(err, err_size,
			         "%s: rows have %zu values, the model has %zu features", name,
			         r->n_cols, n_features);
			return -EINVAL;
		}
		return 0;
	}
	col = malloc((n_features ? n_features : 1) * sizeof(*col));
	if (!col)
		return -ENOMEM;
	for (size_t j = 0; j < n_features; j++) {
		const char *fname = feature_name(userdata, j);
		size_t k;
		for (k = 0; k < r->n_cols; k++)
			if (!strcmp(r->names[k], fname))
				break;
		if (k == r->n_cols) {
			snprintf(err, err_size, "%s: no column \"%s\" (the model's feature %zu)",
			         name, fname, j);
			free(col);
			return -EINVAL;
		}
		col[j] = k;
	}
	nv = malloc((r->n_rows * n_features + 1) * sizeof(double));
	if (!nv) {
		free(col);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->n_rows; i++)
		for (size_t j = 0; j < n_features; j++)
			nv[i * n_features + j] = r->values[i * r->n_cols + col[j]];
	for (size_t j = 0; j < r->n_cols; j++)
		free(r->names[j]);
	free(r->names);
	r->names = NULL;
	free(r->values);
	free(col);
	r->values = nv;
	r->n_cols = n_features;
	return 0;
}
