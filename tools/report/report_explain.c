/* SPDX-License-Identifier: Apache-2.0 */
/* The explanation sections (report_internal.h): 3 Why (the attribution, LIME beside it),
 * 4 What would change it, 5 Fragility, 6 Where else it happens, 7 Unusual attributions. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_internal.h"

/* LIME's top weights, drawn in the "why" section */
#define LIME_TOP_FEATURES 5

/* In how many of the runs feature j's LIME weight had the minority sign (sign_flip is that
 * share), or -1 when not recorded. */
static double sign_changes(const double *flip, double runs, size_t j)
{
	return flip && isfinite(flip[j]) && runs ? round(flip[j] * runs) : -1;
}

/* Is weight j clear of 0 (outside +-1.96 standard errors; true without one)? A weight within
 * its error of 0 changes sign between runs by chance: that says nothing of LIME's stability. */
static bool clear_of_zero(const double *w, const double *se, size_t j)
{
	return !se || !isfinite(se[j]) || fabs(w[j]) > 1.96 * se[j];
}

/* LIME's result (audit.lime) in plain words: what it is, how well its line fits, its largest
 * weights beside the attribution's ranking, and whether re-runs with other seeds agree. */
static void lime(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"#", "Feature", "Weight", "Std. error",
	                                    "Sign over the runs"};
	json_t *o = doc_get_obj(rp->audit, "lime"), *fit = doc_get_obj(o, "lime");
	char b1[NUM_MAX], b2[NUM_MAX];
	double r2 = NAN, fx, g, jac, csi, vsi, runs = 0, samples;
	bool stable = false, bad = false;
	int err = 0;

	if (!o)
		return;
	rw_sub(r, "A second explanation: LIME");
	if (!fit) {
		rw_para(r, "muted", "LIME ran, but its fit was not recorded.");
		return;
	}
	if (!doc_get_num(fit, "repeats", &runs) || !(runs >= 1 && runs <= 1e6))
		runs = 0;
	rw_p_begin(r, NULL);
	rw_text(r, "LIME explains the same output another way: it samples ");
	if (doc_get_num(fit, "samples", &samples))
		rw_textf(r, "%s ", rw_fmt_num(samples, b1));
	rw_text(r,
	        "inputs around this one, notes for each feature whether a sample falls in the "
	        "same quartile bin as this input, and fits a weighted straight line to the "
	        "model's outputs there. A feature's weight is how much being in this input's bin "
	        "moves the output. It does not depend on the attribution above: where the two "
	        "agree, the reasons are more credible.");
	if (doc_get_num(fit, "r2", &r2))
		rw_textf(r, " The line explains %s of the model's variation near this input",
		         rw_fmt_pct(r2, b1));
	if (doc_get_num(fit, "local_prediction", &g) && doc_get_num(fit, "fx", &fx))
		rw_textf(r, "%s at this input it gives %s where the model gives %s",
		         isnan(r2) ? " At" : ";", rw_fmt_num(g, b1), rw_fmt_num(fx, b2));
	if (!isnan(r2) || doc_get(fit, "fx"))
		rw_text(r, ".");
	rw_p_end(r);
	if (r2 < 0.5) {
		rw_box_begin(r, "warn", "Poor fit:");
		rw_text(r,
		        "the line follows the model only loosely here, so its weights are rough.");
		rw_box_end(r);
	}

	/* the largest weights, with their signs over the runs */
	double *w = doc_numbers(json_array_get(doc_get_arr(o, "phi"), 0), rp->M, false, &bad, &err);
	bool bad_se = false, bad_flip = false;
	double *se =
	    doc_numbers(json_array_get(doc_get_arr(o, "stderr"), 0), rp->M, true, &bad_se, &err);
	double *flip = doc_numbers(doc_get_arr(fit, "sign_flip"), rp->M, true, &bad_flip, &err);
	size_t *order = malloc((rp->M ? rp->M : 1) * sizeof(*order)), shown = 0, selected = 0;
	char problems[1024] = "";
	size_t pl = 0;

	if (err || !order) {
		r->err = r->err ? r->err : -ENOMEM;
		goto out;
	}
	if (!w) {
		rw_para(r, "muted", "LIME's weights do not have one number per input feature.");
	} else {
		for (size_t j = 0; j < rp->M; j++) {
			order[j] = j;
			selected += w[j] != 0;
		}
		qsort_r(order, rp->M, sizeof(*order), doc_by_abs_phi, w);
		shown = selected < LIME_TOP_FEATURES ? selected : LIME_TOP_FEATURES;
	}
	if (shown) {
		rw_tab_begin(r, "data", 5, heads, "rlrrl");
		for (size_t i = 0; i < shown; i++) {
			size_t j = order[i];
			rw_tr_begin(r, NULL);
			rw_td_begin(r, "r");
			rw_textf(r, "%zu", i + 1);
			rw_td_end(r);
			rw_td_text(r, "name", doc_feature_name(rp, j));
			rw_td_begin(r, "r");
			rw_num_signed(r, w[j]);
			rw_td_end(r);
			rw_td_begin(r, "r");
			if (se && isfinite(se[j]))
				rw_num(r, se[j]);
			rw_td_end(r);
			rw_td_begin(r, NULL);
			double k = sign_changes(flip, runs, j);
			if (k > 0)
				rw_textf(r, "changed in %.0f of %.0f%s", k, runs,
				         clear_of_zero(w, se, j) ? "" : " (a weight near 0)");
			else if (k == 0)
				rw_textf(r, "the same in all %.0f", runs);
			else
				rw_text(r, "\u2014");
			rw_td_end(r);
			rw_tr_end(r);
		}
		rw_tab_end(r);
		rw_p_begin(r, NULL);
		if (rp->a.ok && rp->M && order[0] == rp->a.order[0])
			rw_textf(
			    r,
			    "LIME puts its largest weight on %s, where the attribution puts its "
			    "largest contribution too.",
			    doc_feature_name(rp, order[0]));
		else if (rp->a.ok && rp->M)
			rw_textf(r,
			         "LIME puts its largest weight on %s; the attribution's largest "
			         "contribution is %s's.",
			         doc_feature_name(rp, order[0]),
			         doc_feature_name(rp, rp->a.order[0]));
		else
			rw_textf(r, "LIME puts its largest weight on %s.",
			         doc_feature_name(rp, order[0]));
		rw_p_end(r);
	}

	/* stability over the runs with other seeds: a weight clear of 0 whose sign changed, */
	for (size_t i = 0; w && i < selected && pl < sizeof(problems); i++) {
		size_t j = order[i];
		double k = sign_changes(flip, runs, j);
		if (k > 0 && clear_of_zero(w, se, j))
			pl +=
			    (size_t)snprintf(problems + pl, sizeof(problems) - pl,
			                     "%s%s's weight changed sign in %.0f of the %.0f runs",
			                     pl ? "; " : "", doc_feature_name(rp, j), k, runs);
	}
	/* other features picked, intervals that disagree */
	if (pl >= sizeof(problems))
		pl = sizeof(problems) - 1;
	if (doc_get_bool(fit, "stable", &stable) && !stable && doc_get_num(fit, "jaccard", &jac))
		pl += (size_t)snprintf(problems + pl, sizeof(problems) - pl,
		                       "%sruns with other seeds picked different features (Jaccard "
		                       "%.2f; 1 is the same "
		                       "set every time, LIME counts below 0.8 as unstable)",
		                       pl ? "; " : "", jac);
	else if (doc_get_bool(fit, "stable", &stable) && !stable)
		pl += (size_t)snprintf(problems + pl, sizeof(problems) - pl,
		                       "%sruns with other seeds picked different features",
		                       pl ? "; " : "");
	if (pl >= sizeof(problems))
		pl = sizeof(problems) - 1;
	if (doc_get_num(fit, "csi", &csi) && csi < 50)
		snprintf(problems + pl, sizeof(problems) - pl,
		         "%sthe runs' weights mostly disagree beyond their error bars (CSI %.0f of "
		         "100)",
		         pl ? "; " : "", csi);
	if (problems[0]) {
		rw_box_begin(r, "bad", "LIME is unstable here:");
		rw_text(r, problems);
		rw_text(r,
		        ". A reviewer should not rely on LIME's ranking for this decision; rely on "
		        "the attribution above.");
		rw_box_end(r);
	} else if (doc_get_bool(fit, "stable", &stable) && doc_get_num(fit, "jaccard", &jac)) {
		bool all_kept = w && rp->M > 1 && selected == rp->M;
		rw_box_begin(r, "ok", "LIME is stable here:");
		if (runs)
			rw_textf(r, "over %.0f runs with different seeds, ", runs);
		if (!all_kept) {
			rw_textf(
			    r,
			    "it picked the same features (Jaccard %.2f, 1 is the same set every "
			    "time",
			    jac);
			if (doc_get_num(fit, "vsi", &vsi))
				rw_textf(r, "; VSI %.0f of 100", vsi);
			rw_text(r, ")");
		} else {
			rw_text(r,
			        "it kept every feature (so its picks cannot differ between runs)");
		}
		if (doc_get_num(fit, "csi", &csi))
			rw_textf(r,
			         ", its weights agreed within their error bars (CSI %.0f of 100)",
			         csi);
		if (flip && shown)
			rw_text(r, ", and no weight clear of 0 changed sign");
		rw_text(r, ".");
		rw_box_end(r);
	}
