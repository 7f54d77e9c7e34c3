/* SPDX-License-Identifier: Apache-2.0 */
/* XGBoost JSON models as written by Booster.save_model() in 1.7, 2.x and 3.x
 * (METHODS.md §2.2). Values are floats in XGBoost; they are kept as the exact float
 * values (as doubles), so margins differ from XGBoost's only by its float32 summation. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

struct xctx {
	struct ex_model *m;
	const char *name;
	char *err;
	size_t err_size;
	const char *tpath; /* where the trees are, for messages */
};

#define FAIL(x, rc, ...) ex__fail((x)->err, (x)->err_size, rc, __VA_ARGS__)

static json_t *get(struct xctx *x, json_t *obj, const char *key, json_type type, const char *where)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	if (!v || json_typeof(v) != type) {
		FAIL(x, -EBADMSG, "%s: %s.%s: %s", x->name, where, key,
		     v ? "has the wrong type" : "missing");
		return NULL;
	}
	return v;
}

/* A number stored as a JSON string ("5E-1"), or a JSON number. */
static int number_field(struct xctx *x, json_t *obj, const char *key, const char *where,
                        double *ret)
{
	json_t *v = json_object_get(obj, key);
	char *end;

	if (json_is_number(v)) {
		*ret = json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		*ret = strtod(json_string_value(v), &end);
		if (end != json_string_value(v) && *end == '\0' && isfinite(*ret))
			return 0;
	}
	return FAIL(x, -EBADMSG, "%s: %s.%s: missing or not a number", x->name, where, key);
}

/* base_score: "5E-1" (1.x, 2.x) or "[2.0719469E0]" / "[a,b,c]" (3.1+, one per target). */
static int parse_base_score(struct xctx *x, json_t *lmp, double *vals, size_t n)
{
	json_t *v = json_object_get(lmp, "base_score");
	const char *s = json_string_value(v);
	char *end;

	if (json_is_number(v)) {
		for (size_t i = 0; i < n; i++)
			vals[i] = json_number_value(v);
		return 0;
	}
	if (!s)
		return FAIL(x, -EBADMSG,
		            "%s: learner.learner_model_param.base_score: missing or not a string",
		            x->name);
	while (*s == ' ')
		s++;
	if (*s != '[') {
		double b = strtod(s, &end);
		if (end == s || *end || !isfinite(b))
			goto bad;
		for (size_t i = 0; i < n; i++)
			vals[i] = b;
		return 0;
	}
	s++;
	size_t k = 0;
	for (;;) {
		while (*s == ' ')
			s++;
		double b = strtod(s, &end);
		if (end == s || !isfinite(b))
			goto bad;
		if (k < n)
			vals[k] = b;
		k++;
		s = end;
		while (*s == ' ')
			s++;
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == ']')
			break;
		goto bad;
	}
	if (k == 1) {
		for (size_t i = 1; i < n; i++)
			vals[i] = vals[0];
		return 0;
	}
	if (k == n)
		return 0;
	return FAIL(x, -EBADMSG,
	            "%s: learner.learner_model_param.base_score: %zu values for %zu outputs",
	            x->name, k, n);
bad:
	return FAIL(x, -EBADMSG,
	            "%s: learner.learner_model_param.base_score: \"%s\" is not a "
	            "number or [numbers]",
	            x->name, json_string_value(v));
}

struct objective {
	const char *name;
	enum ex_link link;      /* response link */
	enum ex_link score_map; /* how base_score maps to a margin */
	bool multi;
};

