/* SPDX-License-Identifier: Apache-2.0 */
/* XGBoost JSON models as written by Booster.save_model() in 1.7, 2.x and 3.x
 * (METHODS.md §2.2). Values are floats in XGBoost; they are kept as the exact float
 * values (as doubles), so margins differ from XGBoost's only by its float32 summation. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "xjson.h"

typedef struct xj_tok jv; /* a value in the document */

struct xctx {
	struct xj_doc doc;
	struct ex_model *m;
	const char *name;
	char *err;
	size_t err_size;
	const char *tpath; /* where the trees are, for messages */
};

#define FAIL(x, rc, ...) ex__fail((x)->err, (x)->err_size, rc, __VA_ARGS__)

static const jv *get(struct xctx *x, const jv *obj, const char *key, enum xj_type type,
                     const char *where)
{
	const jv *v = xj_get(&x->doc, obj, key);

	if (!v || v->type != type) {
		FAIL(x, -EBADMSG, "%s: %s.%s: %s", x->name, where, key,
		     v ? "has the wrong type" : "missing");
		return NULL;
	}
	return v;
}

/* A number stored as a JSON string ("5E-1"), or a JSON number. */
static int number_field(struct xctx *x, const jv *obj, const char *key, const char *where,
                        double *ret)
{
	const jv *v = xj_get(&x->doc, obj, key);
	char *end;

	if (xj_is_number(v)) {
		*ret = xj_number(v);
		return 0;
	}
	if (xj_string(v)) {
		*ret = strtod(xj_string(v), &end);
		if (end != xj_string(v) && *end == '\0' && isfinite(*ret))
			return 0;
	}
	return FAIL(x, -EBADMSG, "%s: %s.%s: missing or not a number", x->name, where, key);
}

