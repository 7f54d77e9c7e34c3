/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl export: record entries for analysis, as JSON Lines or as CSV with one column per
 * feature (by name), score, context key and label key. CSV needs one feature schema: a first
 * pass over the selected records finds the columns and refuses a mix of schemas. With
 * --subject ID only the records of that data subject (found through the subject index): the
 * copy an access request asks for.
 * export --tiles DIR: the whole log up to the latest signed checkpoint as C2SP tlog-tiles
 * (vault_tiles_export), for a static web server or a copy off the host. */
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
	ARG_TILES,
	ARG_RECHECK,
	ARG_SUBJECT,
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
static const char *arg_tiles;
static const char *arg_subject;
static bool arg_recheck, arg_records; /* arg_records: an option of the record export given */

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	arg_records |= opt == ARG_FORMAT || opt == ARG_MODEL || opt == ARG_SINCE ||
	               opt == ARG_UNTIL || opt == 'o' || opt == ARG_SUBJECT;
	switch (opt) {
	case ARG_SUBJECT:
		arg_subject = arg;
		return ctl_subject_check("--subject", arg);
	case ARG_TILES:
		arg_tiles = arg;
		return 0;
	case ARG_RECHECK:
		arg_recheck = true;
		return 0;
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

/* Calls entry_fn for the selected entries [x->start, x->end): all of them, or with --subject
 * those of the data subject. */
static int scan(struct export *x, struct ctl_vault *cv)
{
	uint64_t seq = x->start;
	int rc;

	if (!arg_subject)
		return ctl_scan(cv->r, x->start, x->end, entry_fn, x);
	while ((rc = vault_subject_next(cv->r, arg_subject, seq, &seq)) == 0 && seq < x->end) {
		struct vault_entry e;
		rc = vault_get(cv->r, seq, &e);
		if (rc == 0)
			rc = entry_fn(x, &e);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		seq++;
	}
	return rc == -ENOENT || rc == 0 ? 0 : rc;
}

static int csv_columns(struct export *x, struct ctl_vault *cv)
{
	int rc;

	x->pass = PASS_SURVEY;
	rc = scan(x, cv);
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
	rc = scan(x, cv);
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
	/* Records name models registered before them, possibly before --since; a subject's
	 * records are read without the entries between them, models among them. */
	if (rc == 0)
		rc = ctl_models_load(x->models, cv->r, 0, arg_subject ? x->end : x->start);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read entries", rc);
	if (arg_format == FORMAT_CSV) {
		rc = csv_columns(x, cv);
		if (rc)
			return rc;
	}
	return write_all(x, cv);
}

/* ------------------------------------------------------------------ C2SP tlog-tiles */

/* n with thousands separators ("1,234,567"). Returns buf. */
static char *grouped(uint64_t n, char buf[32])
{
	char digits[24];
	int len = snprintf(digits, sizeof(digits), "%" PRIu64, n), o = 0;

	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* Why vault_tiles_export refused or failed, in words; returns the exit status. */
static int tiles_error(const struct ctl_vault *cv, const struct vault_checkpoint *cp, int rc)
{
	_cleanup_(freep) char *path = NULL, *text = NULL;
	struct vault_checkpoint there;
	size_t len;

	switch (rc) {
	case -EEXIST:
		ctl_error("%s: holds the tiles of another log (its checkpoint's origin is not %s); "
		          "nothing written",
		          arg_tiles, cp->origin);
		return CTL_EXIT_PROBLEM;
	case -EALREADY:
		ctl_error(
		    "%s: holds a checkpoint of this log larger than the vault's latest (%" PRIu64
		    "); an export never goes back: nothing written",
		    arg_tiles, cp->size);
		return CTL_EXIT_PROBLEM;
	case -EUCLEAN:
		ctl_error(
		    "%s: its checkpoint has this log's origin but the vault does not produce its "
		    "root (a fork), or the vault's stored hashes contradict its entries (run "
		    "evidentctl verify); the checkpoint there is unchanged",
		    arg_tiles);
		return CTL_EXIT_PROBLEM;
	case -EBUSY:
		ctl_error("%s: another export is writing to it", arg_tiles);
		return CTL_EXIT_UNREADABLE;
	case -EINVAL:
		ctl_error("%s: is the vault's folder: export the tiles to a folder of their own",
		          arg_tiles);
		return CTL_EXIT_USAGE;
	case -EBADMSG:
		/* the folder's checkpoint, or an entry of the vault */
		if (asprintf(&path, "%s/checkpoint", arg_tiles) >= 0 &&
		    ctl_read_file(path, VAULT_NOTE_MAX, &text, &len) == 0 &&
		    vault_checkpoint_parse(text, len, NULL, &there) < 0) {
			ctl_error("%s: not a checkpoint note; nothing written", path);
			return CTL_EXIT_PROBLEM;
		}
		return ctl_vault_error(cv, "cannot export the tiles", rc);
	}
	ctl_error("%s: cannot write the tiles: %s (the checkpoint there is unchanged)", arg_tiles,
	          ctl_strerror(rc));
	return CTL_EXIT_UNREADABLE;
}

static int tiles_print(const struct ctl *c, const struct vault_checkpoint *cp,
                       const struct vault_tiles_stats *st)
{
	char a[32], b[32];

	if (c->json) {
		_cleanup_(json_decrefp) json_t *obj = json_object();
		if (!obj)
			return CTL_EXIT_UNREADABLE;
		ctl_json_set(obj, "dir", ctl_json_string(arg_tiles));
		ctl_json_set(obj, "origin", ctl_json_string(cp->origin));
		ctl_json_set(obj, "size", ctl_json_u64(st->size));
		ctl_json_set(obj, "root", ctl_json_hex(cp->root, VAULT_HASH_LEN));
		ctl_json_set(obj, "prev_size", ctl_json_u64(st->prev_size));
		ctl_json_set(obj, "files_written", ctl_json_u64(st->files_written));
		ctl_json_set(obj, "files_unchanged", ctl_json_u64(st->files_unchanged));
		ctl_json_set(obj, "entries_written", ctl_json_u64(st->entries_written));
		ctl_json_set(obj, "bytes_written", ctl_json_u64(st->bytes_written));
		ctl_json_set(obj, "partials_removed", ctl_json_u64(st->partials_removed));
		return ctl_json_print(stdout, obj, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	}
	printf("tiles: %s entr%s up to checkpoint %" PRIu64 ", %" PRIu64
	       " file%s written (%s), %" PRIu64 " unchanged",
	       grouped(st->size, a), st->size == 1 ? "y" : "ies", st->size, st->files_written,
	       st->files_written == 1 ? "" : "s", ctl_bytes_format(st->bytes_written, b),
	       st->files_unchanged);
	if (st->partials_removed)
		printf(", %" PRIu64 " superseded partial%s removed", st->partials_removed,
		       st->partials_removed == 1 ? "" : "s");
	putchar('\n');
	return 0;
}

static int export_tiles(const struct ctl *c, struct ctl_vault *cv)
{
	_cleanup_(freep) char *note = NULL;
	struct vault_checkpoint cp;
	struct vault_tiles_stats st;
	uint8_t root[VAULT_HASH_LEN];
	int rc;

	rc = ctl_latest_signed_checkpoint(cv, ": nothing to export", &note, &cp);
	if (rc)
		return rc;
	rc = vault_root(cv->r, cp.size, root);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot compute the root", rc);
	if (memcmp(root, cp.root, VAULT_HASH_LEN) != 0) {
		ctl_error("%s: the vault does not produce the root of its latest checkpoint (run "
		          "evidentctl verify)",
		          cv->dir);
		return CTL_EXIT_PROBLEM;
	}
	rc = vault_tiles_export(cv->r, note, strlen(note), arg_tiles,
	                        arg_recheck ? VAULT_TILES_RECHECK : 0, &st);
	if (rc < 0)
		return tiles_error(cv, &cp, rc);
	return tiles_print(c, &cp, &st);
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct export x = {0};
	struct ctl_vault cv;
	int rc;

	(void)argc;
	(void)argv;
	if (arg_recheck && !arg_tiles)
		return ctl_usage_error("export: --recheck goes with --tiles DIR");
	if (arg_tiles) {
		if (arg_records)
			return ctl_usage_error(
			    "export: --tiles exports the whole signed log: it takes "
			    "no --format, --model, --since, --until, --subject or -o");
		rc = ctl_vault_open(c, &cv);
		if (rc)
			return rc;
		rc = export_tiles(c, &cv);
		ctl_vault_close(&cv);
		return rc;
	}
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
    {"format", required_argument, NULL, ARG_FORMAT},
    {"model", required_argument, NULL, ARG_MODEL},
    {"since", required_argument, NULL, ARG_SINCE},
    {"until", required_argument, NULL, ARG_UNTIL},
    {"output", required_argument, NULL, 'o'},
    {"tiles", required_argument, NULL, ARG_TILES},
    {"recheck", no_argument, NULL, ARG_RECHECK},
    {"subject", required_argument, NULL, ARG_SUBJECT},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_export = {
    .name = "export",
    .summary = "export records for analysis (JSON Lines or CSV), or the log as C2SP tiles",
    .synopsis = "export --format jsonl|csv [--model ID[@VER]] [--since T] [--until T] "
                "[--subject ID] [-o FILE]\n"
                "       evidentctl [--vault DIR] [--json] export --tiles DIR [--recheck]",
    .description =
        "Writes the record entries, oldest first.\n"
        "jsonl: one object per record: seq, timestamp (the vault's), model_id,\n"
        "model_version, request_id, client, features (by name, null when missing),\n"
        "scores, decision, context, labels, trace_id, subject (when the record has one),\n"
        "leaf_hash.\n"
        "csv (RFC 4180, CRLF line ends): a header line, then one row per record with\n"
        "seq, timestamp, model_id, model_version, request_id, decision, score_0..score_K,\n"
        "one column per feature named as in the manifest, one column context.KEY per\n"
        "context key and label.KEY per label key seen in the selected records (sorted).\n"
        "Missing values are empty. The columns need one feature schema: when the\n"
        "selected records come from models with different features, select one with\n"
        "--model (exit status 2 otherwise). Pruned records are left out.\n"
        "--subject ID selects the records of data subject ID (Record.subject, through the\n"
        "vault's subject index): the copy of their data a GDPR Art. 15 access request asks\n"
        "for ('evidentctl subject ID' lists every entry of the subject, pruned ones\n"
        "included, with what became of each). A subject without records exports nothing.\n"
        "--json alone means --format jsonl.\n"
        "With -o the file is written to a temporary name and renamed when complete; a\n"
        "progress bar is drawn on standard error when it is a terminal.\n"
        "Times T as in 'evidentctl log --help'.\n"
        "\n"
        "--tiles DIR writes the log up to the latest signed checkpoint as a C2SP\n"
        "tlog-tiles folder (vault/FORMAT.md §9) that any static web server can serve and\n"
        "any tlog-tiles client can check: hash tiles tile/L/N[.p/W] (height 8), entry\n"
        "bundles tile/entries/N[.p/W] (each entry the entry's 91-byte leaf, so it hashes to\n"
        "its level-0 hash) and DIR/checkpoint, the signed note verbatim, written last.\n"
        "Each file goes through a temporary name, fsync and rename, so a reader never sees\n"
        "a checkpoint whose tiles are missing. Run it again to follow the log: full tiles\n"
        "the folder's checkpoint covers are kept as they are, only the new ones and the\n"
        "right edge's partial tiles are written, and the partial tiles of a tile that is\n"
        "now full are deleted. DIR (created if missing) is refused when its checkpoint is\n"
        "of another log, larger than the vault's, or one the vault does not produce (a\n"
        "fork): an export never rewrites or rolls back a published log. The vault is only\n"
        "read. Prints one line: entries, files written and unchanged; with --json: dir,\n"
        "origin, size, root, prev_size, files_written, files_unchanged, entries_written,\n"
        "bytes_written, partials_removed.",
    .options = "--format jsonl|csv\n"
               "    Output format (required, unless --tiles).\n"
               "--model ID[@VER]\n"
               "    Only records of this model (any version without @VER).\n"
               "--since T, --until T\n"
               "    Only records appended at or after / at or before time T.\n"
               "--subject ID\n"
               "    Only records of data subject ID.\n"
               "-o, --output FILE\n"
               "    Write to FILE (atomically) instead of standard output.\n"
               "--tiles DIR\n"
               "    Export the signed log as C2SP tlog-tiles into DIR instead.\n"
               "--recheck\n"
               "    With --tiles: read back every full tile the folder's checkpoint covers and\n"
               "    rewrite those missing or different (repairs a damaged folder).",
    .exit_status = "0  success\n"
                   "1  --tiles: the vault has no checkpoint validly signed by its key, or DIR\n"
                   "   holds another log, a fork or a larger checkpoint (nothing written)\n"
                   "2  usage error, or csv asked for records of several feature schemas\n"
                   "3  the vault could not be read or the output file (or a tile) not written",
    .examples = "evidentctl export --format jsonl --since -1d > day.jsonl\n"
                "evidentctl export --format csv --model credit-risk@1.0.0 -o records.csv\n"
                "evidentctl export --subject c-88412 --json > c-88412.jsonl\n"
                "evidentctl export --tiles /srv/www/log",
    .short_options = "o:",
    .long_options = options,
    .option = option,
    .run = run,
};