static const struct objective objectives[] = {
    {"binary:logistic", EX_LINK_LOGIT, EX_LINK_LOGIT, false},
    /* LogisticRaw::ProbToMargin is the identity in 1.7 (observed), 2.x and 3.x (source): its
     * base_score is a margin already (METHODS.md §2.2) */
    {"binary:logitraw", EX_LINK_IDENTITY, EX_LINK_IDENTITY, false},
    {"binary:hinge", EX_LINK_IDENTITY, EX_LINK_IDENTITY, false},
    {"reg:logistic", EX_LINK_LOGIT, EX_LINK_LOGIT, false},
    {"reg:squarederror", EX_LINK_IDENTITY, EX_LINK_IDENTITY, false},
    {"reg:linear", EX_LINK_IDENTITY, EX_LINK_IDENTITY, false},
    {"reg:squaredlogerror", EX_LINK_IDENTITY, EX_LINK_IDENTITY, false},
    {"reg:pseudohubererror", EX_LINK_IDENTITY, EX_LINK_IDENTITY, false},
    {"reg:absoluteerror", EX_LINK_IDENTITY, EX_LINK_IDENTITY, false},
    {"count:poisson", EX_LINK_LOG, EX_LINK_LOG, false},
    {"reg:gamma", EX_LINK_LOG, EX_LINK_LOG, false},
    {"reg:tweedie", EX_LINK_LOG, EX_LINK_LOG, false},
    {"multi:softprob", EX_LINK_SOFTMAX, EX_LINK_IDENTITY, true},
    {"multi:softmax", EX_LINK_SOFTMAX, EX_LINK_IDENTITY, true},
};

/* base_score (response space) to a margin, in float as XGBoost's ProbToMargin computes it.
 * The logistic one clamps to [kRtEps, 1 - kRtEps] as 3.x does (1.7 and 2.x refuse 0 and 1 at
 * training time, so saved models never hold them). */
static int to_margin(struct xctx *x, enum ex_link map, double b, double *ret)
{
	const float rt_eps = 1e-6f; /* xgboost/base.h kRtEps */
	float f = (float)b;

	switch (map) {
	case EX_LINK_LOGIT:
		f = f < rt_eps ? rt_eps : f > 1.0f - rt_eps ? 1.0f - rt_eps : f;
		*ret = -logf(1.0f / f - 1.0f);
		return 0;
	case EX_LINK_LOG:
		if (!(f > 0.0f))
			return FAIL(
			    x, -EBADMSG,
			    "%s: learner.learner_model_param.base_score: %g is not positive "
			    "(the objective's link is log)",
			    x->name, b);
		*ret = logf(f);
		return 0;
	default:
		*ret = b;
		return 0;
	}
}

/* An integer array field of length n. */
static json_t *int_array(struct xctx *x, json_t *tree, const char *key, size_t n, size_t ti)
{
	char where[128];
	snprintf(where, sizeof(where), "%s[%zu]", x->tpath, ti);
	json_t *a = get(x, tree, key, JSON_ARRAY, where);
	if (!a)
		return NULL;
	if (json_array_size(a) != n) {
		FAIL(x, -EBADMSG, "%s: %s[%zu].%s: %zu values for %zu nodes", x->name, x->tpath, ti,
		     key, json_array_size(a), n);
		return NULL;
	}
	return a;
}

static bool as_int(json_t *v, long long *ret)
{
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return true;
	}
	if (json_is_true(v) || json_is_false(v)) {
		*ret = json_is_true(v);
		return true;
	}
	return false;
}

