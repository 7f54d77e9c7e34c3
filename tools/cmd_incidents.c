/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl incidents / incident ID: the incidents the daemon's trigger rules opened (an
 * incident's ID is the seq of its entry), and one incident with the record it names and the
 * human reviews recorded for it. Found through the vault's type index. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"
#include "entry.pb-c.h"

enum {
	ARG_MODEL = CTL_OPT_VERB,
	ARG_SINCE,
	ARG_TRIGGER,
	ARG_STATUS,
};

static struct ctl_model_filter arg_model;
static uint64_t arg_since;
static const char *arg_trigger;
static int arg_status = -1; /* enum ctl_incident_state; -1: any */

/* ------------------------------------------------------------------ incident states */

enum ctl_incident_state ctl_incident_state(const Evident__Entry__V1__IncidentEntry *ie,
                                           bool reviewed)
{
	if (ie->status == EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__RATE_LIMITED)
		return CTL_INCIDENT_RATE_LIMITED;
	return reviewed ? CTL_INCIDENT_REVIEWED : CTL_INCIDENT_OPEN;
}

const char *ctl_incident_state_name(enum ctl_incident_state s)
{
	switch (s) {
	case CTL_INCIDENT_REVIEWED:
		return "reviewed";
	case CTL_INCIDENT_RATE_LIMITED:
		return "rate-limited";
	case CTL_INCIDENT_OPEN:
		break;
	}
	return "open";
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int gather_reviewed(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct ctl_reviewed *rv = ud;
	const Evident__Entry__V1__ReviewEntry *re =
	    p->status == 0 ? (const Evident__Entry__V1__ReviewEntry *)p->msg : NULL;

	(void)e;
	if (!re || !re->review)
		return 0;
	if (rv->n == rv->cap) {
		size_t cap = rv->cap ? 2 * rv->cap : 64;
		uint64_t *ids = realloc(rv->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		rv->ids = ids;
		rv->cap = cap;
	}
	rv->ids[rv->n++] = re->review->incident_id;
	return 0;
}

int ctl_reviewed_load(struct vault_reader *r, uint64_t to, struct ctl_reviewed *ret)
{
	int rc = ctl_scan_type(r, VAULT_ENTRY_REVIEW, 0, to, gather_reviewed, ret);

	if (rc >= 0 && ret->n)
		qsort(ret->ids, ret->n, sizeof(*ret->ids), cmp_u64);
	return rc < 0 ? rc : 0;
}

bool ctl_reviewed_has(const struct ctl_reviewed *rv, uint64_t id)
{
	return rv->n && bsearch(&id, rv->ids, rv->n, sizeof(*rv->ids), cmp_u64);
}

void ctl_reviewed_free(struct ctl_reviewed *rv)
{
	free(rv->ids);
	*rv = (struct ctl_reviewed){0};
}

struct open_search {
	const struct ctl_reviewed *rv;
	struct ctl_open_incidents *out;
};

static int open_found(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct open_search *os = ud;
	struct ctl_open_incidents *o = os->out;
	const Evident__Entry__V1__IncidentEntry *ie =
	    p->status == 0 ? (const Evident__Entry__V1__IncidentEntry *)p->msg : NULL;

	if (!ie ||
	    ctl_incident_state(ie, ctl_reviewed_has(os->rv, e->leaf.seq)) != CTL_INCIDENT_OPEN)
		return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		struct ctl_open_incident *v = realloc(o->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = (struct ctl_open_incident){ie->record_seq, e->leaf.seq};
	return 0;
}

static int cmp_open(const void *a, const void *b)
{
	const struct ctl_open_incident *x = a, *y = b;

	if (x->record_seq != y->record_seq)
		return x->record_seq < y->record_seq ? -1 : 1;
	return x->incident_seq < y->incident_seq ? -1 : x->incident_seq > y->incident_seq;
}

int ctl_open_incidents_load(struct vault_reader *r, uint64_t to, struct ctl_open_incidents *ret)
{
	_cleanup_(ctl_reviewed_free) struct ctl_reviewed rv = {0};
	struct open_search os = {.rv = &rv, .out = ret};
	int rc = ctl_reviewed_load(r, to, &rv);

	if (rc >= 0)
		rc = ctl_scan_type(r, VAULT_ENTRY_INCIDENT, 0, to, open_found, &os);
	if (rc >= 0 && ret->n)
		qsort(ret->v, ret->n, sizeof(*ret->v), cmp_open);
	return rc < 0 ? rc : 0;
}

const struct ctl_open_incident *ctl_open_incident_of(const struct ctl_open_incidents *o,
                                                     uint64_t record_seq)
{
	size_t lo = 0, hi = o->n;

	/* the first with this record */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->v[mid].record_seq < record_seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < o->n && o->v[lo].record_seq == record_seq ? &o->v[lo] : NULL;
}

void ctl_open_incidents_free(struct ctl_open_incidents *o)
{
	free(o->v);
	*o = (struct ctl_open_incidents){0};
}

/* ------------------------------------------------------------------ verbs */

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	switch (opt) {
	case ARG_MODEL:
		return ctl_model_filter_parse(arg, &arg_model);
	case ARG_SINCE:
		return ctl_parse_time("--since", arg, &arg_since);
	case ARG_TRIGGER:
		arg_trigger = arg;
		return 0;
	case ARG_STATUS:
		for (int st = CTL_INCIDENT_OPEN; st <= CTL_INCIDENT_RATE_LIMITED; st++)
			if (!strcmp(arg, ctl_incident_state_name(st))) {
				arg_status = st;
				return 0;
			}
		return ctl_usage_error(
		    "--status: expected open, reviewed or rate-limited, not \"%s\"", arg);
	}
	return CTL_EXIT_USAGE;
}

/* The incident at seq, decoded into *p (deinit it); NULL when the entry is not an incident
 * or cannot be decoded. */
static const Evident__Entry__V1__IncidentEntry *incident_at(struct ctl_vault *cv, uint64_t seq,
                                                            struct vault_entry *e,
                                                            struct ctl_payload *p, int *rc)
{
	*rc = vault_get(cv->r, seq, e);
	if (*rc < 0)
		return NULL;
	ctl_payload_decode(e, p);
	if (e->leaf.type != VAULT_ENTRY_INCIDENT || p->status < 0)
		return NULL;
	return (const Evident__Entry__V1__IncidentEntry *)p->msg;
}

static json_t *incident_json(const struct vault_entry *e,
                             const Evident__Entry__V1__IncidentEntry *ie, bool reviewed)
{
	json_t *o = json_object(), *methods = json_array();
	char t[CTL_TIME_MAX];

	ctl_json_set(o, "id", ctl_json_u64(e->leaf.seq));
	ctl_json_set(o, "time", json_string(ctl_time_format(e->leaf.timestamp_ns, t)));
	ctl_json_set(o, "trigger", ctl_json_string(ie->trigger));
	ctl_json_set(o, "status",
	             json_string(ctl_incident_state_name(ctl_incident_state(ie, reviewed))));
	ctl_json_set(o, "reviewed", json_boolean(reviewed));
	ctl_json_set(o, "record_seq", ctl_json_u64(ie->record_seq));
	ctl_json_set(o, "model_id", ctl_json_string(ie->model_id));
	ctl_json_set(o, "model_version", ctl_json_string(ie->model_version));
	ctl_json_set(o, "client", ctl_json_string(ie->client_name));
	ctl_json_set(o, "request_id", ctl_json_string(ie->request_id));
	ctl_json_set(o, "when", ctl_json_string(ie->when));
	for (size_t i = 0; i < ie->n_methods; i++)
		json_array_append_new(methods, ctl_json_string(ie->methods[i]));
	ctl_json_set(o, "methods", methods);
	ctl_json_set(o, "review_below", json_real(ie->review_below));
	return o;
}

int ctl_incidents_list(const struct ctl *c, struct ctl_vault *cv, const char *origin, int status,
                       bool header, uint64_t *ret_shown)
{
	_cleanup_(ctl_reviewed_free) struct ctl_reviewed rv = {0};
	uint64_t from = 0, seq, shown = 0;
	int rc = 0;

	if (status < 0)
		status = arg_status;

	if (arg_since && vault_seek_time(cv->r, arg_since, &from) < 0)
		return ctl_vault_error(cv, "cannot read entries", -EIO);
	rc = ctl_reviewed_load(cv->r, vault_reader_size(cv->r), &rv);
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read reviews", rc);
	if (!c->json && header)
		printf("%s%-8s %-24s %-20s %-13s %-28s %s\n",
		       origin ? "origin                          " : "", "id", "time", "trigger",
		       "status", "model", "record");
	for (;; from = seq + 1) {
		struct vault_entry e;
		struct ctl_payload p;
		rc = vault_next_of_type(cv->r, VAULT_ENTRY_INCIDENT, from, &seq);
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		const Evident__Entry__V1__IncidentEntry *ie = incident_at(cv, seq, &e, &p, &rc);
		if (rc < 0)
			break;
		bool reviewed = ctl_reviewed_has(&rv, seq);
		if (ie && ctl_model_filter_match(&arg_model, ie->model_id, ie->model_version) &&
		    (!arg_trigger || (ie->trigger && !strcmp(ie->trigger, arg_trigger))) &&
		    (status < 0 || (int)ctl_incident_state(ie, reviewed) == status)) {
			shown++;
			if (c->json) {
				_cleanup_(json_decrefp) json_t *o = incident_json(&e, ie, reviewed);
				if (origin)
					ctl_json_set(o, "origin", ctl_json_string(origin));
				ctl_json_print(stdout, o, true);
			} else {
				if (origin)
					printf("%-31s ", origin);
				char t[CTL_TIME_MAX], model[200];
				snprintf(model, sizeof(model), "%s@%s",
				         ie->model_id ? ie->model_id : "",
				         ie->model_version ? ie->model_version : "");
				printf("%-8" PRIu64 " %-24s %-20s %-13s %-28s %" PRIu64 " (%s)\n",
				       seq, ctl_time_format(e.leaf.timestamp_ns, t),
				       ie->trigger ? ie->trigger : "",
				       ctl_incident_state_name(ctl_incident_state(ie, reviewed)),
				       model, ie->record_seq, ie->request_id ? ie->request_id : "");
			}
		}
		ctl_payload_deinit(&p);
	}
	if (rc < 0)
		return ctl_vault_error(cv, "cannot read incidents", rc);
	if (ret_shown)
		*ret_shown = shown;
	else if (!c->json)
		printf("%" PRIu64 " incident(s)\n", shown);
	return 0;
}

static int run_list(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	int rc;

	(void)argc;
	(void)argv;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	rc = ctl_incidents_list(c, &cv, NULL, -1, true, NULL);
	ctl_vault_close(&cv);
	return rc;
}

/* The reviews whose incident_id is id, appended to a JSON array or printed. */
struct reviews {
	uint64_t id;
	json_t *arr; /* NULL: print */
};

static int review_of(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	const struct reviews *rs = ud;
	const Evident__Entry__V1__ReviewEntry *re =
	    p->status == 0 ? (const Evident__Entry__V1__ReviewEntry *)p->msg : NULL;
	char t[CTL_TIME_MAX];

	if (!re || !re->review || re->review->incident_id != rs->id)
		return 0;
	if (rs->arr) {
		json_t *o = json_object();
		ctl_json_set(o, "seq", ctl_json_u64(e->leaf.seq));
		ctl_json_set(o, "time", json_string(ctl_time_format(e->leaf.timestamp_ns, t)));
		ctl_json_set(o, "reviewer", ctl_json_string(re->review->reviewer));
		ctl_json_set(o, "outcome", ctl_json_string(re->review->outcome));
		ctl_json_set(o, "note", ctl_json_string(re->review->note));
		json_array_append_new(rs->arr, o);
	} else {
		printf("  review %" PRIu64 " at %s by %s: %s%s%s\n", e->leaf.seq,
		       ctl_time_format(e->leaf.timestamp_ns, t),
		       re->review->reviewer ? re->review->reviewer : "?",
		       re->review->outcome ? re->review->outcome : "?",
		       re->review->note ? " — " : "", re->review->note ? re->review->note : "");
	}
	return 0;
}

/* The reviews of incident id: JSON objects appended to arr with --json, else printed. */
static int reviews_of(const struct ctl *c, struct ctl_vault *cv, uint64_t id, json_t *arr)
{
	struct reviews rs = {.id = id, .arr = c->json ? arr : NULL};
	return ctl_scan_type(cv->r, VAULT_ENTRY_REVIEW, id, UINT64_MAX, review_of, &rs);
}

/* The incident's audit and verdict: a short account (text), or "audit" and "verdict" members
 * (JSON: the audit document's status, reasons, confidence and verdict; the verdict sent). */
static int audit_and_verdict(struct ctl_vault *cv, uint64_t id, json_t *o)
{
	static const char *const actions[] = {"?", "PROCEED", "REVIEW", "PENDING"};
	struct ctl_payload ap = {0}, vp = {0};
	uint64_t as, vs, gone = 0;
	int rc = ctl_incident_entry(cv, id, VAULT_ENTRY_AUDIT, &as, &ap);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	const Evident__Entry__V1__AuditEntry *ae =
	    rc == 0 ? (const Evident__Entry__V1__AuditEntry *)ap.msg : NULL;
	json_t *doc = ae && ae->document ? json_loads(ae->document, 0, NULL) : NULL;
	const json_t *res = json_object_get(doc, "results");
	const json_t *conf = json_object_get(res, "confidence");
	if (o) {
		json_t *a = json_null();
		if (ae) {
			a = json_object();
			ctl_json_set(a, "seq", ctl_json_u64(as));
			json_object_set(a, "status", json_object_get(doc, "status"));
			json_object_set(a, "reasons", json_object_get(doc, "reasons"));
			json_object_set(a, "confidence", json_object_get(conf, "c"));
			json_object_set(a, "verdict", json_object_get(res, "verdict"));
		}
		ctl_json_set(o, "audit", a);
	} else if (ae) {
		printf("\naudit %" PRIu64 ": %s", as,
		       json_string_value(json_object_get(doc, "status"))
		           ? json_string_value(json_object_get(doc, "status"))
		           : "unreadable document");
		if (conf)
			printf(", confidence %.3f", json_number_value(json_object_get(conf, "c")));
		printf(" (evidentctl report %" PRIu64 " has the findings)\n", id);
		size_t i;
		const json_t *r;
		json_array_foreach(json_object_get(doc, "reasons"), i, r)
		    printf("  %s\n", json_string_value(r));
	} else if (ctl_incident_pruned_after(cv, id, VAULT_ENTRY_AUDIT, &gone) == 0 && gone) {
		printf("\naudit: none readable (%" PRIu64
		       " audit entr%s written after the incident "
		       "%s pruned since: its audit may have been among them)\n",
		       gone, gone == 1 ? "y" : "ies", gone == 1 ? "was" : "were");
	} else {
		printf("\naudit: none recorded (rate limited, skipped: see evidentctl log --type "
		       "notice, or still running)\n");
	}
	json_decref(doc);
	ctl_payload_deinit(&ap);
	rc = ctl_incident_entry(cv, id, VAULT_ENTRY_VERDICT, &vs, &vp);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	const Evident__Entry__V1__VerdictEntry *ve =
	    rc == 0 ? (const Evident__Entry__V1__VerdictEntry *)vp.msg : NULL;
	const Evident__V1__Verdict *v = ve ? ve->verdict : NULL;
	const char *action = v && v->action < 4 ? actions[v->action] : "?";
	if (o) {
		json_t *j = json_null();
		if (v) {
			json_t *reasons = json_array();
			j = json_object();
			ctl_json_set(j, "seq", ctl_json_u64(vs));
			ctl_json_set(j, "action", json_string(action));
			ctl_json_set(j, "confidence",
			             v->has_confidence ? ctl_json_double(v->confidence)
			                               : json_null());
			for (size_t i = 0; i < v->n_reasons; i++)
				json_array_append_new(reasons, ctl_json_string(v->reasons[i]));
			ctl_json_set(j, "reasons", reasons);
			ctl_json_set(j, "delivered", json_boolean(ve->delivered));
		}
		ctl_json_set(o, "verdict", j);
	} else if (v) {
		printf("verdict %" PRIu64 ": %s%s", vs, action,
		       ve->delivered ? "" : " (not delivered)");
		for (size_t i = 0; i < v->n_reasons; i++)
			printf("%s %s", i ? ";" : " —", v->reasons[i]);
		printf("\n");
	}
	ctl_payload_deinit(&vp);
	return 0;
}

static int run_one(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct vault_entry e, re;
	struct ctl_payload p, rp = {0};
	_cleanup_(ctl_models_freep) struct ctl_models *m = NULL;
	_cleanup_(ctl_reviewed_free) struct ctl_reviewed rv = {0};
	uint64_t id;
	int rc;

	(void)argc;
	if (ctl_parse_u64("ID", argv[0], &id))
		return CTL_EXIT_USAGE;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	const Evident__Entry__V1__IncidentEntry *ie = incident_at(&cv, id, &e, &p, &rc);
	if (rc == -ENOENT) {
		rc = ctl_no_entry(id, vault_reader_size(cv.r));
		goto out_close;
	}
	if (rc < 0) {
		rc = ctl_vault_error(&cv, "cannot read the entry", rc);
		goto out_close;
	}
	if (!ie) {
		const char *type = vault_entry_type_name(e.leaf.type);
		ctl_error("entry %" PRIu64 " is a %s entry, not an incident (evidentctl incidents "
		          "lists them)",
		          id, type ? type : "unknown");
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	m = ctl_models_new();
	uint64_t record_seq = ie->record_seq;
	rc = ctl_reviewed_load(cv.r, vault_reader_size(cv.r), &rv);
	bool reviewed = ctl_reviewed_has(&rv, id);
	if (rc >= 0)
		rc = m ? ctl_models_load(m, cv.r, 0, record_seq) : -ENOMEM;
	if (rc >= 0)
		rc = vault_get(cv.r, record_seq, &re);
	if (rc >= 0)
		ctl_payload_decode(&re, &rp);
	if (rc < 0) {
		rc = ctl_vault_error(&cv, "cannot read the incident's record", rc);
		goto out;
	}
	if (c->json) {
		_cleanup_(json_decrefp) json_t *o = incident_json(&e, ie, reviewed);
		json_t *reviews = json_array();
		ctl_json_set(o, "record", ctl_payload_json(&rp, m));
		rc = audit_and_verdict(&cv, id, o);
		if (rc >= 0)
			rc = reviews_of(c, &cv, id, reviews);
		ctl_json_set(o, "reviews", reviews);
		if (rc >= 0)
			rc = ctl_json_print(stdout, o, false) == 0 ? 0 : CTL_EXIT_UNREADABLE;
	} else {
		char t[CTL_TIME_MAX];
		printf("incident %" PRIu64 " (%s) at %s: trigger %s fired on record %" PRIu64 "\n",
		       id, ctl_incident_state_name(ctl_incident_state(ie, reviewed)),
		       ctl_time_format(e.leaf.timestamp_ns, t), ie->trigger ? ie->trigger : "?",
		       record_seq);
		printf("  when %s\n", ie->when ? ie->when : "?");
		printf("  audit asked for:");
		for (size_t i = 0; i < ie->n_methods; i++)
			printf(" %s", ie->methods[i]);
		printf("%s; review below confidence %.2f\n\n", ie->n_methods ? "" : " (none)",
		       ie->review_below);
		ctl_payload_print(stdout, &rp, m);
		rc = audit_and_verdict(&cv, id, NULL);
		printf("\nreviews:\n");
		if (rc >= 0)
			rc = reviews_of(c, &cv, id, NULL);
	}
	if (rc < 0)
		rc = ctl_vault_error(&cv, "cannot read reviews", rc);
	ctl_payload_deinit(&rp);
out:
	ctl_payload_deinit(&p);
out_close:
	ctl_vault_close(&cv);
	return rc;
}

static const struct option list_options[] = {
    {"model", required_argument, NULL, ARG_MODEL},
    {"since", required_argument, NULL, ARG_SINCE},
    {"trigger", required_argument, NULL, ARG_TRIGGER},
    {"status", required_argument, NULL, ARG_STATUS},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_incidents = {
    .name = "incidents",
    .summary = "list the incidents trigger rules opened",
    .synopsis = "incidents [--model ID[@VER]] [--trigger NAME] "
                "[--status open|reviewed|rate-limited] [--since T]",
    .description =
        "Lists the incident entries, oldest first: the ID (the incident entry's seq), time,\n"
        "trigger rule, status, model and the record that fired it (seq and request id).\n"
        "An incident is written right after the record that fired it is durable; past a\n"
        "rule's rate limit it is still written, with status rate-limited (counted, not\n"
        "audited). The status of any other incident is open until a human review names it\n"
        "(a Review sent through the client), then reviewed: 'evidentctl status' counts the\n"
        "open ones, and incident and report show the same status. With --json one object\n"
        "per incident: id, time, trigger, status (open, reviewed or rate-limited), reviewed\n"
        "(a review names it), record_seq, model_id, model_version, client, request_id, when,\n"
        "methods, review_below. Times T as in 'evidentctl log --help'.",
    .options = "--model ID[@VER]\n"
               "    Only incidents of this model (any version without @VER).\n"
               "--trigger NAME\n"
               "    Only incidents of this rule.\n"
               "--status open|reviewed|rate-limited\n"
               "    Only incidents with this status: open (no human review yet), reviewed,\n"
               "    or rate-limited (past the rule's rate limit: counted, not audited).\n"
               "--since T\n"
               "    Only incidents recorded at or after time T.",
    .exit_status = "0  success\n"
                   "2  usage error\n"
                   "3  the vault could not be read",
    .examples = "evidentctl incidents --since -1d\n"
                "evidentctl incidents --trigger large-fx-sell --status open --json",
    .long_options = list_options,
    .option = option,
    .run = run_list,
};

static const struct option one_options[] = {CTL_GLOBAL_OPTIONS};

const struct ctl_verb ctl_verb_incident = {
    .name = "incident",
    .summary = "show one incident with its record and reviews",
    .synopsis = "incident ID",
    .description = "Shows incident ID (the seq of its entry): the rule and expression that fired,\n"
                   "the audit it asks for, the record it names decoded with its features by name\n"
                   "against the model's training ranges, its audit (status, confidence, why),\n"
                   "the verdict sent to the client, and the human reviews recorded for it.\n"
                   "With --json: the incident's fields as in 'incidents --json', \"record\" (the\n"
                   "decoded record, as in 'show --json'), \"audit\" (seq, status, reasons,\n"
                   "confidence, verdict; null when none), \"verdict\" (seq, action, confidence,\n"
                   "reasons, delivered; null when none) and \"reviews\" (seq, time, reviewer,\n"
                   "outcome, note). 'evidentctl report ID' has every finding.",
    .exit_status = "0  success\n"
                   "2  usage error, no entry ID, or entry ID is not an incident\n"
                   "3  the vault could not be read",
    .examples = "evidentctl incident 1042\n"
                "evidentctl incident 1042 --json | jq .record.features",
    .long_options = one_options,
    .min_args = 1,
    .max_args = 1,
    .args_name = "ID",
    .run = run_one,
};
