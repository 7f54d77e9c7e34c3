/* SPDX-License-Identifier: Apache-2.0 */
/* The explain library: model evaluators that replay the training library's own semantics
 * (XGBoost JSON, LightGBM text, linear-json) and exact attribution methods (path-dependent
 * and interventional TreeSHAP, SHAP interaction values, linear SHAP), in double precision.
 * What each method computes and why, with its formulas and sources: METHODS.md beside this
 * file, cited below as METHODS.md §N.
 *
 * This header is the whole public API. No libuv, no logging, no global state: a loaded model
 * is immutable and may be shared by any number of threads; every function that computes
 * takes its scratch space from the caller or allocates it per call.
 *
 * Errors are negative errnos: -EINVAL bad arguments; -EBADMSG a malformed model file (the
 * error buffer names the file and field); -ENOTSUP a model feature this library refuses to
 * compute rather than compute wrong (vector leaves, linear trees, unknown objectives; the
 * message names it); -EDOM an attribution failed its efficiency check (sum of attributions +
 * base value differs from the model output); -ENOMEM.
 *
 * Outputs: a model has n_outputs = 1 for binary and regression objectives and one per class
 * for multi-class ones. Attributions are in margin space (the raw sum of trees plus base
 * score, or the linear predictor), where they are exact and additive. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EX_ERR_MAX 512 /* room for any error message */

enum ex_format {
	EX_FORMAT_AUTO = 0, /* from the content: JSON with "learner" / "coef", or LightGBM text */
	EX_FORMAT_XGBOOST_JSON,
	EX_FORMAT_LIGHTGBM_TEXT,
	EX_FORMAT_LINEAR_JSON,
};

/* The output link from margin to response, as the training library defines it. */
enum ex_link {
	EX_LINK_IDENTITY,
	EX_LINK_LOGIT,   /* probability = 1 / (1 + exp(-margin)) */
	EX_LINK_LOG,     /* response = exp(margin) (poisson, gamma, tweedie) */
	EX_LINK_SOFTMAX, /* multi-class probabilities */
};

struct ex_model;

/* Loads a model file. name is used in error messages (NULL: path). On failure err (may be
 * NULL) holds "NAME: FIELD: problem". Returns 0 and *ret (free with ex_model_free). */
int ex_model_load(const char *path, enum ex_format format, struct ex_model **ret, char *err,
                  size_t err_size);
/* The same from memory (data need not be NUL-terminated). */
int ex_model_load_buffer(const void *data, size_t len, enum ex_format format, const char *name,
                         struct ex_model **ret, char *err, size_t err_size);
void ex_model_free(struct ex_model *m);

enum ex_format ex_model_format(const struct ex_model *m);
size_t ex_model_n_features(const struct ex_model *m);
size_t ex_model_n_outputs(const struct ex_model *m);
enum ex_link ex_model_link(const struct ex_model *m);
/* The objective as the model file names it ("binary:logistic", "binary sigmoid:1",
 * "logit"). Borrowed from m. */
const char *ex_model_objective(const struct ex_model *m);
/* Feature i's name from the model file, or NULL. Borrowed from m. */
const char *ex_model_feature_name(const struct ex_model *m, size_t i);
/* True for tree ensembles (TreeSHAP applies), false for linear models. */
bool ex_model_is_trees(const struct ex_model *m);
/* Trees, and the largest number of distinct features on one root-to-leaf path. */
size_t ex_model_n_trees(const struct ex_model *m);
unsigned ex_model_max_path_features(const struct ex_model *m);

/* Margin of one row x[0..n_features) into out[0..n_outputs). NaN in x means missing and
 * follows the tree format's own rule; a linear model has none and refuses it (-EINVAL).
 * base_margin (may be NULL) replaces the model's base score (a linear model's intercept), per
 * output, as XGBoost's per-row base_margin does. Returns 0, -EINVAL. */
int ex_predict_margin(const struct ex_model *m, const double *x, const double *base_margin,
                      double *out);
/* Applies the model's link to margins in place (n_outputs values). LightGBM's "sigmoid:s"
 * is part of its logit link: probability = 1 / (1 + exp(-s * margin)), the margin being
 * LightGBM's raw score. */
void ex_link_apply(const struct ex_model *m, double *values);

/* ------------------------------------------------------------------ exact attributions */

/* Path-dependent TreeSHAP (Lundberg et al. 2020) by Gauss-Legendre quadrature: exact Shapley
 * values of the game v(S) = E[f(x) | x_S] under the trees' cover distribution.
 * phi: n_outputs x n_features (row-major), base: n_outputs. Checks efficiency.
 * Returns 0; -EINVAL (not a tree model); -EDOM. */
int ex_treeshap(const struct ex_model *m, const double *x, double *phi, double *base);

/* ex_treeshap for n_rows rows of X (row-major) at once: phi n_rows x n_outputs x n_features,
 * base n_rows x n_outputs; the fastest way to explain many rows (per tree a table of its
 * edges' constants, then vectorised lanes of rows without divisions; METHODS.md §1.6). A
 * row's numbers do not depend on the rows beside it. Each row is checked for efficiency: with
 * ret_rc (n_rows ints) each row's 0 / -EDOM is reported there and the call returns 0;
 * without it the first failure is returned. Returns 0, -EINVAL, -ENOTSUP, -ENOMEM. */
int ex_treeshap_rows(const struct ex_model *m, const double *X, size_t n_rows, double *phi,
                     double *base, int *ret_rc);
/* ex_treeshap_rows that also gives each row's margin (n_rows x n_outputs, the bits
 * ex_predict_margin gives) in margins: the walk finds each row's leaves anyway. */
int ex_treeshap_rows_margins(const struct ex_model *m, const double *X, size_t n_rows, double *phi,
                             double *base, double *margins, int *ret_rc);

/* The classic recursion (EXTEND/UNWIND), kept as the reference the tests compare against. */
int ex_treeshap_classic(const struct ex_model *m, const double *x, double *phi, double *base);

/* Interventional TreeSHAP against background rows bg (n_bg x n_features, row-major):
 * v(S) = mean_b f(x_S, b_rest). base = mean_b f(b). Returns 0; -EINVAL; -EDOM. */
int ex_treeshap_interventional(const struct ex_model *m, const double *x, const double *bg,
                               size_t n_bg, double *phi, double *base);

