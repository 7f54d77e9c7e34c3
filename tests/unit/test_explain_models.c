/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the model loaders and evaluators: hand-made LightGBM models that exercise
 * every decision_type bit and hand-made XGBoost JSON (categorical splits, default directions,
 * base_score forms), each checked against hand-computed predictions and brute-force Shapley
 * values; malformed files refused with the file and field named; linear-json; links; the JSON
 * reader the XGBoost loader uses (xjson.h): its refusals with line and column, numbers to the
 * bit of strtod's, strings decoded. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "model.h"
#include "shap_brute.h"
#include "testutil.h"
#include "xjson.h"

static struct ex_model *load(const char *text, enum ex_format fmt)
{
	struct ex_model *m = NULL;
	char err[EX_ERR_MAX] = "";
	int rc = ex_model_load_buffer(text, strlen(text), fmt, "test-model", &m, err, sizeof(err));
	ck_assert_msg(rc == 0, "load: %d %s", rc, err);
	return m;
}

static double margin(const struct ex_model *m, double a, double b, double c)
{
	double x[3] = {a, b, c}, out[4];
	ck_assert_int_eq(ex_predict_margin(m, x, NULL, out), 0);
	return out[0];
}

/* Every exact method agrees with brute force on a few rows of a 3-feature model. */
static void check_shapley(const struct ex_model *m, const double rows[][3], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double phi[3 * 8], base[8], bphi[3 * 8], bbase[8], cphi[3 * 8], cbase[8];
		size_t K = ex_model_n_outputs(m);
		ck_assert_int_eq(ex_treeshap(m, rows[i], phi, base), 0);
		ck_assert_int_eq(ex_treeshap_classic(m, rows[i], cphi, cbase), 0);
		brute_shapley(m, brute_g_path, rows[i], NULL, 0, bphi, bbase);
		for (size_t k = 0; k < K * 3; k++) {
			/* the brute force subtracts values of the ensemble's size (here ~3e4) */
			double tol = 1e-12 * (1 + fabs(bbase[k / 3]) + fabs(bphi[k]));
			ck_assert_msg(fabs(phi[k] - bphi[k]) < tol,
			              "row %zu phi[%zu] %.17g vs %.17g", i, k, phi[k], bphi[k]);
			ck_assert(fabs(cphi[k] - bphi[k]) < tol);
		}
		for (size_t g = 0; g < K; g++)
			ck_assert(fabs(base[g] - bbase[g]) < 1e-12 * (1 + fabs(bbase[g])));
	}
}

/* ------------------------------------------------------------------ LightGBM */

/* Five one-split trees, one per decision_type case, and a deeper tree repeating features.
 * Leaf values are powers of ten so every route shows in the sum. */
static const char lgb_model[] =
    "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
    "max_feature_idx=2\nobjective=regression\nfeature_names=a b cat\n"
    "feature_infos=[0:1] [0:1] 0:1:2:3\ntree_sizes=1 1 1 1 1 1\n\n"
    /* numeric, missing None, default right: NaN becomes 0.0; x <= 0.5 left */
    "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=0\n"
    "left_child=-1\nright_child=-2\nleaf_value=1 2\nleaf_count=10 10\ninternal_count=20\n"
    "is_linear=0\nshrinkage=1\n\n"
    /* numeric, missing Zero (4), default left (2): |x| <= 1e-35 or NaN go left */
    "Tree=1\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nthreshold=-1\ndecision_type=6\n"
    "left_child=-1\nright_child=-2\nleaf_value=10 20\nleaf_count=5 15\ninternal_count=20\n"
    "is_linear=0\nshrinkage=1\n\n"
    /* numeric, missing NaN (8), default right: NaN goes right, 0 is a value */
    "Tree=2\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nthreshold=0.25\ndecision_type=8\n"
    "left_child=-1\nright_child=-2\nleaf_value=100 200\nleaf_count=12 8\n"
    "internal_count=20\nis_linear=0\nshrinkage=1\n\n"
    /* categorical (1), missing NaN (8): set {1, 3} goes left; NaN and negatives right */
    "Tree=3\nnum_leaves=2\nnum_cat=1\nsplit_feature=2\nthreshold=0\ndecision_type=9\n"
    "left_child=-1\nright_child=-2\nleaf_value=1000 2000\nleaf_count=7 13\n"
    "internal_count=20\ncat_boundaries=0 1\ncat_threshold=10\nis_linear=0\nshrinkage=1\n\n"
    /* categorical, missing None: NaN still goes right (LightGBM v3+ CategoricalDecision);
     * set {0, 2, 33} (two words) */
    "Tree=4\nnum_leaves=2\nnum_cat=1\nsplit_feature=2\nthreshold=0\ndecision_type=1\n"
    "left_child=-1\nright_child=-2\nleaf_value=10000 20000\nleaf_count=9 11\n"
    "internal_count=20\ncat_boundaries=0 2\ncat_threshold=5 2\nis_linear=0\nshrinkage=1\n\n"
    /* depth 3 repeating a and b, with a zero-count leaf */
    "Tree=5\nnum_leaves=4\nnum_cat=0\nsplit_feature=0 1 0\nthreshold=0.3 0.6 0.8\n"
    "decision_type=2 10 0\nleft_child=1 -1 -3\nright_child=2 -2 -4\n"
    "leaf_value=0.1 0.2 0.3 0.4\nleaf_count=4 6 0 10\ninternal_count=20 10 10\n"
    "is_linear=0\nshrinkage=1\n\n"
    "end of trees\n\nfeature_importances:\na=3\n";

