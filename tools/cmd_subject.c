/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl subject ID: every entry of a data subject (a record's Record.subject, found
 * through the vault's subject index) with what became of its payload: present, or pruned by
 * retention or erasure (the prune entry that says so), and what keeps it (legal holds, an
 * open incident on the record); and the erasure requests made for the subject. What a
 * controller answers a GDPR Art. 15 access request with; `export --subject ID` gives the
 * records themselves. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

/* One entry of the subject, copied out of the vault. */
struct item {
	uint64_t seq, timestamp_ns;
	uint16_t type;
	bool present;
	char *model_id, *model_version, *request_id; /* a record's, while its payload is there */
	/* the record an incident, audit or verdict entry is about (evidentd indexes those under
	 * their record's subject), while its payload is there; UINT64_MAX: none */
	uint64_t about;
};

struct subject {
	const char *id;
	struct item *v;
	size_t n, cap;
	uint64_t present, pruned, held;
	struct ctl_prunes prunes;
	struct ctl_holds holds;
	struct ctl_open_incidents open;
	json_t *erasures; /* array of the erasure entries naming the subject */
};

static void subject_deinit(struct subject *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].model_id);
		free(s->v[i].model_version);
		free(s->v[i].request_id);
	}
	free(s->v);
	ctl_prunes_free(&s->prunes);
	ctl_holds_free(&s->holds);
	ctl_open_incidents_free(&s->open);
	json_decref(s->erasures);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int item_add(struct subject *s, const struct vault_entry *e)
{
	const Evident__Entry__V1__RecordEntry *re;
	struct ctl_payload p;
	struct item *it;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct item *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	it = &s->v[s->n++];
	*it = (struct item){.seq = e->leaf.seq,
	                    .timestamp_ns = e->leaf.timestamp_ns,
	                    .type = e->leaf.type,
	                    .present = e->payload != NULL,
	                    .about = e->leaf.type == VAULT_ENTRY_RECORD ? e->leaf.seq : UINT64_MAX};
	ctl_payload_decode(e, &p);
	re = ctl_payload_record(&p);
	if (p.status == 0 && p.type == VAULT_ENTRY_INCIDENT)
		it->about = ((const Evident__Entry__V1__IncidentEntry *)p.msg)->record_seq;
	else if (p.status == 0 && p.type == VAULT_ENTRY_AUDIT)
		it->about = ((const Evident__Entry__V1__AuditEntry *)p.msg)->record_seq;
	else if (p.status == 0 && p.type == VAULT_ENTRY_VERDICT)
		it->about = ((const Evident__Entry__V1__VerdictEntry *)p.msg)->record_seq;
	if (re && re->record) {
		it->model_id = dup_or_null(re->record->model_id);
		it->model_version = dup_or_null(re->record->model_version);
		it->request_id = dup_or_null(re->record->request_id);
	}
	ctl_payload_deinit(&p);
	return 0;
}

static int erasure_of(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct subject *s = ud;
	const Evident__Entry__V1__ErasureEntry *ee = ctl_payload_erasure(p);
	json_t *o;

	if (!ee || !ee->erase || !ee->erase->subject || strcmp(ee->erase->subject, s->id) != 0)
		return 0;
	o = json_object();
	if (!o)
		return -ENOMEM;
	ctl_json_set(o, "seq", ctl_json_u64(e->leaf.seq));
	ctl_json_set(o, "time", ctl_json_time(e->leaf.timestamp_ns));
	ctl_json_set(o, "request_id", ctl_json_string(ee->erase->request_id));
	ctl_summary_json(p, o);
	json_object_del(o, "subject");
	return json_array_append_new(s->erasures, o) == 0 ? 0 : -ENOMEM;
}

/* The subject's entries, the prunes of their payloads, the holds and open incidents, the
 * erasure requests. */
static int gather(struct vault_reader *r, struct subject *s)
{
	_cleanup_(freep) uint64_t *gone = NULL;
	size_t n_gone = 0;
	uint64_t seq = 0;
	int rc;

	while ((rc = vault_subject_next(r, s->id, seq, &seq)) == 0) {
		struct vault_entry e;
		rc = vault_get(r, seq, &e);
		if (rc >= 0)
			rc = item_add(s, &e);
		if (rc < 0)
			return rc;
		seq++;
	}
	if (rc != -ENOENT)
		return rc;
	gone = malloc((s->n ? s->n : 1) * sizeof(*gone));
	if (!gone)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (!s->v[i].present)
			gone[n_gone++] = s->v[i].seq;
	rc = ctl_prunes_load(r, gone, n_gone, &s->prunes);
	if (rc >= 0)
		rc = ctl_holds_load(r, vault_reader_size(r), &s->holds);
	if (rc >= 0)
		rc = ctl_open_incidents_load(r, vault_reader_size(r), &s->open);
	if (rc >= 0)
		rc = ctl_scan_type(r, VAULT_ENTRY_ERASURE, 0, vault_reader_size(r), erasure_of, s);
	return rc < 0 ? rc : 0;
}

