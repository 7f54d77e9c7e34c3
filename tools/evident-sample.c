/* SPDX-License-Identifier: Apache-2.0 */
/* evident-sample: writes a demo vault (or adds to one) as evidentd would: a lifecycle START
 * entry, the registration of a linear credit-risk model (artifact blob, artifact entry, model
 * entry), N decision records with deterministic pseudo-random features (some about a data
 * subject), optionally an incident with its audit (the daemon's audit library on the records
 * before it), legal holds and releases, prunes, a subject's erasure, and a signed checkpoint.
 * For the README demo and the tests; never on a production vault. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "ctl.h"
#include "entry_key.h"
#include "evident_version.h"

#define PROG         "evident-sample"
#define CLIENT       "sample"
#define MODEL_ID     "credit-risk"
#define BASE_VERSION "1.0.0" /* the six-feature model; other versions add a seventh */
/* Records per vault_append (one transaction, one fsync each): large, so that a vault of ten
 * million records is written in minutes (tests/bench/scale-bench.sh); fewer when records are
 * large (--memo-bytes), so that a batch holds at most BATCH_BYTES of payloads. */
#define BATCH        20000
#define BATCH_BYTES  (64u << 20)
#define MAX_FEATURES 7
#define MISSING_RATE 0.02 /* share of records with a missing credit history */
#define LIST_MAX     64   /* --prune, --hold and --release options a run takes */
#define BACKGROUND   64   /* records before an --incident's record its audit uses */
#define HOLDER       "legal@example.com"

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
	ARG_LEAF_VERSION,
	ARG_SUBJECT,
	ARG_SUBJECT_EVERY,
	ARG_INCIDENT,
	ARG_HOLD,
	ARG_HOLD_INCIDENT,
	ARG_HOLD_ID,
	ARG_RELEASE,
	ARG_PRUNE_REASON,
	ARG_ERASE,
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
	uint64_t memo_bytes; /* a "memo" label of this many bytes on every record; 0: none */
	bool checkpoint;
	int n_features;        /* of version */
	uint64_t leaf_version; /* 0: the vault library's */
	const char *subject;   /* of every subject_every-th record; NULL: none */
	uint64_t subject_every;
	uint64_t incident; /* the record an incident is opened for; UINT64_MAX: none */
	uint64_t prune[LIST_MAX], hold[LIST_MAX], hold_incident[LIST_MAX];
	size_t n_prune, n_hold, n_hold_incident;
	const char *release[LIST_MAX];
	size_t n_release;
	const char *hold_id; /* of the first hold; NULL: hold-SEQ, incident-ID */
	const char *prune_reason;
	const char *erase; /* a subject; NULL: none */
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

/* Appends one entry about data subject subject (or NULL), as append_one. */
static int append_about(struct vault *v, uint16_t type, const ProtobufCMessage *msg,
                        const char *dedup_client, const char *dedup_request, const char *subject,
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
	    .subject = subject,
	};
	int rc;

	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(msg, buf);
	rc = vault_append(v, &in, 1, ret);
	free(buf);
	return rc;
}

/* Appends one entry; dedup_client/dedup_request as the daemon keys them (entry_key.h), or
 * NULL. */
static int append_one(struct vault *v, uint16_t type, const ProtobufCMessage *msg,
                      const char *dedup_client, const char *dedup_request,
                      struct vault_append_result *ret)
{
	return append_about(v, type, msg, dedup_client, dedup_request, NULL, ret);
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

/* The peer every record names: asked once (system calls are most of a record's cost on a VM). */
static struct {
	uint32_t uid, gid, pid;
} peer;

/* Packs record i of this run into a malloc'd payload. */
static uint8_t *pack_record(const struct options *o, uint64_t *rng, const char *request_id,
                            const char *subject, size_t *ret_len)
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
	rec.subject = (char *)subject;
	re.client_name = CLIENT;
	re.has_received_unix_ns = true;
	re.received_unix_ns = (int64_t)now;
	re.record = &rec;
	re.has_peer_uid = re.has_peer_gid = re.has_peer_pid = true;
	re.peer_uid = peer.uid;
	re.peer_gid = peer.gid;
	re.peer_pid = peer.pid;
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
		const char *subject = o->subject && i % o->subject_every == 0 ? o->subject : NULL;
		snprintf(req, sizeof(b->request[0]), "req-%" PRIu64 "-%" PRIu64, run, i);
		b->in[b->n] = (struct vault_entry_in){.type = VAULT_ENTRY_RECORD,
		                                      .dedup_client = CLIENT,
		                                      .dedup_request = req,
		                                      .subject = subject};
		b->in[b->n].payload = pack_record(o, rng, req, subject, &len);
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

