/* SPDX-License-Identifier: Apache-2.0 */
/* The publisher thread: takes every checkpoint the writer signs off the host. It submits the
 * newest checkpoint to each configured witness (C2SP tlog-witness add-checkpoint, with the
 * consistency proof from the size that witness last cosigned), checks each cosignature it gets
 * back and stores it beside its checkpoint in the vault (vault_cosignature_add), with retries
 * and backoff; and, with tiles_dir, keeps a C2SP tlog-tiles copy of the log there.
 *
 * Nothing waits for it: the writer only tells it that a checkpoint was signed (publish_signed,
 * a lock and a wake-up), and it always works on the newest checkpoint, skipping those signed
 * while a request was in flight. All HTTP runs on the thread through one libcurl multi handle
 * (keep-alive connections, every witness at once).
 *
 * A witness's state (answering, refusing, unreachable) is reported when it changes, not at
 * every attempt: logged (a refusal, which can mean a forked log, at error level) and handed
 * to the loop thread as a notice entry. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "vault.h"

struct publisher;

/* A witness changed state: called on the loop thread with a notice kind ("witness_refused",
 * "witness_unreachable", "witness_ok") and a one-line detail naming the witness. */
typedef void (*publish_notice_fn)(void *data, const char *kind, const char *detail);

/* Starts the thread for the witnesses and tiles_dir of cfg (copied; cfg may go). Records the
 * quorum in the vault (vault_witness_quorum_set: call from the writer's thread, or before the
 * writer starts, as here at start). With no witness and no tiles_dir, *ret is NULL and nothing
 * runs. Returns 0 or a negative errno (logged). Loop thread. */
int publish_start(struct publisher **ret, uv_loop_t *loop, struct vault *v,
                  const struct config *cfg, publish_notice_fn notice, void *data);
/* A checkpoint of size entries was signed (any thread; p may be NULL). */
void publish_signed(struct publisher *p, uint64_t size);
/* Closes the loop-side handle (before the loop ends); later state changes are only logged.
 * Loop thread; p may be NULL. */
void publish_detach(struct publisher *p);
/* Waits up to wait_ms for the quorum of cosignatures on the newest checkpoint (the final one
 * is published at once) and logs when it was not reached; the thread goes on. Once per p (a
 * second call returns at once); takes NULL. After the loop ended or from the loop thread (it
 * blocks). */
void publish_wait(struct publisher *p, uint32_t wait_ms);
/* publish_wait (unless it ran), then stops the thread and frees p (takes NULL). Whatever hands
 * cosignatures to p (the forwarder: forward_cosignatures_stop) must have stopped first. */
void publish_stop(struct publisher *p, uint32_t wait_ms);

/* A cosignature line that came through NATS (the forwarder: [witness NAME] with nats = yes):
 * name is the name of the witness's key, line[0..len) its tlog-cosignature/v1 line for the
 * stored checkpoint of size entries. Checked and stored as an HTTP witness's answer is, and
 * counted toward the quorum. Returns 0; -ENOENT (no such witness, or no checkpoint of that
 * size); -EKEYREJECTED / -EBADMSG (not a valid cosignature by its key); -ENOSPC, -ENOMEM
 * (worth asking again). err says which. Any thread but one at a time; p may be NULL. */
int publish_cosignature(struct publisher *p, const char *name, uint64_t size, const char *line,
                        size_t len, char *err, size_t err_size);

/* Counters for status and benchmarks (read with atomics; any thread). */
struct publish_stats {
	uint64_t submitted, cosigned, refused, unreachable;
	/* signed -> quorum stored, over the checkpoints that reached it (milliseconds) */
	uint64_t quorum_reached;
	double quorum_ms_p50, quorum_ms_p99, quorum_ms_max;
	uint64_t witnessed_size; /* newest checkpoint with the quorum this run */
};
void publish_get_stats(struct publisher *p, struct publish_stats *ret);