/* SHAP interaction values of the path-dependent game: inter is n_outputs x M x M; row sums
 * equal the SHAP values, the matrix is symmetric. Returns 0; -EINVAL; -EDOM. */
int ex_interactions(const struct ex_model *m, const double *x, double *inter, double *base);

/* Exact interventional SHAP of a linear model: phi_i = beta_i (x_i - mean_b x_i), in margin
 * (log-odds for logit links). bg may be NULL (n_bg 0): the mean is then the model's stored
 * feature means if present, else zeros. Missing (NaN) x_i is refused (-EINVAL). */
int ex_linear_shap(const struct ex_model *m, const double *x, const double *bg, size_t n_bg,
                   double *phi, double *base);

/* The efficiency tolerance used by every method: |sum phi + base - f(x)| <= tol. */
double ex_efficiency_tolerance(double value);

/* ------------------------------------------------------------------ models as functions */

/* Any model as a function of rows: the built-in evaluators or an oracle process. The sampled
 * and what-if methods see only this. */
struct ex_fn {
	/* Writes n_rows x n_outputs values to out. Returns 0, or a negative errno with a one-line
	 * reason in err (err may be NULL). Called from the calling thread only. */
	int (*predict)(void *userdata, const double *rows, size_t n_rows, double *out, char *err,
	               size_t err_size);
	void *userdata;
	size_t n_features, n_outputs;
};

/* The margins of a loaded model (borrowed: m must outlive ret). */
void ex_fn_from_model(const struct ex_model *m, struct ex_fn *ret);

/* The decision a model's output implies: output 0 >= threshold (1) or not (0), or the argmax
 * class when argmax is set (multi-class). The default is margin >= 0 (probability 0.5). */
struct ex_decision {
	bool argmax;
	double threshold;
};
int ex_decide(const struct ex_decision *d, const double *out, size_t n_outputs);

/* What the what-if methods may assume about a feature. */
struct ex_feature_info {
	bool immutable;   /* never changed (age, protected attributes) */
	bool categorical; /* values are category codes: no distances between them */
	bool integer;     /* changes keep it integral */
	double min, max;  /* plausible range (training range); NaN when unknown */
	double mad;       /* median absolute deviation: the unit of distance; 0 when unknown */
};

/* Fills info[0..n_features) from background rows (n_bg x n_features): min/max = the 0.5th and
 * 99.5th percentiles, mad (with a 1e-9 floor, or the range / 100 when the MAD is 0), integer
 * when every value is integral; immutable and categorical stay false (the manifest says).
 * Returns 0, -EINVAL (no rows), -ENOMEM. */
int ex_feature_info_from_rows(const double *bg, size_t n_bg, size_t n_features,
                              struct ex_feature_info *info);

/* A feature known only by a range [min, max] (a manifest's training range, a tree model's
 * splits): its unit of distance (mad) is (max - min) / EX_RANGE_PER_MAD, the MAD of a normal
 * distribution whose 0.5th and 99.5th percentiles are min and max (2 x 2.5758 / 0.6745), as
 * if the range were the one ex_feature_info_from_rows measures. */
#define EX_RANGE_PER_MAD 7.638

/* Fills info[0..n_features) of a tree ensemble from its own splits, for the what-if methods
 * without reference rows: feature j's range runs from the highest value that goes left of its
 * lowest split to the lowest value that goes right of its highest (every region the model
 * tells apart has a member inside; beyond them the model is constant), mad from that range
 * (EX_RANGE_PER_MAD). A feature split as a category is categorical (its levels: the
 * categories the splits name, and one they do not). A feature never split on has NaN bounds
 * and mad 0, one with a single split value mad 0 (no scale: distances in its own units).
 * Returns 0, -EINVAL, -ENOTSUP (not a tree ensemble: a linear model has no ranges), -ENOMEM. */
int ex_feature_info_from_model(const struct ex_model *m, struct ex_feature_info *info);

/* An attribution method as a function of one row, for the methods that need attributions of
 * other rows (adversarial search's failure signature, the confidence score's noise
 * stability): writes phi[0..n_features) for output `output`. Returns 0 or a negative errno
 * with a reason in err. */
struct ex_explainer {
	int (*explain)(void *userdata, const double *x, size_t output, double *phi, char *err,
	               size_t err_size);
	void *userdata;
	/* Optional: n rows at once (X and phi n x n_features, row-major), for callers that
	 * explain many rows (the noise check); NULL: explain() is called per row. */
	int (*explain_rows)(void *userdata, const double *X, size_t n, size_t output, double *phi,
	                    char *err, size_t err_size);
};

/* The signed top-k set of phi (METHODS.md §6, §7.1): the k features with the largest |phi|,
 * ties broken by the lower index, written to idx[0..k) in ascending index order, each encoded
 * as +(j+1) for phi_j > 0 and -(j+1) otherwise; two such sets are equal when the arrays are.
 * k is clamped to n. Returns the number written. */
size_t ex_signed_topk(const double *phi, size_t n, size_t k, int *idx);
/* k for a reported top-k set (METHODS.md §7.1): min(kmax, #features with
 * |phi_j| >= 0.02 sum|phi|), at least 1. */
size_t ex_topk_size(const double *phi, size_t n, size_t kmax);

/* ---- oracle: section owned by oracle.c ---- */

/* Models evidentd cannot evaluate itself, as a pool of oracle processes speaking the oracle
 * protocol (proto/PROTOCOL.md "Oracle protocol"): delimited evident.v1.PredictRequest on the
 * child's stdin, one delimited PredictResponse per request on its stdout, in order.
 *
 * Each process runs `/bin/sh -c COMMAND` in its own process group, with stdin and stdout on
 * one end of a socketpair (the library writes with MSG_NOSIGNAL: SIGPIPE never reaches the
 * caller), stderr on a pipe whose last 512 bytes are kept for error messages, every other
 * descriptor closed, and EVIDENT_ARTIFACT, EVIDENT_N_FEATURES and EVIDENT_ORACLE_PROTOCOL=1
 * added to the caller's environment. The pool is safe to share between threads; outputs do
 * not depend on which process answered. The library reaps its own children by pid: the
 * caller must not set SIGCHLD to SIG_IGN or reap with waitpid(-1) (exit statuses would be
 * lost). */
struct ex_oracle;

#define EX_ORACLE_MAX_OUTPUTS 1024 /* n_outputs the probe accepts: 1..1024 */

