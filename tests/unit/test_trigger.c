/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for trigger expressions: every grammar rule, precedence and associativity
 * against C's own evaluation of the same arithmetic, missing-value rules, type errors and
 * their columns, feature binding. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "trigger.h"

static bool ctx(void *ud, const char *key, double *ret)
{
	(void)ud;
	if (!strcmp(key, "amount")) {
		*ret = 25000;
		return true;
	}
	if (!strcmp(key, "vol.1d")) {
		*ret = 0.75;
		return true;
	}
	return false;
}

static const char *lab(void *ud, const char *key)
{
	(void)ud;
	return !strcmp(key, "desk") ? "fx" : !strcmp(key, "region") ? "EU" : NULL;
}

/* Record: features (a, b, c) = (2, NaN, -3) bound by name; scores (0.9, 0.1); decision
 * "sell", model "trader", version "2.1". */
static int eval_src(const char *src)
{
	static const char *const names[] = {"a", "b", "c"};
	double features[3] = {2, NAN, -3}, scores[2] = {0.9, 0.1};
	size_t binding[16];
	struct trig_expr *x;
	struct trig_error e;
	int rc = trig_compile(src, &x, &e);

	ck_assert_msg(rc == 0, "%s: column %u: %s", src, e.column, e.message);
	for (size_t i = 0; i < trig_n_features(x); i++) {
		binding[i] = SIZE_MAX;
		for (size_t j = 0; j < 3; j++)
			if (!strcmp(trig_feature(x, i, NULL), names[j]))
				binding[i] = j;
	}
	struct trig_record r = {.features = features,
	                        .n_features = 3,
	                        .binding = binding,
	                        .scores = scores,
	                        .n_scores = 2,
	                        .decision = "sell",
	                        .model = "trader",
	                        .version = "2.1",
	                        .context = ctx,
	                        .label = lab};
	int v = trig_eval(x, &r);
	trig_free(x);
	return v;
}

static void expect_error(const char *src, unsigned column, const char *needle)
{
	struct trig_expr *x = NULL;
	struct trig_error e;

	ck_assert_int_eq(trig_compile(src, &x, &e), -EINVAL);
	ck_assert_ptr_null(x);
	ck_assert_msg(e.column == column && strstr(e.message, needle),
	              "%s: got column %u \"%s\", want column %u \"%s\"", src, e.column, e.message,
	              column, needle);
}

START_TEST(test_compile_grammar)
{
	/* every primary, operator and function once */
	ck_assert_int_eq(eval_src("feature.a == 2"), 1);
	ck_assert_int_eq(eval_src("context.amount > 10000 && label.desk == \"fx\""), 1);
	ck_assert_int_eq(eval_src("context.vol.1d >= 0.75"), 1);
	ck_assert_int_eq(eval_src("score > 0.5 && score[1] < 0.2 && score[0] == score"), 1);
	ck_assert_int_eq(
	    eval_src("decision == \"sell\" && model == \"trader\" && version != \"2\""), 1);
	ck_assert_int_eq(eval_src("label.region in [\"EU\", \"US\"]"), 1);
	ck_assert_int_eq(eval_src("feature.c in [1, -3, 5e0]"), 1);
	ck_assert_int_eq(eval_src("abs(feature.c) == 3 && min(1, feature.a, 5) == 1 && "
	                          "max(feature.a) == 2"),
	                 1);
	ck_assert_int_eq(eval_src("is_missing(feature.b) && !is_missing(feature.a) && "
	                          "is_missing(label.none) && is_missing(context.none)"),
	                 1);
	ck_assert_int_eq(eval_src("true && !false"), 1);
	ck_assert_int_eq(eval_src("7 % 4 == 3 && 1 / 4 == 0.25 && -feature.a == -2"), 1);
	ck_assert_int_eq(eval_src("label.desk == \"f\\\"x\\\\\" || 1 <= 1"), 1);
	ck_assert_int_eq(eval_src("  ( feature.a\t!=\n3 )  "), 1);
	ck_assert_int_eq(eval_src("feature.a < 2"), 0);
}
END_TEST

