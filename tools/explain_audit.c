/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl explain, the model-agnostic methods: the model is a function of rows (a model
 * file's margins, or an oracle process), the background comes from --background, and every
 * result carries what is needed to reproduce it (seed, budget, background digest). */
#include "explain_audit.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#define ROWS_MAX_BYTES (1u << 30)

struct offline {
	const struct explain_args *a;
	const struct ctl *c;
	struct ex_model *m; /* NULL with an oracle */
	struct ex_oracle *oracle;
	struct ex_fn f;
	struct ex_rows rows, bg;
	size_t M, G;
	char **names; /* M feature names: the model's, else the rows' columns, else "fJ" */
	struct ex_feature_info *info;
	struct ex_decision d;
	double *sbg, *sw; /* summarised background for the sampled methods */
	size_t n_sbg;
	char digest[65];
	/* where the what-if ranges come from: "background", or without one "manifest" and/or
	 * "model thresholds" */
	const char *ranges;
	size_t n_unscaled; /* features with a range but no scale (one split value) */
};

/* ------------------------------------------------------------------ explainers */

/* Exact attributions of tree and linear model files, for the flip test's importance shares,
 * the adversarial failure signature and the confidence score's noise check. */
static int model_explain(void *ud, const double *x, size_t output, double *phi, char *err,
                         size_t err_size)
{
	const struct offline *au = ud;
	double *all = malloc(au->M * au->G * sizeof(double)),
	       *base = malloc(au->G * sizeof(double));
	int rc;

	if (!all || !base) {
		free(all);
		free(base);
		return -ENOMEM;
	}
	rc = ex_model_is_trees(au->m)
	         ? ex_treeshap(au->m, x, all, base)
	         : ex_linear_shap(au->m, x, au->bg.values, au->bg.n_rows, all, base);
	if (rc < 0)
		snprintf(err, err_size, "the exact attribution of a neighbour row failed (%s)",
		         strerror(-rc));
	else
		memcpy(phi, all + output * au->M, au->M * sizeof(double));
	free(all);
	free(base);
	return rc;
}

/* KernelSHAP on a reduced budget: the black-box explainer of the confidence noise check. */
struct sampled_explainer {
	const struct offline *au;
	struct ex_sampled_config cfg;
};

static int sampled_explain(void *ud, const double *x, size_t output, double *phi, char *err,
                           size_t err_size)
{
	const struct sampled_explainer *se = ud;
	const struct offline *au = se->au;
	struct ex_sampled_result r;
	int rc = ex_kernelshap(&au->f, x, au->sbg, au->sw, au->n_sbg, &se->cfg, &r, err, err_size);

	if (rc < 0)
		return rc;
	memcpy(phi, r.phi + output * au->M, au->M * sizeof(double));
	ex_sampled_result_free(&r);
	return 0;
}

/* ------------------------------------------------------------------ set-up */

/* au->names: the model file's feature names, else the rows' column names, else f0, f1, ... */
static int set_names(struct offline *au)
{
	au->names = calloc(au->M, sizeof(char *));
	for (size_t j = 0; au->names && j < au->M; j++) {
		const char *n = au->m ? ex_model_feature_name(au->m, j) : NULL;
		char buf[32];
		if (!n && au->rows.names)
			n = au->rows.names[j];
		if (!n) {
			snprintf(buf, sizeof(buf), "f%zu", j);
			n = buf;
		}
		if (!(au->names[j] = strdup(n)))
			return -ENOMEM;
	}
	return au->names ? 0 : -ENOMEM;
}

static const char *const *names(const struct offline *au)
{
	return (const char *const *)au->names;
}

const char *explain_model_feature_name(void *m, size_t i)
{
	return ex_model_feature_name(m, i);
}

static const char *rows_feature_name(void *r, size_t i)
{
	const struct ex_rows *rows = r;
	return rows->names ? rows->names[i] : NULL;
}

static int load_rows(struct offline *au, const char *path, struct ex_rows *r)
{
	_cleanup_(freep) char *text = NULL;
	size_t len, M;
	char err[512];
	int rc = ctl_read_file(path, ROWS_MAX_BYTES, &text, &len);

	if (rc < 0)
		return ctl_file_error(path, rc);
	rc = ex_rows_parse(text, len, path, r, err, sizeof(err));
	if (rc < 0) {
		if (rc == -ENOMEM)
			return ctl_file_error(path, rc);
		ctl_error("%s", err);
		return CTL_EXIT_UNREADABLE;
	}
	if (au->m)
		rc = ex_rows_select(r, ex_model_n_features(au->m), explain_model_feature_name,
		                    au->m, path, err, sizeof(err));
	else if (r != &au->rows) /* the background follows the rows' columns */
		rc = ex_rows_select(r, au->rows.n_cols, rows_feature_name, &au->rows, path, err,
		                    sizeof(err));
	if (rc < 0) {
		ctl_error("%s", err);
		return CTL_EXIT_USAGE;
	}
	M = r->n_cols;
	if (!r->n_rows || !M) {
		ctl_error("%s: no rows", path);
		return CTL_EXIT_USAGE;
	}
	return 0;
}

/* Marks the named features (comma-separated) immutable or categorical. */
static int mark_features(struct offline *au, const char *list, const char *opt, bool categorical)
{
	char name[256];

	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(name))
			return ctl_usage_error("%s: empty or overlong feature name in \"%s\"", opt,
			                       list);
		memcpy(name, p, n);
		name[n] = 0;
		size_t j = 0;
		for (; j < au->M; j++)
			if (!strcmp(au->names[j], name))
				break;
		if (j == au->M)
			return ctl_usage_error(
			    "%s: no feature named \"%s\" (the rows' columns or the "
			    "model's feature names)",
			    opt, name);
		if (categorical)
			au->info[j].categorical = true;
		else
			au->info[j].immutable = true;
		p += n + (p[n] == ',');
	}
	return 0;
}

