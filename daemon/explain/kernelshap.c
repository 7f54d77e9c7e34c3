/* SPDX-License-Identifier: Apache-2.0 */
/* KernelSHAP (METHODS.md §3.2-§3.6): exact enumeration when every coalition fits the budget,
 * otherwise shap's enumerate-then-sample scheme with complementary pairs, the efficiency
 * constraint solved exactly, sandwich standard errors and rounds that stop when the estimate
 * is precise enough. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "game.h"
#include "linalg.h"
#include "model.h"
#include "rng.h"
#include "sampled.h"

/* Coalitions per game_values call: bounds the transient memory, not the model batch size. */
#define CHUNK 4096

void ex_sampled_result_free(struct ex_sampled_result *r)
{
	if (!r)
		return;
	free(r->phi);
	free(r->se);
	free(r->base);
	free(r->fx);
	memset(r, 0, sizeof(*r));
}

uint64_t ex_sampled_default_budget(size_t n_features, size_t n_bg)
{
	return (2 * (uint64_t)n_features + 2048) * n_bg + n_bg + 1;
}

int sampled_begin(const struct ex_fn *f, const double *x, const double *bg, const double *w,
                  size_t n_bg, const struct ex_sampled_config *c, struct sampled_run *run,
                  struct ex_sampled_result *ret, char *err, size_t err_size)
{
	size_t M, G;
	int rc;

	memset(run, 0, sizeof(*run));
	if (!f || !f->predict || !x || !bg || !n_bg || !c || !ret)
		return ex__fail(err, err_size, -EINVAL,
		                "a sampled explanation needs a model, a row, background rows and a "
		                "configuration");
	if (c->tolerance < 0 || c->rel_tolerance < 0 || isnan(c->tolerance) ||
	    isnan(c->rel_tolerance))
		return ex__fail(err, err_size, -EINVAL,
		                "the tolerances must be non-negative numbers");
	M = f->n_features;
	G = f->n_outputs;
	memset(ret, 0, sizeof(*ret));
	rc = game_new(f, x, bg, w, n_bg, c->max_batch_rows, &run->game, err, err_size);
	if (rc < 0)
		return rc;
	run->P = game_n_players(run->game);
	run->G = G;
	run->M = M;
	run->n_bg = n_bg;
	run->budget = c->budget ? c->budget : ex_sampled_default_budget(M, n_bg);
	run->rel_tolerance = c->rel_tolerance > 0 ? c->rel_tolerance : 0.01;
	run->tolerance = c->tolerance;
	ret->n_features = M;
	ret->n_outputs = G;
	ret->n_players = run->P;
	ret->phi = calloc(M * G, sizeof(double));
	ret->se = calloc(M * G, sizeof(double));
	ret->base = malloc(G * sizeof(double));
	ret->fx = malloc(G * sizeof(double));
	if (!ret->phi || !ret->se || !ret->base || !ret->fx) {
		sampled_end(run, ret, -ENOMEM);
		return ex__fail(err, err_size, -ENOMEM, "out of memory");
	}
	memcpy(ret->base, game_v_empty(run->game), G * sizeof(double));
	memcpy(ret->fx, game_v_full(run->game), G * sizeof(double));
	if (game_rows(run->game) > run->budget) {
		rc = ex__fail(err, err_size, -ENOSPC,
		              "the budget of %llu model rows cannot pay for f(x) and the %zu "
		              "background rows",
		              (unsigned long long)run->budget, n_bg);
		sampled_end(run, ret, rc);
		return rc;
	}
	return 0;
}

uint64_t sampled_affordable(const struct sampled_run *run)
{
	uint64_t spent = game_rows(run->game);

	return spent >= run->budget ? 0 : (run->budget - spent) / run->n_bg;
}

/* Stopping statistics over every output: max stderr and Covert and Lee's ratio. */
bool sampled_converged(const struct sampled_run *run, const struct ex_sampled_result *r,
                       double *ret_max_se, double *ret_ratio)
{
	double max_se = 0, ratio = 0;

	for (size_t o = 0; o < run->G; o++) {
		const double *phi = r->phi + o * run->M, *se = r->se + o * run->M;
		double lo = INFINITY, hi = -INFINITY, s = 0;
		for (size_t j = 0; j < run->M; j++) {
			lo = fmin(lo, phi[j]);
			hi = fmax(hi, phi[j]);
			s = fmax(s, se[j]);
		}
		max_se = fmax(max_se, s);
		ratio = fmax(ratio, s == 0 ? 0 : hi > lo ? s / (hi - lo) : INFINITY);
	}
	*ret_max_se = max_se;
	*ret_ratio = ratio;
	return run->tolerance > 0 ? max_se <= run->tolerance : ratio <= run->rel_tolerance;
}

