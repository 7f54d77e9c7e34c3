/* SPDX-License-Identifier: Apache-2.0 */
/* The output of both formats (report_internal.h): one writer for HTML and Markdown, the one
 * text writer every string from the document goes through (escaped for the format, invisible
 * and control characters and bytes that are not UTF-8 shown as visible escapes), numbers and
 * times, and the block primitives the sections are written with. */
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

#define THINSPACE "\u202f"

void rw_raw(struct rr *r, const char *s)
{
	if (fputs(s, r->f) == EOF && !r->err)
		r->err = -EIO;
}

__attribute__((format(printf, 2, 3))) void rw_rawf(struct rr *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vfprintf(r->f, fmt, ap) < 0 && !r->err)
		r->err = -EIO;
	va_end(ap);
}

/* Markup for one format only. */
void rw_html(struct rr *r, const char *s)
{
	if (!r->md)
		rw_raw(r, s);
}

void rw_md(struct rr *r, const char *s)
{
	if (r->md)
		rw_raw(r, s);
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
	rw_raw(r, r->md ? "\\<" : "&lt;");
	rw_raw(r, b);
	rw_raw(r, r->md ? ">" : "&gt;");
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
				rw_raw(r, "&amp;");
				break;
			case '<':
				rw_raw(r, "&lt;");
				break;
			case '>':
				rw_raw(r, "&gt;");
				break;
			case '"':
				rw_raw(r, "&quot;");
				break;
			case '\'':
				rw_raw(r, "&#39;");
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

void rw_text_n(struct rr *r, const char *s, size_t n)
{
	text_out(r, s, n, false);
}

void rw_text(struct rr *r, const char *s)
{
	if (s)
		rw_text_n(r, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) void rw_textf(struct rr *r, const char *fmt, ...)
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
	rw_text(r, s);
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
void rw_code(struct rr *r, const char *s)
{
	if (!s)
		return;
	if (!r->md) {
		rw_raw(r, "<code>");
		rw_text(r, s);
		rw_raw(r, "</code>");
		return;
	}
	/* a code span cannot escape anything: text it would not hold verbatim is written as
	 * escaped text instead */
	if (strchr(s, '`') || !shown_as_is(s, strlen(s), false) || looks_like_html(s)) {
		rw_text(r, s);
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
const char *rw_fmt_num(double v, char buf[NUM_MAX])
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

const char *rw_fmt_signed(double v, char buf[NUM_MAX])
{
	char tmp[NUM_MAX];
	const char *s = rw_fmt_num(v, tmp);

	snprintf(buf, NUM_MAX, "%s%s", v > 0 ? "+" : "", s);
	return buf;
}

const char *rw_fmt_pct(double v, char buf[NUM_MAX])
{
	if (!isfinite(v))
		return rw_fmt_num(v, buf);
	snprintf(buf, NUM_MAX, "%.3g%%", v * 100);
	return buf;
}

/* ISO-8601 UTC with milliseconds. */
const char *rw_fmt_time(int64_t ns, char buf[TIME_MAX])
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

void rw_num(struct rr *r, double v)
{
	char b[NUM_MAX];

	rw_text(r, rw_fmt_num(v, b));
}

void rw_num_signed(struct rr *r, double v)
{
	char b[NUM_MAX];

	rw_text(r, rw_fmt_signed(v, b));
}

void rw_pct(struct rr *r, double v)
{
	char b[NUM_MAX];

	rw_text(r, rw_fmt_pct(v, b));
}

/* ---- block primitives ---- */

void rw_sec_begin(struct rr *r, const char *id, int number, const char *title)
{
	if (r->md) {
		rw_rawf(r, "## %d. %s\n\n", number, title);
	} else {
		rw_rawf(r, "<section id=\"%s\">\n<h2><span class=\"n\">%d</span>%s</h2>\n", id,
		        number, title);
	}
}

void rw_sec_end(struct rr *r)
{
	rw_html(r, "</section>\n");
}

void rw_sub(struct rr *r, const char *title)
{
	if (r->md)
		rw_rawf(r, "### %s\n\n", title);
	else
		rw_rawf(r, "<h3>%s</h3>\n", title);
}

void rw_p_begin(struct rr *r, const char *cls)
{
	if (r->md)
		return;
	if (cls)
		rw_rawf(r, "<p class=\"%s\">", cls);
	else
		rw_raw(r, "<p>");
}

void rw_p_end(struct rr *r)
{
	rw_raw(r, r->md ? "\n\n" : "</p>\n");
}

void rw_para(struct rr *r, const char *cls, const char *s)
{
	rw_p_begin(r, cls);
	rw_text(r, s);
	rw_p_end(r);
}

/* A call-out: a coloured box in HTML, a one-line block quote in Markdown. */
void rw_box_begin(struct rr *r, const char *cls, const char *label)
{
	if (r->md) {
		rw_raw(r, "> ");
	} else {
		rw_rawf(r, "<div class=\"box %s\">", cls);
	}
	if (label) {
		rw_raw(r, r->md ? "**" : "<strong>");
		rw_text(r, label);
		rw_raw(r, r->md ? "**" : "</strong>");
		rw_text(r, " ");
	}
}

void rw_box_end(struct rr *r)
{
	rw_raw(r, r->md ? "\n\n" : "</div>\n");
}

void rw_strong(struct rr *r, const char *s)
{
	rw_raw(r, r->md ? "**" : "<strong>");
	rw_text(r, s);
	rw_raw(r, r->md ? "**" : "</strong>");
}

void rw_em(struct rr *r, const char *s)
{
	rw_raw(r, r->md ? "*" : "<em>");
	rw_text(r, s);
	rw_raw(r, r->md ? "*" : "</em>");
}

/* A short status word: a coloured pill in HTML, bold in Markdown. */
void rw_pill(struct rr *r, const char *cls, const char *s)
{
	if (r->md) {
		rw_strong(r, s);
		return;
	}
	rw_rawf(r, "<span class=\"pill %s\">", cls);
	rw_text(r, s);
	rw_raw(r, "</span>");
}

void rw_kv_begin(struct rr *r)
{
	rw_html(r, "<table class=\"kv\">\n");
}

void rw_kv_row_begin(struct rr *r, const char *key)
{
	if (r->md) {
		rw_raw(r, "* **"); /* not '-': a list of facts must not join a list before it */
		rw_text(r, key);
		rw_raw(r, ":** ");
	} else {
		rw_raw(r, "<tr><th>");
		rw_text(r, key);
		rw_raw(r, "</th><td>");
	}
}

void rw_kv_row_end(struct rr *r)
{
	rw_raw(r, r->md ? "\n" : "</td></tr>\n");
}

void rw_kv_end(struct rr *r)
{
	rw_raw(r, r->md ? "\n" : "</table>\n");
}

void rw_kv_text(struct rr *r, const char *key, const char *s)
{
	rw_kv_row_begin(r, key);
	rw_text(r, rw_or_dash(s));
	rw_kv_row_end(r);
}

void rw_kv_code(struct rr *r, const char *key, const char *s)
{
	rw_kv_row_begin(r, key);
	if (s) {
		rw_html(r, "<span class=\"hash\">");
		rw_code(r, s);
		rw_html(r, "</span>");
	} else {
		rw_text(r, "\u2014");
	}
	rw_kv_row_end(r);
}

/* heads: n column titles; align: n characters, 'l' or 'r'. */
void rw_tab_begin(struct rr *r, const char *cls, size_t n, const char *const *heads,
                  const char *align)
{
	if (r->md) {
		for (size_t i = 0; i < n; i++)
			rw_rawf(r, "| %s ", heads[i]); /* our own words: no escaping */
		rw_raw(r, "|\n");
		for (size_t i = 0; i < n; i++)
			rw_raw(r, align[i] == 'r' ? "| ---: " : "| --- ");
		rw_raw(r, "|\n");
		r->in_table = true;
		return;
	}
	rw_rawf(r, "<table class=\"%s\"><thead><tr>", cls);
	for (size_t i = 0; i < n; i++) {
		rw_raw(r, align[i] == 'r' ? "<th class=\"r\">" : "<th>");
		rw_text(r, heads[i]);
		rw_raw(r, "</th>");
	}
	rw_raw(r, "</tr></thead>\n<tbody>\n");
}

void rw_tr_begin(struct rr *r, const char *cls)
{
	if (r->md)
		rw_raw(r, "|");
	else if (cls)
		rw_rawf(r, "<tr class=\"%s\">", cls);
	else
		rw_raw(r, "<tr>");
}

void rw_tr_end(struct rr *r)
{
	rw_raw(r, r->md ? "\n" : "</tr>\n");
}

void rw_td_begin(struct rr *r, const char *cls)
{
	if (r->md)
		rw_raw(r, " ");
	else if (cls)
		rw_rawf(r, "<td class=\"%s\">", cls);
	else
		rw_raw(r, "<td>");
}

void rw_td_end(struct rr *r)
{
	rw_raw(r, r->md ? " |" : "</td>");
}

void rw_td_text(struct rr *r, const char *cls, const char *s)
{
	rw_td_begin(r, cls);
	rw_text(r, s);
	rw_td_end(r);
}

void rw_td_num(struct rr *r, double v)
{
	rw_td_begin(r, "r");
	rw_num(r, v);
	rw_td_end(r);
}

void rw_tab_end(struct rr *r)
{
	rw_raw(r, r->md ? "\n" : "</tbody></table>\n");
	r->in_table = false;
}

void rw_ul_begin(struct rr *r, const char *cls)
{
	if (r->md)
		return;
	if (cls)
		rw_rawf(r, "<ul class=\"%s\">\n", cls);
	else
		rw_raw(r, "<ul>\n");
}

void rw_li_begin(struct rr *r)
{
	rw_raw(r, r->md ? "- " : "<li>");
}

void rw_li_end(struct rr *r)
{
	rw_raw(r, r->md ? "\n" : "</li>\n");
}

void rw_ul_end(struct rr *r)
{
	rw_raw(r, r->md ? "\n" : "</ul>\n");
}

/* Every string of an array as a bullet list; false when there is none. */
bool rw_string_list(struct rr *r, const json_t *arr, const char *cls)
{
	size_t i, n = 0;
	json_t *e;

	json_array_foreach(arr, i, e) n += json_is_string(e);
	if (!n)
		return false;
	rw_ul_begin(r, cls);
	json_array_foreach(arr, i, e)
	{
		if (!json_is_string(e))
			continue;
		rw_li_begin(r);
		rw_text_n(r, json_string_value(e), json_string_length(e));
		rw_li_end(r);
	}
	rw_ul_end(r);
	return true;
}

const char *rw_or_dash(const char *s)
{
	return s ? s : "\u2014";
}

/* A fenced block for multi-line document text (the signed note). */
void rw_pre(struct rr *r, const char *s)
{
	if (!r->md) {
		rw_raw(r, "<pre>");
		text_out(r, s, strlen(s), true);
		rw_raw(r, "</pre>\n");
		return;
	}
	if (looks_like_html(s) || !shown_as_is(s, strlen(s), true)) {
		/* escaped lines with hard breaks instead of a fence */
		for (const char *p = s; *p;) {
			size_t n = strcspn(p, "\n");
			rw_text_n(r, p, n);
			p += n;
			if (*p)
				p++;
			rw_raw(r, *p && *p != '\n' && n ? "\\\n" : "\n");
		}
		rw_raw(r, "\n");
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
	rw_raw(r, "text\n");
	for (const char *p = s; *p; p++)
		putc_checked(r, *p == '\t' ? ' ' : *p); /* shown_as_is: no other control */
	if (*s && s[strlen(s) - 1] != '\n')
		putc_checked(r, '\n');
	for (size_t k = 0; k < fence; k++)
		putc_checked(r, '`');
	rw_raw(r, "\n\n");
}
