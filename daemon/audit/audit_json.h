/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the audit library: how numbers are written in its JSON (method_json.c), shared by
 * audit.c's document and the method writers. Not part of the library's API (audit.h). */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* v as a real with every digit, or null when it is not finite (JSON has no NaN). NULL only
 * when out of memory, as every function here. */
json_t *aj_real(double v);
/* n values as an array of aj_real. */
json_t *aj_reals(const double *v, size_t n);
/* rows x cols values (row-major) as an array of aj_reals rows. */
json_t *aj_matrix(const double *v, size_t rows, size_t cols);
/* An integer; above INT64_MAX (which JSON integers here cannot hold) a decimal string. */
json_t *aj_u64(uint64_t v);
