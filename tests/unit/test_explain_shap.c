/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the exact attribution methods against brute-force Shapley enumeration
 * (M <= 10) on random trees with repeated features, zero-cover children, missing values and
 * categorical splits; the Shapley axioms; the classic recursion as a second reference. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "shap_brute.h"
#include "shap_internal.h"
#include "testutil.h"

static uint64_t rng = 12345;

static double urand(void)
{
	return (double)(test_rand(&rng) >> 11) / 9007199254740992.0;
}

static double nrand(void)
{
	double u = urand() + 1e-12, v = urand();
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ------------------------------------------------------------------ random models */

struct builder {
	struct ex_node *nodes;
	int32_t n, cap;
	struct ex_model *m;
	size_t M;
	bool categorical;
	double zero_cover_p;
};

static int32_t add_node(struct builder *b)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->nodes = realloc(b->nodes, (size_t)b->cap * sizeof(*b->nodes));
	}
	memset(&b->nodes[b->n], 0, sizeof(b->nodes[0]));
	b->nodes[b->n].left = b->nodes[b->n].right = b->nodes[b->n].feature = -1;
	return b->n++;
}

/* Builds a random subtree; returns its node index. Covers add up like data counts, with
 * some children of zero cover. */
static int32_t grow(struct builder *b, unsigned depth, unsigned max_depth)
{
	int32_t n = add_node(b);

	if (depth == max_depth || (depth > 1 && urand() < 0.25)) {
		b->nodes[n].cmp = EX_CMP_LEAF;
		b->nodes[n].value = nrand();
		b->nodes[n].cover = urand() < b->zero_cover_p ? 0 : 1 + floor(urand() * 20);
		return n;
	}
	int32_t l = grow(b, depth + 1, max_depth);
	int32_t r = grow(b, depth + 1, max_depth);
	struct ex_node *node = &b->nodes[n];
	node->left = l;
	node->right = r;
	node->feature = (int32_t)(test_rand(&rng) % b->M);
	node->default_left = test_rand(&rng) & 1;
	node->cover = b->nodes[l].cover + b->nodes[r].cover;
	if (b->categorical && node->feature % 3 == 2) {
		/* categories 0..9 in one 32-bit word */
		uint32_t set = (uint32_t)test_rand(&rng) & 0x3ff;
		node->cmp = EX_CMP_XGB_CAT;
		b->m->cat_words =
		    realloc(b->m->cat_words, (b->m->n_cat_words + 1) * sizeof(uint32_t));
		b->m->cat_words[b->m->n_cat_words] = set;
		node->cat_off = (uint32_t)b->m->n_cat_words++;
		node->cat_len = 1;
	} else {
		node->cmp = EX_CMP_XGB_LT;
		node->threshold_f = (float)urand();
	}
	return n;
}

/* A random ensemble of n_trees trees over M features and n_out outputs. */
static struct ex_model *random_model(size_t M, size_t n_trees, unsigned max_depth, size_t n_out,
                                     bool categorical, double zero_cover_p)
{
	struct ex_model *m = ex_model_new(EX_FORMAT_XGBOOST_JSON);
	char err[EX_ERR_MAX];

	ck_assert_ptr_nonnull(m);
	m->n_features = M;
	m->n_outputs = n_out;
	m->link = EX_LINK_IDENTITY;
	m->output_scale = 1.0;
	m->base_margin = calloc(n_out, sizeof(double));
	for (size_t g = 0; g < n_out; g++)
		m->base_margin[g] = nrand();
	m->trees = calloc(n_trees, sizeof(*m->trees));
	m->n_trees = n_trees;
	for (size_t t = 0; t < n_trees; t++) {
		struct builder b = {
		    .m = m, .M = M, .categorical = categorical, .zero_cover_p = zero_cover_p};
		grow(&b, 0, max_depth);
		m->trees[t].nodes = b.nodes;
		m->trees[t].n_nodes = b.n;
		m->trees[t].group = (int32_t)(t % n_out);
	}
	ck_assert_msg(ex_model_finish_trees(m, "random", err, sizeof(err)) == 0, "%s", err);
	return m;
}

static void random_row(const struct ex_model *m, double *x, bool missing)
{
	for (size_t i = 0; i < m->n_features; i++) {
		x[i] = (i % 3 == 2) ? floor(urand() * 12) - 1 : urand(); /* cats -1..10 */
		if (missing && urand() < 0.2)
			x[i] = NAN;
	}
}