out:
	free(w);
	free(se);
	free(flip);
	free(order);
}

void section_why(struct rr *r, const struct report *rp)
{
	const struct attribution *a = &rp->a;
	char b1[NUM_MAX], b2[NUM_MAX];

	rw_sec_begin(r, "why", 3, "Why: what drove the output");
	if (section_no_audit(r, rp))
		goto out;
	json_t *reasons = doc_get_arr(rp->audit, "reasons");
	const char *status = doc_get_str(rp->audit, "status");
	if (status && strcmp(status, "complete")) {
		rw_box_begin(r, "warn", "Audit status:");
		rw_text(r, status);
		rw_box_end(r);
	}
	if (json_array_size(reasons)) {
		rw_p_begin(r, NULL);
		rw_text(r, "What the audit reports about its own run:");
		rw_p_end(r);
		rw_string_list(r, reasons, NULL);
	}
	if (!doc_get_obj(rp->audit, "attribution")) {
		rw_para(r, "muted", "No attribution was computed.");
		goto out;
	}
	if (!a->ok) {
		rw_box_begin(r, "warn", "Attribution not shown:");
		rw_text(r, a->problem);
		rw_text(r, ".");
		rw_box_end(r);
		goto out;
	}
	rw_p_begin(r, NULL);
	rw_textf(
	    r,
	    "Each bar is one feature's contribution (%s) to the model's output, in %s units. "
	    "Starting from the base value %s, the average output over the background data, the "
	    "contributions add up to the prediction %s.",
	    a->method ? a->method : "method not recorded", a->space ? a->space : "output",
	    rw_fmt_num(a->base, b1), rw_fmt_num(a->pred, b2));
	if (rp->M > REPORT_TOP_FEATURES)
		rw_textf(r, " The %d largest are drawn; the other %zu are summed in one bar.",
		         REPORT_TOP_FEATURES, rp->M - REPORT_TOP_FEATURES);
	if (a->has_threshold && !r->md)
		rw_textf(r, " The dotted red line marks the decision threshold %s.",
		         rw_fmt_num(a->threshold, b1));
	if (a->se)
		rw_text(r,
		        " The method is sampled: whiskers show a 95% interval (\u00b11.96 standard "
		        "errors).");
	rw_p_end(r);

	struct wf_row *rows = calloc(REPORT_TOP_FEATURES + 1, sizeof(*rows));
	if (!rows) {
		r->err = -ENOMEM;
		goto out;
	}
	size_t n = chart_wf_rows(rp, rows);
	if (r->md) {
		rw_p_begin(r, NULL);
		rw_textf(r, "Base value %s \u2192 prediction %s", rw_fmt_num(a->base, b1),
		         rw_fmt_num(a->pred, b2));
		if (a->has_threshold)
			rw_textf(r, " (decision threshold %s)", rw_fmt_num(a->threshold, b1));
		rw_text(r, ".");
		rw_p_end(r);
		chart_md_chart(r, rp, rows, n);
	} else {
		rw_raw(r, "<figure>\n");
		chart_svg_waterfall(r, rp, rows, n);
		rw_raw(r, "</figure>\n");
	}
	free(rows);

	/* every attribution, for the reader who wants the numbers */
	static const char *const heads[] = {"#", "Feature", "Value", "Contribution", "Std. error"};
	if (r->md)
		rw_sub(r, "All attributions");
	else
		rw_raw(r, "<details><summary>All attributions as a table</summary>\n");
	rw_tab_begin(r, "data", a->se ? 5 : 4, heads, "rlrrr");
	for (size_t i = 0; i < rp->M; i++) {
		size_t j = a->order[i];
		rw_tr_begin(r, NULL);
		rw_td_begin(r, "r");
		rw_textf(r, "%zu", i + 1);
		rw_td_end(r);
		rw_td_text(r, "name", doc_feature_name(rp, j));
		rw_td_begin(r, "r");
		chart_feature_value(r, &rp->f[j]);
		rw_td_end(r);
		rw_td_begin(r, "r");
		rw_num_signed(r, a->phi[j]);
		rw_td_end(r);
		if (a->se) {
			rw_td_begin(r, "r");
			if (isfinite(a->se[j]))
				rw_num(r, a->se[j]);
			rw_td_end(r);
		}
		rw_tr_end(r);
	}
	rw_tab_end(r);
	rw_html(r, "</details>\n");
out:
	lime(r, rp);
	rw_sec_end(r);
}

