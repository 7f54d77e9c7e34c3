/* SPDX-License-Identifier: Apache-2.0 */
/* Client connections (see session.h and proto/PROTOCOL.md). Everything here runs on the
 * event loop thread; the vault is only written through writer jobs. */
#include "session.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "audit.h"
#include "entry.pb-c.h"
#include "entry_key.h"
#include "evident_version.h"
#include "incident.h"
#include "log.h"
#include "retry.h"

#define E(x)    EVIDENT__V1__ERROR__CODE__##x
#define KEY_MAX (DISPATCH_ID_MAX + DISPATCH_VERSION_MAX + 2)

static void update_reading(struct session *s);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void limits_arm(struct daemon *d);
static void resume_queue_waiters(struct daemon *d);

#define NODE_OF(n, type, field) ((type *)(void *)((char *)(n)-offsetof(type, field)))

/* ------------------------------------------------------------------ time-ordered lists */

static void tlist_remove(struct tnode *n)
{
	struct tlist *l = n->list;

	if (!l)
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
	n->list = NULL;
}

/* (Re)appends n to l stamped with the loop's time; arms the limits timer when l was empty
 * (the only change that can bring the earliest deadline forward). */
static void tlist_append(struct daemon *d, struct tlist *l, struct tnode *n)
{
	bool was_empty;

	tlist_remove(n);
	was_empty = !l->head;
	n->since = uv_now(d->loop);
	n->list = l;
	n->next = NULL;
	n->prev = l->tail;
	if (l->tail)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
	if (was_empty)
		limits_arm(d);
}

/* ------------------------------------------------------------------ connections per uid */

/* Counts s against its peer's uid (peers without credentials share uid -1). Returns the
 * uid's connections, s included, or 0 when out of memory. */
static uint32_t uid_count_add(struct session *s)
{
	struct daemon *d = s->d;
	uid_t uid = s->peer.known ? (uid_t)s->peer.uid : (uid_t)-1;
	size_t i = 0;

	while (i < d->n_uids && d->uids[i].uid != uid)
		i++;
	if (i == d->n_uids) {
		if (d->n_uids == d->cap_uids) {
			size_t cap = d->cap_uids ? d->cap_uids * 2 : 8;
			struct uid_count *nu = realloc(d->uids, cap * sizeof(*nu));
			if (!nu)
				return 0;
			d->uids = nu;
			d->cap_uids = cap;
		}
		d->uids[d->n_uids++] = (struct uid_count){.uid = uid, .n = 0};
	}
	s->uid_counted = true;
	return ++d->uids[i].n;
}

static void uid_count_drop(struct session *s)
{
	struct daemon *d = s->d;
	uid_t uid = s->peer.known ? (uid_t)s->peer.uid : (uid_t)-1;

	if (!s->uid_counted)
		return;
	s->uid_counted = false;
	for (size_t i = 0; i < d->n_uids; i++)
		if (d->uids[i].uid == uid) {
			if (--d->uids[i].n == 0) /* keep the table as short as the uids connected */
				d->uids[i] = d->uids[--d->n_uids];
			return;
		}
}

/* ------------------------------------------------------------------ lifetime */

static void session_free(struct session *s)
{
	frame_reader_deinit(&s->reader);
	free(s->out);
	free(s);
}

void session_ref(struct session *s)
{
	s->refs++;
}

void session_unref(struct session *s)
{
	if (--s->refs == 0)
		session_free(s);
}

static void list_remove(struct session **head, struct session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else if (*head == s)
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void list_push(struct session **head, struct session *s)
{
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
}

static void on_close(uv_handle_t *h)
{
	struct session *s = h->data;

	struct daemon *d = s->d;

	list_remove(&d->closing, s);
	frame_reader_deinit(&s->reader); /* no more reads: its memory goes now, not with s */
	session_unref(s);
	daemon_session_closed(d);
}

static void registration_abort(struct registration *reg);

static void begin_close(struct session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	if (s->reading)
		uv_read_stop((uv_stream_t *)&s->pipe);
	s->reading = false;
	if (s->reg)
		registration_abort(s->reg);
	list_remove(&s->d->sessions, s);
	s->d->n_sessions--;
	list_push(&s->d->closing, s);
	tlist_remove(&s->conn_node);
	tlist_remove(&s->frame_node);
	tlist_remove(&s->queue_node);
	uid_count_drop(s);
	if (s->buffered) {
		s->d->queued_bytes -= s->buffered;
		s->buffered = 0;
		resume_queue_waiters(s->d);
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct session *s = req->data;

	(void)status;
	free(req);
	/* the drain timer may have closed a connection whose peer never read */
	if (!uv_is_closing((uv_handle_t *)&s->pipe))
		uv_close((uv_handle_t *)&s->pipe, on_close);
}

void session_force_close(struct session *s)
{
	if (!uv_is_closing((uv_handle_t *)&s->pipe))
		uv_close((uv_handle_t *)&s->pipe, on_close);
}

void session_close(struct session *s)
{
	uv_shutdown_t *req;

	if (s->closing)
		return;
	session_flush(s);
	begin_close(s);
	/* shutdown waits for queued writes, so the last replies reach the client */
	req = malloc(sizeof(*req));
	if (req) {
		req->data = s;
		if (uv_shutdown(req, (uv_stream_t *)&s->pipe, on_shutdown) == 0)
			return;
		free(req);
	}
	uv_close((uv_handle_t *)&s->pipe, on_close);
}

/* The peer is gone: nothing more can be written. */
static void close_now(struct session *s)
{
	if (s->closing)
		return;
	begin_close(s);
	uv_close((uv_handle_t *)&s->pipe, on_close);
}

/* ------------------------------------------------------------------ output */

struct wreq {
	uv_write_t req;
	struct session *s;
	uint8_t *buf;
	size_t len;
};

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct session *s = w->s;

	s->output_pending -= w->len;
	free(w->buf);
	free(w);
	if (status < 0 && status != UV_ECANCELED && !s->closing) {
		log_debug("session %llu (%s): write failed: %s, closing", (unsigned long long)s->id,
		          s->client_name, uv_strerror(status));
		close_now(s);
	} else if (!s->closing) {
		update_reading(s);
	}
	session_unref(s);
}

void session_flush(struct session *s)
{
	struct wreq *w;
	uv_buf_t b;

	if (s->out_len == 0 || s->closing)
		return;
	if (s->hello_done) /* replies are activity too: never idle right after one */
		tlist_append(s->d, &s->d->idle, &s->conn_node);
	w = malloc(sizeof(*w));
	if (!w)
		return; /* keep the replies; the next flush tries again */
	w->s = s;
	w->buf = s->out;
	w->len = s->out_len;
	s->out = NULL;
	s->out_len = s->out_cap = 0;
	b = uv_buf_init((char *)w->buf, (unsigned)w->len);
	if (uv_write(&w->req, (uv_stream_t *)&s->pipe, &b, 1, on_write) < 0) {
		free(w->buf);
		free(w);
		close_now(s);
		return;
	}
	s->output_pending += w->len;
	s->refs++;
}

/* Marks s as having replies; the daemon flushes dirty sessions once per wake-up. */
static void mark_dirty(struct session *s)
{
	if (s->dirty || s->closing)
		return;
	s->dirty = true;
	s->refs++;
	s->dirty_next = s->d->dirty;
	s->d->dirty = s;
}

void daemon_flush_dirty(struct daemon *d)
{
	struct session *s = d->dirty;

	d->dirty = NULL;
	while (s) {
		struct session *next = s->dirty_next;
		s->dirty = false;
		session_flush(s);
		if (!s->closing)
			update_reading(s);
		session_unref(s);
		s = next;
	}
}

static void reply_error(struct session *s, dispatch_code code, const char *msg, const char *rid)
{
	if (dispatch_reply_error(&s->out, &s->out_len, &s->out_cap, code, msg, rid) == 0)
		mark_dirty(s);
}

static void reply_ack(struct session *s, const char *rid, const struct vault_append_result *r)
{
	if (dispatch_reply_ack(&s->out, &s->out_len, &s->out_cap, rid, r->seq, r->leaf_hash,
	                       r->duplicate) == 0)
		mark_dirty(s);
}

static void reply_frame(struct session *s, const Evident__V1__Frame *f)
{
	if (dispatch_reply_frame(&s->out, &s->out_len, &s->out_cap, f) == 0)
		mark_dirty(s);
}

void session_send_verdict(struct session *s, const Evident__V1__Verdict *v)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;

	if (s->closing)
		return;
	f.body_case = EVIDENT__V1__FRAME__BODY_VERDICT;
	f.verdict = (Evident__V1__Verdict *)v;
	reply_frame(s, &f);
}

