/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl export: record entries for analysis, as JSON Lines or as CSV with one column per
 * feature (by name), score, context key and label key. CSV needs one feature schema: a first
 * pass over the selected records finds the columns and refuses a mix of schemas. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "ctl.h"

enum {
	ARG_FORMAT = CTL_OPT_VERB,
	ARG_MODEL,
	ARG_SINCE,
	ARG_UNTIL,
};

enum format {
	FORMAT_NONE,
	FORMAT_JSONL,
	FORMAT_CSV,
};

static enum format arg_format;
static struct ctl_model_filter arg_model;
static uint64_t arg_since, arg_until = UINT64_MAX;
static const char *arg_output;

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	switch (opt) {
	case ARG_FORMAT:
		if (strcmp(arg, "jsonl") == 0)
			arg_format = FORMAT_JSONL;
		else if (strcmp(arg, "csv") == 0)
			arg_format = FORMAT_CSV;
		else
			return ctl_usage_error("--format: expected jsonl or csv: '%s'", arg);
		return 0;
	case ARG_MODEL:
		return ctl_model_filter_parse(arg, &arg_model);
	case ARG_SINCE:
		return ctl_parse_time("--since", arg, &arg_since);
	case ARG_UNTIL:
		return ctl_parse_time("--until", arg, &arg_until);
	case 'o':
		arg_output = arg;
		return 0;
	}
	return CTL_EXIT_USAGE;
}

/* Sorted keys of a JSON object used as a set (borrowed from it). */
struct keys {
	json_t *set;
	const char **v;
	size_t n;
};

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int keys_sort(struct keys *k)
{
	const char *key;
	json_t *val;

	k->v = calloc(json_object_size(k->set) + 1, sizeof(*k->v));
	if (!k->v)
		return -ENOMEM;
	json_object_foreach(k->set, key, val) k->v[k->n++] = key;
	qsort(k->v, k->n, sizeof(*k->v), key_cmp);
	return 0;
}

enum pass {
	PASS_SURVEY, /* CSV: find the columns */
	PASS_WRITE,
};

struct export
{
	enum pass pass;
	struct ctl_models *models;
	FILE *f;
	struct ctl_progress progress;
	uint64_t start, end, count;
	/* CSV columns: the feature schema of the first record, whether others differ. */
	bool have_schema, mixed;
	const Evident__V1__ModelManifest *schema;
	size_t schema_n;
	size_t n_scores;
	struct keys context, labels;
};

static void export_deinit(struct export *x)
{
	ctl_models_free(x->models);
	json_decref(x->context.set);
	json_decref(x->labels.set);
	free(x->context.v);
	free(x->labels.v);
}

/* ------------------------------------------------------------------ CSV */

static int survey(struct export *x, const Evident__V1__Record *rec,
                  const Evident__V1__ModelManifest *mf)
{
	if (!x->have_schema) {
		x->have_schema = true;
		x->schema = mf;
		x->schema_n = rec->n_features;
	} else if (!ctl_same_features(x->schema, x->schema_n, mf, rec->n_features)) {
		x->mixed = true;
	}
	if (rec->n_scores > x->n_scores)
		x->n_scores = rec->n_scores;
	for (size_t i = 0; i < rec->n_context; i++)
		if (json_object_set_new(x->context.set,
		                        rec->context[i]->key ? rec->context[i]->key : "",
		                        json_true()) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < rec->n_labels; i++)
		if (json_object_set_new(x->labels.set,
		                        rec->labels[i]->key ? rec->labels[i]->key : "",
		                        json_true()) < 0)
			return -ENOMEM;
	return 0;
}

static size_t schema_width(const struct export *x)
{
	return x->schema ? x->schema->n_features : x->schema_n;
}

static void csv_prefixed(FILE *f, const char *prefix, const char *name)
{
	char *s;

	if (asprintf(&s, "%s%s", prefix, name) < 0)
		return;
	fputc(',', f);
	ctl_csv_field(f, s);
	free(s);
}

static void csv_header(const struct export *x)
{
	char buf[32];

	fputs("seq,timestamp,model_id,model_version,request_id,decision", x->f);
	for (size_t i = 0; i < x->n_scores; i++)
		fprintf(x->f, ",score_%zu", i);
	for (size_t i = 0; i < schema_width(x); i++)
		csv_prefixed(x->f, "", ctl_feature_name(x->schema, i, buf));
	for (size_t i = 0; i < x->context.n; i++)
		csv_prefixed(x->f, "context.", x->context.v[i]);
	for (size_t i = 0; i < x->labels.n; i++)
		csv_prefixed(x->f, "label.", x->labels.v[i]);
	fputs("\r\n", x->f);
}

static void csv_double(FILE *f, const double *v, size_t n, size_t i)
{
	char d[CTL_DOUBLE_MAX];

	fputc(',', f);
	if (i < n && !isnan(v[i]))
		fputs(ctl_double_format(v[i], d), f);
}

