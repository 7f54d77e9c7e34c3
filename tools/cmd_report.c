/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl report ID / replay ID: an incident's evidence gathered from the vault (the
 * incident, its record, the model and lineage, the audit, the verdict, the reviews) with an
 * inclusion proof of every cited entry against the witnessed checkpoint (as prove cites it),
 * rendered as
 * HTML, Markdown or JSON; and the audit recomputed from the vault (daemon/audit/, the code
 * the daemon ran) and compared with what was recorded. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "ctl.h"
#include "entry.pb-c.h"
#include "evident_version.h"
#include "report_render.h"
#include "trigger.h"

enum { ARG_FORMAT = CTL_OPT_VERB, ARG_MODEL_VERSION, ARG_ORACLE };

static const char *arg_format = "html", *arg_output, *arg_model_version, *arg_oracle;

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	switch (opt) {
	case ARG_FORMAT:
		if (strcmp(arg, "html") && strcmp(arg, "md") && strcmp(arg, "json"))
			return ctl_usage_error("--format: expected html, md or json, not \"%s\"",
			                       arg);
		arg_format = arg;
		return 0;
	case 'o':
		arg_output = arg;
		return 0;
	case ARG_MODEL_VERSION:
		arg_model_version = arg;
		return 0;
	case ARG_ORACLE:
		arg_oracle = arg;
		return 0;
	}
	return CTL_EXIT_USAGE;
}

/* ------------------------------------------------------------------ gathering */

/* Everything an incident cites, decoded. */
struct evidence {
	uint64_t id;
	struct vault_entry ie_e, rec_e;
	struct ctl_payload ie_p, rec_p, audit_p, verdict_p;
	const Evident__Entry__V1__IncidentEntry *ie;
	const Evident__Entry__V1__RecordEntry *re; /* NULL when its payload was pruned */
	const Evident__V1__ModelManifest *mf;
	uint64_t model_seq;
	bool have_audit, have_verdict;
	/* no audit names the incident: audit entries after it whose payload was pruned since
	 * (one may have been its audit; a pruned payload no longer says) */
	uint64_t audits_pruned;
	uint64_t audit_seq, verdict_seq;
	const Evident__Entry__V1__AuditEntry *ae;
	const Evident__Entry__V1__VerdictEntry *ve;
	json_t *audit_doc; /* parsed ae->document */
	struct ctl_models *models;
};

static void evidence_deinit(struct evidence *ev)
{
	ctl_payload_deinit(&ev->ie_p);
	ctl_payload_deinit(&ev->rec_p);
	ctl_payload_deinit(&ev->audit_p);
	ctl_payload_deinit(&ev->verdict_p);
	json_decref(ev->audit_doc);
	ctl_models_free(ev->models);
}

/* The first entry of type at or after from whose payload matches; *p is decoded (deinit). */
typedef bool (*match_fn)(const ProtobufCMessage *m, uint64_t id);

struct finding {
	match_fn match;
	uint64_t id, seq;
	bool found;
};

static int first_match(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	uint64_t seq = e->leaf.seq;
	struct finding *f = ud;

	if (p->status != 0 || !f->match(p->msg, f->id))
		return 0;
	f->seq = seq;
	f->found = true;
	return 1;
}

static int find(struct ctl_vault *cv, int type, uint64_t from, match_fn match, uint64_t id,
                uint64_t *ret_seq, struct ctl_payload *p)
{
	struct finding f = {.match = match, .id = id};
	struct vault_entry e;
	int rc = ctl_scan_type(cv->r, type, from, UINT64_MAX, first_match, &f);

	if (rc < 0)
		return rc;
	if (!f.found)
		return -ENOENT;
	rc = vault_get(cv->r, f.seq, &e);
	if (rc < 0)
		return rc;
	ctl_payload_decode(&e, p);
	*ret_seq = f.seq;
	return 0;
}

static bool audit_of(const ProtobufCMessage *m, uint64_t id)
{
	return ((const Evident__Entry__V1__AuditEntry *)m)->incident_seq == id;
}

static bool verdict_of(const ProtobufCMessage *m, uint64_t id)
{
	return ((const Evident__Entry__V1__VerdictEntry *)m)->incident_seq == id;
}

int ctl_incident_entry(struct ctl_vault *cv, uint64_t id, int type, uint64_t *ret_seq,
                       struct ctl_payload *p)
{
	return find(cv, type, id, type == VAULT_ENTRY_AUDIT ? audit_of : verdict_of, id, ret_seq,
	            p);
}

static int count_pruned(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	(void)e;
	*(uint64_t *)ud += p->status == -ENODATA;
	return 0;
}

int ctl_incident_pruned_after(struct ctl_vault *cv, uint64_t id, int type, uint64_t *ret_n)
{
	*ret_n = 0;
	return ctl_scan_type(cv->r, type, id + 1, UINT64_MAX, count_pruned, ret_n);
}

/* Reads incident id and what it cites. Returns 0 or an exit status (printed). */
static int gather(struct ctl_vault *cv, uint64_t id, struct evidence *ev)
{
	int rc;

	memset(ev, 0, sizeof(*ev));
	ev->id = id;
	rc = vault_get(cv->r, id, &ev->ie_e);
	if (rc == -ENOENT)
		return ctl_no_entry(id, vault_reader_size(cv->r));
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the entry", rc);
	ctl_payload_decode(&ev->ie_e, &ev->ie_p);
	if (ev->ie_e.leaf.type == VAULT_ENTRY_INCIDENT && ev->ie_p.status == -ENODATA) {
		ctl_error("incident %" PRIu64 ": the payload of its entry was pruned (evidentctl "
		          "show %" PRIu64 " says when and why): the vault no longer holds what it "
		          "cited",
		          id, id);
		return CTL_EXIT_PROBLEM;
	}
	if (ev->ie_e.leaf.type != VAULT_ENTRY_INCIDENT || ev->ie_p.status < 0) {
		const char *type = vault_entry_type_name(ev->ie_e.leaf.type);
		ctl_error("entry %" PRIu64 " is %s %s entry, not an incident (evidentctl incidents "
		          "lists them)",
		          id, ev->ie_p.status < 0 ? "an unreadable" : "a", type ? type : "unknown");
		return CTL_EXIT_USAGE;
	}
	ev->ie = (const Evident__Entry__V1__IncidentEntry *)ev->ie_p.msg;
	ev->models = ctl_models_new();
	rc = ev->models ? ctl_models_load(ev->models, cv->r, 0, ev->ie->record_seq) : -ENOMEM;
	if (rc >= 0)
		rc = vault_get(cv->r, ev->ie->record_seq, &ev->rec_e);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the incident's record", rc);
	ctl_payload_decode(&ev->rec_e, &ev->rec_p);
	ev->re = ctl_payload_record(&ev->rec_p);
	/* A record pruned by retention or erasure still has its leaf, and the incident, the
	 * audit and the proofs are still evidence: the report says what is gone. */
	bool pruned = ev->rec_e.leaf.type == VAULT_ENTRY_RECORD && ev->rec_p.status == -ENODATA;
	if (!pruned && (!ev->re || !ev->re->record)) {
		ctl_error("%s: the record %" PRIu64 " of incident %" PRIu64 " cannot be read (%s)",
		          cv->dir, ev->ie->record_seq, id,
		          ctl_payload_problem(&ev->rec_p) ? ctl_payload_problem(&ev->rec_p)
		                                          : "not a record");
		return CTL_EXIT_PROBLEM;
	}
	if (pruned)
		ev->re = NULL;
	ev->mf = ev->re ? ctl_models_for_record(ev->models, ev->re->record)
	                : ctl_models_find(ev->models, ev->ie->model_id, ev->ie->model_version);
	for (size_t i = 0; ev->mf; i++) {
		uint64_t s;
		const Evident__V1__ModelManifest *m = ctl_models_at(ev->models, i, &s);
		if (!m)
			break;
		if (m == ev->mf)
			ev->model_seq = s;
	}
	rc = ctl_incident_entry(cv, id, VAULT_ENTRY_AUDIT, &ev->audit_seq, &ev->audit_p);
	if (rc == 0) {
		ev->have_audit = true;
		ev->ae = (const Evident__Entry__V1__AuditEntry *)ev->audit_p.msg;
		ev->audit_doc = ev->ae->document ? json_loads(ev->ae->document, 0, NULL) : NULL;
		if (!ev->audit_doc) {
			ctl_error("%s: audit entry %" PRIu64 " holds no readable document", cv->dir,
			          ev->audit_seq);
			return CTL_EXIT_PROBLEM;
		}
	} else if (rc == -ENOENT) {
		rc = ctl_incident_pruned_after(cv, id, VAULT_ENTRY_AUDIT, &ev->audits_pruned);
		if (rc < 0)
			return ctl_vault_error(cv, "cannot read audit entries", rc);
	} else {
		return ctl_vault_error(cv, "cannot read audit entries", rc);
	}
	rc = ctl_incident_entry(cv, id, VAULT_ENTRY_VERDICT, &ev->verdict_seq, &ev->verdict_p);
	if (rc == 0) {
		ev->have_verdict = true;
		ev->ve = (const Evident__Entry__V1__VerdictEntry *)ev->verdict_p.msg;
	} else if (rc != -ENOENT) {
		return ctl_vault_error(cv, "cannot read verdict entries", rc);
	}
	return 0;
}

/* ------------------------------------------------------------------ the document */

