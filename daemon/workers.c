/* SPDX-License-Identifier: Apache-2.0 */
/* The audit worker pool (workers.h). */
#include "workers.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "dispatch.h"
#include "entry.pb-c.h"
#include "evident/invariant.h"
#include "evident_version.h"
#include "log.h"
#include "registry.h"
#include "writer.h"

#define WORKER_NICE  10
#define ARTIFACT_MAX (1ull << 31)

/* ------------------------------------------------------------------ entries */

/* An audit entry is durable (or failed, logged by the writer): the audit is recorded. */
static void audit_recorded(void *data, int rc)
{
	struct workers *w = data;

	(void)rc;
	w->in_flight--;
}

/* Queues one entry (payload taken) about data subject `subject` (may be NULL); an audit entry
 * counts in in_flight until it is done. */
static void append(struct workers *w, int type, uint8_t *payload, size_t len, const char *subject,
                   bool audit)
{
	if (writer_append_subject(w->writer, (uint16_t)type, payload, len, true, subject,
	                          audit ? audit_recorded : NULL, w) < 0 &&
	    audit)
		w->in_flight--;
}

static void notice(struct workers *w, uint64_t incident_seq, const char *detail)
{
	Evident__Entry__V1__NoticeEntry n = EVIDENT__ENTRY__V1__NOTICE_ENTRY__INIT;
	uint8_t *buf;
	size_t len;

	n.kind = "audit_skipped";
	n.has_incident_seq = true;
	n.incident_seq = incident_seq;
	n.detail = (char *)detail;
	w->skipped++;
	log_at(LOG_WARNING, LOG_INCIDENT(incident_seq), "incident %" PRIu64 ": %s", incident_seq,
	       detail);
	if (dispatch_pack(&n.base, &buf, &len) < 0)
		log_error("recording a notice entry: out of memory");
	else
		append(w, VAULT_ENTRY_NOTICE, buf, len, NULL, false);
}

struct audit_job {
	struct audit_job *next;
	struct workers *w;
	const struct model_info *mi; /* registry entries live as long as the daemon */
	uint64_t incident_seq, record_seq;
	char **methods;
	size_t n_methods;
	double review_below;
	double *bg_rows; /* reservoir snapshot (no reference data) */
	uint64_t *bg_seqs;
	size_t bg_n;
	bool recovered; /* queued again after a crash */
	/* [model ID] of the config when the incident was queued (oracle models) */
	char *oracle;
	unsigned oracle_procs, oracle_timeout_ms;
	size_t background_size;
};

/* ------------------------------------------------------------------ the model cache */

struct cached {
	struct cached *next;
	char *key;
	struct audit_model *am;
	double *ref_rows; /* reference data, or NULL */
	size_t ref_n;
	char ref_hex[65];
	int rc; /* < 0: loading failed, err says why */
	char err[AUDIT_ERR_MAX];
};

struct workers_cache {
	struct cached *head;
};

/* Reads blob hex (size bytes expected) into a malloc'd buffer, checking its SHA-256. */
static int read_blob(struct vault_reader *r, const char *hex, const char *what, void **ret,
                     size_t *ret_len, char *err, size_t err_size)
{
	uint8_t h[VAULT_HASH_LEN];
	int rc;

	if (!hex || vault_unhex(hex, strlen(hex), h) < 0) {
		snprintf(err, err_size, "the manifest's %s hash is not 64 hex digits", what);
		return -EBADMSG;
	}
	rc = vault_blob_load(r, h, ARTIFACT_MAX, ret, ret_len);
	if (rc < 0)
		snprintf(err, err_size, "the %s blob %.16s... %s", what, hex,
		         rc == -ENOENT    ? "is not in the vault"
		         : rc == -EFBIG   ? "is too large to load"
		         : rc == -EBADMSG ? "does not hash to its name: the vault is damaged"
		                          : strerror(-rc));
	return rc;
}

/* What a failure of the model stage (audit_model_new, audit_model_open_oracle) is. */
static enum workers_load_fault model_fault(int rc)
{
	return rc == -ENOMEM    ? WORKERS_LOAD_SYSTEM
	       : rc == -ENOTSUP ? WORKERS_LOAD_UNSUPPORTED
	                        : WORKERS_LOAD_ARTIFACT;
}

