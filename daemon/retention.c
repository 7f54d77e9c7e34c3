/* SPDX-License-Identifier: Apache-2.0 */
/* Retention on a timer (retention.h). */
#include "retention.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "dispatch.h"
#include "entry.pb-c.h"
#include "evident/invariant.h"
#include "holds.h"
#include "log.h"
#include "prune.h"
#include "realtime.h"
#include "registry.h"
#include "writer.h"

#define NS_PER_S       1000000000ull
#define FIRST_CYCLE_MS 100 /* after start */
#define SCAN_PER_PRUNE 16  /* a batch looks at up to batch * this many entries */
/* While records arrive (ingest), a batch is followed by a pause this many times as long as the
 * batch took: pruning takes at most a fifth of the writer's time. */
#define PACE           4
#define CLOCK_VARIABLE "EVIDENTD_TEST_NOW_OFFSET_S"

/* Entries of one type kept for one duration. */
struct rclass {
	uint16_t type;
	char *model; /* [retention MODEL]; NULL: [retention] */
	char **skip; /* [retention]: the models with a section of their own for this type */
	size_t n_skip;
	uint64_t keep_s;
	uint64_t cursor;  /* the entries before it were looked at */
	uint64_t batched; /* in the batch being gathered */
	uint64_t pruned;  /* in this cycle */
	char reason[400]; /* of its prunes */
};

struct rjob {
	struct job job;
	struct retention *rt;
	uint64_t now_ns; /* the cycle's clock */
	uint32_t batch;
	size_t cls;      /* the class being worked on */
	uint64_t *saved; /* cursors before the batch (restored when it fails) */
	uint64_t held;   /* held payloads skipped in this cycle */
	uint64_t run_ns; /* the last batch's time on the writer thread */
	struct prune_list list;
};

struct retention {
	struct daemon *d;
	struct holds *holds;
	uv_timer_t timer;
	bool timer_open;
	bool stopping;
	int64_t offset_ns;
	/* the classes: the writer thread's while a batch is in flight, the loop's otherwise */
	struct rclass *classes;
	size_t n_classes;
	struct rjob job;
	bool in_flight;
	bool paused;           /* between two batches of a cycle, ingest first */
	uint64_t last_records; /* records received when the previous batch ended */
	bool reconfigure;      /* d->cfg changed while a batch was in flight */
	int last_error;        /* logged once until a batch succeeds */
	uint64_t total_pruned, cycles;
	uint64_t cycle_start_ms; /* uv_now at the cycle's start */
};

static void class_deinit(struct rclass *c)
{
	free(c->model);
	for (size_t i = 0; i < c->n_skip; i++)
		free(c->skip[i]);
	free(c->skip);
}

static void classes_free(struct rclass *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		class_deinit(&c[i]);
	free(c);
}

int retention_clock_offset(int64_t *ret_offset_ns)
{
	const char *s = getenv(CLOCK_VARIABLE);
	char *end;
	long long v;

	*ret_offset_ns = 0;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v > INT64_MAX / (int64_t)NS_PER_S ||
	    v < INT64_MIN / (int64_t)NS_PER_S) {
		log_error("%s=\"%s\": expected an integer number of seconds", CLOCK_VARIABLE, s);
		return -EINVAL;
	}
	*ret_offset_ns = (int64_t)v * (int64_t)NS_PER_S;
	return 0;
}

/* ------------------------------------------------------------------ classes */

static int add_class(struct rclass **cs, size_t *n, uint16_t type, const char *model,
                     uint64_t keep_s)
{
	struct rclass *nc = realloc(*cs, (*n + 1) * sizeof(*nc));
	char d[32];

	if (!nc)
		return -ENOMEM;
	*cs = nc;
	nc = &nc[*n];
	*nc = (struct rclass){.type = type, .keep_s = keep_s};
	if (model && !(nc->model = strdup(model)))
		return -ENOMEM;
	(*n)++;
	config_duration_format(keep_s, d, sizeof(d));
	if (model)
		snprintf(nc->reason, sizeof(nc->reason),
		         "retention: %s of model %.128s older than %s (config [retention %.128s])",
		         vault_entry_type_name(type), model, d, model);
	else
		snprintf(nc->reason, sizeof(nc->reason),
		         "retention: %s older than %s (config [retention])",
		         vault_entry_type_name(type), d);
	return 0;
}

