/* SPDX-License-Identifier: Apache-2.0 */
/* The interventional coalition game through ex_fn, with coalition and hybrid-row caches. */
#include "game.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* An open-addressing set of fixed-size keys stored in a growing array; the table holds
 * index + 1 (0 = empty). */
struct keyset {
	uint64_t *keys; /* n x words */
	size_t words, n, cap;
	uint32_t *table;
	size_t table_size; /* power of two */
};

struct game {
	struct ex_fn f;
	size_t n_features, n_outputs, n_bg, n_players, words, max_batch_rows;
	double *x, *bg, *w, wsum;
	size_t *player_feature;
	uint64_t *differs; /* n_bg x words: players where x and b differ */
	double *f_x, *f_bg, *v_empty;

	struct keyset coalitions; /* key: mask */
	double *cval;             /* coalitions.cap x n_outputs */
	struct keyset rows;       /* key: b index, then the effective mask */
	double *rval;             /* rows.cap x n_outputs */

	double *batch;    /* max_batch_rows x n_features */
	size_t *batch_id; /* row-cache index of each batch row */
	double *batch_out;
	size_t n_batch;
	uint64_t n_rows_evaluated;
};

static uint64_t hash_words(const uint64_t *k, size_t words)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < words; i++) {
		h ^= k[i];
		h *= 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	return h;
}

static int keyset_init(struct keyset *s, size_t words)
{
	*s = (struct keyset){.words = words, .table_size = 1024};
	s->table = calloc(s->table_size, sizeof(uint32_t));
	return s->table ? 0 : -ENOMEM;
}

static void keyset_free(struct keyset *s)
{
	free(s->keys);
	free(s->table);
}

/* Index of key, or SIZE_MAX. *slot receives the table slot where it is or would go. */
static size_t keyset_find(const struct keyset *s, const uint64_t *key, size_t *slot)
{
	size_t mask = s->table_size - 1, i = hash_words(key, s->words) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t e = s->table[i];
		if (!e) {
			*slot = i;
			return SIZE_MAX;
		}
		if (!memcmp(s->keys + (size_t)(e - 1) * s->words, key,
		            s->words * sizeof(uint64_t))) {
			*slot = i;
			return e - 1;
		}
	}
}

static int keyset_grow_table(struct keyset *s)
{
	size_t size = s->table_size * 2, mask = size - 1;
	uint32_t *t = calloc(size, sizeof(uint32_t));

	if (!t)
		return -ENOMEM;
	for (size_t k = 0; k < s->n; k++) {
		size_t i = hash_words(s->keys + k * s->words, s->words) & mask;
		while (t[i])
			i = (i + 1) & mask;
		t[i] = (uint32_t)(k + 1);
	}
	free(s->table);
	s->table = t;
	s->table_size = size;
	return 0;
}

/* Adds a key known to be absent; grows the value array vals (n_outputs per key) with it.
 * Returns its index or a negative errno. */
static long keyset_add(struct keyset *s, const uint64_t *key, double **vals, size_t n_outputs)
{
	size_t slot;

	if (s->n >= UINT32_MAX - 1)
		return -E2BIG;
	if ((s->n + 1) * 2 > s->table_size && keyset_grow_table(s) < 0)
		return -ENOMEM;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		uint64_t *k = realloc(s->keys, cap * s->words * sizeof(uint64_t));
		if (!k)
			return -ENOMEM;
		s->keys = k;
		double *v = realloc(*vals, cap * n_outputs * sizeof(double));
		if (!v)
			return -ENOMEM;
		*vals = v;
		s->cap = cap;
	}
	keyset_find(s, key, &slot);
	memcpy(s->keys + s->n * s->words, key, s->words * sizeof(uint64_t));
	s->table[slot] = (uint32_t)(s->n + 1);
	return (long)s->n++;
}