static json_t *jd(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* The record whose payload was pruned: what the incident says of it, and its features by
 * name with their training ranges but no values. */
static json_t *pruned_record_json(const struct evidence *ev)
{
	const Evident__V1__ModelManifest *mf = ev->mf;
	json_t *o = json_object(), *feats = json_array();

	json_object_set_new(o, "seq", ctl_json_u64(ev->ie->record_seq));
	json_object_set_new(o, "pruned", json_true());
	json_object_set_new(o, "client_name", ctl_json_string(ev->ie->client_name));
	json_object_set_new(o, "request_id", ctl_json_string(ev->ie->request_id));
	for (size_t j = 0; mf && j < mf->n_features; j++) {
		const Evident__V1__Feature *f = mf->features[j];
		json_t *e = json_object();
		char buf[32];
		json_object_set_new(e, "name", json_string(ctl_feature_name(mf, j, buf)));
		json_object_set_new(e, "value", json_null());
		json_object_set_new(e, "min", f->has_min ? jd(f->min) : json_null());
		json_object_set_new(e, "max", f->has_max ? jd(f->max) : json_null());
		if (f->unit && *f->unit)
			json_object_set_new(e, "unit", json_string(f->unit));
		json_array_append_new(feats, e);
	}
	json_object_set_new(o, "features", feats);
	return o;
}

static json_t *record_json(const struct evidence *ev)
{
	if (!ev->re)
		return pruned_record_json(ev);
	const Evident__V1__Record *r = ev->re->record;
	const Evident__V1__ModelManifest *mf = ev->mf;
	json_t *o = json_object(), *feats = json_array(), *ctx = json_object(),
	       *labels = json_object();
	char buf[32];

	json_object_set_new(o, "seq", ctl_json_u64(ev->ie->record_seq));
	json_object_set_new(o, "client_name", ctl_json_string(ev->re->client_name));
	json_object_set_new(o, "request_id", ctl_json_string(r->request_id));
	json_object_set_new(o, "timestamp_unix_ns", json_integer(r->timestamp_unix_ns));
	json_object_set_new(o, "decision", ctl_json_string(r->decision));
	json_object_set_new(o, "scores", ctl_json_doubles(r->scores, r->n_scores));
	for (size_t i = 0; i < r->n_context; i++)
		json_object_set_new(ctx, r->context[i]->key, jd(r->context[i]->value));
	for (size_t i = 0; i < r->n_labels; i++)
		json_object_set_new(labels, r->labels[i]->key,
		                    ctl_json_string(r->labels[i]->value));
	json_object_set_new(o, "context", ctx);
	json_object_set_new(o, "labels", labels);
	for (size_t j = 0; j < r->n_features; j++) {
		const Evident__V1__Feature *f = mf && j < mf->n_features ? mf->features[j] : NULL;
		double v = r->features[j];
		json_t *e = json_object();
		json_object_set_new(e, "name", json_string(ctl_feature_name(mf, j, buf)));
		json_object_set_new(e, "value", jd(v));
		json_object_set_new(e, "min", f && f->has_min ? jd(f->min) : json_null());
		json_object_set_new(e, "max", f && f->has_max ? jd(f->max) : json_null());
		if (f && f->unit && *f->unit)
			json_object_set_new(e, "unit", json_string(f->unit));
		json_object_set_new(
		    e, "out_of_range",
		    json_boolean(f && !isnan(v) &&
		                 ((f->has_min && v < f->min) || (f->has_max && v > f->max))));
		json_array_append_new(feats, e);
	}
	json_object_set_new(o, "features", feats);
	return o;
}

static json_t *model_json(const struct evidence *ev)
{
	const Evident__V1__ModelManifest *mf = ev->mf;
	json_t *o = json_object(), *lin = json_object(), *warn = json_array();

	json_object_set_new(o, "id", ctl_json_string(ev->ie->model_id));
	json_object_set_new(o, "version", ctl_json_string(ev->ie->model_version));
	if (!mf) {
		json_array_append_new(warn,
		                      json_string("the model is not registered in this vault"));
		json_object_set_new(o, "lineage_warnings", warn);
		return o;
	}
	json_object_set_new(o, "seq", ctl_json_u64(ev->model_seq));
	json_object_set_new(o, "framework", ctl_json_string(mf->framework));
	json_object_set_new(o, "output_space", ctl_json_string(mf->output_space));
	json_object_set_new(o, "artifact_sha256", ctl_json_string(mf->artifact_sha256));
	const json_t *params = json_object_get(ev->audit_doc, "params");
	if (json_object_get(params, "decision_rule"))
		json_object_set(o, "decision_rule", json_object_get(params, "decision_rule"));
	const Evident__V1__Lineage *l = mf->lineage;
	struct {
		const char *key, *value;
	} kv[] = {{"training_data_uri", l ? l->training_data_uri : NULL},
	          {"training_data_sha256", l ? l->training_data_sha256 : NULL},
	          {"code_uri", l ? l->code_uri : NULL},
	          {"code_commit", l ? l->code_commit : NULL},
	          {"parent_version", l ? l->parent_version : NULL},
	          {"created_at", l ? l->created_at : NULL},
	          {"created_by", l ? l->created_by : NULL},
	          {"notes", l ? l->notes : NULL}};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (kv[i].value && *kv[i].value)
			json_object_set_new(lin, kv[i].key, json_string(kv[i].value));
	json_object_set_new(o, "lineage", lin);
	const json_t *w =
	    json_object_get(json_object_get(ev->audit_doc, "results"), "lineage_warnings");
	if (w) {
		json_object_set(o, "lineage_warnings", (json_t *)w);
		json_decref(warn);
	} else {
		if (!l || !l->training_data_sha256 || !*l->training_data_sha256)
			json_array_append_new(warn,
			                      json_string("no training-data hash: an audit of "
			                                  "this version is incomplete"));
		if (!l || !l->code_commit || !*l->code_commit)
			json_array_append_new(warn, json_string("no code commit: an audit of this "
			                                        "version is incomplete"));
		json_object_set_new(o, "lineage_warnings", warn);
	}
	return o;
}

static const char *label_of(const struct evidence *ev, json_int_t d)
{
	const Evident__V1__DecisionRule *r = ev->mf ? ev->mf->decision : NULL;
	if (!r)
		return NULL;
	if (r->kind == EVIDENT__V1__DECISION_RULE__KIND__ARGMAX)
		return d >= 0 && (size_t)d < r->n_class_labels ? r->class_labels[d] : NULL;
	return d == 1 ? r->label_above : d == 0 ? r->label_below : NULL;
}

/* The audit in the report's shape (tools/report/report_render.h). */
static json_t *audit_json(const struct evidence *ev)
{
	const json_t *doc = ev->audit_doc, *res = json_object_get(doc, "results");
	json_t *o = json_object();
	const char *prim = NULL;
	static const char *const exact[] = {"treeshap", "linear", "treeshap-interventional",
	                                    "kernelshap", "permutation"};

	json_object_set_new(o, "seq", ctl_json_u64(ev->audit_seq));
	json_object_set(o, "status", json_object_get(doc, "status"));
	json_object_set(o, "reasons", json_object_get(doc, "reasons"));
	json_object_set(o, "prediction", json_object_get(res, "prediction"));
	json_object_set_new(o, "prediction_space", json_string("margin"));
	json_object_set(o, "decision", json_object_get(res, "decision_label"));
	json_object_set(o, "params", json_object_get(doc, "params"));
	json_object_set(o, "timings_ms", json_object_get(doc, "timings_ms"));
	json_object_set(o, "confidence", json_object_get(res, "confidence"));
	/* the attribution: the first exact method asked for, else the flip test's */
	const json_t *src = NULL;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]) && !src; i++)
		if ((src = json_object_get(res, exact[i])))
			prim = exact[i];
	/* else the flip test's: the fast phase's exact attribution of the model file (an oracle's
	 * is recorded as kernelshap), whatever the rule asked for first (lime, counterfactual) */
	if (!src && (src = json_object_get(res, "flip")))
		prim = !ev->mf || !ev->mf->framework               ? NULL
		       : !strcmp(ev->mf->framework, "linear-json") ? "linear"
		                                                   : "treeshap";
	if (src) {
		json_t *a = json_object();
		json_object_set_new(a, "method", json_string(prim ? prim : "exact"));
		json_object_set(a, "base_value",
		                json_array_get(json_object_get(src, "base_value"), 0)
		                    ? json_array_get(json_object_get(src, "base_value"), 0)
		                    : json_null());
		json_object_set(a, "phi", json_array_get(json_object_get(src, "phi"), 0));
		json_t *se = json_array_get(json_object_get(src, "stderr"), 0);
		json_object_set(a, "stderr", se ? se : json_null());
		json_object_set_new(o, "attribution", a);
	}
	/* LIME, a second explanation: its result as recorded (report_render.h) */
	const json_t *lime = json_object_get(res, "lime");
	if (lime)
		json_object_set(o, "lime", (json_t *)lime);
	const json_t *cf = json_object_get(res, "counterfactual");
	if (cf) {
		json_t *list = json_array();
		size_t i;
		const json_t *c;
		json_array_foreach(json_object_get(cf, "counterfactuals"), i, c)
		{
			json_t *e = json_deep_copy(c);
			const char *l =
			    label_of(ev, json_integer_value(json_object_get(c, "decision")));
			if (l)
				json_object_set_new(e, "decision", json_string(l));
			json_array_append_new(list, e);
		}
		json_object_set_new(o, "counterfactuals", list);
	}
	const json_t *fl = json_object_get(res, "flip");
	if (fl) {
		json_t *f = json_object();
		json_object_set(f, "fragile", json_object_get(fl, "fragile"));
		json_object_set(f, "fragile_features", json_object_get(fl, "fragile_features"));
		json_object_set(f, "margin", json_object_get(fl, "margin"));
		json_object_set(f, "flips", json_object_get(fl, "flip_details"));
		json_object_set_new(o, "flip", f);
	}
	const json_t *adv = json_object_get(res, "adversarial");
	if (adv)
		json_object_set(o, "region", json_object_get(adv, "region"));
	json_t *outl = json_object_get(json_object_get(res, "baseline"), "outliers");
	/* borrowed from the audit document, or a new empty list handed over */
	json_object_set_new(o, "baseline_outliers", outl ? json_incref(outl) : json_array());
	const json_t *v = json_object_get(res, "verdict");
	if (v)
		json_object_set(o, "verdict", (json_t *)v);
	return o;
}

static json_t *verdict_json(const struct evidence *ev)
{
	const Evident__V1__Verdict *v = ev->ve->verdict;
	json_t *o = json_object(), *reasons = json_array();
	static const char *const names[] = {"UNSPECIFIED", "PROCEED", "REVIEW", "PENDING"};

	json_object_set_new(o, "seq", ctl_json_u64(ev->verdict_seq));
	json_object_set_new(o, "action", json_string(v && v->action < 4 ? names[v->action] : "?"));
	json_object_set_new(o, "confidence",
	                    v && v->has_confidence ? jd(v->confidence) : json_null());
	for (size_t i = 0; v && i < v->n_reasons; i++)
		json_array_append_new(reasons, json_string(v->reasons[i]));
	json_object_set_new(o, "reasons", reasons);
	json_object_set_new(o, "sent_unix_ns", json_integer(ev->ve->decided_unix_ns));
	json_object_set_new(o, "delivered", json_boolean(ev->ve->delivered));
	return o;
}

struct reviews {
	uint64_t id;
	json_t *arr, *cited;
};

static int review_json(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	uint64_t seq = e->leaf.seq;
	struct reviews *rs = ud;
	const Evident__Entry__V1__ReviewEntry *re =
	    p->status == 0 ? (const Evident__Entry__V1__ReviewEntry *)p->msg : NULL;

	if (!re || !re->review || re->review->incident_id != rs->id)
		return 0;
	json_t *o = json_object();
	json_object_set_new(o, "seq", ctl_json_u64(seq));
	json_object_set_new(o, "reviewer", ctl_json_string(re->review->reviewer));
	json_object_set_new(o, "outcome", ctl_json_string(re->review->outcome));
	json_object_set_new(o, "note", ctl_json_string(re->review->note));
	json_object_set_new(o, "received_unix_ns", json_integer(re->received_unix_ns));
	json_array_append_new(rs->arr, o);
	json_array_append_new(rs->cited,
	                      json_pack("{sIss}", "seq", (json_int_t)seq, "what", "review"));
	return 0;
}

static int reviews_json(struct ctl_vault *cv, uint64_t id, json_t *arr, json_t *cited)
{
	struct reviews rs = {.id = id, .arr = arr, .cited = cited};
	return ctl_scan_type(cv->r, VAULT_ENTRY_REVIEW, id, UINT64_MAX, review_json, &rs);
}

/* The checkpoint the report cites, as `evidentctl prove` chooses: the newest covering every
 * cited entry that holds the witness quorum evidentd works to (vault_witness_quorum) of
 * cosignatures, else the newest signed one. Returns 0, -ENOENT (none signed yet) or a
 * negative errno. */
