/* SPDX-License-Identifier: Apache-2.0 */
/* Incident submission: once a record is durable, the trigger firings it carried
 * (triggers.h) become incident entries naming its seq, in one commit; then each OPEN
 * incident's audit is queued (workers.h), and a verdict wait of the record gets its answer
 * from the first OPEN incident's audit, or PENDING at once when there is none to run
 * (rate limited, audit skipped, not recorded). RATE_LIMITED incidents are recorded, never
 * audited. An OPEN incident holds its record from the moment it is queued (holds.h), and its
 * entries carry the record's data subject. Loop thread. A failure to record is logged and counted
 * in d->stats.incidents_lost; the caller gets nothing back. */
#pragma once

#include <stdint.h>

struct daemon;
struct firing;
struct model_info;
struct verdict_wait;

/* The record of version mi is durable at record_seq: its firings f (taken) are written, with
 * the record's data subject (may be NULL; copied). vw (may be NULL) is the record's verdict
 * wait, still open, handed on. */
void incident_submit(struct daemon *d, struct firing *f, uint64_t record_seq,
                     const struct model_info *mi, const char *subject, struct verdict_wait *vw);
