/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl backtest: what a proposed trigger rule or guard would have caught in the vault,
 * by model version, before it goes into the daemon's config: the records, the past incidents
 * (and how a human judged them), and the share of routine decisions it would have held. The
 * expression is compiled by the daemon's own trigger code (daemon/trigger/), and a --guard is
 * read by the daemon's own config parser, so the answer is what the daemon would do. The
 * backtest itself (ctl_backtest_run, ctl.h) is shared with `report` (a suggested guard's
 * backtest) and `guards` (how often a deployed guard fired). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "trigger.h"
#ifdef CTL_HAVE_CONFIG
#include "config.h"
#endif

/* ------------------------------------------------------------------ the backtest */

static int cmp_watch(const void *a, const void *b)
{
	const struct ctl_bt_watch *x = a, *y = b;
	return x->record_seq < y->record_seq ? -1 : x->record_seq > y->record_seq;
}

static char *tally_key(const char *id, const char *version, char *buf, size_t size)
{
	snprintf(buf, size, "%s@%s", id ? id : "", version ? version : "");
	return buf;
}

static struct ctl_bt_tally *tally_for(struct ctl_backtest *b, const char *id, const char *version)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->t[i].model_id, id ? id : "") &&
		    !strcmp(b->t[i].model_version, version ? version : ""))
			return &b->t[i];
	struct ctl_bt_tally *nt = realloc(b->t, (b->n + 1) * sizeof(*nt));
	if (!nt)
		return NULL;
	b->t = nt;
	nt = &b->t[b->n];
	*nt = (struct ctl_bt_tally){.model_id = strdup(id ? id : ""),
	                            .model_version = strdup(version ? version : ""),
	                            .first = calloc(b->show + 1, sizeof(uint64_t)),
	                            .bound = true};
	if (!nt->model_id || !nt->model_version || !nt->first) {
		free(nt->model_id);
		free(nt->model_version);
		free(nt->first);
		return NULL;
	}
	b->n++;
	return nt;
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? 2 * *cap : 16;
	void *nv = realloc(*v, nc * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

static int watch(struct ctl_backtest *b, uint64_t record_seq, bool incident, size_t i)
{
	int rc = grow((void **)&b->watch, &b->watch_cap, b->n_watch, sizeof(*b->watch));
	if (rc == 0)
		b->watch[b->n_watch++] = (struct ctl_bt_watch){record_seq, incident, i};
	return rc;
}

/* The incidents of the range whose model passes the filter, each watched by its record. */
static int incident_fn(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct ctl_backtest *b = ud;
	const Evident__Entry__V1__IncidentEntry *ie =
	    p->status == 0 ? (const Evident__Entry__V1__IncidentEntry *)p->msg : NULL;

	if (!ie || ie->record_seq < b->from ||
	    !ctl_model_filter_match(b->filter, ie->model_id, ie->model_version))
		return 0;
	if (grow((void **)&b->inc, &b->inc_cap, b->n_inc, sizeof(*b->inc)) < 0)
		return -ENOMEM;
	struct ctl_bt_incident *in = &b->inc[b->n_inc];
	*in = (struct ctl_bt_incident){
	    .seq = e->leaf.seq,
	    .record_seq = ie->record_seq,
	    .rule = strdup(ie->trigger ? ie->trigger : ""),
	    .guard = ie->guard,
	    .rate_limited = ie->status == EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__RATE_LIMITED,
	    .caught = -1};
	struct ctl_bt_tally *t = tally_for(b, ie->model_id, ie->model_version);
	if (!in->rule || !t)
		return -ENOMEM;
	in->tally = (size_t)(t - b->t);
	b->n_inc++;
	return watch(b, ie->record_seq, true, b->n_inc - 1);
}

static struct ctl_bt_incident *incident_by_seq(struct ctl_backtest *b, uint64_t seq)
{
	size_t lo = 0, hi = b->n_inc; /* incidents are in seq order */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->inc[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n_inc && b->inc[lo].seq == seq ? &b->inc[lo] : NULL;
}

static int add_review(struct ctl_bt_review **v, size_t *n, uint64_t seq,
                      const Evident__V1__Review *rv)
{
	struct ctl_bt_review *nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = (struct ctl_bt_review){.seq = seq,
	                                .reviewer = strdup(rv->reviewer ? rv->reviewer : ""),
	                                .outcome = strdup(rv->outcome ? rv->outcome : "")};
	if (!nv[*n].reviewer || !nv[*n].outcome) {
		free(nv[*n].reviewer);
		free(nv[*n].outcome);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

/* Reviews of the range: of a watched incident (attached to it), or of a record a guard
 * caught without an incident (Review.record_seq; watched by that record). */
static int review_fn(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct ctl_backtest *b = ud;
	const Evident__Entry__V1__ReviewEntry *re =
	    p->status == 0 ? (const Evident__Entry__V1__ReviewEntry *)p->msg : NULL;
	const Evident__V1__Review *rv = re ? re->review : NULL;

	if (!rv)
		return 0;
	if (rv->has_incident_id && rv->incident_id) {
		struct ctl_bt_incident *in = incident_by_seq(b, rv->incident_id);
		return in ? add_review(&in->reviews, &in->n_reviews, e->leaf.seq, rv) : 0;
	}
	if (!rv->has_record_seq || rv->record_seq < b->from)
		return 0;
	if (grow((void **)&b->rrev, &b->rrev_cap, b->n_rrev, sizeof(*b->rrev)) < 0)
		return -ENOMEM;
	struct ctl_bt_record_review *rr = &b->rrev[b->n_rrev];
	*rr = (struct ctl_bt_record_review){
	    .record_seq = rv->record_seq, .caught = -1, .tally = SIZE_MAX};
	if (add_review(&rr->review, &(size_t){0}, e->leaf.seq, rv) < 0)
		return -ENOMEM;
	b->n_rrev++;
	return watch(b, rv->record_seq, false, b->n_rrev - 1);
}

/* The binding of the rule's features to mf's; false (and b->missing) when mf lacks one. */
static bool bind(struct ctl_backtest *b, const Evident__V1__ModelManifest *mf)
{
	bool ok = mf != NULL;

	b->missing = NULL;
	for (size_t i = 0; i < trig_n_features(b->x); i++) {
		const char *name = trig_feature(b->x, i, NULL);
		b->binding[i] = SIZE_MAX;
		for (size_t j = 0; mf && j < mf->n_features; j++)
			if (mf->features[j]->name && !strcmp(mf->features[j]->name, name)) {
				b->binding[i] = j;
				break;
			}
		if (b->binding[i] == SIZE_MAX && ok) {
			ok = false;
			b->missing = name;
		}
	}
	b->bound_to = mf;
	b->bound_ok = ok;
	return ok;
}

/* A model version the rule cannot be evaluated on: named once, its records not evaluated. */
static int unbound(struct ctl_bt_tally *t, const Evident__V1__ModelManifest *mf,
                   const char *missing)
{
	char buf[2048];
	int at;

	if (!t->bound)
		return 0;
	t->bound = false;
	if (!mf) {
		snprintf(buf, sizeof(buf), "not registered in this vault");
	} else {
		at = snprintf(buf, sizeof(buf),
		              "feature.%s is not a feature of %s@%s (its features: ", missing,
		              t->model_id, t->model_version);
		for (size_t j = 0; j < mf->n_features && at > 0 && (size_t)at < sizeof(buf); j++)
			at += snprintf(buf + at, sizeof(buf) - (size_t)at, "%s%s", j ? ", " : "",
			               mf->features[j]->name ? mf->features[j]->name : "");
		if (at > 0 && (size_t)at < sizeof(buf))
			snprintf(buf + at, sizeof(buf) - (size_t)at, "%s)",
			         mf->n_features ? "" : "none");
	}
	t->problem = strdup(buf);
	t->missing = mf && missing ? strdup(missing) : NULL;
	return t->problem ? 0 : -ENOMEM;
}

/* What the watch list says about record seq: its incidents and reviews learn whether the
 * rule caught it (caught: -1 when it was not evaluated). */
static void tell(struct ctl_backtest *b, uint64_t seq, size_t tally, int caught, bool *fired)
{
	struct ctl_bt_watch key = {.record_seq = seq}, *w;

	*fired = false;
	if (!b->n_watch)
		return; /* bsearch's base may not be NULL either */
	w = bsearch(&key, b->watch, b->n_watch, sizeof(*w), cmp_watch);
	if (!w)
		return;
	while (w > b->watch && w[-1].record_seq == seq)
		w--;
	for (; w < b->watch + b->n_watch && w->record_seq == seq; w++) {
		if (w->incident) {
			b->inc[w->i].caught = caught;
			*fired = true;
		} else {
			b->rrev[w->i].caught = caught;
			b->rrev[w->i].tally = tally;
		}
	}
}

static int record_fn(void *ud, const struct vault_entry *e)
{
	struct ctl_backtest *b = ud;
	struct ctl_payload p;
	bool fired;
	int rc = 0;

	if (e->leaf.timestamp_ns > b->until_ns) {
		b->stop_seq = e->leaf.seq;
		return 1;
	}
	if (e->leaf.type == VAULT_ENTRY_MODEL)
		return ctl_models_add(b->models, e);
	if (e->leaf.type != VAULT_ENTRY_RECORD)
		return 0;
	ctl_payload_decode(e, &p);
	const Evident__Entry__V1__RecordEntry *re = ctl_payload_record(&p);
	const Evident__V1__Record *rec = re ? re->record : NULL;
	if (p.status == -ENODATA)
		b->pruned++;
	if (rec && ctl_model_filter_match(b->filter, rec->model_id, rec->model_version)) {
		const Evident__V1__ModelManifest *mf = ctl_models_for_record(b->models, rec);
		struct ctl_bt_tally *t = tally_for(b, rec->model_id, rec->model_version);
		if (!t)
			rc = -ENOMEM;
		if (rc == 0 && (mf != b->bound_to || !mf))
			bind(b, mf);
		if (rc == 0 && !b->bound_ok)
			rc = unbound(t, mf, b->missing);
		if (rc == 0) {
			struct trig_record r;
			trig_record_from_pb(rec, b->binding, &r);
			int caught = b->bound_ok ? trig_eval(b->x, &r) : -1;
			t->records++;
			tell(b, e->leaf.seq, (size_t)(t - b->t), caught, &fired);
			if (!fired)
				t->routine++;
			if (caught == 1) {
				if (t->n_first < b->show)
					t->first[t->n_first++] = e->leaf.seq;
				t->caught++;
				t->routine_held += !fired;
			}
		}
	}
	ctl_payload_deinit(&p);
	return rc;
}

static void drop_incident(struct ctl_bt_incident *in)
{
	for (size_t k = 0; k < in->n_reviews; k++) {
		free(in->reviews[k].reviewer);
		free(in->reviews[k].outcome);
	}
	free(in->reviews);
	free(in->rule);
}

/* The latest review of an incident decides whether a human overturned it. */
static bool overturned(const struct ctl_bt_incident *in)
{
	return in->n_reviews && !strcmp(in->reviews[in->n_reviews - 1].outcome, "overturned");
}

/* Records per half below which the scan stays on one thread. */
#define BACKTEST_SPLIT_MIN 100000

/* The second half of a parallel scan: its own reader, tallies, models and binding; the watch
 * list is shared read-only, and the incidents and record reviews it tells about are those of
 * its own records (distinct elements from the first half's). */
struct half {
	struct ctl_backtest w;
	struct vault_reader *r;
	int rc;
};

static void *half_run(void *arg)
{
	struct half *h = arg;

	h->rc = ctl_scan(h->r, h->w.from, h->w.to, record_fn, &h->w);
	return NULL;
}

/* Adds the second half's tallies into b's (met in seq order: b's first, then the second's new
 * ones, as one scan would meet them), and points its record reviews at the merged ones. */
static int merge_half(struct ctl_backtest *b, struct half *h)
{
	size_t *to = calloc(h->w.n + 1, sizeof(*to));

	if (!to)
		return -ENOMEM;
	for (size_t i = 0; i < h->w.n; i++) {
		struct ctl_bt_tally *s = &h->w.t[i], *t;
		size_t n = b->n;
		t = tally_for(b, s->model_id, s->model_version);
		if (!t) {
			free(to);
			return -ENOMEM;
		}
		to[i] = (size_t)(t - b->t);
		if (b->n > n) { /* new: take it whole */
			free(t->model_id);
			free(t->model_version);
			free(t->first);
			*t = *s;
			*s = (struct ctl_bt_tally){0};
			continue;
		}
		t->records += s->records;
		t->caught += s->caught;
		t->routine += s->routine;
		t->routine_held += s->routine_held;
		for (size_t k = 0; k < s->n_first && t->n_first < b->show; k++)
			t->first[t->n_first++] = s->first[k];
		if (t->bound && !s->bound) {
			t->bound = false;
			t->problem = s->problem;
			t->missing = s->missing;
			s->problem = s->missing = NULL;
		}
	}
	for (size_t i = 0; i < b->n_rrev; i++)
		if (b->rrev[i].record_seq >= h->w.from && b->rrev[i].tally != SIZE_MAX &&
		    b->rrev[i].tally < h->w.n)
			b->rrev[i].tally = to[b->rrev[i].tally];
	b->pruned += h->w.pruned;
	b->stop_seq = h->w.stop_seq;
	free(to);
	return 0;
}

/* The records of [from, to): on two threads when there are many (each half on its own reader,
 * merged in seq order, so the answer is the one a single scan gives). */
static int scan_records(struct vault_reader *r, struct ctl_backtest *b, uint64_t from, uint64_t to)
{
	struct half h = {0};
	pthread_t th;
	uint64_t mid = from + (to - from) / 2;
	int rc;

	if (to - from < 2 * BACKTEST_SPLIT_MIN)
		return ctl_scan(r, from, to, record_fn, b);
	h.w = *b;
	h.w.t = NULL;
	h.w.n = 0;
	h.w.pruned = 0;
	h.w.from = mid;
	h.w.to = to;
	h.w.stop_seq = to;
	h.w.bound_to = NULL;
	h.w.bound_ok = false;
	h.w.models = ctl_models_new();
	h.w.binding = malloc((trig_n_features(b->x) + 1) * sizeof(size_t));
	rc = h.w.models && h.w.binding ? 0 : -ENOMEM;
	if (rc == 0)
		rc = vault_reader_begin(vault_reader_vault(r), &h.r);
	if (rc == 0 && (rc = ctl_models_load(h.w.models, h.r, 0, mid)) == 0) {
		rc = -pthread_create(&th, NULL, half_run, &h);
		if (rc == 0) {
			b->stop_seq = mid;
			rc = ctl_scan(r, from, mid, record_fn, b);
			pthread_join(th, NULL);
			if (rc == 0)
				rc = h.rc;
			/* --until: when the first half stopped early, the second is past it */
			if (rc == 0 && b->stop_seq == mid)
				rc = merge_half(b, &h);
			else if (rc == 0)
				for (size_t i = 0; i < b->n_rrev; i++)
					if (b->rrev[i].record_seq >= mid)
						b->rrev[i].caught = -1, b->rrev[i].tally = SIZE_MAX;
		}
	}
	vault_reader_end(h.r);
	/* the models registered up to `to`, as one scan leaves them */
	if (rc == 0 && b->stop_seq == h.w.stop_seq) {
		struct ctl_models *m = b->models;
		b->models = h.w.models;
		h.w.models = m;
	}
	h.w.watch = NULL; /* b's */
	h.w.inc = NULL;
	h.w.rrev = NULL;
	h.w.n_inc = h.w.n_rrev = 0;
	ctl_backtest_free(&h.w);
	return rc;
}

int ctl_backtest_run(struct vault_reader *r, const struct trig_expr *x,
                     const struct ctl_model_filter *filter, uint64_t from, uint64_t to,
                     uint64_t reviews_to, uint64_t until_ns, size_t show, struct ctl_backtest *b)
{
	static const struct ctl_model_filter any = {0};
	int rc;

	memset(b, 0, sizeof(*b));
	b->x = x;
	b->filter = filter ? filter : &any;
	b->from = from;
	b->to = to;
	b->until_ns = until_ns;
	b->stop_seq = to;
	b->show = show;
	b->models = ctl_models_new();
	b->binding = malloc((trig_n_features(x) + 1) * sizeof(size_t));
	if (!b->models || !b->binding)
		return -ENOMEM;
	rc = ctl_models_load(b->models, r, 0, from);
	if (rc == 0)
		rc = ctl_scan_type(r, VAULT_ENTRY_INCIDENT, from, to, incident_fn, b);
	if (rc == 0)
		rc = ctl_scan_type(r, VAULT_ENTRY_REVIEW, from, reviews_to > to ? reviews_to : to,
		                   review_fn, b);
	if (rc < 0)
		return rc;
	if (b->n_watch) /* qsort's base may not be NULL, even for nothing */
		qsort(b->watch, b->n_watch, sizeof(*b->watch), cmp_watch);
	rc = scan_records(r, b, from, to);
	if (rc < 0)
		return rc;
	/* --until: incidents of records after it are not part of the answer */
	size_t k = 0;
	for (size_t i = 0; i < b->n_inc; i++)
		if (b->inc[i].record_seq < b->stop_seq)
			b->inc[k++] = b->inc[i];
		else
			drop_incident(&b->inc[i]);
	b->n_inc = k;
	for (size_t i = 0; i < b->n_inc; i++) {
		const struct ctl_bt_incident *in = &b->inc[i];
		struct ctl_bt_tally *t = &b->t[in->tally];
		t->incidents++;
		t->incidents_caught += in->caught == 1;
		t->incidents_unknown += in->caught < 0;
		t->overturned += overturned(in);
		t->overturned_caught += in->caught == 1 && overturned(in);
	}
	return 0;
}

void ctl_backtest_free(struct ctl_backtest *b)
{
	for (size_t i = 0; i < b->n_inc; i++)
		drop_incident(&b->inc[i]);
	for (size_t i = 0; i < b->n; i++) {
		free(b->t[i].model_id);
		free(b->t[i].model_version);
		free(b->t[i].first);
		free(b->t[i].problem);
		free(b->t[i].missing);
	}
	for (size_t i = 0; i < b->n_rrev; i++) {
		if (b->rrev[i].review) {
			free(b->rrev[i].review->reviewer);
			free(b->rrev[i].review->outcome);
		}
		free(b->rrev[i].review);
	}
	free(b->t);
	free(b->inc);
	free(b->rrev);
	free(b->watch);
	free(b->binding);
	ctl_models_free(b->models);
	memset(b, 0, sizeof(*b));
}

const struct ctl_bt_tally *ctl_backtest_tally(const struct ctl_backtest *b, const char *id,
                                              const char *version)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->t[i].model_id, id) && !strcmp(b->t[i].model_version, version))
			return &b->t[i];
	return NULL;
}

static double share(uint64_t part, uint64_t whole)
{
	return whole ? (double)part / (double)whole : 0;
}

json_t *ctl_backtest_tally_json(const struct ctl_bt_tally *t)
{
	json_t *o = json_object(), *first = json_array(), *unknown = json_array();

	ctl_json_set(o, "model_id", ctl_json_string(t->model_id));
	ctl_json_set(o, "model_version", ctl_json_string(t->model_version));
	ctl_json_set(o, "records", ctl_json_u64(t->records));
	ctl_json_set(o, "caught", ctl_json_u64(t->caught));
	ctl_json_set(o, "share", json_real(share(t->caught, t->records)));
	for (size_t k = 0; k < t->n_first; k++)
		json_array_append_new(first, ctl_json_u64(t->first[k]));
	ctl_json_set(o, "first_seqs", first);
	ctl_json_set(o, "routine", ctl_json_u64(t->routine));
	ctl_json_set(o, "routine_held", ctl_json_u64(t->routine_held));
	ctl_json_set(o, "routine_share", json_real(share(t->routine_held, t->routine)));
	ctl_json_set(o, "incidents", ctl_json_u64(t->incidents));
	ctl_json_set(o, "incidents_caught", ctl_json_u64(t->incidents_caught));
	ctl_json_set(o, "incidents_unknown", ctl_json_u64(t->incidents_unknown));
	ctl_json_set(o, "overturned", ctl_json_u64(t->overturned));
	ctl_json_set(o, "overturned_caught", ctl_json_u64(t->overturned_caught));
	ctl_json_set(o, "bound", json_boolean(t->bound));
	if (t->missing)
		json_array_append_new(unknown, ctl_json_string(t->missing));
	ctl_json_set(o, "unknown_features", unknown);
	ctl_json_set(o, "problem", ctl_json_string(t->problem));
	return o;
}

/* ------------------------------------------------------------------ the verb */

enum {
	ARG_WHEN = CTL_OPT_VERB,
	ARG_MODEL,
	ARG_SINCE,
	ARG_UNTIL,
	ARG_SHOW,
	ARG_GUARD,
	ARG_CONFIG,
	ARG_INCIDENTS,
};

static const char *arg_when, *arg_guard, *arg_config;
static struct ctl_model_filter arg_model;
static uint64_t arg_since, arg_until = UINT64_MAX, arg_show = 5;
static bool arg_incidents;

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	switch (opt) {
	case ARG_WHEN:
		arg_when = arg;
		return 0;
	case ARG_MODEL:
		return ctl_model_filter_parse(arg, &arg_model);
	case ARG_SINCE:
		return ctl_parse_time("--since", arg, &arg_since);
	case ARG_UNTIL:
		return ctl_parse_time("--until", arg, &arg_until);
	case ARG_SHOW:
		return ctl_parse_u64("--show", arg, &arg_show);
	case ARG_GUARD:
		arg_guard = arg;
		return 0;
	case ARG_CONFIG:
		arg_config = arg;
		return 0;
	case ARG_INCIDENTS:
		arg_incidents = true;
		return 0;
	}
	return CTL_EXIT_USAGE;
}

