/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for daemon/audit/audit.c: loading a registered model for audits (framework, artifact
 * and manifest checks, the probability threshold mapped to a margin, lineage warnings, labels),
 * reference data matched to the model's features by name, and the audit itself on a logistic
 * model whose answers are known in closed form (phi_i = beta_i (x_i - mean x_i)), with the
 * verdict, the flip test, the baseline outliers, LIME on the second thread (explain's result,
 * its recorded parameters, a verdict that does not wait for it), method failures, determinism
 * and the canonical bytes replay compares; the suggested guard built from the results (the
 * failure region's box, else the dominant feature's counterfactual threshold), checked with
 * the trigger library against the audited record. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "evident_version.h"
#include "testutil.h"
#include "trigger.h"

/* ------------------------------------------------------------------ fixtures */

#define M4    4
#define N_BG  50
#define INTER (-1.0)

static const char *const NAMES[M4] = {"income", "debt", "age", "tenure"};
static const double COEF[M4] = {2, -1.5, 1, 0.25};

static const char LOGIT_MODEL[] =
    "{\"intercept\": -1, \"coef\": [2, -1.5, 1, 0.25], \"link\": \"logit\", "
    "\"feature_names\": [\"income\", \"debt\", \"age\", \"tenure\"]}";

/* One XGBoost tree on two numeric features: a < 0.5 -> -1; else b < 0 -> 0.5, else 1.5;
 * binary:logistic with base_score 0.5 (margin 0). */
static const char TREE_MODEL[] =
    "{\"learner\":{\"attributes\":{},\"feature_names\":[\"a\",\"b\"],"
    "\"feature_types\":[\"float\",\"float\"],"
    "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_trees\":\"1\"},"
    "\"tree_info\":[0],\"trees\":[{"
    "\"base_weights\":[0,0,0,0,0],\"categories\":[],\"categories_nodes\":[],"
    "\"categories_segments\":[],\"categories_sizes\":[],"
    "\"default_left\":[1,0,0,0,0],\"id\":0,"
    "\"left_children\":[1,-1,3,-1,-1],\"right_children\":[2,-1,4,-1,-1],"
    "\"loss_changes\":[1,0,1,0,0],\"parents\":[2147483647,0,0,2,2],"
    "\"split_conditions\":[0.5,-1,0,0.5,1.5],\"split_indices\":[0,0,1,0,0],"
    "\"split_type\":[0,0,0,0,0],\"sum_hessian\":[10,4,6,2,4],"
    "\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"2\",\"num_nodes\":\"5\","
    "\"size_leaf_vector\":\"0\"}}]},\"name\":\"gbtree\"},"
    "\"learner_model_param\":{\"base_score\":\"5E-1\",\"num_class\":\"0\","
    "\"num_feature\":\"2\",\"num_target\":\"1\"},"
    "\"objective\":{\"name\":\"binary:logistic\",\"reg_loss_param\":{}}},"
    "\"version\":[2,0,3]}";

/* A manifest with its parts in one place (protobuf-c messages point at each other). */
struct mf {
	Evident__V1__ModelManifest m;
	Evident__V1__Feature f[8];
	Evident__V1__Feature *fp[8];
	Evident__V1__DecisionRule d;
	Evident__V1__Lineage l;
};

/* framework linear-json, output space probability, THRESHOLD 0.5 "hold"/"sell", full
 * lineage, the four features above. */
static void mf_init(struct mf *s)
{
	static const Evident__V1__ModelManifest m0 = EVIDENT__V1__MODEL_MANIFEST__INIT;
	static const Evident__V1__Feature f0 = EVIDENT__V1__FEATURE__INIT;
	static const Evident__V1__DecisionRule d0 = EVIDENT__V1__DECISION_RULE__INIT;
	static const Evident__V1__Lineage l0 = EVIDENT__V1__LINEAGE__INIT;

	s->m = m0;
	s->d = d0;
	s->l = l0;
	for (size_t j = 0; j < 8; j++) {
		s->f[j] = f0;
		s->fp[j] = &s->f[j];
	}
	for (size_t j = 0; j < M4; j++)
		s->f[j].name = (char *)NAMES[j];
	s->m.model_id = "credit";
	s->m.version = "v7";
	s->m.framework = "linear-json";
	s->m.output_space = "probability";
	s->m.artifact_sha256 = "5d41402abc4b2a76b9719d911017c592"
	                       "5d41402abc4b2a76b9719d911017c592";
	s->m.n_features = M4;
	s->m.features = s->fp;
	s->d.has_kind = 1;
	s->d.kind = EVIDENT__V1__DECISION_RULE__KIND__THRESHOLD;
	s->d.has_threshold = 1;
	s->d.threshold = 0.5;
	s->d.label_below = "hold";
	s->d.label_above = "sell";
	s->m.decision = &s->d;
	s->l.training_data_sha256 = "aa11";
	s->l.code_commit = "0123abcd";
	s->m.lineage = &s->l;
}

static struct audit_model *load_ok(const struct mf *s, const char *artifact)
{
	struct audit_model *am = (struct audit_model *)1;
	char err[AUDIT_ERR_MAX] = "";
	int rc = audit_model_new(&s->m, artifact, strlen(artifact), &am, err, sizeof(err));

	ck_assert_msg(rc == 0, "audit_model_new: %d (%s)", rc, err);
	ck_assert_ptr_nonnull(am);
	return am;
}

/* N_BG rows of four features, each column a permutation of 50 evenly spaced values in
 * [-1, 1] (mean about 0, mean |deviation| about 0.5, MAD about 0.5). */
static void fill_bg(double *bg, size_t M)
{
	static const unsigned P[M4] = {1, 7, 11, 13}, Q[M4] = {0, 3, 5, 9};

	for (size_t i = 0; i < N_BG; i++)
		for (size_t j = 0; j < M; j++)
			bg[i * M + j] = (double)((i * P[j] + Q[j]) % N_BG) / (N_BG - 1) * 2 - 1;
}

static double margin_of(const double *x)
{
	double m = INTER;
	for (size_t j = 0; j < M4; j++)
		m += COEF[j] * x[j];
	return m;
}

static double sigmoid(double m)
{
	return 1 / (1 + exp(-m));
}

/* Far from the threshold, every contribution clear of the others and of zero, none unusual. */
static const double X_SEP[M4] = {0.8, -0.6, 0.4, 0.3};
/* Margin 0.01: tenure (phi 0.01 of sum |phi| 1.01, "low importance") flips the decision by
 * moving 0.04, about 0.08 MAD. */
static const double X_FRAGILE[M4] = {0.3, -0.2, 0.1, 0.04};
/* income far outside the background: phi 10 against a usual level of about 1. */
static const double X_OUTLIER[M4] = {5, -0.6, 0.4, 0.3};

/* ------------------------------------------------------------------ JSON helpers */

/* "a.b.0.c": object keys and array indices. */
static json_t *jget(json_t *root, const char *path)
{
	char buf[256], *save = NULL;
	json_t *v = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); v && t; t = strtok_r(NULL, ".", &save)) {
		if (json_is_array(v))
			v = json_array_get(v, strtoul(t, NULL, 10));
		else
			v = json_object_get(v, t);
	}
	return v;
}

static double jnum(json_t *root, const char *path)
{
	json_t *v = jget(root, path);
	ck_assert_msg(json_is_number(v), "%s: not a number", path);
	return json_number_value(v);
}

static const char *jstr(json_t *root, const char *path)
{
	json_t *v = jget(root, path);
	ck_assert_msg(json_is_string(v), "%s: not a string", path);
	return json_string_value(v);
}

/* The index of the first string of array a containing needle, or -1. */
static int jfind(json_t *a, const char *needle)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		if (json_is_string(v) && strstr(json_string_value(v), needle))
			return (int)i;
	}
	return -1;
}

/* ------------------------------------------------------------------ running audits */

struct cb {
	int calls;
	bool review;
	double confidence;
	size_t n_reasons;
	double t_ms;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_verdict(void *ud, const struct audit_verdict *v)
{
	struct cb *c = ud;
	c->calls++;
	c->review = v->review;
	c->confidence = v->confidence;
	c->n_reasons = json_array_size(v->reasons);
	c->t_ms = now_ms();
}

struct call {
	const double *x;
	double score_offset; /* added to the right recorded score */
	const char *const *methods;
	size_t n_methods;
	uint64_t seed;
	double review_below;
	struct cb *cb;
	struct ex_lime_config lime; /* zeros: explain's defaults */
	const char *decision;       /* the record's decision string */
};

/* Runs one audit of the logistic model against bg (n rows); returns the document. */
static json_t *run(const struct audit_model *am, const double *bg, size_t n, const struct call *c,
                   enum audit_status *st)
{
	double score = sigmoid(margin_of(c->x)) + c->score_offset;
	struct audit_background b = {
	    .source = "reference_data", .rows = bg, .n = n, .sha256 = "ref-sha"};
	struct audit_request rq = {.incident_id = 42,
	                           .record_seq = 1000,
	                           .x = c->x,
	                           .scores = &score,
	                           .n_scores = 1,
	                           .methods = c->methods,
	                           .n_methods = c->n_methods,
	                           .seed = c->seed,
	                           .review_below = c->review_below,
	                           .lime = c->lime,
	                           .decision = c->decision,
	                           .on_verdict = c->cb ? on_verdict : NULL,
	                           .userdata = c->cb};
	json_t *doc = NULL;

