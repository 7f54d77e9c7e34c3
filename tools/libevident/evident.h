/* SPDX-License-Identifier: Apache-2.0 */
/* libevident: the C client of evidentd. A production model process hands each decision to
 * evident_record(), which encodes it and queues it without touching the socket; a private I/O
 * thread delivers it to the daemon, reconnects and resends until the daemon acknowledges it as
 * durable. The wire protocol is proto/PROTOCOL.md; pkg-config name `evident`.
 *
 * Conventions for every function here:
 * - int results are >= 0 on success and a negative errno value on failure. The library never
 *   logs, never exits, never aborts and installs no signal handlers (it writes with
 *   MSG_NOSIGNAL, so a closed socket cannot raise SIGPIPE; every descriptor is O_CLOEXEC).
 * - Out-parameters (ret_*) are written only on success.
 * - Pointers passed in are borrowed for the duration of the call unless stated otherwise; the
 *   library copies what it keeps.
 * - There is no process-wide state: any number of clients may live in one process, and one
 *   client may be used by any number of threads at once (except evident_client_free()).
 *   A client does not survive fork(): create clients in the process that uses them.
 *
 * Error codes sent by the daemon map to errno values as follows (the callbacks receive the
 * same values; their message starts with the daemon's code name, e.g. "SCHEMA_MISMATCH: ..."):
 *
 *   UNKNOWN_MODEL          -ENOENT           TOO_LARGE        -EMSGSIZE
 *   BAD_MESSAGE            -EBADMSG          UNAUTHORIZED     -EACCES
 *   SCHEMA_MISMATCH        -EBADMSG          CONFLICT         -EEXIST
 *   OVERLOADED             -EBUSY   (after the retries are spent)
 *   VAULT_FULL             -ENOSPC  (after the retries are spent)
 *   BAD_PROTOCOL_VERSION   -EPROTONOSUPPORT  INTERNAL         -EIO
 *   BAD_FRAME, anything else               -EPROTO
 *
 * and from the library itself: -ETIMEDOUT (a wait ran out), -EAGAIN (queue full),
 * -ECANCELED (the client was freed before the daemon acknowledged), -EINVAL (bad argument),
 * -ENOMEM.
 *
 * OVERLOADED and VAULT_FULL are the only codes retried: the record is kept and sent again
 * (max_retries times). Every other code fails the record for good at once. CONFLICT answers a
 * registration whose ID@VERSION holds another manifest, and a record whose request_id this
 * client_name already stored with different content: the stored record stands, the refused
 * one is kept in the vault as a notice, and the caller gets -EEXIST (on_error, or the return
 * value of evident_record_sync). The library resends a record byte for byte, so only a record
 * the application sends again itself can conflict: give it the same fields, timestamp_unix_ns
 * included (0 means "now", which differs on every call). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Socket used when evident_options.socket_path is NULL: evidentd's default (README,
 * "Running the daemon"). */
#define EVIDENT_DEFAULT_SOCKET             "/run/evidentd/ingest.sock"
/* Defaults applied to zero-valued options. */
#define EVIDENT_DEFAULT_MAX_QUEUE          65536
#define EVIDENT_DEFAULT_MAX_QUEUE_BYTES    (128u << 20)
#define EVIDENT_DEFAULT_CONNECT_TIMEOUT_MS 1000
#define EVIDENT_DEFAULT_MAX_BACKOFF_MS     2000
#define EVIDENT_DEFAULT_MAX_RETRIES        8
#define EVIDENT_DEFAULT_CLOSE_TIMEOUT_MS   5000
/* Largest accepted max_queue (the queue's bookkeeping is preallocated: ~56 bytes a record). */
#define EVIDENT_MAX_QUEUE_LIMIT            (1u << 22)
/* Protocol limits the library checks before queueing (PROTOCOL.md, "Records"). */
#define EVIDENT_REQUEST_ID_MAX             256
#define EVIDENT_CLIENT_NAME_MAX            128
#define EVIDENT_MAP_ENTRIES_MAX            64
#define EVIDENT_SUBJECT_MAX                128

struct evident_client;

/* Callbacks run on the client's I/O thread, one at a time, with no library lock held. They may
 * call evident_record() and evident_stats(), but must not call the functions that wait
 * (evident_record_sync, evident_register, evident_flush, evident_client_free): those would
 * wait for the thread that is running the callback. String arguments are valid only during the
 * call. */
