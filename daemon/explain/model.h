/* SPDX-License-Identifier: Apache-2.0 */
/* The explain library's one internal model representation (METHODS.md §2.1): every tree
 * format is flattened into these arrays by its loader; the evaluators and attribution methods
 * see nothing else. Not installed; for the explain sources and their tests. */
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "explain.h"

/* How a split compares, replaying the training library exactly (never normalised). */
enum ex_cmp {
	EX_CMP_LEAF = 0,
	/* XGBoost numeric: missing (NaN) -> default child; else left iff (float)x < threshold_f
	 * (the DMatrix holds float32) */
	EX_CMP_XGB_LT,
	/* XGBoost categorical (common::Decision, 1.7 to 3.x, checked against 1.7.4): missing ->
	 * default child; else f = (float)x, invalid when f < 0 or f >= 2^24 -> left (not the
	 * default child); category (int)f (truncated after the float cast: 3.9999999 is 4) in the
	 * node's set -> right; not in it or beyond its bitset -> left */
	EX_CMP_XGB_CAT,
	/* LightGBM numeric (Tree::NumericalDecision): the dense predictor first turns |x| <=
	 * kZeroThreshold into 0.0; NaN with missing_type != NaN becomes 0.0; if (missing Zero and
	 * |x| <= kZeroThreshold) or (missing NaN and x is NaN) -> default child; else left iff
	 * x <= threshold (double). kZeroThreshold is the float 1e-35f widened to double. */
	EX_CMP_LGB_LE,
	/* LightGBM categorical (Tree::CategoricalDecision, v3 and v4): NaN -> right whatever the
	 * missing type; c = (int)x truncated toward 0 (so -0.5 is category 0), c < 0 -> right
	 * (x >= 2^31 also: the x86 conversion gives INT_MIN); left iff bit c is set in the node's
	 * bitset (bits beyond it: not set) */
	EX_CMP_LGB_CAT,
};

/* LightGBM's kZeroThreshold: `const double kZeroThreshold = 1e-35f;` (a float literal) */
#define EX_LGB_ZERO ((double)1e-35f)

enum ex_missing {
	EX_MISSING_NONE = 0,
	EX_MISSING_ZERO = 1,
	EX_MISSING_NAN = 2,
};

struct ex_node {
	int32_t left, right; /* children (node indices); -1 at leaves */
	int32_t feature;     /* split feature; -1 at leaves */
	uint8_t cmp;         /* enum ex_cmp */
	uint8_t default_left;
	uint8_t missing; /* enum ex_missing (LightGBM) */
	uint8_t pad;
	float threshold_f; /* XGBoost numeric threshold (float32 compare) */
	double threshold;  /* LightGBM numeric threshold (double compare) */
	uint32_t cat_off;  /* categorical: words in ex_model.cat_words (32-bit bitset) */
	uint32_t cat_len;
	double cover; /* XGBoost sum_hessian, LightGBM data count; > 0 at reachable nodes */
	double value; /* leaf value (already scaled: shrinkage, DART weight) */
	double frac;  /* cover / parent's cover (0 under a node without cover; 1 at the root) */
};

struct ex_tree {
	struct ex_node *nodes; /* node 0 is the root */
	int32_t n_nodes;
	int32_t group;          /* output (class) this tree adds to */
	unsigned depth;         /* longest root-to-leaf path, in edges */
	unsigned path_features; /* most distinct features on one root-to-leaf path */
	double expectation;     /* cover-weighted mean leaf value (unscaled) */
};

struct ex_model {
	enum ex_format format;
	enum ex_link link;
	char *objective;
	size_t n_features;
	size_t n_outputs;
	char **feature_names; /* n_features entries, each may be NULL; NULL array: none */
	bool *categorical;    /* n_features flags, or NULL */