struct ex_oracle_config {
	const char *command;       /* run as /bin/sh -c COMMAND (copied) */
	const char *artifact_path; /* exported as EVIDENT_ARTIFACT (NULL: not set; copied) */
	size_t n_features;         /* exported as EVIDENT_N_FEATURES; every request has it */
	unsigned n_procs;          /* processes in the pool (0 -> 1, at most 256) */
	unsigned timeout_ms;       /* per request (0 -> 10000) */
	size_t max_batch_rows;     /* rows per request (0 -> 4096; lowered so that one request
	                            * carries at most 32 MiB of values) */
	size_t max_response_bytes; /* largest response body (0 -> 256 MiB) */
	const double *probe_row;   /* row used by the start-up probe (NULL: zeros; copied) */
};

/* Starts the pool and probes every process with one row (probe_row), learning n_outputs
 * (1..EX_ORACLE_MAX_OUTPUTS; every process must agree). c and what it points to are copied.
 * Returns 0 and *ret (free with ex_oracle_close); -EINVAL bad config; -ENOMEM; or the probe's
 * error (-ETIMEDOUT, -EPIPE the process exited, -EPROTO a malformed answer, -ENOENT the
 * shell could not find the command (exit status 127)), with a reason in err (may be NULL). */
int ex_oracle_open(const struct ex_oracle_config *c, struct ex_oracle **ret, char *err,
                   size_t err_size);
/* Outputs per row, as learned by the probe at open. */
size_t ex_oracle_n_outputs(const struct ex_oracle *o);
/* Evaluates n_rows rows (row-major, n_features each, NaN = missing) into out (n_rows x
 * n_outputs, row-major; caller-owned). Rows are split into requests of max_batch_rows, sent
 * to idle processes in parallel. Thread-safe. A process that exits or closes its output is
 * restarted and its request retried once (at most 4 restarts per call); a process that does
 * not answer within timeout_ms is killed and replaced before its next use; a malformed
 * answer kills the process too (the stream cannot be trusted), an `error` answer does not.
 * Returns 0; -EINVAL;
 * -ENOMEM; -ETIMEDOUT; -EPIPE (exited: the message gives the exit status or signal and the
 * last line of its stderr); -EPROTO (wrong shape, non-finite output, wrong request_id, a
 * response with `error` set, an oversized or garbled frame: the message names which); on
 * error out is unspecified and err (may be NULL) says which request failed and why. */
int ex_oracle_predict(struct ex_oracle *o, const double *rows, size_t n_rows, double *out,
                      char *err, size_t err_size);
/* The pool as a function of rows (borrowed: o must outlive the use of ret). */
void ex_oracle_fn(struct ex_oracle *o, struct ex_fn *ret);

struct ex_oracle_stats {
	uint64_t requests, rows, restarts, timeouts, crashes, bad_responses;
};
/* Counters since open (requests include the probes). Thread-safe. */
void ex_oracle_get_stats(const struct ex_oracle *o, struct ex_oracle_stats *s);
/* Kills (SIGKILL to each process group) and reaps every process, closes every descriptor and
 * frees o. No call may be in progress. Takes NULL. */
void ex_oracle_close(struct ex_oracle *o);

/* The response parser (exposed for tests and fuzzing): one delimited PredictResponse from
 * buf[0..len). expected_outputs 0 means "learn it" (the probe): 1..EX_ORACLE_MAX_OUTPUTS are
 * accepted and out needs room for n_rows x EX_ORACLE_MAX_OUTPUTS values; otherwise out needs
 * n_rows x expected_outputs. Checks request_id (when the response carries one; without one it
 * is the answer to this request, the only one a process has outstanding), `error`,
 * n_outputs, the number of values and that every value is finite, then copies the values to
 * out (caller-owned) and sets *ret_outputs and *ret_consumed (header + body bytes). Returns
 * 0; -EAGAIN when buf holds only part of the message (read more and call again); -EPROTO
 * with a reason in err (a length prefix over max_bytes or malformed, a body that does not
 * decode, any check above); with -EPROTO *ret_consumed is the message's length when it was
 * an `error` answer to this request_id or without one (the stream is still in step: the
 * caller may keep reading it), else 0. */
int ex_oracle_parse_response(const uint8_t *buf, size_t len, size_t max_bytes, uint64_t request_id,
                             size_t n_rows, size_t expected_outputs, double *out,
                             size_t *ret_outputs, size_t *ret_consumed, char *err, size_t err_size);

/* ---- sampled attributions: section owned by kernelshap.c, permutation.c ---- */

/* Model-agnostic Shapley values of the interventional game (METHODS.md §3)
 *     v(S) = sum_b w_b f(x_S, b_rest) / sum_b w_b
 * through any ex_fn, for every output at once. Features equal to every background value get
 * phi = 0 and are not players. Sampling is deterministic given the seed.
 *
 * KernelSHAP: when 2^P - 2 coalitions fit the budget (P players) every coalition is evaluated
 * and the result is the exact Shapley value (exact = true, stderr 0). Otherwise the sampling
 * is stratified by background row: phi is the weighted mean of the Shapley values of the
 * single-row games f(x_S, b_rest), each estimated with its own coalitions (independent
 * coalitions per row have a smaller variance than shared ones at the same cost; after a pilot
 * round the pairs are allocated across rows in proportion to weight times spread, Neyman's
 * allocation); per row the sizes whose subsets fit are enumerated (shap's scheme) and the rest
 * is sampled in complementary pairs, a size drawn uniformly (by leverage score, METHODS.md
 * §3.2; by kernel weight with kernel_weight_sizes) and importance-weighted; the efficiency
 * constraint is solved exactly (constrained weighted least squares by Cholesky, METHODS.md §3.3),
 * so sum phi + base = f(x) to rounding. With paired sampling the estimate is exact for games
 * without interactions of order 3 or more. The standard error is the sandwich (linearisation)
 * estimate over the sampled pairs. Rounds grow the sample until the stopping rule holds or the
 * budget is spent: max stderr <= tolerance when tolerance > 0, else Covert and Lee's ratio max
 * stderr / (max phi - min phi) <= rel_tolerance.
 *
 * Permutation: antithetic pairs of random permutations (Castro et al. 2009); stderr from the
 * per-pair averages; the same stopping rule. Efficiency holds exactly for every permutation. */
