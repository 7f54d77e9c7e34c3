/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl internals shared by the verbs: the verb table, option parsing, errors and exit
 * statuses, vault access, time and number formats, JSON/CSV output, progress, and payload
 * decoding (decode.c). */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "entry.pb-c.h"
#include "vault.h"

/* Exit statuses (README "evidentctl", and every verb's --help). */
enum ctl_exit {
	CTL_EXIT_OK = 0,         /* success */
	CTL_EXIT_PROBLEM = 1,    /* the check found a problem (tampering, invalid proof) */
	CTL_EXIT_USAGE = 2,      /* usage error */
	CTL_EXIT_UNREADABLE = 3, /* the vault or a file could not be read */
};

#define CTL_PROGRAM       "evidentctl"
#define CTL_DEFAULT_VAULT "/var/lib/evidentd"

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* json_decrefp comes with jansson (>= 2.9). */

/* ------------------------------------------------------------------ verbs and options */

/* The global options, valid before and after the verb. */
struct ctl {
	const char *vault_dir; /* --vault, else $EVIDENT_VAULT, $STATE_DIRECTORY, default */
	bool json;
	bool help;
	bool version;
};

/* getopt_long values of long-only options: globals here, each verb's from CTL_OPT_VERB. */
enum {
	CTL_OPT_VAULT = 0x100,
	CTL_OPT_JSON,
	CTL_OPT_VERSION,
	CTL_OPT_VERB = 0x200,
};

/* Ends every verb's option table: the global options and the terminator. */
/* clang-format off */
#define CTL_GLOBAL_OPTIONS                                     \
	{"vault", required_argument, NULL, CTL_OPT_VAULT},     \
	{"json", no_argument, NULL, CTL_OPT_JSON},             \
	{"help", no_argument, NULL, 'h'},                      \
	{"version", no_argument, NULL, CTL_OPT_VERSION},       \
	{NULL, 0, NULL, 0}
/* clang-format on */

struct ctl_verb {
	const char *name;
	const char *summary;  /* one line for NAME and `evidentctl --help` */
	const char *synopsis; /* after "evidentctl [GLOBAL OPTIONS] " */
	/* Man-page sections, plain lines; the help printer indents them. */
	const char *description;
	const char *options; /* the verb's own options; the global ones are appended */
	const char *exit_status;
	const char *examples;
	const char *short_options;         /* getopt short options ("h" is added), may be NULL */
	const struct option *long_options; /* ends with CTL_GLOBAL_OPTIONS */
	/* Handles one of the verb's options. Returns 0 or an exit status (after a message). */
	int (*option)(struct ctl *c, int opt, const char *arg);
	int min_args, max_args; /* positional arguments */
	const char *args_name;  /* their name in messages, e.g. "SEQ" */
	/* Runs the verb with its positional arguments. Returns the exit status. */
	int (*run)(const struct ctl *c, int argc, char **argv);
};

extern const struct ctl_verb ctl_verb_status, ctl_verb_verify, ctl_verb_log, ctl_verb_tail,
    ctl_verb_show, ctl_verb_export, ctl_verb_checkpoint, ctl_verb_prove, ctl_verb_verify_proof,
    ctl_verb_consistency, ctl_verb_explain, ctl_verb_backtest, ctl_verb_incidents,
    ctl_verb_incident, ctl_verb_models, ctl_verb_lineage, ctl_verb_report, ctl_verb_replay,
    ctl_verb_subject, ctl_verb_holds, ctl_verb_guards, ctl_verb_fleet;

/* ------------------------------------------------------------------ errors */

/* Prints "evidentctl: MESSAGE" on stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ctl_error and returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "evidentctl: PATH: PROBLEM" for a negative errno and returns CTL_EXIT_UNREADABLE. */
int ctl_file_error(const char *path, int err);
/* The message ctl_file_error uses for err when opening a vault or a file. Static string. */
const char *ctl_strerror(int err);

/* ------------------------------------------------------------------ arguments */

/* Parses a decimal unsigned integer for option opt (named in the message). Returns 0, or
 * prints a usage error and returns CTL_EXIT_USAGE. */