/* How many sampling units (pairs) a further round should have in all, forecast from the
 * 1/sqrt(n) law with 10% headroom, at least 25% more, at most 8 times as many. */
size_t sampled_forecast(const struct sampled_run *run, size_t n, double max_se, double ratio)
{
	double cur = run->tolerance > 0 ? max_se : ratio;
	double target = run->tolerance > 0 ? run->tolerance : run->rel_tolerance;
	double want =
	    isfinite(cur) ? (double)n * (cur / target) * (cur / target) * 1.1 : (double)n * 8;

	if (want < (double)n * 1.25)
		want = (double)n * 1.25;
	if (want > (double)n * 8)
		want = (double)n * 8;
	return (size_t)ceil(want);
}

void sampled_finish(struct sampled_run *run, struct ex_sampled_result *r)
{
	r->model_rows = game_rows(run->game);
	r->coalitions = game_coalitions(run->game);
	r->residual = 0;
	for (size_t o = 0; o < run->G; o++) {
		double s = r->base[o];
		for (size_t j = 0; j < run->M; j++)
			s += r->phi[o * run->M + j];
		r->residual = fmax(r->residual, fabs(s - r->fx[o]));
	}
}

void sampled_end(struct sampled_run *run, struct ex_sampled_result *r, int rc)
{
	game_free(run->game);
	run->game = NULL;
	if (rc < 0)
		ex_sampled_result_free(r);
}

/* ------------------------------------------------------------------ exact enumeration */

/* Shapley values from every coalition: phi_p = sum_{S not containing p} |S|! (P-|S|-1)! / P!
 * (v(S + p) - v(S)). Players fit one mask word here (P < 31). */
static int kernel_exact(struct sampled_run *run, struct ex_sampled_result *r, char *err,
                        size_t err_size)
{
	size_t P = run->P, G = run->G, M = run->M, n = (size_t)1 << P;
	double *v = malloc(n * G * sizeof(double)), *wt = malloc(P * sizeof(double));
	uint64_t *masks = malloc(CHUNK * sizeof(uint64_t));
	int rc = 0;

	if (!v || !wt || !masks) {
		rc = ex__fail(err, err_size, -ENOMEM, "out of memory for %zu coalitions", n);
		goto out;
	}
	memcpy(v, game_v_empty(run->game), G * sizeof(double));
	memcpy(v + (n - 1) * G, game_v_full(run->game), G * sizeof(double));
	for (size_t m = 1; m + 1 < n;) {
		size_t k = 0;
		for (; k < CHUNK && m + k + 1 < n; k++)
			masks[k] = m + k;
		rc = game_values(run->game, masks, k, v + m * G, err, err_size);
		if (rc < 0)
			goto out;
		m += k;
	}
	/* wt[s] = s! (P-s-1)! / P!, by the ratio wt[s] / wt[s-1] = s / (P - s) */
	wt[0] = 1.0 / (double)P;
	for (size_t s = 1; s < P; s++)
		wt[s] = wt[s - 1] * (double)s / (double)(P - s);
	for (size_t p = 0; p < P; p++) {
		size_t j = game_player_feature(run->game, p), bit = (size_t)1 << p;
		for (size_t o = 0; o < G; o++) {
			double acc = 0;
			for (size_t m = 0; m < n; m++)
				if (!(m & bit))
					acc += wt[__builtin_popcountll(m)] *
					       (v[(m | bit) * G + o] - v[m * G + o]);
			r->phi[o * M + j] = acc;
		}
	}
	r->exact = true;
	r->converged = true;
	r->rounds = 1;
	r->rcond = 1;
out:
	free(v);
	free(wt);
	free(masks);
	return rc;
}

/* ------------------------------------------------------------------ sampling */

struct kernel_state {
	size_t P, W, G;
	double *mu;    /* mu[s] = (P-1) / (s (P-s)): the total kernel weight of size s */
	bool *sampled; /* size s is sampled (not enumerated) */
	double w_rem;  /* total weight of the sampled sizes */
	bool leverage; /* draw sampled sizes uniformly (leverage scores), else by kernel weight */
	double d_rem;  /* total drawing weight of the sampled sizes */
	double *cum;   /* cumulative drawing weight over the sampled sizes, for drawing a size */
	size_t *sizes, n_sizes;

	double *A_enum, *b_enum; /* P x P, P x G */
	double *A_samp, *b_samp; /* sums over sampled pairs of z z^T + zc zc^T and z y + zc yc */
	uint64_t *pair_masks;    /* n x 2 x W: each sampled coalition and its complement */
	double *pair_y;          /* n x 2 x G: v(S) - v(empty) */
	double *pair_t; /* n: importance weight, kernel share / drawing share of its size */
	size_t n_pairs, cap_pairs;
};

static double binomial(size_t n, size_t k)
{
	double r = 1;

	for (size_t i = 1; i <= k; i++)
		r = r * (double)(n - k + i) / (double)i;
	return r;
}