static const char *state_of(const struct ctl_bt_incident *in)
{
	return in->rate_limited ? "rate-limited" : in->n_reviews ? "reviewed" : "open";
}

static const char *caught_word(int caught)
{
	return caught == 1 ? "caught" : caught == 0 ? "missed" : "unknown";
}

static json_t *review_json(const struct ctl_bt_review *rv)
{
	json_t *o = json_object();
	ctl_json_set(o, "seq", ctl_json_u64(rv->seq));
	ctl_json_set(o, "reviewer", ctl_json_string(rv->reviewer));
	ctl_json_set(o, "outcome", ctl_json_string(rv->outcome));
	return o;
}

static json_t *caught_json(int caught)
{
	return caught < 0 ? json_null() : json_boolean(caught == 1);
}

/* --incidents of tally ti: its incidents and the reviews of records it caught. */
static void incidents_json(const struct ctl_backtest *b, size_t ti, json_t *o)
{
	json_t *list = json_array(), *rlist = json_array();

	for (size_t i = 0; i < b->n_inc; i++) {
		const struct ctl_bt_incident *in = &b->inc[i];
		if (in->tally != ti)
			continue;
		json_t *e = json_object(), *rv = json_array();
		ctl_json_set(e, "seq", ctl_json_u64(in->seq));
		ctl_json_set(e, "record_seq", ctl_json_u64(in->record_seq));
		ctl_json_set(e, in->guard ? "guard" : "trigger", ctl_json_string(in->rule));
		ctl_json_set(e, "status", json_string(state_of(in)));
		ctl_json_set(e, "caught", caught_json(in->caught));
		for (size_t k = 0; k < in->n_reviews; k++)
			json_array_append_new(rv, review_json(&in->reviews[k]));
		ctl_json_set(e, "reviews", rv);
		json_array_append_new(list, e);
	}
	for (size_t i = 0; i < b->n_rrev; i++) {
		const struct ctl_bt_record_review *rr = &b->rrev[i];
		if (rr->tally != ti)
			continue;
		json_t *e = review_json(rr->review);
		ctl_json_set(e, "record_seq", ctl_json_u64(rr->record_seq));
		ctl_json_set(e, "caught", caught_json(rr->caught));
		json_array_append_new(rlist, e);
	}
	ctl_json_set(o, "incident_list", list);
	ctl_json_set(o, "record_reviews", rlist);
}

