/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the report renderers on tests/data/report/sample-report.json (8 features,
 * planted top feature obscure_index_vol): section order, the SVG waterfall read back from the
 * page (one bar per shown feature, sign, direction, widths proportional to |phi|, whiskers),
 * the summary naming the top feature, LIME's weights and stability in words, escaping of hostile
 * strings (HTML entities; Markdown table cells keep their column count), bidi controls, zero-width
 * characters, controls and bytes that are not UTF-8 shown as visible escapes, no script and no
 * network reference, audit null, every optional member deleted, nulled or mistyped, the required
 * parts, write errors; the retention of the cited entries, the legal holds on them and a record
 * whose payload was pruned; section 13, the suggested guard as a ready [guard] section with its
 * backtest. The fixture's renderings are left in the build folder
 * (sample-report.html, .md) for tests/integration/chromium_check.py and for people. */
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
static json_t *str(const char *s)
{
	json_t *v = json_string_nocheck(s); /* the renderer must cope with any bytes */

	ck_assert_ptr_nonnull(v);
	return v;
}

static json_t *str_list(const char *s)
{
	json_t *a = json_array();

	json_array_append_new(a, str(s));
	return a;
}

/* The fixture with feature0 as the top feature's name (everywhere a feature is named) and
 * other in every other string the document has, keys included. */
static json_t *hostile_doc_with(const char *feature0, const char *other)
{
	json_t *doc = fixture();
	json_t *f0 = json_array_get(path_obj(doc, "record", "features"), 1); /* the top feature */
	json_t *au = json_object_get(doc, "audit");

	json_object_set_new(f0, "name", str(feature0));
	json_object_set_new(f0, "unit", str(other));
	json_object_set_new(path_obj(doc, "record", NULL), "client_name", str(other));
	json_object_set_new(path_obj(doc, "record", NULL), "request_id", str(other));
	json_object_set_new(path_obj(doc, "record", NULL), "decision", str(other));
	json_object_set_new_nocheck(path_obj(doc, "record", "labels"), other, str(other));
	json_object_set_new(path_obj(doc, "model", NULL), "id", str(other));
	json_object_set_new(path_obj(doc, "model", NULL), "decision_rule", str(other));
	json_object_set_new(path_obj(doc, "model", "lineage"), "notes", str(other));
	json_array_append_new(path_obj(doc, "model", "lineage_warnings"), str(other));
	json_object_set_new(path_obj(doc, "incident", NULL), "when", str(other));
	json_object_set_new(path_obj(doc, "incident", NULL), "trigger", str(other));
	json_array_append_new(json_object_get(doc, "summary"), str(other));
	json_object_set_new(json_array_get(json_object_get(doc, "reviews"), 0), "note", str(other));
	json_object_set_new(json_object_get(doc, "checkpoint"), "note", str(other));
	json_object_set_new(json_array_get(json_object_get(doc, "proofs"), 0), "leaf_hash",
	                    str(other));
	json_object_set_new(au, "reasons", str_list(other));
	json_object_set_new(json_object_get(au, "confidence"), "meaning", str(other));
	json_object_set_new(
	    json_array_get(json_object_get(json_object_get(au, "region"), "rule"), 0), "feature",
	    str(feature0));
	json_object_set_new(json_array_get(json_object_get(au, "baseline_outliers"), 0), "feature",
	                    str(feature0));
	json_t *cf =
	    json_object_get(json_array_get(json_object_get(au, "counterfactuals"), 0), "changes");
	json_object_clear(cf);
	json_object_set_new_nocheck(cf, feature0, json_real(14));
	json_t *flip = json_object_get(au, "flip");
	json_object_set_new(flip, "fragile_features", str_list(feature0));
	json_object_set_new(json_array_get(json_object_get(flip, "flips"), 1), "feature",
	                    str(feature0));
	json_object_set_new(json_object_get(au, "params"), "software", str(other));
	json_object_set_new_nocheck(json_object_get(au, "timings_ms"), other, json_real(1));
	json_object_set_new(json_object_get(doc, "verdict"), "action", str(other));
	return doc;
}

static json_t *hostile_doc(const char *feature0)
{
	return hostile_doc_with(feature0, hostile);
}

/* ---- bidi controls, zero-width characters, controls, bytes that are not UTF-8 ---- */

/* The code points the renderers must never write (report_write.c, neutralised()), and what
 * they must write instead. */