static int cited_checkpoint(struct ctl_vault *cv, const json_t *cited, char **ret_note,
                            struct vault_checkpoint *ret_cp, unsigned *ret_quorum,
                            bool *ret_witnessed)
{
	uint64_t last = 0;
	size_t i;
	const json_t *c;
	int rc = vault_witness_quorum(cv->r, ret_quorum);

	if (rc < 0)
		return rc;
	json_array_foreach(cited, i, c)
	{
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(c, "seq"));
		if (seq > last)
			last = seq;
	}
	*ret_witnessed = false;
	if (*ret_quorum > 0) {
		rc = vault_checkpoint_witnessed(cv->r, last, *ret_quorum, ret_note, ret_cp);
		*ret_witnessed = rc == 0;
		if (rc != -ENOENT)
			return rc;
	}
	return vault_checkpoint_latest(cv->r, ret_note, ret_cp);
}

/* The cited checkpoint: size, root (base64), note, the witness quorum, whether the checkpoint
 * meets it, and the cosignatures the note carries (as the vault stored them). */
static json_t *checkpoint_json(const struct vault_checkpoint *cp, const char *note, unsigned quorum,
                               bool witnessed)
{
	_cleanup_(freep) char *root = ctl_base64(cp->root, VAULT_HASH_LEN);
	json_t *o = json_pack("{sIssss}", "tree_size", (json_int_t)cp->size, "root",
	                      root ? root : "", "note", note);

	if (!o)
		return NULL;
	json_object_set_new(o, "witness_quorum", json_integer(quorum));
	json_object_set_new(o, "witnessed", json_boolean(witnessed));
	ctl_json_set(o, "cosignatures", ctl_cosigs_json(note, strlen(note)));
	return o;
}

/* Inclusion proofs of the cited entries in the cited checkpoint; each is verified here, and
 * its bundle (the `evidentctl prove` format, cosignatures included) is kept for offline
 * verification. */
static int proofs_json(struct ctl_vault *cv, const json_t *cited, json_t *doc)
{
	char *note = NULL;
	struct vault_checkpoint cp;
	unsigned quorum = 0;
	bool witnessed = false;
	int rc = cited_checkpoint(cv, cited, &note, &cp, &quorum, &witnessed);
	json_t *proofs = json_array();

	if (rc == -ENOENT) {
		json_object_set_new(doc, "checkpoint", json_null());
		json_object_set_new(doc, "proofs", proofs);
		return 0;
	}
	if (rc < 0) {
		json_decref(proofs);
		return rc;
	}
	json_object_set_new(doc, "checkpoint", checkpoint_json(&cp, note, quorum, witnessed));
	size_t i;
	const json_t *c;
	json_array_foreach(cited, i, c)
	{
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(c, "seq"));
		struct vault_proof_bundle b = {.index = seq};
		struct vault_entry e;
		json_t *o = json_object(), *path = json_array();
		uint8_t lh[VAULT_HASH_LEN];
		json_object_set_new(o, "seq", ctl_json_u64(seq));
		json_object_set(o, "what", json_object_get(c, "what"));
		json_object_set_new(o, "tree_size", ctl_json_u64(cp.size));
		bool ok = false;
		if (seq < cp.size && vault_get(cv->r, seq, &e) == 0) {
			int n = vault_prove_inclusion(cv->r, seq, cp.size, b.proof);
			vault_leaf_encode(&e.leaf, b.leaf);
			if (n >= 0) {
				b.proof_len = (size_t)n;
				b.note = note;
				b.note_len = strlen(note);
				ok = vault_proof_bundle_verify(&b, &cv->info.key, NULL, NULL) == 0;
				char *text = NULL;
				if (vault_proof_bundle_format(&b, &text) >= 0)
					json_object_set_new(o, "bundle", json_string(text));
				free(text);
				for (size_t k = 0; k < b.proof_len; k++)
					json_array_append_new(
					    path, ctl_json_hex(b.proof[k], VAULT_HASH_LEN));
			}
			vault_hash_leaf(b.leaf, VAULT_LEAF_LEN, lh);
			json_object_set_new(o, "leaf_hash", ctl_json_hex(lh, VAULT_HASH_LEN));
		} else {
			json_object_set_new(o, "not_covered",
			                    json_string("written after the cited checkpoint: run "
			                                "evidentctl prove SEQ after the next one"));
		}
		json_object_set_new(o, "path", path);
		json_object_set_new(o, "verified", json_boolean(ok));
		json_array_append_new(proofs, o);
	}
	json_object_set_new(doc, "proofs", proofs);
	free(note);
	return 0;
}

/* ------------------------------------------------------------------ retention */

/* {seq, what, prune} for an entry whose payload is gone (prune: the prune entry, as
 * ctl_prune_json, or null when none names it). */
static json_t *gone_json(uint64_t seq, const char *what, const struct ctl_prunes *prunes)
{
	const struct ctl_prune *pr = ctl_prunes_find(prunes, seq);
	json_t *o = json_object();

	json_object_set_new(o, "seq", ctl_json_u64(seq));
	json_object_set_new(o, "what", json_string(what));
	json_object_set_new(o, "prune", pr ? ctl_prune_json(pr) : json_null());
	return o;
}

/* The inputs of the incident's audit whose payloads were pruned, so that a replay cannot
 * reproduce it: the record, and the background records the audit names by seq (a reference
 * data blob is never pruned). An array of gone_json, the record first; empty when the audit
 * can be replayed. Returns 0 or a negative errno. */
static int missing_inputs(struct ctl_vault *cv, const struct evidence *ev, json_t **ret)
{
	const json_t *bg = json_object_get(json_object_get(ev->audit_doc, "params"), "background");
	const char *src = json_string_value(json_object_get(bg, "source"));
	const json_t *list = json_object_get(bg, "seqs");
	size_t n = json_array_size(list), k = 0;
	_cleanup_(freep) uint64_t *gone = malloc((n + 1) * sizeof(*gone));
	_cleanup_(ctl_prunes_free) struct ctl_prunes prunes = {0};
	json_t *arr;
	int rc;

	if (!gone)
		return -ENOMEM;
	if (!ev->re)
		gone[k++] = ev->ie->record_seq;
	for (size_t i = 0; src && !strcmp(src, "recent_records") && i < n; i++) {
		json_int_t seq = json_integer_value(json_array_get(list, i));
		struct vault_entry e;
		/* a seq the vault does not have is the audit document's problem: replay says so */
		if (seq >= 0 && vault_get(cv->r, (uint64_t)seq, &e) == 0 && !e.payload)
			gone[k++] = (uint64_t)seq;
	}
	rc = ctl_prunes_load(cv->r, gone, k, &prunes);
	if (rc < 0)
		return rc;
	arr = json_array();
	for (size_t i = 0; arr && i < k; i++)
		json_array_append_new(
		    arr, gone_json(gone[i], i == 0 && !ev->re ? "record" : "background", &prunes));
	*ret = arr;
	return arr ? 0 : -ENOMEM;
}

/* "180 (record, retention), 123 (background, erasure)" into buf. */
static void missing_text(const json_t *missing, char *buf, size_t size)
{
	size_t i, off = 0;
	const json_t *m;

	buf[0] = '\0';
	json_array_foreach(missing, i, m)
	{
		const char *cause =
		    json_string_value(json_object_get(json_object_get(m, "prune"), "cause"));
		int n = snprintf(buf + off, size - off, "%s%" JSON_INTEGER_FORMAT " (%s, %s)",
		                 i ? ", " : "", json_integer_value(json_object_get(m, "seq")),
		                 json_string_value(json_object_get(m, "what")),
		                 cause ? cause : "no prune entry names it");
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
}

/* Whether hold h covers the cited entry seq (a what): the entries it was resolved to when
 * placed, and for a hold naming this incident everything about the incident and its record
 * (audits, verdicts and reviews may be written after the hold), not the model. */
static bool hold_covers(const struct ctl_hold *h, const struct evidence *ev, uint64_t seq,
                        const char *what)
{
	if (ctl_hold_covers(h, seq))
		return true;
	return h->has_incident_id && h->incident_id == ev->id && what && strcmp(what, "model");
}

/* The retention of the cited entries: each one's payload present or pruned (by which prune
 * entry, when, why), the active legal holds covering any of them (a hold naming the incident
 * covers all it cites), whether the open incident keeps them, and the audit's inputs a
 * replay misses. Returns 0 or a negative errno. */
static int retention_json(struct ctl_vault *cv, const struct evidence *ev, const json_t *cited,
                          bool open, json_t **ret)
{
	_cleanup_(ctl_holds_free) struct ctl_holds hs = {0};
	_cleanup_(ctl_prunes_free) struct ctl_prunes prunes = {0};
	size_t n = json_array_size(cited), k = 0, i;
	_cleanup_(freep) uint64_t *gone = malloc((n ? n : 1) * sizeof(*gone));
	_cleanup_(freep) bool *present = calloc(n ? n : 1, sizeof(*present));
	json_t *o, *entries, *holds, *missing = NULL;
	const json_t *c;
	int rc;

	if (!gone || !present)
		return -ENOMEM;
	json_array_foreach(cited, i, c)
	{
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(c, "seq"));
		struct vault_entry e;
		rc = vault_get(cv->r, seq, &e);
		if (rc < 0)
			return rc;
		present[i] = e.payload != NULL;
		if (!present[i])
			gone[k++] = seq;
	}
	rc = ctl_prunes_load(cv->r, gone, k, &prunes);
	if (rc >= 0)
		rc = ctl_holds_load(cv->r, vault_reader_size(cv->r), &hs);
	if (rc >= 0 && ev->have_audit)
		rc = missing_inputs(cv, ev, &missing);
	if (rc < 0)
		return rc;
	o = json_object();
	entries = json_array();
	holds = json_array();
	json_array_foreach(cited, i, c)
	{
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(c, "seq"));
		const struct ctl_prune *pr = ctl_prunes_find(&prunes, seq);
		json_t *e = json_object(), *ids = json_array();
		json_object_set_new(e, "seq", ctl_json_u64(seq));
		json_object_set(e, "what", json_object_get(c, "what"));
		json_object_set_new(e, "payload", json_string(present[i] ? "present" : "pruned"));
		if (pr) {
			json_object_set_new(e, "cause",
			                    json_string(ctl_prune_cause_name(pr->cause)));
			json_object_set_new(e, "reason", ctl_json_string(pr->reason));
			json_object_set_new(e, "prune_seq", ctl_json_u64(pr->seq));
			json_object_set_new(e, "pruned_unix_ns",
			                    json_integer((json_int_t)pr->timestamp_ns));
		}
		const char *what = json_string_value(json_object_get(c, "what"));
		for (size_t h = 0; h < hs.n; h++)
			if (!hs.v[h].released && hold_covers(&hs.v[h], ev, seq, what))
				json_array_append_new(ids, ctl_json_string(hs.v[h].hold_id));
		json_object_set_new(e, "holds", ids);
		json_array_append_new(entries, e);
	}
	for (size_t h = 0; h < hs.n; h++) {
		const struct ctl_hold *hd = &hs.v[h];
		json_t *covers = json_array();
		json_array_foreach(cited, i, c)
		{
			json_int_t seq = json_integer_value(json_object_get(c, "seq"));
			if (hold_covers(hd, ev, (uint64_t)seq,
			                json_string_value(json_object_get(c, "what"))))
				json_array_append_new(covers, json_integer(seq));
		}
		if (hd->released || !json_array_size(covers)) {
			json_decref(covers);
			continue;
		}
		json_t *j = json_object();
		json_object_set_new(j, "hold_id", ctl_json_string(hd->hold_id));
		json_object_set_new(j, "seq", ctl_json_u64(hd->seq));
		json_object_set_new(j, "placed_unix_ns",
		                    json_integer((json_int_t)hd->timestamp_ns));
		json_object_set_new(j, "holder", ctl_json_string(hd->holder));
		json_object_set_new(j, "reason", ctl_json_string(hd->reason));
		if (hd->has_incident_id)
			json_object_set_new(j, "incident_id", ctl_json_u64(hd->incident_id));
		json_object_set_new(j, "covers", covers);
		json_array_append_new(holds, j);
	}
	json_object_set_new(o, "entries", entries);
	json_object_set_new(o, "holds", holds);
	json_object_set_new(o, "open_incident_keeps", json_boolean(open));
	json_object_set_new(o, "replay_missing", missing ? missing : json_array());
	*ret = o;
	return 0;
}

