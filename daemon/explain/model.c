/* SPDX-License-Identifier: Apache-2.0 */
/* Models: loading (format detection, the per-format loaders), validation of the flattened
 * trees, evaluation and links. */
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ex_model *ex_model_new(enum ex_format format)
{
	struct ex_model *m = calloc(1, sizeof(*m));

	if (m) {
		m->format = format;
		m->output_scale = 1.0;
		m->link_scale = 1.0;
	}
	return m;
}

void ex_model_free(struct ex_model *m)
{
	if (!m)
		return;
	for (size_t t = 0; m->trees && t < m->n_trees; t++)
		free(m->trees[t].nodes);
	free(m->trees);
	if (m->feature_names)
		for (size_t i = 0; i < m->n_features; i++)
			free(m->feature_names[i]);
	free(m->feature_names);
	free(m->categorical);
	free(m->cat_words);
	free(m->base_margin);
	free(m->coef);
	free(m->feature_means);
	free(m->objective);
	free(m);
}

int ex__fail(char *err, size_t size, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && size) {
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ------------------------------------------------------------------ tree validation */

/* Deeper trees are refused (-ENOTSUP): validation and the attribution methods recurse along
 * root-to-leaf paths and size their scratch space by the depth. Trained trees stay far below
 * (XGBoost's max_depth is typically <= 20; LightGBM's default num_leaves is 31). */
#define EX_TREE_DEPTH_MAX 1000

struct visit {
	struct ex_tree *t;
	uint8_t *seen;
	int *feat_count; /* per feature: splits on the current path */
	unsigned distinct;
	unsigned max_depth, max_distinct;
};

static int visit(struct visit *v, int32_t n, unsigned depth, const char *name, size_t ti, char *err,
                 size_t err_size, size_t n_features)
{
	const struct ex_node *node = &v->t->nodes[n];

	if (v->seen[n])
		return ex__fail(err, err_size, -EBADMSG,
		                "%s: tree %zu: node %d is reached twice (a cycle or shared child)",
		                name, ti, n);
	v->seen[n] = 1;
	if (depth > EX_TREE_DEPTH_MAX)
		return ex__fail(err, err_size, -ENOTSUP, "%s: tree %zu: deeper than %d levels",
		                name, ti, EX_TREE_DEPTH_MAX);
	if (depth > v->max_depth)
		v->max_depth = depth;
	if (v->distinct > v->max_distinct)
		v->max_distinct = v->distinct;
	if (!isfinite(node->cover) || node->cover < 0)
		return ex__fail(err, err_size, -EBADMSG, "%s: tree %zu: node %d: cover %g", name,
		                ti, n, node->cover);
	if (node->cmp == EX_CMP_LEAF) {
		if (node->left != -1 || node->right != -1)
			return ex__fail(err, err_size, -EBADMSG,
			                "%s: tree %zu: leaf %d has children %d, %d", name, ti, n,
			                node->left, node->right);
		if (!isfinite(node->value))
			return ex__fail(err, err_size, -EBADMSG,
			                "%s: tree %zu: leaf %d: value is not finite", name, ti, n);
		return 0;
	}
	/* children's share of this node's cover (0/0 is 0: such a subtree weighs nothing) */
	struct ex_node *nodes = v->t->nodes;
	if (node->feature < 0 || (size_t)node->feature >= n_features)
		return ex__fail(
		    err, err_size, -EBADMSG,
		    "%s: tree %zu: node %d: split feature %d out of range (%zu features)", name, ti,
		    n, node->feature, n_features);
	if (node->left < 0 || node->left >= v->t->n_nodes || node->right < 0 ||
	    node->right >= v->t->n_nodes || node->left == node->right)
		return ex__fail(err, err_size, -EBADMSG,
		                "%s: tree %zu: node %d: children %d, %d out of range (tree has %d "
		                "nodes)",
		                name, ti, n, node->left, node->right, v->t->n_nodes);
	nodes[node->left].frac = node->cover > 0 ? nodes[node->left].cover / node->cover : 0.0;
	nodes[node->right].frac = node->cover > 0 ? nodes[node->right].cover / node->cover : 0.0;
	if (v->feat_count[node->feature]++ == 0)
		v->distinct++;
	int rc = visit(v, node->left, depth + 1, name, ti, err, err_size, n_features);
	if (rc == 0)
		rc = visit(v, node->right, depth + 1, name, ti, err, err_size, n_features);
	if (--v->feat_count[node->feature] == 0)
		v->distinct--;
	return rc;
}

/* Drops the nodes the root does not reach and renumbers the rest (keeping their order, so the
 * root stays 0): XGBoost keeps pruned ("deleted") nodes in its arrays, and the attribution
 * methods may assume that every node of a tree is on some root-to-leaf path. */
static int compact(struct ex_tree *t, const uint8_t *seen)
{
	int32_t *map = malloc((size_t)t->n_nodes * sizeof(*map)), n = 0;

	if (!map)
		return -ENOMEM;
	for (int32_t k = 0; k < t->n_nodes; k++)
		map[k] = seen[k] ? n++ : -1;
	for (int32_t k = 0; k < t->n_nodes; k++) {
		struct ex_node node = t->nodes[k];
		if (!seen[k])
			continue;
		if (node.cmp != EX_CMP_LEAF) {
			node.left = map[node.left];
			node.right = map[node.right];
		}
		t->nodes[map[k]] = node;
	}
	free(map);
	t->n_nodes = n;
	return 0;
}

static double tree_mean(const struct ex_tree *t, int32_t n)
{
	const struct ex_node *node = &t->nodes[n];

	if (node->cmp == EX_CMP_LEAF)
		return node->value;
	return t->nodes[node->left].frac * tree_mean(t, node->left) +
	       t->nodes[node->right].frac * tree_mean(t, node->right);
}

int ex_model_finish_trees(struct ex_model *m, const char *name, char *err, size_t err_size)
{
	int *fc = calloc(m->n_features ? m->n_features : 1, sizeof(int));
	int rc = 0;

	if (!fc)
		return -ENOMEM;
	m->max_depth = m->max_path_features = 0;
	for (size_t t = 0; t < m->n_trees && rc == 0; t++) {
		struct ex_tree *tree = &m->trees[t];
		struct visit v = {.t = tree, .feat_count = fc};

		if (tree->n_nodes < 1) {
			rc =
			    ex__fail(err, err_size, -EBADMSG, "%s: tree %zu has no nodes", name, t);
			break;
		}
		if (tree->group < 0 || (size_t)tree->group >= m->n_outputs) {
			rc = ex__fail(err, err_size, -EBADMSG,
			              "%s: tree %zu: output %d out of range (%zu outputs)", name, t,
			              tree->group, m->n_outputs);
			break;
		}
		v.seen = calloc((size_t)tree->n_nodes, 1);
		if (!v.seen) {
			rc = -ENOMEM;
			break;
		}
		rc = visit(&v, 0, 0, name, t, err, err_size, m->n_features);
		/* Nodes the root does not reach are allowed (XGBoost keeps pruned, "deleted",
		 * nodes in its arrays) and dropped: they never take part in a prediction. */
		if (rc == 0 && memchr(v.seen, 0, (size_t)tree->n_nodes))
			rc = compact(tree, v.seen);
		free(v.seen);
		tree->nodes[0].frac = 1.0;
		tree->expectation = rc == 0 ? tree_mean(tree, 0) : 0.0;
		tree->depth = v.max_depth;
		tree->path_features = v.max_distinct;
		if (v.max_depth > m->max_depth)
			m->max_depth = v.max_depth;
		if (v.max_distinct > m->max_path_features)
			m->max_path_features = v.max_distinct;
		memset(fc, 0, m->n_features * sizeof(int));
	}
	free(fc);
	return rc;
}

/* ------------------------------------------------------------------ loading */

/* Does the JSON object in data have key at its top level? A linear scan that follows strings
 * and nesting (no allocation), so a key of the same name deeper in the document, or inside a
 * string such as a feature name, does not count. Malformed JSON: whatever was seen so far. */
static bool json_top_key(const char *data, size_t len, const char *key)
{
	size_t klen = strlen(key), depth = 0;
	bool expect_key = false;

	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (c == '"') {
			size_t start = ++i;
			while (i < len && data[i] != '"')
				i += data[i] == '\\' ? 2 : 1;
			if (i < len && depth == 1 && expect_key && i - start == klen &&
			    !memcmp(data + start, key, klen))
				return true;
			expect_key = false;
		} else if (c == '{' || c == '[') {
			depth++;
			expect_key = c == '{' && depth == 1;
		} else if (c == '}' || c == ']') {
			if (depth-- <= 1)
				return false;
		} else if (c == ',') {
			expect_key = depth == 1;
		}
	}
	return false;
}