/* The JSON manifest a model was registered with (tools/libevident's form): for each of its
 * "features" (matched by "name", else by position), "immutable": true marks it immutable and,
 * when use_ranges, "min" and "max" (the training range) become its range. Returns 0 or an
 * exit status (printed); *ret_ranged counts the features given a range. */
static int apply_manifest(struct offline *au, bool use_ranges, size_t *ret_ranged)
{
	const char *path = au->a->manifest_path;
	_cleanup_(freep) char *text = NULL;
	_cleanup_(json_decrefp) json_t *root = NULL;
	json_error_t je;
	size_t len, i;
	json_t *f;
	int rc = ctl_read_file(path, ROWS_MAX_BYTES, &text, &len);

	*ret_ranged = 0;
	if (rc < 0)
		return ctl_file_error(path, rc);
	root = json_loadb(text, len, 0, &je);
	if (!root) {
		ctl_error("%s: line %d, column %d: %s", path, je.line, je.column, je.text);
		return CTL_EXIT_UNREADABLE;
	}
	if (!json_is_array(json_object_get(root, "features"))) {
		ctl_error("%s: no \"features\" array (a model manifest in JSON)", path);
		return CTL_EXIT_UNREADABLE;
	}
	json_array_foreach(json_object_get(root, "features"), i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const json_t *lo = json_object_get(f, "min"), *hi = json_object_get(f, "max");
		size_t j = i;
		if (name)
			for (j = 0; j < au->M && strcmp(au->names[j], name); j++)
				;
		if (j >= au->M)
			return ctl_usage_error(
			    "%s: features[%zu]%s%s%s: the model has no such feature", path, i,
			    name ? " (\"" : "", name ? name : "", name ? "\")" : "");
		if (json_is_true(json_object_get(f, "immutable")))
			au->info[j].immutable = true;
		if (!use_ranges || (!lo && !hi))
			continue;
		double a = json_number_value(lo), b = json_number_value(hi);
		if (!json_is_number(lo) || !json_is_number(hi) || !isfinite(a) || !isfinite(b) ||
		    a > b)
			return ctl_usage_error("%s: features[%zu] (%s): min and max must be finite "
			                       "numbers with min <= max",
			                       path, i, au->names[j]);
		au->info[j].min = a;
		au->info[j].max = b;
		au->info[j].mad = (b - a) / EX_RANGE_PER_MAD;
		au->info[j].integer = false;
		(*ret_ranged)++;
	}
	return 0;
}