/* The active holds covering seq, as an array of hold_ids. */
static json_t *holds_of(const struct subject *s, uint64_t seq)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < s->holds.n; i++)
		if (!s->holds.v[i].released && ctl_hold_covers(&s->holds.v[i], seq))
			json_array_append_new(arr, ctl_json_string(s->holds.v[i].hold_id));
	return arr;
}

/* The open incident on the record the entry is (or is about), which keeps it, or NULL. */
static const struct ctl_open_incident *open_on(const struct subject *s, const struct item *it)
{
	return it->about != UINT64_MAX ? ctl_open_incident_of(&s->open, it->about) : NULL;
}

static json_t *item_json(const struct subject *s, const struct item *it, json_t *holds)
{
	const char *type = vault_entry_type_name(it->type);
	const struct ctl_prune *pr = ctl_prunes_find(&s->prunes, it->seq);
	const struct ctl_open_incident *oi = open_on(s, it);
	json_t *o = json_object();

	if (!o)
		return NULL;
	ctl_json_set(o, "seq", ctl_json_u64(it->seq));
	ctl_json_set(o, "type", type ? json_string(type) : json_integer(it->type));
	ctl_json_set(o, "time", ctl_json_time(it->timestamp_ns));
	ctl_json_set(o, "timestamp_ns", ctl_json_u64(it->timestamp_ns));
	if (it->model_id) {
		ctl_json_set(o, "model_id", ctl_json_string(it->model_id));
		ctl_json_set(o, "model_version", ctl_json_string(it->model_version));
		ctl_json_set(o, "request_id", ctl_json_string(it->request_id));
	}
	ctl_json_set(o, "payload_state", json_string(it->present ? "present" : "pruned"));
	if (pr)
		ctl_json_set(o, "prune", ctl_prune_json(pr));
	json_object_set(o, "holds", holds);
	ctl_json_set(o, "open_incident", oi ? ctl_json_u64(oi->incident_seq) : json_null());
	return o;
}

static void item_print(const struct subject *s, const struct item *it, const json_t *holds)
{
	const char *type = vault_entry_type_name(it->type);
	const struct ctl_prune *pr = ctl_prunes_find(&s->prunes, it->seq);
	const struct ctl_open_incident *oi = open_on(s, it);
	char t[CTL_TIME_MAX], pt[CTL_TIME_MAX], model[200] = "-", state[256];
	size_t i;
	const json_t *h;

	if (it->model_id)
		snprintf(model, sizeof(model), "%s@%s", it->model_id,
		         it->model_version ? it->model_version : "");
	if (it->present)
		snprintf(state, sizeof(state), "present");
	else if (pr)
		snprintf(state, sizeof(state), "pruned (%s) at %s by prune entry %" PRIu64,
		         ctl_prune_cause_name(pr->cause), ctl_time_format(pr->timestamp_ns, pt),
		         pr->seq);
	else
		snprintf(state, sizeof(state),
		         "pruned (no prune entry names it: run evidentctl verify)");
	printf("%-8" PRIu64 " %-24s %-9s %-28s %s", it->seq, ctl_time_format(it->timestamp_ns, t),
	       type ? type : "unknown", model, state);
	json_array_foreach(holds, i, h) printf("%s%s", i ? ", " : "; held by ",
	                                       json_string_value(h) ? json_string_value(h) : "?");
	if (oi)
		printf("%sopen incident %" PRIu64, json_array_size(holds) ? ", " : "; held by ",
		       oi->incident_seq);
	putchar('\n');
}

static void erasures_print(const struct subject *s)
{
	size_t i, k;
	const json_t *o, *h;

	if (!json_array_size(s->erasures))
		return;
	printf("\nerasure requests:\n");
	json_array_foreach(s->erasures, i, o)
	{
		const char *by = json_string_value(json_object_get(o, "requested_by"));
		const json_t *held = json_object_get(o, "blocking_holds");
		printf("  entry %" JSON_INTEGER_FORMAT " at %s by %s: %" JSON_INTEGER_FORMAT
		       " pruned, %" JSON_INTEGER_FORMAT " already pruned, %zu kept under a hold",
		       json_integer_value(json_object_get(o, "seq")),
		       json_string_value(json_object_get(o, "time")), by ? by : "?",
		       json_integer_value(json_object_get(o, "erased")),
		       json_integer_value(json_object_get(o, "already_pruned")),
		       json_array_size(json_object_get(o, "held_seqs")));
		json_array_foreach(held, k, h) printf(
		    "%s%s", k ? ", " : " (", json_string_value(h) ? json_string_value(h) : "?");
		printf("%s\n", json_array_size(held) ? ")" : "");
	}
}