/* The summary's sentence on retention, when a cited payload is gone, a hold keeps them or a
 * replay can no longer reproduce the audit; false otherwise. */
static bool retention_sentence(const json_t *doc, char *buf, size_t size)
{
	const json_t *rt = json_object_get(doc, "retention"), *e;
	const json_t *missing = json_object_get(rt, "replay_missing");
	size_t i, off = 0, pruned = 0, holds = json_array_size(json_object_get(rt, "holds"));
	int n;

	buf[0] = '\0';
	json_array_foreach(json_object_get(rt, "entries"), i, e) pruned +=
	    json_is_string(json_object_get(e, "payload")) &&
	    !strcmp(json_string_value(json_object_get(e, "payload")), "pruned");
	json_array_foreach(json_object_get(rt, "entries"), i, e)
	{
		const char *cause = json_string_value(json_object_get(e, "cause"));
		const char *state = json_string_value(json_object_get(e, "payload"));
		if (!state || strcmp(state, "pruned") != 0)
			continue;
		n = snprintf(buf + off, size - off, "%s%s %" JSON_INTEGER_FORMAT " (%s)",
		             off           ? ", "
		             : pruned == 1 ? "Retention: the payload of the cited "
		                           : "Retention: the payloads of the cited ",
		             json_string_value(json_object_get(e, "what")),
		             json_integer_value(json_object_get(e, "seq")),
		             cause ? cause : "no prune entry names it");
		if (n < 0 || (size_t)n >= size - off)
			return true;
		off += (size_t)n;
	}
	if (pruned) {
		n = snprintf(buf + off, size - off, " %s pruned; %s and every proof remain.",
		             pruned == 1 ? "was" : "were",
		             pruned == 1 ? "its leaf" : "their leaves");
		if (n < 0 || (size_t)n >= size - off)
			return true;
		off += (size_t)n;
	}
	if (holds) {
		const char *id = json_string_value(
		    json_object_get(json_array_get(json_object_get(rt, "holds"), 0), "hold_id"));
		n = snprintf(buf + off, size - off, "%sLegal hold%s %s", off ? " " : "",
		             holds == 1 ? "" : "s", id ? id : "?");
		if (n < 0 || (size_t)n >= size - off)
			return true;
		off += (size_t)n;
		if (holds > 1) {
			n = snprintf(buf + off, size - off, " and %zu more", holds - 1);
			if (n < 0 || (size_t)n >= size - off)
				return true;
			off += (size_t)n;
		}
		n = snprintf(buf + off, size - off, " keep%s cited entries from being pruned.",
		             holds == 1 ? "s" : "");
		if (n < 0 || (size_t)n >= size - off)
			return true;
		off += (size_t)n;
	}
	if (json_array_size(missing)) {
		char list[512];
		missing_text(missing, list, sizeof(list));
		snprintf(buf + off, size - off,
		         "%sThe audit can no longer be replayed bit for bit: inputs it used were "
		         "pruned: %s.",
		         off ? " " : "", list);
	}
	return buf[0] != '\0';
}

/* The summary's sentence on the proofs: how many hold, in which checkpoint, and who
 * witnessed it. Returns buf. */
static const char *evidence_sentence(const json_t *doc, char *buf, size_t size)
{
	const json_t *cp = json_object_get(doc, "checkpoint"), *o;
	size_t ok = 0, n = json_array_size(json_object_get(doc, "proofs")), i, off;
	size_t cosigs = json_array_size(json_object_get(cp, "cosignatures"));
	json_int_t quorum = json_integer_value(json_object_get(cp, "witness_quorum"));

	json_array_foreach(json_object_get(doc, "proofs"), i, o) ok +=
	    json_is_true(json_object_get(o, "verified"));
	if (!json_is_object(cp)) {
		snprintf(buf, size, "Evidence: %zu of %zu: the vault has no signed checkpoint yet.",
		         ok, n);
		return buf;
	}
	off =
	    (size_t)snprintf(buf, size,
	                     "Evidence: %zu of %zu cited vault entries are proven included in the "
	                     "signed checkpoint of size %" JSON_INTEGER_FORMAT,
	                     ok, n, json_integer_value(json_object_get(cp, "tree_size")));
	if (off < size && cosigs)
		off += (size_t)snprintf(buf + off, size - off, ", cosigned by %zu witness%s",
		                        cosigs, cosigs == 1 ? "" : "es");
	if (off < size && quorum > 0 && !json_is_true(json_object_get(cp, "witnessed")))
		snprintf(
		    buf + off, size - off,
		    "; no checkpoint covering them holds the witness quorum (%" JSON_INTEGER_FORMAT
		    " cosignature%s) yet.",
		    quorum, quorum == 1 ? "" : "s");
	else if (off < size)
		snprintf(buf + off, size - off, ".");
	return buf;
}

/* The plain-language summary: what was decided, what drove it, what would have changed it,
 * how sure the explanation is, what the human said, and whether the evidence holds. */
/* The index of the largest |v[j]| of a JSON array of numbers, or n when it is empty. */
static size_t largest_abs(const json_t *v)
{
	size_t n = json_array_size(v), top = n;

	for (size_t j = 0; j < n; j++)
		if (top == n || fabs(json_number_value(json_array_get(v, j))) >
		                    fabs(json_number_value(json_array_get(v, top))))
			top = j;
	return top;
}

/* The summary's sentence on LIME (audit.lime), the second explanation: unstable (the report's
 * section 3 says why) when runs with other seeds picked other features, changed the sign of
 * its largest weight or disagreed beyond their error bars; else where its largest weight is.
 * False when the audit has no LIME result on the record's features. */
static bool lime_sentence(const json_t *au, const json_t *feats, char *buf, size_t size)
{
	const json_t *lime = json_object_get(au, "lime"), *fit = json_object_get(lime, "lime");
	const json_t *w = json_array_get(json_object_get(lime, "phi"), 0);
	const json_t *phi = json_object_get(json_object_get(au, "attribution"), "phi");
	size_t n = json_array_size(feats), lt = largest_abs(w), at = largest_abs(phi);

	if (!fit || !n || json_array_size(w) != n)
		return false;
	const json_t *csi = json_object_get(fit, "csi"), *flips = json_object_get(fit, "sign_flip");
	const json_t *se = json_array_get(json_object_get(lime, "stderr"), 0);
	const char *name = json_string_value(json_object_get(json_array_get(feats, lt), "name"));
	bool sign_changed = false;
	/* a weight within 1.96 standard errors of 0 changes sign by chance */
	for (size_t j = 0; j < n; j++)
		sign_changed |= json_number_value(json_array_get(flips, j)) > 0 &&
		                !(fabs(json_number_value(json_array_get(w, j))) <=
		                  1.96 * json_number_value(json_array_get(se, j)));
	const char *why = !json_is_true(json_object_get(fit, "stable"))
	                      ? "picked different features"
	                  : sign_changed ? "changed the sign of a weight clear of 0"
	                  : json_is_number(csi) && json_number_value(csi) < 50
	                      ? "disagreed beyond their error bars"
	                      : NULL;
	if (why)
		snprintf(buf, size,
		         "LIME, a second explanation, is unstable for this decision: runs with "
		         "other seeds %s, so a reviewer should not rely on it.",
		         why);
	else if (json_array_size(phi) == n && at == lt)
		snprintf(buf, size,
		         "LIME, a second explanation, agrees: its largest weight is on %s too, and "
		         "it is stable over runs with other seeds.",
		         name ? name : "?");
	else
		snprintf(
		    buf, size,
		    "LIME, a second explanation, puts its largest weight on %s (stable over runs "
		    "with other seeds).",
		    name ? name : "?");
	return true;
}

/* The summary's sentence on the suggested guard (section 13) and its backtest. False without
 * one. */
static bool guard_sentence(const json_t *doc, char *buf, size_t size)
{
	const json_t *g = json_object_get(doc, "suggested_guard"),
	             *bt = json_object_get(g, "backtest");
	int at;

	if (!g)
		return false;
	at = snprintf(buf, size, "Suggested guard (section 13, [guard %s]): review when %s.",
	              json_string_value(json_object_get(g, "name")),
	              json_string_value(json_object_get(g, "when")));
	if (!json_is_true(json_object_get(bt, "bound")) || at < 0 || (size_t)at >= size)
		return true;
	json_int_t routine = json_integer_value(json_object_get(bt, "routine"));
	snprintf(buf + at, size - (size_t)at,
	         " On the vault when the audit was recorded it catches %" JSON_INTEGER_FORMAT
	         " of the %" JSON_INTEGER_FORMAT " incidents of %s %s (%" JSON_INTEGER_FORMAT
	         " of them overturned by a human) and would have held %" JSON_INTEGER_FORMAT
	         " of %" JSON_INTEGER_FORMAT " routine decisions (%.3g%%).",
	         json_integer_value(json_object_get(bt, "incidents_caught")),
	         json_integer_value(json_object_get(bt, "incidents")),
	         json_string_value(json_object_get(bt, "model_id")),
	         json_string_value(json_object_get(bt, "model_version")),
	         json_integer_value(json_object_get(bt, "overturned_caught")),
	         json_integer_value(json_object_get(bt, "routine_held")), routine,
	         100 * json_number_value(json_object_get(bt, "routine_share")));
	return true;
}

