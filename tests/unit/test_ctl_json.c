/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for evidentctl's number and JSON Lines output (tools/ctl_json.c): every double
 * written reads back as itself (random bit patterns over the whole range, values of the sizes
 * attributions have, powers of ten and two and their neighbours), the layout printf's %g
 * gives, and ctl_json_print's lines parse back to the same values as jansson's own writer. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "testutil.h"

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void round_trips(double v)
{
	char b[CTL_DOUBLE_MAX];
	ctl_double_format(v, b);
	ck_assert_msg(strlen(b) < CTL_DOUBLE_MAX, "%s", b);
	ck_assert_msg(strtod(b, NULL) == v && signbit(strtod(b, NULL)) == signbit(v),
	              "%.17g written as %s", v, b);
}

START_TEST(test_double_round_trip)
{
	uint64_t s = 88172645463325252ull;

	for (int i = 0; i < 300000; i++) {
		uint64_t r = next(&s);
		double v;
		memcpy(&v, &r, sizeof(v));
		if (isfinite(v))
			round_trips(v);
		/* the sizes attributions and margins have */
		round_trips(ldexp((double)(r >> 11), (int)(r % 90) - 120));
		round_trips(-(double)(r >> 11) / 9007199254740992.0);
	}
	for (int e = -330; e <= 310; e++) {
		double p = pow(10, e);
		round_trips(p);
		round_trips(nextafter(p, 0));
		round_trips(nextafter(p, INFINITY));
	}
	for (int e = -1074; e <= 1023; e++) {
		double p = ldexp(1, e);
		round_trips(p);
		round_trips(nextafter(p, 0));
		round_trips(-nextafter(p, INFINITY));
	}
	round_trips(-0.0);
	round_trips(5e-324);
	round_trips(1.7976931348623157e308);
}
END_TEST

START_TEST(test_double_layout)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
	    {0.1, "0.1"},
	    {0.5, "0.5"},
	    {1, "1"},
	    {-2.5, "-2.5"},
	    {100, "100"},
	    {1e15, "1e+15"},
	    {123456789012345.0, "123456789012345"},
	    {1e-4, "0.0001"},
	    {1e-5, "1e-05"},
	    {2.0 / 3, "0.6666666666666666"},
	    {0.1 + 0.2, "0.30000000000000004"},
	    {1e300, "1e+300"},
	    {-1.5e-300, "-1.5e-300"},
	    {0.0, "0"},
	    {-0.0, "-0"},
	};
	char b[CTL_DOUBLE_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(ctl_double_format(cases[i].v, b), cases[i].want);
	ck_assert_str_eq(ctl_double_format(NAN, b), "nan");
	ck_assert_str_eq(ctl_double_format(-INFINITY, b), "-inf");
}
END_TEST

START_TEST(test_json_lines_equal_jansson)
{
	json_t *o = json_pack("{s:i,s:[f,f,f,f],s:s,s:{s:b,s:n,s:[]},s:s}", "row", 7, "phi", 0.1,
	                      -2.0, 1e-7, 123456.789, "name", "a\"b\\c\n\x01/é", "inner", "ok", 1,
	                      "none", "empty", "tail", "");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_error_t e;

	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ctl_json_print(f, o, true), 0);
	fclose(f);
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(buf[len - 1], '\n');
	ck_assert_ptr_null(memchr(buf, '\n', len - 1));
	/* reals keep a point (-2.0 stays a real), and the line reads back as the same value */
	ck_assert_ptr_nonnull(strstr(buf, "[0.1,-2.0,1e-07,123456.789]"));
	json_t *back = json_loadb(buf, len, 0, &e);
	ck_assert_msg(back != NULL, "%s: %s", e.text, buf);
	ck_assert(json_equal(o, back));
	char *theirs = json_dumps(o, JSON_COMPACT);
	json_t *again = json_loads(theirs, 0, &e);
	ck_assert(json_equal(again, back));
	free(theirs);
	json_decref(again);
	json_decref(back);
	json_decref(o);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl_json");
	TCase *tc = tcase_create("ctl_double_format");

	tcase_add_test(tc, test_double_round_trip);
	tcase_add_test(tc, test_double_layout);
	suite_add_tcase(s, tc);
	tc = tcase_create("ctl_json_print");
	tcase_add_test(tc, test_json_lines_equal_jansson);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