static bool contains(const char *data, size_t len, const char *s)
{
	return memmem(data, len, s, strlen(s)) != NULL;
}

/* EX_FORMAT_AUTO: JSON with a top-level "learner" is XGBoost, with "coef" linear-json; text
 * that starts with "tree\n" (what LightGBM writes) or holds both "version=v" and "Tree=" is
 * LightGBM. Anything else: EX_FORMAT_AUTO (not recognised). */
static enum ex_format detect(const char *data, size_t len)
{
	size_t i = 0;

	while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
		i++;
	if (i < len && data[i] == '{') {
		if (json_top_key(data + i, len - i, "learner"))
			return EX_FORMAT_XGBOOST_JSON;
		if (json_top_key(data + i, len - i, "coef"))
			return EX_FORMAT_LINEAR_JSON;
		return EX_FORMAT_AUTO;
	}
	if ((len >= 5 && !memcmp(data, "tree\n", 5)) ||
	    (len >= 6 && !memcmp(data, "tree\r\n", 6)) ||
	    (contains(data, len, "version=v") && contains(data, len, "Tree=")))
		return EX_FORMAT_LIGHTGBM_TEXT;
	return EX_FORMAT_AUTO;
}

int ex_model_load_buffer(const void *data, size_t len, enum ex_format format, const char *name,
                         struct ex_model **ret, char *err, size_t err_size)
{
	struct ex_model *m;
	int rc;

