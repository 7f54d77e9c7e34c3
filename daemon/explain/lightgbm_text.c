/* SPDX-License-Identifier: Apache-2.0 */
/* LightGBM text models (save_model / model_to_string), METHODS.md §2.3: a header of
 * key=value lines, then Tree=k blocks until "end of trees". Internal nodes are 0..num_leaves-2;
 * a negative child c is leaf ~c. Here leaves are appended after the internal nodes. Cover is
 * the data count (internal_count / leaf_count), as LightGBM's own PredictContrib uses. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

struct lctx {
	struct ex_model *m;
	const char *name;
	char *err;
	size_t err_size;
	size_t line;
};

#define FAIL(c, rc, ...) ex__fail((c)->err, (c)->err_size, rc, __VA_ARGS__)

/* A key=value line of a block; values point into the (modified) text. */
struct kv {
	const char *key;
	char *value;
	size_t line;
};

struct block {
	struct kv *kv;
	size_t n, cap;
};

static char *find(const struct block *b, const char *key, size_t *ret_line)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->kv[i].key, key)) {
			if (ret_line)
				*ret_line = b->kv[i].line;
			return b->kv[i].value;
		}
	return NULL;
}

/* Parses space-separated numbers of value into out (n expected). */
static int numbers(struct lctx *c, const struct block *b, const char *key, size_t tree, size_t n,
                   double *out, bool required)
{
	size_t line = 0;
	char *v = find(b, key, &line), *p, *end;

	if (!v)
		return required ? FAIL(c, -EBADMSG, "%s: Tree=%zu: %s: missing", c->name, tree, key)
		                : 1;
	p = v;
	for (size_t i = 0; i < n; i++) {
		while (*p == ' ')
			p++;
		out[i] = strtod(p, &end);
		if (end == p)
			return FAIL(c, -EBADMSG, "%s: line %zu: %s: %zu values expected, %zu found",
			            c->name, line, key, n, i);
		p = end;
	}
	while (*p == ' ')
		p++;
	if (*p)
		return FAIL(c, -EBADMSG, "%s: line %zu: %s: more than the %zu values expected",
		            c->name, line, key, n);
	return 0;
}

static bool integral(double v, double lo, double hi)
{
	return v == floor(v) && v >= lo && v <= hi;
}