int ctl_parse_u64(const char *opt, const char *s, uint64_t *ret);
/* Parses a time (see ctl_time_parse) for option opt. Returns 0 or CTL_EXIT_USAGE. */
int ctl_parse_time(const char *opt, const char *s, uint64_t *ret_ns);

/* --model ID[@VER], pointing into the argument: id[0..id_len) and version (NULL: any). */
struct ctl_model_filter {
	const char *id; /* NULL: no filter */
	size_t id_len;
	const char *version;
};
/* Returns 0 or prints a usage error and returns CTL_EXIT_USAGE. */
int ctl_model_filter_parse(const char *s, struct ctl_model_filter *ret);
/* Whether (id, version) passes the filter (always true without one). NULL strings are "". */
bool ctl_model_filter_match(const struct ctl_model_filter *f, const char *id, const char *version);

/* ------------------------------------------------------------------ time */

#define CTL_TIME_MAX 40
/* RFC 3339 UTC with milliseconds ("2026-11-26T23:05:39.123Z") into buf. Returns buf. */
char *ctl_time_format(uint64_t ns, char buf[CTL_TIME_MAX]);
/* Parses RFC 3339 ("2026-11-26T10:00:00Z", fraction optional, Z or ±hh:mm; a bare date is
 * midnight UTC), Unix seconds ("@1700000000"), or a time relative to now_ns ("-1h", "-30m",
 * "-2d", units s m h d w), or "now". Returns 0 or -EINVAL. */
int ctl_time_parse(const char *s, uint64_t now_ns, uint64_t *ret_ns);
uint64_t ctl_now_ns(void);
/* Seconds on the monotonic clock. */
double ctl_monotonic(void);

/* ------------------------------------------------------------------ formats */

#define CTL_HEX_MAX (2 * VAULT_HASH_LEN + 1)
/* Lowercase hex of len bytes into out (2 * len + 1 bytes). Returns out. */
char *ctl_hex(const uint8_t *data, size_t len, char *out);
/* Standard padded base64 into a malloc'd string; NULL on ENOMEM. */
char *ctl_base64(const uint8_t *data, size_t len);
/* v in printf's "%g" layout with the fewest digits (15, 16 or 17; 17 when 16 would need more
 * than 2^53 to check) that read back as v ("nan", "inf" for those); tools/ctl_json.c.
 * Returns buf. */
#define CTL_DOUBLE_MAX 32
char *ctl_double_format(double v, char buf[CTL_DOUBLE_MAX]);
/* "1.5 MiB" style sizes. Returns buf. */
char *ctl_bytes_format(uint64_t n, char buf[32]);

/* JSON values that never fail on odd input: NaN/inf become null, invalid UTF-8 is replaced
 * by U+FFFD, NULL strings become null, u64 above INT64_MAX become strings. */
json_t *ctl_json_double(double v);
/* An array of n numbers (each as ctl_json_double). New reference or NULL. */
json_t *ctl_json_doubles(const double *v, size_t n);
json_t *ctl_json_string(const char *s);
json_t *ctl_json_stringn(const char *s, size_t len);
json_t *ctl_json_u64(uint64_t v);
json_t *ctl_json_hex(const uint8_t *data, size_t len);
json_t *ctl_json_time(uint64_t ns);
/* Sets key to value, stealing value (ignores NULL values). */
void ctl_json_set(json_t *obj, const char *key, json_t *value);
/* Prints one JSON value: compact on one line for JSON Lines (lines; reals as
 * ctl_double_format writes them, with ".0" added to an integral one), else indented by 2
 * (jansson's json_dumpf). Returns 0 or -EIO. */
int ctl_json_print(FILE *f, const json_t *v, bool lines);

/* One RFC 4180 field (quoted when it holds a comma, quote, CR or LF). */
void ctl_csv_field(FILE *f, const char *s);

/* ------------------------------------------------------------------ files */

/* Reads a whole file (path "-": stdin) into a malloc'd NUL-terminated buffer. Returns 0, or a
 * negative errno (-EFBIG when it is larger than max bytes). */
