/* SPDX-License-Identifier: Apache-2.0 */
/* The auditor's status file: how evident-auditor tells `evidentctl fleet status` what it
 * knows about each origin that the mirrors themselves do not say (alerts, when an origin was
 * last heard from, the mirror lag). evident-auditor rewrites MIRROR/fleet-status.json
 * atomically (a temporary file, fsync, rename) after a change, at most about once a second,
 * and at least every AUDITOR_STATUS_HEARTBEAT_S seconds, so a reader never sees half a file
 * and can tell a stopped auditor from a quiet fleet by "updated".
 *
 * The file is one JSON object:
 *   {"format": "evident-auditor status 1", "auditor": NAME, "vkey": VKEY,
 *    "updated": RFC 3339, "updated_ns": N, "origins": [ORIGIN, ...]}
 * with each ORIGIN
 *   {"origin": STRING or null (messages whose subject names no origin), "token": STRING,
 *    "trusted": BOOL, "stopped": BOOL, "last_seen_ns": N, "last_checkpoint_ns": N,
 *    "lag_ms": N, "lag_p99_ms": N, "received": N, "mirrored": N, "duplicates": N,
 *    "refused": N, "held": N, "alerts": [STRING, ...]}
 * (times in ns since the Unix epoch, 0 for never).
 *
 * This library writes and reads it; it never logs and never exits. Functions return 0 or a
 * negative errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDITOR_STATUS_FILE        "fleet-status.json"
#define AUDITOR_STATUS_FORMAT      "evident-auditor status 1"
#define AUDITOR_STATUS_HEARTBEAT_S 10
#define AUDITOR_STATUS_MAX         (64u << 20) /* bytes a reader accepts */

struct auditor_status_origin {
	char *origin; /* NULL: messages whose subject names no origin */
	char *token;
	bool trusted, stopped;
	uint64_t last_seen_ns, last_checkpoint_ns;
	uint64_t lag_ms, lag_p99_ms;
	uint64_t received, mirrored, duplicates, refused, held;
	char **alerts;
	size_t n_alerts;
};

struct auditor_status {
	char *auditor, *vkey;
	uint64_t updated_ns;
	struct auditor_status_origin *origins;
	size_t n;
};

/* Writes st into dir/AUDITOR_STATUS_FILE atomically. Returns 0 or a negative errno. */
int auditor_status_write(const char *dir, const struct auditor_status *st);

/* Parses the text of a status file. Returns 0 and *ret (auditor_status_free it); -EBADMSG
 * with a message naming what is wrong in err (may be NULL); -ENOMEM. */
int auditor_status_parse(const char *text, size_t len, struct auditor_status *ret, char *err,
                         size_t err_size);

/* Reads and parses dir/AUDITOR_STATUS_FILE. Returns 0; -ENOENT when there is none; -EFBIG;
 * the errors of open/read; those of auditor_status_parse. */
int auditor_status_read(const char *dir, struct auditor_status *ret, char *err, size_t err_size);

/* Frees what parse allocated; takes a zeroed struct. */
void auditor_status_free(struct auditor_status *st);