/* Replies and closes: framing errors leave the stream unusable. */
static void close_with_error(struct session *s, int level, dispatch_code code, const char *msg)
{
	log_printf(level, "session %llu (%s, uid %u): %s: %s, closing", (unsigned long long)s->id,
	           s->client_name[0] ? s->client_name : "before Hello", s->peer.uid,
	           dispatch_code_name(code), msg);
	reply_error(s, code, msg, NULL);
	session_close(s);
}

static void fail_and_close(struct session *s, dispatch_code code, const char *msg)
{
	close_with_error(s, LOG_INFO, code, msg);
}

/* ------------------------------------------------------------------ flow control */

/* Reading stops for the connection's own backlog (max_unacked, unread replies) and, while
 * max_queue is exceeded, for a connection in the middle of a frame: its next bytes would
 * only grow the partial frames held. */
static void update_reading(struct session *s)
{
	struct daemon *d = s->d;
	bool own = !s->closing && !d->draining && s->unacked_bytes <= d->cfg.max_unacked &&
	           s->output_pending <= SESSION_OUTPUT_MAX;
	bool mid_frame = frame_reader_pending(&s->reader) > 0;
	bool over = own && mid_frame && d->queued_bytes > d->cfg.max_queue;
	bool want = own && !over;

	if (!s->closing) {
		if (over && !s->queue_node.list)
			tlist_append(d, &d->queue_wait, &s->queue_node);
		else if (!over)
			tlist_remove(&s->queue_node);
		/* a frame's clock stops while the daemon holds the connection back for its own
		 * backlog, and starts again when reading resumes; max_queue does not stop it */
		if (!own)
			tlist_remove(&s->frame_node);
		else if (mid_frame && !s->frame_node.list)
			tlist_append(d, &d->partial, &s->frame_node);
	}
	if (want == s->reading)
		return;
	if (want) {
		if (uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read) == 0)
			s->reading = true;
	} else {
		uv_read_stop((uv_stream_t *)&s->pipe);
		s->reading = false;
	}
}

void session_stop_reading(struct session *s)
{
	update_reading(s);
}

/* Accounts a job's bytes against the connection and the daemon. */
static void charge(struct session *s, struct job *j)
{
	s->refs++;
	s->unacked_bytes += j->cost;
	s->d->queued_bytes += j->cost;
}

static void discharge(struct session *s, struct job *j)
{
	s->unacked_bytes -= j->cost;
	s->d->queued_bytes -= j->cost;
	resume_queue_waiters(s->d);
}

/* Connections held back for max_queue read again once it has room. */
static void resume_queue_waiters(struct daemon *d)
{
	while (d->queue_wait.head && d->queued_bytes <= d->cfg.max_queue) {
		struct session *s = NODE_OF(d->queue_wait.head, struct session, queue_node);
		tlist_remove(&s->queue_node);
		update_reading(s);
	}
}

/* The frame reader's memory counts toward max_queue (d->queued_bytes): after every read it
 * gives back what it no longer needs and the difference is accounted. */
static void charge_buffer(struct session *s)
{
	struct daemon *d = s->d;
	uint64_t cap;

	frame_reader_shrink(&s->reader);
	cap = s->reader.cap;
	d->queued_bytes = d->queued_bytes - s->buffered + cap;
	if (cap < s->buffered) {
		s->buffered = cap;
		resume_queue_waiters(d);
	}
	s->buffered = cap;
}

/* ------------------------------------------------------------------ records and reviews */

struct entry_job {
	struct job job;
	uint8_t *payload;
	int type;
	struct fired *fired;     /* trigger firings, written once the record's seq is known */
	struct model_info *mi;   /* records: the model version */
	long res_slot;           /* records: reservoir slot taken (-1: none) */
	double *res_x;           /* ... and the features to put there */
	struct verdict_wait *vw; /* records: a verdict is wanted */
	char request_id[];       /* the dedup key is (session's client name, request_id) */
};

static void entry_job_free(struct entry_job *ej)
{
	free(ej->payload);
	free(ej->res_x);
	fired_free(ej->fired);
	free(ej);
}

struct incident_job {
	struct job job;
	struct daemon *d;
	uint8_t **payloads;
	bool *open;
	const struct model_info *mi;
	struct verdict_wait *vw; /* the record's verdict comes from its first OPEN incident */
};

static void answer_now(struct verdict_wait *vw, int action, const char *why)
{
	verdict_answer(vw, action, NAN, 0, &why, 1);
}

static void incident_done(struct job *j)
{
	struct incident_job *ij = (struct incident_job *)j;
	struct daemon *d = ij->d;
	struct verdict_wait *vw = ij->vw;

	if (j->rc < 0) {
		d->stats.incidents_lost += j->n;
		log_error("recording %zu incident(s) failed: %s", j->n, strerror(-j->rc));
		if (vw)
			answer_now(vw, EVIDENT__V1__VERDICT__ACTION__PENDING,
			           "the incident could not be recorded: no audit");
	} else {
		for (size_t i = 0; i < j->n; i++) {
			if (!ij->open[i])
				continue;
			workers_submit(&d->workers, ij->mi, j->res[i].seq, ij->payloads[i],
			               j->in[i].payload_len, vw);
			vw = NULL;
		}
		if (vw)
			answer_now(vw, EVIDENT__V1__VERDICT__ACTION__PENDING,
			           "the trigger fired over its rate limit: not audited");
	}
	for (size_t i = 0; i < j->n; i++)
		free(ij->payloads[i]);
	free(ij->payloads);
	free(ij->open);
	free(j->in);
	free(j->res);
	free(ij);
}

/* The record is durable at seq: its firings become incident entries (one commit). */
static void submit_incidents(struct daemon *d, struct fired *f, uint64_t seq,
                             const struct model_info *mi, struct verdict_wait *vw)
{
	size_t n = 0;
	for (struct fired *x = f; x; x = x->next)
		n++;
	struct incident_job *ij = calloc(1, sizeof(*ij));
	if (ij) {
		ij->payloads = calloc(n, sizeof(uint8_t *));
		ij->open = calloc(n, sizeof(bool));
		ij->job.in = calloc(n, sizeof(struct vault_entry_in));
		ij->job.res = calloc(n, sizeof(struct vault_append_result));
	}
	if (!ij || !ij->payloads || !ij->open || !ij->job.in || !ij->job.res) {
		d->stats.incidents_lost += n;
		log_error("recording %zu incident(s) for record %llu: out of memory", n,
		          (unsigned long long)seq);
		if (ij) {
			free(ij->payloads);
			free(ij->open);
			free(ij->job.in);
			free(ij->job.res);
			free(ij);
		}
		if (vw)
			answer_now(vw, EVIDENT__V1__VERDICT__ACTION__PENDING,
			           "out of memory recording the incident");
		return;
	}
	ij->d = d;
	ij->mi = mi;
	ij->vw = vw;
	for (struct fired *x = f; x; x = x->next) {
		size_t len;
		uint8_t *p = fired_payload(x, seq, &len);
		ij->open[ij->job.n] = x->open;
		ij->payloads[ij->job.n] = p;
		ij->job.in[ij->job.n++] = (struct vault_entry_in){
		    .type = VAULT_ENTRY_INCIDENT, .payload = p, .payload_len = len};
	}
	ij->job.done = incident_done;
	writer_submit(&d->writer, &ij->job);
}