/* Without a background (flip on a model file): the ranges and scales of the what-if methods
 * from the manifest's training ranges and, for tree ensembles, the model's own splits; a
 * linear model has no ranges of its own. Returns 0 or an exit status (printed). */
static int ranges_without_background(struct offline *au)
{
	const struct explain_args *a = au->a;
	bool trees = ex_model_is_trees(au->m);
	size_t ranged = 0;
	int rc, status;

	if (a->categorical)
		return ctl_usage_error("--categorical needs --background FILE (the levels a "
		                       "category takes)");
	for (size_t j = 0; j < au->M; j++)
		au->info[j] = (struct ex_feature_info){.min = NAN, .max = NAN};
	if (trees) {
		rc = ex_feature_info_from_model(au->m, au->info);
		if (rc < 0)
			return ctl_file_error(a->model_path, rc);
	}
	if (a->manifest_path) {
		status = apply_manifest(au, true, &ranged);
		if (status)
			return status;
	}
	for (size_t j = 0; !trees && j < au->M; j++)
		if (isnan(au->info[j].min))
			return ctl_usage_error(
			    "--method flip on the linear model %s without --background needs each "
			    "feature's training range (min and max) from --manifest FILE: a linear "
			    "model has no ranges of its own (%s has none)",
			    a->model_path, au->names[j]);
	for (size_t j = 0; j < au->M; j++)
		au->n_unscaled += !isnan(au->info[j].min) && !(au->info[j].mad > 0);
	au->ranges = ranged == au->M ? "manifest"
	             : ranged        ? "manifest and model thresholds"
	                             : "model thresholds";
	return 0;
}

static int setup(struct offline *au)
{
	const struct explain_args *a = au->a;
	char err[EX_ERR_MAX];
	int rc, status;

	if (a->model_path) {
		rc = ex_model_load(a->model_path, a->format, &au->m, err, sizeof(err));
		if (rc < 0) {
			if (rc == -EBADMSG || rc == -ENOTSUP)
				ctl_error("%s", err);
			else
				ctl_file_error(a->model_path, rc);
			return CTL_EXIT_UNREADABLE;
		}
	}
	status = load_rows(au, a->rows_path, &au->rows);
	if (status)
		return status;
	if (a->background_path) {
		status = load_rows(au, a->background_path, &au->bg);
		if (status)
			return status;
	}
	au->M = au->rows.n_cols;
	if (au->m) {
		ex_fn_from_model(au->m, &au->f);
	} else {
		struct ex_oracle_config oc = {.command = a->oracle,
		                              .n_features = au->M,
		                              .n_procs = a->oracle_procs,
		                              .timeout_ms = a->timeout_ms,
		                              .probe_row = au->bg.values};
		rc = ex_oracle_open(&oc, &au->oracle, err, sizeof(err));
		if (rc < 0) {
			ctl_error("--oracle: %s", err);
			return CTL_EXIT_UNREADABLE;
		}
		ex_oracle_fn(au->oracle, &au->f);
	}
	au->G = au->f.n_outputs;
	if (set_names(au) < 0)
		return ctl_file_error(a->rows_path, -ENOMEM);
	au->info = calloc(au->M, sizeof(*au->info));
	if (!au->info)
		return ctl_file_error(a->rows_path, -ENOMEM);
	if (a->background_path) {
		size_t ranged;
		if (ex_feature_info_from_rows(au->bg.values, au->bg.n_rows, au->M, au->info))
			return ctl_file_error(a->background_path, -ENOMEM);
		au->ranges = "background";
		status = a->manifest_path ? apply_manifest(au, false, &ranged) : 0;
	} else {
		status = ranges_without_background(au);
	}
	if (!status)
		status = mark_features(au, a->immutable, "--immutable", false);
	if (!status)
		status = mark_features(au, a->categorical, "--categorical", true);
	if (status)
		return status;
	au->d = (struct ex_decision){.argmax = au->G > 1 && !a->has_threshold,
	                             .threshold = a->has_threshold ? a->threshold : 0};
	if (!a->background_path)
		return 0; /* flip on a model file: nothing to summarise */
	/* the sampled methods see a k-means summary of a large background
	 * (daemon/explain/METHODS.md §3.4) */
	size_t k = a->background_size ? a->background_size : 100;
	au->sbg = malloc((k < au->bg.n_rows ? k : au->bg.n_rows) * au->M * sizeof(double));
	au->sw = malloc((k < au->bg.n_rows ? k : au->bg.n_rows) * sizeof(double));
	if (!au->sbg || !au->sw ||
	    ex_background_summarize(au->bg.values, au->bg.n_rows, au->M, au->info, k, a->seed,
	                            au->sbg, au->sw, &au->n_sbg) < 0)
		return ctl_file_error(a->background_path, -ENOMEM);
	ex_background_digest(au->sbg, au->sw, au->n_sbg, au->M, au->digest);
	return 0;
}

