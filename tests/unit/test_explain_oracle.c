/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the oracle protocol's client: predictions through the reference oracle
 * (evident-oracle) against ex_predict_margin on the same model files, batching, a pool shared
 * by threads, and a faulty oracle (tests/common/faulty_oracle.c) that crashes, hangs, answers
 * late, answers the wrong shape, NaN, the wrong id, an error or garbage; every failure must
 * give the right errno and a message naming the problem, within the timeout plus slack, and
 * leave no descriptor or child process behind. Answers without request_id (the protocol's
 * minimal form) are accepted in order.
 *
 *     test_explain_oracle EVIDENT_ORACLE FAULTY_ORACLE */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evident.pb-c.h"
#include "explain.h"
#include "frame.h"
#include "testutil.h"

static const char *evident_oracle_path, *faulty_path;
static uint64_t rng = 4242;

/* A linear-json model with a logit link on 4 features. */
static const char linear_logit[] =
    "{\"intercept\": 0.5, \"coef\": [0.25, -0.5, 0.125, 1.5], \"link\": \"logit\"}";

/* Two XGBoost 1.7 models trained on 4 features with missing values (binary:logistic with
 * base_score 0.3, 3 trees; multi:softprob with 3 classes). */
static const char xgb_binary[] =
    "{\"learner\":{\"attributes\":{\"best_iteration\":\"2\",\"best_ntree_limit\":\"3\"},\"feature_"
    "names\":["
    "],\"feature_types\":[],\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_"
    "parallel_tr"
    "ee\":\"1\",\"num_trees\":\"3\",\"size_leaf_vector\":\"0\"},\"tree_info\":[0,0,0],\"trees\":[{"
    "\"base_weig"
    "hts\":[6.9767433E-1,-6.870229E-1,2.696629E0,-1.0268428E0,1.6353886E0,-3.5398233E-1,2.9504"
    "23E0],\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],\"categories_"
    "sizes\":"
    "[],\"default_left\":[1,1,0,0,0,0,0],\"id\":0,\"left_children\":[1,3,5,-1,-1,-1,-1],\"loss_"
    "chang"
    "es\":[1.2087437E2,2.2356369E1,1.4825638E1,0E0,0E0,0E0,0E0],\"parents\":[2147483647,0,0,1,1,"
    "2,2],\"right_children\":[2,4,6,-1,-1,-1,-1],\"split_conditions\":[4.6912193E-2,1.1206367E0,-"
    "1.375556E0,-5.134214E-1,8.176943E-1,-1.7699116E-1,1.4752115E0],\"split_indices\":[0,1,1,0,"
    "0,0,0],\"split_type\":[0,0,0,0,0,0,0],\"sum_hessian\":[4.2E1,2.52E1,1.6800001E1,2.2470001E1,"
    "2.73E0,1.26E0,1.5540001E1],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"4\",\"num_"
    "nodes\""
    ":\"7\",\"size_leaf_vector\":\"0\"}},{\"base_weights\":[3.0111358E-1,-1.0268586E0,9.7934026E-1,"
    "-1"
    ".1549181E0,1.7763136E-2,-2.5021213E-1,1.5381426E0],\"categories\":[],\"categories_nodes\":[]"
    ",\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[0,1,0,0,0,0,0],\"id\":1,"
    "\"l"
    "eft_children\":[1,3,5,-1,-1,-1,-1],\"loss_changes\":[3.6661667E1,1.8761826E0,1.8741377E1,0E"
    "0,0E0,0E0,0E0],\"parents\":[2147483647,0,0,1,1,2,2],\"right_children\":[2,4,6,-1,-1,-1,-1],\""
    "split_conditions\":[-3.0646423E-1,1.1851431E0,-2.4716282E-1,-5.7745904E-1,8.881568E-3,-1."
    "2510607E-1,7.690713E-1],\"split_indices\":[0,1,1,0,0,0,0],\"split_type\":[0,0,0,0,0,0,0],\"su"
    "m_hessian\":[3.85885E1,1.2871666E1,2.5716835E1,1.1371994E1,1.4996715E0,8.208225E0,1.75086"
    "12E1],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"4\",\"num_nodes\":\"7\",\"size_"
    "leaf_vecto"
    "r\":\"0\"}},{\"base_weights\":[1.8371172E-1,-3.864088E-1,1.1633012E0,-1.090912E0,5.7312286E-1"
    ",4.4267908E-1,1.285052E0],\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[]"
    ",\"categories_sizes\":[],\"default_left\":[1,1,1,0,0,0,0],\"id\":2,\"left_children\":[1,3,5,-"
    "1,-"
    "1,-1,-1],\"loss_changes\":[1.867592E1,1.5077917E1,5.0639534E-1,0E0,0E0,0E0,0E0],\"parents\":"
    "[2147483647,0,0,1,1,2,2],\"right_children\":[2,4,6,-1,-1,-1,-1],\"split_conditions\":[2.7839"
    "872E-1,1.7129818E-1,-1.8302586E0,-5.45456E-1,2.8656143E-1,2.2133954E-1,6.42526E-1],\"spli"
    "t_indices\":[0,1,1,0,0,0,0],\"split_type\":[0,0,0,0,0,0,0],\"sum_hessian\":[3.1635508E1,2.037"
    "9936E1,1.1255571E1,1.1672721E1,8.707216E0,2.2968493E0,8.958721E0],\"tree_param\":{\"num_del"
    "eted\":\"0\",\"num_feature\":\"4\",\"num_nodes\":\"7\",\"size_leaf_vector\":\"0\"}}]},"
    "\"name\":\"gbtree\"},"
    "\"learner_model_param\":{\"base_score\":\"3E-1\",\"boost_from_average\":\"0\",\"num_class\":"
    "\"0\",\"num"
    "_feature\":\"4\",\"num_target\":\"1\"},\"objective\":{\"name\":\"binary:logistic\",\"reg_loss_"
    "param\":{"
    "\"scale_pos_weight\":\"1\"}}},\"version\":[1,7,4]}";