static void assert_close(const double *a, const double *b, size_t n, double tol, const char *what)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(fabs(a[i] - b[i]) <= tol * (1 + fabs(b[i])),
		              "%s[%zu]: %.17g vs %.17g", what, i, a[i], b[i]);
}

/* ------------------------------------------------------------------ tests */

START_TEST(ex_treeshap_equals_brute_force)
{
	for (int trial = 0; trial < 60; trial++) {
		size_t M = 2 + (size_t)(trial % 9), n_out = trial % 4 == 3 ? 3 : 1;
		struct ex_model *m =
		    random_model(M, 1 + (size_t)(trial % 5), 3 + (unsigned)(trial % 5), n_out,
		                 trial % 2, trial % 3 == 0 ? 0.3 : 0.0);
		double x[16], phi[3 * 16], base[3], bphi[3 * 16], bbase[3];

		random_row(m, x, trial % 2);
		ck_assert_int_eq(ex_treeshap(m, x, phi, base), 0);
		brute_shapley(m, brute_g_path, x, NULL, 0, bphi, bbase);
		assert_close(phi, bphi, n_out * M, 1e-12, "phi");
		assert_close(base, bbase, n_out, 1e-12, "base");
		ex_model_free(m);
	}
}
END_TEST

/* Many rows at once equal one at a time (to rounding); a row alone gets the same bits as in a
 * block (the audit explains one row, `evidentctl explain` many, and they agree to the bit);
 * the margins the walk gives are ex_predict_margin's bits, also with an averaging scale
 * (LightGBM's average_output). */
START_TEST(ex_treeshap_rows_equals_one_by_one)
{
	for (int trial = 0; trial < 16; trial++) {
		size_t M = 3 + (size_t)(trial % 6), K = trial % 3 == 2 ? 3 : 1,
		       n = 1 + (size_t)trial * 3;
		struct ex_model *m = random_model(M, 5, 3 + (unsigned)(trial % 6), K, trial % 2,
		                                  trial % 4 == 0 ? 0.3 : 0.0);
		double *X = malloc(n * M * sizeof(double)),
		       *phi = malloc(n * K * M * sizeof(double));
		double *base = malloc(n * K * sizeof(double)), *mg = malloc(n * K * sizeof(double));
		double one[3 * 16], b1[3], m1[3], want[3];
		int *rcs = malloc(n * sizeof(int)), rc1;

		if (trial % 4 == 3)
			m->output_scale = 1.0 / 3;
		for (size_t i = 0; i < n; i++)
			random_row(m, X + i * M, trial % 2);
		ck_assert_int_eq(ex_treeshap_rows_margins(m, X, n, phi, base, mg, rcs), 0);
		for (size_t i = 0; i < n; i++) {
			ck_assert_int_eq(rcs[i], 0);
			ck_assert_int_eq(ex_treeshap(m, X + i * M, one, b1), 0);
			assert_close(phi + i * K * M, one, K * M, 1e-13, "rows phi");
			assert_close(base + i * K, b1, K, 1e-13, "rows base");
			ck_assert_int_eq(ex_predict_margin(m, X + i * M, NULL, want), 0);
			ck_assert_msg(memcmp(want, mg + i * K, K * sizeof(double)) == 0,
			              "trial %d row %zu: margin %.17g, ex_predict_margin %.17g",
			              trial, i, mg[i * K], want[0]);
			ck_assert_int_eq(
			    ex_treeshap_rows_margins(m, X + i * M, 1, one, b1, m1, &rc1), 0);
			ck_assert_int_eq(rc1, 0);
			ck_assert_msg(memcmp(one, phi + i * K * M, K * M * sizeof(double)) == 0 &&
			                  memcmp(b1, base + i * K, K * sizeof(double)) == 0 &&
			                  memcmp(m1, mg + i * K, K * sizeof(double)) == 0,
			              "trial %d row %zu: other bits alone than in the block", trial,
			              i);
		}
		free(X);
		free(phi);
		free(base);
		free(mg);
		free(rcs);
		ex_model_free(m);
	}
}
END_TEST

START_TEST(ex_treeshap_classic_agrees)
{
	for (int trial = 0; trial < 40; trial++) {
		size_t M = 3 + (size_t)(trial % 8);
		struct ex_model *m =
		    random_model(M, 4, 4 + (unsigned)(trial % 6), 1, trial % 2, 0.0);
		double x[16], phi[16], base[1], bphi[16], bbase[1];

		random_row(m, x, trial % 3 == 0);
		ck_assert_int_eq(ex_treeshap_classic(m, x, phi, base), 0);
		brute_shapley(m, brute_g_path, x, NULL, 0, bphi, bbase);
		assert_close(phi, bphi, M, 1e-12, "classic phi");
		ex_model_free(m);
	}
}
END_TEST