/* What a failure of read_blob is: the artifact's own size, or the vault's trouble. */
static enum workers_load_fault read_fault(int rc)
{
	return rc == -EFBIG ? WORKERS_LOAD_ARTIFACT : WORKERS_LOAD_SYSTEM;
}

int workers_load_model(struct vault *v, const Evident__V1__ModelManifest *mf,
                       const struct audit_oracle *oc, struct audit_model **ret_am,
                       double **ret_ref_rows, size_t *ret_ref_n, enum workers_load_fault *ret_fault,
                       char *err, size_t err_size)
{
	struct vault_reader *r;
	struct audit_model *am = NULL;
	double *rows = NULL;
	size_t n_rows = 0;
	void *buf = NULL;
	size_t len;
	int rc = vault_reader_begin(v, &r);

	*ret_am = NULL;
	*ret_ref_rows = NULL;
	*ret_ref_n = 0;
	*ret_fault = WORKERS_LOAD_SYSTEM;
	if (rc < 0) {
		snprintf(err, err_size, "the vault could not be read: %s", strerror(-rc));
		return rc;
	}
	rc = read_blob(r, mf->artifact_sha256, "model artifact", &buf, &len, err, err_size);
	if (rc < 0) {
		*ret_fault = read_fault(rc);
	} else if (mf->framework && !strcmp(mf->framework, "oracle")) {
		if (!oc || !oc->command) {
			snprintf(
			    err, err_size,
			    "framework \"oracle\": the daemon's config has no [model %s] section "
			    "with an oracle command",
			    mf->model_id);
			rc = -ENOTSUP;
		} else {
			rc = audit_model_open_oracle(mf, buf, len, oc, &am, err, err_size);
		}
		if (rc < 0) /* an oracle that cannot start on this artifact counts as its fault */
			*ret_fault = model_fault(rc);
	} else {
		rc = audit_model_new(mf, buf, len, &am, err, err_size);
		if (rc < 0)
			*ret_fault = model_fault(rc);
	}
	free(buf);
	buf = NULL;
	if (rc >= 0 && mf->reference_data_sha256 && *mf->reference_data_sha256) {
		rc = read_blob(r, mf->reference_data_sha256, "reference data", &buf, &len, err,
		               err_size);
		if (rc < 0) {
			*ret_fault = read_fault(rc);
		} else {
			rc = audit_reference_rows(am, buf, len, &rows, &n_rows, err, err_size);
			if (rc < 0)
				*ret_fault =
				    rc == -ENOMEM ? WORKERS_LOAD_SYSTEM : WORKERS_LOAD_ARTIFACT;
		}
		free(buf);
	}
	vault_reader_end(r);
	if (rc < 0) {
		audit_model_free(am);
		return rc;
	}
	*ret_am = am;
	*ret_ref_rows = rows;
	*ret_ref_n = n_rows;
	*ret_fault = WORKERS_LOAD_OK;
	return 0;
}

static void load(struct workers *w, const struct audit_job *j, const Evident__V1__ModelManifest *mf,
                 struct cached *c)
{
	const struct audit_oracle oc = {.command = j->oracle,
	                                .procs = j->oracle_procs,
	                                .timeout_ms = j->oracle_timeout_ms,
	                                .background_size = j->background_size};
	enum workers_load_fault fault;

	c->rc = workers_load_model(w->vault, mf, &oc, &c->am, &c->ref_rows, &c->ref_n, &fault,
	                           c->err, sizeof(c->err));
	if (mf->reference_data_sha256 && *mf->reference_data_sha256)
		snprintf(c->ref_hex, sizeof(c->ref_hex), "%s", mf->reference_data_sha256);
}

/* The loaded model of j's model version (loading it on first use). Called on a worker. */
static struct cached *model_for(struct workers *w, const struct audit_job *j)
{
	const struct model_info *mi = j->mi;
	struct cached *c;

	pthread_mutex_lock(&w->lock);
	for (c = w->cache->head; c; c = c->next)
		if (!strcmp(c->key, mi->key))
			break;
	if (!c && (c = calloc(1, sizeof(*c))) && (c->key = strdup(mi->key))) {
		/* loading under the lock: once per model version, and the other workers need
		 * the same model anyway */
		load(w, j, mi->manifest, c);
		c->next = w->cache->head;
		w->cache->head = c;
	} else if (c && !c->key) {
		free(c);
		c = NULL;
	}
	pthread_mutex_unlock(&w->lock);
	return c;
}