static dispatch_code write_error_code(int rc)
{
	return rc == -ENOSPC ? E(VAULT_FULL) : E(INTERNAL);
}

/* The vault answered "stored before": acknowledge only a true retry of the entry it names
 * (retry.h). Otherwise answers the error itself and returns false. */
static bool retry_confirmed(struct session *s, struct entry_job *ej)
{
	struct job *j = &ej->job;
	char why[400];
	int rv = retry_check(s->d->vault, ej->type, j->res1.seq, ej->payload, j->in1.payload_len,
	                     s->client_name, ej->request_id, why, sizeof(why));

	if (rv == RETRY_SAME)
		return true;
	if (rv < 0) {
		snprintf(why, sizeof(why),
		         "not acknowledged: reading the stored entry %" PRIu64 ": %s", j->res1.seq,
		         strerror(-rv));
		log_error("retry %s of %s: %s", ej->request_id, s->client_name, why);
	} else {
		retry_notice(s->d, rv, j->res1.seq, s->client_name, ej->request_id, ej->type,
		             ej->payload, j->in1.payload_len, why);
		if (rv == RETRY_MISMATCH)
			log_error("retry %s of %s not acknowledged: %s (run evidentctl verify)",
			          ej->request_id, s->client_name, why);
		else
			log_warning("client %s: %s", s->client_name, why);
	}
	s->d->stats.refused++;
	if (!s->closing)
		reply_error(s, rv == RETRY_CONFLICT ? E(CONFLICT) : E(INTERNAL), why,
		            ej->request_id);
	return false;
}

static void entry_done(struct job *j)
{
	struct entry_job *ej = (struct entry_job *)j;
	struct session *s = j->owner;
	struct daemon *d = s->d;

	discharge(s, j);
	if (j->rc == 0 && j->res1.duplicate && !retry_confirmed(s, ej)) {
		if (ej->vw)
			verdict_wait_drop(ej->vw);
	} else if (j->rc == 0) {
		if (!s->closing)
			reply_ack(s, ej->request_id, &j->res1);
		if (j->res1.duplicate)
			d->stats.duplicates++;
		else if (ej->res_x)
			workers_reservoir_fill(ej->mi, ej->res_slot, ej->res_x, j->res1.seq);
		struct verdict_wait *vw = ej->vw;
		if (vw && !verdict_wait_durable(vw, j->res1.seq))
			vw = NULL; /* answered PENDING at its deadline already */
		if (j->res1.duplicate) {
			if (vw)
				answer_now(
				    vw, EVIDENT__V1__VERDICT__ACTION__PENDING,
				    "a retry of a stored record: its verdict went to the first "
				    "delivery (see the vault's verdict entries)");
		} else if (ej->fired) {
			submit_incidents(d, ej->fired, j->res1.seq, ej->mi, vw);
		} else if (vw) {
			answer_now(vw, EVIDENT__V1__VERDICT__ACTION__PROCEED,
			           "no trigger rule fired");
		}
	} else {
		char msg[160];
		if (ej->vw)
			verdict_wait_drop(ej->vw);
		if (j->rc == -ENOSPC)
			d->stats.vault_full++;
		snprintf(msg, sizeof(msg), "not stored: %s",
		         j->rc == -ENOSPC ? "the vault is full (disk or map); retry later"
		                          : strerror(-j->rc));
		if (j->rc != -ENOSPC)
			log_error("writing %s %s of %s failed: %s", vault_entry_type_name(ej->type),
			          ej->request_id, s->client_name, strerror(-j->rc));
		if (!s->closing)
			reply_error(s, write_error_code(j->rc), msg, ej->request_id);
	}
	entry_job_free(ej);
	session_unref(s);
}

/* What a record carries beside its entry until it is durable. */
struct record_extras {
	struct model_info *mi;
	long res_slot;
	double *res_x;           /* taken */
	struct verdict_wait *vw; /* taken */
};

/* Queues one entry with the (client, request id) dedup key. Takes payload, fired and the
 * extras' buffer (x may be NULL). */
static void submit_entry(struct session *s, int type, uint8_t *payload, size_t len,
                         const char *request_id, struct fired *fired, const struct record_extras *x)
{
	size_t rlen = strlen(request_id);
	struct entry_job *ej = malloc(sizeof(*ej) + rlen + 1);

	if (!ej) {
		free(payload);
		fired_free(fired);
		if (x) {
			free(x->res_x);
			if (x->vw)
				verdict_wait_drop(x->vw);
		}
		reply_error(s, E(INTERNAL), "out of memory", request_id);
		return;
	}
	memset(ej, 0, sizeof(*ej));
	ej->fired = fired;
	ej->res_slot = -1;
	if (x) {
		ej->mi = x->mi;
		ej->res_slot = x->res_slot;
		ej->res_x = x->res_x;
		ej->vw = x->vw;
	}
	memcpy(ej->request_id, request_id, rlen + 1);
	ej->payload = payload;
	ej->type = type;
	ej->job.n = 1;
	ej->job.in = &ej->job.in1;
	ej->job.res = &ej->job.res1;
	ej->job.in1 = (struct vault_entry_in){.type = (uint16_t)type,
	                                      .payload = payload,
	                                      .payload_len = len,
	                                      .dedup_client = s->client_name, /* outlives ej */
	                                      .dedup_request = ej->request_id};
	ej->job.done = entry_done;
	ej->job.owner = s;
	ej->job.cost = len;
	charge(s, &ej->job);
	writer_submit(&s->d->writer, &ej->job);
}

static void handle_record(struct session *s, const uint8_t *body, size_t len,
                          const Evident__V1__Record *rec)
{
	struct daemon *d = s->d;
	const struct model_info *mi;
	char err[256];
	uint8_t *payload;
	size_t plen;
	dispatch_code code;

	if (d->queued_bytes > d->cfg.max_queue) {
		d->stats.overloaded++;
		reply_error(s, E(OVERLOADED), "the daemon's queue is full; retry later",
		            rec->request_id);
		return;
	}
	code = dispatch_check_record(rec, &d->models, &mi, err, sizeof(err));
	if (code) {
		d->stats.refused++;
		log_debug("session %llu (%s): record %s refused: %s", (unsigned long long)s->id,
		          s->client_name, rec->request_id ? rec->request_id : "", err);
		reply_error(s, code, err, rec->request_id);
		return;
	}
	if (dispatch_record_payload(body, len, rec, s->client_name, &s->peer, daemon_now_ns(),
	                            &payload, &plen) < 0) {
		reply_error(s, E(INTERNAL), "out of memory", rec->request_id);
		return;
	}
	d->stats.records++;
	struct model_info *m = (struct model_info *)mi; /* its reservoir changes */
	long slot = workers_reservoir_pick(m);
	double *res_x = NULL;
	if (slot >= 0 && (res_x = malloc((rec->n_features ? rec->n_features : 1) * sizeof(double))))
		memcpy(res_x, rec->features, rec->n_features * sizeof(double));
	struct fired *fired = NULL;
	if (d->n_triggers) {
		fired = triggers_evaluate(d->triggers, d->n_triggers, mi, rec, s->client_name,
		                          daemon_now_ns(), &d->stats.incidents_lost);
		for (struct fired *f = fired; f; f = f->next)
			d->stats.incidents++;
	}
	struct record_extras x = {
	    .mi = m,
	    .res_slot = res_x ? slot : -1,
	    .res_x = res_x,
	    .vw = rec->verdict_deadline_ms
	              ? verdict_wait_new(&d->workers, s, rec->request_id,
	                                 daemon_now_ns() +
	                                     (int64_t)rec->verdict_deadline_ms * 1000000)
	              : NULL};
	submit_entry(s, VAULT_ENTRY_RECORD, payload, plen, rec->request_id, fired, &x);
}