/* base_score: "5E-1" (1.x, 2.x) or "[2.0719469E0]" / "[a,b,c]" (3.1+, one per target). */
static int parse_base_score(struct xctx *x, const jv *lmp, double *vals, size_t n)
{
	const jv *v = xj_get(&x->doc, lmp, "base_score");
	const char *s = xj_string(v);
	char *end;

	if (xj_is_number(v)) {
		for (size_t i = 0; i < n; i++)
			vals[i] = xj_number(v);
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
	            x->name, xj_string(v));
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

/* An array field of length n (its first element, or the array itself when empty, in *first).
 */
static const jv *node_array(struct xctx *x, const jv *tree, const char *key, size_t n, size_t ti)
{
	char where[128];
	snprintf(where, sizeof(where), "%s[%zu]", x->tpath, ti);
	const jv *a = get(x, tree, key, XJ_ARRAY, where);
	if (!a)
		return NULL;
	if (a->size != n) {
		FAIL(x, -EBADMSG, "%s: %s[%zu].%s: %u values for %zu nodes", x->name, x->tpath, ti,
		     key, a->size, n);
		return NULL;
	}
	return a;
}

static bool as_int(const jv *v, long long *ret)
{
	if (v->type == XJ_INT) {
		*ret = v->v.i;
		return true;
	}
	if (v->type == XJ_TRUE || v->type == XJ_FALSE) {
		*ret = v->type == XJ_TRUE;
		return true;
	}
	return false;
}

/* The elements of an array, for random access (NULL when it has none or on ENOMEM). */
static const jv **elements(struct xctx *x, const jv *a)
{
	const jv **e = a->size ? malloc(a->size * sizeof(*e)) : NULL;
	const jv *t = a + 1;

	for (uint32_t i = 0; e && i < a->size; i++, t = xj_skip(&x->doc, t))
		e[i] = t;
	return e;
}

/* categorical splits: CSR of category sets per categorical node (the set goes right) */
static int load_categories(struct xctx *x, const jv *tree, size_t ti, struct ex_tree *out)
{
	struct ex_model *m = x->m;
	size_t n = (size_t)out->n_nodes;
	const jv *cn = xj_get(&x->doc, tree, "categories_nodes"),
	         *cs = xj_get(&x->doc, tree, "categories_segments"),
	         *cz = xj_get(&x->doc, tree, "categories_sizes"),
	         *cv = xj_get(&x->doc, tree, "categories");
	size_t ncat = xj_size(cn, XJ_ARRAY);
	const jv **cats = NULL;
	int rc = 0;

	if (!ncat)
		return 0;
	if (xj_size(cs, XJ_ARRAY) != ncat || xj_size(cz, XJ_ARRAY) != ncat || !cv ||
	    cv->type != XJ_ARRAY)
		return FAIL(x, -EBADMSG, "%s: %s[%zu].categories_*: inconsistent arrays", x->name,
		            x->tpath, ti);
	if (cv->size && !(cats = elements(x, cv)))
		return -ENOMEM;
	const jv *pn = cn + 1, *ps = cs + 1, *pz = cz + 1;
	for (size_t c = 0; c < ncat;
	     c++, pn = xj_skip(&x->doc, pn), ps = xj_skip(&x->doc, ps), pz = xj_skip(&x->doc, pz)) {
		long long node, seg, size;
		uint32_t maxcat = 0;
		if (!as_int(pn, &node) || !as_int(ps, &seg) || !as_int(pz, &size) || node < 0 ||
		    node >= (long long)n || seg < 0 || size < 0 || (size_t)seg > cv->size ||
		    (size_t)size > cv->size - (size_t)seg ||
		    out->nodes[node].cmp != EX_CMP_XGB_CAT) {
			rc = FAIL(x, -EBADMSG, "%s: %s[%zu].categories_nodes[%zu]: invalid entry",
			          x->name, x->tpath, ti, c);
			goto out;
		}
		for (long long k = 0; k < size; k++) {
			long long cat;
			if (!as_int(cats[seg + k], &cat) || cat < 0 || cat >= (1 << 24)) {
				rc = FAIL(x, -EBADMSG,
				          "%s: %s[%zu].categories[%lld]: not a category 0..2^24",
				          x->name, x->tpath, ti, seg + k);
				goto out;
			}
			if ((uint32_t)cat > maxcat)
				maxcat = (uint32_t)cat;
		}
		size_t words = maxcat / 32 + 1;
		uint32_t *nw = realloc(m->cat_words, (m->n_cat_words + words) * sizeof(uint32_t));
		if (!nw) {
			rc = -ENOMEM;
			goto out;
		}
		m->cat_words = nw;
		memset(m->cat_words + m->n_cat_words, 0, words * sizeof(uint32_t));
		for (long long k = 0; k < size; k++) {
			long long cat = 0;
			as_int(cats[seg + k], &cat);
			m->cat_words[m->n_cat_words + (size_t)cat / 32] |= 1u << (cat % 32);
		}
		out->nodes[node].cat_off = (uint32_t)m->n_cat_words;
		out->nodes[node].cat_len = (uint32_t)words;
		m->n_cat_words += words;
	}
out:
	free(cats);
	return rc;
}

static int load_tree(struct xctx *x, const jv *tree, size_t ti, struct ex_tree *out, double weight)
{
	struct ex_model *m = x->m;
	const jv *tp = xj_get(&x->doc, tree, "tree_param");
	const jv *left, *right, *idx, *cond, *defl, *stype, *hess;
	size_t n;

	if (tp && tp->type == XJ_OBJECT) {
		double slv = 0;
		const jv *v = xj_get(&x->doc, tp, "size_leaf_vector");
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
	left = xj_get(&x->doc, tree, "left_children");
	if (!left || left->type != XJ_ARRAY)
		return FAIL(x, -EBADMSG, "%s: %s[%zu].left_children: missing", x->name, x->tpath,
		            ti);
	n = left->size;
	if (n == 0 || n > (1u << 28))
		return FAIL(x, -EBADMSG, "%s: %s[%zu]: %zu nodes", x->name, x->tpath, ti, n);
	if (!(right = node_array(x, tree, "right_children", n, ti)) ||
	    !(idx = node_array(x, tree, "split_indices", n, ti)) ||
	    !(cond = node_array(x, tree, "split_conditions", n, ti)) ||
	    !(defl = node_array(x, tree, "default_left", n, ti)) ||
	    !(hess = node_array(x, tree, "sum_hessian", n, ti)))
		return -EBADMSG;
	stype = xj_get(&x->doc, tree, "split_type");
	if (stype && (stype->type != XJ_ARRAY || stype->size != n))
		return FAIL(x, -EBADMSG, "%s: %s[%zu].split_type: not %zu values", x->name,
		            x->tpath, ti, n);
	out->nodes = calloc(n, sizeof(*out->nodes));
	if (!out->nodes)
		return -ENOMEM;
	out->n_nodes = (int32_t)n;
	/* the arrays side by side, one element of each per node */
	const jv *pl = left + 1, *pr = right + 1, *pi = idx + 1, *pc = cond + 1, *pd = defl + 1,
	         *ph = hess + 1, *pt = stype ? stype + 1 : NULL;
	for (size_t k = 0; k < n; k++) {
		struct ex_node *node = &out->nodes[k];
		long long l, r, f, d, st = 0;
		const jv *c = pc, *h = ph;

		const char *bad = !as_int(pl, &l)          ? "left_children"
		                  : !as_int(pr, &r)        ? "right_children"
		                  : !as_int(pi, &f)        ? "split_indices"
		                  : !as_int(pd, &d)        ? "default_left"
		                  : pt && !as_int(pt, &st) ? "split_type"
		                  : !xj_is_number(h)       ? "sum_hessian"
		                                           : NULL;
		/* a categorical split's condition is NaN in 1.7 (read as null) */
		if (!bad && !xj_is_number(c) && !(c->type == XJ_NULL && st == 1 && l != -1))
			bad = "split_conditions";
		if (bad)
			return FAIL(x, -EBADMSG, "%s: %s[%zu].%s[%zu]: not a number", x->name,
			            x->tpath, ti, bad, k);
		pl = xj_skip(&x->doc, pl);
		pr = xj_skip(&x->doc, pr);
		pi = xj_skip(&x->doc, pi);
		pc = xj_skip(&x->doc, pc);
		pd = xj_skip(&x->doc, pd);
		ph = xj_skip(&x->doc, ph);
		if (pt)
			pt = xj_skip(&x->doc, pt);
		node->cover = (double)(float)xj_number(h);
		if (l == -1) {
			if (r != -1)
				return FAIL(
				    x, -EBADMSG,
				    "%s: %s[%zu].right_children[%zu]: a leaf with one child",
				    x->name, x->tpath, ti, k);
			node->cmp = EX_CMP_LEAF;
			node->left = node->right = node->feature = -1;
			node->value = (double)(float)xj_number(c) * weight;
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
		node->threshold_f = xj_is_number(c) ? (float)xj_number(c) : 0.0f;
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
	int rc = load_categories(x, tree, ti, out);
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < n; k++)
		if (out->nodes[k].cmp == EX_CMP_XGB_CAT && out->nodes[k].cat_len == 0) {
			/* a categorical split with an empty set: nothing goes right */
			out->nodes[k].cat_off = 0;
		}
	return 0;
}

static int load_names(struct xctx *x, const jv *learner)
{
	struct ex_model *m = x->m;
	const jv *names = xj_get(&x->doc, learner, "feature_names");
	const jv *types = xj_get(&x->doc, learner, "feature_types");

	if (xj_size(names, XJ_ARRAY) == m->n_features && m->n_features) {
		const jv *t = names + 1;
		m->feature_names = calloc(m->n_features, sizeof(char *));
		if (!m->feature_names)
			return -ENOMEM;
		for (size_t i = 0; i < m->n_features; i++, t = xj_skip(&x->doc, t)) {
			const char *s = xj_string(t);
			if (s && !(m->feature_names[i] = strdup(s)))
				return -ENOMEM;
		}
	}
	if (xj_size(types, XJ_ARRAY) == m->n_features && m->n_features) {
		const jv *t = types + 1;
		m->categorical = calloc(m->n_features, sizeof(bool));
		if (!m->categorical)
			return -ENOMEM;
		for (size_t i = 0; i < m->n_features; i++, t = xj_skip(&x->doc, t)) {
			const char *s = xj_string(t);
			m->categorical[i] = s && !strcmp(s, "c");
		}
	}
	return 0;
}

int ex_load_xgboost_json(struct ex_model *m, const char *data, size_t len, const char *name,
                         char *err, size_t err_size)
{
	struct xctx x = {.m = m,
	                 .name = name,
	                 .err = err,
	                 .err_size = err_size,
	                 .tpath = "learner.gradient_booster.model.trees"};
	char perr[128];
	const jv *root, *learner, *lmp, *obj, *gb, *model, *trees, *info, *drop = NULL;
	const struct objective *o = NULL;
	const char *oname, *gbname;
	double nf = 0, nc = 0, nt = 1;
	int rc;

	rc = xj_parse(&x.doc, data, len, perr, sizeof(perr));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return FAIL(&x, -EBADMSG, "%s: %s", name, perr);
	rc = -EBADMSG;
	root = x.doc.tok;
	if (!(learner = get(&x, root, "learner", XJ_OBJECT, "model")) ||
	    !(lmp = get(&x, learner, "learner_model_param", XJ_OBJECT, "learner")) ||
	    !(obj = get(&x, learner, "objective", XJ_OBJECT, "learner")) ||
	    !(gb = get(&x, learner, "gradient_booster", XJ_OBJECT, "learner")))
		goto out;
	oname = xj_string(xj_get(&x.doc, obj, "name"));
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
	if (xj_get(&x.doc, lmp, "num_class"))
		number_field(&x, lmp, "num_class", "learner.learner_model_param", &nc);
	if (xj_get(&x.doc, lmp, "num_target"))
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
	gbname = xj_string(xj_get(&x.doc, gb, "name"));
	if (gbname && !strcmp(gbname, "dart")) {
		const jv *inner = get(&x, gb, "gbtree", XJ_OBJECT, "learner.gradient_booster");
		drop = get(&x, gb, "weight_drop", XJ_ARRAY, "learner.gradient_booster");
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
	if (!(model = get(&x, gb, "model", XJ_OBJECT,
	                  drop ? "learner.gradient_booster.gbtree" : "learner.gradient_booster")) ||
	    !(trees = get(&x, model, "trees", XJ_ARRAY, mpath)) ||
	    !(info = get(&x, model, "tree_info", XJ_ARRAY, mpath)))
		goto out;
	m->n_trees = trees->size;
	if (info->size != m->n_trees || (drop && drop->size != m->n_trees)) {
		bool bad_drop = drop && drop->size != m->n_trees;
		rc = FAIL(&x, -EBADMSG, "%s: %s.%s: %u entries for %zu trees", name,
		          bad_drop ? "learner.gradient_booster" : mpath,
		          bad_drop ? "weight_drop" : "tree_info",
		          bad_drop ? drop->size : info->size, m->n_trees);
		goto out;
	}
	m->trees = calloc(m->n_trees ? m->n_trees : 1, sizeof(*m->trees));
	if (!m->trees) {
		rc = -ENOMEM;
		goto out;
	}
	const jv *pt = trees + 1, *pi = info + 1, *pw = drop ? drop + 1 : NULL;
	for (size_t t = 0; t < m->n_trees; t++) {
		long long group;
		double weight = drop ? xj_number(pw) : 1.0;
		if (drop && (!xj_is_number(pw) || !isfinite(weight))) {
			rc = FAIL(
			    &x, -EBADMSG,
			    "%s: learner.gradient_booster.weight_drop[%zu]: not a finite number",
			    name, t);
			goto out;
		}
		if (!as_int(pi, &group) || group < 0 || (size_t)group >= m->n_outputs) {
			rc = FAIL(&x, -EBADMSG,
			          "%s: %s.tree_info[%zu]: class %lld out of range (%zu outputs)",
			          name, mpath, t, as_int(pi, &group) ? group : -1LL, m->n_outputs);
			goto out;
		}
		m->trees[t].group = (int32_t)group;
		rc = load_tree(&x, pt, t, &m->trees[t], weight);
		if (rc < 0)
			goto out;
		pt = xj_skip(&x.doc, pt);
		pi = xj_skip(&x.doc, pi);
		if (pw)
			pw = xj_skip(&x.doc, pw);
	}
	rc = 0;
out:
	xj_free(&x.doc);
	return rc;
}
