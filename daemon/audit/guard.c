/* SPDX-License-Identifier: Apache-2.0 */
/* The suggested guard of an audit (audit.h, "suggested guards"): a trigger expression built
 * from what the audit's results found, checked with the trigger library against the audited
 * record. Reads only the results and the record: the same results give the same guard. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_json.h"
#include "trigger.h"

/* An expression being written; full once it no longer fits (then not used). */
struct expr {
	char s[AUDIT_GUARD_MAX];
	size_t len;
	bool full;
};

static void add(struct expr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct expr *e, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(e->s + e->len, sizeof(e->s) - e->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(e->s) - e->len)
		e->full = true;
	else
		e->len += (size_t)n;
}

/* The shortest decimal that reads back as v (the trigger compiler reads numbers with strtod),
 * without its sign: the caller writes "-" (unary minus in the language). */
static void number(char buf[32], double v)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, 32, "%.*g", p, fabs(v));
		if (strtod(buf, NULL) == fabs(v))
			return;
	}
}

/* v with at most GUARD_DIGITS significant digits, rounded outward: down when the rule reads
 * "feature >[=] v" (lower), up for "feature <[=] v", so that the rule is never narrower than
 * the bound found and wider by less than GUARD_SLACK of it; the exact shortest form when that
 * is no longer. Into buf without the sign, as number(). */
#define GUARD_DIGITS 6
#define GUARD_SLACK  1e-5
static void bound_number(char buf[32], double v, bool lower)
{
	number(buf, v);
	if (strlen(buf) <= GUARD_DIGITS + 1 || v == 0)
		return;
	for (int p = 1; p <= GUARD_DIGITS; p++) {
		double e = floor(log10(fabs(v))), scale = pow(10, p - 1 - e);
		double c = (lower ? floor(v * scale) : ceil(v * scale)) / scale;
		char b[32];
		snprintf(b, sizeof(b), "%.*g", p, fabs(c));
		double back = c < 0 ? -strtod(b, NULL) : strtod(b, NULL);
		if ((lower ? back <= v : back >= v) && fabs(back - v) <= GUARD_SLACK * fabs(v)) {
			snprintf(buf, 32, "%s", b);
			return;
		}
	}
}

static void add_number(struct expr *e, double v, int side)
{
	char b[32];

	if (side)
		bound_number(b, v, side > 0);
	else
		number(b, v);
	add(e, "%s%s", v < 0 ? "-" : "", b);
}

/* A feature name the language can write after "feature." ([A-Za-z_][A-Za-z0-9_.-]*). */
static bool writable_name(const char *s)
{
	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("_.-", *s)))
			return false;
	return true;
}

/* A decision string written as a literal only when it is plain printable text: nothing to
 * escape, and nothing a config file's value would cut (';' and '#' start comments there). */
static bool writable_decision(const char *s)
{
	if (!s || !*s || *s == ' ' || s[strlen(s) - 1] == ' ' || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || strchr("\"\\;#", *s))
			return false;
	return true;
}

static size_t feature_index(const struct audit_guard_input *in, const char *name)
{
	for (size_t j = 0; name && j < in->M; j++)
		if (in->names[j] && !strcmp(in->names[j], name))
			return j;
	return SIZE_MAX;
}

/* Whether src compiles, names only the model's features, and catches the audited record
 * (its features, scores and decision, as evidentd evaluates a rule on it). */
static bool catches(const struct audit_guard_input *in, const char *src)
{
	struct trig_expr *x;
	struct trig_error e;
	bool ok;

	if (trig_compile(src, &x, &e) < 0)
		return false;
	size_t n = trig_n_features(x), *binding = malloc((n ? n : 1) * sizeof(size_t));
	ok = binding != NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = (binding[i] = feature_index(in, trig_feature(x, i, NULL))) != SIZE_MAX;
	if (ok) {
		struct trig_record r = {.features = in->x,
		                        .n_features = in->M,
		                        .binding = binding,
		                        .scores = in->scores,
		                        .n_scores = in->n_scores,
		                        .decision = in->decision,
		                        .model = in->model_id,
		                        .version = in->version};
		ok = trig_eval(x, &r) == 1;
	}
	free(binding);
	trig_free(x);
	return ok;
}

