/* SPDX-License-Identifier: Apache-2.0 */
/* struct daemon: the one object that owns everything of a running evidentd (no process
 * globals). Made in main(), reached from libuv handles through ->data. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "dispatch.h"
#include "registry.h"
#include "vault.h"
#include "workers.h"
#include "writer.h"

struct session;
struct registration;

/* A list kept in time order (session.c's timeouts): a node is appended with the loop's time
 * (uv_now, ms), so with one timeout per list the head always has the earliest deadline. */
struct tlist;
struct tnode {
	struct tnode *prev, *next;
	struct tlist *list; /* NULL: in no list */
	uint64_t since;
};
struct tlist {
	struct tnode *head, *tail;
};

struct uid_count {
	uid_t uid;
	uint32_t n;
};

struct daemon_stats {
	uint64_t connections, rejected_connections;
	uint64_t records, duplicates, refused, registrations, reviews;
	uint64_t overloaded, vault_full;
	uint64_t incidents, incidents_rate_limited, incidents_lost;
};

struct daemon {
	uv_loop_t *loop;
	struct config cfg;
	const char *config_arg; /* --config, or NULL for the default path */
	const char *vault_arg;  /* --vault override */
	const char *socket_arg; /* --socket override */
	struct vault *vault;
	struct writer writer;
	struct workers workers; /* audits and verdicts (workers.h) */
	struct registry models;
	struct trigger_state *triggers; /* the [trigger NAME] rules of cfg (incident.h) */
	size_t n_triggers;
	char origin[VAULT_ORIGIN_MAX + 1];

	uv_pipe_t listener;
	bool listening;
	bool socket_activated;
	bool unlink_socket; /* we bound the path: remove it at exit */

	struct session *sessions; /* doubly linked */
	struct session *closing;  /* shutting down: last replies being written */
	struct session *dirty;    /* sessions with gathered replies, flushed once per wake-up */
	size_t n_sessions;
	uint64_t next_session_id;
	struct registration *registrations; /* in progress, across sessions */

	/* connection limits and timeouts (session.c) */
	uv_timer_t limits_timer; /* at the earliest deadline of the lists below */
	struct tlist hello_wait; /* connections without a Hello, oldest first */
	struct tlist idle;       /* after Hello, by last activity */
	struct tlist partial;    /* an incomplete frame, by when it started */
	struct tlist queue_wait; /* not read while max_queue is exceeded */
	struct tlist reg_wait;   /* registrations, by last progress */
	struct uid_count *uids;  /* connections per peer uid */
	size_t n_uids, cap_uids;
	struct registration *verifying; /* registrations whose artifacts are being loaded */
	bool verify_busy;

	uint64_t queued_bytes; /* records and chunks waiting for the writer, partial frames */
	struct dispatch_arena decode_arena; /* frames are decoded one at a time on the loop */
	uint8_t *read_buf;                  /* SESSION_READ_SIZE, shared by all connections */

	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t watchdog_timer, drain_timer;
	uint64_t watchdog_usec;
	uint64_t checkpointed_size;

	bool draining;
	bool final_submitted;
	int exit_code;
	struct daemon_stats stats;
};

/* Runs the daemon until SIGTERM/SIGINT and a complete drain. Returns the exit code. */
int daemon_run(struct daemon *d);

/* Helpers shared by the daemon's files. */
void daemon_flush_dirty(struct daemon *d);
void daemon_session_closed(struct daemon *d);
void daemon_maybe_finish_drain(struct daemon *d);
int64_t daemon_now_ns(void);