int ctl_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Reads the verifier key of a key option: arg is the key's own text (the C2SP line
 * NAME+HEXID+BASE64, or PEM) when it parses as one, else the path of a file holding it ("-":
 * standard input). default_name names a PEM key (see vault_pubkey_parse). type is the kind of
 * key the option takes: VAULT_KEY_ED25519 (a log's) or VAULT_KEY_COSIGNATURE_V1 (a witness's).
 * Returns 0 or prints why (naming arg) and returns CTL_EXIT_UNREADABLE. */
int ctl_load_key(const char *arg, const char *default_name, uint8_t type, struct vault_pubkey *ret);

/* Output to stdout or, atomically, to a file (a temporary file renamed on commit). */
struct ctl_out {
	FILE *f;
	char *path; /* NULL: stdout */
	char *tmp;
};
/* Returns 0 or prints why and returns CTL_EXIT_UNREADABLE. */
int ctl_out_open(struct ctl_out *o, const char *path);
/* Flushes, syncs and renames into place. Returns 0 or prints why and returns
 * CTL_EXIT_UNREADABLE (the temporary file is removed). */
int ctl_out_commit(struct ctl_out *o);
/* Drops an uncommitted file. Takes a closed or committed output too. */
void ctl_out_abort(struct ctl_out *o);

/* ------------------------------------------------------------------ witnesses */

/* A cosignature line of a signed note as written (c2sp.org/tlog-cosignature/v1: key id,
 * timestamp and Ed25519 signature, 76 bytes), not verified. */
struct ctl_cosig {
	char name[VAULT_ORIGIN_MAX + 1];
	uint8_t key_id[4];
	uint64_t timestamp; /* POSIX seconds */
};
/* Lists the cosignature lines of a signed note in their order (other signature lines, the
 * log's own among them, are skipped), up to max into ret (may be NULL with max 0). Returns
 * how many there are, or -EBADMSG for a malformed note. */
int ctl_cosigs_list(const char *note, size_t len, struct ctl_cosig *ret, size_t max);
/* The cosignature lines as a JSON array of {name, key_id (hex), timestamp (RFC 3339 UTC),
 * timestamp_unix}: what a note carries, unverified. New reference or NULL. */
json_t *ctl_cosigs_json(const char *note, size_t len);
/* "2026-12-06T23:28:24Z" for a cosignature's timestamp (POSIX seconds) into buf. Returns buf. */
char *ctl_cosig_time(uint64_t timestamp, char buf[CTL_TIME_MAX]);

#define CTL_WITNESS_MAX 32 /* --witness-key options a verb takes */

/* The witnesses a verifier trusts (--witness-key, repeatable) and how many of them must have
 * cosigned a checkpoint (--quorum K; default: all of them). */
struct ctl_witnesses {
	const char *args[CTL_WITNESS_MAX];
	size_t n;
	uint64_t quorum;
	bool quorum_given;
	struct vault_pubkey keys[CTL_WITNESS_MAX]; /* filled by ctl_witnesses_load */
};
/* Option handlers for --witness-key and --quorum. Return 0 or CTL_EXIT_USAGE (printed). */
int ctl_witnesses_add(struct ctl_witnesses *w, const char *verb, const char *arg);
int ctl_witnesses_set_quorum(struct ctl_witnesses *w, const char *verb, const char *arg);
/* Checks the options (--quorum needs --witness-key and at most as many as given; a key may
 * not be given twice, else one witness would count twice) and loads the keys (ctl_load_key:
 * text or file, witness keys only). Returns 0 or an exit status (printed). */
int ctl_witnesses_load(struct ctl_witnesses *w, const char *verb);

/* What a checkpoint note's cosignatures are worth to the witnesses of a ctl_witnesses. Not to
 * be copied once filled: why[] points into why_buf. */
