/* SPDX-License-Identifier: Apache-2.0 */
/* The audit of one incident (audit.h): fast phase (exact attribution, flip test, confidence,
 * baseline outliers, lineage) then the slower methods; one JSON document. */
#include "audit.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit_json.h"
#include "evident_version.h"

/* A feature stands out of the baseline when its |phi| is at least this share of sum |phi|,
 * this many times its usual level and this many usual levels above it. */
#define BASELINE_MIN_SHARE   0.10
#define BASELINE_RATIO       3.0
#define BASELINE_ROWS_MAX    64
#define BASELINE_ROWS_ORACLE 8 /* each a KernelSHAP through the oracle */
#define KERNEL_BG_MAX        100
#define A_METHOD_ROWS        32

static int fail(char *err, size_t size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t size, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && size) {
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *dupstr(const char *s)
{
	return strdup(s ? s : "");
}

/* ------------------------------------------------------------------ the model */

static enum ex_format format_of(const char *framework)
{
	if (!framework)
		return EX_FORMAT_AUTO;
	if (!strcmp(framework, "xgboost-json"))
		return EX_FORMAT_XGBOOST_JSON;
	if (!strcmp(framework, "lightgbm-text"))
		return EX_FORMAT_LIGHTGBM_TEXT;
	if (!strcmp(framework, "linear-json"))
		return EX_FORMAT_LINEAR_JSON;
	return EX_FORMAT_AUTO;
}

static int add_warning(struct audit_model *am, const char *w)
{
	char **n = realloc(am->lineage_warnings, (am->n_lineage_warnings + 1) * sizeof(char *));
	if (!n)
		return -ENOMEM;
	am->lineage_warnings = n;
	if (!(n[am->n_lineage_warnings] = strdup(w)))
		return -ENOMEM;
	am->n_lineage_warnings++;
	return 0;
}

static int set_decision(struct audit_model *am, const Evident__V1__ModelManifest *mf, char *err,
                        size_t err_size)
{
	const Evident__V1__DecisionRule *r = mf->decision;
	char buf[512];
	bool prob = mf->output_space && !strcmp(mf->output_space, "probability");

	/* an oracle answers in the manifest's output space: no link to undo */
	am->probability_scores = am->m && prob && ex_model_link(am->m) != EX_LINK_IDENTITY;
	if (r && r->kind == EVIDENT__V1__DECISION_RULE__KIND__ARGMAX) {
		am->d = (struct ex_decision){.argmax = true};
		am->n_labels = r->n_class_labels;
		am->labels = calloc(r->n_class_labels ? r->n_class_labels : 1, sizeof(char *));
		if (!am->labels)
			return -ENOMEM;
		for (size_t i = 0; i < r->n_class_labels; i++)
			if (!(am->labels[i] = strdup(r->class_labels[i])))
				return -ENOMEM;
		am->decision_rule = strdup("the class with the largest score");
		return am->decision_rule ? 0 : -ENOMEM;
	}
	double t = r && r->has_threshold ? r->threshold : (prob ? 0.5 : 0.0);
	if (r && r->output_index != 0)
		return fail(err, err_size, -ENOTSUP,
		            "the decision rule reads output %u; audits support output 0",
		            r->output_index);
	double margin = t;
	if (am->probability_scores) {
		if (ex_model_link(am->m) != EX_LINK_LOGIT || !(t > 0 && t < 1))
			return fail(err, err_size, -EBADMSG,
			            "threshold %g on probabilities cannot be mapped to the model's "
			            "margin (the model's link is not logistic, or 0 < t < 1 fails)",
			            t);
		margin = log(t / (1 - t));
	}
	am->d = (struct ex_decision){.argmax = false, .threshold = margin};
	const char *below = r && r->label_below && *r->label_below ? r->label_below : "0";
	const char *above = r && r->label_above && *r->label_above ? r->label_above : "1";
	am->n_labels = 2;
	am->labels = calloc(2, sizeof(char *));
	if (!am->labels || !(am->labels[0] = strdup(below)) || !(am->labels[1] = strdup(above)))
		return -ENOMEM;
	snprintf(buf, sizeof(buf), "%s when the %s is >= %.6g, else %s", above,
	         prob ? "probability" : "score", t, below);
	am->decision_rule = strdup(buf);
	return am->decision_rule ? 0 : -ENOMEM;
}

/* What the manifest says (names, facts, ranges, decision, lineage), for any model. */
static int model_facts(struct audit_model *am, const Evident__V1__ModelManifest *mf, char *err,
                       size_t err_size)
{
	int rc = 0;

	am->names = calloc(am->M, sizeof(char *));
	am->immutable = calloc(am->M, sizeof(bool));
	am->categorical = calloc(am->M, sizeof(bool));
	am->train_min = malloc(am->M * sizeof(double));
	am->train_max = malloc(am->M * sizeof(double));
	if (!am->names || !am->immutable || !am->categorical || !am->train_min || !am->train_max)
		return -ENOMEM;
	for (size_t j = 0; j < am->M; j++) {
		const Evident__V1__Feature *f = mf->features[j];
		const char *an = am->m ? ex_model_feature_name(am->m, j) : NULL;
		/* the artifact's own feature names, when it has them, must be the manifest's in
		 * the same order: otherwise every attribution would land on the wrong name */
		if (an && f->name && *f->name && strcmp(an, f->name))
			return fail(
			    err, err_size, -EBADMSG,
			    "feature %zu is \"%s\" in the artifact but \"%s\" in the manifest", j,
			    an, f->name);
		if (!(am->names[j] = dupstr(f->name)))
			return -ENOMEM;
		am->immutable[j] = f->immutable;
		am->categorical[j] = f->type == EVIDENT__V1__FEATURE__TYPE__CATEGORICAL;
		am->train_min[j] = f->has_min ? f->min : NAN;
		am->train_max[j] = f->has_max ? f->max : NAN;
	}
	rc = set_decision(am, mf, err, err_size);
	if (rc < 0)
		return rc;
	const Evident__V1__Lineage *l = mf->lineage;
	if (!l || !l->training_data_sha256 || !*l->training_data_sha256)
		rc = add_warning(am, "no training-data hash: this audit cannot name the data the "
		                     "model learned from, so it is incomplete");
	if (rc >= 0 && (!l || !l->code_commit || !*l->code_commit))
		rc = add_warning(am, "no code commit: this audit cannot name the code that trained "
		                     "the model, so it is incomplete");
	return rc;
}

static struct audit_model *model_alloc(const Evident__V1__ModelManifest *mf)
{
	struct audit_model *am = calloc(1, sizeof(*am));

	if (!am)
		return NULL;
	pthread_mutex_init(&am->lock, NULL);
	am->background_size = KERNEL_BG_MAX;
	am->model_id = dupstr(mf->model_id);
	am->version = dupstr(mf->version);
	am->framework = dupstr(mf->framework);
	snprintf(am->artifact_sha256, sizeof(am->artifact_sha256), "%s",
	         mf->artifact_sha256 ? mf->artifact_sha256 : "");
	if (!am->model_id || !am->version || !am->framework) {
		audit_model_free(am);
		return NULL;
	}
	return am;
}

/* The artifact in a private folder (am->artifact_dir, removed by audit_model_free). */
static int write_artifact(struct audit_model *am, const void *artifact, size_t len, char *path,
                          size_t path_size, char *err, size_t err_size)
{
	const char *tmp = getenv("TMPDIR");
	int rc;

	snprintf(path, path_size, "%s/evident-oracle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(path) || !(am->artifact_dir = strdup(path))) {
		rc = -errno;
		return fail(err, err_size, rc, "a private folder for the oracle's artifact: %s",
		            strerror(-rc));
	}
	snprintf(path, path_size, "%s/artifact", am->artifact_dir);
	FILE *f = fopen(path, "wbx");
	bool ok = f && fwrite(artifact, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok)
		return fail(err, err_size, -EIO, "writing the oracle's artifact %.200s: %s", path,
		            strerror(errno));
	return 0;
}

int audit_model_open_oracle(const Evident__V1__ModelManifest *mf, const void *artifact, size_t len,
                            const struct audit_oracle *oc, struct audit_model **ret, char *err,
                            size_t err_size)
{
	struct audit_model *am = model_alloc(mf);
	char path[4096], oerr[EX_ERR_MAX];
	int rc;

	*ret = NULL;
	if (!am)
		return -ENOMEM;
	rc = write_artifact(am, artifact, len, path, sizeof(path), err, err_size);
	if (rc >= 0) {
		struct ex_oracle_config c = {.command = oc->command,
		                             .artifact_path = path,
		                             .n_features = mf->n_features,
		                             .n_procs = oc->procs,
		                             .timeout_ms = oc->timeout_ms};
		rc = ex_oracle_open(&c, &am->oracle, oerr, sizeof(oerr));
		if (rc < 0)
			fail(err, err_size, rc, "the oracle could not be started: %.400s", oerr);
	}
	if (rc >= 0) {
		ex_oracle_fn(am->oracle, &am->f);
		am->M = mf->n_features;
		am->G = ex_oracle_n_outputs(am->oracle);
		if (oc->background_size)
			am->background_size = oc->background_size;
		rc = model_facts(am, mf, err, err_size);
	}
	if (rc < 0) {
		audit_model_free(am);
		return rc;
	}
	*ret = am;
	return 0;
}

int audit_model_new(const Evident__V1__ModelManifest *mf, const void *artifact, size_t len,
                    struct audit_model **ret, char *err, size_t err_size)
{
	struct audit_model *am;
	enum ex_format fmt = format_of(mf->framework);
	int rc;

	*ret = NULL;
	if (fmt == EX_FORMAT_AUTO)
		return fail(err, err_size, -ENOTSUP,
		            "framework \"%s\": the daemon evaluates xgboost-json, lightgbm-text "
		            "and linear-json artifacts itself; an \"oracle\" model needs a [model "
		            "ID] section with an oracle command",
		            mf->framework ? mf->framework : "");
	am = model_alloc(mf);
	if (!am)
		return -ENOMEM;
	rc = ex_model_load_buffer(artifact, len, fmt, am->model_id, &am->m, err, err_size);
	if (rc < 0) {
		rc = rc == -ENOMEM ? rc : -EBADMSG;
		goto out;
	}
	am->M = ex_model_n_features(am->m);
	am->G = ex_model_n_outputs(am->m);
	if (am->M != mf->n_features) {
		rc = fail(err, err_size, -EBADMSG,
		          "the artifact has %zu features, the manifest %zu", am->M, mf->n_features);
		goto out;
	}
	ex_fn_from_model(am->m, &am->f);
	rc = model_facts(am, mf, err, err_size);
	if (rc < 0)
		goto out;
	*ret = am;
	return 0;
out:
	audit_model_free(am);
	return rc;
}

void audit_model_free(struct audit_model *am)
{
	if (!am)
		return;
	ex_model_free(am->m);
	ex_oracle_close(am->oracle); /* its processes end here, then their artifact goes */
	if (am->artifact_dir) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/artifact", am->artifact_dir);
		unlink(path);
		rmdir(am->artifact_dir);
		free(am->artifact_dir);
	}
	for (size_t j = 0; am->names && j < am->M; j++)
		free(am->names[j]);
	for (size_t i = 0; am->labels && i < am->n_labels; i++)
		free(am->labels[i]);
	for (size_t i = 0; i < am->n_lineage_warnings; i++)
		free(am->lineage_warnings[i]);
	free(am->lineage_warnings);
	free(am->labels);
	free(am->names);
	free(am->immutable);
	free(am->categorical);
	free(am->train_min);
	free(am->train_max);
	free(am->decision_rule);
	free(am->model_id);
	free(am->version);
	free(am->framework);
	free(am->baseline_usual);
	pthread_mutex_destroy(&am->lock);
	free(am);
}