struct ex_sampled_config {
	uint64_t seed;
	size_t budget;         /* model rows at most; 0 -> ex_sampled_default_budget */
	double tolerance;      /* absolute, output units; 0 -> use rel_tolerance */
	double rel_tolerance;  /* 0 -> 0.01 */
	bool fixed;            /* no early stop: spend the budget in one round (shap's default) */
	size_t max_batch_rows; /* rows per model call; 0 -> 65536 */
	/* KernelSHAP: shap's scheme, every sampled coalition against every background row (no
	 * stratification); kept as the benchmark's baseline */
	bool shared_coalitions;
	/* KernelSHAP: draw the sizes of sampled coalitions by kernel weight, as shap does and as
	 * evidentd did before it drew them uniformly (by leverage score, the default) */
	bool kernel_weight_sizes;
};

struct ex_sampled_result {
	size_t n_features, n_outputs, n_players;
	double *phi;  /* n_outputs x n_features */
	double *se;   /* standard errors, n_outputs x n_features; 0 when exact */
	double *base; /* v(empty) per output: the weighted mean of f over the background */
	double *fx;   /* f(x) per output */
	uint64_t model_rows, coalitions; /* spent (cache hits excluded) */
	unsigned rounds;
	bool exact;      /* every coalition was evaluated */
	bool converged;  /* the stopping rule held (always for exact) */
	double ratio;    /* final max stderr / (max phi - min phi), over outputs */
	double rcond;    /* KernelSHAP: reciprocal condition estimate of the Gram matrix */
	double residual; /* max over outputs |sum phi + base - f(x)| */
};

/* Both return 0 and fill *ret (free with ex_sampled_result_free), or a negative errno with a
 * reason in err: -EINVAL bad arguments, -ENOSPC the budget cannot pay for one round, -EDOM the
 * coalitions sampled within the budget leave the regression ill-conditioned, or an error of
 * f (an oracle's -ETIMEDOUT, -EPROTO, ...). x: n_features; bg: n_bg x n_features; w: n_bg
 * weights or NULL for equal weights. */
int ex_kernelshap(const struct ex_fn *f, const double *x, const double *bg, const double *w,
                  size_t n_bg, const struct ex_sampled_config *c, struct ex_sampled_result *ret,
                  char *err, size_t err_size);
int ex_permutation_shap(const struct ex_fn *f, const double *x, const double *bg, const double *w,
                        size_t n_bg, const struct ex_sampled_config *c,
                        struct ex_sampled_result *ret, char *err, size_t err_size);
void ex_sampled_result_free(struct ex_sampled_result *r);
/* The budget used when ex_sampled_config.budget is 0: shap's default of 2M + 2048 coalitions
 * against every background row, plus f(x) and the background itself. */
uint64_t ex_sampled_default_budget(size_t n_features, size_t n_bg);

/* Background summarisation (METHODS.md §3.4): k weighted centroids of n rows by k-means++
 * and Lloyd's iterations in MAD-scaled space (info from ex_feature_info_from_rows or the
 * manifest; NULL: computed here); integer and categorical coordinates snap to the nearest
 * value observed in the cluster, so the model never sees an impossible row; a coordinate is
 * NaN when most of the cluster is missing there. Weights are cluster sizes. When n <= k the
 * rows are copied with weight 1. out: k x M rows, out_w: k weights, *ret_k the count
 * written. Returns 0, -EINVAL, -ENOMEM. Deterministic given the seed. */
int ex_background_summarize(const double *rows, size_t n, size_t M,
                            const struct ex_feature_info *info, size_t k, uint64_t seed,
                            double *out, double *out_w, size_t *ret_k);
/* SHA-256 of the background as explained (n, M, rows and weights as little-endian IEEE doubles,
 * w NULL = weight 1), lowercase hex into hex[65]: recorded with every sampled explanation. */
void ex_background_digest(const double *rows, const double *w, size_t n, size_t M, char hex[65]);

/* ---- LIME and what-if: section owned by lime.c, counterfactual.c, flip.c ---- */

/* What-if analysis (METHODS.md §4, §5). Every method sees the model as an ex_fn and, when
 * the caller has it, the loaded model (a tree ensemble or linear model): the exact methods
 * then replay the model's own split rules or closed form, and f must be ex_fn_from_model of
 * that model (the margins; checked at x). Decisions are taken by ex_decide on f's outputs, so
 * the output space is the caller's (margins by default: threshold 0 = probability 0.5).
 *
 * Distances are MAD-scaled L1, sum_j |x'_j - x_j| / MAD_j, a categorical change counting 1;
 * n_changed is the L0 term. Plausible ranges are [min, max] of struct ex_feature_info (NaN: no
 * bound); immutable features never change; integer features keep integral values (rounded in
 * the flipping direction and re-verified); categorical features take only levels observed in
 * the background rows. A missing (NaN) x_j is never changed and "missing" is never proposed.
 * All randomness comes from the seed: the same inputs and seed give bit-identical results. */
struct ex_whatif_input {
	const struct ex_fn *f;        /* required: the model as a function of rows */
	const struct ex_model *model; /* optional (NULL): exact scans for trees / linear */
	const double *bg;             /* reference rows n_bg x n_features (quantile grids,
	                               * observed levels, LIME bins); required, except with a
	                               * model and info (NULL, 0): the exact single-feature
	                               * searches need none, and categorical levels then come
	                               * from the model's splits */
	size_t n_bg;
	const struct ex_feature_info *info; /* n_features; NULL: ex_feature_info_from_rows(bg) */
	const struct ex_decision *decision; /* NULL: output 0 >= 0 */
};

struct ex_cf_config {
	uint64_t seed;
	size_t budget;       /* model rows at most through f; 0 -> 200000 (-ENOSPC past it) */
	size_t max_features; /* ex_counterfactuals: features changed at most; 0 -> 3 */
	size_t n_results;    /* results wanted; 0 -> 3 */
	double tolerance;    /* black-box bisection bracket width, MAD units; 0 -> 1e-3 */
	bool use_target;     /* want decision `target`; false: any decision other than x's */
	int target;
	size_t max_batch_rows; /* rows per model call; 0 -> 65536 */
};

struct ex_cf_change {
	size_t feature;
	double from, to;
};