static void incidents_text(const struct ctl_backtest *b, size_t ti)
{
	const struct ctl_bt_tally *t = &b->t[ti];

	printf("\n%s@%s: incidents\n", t->model_id, t->model_version);
	for (size_t i = 0; i < b->n_inc; i++) {
		const struct ctl_bt_incident *in = &b->inc[i];
		if (in->tally != ti)
			continue;
		printf("  incident %-8" PRIu64 " record %-8" PRIu64 " %-8s %s %s, %s", in->seq,
		       in->record_seq, caught_word(in->caught), in->guard ? "guard" : "trigger",
		       in->rule, state_of(in));
		for (size_t k = 0; k < in->n_reviews; k++)
			printf("%s review %" PRIu64 " %s by %s", k ? ";" : ":", in->reviews[k].seq,
			       in->reviews[k].outcome, in->reviews[k].reviewer);
		printf("\n");
	}
	for (size_t i = 0; i < b->n_rrev; i++) {
		const struct ctl_bt_record_review *rr = &b->rrev[i];
		if (rr->tally == ti)
			printf("  review   %-8" PRIu64 " record %-8" PRIu64 " %-8s %s by %s\n",
			       rr->review->seq, rr->record_seq, caught_word(rr->caught),
			       rr->review->outcome, rr->review->reviewer);
	}
}