	ck_assert_int_eq(audit_run(am, &b, &rq, &doc, st), 0);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(jstr(doc, "status"), audit_status_name(*st));
	return doc;
}

/* run() of the logistic model on the standard background (fill_bg). */
static json_t *run_logit(const struct call *c)
{
	struct mf s;
	double bg[N_BG * M4];
	enum audit_status st;

	mf_init(&s);
	struct audit_model *am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	json_t *doc = run(am, bg, N_BG, c, &st);
	audit_model_free(am);
	return doc;
}

static const char *const LINEAR_ONLY[] = {"linear"};

/* ------------------------------------------------------------------ audit_model_new */

START_TEST(audit_model_new_refuses_oracle_garbage_and_feature_mismatch)
{
	struct mf s;
	struct audit_model *am = (struct audit_model *)1;
	char err[AUDIT_ERR_MAX] = "";

	mf_init(&s);
	s.m.framework = "oracle";
	ck_assert_int_eq(
	    audit_model_new(&s.m, LOGIT_MODEL, strlen(LOGIT_MODEL), &am, err, sizeof(err)),
	    -ENOTSUP);
	ck_assert_ptr_null(am);
	ck_assert_msg(strstr(err, "\"oracle\""), "err: %s", err);
	s.m.framework = "sklearn-pickle";
	err[0] = 0;
	ck_assert_int_eq(
	    audit_model_new(&s.m, LOGIT_MODEL, strlen(LOGIT_MODEL), &am, err, sizeof(err)),
	    -ENOTSUP);
	ck_assert_msg(strstr(err, "\"sklearn-pickle\""), "err: %s", err);

	/* bytes that are no model of the framework */
	mf_init(&s);
	static const char garbage[] = "\x01\x02not json at all";
	err[0] = 0;
	am = (struct audit_model *)1;
	ck_assert_int_eq(audit_model_new(&s.m, garbage, sizeof(garbage) - 1, &am, err, sizeof(err)),
	                 -EBADMSG);
	ck_assert_ptr_null(am);
	ck_assert_msg(strlen(err) > 0, "no reason for a garbage artifact");
	static const char not_linear[] = "{\"weights\": [1, 2, 3, 4]}";
	err[0] = 0;
	ck_assert_int_eq(
	    audit_model_new(&s.m, not_linear, strlen(not_linear), &am, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "coef"), "err: %s", err);

	/* the manifest lists three features, the artifact has four */
	s.m.n_features = 3;
	err[0] = 0;
	am = (struct audit_model *)1;
	ck_assert_int_eq(
	    audit_model_new(&s.m, LOGIT_MODEL, strlen(LOGIT_MODEL), &am, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_ptr_null(am);
	ck_assert_msg(strstr(err, "4 features") && strstr(err, "manifest 3"), "err: %s", err);
	s.m.n_features = 5;
	ck_assert_int_eq(
	    audit_model_new(&s.m, LOGIT_MODEL, strlen(LOGIT_MODEL), &am, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_msg(strstr(err, "4 features") && strstr(err, "manifest 5"), "err: %s", err);
}
END_TEST

START_TEST(audit_model_new_maps_probability_thresholds_to_margins)
{
	struct mf s;
	struct audit_model *am;
	char err[AUDIT_ERR_MAX] = "";

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_uint_eq(am->M, 4);
	ck_assert_uint_eq(am->G, 1);
	ck_assert(!am->d.argmax);
	ck_assert(am->probability_scores);
	ck_assert_double_eq(am->d.threshold, 0); /* logit(0.5) */
	ck_assert_msg(strstr(am->decision_rule, "probability is >= 0.5"), "rule: %s",
	              am->decision_rule);
	audit_model_free(am);

	s.d.threshold = 0.8;
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_double_eq_tol(am->d.threshold, log(0.8 / 0.2), 1e-15);
	ck_assert_double_eq_tol(am->d.threshold, log(4.0), 1e-15);
	audit_model_free(am);

	/* no threshold given: probability 0.5 */
	s.d.has_threshold = 0;
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_double_eq(am->d.threshold, 0);
	audit_model_free(am);

	/* margin space: the threshold is used as is, scores are margins */
	s.d.has_threshold = 1;
	s.d.threshold = 0.8;
	s.m.output_space = "margin";
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_double_eq(am->d.threshold, 0.8);
	ck_assert(!am->probability_scores);
	audit_model_free(am);

	/* a probability threshold outside (0, 1) has no margin */
	s.m.output_space = "probability";
	s.d.threshold = 1.5;
	am = (struct audit_model *)1;
	ck_assert_int_eq(
	    audit_model_new(&s.m, LOGIT_MODEL, strlen(LOGIT_MODEL), &am, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_ptr_null(am);
	ck_assert_msg(strstr(err, "1.5"), "err: %s", err);
}
END_TEST

START_TEST(audit_model_new_lineage_warnings)
{
	struct mf s;
	struct audit_model *am;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_uint_eq(am->n_lineage_warnings, 0);
	audit_model_free(am);

	s.m.lineage = NULL;
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_uint_eq(am->n_lineage_warnings, 2);
	ck_assert_msg(strstr(am->lineage_warnings[0], "training-data hash"), "%s",
	              am->lineage_warnings[0]);
	ck_assert_msg(strstr(am->lineage_warnings[1], "code commit"), "%s",
	              am->lineage_warnings[1]);
	audit_model_free(am);

	/* an empty hash counts as none; the commit is there */
	mf_init(&s);
	s.l.training_data_sha256 = "";
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_uint_eq(am->n_lineage_warnings, 1);
	ck_assert_ptr_nonnull(strstr(am->lineage_warnings[0], "training-data hash"));
	audit_model_free(am);

	mf_init(&s);
	s.l.code_commit = NULL;
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_uint_eq(am->n_lineage_warnings, 1);
	ck_assert_ptr_nonnull(strstr(am->lineage_warnings[0], "code commit"));
	audit_model_free(am);
}
END_TEST

START_TEST(audit_model_new_copies_labels_and_features)
{
	struct mf s;
	struct audit_model *am;

	mf_init(&s);
	s.f[1].immutable = 1;
	s.f[1].has_immutable = 1;
	s.f[2].has_type = 1;
	s.f[2].type = EVIDENT__V1__FEATURE__TYPE__CATEGORICAL;
	s.f[3].has_min = 1;
	s.f[3].min = -2;
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_uint_eq(am->n_labels, 2);
	ck_assert_str_eq(am->labels[0], "hold");
	ck_assert_str_eq(am->labels[1], "sell");
	ck_assert_msg(strstr(am->decision_rule, "sell when") && strstr(am->decision_rule, "hold"),
	              "rule: %s", am->decision_rule);
	for (size_t j = 0; j < M4; j++)
		ck_assert_str_eq(am->names[j], NAMES[j]);
	ck_assert(!am->immutable[0] && am->immutable[1]);
	ck_assert(!am->categorical[1] && am->categorical[2]);
	ck_assert_double_eq(am->train_min[3], -2);
	ck_assert(isnan(am->train_max[3]) && isnan(am->train_min[0]));
	ck_assert_str_eq(am->artifact_sha256, s.m.artifact_sha256);
	ck_assert_str_eq(am->model_id, "credit");
	ck_assert_str_eq(am->version, "v7");
	audit_model_free(am);

	/* no labels: "0" below, "1" above */
	s.d.label_below = NULL;
	s.d.label_above = "";
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert_str_eq(am->labels[0], "0");
	ck_assert_str_eq(am->labels[1], "1");
	audit_model_free(am);

	/* argmax rules take the class labels */
	char *classes[] = {"low", "high"};
	s.d.kind = EVIDENT__V1__DECISION_RULE__KIND__ARGMAX;
	s.d.n_class_labels = 2;
	s.d.class_labels = classes;
	am = load_ok(&s, LOGIT_MODEL);
	ck_assert(am->d.argmax);
	ck_assert_uint_eq(am->n_labels, 2);
	ck_assert_str_eq(am->labels[1], "high");
	audit_model_free(am);
}
END_TEST

/* ------------------------------------------------------------------ audit_reference_rows */

START_TEST(audit_reference_rows_matches_columns_by_name)
{
	struct mf s;
	struct audit_model *am;
	char err[AUDIT_ERR_MAX] = "";
	double *rows = NULL;
	size_t n = 0;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	/* the model's columns in another order, plus one it does not use */
	static const char csv[] = "tenure,extra,debt,income,age\n"
	                          "4,99,2,1,3\n"
	                          "40,-99,20,10,30\n"
	                          "0.5,0,-1.25,7,1e3\n";
	ck_assert_int_eq(audit_reference_rows(am, csv, strlen(csv), &rows, &n, err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(n, 3);
	static const double want[3][M4] = {{1, 2, 3, 4}, {10, 20, 30, 40}, {7, -1.25, 1e3, 0.5}};
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < M4; j++)
			ck_assert_double_eq(rows[i * M4 + j], want[i][j]);
	free(rows);
	rows = NULL;

	/* JSON rows with names are matched the same way */
	static const char js[] = "{\"feature_names\": [\"age\", \"income\", \"tenure\", \"debt\"],"
	                         " \"rows\": [[3, 1, 4, 2], [30, 10, 40, 20]]}";
	ck_assert_int_eq(audit_reference_rows(am, js, strlen(js), &rows, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < M4; j++)
			ck_assert_double_eq(rows[i * M4 + j], want[i][j]);
	free(rows);
	audit_model_free(am);
}
END_TEST

START_TEST(audit_reference_rows_refuses_missing_columns_and_empty_data)
{
	struct mf s;
	struct audit_model *am;
	char err[AUDIT_ERR_MAX] = "";
	double *rows = NULL;
	size_t n = 0;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	static const char no_age[] = "tenure,debt,income\n1,2,3\n";
	ck_assert_int_eq(
	    audit_reference_rows(am, no_age, strlen(no_age), &rows, &n, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_msg(strstr(err, "\"age\""), "err: %s", err);
	ck_assert_ptr_null(rows);

	/* nothing at all */
	err[0] = 0;
	int rc = audit_reference_rows(am, "", 0, &rows, &n, err, sizeof(err));
	ck_assert_int_lt(rc, 0);
	ck_assert_int_ne(rc, -ENOMEM);
	ck_assert_msg(strlen(err) > 0, "no reason for empty data");
	ck_assert_ptr_null(rows);

	/* a header and no rows */
	static const char header[] = "income,debt,age,tenure\n";
	err[0] = 0;
	ck_assert_int_eq(
	    audit_reference_rows(am, header, strlen(header), &rows, &n, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_msg(strstr(err, "no rows"), "err: %s", err);
	ck_assert_ptr_null(rows);

	/* an empty JSON list */
	err[0] = 0;
	ck_assert_int_lt(audit_reference_rows(am, "[]", 2, &rows, &n, err, sizeof(err)), 0);
	ck_assert_msg(strlen(err) > 0, "no reason for []");
	ck_assert_ptr_null(rows);
	audit_model_free(am);
}
END_TEST

/* ------------------------------------------------------------------ audit_run */

START_TEST(audit_run_linear_closed_form_and_proceed)
{
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4], mean[M4] = {0};
	enum audit_status st;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	for (size_t i = 0; i < N_BG; i++)
		for (size_t j = 0; j < M4; j++)
			mean[j] += bg[i * M4 + j] / N_BG;
	struct call c = {
	    .x = X_SEP, .methods = LINEAR_ONLY, .n_methods = 1, .seed = 7, .review_below = 0.9};
	json_t *doc = run(am, bg, N_BG, &c, &st);
	json_t *res = json_object_get(doc, "results");

	ck_assert_int_eq(st, AUDIT_COMPLETE);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "reasons")), 0);
	ck_assert_int_eq(jnum(doc, "incident_id"), 42);
	ck_assert_int_eq(jnum(doc, "record_seq"), 1000);
	ck_assert_str_eq(jstr(doc, "model_id"), "credit");
	ck_assert_str_eq(jstr(doc, "model_version"), "v7");

	/* the closed form */
	double base = INTER;
	for (size_t j = 0; j < M4; j++) {
		char p[64];
		snprintf(p, sizeof(p), "linear.phi.0.%zu", j);
		ck_assert_double_eq_tol(jnum(res, p), COEF[j] * (X_SEP[j] - mean[j]), 1e-12);
		base += COEF[j] * mean[j];
	}
	ck_assert_double_eq_tol(jnum(res, "linear.base_value.0"), base, 1e-12);
	ck_assert_double_eq_tol(jnum(res, "prediction.0"), margin_of(X_SEP), 1e-12);
	ck_assert_double_eq_tol(jnum(res, "linear.prediction.0"), margin_of(X_SEP), 1e-12);
	ck_assert_int_eq(jnum(res, "decision"), 1);
	ck_assert_str_eq(jstr(res, "decision_label"), "sell");
	ck_assert_double_eq_tol(jnum(res, "recorded_scores.0"), sigmoid(margin_of(X_SEP)), 1e-15);
	ck_assert(json_is_true(json_object_get(res, "score_matches")));
	ck_assert_uint_eq(json_array_size(json_object_get(res, "lineage_warnings")), 0);

	/* exact attribution, every contribution clear of the others: C = 1 */
	ck_assert_double_eq(jnum(res, "confidence.c"), 1);
	ck_assert_double_eq(jnum(res, "confidence.p_est"), 1);
	ck_assert_double_eq(jnum(res, "confidence.p_noise"), 1);
	ck_assert_double_eq(jnum(res, "confidence.a_method"), 1);
	ck_assert_str_eq(jstr(res, "confidence.a_method_against"), "closed form");
	ck_assert(json_is_true(jget(res, "confidence.gate")));
	ck_assert_uint_eq(json_array_size(jget(res, "confidence.gates_failed")), 0);
	ck_assert(json_is_false(jget(res, "confidence.fragile")));
	ck_assert(json_is_false(jget(res, "confidence.capped")));
	ck_assert(json_is_false(jget(res, "flip.fragile")));
	ck_assert_uint_eq(json_array_size(jget(res, "flip.fragile_features")), 0);
	ck_assert_uint_eq(json_array_size(jget(res, "baseline.outliers")), 0);

	/* PROCEED: confidence 1 is not below review_below 0.9 */
	ck_assert_str_eq(jstr(res, "verdict.action"), "PROCEED");
	ck_assert_double_eq(jnum(res, "verdict.confidence"), 1);
	json_t *vr = jget(res, "verdict.reasons");
	ck_assert_uint_eq(json_array_size(vr), 1);
	ck_assert_int_eq(jfind(vr, "not fragile"), 0);
	ck_assert_int_eq(jfind(vr, "review_below"), -1);

	/* the parameters */
	json_t *p = json_object_get(doc, "params");
	ck_assert_uint_eq(json_array_size(json_object_get(p, "methods")), 1);
	ck_assert_str_eq(jstr(p, "methods.0"), "linear");
	ck_assert_int_eq(jnum(p, "seed"), 7);
	ck_assert_double_eq(jnum(p, "threshold"), 0);
	ck_assert_double_eq(jnum(p, "review_below"), 0.9);
	ck_assert_msg(strstr(jstr(p, "decision_rule"), "sell when the probability is >= 0.5"), "%s",
	              jstr(p, "decision_rule"));
	ck_assert_str_eq(jstr(p, "artifact_sha256"), s.m.artifact_sha256);
	ck_assert_str_eq(jstr(p, "background.source"), "reference_data");
	ck_assert_int_eq(jnum(p, "background.rows"), N_BG);
	ck_assert_str_eq(jstr(p, "background.sha256"), "ref-sha");
	ck_assert_ptr_null(jget(p, "background.seqs"));
	char digest[65];
	ex_background_digest(bg, NULL, N_BG, M4, digest);
	ck_assert_str_eq(jstr(p, "background.digest"), digest);
	ck_assert_str_eq(jstr(p, "software"), "evidentd " EVIDENT_VERSION);
	ck_assert(json_is_number(jget(doc, "timings_ms.total")));
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

START_TEST(audit_run_recent_records_background_and_no_review_below)
{
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4], score;
	uint64_t seqs[N_BG];
	enum audit_status st;
	json_t *doc = NULL;

	mf_init(&s);
	s.m.lineage = NULL;
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	for (size_t i = 0; i < N_BG; i++)
		seqs[i] = 500 + 2 * i;
	score = sigmoid(margin_of(X_SEP));
	struct audit_background b = {
	    .source = "recent_records", .rows = bg, .n = N_BG, .seqs = seqs};
	struct audit_request rq = {.x = X_SEP,
	                           .scores = &score,
	                           .n_scores = 1,
	                           .methods = LINEAR_ONLY,
	                           .n_methods = 1,
	                           .review_below = NAN};
	ck_assert_int_eq(audit_run(am, &b, &rq, &doc, &st), 0);
	ck_assert_int_eq(st, AUDIT_COMPLETE);
	ck_assert_str_eq(jstr(doc, "params.background.source"), "recent_records");
	ck_assert_ptr_null(jget(doc, "params.background.sha256"));
	ck_assert_uint_eq(json_array_size(jget(doc, "params.background.seqs")), N_BG);
	ck_assert_int_eq(jnum(doc, "params.background.seqs.49"), 598);
	ck_assert(json_is_null(jget(doc, "params.review_below")));
	/* lineage warnings are reported with the results */
	json_t *lw = jget(doc, "results.lineage_warnings");
	ck_assert_uint_eq(json_array_size(lw), 2);
	ck_assert_int_eq(jfind(lw, "training-data hash"), 0);
	ck_assert_int_eq(jfind(lw, "code commit"), 1);
	ck_assert_str_eq(jstr(doc, "results.verdict.action"), "PROCEED");
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

START_TEST(audit_run_score_mismatch_fails_the_score_gate)
{
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4];
	enum audit_status st;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	struct call c = {.x = X_SEP,
	                 .score_offset = 0.01,
	                 .methods = LINEAR_ONLY,
	                 .n_methods = 1,
	                 .seed = 7,
	                 .review_below = NAN};
	json_t *doc = run(am, bg, N_BG, &c, &st);
	json_t *res = json_object_get(doc, "results");

	ck_assert_int_eq(st, AUDIT_COMPLETE);
	ck_assert(json_is_false(json_object_get(res, "score_matches")));
	ck_assert(json_is_false(jget(res, "confidence.gate")));
	ck_assert_int_eq(jfind(jget(res, "confidence.gates_failed"), "score"), 0);
	ck_assert_uint_eq(json_array_size(jget(res, "confidence.gates_failed")), 1);
	ck_assert_double_eq(jnum(res, "confidence.c"), 0);
	ck_assert_str_eq(jstr(res, "verdict.action"), "REVIEW");
	ck_assert_int_ge(jfind(jget(res, "verdict.reasons"), "recorded score"), 0);
	json_decref(doc);

	/* a difference far below the tolerance still matches */
	c.score_offset = 1e-9;
	doc = run(am, bg, N_BG, &c, &st);
	ck_assert(json_is_true(jget(doc, "results.score_matches")));
	ck_assert_str_eq(jstr(doc, "results.verdict.action"), "PROCEED");
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

START_TEST(audit_run_review_below)
{
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4];
	enum audit_status st;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	struct call c = {
	    .x = X_SEP, .methods = LINEAR_ONLY, .n_methods = 1, .seed = 7, .review_below = 1.5};
	json_t *doc = run(am, bg, N_BG, &c, &st);
	json_t *vr = jget(doc, "results.verdict.reasons");

	ck_assert_double_eq(jnum(doc, "results.confidence.c"), 1);
	ck_assert_str_eq(jstr(doc, "results.verdict.action"), "REVIEW");
	ck_assert_int_eq(jfind(vr, "review_below"), 0);
	ck_assert_int_eq(jfind(vr, "not fragile"), -1);
	json_decref(doc);

	c.review_below = 1; /* not below: C == review_below */
	doc = run(am, bg, N_BG, &c, &st);
	ck_assert_str_eq(jstr(doc, "results.verdict.action"), "PROCEED");
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

START_TEST(audit_run_fragile_decision_is_capped_and_reviewed)
{
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4];
	enum audit_status st;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	struct call c = {
	    .x = X_FRAGILE, .methods = LINEAR_ONLY, .n_methods = 1, .seed = 7, .review_below = 0.5};
	json_t *doc = run(am, bg, N_BG, &c, &st);
	json_t *res = json_object_get(doc, "results");

	ck_assert_int_eq(st, AUDIT_COMPLETE);
	ck_assert_double_eq_tol(jnum(res, "prediction.0"), 0.01, 1e-12);
	ck_assert_int_eq(jnum(res, "decision"), 1);
	ck_assert(json_is_true(jget(res, "flip.fragile")));
	ck_assert_uint_eq(json_array_size(jget(res, "flip.fragile_features")), 1);
	ck_assert_str_eq(jstr(res, "flip.fragile_features.0"), "tenure");
	ck_assert(json_is_true(jget(res, "flip.flip_details.3.low_importance")));
	ck_assert(json_is_true(jget(res, "flip.flip_details.3.plausible")));
	/* the nearest flip of tenure puts the margin on the threshold: x_3 - 0.01 / 0.25 */
	ck_assert_double_eq_tol(jnum(res, "flip.flips.3"), 0.0, 1e-9);
	ck_assert(json_is_false(jget(res, "flip.flip_details.0.low_importance")));

	double cc = jnum(res, "confidence.c"), pn = jnum(res, "confidence.p_noise");
	ck_assert(json_is_true(jget(res, "confidence.fragile")));
	ck_assert_double_le(cc, EX_CONF_FRAGILE_CAP);
	ck_assert(json_is_true(jget(res, "confidence.gate")));
	/* p_est = a_method = 1: C before the cap is p_noise */
	if (pn > EX_CONF_FRAGILE_CAP) {
		ck_assert(json_is_true(jget(res, "confidence.capped")));
		ck_assert_double_eq(cc, EX_CONF_FRAGILE_CAP);
	} else {
		ck_assert(json_is_false(jget(res, "confidence.capped")));
		ck_assert_double_eq(cc, pn);
	}

	json_t *vr = jget(res, "verdict.reasons");
	ck_assert_str_eq(jstr(res, "verdict.action"), "REVIEW");
	ck_assert_int_eq(jfind(vr, "review_below 0.5"), 0);
	int k = jfind(vr, "flips the decision");
	ck_assert_int_gt(k, 0);
	ck_assert_msg(strstr(json_string_value(json_array_get(vr, (size_t)k)), ": tenure"), "%s",
	              json_string_value(json_array_get(vr, (size_t)k)));
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

START_TEST(audit_run_baseline_outlier)
{
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4], mean[M4] = {0}, usual[M4] = {0};
	enum audit_status st;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	for (size_t i = 0; i < N_BG; i++)
		for (size_t j = 0; j < M4; j++)
			mean[j] += bg[i * M4 + j] / N_BG;
	for (size_t i = 0; i < N_BG; i++)
		for (size_t j = 0; j < M4; j++)
			usual[j] += fabs(COEF[j] * (bg[i * M4 + j] - mean[j])) / N_BG;
	struct call c = {
	    .x = X_OUTLIER, .methods = LINEAR_ONLY, .n_methods = 1, .seed = 7, .review_below = NAN};
	json_t *doc = run(am, bg, N_BG, &c, &st);
	json_t *res = json_object_get(doc, "results");

	ck_assert_int_eq(jnum(res, "baseline.rows"), N_BG);
	for (size_t j = 0; j < M4; j++) {
		char p[64];
		snprintf(p, sizeof(p), "baseline.usual.%zu", j);
		ck_assert_double_eq_tol(jnum(res, p), usual[j], 1e-12);
	}
	json_t *out = jget(res, "baseline.outliers");
	ck_assert_uint_eq(json_array_size(out), 1);
	ck_assert_str_eq(jstr(out, "0.feature"), "income");
	ck_assert_int_eq(jnum(out, "0.index"), 0);
	double phi = COEF[0] * (X_OUTLIER[0] - mean[0]);
	ck_assert_double_eq_tol(jnum(out, "0.phi"), phi, 1e-12);
	ck_assert_double_eq_tol(jnum(out, "0.usual"), usual[0], 1e-12);
	ck_assert_double_ge(jnum(out, "0.ratio"), 3);
	ck_assert_double_eq_tol(jnum(out, "0.ratio"), phi / usual[0], 1e-9);

	ck_assert_str_eq(jstr(res, "verdict.action"), "REVIEW");
	json_t *vr = jget(res, "verdict.reasons");
	ck_assert_int_ge(jfind(vr, "income's attribution"), 0);
	ck_assert_int_eq(jfind(vr, "debt's attribution"), -1);
	json_decref(doc);

	/* the same model and background: the cached baseline gives the same answer */
	doc = run(am, bg, N_BG, &c, &st);
	ck_assert_uint_eq(json_array_size(jget(doc, "results.baseline.outliers")), 1);
	ck_assert_double_eq_tol(jnum(doc, "results.baseline.usual.0"), usual[0], 1e-12);
	json_decref(doc);

	/* another background (ten times as wide) for the same model: its own baseline, against
	 * which income's attribution is ordinary */
	double wide[N_BG * M4];
	for (size_t i = 0; i < N_BG * M4; i++)
		wide[i] = 10 * bg[i];
	doc = run(am, wide, N_BG, &c, &st);
	ck_assert_double_eq_tol(jnum(doc, "results.baseline.usual.0"), 10 * usual[0], 1e-9);
	ck_assert_uint_eq(json_array_size(jget(doc, "results.baseline.outliers")), 0);
	ck_assert_int_eq(jfind(jget(doc, "results.verdict.reasons"), "income's attribution"), -1);
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

/* The verdict is handed over once, after the fast phase and without waiting for the slower
 * methods: the rule asks for adversarial search, which takes far longer than the fast phase
 * (about 100 ms against 1 ms here), so a callback that waited for it would come at least the
 * slow methods' time after the start. */
START_TEST(audit_run_on_verdict_once_without_waiting_for_slow_methods)
{
	static const char *const methods[] = {"linear", "counterfactual", "kernelshap",
	                                      "adversarial"};
	static const char *const slow_methods[] = {"counterfactual", "kernelshap", "adversarial"};
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4];
	enum audit_status st;
	const double *xs[3] = {X_SEP, X_FRAGILE, X_OUTLIER};

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	for (size_t t = 0; t < 3; t++) {
		struct cb cb = {0};
		struct call c = {.x = xs[t],
		                 .methods = methods,
		                 .n_methods = 4,
		                 .seed = 11,
		                 .review_below = NAN,
		                 .cb = &cb};
		double t_begin = now_ms();
		json_t *doc = run(am, bg, N_BG, &c, &st);
		double t_end = now_ms(), slow = 0;
		json_t *res = json_object_get(doc, "results");

		ck_assert_int_eq(st, AUDIT_COMPLETE);
		ck_assert_int_eq(cb.calls, 1);
		/* the callback's verdict is the document's */
		ck_assert(cb.review == !strcmp(jstr(res, "verdict.action"), "REVIEW"));
		ck_assert(cb.review == (t != 0));
		ck_assert_double_eq(cb.confidence, jnum(res, "verdict.confidence"));
		ck_assert_uint_eq(cb.n_reasons, json_array_size(jget(res, "verdict.reasons")));
		/* every method ran */
		ck_assert_ptr_nonnull(json_object_get(res, "linear"));
		for (size_t i = 0; i < 3; i++) {
			char p[64];
			ck_assert_ptr_nonnull(json_object_get(res, slow_methods[i]));
			snprintf(p, sizeof(p), "timings_ms.%s", slow_methods[i]);
			slow += jnum(doc, p);
		}
		/* after the fast phase, before the slow methods could all have finished */
		ck_assert_double_ge(cb.t_ms - t_begin, jnum(doc, "timings_ms.fast_phase"));
		ck_assert_double_le(cb.t_ms, t_end);
		ck_assert_msg(cb.t_ms - t_begin < slow,
		              "on_verdict came %.3f ms after the start; the slow methods took %.3f "
		              "ms, the fast phase %.3f ms",
		              cb.t_ms - t_begin, slow, jnum(doc, "timings_ms.fast_phase"));
		json_decref(doc);
	}
	audit_model_free(am);
}
END_TEST

START_TEST(audit_run_unknown_method_is_partial)
{
	/* interactions is an explain method, not one audits run */
	static const char *const methods[] = {"linear", "interactions", "counterfactual"};
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4];
	enum audit_status st;
	struct cb cb = {0};

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	struct call c = {.x = X_SEP,
	                 .methods = methods,
	                 .n_methods = 3,
	                 .seed = 7,
	                 .review_below = NAN,
	                 .cb = &cb};
	json_t *doc = run(am, bg, N_BG, &c, &st);
	json_t *res = json_object_get(doc, "results");

	ck_assert_int_eq(st, AUDIT_PARTIAL);
	ck_assert_str_eq(jstr(doc, "status"), "partial");
	json_t *reasons = json_object_get(doc, "reasons");
	ck_assert_uint_eq(json_array_size(reasons), 1);
	ck_assert_int_eq(jfind(reasons, "interactions failed"), 0);
	ck_assert_ptr_null(json_object_get(res, "interactions"));
	ck_assert_ptr_nonnull(json_object_get(res, "linear"));
	ck_assert_ptr_nonnull(json_object_get(res, "counterfactual"));
	ck_assert(json_is_array(jget(res, "counterfactual.counterfactuals")));
	/* the fast phase is unaffected */
	ck_assert_str_eq(jstr(res, "verdict.action"), "PROCEED");
	ck_assert_int_eq(cb.calls, 1);
	json_decref(doc);

	/* a method that does not apply to the model fails the same way */
	static const char *const na[] = {"linear", "treeshap-interventional"};
	c.methods = na;
	c.n_methods = 2;
	doc = run(am, bg, N_BG, &c, &st);
	ck_assert_int_eq(st, AUDIT_PARTIAL);
	ck_assert_int_eq(jfind(json_object_get(doc, "reasons"), "treeshap-interventional"), 0);
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

/* LIME runs in audits, as `evidentctl explain --method lime --seed SEED --background BG`
 * computes it: bins fitted on the whole background, the audit's seed, the decision output and
 * explain's defaults for everything else. The result is the object explain --json prints (one
 * writer), the parameters are in params.lime, and read back they give the same results (what
 * `evidentctl replay` does). */
START_TEST(audit_run_lime_as_explain_computes_it)
{
	static const char *const methods[] = {"linear", "lime"};
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4];
	enum audit_status st;
	struct cb cb = {0};
	char err[EX_ERR_MAX] = "";

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	struct call c = {.x = X_SEP,
	                 .methods = methods,
	                 .n_methods = 2,
	                 .seed = 9,
	                 .review_below = NAN,
	                 .cb = &cb};
	json_t *doc = run(am, bg, N_BG, &c, &st), *res = json_object_get(doc, "results");
	char *reasons = json_dumps(json_object_get(doc, "reasons"), 0);

	ck_assert_msg(st == AUDIT_COMPLETE, "status %s: %s", audit_status_name(st), reasons);
	free(reasons);
	ck_assert_int_eq(cb.calls, 1);
	ck_assert_ptr_nonnull(json_object_get(res, "linear"));

	/* what explain computes on the same inputs */
	struct ex_lime_bins *bins = NULL;
	struct ex_lime_result r;
	struct ex_lime_config lc = {.seed = 9, .output = 0};
	ck_assert_int_eq(ex_lime_bins_fit(bg, N_BG, M4, NULL, &bins, err, sizeof(err)), 0);
	ck_assert_msg(ex_lime(&am->f, bins, X_SEP, &lc, &r, err, sizeof(err)) == 0, "%s", err);
	json_t *want = json_object();
	ck_assert_int_eq(audit_json_lime(want, &r, &r.fx, 1, 0, NAMES, 9), 0);
	char *got_s = json_dumps(json_object_get(res, "lime"), JSON_SORT_KEYS),
	     *want_s = json_dumps(want, JSON_SORT_KEYS);
	ck_assert_msg(json_equal(json_object_get(res, "lime"), want), "audit %s\nexplain %s", got_s,
	              want_s);
	free(got_s);
	free(want_s);
	ck_assert_double_eq(jnum(res, "lime.prediction.0"), jnum(res, "prediction.0"));
	/* the fit and its stability */
	static const char *const keys[] = {"output",    "selected",
	                                   "r2",        "local_prediction",
	                                   "fx",        "fidelity_error",
	                                   "samples",   "repeats",
	                                   "jaccard",   "vsi",
	                                   "csi",       "coef_cv",
	                                   "sign_flip", "stable"};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		char p[64];
		snprintf(p, sizeof(p), "lime.lime.%s", keys[k]);
		ck_assert_msg(jget(res, p), "no %s", p);
	}
	ck_assert_int_eq(jnum(res, "lime.lime.samples"), 5000);
	ck_assert_int_eq(jnum(res, "lime.lime.repeats"), 10);
	ck_assert_int_eq(jnum(res, "lime.model_rows"), 50000);
	ck_assert_int_eq(jnum(res, "lime.seed"), 9);
	ck_assert_uint_eq(json_array_size(jget(res, "lime.lime.coef_cv")), M4);
	ck_assert_uint_eq(json_array_size(jget(res, "lime.lime.sign_flip")), M4);
	double jac = jnum(res, "lime.lime.jaccard");
	ck_assert(jac >= 0 && jac <= 1);
	ck_assert(jnum(doc, "timings_ms.lime") >= 0);

	/* the parameters it ran with */
	ck_assert_int_eq(jnum(doc, "params.lime.samples"), 5000);
	ck_assert_int_eq(jnum(doc, "params.lime.repeats"), 10);
	ck_assert_int_eq(jnum(doc, "params.lime.features"), M4);
	ck_assert_str_eq(jstr(doc, "params.lime.selection"), "forward"); /* K <= 6 */
	ck_assert_double_eq(jnum(doc, "params.lime.kernel_width"), 0.75 * sqrt(M4));
	ck_assert_double_eq(jnum(doc, "params.lime.alpha"), 1);
	ck_assert_double_eq(jnum(doc, "params.lime.min_jaccard"), 0.8);
	ck_assert_int_eq(jnum(doc, "params.lime.max_samples"), 0);

	/* read back, through the document's text, they give the same results */
	char *text = json_dumps(doc, JSON_REAL_PRECISION(17));
	json_t *stored = json_loads(text, 0, NULL);
	struct call c2 = c;
	c2.cb = NULL;
	ck_assert_int_eq(audit_lime_params(json_object_get(stored, "params"), &c2.lime), 0);
	ck_assert_uint_eq(c2.lime.n_samples, 5000);
	ck_assert_uint_eq(c2.lime.n_select, M4);
	ck_assert_int_eq(c2.lime.selection, EX_LIME_FORWARD);
	json_t *again = run(am, bg, N_BG, &c2, &st);
	char *ca = audit_results_canonical(doc), *cb2 = audit_results_canonical(again);
	ck_assert_str_eq(ca, cb2);
	ck_assert(json_equal(json_object_get(doc, "params"), json_object_get(again, "params")));

	free(ca);
	free(cb2);
	free(text);
	json_decref(stored);
	json_decref(again);
	json_decref(want);
	ex_lime_result_free(&r);
	ex_lime_bins_free(bins);
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

/* The model seen through a gate: LIME's batches (block_rows rows) wait until the verdict has
 * been handed over (10 s at most). An audit whose verdict waited for LIME would time out. */
struct gate {
	struct ex_fn inner;
	size_t block_rows;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int verdicts, lime_batches;
	bool timed_out;
};

static int gated_predict(void *ud, const double *rows, size_t n, double *out, char *err,
                         size_t err_size)
{
	struct gate *g = ud;

	if (n == g->block_rows) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		pthread_mutex_lock(&g->lock);
		g->lime_batches++;
		while (!g->verdicts && !g->timed_out)
			g->timed_out =
			    pthread_cond_timedwait(&g->cond, &g->lock, &until) != 0 && !g->verdicts;
		pthread_mutex_unlock(&g->lock);
	}
	return g->inner.predict(g->inner.userdata, rows, n, out, err, err_size);
}

static void gate_verdict(void *ud, const struct audit_verdict *v)
{
	struct gate *g = ud;

	(void)v;
	pthread_mutex_lock(&g->lock);
	g->verdicts++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

START_TEST(audit_run_verdict_does_not_wait_for_lime)
{
	static const char *const methods[] = {"linear", "lime"};
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4], score = sigmoid(margin_of(X_SEP));
	enum audit_status st;
	struct gate g = {
	    .block_rows = 777, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	json_t *doc = NULL;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	g.inner = am->f;
	am->f.predict = gated_predict;
	am->f.userdata = &g;
	struct audit_background b = {
	    .source = "reference_data", .rows = bg, .n = N_BG, .sha256 = "ref-sha"};
	struct audit_request rq = {.x = X_SEP,
	                           .scores = &score,
	                           .n_scores = 1,
	                           .methods = methods,
	                           .n_methods = 2,
	                           .seed = 4,
	                           .review_below = NAN,
	                           .lime = {.n_samples = 777, .n_repeats = 3},
	                           .on_verdict = gate_verdict,
	                           .userdata = &g};
	ck_assert_int_eq(audit_run(am, &b, &rq, &doc, &st), 0);
	ck_assert_msg(!g.timed_out, "LIME waited 10 s for a verdict that waited for LIME");
	ck_assert_int_eq(g.verdicts, 1);
	ck_assert_int_eq(g.lime_batches, 3); /* one batch per repeat */
	ck_assert_int_eq(st, AUDIT_COMPLETE);
	/* the request's parameters, recorded and used */
	ck_assert_int_eq(jnum(doc, "params.lime.samples"), 777);
	ck_assert_int_eq(jnum(doc, "params.lime.repeats"), 3);
	ck_assert_int_eq(jnum(doc, "results.lime.lime.samples"), 777);
	ck_assert_int_eq(jnum(doc, "results.lime.lime.repeats"), 3);
	ck_assert_int_eq(jnum(doc, "results.lime.model_rows"), 3 * 777);
	json_decref(doc);
	am->f = g.inner;
	audit_model_free(am);
}
END_TEST

/* A LIME failure leaves the rest of the audit standing: partial, with the reason. */
START_TEST(audit_run_lime_failure_is_partial)
{
	static const char *const methods[] = {"linear", "lime", "counterfactual"};
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4];
	enum audit_status st;
	struct cb cb = {0};

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	struct call c = {.x = X_SEP,
	                 .methods = methods,
	                 .n_methods = 3,
	                 .seed = 7,
	                 .review_below = NAN,
	                 .cb = &cb,
	                 .lime = {.n_samples = 1}}; /* LIME needs 2 at least */
	json_t *doc = run(am, bg, N_BG, &c, &st);
	json_t *res = json_object_get(doc, "results"), *reasons = json_object_get(doc, "reasons");

	ck_assert_int_eq(st, AUDIT_PARTIAL);
	ck_assert_uint_eq(json_array_size(reasons), 1);
	ck_assert_int_eq(jfind(reasons, "lime failed: "), 0);
	ck_assert_int_eq(jfind(reasons, "2 samples"), 0);
	ck_assert_ptr_null(json_object_get(res, "lime"));
	ck_assert_ptr_nonnull(json_object_get(res, "linear"));
	ck_assert_ptr_nonnull(json_object_get(res, "counterfactual"));
	ck_assert_str_eq(jstr(res, "verdict.action"), "PROCEED");
	ck_assert_int_eq(cb.calls, 1);
	ck_assert_int_eq(jnum(doc, "params.lime.samples"), 1);
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

START_TEST(audit_lime_params_reads_what_audits_record)
{
	struct ex_lime_config c;
	json_t *p = json_pack("{s:i}", "seed", 3);

	memset(&c, 0xff, sizeof(c));
	ck_assert_int_eq(audit_lime_params(p, &c), 0); /* an audit without lime: the defaults */
	ck_assert_uint_eq(c.n_samples, 0);
	ck_assert_double_eq(c.kernel_width, 0);
	ck_assert_int_eq(c.selection, EX_LIME_AUTO);
	json_decref(p);
	p = json_pack("{s:{s:i, s:i, s:i, s:s, s:f, s:f, s:f, s:i}}", "lime", "samples", 800,
	              "repeats", 4, "features", 2, "selection", "highest_weights", "kernel_width",
	              2.5, "alpha", 0.5, "min_jaccard", 0.7, "max_samples", 3200);
	ck_assert_int_eq(audit_lime_params(p, &c), 0);
	ck_assert_uint_eq(c.n_samples, 800);
	ck_assert_uint_eq(c.n_repeats, 4);
	ck_assert_uint_eq(c.n_select, 2);
	ck_assert_int_eq(c.selection, EX_LIME_HIGHEST_WEIGHTS);
	ck_assert_double_eq(c.kernel_width, 2.5);
	ck_assert_double_eq(c.alpha, 0.5);
	ck_assert_double_eq(c.min_jaccard, 0.7);
	ck_assert_uint_eq(c.max_samples, 3200);
	json_decref(p);
	static const char *const bad[] = {"{\"lime\": 3}",
	                                  "{\"lime\": {\"samples\": -1}}",
	                                  "{\"lime\": {\"samples\": 1.5}}",
	                                  "{\"lime\": {\"selection\": \"best\"}}",
	                                  "{\"lime\": {\"alpha\": \"x\"}}",
	                                  "{\"lime\": {\"kernel_width\": -2}}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = json_loads(bad[i], 0, NULL);
		ck_assert_ptr_nonnull(p);
		ck_assert_msg(audit_lime_params(p, &c) == -EINVAL, "%s accepted", bad[i]);
		json_decref(p);
	}
}
END_TEST

START_TEST(audit_run_empty_background_fails)
{
	struct mf s;
	struct audit_model *am;
	enum audit_status st;
	struct cb cb = {0};

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	struct call c = {.x = X_SEP,
	                 .methods = LINEAR_ONLY,
	                 .n_methods = 1,
	                 .seed = 7,
	                 .review_below = NAN,
	                 .cb = &cb};
	json_t *doc = run(am, NULL, 0, &c, &st);

	ck_assert_int_eq(st, AUDIT_FAILED);
	ck_assert_str_eq(jstr(doc, "status"), "failed");
	json_t *reasons = json_object_get(doc, "reasons");
	ck_assert_uint_ge(json_array_size(reasons), 1);
	ck_assert_int_eq(jfind(reasons, "background"), 0);
	ck_assert_int_ge(jfind(reasons, "no background rows"), 0);
	ck_assert_ptr_null(jget(doc, "results.verdict"));
	ck_assert_ptr_null(jget(doc, "results.linear"));
	ck_assert_int_eq(jnum(doc, "params.background.rows"), 0);
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

START_TEST(audit_run_is_deterministic)
{
	static const char *const methods[] = {"linear", "kernelshap", "counterfactual",
	                                      "adversarial"};
	struct mf s;
	struct audit_model *am, *am2;
	double bg[N_BG * M4];
	enum audit_status st;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	am2 = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	for (size_t t = 0; t < 2; t++) {
		const double *x = t ? X_FRAGILE : X_SEP;
		struct call c = {
		    .x = x, .methods = methods, .n_methods = 4, .seed = 3, .review_below = 0.5};
		json_t *a = run(am, bg, N_BG, &c, &st);
		json_t *b = run(am, bg, N_BG, &c, &st);  /* baseline from the cache */
		json_t *f = run(am2, bg, N_BG, &c, &st); /* another load of the model */
		char *ca = audit_results_canonical(a), *cb = audit_results_canonical(b),
		     *cf = audit_results_canonical(f);

		ck_assert_ptr_nonnull(ca);
		ck_assert_str_eq(ca, cb);
		ck_assert_str_eq(ca, cf);
		ck_assert(json_equal(json_object_get(a, "params"), json_object_get(b, "params")));

		/* another seed: the sampled methods may move, the exact results may not */
		c.seed = 99;
		json_t *d = run(am, bg, N_BG, &c, &st);
		static const char *const exact[] = {"prediction",    "decision", "decision_label",
		                                    "score_matches", "linear",   "baseline"};
		for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
			ck_assert_msg(
			    json_equal(json_object_get(json_object_get(a, "results"), exact[i]),
			               json_object_get(json_object_get(d, "results"), exact[i])),
			    "results.%s differs with another seed", exact[i]);
		ck_assert(
		    json_equal(jget(a, "results.flip.fragile"), jget(d, "results.flip.fragile")));
		ck_assert(json_equal(jget(a, "results.flip.flips"), jget(d, "results.flip.flips")));
		ck_assert_int_eq(jnum(d, "params.seed"), 99);
		ck_assert_int_eq(jnum(d, "results.kernelshap.seed"), 99);
		free(ca);
		free(cb);
		free(cf);
		json_decref(a);
		json_decref(b);
		json_decref(d);
		json_decref(f);
	}
	audit_model_free(am);
	audit_model_free(am2);
}
END_TEST

START_TEST(audit_run_tree_model)
{
	static const char *const methods[] = {"treeshap", "treeshap-interventional"};
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * 2], x[2] = {0.9, 0.5}, score = sigmoid(1.5);
	enum audit_status st;
	json_t *doc = NULL;

	mf_init(&s);
	s.m.framework = "xgboost-json";
	s.m.n_features = 2;
	s.f[0].name = "a";
	s.f[1].name = "b";
	am = load_ok(&s, TREE_MODEL);
	ck_assert_uint_eq(am->M, 2);
	ck_assert_double_eq(am->d.threshold, 0);
	fill_bg(bg, 2);
	struct audit_background b = {.source = "reference_data", .rows = bg, .n = N_BG};
	struct audit_request rq = {.x = x,
	                           .scores = &score,
	                           .n_scores = 1,
	                           .methods = methods,
	                           .n_methods = 2,
	                           .seed = 5,
	                           .review_below = NAN};
	ck_assert_int_eq(audit_run(am, &b, &rq, &doc, &st), 0);
	json_t *res = json_object_get(doc, "results");
	ck_assert_msg(st == AUDIT_COMPLETE, "status %s: %s", audit_status_name(st),
	              json_dumps(json_object_get(doc, "reasons"), 0));
	ck_assert_double_eq(jnum(res, "prediction.0"), 1.5);
	ck_assert(json_is_true(json_object_get(res, "score_matches")));
	ck_assert_str_eq(jstr(res, "decision_label"), "sell");
	/* efficiency of both games */
	static const char *const game[] = {"treeshap", "treeshap-interventional"};
	for (size_t g = 0; g < 2; g++) {
		char p[80];
		double sum;
		snprintf(p, sizeof(p), "%s.base_value.0", game[g]);
		sum = jnum(res, p);
		for (size_t j = 0; j < 2; j++) {
			snprintf(p, sizeof(p), "%s.phi.0.%zu", game[g], j);
			sum += jnum(res, p);
		}
		ck_assert_double_eq_tol(sum, 1.5, 1e-9);
	}
	/* the interventional base is the mean margin over the background */
	double mean = 0;
	for (size_t i = 0; i < N_BG; i++)
		mean += bg[i * 2] < 0.5 ? -1 : bg[i * 2 + 1] < 0 ? 0.5 : 1.5;
	ck_assert_double_eq_tol(jnum(res, "treeshap-interventional.base_value.0"), mean / N_BG,
	                        1e-12);
	ck_assert_str_eq(jstr(res, "confidence.a_method_against"), "treeshap-interventional");
	ck_assert(json_is_true(jget(res, "confidence.gate")));
	double c = jnum(res, "confidence.c");
	ck_assert(c >= 0 && c <= 1);
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

/* ------------------------------------------------------------------ audit_results_canonical */

/* Every object's keys in ascending order, recursively (parsed preserving order). */
static void check_sorted(json_t *v)
{
	const char *key, *prev = NULL;
	json_t *e;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, e)
		{
			ck_assert_msg(!prev || strcmp(prev, key) < 0, "key %s after %s", key, prev);
			prev = key;
			check_sorted(e);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e) check_sorted(e);
	}
}

START_TEST(audit_results_canonical_sorted_and_stable)
{
	static const char *const methods[] = {"linear", "kernelshap", "counterfactual"};
	struct mf s;
	struct audit_model *am;
	double bg[N_BG * M4];
	enum audit_status st;
	json_error_t je;

	mf_init(&s);
	am = load_ok(&s, LOGIT_MODEL);
	fill_bg(bg, M4);
	struct call c = {
	    .x = X_FRAGILE, .methods = methods, .n_methods = 3, .seed = 3, .review_below = 0.5};
	json_t *doc = run(am, bg, N_BG, &c, &st);
	char *canon = audit_results_canonical(doc);

	ck_assert_ptr_nonnull(canon);
	ck_assert_ptr_null(strstr(canon, "timings"));
	ck_assert_ptr_null(strstr(canon, "incident_id"));
	ck_assert_ptr_null(strchr(canon, '\n'));
	json_t *parsed = json_loads(canon, JSON_PRESERVE_ORDER, &je);
	ck_assert_msg(parsed != NULL, "%s", je.text);
	check_sorted(parsed);
	/* 17 digits: every real reads back as the same double */
	ck_assert(json_equal(parsed, json_object_get(doc, "results")));
	for (size_t j = 0; j < M4; j++) {
		char p[64];
		snprintf(p, sizeof(p), "linear.phi.0.%zu", j);
		double a = jnum(parsed, p), b = jnum(json_object_get(doc, "results"), p);
		ck_assert_mem_eq(&a, &b, sizeof(a));
	}

	/* round trips: canonical -> parse -> canonical, and the whole document through text */
	json_t *wrap = json_pack("{sO}", "results", parsed);
	char *again = audit_results_canonical(wrap);
	ck_assert_str_eq(again, canon);
	char *text = json_dumps(doc, JSON_REAL_PRECISION(17));
	json_t *doc2 = json_loads(text, 0, &je);
	ck_assert_ptr_nonnull(doc2);
	char *third = audit_results_canonical(doc2);
	ck_assert_str_eq(third, canon);

	/* no results, no bytes */
	json_t *none = json_pack("{ss}", "status", "failed");
	ck_assert_ptr_null(audit_results_canonical(none));
	ck_assert_ptr_null(audit_results_canonical(NULL));

	free(canon);
	free(again);
	free(text);
	free(third);
	json_decref(none);
	json_decref(doc2);
	json_decref(wrap);
	json_decref(parsed);
	json_decref(doc);
	audit_model_free(am);
}
END_TEST

/* ------------------------------------------------------------------ audit_results_as_recorded */

/* Does doc, compared the way replay compares it with a recorded document, match it? */
static bool replays_as(const json_t *doc, const json_t *recorded)
{
	json_t *like = audit_results_as_recorded(doc, recorded);
	char *now = audit_results_canonical(like), *was = audit_results_canonical(recorded);
	bool same = now && was && !strcmp(now, was);

	ck_assert_ptr_nonnull(like);
	/* nothing outside "results" is touched */
	ck_assert(json_equal(json_object_get(like, "params"), json_object_get(doc, "params")));
	free(now);
	free(was);
	json_decref(like);
	return same;
}

/* An audit recorded by an earlier version has fewer keys (keys are only ever added): the
 * replay compares what was recorded, and still sees every recorded value that differs. */
START_TEST(audit_results_as_recorded_keeps_only_recorded_keys)
{
	static const char *const methods[] = {"linear", "counterfactual", "adversarial"};
	struct call c = {
	    .x = X_FRAGILE, .methods = methods, .n_methods = 3, .seed = 3, .review_below = 0.5};
	json_t *doc = run_logit(&c), *res = json_object_get(doc, "results");
	/* the recorded document: as an older writer would have left it */
	json_t *old = json_deep_copy(doc), *ores = json_object_get(old, "results");
	json_object_del(json_object_get(ores, "flip"), "low_share");
	json_object_del(json_object_get(json_object_get(ores, "adversarial"), "region"),
	                "exemplars");
	json_t *details = json_object_get(json_object_get(ores, "flip"), "flip_details");
	ck_assert_uint_eq(json_array_size(details), M4);
	for (size_t j = 0; j < M4; j++)
		json_object_del(json_array_get(details, j), "prediction");
	json_object_del(ores, "baseline");

	ck_assert(!json_equal(res, ores));
	ck_assert(replays_as(doc, old));
	/* the replayed document itself is not changed */
	ck_assert_ptr_nonnull(jget(res, "flip.low_share"));
	ck_assert_ptr_nonnull(jget(res, "flip.flip_details.0.prediction"));
	/* a recorded value that differs still differs */
	json_object_set_new(json_object_get(ores, "flip"), "margin", json_real(12345));
	ck_assert(!replays_as(doc, old));
	/* and so does a recorded key the replay lacks */
	json_t *old2 = json_deep_copy(doc);
	json_object_set_new(json_object_get(json_object_get(old2, "results"), "linear"), "extra",
	                    json_true());
	ck_assert(!replays_as(doc, old2));
	ck_assert(replays_as(doc, doc));

	json_decref(old2);
	json_decref(old);
	json_decref(doc);
}
END_TEST

/* ------------------------------------------------------------------ audit_suggest_guard */

static const char *const G_NAMES[3] = {"a", "b", "c"};

static struct audit_guard_input guard_input(const double *x, const char *decision)
{
	static const double score = 0.9;
	return (struct audit_guard_input){.model_id = "m",
	                                  .version = "2",
	                                  .incident_id = 77,
	                                  .names = G_NAMES,
	                                  .M = 3,
	                                  .x = x,
	                                  .scores = &score,
	                                  .n_scores = 1,
	                                  .decision = decision};
}

static json_t *results(const char *text)
{
	json_error_t e;
	json_t *r = json_loads(text, 0, &e);
	ck_assert_msg(r != NULL, "%s: %s", text, e.text);
	return r;
}

/* The suggested guard of results for in, which must exist, compile, name the features by
 * the model's names and catch the record (checked here again with the trigger library). */
static json_t *suggest(const char *res_text, const struct audit_guard_input *in)
{
	json_t *res = results(res_text), *g = (json_t *)1;
	struct trig_expr *x;
	struct trig_error e;
	size_t binding[8];

	ck_assert_int_eq(audit_suggest_guard(res, in, &g), 0);
	json_decref(res);
	ck_assert_ptr_nonnull(g);
	ck_assert_msg(trig_compile(jstr(g, "when"), &x, &e) == 0, "%s: %s", jstr(g, "when"),
	              e.message);
	for (size_t i = 0; i < trig_n_features(x); i++) {
		binding[i] = SIZE_MAX;
		for (size_t j = 0; j < in->M; j++)
			if (!strcmp(in->names[j], trig_feature(x, i, NULL)))
				binding[i] = j;
		ck_assert_uint_ne(binding[i], SIZE_MAX);
	}
	struct trig_record r = {.features = in->x,
	                        .n_features = in->M,
	                        .binding = binding,
	                        .scores = in->scores,
	                        .n_scores = in->n_scores,
	                        .decision = in->decision};
	ck_assert_int_eq(trig_eval(x, &r), 1);
	trig_free(x);
	ck_assert(json_is_true(json_object_get(g, "catches_audited_record")));
	ck_assert(json_is_null(json_object_get(g, "backtest")));
	return g;
}

static const char FLIP_B[] = "\"flip\": {\"phi\": [[0.1, -2.0, 0.3]], \"flips\": [null, 1.5, 9]}";

START_TEST(audit_suggest_guard_counterfactual_threshold_of_the_dominant_feature)
{
	const double x[3] = {1, 3, 0};
	struct audit_guard_input in = guard_input(x, "sell");
	char text[1024];

	/* b dominates (|phi| 2); its nearest single-feature counterfactual is 1.2345678901234,
	 * below x_b = 3: the rule keeps b above it, 6 digits rounded down (never narrower) */
	snprintf(text, sizeof(text),
	         "{%s, \"counterfactual\": {\"counterfactuals\": ["
	         "{\"changes\": {\"a\": 0.2, \"b\": 2}}, {\"changes\": {\"a\": -4}},"
	         "{\"changes\": {\"b\": 1.2345678901234}}]}}",
	         FLIP_B);
	json_t *g = suggest(text, &in);
	ck_assert_str_eq(jstr(g, "when"), "decision == \"sell\" && feature.b > 1.23456");
	ck_assert_str_eq(jstr(g, "name"), "incident-77");
	ck_assert_str_eq(jstr(g, "model"), "m@2");
	ck_assert_str_eq(jstr(g, "action"), "review");
	ck_assert_str_eq(jstr(g, "source"), "counterfactual");
	ck_assert_str_eq(jstr(g, "feature"), "b");
	ck_assert_str_eq(jstr(g, "decision"), "sell");
	ck_assert_double_eq(jnum(g, "threshold"), 1.2345678901234);
	ck_assert_msg(strstr(jstr(g, "reason"), "incident 77") &&
	                  strstr(jstr(g, "reason"), "b above 1.23456"),
	              "%s", jstr(g, "reason"));
	json_decref(g);

	/* without a counterfactual along b alone: the flip test's nearest flip, 1.5; a short
	 * number is written exactly */
	snprintf(text, sizeof(text), "{%s}", FLIP_B);
	g = suggest(text, &in);
	ck_assert_str_eq(jstr(g, "when"), "decision == \"sell\" && feature.b > 1.5");
	ck_assert_str_eq(jstr(g, "source"), "flip");
	json_decref(g);

	/* a threshold above the record's value: "<", rounded up; negative numbers */
	const double x2[3] = {1, -7.5, 0};
	in = guard_input(x2, "sell");
	g = suggest("{\"flip\": {\"phi\": [[0.1, -2.0, 0.3]], \"flips\": [null, "
	            "-7.314000368118286, 9]}}",
	            &in);
	ck_assert_str_eq(jstr(g, "when"), "decision == \"sell\" && feature.b < -7.314");
	json_decref(g);
}
END_TEST

START_TEST(audit_suggest_guard_failure_region_box)
{
	const double x[3] = {0.7, 1, NAN};
	struct audit_guard_input in = guard_input(x, "sell");
	char text[1024];

	snprintf(text, sizeof(text),
	         "{%s, \"adversarial\": {\"region\": {\"precision\": 0.97, \"rule\": ["
	         "{\"feature\": \"a\", \"lo\": 0.5, \"lo_inclusive\": true, \"hi\": null,"
	         " \"hi_inclusive\": true},"
	         "{\"feature\": \"b\", \"lo\": null, \"lo_inclusive\": true, \"hi\": 2,"
	         " \"hi_inclusive\": false},"
	         "{\"feature\": \"c\", \"missing\": true}]}}}",
	         FLIP_B);
	json_t *g = suggest(text, &in);
	ck_assert_str_eq(jstr(g, "when"), "decision == \"sell\" && feature.a >= 0.5 && "
	                                  "feature.b < 2 && is_missing(feature.c)");
	ck_assert_str_eq(jstr(g, "source"), "adversarial");
	ck_assert_uint_eq(json_array_size(jget(g, "features")), 3);
	ck_assert_uint_eq(json_array_size(jget(g, "left_out")), 0);
	ck_assert_double_eq(jnum(g, "precision"), 0.97);
	ck_assert_ptr_null(jget(g, "feature"));
	json_decref(g);

	/* a box that does not hold the record (b above its bound) is not a guard for it: the
	 * counterfactual threshold instead */
	const double x2[3] = {0.7, 3, NAN};
	in = guard_input(x2, "sell");
	g = suggest(text, &in);
	ck_assert_str_eq(jstr(g, "source"), "flip");
	ck_assert_str_eq(jstr(g, "when"), "decision == \"sell\" && feature.b > 1.5");
	json_decref(g);

	/* a bounded feature the language cannot name is left out (a wider rule) */
	static const char *const odd[3] = {"a", "b c", "c"};
	in = guard_input(x, "sell");
	in.names = odd;
	g = suggest("{\"adversarial\": {\"region\": {\"rule\": ["
	            "{\"feature\": \"a\", \"lo\": 0.5, \"lo_inclusive\": false, \"hi\": 0.75,"
	            " \"hi_inclusive\": true},"
	            "{\"feature\": \"b c\", \"lo\": 0, \"lo_inclusive\": true, \"hi\": 2,"
	            " \"hi_inclusive\": true}]}}}",
	            &in);
	ck_assert_str_eq(jstr(g, "when"),
	                 "decision == \"sell\" && feature.a > 0.5 && feature.a <= 0.75");
	ck_assert_str_eq(jstr(g, "left_out.0"), "b c");
	json_decref(g);
}
END_TEST

START_TEST(audit_suggest_guard_decision_categorical_and_none)
{
	const double x[3] = {1, 3, 0};
	struct audit_guard_input in = guard_input(x, NULL);
	char text[256];
	json_t *g;

	snprintf(text, sizeof(text), "{%s}", FLIP_B);
	/* no decision, or one a config value cannot carry: the rule on the features alone */
	g = suggest(text, &in);
	ck_assert_str_eq(jstr(g, "when"), "feature.b > 1.5");
	ck_assert(json_is_null(jget(g, "decision")));
	json_decref(g);
	static const char *const odd[] = {"", "sell; now", "a\"b", "x#", "tab\there", " sell"};
	for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
		in.decision = odd[k];
		g = suggest(text, &in);
		ck_assert_str_eq(jstr(g, "when"), "feature.b > 1.5");
		json_decref(g);
	}

	/* a categorical dominant feature keeps its level */
	static const bool cat[3] = {false, true, false};
	in = guard_input(x, "approve");
	in.categorical = cat;
	g = suggest(text, &in);
	ck_assert_str_eq(jstr(g, "when"), "decision == \"approve\" && feature.b == 3");
	ck_assert(json_is_null(jget(g, "threshold")));
	json_decref(g);

	/* nothing found: no flip test, a dominant feature without a flip, a name the language
	 * cannot write, a missing value, the wrong number of attributions */
	static const char *const none[] = {
	    "{}",
	    "{\"flip\": {\"phi\": [[0.1, -2.0, 0.3]], \"flips\": [1, null, 9]}}",
	    "{\"flip\": {\"phi\": [[0.1, -2.0]], \"flips\": [1, 2]}}",
	    "{\"flip\": {\"phi\": [[0, 0, 0]], \"flips\": [1, 2, 3]}}",
	    "{\"adversarial\": {\"region\": {\"rule\": []}}}",
	};
	in = guard_input(x, "sell");
	for (size_t k = 0; k < sizeof(none) / sizeof(none[0]); k++) {
		json_t *res = results(none[k]);
		g = (json_t *)1;
		ck_assert_int_eq(audit_suggest_guard(res, &in, &g), 0);
		ck_assert_msg(g == NULL, "%s", none[k]);
		json_decref(res);
	}
	static const char *const odd_names[3] = {"a", "9b", "c"};
	in.names = odd_names;
	json_t *res = results(text);
	ck_assert_int_eq(audit_suggest_guard(res, &in, &g), 0);
	ck_assert_ptr_null(g);
	const double xm[3] = {1, NAN, 0};
	in = guard_input(xm, "sell");
	ck_assert_int_eq(audit_suggest_guard(res, &in, &g), 0);
	ck_assert_ptr_null(g);
	json_decref(res);
}
END_TEST

/* In an audit: built from the results, reproduced by running the audit again. */
START_TEST(audit_run_suggests_a_guard_that_replays)
{
	static const char *const methods[] = {"linear", "counterfactual", "adversarial"};
	struct call c = {.x = X_SEP,
	                 .methods = methods,
	                 .n_methods = 2,
	                 .seed = 5,
	                 .review_below = 0.5,
	                 .decision = "sell"};
	json_t *doc = run_logit(&c), *g = jget(doc, "results.suggested_guard");

	/* X_SEP: income (phi 1.6) dominates, the counterfactual along it */
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(jstr(g, "source"), "counterfactual");
	ck_assert_str_eq(jstr(g, "feature"), "income");
	ck_assert_str_eq(jstr(g, "model"), "credit@v7");
	ck_assert_str_eq(jstr(g, "name"), "incident-42");
	ck_assert_str_eq(jstr(g, "when"), "decision == \"sell\" && feature.income > -0.1875");
	/* the nearest income flip of the closed form: margin 0 at income = 0.8 - m / 2 */
	double t = jnum(g, "threshold");
	ck_assert_double_eq_tol(t, X_SEP[0] - margin_of(X_SEP) / COEF[0], 1e-9);
	json_t *again = run_logit(&c);
	ck_assert(json_equal(g, jget(again, "results.suggested_guard")));
	json_decref(again);
	json_decref(doc);

	/* with the failure search, its region */
	c.n_methods = 3;
	doc = run_logit(&c);
	g = jget(doc, "results.suggested_guard");
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(jstr(g, "source"), "adversarial");
	ck_assert_msg(strstr(jstr(g, "when"), "feature.income"), "%s", jstr(g, "when"));
	again = run_logit(&c);
	ck_assert(json_equal(g, jget(again, "results.suggested_guard")));
	json_decref(again);
	json_decref(doc);
}
END_TEST

/* ------------------------------------------------------------------ audit_status_name */

START_TEST(audit_status_name_names)
{
	ck_assert_str_eq(audit_status_name(AUDIT_COMPLETE), "complete");
	ck_assert_str_eq(audit_status_name(AUDIT_PARTIAL), "partial");
	ck_assert_str_eq(audit_status_name(AUDIT_FAILED), "failed");
	ck_assert_str_eq(audit_status_name((enum audit_status)7), "failed");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit_model_new");

	tcase_add_test(tc, audit_model_new_refuses_oracle_garbage_and_feature_mismatch);
	tcase_add_test(tc, audit_model_new_maps_probability_thresholds_to_margins);
	tcase_add_test(tc, audit_model_new_lineage_warnings);
	tcase_add_test(tc, audit_model_new_copies_labels_and_features);
	suite_add_tcase(s, tc);
	tc = tcase_create("audit_reference_rows");
	tcase_add_test(tc, audit_reference_rows_matches_columns_by_name);
	tcase_add_test(tc, audit_reference_rows_refuses_missing_columns_and_empty_data);
	suite_add_tcase(s, tc);
	tc = tcase_create("audit_run");
	tcase_add_test(tc, audit_run_linear_closed_form_and_proceed);
	tcase_add_test(tc, audit_run_recent_records_background_and_no_review_below);
	tcase_add_test(tc, audit_run_score_mismatch_fails_the_score_gate);
	tcase_add_test(tc, audit_run_review_below);
	tcase_add_test(tc, audit_run_fragile_decision_is_capped_and_reviewed);
	tcase_add_test(tc, audit_run_baseline_outlier);
	tcase_add_test(tc, audit_run_on_verdict_once_without_waiting_for_slow_methods);
	tcase_add_test(tc, audit_run_unknown_method_is_partial);
	tcase_add_test(tc, audit_run_lime_as_explain_computes_it);
	tcase_add_test(tc, audit_run_verdict_does_not_wait_for_lime);
	tcase_add_test(tc, audit_run_lime_failure_is_partial);
	tcase_add_test(tc, audit_run_empty_background_fails);
	tcase_add_test(tc, audit_run_is_deterministic);
	tcase_add_test(tc, audit_run_tree_model);
	suite_add_tcase(s, tc);
	tc = tcase_create("audit_lime_params");
	tcase_add_test(tc, audit_lime_params_reads_what_audits_record);
	suite_add_tcase(s, tc);
	tc = tcase_create("audit_results_canonical");
	tcase_add_test(tc, audit_results_canonical_sorted_and_stable);
	suite_add_tcase(s, tc);
	tc = tcase_create("audit_results_as_recorded");
	tcase_add_test(tc, audit_results_as_recorded_keeps_only_recorded_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("audit_suggest_guard");
	tcase_add_test(tc, audit_suggest_guard_counterfactual_threshold_of_the_dominant_feature);
	tcase_add_test(tc, audit_suggest_guard_failure_region_box);
	tcase_add_test(tc, audit_suggest_guard_decision_categorical_and_none);
	tcase_add_test(tc, audit_run_suggests_a_guard_that_replays);
	suite_add_tcase(s, tc);
	tc = tcase_create("audit_status_name");
	tcase_add_test(tc, audit_status_name_names);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
