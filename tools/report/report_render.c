/* SPDX-License-Identifier: Apache-2.0 */
/* The report document as HTML or Markdown (report_render.h). One walk over the document
 * writes both formats through a few block primitives (section, paragraph, table, list) that
 * emit HTML or Markdown, so the two keep the same content; the SVG waterfall is HTML only and
 * Markdown gets a bar chart table instead. Every string from the document goes through
 * text_out(), which escapes it for the format being written and shows bidi controls,
 * zero-width characters, other controls and bytes that are not UTF-8 as visible escapes
 * ("<U+202E>", "<0xC0>"), so the page cannot say something other than the bytes. */
#include "report_render.h"

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

#define NUM_MAX   64
#define TIME_MAX  40
#define NAME_SVG  26 /* characters of a feature name drawn in the waterfall */
#define UNIT_SVG  8  /* and of its unit */
#define MD_BAR    16 /* blocks of the longest Markdown bar */
#define THINSPACE "\u202f"

/* ---- output: one writer for both formats ---- */

struct rr {
	FILE *f;
	bool md;
	bool in_table; /* Markdown: '|' must be escaped even inside code spans */
	int err;       /* first failure: -EIO or -ENOMEM */
};

static void raw(struct rr *r, const char *s)
{
	if (fputs(s, r->f) == EOF && !r->err)
		r->err = -EIO;
}

__attribute__((format(printf, 2, 3))) static void rawf(struct rr *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vfprintf(r->f, fmt, ap) < 0 && !r->err)
		r->err = -EIO;
	va_end(ap);
}

/* Markup for one format only. */
static void html(struct rr *r, const char *s)
{
	if (!r->md)
		raw(r, s);
}

static void md(struct rr *r, const char *s)
{
	if (r->md)
		raw(r, s);
}

static void putc_checked(struct rr *r, int c)
{
	if (fputc(c, r->f) == EOF && !r->err)
		r->err = -EIO;
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The Markdown escape of s[i] (CommonMark: any ASCII punctuation may be backslash-escaped).
 * Only what could start markup is escaped, so names like obscure_index_vol stay readable:
 * '_' only next to a non-alphanumeric (intraword '_' is never emphasis), '|' only in tables,
 * '&' only before an entity-like character, and block markers ('#', '>', '-', '+', '=',
 * "1.") only at the start of the text, where a list item or paragraph may begin. */
static bool md_escape(const struct rr *r, const char *s, size_t i, size_t n)
{
	char c = s[i], next = i + 1 < n ? s[i + 1] : 0;

	switch (c) {
	case '\\':
	case '`':
	case '*':
	case '[':
	case ']':
	case '<':
	case '~':
		return true;
	case '_':
		return !(i && is_alnum(s[i - 1]) && is_alnum(next));
	case '|':
		return r->in_table;
	case '&':
		return is_alnum(next) || next == '#';
	case '#':
	case '>':
		return i == 0;
	case '-':
	case '+':
	case '=':
		return i == 0 && (next == ' ' || next == 0);
	case '.':
	case ')':
		if (next != ' ' && next != 0)
			return false;
		for (size_t k = 0; k < i; k++)
			if (s[k] < '0' || s[k] > '9')
				return false;
		return i > 0;
	default:
		return false;
	}
}

/* ---- text from the document: the one writer ---- */

/* The UTF-8 sequence at s[0..n) (RFC 3629: shortest form, no surrogates, at most U+10FFFF):
 * its length with *ret_cp set, or 0 when s[0] does not start one. Reads no byte after the
 * first one that does not fit, so a NUL ends the look. */
static size_t utf8_next(const char *s, size_t n, uint32_t *ret_cp)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t k;
	uint32_t cp;

	if (u[0] < 0x80) {
		*ret_cp = u[0];
		return 1;
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		k = 2;
		cp = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		k = 3;
		cp = u[0] & 0x0f;
		lo = u[0] == 0xe0 ? 0xa0 : 0x80;
		hi = u[0] == 0xed ? 0x9f : 0xbf;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		k = 4;
		cp = u[0] & 0x07;
		lo = u[0] == 0xf0 ? 0x90 : 0x80;
		hi = u[0] == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	for (size_t j = 1; j < k; j++) {
		if (j >= n || u[j] < (j == 1 ? lo : 0x80) || u[j] > (j == 1 ? hi : 0xbf))
			return 0;
		cp = cp << 6 | (u[j] & 0x3f);
	}
	*ret_cp = cp;
	return k;
}

/* Code points a reader cannot see, or that change how the text around them is shown, so that
 * the rendered text could say something other than its bytes: C0 and C1 controls and DEL;
 * the bidirectional controls (ALM U+061C, LRM/RLM U+200E-F, embeddings and overrides
 * U+202A-E, isolates U+2066-9); zero-width and invisible characters (soft hyphen U+00AD,
 * combining grapheme joiner U+034F, Mongolian vowel separator U+180E, U+200B-D, word joiner
 * and invisible operators U+2060-4, the deprecated format characters U+206A-F, BOM U+FEFF,
 * interlinear annotation U+FFF9-B, tag characters U+E0000-7F); line and paragraph separators
 * U+2028-9. They are written as visible escapes, "<U+202E>". */
static bool neutralised(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xad || cp == 0x34f ||
	       cp == 0x61c || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) ||
	       (cp >= 0x2066 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
	       (cp >= 0xe0000 && cp <= 0xe007f);
}

/* True when s[0..n) can be written as it is (a code span, a fenced block): valid UTF-8 with
 * nothing to neutralise, except newlines and tabs when lines. */
static bool shown_as_is(const char *s, size_t n, bool lines)
{
	uint32_t cp;

	for (size_t i = 0, k; i < n; i += k) {
		k = utf8_next(s + i, n - i, &cp);
		if (!k || (neutralised(cp) && !(lines && (cp == '\n' || cp == '\t'))))
			return false;
	}
	return true;
}

/* A visible stand-in: "<U+202E>" for a code point, "<0xC0>" for a byte that is not UTF-8
 * (byte true). */
static void escape(struct rr *r, uint32_t v, bool byte)
{
	char b[16];

	if (byte)
		snprintf(b, sizeof(b), "0x%02" PRIX32, v);
	else
		snprintf(b, sizeof(b), "U+%04" PRIX32, v);
	raw(r, r->md ? "\\<" : "&lt;");
	raw(r, b);
	raw(r, r->md ? ">" : "&gt;");
}

/* Every string from the document reaches the output here: HTML entities or Markdown
 * backslash escapes for markup, visible escapes for what neutralised() lists and for bytes
 * that are not UTF-8. Newlines, tabs and carriage returns become spaces (Markdown table cells
 * and list items are one line), or are kept (not '\r') when lines (preformatted text). */
static void text_out(struct rr *r, const char *s, size_t n, bool lines)
{
	uint32_t cp;

	for (size_t i = 0, k; i < n; i += k) {
		unsigned char c = (unsigned char)s[i];
		k = utf8_next(s + i, n - i, &cp);
		if (!k) {
			escape(r, c, true);
			k = 1;
		} else if (cp == '\n' || cp == '\t' || cp == '\r') {
			putc_checked(r, lines && cp != '\r' ? (int)cp : ' ');
		} else if (neutralised(cp)) {
			escape(r, cp, false);
		} else if (k > 1) {
			if (fwrite(s + i, 1, k, r->f) != k && !r->err)
				r->err = -EIO;
		} else if (!r->md) {
			switch (c) {
			case '&':
				raw(r, "&amp;");
				break;
			case '<':
				raw(r, "&lt;");
				break;
			case '>':
				raw(r, "&gt;");
				break;
			case '"':
				raw(r, "&quot;");
				break;
			case '\'':
				raw(r, "&#39;");
				break;
			default:
				putc_checked(r, c);
			}
		} else {
			if (md_escape(r, s, i, n))
				putc_checked(r, '\\');
			putc_checked(r, c);
		}
	}
}

static void text_n(struct rr *r, const char *s, size_t n)
{
	text_out(r, s, n, false);
}

static void text(struct rr *r, const char *s)
{
	if (s)
		text_n(r, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void textf(struct rr *r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!r->err)
			r->err = -ENOMEM;
		return;
	}
	text(r, s);
	free(s);
}

/* '<' starting a tag, comment or declaration: Markdown code is literal to a CommonMark
 * renderer, but such text is never put in code, in case the reader's renderer is not one. */
static bool looks_like_html(const char *s)
{
	for (const char *p = s; (p = strchr(p, '<')); p++)
		if (is_alnum(p[1]) || (p[1] && strchr("/!?", p[1])))
			return true;
	return false;
}

/* A document string in monospace: <code>, or a Markdown code span when it can hold it. */
static void code(struct rr *r, const char *s)
{
	if (!s)
		return;
	if (!r->md) {
		raw(r, "<code>");
		text(r, s);
		raw(r, "</code>");
		return;
	}
	/* a code span cannot escape anything: text it would not hold verbatim is written as
	 * escaped text instead */
	if (strchr(s, '`') || !shown_as_is(s, strlen(s), false) || looks_like_html(s)) {
		text(r, s);
		return;
	}
	putc_checked(r, '`');
	for (const char *p = s; *p; p++) {
		if (*p == '|' && r->in_table)
			putc_checked(r, '\\');
		putc_checked(r, *p);
	}
	putc_checked(r, '`');
}

/* ---- numbers and times ---- */

/* %.4g, except whole numbers from 10^4 on, which are printed in full with thin-space groups
 * (2 500 000 rather than 2.5e+06). */
static const char *fmt_num(double v, char buf[NUM_MAX])
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "\u221e" : "-\u221e";
	if (v == 0)
		return "0";
	double a = fabs(v);
	if (a < 1e4 || a >= 1e15) {
		snprintf(buf, NUM_MAX, "%.4g", v);
		return buf;
	}
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%.0f", a), o = 0;
	if (v < 0)
		buf[o++] = '-';
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0) {
			memcpy(buf + o, THINSPACE, sizeof(THINSPACE) - 1);
			o += (int)sizeof(THINSPACE) - 1;
		}
		buf[o++] = digits[i];
	}
	buf[o] = 0;
	return buf;
}

static const char *fmt_signed(double v, char buf[NUM_MAX])
{
	char tmp[NUM_MAX];
	const char *s = fmt_num(v, tmp);

	snprintf(buf, NUM_MAX, "%s%s", v > 0 ? "+" : "", s);
	return buf;
}

static const char *fmt_pct(double v, char buf[NUM_MAX])
{
	if (!isfinite(v))
		return fmt_num(v, buf);
	snprintf(buf, NUM_MAX, "%.3g%%", v * 100);
	return buf;
}

/* ISO-8601 UTC with milliseconds. */
static const char *fmt_time(int64_t ns, char buf[TIME_MAX])
{
	int64_t sec = ns / 1000000000, ms = ns % 1000000000 / 1000000;
	if (ms < 0) {
		sec--;
		ms += 1000;
	}
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, TIME_MAX, "@%" PRId64, sec);
		return buf;
	}
	size_t n = strftime(buf, TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, TIME_MAX - n, ".%03dZ", (int)ms);
	return buf;
}

static void num(struct rr *r, double v)
{
	char b[NUM_MAX];

	text(r, fmt_num(v, b));
}

static void num_signed(struct rr *r, double v)
{
	char b[NUM_MAX];

	text(r, fmt_signed(v, b));
}

static void pct(struct rr *r, double v)
{
	char b[NUM_MAX];

	text(r, fmt_pct(v, b));
}

/* ---- document access: absent, null and mistyped members all read as "not there" ---- */

static json_t *get(const json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	return json_is_null(v) ? NULL : v;
}

static json_t *get_obj(const json_t *o, const char *key)
{
	json_t *v = get(o, key);
	return json_is_object(v) ? v : NULL;
}