static int print(const struct ctl *c, const struct ctl_backtest *b, const char *when)
{
	if (c->json) {
		for (size_t i = 0; i < b->n; i++) {
			_cleanup_(json_decrefp) json_t *o = ctl_backtest_tally_json(&b->t[i]);
			if (arg_incidents)
				incidents_json(b, i, o);
			if (ctl_json_print(stdout, o, true) < 0)
				return CTL_EXIT_UNREADABLE;
		}
		return 0;
	}
	uint64_t seen = 0, caught = 0;
	printf("when %s\n", when);
	printf("%-40s %12s %12s %8s  %s\n", "model@version", "records", "caught", "share",
	       "first caught seqs");
	for (size_t i = 0; i < b->n; i++) {
		const struct ctl_bt_tally *t = &b->t[i];
		char key[512];
		printf("%-40s %12" PRIu64 " %12" PRIu64 " %7.2f%% ",
		       tally_key(t->model_id, t->model_version, key, sizeof(key)), t->records,
		       t->caught, 100 * share(t->caught, t->records));
		for (size_t k = 0; k < t->n_first; k++)
			printf(" %" PRIu64, t->first[k]);
		if (!t->bound)
			printf(" NOT EVALUATED: %s", t->problem);
		printf("\n");
		seen += t->records;
		caught += t->caught;
	}
	printf("%-40s %12" PRIu64 " %12" PRIu64 " %7.2f%%\n", "all", seen, caught,
	       100 * share(caught, seen));
	printf("\n%-40s %9s %7s %10s %9s %7s %8s\n", "model@version", "incidents", "caught",
	       "overturned", "routine", "held", "share");
	for (size_t i = 0; i < b->n; i++) {
		const struct ctl_bt_tally *t = &b->t[i];
		char key[512], ov[48];
		snprintf(ov, sizeof(ov), "%" PRIu64 "/%" PRIu64, t->overturned_caught,
		         t->overturned);
		printf("%-40s %9" PRIu64 " %7" PRIu64 " %10s %9" PRIu64 " %7" PRIu64 " %7.2f%%\n",
		       tally_key(t->model_id, t->model_version, key, sizeof(key)), t->incidents,
		       t->incidents_caught, ov, t->routine, t->routine_held,
		       100 * share(t->routine_held, t->routine));
	}
	if (b->pruned)
		printf("(%" PRIu64 " record%s whose payload was pruned could not be evaluated)\n",
		       b->pruned, b->pruned == 1 ? "" : "s");
	for (size_t i = 0; arg_incidents && i < b->n; i++)
		incidents_text(b, i);
	return 0;
}

