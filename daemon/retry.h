/* SPDX-License-Identifier: Apache-2.0 */
/* Retries: what the daemon answers when the vault says an entry's (client, request id) was
 * stored before.
 *
 * The dedup index is derived data outside the Merkle tree, so it is never taken on trust:
 * before a retry is acknowledged "duplicate" with the original seq, the entry at that seq is
 * read and must carry the same client name and request id (entry_key.h), and the same content
 * (the Record, Review, Hold, Release or Erase as sent, re-encoded canonically). A retry with
 * other content is a conflict: the first entry stands, the client gets CONFLICT, and the
 * refused entry is recorded in a notice so the vault shows that two decisions were sent under
 * one id. An index key naming an entry without that key is damage: INTERNAL and a notice,
 * never an ack for data that was not stored. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

struct writer;

enum retry_verdict {
	RETRY_SAME = 0,     /* a true retry: acknowledge with the original seq */
	RETRY_CONFLICT = 1, /* same key, different content or another kind of entry: CONFLICT */
	RETRY_MISMATCH = 2, /* the index names an entry that does not carry this key */
};

/* Compares the entry of the given type and payload, which the vault answered as a duplicate of
 * entry seq, with that stored entry. Writes a one-line reason into why for CONFLICT and
 * MISMATCH. Any thread (it takes a read snapshot). Returns an enum retry_verdict, or a
 * negative errno when the stored entry cannot be read. */
int retry_check(struct vault *v, int type, uint64_t seq, const uint8_t *payload, size_t len,
                const char *client, const char *request, char *why, size_t why_size);

/* Appends a notice entry of kind "retry_conflict" or "dedup_mismatch" naming the stored entry
 * (seq), the key and the refused payload (copied). Loop thread; failures are logged. */
void retry_notice(struct writer *w, enum retry_verdict verdict, uint64_t seq, const char *client,
                  const char *request, int type, const uint8_t *payload, size_t len,
                  const char *why);