static void cache_free(struct workers_cache *wc)
{
	for (struct cached *c = wc ? wc->head : NULL, *next; c; c = next) {
		next = c->next;
		audit_model_free(c->am);
		free(c->ref_rows);
		free(c->key);
		free(c);
	}
	free(wc);
}

/* ------------------------------------------------------------------ jobs */

enum { EV_VERDICT, EV_DONE };

struct worker_event {
	struct worker_event *next;
	struct audit_job *job;
	int kind;
	bool review;
	double confidence;
	char **reasons;
	size_t n_reasons;
	uint8_t *payload; /* EV_DONE: AuditEntry bytes */
	size_t len;
	char *subject;  /* EV_DONE: the record's data subject, or NULL */
	int status;     /* EV_DONE: enum audit_status */
	double seconds; /* EV_DONE: the audit's time on its worker */
};

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void job_free(struct audit_job *j)
{
	free(j->oracle);
	for (size_t i = 0; i < j->n_methods; i++)
		free(j->methods[i]);
	free(j->methods);
	free(j->bg_rows);
	free(j->bg_seqs);
	free(j);
}

static void post(struct workers *w, struct worker_event *ev)
{
	pthread_mutex_lock(&w->lock);
	struct worker_event **p = &w->events;
	while (*p)
		p = &(*p)->next;
	*p = ev;
	pthread_mutex_unlock(&w->lock);
	uv_async_send(&w->async);
}

static void on_verdict(void *ud, const struct audit_verdict *v)
{
	struct audit_job *j = ud;
	struct worker_event *ev = calloc(1, sizeof(*ev));
	size_t n = json_array_size(v->reasons);

	if (!ev)
		return; /* the loop answers when the audit is done */
	ev->job = j;
	ev->kind = EV_VERDICT;
	ev->review = v->review;
	ev->confidence = v->confidence;
	ev->reasons = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; ev->reasons && i < n; i++)
		if ((ev->reasons[i] = strdup(json_string_value(json_array_get(v->reasons, i)))))
			ev->n_reasons++;
	post(j->w, ev);
}

/* A document for an audit that could not start. */
static json_t *failed_doc(const struct audit_job *j, const char *why)
{
	return json_pack("{sI sI ss ss ss s[s] s{ss}}", "incident_id", (json_int_t)j->incident_seq,
	                 "record_seq", (json_int_t)j->record_seq, "model_id",
	                 j->mi->manifest->model_id, "model_version", j->mi->manifest->version,
	                 "status", "failed", "reasons", why, "params", "software",
	                 "evidentd " EVIDENT_VERSION);
}

/* Reads the record's features, scores, data subject and decision (NULL when it has none)
 * from the vault. */
static int read_record(struct workers *w, uint64_t seq, double **x, double **scores,
                       size_t *n_scores, char **subject, char **decision, size_t M, char *err,
                       size_t err_size)
{
	struct vault_reader *r;
	struct vault_entry e;
	int rc = vault_reader_begin(w->vault, &r);

	if (rc < 0)
		return rc;
	rc = vault_get(r, seq, &e);
	Evident__Entry__V1__RecordEntry *re =
	    rc >= 0 && e.leaf.type == VAULT_ENTRY_RECORD && e.payload
	        ? evident__entry__v1__record_entry__unpack(NULL, e.payload_len, e.payload)
	        : NULL;
	if (!re || !re->record || re->record->n_features != M) {
		snprintf(err, err_size, "record %" PRIu64 " could not be read back from the vault",
		         seq);
		rc = -EBADMSG;
	} else {
		*x = malloc(M * sizeof(double));
		*scores =
		    malloc((re->record->n_scores ? re->record->n_scores : 1) * sizeof(double));
		*subject = re->record->subject ? strdup(re->record->subject) : NULL;
		*decision = re->record->decision ? strdup(re->record->decision) : NULL;
		if (!*x || !*scores || (re->record->subject && !*subject) ||
		    (re->record->decision && !*decision)) {
			rc = -ENOMEM;
		} else {
			memcpy(*x, re->record->features, M * sizeof(double));
			memcpy(*scores, re->record->scores, re->record->n_scores * sizeof(double));
			*n_scores = re->record->n_scores;
			rc = 0;
		}
	}
	if (re)
		evident__entry__v1__record_entry__free_unpacked(re, NULL);
	vault_reader_end(r);
	return rc;
}

