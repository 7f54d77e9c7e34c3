/* SPDX-License-Identifier: Apache-2.0 */
/* Flip test (METHODS.md §5.3): does a feature the attribution calls unimportant flip the
 * decision with a plausible change? Built on ex_cf_single (exact for trees and linear
 * models), one feature at a time. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "whatif.h"

void ex_flip_result_free(struct ex_flip_result *r)
{
	if (!r)
		return;
	free(r->features);
	free(r->predictions);
	free(r->fragile_features);
	memset(r, 0, sizeof(*r));
}

int ex_flip_test(const struct ex_whatif_input *in, const double *x, const double *phi,
                 const struct ex_flip_config *c, struct ex_flip_result *ret, char *err,
                 size_t err_size)
{
	struct ex_flip_config cfg = c ? *c : (struct ex_flip_config){0};
	struct wi_ctx w;
	int rc;

	if (!ret)
		return ex__fail(err, err_size, -EINVAL, "ex_flip_test: ret is NULL");
	memset(ret, 0, sizeof(*ret));
	if (!phi)
		return ex__fail(err, err_size, -EINVAL, "ex_flip_test: phi is NULL");
	if (!(cfg.low_share > 0))
		cfg.low_share = 0.05;
	if (!(cfg.kappa > 0))
		cfg.kappa = 0.5;
	/* resolve the feature facts and f(x) once; each feature's search reuses them */
	rc = wi__ctx_init(&w, in, x, &cfg.cf, err, err_size);
	if (rc < 0)
		goto out;
	size_t M = w.M;
	ret->n_features = M;
	ret->n_outputs = w.G;
	ret->low_share = cfg.low_share;
	ret->kappa = cfg.kappa;
	ret->features = calloc(M, sizeof(*ret->features));
	ret->predictions = malloc(M * w.G * sizeof(double));
	ret->fragile_features = calloc(M, sizeof(size_t));
	if (!ret->features || !ret->predictions || !ret->fragile_features) {
		rc = ex__fail(err, err_size, -ENOMEM, "ex_flip_test: out of memory");
		goto out;
	}
	ret->decision = w.dec0;
	ret->score = w.fx[0];
	if (w.d.argmax && w.G > 1) {
		double a = -INFINITY, b = -INFINITY;
		for (size_t g = 0; g < w.G; g++) {
			if (w.fx[g] > a) {
				b = a;
				a = w.fx[g];
			} else if (w.fx[g] > b) {
				b = w.fx[g];
			}
		}
		ret->margin = a - b;
	} else {
		ret->margin = fabs(w.fx[0] - w.d.threshold);
	}
	ret->model_rows = w.rows;

	double total = 0;
	for (size_t j = 0; j < M; j++) {
		if (!isfinite(phi[j])) {
			rc = ex__fail(err, err_size, -EINVAL,
			              "ex_flip_test: phi[%zu] is not finite", j);
			goto out;
		}
		total += fabs(phi[j]);
	}
	size_t n_mut = 0, n_plausible = 0;
	for (size_t j = 0; j < M; j++) {
		struct ex_flip_feature *o = &ret->features[j];
		struct ex_cf_result r;

		o->immutable = w.info[j].immutable;
		o->categorical = w.cat[j];
		o->low_importance = !o->immutable && fabs(phi[j]) <= cfg.low_share * total;
		o->value = NAN;
		o->distance = INFINITY;
		o->score = NAN;
		o->decision = -1;
		for (size_t g = 0; g < w.G; g++)
			ret->predictions[j * w.G + g] = NAN;
		if (o->immutable)
			continue;
		n_mut++;
		struct ex_cf_config cc = w.cfg;
		if (cc.budget > ret->model_rows)
			cc.budget -= ret->model_rows;
		else
			cc.budget = 1; /* spent: the search fails with -ENOSPC */
		rc = wi__single_shared(&w, j, cc.budget, &r);
		if (rc < 0)
			goto out;
		ret->model_rows += r.model_rows;
		if (r.n) {
			const struct ex_counterfactual *cf = &r.cf[0];
			o->flips = true;
			o->exact = cf->exact;
			o->value = cf->changes[0].to;
			o->distance = o->categorical ? 1 : cf->distance;
			o->score = cf->prediction[0];
			o->decision = cf->decision;
			memcpy(ret->predictions + j * w.G, cf->prediction, w.G * sizeof(double));
			o->plausible = o->categorical || o->distance <= cfg.kappa;
		}
		ex_cf_result_free(&r);
		n_plausible += o->plausible;
		if (o->low_importance && o->plausible) {
			ret->fragile = true;
			ret->fragile_categorical |= o->categorical;
			ret->fragile_features[ret->n_fragile++] = j;
		}
	}
	ret->fragility_index = n_mut ? (double)n_plausible / (double)n_mut : 0;
out:
	wi__ctx_deinit(&w);
	if (rc < 0)
		ex_flip_result_free(ret);
	return rc;
}
