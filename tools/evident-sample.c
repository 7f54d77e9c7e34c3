/* SPDX-License-Identifier: Apache-2.0 */
/* evident-sample: writes a demo vault (or adds to one) as evidentd would: a lifecycle START
 * entry, the registration of a linear credit-risk model (artifact blob, artifact entry, model
 * entry), N decision records with deterministic pseudo-random features, optionally a prune,
 * and a signed checkpoint. For the README demo and the tests; never on a production vault. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "entry_key.h"
#include "evident_version.h"

#define PROG         "evident-sample"
#define CLIENT       "sample"
#define MODEL_ID     "credit-risk"
#define BASE_VERSION "1.0.0" /* the six-feature model; other versions add a seventh */
#define BATCH        1000    /* records per vault_append (one fsync each) */
#define MAX_FEATURES 7
#define MISSING_RATE 0.02 /* share of records with a missing credit history */

enum {
	ARG_VAULT = 0x100,
	ARG_RECORDS,
	ARG_SEED,
	ARG_CHECKPOINT,
	ARG_NO_CHECKPOINT,
	ARG_ORIGIN,
	ARG_MODEL_VERSION,
	ARG_PRUNE,
	ARG_MEMO_BYTES,
};

/* The demo model: a logistic regression on raw feature values (linear-json artifact). */
static const struct {
	const char *name, *unit, *description;
	double min, max; /* training range */
	double coef;
	bool protected_;
} model_features[MAX_FEATURES] = {
    {"income", "EUR/year", "declared yearly income", 12000, 240000, -0.000012, false},
    {"age", "years", "applicant age", 18, 85, -0.015, true},
    {"debt_ratio", "", "monthly debt payments over monthly income", 0, 1.5, 2.2, false},
    {"credit_history_months", "months", "age of the oldest credit line", 0, 480, -0.003, false},
    {"open_accounts", "", "open credit accounts", 0, 25, 0.04, false},
    {"late_payments_12m", "", "late payments in the last 12 months", 0, 10, 0.45, false},
    {"employment_years", "years", "years with the current employer", 0, 45, -0.02, false},
};
static const double model_intercept = -0.4;
static const char *const desks[] = {"retail", "sme", "private"};

struct options {
	const char *vault, *origin, *version;
	uint64_t records, seed;
	uint64_t prune;      /* UINT64_MAX: none */
	uint64_t memo_bytes; /* a "memo" label of this many bytes on every record; 0: none */
	bool checkpoint;
	int n_features; /* of version */
};

static int fail(const char *what, int err)
{
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(-err));
	return 1;
}

/* ------------------------------------------------------------------ randomness */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* xorshift64*: deterministic for a seed, good enough for demo data. */
static double uniform(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (double)((*s * 0x2545f4914f6cdd1dull) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------------ the model */

static double logistic(double m)
{
	return 1.0 / (1.0 + exp(-m));
}

/* Missing values contribute nothing (the training mean was centred out). */
static double predict(const double *x, int n)
{
	double m = model_intercept;

	for (int i = 0; i < n; i++)
		if (!isnan(x[i]))
			m += model_features[i].coef * x[i];
	return logistic(m);
}

/* The linear-json artifact (daemon/explain/METHODS.md §2.4), numbers in shortest round-trip
 * form. */
static char *artifact_text(int n)
{
	char *s = NULL, d[CTL_DOUBLE_MAX];
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f, "{\"intercept\": %s, \"coef\": [", ctl_double_format(model_intercept, d));
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", ctl_double_format(model_features[i].coef, d));
	fputs("], \"link\": \"logit\", \"feature_names\": [", f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "", model_features[i].name);
	fputs("]}\n", f);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ------------------------------------------------------------------ appending */

/* Appends one entry; dedup_client/dedup_request as the daemon keys them (entry_key.h), or
 * NULL. */
static int append_one(struct vault *v, uint16_t type, const ProtobufCMessage *msg,
                      const char *dedup_client, const char *dedup_request,
                      struct vault_append_result *ret)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);
	struct vault_entry_in in = {
	    .type = type,
	    .payload = buf,
	    .payload_len = len,
	    .dedup_client = dedup_client,
	    .dedup_request = dedup_request,
	};
	int rc;

	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(msg, buf);
	rc = vault_append(v, &in, 1, ret);
	free(buf);
	return rc;
}

