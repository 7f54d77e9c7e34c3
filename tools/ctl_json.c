/* SPDX-License-Identifier: Apache-2.0 */
/* Numbers and JSON Lines out (ctl.h): the shortest decimal that reads back as the same double,
 * without printf in the common case, and a compact writer of jansson values that uses it.
 * `evidentctl explain --json` writes 50,000 doubles for 1,000 rows; printf's "%.17g" (what
 * json_dumpf does) and a strtod to check each candidate cost more than the attribution. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* 10^k, exact in a double for k <= 22 and in x86's 64-bit-mantissa long double for k <= 27
 * (5^27 < 2^64). */
static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
static const long double p10l[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,
                                   1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
                                   1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L,
                                   1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
static const uint64_t p10u[] = {UINT64_C(1),
                                UINT64_C(10),
                                UINT64_C(100),
                                UINT64_C(1000),
                                UINT64_C(10000),
                                UINT64_C(100000),
                                UINT64_C(1000000),
                                UINT64_C(10000000),
                                UINT64_C(100000000),
                                UINT64_C(1000000000),
                                UINT64_C(10000000000),
                                UINT64_C(100000000000),
                                UINT64_C(1000000000000),
                                UINT64_C(10000000000000),
                                UINT64_C(100000000000000),
                                UINT64_C(1000000000000000),
                                UINT64_C(10000000000000000),
                                UINT64_C(100000000000000000)};
#define P10L_MAX 27
#define TWO53    9007199254740992.0

/* round(a * 10^k) in long double: one rounding of exact operands (|k| <= P10L_MAX). */
static uint64_t scaled(double a, int k)
{
	long double s = k >= 0 ? (long double)a * p10l[k] : (long double)a / p10l[-k];
	return (uint64_t)llroundl(s);
}

/* digits of D (value D * 10^-k), trailing zeros dropped, laid out as printf's %.{prec}g does
 * (exponent form below 1e-4 or from 10^prec). */
static char *lay_out(bool neg, uint64_t D, int k, int prec, char *buf)
{
	char dig[24], *o = buf;
	int n = 0, E;

	while (D && D % 10 == 0) {
		D /= 10;
		k--;
	}
	do {
		dig[n++] = (char)('0' + D % 10);
		D /= 10;
	} while (D);
	for (int i = 0; i < n / 2; i++) {
		char c = dig[i];
		dig[i] = dig[n - 1 - i];
		dig[n - 1 - i] = c;
	}
	E = n - 1 - k; /* decimal exponent of the first digit */
	if (neg)
		*o++ = '-';
	if (E < -4 || E >= prec) {
		*o++ = dig[0];
		if (n > 1) {
			*o++ = '.';
			memcpy(o, dig + 1, (size_t)n - 1);
			o += n - 1;
		}
		int x = E < 0 ? -E : E;
		*o++ = 'e';
		*o++ = E < 0 ? '-' : '+';
		if (x >= 100)
			*o++ = (char)('0' + x / 100);
		*o++ = (char)('0' + x / 10 % 10);
		*o++ = (char)('0' + x % 10);
	} else if (E < 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -E - 1; i++)
			*o++ = '0';
		memcpy(o, dig, (size_t)n);
		o += n;
	} else {
		for (int i = 0; i <= E || i < n; i++) {
			if (i == E + 1)
				*o++ = '.';
			*o++ = i < n ? dig[i] : '0';
		}
	}
	*o = 0;
	return buf;
}

/* The slow path: printf at 15, 16, 17 digits until strtod gives v back. */
static char *format_printf(double v, char *buf)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, CTL_DOUBLE_MAX, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

/* round(a * 10^k) with exactly p digits, moving e10 (a's decimal exponent) when log10 was
 * one off next to a power of ten or the rounding carried into another digit; *k = p - 1 -
 * e10. False when 10^k is beyond the long double table. */