static bool same_value(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

static int check_finite(const double *v, size_t n_rows, size_t n_outputs, char *err,
                        size_t err_size)
{
	for (size_t i = 0; i < n_rows * n_outputs; i++)
		if (!isfinite(v[i]))
			return ex__fail(
			    err, err_size, -EDOM,
			    "the model returned a non-finite output (%g) for row %zu of a "
			    "batch of %zu, output %zu",
			    v[i], i / n_outputs, n_rows, i % n_outputs);
	return 0;
}

static int predict(struct game *g, const double *rows, size_t n, double *out, char *err,
                   size_t err_size)
{
	int rc = g->f.predict(g->f.userdata, rows, n, out, err, err_size);

	if (rc < 0)
		return rc;
	g->n_rows_evaluated += n;
	return check_finite(out, n, g->n_outputs, err, err_size);
}

int game_new(const struct ex_fn *f, const double *x, const double *bg, const double *w, size_t n_bg,
             size_t max_batch_rows, struct game **ret, char *err, size_t err_size)
{
	size_t M = f ? f->n_features : 0, G = f ? f->n_outputs : 0;
	struct game *g;
	double *rows = NULL, *out = NULL;
	int rc = -ENOMEM;

	if (!f || !x || !bg || !n_bg || !M || !G || !ret)
		return ex__fail(err, err_size, -EINVAL,
		                "the game needs a model, a row and background");
	g = calloc(1, sizeof(*g));
	if (!g)
		return ex__fail(err, err_size, -ENOMEM, "out of memory");
	g->f = *f;
	g->n_features = M;
	g->n_outputs = G;
	g->n_bg = n_bg;
	g->max_batch_rows = max_batch_rows ? max_batch_rows : 65536;
	g->x = malloc(M * sizeof(double));
	g->bg = malloc(n_bg * M * sizeof(double));
	g->w = malloc(n_bg * sizeof(double));
	g->player_feature = malloc(M * sizeof(size_t));
	g->f_x = malloc(G * sizeof(double));
	g->f_bg = malloc(n_bg * G * sizeof(double));
	g->v_empty = calloc(G, sizeof(double));
	rows = malloc((n_bg + 1) * M * sizeof(double));
	out = malloc((n_bg + 1) * G * sizeof(double));
	if (!g->x || !g->bg || !g->w || !g->player_feature || !g->f_x || !g->f_bg || !g->v_empty ||
	    !rows || !out)
		goto fail;
	memcpy(g->x, x, M * sizeof(double));
	memcpy(g->bg, bg, n_bg * M * sizeof(double));
	for (size_t b = 0; b < n_bg; b++) {
		g->w[b] = w ? w[b] : 1.0;
		if (!(g->w[b] >= 0) || !isfinite(g->w[b])) {
			rc = ex__fail(err, err_size, -EINVAL,
			              "background row %zu: weight %g is not a "
			              "finite non-negative number",
			              b, g->w[b]);
			goto fail_quiet;
		}
		g->wsum += g->w[b];
	}
	if (!(g->wsum > 0)) {
		rc = ex__fail(err, err_size, -EINVAL, "the background weights sum to zero");
		goto fail_quiet;
	}
	for (size_t j = 0; j < M; j++)
		for (size_t b = 0; b < n_bg; b++)
			if (!same_value(x[j], bg[b * M + j])) {
				g->player_feature[g->n_players++] = j;
				break;
			}
	g->words = g->n_players ? (g->n_players + 63) / 64 : 1;
	g->differs = calloc(n_bg * g->words, sizeof(uint64_t));
	if (!g->differs || keyset_init(&g->coalitions, g->words) < 0 ||
	    keyset_init(&g->rows, g->words + 1) < 0)
		goto fail;
	for (size_t b = 0; b < n_bg; b++)
		for (size_t p = 0; p < g->n_players; p++) {
			size_t j = g->player_feature[p];
			if (!same_value(x[j], bg[b * M + j]))
				mask_set(g->differs + b * g->words, p);
		}

	memcpy(rows, x, M * sizeof(double));
	memcpy(rows + M, bg, n_bg * M * sizeof(double));
	rc = predict(g, rows, n_bg + 1, out, err, err_size);
	if (rc < 0)
		goto fail_quiet;
	memcpy(g->f_x, out, G * sizeof(double));
	memcpy(g->f_bg, out + G, n_bg * G * sizeof(double));
	for (size_t b = 0; b < n_bg; b++)
		for (size_t o = 0; o < G; o++)
			g->v_empty[o] += g->w[b] * g->f_bg[b * G + o];
	for (size_t o = 0; o < G; o++)
		g->v_empty[o] /= g->wsum;

	size_t cap = g->max_batch_rows;
	g->batch = malloc(cap * M * sizeof(double));
	g->batch_id = malloc(cap * sizeof(size_t));
	g->batch_out = malloc(cap * G * sizeof(double));
	if (!g->batch || !g->batch_id || !g->batch_out)
		goto fail;
	free(rows);
	free(out);
	*ret = g;
	return 0;
fail:
	rc = ex__fail(err, err_size, -ENOMEM, "out of memory");
fail_quiet:
	free(rows);
	free(out);
	game_free(g);
	return rc;
}

void game_free(struct game *g)
{
	if (!g)
		return;
	free(g->x);
	free(g->bg);
	free(g->w);
	free(g->player_feature);
	free(g->differs);
	free(g->f_x);
	free(g->f_bg);
	free(g->v_empty);
	keyset_free(&g->coalitions);
	free(g->cval);
	keyset_free(&g->rows);
	free(g->rval);
	free(g->batch);
	free(g->batch_id);
	free(g->batch_out);
	free(g);
}

size_t game_n_players(const struct game *g)
{
	return g->n_players;
}

size_t game_player_feature(const struct game *g, size_t p)
{
	return g->player_feature[p];
}

size_t game_n_outputs(const struct game *g)
{
	return g->n_outputs;
}

size_t game_mask_words(const struct game *g)
{
	return g->words;
}

const double *game_v_empty(const struct game *g)
{
	return g->v_empty;
}

const double *game_v_full(const struct game *g)
{
	return g->f_x;
}

uint64_t game_rows(const struct game *g)
{
	return g->n_rows_evaluated;
}

uint64_t game_coalitions(const struct game *g)
{
	return g->coalitions.n;
}

static int flush(struct game *g, char *err, size_t err_size)
{
	size_t G = g->n_outputs;
	int rc;

	if (!g->n_batch)
		return 0;
	rc = predict(g, g->batch, g->n_batch, g->batch_out, err, err_size);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < g->n_batch; i++)
		memcpy(g->rval + g->batch_id[i] * G, g->batch_out + i * G, G * sizeof(double));
	g->n_batch = 0;
	return 0;
}