static json_t *get_arr(const json_t *o, const char *key)
{
	json_t *v = get(o, key);
	return json_is_array(v) ? v : NULL;
}

static const char *get_str(const json_t *o, const char *key)
{
	return json_string_value(get(o, key));
}

static bool get_num(const json_t *o, const char *key, double *ret)
{
	json_t *v = get(o, key);

	if (!json_is_number(v))
		return false;
	*ret = json_number_value(v);
	return true;
}

static bool get_bool(const json_t *o, const char *key, bool *ret)
{
	json_t *v = get(o, key);

	if (!json_is_boolean(v))
		return false;
	*ret = json_is_true(v);
	return true;
}

static bool get_int(const json_t *o, const char *key, int64_t *ret)
{
	json_t *v = get(o, key);

	if (json_is_integer(v))
		*ret = json_integer_value(v);
	else if (json_is_real(v) && fabs(json_real_value(v)) < 9e18)
		*ret = (int64_t)json_real_value(v);
	else
		return false;
	return true;
}

static const char *or_dash(const char *s)
{
	return s ? s : "\u2014";
}

/* A value of any type, for context, labels and parameters. */
static void value(struct rr *r, const json_t *v)
{
	char b[NUM_MAX];

	if (!v || json_is_null(v)) {
		text(r, "\u2014");
	} else if (json_is_string(v)) {
		text_n(r, json_string_value(v), json_string_length(v)); /* a NUL is shown too */
	} else if (json_is_integer(v)) {
		textf(r, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		text(r, fmt_num(json_real_value(v), b));
	} else if (json_is_boolean(v)) {
		text(r, json_is_true(v) ? "yes" : "no");
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			if (i)
				text(r, ", ");
			value(r, e);
		}
	} else {
		const char *k;
		json_t *e;
		bool first = true;
		json_object_foreach((json_t *)v, k, e)
		{
			if (!first)
				text(r, ", ");
			first = false;
			text(r, k);
			text(r, ": ");
			value(r, e);
		}
	}
}

static void time_ns(struct rr *r, const json_t *o, const char *key)
{
	char b[TIME_MAX];
	int64_t ns;

	text(r, get_int(o, key, &ns) ? fmt_time(ns, b) : "\u2014");
}

/* ---- block primitives ---- */

static void sec_begin(struct rr *r, const char *id, int number, const char *title)
{
	if (r->md) {
		rawf(r, "## %d. %s\n\n", number, title);
	} else {
		rawf(r, "<section id=\"%s\">\n<h2><span class=\"n\">%d</span>%s</h2>\n", id, number,
		     title);
	}
}

static void sec_end(struct rr *r)
{
	html(r, "</section>\n");
}

static void sub(struct rr *r, const char *title)
{
	if (r->md)
		rawf(r, "### %s\n\n", title);
	else
		rawf(r, "<h3>%s</h3>\n", title);
}

static void p_begin(struct rr *r, const char *cls)
{
	if (r->md)
		return;
	if (cls)
		rawf(r, "<p class=\"%s\">", cls);
	else
		raw(r, "<p>");
}

static void p_end(struct rr *r)
{
	raw(r, r->md ? "\n\n" : "</p>\n");
}

static void para(struct rr *r, const char *cls, const char *s)
{
	p_begin(r, cls);
	text(r, s);
	p_end(r);
}

/* A call-out: a coloured box in HTML, a one-line block quote in Markdown. */
static void box_begin(struct rr *r, const char *cls, const char *label)
{
	if (r->md) {
		raw(r, "> ");
	} else {
		rawf(r, "<div class=\"box %s\">", cls);
	}
	if (label) {
		raw(r, r->md ? "**" : "<strong>");
		text(r, label);
		raw(r, r->md ? "**" : "</strong>");
		text(r, " ");
	}
}

static void box_end(struct rr *r)
{
	raw(r, r->md ? "\n\n" : "</div>\n");
}

static void strong(struct rr *r, const char *s)
{
	raw(r, r->md ? "**" : "<strong>");
	text(r, s);
	raw(r, r->md ? "**" : "</strong>");
}

static void em(struct rr *r, const char *s)
{
	raw(r, r->md ? "*" : "<em>");
	text(r, s);
	raw(r, r->md ? "*" : "</em>");
}

/* A short status word: a coloured pill in HTML, bold in Markdown. */
static void pill(struct rr *r, const char *cls, const char *s)
{
	if (r->md) {
		strong(r, s);
		return;
	}
	rawf(r, "<span class=\"pill %s\">", cls);
	text(r, s);
	raw(r, "</span>");
}

static void kv_begin(struct rr *r)
{
	html(r, "<table class=\"kv\">\n");
}

static void kv_row_begin(struct rr *r, const char *key)
{
	if (r->md) {
		raw(r, "* **"); /* not '-': a list of facts must not join a list before it */
		text(r, key);
		raw(r, ":** ");
	} else {
		raw(r, "<tr><th>");
		text(r, key);
		raw(r, "</th><td>");
	}
}

static void kv_row_end(struct rr *r)
{
	raw(r, r->md ? "\n" : "</td></tr>\n");
}

static void kv_end(struct rr *r)
{
	raw(r, r->md ? "\n" : "</table>\n");
}

static void kv_text(struct rr *r, const char *key, const char *s)
{
	kv_row_begin(r, key);
	text(r, or_dash(s));
	kv_row_end(r);
}

static void kv_code(struct rr *r, const char *key, const char *s)
{
	kv_row_begin(r, key);
	if (s) {
		html(r, "<span class=\"hash\">");
		code(r, s);
		html(r, "</span>");
	} else {
		text(r, "\u2014");
	}
	kv_row_end(r);
}

/* heads: n column titles; align: n characters, 'l' or 'r'. */
static void tab_begin(struct rr *r, const char *cls, size_t n, const char *const *heads,
                      const char *align)
{
	if (r->md) {
		for (size_t i = 0; i < n; i++)
			rawf(r, "| %s ", heads[i]); /* our own words: no escaping */
		raw(r, "|\n");
		for (size_t i = 0; i < n; i++)
			raw(r, align[i] == 'r' ? "| ---: " : "| --- ");
		raw(r, "|\n");
		r->in_table = true;
		return;
	}
	rawf(r, "<table class=\"%s\"><thead><tr>", cls);
	for (size_t i = 0; i < n; i++) {
		raw(r, align[i] == 'r' ? "<th class=\"r\">" : "<th>");
		text(r, heads[i]);
		raw(r, "</th>");
	}
	raw(r, "</tr></thead>\n<tbody>\n");
}

static void tr_begin(struct rr *r, const char *cls)
{
	if (r->md)
		raw(r, "|");
	else if (cls)
		rawf(r, "<tr class=\"%s\">", cls);
	else
		raw(r, "<tr>");
}

static void tr_end(struct rr *r)
{
	raw(r, r->md ? "\n" : "</tr>\n");
}

static void td_begin(struct rr *r, const char *cls)
{
	if (r->md)
		raw(r, " ");
	else if (cls)
		rawf(r, "<td class=\"%s\">", cls);
	else
		raw(r, "<td>");
}

static void td_end(struct rr *r)
{
	raw(r, r->md ? " |" : "</td>");
}

static void td_text(struct rr *r, const char *cls, const char *s)
{
	td_begin(r, cls);
	text(r, s);
	td_end(r);
}

static void td_num(struct rr *r, double v)
{
	td_begin(r, "r");
	num(r, v);
	td_end(r);
}

static void tab_end(struct rr *r)
{
	raw(r, r->md ? "\n" : "</tbody></table>\n");
	r->in_table = false;
}

static void ul_begin(struct rr *r, const char *cls)
{
	if (r->md)
		return;
	if (cls)
		rawf(r, "<ul class=\"%s\">\n", cls);
	else
		raw(r, "<ul>\n");
}

static void li_begin(struct rr *r)
{
	raw(r, r->md ? "- " : "<li>");
}

static void li_end(struct rr *r)
{
	raw(r, r->md ? "\n" : "</li>\n");
}

static void ul_end(struct rr *r)
{
	raw(r, r->md ? "\n" : "</ul>\n");
}

/* Every string of an array as a bullet list; false when there is none. */
static bool string_list(struct rr *r, const json_t *arr, const char *cls)
{
	size_t i, n = 0;
	json_t *e;

	json_array_foreach(arr, i, e) n += json_is_string(e);
	if (!n)
		return false;
	ul_begin(r, cls);
	json_array_foreach(arr, i, e)
	{
		if (!json_is_string(e))
			continue;
		li_begin(r);
		text_n(r, json_string_value(e), json_string_length(e));
		li_end(r);
	}
	ul_end(r);
	return true;
}

/* ---- the record's features and the attribution ---- */

struct feature {
	const char *name;
	const char *unit;
	bool has_value, has_min, has_max, out_of_range;
	double value, min, max;
};

struct attribution {
	bool ok;             /* phi usable: drawn */
	const char *problem; /* why not, when the audit has an attribution */
	const char *method, *space;
	double base, pred, threshold;
	bool has_threshold;
	double *phi, *se; /* M each; se NULL when none */
	size_t *order;    /* feature indices, |phi| descending */
};

struct report {
	const json_t *doc, *incident, *model, *record, *audit;
	struct feature *f;
	size_t M;
	struct attribution a;
	char id[32]; /* the incident id as text */
};

static const char *feature_name(const struct report *rp, size_t j)
{
	return rp->f[j].name ? rp->f[j].name : "(unnamed)";
}

static const struct feature *feature_by_name(const struct report *rp, const char *name)
{
	for (size_t j = 0; name && j < rp->M; j++)
		if (rp->f[j].name && !strcmp(rp->f[j].name, name))
			return &rp->f[j];
	return NULL;
}

static int load_features(struct report *rp)
{
	json_t *arr = get_arr(rp->record, "features"), *e;
	size_t i;

	rp->M = json_array_size(arr);
	rp->f = calloc(rp->M ? rp->M : 1, sizeof(*rp->f));
	if (!rp->f)
		return -ENOMEM;
	json_array_foreach(arr, i, e)
	{
		struct feature *f = &rp->f[i];
		bool b;
		f->name = get_str(e, "name");
		f->unit = get_str(e, "unit");
		f->has_value = get_num(e, "value", &f->value);
		f->has_min = get_num(e, "min", &f->min);
		f->has_max = get_num(e, "max", &f->max);
		f->out_of_range = get_bool(e, "out_of_range", &b) && b;
	}
	return 0;
}

static int by_abs_phi(const void *pa, const void *pb, void *phi)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	double x = fabs(((double *)phi)[a]), y = fabs(((double *)phi)[b]);

	if (x != y)
		return x > y ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* Reads M numbers (null allowed when nulls_ok: NAN) into a new array; NULL and *bad = true
 * when arr is not exactly that. */
static double *numbers(const json_t *arr, size_t M, bool nulls_ok, bool *bad, int *err)
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