static const char xgb_multi[] =
    "{\"learner\":{\"attributes\":{\"best_iteration\":\"0\",\"best_ntree_limit\":\"1\"},\"feature_"
    "names\":["
    "],\"feature_types\":[],\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_"
    "parallel_tr"
    "ee\":\"1\",\"num_trees\":\"3\",\"size_leaf_vector\":\"0\"},\"tree_info\":[0,1,2],\"trees\":[{"
    "\"base_weig"
    "hts\":[2.7070454E-1,1.0568928E0,-7.31302E-1,1.463807E0,-6.774194E-1],\"categories\":[],\"cat"
    "egories_nodes\":[],\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[1,1,0,"
    "0"
    ",0],\"id\":0,\"left_children\":[1,3,-1,-1,-1],\"loss_changes\":[7.158429E1,3.6826313E1,0E0,0E0"
    ",0E0],\"parents\":[2147483647,0,0,1,1],\"right_children\":[2,4,-1,-1,-1],\"split_conditions\":"
    "[-6.227405E-4,4.837467E-1,-3.65651E-1,7.319035E-1,-3.387097E-1],\"split_indices\":[0,2,0,0"
    ",0],\"split_type\":[0,0,0,0,0],\"sum_hessian\":[8.8888885E1,4.9777775E1,3.9111107E1,4.044444"
    "3E1,9.333333E0],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"4\",\"num_nodes\":"
    "\"5\",\"size_"
    "leaf_vector\":\"0\"}},{\"base_weights\":[2.150803E-1,-3.2537967E-1,9.0756303E-1,-7.3190355E-1"
    ",1.2680413E0,1.4498141E0,-6.804124E-1],\"categories\":[],\"categories_nodes\":[],\"categories"
    "_segments\":[],\"categories_sizes\":[],\"default_left\":[1,1,1,0,0,0,0],\"id\":1,\"left_"
    "children"
    "\":[1,3,5,-1,-1,-1,-1],\"loss_changes\":[3.3937042E1,3.4107975E1,3.51427E1,0E0,0E0,0E0,0E0]"
    ",\"parents\":[2147483647,0,0,1,1,2,2],\"right_children\":[2,4,6,-1,-1,-1,-1],\"split_conditio"
    "ns\":[9.666944E-3,4.837467E-1,4.7345555E-1,-3.6595178E-1,6.340206E-1,7.2490704E-1,-3.4020"
    "62E-1],\"split_indices\":[0,2,2,0,0,0,0],\"split_type\":[0,0,0,0,0,0,0],\"sum_hessian\":[8.888"
    "8885E1,5.0222218E1,3.8666664E1,4.0444443E1,9.777777E0,2.8888887E1,9.777777E0],\"tree_para"
    "m\":{\"num_deleted\":\"0\",\"num_feature\":\"4\",\"num_nodes\":\"7\",\"size_leaf_vector\":"
    "\"0\"}},{\"base_"
    "weights\":[-4.8578498E-1,-7.3940355E-1,4.309392E-1,-6.741574E-1,1.3663366E0],\"categories\""
    ":[],\"categories_nodes\":[],\"categories_segments\":[],\"categories_sizes\":[],\"default_"
    "left\":"
    "[1,0,1,0,0],\"id\":2,\"left_children\":[1,-1,3,-1,-1],\"loss_changes\":[2.121765E1,0E0,2.17100"
    "72E1,0E0,0E0],\"parents\":[2147483647,0,0,2,2],\"right_children\":[2,-1,4,-1,-1],\"split_cond"
    "itions\":[5.249442E-1,-3.6970177E-1,-4.334308E-2,-3.370787E-1,6.831683E-1],\"split_indices"
    "\":[2,0,0,0,0],\"split_type\":[0,0,0,0,0],\"sum_hessian\":[8.8888885E1,6.977777E1,1.911111E1,"
    "8.888888E0,1.0222221E1],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"4\",\"num_"
    "nodes\":\"5"
    "\",\"size_leaf_vector\":\"0\"}}]},\"name\":\"gbtree\"},\"learner_model_param\":{\"base_"
    "score\":\"5E-1\""
    ",\"boost_from_average\":\"1\",\"num_class\":\"3\",\"num_feature\":\"4\",\"num_target\":\"1\"},"
    "\"objective"
    "\":{\"name\":\"multi:softprob\",\"softmax_multiclass_param\":{\"num_class\":\"3\"}}},"
    "\"version\":[1,7"
    ",4]}";

static double urand(void)
{
	return (double)(test_rand(&rng) >> 11) / 9007199254740992.0;
}