static int append_lifecycle(struct vault *v)
{
	Evident__Entry__V1__LifecycleEntry l = EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__INIT;
	struct vault_append_result res;
	char host[256] = "";
	int rc;

	gethostname(host, sizeof(host) - 1);
	l.has_event = true;
	l.event = EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__START;
	l.daemon_version = PROG " " EVIDENT_VERSION;
	l.has_pid = true;
	l.pid = (uint32_t)getpid();
	l.hostname = host;
	l.detail = "sample data generator";
	rc = append_one(v, VAULT_ENTRY_LIFECYCLE, &l.base, NULL, NULL, &res);
	if (rc == 0)
		printf("  seq %" PRIu64 "  lifecycle start\n", res.seq);
	return rc;
}

/* Stores the artifact blob and its artifact entry. */
static int register_artifact(struct vault *v, const struct options *o, const char *text,
                             uint8_t hash[VAULT_HASH_LEN])
{
	Evident__Entry__V1__ArtifactEntry a = EVIDENT__ENTRY__V1__ARTIFACT_ENTRY__INIT;
	struct vault_blob_writer *w = NULL;
	struct vault_append_result res;
	size_t len = strlen(text);
	char hex[CTL_HEX_MAX];
	int rc;

	rc = vault_sha256(text, len, hash);
	if (rc == 0)
		rc = vault_blob_begin(v, &w);
	if (rc < 0)
		return rc;
	rc = vault_blob_write(w, text, len);
	if (rc < 0) {
		vault_blob_abort(w);
		return rc;
	}
	rc = vault_blob_finish(w, hash, len, NULL);
	if (rc < 0)
		return rc;
	a.model_id = MODEL_ID;
	a.version = (char *)o->version;
	a.has_kind = true;
	a.kind = EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL;
	a.has_sha256 = true;
	a.sha256 = (ProtobufCBinaryData){VAULT_HASH_LEN, hash};
	a.has_size = true;
	a.size = len;
	rc = append_one(v, VAULT_ENTRY_ARTIFACT, &a.base, NULL, NULL, &res);
	if (rc == 0)
		printf("  seq %" PRIu64 "  artifact %s@%s (blob %s, %zu bytes)\n", res.seq,
		       MODEL_ID, o->version, ctl_hex(hash, VAULT_HASH_LEN, hex), len);
	return rc;
}