static int load_attribution(struct report *rp)
{
	struct attribution *a = &rp->a;
	json_t *at = get_obj(rp->audit, "attribution");
	int err = 0;
	bool bad = false;

	if (!at)
		return 0;
	a->method = get_str(at, "method");
	a->space = get_str(rp->audit, "prediction_space");
	if (!get_num(at, "base_value", &a->base)) {
		a->problem = "the attribution has no base value";
		return 0;
	}
	a->phi = numbers(get(at, "phi"), rp->M, false, &bad, &err);
	if (err)
		return err;
	if (bad) {
		a->problem = "the attribution does not have one finite number per input feature";
		return 0;
	}
	if (get(at, "stderr")) {
		a->se = numbers(get(at, "stderr"), rp->M, true, &bad, &err);
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
	qsort_r(a->order, rp->M, sizeof(*a->order), by_abs_phi, a->phi);
	json_t *pred = json_array_get(get_arr(rp->audit, "prediction"), 0);
	a->pred = json_is_number(pred) ? json_number_value(pred) : sum;
	a->has_threshold = a->space && !strcmp(a->space, "margin") &&
	                   get_num(get_obj(rp->audit, "params"), "threshold", &a->threshold);
	a->ok = isfinite(sum) && isfinite(a->pred);
	if (!a->ok)
		a->problem = "the attribution does not sum to a finite value";
	return 0;
}

static void report_deinit(struct report *rp)
{
	free(rp->f);
	free(rp->a.phi);
	free(rp->a.se);
	free(rp->a.order);
}

/* The waterfall's rows: the top features, then the rest summed. */
struct wf_row {
	const char *name; /* NULL: the "N other features" row */
	size_t feature, others;
	double phi, se; /* se NAN: no whisker */
	double from, to;
};

static size_t wf_rows(const struct report *rp, struct wf_row *rows)
{
	const struct attribution *a = &rp->a;
	size_t shown = rp->M < REPORT_TOP_FEATURES ? rp->M : REPORT_TOP_FEATURES, n = 0;
	double cum = a->base;

	for (size_t i = 0; i < shown; i++) {
		size_t j = a->order[i];
		rows[n] = (struct wf_row){.name = feature_name(rp, j),
		                          .feature = j,
		                          .phi = a->phi[j],
		                          .se = a->se ? a->se[j] : NAN,
		                          .from = cum};
		cum += a->phi[j];
		rows[n++].to = cum;
	}
	if (rp->M > shown) {
		double rest = 0;
		for (size_t i = shown; i < rp->M; i++)
			rest += a->phi[a->order[i]];
		rows[n] = (struct wf_row){
		    .others = rp->M - shown, .phi = rest, .se = NAN, .from = cum, .to = cum + rest};
		n++;
	}
	return n;
}

static void feature_value(struct rr *r, const struct feature *f)
{
	if (!f->has_value) {
		em(r, "missing");
		return;
	}
	num(r, f->value);
	if (f->unit) {
		text(r, " ");
		text(r, f->unit);
	}
}

/* ---- the SVG waterfall ---- */

#define SVG_W     920.0
#define SVG_LABEL 330.0 /* right edge of the feature labels */
#define SVG_X0    346.0 /* the plot */
#define SVG_X1    900.0
#define SVG_TOP   64.0 /* y of the base-value row */
#define SVG_ROW   30.0
#define SVG_BAR   18.0

struct scale {
	double lo, hi, k; /* px per unit */
};

static double sx(const struct scale *s, double v)
{
	return SVG_X0 + (v - s->lo) * s->k;
}

/* Tick step: 1, 2 or 5 times a power of ten, giving at most 8 ticks. */
static double tick_step(double range)
{
	double p = pow(10, floor(log10(range / 8))), steps[] = {1, 2, 5, 10};

	for (size_t i = 0; i < 4; i++)
		if (range / (steps[i] * p) <= 8)
			return steps[i] * p;
	return 10 * p;
}

/* A label clipped to max characters (UTF-8 aware), with an ellipsis. */
static void svg_clipped(struct rr *r, const char *s, size_t max)
{
	size_t chars = 0, i = 0;

	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max)
			break;
	}
	text_n(r, s, i);
	if (s[i])
		raw(r, "\u2026");
}

static void svg_waterfall(struct rr *r, const struct report *rp, const struct wf_row *rows,
                          size_t n)
{
	const struct attribution *a = &rp->a;
	double lo = fmin(a->base, a->pred), hi = fmax(a->base, a->pred);
	char b1[NUM_MAX], b2[NUM_MAX];

	for (size_t i = 0; i < n; i++) {
		double w = isfinite(rows[i].se) ? 1.96 * rows[i].se : 0;
		lo = fmin(lo, fmin(rows[i].from, rows[i].to - w));
		hi = fmax(hi, fmax(rows[i].from, rows[i].to + w));
	}
	if (a->has_threshold) {
		lo = fmin(lo, a->threshold);
		hi = fmax(hi, a->threshold);
	}
	if (!(hi - lo > 1e-12 * fmax(1, fabs(hi)))) {
		lo -= 1;
		hi += 1;
	}
	double pad = (hi - lo) * 0.16;
	struct scale s = {.lo = lo - pad, .hi = hi + pad};
	s.k = (SVG_X1 - SVG_X0) / (s.hi - s.lo);
	if (!isfinite(s.k) || !(s.k > 0)) {
		para(r, "muted", "The attribution's values are too far apart to draw.");
		return;
	}

	double y_pred = SVG_TOP + (double)(n + 1) * SVG_ROW, y_axis = y_pred + SVG_ROW,
	       h = y_axis + 58;
	rawf(r,
	     "<svg class=\"waterfall\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
	     "role=\"img\" aria-labelledby=\"wf-title\">\n<title id=\"wf-title\">",
	     SVG_W, h, SVG_W, h);
	textf(r, "Attribution waterfall: from the base value %s to the prediction %s",
	      fmt_num(a->base, b1), fmt_num(a->pred, b2));
	raw(r, "</title>\n");

	/* legend */
	rawf(r,
	     "<rect class=\"key pos\" x=\"%.0f\" y=\"10\" width=\"12\" height=\"12\"/>"
	     "<text class=\"legend\" x=\"%.0f\" y=\"20\">raises the output</text>\n"
	     "<rect class=\"key neg\" x=\"%.0f\" y=\"10\" width=\"12\" height=\"12\"/>"
	     "<text class=\"legend\" x=\"%.0f\" y=\"20\">lowers the output</text>\n",
	     SVG_X0, SVG_X0 + 18, SVG_X0 + 150, SVG_X0 + 168);
	if (a->se)
		rawf(r,
		     "<line class=\"whisker\" x1=\"%.0f\" x2=\"%.0f\" y1=\"16\" y2=\"16\"/>"
		     "<text class=\"legend\" x=\"%.0f\" y=\"20\">95%% interval (\u00b11.96 "
		     "s.e.)</text>\n",
		     SVG_X0 + 300, SVG_X0 + 322, SVG_X0 + 328);

	/* row bands, then the reference lines under the bars */
	for (size_t i = 0; i < n + 2; i++)
		if (i % 2 == 0)
			rawf(r,
			     "<rect class=\"band\" x=\"0\" y=\"%.1f\" width=\"%.0f\" "
			     "height=\"%.0f\"/>\n",
			     SVG_TOP + (double)i * SVG_ROW - SVG_ROW / 2, SVG_W, SVG_ROW);
	if (a->has_threshold) {
		double x = sx(&s, a->threshold);
		rawf(r,
		     "<line class=\"threshold\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>\n"
		     "<text class=\"tlabel\" x=\"%.3f\" y=\"%.1f\" text-anchor=\"middle\">",
		     x, x, SVG_TOP - SVG_ROW / 2, y_axis, x, SVG_TOP - SVG_ROW / 2 - 6);
		textf(r, "decision threshold %s", fmt_num(a->threshold, b1));
		raw(r, "</text>\n");
	}
	double xb = sx(&s, a->base), xp = sx(&s, a->pred);
	rawf(r,
	     "<line class=\"base\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>\n"
	     "<line class=\"pred\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
	     xb, xb, SVG_TOP, y_axis, xp, xp, SVG_TOP + SVG_ROW - SVG_BAR / 2, y_axis);

	/* base value row */
	rawf(r, "<text class=\"fl\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", SVG_LABEL,
	     SVG_TOP + 4);
	raw(r, "base value <tspan class=\"fv\">(average output)</tspan></text>\n");
	rawf(r, "<circle class=\"mark\" cx=\"%.3f\" cy=\"%.1f\" r=\"4\"/>", xb, SVG_TOP);
	rawf(r, "<text class=\"vl\" x=\"%.3f\" y=\"%.1f\"%s>", xb + (xb > xp ? -8 : 8), SVG_TOP + 4,
	     xb > xp ? " text-anchor=\"end\"" : "");
	text(r, fmt_num(a->base, b1));
	raw(r, "</text>\n");

	for (size_t i = 0; i < n; i++) {
		const struct wf_row *w = &rows[i];
		double y = SVG_TOP + (double)(i + 1) * SVG_ROW, x0 = sx(&s, w->from),
		       x1 = sx(&s, w->to), width = fabs(w->phi) * s.k;
		bool pos = w->phi >= 0;

		/* label: name = value */
		rawf(r, "<text class=\"fl\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", SVG_LABEL,
		     y + 4);
		if (w->name) {
			raw(r, "<title>");
			text(r, w->name);
			raw(r, "</title>");
			svg_clipped(r, w->name, NAME_SVG);
			raw(r, " <tspan class=\"fv\">= ");
			const struct feature *f = &rp->f[w->feature];
			if (f->has_value) {
				num(r, f->value);
				if (f->unit) {
					text(r, " ");
					svg_clipped(r, f->unit, UNIT_SVG);
				}
			} else {
				raw(r, "missing");
			}
			raw(r, "</tspan>");
		} else {
			rawf(r, "<tspan class=\"fv\">%zu other feature%s</tspan>", w->others,
			     w->others == 1 ? "" : "s");
		}
		raw(r, "</text>\n");

		/* the bar: from the running total, by phi */
		rawf(
		    r,
		    "<rect class=\"bar %s%s\" x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" height=\"%.0f\" "
		    "data-phi=\"%.17g\"/>\n",
		    pos ? "pos" : "neg", w->name ? "" : " other", pos ? x0 : x1, y - SVG_BAR / 2,
		    width, SVG_BAR, w->phi);
		double reach = 0;
		if (isfinite(w->se) && w->se > 0) {
			reach = 1.96 * w->se * s.k;
			rawf(r,
			     "<path class=\"whisker\" d=\"M%.3f %.1fV%.1fM%.3f %.1fH%.3fM%.3f "
			     "%.1fV%.1f\"/>\n",
			     x1 - reach, y - 5, y + 5, x1 - reach, y, x1 + reach, x1 + reach, y - 5,
			     y + 5);
		}
		/* the value beside the bar's end, outside the whisker */
		double off = fmax(6, reach + 5);
		rawf(r, "<text class=\"vl %s\" x=\"%.3f\" y=\"%.1f\"%s>", pos ? "pos" : "neg",
		     pos ? x1 + off : x1 - off, y + 4, pos ? "" : " text-anchor=\"end\"");
		text(r, fmt_signed(w->phi, b1));
		raw(r, "</text>\n");
		/* connector to the next row */
		rawf(r, "<line class=\"conn\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
		     x1, x1, y + SVG_BAR / 2, y + SVG_ROW - SVG_BAR / 2);
	}

	/* prediction row */
	rawf(r, "<text class=\"fl\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", SVG_LABEL,
	     y_pred + 4);
	raw(r, "<tspan font-weight=\"700\">prediction f(x)</tspan></text>\n");
	rawf(r,
	     "<path class=\"mark pred\" d=\"M%.3f %.1fl6 6l-6 6l-6 -6z\"/>"
	     "<text class=\"vl strong\" x=\"%.3f\" y=\"%.1f\"%s>",
	     xp, y_pred - 6, xp + (xp >= xb ? 10 : -10), y_pred + 4,
	     xp >= xb ? "" : " text-anchor=\"end\"");
	text(r, fmt_num(a->pred, b1));
	raw(r, "</text>\n");

	/* axis */
	rawf(r, "<line class=\"axis\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", SVG_X0,
	     SVG_X1, y_axis, y_axis);
	double step = tick_step(s.hi - s.lo);
	for (double t = ceil(s.lo / step) * step; t <= s.hi + step * 1e-9; t += step) {
		double x = sx(&s, t), tv = fabs(t) < step * 1e-9 ? 0 : t;
		rawf(r,
		     "<line class=\"tick\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		     "<text class=\"tl\" x=\"%.3f\" y=\"%.1f\" text-anchor=\"middle\">",
		     x, x, y_axis, y_axis + 5, x, y_axis + 19);
		text(r, fmt_num(tv, b1));
		raw(r, "</text>\n");
	}
	rawf(r, "<text class=\"at\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"middle\">",
	     (SVG_X0 + SVG_X1) / 2, y_axis + 42);
	textf(r, "model output (%s)", a->space ? a->space : "space not recorded");
	raw(r, "</text>\n</svg>\n");
}

