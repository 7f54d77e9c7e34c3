/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl holds: the legal holds placed on entries (hold entries) that no release entry has
 * ended, or with --all every hold with its release. While a hold is active evidentd prunes
 * none of the entries it covers, neither by retention nor by erasure. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

enum { ARG_ALL = CTL_OPT_VERB };

static bool arg_all;

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	(void)arg;
	if (opt != ARG_ALL)
		return CTL_EXIT_USAGE;
	arg_all = true;
	return 0;
}

#define COVERS_SHOWN 5 /* seqs listed in a line; the rest are counted */

/* "incident 57: 3 entries (57, 60, 61)" */
static void covers_text(const struct ctl_hold *h, char *buf, size_t size)
{
	int n = 0;

	if (h->has_incident_id)
		n = snprintf(buf, size, "incident %" PRIu64 ": ", h->incident_id);
	if (n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "%zu entr%s", h->n_seqs,
		              h->n_seqs == 1 ? "y" : "ies");
	for (size_t i = 0; i < h->n_seqs && i < COVERS_SHOWN && n > 0 && (size_t)n < size; i++)
		n += snprintf(buf + n, size - (size_t)n, "%s%" PRIu64, i ? ", " : " (", h->seqs[i]);
	if (h->n_seqs && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "%s)", h->n_seqs > COVERS_SHOWN ? ", ..." : "");
}

static void print_hold(const struct ctl_hold *h)
{
	char t[CTL_TIME_MAX], covers[160];

	covers_text(h, covers, sizeof(covers));
	printf("%-20s %-24s %-8" PRIu64 " %-24s %-32s %s\n", h->hold_id ? h->hold_id : "?",
	       ctl_time_format(h->timestamp_ns, t), h->seq, h->holder ? h->holder : "?", covers,
	       h->reason ? h->reason : "");
	if (h->released)
		printf("%-20s released at %s (entry %" PRIu64 ") by %s%s%s\n", "",
		       ctl_time_format(h->release_ns, t), h->release_seq,
		       h->release_holder ? h->release_holder : "?", h->release_reason ? ": " : "",
		       h->release_reason ? h->release_reason : "");
}

static int list(const struct ctl *c, struct ctl_vault *cv)
{
	_cleanup_(ctl_holds_free) struct ctl_holds hs = {0};
	size_t active = 0, shown = 0;
	int rc = ctl_holds_load(cv->r, vault_reader_size(cv->r), &hs);

	if (rc < 0)
		return ctl_vault_error(cv, "cannot read hold and release entries", rc);
	if (!c->json)
		printf("%-20s %-24s %-8s %-24s %-32s %s\n", "hold_id", "placed", "entry", "holder",
		       "covers", "reason");
	for (size_t i = 0; i < hs.n; i++) {
		const struct ctl_hold *h = &hs.v[i];
		active += !h->released;
		if (h->released && !arg_all)
			continue;
		shown++;
		if (c->json) {
			_cleanup_(json_decrefp) json_t *o = ctl_hold_json(h);
			if (!o || ctl_json_print(stdout, o, true) < 0)
				return CTL_EXIT_UNREADABLE;
		} else {
			print_hold(h);
		}
	}
	if (!c->json) {
		if (arg_all)
			printf("%zu hold(s), %zu active, %zu released\n", shown, active,
			       shown - active);
		else
			printf("%zu active hold(s)\n", active);
	}
	return 0;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	int rc;

	(void)argc;
	(void)argv;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	rc = list(c, &cv);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {
    {"all", no_argument, NULL, ARG_ALL},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_holds = {
    .name = "holds",
    .summary = "list the active legal holds",
    .synopsis = "holds [--all]",
    .description =
        "Lists the legal holds in force, oldest first: hold entries (a Hold from an admin\n"
        "peer of evidentd) that no release entry with the same hold_id has ended. Each\n"
        "line: the hold_id, when it was placed, its entry's seq, the holder, what it covers\n"
        "(the entry or incident it named and the entries resolved from it when it was\n"
        "placed), and the reason. While a hold is active evidentd prunes none of the\n"
        "entries it covers, neither by its retention policy nor for an erasure request;\n"
        "an open incident (not yet reviewed) keeps the entries it cites the same way\n"
        "without a hold entry ('evidentctl incidents --status open' lists those).\n"
        "A release ends the latest active hold of its hold_id placed before it.\n"
        "With --json one object per hold: hold_id, active, seq, placed, placed_ns, holder,\n"
        "reason, client, target_seq or incident_id (what the Hold named), seqs (the\n"
        "entries covered) and released (null, or seq, time, timestamp_ns, holder and\n"
        "reason of the release entry).",
    .options = "--all\n"
               "    Released holds too, each with its release.",
    .exit_status = "0  success (also when there are no holds)\n"
                   "2  usage error\n"
                   "3  the vault could not be read",
    .examples = "evidentctl holds\n"
                "evidentctl holds --all --json | jq -c 'select(.active | not)'",
    .long_options = options,
    .option = option,
    .run = run,
};