void section_counterfactuals(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"#", "Change", "New output", "New decision",
	                                    "Distance"};
	json_t *cfs = doc_get(rp->audit, "counterfactuals"), *cf;
	size_t i;

	rw_sec_begin(r, "change", 4, "What would change it");
	if (section_no_audit(r, rp))
		goto out;
	if (!json_is_array(cfs)) {
		rw_para(r, "muted", "No counterfactual search was run.");
		goto out;
	}
	if (!json_array_size(cfs)) {
		rw_para(r, NULL,
		        "The search found no change to the input that reverses the decision.");
		goto out;
	}
	rw_para(r, NULL,
	        "The smallest changes to the input found that reverse the decision, nearest first. "
	        "Distance is in median-absolute-deviation units summed over the changed features.");
	rw_tab_begin(r, "data", 5, heads, "rlrlr");
	json_array_foreach(cfs, i, cf)
	{
		json_t *changes = doc_get_obj(cf, "changes"), *v;
		const char *k;
		bool first = true;
		double d;
		rw_tr_begin(r, NULL);
		rw_td_begin(r, "r");
		rw_textf(r, "%zu", i + 1);
		rw_td_end(r);
		rw_td_begin(r, NULL);
		json_object_foreach(changes, k, v)
		{
			const struct feature *f = doc_feature_by_name(rp, k);
			if (!first)
				rw_raw(r, r->md ? "; " : "<br>");
			first = false;
			rw_strong(r, k);
			rw_text(r, ": ");
			if (f)
				chart_feature_value(r, f);
			rw_text(r, " \u2192 ");
			if (json_is_number(v))
				rw_num(r, json_number_value(v));
			else if (json_is_null(v))
				rw_em(r, "missing");
			else
				doc_value(r, v);
		}
		if (first)
			rw_text(r, "\u2014");
		rw_td_end(r);
		rw_td_begin(r, "r");
		doc_value(r, doc_get(cf, "prediction"));
		rw_td_end(r);
		rw_td_begin(r, NULL);
		doc_value(r, doc_get(cf, "decision")); /* a label, or the decision's index */
		rw_td_end(r);
		rw_td_begin(r, "r");
		if (doc_get_num(cf, "distance", &d))
			rw_num(r, d);
		rw_td_end(r);
		rw_tr_end(r);
	}
	rw_tab_end(r);