static int register_model(struct vault *v, const struct options *o, const char *artifact,
                          const uint8_t artifact_hash[VAULT_HASH_LEN])
{
	Evident__V1__Feature feats[MAX_FEATURES], *featp[MAX_FEATURES];
	Evident__V1__DecisionRule rule = EVIDENT__V1__DECISION_RULE__INIT;
	Evident__V1__Lineage lin = EVIDENT__V1__LINEAGE__INIT;
	Evident__V1__Lineage__HyperparametersEntry hp[3], *hpp[3];
	Evident__V1__ModelManifest mf = EVIDENT__V1__MODEL_MANIFEST__INIT;
	Evident__Entry__V1__ModelEntry me = EVIDENT__ENTRY__V1__MODEL_ENTRY__INIT;
	static const char *const hp_kv[3][2] = {
	    {"l2", "0.01"}, {"solver", "lbfgs"}, {"max_iter", "200"}};
	static char *output_names[] = {"p_default"};
	char art_hex[CTL_HEX_MAX], data_hex[CTL_HEX_MAX], dedup[128];
	uint8_t data_hash[VAULT_HASH_LEN];
	struct vault_append_result res;
	int rc;

	for (int i = 0; i < o->n_features; i++) {
		feats[i] = (Evident__V1__Feature)EVIDENT__V1__FEATURE__INIT;
		feats[i].name = (char *)model_features[i].name;
		feats[i].has_type = true;
		feats[i].type = EVIDENT__V1__FEATURE__TYPE__NUMERIC;
		feats[i].has_min = feats[i].has_max = true;
		feats[i].min = model_features[i].min;
		feats[i].max = model_features[i].max;
		feats[i].has_protected_ = true;
		feats[i].protected_ = model_features[i].protected_;
		feats[i].has_immutable = model_features[i].protected_;
		feats[i].immutable = model_features[i].protected_;
		feats[i].unit = *model_features[i].unit ? (char *)model_features[i].unit : NULL;
		feats[i].description = (char *)model_features[i].description;
		featp[i] = &feats[i];
	}
	rule.has_kind = rule.has_threshold = rule.has_output_index = true;
	rule.kind = EVIDENT__V1__DECISION_RULE__KIND__THRESHOLD;
	rule.threshold = 0.5;
	rule.label_below = "approve";
	rule.label_above = "decline";
	rule.output_index = 0;
	for (int i = 0; i < 3; i++) {
		hp[i] = (Evident__V1__Lineage__HyperparametersEntry)
		    EVIDENT__V1__LINEAGE__HYPERPARAMETERS_ENTRY__INIT;
		hp[i].key = (char *)hp_kv[i][0];
		hp[i].value = (char *)hp_kv[i][1];
		hpp[i] = &hp[i];
	}
	rc = vault_sha256("credit-risk training data 2026-01", 33, data_hash);
	if (rc < 0)
		return rc;
	lin.training_data_uri = "s3://evident-demo/credit/train-2026-01.parquet";
	lin.training_data_sha256 = ctl_hex(data_hash, VAULT_HASH_LEN, data_hex);
	lin.code_uri = "https://git.example.com/risk/credit-risk.git";
	lin.code_commit = "3f2c1a9e5b7d4c0f8a6e2b1d9c7f5a3e1b0d8c6a";
	lin.parent_version = strcmp(o->version, BASE_VERSION) ? BASE_VERSION : "0.9.0";
	lin.created_at = "2026-01-15T09:30:00Z";
	lin.created_by = "model-risk@example.com";
	lin.n_hyperparameters = 3;
	lin.hyperparameters = hpp;
	lin.notes = "Demo model written by evident-sample.";
	mf.model_id = MODEL_ID;
	mf.version = (char *)o->version;
	mf.framework = "linear-json";
	mf.output_space = "probability";
	mf.decision = &rule;
	mf.n_features = (size_t)o->n_features;
	mf.features = featp;
	mf.artifact_sha256 = ctl_hex(artifact_hash, VAULT_HASH_LEN, art_hex);
	mf.has_artifact_size = true;
	mf.artifact_size = strlen(artifact);
	mf.lineage = &lin;
	mf.n_output_names = 1;
	mf.output_names = output_names;
	me.client_name = CLIENT;
	me.manifest = &mf;
	snprintf(dedup, sizeof(dedup), "%s@%s", MODEL_ID, o->version);
	rc = append_one(v, VAULT_ENTRY_MODEL, &me.base, ENTRY_MODELS_CLIENT, dedup, &res);
	if (rc == 0)
		printf("  seq %" PRIu64 "  model %s@%s (%d features)%s\n", res.seq, MODEL_ID,
		       o->version, o->n_features, res.duplicate ? ", already registered" : "");
	return rc;
}

/* ------------------------------------------------------------------ records */

static void draw_features(uint64_t *rng, double x[MAX_FEATURES])
{
	double spike = uniform(rng);

	x[0] = round((15000 + 185000 * uniform(rng)) * 100) / 100;
	x[1] = floor(18 + 60 * uniform(rng));
	/* A few debt ratios beyond anything seen in training, for show's range markers. */
	x[2] = round((spike < 0.03 ? 1.5 + 0.5 * uniform(rng) : 1.4 * uniform(rng)) * 1000) / 1000;
	x[3] = uniform(rng) < MISSING_RATE ? NAN : floor(360 * uniform(rng));
	x[4] = floor(15 * uniform(rng));
	x[5] = floor(pow(uniform(rng), 3) * 8);
	x[6] = floor(30 * uniform(rng));
}