	if (!data || !ret)
		return -EINVAL;
	if (!name)
		name = "model";
	if (err && err_size)
		err[0] = '\0';
	if (format == EX_FORMAT_AUTO)
		format = detect(data, len);
	if (format == EX_FORMAT_AUTO)
		return ex__fail(err, err_size, -EBADMSG,
		                "%s: not a model format this library reads (XGBoost JSON with "
		                "\"learner\", linear-json with \"coef\", LightGBM text)",
		                name);
	m = ex_model_new(format);
	if (!m)
		return -ENOMEM;
	switch (format) {
	case EX_FORMAT_XGBOOST_JSON:
		rc = ex_load_xgboost_json(m, data, len, name, err, err_size);
		break;
	case EX_FORMAT_LIGHTGBM_TEXT:
		rc = ex_load_lightgbm_text(m, data, len, name, err, err_size);
		break;
	case EX_FORMAT_LINEAR_JSON:
		rc = ex_load_linear_json(m, data, len, name, err, err_size);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc == 0 && m->trees)
		rc = ex_model_finish_trees(m, name, err, err_size);
	if (rc < 0) {
		ex_model_free(m);
		if (err && err_size && !err[0]) /* -ENOMEM from deep inside a loader */
			ex__fail(err, err_size, rc, "%s: %s", name, strerror(-rc));
		return rc;
	}
	*ret = m;
	return 0;
}

int ex_model_load(const char *path, enum ex_format format, struct ex_model **ret, char *err,
                  size_t err_size)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL;
	long n;
	int rc;

	if (!f)
		return ex__fail(err, err_size, -errno, "%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return ex__fail(err, err_size, -EIO, "%s: cannot read", path);
	}
	if (n > (1l << 31)) {
		fclose(f);
		return ex__fail(err, err_size, -EFBIG, "%s: larger than 2 GiB", path);
	}
	buf = malloc((size_t)n + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return ex__fail(err, err_size, -EIO, "%s: cannot read", path);
	}
	fclose(f);
	buf[n] = '\0';
	rc = ex_model_load_buffer(buf, (size_t)n, format, path, ret, err, err_size);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ accessors */

enum ex_format ex_model_format(const struct ex_model *m)
{
	return m->format;
}

size_t ex_model_n_features(const struct ex_model *m)
{
	return m->n_features;
}

size_t ex_model_n_outputs(const struct ex_model *m)
{
	return m->n_outputs;
}

enum ex_link ex_model_link(const struct ex_model *m)
{
	return m->link;
}

const char *ex_model_objective(const struct ex_model *m)
{
	return m->objective ? m->objective : "";
}

const char *ex_model_feature_name(const struct ex_model *m, size_t i)
{
	return m->feature_names && i < m->n_features ? m->feature_names[i] : NULL;
}

bool ex_model_is_trees(const struct ex_model *m)
{
	return m->format != EX_FORMAT_LINEAR_JSON;
}

size_t ex_model_n_trees(const struct ex_model *m)
{
	return m->n_trees;
}

unsigned ex_model_max_path_features(const struct ex_model *m)
{
	return m->max_path_features;
}