static json_t *summary_json(const json_t *doc)
{
	json_t *s = json_array();
	const json_t *rec = json_object_get(doc, "record"), *model = json_object_get(doc, "model"),
	             *inc = json_object_get(doc, "incident"), *au = json_object_get(doc, "audit");
	const json_t *feats = json_object_get(rec, "features");
	char buf[1024];

	const char *decision = json_string_value(json_object_get(rec, "decision"));
	/* a pruned record's decision survives only as the audit recomputed it */
	const char *recomputed = json_string_value(json_object_get(au, "decision"));
	bool pruned = json_is_true(json_object_get(rec, "pruned"));
	snprintf(buf, sizeof(buf),
	         "Model %s version %s decided \"%s\"%s for request %s (record %" JSON_INTEGER_FORMAT
	         "%s); rule \"%s\" opened incident %" JSON_INTEGER_FORMAT ".",
	         json_string_value(json_object_get(model, "id")),
	         json_string_value(json_object_get(model, "version")),
	         decision     ? decision
	         : recomputed ? recomputed
	                      : "?",
	         !decision && recomputed ? " (as the audit recomputed it)" : "",
	         json_string_value(json_object_get(rec, "request_id")),
	         json_integer_value(json_object_get(rec, "seq")),
	         pruned ? ", whose payload has since been pruned" : "",
	         json_string_value(json_object_get(inc, "trigger")),
	         json_integer_value(json_object_get(inc, "id")));
	json_array_append_new(s, json_string(buf));
	json_int_t gone = json_integer_value(json_object_get(doc, "pruned_audits_after"));
	if ((!au || json_is_null(au)) && gone > 0) {
		snprintf(buf, sizeof(buf),
		         "No readable audit entry names this incident: %" JSON_INTEGER_FORMAT
		         " audit entr%s written after it %s pruned since, and its audit may have "
		         "been among them.",
		         gone, gone == 1 ? "y" : "ies", gone == 1 ? "was" : "were");
		json_array_append_new(s, json_string(buf));
		return s;
	}
	if (!au || json_is_null(au)) {
		json_array_append_new(s, json_string("No audit was recorded for this incident (see "
		                                     "the vault's notices: it may have been rate "
		                                     "limited or skipped)."));
		return s;
	}
	const json_t *phi = json_object_get(json_object_get(au, "attribution"), "phi");
	if (json_array_size(phi) && json_array_size(phi) == json_array_size(feats)) {
		size_t n = json_array_size(phi), top = 0, second = n;
		double total = 0;
		for (size_t j = 0; j < n; j++) {
			double v = fabs(json_number_value(json_array_get(phi, j)));
			total += v;
			if (v > fabs(json_number_value(json_array_get(phi, top))))
				top = j;
		}
		for (size_t j = 0; j < n; j++)
			if (j != top && (second == n ||
			                 fabs(json_number_value(json_array_get(phi, j))) >
			                     fabs(json_number_value(json_array_get(phi, second)))))
				second = j;
		const json_t *f = json_array_get(feats, top);
		double p = json_number_value(json_array_get(phi, top));
		char value[64] = "";
		if (json_is_number(json_object_get(f, "value")))
			snprintf(value, sizeof(value), " (value %.4g)",
			         json_number_value(json_object_get(f, "value")));
		snprintf(buf, sizeof(buf),
		         "What drove it: %s%s contributed most, %+.3g on the model's score "
		         "scale (%.0f%% of all contributions, pushing %s the outcome)%s%s%s.",
		         json_string_value(json_object_get(f, "name")), value, p,
		         total > 0 ? 100 * fabs(p) / total : 0, p > 0 ? "towards" : "away from",
		         second < n ? "; next: " : "",
		         second < n ? json_string_value(
		                          json_object_get(json_array_get(feats, second), "name"))
		                    : "",
		         "");
		json_array_append_new(s, json_string(buf));
	}
	if (lime_sentence(au, feats, buf, sizeof(buf)))
		json_array_append_new(s, json_string(buf));
	size_t i;
	const json_t *o;
	json_array_foreach(json_object_get(au, "baseline_outliers"), i, o)
	{
		snprintf(
		    buf, sizeof(buf),
		    "Unusual: %s's influence on this decision was %.3g times its usual level on "
		    "routine decisions. An input that normally barely matters dominated it: check "
		    "whether the model should depend on it at all.",
		    json_string_value(json_object_get(o, "feature")),
		    json_number_value(json_object_get(o, "ratio")));
		json_array_append_new(s, json_string(buf));
	}
	const json_t *cf = json_array_get(json_object_get(au, "counterfactuals"), 0);
	if (cf) {
		char changes[512] = "";
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)json_object_get(cf, "changes"), k, v)
		{
			size_t l = strlen(changes);
			snprintf(changes + l, sizeof(changes) - l, "%s%s = %.4g", l ? ", " : "", k,
			         json_number_value(v));
		}
		snprintf(buf, sizeof(buf),
		         "What would have changed it: with %s the decision would "
		         "have been \"%s\".",
		         changes,
		         json_string_value(json_object_get(cf, "decision"))
		             ? json_string_value(json_object_get(cf, "decision"))
		             : "different");
		json_array_append_new(s, json_string(buf));
	}
	const json_t *flip = json_object_get(au, "flip");
	if (json_is_true(json_object_get(flip, "fragile"))) {
		json_array_append_new(s,
		                      json_string("Fragile: a small, plausible change to an input "
		                                  "that barely matters flips this decision, so it "
		                                  "should not be trusted without a human look."));
	}
	const json_t *conf = json_object_get(au, "confidence");
	if (conf) {
		double c = json_number_value(json_object_get(conf, "c"));
		snprintf(buf, sizeof(buf),
		         "Confidence in this explanation: %.2f (0 to 1; the chance the same top "
		         "reasons come out again under fresh randomness, small input noise and an "
		         "independent method).",
		         c);
		json_array_append_new(s, json_string(buf));
	}
	const json_t *v = json_object_get(doc, "verdict");
	if (v && !json_is_null(v)) {
		snprintf(buf, sizeof(buf), "Verdict sent to the production system: %s (%s).",
		         json_string_value(json_object_get(v, "action")),
		         json_string_value(json_array_get(json_object_get(v, "reasons"), 0))
		             ? json_string_value(json_array_get(json_object_get(v, "reasons"), 0))
		             : "no reason given");
		json_array_append_new(s, json_string(buf));
	}
	json_array_foreach(json_object_get(doc, "reviews"), i, o)
	{
		const char *note = json_string_value(json_object_get(o, "note"));
		size_t nl = note ? strlen(note) : 0;
		snprintf(buf, sizeof(buf), "Human review: %s marked it \"%s\"%s%s%s",
		         json_string_value(json_object_get(o, "reviewer")),
		         json_string_value(json_object_get(o, "outcome")), nl ? ": " : "",
		         nl ? note : "", nl && note[nl - 1] == '.' ? "" : ".");
		json_array_append_new(s, json_string(buf));
	}
	json_array_foreach(json_object_get(model, "lineage_warnings"), i, o)
	{
		snprintf(buf, sizeof(buf), "Lineage: %s.", json_string_value(o));
		json_array_append_new(s, json_string(buf));
	}
	if (guard_sentence(doc, buf, sizeof(buf)))
		json_array_append_new(s, json_string(buf));
	if (retention_sentence(doc, buf, sizeof(buf)))
		json_array_append_new(s, json_string(buf));
	json_array_append_new(s, json_string(evidence_sentence(doc, buf, sizeof(buf))));
	return s;
}

/* ------------------------------------------------------------------ the suggested guard */

/* The guard the audit suggests (audit.h, "suggested guards"): as recorded in its results, or,
 * for an audit recorded by an evidentd that did not suggest guards, built here from the
 * recorded results with the same code. NULL when there is none. */
static json_t *guard_of(const struct evidence *ev, bool *ret_recorded)
{
	const json_t *res = json_object_get(ev->audit_doc, "results");
	json_t *g = json_object_get(res, "suggested_guard");

	*ret_recorded = g != NULL;
	if (g)
		return json_deep_copy(g);
	if (!res || !ev->re || !ev->mf || ev->re->record->n_features != ev->mf->n_features)
		return NULL;
	const Evident__V1__ModelManifest *mf = ev->mf;
	const Evident__V1__Record *rec = ev->re->record;
	const char **names = calloc(mf->n_features + 1, sizeof(char *));
	bool *cat = calloc(mf->n_features + 1, sizeof(bool));
	for (size_t j = 0; names && cat && j < mf->n_features; j++) {
		names[j] = mf->features[j]->name ? mf->features[j]->name : "";
		cat[j] = mf->features[j]->type == EVIDENT__V1__FEATURE__TYPE__CATEGORICAL;
	}
	struct audit_guard_input in = {.model_id = mf->model_id,
	                               .version = mf->version,
	                               .incident_id = ev->id,
	                               .names = names,
	                               .categorical = cat,
	                               .M = mf->n_features,
	                               .x = rec->features,
	                               .scores = rec->scores,
	                               .n_scores = rec->n_scores,
	                               .decision = rec->decision};
	if (!names || !cat || audit_suggest_guard(res, &in, &g) < 0)
		g = NULL;
	free(names);
	free(cat);
	return g;
}

/* The guard as a config file section, ready to paste. */
static json_t *guard_section(const json_t *g)
{
	return json_sprintf("[guard %s]\nmodel = %s\nwhen = %s\naction = %s\nreason = %s\n",
	                    json_string_value(json_object_get(g, "name")),
	                    json_string_value(json_object_get(g, "model")),
	                    json_string_value(json_object_get(g, "when")),
	                    json_string_value(json_object_get(g, "action")),
	                    json_string_value(json_object_get(g, "reason")));
}

/* Entries before the audit the suggested guard's backtest reads at most: a report answers at
 * once on any vault (evidentctl backtest covers the whole of it). */
#define GUARD_BACKTEST_WINDOW 20000

/* The guard's backtest on the vault as it was when the audit entry was appended (the
 * GUARD_BACKTEST_WINDOW entries before it, from_seq to as_of_seq): the incidents of the audited
 * model version it would have caught, the share of routine decisions it would have held; and how
 * many of those incidents a human overturned, by every review recorded so far (reviews_as_of_seq:
 * reviews come after the audit, so those before it alone would almost always say none), as the
 * report's reviews. */
static int guard_backtest(struct ctl_vault *cv, const struct evidence *ev, const json_t *g,
                          json_t **ret)
{
	struct trig_expr *x;
	struct trig_error e;
	struct ctl_backtest b;
	const char *id = ev->ie->model_id ? ev->ie->model_id : "",
	           *version = ev->ie->model_version ? ev->ie->model_version : "";
	struct ctl_model_filter f = {.id = id, .id_len = strlen(id), .version = version};
	int rc = trig_compile(json_string_value(json_object_get(g, "when")), &x, &e);

	*ret = NULL;
	if (rc == -EINVAL) /* a damaged document: the report says the rule does not compile */
		return 0;
	if (rc < 0)
		return rc;
	uint64_t from =
	    ev->audit_seq > GUARD_BACKTEST_WINDOW ? ev->audit_seq - GUARD_BACKTEST_WINDOW : 0;
	rc = ctl_backtest_run(cv->r, x, &f, from, ev->audit_seq, vault_reader_size(cv->r),
	                      UINT64_MAX, 0, &b);
	if (rc == 0) {
		const struct ctl_bt_tally *t = ctl_backtest_tally(&b, id, version);
		int audited = -1;
		for (size_t i = 0; i < b.n_inc; i++)
			if (b.inc[i].seq == ev->id)
				audited = b.inc[i].caught;
		json_t *o = json_object();
		ctl_json_set(o, "from_seq", ctl_json_u64(from));
		ctl_json_set(o, "as_of_seq", ctl_json_u64(ev->audit_seq));
		ctl_json_set(o, "reviews_as_of_seq", ctl_json_u64(vault_reader_size(cv->r)));
		ctl_json_set(o, "model_id", json_string(id));
		ctl_json_set(o, "model_version", json_string(version));
		ctl_json_set(o, "incidents", ctl_json_u64(t ? t->incidents : 0));
		ctl_json_set(o, "incidents_caught", ctl_json_u64(t ? t->incidents_caught : 0));
		ctl_json_set(o, "incidents_unknown", ctl_json_u64(t ? t->incidents_unknown : 0));
		ctl_json_set(o, "overturned", ctl_json_u64(t ? t->overturned : 0));
		ctl_json_set(o, "overturned_caught", ctl_json_u64(t ? t->overturned_caught : 0));
		ctl_json_set(o, "records", ctl_json_u64(t ? t->records : 0));
		ctl_json_set(o, "caught", ctl_json_u64(t ? t->caught : 0));
		ctl_json_set(o, "routine", ctl_json_u64(t ? t->routine : 0));
		ctl_json_set(o, "routine_held", ctl_json_u64(t ? t->routine_held : 0));
		ctl_json_set(
		    o, "routine_share",
		    json_real(t && t->routine ? (double)t->routine_held / (double)t->routine : 0));
		ctl_json_set(o, "records_pruned", ctl_json_u64(b.pruned));
		ctl_json_set(o, "catches_audited_record",
		             audited < 0 ? json_null() : json_boolean(audited == 1));
		ctl_json_set(o, "bound", json_boolean(!t || t->bound));
		ctl_json_set(o, "problem", ctl_json_string(t ? t->problem : NULL));
		*ret = o;
	}
	ctl_backtest_free(&b);
	trig_free(x);
	return rc;
}

