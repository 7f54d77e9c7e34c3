/* SPDX-License-Identifier: Apache-2.0 */
/* Trigger expressions: a recursive-descent parser that type-checks as it goes and emits a
 * postfix program, and a stack machine that runs it. See trigger.h for the language. */
#include "trigger.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evident.pb-c.h"

#define MAX_DEPTH 64   /* nesting and stack depth */
#define MAX_CODE  4096 /* instructions */

enum op {
	OP_NUM, /* arg: constant index */
	OP_STR, /* arg: string index */
	OP_BOOL,
	OP_FEATURE, /* arg: feature slot */
	OP_CONTEXT, /* arg: string index (key) */
	OP_LABEL,   /* arg: string index (key) */
	OP_SCORE,   /* arg: output index */
	OP_DECISION,
	OP_MODEL,
	OP_VERSION,
	OP_NEG,
	OP_ADD,
	OP_SUB,
	OP_MUL,
	OP_DIV,
	OP_MOD,
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_SEQ, /* strings */
	OP_SNE,
	OP_IN,  /* arg: first constant, arg2: count */
	OP_SIN, /* arg: first string, arg2: count */
	OP_NOT,
	OP_AND,
	OP_OR,
	OP_ABS,
	OP_MIN, /* arg: operand count */
	OP_MAX,
	OP_MISSING, /* number */
	OP_SMISSING,
};

struct insn {
	uint8_t op;
	uint32_t arg, arg2;
};

enum type { T_NUM, T_STR, T_BOOL };

struct trig_expr {
	struct insn *code;
	size_t n_code;
	double *nums;
	size_t n_nums;
	char **strs;
	size_t n_strs;
	char **features; /* names, first-use order */
	unsigned *feature_col;
	size_t n_features;
	size_t max_stack;
};

struct parser {
	const char *src, *p;
	struct trig_expr *x;
	struct trig_error *e;
	size_t depth, stack, nest;
	int rc;
};

/* ------------------------------------------------------------------ errors */

static int fail_at(struct parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct parser *ps, const char *at, const char *fmt, ...)
{
	va_list ap;

	if (ps->rc)
		return ps->rc;
	ps->e->column = (unsigned)(at - ps->src) + 1;
	va_start(ap, fmt);
	vsnprintf(ps->e->message, sizeof(ps->e->message), fmt, ap);
	va_end(ap);
	ps->rc = -EINVAL;
	return ps->rc;
}

static int oom(struct parser *ps)
{
	if (!ps->rc) {
		snprintf(ps->e->message, sizeof(ps->e->message), "out of memory");
		ps->rc = -ENOMEM;
	}
	return ps->rc;
}

/* ------------------------------------------------------------------ emitting */

static const char *type_name(enum type t)
{
	return t == T_NUM ? "a number" : t == T_STR ? "a string" : "a boolean";
}

/* Stack effect of each instruction is applied here so the maximum depth is known. */
static void emit(struct parser *ps, enum op op, uint32_t arg, uint32_t arg2, int effect)
{
	struct trig_expr *x = ps->x;

	if (ps->rc)
		return;
	if (x->n_code == MAX_CODE) {
		fail_at(ps, ps->p, "expression too long (more than %d operations)", MAX_CODE);
		return;
	}
	if (!(x->n_code & 63)) {
		struct insn *c = realloc(x->code, (x->n_code + 64) * sizeof(*c));
		if (!c) {
			oom(ps);
			return;
		}
		x->code = c;
	}
	x->code[x->n_code++] = (struct insn){.op = (uint8_t)op, .arg = arg, .arg2 = arg2};
	ps->stack = (size_t)((long)ps->stack + effect);
	if (ps->stack > x->max_stack)
		x->max_stack = ps->stack;
}

static uint32_t add_num(struct parser *ps, double v)
{
	struct trig_expr *x = ps->x;
	double *n = realloc(x->nums, (x->n_nums + 1) * sizeof(double));

	if (!n) {
		oom(ps);
		return 0;
	}
	x->nums = n;
	x->nums[x->n_nums] = v;
	return (uint32_t)x->n_nums++;
}