/* What was found, before it is written as the guard. */
struct finding {
	const char *source;  /* "adversarial", "counterfactual" or "flip" */
	struct expr e;       /* the conditions on the features */
	json_t *features;    /* names the conditions bound */
	json_t *left_out;    /* adversarial: bounded features the language cannot name */
	const char *feature; /* counterfactual, flip: the dominant feature */
	double threshold;    /* ... and its threshold (NaN: a categorical level) */
	bool above;          /* x's value is above the threshold */
	double precision;    /* adversarial: the region's precision (NaN: none) */
};

/* The failure region's box (results.adversarial.region.rule) as conditions: a missing
 * feature as is_missing(), each finite bound as a comparison with its inclusiveness. */
static bool from_region(const json_t *results, const struct audit_guard_input *in,
                        struct finding *f)
{
	const json_t *region = json_object_get(json_object_get(results, "adversarial"), "region");
	const json_t *rule = json_object_get(region, "rule"), *b;
	size_t i, n = 0;

	json_array_foreach(rule, i, b)
	{
		const char *name = json_string_value(json_object_get(b, "feature"));
		const json_t *lo = json_object_get(b, "lo"), *hi = json_object_get(b, "hi");
		if (!writable_name(name) || feature_index(in, name) == SIZE_MAX) {
			json_array_append_new(f->left_out, json_string(name ? name : ""));
			continue;
		}
		if (json_is_true(json_object_get(b, "missing"))) {
			add(&f->e, "%sis_missing(feature.%s)", n++ ? " && " : "", name);
		} else {
			if (json_is_number(lo)) {
				add(&f->e, "%sfeature.%s %s ", n++ ? " && " : "", name,
				    json_is_false(json_object_get(b, "lo_inclusive")) ? ">" : ">=");
				add_number(&f->e, json_number_value(lo), 1);
			}
			if (json_is_number(hi)) {
				add(&f->e, "%sfeature.%s %s ", n++ ? " && " : "", name,
				    json_is_false(json_object_get(b, "hi_inclusive")) ? "<" : "<=");
				add_number(&f->e, json_number_value(hi), -1);
			}
		}
		json_array_append_new(f->features, json_string(name));
	}
	const json_t *p = json_object_get(region, "precision");
	f->precision = json_is_number(p) ? json_number_value(p) : NAN;
	f->source = "adversarial";
	return n > 0 && !f->e.full;
}

/* The feature with the largest |phi| of the decision output (the flip test's attribution,
 * the one the verdict used), or SIZE_MAX. */
static size_t dominant(const json_t *results, const struct audit_guard_input *in)
{
	const json_t *phi =
	    json_array_get(json_object_get(json_object_get(results, "flip"), "phi"), 0);
	size_t top = SIZE_MAX;
	double best = 0;

	if (json_array_size(phi) != in->M)
		return SIZE_MAX;
	for (size_t j = 0; j < in->M; j++) {
		double v = fabs(json_number_value(json_array_get(phi, j)));
		if (v > best) {
			best = v;
			top = j;
		}
	}
	return top;
}

/* The counterfactual threshold of the dominant feature: the nearest counterfactual changing
 * that feature alone, else the flip test's nearest flip along it. The decision stays on x's
 * side of it: "feature > t" when t is below x_j (t itself flips), "feature < t" above. A
 * categorical feature keeps its level: "feature == x_j". */
static bool from_threshold(const json_t *results, const struct audit_guard_input *in,
                           struct finding *f)
{
	size_t j = dominant(results, in), i;
	const json_t *cf, *t = NULL;

	if (j == SIZE_MAX || !writable_name(in->names[j]) || !isfinite(in->x[j]))
		return false;
	const char *name = in->names[j];
	json_array_foreach(
	    json_object_get(json_object_get(results, "counterfactual"), "counterfactuals"), i, cf)
	{
		const json_t *ch = json_object_get(cf, "changes");
		if (json_object_size(ch) == 1 && json_is_number(json_object_get(ch, name))) {
			t = json_object_get(ch, name);
			f->source = "counterfactual";
			break;
		}
	}
	if (!t) {
		t = json_array_get(json_object_get(json_object_get(results, "flip"), "flips"), j);
		f->source = "flip";
	}
	f->feature = name;
	json_array_append_new(f->features, json_string(name));
	if (in->categorical && in->categorical[j]) {
		f->threshold = NAN;
		add(&f->e, "feature.%s == ", name);
		add_number(&f->e, in->x[j], 0);
		return !f->e.full;
	}
	if (!json_is_number(t) || json_number_value(t) == in->x[j])
		return false;
	f->threshold = json_number_value(t);
	f->above = f->threshold < in->x[j];
	add(&f->e, "feature.%s %s ", name, f->above ? ">" : "<");
	add_number(&f->e, f->threshold, f->above ? 1 : -1);
	return !f->e.full;
}

