/* SPDX-License-Identifier: Apache-2.0 */
/* LIME for tabular data (METHODS.md §4), replaying marcotcr/lime's default path
 * (QuartileDiscretizer, discretised sampling, sqrt(exp(-d^2/w^2)) kernel, "auto" feature
 * selection, weighted ridge with an unpenalised intercept), solved by our own Cholesky so
 * results are bit-reproducible; plus repeated-seed stability (Jaccard, VSI/CSI, CV). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lime_internal.h"
#include "linalg.h"
#include "model.h"
#include "rng.h"

#define LIME_DEFAULT_SAMPLES 5000
#define LIME_DEFAULT_SELECT  10 /* lime's num_features */
#define LIME_DEFAULT_REPEATS 10
#define LIME_SELECT_ALPHA    0.01 /* ridge of the selection fits (lime: 0.01 / 0) */
#define LIME_TRUNC_TRIES     100  /* rejection draws before falling back to uniform */

struct lime_feat {
	bool cat;
	size_t n_bins;
	double *edges; /* numeric: n_bins - 1 unique quartile edges; categorical: n_bins levels */
	double *cum;   /* n_bins cumulative frequencies (the last is 1) */
	double *mean, *std, *lo, *hi; /* numeric, per bin */
};

struct ex_lime_bins {
	size_t M;
	struct lime_feat *f;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* np.percentile's default (linear) on sorted v[0..n) */
static double percentile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)pos;
	double frac = pos - (double)lo;
	return lo + 1 < n ? v[lo] + frac * (v[lo + 1] - v[lo]) : v[n - 1];
}

void ex_lime_bins_free(struct ex_lime_bins *b)
{
	if (!b)
		return;
	for (size_t j = 0; b->f && j < b->M; j++) {
		struct lime_feat *f = &b->f[j];
		free(f->edges);
		free(f->cum);
		free(f->mean);
		free(f->std);
		free(f->lo);
		free(f->hi);
	}
	free(b->f);
	free(b);
}

int ex_lime_bin_of(const struct ex_lime_bins *b, size_t j, double v)
{
	if (!b || j >= b->M || isnan(v))
		return -1;
	const struct lime_feat *f = &b->f[j];
	if (f->cat) {
		for (size_t k = 0; k < f->n_bins; k++)
			if (f->edges[k] == v)
				return (int)k;
		return -1;
	}
	/* np.searchsorted(edges, v) (side left): the number of edges below v */
	size_t k = 0;
	while (k + 1 < f->n_bins && f->edges[k] < v)
		k++;
	return (int)k;
}

int ex_lime_bins_fit(const double *bg, size_t n_bg, size_t M, const struct ex_feature_info *info,
                     struct ex_lime_bins **ret, char *err, size_t err_size)
{
	struct ex_lime_bins *b;
	double *col;
	int rc = 0;