START_TEST(ex_load_lightgbm_text_every_decision_type)
{
	struct ex_model *m = load(lgb_model, EX_FORMAT_AUTO);
	double nan = NAN;

	ck_assert_int_eq(ex_model_format(m), EX_FORMAT_LIGHTGBM_TEXT);
	ck_assert_uint_eq(ex_model_n_features(m), 3);
	ck_assert_str_eq(ex_model_feature_name(m, 2), "cat");
	/* a=0.5 (<= threshold: left 1), b=0.0 (Zero missing: left 10; NaN-type tree: 0 <= 0.25
	 * left 100), cat=1 (in {1,3}: left 1000; not in {0,2,33}: right 20000);
	 * tree 5: a=0.5 > 0.3 right -> a > 0.8? no -> leaf 0.3 */
	ck_assert_double_eq_tol(margin(m, 0.5, 0.0, 1), 1 + 10 + 100 + 1000 + 20000 + 0.3, 1e-9);
	/* a NaN -> 0.0 (missing None) -> left 1; tree 5 root: decision_type 2 = default left,
	 * missing None: NaN -> 0.0 <= 0.3 left -> node 1 on b */
	/* b NaN: tree1 default left 10; tree2 NaN right 200; tree 5 node 1 (missing NaN,
	 * default left) -> left leaf 0.1; cat NaN: right in both categorical trees (2000, 20000)
	 * whatever the missing type */
	ck_assert_double_eq_tol(margin(m, nan, nan, nan), 1 + 10 + 200 + 2000 + 20000 + 0.1, 1e-9);
	/* cat -0.5 truncates to category 0 (in {0, 2, 33}: left 10000; not in {1, 3}: right 2000);
	 * -1 is negative: right in both; 2^31 and beyond: right (the x86 int conversion) */
	ck_assert_double_eq_tol(margin(m, 0.5, 0.0, -0.5), 1 + 10 + 100 + 2000 + 10000 + 0.3, 1e-9);
	ck_assert_double_eq_tol(margin(m, 0.5, 0.0, -1), 1 + 10 + 100 + 2000 + 20000 + 0.3, 1e-9);
	ck_assert_double_eq_tol(margin(m, 0.5, 0.0, 4294967298.0),
	                        1 + 10 + 100 + 2000 + 20000 + 0.3, 1e-9);
	/* b exactly 1e-36 is "zero" for Zero missing -> left 10; cat 33 in the second word ->
	 * tree4 left; cat -2 -> right for both categorical trees */
	ck_assert_double_eq_tol(margin(m, 0.9, 1e-36, 33), 2 + 10 + 100 + 2000 + 10000 + 0.4, 1e-9);
	ck_assert_double_eq_tol(margin(m, 0.9, 0.7, -2), 2 + 20 + 200 + 2000 + 20000 + 0.4, 1e-9);
	/* cat 3.7 truncates to 3 (in {1,3}); cat 64 lies beyond both bitsets: not in them */
	ck_assert_double_eq_tol(margin(m, 0.1, 0.7, 3.7), 1 + 20 + 200 + 1000 + 20000 + 0.2, 1e-9);
	ck_assert_double_eq_tol(margin(m, 0.1, 0.7, 64), 1 + 20 + 200 + 2000 + 20000 + 0.2, 1e-9);

	static const double rows[][3] = {{0.5, 0.0, 1},  {NAN, NAN, NAN}, {0.9, 1e-36, 33},
	                                 {0.9, 0.7, -2}, {0.1, 0.7, 3.7}, {0.31, 0.1, 64},
	                                 {0.85, NAN, 2}};
	check_shapley(m, rows, sizeof(rows) / sizeof(rows[0]));
	ex_model_free(m);
}
END_TEST

START_TEST(ex_load_lightgbm_text_multiclass_and_average)
{
	static const char text[] =
	    "tree\nversion=v4\nnum_class=3\nnum_tree_per_iteration=3\nmax_feature_idx=2\n"
	    "objective=multiclass num_class:3\naverage_output\n\n"
	    "Tree=0\nnum_leaves=2\nsplit_feature=0\nthreshold=0\ndecision_type=0\n"
	    "left_child=-1\nright_child=-2\nleaf_value=1 2\nleaf_count=1 1\ninternal_count=2\n\n"
	    "Tree=1\nnum_leaves=1\nleaf_value=5\n\n"
	    "Tree=2\nnum_leaves=2\nsplit_feature=2\nthreshold=0\ndecision_type=0\n"
	    "left_child=-1\nright_child=-2\nleaf_value=3 4\nleaf_count=1 3\ninternal_count=4\n\n"
	    "Tree=3\nnum_leaves=2\nsplit_feature=1\nthreshold=0\ndecision_type=0\n"
	    "left_child=-1\nright_child=-2\nleaf_value=7 9\nleaf_count=1 1\ninternal_count=2\n\n"
	    "Tree=4\nnum_leaves=1\nleaf_value=1\n\n"
	    "Tree=5\nnum_leaves=1\nleaf_value=2\n\n"
	    "end of trees\n";
	struct ex_model *m = load(text, EX_FORMAT_LIGHTGBM_TEXT);
	double x[3] = {1, -1, -1}, out[3];

	ck_assert_uint_eq(ex_model_n_outputs(m), 3);
	ck_assert_int_eq(ex_model_link(m), EX_LINK_SOFTMAX);
	ck_assert_int_eq(ex_predict_margin(m, x, NULL, out), 0);
	/* average over 2 iterations: class 0 = (2 + 7)/2, class 1 = (5 + 1)/2, class 2 =
	 * (3 + 2)/2 */
	ck_assert_double_eq_tol(out[0], 4.5, 1e-12);
	ck_assert_double_eq_tol(out[1], 3.0, 1e-12);
	ck_assert_double_eq_tol(out[2], 2.5, 1e-12);
	static const double rows[][3] = {{1, -1, -1}, {-1, 1, 1}, {NAN, 0, 5}};
	check_shapley(m, rows, 3);
	ex_link_apply(m, out);
	ck_assert_double_eq_tol(out[0] + out[1] + out[2], 1.0, 1e-12);
	ex_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------ XGBoost */

/* One tree: node 0 numeric on f0 < 0.5 (default left), node 2 categorical on f2 with set
 * {1, 4} going right (default right); objective binary:logistic, base_score as given. */
static char *xgb_json(const char *base_score)
{
	char *s;
	int n = asprintf(
	    &s,
	    "{\"learner\":{\"attributes\":{},\"feature_names\":[\"a\",\"b\",\"c\"],"
	    "\"feature_types\":[\"float\",\"float\",\"c\"],"
	    "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_trees\":\"1\"},"
	    "\"tree_info\":[0],\"trees\":[{"
	    "\"base_weights\":[0,0,0,0,0],\"categories\":[1,4],\"categories_nodes\":[2],"
	    "\"categories_segments\":[0],\"categories_sizes\":[2],"
	    "\"default_left\":[1,0,0,0,0],\"id\":0,"
	    "\"left_children\":[1,-1,3,-1,-1],\"right_children\":[2,-1,4,-1,-1],"
	    "\"loss_changes\":[1,0,1,0,0],\"parents\":[2147483647,0,0,2,2],"
	    "\"split_conditions\":[0.5,0.25,0,-0.5,0.75],\"split_indices\":[0,0,2,0,0],"
	    "\"split_type\":[0,0,1,0,0],\"sum_hessian\":[10,4,6,2,4],"
	    "\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"3\",\"num_nodes\":\"5\","
	    "\"size_leaf_vector\":\"0\"}}]},\"name\":\"gbtree\"},"
	    "\"learner_model_param\":{\"base_score\":\"%s\",\"num_class\":\"0\","
	    "\"num_feature\":\"3\",\"num_target\":\"1\"},"
	    "\"objective\":{\"name\":\"binary:logistic\",\"reg_loss_param\":{}}},"
	    "\"version\":[2,0,3]}",
	    base_score);
	ck_assert_int_gt(n, 0);
	return s;
}

START_TEST(ex_load_xgboost_json_categorical_and_base_score)
{
	char *text = xgb_json("5E-1");
	struct ex_model *m = load(text, EX_FORMAT_AUTO);
	double b03 = -log(1 / 0.3 - 1);

	ck_assert_int_eq(ex_model_format(m), EX_FORMAT_XGBOOST_JSON);
	ck_assert_int_eq(ex_model_link(m), EX_LINK_LOGIT);
	/* base_score 0.5 is margin 0 */
	ck_assert_double_eq_tol(margin(m, 0.2, 0, 0), 0.25, 1e-7);
	ck_assert_double_eq_tol(margin(m, NAN, 0, 0), 0.25, 1e-7); /* default left */
	/* f0 >= 0.5 -> categorical node: {1, 4} right (0.75); others and NaN-free 2 left */
	ck_assert_double_eq_tol(margin(m, 0.5, 0, 4), 0.75, 1e-7);
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 2), -0.5, 1e-7);
	ck_assert_double_eq_tol(margin(m, 0.9, 0, -1), -0.5, 1e-7);       /* negative: left */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 1.9), 0.75, 1e-7);      /* truncates to 1 */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, NAN), 0.75, 1e-7);      /* default right */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 16777216), -0.5, 1e-7); /* >= 2^24: left */
	/* float32 comparison: 0.49999999 as a double rounds to 0.5f, which is not < 0.5f */
	ck_assert_double_eq_tol(margin(m, 0.49999999, 0, 2), -0.5, 1e-7);
	static const double rows[][3] = {{0.2, 0, 0}, {0.9, 0, 4}, {NAN, 1, NAN}, {0.9, 0, 2}};
	check_shapley(m, rows, 4);
	ex_model_free(m);
	free(text);

	/* 2.x: an estimated intercept; 3.1: a JSON array inside the string */
	text = xgb_json("3E-1");
	m = load(text, EX_FORMAT_XGBOOST_JSON);
	ck_assert_double_eq_tol(margin(m, 0.2, 0, 0), b03 + 0.25, 1e-7);
	ex_model_free(m);
	free(text);
	text = xgb_json("[3E-1]");
	m = load(text, EX_FORMAT_XGBOOST_JSON);
	ck_assert_double_eq_tol(margin(m, 0.2, 0, 0), b03 + 0.25, 1e-7);
	double bm = 2.0, x[3] = {0.2, 0, 0}, out[1];
	ck_assert_int_eq(ex_predict_margin(m, x, &bm, out), 0); /* per-row base_margin */
	ck_assert_double_eq_tol(out[0], 2.25, 1e-7);
	ex_model_free(m);
	free(text);
}
END_TEST