/* The Markdown chart: one row per waterfall row, bars scaled to the largest |phi|. */
static void md_bar(struct rr *r, double v, double max, bool raises)
{
	if (v == 0 || (v > 0) != raises)
		return;
	long blocks = max > 0 ? lround(fabs(v) / max * MD_BAR) : 0;
	if (!blocks)
		raw(r, "\u258f"); /* too small for a block, but not zero */
	for (long i = 0; i < blocks; i++)
		raw(r, "\u2588");
}

static void md_chart(struct rr *r, const struct report *rp, const struct wf_row *rows, size_t n)
{
	static const char *const heads[] = {"Feature", "Value", "Contribution", "Lowers", "Raises"};
	double max = 0;

	for (size_t i = 0; i < n; i++)
		max = fmax(max, fabs(rows[i].phi));
	tab_begin(r, "", 5, heads, "lrrrl");
	for (size_t i = 0; i < n; i++) {
		tr_begin(r, NULL);
		td_begin(r, NULL);
		if (rows[i].name)
			text(r, rows[i].name);
		else
			textf(r, "%zu other feature%s", rows[i].others,
			      rows[i].others == 1 ? "" : "s");
		td_end(r);
		td_begin(r, "r");
		if (rows[i].name)
			feature_value(r, &rp->f[rows[i].feature]);
		td_end(r);
		td_begin(r, "r");
		num_signed(r, rows[i].phi);
		if (isfinite(rows[i].se)) {
			char b[NUM_MAX];
			textf(r, " \u00b1 %s", fmt_num(1.96 * rows[i].se, b));
		}
		td_end(r);
		td_begin(r, NULL);
		md_bar(r, rows[i].phi, max, false);
		td_end(r);
		td_begin(r, NULL);
		md_bar(r, rows[i].phi, max, true);
		td_end(r);
		tr_end(r);
	}
	tab_end(r);
}

/* ---- sections ---- */

static const char *verdict_class(const char *action)
{
	if (!action)
		return "none";
	if (!strcmp(action, "PROCEED"))
		return "proceed";
	if (!strcmp(action, "REVIEW"))
		return "review";
	return "pending";
}

static void header(struct rr *r, const struct report *rp)
{
	const char *trigger = get_str(rp->incident, "trigger"),
	           *decision = get_str(rp->record, "decision");

	if (r->md) {
		raw(r, "# Decision report: incident ");
		text(r, rp->id);
		raw(r, "\n\n");
	} else {
		raw(r, "<header>\n<p class=\"eyebrow\">Evidence report \u00b7 incident ");
		text(r, rp->id);
		raw(r, "</p>\n<h1>");
		if (decision) {
			text(r, "Decision \u201c");
			text(r, decision);
			text(r, "\u201d");
		} else {
			text(r, "Decision");
		}
		text(r, " by ");
		text(r, or_dash(get_str(rp->model, "id")));
		if (get_str(rp->model, "version")) {
			text(r, " ");
			text(r, get_str(rp->model, "version"));
		}
		raw(r, "</h1>\n");
	}
	p_begin(r, "meta");
	text(r, "Trigger ");
	strong(r, or_dash(trigger));
	text(r, " fired ");
	time_ns(r, rp->incident, "fired_unix_ns");
	text(r, " \u00b7 incident status ");
	text(r, or_dash(get_str(rp->incident, "status")));
	text(r, " \u00b7 report generated ");
	time_ns(r, rp->doc, "generated_unix_ns");
	p_end(r);
	html(r, "</header>\n");
}

static void summary(struct rr *r, const struct report *rp)
{
	json_t *verdict = get_obj(rp->doc, "verdict");
	const char *action = get_str(verdict, "action"), *status = get_str(rp->audit, "status");
	double c;
	char b[NUM_MAX];

	/* the verdict badge: a coloured block in HTML, a bold line in Markdown */
	if (r->md) {
		raw(r, "## Summary\n\n**Verdict: ");
		text(r, action ? action : "no verdict recorded");
		raw(r, "**");
	} else {
		rawf(r,
		     "<section id=\"summary\" class=\"summary\">\n<div class=\"verdict\">"
		     "<div class=\"badge %s\">",
		     verdict_class(action));
		text(r, action ? action : "NO VERDICT");
		raw(r, "</div><div class=\"vc\">");
	}
	if (get_num(verdict, "confidence", &c))
		textf(r, "%sexplanation confidence C = %s", r->md ? " \u00b7 " : "", fmt_num(c, b));
	else if (!r->md)
		text(r, verdict ? "confidence not recorded" : "no verdict recorded");
	raw(r, r->md ? "\n\n" : "</div></div>\n");

	if (!rp->audit) {
		box_begin(r, "warn", "No audit recorded.");
		text(r,
		     "The decision below was not audited, so there is no explanation to judge it "
		     "by.");
		box_end(r);
	} else if (status && strcmp(status, "complete")) {
		box_begin(r, "warn", "Audit incomplete.");
		textf(r, "The audit's status is \u201c%s\u201d: some findings below are missing.",
		      status);
		box_end(r);
	}
	if (!string_list(r, get_arr(rp->doc, "summary"), "sentences"))
		para(r, "muted", "No plain-language summary was generated.");

	/* the facts a reader wants first, computed here so they never depend on the prose */
	kv_begin(r);
	kv_row_begin(r, "Decision");
	text(r, or_dash(get_str(rp->record, "decision")));
	json_t *scores = get_arr(rp->record, "scores");
	if (json_array_size(scores)) {
		text(r, " (score ");
		value(r, scores);
		text(r, ")");
	}
	kv_row_end(r);
	if (rp->a.ok) {
		kv_row_begin(r, "Largest contributions");
		size_t top = rp->M < 3 ? rp->M : 3;
		for (size_t i = 0; i < top; i++) {
			size_t j = rp->a.order[i];
			if (i)
				text(r, ", ");
			strong(r, feature_name(rp, j));
			text(r, " (");
			num_signed(r, rp->a.phi[j]);
			text(r, ")");
		}
		kv_row_end(r);
	}
	json_t *flip = get_obj(rp->audit, "flip");
	bool fragile;
	if (get_bool(flip, "fragile", &fragile)) {
		kv_row_begin(r, "Fragile");
		if (fragile)
			pill(r, "bad", "yes");
		else
			text(r, "no");
		kv_row_end(r);
	}
	size_t oor = 0, missing = 0;
	for (size_t j = 0; j < rp->M; j++) {
		oor += rp->f[j].out_of_range;
		missing += !rp->f[j].has_value;
	}
	kv_row_begin(r, "Inputs");
	textf(r, "%zu feature%s, %zu outside the training range, %zu missing", rp->M,
	      rp->M == 1 ? "" : "s", oor, missing);
	kv_row_end(r);
	kv_row_begin(r, "Human reviews");
	textf(r, "%zu", json_array_size(get_arr(rp->doc, "reviews")));
	kv_row_end(r);
	kv_end(r);
	sec_end(r);
}

static void decision(struct rr *r, const struct report *rp)
{
	const json_t *m = rp->model, *rec = rp->record, *au = rp->audit;
	int64_t seq;

	sec_begin(r, "decision", 1, "Decision");
	kv_begin(r);
	kv_row_begin(r, "Model");
	text(r, or_dash(get_str(m, "id")));
	if (get_str(m, "version")) {
		text(r, " version ");
		text(r, get_str(m, "version"));
	}
	if (get_int(m, "seq", &seq))
		textf(r, " (registered at seq %" PRId64 ")", seq);
	kv_row_end(r);
	kv_text(r, "Framework", get_str(m, "framework"));
	kv_code(r, "Artifact SHA-256", get_str(m, "artifact_sha256"));
	kv_text(r, "Decision rule", get_str(m, "decision_rule"));
	kv_row_begin(r, "Recorded output");
	value(r, get_arr(rec, "scores"));
	if (get_str(m, "output_space"))
		textf(r, " (%s)", get_str(m, "output_space"));
	kv_row_end(r);
	kv_row_begin(r, "Decision");
	strong(r, or_dash(get_str(rec, "decision")));
	kv_row_end(r);
	if (au) {
		kv_row_begin(r, "Audit recomputed");
		json_t *pred = get_arr(au, "prediction");
		value(r, pred);
		if (get_str(au, "prediction_space"))
			textf(r, " (%s)", get_str(au, "prediction_space"));
		const char *d = get_str(au, "decision"), *rd = get_str(rec, "decision");
		if (d) {
			text(r, " \u2192 ");
			text(r, d);
			if (rd && strcmp(d, rd)) {
				text(r, " ");
				pill(r, "bad", "differs from the recorded decision");
			} else if (rd) {
				text(r, " ");
				pill(r, "ok", "matches");
			}
		}
		kv_row_end(r);
	}
	kv_row_begin(r, "Record");
	if (get_int(rec, "seq", &seq))
		textf(r, "seq %" PRId64, seq);
	else
		text(r, "\u2014");
	if (get_str(rec, "request_id")) {
		text(r, ", request ");
		code(r, get_str(rec, "request_id"));
	}
	kv_row_end(r);
	kv_text(r, "Client", get_str(rec, "client_name"));
	kv_row_begin(r, "Time (UTC)");
	time_ns(r, rec, "timestamp_unix_ns");
	kv_row_end(r);
	if (json_object_size(get_obj(rec, "context"))) {
		kv_row_begin(r, "Context");
		value(r, get_obj(rec, "context"));
		kv_row_end(r);
	}
	if (json_object_size(get_obj(rec, "labels"))) {
		kv_row_begin(r, "Labels");
		value(r, get_obj(rec, "labels"));
		kv_row_end(r);
	}
	kv_row_begin(r, "Trigger");
	text(r, or_dash(get_str(rp->incident, "trigger")));
	if (get_str(rp->incident, "when")) {
		text(r, ": ");
		code(r, get_str(rp->incident, "when"));
	}
	kv_row_end(r);
	kv_row_begin(r, "Audit methods");
	value(r, get_arr(rp->incident, "methods"));
	kv_row_end(r);
	bool recovered;
	if (get_bool(rp->incident, "recovered", &recovered) && recovered)
		kv_text(r, "Recovered", "yes: the incident was completed after a daemon restart");
	kv_end(r);
	sec_end(r);
}

static void range(struct rr *r, const struct feature *f)
{
	if (f->has_min && f->has_max) {
		num(r, f->min);
		text(r, " \u2013 ");
		num(r, f->max);
	} else if (f->has_min) {
		text(r, "\u2265 ");
		num(r, f->min);
	} else if (f->has_max) {
		text(r, "\u2264 ");
		num(r, f->max);
	} else {
		em(r, "not recorded");
	}
}

static void input(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Feature", "Value", "Training range", "Flag"};

	sec_begin(r, "input", 2, "Input");
	if (!rp->M) {
		para(r, "muted", "The record carries no features.");
		sec_end(r);
		return;
	}
	tab_begin(r, "data", 4, heads, "lrrl");
	for (size_t j = 0; j < rp->M; j++) {
		const struct feature *f = &rp->f[j];
		tr_begin(r, f->out_of_range ? "flagged" : NULL);
		td_text(r, "name", feature_name(rp, j));
		td_begin(r, "r");
		feature_value(r, f);
		td_end(r);
		td_begin(r, "r");
		range(r, f);
		td_end(r);
		td_begin(r, NULL);
		if (f->out_of_range)
			pill(r, "bad", "out of range");
		else if (!f->has_value)
			pill(r, "warn", "missing");
		td_end(r);
		tr_end(r);
	}
	tab_end(r);
	sec_end(r);
}