static void handle_review(struct session *s, const Evident__V1__Review *rv)
{
	char rid[64];
	const char *request_id = rv->request_id;
	uint8_t *payload;
	size_t plen;

	if (!rv->has_incident_id || !rv->reviewer || !*rv->reviewer || !rv->outcome ||
	    !*rv->outcome || strlen(rv->reviewer) > 128 || strlen(rv->outcome) > 64 ||
	    (rv->note && strlen(rv->note) > 16384) ||
	    (request_id && strlen(request_id) > DISPATCH_REQUEST_MAX)) {
		reply_error(s, E(BAD_MESSAGE),
		            "review needs incident_id, reviewer (<= 128 bytes) and outcome (<= 64 "
		            "bytes); note <= 16 KiB",
		            request_id);
		return;
	}
	request_id = entry_review_request_id(rv, rid);
	if (dispatch_review_payload(rv, s->client_name, daemon_now_ns(), &payload, &plen) < 0) {
		reply_error(s, E(INTERNAL), "out of memory", request_id);
		return;
	}
	s->d->stats.reviews++;
	submit_entry(s, VAULT_ENTRY_REVIEW, payload, plen, request_id, NULL, NULL);
}

/* ------------------------------------------------------------------ model registration */

enum { ART_MODEL = 0, ART_REFERENCE = 1 };

struct registration {
	struct registration *next; /* daemon's list of registrations in progress */
	struct daemon *d;
	struct session *s;                    /* NULL once aborted */
	Evident__V1__ModelManifest *manifest; /* owned (default allocator) */
	uint8_t digest[VAULT_HASH_LEN];
	char key[KEY_MAX];
	int current;                  /* ART_MODEL or ART_REFERENCE being received */
	bool requested;               /* an ArtifactRequest for current went out */
	bool done[2];                 /* stored (or already present) */
	uint64_t received;            /* bytes of current queued to the writer */
	bool sent_last;               /* current's last chunk queued */
	struct vault_blob_writer *bw; /* owned by the writer thread */
	unsigned jobs;                /* in flight */
	bool aborted;
	struct tnode node; /* in d->reg_wait until done or dropped (registration_timeout) */
	struct registration *check_next; /* in d->verifying: waiting for its artifact check */
};

/* The registration made progress: its registration_timeout starts again. */
static void reg_touch(struct registration *reg)
{
	if (reg->node.list)
		tlist_append(reg->d, &reg->d->reg_wait, &reg->node);
}

static bool want_reference(const struct registration *reg)
{
	return reg->manifest->reference_data_sha256 && *reg->manifest->reference_data_sha256;
}

static const char *art_hash_hex(const struct registration *reg, int which)
{
	return which == ART_MODEL ? reg->manifest->artifact_sha256
	                          : reg->manifest->reference_data_sha256;
}

static uint64_t art_size(const struct registration *reg, int which)
{
	return which == ART_MODEL ? reg->manifest->artifact_size
	                          : reg->manifest->reference_data_size;
}

static void registration_free(struct registration *reg)
{
	if (reg->manifest)
		evident__v1__model_manifest__free_unpacked(reg->manifest, NULL);
	free(reg);
}

static void registration_unlink(struct registration *reg)
{
	struct registration **p = &reg->d->registrations;

	while (*p && *p != reg)
		p = &(*p)->next;
	if (*p)
		*p = reg->next;
	if (reg->s && reg->s->reg == reg)
		reg->s->reg = NULL;
	reg->s = NULL;
	tlist_remove(&reg->node);
}

static void run_blob_abort(struct job *j, struct vault *v)
{
	struct registration *reg = j->data;
	(void)v;
	vault_blob_abort(reg->bw);
	reg->bw = NULL;
	j->rc = 0;
}

static void reg_job_done_common(struct registration *reg)
{
	reg->jobs--;
	if (reg->aborted && reg->jobs == 0)
		registration_free(reg);
}

static void abort_done(struct job *j)
{
	struct registration *reg = j->data;
	free(j);
	reg_job_done_common(reg);
}

/* Drops the registration; blob data staged so far is dropped by the writer. */
static void registration_abort(struct registration *reg)
{
	if (reg->aborted)
		return;
	reg->aborted = true;
	registration_unlink(reg);
	struct job *j = calloc(1, sizeof(*j));
	if (j) {
		j->run = run_blob_abort;
		j->done = abort_done;
		j->data = reg;
		reg->jobs++;
		writer_submit(&reg->d->writer, j);
	} else if (reg->jobs == 0) {
		/* cannot reach the writer: the staged chunks go at the next start */
		registration_free(reg);
	}
}

static void registration_fail(struct registration *reg, dispatch_code code, const char *msg)
{
	struct session *s = reg->s;

	log_info("registration of %s by %s failed: %s", reg->key, s ? s->client_name : "?", msg);
	if (s && !s->closing)
		reply_error(s, code, msg, reg->key);
	registration_abort(reg);
}

static void send_artifact_request(struct registration *reg)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__ArtifactRequest ar = EVIDENT__V1__ARTIFACT_REQUEST__INIT;

	ar.model_id = reg->manifest->model_id;
	ar.version = reg->manifest->version;
	ar.has_kind = ar.has_offset = true;
	ar.kind = reg->current == ART_MODEL ? EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL
	                                    : EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA;
	ar.offset = reg->received;
	f.body_case = EVIDENT__V1__FRAME__BODY_ARTIFACT_REQUEST;
	f.artifact_request = &ar;
	reply_frame(reg->s, &f);
	reg->requested = true;
}

static bool blob_present(struct daemon *d, const char *hex)
{
	struct vault_reader *r;
	uint8_t h[32];
	uint64_t size;
	bool present = false;

	if (vault_unhex(hex, 64, h) < 0 || vault_reader_begin(d->vault, &r) < 0)
		return false;
	present = vault_blob_stat(r, h, &size) == 0;
	vault_reader_end(r);
	return present;
}

struct commit_job {
	struct job job;
	struct vault_entry_in in[3];
	struct vault_append_result res[3];
	uint8_t *payloads[3];
	char dedup_request[KEY_MAX];
	struct registration *reg;
};

static void commit_done(struct job *j)
{
	struct commit_job *cj = (struct commit_job *)j;
	struct registration *reg = cj->reg;
	struct daemon *d = reg->d;
	struct session *s = reg->s; /* NULL when the connection went away meanwhile */
	const struct vault_append_result *mr = &cj->res[j->n - 1];

	for (size_t i = 0; i < j->n; i++)
		free(cj->payloads[i]);
	if (j->rc == 0 && !reg->aborted) {
		Evident__V1__ModelManifest *mf = reg->manifest;
		reg->manifest = NULL;
		int rc = registry_add(&d->models, mf, mr->seq, mr->leaf_hash, reg->digest);
		if (rc < 0 && rc != -EEXIST)
			log_error("registry: cannot add %s: %s", reg->key, strerror(-rc));
		log_info("model %s registered by %s (entry %llu)", reg->key,
		         s ? s->client_name : "?", (unsigned long long)mr->seq);
		d->stats.registrations++;
		if (s && !s->closing)
			reply_ack(s, reg->key, mr);
		registration_unlink(reg);
		reg->aborted = true; /* done: freed below */
	} else if (j->rc < 0 && !reg->aborted) {
		registration_fail(reg, write_error_code(j->rc),
		                  j->rc == -ENOSPC ? "the vault is full; retry later"
		                                   : "could not store the registration");
	}
	session_unref(j->owner);
	free(cj);
	reg_job_done_common(reg);
}

static int artifact_payload(const struct registration *reg, int which, uint8_t **ret,
                            size_t *ret_len)
{
	Evident__Entry__V1__ArtifactEntry ae = EVIDENT__ENTRY__V1__ARTIFACT_ENTRY__INIT;
	uint8_t hash[32];

	if (vault_unhex(art_hash_hex(reg, which), 64, hash) < 0)
		return -EINVAL;
	ae.model_id = reg->manifest->model_id;
	ae.version = reg->manifest->version;
	ae.has_kind = ae.has_sha256 = ae.has_size = true;
	ae.kind = which == ART_MODEL ? EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL
	                             : EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA;
	ae.sha256.data = hash;
	ae.sha256.len = 32;
	ae.size = art_size(reg, which);
	return dispatch_pack(&ae.base, ret, ret_len);
}