/* n rows of M values in [-2, 2), about one in ten missing when nan is set. */
static double *random_rows(size_t n, size_t M, bool nan)
{
	double *x = malloc(n * M * sizeof(double));
	ck_assert_ptr_nonnull(x);
	for (size_t i = 0; i < n * M; i++)
		x[i] = nan && urand() < 0.1 ? NAN : 4 * urand() - 2;
	return x;
}

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* True when this process has no child at all (running or zombie). */
static bool no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static char *write_model(const char *dir, const char *name, const char *text)
{
	char *path;
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* The sum oracle's answer: output k of a row = sum of its non-missing values + k. */
static double sum_expected(const double *row, size_t M, size_t k)
{
	double s = 0;
	for (size_t j = 0; j < M; j++)
		s += isnan(row[j]) ? 0 : row[j];
	return s + (double)k;
}

static int open_faulty(const char *mode, unsigned procs, unsigned timeout_ms, size_t batch,
                       struct ex_oracle **ret, char *err)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' %s", faulty_path, mode);
	struct ex_oracle_config c = {.command = cmd,
	                             .n_features = 5,
	                             .n_procs = procs,
	                             .timeout_ms = timeout_ms,
	                             .max_batch_rows = batch};
	err[0] = '\0';
	return ex_oracle_open(&c, ret, err, EX_ERR_MAX);
}

#define ASSERT_MSG(err, part) ck_assert_msg(strstr(err, part), "\"%s\" not in \"%s\"", part, err)

/* ------------------------------------------------------------------ ex_oracle_open */

START_TEST(ex_oracle_open_probe_learns_outputs)
{
	struct ex_oracle *o;
	char err[EX_ERR_MAX];

	ck_assert_int_eq(open_faulty("sum 3", 2, 5000, 0, &o, err), 0);
	ck_assert_uint_eq(ex_oracle_n_outputs(o), 3);
	ex_oracle_close(o);

	char *dir = test_tmpdir("oracle"), *path = write_model(dir, "multi.json", xgb_multi),
	     cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s'", evident_oracle_path);
	struct ex_oracle_config c = {.command = cmd, .artifact_path = path, .n_features = 4};
	ck_assert_int_eq(ex_oracle_open(&c, &o, err, sizeof(err)), 0);
	ck_assert_uint_eq(ex_oracle_n_outputs(o), 3);
	ex_oracle_close(o);
	/* the wrong number of features is the oracle's error, reported as such */
	c.n_features = 5;
	ck_assert_int_eq(ex_oracle_open(&c, &o, err, sizeof(err)), -EPROTO);
	ASSERT_MSG(err, "n_features 5, the model has 4 features");
	test_rmrf(dir);
	free(dir);
	free(path);
	ck_assert(no_children());
}
END_TEST

START_TEST(ex_oracle_open_environment_and_descriptors)
{
	struct ex_oracle *o;
	char err[EX_ERR_MAX];
	double x[5] = {1, 2, 3, 4, 5}, out[3];

	ck_assert_int_eq(open_faulty("env", 1, 5000, 0, &o, err), 0);
	ck_assert_uint_eq(ex_oracle_n_outputs(o), 3);
	ck_assert_int_eq(ex_oracle_predict(o, x, 1, out, err, sizeof(err)), 0);
	ck_assert_double_eq(out[0], 5); /* EVIDENT_N_FEATURES */
	ck_assert_double_eq(out[1], 1); /* EVIDENT_ORACLE_PROTOCOL */
	ck_assert_double_eq(out[2], 3); /* stdin, stdout, stderr: nothing else leaked */
	ex_oracle_close(o);
}
END_TEST

