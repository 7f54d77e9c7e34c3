/* SPDX-License-Identifier: Apache-2.0 */
/* The strict JSON reader of xjson.h: a loop over the bytes with an explicit stack of open
 * containers (no recursion), numbers converted as they are read. */
#include "xjson.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"

#define MAX_DEPTH  2048
#define MAX_TOKENS 0xfffffff0u

struct reader {
	const char *data;
	size_t len, p;
	struct xj_doc *doc;
	size_t cap;
	char *str; /* next free byte of doc->strings */
	char *err;
	size_t err_size;
};

static int fail(struct reader *r, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reader *r, size_t at, const char *fmt, ...)
{
	size_t line = 1, col = 1;
	char what[160];
	va_list ap;

	for (size_t i = 0; i < at && i < r->len; i++) {
		if (r->data[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (r->err && r->err_size)
		snprintf(r->err, r->err_size, "line %zu, column %zu: %s", line, col, what);
	return -EBADMSG;
}

static struct xj_tok *new_tok(struct reader *r, enum xj_type type)
{
	struct xj_doc *d = r->doc;

	if (d->n == r->cap) {
		size_t cap = r->cap * 2;
		struct xj_tok *t;
		if (cap > MAX_TOKENS)
			cap = MAX_TOKENS;
		if (cap == r->cap || !(t = realloc(d->tok, cap * sizeof(*t))))
			return NULL;
		d->tok = t;
		r->cap = cap;
	}
	struct xj_tok *t = &d->tok[d->n];
	t->type = (uint8_t)type;
	t->size = 0;
	t->next = (uint32_t)++d->n;
	return t;
}

static void skip_ws(struct reader *r)
{
	while (r->p < r->len) {
		char c = r->data[r->p];
		if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
			return;
		r->p++;
	}
}

static bool match(const struct reader *r, const char *word)
{
	size_t n = strlen(word);
	return r->len - r->p >= n && memcmp(r->data + r->p, word, n) == 0;
}

static int hex4(const char *s, unsigned *ret)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*ret = v;
	return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/* Bytes of the valid UTF-8 sequence at s (at most n bytes), or 0 (overlong forms, surrogates
 * and code points above U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], cp, len;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (unsigned i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A string at r->p (the opening quote) into a token. */
static int read_string(struct reader *r, struct xj_tok *t)
{
	const char *d = r->data;
	size_t p = r->p + 1;
	char *o = r->str;

	t->v.s = o;
	for (;;) {
		if (p >= r->len)
			return fail(r, p, "premature end of input in a string");
		unsigned char c = (unsigned char)d[p];
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(r, p, "control character 0x%x in a string", c);
		if (c < 0x80 && c != '\\') {
			*o++ = (char)c;
			p++;
			continue;
		}
		if (c >= 0x80) {
			size_t n = utf8_len((const unsigned char *)d + p, r->len - p);
			if (!n)
				return fail(r, p, "invalid UTF-8 in a string");
			memcpy(o, d + p, n);
			o += n;
			p += n;
			continue;
		}
		/* an escape */
		if (p + 1 >= r->len)
			return fail(r, p, "premature end of input in a string");
		char e = d[p + 1];
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e && simple) {
			static const char out[] = "\"\\/\b\f\n\r\t";
			*o++ = out[simple - "\"\\/bfnrt"];
			p += 2;
			continue;
		}
		unsigned cp, lo;
		if (e != 'u' || r->len - p < 6 || hex4(d + p + 2, &cp) < 0)
			return fail(r, p, "invalid escape in a string");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (r->len - p < 12 || d[p + 6] != '\\' || d[p + 7] != 'u' ||
			    hex4(d + p + 8, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
				return fail(r, p, "invalid Unicode escape '\\u%04X'", cp);
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			return fail(r, p, "invalid Unicode escape '\\u%04X'", cp);
		} else if (cp == 0) {
			return fail(r, p, "\\u0000 is not allowed in a string");
		}
		o = put_utf8(o, cp);
		p += 6;
	}
	if ((size_t)(o - r->str) > XJ_MAX_SIZE)
		return fail(r, r->p, "a string of more than %u bytes", XJ_MAX_SIZE);
	t->size = (uint32_t)(o - r->str);
	*o++ = '\0';
	r->str = o;
	r->p = p + 1;
	return 0;
}

/* A number at r->p (RFC 8259's grammar). An integer (no fraction, no exponent) must fit a long
 * long. A real gets strtod's bits: by ex__decimal where that is exact, else strtod itself on a
 * copy of the token. */
static int read_number(struct reader *r, struct xj_tok *t)
{
	const char *d = r->data;
	size_t p = r->p, start = p;
	bool neg = false, integer = true;
	uint64_t w = 0;
	int sig = 0;

#define DIGIT(i) ((i) < r->len && d[i] >= '0' && d[i] <= '9')
	if (d[p] == '-') {
		neg = true;
		p++;
	}
	if (!DIGIT(p))
		return fail(r, start, "invalid number");
	if (d[p] == '0') {
		p++;
		if (DIGIT(p))
			return fail(r, start, "invalid number (a leading zero)");
	}
	for (; DIGIT(p); p++) {
		if (sig < 20)
			w = w * 10 + (uint64_t)(d[p] - '0');
		sig += w != 0;
	}
	if (p < r->len && d[p] == '.') {
		integer = false;
		p++;
		if (!DIGIT(p))
			return fail(r, start, "invalid number");
		while (DIGIT(p))
			p++;
	}
	if (p < r->len && (d[p] == 'e' || d[p] == 'E')) {
		integer = false;
		p++;
		if (p < r->len && (d[p] == '+' || d[p] == '-'))
			p++;
		if (!DIGIT(p))
			return fail(r, start, "invalid number");
		while (DIGIT(p))
			p++;
	}
#undef DIGIT
	r->p = p;
	if (integer) {
		/* 19 digits at most, and within a long long */
		if (sig > 19 || w > (uint64_t)INT64_MAX + neg)
			return fail(r, start, "too big integer");
		t->type = XJ_INT;
		t->v.i = neg ? (long long)(0 - w) : (long long)w;
		return 0;
	}
	t->type = XJ_REAL;
	if (ex__decimal(d + start, p - start, &t->v.d))
		return 0;
	char buf[128], *copy = buf;
	size_t n = p - start;
	if (n >= sizeof(buf) && !(copy = malloc(n + 1)))
		return -ENOMEM;
	memcpy(copy, d + start, n);
	copy[n] = '\0';
	double v = strtod(copy, NULL);
	if (copy != buf)
		free(copy);
	if (isinf(v))
		return fail(r, start, "real number overflow");
	t->v.d = v;
	return 0;
}

void xj_free(struct xj_doc *doc)
{
	free(doc->tok);
	free(doc->strings);
	doc->tok = NULL;
	doc->strings = NULL;
	doc->n = 0;
}

int xj_parse(struct xj_doc *doc, const char *data, size_t len, char *err, size_t err_size)
{
	struct reader r = {.data = data, .len = len, .doc = doc, .err = err, .err_size = err_size};
	uint32_t stack[MAX_DEPTH];
	size_t depth = 0;
	enum { VALUE, KEY, AFTER } state = VALUE;
	int rc = 0;

	if (err && err_size)
		err[0] = '\0';
	memset(doc, 0, sizeof(*doc));
	if (len > 0x7fffffff) {
		if (err && err_size)
			snprintf(err, err_size, "line 1, column 1: larger than 2 GiB");
		return -EBADMSG;
	}
	/* every token but the first follows one of [ { , : (in a string or not): an upper bound
	 * that saves growing the array (a copy into fresh pages) */
	r.cap = 1;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		r.cap += c == ',' || c == ':' || c == '[' || c == '{';
	}
	doc->tok = malloc(r.cap * sizeof(*doc->tok));
	doc->strings = malloc(len + 1);
	if (!doc->tok || !doc->strings) {
		rc = -ENOMEM;
		goto out;
	}
	r.str = doc->strings;
	skip_ws(&r);
	if (r.p >= len || (data[r.p] != '{' && data[r.p] != '[')) {
		rc = fail(&r, r.p, "'[' or '{' expected");
		goto out;
	}
	for (;;) {
		skip_ws(&r);
		if (state == AFTER) {
			if (depth == 0) {
				if (r.p < len) {
					rc = fail(&r, r.p, "end of file expected");
					goto out;
				}
				return 0;
			}
			struct xj_tok *parent = &doc->tok[stack[depth - 1]];
			char close = parent->type == XJ_OBJECT ? '}' : ']';
			if (r.p < len && data[r.p] == ',') {
				r.p++;
				state = parent->type == XJ_OBJECT ? KEY : VALUE;
				continue;
			}
			if (r.p < len && data[r.p] == close) {
				r.p++;
				parent->next = (uint32_t)doc->n;
				depth--;
				continue;
			}
			rc = fail(&r, r.p,
			          r.p < len ? "',' or '%c' expected"
			                    : "premature end of input ('%c' expected)",
			          close);
			goto out;
		}
		if (state == KEY) {
			struct xj_tok *t;
			if (r.p >= len || data[r.p] != '"') {
				rc = fail(&r, r.p, "string or '}' expected");
				goto out;
			}
			if (doc->tok[stack[depth - 1]].size == XJ_MAX_SIZE) {
				rc =
				    fail(&r, r.p, "an object of more than %u members", XJ_MAX_SIZE);
				goto out;
			}
			doc->tok[stack[depth - 1]].size++;
			if (!(t = new_tok(&r, XJ_STRING))) {
				rc = -ENOMEM;
				goto out;
			}
			if ((rc = read_string(&r, t)) < 0)
				goto out;
			skip_ws(&r);
			if (r.p >= len || data[r.p] != ':') {
				rc = fail(&r, r.p, "':' expected");
				goto out;
			}
			r.p++;
			state = VALUE;
			continue;
		}
		/* a value */
		if (r.p >= len) {
			rc = fail(&r, r.p, "premature end of input");
			goto out;
		}
		if (depth && doc->tok[stack[depth - 1]].type == XJ_ARRAY) {
			if (doc->tok[stack[depth - 1]].size == XJ_MAX_SIZE) {
				rc =
				    fail(&r, r.p, "an array of more than %u elements", XJ_MAX_SIZE);
				goto out;
			}
			doc->tok[stack[depth - 1]].size++;
		}
		char c = data[r.p];
		struct xj_tok *t = new_tok(&r, XJ_NULL);
		if (!t) {
			rc = -ENOMEM;
			goto out;
		}
		state = AFTER;
		switch (c) {
		case '{':
		case '[':
			if (depth == MAX_DEPTH) {
				rc = fail(&r, r.p, "nested more than %d levels", MAX_DEPTH);
				goto out;
			}
			t->type = c == '{' ? XJ_OBJECT : XJ_ARRAY;
			stack[depth++] = (uint32_t)(doc->n - 1);
			r.p++;
			skip_ws(&r);
			if (r.p < len && data[r.p] == (c == '{' ? '}' : ']')) {
				r.p++;
				depth--;
			} else {
				state = c == '{' ? KEY : VALUE;
			}
			break;
		case '"':
			t->type = XJ_STRING;
			if ((rc = read_string(&r, t)) < 0)
				goto out;
			break;
		case 't':
		case 'f':
		case 'n':
		case 'N':
		case 'I': {
			static const struct {
				const char *word;
				enum xj_type type;
			} words[] = {{"true", XJ_TRUE},
			             {"false", XJ_FALSE},
			             {"null", XJ_NULL},
			             {"NaN", XJ_NULL},
			             {"Infinity", XJ_NULL}};
			size_t w = 0;
			while (w < sizeof(words) / sizeof(words[0]) && !match(&r, words[w].word))
				w++;
			if (w == sizeof(words) / sizeof(words[0])) {
				rc = fail(&r, r.p, "invalid token");
				goto out;
			}
			t->type = (uint8_t)words[w].type;
			r.p += strlen(words[w].word);
			break;
		}
		default:
			if (c == '-' && match(&r, "-Infinity")) {
				r.p += 9;
				break;
			}
			if (c != '-' && (c < '0' || c > '9')) {
				rc = fail(&r, r.p, "invalid token");
				goto out;
			}
			if ((rc = read_number(&r, t)) < 0)
				goto out;
			break;
		}
	}
out:
	xj_free(doc);
	if (rc == -ENOMEM && err && err_size)
		err[0] = '\0';
	return rc;
}

const struct xj_tok *xj_get(const struct xj_doc *doc, const struct xj_tok *obj, const char *key)
{
	const struct xj_tok *found = NULL, *t;
	size_t klen = strlen(key);

	if (!obj || obj->type != XJ_OBJECT)
		return NULL;
	t = obj + 1;
	for (uint32_t i = 0; i < obj->size; i++) {
		const struct xj_tok *v = t + 1;
		if (t->size == klen && !memcmp(t->v.s, key, klen))
			found = v;
		t = xj_skip(doc, v);
	}
	return found;
}