static void csv_text(FILE *f, const char *s)
{
	fputc(',', f);
	ctl_csv_field(f, s);
}

static const Evident__V1__Record__ContextEntry *context_of(const Evident__V1__Record *rec,
                                                           const char *key)
{
	for (size_t i = 0; i < rec->n_context; i++)
		if (strcmp(rec->context[i]->key ? rec->context[i]->key : "", key) == 0)
			return rec->context[i];
	return NULL;
}

static const char *label_of(const Evident__V1__Record *rec, const char *key)
{
	for (size_t i = 0; i < rec->n_labels; i++)
		if (strcmp(rec->labels[i]->key ? rec->labels[i]->key : "", key) == 0)
			return rec->labels[i]->value;
	return NULL;
}

static void csv_row(const struct export *x, const struct vault_entry *e,
                    const Evident__Entry__V1__RecordEntry *re)
{
	const Evident__V1__Record *rec = re->record;
	char t[CTL_TIME_MAX];

	fprintf(x->f, "%" PRIu64 ",%s", e->leaf.seq, ctl_time_format(e->leaf.timestamp_ns, t));
	csv_text(x->f, rec->model_id);
	csv_text(x->f, rec->model_version);
	csv_text(x->f, rec->request_id);
	csv_text(x->f, rec->decision);
	for (size_t i = 0; i < x->n_scores; i++)
		csv_double(x->f, rec->scores, rec->n_scores, i);
	for (size_t i = 0; i < schema_width(x); i++)
		csv_double(x->f, rec->features, rec->n_features, i);
	for (size_t k = 0; k < x->context.n; k++) {
		const Evident__V1__Record__ContextEntry *ce = context_of(rec, x->context.v[k]);
		csv_double(x->f, ce ? &ce->value : NULL, ce ? 1 : 0, 0);
	}
	for (size_t k = 0; k < x->labels.n; k++)
		csv_text(x->f, label_of(rec, x->labels.v[k]));
	fputs("\r\n", x->f);
}

/* ------------------------------------------------------------------ JSON Lines */

static int jsonl_row(const struct export *x, const struct vault_entry *e,
                     const Evident__Entry__V1__RecordEntry *re)
{
	_cleanup_(json_decrefp) json_t *obj = json_object();

	if (!obj)
		return -ENOMEM;
	ctl_json_set(obj, "seq", ctl_json_u64(e->leaf.seq));
	ctl_json_set(obj, "timestamp", ctl_json_time(e->leaf.timestamp_ns));
	ctl_record_json(re, ctl_models_for_record(x->models, re->record), obj);
	ctl_json_set(obj, "leaf_hash", ctl_json_hex(e->leaf_hash, VAULT_HASH_LEN));
	return ctl_json_print(x->f, obj, true);
}

/* ------------------------------------------------------------------ the passes */

static int record_fn(struct export *x, const struct vault_entry *e,
                     const Evident__Entry__V1__RecordEntry *re)
{
	const Evident__V1__Record *rec = re->record;

	if (!ctl_model_filter_match(&arg_model, rec->model_id, rec->model_version))
		return 0;
	if (x->pass == PASS_SURVEY)
		return survey(x, rec, ctl_models_for_record(x->models, rec));
	x->count++;
	if (arg_format == FORMAT_CSV) {
		csv_row(x, e, re);
		return 0;
	}
	return jsonl_row(x, e, re);
}

static int entry_fn(void *userdata, const struct vault_entry *e)
{
	struct export *x = userdata;
	const Evident__Entry__V1__RecordEntry *re;
	struct ctl_payload p;
	int rc = 0;

	if (e->leaf.timestamp_ns > arg_until)
		return 1;
	if (x->pass == PASS_WRITE)
		ctl_progress_update(&x->progress, e->leaf.seq + 1 - x->start, x->end - x->start);
	if (e->leaf.type == VAULT_ENTRY_MODEL)
		return ctl_models_add(x->models, e);
	if (e->leaf.type != VAULT_ENTRY_RECORD)
		return 0;
	ctl_payload_decode(e, &p);
	re = ctl_payload_record(&p);
	/* Pruned or undecodable records have nothing to export. */
	if (re && re->record)
		rc = record_fn(x, e, re);
	ctl_payload_deinit(&p);
	return rc;
}

static int csv_columns(struct export *x, struct ctl_vault *cv)
{
	int rc;

	x->pass = PASS_SURVEY;
	rc = ctl_scan(cv->r, x->start, x->end, entry_fn, x);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read entries", rc);
	if (x->mixed)
		return ctl_usage_error(arg_model.id
		                           ? "csv export needs --model ID@VERSION: the "
		                             "selected records use several feature schemas"
		                           : "csv export needs --model when the vault holds "
		                             "several feature schemas");
	if (keys_sort(&x->context) < 0 || keys_sort(&x->labels) < 0)
		return ctl_vault_error(cv, "cannot export", -ENOMEM);
	return 0;
}

