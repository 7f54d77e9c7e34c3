/* SPDX-License-Identifier: Apache-2.0 */
/* evident-auditor's engine (auditor.c): the JetStream consumer, the mirrors, the checks, the
 * alerts and the cosignatures. main.c parses the options, loads the key and runs it on a
 * thread of its own; signals reach it through the two flags. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vault.h"

struct metrics;

struct auditor_config {
	const char *nats_url;
	const char *creds;      /* --creds FILE: a NATS credentials file (JWT + NKey seed) */
	const char *user;       /* --user USER, password from $NATS_PASSWORD */
	const char *token_file; /* --token-file FILE */
	const char *tls_ca, *tls_cert, *tls_key;
	const char *stream;
	const char *prefix;
	const char *name; /* the key name, cosig subjects, the durable consumer's name */
	const char *mirror_dir;
	const char *state_dir;
	const char *trust_path;
	uint64_t silent_after_ns;
	uint64_t gap_after_ns;
	unsigned batch;       /* messages fetched at once */
	unsigned hold_max;    /* entries held per origin ahead of a missing one */
	uint64_t ack_wait_ns; /* the consumer's AckWait */
	/* --metrics: the registry the auditor creates its evident_auditor_* series in (main.c
	 * serves it); NULL: no metrics. */
	struct metrics *metrics;
};

struct auditor_flags {
	atomic_bool stop;
	atomic_bool reload;
};

/* Runs until flags->stop. Returns 0 after a clean stop, 1 after a fatal error (logged). */
int auditor_run(const struct auditor_config *cfg, const struct vault_signer *signer,
                struct auditor_flags *flags);
