/* SPDX-License-Identifier: Apache-2.0 */
/* Guards at run time (guards.h): binding each guard's feature names to a model's manifest
 * (cached per model version), the checks against the registered models, evaluation, and the
 * firings of the guards that also open incidents. */
#include "guards.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trigger.h"
#include "triggers.h"

/* The rate limit of the incidents a guard with audit = yes opens: the triggers' default. */
#define GUARD_RATE_PER_S 10.0
#define GUARD_BURST      20.0

struct guard_state {
	const struct config_guard *g;
	struct trig_rate rate;
	/* the binding of the guard's features for the last model version seen */
	const struct model_info *bound_to;
	size_t *binding;
	bool active; /* the model filter admits bound_to and it has every feature */
};

struct guards {
	const struct config *cfg;
	struct guard_state *s;
	size_t n;
	const struct config_guard **hits; /* n: what the last evaluation caught */
};

int guards_new(const struct config *cfg, struct guards **ret)
{
	struct guards *g;

	*ret = NULL;
	if (!cfg->n_guards)
		return 0;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->cfg = cfg;
	g->s = calloc(cfg->n_guards, sizeof(*g->s));
	g->hits = calloc(cfg->n_guards, sizeof(*g->hits));
	if (!g->s || !g->hits) {
		guards_free(g);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_guards; i++) {
		struct guard_state *s = &g->s[g->n++];
		s->g = &cfg->guards[i];
		trig_rate_init(&s->rate, GUARD_RATE_PER_S, GUARD_BURST);
		s->binding = malloc((trig_n_features(s->g->expr) + 1) * sizeof(size_t));
		if (!s->binding) {
			guards_free(g);
			return -ENOMEM;
		}
	}
	*ret = g;
	return 0;
}

void guards_free(struct guards *g)
{
	if (!g)
		return;
	for (size_t i = 0; g->s && i < g->n; i++)
		free(g->s[i].binding);
	free(g->s);
	free(g->hits);
	free(g);
}

size_t guards_count(const struct guards *g)
{
	return g ? g->n : 0;
}

/* Binds s to mi: true when mi has every feature the guard names. */
static bool bind(struct guard_state *s, const struct model_info *mi)
{
	const Evident__V1__ModelManifest *man = mi->manifest;
	size_t n = trig_n_features(s->g->expr);
	bool all = true;

	for (size_t i = 0; i < n; i++) {
		const char *name = trig_feature(s->g->expr, i, NULL);
		s->binding[i] = SIZE_MAX;
		for (size_t j = 0; j < man->n_features; j++)
			if (man->features[j]->name && !strcmp(man->features[j]->name, name)) {
				s->binding[i] = j;
				break;
			}
		all = all && s->binding[i] != SIZE_MAX;
	}
	s->bound_to = mi;
	return all;
}

/* The feature names of a manifest, for config_guard_check_features. NULL when out of memory
 * (or none). */
static const char **feature_names(const Evident__V1__ModelManifest *man)
{
	const char **names = malloc((man->n_features + 1) * sizeof(*names));

	for (size_t j = 0; names && j < man->n_features; j++)
		names[j] = man->features[j]->name;
	return names;
}

static int check_against(const struct config *cfg, const struct config_guard *g,
                         const struct model_info *mi, char *err, size_t err_size)
{
	const char **names = feature_names(mi->manifest);

	if (!names)
		return -ENOMEM;
	int rc = config_guard_check_features(cfg, g, mi->key, names, mi->manifest->n_features, err,
	                                     err_size);
	free(names);
	return rc;
}

/* The model id of "ID@VERSION" is its prefix up to the last '@' (an id has none). */
static bool same_model(const char *key, const char *id)
{
	size_t n = strlen(id);
	return !strncmp(key, id, n) && key[n] == '@';
}

