/* SPDX-License-Identifier: Apache-2.0 */
/* The audit library: the audit of one incident, and the JSON of every explain method's
 * result (method writers, at the end of this header).
 *
 * The audit: the rule's methods run on the registered model artifact for the record that
 * fired, with a background set, producing the audit document stored in the vault's audit
 * entry. Pure code (no libuv, no logging, no vault access): evidentd's workers run it, and
 * `evidentctl replay` runs the same code on the same inputs read back from the vault, so a
 * replay reproduces the results bit for bit.
 *
 * The audit document (JSON object):
 *   "incident_id", "record_seq", "model_id", "model_version"
 *   "status": "complete" | "partial" | "failed";  "reasons": [why methods failed]
 *   "params": {"methods", "seed", "threshold" (margin space), "decision_rule",
 *              "artifact_sha256", "background": {"source": "reference_data" |
 *              "recent_records", "rows", "digest" (ex_background_digest of the rows, unit
 *              weights), "sha256" (reference data blob) | "seqs" (record seqs)},
 *              "review_below", "software": "evidentd VERSION",
 *              "lime" (when the methods include lime): {"samples", "repeats", "features"
 *              (K), "selection" ("forward" | "highest_weights" | "none"), "kernel_width",
 *              "alpha", "min_jaccard", "max_samples"}: rq->lime with explain's defaults
 *              filled in (ex_lime_config_resolve), read back by audit_lime_params}
 *   "results": {"prediction" (margins), "decision" (index), "decision_label",
 *               "recorded_scores", "score_matches",
 *               one object per method under its name, written by the method writers
 *               below, which `evidentctl explain --method M --json` uses too: the same keys
 *               and, for the same model, row, background and seed, the same values
 *               ("base_value", "phi", "stderr", "counterfactuals", "flips", "fragile",
 *               "region", "lime", ...),
 *               "confidence" {c, p_est, p_noise, a_method, a_method_against, gate,
 *               gates_failed, fragile, capped, meaning},
 *               "baseline" {rows, usual (mean |phi| per feature), outliers: [{feature, index,
 *               phi, usual, ratio}]},
 *               "lineage_warnings": [...],
 *               "verdict" {action "PROCEED" | "REVIEW", confidence, reasons},
 *               "suggested_guard" (when the audit found the cause; audit_suggest_guard below):
 *               {name, model, when, action, reason, source, features, decision,
 *               catches_audited_record, feature and threshold | left_out and precision,
 *               "backtest": null}}
 *   "timings_ms": {per phase, "total"}  (not part of what replay compares)
 * The results depend only on the model bytes, the manifest, the record's features, scores
 * and decision, the background rows and the parameters.
 *
 * Where the suggested guard's backtest runs: not here, and not in evidentd. The guard's
 * expression is built inside the audit (from its results alone, so `evidentctl replay`
 * reproduces it bit for bit), but its backtest (the incidents of the model version it would
 * have caught, how many of those a human overturned, the share of routine decisions it
 * would have held) reads every record of the version: a scan of the vault, which the audit
 * library cannot do (no vault access) and which evidentd's workers should not do once per
 * incident in a flash crash (each audit would read the whole vault while ingest runs). The
 * document's "backtest" is therefore null, and `evidentctl report` computes it on demand,
 * with `evidentctl backtest`'s code, from the vault as it was when the audit entry was
 * appended (the records and incidents before it, which never change; a record pruned since
 * is counted apart) and every review recorded so far (a human reviews after the audit). */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evident.pb-c.h"
#include "explain.h"

#define AUDIT_ERR_MAX 512

/* A registered model version loaded for audits; shared read-only by every worker (the
 * baseline cache inside is locked). */
struct audit_model {
	char *model_id, *version, *framework;
	struct ex_model *m;
	struct ex_fn f;
	size_t M, G;
	char **names; /* M manifest feature names */
	bool *immutable, *categorical;
	double *train_min, *train_max; /* manifest ranges (NaN: absent) */
	struct ex_decision d;          /* on the model's margins */
	char *decision_rule; /* human-readable, e.g. "sell when score >= 0.5, else hold" */
	char **labels;       /* decision index -> label (n_labels) */
	size_t n_labels;
	bool probability_scores; /* records carry probabilities (link applied) */
	char artifact_sha256[65];
	char **lineage_warnings;
	size_t n_lineage_warnings;
	struct ex_oracle *oracle; /* framework "oracle": the process pool (owned), m is NULL */
	char *artifact_dir;       /* ... and the private folder of its artifact (owned) */
	size_t background_size;   /* k-means summary for the sampled methods */
	/* baseline cache: attributions of the background rows, by background digest */
	pthread_mutex_t lock;
	char baseline_digest[65];
	double *baseline_usual; /* M: mean |phi_j| over the baseline rows */
	size_t baseline_rows;
};