/* Artifacts are stored: append the artifact entries and the model entry in one commit. */
static void registration_commit(struct registration *reg)
{
	struct session *s = reg->s;
	struct commit_job *cj = calloc(1, sizeof(*cj));
	Evident__Entry__V1__ModelEntry me = EVIDENT__ENTRY__V1__MODEL_ENTRY__INIT;
	size_t n = 0, len;

	if (!cj) {
		registration_fail(reg, E(INTERNAL), "out of memory");
		return;
	}
	cj->reg = reg;
	for (int which = ART_MODEL; which <= ART_REFERENCE; which++) {
		if (which == ART_REFERENCE && !want_reference(reg))
			break;
		if (artifact_payload(reg, which, &cj->payloads[n], &len) < 0)
			goto oom;
		cj->in[n] = (struct vault_entry_in){
		    .type = VAULT_ENTRY_ARTIFACT, .payload = cj->payloads[n], .payload_len = len};
		n++;
	}
	me.client_name = s->client_name;
	me.manifest = reg->manifest; /* canonical order: sorted when the digest was made */
	if (dispatch_pack(&me.base, &cj->payloads[n], &len) < 0)
		goto oom;
	/* A registration is recorded once even if two daemons' worth of retries race. */
	snprintf(cj->dedup_request, sizeof(cj->dedup_request), "%s", reg->key);
	cj->in[n] = (struct vault_entry_in){.type = VAULT_ENTRY_MODEL,
	                                    .payload = cj->payloads[n],
	                                    .payload_len = len,
	                                    .dedup_client = "@models",
	                                    .dedup_request = cj->dedup_request};
	n++;
	cj->job.n = n;
	cj->job.in = cj->in;
	cj->job.res = cj->res;
	cj->job.done = commit_done;
	cj->job.owner = s;
	reg->jobs++;
	s->refs++;
	writer_submit(&reg->d->writer, &cj->job);
	return;
oom:
	for (size_t i = 0; i < 3; i++)
		free(cj->payloads[i]);
	free(cj);
	registration_fail(reg, E(INTERNAL), "out of memory");
}

/* ------------------------------------------------------------------ the artifacts load */

/* Every artifact is stored: before the registration is acknowledged, the version is loaded
 * the way its audits will load it (workers_load_model: the framework's loader, feature count
 * and names against the manifest, the reference data's columns; for framework "oracle" the
 * configured oracle started once). A load holds the whole artifact in memory and may take
 * seconds: it runs on libuv's thread pool, one registration at a time. */
struct check_work {
	uv_work_t req;
	struct registration *reg;
	struct vault *vault;
	char *oracle; /* the [model ID] oracle command when the check started, or NULL */
	struct audit_oracle oc;
	int rc;
	enum workers_load_fault fault;
	char err[AUDIT_ERR_MAX];
};

static void run_check(uv_work_t *req)
{
	struct check_work *cw = req->data;
	struct audit_model *am;
	double *rows;
	size_t n;

	cw->rc = workers_load_model(cw->vault, cw->reg->manifest, cw->oracle ? &cw->oc : NULL, &am,
	                            &rows, &n, &cw->fault, cw->err, sizeof(cw->err));
	audit_model_free(am); /* an oracle's processes end here */
	free(rows);
}

static void check_next(struct daemon *d);

static void check_done(uv_work_t *req, int status)
{
	struct check_work *cw = req->data;
	struct registration *reg = cw->reg;
	struct daemon *d = reg->d;
	char msg[2 * AUDIT_ERR_MAX + KEY_MAX];

	d->verify_busy = false;
	if (reg->aborted) {
		/* the connection went away meanwhile */
	} else if (status < 0) {
		registration_fail(reg, E(INTERNAL), "checking the artifact was cancelled; retry");
	} else if (d->final_submitted) {
		registration_fail(reg, E(OVERLOADED),
		                  "the daemon is stopping; register again once it is back");
	} else if (cw->rc < 0 && cw->fault == WORKERS_LOAD_ARTIFACT) {
		snprintf(msg, sizeof(msg), "%s does not load (framework %s): %s", reg->key,
		         reg->manifest->framework, cw->err);
		registration_fail(reg, E(SCHEMA_MISMATCH), msg);
	} else if (cw->rc < 0 && cw->fault != WORKERS_LOAD_UNSUPPORTED) {
		snprintf(msg, sizeof(msg),
		         "the artifact of %s could not be checked: %s; retry later", reg->key,
		         cw->err);
		registration_fail(reg, E(INTERNAL), msg);
	} else {
		if (cw->rc < 0) /* valid, but not something the daemon's audits can evaluate */
			log_warning("model %s: registered, but its audits will fail: %s", reg->key,
			            cw->err);
		registration_commit(reg);
	}
	free(cw->oracle);
	free(cw);
	reg_job_done_common(reg);
	check_next(d);
	daemon_flush_dirty(d);
}

/* Starts the next check in d->verifying when none runs. */
static void check_next(struct daemon *d)
{
	while (!d->verify_busy && d->verifying) {
		struct registration *reg = d->verifying;
		const Evident__V1__ModelManifest *mf = reg->manifest;
		d->verifying = reg->check_next;
		if (reg->aborted) {
			reg_job_done_common(reg);
			continue;
		}
		const struct config_model *cm =
		    config_model_find(&d->cfg, mf->model_id, mf->version);
		struct check_work *cw = calloc(1, sizeof(*cw));
		if (cw && cm && cm->oracle && !(cw->oracle = strdup(cm->oracle))) {
			free(cw);
			cw = NULL;
		}
		if (cw) {
			cw->req.data = cw;
			cw->reg = reg;
			cw->vault = d->vault;
			if (cm) /* one process: the check starts the oracle once */
				cw->oc =
				    (struct audit_oracle){.command = cw->oracle,
				                          .procs = 1,
				                          .timeout_ms = cm->oracle_timeout_ms,
				                          .background_size = cm->background_size};
			if (uv_queue_work(d->loop, &cw->req, run_check, check_done) == 0) {
				d->verify_busy = true;
				return;
			}
			free(cw->oracle);
			free(cw);
		}
		registration_fail(reg, E(INTERNAL), "out of memory checking the artifact");
		reg_job_done_common(reg);
	}
}

/* Queues reg's check; it counts as a job in flight until check_done. */
static void registration_check(struct registration *reg)
{
	struct registration **p = &reg->d->verifying;

	reg->jobs++;
	reg->check_next = NULL;
	while (*p)
		p = &(*p)->check_next;
	*p = reg;
	check_next(reg->d);
}

/* Moves to the next artifact the vault lacks, or checks and commits when none is left. */
static void registration_advance(struct registration *reg)
{
	for (int which = ART_MODEL; which <= ART_REFERENCE; which++) {
		if (reg->done[which] || (which == ART_REFERENCE && !want_reference(reg)))
			continue;
		if (reg->current != which) {
			reg->current = which;
			reg->received = 0;
			reg->sent_last = false;
			reg->requested = false;
		}
		if (blob_present(reg->d, art_hash_hex(reg, which)) && reg->received == 0 &&
		    !reg->sent_last) {
			/* Stored by an earlier registration: no upload; chunks a client
			 * streams anyway are dropped. */
			reg->done[which] = true;
			snprintf(reg->s->swallow_key, sizeof(reg->s->swallow_key), "%s", reg->key);
			continue;
		}
		if (!reg->requested)
			send_artifact_request(reg);
		return;
	}
	registration_check(reg);
}

struct chunk_job {
	struct job job;
	struct registration *reg;
	uint8_t *data;
	size_t len;
	bool last;
	int which;
	uint8_t expect[32];
	uint64_t expect_size;
};

static void run_chunk(struct job *j, struct vault *v)
{
	struct chunk_job *cj = (struct chunk_job *)j;
	struct registration *reg = cj->reg;
	int rc = 0;

	if (!reg->bw)
		rc = vault_blob_begin(v, &reg->bw);
	if (rc == 0 && cj->len)
		rc = vault_blob_write(reg->bw, cj->data, cj->len);
	if (rc == 0 && cj->last) {
		rc = vault_blob_finish(reg->bw, cj->expect, cj->expect_size, NULL);
		reg->bw = NULL; /* finish frees it, whatever the outcome */
		if (rc > 0)
			rc = 0; /* already stored */
	}
	j->rc = rc;
}

