/* SPDX-License-Identifier: Apache-2.0 */
/* evidentd.conf (INI) parsed with libinih into struct config. Errors name the file, line and
 * column. daemon/evidentd.conf.example documents every section and key. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vault.h"

#define CONFIG_DEFAULT_PATH "/etc/evidentd/evidentd.conf"

struct trig_expr;

/* The attribution and what-if methods a trigger may ask for (evidentctl explain's names). */
#define CONFIG_METHODS                                                               \
	"treeshap, treeshap-interventional, linear, kernelshap, permutation, lime, " \
	"counterfactual, flip, adversarial"

/* A trigger's review_below when none is given (and a guard's incidents'). */
#define CONFIG_REVIEW_BELOW_DEFAULT 0.8

/* [trigger NAME]: which records open an incident and what the audit runs. */
struct config_trigger {
	char *name;
	char *model;            /* model id, or "ID@VERSION"; NULL: every model */
	char *when;             /* the expression as written */
	struct trig_expr *expr; /* compiled (trigger.h) */
	char **methods;         /* from CONFIG_METHODS; default: none given -> "treeshap, flip" */
	size_t n_methods;
	double review_below;    /* route to review below this confidence (0..1; default 0.8) */
	double rate_per_second; /* incidents per second at most (default 10/s) */
	uint32_t burst;         /* bucket size (default 20) */
};

/* [guard NAME]: a constraint on decisions, checked on every record with the triggers. A record
 * whose model the guard applies to and for which `when` is true gets a Verdict (action, the
 * guard's name and reason) together with its Ack; with audit = yes an incident is opened too.
 * Guards and triggers share one name space. */
enum config_guard_action {
	CONFIG_GUARD_REVIEW = 1, /* Verdict REVIEW: a human should look at it */
	CONFIG_GUARD_HOLD = 2,   /* Verdict HOLD: the decision waits for a human's Review */
};

struct config_guard {
	char *name;
	char *model;                     /* model id, or "ID@VERSION"; NULL: every model */
	char *when;                      /* the expression as written (the trigger language) */
	struct trig_expr *expr;          /* compiled (trigger.h) */
	enum config_guard_action action; /* required */
	char *reason;                    /* required: 1-1024 bytes of UTF-8, no control chars */
	bool audit; /* also open an incident (audited with the triggers' default methods) */
};

/* [model ID] (or [model ID@VERSION]): how the daemon evaluates a model it cannot load itself
 * (framework "oracle"), for its audits. */
struct config_model {
	char *id;                   /* "ID" (every version) or "ID@VERSION" */
	char *oracle;               /* command, run as /bin/sh -c (proto/PROTOCOL.md) */
	uint32_t background_size;   /* k-means summary for the sampled methods (default 100) */
	uint32_t oracle_timeout_ms; /* per request (default 10000) */
	uint32_t oracle_procs;      /* processes in the pool (default 2) */
};

/* [retention]: how long the payloads of each entry type are kept before the daemon prunes them
 * (the leaves, the tree and every proof stay). Durations are seconds; 0 means not set (in
 * [retention]: kept for ever) and CONFIG_KEEP_FOREVER says `forever`. Only these types may be
 * given; model, artifact, lifecycle, config, prune, hold, release and erasure entries are kept
 * for the life of the vault. */
#define CONFIG_RETENTION_TYPES "record, incident, audit, review, verdict, notice"
#define CONFIG_KEEP_FOREVER    UINT64_MAX
/* Record durations below this (180 days: the six months of the EU AI Act, Art. 19 and 26(6))
 * are refused unless [retention] says allow_short = yes. */
#define CONFIG_RECORD_MIN_S    (180ull * 86400)

/* [retention MODEL_ID]: one model's records and audits kept for another duration. */
struct config_retention_model {
	char *model;       /* the model id (every version) */
	uint64_t record_s; /* 0: [retention]'s */
	uint64_t audit_s;  /* 0: [retention]'s */
};

/* [witness NAME]: a C2SP tlog-witness the daemon asks to cosign its checkpoints. */
struct config_witness {
	char *name;              /* the section's NAME (logs and notices) */
	char *url;               /* submission prefix: POST url + "/add-checkpoint" */
	char *vkey;              /* the witness's verifier key as written (text) */
	struct vault_pubkey key; /* parsed: type VAULT_KEY_COSIGNATURE_V1 */
	uint32_t timeout_ms;     /* per request (default 10000) */
	bool nats; /* nats = yes: its cosignatures come back through [forward]'s JetStream (no url)
	            */
};