#ifdef CTL_HAVE_CONFIG
/* --guard NAME --config FILE: the section, read by evidentd's own parser (config.h). */
static int load_guard(struct config *cfg, const struct config_guard **ret)
{
	char err[1024];
	int rc = config_load(arg_config, cfg, err, sizeof(err));

	if (rc == -EINVAL) {
		ctl_error("%s", err);
		return CTL_EXIT_PROBLEM;
	}
	if (rc < 0) {
		ctl_error("%s", err[0] ? err : strerror(-rc));
		return CTL_EXIT_UNREADABLE;
	}
	*ret = config_guard_find(cfg, arg_guard);
	if (!*ret) {
		ctl_error("%s: no [guard %s] section (evidentctl backtest --help)", arg_config,
		          arg_guard);
		config_deinit(cfg);
		return CTL_EXIT_USAGE;
	}
	if ((*ret)->model && ctl_model_filter_parse((*ret)->model, &arg_model)) {
		config_deinit(cfg);
		return CTL_EXIT_PROBLEM;
	}
	return 0;
}
#endif

/* A model version whose manifest lacks a feature the rule names: its message (for a guard,
 * with the config's file:line:column, as evidentd refuses it). */
static void report_unbound(const struct ctl_backtest *b, const void *cfg, const void *g)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct ctl_bt_tally *t = &b->t[i];
		if (t->bound)
			continue;
