/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by counterfactual.c and flip.c: the evaluation context of one what-if
 * call (resolved feature facts, decision at x, budgeted model calls). Not installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "explain.h"

struct wi_ctx {
	const struct ex_fn *f;
	const struct ex_model *m; /* NULL: black box */
	const double *x, *bg;
	size_t M, G, n_bg;
	const struct ex_feature_info *info; /* resolved: the caller's or own_info */
	struct ex_feature_info *own_info;
	bool *cat; /* M: categorical (facts) or split as a category by the model */
	struct ex_decision d;
	struct ex_cf_config cfg; /* defaults filled in */
	double *fx;              /* G: f(x) */
	int dec0;                /* decision at x */
	uint64_t rows;           /* rows sent through f */
	double *row, *out;       /* scratch: one row, one output */
	double *buf, *buf_out;   /* scratch: buf_cap rows and their outputs */
	size_t buf_cap;
	/* trees, built on the first exact scan: each tree's leaf value at x, and a bitset of the
	 * features each tree splits on (n_trees x uses_words), so a scan along feature j skips
	 * the trees that never look at it */
	double *leaf_x;
	uint64_t *uses;
	size_t uses_words;
	char *err;
	size_t err_size;
};

/* Resolves inputs and defaults, evaluates f(x) (and checks it against the model). Returns 0
 * or a negative errno with a reason in err; call wi__ctx_deinit either way. */
int wi__ctx_init(struct wi_ctx *w, const struct ex_whatif_input *in, const double *x,
                 const struct ex_cf_config *c, char *err, size_t err_size);
void wi__ctx_deinit(struct wi_ctx *w);
/* ex_cf_single on an initialised context (the flip test scans every feature of one x: the
 * context, f(x) and the trees' facts are shared). Results equal ex_cf_single's with
 * cfg.budget = budget, model_rows included. */
int wi__single_shared(struct wi_ctx *w, size_t j, size_t budget, struct ex_cf_result *ret);
/* n rows through f in batches, counted against the budget (-ENOSPC). */
int wi__eval(struct wi_ctx *w, const double *rows, size_t n, double *out);
/* True when outputs out (G values) give the wanted decision (not x's, or the target). */
bool wi__flips(const struct wi_ctx *w, const double *out);
/* Plausible range of feature j (infinite where unknown). */
double wi__lo(const struct wi_ctx *w, size_t j);
double wi__hi(const struct wi_ctx *w, size_t j);
/* Distinct observed values of column j in bg, most frequent first (malloc'd). */
int wi__levels(const struct wi_ctx *w, size_t j, double **ret, size_t *ret_n);