	peer.uid = (uint32_t)getuid();
	peer.gid = (uint32_t)getgid();
	peer.pid = (uint32_t)getpid();

	if (!b)
		return -ENOMEM;
	uint64_t per = BATCH_BYTES / (o->memo_bytes + 512);

	if (per > BATCH)
		per = BATCH;
	if (per == 0)
		per = 1;
	for (uint64_t i = 0; i < o->records && rc == 0; i += per) {
		uint64_t to = o->records - i > per ? i + per : o->records;
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

/* ------------------------------------------------------------------ incidents and audits */

/* The rows and seqs of the up to BACKGROUND records before seq that still have their
 * payload and no missing value (the linear attribution refuses those), oldest first: what
 * the daemon's reservoir of recent records would hold. */
static bool complete(const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isnan(x[i]))
			return false;
	return true;
}

static int background(struct vault_reader *r, uint64_t seq, int n_features, double *rows,
                      uint64_t *seqs, size_t *ret_n)
{
	size_t n = 0;

	for (uint64_t s = seq; s-- > 0 && n < BACKGROUND;) {
		struct vault_entry e;
		struct ctl_payload p;
		int rc = vault_get(r, s, &e);
		if (rc < 0)
			return rc;
		ctl_payload_decode(&e, &p);
		const Evident__Entry__V1__RecordEntry *re = ctl_payload_record(&p);
		if (re && re->record && re->record->n_features == (size_t)n_features &&
		    complete(re->record->features, re->record->n_features)) {
			memcpy(rows + n * (size_t)n_features, re->record->features,
			       (size_t)n_features * sizeof(double));
			seqs[n++] = s;
		}
		ctl_payload_deinit(&p);
	}
	/* oldest first */
	for (size_t i = 0; i < n / 2; i++) {
		double tmp[MAX_FEATURES];
		uint64_t t = seqs[i];
		double *a = rows + i * (size_t)n_features,
		       *b = rows + (n - 1 - i) * (size_t)n_features;
		memcpy(tmp, a, (size_t)n_features * sizeof(double));
		memcpy(a, b, (size_t)n_features * sizeof(double));
		memcpy(b, tmp, (size_t)n_features * sizeof(double));
		seqs[i] = seqs[n - 1 - i];
		seqs[n - 1 - i] = t;
	}
	*ret_n = n;
	return 0;
}

/* The audit of incident_seq on record re, as the daemon's workers run it: the linear
 * attribution and the flip test on the records before it, seeded with the incident's seq. */
static int audit(struct vault *v, struct vault_reader *r, const Evident__V1__ModelManifest *mf,
                 const Evident__Entry__V1__RecordEntry *re, uint64_t record_seq,
                 uint64_t incident_seq, const char *const *methods, size_t n_methods)
{
	Evident__Entry__V1__AuditEntry a = EVIDENT__ENTRY__V1__AUDIT_ENTRY__INIT;
	struct audit_model *am = NULL;
	struct vault_append_result res;
	double rows[BACKGROUND * MAX_FEATURES];
	uint64_t seqs[BACKGROUND];
	char err[AUDIT_ERR_MAX], *artifact = artifact_text((int)mf->n_features), *text = NULL;
	json_t *doc = NULL;
	enum audit_status status;
	size_t n = 0;
	int rc = artifact ? 0 : -ENOMEM;

	if (rc == 0 && audit_model_new(mf, artifact, strlen(artifact), &am, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": the audit's model: %s\n", err);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = background(r, record_seq, (int)mf->n_features, rows, seqs, &n);
	if (rc == 0) {
		struct audit_background bg = {
		    .source = "recent_records", .rows = rows, .n = n, .seqs = seqs};
		struct audit_request rq = {.incident_id = incident_seq,
		                           .record_seq = record_seq,
		                           .x = re->record->features,
		                           .scores = re->record->scores,
		                           .n_scores = re->record->n_scores,
		                           .methods = methods,
		                           .n_methods = n_methods,
		                           .seed = incident_seq,
		                           .review_below = 0.5,
		                           .decision = re->record->decision};
		rc = audit_run(am, &bg, &rq, &doc, &status);
	}
	if (rc == 0) {
		text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
		rc = text ? 0 : -ENOMEM;
	}
	if (rc == 0) {
		a.has_incident_seq = a.has_record_seq = a.has_status = true;
		a.incident_seq = incident_seq;
		a.record_seq = record_seq;
		a.status = (Evident__Entry__V1__AuditEntry__Status)status;
		a.document = text;
		a.software = PROG " " EVIDENT_VERSION;
		/* about the record's subject, as evidentd indexes it */
		rc = append_about(v, VAULT_ENTRY_AUDIT, &a.base, NULL, NULL, re->record->subject,
		                  &res);
	}
	if (rc == 0)
		printf("  seq %" PRIu64 "  audit of incident %" PRIu64 " (%s, %zu background "
		       "records)\n",
		       res.seq, incident_seq, audit_status_name(status), n);
	free(text);
	json_decref(doc);
	audit_model_free(am);
	free(artifact);
	return rc;
}

/* An incident for record seq (rule "sample-rule") and its audit. */
static int open_incident(struct vault *v, uint64_t seq)
{
	static const char *const methods[] = {"linear", "flip"};
	Evident__Entry__V1__IncidentEntry ie = EVIDENT__ENTRY__V1__INCIDENT_ENTRY__INIT;
	struct ctl_models *m = ctl_models_new();
	struct vault_reader *r = NULL;
	struct vault_append_result res;
	struct vault_entry e;
	struct ctl_payload p = {0};
	int rc = m ? vault_reader_begin(v, &r) : -ENOMEM;

	if (rc == 0)
		rc = vault_get(r, seq, &e);
	if (rc == 0)
		rc = ctl_models_load(m, r, 0, seq);
	if (rc == 0) {
		ctl_payload_decode(&e, &p);
		if (!ctl_payload_record(&p) || !ctl_payload_record(&p)->record ||
		    !ctl_models_for_record(m, ctl_payload_record(&p)->record)) {
			fprintf(stderr,
			        PROG ": --incident: entry %" PRIu64 " is not a record of a "
			             "registered model with its payload\n",
			        seq);
			rc = -EINVAL;
		}
	}
	if (rc == 0) {
		const Evident__Entry__V1__RecordEntry *re = ctl_payload_record(&p);
		ie.has_record_seq = ie.has_status = ie.has_review_below = true;
		ie.record_seq = seq;
		ie.trigger = "sample-rule";
		ie.when = "score >= 0";
		ie.status = EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__OPEN;
		ie.model_id = re->record->model_id;
		ie.model_version = re->record->model_version;
		ie.client_name = re->client_name;
		ie.request_id = re->record->request_id;
		ie.n_methods = sizeof(methods) / sizeof(methods[0]);
		ie.methods = (char **)methods;
		ie.review_below = 0.5;
		ie.has_fired_unix_ns = true;
		ie.fired_unix_ns = (int64_t)ctl_now_ns();
		rc = append_about(v, VAULT_ENTRY_INCIDENT, &ie.base, NULL, NULL,
		                  re->record->subject, &res);
	}
	if (rc == 0) {
		printf("  seq %" PRIu64 "  incident on record %" PRIu64 "\n", res.seq, seq);
		/* a snapshot that sees the incident entry */
		vault_reader_end(r);
		r = NULL;
		rc = vault_reader_begin(v, &r);
	}
	if (rc == 0)
		rc = vault_get(r, seq, &e);
	if (rc == 0) {
		ctl_payload_deinit(&p);
		ctl_payload_decode(&e, &p);
		rc = audit(v, r, ctl_models_for_record(m, ctl_payload_record(&p)->record),
		           ctl_payload_record(&p), seq, res.seq, methods,
		           sizeof(methods) / sizeof(methods[0]));
	}
	ctl_payload_deinit(&p);
	if (r)
		vault_reader_end(r);
	ctl_models_free(m);
	return rc;
}

/* ------------------------------------------------------------------ holds and erasure */

/* The entries an incident cites: the incident, its record and its audits. */
static int incident_seqs(struct vault_reader *r, uint64_t id, uint64_t *seqs, size_t *n)
{
	struct vault_entry e;
	struct ctl_payload p;
	uint64_t seq = id + 1;
	int rc = vault_get(r, id, &e);

	if (rc < 0)
		return rc;
	ctl_payload_decode(&e, &p);
	if (e.leaf.type != VAULT_ENTRY_INCIDENT || p.status != 0) {
		ctl_payload_deinit(&p);
		return -EINVAL;
	}
	seqs[0] = id;
	seqs[1] = ((const Evident__Entry__V1__IncidentEntry *)p.msg)->record_seq;
	*n = 2;
	ctl_payload_deinit(&p);
	while (*n < LIST_MAX && (rc = vault_next_of_type(r, VAULT_ENTRY_AUDIT, seq, &seq)) == 0) {
		rc = vault_get(r, seq, &e);
		if (rc < 0)
			return rc;
		ctl_payload_decode(&e, &p);
		if (p.status == 0 &&
		    ((const Evident__Entry__V1__AuditEntry *)p.msg)->incident_seq == id)
			seqs[(*n)++] = seq;
		ctl_payload_deinit(&p);
		seq++;
	}
	return rc == -ENOENT ? 0 : rc;
}

/* A hold on entry target, or on incident target (its entries resolved as the daemon would). */
static int place_hold(struct vault *v, const struct options *o, uint64_t run, uint64_t target,
                      bool incident, bool first)
{
	Evident__Entry__V1__HoldEntry he = EVIDENT__ENTRY__V1__HOLD_ENTRY__INIT;
	Evident__V1__Hold h = EVIDENT__V1__HOLD__INIT;
	struct vault_append_result res;
	struct vault_reader *r = NULL;
	uint64_t seqs[LIST_MAX] = {target};
	size_t n = 1;
	char id[64], request[64];
	int rc = 0;

	snprintf(id, sizeof(id), "%s-%" PRIu64, incident ? "incident" : "hold", target);
	snprintf(request, sizeof(request), "hold-%" PRIu64 "-%" PRIu64, run, target);
	if (incident) {
		rc = vault_reader_begin(v, &r);
		if (rc == 0)
			rc = incident_seqs(r, target, seqs, &n);
		if (r)
			vault_reader_end(r);
		if (rc < 0) {
			fprintf(stderr,
			        PROG ": --hold-incident: entry %" PRIu64 " is no incident\n",
			        target);
			return rc;
		}
	}
	h.request_id = request;
	h.hold_id = first && o->hold_id ? (char *)o->hold_id : id;
	h.has_seq = !incident;
	h.seq = target;
	h.has_incident_id = incident;
	h.incident_id = target;
	h.reason = "sample hold: litigation Doe v. Example, case 26-0001";
	h.holder = HOLDER;
	he.client_name = CLIENT;
	he.has_peer_uid = true;
	he.peer_uid = (uint32_t)getuid();
	he.hold = &h;
	he.n_seqs = n;
	he.seqs = seqs;
	/* keyed as evidentd keys admin requests (entry_key.h) */
	rc = append_one(v, VAULT_ENTRY_HOLD, &he.base, CLIENT, request, &res);
	if (rc == 0)
		printf("  seq %" PRIu64 "  hold %s on %s %" PRIu64 " (%zu entries)\n", res.seq,
		       h.hold_id, incident ? "incident" : "entry", target, n);
	return rc;
}

static int release_hold(struct vault *v, uint64_t run, const char *hold_id)
{
	Evident__Entry__V1__HoldEntry he = EVIDENT__ENTRY__V1__HOLD_ENTRY__INIT;
	Evident__V1__Release rl = EVIDENT__V1__RELEASE__INIT;
	struct vault_append_result res;
	char request[160];
	int rc;

	snprintf(request, sizeof(request), "release-%" PRIu64 "-%.100s", run, hold_id);
	rl.request_id = request;
	rl.hold_id = (char *)hold_id;
	rl.reason = "sample release: case closed";
	rl.holder = HOLDER;
	he.client_name = CLIENT;
	he.has_peer_uid = true;
	he.peer_uid = (uint32_t)getuid();
	he.release = &rl;
	rc = append_one(v, VAULT_ENTRY_RELEASE, &he.base, CLIENT, request, &res);
	if (rc == 0)
		printf("  seq %" PRIu64 "  release of hold %s\n", res.seq, hold_id);
	return rc;
}

static int prune_entry(struct vault *v, uint64_t seq, const char *reason)
{
	struct vault_append_result res;
	int rc = vault_prune(v, seq, reason, &res);

	if (rc == 0)
		printf("  seq %" PRIu64 "  prune of entry %" PRIu64 "\n", res.seq, seq);
	return rc;
}

/* Whether an active hold covers seq. */
static bool held(const struct ctl_holds *hs, uint64_t seq, const char **ret_id)
{
	for (size_t i = 0; i < hs->n; i++)
		if (!hs->v[i].released && ctl_hold_covers(&hs->v[i], seq)) {
			*ret_id = hs->v[i].hold_id;
			return true;
		}
	return false;
}

/* A data subject's erasure as the daemon does it: every payload of the subject that no active
 * hold covers is pruned (reason "erasure: ..."), then an erasure entry says what was done. */
static int erase_subject(struct vault *v, uint64_t run, const char *subject)
{
	Evident__Entry__V1__ErasureEntry ee = EVIDENT__ENTRY__V1__ERASURE_ENTRY__INIT;
	Evident__V1__Erase er = EVIDENT__V1__ERASE__INIT;
	struct ctl_holds hs = {0};
	struct vault_reader *r = NULL;
	struct vault_append_result res;
	uint64_t *todo = NULL, *kept = NULL, seq = 0, entries = 0, already = 0;
	const char **blocking = NULL;
	size_t n_todo = 0, n_kept = 0;
	char reason[256], request[64];
	int rc = vault_reader_begin(v, &r);

	/* how many entries the subject has, then what becomes of each */
	while (rc == 0 && (rc = vault_subject_next(r, subject, seq, &seq)) == 0) {
		entries++;
		seq++;
	}
	if (rc == -ENOENT) {
		todo = malloc((entries ? entries : 1) * sizeof(*todo));
		kept = malloc((entries ? entries : 1) * sizeof(*kept));
		blocking = malloc((entries ? entries : 1) * sizeof(*blocking));
		rc = todo && kept && blocking ? ctl_holds_load(r, vault_reader_size(r), &hs)
		                              : -ENOMEM;
	}
	seq = 0;
	while (rc == 0 && (rc = vault_subject_next(r, subject, seq, &seq)) == 0) {
		struct vault_entry e;
		const char *id;
		rc = vault_get(r, seq, &e);
		if (rc < 0)
			break;
		if (!e.payload) {
			already++;
		} else if (held(&hs, seq, &id)) {
			blocking[n_kept] = id;
			kept[n_kept++] = seq;
		} else {
			todo[n_todo++] = seq;
		}
		seq++;
	}
	if (rc == -ENOENT)
		rc = 0;
	if (r)
		vault_reader_end(r);
	snprintf(reason, sizeof(reason), "erasure: sample request for subject %s", subject);
	for (size_t i = 0; rc == 0 && i < n_todo; i++)
		rc = prune_entry(v, todo[i], reason);
	if (rc == 0) {
		snprintf(request, sizeof(request), "erase-%" PRIu64, run);
		er.request_id = request;
		er.subject = (char *)subject;
		er.reason = "sample erasure request (GDPR Art. 17)";
		er.requested_by = "dpo@example.com";
		ee.client_name = CLIENT;
		ee.has_peer_uid = ee.has_entries = ee.has_pruned = ee.has_already_pruned = true;
		ee.peer_uid = (uint32_t)getuid();
		ee.erase = &er;
		ee.entries = entries;
		ee.pruned = n_todo;
		ee.already_pruned = already;
		ee.n_held_seqs = n_kept;
		ee.held_seqs = kept;
		/* each blocking hold once */
		for (size_t i = 0; i < n_kept; i++) {
			bool seen = false;
			for (size_t k = 0; k < ee.n_blocking_holds; k++)
				seen |= !strcmp(blocking[k], blocking[i]);
			if (!seen)
				blocking[ee.n_blocking_holds++] = blocking[i];
		}
		ee.blocking_holds = (char **)blocking;
		rc = append_one(v, VAULT_ENTRY_ERASURE, &ee.base, CLIENT, request, &res);
	}
	if (rc == 0)
		printf("  seq %" PRIu64 "  erasure of subject %s: %zu pruned, %" PRIu64
		       " already pruned, %zu held\n",
		       res.seq, subject, n_todo, already, n_kept);
	ctl_holds_free(&hs);
	free(todo);
	free(kept);
	free(blocking);
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
	if (o->incident != UINT64_MAX && (rc = open_incident(v, o->incident)) < 0)
		return fail("opening the incident", rc);
	for (size_t i = 0; i < o->n_hold; i++)
		if ((rc = place_hold(v, o, info.size, o->hold[i], false, i == 0)) < 0)
			return fail("placing a hold", rc);
	for (size_t i = 0; i < o->n_hold_incident; i++)
		if ((rc = place_hold(v, o, info.size, o->hold_incident[i], true,
		                     !o->n_hold && i == 0)) < 0)
			return fail("placing a hold", rc);
	for (size_t i = 0; i < o->n_release; i++)
		if ((rc = release_hold(v, info.size, o->release[i])) < 0)
			return fail("releasing a hold", rc);
	for (size_t i = 0; i < o->n_prune; i++)
		if ((rc = prune_entry(v, o->prune[i], o->prune_reason)) < 0)
			return fail("pruning", rc);
	if (o->erase && (rc = erase_subject(v, info.size, o->erase)) < 0)
		return fail("erasing", rc);
	if (o->checkpoint && (rc = sign_checkpoint(v)) < 0)
		return fail("signing a checkpoint", rc);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: " PROG " --vault DIR [--records N] [--seed S] [--no-checkpoint] "
	        "[--origin NAME] [--model-version VER] [--memo-bytes N] [--leaf-version 1|2]\n"
	        "       [--subject ID] [--subject-every N] [--incident SEQ] [--hold SEQ]...\n"
	        "       [--hold-incident ID]... [--hold-id NAME] [--release HOLD_ID]...\n"
	        "       [--prune SEQ]... [--prune-reason TEXT] [--erase SUBJECT]\n"
	        "Writes demo entries into the vault DIR (created when missing): a lifecycle\n"
	        "START entry, the credit-risk@1.0.0 model (artifact and manifest; registered\n"
	        "once per vault), N records (default 1000, request ids req-RUN-I where RUN is\n"
	        "the vault size before this run), and a signed checkpoint unless\n"
	        "--no-checkpoint. Features are pseudo-random from --seed (default 1).\n"
	        "--model-version VER registers and uses credit-risk@VER instead of 1.0.0, with a\n"
	        "seventh feature (employment_years) for any other version.\n"
	        "--memo-bytes N adds a label \"memo\" of N bytes to every record (N over about\n"
	        "2000 makes each payload an LMDB overflow value; at most 1 MiB).\n"
	        "--leaf-version 1 writes this run's entries with version-1 leaves (SHA-256 of the\n"
	        "payload, no nonce) instead of the vault library's default.\n"
	        "--subject ID makes record I of this run about data subject ID when I is a\n"
	        "multiple of --subject-every N (default 1: every record).\n"
	        "Then, in this order:\n"
	        "--incident SEQ opens an incident (rule sample-rule, methods linear and flip) on\n"
	        "record SEQ and writes its audit, run by the daemon's audit library on the (up to\n"
	        "64) records before SEQ, seeded with the incident's seq, as evidentd would; both\n"
	        "are about the record's data subject.\n"
	        "--hold SEQ places a legal hold on entry SEQ; --hold-incident ID one on incident\n"
	        "ID (covering it, its record and its audits); hold_ids are hold-SEQ and\n"
	        "incident-ID, or --hold-id NAME for the first. --release HOLD_ID releases one.\n"
	        "--prune SEQ removes the payload of entry SEQ (a prune entry records it, with\n"
	        "--prune-reason TEXT, default \"sample retention policy\").\n"
	        "--erase SUBJECT prunes every payload of SUBJECT no active hold covers (reason\n"
	        "\"erasure: ...\") and records an erasure entry, as evidentd does for an Erase.\n"
	        "--prune, --hold, --hold-incident and --release may be given up to 64 times.\n");
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

/* Appends the SEQ of option opt to list. Returns 0 or 2 (printed). */
static int list_add(const char *opt, const char *s, uint64_t *list, size_t *n)
{
	if (*n == LIST_MAX) {
		fprintf(stderr, PROG ": %s: at most %d\n", opt, LIST_MAX);
		return 2;
	}
	if (parse_u64_arg(opt, s, &list[*n]))
		return 2;
	(*n)++;
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
	    {"leaf-version", required_argument, NULL, ARG_LEAF_VERSION},
	    {"subject", required_argument, NULL, ARG_SUBJECT},
	    {"subject-every", required_argument, NULL, ARG_SUBJECT_EVERY},
	    {"incident", required_argument, NULL, ARG_INCIDENT},
	    {"hold", required_argument, NULL, ARG_HOLD},
	    {"hold-incident", required_argument, NULL, ARG_HOLD_INCIDENT},
	    {"hold-id", required_argument, NULL, ARG_HOLD_ID},
	    {"release", required_argument, NULL, ARG_RELEASE},
	    {"prune-reason", required_argument, NULL, ARG_PRUNE_REASON},
	    {"erase", required_argument, NULL, ARG_ERASE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	*o = (struct options){.records = 1000,
	                      .seed = 1,
	                      .checkpoint = true,
	                      .incident = UINT64_MAX,
	                      .subject_every = 1,
	                      .prune_reason = "sample retention policy",
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
			if (list_add("--prune", optarg, o->prune, &o->n_prune))
				return 2;
			break;
		case ARG_HOLD:
			if (list_add("--hold", optarg, o->hold, &o->n_hold))
				return 2;
			break;
		case ARG_HOLD_INCIDENT:
			if (list_add("--hold-incident", optarg, o->hold_incident,
			             &o->n_hold_incident))
				return 2;
			break;
		case ARG_RELEASE:
			if (o->n_release == LIST_MAX) {
				fprintf(stderr, PROG ": --release: at most %d\n", LIST_MAX);
				return 2;
			}
			o->release[o->n_release++] = optarg;
			break;
		case ARG_HOLD_ID:
			o->hold_id = optarg;
			break;
		case ARG_PRUNE_REASON:
			o->prune_reason = optarg;
			break;
		case ARG_ERASE:
			o->erase = optarg;
			break;
		case ARG_SUBJECT:
			o->subject = optarg;
			break;
		case ARG_SUBJECT_EVERY:
			if (parse_u64_arg("--subject-every", optarg, &o->subject_every))
				return 2;
			if (!o->subject_every) {
				fprintf(stderr, PROG ": --subject-every: at least 1\n");
				return 2;
			}
			break;
		case ARG_INCIDENT:
			if (parse_u64_arg("--incident", optarg, &o->incident))
				return 2;
			break;
		case ARG_LEAF_VERSION:
			if (parse_u64_arg("--leaf-version", optarg, &o->leaf_version))
				return 2;
			if (o->leaf_version < 1 || o->leaf_version > VAULT_LEAF_VERSION) {
				fprintf(stderr, PROG ": --leaf-version: 1 to %d\n",
				        VAULT_LEAF_VERSION);
				return 2;
			}
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
	vo.leaf_version = (uint8_t)o.leaf_version;
	vo.model_key = entry_model_key_fn; /* the model index, as evidentd keeps it */
	rc = vault_open(o.vault, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, &vo, &v);
	if (rc < 0)
		return fail(o.vault, rc);
	rc = write_sample(v, &o);
	vault_close(v);
	return rc;
}
