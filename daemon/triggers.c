/* SPDX-License-Identifier: Apache-2.0 */
/* Trigger rules at run time (triggers.h): binding each rule's feature names to a model's
 * manifest (cached per model version), evaluation, rate limits, the IncidentEntry payloads,
 * and crash recovery of the firings a kill lost. */
#include "triggers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "entry.pb-c.h"
#include "trigger.h"
#include "vault.h"

struct trigger_state {
	const struct config_trigger *t;
	struct trig_rate rate;
	/* the binding of the rule's features for the last model version seen */
	const struct model_info *bound_to;
	size_t *binding;
	bool applies; /* the rule's model filter admits bound_to */
};

int triggers_new(const struct config *cfg, struct trigger_state **ret, size_t *ret_n)
{
	struct trigger_state *t = NULL;

	*ret = NULL;
	*ret_n = 0;
	if (!cfg->n_triggers)
		return 0;
	t = calloc(cfg->n_triggers, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_triggers; i++) {
		const struct config_trigger *ct = &cfg->triggers[i];
		t[i].t = ct;
		trig_rate_init(&t[i].rate, ct->rate_per_second, ct->burst);
		t[i].binding = malloc((trig_n_features(ct->expr) + 1) * sizeof(size_t));
		if (!t[i].binding) {
			triggers_free(t, i + 1);
			return -ENOMEM;
		}
	}
	*ret = t;
	*ret_n = cfg->n_triggers;
	return 0;
}

void triggers_free(struct trigger_state *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		free(t[i].binding);
	free(t);
}

static bool applies(const struct config_trigger *ct, const struct model_info *mi)
{
	if (!ct->model)
		return true;
	if (strchr(ct->model, '@'))
		return !strcmp(ct->model, mi->key);
	size_t n = strlen(ct->model);
	return !strncmp(mi->key, ct->model, n) && mi->key[n] == '@';
}

static void bind(struct trigger_state *s, const struct model_info *mi)
{
	const Evident__V1__ModelManifest *man = mi->manifest;
	size_t n = trig_n_features(s->t->expr);

	for (size_t i = 0; i < n; i++) {
		const char *name = trig_feature(s->t->expr, i, NULL);
		s->binding[i] = SIZE_MAX; /* not in this manifest: reads as missing */
		for (size_t j = 0; j < man->n_features; j++)
			if (man->features[j]->name && !strcmp(man->features[j]->name, name)) {
				s->binding[i] = j;
				break;
			}
	}
	s->bound_to = mi;
}

struct firing *triggers_firing_new(const char *rule, const char *when, char *const *methods,
                                   size_t n_methods, double review_below, bool guard, bool open,
                                   const Evident__V1__Record *rec, const char *client_name,
                                   uint64_t now_ns)
{
	Evident__Entry__V1__IncidentEntry e = EVIDENT__ENTRY__V1__INCIDENT_ENTRY__INIT;
	struct firing *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	e.trigger = (char *)rule;
	e.when = (char *)when;
	e.has_status = true;
	e.status = open ? EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__OPEN
	                : EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__RATE_LIMITED;
	e.model_id = rec->model_id;
	e.model_version = rec->model_version;
	e.client_name = (char *)client_name;
	e.request_id = rec->request_id;
	e.n_methods = n_methods;
	e.methods = (char **)methods;
	e.has_review_below = true;
	e.review_below = review_below;
	e.has_fired_unix_ns = true;
	e.fired_unix_ns = (int64_t)now_ns;
	e.has_guard = guard;
	e.guard = guard;
	f->len = evident__entry__v1__incident_entry__get_packed_size(&e);
	/* room for record_seq (a tag and a 10-byte varint) and the recovered flag */
	f->payload = malloc(f->len + 13);
	if (!f->payload) {
		free(f);
		return NULL;
	}
	evident__entry__v1__incident_entry__pack(&e, f->payload);
	f->open = open;
	return f;
}