/* Packs record i of this run into a malloc'd payload. */
static uint8_t *pack_record(const struct options *o, uint64_t *rng, const char *request_id,
                            size_t *ret_len)
{
	Evident__Entry__V1__RecordEntry re = EVIDENT__ENTRY__V1__RECORD_ENTRY__INIT;
	Evident__V1__Record rec = EVIDENT__V1__RECORD__INIT;
	Evident__V1__Record__ContextEntry amount = EVIDENT__V1__RECORD__CONTEXT_ENTRY__INIT,
	                                  *ctx[1] = {&amount};
	Evident__V1__Record__LabelsEntry desk = EVIDENT__V1__RECORD__LABELS_ENTRY__INIT,
	                                 memo = EVIDENT__V1__RECORD__LABELS_ENTRY__INIT,
	                                 *labels[2] = {&desk, &memo};
	double x[MAX_FEATURES], score;
	char trace[17], *memo_text = NULL;
	uint64_t now = ctl_now_ns();
	uint8_t *buf;

	draw_features(rng, x);
	score = predict(x, o->n_features);
	snprintf(trace, sizeof(trace), "%016" PRIx64, splitmix64(*rng));
	amount.key = "amount";
	amount.has_value = true;
	amount.value = round((500 + 49500 * uniform(rng)) * 100) / 100;
	desk.key = "desk";
	desk.value = (char *)desks[(size_t)(uniform(rng) * 3) % 3];
	rec.model_id = MODEL_ID;
	rec.model_version = (char *)o->version;
	rec.request_id = (char *)request_id;
	rec.has_timestamp_unix_ns = true;
	rec.timestamp_unix_ns = (int64_t)now;
	rec.n_features = (size_t)o->n_features;
	rec.features = x;
	rec.n_scores = 1;
	rec.scores = &score;
	rec.decision = score >= 0.5 ? "decline" : "approve";
	rec.n_context = 1;
	rec.context = ctx;
	rec.n_labels = 1;
	rec.labels = labels;
	if (o->memo_bytes) {
		/* A long label makes the payload an LMDB overflow value (over ~2 KiB). */
		memo_text = malloc((size_t)o->memo_bytes + 1);
		if (!memo_text)
			return NULL;
		for (uint64_t i = 0; i < o->memo_bytes; i++)
			memo_text[i] = (char)('a' + (i + *rng) % 26);
		memo_text[o->memo_bytes] = '\0';
		memo.key = "memo";
		memo.value = memo_text;
		rec.n_labels = 2;
	}
	rec.trace_id = trace;
	re.client_name = CLIENT;
	re.has_received_unix_ns = true;
	re.received_unix_ns = (int64_t)now;
	re.record = &rec;
	re.has_peer_uid = re.has_peer_gid = re.has_peer_pid = true;
	re.peer_uid = (uint32_t)getuid();
	re.peer_gid = (uint32_t)getgid();
	re.peer_pid = (uint32_t)getpid();
	*ret_len = evident__entry__v1__record_entry__get_packed_size(&re);
	buf = malloc(*ret_len);
	if (buf)
		evident__entry__v1__record_entry__pack(&re, buf);
	free(memo_text);
	return buf;
}

struct batch {
	struct vault_entry_in in[BATCH];
	struct vault_append_result res[BATCH];
	char request[BATCH][48];
	size_t n;
};

static void batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free((void *)b->in[i].payload);
	b->n = 0;
}