static void chunk_done(struct job *j)
{
	struct chunk_job *cj = (struct chunk_job *)j;
	struct registration *reg = cj->reg;
	struct session *s = j->owner;

	discharge(s, j);
	free(cj->data);
	if (!reg->aborted) {
		if (j->rc < 0) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s artifact of %s not stored: %s",
			         cj->which == ART_MODEL ? "model" : "reference data", reg->key,
			         j->rc == -EBADMSG
			             ? "its SHA-256 or size does not match the manifest"
			         : j->rc == -ENOSPC ? "the vault is full; retry later"
			                            : strerror(-j->rc));
			registration_fail(
			    reg, j->rc == -EBADMSG ? E(SCHEMA_MISMATCH) : write_error_code(j->rc),
			    msg);
		} else if (cj->last) {
			reg->done[cj->which] = true;
			reg_touch(reg);
			registration_advance(reg);
		} else {
			reg_touch(reg);
		}
	}
	free(cj);
	reg_job_done_common(reg);
	session_unref(s);
}

static void handle_chunk(struct session *s, const Evident__V1__ArtifactChunk *c)
{
	struct registration *reg = s->reg;
	char key[KEY_MAX];
	int which;

	if (registry_key(c->model_id, c->version, key, sizeof(key)) < 0) {
		reply_error(s, E(BAD_MESSAGE), "artifact chunk: model id or version too long",
		            NULL);
		return;
	}
	if (s->swallow_key[0] && strcmp(key, s->swallow_key) == 0 &&
	    (!reg || strcmp(reg->key, key)))
		return; /* an upload the daemon did not need */
	if (!reg || strcmp(reg->key, key) != 0) {
		reply_error(s, E(BAD_MESSAGE),
		            "artifact chunk for a model with no registration in progress on this "
		            "connection (send RegisterModel first)",
		            key);
		return;
	}
	which = c->kind == EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA ? ART_REFERENCE
	        : c->kind == EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL        ? ART_MODEL
	                                                                     : -1;
	if (which < 0 || (which == ART_REFERENCE && !want_reference(reg))) {
		registration_fail(reg, E(BAD_MESSAGE),
		                  "artifact chunk kind must be MODEL, or REFERENCE_DATA when the "
		                  "manifest names reference data");
		return;
	}
	if (reg->done[which] && s->swallow_key[0] && !strcmp(s->swallow_key, key))
		return; /* already stored: dropped */
	if (which != reg->current || reg->sent_last || reg->done[which]) {
		registration_fail(reg, E(BAD_MESSAGE),
		                  which == ART_REFERENCE && !reg->done[ART_MODEL]
		                      ? "reference data sent before the model artifact finished"
		                      : "artifact chunk after its last chunk");
		return;
	}
	uint64_t off = c->has_offset ? c->offset : 0;
	size_t len = c->has_data ? c->data.len : 0;
	if (off != reg->received) {
		char msg[128];
		snprintf(msg, sizeof(msg), "artifact chunk at offset %llu, expected %llu",
		         (unsigned long long)off, (unsigned long long)reg->received);
		registration_fail(reg, E(BAD_MESSAGE), msg);
		return;
	}
	if (len > art_size(reg, which) - reg->received) {
		registration_fail(reg, E(SCHEMA_MISMATCH),
		                  "artifact is longer than the size in the manifest");
		return;
	}
	struct chunk_job *cj = calloc(1, sizeof(*cj));
	if (!cj || (len && !(cj->data = malloc(len)))) {
		free(cj);
		registration_fail(reg, E(INTERNAL), "out of memory");
		return;
	}
	if (len)
		memcpy(cj->data, c->data.data, len);
	cj->reg = reg;
	cj->len = len;
	cj->which = which;
	cj->last = c->has_last && c->last;
	if (cj->last) {
		vault_unhex(art_hash_hex(reg, which), 64, cj->expect);
		cj->expect_size = art_size(reg, which);
		reg->sent_last = true;
	}
	reg->received += len;
	reg_touch(reg);
	cj->job.run = run_chunk;
	cj->job.done = chunk_done;
	cj->job.owner = s;
	cj->job.cost = len;
	reg->jobs++;
	charge(s, &cj->job);
	writer_submit(&s->d->writer, &cj->job);
}

/* A private copy of a decoded manifest (the frame's memory goes with the frame). */
static Evident__V1__ModelManifest *manifest_copy(const Evident__V1__ModelManifest *m)
{
	uint8_t *bytes;
	size_t len;
	Evident__V1__ModelManifest *copy;

	if (dispatch_pack(&m->base, &bytes, &len) < 0)
		return NULL;
	copy = evident__v1__model_manifest__unpack(NULL, len, bytes);
	free(bytes);
	return copy;
}

static void handle_register(struct session *s, const Evident__V1__RegisterModel *rm)
{
	struct daemon *d = s->d;
	struct registration *reg;
	const struct model_info *mi;
	char err[256];
	dispatch_code code;

	if (!rm->manifest) {
		reply_error(s, E(BAD_MESSAGE), "RegisterModel without a manifest", NULL);
		return;
	}
	if (s->reg) {
		reply_error(s, E(BAD_MESSAGE),
		            "a registration is already in progress on this connection", NULL);
		return;
	}
	code = dispatch_check_manifest(rm->manifest, err, sizeof(err));
	if (code) {
		char key[KEY_MAX];
		registry_key(rm->manifest->model_id, rm->manifest->version, key, sizeof(key));
		reply_error(s, code, err, key);
		return;
	}
	reg = calloc(1, sizeof(*reg));
	if (!reg || !(reg->manifest = manifest_copy(rm->manifest)) ||
	    dispatch_manifest_canonical(reg->manifest, NULL, NULL, reg->digest) < 0) {
		if (reg)
			registration_free(reg);
		reply_error(s, E(INTERNAL), "out of memory", NULL);
		return;
	}
	reg->d = d;
	registry_key(reg->manifest->model_id, reg->manifest->version, reg->key, sizeof(reg->key));
	mi = registry_find(&d->models, reg->manifest->model_id, reg->manifest->version);
	if (mi) {
		if (memcmp(mi->digest, reg->digest, 32) == 0) {
			struct vault_append_result r = {.seq = mi->seq, .duplicate = true};
			memcpy(r.leaf_hash, mi->leaf_hash, 32);
			reply_ack(s, reg->key, &r);
			snprintf(s->swallow_key, sizeof(s->swallow_key), "%s", reg->key);
		} else {
			reply_error(s, E(CONFLICT),
			            "a different manifest is already registered under this "
			            "ID@VERSION (register a new version)",
			            reg->key);
		}
		registration_free(reg);
		return;
	}
	for (struct registration *o = d->registrations; o; o = o->next)
		if (strcmp(o->key, reg->key) == 0) {
			/* busy, not a conflict: the same manifest may well be on its way */
			reply_error(s, E(OVERLOADED),
			            "this ID@VERSION is being registered by another connection; "
			            "retry when it is done",
			            reg->key);
			registration_free(reg);
			return;
		}
	reg->s = s;
	reg->current = -1;
	reg->next = d->registrations;
	d->registrations = reg;
	s->reg = reg;
	s->swallow_key[0] = '\0';
	tlist_append(d, &d->reg_wait, &reg->node);
	registration_advance(reg);
}

/* ------------------------------------------------------------------ frames */

