/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP side of evident-witness (libmicrohttpd): POST <prefix>/add-checkpoint
 * (c2sp.org/tlog-witness). Requests are parsed and their log signature verified on the HTTP
 * threads, decided by the committer (committer.h), cosigned on the HTTP threads and answered
 * once the decision is on disk. Every refusal is logged here, once. */
#pragma once

#include "committer.h"
#include "witness.h"

struct server_config {
	int listen_fd;      /* a bound, listening socket (non-blocking); the server owns it */
	const char *prefix; /* the submission prefix's path: "" or "/a/b" (no trailing '/') */
	unsigned threads;   /* HTTP threads (>= 1) */
	unsigned max_connections;
	unsigned max_per_ip;     /* 0: no limit */
	unsigned idle_timeout_s; /* a connection with nothing to do is closed after this */
	unsigned body_timeout_s; /* a request body must arrive whole within this */
	struct metrics *metrics; /* evident_witness_requests_total, _cosignatures_total; NULL */
};

struct server;

/* Starts serving. trust, signer and committer must outlive the server.
 * Returns 0 and *ret; -ENOMEM; -EIO (libmicrohttpd refused to start; it logged why). */
int server_start(const struct server_config *cfg, const struct witness_trust *trust,
                 const struct vault_signer *signer, struct committer *committer,
                 struct server **ret);
/* Stops accepting connections (open ones keep being served). */
void server_quiesce(struct server *s);
/* Call after committer_stop: waits (up to timeout_ms) until every request the committer handed
 * back has been answered, then stops the HTTP threads, closes every connection and frees s.
 * Takes NULL. */
void server_stop(struct server *s, unsigned timeout_ms);