/* The classes of a configuration (cursors at 0). */
static int classes_of(const struct config *c, struct rclass **ret, size_t *ret_n)
{
	static const uint16_t types[] = {VAULT_ENTRY_RECORD,  VAULT_ENTRY_INCIDENT,
	                                 VAULT_ENTRY_AUDIT,   VAULT_ENTRY_REVIEW,
	                                 VAULT_ENTRY_VERDICT, VAULT_ENTRY_NOTICE};
	struct rclass *cs = NULL;
	size_t n = 0;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		uint16_t type = types[t];
		bool per_model = type == VAULT_ENTRY_RECORD || type == VAULT_ENTRY_AUDIT;
		uint64_t keep = c->keep_s[type] ? c->keep_s[type] : CONFIG_KEEP_FOREVER;
		/* [retention MODEL] sections first: [retention]'s class skips their models */
		for (size_t i = 0; per_model && i < c->n_retention_models; i++) {
			const struct config_retention_model *m = &c->retention_models[i];
			uint64_t s = type == VAULT_ENTRY_RECORD ? m->record_s : m->audit_s;
			if (!s)
				continue;
			if (s != CONFIG_KEEP_FOREVER && add_class(&cs, &n, type, m->model, s) < 0)
				goto fail;
		}
		if (keep == CONFIG_KEEP_FOREVER)
			continue;
		if (add_class(&cs, &n, type, NULL, keep) < 0)
			goto fail;
		struct rclass *dc = &cs[n - 1];
		for (size_t i = 0; per_model && i < c->n_retention_models; i++) {
			const struct config_retention_model *m = &c->retention_models[i];
			if (!(type == VAULT_ENTRY_RECORD ? m->record_s : m->audit_s))
				continue;
			char **ns = realloc(dc->skip, (dc->n_skip + 1) * sizeof(*ns));
			if (!ns)
				goto fail;
			dc->skip = ns;
			if (!(ns[dc->n_skip] = strdup(m->model)))
				goto fail;
			dc->n_skip++;
		}
	}
	*ret = cs;
	*ret_n = n;
	return 0;
fail:
	classes_free(cs, n);
	return -ENOMEM;
}

static bool same_class(const struct rclass *a, const struct rclass *b)
{
	return a->type == b->type &&
	       ((!a->model && !b->model) || (a->model && b->model && !strcmp(a->model, b->model)));
}

/* Takes d->cfg's classes, keeping the places of those that stay. Loop thread, no batch in
 * flight. */
static void apply_config(struct retention *rt)
{
	struct rclass *cs;
	size_t n;

	if (classes_of(&rt->d->cfg, &cs, &n) < 0) {
		log_error(
		    "retention: out of memory for the new configuration; keeping the old one");
		return;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < rt->n_classes; k++)
			if (same_class(&cs[i], &rt->classes[k]))
				cs[i].cursor = rt->classes[k].cursor;
	classes_free(rt->classes, rt->n_classes);
	rt->classes = cs;
	rt->n_classes = n;
	uint64_t *saved = realloc(rt->job.saved, (n ? n : 1) * sizeof(uint64_t));
	if (saved)
		rt->job.saved = saved;
}

/* ------------------------------------------------------------------ the batch (writer) */

/* The model an entry of a per-model class is about: a record's model_id, an audit document's
 * "model_id". Writes it into buf (NUL-terminated); "" when it cannot be read. */