#ifdef CTL_HAVE_CONFIG
		const Evident__V1__ModelManifest *mf =
		    ctl_models_find(b->models, t->model_id, t->model_version);
		if (g && mf) {
			char err[2048], key[512];
			const char **names = calloc(mf->n_features + 1, sizeof(char *));
			for (size_t j = 0; names && j < mf->n_features; j++)
				names[j] = mf->features[j]->name;
			if (names &&
			    config_guard_check_features(
			        cfg, g, tally_key(t->model_id, t->model_version, key, sizeof(key)),
			        names, mf->n_features, err, sizeof(err)) < 0) {
				ctl_error("%s", err);
				free(names);
				continue;
			}
			free(names);
		}
#else
		(void)cfg;
		(void)g;
#endif
		unsigned col = 0;
		for (size_t k = 0; t->missing && k < trig_n_features(b->x); k++)
			if (!strcmp(trig_feature(b->x, k, &col), t->missing))
				break;
		if (arg_guard)
			ctl_error("[guard %s]: %s", arg_guard, t->problem);
		else if (col)
			ctl_error("--when: column %u: %s", col, t->problem);
		else
			ctl_error("--when: %s", t->problem);
	}
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_backtest b = {0};
	struct trig_error e;
	struct trig_expr *x = NULL;
	struct ctl_vault cv;
	const char *when = arg_when;
	const void *gcfg = NULL, *gsec = NULL;
	uint64_t start = 0;
	int rc;

	(void)argc;
	(void)argv;
	if (!!arg_when + !!arg_guard != 1)
		return ctl_usage_error("backtest needs --when EXPR (a trigger expression) or "
		                       "--guard NAME --config FILE");
	if (!arg_guard != !arg_config)
		return ctl_usage_error("--guard NAME and --config FILE go together");
	if (arg_guard && arg_model.id)
		return ctl_usage_error("--model: a guard's records are those of its `model`");