/* Loads the artifact bytes (already checked against manifest->artifact_sha256 by the caller,
 * whose hex is copied) for manifest. Returns 0, -ENOTSUP (framework "oracle" or unknown; a
 * decision rule on an output other than 0), -EBADMSG (the artifact does not load, or its
 * feature count or names disagree with the manifest's), -ENOMEM; a reason in err. *ret is
 * freed with audit_model_free. */
int audit_model_new(const Evident__V1__ModelManifest *manifest, const void *artifact, size_t len,
                    struct audit_model **ret, char *err, size_t err_size);
/* How to evaluate a framework "oracle" model (the daemon's [model ID] section). */
struct audit_oracle {
	const char *command;    /* run as /bin/sh -c (proto/PROTOCOL.md, "Oracle protocol") */
	unsigned procs;         /* 0 -> 1 */
	unsigned timeout_ms;    /* 0 -> 10000 */
	size_t background_size; /* k-means summary for the sampled methods; 0 -> 100 */
};

/* A model evaluated through an oracle pool (framework "oracle"): the artifact bytes are
 * written to a private folder under $TMPDIR (or /tmp), named to the oracle by
 * EVIDENT_ARTIFACT, and removed by audit_model_free after the pool is closed. Outputs are in
 * the manifest's output space; attributions are KernelSHAP, the what-if methods black-box
 * searches. Returns 0; -EIO (the artifact could not be written); the pool's start-up error
 * (-ENOENT, -EPIPE, -ETIMEDOUT, -EPROTO: the oracle is dead); -EBADMSG (manifest); -ENOMEM;
 * a reason in err. */
int audit_model_open_oracle(const Evident__V1__ModelManifest *manifest, const void *artifact,
                            size_t len, const struct audit_oracle *oracle, struct audit_model **ret,
                            char *err, size_t err_size);
void audit_model_free(struct audit_model *am);

/* The background of an audit. Rows are the model's M features, row-major. */
struct audit_background {
	const char *source; /* "reference_data" or "recent_records" */
	const double *rows; /* n x M */
	size_t n;
	const uint64_t *seqs; /* recent_records: the record seq of each row */
	const char *sha256;   /* reference_data: the blob's hex hash */
};

/* Turns reference-data bytes (CSV with a header or JSON rows: ex_rows_parse) into rows of the
 * model's features, columns matched by name. Returns 0 (*ret_rows malloc'd, n rows),
 * -EBADMSG with a reason, -ENOMEM. */
int audit_reference_rows(const struct audit_model *am, const void *data, size_t len,
                         double **ret_rows, size_t *ret_n, char *err, size_t err_size);

enum audit_status { AUDIT_COMPLETE = 0, AUDIT_PARTIAL = 1, AUDIT_FAILED = 2 };

struct audit_verdict {
	bool review;       /* REVIEW, else PROCEED */
	double confidence; /* NaN when not computed */
	json_t *reasons;   /* array of strings (owned by the document) */
};

struct audit_request {
	uint64_t incident_id, record_seq;
	const double *x; /* M features of the record */
	const double *scores;
	size_t n_scores;
	const char *const *methods;
	size_t n_methods;
	uint64_t seed;
	double review_below; /* NaN: none */
	/* LIME's parameters: zero fields take explain's defaults, those of `evidentctl explain
	 * --method lime` (5000 samples, 10 repeats, kernel width 0.75 sqrt(M), ...); seed and
	 * output are the audit's (the request's seed; the decision output). LIME runs on the
	 * second thread with bins fitted on the whole background (not the sampled methods'
	 * summary) and the manifest's categorical features. */
	struct ex_lime_config lime;
	/* The record's decision string (Record.decision) or NULL: the suggested guard names it,
	 * as evidentd's rules read it. */
	const char *decision;
	/* Called once, right after the fast phase (attribution, flip test, confidence, baseline),
	 * with the verdict those give, while the other methods may still run (on their own
	 * thread); not called when the audit fails before. May be NULL. */
	void (*on_verdict)(void *userdata, const struct audit_verdict *v);
	void *userdata;
};