START_TEST(ex_oracle_open_failures)
{
	struct ex_oracle *o = NULL;
	char err[EX_ERR_MAX];
	int64_t t0;

	t0 = ms_now();
	ck_assert_int_eq(open_faulty("crash-start", 2, 2000, 0, &o, err), -EPIPE);
	ASSERT_MSG(err, "exited with status 3");
	ASSERT_MSG(err, "stderr: faulty-oracle: refusing to start");
	ck_assert_int_lt(ms_now() - t0, 2000 + 5000);

	t0 = ms_now();
	ck_assert_int_eq(open_faulty("hang-start", 1, 300, 0, &o, err), -ETIMEDOUT);
	ASSERT_MSG(err, "did not answer request 1 (1 rows) within 300 ms");
	ck_assert_int_lt(ms_now() - t0, 300 + 5000);

	ck_assert_int_eq(open_faulty("zero-outputs", 1, 2000, 0, &o, err), -EPROTO);
	ASSERT_MSG(err, "n_outputs 0");

	struct ex_oracle_config c = {.command = "/nonexistent/oracle --serve", .n_features = 2};
	ck_assert_int_eq(ex_oracle_open(&c, &o, err, sizeof(err)), -ENOENT);
	ASSERT_MSG(err, "/nonexistent/oracle");
	ASSERT_MSG(err, "status 127");
	ASSERT_MSG(err, "not found");

	c.n_features = 0;
	ck_assert_int_eq(ex_oracle_open(&c, &o, err, sizeof(err)), -EINVAL);
	c = (struct ex_oracle_config){.n_features = 2};
	ck_assert_int_eq(ex_oracle_open(&c, &o, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(o);
	ck_assert(no_children());
}
END_TEST

/* ------------------------------------------------------------------ ex_oracle_predict */

/* Margins (or probabilities) through evident-oracle equal the library's own, bit for bit. */
static void check_evident_oracle(const char *model_text, bool probability, unsigned procs,
                                 size_t batch, bool nan)
{
	char *dir = test_tmpdir("oracle"), *path = write_model(dir, "model.json", model_text);
	char cmd[1024], err[EX_ERR_MAX];
	struct ex_model *m;
	struct ex_oracle *o;
	const size_t n = 1000, M = 4;

	ck_assert_int_eq(ex_model_load(path, EX_FORMAT_AUTO, &m, err, sizeof(err)), 0);
	size_t K = ex_model_n_outputs(m);
	snprintf(cmd, sizeof(cmd), "'%s' --output %s", evident_oracle_path,
	         probability ? "probability" : "margin");
	struct ex_oracle_config c = {.command = cmd,
	                             .artifact_path = path,
	                             .n_features = M,
	                             .n_procs = procs,
	                             .max_batch_rows = batch};
	ck_assert_int_eq(ex_oracle_open(&c, &o, err, sizeof(err)), 0);
	ck_assert_uint_eq(ex_oracle_n_outputs(o), K);
	double *x = random_rows(n, M, nan), *got = malloc(n * K * sizeof(double)), want[8];
	ck_assert_int_eq(ex_oracle_predict(o, x, n, got, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(ex_predict_margin(m, x + i * M, NULL, want), 0);
		if (probability)
			ex_link_apply(m, want);
		for (size_t k = 0; k < K; k++)
			ck_assert_msg(got[i * K + k] == want[k],
			              "row %zu output %zu: %.17g != %.17g", i, k, got[i * K + k],
			              want[k]);
	}
	struct ex_oracle_stats st;
	ex_oracle_get_stats(o, &st);
	size_t b = batch ? batch : 4096;
	ck_assert_uint_eq(st.requests, procs + (n + b - 1) / b);
	ck_assert_uint_eq(st.restarts + st.crashes + st.timeouts + st.bad_responses, 0);
	ex_oracle_close(o);
	ex_model_free(m);
	free(x);
	free(got);
	free(path);
	test_rmrf(dir);
	free(dir);
}

START_TEST(ex_oracle_predict_equals_library)
{
	check_evident_oracle(xgb_binary, false, 1, 0, true);
	check_evident_oracle(xgb_binary, true, 2, 37, true);
	check_evident_oracle(xgb_multi, false, 3, 100, true);
	check_evident_oracle(xgb_multi, true, 1, 1000, true);
	check_evident_oracle(linear_logit, false, 2, 333, false);
	check_evident_oracle(linear_logit, true, 1, 0, false);
	ck_assert(no_children());
}
END_TEST

/* A row the model refuses is the oracle's `error` answer: -EPROTO naming the row, and the
 * process keeps serving. The probe uses probe_row. */
START_TEST(ex_oracle_predict_refused_row)
{
	char *dir = test_tmpdir("oracle"), *path = write_model(dir, "linear.json", linear_logit);
	char cmd[1024], err[EX_ERR_MAX];
	struct ex_oracle *o;
	struct ex_oracle_stats st;
	double x[8] = {1, 2, 3, 4, 1, NAN, 3, 4}, out[2];

	snprintf(cmd, sizeof(cmd), "'%s'", evident_oracle_path);
	struct ex_oracle_config c = {
	    .command = cmd, .artifact_path = path, .n_features = 4, .probe_row = x + 4};
	ck_assert_int_eq(ex_oracle_open(&c, &o, err, sizeof(err)), -EPROTO);
	ASSERT_MSG(err, "request 1 (1 rows): the oracle answered with error \"row 0: the model "
	                "cannot evaluate it");
	c.probe_row = x;
	ck_assert_int_eq(ex_oracle_open(&c, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(ex_oracle_predict(o, x, 2, out, err, sizeof(err)), -EPROTO);
	ASSERT_MSG(err, "request 2 (2 rows): the oracle answered with error \"row 1: the model "
	                "cannot evaluate it");
	ck_assert_int_eq(ex_oracle_predict(o, x, 1, out, err, sizeof(err)), 0);
	ck_assert_double_eq_tol(out[0], 0.5 + 1 * 0.25 - 2 * 0.5 + 3 * 0.125 + 4 * 1.5, 1e-12);
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.restarts + st.crashes + st.bad_responses, 0);
	ex_oracle_close(o);
	test_rmrf(dir);
	free(dir);
	free(path);

	/* and the tool's manual page */
	snprintf(cmd, sizeof(cmd), "'%s' --help", evident_oracle_path);
	FILE *f = popen(cmd, "r");
	char text[8192];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	ck_assert_int_eq(pclose(f), 0);
	const char *sections[] = {"NAME",    "SYNOPSIS",    "DESCRIPTION",
	                          "OPTIONS", "EXIT STATUS", "EXAMPLES"};
	for (size_t i = 0; i < 6; i++)
		ASSERT_MSG(text, sections[i]);
	ck_assert(no_children());
}
END_TEST

struct worker {
	struct ex_oracle *o;
	unsigned seed;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t state = w->seed;
	char err[EX_ERR_MAX];

	for (int call = 0; call < 20; call++) {
		size_t n = 1 + test_rand(&state) % 300;
		double *x = malloc(n * 5 * sizeof(double)), *out = malloc(n * 2 * sizeof(double));
		for (size_t i = 0; i < n * 5; i++)
			x[i] = (double)(test_rand(&state) % 1000) / 8;
		if (ex_oracle_predict(w->o, x, n, out, err, sizeof(err)) != 0)
			w->failures++;
		else
			for (size_t i = 0; i < n; i++)
				for (size_t k = 0; k < 2; k++)
					w->failures +=
					    out[i * 2 + k] != sum_expected(x + i * 5, 5, k);
		free(x);
		free(out);
	}
	return NULL;
}

START_TEST(ex_oracle_predict_threads_share_a_pool)
{
	struct ex_oracle *o;
	char err[EX_ERR_MAX];
	pthread_t t[4];
	struct worker w[4];

	ck_assert_int_eq(open_faulty("sum 2", 3, 10000, 16, &o, err), 0);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){.o = o, .seed = 100 + i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	struct ex_oracle_stats st;
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.restarts + st.crashes + st.timeouts + st.bad_responses, 0);
	ck_assert_uint_gt(st.requests, 80);
	ex_oracle_close(o);
	ck_assert(no_children());
}
END_TEST

/* Opens a faulty oracle, predicts 10 rows of 5 features and expects rc with part in the
 * message, within timeout + 5 s. Returns the oracle for further checks. */
static struct ex_oracle *expect_failure(const char *mode, unsigned timeout_ms, int rc,
                                        const char *part)
{
	struct ex_oracle *o;
	char err[EX_ERR_MAX];
	double x[50], out[20];

	for (size_t i = 0; i < 50; i++)
		x[i] = (double)i;
	ck_assert_int_eq(open_faulty(mode, 1, timeout_ms, 0, &o, err), 0);
	int64_t t0 = ms_now();
	err[0] = '\0';
	ck_assert_msg(ex_oracle_predict(o, x, 10, out, err, sizeof(err)) == rc, "%s: %s", mode,
	              err);
	ck_assert_int_lt(ms_now() - t0, (int64_t)timeout_ms + 5000);
	ASSERT_MSG(err, part);
	ASSERT_MSG(err, "request 2 (10 rows)");
	return o;
}

/* After a failure the process was replaced: the next call works (the faulty oracle answers
 * a fresh process's first request correctly) and counts a restart. */
static void expect_recovery(struct ex_oracle *o)
{
	double x[50], out[10];
	char err[EX_ERR_MAX];
	struct ex_oracle_stats st;

	for (size_t i = 0; i < 50; i++)
		x[i] = (double)i;
	ck_assert_msg(ex_oracle_predict(o, x, 10, out, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < 10; i++)
		ck_assert_double_eq(out[i], sum_expected(x + 5 * i, 5, 0));
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.restarts, 1);
	ex_oracle_close(o);
}

START_TEST(ex_oracle_predict_wrong_answers)
{
	struct ex_oracle *o;
	struct ex_oracle_stats st;

	o = expect_failure("shape", 5000, -EPROTO, "n_outputs 2, expected 1");
	expect_recovery(o);
	o = expect_failure("count", 5000, -EPROTO, "9 values for 10 rows x 1 outputs");
	expect_recovery(o);
	o = expect_failure("nan", 5000, -EPROTO, "value 0 (row 0, output 0) is NaN");
	expect_recovery(o);
	o = expect_failure("badid", 5000, -EPROTO, "request_id 3, expected 2");
	expect_recovery(o);
	/* an error answer is a refusal in step with the stream: the process stays */
	o = expect_failure("error", 5000, -EPROTO, "error \"model exploded\"");
	double x[50], out[10];
	char err[EX_ERR_MAX];
	for (size_t i = 0; i < 50; i++)
		x[i] = (double)i;
	ck_assert_int_eq(ex_oracle_predict(o, x, 10, out, err, sizeof(err)), -EPROTO);
	ASSERT_MSG(err, "request 3 (10 rows): the oracle answered with error \"model exploded\"");
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.restarts + st.bad_responses, 0);
	ex_oracle_close(o);
	o = expect_failure("garbage", 5000, -EPROTO, "does not decode as a PredictResponse");
	expect_recovery(o);
	o = expect_failure("huge", 5000, -EPROTO, "announces 1073741824 bytes, over the limit");
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.bad_responses, 1);
	expect_recovery(o);
	ck_assert(no_children());
}
END_TEST

/* An oracle that never sends request_id (the protocol's minimal form) is served in order: the
 * probe, batches split over two processes, and an `error` answer that keeps the process. */
START_TEST(ex_oracle_predict_answers_without_request_id)
{
	struct ex_oracle *o;
	struct ex_oracle_stats st;
	char err[EX_ERR_MAX];
	double x[500 * 5], out[500];

	for (size_t i = 0; i < 500 * 5; i++)
		x[i] = (double)(i % 97) / 4;
	ck_assert_msg(open_faulty("noid", 2, 5000, 16, &o, err) == 0, "%s", err);
	for (size_t n = 1; n <= 500; n += 99) {
		ck_assert_msg(ex_oracle_predict(o, x, n, out, err, sizeof(err)) == 0,
		              "%zu rows: %s", n, err);
		for (size_t i = 0; i < n; i++)
			ck_assert_double_eq(out[i], sum_expected(x + 5 * i, 5, 0));
	}
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.restarts + st.crashes + st.bad_responses + st.timeouts, 0);
	ex_oracle_close(o);

	ck_assert_msg(open_faulty("noid-error", 1, 5000, 0, &o, err) == 0, "%s", err);
	for (int call = 0; call < 2; call++) {
		ck_assert_int_eq(ex_oracle_predict(o, x, 10, out, err, sizeof(err)), -EPROTO);
		ASSERT_MSG(err, "the oracle answered with error \"model exploded\"");
	}
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.restarts + st.crashes + st.bad_responses, 0);
	ex_oracle_close(o);
	ck_assert(no_children());
}
END_TEST

