/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the report renderers on tests/data/report/sample-report.json (8 features,
 * planted top feature obscure_index_vol): section order, the SVG waterfall read back from the
 * page (one bar per shown feature, sign, direction, widths proportional to |phi|, whiskers),
 * the summary naming the top feature, escaping of hostile strings (HTML entities; Markdown
 * table cells keep their column count), no script and no network reference, audit null,
 * every optional member deleted, nulled or mistyped, the required parts, write errors. The
 * fixture's renderings are left in the build folder (sample-report.html, .md) for
 * tests/integration/chromium_check.py and for people. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report_render.h"
#include "testutil.h"

#ifndef REPORT_SAMPLE
#define REPORT_SAMPLE "tests/data/report/sample-report.json"
#endif

typedef int (*render_fn)(const json_t *doc, FILE *out);

static const char hostile[] = "<script>alert(1)</script>";
static const char hostile_html[] = "&lt;script&gt;alert(1)&lt;/script&gt;";

static json_t *fixture(void)
{
	json_error_t e;
	json_t *doc = json_load_file(REPORT_SAMPLE, 0, &e);

	ck_assert_msg(doc, "%s:%d: %s", REPORT_SAMPLE, e.line, e.text);
	return doc;
}

/* Renders doc to memory; *ret_rc gets the renderer's return value. */
static char *render_rc(render_fn fn, const json_t *doc, int *ret_rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	*ret_rc = fn(doc, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static char *render(render_fn fn, const json_t *doc)
{
	int rc;
	char *s = render_rc(fn, doc, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_uint_gt(strlen(s), 0);
	return s;
}

static void save(const char *name, const char *s)
{
#ifdef REPORT_OUT_DIR
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", REPORT_OUT_DIR, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(s, f);
		fclose(f);
	}
#else
	(void)name;
	(void)s;
#endif
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The text of <section id="id"> ... </section>; malloc'd. */
static char *section(const char *html, const char *id)
{
	char open[64];

	snprintf(open, sizeof(open), "<section id=\"%s\"", id);
	const char *a = strstr(html, open);
	ck_assert_msg(a, "no section %s", id);
	const char *b = strstr(a, "</section>");
	ck_assert_ptr_nonnull(b);
	return strndup(a, (size_t)(b - a));
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80             ? 0
		        : (*p & 0xe0) == 0xc0 ? 1
		        : (*p & 0xf0) == 0xe0 ? 2
		        : (*p & 0xf8) == 0xf0 ? 3
		                              : -1;
		if (n < 0)
			return false;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

static json_t *path_obj(json_t *doc, const char *a, const char *b)
{
	json_t *o = json_object_get(doc, a);
	return b ? json_object_get(o, b) : o;
}

/* ---- the waterfall, read back from the SVG ---- */

struct bar {
	char cls[32];
	double x, w, phi;
	double from, to; /* px: where the running total starts and ends */
};

static double attr(const char *tag, const char *name)
{
	char key[32];
	snprintf(key, sizeof(key), " %s=\"", name);
	const char *p = strstr(tag, key);
	ck_assert_msg(p, "no %s in %.80s", name, tag);
	return strtod(p + strlen(key), NULL);
}

static size_t bars(const char *html, struct bar *out, size_t max)
{
	size_t n = 0;

	for (const char *p = html; (p = strstr(p, "<rect class=\"bar ")); p++) {
		ck_assert_uint_lt(n, max);
		struct bar *b = &out[n++];
		const char *c = p + strlen("<rect class=\"bar ");
		size_t len = strcspn(c, "\"");
		ck_assert_uint_lt(len, sizeof(b->cls));
		memcpy(b->cls, c, len);
		b->cls[len] = 0;
		const char *end = strchr(p, '>');
		char *tag = strndup(p, (size_t)(end - p));
		b->x = attr(tag, "x");
		b->w = attr(tag, "width");
		b->phi = attr(tag, "data-phi");
		free(tag);
		bool pos = !strncmp(b->cls, "pos", 3);
		b->from = pos ? b->x : b->x + b->w;
		b->to = pos ? b->x + b->w : b->x;
	}
	return n;
}

static double line_x(const char *html, const char *cls)
{
	char key[64];
	snprintf(key, sizeof(key), "<line class=\"%s\" x1=\"", cls);
	const char *p = strstr(html, key);
	ck_assert_msg(p, "no line %s", cls);
	return strtod(p + strlen(key), NULL);
}

/* Checks every bar against phi (the expected order) and returns px per unit. */
static double check_bars(const char *html, const double *phi, size_t n_expect)
{
	struct bar b[32];
	size_t n = bars(html, b, 32);
	double k = b[0].w / fabs(b[0].phi);

	ck_assert_uint_eq(n, n_expect);
	for (size_t i = 0; i < n; i++) {
		ck_assert_double_eq_tol(b[i].phi, phi[i], 1e-12);
		/* colour: pos for a positive contribution, neg for a negative one */
		ck_assert_msg(!strncmp(b[i].cls, phi[i] > 0 ? "pos" : "neg", 3),
		              "bar %zu: %s for %g", i, b[i].cls, phi[i]);
		/* width proportional to |phi| */
		ck_assert_msg(fabs(b[i].w - k * fabs(phi[i])) < 0.002, "bar %zu: width %g, want %g",
		              i, b[i].w, k * fabs(phi[i]));
		/* direction: each bar starts where the previous one ended */
		if (i)
			ck_assert_msg(fabs(b[i].from - b[i - 1].to) < 0.002,
			              "bar %zu starts at %g, the previous ended at %g", i,
			              b[i].from, b[i - 1].to);
	}
	ck_assert_double_eq_tol(b[0].from, line_x(html, "base"), 0.002);
	ck_assert_double_eq_tol(b[n - 1].to, line_x(html, "pred"), 0.002);
	return k;
}

/* The fixture's phi sorted by |phi| descending. */
static const double fixture_phi_sorted[] = {2.10, 0.55, 0.42, -0.35, 0.31, -0.12, 0.06, 0.03};

/* ---- every optional member deleted, nulled or mistyped ---- */

struct step {
	const char *key; /* NULL: index */
	size_t index;
};

enum mutation { MUT_DELETE, MUT_NULL, MUT_WRONG_TYPE, MUT_MAX };

static size_t mutations_run;

static void mutate_and_render(render_fn fn, const json_t *doc, const struct step *path,
                              size_t depth, enum mutation m)
{
	json_t *copy = json_deep_copy(doc), *node = copy;

	for (size_t i = 0; i + 1 < depth; i++)
		node = path[i].key ? json_object_get(node, path[i].key)
		                   : json_array_get(node, path[i].index);
	const struct step *last = &path[depth - 1];
	json_t *old =
	    last->key ? json_object_get(node, last->key) : json_array_get(node, last->index);
	json_t *wrong = json_is_string(old) ? json_integer(7) : json_string("x");
	switch (m) {
	case MUT_DELETE:
		if (last->key)
			json_object_del(node, last->key);
		else
			json_array_remove(node, last->index);
		json_decref(wrong);
		break;
	case MUT_NULL:
		json_decref(wrong);
		wrong = json_null();
		/* fall through */
	default:
		if (last->key)
			json_object_set_new(node, last->key, wrong);
		else
			json_array_set_new(node, last->index, wrong);
	}
	bool required = depth == 1 && (!strcmp(last->key, "incident") ||
	                               !strcmp(last->key, "model") || !strcmp(last->key, "record"));
	int rc;
	char *s = render_rc(fn, copy, &rc);
	if (required) {
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_uint_eq(strlen(s), 0);
	} else {
		ck_assert_msg(rc == 0, "mutation %d of member at depth %zu (%s): %d", m, depth,
		              last->key ? last->key : "[i]", rc);
		ck_assert(utf8_valid(s));
		ck_assert_ptr_null(strcasestr(s, "<script"));
	}
	free(s);
	json_decref(copy);
	mutations_run++;
}

static void walk(render_fn fn, const json_t *doc, const json_t *node, struct step *path,
                 size_t depth)
{
	ck_assert_uint_lt(depth, 16);
	if (json_is_object(node)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)node, k, v)
		{
			path[depth] = (struct step){.key = k};
			for (int m = 0; m < MUT_MAX; m++)
				mutate_and_render(fn, doc, path, depth + 1, m);
			walk(fn, doc, v, path, depth + 1);
		}
	} else if (json_is_array(node)) {
		size_t i;
		json_t *v;
		json_array_foreach(node, i, v)
		{
			path[depth] = (struct step){.index = i};
			for (int m = 0; m < MUT_MAX; m++)
				mutate_and_render(fn, doc, path, depth + 1, m);
			walk(fn, doc, v, path, depth + 1);
		}
	}
}

static void check_mutations(render_fn fn)
{
	json_t *doc = fixture();
	struct step path[16];

	mutations_run = 0;
	walk(fn, doc, doc, path, 0);
	ck_assert_uint_gt(mutations_run, 600);
	json_decref(doc);
}

static void check_required(render_fn fn)
{
	static const char *const required[] = {"incident", "model", "record"};
	json_t *doc = fixture();
	int rc;
	char *s;

	for (size_t i = 0; i < 3; i++) {
		json_t *copy = json_deep_copy(doc);
		json_object_set_new(copy, required[i], json_array());
		s = render_rc(fn, copy, &rc);
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_uint_eq(strlen(s), 0);
		free(s);
		json_decref(copy);
	}
	json_t *arr = json_array();
	s = render_rc(fn, arr, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	free(s);
	s = render_rc(fn, NULL, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	free(s);
	ck_assert_int_eq(fn(doc, NULL), -EINVAL);
	json_decref(arr);

	/* the smallest document that renders: the three parts, empty */
	json_t *min = json_pack("{s{}s{}s{}}", "incident", "model", "record");
	s = render(fn, min);
	ck_assert(strstr(s, "No audit recorded"));
	free(s);
	json_decref(min);
	json_decref(doc);
}

static void check_write_error(render_fn fn)
{
	json_t *doc = fixture();
	FILE *f = fopen("/dev/full", "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fn(doc, f), -EIO);
	fclose(f);
	json_decref(doc);
}

/* Hostile strings in every kind of place a document string is printed. */
static json_t *hostile_doc(const char *feature0)
{
	json_t *doc = fixture();
	json_t *f0 = json_array_get(path_obj(doc, "record", "features"), 1); /* the top feature */
	json_t *au = json_object_get(doc, "audit");

	json_object_set_new(f0, "name", json_string(feature0));
	json_object_set_new(f0, "unit", json_string(hostile));
	json_object_set_new(path_obj(doc, "record", NULL), "client_name", json_string(hostile));
	json_object_set_new(path_obj(doc, "record", "labels"), hostile, json_string(hostile));
	json_object_set_new(path_obj(doc, "model", NULL), "id", json_string(hostile));
	json_object_set_new(path_obj(doc, "model", NULL), "decision_rule", json_string(hostile));
	json_object_set_new(path_obj(doc, "model", "lineage"), "notes", json_string(hostile));
	json_array_append_new(path_obj(doc, "model", "lineage_warnings"), json_string(hostile));
	json_object_set_new(path_obj(doc, "incident", NULL), "when", json_string(hostile));
	json_object_set_new(path_obj(doc, "incident", NULL), "trigger", json_string(hostile));
	json_array_append_new(json_object_get(doc, "summary"), json_string(hostile));
	json_object_set_new(json_array_get(json_object_get(doc, "reviews"), 0), "note",
	                    json_string(hostile));
	json_object_set_new(json_object_get(doc, "checkpoint"), "note", json_string(hostile));
	json_object_set_new(json_array_get(json_object_get(doc, "proofs"), 0), "leaf_hash",
	                    json_string(hostile));
	json_object_set_new(au, "reasons", json_pack("[s]", hostile));
	json_object_set_new(json_object_get(au, "confidence"), "meaning", json_string(hostile));
	json_object_set_new(
	    json_array_get(json_object_get(json_object_get(au, "region"), "rule"), 0), "feature",
	    json_string(feature0));
	json_object_set_new(json_array_get(json_object_get(au, "baseline_outliers"), 0), "feature",
	                    json_string(feature0));
	json_t *cf =
	    json_object_get(json_array_get(json_object_get(au, "counterfactuals"), 0), "changes");
	json_object_clear(cf);
	json_object_set_new(cf, feature0, json_real(14));
	json_t *flip = json_object_get(au, "flip");
	json_object_set_new(flip, "fragile_features", json_pack("[s]", feature0));
	json_object_set_new(json_array_get(json_object_get(flip, "flips"), 1), "feature",
	                    json_string(feature0));
	json_object_set_new(json_object_get(au, "params"), "software", json_string(hostile));
	json_object_set_new(json_object_get(au, "timings_ms"), hostile, json_real(1));
	json_object_set_new(json_object_get(doc, "verdict"), "action", json_string(hostile));
	return doc;
}

/* ---- report_render_html ---- */

START_TEST(test_html_fixture)
{
	static const char *const order[] = {
	    "summary", "decision",   "input",  "why",     "change",   "fragility", "region",
	    "unusual", "confidence", "review", "lineage", "evidence", "reproduce"};
	json_t *doc = fixture();
	char *s = render(report_render_html, doc);

	save("sample-report.html", s);
	ck_assert(!strncmp(s, "<!DOCTYPE html>", 15));
	ck_assert(strstr(s, "</html>\n") && !strcmp(strstr(s, "</html>\n"), "</html>\n"));
	ck_assert(utf8_valid(s));
	/* sections in the required order */
	const char *prev = s;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		char open[64];
		snprintf(open, sizeof(open), "<section id=\"%s\"", order[i]);
		const char *p = strstr(s, open);
		ck_assert_msg(p && p > prev, "section %s missing or out of order", order[i]);
		prev = p;
	}
	/* self-contained: no script, no reference to anything outside the page */
	static const char *const banned[] = {
	    "<script", "http://", "https://", "src=",    "href=",  "url(",  "@import",
	    "<link",   "<img",    "<iframe",  "<object", "<embed", "xmlns", "javascript:"};
	for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
		ck_assert_msg(!strcasestr(s, banned[i]), "found %s", banned[i]);
	ck_assert(strstr(s, "Content-Security-Policy\" content=\"default-src 'none'"));
	/* decision: UTC time, the hash, the rule */
	char *d = section(s, "decision");
	ck_assert(strstr(d, "2024-05-14T09:41:17.121Z"));
	ck_assert(strstr(d, "25c509f4303483edf42922d0df628bb2782bb13eeb14fd31aeb90b7bc55584a8"));
	ck_assert(strstr(d, "sell when score &gt;= 0.5, else hold"));
	free(d);
	/* input: the missing value, the out-of-range flag on its row */
	char *in = section(s, "input");
	const char *row = strstr(in, "<tr class=\"flagged\"><td class=\"name\">obscure_index_vol");
	ck_assert_ptr_nonnull(row);
	ck_assert(strstr(row, "out of range") < strstr(row, "</tr>"));
	ck_assert_uint_eq(count(in, "out of range"), 1);
	row = strstr(in, ">momentum_5d<");
	ck_assert(row && strstr(row, "<em>missing</em>") < strstr(row, "</tr>"));
	free(in);
	/* the other sections carry their findings */
	char *sec = section(s, "unusual");
	ck_assert(strstr(sec, "is 42\u00d7 its usual level"));
	free(sec);
	sec = section(s, "region");
	ck_assert(strstr(sec, "24.5 \u2264 <strong>obscure_index_vol</strong>"));
	ck_assert(strstr(sec, "97% (95% CI 91.2% \u2013 99%)"));
	free(sec);
	sec = section(s, "fragility");
	ck_assert(strstr(sec, "Fragile."));
	ck_assert(strstr(sec, "0.151"));
	free(sec);
	sec = section(s, "evidence");
	ck_assert_uint_eq(count(sec, "<details><summary>11 hashes</summary>"), 6);
	free(sec);
	sec = section(s, "reproduce");
	ck_assert(strstr(sec, "evidentctl replay 57"));
	free(sec);
	sec = section(s, "lineage");
	ck_assert(
	    strstr(sec, "class=\"box warn\"><strong>Lineage warning:</strong> no code commit"));
	free(sec);
	free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_html_summary_top_feature)
{
	json_t *doc = fixture();
	char *s = render(report_render_html, doc), *sum = section(s, "summary");

	ck_assert(strstr(sum, "obscure_index_vol"));
	ck_assert(strstr(sum, "class=\"badge review\">REVIEW<"));
	free(sum);
	free(s);

	/* without the gatherer's sentences the summary still names it, first */
	json_object_del(doc, "summary");
	s = render(report_render_html, doc);
	sum = section(s, "summary");
	ck_assert(strstr(sum, "Largest contributions</th><td><strong>obscure_index_vol</strong>"));
	free(sum);
	free(s);

	/* and follows the attribution: make spread_bps the largest */
	json_array_set_new(json_object_get(path_obj(doc, "audit", "attribution"), "phi"), 2,
	                   json_real(-5));
	s = render(report_render_html, doc);
	sum = section(s, "summary");
	ck_assert(strstr(sum, "Largest contributions</th><td><strong>spread_bps</strong>"));
	free(sum);
	free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_html_waterfall)
{
	json_t *doc = fixture();
	char *s = render(report_render_html, doc);

	check_bars(s, fixture_phi_sorted, 8);
	ck_assert_uint_eq(count(s, "<svg "), 1);
	ck_assert_uint_eq(count(s, "class=\"whisker\" d="), 0); /* exact method: no whiskers */
	ck_assert(line_x(s, "base") < line_x(s, "pred"));
	ck_assert(strstr(s, "decision threshold 0<"));
	ck_assert(strstr(s, "model output (margin)"));
	ck_assert(strstr(s, ">obscure_index_vol <tspan class=\"fv\">= 31.7 %</tspan>"));
	ck_assert(strstr(s, ">momentum_5d <tspan class=\"fv\">= missing</tspan>"));
	free(s);
	json_decref(doc);
}
END_TEST

/* 20 features with standard errors: 12 bars, one "8 other features" bar, whiskers. */
START_TEST(test_html_waterfall_many)
{
	json_t *doc = fixture(), *at = path_obj(doc, "audit", "attribution");
	json_t *features = path_obj(doc, "record", "features"), *phi = json_object_get(at, "phi");
	json_t *se = json_array();
	double expect[13], rest = 0;

	for (int j = 0; j < 12; j++) {
		char name[16];
		snprintf(name, sizeof(name), "extra_%02d", j);
		json_array_append_new(features, json_pack("{sssf}", "name", name, "value", 1.0));
		json_array_append_new(phi, json_real(j % 2 ? 0.001 * (j + 1) : -0.001 * (j + 1)));
	}
	for (int j = 0; j < 20; j++)
		json_array_append_new(se, json_real(0.01 * (j + 1)));
	json_object_set_new(at, "stderr", se);
	/* prediction = base + sum phi, so the last bar ends on it */
	double sum = -0.4;
	for (size_t j = 0; j < 20; j++)
		sum += json_number_value(json_array_get(phi, j));
	json_object_set_new(json_object_get(doc, "audit"), "prediction", json_pack("[f]", sum));

	/* expected order: the fixture's 8, then extra_11, extra_10, ... extra_08, others */
	memcpy(expect, fixture_phi_sorted, sizeof(fixture_phi_sorted));
	for (int i = 0; i < 4; i++) {
		int j = 11 - i;
		expect[8 + i] = j % 2 ? 0.001 * (j + 1) : -0.001 * (j + 1);
	}
	for (int j = 0; j < 8; j++)
		rest += j % 2 ? 0.001 * (j + 1) : -0.001 * (j + 1);
	expect[12] = rest;

	char *s = render(report_render_html, doc);
	double k = check_bars(s, expect, 13);
	ck_assert(strstr(s, "<rect class=\"bar pos other\""));
	ck_assert(strstr(s, ">8 other features<"));
	/* one whisker per drawn feature (not on the sum), 1.96 se either side of the bar's end */
	ck_assert_uint_eq(count(s, "class=\"whisker\" d="), 12);
	struct bar b[16];
	bars(s, b, 16);
	const char *w = strstr(s, "<path class=\"whisker\" d=\"M");
	double x_lo, y0, y1, x_lo2, y2, x_hi;
	ck_assert_int_eq(sscanf(w + strlen("<path class=\"whisker\" d=\"M"),
	                        "%lf %lfV%lfM%lf %lfH%lf", &x_lo, &y0, &y1, &x_lo2, &y2, &x_hi),
	                 6);
	/* the top bar is obscure_index_vol, feature 1: se 0.02 */
	ck_assert_double_eq_tol((x_hi - x_lo) / 2, 1.96 * 0.02 * k, 0.002);
	ck_assert_double_eq_tol((x_hi + x_lo) / 2, b[0].to, 0.002);
	ck_assert(strstr(s, "95% interval"));
	free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_html_escapes)
{
	json_t *doc = hostile_doc(hostile);
	char *s = render(report_render_html, doc);

	save("hostile-report.html", s);
	ck_assert_ptr_null(strcasestr(s, "<script"));
	ck_assert_ptr_null(strstr(s, hostile));
	/* printed, escaped, everywhere it was put */
	ck_assert_uint_ge(count(s, hostile_html), 25);
	char *sum = section(s, "summary");
	ck_assert(strstr(sum, "<strong>"
	                      "&lt;script&gt;alert(1)&lt;/script&gt;"
	                      "</strong>"));
	free(sum);
	/* the waterfall still has its 8 bars, the name drawn as text */
	check_bars(s, fixture_phi_sorted, 8);
	ck_assert(strstr(s, "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"));
	free(s);
	json_decref(doc);

	/* attribute and tag breakers, and a long UTF-8 name clipped in the SVG */
	char longname[256] = "";
	for (int i = 0; i < 50; i++)
		strcat(longname, "\u00e9");
	const char *const names[] = {"\"><img src=x onerror=alert(1)>", "a'b\"c&d",
	                             "</svg><svg onload=alert(1)>", longname};
	for (size_t i = 0; i < 4; i++) {
		doc = hostile_doc(names[i]);
		s = render(report_render_html, doc);
		ck_assert_ptr_null(strcasestr(s, "<img"));
		ck_assert_ptr_null(strcasestr(s, "<svg onload"));
		ck_assert_uint_eq(count(s, "</svg>"), 1);
		ck_assert(utf8_valid(s));
		check_bars(s, fixture_phi_sorted, 8);
		free(s);
		json_decref(doc);
	}
}
END_TEST

START_TEST(test_html_no_audit)
{
	json_t *doc = fixture();

	json_object_set_new(doc, "audit", json_null());
	char *s = render(report_render_html, doc);
	ck_assert_uint_ge(count(s, "No audit recorded"), 6);
	ck_assert_ptr_null(strstr(s, "<svg"));
	ck_assert_ptr_null(strstr(s, "class=\"bar "));
	ck_assert(strstr(s, "<section id=\"reproduce\""));
	ck_assert(strstr(s, "evidentctl replay 57"));
	free(s);

	json_object_set_new(doc, "verdict", json_null());
	json_object_set_new(doc, "checkpoint", json_null());
	json_object_set_new(doc, "reviews", json_array());
	json_object_set_new(doc, "proofs", json_null());
	s = render(report_render_html, doc);
	ck_assert(strstr(s, "class=\"badge none\">NO VERDICT<"));
	ck_assert(strstr(s, "No human review recorded."));
	ck_assert(strstr(s, "No checkpoint."));
	free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_html_attribution_mismatch)
{
	json_t *doc = fixture();

	/* 7 numbers for 8 features: not drawn, and the page says why */
	json_array_remove(json_object_get(path_obj(doc, "audit", "attribution"), "phi"), 0);
	char *s = render(report_render_html, doc);
	ck_assert_ptr_null(strstr(s, "<svg"));
	ck_assert(strstr(s, "Attribution not shown:"));
	free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_html_missing_members)
{
	check_mutations(report_render_html);
}
END_TEST

START_TEST(test_html_required)
{
	check_required(report_render_html);
}
END_TEST

START_TEST(test_html_write_error)
{
	check_write_error(report_render_html);
}
END_TEST

/* ---- report_render_md ---- */

/* Occurrences of needle not preceded by a backslash. */
static size_t unescaped(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n += p == s || p[-1] != '\\';
	return n;
}

/* '|' not escaped by a backslash. */
static size_t pipes(const char *line, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\\') {
			i++;
			continue;
		}
		n += line[i] == '|';
	}
	return n;
}

/* Every table row has as many cells as its header; returns the number of rows seen. */
static size_t check_tables(const char *md)
{
	size_t want = 0, rows = 0;

	for (const char *p = md; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len && p[0] == '|') {
			size_t n = pipes(p, len);
			if (!want)
				want = n;
			ck_assert_msg(n == want, "table row with %zu cells, header %zu: %.*s",
			              n - 1, want - 1, (int)len, p);
			rows++;
		} else {
			want = 0;
		}
		p += len + (e != NULL);
	}
	return rows;
}

START_TEST(test_md_fixture)
{
	static const char *const order[] = {"## Summary",
	                                    "## 1. Decision",
	                                    "## 2. Input",
	                                    "## 3. Why",
	                                    "## 4. What would change it",
	                                    "## 5. Fragility",
	                                    "## 6. Where else",
	                                    "## 7. Unusual attributions",
	                                    "## 8. Confidence and verdict",
	                                    "## 9. Human review",
	                                    "## 10. Model lineage",
	                                    "## 11. Evidence",
	                                    "## 12. Reproduce"};
	json_t *doc = fixture();
	char *s = render(report_render_md, doc);

	save("sample-report.md", s);
	ck_assert(!strncmp(s, "# Decision report: incident 57\n", 31));
	ck_assert(utf8_valid(s));
	const char *prev = s;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const char *p = strstr(s, order[i]);
		ck_assert_msg(p && p > prev, "%s missing or out of order", order[i]);
		prev = p;
	}
	ck_assert_ptr_null(strstr(s, "<svg"));
	ck_assert_ptr_null(strstr(s, "http"));
	ck_assert_uint_gt(check_tables(s), 40);
	/* the bar chart: the top feature first with the longest bar, sells the sign */
	const char *chart = strstr(s, "| Feature | Value | Contribution | Lowers | Raises |");
	ck_assert_ptr_nonnull(chart);
	ck_assert(strstr(chart, "| obscure_index_vol | 31.7 % | +2.1 |  | "
	                        "\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588"
	                        "\u2588\u2588\u2588\u2588\u2588 |"));
	ck_assert(strstr(chart, "| spread_bps | 4.2 bp | -0.35 | \u2588\u2588\u2588 |  |"));
	ck_assert(strstr(s, "| momentum_5d | *missing* | -0.2 \u2013 0.2 | **missing** |"));
	ck_assert(strstr(s, "| obscure_index_vol | 31.7 % | 2.1 \u2013 18.4 | **out of range** |"));
	/* the summary names the top feature, and the facts follow the sentences as their own list
	 */
	const char *sum = strstr(s, "## Summary"), *end = strstr(s, "## 1. Decision");
	const char *top = strstr(sum, "* **Largest contributions:** **obscure_index_vol**");
	ck_assert(top && top < end);
	ck_assert(strstr(s, "evidentctl replay 57"));
	ck_assert(strstr(s, "> **Lineage warning:** no code commit"));
	free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_md_escapes)
{
	json_t *doc = hostile_doc("a|b <script>alert(1)</script> *x* [l](y) `c`");
	json_array_append_new(json_object_get(doc, "summary"), json_string("# not a heading"));
	json_array_append_new(json_object_get(doc, "summary"), json_string("- not a list"));
	json_array_append_new(json_object_get(doc, "summary"), json_string("1. not a list"));
	char *s = render(report_render_md, doc);

	save("hostile-report.md", s);
	ck_assert_uint_eq(unescaped(s, "<script"), 0);
	ck_assert_uint_eq(unescaped(s, "</script"), 0);
	ck_assert_uint_gt(count(s, "\\<script>"), 20);
	ck_assert_ptr_null(strstr(s, "[l](y)"));
	/* the name's '|' is escaped in every table cell, so every row keeps its columns */
	ck_assert_uint_gt(check_tables(s), 40);
	ck_assert(strstr(s, "| a\\|b \\<script>alert(1)\\</script> \\*x\\* \\[l\\](y) \\`c\\` |"));
	ck_assert(strstr(s, "\n- \\# not a heading\n"));
	ck_assert(strstr(s, "\n- \\- not a list\n"));
	ck_assert(strstr(s, "\n- 1\\. not a list\n"));
	/* intraword '_' needs no escape */
	ck_assert(strstr(s, "| position_delta |"));
	free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_md_no_audit)
{
	json_t *doc = fixture();

	json_object_set_new(doc, "audit", json_null());
	char *s = render(report_render_md, doc);
	ck_assert_uint_ge(count(s, "No audit recorded"), 6);
	ck_assert_ptr_null(strstr(s, "| Feature | Value | Contribution |"));
	ck_assert(strstr(s, "## 12. Reproduce"));
	check_tables(s);
	free(s);
	json_decref(doc);
}
END_TEST