/* [forward]: every committed entry, blob and signed checkpoint published to NATS JetStream
 * (forward.h). Strings NULL when not given; nats_url NULL: forwarding off. */
#define CONFIG_FORWARD_STREAM "EVIDENT"
#define CONFIG_FORWARD_PREFIX "evident"
struct config_forward {
	char *nats_url;       /* nats:// or tls:// URL(s), comma-separated */
	char *stream;         /* JetStream stream name (CONFIG_FORWARD_STREAM) */
	char *subject_prefix; /* subjects P.<origin token>.entry, ... (CONFIG_FORWARD_PREFIX) */
	char *creds_file;     /* NATS credentials file (user JWT + nkey seed) */
	char *user, *password;
	char *token;
	char *nkey, *nkey_seed_file; /* the user's public nkey and its seed file */
	char *tls_ca, *tls_cert, *tls_key, *tls_hostname;
	uint32_t max_pending;        /* messages published and not yet acknowledged (1024) */
	uint32_t stop_wait_ms;       /* a clean stop waits this long for the last acks (10000) */
	uint64_t max_age_s;          /* stream created with it: 0 = unlimited */
	uint64_t max_bytes;          /* stream created with it: 0 = unlimited */
	uint32_t replicas;           /* stream created with it (1) */
	uint64_t duplicate_window_s; /* stream created with it (600) */
};

struct config {
	char *path; /* NULL when running on defaults */
	char *text; /* the file's bytes (recorded in the vault) */
	size_t text_len;
	uint8_t sha256[32]; /* of text; zeros without a file */

	/* [daemon] */
	char *vault_dir;
	char *socket_path;
	mode_t socket_mode;
	bool has_socket_gid;
	gid_t socket_gid;
	uid_t *allow_uids; /* empty lists: everyone who can open the socket */
	size_t n_allow_uids;
	gid_t *allow_gids;
	size_t n_allow_gids;
	bool allow_anyone; /* empty lists on a world-writable socket are meant */
	/* Peers whose Hold, Release and Erase are obeyed (SO_PEERCRED uid). Without the key:
	 * root and the daemon's own uid (has_admin_uids false); an empty value: nobody. */
	uid_t *admin_uids;
	size_t n_admin_uids;
	bool has_admin_uids;
	uint32_t max_frame;
	uint64_t max_unacked; /* per connection (records waiting for their acks) */
	uint64_t max_queue;   /* all connections: records, chunks and partial frames */
	uint32_t max_connections;
	uint32_t max_connections_per_uid;
	uint32_t hello_timeout_s;         /* Hello within this after connecting */
	uint32_t idle_timeout_s;          /* 0: never; a connection with nothing pending */
	uint32_t frame_timeout_s;         /* a frame's bytes, once started, within this */
	uint32_t registration_timeout_s;  /* the next artifact chunk within this */
	uint32_t commit_window_us;        /* extra wait for more records before a commit */
	uint32_t max_batch;               /* entries per commit */
	uint32_t checkpoint_interval_s;   /* sign at least this often while entries are unsigned */
	uint32_t checkpoint_max_unsigned; /* sign once the unsigned tail holds this many entries */
	uint32_t checkpoint_max_unsigned_ms; /* ... or once its first entry is this old */
	uint64_t disk_reserve; /* free bytes kept on the vault's filesystem (VAULT_FULL below) */
	char *signing_key;
	char *origin;
	uint64_t map_size;
	uint64_t map_max;
	uint32_t workers;
	uint32_t job_queue;
	int log_level;

	struct config_trigger *triggers;
	size_t n_triggers;
	struct config_guard *guards;
	size_t n_guards;
	struct config_model *models;
	size_t n_models;
	struct config_witness *witnesses;
	size_t n_witnesses;
	uint32_t witness_quorum;       /* cosignatures that make a checkpoint witnessed */
	uint32_t witness_stop_wait_ms; /* a clean stop waits this long for the final quorum */
	char *tiles_dir;      /* [daemon] tiles_dir: kept current as C2SP tlog-tiles; NULL: off */
	char *metrics_listen; /* [metrics] listen: "ADDR:PORT" serving GET /metrics; NULL: off */
	struct config_forward forward; /* [forward] */

