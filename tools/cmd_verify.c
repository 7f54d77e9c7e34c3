/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl verify: recomputes the vault (vault_verify) against its own checkpoints and any
 * the user kept elsewhere, with a progress bar on a terminal. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"
#include "entry_key.h"

#define MAX_CHECKPOINTS 64

enum {
	ARG_CHECKPOINT = CTL_OPT_VERB,
	ARG_KEY,
	ARG_SKIP_BLOBS,
	ARG_THREADS,
	ARG_MAX_UNSIGNED,
};

static const char *arg_checkpoints[MAX_CHECKPOINTS];
static size_t arg_n_checkpoints;
static const char *arg_key;
static bool arg_skip_blobs;
static unsigned arg_threads;
/* --max-unsigned: a bound on the unsigned tail, in entries or in age (UINT64_MAX: none) */
static uint64_t arg_max_unsigned_entries = UINT64_MAX;
static uint64_t arg_max_unsigned_ns = UINT64_MAX;

/* N (entries) or a duration N{ms,s,m,h,d}. */
static int parse_max_unsigned(const char *s)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {{"ms", 1000000ull},
	             {"s", 1000000000ull},
	             {"m", 60ull * 1000000000ull},
	             {"h", 3600ull * 1000000000ull},
	             {"d", 86400ull * 1000000000ull}};
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || *s == '+')
		goto bad;
	if (!*end) {
		arg_max_unsigned_entries = n;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			if (n > UINT64_MAX / units[i].ns)
				goto bad;
			arg_max_unsigned_ns = n * units[i].ns;
			return 0;
		}
bad:
	return ctl_usage_error("--max-unsigned: expected a number of entries or a duration "
	                       "(100ms, 30s, 5m, 1h, 1d): '%s'",
	                       s);
}

/* The daemon's dedup keys, derived from the payloads (entry_key.h), so that verify rebuilds the
 * dedup index instead of trusting it. */
static int dedup_key(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                     char *client, char *request)
{
	_Static_assert(ENTRY_KEY_MAX == VAULT_DEDUP_KEY_MAX, "one key size");
	_Static_assert((int)ENTRY_KEYED_RECORD == (int)VAULT_ENTRY_RECORD &&
	                   (int)ENTRY_KEYED_MODEL == (int)VAULT_ENTRY_MODEL &&
	                   (int)ENTRY_KEYED_REVIEW == (int)VAULT_ENTRY_REVIEW,
	               "entry_key.h numbers types as the vault does");
	(void)userdata;
	return entry_dedup_key(type, payload, len, client, request);
}

static int option(struct ctl *c, int opt, const char *arg)
{
	uint64_t n;

	(void)c;
	switch (opt) {
	case ARG_CHECKPOINT:
		if (arg_n_checkpoints == MAX_CHECKPOINTS)
			return ctl_usage_error("verify: --checkpoint: at most %d files",
			                       MAX_CHECKPOINTS);
		arg_checkpoints[arg_n_checkpoints++] = arg;
		return 0;
	case ARG_KEY:
		arg_key = arg;
		return 0;
	case ARG_SKIP_BLOBS:
		arg_skip_blobs = true;
		return 0;
	case ARG_THREADS:
		if (ctl_parse_u64("--threads", arg, &n))
			return CTL_EXIT_USAGE;
		if (n < 1 || n > 256)
			return ctl_usage_error("--threads: expected 1..256: '%s'", arg);
		arg_threads = (unsigned)n;
		return 0;
	case ARG_MAX_UNSIGNED:
		return parse_max_unsigned(arg);
	}
	return CTL_EXIT_USAGE;
}

/* The checkpoint files' notes, read whole. */
struct notes {
	char *text[MAX_CHECKPOINTS];
	size_t len[MAX_CHECKPOINTS];
	size_t n;
};

static void notes_deinit(struct notes *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->text[i]);
	ns->n = 0;
}

static int notes_read(struct notes *ns)
{
	for (size_t i = 0; i < arg_n_checkpoints; i++) {
		int rc =
		    ctl_read_file(arg_checkpoints[i], VAULT_NOTE_MAX, &ns->text[i], &ns->len[i]);
		if (rc < 0)
			return ctl_file_error(arg_checkpoints[i], rc);
		ns->n++;
	}
	return 0;
}

static void progress_fn(void *userdata, uint64_t done, uint64_t total)
{
	ctl_progress_update(userdata, done, total);
}

/* Problems about the vault as a whole report the vault size as bad_seq: no entry to name. */
static bool names_entry(const struct vault_verify_report *rep)
{
	return rep->bad_seq < rep->entries || rep->problem == VAULT_PROBLEM_TRUNCATED;
}

/* Age of the unsigned tail: how long its first entry has waited for a signature. */
static uint64_t tail_age_ns(const struct vault_verify_report *rep)
{
	uint64_t now = ctl_now_ns();

	if (!rep->unsigned_entries || rep->unsigned_since_ns > now)
		return 0;
	return now - rep->unsigned_since_ns;
}