static int load_tree(struct xctx *x, json_t *tree, size_t ti, struct ex_tree *out, double weight)
{
	struct ex_model *m = x->m;
	json_t *tp = json_object_get(tree, "tree_param");
	json_t *left, *right, *idx, *cond, *defl, *stype, *hess;
	size_t n;

	if (json_is_object(tp)) {
		double slv = 0;
		json_t *v = json_object_get(tp, "size_leaf_vector");
		char where[128];
		snprintf(where, sizeof(where), "%s[%zu].tree_param", x->tpath, ti);
		if (v && number_field(x, tp, "size_leaf_vector", where, &slv) < 0)
			return -EBADMSG;
		if (slv > 1)
			return FAIL(x, -ENOTSUP,
			            "%s: %s[%zu].tree_param.size_leaf_vector = %g: vector leaves "
			            "(multi-output trees) are not supported",
			            x->name, x->tpath, ti, slv);
	}
	left = json_object_get(tree, "left_children");
	if (!json_is_array(left))
		return FAIL(x, -EBADMSG, "%s: %s[%zu].left_children: missing", x->name, x->tpath,
		            ti);
	n = json_array_size(left);
	if (n == 0 || n > (1u << 28))
		return FAIL(x, -EBADMSG, "%s: %s[%zu]: %zu nodes", x->name, x->tpath, ti, n);
	if (!(right = int_array(x, tree, "right_children", n, ti)) ||
	    !(idx = int_array(x, tree, "split_indices", n, ti)) ||
	    !(cond = int_array(x, tree, "split_conditions", n, ti)) ||
	    !(defl = int_array(x, tree, "default_left", n, ti)) ||
	    !(hess = int_array(x, tree, "sum_hessian", n, ti)))
		return -EBADMSG;
	stype = json_object_get(tree, "split_type");
	if (stype && (!json_is_array(stype) || json_array_size(stype) != n))
		return FAIL(x, -EBADMSG, "%s: %s[%zu].split_type: not %zu values", x->name,
		            x->tpath, ti, n);
	out->nodes = calloc(n, sizeof(*out->nodes));
	if (!out->nodes)
		return -ENOMEM;
	out->n_nodes = (int32_t)n;
	for (size_t k = 0; k < n; k++) {
		struct ex_node *node = &out->nodes[k];
		long long l, r, f, d, st = 0;
		json_t *c = json_array_get(cond, k), *h = json_array_get(hess, k);

		const char *bad = !as_int(json_array_get(left, k), &l)    ? "left_children"
		                  : !as_int(json_array_get(right, k), &r) ? "right_children"
		                  : !as_int(json_array_get(idx, k), &f)   ? "split_indices"
		                  : !as_int(json_array_get(defl, k), &d)  ? "default_left"
		                  : stype && !as_int(json_array_get(stype, k), &st) ? "split_type"
		                  : !json_is_number(h)                              ? "sum_hessian"
		                                                                    : NULL;
		/* a categorical split's condition is NaN in 1.7 (null after clean_nonfinite) */
		if (!bad && !json_is_number(c) && !(json_is_null(c) && st == 1 && l != -1))
			bad = "split_conditions";
		if (bad)
			return FAIL(x, -EBADMSG, "%s: %s[%zu].%s[%zu]: not a number", x->name,
			            x->tpath, ti, bad, k);
		node->cover = (double)(float)json_number_value(h);
		if (l == -1) {
			if (r != -1)
				return FAIL(
				    x, -EBADMSG,
				    "%s: %s[%zu].right_children[%zu]: a leaf with one child",
				    x->name, x->tpath, ti, k);
			node->cmp = EX_CMP_LEAF;
			node->left = node->right = node->feature = -1;
			node->value = (double)(float)json_number_value(c) * weight;
			continue;
		}
		if (l < 0 || l >= (long long)n || r < 0 || r >= (long long)n)
			return FAIL(
			    x, -EBADMSG,
			    "%s: %s[%zu].%s[%zu]: child %lld out of range (tree has %zu nodes)",
			    x->name, x->tpath, ti,
			    l < 0 || l >= (long long)n ? "left_children" : "right_children", k,
			    l < 0 || l >= (long long)n ? l : r, n);
		if (f < 0 || (unsigned long long)f >= m->n_features)
			return FAIL(x, -EBADMSG,
			            "%s: %s[%zu].split_indices[%zu]: feature %lld out of range "
			            "(%zu features)",
			            x->name, x->tpath, ti, k, f, m->n_features);
		node->left = (int32_t)l;
		node->right = (int32_t)r;
		node->feature = (int32_t)f;
		node->default_left = d != 0;
		node->threshold_f = json_is_number(c) ? (float)json_number_value(c) : 0.0f;
		node->threshold = node->threshold_f;
		if (st == 1) {
			node->cmp = EX_CMP_XGB_CAT; /* the set is filled below */
		} else if (st == 0) {
			node->cmp = EX_CMP_XGB_LT;
		} else {
			return FAIL(x, -ENOTSUP, "%s: %s[%zu].split_type[%zu] = %lld: unknown",
			            x->name, x->tpath, ti, k, st);
		}
	}

	/* categorical splits: CSR of category sets per categorical node (the set goes right) */
	json_t *cn = json_object_get(tree, "categories_nodes"),
	       *cs = json_object_get(tree, "categories_segments"),
	       *cz = json_object_get(tree, "categories_sizes"),
	       *cv = json_object_get(tree, "categories");
	size_t ncat = json_is_array(cn) ? json_array_size(cn) : 0;
	if (ncat && (!json_is_array(cs) || !json_is_array(cz) || !json_is_array(cv) ||
	             json_array_size(cs) != ncat || json_array_size(cz) != ncat))
		return FAIL(x, -EBADMSG, "%s: %s[%zu].categories_*: inconsistent arrays", x->name,
		            x->tpath, ti);
	for (size_t c = 0; c < ncat; c++) {
		long long node, seg, size;
		uint32_t maxcat = 0;
		if (!as_int(json_array_get(cn, c), &node) || !as_int(json_array_get(cs, c), &seg) ||
		    !as_int(json_array_get(cz, c), &size) || node < 0 || node >= (long long)n ||
		    seg < 0 || size < 0 || (size_t)seg > json_array_size(cv) ||
		    (size_t)size > json_array_size(cv) - (size_t)seg ||
		    out->nodes[node].cmp != EX_CMP_XGB_CAT)
			return FAIL(x, -EBADMSG, "%s: %s[%zu].categories_nodes[%zu]: invalid entry",
			            x->name, x->tpath, ti, c);
		for (long long k = 0; k < size; k++) {
			long long cat;
			if (!as_int(json_array_get(cv, (size_t)(seg + k)), &cat) || cat < 0 ||
			    cat >= (1 << 24))
				return FAIL(x, -EBADMSG,
				            "%s: %s[%zu].categories[%lld]: not a category 0..2^24",
				            x->name, x->tpath, ti, seg + k);
			if ((uint32_t)cat > maxcat)
				maxcat = (uint32_t)cat;
		}
		size_t words = maxcat / 32 + 1;
		uint32_t *nw = realloc(m->cat_words, (m->n_cat_words + words) * sizeof(uint32_t));
		if (!nw)
			return -ENOMEM;
		m->cat_words = nw;
		memset(m->cat_words + m->n_cat_words, 0, words * sizeof(uint32_t));
		for (long long k = 0; k < size; k++) {
			long long cat = 0;
			as_int(json_array_get(cv, (size_t)(seg + k)), &cat);
			m->cat_words[m->n_cat_words + (size_t)cat / 32] |= 1u << (cat % 32);
		}
		out->nodes[node].cat_off = (uint32_t)m->n_cat_words;
		out->nodes[node].cat_len = (uint32_t)words;
		m->n_cat_words += words;
	}
	for (size_t k = 0; k < n; k++)
		if (out->nodes[k].cmp == EX_CMP_XGB_CAT && out->nodes[k].cat_len == 0) {
			/* a categorical split with an empty set: nothing goes right */
			out->nodes[k].cat_off = 0;
		}
	return 0;
}