struct ex_counterfactual {
	struct ex_cf_change *changes; /* n_changed, ascending feature index */
	size_t n_changed;             /* the L0 distance */
	double *prediction;           /* n_outputs: f at the counterfactual */
	int decision;
	double distance; /* MAD-scaled L1, categorical changes count 1 */
	/* proven nearest for its feature and direction: tree threshold scan, linear closed form
	 * (the neighbouring double on the near side does not flip), or every observed level */
	bool exact;
	/* black-box bisection: bracket[0] (does not flip, nearer x) and bracket[1] (flips, the
	 * reported value) are the final values of the one changed feature */
	bool bisected;
	double bracket[2];
};

struct ex_cf_result {
	size_t n_features, n_outputs;
	int decision;                 /* at x */
	double *fx;                   /* n_outputs: f(x) */
	struct ex_counterfactual *cf; /* n, nearest first (distance, then n_changed) */
	size_t n;
	uint64_t model_rows; /* rows sent through f */
	/* NULL, or a static sentence to show with black-box results: the grid can miss flip
	 * regions narrower than its spacing, bisection assumes one crossing in the bracket, and
	 * growing spheres is a random search (not proven nearest) */
	const char *caveat;
};

/* Nearest single-feature counterfactuals along feature j: up to one per direction (numeric:
 * the nearest flipping value above and below x_j inside [min, max]) or up to n_results
 * flipping observed levels (categorical, most frequent level first), nearest first.
 * Trees: exact scan of the regions between feature-j thresholds with the format's tie rule
 * (XGBoost compares (float)x < t, so the reported value is the double nearest x_j that the
 * float cast puts on the other side; LightGBM x <= t, nextafter(t, +inf) going up). Linear:
 * closed form x_j + (thr - margin) / beta_j, then the nearest double that flips (bisection on
 * the ordered doubles: the neighbouring double does not flip). Black box: one call on a grid
 * (64 background quantiles and 32 points within +-2 MAD of x_j), the nearest flipping grid
 * point, then bisection to tolerance * MAD_j (7 points per call) with the bracket reported.
 * An immutable feature, or a missing x_j, gives n = 0. n = 0 also means "no flip found".
 * Returns 0 and *ret (free with ex_cf_result_free; ret is caller-owned storage), or -EINVAL
 * (bad arguments, f disagrees with the model), -ENOSPC (budget), -ENOMEM, or f's error, with
 * a reason naming the feature in err (may be NULL). */
int ex_cf_single(const struct ex_whatif_input *in, const double *x, size_t j,
                 const struct ex_cf_config *c, struct ex_cf_result *ret, char *err,
                 size_t err_size);

/* Sparse counterfactuals changing at most max_features mutable features: every feature's
 * single-feature result (above), plus growing spheres (Laugel et al. 2018) in MAD-scaled space
 * over random subspaces of 2..max_features features, each flip sparsified (changed features
 * reset to x while it stays flipped, smallest change first) and pulled towards x by bisection
 * along the segment; one result per feature set (the nearest), the n_results nearest first.
 * Predictions are f's (the exact model's margins when a model is given). Returns as
 * ex_cf_single. */
int ex_counterfactuals(const struct ex_whatif_input *in, const double *x,
                       const struct ex_cf_config *c, struct ex_cf_result *ret, char *err,
                       size_t err_size);
/* Frees what *r owns (not r itself); takes NULL and a zeroed result. */
void ex_cf_result_free(struct ex_cf_result *r);

/* Flip test (METHODS.md §5.3): does a low-importance feature flip the decision with a
 * plausible change? phi (n_features, the caller's attributions of the decision output) gives
 * Low = {j : |phi_j| <= low_share * sum |phi|} minus immutables. A numeric change is
 * plausible within kappa * MAD_j of x_j and inside [min, max]; a categorical one is any
 * observed level (reported separately: fragile_categorical). Every mutable feature gets its
 * nearest single-feature flip (ex_cf_single: exact for trees and linear models). */
struct ex_flip_config {
	double low_share; /* 0 -> 0.05 */
	double kappa;     /* 0 -> 0.5 */
	struct ex_cf_config cf;
};

struct ex_flip_feature {
	bool immutable; /* excluded from the test */
	bool categorical;
	bool low_importance; /* in Low */
	bool flips;          /* a single-feature flip exists inside [min, max] */
	bool plausible;      /* ... and it is plausible (within kappa MAD, or an observed level) */
	bool exact;          /* the flip is proven nearest (see ex_counterfactual.exact) */
	double value;        /* the nearest flipping value (NaN: none) */
	double distance;     /* in MAD units (categorical: 1; INFINITY: none) */
	double score;        /* f's output 0 there (NaN: none) */
	int decision;        /* the decision there (-1: none) */
};

struct ex_flip_result {
	size_t n_features, n_outputs;
	struct ex_flip_feature *features; /* n_features */
	double *predictions;      /* n_features x n_outputs: f at each feature's flip (NaN: none) */
	double low_share, kappa;  /* the parameters used (defaults filled in) */
	bool fragile;             /* FRAGILE_LOW_IMPORTANCE (numeric or categorical) */
	bool fragile_categorical; /* a low-importance categorical flips to an observed level */
	size_t *fragile_features; /* n_fragile indices, ascending */
	size_t n_fragile;
	int decision;           /* at x */
	double score;           /* f(x) output 0 */
	double margin;          /* |score - threshold|; argmax: top output minus the runner-up */
	double fragility_index; /* fraction of mutable features with a plausible flip */
	uint64_t model_rows;
};

/* Returns 0 and *ret (free with ex_flip_result_free), or as ex_cf_single. */
int ex_flip_test(const struct ex_whatif_input *in, const double *x, const double *phi,
                 const struct ex_flip_config *c, struct ex_flip_result *ret, char *err,
                 size_t err_size);
void ex_flip_result_free(struct ex_flip_result *r);

/* LIME for tabular data (METHODS.md §4; marcotcr/lime's default discretised sampler).
 * Bins are fitted once from the background: quartile edges per numeric feature (a value on an
 * edge belongs to the lower bin, as np.searchsorted), per-bin frequency, mean, std, min and
 * max; a categorical feature's bins are its observed levels. Samples draw each feature's bin
 * from the background frequencies and a value inside it (normal truncated to the bin);
 * the regression sees the indicators z_ij = [bin_j(sample_i) = bin_j(x)], row 0 is x itself,
 * and the kernel weight is sqrt(exp(-d^2 / w^2)) with d^2 the number of features off x's
 * bin. The label is f's output `output` (the caller chooses the space: margins from
 * ex_fn_from_model, probabilities from an oracle). */
