/* SPDX-License-Identifier: Apache-2.0 */
/* The interventional coalition game of a model through ex_fn (internal to the sampled
 * estimators): v(S) = sum_b w_b f(x_S, b_rest) / sum_b w_b, for every output at once.
 *
 * Players are the features whose value differs from at least one background row (a feature
 * equal to every background value cannot change any hybrid row: its Shapley value is 0 and it
 * is dropped, as shap's "varying" check does). A coalition is a bitmask over players.
 *
 * Evaluation is batched and cached twice: a coalition's value is computed once, and a hybrid
 * row is sent to the model once: the row for (S, b) depends only on S intersected with the
 * players where x and b differ, so coalitions that differ only where x equals b share rows. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "explain.h"

struct game;

/* x (n_features), bg (n_bg x n_features) and w (n_bg weights, NULL = equal) are copied.
 * Evaluates f(x) and f(b) for every b (n_bg + 1 rows). Returns 0, or a negative errno with a
 * reason in err (the model failed, non-finite outputs, bad arguments). */
int game_new(const struct ex_fn *f, const double *x, const double *bg, const double *w, size_t n_bg,
             size_t max_batch_rows, struct game **ret, char *err, size_t err_size);
void game_free(struct game *g);

size_t game_n_players(const struct game *g);
/* Feature index of player p. */
size_t game_player_feature(const struct game *g, size_t p);
size_t game_n_outputs(const struct game *g);
size_t game_mask_words(const struct game *g);
/* v(empty) = weighted mean of f(b) and v(N) = f(x), n_outputs values each. Borrowed. */
const double *game_v_empty(const struct game *g);
const double *game_v_full(const struct game *g);

/* Values of n coalitions (masks: n x mask_words words) into v (n x n_outputs). Evaluates the
 * rows not seen before in batches of at most max_batch_rows. Returns 0 or a negative errno
 * (err names the failing batch); after an error the game is only good for game_free. */
int game_values(struct game *g, const uint64_t *masks, size_t n, double *v, char *err,
                size_t err_size);

/* Model rows and distinct coalitions evaluated so far (the two f(x)/f(b) evaluations at
 * game_new included in rows). */
uint64_t game_rows(const struct game *g);
uint64_t game_coalitions(const struct game *g);

static inline bool mask_has(const uint64_t *m, size_t p)
{
	return (m[p >> 6] >> (p & 63)) & 1;
}
static inline void mask_set(uint64_t *m, size_t p)
{
	m[p >> 6] |= 1ull << (p & 63);
}
