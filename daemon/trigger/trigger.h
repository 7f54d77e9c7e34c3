/* SPDX-License-Identifier: Apache-2.0 */
/* Trigger expressions: the `when` of a [trigger NAME] section (daemon/evidentd.conf.example),
 * compiled once at load into a small stack program and evaluated per record. Pure code: no
 * I/O, no logging, no allocation while evaluating.
 *
 * Grammar (lowest precedence first; all binary operators are left-associative):
 *     expr  := or
 *     or    := and ("||" and)*
 *     and   := not ("&&" not)*
 *     not   := "!" not | cmp
 *     cmp   := sum [("==" | "!=" | "<" | "<=" | ">" | ">=") sum]
 *            | sum "in" "[" literal ("," literal)* "]"
 *     sum   := prod (("+" | "-") prod)*
 *     prod  := unary (("*" | "/" | "%") unary)*
 *     unary := "-" unary | primary
 *     primary := NUMBER | STRING | "true" | "false" | "(" expr ")"
 *            | "feature." NAME | "context." KEY | "label." KEY
 *            | "score" | "score[" INTEGER "]" | "decision" | "model" | "version"
 *            | ("abs" | "min" | "max" | "is_missing") "(" expr ("," expr)* ")"
 * Types are checked at compile time: numbers (features, context values, scores, arithmetic),
 * strings (labels, decision, model, version, literals) and booleans (comparisons, logic);
 * `==`/`!=`/`in` compare two numbers or two strings, `<` and friends numbers only, `&&` `||`
 * `!` take booleans; abs takes one number, min and max one or more, is_missing one number or
 * string. Missing values: a missing feature (NaN), an absent context key or score index is
 * NaN, and every comparison with NaN is false except `!=`; an absent label is missing too
 * (`==` and `in` false, `!=` true). `score` is score[0]. Names: NAME and KEY are
 * [A-Za-z_][A-Za-z0-9_.-]*; strings use double quotes with \" and \\ escapes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trig_expr;

/* Where a compile error is: 1-based column within the expression text, and why. */
struct trig_error {
	unsigned column;
	char message[200];
};

/* Compiles src (NUL-terminated). Returns 0 and *ret (free with trig_free), -EINVAL with *e
 * filled (syntax or type error), -ENOMEM. */
int trig_compile(const char *src, struct trig_expr **ret, struct trig_error *e);
void trig_free(struct trig_expr *x);

/* Feature names the expression uses, for binding: n_features() of them, in first-use
 * order; name(i) is borrowed from x. */
size_t trig_n_features(const struct trig_expr *x);
const char *trig_feature(const struct trig_expr *x, size_t i, unsigned *ret_column);

/* What a record offers an expression. features[binding[i]] is the value of the i-th feature
 * the expression names (binding from the model's manifest: SIZE_MAX when the manifest has no
 * such feature, which reads as missing). context and label lookups are callbacks so the
 * record need not be copied: context returns false when the key is absent; label returns
 * NULL when absent. */
struct trig_record {
	const double *features;
	size_t n_features;
	const size_t *binding; /* trig_n_features(x) entries */
	const double *scores;
	size_t n_scores;
	const char *decision, *model, *version; /* NULL: missing */
	bool (*context)(void *userdata, const char *key, double *ret);
	const char *(*label)(void *userdata, const char *key);
	void *userdata;
};

struct Evident__V1__Record;
/* The trig_record of a wire Record (evident.proto): features, scores, decision, model,
 * version, and context / label lookups into rec (borrowed: rec and binding must outlive the
 * evaluation). */
void trig_record_from_pb(const struct Evident__V1__Record *rec, const size_t *binding,
                         struct trig_record *ret);

/* Evaluates x on r: 1 (fires), 0 (does not). Never fails on data (missing values follow the
 * rules above); division by zero gives inf or NaN as in IEEE arithmetic. */
int trig_eval(const struct trig_expr *x, const struct trig_record *r);

/* A per-rule rate limit: a token bucket of `burst` tokens refilled at `per_second`. A trigger
 * that finds no token is suppressed and counted (never silently dropped: the caller records
 * the count). */
struct trig_rate {
	double per_second, burst;
	double tokens;
	uint64_t last_ns;
	uint64_t taken, suppressed;
};

/* A full bucket. */
void trig_rate_init(struct trig_rate *r, double per_second, double burst);
/* Takes a token at time now_ns (monotonic): true, or false and suppressed++. */
bool trig_rate_take(struct trig_rate *r, uint64_t now_ns);
/* "10/s", "600/min", "5/h", "2.5/s": into events per second. Returns 0 or -EINVAL. */
int trig_rate_parse(const char *s, double *ret_per_second);
