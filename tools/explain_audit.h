/* SPDX-License-Identifier: Apache-2.0 */
/* The model-agnostic methods of `evidentctl explain` (its --help is the manual): KernelSHAP,
 * permutation Shapley, LIME, counterfactuals, the flip test and adversarial search, on a model
 * file or through an oracle process (proto/PROTOCOL.md, "Oracle protocol"), with the confidence
 * score on request; how each works: daemon/explain/METHODS.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"
#include "explain.h"

enum explain_method {
	EXPLAIN_KERNELSHAP,
	EXPLAIN_PERMUTATION,
	EXPLAIN_LIME,
	EXPLAIN_COUNTERFACTUAL,
	EXPLAIN_FLIP,
	EXPLAIN_ADVERSARIAL,
};

struct explain_args {
	enum explain_method method;
	const char *model_path; /* or oracle */
	const char *oracle;
	enum ex_format format;
	const char *rows_path, *background_path; /* background: NULL for flip on a model file */
	const char *manifest_path; /* JSON manifest: training ranges (min, max), immutable */
	uint64_t seed;
	uint64_t budget; /* model rows per method call; 0: each method's default */
	bool has_threshold;
	double threshold;
	bool probability; /* "prediction" as probability (model files) */
	bool confidence;  /* add the confidence score (kernelshap, permutation) */
	unsigned timeout_ms, oracle_procs;
	size_t background_size;              /* k-means centroids for the sampled methods */
	const char *immutable, *categorical; /* comma-separated feature names */
};

/* ex_rows_select's feature-name callback for a model file (m: struct ex_model *). */
const char *explain_model_feature_name(void *m, size_t i);

/* Runs the method on every row and prints the results (JSON Lines with c->json, each object
 * written by the audit library's method writer, so it has the keys of the audit documents).
 * Returns a CTL_EXIT_* status; errors are printed. */
int explain_audit(const struct ctl *c, const struct explain_args *a);