START_TEST(test_md_missing_members)
{
	check_mutations(report_render_md);
}
END_TEST

START_TEST(test_md_required)
{
	check_required(report_render_md);
}
END_TEST

START_TEST(test_md_write_error)
{
	check_write_error(report_render_md);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_render");
	TCase *tc = tcase_create("report_render_html");

	tcase_add_test(tc, test_html_fixture);
	tcase_add_test(tc, test_html_summary_top_feature);
	tcase_add_test(tc, test_html_waterfall);
	tcase_add_test(tc, test_html_waterfall_many);
	tcase_add_test(tc, test_html_escapes);
	tcase_add_test(tc, test_html_no_audit);
	tcase_add_test(tc, test_html_attribution_mismatch);
	tcase_add_test(tc, test_html_missing_members);
	tcase_add_test(tc, test_html_required);
	tcase_add_test(tc, test_html_write_error);
	suite_add_tcase(s, tc);
	tc = tcase_create("report_render_md");
	tcase_add_test(tc, test_md_fixture);
	tcase_add_test(tc, test_md_escapes);
	tcase_add_test(tc, test_md_no_audit);
	tcase_add_test(tc, test_md_missing_members);
	tcase_add_test(tc, test_md_required);
	tcase_add_test(tc, test_md_write_error);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
