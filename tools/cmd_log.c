/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl log and tail: entries one per line (or JSON Lines), filtered by model, type and
 * time; tail -f follows a vault that the daemon is appending to. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define FOLLOW_INTERVAL_NS 200000000L /* how often tail -f looks for new entries */

enum {
	ARG_MODEL = CTL_OPT_VERB,
	ARG_TYPE,
	ARG_SINCE,
	ARG_UNTIL,
	ARG_LIMIT,
	ARG_FROM,
};

static struct ctl_model_filter arg_model;
static int arg_type; /* 0: any */
static uint64_t arg_since, arg_until = UINT64_MAX, arg_limit = UINT64_MAX, arg_from;
static uint64_t arg_lines = 10;
static bool arg_follow;

static int log_option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	switch (opt) {
	case ARG_MODEL:
		return ctl_model_filter_parse(arg, &arg_model);
	case ARG_TYPE:
		arg_type = vault_entry_type_from_name(arg);
		if (arg_type < 0)
			return ctl_usage_error("--type: unknown entry type '%s' (record, model, "
			                       "artifact, incident, audit, review, lifecycle, "
			                       "config, prune, verdict, notice, hold, release, "
			                       "erasure)",
			                       arg);
		return 0;
	case ARG_SINCE:
		return ctl_parse_time("--since", arg, &arg_since);
	case ARG_UNTIL:
		return ctl_parse_time("--until", arg, &arg_until);
	case ARG_LIMIT:
		return ctl_parse_u64("--limit", arg, &arg_limit);
	case ARG_FROM:
		return ctl_parse_u64("--from", arg, &arg_from);
	}
	return CTL_EXIT_USAGE;
}

static int tail_option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	switch (opt) {
	case 'n':
		return ctl_parse_u64("-n", arg, &arg_lines);
	case 'f':
		arg_follow = true;
		return 0;
	}
	return CTL_EXIT_USAGE;
}

/* Whether the payload passes --type and --model (which keeps only records and models). */
static bool matches(const struct vault_entry *e, const struct ctl_payload *p)
{
	const Evident__Entry__V1__RecordEntry *re;
	const Evident__Entry__V1__ModelEntry *me;

	if (arg_type && e->leaf.type != arg_type)
		return false;
	if (!arg_model.id)
		return true;
	re = ctl_payload_record(p);
	me = ctl_payload_model(p);
	if (re && re->record)
		return ctl_model_filter_match(&arg_model, re->record->model_id,
		                              re->record->model_version);
	if (me && me->manifest)
		return ctl_model_filter_match(&arg_model, me->manifest->model_id,
		                              me->manifest->version);
	return false;
}

static int print_entry(const struct ctl *c, const struct vault_entry *e,
                       const struct ctl_payload *p)
{
	char summary[512], t[CTL_TIME_MAX];
	const char *type = vault_entry_type_name(e->leaf.type);

	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = ctl_entry_json(e);
		if (!obj)
			return -ENOMEM;
		ctl_summary_json(p, obj);
		return ctl_json_print(stdout, obj, true);
	}
	ctl_summary_text(p, e->leaf.payload_len, summary, sizeof(summary));
	if (type)
		printf("%" PRIu64 "  %s  %-9s  %s\n", e->leaf.seq,
		       ctl_time_format(e->leaf.timestamp_ns, t), type, summary);
	else
		printf("%" PRIu64 "  %s  type-%-4u  %s\n", e->leaf.seq,
		       ctl_time_format(e->leaf.timestamp_ns, t), e->leaf.type, summary);
	return 0;
}

struct listing {
	const struct ctl *c;
	uint64_t printed;
	bool filter; /* apply the log filters */
};

static int listing_fn(void *userdata, const struct vault_entry *e)
{
	struct listing *l = userdata;
	struct ctl_payload p;
	int rc = 0;

	if (l->filter && e->leaf.timestamp_ns > arg_until)
		return 1; /* entries are time-ordered: nothing later matches */
	if (l->filter && l->printed >= arg_limit)
		return 1;
	ctl_payload_decode(e, &p);
	if (!l->filter || matches(e, &p)) {
		rc = print_entry(l->c, e, &p);
		l->printed++;
	}
	ctl_payload_deinit(&p);
	return rc;
}