static void run_job(struct workers *w, struct audit_job *j)
{
	char err[AUDIT_ERR_MAX] = "";
	json_t *doc = NULL;
	enum audit_status status = AUDIT_FAILED;
	double *x = NULL, *scores = NULL;
	size_t n_scores = 0;
	char *subject = NULL, *decision = NULL;
	double started = mono_s();
	struct cached *c = model_for(w, j);

	if (!c) {
		doc = failed_doc(j, "out of memory loading the model");
	} else if (c->rc < 0) {
		char why[AUDIT_ERR_MAX + 64];
		snprintf(why, sizeof(why), "the model could not be loaded: %s", c->err);
		doc = failed_doc(j, why);
	} else if (read_record(w, j->record_seq, &x, &scores, &n_scores, &subject, &decision,
	                       c->am->M, err, sizeof(err)) < 0) {
		doc = failed_doc(j, err[0] ? err : "the record could not be read");
	} else {
		struct audit_background bg =
		    c->ref_rows ? (struct audit_background){.source = "reference_data",
		                                            .rows = c->ref_rows,
		                                            .n = c->ref_n,
		                                            .sha256 = c->ref_hex}
		                : (struct audit_background){.source = "recent_records",
		                                            .rows = j->bg_rows,
		                                            .n = j->bg_n,
		                                            .seqs = j->bg_seqs};
		struct audit_request rq = {.incident_id = j->incident_seq,
		                           .record_seq = j->record_seq,
		                           .x = x,
		                           .scores = scores,
		                           .n_scores = n_scores,
		                           .methods = (const char *const *)j->methods,
		                           .n_methods = j->n_methods,
		                           .seed = j->incident_seq,
		                           .review_below = j->review_below,
		                           .decision = decision,
		                           .on_verdict = on_verdict,
		                           .userdata = j};
		if (audit_run(c->am, &bg, &rq, &doc, &status) < 0)
			doc = failed_doc(j, "out of memory during the audit");
	}
	free(x);
	free(scores);
	free(decision);

	struct worker_event *ev = calloc(1, sizeof(*ev));
	Evident__Entry__V1__AuditEntry a = EVIDENT__ENTRY__V1__AUDIT_ENTRY__INIT;
	if (doc && j->recovered)
		json_object_set_new(doc, "recovered", json_true());
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	if (ev) {
		ev->job = j;
		ev->kind = EV_DONE;
		ev->status = (int)status;
		ev->seconds = mono_s() - started;
		ev->subject = subject; /* the audit is about the record's subject too */
		subject = NULL;
		a.has_incident_seq = a.has_record_seq = a.has_status = true;
		a.incident_seq = j->incident_seq;
		a.record_seq = j->record_seq;
		a.status = (Evident__Entry__V1__AuditEntry__Status)status;
		a.document =
		    text ? text : "{\"status\":\"failed\",\"reasons\":[\"out of memory\"]}";
		a.software = "evidentd " EVIDENT_VERSION;
		if (dispatch_pack(&a.base, &ev->payload, &ev->len) < 0)
			ev->payload = NULL;
	}
	free(text);
	free(subject);
	json_decref(doc);
	if (ev)
		post(w, ev);
	else
		log_at(LOG_ERR, LOG_INCIDENT(j->incident_seq),
		       "incident %" PRIu64 ": audit result lost: out of memory", j->incident_seq);
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;

	/* Ingest first: an audit thread yields the CPU to the loop and the writer (acknowledging
	 * records durably is the promise; audits are queued and may wait). Linux applies the
	 * nice value to this thread only. Failure is harmless (the default priority). */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE);

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->head)
			break;
		struct audit_job *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
		w->running++;
		pthread_mutex_unlock(&w->lock);
		run_job(w, j);
		pthread_mutex_lock(&w->lock);
		w->running--;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void handle_event(struct workers *w, struct worker_event *ev)
{
	struct audit_job *j = ev->job;
	const struct workers_hooks *h = &w->hooks;

	if (ev->kind == EV_VERDICT) {
		h->verdict(h->data, j->incident_seq,
		           ev->review ? EVIDENT__V1__VERDICT__ACTION__REVIEW
		                      : EVIDENT__V1__VERDICT__ACTION__PROCEED,
		           ev->confidence, (const char *const *)ev->reasons, ev->n_reasons);
	} else {
		/* a wait still open (no fast-phase verdict came) gets this one */
		const char *why = "the audit could not reach a verdict (see its audit entry)";
		h->verdict(h->data, j->incident_seq, EVIDENT__V1__VERDICT__ACTION__REVIEW, NAN,
		           &why, 1);
		w->audits++;
		if (h->audited)
			h->audited(h->data, j->incident_seq, ev->status, ev->seconds);
		if (ev->payload) {
			append(w, VAULT_ENTRY_AUDIT, ev->payload, ev->len, ev->subject, true);
			ev->payload = NULL;
		} else {
			w->in_flight--;
			log_at(LOG_ERR, LOG_INCIDENT(j->incident_seq),
			       "incident %" PRIu64 ": audit result lost: out of memory",
			       j->incident_seq);
		}
		job_free(j);
	}
	for (size_t i = 0; i < ev->n_reasons; i++)
		free(ev->reasons[i]);
	free(ev->reasons);
	free(ev->payload);
	free(ev->subject);
	free(ev);
}