static void teardown(struct offline *au)
{
	ex_oracle_close(au->oracle);
	ex_model_free(au->m);
	ex_rows_free(&au->rows);
	ex_rows_free(&au->bg);
	for (size_t j = 0; au->names && j < au->M; j++)
		free(au->names[j]);
	free(au->names);
	free(au->info);
	free(au->sbg);
	free(au->sw);
}

/* ------------------------------------------------------------------ output helpers */

static void print_prediction(const struct offline *au, size_t i, const double *fx)
{
	char b[CTL_DOUBLE_MAX];

	printf("row %zu: prediction", i);
	for (size_t g = 0; g < au->G; g++)
		printf(" %s", ctl_double_format(fx[g], b));
	printf(" (%s), decision %d\n", au->m && au->a->probability ? "probability" : "model output",
	       ex_decide(&au->d, fx, au->G));
}

/* The prediction as printed: probability space on request for model files. */
static void shown_prediction(const struct offline *au, const double *fx, double *out)
{
	memcpy(out, fx, au->G * sizeof(double));
	if (au->m && au->a->probability)
		ex_link_apply(au->m, out);
}

/* ------------------------------------------------------------------ methods */

static int run_flip(struct offline *au, const double *x, const double *phi,
                    struct ex_flip_result *fr, char *err, size_t err_size)
{
	struct ex_whatif_input in = {.f = &au->f,
	                             .model = au->m,
	                             .bg = au->bg.values,
	                             .n_bg = au->bg.n_rows,
	                             .info = au->info,
	                             .decision = &au->d};
	struct ex_flip_config fc = {.cf = {.seed = au->a->seed, .budget = au->a->budget}};

	return ex_flip_test(&in, x, phi, &fc, fr, err, err_size);
}

/* Attributions of output `output` for the flip test: exact for model files, KernelSHAP
 * through an oracle. */
static int attributions(struct offline *au, const double *x, size_t output, double *phi, char *err,
                        size_t err_size)
{
	if (au->m)
		return model_explain(au, x, output, phi, err, err_size);
	struct sampled_explainer se = {.au = au,
	                               .cfg = {.seed = au->a->seed, .budget = au->a->budget}};
	return sampled_explain(&se, x, output, phi, err, err_size);
}

/* The confidence score of a sampled explanation r (daemon/explain/METHODS.md §7). */
static int confidence(struct offline *au, const double *x, const struct ex_sampled_result *r,
                      struct ex_confidence *ret, size_t *ret_neighbours, char *err, size_t err_size)
{
	const struct explain_args *a = au->a;
	size_t out = au->d.argmax ? (size_t)ex_decide(&au->d, r->fx, au->G) : 0, M = au->M;
	const double *phi = r->phi + out * M;
	struct ex_confidence_parts p = {.score_matches = true, .golden_ok = true};
	struct ex_sampled_config cfg = {.seed = a->seed ^ 0x5eed, .budget = a->budget};
	struct ex_sampled_result other;
	double fx2[1024], *phi_other;
	int rc;

