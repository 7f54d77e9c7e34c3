/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON of each explain method's result (audit.h, "method results as JSON"): the one
 * writer per result that the audit's documents and `evidentctl explain --json` share. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "audit.h"
#include "audit_json.h"

/* ------------------------------------------------------------------ numbers */

json_t *aj_real(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *aj_reals(const double *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, aj_real(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *aj_matrix(const double *v, size_t rows, size_t cols)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < rows; i++)
		if (json_array_append_new(a, aj_reals(v + i * cols, cols)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *aj_u64(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : json_sprintf("%" PRIu64, v);
}

/* Sets o[key] = v (stolen); false when v is NULL or the set fails: the writers then return
 * -ENOMEM. */
static bool set(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0;
}

static json_t *names_at(const char *const *names, const size_t *idx, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(names[idx[i]])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* ------------------------------------------------------------------ attributions */

int audit_json_attribution(json_t *o, const double *prediction, const double *base,
                           const double *phi, size_t G, size_t M)
{
	bool ok = set(o, "prediction", aj_reals(prediction, G)) &&
	          set(o, "base_value", aj_reals(base, G)) && set(o, "phi", aj_matrix(phi, G, M));
	return ok ? 0 : -ENOMEM;
}

int audit_json_interactions(json_t *o, const double *prediction, const double *base,
                            const double *inter, size_t G, size_t M)
{
	json_t *rowsums = json_array(), *matrices = json_array();
	bool ok = rowsums && matrices;

	for (size_t g = 0; ok && g < G; g++) {
		const double *mat = inter + g * M * M;
		json_t *sums = json_array();
		for (size_t a = 0; sums && a < M; a++) {
			double s = 0;
			for (size_t b = 0; b < M; b++)
				s += mat[a * M + b];
			if (json_array_append_new(sums, aj_real(s)) < 0) {
				json_decref(sums);
				sums = NULL;
			}
		}
		ok = json_array_append_new(rowsums, sums) == 0 &&
		     json_array_append_new(matrices, aj_matrix(mat, M, M)) == 0;
	}
	ok = ok && set(o, "prediction", aj_reals(prediction, G)) &&
	     set(o, "base_value", aj_reals(base, G));
	/* phi: each feature's row sum, its SHAP value */
	ok = ok && set(o, "phi", json_incref(rowsums)) &&
	     set(o, "interactions", json_incref(matrices));
	json_decref(rowsums);
	json_decref(matrices);
	return ok ? 0 : -ENOMEM;
}

int audit_json_sampled(json_t *o, const struct ex_sampled_result *r, const double *prediction,
                       uint64_t seed, uint64_t budget, const char *background_digest,
                       size_t background_rows)
{
	size_t G = r->n_outputs, M = r->n_features;
	bool ok = set(o, "prediction", aj_reals(prediction, G)) &&
	          set(o, "base_value", aj_reals(r->base, G)) &&
	          set(o, "phi", aj_matrix(r->phi, G, M)) &&
	          set(o, "stderr", aj_matrix(r->se, G, M)) && set(o, "seed", aj_u64(seed)) &&
	          set(o, "budget", aj_u64(budget)) &&
	          set(o, "background_digest", json_string(background_digest)) &&
	          set(o, "background_rows", aj_u64(background_rows)) &&
	          set(o, "model_rows", aj_u64(r->model_rows)) &&
	          set(o, "coalitions", aj_u64(r->coalitions)) &&
	          set(o, "exact", json_boolean(r->exact)) &&
	          set(o, "converged", json_boolean(r->converged)) &&
	          set(o, "rounds", aj_u64(r->rounds)) &&
	          set(o, "efficiency_residual", aj_real(r->residual));
	return ok ? 0 : -ENOMEM;
}

json_t *audit_json_confidence(const struct ex_confidence *c, size_t neighbours, const char *against)
{
	static const char *const gate_names[] = {"efficiency", "deterministic", "score", "golden"};
	json_t *o = json_object(), *gates = json_array();
	bool ok = o && gates;

	for (unsigned b = 0; ok && b < 4; b++)
		if (c->gates_failed & (1u << b))
			ok = json_array_append_new(gates, json_string(gate_names[b])) == 0;
	ok = ok && set(o, "c", aj_real(c->c)) && set(o, "p_est", aj_real(c->p_est)) &&
	     set(o, "p_noise", aj_real(c->p_noise)) &&
	     set(o, "noise_neighbours", aj_u64(neighbours)) &&
	     set(o, "a_method", aj_real(c->a_method)) &&
	     set(o, "a_method_against", json_string(against)) &&
	     set(o, "gate", json_boolean(c->gate)) && set(o, "gates_failed", json_incref(gates)) &&
	     set(o, "fragile", json_boolean(c->fragile)) &&
	     set(o, "capped", json_boolean(c->capped)) &&
	     set(o, "meaning", json_string(ex_confidence_meaning));
	json_decref(gates);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int audit_json_lime(json_t *o, const struct ex_lime_result *r, const double *prediction, size_t G,
                    size_t output, const char *const *names, uint64_t seed)
{
	size_t M = r->n_features;
	json_t *lime = json_object();
	/* x has every bin indicator at 1: coefficient j is feature j's share of g(x) */
	bool ok =
	    lime && set(o, "prediction", aj_reals(prediction, G)) &&
	    set(o, "base_value", aj_reals(&r->intercept, 1)) &&
	    set(o, "phi", aj_matrix(r->coef, 1, M)) &&
	    set(o, "stderr", aj_matrix(r->coef_se, 1, M)) && set(lime, "output", aj_u64(output)) &&
	    set(lime, "selected", names_at(names, r->selected, r->n_selected)) &&
	    set(lime, "r2", aj_real(r->r2)) &&
	    set(lime, "local_prediction", aj_real(r->local_pred)) &&
	    set(lime, "fx", aj_real(r->fx)) &&
	    set(lime, "fidelity_error", aj_real(fabs(r->local_pred - r->fx))) &&
	    set(lime, "samples", aj_u64(r->n_samples)) &&
	    set(lime, "repeats", aj_u64(r->n_repeats)) &&
	    set(lime, "jaccard", aj_real(r->jaccard)) && set(lime, "vsi", aj_real(r->vsi)) &&
	    set(lime, "csi", aj_real(r->csi)) && set(lime, "coef_cv", aj_reals(r->coef_cv, M)) &&
	    set(lime, "sign_flip", aj_reals(r->sign_flip, M)) &&
	    set(lime, "stable", json_boolean(r->stable)) && set(o, "lime", json_incref(lime)) &&
	    set(o, "seed", aj_u64(seed)) && set(o, "model_rows", aj_u64(r->model_rows));
	json_decref(lime);
	return ok ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------ what-if */

static json_t *counterfactual_json(const struct ex_counterfactual *cf, size_t G,
                                   const char *const *names)
{
	json_t *e = json_object(), *ch = json_object();
	bool ok = e && ch;

	for (size_t t = 0; ok && t < cf->n_changed; t++)
		ok = set(ch, names[cf->changes[t].feature], aj_real(cf->changes[t].to));
	ok = ok && set(e, "changes", json_incref(ch)) &&
	     set(e, "prediction", aj_reals(cf->prediction, G)) &&
	     set(e, "decision", json_integer(cf->decision)) &&
	     set(e, "distance", aj_real(cf->distance)) &&
	     set(e, "n_changed", aj_u64(cf->n_changed)) && set(e, "exact", json_boolean(cf->exact));
	if (ok && cf->bisected)
		ok = set(e, "bracket", aj_reals(cf->bracket, 2));
	json_decref(ch);
	if (!ok) {
		json_decref(e);
		return NULL;
	}
	return e;
}

int audit_json_counterfactual(json_t *o, const struct ex_cf_result *r, const double *prediction,
                              const char *const *names, uint64_t seed)
{
	size_t G = r->n_outputs;
	json_t *list = json_array();
	bool ok = list != NULL;

	for (size_t k = 0; ok && k < r->n; k++)
		ok = json_array_append_new(list, counterfactual_json(&r->cf[k], G, names)) == 0;
	ok = ok && set(o, "prediction", aj_reals(prediction, G)) &&
	     set(o, "decision", json_integer(r->decision)) &&
	     set(o, "counterfactuals", json_incref(list)) &&
	     set(o, "caveat", r->caveat ? json_string(r->caveat) : json_null()) &&
	     set(o, "seed", aj_u64(seed)) && set(o, "model_rows", aj_u64(r->model_rows));
	json_decref(list);
	return ok ? 0 : -ENOMEM;
}

/* One feature of the flip test: its nearest flip (null when none) and what it means. */
static json_t *flip_detail_json(const struct ex_flip_result *r, size_t j, const char *name)
{
	const struct ex_flip_feature *ff = &r->features[j];
	json_t *d = json_object();
	bool ok = d && set(d, "feature", json_string(name)) &&
	          set(d, "value", ff->flips ? aj_real(ff->value) : json_null()) &&
	          set(d, "distance", ff->flips ? aj_real(ff->distance) : json_null()) &&
	          set(d, "prediction",
	              ff->flips ? aj_reals(r->predictions + j * r->n_outputs, r->n_outputs)
	                        : json_null()) &&
	          set(d, "low_importance", json_boolean(ff->low_importance)) &&
	          set(d, "plausible", json_boolean(ff->plausible)) &&
	          set(d, "immutable", json_boolean(ff->immutable)) &&
	          set(d, "exact", json_boolean(ff->exact));
	if (!ok) {
		json_decref(d);
		return NULL;
	}
	return d;
}

int audit_json_flip(json_t *o, const struct ex_flip_result *r, const double *phi,
                    const double *prediction, const char *const *names, uint64_t seed,
                    const char *ranges)
{
	size_t M = r->n_features;
	json_t *flips = json_array(), *details = json_array();
	bool ok = flips && details;

	for (size_t j = 0; ok && j < M; j++) {
		const struct ex_flip_feature *ff = &r->features[j];
		ok = json_array_append_new(flips, ff->flips ? aj_real(ff->value) : json_null()) ==
		         0 &&
		     json_array_append_new(details, flip_detail_json(r, j, names[j])) == 0;
	}
	ok = ok && set(o, "prediction", aj_reals(prediction, r->n_outputs)) &&
	     set(o, "phi", aj_matrix(phi, 1, M)) && set(o, "flips", json_incref(flips)) &&
	     set(o, "fragile", json_boolean(r->fragile)) &&
	     set(o, "fragile_features", names_at(names, r->fragile_features, r->n_fragile)) &&
	     set(o, "decision", json_integer(r->decision)) &&
	     set(o, "margin", aj_real(r->margin)) &&
	     set(o, "fragility_index", aj_real(r->fragility_index)) &&
	     set(o, "low_share", aj_real(r->low_share)) && set(o, "kappa", aj_real(r->kappa)) &&
	     set(o, "flip_details", json_incref(details)) && set(o, "seed", aj_u64(seed)) &&
	     set(o, "model_rows", aj_u64(r->model_rows)) && set(o, "ranges", json_string(ranges));
	json_decref(flips);
	json_decref(details);
	return ok ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------ failure regions */

/* One bound of the rule: null for an unbounded side. */
static json_t *bound_json(const struct ex_region_bound *b, const char *name)
{
	json_t *t = json_object();
	bool ok = t && set(t, "feature", json_string(name));

	if (ok && b->missing)
		ok = set(t, "missing", json_true());
	else if (ok)
		ok = set(t, "lo", isinf(b->lo) ? json_null() : aj_real(b->lo)) &&
		     set(t, "lo_inclusive", json_boolean(b->lo_incl)) &&
		     set(t, "hi", isinf(b->hi) ? json_null() : aj_real(b->hi)) &&
		     set(t, "hi_inclusive", json_boolean(b->hi_incl));
	if (!ok) {
		json_decref(t);
		return NULL;
	}
	return t;
}

int audit_json_adversarial(json_t *o, const struct ex_region *r, const double *prediction, size_t G,
                           const char *const *names, uint64_t seed)
{
	json_t *region = json_object(), *rule = json_array();
	double ci[2] = {r->precision_lo, r->precision_hi};
	bool ok = region && rule;

	for (size_t k = 0; ok && k < r->n_rule; k++)
		ok = json_array_append_new(rule,
		                           bound_json(&r->rule[k], names[r->rule[k].feature])) == 0;
	ok = ok && set(region, "rule", json_incref(rule)) &&
	     set(region, "precision", aj_real(r->precision)) &&
	     set(region, "precision_ci95", aj_reals(ci, 2)) &&
	     set(region, "evaluated", aj_u64(r->eval_n)) &&
	     set(region, "coverage", aj_real(r->coverage)) &&
	     set(region, "support", aj_u64(r->support)) &&
	     set(region, "exemplars", aj_matrix(r->exemplars, r->n_exemplars, r->n_features)) &&
	     set(region, "method", json_string(r->method)) &&
	     set(region, "exact", json_boolean(r->exact)) &&
	     set(region, "decision_only", json_boolean(r->decision_only)) &&
	     set(region, "decision", json_integer(r->decision)) &&
	     set(o, "prediction", aj_reals(prediction, G)) &&
	     set(o, "region", json_incref(region)) && set(o, "seed", aj_u64(seed)) &&
	     set(o, "model_rows", aj_u64(r->model_rows));
	json_decref(rule);
	json_decref(region);
	return ok ? 0 : -ENOMEM;
}