START_TEST(ex_oracle_predict_timeouts)
{
	struct ex_oracle *o;
	struct ex_oracle_stats st;

	o = expect_failure("hang", 300, -ETIMEDOUT,
	                   "did not answer request 2 (10 rows) within 300 ms");
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	ex_oracle_close(o);
	o = expect_failure("slow 3000", 300, -ETIMEDOUT, "within 300 ms");
	expect_recovery(o);

	/* slow but within the timeout: fine */
	char err[EX_ERR_MAX];
	double x[5] = {1, 2, 3, 4, NAN}, out[1];
	ck_assert_int_eq(open_faulty("slow 50", 1, 5000, 0, &o, err), 0);
	ck_assert_int_eq(ex_oracle_predict(o, x, 1, out, err, sizeof(err)), 0);
	ck_assert_double_eq(out[0], 10);
	ex_oracle_close(o);
	ck_assert(no_children());
}
END_TEST

START_TEST(ex_oracle_predict_crashes)
{
	struct ex_oracle *o;
	struct ex_oracle_stats st;
	char err[EX_ERR_MAX];
	double x[50], out[10];

	for (size_t i = 0; i < 50; i++)
		x[i] = (double)i;
	/* mid-stream crash: the chunk is retried once on a fresh process, which answers */
	ck_assert_int_eq(open_faulty("crash-after 1", 1, 5000, 0, &o, err), 0);
	ck_assert_msg(ex_oracle_predict(o, x, 10, out, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < 10; i++)
		ck_assert_double_eq(out[i], sum_expected(x + 5 * i, 5, 0));
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.crashes, 1);
	ck_assert_uint_eq(st.restarts, 1);
	ex_oracle_close(o);

	/* a process that crashes on every second request: each chunk is retried once, but a
	 * call restarts at most 4 processes */
	ck_assert_int_eq(open_faulty("crash-after 1", 1, 5000, 2, &o, err), 0);
	ck_assert_int_eq(ex_oracle_predict(o, x, 10, out, err, sizeof(err)), -EPIPE);
	ASSERT_MSG(err, "request 6 (2 rows): gave up after 4 restarts in one call");
	ASSERT_MSG(err, "SIGABRT");
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.restarts, 4);
	ck_assert_uint_eq(st.crashes, 5);
	ex_oracle_close(o);

	/* a persistent crasher fails fast, naming the signal and its last words */
	o = expect_failure("crash-big 1", 5000, -EPIPE, "SIGABRT");
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.crashes, 2);
	ck_assert_uint_eq(st.restarts, 1);
	ex_oracle_close(o);
	o = expect_failure("crash-big 1", 5000, -EPIPE,
	                   "stderr: faulty-oracle: request too big, crashing");
	ex_oracle_close(o);

	/* a process that closes its stdin and stdout but stays alive: the shell between us
	 * keeps the socket open, so this is a timeout; the process group is killed */
	o = expect_failure("close-stdout", 300, -ETIMEDOUT, "within 300 ms");
	expect_recovery(o);

	/* stderr is drained while waiting: a chatty oracle does not deadlock */
	ck_assert_int_eq(open_faulty("stderr-spam", 1, 10000, 3, &o, err), 0);
	ck_assert_msg(ex_oracle_predict(o, x, 10, out, err, sizeof(err)) == 0, "%s", err);
	ex_oracle_close(o);
	ck_assert(no_children());
}
END_TEST