static int print(const struct ctl *c, struct subject *s)
{
	_cleanup_(json_decrefp) json_t *doc = json_object(), *entries = json_array();

	if (!doc || !entries)
		return -ENOMEM;
	if (!c->json && s->n)
		printf("%-8s %-24s %-9s %-28s %s\n", "seq", "time", "type", "model", "payload");
	for (size_t i = 0; i < s->n; i++) {
		_cleanup_(json_decrefp) json_t *holds = holds_of(s, s->v[i].seq);
		if (!holds)
			return -ENOMEM;
		s->present += s->v[i].present;
		s->pruned += !s->v[i].present;
		s->held += json_array_size(holds) > 0 || open_on(s, &s->v[i]);
		if (c->json)
			json_array_append_new(entries, item_json(s, &s->v[i], holds));
		else
			item_print(s, &s->v[i], holds);
	}
	if (!c->json) {
		if (s->n)
			printf("subject %s: %zu entr%s, %" PRIu64 " with their payload, %" PRIu64
			       " pruned, %" PRIu64 " kept by a legal hold or an open incident\n",
			       s->id, s->n, s->n == 1 ? "y" : "ies", s->present, s->pruned,
			       s->held);
		else
			printf("subject %s: no entries (the vault holds nothing about this "
			       "subject)\n",
			       s->id);
		erasures_print(s);
		return 0;
	}
	ctl_json_set(doc, "subject", ctl_json_string(s->id));
	ctl_json_set(doc, "count", ctl_json_u64(s->n));
	ctl_json_set(doc, "present", ctl_json_u64(s->present));
	ctl_json_set(doc, "pruned", ctl_json_u64(s->pruned));
	ctl_json_set(doc, "held", ctl_json_u64(s->held));
	json_object_set(doc, "entries", entries);
	json_object_set(doc, "erasures", s->erasures);
	return ctl_json_print(stdout, doc, false);
}

int ctl_subject_check(const char *verb, const char *subject)
{
	size_t n = strlen(subject);

	if (n == 0 || n > VAULT_SUBJECT_MAX)
		return ctl_usage_error("%s: a data subject id is 1 to %d bytes, not %zu", verb,
		                       VAULT_SUBJECT_MAX, n);
	return 0;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct subject s = {.id = argv[0]};
	struct ctl_vault cv;
	int rc;

	(void)argc;
	if (ctl_subject_check("subject", s.id))
		return CTL_EXIT_USAGE;
	s.erasures = json_array();
	if (!s.erasures)
		return CTL_EXIT_UNREADABLE;
	rc = ctl_vault_open(c, &cv);
	if (rc) {
		subject_deinit(&s);
		return rc;
	}
	rc = gather(cv.r, &s);
	if (rc < 0)
		rc = ctl_vault_error(&cv, "cannot read the subject's entries", rc);
	else if (print(c, &s) < 0)
		rc = CTL_EXIT_UNREADABLE;
	subject_deinit(&s);
	ctl_vault_close(&cv);
	return rc;
}

static const struct option options[] = {CTL_GLOBAL_OPTIONS};

const struct ctl_verb ctl_verb_subject = {
    .name = "subject",
    .summary = "list every entry of a data subject and what became of it",
    .synopsis = "subject ID",
    .description =
        "Lists every entry the vault holds about data subject ID (the pseudonymous id a\n"
        "client sets in Record.subject, found through the vault's subject index), oldest\n"
        "first: seq, time, type, model and request id (while the payload is there), and\n"
        "the payload's state: present, or pruned by retention (evidentd's retention\n"
        "policy), by erasure (the subject's erasure request) or by other means, with the\n"
        "prune entry that records it and when; and what keeps it from being pruned: the\n"
        "active legal holds covering it, an open incident on the record (or on the record\n"
        "an incident, audit or verdict of the subject is about). Then the erasure\n"
        "requests made for ID: when, by whom, how many payloads each pruned, and which\n"
        "holds kept the rest. This is what an access request (GDPR Art. 15) is answered\n"
        "with; 'evidentctl export --subject ID' writes the records themselves. A pruned\n"
        "entry keeps its leaf, so it still appears here and every proof of it still\n"
        "holds, but its content is gone.\n"
        "A subject the vault holds nothing about is a valid question with an empty\n"
        "answer: \"no entries\" and exit status 0.\n"
        "With --json: one object with subject, count, present, pruned, held (entries kept\n"
        "by a hold or an open incident), \"entries\" (seq, type, time, timestamp_ns,\n"
        "model_id, model_version and request_id while present, payload_state \"present\"\n"
        "or \"pruned\", prune {seq, time, timestamp_ns, cause, reason}, holds [hold_id],\n"
        "open_incident (its seq, or null)) and \"erasures\" (seq, time, request_id,\n"
        "requested_by, reason, erased (the payloads it pruned), already_pruned, held_seqs,\n"
        "blocking_holds).",
    .exit_status = "0  success, also when the vault holds nothing about ID\n"
                   "2  usage error (ID empty or longer than 128 bytes)\n"
                   "3  the vault could not be read",
    .examples = "evidentctl subject c-88412\n"
                "evidentctl subject c-88412 --json | jq '.entries[] | select(.payload_state == "
                "\"pruned\")'\n"
                "evidentctl export --subject c-88412 -o c-88412.jsonl",
    .long_options = options,
    .min_args = 1,
    .max_args = 1,
    .args_name = "ID",
    .run = run,
};