static uint32_t add_str(struct parser *ps, const char *s, size_t len)
{
	struct trig_expr *x = ps->x;
	char **n = realloc(x->strs, (x->n_strs + 1) * sizeof(char *));

	if (!n) {
		oom(ps);
		return 0;
	}
	x->strs = n;
	x->strs[x->n_strs] = strndup(s, len);
	if (!x->strs[x->n_strs]) {
		oom(ps);
		return 0;
	}
	return (uint32_t)x->n_strs++;
}

static uint32_t add_feature(struct parser *ps, const char *s, size_t len, const char *at)
{
	struct trig_expr *x = ps->x;

	for (size_t i = 0; i < x->n_features; i++)
		if (strlen(x->features[i]) == len && !memcmp(x->features[i], s, len))
			return (uint32_t)i;
	char **n = realloc(x->features, (x->n_features + 1) * sizeof(char *));
	unsigned *c = n ? realloc(x->feature_col, (x->n_features + 1) * sizeof(unsigned)) : NULL;
	if (n)
		x->features = n;
	if (c)
		x->feature_col = c;
	if (!n || !c || !(x->features[x->n_features] = strndup(s, len))) {
		oom(ps);
		return 0;
	}
	x->feature_col[x->n_features] = (unsigned)(at - ps->src) + 1;
	return (uint32_t)x->n_features++;
}

/* ------------------------------------------------------------------ lexing */

static void skip_space(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Consumes the operator text if it is next. */
static bool accept(struct parser *ps, const char *tok)
{
	size_t n = strlen(tok);

	skip_space(ps);
	if (strncmp(ps->p, tok, n))
		return false;
	/* "<" must not match "<=", "!" not "!=", "=" is never alone */
	if (n == 1 && (tok[0] == '<' || tok[0] == '>' || tok[0] == '!') && ps->p[1] == '=')
		return false;
	ps->p += n;
	return true;
}

/* A word (keyword or function name) followed by a non-name character. */
static bool accept_word(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	skip_space(ps);
	if (strncmp(ps->p, word, n) || is_name_char(ps->p[n]))
		return false;
	ps->p += n;
	return true;
}

/* A dotted name after "feature." etc.: [A-Za-z_][A-Za-z0-9_.]* */
static bool name(struct parser *ps, const char **ret, size_t *ret_len)
{
	const char *s = ps->p;

	if (!is_name_start(*s))
		return false;
	while (is_name_char(*ps->p) || (*ps->p == '.' && is_name_char(ps->p[1])))
		ps->p++;
	*ret = s;
	*ret_len = (size_t)(ps->p - s);
	return true;
}

/* A string literal at ps->p (which is '"'): its unescaped text into buf. */
static bool string_literal(struct parser *ps, char *buf, size_t size, size_t *ret_len)
{
	const char *start = ps->p++;
	size_t n = 0;

	for (;; ps->p++) {
		char c = *ps->p;
		if (!c) {
			fail_at(ps, start, "unterminated string");
			return false;
		}
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c == '\\') {
			c = *++ps->p;
			if (c != '"' && c != '\\') {
				fail_at(ps, ps->p - 1,
				        "unknown escape \\%c in a string (only \\\" and \\\\)",
				        c ? c : '0');
				return false;
			}
		}
		if (n + 1 >= size) {
			fail_at(ps, start, "string longer than %zu bytes", size - 1);
			return false;
		}
		buf[n++] = c;
	}
	buf[n] = 0;
	*ret_len = n;
	return true;
}