struct ctl_witness_check {
	size_t cosigned; /* witnesses with a valid cosignature */
	bool ok;         /* cosigned >= quorum */
	struct vault_cosig_check found[CTL_WITNESS_MAX];
	/* Why witness i's cosignature does not count ("no cosignature", ...); NULL when valid. */
	const char *why[CTL_WITNESS_MAX];
	char why_buf[CTL_WITNESS_MAX][80];
};
/* Verifies note's cosignatures by the witnesses (vault_cosignatures_verify) at the current
 * time. Returns 0, -EBADMSG for a malformed note, -ENOMEM. */
int ctl_witnesses_check(const struct ctl_witnesses *w, const char *note, size_t len,
                        struct ctl_witness_check *ret);
/* One line: "2 of 3 witnesses cosigned (quorum 2): NAME (key HEXID) at TIME, ...; NAME (key
 * HEXID): no cosignature" into buf. */
void ctl_witnesses_text(const struct ctl_witnesses *w, const struct ctl_witness_check *c, char *buf,
                        size_t size);
/* {quorum, cosigned, ok, witnesses: [{name, key_id, cosigned, timestamp, timestamp_unix,
 * problem}]}. New reference or NULL. */
json_t *ctl_witnesses_json(const struct ctl_witnesses *w, const struct ctl_witness_check *c);

/* ------------------------------------------------------------------ progress */

/* A progress bar on stderr, drawn only when enabled (stderr a terminal), at most ~10 times a
 * second: "[#####.....] 45% 1234567/2700000 entries". */
struct ctl_progress {
	bool enabled;
	double last;
	const char *unit;
};
void ctl_progress_init(struct ctl_progress *p, bool want, const char *unit);
void ctl_progress_update(struct ctl_progress *p, uint64_t done, uint64_t total);
/* Clears the bar. */
void ctl_progress_end(struct ctl_progress *p);

/* ------------------------------------------------------------------ the vault */

struct ctl_vault {
	struct vault *v;
	struct vault_reader *r; /* an open snapshot */
	struct vault_info info;
	const char *dir;
};
/* Opens c->vault_dir read-only (never VAULT_OPEN_WRITE) with a reader and its info. Returns 0
 * or prints why and returns CTL_EXIT_UNREADABLE. */
int ctl_vault_open(const struct ctl *c, struct ctl_vault *ret);
void ctl_vault_close(struct ctl_vault *cv);
/* Reports a failed read of the vault ("evidentctl: DIR: WHAT: problem"). Returns
 * CTL_EXIT_UNREADABLE. */
int ctl_vault_error(const struct ctl_vault *cv, const char *what, int err);
/* The latest stored checkpoint (with its cosignatures, *ret_note malloc'd) after checking that
 * the vault's own key signed it: a verb never hands out or publishes one it does not vouch
 * for. none_yet is appended to the message when there is no checkpoint (may be ""). Returns 0,
 * or an exit status after printing why. */
int ctl_latest_signed_checkpoint(const struct ctl_vault *cv, const char *none_yet, char **ret_note,
                                 struct vault_checkpoint *ret_cp);

/* Calls fn(userdata, entry) for each entry with from <= seq < to, in order. The reader is
 * renewed every CTL_SCAN_RENEW entries so that no snapshot pins the file for long: fn must
 * copy what it keeps. fn returns 0 to go on, 1 to stop, or a negative errno.
 * Returns 0 or the first negative errno (of fn or of the vault). */
#define CTL_SCAN_RENEW 16384
typedef int (*ctl_scan_fn)(void *userdata, const struct vault_entry *e);
int ctl_scan(struct vault_reader *r, uint64_t from, uint64_t to, ctl_scan_fn fn, void *userdata);
/* Checks a data subject id (Record.subject) given to verb: 1 to VAULT_SUBJECT_MAX bytes.
 * Returns 0, or prints a usage error and returns CTL_EXIT_USAGE. (cmd_subject.c) */
int ctl_subject_check(const char *verb, const char *subject);
/* Prints "no entry SEQ (the vault has N entries)" and returns CTL_EXIT_USAGE. */
int ctl_no_entry(uint64_t seq, uint64_t size);

/* ------------------------------------------------------------------ payloads (decode.c) */