static void add_outer(double *A, size_t P, const uint64_t *m, size_t W, double wgt, size_t *members)
{
	size_t k = 0;

	for (size_t w = 0; w < W; w++)
		for (uint64_t bits = m[w]; bits; bits &= bits - 1)
			members[k++] = w * 64 + (size_t)__builtin_ctzll(bits);
	for (size_t a = 0; a < k; a++)
		for (size_t b = 0; b <= a; b++)
			A[members[a] * P + members[b]] += wgt;
}

static void add_rhs(double *b, size_t G, const uint64_t *m, size_t W, double wgt, const double *y)
{
	for (size_t w = 0; w < W; w++)
		for (uint64_t bits = m[w]; bits; bits &= bits - 1) {
			size_t p = w * 64 + (size_t)__builtin_ctzll(bits);
			for (size_t o = 0; o < G; o++)
				b[p * G + o] += wgt * y[o];
		}
}

static void complement(const uint64_t *m, size_t P, size_t W, uint64_t *out)
{
	for (size_t w = 0; w < W; w++)
		out[w] = ~m[w];
	if (P % 64)
		out[W - 1] &= (1ull << (P % 64)) - 1;
}

/* Evaluates n masks (n x W) in chunks, writing v(S) - v(empty) to y (n x G). */
static int values_minus_base(struct sampled_run *run, const uint64_t *masks, size_t n, double *y,
                             char *err, size_t err_size)
{
	size_t W = game_mask_words(run->game), G = run->G;
	const double *v0 = game_v_empty(run->game);

	for (size_t at = 0; at < n; at += CHUNK) {
		size_t k = n - at < CHUNK ? n - at : CHUNK;
		int rc = game_values(run->game, masks + at * W, k, y + at * G, err, err_size);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t o = 0; o < G; o++)
			y[i * G + o] -= v0[o];
	return 0;
}

/* shap's plan: walk sizes from the outside in (1 and P-1, then 2 and P-2, ...) and enumerate
 * a pair of sizes completely while the coalitions planned for it, in proportion to its kernel
 * weight, cover all its subsets; the rest is sampled. Enumerated coalitions are evaluated and
 * accumulated here. Returns the coalitions spent. */
static int plan_and_enumerate(struct sampled_run *run, struct kernel_state *k, size_t n_plan,
                              size_t *ret_spent, char *err, size_t err_size)
{
	size_t P = k->P, W = k->W, G = k->G, half = P / 2, spent = 0;
	double left = 0, remaining = (double)n_plan;
	size_t *members = malloc(P * sizeof(size_t)), *comb = malloc(P * sizeof(size_t));
	uint64_t *masks = NULL;
	double *y = NULL;
	int rc = 0;

	if (!members || !comb) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t s = 1; s < P; s++) {
		k->mu[s] = (double)(P - 1) / ((double)s * (double)(P - s));
		k->sampled[s] = true;
		left += k->mu[s];
	}
	for (size_t s = 1; s <= half; s++) {
		bool paired = s != P - s;
		double subsets = binomial(P, s) * (paired ? 2 : 1);
		double share = k->mu[s] * (paired ? 2 : 1);
		if (remaining * share / left < subsets - 1e-8)
			break;
		size_t count = (size_t)subsets;
		uint64_t *nm = realloc(masks, count * W * sizeof(uint64_t));
		if (nm)
			masks = nm;
		double *ny = realloc(y, count * G * sizeof(double));
		if (ny)
			y = ny;
		if (!nm || !ny) {
			rc = -ENOMEM;
			goto out;
		}
		memset(masks, 0, count * W * sizeof(uint64_t));
		/* every s-subset in lexicographic order, then the complements */
		for (size_t i = 0; i < s; i++)
			comb[i] = i;
		for (size_t c = 0; c < count / (paired ? 2 : 1); c++) {
			uint64_t *m = masks + c * W;
			for (size_t i = 0; i < s; i++)
				mask_set(m, comb[i]);
			if (paired)
				complement(m, P, W, masks + (count / 2 + c) * W);
			size_t i = s;
			while (i > 0 && comb[i - 1] == P - s + i - 1)
				i--;
			if (i == 0)
				break;
			comb[i - 1]++;
			for (size_t t = i; t < s; t++)
				comb[t] = comb[t - 1] + 1;
		}
		rc = values_minus_base(run, masks, count, y, err, err_size);
		if (rc < 0)
			goto out_err;
		double wgt = k->mu[s] / binomial(P, s);
		for (size_t c = 0; c < count; c++) {
			add_outer(k->A_enum, P, masks + c * W, W, wgt, members);
			add_rhs(k->b_enum, G, masks + c * W, W, wgt, y + c * G);
		}
		k->sampled[s] = k->sampled[P - s] = false;
		left -= share;
		remaining -= subsets;
		spent += count;
	}
	k->w_rem = 0;
	k->d_rem = 0;
	k->n_sizes = 0;
	for (size_t s = 1; s < P; s++)
		if (k->sampled[s]) {
			k->w_rem += k->mu[s];
			k->d_rem += k->leverage ? 1 : k->mu[s];
			k->sizes[k->n_sizes] = s;
			k->cum[k->n_sizes++] = k->d_rem;
		}
	*ret_spent = spent;