struct evident_options {
	/* The daemon's Unix socket. NULL: EVIDENT_DEFAULT_SOCKET. Copied. */
	const char *socket_path;
	/* Required: 1-128 printable ASCII characters without spaces. With each request_id it is
	 * the daemon's deduplication key, so a restarted process must reuse its name. Copied. */
	const char *client_name;
	/* Records queued or waiting for their acknowledgement, at most. 0: 65536. */
	size_t max_queue;
	/* Encoded bytes of those records, at most (a single record is always accepted into an
	 * empty queue). 0: 128 MiB. Together the two bound the client's memory. */
	size_t max_queue_bytes;
	/* Records sent and not yet acknowledged, at most. 0: max_queue. */
	size_t max_inflight;
	/* Connect plus Hello/HelloOk must finish within this. 0: 1000 ms. */
	unsigned connect_timeout_ms;
	/* Reconnect and OVERLOADED/VAULT_FULL retry delays double from 10 ms up to this.
	 * 0: 2000 ms. */
	unsigned max_backoff_ms;
	/* A record or registration refused with OVERLOADED or VAULT_FULL is retried this many
	 * times before it is reported as failed. 0: 8. */
	unsigned max_retries;
	/* evident_client_free() waits at most this long for queued records to be acknowledged.
	 * 0: 5000 ms. */
	unsigned close_timeout_ms;
	/* Called once for every acknowledged record (also those sent with evident_record_sync),
	 * with the request_id, the vault seq, and whether the daemon had stored it before (a
	 * retry answered with the original seq). May be NULL. */
	void (*on_ack)(void *userdata, const char *request_id, uint64_t seq, bool duplicate);
	/* Called once for every record that failed for good (err as in the table above, e.g.
	 * -EEXIST for CONFLICT; message from the daemon or the library), for a registration that
	 * failed when no evident_register() call was waiting for it (request_id "ID@VERSION"), and
	 * for errors about the connection itself (request_id NULL; the client reconnects). May be
	 * NULL. */
	void (*on_error)(void *userdata, const char *request_id, int err, const char *message);
	void *userdata;
};

/* One decision. All pointers are borrowed for the call: the record is encoded before
 * evident_record() returns. */
struct evident_record {
	const char *model_id;      /* required */
	const char *model_version; /* required */
	/* 1-256 bytes, unique per client_name, and not of the form "ID@VERSION" of a model this
	 * client registers (the daemon acknowledges registrations under that id). NULL: the
	 * library makes one, "<client_name>-<16 hex digits random per client>-<decimal counter
	 * from 0>". */
	const char *request_id;
	/* when the model decided; 0: now (CLOCK_REALTIME). Set it when the application may send
	 * the same record (request_id) again itself: a different timestamp is a different record
	 * to the daemon, refused with CONFLICT. */
	int64_t timestamp_unix_ns;
	const double *features; /* in the manifest's order; NaN = missing */
	size_t n_features;
	const double *scores; /* the model's outputs */
	size_t n_scores;
	const char *decision; /* may be NULL */
	/* Numeric context (at most 64 entries): context_keys[i] = context_values[i]. */
	const char *const *context_keys;
	const double *context_values;
	size_t n_context;
	/* String labels (at most 64 entries): label_keys[i] = label_values[i]. */
	const char *const *label_keys;
	const char *const *label_values;
	size_t n_labels;
	const char *trace_id; /* may be NULL */
	bool has_base_margin;
	double base_margin;
	uint32_t verdict_deadline_ms; /* 0: no verdict wanted (verdicts are not reported yet) */
	/* The data subject the decision is about: a pseudonymous id the application can map back
	 * to a person (never a name or an e-mail address), 1 to EVIDENT_SUBJECT_MAX bytes of
	 * UTF-8 without control characters. The vault indexes it, for access requests and
	 * erasure (proto/PROTOCOL.md, "Retention, holds and erasure"). NULL: none. */
	const char *subject;
};

/* Counters since evident_client_new(); a consistent-enough snapshot (each field is exact, the
 * fields are not read at one instant). */
struct evident_stats {
	uint64_t queued;             /* records accepted by evident_record / _sync */
	uint64_t sent;               /* records written to the socket for the first time */
	uint64_t resent;             /* records written again (after a reconnect or a retry) */
	uint64_t acked;              /* records acknowledged (each once) */
	uint64_t duplicates;         /* of those, acks flagged duplicate by the daemon */
	uint64_t refused_queue_full; /* calls that returned -EAGAIN */
	uint64_t errors;             /* records that failed for good (on_error was called) */
	uint64_t retries;            /* OVERLOADED / VAULT_FULL answers that led to a retry */
	uint64_t reconnects;         /* sessions established after the first one */
	uint64_t pending;            /* now: records queued or waiting for their ack */
};