/* A payload unpacked according to its entry type. */
struct ctl_payload {
	uint16_t type;
	int status; /* 0; -ENODATA pruned; -EBADMSG does not decode; -EOPNOTSUPP opaque type */
	ProtobufCMessage *msg;          /* the entry.proto message of a decoded payload */
	struct vault_prune_info *prune; /* a decoded prune payload */
	const uint8_t *raw;             /* the bytes (borrowed; opaque types only) */
	size_t raw_len;
};
/* Unpacks e's payload. Never fails: problems are in ret->status. Deinit always. */
void ctl_payload_decode(const struct vault_entry *e, struct ctl_payload *ret);
void ctl_payload_deinit(struct ctl_payload *p);
/* The typed message, or NULL when p is not a decoded payload of that type. */
const Evident__Entry__V1__RecordEntry *ctl_payload_record(const struct ctl_payload *p);
const Evident__Entry__V1__ModelEntry *ctl_payload_model(const struct ctl_payload *p);
/* hold and release entries */
const Evident__Entry__V1__HoldEntry *ctl_payload_hold(const struct ctl_payload *p);
const Evident__Entry__V1__ErasureEntry *ctl_payload_erasure(const struct ctl_payload *p);
/* Calls fn(userdata, e, p) for each entry e of type with from <= seq < to, found through the
 * type index, its payload decoded into p (deinitialised after fn: fn copies what it keeps).
 * fn returns 0 to go on, 1 to stop, or a negative errno. Returns 0 or the first negative errno
 * (of fn or of the vault). (decode.c) */
typedef int (*ctl_type_fn)(void *userdata, const struct vault_entry *e,
                           const struct ctl_payload *p);
int ctl_scan_type(struct vault_reader *r, int type, uint64_t from, uint64_t to, ctl_type_fn fn,
                  void *userdata);
/* The audit or verdict entry (type VAULT_ENTRY_AUDIT / VAULT_ENTRY_VERDICT) of incident id:
 * the first after it naming it. Returns 0 with *ret_seq and *p decoded (deinit it), -ENOENT,
 * or a vault error. (cmd_report.c) */
int ctl_incident_entry(struct ctl_vault *cv, uint64_t id, int type, uint64_t *ret_seq,
                       struct ctl_payload *p);
/* How many entries of type after incident id have lost their payload: when
 * ctl_incident_entry finds none naming the incident, its own may be among them (a pruned
 * payload no longer says which incident it was about). Returns 0 and *ret_n, or a vault
 * error. (cmd_report.c) */
int ctl_incident_pruned_after(struct ctl_vault *cv, uint64_t id, int type, uint64_t *ret_n);

/* An incident's state: the one definition `status`, `incidents`, `incident` and `report`
 * share. Rate-limited when its entry says so (the firing was counted, never audited);
 * otherwise reviewed once a review entry names it; otherwise open (audited, or waiting for
 * its audit, and no human has reviewed it yet). (cmd_incidents.c) */
enum ctl_incident_state {
	CTL_INCIDENT_OPEN,
	CTL_INCIDENT_REVIEWED,
	CTL_INCIDENT_RATE_LIMITED,
};
enum ctl_incident_state ctl_incident_state(const Evident__Entry__V1__IncidentEntry *ie,
                                           bool reviewed);
/* "open", "reviewed" or "rate-limited" (the words of `incidents --status`). */
const char *ctl_incident_state_name(enum ctl_incident_state s);
/* The incident ids that review entries among the entries [0, to) name, for
 * ctl_incident_state. */
struct ctl_reviewed {
	uint64_t *ids; /* sorted */
	size_t n, cap;
};
/* Fills *ret (zero it first; free with ctl_reviewed_free either way). Returns 0 or a negative
 * errno of the vault. */
int ctl_reviewed_load(struct vault_reader *r, uint64_t to, struct ctl_reviewed *ret);
bool ctl_reviewed_has(const struct ctl_reviewed *rv, uint64_t id);
void ctl_reviewed_free(struct ctl_reviewed *rv);
/* An open incident and the record it names: evidentd prunes neither while it is open. */
struct ctl_open_incident {
	uint64_t record_seq, incident_seq;
};
struct ctl_open_incidents {
	struct ctl_open_incident *v; /* sorted by record_seq, then incident_seq */
	size_t n, cap;
};
/* The open incidents (ctl_incident_state) among the entries [0, to). Fills *ret (zero it
 * first; free with ctl_open_incidents_free either way). Returns 0 or a negative errno.
 * (cmd_incidents.c) */