/* The guard of finding f, or NULL when it does not catch the audited record; json null when
 * out of memory. The decision is part of it when it can be written: the failure is the
 * decision, not the inputs alone. */
static json_t *guard_of(const struct audit_guard_input *in, const struct finding *f)
{
	struct expr w = {.len = 0};
	char name[64], reason[AUDIT_GUARD_MAX], t[32] = "";
	bool with_decision = writable_decision(in->decision);

	if (with_decision)
		add(&w, "decision == \"%s\" && ", in->decision);
	add(&w, "%s", f->e.s);
	if (w.full || !catches(in, w.s))
		return NULL;
	snprintf(name, sizeof(name), "incident-%" PRIu64, in->incident_id);
	if (!strcmp(f->source, "adversarial")) {
		snprintf(reason, sizeof(reason),
		         "suggested by the audit of incident %" PRIu64
		         ": the failure region its adversarial search found around the audited "
		         "decision",
		         in->incident_id);
	} else if (!isfinite(f->threshold)) {
		snprintf(reason, sizeof(reason),
		         "suggested by the audit of incident %" PRIu64
		         ": %s at its audited level, the feature that drove the audited decision",
		         in->incident_id, f->feature);
	} else {
		bound_number(t, f->threshold, f->above);
		snprintf(reason, sizeof(reason),
		         "suggested by the audit of incident %" PRIu64
		         ": %s %s %s%s, the %s of the feature that drove the audited decision",
		         in->incident_id, f->feature, f->above ? "above" : "below",
		         f->threshold < 0 ? "-" : "", t,
		         !strcmp(f->source, "flip") ? "nearest flip" : "counterfactual threshold");
	}
	json_t *g = json_object();
	bool ok = g && !json_object_set_new(g, "name", json_string(name)) &&
	          !json_object_set_new(g, "model",
	                               json_sprintf("%s@%s", in->model_id ? in->model_id : "",
	                                            in->version ? in->version : "")) &&
	          !json_object_set_new(g, "when", json_string(w.s)) &&
	          !json_object_set_new(g, "action", json_string("review")) &&
	          !json_object_set_new(g, "reason", json_string(reason)) &&
	          !json_object_set_new(g, "source", json_string(f->source)) &&
	          !json_object_set_new(g, "features", json_incref(f->features)) &&
	          !json_object_set_new(g, "decision",
	                               with_decision ? json_string(in->decision) : json_null()) &&
	          !json_object_set_new(g, "catches_audited_record", json_true()) &&
	          !json_object_set_new(g, "backtest", json_null());
	if (ok && !strcmp(f->source, "adversarial"))
		ok = !json_object_set_new(g, "left_out", json_incref(f->left_out)) &&
		     !json_object_set_new(g, "precision", aj_real(f->precision));
	else if (ok)
		ok = !json_object_set_new(g, "feature", json_string(f->feature)) &&
		     !json_object_set_new(g, "threshold", aj_real(f->threshold));
	if (!ok) {
		json_decref(g);
		return json_null();
	}
	return g;
}

int audit_suggest_guard(const json_t *results, const struct audit_guard_input *in, json_t **ret)
{
	bool (*const find[])(const json_t *, const struct audit_guard_input *,
	                     struct finding *) = {from_region, from_threshold};
	json_t *g = NULL;

	*ret = NULL;
	for (size_t k = 0; k < sizeof(find) / sizeof(find[0]) && !g; k++) {
		struct finding f = {.features = json_array(),
		                    .left_out = json_array(),
		                    .threshold = NAN,
		                    .precision = NAN};
		if (!f.features || !f.left_out) {
			json_decref(f.features);
			json_decref(f.left_out);
			return -ENOMEM;
		}
		if (find[k](results, in, &f))
			g = guard_of(in, &f);
		json_decref(f.features);
		json_decref(f.left_out);
	}
	if (json_is_null(g))
		return -ENOMEM;
	*ret = g;
	return 0;
}
