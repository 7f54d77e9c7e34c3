/* SPDX-License-Identifier: Apache-2.0 */
/* The two small dense kernels the sampled methods need (METHODS.md §8), hand-written so
 * results are bit-reproducible, fork-safe and free of hidden thread pools: Cholesky with a
 * condition estimate and jitter retries, and triangular solves. Matrices are row-major n x n. */
#pragma once

#include <stddef.h>

/* Factors the symmetric positive definite A (only the lower triangle is read) into L (lower,
 * written to L; L may alias A). When the reciprocal condition estimate min(L_ii^2)/max(L_ii^2)
 * is below 1e-14, or a pivot is not positive, retries with diagonal jitter 1e-12 * trace / n,
 * times 100 up to 3 times. Returns 0 (with *ret_rcond and *ret_jitter: the jitter used, 0 if
 * none), or -EDOM when A stays ill-conditioned; -EINVAL, -ENOMEM. */
int ex_cholesky(const double *A, size_t n, double *L, double *ret_rcond, double *ret_jitter);
/* Solves L L^T x = b in place (b becomes x). */
void ex_cholesky_solve(const double *L, size_t n, double *b);