static void on_async(uv_async_t *a)
{
	struct workers *w = a->data;

	pthread_mutex_lock(&w->lock);
	struct worker_event *ev = w->events;
	w->events = NULL;
	pthread_mutex_unlock(&w->lock);
	while (ev) {
		struct worker_event *next = ev->next;
		handle_event(w, ev);
		ev = next;
	}
	if (w->hooks.after_events)
		w->hooks.after_events(w->hooks.data);
}

/* ------------------------------------------------------------------ the pool */

int workers_start(struct workers *w, uv_loop_t *loop, struct vault *v, struct writer *writer,
                  const struct config *cfg, const struct workers_hooks *hooks)
{
	int rc;

	w->vault = v;
	w->writer = writer;
	w->cfg = cfg;
	w->hooks = *hooks;
	w->cap = cfg->job_queue;
	w->cache = calloc(1, sizeof(*w->cache));
	w->threads = calloc(cfg->workers ? cfg->workers : 1, sizeof(pthread_t));
	if (!w->cache || !w->threads)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	rc = uv_async_init(loop, &w->async, on_async);
	if (rc < 0)
		return rc;
	w->async.data = w;
	w->started = true;
	for (size_t i = 0; i < cfg->workers; i++) {
		rc = -pthread_create(&w->threads[i], NULL, worker_main, w);
		if (rc < 0)
			return rc;
		w->n_threads++;
	}
	return 0;
}

static void async_closed(uv_handle_t *h)
{
	(void)h;
}

void workers_stop(struct workers *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < w->n_threads; i++)
		pthread_join(w->threads[i], NULL);
	uv_close((uv_handle_t *)&w->async, async_closed);
	cache_free(w->cache);
	w->cache = NULL;
	free(w->threads);
	w->threads = NULL;
	w->started = false;
}

bool workers_idle(const struct workers *w)
{
	return !w->in_flight;
}

