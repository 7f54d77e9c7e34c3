/* SPDX-License-Identifier: Apache-2.0 */
/* trigger-bench: nanoseconds per evaluation of a compiled trigger expression, beside the
 * same condition hand-written in C (the floor), in the same run.
 *
 *   trigger-bench [N (10000000)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trigger.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct rec {
	double amount;
	const char *desk;
};

static bool ctx(void *ud, const char *key, double *ret)
{
	const struct rec *r = ud;
	if (strcmp(key, "amount"))
		return false;
	*ret = r->amount;
	return true;
}

static const char *lab(void *ud, const char *key)
{
	const struct rec *r = ud;
	return strcmp(key, "desk") ? NULL : r->desk;
}

int main(int argc, char **argv)
{
	static const char src[] = "context.amount > 100000 && label.desk in [\"fx\", \"rates\"] "
	                          "&& (score > 0.9 || abs(feature.vol - feature.vol_ma) > 3)";
	long n = argc > 1 ? atol(argv[1]) : 10000000;
	struct trig_expr *x;
	struct trig_error e;
	double features[2] = {4, 0.5}, scores[1] = {0.95};
	size_t binding[2] = {0, 1};
	struct rec rec = {.amount = 150000, .desk = "rates"};
	struct trig_record r = {.features = features,
	                        .n_features = 2,
	                        .binding = binding,
	                        .scores = scores,
	                        .n_scores = 1,
	                        .context = ctx,
	                        .label = lab,
	                        .userdata = &rec};
	long fired = 0, fired_c = 0;

	if (trig_compile(src, &x, &e) < 0) {
		fprintf(stderr, "trigger-bench: column %u: %s\n", e.column, e.message);
		return 1;
	}
	double t0 = now();
	for (long i = 0; i < n; i++) {
		rec.amount = (double)(i & 0x3ffff);
		fired += trig_eval(x, &r);
	}
	double t1 = now();
	for (long i = 0; i < n; i++) {
		double amount;
		rec.amount = (double)(i & 0x3ffff);
		const char *desk = lab(&rec, "desk");
		fired_c += ctx(&rec, "amount", &amount) && amount > 100000 && desk &&
		           (!strcmp(desk, "fx") || !strcmp(desk, "rates")) &&
		           (scores[0] > 0.9 || fabs(features[0] - features[1]) > 3);
	}
	double t2 = now();
	printf("$ trigger-bench %ld\nexpression: %s\n", n, src);
	printf("compiled trigger  %7.1f ns/eval\nhand-written C    %7.1f ns/eval\n",
	       1e9 * (t1 - t0) / (double)n, 1e9 * (t2 - t1) / (double)n);
	trig_free(x);
	return fired == fired_c ? 0 : 1;
}
