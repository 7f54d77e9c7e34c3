/* SPDX-License-Identifier: Apache-2.0 */
/* ex__decimal: the digits as an integer w (exact up to 19 digits) and a power of ten 10^e.
 * With w <= 2^53 and |e| <= 22 both are exact doubles, and one multiplication or division
 * rounds correctly (Clinger's fast path). Otherwise, where long double has a 64-bit
 * significand (x86), w and 10^e (|e| <= 27) are exact long doubles and the product or quotient
 * is within half a long-double ulp of the true value; rounding it to double then gives the
 * correctly rounded result unless it lies within one long-double ulp of a midpoint between
 * two doubles, which is checked (those few go to strtod). */
#include "decimal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#if LDBL_MANT_DIG == 64
static const long double p10l[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,
                                   1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
                                   1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L,
                                   1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif

bool ex__decimal(const char *s, size_t n, double *out)
{
	size_t i = 0;
	bool neg = false;
	uint64_t w = 0;
	int sig = 0, frac = 0, digits = 0;
	long exp = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		if (sig == 19)
			return false;
		w = w * 10 + (uint64_t)(s[i] - '0');
		sig += w != 0;
	}
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++, frac++) {
			if (sig == 19)
				return false;
			w = w * 10 + (uint64_t)(s[i] - '0');
			sig += w != 0;
		}
	}
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		bool eneg = false;
		size_t e0;
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			eneg = s[i++] == '-';
		for (e0 = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (exp < 100000)
				exp = exp * 10 + (s[i] - '0');
		if (i == e0)
			return false;
		if (eneg)
			exp = -exp;
	}
	if (i != n)
		return false;
	long e = exp - frac;
	double v;
	if (w == 0) {
		v = 0.0;
	} else if (w <= (1ull << 53) && e >= -22 && e <= 22) {
		v = e < 0 ? (double)w / p10[-e] : (double)w * p10[e];
	} else {
#if LDBL_MANT_DIG == 64
		if (e < -27 || e > 27)
			return false;
		long double x = e < 0 ? (long double)w / p10l[-e] : (long double)w * p10l[e];
		v = (double)x;
		/* the distance from x to the nearest midpoint between doubles, in x's ulps */
		long double d = x - (long double)v, ulp = ldexpl(1.0L, ilogbl(x) - 63);
		double other = nextafter(v, d > 0 ? INFINITY : -INFINITY);
		long double half = fabsl((long double)other - (long double)v) / 2;
		if (fabsl(fabsl(d) - half) <= ulp)
			return false;
#else
		return false;
#endif
	}
	*out = neg ? -v : v;
	return true;
}
