/* SPDX-License-Identifier: Apache-2.0 */
/* The forwarder thread ([forward]): publishes every entry the vault has committed, the blobs
 * its artifact entries name and every signed checkpoint to NATS JetStream (fleet/FLEET.md for
 * the subjects, messages and Nats-Msg-Id), and stores the cosignatures auditors publish back.
 *
 * It follows the vault, never the ingest path: it reads committed entries through short reader
 * snapshots from its position (the entries JetStream acknowledged, in order, kept in the vault
 * with vault_forwarded_set), so nothing is published before it is durable locally and a
 * restart or an outage resumes from the vault. The writer only wakes it (forward_committed:
 * a lock and a signal); a NATS server that is down, slow or full never slows an ack.
 *
 * Publishing is asynchronous with a bounded window (max_pending messages without an ack).
 * After any failed publish it waits for the window to settle and resends from the first entry
 * not acknowledged; JetStream drops the repeats by their Nats-Msg-Id. States (connected, lost,
 * refused, lagging, caught up) are logged when they change, and the lag every 30 s while it
 * lasts. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "publish.h"
#include "vault.h"

struct forwarder;

/* Starts the thread for cfg->forward (copied; cfg may go) on vault v (opened for writing by
 * this process). Connecting happens on the thread: a server that is down at start is retried
 * with backoff. pub (may be NULL) receives the cosignatures of [witness] sections with
 * nats = yes (publish_cosignature). Without nats_url *ret is NULL and nothing runs.
 * Returns 0 or a negative errno (logged). */
int forward_start(struct forwarder **ret, struct vault *v, const struct config *cfg,
                  struct publisher *pub);
/* The vault holds size committed entries (any thread; f may be NULL): wakes the thread. */
void forward_committed(struct forwarder *f, uint64_t size);
/* Waits up to wait_ms until JetStream acknowledged every entry of the vault and its newest
 * checkpoint, and logs what remained. The thread goes on (cosignatures still arrive). Call
 * after the writer stopped (the vault no longer grows); f may be NULL. */
void forward_drain(struct forwarder *f, uint32_t wait_ms);
/* Cosignatures that arrive from now on are left in JetStream for the next start (Nak), and
 * none is being handed to the publisher when this returns: call it before the publisher
 * given to forward_start is freed. Any thread; f may be NULL. */
void forward_cosignatures_stop(struct forwarder *f);
/* Stops the thread, closes the connection, stores the position and frees f (takes NULL). */
void forward_stop(struct forwarder *f);

struct forward_stats {
	uint64_t published; /* messages handed to JetStream (entries, blob chunks, checkpoints) */
	uint64_t acked;     /* of them acknowledged (duplicates included) */
	uint64_t failed;    /* refused or timed out, then resent */
	uint64_t oversized; /* entries forwarded without their payload (over max_payload) */
	uint64_t position;  /* entries acknowledged in order */
	uint64_t cosignatures; /* stored from NATS */
};
void forward_get_stats(struct forwarder *f, struct forward_stats *ret);