static int load_names(struct xctx *x, json_t *learner)
{
	struct ex_model *m = x->m;
	json_t *names = json_object_get(learner, "feature_names");
	json_t *types = json_object_get(learner, "feature_types");

	if (json_is_array(names) && json_array_size(names) == m->n_features && m->n_features) {
		m->feature_names = calloc(m->n_features, sizeof(char *));
		if (!m->feature_names)
			return -ENOMEM;
		for (size_t i = 0; i < m->n_features; i++) {
			const char *s = json_string_value(json_array_get(names, i));
			if (s && !(m->feature_names[i] = strdup(s)))
				return -ENOMEM;
		}
	}
	if (json_is_array(types) && json_array_size(types) == m->n_features && m->n_features) {
		m->categorical = calloc(m->n_features, sizeof(bool));
		if (!m->categorical)
			return -ENOMEM;
		for (size_t i = 0; i < m->n_features; i++) {
			const char *s = json_string_value(json_array_get(types, i));
			m->categorical[i] = s && !strcmp(s, "c");
		}
	}
	return 0;
}

/* XGBoost writes non-finite floats as bare NaN, Infinity and -Infinity (in split_conditions
 * of categorical nodes, for one), which JSON and jansson do not allow. Outside strings they
 * become null here; where a number is required the loader then reports the field. Returns a
 * malloc'd NUL-terminated copy, or NULL. */