/* Appends records [from, to) of this run (request ids "req-RUN-I") as one transaction. */
static int append_batch(struct vault *v, const struct options *o, struct batch *b, uint64_t *rng,
                        uint64_t run, uint64_t from, uint64_t to)
{
	int rc;

	for (uint64_t i = from; i < to; i++, b->n++) {
		char *req = b->request[b->n];
		size_t len = 0;
		snprintf(req, sizeof(b->request[0]), "req-%" PRIu64 "-%" PRIu64, run, i);
		b->in[b->n] = (struct vault_entry_in){
		    .type = VAULT_ENTRY_RECORD, .dedup_client = CLIENT, .dedup_request = req};
		b->in[b->n].payload = pack_record(o, rng, req, &len);
		b->in[b->n].payload_len = len;
		if (!b->in[b->n].payload) {
			batch_clear(b);
			return -ENOMEM;
		}
	}
	rc = vault_append(v, b->in, b->n, b->res);
	batch_clear(b);
	return rc;
}

static int append_records(struct vault *v, const struct options *o, uint64_t run)
{
	struct batch *b = calloc(1, sizeof(*b));
	uint64_t rng = splitmix64(o->seed) | 1, first = 0, last = 0;
	int rc = 0;

	if (!b)
		return -ENOMEM;
	for (uint64_t i = 0; i < o->records && rc == 0; i += BATCH) {
		uint64_t to = o->records - i > BATCH ? i + BATCH : o->records;
		rc = append_batch(v, o, b, &rng, run, i, to);
		if (rc == 0 && i == 0)
			first = b->res[0].seq;
		if (rc == 0)
			last = b->res[to - i - 1].seq;
	}
	free(b);
	if (rc == 0 && o->records)
		printf("  seq %" PRIu64 "..%" PRIu64 "  %" PRIu64 " records (req-%" PRIu64
		       "-0 .. req-%" PRIu64 "-%" PRIu64 ")\n",
		       first, last, o->records, run, run, o->records - 1);
	return rc;
}

static int prune_entry(struct vault *v, uint64_t seq)
{
	struct vault_append_result res;
	int rc = vault_prune(v, seq, "sample retention policy", &res);

	if (rc == 0)
		printf("  seq %" PRIu64 "  prune of entry %" PRIu64 "\n", res.seq, seq);
	return rc;
}

static int sign_checkpoint(struct vault *v)
{
	struct vault_checkpoint cp;
	char *note = NULL, hex[CTL_HEX_MAX];
	int rc;

	rc = vault_checkpoint_sign(v, &note);
	if (rc == 0)
		rc = vault_checkpoint_parse(note, strlen(note), NULL, &cp);
	if (rc == 0)
		printf("  checkpoint signed: size %" PRIu64 ", root %s\n", cp.size,
		       ctl_hex(cp.root, VAULT_HASH_LEN, hex));
	free(note);
	return rc;
}

static int write_sample(struct vault *v, const struct options *o)
{
	struct vault_info info;
	uint8_t hash[VAULT_HASH_LEN];
	char *artifact;
	int rc;

	rc = vault_info(v, &info);
	if (rc < 0)
		return fail("vault_info", rc);
	printf(PROG ": vault %s (origin %s, %" PRIu64 " entries before)\n", o->vault, info.origin,
	       info.size);
	rc = append_lifecycle(v);
	if (rc < 0)
		return fail("appending the lifecycle entry", rc);
	artifact = artifact_text(o->n_features);
	if (!artifact)
		return fail("artifact", -ENOMEM);
	/* A version registered by an earlier run is not registered again (as the daemon). */
	char key[128];
	uint64_t seq;
	snprintf(key, sizeof(key), "%s@%s", MODEL_ID, o->version);
	if (vault_dedup_lookup(v, ENTRY_MODELS_CLIENT, key, &seq) == 0) {
		printf("  model %s already registered (entry %" PRIu64 ")\n", key, seq);
		rc = 0;
	} else {
		rc = register_artifact(v, o, artifact, hash);
		if (rc == 0)
			rc = register_model(v, o, artifact, hash);
	}
	free(artifact);
	if (rc < 0)
		return fail("registering the model", rc);
	/* The size before this run makes request ids unique across runs. */
	rc = append_records(v, o, info.size);
	if (rc < 0)
		return fail("appending records", rc);
	if (o->prune != UINT64_MAX && (rc = prune_entry(v, o->prune)) < 0)
		return fail("pruning", rc);
	if (o->checkpoint && (rc = sign_checkpoint(v)) < 0)
		return fail("signing a checkpoint", rc);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " --vault DIR [--records N] [--seed S] [--no-checkpoint] "
	        "[--origin NAME] [--model-version VER] [--prune SEQ] [--memo-bytes N]\n"
	        "Writes demo entries into the vault DIR (created when missing): a lifecycle\n"
	        "START entry, the credit-risk@1.0.0 model (artifact and manifest; registered\n"
	        "once per vault), N records (default 1000, request ids req-RUN-I where RUN is\n"
	        "the vault size before this run), and a signed checkpoint unless\n"
	        "--no-checkpoint. Features are pseudo-random from --seed (default 1).\n"
	        "--model-version VER registers and uses credit-risk@VER instead of 1.0.0, with a\n"
	        "seventh feature (employment_years) for any other version.\n"
	        "--prune SEQ removes the payload of entry SEQ afterwards (a prune entry records "
	        "it).\n"
	        "--memo-bytes N adds a label \"memo\" of N bytes to every record (N over about\n"
	        "2000 makes each payload an LMDB overflow value; at most 1 MiB).\n");
}