out:
	if (rc == -ENOMEM)
		rc = ex__fail(err, err_size, -ENOMEM, "out of memory while enumerating coalitions");
out_err:
	free(members);
	free(comb);
	free(masks);
	free(y);
	return rc;
}

/* Draws n more complementary pairs (a size uniformly over the sampled sizes, whose leverage
 * scores are equal, or by kernel weight; then a uniform subset), evaluates them and adds them
 * to the sums, each weighted by its size's kernel share over its drawing share. */
static int sample_pairs(struct sampled_run *run, struct kernel_state *k, struct ex_rng *rng,
                        size_t n, size_t *members, size_t *perm, char *err, size_t err_size)
{
	size_t P = k->P, W = k->W, G = k->G, total = k->n_pairs + n;
	int rc;

	if (total > k->cap_pairs) {
		uint64_t *pm = realloc(k->pair_masks, total * 2 * W * sizeof(uint64_t));
		if (pm)
			k->pair_masks = pm;
		double *py = realloc(k->pair_y, total * 2 * G * sizeof(double));
		if (py)
			k->pair_y = py;
		double *pt = realloc(k->pair_t, total * sizeof(double));
		if (pt)
			k->pair_t = pt;
		if (!pm || !py || !pt)
			return ex__fail(err, err_size, -ENOMEM, "out of memory for %zu pairs",
			                total);
		k->cap_pairs = total;
	}
	uint64_t *masks = k->pair_masks + k->n_pairs * 2 * W;
	memset(masks, 0, n * 2 * W * sizeof(uint64_t));
	for (size_t i = 0; i < n; i++) {
		double u = ex_rng_uniform(rng) * k->d_rem;
		size_t si = 0;
		while (si + 1 < k->n_sizes && k->cum[si] <= u)
			si++;
		size_t s = k->sizes[si];
		k->pair_t[k->n_pairs + i] =
		    k->leverage ? k->mu[s] / k->w_rem * k->d_rem : 1.0; /* 1 for kernel weight */
		/* partial Fisher-Yates: the first s entries of a fresh shuffle */
		for (size_t p = 0; p < P; p++)
			perm[p] = p;
		for (size_t t = 0; t < s; t++) {
			size_t r = t + (size_t)ex_rng_below(rng, P - t);
			size_t tmp = perm[t];
			perm[t] = perm[r];
			perm[r] = tmp;
			mask_set(masks + 2 * i * W, perm[t]);
		}
		complement(masks + 2 * i * W, P, W, masks + (2 * i + 1) * W);
	}
	double *y = k->pair_y + k->n_pairs * 2 * G;
	rc = values_minus_base(run, masks, 2 * n, y, err, err_size);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < 2 * n; i++) {
		double t = k->pair_t[k->n_pairs + i / 2];
		add_outer(k->A_samp, P, masks + i * W, W, t, members);
		add_rhs(k->b_samp, G, masks + i * W, W, t, y + i * G);
	}
	k->n_pairs = total;
	return 0;
}

/* The constrained weighted least squares solution and its sandwich standard errors from the
 * current sums. */
static int kernel_solve(struct sampled_run *run, struct kernel_state *k,
                        struct ex_sampled_result *r, char *err, size_t err_size)
{
	size_t P = k->P, W = k->W, G = k->G, M = run->M, n = k->n_pairs;
	double c = n ? k->w_rem / (2.0 * (double)n) : 0;
	double *A = malloc(P * P * sizeof(double)), *Kmat = malloc(P * P * sizeof(double));
	double *a = malloc(P * sizeof(double)), *u = malloc(P * sizeof(double));
	double *phi = malloc(P * sizeof(double)), *h = malloc(n * P * sizeof(double));
	double *mean = malloc(P * sizeof(double)), *gk = malloc(P * sizeof(double));
	double *var = malloc(P * sizeof(double));
	double rcond = 0, jitter = 0;
	int rc = 0;