	rc = ex_confidence_p_est(phi, r->se + out * M, M, 0, 0, a->seed, &p.p_est);
	if (rc < 0)
		return rc;
	/* A_method: the other sampled estimator, independent randomness */
	rc =
	    a->method == EXPLAIN_KERNELSHAP
	        ? ex_permutation_shap(&au->f, x, au->sbg, au->sw, au->n_sbg, &cfg, &other, err,
	                              err_size)
	        : ex_kernelshap(&au->f, x, au->sbg, au->sw, au->n_sbg, &cfg, &other, err, err_size);
	if (rc < 0)
		return rc;
	phi_other = other.phi + out * M;
	p.a_method = ex_confidence_agreement(phi, phi_other, M, 0);
	ex_sampled_result_free(&other);
	/* P_noise: exact re-explanations for model files; KernelSHAP on an eighth of the budget
	 * and 8 neighbours through an oracle */
	struct sampled_explainer se = {
	    .au = au, .cfg = {.seed = a->seed, .budget = a->budget ? a->budget / 8 : 0}};
	struct ex_explainer e =
	    au->m ? (struct ex_explainer){.explain = model_explain, .userdata = au}
	          : (struct ex_explainer){.explain = sampled_explain, .userdata = &se};
	struct ex_noise_config nc = {.seed = a->seed, .neighbours = au->m ? 32 : 8};
	/* T for the noise check: from the exact attributions the neighbours get, for model
	 * files; from the sampled estimate through an oracle */
	double *exact = au->m ? malloc(M * sizeof(double)) : NULL;
	if (au->m && !exact)
		return -ENOMEM;
	rc = au->m ? model_explain(au, x, out, exact, err, err_size) : 0;
	if (rc >= 0)
		rc =
		    ex_confidence_p_noise(&au->f, &e, &au->d, x, au->m ? exact : phi, out, au->info,
		                          &nc, &p.p_noise, ret_neighbours, err, err_size);
	free(exact);
	if (rc < 0)
		return rc;
	/* gates: efficiency, and a deterministic model (x scored twice) */
	p.residual = r->residual;
	p.residual_limit = ex_confidence_residual_limit(r->exact, r->se + out * M, M, r->fx[out]);
	if (au->G > 1024)
		return -EINVAL;
	rc = au->f.predict(au->f.userdata, x, 1, fx2, err, err_size);
	if (rc < 0)
		return rc;
	p.deterministic = !memcmp(fx2, r->fx, au->G * sizeof(double));
	/* the flip cap */
	struct ex_flip_result fr;
	rc = run_flip(au, x, r->phi, &fr, err, err_size);
	if (rc < 0)
		return rc;
	p.fragile = fr.fragile;
	ex_flip_result_free(&fr);
	ex_confidence_combine(&p, ret);
	return 0;
}