/* Queues the audit of an incident, or records why it cannot run (returned). */
static const char *submit(struct workers *w, const struct model_info *mi, uint64_t incident_seq,
                          const uint8_t *payload, size_t len, bool recovered)
{
	Evident__Entry__V1__IncidentEntry *ie =
	    evident__entry__v1__incident_entry__unpack(NULL, len, payload);
	struct audit_job *j = NULL;
	const char *why = NULL;

	if (!ie || !mi) {
		why = "audit skipped: the incident could not be decoded";
		goto out;
	}
	if (!w->n_threads) {
		why = "audit skipped: no workers configured (workers = 0)";
		goto out;
	}
	pthread_mutex_lock(&w->lock);
	size_t queued = w->queued;
	pthread_mutex_unlock(&w->lock);
	if (queued >= w->cap) {
		why = "audit skipped: queue full";
		goto out;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->methods = calloc(ie->n_methods ? ie->n_methods : 1, sizeof(char *)))) {
		why = "audit skipped: out of memory";
		goto out;
	}
	j->w = w;
	j->mi = mi;
	j->recovered = recovered;
	j->incident_seq = incident_seq;
	j->record_seq = ie->record_seq;
	j->review_below = ie->has_review_below ? ie->review_below : NAN;
	const struct config_model *cm =
	    config_model_find(w->cfg, mi->manifest->model_id, mi->manifest->version);
	if (cm) {
		j->oracle = cm->oracle ? strdup(cm->oracle) : NULL;
		j->oracle_procs = cm->oracle_procs;
		j->oracle_timeout_ms = cm->oracle_timeout_ms;
		j->background_size = cm->background_size;
	}
	for (size_t i = 0; i < ie->n_methods; i++)
		if ((j->methods[j->n_methods] = strdup(ie->methods[i])))
			j->n_methods++;
	const struct reservoir *res = mi->recent;
	bool ref = mi->manifest->reference_data_sha256 && *mi->manifest->reference_data_sha256;
	if (!ref && res && res->n) {
		size_t M = mi->manifest->n_features;
		j->bg_rows = malloc(res->n * M * sizeof(double));
		j->bg_seqs = malloc(res->n * sizeof(uint64_t));
		if (j->bg_rows && j->bg_seqs) {
			memcpy(j->bg_rows, res->rows, res->n * M * sizeof(double));
			memcpy(j->bg_seqs, res->seqs, res->n * sizeof(uint64_t));
			j->bg_n = res->n;
		}
	}
	w->in_flight++;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	j = NULL;
out:
	if (why)
		notice(w, incident_seq, why);
	if (j)
		job_free(j);
	if (ie)
		evident__entry__v1__incident_entry__free_unpacked(ie, NULL);
	return why;
}

const char *workers_submit(struct workers *w, const struct model_info *mi, uint64_t incident_seq,
                           const uint8_t *payload, size_t len)
{
	return submit(w, mi, incident_seq, payload, len, false);
}

/* ------------------------------------------------------------------ crash recovery */

int workers_recovery_range(struct vault *v, uint64_t *ret_from, uint64_t *ret_to, bool *ret_clean)
{
	struct vault_reader *r;
	int rc = vault_reader_begin(v, &r);

	*ret_from = *ret_to = 0;
	*ret_clean = true;
	if (rc < 0)
		return rc;
	uint64_t size = vault_reader_size(r);
	/* the lifecycle entries only, newest first, through the type index: a vault of millions
	 * of records costs what a small one does */
	for (uint64_t seq = size;
	     (rc = vault_prev_of_type(r, VAULT_ENTRY_LIFECYCLE, seq, &seq)) == 0;) {
		struct vault_entry e;
		rc = vault_get(r, seq, &e);
		if (rc < 0)
			break;
		if (!e.payload)
			continue;
		Evident__Entry__V1__LifecycleEntry *le =
		    evident__entry__v1__lifecycle_entry__unpack(NULL, e.payload_len, e.payload);
		if (!le)
			continue;
		int ev = le->event;
		evident__entry__v1__lifecycle_entry__free_unpacked(le, NULL);
		if (ev == EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__STOP)
			break; /* a clean stop drained every audit before it */
		if (ev == EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__START) {
			/* this run ended without a STOP; so may the one before it, whose audits
			 * this run re-queued and a second kill interrupted: keep going back to the
			 * last clean stop */
			*ret_from = seq + 1;
			*ret_to = size;
			*ret_clean = false;
		}
	}
	vault_reader_end(r);
	return rc < 0 && rc != -ENOENT ? rc : 0;
}