struct ex_lime_bins;

/* info: NULL or n_features (only .categorical is read). Returns 0 and *ret (free with
 * ex_lime_bins_free), -EINVAL (no rows, a feature without any value: named in err), -ENOMEM. */
int ex_lime_bins_fit(const double *bg, size_t n_bg, size_t n_features,
                     const struct ex_feature_info *info, struct ex_lime_bins **ret, char *err,
                     size_t err_size);
void ex_lime_bins_free(struct ex_lime_bins *b);
/* Bin of value v for feature j (-1 for NaN or an unseen categorical level). */
int ex_lime_bin_of(const struct ex_lime_bins *b, size_t j, double v);

enum ex_lime_selection {
	EX_LIME_AUTO = 0,        /* forward selection when n_select <= 6, else highest weights */
	EX_LIME_NONE,            /* every feature */
	EX_LIME_FORWARD,         /* greedy on weighted R^2 */
	EX_LIME_HIGHEST_WEIGHTS, /* top |coef| of a ridge (alpha 0.01) on every feature */
};

struct ex_lime_config {
	uint64_t seed;
	size_t n_samples;    /* 0 -> 5000 (row 0 is x) */
	double kernel_width; /* 0 -> 0.75 sqrt(n_features) */
	size_t n_select;     /* K; 0 -> min(10, n_features) */
	enum ex_lime_selection selection;
	double alpha;          /* final ridge penalty; 0 -> 1 (give e.g. 1e-10 for "no penalty") */
	size_t output;         /* which output of f is explained */
	size_t n_repeats;      /* runs for stability (the first is the reported one); 0 -> 10 */
	size_t max_batch_rows; /* 0 -> 65536 */
	/* adaptive sample size (METHODS.md §4.3): when max_samples > n_samples, n_samples doubles
	 * (capped at max_samples) while the Jaccard over the repeats stays below min_jaccard */
	size_t max_samples; /* 0: no adaptation */
	double min_jaccard; /* 0 -> 0.8 */
};

struct ex_lime_result {
	size_t n_features;
	double *coef;    /* n_features: ridge coefficient of x's-bin indicator; 0 if unselected */
	double *coef_se; /* n_features: standard error sqrt(s^2 [A^-1]_jj); 0 if unselected */
	double intercept;
	double r2;         /* weighted R^2 of the fit on its own samples */
	double local_pred; /* g(x) = intercept + sum coef */
	double fx;         /* f(x) output `output`: fidelity at the row is |local_pred - fx| */
	size_t *selected;  /* n_selected feature indices in selection order */
	size_t n_selected;
	/* stability over n_repeats runs with seeds derived from seed (run 0 uses seed itself) */
	size_t n_repeats;
	double jaccard; /* mean pairwise Jaccard of the selected sets */
	double vsi; /* Visani's variables stability index: mean pairwise |A and B| / K, 0..100 */
	double csi; /* coefficients stability index: share of (feature, run pair) with both
	             * selected whose 95% intervals overlap, 0..100 (100 when none) */
	double *coef_cv;   /* n_features: std / |mean| of the coefficient over runs (NaN: mean 0) */
	double *sign_flip; /* n_features: min(#positive, #negative) / n_repeats */
	size_t n_samples;  /* samples per run of the reported fit */
	bool stable;       /* jaccard >= min_jaccard (0.8 by default) */
	uint64_t model_rows; /* over every run and every sample size tried */
	double jitter;       /* largest Cholesky jitter used (0: none) */
};

/* Replaces the zero (default) fields of c with the values ex_lime uses for n_features
 * features, EX_LIME_AUTO with the selection it stands for: what a caller records to say how a
 * result was computed. ex_lime on the resolved config gives the same result as on c. */
void ex_lime_config_resolve(struct ex_lime_config *c, size_t n_features);

/* Returns 0 and *ret (free with ex_lime_result_free), or -EINVAL (bad arguments: output out of
 * range, bins fitted for another n_features), -EDOM (the ridge system stayed singular),
 * -ENOMEM, or f's error, with a reason in err. */
int ex_lime(const struct ex_fn *f, const struct ex_lime_bins *bins, const double *x,
            const struct ex_lime_config *c, struct ex_lime_result *ret, char *err, size_t err_size);
void ex_lime_result_free(struct ex_lime_result *r);

/* ---- failure regions and confidence: section owned by adversarial.c, confidence.c ---- */

/* adversarial search */

/* Where else does the model make the same decision for the same reasons (METHODS.md §6)?
 * The failure signature of a row z is
 *     P(z) = [decision(z) == decision(x)] && [signed top-k of phi(z) == that of x]
 * with phi from the caller's explainer (output: the decided class under argmax, else 0) and
 * k = ex_topk_size(phi(x), M, kmax) for both rows. With jaccard > 0 the second part is relaxed
 * to |A & B| / |A | B| >= jaccard on the unsigned top-k sets. Without an explainer P is the
 * decision part only: a weaker statement (same decision, reasons unchecked), reported as
 * decision_only. Model rows are rows passed to f->predict; explainer calls are not counted
 * (pass a cheap explainer: path-dependent TreeSHAP for trees). */
struct ex_adv_config {
	uint64_t seed;
	size_t budget;       /* model rows at most; 0 -> 20000 */
	size_t kmax;         /* top-k size limit; 0 -> 3 (at most EX_ADV_KMAX) */
	double jaccard;      /* 0: exact signed top-k equality; > 0: relaxed (0.6 suggested) */
	size_t n_seeds;      /* search: nearest reference rows with P used as seeds; 0 -> 50 */
	size_t max_ref;      /* search: reference rows labelled, nearest first; 0 -> 1000 */
	size_t n_eval;       /* fresh points sampled in the box for precision; 0 -> 400 */
	size_t n_exemplars;  /* 0 -> 5 (at most 5) */
	double peel;         /* PRIM peeling fraction; 0 -> 0.05 */
	size_t min_support;  /* PRIM stops peeling below this many points; 0 -> 20 */
	size_t max_cells;    /* tree growth: slabs of at most this many cells are enumerated;
	                      * 0 -> 64 */
	size_t sample_cells; /* tree growth: cells checked on a larger slab; 0 -> 24 */
};

