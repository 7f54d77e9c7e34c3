/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the rows parser (CSV with a header, or JSON) on arbitrary bytes: explain's
 * --rows/--background files and the reference data clients register with a model. A refusal
 * must name the input and say why; parsed rows must have the shape they claim. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ex_rows r = {0};
	char err[512] = "";
	int rc = ex_rows_parse((const char *)data, size, "fuzz", &r, err, sizeof(err));

	if (rc == -EBADMSG) {
		if (!strstr(err, "fuzz"))
			abort(); /* every refusal names the input */
		return 0;
	}
	if (rc < 0)
		return 0;
	volatile double sum = 0;
	for (size_t i = 0; i < r.n_rows * r.n_cols; i++)
		sum += r.values[i]; /* every promised cell is readable (ASan) */
	for (size_t j = 0; r.names && j < r.n_cols; j++)
		if (!r.names[j])
			abort();
	(void)sum;
	ex_rows_free(&r);
	return 0;
}
