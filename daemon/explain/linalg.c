/* SPDX-License-Identifier: Apache-2.0 */
/* Cholesky factorisation and solves (see linalg.h). */
#include "linalg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int factor(const double *A, size_t n, double *L, double jitter)
{
	for (size_t j = 0; j < n; j++) {
		double d = A[j * n + j] + jitter;
		for (size_t k = 0; k < j; k++)
			d -= L[j * n + k] * L[j * n + k];
		if (!(d > 0))
			return -EDOM;
		double ljj = sqrt(d);
		L[j * n + j] = ljj;
		for (size_t i = j + 1; i < n; i++) {
			double s = A[i * n + j];
			for (size_t k = 0; k < j; k++)
				s -= L[i * n + k] * L[j * n + k];
			L[i * n + j] = s / ljj;
		}
		for (size_t i = 0; i < j; i++)
			L[i * n + j] = 0;
	}
	return 0;
}

int ex_cholesky(const double *A, size_t n, double *L, double *ret_rcond, double *ret_jitter)
{
	double trace = 0, jitter = 0;
	double *copy = NULL;
	const double *src = A;

	if (n == 0)
		return -EINVAL;
	if (L == A) {
		copy = malloc(n * n * sizeof(double));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, A, n * n * sizeof(double));
		src = copy;
	}
	for (size_t i = 0; i < n; i++)
		trace += src[i * n + i];
	for (int attempt = 0; attempt <= 3; attempt++) {
		if (attempt)
			jitter = attempt == 1 ? 1e-12 * trace / (double)n : jitter * 100;
		if (factor(src, n, L, jitter) < 0)
			continue;
		double mn = INFINITY, mx = 0;
		for (size_t i = 0; i < n; i++) {
			double d = L[i * n + i] * L[i * n + i];
			mn = d < mn ? d : mn;
			mx = d > mx ? d : mx;
		}
		double rcond = mx > 0 ? mn / mx : 0;
		if (rcond < 1e-14)
			continue;
		if (ret_rcond)
			*ret_rcond = rcond;
		if (ret_jitter)
			*ret_jitter = jitter;
		free(copy);
		return 0;
	}
	free(copy);
	return -EDOM;
}

void ex_cholesky_solve(const double *L, size_t n, double *b)
{
	for (size_t i = 0; i < n; i++) {
		double s = b[i];
		for (size_t k = 0; k < i; k++)
			s -= L[i * n + k] * b[k];
		b[i] = s / L[i * n + i];
	}
	for (size_t i = n; i-- > 0;) {
		double s = b[i];
		for (size_t k = i + 1; k < n; k++)
			s -= L[k * n + i] * b[k];
		b[i] = s / L[i * n + i];
	}
}