/* doc.suggested_guard: the guard, whether the audit recorded it, its [guard] section and its
 * backtest (computed here: the audit has no vault access, audit.h). Absent without one. */
static int suggested_guard_json(struct ctl_vault *cv, const struct evidence *ev, json_t *doc)
{
	bool recorded;
	json_t *g = ev->have_audit ? guard_of(ev, &recorded) : NULL, *bt = NULL;
	int rc;

	if (!g)
		return 0;
	rc = guard_backtest(cv, ev, g, &bt);
	if (rc < 0) {
		json_decref(g);
		return rc;
	}
	ctl_json_set(g, "recorded", json_boolean(recorded));
	ctl_json_set(g, "section", guard_section(g));
	ctl_json_set(g, "backtest", bt ? bt : json_null());
	ctl_json_set(g, "backtest_by", json_string("evidentctl report"));
	ctl_json_set(doc, "suggested_guard", g);
	return 0;
}

/* The report's word for an incident's state (ctl_incident_state). */
static const char *state_word(enum ctl_incident_state s)
{
	switch (s) {
	case CTL_INCIDENT_REVIEWED:
		return "REVIEWED";
	case CTL_INCIDENT_RATE_LIMITED:
		return "RATE_LIMITED";
	case CTL_INCIDENT_OPEN:
		break;
	}
	return "OPEN";
}

/* When the report is generated: now, or $SOURCE_DATE_EPOCH (seconds since the epoch, the
 * reproducible-builds convention) when it is set, so that the same vault gives the same bytes
 * whenever the report is written again. Returns 0 or CTL_EXIT_USAGE (printed). */