/* The row-cache index holding f of the hybrid (S, b), queuing the row when new. */
static long row_for(struct game *g, const uint64_t *S, size_t b, uint64_t *key, char *err,
                    size_t err_size)
{
	size_t W = g->words, M = g->n_features, slot, idx;
	const uint64_t *D = g->differs + b * W;

	key[0] = b;
	for (size_t i = 0; i < W; i++)
		key[1 + i] = S[i] & D[i];
	idx = keyset_find(&g->rows, key, &slot);
	if (idx != SIZE_MAX)
		return (long)idx;
	if (g->n_batch == g->max_batch_rows) {
		int rc = flush(g, err, err_size);
		if (rc < 0)
			return rc;
	}
	long id = keyset_add(&g->rows, key, &g->rval, g->n_outputs);
	if (id < 0)
		return ex__fail(err, err_size, (int)id, "out of memory for the row cache");
	double *row = g->batch + g->n_batch * M;
	memcpy(row, g->bg + b * M, M * sizeof(double));
	for (size_t p = 0; p < g->n_players; p++)
		if (mask_has(key + 1, p))
			row[g->player_feature[p]] = g->x[g->player_feature[p]];
	g->batch_id[g->n_batch++] = (size_t)id;
	return id;
}

/* Where f of hybrid (S, b) lives once the batch is flushed, in *at: a row-cache index (>= 0),
 * or f(b) / f(x) when S & D_b is empty / all of D_b (encoded as -1 - b and -2 - n_bg).
 * Returns 0 or a negative errno. */
