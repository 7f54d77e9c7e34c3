/* SPDX-License-Identifier: Apache-2.0 */
/* The admin requests (ingest.h hands them here): Hold, Release and Erase, obeyed only from
 * peers in admin_uids (config.h). Each is answered once its entries are durable:
 *
 *  - Hold: the entries it covers are resolved (holds.h) and a hold entry lists them; from then
 *    on retention and erasures leave them alone. A seq that does not exist, an incident_id
 *    that names no incident, or a hold_id already active is refused and recorded.
 *  - Release: ends an active hold with a release entry (an unknown hold_id is refused and
 *    recorded).
 *  - Erase: prunes every payload of the subject that no hold covers, in batches on the writer
 *    thread (each batch one vault_prune_batch transaction; records queued meanwhile go
 *    first), then records an erasure entry with the counts and the holds that kept payloads;
 *    the Ack comes after that entry is durable. A subject without entries, or with everything
 *    held, is recorded and acknowledged the same way (0 pruned).
 *
 * Each is appended with the (client name, request id) dedup key, so that a retry after a lost
 * Ack is answered duplicate (an erasure a crash cut short is simply run again: what it pruned
 * then counts as pruned before). Every refusal (UNAUTHORIZED, a bad message, a missing seq,
 * ...) is answered with an Error carrying the request_id and recorded as a notice entry of kind
 * "admin_refused" with the request as it would have been stored. Loop thread; the work on the
 * vault runs in writer jobs (run()), which own their data until done. */
#pragma once

#include "evident.pb-c.h"

struct session;

void admin_hold(struct session *s, const Evident__V1__Hold *h);
void admin_release(struct session *s, const Evident__V1__Release *r);
void admin_erase(struct session *s, const Evident__V1__Erase *e);
