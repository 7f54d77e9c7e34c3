/* SPDX-License-Identifier: Apache-2.0 */
/* Background summarisation by weighted k-means (METHODS.md §3.4) and the background
 * digest recorded beside every sampled explanation. */
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "rng.h"

#define LLOYD_ITERATIONS 50

/* Squared distance in MAD units; a categorical mismatch and a missing-versus-present
 * coordinate count 1; two missing values agree. */
static double dist2(const double *a, const double *b, const struct ex_feature_info *info, size_t M)
{
	double d = 0;

	for (size_t j = 0; j < M; j++) {
		if (isnan(a[j]) || isnan(b[j])) {
			d += isnan(a[j]) != isnan(b[j]);
			continue;
		}
		if (info[j].categorical) {
			d += a[j] != b[j];
			continue;
		}
		double t = (a[j] - b[j]) / (info[j].mad > 0 ? info[j].mad : 1);
		d += t * t;
	}
	return d;
}

/* k-means++ seeding: the first centre uniformly, then each next one with probability
 * proportional to the squared distance to the nearest centre chosen so far. */
static void seed_centres(const double *rows, size_t n, size_t M, const struct ex_feature_info *info,
                         size_t k, struct ex_rng *rng, double *centre, double *near)
{
	size_t first = (size_t)ex_rng_below(rng, n);

	memcpy(centre, rows + first * M, M * sizeof(double));
	for (size_t i = 0; i < n; i++)
		near[i] = dist2(rows + i * M, centre, info, M);
	for (size_t c = 1; c < k; c++) {
		double total = 0;
		for (size_t i = 0; i < n; i++)
			total += near[i];
		size_t pick = n - 1;
		if (total > 0) {
			double u = ex_rng_uniform(rng) * total, acc = 0;
			for (size_t i = 0; i < n; i++) {
				acc += near[i];
				if (u < acc) {
					pick = i;
					break;
				}
			}
		} else {
			pick = (size_t)ex_rng_below(rng, n);
		}
		memcpy(centre + c * M, rows + pick * M, M * sizeof(double));
		for (size_t i = 0; i < n; i++) {
			double d = dist2(rows + i * M, centre + c * M, info, M);
			if (d < near[i])
				near[i] = d;
		}
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Centre coordinate j of the rows in cluster c: the mean, or for integer and categorical
 * features an observed value (the nearest to the mean; the most frequent level); NaN when
 * most of the cluster is missing there. vals: scratch of n doubles. */
static double centre_coord(const double *rows, size_t n, size_t M, const size_t *label, size_t c,
                           size_t j, const struct ex_feature_info *fi, double *vals)
{
	size_t m = 0, members = 0;
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		if (label[i] != c)
			continue;
		members++;
		double v = rows[i * M + j];
		if (!isnan(v)) {
			vals[m++] = v;
			sum += v;
		}
	}
	if (2 * m <= members)
		return NAN;
	double mean = sum / (double)m;
	if (fi->categorical) {
		qsort(vals, m, sizeof(double), cmp_double);
		double best = vals[0];
		size_t best_run = 0;
		for (size_t a = 0; a < m;) {
			size_t b = a;
			while (b < m && vals[b] == vals[a])
				b++;
			if (b - a > best_run) {
				best_run = b - a;
				best = vals[a];
			}
			a = b;
		}
		return best;
	}
	if (fi->integer) {
		double best = vals[0];
		for (size_t i = 1; i < m; i++)
			if (fabs(vals[i] - mean) < fabs(best - mean) ||
			    (fabs(vals[i] - mean) == fabs(best - mean) && vals[i] < best))
				best = vals[i];
		return best;
	}
	return mean;
}

int ex_background_summarize(const double *rows, size_t n, size_t M,
                            const struct ex_feature_info *info, size_t k, uint64_t seed,
                            double *out, double *out_w, size_t *ret_k)
{
	struct ex_feature_info *own = NULL;
	double *near = NULL, *centre = NULL, *vals = NULL;
	size_t *label = NULL, *count = NULL;
	struct ex_rng rng;
	int rc = -ENOMEM;

	if (!rows || !n || !M || !k || !out || !out_w || !ret_k)
		return -EINVAL;
	if (n <= k) {
		memcpy(out, rows, n * M * sizeof(double));
		for (size_t i = 0; i < n; i++)
			out_w[i] = 1;
		*ret_k = n;
		return 0;
	}
	if (!info) {
		own = malloc(M * sizeof(*own));
		if (!own || ex_feature_info_from_rows(rows, n, M, own) < 0)
			goto out;
		info = own;
	}
	near = malloc(n * sizeof(double));
	vals = malloc(n * sizeof(double));
	centre = malloc(k * M * sizeof(double));
	label = malloc(n * sizeof(size_t));
	count = malloc(k * sizeof(size_t));
	if (!near || !vals || !centre || !label || !count)
		goto out;
	ex_rng_seed(&rng, seed);
	seed_centres(rows, n, M, info, k, &rng, centre, near);
	for (unsigned it = 0; it < LLOYD_ITERATIONS; it++) {
		bool moved = it == 0;
		for (size_t i = 0; i < n; i++) {
			size_t best = 0;
			double bd = INFINITY;
			for (size_t c = 0; c < k; c++) {
				double d = dist2(rows + i * M, centre + c * M, info, M);
				if (d < bd) {
					bd = d;
					best = c;
				}
			}
			moved |= it > 0 && label[i] != best;
			label[i] = best;
		}
		if (!moved)
			break;
		for (size_t c = 0; c < k; c++)
			for (size_t j = 0; j < M; j++)
				centre[c * M + j] =
				    centre_coord(rows, n, M, label, c, j, &info[j], vals);
	}
	/* the final centres are recomputed from the final labels, then empty clusters dropped */
	size_t got = 0;
	for (size_t c = 0; c < k; c++) {
		count[c] = 0;
		for (size_t i = 0; i < n; i++)
			count[c] += label[i] == c;
		if (!count[c])
			continue;
		for (size_t j = 0; j < M; j++)
			out[got * M + j] = centre_coord(rows, n, M, label, c, j, &info[j], vals);
		out_w[got++] = (double)count[c];
	}
	*ret_k = got;
	rc = 0;
out:
	free(own);
	free(near);
	free(vals);
	free(centre);
	free(label);
	free(count);
	return rc;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void hash_double(EVP_MD_CTX *ctx, double d)
{
	unsigned char b[8];
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	put_le64(b, u);
	EVP_DigestUpdate(ctx, b, sizeof(b));
}

void ex_background_digest(const double *rows, const double *w, size_t n, size_t M, char hex[65])
{
	unsigned char md[32], b[8];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	hex[0] = 0;
	if (!ctx)
		return;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	put_le64(b, n);
	EVP_DigestUpdate(ctx, b, sizeof(b));
	put_le64(b, M);
	EVP_DigestUpdate(ctx, b, sizeof(b));
	for (size_t i = 0; i < n * M; i++)
		hash_double(ctx, rows[i]);
	for (size_t i = 0; i < n; i++)
		hash_double(ctx, w ? w[i] : 1.0);
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	for (size_t i = 0; i < 32; i++) {
		static const char digits[] = "0123456789abcdef";
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = 0;
}