static const char *model_feature_name(void *ud, size_t i)
{
	const struct audit_model *am = ud;
	return am->names[i];
}

int audit_reference_rows(const struct audit_model *am, const void *data, size_t len,
                         double **ret_rows, size_t *ret_n, char *err, size_t err_size)
{
	struct ex_rows r = {0};
	int rc = ex_rows_parse(data, len, "reference data", &r, err, err_size);

	if (rc < 0)
		return rc;
	rc = ex_rows_select(&r, am->M, model_feature_name, (void *)am, "reference data", err,
	                    err_size);
	if (rc < 0) {
		ex_rows_free(&r);
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	if (!r.n_rows) {
		ex_rows_free(&r);
		return fail(err, err_size, -EBADMSG, "reference data: no rows");
	}
	*ret_rows = r.values;
	*ret_n = r.n_rows;
	r.values = NULL;
	ex_rows_free(&r);
	return 0;
}

/* ------------------------------------------------------------------ one audit */

/* The confidence score's interventional TreeSHAP, computed by the second thread before its
 * methods so that the fast phase need not (the same numbers whichever thread computes). */
struct shared_iv {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
	double *phi; /* M x G */
};

/* The flip test, run by the second thread once the fast phase's attribution is written, while
 * this one computes the confidence's noise check; merged here (flip_join) before the
 * confidence is combined, in the place the sequential order gives it in the document. */
struct shared_flip {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phi_state; /* 0 not yet, 1 r->phi written, -1 no attribution (no flip test) */
	bool done;
	bool decided;      /* the fast phase is over: the other methods may take the CPU */
	const double *phi; /* the fast phase's attribution (read-only once phi_state is 1) */
	int rc;
	char err[AUDIT_ERR_MAX];
	json_t *fo; /* the result on success */
	double ms;
	bool fragile;
	json_t *fragile_names;
};

struct run {
	const struct audit_model *am;
	const struct audit_background *bg;
	const struct audit_request *rq;
	struct ex_feature_info *info;
	json_t *results, *reasons, *timings;
	double *fx;  /* G margins at x */
	double *phi; /* M: exact attribution of the decision output (NULL: none) */
	size_t out;  /* the decision output */
	int decision;
	bool failed_any, ran_any;
	bool fragile;
	json_t *fragile_names;
	/* the sampled methods' background: a k-means summary (computed before the threads) */
	double *sbg, *sw;
	size_t n_sbg;
	double *se;             /* oracle: M standard errors of phi */
	struct shared_iv *iv;   /* trees: A_method's attribution, from the second thread */
	struct shared_flip *fl; /* the flip test on the second thread (NULL: in place) */
	bool fl_joined;
};

/* The reported treeshap result: path-dependent TreeSHAP of one row through the batched entry
 * point, the one `evidentctl explain --method treeshap` uses, so the two agree bit for bit
 * (the single-row walk orders its sums differently and can differ in the last place). The
 * attributions the audit uses inside (flip test, noise check, baseline) come from the
 * single-row ex_treeshap, as those of `evidentctl explain --method flip` do: it is 4x faster
 * for one row. */
static int tree_phi(const struct ex_model *m, const double *x, double *phi, double *base)
{
	int row_rc = 0, rc = ex_treeshap_rows(m, x, 1, phi, base, &row_rc);
	return rc < 0 ? rc : row_rc;
}

static int exact_explain(void *ud, const double *x, size_t output, double *phi, char *err,
                         size_t err_size)
{
	const struct run *r = ud;
	const struct audit_model *am = r->am;
	if (!am->m) {
		/* an oracle: KernelSHAP on an eighth of the default budget (the noise check's and
		 * the baseline's explainer, as `evidentctl explain --confidence` through an oracle)
		 */
		struct ex_sampled_config cfg = {
		    .seed = r->rq->seed, .budget = ex_sampled_default_budget(am->M, r->n_sbg) / 8};
		struct ex_sampled_result res;
		int rc =
		    ex_kernelshap(&am->f, x, r->sbg, r->sw, r->n_sbg, &cfg, &res, err, err_size);
		if (rc < 0)
			return rc;
		memcpy(phi, res.phi + output * am->M, am->M * sizeof(double));
		ex_sampled_result_free(&res);
		return 0;
	}
	double *all = malloc(am->M * am->G * sizeof(double)),
	       *base = malloc(am->G * sizeof(double));
	int rc;

	if (!all || !base) {
		free(all);
		free(base);
		return -ENOMEM;
	}
	rc = ex_model_is_trees(am->m) ? ex_treeshap(am->m, x, all, base)
	                              : ex_linear_shap(am->m, x, r->bg->rows, r->bg->n, all, base);
	if (rc < 0)
		fail(err, err_size, rc, "exact attribution failed (%s)", strerror(-rc));
	else
		memcpy(phi, all + output * am->M, am->M * sizeof(double));
	free(all);
	free(base);
	return rc;
}

struct half {
	const struct ex_model *m;
	const double *X;
	size_t n;
	double *phi, *base;
	int *rcs, rc;
};

static void *half_main(void *arg)
{
	struct half *h = arg;
	h->rc = ex_treeshap_rows(h->m, h->X, h->n, h->phi, h->base, h->rcs);
	return NULL;
}

/* Exact attributions of n rows at once (the noise check's neighbours): batched TreeSHAP for
 * trees, the closed form row by row for linear models. */
static int exact_explain_rows(void *ud, const double *X, size_t n, size_t output, double *phi,
                              char *err, size_t err_size)
{
	const struct run *r = ud;
	const struct audit_model *am = r->am;
	size_t M = am->M, G = am->G;
	double *all = malloc(n * M * G * sizeof(double)), *base = malloc(n * G * sizeof(double));
	int *rcs = calloc(n, sizeof(int)), rc = 0;

	if (!all || !base || !rcs) {
		rc = -ENOMEM;
	} else if (ex_model_is_trees(am->m)) {
		/* the second half on a thread of its own: the verdict waits for these rows */
		struct half h = {.m = am->m,
		                 .X = X + n / 2 * M,
		                 .n = n - n / 2,
		                 .phi = all + n / 2 * M * G,
		                 .base = base + n / 2 * G,
		                 .rcs = rcs + n / 2};
		pthread_t th;
		bool split = n >= 8 && pthread_create(&th, NULL, half_main, &h) == 0;
		rc = ex_treeshap_rows(am->m, X, split ? n / 2 : n, all, base, rcs);
		if (split) {
			pthread_join(th, NULL);
			if (rc >= 0)
				rc = h.rc;
		}
		for (size_t i = 0; rc >= 0 && i < n; i++)
			rc = rcs[i];
	} else {
		for (size_t i = 0; rc >= 0 && i < n; i++)
			rc = ex_linear_shap(am->m, X + i * M, r->bg->rows, r->bg->n,
			                    all + i * M * G, base + i * G);
	}
	for (size_t i = 0; rc >= 0 && i < n; i++)
		memcpy(phi + i * M, all + (i * G + output) * M, M * sizeof(double));
	if (rc < 0)
		fail(err, err_size, rc, "exact attribution of a neighbour failed (%s)",
		     strerror(-rc));
	free(all);
	free(base);
	free(rcs);
	return rc;
}

static void method_failed(struct run *r, const char *method, int rc, const char *err)
{
	char buf[AUDIT_ERR_MAX + 96];
	snprintf(buf, sizeof(buf), "%s failed: %s", method, err && *err ? err : strerror(-rc));
	json_array_append_new(r->reasons, json_string(buf));
	r->failed_any = true;
}

static void timed(struct run *r, const char *what, double t0)
{
	json_object_set_new(r->timings, what, json_real(now_ms() - t0));
}

static const char *const *names(const struct run *r)
{
	return (const char *const *)r->am->names;
}

/* treeshap, treeshap-interventional, linear: exact, per output */
static int do_exact(struct run *r, const char *method, json_t *o, char *err, size_t err_size)
{
	const struct audit_model *am = r->am;
	double *phi = malloc(am->M * am->G * sizeof(double)), base[1024];
	int rc;

	if (!phi)
		return -ENOMEM;
	if (!am->m) {
		free(phi);
		return fail(err, err_size, -ENOTSUP,
		            "%s needs the model file; this model is evaluated through an oracle "
		            "(ask for kernelshap)",
		            method);
	}
	if (!strcmp(method, "treeshap"))
		rc = ex_model_is_trees(am->m) ? tree_phi(am->m, r->rq->x, phi, base) : -ENOTSUP;
	else if (!strcmp(method, "treeshap-interventional"))
		rc = ex_model_is_trees(am->m)
		         ? ex_treeshap_interventional(am->m, r->rq->x, r->bg->rows, r->bg->n, phi,
		                                      base)
		         : -ENOTSUP;
	else
		rc = ex_model_is_trees(am->m)
		         ? -ENOTSUP
		         : ex_linear_shap(am->m, r->rq->x, r->bg->rows, r->bg->n, phi, base);
	if (rc == -ENOTSUP)
		snprintf(err, err_size, "%s does not apply to a %s model", method, am->framework);
	else if (rc < 0)
		snprintf(err, err_size, "%s", strerror(-rc));
	if (rc == 0)
		rc = audit_json_attribution(o, r->fx, base, phi, am->G, am->M);
	free(phi);
	return rc;
}

/* KernelSHAP or permutation Shapley on the summarised background (the keys of `evidentctl
 * explain --method kernelshap --json`). With phi/se/base, the decision output's values are
 * copied there too. */
static int sampled(struct run *r, const char *method, uint64_t budget, json_t *o, double *phi,
                   double *se, double *base, char *err, size_t err_size)
{
	const struct audit_model *am = r->am;
	struct ex_sampled_config cfg = {.seed = r->rq->seed, .budget = budget};
	struct ex_sampled_result res;
	char digest[65];
	int rc;

	if (!r->n_sbg)
		return fail(err, err_size, -EINVAL, "no background summary");
	ex_background_digest(r->sbg, r->sw, r->n_sbg, am->M, digest);
	rc = !strcmp(method, "kernelshap")
	         ? ex_kernelshap(&am->f, r->rq->x, r->sbg, r->sw, r->n_sbg, &cfg, &res, err,
	                         err_size)
	         : ex_permutation_shap(&am->f, r->rq->x, r->sbg, r->sw, r->n_sbg, &cfg, &res, err,
	                               err_size);
	if (rc < 0)
		return rc;
	if (o)
		rc = audit_json_sampled(
		    o, &res, res.fx, r->rq->seed,
		    budget ? budget : ex_sampled_default_budget(am->M, r->n_sbg), digest, r->n_sbg);
	if (phi)
		memcpy(phi, res.phi + r->out * am->M, am->M * sizeof(double));
	if (se)
		memcpy(se, res.se + r->out * am->M, am->M * sizeof(double));
	if (base)
		*base = res.base[r->out];
	ex_sampled_result_free(&res);
	return rc;
}

static int do_sampled(struct run *r, const char *method, json_t *o, char *err, size_t err_size)
{
	return sampled(r, method, 0, o, NULL, NULL, NULL, err, err_size);
}

static struct ex_whatif_input whatif_input(const struct run *r)
{
	return (struct ex_whatif_input){.f = &r->am->f,
	                                .model = r->am->m,
	                                .bg = r->bg->rows,
	                                .n_bg = r->bg->n,
	                                .info = r->info,
	                                .decision = &r->am->d};
}

static int do_counterfactual(struct run *r, json_t *o, char *err, size_t err_size)
{
	struct ex_whatif_input in = whatif_input(r);
	struct ex_cf_config cc = {.seed = r->rq->seed};
	struct ex_cf_result res;
	int rc = ex_counterfactuals(&in, r->rq->x, &cc, &res, err, err_size);

	if (rc < 0)
		return rc;
	rc = audit_json_counterfactual(o, &res, res.fx, names(r), r->rq->seed);
	ex_cf_result_free(&res);
	return rc;
}

static int do_flip(struct run *r, json_t *o, char *err, size_t err_size)
{
	struct ex_whatif_input in = whatif_input(r);
	struct ex_flip_config fc = {.cf = {.seed = r->rq->seed}};
	struct ex_flip_result res;
	int rc = ex_flip_test(&in, r->rq->x, r->phi, &fc, &res, err, err_size);

	if (rc < 0)
		return rc;
	rc = audit_json_flip(o, &res, r->phi, r->fx, names(r), r->rq->seed, "background");
	if (rc >= 0) {
		r->fragile = res.fragile;
		r->fragile_names = json_incref(json_object_get(o, "fragile_features"));
	}
	ex_flip_result_free(&res);
	return rc;
}

/* LIME's configuration in this audit: the request's, explain's defaults filled in, on the
 * audit's seed and the decision output (what params.lime records). */
static struct ex_lime_config lime_config(const struct run *r)
{
	struct ex_lime_config c = r->rq->lime;

	c.seed = r->rq->seed;
	c.output = r->out;
	ex_lime_config_resolve(&c, r->am->M);
	return c;
}

/* LIME of the decision output, as `evidentctl explain --method lime` computes it on
 * --background: bins fitted on every background row (the categorical features as levels). */
static int do_lime(struct run *r, json_t *o, char *err, size_t err_size)
{
	const struct audit_model *am = r->am;
	struct ex_lime_config c = lime_config(r);
	struct ex_lime_bins *bins;
	struct ex_lime_result res;
	int rc = ex_lime_bins_fit(r->bg->rows, r->bg->n, am->M, r->info, &bins, err, err_size);

	if (rc < 0)
		return rc;
	rc = ex_lime(&am->f, bins, r->rq->x, &c, &res, err, err_size);
	ex_lime_bins_free(bins);
	if (rc < 0)
		return rc;
	rc = audit_json_lime(o, &res, r->fx, am->G, r->out, names(r), r->rq->seed);
	ex_lime_result_free(&res);
	return rc;
}

static int do_adversarial(struct run *r, json_t *o, char *err, size_t err_size)
{
	const struct audit_model *am = r->am;
	struct ex_adv_config ac = {.seed = r->rq->seed};
	struct ex_explainer e = {.explain = exact_explain, .userdata = r};
	struct ex_region *reg = NULL;
	int rc = am->m && ex_model_is_trees(am->m)
	             ? ex_adversarial_tree(am->m, &am->f, &e, r->rq->x, r->bg->rows, r->bg->n,
	                                   r->info, &am->d, &ac, &reg, err, err_size)
	             /* an oracle: the decision-only failure signature (no cheap explainer) */
	             : ex_adversarial_search(&am->f, am->m ? &e : NULL, r->rq->x, r->bg->rows,
	                                     r->bg->n, r->info, &am->d, &ac, &reg, err, err_size);
	if (rc < 0)
		return rc;
	rc = audit_json_adversarial(o, reg, r->fx, am->G, names(r), r->rq->seed);
	ex_region_free(reg);
	return rc;
}

/* ------------------------------------------------------------------ fast phase */

static bool wants(const struct audit_request *rq, const char *m);

/* The flip test's result recorded in r: its timing, the result or the failure, and a reason
 * for review when a low-importance feature flips the decision (r->fragile set by do_flip). */
static void flip_record(struct run *r, json_t *vreasons, int rc, const char *err, json_t *fo,
                        double ms)
{
	json_object_set_new(r->timings, "flip", json_real(ms));
	if (rc < 0) {
		method_failed(r, "flip", rc, err);
		json_decref(fo);
		return;
	}
	json_object_set_new(r->results, "flip", fo);
	r->ran_any |= wants(r->rq, "flip");
	if (!r->fragile)
		return;
	char buf[512] = "a low-importance feature flips the decision with a plausible change:";
	size_t idx;
	json_t *v;
	json_array_foreach(r->fragile_names, idx, v)
	{
		size_t l = strlen(buf);
		snprintf(buf + l, sizeof(buf) - l, "%s %s", idx ? "," : "", json_string_value(v));
	}
	json_array_append_new(vreasons, json_string(buf));
}

/* The second thread's flip test (r is its copy of the run): waits for the fast phase's
 * attribution, runs the test into r->fl and signals it done. */
static void flip_on_second_thread(struct run *r)
{
	struct shared_flip *fl = r->fl;
	int state;

	pthread_mutex_lock(&fl->lock);
	while (fl->phi_state == 0)
		pthread_cond_wait(&fl->cond, &fl->lock);
	state = fl->phi_state;
	pthread_mutex_unlock(&fl->lock);
	if (state > 0) {
		double t0 = now_ms();
		r->phi = (double *)fl->phi;
		fl->fo = json_object();
		fl->rc = fl->fo ? do_flip(r, fl->fo, fl->err, sizeof(fl->err)) : -ENOMEM;
		fl->ms = now_ms() - t0;
		fl->fragile = r->fragile;
		fl->fragile_names = r->fragile_names;
		r->fragile_names = NULL;
		r->phi = NULL;
	}
	pthread_mutex_lock(&fl->lock);
	fl->done = true;
	pthread_cond_signal(&fl->cond);
	pthread_mutex_unlock(&fl->lock);
}

/* The fast phase: the attribution is written (ok) or will not be (the second thread skips the
 * flip test). */
static void flip_release(struct run *r, bool ok)
{
	if (!r->fl)
		return;
	pthread_mutex_lock(&r->fl->lock);
	r->fl->phi_state = ok ? 1 : -1;
	pthread_cond_signal(&r->fl->cond);
	pthread_mutex_unlock(&r->fl->lock);
}

/* The fast phase: waits for the second thread's flip test and records it in r (once). */
static void flip_join(struct run *r, json_t *vreasons)
{
	struct shared_flip *fl = r->fl;

	if (!fl || r->fl_joined)
		return;
	pthread_mutex_lock(&fl->lock);
	while (!fl->done)
		pthread_cond_wait(&fl->cond, &fl->lock);
	pthread_mutex_unlock(&fl->lock);
	r->fl_joined = true;
	if (fl->phi_state < 0)
		return;
	r->fragile = fl->fragile;
	r->fragile_names = fl->fragile_names;
	fl->fragile_names = NULL;
	flip_record(r, vreasons, fl->rc, fl->err, fl->fo, fl->ms);
	fl->fo = NULL;
}

/* Mean |phi_j| of the baseline rows (the first rows of the background, up to
 * BASELINE_ROWS_MAX), cached per model and background digest. */
static int baseline_usual(struct run *r, const char *digest, double *usual, size_t *ret_n,
                          char *err, size_t err_size)
{
	struct audit_model *am = (struct audit_model *)r->am;
	size_t cap = am->m ? BASELINE_ROWS_MAX : BASELINE_ROWS_ORACLE;
	size_t n = r->bg->n < cap ? r->bg->n : cap, M = am->M;
	double *phi;
	int rc = 0;

	pthread_mutex_lock(&am->lock);
	if (am->baseline_usual && !strcmp(am->baseline_digest, digest)) {
		memcpy(usual, am->baseline_usual, M * sizeof(double));
		*ret_n = am->baseline_rows;
		pthread_mutex_unlock(&am->lock);
		return 0;
	}
	pthread_mutex_unlock(&am->lock);
	phi = malloc(M * sizeof(double));
	if (!phi)
		return -ENOMEM;
	memset(usual, 0, M * sizeof(double));
	for (size_t i = 0; i < n && rc >= 0; i++) {
		const double *b = r->bg->rows + i * M;
		double fb[1024];
		rc = am->f.predict(am->f.userdata, b, 1, fb, err, err_size);
		if (rc >= 0)
			rc = exact_explain(r, b,
			                   am->d.argmax ? (size_t)ex_decide(&am->d, fb, am->G) : 0,
			                   phi, err, err_size);
		for (size_t j = 0; rc >= 0 && j < M; j++)
			usual[j] += fabs(phi[j]) / (double)n;
	}
	free(phi);
	if (rc < 0)
		return rc;
	*ret_n = n;
	pthread_mutex_lock(&am->lock);
	double *copy = malloc(M * sizeof(double));
	if (copy) {
		memcpy(copy, usual, M * sizeof(double));
		free(am->baseline_usual);
		am->baseline_usual = copy;
		am->baseline_rows = n;
		snprintf(am->baseline_digest, sizeof(am->baseline_digest), "%s", digest);
	}
	pthread_mutex_unlock(&am->lock);
	return 0;
}

static void baseline(struct run *r, const char *digest, json_t *verdict_reasons)
{
	const struct audit_model *am = r->am;
	size_t M = am->M, n = 0;
	double *usual = malloc(M * sizeof(double)), total = 0;
	char err[AUDIT_ERR_MAX] = "";
	double t0 = now_ms();
	int rc = usual ? baseline_usual(r, digest, usual, &n, err, sizeof(err)) : -ENOMEM;

	if (rc < 0) {
		method_failed(r, "baseline", rc, err);
		free(usual);
		return;
	}
	json_t *o = json_object(), *outliers = json_array();
	for (size_t j = 0; j < M; j++)
		total += fabs(r->phi[j]);
	for (size_t j = 0; j < M; j++) {
		double a = fabs(r->phi[j]), ratio = a / fmax(usual[j], 1e-12);
		if (a < BASELINE_MIN_SHARE * total || ratio < BASELINE_RATIO)
			continue;
		json_t *e = json_object();
		json_object_set_new(e, "feature", json_string(am->names[j]));
		json_object_set_new(e, "index", aj_u64(j));
		json_object_set_new(e, "phi", aj_real(r->phi[j]));
		json_object_set_new(e, "usual", aj_real(usual[j]));
		json_object_set_new(e, "ratio", aj_real(ratio));
		json_array_append_new(outliers, e);
		char buf[256];
		snprintf(buf, sizeof(buf),
		         "%s's attribution is %.3g times its usual level (%.3g vs %.3g on routine "
		         "decisions)",
		         am->names[j], ratio, a, usual[j]);
		json_array_append_new(verdict_reasons, json_string(buf));
	}
	json_object_set_new(o, "rows", aj_u64(n));
	json_object_set_new(o, "usual", aj_reals(usual, M));
	json_object_set_new(o, "outliers", outliers);
	json_object_set_new(r->results, "baseline", o);
	timed(r, "baseline", t0);
	free(usual);
}

/* Interventional TreeSHAP of x on every (n/A_METHOD_ROWS)-th background row (the cost is
 * O(trees x leaves x rows)), all outputs: the confidence score's independent method. */
static int interventional(const struct run *r, double *phi)
{
	const struct audit_model *am = r->am;
	size_t M = am->M, ns = r->bg->n < A_METHOD_ROWS ? r->bg->n : A_METHOD_ROWS;
	double *sub = malloc((ns ? ns : 1) * M * sizeof(double)), base[1024];
	int rc;

	if (!sub)
		return -ENOMEM;
	for (size_t i = 0; i < ns; i++)
		memcpy(sub + i * M, r->bg->rows + (i * r->bg->n / ns) * M, M * sizeof(double));
	rc = ex_treeshap_interventional(am->m, r->rq->x, sub, ns, phi, base);
	free(sub);
	return rc;
}

/* C = G * P_est * P_noise * A_method for the exact attribution (daemon/explain/METHODS.md §7):
 * P_est = 1; P_noise from 32 neighbours re-explained exactly; A_method against interventional
 * TreeSHAP on a systematic sample of A_METHOD_ROWS background rows for trees (a different
 * game: disagreement means the explanation depends on how features are removed) and 1 for
 * linear models (the closed form is both games). */
static int confidence(struct run *r, double base, struct ex_confidence *ret, json_t *vreasons,
                      char *err, size_t err_size)
{
	const struct audit_model *am = r->am;
	size_t M = am->M, used = 0;
	struct ex_confidence_parts p = {.p_est = 1, .golden_ok = true, .fragile = r->fragile};
	struct ex_explainer e = {.explain = exact_explain,
	                         .explain_rows = am->m ? exact_explain_rows : NULL,
	                         .userdata = r};
	/* an oracle: 8 neighbours re-explained by KernelSHAP on an eighth of the budget */
	struct ex_noise_config nc = {.seed = r->rq->seed, .neighbours = am->m ? 32 : 8};
	double fx2[1024], sum = base;
	int rc = ex_confidence_p_noise(&am->f, &e, &am->d, r->rq->x, r->phi, r->out, r->info, &nc,
	                               &p.p_noise, &used, err, err_size);

	if (rc < 0)
		return rc;
	p.a_method = 1;
	if (!am->m) {
		/* sampled: P_est from the standard errors, A_method against permutation Shapley
		 * with independent randomness */
		struct ex_sampled_config cfg = {.seed = r->rq->seed ^ 0x5eed};
		struct ex_sampled_result other;
		rc = ex_confidence_p_est(r->phi, r->se, M, 0, 0, r->rq->seed, &p.p_est);
		if (rc >= 0)
			rc = ex_permutation_shap(&am->f, r->rq->x, r->sbg, r->sw, r->n_sbg, &cfg,
			                         &other, err, err_size);
		if (rc < 0)
			return rc;
		p.a_method = ex_confidence_agreement(r->phi, other.phi + r->out * M, M, 0);
		ex_sampled_result_free(&other);
	} else if (ex_model_is_trees(am->m)) {
		double *iv = NULL;
		if (r->iv) {
			/* computed by the second thread first thing (see slow_main) */
			pthread_mutex_lock(&r->iv->lock);
			while (!r->iv->done)
				pthread_cond_wait(&r->iv->cond, &r->iv->lock);
			pthread_mutex_unlock(&r->iv->lock);
			rc = r->iv->rc;
			iv = r->iv->phi;
		} else {
			iv = malloc(M * am->G * sizeof(double));
			rc = iv ? interventional(r, iv) : -ENOMEM;
		}
		if (rc >= 0)
			p.a_method = ex_confidence_agreement(r->phi, iv + r->out * M, M, 0);
		if (!r->iv)
			free(iv);
		if (rc < 0)
			return fail(err, err_size, rc, "interventional TreeSHAP failed (%s)",
			            strerror(-rc));
	}
	for (size_t j = 0; j < M; j++)
		sum += r->phi[j];
	p.residual = fabs(sum - r->fx[r->out]);
	p.residual_limit =
	    ex_confidence_residual_limit(am->m != NULL, am->m ? NULL : r->se, M, r->fx[r->out]);
	rc = am->f.predict(am->f.userdata, r->rq->x, 1, fx2, err, err_size);
	if (rc < 0)
		return rc;
	p.deterministic = !memcmp(fx2, r->fx, am->G * sizeof(double));
	p.score_matches = json_is_true(json_object_get(r->results, "score_matches"));
	flip_join(r, vreasons); /* the cap needs the flip test */
	p.fragile = r->fragile;
	ex_confidence_combine(&p, ret);
	json_object_set_new(r->results, "confidence",
	                    audit_json_confidence(ret, used,
	                                          !am->m ? "permutation"
	                                          : ex_model_is_trees(am->m)
	                                              ? "treeshap-interventional"
	                                              : "closed form"));
	return 0;
}

/* Do the recorded scores equal the artifact's outputs (in the manifest's output space)? */
static bool scores_match(const struct run *r)
{
	const struct audit_model *am = r->am;
	double out[1024];

	if (r->rq->n_scores != am->G)
		return false;
	memcpy(out, r->fx, am->G * sizeof(double));
	if (am->probability_scores)
		ex_link_apply(am->m, out);
	for (size_t g = 0; g < am->G; g++)
		if (!(fabs(out[g] - r->rq->scores[g]) <= 1e-6 * (1 + fabs(out[g]))))
			return false;
	return true;
}

static bool wants(const struct audit_request *rq, const char *m)
{
	for (size_t i = 0; i < rq->n_methods; i++)
		if (!strcmp(rq->methods[i], m))
			return true;
	return false;
}

static const char *const lime_selections[] = {
    [EX_LIME_AUTO] = "auto",
    [EX_LIME_NONE] = "none",
    [EX_LIME_FORWARD] = "forward",
    [EX_LIME_HIGHEST_WEIGHTS] = "highest_weights",
};

static const char *lime_selection_name(enum ex_lime_selection s)
{
	return (size_t)s < sizeof(lime_selections) / sizeof(lime_selections[0]) ? lime_selections[s]
	                                                                        : "auto";
}

static json_t *params_json(const struct run *r, const char *digest)
{
	const struct audit_model *am = r->am;
	const struct audit_background *bg = r->bg;
	json_t *p = json_object(), *b = json_object(), *methods = json_array();

	for (size_t i = 0; i < r->rq->n_methods; i++)
		json_array_append_new(methods, json_string(r->rq->methods[i]));
	json_object_set_new(p, "methods", methods);
	json_object_set_new(p, "seed", aj_u64(r->rq->seed));
	json_object_set_new(p, "threshold", am->d.argmax ? json_null() : aj_real(am->d.threshold));
	json_object_set_new(p, "decision_rule", json_string(am->decision_rule));
	json_object_set_new(p, "artifact_sha256", json_string(am->artifact_sha256));
	json_object_set_new(b, "source", json_string(bg->source));
	json_object_set_new(b, "rows", aj_u64(bg->n));
	json_object_set_new(b, "digest", json_string(digest));
	if (bg->sha256)
		json_object_set_new(b, "sha256", json_string(bg->sha256));
	if (bg->seqs) {
		json_t *s = json_array();
		for (size_t i = 0; i < bg->n; i++)
			json_array_append_new(s, aj_u64(bg->seqs[i]));
		json_object_set_new(b, "seqs", s);
	}
	json_object_set_new(p, "background", b);
	json_object_set_new(p, "review_below", aj_real(r->rq->review_below));
	json_object_set_new(p, "background_size", aj_u64(am->background_size));
	json_object_set_new(p, "software", json_string("evidentd " EVIDENT_VERSION));
	if (wants(r->rq, "lime")) {
		struct ex_lime_config c = lime_config(r);
		json_t *l = json_object();
		json_object_set_new(l, "samples", aj_u64(c.n_samples));
		json_object_set_new(l, "repeats", aj_u64(c.n_repeats));
		json_object_set_new(l, "features", aj_u64(c.n_select));
		json_object_set_new(l, "selection", json_string(lime_selection_name(c.selection)));
		json_object_set_new(l, "kernel_width", aj_real(c.kernel_width));
		json_object_set_new(l, "alpha", aj_real(c.alpha));
		json_object_set_new(l, "min_jaccard", aj_real(c.min_jaccard));
		json_object_set_new(l, "max_samples", aj_u64(c.max_samples));
		json_object_set_new(p, "lime", l);
	}
	return p;
}

/* A count or a real of params.lime into *v; false when the member is there but not a
 * non-negative number. */
static bool lime_size(const json_t *l, const char *key, size_t *v)
{
	const json_t *j = json_object_get(l, key);
	if (!j)
		return true;
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return false;
	*v = (size_t)json_integer_value(j);
	return true;
}

static bool lime_real(const json_t *l, const char *key, double *v)
{
	const json_t *j = json_object_get(l, key);
	if (!j)
		return true;
	if (!json_is_number(j) || !(json_number_value(j) >= 0))
		return false;
	*v = json_number_value(j);
	return true;
}

int audit_lime_params(const json_t *params, struct ex_lime_config *c)
{
	const json_t *l = json_object_get(params, "lime"), *sel;

	memset(c, 0, sizeof(*c));
	if (!l)
		return 0;
	if (!json_is_object(l))
		return -EINVAL;
	if (!lime_size(l, "samples", &c->n_samples) || !lime_size(l, "repeats", &c->n_repeats) ||
	    !lime_size(l, "features", &c->n_select) ||
	    !lime_size(l, "max_samples", &c->max_samples) ||
	    !lime_real(l, "kernel_width", &c->kernel_width) || !lime_real(l, "alpha", &c->alpha) ||
	    !lime_real(l, "min_jaccard", &c->min_jaccard))
		return -EINVAL;
	if ((sel = json_object_get(l, "selection"))) {
		size_t k = 0;
		for (; k < sizeof(lime_selections) / sizeof(lime_selections[0]); k++)
			if (json_is_string(sel) &&
			    !strcmp(json_string_value(sel), lime_selections[k]))
				break;
		if (k == sizeof(lime_selections) / sizeof(lime_selections[0]))
			return -EINVAL;
		c->selection = (enum ex_lime_selection)k;
	}
	return 0;
}

static int run_method(struct run *r, const char *m, json_t *o, char *err, size_t err_size)
{
	if (!strcmp(m, "treeshap") || !strcmp(m, "treeshap-interventional") || !strcmp(m, "linear"))
		return do_exact(r, m, o, err, err_size);
	if (!strcmp(m, "kernelshap") || !strcmp(m, "permutation"))
		return do_sampled(r, m, o, err, err_size);
	if (!strcmp(m, "counterfactual"))
		return do_counterfactual(r, o, err, err_size);
	if (!strcmp(m, "adversarial"))
		return do_adversarial(r, o, err, err_size);
	if (!strcmp(m, "lime"))
		return do_lime(r, o, err, err_size);
	snprintf(err, err_size, "%s is not a method audits run", m);
	return -ENOTSUP;
}

/* Every method the rule asks for except the flip test (which the fast phase runs), each
 * once, into r's own results. */
static void *slow_main(void *arg)
{
	struct run *r = arg;
	char err[AUDIT_ERR_MAX];

	if (r->iv) {
		int rc = interventional(r, r->iv->phi);
		pthread_mutex_lock(&r->iv->lock);
		r->iv->rc = rc;
		r->iv->done = true;
		pthread_cond_signal(&r->iv->cond);
		pthread_mutex_unlock(&r->iv->lock);
	}
	if (r->fl) {
		flip_on_second_thread(r);
		/* the verdict first: a production system may be waiting for it */
		pthread_mutex_lock(&r->fl->lock);
		while (!r->fl->decided)
			pthread_cond_wait(&r->fl->cond, &r->fl->lock);
		pthread_mutex_unlock(&r->fl->lock);
	}
	for (size_t i = 0; i < r->rq->n_methods; i++) {
		const char *m = r->rq->methods[i];
		if (!strcmp(m, "flip") || json_object_get(r->results, m) ||
		    (!r->am->m && !strcmp(m, "kernelshap"))) /* the fast phase's attribution */
			continue;
		json_t *o = json_object();
		double t0 = now_ms();
		err[0] = 0;
		int rc = run_method(r, m, o, err, sizeof(err));
		timed(r, m, t0);
		if (rc < 0) {
			method_failed(r, m, rc, err);
			json_decref(o);
		} else {
			json_object_set_new(r->results, m, o);
			r->ran_any = true;
		}
	}
	return NULL;
}

/* The model on the record: the features' facts from the background, the prediction and its
 * decision, whether they reproduce the recorded scores (a reason for review when not), the
 * lineage warnings. Returns 0, or a negative errno once recorded in r (nothing can be
 * explained then). */
static int on_record(struct run *r, json_t *vreasons)
{
	const struct audit_model *am = r->am;
	const struct audit_background *bg = r->bg;
	const struct audit_request *rq = r->rq;
	char err[AUDIT_ERR_MAX] = "";
	int rc = bg->n ? ex_feature_info_from_rows(bg->rows, bg->n, am->M, r->info) : -EINVAL;

	if (rc < 0) {
		method_failed(r, "background", rc,
		              bg->n ? ""
		                    : "no background rows (no reference data registered and no "
		                      "recent records of this version)");
		return rc;
	}
	for (size_t j = 0; j < am->M; j++) {
		r->info[j].immutable = am->immutable[j];
		r->info[j].categorical = am->categorical[j];
	}
	rc = am->f.predict(am->f.userdata, rq->x, 1, r->fx, err, sizeof(err));
	if (rc < 0) {
		method_failed(r, "prediction", rc, err);
		return rc;
	}
	r->decision = ex_decide(&am->d, r->fx, am->G);
	r->out = am->d.argmax ? (size_t)r->decision : 0;
	json_object_set_new(r->results, "prediction", aj_reals(r->fx, am->G));
	json_object_set_new(r->results, "decision", json_integer(r->decision));
	json_object_set_new(r->results, "decision_label",
	                    r->decision >= 0 && (size_t)r->decision < am->n_labels
	                        ? json_string(am->labels[r->decision])
	                        : json_null());
	json_object_set_new(r->results, "recorded_scores", aj_reals(rq->scores, rq->n_scores));
	bool match = scores_match(r);
	json_object_set_new(r->results, "score_matches", json_boolean(match));
	if (!match && rq->n_scores != am->G) {
		char buf[160];
		snprintf(buf, sizeof(buf),
		         "the record carries %zu score(s) but the model has %zu output(s): the "
		         "recorded decision cannot be checked against the artifact",
		         rq->n_scores, am->G);
		json_array_append_new(vreasons, json_string(buf));
	} else if (!match) {
		json_array_append_new(
		    vreasons, json_string("the registered artifact does not reproduce the "
		                          "recorded score: the decision was not made by this "
		                          "model version as registered"));
	}
	json_t *lw = json_array();
	for (size_t i = 0; i < am->n_lineage_warnings; i++)
		json_array_append_new(lw, json_string(am->lineage_warnings[i]));
	json_object_set_new(r->results, "lineage_warnings", lw);
	return 0;
}

/* The methods the rule asks for beyond the flip test run on a second thread while this one
 * computes what the verdict needs: both only read the shared state (model, x, prediction,
 * feature info), and each keeps its own results, merged after the join (the document does
 * not depend on which finished first). Prepares that: the sampled methods' background
 * summary, shared read-only by both threads; the slot of the interventional attribution
 * (trees); and slow, r's copy with results of its own. Returns 0 or -ENOMEM. */
static int prepare_slow(struct run *r, struct run *slow, struct shared_iv *iv,
                        struct shared_flip *fl)
{
	const struct audit_model *am = r->am;
	const struct audit_background *bg = r->bg;
	const struct audit_request *rq = r->rq;

	if (!am->m || wants(rq, "kernelshap") || wants(rq, "permutation")) {
		size_t k = bg->n < am->background_size ? bg->n : am->background_size;
		r->sbg = malloc(k * am->M * sizeof(double));
		r->sw = malloc(k * sizeof(double));
		r->se = malloc(am->M * sizeof(double));
		if (!r->sbg || !r->sw || !r->se ||
		    ex_background_summarize(bg->rows, bg->n, am->M, r->info, am->background_size,
		                            rq->seed, r->sbg, r->sw, &r->n_sbg) < 0)
			return -ENOMEM;
	}
	if (am->m && ex_model_is_trees(am->m)) {
		iv->phi = malloc(am->M * am->G * sizeof(double));
		if (!iv->phi)
			return -ENOMEM;
		r->iv = iv;
	}
	fl->phi = r->phi;
	r->fl = fl;
	*slow = *r;
	slow->phi = NULL; /* the fast phase's, being written */
	slow->results = json_object();
	slow->reasons = json_array();
	slow->timings = json_object();
	slow->fragile_names = NULL;
	slow->failed_any = slow->ran_any = false;
	return slow->results && slow->reasons && slow->timings ? 0 : -ENOMEM;
}

/* The fast phase's attribution into r->phi and the bases: every output's exact attribution
 * once, or through an oracle KernelSHAP (reported as the kernelshap method). Returns 0, or a
 * negative errno once recorded in r. */
static int attribute(struct run *r, double *base)
{
	const struct audit_model *am = r->am;
	const struct audit_request *rq = r->rq;
	char err[AUDIT_ERR_MAX] = "";
	double t0 = now_ms();
	int rc;

	if (!am->m) {
		json_t *ko = json_object();
		rc =
		    sampled(r, "kernelshap", 0, ko, r->phi, r->se, &base[r->out], err, sizeof(err));
		if (rc >= 0) {
			json_object_set_new(r->results, "kernelshap", ko);
			r->ran_any |= wants(rq, "kernelshap");
		} else {
			json_decref(ko);
		}
		timed(r, "attribution", t0);
		if (rc < 0)
			method_failed(r, "kernelshap", rc, err);
		return rc < 0 ? rc : 0;
	}
	double *all = malloc(am->M * am->G * sizeof(double));
	rc = all ? (ex_model_is_trees(am->m)
	                ? ex_treeshap(am->m, rq->x, all, base)
	                : ex_linear_shap(am->m, rq->x, r->bg->rows, r->bg->n, all, base))
	         : -ENOMEM;
	if (rc >= 0)
		memcpy(r->phi, all + r->out * am->M, am->M * sizeof(double));
	free(all);
	timed(r, "attribution", t0);
	if (rc < 0)
		method_failed(r, ex_model_is_trees(am->m) ? "treeshap" : "linear", rc, "");
	return rc < 0 ? rc : 0;
}

/* The flip test in place (no second thread); a decision a low-importance feature flips is
 * a reason for review. */
static void flip_phase(struct run *r, json_t *vreasons)
{
	char err[AUDIT_ERR_MAX] = "";
	json_t *fo = json_object();
	double t0 = now_ms();
	int rc = fo ? do_flip(r, fo, err, sizeof(err)) : -ENOMEM;

	flip_record(r, vreasons, rc, err, fo, now_ms() - t0);
}

/* The fast phase's verdict: REVIEW with the reasons gathered (the confidence below the rule's
 * review_below first), PROCEED without any; recorded in the results and told to
 * rq->on_verdict. conf is NULL when the confidence could not be computed. */
static void decide(struct run *r, const struct ex_confidence *conf, json_t *vreasons, double t_all)
{
	const struct audit_request *rq = r->rq;
	struct audit_verdict v = {.confidence = conf ? conf->c : NAN};

	if (!conf)
		json_array_append_new(vreasons,
		                      json_string("the confidence could not be computed"));
	else if (isfinite(rq->review_below) && conf->c < rq->review_below) {
		char buf[160];
		snprintf(buf, sizeof(buf), "confidence %.3f is below the rule's review_below %.3g",
		         conf->c, rq->review_below);
		json_array_insert_new(vreasons, 0, json_string(buf));
	}
	v.review = json_array_size(vreasons) > 0;
	if (!v.review) {
		char buf[160];
		snprintf(buf, sizeof(buf), "confidence %.3f, not fragile, no unusual attribution",
		         conf->c);
		json_array_append_new(vreasons, json_string(buf));
	}
	json_t *vo = json_object();
	json_object_set_new(vo, "action", json_string(v.review ? "REVIEW" : "PROCEED"));
	json_object_set_new(vo, "confidence", aj_real(v.confidence));
	json_object_set_new(vo, "reasons", json_incref(vreasons));
	json_object_set_new(r->results, "verdict", vo);
	v.reasons = vreasons;
	r->ran_any = true; /* a verdict: the audit is at least partial */
	json_object_set_new(r->timings, "fast_phase", json_real(now_ms() - t_all));
	if (rq->on_verdict)
		rq->on_verdict(rq->userdata, &v);
}

/* What the verdict needs: the attribution, the flip test, the confidence, the baseline, then
 * the verdict. Without an attribution nothing else runs. */
static void fast_phase(struct run *r, const char *digest, json_t *vreasons, double t_all)
{
	char err[AUDIT_ERR_MAX] = "";
	struct ex_confidence conf = {.c = NAN};
	double base[1024], t0; /* audit_run checks G <= 1024 */
	int rc;

	if (attribute(r, base) < 0) {
		flip_release(r, false);
		return;
	}
	if (r->fl)
		flip_release(r, true); /* the second thread runs it meanwhile */
	else
		flip_phase(r, vreasons);
	t0 = now_ms();
	rc = confidence(r, base[r->out], &conf, vreasons, err, sizeof(err));
	flip_join(r, vreasons);
	timed(r, "confidence", t0);
	if (rc < 0)
		method_failed(r, "confidence", rc, err);
	baseline(r, digest, vreasons);
	decide(r, rc < 0 ? NULL : &conf, vreasons, t_all);
}

/* The other methods, on their thread since the start (thread), or run here when it could not
 * start (NULL); their results merged into r's. */
static void join_slow(struct run *r, struct run *slow, pthread_t *thread)
{
	if (thread)
		pthread_join(*thread, NULL);
	else
		slow_main(slow);
	json_object_update(r->results, slow->results);
	json_array_extend(r->reasons, slow->reasons);
	json_object_update(r->timings, slow->timings);
	r->failed_any |= slow->failed_any;
	r->ran_any |= slow->ran_any;
}

/* The suggested guard (audit.h), from the results once every method is in. */
static int suggest_guard(struct run *r)
{
	const struct audit_model *am = r->am;
	const struct audit_request *rq = r->rq;
	struct audit_guard_input in = {.model_id = am->model_id,
	                               .version = am->version,
	                               .incident_id = rq->incident_id,
	                               .names = names(r),
	                               .categorical = am->categorical,
	                               .M = am->M,
	                               .x = rq->x,
	                               .scores = rq->scores,
	                               .n_scores = rq->n_scores,
	                               .decision = rq->decision};
	json_t *g;
	int rc = audit_suggest_guard(r->results, &in, &g);

	if (rc >= 0 && g)
		json_object_set_new(r->results, "suggested_guard", g);
	return rc;
}

/* The document's results, status, reasons and timings (r's are moved into doc). */
static void finish_doc(json_t *doc, struct run *r, enum audit_status *ret_status, double t_all)
{
	json_object_set_new(doc, "results", r->results);
	r->results = NULL;
	*ret_status = !r->failed_any ? AUDIT_COMPLETE : r->ran_any ? AUDIT_PARTIAL : AUDIT_FAILED;
	json_object_set_new(doc, "status", json_string(audit_status_name(*ret_status)));
	json_object_set_new(doc, "reasons", r->reasons);
	r->reasons = NULL;
	json_object_set_new(r->timings, "total", json_real(now_ms() - t_all));
	json_object_set_new(doc, "timings_ms", r->timings);
	r->timings = NULL;
}

int audit_run(const struct audit_model *am, const struct audit_background *bg,
              const struct audit_request *rq, json_t **ret_doc, enum audit_status *ret_status)
{
	struct run r = {.am = am, .bg = bg, .rq = rq}, slow = {0};
	json_t *doc = json_object(), *vreasons = json_array();
	char digest[65];
	double t_all = now_ms();
	struct shared_iv iv = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct shared_flip fl = {.lock = PTHREAD_MUTEX_INITIALIZER,
	                         .cond = PTHREAD_COND_INITIALIZER};
	pthread_t slow_thread;
	int rc;

	*ret_doc = NULL;
	r.results = json_object();
	r.reasons = json_array();
	r.timings = json_object();
	r.info = calloc(am->M, sizeof(*r.info));
	r.fx = malloc(am->G * sizeof(double));
	r.phi = malloc(am->M * sizeof(double));
	if (!doc || !vreasons || !r.results || !r.reasons || !r.timings || !r.info || !r.fx ||
	    !r.phi || am->G > 1024) {
		rc = -ENOMEM;
		goto out;
	}
	ex_background_digest(bg->rows, NULL, bg->n, am->M, digest);
	json_object_set_new(doc, "incident_id", aj_u64(rq->incident_id));
	json_object_set_new(doc, "record_seq", aj_u64(rq->record_seq));
	json_object_set_new(doc, "model_id", json_string(am->model_id));
	json_object_set_new(doc, "model_version", json_string(am->version));
	json_object_set_new(doc, "params", params_json(&r, digest));
	if (on_record(&r, vreasons) == 0) {
		if ((rc = prepare_slow(&r, &slow, &iv, &fl)) < 0)
			goto out;
		bool started = pthread_create(&slow_thread, NULL, slow_main, &slow) == 0;
		if (!started)
			r.iv = slow.iv = NULL, r.fl = slow.fl = NULL; /* computed in place then */
		fast_phase(&r, digest, vreasons, t_all);
		if (r.fl) {
			pthread_mutex_lock(&fl.lock);
			fl.decided = true;
			pthread_cond_broadcast(&fl.cond);
			pthread_mutex_unlock(&fl.lock);
		}
		join_slow(&r, &slow, started ? &slow_thread : NULL);
		if ((rc = suggest_guard(&r)) < 0)
			goto out;
	}
	finish_doc(doc, &r, ret_status, t_all);
	*ret_doc = doc;
	doc = NULL;
	rc = 0;
out:
	json_decref(slow.results);
	json_decref(slow.reasons);
	json_decref(slow.timings);
	json_decref(doc);
	json_decref(vreasons);
	json_decref(r.results);
	json_decref(r.reasons);
	json_decref(r.timings);
	json_decref(r.fragile_names);
	json_decref(fl.fo);
	json_decref(fl.fragile_names);
	free(r.sbg);
	free(r.sw);
	free(r.se);
	free(iv.phi);
	free(r.info);
	free(r.fx);
	free(r.phi);
	return rc;
}

char *audit_results_canonical(const json_t *doc)
{
	const json_t *res = json_object_get(doc, "results");
	return res ? json_dumps(res, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17))
	           : NULL;
}