double ex_efficiency_tolerance(double value)
{
	return 1e-9 * (1 + fabs(value));
}

/* ------------------------------------------------------------------ evaluation */

static double tree_value(const struct ex_model *m, const struct ex_tree *t, const double *x)
{
	int32_t n = 0;

	while (t->nodes[n].cmp != EX_CMP_LEAF)
		n = ex_node_next(m, &t->nodes[n], x);
	return t->nodes[n].value;
}

int ex_predict_margin(const struct ex_model *m, const double *x, const double *base_margin,
                      double *out)
{
	if (!m || !x || !out)
		return -EINVAL;
	if (!ex_model_is_trees(m)) {
		double s = base_margin ? base_margin[0] : m->intercept;
		for (size_t i = 0; i < m->n_features; i++) {
			if (isnan(x[i]))
				return -EINVAL; /* no rule for a missing value */
			s += m->coef[i] * x[i];
		}
		out[0] = s;
		return 0;
	}
	for (size_t g = 0; g < m->n_outputs; g++)
		out[g] = base_margin ? base_margin[g] : m->base_margin ? m->base_margin[g] : 0.0;
	/* per output, sum in tree order (as the libraries do) then scale */
	if (m->output_scale == 1.0) {
		for (size_t t = 0; t < m->n_trees; t++)
			out[m->trees[t].group] += tree_value(m, &m->trees[t], x);
	} else {
		for (size_t g = 0; g < m->n_outputs; g++) {
			double s = 0;
			for (size_t t = 0; t < m->n_trees; t++)
				if ((size_t)m->trees[t].group == g)
					s += tree_value(m, &m->trees[t], x);
			out[g] += s * m->output_scale;
		}
	}
	return 0;
}

int ex__predict_margin_rows(const struct ex_model *m, const double *X, size_t n_rows, double *out)
{
	enum { BLOCK = 64 };
	size_t M = m->n_features, K = m->n_outputs;
	double s[BLOCK * 8];

	if (!ex_model_is_trees(m) || K > 8) {
		for (size_t i = 0; i < n_rows; i++) {
			int rc = ex_predict_margin(m, X + i * M, NULL, out + i * K);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	/* tree-major over blocks of rows: a tree's nodes stay in cache while every row of the
	 * block walks it. Each row still sums its trees in tree order, so the margins are
	 * bit-identical to ex_predict_margin's. */
	for (size_t b0 = 0; b0 < n_rows; b0 += BLOCK) {
		size_t nb = n_rows - b0 < BLOCK ? n_rows - b0 : BLOCK;
		double *o = out + b0 * K;
		const double *x = X + b0 * M;
		for (size_t i = 0; i < nb; i++)
			for (size_t g = 0; g < K; g++)
				o[i * K + g] = m->base_margin ? m->base_margin[g] : 0.0;
		if (m->output_scale == 1.0) {
			for (size_t t = 0; t < m->n_trees; t++) {
				const struct ex_tree *tr = &m->trees[t];
				for (size_t i = 0; i < nb; i++)
					o[i * K + (size_t)tr->group] +=
					    tree_value(m, tr, x + i * M);
			}
			continue;
		}
		memset(s, 0, nb * K * sizeof(double));
		for (size_t t = 0; t < m->n_trees; t++) {
			const struct ex_tree *tr = &m->trees[t];
			for (size_t i = 0; i < nb; i++)
				s[i * K + (size_t)tr->group] += tree_value(m, tr, x + i * M);
		}
		for (size_t i = 0; i < nb * K; i++)
			o[i] += s[i] * m->output_scale;
	}
	return 0;
}

void ex_link_apply(const struct ex_model *m, double *v)
{
	switch (m->link) {
	case EX_LINK_LOGIT:
		for (size_t g = 0; g < m->n_outputs; g++)
			v[g] = 1 / (1 + exp(-m->link_scale * v[g]));
		break;
	case EX_LINK_LOG:
		for (size_t g = 0; g < m->n_outputs; g++)
			v[g] = exp(v[g]);
		break;
	case EX_LINK_SOFTMAX: {
		double mx = -INFINITY, sum = 0;
		for (size_t g = 0; g < m->n_outputs; g++)
			mx = v[g] > mx ? v[g] : mx;
		for (size_t g = 0; g < m->n_outputs; g++)
			sum += (v[g] = exp(v[g] - mx));
		for (size_t g = 0; g < m->n_outputs; g++)
			v[g] /= sum;
		break;
	}
	default:
		break;
	}
}