static bool no_audit(struct rr *r, const struct report *rp)
{
	if (rp->audit)
		return false;
	para(r, "muted", "No audit recorded for this incident.");
	return true;
}

/* LIME's top weights, drawn in the "why" section */
#define LIME_TOP_FEATURES 5

/* In how many of the runs feature j's LIME weight had the minority sign (sign_flip is that
 * share), or -1 when not recorded. */
static double sign_changes(const double *flip, double runs, size_t j)
{
	return flip && isfinite(flip[j]) && runs ? round(flip[j] * runs) : -1;
}

/* Is weight j clear of 0 (outside +-1.96 standard errors; true without one)? A weight within
 * its error of 0 changes sign between runs by chance: that says nothing of LIME's stability. */
static bool clear_of_zero(const double *w, const double *se, size_t j)
{
	return !se || !isfinite(se[j]) || fabs(w[j]) > 1.96 * se[j];
}

/* LIME's result (audit.lime) in plain words: what it is, how well its line fits, its largest
 * weights beside the attribution's ranking, and whether re-runs with other seeds agree. */
static void lime(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"#", "Feature", "Weight", "Std. error",
	                                    "Sign over the runs"};
	json_t *o = get_obj(rp->audit, "lime"), *fit = get_obj(o, "lime");
	char b1[NUM_MAX], b2[NUM_MAX];
	double r2 = NAN, fx, g, jac, csi, vsi, runs = 0, samples;
	bool stable = false, bad = false;
	int err = 0;

	if (!o)
		return;
	sub(r, "A second explanation: LIME");
	if (!fit) {
		para(r, "muted", "LIME ran, but its fit was not recorded.");
		return;
	}
	if (!get_num(fit, "repeats", &runs) || !(runs >= 1 && runs <= 1e6))
		runs = 0;
	p_begin(r, NULL);
	text(r, "LIME explains the same output another way: it samples ");
	if (get_num(fit, "samples", &samples))
		textf(r, "%s ", fmt_num(samples, b1));
	text(r, "inputs around this one, notes for each feature whether a sample falls in the "
	        "same quartile bin as this input, and fits a weighted straight line to the "
	        "model's outputs there. A feature's weight is how much being in this input's bin "
	        "moves the output. It does not depend on the attribution above: where the two "
	        "agree, the reasons are more credible.");
	if (get_num(fit, "r2", &r2))
		textf(r, " The line explains %s of the model's variation near this input",
		      fmt_pct(r2, b1));
	if (get_num(fit, "local_prediction", &g) && get_num(fit, "fx", &fx))
		textf(r, "%s at this input it gives %s where the model gives %s",
		      isnan(r2) ? " At" : ";", fmt_num(g, b1), fmt_num(fx, b2));
	if (!isnan(r2) || get(fit, "fx"))
		text(r, ".");
	p_end(r);
	if (r2 < 0.5) {
		box_begin(r, "warn", "Poor fit:");
		text(r, "the line follows the model only loosely here, so its weights are rough.");
		box_end(r);
	}

	/* the largest weights, with their signs over the runs */
	double *w = numbers(json_array_get(get_arr(o, "phi"), 0), rp->M, false, &bad, &err);
	bool bad_se = false, bad_flip = false;
	double *se = numbers(json_array_get(get_arr(o, "stderr"), 0), rp->M, true, &bad_se, &err);
	double *flip = numbers(get_arr(fit, "sign_flip"), rp->M, true, &bad_flip, &err);
	size_t *order = malloc((rp->M ? rp->M : 1) * sizeof(*order)), shown = 0, selected = 0;
	char problems[1024] = "";
	size_t pl = 0;

	if (err || !order) {
		r->err = r->err ? r->err : -ENOMEM;
		goto out;
	}
	if (!w) {
		para(r, "muted", "LIME's weights do not have one number per input feature.");
	} else {
		for (size_t j = 0; j < rp->M; j++) {
			order[j] = j;
			selected += w[j] != 0;
		}
		qsort_r(order, rp->M, sizeof(*order), by_abs_phi, w);
		shown = selected < LIME_TOP_FEATURES ? selected : LIME_TOP_FEATURES;
	}
	if (shown) {
		tab_begin(r, "data", 5, heads, "rlrrl");
		for (size_t i = 0; i < shown; i++) {
			size_t j = order[i];
			tr_begin(r, NULL);
			td_begin(r, "r");
			textf(r, "%zu", i + 1);
			td_end(r);
			td_text(r, "name", feature_name(rp, j));
			td_begin(r, "r");
			num_signed(r, w[j]);
			td_end(r);
			td_begin(r, "r");
			if (se && isfinite(se[j]))
				num(r, se[j]);
			td_end(r);
			td_begin(r, NULL);
			double k = sign_changes(flip, runs, j);
			if (k > 0)
				textf(r, "changed in %.0f of %.0f%s", k, runs,
				      clear_of_zero(w, se, j) ? "" : " (a weight near 0)");
			else if (k == 0)
				textf(r, "the same in all %.0f", runs);
			else
				text(r, "\u2014");
			td_end(r);
			tr_end(r);
		}
		tab_end(r);
		p_begin(r, NULL);
		if (rp->a.ok && rp->M && order[0] == rp->a.order[0])
			textf(r,
			      "LIME puts its largest weight on %s, where the attribution puts its "
			      "largest contribution too.",
			      feature_name(rp, order[0]));
		else if (rp->a.ok && rp->M)
			textf(r,
			      "LIME puts its largest weight on %s; the attribution's largest "
			      "contribution is %s's.",
			      feature_name(rp, order[0]), feature_name(rp, rp->a.order[0]));
		else
			textf(r, "LIME puts its largest weight on %s.", feature_name(rp, order[0]));
		p_end(r);
	}

	/* stability over the runs with other seeds: a weight clear of 0 whose sign changed, */
	for (size_t i = 0; w && i < selected && pl < sizeof(problems); i++) {
		size_t j = order[i];
		double k = sign_changes(flip, runs, j);
		if (k > 0 && clear_of_zero(w, se, j))
			pl +=
			    (size_t)snprintf(problems + pl, sizeof(problems) - pl,
			                     "%s%s's weight changed sign in %.0f of the %.0f runs",
			                     pl ? "; " : "", feature_name(rp, j), k, runs);
	}
	/* other features picked, intervals that disagree */
	if (pl >= sizeof(problems))
		pl = sizeof(problems) - 1;
	if (get_bool(fit, "stable", &stable) && !stable && get_num(fit, "jaccard", &jac))
		pl += (size_t)snprintf(problems + pl, sizeof(problems) - pl,
		                       "%sruns with other seeds picked different features (Jaccard "
		                       "%.2f; 1 is the same "
		                       "set every time, LIME counts below 0.8 as unstable)",
		                       pl ? "; " : "", jac);
	else if (get_bool(fit, "stable", &stable) && !stable)
		pl += (size_t)snprintf(problems + pl, sizeof(problems) - pl,
		                       "%sruns with other seeds picked different features",
		                       pl ? "; " : "");
	if (pl >= sizeof(problems))
		pl = sizeof(problems) - 1;
	if (get_num(fit, "csi", &csi) && csi < 50)
		snprintf(problems + pl, sizeof(problems) - pl,
		         "%sthe runs' weights mostly disagree beyond their error bars (CSI %.0f of "
		         "100)",
		         pl ? "; " : "", csi);
	if (problems[0]) {
		box_begin(r, "bad", "LIME is unstable here:");
		text(r, problems);
		text(r, ". A reviewer should not rely on LIME's ranking for this decision; rely on "
		        "the attribution above.");
		box_end(r);
	} else if (get_bool(fit, "stable", &stable) && get_num(fit, "jaccard", &jac)) {
		bool all_kept = w && rp->M > 1 && selected == rp->M;
		box_begin(r, "ok", "LIME is stable here:");
		if (runs)
			textf(r, "over %.0f runs with different seeds, ", runs);
		if (!all_kept) {
			textf(r,
			      "it picked the same features (Jaccard %.2f, 1 is the same set every "
			      "time",
			      jac);
			if (get_num(fit, "vsi", &vsi))
				textf(r, "; VSI %.0f of 100", vsi);
			text(r, ")");
		} else {
			text(r, "it kept every feature (so its picks cannot differ between runs)");
		}
		if (get_num(fit, "csi", &csi))
			textf(r, ", its weights agreed within their error bars (CSI %.0f of 100)",
			      csi);
		if (flip && shown)
			text(r, ", and no weight clear of 0 changed sign");
		text(r, ".");
		box_end(r);
	}
out:
	free(w);
	free(se);
	free(flip);
	free(order);
}

static void why(struct rr *r, const struct report *rp)
{
	const struct attribution *a = &rp->a;
	char b1[NUM_MAX], b2[NUM_MAX];

	sec_begin(r, "why", 3, "Why: what drove the output");
	if (no_audit(r, rp))
		goto out;
	json_t *reasons = get_arr(rp->audit, "reasons");
	const char *status = get_str(rp->audit, "status");
	if (status && strcmp(status, "complete")) {
		box_begin(r, "warn", "Audit status:");
		text(r, status);
		box_end(r);
	}
	if (json_array_size(reasons)) {
		p_begin(r, NULL);
		text(r, "What the audit reports about its own run:");
		p_end(r);
		string_list(r, reasons, NULL);
	}
	if (!get_obj(rp->audit, "attribution")) {
		para(r, "muted", "No attribution was computed.");
		goto out;
	}
	if (!a->ok) {
		box_begin(r, "warn", "Attribution not shown:");
		text(r, a->problem);
		text(r, ".");
		box_end(r);
		goto out;
	}
	p_begin(r, NULL);
	textf(r,
	      "Each bar is one feature's contribution (%s) to the model's output, in %s units. "
	      "Starting from the base value %s, the average output over the background data, the "
	      "contributions add up to the prediction %s.",
	      a->method ? a->method : "method not recorded", a->space ? a->space : "output",
	      fmt_num(a->base, b1), fmt_num(a->pred, b2));
	if (rp->M > REPORT_TOP_FEATURES)
		textf(r, " The %d largest are drawn; the other %zu are summed in one bar.",
		      REPORT_TOP_FEATURES, rp->M - REPORT_TOP_FEATURES);
	if (a->has_threshold && !r->md)
		textf(r, " The dotted red line marks the decision threshold %s.",
		      fmt_num(a->threshold, b1));
	if (a->se)
		text(r, " The method is sampled: whiskers show a 95% interval (\u00b11.96 standard "
		        "errors).");
	p_end(r);

	struct wf_row *rows = calloc(REPORT_TOP_FEATURES + 1, sizeof(*rows));
	if (!rows) {
		r->err = -ENOMEM;
		goto out;
	}
	size_t n = wf_rows(rp, rows);
	if (r->md) {
		p_begin(r, NULL);
		textf(r, "Base value %s \u2192 prediction %s", fmt_num(a->base, b1),
		      fmt_num(a->pred, b2));
		if (a->has_threshold)
			textf(r, " (decision threshold %s)", fmt_num(a->threshold, b1));
		text(r, ".");
		p_end(r);
		md_chart(r, rp, rows, n);
	} else {
		raw(r, "<figure>\n");
		svg_waterfall(r, rp, rows, n);
		raw(r, "</figure>\n");
	}
	free(rows);

	/* every attribution, for the reader who wants the numbers */
	static const char *const heads[] = {"#", "Feature", "Value", "Contribution", "Std. error"};
	if (r->md)
		sub(r, "All attributions");
	else
		raw(r, "<details><summary>All attributions as a table</summary>\n");
	tab_begin(r, "data", a->se ? 5 : 4, heads, "rlrrr");
	for (size_t i = 0; i < rp->M; i++) {
		size_t j = a->order[i];
		tr_begin(r, NULL);
		td_begin(r, "r");
		textf(r, "%zu", i + 1);
		td_end(r);
		td_text(r, "name", feature_name(rp, j));
		td_begin(r, "r");
		feature_value(r, &rp->f[j]);
		td_end(r);
		td_begin(r, "r");
		num_signed(r, a->phi[j]);
		td_end(r);
		if (a->se) {
			td_begin(r, "r");
			if (isfinite(a->se[j]))
				num(r, a->se[j]);
			td_end(r);
		}
		tr_end(r);
	}
	tab_end(r);
	html(r, "</details>\n");
out:
	lime(r, rp);
	sec_end(r);
}