#ifdef CTL_HAVE_CONFIG
	struct config cfg;
	const struct config_guard *g = NULL;
	if (arg_guard) {
		rc = load_guard(&cfg, &g);
		if (rc)
			return rc;
		when = g->when;
		gcfg = &cfg;
		gsec = g;
	}
#else
	if (arg_guard)
		return ctl_usage_error(
		    "--guard: this evidentctl was built without evidentd's config "
		    "parser (libinih-dev was missing)");
#endif
	rc = trig_compile(when, &x, &e);
	if (rc == -EINVAL)
		rc = ctl_usage_error("--when: column %u: %s", e.column, e.message);
	else if (rc < 0)
		rc = ctl_usage_error("--when: %s", strerror(-rc));
	if (rc == 0)
		rc = ctl_vault_open(c, &cv);
	if (rc == 0) {
		int vrc = 0;
		if (arg_since)
			vrc = vault_seek_time(cv.r, arg_since, &start);
		if (vrc == 0)
			vrc = ctl_backtest_run(cv.r, x, &arg_model, start, vault_reader_size(cv.r),
			                       0, arg_until, arg_show, &b);
		rc =
		    vrc < 0 ? ctl_vault_error(&cv, "cannot read entries", vrc) : print(c, &b, when);
		if (rc == 0) {
			report_unbound(&b, gcfg, gsec);
			for (size_t i = 0; i < b.n; i++)
				if (!b.t[i].bound)
					rc = CTL_EXIT_PROBLEM;
		}
		ctl_backtest_free(&b);
		ctl_vault_close(&cv);
	}
	trig_free(x);
