/* SPDX-License-Identifier: Apache-2.0 */
/* What a connection's frames after Hello ask for (the session hands them here,
 * struct session_ops): Records and Reviews are validated, evaluated against the trigger
 * rules (records) and queued to the writer as entries with the (client name, request id)
 * dedup key, and acknowledged once durable, or answered with an Error; a retry is
 * acknowledged only when the stored entry is the same (retry.h). A record's data subject
 * (Record.subject) is indexed with its entry, and a durable review ends its incident's hold
 * (holds.h). RegisterModel and ArtifactChunk go to registration.h; Hold, Release and Erase to
 * admin.h. Loop thread; every outcome is a reply to the client,
 * nothing is returned. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "evident.pb-c.h"

struct session;

/* One decoded frame f of s (body[0..len): its bytes as received), after Hello. */
void ingest_frame(struct session *s, const uint8_t *body, size_t len, const Evident__V1__Frame *f);