	/* trees */
	struct ex_tree *trees;
	size_t n_trees;
	uint32_t *cat_words; /* bitsets of categorical splits */
	size_t n_cat_words;
	double *base_margin; /* n_outputs: margin of the base score (XGBoost) or 0 */
	unsigned max_depth;
	unsigned max_path_features;
	double output_scale; /* LightGBM average_output: 1 / iterations; otherwise 1 */
	/* EX_LINK_LOGIT: probability = 1 / (1 + exp(-link_scale * margin)); LightGBM's
	 * "sigmoid:s" (the margin stays LightGBM's raw score); otherwise 1 */
	double link_scale;

	/* linear-json */
	double *coef; /* n_features */
	double intercept;
	double *feature_means; /* optional training means (linear SHAP without background) */
};

/* Writes a message into err (may be NULL) and returns rc. */
/* ex_predict_margin for n_rows rows (row-major) into out (n_rows x n_outputs), tree-major in
 * blocks of rows; the same bits as a row-by-row loop. Returns 0 or the first row's error. */
int ex__predict_margin_rows(const struct ex_model *m, const double *X, size_t n_rows, double *out);

int ex__fail(char *err, size_t size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Allocation helpers for loaders. ex_model_new() returns a zeroed model or NULL. */
struct ex_model *ex_model_new(enum ex_format format);

/* The child x goes to at node n (n is not a leaf). */
static inline int32_t ex_node_next(const struct ex_model *m, const struct ex_node *n,
                                   const double *x)
{
	double v = x[n->feature];

	switch (n->cmp) {
	case EX_CMP_XGB_LT:
		if (isnan(v))
			return n->default_left ? n->left : n->right;
		return (float)v < n->threshold_f ? n->left : n->right;
	case EX_CMP_XGB_CAT: {
		if (isnan(v))
			return n->default_left ? n->left : n->right;
		float f = (float)v;
		if (!(f >= 0.0f) || f >= 16777216.0f)
			return n->left;
		uint32_t c = (uint32_t)f;
		if (c / 32 >= n->cat_len)
			return n->left;
		return (m->cat_words[n->cat_off + c / 32] >> (c % 32)) & 1 ? n->right : n->left;
	}
	case EX_CMP_LGB_LE:
		if (fabs(v) <= EX_LGB_ZERO)
			v = 0.0;
		if (isnan(v) && n->missing != EX_MISSING_NAN)
			v = 0.0;
		if ((n->missing == EX_MISSING_ZERO && fabs(v) <= EX_LGB_ZERO) ||
		    (n->missing == EX_MISSING_NAN && isnan(v)))
			return n->default_left ? n->left : n->right;
		return v <= n->threshold ? n->left : n->right;
	case EX_CMP_LGB_CAT: {
		if (isnan(v) || v <= -1.0 || v >= 2147483648.0)
			return n->right;
		uint32_t c = (uint32_t)(int32_t)v;
		if (c / 32 >= n->cat_len)
			return n->right;
		return (m->cat_words[n->cat_off + c / 32] >> (c % 32)) & 1 ? n->left : n->right;
	}
	default:
		return -1;
	}
}

/* Loaders (one file each). They fill m and return 0, or write "NAME: FIELD: problem" into err
 * and return -EBADMSG / -ENOTSUP / -ENOMEM. */
int ex_load_xgboost_json(struct ex_model *m, const char *data, size_t len, const char *name,
                         char *err, size_t err_size);
int ex_load_lightgbm_text(struct ex_model *m, const char *data, size_t len, const char *name,
                          char *err, size_t err_size);
int ex_load_linear_json(struct ex_model *m, const char *data, size_t len, const char *name,
                        char *err, size_t err_size);

/* Fills depth, path_features, frac and expectation of every tree and the model maxima (the
 * attribution methods rely on them: call it after changing a tree); checks that no node is
 * reached twice from the root (cycles, shared children), that children and features are in
 * range, and covers and values finite (-EBADMSG with a message otherwise; -ENOTSUP deeper
 * than 1000 levels). Nodes the root does not reach (XGBoost keeps pruned, "deleted", ones)
 * are dropped and the rest renumbered in order, so afterwards every node of a tree lies on a
 * root-to-leaf path and a tree of one leaf has n_nodes 1. Called by ex_model_load*. */
int ex_model_finish_trees(struct ex_model *m, const char *name, char *err, size_t err_size);