	if (!bg || !n_bg || !M || !ret)
		return ex__fail(err, err_size, -EINVAL, "lime bins: no background rows");
	b = calloc(1, sizeof(*b));
	col = malloc(n_bg * sizeof(double));
	if (!b || !col || !(b->f = calloc(M, sizeof(*b->f)))) {
		free(col);
		free(b);
		return ex__fail(err, err_size, -ENOMEM, "lime bins: out of memory");
	}
	b->M = M;
	for (size_t j = 0; j < M; j++) {
		struct lime_feat *f = &b->f[j];
		size_t n = 0;
		for (size_t r = 0; r < n_bg; r++)
			if (!isnan(bg[r * M + j]))
				col[n++] = bg[r * M + j];
		if (!n) {
			rc = ex__fail(err, err_size, -EINVAL,
			              "lime bins: feature %zu has no value in the background", j);
			goto out;
		}
		qsort(col, n, sizeof(double), cmp_double);
		f->cat = info && info[j].categorical;
		size_t nb;
		double edges[3];
		if (f->cat) {
			nb = 0;
			for (size_t i = 0; i < n; i++)
				nb += !i || col[i] != col[i - 1];
		} else {
			size_t ne = 0;
			for (int q = 1; q <= 3; q++) {
				double e = percentile(col, n, 0.25 * q);
				if (!ne || e != edges[ne - 1])
					edges[ne++] = e;
			}
			nb = ne + 1;
		}
		f->n_bins = nb;
		f->edges = calloc(nb, sizeof(double));
		f->cum = calloc(nb, sizeof(double));
		f->mean = calloc(nb, sizeof(double));
		f->std = calloc(nb, sizeof(double));
		f->lo = calloc(nb, sizeof(double));
		f->hi = calloc(nb, sizeof(double));
		if (!f->edges || !f->cum || !f->mean || !f->std || !f->lo || !f->hi) {
			rc = ex__fail(err, err_size, -ENOMEM, "lime bins: out of memory");
			goto out;
		}
		if (f->cat) {
			size_t k = 0;
			for (size_t i = 0; i < n; i++) {
				if (i && col[i] == col[i - 1]) {
					f->cum[k - 1] += 1;
					continue;
				}
				f->edges[k] = col[i];
				f->cum[k++] = 1;
			}
		} else {
			memcpy(f->edges, edges, (nb - 1) * sizeof(double));
			/* per bin: count, mean, std of the background values; bounds
			 * [min, e1], [e1, e2], ..., [e_last, max] as lime's mins / maxs */
			double *sum2 = f->std;
			for (size_t i = 0; i < n; i++) {
				size_t k = (size_t)ex_lime_bin_of(b, j, col[i]);
				f->cum[k] += 1;
				f->mean[k] += col[i];
			}
			for (size_t k = 0; k < nb; k++)
				if (f->cum[k] > 0)
					f->mean[k] /= f->cum[k];
			for (size_t i = 0; i < n; i++) {
				size_t k = (size_t)ex_lime_bin_of(b, j, col[i]);
				sum2[k] += (col[i] - f->mean[k]) * (col[i] - f->mean[k]);
			}
			for (size_t k = 0; k < nb; k++) {
				f->std[k] = f->cum[k] > 0 ? sqrt(sum2[k] / f->cum[k]) : 0;
				f->lo[k] = k == 0 ? col[0] : f->edges[k - 1];
				f->hi[k] = k + 1 == nb ? col[n - 1] : f->edges[k];
			}
		}
		double acc = 0;
		for (size_t k = 0; k < nb; k++) {
			acc += f->cum[k];
			f->cum[k] = acc / (double)n;
		}
		f->cum[nb - 1] = 1;
	}
out:
	free(col);
	if (rc < 0) {
		ex_lime_bins_free(b);
		return rc;
	}
	*ret = b;
	return 0;
}

/* ------------------------------------------------------------------ sampling */

static double draw_value(const struct lime_feat *f, size_t k, struct ex_rng *rng)
{
	if (f->cat)
		return f->edges[k];
	double mu = f->mean[k], sd = f->std[k], lo = f->lo[k], hi = f->hi[k];
	if (!(sd > 0) || !(hi > lo))
		return mu;
	/* bin k > 0 is (lo, hi]: its lower edge belongs to bin k - 1 */
	for (int t = 0; t < LIME_TRUNC_TRIES; t++) {
		double v = mu + sd * ex_rng_normal(rng);
		if ((k ? v > lo : v >= lo) && v <= hi)
			return v;
	}
	return lo + (hi - lo) * 0.5;
}

static size_t draw_bin(const struct lime_feat *f, struct ex_rng *rng)
{
	double u = ex_rng_uniform(rng);
	size_t k = 0;
	while (k + 1 < f->n_bins && u >= f->cum[k])
		k++;
	return k;
}

/* ------------------------------------------------------------------ weighted ridge */