	if (!A || !Kmat || !a || !u || !phi || !h || !mean || !gk || !var) {
		rc = ex__fail(err, err_size, -ENOMEM, "out of memory for the regression");
		goto out;
	}
	for (size_t i = 0; i < P * P; i++)
		A[i] = k->A_enum[i] + c * k->A_samp[i];
	rc = ex_cholesky(A, P, A, &rcond, &jitter);
	if (rc < 0) {
		rc = ex__fail(
		    err, err_size, -EDOM,
		    "the %zu coalitions sampled within the budget leave the regression over "
		    "%zu features ill-conditioned; raise the budget",
		    (size_t)game_coalitions(run->game), P);
		goto out;
	}
	r->rcond = rcond;
	/* a = A^-1 1 and K = A^-1 - a a^T / (1^T a), the derivative of the constrained solution
	 * with respect to the right-hand side */
	for (size_t p = 0; p < P; p++)
		a[p] = 1;
	ex_cholesky_solve(A, P, a);
	double one_a = 0;
	for (size_t p = 0; p < P; p++)
		one_a += a[p];
	for (size_t col = 0; col < P; col++) {
		for (size_t p = 0; p < P; p++)
			u[p] = p == col;
		ex_cholesky_solve(A, P, u);
		for (size_t p = 0; p < P; p++)
			Kmat[p * P + col] = u[p] - a[p] * a[col] / one_a;
	}
	for (size_t o = 0; o < G; o++) {
		double delta = game_v_full(run->game)[o] - game_v_empty(run->game)[o], one_u = 0;
		for (size_t p = 0; p < P; p++)
			u[p] = k->b_enum[p * G + o] + c * k->b_samp[p * G + o];
		ex_cholesky_solve(A, P, u);
		for (size_t p = 0; p < P; p++)
			one_u += u[p];
		for (size_t p = 0; p < P; p++)
			phi[p] = u[p] - a[p] * (one_u - delta) / one_a;
		/* h_i = z r + zc rc per pair, r = y - z^T phi; Var(phi) = c^2 n K Cov(h) K */
		for (size_t p = 0; p < P; p++)
			mean[p] = 0;
		for (size_t i = 0; i < n; i++) {
			double *hi = h + i * P;
			for (size_t p = 0; p < P; p++)
				hi[p] = 0;
			for (size_t half = 0; half < 2; half++) {
				const uint64_t *m = k->pair_masks + (2 * i + half) * W;
				double res = k->pair_y[(2 * i + half) * G + o];
				for (size_t p = 0; p < P; p++)
					if (mask_has(m, p))
						res -= phi[p];
				res *= k->pair_t[i];
				for (size_t p = 0; p < P; p++)
					if (mask_has(m, p))
						hi[p] += res;
			}
			for (size_t p = 0; p < P; p++)
				mean[p] += hi[p] / (double)n;
		}
		for (size_t p = 0; p < P; p++)
			var[p] = 0;
		for (size_t i = 0; i < n; i++) {
			double *hi = h + i * P;
			for (size_t p = 0; p < P; p++)
				hi[p] -= mean[p];
			for (size_t p = 0; p < P; p++) {
				double g = 0;
				for (size_t q = 0; q < P; q++)
					g += Kmat[p * P + q] * hi[q];
				gk[p] = g;
			}
			for (size_t p = 0; p < P; p++)
				var[p] += gk[p] * gk[p];
		}
		for (size_t p = 0; p < P; p++) {
			size_t j = game_player_feature(run->game, p);
			r->phi[o * M + j] = phi[p];
			r->se[o * M + j] =
			    n > 1 ? c * sqrt((double)n * var[p] / (double)(n - 1)) : 0;
		}
	}
out:
	free(A);
	free(Kmat);
	free(a);
	free(u);
	free(phi);
	free(h);
	free(mean);
	free(gk);
	free(var);
	return rc;
}

static void kernel_state_free(struct kernel_state *k)
{
	free(k->mu);
	free(k->sampled);
	free(k->cum);
	free(k->sizes);
	free(k->A_enum);
	free(k->b_enum);
	free(k->A_samp);
	free(k->b_samp);
	free(k->pair_masks);
	free(k->pair_y);
	free(k->pair_t);
}

/* One game's sampling state: the plan, the sums and the sampled pairs. */
struct sampler {
	struct sampled_run *run;
	struct kernel_state k;
	struct ex_rng rng;
	size_t *members, *perm, min_pairs, n_first;
	bool complete; /* every size was enumerated: the regression is exact */
};

static void sampler_free(struct sampler *s)
{
	free(s->members);
	free(s->perm);
	kernel_state_free(&s->k);
}

/* Plans (fixed: the whole budget like shap; adaptive: a first round), enumerates the sizes
 * the plan covers and fills r when that is everything. */