static int do_sampled(struct offline *au, size_t i, const double *x, json_t *o, char *err,
                      size_t err_size)
{
	const struct explain_args *a = au->a;
	struct ex_sampled_config cfg = {.seed = a->seed, .budget = a->budget};
	struct ex_sampled_result r;
	size_t M = au->M, G = au->G;
	char b1[CTL_DOUBLE_MAX];
	int rc = a->method == EXPLAIN_KERNELSHAP
	             ? ex_kernelshap(&au->f, x, au->sbg, au->sw, au->n_sbg, &cfg, &r, err, err_size)
	             : ex_permutation_shap(&au->f, x, au->sbg, au->sw, au->n_sbg, &cfg, &r, err,
	                                   err_size);
	if (rc < 0)
		return rc;
	struct ex_confidence conf;
	size_t neighbours = 0;
	if (a->confidence) {
		rc = confidence(au, x, &r, &conf, &neighbours, err, err_size);
		if (rc < 0) {
			ex_sampled_result_free(&r);
			return rc;
		}
	}
	double pred[1024];
	shown_prediction(au, r.fx, pred);
	if (o) {
		rc = audit_json_sampled(o, &r, pred, a->seed,
		                        a->budget ? a->budget
		                                  : ex_sampled_default_budget(M, au->n_sbg),
		                        au->digest, au->n_sbg);
		/* A_method is measured against the other sampled method (confidence()) */
		if (rc >= 0 && a->confidence &&
		    json_object_set_new(o, "confidence",
		                        audit_json_confidence(&conf, neighbours,
		                                              a->method == EXPLAIN_KERNELSHAP
		                                                  ? "permutation"
		                                                  : "kernelshap")) < 0)
			rc = -ENOMEM;
	} else {
		print_prediction(au, i, pred);
		printf("  %s, %s, %llu model rows, background %zu rows (sha256 %.16s...)\n",
		       r.exact ? "exact (every coalition)" : "sampled",
		       r.converged ? "converged" : "NOT converged (budget spent)",
		       (unsigned long long)r.model_rows, au->n_sbg, au->digest);
		for (size_t g = 0; g < G; g++) {
			printf("  %-28s %16s %14s   (base value %s)\n", "feature", "attribution",
			       "stderr", ctl_double_format(r.base[g], b1));
			for (size_t j = 0; j < M; j++)
				printf("  %-28s %+16.6g %14.3g\n", au->names[j], r.phi[g * M + j],
				       r.se[g * M + j]);
		}
		if (a->confidence)
			printf(
			    "  confidence %.3f = P_est %.3f x P_noise %.3f x A_method %.3f%s%s\n",
			    conf.c, conf.p_est, conf.p_noise, conf.a_method,
			    conf.gate ? "" : " (a gate failed: 0)",
			    conf.capped ? " (capped at 0.3: a low-importance feature flips it)"
			                : "");
	}
	ex_sampled_result_free(&r);
	return rc;
}

static int do_lime(struct offline *au, size_t i, const double *x, json_t *o, char *err,
                   size_t err_size)
{
	const struct explain_args *a = au->a;
	struct ex_lime_bins *bins;
	struct ex_lime_result r;
	double fx[1024], pred[1024];
	size_t out;
	int rc = au->f.predict(au->f.userdata, x, 1, fx, err, err_size);

	if (rc < 0)
		return rc;
	out = au->d.argmax ? (size_t)ex_decide(&au->d, fx, au->G) : 0;
	rc = ex_lime_bins_fit(au->bg.values, au->bg.n_rows, au->M, au->info, &bins, err, err_size);
	if (rc < 0)
		return rc;
	struct ex_lime_config lc = {
	    .seed = a->seed, .output = out, .n_samples = a->budget ? (size_t)a->budget / 10 : 0};
	rc = ex_lime(&au->f, bins, x, &lc, &r, err, err_size);
	ex_lime_bins_free(bins);
	if (rc < 0)
		return rc;
	shown_prediction(au, fx, pred);
	if (o) {
		rc = audit_json_lime(o, &r, pred, au->G, out, names(au), a->seed);
	} else {
		print_prediction(au, i, pred);
		printf(
		    "  LIME on output %zu: local fit R^2 %.3f, g(x) %.6g vs f(x) %.6g; stability "
		    "over %zu seeds: Jaccard %.2f, VSI %.0f, CSI %.0f (%s)\n",
		    out, r.r2, r.local_pred, r.fx, r.n_repeats, r.jaccard, r.vsi, r.csi,
		    r.stable ? "stable" : "UNSTABLE: do not rely on the ranking");
		for (size_t k = 0; k < r.n_selected; k++) {
			size_t j = r.selected[k];
			printf("  %-28s %+14.6g +- %.3g\n", au->names[j], r.coef[j], r.coef_se[j]);
		}
	}
	ex_lime_result_free(&r);
	return rc;
}