/* ------------------------------------------------------------------ the rest */

START_TEST(ex_oracle_fn_predicts)
{
	struct ex_oracle *o;
	struct ex_fn f;
	char err[EX_ERR_MAX];
	double x[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, NAN, 0, 0, 0, -1}, out[6];

	ck_assert_int_eq(open_faulty("sum 2", 1, 5000, 0, &o, err), 0);
	ex_oracle_fn(o, &f);
	ck_assert_uint_eq(f.n_features, 5);
	ck_assert_uint_eq(f.n_outputs, 2);
	ck_assert_int_eq(f.predict(f.userdata, x, 3, out, err, sizeof(err)), 0);
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < 2; k++)
			ck_assert_double_eq(out[i * 2 + k], sum_expected(x + 5 * i, 5, k));
	ex_oracle_close(o);
}
END_TEST

START_TEST(ex_oracle_get_stats_counts)
{
	struct ex_oracle *o;
	struct ex_oracle_stats st;
	char err[EX_ERR_MAX];
	double *x = random_rows(10, 5, false), out[10];

	ck_assert_int_eq(open_faulty("sum", 2, 5000, 4, &o, err), 0);
	ck_assert_int_eq(ex_oracle_predict(o, x, 10, out, err, sizeof(err)), 0);
	ck_assert_int_eq(ex_oracle_predict(o, x, 0, out, err, sizeof(err)), 0);
	ex_oracle_get_stats(o, &st);
	ck_assert_uint_eq(st.requests, 2 + 3); /* two probes, then 4 + 4 + 2 rows */
	ck_assert_uint_eq(st.rows, 2 + 10);
	ck_assert_uint_eq(st.restarts + st.crashes + st.timeouts + st.bad_responses, 0);
	ex_oracle_close(o);
	free(x);
}
END_TEST