static int sampler_init(struct sampler *s, struct sampled_run *run,
                        const struct ex_sampled_config *cfg, struct ex_sampled_result *r, char *err,
                        size_t err_size)
{
	size_t P = run->P, G = run->G, spent = 0;
	struct kernel_state *k = &s->k;
	int rc;

	*s = (struct sampler){.run = run, .min_pairs = P + 16};
	*k = (struct kernel_state){
	    .P = P, .W = game_mask_words(run->game), .G = G, .leverage = !cfg->kernel_weight_sizes};
	ex_rng_seed(&s->rng, cfg->seed);
	s->members = malloc(P * sizeof(size_t));
	s->perm = malloc(P * sizeof(size_t));
	k->mu = calloc(P, sizeof(double));
	k->sampled = calloc(P, sizeof(bool));
	k->cum = calloc(P, sizeof(double));
	k->sizes = calloc(P, sizeof(size_t));
	k->A_enum = calloc(P * P, sizeof(double));
	k->b_enum = calloc(P * G, sizeof(double));
	k->A_samp = calloc(P * P, sizeof(double));
	k->b_samp = calloc(P * G, sizeof(double));
	if (!s->members || !s->perm || !k->mu || !k->sampled || !k->cum || !k->sizes ||
	    !k->A_enum || !k->b_enum || !k->A_samp || !k->b_samp)
		return ex__fail(err, err_size, -ENOMEM, "out of memory");
	uint64_t afford = sampled_affordable(run);
	if (afford < 2 * s->min_pairs)
		return ex__fail(err, err_size, -ENOSPC,
		                "the budget of %llu model rows cannot pay for one round of "
		                "KernelSHAP over %zu features: it needs %zu coalitions x %zu "
		                "background rows beyond f(x) and the background",
		                (unsigned long long)run->budget, P, 2 * s->min_pairs, run->n_bg);
	size_t n_plan = cfg->fixed ? (size_t)afford : (size_t)fmin((double)afford, 4.0 * P + 128);
	rc = plan_and_enumerate(run, k, n_plan, &spent, err, err_size);
	if (rc < 0)
		return rc;
	s->n_first = (n_plan > spent ? n_plan - spent : 0) / 2;
	if (s->n_first < s->min_pairs)
		s->n_first = s->min_pairs;
	if (k->n_sizes == 0) {
		s->complete = true;
		rc = kernel_solve(run, k, r, err, err_size);
		if (rc >= 0) {
			r->exact = r->converged = true;
			r->rounds = 1;
		}
	}
	return rc;
}

/* Samples pairs until there are n_goal (or the budget is spent) and solves into r. Sets
 * *grew when pairs were added. */
static int sampler_grow(struct sampler *s, size_t n_goal, struct ex_sampled_result *r, bool *grew,
                        char *err, size_t err_size)
{
	struct kernel_state *k = &s->k;
	size_t want = n_goal > k->n_pairs ? n_goal - k->n_pairs : 0;
	size_t can = (size_t)(sampled_affordable(s->run) / 2);
	int rc;

	*grew = false;
	if (s->complete)
		return 0;
	if (want > can)
		want = can;
	if (k->n_pairs + want < s->min_pairs)
		return ex__fail(err, err_size, -ENOSPC,
		                "the budget of %llu model rows ran out before %zu coalition pairs "
		                "were sampled",
		                (unsigned long long)s->run->budget, s->min_pairs);
	if (want == 0)
		return 0;
	rc = sample_pairs(s->run, k, &s->rng, want, s->members, s->perm, err, err_size);
	if (rc < 0)
		return rc;
	*grew = true;
	r->rounds++;
	return kernel_solve(s->run, k, r, err, err_size);
}

static int kernel_sampled(struct sampled_run *run, const struct ex_sampled_config *cfg,
                          struct ex_sampled_result *r, char *err, size_t err_size)
{
	struct sampler s;
	int rc = sampler_init(&s, run, cfg, r, err, err_size);
	size_t n_goal = s.n_first;

	while (rc >= 0 && !s.complete) {
		bool grew;
		double max_se, ratio;
		rc = sampler_grow(&s, n_goal, r, &grew, err, err_size);
		if (rc < 0 || !grew)
			break;
		r->converged = sampled_converged(run, r, &max_se, &ratio);
		r->ratio = ratio;
		if (r->converged || cfg->fixed)
			break;
		n_goal = sampled_forecast(run, s.k.n_pairs, max_se, ratio);
	}
	sampler_free(&s);
	return rc;
}

/* One game: no player or one, exact enumeration when it fits, else sampling. */
static int kernel_game(struct sampled_run *run, const struct ex_sampled_config *c,
                       struct ex_sampled_result *r, char *err, size_t err_size)
{
	size_t P = run->P;

	if (P <= 1) {
		/* no player, or one who gets everything */
		for (size_t o = 0; o < run->G && P == 1; o++)
			r->phi[o * run->M + game_player_feature(run->game, 0)] =
			    r->fx[o] - r->base[o];
		r->exact = r->converged = true;
		r->rcond = 1;
		return 0;
	}
	if (P < 31 && ((uint64_t)1 << P) - 2 <= sampled_affordable(run))
		return kernel_exact(run, r, err, err_size);
	return kernel_sampled(run, c, r, err, err_size);
}

