/* SPDX-License-Identifier: Apache-2.0 */
/* The explanation confidence score (METHODS.md §7): C = G * P_est * P_noise * A_method,
 * capped when the flip test fires. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rng.h"

const char ex_confidence_meaning[] =
    "C estimates the probability that the reported top-k features, with their signs, would be "
    "reported again when the explanation is recomputed with fresh randomness (P_est), on inputs "
    "that differ only by measurement noise (P_noise), and by an independent method (A_method); "
    "it is 0 when a hard gate fails (efficiency, a deterministic model, the recorded score) and "
    "at most 0.3 when a low-importance feature flips the decision. The factors are treated as "
    "independent, so C is a conservative product.";

static bool same_set(const int *a, const int *b, size_t k)
{
	return !memcmp(a, b, k * sizeof(int));
}

int ex_confidence_p_est(const double *phi, const double *se, size_t M, size_t kmax, size_t n_draws,
                        uint64_t seed, double *ret)
{
	int T[EX_CONF_KMAX], D[EX_CONF_KMAX];
	double *draw;
	size_t k, same = 0;
	bool exact = true;
	struct ex_rng rng;

	if (!phi || !M || !ret || kmax > EX_CONF_KMAX)
		return -EINVAL;
	kmax = kmax ? kmax : EX_CONF_KMAX;
	n_draws = n_draws ? n_draws : 1000;
	k = ex_topk_size(phi, M, kmax);
	ex_signed_topk(phi, M, k, T);
	for (size_t j = 0; se && j < M; j++)
		exact &= se[j] == 0;
	if (exact) {
		*ret = 1;
		return 0;
	}
	draw = malloc(M * sizeof(double));
	if (!draw)
		return -ENOMEM;
	ex_rng_seed(&rng, seed);
	for (size_t i = 0; i < n_draws; i++) {
		for (size_t j = 0; j < M; j++)
			draw[j] = phi[j] + se[j] * ex_rng_normal(&rng);
		ex_signed_topk(draw, M, k, D);
		same += same_set(T, D, k);
	}
	free(draw);
	*ret = (double)same / (double)n_draws;
	return 0;
}

double ex_confidence_agreement(const double *a, const double *b, size_t M, size_t kmax)
{
	int A[EX_CONF_KMAX], B[EX_CONF_KMAX];
	size_t k, common = 0;

	kmax = kmax && kmax <= EX_CONF_KMAX ? kmax : EX_CONF_KMAX;
	k = ex_topk_size(a, M, kmax);
	ex_signed_topk(a, M, k, A);
	ex_signed_topk(b, M, k, B);
	for (size_t i = 0; i < k; i++)
		for (size_t t = 0; t < k; t++)
			common += A[i] == B[t];
	return (double)common / (double)k;
}

int ex_confidence_p_noise(const struct ex_fn *f, const struct ex_explainer *e,
                          const struct ex_decision *d, const double *x, const double *phi,
                          size_t output, const struct ex_feature_info *info,
                          const struct ex_noise_config *c, double *ret, size_t *ret_used, char *err,
                          size_t err_size)
{
	size_t M = f ? f->n_features : 0, G = f ? f->n_outputs : 0, want, kmax, k, used = 0,
	       same = 0;
	int T[EX_CONF_KMAX], D[EX_CONF_KMAX], rc = 0, dx;
	double *rows = NULL, *out = NULL, *phi2 = NULL, *sigma = NULL;
	struct ex_rng rng;

	if (!f || !e || !d || !x || !phi || !info || !c || !ret || output >= G ||
	    c->kmax > EX_CONF_KMAX)
		return ex__fail(err, err_size, -EINVAL,
		                "the noise stability check needs a model, an "
		                "explainer, a decision, a row and feature facts");
	want = c->neighbours ? c->neighbours : 32;
	kmax = c->kmax ? c->kmax : EX_CONF_KMAX;
	k = ex_topk_size(phi, M, kmax);
	ex_signed_topk(phi, M, k, T);
	/* up to four candidates per wanted neighbour: those with another decision are skipped */
	size_t n_cand = 4 * want;
	rows = malloc(n_cand * M * sizeof(double));
	out = malloc((n_cand + 1) * G * sizeof(double));
	phi2 = malloc(M * sizeof(double));
	sigma = malloc(M * sizeof(double));
	if (!rows || !out || !phi2 || !sigma) {
		rc = ex__fail(err, err_size, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t j = 0; j < M; j++) {
		double s = c->sigma ? c->sigma[j] : 0.1 * info[j].mad; /* 0.05 IQR ~ 0.1 MAD */
		sigma[j] = info[j].immutable || info[j].categorical || !isfinite(s) ? 0 : fabs(s);
	}
	ex_rng_seed(&rng, c->seed);
	for (size_t i = 0; i < n_cand; i++)
		for (size_t j = 0; j < M; j++) {
			double v = x[j];
			if (sigma[j] > 0 && !isnan(v)) {
				v += sigma[j] * ex_rng_normal(&rng);
				if (info[j].integer)
					v = round(v);
				/* the plausible range, widened to hold x itself: an input outside
				 * the training range (the cases audits are for) must not have its
				 * neighbours pulled back into the range */
				double lo = isnan(info[j].min) ? NAN : fmin(info[j].min, x[j]);
				double hi = isnan(info[j].max) ? NAN : fmax(info[j].max, x[j]);
				if (!isnan(lo) && v < lo)
					v = lo;
				if (!isnan(hi) && v > hi)
					v = hi;
			}
			rows[i * M + j] = v;
		}
	rc = f->predict(f->userdata, x, 1, out, err, err_size);
	if (rc >= 0)
		rc = f->predict(f->userdata, rows, n_cand, out + G, err, err_size);
	if (rc < 0)
		goto out;
	dx = ex_decide(d, out, G);
	if (e->explain_rows) {
		/* the neighbours that keep the decision, moved to the front, explained at once */
		size_t n = 0;
		for (size_t i = 0; i < n_cand && n < want; i++)
			if (ex_decide(d, out + (i + 1) * G, G) == dx)
				memmove(rows + n++ * M, rows + i * M, M * sizeof(double));
		double *all = n ? malloc(n * M * sizeof(double)) : NULL;
		if (n && !all) {
			rc = ex__fail(err, err_size, -ENOMEM, "out of memory");
			goto out;
		}
		rc = n ? e->explain_rows(e->userdata, rows, n, output, all, err, err_size) : 0;
		for (size_t i = 0; rc >= 0 && i < n; i++) {
			ex_signed_topk(all + i * M, M, k, D);
			same += same_set(T, D, k);
			used++;
		}
		free(all);
		if (rc < 0)
			goto out;
	}
	for (size_t i = 0; !e->explain_rows && i < n_cand && used < want; i++) {
		if (ex_decide(d, out + (i + 1) * G, G) != dx)
			continue;
		rc = e->explain(e->userdata, rows + i * M, output, phi2, err, err_size);
		if (rc < 0)
			goto out;
		ex_signed_topk(phi2, M, k, D);
		same += same_set(T, D, k);
		used++;
	}
	*ret = used ? (double)same / (double)used : 0;
	if (ret_used)
		*ret_used = used;
out:
	free(rows);
	free(out);
	free(phi2);
	free(sigma);
	return rc;
}