static bool number_literal(struct parser *ps, double *ret)
{
	char *end;
	const char *s = ps->p;

	if (!((*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9')))
		return false;
	errno = 0;
	*ret = strtod(s, &end);
	if (errno == ERANGE && fabs(*ret) == HUGE_VAL) {
		fail_at(ps, s, "number out of range");
		return false;
	}
	if (is_name_start(*end)) {
		fail_at(ps, end, "unexpected '%c' after a number", *end);
		return false;
	}
	ps->p = end;
	return true;
}

/* ------------------------------------------------------------------ parsing */

static enum type parse_expr(struct parser *ps);

static void expect_type(struct parser *ps, const char *at, enum type got, enum type want,
                        const char *what)
{
	if (got != want)
		fail_at(ps, at, "'%s' needs %s, not %s", what, type_name(want), type_name(got));
}

static enum type parse_call(struct parser *ps, const char *fn, const char *at)
{
	enum type t[MAX_DEPTH];
	size_t n = 0;
	const char *args_at = ps->p;

	if (!accept(ps, "(")) {
		fail_at(ps, ps->p, "expected '(' after %s", fn);
		return T_NUM;
	}
	do {
		skip_space(ps);
		if (n == MAX_DEPTH) {
			fail_at(ps, ps->p, "too many arguments to %s", fn);
			return T_NUM;
		}
		args_at = ps->p;
		t[n++] = parse_expr(ps);
	} while (!ps->rc && accept(ps, ","));
	if (ps->rc)
		return T_NUM;
	if (!accept(ps, ")")) {
		fail_at(ps, ps->p, "expected ')' or ',' in the arguments of %s", fn);
		return T_NUM;
	}
	if (!strcmp(fn, "is_missing")) {
		if (n != 1 || t[0] == T_BOOL)
			fail_at(ps, at, "is_missing takes one number or string");
		else
			emit(ps, t[0] == T_NUM ? OP_MISSING : OP_SMISSING, 0, 0, 0);
		return T_BOOL;
	}
	for (size_t i = 0; i < n; i++)
		if (t[i] != T_NUM) {
			fail_at(ps, args_at, "%s takes numbers, not %s", fn, type_name(t[i]));
			return T_NUM;
		}
	if (!strcmp(fn, "abs")) {
		if (n != 1)
			fail_at(ps, at, "abs takes one number, not %zu", n);
		emit(ps, OP_ABS, 0, 0, 0);
	} else {
		emit(ps, fn[1] == 'i' ? OP_MIN : OP_MAX, (uint32_t)n, 0, -(int)n + 1);
	}
	return T_NUM;
}

static enum type parse_primary(struct parser *ps)
{
	const char *at, *s;
	size_t len;
	double v;
	char buf[256];

	skip_space(ps);
	at = ps->p;
	if (ps->nest++ > MAX_DEPTH) {
		fail_at(ps, at, "expression nested more than %d deep", MAX_DEPTH);
		return T_NUM;
	}
	enum type t = T_NUM;
	if (accept(ps, "(")) {
		t = parse_expr(ps);
		if (!ps->rc && !accept(ps, ")"))
			fail_at(ps, ps->p, "expected ')' to close the '(' at column %u",
			        (unsigned)(at - ps->src) + 1);
	} else if (*ps->p == '"') {
		if (string_literal(ps, buf, sizeof(buf), &len))
			emit(ps, OP_STR, add_str(ps, buf, len), 0, 1);
		t = T_STR;
	} else if (number_literal(ps, &v)) {
		emit(ps, OP_NUM, add_num(ps, v), 0, 1);
	} else if (accept_word(ps, "true") || accept_word(ps, "false")) {
		emit(ps, OP_BOOL, at[0] == 't', 0, 1);
		t = T_BOOL;
	} else if (!strncmp(ps->p, "feature.", 8) || !strncmp(ps->p, "context.", 8) ||
	           !strncmp(ps->p, "label.", 6)) {
		char kind = *ps->p;
		ps->p += kind == 'l' ? 6 : 8;
		if (!name(ps, &s, &len)) {
			fail_at(ps, ps->p, "expected a name after '%.*s'", kind == 'l' ? 6 : 8, at);
			return T_NUM;
		}
		if (kind == 'f')
			emit(ps, OP_FEATURE, add_feature(ps, s, len, at), 0, 1);
		else
			emit(ps, kind == 'c' ? OP_CONTEXT : OP_LABEL, add_str(ps, s, len), 0, 1);
		t = kind == 'l' ? T_STR : T_NUM;
	} else if (accept_word(ps, "score")) {
		uint32_t k = 0;
		if (accept(ps, "[")) {
			skip_space(ps);
			const char *k_at = ps->p;
			if (!number_literal(ps, &v) || v != floor(v) || v < 0 || v > 65535) {
				fail_at(ps, k_at,
				        "score[...] takes an integer output index 0..65535");
				return T_NUM;
			}
			k = (uint32_t)v;
			if (!accept(ps, "]")) {
				fail_at(ps, ps->p, "expected ']' after the output index");
				return T_NUM;
			}
		}
		emit(ps, OP_SCORE, k, 0, 1);
	} else if (accept_word(ps, "decision") || accept_word(ps, "model") ||
	           accept_word(ps, "version")) {
		emit(ps,
		     at[0] == 'd'   ? OP_DECISION
		     : at[0] == 'm' ? OP_MODEL
		                    : OP_VERSION,
		     0, 0, 1);
		t = T_STR;
	} else if (accept_word(ps, "abs") || accept_word(ps, "min") || accept_word(ps, "max") ||
	           accept_word(ps, "is_missing")) {
		char fn[16];
		snprintf(fn, sizeof(fn), "%.*s", (int)(ps->p - at), at);
		t = parse_call(ps, fn, at);
	} else if (!*ps->p) {
		fail_at(ps, at, "unexpected end of the expression");
	} else if (name(ps, &s, &len)) {
		fail_at(ps, at,
		        "unknown name '%.*s' (use feature.NAME, context.KEY, label.KEY, score, "
		        "score[i], decision, model, version, abs, min, max or is_missing)",
		        (int)len, s);
	} else {
		fail_at(ps, at, "unexpected '%c'", *ps->p);
	}
	ps->nest--;
	return t;
}

static enum type parse_unary(struct parser *ps)
{
	skip_space(ps);
	const char *at = ps->p;
	if (accept(ps, "-")) {
		if (ps->nest++ > MAX_DEPTH)
			return fail_at(ps, at, "expression nested more than %d deep", MAX_DEPTH),
			       T_NUM;
		enum type t = parse_unary(ps);
		ps->nest--;
		expect_type(ps, at, t, T_NUM, "-");
		emit(ps, OP_NEG, 0, 0, 0);
		return T_NUM;
	}
	return parse_primary(ps);
}

static enum type parse_binary_num(struct parser *ps, enum type (*sub)(struct parser *),
                                  const char *const *ops, const enum op *codes, size_t n_ops)
{
	skip_space(ps);
	const char *at = ps->p;
	enum type t = sub(ps);

	for (;;) {
		size_t i;
		for (i = 0; i < n_ops; i++)
			if (accept(ps, ops[i]))
				break;
		if (i == n_ops || ps->rc)
			return t;
		expect_type(ps, at, t, T_NUM, ops[i]);
		skip_space(ps);
		const char *rhs_at = ps->p;
		enum type r = sub(ps);
		expect_type(ps, rhs_at, r, T_NUM, ops[i]);
		emit(ps, codes[i], 0, 0, -1);
		t = T_NUM;
	}
}

static enum type parse_prod(struct parser *ps)
{
	static const char *const ops[] = {"*", "/", "%"};
	static const enum op codes[] = {OP_MUL, OP_DIV, OP_MOD};
	return parse_binary_num(ps, parse_unary, ops, codes, 3);
}

static enum type parse_sum(struct parser *ps)
{
	static const char *const ops[] = {"+", "-"};
	static const enum op codes[] = {OP_ADD, OP_SUB};
	return parse_binary_num(ps, parse_prod, ops, codes, 2);
}

static enum type parse_in(struct parser *ps, enum type t, const char *at)
{
	char buf[256];
	size_t len, count = 0;
	uint32_t first = 0;

	if (t == T_BOOL) {
		fail_at(ps, at, "'in' needs a number or a string on its left, not a boolean");
		return T_BOOL;
	}
	if (!accept(ps, "[")) {
		fail_at(ps, ps->p, "expected '[' after 'in'");
		return T_BOOL;
	}
	do {
		skip_space(ps);
		const char *lit_at = ps->p;
		bool neg = t == T_NUM && accept(ps, "-");
		double v;
		uint32_t idx;
		if (t == T_STR && *ps->p == '"') {
			if (!string_literal(ps, buf, sizeof(buf), &len))
				return T_BOOL;
			idx = add_str(ps, buf, len);
		} else if (t == T_NUM && (skip_space(ps), number_literal(ps, &v))) {
			idx = add_num(ps, neg ? -v : v);
		} else {
			if (!ps->rc)
				fail_at(ps, lit_at, "the list after 'in' holds %s literals only",
				        t == T_NUM ? "number" : "string");
			return T_BOOL;
		}
		if (count++ == 0)
			first = idx;
	} while (!ps->rc && accept(ps, ","));
	if (!ps->rc && !accept(ps, "]"))
		fail_at(ps, ps->p, "expected ']' or ',' in the list after 'in'");
	emit(ps, t == T_NUM ? OP_IN : OP_SIN, first, (uint32_t)count, 0);
	return T_BOOL;
}

static enum type parse_cmp(struct parser *ps)
{
	static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">"};
	static const enum op num_codes[] = {OP_EQ, OP_NE, OP_LE, OP_GE, OP_LT, OP_GT};
	skip_space(ps);
	const char *at = ps->p;
	enum type t = parse_sum(ps);
	size_t i;

	if (ps->rc)
		return t;
	if (accept_word(ps, "in"))
		return parse_in(ps, t, at);
	for (i = 0; i < 6; i++)
		if (accept(ps, ops[i]))
			break;
	if (i == 6)
		return t;
	skip_space(ps);
	const char *rhs_at = ps->p;
	enum type r = parse_sum(ps);
	if (ps->rc)
		return T_BOOL;
	if (i < 2 && t == r && t != T_BOOL) {
		emit(ps, t == T_NUM ? num_codes[i] : (i == 0 ? OP_SEQ : OP_SNE), 0, 0, -1);
	} else if (i < 2) {
		fail_at(ps, t == T_BOOL ? at : rhs_at,
		        "'%s' compares two numbers or two strings, not %s and %s", ops[i],
		        type_name(t), type_name(r));
	} else {
		expect_type(ps, at, t, T_NUM, ops[i]);
		expect_type(ps, rhs_at, r, T_NUM, ops[i]);
		emit(ps, num_codes[i], 0, 0, -1);
	}
	skip_space(ps);
	for (size_t k = 0; k < 6; k++)
		if (!strncmp(ps->p, ops[k], strlen(ops[k])))
			fail_at(ps, ps->p, "comparisons do not chain: use && between them");
	return T_BOOL;
}

static enum type parse_not(struct parser *ps)
{
	skip_space(ps);
	const char *at = ps->p;
	if (accept(ps, "!")) {
		if (ps->nest++ > MAX_DEPTH)
			return fail_at(ps, at, "expression nested more than %d deep", MAX_DEPTH),
			       T_BOOL;
		skip_space(ps);
		const char *arg_at = ps->p;
		enum type t = parse_not(ps);
		ps->nest--;
		expect_type(ps, arg_at, t, T_BOOL, "!");
		emit(ps, OP_NOT, 0, 0, 0);
		return T_BOOL;
	}
	return parse_cmp(ps);
}

static enum type parse_logic(struct parser *ps, bool is_or)
{
	skip_space(ps);
	const char *at = ps->p;
	enum type t = is_or ? parse_logic(ps, false) : parse_not(ps);
	const char *op = is_or ? "||" : "&&";

	while (!ps->rc && accept(ps, op)) {
		expect_type(ps, at, t, T_BOOL, op);
		skip_space(ps);
		const char *rhs_at = ps->p;
		enum type r = is_or ? parse_logic(ps, false) : parse_not(ps);
		expect_type(ps, rhs_at, r, T_BOOL, op);
		emit(ps, is_or ? OP_OR : OP_AND, 0, 0, -1);
		t = T_BOOL;
	}
	return t;
}

static enum type parse_expr(struct parser *ps)
{
	if (ps->depth++ > MAX_DEPTH) {
		fail_at(ps, ps->p, "expression nested more than %d deep", MAX_DEPTH);
		return T_BOOL;
	}
	enum type t = parse_logic(ps, true);
	ps->depth--;
	return t;
}

void trig_free(struct trig_expr *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n_strs; i++)
		free(x->strs[i]);
	for (size_t i = 0; i < x->n_features; i++)
		free(x->features[i]);
	free(x->strs);
	free(x->features);
	free(x->feature_col);
	free(x->nums);
	free(x->code);
	free(x);
}

int trig_compile(const char *src, struct trig_expr **ret, struct trig_error *e)
{
	struct trig_error scratch;
	struct parser ps = {.src = src, .p = src, .e = e ? e : &scratch};

	ps.e->column = 0;
	ps.e->message[0] = 0;
	if (!src || !ret)
		return -EINVAL;
	ps.x = calloc(1, sizeof(*ps.x));
	if (!ps.x)
		return oom(&ps);
	skip_space(&ps);
	if (!*ps.p) {
		fail_at(&ps, ps.p, "empty expression");
	} else {
		const char *at = ps.p;
		enum type t = parse_expr(&ps);
		skip_space(&ps);
		if (!ps.rc && *ps.p)
			fail_at(&ps, ps.p, "unexpected '%c' after the end of the expression",
			        *ps.p);
		if (!ps.rc && t != T_BOOL)
			fail_at(&ps, at, "a trigger must be a condition (a boolean), not %s",
			        type_name(t));
	}
	if (ps.rc) {
		trig_free(ps.x);
		return ps.rc;
	}
	*ret = ps.x;
	return 0;
}

size_t trig_n_features(const struct trig_expr *x)
{
	return x->n_features;
}

const char *trig_feature(const struct trig_expr *x, size_t i, unsigned *ret_column)
{
	if (ret_column)
		*ret_column = x->feature_col[i];
	return x->features[i];
}

/* ------------------------------------------------------------------ evaluation */

union slot {
	double d;
	const char *s;
};

int trig_eval(const struct trig_expr *x, const struct trig_record *r)
{
	union slot st[MAX_CODE + 1];
	size_t sp = 0;

	for (size_t pc = 0; pc < x->n_code; pc++) {
		const struct insn *in = &x->code[pc];
		union slot *a = sp >= 2 ? &st[sp - 2] : NULL, *b = sp >= 1 ? &st[sp - 1] : NULL;
		switch ((enum op)in->op) {
		case OP_NUM:
			st[sp++].d = x->nums[in->arg];
			break;
		case OP_STR:
			st[sp++].s = x->strs[in->arg];
			break;
		case OP_BOOL:
			st[sp++].d = in->arg;
			break;
		case OP_FEATURE: {
			size_t j = r->binding ? r->binding[in->arg] : SIZE_MAX;
			st[sp++].d = j < r->n_features ? r->features[j] : NAN;
			break;
		}
		case OP_CONTEXT: {
			double v;
			st[sp++].d =
			    r->context && r->context(r->userdata, x->strs[in->arg], &v) ? v : NAN;
			break;
		}
		case OP_LABEL:
			st[sp++].s = r->label ? r->label(r->userdata, x->strs[in->arg]) : NULL;
			break;
		case OP_SCORE:
			st[sp++].d = in->arg < r->n_scores ? r->scores[in->arg] : NAN;
			break;
		case OP_DECISION:
			st[sp++].s = r->decision;
			break;
		case OP_MODEL:
			st[sp++].s = r->model;
			break;
		case OP_VERSION:
			st[sp++].s = r->version;
			break;
		case OP_NEG:
			b->d = -b->d;
			break;
		case OP_ADD:
			a->d += b->d;
			sp--;
			break;
		case OP_SUB:
			a->d -= b->d;
			sp--;
			break;
		case OP_MUL:
			a->d *= b->d;
			sp--;
			break;
		case OP_DIV:
			a->d /= b->d;
			sp--;
			break;
		case OP_MOD:
			a->d = fmod(a->d, b->d);
			sp--;
			break;
		case OP_EQ:
			a->d = a->d == b->d;
			sp--;
			break;
		case OP_NE:
			a->d = a->d != b->d;
			sp--;
			break;
		case OP_LT:
			a->d = a->d < b->d;
			sp--;
			break;
		case OP_LE:
			a->d = a->d <= b->d;
			sp--;
			break;
		case OP_GT:
			a->d = a->d > b->d;
			sp--;
			break;
		case OP_GE:
			a->d = a->d >= b->d;
			sp--;
			break;
		case OP_SEQ:
			a->d = a->s && b->s && !strcmp(a->s, b->s);
			sp--;
			break;
		case OP_SNE:
			a->d = !(a->s && b->s && !strcmp(a->s, b->s));
			sp--;
			break;
		case OP_IN: {
			double v = b->d, hit = 0;
			for (uint32_t k = 0; k < in->arg2; k++)
				hit += v == x->nums[in->arg + k];
			b->d = hit > 0;
			break;
		}
		case OP_SIN: {
			const char *v = b->s;
			bool hit = false;
			for (uint32_t k = 0; v && k < in->arg2; k++)
				hit |= !strcmp(v, x->strs[in->arg + k]);
			b->d = hit;
			break;
		}
		case OP_NOT:
			b->d = !(b->d != 0);
			break;
		case OP_AND:
			a->d = a->d != 0 && b->d != 0;
			sp--;
			break;
		case OP_OR:
			a->d = a->d != 0 || b->d != 0;
			sp--;
			break;
		case OP_ABS:
			b->d = fabs(b->d);
			break;
		case OP_MIN:
		case OP_MAX: {
			/* NaN wins: a missing argument makes the result missing */
			size_t n = in->arg;
			double v = st[sp - n].d;
			for (size_t k = 1; k < n; k++) {
				double w = st[sp - n + k].d;
				v = isnan(v) || isnan(w) ? NAN
				    : in->op == OP_MIN   ? (w < v ? w : v)
				                         : (w > v ? w : v);
			}
			sp -= n - 1;
			st[sp - 1].d = v;
			break;
		}
		case OP_MISSING:
			b->d = isnan(b->d);
			break;
		case OP_SMISSING:
			b->d = b->s == NULL;
			break;
		}
	}
	return sp == 1 && st[0].d != 0;
}

/* ------------------------------------------------------------------ rate limits */

void trig_rate_init(struct trig_rate *r, double per_second, double burst)
{
	*r = (struct trig_rate){.per_second = per_second, .burst = burst, .tokens = burst};
}

bool trig_rate_take(struct trig_rate *r, uint64_t now_ns)
{
	if (r->last_ns && now_ns > r->last_ns) {
		r->tokens += (double)(now_ns - r->last_ns) * 1e-9 * r->per_second;
		if (r->tokens > r->burst)
			r->tokens = r->burst;
	}
	if (now_ns > r->last_ns || !r->last_ns)
		r->last_ns = now_ns;
	if (r->tokens >= 1) {
		r->tokens -= 1;
		r->taken++;
		return true;
	}
	r->suppressed++;
	return false;
}

int trig_rate_parse(const char *s, double *ret_per_second)
{
	char *end;
	double n;

	errno = 0;
	n = strtod(s, &end);
	if (errno || end == s || !(n > 0) || !isfinite(n) || *end != '/')
		return -EINVAL;
	end++;
	double per = !strcmp(end, "s")     ? 1
	             : !strcmp(end, "min") ? 60
	             : !strcmp(end, "h")   ? 3600
	                                   : 0;
	if (!per)
		return -EINVAL;
	*ret_per_second = n / per;
	return 0;
}

/* ------------------------------------------------------------------ wire records */

static bool pb_context(void *ud, const char *key, double *ret)
{
	const Evident__V1__Record *rec = ud;
	for (size_t i = 0; i < rec->n_context; i++)
		if (rec->context[i]->key && !strcmp(rec->context[i]->key, key)) {
			*ret = rec->context[i]->value;
			return true;
		}
	return false;
}

static const char *pb_label(void *ud, const char *key)
{
	const Evident__V1__Record *rec = ud;
	for (size_t i = 0; i < rec->n_labels; i++)
		if (rec->labels[i]->key && !strcmp(rec->labels[i]->key, key))
			return rec->labels[i]->value;
	return NULL;
}

void trig_record_from_pb(const Evident__V1__Record *rec, const size_t *binding,
                         struct trig_record *ret)
{
	*ret = (struct trig_record){.features = rec->features,
	                            .n_features = rec->n_features,
	                            .binding = binding,
	                            .scores = rec->scores,
	                            .n_scores = rec->n_scores,
	                            .decision = rec->decision,
	                            .model = rec->model_id,
	                            .version = rec->model_version,
	                            .context = pb_context,
	                            .label = pb_label,
	                            .userdata = (void *)rec};
}