static char *clean_nonfinite(const char *data, size_t len, size_t *ret_len)
{
	static const char *const words[] = {"-Infinity", "Infinity", "NaN"};
	char *s = malloc(len + len / 2 + 8);
	size_t o = 0;
	bool in_str = false;

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (in_str) {
			s[o++] = c;
			if (c == '\\' && i + 1 < len)
				s[o++] = data[++i];
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
			size_t wl = strlen(words[w]);
			if (len - i >= wl && !memcmp(data + i, words[w], wl)) {
				memcpy(s + o, "null", 4);
				o += 4;
				i += wl - 1;
				goto next;
			}
		}
		s[o++] = c;
	next:;
	}
	s[o] = '\0';
	*ret_len = o;
	return s;
}

int ex_load_xgboost_json(struct ex_model *m, const char *data, size_t len, const char *name,
                         char *err, size_t err_size)
{
	struct xctx x = {.m = m,
	                 .name = name,
	                 .err = err,
	                 .err_size = err_size,
	                 .tpath = "learner.gradient_booster.model.trees"};
	json_error_t je;
	json_t *root, *learner, *lmp, *obj, *gb, *model, *trees, *info, *drop = NULL;
	const struct objective *o = NULL;
	const char *oname, *gbname;
	double nf = 0, nc = 0, nt = 1;
	int rc = -EBADMSG;

	size_t clen;
	char *clean = clean_nonfinite(data, len, &clen);
	if (!clean)
		return -ENOMEM;
	root = json_loadb(clean, clen, 0, &je);
	free(clean);
	if (!root)
		return FAIL(&x, -EBADMSG, "%s: line %d, column %d: %s", name, je.line, je.column,
		            je.text);
	if (!(learner = get(&x, root, "learner", JSON_OBJECT, "model")) ||
	    !(lmp = get(&x, learner, "learner_model_param", JSON_OBJECT, "learner")) ||
	    !(obj = get(&x, learner, "objective", JSON_OBJECT, "learner")) ||
	    !(gb = get(&x, learner, "gradient_booster", JSON_OBJECT, "learner")))
		goto out;
	oname = json_string_value(json_object_get(obj, "name"));
	for (size_t i = 0; oname && i < sizeof(objectives) / sizeof(objectives[0]); i++)
		if (!strcmp(oname, objectives[i].name))
			o = &objectives[i];
	if (!o) {
		rc = FAIL(&x, -ENOTSUP, "%s: learner.objective.name: \"%s\" is not supported", name,
		          oname ? oname : "(missing)");
		goto out;
	}
	if (number_field(&x, lmp, "num_feature", "learner.learner_model_param", &nf) < 0 ||
	    nf < 1 || nf > 1e6) {
		rc = FAIL(&x, -EBADMSG, "%s: learner.learner_model_param.num_feature: invalid",
		          name);
		goto out;
	}
	if (json_object_get(lmp, "num_class"))
		number_field(&x, lmp, "num_class", "learner.learner_model_param", &nc);
	if (json_object_get(lmp, "num_target"))
		number_field(&x, lmp, "num_target", "learner.learner_model_param", &nt);
	if (nt > 1) {
		rc =
		    FAIL(&x, -ENOTSUP,
		         "%s: learner.learner_model_param.num_target = %g: multi-target models are "
		         "not supported",
		         name, nt);
		goto out;
	}
	m->n_features = (size_t)nf;
	m->n_outputs = o->multi ? (size_t)nc : 1;
	if (o->multi && (nc < 2 || nc > 10000)) {
		rc = FAIL(&x, -EBADMSG, "%s: learner.learner_model_param.num_class: %g for %s",
		          name, nc, oname);
		goto out;
	}
	m->link = o->link;
	m->objective = strdup(oname);
	m->base_margin = calloc(m->n_outputs, sizeof(double));
	if (!m->objective || !m->base_margin) {
		rc = -ENOMEM;
		goto out;
	}
	rc = parse_base_score(&x, lmp, m->base_margin, m->n_outputs);
	if (rc < 0)
		goto out;
	for (size_t g = 0; g < m->n_outputs; g++) {
		rc = to_margin(&x, o->score_map, m->base_margin[g], &m->base_margin[g]);
		if (rc < 0)
			goto out;
	}
	rc = load_names(&x, learner);
	if (rc < 0)
		goto out;

	/* gbtree, or dart (gbtree inside plus per-tree weights) */
	gbname = json_string_value(json_object_get(gb, "name"));
	if (gbname && !strcmp(gbname, "dart")) {
		json_t *inner = get(&x, gb, "gbtree", JSON_OBJECT, "learner.gradient_booster");
		drop = get(&x, gb, "weight_drop", JSON_ARRAY, "learner.gradient_booster");
		if (!inner || !drop) {
			rc = -EBADMSG;
			goto out;
		}
		gb = inner;
		x.tpath = "learner.gradient_booster.gbtree.model.trees";
	} else if (gbname && strcmp(gbname, "gbtree")) {
		rc = FAIL(&x, -ENOTSUP,
		          "%s: learner.gradient_booster.name: \"%s\" is not supported "
		          "(gbtree and dart are)",
		          name, gbname);
		goto out;
	}
	rc = -EBADMSG;
	const char *mpath =
	    drop ? "learner.gradient_booster.gbtree.model" : "learner.gradient_booster.model";
	if (!(model = get(&x, gb, "model", JSON_OBJECT,
	                  drop ? "learner.gradient_booster.gbtree" : "learner.gradient_booster")) ||
	    !(trees = get(&x, model, "trees", JSON_ARRAY, mpath)) ||
	    !(info = get(&x, model, "tree_info", JSON_ARRAY, mpath)))
		goto out;
	m->n_trees = json_array_size(trees);
	if (json_array_size(info) != m->n_trees || (drop && json_array_size(drop) != m->n_trees)) {
		rc = FAIL(&x, -EBADMSG, "%s: %s.%s: %zu entries for %zu trees", name,
		          drop && json_array_size(drop) != m->n_trees ? "learner.gradient_booster"
		                                                      : mpath,
		          drop && json_array_size(drop) != m->n_trees ? "weight_drop" : "tree_info",
		          drop && json_array_size(drop) != m->n_trees ? json_array_size(drop)
		                                                      : json_array_size(info),
		          m->n_trees);
		goto out;
	}
	m->trees = calloc(m->n_trees ? m->n_trees : 1, sizeof(*m->trees));
	if (!m->trees) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t t = 0; t < m->n_trees; t++) {
		long long group;
		double weight = drop ? json_number_value(json_array_get(drop, t)) : 1.0;
		if (drop && (!json_is_number(json_array_get(drop, t)) || !isfinite(weight))) {
			rc = FAIL(
			    &x, -EBADMSG,
			    "%s: learner.gradient_booster.weight_drop[%zu]: not a finite number",
			    name, t);
			goto out;
		}
		if (!as_int(json_array_get(info, t), &group) || group < 0 ||
		    (size_t)group >= m->n_outputs) {
			rc = FAIL(&x, -EBADMSG,
			          "%s: %s.tree_info[%zu]: class %lld out of range (%zu outputs)",
			          name, mpath, t,
			          as_int(json_array_get(info, t), &group) ? group : -1LL,
			          m->n_outputs);
			goto out;
		}
		m->trees[t].group = (int32_t)group;
		rc = load_tree(&x, json_array_get(trees, t), t, &m->trees[t], weight);
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}