/* Runs the audit. Returns 0 with *ret_doc (the document; caller owns) and *ret_status, or
 * -ENOMEM. Method failures do not fail the call: they make the status partial or failed and
 * are named in "reasons". */
int audit_run(const struct audit_model *am, const struct audit_background *bg,
              const struct audit_request *rq, json_t **ret_doc, enum audit_status *ret_status);

/* LIME's parameters as an audit document recorded them (params.lime; absent in audits
 * without lime), for a replay's rq->lime. Returns 0 (fields params.lime does not have are
 * left zero: the defaults), or -EINVAL when params.lime is not an object of numbers and a
 * known selection. */
int audit_lime_params(const json_t *params, struct ex_lime_config *c);

/* The part of a document replay compares ("results"), as canonical bytes (sorted keys,
 * 17-digit reals). Returns a malloc'd string or NULL. */
char *audit_results_canonical(const json_t *doc);

/* A copy of doc (a replayed document) whose "results" keep only the members the recorded
 * document's "results" has: objects member by member and arrays element by element, at any
 * depth. Keys are only ever added to audit documents, so an audit recorded by an earlier
 * version is compared on everything it recorded, and what later versions add is left out.
 * Returns a new reference, or NULL (out of memory). */
json_t *audit_results_as_recorded(const json_t *doc, const json_t *recorded);

const char *audit_status_name(enum audit_status s);

/* ---- suggested guards: section owned by guard.c ----
 *
 * When an audit finds the cause of a decision, it proposes a constraint: a [guard NAME]
 * rule (daemon/evidentd.conf.example) whose `when`, in the trigger language (trigger.h),
 * holds decisions like the audited one for review. Built from the results, in this order:
 *   1. the failure region of the adversarial search, when it ran: its box
 *      (results.adversarial.region.rule) as comparisons, each bound with its inclusiveness
 *      ("feature.a >= 0.5 && feature.b < 2"), a missing feature as is_missing(); a bounded
 *      feature the language cannot name is left out (the rule is then wider; "left_out"
 *      names it);
 *   2. otherwise the counterfactual threshold of the dominant feature (the largest |phi| of
 *      the flip test's attribution, the one the verdict used): the nearest counterfactual
 *      changing that feature alone, else the flip test's nearest flip along it, as
 *      "feature.NAME > t" when the record's value is above t (t itself flips the decision)
 *      or "feature.NAME < t"; a categorical feature as "feature.NAME == level".
 * The record's decision is part of the rule ("decision == \"sell\" && ...") when it is
 * plain text (printable ASCII without quotes, backslashes, ';' or '#', at most 64 bytes).
 * Numbers are written with the fewest digits that read back as the same double. A rule is
 * kept only when it compiles with the trigger library, names only the model's features and
 * catches the audited record (features, scores and decision, as evidentd evaluates it);
 * otherwise the next source is tried, and without one the audit suggests no guard. The guard
 * is named "incident-ID", binds "model" = ID@VERSION (the audited version), has action
 * "review" and a reason naming the incident. */
#define AUDIT_GUARD_MAX 4096 /* longest expression or reason */

struct audit_guard_input {
	const char *model_id, *version;
	uint64_t incident_id;
	const char *const *names; /* the model's M feature names */
	const bool *categorical;  /* M flags, or NULL */
	size_t M;
	const double *x; /* the audited record: M features, its scores and decision */
	const double *scores;
	size_t n_scores;
	const char *decision; /* NULL: none */
};

/* The suggested guard for an audit's results (the "results" object of an audit document).
 * Returns 0 with *ret a new object ({name, model, when, action "review", reason, source
 * "adversarial" | "counterfactual" | "flip", features (names the rule bounds), decision
 * (the string the rule names, or null), catches_audited_record true, backtest null; for a
 * region "left_out" and "precision", for a threshold "feature" and "threshold" (null for a
 * categorical level)}) or NULL when the results give no guard; -ENOMEM. */
int audit_suggest_guard(const json_t *results, const struct audit_guard_input *in, json_t **ret);