static const uint32_t invisible_cps[] = {
    0x01,   0x08,   0x0b,   0x0c,   0x1b,   0x1f,   0x7f,   0x80,    0x85,    0x9f,    0xad,
    0x34f,  0x61c,  0x180e, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f,  0x2028,  0x2029,  0x202a,
    0x202b, 0x202c, 0x202d, 0x202e, 0x2060, 0x2061, 0x2062, 0x2063,  0x2064,  0x2066,  0x2067,
    0x2068, 0x2069, 0x206a, 0x206f, 0xfeff, 0xfff9, 0xfffb, 0xe0001, 0xe0041, 0xe007f,
};

static bool is_invisible(uint32_t cp)
{
	for (size_t i = 0; i < sizeof(invisible_cps) / sizeof(invisible_cps[0]); i++)
		if (invisible_cps[i] == cp)
			return true;
	return false;
}

static size_t put_utf8(char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (char)(0xc0 | cp >> 6);
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | cp >> 12);
		p[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | cp >> 18);
	p[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	p[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Strict UTF-8 (RFC 3629) over the whole output, and none of invisible_cps in it (newlines
 * and tabs are the format's own). */
static void assert_all_visible(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		uint32_t cp;
		int n;
		if (*p < 0x80) {
			cp = *p;
			n = 0;
		} else if (*p >= 0xc2 && *p <= 0xdf) {
			cp = *p & 0x1f;
			n = 1;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			cp = *p & 0x0f;
			n = 2;
		} else {
			ck_assert_msg(*p >= 0xf0 && *p <= 0xf4, "byte 0x%02x at %zu is not UTF-8",
			              *p, (size_t)(p - (const unsigned char *)s));
			cp = *p & 0x07;
			n = 3;
		}
		p++;
		for (int i = 0; i < n; i++, p++) {
			ck_assert_msg((*p & 0xc0) == 0x80, "cut UTF-8 sequence");
			cp = cp << 6 | (*p & 0x3f);
		}
		ck_assert_msg(n == 0 || cp >= (n == 1   ? 0x80u
		                               : n == 2 ? 0x800u
		                                        : 0x10000u),
		              "overlong UTF-8");
		ck_assert_msg(!(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff, "U+%04X", cp);
		ck_assert_msg(cp == '\n' || cp == '\t' || !is_invisible(cp),
		              "U+%04X written as it is", cp);
		ck_assert_msg(cp >= 0x20 || cp == '\n' || cp == '\t', "control 0x%02X", cp);
	}
}

/* "ok" followed by every code point of invisible_cps, then bytes that are not UTF-8: an
 * overlong '/', a surrogate, 0xFF, and a sequence cut by the end of the string. */
static char *invisible_string(void)
{
	char *s = malloc(8 * sizeof(invisible_cps) / sizeof(invisible_cps[0]) + 32), *p = s;

	ck_assert_ptr_nonnull(s);
	p += sprintf(p, "ok");
	for (size_t i = 0; i < sizeof(invisible_cps) / sizeof(invisible_cps[0]); i++)
		p += put_utf8(p, invisible_cps[i]);
	memcpy(p, "\xc0\xaf\xed\xa0\x80\xff\xe2\x82", 8);
	p[8] = '\0';
	return s;
}

/* What invisible_string() must become: "<U+0001>...<0xC0><0xAF>...", with the format's
 * escape of '<' and '>' (lt, gt). */
static char *invisible_escaped(const char *lt, const char *gt)
{
	static const uint8_t bad[] = {0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff, 0xe2, 0x82};
	char *s = malloc(64 * sizeof(invisible_cps) / sizeof(invisible_cps[0]) + 256), *p = s;

	ck_assert_ptr_nonnull(s);
	p += sprintf(p, "ok");
	for (size_t i = 0; i < sizeof(invisible_cps) / sizeof(invisible_cps[0]); i++)
		p += sprintf(p, "%sU+%04X%s", lt, invisible_cps[i], gt);
	for (size_t i = 0; i < sizeof(bad); i++)
		p += sprintf(p, "%s0x%02X%s", lt, bad[i], gt);
	return s;
}

/* A rendering of the document with the invisible string everywhere, and a file name with
 * a right-to-left override as the top feature. */
static char *render_invisible(render_fn fn, const char *save_as)
{
	char *inv = invisible_string();
	json_t *doc = hostile_doc_with("report\u202egpj.exe", inv);
	char *s = render(fn, doc);

	save(save_as, s);
	json_decref(doc);
	free(inv);
	return s;
}

/* ---- report_render_html ---- */

START_TEST(test_html_fixture)
{
	static const char *const order[] = {
	    "summary", "decision",   "input",  "why",     "change",   "fragility", "region",
	    "unusual", "confidence", "review", "lineage", "evidence", "reproduce", "guard"};
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

/* LIME (audit.lime) in the "why" section: its largest weights beside the attribution's ranking,
 * its fit, and its stability in words; unstable when runs with other seeds pick other features,
 * flip a shown weight's sign or disagree beyond their error bars. */
static json_t *lime_fit(json_t *doc)
{
	return json_object_get(path_obj(doc, "audit", "lime"), "lime");
}

static json_t *lime_weights(json_t *doc)
{
	return json_array_get(json_object_get(path_obj(doc, "audit", "lime"), "phi"), 0);
}

/* The LIME part of the "why" section of doc rendered by fn (from its heading to the section's
 * end); malloc'd, NULL when there is none. */
static char *lime_part(render_fn fn, const json_t *doc)
{
	char *s = render(fn, doc);
	const char *a = strstr(s, "A second explanation: LIME");
	const char *b = a ? strstr(a, fn == report_render_md ? "\n## 4." : "</section>") : NULL;
	char *part = a && b ? strndup(a, (size_t)(b - a)) : NULL;

	free(s);
	return part;
}

static void check_lime(render_fn fn)
{
	bool md = fn == report_render_md;
	json_t *doc = fixture();
	char *p = lime_part(fn, doc);

	/* stable: the fixture kept all 8 features, so the Jaccard index is not quoted */
	ck_assert_ptr_nonnull(p);
	ck_assert(strstr(p, "it samples 5000 inputs around this one"));
	ck_assert(strstr(p, "The line explains 87% of the model"));
	ck_assert(strstr(p, md ? "| 1 | obscure_index_vol | +1.42 | 0.05 | the same in all 10 |"
	                       : "<td class=\"name\">obscure_index_vol</td><td class=\"r\">+1.42"
	                         "</td><td class=\"r\">0.05</td><td>the same in all 10</td>"));
	ck_assert(strstr(p, md ? "| 5 | momentum_5d |" : ">5</td><td class=\"name\">momentum_5d<"));
	ck_assert_ptr_null(strstr(p, "hour_utc")); /* the top 5 only */
	ck_assert(strstr(p, "largest weight on obscure_index_vol, where the attribution puts its "
	                    "largest contribution too"));
	ck_assert(strstr(p, "LIME is stable here:"));
	ck_assert(strstr(p, "it kept every feature"));
	ck_assert(strstr(p, "CSI 93 of 100"));
	ck_assert_ptr_null(strstr(p, "unstable"));
	ck_assert_ptr_null(strstr(p, "Poor fit"));
	free(p);

	/* a weight within its error of 0 changes sign by chance: not a sign of instability */
	json_array_set_new(json_object_get(lime_fit(doc), "sign_flip"), 6, json_real(0.2));
	json_array_set_new(
	    json_array_get(json_object_get(path_obj(doc, "audit", "lime"), "stderr"), 0), 6,
	    json_real(0.1));
	p = lime_part(fn, doc);
	ck_assert(strstr(p, "changed in 2 of 10 (a weight near 0)"));
	ck_assert(strstr(p, "LIME is stable here:"));
	ck_assert(strstr(p, "no weight clear of 0 changed sign"));
	free(p);

	/* three features left out: the picks can differ, and agreed */
	for (size_t j = 5; j < 8; j++)
		json_array_set_new(lime_weights(doc), j, json_real(0));
	p = lime_part(fn, doc);
	ck_assert(strstr(p, "it picked the same features (Jaccard 1.00, 1 is the same set every "
	                    "time; VSI 100 of 100)"));
	free(p);

	/* runs that picked other features */
	json_object_set_new(lime_fit(doc), "stable", json_false());
	json_object_set_new(lime_fit(doc), "jaccard", json_real(0.45));
	p = lime_part(fn, doc);
	ck_assert(strstr(p, md ? "> **LIME is unstable here:** runs with other seeds picked "
	                       : "<div class=\"box bad\"><strong>LIME is unstable here:</strong> "
	                         "runs with other seeds picked "));
	ck_assert(strstr(p, "different features (Jaccard 0.45;"));
	ck_assert(strstr(p, "A reviewer should not rely on LIME"));
	ck_assert_ptr_null(strstr(p, "LIME is stable"));
	free(p);

	/* a shown weight whose sign changed between runs, and intervals that disagree */
	json_object_set_new(lime_fit(doc), "stable", json_true());
	json_array_set_new(json_object_get(lime_fit(doc), "sign_flip"), 1, json_real(0.3));
	json_object_set_new(lime_fit(doc), "csi", json_real(30));
	p = lime_part(fn, doc);
	ck_assert(strstr(p, "changed in 3 of 10"));
	ck_assert(strstr(p, "LIME is unstable here:"));
	/* (an apostrophe is &#39; in HTML) */
	ck_assert(strstr(p, "weight changed sign in 3 of the 10 runs; the runs"));
	ck_assert(strstr(p, "weights mostly disagree beyond their error bars (CSI 30 of 100)"));
	free(p);

	/* LIME ranks another feature first; its line fits poorly */
	json_array_set_new(lime_weights(doc), 2, json_real(-3));
	json_object_set_new(lime_fit(doc), "r2", json_real(0.3));
	p = lime_part(fn, doc);
	ck_assert(strstr(p, "largest weight on spread_bps; the attribution"));
	ck_assert(strstr(p, "largest contribution is obscure_index_vol"));
	ck_assert(strstr(p, "Poor fit:"));
	free(p);

	/* the parameters, with the others of the audit */
	char *s = render(fn, doc);
	ck_assert(strstr(s, "5000 samples in each of 10 runs, 8 features (highest_weights), kernel "
	                    "width 2.121, ridge 1"));
	free(s);

	/* an audit without LIME says nothing of it */
	json_object_del(json_object_get(doc, "audit"), "lime");
	ck_assert_ptr_null(lime_part(fn, doc));
	json_decref(doc);
}

START_TEST(test_html_lime)
{
	check_lime(report_render_html);
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

START_TEST(test_html_neutralises_invisible)
{
	/* issue 11 item 8: bidi overrides and zero-width characters went into the page as they
	 * were, so the text could say something other than the bytes */
	char *s = render_invisible(report_render_html, "invisible-report.html");
	char *want = invisible_escaped("&lt;", "&gt;");

	assert_all_visible(s);
	ck_assert_uint_ge(count(s, want), 25);
	/* a file name with a right-to-left override reads as its bytes, in the SVG too */
	ck_assert(strstr(s, "<title>report&lt;U+202E&gt;gpj.exe</title>"));
	ck_assert_uint_ge(count(s, "report&lt;U+202E&gt;gpj.exe"), 8);
	check_bars(s, fixture_phi_sorted, 8);
	free(want);
	free(s);

	/* a NUL inside a JSON string is shown, not a cut */
	json_t *doc = fixture();
	json_object_set_new(path_obj(doc, "record", "labels"), "desk", json_stringn("eu\0x", 4));
	s = render(report_render_html, doc);
	ck_assert(strstr(s, "eu&lt;U+0000&gt;x"));
	free(s);
	json_decref(doc);
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
	                                    "## 12. Reproduce",
	                                    "## 13. Suggested guard"};
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

START_TEST(test_md_lime)
{
	check_lime(report_render_md);
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

START_TEST(test_md_neutralises_invisible)
{
	char *s = render_invisible(report_render_md, "invisible-report.md");
	char *want = invisible_escaped("\\<", ">");

	assert_all_visible(s);
	ck_assert_uint_ge(count(s, want), 20);
	ck_assert_uint_ge(count(s, "report\\<U+202E>gpj.exe"), 5);
	/* code spans and the fenced note hold nothing verbatim that needs an escape: the
	 * request id and the note are escaped text */
	ck_assert_ptr_null(strstr(s, "`ok"));
	ck_assert_uint_gt(check_tables(s), 40);
	free(want);
	free(s);
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

/* The witnesses of the cited checkpoint: shown when the document has them (their names are
 * escaped like any text), absent from documents written before cosignatures. */
static void check_witnesses(render_fn fn, const char *hostile_escaped)
{
	json_t *doc = fixture(), *cp = json_object_get(doc, "checkpoint");
	char *s = render(fn, doc);

	ck_assert_ptr_null(strstr(s, "Witness"));
	free(s);
	json_object_set_new(cp, "witness_quorum", json_integer(2));
	json_object_set_new(cp, "witnessed", json_true());
	json_object_set_new(cp, "cosignatures",
	                    json_pack("[{sssssssI}{sssssssI}]", "name", "witness.example/w1",
	                              "key_id", "0a1b2c3d", "timestamp", "2023-11-14T22:13:20Z",
	                              "timestamp_unix", (json_int_t)1700000000, "name", hostile,
	                              "key_id", "4e5f6a7b", "timestamp", "2023-11-14T22:15:00Z",
	                              "timestamp_unix", (json_int_t)1700000100));
	s = render(fn, doc);
	ck_assert(strstr(s, "witness.example/w1 (key "));
	ck_assert(strstr(s, "0a1b2c3d"));
	ck_assert(strstr(s, ") at 2023-11-14T22:13:20Z; "));
	ck_assert(strstr(s, hostile_escaped));
	ck_assert_uint_eq(unescaped(s, "<script"), 0);
	ck_assert(strstr(s, "Witness quorum"));
	ck_assert(strstr(s, "met"));
	ck_assert_ptr_null(strstr(s, "not met"));
	free(s);
	json_object_set_new(cp, "witnessed", json_false());
	json_object_set_new(cp, "cosignatures", json_array());
	s = render(fn, doc);
	ck_assert(strstr(s, "no cosignatures"));
	ck_assert(strstr(s, "not met yet: the newest signed checkpoint is cited"));
	free(s);
	json_decref(doc);
}

START_TEST(test_html_witnesses)
{
	check_witnesses(report_render_html, hostile_html);
}
END_TEST

START_TEST(test_md_witnesses)
{
	check_witnesses(report_render_md, "\\<script>alert(1)\\</script>");
}
END_TEST

/* The fixture with the retention of its cited entries: the record pruned by an erasure
 * (for reason), the others present; a hold naming the incident (for reason);
 * the incident open; two background records a replay misses. The record's values are gone
 * as cmd_report.c writes them: record.pruned, every feature's value null. */
static json_t *retention_doc(const char *reason)
{
	static const char text[] =
	    "{\"entries\": ["
	    "  {\"seq\": 2, \"what\": \"model\", \"payload\": \"present\", \"holds\": "
	    "   [\"case-24-1138\"]},"
	    "  {\"seq\": 41, \"what\": \"record\", \"payload\": \"pruned\", \"cause\": \"erasure\","
	    "   \"reason\": \"\", \"prune_seq\": 90, \"pruned_unix_ns\": 1700000000000000000,"
	    "   \"holds\": [\"case-24-1138\"]},"
	    "  {\"seq\": 57, \"what\": \"incident\", \"payload\": \"present\", \"holds\": "
	    "   [\"case-24-1138\"]}],"
	    " \"holds\": [{\"hold_id\": \"case-24-1138\", \"seq\": 80, \"placed_unix_ns\": "
	    "   1700000100000000000, \"holder\": \"legal@bank.example\", \"reason\": \"\","
	    "   \"incident_id\": 57, \"covers\": [41, 57, 60]}],"
	    " \"open_incident_keeps\": true,"
	    " \"replay_missing\": ["
	    "  {\"seq\": 41, \"what\": \"record\", \"prune\": {\"seq\": 90, \"cause\": \"erasure\","
	    "   \"reason\": \"erasure: request 17\"}},"
	    "  {\"seq\": 12, \"what\": \"background\", \"prune\": {\"seq\": 91, \"cause\": "
	    "   \"retention\", \"reason\": \"retention: 400d\"}}]}";
	json_t *doc = fixture(), *rec = json_object_get(doc, "record"), *f;
	json_error_t e;
	json_t *rt = json_loads(text, 0, &e);
	size_t i;

	ck_assert_msg(rt, "retention_doc: %d: %s", e.column, e.text);
	json_object_set_new(json_array_get(json_object_get(rt, "entries"), 1), "reason",
	                    str(reason));
	json_object_set_new(json_array_get(json_object_get(rt, "holds"), 0), "reason", str(reason));
	json_object_set_new(doc, "retention", rt);
	json_object_set_new(rec, "pruned", json_true());
	json_array_foreach(json_object_get(rec, "features"), i, f)
	    json_object_set_new(f, "value", json_null());
	return doc;
}

/* Section 11 says what retention left of each cited entry and which holds keep them; 12
 * says the replay cannot be bit for bit; 2 that the record's values are gone (not
 * "missing"); an audit that may have been pruned is not "not recorded"; nothing of it
 * appears in documents written before retention. */
static void check_retention(render_fn fn, const char *hostile_escaped)
{
	json_t *doc = fixture();
	char *s = render(fn, doc);

	ck_assert_ptr_null(strstr(s, "Retention and legal holds"));
	ck_assert_ptr_null(strstr(s, "Record pruned"));
	free(s);
	json_decref(doc);

	doc = retention_doc(hostile);
	s = render(fn, doc);
	ck_assert(utf8_valid(s));
	ck_assert_uint_eq(unescaped(s, "<script"), 0);
	const char *ev = strstr(s, fn == report_render_md ? "## 11. Evidence" : "id=\"evidence\"");
	const char *rt = strstr(s, "Retention and legal holds");
	const char *rp =
	    strstr(s, fn == report_render_md ? "## 12. Reproduce" : "id=\"reproduce\"");
	ck_assert(ev && rt && rp && ev < rt && rt < rp);
	/* one row per cited entry, the pruned one with its prune entry, time, cause and reason */
	ck_assert(strstr(rt, "erasure) at 2023-11-14T22:13:20"));
	ck_assert(strstr(rt, "by prune entry 90: "));
	ck_assert(strstr(rt, hostile_escaped));
	ck_assert_uint_ge(count(rt, "case-24-1138"), 4);
	ck_assert(strstr(rt, "legal@bank.example on incident 57, covering entries 41, 57, 60"));
	ck_assert(strstr(rt, "The incident is open"));
	ck_assert(strstr(rp, "Not reproducible bit for bit."));
	ck_assert(strstr(rp, "record 41 (erasure), background 12 (retention)"));
	/* the input's values are pruned, not missing */
	ck_assert(strstr(s, "Record pruned."));
	ck_assert(strstr(s, "values pruned with the record"));
	ck_assert_ptr_null(
	    strstr(s, fn == report_render_md ? "**missing**" : "pill warn\">missing"));
	ck_assert_uint_ge(count(s, fn == report_render_md ? "*pruned*" : "<em>pruned</em>"), 8);
	if (fn == report_render_md) {
		ck_assert(strstr(rt, "| Seq | Entry | Payload | Legal hold |"));
		ck_assert(strstr(rt, "| 2 | model | **present** | case-24-1138 |"));
		ck_assert_uint_gt(check_tables(s), 40);
	} else {
		ck_assert(strstr(rt, "<span class=\"pill ok\">present</span>"));
		ck_assert(strstr(rt, "<span class=\"pill warn\">pruned</span> (erasure)"));
		ck_assert(strstr(s, ">momentum_5d <tspan class=\"fv\">= pruned</tspan>"));
	}
	free(s);

	/* no hold, not open: the page says the retention policy alone decides */
	json_t *r = json_object_get(doc, "retention");
	json_object_set_new(r, "holds", json_array());
	json_object_set_new(r, "open_incident_keeps", json_false());
	json_object_set_new(r, "replay_missing", json_array());
	s = render(fn, doc);
	ck_assert(strstr(s, "No legal hold covers these entries"));
	ck_assert_ptr_null(strstr(s, "Not reproducible"));
	free(s);

	/* an audit that may have been pruned is not called "not recorded" */
	json_object_set_new(doc, "audit", json_null());
	json_object_set_new(doc, "pruned_audits_after", json_integer(2));
	s = render(fn, doc);
	ck_assert_ptr_null(strstr(s, "No audit recorded"));
	ck_assert(strstr(s, "No readable audit."));
	ck_assert_uint_ge(count(s, "No readable audit names this incident"), 5);
	free(s);
	json_decref(doc);
}

START_TEST(test_html_retention)
{
	check_retention(report_render_html, hostile_html);
}
END_TEST

START_TEST(test_md_retention)
{
	check_retention(report_render_md, "\\<script>alert(1)\\</script>");
}
END_TEST

/* Every member of the retention document deleted, nulled or mistyped renders. */
static void check_retention_mutations(render_fn fn)
{
	json_t *doc = retention_doc("erasure: request 17"), *rt = json_object_get(doc, "retention");
	struct step path[16] = {{.key = "retention"}};

	mutations_run = 0;
	walk(fn, doc, rt, path, 1);
	ck_assert_uint_gt(mutations_run, 100);
	json_decref(doc);
}

START_TEST(test_html_retention_members)
{
	check_retention_mutations(report_render_html);
}
END_TEST

START_TEST(test_md_retention_members)
{
	check_retention_mutations(report_render_md);
}
END_TEST

/* ------------------------------------------------------------------ section 13 */

static json_t *guard_doc(const char *reason)
{
	static const char text[] =
	    "{\"name\": \"incident-57\", \"model\": \"trading-bot@4.2.0\","
	    " \"when\": \"decision == \\\"sell\\\" && feature.obscure_index_vol > 24.5\","
	    " \"action\": \"review\", \"source\": \"counterfactual\","
	    " \"features\": [\"obscure_index_vol\"], \"decision\": \"sell\","
	    " \"catches_audited_record\": true, \"feature\": \"obscure_index_vol\","
	    " \"threshold\": 24.5, \"recorded\": true, \"backtest_by\": \"evidentctl report\","
	    " \"backtest\": {\"as_of_seq\": 99, \"reviews_as_of_seq\": 140,"
	    "  \"model_id\": \"trading-bot\", \"model_version\": \"4.2.0\", \"incidents\": 40,"
	    "  \"incidents_caught\": 39, \"incidents_unknown\": 0, \"overturned\": 2,"
	    "  \"overturned_caught\": 1, \"records\": 1540, \"caught\": 40, \"routine\": 1500,"
	    "  \"routine_held\": 1, \"routine_share\": 0.00066666666666666664,"
	    "  \"records_pruned\": 3, \"catches_audited_record\": true, \"bound\": true,"
	    "  \"problem\": null}}";
	json_t *doc = fixture();
	json_error_t e;
	json_t *g = json_loads(text, 0, &e);
	char section[1024];

	ck_assert_msg(g, "guard_doc: %d: %s", e.column, e.text);
	json_object_set_new(g, "reason", str(reason));
	snprintf(section, sizeof(section),
	         "[guard incident-57]\nmodel = trading-bot@4.2.0\n"
	         "when = decision == \"sell\" && feature.obscure_index_vol > 24.5\n"
	         "action = review\nreason = %s\n",
	         reason);
	json_object_set_new(g, "section", str(section));
	json_object_set_new(doc, "suggested_guard", g);
	return doc;
}

/* Section 13: the [guard] section as it would be pasted into the config, the backtest in
 * words, the command that tests it again; the audit's absence of one said as such. */
static void check_guard(render_fn fn, const char *hostile_escaped)
{
	bool md = fn == report_render_md;
	json_t *doc = fixture();
	char *s = render(fn, doc);
	const char *g = strstr(s, md ? "## 13. Suggested guard" : "id=\"guard\"");

	ck_assert_ptr_nonnull(g);
	ck_assert(strstr(g, "The audit suggests no guard"));
	free(s);
	json_decref(doc);

	doc = guard_doc("suggested by the audit of incident 57");
	s = render(fn, doc);
	g = strstr(s, md ? "## 13. Suggested guard" : "id=\"guard\"");
	ck_assert_ptr_nonnull(g);
	ck_assert(strstr(g, "counterfactual threshold of the feature that drove the decision"));
	if (md)
		ck_assert(strstr(g,
		                 "```text\n[guard incident-57]\nmodel = trading-bot@4.2.0\n"
		                 "when = decision == \"sell\" && feature.obscure_index_vol > 24.5\n"
		                 "action = review\nreason = suggested by the audit of incident 57\n"
		                 "```\n"));
	else
		ck_assert(strstr(g, "<pre>[guard incident-57]\nmodel = trading-bot@4.2.0\n"
		                    "when = decision == &quot;sell&quot; &amp;&amp; "
		                    "feature.obscure_index_vol &gt; 24.5\n"));
	ck_assert(strstr(g, "the entries before seq 99"));
	ck_assert(strstr(g, "39 of 40 incidents of this version"));
	ck_assert(strstr(g, "1 of those (2 overturned in all, by the reviews before seq 140)"));
	ck_assert(strstr(g, "0.0667% (1 of 1500 records no incident names)"));
	ck_assert(strstr(g, "3 records whose payload was pruned"));
	ck_assert(strstr(g, "evidentctl backtest --guard incident-57 --config FILE --incidents"));
	ck_assert_ptr_null(strstr(g, "did not suggest guards"));
	ck_assert_ptr_null(strstr(g, "NOT caught"));
	if (md)
		ck_assert_uint_gt(check_tables(s), 40);
	free(s);

	/* a hostile reason is escaped, in the section too */
	json_decref(doc);
	doc = guard_doc(hostile);
	s = render(fn, doc);
	ck_assert(utf8_valid(s));
	ck_assert_uint_eq(unescaped(s, "<script"), 0);
	ck_assert(strstr(s, hostile_escaped));
	free(s);

	/* built by the report, a version the rule cannot be evaluated on, no backtest */
	json_t *gd = json_object_get(doc, "suggested_guard"), *bt = json_object_get(gd, "backtest");
	json_object_set_new(gd, "recorded", json_false());
	json_object_set_new(bt, "bound", json_false());
	json_object_set_new(bt, "problem", str("feature.obscure_index_vol is not a feature"));
	s = render(fn, doc);
	ck_assert(strstr(s, "did not suggest guards"));
	ck_assert(strstr(s, "Not evaluated:"));
	ck_assert(strstr(s, "is not a feature"));
	ck_assert_ptr_null(strstr(s, "Incidents caught"));
	free(s);
	json_object_set_new(gd, "backtest", json_null());
	s = render(fn, doc);
	ck_assert(strstr(s, "The rule does not compile: no backtest."));
	free(s);
	json_decref(doc);
}

START_TEST(test_html_guard)
{
	check_guard(report_render_html, hostile_html);
}
END_TEST

START_TEST(test_md_guard)
{
	check_guard(report_render_md, "\\<script>alert(1)\\</script>");
}
END_TEST

/* Every member of the suggested guard deleted, nulled or mistyped renders. */
static void check_guard_mutations(render_fn fn)
{
	json_t *doc = guard_doc("suggested by the audit of incident 57"),
	       *g = json_object_get(doc, "suggested_guard");
	struct step path[16] = {{.key = "suggested_guard"}};

	mutations_run = 0;
	walk(fn, doc, g, path, 1);
	ck_assert_uint_gt(mutations_run, 60);
	json_decref(doc);
}

START_TEST(test_html_guard_members)
{
	check_guard_mutations(report_render_html);
}
END_TEST

START_TEST(test_md_guard_members)
{
	check_guard_mutations(report_render_md);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report_render");
	TCase *tc = tcase_create("report_render_html");

	tcase_add_test(tc, test_html_fixture);
	tcase_add_test(tc, test_html_summary_top_feature);
	tcase_add_test(tc, test_html_lime);
	tcase_add_test(tc, test_html_waterfall);
	tcase_add_test(tc, test_html_waterfall_many);
	tcase_add_test(tc, test_html_escapes);
	tcase_add_test(tc, test_html_neutralises_invisible);
	tcase_add_test(tc, test_html_no_audit);
	tcase_add_test(tc, test_html_witnesses);
	tcase_add_test(tc, test_html_retention);
	tcase_add_test(tc, test_html_retention_members);
	tcase_add_test(tc, test_html_guard);
	tcase_add_test(tc, test_html_guard_members);
	tcase_add_test(tc, test_html_attribution_mismatch);
	tcase_add_test(tc, test_html_missing_members);
	tcase_add_test(tc, test_html_required);
	tcase_add_test(tc, test_html_write_error);
	suite_add_tcase(s, tc);
	tc = tcase_create("report_render_md");
	tcase_add_test(tc, test_md_fixture);
	tcase_add_test(tc, test_md_lime);
	tcase_add_test(tc, test_md_escapes);
	tcase_add_test(tc, test_md_neutralises_invisible);
	tcase_add_test(tc, test_md_no_audit);
	tcase_add_test(tc, test_md_witnesses);
	tcase_add_test(tc, test_md_retention);
	tcase_add_test(tc, test_md_retention_members);
	tcase_add_test(tc, test_md_guard);
	tcase_add_test(tc, test_md_guard_members);
	tcase_add_test(tc, test_md_missing_members);
	tcase_add_test(tc, test_md_required);
	tcase_add_test(tc, test_md_write_error);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