int ctl_open_incidents_load(struct vault_reader *r, uint64_t to, struct ctl_open_incidents *ret);
/* The first open incident naming record_seq, or NULL (borrowed from o). */
const struct ctl_open_incident *ctl_open_incident_of(const struct ctl_open_incidents *o,
                                                     uint64_t record_seq);
void ctl_open_incidents_free(struct ctl_open_incidents *o);
/* Lists the incidents of cv (`incidents`: its filters; status, when >= 0, instead of
 * --status), one line or JSON object each, with an "origin" column and key when origin is not
 * NULL (`fleet incidents`), the header line when header is set (text). *ret_shown (may be
 * NULL: then the count line is printed) receives how many were listed. Returns 0 or an exit
 * status (printed). (cmd_incidents.c) */
int ctl_incidents_list(const struct ctl *c, struct ctl_vault *cv, const char *origin, int status,
                       bool header, uint64_t *ret_shown);
/* Why a payload has no decoded form ("payload pruned", ...), or NULL. */
const char *ctl_payload_problem(const struct ctl_payload *p);

/* The models registered in a vault: ID@VERSION -> manifest, from its model entries. */
struct ctl_models;
struct ctl_models *ctl_models_new(void);
void ctl_models_free(struct ctl_models *m);
static inline void ctl_models_freep(struct ctl_models **m)
{
	ctl_models_free(*m);
}
/* Adds e when it is a decodable model entry not seen before. Returns 0 or -ENOMEM. */
int ctl_models_add(struct ctl_models *m, const struct vault_entry *e);
/* Adds the model entries among seqs [from, to). Returns 0 or a negative errno. */
int ctl_models_load(struct ctl_models *m, struct vault_reader *r, uint64_t from, uint64_t to);
size_t ctl_models_count(const struct ctl_models *m);
/* The i-th registered manifest in vault order (and its entry's seq), or NULL past the end;
 * borrowed from m. */
const Evident__V1__ModelManifest *ctl_models_at(const struct ctl_models *m, size_t i,
                                                uint64_t *ret_seq);
/* The manifest of id@version or NULL (borrowed from m). */
const Evident__V1__ModelManifest *ctl_models_find(const struct ctl_models *m, const char *id,
                                                  const char *version);
/* The manifest of a record's model or NULL. */
const Evident__V1__ModelManifest *ctl_models_for_record(const struct ctl_models *m,
                                                        const Evident__V1__Record *rec);

/* The name of feature i: the manifest's, or "f<i>" when there is none. Returns buf or the
 * manifest's string. */
const char *ctl_feature_name(const Evident__V1__ModelManifest *mf, size_t i, char buf[32]);
/* Whether two manifests name the same features in the same order (NULL: by count n). */
bool ctl_same_features(const Evident__V1__ModelManifest *a, size_t na,
                       const Evident__V1__ModelManifest *b, size_t nb);

/* The entry's leaf fields as JSON: seq, type, timestamp, timestamp_ns, leaf_hash,
 * payload_sha256, payload_len, pruned. New reference or NULL. */
json_t *ctl_entry_json(const struct vault_entry *e);
/* Short per-type fields for `log` (model_id, request_id, decision, ...), added to obj. */
void ctl_summary_json(const struct ctl_payload *p, json_t *obj);
/* The one-line `log` summary into buf. */
void ctl_summary_text(const struct ctl_payload *p, size_t payload_len, char *buf, size_t size);
/* A record's analysis fields (model_id, model_version, request_id, client, features by name,
 * scores, decision, context, labels, trace_id) added to obj. */
void ctl_record_json(const Evident__Entry__V1__RecordEntry *re,
                     const Evident__V1__ModelManifest *mf, json_t *obj);