/* The sampled regime, stratified by background row: phi = sum_b w_b phi_b / sum_b w_b where
 * phi_b are the Shapley values of the single-row game v_b(S) = f(x_S, b_rest), each estimated
 * with its own independent coalitions (and enumerated when its few players allow). Evaluating
 * one coalition against every background row instead makes the rows of a coalition share its
 * sampling error; independent coalitions per row cost the same and, when the interaction
 * residuals of a coalition are correlated across background rows (the usual case), give a
 * smaller variance (about 2.5x on the XGBoost benchmark models). Each phi_b meets its own
 * efficiency constraint, so sum phi = f(x) - base exactly. A pilot round gives every row a
 * third of an equal share; later pairs go where they reduce the combined variance most
 * (Neyman allocation, n_b proportional to w_b times the row's per-pair spread), the fixed mode
 * spending the rest of the budget in one more round, the adaptive mode growing by the
 * forecast of the combined stopping rule. */
struct stratum {
	struct sampled_run run;
	struct ex_sampled_result r;
	struct sampler s;
	double w;
	double spread, add; /* allocation: per-pair spread, pairs to add */
	bool active;        /* sampling (not exact, not skipped) */
	bool begun, sampler_ready;
};

static void combine(struct sampled_run *run, struct stratum *st, size_t n, double *var,
                    struct ex_sampled_result *r)
{
	size_t MG = run->M * run->G;

	memset(r->phi, 0, MG * sizeof(double));
	memset(var, 0, MG * sizeof(double));
	for (size_t b = 0; b < n; b++) {
		if (!st[b].begun)
			continue;
		for (size_t q = 0; q < MG; q++) {
			r->phi[q] += st[b].w * st[b].r.phi[q];
			var[q] += st[b].w * st[b].w * st[b].r.se[q] * st[b].r.se[q];
		}
	}
	for (size_t q = 0; q < MG; q++)
		r->se[q] = sqrt(var[q]);
}

static int kernel_stratified(struct sampled_run *run, const struct ex_fn *f, const double *x,
                             const double *bg, const double *w, const struct ex_sampled_config *c,
                             struct ex_sampled_result *r, char *err, size_t err_size)
{
	size_t M = run->M, n_bg = run->n_bg;
	double W = 0, *var = calloc(M * run->G, sizeof(double));
	struct stratum *st = calloc(n_bg, sizeof(*st));
	uint64_t spent = game_rows(run->game), share;
	size_t *goal = calloc(n_bg, sizeof(size_t));
	int rc = 0;