/* Precedence and associativity: each expression against the value C computes. */
START_TEST(test_eval_precedence)
{
	struct {
		const char *src;
		double value;
	} cases[] = {
	    {"1 + 2 * 3", 1 + 2 * 3},
	    {"(1 + 2) * 3", (1 + 2) * 3},
	    {"10 - 4 - 3", 10 - 4 - 3},
	    {"100 / 10 / 5", 100.0 / 10 / 5},
	    {"2 * 3 % 4", fmod(2 * 3, 4)},
	    {"-2 * -3", -2 * -3},
	    {"- - 4", 4},
	    {"1 - -1", 2},
	    {"8 / 2 * 4", 8.0 / 2 * 4},
	    {"2 + 3 % 2", 2 + fmod(3, 2)},
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s == %.17g", cases[i].src, cases[i].value);
		ck_assert_msg(eval_src(buf), "%s", buf);
		snprintf(buf, sizeof(buf), "%s != %.17g", cases[i].src, cases[i].value);
		ck_assert_msg(!eval_src(buf), "%s", buf);
	}
	/* && binds tighter than ||; ! tighter than && */
	ck_assert_int_eq(eval_src("true || true && false"), 1);
	ck_assert_int_eq(eval_src("(true || true) && false"), 0);
	ck_assert_int_eq(eval_src("!true && false || true"), 1);
	ck_assert_int_eq(eval_src("!(true && false)"), 1);
	/* comparison below arithmetic */
	ck_assert_int_eq(eval_src("1 + 1 == 2 && 2 * 2 > 3"), 1);
	/* random arithmetic against C */
	uint64_t seed = 11;
	for (int i = 0; i < 500; i++) {
		double a = (double)(test_rand(&seed) % 200) - 100,
		       b = (double)(test_rand(&seed) % 9) + 1;
		double c = (double)(test_rand(&seed) % 50) - 25;
		snprintf(buf, sizeof(buf), "%.17g - %.17g * %.17g + %.17g / %.17g == %.17g", a, b,
		         c, c, b, a - b * c + c / b);
		ck_assert_msg(eval_src(buf), "%s", buf);
	}
}
END_TEST

START_TEST(test_eval_missing_values)
{
	/* a missing feature: every comparison false except != */
	ck_assert_int_eq(eval_src("feature.b > 0"), 0);
	ck_assert_int_eq(eval_src("feature.b <= 0"), 0);
	ck_assert_int_eq(eval_src("feature.b == feature.b"), 0);
	ck_assert_int_eq(eval_src("feature.b != 1"), 1);
	ck_assert_int_eq(eval_src("feature.b in [1, 2]"), 0);
	ck_assert_int_eq(eval_src("max(feature.a, feature.b) > 0"), 0);
	/* a feature the manifest lacks, an absent context key, an absent output */
	ck_assert_int_eq(eval_src("feature.zzz > 0 || feature.zzz <= 0"), 0);
	ck_assert_int_eq(eval_src("context.none > 0 || context.none <= 0"), 0);
	ck_assert_int_eq(eval_src("score[5] > 0 || score[5] <= 0"), 0);
	/* an absent label */
	ck_assert_int_eq(eval_src("label.none == \"\""), 0);
	ck_assert_int_eq(eval_src("label.none != \"fx\""), 1);
	ck_assert_int_eq(eval_src("label.none in [\"fx\"]"), 0);
}
END_TEST

START_TEST(test_compile_errors)
{
	expect_error("", 1, "empty expression");
	expect_error("feature.a >", 12, "unexpected end");
	expect_error("feature.a > 1 &&", 17, "unexpected end");
	expect_error("feature.a + \"x\" > 1", 13, "needs a number, not a string");
	expect_error("label.desk > 1", 1, "needs a number, not a string");
	expect_error("label.desk == 1", 15, "compares two numbers or two strings");
	expect_error("feature.a", 1, "must be a condition");
	expect_error("feature.a && true", 1, "'&&' needs a boolean, not a number");
	expect_error("true || 3", 9, "'||' needs a boolean, not a number");
	expect_error("!feature.a", 2, "'!' needs a boolean");
	expect_error("feature.a > 1 > 2", 15, "do not chain");
	expect_error("foo > 1", 1, "unknown name 'foo'");
	expect_error("feature. > 1", 9, "expected a name");
	expect_error("score[1.5] > 0", 7, "integer output index");
	expect_error("(feature.a > 1", 15, "expected ')'");
	expect_error("abs(1, 2) > 0", 1, "abs takes one number");
	expect_error("min(label.desk) > 0", 5, "min takes numbers, not a string");
	expect_error("is_missing(true)", 1, "is_missing takes one number or string");
	expect_error("label.desk in [1]", 16, "string literals only");
	expect_error("feature.a in [\"x\"]", 15, "number literals only");
	expect_error("feature.a in 1", 14, "expected '['");
	expect_error("label.desk == \"x", 15, "unterminated string");
	expect_error("label.desk == \"\\n\"", 16, "unknown escape");
	expect_error("feature.a = 1", 11, "unexpected '='");
	expect_error("feature.a > 1 feature.b", 15, "after the end");
	expect_error("1x > 0", 2, "after a number");
	expect_error("1e999 > 0", 1, "out of range");
	/* nesting is bounded, not a stack overflow */
	char deep[400];
	memset(deep, '(', 200);
	strcpy(deep + 200, "true");
	ck_assert_int_eq(trig_compile(deep, &(struct trig_expr *){NULL}, NULL), -EINVAL);
	memset(deep, '!', 200);
	strcpy(deep + 200, "true");
	ck_assert_int_eq(trig_compile(deep, &(struct trig_expr *){NULL}, NULL), -EINVAL);
}
END_TEST