/* ---- method results as JSON: section owned by method_json.c ----
 *
 * One writer per explain method's result. The audit's document (its "results" members) and
 * `evidentctl explain --json` (its objects, one per row) are both written by these functions,
 * so they carry the same keys and, for the same inputs, the same values. Each adds its keys
 * to the object o (replacing keys already there) and returns 0, or -ENOMEM (o may then hold
 * some of the keys). Reals are written with every digit and non-finite values as null;
 * counts and seeds are integers (a uint64 above INT64_MAX as a decimal string).
 * prediction: the G model outputs as the caller reports them (margins in audits; margins or,
 * with --output probability, probabilities in explain). names: the M feature names, by index
 * (borrowed). G and M: the model's outputs and features. */

/* Exact attributions (treeshap, treeshap-interventional, linear): "prediction",
 * "base_value" (G), "phi" (G x M). */
int audit_json_attribution(json_t *o, const double *prediction, const double *base,
                           const double *phi, size_t G, size_t M);
/* SHAP interaction values (inter: G x M x M): "prediction", "base_value", "phi" (each
 * feature's row sum: its SHAP value) and "interactions" (G matrices of M x M). */
int audit_json_interactions(json_t *o, const double *prediction, const double *base,
                            const double *inter, size_t G, size_t M);
/* KernelSHAP or permutation Shapley: "prediction", "base_value", "phi", "stderr", "seed",
 * "budget" (the model rows allowed: the default when none was given), "background_digest"
 * and "background_rows" (of the summarised background the method saw), "model_rows",
 * "coalitions", "exact", "converged", "rounds", "efficiency_residual". */
int audit_json_sampled(json_t *o, const struct ex_sampled_result *r, const double *prediction,
                       uint64_t seed, uint64_t budget, const char *background_digest,
                       size_t background_rows);
/* The confidence score as an object: "c", "p_est", "p_noise", "noise_neighbours",
 * "a_method", "a_method_against" (the method A_method compared with), "gate",
 * "gates_failed" (names), "fragile", "capped", "meaning". Returns NULL when out of memory. */
json_t *audit_json_confidence(const struct ex_confidence *c, size_t neighbours,
                              const char *against);
/* LIME on output `output`: "prediction", "base_value" ([intercept]), "phi" ([coefficients]),
 * "stderr", "lime" {output, selected (names), r2, local_prediction, fx, fidelity_error,
 * samples, repeats, jaccard, vsi, csi, coef_cv, sign_flip, stable}, "seed", "model_rows". */
int audit_json_lime(json_t *o, const struct ex_lime_result *r, const double *prediction, size_t G,
                    size_t output, const char *const *names, uint64_t seed);
/* Counterfactuals: "prediction", "decision", "counterfactuals" [{changes {NAME: value},
 * prediction (f there), decision, distance, n_changed, exact, bracket (bisected black-box
 * flips only)}], "caveat" (or null), "seed", "model_rows". */
int audit_json_counterfactual(json_t *o, const struct ex_cf_result *r, const double *prediction,
                              const char *const *names, uint64_t seed);
/* The flip test on the attribution phi (M, the decision output's): "prediction", "phi"
 * ([phi]), "flips" (per feature the nearest flipping value or null), "fragile",
 * "fragile_features" (names), "decision", "margin", "fragility_index", "low_share",
 * "kappa", "flip_details" [{feature, value, distance, prediction (f at the flip; null
 * without one), low_importance, plausible, immutable, exact}], "seed", "model_rows",
 * "ranges" (where the ranges and scales of the test came from: "background" in audits;
 * `evidentctl explain` without one on a model file says "manifest", "model thresholds" or
 * "manifest and model thresholds"). */
int audit_json_flip(json_t *o, const struct ex_flip_result *r, const double *phi,
                    const double *prediction, const char *const *names, uint64_t seed,
                    const char *ranges);
/* A failure region: "prediction", "region" {rule [{feature, lo, lo_inclusive, hi,
 * hi_inclusive} or {feature, missing: true}; null for an unbounded side], precision,
 * precision_ci95, evaluated, coverage, support, exemplars (rows of M values), method,
 * exact, decision_only, decision}, "seed", "model_rows". */
int audit_json_adversarial(json_t *o, const struct ex_region *r, const double *prediction, size_t G,
                           const char *const *names, uint64_t seed);