/* v (a new reference) with only the members `like` has, recursively; v itself where like is
 * not of the same kind. NULL when out of memory. */
static json_t *as_recorded(json_t *v, const json_t *like)
{
	if (json_is_object(v) && json_is_object(like)) {
		json_t *o = json_object();
		const char *k;
		json_t *m;
		json_object_foreach(v, k, m)
		{
			const json_t *lm = json_object_get(like, k);
			if (lm && (!o || json_object_set_new(o, k, as_recorded(m, lm)) < 0)) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	if (json_is_array(v) && json_is_array(like)) {
		json_t *a = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			const json_t *le = json_array_get(like, i);
			if (!a || json_array_append_new(a, le ? as_recorded(e, le)
			                                      : json_incref(e)) < 0) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	return json_incref(v);
}

json_t *audit_results_as_recorded(const json_t *doc, const json_t *recorded)
{
	json_t *copy = json_copy((json_t *)doc), *res = json_object_get(doc, "results"),
	       *like = json_object_get(recorded, "results");

	if (!copy || !res || !like)
		return copy;
	if (json_object_set_new(copy, "results", as_recorded(res, like)) < 0) {
		json_decref(copy);
		return NULL;
	}
	return copy;
}

const char *audit_status_name(enum audit_status s)
{
	switch (s) {
	case AUDIT_COMPLETE:
		return "complete";
	case AUDIT_PARTIAL:
		return "partial";
	default:
		return "failed";
	}
}