	/* [retention] */
	uint64_t keep_s[_VAULT_ENTRY_TYPE_MAX]; /* by vault entry type; see CONFIG_KEEP_FOREVER */
	bool retention_allow_short;             /* record durations under CONFIG_RECORD_MIN_S */
	uint32_t retention_interval_s;          /* a retention cycle at most this often (60) */
	uint32_t retention_batch;               /* prunes per writer job (1000) */
	struct config_retention_model *retention_models;
	size_t n_retention_models;
};

/* A socket of this mode lets every local user connect (o+w), and nothing else restricts who
 * may write evidence: no allow_uids, no allow_gids, no allow_anyone = yes. config_load refuses
 * such a file; the daemon checks a socket systemd passes it the same way. */
bool config_socket_exposed(const struct config *c, mode_t mode);
#define CONFIG_EXPOSED_MSG                                                                      \
	"the socket is world-writable (o+w) and allow_uids and allow_gids are empty, so every " \
	"local user could write evidence: set allow_uids or allow_gids, use a mode without "    \
	"o+w such as 0660, or say allow_anyone = yes"

/* The [model] section for id@version: "ID@VERSION" first, then "ID"; NULL when none. */
const struct config_model *config_model_find(const struct config *c, const char *id,
                                             const char *version);

/* How long payloads of entry type `type` of model `model` (may be NULL) are kept, in seconds:
 * the [retention MODEL] override for records and audits, else [retention]'s duration;
 * CONFIG_KEEP_FOREVER when none is set or the type is never pruned. *ret_override (may be
 * NULL) says whether [retention MODEL] decided. */
uint64_t config_keep_s(const struct config *c, int type, const char *model, bool *ret_override);
/* Writes a duration as config files write it ("400d", "5y", "12h", "90s", "forever") into buf.
 * Returns buf. */
char *config_duration_format(uint64_t s, char *buf, size_t size);
/* True when peer uid may send Hold, Release and Erase (admin_uids; without the key, root and
 * own_uid, the daemon's). */
bool config_is_admin(const struct config *c, uid_t uid, uid_t own_uid);

/* The [guard NAME] section of c, or NULL. */
const struct config_guard *config_guard_find(const struct config *c, const char *name);
/* Does guard g apply to model version "ID@VERSION" key? (model: an id matches every version;
 * absent: every model.) */
bool config_guard_applies(const struct config_guard *g, const char *key);
/* Checks that every feature g's expression names (feature.NAME) is one of the model's:
 * features[0..n) are the feature names of the model version `key` ("ID@VERSION"). Returns
 * 0, or -EINVAL with err holding "FILE:LINE:COLUMN: when: feature.X is not a feature of
 * KEY (its features: a, b, c)", the column pointing at the name inside the expression (FILE
 * is c->path). For the daemon (at load, at reload and when a model registers) and for
 * evidentctl backtest. */
int config_guard_check_features(const struct config *c, const struct config_guard *g,
                                const char *key, const char *const *features, size_t n, char *err,
                                size_t err_size);
/* The action's name as a config file writes it: "review" or "hold". */
const char *config_guard_action_name(enum config_guard_action a);

/* Defaults for everything (vault and socket from $STATE_DIRECTORY / $RUNTIME_DIRECTORY or the
 * /var/lib, /run fallbacks). Returns 0 or -ENOMEM. */
int config_defaults(struct config *ret);

/* Loads path over the defaults. When path is NULL the default path is read if it exists.
 * Returns 0; -ENOENT (an explicitly given file is missing), -EINVAL (a bad line: err holds
 * "file:line:column: message"), -errno when the file cannot be read, -ENOMEM. */
int config_load(const char *path, struct config *ret, char *err, size_t err_size);

/* As config_load, on text[0..len) (copied) named `name` in errors and in ret->path: a config
 * entry's text read back from the vault, for instance. */
int config_load_text(const char *name, const char *text, size_t len, struct config *ret, char *err,
                     size_t err_size);

void config_deinit(struct config *c);