/* The whole decoded payload as JSON (the "payload" of `show --json`). New reference. */
json_t *ctl_payload_json(const struct ctl_payload *p, const struct ctl_models *m);
/* The decoded payload as readable text (the body of `show`). */
void ctl_payload_print(FILE *f, const struct ctl_payload *p, const struct ctl_models *m);

/* ------------------------------------------------------------------ backtests (cmd_backtest.c) */

/* What a trigger expression would have caught among a vault's records, per model version:
 * `evidentctl backtest`, a suggested guard's backtest in `report`, a deployed guard's firings
 * in `guards`. */
struct trig_expr;

struct ctl_bt_review {
	uint64_t seq; /* the review entry */
	char *reviewer, *outcome;
};
/* An incident entry of the range naming a record of the filter's models. */
struct ctl_bt_incident {
	uint64_t seq, record_seq;
	char *rule;                    /* its trigger's name, or its guard's (guard true) */
	bool guard, rate_limited;      /* IncidentEntry.guard; status RATE_LIMITED */
	size_t tally;                  /* its model version (index into the tallies) */
	int caught;                    /* 1 or 0; -1: its record was not evaluated */
	struct ctl_bt_review *reviews; /* the reviews naming it, in vault order */
	size_t n_reviews;
};
/* A review naming a record instead of an incident (Review.record_seq: a guarded record). */
struct ctl_bt_record_review {
	uint64_t record_seq;
	struct ctl_bt_review *review;
	size_t tally; /* SIZE_MAX: the record was not among those evaluated */
	int caught;
};
/* One model version. */
struct ctl_bt_tally {
	char *model_id, *model_version;
	uint64_t records, caught;       /* records evaluated (payload present), caught */
	uint64_t routine, routine_held; /* records no incident names, and those caught */
	uint64_t incidents, incidents_caught, incidents_unknown;
	uint64_t overturned, overturned_caught; /* incidents whose latest review is "overturned" */
	uint64_t *first;                        /* the first caught seqs (up to show) */
	size_t n_first;
	/* false: the rule names a feature the version's manifest lacks (or the model is not
	 * registered): its records are not evaluated, never read as true or false */
	bool bound;
	char *problem; /* why not bound (with the manifest's features), or NULL */
	char *missing; /* the feature the manifest lacks, or NULL */
};
struct ctl_bt_watch {
	uint64_t record_seq;
	bool incident; /* else a record review */
	size_t i;
};
struct ctl_backtest {
	struct ctl_bt_tally *t; /* in the order the versions were met */
	size_t n;
	struct ctl_bt_incident *inc; /* in seq order */
	size_t n_inc, inc_cap;
	struct ctl_bt_record_review *rrev;
	size_t n_rrev, rrev_cap;
	uint64_t pruned; /* records of the range whose payload was pruned (any model) */
	struct ctl_models *models;
	/* the run's state */
	const struct trig_expr *x;
	const struct ctl_model_filter *filter;
	uint64_t from, to, until_ns, stop_seq;
	size_t show;
	struct ctl_bt_watch *watch; /* incidents and record reviews by record seq */
	size_t n_watch, watch_cap;
	size_t *binding;
	const Evident__V1__ModelManifest *bound_to;
	bool bound_ok;
	const char *missing;
};
/* Evaluates x (borrowed) on every record with from <= seq < to, appended at or before until_ns,
 * whose model passes filter (NULL: every model), as evidentd would; the incident entries among
 * [from, to) naming those records, and the review entries among [from, max(to, reviews_to)),
 * say what was judged. Fills *b (free with ctl_backtest_free either way). Returns 0 or a
 * negative errno (-ENOMEM, the vault's). */
int ctl_backtest_run(struct vault_reader *r, const struct trig_expr *x,
                     const struct ctl_model_filter *filter, uint64_t from, uint64_t to,
                     uint64_t reviews_to, uint64_t until_ns, size_t show, struct ctl_backtest *b);
void ctl_backtest_free(struct ctl_backtest *b);
/* The tally of id@version, or NULL (borrowed from b). */
const struct ctl_bt_tally *ctl_backtest_tally(const struct ctl_backtest *b, const char *id,
                                              const char *version);