START_TEST(ex_oracle_close_leaks_nothing)
{
	struct ex_oracle *o;
	char err[EX_ERR_MAX];
	double x[5] = {1, 2, 3, 4, 5}, out[1];
	size_t fds = count_fds();

	for (int i = 0; i < 40; i++) {
		/* the timeout also bounds the start-up probe: generous enough for a loaded
		 * machine or a sanitizer build, short enough to test hangs a few times */
		bool hang = i % 8 == 7;
		ck_assert_int_eq(
		    open_faulty(hang ? "hang" : "sum", 1 + i % 3, hang ? 1000 : 10000, 0, &o, err),
		    0);
		int rc = ex_oracle_predict(o, x, 1, out, err, sizeof(err));
		ck_assert_int_eq(rc, hang ? -ETIMEDOUT : 0);
		ex_oracle_close(o);
		ck_assert(no_children());
	}
	for (int i = 0; i < 10; i++)
		ck_assert_int_lt(open_faulty("crash-start", 2, 1000, 0, &o, err), 0);
	ex_oracle_close(NULL);
	ck_assert_uint_eq(count_fds(), fds);
	ck_assert(no_children());
}
END_TEST

/* ------------------------------------------------------------------ ex_oracle_parse_response */

/* A delimited PredictResponse; returns its length in buf. */
static size_t encode(uint8_t *buf, uint32_t n_outputs, const double *v, size_t n_values,
                     uint64_t id, const char *error)
{
	Evident__V1__PredictResponse r = EVIDENT__V1__PREDICT_RESPONSE__INIT;
	r.has_n_outputs = n_outputs != UINT32_MAX;
	r.n_outputs = n_outputs;
	r.values = (double *)v;
	r.n_values = n_values;
	r.has_request_id = id != UINT64_MAX;
	r.request_id = id;
	r.error = (char *)error;
	size_t body = evident__v1__predict_response__get_packed_size(&r);
	size_t hl = frame_header_encode(body, buf);
	evident__v1__predict_response__pack(&r, buf + hl);
	return hl + body;
}