START_TEST(ex_treeshap_deep_trees_match_classic)
{
	/* depth 24 with 40 features: past brute force, quadrature and classic must agree */
	for (int trial = 0; trial < 5; trial++) {
		struct ex_model *m = random_model(40, 3, 24, 1, false, 0.0);
		double x[40], phi[40], base[1], cphi[40], cbase[1];

		random_row(m, x, true);
		ck_assert_int_eq(ex_treeshap(m, x, phi, base), 0);
		ck_assert_int_eq(ex_treeshap_classic(m, x, cphi, cbase), 0);
		assert_close(phi, cphi, 40, 1e-9, "deep phi");
		ex_model_free(m);
	}
}
END_TEST

START_TEST(ex_interactions_equal_brute_force)
{
	for (int trial = 0; trial < 30; trial++) {
		size_t M = 2 + (size_t)(trial % 7), n_out = trial % 5 == 4 ? 2 : 1;
		struct ex_model *m =
		    random_model(M, 2 + (size_t)(trial % 3), 3 + (unsigned)(trial % 4), n_out,
		                 trial % 2, trial % 3 == 0 ? 0.3 : 0.0);
		double x[16], inter[2 * 16 * 16], base[2], bint[2 * 16 * 16], phi[2 * 16], pbase[2];

		random_row(m, x, trial % 2);
		ck_assert_int_eq(ex_interactions(m, x, inter, base), 0);
		brute_interactions(m, x, bint);
		assert_close(inter, bint, n_out * M * M, 1e-11, "interaction");
		/* symmetric, and rows sum to the SHAP values */
		ck_assert_int_eq(ex_treeshap(m, x, phi, pbase), 0);
		for (size_t g = 0; g < n_out; g++)
			for (size_t i = 0; i < M; i++) {
				double row = 0;
				for (size_t j = 0; j < M; j++) {
					row += inter[g * M * M + i * M + j];
					ck_assert(fabs(inter[g * M * M + i * M + j] -
					               inter[g * M * M + j * M + i]) <= 1e-12);
				}
				ck_assert(fabs(row - phi[g * M + i]) <= 1e-11 * (1 + fabs(row)));
			}
		ex_model_free(m);
	}
}
END_TEST

START_TEST(ex_treeshap_interventional_equals_brute_force)
{
	for (int trial = 0; trial < 30; trial++) {
		size_t M = 2 + (size_t)(trial % 8), n_bg = 1 + (size_t)(trial % 6);
		struct ex_model *m = random_model(M, 1 + (size_t)(trial % 4),
		                                  3 + (unsigned)(trial % 4), 1, trial % 2, 0.0);
		double x[16], bg[6 * 16], phi[16], base[1], bphi[16], bbase[1];

		random_row(m, x, trial % 2);
		for (size_t r = 0; r < n_bg; r++)
			random_row(m, bg + r * M, trial % 3 == 0);
		ck_assert_int_eq(ex_treeshap_interventional(m, x, bg, n_bg, phi, base), 0);
		brute_shapley(m, brute_v_interv, x, bg, n_bg, bphi, bbase);
		assert_close(phi, bphi, M, 1e-12, "interventional phi");
		assert_close(base, bbase, 1, 1e-12, "interventional base");
		ex_model_free(m);
	}
}
END_TEST

START_TEST(ex_treeshap_dummy_and_symmetry)
{
	/* Dummy: features 5..7 are never split on and get exactly 0. */
	struct ex_model *m = random_model(5, 6, 5, 1, false, 0.1);
	double x[8], phi[8], base[1];
	m->n_features = 8; /* widen: the new features are unused */
	random_row(m, x, true);
	ck_assert_int_eq(ex_treeshap(m, x, phi, base), 0);
	for (int i = 5; i < 8; i++)
		ck_assert(phi[i] == 0.0);
	ex_model_free(m);

	/* Symmetry: two mirror-image trees on features 0 and 1, and x0 = x1: phi_0 = phi_1. */
	m = random_model(2, 1, 4, 1, false, 0.0);
	struct ex_tree *t = &m->trees[0];
	m->trees = realloc(m->trees, 2 * sizeof(*m->trees));
	t = &m->trees[0];
	m->trees[1] = *t;
	m->trees[1].nodes = malloc((size_t)t->n_nodes * sizeof(struct ex_node));
	memcpy(m->trees[1].nodes, t->nodes, (size_t)t->n_nodes * sizeof(struct ex_node));
	for (int32_t k = 0; k < t->n_nodes; k++)
		if (m->trees[1].nodes[k].feature >= 0)
			m->trees[1].nodes[k].feature ^= 1;
	m->n_trees = 2;
	x[0] = x[1] = 0.37;
	ck_assert_int_eq(ex_treeshap(m, x, phi, base), 0);
	ck_assert(fabs(phi[0] - phi[1]) <= 1e-14);
	ex_model_free(m);
}
END_TEST

