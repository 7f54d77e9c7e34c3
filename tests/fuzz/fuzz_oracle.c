/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the oracle client's response parser on arbitrary bytes. The first byte picks
 * the expected shape (rows 1..8, outputs 0..3 where 0 means "learn", as the probe does), the
 * second the request_id; the rest is what the oracle wrote. The parser must return 0, -EAGAIN
 * or -EPROTO with a reason (and a consumed length inside the input); an accepted response must have
 * the promised shape, finite values, and stay incomplete (-EAGAIN) when its last byte is missing.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static double out[8 * EX_ORACLE_MAX_OUTPUTS];
	char err[EX_ERR_MAX] = "";
	size_t outputs = 0, used = 0;

	if (size < 2)
		return 0;
	size_t n_rows = 1 + (data[0] & 7), expected = (data[0] >> 3) & 3;
	uint64_t id = data[1];
	const uint8_t *buf = data + 2;
	size_t len = size - 2;

	int rc = ex_oracle_parse_response(buf, len, 1u << 16, id, n_rows, expected, out, &outputs,
	                                  &used, err, sizeof(err));
	if (rc == -EPROTO) {
		if (!err[0] || used > len)
			abort(); /* every refusal says why */
		return 0;
	}
	if (rc == -EAGAIN)
		return 0;
	if (rc != 0 || used == 0 || used > len || outputs == 0 || outputs > EX_ORACLE_MAX_OUTPUTS ||
	    (expected && outputs != expected))
		abort();
	for (size_t i = 0; i < n_rows * outputs; i++)
		if (!isfinite(out[i]))
			abort();
	if (ex_oracle_parse_response(buf, used - 1, 1u << 16, id, n_rows, expected, out, &outputs,
	                             &used, err, sizeof(err)) != -EAGAIN)
		abort();
	return 0;
}