/* ------------------------------------------------------------------ malformed files */

/* s with the first `from` replaced by `to` (malloc'd). */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	char *out;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_gt(asprintf(&out, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from)), 0);
	return out;
}

struct bad {
	const char *text;
	enum ex_format fmt;
	int rc;
	const char *what; /* a substring the message must contain */
};

START_TEST(ex_model_load_buffer_names_file_and_field)
{
	char *good = xgb_json("5E-1");
	char *child = replace(good, "\"left_children\":[1,", "\"left_children\":[9,");
	char *objective = replace(good, "binary:logistic", "rank:pairwise");
	char *vector = replace(good, "\"size_leaf_vector\":\"0\"", "\"size_leaf_vector\":\"3\"");
	char *cycle = replace(good, "\"right_children\":[2,-1,4,", "\"right_children\":[2,-1,0,");
	char *trunc = strdup(good);
	char *type =
	    replace(good, "\"split_indices\":[0,0,2,0,0]", "\"split_indices\":[\"x\",0,2,0,0]");

	trunc[strlen(trunc) / 2] = '\0';
	const struct bad cases[] = {
	    {child, EX_FORMAT_XGBOOST_JSON, -EBADMSG,
	     "learner.gradient_booster.model.trees[0].left_children[0]: child 9 out of range "
	     "(tree has 5 nodes)"},
	    {objective, EX_FORMAT_XGBOOST_JSON, -ENOTSUP, "rank:pairwise"},
	    {vector, EX_FORMAT_XGBOOST_JSON, -ENOTSUP, "vector leaves"},
	    {cycle, EX_FORMAT_XGBOOST_JSON, -EBADMSG, "reached twice"},
	    {trunc, EX_FORMAT_XGBOOST_JSON, -EBADMSG, "line 1"},
	    {type, EX_FORMAT_XGBOOST_JSON, -EBADMSG,
	     "learner.gradient_booster.model.trees[0].split_indices[0]: not a number"},
	    {"{\"learner\":{}}", EX_FORMAT_XGBOOST_JSON, -EBADMSG, "learner.learner_model_param"},
	    {"{\"coef\":[1,\"x\"]}", EX_FORMAT_LINEAR_JSON, -EBADMSG, "coef[1]"},
	    {"{\"coef\":[1],\"link\":\"probit\"}", EX_FORMAT_LINEAR_JSON, -ENOTSUP, "probit"},
	    {"tree\nmax_feature_idx=1\nobjective=binary sigmoid:1\n\nTree=0\nnum_leaves=2\n"
	     "split_feature=5\nthreshold=0\ndecision_type=0\nleft_child=-1\nright_child=-2\n"
	     "leaf_value=1 2\nleaf_count=1 1\ninternal_count=2\n\nend of trees\n",
	     EX_FORMAT_LIGHTGBM_TEXT, -EBADMSG, "split_feature[0]"},
	    {"tree\nmax_feature_idx=1\nobjective=regression\n\nTree=0\nnum_leaves=2\n"
	     "split_feature=0\nthreshold=0\ndecision_type=0\nleft_child=-1\nright_child=-2\n"
	     "leaf_value=1 2\nleaf_count=1 1\ninternal_count=2\nis_linear=1\n\nend of trees\n",
	     EX_FORMAT_LIGHTGBM_TEXT, -ENOTSUP, "linear trees"},
	    {"tree\nmax_feature_idx=1\nobjective=regression\n\nTree=0\nnum_leaves=2\n"
	     "split_feature=0\nthreshold=0\ndecision_type=0\nleft_child=-1\nright_child=-2\n"
	     "leaf_value=1\n\nend of trees\n",
	     EX_FORMAT_LIGHTGBM_TEXT, -EBADMSG, "leaf_value"},
	    {"tree\nmax_feature_idx=1\nobjective=lambdamart_v9\n\nend of trees\n",
	     EX_FORMAT_LIGHTGBM_TEXT, -ENOTSUP, "lambdamart_v9"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ex_model *m = NULL;
		char err[EX_ERR_MAX] = "";
		int rc = ex_model_load_buffer(cases[i].text, strlen(cases[i].text), cases[i].fmt,
		                              "bad-model.json", &m, err, sizeof(err));
		ck_assert_msg(rc == cases[i].rc, "case %zu: rc %d, want %d (%s)", i, rc,
		              cases[i].rc, err);
		ck_assert_msg(strstr(err, "bad-model.json") && strstr(err, cases[i].what),
		              "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].what);
		ck_assert_ptr_null(m);
	}
	free(good);
	free(child);
	free(objective);
	free(vector);
	free(cycle);
	free(trunc);
	free(type);
}
END_TEST

START_TEST(ex_model_load_reports_unreadable_file)
{
	struct ex_model *m;
	char err[EX_ERR_MAX];
	ck_assert_int_eq(
	    ex_model_load("/nonexistent/model.json", EX_FORMAT_AUTO, &m, err, sizeof(err)),
	    -ENOENT);
	ck_assert(strstr(err, "/nonexistent/model.json") != NULL);
}
END_TEST

/* ------------------------------------------------------------------ linear and links */

START_TEST(ex_load_linear_json_predicts)
{
	struct ex_model *m = load("{\"intercept\": -1, \"coef\": [0.5, -2, 3], \"link\": \"logit\","
	                          " \"feature_names\": [\"x\", \"y\", \"z\"],"
	                          " \"feature_means\": [1, 1, 1]}",
	                          EX_FORMAT_AUTO);
	double x[3] = {2, 1, 0}, out[1], phi[3], base[1];

	ck_assert_int_eq(ex_model_format(m), EX_FORMAT_LINEAR_JSON);
	ck_assert(!ex_model_is_trees(m));
	ck_assert_double_eq_tol(margin(m, 2, 1, 0), -1 + 1 - 2 + 0, 1e-12);
	/* linear SHAP against the stored means */
	ck_assert_int_eq(ex_linear_shap(m, x, NULL, 0, phi, base), 0);
	ck_assert_double_eq_tol(phi[0], 0.5, 1e-12);
	ck_assert_double_eq_tol(phi[2], -3, 1e-12);
	ck_assert_double_eq_tol(base[0], -1 + 0.5 - 2 + 3, 1e-12);
	x[1] = NAN;
	ck_assert_int_eq(ex_predict_margin(m, x, NULL, out), -EINVAL);
	ck_assert_int_eq(ex_treeshap(m, x, phi, base), -EINVAL);
	ex_model_free(m);
}
END_TEST

START_TEST(ex_link_apply_links)
{
	struct ex_model m = {.n_outputs = 1, .link = EX_LINK_LOGIT, .link_scale = 1};
	double v[3] = {0, 0, 0};

	ex_link_apply(&m, v);
	ck_assert_double_eq_tol(v[0], 0.5, 1e-15);
	v[0] = 1;
	ex_link_apply(&m, v);
	ck_assert_double_eq_tol(v[0], 1 / (1 + exp(-1.0)), 1e-15);
	m.link_scale = 2; /* LightGBM's sigmoid:2 */
	v[0] = 1;
	ex_link_apply(&m, v);
	ck_assert_double_eq_tol(v[0], 1 / (1 + exp(-2.0)), 1e-15);
	m.link = EX_LINK_IDENTITY;
	v[0] = -3;
	ex_link_apply(&m, v);
	ck_assert_double_eq(v[0], -3);
	m.link = EX_LINK_LOG;
	v[0] = 0;
	ex_link_apply(&m, v);
	ck_assert_double_eq_tol(v[0], 1, 1e-15);
	m.link = EX_LINK_SOFTMAX;
	m.n_outputs = 3;
	v[0] = 1000;
	v[1] = 1000;
	v[2] = -1000; /* no overflow */
	ex_link_apply(&m, v);
	ck_assert_double_eq_tol(v[0], 0.5, 1e-15);
	ck_assert_double_eq_tol(v[2], 0, 1e-15);
}
END_TEST

/* ------------------------------------------------------------------ edge semantics */

/* A one-split LightGBM regression tree on feature 0: leaves 1 (left) and 2 (right). */
static char *lgb_stump(const char *objective, const char *num_cat, const char *threshold,
                       const char *decision_type)
{
	char *s;
	ck_assert_int_gt(asprintf(&s,
	                          "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n"
	                          "max_feature_idx=1\nobjective=%s\n\nTree=0\nnum_leaves=2\n"
	                          "num_cat=%s\nsplit_feature=0\nthreshold=%s\ndecision_type=%s\n"
	                          "left_child=-1\nright_child=-2\nleaf_value=1 2\nleaf_count=3 "
	                          "5\ninternal_count=8\ncat_boundaries=0 1\ncat_threshold=1\n"
	                          "is_linear=0\nshrinkage=1\n\nend of trees\n",
	                          objective, num_cat, threshold, decision_type),
	                 0);
	return s;
}

static double margin1(const struct ex_model *m, double a)
{
	return margin(m, a, 0, 0);
}

START_TEST(ex_node_next_lightgbm_zero_threshold_is_a_float)
{
	/* missing Zero (4), default left (2); threshold -1: non-zero values right */
	char *t = lgb_stump("regression", "0", "-1", "6");
	struct ex_model *m = load(t, EX_FORMAT_LIGHTGBM_TEXT);

	/* kZeroThreshold is 1e-35f = 1.0000000180025095e-35, not the double 1e-35 */
	ck_assert_double_eq(margin1(m, 1e-35), 1);
	ck_assert_double_eq(margin1(m, 1.00000001e-35), 1);
	ck_assert_double_eq(margin1(m, -1.00000001e-35), 1);
	ck_assert_double_eq(margin1(m, 1.0000000180025097e-35), 2);
	ck_assert_double_eq(margin1(m, NAN), 1); /* NaN -> 0.0 -> zero -> default left */
	ex_model_free(m);
	free(t);

	/* missing None: the dense predictor turns |x| <= kZeroThreshold into 0.0 first, so 8e-36
	 * compares as 0 <= 5e-36 (left), not as 8e-36 > 5e-36 */
	t = lgb_stump("regression", "0", "5e-36", "0");
	m = load(t, EX_FORMAT_LIGHTGBM_TEXT);
	ck_assert_double_eq(margin1(m, 8e-36), 1);
	ck_assert_double_eq(margin1(m, 6e-35), 2);
	ex_model_free(m);
	free(t);
}
END_TEST

START_TEST(ex_node_next_lightgbm_categorical_bit_without_num_cat)
{
	/* decision_type 1 (categorical) in a tree with num_cat=0: Tree::GetLeaf then runs
	 * NumericalDecision on every node, so the threshold 0 is a number */
	char *t = lgb_stump("regression", "0", "0", "1");
	struct ex_model *m = load(t, EX_FORMAT_LIGHTGBM_TEXT);

	ck_assert_double_eq(margin1(m, -0.5), 1);
	ck_assert_double_eq(margin1(m, 0.5), 2);
	ex_model_free(m);
	free(t);
	/* missing Zero, default right (4): zero and NaN (-> 0.0) take the default, right */
	t = lgb_stump("regression", "0", "-1", "4");
	m = load(t, EX_FORMAT_LIGHTGBM_TEXT);
	ck_assert_double_eq(margin1(m, 0), 2);
	ck_assert_double_eq(margin1(m, NAN), 2);
	ck_assert_double_eq(margin1(m, -5), 1);
	ck_assert_double_eq(margin1(m, -1), 1); /* x <= threshold: left */
	ex_model_free(m);
	free(t);
	/* categorical with default_left and missing NaN (11): CategoricalDecision ignores the
	 * default direction, NaN goes right */
	t = lgb_stump("regression", "1", "0", "11");
	m = load(t, EX_FORMAT_LIGHTGBM_TEXT);
	ck_assert_double_eq(margin1(m, NAN), 2);
	ck_assert_double_eq(margin1(m, 0), 1);
	ex_model_free(m);
	free(t);
	/* with num_cat=1 the same node is categorical: set {0} (cat_threshold=1) left */
	t = lgb_stump("regression", "1", "0", "1");
	m = load(t, EX_FORMAT_LIGHTGBM_TEXT);
	ck_assert_double_eq(margin1(m, -0.5), 1); /* (int)-0.5 == 0 */
	ck_assert_double_eq(margin1(m, 0.5), 1);
	ck_assert_double_eq(margin1(m, 1), 2);
	ck_assert_double_eq(margin1(m, -1), 2);
	ck_assert_double_eq(margin1(m, NAN), 2);
	ex_model_free(m);
	free(t);
}
END_TEST

START_TEST(ex_load_lightgbm_text_objectives)
{
	static const struct {
		const char *objective;
		int rc;
		enum ex_link link;
		double scale;
	} cases[] = {
	    {"binary sigmoid:1", 0, EX_LINK_LOGIT, 1},
	    {"binary sigmoid:2.5", 0, EX_LINK_LOGIT, 2.5},
	    {"cross_entropy", 0, EX_LINK_LOGIT, 1},
	    {"regression", 0, EX_LINK_IDENTITY, 1},
	    {"huber", 0, EX_LINK_IDENTITY, 1},
	    {"poisson", 0, EX_LINK_LOG, 1},
	    {"tweedie tweedie_variance_power:1.5", 0, EX_LINK_LOG, 1},
	    {"regression sqrt", -ENOTSUP, 0, 0},
	    {"binary sigmoid:-1", -EBADMSG, 0, 0},
	    {"cross_entropy_lambda", -ENOTSUP, 0, 0},
	    {"custom", -ENOTSUP, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = lgb_stump(cases[i].objective, "0", "0", "0");
		struct ex_model *m = NULL;
		char err[EX_ERR_MAX] = "";
		int rc = ex_model_load_buffer(t, strlen(t), EX_FORMAT_AUTO, "obj.txt", &m, err,
		                              sizeof(err));
		ck_assert_msg(rc == cases[i].rc, "%s: rc %d (%s)", cases[i].objective, rc, err);
		if (rc == 0) {
			double v[1] = {1};
			ck_assert_int_eq(ex_model_link(m), cases[i].link);
			ck_assert_str_eq(ex_model_objective(m), cases[i].objective);
			ex_link_apply(m, v);
			if (cases[i].link == EX_LINK_LOGIT)
				ck_assert_double_eq_tol(v[0], 1 / (1 + exp(-cases[i].scale)),
				                        1e-15);
		} else {
			ck_assert_msg(strstr(err, "obj.txt: objective"), "%s", err);
		}
		ex_model_free(m);
		free(t);
	}
}
END_TEST

START_TEST(ex_node_next_xgboost_categorical_casts_to_float)
{
	char *text = xgb_json("5E-1");
	struct ex_model *m = load(text, EX_FORMAT_XGBOOST_JSON);

	/* the set {1, 4} goes right (0.75), everything else left (-0.5) */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 3.9999999), 0.75, 1e-7);  /* 4.0f */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 3.99), -0.5, 1e-7);       /* 3 */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 16777215.7), -0.5, 1e-7); /* 2^24 as float */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, -1e-30), -0.5, 1e-7);     /* negative */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, -0.0), -0.5, 1e-7);       /* category 0 */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 4096), -0.5, 1e-7);       /* past the bitset */
	ck_assert_double_eq_tol(margin(m, 0.9, 0, INFINITY), -0.5, 1e-7);
	ex_model_free(m);
	free(text);
}
END_TEST