/* The next entry an index names at or after from: of --type, or of --model (its "ID[@VER]" in
 * index_model). -ENOENT when none; -ENOTSUP when the vault has no complete model index. */
typedef int (*index_next_fn)(struct vault_reader *r, uint64_t from, uint64_t *ret_seq);
static char index_model[VAULT_MODEL_MAX + 1];

static int next_of_type(struct vault_reader *r, uint64_t from, uint64_t *ret_seq)
{
	return vault_next_of_type(r, arg_type, from, ret_seq);
}

static int next_of_model(struct vault_reader *r, uint64_t from, uint64_t *ret_seq)
{
	return vault_model_next(r, index_model, from, ret_seq);
}

/* Lists the entries an index names (the type index for every type but record, the model
 * index), so that only they are read, whatever the vault's size. */
static int list_indexed(struct vault_reader *r, uint64_t from, uint64_t to, struct listing *l,
                        index_next_fn next)
{
	int rc = 0;

	for (uint64_t seq; rc == 0 && from < to; from = seq + 1) {
		struct vault_entry e;
		rc = next(r, from, &seq);
		if (rc == -ENOENT || (rc == 0 && seq >= to))
			return 0;
		if (rc < 0 || (rc = vault_get(r, seq, &e)) < 0)
			return rc;
		rc = listing_fn(l, &e);
	}
	return rc < 0 ? rc : 0;
}

static int run_log(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct listing l = {.c = c, .filter = true};
	uint64_t start = arg_from, size;
	int rc;

	(void)argc;
	(void)argv;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	size = vault_reader_size(cv.r);
	if (arg_since) {
		uint64_t seq;
		rc = vault_seek_time(cv.r, arg_since, &seq);
		if (rc == 0 && seq > start)
			start = seq;
	}
	if (arg_model.version)
		snprintf(index_model, sizeof(index_model), "%.*s@%s", (int)arg_model.id_len,
		         arg_model.id, arg_model.version);
	else if (arg_model.id)
		snprintf(index_model, sizeof(index_model), "%.*s", (int)arg_model.id_len,
		         arg_model.id);
	if (rc == 0 && arg_type && arg_type != VAULT_ENTRY_RECORD)
		rc = list_indexed(cv.r, start, size, &l, next_of_type);
	else if (rc == 0 && arg_model.id &&
	         (rc = list_indexed(cv.r, start, size, &l, next_of_model)) != -ENOTSUP)
		; /* listed from the model index */
	else if (rc == 0 || rc == -ENOTSUP)
		rc = ctl_scan(cv.r, start, size, listing_fn, &l);
	rc = rc < 0 ? ctl_vault_error(&cv, "cannot read entries", rc) : 0;
	ctl_vault_close(&cv);
	return rc;
}

/* Waits for the next poll; false when SIGINT or SIGTERM (blocked) arrived. */
static bool wait_poll(const sigset_t *stop)
{
	struct timespec ts = {0, FOLLOW_INTERVAL_NS};

	return sigtimedwait(stop, NULL, &ts) < 0;
}

/* Prints entries appended after seq next until stopped. Holds no snapshot while waiting:
 * an idle reader would pin pages the daemon wants to reuse. */
static int follow(struct ctl_vault *cv, struct listing *l, uint64_t next)
{
	sigset_t stop;
	int rc = 0;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	vault_reader_end(cv->r);
	cv->r = NULL;
	while (rc == 0 && fflush(stdout) == 0 && wait_poll(&stop)) {
		uint64_t size;

		rc = vault_reader_begin(cv->v, &cv->r);
		if (rc < 0)
			break;
		size = vault_reader_size(cv->r);
		if (size > next)
			rc = ctl_scan(cv->r, next, size, listing_fn, l);
		next = size;
		vault_reader_end(cv->r);
		cv->r = NULL;
	}
	return rc < 0 ? ctl_vault_error(cv, "cannot read entries", rc) : 0;
}

