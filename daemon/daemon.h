/* SPDX-License-Identifier: Apache-2.0 */
/* struct daemon: the one object that owns everything of a running evidentd (no process
 * globals). Made in main(), reached from libuv handles through ->data. The daemon's files
 * share it as data, each its own fields; their calls go one way, from daemon.c down (session,
 * ingest, registration, incident, verdict, workers, writer, ...), and what goes back up goes
 * through the callbacks daemon.c installs: struct session_ops (session.h), struct
 * workers_hooks (workers.h), the writer's after_done and the verdict waits' after_timer. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "dispatch.h"
#include "exporter.h"
#include "publish.h"
#include "registration.h"
#include "registry.h"
#include "tlist.h"
#include "vault.h"
#include "verdict.h"
#include "workers.h"
#include "writer.h"

struct holds;
struct retention;
struct session;
struct session_ops;

struct uid_count {
	uid_t uid;
	uint32_t n;
};

struct daemon_stats {
	uint64_t connections, rejected_connections;
	uint64_t records, duplicates, refused, registrations, reviews;
	uint64_t overloaded, vault_full;
	uint64_t incidents, incidents_rate_limited, incidents_lost;
	uint64_t guarded, guarded_hold; /* records a guard caught; of them, answered HOLD */
	uint64_t admin_refused;         /* Hold, Release, Erase refused (each recorded) */
};

struct daemon {
	uv_loop_t *loop;
	struct config cfg;
	const char *config_arg;    /* --config, or NULL for the default path */
	const char *vault_arg;     /* --vault override */
	const char *socket_arg;    /* --socket override */
	const char *log_level_arg; /* --log-level override (the config's log_level otherwise) */
	struct vault *vault;
	struct writer writer;
	struct workers workers;   /* audits (workers.h) */
	struct verdicts verdicts; /* verdict waits (verdict.h) */
	struct registry models;
	struct holds *holds;            /* legal holds and open incidents (holds.h) */
	struct retention *retention;    /* [retention] applied on a timer (retention.h) */
	struct trigger_state *triggers; /* the [trigger NAME] rules of cfg (triggers.h) */
	size_t n_triggers;
	struct guards *guards; /* the [guard NAME] constraints of cfg (guards.h); NULL: none */
	char origin[VAULT_ORIGIN_MAX + 1];

	uv_pipe_t listener;
	bool listening;
	bool socket_activated;
	bool unlink_socket; /* we bound the path: remove it at exit */

	const struct session_ops *session_ops; /* frames after Hello go up through it */
	struct session *sessions;              /* doubly linked */
	struct session *closing;               /* shutting down: last replies being written */
	struct session *dirty; /* sessions with gathered replies, flushed once per wake-up */
	size_t n_sessions;
	uint64_t next_session_id;
	struct registrations regs; /* model registrations (registration.h) */

	/* connection limits and timeouts (session.c) */
	uv_timer_t limits_timer; /* at the earliest deadline of the lists below */
	struct tlist hello_wait; /* connections without a Hello, oldest first */
	struct tlist idle;       /* after Hello, by last activity */
	struct tlist partial;    /* an incomplete frame, by when it started */
	struct tlist queue_wait; /* not read while max_queue is exceeded */
	struct uid_count *uids;  /* connections per peer uid */
	size_t n_uids, cap_uids;

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
	struct publisher *publisher; /* witnesses and tiles (publish.h); NULL when none */
	struct forwarder *forwarder; /* [forward] to NATS JetStream (forward.h); NULL when off */
	struct exporter ex;          /* metrics (exporter.h) */
};

/* Runs the daemon until SIGTERM/SIGINT and a complete drain. Returns the exit code. */
int daemon_run(struct daemon *d);

/* daemon_run in steps, for a caller that runs the loop itself (the loop tests):
 * daemon_start loads the configuration (d->config_arg and the overrides), opens the vault and
 * recovers what a crash left, records the start, starts the writer and the workers, and
 * listens, on loop (initialised by the caller). Returns 0, or -1 (logged; call daemon_finish
 * all the same). The loop then runs until it has no handles left, which is after a drain
 * (daemon_drain: SIGTERM's work) has written the stop entry and the last replies went out.
 * daemon_finish releases everything but the loop (the caller closes it) and returns the exit
 * code. */
int daemon_start(struct daemon *d, uv_loop_t *loop);
void daemon_drain(struct daemon *d, const char *why);
int daemon_finish(struct daemon *d);
