/* SPDX-License-Identifier: Apache-2.0 */
/* Input rows for `evidentctl explain` (ARCHITECTURE.md §5): CSV with a header line, or JSON
 * (an array of arrays, or an object with "rows" and optional "feature_names"); an empty CSV
 * field, "nan"/"NaN"/"NA", or JSON null is a missing value (NaN). */
#pragma once

#include <stddef.h>

struct rows {
	size_t n_rows, n_cols;
	double *values; /* n_rows x n_cols, row-major */
	char **names;   /* n_cols column names, or NULL (JSON without feature_names) */
};

/* Parses text[0..len) (format from the content: '[' or '{' first means JSON). name is used in
 * errors. Returns 0, or -EBADMSG with "NAME: line L: problem" / "NAME: rows[i][j]: problem"
 * in err, or -ENOMEM. */
int rows_parse(const char *text, size_t len, const char *name, struct rows *ret, char *err,
               size_t err_size);
void rows_free(struct rows *r);

/* Puts the columns in the order of the model's features. With column names and feature names
 * on both sides, columns are matched by name (extra columns are ignored); otherwise by
 * position, and the counts must agree. feature_name(i) returns the model's name of feature i
 * or NULL. Returns 0 or -EINVAL with a message naming the missing column. */
int rows_select(struct rows *r, size_t n_features, const char *(*feature_name)(void *, size_t),
                void *userdata, const char *name, char *err, size_t err_size);
