/* SPDX-License-Identifier: Apache-2.0 */
/* Client connections and framing: accepts connections (peer credentials, allow lists,
 * connection limits), reads length-delimited frames into a bounded frame reader, decodes
 * each one (dispatch.h), answers Hello, and hands every later frame up through
 * struct session_ops (ingest.h in the daemon); gathers replies and sends them once per
 * wake-up; stops reading a connection for backpressure (max_unacked, unread replies,
 * max_queue) and starts again; closes idle, silent and slow connections (hello_timeout,
 * idle_timeout, frame_timeout).
 *
 * The connection layer calls nothing above it: what it hands up goes through the session_ops
 * the daemon installs (d->session_ops). Loop thread only. A session is reference counted:
 * whoever keeps a pointer past the current callback (a writer job, a verdict wait) takes a
 * reference (session_ref, session_charge) and drops it (session_unref). Errors are answered
 * to the peer and logged; nothing is returned. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "daemon.h"
#include "dispatch.h"
#include "frame.h"

#define SESSION_READ_SIZE  (64 * 1024)
/* Reads are this small while max_queue has less room than SESSION_READ_SIZE. */
#define SESSION_READ_MIN   4096
/* A client that does not read its replies is stopped once this much waits for it. */
#define SESSION_OUTPUT_MAX (1u << 20)
/* The largest frame accepted before Hello (a Hello is a few hundred bytes). */
#define SESSION_HELLO_MAX  4096

/* What the connection layer hands up (installed by the daemon in d->session_ops). */
struct session_ops {
	/* A decoded frame of s after its Hello (a second Hello is answered here): body[0..len)
	 * as received and f decoded from it, both valid until the call returns. */
	void (*frame)(struct session *s, const uint8_t *body, size_t len,
	              const Evident__V1__Frame *f);
	/* s starts closing: end what it started (may be NULL). */
	void (*closing)(struct session *s);
	/* A connection's handle is closed (may be NULL). */
	void (*closed)(struct daemon *d);
};

struct session {
	uv_pipe_t pipe; /* pipe.data = this */
	struct daemon *d;
	struct session *prev, *next;
	uint64_t id;
	unsigned refs; /* the connection itself + one per job in flight */
	bool closing;
	bool reading;
	bool hello_done;
	struct frame_reader reader;
	char client_name[DISPATCH_CLIENT_MAX + 1];
	struct peer peer;
	uint64_t unacked_bytes; /* records and chunks waiting for the writer */
	size_t output_pending;  /* bytes handed to uv_write and not yet written */
	uint8_t *out;           /* replies gathered, sent by session_flush() */
	size_t out_len, out_cap;
	struct session *dirty_next; /* in the daemon's list of sessions with replies to send */
	bool dirty;
	/* registration.c's: the registration in progress, and the ID@VERSION whose chunks are
	 * dropped (its artifacts were stored already) */
	struct registration *reg;
	char swallow_key[DISPATCH_ID_MAX + DISPATCH_VERSION_MAX + 2];
	/* limits and timeouts */
	struct tnode conn_node;  /* in d->hello_wait before Hello, d->idle after */
	struct tnode frame_node; /* in d->partial while a frame is incomplete */
	struct tnode queue_node; /* in d->queue_wait while stopped for max_queue */
	uint64_t buffered;       /* the frame reader's memory, counted in d->queued_bytes */
	bool uid_counted;        /* in d->uids */
};

/* Accepts a connection from the listener; checks peer credentials and limits. */
void session_accept(struct daemon *d, uv_stream_t *listener);

/* Replies to s, gathered and sent by session_flush_dirty (a reply that cannot be built for
 * want of memory is dropped: the client resends what was not acknowledged). */
void session_reply_error(struct session *s, dispatch_code code, const char *msg,
                         const char *request_id);
void session_reply_ack(struct session *s, const char *request_id,
                       const struct vault_append_result *r);
void session_reply_frame(struct session *s, const Evident__V1__Frame *f);
/* Queues a Verdict frame. Returns false (nothing queued) when the connection is closing. */
bool session_send_verdict(struct session *s, const Evident__V1__Verdict *v);
/* Sends s's gathered replies. */
void session_flush(struct session *s);
/* Sends the replies of every session that gathered some: once per wake-up, after the
 * callbacks that answer (reads, writer batches, audit events, timers). */
void session_flush_dirty(struct daemon *d);

/* A job for s carries cost bytes (a record or a chunk) until it is done: they count against
 * s's max_unacked and the daemon's max_queue, and s is referenced. _discharge gives the
 * bytes back (the caller still drops its reference with session_unref). */
void session_charge(struct session *s, uint64_t cost);
void session_discharge(struct session *s, uint64_t cost);

/* Stops reading new frames (drain). */
void session_stop_reading(struct session *s);
/* Closes after pending replies are written. */
void session_close(struct session *s);
/* Closes a connection that is shutting down without waiting for its writes (a peer that
 * does not read). */
void session_force_close(struct session *s);
/* Takes / drops a reference (the last one frees s). */
void session_ref(struct session *s);
void session_unref(struct session *s);

/* Connection limits and timeouts (config max_connections, max_connections_per_uid,
 * hello_timeout, idle_timeout, frame_timeout): one timer for every connection. _start before
 * the first connection (and warns when the descriptor limit is below max_connections),
 * _reconfigure after a reload, _stop when the loop winds down. */
void session_limits_start(struct daemon *d);
void session_limits_reconfigure(struct daemon *d);
void session_limits_stop(struct daemon *d);