#ifdef CTL_HAVE_CONFIG
	if (arg_guard)
		config_deinit(&cfg);
#endif
	return rc;
}

static const struct option options[] = {
    {"when", required_argument, NULL, ARG_WHEN},
    {"guard", required_argument, NULL, ARG_GUARD},
    {"config", required_argument, NULL, ARG_CONFIG},
    {"incidents", no_argument, NULL, ARG_INCIDENTS},
    {"model", required_argument, NULL, ARG_MODEL},
    {"since", required_argument, NULL, ARG_SINCE},
    {"until", required_argument, NULL, ARG_UNTIL},
    {"show", required_argument, NULL, ARG_SHOW},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_backtest = {
    .name = "backtest",
    .summary = "what a proposed trigger rule or guard would have caught in the vault",
    .synopsis = "backtest --when EXPR | --guard NAME --config FILE [--incidents]\n"
                "    [--model ID[@VER]] [--since T] [--until T] [--show N]",
    .description =
        "Evaluates a trigger expression (the `when` of a [trigger NAME] or [guard NAME]\n"
        "section; the grammar is in daemon/trigger/trigger.h and evidentd.conf.example) on\n"
        "every record in the vault, with the daemon's own code, and reports per model\n"
        "version how many records it would have caught and the seqs of the first few. Use\n"
        "it before adding a rule: a rule that catches 30% of a busy model's records will\n"
        "flood the audit workers, and a guard that holds them will stop the business.\n"
        "With --guard NAME --config FILE the rule is the [guard NAME] section of an\n"
        "evidentd config file, read by evidentd's own parser (a section evidentd would\n"
        "refuse is refused here, at FILE:LINE:COLUMN), on the records of its `model` (an\n"
        "id: every version; ID@VERSION: that one; none: every model): test a guard before\n"
        "deploying it.\n"
        "Per model version it also gives the past incidents (incident entries naming its\n"
        "records) the rule would have caught, how many of those a human overturned (the\n"
        "latest review naming the incident has outcome \"overturned\"), and the routine\n"
        "decisions (its records no incident names) the rule would have held, with their\n"
        "share: the cost of the rule. --incidents lists every incident with its trigger or\n"
        "guard, its state (open, reviewed, rate-limited), whether the rule catches its\n"
        "record, and its reviews with their outcomes; and the reviews of records a guard\n"
        "caught without an incident (Review.record_seq).\n"
        "Feature names are bound per model version through its manifest. A version whose\n"
        "manifest lacks a feature the rule names (or a record of a model never registered)\n"
        "is not evaluated: never read as silently true or false, it is named with the\n"
        "model's features and the exit status is 1. Records whose payload was pruned are\n"
        "counted apart and not evaluated; their incidents are \"unknown\".\n"
        "With --json, one object per model version: model_id, model_version, records,\n"
        "caught, share, first_seqs, routine, routine_held, routine_share, incidents,\n"
        "incidents_caught, incidents_unknown, overturned, overturned_caught, bound,\n"
        "unknown_features and problem (null when bound); with --incidents also\n"
        "incident_list ({seq, record_seq, trigger or guard, status, caught (null:\n"
        "unknown), reviews: [{seq, reviewer, outcome}]}) and record_reviews ({seq,\n"
        "reviewer, outcome, record_seq, caught}). Times T as in 'evidentctl log --help'.",
    .options = "--when EXPR\n"
               "    The trigger expression.\n"
               "--guard NAME, --config FILE\n"
               "    Instead of --when: the [guard NAME] section of the evidentd config FILE.\n"
               "--incidents\n"
               "    List the incidents and reviews, whether the rule catches each.\n"
               "--model ID[@VER]\n"
               "    Only records of this model (any version without @VER); not with --guard.\n"
               "--since T, --until T\n"
               "    Only records appended at or after / at or before time T.\n"
               "--show N\n"
               "    How many caught seqs to list per model version (default 5).",
    .exit_status = "0  success\n"
                   "1  the rule names a feature a model version's manifest lacks, or the\n"
                   "   config's [guard NAME] section is refused (FILE:LINE:COLUMN)\n"
                   "2  usage error (a bad --when expression: the message gives its column;\n"
                   "   no [guard NAME] section in FILE)\n"
                   "3  the vault or the config file could not be read",
    .examples = "evidentctl backtest --when 'context.amount > 1e6 && decision == \"sell\"'\n"
                "evidentctl backtest --when 'abs(feature.vol - feature.vol_ma) > 3' \\\n"
                "    --model fx-trader --since -30d --json\n"
                "evidentctl backtest --guard incident-1545 --config /etc/evidentd.conf "
                "--incidents",
    .long_options = options,
    .option = option,
    .run = run,
};