int ex__lime_gram(const double *Z, const double *y, const double *w, size_t n, size_t M,
                  struct lime_gram *g)
{
	memset(g, 0, sizeof(*g));
	g->M = M;
	g->mz = calloc(M, sizeof(double));
	g->C = calloc(M * M, sizeof(double));
	g->cy = calloc(M, sizeof(double));
	double *dz = malloc(M * sizeof(double));
	if (!g->mz || !g->C || !g->cy || !dz) {
		free(dz);
		ex__lime_gram_free(g);
		return -ENOMEM;
	}
	double sw = 0, sw2 = 0, my = 0;
	for (size_t i = 0; i < n; i++) {
		sw += w[i];
		sw2 += w[i] * w[i];
		my += w[i] * y[i];
		for (size_t j = 0; j < M; j++)
			g->mz[j] += w[i] * Z[i * M + j];
	}
	if (!(sw > 0)) {
		free(dz);
		ex__lime_gram_free(g);
		return -EDOM;
	}
	my /= sw;
	for (size_t j = 0; j < M; j++)
		g->mz[j] /= sw;
	for (size_t i = 0; i < n; i++) {
		double dy = y[i] - my;
		for (size_t j = 0; j < M; j++)
			dz[j] = Z[i * M + j] - g->mz[j];
		g->syy += w[i] * dy * dy;
		for (size_t j = 0; j < M; j++) {
			double wd = w[i] * dz[j];
			g->cy[j] += wd * dy;
			for (size_t k = 0; k <= j; k++)
				g->C[j * M + k] += wd * dz[k];
		}
	}
	for (size_t j = 0; j < M; j++)
		for (size_t k = 0; k < j; k++)
			g->C[k * M + j] = g->C[j * M + k];
	free(dz);
	g->sw = sw;
	g->my = my;
	g->n_eff = sw * sw / sw2;
	return 0;
}

void ex__lime_gram_free(struct lime_gram *g)
{
	free(g->mz);
	free(g->C);
	free(g->cy);
	memset(g, 0, sizeof(*g));
}

int ex__lime_fit(const struct lime_gram *g, const size_t *S, size_t p, double alpha, double *coef,
                 double *intercept, double *r2, double *se, double *jitter)
{
	double *A = malloc((p * p + 2 * p + 1) * sizeof(double));
	double rcond, jit = 0;
	int rc;

	if (!A)
		return -ENOMEM;
	double *b = A + p * p, *e = b + p;
	for (size_t a = 0; a < p; a++) {
		for (size_t c = 0; c < p; c++)
			A[a * p + c] = g->C[S[a] * g->M + S[c]];
		A[a * p + a] += alpha;
		b[a] = g->cy[S[a]];
	}
	rc = p ? ex_cholesky(A, p, A, &rcond, &jit) : 0;
	if (rc < 0) {
		free(A);
		return rc;
	}
	memcpy(coef, b, p * sizeof(double));
	if (p)
		ex_cholesky_solve(A, p, coef);
	/* RSS = syy - 2 beta.b + beta' C beta (C without the penalty) */
	double quad = 0, lin = 0, icpt = g->my;
	for (size_t a = 0; a < p; a++) {
		lin += coef[a] * b[a];
		icpt -= g->mz[S[a]] * coef[a];
		for (size_t c = 0; c < p; c++)
			quad += coef[a] * g->C[S[a] * g->M + S[c]] * coef[c];
	}
	double rss = g->syy - 2 * lin + quad;
	if (rss < 0)
		rss = 0;
	*intercept = icpt;
	*r2 = g->syy > 0 ? 1 - rss / g->syy : rss > 0 ? 0 : 1;
	if (se) {
		double dof = g->n_eff - (double)p - 1;
		for (size_t a = 0; a < p; a++) {
			memset(e, 0, p * sizeof(double));
			e[a] = 1;
			ex_cholesky_solve(A, p, e);
			se[a] = dof > 0 ? sqrt(rss / dof * e[a]) : INFINITY;
		}
	}
	if (jitter && jit > *jitter)
		*jitter = jit;
	free(A);
	return 0;
}

/* ------------------------------------------------------------------ one run */

struct lime_run {
	size_t *sel; /* K */
	size_t K;
	double *coef, *se; /* M */
	double intercept, r2, local_pred, fx;
};