static void handle_hello(struct session *s, const Evident__V1__Hello *h)
{
	struct daemon *d = s->d;
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__HelloOk ok = EVIDENT__V1__HELLO_OK__INIT;
	char err[200];
	dispatch_code code = dispatch_check_hello(h, err, sizeof(err));

	if (code) {
		fail_and_close(s, code, err);
		return;
	}
	snprintf(s->client_name, sizeof(s->client_name), "%s", h->client_name);
	s->hello_done = true;
	s->reader.max = d->cfg.max_frame; /* past the Hello: frames up to max_frame */
	tlist_append(d, &d->idle, &s->conn_node);
	ok.has_protocol_version = ok.has_max_frame = ok.has_max_unacked = true;
	ok.max_unacked = d->cfg.max_unacked;
	ok.protocol_version = PROTOCOL_VERSION;
	ok.daemon_version = (char *)EVIDENT_VERSION;
	ok.vault_origin = d->origin;
	ok.max_frame = d->cfg.max_frame;
	f.body_case = EVIDENT__V1__FRAME__BODY_HELLO_OK;
	f.hello_ok = &ok;
	reply_frame(s, &f);
	log_debug("session %llu: hello from %s (uid %u, pid %u)", (unsigned long long)s->id,
	          s->client_name, s->peer.uid, s->peer.pid);
}

static void handle_frame(struct session *s, const uint8_t *body, size_t len)
{
	struct dispatch_msg m;
	char err[200];
	const Evident__V1__Frame *f;

	if (dispatch_decode(body, len, &s->d->decode_arena, &m, err, sizeof(err))) {
		if (!s->hello_done)
			fail_and_close(s, E(BAD_MESSAGE), err);
		else
			reply_error(s, E(BAD_MESSAGE), err, NULL);
		return;
	}
	f = m.frame;
	if (!s->hello_done) {
		if (f->body_case == EVIDENT__V1__FRAME__BODY_HELLO)
			handle_hello(s, f->hello);
		else
			fail_and_close(s, E(BAD_MESSAGE), "the first frame must be Hello");
		dispatch_msg_free(&m);
		return;
	}
	switch (f->body_case) {
	case EVIDENT__V1__FRAME__BODY_RECORD:
		handle_record(s, body, len, f->record);
		break;
	case EVIDENT__V1__FRAME__BODY_REGISTER_MODEL:
		handle_register(s, f->register_model);
		break;
	case EVIDENT__V1__FRAME__BODY_ARTIFACT_CHUNK:
		handle_chunk(s, f->artifact_chunk);
		break;
	case EVIDENT__V1__FRAME__BODY_REVIEW:
		handle_review(s, f->review);
		break;
	case EVIDENT__V1__FRAME__BODY_HELLO:
		reply_error(s, E(BAD_MESSAGE), "Hello was already received", NULL);
		break;
	default:
		reply_error(s, E(BAD_MESSAGE), "this frame is sent by the daemon, not by clients",
		            NULL);
		break;
	}
	dispatch_msg_free(&m);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct session *s = h->data;
	struct daemon *d = s->d;
	size_t size = SESSION_READ_SIZE;

	(void)suggested;
	/* Near max_queue, reads shrink to the room left (SESSION_READ_MIN at least): what a
	 * read leaves unfinished is held until its frame completes. */
	if (d->queued_bytes + SESSION_READ_SIZE > d->cfg.max_queue) {
		uint64_t room =
		    d->queued_bytes < d->cfg.max_queue ? d->cfg.max_queue - d->queued_bytes : 0;
		size = room > SESSION_READ_MIN ? (size_t)room : SESSION_READ_MIN;
	}
	/* One buffer for every connection: the loop reads one stream at a time and on_read
	 * copies what it keeps into the session's frame reader before the next read. */
	*buf = uv_buf_init((char *)d->read_buf, (unsigned)size);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct session *s = stream->data;
	const uint8_t *body;
	size_t len;
	int rc;

	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("session %llu: read: %s", (unsigned long long)s->id,
			          uv_strerror((int)nread));
		/* the client may still read: send what is gathered, then close */
		session_close(s);
		return;
	}
	s->refs++; /* handlers may close the session */
	if (s->hello_done)
		tlist_append(s->d, &s->d->idle, &s->conn_node);
	bool new_frame = frame_reader_pending(&s->reader) == 0;
	rc = frame_reader_feed(&s->reader, (const uint8_t *)buf->base, (size_t)nread);
	while (rc == 0 && !s->closing) {
		rc = frame_reader_next(&s->reader, &body, &len);
		if (rc == 1) {
			new_frame = true;
			handle_frame(s, body, len);
			rc = 0;
			continue;
		}
		break;
	}
	if (!s->closing && rc == -EMSGSIZE) {
		char msg[160];
		if (s->hello_done)
			snprintf(msg, sizeof(msg), "frame of %zu bytes is over max_frame (%u)", len,
			         s->d->cfg.max_frame);
		else
			snprintf(msg, sizeof(msg),
			         "frame of %zu bytes before Hello (the first frame is a Hello, at "
			         "most %u bytes)",
			         len, (unsigned)s->reader.max);
		fail_and_close(s, E(TOO_LARGE), msg);
	} else if (!s->closing && rc < 0) {
		fail_and_close(s, E(BAD_FRAME),
		               rc == -EBADMSG ? "malformed frame length (bad varint)"
		                              : "frame buffer overflow");
	}
	if (!s->closing) {
		/* an incomplete frame's clock starts with its first byte */
		if (frame_reader_pending(&s->reader) == 0)
			tlist_remove(&s->frame_node);
		else if (new_frame || !s->frame_node.list)
			tlist_append(s->d, &s->d->partial, &s->frame_node);
		charge_buffer(s);
		update_reading(s);
	}
	daemon_flush_dirty(s->d);
	session_unref(s);
}

/* ------------------------------------------------------------------ limits and timeouts */

static uint64_t ms(uint32_t seconds)
{
	return (uint64_t)seconds * 1000;
}

/* The oldest connection without a Hello other than s (of s's uid when same_uid), or NULL. */
static struct session *oldest_without_hello(struct daemon *d, struct session *s, bool same_uid)
{
	for (struct tnode *n = d->hello_wait.head; n; n = n->next) {
		struct session *o = NODE_OF(n, struct session, conn_node);
		if (o != s &&
		    (!same_uid || (o->peer.known == s->peer.known && o->peer.uid == s->peer.uid)))
			return o;
	}
	return NULL;
}

/* At max_connections_per_uid, then at max_connections, the oldest connection that has not
 * said Hello (of the same uid for the first) makes room for s; without one, s is refused.
 * A client that says Hello at once is therefore never locked out by sockets that stay
 * silent. Returns false when s was refused (and is closing). */
static bool admit(struct daemon *d, struct session *s, uint32_t n_uid)
{
	char msg[200];
	struct session *o;

	if (n_uid > d->cfg.max_connections_per_uid) {
		if (!(o = oldest_without_hello(d, s, true))) {
			d->stats.rejected_connections++;
			snprintf(
			    msg, sizeof(msg),
			    "too many connections from uid %u (max_connections_per_uid %u), all "
			    "past their Hello; retry later",
			    s->peer.uid, d->cfg.max_connections_per_uid);
			close_with_error(s, LOG_WARNING, E(OVERLOADED), msg);
			return false;
		}
		snprintf(msg, sizeof(msg),
		         "closed to make room: open without a Hello while uid %u is at "
		         "max_connections_per_uid %u",
		         o->peer.uid, d->cfg.max_connections_per_uid);
		close_with_error(o, LOG_DEBUG, E(OVERLOADED), msg);
	}
	if (d->n_sessions > d->cfg.max_connections) {
		if (!(o = oldest_without_hello(d, s, false))) {
			d->stats.rejected_connections++;
			snprintf(msg, sizeof(msg),
			         "too many connections (max_connections %u), all past their Hello; "
			         "retry later",
			         d->cfg.max_connections);
			close_with_error(s, LOG_WARNING, E(OVERLOADED), msg);
			return false;
		}
		snprintf(msg, sizeof(msg),
		         "closed to make room: open without a Hello while the daemon is at "
		         "max_connections %u",
		         d->cfg.max_connections);
		close_with_error(o, LOG_DEBUG, E(OVERLOADED), msg);
	}
	return true;
}