	if (!var || !st || !goal) {
		rc = ex__fail(err, err_size, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t b = 0; b < n_bg; b++)
		W += w ? w[b] : 1;
	share = spent < run->budget ? (run->budget - spent) / n_bg : 0;
	if (share < 3) { /* f(x), f(b) and at least one coalition; 0 would mean "default" below */
		rc = ex__fail(err, err_size, -ENOSPC,
		              "the budget of %llu model rows cannot pay for KernelSHAP over %zu "
		              "features with %zu background rows",
		              (unsigned long long)run->budget, run->P, n_bg);
		goto out;
	}
	r->exact = true;
	r->rcond = INFINITY;
	for (size_t b = 0; b < n_bg; b++) {
		struct stratum *t = &st[b];
		t->w = (w ? w[b] : 1) / W;
		if (t->w == 0)
			continue;
		uint64_t seed_src[2] = {c->seed, b};
		struct ex_sampled_config cb = *c;
		cb.seed = ex_rng_seed_from(seed_src, sizeof(seed_src));
		cb.budget = share;
		rc = sampled_begin(f, x, bg + b * M, NULL, 1, &cb, &t->run, &t->r, err, err_size);
		if (rc < 0)
			goto out;
		t->begun = true;
		size_t P = t->run.P;
		if (P <= 1 || (P < 31 && ((uint64_t)1 << P) - 2 <= sampled_affordable(&t->run))) {
			rc = kernel_game(&t->run, &cb, &t->r, err, err_size);
		} else {
			rc = sampler_init(&t->s, &t->run, &cb, &t->r, err, err_size);
			t->sampler_ready = true;
			t->active = rc >= 0 && !t->s.complete;
			goal[b] = t->s.n_first;
		}
		if (rc == -ENOSPC)
			rc = ex__fail(
			    err, err_size, -ENOSPC,
			    "the budget of %llu model rows leaves %llu per background row, "
			    "too few for KernelSHAP over %zu features (background row %zu)",
			    (unsigned long long)run->budget, (unsigned long long)share, P, b);
		if (rc < 0)
			goto out;
		if (t->active) {
			/* a pilot of a third of the equal share (at least the minimum); the rest is
			 * allocated below. The stratum may then draw on the global budget: the
			 * allocation keeps the sum of the strata within it. */
			goal[b] =
			    t->s.n_first / 3 > t->s.min_pairs ? t->s.n_first / 3 : t->s.min_pairs;
			t->run.budget = run->budget;
		}
	}
	for (unsigned round = 0;; round++) {
		bool any = false;
		for (size_t b = 0; b < n_bg; b++) {
			bool grew;
			if (!st[b].active)
				continue;
			rc = sampler_grow(&st[b].s, goal[b], &st[b].r, &grew, err, err_size);
			if (rc < 0)
				goto out;
			any |= grew;
		}
		r->rounds++;
		combine(run, st, n_bg, var, r);
		double max_se, ratio;
		r->converged = sampled_converged(run, r, &max_se, &ratio);
		r->ratio = ratio;
		if ((r->converged && !(c->fixed && round == 0)) || (c->fixed && round > 0) || !any)
			break;
		/* Neyman allocation: the variance of the combined estimate is
		 * sum_b w_b^2 s_b^2 / n_b (s_b: a stratum's per-pair spread), smallest for a given
		 * total when n_b is proportional to w_b s_b */
		uint64_t used = game_rows(run->game);
		size_t n_now = 0;
		double ws = 0;
		for (size_t b = 0; b < n_bg; b++) {
			if (st[b].begun)
				used += game_rows(st[b].run.game);
			if (!st[b].active)
				continue;
			double s2 = 0;
			for (size_t q = 0; q < M * run->G; q++)
				s2 += st[b].r.se[q] * st[b].r.se[q];
			st[b].spread = sqrt(s2 * (double)st[b].s.k.n_pairs);
			ws += st[b].w * st[b].spread;
			n_now += st[b].s.k.n_pairs;
		}
		/* a pair costs at most 2 rows */
		size_t can = used < run->budget ? (size_t)((run->budget - used) / 2) : 0;
		size_t n_next =
		    c->fixed ? n_now + can : sampled_forecast(run, n_now, max_se, ratio);
		if (n_next > n_now + can)
			n_next = n_now + can;
		if (n_next <= n_now || !(ws > 0))
			break;
		/* goals proportional to w_b s_b, never below what a stratum has, scaled so that
		 * the additions fit */
		double add_total = 0;
		for (size_t b = 0; b < n_bg; b++) {
			if (!st[b].active)
				continue;
			double want = (double)n_next * st[b].w * st[b].spread / ws;
			double have = (double)st[b].s.k.n_pairs;
			st[b].add = want > have ? want - have : 0;
			add_total += st[b].add;
		}
		double scale =
		    add_total > (double)(n_next - n_now) ? (double)(n_next - n_now) / add_total : 1;
		for (size_t b = 0; b < n_bg; b++)
			if (st[b].active)
				goal[b] = st[b].s.k.n_pairs + (size_t)floor(st[b].add * scale);
	}
	for (size_t b = 0; b < n_bg; b++) {
		if (!st[b].begun)
			continue;
		r->exact &= !st[b].active && st[b].r.exact;
		r->rcond = fmin(r->rcond, st[b].r.rcond);
	}
out:
	for (size_t b = 0; st && b < n_bg; b++) {
		if (st[b].begun) {
			r->model_rows += game_rows(st[b].run.game);
			r->coalitions += game_coalitions(st[b].run.game);
		}
		if (st[b].sampler_ready)
			sampler_free(&st[b].s);
		if (st[b].begun)
			sampled_end(&st[b].run, &st[b].r, -1); /* frees the stratum's result too */
	}
	free(st);
	free(var);
	free(goal);
	return rc;
}

int ex_kernelshap(const struct ex_fn *f, const double *x, const double *bg, const double *w,
                  size_t n_bg, const struct ex_sampled_config *c, struct ex_sampled_result *ret,
                  char *err, size_t err_size)
{
	struct sampled_run run;
	int rc = sampled_begin(f, x, bg, w, n_bg, c, &run, ret, err, err_size);

	if (rc < 0)
		return rc;
	size_t P = run.P;
	if (n_bg == 1 || P <= 1 || c->shared_coalitions ||
	    (P < 31 && ((uint64_t)1 << P) - 2 <= sampled_affordable(&run))) {
		rc = kernel_game(&run, c, ret, err, err_size);
		if (rc >= 0)
			sampled_finish(&run, ret);
	} else {
		rc = kernel_stratified(&run, f, x, bg, w, c, ret, err, err_size);
		if (rc >= 0) {
			uint64_t rows = ret->model_rows + game_rows(run.game);
			uint64_t coalitions = ret->coalitions;
			sampled_finish(&run, ret);
			ret->model_rows = rows;
			ret->coalitions = coalitions;
		}
	}
	sampled_end(&run, ret, rc);
	return rc;
}