START_TEST(ex_oracle_parse_response_checks_everything)
{
	uint8_t buf[4096];
	double v[6] = {1, 2, 3, 4, 5, 6}, out[EX_ORACLE_MAX_OUTPUTS * 3];
	size_t len, outputs, used;
	char err[EX_ERR_MAX];

	len = encode(buf, 2, v, 6, 9, NULL);
	buf[len] = 0x42; /* the start of the next message is left alone */
	ck_assert_int_eq(ex_oracle_parse_response(buf, len + 1, 1 << 20, 9, 3, 2, out, &outputs,
	                                          &used, err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(outputs, 2);
	ck_assert_uint_eq(used, len);
	for (size_t i = 0; i < 6; i++)
		ck_assert_double_eq(out[i], v[i]);
	/* learning the number of outputs */
	ck_assert_int_eq(ex_oracle_parse_response(buf, len, 1 << 20, 9, 2, 0, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 -EPROTO);
	ASSERT_MSG(err, "6 values for 2 rows x 2 outputs (expected 4)");
	ck_assert_int_eq(ex_oracle_parse_response(buf, len, 1 << 20, 9, 3, 0, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(outputs, 2);
	/* every prefix is incomplete */
	for (size_t k = 0; k < len; k++)
		ck_assert_int_eq(ex_oracle_parse_response(buf, k, 1 << 20, 9, 3, 2, out, &outputs,
		                                          &used, err, sizeof(err)),
		                 -EAGAIN);

	static const struct {
		uint32_t n_outputs;
		size_t n_values;
		uint64_t id;
		const char *error, *expect;
	} bad[] = {
	    {3, 6, 9, NULL, "n_outputs 3, expected 2"},
	    {2, 5, 9, NULL, "5 values for 3 rows x 2 outputs (expected 6)"},
	    {2, 6, 8, NULL, "request_id 8, expected 9"},
	    {2, 6, 8, "refused", "error \"refused\""},
	    {UINT32_MAX, 6, 9, NULL, "n_outputs missing"},
	    {0, 0, 9, NULL, "n_outputs 0"},
	    {2, 6, 9, "out of\nmemory", "error \"out of?memory\""},
	};
	for (size_t t = 0; t < sizeof(bad) / sizeof(bad[0]); t++) {
		len = encode(buf, bad[t].n_outputs, v, bad[t].n_values, bad[t].id, bad[t].error);
		used = 12345;
		ck_assert_int_eq(ex_oracle_parse_response(buf, len, 1 << 20, 9, 3, 2, out, &outputs,
		                                          &used, err, sizeof(err)),
		                 -EPROTO);
		ASSERT_MSG(err, bad[t].expect);
		/* only an error to this request (or to no request_id) stays in step */
		ck_assert_uint_eq(used, bad[t].error && bad[t].id != 8 ? len : 0);
	}
	/* the minimal form: no request_id is the answer to the one request outstanding */
	len = encode(buf, 2, v, 6, UINT64_MAX, NULL);
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(ex_oracle_parse_response(buf, len, 1 << 20, 9, 3, 2, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(used, len);
	ck_assert_uint_eq(outputs, 2);
	for (size_t i = 0; i < 6; i++)
		ck_assert_double_eq(out[i], v[i]);
	len = encode(buf, 2, v, 6, UINT64_MAX, "refused");
	ck_assert_int_eq(ex_oracle_parse_response(buf, len, 1 << 20, 9, 3, 2, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 -EPROTO);
	ASSERT_MSG(err, "error \"refused\"");
	ck_assert_uint_eq(used, len);
	/* learning refuses too many outputs */
	double *many = calloc(EX_ORACLE_MAX_OUTPUTS + 1, sizeof(double));
	uint8_t *big = malloc(16 * EX_ORACLE_MAX_OUTPUTS);
	len = encode(big, EX_ORACLE_MAX_OUTPUTS + 1, many, EX_ORACLE_MAX_OUTPUTS + 1, 1, NULL);
	ck_assert_int_eq(ex_oracle_parse_response(big, len, 1 << 20, 1, 1, 0, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 -EPROTO);
	ASSERT_MSG(err, "over the limit of 1024");
	free(many);
	free(big);
	/* strings: protobuf-c would read "out\0of memory" as "out"; not text is malformed */
	len = encode(buf, 2, v, 6, 9, "out#of memory");
	*(uint8_t *)memmem(buf, len, "#", 1) = 0;
	used = 12345;
	ck_assert_int_eq(ex_oracle_parse_response(buf, len, 1 << 20, 9, 3, 2, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 -EPROTO);
	ASSERT_MSG(err, "response field error: NUL byte at offset 3");
	ck_assert_uint_eq(used, 0);
	len = encode(buf, 2, v, 6, 9, "bad #");
	*(uint8_t *)memmem(buf, len, "#", 1) = 0xc0;
	ck_assert_int_eq(ex_oracle_parse_response(buf, len, 1 << 20, 9, 3, 2, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 -EPROTO);
	ASSERT_MSG(err, "response field error: invalid UTF-8 at offset 4");
	/* non-finite values */
	v[4] = INFINITY;
	len = encode(buf, 2, v, 6, 9, NULL);
	ck_assert_int_eq(ex_oracle_parse_response(buf, len, 1 << 20, 9, 3, 2, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 -EPROTO);
	ASSERT_MSG(err, "value 4 (row 2, output 0) is infinite");
	/* framing */
	len = encode(buf, 2, v, 6, 9, NULL);
	ck_assert_int_eq(
	    ex_oracle_parse_response(buf, len, 10, 9, 3, 2, out, &outputs, &used, err, sizeof(err)),
	    -EPROTO);
	ASSERT_MSG(err, "over the limit of 10");
	memset(buf, 0xff, 11);
	ck_assert_int_eq(ex_oracle_parse_response(buf, 11, 1 << 20, 9, 3, 2, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 -EPROTO);
	ASSERT_MSG(err, "malformed length prefix");
	memcpy(buf, "\x05hello", 6);
	ck_assert_int_eq(ex_oracle_parse_response(buf, 6, 1 << 20, 9, 3, 2, out, &outputs, &used,
	                                          err, sizeof(err)),
	                 -EPROTO);
	ASSERT_MSG(err, "does not decode as a PredictResponse");
}
END_TEST

static Suite *oracle_suite(void)
{
	Suite *s = suite_create("explain_oracle");
	TCase *tc;

	tc = tcase_create("ex_oracle_open");
	tcase_add_test(tc, ex_oracle_open_probe_learns_outputs);
	tcase_add_test(tc, ex_oracle_open_environment_and_descriptors);
	tcase_add_test(tc, ex_oracle_open_failures);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_oracle_predict");
	tcase_add_test(tc, ex_oracle_predict_equals_library);
	tcase_add_test(tc, ex_oracle_predict_refused_row);
	tcase_add_test(tc, ex_oracle_predict_threads_share_a_pool);
	tcase_add_test(tc, ex_oracle_predict_wrong_answers);
	tcase_add_test(tc, ex_oracle_predict_answers_without_request_id);
	tcase_add_test(tc, ex_oracle_predict_timeouts);
	tcase_add_test(tc, ex_oracle_predict_crashes);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_oracle_fn");
	tcase_add_test(tc, ex_oracle_fn_predicts);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_oracle_get_stats");
	tcase_add_test(tc, ex_oracle_get_stats_counts);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_oracle_close");
	tcase_add_test(tc, ex_oracle_close_leaks_nothing);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_oracle_parse_response");
	tcase_add_test(tc, ex_oracle_parse_response_checks_everything);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_explain_oracle EVIDENT_ORACLE FAULTY_ORACLE\n");
		return 2;
	}
	evident_oracle_path = argv[1];
	faulty_path = argv[2];
	return test_run_suite(oracle_suite());
}
