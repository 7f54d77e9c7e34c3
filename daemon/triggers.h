/* SPDX-License-Identifier: Apache-2.0 */
/* Triggers at run time: the configured [trigger NAME] rules (compiled by the trigger library,
 * trigger.h) bound to each model version's features and evaluated on every accepted record
 * (loop thread), with their rate limits; each firing carries its IncidentEntry payload until
 * the record is durable (then it is written, naming the record's seq). Crash recovery of
 * the firings a kill lost. No logging; allocation failures are returned or counted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "evident.pb-c.h"
#include "registry.h"
#include "vault.h"

struct trigger_state;

/* The rules of cfg, with full rate buckets. Returns 0 or -ENOMEM; *ret (free with
 * triggers_free) is NULL when there are none. cfg must outlive the result. */
int triggers_new(const struct config *cfg, struct trigger_state **ret, size_t *ret_n);
void triggers_free(struct trigger_state *t, size_t n);

/* One firing, carried with the record's write until its seq is known. */
struct firing {
	struct firing *next;
	bool recovered;   /* written by crash recovery (IncidentEntry.recovered) */
	bool open;        /* status OPEN: an audit is wanted */
	uint8_t *payload; /* IncidentEntry without record_seq (appended at submit) */
	size_t len;
};

/* Evaluates every rule on rec (validated, of model mi) at now_ns; returns the firings as a
 * list (NULL: none), each already rate-limited (status OPEN or RATE_LIMITED). Allocation
 * failures drop nothing silently: *ret_lost counts firings that could not be recorded. */
struct firing *triggers_evaluate(struct trigger_state *t, size_t n, const struct model_info *mi,
                                 const Evident__V1__Record *rec, const char *client_name,
                                 uint64_t now_ns, uint64_t *ret_lost);

/* A firing of rule `rule` (a [trigger NAME], or a [guard NAME] with audit = yes: guard) on rec:
 * its IncidentEntry without record_seq, status OPEN (open) or RATE_LIMITED. NULL when out of
 * memory. */
struct firing *triggers_firing_new(const char *rule, const char *when, char *const *methods,
                                   size_t n_methods, double review_below, bool guard, bool open,
                                   const Evident__V1__Record *rec, const char *client_name,
                                   uint64_t now_ns);

/* The entry payload of a firing for record seq: the stored IncidentEntry bytes with
 * record_seq appended (protobuf fields may come in any order). The caller takes the buffer
 * (free()); f->payload becomes NULL. */
uint8_t *triggers_firing_payload(struct firing *f, uint64_t record_seq, size_t *ret_len);
/* Frees a list of firings. */
void triggers_firings_free(struct firing *f);

/* More firings of a record from other rules (the guards with audit = yes: guards.h), or NULL;
 * allocation failures counted in *ret_lost. */
typedef struct firing *(*triggers_more_fn)(void *data, const struct model_info *mi,
                                           const Evident__V1__Record *rec, const char *client_name,
                                           uint64_t now_ns, uint64_t *ret_lost);

/* Crash recovery, at start before anything else is appended: when the vault's last run
 * ended without a STOP entry, the records after its last incident (or after its START) are
 * evaluated again (the rules, then more(more_data, ...) when more is not NULL) and the
 * incidents that never reached the vault are appended, marked recovered (with their
 * records' data subjects). A clean stop wrote every incident (the drain waits for them), so
 * nothing is done then. Returns the number of incidents appended, or a negative errno. */
long triggers_recover(struct trigger_state *t, size_t n, struct vault *v,
                      const struct registry *reg, uint64_t now_ns, triggers_more_fn more,
                      void *more_data);