#define EX_ADV_KMAX 16

/* One side-by-side bound of a box: lo <= z_j <= hi with the inclusivity given; -INFINITY /
 * INFINITY when a side is unbounded (then *_incl is false). missing: the box holds only
 * z_j = NaN (the row's own value was missing). */
struct ex_region_bound {
	size_t feature;
	double lo, hi;
	bool lo_incl, hi_incl;
	bool missing;
};

struct ex_region {
	size_t n_features;
	struct ex_region_bound *box;  /* n_features bounds, one per feature */
	struct ex_region_bound *rule; /* the bounded features only, ascending */
	size_t n_rule;
	int decision;          /* decision(x) */
	size_t output;         /* output whose attributions define the signature */
	size_t k;              /* size of the signed top-k set */
	int topk[EX_ADV_KMAX]; /* x's signed top-k (ex_signed_topk encoding); unset if
	                        * decision_only */
	/* precision: share of n_eval fresh points sampled in the box (intersected with the
	 * features' plausible ranges; observed levels for categoricals) where P holds, with its
	 * Wilson 95% interval */
	double precision, precision_lo, precision_hi;
	size_t eval_n, eval_hits;
	double coverage;   /* share of the reference rows inside the box */
	size_t coverage_n; /* reference rows inside the box */
	size_t support;    /* labelled points (found + reference) inside the box with P */
	size_t n_labelled, n_positive; /* points P was computed for, and how many had it */
	double *exemplars;             /* n_exemplars x n_features: diverse points with P in the box
	                                * (k-medoids, MAD-scaled L1) */
	size_t n_exemplars;
	uint64_t model_rows;   /* rows passed to f->predict, all phases */
	const char *method;    /* "tree-cell" or "search" (static string) */
	bool exact;            /* tree cell: P verified on every cell of the box */
	bool growth_sampled;   /* tree cell: some growth step checked representative cells only */
	bool budget_exhausted; /* tree: growth stopped on the budget; search: fewer reference
	                        * rows were labelled than asked (max_ref) */
	bool decision_only;    /* no explainer: P is the decision part only */
	bool relaxed;          /* P used the Jaccard relaxation */
	bool grown;     /* search: the PRIM box was not pure in volume and was replaced by a box
	                 * grown outward from x (anchor-like) */
	unsigned steps; /* tree: faces pushed; search: peeling steps of the final PRIM fit, or
	                 * growth steps when grown */
};

/* Black-box search (METHODS.md §6.2, §6.3). Budget phases (model rows): x; the n_eval evaluation
 * points (kept apart, at most a quarter); the reference rows nearest x (MAD-scaled L1), at
 * most a third of the rest; then, of what is left, half for the search: seeds (x and the
 * n_seeds nearest labelled rows with P) and their perturbations, hill-climbing (resample one
 * mutable feature from its marginal or step it by +-0.25 MAD; score = P - 0.05 mean MAD
 * distance to x + 0.2 novelty - 0.5 out-of-range MADs; 32 climbers in lock-step so each
 * round is one batch, restart after 15 stale moves) and a genetic algorithm (population 32,
 * tournament of two, uniform crossover, marginal-resampling mutation at rate 1/m, elitist);
 * a quarter for four refinement rounds that label points sampled in and around the current
 * PRIM box (PRIM: peel 5% per step, take the largest box within 0.01 of the best weighted
 * mean, paste, trim sides to the outermost point with P; refinement points weigh as much as
 * all search points together); the last quarter for a check of the final box on up to 100
 * fresh points and, when that check finds a point without P and a Wilson lower bound below
 * 0.95, an anchor-like box grown outward from x instead (each face of a mutable continuous
 * feature moves out by a width in MAD units when 16 points sampled in the new slab all have
 * P; the width doubles on success, halves on failure; a side reaching the plausible range
 * becomes unbounded; reported as grown). Immutable features never change; integer features
 * stay integral; categorical codes are peeled as ordered codes (the rule keeps a range of
 * codes) and resampled from observed levels. Deterministic given c->seed. Every row labelled
 * (found, reference, refinement) counts for support and n_labelled; the precision comes from
 * the n_eval points only.
 * f: the model (n_outputs per row); e: NULL for decision-only; x: n_features; ref: n_ref x
 * n_features reference rows (n_ref >= 1); info: n_features (ex_feature_info_from_rows); d:
 * NULL for the default decision; c: NULL for defaults. All borrowed for the call.
 * Returns 0 and *ret (free with ex_region_free); -EINVAL bad arguments; -ENOSPC the budget
 * cannot pay for x plus 16 rows; -ENOMEM; or f's / e's error, with a reason in err. */
int ex_adversarial_search(const struct ex_fn *f, const struct ex_explainer *e, const double *x,
                          const double *ref, size_t n_ref, const struct ex_feature_info *info,
                          const struct ex_decision *d, const struct ex_adv_config *c,
                          struct ex_region **ret, char *err, size_t err_size);

/* Tree models (METHODS.md §6.1): the exact decision cell of x (ex_tree_cell), grown greedily: faces
 * are visited round-robin and one is pushed across the next threshold(s) of its feature when
 * P holds on every cell of the new slab (enumerated when the slab has at most max_cells
 * cells, otherwise sample_cells random cells are checked and growth_sampled is set; a face
 * crosses 1, 2, 4, ... thresholds at once, doubling after a success and halving after a
 * failure; a face whose one-threshold slab shows a cell without P stops). A cell is a product of
 * threshold intervals, so every row in it reaches the same leaves: with path-dependent TreeSHAP of
 * m as e (or e NULL) P is constant on a cell and the box is exact when no step was sampled.
 * Categorical-split, immutable and missing features keep their cell bounds. f: the model's
 * function (NULL: ex_fn_from_model(m); pass a wrapper to count rows); other arguments as in
 * ex_adversarial_search (ref may be NULL with n_ref 0: coverage 0). Returns as
 * ex_adversarial_search; -EINVAL when m is not a tree model. */
int ex_adversarial_tree(const struct ex_model *m, const struct ex_fn *f,
                        const struct ex_explainer *e, const double *x, const double *ref,
                        size_t n_ref, const struct ex_feature_info *info,
                        const struct ex_decision *d, const struct ex_adv_config *c,
                        struct ex_region **ret, char *err, size_t err_size);