static void model_of(const struct vault_entry *e, char *buf, size_t size)
{
	const uint8_t *p, *q;
	size_t pl, ql;

	buf[0] = '\0';
	if (e->leaf.type == VAULT_ENTRY_RECORD) {
		/* RecordEntry.record = 3, Record.model_id = 1 */
		if (dispatch_field_bytes(e->payload, e->payload_len, 3, &p, &pl) == 1 &&
		    dispatch_field_bytes(p, pl, 1, &q, &ql) == 1 && ql < size) {
			memcpy(buf, q, ql);
			buf[ql] = '\0';
		}
		return;
	}
	/* AuditEntry.document = 4: the audit document names its model */
	if (dispatch_field_bytes(e->payload, e->payload_len, 4, &p, &pl) != 1)
		return;
	json_t *doc = json_loadb((const char *)p, pl, 0, NULL);
	const char *id = json_string_value(json_object_get(doc, "model_id"));
	if (id)
		snprintf(buf, size, "%s", id);
	json_decref(doc);
}

static bool of_class(const struct rclass *c, const struct vault_entry *e)
{
	char model[DISPATCH_ID_MAX + 1];

	if (!c->model && !c->n_skip)
		return true;
	model_of(e, model, sizeof(model));
	if (c->model)
		return !strcmp(model, c->model);
	for (size_t i = 0; i < c->n_skip; i++)
		if (!strcmp(model, c->skip[i]))
			return false;
	return true;
}

/* Looks at entry e of class c: added to the batch when its payload is there, of the class
 * and not held. */
static int consider(struct rjob *j, struct rclass *c, const struct vault_entry *e)
{
	if (!e->payload || !of_class(c, e))
		return 0;
	if (holds_covers(j->rt->holds, e->leaf.seq, e->leaf.type, e->payload, e->payload_len, NULL,
	                 0)) {
		j->held++;
		return 0;
	}
	c->batched++;
	return prune_list_add(&j->list, e, c->reason);
}

/* Gathers class c's expired payloads from its cursor up to the batch's size or scan budget.
 * Sets *ret_done when the class has nothing more expired. */