/* Adds the incident seqs that entries of type (audit or notice) in [from, to) name. */
static int named_incidents(struct vault_reader *r, int type, uint64_t from, uint64_t to,
                           uint64_t **set, size_t *n, size_t *cap)
{
	for (uint64_t seq; from < to; from = seq + 1) {
		struct vault_entry e;
		int rc = vault_next_of_type(r, type, from, &seq);
		if (rc == -ENOENT || (rc == 0 && seq >= to))
			return 0;
		if (rc < 0 || (rc = vault_get(r, seq, &e)) < 0)
			return rc;
		uint64_t id = 0;
		bool has = false;
		if (type == VAULT_ENTRY_AUDIT && e.payload) {
			Evident__Entry__V1__AuditEntry *a =
			    evident__entry__v1__audit_entry__unpack(NULL, e.payload_len, e.payload);
			if (a) {
				id = a->incident_seq;
				has = a->has_incident_seq;
				evident__entry__v1__audit_entry__free_unpacked(a, NULL);
			}
		} else if (e.payload) {
			Evident__Entry__V1__NoticeEntry *no =
			    evident__entry__v1__notice_entry__unpack(NULL, e.payload_len,
			                                             e.payload);
			if (no) {
				id = no->incident_seq;
				has = no->has_incident_seq;
				evident__entry__v1__notice_entry__free_unpacked(no, NULL);
			}
		}
		if (!has)
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? 2 * *cap : 256;
			uint64_t *ns = realloc(*set, nc * sizeof(uint64_t));
			if (!ns)
				return -ENOMEM;
			*set = ns;
			*cap = nc;
		}
		(*set)[(*n)++] = id;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* An incident to re-queue, read from the vault and queued once the snapshot is released. */
struct recovered {
	uint64_t seq;
	const struct model_info *mi;
	uint8_t *payload;
	size_t len;
};

long workers_recover(struct workers *w, const struct registry *reg, uint64_t from, uint64_t to)
{
	struct vault_reader *r;
	uint64_t *set = NULL;
	size_t n = 0, cap = 0, n_rec = 0, cap_rec = 0;
	struct recovered *rec = NULL;
	long queued = 0;
	int rc = vault_reader_begin(w->vault, &r);

	if (rc < 0)
		return rc;
	rc = named_incidents(r, VAULT_ENTRY_AUDIT, from, to, &set, &n, &cap);
	if (rc >= 0)
		rc = named_incidents(r, VAULT_ENTRY_NOTICE, from, to, &set, &n, &cap);
	if (rc >= 0 && n)
		qsort(set, n, sizeof(uint64_t), cmp_u64);
	for (uint64_t seq, at = from; rc >= 0 && at < to; at = seq + 1) {
		struct vault_entry e;
		rc = vault_next_of_type(r, VAULT_ENTRY_INCIDENT, at, &seq);
		if (rc == -ENOENT || (rc == 0 && seq >= to)) {
			rc = 0;
			break;
		}
		if (rc < 0 || (rc = vault_get(r, seq, &e)) < 0 || !e.payload)
			continue;
		if (n && bsearch(&seq, set, n, sizeof(uint64_t), cmp_u64))
			continue;
		Evident__Entry__V1__IncidentEntry *ie =
		    evident__entry__v1__incident_entry__unpack(NULL, e.payload_len, e.payload);
		if (!ie)
			continue;
		const struct model_info *mi =
		    ie->status == EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__OPEN
		        ? registry_find(reg, ie->model_id, ie->model_version)
		        : NULL;
		evident__entry__v1__incident_entry__free_unpacked(ie, NULL);
		if (!mi)
			continue;
		if (n_rec == cap_rec) {
			size_t nc = cap_rec ? 2 * cap_rec : 16;
			struct recovered *nr = realloc(rec, nc * sizeof(*nr));
			if (!nr) {
				rc = -ENOMEM;
				break;
			}
			rec = nr;
			cap_rec = nc;
		}
		rec[n_rec] = (struct recovered){.seq = seq, .mi = mi, .len = e.payload_len};
		if (!(rec[n_rec].payload = malloc(e.payload_len ? e.payload_len : 1))) {
			rc = -ENOMEM;
			break;
		}
		memcpy(rec[n_rec++].payload, e.payload, e.payload_len);
	}
	/* the snapshot is released before the queue's lock is taken: a worker loading a model
	 * holds that lock while it reads the vault, so the two never nest the other way round */
	vault_reader_end(r);
	for (size_t i = 0; i < n_rec; i++) {
		if (rc >= 0) {
			submit(w, rec[i].mi, rec[i].seq, rec[i].payload, rec[i].len, true);
			queued++;
		}
		free(rec[i].payload);
	}
	free(rec);
	free(set);
	return rc < 0 ? rc : queued;
}