/* The tail over --max-unsigned: a one-line reason into buf, or false. */
static bool tail_too_large(const struct vault_verify_report *rep, char *buf, size_t size)
{
	uint64_t age = tail_age_ns(rep);

	if (rep->unsigned_entries > arg_max_unsigned_entries) {
		snprintf(buf, size,
		         "%" PRIu64 " entries after the last signed checkpoint, over the %" PRIu64
		         " allowed by --max-unsigned",
		         rep->unsigned_entries, arg_max_unsigned_entries);
		return true;
	}
	if (rep->unsigned_entries && age > arg_max_unsigned_ns) {
		snprintf(buf, size,
		         "the first entry after the last signed checkpoint is %.3f s old, over the "
		         "%.3f s allowed by --max-unsigned",
		         (double)age / 1e9, (double)arg_max_unsigned_ns / 1e9);
		return true;
	}
	return false;
}

static json_t *report_json(const struct vault_verify_report *rep, double seconds)
{
	char tail[200];
	bool over = rep->problem == VAULT_OK && tail_too_large(rep, tail, sizeof(tail));
	bool ok = rep->problem == VAULT_OK && !over;
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	ctl_json_set(obj, "ok", json_boolean(ok));
	ctl_json_set(obj, "entries", ctl_json_u64(rep->entries));
	ctl_json_set(obj, "root", ok ? ctl_json_hex(rep->root, VAULT_HASH_LEN) : json_null());
	ctl_json_set(obj, "problem",
	             ok     ? json_null()
	             : over ? json_string("unsigned tail over --max-unsigned")
	                    : json_string(vault_problem_name(rep->problem)));
	ctl_json_set(obj, "bad_seq",
	             ok ? json_null() : ctl_json_u64(over ? rep->signed_size : rep->bad_seq));
	ctl_json_set(obj, "detail", ok ? json_null() : ctl_json_string(over ? tail : rep->detail));
	ctl_json_set(obj, "signed_size", ctl_json_u64(rep->signed_size));
	ctl_json_set(obj, "unsigned_entries", ctl_json_u64(rep->unsigned_entries));
	ctl_json_set(obj, "unsigned_age_seconds",
	             rep->unsigned_entries ? json_real((double)tail_age_ns(rep) / 1e9)
	                                   : json_null());
	ctl_json_set(obj, "dedup_keys", ctl_json_u64(rep->dedup_keys));
	ctl_json_set(obj, "checkpoints", ctl_json_u64(rep->checkpoints));
	ctl_json_set(obj, "pruned", ctl_json_u64(rep->pruned));
	ctl_json_set(obj, "blobs", ctl_json_u64(rep->blobs));
	ctl_json_set(obj, "payload_bytes", ctl_json_u64(rep->payload_bytes));
	ctl_json_set(obj, "seconds", json_real(seconds));
	return obj;
}

static void print_report(const struct vault_verify_report *rep, double seconds)
{
	char hex[CTL_HEX_MAX], tail[200];

	if (rep->problem == VAULT_OK && tail_too_large(rep, tail, sizeof(tail))) {
		printf("FAILED: unsigned tail: %s\n", tail);
		return;
	}
	if (rep->problem != VAULT_OK) {
		if (names_entry(rep))
			printf("FAILED at entry %" PRIu64 ": %s: %s\n", rep->bad_seq,
			       vault_problem_name(rep->problem), rep->detail);
		else
			printf("FAILED: %s: %s\n", vault_problem_name(rep->problem), rep->detail);
		return;
	}
	printf("OK: %" PRIu64 " entries, root %s, %" PRIu64 " checkpoints checked, %" PRIu64
	       " pruned payloads, %" PRIu64 " blobs, %.1f MB hashed in %.2f s (%.0f entries/s)\n",
	       rep->entries, ctl_hex(rep->root, VAULT_HASH_LEN, hex), rep->checkpoints, rep->pruned,
	       rep->blobs, (double)rep->payload_bytes / 1e6, seconds,
	       seconds > 0 ? (double)rep->entries / seconds : 0.0);
	if (rep->unsigned_entries)
		printf("unsigned tail: %" PRIu64 " entries after the last signed checkpoint "
		       "(size %" PRIu64 "), the first %.3f s old\n",
		       rep->unsigned_entries, rep->signed_size, (double)tail_age_ns(rep) / 1e9);
	else
		printf("unsigned tail: none (the last signed checkpoint covers every entry)\n");
}

