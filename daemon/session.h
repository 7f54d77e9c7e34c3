/* SPDX-License-Identifier: Apache-2.0 */
/* One client connection: reads frames, answers Hello, validates and queues records and model
 * registrations for the writer, and sends Acks and Errors back, with backpressure. */
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
	struct registration *reg;   /* this connection's registration in progress */
	struct session *dirty_next; /* in the daemon's list of sessions with replies to send */
	bool dirty;
	char swallow_key[DISPATCH_ID_MAX + DISPATCH_VERSION_MAX + 2]; /* chunks to drop */
	/* limits and timeouts */
	struct tnode conn_node;  /* in d->hello_wait before Hello, d->idle after */
	struct tnode frame_node; /* in d->partial while a frame is incomplete */
	struct tnode queue_node; /* in d->queue_wait while stopped for max_queue */
	uint64_t buffered;       /* the frame reader's memory, counted in d->queued_bytes */
	bool uid_counted;        /* in d->uids */
};

/* Accepts a connection from the listener; checks peer credentials and limits. */
void session_accept(struct daemon *d, uv_stream_t *listener);
/* Sends gathered replies. */
void session_flush(struct session *s);
/* Stops reading new frames (drain). */
void session_stop_reading(struct session *s);
/* Closes after pending replies are written. */
void session_close(struct session *s);
/* Closes a connection that is shutting down without waiting for its writes (a peer that
 * does not read). */
void session_force_close(struct session *s);
/* Takes / drops a reference for a job or a verdict wait. */
void session_ref(struct session *s);
void session_unref(struct session *s);
/* Queues a Verdict frame (nothing when the connection is closing). */
void session_send_verdict(struct session *s, const Evident__V1__Verdict *v);

/* Connection limits and timeouts (config max_connections, max_connections_per_uid,
 * hello_timeout, idle_timeout, frame_timeout, registration_timeout): one timer for every
 * connection. _start before the first connection (and warns when the descriptor limit is
 * below max_connections), _reconfigure after a reload, _stop when the loop winds down. */
void session_limits_start(struct daemon *d);
void session_limits_reconfigure(struct daemon *d);
void session_limits_stop(struct daemon *d);
