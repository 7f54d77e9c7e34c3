/* SPDX-License-Identifier: Apache-2.0 */
/* Client connections and framing (session.h, proto/PROTOCOL.md). Everything here runs on the
 * event loop thread. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "evident_version.h"
#include "log.h"

#define E(x) EVIDENT__V1__ERROR__CODE__##x

static void update_reading(struct session *s);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void limits_arm(struct daemon *d);
static void resume_queue_waiters(struct daemon *d);

/* ------------------------------------------------------------------ timeouts */

/* (Re)appends n to l (tlist.h) stamped with the loop's time; arms the limits timer when l
 * was empty (the only change that can bring the earliest deadline forward). */
static void track(struct daemon *d, struct tlist *l, struct tnode *n)
{
	if (tlist_append(l, n, uv_now(d->loop)))
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
	if (d->session_ops->closed)
		d->session_ops->closed(d);
}

static void begin_close(struct session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	if (s->reading)
		uv_read_stop((uv_stream_t *)&s->pipe);
	s->reading = false;
	if (s->d->session_ops->closing)
		s->d->session_ops->closing(s);
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
		track(s->d, &s->d->idle, &s->conn_node);
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

void session_flush_dirty(struct daemon *d)
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

void session_reply_error(struct session *s, dispatch_code code, const char *msg, const char *rid)
{
	exporter_refusal(s->d, code);
	if (dispatch_reply_error(&s->out, &s->out_len, &s->out_cap, code, msg, rid) == 0)
		mark_dirty(s);
}

void session_reply_ack(struct session *s, const char *rid, const struct vault_append_result *r)
{
	if (dispatch_reply_ack(&s->out, &s->out_len, &s->out_cap, rid, r->seq, r->leaf_hash,
	                       r->duplicate) == 0)
		mark_dirty(s);
}

void session_reply_frame(struct session *s, const Evident__V1__Frame *f)
{
	if (dispatch_reply_frame(&s->out, &s->out_len, &s->out_cap, f) == 0)
		mark_dirty(s);
}

bool session_send_verdict(struct session *s, const Evident__V1__Verdict *v)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;

	if (s->closing)
		return false;
	f.body_case = EVIDENT__V1__FRAME__BODY_VERDICT;
	f.verdict = (Evident__V1__Verdict *)v;
	session_reply_frame(s, &f);
	return true;
}

/* Replies and closes: framing errors leave the stream unusable. */
static void close_with_error(struct session *s, int level, dispatch_code code, const char *msg)
{
	log_printf(level, "session %llu (%s, uid %u): %s: %s, closing", (unsigned long long)s->id,
	           s->client_name[0] ? s->client_name : "before Hello", s->peer.uid,
	           dispatch_code_name(code), msg);
	session_reply_error(s, code, msg, NULL);
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
			track(d, &d->queue_wait, &s->queue_node);
		else if (!over)
			tlist_remove(&s->queue_node);
		/* a frame's clock stops while the daemon holds the connection back for its own
		 * backlog, and starts again when reading resumes; max_queue does not stop it */
		if (!own)
			tlist_remove(&s->frame_node);
		else if (mid_frame && !s->frame_node.list)
			track(d, &d->partial, &s->frame_node);
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

void session_charge(struct session *s, uint64_t cost)
{
	s->refs++;
	s->unacked_bytes += cost;
	s->d->queued_bytes += cost;
}

void session_discharge(struct session *s, uint64_t cost)
{
	s->unacked_bytes -= cost;
	s->d->queued_bytes -= cost;
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
	track(d, &d->idle, &s->conn_node);
	ok.has_protocol_version = ok.has_max_frame = ok.has_max_unacked = true;
	ok.max_unacked = d->cfg.max_unacked;
	ok.protocol_version = PROTOCOL_VERSION;
	ok.daemon_version = (char *)EVIDENT_VERSION;
	ok.vault_origin = d->origin;
	ok.max_frame = d->cfg.max_frame;
	f.body_case = EVIDENT__V1__FRAME__BODY_HELLO_OK;
	f.hello_ok = &ok;
	session_reply_frame(s, &f);
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
			session_reply_error(s, E(BAD_MESSAGE), err, NULL);
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
	if (f->body_case == EVIDENT__V1__FRAME__BODY_HELLO)
		session_reply_error(s, E(BAD_MESSAGE), "Hello was already received", NULL);
	else
		s->d->session_ops->frame(s, body, len, f);
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
		track(s->d, &s->d->idle, &s->conn_node);
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
			track(s->d, &s->d->partial, &s->frame_node);
		charge_buffer(s);
		update_reading(s);
	}
	session_flush_dirty(s->d);
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
			metric_inc(d->ex.connections_rejected);
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
			metric_inc(d->ex.connections_rejected);
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
			track(d, &d->idle, n);
			continue;
		}
		snprintf(msg, sizeof(msg),
		         "no frame for %u s and nothing pending (idle_timeout); connect again to "
		         "send more",
		         c->idle_timeout_s);
		close_with_error(s, LOG_INFO, E(OVERLOADED), msg);
	}
	session_flush_dirty(d);
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

static void accept_one(struct daemon *d, uv_stream_t *listener)
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
	metric_inc(d->ex.connections_total);
	track(d, &d->hello_wait, &s->conn_node);
	uint32_t n_uid = uid_count_add(s);

	if (!peer_allowed(&d->cfg, &s->peer, fd)) {
		d->stats.rejected_connections++;
		metric_inc(d->ex.connections_rejected);
		log_notice("connection from uid %u gid %u pid %u refused: not in allow_uids/"
		           "allow_gids",
		           s->peer.uid, s->peer.gid, s->peer.pid);
		session_reply_error(s, E(UNAUTHORIZED), "this uid/gid may not write evidence",
		                    NULL);
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

void session_accept(struct daemon *d, uv_stream_t *listener)
{
	accept_one(d, listener);
	/* a refusal, or a connection closed to make room, answered: sent now, and the session
	 * is freed once its handle is closed, not at some later wake-up */
	session_flush_dirty(d);
}