static int generated_at(int64_t *ret_ns)
{
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	struct timespec ts;
	uint64_t s;

	if (epoch) {
		if (ctl_parse_u64("SOURCE_DATE_EPOCH", epoch, &s))
			return CTL_EXIT_USAGE;
		if (s > (uint64_t)INT64_MAX / 1000000000)
			return ctl_usage_error("SOURCE_DATE_EPOCH: %s seconds is too far away",
			                       epoch);
		*ret_ns = (int64_t)s * 1000000000;
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	*ret_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return 0;
}

static int build_doc(struct ctl_vault *cv, const struct evidence *ev, int64_t generated_ns,
                     json_t **ret)
{
	json_t *doc = json_object(), *cited = json_array(), *reviews = json_array();
	json_t *inc = json_object(), *methods = json_array();
	const Evident__Entry__V1__IncidentEntry *ie = ev->ie;
	int rc;

	json_object_set_new(doc, "report_version", json_integer(1));
	json_object_set_new(doc, "generated_by", json_string("evidentctl " EVIDENT_VERSION));
	json_object_set_new(doc, "generated_unix_ns", json_integer(generated_ns));
	json_object_set_new(doc, "vault_origin", json_string(cv->info.origin));
	json_object_set_new(inc, "id", ctl_json_u64(ev->id));
	json_object_set_new(inc, "trigger", ctl_json_string(ie->trigger));
	json_object_set_new(inc, "when", ctl_json_string(ie->when));
	/* set again below once the reviews are read: "status" keeps its place in the document */
	json_object_set_new(inc, "status", json_string(state_word(ctl_incident_state(ie, false))));
	json_object_set_new(inc, "fired_unix_ns", json_integer(ie->fired_unix_ns));
	for (size_t i = 0; i < ie->n_methods; i++)
		json_array_append_new(methods, json_string(ie->methods[i]));
	json_object_set_new(inc, "methods", methods);
	if (ie->has_review_below)
		json_object_set_new(inc, "review_below", jd(ie->review_below));
	json_object_set_new(inc, "recovered", json_boolean(ie->recovered));
	json_object_set_new(doc, "incident", inc);
	json_object_set_new(doc, "model", model_json(ev));
	json_object_set_new(doc, "record", record_json(ev));
	json_object_set_new(doc, "audit", ev->have_audit ? audit_json(ev) : json_null());
	if (!ev->have_audit && ev->audits_pruned)
		json_object_set_new(doc, "pruned_audits_after", ctl_json_u64(ev->audits_pruned));
	json_object_set_new(doc, "verdict", ev->have_verdict ? verdict_json(ev) : json_null());
	if (ev->mf)
		json_array_append_new(
		    cited, json_pack("{sIss}", "seq", (json_int_t)ev->model_seq, "what", "model"));
	json_array_append_new(
	    cited, json_pack("{sIss}", "seq", (json_int_t)ie->record_seq, "what", "record"));
	json_array_append_new(cited,
	                      json_pack("{sIss}", "seq", (json_int_t)ev->id, "what", "incident"));
	if (ev->have_audit)
		json_array_append_new(
		    cited, json_pack("{sIss}", "seq", (json_int_t)ev->audit_seq, "what", "audit"));
	if (ev->have_verdict)
		json_array_append_new(cited, json_pack("{sIss}", "seq", (json_int_t)ev->verdict_seq,
		                                       "what", "verdict"));
	rc = reviews_json(cv, ev->id, reviews, cited);
	json_object_set_new(doc, "reviews", reviews);
	/* the state `evidentctl incidents` and `status` give this incident */
	bool reviewed = json_array_size(reviews) > 0;
	json_object_set_new(inc, "status",
	                    json_string(state_word(ctl_incident_state(ie, reviewed))));
	json_object_set_new(inc, "reviewed", json_boolean(reviewed));
	if (rc >= 0)
		rc = proofs_json(cv, cited, doc);
	json_t *retention = NULL;
	if (rc >= 0)
		rc = retention_json(cv, ev, cited,
		                    ctl_incident_state(ie, reviewed) == CTL_INCIDENT_OPEN,
		                    &retention);
	if (rc >= 0)
		json_object_set_new(doc, "retention", retention);
	if (rc >= 0)
		rc = suggested_guard_json(cv, ev, doc);
	json_decref(cited);
	if (rc < 0) {
		json_decref(doc);
		return ctl_vault_error(cv, "cannot gather the evidence", rc);
	}
	json_object_set_new(doc, "summary", summary_json(doc));
	*ret = doc;
	return 0;
}

static int run_report(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct evidence ev;
	struct ctl_out out;
	json_t *doc = NULL;
	uint64_t id;
	int64_t generated_ns = 0;
	int rc;

	(void)argc;
	if (ctl_parse_u64("ID", argv[0], &id))
		return CTL_EXIT_USAGE;
	if (c->json)
		arg_format = "json";
	rc = generated_at(&generated_ns);
	if (rc)
		return rc;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	rc = gather(&cv, id, &ev);
	if (!rc)
		rc = build_doc(&cv, &ev, generated_ns, &doc);
	evidence_deinit(&ev);
	ctl_vault_close(&cv);
	if (rc)
		return rc;
	rc = ctl_out_open(&out, arg_output);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	int w = !strcmp(arg_format, "json") ? ctl_json_print(out.f, doc, false)
	        : !strcmp(arg_format, "md") ? report_render_md(doc, out.f)
	                                    : report_render_html(doc, out.f);
	json_decref(doc);
	if (w < 0) {
		ctl_out_abort(&out);
		ctl_error("writing the report: %s", strerror(-w));
		return CTL_EXIT_UNREADABLE;
	}
	return ctl_out_commit(&out);
}

/* ------------------------------------------------------------------ replay */

static int load_blob(struct ctl_vault *cv, const char *hex, const char *what, void **ret,
                     size_t *ret_len)
{
	uint8_t h[VAULT_HASH_LEN];
	int rc;

	if (!hex || vault_unhex(hex, strlen(hex), h) < 0) {
		ctl_error("%s: the %s hash is not 64 hex digits", cv->dir, what);
		return CTL_EXIT_PROBLEM;
	}
	rc = vault_blob_load(cv->r, h, UINT64_MAX, ret, ret_len);
	if (rc == -EBADMSG) {
		ctl_error("%s: the %s blob does not hash to %s: the vault is damaged", cv->dir,
		          what, hex);
		return CTL_EXIT_PROBLEM;
	}
	return rc < 0 ? ctl_vault_error(cv, what, rc) : 0;
}

/* An oracle model for replay: the --oracle command started on its artifact, as the daemon
 * did. */
static int oracle_model(const Evident__V1__ModelManifest *mf, const void *buf, size_t len,
                        size_t background_size, struct audit_model **ret)
{
	const struct audit_oracle oc = {.command = arg_oracle, .background_size = background_size};
	char err[AUDIT_ERR_MAX];

	if (!arg_oracle) {
		ctl_error(
		    "%s@%s is an oracle model: replay needs its oracle command (--oracle 'CMD', "
		    "the [model %s] oracle of the daemon's config)",
		    mf->model_id, mf->version, mf->model_id);
		return CTL_EXIT_USAGE;
	}
	if (audit_model_open_oracle(mf, buf, len, &oc, ret, err, sizeof(err)) < 0) {
		ctl_error("--oracle: %s@%s: %s", mf->model_id, mf->version, err);
		return CTL_EXIT_UNREADABLE;
	}
	return 0;
}

static int load_model(struct ctl_vault *cv, const Evident__V1__ModelManifest *mf,
                      size_t background_size, struct audit_model **ret)
{
	void *buf;
	size_t len;
	char err[AUDIT_ERR_MAX];
	int rc = load_blob(cv, mf->artifact_sha256, "model artifact", &buf, &len);

	if (rc)
		return rc;
	if (mf->framework && !strcmp(mf->framework, "oracle")) {
		rc = oracle_model(mf, buf, len, background_size, ret);
		free(buf);
		return rc;
	}
	rc = audit_model_new(mf, buf, len, ret, err, sizeof(err));
	free(buf);
	if (rc < 0) {
		ctl_error("%s@%s: %s", mf->model_id, mf->version, err);
		return CTL_EXIT_PROBLEM;
	}
	return 0;
}

/* The background the audit used, from its params. */
static int load_background(struct ctl_vault *cv, const struct audit_model *am, const json_t *b,
                           double **rows, uint64_t **seqs, size_t *n)
{
	const char *src = json_string_value(json_object_get(b, "source"));

	*rows = NULL;
	*seqs = NULL;
	*n = 0;
	if (src && !strcmp(src, "reference_data")) {
		void *buf;
		size_t len;
		char err[AUDIT_ERR_MAX];
		int rc = load_blob(cv, json_string_value(json_object_get(b, "sha256")),
		                   "reference data", &buf, &len);
		if (rc)
			return rc;
		rc = audit_reference_rows(am, buf, len, rows, n, err, sizeof(err));
		free(buf);
		if (rc < 0) {
			ctl_error("%s", err);
			return CTL_EXIT_PROBLEM;
		}
		return 0;
	}
	const json_t *list = json_object_get(b, "seqs");
	size_t k = json_array_size(list);
	*rows = malloc((k ? k : 1) * am->M * sizeof(double));
	*seqs = malloc((k ? k : 1) * sizeof(uint64_t));
	if (!*rows || !*seqs)
		return ctl_vault_error(cv, "background", -ENOMEM);
	for (size_t i = 0; i < k; i++) {
		uint64_t seq = (uint64_t)json_integer_value(json_array_get(list, i));
		struct vault_entry e;
		struct ctl_payload p;
		int rc = vault_get(cv->r, seq, &e);
		if (rc < 0)
			return ctl_vault_error(cv, "cannot read a background record", rc);
		ctl_payload_decode(&e, &p);
		const Evident__Entry__V1__RecordEntry *re = ctl_payload_record(&p);
		if (!re || !re->record || re->record->n_features != am->M) {
			ctl_payload_deinit(&p);
			ctl_error("%s: background record %" PRIu64 " cannot be read back", cv->dir,
			          seq);
			return CTL_EXIT_PROBLEM;
		}
		memcpy(*rows + i * am->M, re->record->features, am->M * sizeof(double));
		(*seqs)[i] = seq;
		ctl_payload_deinit(&p);
	}
	*n = k;
	return 0;
}

/* Names the first difference between two canonical JSON strings (for the message). */
static void first_difference(const json_t *a, const json_t *b)
{
	const char *k;
	const json_t *v;

	json_object_foreach((json_t *)a, k, v)
	{
		if (!json_equal(v, json_object_get(b, k))) {
			ctl_error("  results.%s differs", k);
			return;
		}
	}
	json_object_foreach((json_t *)b, k, v) if (!json_object_get(a, k))
	{
		ctl_error("  results.%s was not recorded", k);
		return;
	}
}

/* --model-version V: is the failure region of the audited decision closed under V? */
static int check_fix(struct ctl_vault *cv, const struct evidence *ev, const struct audit_model *old,
                     const double *x, const double *bg, size_t n_bg, json_t *out)
{
	const Evident__V1__ModelManifest *mf =
	    ctl_models_find(ev->models, ev->ie->model_id, arg_model_version);
	struct audit_model *nm = NULL;
	char err[AUDIT_ERR_MAX];
	int rc;

	if (!mf) {
		/* the newer version may be registered after the incident */
		struct ctl_models *all = ctl_models_new();
		if (all && ctl_models_load(all, cv->r, 0, vault_reader_size(cv->r)) == 0)
			mf = ctl_models_find(all, ev->ie->model_id, arg_model_version);
		if (mf)
			rc = load_model(cv, mf, old->background_size, &nm);
		ctl_models_free(all);
		if (!mf) {
			ctl_error("--model-version %s: %s@%s is not registered in this vault",
			          arg_model_version, ev->ie->model_id, arg_model_version);
			return CTL_EXIT_USAGE;
		}
	} else {
		rc = load_model(cv, mf, old->background_size, &nm);
	}
	if (rc)
		return rc;
	if (nm->M != old->M) {
		ctl_error("--model-version %s has %zu features, the audited version %zu",
		          arg_model_version, nm->M, old->M);
		audit_model_free(nm);
		return CTL_EXIT_USAGE;
	}
	double fo[1024], fn[1024];
	int d_old, d_new;
	old->f.predict(old->f.userdata, x, 1, fo, NULL, 0);
	nm->f.predict(nm->f.userdata, x, 1, fn, NULL, 0);
	d_old = ex_decide(&old->d, fo, old->G);
	d_new = ex_decide(&nm->d, fn, nm->G);
	/* the failure region of the audited decision under the old model (the same search the
	 * audit's adversarial method runs, same seed), then how much of it fails under V */
	struct ex_feature_info *info = calloc(old->M, sizeof(*info));
	struct ex_region *reg = NULL;
	struct ex_adv_config ac = {.seed = ev->id};
	rc = info ? ex_feature_info_from_rows(bg, n_bg, old->M, info) : -ENOMEM;
	for (size_t j = 0; rc >= 0 && j < old->M; j++) {
		info[j].immutable = old->immutable[j];
		info[j].categorical = old->categorical[j];
	}
	if (rc >= 0)
		rc = ex_model_is_trees(old->m)
		         ? ex_adversarial_tree(old->m, &old->f, NULL, x, bg, n_bg, info, &old->d,
		                               &ac, &reg, err, sizeof(err))
		         : ex_adversarial_search(&old->f, NULL, x, bg, n_bg, info, &old->d, &ac,
		                                 &reg, err, sizeof(err));
	if (rc < 0) {
		ctl_error("the failure search on the audited version failed: %s",
		          rc == -ENOMEM ? "out of memory" : err);
		free(info);
		audit_model_free(nm);
		return CTL_EXIT_PROBLEM;
	}
	/* sample the region's box (bounded by the background's plausible range) */
	size_t N = 2000, still = 0, inside = 0;
	uint64_t s = ev->id * 0x9e3779b97f4a7c15ull + 1;
	double *p = malloc(old->M * sizeof(double));
	for (size_t t = 0; p && t < N; t++) {
		memcpy(p, x, old->M * sizeof(double));
		for (size_t k = 0; k < reg->n_rule; k++) {
			const struct ex_region_bound *b = &reg->rule[k];
			if (b->missing)
				continue;
			double lo = isinf(b->lo) ? info[b->feature].min : b->lo;
			double hi = isinf(b->hi) ? info[b->feature].max : b->hi;
			if (!(lo <= hi))
				continue;
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			p[b->feature] = lo + (hi - lo) * ((double)(s >> 11) / 9007199254740992.0);
		}
		double a[1024], bb[1024];
		old->f.predict(old->f.userdata, p, 1, a, NULL, 0);
		if (ex_decide(&old->d, a, old->G) != d_old)
			continue;
		inside++;
		nm->f.predict(nm->f.userdata, p, 1, bb, NULL, 0);
		still += ex_decide(&nm->d, bb, nm->G) == d_old;
	}
	free(p);
	double lo = 0, hi = 1;
	ex_wilson_interval(still, inside, 1.96, &lo, &hi);
	const char *verdict = d_new == d_old ? "not fixed: the new version makes the same decision"
	                      : inside && hi > 0.05
	                          ? "hidden: this input now gets another decision, but the same "
	                            "decision persists in its failure region"
	                          : "closed: the failure region no longer produces the decision";
	json_object_set_new(out, "fix_check",
	                    json_pack("{ss sI sI so so sI sI sf sf ss}", "model_version",
	                              arg_model_version, "decision_audited", (json_int_t)d_old,
	                              "decision_new", (json_int_t)d_new, "region_rules",
	                              json_integer((json_int_t)reg->n_rule), "region_method",
	                              json_string(reg->method), "region_points", (json_int_t)inside,
	                              "still_failing", (json_int_t)still, "still_failing_ci95_lo",
	                              lo, "still_failing_ci95_hi", hi, "conclusion", verdict));
	ex_region_free(reg);
	free(info);
	audit_model_free(nm);
	return 0;
}

/* Whether the audit's inputs are all still in the vault. When a retention or erasure prune
 * took the record or background records it used, the replay cannot be bit-identical: the
 * missing seqs are named (and printed as JSON with --json) and the exit status is 1. */
static int replayable(const struct ctl *c, struct ctl_vault *cv, const struct evidence *ev,
                      json_t *out)
{
	json_t *missing = NULL;
	char list[2048];
	int rc = missing_inputs(cv, ev, &missing);

	if (rc < 0)
		return ctl_vault_error(cv, "cannot read the audit's inputs", rc);
	if (!json_array_size(missing)) {
		json_decref(missing);
		return 0;
	}
	missing_text(missing, list, sizeof(list));
	ctl_error("incident %" PRIu64 ": audit entry %" PRIu64 " cannot be replayed bit for bit: "
	          "the payloads of %zu of its inputs were pruned: %s",
	          ev->id, ev->audit_seq, json_array_size(missing), list);
	if (c->json) {
		json_object_set_new(out, "incident_id", ctl_json_u64(ev->id));
		json_object_set_new(out, "audit_seq", ctl_json_u64(ev->audit_seq));
		json_object_set_new(out, "replayable", json_false());
		json_object_set_new(out, "identical", json_false());
		json_object_set_new(out, "missing", missing);
		ctl_json_print(stdout, out, false);
	} else {
		json_decref(missing);
	}
	return CTL_EXIT_PROBLEM;
}

static int run_replay(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct evidence ev;
	struct audit_model *am = NULL;
	double *bg = NULL;
	uint64_t *seqs = NULL;
	size_t n_bg = 0;
	json_t *doc = NULL, *out = json_object();
	uint64_t id;
	int rc;

	(void)argc;
	if (ctl_parse_u64("ID", argv[0], &id))
		return CTL_EXIT_USAGE;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	rc = gather(&cv, id, &ev);
	if (!rc && !ev.have_audit && ev.audits_pruned) {
		ctl_error("incident %" PRIu64 " has no readable audit entry: %" PRIu64
		          " audit entr%s written after it %s pruned since (its audit may have been "
		          "among them), so there is nothing to replay",
		          id, ev.audits_pruned, ev.audits_pruned == 1 ? "y" : "ies",
		          ev.audits_pruned == 1 ? "was" : "were");
		rc = CTL_EXIT_PROBLEM;
	} else if (!rc && !ev.have_audit) {
		ctl_error("incident %" PRIu64 " has no audit entry (rate limited, skipped or not "
		          "finished: see evidentctl log --type notice)",
		          id);
		rc = CTL_EXIT_PROBLEM;
	}
	if (!rc && !ev.mf) {
		ctl_error("incident %" PRIu64 ": model %s@%s is not registered in this vault", id,
		          ev.ie->model_id, ev.ie->model_version);
		rc = CTL_EXIT_PROBLEM;
	}
	if (!rc)
		rc = replayable(c, &cv, &ev, out);
	const json_t *params = json_object_get(ev.audit_doc, "params");
	if (!rc)
		rc = load_model(
		    &cv, ev.mf,
		    (size_t)json_integer_value(json_object_get(params, "background_size")), &am);
	if (!rc)
		rc = load_background(&cv, am, json_object_get(params, "background"), &bg, &seqs,
		                     &n_bg);
	if (!rc) {
		const Evident__V1__Record *r = ev.re->record;
		const json_t *ml = json_object_get(params, "methods");
		size_t nm = json_array_size(ml);
		const char **methods = calloc(nm ? nm : 1, sizeof(char *));
		for (size_t i = 0; methods && i < nm; i++)
			methods[i] = json_string_value(json_array_get(ml, i));
		const json_t *rb = json_object_get(params, "review_below");
		struct audit_background b = {.source = json_string_value(json_object_get(
		                                 json_object_get(params, "background"), "source")),
		                             .rows = bg,
		                             .n = n_bg,
		                             .seqs = seqs,
		                             .sha256 = json_string_value(json_object_get(
		                                 json_object_get(params, "background"), "sha256"))};
		struct audit_request rq = {
		    .incident_id = id,
		    .record_seq = ev.ie->record_seq,
		    .x = r->features,
		    .scores = r->scores,
		    .n_scores = r->n_scores,
		    .methods = methods,
		    .n_methods = nm,
		    .seed = (uint64_t)json_integer_value(json_object_get(params, "seed")),
		    .review_below = json_is_number(rb) ? json_number_value(rb) : NAN,
		    .decision = r->decision};
		enum audit_status st;
		if (r->n_features != am->M) {
			ctl_error("record %" PRIu64 " has %zu features, the model %zu",
			          ev.ie->record_seq, r->n_features, am->M);
			rc = CTL_EXIT_PROBLEM;
		} else if (audit_lime_params(params, &rq.lime) < 0) {
			/* LIME runs with the parameters the audit recorded */
			ctl_error("audit entry %" PRIu64 ": params.lime is not LIME's parameters",
			          ev.audit_seq);
			rc = CTL_EXIT_PROBLEM;
		} else if (!methods || audit_run(am, &b, &rq, &doc, &st) < 0) {
			rc = ctl_vault_error(&cv, "replay", -ENOMEM);
		}
		free(methods);
	}
	if (!rc) {
		/* compared on what the audit recorded: keys a later version adds are left out */
		_cleanup_(json_decrefp) json_t *like = audit_results_as_recorded(doc, ev.audit_doc);
		_cleanup_(freep) char *was = audit_results_canonical(ev.audit_doc);
		_cleanup_(freep) char *now = like ? audit_results_canonical(like) : NULL;
		bool same = was && now && !strcmp(was, now);
		json_object_set_new(out, "incident_id", ctl_json_u64(id));
		json_object_set_new(out, "audit_seq", ctl_json_u64(ev.audit_seq));
		json_object_set_new(out, "replayable", json_true());
		json_object_set_new(out, "identical", json_boolean(same));
		json_object_set_new(out, "recorded_bytes",
		                    json_integer(was ? (json_int_t)strlen(was) : 0));
		json_object_set(out, "recorded_timings_ms",
		                json_object_get(ev.audit_doc, "timings_ms"));
		json_object_set(out, "replay_timings_ms", json_object_get(doc, "timings_ms"));
		if (!same) {
			ctl_error("incident %" PRIu64
			          ": the replayed audit differs from audit entry "
			          "%" PRIu64 ":",
			          id, ev.audit_seq);
			first_difference(json_object_get(ev.audit_doc, "results"),
			                 json_object_get(like ? like : doc, "results"));
		}
		if (arg_model_version)
			rc = check_fix(&cv, &ev, am, ev.re->record->features, bg, n_bg, out);
		if (!rc) {
			if (c->json) {
				ctl_json_print(stdout, out, false);
			} else {
				printf("incident %" PRIu64 ": audit entry %" PRIu64
				       " replayed from the vault: "
				       "%s\n",
				       id, ev.audit_seq,
				       same ? "bit-identical results" : "RESULTS DIFFER");
				const json_t *fc = json_object_get(out, "fix_check");
				if (fc)
					printf("version %s: %s (%" JSON_INTEGER_FORMAT
					       " of %" JSON_INTEGER_FORMAT
					       " points of the failure region still get the "
					       "audited decision)\n",
					       arg_model_version,
					       json_string_value(json_object_get(fc, "conclusion")),
					       json_integer_value(
					           json_object_get(fc, "still_failing")),
					       json_integer_value(
					           json_object_get(fc, "region_points")));
			}
			rc = same ? 0 : CTL_EXIT_PROBLEM;
		}
	}
	json_decref(out);
	json_decref(doc);
	free(bg);
	free(seqs);
	audit_model_free(am);
	evidence_deinit(&ev);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option report_options[] = {
    {"format", required_argument, NULL, ARG_FORMAT},
    {"output", required_argument, NULL, 'o'},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_report = {
    .name = "report",
    .summary = "write an incident's audit report (HTML, Markdown or JSON)",
    .synopsis = "report ID [--format html|md|json] [-o FILE]",
    .description =
        "Writes the report of incident ID for a post-mortem or a regulator, built only from\n"
        "the vault: the model, version, artifact hash and lineage (with warnings when it is\n"
        "incomplete); the record's inputs by name against the training ranges; the outputs\n"
        "and decision; the audit (attributions as an SVG waterfall with their intervals,\n"
        "LIME's largest weights and whether runs with other seeds agree, counterfactuals,\n"
        "the flip test, the failure region, attributions far above their usual level, the\n"
        "confidence score with its components); the verdict sent to the client; the human\n"
        "reviews; and an inclusion proof of every cited entry, each verified while the\n"
        "report is written, against the checkpoint 'evidentctl prove' would cite: the\n"
        "newest covering them all that holds the witness quorum evidentd works to, else\n"
        "the newest signed one; the witnesses who cosigned it are named (name, key id,\n"
        "time). A summary in plain language comes first.\n"
        "HTML is one self-contained file (no scripts, no network). Markdown suits post-mortem\n"
        "documents. JSON (--format json or --json) is the document both are rendered from;\n"
        "each proof carries its bundle in the 'evidentctl prove' format, so\n"
        "'evidentctl verify-proof' can check it with nothing but the public key (and the\n"
        "witnesses' keys, --witness-key). Its checkpoint object holds tree_size, root,\n"
        "note, witness_quorum, witnessed (the quorum is met) and cosignatures ({name,\n"
        "key_id, timestamp, timestamp_unix} as the vault stored them).\n"
        "Section 11 also states what retention left of each cited entry: its payload\n"
        "present, or pruned (by retention, erasure or other means: when, by which prune\n"
        "entry, why), the active legal holds covering them, and whether the incident is\n"
        "open (evidentd prunes nothing about an open incident); section 12 says when a\n"
        "replay can no longer reproduce the audit because inputs it used were pruned. An\n"
        "incident whose record was pruned still has its report: the input values are\n"
        "gone (\"pruned\"), the audit and every proof remain. In JSON: \"retention\" with\n"
        "entries ({seq, what, payload \"present\" or \"pruned\", cause, reason,\n"
        "prune_seq, pruned_unix_ns, holds}), holds ({hold_id, seq, placed_unix_ns,\n"
        "holder, reason, incident_id, covers}), open_incident_keeps and replay_missing\n"
        "(as 'replay --json' names them); a pruned record has \"pruned\": true.\n"
        "Section 13 is the guard the audit suggests, when it found the cause (the failure\n"
        "region of its adversarial search, else the counterfactual threshold of the\n"
        "feature that drove the decision; daemon/audit/audit.h): a ready [guard NAME]\n"
        "section of evidentd's config (model ID@VERSION, when, action = review, a reason\n"
        "naming the incident) with its backtest. The backtest is computed here, not by the\n"
        "audit (which has no vault access) nor by evidentd (a scan of the vault per\n"
        "incident): on the vault as it was when the audit entry was appended (the 20,000\n"
        "entries before it at most, from_seq to as_of_seq, so that a report answers at\n"
        "once on any vault; evidentctl backtest reads all of it), the incidents of the\n"
        "audited version the rule would have\n"
        "caught, how many of those a human overturned (by every review so far,\n"
        "reviews_as_of_seq) and the share of routine decisions (records no incident\n"
        "names) it would have held. For an audit recorded before evidentd suggested\n"
        "guards, the rule is built here from the recorded results with the same code\n"
        "(\"recorded\": false). In JSON: \"suggested_guard\" {name, model, when, action,\n"
        "reason, source, features, decision, catches_audited_record, feature and\n"
        "threshold | left_out and precision, recorded, section (the config text),\n"
        "backtest_by, backtest {from_seq, as_of_seq, reviews_as_of_seq, model_id,\n"
        "model_version, incidents, incidents_caught, incidents_unknown, overturned,\n"
        "overturned_caught,\n"
        "records, caught, routine, routine_held, routine_share, records_pruned,\n"
        "catches_audited_record, bound, problem}}, absent when the audit suggests none.\n"
        "The report says when it was generated (generated_unix_ns). Everything else in it\n"
        "comes from the vault, so with SOURCE_DATE_EPOCH=SECONDS in the environment (the\n"
        "reproducible-builds convention) as the generation time, the same vault gives the\n"
        "same bytes: anyone holding a copy of the vault can write the report again and\n"
        "compare it with the one they were given.",
    .options = "--format html|md|json\n"
               "    Output format (default html).\n"
               "-o, --output FILE\n"
               "    Write to FILE (atomically) instead of standard output.",
    .exit_status = "0  success (also when cited payloads were pruned)\n"
                   "1  the incident's entry was pruned, its record does not decode, or the\n"
                   "   audit entry is damaged\n"
                   "2  usage error, no entry ID, or entry ID is not an incident\n"
                   "3  the vault could not be read, or the output could not be written",
    .examples = "evidentctl report 1042 -o incident-1042.html\n"
                "evidentctl report 1042 --format md > postmortem-appendix.md\n"
                "evidentctl report 1042 --json | jq .summary",
    .long_options = report_options,
    .short_options = "o:",
    .option = option,
    .min_args = 1,
    .max_args = 1,
    .args_name = "ID",
    .run = run_report,
};

static const struct option replay_options[] = {
    {"model-version", required_argument, NULL, ARG_MODEL_VERSION},
    {"oracle", required_argument, NULL, ARG_ORACLE},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_replay = {
    .name = "replay",
    .summary = "rerun an incident's audit from the vault and compare",
    .synopsis = "replay ID [--model-version V] [--oracle 'CMD']",
    .description =
        "Recomputes the audit of incident ID from the vault alone: the model artifact (its\n"
        "SHA-256 checked), the record, the background the audit used (the registered\n"
        "reference data, or the recent records it names by seq) and the parameters stored\n"
        "in the audit entry (methods, seed, thresholds, LIME's), with the code the daemon\n"
        "runs. The results must be bit-identical to the recorded ones (timings aside); the\n"
        "first differing result is named otherwise. Every value the audit recorded is\n"
        "compared; keys a later evidentd adds to a method's result (keys are only ever\n"
        "added) are left out when the audit was recorded without them.\n"
        "When a retention or erasure prune removed the payload of the record or of\n"
        "background records the audit used, the audit cannot be recomputed bit for bit:\n"
        "replay names those seqs, whether each was the record or background and what\n"
        "pruned it (\"the payloads of 2 of its inputs were pruned: 180 (record,\n"
        "retention), 123 (background, erasure)\") and exits with status 1 without\n"
        "recomputing anything; with --json: incident_id, audit_seq, replayable false,\n"
        "identical false and \"missing\" ({seq, what, prune}). A replay that can run has\n"
        "replayable true.\n"
        "With --model-version V (a version of the same model registered in the vault) it\n"
        "also re-runs the failure search: the region around the audited input where the\n"
        "audited version makes the same decision is found again, 2,000 points are drawn in\n"
        "it, and the share that version V still decides the same way is reported with a 95%\n"
        "interval: 'closed' when V no longer makes the decision there, 'hidden' when V only\n"
        "changed the decision of the audited input, 'not fixed' when it did not change that.",
    .options = "--model-version V\n"
               "    Check whether version V of the same model closed the failure region.\n"
               "--oracle 'CMD'\n"
               "    For a model evaluated through an oracle (framework \"oracle\"): the\n"
               "    command the daemon ran ([model ID] oracle in its config). The artifact\n"
               "    is extracted from the vault into a private file (EVIDENT_ARTIFACT).",
    .exit_status = "0  the replay reproduced the recorded results exactly\n"
                   "1  it did not, or cannot (inputs pruned, no audit, damaged evidence)\n"
                   "2  usage error\n"
                   "3  the vault could not be read",
    .examples = "evidentctl replay 1042\n"
                "evidentctl replay 1042 --model-version 2.1.0 --json",
    .long_options = replay_options,
    .option = option,
    .min_args = 1,
    .max_args = 1,
    .args_name = "ID",
    .run = run_replay,
};
