/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: trigger expressions (daemon/trigger/trigger.c) on arbitrary bytes, as a config
 * file's `when =` line would hold them. A refusal must give a column inside the text and a
 * message; an expression that compiles is evaluated on records with values, missing values and
 * absent keys, which must not crash. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trigger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool context(void *ud, const char *key, double *ret)
{
	(void)ud;
	if (key[0] == 'n')
		return false;
	*ret = key[0] == 'z' ? NAN : (double)strlen(key);
	return true;
}

static const char *label(void *ud, const char *key)
{
	(void)ud;
	return key[0] == 'n' ? NULL : key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = malloc(size + 1);
	struct trig_expr *x;
	struct trig_error e;

	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = 0;
	int rc = trig_compile(src, &x, &e);
	if (rc < 0) {
		if (rc == -EINVAL && (!e.message[0] || e.column < 1 || e.column > strlen(src) + 1))
			abort(); /* every refusal says why and where */
		free(src);
		return 0;
	}
	size_t n = trig_n_features(x), binding[64];
	double features[3] = {1.5, NAN, -2};
	double scores[2] = {0.25, NAN};
	for (size_t i = 0; i < n && i < 64; i++)
		binding[i] = i % 4 == 3 ? SIZE_MAX : i % 3;
	struct trig_record r = {.features = features,
	                        .n_features = 3,
	                        .binding = n <= 64 ? binding : NULL,
	                        .scores = scores,
	                        .n_scores = 2,
	                        .decision = "sell",
	                        .model = "m",
	                        .version = NULL,
	                        .context = context,
	                        .label = label};
	int v = trig_eval(x, &r);
	if (v != 0 && v != 1)
		abort();
	r.context = NULL;
	r.label = NULL;
	r.n_scores = 0;
	trig_eval(x, &r);
	trig_free(x);
	free(src);
	return 0;
}