static int one_run(const struct ex_fn *f, const struct ex_lime_bins *bins, const double *x,
                   const struct ex_lime_config *c, uint64_t seed, struct lime_run *run,
                   uint64_t *rows, double *jitter, char *err, size_t err_size)
{
	size_t M = bins->M, N = c->n_samples, G = f->n_outputs;
	double *X = malloc(N * M * sizeof(double)), *Z = malloc(N * M * sizeof(double));
	double *out = malloc(c->max_batch_rows * G * sizeof(double));
	double *y = malloc(N * sizeof(double)), *w = malloc(N * sizeof(double));
	int *bx = malloc(M * sizeof(int));
	double *tmp = malloc((M + 1) * 2 * sizeof(double));
	size_t *S = malloc(M * sizeof(size_t));
	struct lime_gram g = {0};
	struct ex_rng rng;
	int rc = 0;

	if (!X || !Z || !out || !y || !w || !bx || !tmp || !S) {
		rc = ex__fail(err, err_size, -ENOMEM, "lime: out of memory for %zu samples", N);
		goto out;
	}
	ex_rng_seed(&rng, seed);
	for (size_t j = 0; j < M; j++)
		bx[j] = ex_lime_bin_of(bins, j, x[j]);
	memcpy(X, x, M * sizeof(double));
	for (size_t j = 0; j < M; j++)
		Z[j] = 1;
	for (size_t i = 1; i < N; i++)
		for (size_t j = 0; j < M; j++) {
			size_t k = draw_bin(&bins->f[j], &rng);
			Z[i * M + j] = (int)k == bx[j];
			X[i * M + j] = draw_value(&bins->f[j], k, &rng);
		}
	for (size_t i = 0; i < N; i += c->max_batch_rows) {
		size_t k = N - i < c->max_batch_rows ? N - i : c->max_batch_rows;
		rc = f->predict(f->userdata, X + i * M, k, out, err, err_size);
		if (rc < 0)
			goto out;
		*rows += k;
		for (size_t r = 0; r < k; r++)
			y[i + r] = out[r * G + c->output];
	}
	for (size_t i = 0; i < N; i++) {
		double off = 0;
		for (size_t j = 0; j < M; j++)
			off += 1 - Z[i * M + j];
		w[i] = sqrt(exp(-off / (c->kernel_width * c->kernel_width)));
	}
	rc = ex__lime_gram(Z, y, w, N, M, &g);
	if (rc < 0) {
		ex__fail(err, err_size, rc, "lime: the kernel weights are all zero");
		goto out;
	}

	/* feature selection */
	size_t K = c->n_select;
	enum ex_lime_selection sel = c->selection;
	if (sel == EX_LIME_AUTO)
		sel = K <= 6 ? EX_LIME_FORWARD : EX_LIME_HIGHEST_WEIGHTS;
	if (sel == EX_LIME_NONE) {
		K = M;
		for (size_t j = 0; j < M; j++)
			S[j] = j;
	} else if (sel == EX_LIME_HIGHEST_WEIGHTS) {
		double *cf = malloc(M * sizeof(double)), icpt, r2;
		if (!cf) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t j = 0; j < M; j++)
			S[j] = j;
		rc = ex__lime_fit(&g, S, M, LIME_SELECT_ALPHA, cf, &icpt, &r2, NULL, jitter);
		/* top K by |coef| (the indicator of x is 1), ties to the lower index */
		for (size_t a = 0; rc == 0 && a < K; a++) {
			size_t best = a;
			for (size_t t = a + 1; t < M; t++)
				if (fabs(cf[S[t]]) > fabs(cf[S[best]]) ||
				    (fabs(cf[S[t]]) == fabs(cf[S[best]]) && S[t] < S[best]))
					best = t;
			size_t tt = S[a];
			S[a] = S[best];
			S[best] = tt;
		}
		free(cf);
		if (rc < 0)
			goto fail_fit;
	} else {
		for (size_t a = 0; a < K; a++) {
			double best_r2 = -INFINITY, icpt, r2;
			size_t best = M;
			for (size_t j = 0; j < M; j++) {
				bool used = false;
				for (size_t t = 0; t < a; t++)
					used |= S[t] == j;
				if (used)
					continue;
				S[a] = j;
				rc = ex__lime_fit(&g, S, a + 1, LIME_SELECT_ALPHA, tmp, &icpt, &r2,
				                  NULL, jitter);
				if (rc < 0)
					goto fail_fit;
				if (r2 > best_r2) {
					best_r2 = r2;
					best = j;
				}
			}
			S[a] = best;
		}
	}
	run->K = K;
	memcpy(run->sel, S, K * sizeof(size_t));
	rc = ex__lime_fit(&g, S, K, c->alpha, tmp, &run->intercept, &run->r2, tmp + K, jitter);
	if (rc < 0)
		goto fail_fit;
	memset(run->coef, 0, M * sizeof(double));
	memset(run->se, 0, M * sizeof(double));
	run->local_pred = run->intercept;
	for (size_t a = 0; a < K; a++) {
		run->coef[S[a]] = tmp[a];
		run->se[S[a]] = tmp[K + a];
		run->local_pred += tmp[a];
	}
	run->fx = y[0];
	goto out;
