/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl backtest: how many past records a proposed trigger rule would have caught, by
 * model version, before it goes into the daemon's config. The expression is compiled by the
 * daemon's own trigger code (daemon/trigger/), so the answer is what the daemon would do. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "trigger.h"

enum {
	ARG_WHEN = CTL_OPT_VERB,
	ARG_MODEL,
	ARG_SINCE,
	ARG_UNTIL,
	ARG_SHOW,
};

static const char *arg_when;
static struct ctl_model_filter arg_model;
static uint64_t arg_since, arg_until = UINT64_MAX, arg_show = 5;

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	switch (opt) {
	case ARG_WHEN:
		arg_when = arg;
		return 0;
	case ARG_MODEL:
		return ctl_model_filter_parse(arg, &arg_model);
	case ARG_SINCE:
		return ctl_parse_time("--since", arg, &arg_since);
	case ARG_UNTIL:
		return ctl_parse_time("--until", arg, &arg_until);
	case ARG_SHOW:
		return ctl_parse_u64("--show", arg, &arg_show);
	}
	return CTL_EXIT_USAGE;
}

/* Per model version: records seen, caught, and the first few caught seqs. */
struct tally {
	char *key; /* "ID@VERSION" */
	uint64_t seen, caught;
	uint64_t *first;
	size_t n_first;
};

struct backtest {
	struct trig_expr *x;
	struct ctl_models *models;
	struct tally *t;
	size_t n;
	uint64_t start, end, seen, caught;
	size_t *binding;
	const Evident__V1__ModelManifest *bound_to;
};

static struct tally *tally_for(struct backtest *b, const char *id, const char *version)
{
	char key[512];

	snprintf(key, sizeof(key), "%s@%s", id ? id : "", version ? version : "");
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->t[i].key, key))
			return &b->t[i];
	struct tally *nt = realloc(b->t, (b->n + 1) * sizeof(*nt));
	if (!nt)
		return NULL;
	b->t = nt;
	nt = &b->t[b->n];
	*nt = (struct tally){.key = strdup(key), .first = calloc(arg_show + 1, sizeof(uint64_t))};
	if (!nt->key || !nt->first) {
		free(nt->key);
		free(nt->first);
		return NULL;
	}
	b->n++;
	return nt;
}

static void bind(struct backtest *b, const Evident__V1__ModelManifest *mf)
{
	for (size_t i = 0; i < trig_n_features(b->x); i++) {
		const char *name = trig_feature(b->x, i, NULL);
		b->binding[i] = SIZE_MAX;
		for (size_t j = 0; mf && j < mf->n_features; j++)
			if (mf->features[j]->name && !strcmp(mf->features[j]->name, name)) {
				b->binding[i] = j;
				break;
			}
	}
	b->bound_to = mf;
}

static int entry_fn(void *userdata, const struct vault_entry *e)
{
	struct backtest *b = userdata;
	struct ctl_payload p;
	int rc = 0;

	if (e->leaf.timestamp_ns > arg_until)
		return 1;
	if (e->leaf.type == VAULT_ENTRY_MODEL)
		return ctl_models_add(b->models, e);
	if (e->leaf.type != VAULT_ENTRY_RECORD)
		return 0;
	ctl_payload_decode(e, &p);
	const Evident__Entry__V1__RecordEntry *re = ctl_payload_record(&p);
	const Evident__V1__Record *rec = re ? re->record : NULL;
	if (rec && ctl_model_filter_match(&arg_model, rec->model_id, rec->model_version)) {
		const Evident__V1__ModelManifest *mf = ctl_models_for_record(b->models, rec);
		if (mf != b->bound_to || !mf)
			bind(b, mf);
		struct trig_record r;
		trig_record_from_pb(rec, b->binding, &r);
		struct tally *t = tally_for(b, rec->model_id, rec->model_version);
		if (!t) {
			rc = -ENOMEM;
		} else {
			t->seen++;
			b->seen++;
			if (trig_eval(b->x, &r)) {
				if (t->n_first < arg_show)
					t->first[t->n_first++] = e->leaf.seq;
				t->caught++;
				b->caught++;
			}
		}
	}
	ctl_payload_deinit(&p);
	return rc;
}