static int do_counterfactual(struct offline *au, size_t i, const double *x, json_t *o, char *err,
                             size_t err_size)
{
	struct ex_whatif_input in = {.f = &au->f,
	                             .model = au->m,
	                             .bg = au->bg.values,
	                             .n_bg = au->bg.n_rows,
	                             .info = au->info,
	                             .decision = &au->d};
	struct ex_cf_config cc = {.seed = au->a->seed, .budget = au->a->budget};
	struct ex_cf_result r;
	char b1[CTL_DOUBLE_MAX], b2[CTL_DOUBLE_MAX];
	double pred[1024];
	int rc = ex_counterfactuals(&in, x, &cc, &r, err, err_size);

	if (rc < 0)
		return rc;
	shown_prediction(au, r.fx, pred);
	if (o) {
		rc = audit_json_counterfactual(o, &r, pred, names(au), au->a->seed);
	} else {
		print_prediction(au, i, pred);
		if (!r.n)
			printf("  no counterfactual found within the ranges and the budget\n");
		for (size_t k = 0; k < r.n; k++) {
			const struct ex_counterfactual *cf = &r.cf[k];
			printf("  %zu. decision %d at distance %.4g (MAD units)%s:", k + 1,
			       cf->decision, cf->distance, cf->exact ? ", proven nearest" : "");
			for (size_t t = 0; t < cf->n_changed; t++)
				printf(" %s %s -> %s", au->names[cf->changes[t].feature],
				       ctl_double_format(cf->changes[t].from, b1),
				       ctl_double_format(cf->changes[t].to, b2));
			printf("\n");
		}
		if (r.caveat)
			printf("  note: %s\n", r.caveat);
	}
	ex_cf_result_free(&r);
	return rc;
}

/* Where the flip test's ranges and scales came from (text output). */
static void print_ranges(const struct offline *au)
{
	if (!strcmp(au->ranges, "background")) {
		printf("  ranges: background (0.5th to 99.5th percentile; distances in MADs)\n");
		return;
	}
	printf("  ranges: %s (no --background: %s; 1 MAD = range / %.3f)\n", au->ranges,
	       !strcmp(au->ranges, "manifest")           ? "training ranges"
	       : !strcmp(au->ranges, "model thresholds") ? "lowest to highest split"
	                                                 : "training range, else splits",
	       EX_RANGE_PER_MAD);
	if (au->n_unscaled)
		printf("  (%zu feature(s) split at a single value have no scale: their distances "
		       "are in their own units)\n",
		       au->n_unscaled);
}

static int do_flip(struct offline *au, size_t i, const double *x, json_t *o, char *err,
                   size_t err_size)
{
	double fx[1024], pred[1024], *phi = calloc(au->M * au->G, sizeof(double));
	struct ex_flip_result r;
	char b1[CTL_DOUBLE_MAX];
	int rc = phi ? au->f.predict(au->f.userdata, x, 1, fx, err, err_size) : -ENOMEM;

	if (rc >= 0)
		rc = attributions(au, x, au->d.argmax ? (size_t)ex_decide(&au->d, fx, au->G) : 0,
		                  phi, err, err_size);
	if (rc >= 0)
		rc = run_flip(au, x, phi, &r, err, err_size);
	if (rc < 0) {
		free(phi);
		return rc;
	}
	shown_prediction(au, fx, pred);
	if (o) {
		rc = audit_json_flip(o, &r, phi, pred, names(au), au->a->seed, au->ranges);
	} else {
		print_prediction(au, i, pred);
		print_ranges(au);
		printf("  %s; decision margin %.4g, fragility index %.2f\n",
		       r.fragile
		           ? "FRAGILE_LOW_IMPORTANCE: a low-importance feature flips the decision"
		           : "not fragile",
		       r.margin, r.fragility_index);
		for (size_t j = 0; j < au->M; j++) {
			const struct ex_flip_feature *ff = &r.features[j];
			if (!ff->flips)
				continue;
			printf("  %-28s flips at %s (%.3g MAD)%s%s%s\n", au->names[j],
			       ctl_double_format(ff->value, b1), ff->distance,
			       ff->low_importance ? ", low importance" : "",
			       ff->plausible ? ", plausible" : "",
			       ff->immutable ? ", immutable" : "");
		}
	}
	ex_flip_result_free(&r);
	free(phi);
	return rc;
}