static int write_all(struct export *x, struct ctl_vault *cv)
{
	struct ctl_out out;
	int rc;

	rc = ctl_out_open(&out, arg_output);
	if (rc)
		return rc;
	x->f = out.f;
	x->pass = PASS_WRITE;
	ctl_progress_init(&x->progress, out.path != NULL, "entries");
	if (arg_format == FORMAT_CSV)
		csv_header(x);
	rc = ctl_scan(cv->r, x->start, x->end, entry_fn, x);
	ctl_progress_end(&x->progress);
	if (rc < 0) {
		ctl_out_abort(&out);
		return ctl_vault_error(cv, "cannot read entries", rc);
	}
	rc = ctl_out_commit(&out);
	if (rc == 0 && arg_output && strcmp(arg_output, "-") != 0)
		printf("exported %" PRIu64 " records to %s\n", x->count, arg_output);
	return rc;
}

static int export(struct export *x, struct ctl_vault *cv)
{
	uint64_t seq;
	int rc = 0;

	x->end = vault_reader_size(cv->r);
	if (arg_since) {
		rc = vault_seek_time(cv->r, arg_since, &seq);
		x->start = seq;
	}
	/* Records name models registered before them, possibly before --since. */
	if (rc == 0)
		rc = ctl_models_load(x->models, cv->r, 0, x->start);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read entries", rc);
	if (arg_format == FORMAT_CSV) {
		rc = csv_columns(x, cv);
		if (rc)
			return rc;
	}
	return write_all(x, cv);
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct export x = {0};
	struct ctl_vault cv;
	int rc;

	(void)argc;
	(void)argv;
	if (arg_format == FORMAT_NONE && c->json)
		arg_format = FORMAT_JSONL;
	if (arg_format == FORMAT_NONE)
		return ctl_usage_error("export: --format jsonl|csv is required");
	if (c->json && arg_format != FORMAT_JSONL)
		return ctl_usage_error("export: --json conflicts with --format csv");
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	x.models = ctl_models_new();
	x.context.set = json_object();
	x.labels.set = json_object();
	if (!x.models || !x.context.set || !x.labels.set)
		rc = ctl_vault_error(&cv, "cannot export", -ENOMEM);
	else
		rc = export(&x, &cv);
	export_deinit(&x);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {
    {"format", required_argument, NULL, ARG_FORMAT}, {"model", required_argument, NULL, ARG_MODEL},
    {"since", required_argument, NULL, ARG_SINCE},   {"until", required_argument, NULL, ARG_UNTIL},
    {"output", required_argument, NULL, 'o'},        CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_export = {
    .name = "export",
    .summary = "export records for analysis (JSON Lines or CSV)",
    .synopsis = "export --format jsonl|csv [--model ID[@VER]] [--since T] [--until T] "
                "[-o FILE]",
    .description =
        "Writes the record entries, oldest first.\n"
        "jsonl: one object per record: seq, timestamp (the vault's), model_id,\n"
        "model_version, request_id, client, features (by name, null when missing),\n"
        "scores, decision, context, labels, trace_id, leaf_hash.\n"
        "csv (RFC 4180, CRLF line ends): a header line, then one row per record with\n"
        "seq, timestamp, model_id, model_version, request_id, decision, score_0..score_K,\n"
        "one column per feature named as in the manifest, one column context.KEY per\n"
        "context key and label.KEY per label key seen in the selected records (sorted).\n"
        "Missing values are empty. The columns need one feature schema: when the\n"
        "selected records come from models with different features, select one with\n"
        "--model (exit status 2 otherwise). Pruned records are left out.\n"
        "--json alone means --format jsonl.\n"
        "With -o the file is written to a temporary name and renamed when complete; a\n"
        "progress bar is drawn on standard error when it is a terminal.\n"
        "Times T as in 'evidentctl log --help'.",
    .options = "--format jsonl|csv\n"
               "    Output format (required).\n"
               "--model ID[@VER]\n"
               "    Only records of this model (any version without @VER).\n"
               "--since T, --until T\n"
               "    Only records appended at or after / at or before time T.\n"
               "-o, --output FILE\n"
               "    Write to FILE (atomically) instead of standard output.",
    .exit_status = "0  success\n"
                   "2  usage error, or csv asked for records of several feature schemas\n"
                   "3  the vault could not be read or the output file not written",
    .examples = "evidentctl export --format jsonl --since -1d > day.jsonl\n"
                "evidentctl export --format csv --model credit-risk@1.0.0 -o records.csv",
    .short_options = "o:",
    .long_options = options,
    .option = option,
    .run = run,
};