static int locate(struct game *g, const uint64_t *S, size_t b, uint64_t *key, long *at, char *err,
                  size_t err_size)
{
	const uint64_t *D = g->differs + b * g->words;
	bool none = true, all = true;

	for (size_t i = 0; i < g->words; i++) {
		uint64_t e = S[i] & D[i];
		none &= e == 0;
		all &= e == D[i];
	}
	if (none) {
		*at = -1 - (long)b;
		return 0;
	}
	if (all) {
		*at = -2 - (long)g->n_bg;
		return 0;
	}
	long r = row_for(g, S, b, key, err, err_size);
	if (r < 0)
		return (int)r;
	*at = r;
	return 0;
}

int game_values(struct game *g, const uint64_t *masks, size_t n, double *v, char *err,
                size_t err_size)
{
	size_t W = g->words, G = g->n_outputs, R = g->n_bg, slot;
	uint64_t *key = malloc((W + 1) * sizeof(uint64_t));
	long *where = NULL;
	size_t *cidx = malloc(n * sizeof(size_t));
	int rc = 0;

	if (!key || !cidx) {
		rc = ex__fail(err, err_size, -ENOMEM, "out of memory");
		goto out;
	}
	/* pass 1: find cached coalitions, register the new ones and queue their rows */
	size_t n_new = 0;
	for (size_t k = 0; k < n; k++) {
		const uint64_t *S = masks + k * W;
		size_t idx = keyset_find(&g->coalitions, S, &slot);
		if (idx != SIZE_MAX) {
			cidx[k] = idx;
			continue;
		}
		long id = keyset_add(&g->coalitions, S, &g->cval, G);
		if (id < 0) {
			rc = ex__fail(err, err_size, (int)id,
			              "out of memory for the coalition cache");
			goto out;
		}
		cidx[k] =
		    (size_t)id | ((size_t)1 << (sizeof(size_t) * 8 - 1)); /* new: fill below */
		n_new++;
	}
	if (n_new) {
		where = malloc(n_new * R * sizeof(long));
		if (!where) {
			rc = ex__fail(err, err_size, -ENOMEM, "out of memory");
			goto out;
		}
		size_t q = 0;
		for (size_t k = 0; k < n; k++) {
			if (!(cidx[k] >> (sizeof(size_t) * 8 - 1)))
				continue;
			const uint64_t *S = masks + k * W;
			for (size_t b = 0; b < R; b++) {
				rc = locate(g, S, b, key, &where[q++], err, err_size);
				if (rc < 0)
					goto out;
			}
		}
		rc = flush(g, err, err_size);
		if (rc < 0)
			goto out;
		/* pass 2: the new coalitions' values from their rows */
		q = 0;
		for (size_t k = 0; k < n; k++) {
			if (!(cidx[k] >> (sizeof(size_t) * 8 - 1)))
				continue;
			cidx[k] &= ~((size_t)1 << (sizeof(size_t) * 8 - 1));
			double *cv = g->cval + cidx[k] * G;
			for (size_t o = 0; o < G; o++)
				cv[o] = 0;
			for (size_t b = 0; b < R; b++) {
				long at = where[q++];
				const double *fv = at >= 0 ? g->rval + at * G
				                   : at == -2 - (long)R
				                       ? g->f_x
				                       : g->f_bg + (size_t)(-1 - at) * G;
				for (size_t o = 0; o < G; o++)
					cv[o] += g->w[b] * fv[o];
			}
			for (size_t o = 0; o < G; o++)
				cv[o] /= g->wsum;
		}
	}
	for (size_t k = 0; k < n; k++)
		memcpy(v + k * G, g->cval + cidx[k] * G, G * sizeof(double));
out:
	/* after an error the caches hold entries whose values were never computed: the header
	 * says the game is then only good for game_free */
	free(key);
	free(where);
	free(cidx);
	return rc;
}
