/* SPDX-License-Identifier: Apache-2.0 */
/* Retention: the [retention] durations (config.h) applied by the running daemon.
 *
 * A cycle runs right after start and then `interval` after the previous one ended. It works
 * through classes of entries, each an entry type with its duration (and, for records and
 * audits, one class per [retention MODEL] section, the [retention] class then leaving those
 * models alone): the payloads of the class stored longer ago than its duration (by the leaf's
 * timestamp, which every proof carries) are pruned, oldest first, in batches of `batch`
 * prunes. Each batch is one writer job (one vault_prune_batch transaction, with the entries'
 * dedup keys) queued behind whatever the writer has queued, and the next batch is queued only
 * once the previous one is done, and, while records arrive, after a pause four times as long
 * as the batch took: ingest keeps priority. A held payload (holds.h) is skipped
 * and looked at again once its hold is lifted. Each prune's reason names its rule, e.g.
 * "retention: record older than 400d (config [retention])".
 *
 * A kill during a cycle loses nothing and leaves nothing half pruned (a batch is one
 * transaction); the next start scans again from the first entry, skipping what is gone.
 *
 * The clock is the wall clock plus EVIDENTD_TEST_NOW_OFFSET_S seconds when that variable is set
 * at start: a test setting (tests/integration/test_retention.py), read once, logged, and
 * recorded in a notice entry of kind "test_clock". Loop thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct daemon;

/* Reads the test clock (0: none) from the environment. Returns 0, or -EINVAL (logged) for a
 * value that is not an integer number of seconds. */
int retention_clock_offset(int64_t *ret_offset_ns);

/* Sets up d->retention from d->cfg once the writer runs; the first cycle follows at once.
 * Returns 0 or -ENOMEM. */
int retention_start(struct daemon *d, int64_t offset_ns);
/* d->cfg changed (a reload): the new durations apply from the next batch; a class that stays
 * keeps its place. */
void retention_reconfigure(struct daemon *d);
/* A drain: no further batch is queued (the one in flight finishes) and the timer closes. */
void retention_stop(struct daemon *d);
/* After the loop ended: frees d->retention. Takes a daemon without one. */
void retention_free(struct daemon *d);
/* Payloads pruned by retention since start. */
uint64_t retention_pruned(const struct daemon *d);
