/* SPDX-License-Identifier: Apache-2.0 */
/* Model registration, one per connection at a time (proto/PROTOCOL.md, "Model registration"):
 * RegisterModel is checked (dispatch.h) and compared with the registry (the same manifest is
 * acknowledged as a duplicate, another one under the same ID@VERSION is CONFLICT); each
 * artifact the vault lacks is asked for (ArtifactRequest) and streams in as ArtifactChunks
 * into a content-addressed blob (writer jobs; SHA-256 and size checked against the
 * manifest); then the version is loaded the way its audits will load it (workers_load_model,
 * on libuv's thread pool, one registration at a time: SCHEMA_MISMATCH with the loader's
 * message when it does not load) and its artifact and model entries are committed in one
 * transaction before the registration is acknowledged. A registration that makes no
 * progress for registration_timeout is dropped (OVERLOADED) and its ID@VERSION freed.
 *
 * Loop thread. Every failure is answered to the client with an Error naming the ID@VERSION;
 * nothing is returned to the caller. A registration's memory is its own; the blob data a
 * dropped registration staged is discarded by the writer. */
#pragma once

#include <stdbool.h>
#include <uv.h>

#include "evident.pb-c.h"
#include "tlist.h"

struct daemon;
struct model_info;
struct session;
struct registration;

/* The registrations of a daemon (d->regs). */
struct registrations {
	struct registration *active;    /* in progress, across connections */
	struct registration *verifying; /* stored, waiting for their check, in order */
	bool verify_busy;               /* a check runs on the thread pool */
	struct tlist wait;              /* in progress, by last progress */
	uv_timer_t timer;               /* at the registration_timeout of wait's head */
};

/* RegisterModel on s (after Hello). */
void registration_begin(struct session *s, const Evident__V1__RegisterModel *rm);
/* An ArtifactChunk on s: it belongs to s's registration in progress. */
void registration_chunk(struct session *s, const Evident__V1__ArtifactChunk *c);
/* s is closing: its registration in progress, if any, is dropped. */
void registration_cancel(struct session *s);

/* The guards (d->guards) that apply to mi's model but cannot bind to mi (a feature their
 * `when` names is not one of mi's) are logged and recorded, one guard_unbound notice each:
 * they do not evaluate on mi's records. Called when mi registers, and by the daemon for the
 * registered versions when guards are loaded. Returns how many. */
size_t registration_report_guards(struct daemon *d, const struct model_info *mi);

/* registration_timeout's timer: _start before the first connection, _reconfigure after a
 * reload, _stop when the loop winds down. */
void registration_timer_start(struct daemon *d);
void registration_timer_reconfigure(struct daemon *d);
void registration_timer_stop(struct daemon *d);