int guards_check(const struct config *cfg, const struct registry *reg, char *err, size_t err_size)
{
	for (size_t i = 0; i < cfg->n_guards; i++) {
		const struct config_guard *g = &cfg->guards[i];
		const struct model_info *newest = NULL, *any = NULL;
		bool pinned = g->model && strchr(g->model, '@');
		int rc = 0;

		if (!trig_n_features(g->expr))
			continue;
		for (size_t b = 0; b < reg->n_buckets; b++)
			for (const struct model_info *mi = reg->buckets[b]; mi; mi = mi->next) {
				if (!g->model) {
					/* every model: refused only when no version has the
					 * features */
					if (!any)
						any = mi;
					if (check_against(cfg, g, mi, err, err_size) == 0)
						goto next;
					continue;
				}
				if (pinned ? strcmp(mi->key, g->model)
				           : !same_model(mi->key, g->model))
					continue;
				if (!newest || mi->seq > newest->seq)
					newest = mi;
			}
		if (newest)
			rc = check_against(cfg, g, newest, err, err_size);
		else if (any)
			rc = check_against(cfg, g, any, err, err_size);
		if (rc < 0)
			return rc;
	next:;
	}
	return 0;
}

size_t guards_unbound(const struct guards *g, const struct model_info *mi,
                      void (*report)(void *data, const struct config_guard *guard, const char *why),
                      void *data)
{
	char why[1024];
	size_t n = 0;

	for (size_t i = 0; g && i < g->n; i++) {
		const struct config_guard *cg = g->s[i].g;
		if (!config_guard_applies(cg, mi->key))
			continue;
		if (check_against(g->cfg, cg, mi, why, sizeof(why)) == -EINVAL) {
			report(data, cg, why);
			n++;
		}
	}
	return n;
}

int guards_action_rank(int action)
{
	switch (action) {
	case EVIDENT__V1__VERDICT__ACTION__PROCEED:
		return 1;
	case EVIDENT__V1__VERDICT__ACTION__REVIEW:
		return 2;
	case EVIDENT__V1__VERDICT__ACTION__HOLD:
		return 3;
	default:
		return 0;
	}
}

static int verdict_action(enum config_guard_action a)
{
	return a == CONFIG_GUARD_HOLD ? EVIDENT__V1__VERDICT__ACTION__HOLD
	                              : EVIDENT__V1__VERDICT__ACTION__REVIEW;
}

void guards_evaluate(struct guards *g, const struct model_info *mi, const Evident__V1__Record *rec,
                     const char *client_name, uint64_t now_ns, struct guard_catch *ret,
                     struct firing **fired, uint64_t *ret_lost)
{
	struct firing **tail = fired;
	size_t n = 0;
	int action = 0;

	*ret = (struct guard_catch){0};
	if (!g)
		return;
	while (*tail)
		tail = &(*tail)->next;
	for (size_t i = 0; i < g->n; i++) {
		struct guard_state *s = &g->s[i];
		/* the filter and the binding are worked out once per model version */
		if (s->bound_to != mi)
			s->active = config_guard_applies(s->g, mi->key) && bind(s, mi);
		if (!s->active)
			continue;
		struct trig_record r;
		trig_record_from_pb(rec, s->binding, &r);
		if (!trig_eval(s->g->expr, &r))
			continue;
		g->hits[n++] = s->g;
		int a = verdict_action(s->g->action);
		if (guards_action_rank(a) > guards_action_rank(action))
			action = a;
		if (!s->g->audit)
			continue;
		bool open = trig_rate_take(&s->rate, now_ns);
		struct firing *f = triggers_firing_new(s->g->name, s->g->when, NULL, 0,
		                                       CONFIG_REVIEW_BELOW_DEFAULT, true, open, rec,
		                                       client_name, now_ns);
		if (!f) {
			(*ret_lost)++;
			continue;
		}
		*tail = f;
		tail = &f->next;
	}
	*ret = (struct guard_catch){.action = action, .n = n, .guards = g->hits};
}

struct firing *guards_firings(void *data, const struct model_info *mi,
                              const Evident__V1__Record *rec, const char *client_name,
                              uint64_t now_ns, uint64_t *ret_lost)
{
	struct guard_catch c;
	struct firing *f = NULL;

	guards_evaluate(data, mi, rec, client_name, now_ns, &c, &f, ret_lost);
	return f;
}