static int print(const struct ctl *c, const struct backtest *b)
{
	if (c->json) {
		for (size_t i = 0; i < b->n; i++) {
			const struct tally *t = &b->t[i];
			_cleanup_(json_decrefp) json_t *o = json_object();
			json_t *first = json_array();
			const char *at = strrchr(t->key, '@');
			ctl_json_set(o, "model_id", json_stringn(t->key, (size_t)(at - t->key)));
			ctl_json_set(o, "model_version", json_string(at + 1));
			ctl_json_set(o, "records", ctl_json_u64(t->seen));
			ctl_json_set(o, "caught", ctl_json_u64(t->caught));
			ctl_json_set(o, "share",
			             json_real(t->seen ? (double)t->caught / t->seen : 0));
			for (size_t k = 0; k < t->n_first; k++)
				json_array_append_new(first, ctl_json_u64(t->first[k]));
			ctl_json_set(o, "first_seqs", first);
			if (ctl_json_print(stdout, o, true) < 0)
				return CTL_EXIT_UNREADABLE;
		}
		return 0;
	}
	printf("when %s\n", arg_when);
	printf("%-40s %12s %12s %8s  %s\n", "model@version", "records", "caught", "share",
	       "first caught seqs");
	for (size_t i = 0; i < b->n; i++) {
		const struct tally *t = &b->t[i];
		printf("%-40s %12" PRIu64 " %12" PRIu64 " %7.2f%% ", t->key, t->seen, t->caught,
		       t->seen ? 100.0 * (double)t->caught / (double)t->seen : 0.0);
		for (size_t k = 0; k < t->n_first; k++)
			printf(" %" PRIu64, t->first[k]);
		printf("\n");
	}
	printf("%-40s %12" PRIu64 " %12" PRIu64 " %7.2f%%\n", "all", b->seen, b->caught,
	       b->seen ? 100.0 * (double)b->caught / (double)b->seen : 0.0);
	return 0;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct backtest b = {0};
	struct trig_error e;
	struct ctl_vault cv;
	uint64_t seq;
	int rc;

	(void)argc;
	(void)argv;
	if (!arg_when)
		return ctl_usage_error("backtest needs --when EXPR (a trigger expression)");
	rc = trig_compile(arg_when, &b.x, &e);
	if (rc == -EINVAL)
		return ctl_usage_error("--when: column %u: %s", e.column, e.message);
	if (rc < 0)
		return ctl_usage_error("--when: %s", strerror(-rc));
	rc = ctl_vault_open(c, &cv);
	if (rc) {
		trig_free(b.x);
		return rc;
	}
	b.models = ctl_models_new();
	b.binding = malloc((trig_n_features(b.x) + 1) * sizeof(size_t));
	b.end = vault_reader_size(cv.r);
	rc = !b.models || !b.binding ? -ENOMEM : 0;
	if (rc == 0 && arg_since) {
		rc = vault_seek_time(cv.r, arg_since, &seq);
		b.start = seq;
	}
	if (rc == 0)
		rc = ctl_models_load(b.models, cv.r, 0, b.start);
	if (rc == 0)
		rc = ctl_scan(cv.r, b.start, b.end, entry_fn, &b);
	rc = rc < 0 ? ctl_vault_error(&cv, "cannot read entries", rc) : print(c, &b);
	for (size_t i = 0; i < b.n; i++) {
		free(b.t[i].key);
		free(b.t[i].first);
	}
	free(b.t);
	free(b.binding);
	ctl_models_free(b.models);
	trig_free(b.x);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {
    {"when", required_argument, NULL, ARG_WHEN},   {"model", required_argument, NULL, ARG_MODEL},
    {"since", required_argument, NULL, ARG_SINCE}, {"until", required_argument, NULL, ARG_UNTIL},
    {"show", required_argument, NULL, ARG_SHOW},   CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_backtest = {
    .name = "backtest",
    .summary = "count the past records a proposed trigger rule would have caught",
    .synopsis = "backtest --when EXPR [--model ID[@VER]] [--since T] [--until T] [--show N]",
    .description =
        "Evaluates a trigger expression (the `when` of a [trigger NAME] section; the\n"
        "grammar is in daemon/trigger/trigger.h and evidentd.conf.example) on every\n"
        "record in the vault, with the daemon's own code, and reports per model version\n"
        "how many records it would have caught and the seqs of the first few. Use it\n"
        "before adding a rule: a rule that catches 30% of a busy model's records will\n"
        "flood the audit workers.\n"
        "Feature names are bound per model version through its manifest; a feature a\n"
        "manifest lacks reads as missing. Pruned records are skipped.\n"
        "With --json, one object per model version: model_id, model_version, records,\n"
        "caught, share, first_seqs. Times T as in 'evidentctl log --help'.",
    .options = "--when EXPR\n"
               "    The trigger expression (required).\n"
               "--model ID[@VER]\n"
               "    Only records of this model (any version without @VER).\n"
               "--since T, --until T\n"
               "    Only records appended at or after / at or before time T.\n"
               "--show N\n"
               "    How many caught seqs to list per model version (default 5).",
    .exit_status = "0  success\n"
                   "2  usage error (a bad expression: the message gives its column)\n"
                   "3  the vault could not be read",
    .examples = "evidentctl backtest --when 'context.amount > 1e6 && decision == \"sell\"'\n"
                "evidentctl backtest --when 'abs(feature.vol - feature.vol_ma) > 3' \\\n"
                "    --model fx-trader --since -30d --json",
    .long_options = options,
    .option = option,
    .run = run,
};