static int parse_u64_arg(const char *opt, const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-') {
		fprintf(stderr, PROG ": %s: not a non-negative integer: '%s'\n", opt, s);
		return 2;
	}
	return 0;
}

/* Returns 0, 2 (usage error, printed) or -1 (help printed). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option options[] = {
	    {"vault", required_argument, NULL, ARG_VAULT},
	    {"records", required_argument, NULL, ARG_RECORDS},
	    {"seed", required_argument, NULL, ARG_SEED},
	    {"checkpoint", no_argument, NULL, ARG_CHECKPOINT},
	    {"no-checkpoint", no_argument, NULL, ARG_NO_CHECKPOINT},
	    {"origin", required_argument, NULL, ARG_ORIGIN},
	    {"model-version", required_argument, NULL, ARG_MODEL_VERSION},
	    {"prune", required_argument, NULL, ARG_PRUNE},
	    {"memo-bytes", required_argument, NULL, ARG_MEMO_BYTES},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	*o = (struct options){.records = 1000,
	                      .seed = 1,
	                      .checkpoint = true,
	                      .prune = UINT64_MAX,
	                      .version = BASE_VERSION};
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case ARG_VAULT:
			o->vault = optarg;
			break;
		case ARG_RECORDS:
			if (parse_u64_arg("--records", optarg, &o->records))
				return 2;
			break;
		case ARG_SEED:
			if (parse_u64_arg("--seed", optarg, &o->seed))
				return 2;
			break;
		case ARG_CHECKPOINT:
			o->checkpoint = true;
			break;
		case ARG_NO_CHECKPOINT:
			o->checkpoint = false;
			break;
		case ARG_ORIGIN:
			o->origin = optarg;
			break;
		case ARG_PRUNE:
			if (parse_u64_arg("--prune", optarg, &o->prune))
				return 2;
			break;
		case ARG_MEMO_BYTES:
			if (parse_u64_arg("--memo-bytes", optarg, &o->memo_bytes))
				return 2;
			if (o->memo_bytes > (1u << 20)) {
				fprintf(stderr, PROG ": --memo-bytes: at most 1048576\n");
				return 2;
			}
			break;
		case ARG_MODEL_VERSION:
			o->version = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !o->vault || !*o->version) {
		fprintf(stderr, PROG ": %s\n",
		        !o->vault     ? "--vault DIR is required"
		        : *o->version ? "unexpected argument"
		                      : "--model-version: empty");
		return 2;
	}
	o->n_features = strcmp(o->version, BASE_VERSION) == 0 ? MAX_FEATURES - 1 : MAX_FEATURES;
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct vault_options vo = {0};
	struct vault *v;
	int rc;

	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	vo.origin = o.origin;
	rc = vault_open(o.vault, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, &vo, &v);
	if (rc < 0)
		return fail(o.vault, rc);
	rc = write_sample(v, &o);
	vault_close(v);
	return rc;
}
