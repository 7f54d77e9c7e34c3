/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the report document (report_internal.h): members that are absent, null or of
 * another type read as "not there"; the record's features and the attribution, loaded once and
 * checked against each other. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_internal.h"

/* ---- document access: absent, null and mistyped members all read as "not there" ---- */

json_t *doc_get(const json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	return json_is_null(v) ? NULL : v;
}

json_t *doc_get_obj(const json_t *o, const char *key)
{
	json_t *v = doc_get(o, key);
	return json_is_object(v) ? v : NULL;
}

json_t *doc_get_arr(const json_t *o, const char *key)
{
	json_t *v = doc_get(o, key);
	return json_is_array(v) ? v : NULL;
}

const char *doc_get_str(const json_t *o, const char *key)
{
	return json_string_value(doc_get(o, key));
}

bool doc_get_num(const json_t *o, const char *key, double *ret)
{
	json_t *v = doc_get(o, key);

	if (!json_is_number(v))
		return false;
	*ret = json_number_value(v);
	return true;
}

bool doc_get_bool(const json_t *o, const char *key, bool *ret)
{
	json_t *v = doc_get(o, key);

	if (!json_is_boolean(v))
		return false;
	*ret = json_is_true(v);
	return true;
}

bool doc_get_int(const json_t *o, const char *key, int64_t *ret)
{
	json_t *v = doc_get(o, key);

	if (json_is_integer(v))
		*ret = json_integer_value(v);
	else if (json_is_real(v) && fabs(json_real_value(v)) < 9e18)
		*ret = (int64_t)json_real_value(v);
	else
		return false;
	return true;
}

/* A value of any type, for context, labels and parameters. */
void doc_value(struct rr *r, const json_t *v)
{
	char b[NUM_MAX];

	if (!v || json_is_null(v)) {
		rw_text(r, "\u2014");
	} else if (json_is_string(v)) {
		rw_text_n(r, json_string_value(v), json_string_length(v)); /* a NUL is shown too */
	} else if (json_is_integer(v)) {
		rw_textf(r, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		rw_text(r, rw_fmt_num(json_real_value(v), b));
	} else if (json_is_boolean(v)) {
		rw_text(r, json_is_true(v) ? "yes" : "no");
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			if (i)
				rw_text(r, ", ");
			doc_value(r, e);
		}
	} else {
		const char *k;
		json_t *e;
		bool first = true;
		json_object_foreach((json_t *)v, k, e)
		{
			if (!first)
				rw_text(r, ", ");
			first = false;
			rw_text(r, k);
			rw_text(r, ": ");
			doc_value(r, e);
		}
	}
}

void doc_time_ns(struct rr *r, const json_t *o, const char *key)
{
	char b[TIME_MAX];
	int64_t ns;

	rw_text(r, doc_get_int(o, key, &ns) ? rw_fmt_time(ns, b) : "\u2014");
}

const char *doc_feature_name(const struct report *rp, size_t j)
{
	return rp->f[j].name ? rp->f[j].name : "(unnamed)";
}

const struct feature *doc_feature_by_name(const struct report *rp, const char *name)
{
	for (size_t j = 0; name && j < rp->M; j++)
		if (rp->f[j].name && !strcmp(rp->f[j].name, name))
			return &rp->f[j];
	return NULL;
}

int doc_load_features(struct report *rp)
{
	json_t *arr = doc_get_arr(rp->record, "features"), *e;
	bool pruned = false;
	size_t i;

	doc_get_bool(rp->record, "pruned", &pruned);
	rp->M = json_array_size(arr);
	rp->f = calloc(rp->M ? rp->M : 1, sizeof(*rp->f));
	if (!rp->f)
		return -ENOMEM;
	json_array_foreach(arr, i, e)
	{
		struct feature *f = &rp->f[i];
		bool b;
		f->name = doc_get_str(e, "name");
		f->unit = doc_get_str(e, "unit");
		f->has_value = doc_get_num(e, "value", &f->value);
		f->pruned = pruned && !f->has_value;
		f->has_min = doc_get_num(e, "min", &f->min);
		f->has_max = doc_get_num(e, "max", &f->max);
		f->out_of_range = doc_get_bool(e, "out_of_range", &b) && b;
	}
	return 0;
}

int doc_by_abs_phi(const void *pa, const void *pb, void *phi)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	double x = fabs(((double *)phi)[a]), y = fabs(((double *)phi)[b]);

	if (x != y)
		return x > y ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* Reads M numbers (null allowed when nulls_ok: NAN) into a new array; NULL and *bad = true
 * when arr is not exactly that. */
double *doc_numbers(const json_t *arr, size_t M, bool nulls_ok, bool *bad, int *err)
{
	if (json_array_size(arr) != M || !M) {
		*bad = true;
		return NULL;
	}
	double *v = malloc(M * sizeof(*v));
	if (!v) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t j = 0; j < M; j++) {
		json_t *e = json_array_get(arr, j);
		if (json_is_number(e) && isfinite(json_number_value(e))) {
			v[j] = json_number_value(e);
		} else if (nulls_ok && json_is_null(e)) {
			v[j] = NAN;
		} else {
			free(v);
			*bad = true;
			return NULL;
		}
	}
	return v;
}

int doc_load_attribution(struct report *rp)
{
	struct attribution *a = &rp->a;
	json_t *at = doc_get_obj(rp->audit, "attribution");
	int err = 0;
	bool bad = false;

	if (!at)
		return 0;
	a->method = doc_get_str(at, "method");
	a->space = doc_get_str(rp->audit, "prediction_space");
	if (!doc_get_num(at, "base_value", &a->base)) {
		a->problem = "the attribution has no base value";
		return 0;
	}
	a->phi = doc_numbers(doc_get(at, "phi"), rp->M, false, &bad, &err);
	if (err)
		return err;
	if (bad) {
		a->problem = "the attribution does not have one finite number per input feature";
		return 0;
	}
	if (doc_get(at, "stderr")) {
		a->se = doc_numbers(doc_get(at, "stderr"), rp->M, true, &bad, &err);
		if (err)
			return err;
		if (bad) {
			a->problem = "the attribution's standard errors do not match its features";
			return 0;
		}
	}
	a->order = malloc(rp->M * sizeof(*a->order));
	if (!a->order)
		return -ENOMEM;
	double sum = a->base;
	for (size_t j = 0; j < rp->M; j++) {
		a->order[j] = j;
		sum += a->phi[j];
	}
	qsort_r(a->order, rp->M, sizeof(*a->order), doc_by_abs_phi, a->phi);
	json_t *pred = json_array_get(doc_get_arr(rp->audit, "prediction"), 0);
	a->pred = json_is_number(pred) ? json_number_value(pred) : sum;
	a->has_threshold =
	    a->space && !strcmp(a->space, "margin") &&
	    doc_get_num(doc_get_obj(rp->audit, "params"), "threshold", &a->threshold);
	a->ok = isfinite(sum) && isfinite(a->pred);
	if (!a->ok)
		a->problem = "the attribution does not sum to a finite value";
	return 0;
}

void doc_report_deinit(struct report *rp)
{
	free(rp->f);
	free(rp->a.phi);
	free(rp->a.se);
	free(rp->a.order);
}
