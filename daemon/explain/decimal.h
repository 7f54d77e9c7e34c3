/* SPDX-License-Identifier: Apache-2.0 */
/* Decimal text to double, without strtod where that is exact (internal; for the readers of
 * model files and input rows). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The n bytes at s, when they are a plain decimal ([+-]digits[.digits][(e|E)[+-]digits], a
 * digit before or after the point), converted to the double strtod gives: *out set and true
 * when that can be done exactly here (at most 19 significant digits and a power of ten up to
 * 10^27, the rounding checked), false otherwise (then the caller calls strtod, as it would for
 * any other form). */
bool ex__decimal(const char *s, size_t n, double *out);