/* Creates a client and starts its I/O thread, which connects in the background (and keeps
 * reconnecting with exponential backoff): this call never waits for the daemon.
 * Returns 0 and sets *ret, or -EINVAL (o or ret NULL, bad client_name, socket path too long,
 * max_queue over EVIDENT_MAX_QUEUE_LIMIT, max_inflight over max_queue), -ENOMEM, or the
 * negative errno of eventfd()/pthread_create(). The caller owns *ret and frees it with
 * evident_client_free(). */
int evident_client_new(const struct evident_options *o, struct evident_client **ret);

/* Waits up to close_timeout_ms for every queued record to be acknowledged, then stops the I/O
 * thread, closes the socket and frees the client. Records still unacknowledged are reported to
 * on_error with -ECANCELED (and counted in errors): nothing is dropped silently. No other call
 * on c may be in progress or follow. Takes NULL. */
void evident_client_free(struct evident_client *c);

/* Registers a model version and uploads its artifact (and reference data), then waits for the
 * daemon's Ack: once this returns 0, records for the model are accepted.
 * manifest_json: a ModelManifest as JSON, field names as in proto/evident.proto (snake_case;
 * lowerCamelCase is accepted too), enums by name (any case) or number, 64-bit integers as
 * numbers or decimal strings; unknown fields are refused. artifact_sha256 / artifact_size (and the
 * reference_data_ ones) are computed from the files when absent and must match them when
 * present. artifact_path is required; reference_path may be NULL unless the manifest names
 * reference data. The files are opened and hashed before this call sends anything; their
 * descriptors stay open while the client lives so that a registration redone after a
 * reconnect can upload them again.
 * Registering the same ID@VERSION with the same manifest and files again on one client
 * returns the first seq at once. After every reconnect the client registers all its models
 * again, one at a time (the daemon answers duplicate Acks without an upload), before it sends
 * or resends any record.
 * timeout_ms < 0 waits without limit.
 * Returns 0 and sets *ret_seq (may be NULL) to the seq of the model entry; -EINVAL (bad
 * arguments or manifest: evident_manifest_check() says why), -EBADMSG (sizes or hashes in the
 * manifest do not match the files), -EALREADY (this ID@VERSION is being registered by another
 * call), -ETIMEDOUT (the registration carries on in the background; a later failure goes to
 * on_error), the negative errno of open()/read(), or a daemon error mapped as above (CONFLICT
 * -EEXIST, SCHEMA_MISMATCH -EBADMSG, ...). */
int evident_register(struct evident_client *c, const char *manifest_json, const char *artifact_path,
                     const char *reference_path, int timeout_ms, uint64_t *ret_seq);

/* Checks that manifest_json parses as a ModelManifest (without looking at any file). Returns 0,
 * -EINVAL with a message naming the line or field in errbuf (NUL-terminated, truncated to
 * errbuf_len; errbuf may be NULL), or -ENOMEM. */
int evident_manifest_check(const char *manifest_json, char *errbuf, size_t errbuf_len);

/* Encodes r and queues it for the I/O thread; never waits for I/O (the caller's cost is the
 * encoding plus one uncontended mutex). The outcome arrives later through on_ack or on_error.
 * Returns 0; -EAGAIN when max_queue records (or max_queue_bytes) are already queued or
 * unacknowledged (counted in refused_queue_full; retry later or call evident_flush()); -EINVAL (c
 * or r NULL, model id or version missing, request_id empty or over 256 bytes, more than 64 context
 * or label entries, a NULL key or value, a string that is not valid UTF-8: PROTOCOL.md, Strings;
 * a subject that is empty, over EVIDENT_SUBJECT_MAX bytes or holds a control character);
 * -EMSGSIZE (the encoded record exceeds the daemon's max_frame); -ENOMEM. */
int evident_record(struct evident_client *c, const struct evident_record *r);

/* As evident_record(), then waits for the outcome. timeout_ms < 0 waits without limit.
 * Returns 0 and sets *ret_seq (may be NULL); the errors of evident_record(); a daemon error
 * mapped as above; or -ETIMEDOUT (the record stays queued and its outcome still goes to the
 * callbacks). */
int evident_record_sync(struct evident_client *c, const struct evident_record *r, int timeout_ms,
                        uint64_t *ret_seq);

/* Waits until every record queued before this call has been acknowledged or has failed for
 * good (failures go to on_error). timeout_ms < 0 waits without limit.
 * Returns 0, -ETIMEDOUT, or -EINVAL (c NULL). */
int evident_flush(struct evident_client *c, int timeout_ms);

/* Fills *ret with the client's counters. Never fails; c and ret must not be NULL. */
void evident_stats(struct evident_client *c, struct evident_stats *ret);

#ifdef __cplusplus
}
#endif