static int do_adversarial(struct offline *au, size_t i, const double *x, json_t *o, char *err,
                          size_t err_size)
{
	struct ex_adv_config ac = {.seed = au->a->seed, .budget = au->a->budget};
	struct ex_explainer e = {.explain = model_explain, .userdata = au};
	struct ex_region *r = NULL;
	double fx[1024], pred[1024];
	char b1[CTL_DOUBLE_MAX], b2[CTL_DOUBLE_MAX];
	int rc = au->f.predict(au->f.userdata, x, 1, fx, err, err_size);

	if (rc < 0)
		return rc;
	if (au->m && ex_model_is_trees(au->m))
		rc = ex_adversarial_tree(au->m, &au->f, &e, x, au->bg.values, au->bg.n_rows,
		                         au->info, &au->d, &ac, &r, err, err_size);
	else
		/* linear models get exact attributions; black boxes the decision-only signature */
		rc = ex_adversarial_search(&au->f, au->m ? &e : NULL, x, au->bg.values,
		                           au->bg.n_rows, au->info, &au->d, &ac, &r, err, err_size);
	if (rc < 0)
		return rc;
	shown_prediction(au, fx, pred);
	if (o) {
		rc = audit_json_adversarial(o, r, pred, au->G, names(au), au->a->seed);
	} else {
		print_prediction(au, i, pred);
		printf("  the same failure (%s) holds in this region (%s%s): precision %.3f "
		       "[%.3f, %.3f] on %zu fresh points, coverage %.3f of the background\n",
		       r->decision_only ? "same decision"
		                        : "same decision, same signed top features",
		       r->method, r->exact ? ", exact" : ", estimated", r->precision,
		       r->precision_lo, r->precision_hi, r->eval_n, r->coverage);
		for (size_t k = 0; k < r->n_rule; k++) {
			const struct ex_region_bound *b = &r->rule[k];
			if (b->missing) {
				printf("    %s is missing\n", au->names[b->feature]);
				continue;
			}
			printf(
			    "    %s%s %s %s%s\n", isinf(b->lo) ? "" : ctl_double_format(b->lo, b1),
			    isinf(b->lo) ? "" : (b->lo_incl ? " <=" : " <"), au->names[b->feature],
			    isinf(b->hi) ? "" : (b->hi_incl ? "<= " : "< "),
			    isinf(b->hi) ? "" : ctl_double_format(b->hi, b2));
		}
	}
	ex_region_free(r);
	return rc;
}

/* ------------------------------------------------------------------ run */

int explain_audit(const struct ctl *c, const struct explain_args *a)
{
	struct offline au = {.a = a, .c = c};
	char err[EX_ERR_MAX];
	int status = setup(&au);

	if (status) {
		teardown(&au);
		return status;
	}
	if (au.G > 1024) {
		ctl_error("the model has %zu outputs; at most 1024 are supported", au.G);
		teardown(&au);
		return CTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < au.rows.n_rows; i++) {
		const double *x = au.rows.values + i * au.M;
		json_t *o = c->json ? json_object() : NULL;
		int rc;
		if (o)
			ctl_json_set(o, "row", json_integer((json_int_t)i));
		err[0] = 0;
		switch (a->method) {
		case EXPLAIN_KERNELSHAP:
		case EXPLAIN_PERMUTATION:
			rc = do_sampled(&au, i, x, o, err, sizeof(err));
			break;
		case EXPLAIN_LIME:
			rc = do_lime(&au, i, x, o, err, sizeof(err));
			break;
		case EXPLAIN_COUNTERFACTUAL:
			rc = do_counterfactual(&au, i, x, o, err, sizeof(err));
			break;
		case EXPLAIN_FLIP:
			rc = do_flip(&au, i, x, o, err, sizeof(err));
			break;
		default:
			rc = do_adversarial(&au, i, x, o, err, sizeof(err));
			break;
		}
		if (rc < 0) {
			ctl_error("%s: row %zu: %s", a->rows_path, i, err[0] ? err : strerror(-rc));
			json_decref(o);
			if (rc == -ENOSPC || rc == -EINVAL) {
				/* the arguments do not fit: every row would say the same */
				status = CTL_EXIT_USAGE;
				break;
			}
			status = CTL_EXIT_PROBLEM;
			continue;
		}
		if (o) {
			ctl_json_print(stdout, o, true);
			json_decref(o);
		} else {
			printf("\n");
		}
	}
	teardown(&au);
	return status;
}