static bool digits(double a, int p, int *e10, int *k, uint64_t *D)
{
	for (int tries = 0; tries < 3; tries++) {
		*k = p - 1 - *e10;
		if (*k < -P10L_MAX || *k > P10L_MAX)
			return false;
		*D = scaled(a, *k);
		if (*D >= p10u[p])
			++*e10;
		else if (*D < p10u[p - 1])
			--*e10;
		else
			return true;
	}
	return false;
}

char *ctl_double_format(double v, char buf[CTL_DOUBLE_MAX])
{
	double a = fabs(v);
	int e10, k;
	uint64_t D;

	if (!isfinite(v)) {
		snprintf(buf, CTL_DOUBLE_MAX, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
		return buf;
	}
	if (a == 0)
		return strcpy(buf, signbit(v) ? "-0" : "0");
	e10 = (int)floor(log10(a));
	/* 15 and 16 digits: D <= 2^53 and 10^|k| exact in a double make D / 10^k (or D * 10^-k)
	 * one correctly rounded operation on exact operands, i.e. what strtod gives for the
	 * printed digits: an exact round-trip check without strtod */
	for (int p = 15; p <= 16; p++) {
		if (!digits(a, p, &e10, &k, &D))
			return format_printf(v, buf);
		if (k < -22 || k > 22 || (double)D > TWO53)
			break;
		double back = k >= 0 ? (double)D / p10[k] : (double)D * p10[-k];
		if (back == a)
			return lay_out(v < 0, D, k, p, buf);
	}
	/* 17 digits: their spacing is at most 1e-16 of a, so the rounded D (the long double
	 * product adds at most 0.006 of a unit) lies within 0.51e-16 of a relatively, inside the
	 * half-ulp around a (at least 2^-54 = 0.55e-16 of a, the lower side of a power of two):
	 * it reads back as a. Subnormals have coarser ulps still. */
	if (!digits(a, 17, &e10, &k, &D))
		return format_printf(v, buf);
	return lay_out(v < 0, D, k, 17, buf);
}

/* ------------------------------------------------------------------ JSON Lines */

static void put_string(FILE *f, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	putc_unlocked('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20) {
				fputs("\\u00", f);
				putc_unlocked(hex[c >> 4], f);
				putc_unlocked(hex[c & 15], f);
			} else {
				putc_unlocked((char)c, f);
			}
		}
	}
	putc_unlocked('"', f);
}

/* One value, compact, as json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes it except for
 * reals: the shortest round-trip digits, with ".0" added to an integral value as jansson
 * does (a real stays a real for the reader). */
static void put_value(FILE *f, const json_t *v)
{
	char b[CTL_DOUBLE_MAX + 2];

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;
		bool first = true;
		putc_unlocked('{', f);
		json_object_foreach((json_t *)v, key, val)
		{
			if (!first)
				putc_unlocked(',', f);
			first = false;
			put_string(f, key, strlen(key));
			putc_unlocked(':', f);
			put_value(f, val);
		}
		putc_unlocked('}', f);
		break;
	}
	case JSON_ARRAY:
		putc_unlocked('[', f);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				putc_unlocked(',', f);
			put_value(f, json_array_get(v, i));
		}
		putc_unlocked(']', f);
		break;
	case JSON_STRING:
		put_string(f, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		ctl_double_format(json_real_value(v), b);
		if (!strpbrk(b, ".e"))
			strcat(b, ".0");
		fputs(b, f);
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	case JSON_NULL:
		fputs("null", f);
		break;
	}
}

int ctl_json_print(FILE *f, const json_t *v, bool lines)
{
	if (!lines) {
		if (json_dumpf(v, f, JSON_INDENT(2) | JSON_ENCODE_ANY) < 0 || fputc('\n', f) == EOF)
			return -EIO;
		return 0;
	}
	flockfile(f);
	put_value(f, v);
	putc_unlocked('\n', f);
	funlockfile(f);
	return ferror(f) ? -EIO : 0;
}