/* The decision cell of x: box[0..n_features) gets, per feature, the nearest thresholds below
 * and above x_j over all trees, as exact double bounds under the format's rule (XGBoost
 * compares float32(x) < t: lo = t inclusive, hi = the float below the next threshold
 * inclusive, widened to the exact double limits only when x lies in a rounding gap; LightGBM
 * x <= t: lo exclusive, hi inclusive, with +-kZeroThreshold as extra bounds). A feature with
 * a categorical split keeps lo = hi = x_j; a missing x_j gives missing. Every row in the box
 * reaches the same leaf of every tree. Returns 0, -EINVAL (not a tree model), -ENOMEM. */
int ex_tree_cell(const struct ex_model *m, const double *x, struct ex_region_bound *box);

/* Wilson score interval for hits successes in n trials at normal quantile z (1.959963984540054
 * for 95%): [*ret_lo, *ret_hi], [0, 1] when n is 0. Returns 0, -EINVAL (hits > n, z <= 0). */
int ex_wilson_interval(size_t hits, size_t n, double z, double *ret_lo, double *ret_hi);

void ex_region_free(struct ex_region *r);

/* confidence score */

/* The explanation confidence score (METHODS.md §7), computed per decision:
 *     C = G * P_est * P_noise * A_method,   C = min(C, 0.3) when the flip test fired.
 * The signed top-k set T has k = ex_topk_size(phi, M, kmax), kmax 5 by default. Every
 * component is reported next to C; ex_confidence_meaning is the sentence to print with it. */
#define EX_CONF_KMAX        5
#define EX_CONF_FRAGILE_CAP 0.3
extern const char ex_confidence_meaning[];

/* P_est: the fraction of n_draws (0 -> 1000) draws from N(phi, diag(se^2)) whose signed top-k
 * set equals T; 1 when se is NULL or all zero (exact methods). Deterministic given the seed.
 * Returns 0, -EINVAL (kmax > EX_CONF_KMAX), -ENOMEM. */
int ex_confidence_p_est(const double *phi, const double *se, size_t M, size_t kmax, size_t n_draws,
                        uint64_t seed, double *ret);

/* A_method: |T(a) & T(b)| / k on signed sets, k taken from a (the primary method). */
double ex_confidence_agreement(const double *a, const double *b, size_t M, size_t kmax);

/* P_noise: the share of neighbours x' = x + noise (with the decision of x) whose explanation
 * reproduces T. Noise per feature: sigma[j], or 0.1 * MAD_j (about 0.05 IQR) when sigma is
 * NULL; none on immutable and categorical features; integer features are rounded and values
 * clamped to [min, max] widened to hold x. Up to 4 * neighbours candidates are drawn (one batched
 * model call); *ret is 0 when none keeps the decision (*ret_used says how many counted). */
struct ex_noise_config {
	uint64_t seed;
	size_t neighbours;   /* K; 0 -> 32 */
	size_t kmax;         /* 0 -> EX_CONF_KMAX */
	const double *sigma; /* n_features or NULL */
};
int ex_confidence_p_noise(const struct ex_fn *f, const struct ex_explainer *e,
                          const struct ex_decision *d, const double *x, const double *phi,
                          size_t output, const struct ex_feature_info *info,
                          const struct ex_noise_config *c, double *ret, size_t *ret_used, char *err,
                          size_t err_size);

/* The hard gates (G) and the combination. */
enum {
	EX_GATE_EFFICIENCY = 1,    /* |sum phi + base - f(x)| above the limit */
	EX_GATE_DETERMINISTIC = 2, /* the model scored x twice differently */
	EX_GATE_SCORE = 4,         /* the recorded decision score differs from the model's */
	EX_GATE_GOLDEN = 8,        /* the loader's golden-margin check failed */
};
struct ex_confidence_parts {
	double p_est, p_noise, a_method;
	double residual, residual_limit; /* see ex_confidence_residual_limit */
	bool deterministic, score_matches, golden_ok;
	bool fragile; /* FRAGILE_LOW_IMPORTANCE */
};
struct ex_confidence {
	double c, p_est, p_noise, a_method;
	bool gate;             /* every gate passed */
	unsigned gates_failed; /* EX_GATE_* bits */
	bool fragile, capped;  /* capped: C was lowered to EX_CONF_FRAGILE_CAP */
};
void ex_confidence_combine(const struct ex_confidence_parts *p, struct ex_confidence *ret);
/* The efficiency gate's limit: 1e-9 (1 + |f(x)|) for exact methods, else three standard
 * errors of sum phi (se: M values), never below the exact limit. */
double ex_confidence_residual_limit(bool exact, const double *se, size_t M, double fx);

/* ---- input rows: section owned by rows.c ---- */

/* Rows of feature values read from text: `evidentctl explain --rows/--background` files and
 * the reference data registered with a model. Two forms, told apart by the first character
 * that is not white space: CSV with a header line of column names, or JSON ('[' or '{'): an
 * array of arrays, or an object with "rows" and optionally "feature_names". A missing value
 * (an empty CSV field, "nan", "NaN", "NA", or JSON null) is NaN. */
struct ex_rows {
	size_t n_rows, n_cols;
	double *values; /* n_rows x n_cols, row-major (owned) */
	char **names;   /* n_cols column names (owned), or NULL (JSON without feature_names) */
};

/* Parses text[0..len) (need not be NUL-terminated); name is used in errors. Returns 0 and
 * *ret (free with ex_rows_free); -EBADMSG with "NAME: line L: problem" or "NAME: rows[i][j]:
 * problem" in err; -ENOMEM. */
int ex_rows_parse(const char *text, size_t len, const char *name, struct ex_rows *ret, char *err,
                  size_t err_size);
/* Frees what r owns and zeroes it; takes a zeroed struct. */
void ex_rows_free(struct ex_rows *r);

/* Reorders r's columns into the model's feature order. When both r and the model have names
 * (feature_name(userdata, i) returns feature i's name, or NULL), columns are matched by name
 * and extra columns are dropped; otherwise by position, and the counts must agree. name is
 * used in errors. Returns 0, -EINVAL with a message naming the missing column or the counts,
 * -ENOMEM. */
int ex_rows_select(struct ex_rows *r, size_t n_features,
                   const char *(*feature_name)(void *, size_t), void *userdata, const char *name,
                   char *err, size_t err_size);