static void counterfactuals(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"#", "Change", "New output", "New decision",
	                                    "Distance"};
	json_t *cfs = get(rp->audit, "counterfactuals"), *cf;
	size_t i;

	sec_begin(r, "change", 4, "What would change it");
	if (no_audit(r, rp))
		goto out;
	if (!json_is_array(cfs)) {
		para(r, "muted", "No counterfactual search was run.");
		goto out;
	}
	if (!json_array_size(cfs)) {
		para(r, NULL,
		     "The search found no change to the input that reverses the decision.");
		goto out;
	}
	para(r, NULL,
	     "The smallest changes to the input found that reverse the decision, nearest first. "
	     "Distance is in median-absolute-deviation units summed over the changed features.");
	tab_begin(r, "data", 5, heads, "rlrlr");
	json_array_foreach(cfs, i, cf)
	{
		json_t *changes = get_obj(cf, "changes"), *v;
		const char *k;
		bool first = true;
		double d;
		tr_begin(r, NULL);
		td_begin(r, "r");
		textf(r, "%zu", i + 1);
		td_end(r);
		td_begin(r, NULL);
		json_object_foreach(changes, k, v)
		{
			const struct feature *f = feature_by_name(rp, k);
			if (!first)
				raw(r, r->md ? "; " : "<br>");
			first = false;
			strong(r, k);
			text(r, ": ");
			if (f)
				feature_value(r, f);
			text(r, " \u2192 ");
			if (json_is_number(v))
				num(r, json_number_value(v));
			else if (json_is_null(v))
				em(r, "missing");
			else
				value(r, v);
		}
		if (first)
			text(r, "\u2014");
		td_end(r);
		td_begin(r, "r");
		value(r, get(cf, "prediction"));
		td_end(r);
		td_begin(r, NULL);
		value(r, get(cf, "decision")); /* a label, or the decision's index */
		td_end(r);
		td_begin(r, "r");
		if (get_num(cf, "distance", &d))
			num(r, d);
		td_end(r);
		tr_end(r);
	}
	tab_end(r);
out:
	sec_end(r);
}

struct flip_row {
	const json_t *o;
	double distance; /* DBL_MAX: flips at an unknown distance; INFINITY: never */
};

static int by_distance(const void *pa, const void *pb)
{
	const struct flip_row *a = pa, *b = pb;

	if (a->distance != b->distance)
		return a->distance < b->distance ? -1 : 1;
	return a->o < b->o ? -1 : a->o > b->o;
}

static void fragility(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Feature", "Current value", "Flips the decision at",
	                                    "Distance (MAD)", "Notes"};
	json_t *flip = get_obj(rp->audit, "flip"), *flips = get_arr(flip, "flips"), *e;
	bool fragile;
	double margin;
	size_t i;

	sec_begin(r, "fragility", 5, "Fragility");
	if (no_audit(r, rp))
		goto out;
	if (!flip) {
		para(r, "muted", "No flip test was run.");
		goto out;
	}
	if (get_bool(flip, "fragile", &fragile) && fragile) {
		box_begin(r, "bad", "Fragile.");
		text(r,
		     "Changing one feature that the explanation ranks as unimportant, by a small "
		     "plausible amount within its training range, reverses the decision. The "
		     "attribution above therefore does not capture everything the decision "
		     "depends on; a person should look at it.");
		json_t *ff = get_arr(flip, "fragile_features");
		if (json_array_size(ff)) {
			text(r, " Feature");
			text(r, json_array_size(ff) == 1 ? ": " : "s: ");
			value(r, ff);
			text(r, ".");
		}
		box_end(r);
	} else if (get_bool(flip, "fragile", &fragile)) {
		box_begin(r, "ok", "Not fragile.");
		text(r,
		     "No feature the explanation ranks as unimportant reverses the decision with a "
		     "small plausible change on its own.");
		box_end(r);
	}
	if (get_num(flip, "margin", &margin)) {
		p_begin(r, NULL);
		text(r, "Distance of the output from the decision threshold: ");
		num(r, margin);
		text(r, ".");
		p_end(r);
	}
	size_t n = json_array_size(flips);
	if (!n)
		goto out;
	struct flip_row *rows = calloc(n, sizeof(*rows));
	if (!rows) {
		r->err = -ENOMEM;
		goto out;
	}
	json_array_foreach(flips, i, e)
	{
		rows[i].o = e;
		if (!get(e, "value") || !get_num(e, "distance", &rows[i].distance))
			rows[i].distance = get(e, "value") ? DBL_MAX : INFINITY;
	}
	qsort(rows, n, sizeof(*rows), by_distance);
	para(r, NULL,
	     "Each feature changed on its own, everything else fixed: the nearest value that "
	     "reverses the decision, nearest first.");
	tab_begin(r, "data", 5, heads, "lrrrl");
	for (i = 0; i < n; i++) {
		const json_t *o = rows[i].o;
		const char *name = get_str(o, "feature");
		const struct feature *f = feature_by_name(rp, name);
		bool low;
		double d;
		json_t *v = get(o, "value");
		tr_begin(r, v ? NULL : "quiet");
		td_text(r, "name", or_dash(name));
		td_begin(r, "r");
		if (f)
			feature_value(r, f);
		td_end(r);
		td_begin(r, "r");
		if (json_is_number(v))
			num(r, json_number_value(v));
		else if (v)
			value(r, v);
		else
			em(r, "no single-feature flip");
		td_end(r);
		td_begin(r, "r");
		if (get_num(o, "distance", &d))
			num(r, d);
		td_end(r);
		td_begin(r, NULL);
		bool plausible = true, immutable = false;
		get_bool(o, "plausible", &plausible);
		if (get_bool(o, "low_importance", &low) && low)
			pill(r, v && plausible ? "bad" : "warn", "low importance");
		if (v && !plausible) {
			text(r, " ");
			pill(r, "none", "beyond a plausible change");
		}
		if (get_bool(o, "immutable", &immutable) && immutable) {
			text(r, " ");
			pill(r, "none", "immutable");
		}
		td_end(r);
		tr_end(r);
	}
	tab_end(r);
	free(rows);
out:
	sec_end(r);
}

static void bound(struct rr *r, const json_t *t)
{
	const char *name = or_dash(get_str(t, "feature"));
	bool missing, incl;
	double lo, hi;
	bool has_lo = get_num(t, "lo", &lo), has_hi = get_num(t, "hi", &hi);

	if (get_bool(t, "missing", &missing) && missing) {
		strong(r, name);
		text(r, " is missing");
		return;
	}
	if (has_lo) {
		num(r, lo);
		text(r, get_bool(t, "lo_inclusive", &incl) && !incl ? " < " : " \u2264 ");
	}
	strong(r, name);
	if (has_hi) {
		text(r, get_bool(t, "hi_inclusive", &incl) && !incl ? " < " : " \u2264 ");
		num(r, hi);
	}
	if (!has_lo && !has_hi)
		text(r, " takes any value");
}

static void region(struct rr *r, const struct report *rp)
{
	json_t *rg = get_obj(rp->audit, "region"), *rule = get_arr(rg, "rule"), *t;
	double prec, cov;
	bool exact, decision_only;
	size_t i;

	sec_begin(r, "region", 6, "Where else it happens");
	if (no_audit(r, rp))
		goto out;
	if (!rg) {
		para(r, "muted", "No search for similar failures was run.");
		goto out;
	}
	p_begin(r, NULL);
	if (get_bool(rg, "decision_only", &decision_only) && decision_only)
		text(r, "The model makes the same decision on inputs where:");
	else
		text(r, "The model makes the same decision, for the same leading reasons (the same "
		        "top features with the same signs), on inputs where:");
	p_end(r);
	if (json_array_size(rule)) {
		ul_begin(r, "rule");
		json_array_foreach(rule, i, t)
		{
			li_begin(r);
			bound(r, t);
			li_end(r);
		}
		ul_end(r);
	} else {
		para(r, "muted", "(no bound: the rule covers every input)");
	}
	kv_begin(r);
	if (get_num(rg, "precision", &prec)) {
		json_t *ci = get_arr(rg, "precision_ci95");
		kv_row_begin(r, "Precision");
		pct(r, prec);
		if (json_is_number(json_array_get(ci, 0)) &&
		    json_is_number(json_array_get(ci, 1))) {
			text(r, " (95% CI ");
			pct(r, json_number_value(json_array_get(ci, 0)));
			text(r, " \u2013 ");
			pct(r, json_number_value(json_array_get(ci, 1)));
			text(r, ")");
		}
		text(r, " of the inputs sampled in this region behave the same way");
		kv_row_end(r);
	}
	if (get_num(rg, "coverage", &cov)) {
		kv_row_begin(r, "Coverage");
		pct(r, cov);
		text(r, " of the reference data falls in this region");
		kv_row_end(r);
	}
	kv_row_begin(r, "Method");
	text(r, or_dash(get_str(rg, "method")));
	if (get_bool(rg, "exact", &exact))
		text(r, exact ? " (exact: checked on every cell of the region)" : " (estimated)");
	kv_row_end(r);
	kv_end(r);
out:
	sec_end(r);
}

static void unusual(struct rr *r, const struct report *rp)
{
	json_t *bo = get(rp->audit, "baseline_outliers"), *e;
	size_t i;
	double phi, usual, ratio;
	char b[NUM_MAX];

	sec_begin(r, "unusual", 7, "Unusual attributions");
	if (no_audit(r, rp))
		goto out;
	if (!json_is_array(bo)) {
		para(r, "muted", "Attributions were not compared with their usual levels.");
		goto out;
	}
	if (!json_array_size(bo)) {
		para(r, NULL,
		     "No feature's attribution is unusually large compared with its usual level on "
		     "the background data.");
		goto out;
	}
	ul_begin(r, "outliers");
	json_array_foreach(bo, i, e)
	{
		li_begin(r);
		strong(r, or_dash(get_str(e, "feature")));
		text(r, "\u2019s attribution");
		if (get_num(e, "phi", &phi))
			textf(r, " (%s)", fmt_signed(phi, b));
		if (get_num(e, "ratio", &ratio))
			textf(r, " is %s\u00d7 its usual level", fmt_num(ratio, b));
		else
			text(r, " is unusually large");
		if (get_num(e, "usual", &usual))
			textf(r, " (mean |attribution| on the background: %s)", fmt_num(usual, b));
		text(r, ".");
		li_end(r);
	}
	ul_end(r);
out:
	sec_end(r);
}

/* One row of the confidence table; detail (may be empty) is printed after the meaning. */
static void component(struct rr *r, const json_t *c, const char *key, const char *label,
                      const char *what, const char *detail)
{
	double v;
	bool b;

	tr_begin(r, NULL);
	td_text(r, NULL, label);
	td_begin(r, "r");
	if (get_num(c, key, &v))
		num(r, v);
	else if (get_bool(c, key, &b))
		pill(r, b == !strcmp(key, "gate") ? "ok" : "bad", b ? "yes" : "no");
	else
		text(r, "\u2014");
	td_end(r);
	td_begin(r, NULL);
	text(r, what);
	if (*detail) {
		text(r, " (");
		text(r, detail);
		text(r, ")");
	}
	td_end(r);
	tr_end(r);
}