START_TEST(ex_linear_shap_is_exact)
{
	struct ex_model *m = ex_model_new(EX_FORMAT_LINEAR_JSON);
	double coef[4] = {0.5, -2, 0, 3}, x[4] = {1, 2, 3, 4}, bg[3 * 4], phi[4], base[1], bphi[4],
	       bbase[1];

	m->n_features = 4;
	m->n_outputs = 1;
	m->link = EX_LINK_LOGIT;
	m->output_scale = 1;
	m->coef = malloc(sizeof(coef));
	memcpy(m->coef, coef, sizeof(coef));
	m->intercept = -1;
	for (int i = 0; i < 12; i++)
		bg[i] = nrand();
	ck_assert_int_eq(ex_linear_shap(m, x, bg, 3, phi, base), 0);
	brute_shapley(m, brute_v_interv, x, bg, 3, bphi, bbase);
	assert_close(phi, bphi, 4, 1e-12, "linear phi");
	assert_close(base, bbase, 1, 1e-12, "linear base");
	ck_assert(phi[2] == 0.0); /* dummy */
	x[1] = NAN;
	ck_assert_int_eq(ex_linear_shap(m, x, bg, 3, phi, base), -EINVAL);
	ex_model_free(m);
}
END_TEST

START_TEST(ex_gauss_legendre_integrates_polynomials)
{
	for (unsigned n = 1; n <= 40; n++) {
		double t[40], w[40];
		ex__gauss_legendre(n, t, w);
		/* exact for degree <= 2n - 1: ∫_0^1 t^k dt = 1 / (k + 1) */
		for (unsigned k = 0; k <= 2 * n - 1; k++) {
			double s = 0;
			for (unsigned q = 0; q < n; q++)
				s += w[q] * pow(t[q], k);
			ck_assert_msg(fabs(s - 1.0 / (k + 1)) < 1e-13, "n %u k %u: %.17g", n, k, s);
		}
	}
}
END_TEST

START_TEST(ex_check_efficiency_refuses_wrong_sums)
{
	struct ex_model *m = random_model(4, 3, 4, 1, false, 0.0);
	double x[4], phi[4], base[1];

	random_row(m, x, false);
	ck_assert_int_eq(ex_treeshap(m, x, phi, base), 0);
	ck_assert_int_eq(ex__check_efficiency(m, x, phi, base), 0);
	phi[2] += 1e-6;
	ck_assert_int_eq(ex__check_efficiency(m, x, phi, base), -EDOM);
	ex_model_free(m);
}
END_TEST

static Suite *shap_suite(void)
{
	Suite *s = suite_create("explain_shap");
	TCase *tc;

	tc = tcase_create("ex_treeshap");
	tcase_add_test(tc, ex_treeshap_equals_brute_force);
	tcase_add_test(tc, ex_treeshap_deep_trees_match_classic);
	tcase_add_test(tc, ex_treeshap_dummy_and_symmetry);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_treeshap_rows");
	tcase_add_test(tc, ex_treeshap_rows_equals_one_by_one);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_treeshap_classic");
	tcase_add_test(tc, ex_treeshap_classic_agrees);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_interactions");
	tcase_add_test(tc, ex_interactions_equal_brute_force);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_treeshap_interventional");
	tcase_add_test(tc, ex_treeshap_interventional_equals_brute_force);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex_linear_shap");
	tcase_add_test(tc, ex_linear_shap_is_exact);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex__gauss_legendre");
	tcase_add_test(tc, ex_gauss_legendre_integrates_polynomials);
	suite_add_tcase(s, tc);
	tc = tcase_create("ex__check_efficiency");
	tcase_add_test(tc, ex_check_efficiency_refuses_wrong_sums);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(shap_suite());
}