fail_fit:
	if (rc == -ENOMEM)
		ex__fail(err, err_size, rc, "lime: out of memory");
	else
		ex__fail(err, err_size, rc, "lime: the ridge system is singular (%zu samples)", N);
out:
	ex__lime_gram_free(&g);
	free(X);
	free(Z);
	free(out);
	free(y);
	free(w);
	free(bx);
	free(tmp);
	free(S);
	return rc;
}

/* ------------------------------------------------------------------ stability */

static uint64_t run_seed(uint64_t seed, size_t r)
{
	uint64_t b[2] = {seed, (uint64_t)r};
	return r ? ex_rng_seed_from(b, sizeof(b)) : seed;
}

static bool in_set(const struct lime_run *r, size_t j)
{
	for (size_t t = 0; t < r->K; t++)
		if (r->sel[t] == j)
			return true;
	return false;
}

void ex_lime_result_free(struct ex_lime_result *r)
{
	if (!r)
		return;
	free(r->coef);
	free(r->coef_se);
	free(r->selected);
	free(r->coef_cv);
	free(r->sign_flip);
	memset(r, 0, sizeof(*r));
}

void ex_lime_config_resolve(struct ex_lime_config *c, size_t M)
{
	if (!c->n_samples)
		c->n_samples = LIME_DEFAULT_SAMPLES;
	if (!(c->kernel_width > 0))
		c->kernel_width = 0.75 * sqrt((double)M);
	if (!c->n_select)
		c->n_select = M < LIME_DEFAULT_SELECT ? M : LIME_DEFAULT_SELECT;
	if (c->n_select > M)
		c->n_select = M;
	if (c->selection == EX_LIME_AUTO)
		c->selection = c->n_select <= 6 ? EX_LIME_FORWARD : EX_LIME_HIGHEST_WEIGHTS;
	if (!(c->alpha > 0))
		c->alpha = 1;
	if (!c->n_repeats)
		c->n_repeats = LIME_DEFAULT_REPEATS;
	if (!c->max_batch_rows)
		c->max_batch_rows = 65536;
	if (!(c->min_jaccard > 0))
		c->min_jaccard = 0.8;
}