out:
	rw_sec_end(r);
}

struct flip_row {
	const json_t *o;
	double distance; /* DBL_MAX: flips at an unknown distance; INFINITY: never */
};

static int by_distance(const void *pa, const void *pb)
{
	const struct flip_row *a = pa, *b = pb;

	if (a->distance != b->distance)
		return a->distance < b->distance ? -1 : 1;
	return a->o < b->o ? -1 : a->o > b->o;
}

void section_fragility(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Feature", "Current value", "Flips the decision at",
	                                    "Distance (MAD)", "Notes"};
	json_t *flip = doc_get_obj(rp->audit, "flip"), *flips = doc_get_arr(flip, "flips"), *e;
	bool fragile;
	double margin;
	size_t i;

	rw_sec_begin(r, "fragility", 5, "Fragility");
	if (section_no_audit(r, rp))
		goto out;
	if (!flip) {
		rw_para(r, "muted", "No flip test was run.");
		goto out;
	}
	if (doc_get_bool(flip, "fragile", &fragile) && fragile) {
		rw_box_begin(r, "bad", "Fragile.");
		rw_text(
		    r, "Changing one feature that the explanation ranks as unimportant, by a small "
		       "plausible amount within its training range, reverses the decision. The "
		       "attribution above therefore does not capture everything the decision "
		       "depends on; a person should look at it.");
		json_t *ff = doc_get_arr(flip, "fragile_features");
		if (json_array_size(ff)) {
			rw_text(r, " Feature");
			rw_text(r, json_array_size(ff) == 1 ? ": " : "s: ");
			doc_value(r, ff);
			rw_text(r, ".");
		}
		rw_box_end(r);
	} else if (doc_get_bool(flip, "fragile", &fragile)) {
		rw_box_begin(r, "ok", "Not fragile.");
		rw_text(
		    r,
		    "No feature the explanation ranks as unimportant reverses the decision with a "
		    "small plausible change on its own.");
		rw_box_end(r);
	}
	if (doc_get_num(flip, "margin", &margin)) {
		rw_p_begin(r, NULL);
		rw_text(r, "Distance of the output from the decision threshold: ");
		rw_num(r, margin);
		rw_text(r, ".");
		rw_p_end(r);
	}
	size_t n = json_array_size(flips);
	if (!n)
		goto out;
	struct flip_row *rows = calloc(n, sizeof(*rows));
	if (!rows) {
		r->err = -ENOMEM;
		goto out;
	}
	json_array_foreach(flips, i, e)
	{
		rows[i].o = e;
		if (!doc_get(e, "value") || !doc_get_num(e, "distance", &rows[i].distance))
			rows[i].distance = doc_get(e, "value") ? DBL_MAX : INFINITY;
	}
	qsort(rows, n, sizeof(*rows), by_distance);
	rw_para(r, NULL,
	        "Each feature changed on its own, everything else fixed: the nearest value that "
	        "reverses the decision, nearest first.");
	rw_tab_begin(r, "data", 5, heads, "lrrrl");
	for (i = 0; i < n; i++) {
		const json_t *o = rows[i].o;
		const char *name = doc_get_str(o, "feature");
		const struct feature *f = doc_feature_by_name(rp, name);
		bool low;
		double d;
		json_t *v = doc_get(o, "value");
		rw_tr_begin(r, v ? NULL : "quiet");
		rw_td_text(r, "name", rw_or_dash(name));
		rw_td_begin(r, "r");
		if (f)
			chart_feature_value(r, f);
		rw_td_end(r);
		rw_td_begin(r, "r");
		if (json_is_number(v))
			rw_num(r, json_number_value(v));
		else if (v)
			doc_value(r, v);
		else
			rw_em(r, "no single-feature flip");
		rw_td_end(r);
		rw_td_begin(r, "r");
		if (doc_get_num(o, "distance", &d))
			rw_num(r, d);
		rw_td_end(r);
		rw_td_begin(r, NULL);
		bool plausible = true, immutable = false;
		doc_get_bool(o, "plausible", &plausible);
		if (doc_get_bool(o, "low_importance", &low) && low)
			rw_pill(r, v && plausible ? "bad" : "warn", "low importance");
		if (v && !plausible) {
			rw_text(r, " ");
			rw_pill(r, "none", "beyond a plausible change");
		}
		if (doc_get_bool(o, "immutable", &immutable) && immutable) {
			rw_text(r, " ");
			rw_pill(r, "none", "immutable");
		}
		rw_td_end(r);
		rw_tr_end(r);
	}
	rw_tab_end(r);
	free(rows);