static int load_tree(struct lctx *c, const struct block *b, size_t ti, struct ex_tree *out)
{
	struct ex_model *m = c->m;
	double nl_d, ncat_d, shrink = 1;
	size_t nl, ni;
	double *sf = NULL, *thr = NULL, *dt = NULL, *lc = NULL, *rc_ = NULL, *lv = NULL,
	       *lcnt = NULL, *icnt = NULL, *cb = NULL, *ct = NULL;
	char *v;
	int rc;

	if (numbers(c, b, "num_leaves", ti, 1, &nl_d, true) < 0)
		return -EBADMSG;
	if (!integral(nl_d, 1, 1 << 24))
		return FAIL(c, -EBADMSG, "%s: Tree=%zu: num_leaves: %g", c->name, ti, nl_d);
	nl = (size_t)nl_d;
	ni = nl - 1;
	/* a cheap bound before allocating: leaf_value holds nl numbers of 1 character or more */
	if ((v = find(b, "leaf_value", NULL)) && strlen(v) + 1 < 2 * nl)
		return FAIL(c, -EBADMSG,
		            "%s: Tree=%zu: leaf_value: fewer than num_leaves=%zu values", c->name,
		            ti, nl);
	if ((v = find(b, "is_linear", NULL)) && atoi(v) != 0)
		return FAIL(c, -ENOTSUP,
		            "%s: Tree=%zu: is_linear=1: linear trees are not supported", c->name,
		            ti);
	if (numbers(c, b, "num_cat", ti, 1, &ncat_d, false) < 0)
		return -EBADMSG;
	if (!find(b, "num_cat", NULL))
		ncat_d = 0;
	if (find(b, "shrinkage", NULL) && numbers(c, b, "shrinkage", ti, 1, &shrink, true) < 0)
		return -EBADMSG;

	out->nodes = calloc(ni + nl, sizeof(*out->nodes));
	sf = malloc((ni + 1) * sizeof(double));
	thr = malloc((ni + 1) * sizeof(double));
	dt = malloc((ni + 1) * sizeof(double));
	lc = malloc((ni + 1) * sizeof(double));
	rc_ = malloc((ni + 1) * sizeof(double));
	icnt = malloc((ni + 1) * sizeof(double));
	lv = malloc(nl * sizeof(double));
	lcnt = malloc(nl * sizeof(double));
	if (!out->nodes || !sf || !thr || !dt || !lc || !rc_ || !icnt || !lv || !lcnt) {
		rc = -ENOMEM;
		goto out;
	}
	out->n_nodes = (int32_t)(ni + nl);
	rc = -EBADMSG;
	if (numbers(c, b, "leaf_value", ti, nl, lv, true) < 0)
		goto out;
	if (ni == 0) {
		/* a constant tree */
		out->nodes[0] = (struct ex_node){.left = -1,
		                                 .right = -1,
		                                 .feature = -1,
		                                 .cmp = EX_CMP_LEAF,
		                                 .value = lv[0],
		                                 .cover = 1};
		rc = 0;
		goto out;
	}
	if (numbers(c, b, "split_feature", ti, ni, sf, true) < 0 ||
	    numbers(c, b, "threshold", ti, ni, thr, true) < 0 ||
	    numbers(c, b, "decision_type", ti, ni, dt, true) < 0 ||
	    numbers(c, b, "left_child", ti, ni, lc, true) < 0 ||
	    numbers(c, b, "right_child", ti, ni, rc_, true) < 0 ||
	    numbers(c, b, "internal_count", ti, ni, icnt, true) < 0 ||
	    numbers(c, b, "leaf_count", ti, nl, lcnt, true) < 0)
		goto out;
	size_t ncat = 0;
	if (ncat_d > 0) {
		size_t bl = 0;
		char *bs;
		if (!integral(ncat_d, 0, (double)ni)) {
			FAIL(c, -EBADMSG, "%s: Tree=%zu: num_cat=%g for %zu splits", c->name, ti,
			     ncat_d, ni);
			goto out;
		}
		ncat = (size_t)ncat_d;
		cb = malloc((ncat + 1) * sizeof(double));
		if (!cb) {
			rc = -ENOMEM;
			goto out;
		}
		if (numbers(c, b, "cat_boundaries", ti, ncat + 1, cb, true) < 0)
			goto out;
		bs = find(b, "cat_threshold", &bl);
		if (!integral(cb[ncat], 0, 1 << 24)) {
			FAIL(c, -EBADMSG, "%s: Tree=%zu: cat_boundaries: invalid", c->name, ti);
			goto out;
		}
		ct = malloc(((size_t)cb[ncat] + 1) * sizeof(double));
		if (!ct || !bs) {
			rc = ct ? FAIL(c, -EBADMSG, "%s: Tree=%zu: cat_threshold: missing", c->name,
			               ti)
			        : -ENOMEM;
			goto out;
		}
		if (numbers(c, b, "cat_threshold", ti, (size_t)cb[ncat], ct, true) < 0)
			goto out;
		for (size_t k = 0; k < ncat; k++)
			if (!integral(cb[k], 0, cb[ncat]) || (k && cb[k] < cb[k - 1])) {
				FAIL(c, -EBADMSG, "%s: Tree=%zu: cat_boundaries: not increasing",
				     c->name, ti);
				goto out;
			}
	}
	/* internal nodes 0..ni-1, then leaves ni..ni+nl-1 */
	for (size_t k = 0; k < ni; k++) {
		struct ex_node *n = &out->nodes[k];
		int d;
		if (!integral(sf[k], 0, (double)m->n_features - 1)) {
			FAIL(c, -EBADMSG,
			     "%s: Tree=%zu: split_feature[%zu] = %g out of range (%zu "
			     "features)",
			     c->name, ti, k, sf[k], m->n_features);
			goto out;
		}
		if (!integral(dt[k], 0, 255)) {
			FAIL(c, -EBADMSG, "%s: Tree=%zu: decision_type[%zu] = %g", c->name, ti, k,
			     dt[k]);
			goto out;
		}
		d = (int)dt[k];
		n->feature = (int32_t)sf[k];
		n->default_left = (d >> 1) & 1;
		n->missing = (uint8_t)((d >> 2) & 3);
		if (n->missing > EX_MISSING_NAN) {
			FAIL(c, -EBADMSG, "%s: Tree=%zu: decision_type[%zu]: missing type %d",
			     c->name, ti, k, n->missing);
			goto out;
		}
		for (int side = 0; side < 2; side++) {
			double ch = side ? rc_[k] : lc[k];
			int32_t idx;
			if (!integral(ch, -(double)nl, (double)ni - 1)) {
				FAIL(c, -EBADMSG, "%s: Tree=%zu: %s[%zu] = %g out of range",
				     c->name, ti, side ? "right_child" : "left_child", k, ch);
				goto out;
			}
			idx = ch >= 0 ? (int32_t)ch : (int32_t)(ni + (size_t)(-(int64_t)ch - 1));
			if (side)
				n->right = idx;
			else
				n->left = idx;
		}
		n->cover = icnt[k];
		/* Tree::GetLeaf evaluates every node numerically when the tree has no
		 * categorical split (num_cat=0), whatever bit 0 says */
		if ((d & 1) && ncat > 0) {
			size_t cat_idx;
			if (!integral(thr[k], 0, (double)ncat - 1)) {
				FAIL(c, -EBADMSG,
				     "%s: Tree=%zu: threshold[%zu] = %g: not a categorical split "
				     "index",
				     c->name, ti, k, thr[k]);
				goto out;
			}
			cat_idx = (size_t)thr[k];
			size_t from = (size_t)cb[cat_idx], to = (size_t)cb[cat_idx + 1];
			uint32_t *nw = realloc(m->cat_words, (m->n_cat_words + (to - from) + 1) *
			                                         sizeof(uint32_t));
			if (!nw) {
				rc = -ENOMEM;
				goto out;
			}
			m->cat_words = nw;
			for (size_t w = from; w < to; w++) {
				if (!integral(ct[w], 0, 4294967295.0)) {
					FAIL(c, -EBADMSG,
					     "%s: Tree=%zu: cat_threshold[%zu]: not a "
					     "32-bit word",
					     c->name, ti, w);
					goto out;
				}
				m->cat_words[m->n_cat_words + w - from] = (uint32_t)ct[w];
			}
			n->cmp = EX_CMP_LGB_CAT;
			n->cat_off = (uint32_t)m->n_cat_words;
			n->cat_len = (uint32_t)(to - from);
			m->n_cat_words += to - from;
		} else {
			if (!isfinite(thr[k])) { /* LightGBM writes none (Common::AvoidInf) */
				FAIL(c, -EBADMSG, "%s: Tree=%zu: threshold[%zu] is not finite",
				     c->name, ti, k);
				goto out;
			}
			n->cmp = EX_CMP_LGB_LE;
			n->threshold = thr[k];
			n->threshold_f = (float)thr[k];
		}
	}
	for (size_t k = 0; k < nl; k++) {
		struct ex_node *n = &out->nodes[ni + k];
		*n = (struct ex_node){.left = -1,
		                      .right = -1,
		                      .feature = -1,
		                      .cmp = EX_CMP_LEAF,
		                      .value = lv[k],
		                      .cover = lcnt[k]};
	}
	(void)shrink; /* leaf values already include it */
	rc = 0;
out:
	free(sf);
	free(thr);
	free(dt);
	free(lc);
	free(rc_);
	free(lv);
	free(lcnt);
	free(icnt);
	free(cb);
	free(ct);
	return rc;
}