START_TEST(ex_load_xgboost_json_variants)
{
	char *good = xgb_json("3E-1");
	struct ex_model *m;

	/* binary:logitraw: base_score is already a margin (1.7 observed, 2.x/3.x source) */
	char *raw = replace(good, "binary:logistic", "binary:logitraw");
	m = load(raw, EX_FORMAT_XGBOOST_JSON);
	ck_assert_int_eq(ex_model_link(m), EX_LINK_IDENTITY);
	ck_assert_double_eq_tol(margin(m, 0.2, 0, 0), 0.3 + 0.25, 1e-7);
	ex_model_free(m);
	/* count:poisson: log link on base_score */
	char *pois = replace(good, "binary:logistic", "count:poisson");
	m = load(pois, EX_FORMAT_XGBOOST_JSON);
	ck_assert_int_eq(ex_model_link(m), EX_LINK_LOG);
	ck_assert_double_eq_tol(margin(m, 0.2, 0, 0), log(0.3) + 0.25, 1e-7);
	ex_model_free(m);
	/* DART: gbtree inside, leaves scaled by weight_drop */
	char *d1 = replace(good, "\"gradient_booster\":{\"model\":",
	                   "\"gradient_booster\":{\"name\":\"dart\",\"weight_drop\":[0.5],"
	                   "\"gbtree\":{\"model\":");
	char *dart = replace(d1, "\"name\":\"gbtree\"},", "\"name\":\"gbtree\"}},");
	m = load(dart, EX_FORMAT_AUTO);
	ck_assert_double_eq_tol(margin(m, 0.2, 0, 0), -log(1 / 0.3 - 1) + 0.5 * 0.25, 1e-7);
	ex_model_free(m);
	/* XGBoost writes NaN as a bare token (a categorical split's condition) */
	char *nan = replace(good, "\"split_conditions\":[0.5,0.25,0,",
	                    "\"split_conditions\":[0.5,0.25,NaN,");
	m = load(nan, EX_FORMAT_XGBOOST_JSON);
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 4), -log(1 / 0.3 - 1) + 0.75, 1e-7);
	ex_model_free(m);
	/* a deleted node (pruned, kept in the arrays) is dropped: 5 nodes + 1 unreachable */
	static const char *const extra[][2] = {
	    {"[1,-1,3,-1,-1]", "[1,-1,3,-1,-1,-1]"},
	    {"[2,-1,4,-1,-1]", "[2,-1,4,-1,-1,-1]"},
	    {"\"split_indices\":[0,0,2,0,0]", "\"split_indices\":[0,0,2,0,0,0]"},
	    {"\"split_type\":[0,0,1,0,0]", "\"split_type\":[0,0,1,0,0,0]"},
	    {"[10,4,6,2,4]", "[10,4,6,2,4,1]"},
	    {"\"default_left\":[1,0,0,0,0]", "\"default_left\":[1,0,0,0,0,0]"},
	    {"[0.5,0.25,0,-0.5,0.75]", "[0.5,0.25,0,-0.5,0.75,99]"},
	};
	char *del = strdup(good);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		char *next = replace(del, extra[i][0], extra[i][1]);
		free(del);
		del = next;
	}
	m = load(del, EX_FORMAT_XGBOOST_JSON);
	ck_assert_int_eq(m->trees[0].n_nodes, 5);
	ck_assert_double_eq_tol(margin(m, 0.9, 0, 4), -log(1 / 0.3 - 1) + 0.75, 1e-7);
	ex_model_free(m);

	char *bad_weight = replace(dart, "[0.5]", "[\"x\"]");
	char *num_nan = replace(good, "\"split_conditions\":[0.5,", "\"split_conditions\":[NaN,");
	char *zero_pois = replace(pois, "\"base_score\":\"3E-1\"", "\"base_score\":\"0\"");
	char *info = replace(good, "\"tree_info\":[0]", "\"tree_info\":[1]");
	const struct bad cases[] = {
	    {bad_weight, EX_FORMAT_XGBOOST_JSON, -EBADMSG,
	     "learner.gradient_booster.weight_drop[0]"},
	    {num_nan, EX_FORMAT_XGBOOST_JSON, -EBADMSG,
	     "learner.gradient_booster.model.trees[0].split_conditions[0]"},
	    {zero_pois, EX_FORMAT_XGBOOST_JSON, -EBADMSG, "base_score"},
	    {info, EX_FORMAT_XGBOOST_JSON, -EBADMSG, "tree_info[0]: class 1 out of range"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[EX_ERR_MAX] = "";
		m = NULL;
		int rc = ex_model_load_buffer(cases[i].text, strlen(cases[i].text), cases[i].fmt,
		                              "v.json", &m, err, sizeof(err));
		ck_assert_msg(rc == cases[i].rc, "case %zu: rc %d (%s)", i, rc, err);
		ck_assert_msg(strstr(err, "v.json: ") && strstr(err, cases[i].what),
		              "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].what);
		ck_assert_ptr_null(m);
	}
	free(bad_weight);
	free(num_nan);
	free(zero_pois);
	free(info);
	free(good);
	free(raw);
	free(pois);
	free(d1);
	free(dart);
	free(nan);
	free(del);
}
END_TEST

START_TEST(ex_model_load_buffer_detects_formats)
{
	struct ex_model *m = NULL;
	char err[EX_ERR_MAX] = "";
	/* a feature named "learner" does not make a linear model XGBoost */
	static const char lin[] = "{\"feature_names\": [\"learner\"], \"coef\": [2]}";
	m = load(lin, EX_FORMAT_AUTO);
	ck_assert_int_eq(ex_model_format(m), EX_FORMAT_LINEAR_JSON);
	ex_model_free(m);
	/* LightGBM text without the leading "tree" line */
	static const char lgb[] = "version=v4\nmax_feature_idx=0\nobjective=regression\n\n"
	                          "Tree=0\nnum_leaves=1\nleaf_value=0.5\n\nend of trees\n";
	m = load(lgb, EX_FORMAT_AUTO);
	ck_assert_int_eq(ex_model_format(m), EX_FORMAT_LIGHTGBM_TEXT);
	ck_assert_double_eq(margin1(m, 0), 0.5);
	ex_model_free(m);
	m = NULL;
	ck_assert_int_eq(ex_model_load_buffer("{\"weights\": [1]}", 16, EX_FORMAT_AUTO, "w.json",
	                                      &m, err, sizeof(err)),
	                 -EBADMSG);
	ck_assert(strstr(err, "w.json: not a model format") != NULL);
	ck_assert_int_eq(
	    ex_model_load_buffer("hello", 5, EX_FORMAT_AUTO, "h.txt", &m, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_ptr_null(m);
}
END_TEST

START_TEST(ex_predict_margin_linear_base_margin)
{
	struct ex_model *m = load("{\"intercept\": 1, \"coef\": [2, 3]}", EX_FORMAT_AUTO);
	double x[2] = {1, -1}, out[1], bm = 10;

	ck_assert_int_eq(ex_predict_margin(m, x, NULL, out), 0);
	ck_assert_double_eq(out[0], 0);
	ck_assert_int_eq(ex_predict_margin(m, x, &bm, out), 0); /* replaces the intercept */
	ck_assert_double_eq(out[0], 9);
	ck_assert_int_eq(ex_model_link(m), EX_LINK_IDENTITY);
	ex_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------ ex__decimal */

static uint64_t dec_rng = 0x9e3779b97f4a7c15ull;

static uint64_t dec_next(void)
{
	dec_rng ^= dec_rng << 13;
	dec_rng ^= dec_rng >> 7;
	dec_rng ^= dec_rng << 17;
	return dec_rng;
}

/* Whenever ex__decimal converts, it has strtod's bits: random doubles printed as the rows'
 * writers print them (17, 16, 15 and 7 digits), random digit strings, and ties between two
 * doubles (which it must leave to strtod). Most short forms take the fast way. */
START_TEST(ex__decimal_equals_strtod)
{
	static const char *const ties[] = {"18014398509481986",     "18014398509481990",
	                                   "9007199254740993",      "9007199254740993e0",
	                                   "1.8014398509481986e16", "4503599627370497.5"};
	char text[64];
	size_t fast = 0, total = 0;

	for (int i = 0; i < 30000; i++) {
		uint64_t bits = dec_next();
		double x;
		memcpy(&x, &bits, sizeof(x));
		if (i % 2) /* values of the usual sizes */
			x = ldexp((double)(bits >> 11) / 9007199254740992.0,
			          (int)(bits % 60) - 30) *
			    (bits & 1 ? -1 : 1);
		if (!isfinite(x))
			continue;
		for (int f = 0; f < (i % 2 ? 5 : 3); f++) {
			double got, want;
			switch (f) {
			case 0:
				snprintf(text, sizeof(text), "%.17g", x);
				break;
			case 1:
				snprintf(text, sizeof(text), "%.16g", x);
				break;
			case 2:
				snprintf(text, sizeof(text), "%.15g", x);
				break;
			case 3:
				snprintf(text, sizeof(text), "%.7e", x);
				break;
			default:
				snprintf(text, sizeof(text), "%.3f", x);
			}
			want = strtod(text, NULL);
			total++;
			if (ex__decimal(text, strlen(text), &got)) {
				fast++;
				ck_assert_msg(memcmp(&got, &want, sizeof(got)) == 0, "%s: %a vs %a",
				              text, got, want);
			}
		}
		/* up to 19 random digits, a point somewhere, an exponent */
		int nd = 1 + (int)(dec_next() % 19), pt = (int)(dec_next() % (unsigned)(nd + 1));
		char *o = text;
		for (int k = 0; k < nd; k++) {
			if (k == pt && k)
				*o++ = '.';
			*o++ = (char)('0' + dec_next() % 10);
		}
		snprintf(o, 16, "e%d", (int)(dec_next() % 70) - 35);
		double got, want = strtod(text, NULL);
		if (ex__decimal(text, strlen(text), &got))
			ck_assert_msg(memcmp(&got, &want, sizeof(got)) == 0, "%s: %a vs %a", text,
			              got, want);
	}
	ck_assert_msg(fast > total / 2, "fast path for %zu of %zu", fast, total);
	for (size_t i = 0; i < sizeof(ties) / sizeof(ties[0]); i++) {
		double got = 0;
		ck_assert_msg(!ex__decimal(ties[i], strlen(ties[i]), &got), "%s: %a", ties[i], got);
	}
	/* forms strtod reads its own way, or not whole */
	static const char *const other[] = {"",    "-",    ".",     "1e",
	                                    "1e+", "0x10", "inf",   "nan",
	                                    " 1",  "1 ",   "1.5.2", "12345678901234567890"};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		double got;
		ck_assert_msg(!ex__decimal(other[i], strlen(other[i]), &got), "\"%s\"", other[i]);
	}
}
END_TEST

/* ------------------------------------------------------------------ xjson */

static int xj_refuses(const char *text, char *err, size_t err_size)
{
	struct xj_doc d;
	int rc = xj_parse(&d, text, strlen(text), err, err_size);
	if (rc == 0)
		xj_free(&d);
	return rc;
}

START_TEST(xj_parse_refusals_say_where)
{
	static const struct {
		const char *text, *what;
	} cases[] = {
	    {"{\n  \"a\": [1, 2,, 3]}", "line 2, column 14: invalid token"},
	    {"{\"a\": [1, 2]", "line 1, column 13: premature end of input ('}' expected)"},
	    {"{\"a\" 1}", "line 1, column 6: ':' expected"},
	    {"{\"a\": 1,}", "line 1, column 9: string or '}' expected"},
	    {"[1 2]", "line 1, column 4: ',' or ']' expected"},
	    {"[1] x", "line 1, column 5: end of file expected"},
	    {"3", "line 1, column 1: '[' or '{' expected"},
	    {"", "line 1, column 1: '[' or '{' expected"},
	    {"[\"abc", "premature end of input in a string"},
	    {"[\"a\tb\"]", "line 1, column 4: control character 0x9 in a string"},
	    {"[\"a\\qb\"]", "line 1, column 4: invalid escape"},
	    {"[\"\\u12G4\"]", "invalid escape"},
	    {"[\"\\ud800x\"]", "invalid Unicode escape '\\uD800'"},
	    {"[\"\\udc00\"]", "invalid Unicode escape '\\uDC00'"},
	    {"[\"\\u0000\"]", "\\u0000 is not allowed"},
	    {"[\"\xc3\x28\"]", "line 1, column 3: invalid UTF-8"},
	    {"[\"\xed\xa0\x80\"]", "invalid UTF-8"}, /* a surrogate in UTF-8 */
	    {"[\"\xc0\xaf\"]", "invalid UTF-8"},     /* overlong */
	    {"[01]", "line 1, column 2: invalid number (a leading zero)"},
	    {"[1.]", "invalid number"},
	    {"[1e+]", "invalid number"},
	    {"[-]", "invalid number"},
	    {"[9223372036854775808]", "too big integer"},
	    {"[1e400]", "real number overflow"},
	    {"[-1.5e99999999999]", "real number overflow"},
	    {"[tru]", "invalid token"},
	    {"[Nan]", "invalid token"},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(xj_refuses(cases[i].text, err, sizeof(err)), -EBADMSG);
		ck_assert_msg(strstr(err, cases[i].what), "case %zu: \"%s\" lacks \"%s\"", i, err,
		              cases[i].what);
		ck_assert_msg(!strncmp(err, "line ", 5), "case %zu: %s", i, err);
	}
	/* 2048 levels are read, 2049 are not */
	char *deep = malloc(2 * 2049 + 1);
	ck_assert_ptr_nonnull(deep);
	memset(deep, '[', 2048);
	memset(deep + 2048, ']', 2048);
	deep[4096] = '\0';
	ck_assert_int_eq(xj_refuses(deep, err, sizeof(err)), 0);
	memset(deep, '[', 2049);
	memset(deep + 2049, ']', 2049);
	deep[4098] = '\0';
	ck_assert_int_eq(xj_refuses(deep, err, sizeof(err)), -EBADMSG);
	ck_assert(strstr(err, "nested more than 2048 levels"));
	free(deep);
}
END_TEST

START_TEST(xj_parse_numbers_as_strtod)
{
	static const char *const reals[] = {
	    "0.1",
	    "-0.0",
	    "1.5E-1",
	    "-1.5390218E-1",
	    "1e22",
	    "1e23",
	    "123456789012345678.0",
	    "9007199254740993.0",
	    "9007199254740992.5e0",
	    "1234567890123456789012345.5",
	    "0.000000000000000000000000000001234",
	    "1.7976931348623157e308",
	    "4.9e-324",
	    "2.2250738585072011e-308",
	    "1e-400",
	    "7.0064923216240861E-46",
	    "3.4028234663852886e38",
	    "0.30000000000000004",
	    "1.00000000000000011102230246251565404236316680908203125",
	};
	char text[160], err[128];
	struct xj_doc d;

	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		snprintf(text, sizeof(text), "[%s]", reals[i]);
		ck_assert_int_eq(xj_parse(&d, text, strlen(text), err, sizeof(err)), 0);
		ck_assert_int_eq(d.tok[1].type, XJ_REAL);
		double want = strtod(reals[i], NULL);
		ck_assert_msg(memcmp(&want, &d.tok[1].v.d, sizeof(want)) == 0, "%s: %a vs %a",
		              reals[i], d.tok[1].v.d, want);
		xj_free(&d);
	}
	const char *ints = "[0, -0, 42, -9223372036854775808, 9223372036854775807, true, null]";
	ck_assert_int_eq(xj_parse(&d, ints, strlen(ints), err, sizeof(err)), 0);
	ck_assert_int_eq(d.tok[0].size, 7);
	ck_assert_int_eq(d.tok[3].v.i, 42);
	ck_assert(d.tok[4].v.i == INT64_MIN);
	ck_assert(d.tok[5].v.i == INT64_MAX);
	ck_assert_int_eq(d.tok[6].type, XJ_TRUE);
	ck_assert_int_eq(d.tok[7].type, XJ_NULL);
	xj_free(&d);
}
END_TEST

START_TEST(xj_parse_strings_objects_and_nonfinite)
{
	const char *text = "{\"k\": \"a\\\"b\\\\c\\/\\n\\u00e9\\ud83d\\ude00\xc3\xa9\", "
	                   "\"x\": {\"deep\": [1, [2, 3], {\"y\": 4}]}, \"k\": [NaN, Infinity, "
	                   "-Infinity], \"\": 5}";
	char err[128];
	struct xj_doc d;

	ck_assert_int_eq(xj_parse(&d, text, strlen(text), err, sizeof(err)), 0);
	ck_assert_int_eq(d.tok[0].size, 4);
	/* the repeated key: the last value counts, as in jansson */
	const struct xj_tok *k = xj_get(&d, d.tok, "k");
	ck_assert_int_eq(k->type, XJ_ARRAY);
	ck_assert_int_eq(k->size, 3);
	for (const struct xj_tok *e = k + 1; e < xj_skip(&d, k); e = xj_skip(&d, e))
		ck_assert_int_eq(e->type, XJ_NULL); /* XGBoost's non-finite floats */
	ck_assert_str_eq(xj_string(d.tok + 2), "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80\xc3\xa9");
	ck_assert_int_eq(d.tok[2].size, 15);
	const struct xj_tok *x = xj_get(&d, d.tok, "x"), *deep = xj_get(&d, x, "deep");
	ck_assert_int_eq(xj_size(deep, XJ_ARRAY), 3);
	const struct xj_tok *third = xj_skip(&d, xj_skip(&d, deep + 1));
	ck_assert_double_eq(xj_number(xj_get(&d, third, "y")), 4);
	ck_assert_ptr_eq(xj_skip(&d, x), k - 1); /* the key after x's subtree */
	ck_assert_double_eq(xj_number(xj_get(&d, d.tok, "")), 5);
	ck_assert_ptr_null(xj_get(&d, d.tok, "missing"));
	ck_assert_ptr_null(xj_get(&d, k, "k")); /* not an object */
	xj_free(&d);
}
END_TEST

static Suite *models_suite(void)
{
	Suite *s = suite_create("explain_models");
	TCase *tc;

	tc = tcase_create("ex_load_lightgbm_text");
	tcase_add_test(tc, ex_load_lightgbm_text_every_decision_type);
	tcase_add_test(tc, ex_load_lightgbm_text_multiclass_and_average);
	tcase_add_test(tc, ex_load_lightgbm_text_objectives);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_load_xgboost_json");
	tcase_add_test(tc, ex_load_xgboost_json_categorical_and_base_score);
	tcase_add_test(tc, ex_load_xgboost_json_variants);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex__decimal");
	tcase_add_test(tc, ex__decimal_equals_strtod);
	suite_add_tcase(s, tc);
	tc = tcase_create("xj_parse");
	tcase_add_test(tc, xj_parse_refusals_say_where);
	tcase_add_test(tc, xj_parse_numbers_as_strtod);
	tcase_add_test(tc, xj_parse_strings_objects_and_nonfinite);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_model_load_buffer");
	tcase_add_test(tc, ex_model_load_buffer_names_file_and_field);
	tcase_add_test(tc, ex_model_load_buffer_detects_formats);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_model_load");
	tcase_add_test(tc, ex_model_load_reports_unreadable_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_load_linear_json");
	tcase_add_test(tc, ex_load_linear_json_predicts);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_node_next");
	tcase_add_test(tc, ex_node_next_lightgbm_zero_threshold_is_a_float);
	tcase_add_test(tc, ex_node_next_lightgbm_categorical_bit_without_num_cat);
	tcase_add_test(tc, ex_node_next_xgboost_categorical_casts_to_float);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_predict_margin");
	tcase_add_test(tc, ex_predict_margin_linear_base_margin);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_link_apply");
	tcase_add_test(tc, ex_link_apply_links);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(models_suite());
}