out:
	rw_sec_end(r);
}

static void bound(struct rr *r, const json_t *t)
{
	const char *name = rw_or_dash(doc_get_str(t, "feature"));
	bool missing, incl;
	double lo, hi;
	bool has_lo = doc_get_num(t, "lo", &lo), has_hi = doc_get_num(t, "hi", &hi);

	if (doc_get_bool(t, "missing", &missing) && missing) {
		rw_strong(r, name);
		rw_text(r, " is missing");
		return;
	}
	if (has_lo) {
		rw_num(r, lo);
		rw_text(r, doc_get_bool(t, "lo_inclusive", &incl) && !incl ? " < " : " \u2264 ");
	}
	rw_strong(r, name);
	if (has_hi) {
		rw_text(r, doc_get_bool(t, "hi_inclusive", &incl) && !incl ? " < " : " \u2264 ");
		rw_num(r, hi);
	}
	if (!has_lo && !has_hi)
		rw_text(r, " takes any value");
}

void section_region(struct rr *r, const struct report *rp)
{
	json_t *rg = doc_get_obj(rp->audit, "region"), *rule = doc_get_arr(rg, "rule"), *t;
	double prec, cov;
	bool exact, decision_only;
	size_t i;

	rw_sec_begin(r, "region", 6, "Where else it happens");
	if (section_no_audit(r, rp))
		goto out;
	if (!rg) {
		rw_para(r, "muted", "No search for similar failures was run.");
		goto out;
	}
	rw_p_begin(r, NULL);
	if (doc_get_bool(rg, "decision_only", &decision_only) && decision_only)
		rw_text(r, "The model makes the same decision on inputs where:");
	else
		rw_text(r,
		        "The model makes the same decision, for the same leading reasons (the same "
		        "top features with the same signs), on inputs where:");
	rw_p_end(r);
	if (json_array_size(rule)) {
		rw_ul_begin(r, "rule");
		json_array_foreach(rule, i, t)
		{
			rw_li_begin(r);
			bound(r, t);
			rw_li_end(r);
		}
		rw_ul_end(r);
	} else {
		rw_para(r, "muted", "(no bound: the rule covers every input)");
	}
	rw_kv_begin(r);
	if (doc_get_num(rg, "precision", &prec)) {
		json_t *ci = doc_get_arr(rg, "precision_ci95");
		rw_kv_row_begin(r, "Precision");
		rw_pct(r, prec);
		if (json_is_number(json_array_get(ci, 0)) &&
		    json_is_number(json_array_get(ci, 1))) {
			rw_text(r, " (95% CI ");
			rw_pct(r, json_number_value(json_array_get(ci, 0)));
			rw_text(r, " \u2013 ");
			rw_pct(r, json_number_value(json_array_get(ci, 1)));
			rw_text(r, ")");
		}
		rw_text(r, " of the inputs sampled in this region behave the same way");
		rw_kv_row_end(r);
	}
	if (doc_get_num(rg, "coverage", &cov)) {
		rw_kv_row_begin(r, "Coverage");
		rw_pct(r, cov);
		rw_text(r, " of the reference data falls in this region");
		rw_kv_row_end(r);
	}
	rw_kv_row_begin(r, "Method");
	rw_text(r, rw_or_dash(doc_get_str(rg, "method")));
	if (doc_get_bool(rg, "exact", &exact))
		rw_text(r,
		        exact ? " (exact: checked on every cell of the region)" : " (estimated)");
	rw_kv_row_end(r);
	rw_kv_end(r);
out:
	rw_sec_end(r);
}

