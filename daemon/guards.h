/* SPDX-License-Identifier: Apache-2.0 */
/* Guards at run time: the configured [guard NAME] constraints (compiled by the trigger
 * library, trigger.h) bound to each model version's features and evaluated on every accepted
 * record with the triggers (loop thread). A record a guard catches gets the guard's Verdict
 * (REVIEW or HOLD, the strictest of the guards that caught it) with its Ack; a guard with
 * audit = yes also yields a firing (triggers.h) that opens an incident.
 *
 * A guard applies to a model version only when the version has every feature its `when`
 * names: guards_check refuses a configuration whose guard names a feature its model lacks
 * (at load and at reload), and guards_unbound reports the versions a guard cannot apply to
 * (at load for the registered ones, at registration for a new one), which the caller logs
 * and records. A guard never reads a feature its version lacks as missing: it does not
 * evaluate at all for that version. No logging; allocation failures are returned or
 * counted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "evident.pb-c.h"
#include "registry.h"

struct firing;
struct guards;

/* The guards of cfg (cfg must outlive the result). Returns 0 or -ENOMEM; *ret is NULL when
 * cfg has no guards. */
int guards_new(const struct config *cfg, struct guards **ret);
void guards_free(struct guards *g);
/* How many guards (0 for NULL). */
size_t guards_count(const struct guards *g);

/* Checks cfg's guards against the registered models: a guard whose `model` names a
 * registered version (ID@VERSION) or model (ID: its newest registered version) that lacks a
 * feature the guard's `when` names is refused, and so is a guard for every model whose
 * feature no registered version has. Returns 0, or -EINVAL with err holding
 * "FILE:LINE:COLUMN: when: feature.X is not a feature of ID@VERSION (its features: ...)". */
int guards_check(const struct config *cfg, const struct registry *reg, char *err, size_t err_size);

/* For each guard of g that applies to mi's model but cannot bind to it (a feature its `when`
 * names is not one of mi's), calls report(data, guard, why) with why naming the feature and
 * listing mi's features (at FILE:LINE:COLUMN of the expression). Returns how many. */
size_t guards_unbound(const struct guards *g, const struct model_info *mi,
                      void (*report)(void *data, const struct config_guard *guard, const char *why),
                      void *data);

/* What the guards decided for one record: the guards that caught it, in configuration order
 * (borrowed from the configuration: copy what must outlive a reload). */
struct guard_catch {
	int action; /* evident.v1.Verdict.Action: REVIEW or HOLD (the strictest); 0: none */
	size_t n;
	const struct config_guard *const *guards;
};

/* Evaluates every guard on rec (validated, of model mi, loop thread) at now_ns and fills
 * *ret. The firings of the guards with audit = yes that caught it are appended to the list
 * *fired (rate limited as triggers are: 10/s, burst 20); allocation failures are counted in
 * *ret_lost. */
void guards_evaluate(struct guards *g, const struct model_info *mi, const Evident__V1__Record *rec,
                     const char *client_name, uint64_t now_ns, struct guard_catch *ret,
                     struct firing **fired, uint64_t *ret_lost);

/* The firings alone (crash recovery: a record's guard incidents that never reached the
 * vault), in the shape triggers_recover asks for. data is the struct guards. */
struct firing *guards_firings(void *data, const struct model_info *mi,
                              const Evident__V1__Record *rec, const char *client_name,
                              uint64_t now_ns, uint64_t *ret_lost);

/* Ranks a Verdict action by strictness: PROCEED 1 < REVIEW 2 < HOLD 3; PENDING (no answer in
 * time) and anything else 0. */
int guards_action_rank(int action);