static void confidence(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Component", "Value", "Meaning"};
	json_t *c = get_obj(rp->audit, "confidence"), *v = get_obj(rp->doc, "verdict");
	double cv, below;

	sec_begin(r, "confidence", 8, "Confidence and verdict");
	if (!rp->audit) {
		no_audit(r, rp);
	} else if (!c) {
		para(r, "muted", "No explanation confidence was computed.");
	} else {
		p_begin(r, "big");
		text(r, "Explanation confidence C = ");
		html(r, "<strong>");
		md(r, "**");
		if (get_num(c, "c", &cv))
			num(r, cv);
		else
			text(r, "not recorded");
		html(r, "</strong>");
		md(r, "**");
		p_end(r);
		tab_begin(r, "data", 3, heads, "lrl");
		json_t *gates = get_arr(c, "gates_failed"), *g;
		char neighbours[64] = "", against[160] = "", failed[160] = "";
		int64_t nb;
		size_t i;
		if (get_int(c, "noise_neighbours", &nb))
			snprintf(neighbours, sizeof(neighbours), "%" PRId64 " neighbours", nb);
		if (get_str(c, "a_method_against"))
			snprintf(against, sizeof(against), "against %s",
			         get_str(c, "a_method_against"));
		json_array_foreach(gates, i, g)
		{
			size_t o = strlen(failed);
			if (json_is_string(g) && o < sizeof(failed))
				snprintf(failed + o, sizeof(failed) - o, "%s%s",
				         o ? ", " : "failed: ", json_string_value(g));
		}
		component(r, c, "p_est", "P_est", "the top features reappear when recomputed", "");
		component(r, c, "p_noise", "P_noise",
		          "the top features reappear on inputs changed by measurement noise",
		          neighbours);
		component(r, c, "a_method", "A_method", "an independent method agrees", against);
		component(r, c, "gate", "Gates passed",
		          "efficiency, a deterministic model, the recorded score", failed);
		component(r, c, "fragile", "Fragile", "a low-importance feature flips the decision",
		          "");
		component(r, c, "capped", "Capped", "C was lowered to 0.3 because of fragility",
		          "");
		tab_end(r);
		if (get_str(c, "meaning")) {
			box_begin(r, "info", "What C means:");
			text(r, get_str(c, "meaning"));
			box_end(r);
		}
	}

	sub(r, "Verdict");
	if (!v) {
		para(r, "muted", "No verdict was sent.");
		goto out;
	}
	p_begin(r, NULL);
	pill(r, verdict_class(get_str(v, "action")), or_dash(get_str(v, "action")));
	if (get_num(v, "confidence", &cv))
		textf(r, " with confidence %s", fmt_num(cv, (char[NUM_MAX]){0}));
	text(r, ", sent ");
	time_ns(r, v, "sent_unix_ns");
	bool delivered;
	if (get_bool(v, "delivered", &delivered))
		text(r,
		     delivered ? " and delivered to the client" : ", not delivered to the client");
	text(r, ".");
	if (get_num(rp->incident, "review_below", &below))
		textf(r, " The rule asks for human review when C is below %s.",
		      fmt_num(below, (char[NUM_MAX]){0}));
	p_end(r);
	string_list(r, get_arr(v, "reasons"), NULL);
out:
	sec_end(r);
}

static void reviews(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Seq", "Received (UTC)", "Reviewer", "Outcome", "Note"};
	json_t *rv = get_arr(rp->doc, "reviews"), *e;
	size_t i;
	int64_t seq;

	sec_begin(r, "review", 9, "Human review");
	if (!json_array_size(rv)) {
		para(r, "muted", "No human review recorded.");
		goto out;
	}
	tab_begin(r, "data", 5, heads, "rllll");
	json_array_foreach(rv, i, e)
	{
		tr_begin(r, NULL);
		td_begin(r, "r");
		if (get_int(e, "seq", &seq))
			textf(r, "%" PRId64, seq);
		td_end(r);
		td_begin(r, "nowrap");
		time_ns(r, e, "received_unix_ns");
		td_end(r);
		td_text(r, NULL, or_dash(get_str(e, "reviewer")));
		td_begin(r, NULL);
		strong(r, or_dash(get_str(e, "outcome")));
		td_end(r);
		td_text(r, NULL, get_str(e, "note"));
		tr_end(r);
	}
	tab_end(r);
out:
	sec_end(r);
}

static void lineage(struct rr *r, const struct report *rp)
{
	static const struct {
		const char *key, *label;
		bool mono;
	} fields[] = {
	    {"training_data_uri", "Training data", false},
	    {"training_data_sha256", "Training data SHA-256", true},
	    {"code_uri", "Code", false},
	    {"code_commit", "Code commit", true},
	    {"parent_version", "Parent version", false},
	    {"created_at", "Created", false},
	    {"created_by", "Created by", false},
	    {"notes", "Notes", false},
	};
	json_t *lin = get_obj(rp->model, "lineage"), *w = get_arr(rp->model, "lineage_warnings"),
	       *e;
	size_t i;

	sec_begin(r, "lineage", 10, "Model lineage");
	json_array_foreach(w, i, e)
	{
		if (!json_is_string(e))
			continue;
		box_begin(r, "warn", "Lineage warning:");
		text(r, json_string_value(e));
		box_end(r);
	}
	if (!lin) {
		para(r, "muted", "No lineage was registered with this model version.");
		goto out;
	}
	kv_begin(r);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *v = get(lin, fields[i].key);
		if (fields[i].mono && json_is_string(v)) {
			kv_code(r, fields[i].label, json_string_value(v));
			continue;
		}
		kv_row_begin(r, fields[i].label);
		if (v)
			value(r, v);
		else
			em(r, "not recorded");
		kv_row_end(r);
	}
	kv_end(r);
out:
	sec_end(r);
}

/* A fenced block for multi-line document text (the signed note). */
static void pre(struct rr *r, const char *s)
{
	if (!r->md) {
		raw(r, "<pre>");
		text_out(r, s, strlen(s), true);
		raw(r, "</pre>\n");
		return;
	}
	if (looks_like_html(s) || !shown_as_is(s, strlen(s), true)) {
		/* escaped lines with hard breaks instead of a fence */
		for (const char *p = s; *p;) {
			size_t n = strcspn(p, "\n");
			text_n(r, p, n);
			p += n;
			if (*p)
				p++;
			raw(r, *p && *p != '\n' && n ? "\\\n" : "\n");
		}
		raw(r, "\n");
		return;
	}
	size_t run = 0, longest = 0;
	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		longest = run > longest ? run : longest;
	}
	size_t fence = longest < 3 ? 3 : longest + 1;
	for (size_t k = 0; k < fence; k++)
		putc_checked(r, '`');
	raw(r, "text\n");
	for (const char *p = s; *p; p++)
		putc_checked(r, *p == '\t' ? ' ' : *p); /* shown_as_is: no other control */
	if (*s && s[strlen(s) - 1] != '\n')
		putc_checked(r, '\n');
	for (size_t k = 0; k < fence; k++)
		putc_checked(r, '`');
	raw(r, "\n\n");
}

static void evidence(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Seq",       "Entry",    "Leaf hash",
	                                    "Tree size", "Verified", "Audit path"};
	json_t *cp = get_obj(rp->doc, "checkpoint"), *proofs = get_arr(rp->doc, "proofs"), *e;
	int64_t v;
	size_t i;

	sec_begin(r, "evidence", 11, "Evidence");
	if (cp) {
		p_begin(r, NULL);
		text(r,
		     "Every entry cited in this report is a leaf of the vault's append-only Merkle "
		     "tree. The signed checkpoint below commits to the whole tree; each inclusion "
		     "proof links an entry to that checkpoint's root.");
		p_end(r);
		kv_begin(r);
		kv_row_begin(r, "Tree size");
		if (get_int(cp, "tree_size", &v))
			textf(r, "%" PRId64 " entries", v);
		else
			text(r, "\u2014");
		kv_row_end(r);
		kv_code(r, "Root", get_str(cp, "root"));
		kv_end(r);
		if (get_str(cp, "note")) {
			if (r->md) {
				sub(r, "Signed checkpoint");
			} else {
				raw(r, "<details><summary>Signed checkpoint note</summary>\n");
			}
			pre(r, get_str(cp, "note"));
			html(r, "</details>\n");
		}
	} else {
		box_begin(r, "warn", "No checkpoint.");
		text(r, "The report cites no signed checkpoint, so its entries cannot be tied to a "
		        "published tree head.");
		box_end(r);
	}
	if (!json_array_size(proofs)) {
		para(r, "muted", "No inclusion proofs are attached.");
		goto out;
	}
	tab_begin(r, "data proofs", 6, heads, "rlllll");
	json_array_foreach(proofs, i, e)
	{
		json_t *path = get_arr(e, "path"), *h;
		size_t k;
		bool ok;
		tr_begin(r, NULL);
		td_begin(r, "r");
		if (get_int(e, "seq", &v))
			textf(r, "%" PRId64, v);
		td_end(r);
		td_text(r, NULL, or_dash(get_str(e, "what")));
		td_begin(r, "hash");
		if (get_str(e, "leaf_hash"))
			code(r, get_str(e, "leaf_hash"));
		td_end(r);
		td_begin(r, "r");
		if (get_int(e, "tree_size", &v))
			textf(r, "%" PRId64, v);
		td_end(r);
		td_begin(r, NULL);
		if (get_bool(e, "verified", &ok))
			pill(r, ok ? "ok" : "bad", ok ? "yes" : "NO");
		else
			pill(r, "warn", "not checked");
		td_end(r);
		td_begin(r, "hash");
		if (r->md) {
			textf(r, "%zu hashes", json_array_size(path));
		} else if (json_array_size(path)) {
			rawf(r, "<details><summary>%zu hash%s</summary><ol>", json_array_size(path),
			     json_array_size(path) == 1 ? "" : "es");
			json_array_foreach(path, k, h)
			{
				raw(r, "<li>");
				code(r, or_dash(json_string_value(h)));
				raw(r, "</li>");
			}
			raw(r, "</ol></details>");
		} else {
			text(r, "empty");
		}
		td_end(r);
		tr_end(r);
	}
	tab_end(r);
	if (r->md) {
		sub(r, "Audit paths");
		json_array_foreach(proofs, i, e)
		{
			json_t *path = get_arr(e, "path"), *h;
			size_t k;
			if (!json_array_size(path))
				continue;
			raw(r, "- seq ");
			if (get_int(e, "seq", &v))
				textf(r, "%" PRId64, v);
			raw(r, ":");
			json_array_foreach(path, k, h)
			{
				raw(r, " ");
				code(r, or_dash(json_string_value(h)));
			}
			raw(r, "\n");
		}
		raw(r, "\n");
	}
out:
	sec_end(r);
}