static int run_tail(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct listing l = {.c = c};
	uint64_t size, start;
	int rc;

	(void)argc;
	(void)argv;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	size = vault_reader_size(cv.r);
	start = size > arg_lines ? size - arg_lines : 0;
	rc = ctl_scan(cv.r, start, size, listing_fn, &l);
	if (rc < 0)
		rc = ctl_vault_error(&cv, "cannot read entries", rc);
	else if (arg_follow)
		rc = follow(&cv, &l, size);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option log_options[] = {
    {"model", required_argument, NULL, ARG_MODEL},
    {"type", required_argument, NULL, ARG_TYPE},
    {"since", required_argument, NULL, ARG_SINCE},
    {"until", required_argument, NULL, ARG_UNTIL},
    {"limit", required_argument, NULL, ARG_LIMIT},
    {"from", required_argument, NULL, ARG_FROM},
    CTL_GLOBAL_OPTIONS,
};

#define TIME_FORMS                                                                        \
	"Times T are RFC 3339 (2026-11-26T10:00:00Z, 2026-11-26T11:00:00.5+01:00, or a\n" \
	"date), Unix seconds (@1700000000), or relative to now (-30s, -30m, -1h, -2d, -1w).\n"

#define LINE_FORMAT                                                                           \
	"Each line reads SEQ  TIME  TYPE  SUMMARY, TIME in RFC 3339 UTC with milliseconds.\n" \
	"The summary of a record is MODEL@VERSION REQUEST_ID DECISION SCORES; of a model\n"   \
	"entry MODEL@VERSION FRAMEWORK; of a lifecycle entry its event; of a prune entry\n"   \
	"\"pruned SEQ: REASON\"; of a hold entry HOLD_ID, what it covers, the holder and\n"   \
	"the reason; of a release entry HOLD_ID, holder and reason; of an erasure entry\n"    \
	"SUBJECT: how many payloads it pruned, found pruned and kept under which holds;\n"    \
	"of other entries the payload size.\n"                                                \
	"With --json each entry is one JSON object per line (JSON Lines) with seq, type,\n"   \
	"timestamp, timestamp_ns, leaf_hash, payload_sha256, payload_len, pruned and the\n"   \
	"summary fields (model_id, model_version, request_id, decision, scores, subject,\n"   \
	"framework, event, target_seq, reason, hold_id, holder, incident_id, seqs,\n"         \
	"requested_by, erased, already_pruned, held_seqs, blocking_holds, payload_problem)\n" \
	"that apply.\n"

const struct ctl_verb ctl_verb_log = {
    .name = "log",
    .summary = "list entries, oldest first",
    .synopsis = "log [--model ID[@VER]] [--type T] [--since T] [--until T] [--limit N] "
                "[--from SEQ]",
    .description =
        "Lists the vault's entries in seq order, oldest first.\n" LINE_FORMAT "\n" TIME_FORMS,
    .options = "--model ID[@VER]\n"
               "    Only record and model entries of this model (any version without @VER).\n"
               "--type T\n"
               "    Only entries of this type (record, model, artifact, lifecycle, prune, hold,\n"
               "    release, erasure, ...).\n"
               "--since T\n"
               "    Only entries at or after time T (found by binary search).\n"
               "--until T\n"
               "    Only entries at or before time T.\n"
               "--limit N\n"
               "    Print the first N matching entries only.\n"
               "--from SEQ\n"
               "    Start at entry SEQ.",
    .examples = "evidentctl log --limit 20\n"
                "evidentctl log --model credit-risk@1.0.0 --since -1h\n"
                "evidentctl log --type lifecycle --json",
    .long_options = log_options,
    .option = log_option,
    .run = run_log,
};

static const struct option tail_options[] = {
    {"lines", required_argument, NULL, 'n'},
    {"follow", no_argument, NULL, 'f'},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_tail = {
    .name = "tail",
    .summary = "show the newest entries, optionally following",
    .synopsis = "tail [-n N] [-f]",
    .description = "Prints the last N entries as 'log' prints them; with -f keeps printing\n"
                   "entries as they are appended until interrupted (SIGINT or SIGTERM,\n"
                   "then exit status 0). The vault is polled every 200 ms; no snapshot is\n"
                   "held in between.\n" LINE_FORMAT,
    .options = "-n, --lines N\n"
               "    How many of the newest entries to print first (default 10).\n"
               "-f, --follow\n"
               "    Keep printing new entries.",
    .examples = "evidentctl tail\n"
                "evidentctl tail -n 0 -f --json | jq -c 'select(.type == \"record\")'",
    .short_options = "n:f",
    .long_options = tail_options,
    .option = tail_option,
    .run = run_tail,
};