static int verify(const struct ctl *c, struct ctl_vault *cv, const struct notes *ns,
                  const struct vault_pubkey *key)
{
	const char *notes[MAX_CHECKPOINTS];
	struct vault_verify_options opts = {
	    .checkpoints = notes,
	    .checkpoint_lens = ns->len,
	    .n_checkpoints = ns->n,
	    .key = key,
	    .skip_blobs = arg_skip_blobs,
	    .threads = arg_threads,
	    .progress = progress_fn,
	    .dedup_key = dedup_key,
	};
	struct vault_verify_report rep;
	struct ctl_progress progress;
	double start;
	int rc;

	for (size_t i = 0; i < ns->n; i++)
		notes[i] = ns->text[i];
	ctl_progress_init(&progress, true, "entries");
	opts.progress_userdata = &progress;
	start = ctl_monotonic();
	rc = vault_verify(cv->v, &opts, &rep);
	ctl_progress_end(&progress);
	if (rc < 0)
		return ctl_vault_error(cv, "verification could not run", rc);
	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = report_json(&rep, ctl_monotonic() - start);
		if (!obj || ctl_json_print(stdout, obj, false) < 0)
			return CTL_EXIT_UNREADABLE;
	} else {
		print_report(&rep, ctl_monotonic() - start);
	}
	char tail[200];
	return rep.problem == VAULT_OK && !tail_too_large(&rep, tail, sizeof(tail))
	           ? CTL_EXIT_OK
	           : CTL_EXIT_PROBLEM;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct notes ns = {0};
	struct vault_pubkey key;
	int rc;

	(void)argc;
	(void)argv;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	/* vault_verify takes its own snapshots. */
	vault_reader_end(cv.r);
	cv.r = NULL;
	rc = arg_key ? ctl_load_key(arg_key, cv.info.origin, VAULT_KEY_ED25519, &key) : 0;
	if (rc == 0)
		rc = notes_read(&ns);
	if (rc == 0)
		rc = verify(c, &cv, &ns, arg_key ? &key : NULL);
	notes_deinit(&ns);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {
    {"checkpoint", required_argument, NULL, ARG_CHECKPOINT},
    {"key", required_argument, NULL, ARG_KEY},
    {"skip-blobs", no_argument, NULL, ARG_SKIP_BLOBS},
    {"threads", required_argument, NULL, ARG_THREADS},
    {"max-unsigned", required_argument, NULL, ARG_MAX_UNSIGNED},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_verify = {
    .name = "verify",
    .summary = "check the vault's integrity from its stored bytes",
    .synopsis = "verify [--checkpoint FILE]... [--key PUBKEY_FILE] [--max-unsigned N|DURATION]\n"
                "       [--skip-blobs] [--threads N]",
    .description = "Recomputes every payload hash, leaf hash, chain link, timestamp order,\n"
                   "Merkle node and root; checks every checkpoint stored in the vault (signature\n"
                   "and root), the prune entries, the type index, the dedup index (rebuilt from\n"
                   "the entries: every record, review and model carries its key, and no other\n"
                   "key exists) and, unless --skip-blobs, every blob's content.\n"
                   "A vault holding entries of which no checkpoint signed by the key covers any\n"
                   "fails: without a signature the whole log could have been rewritten. The\n"
                   "unsigned tail (entries after the last signed checkpoint, and the age of the\n"
                   "first) is always reported; --max-unsigned turns it into a check.\n"
                   "Checkpoints kept elsewhere (--checkpoint) also detect a vault truncated or\n"
                   "rolled back since they were signed.\n"
                   "Prints \"OK: ...\" with the counts and throughput, or \"FAILED at entry SEQ:\n"
                   "PROBLEM: DETAIL\" naming the first bad entry. A progress bar is drawn on\n"
                   "standard error when it is a terminal.",
    .options = "--checkpoint FILE\n"
               "    A signed checkpoint note kept elsewhere (e.g. a copy of DIR/checkpoint).\n"
               "    May be given several times.\n"
               "--key PUBKEY_FILE\n"
               "    Verify checkpoint signatures with this key (C2SP verifier key line or PEM)\n"
               "    instead of the key recorded in the vault.\n"
               "--max-unsigned N|DURATION\n"
               "    Fail when more than N entries, or entries older than DURATION (100ms, 30s,\n"
               "    5m, 1h, 1d), follow the last signed checkpoint. For monitors: evidentd signs\n"
               "    within checkpoint_max_unsigned_ms (default 100 ms) of a commit.\n"
               "--skip-blobs\n"
               "    Do not rehash blob contents.\n"
               "--threads N\n"
               "    Hashing threads (default: one per CPU, at most 4).",
    .exit_status = "0  the vault is intact\n"
                   "1  a problem was found (the first one is printed)\n"
                   "2  usage error\n"
                   "3  the vault, a checkpoint file or the key could not be read",
    .examples = "evidentctl --vault ./vault verify\n"
                "cp ./vault/checkpoint /safe/place/cp.1\n"
                "evidentctl verify --checkpoint /safe/place/cp.1 --key vault.pub --json\n"
                "evidentctl verify --key vault.pub --max-unsigned 10s",
    .long_options = options,
    .option = option,
    .run = run,
};