static void reproduce(struct rr *r, const struct report *rp)
{
	json_t *params = get_obj(rp->audit, "params"), *bg = get_obj(params, "background"),
	       *tm = get_obj(rp->audit, "timings_ms"), *v;
	const char *k;
	double d;
	int64_t seq;

	sec_begin(r, "reproduce", 12, "Reproduce");
	p_begin(r, NULL);
	text(r,
	     "Rerun this incident's audit from the vault and compare it with what was recorded:");
	p_end(r);
	if (r->md) {
		raw(r, "```sh\nevidentctl replay ");
		text(r, rp->id);
		raw(r, "\n```\n\n");
	} else {
		raw(r, "<pre class=\"cmd\"><code>evidentctl replay ");
		text(r, rp->id);
		raw(r, "</code></pre>\n");
	}
	if (no_audit(r, rp))
		goto out;
	kv_begin(r);
	if (get_int(rp->audit, "seq", &seq)) {
		kv_row_begin(r, "Audit entry");
		textf(r, "seq %" PRId64, seq);
		kv_row_end(r);
	}
	kv_row_begin(r, "Methods");
	value(r, get(params, "methods"));
	kv_row_end(r);
	kv_row_begin(r, "Seed");
	value(r, get(params, "seed"));
	kv_row_end(r);
	json_t *lp = get_obj(params, "lime");
	if (lp) {
		char b[NUM_MAX], b2[NUM_MAX];
		double n, runs, w, feats, alpha;
		kv_row_begin(r, "LIME");
		if (get_num(lp, "samples", &n) && get_num(lp, "repeats", &runs))
			textf(r, "%s samples in each of %s runs, ", fmt_num(n, b),
			      fmt_num(runs, b2));
		if (get_num(lp, "features", &feats))
			textf(r, "%s features", fmt_num(feats, b));
		if (get_str(lp, "selection"))
			textf(r, " (%s)", get_str(lp, "selection"));
		if (get_num(lp, "kernel_width", &w))
			textf(r, ", kernel width %s", fmt_num(w, b));
		if (get_num(lp, "alpha", &alpha))
			textf(r, ", ridge %s", fmt_num(alpha, b));
		text(r, "; seeds from the seed above");
		kv_row_end(r);
	}
	kv_row_begin(r, "Decision threshold");
	value(r, get(params, "threshold"));
	kv_row_end(r);
	kv_row_begin(r, "Background");
	if (bg) {
		text(r, or_dash(get_str(bg, "source")));
		if (get_num(bg, "rows", &d))
			textf(r, ", %s rows", fmt_num(d, (char[NUM_MAX]){0}));
	} else {
		text(r, "\u2014");
	}
	kv_row_end(r);
	if (get_str(bg, "digest"))
		kv_code(r, "Background digest", get_str(bg, "digest"));
	kv_text(r, "Software", get_str(params, "software"));
	kv_end(r);
	if (json_object_size(tm)) {
		static const char *const heads[] = {"Phase", "Time (ms)"};
		sub(r, "Timings");
		tab_begin(r, "data narrow", 2, heads, "lr");
		json_object_foreach(tm, k, v)
		{
			if (!json_is_number(v))
				continue;
			tr_begin(r, !strcmp(k, "total") ? "total" : NULL);
			td_text(r, NULL, k);
			td_num(r, json_number_value(v));
			tr_end(r);
		}
		tab_end(r);
	}
out:
	sec_end(r);
}

static void footer(struct rr *r, const struct report *rp)
{
	int64_t v;

	html(r, "<footer>");
	md(r, "---\n\n");
	text(r, "Generated by ");
	text(r, or_dash(get_str(rp->doc, "generated_by")));
	text(r, " at ");
	time_ns(r, rp->doc, "generated_unix_ns");
	text(r, " from vault ");
	text(r, or_dash(get_str(rp->doc, "vault_origin")));
	if (get_int(rp->doc, "report_version", &v))
		textf(r, " \u00b7 report format %" PRId64, v);
	text(r, ". All times are UTC.");
	raw(r, r->md ? "\n" : "</footer>\n");
}

static const char css[] =
    ":root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--pos:#c2410c;"
    "--neg:#1d4ed8;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    "body{margin:0;background:#eef1f4;color:var(--fg);font:15px/1.55 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue','Liberation Sans',Arial,sans-serif}\n"
    "main{max-width:1000px;margin:24px auto;background:#fff;padding:36px 52px 28px;"
    "border:1px solid var(--line);border-radius:6px}\n"
    "header{border-bottom:3px solid var(--fg);padding-bottom:14px;margin-bottom:20px}\n"
    ".eyebrow{margin:0;color:var(--muted);text-transform:uppercase;letter-spacing:.08em;"
    "font-size:12px;font-weight:600}\n"
    "h1{margin:4px 0 6px;font-size:26px;line-height:1.25}\n"
    ".meta{margin:0;color:var(--muted);font-size:14px}\n"
    "h2{font-size:19px;margin:34px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}\n"
    "h2 .n{display:inline-block;min-width:1.2em;margin-right:.5em;color:var(--muted);"
    "font-weight:500}\n"
    "h3{font-size:15px;margin:20px 0 8px}\n"
    "code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',"
    "'DejaVu Sans Mono',monospace;font-size:13px}\n"
    "code{background:var(--soft);padding:1px 4px;border-radius:3px}\n"
    ".hash code{word-break:break-all}\n"
    "pre{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:10px 12px;"
    "white-space:pre-wrap;word-break:break-all;margin:8px 0}\n"
    "pre.cmd code{background:none;padding:0}\n"
    ".summary{background:var(--soft);border:1px solid var(--line);border-left:6px solid "
    "var(--fg);border-radius:4px;padding:16px 20px}\n"
    ".verdict{display:flex;align-items:center;gap:14px;margin-bottom:8px}\n"
    ".badge{font-weight:700;letter-spacing:.06em;padding:6px 14px;border-radius:4px;color:#fff;"
    "font-size:16px}\n"
    ".badge.proceed{background:var(--ok)}.badge.review{background:var(--warn)}"
    ".badge.pending,.badge.none{background:var(--muted)}\n"
    ".vc{font-size:15px;color:var(--muted)}\n"
    "ul.sentences{margin:8px 0 12px;padding-left:20px;font-size:16px}\n"
    "ul.sentences li{margin:3px 0}\n"
    "table{border-collapse:collapse;width:100%;margin:8px 0 12px;font-size:14px}\n"
    "th,td{text-align:left;vertical-align:top;padding:5px 10px;border-bottom:1px solid "
    "var(--line)}\n"
    "thead th{background:var(--soft);font-weight:600;border-bottom:2px solid var(--line)}\n"
    "th.r,td.r{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.nowrap{white-space:nowrap}\n"
    "table.kv th{width:210px;color:var(--muted);font-weight:500}\n"
    ".summary table.kv{margin-bottom:0}.summary table.kv th,.summary table.kv td{border:0;"
    "padding:2px 10px 2px 0}\n"
    "table.narrow{width:auto;min-width:280px}\n"
    "tr.flagged td{background:#fff1f0}\n"
    "tr.quiet td{color:var(--muted)}\n"
    "tr.total td{font-weight:600;border-top:2px solid var(--line)}\n"
    "td.hash{word-break:break-all;max-width:320px}\n"
    ".pill{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;"
    "border-radius:10px;border:1px solid;white-space:nowrap}\n"
    ".pill.ok,.pill.proceed{color:var(--ok);background:#dafbe1}"
    ".pill.bad{color:var(--bad);background:#ffebe9}"
    ".pill.warn,.pill.review{color:var(--warn);background:#fff8c5}"
    ".pill.pending,.pill.none{color:var(--muted);background:var(--soft)}\n"
    ".box{border:1px solid;border-left-width:5px;border-radius:4px;padding:9px 14px;margin:10px "
    "0}\n"
    ".box.warn{border-color:#d4a72c;background:#fff8c5}.box.bad{border-color:var(--bad);"
    "background:#ffebe9}.box.ok{border-color:#4ac26b;background:#dafbe1}"
    ".box.info{border-color:var(--line);background:var(--soft)}\n"
    ".muted{color:var(--muted);font-style:italic}\n"
    "p.big{font-size:17px}\n"
    "ul.rule li{font-size:16px;margin:2px 0}\n"
    "details{margin:8px 0}summary{cursor:pointer;color:var(--neg)}\n"
    "details ol{margin:4px 0;padding-left:22px}\n"
    "figure{margin:12px 0}\n"
    "svg.waterfall{display:block;width:100%;height:auto}\n"
    "svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',Arial,"
    "sans-serif;font-size:13px;fill:var(--fg)}\n"
    "svg .fv,svg .tl,svg .legend,svg .at,svg .tlabel{fill:var(--muted)}\n"
    "svg .tl{font-size:12px}svg .at{font-size:13px}svg .tlabel{font-size:12px}\n"
    "svg .band{fill:#f6f8fa}\n"
    "svg .bar.pos,svg .key.pos{fill:var(--pos)}svg .bar.neg,svg .key.neg{fill:var(--neg)}\n"
    "svg .bar.other{opacity:.55}\n"
    "svg .vl{font-size:12px;font-weight:600}svg .vl.pos{fill:var(--pos)}"
    "svg .vl.neg{fill:var(--neg)}svg .vl.strong{font-size:14px;font-weight:700}\n"
    "svg .whisker{stroke:#24292f;stroke-width:1.3;fill:none}\n"
    "svg .conn{stroke:#8c959f;stroke-width:1;stroke-dasharray:2 2}\n"
    "svg .base{stroke:#8c959f;stroke-width:1;stroke-dasharray:4 3}\n"
    "svg .pred{stroke:var(--fg);stroke-width:1.2;stroke-dasharray:4 3}\n"
    "svg .threshold{stroke:var(--bad);stroke-width:1.2;stroke-dasharray:1 3}\n"
    "svg .tlabel{fill:var(--bad)}\n"
    "svg .axis,svg .tick{stroke:#57606a;stroke-width:1}\n"
    "svg .mark{fill:var(--fg)}\n"
    "footer{margin-top:36px;padding-top:10px;border-top:1px solid var(--line);"
    "color:var(--muted);font-size:12px}\n"
    "@page{size:A4;margin:14mm}\n"
    "@media print{body{background:#fff;font-size:11pt}main{margin:0;padding:0;border:0;"
    "max-width:none}h2{break-after:avoid}tr,.box,figure,.summary{break-inside:avoid}"
    "summary{color:var(--fg)}details::details-content{content-visibility:visible;"
    "display:block}}\n";

static int render(const json_t *doc, FILE *out, bool as_md)
{
	struct report rp = {.doc = doc};
	struct rr r = {.f = out, .md = as_md};
	int64_t id;
	int rc;

	if (!out || !json_is_object(doc))
		return -EINVAL;
	rp.incident = get_obj(doc, "incident");
	rp.model = get_obj(doc, "model");
	rp.record = get_obj(doc, "record");
	rp.audit = get_obj(doc, "audit");
	if (!rp.incident || !rp.model || !rp.record)
		return -EINVAL;
	if (get_int(rp.incident, "id", &id))
		snprintf(rp.id, sizeof(rp.id), "%" PRId64, id);
	else
		snprintf(rp.id, sizeof(rp.id), "?");
	rc = load_features(&rp);
	if (rc >= 0)
		rc = load_attribution(&rp);
	if (rc < 0) {
		report_deinit(&rp);
		return rc;
	}

	if (!as_md) {
		raw(&r,
		    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		    "style-src 'unsafe-inline'\">\n"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		    "<title>Decision report: incident ");
		text(&r, rp.id);
		raw(&r, "</title>\n<style>\n");
		raw(&r, css);
		raw(&r, "</style>\n</head>\n<body>\n<main>\n");
	}
	header(&r, &rp);
	summary(&r, &rp);
	decision(&r, &rp);
	input(&r, &rp);
	why(&r, &rp);
	counterfactuals(&r, &rp);
	fragility(&r, &rp);
	region(&r, &rp);
	unusual(&r, &rp);
	confidence(&r, &rp);
	reviews(&r, &rp);
	lineage(&r, &rp);
	evidence(&r, &rp);
	reproduce(&r, &rp);
	footer(&r, &rp);
	html(&r, "</main>\n</body>\n</html>\n");

	report_deinit(&rp);
	if ((fflush(out) == EOF || ferror(out)) && !r.err)
		r.err = -EIO;
	return r.err;
}

int report_render_html(const json_t *doc, FILE *out)
{
	return render(doc, out, false);
}

int report_render_md(const json_t *doc, FILE *out)
{
	return render(doc, out, true);
}