static int gather(struct rjob *j, struct vault_reader *r, struct rclass *c, uint64_t *budget,
                  bool *ret_done)
{
	struct vault_entry e;
	uint64_t cutoff, seq;
	int rc = 0;

	*ret_done = true;
	if (c->keep_s > j->now_ns / NS_PER_S)
		return 0; /* nothing is that old */
	rc = vault_seek_time(r, j->now_ns - c->keep_s * NS_PER_S, &cutoff);
	if (rc < 0)
		return rc;
	if (c->type == VAULT_ENTRY_RECORD) {
		/* records are not in the type index: walk the entries */
		struct vault_iter it;
		rc = vault_iter_init(r, c->cursor, &it);
		while (rc == 0 && c->cursor < cutoff) {
			if (j->list.n >= j->batch || !*budget) {
				*ret_done = false;
				break;
			}
			rc = vault_iter_next(&it, &e);
			if (rc <= 0)
				break;
			rc = 0;
			INVARIANT(e.leaf.seq == c->cursor);
			c->cursor++;
			(*budget)--;
			if (e.leaf.type == VAULT_ENTRY_RECORD)
				rc = consider(j, c, &e);
		}
		vault_iter_deinit(&it);
		return rc < 0 ? rc : 0;
	}
	while (c->cursor < cutoff) {
		if (j->list.n >= j->batch || !*budget) {
			*ret_done = false;
			return 0;
		}
		rc = vault_next_of_type(r, c->type, c->cursor, &seq);
		if (rc == -ENOENT || (rc == 0 && seq >= cutoff)) {
			c->cursor = cutoff;
			return 0;
		}
		if (rc < 0 || (rc = vault_get(r, seq, &e)) < 0)
			return rc;
		c->cursor = seq + 1;
		(*budget)--;
		if ((rc = consider(j, c, &e)) < 0)
			return rc;
	}
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void batch_run(struct job *job, struct vault *v)
{
	struct rjob *j = (struct rjob *)job;
	struct retention *rt = j->rt;
	uint64_t budget = (uint64_t)j->batch * SCAN_PER_PRUNE, t0 = mono_ns();
	struct vault_reader *r;
	int rc;

	for (size_t i = 0; i < rt->n_classes; i++)
		j->saved[i] = rt->classes[i].cursor;
	rc = vault_reader_begin(v, &r);
	while (rc == 0 && j->cls < rt->n_classes && j->list.n < j->batch && budget) {
		bool done;
		rc = gather(j, r, &rt->classes[j->cls], &budget, &done);
		if (rc == 0 && done)
			j->cls++;
	}
	vault_reader_end(r);
	if (rc == 0 && j->list.n) {
		long n = prune_list_commit(&j->list, v);
		rc = n < 0 ? (int)n : 0;
	}
	for (size_t i = 0; i < rt->n_classes; i++) {
		struct rclass *c = &rt->classes[i];
		if (rc < 0)
			c->cursor =
			    j->saved[i]; /* nothing of the batch was pruned: again next cycle */
		else
			c->pruned += c->batched;
		c->batched = 0;
	}
	if (rc < 0)
		prune_list_deinit(&j->list);
	job->rc = rc;
	j->run_ns = mono_ns() - t0;
}

/* ------------------------------------------------------------------ cycles (loop) */

static void on_timer(uv_timer_t *t);

static void end_cycle(struct retention *rt)
{
	char part[160], msg[800] = "";
	uint64_t n = 0;
	size_t off = 0;

	for (size_t i = 0; i < rt->n_classes; i++) {
		struct rclass *c = &rt->classes[i];
		if (!c->pruned)
			continue;
		n += c->pruned;
		snprintf(part, sizeof(part), "%s%" PRIu64 " %s%s%s", off ? ", " : "", c->pruned,
		         vault_entry_type_name(c->type), c->model ? " of " : "",
		         c->model ? c->model : "");
		if (off + strlen(part) < sizeof(msg)) {
			memcpy(msg + off, part, strlen(part) + 1);
			off += strlen(part);
		}
		c->pruned = 0;
	}
	rt->cycles++;
	rt->total_pruned += n;
	uv_update_time(rt->d->loop);
	double secs = (double)(uv_now(rt->d->loop) - rt->cycle_start_ms) / 1000;
	if (n)
		log_info("retention cycle %" PRIu64 " done in %.3f s: %" PRIu64
		         " payloads pruned (%s), %" PRIu64 " held ones skipped",
		         rt->cycles, secs, n, msg, rt->job.held);
	else
		log_debug("retention cycle %" PRIu64 " done in %.3f s: nothing to prune, %" PRIu64
		          " held ones skipped",
		          rt->cycles, secs, rt->job.held);
	rt->job.held = 0;
	if (!rt->stopping && rt->timer_open)
		uv_timer_start(&rt->timer, on_timer,
		               (uint64_t)rt->d->cfg.retention_interval_s * 1000, 0);
}

/* The pause after a batch is over: the next one. */
static void on_pause(uv_timer_t *t)
{
	struct retention *rt = t->data;

	rt->paused = false;
	rt->in_flight = true;
	writer_submit(&rt->d->writer, &rt->job.job);
}

static void batch_done(struct job *job)
{
	struct rjob *j = (struct rjob *)job;
	struct retention *rt = j->rt;

	rt->in_flight = false;
	/* the records pruned by this batch leave the audit backgrounds (registry.h) */
	registry_reservoir_forget(&rt->d->models, j->list.committed, j->list.n_committed);
	j->list.n_committed = 0;
	if (job->rc < 0) {
		if (job->rc != rt->last_error)
			log_error("retention: pruning a batch failed: %s; trying again in the next "
			          "cycle",
			          strerror(-job->rc));
		rt->last_error = job->rc;
		j->cls = rt->n_classes; /* ends the cycle */
	} else {
		rt->last_error = 0;
	}
	if (rt->reconfigure) {
		rt->reconfigure = false;
		apply_config(rt);
		j->cls = rt->n_classes; /* the new classes start with the next cycle */
	}
	if (j->cls < rt->n_classes && !rt->stopping) {
		/* records arrived since the previous batch: they go first, for a while (the
		 * writer's queue says little here: this runs as it hands back what it did, and
		 * what came meanwhile may be committing right now) */
		bool busy = rt->d->stats.records != rt->last_records;
		rt->last_records = rt->d->stats.records;
		if (busy && rt->timer_open) {
			uint64_t ms = j->run_ns * PACE / 1000000;
			rt->paused = true;
			uv_timer_start(&rt->timer, on_pause, ms ? ms : 1, 0);
			return;
		}
		rt->in_flight = true;
		writer_submit(&rt->d->writer, job); /* behind what was queued meanwhile */
		return;
	}
	end_cycle(rt);
}

static void on_timer(uv_timer_t *t)
{
	struct retention *rt = t->data;
	uint64_t lifted;

	if (rt->stopping || rt->in_flight)
		return;
	lifted = holds_take_lifted(rt->holds);
	uv_update_time(rt->d->loop);
	rt->cycle_start_ms = uv_now(rt->d->loop);
	/* payloads skipped while held are looked at again once their hold is lifted */
	for (size_t i = 0; i < rt->n_classes; i++)
		if (lifted < rt->classes[i].cursor)
			rt->classes[i].cursor = lifted;
	if (!rt->n_classes) {
		end_cycle(rt);
		return;
	}
	rt->job.job = (struct job){.run = batch_run, .done = batch_done, .owner = rt};
	rt->job.now_ns = (uint64_t)(realtime_ns() + rt->offset_ns);
	rt->job.batch = rt->d->cfg.retention_batch;
	rt->job.cls = 0;
	rt->in_flight = true;
	writer_submit(&rt->d->writer, &rt->job.job);
}

int retention_start(struct daemon *d, int64_t offset_ns)
{
	struct retention *rt = calloc(1, sizeof(*rt));

	if (!rt)
		return -ENOMEM;
	rt->d = d;
	rt->holds = d->holds;
	rt->offset_ns = offset_ns;
	rt->job.rt = rt;
	d->retention = rt;
	apply_config(rt);
	if (!rt->job.saved)
		return -ENOMEM;
	uv_timer_init(d->loop, &rt->timer);
	rt->timer.data = rt;
	rt->timer_open = true;
	uv_timer_start(&rt->timer, on_timer, FIRST_CYCLE_MS, 0);
	if (rt->n_classes)
		log_info("retention: %zu rule(s), a cycle at most every %u s, %u prunes per batch",
		         rt->n_classes, d->cfg.retention_interval_s, d->cfg.retention_batch);
	return 0;
}

void retention_reconfigure(struct daemon *d)
{
	struct retention *rt = d->retention;

	if (!rt)
		return;
	if (rt->in_flight || rt->paused)
		rt->reconfigure = true; /* at the end of the batch (or the pause) */
	else
		apply_config(rt);
}

static void timer_closed(uv_handle_t *h)
{
	(void)h;
}

void retention_stop(struct daemon *d)
{
	struct retention *rt = d->retention;

	if (!rt || rt->stopping)
		return;
	rt->stopping = true;
	if (rt->timer_open) {
		uv_timer_stop(&rt->timer);
		uv_close((uv_handle_t *)&rt->timer, timer_closed);
		rt->timer_open = false;
	}
}

void retention_free(struct daemon *d)
{
	struct retention *rt = d->retention;

	if (!rt)
		return;
	INVARIANT(!rt->in_flight); /* the writer ran every job before the loop ended */
	classes_free(rt->classes, rt->n_classes);
	prune_list_deinit(&rt->job.list);
	free(rt->job.saved);
	free(rt);
	d->retention = NULL;
}

uint64_t retention_pruned(const struct daemon *d)
{
	return d->retention ? d->retention->total_pruned : 0;
}