/* {model_id, model_version, records, caught, share, first_seqs, routine, routine_held,
 * routine_share, incidents, incidents_caught, incidents_unknown, overturned,
 * overturned_caught, bound, unknown_features, problem}. New reference. */
json_t *ctl_backtest_tally_json(const struct ctl_bt_tally *t);

/* ------------------------------------------------------------------ retention (decode.c) */

/* Why a payload was pruned, read from its prune entry's reason: evidentd's reasons begin with
 * the word "retention" (its retention policy) or "erasure" (a data subject's erasure
 * request); any other reason (a prune by other means) is "other". */
enum ctl_prune_cause {
	CTL_PRUNE_RETENTION,
	CTL_PRUNE_ERASURE,
	CTL_PRUNE_OTHER,
};
enum ctl_prune_cause ctl_prune_cause_of(const char *reason);
/* "retention", "erasure" or "other". */
const char *ctl_prune_cause_name(enum ctl_prune_cause c);

/* The prune entry that removed an entry's payload. */
struct ctl_prune {
	uint64_t target_seq;   /* the entry whose payload went */
	uint64_t seq;          /* the prune entry */
	uint64_t timestamp_ns; /* the prune entry's: when it went */
	enum ctl_prune_cause cause;
	char *reason;
};
struct ctl_prunes {
	struct ctl_prune *v; /* sorted by target_seq */
	size_t n;
};
/* Finds the prune entries naming targets[0..n) (entries whose payload is gone; any order,
 * repeats allowed) through the type index, reading the prune entries after the smallest
 * target until each is found. A target no prune entry names (tampering: verify says so) is
 * left out. Fills *ret (zero it first; free with ctl_prunes_free either way). Returns 0 or a
 * negative errno (-ENOMEM, the vault's). */
int ctl_prunes_load(struct vault_reader *r, const uint64_t *targets, size_t n,
                    struct ctl_prunes *ret);
/* The prune of target, or NULL (borrowed from p). */
const struct ctl_prune *ctl_prunes_find(const struct ctl_prunes *p, uint64_t target);
void ctl_prunes_free(struct ctl_prunes *p);
/* {seq, time, timestamp_ns, cause, reason}. New reference or NULL. */
json_t *ctl_prune_json(const struct ctl_prune *p);

/* A legal hold: a hold entry, and the release entry that ended it, if one did. While a hold
 * is active evidentd prunes none of the entries it covers (neither retention nor erasure). */
struct ctl_hold {
	uint64_t seq, timestamp_ns; /* the hold entry: where and when it was placed */
	char *hold_id, *holder, *reason, *client;
	bool has_target_seq, has_incident_id; /* what the Hold named */
	uint64_t target_seq, incident_id;
	uint64_t *seqs; /* the entries it covers, resolved when placed (sorted) */
	size_t n_seqs;
	bool released;
	uint64_t release_seq, release_ns;
	char *release_holder, *release_reason;
};
/* The holds of a vault in the order they were placed. */
struct ctl_holds {
	struct ctl_hold *v;
	size_t n, cap;
};
/* Reads the hold and release entries among [0, to) through the type index: each release
 * ends the latest hold with its hold_id placed before it and not yet released (hold_ids are
 * unique among active holds); a release naming none ends nothing. A hold entry whose
 * payload is gone or does not decode is left out. Fills *ret (zero it first; free with
 * ctl_holds_free either way). Returns 0 or a negative errno. */
int ctl_holds_load(struct vault_reader *r, uint64_t to, struct ctl_holds *ret);
/* Whether h covers entry seq (active or not: check h->released). */
bool ctl_hold_covers(const struct ctl_hold *h, uint64_t seq);
void ctl_holds_free(struct ctl_holds *hs);
/* {hold_id, active, seq, placed, placed_ns, holder, reason, client, target_seq or
 * incident_id, seqs, released: null or {seq, time, timestamp_ns, holder, reason}}. New
 * reference or NULL. */
json_t *ctl_hold_json(const struct ctl_hold *h);