struct lobj {
	const char *name;
	enum ex_link link;
};

static const struct lobj lobjectives[] = {
    {"binary", EX_LINK_LOGIT},
    {"cross_entropy", EX_LINK_LOGIT},
    {"xentropy", EX_LINK_LOGIT},
    {"multiclass", EX_LINK_SOFTMAX},
    {"softmax", EX_LINK_SOFTMAX},
    {"multiclassova", EX_LINK_LOGIT},
    {"regression", EX_LINK_IDENTITY},
    {"regression_l2", EX_LINK_IDENTITY},
    {"regression_l1", EX_LINK_IDENTITY},
    {"huber", EX_LINK_IDENTITY},
    {"fair", EX_LINK_IDENTITY},
    {"quantile", EX_LINK_IDENTITY},
    {"mape", EX_LINK_IDENTITY},
    {"lambdarank", EX_LINK_IDENTITY},
    {"rank_xendcg", EX_LINK_IDENTITY},
    {"poisson", EX_LINK_LOG},
    {"gamma", EX_LINK_LOG},
    {"tweedie", EX_LINK_LOG},
};

static int header(struct lctx *c, const struct block *h)
{
	struct ex_model *m = c->m;
	char *v, *obj;
	double maxf = -1, ncls = 1, ntpi = 1;
	const struct lobj *lo = NULL;

	if (!(v = find(h, "max_feature_idx", NULL)) || (maxf = strtod(v, NULL)) < 0 ||
	    !integral(maxf, 0, 1e6))
		return FAIL(c, -EBADMSG, "%s: max_feature_idx: missing or invalid", c->name);
	if ((v = find(h, "num_class", NULL)))
		ncls = strtod(v, NULL);
	if ((v = find(h, "num_tree_per_iteration", NULL)))
		ntpi = strtod(v, NULL);
	if (!integral(ncls, 1, 10000) || !integral(ntpi, 1, 10000))
		return FAIL(c, -EBADMSG, "%s: num_class / num_tree_per_iteration: invalid",
		            c->name);
	m->n_features = (size_t)maxf + 1;
	m->n_outputs = (size_t)ntpi;
	obj = find(h, "objective", NULL);
	if (!obj)
		return FAIL(c, -EBADMSG, "%s: objective: missing", c->name);
	m->objective = strdup(obj);
	if (!m->objective)
		return -ENOMEM;
	size_t olen = strcspn(obj, " ");
	for (size_t i = 0; i < sizeof(lobjectives) / sizeof(lobjectives[0]); i++)
		if (strlen(lobjectives[i].name) == olen && !strncmp(obj, lobjectives[i].name, olen))
			lo = &lobjectives[i];
	if (!lo)
		return FAIL(c, -ENOTSUP, "%s: objective: \"%.*s\" is not supported", c->name,
		            (int)olen, obj);
	m->link = lo->link;
	/* parameters after the name: "binary sigmoid:2", "multiclass num_class:3", "regression
	 * sqrt" */
	for (const char *p = obj + olen; *p;) {
		size_t tl;
		p += strspn(p, " ");
		tl = strcspn(p, " ");
		if (tl == 4 && !strncmp(p, "sqrt", 4))
			/* ConvertOutput is sign(m) m^2, a link this library does not have */
			return FAIL(c, -ENOTSUP,
			            "%s: objective: \"%s\": the sqrt transform is not supported",
			            c->name, obj);
		if (tl > 8 && !strncmp(p, "sigmoid:", 8) && lo->link == EX_LINK_LOGIT) {
			/* probability = 1 / (1 + exp(-s * raw)); the margin stays LightGBM's raw
			 * score (what predict(raw_score=True) returns) and the link carries s */
			char *end;
			double sg = strtod(p + 8, &end);
			if (end != p + tl || !isfinite(sg) || sg <= 0)
				return FAIL(c, -EBADMSG, "%s: objective: \"%s\": invalid sigmoid",
				            c->name, obj);
			m->link_scale = sg;
		}
		p += tl;
	}
	if (lo->link == EX_LINK_SOFTMAX && m->n_outputs < 2)
		return FAIL(c, -EBADMSG, "%s: objective %s with one tree per iteration", c->name,
		            obj);
	if ((v = find(h, "feature_names", NULL))) {
		m->feature_names = calloc(m->n_features, sizeof(char *));
		if (!m->feature_names)
			return -ENOMEM;
		char *save = NULL;
		size_t i = 0;
		for (char *tok = strtok_r(v, " ", &save); tok && i < m->n_features;
		     tok = strtok_r(NULL, " ", &save), i++)
			if (!(m->feature_names[i] = strdup(tok)))
				return -ENOMEM;
	}
	return 0;
}

