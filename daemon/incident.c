/* SPDX-License-Identifier: Apache-2.0 */
/* Trigger rules at run time: binding each rule's feature names to a model's manifest (cached
 * per model version), evaluation, rate limits, and the IncidentEntry payloads. */
#include "incident.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "entry.pb-c.h"
#include "trigger.h"

struct trigger_state {
	const struct config_trigger *t;
	struct trig_rate rate;
	/* the binding of the rule's features for the last model version seen */
	const struct model_info *bound_to;
	size_t *binding;
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

static bool context_of(void *ud, const char *key, double *ret)
{
	const Evident__V1__Record *rec = ud;
	for (size_t i = 0; i < rec->n_context; i++)
		if (rec->context[i]->key && !strcmp(rec->context[i]->key, key)) {
			*ret = rec->context[i]->value;
			return true;
		}
	return false;
}

static const char *label_of(void *ud, const char *key)
{
	const Evident__V1__Record *rec = ud;
	for (size_t i = 0; i < rec->n_labels; i++)
		if (rec->labels[i]->key && !strcmp(rec->labels[i]->key, key))
			return rec->labels[i]->value;
	return NULL;
}

static struct fired *make_fired(const struct config_trigger *ct, bool open,
                                const Evident__V1__Record *rec, const char *client_name,
                                uint64_t now_ns)
{
	Evident__Entry__V1__IncidentEntry e = EVIDENT__ENTRY__V1__INCIDENT_ENTRY__INIT;
	struct fired *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	e.trigger = ct->name;
	e.when = ct->when;
	e.has_status = true;
	e.status = open ? EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__OPEN
	                : EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__RATE_LIMITED;
	e.model_id = rec->model_id;
	e.model_version = rec->model_version;
	e.client_name = (char *)client_name;
	e.request_id = rec->request_id;
	e.n_methods = ct->n_methods;
	e.methods = ct->methods;
	e.has_review_below = true;
	e.review_below = ct->review_below;
	e.has_fired_unix_ns = true;
	e.fired_unix_ns = (int64_t)now_ns;
	f->len = evident__entry__v1__incident_entry__get_packed_size(&e);
	f->payload = malloc(f->len + 11); /* room for record_seq: tag and a 10-byte varint */
	if (!f->payload) {
		free(f);
		return NULL;
	}
	evident__entry__v1__incident_entry__pack(&e, f->payload);
	return f;
}

struct fired *triggers_evaluate(struct trigger_state *t, size_t n, const struct model_info *mi,
                                const Evident__V1__Record *rec, const char *client_name,
                                uint64_t now_ns, uint64_t *ret_lost)
{
	struct fired *head = NULL, **tail = &head;

	for (size_t i = 0; i < n; i++) {
		struct trigger_state *s = &t[i];
		if (!applies(s->t, mi))
			continue;
		if (s->bound_to != mi)
			bind(s, mi);
		struct trig_record r = {.features = rec->features,
		                        .n_features = rec->n_features,
		                        .binding = s->binding,
		                        .scores = rec->scores,
		                        .n_scores = rec->n_scores,
		                        .decision = rec->decision,
		                        .model = rec->model_id,
		                        .version = rec->model_version,
		                        .context = context_of,
		                        .label = label_of,
		                        .userdata = (void *)rec};
		if (!trig_eval(s->t->expr, &r))
			continue;
		bool open = trig_rate_take(&s->rate, now_ns);
		struct fired *f = make_fired(s->t, open, rec, client_name, now_ns);
		if (!f) {
			(*ret_lost)++;
			continue;
		}
		*tail = f;
		tail = &f->next;
	}
	return head;
}

uint8_t *fired_payload(struct fired *f, uint64_t record_seq, size_t *ret_len)
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
	*ret_len = n;
	f->payload = NULL; /* the caller's now */
	return p;
}

void fired_free(struct fired *f)
{
	while (f) {
		struct fired *next = f->next;
		free(f->payload);
		free(f);
		f = next;
	}
}