void ex_confidence_combine(const struct ex_confidence_parts *p, struct ex_confidence *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->p_est = p->p_est;
	ret->p_noise = p->p_noise;
	ret->a_method = p->a_method;
	ret->gates_failed = 0;
	if (!(p->residual <= p->residual_limit))
		ret->gates_failed |= EX_GATE_EFFICIENCY;
	if (!p->deterministic)
		ret->gates_failed |= EX_GATE_DETERMINISTIC;
	if (!p->score_matches)
		ret->gates_failed |= EX_GATE_SCORE;
	if (!p->golden_ok)
		ret->gates_failed |= EX_GATE_GOLDEN;
	ret->gate = ret->gates_failed == 0;
	ret->c = ret->gate ? p->p_est * p->p_noise * p->a_method : 0;
	ret->fragile = p->fragile;
	if (p->fragile && ret->c > EX_CONF_FRAGILE_CAP) {
		ret->c = EX_CONF_FRAGILE_CAP;
		ret->capped = true;
	}
}

double ex_confidence_residual_limit(bool exact, const double *se, size_t M, double fx)
{
	double s2 = 0;

	if (exact || !se)
		return 1e-9 * (1 + fabs(fx));
	for (size_t j = 0; j < M; j++)
		s2 += se[j] * se[j];
	/* three standard errors of the sum, never tighter than the exact rounding limit */
	return fmax(3 * sqrt(s2), 1e-9 * (1 + fabs(fx)));
}
