/* SPDX-License-Identifier: Apache-2.0 */
/* linear-json models (METHODS.md §2.4): {"intercept": b, "coef": [...], "link":
 * "identity"|"logit", "feature_names": [...]}, plus an optional "feature_means": [...] (the
 * training means, used by linear SHAP when no background is given). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int doubles(json_t *a, size_t n, double **ret, const char *name, const char *key, char *err,
                   size_t err_size)
{
	double *v = malloc((n ? n : 1) * sizeof(double));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(a, i);
		if (!json_is_number(e) || !isfinite(json_number_value(e))) {
			free(v);
			return ex__fail(err, err_size, -EBADMSG, "%s: %s[%zu]: not a finite number",
			                name, key, i);
		}
		v[i] = json_number_value(e);
	}
	*ret = v;
	return 0;
}

int ex_load_linear_json(struct ex_model *m, const char *data, size_t len, const char *name,
                        char *err, size_t err_size)
{
	json_error_t je;
	json_t *root = json_loadb(data, len, 0, &je), *coef, *ic, *link, *names, *means;
	const char *ls;
	int rc = -EBADMSG;

	if (!root)
		return ex__fail(err, err_size, -EBADMSG, "%s: line %d, column %d: %s", name,
		                je.line, je.column, je.text);
	if (!json_is_object(root)) {
		rc = ex__fail(err, err_size, -EBADMSG, "%s: not a JSON object", name);
		goto out;
	}
	coef = json_object_get(root, "coef");
	if (!json_is_array(coef) || json_array_size(coef) == 0) {
		rc = ex__fail(err, err_size, -EBADMSG, "%s: coef: missing or not a non-empty array",
		              name);
		goto out;
	}
	m->n_features = json_array_size(coef);
	m->n_outputs = 1;
	rc = doubles(coef, m->n_features, &m->coef, name, "coef", err, err_size);
	if (rc < 0)
		goto out;
	ic = json_object_get(root, "intercept");
	if (ic && (!json_is_number(ic) || !isfinite(json_number_value(ic)))) {
		rc = ex__fail(err, err_size, -EBADMSG, "%s: intercept: not a finite number", name);
		goto out;
	}
	m->intercept = ic ? json_number_value(ic) : 0.0;
	link = json_object_get(root, "link");
	ls = json_string_value(link);
	if (link && !ls) {
		rc = ex__fail(err, err_size, -EBADMSG, "%s: link: not a string", name);
		goto out;
	}
	if (!ls || !strcmp(ls, "identity")) {
		m->link = EX_LINK_IDENTITY;
	} else if (!strcmp(ls, "logit")) {
		m->link = EX_LINK_LOGIT;
	} else {
		rc = ex__fail(err, err_size, -ENOTSUP,
		              "%s: link: \"%s\" is not supported (identity or logit)", name, ls);
		goto out;
	}
	m->objective = strdup(ls ? ls : "identity");
	if (!m->objective) {
		rc = -ENOMEM;
		goto out;
	}
	names = json_object_get(root, "feature_names");
	if (names) {
		if (!json_is_array(names) || json_array_size(names) != m->n_features) {
			rc = ex__fail(err, err_size, -EBADMSG,
			              "%s: feature_names: not an array of %zu strings", name,
			              m->n_features);
			goto out;
		}
		m->feature_names = calloc(m->n_features, sizeof(char *));
		if (!m->feature_names) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < m->n_features; i++) {
			const char *s = json_string_value(json_array_get(names, i));
			if (!s) {
				rc = ex__fail(err, err_size, -EBADMSG,
				              "%s: feature_names[%zu]: not a string", name, i);
				goto out;
			}
			if (!(m->feature_names[i] = strdup(s))) {
				rc = -ENOMEM;
				goto out;
			}
		}
	}
	means = json_object_get(root, "feature_means");
	if (means) {
		if (!json_is_array(means) || json_array_size(means) != m->n_features) {
			rc = ex__fail(err, err_size, -EBADMSG,
			              "%s: feature_means: not an array of %zu numbers", name,
			              m->n_features);
			goto out;
		}
		rc = doubles(means, m->n_features, &m->feature_means, name, "feature_means", err,
		             err_size);
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}