static int push(struct block *b, const char *key, char *value, size_t line)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		struct kv *nk = realloc(b->kv, cap * sizeof(*nk));
		if (!nk)
			return -ENOMEM;
		b->kv = nk;
		b->cap = cap;
	}
	b->kv[b->n++] = (struct kv){key, value, line};
	return 0;
}

int ex_load_lightgbm_text(struct ex_model *m, const char *data, size_t len, const char *name,
                          char *err, size_t err_size)
{
	struct lctx c = {.m = m, .name = name, .err = err, .err_size = err_size};
	struct block head = {0}, tree = {0};
	char *text = malloc(len + 1), *line, *save = NULL;
	size_t lineno = 0, ti = 0, cap = 0, iterations;
	bool in_tree = false, ended = false, average = false;
	int rc = 0;

	if (!text)
		return -ENOMEM;
	memcpy(text, data, len);
	text[len] = '\0';
	if (memchr(data, '\0', len)) {
		rc = FAIL(&c, -EBADMSG, "%s: contains a NUL byte, not a LightGBM text model", name);
		goto out;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);
		lineno++;
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		if (!strcmp(line, "end of trees") || !strncmp(line, "Tree=", 5)) {
			if (in_tree) {
				if (ti == cap) {
					cap = cap ? cap * 2 : 64;
					struct ex_tree *nt = realloc(m->trees, cap * sizeof(*nt));
					if (!nt) {
						rc = -ENOMEM;
						goto out;
					}
					m->trees = nt;
				}
				memset(&m->trees[ti], 0, sizeof(m->trees[ti]));
				m->n_trees = ti + 1;
				m->trees[ti].group = (int32_t)(ti % m->n_outputs);
				rc = load_tree(&c, &tree, ti, &m->trees[ti]);
				if (rc < 0)
					goto out;
				ti++;
				tree.n = 0;
			} else {
				rc = header(&c, &head);
				if (rc < 0)
					goto out;
			}
			if (line[0] == 'e') {
				ended = true;
				break;
			}
			char *end;
			if (strtoul(line + 5, &end, 10) != ti || *end) {
				rc = FAIL(&c, -EBADMSG, "%s: line %zu: \"%s\": expected Tree=%zu",
				          name, lineno, line, ti);
				goto out;
			}
			in_tree = true;
			continue;
		}
		if (!in_tree && !strcmp(line, "average_output")) {
			average = true; /* random forest mode: the mean of the iterations */
			continue;
		}
		char *eq = strchr(line, '=');
		if (!eq)
			continue; /* "tree", blank lines and section titles */
		*eq = '\0';
		rc = push(in_tree ? &tree : &head, line, eq + 1, lineno);
		if (rc < 0)
			goto out;
	}
	if (!ended) {
		rc = FAIL(&c, -EBADMSG,
		          "%s: no \"end of trees\" line: truncated or not a LightGBM "
		          "text model",
		          name);
		goto out;
	}
	if (m->n_trees == 0) {
		rc = FAIL(&c, -EBADMSG, "%s: no trees", name);
		goto out;
	}
	iterations = m->n_trees / m->n_outputs;
	if (average && iterations > 0)
		m->output_scale = 1.0 / (double)iterations;
	m->base_margin = calloc(m->n_outputs, sizeof(double)); /* folded into tree 0 */
	if (!m->base_margin)
		rc = -ENOMEM;
out:
	free(head.kv);
	free(tree.kv);
	free(text);
	return rc;
}