int ex_lime(const struct ex_fn *f, const struct ex_lime_bins *bins, const double *x,
            const struct ex_lime_config *cin, struct ex_lime_result *ret, char *err,
            size_t err_size)
{
	struct ex_lime_config c = cin ? *cin : (struct ex_lime_config){0};
	struct lime_run *runs = NULL;
	int rc = 0;

	if (!ret)
		return ex__fail(err, err_size, -EINVAL, "lime: ret is NULL");
	memset(ret, 0, sizeof(*ret));
	if (!f || !f->predict || !bins || !x)
		return ex__fail(err, err_size, -EINVAL, "lime: needs f, bins and x");
	if (f->n_features != bins->M)
		return ex__fail(err, err_size, -EINVAL, "lime: the bins have %zu features, f %zu",
		                bins->M, f->n_features);
	if (c.output >= f->n_outputs)
		return ex__fail(err, err_size, -EINVAL, "lime: output %zu of %zu", c.output,
		                f->n_outputs);
	size_t M = bins->M;
	ex_lime_config_resolve(&c, M);
	if (c.n_samples < 2)
		return ex__fail(err, err_size, -EINVAL, "lime: needs at least 2 samples");
	size_t R = c.n_repeats;

	runs = calloc(R, sizeof(*runs));
	ret->coef = calloc(M, sizeof(double));
	ret->coef_se = calloc(M, sizeof(double));
	ret->selected = calloc(M, sizeof(size_t));
	ret->coef_cv = calloc(M, sizeof(double));
	ret->sign_flip = calloc(M, sizeof(double));
	if (!runs || !ret->coef || !ret->coef_se || !ret->selected || !ret->coef_cv ||
	    !ret->sign_flip) {
		rc = ex__fail(err, err_size, -ENOMEM, "lime: out of memory");
		goto out;
	}
	for (size_t r = 0; r < R; r++) {
		runs[r].sel = malloc(M * sizeof(size_t));
		runs[r].coef = malloc(M * sizeof(double));
		runs[r].se = malloc(M * sizeof(double));
		if (!runs[r].sel || !runs[r].coef || !runs[r].se) {
			rc = ex__fail(err, err_size, -ENOMEM, "lime: out of memory");
			goto out;
		}
	}
again:
	for (size_t r = 0; r < R; r++) {
		rc = one_run(f, bins, x, &c, run_seed(c.seed, r), &runs[r], &ret->model_rows,
		             &ret->jitter, err, err_size);
		if (rc < 0)
			goto out;
	}
	ret->n_features = M;
	memcpy(ret->coef, runs[0].coef, M * sizeof(double));
	memcpy(ret->coef_se, runs[0].se, M * sizeof(double));
	memcpy(ret->selected, runs[0].sel, runs[0].K * sizeof(size_t));
	ret->n_selected = runs[0].K;
	ret->intercept = runs[0].intercept;
	ret->r2 = runs[0].r2;
	ret->local_pred = runs[0].local_pred;
	ret->fx = runs[0].fx;
	ret->n_repeats = R;

	/* pairwise set agreement and interval overlap */
	double jac = 0, vsi = 0;
	size_t pairs = 0, ci_pairs = 0, ci_ok = 0;
	for (size_t a = 0; a < R; a++)
		for (size_t b = a + 1; b < R; b++) {
			size_t inter = 0;
			for (size_t t = 0; t < runs[a].K; t++)
				inter += in_set(&runs[b], runs[a].sel[t]);
			size_t uni = runs[a].K + runs[b].K - inter;
			jac += uni ? (double)inter / (double)uni : 1;
			vsi += runs[a].K ? (double)inter / (double)runs[a].K : 1;
			pairs++;
			for (size_t t = 0; t < runs[a].K; t++) {
				size_t j = runs[a].sel[t];
				if (!in_set(&runs[b], j))
					continue;
				double la = runs[a].coef[j] - 1.96 * runs[a].se[j];
				double ha = runs[a].coef[j] + 1.96 * runs[a].se[j];
				double lb = runs[b].coef[j] - 1.96 * runs[b].se[j];
				double hb = runs[b].coef[j] + 1.96 * runs[b].se[j];
				/* a rounding margin: exact fits have zero-width intervals */
				double eps = 1e-9 * (1 + fabs(runs[a].coef[j]));
				ci_ok += la <= hb + eps && lb <= ha + eps;
				ci_pairs++;
			}
		}
	ret->jaccard = pairs ? jac / (double)pairs : 1;
	ret->n_samples = c.n_samples;
	ret->stable = ret->jaccard >= c.min_jaccard;
	if (!ret->stable && c.max_samples > c.n_samples) {
		c.n_samples = 2 * c.n_samples < c.max_samples ? 2 * c.n_samples : c.max_samples;
		goto again;
	}
	ret->vsi = pairs ? 100 * vsi / (double)pairs : 100;
	ret->csi = ci_pairs ? 100 * (double)ci_ok / (double)ci_pairs : 100;
	for (size_t j = 0; j < M; j++) {
		double mean = 0, var = 0;
		size_t pos = 0, neg = 0;
		for (size_t r = 0; r < R; r++) {
			mean += runs[r].coef[j];
			pos += runs[r].coef[j] > 0;
			neg += runs[r].coef[j] < 0;
		}
		mean /= (double)R;
		for (size_t r = 0; r < R; r++)
			var += (runs[r].coef[j] - mean) * (runs[r].coef[j] - mean);
		var = R > 1 ? var / (double)(R - 1) : 0;
		ret->coef_cv[j] = mean != 0 ? sqrt(var) / fabs(mean) : NAN;
		ret->sign_flip[j] = (double)(pos < neg ? pos : neg) / (double)R;
	}
out:
	for (size_t r = 0; runs && r < R; r++) {
		free(runs[r].sel);
		free(runs[r].coef);
		free(runs[r].se);
	}
	free(runs);
	if (rc < 0)
		ex_lime_result_free(ret);
	return rc;
}
