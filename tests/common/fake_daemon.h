/* SPDX-License-Identifier: Apache-2.0 */
/* A fake evidentd for client tests and benchmarks (tests only): one thread serving
 * proto/PROTOCOL.md on a Unix socket (Hello, registration with ArtifactRequest and verified
 * chunk uploads, Records acknowledged with seqs, dedup by (client_name, request_id): a retry
 * with the same bytes gets the original seq, one with other bytes CONFLICT) with fault
 * injection. Nothing is durable: seqs are counted in memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fake_daemon;

struct fake_config {
	uint32_t max_frame;        /* announced in HelloOk and enforced; 0: FRAME_MAX_DEFAULT */
	bool require_model;        /* UNKNOWN_MODEL / SCHEMA_MISMATCH for records like the daemon */
	uint64_t drop_after;       /* the Nth record (counted from 1) is stored, not acknowledged,
	                            * and the connection is closed at once; 0: never. Fires once. */
	uint64_t overloaded_first; /* answer OVERLOADED to the first K records */
	uint64_t vault_full_first; /* answer VAULT_FULL to the first K records */
	bool hold_acks;            /* keep acks back until fake_daemon_hold_acks(f, false) */
	unsigned ack_delay_us;     /* sleep this long before each batch of acks (a slow fsync) */
};

struct fake_stats {
	uint64_t connections;
	uint64_t hellos;
	uint64_t records;    /* Record frames received */
	uint64_t stored;     /* distinct records stored (seq assigned) */
	uint64_t duplicates; /* Records answered with an earlier seq */
	uint64_t conflicts;  /* Records answered CONFLICT: an earlier one differs (in refused) */
	uint64_t refused;    /* Records answered with an Error */
	uint64_t registrations;
	uint64_t chunks;
	uint64_t chunk_bytes;
	uint64_t chunk_offset_errors; /* a chunk whose offset was not the bytes sent before */
	uint64_t uploads_verified;    /* artifacts whose size and SHA-256 matched the manifest */
	uint64_t drops;               /* connections closed by drop_after */
	uint64_t next_seq;
	char last_artifact_sha256[65];
};

/* Binds socket_path (removed first) and starts the thread. cfg may be NULL. Returns 0 and
 * sets *ret, or a negative errno. */
int fake_daemon_start(const char *socket_path, const struct fake_config *cfg,
                      struct fake_daemon **ret);
/* Stops the thread, closes every connection, removes the socket. Takes NULL. */
void fake_daemon_stop(struct fake_daemon *f);

void fake_daemon_stats(struct fake_daemon *f, struct fake_stats *ret);
/* Holds acks back (true) or sends those held and resumes (false). */
void fake_daemon_hold_acks(struct fake_daemon *f, bool hold);
/* Arms the drop again: the nth record from now closes its connection unacknowledged. */
void fake_daemon_drop_after(struct fake_daemon *f, uint64_t n);
/* Closes every client connection now (the clients see the daemon go away). */
void fake_daemon_kick(struct fake_daemon *f);
/* The seq stored for (client_name, request_id), or -1. */
int64_t fake_daemon_seq_of(struct fake_daemon *f, const char *client_name, const char *request_id);