/* Said Hello, sends nothing, and nothing of its is pending: no record or chunk waiting for
 * the writer, no reply to write, no registration, no verdict awaited, no partial frame. */
static bool session_idle(const struct session *s)
{
	return s->refs == 1 && !s->reg && !s->unacked_bytes && !s->output_pending && !s->out_len &&
	       !frame_reader_pending(&s->reader);
}

static void on_limits_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	const struct config *c = &d->cfg;
	uint64_t now = uv_now(d->loop);
	struct tnode *n;
	char msg[200];

	while ((n = d->hello_wait.head) && n->since + ms(c->hello_timeout_s) <= now) {
		snprintf(msg, sizeof(msg), "no Hello within %u s (hello_timeout)",
		         c->hello_timeout_s);
		close_with_error(NODE_OF(n, struct session, conn_node), LOG_DEBUG, E(BAD_MESSAGE),
		                 msg);
	}
	while ((n = d->partial.head) && n->since + ms(c->frame_timeout_s) <= now) {
		struct session *s = NODE_OF(n, struct session, frame_node);
		snprintf(msg, sizeof(msg),
		         "incomplete frame: %zu bytes of it arrived, the rest not within %u s "
		         "(frame_timeout)",
		         frame_reader_pending(&s->reader), c->frame_timeout_s);
		close_with_error(s, LOG_INFO, E(BAD_FRAME), msg);
	}
	while (c->idle_timeout_s && (n = d->idle.head) && n->since + ms(c->idle_timeout_s) <= now) {
		struct session *s = NODE_OF(n, struct session, conn_node);
		if (!session_idle(s)) { /* work in flight: looked at again a timeout later */
			tlist_append(d, &d->idle, n);
			continue;
		}
		snprintf(msg, sizeof(msg),
		         "no frame for %u s and nothing pending (idle_timeout); connect again to "
		         "send more",
		         c->idle_timeout_s);
		close_with_error(s, LOG_INFO, E(OVERLOADED), msg);
	}
	while ((n = d->reg_wait.head) && n->since + ms(c->registration_timeout_s) <= now) {
		struct registration *reg = NODE_OF(n, struct registration, node);
		if (reg->jobs) { /* its chunks are being written, or its artifact loaded */
			tlist_append(d, &d->reg_wait, n);
			continue;
		}
		snprintf(msg, sizeof(msg),
		         "no artifact chunk for %u s (registration_timeout): the registration is "
		         "dropped; register again",
		         c->registration_timeout_s);
		registration_fail(reg, E(OVERLOADED), msg);
	}
	daemon_flush_dirty(d);
	limits_arm(d);
}

/* Runs the timer at the earliest deadline of the lists' heads (stops it when none). */
static void limits_arm(struct daemon *d)
{
	const struct config *c = &d->cfg;
	uv_timer_t *t = &d->limits_timer;
	struct {
		const struct tnode *n;
		uint64_t after;
	} heads[] = {
	    {d->hello_wait.head, ms(c->hello_timeout_s)},
	    {d->partial.head, ms(c->frame_timeout_s)},
	    {c->idle_timeout_s ? d->idle.head : NULL, ms(c->idle_timeout_s)},
	    {d->reg_wait.head, ms(c->registration_timeout_s)},
	};
	uint64_t due = UINT64_MAX, now;

	if (!t->data) /* not started, or stopped */
		return;
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		if (heads[i].n && heads[i].n->since + heads[i].after < due)
			due = heads[i].n->since + heads[i].after;
	if (due == UINT64_MAX) {
		uv_timer_stop(t);
		return;
	}
	now = uv_now(d->loop);
	uv_timer_start(t, on_limits_timer, due > now ? due - now : 0, 0);
}

/* Every connection holds a descriptor: raise the soft limit toward max_connections (not
 * past the hard limit), and say so when it stays below. */
static void check_fd_limit(const struct daemon *d)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)d->cfg.max_connections + 64; /* vault, oracles, listener */

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= want)
		return;
	struct rlimit nl = {
	    .rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max,
	    .rlim_max = rl.rlim_max};
	if (nl.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &nl) == 0)
		rl = nl;
	if (rl.rlim_cur < want)
		log_warning("the file descriptor limit (%llu) is below max_connections %u + 64: "
		            "connections past it fail at accept (raise LimitNOFILE= or ulimit -n)",
		            (unsigned long long)rl.rlim_cur, d->cfg.max_connections);
}

void session_limits_start(struct daemon *d)
{
	uv_timer_init(d->loop, &d->limits_timer);
	d->limits_timer.data = d;
	check_fd_limit(d);
}

void session_limits_reconfigure(struct daemon *d)
{
	check_fd_limit(d);
	limits_arm(d);
}

static void on_limits_timer_closed(uv_handle_t *h)
{
	(void)h;
}

void session_limits_stop(struct daemon *d)
{
	if (!d->limits_timer.data)
		return;
	d->limits_timer.data = NULL;
	uv_close((uv_handle_t *)&d->limits_timer, on_limits_timer_closed);
	free(d->uids);
	d->uids = NULL;
	d->n_uids = d->cap_uids = 0;
}

/* ------------------------------------------------------------------ accept */

static bool gid_allowed(const struct config *c, gid_t gid)
{
	for (size_t i = 0; i < c->n_allow_gids; i++)
		if (c->allow_gids[i] == gid)
			return true;
	return false;
}

/* uid, primary gid, or (SO_PEERGROUPS) any supplementary group of the peer: a client user
 * is typically in group evidentd only as a supplementary group. */
static bool peer_allowed(const struct config *c, const struct peer *p, int fd)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (c->n_allow_uids == 0 && c->n_allow_gids == 0)
		return true;
	if (!p->known)
		return false;
	for (size_t i = 0; i < c->n_allow_uids; i++)
		if (c->allow_uids[i] == p->uid)
			return true;
	if (gid_allowed(c, p->gid))
		return true;
#ifdef SO_PEERGROUPS
	if (fd >= 0 && c->n_allow_gids &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (gid_allowed(c, groups[i]))
				return true;
#endif
	return false;
}

void session_accept(struct daemon *d, uv_stream_t *listener)
{
	struct session *s = calloc(1, sizeof(*s));
	uv_os_fd_t fd = -1;

	if (!s) {
		log_error("accept: out of memory");
		return;
	}
	s->d = d;
	s->refs = 1;
	s->id = ++d->next_session_id;
	/* before Hello, frames are small: a larger one is refused before it is buffered */
	if (frame_reader_init(&s->reader, d->cfg.max_frame < SESSION_HELLO_MAX
	                                      ? d->cfg.max_frame
	                                      : SESSION_HELLO_MAX) < 0 ||
	    uv_pipe_init(d->loop, &s->pipe, 0) < 0) {
		free(s);
		return;
	}
	s->pipe.data = s;
	if (uv_accept(listener, (uv_stream_t *)&s->pipe) < 0) {
		uv_close((uv_handle_t *)&s->pipe, on_close);
		return;
	}
	if (uv_fileno((uv_handle_t *)&s->pipe, &fd) == 0) {
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
			s->peer = (struct peer){.uid = cred.uid,
			                        .gid = cred.gid,
			                        .pid = (uint32_t)cred.pid,
			                        .known = true};
		}
	}
	list_push(&d->sessions, s);
	d->n_sessions++;
	d->stats.connections++;
	tlist_append(d, &d->hello_wait, &s->conn_node);
	uint32_t n_uid = uid_count_add(s);

	if (!peer_allowed(&d->cfg, &s->peer, fd)) {
		d->stats.rejected_connections++;
		log_notice("connection from uid %u gid %u pid %u refused: not in allow_uids/"
		           "allow_gids",
		           s->peer.uid, s->peer.gid, s->peer.pid);
		reply_error(s, E(UNAUTHORIZED), "this uid/gid may not write evidence", NULL);
		session_close(s);
		return;
	}
	if (!n_uid) {
		close_with_error(s, LOG_ERR, E(INTERNAL), "out of memory");
		return;
	}
	if (!admit(d, s, n_uid))
		return;
	update_reading(s);
}