struct firing *triggers_evaluate(struct trigger_state *t, size_t n, const struct model_info *mi,
                                 const Evident__V1__Record *rec, const char *client_name,
                                 uint64_t now_ns, uint64_t *ret_lost)
{
	struct firing *head = NULL, **tail = &head;

	for (size_t i = 0; i < n; i++) {
		struct trigger_state *s = &t[i];
		/* the filter and the binding are worked out once per model version */
		if (s->bound_to != mi) {
			s->applies = applies(s->t, mi);
			bind(s, mi);
		}
		if (!s->applies)
			continue;
		struct trig_record r;
		trig_record_from_pb(rec, s->binding, &r);
		if (!trig_eval(s->t->expr, &r))
			continue;
		bool open = trig_rate_take(&s->rate, now_ns);
		const struct config_trigger *ct = s->t;
		struct firing *f =
		    triggers_firing_new(ct->name, ct->when, ct->methods, ct->n_methods,
		                        ct->review_below, false, open, rec, client_name, now_ns);
		if (!f) {
			(*ret_lost)++;
			continue;
		}
		*tail = f;
		tail = &f->next;
	}
	return head;
}

uint8_t *triggers_firing_payload(struct firing *f, uint64_t record_seq, size_t *ret_len)
{
	uint8_t *p = f->payload;
	size_t n = f->len;

	/* field 1, varint: appended after the packed fields (protobuf merges in any order) */
	p[n++] = 0x08;
	do {
		uint8_t b = record_seq & 0x7f;
		record_seq >>= 7;
		p[n++] = record_seq ? b | 0x80 : b;
	} while (record_seq);
	if (f->recovered) {
		p[n++] = 0x60; /* field 12, varint */
		p[n++] = 1;
	}
	*ret_len = n;
	f->payload = NULL; /* the caller's now */
	return p;
}

void triggers_firings_free(struct firing *f)
{
	while (f) {
		struct firing *next = f->next;
		free(f->payload);
		free(f);
		f = next;
	}
}

/* ------------------------------------------------------------------ crash recovery */

/* Where re-evaluation starts: the seq after the last incident's record or after the last
 * START; 0 when the last run stopped cleanly is signalled by *clean. */
static int recovery_start(struct vault_reader *r, uint64_t size, uint64_t *ret_from, bool *clean)
{
	*clean = false;
	*ret_from = 0;
	/* back over the incident and lifecycle entries only, through the type index: a vault of
	 * millions of records costs what a small one does */
	for (uint64_t seq = size;;) {
		struct vault_entry e;
		uint64_t inc, life;
		int ri = vault_prev_of_type(r, VAULT_ENTRY_INCIDENT, seq, &inc);
		int rl = vault_prev_of_type(r, VAULT_ENTRY_LIFECYCLE, seq, &life);
		if ((ri < 0 && ri != -ENOENT) || (rl < 0 && rl != -ENOENT))
			return ri < 0 && ri != -ENOENT ? ri : rl;
		if (ri == -ENOENT && rl == -ENOENT)
			return 0;
		seq = ri == -ENOENT ? life : rl == -ENOENT ? inc : inc > life ? inc : life;
		int rc = vault_get(r, seq, &e);
		if (rc < 0)
			return rc;
		if (!e.payload)
			continue;
		if (e.leaf.type == VAULT_ENTRY_INCIDENT) {
			Evident__Entry__V1__IncidentEntry *ie =
			    evident__entry__v1__incident_entry__unpack(NULL, e.payload_len,
			                                               e.payload);
			if (!ie)
				continue;
			*ret_from = ie->record_seq + 1;
			evident__entry__v1__incident_entry__free_unpacked(ie, NULL);
			return 0;
		}
		if (e.leaf.type == VAULT_ENTRY_LIFECYCLE) {
			Evident__Entry__V1__LifecycleEntry *le =
			    evident__entry__v1__lifecycle_entry__unpack(NULL, e.payload_len,
			                                                e.payload);
			if (!le)
				continue;
			Evident__Entry__V1__LifecycleEntry__Event ev = le->event;
			evident__entry__v1__lifecycle_entry__free_unpacked(le, NULL);
			if (ev == EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__STOP) {
				*clean = true;
				return 0;
			}
			if (ev == EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__START) {
				*ret_from = seq + 1;
				return 0;
			}
		}
	}
	return 0;
}

