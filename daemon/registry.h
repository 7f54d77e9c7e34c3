/* SPDX-License-Identifier: Apache-2.0 */
/* The registered models (ID@VERSION -> manifest and model entry), rebuilt from the vault's
 * model entries at start. Only the event loop thread touches it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evident.pb-c.h"
#include "vault.h"

/* Records a version's reservoir keeps. */
#define REGISTRY_RESERVOIR_CAP 256

/* A uniform sample (Algorithm R) of this run's records of one model version: the audit
 * background when no reference data was registered. Loop thread only. */
struct reservoir {
	size_t cap, n;  /* slots, filled slots */
	uint64_t seen;  /* records offered */
	uint64_t rng;   /* splitmix64 state */
	double *rows;   /* cap x M */
	uint64_t *seqs; /* cap */
};

struct model_info {
	char *key;    /* "ID@VERSION", owned */
	uint64_t seq; /* of the model entry */
	uint8_t leaf_hash[VAULT_HASH_LEN];
	uint8_t digest[VAULT_HASH_LEN];       /* SHA-256 of the canonical manifest bytes */
	Evident__V1__ModelManifest *manifest; /* owned (unpacked) */
	struct model_info *next;              /* hash chain */
	struct reservoir *recent;             /* NULL until the first record */
};

struct registry {
	struct model_info **buckets;
	size_t n_buckets;
	size_t count;
};

int registry_init(struct registry *r);
void registry_deinit(struct registry *r);

/* Reads every model entry of the vault (through the type index). A model entry that does not
 * decode is skipped and counted in *ret_bad (may be NULL). Returns 0 or a vault error. */
int registry_load(struct registry *r, struct vault *v, size_t *ret_bad);

const struct model_info *registry_find(const struct registry *r, const char *id,
                                       const char *version);

/* Adds a model; takes ownership of manifest (an unpacked message or a struct built by
 * protobuf-c's unpack). Returns 0, -EEXIST (key present: manifest freed), -ENOMEM. */
int registry_add(struct registry *r, Evident__V1__ModelManifest *manifest, uint64_t seq,
                 const uint8_t leaf_hash[VAULT_HASH_LEN], const uint8_t digest[VAULT_HASH_LEN]);

/* Writes "ID@VERSION" into buf. Returns 0 or -ENAMETOOLONG. */
int registry_key(const char *id, const char *version, char *buf, size_t size);

/* The reservoir of recent records (struct reservoir), created with the version's first
 * record. registry_reservoir_pick is called on the loop for every accepted record before it
 * is written: it returns the slot the record takes, or -1 (not sampled, or out of memory);
 * registry_reservoir_fill puts its features x (M of the manifest) in once its seq is known. */
long registry_reservoir_pick(struct model_info *mi);
void registry_reservoir_fill(struct model_info *mi, long slot, const double *x, uint64_t seq);

/* The records seqs[0..n) were pruned (an erasure, retention): their rows leave every
 * reservoir, so that no later audit takes a pruned record into its background. */
void registry_reservoir_forget(struct registry *r, const uint64_t *seqs, size_t n);

/* At start: the reservoirs of the registered versions without reference data refilled from
 * the newest records of the vault, reading back at most max_scan entries, so that an audit
 * right after a restart has its background. Returns the records taken or a negative errno. */
long registry_reservoir_seed(struct registry *r, struct vault *v, uint64_t max_scan);