void section_unusual(struct rr *r, const struct report *rp)
{
	json_t *bo = doc_get(rp->audit, "baseline_outliers"), *e;
	size_t i;
	double phi, usual, ratio;
	char b[NUM_MAX];

	rw_sec_begin(r, "unusual", 7, "Unusual attributions");
	if (section_no_audit(r, rp))
		goto out;
	if (!json_is_array(bo)) {
		rw_para(r, "muted", "Attributions were not compared with their usual levels.");
		goto out;
	}
	if (!json_array_size(bo)) {
		rw_para(
		    r, NULL,
		    "No feature's attribution is unusually large compared with its usual level on "
		    "the background data.");
		goto out;
	}
	rw_ul_begin(r, "outliers");
	json_array_foreach(bo, i, e)
	{
		rw_li_begin(r);
		rw_strong(r, rw_or_dash(doc_get_str(e, "feature")));
		rw_text(r, "\u2019s attribution");
		if (doc_get_num(e, "phi", &phi))
			rw_textf(r, " (%s)", rw_fmt_signed(phi, b));
		if (doc_get_num(e, "ratio", &ratio))
			rw_textf(r, " is %s\u00d7 its usual level", rw_fmt_num(ratio, b));
		else
			rw_text(r, " is unusually large");
		if (doc_get_num(e, "usual", &usual))
			rw_textf(r, " (mean |attribution| on the background: %s)",
			         rw_fmt_num(usual, b));
		rw_text(r, ".");
		rw_li_end(r);
	}
	rw_ul_end(r);
out:
	rw_sec_end(r);
}