/* Appends the recovered incidents, each with its record's data subject (subjects[i] may be
 * NULL). */
static int append_all(struct vault *v, uint8_t **payloads, size_t *lens, char **subjects, size_t n)
{
	struct vault_entry_in in[256];
	struct vault_append_result res[256];

	for (size_t at = 0; at < n;) {
		size_t k = n - at < 256 ? n - at : 256;
		for (size_t i = 0; i < k; i++)
			in[i] = (struct vault_entry_in){.type = VAULT_ENTRY_INCIDENT,
			                                .payload = payloads[at + i],
			                                .payload_len = lens[at + i],
			                                .reserved = true,
			                                .subject = subjects[at + i]};
		int rc = vault_append(v, in, k, res);
		if (rc < 0)
			return rc;
		at += k;
	}
	return 0;
}

long triggers_recover(struct trigger_state *t, size_t n, struct vault *v,
                      const struct registry *reg, uint64_t now_ns, triggers_more_fn more,
                      void *more_data)
{
	struct vault_reader *r;
	uint64_t from, size, lost = 0;
	uint8_t **payloads = NULL;
	char **subjects = NULL;
	size_t *lens = NULL, count = 0, cap = 0;
	bool clean;
	int rc;

	if (!n && !more)
		return 0;
	rc = vault_reader_begin(v, &r);
	if (rc < 0)
		return rc;
	size = vault_reader_size(r);
	rc = recovery_start(r, size, &from, &clean);
	for (uint64_t seq = from; rc >= 0 && !clean && seq < size; seq++) {
		struct vault_entry e;
		rc = vault_get(r, seq, &e);
		if (rc < 0 || e.leaf.type != VAULT_ENTRY_RECORD || !e.payload)
			continue;
		Evident__Entry__V1__RecordEntry *re =
		    evident__entry__v1__record_entry__unpack(NULL, e.payload_len, e.payload);
		const Evident__V1__Record *rec = re ? re->record : NULL;
		const struct model_info *mi =
		    rec ? registry_find(reg, rec->model_id, rec->model_version) : NULL;
		struct firing *f =
		    mi ? triggers_evaluate(t, n, mi, rec, re->client_name, now_ns, &lost) : NULL;
		if (mi && more) {
			struct firing **tail = &f;
			while (*tail)
				tail = &(*tail)->next;
			*tail = more(more_data, mi, rec, re->client_name, now_ns, &lost);
		}
		for (struct firing *x = f; x && rc >= 0; x = x->next) {
			if (count == cap) {
				cap = cap ? 2 * cap : 64;
				uint8_t **np = realloc(payloads, cap * sizeof(*np));
				if (np)
					payloads = np;
				size_t *nl = realloc(lens, cap * sizeof(*nl));
				if (nl)
					lens = nl;
				char **ns = realloc(subjects, cap * sizeof(*ns));
				if (ns)
					subjects = ns;
				if (!np || !nl || !ns) {
					rc = -ENOMEM;
					break;
				}
			}
			x->recovered = true;
			payloads[count] = triggers_firing_payload(x, seq, &lens[count]);
			subjects[count] = rec->subject ? strdup(rec->subject) : NULL;
			count++;
			if (rec->subject && !subjects[count - 1])
				rc = -ENOMEM;
		}
		triggers_firings_free(f);
		if (re)
			evident__entry__v1__record_entry__free_unpacked(re, NULL);
	}
	vault_reader_end(r);
	if (rc >= 0 && lost)
		rc = -ENOMEM;
	if (rc >= 0)
		rc = append_all(v, payloads, lens, subjects, count);
	for (size_t i = 0; i < count; i++) {
		free(payloads[i]);
		free(subjects[i]);
	}
	free(payloads);
	free(subjects);
	free(lens);
	return rc < 0 ? rc : (long)count;
}
