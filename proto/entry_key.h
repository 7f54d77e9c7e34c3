/* SPDX-License-Identifier: Apache-2.0 */
/* The dedup keys of vault entries, derived from their payloads (entry.proto).
 *
 * The daemon appends records, reviews, model registrations and the admin requests (holds,
 * releases, erasures) with a dedup key (client name, request id) so that a retry is answered
 * with the original entry instead of being stored twice. The vault keeps those keys in its
 * `dedup` database, which is derived data: these functions derive the same key from a stored
 * payload, so that `evidentctl verify` can rebuild the index and the daemon can check, before
 * it answers "duplicate", that the entry an index key names really carries that key. One
 * definition, used by both.
 *
 * Pure functions: no allocation survives a call, no logging. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "evident.pb-c.h"

/* The payload types that carry a dedup key, numbered as the vault's entry types (vault/FORMAT.md
 * §3; the numbers are part of the leaf format and never change). */
enum entry_keyed_type {
	ENTRY_KEYED_RECORD = 1,   /* RecordEntry: (client_name, record.request_id) */
	ENTRY_KEYED_MODEL = 2,    /* ModelEntry: ("@models", "ID@VERSION") */
	ENTRY_KEYED_REVIEW = 6,   /* ReviewEntry: (client_name, review.request_id or "review-ID") */
	ENTRY_KEYED_HOLD = 12,    /* HoldEntry: (client_name, hold.request_id) */
	ENTRY_KEYED_RELEASE = 13, /* HoldEntry: (client_name, release.request_id) */
	ENTRY_KEYED_ERASURE = 14, /* ErasureEntry: (client_name, erase.request_id) */
};

/* The client name model registrations are deduplicated under. */
#define ENTRY_MODELS_CLIENT "@models"
/* Room for any key part written here (the vault's VAULT_DEDUP_KEY_MAX). */
#define ENTRY_KEY_MAX       500

/* The request id a review is deduplicated under: its own when it has one, else
 * "review-INCIDENT_ID" (or "review-seq-RECORD_SEQ" for a review of a guarded record by
 * record_seq) written into buf. Returns a pointer to rv's string or to buf. */
const char *entry_review_request_id(const Evident__V1__Review *rv, char buf[32]);

/* Derives the dedup key of a payload of the given vault entry type into client and request
 * (each ENTRY_KEY_MAX bytes, NUL-terminated). Returns 1 when entries of this type carry a key,
 * 0 when they carry none, -EBADMSG when the payload does not decode or lacks the key's
 * fields, -ENOMEM. */
int entry_dedup_key(uint16_t type, const uint8_t *payload, size_t len, char *client, char *request);
/* entry_dedup_key in the form of the vault's dedup callbacks (vault_options.dedup_key,
 * vault_mirror_options.mirror_dedup_key; userdata unused). */
int entry_dedup_key_fn(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                       char *client, char *request);

/* The model an entry is about, "MODEL_ID@VERSION" into model (ENTRY_MODEL_MAX + 1 bytes): a
 * record's model_id and model_version, a model entry's manifest. Returns 1 when the entry
 * names one, 0 for other types (or a record without a model), -EBADMSG when the payload does
 * not decode. The vault's model index (vault_options.model_key) is built with it. */
#define ENTRY_MODEL_MAX 255
int entry_model_key(uint16_t type, const uint8_t *payload, size_t len, char *model);
/* entry_model_key in the form of the vault's vault_model_key_fn (userdata unused). */
int entry_model_key_fn(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                       char *model);
