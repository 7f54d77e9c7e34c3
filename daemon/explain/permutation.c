/* SPDX-License-Identifier: Apache-2.0 */
/* Antithetic permutation sampling of Shapley values (METHODS.md §3.7), the independent
 * cross-check of KernelSHAP: each unit is a random permutation and its reverse; a player's
 * estimate from one unit is the mean of its two marginal contributions. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "game.h"
#include "model.h"
#include "rng.h"
#include "sampled.h"

/* Units evaluated per game_values call. */
#define UNITS_PER_CALL 64

struct perm_state {
	size_t P, W, G;
	double *mean, *m2; /* Welford accumulators, P x G */
	size_t n;
	size_t *order;    /* UNITS_PER_CALL x P */
	uint64_t *masks;  /* UNITS_PER_CALL x 2 x (P-1) x W */
	double *v;        /* the matching values */
	double *estimate; /* P x G of one unit */
};

static int run_units(struct sampled_run *run, struct perm_state *s, struct ex_rng *rng,
                     size_t n_units, char *err, size_t err_size)
{
	size_t P = s->P, W = s->W, G = s->G, per = 2 * (P - 1);
	const double *v0 = game_v_empty(run->game), *vN = game_v_full(run->game);

	for (size_t done = 0; done < n_units;) {
		size_t u = n_units - done < UNITS_PER_CALL ? n_units - done : UNITS_PER_CALL;
		memset(s->masks, 0, u * per * W * sizeof(uint64_t));
		for (size_t i = 0; i < u; i++) {
			size_t *ord = s->order + i * P;
			for (size_t p = 0; p < P; p++)
				ord[p] = p;
			ex_rng_shuffle(rng, ord, P);
			/* forward prefixes of ord, then prefixes of the reversed order */
			for (size_t dir = 0; dir < 2; dir++) {
				uint64_t *base = s->masks + (i * per + dir * (P - 1)) * W;
				for (size_t k = 0; k + 1 < P; k++) {
					uint64_t *m = base + k * W;
					if (k)
						memcpy(m, m - W, W * sizeof(uint64_t));
					mask_set(m, dir ? ord[P - 1 - k] : ord[k]);
				}
			}
		}
		int rc = game_values(run->game, s->masks, u * per, s->v, err, err_size);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < u; i++) {
			const size_t *ord = s->order + i * P;
			memset(s->estimate, 0, P * G * sizeof(double));
			for (size_t dir = 0; dir < 2; dir++) {
				const double *vals = s->v + (i * per + dir * (P - 1)) * G;
				for (size_t k = 0; k < P; k++) {
					size_t p = dir ? ord[P - 1 - k] : ord[k];
					const double *prev = k ? vals + (k - 1) * G : v0;
					const double *cur = k + 1 < P ? vals + k * G : vN;
					for (size_t o = 0; o < G; o++)
						s->estimate[p * G + o] += 0.5 * (cur[o] - prev[o]);
				}
			}
			s->n++;
			for (size_t q = 0; q < P * G; q++) {
				double d = s->estimate[q] - s->mean[q];
				s->mean[q] += d / (double)s->n;
				s->m2[q] += d * (s->estimate[q] - s->mean[q]);
			}
		}
		done += u;
	}
	return 0;
}

static void perm_report(const struct sampled_run *run, const struct perm_state *s,
                        struct ex_sampled_result *r)
{
	for (size_t p = 0; p < s->P; p++) {
		size_t j = game_player_feature(run->game, p);
		for (size_t o = 0; o < s->G; o++) {
			size_t q = p * s->G + o;
			r->phi[o * run->M + j] = s->mean[q];
			r->se[o * run->M + j] =
			    s->n > 1 ? sqrt(s->m2[q] / (double)(s->n - 1) / (double)s->n) : 0;
		}
	}
}

int ex_permutation_shap(const struct ex_fn *f, const double *x, const double *bg, const double *w,
                        size_t n_bg, const struct ex_sampled_config *c,
                        struct ex_sampled_result *ret, char *err, size_t err_size)
{
	struct sampled_run run;
	struct perm_state s = {0};
	struct ex_rng rng;
	const size_t min_units = 16;
	int rc = sampled_begin(f, x, bg, w, n_bg, c, &run, ret, err, err_size);

	if (rc < 0)
		return rc;
	size_t P = run.P;
	ret->rcond = NAN;
	if (P <= 1) {
		for (size_t o = 0; o < run.G && P == 1; o++)
			ret->phi[o * run.M + game_player_feature(run.game, 0)] =
			    ret->fx[o] - ret->base[o];
		ret->exact = ret->converged = true;
		goto done;
	}
	s.P = P;
	s.W = game_mask_words(run.game);
	s.G = run.G;
	s.mean = calloc(P * s.G, sizeof(double));
	s.m2 = calloc(P * s.G, sizeof(double));
	s.order = malloc(UNITS_PER_CALL * P * sizeof(size_t));
	s.masks = malloc(UNITS_PER_CALL * 2 * (P - 1) * s.W * sizeof(uint64_t));
	s.v = malloc(UNITS_PER_CALL * 2 * (P - 1) * s.G * sizeof(double));
	s.estimate = malloc(P * s.G * sizeof(double));
	if (!s.mean || !s.m2 || !s.order || !s.masks || !s.v || !s.estimate) {
		rc = ex__fail(err, err_size, -ENOMEM, "out of memory");
		goto done;
	}
	ex_rng_seed(&rng, c->seed);
	/* worst-case coalitions per unit: both directions' P - 1 prefixes */
	uint64_t per_unit = 2 * (uint64_t)(P - 1);
	if (sampled_affordable(&run) / per_unit < min_units) {
		rc = ex__fail(
		    err, err_size, -ENOSPC,
		    "the budget of %llu model rows cannot pay for %zu antithetic permutation "
		    "pairs over %zu features (%llu coalitions x %zu background rows each)",
		    (unsigned long long)run.budget, min_units, P, (unsigned long long)per_unit,
		    run.n_bg);
		goto done;
	}
	size_t goal = c->fixed ? (size_t)(sampled_affordable(&run) / per_unit) : min_units;
	for (;;) {
		size_t can = (size_t)(sampled_affordable(&run) / per_unit);
		size_t want = goal > s.n ? goal - s.n : 0;
		if (want > can)
			want = can;
		if (want == 0)
			break;
		rc = run_units(&run, &s, &rng, want, err, err_size);
		if (rc < 0)
			goto done;
		ret->rounds++;
		perm_report(&run, &s, ret);
		double max_se, ratio;
		ret->converged = sampled_converged(&run, ret, &max_se, &ratio);
		ret->ratio = ratio;
		if (ret->converged || c->fixed)
			break;
		goal = sampled_forecast(&run, s.n, max_se, ratio);
	}
done:
	free(s.mean);
	free(s.m2);
	free(s.order);
	free(s.masks);
	free(s.v);
	free(s.estimate);
	if (rc >= 0)
		sampled_finish(&run, ret);
	sampled_end(&run, ret, rc);
	return rc;
}