START_TEST(test_features_binding)
{
	struct trig_expr *x;
	struct trig_error e;
	unsigned col;

	ck_assert_int_eq(trig_compile("feature.b > 1 || feature.a < 2 || feature.b == 0", &x, &e),
	                 0);
	ck_assert_uint_eq(trig_n_features(x), 2);
	ck_assert_str_eq(trig_feature(x, 0, &col), "b");
	ck_assert_uint_eq(col, 1);
	ck_assert_str_eq(trig_feature(x, 1, &col), "a");
	ck_assert_uint_eq(col, 18);
	/* no binding: every feature reads as missing */
	double f[2] = {5, 5};
	struct trig_record r = {.features = f, .n_features = 2};
	ck_assert_int_eq(trig_eval(x, &r), 0);
	size_t bind[2] = {0, 1};
	r.binding = bind;
	ck_assert_int_eq(trig_eval(x, &r), 1);
	trig_free(x);
	trig_free(NULL);
}
END_TEST

START_TEST(test_rate_take)
{
	struct trig_rate r;
	const uint64_t s = 1000000000ull;

	/* 2 per second, burst 3: a storm of 10 at t = 1 s passes 3 and counts 7 */
	trig_rate_init(&r, 2, 3);
	int passed = 0;
	for (int i = 0; i < 10; i++)
		passed += trig_rate_take(&r, 1 * s);
	ck_assert_int_eq(passed, 3);
	ck_assert_uint_eq(r.taken, 3);
	ck_assert_uint_eq(r.suppressed, 7);
	/* half a second later one token is back, not more */
	ck_assert(trig_rate_take(&r, 1 * s + s / 2));
	ck_assert(!trig_rate_take(&r, 1 * s + s / 2));
	/* an hour later the bucket is full again, never above its burst */
	passed = 0;
	for (int i = 0; i < 10; i++)
		passed += trig_rate_take(&r, 3600 * s);
	ck_assert_int_eq(passed, 3);
	/* a clock that steps back does not mint tokens */
	ck_assert(!trig_rate_take(&r, 10 * s));
	ck_assert_uint_eq(r.taken + r.suppressed, 23);
}
END_TEST

START_TEST(test_rate_parse)
{
	double v;

	ck_assert_int_eq(trig_rate_parse("10/s", &v), 0);
	ck_assert_double_eq(v, 10);
	ck_assert_int_eq(trig_rate_parse("600/min", &v), 0);
	ck_assert_double_eq(v, 10);
	ck_assert_int_eq(trig_rate_parse("36/h", &v), 0);
	ck_assert_double_eq_tol(v, 0.01, 1e-15);
	ck_assert_int_eq(trig_rate_parse("2.5/s", &v), 0);
	ck_assert_double_eq(v, 2.5);
	ck_assert_int_eq(trig_rate_parse("0/s", &v), -EINVAL);
	ck_assert_int_eq(trig_rate_parse("-1/s", &v), -EINVAL);
	ck_assert_int_eq(trig_rate_parse("10", &v), -EINVAL);
	ck_assert_int_eq(trig_rate_parse("10/day", &v), -EINVAL);
	ck_assert_int_eq(trig_rate_parse("/s", &v), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trigger");
	TCase *tc = tcase_create("trig_compile");

	tcase_add_test(tc, test_compile_grammar);
	tcase_add_test(tc, test_compile_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("trig_eval");
	tcase_add_test(tc, test_eval_precedence);
	tcase_add_test(tc, test_eval_missing_values);
	suite_add_tcase(s, tc);
	tc = tcase_create("trig_feature");
	tcase_add_test(tc, test_features_binding);
	suite_add_tcase(s, tc);
	tc = tcase_create("trig_rate_take");
	tcase_add_test(tc, test_rate_take);
	suite_add_tcase(s, tc);
	tc = tcase_create("trig_rate_parse");
	tcase_add_test(tc, test_rate_parse);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
