/* SPDX-License-Identifier: Apache-2.0 */
/* libevident client: callers encode records into slots of a bounded ring (one mutex held for a
 * few instructions to reserve a slot, encoding outside it); one I/O thread per client runs a
 * poll() loop over a non-blocking Unix socket and an eventfd, speaks PROTOCOL.md, keeps every
 * record until its Ack, and after a reconnect registers the models again and resends what was
 * not acknowledged, under the same request_id (the daemon answers those with the original seq). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "evident.h"
#include "evident.pb-c.h"
#include "frame.h"
#include "internal.h"
#include "wirecheck.h"

#define PROTOCOL_VERSION 1
/* Artifact chunk size (PROTOCOL.md: clients use 256 KiB). */
#define CHUNK_SIZE       (256u << 10)
/* The write buffer is filled up to this many bytes before a send(): large enough for few
 * syscalls per thousand records, small enough to interleave with reading acks. */
#define WBUF_HIGH        (256u << 10)
#define WBUF_INIT        (CHUNK_SIZE + WBUF_HIGH)
#define RBUF_SIZE        (64u << 10)
/* First reconnect / retry delay; doubles up to max_backoff_ms. */
#define BACKOFF_MIN_MS   10
/* Slot buffers start at this size so that most records never reallocate; one that held a
 * large record is shrunk when reused for a much smaller one, so memory follows max_queue_bytes
 * rather than the largest record ever seen times max_queue. */
#define SLOT_MIN_CAP     512
#define SLOT_SHRINK_CAP  (64u << 10)
/* Frame.record is field 5, length-delimited: tag byte (5 << 3) | 2. The Frame wrapper is
 * written by hand so the Record's size is computed once (protobuf-c would size it twice). */
#define FRAME_TAG_RECORD 0x2a
/* Fill/write rounds per loop iteration before reading again. */
#define WRITE_ROUNDS     64
/* Room left in a frame for the ArtifactChunk fields around the data. */
#define CHUNK_OVERHEAD   1024
/* Keeps the fields callers touch apart from those the I/O thread writes per record. */
#define CACHE_LINE       64

enum slot_state {
	SLOT_FREE,
	SLOT_INFLIGHT, /* sent on the current connection, no answer yet */
	SLOT_RETRY,    /* refused with OVERLOADED / VAULT_FULL, to be sent again */
	SLOT_DONE,     /* acknowledged or failed for good; released when head reaches it */
};

/* A caller waiting in evident_record_sync() or evident_register(). Lives on its stack. */
struct waiter {
	pthread_cond_t cv;
	bool done;
	int err;
	uint64_t seq;
};

struct slot {
	/* Written by the reserving caller, then published by `ready` (release); read by the I/O
	 * thread after an acquire load of `ready`. */
	uint64_t pos; /* ring position this slot holds */
	uint8_t *buf; /* frame bytes [0, len), then the request id and a NUL */
	uint32_t cap;
	uint32_t len;
	uint16_t id_len;
	bool sync; /* waiter may be set */
	bool skip; /* reserved but could not be filled: never sent, no callback */
	atomic_uchar ready;
	/* I/O thread only */
	uint8_t state;
	uint8_t attempts;
	uint32_t hash;
	uint32_t ht_gen;     /* == client ht_gen: present in the id table */
	uint32_t retry_next; /* intrusive retry FIFO: slot index + 1, 0 ends it */
	/* under mu */
	struct waiter *waiter;
};

enum conn_state {
	CONN_DOWN,
	CONN_CONNECTING,  /* connect() in progress */
	CONN_HELLO,       /* Hello sent, waiting for HelloOk */
	CONN_REGISTERING, /* registrations redone; records wait until each is answered */
	CONN_READY,
};

enum reg_state {
	REG_NEW,  /* to be sent */
	REG_SENT, /* RegisterModel sent, waiting for Ack / Error */
	REG_OK,
};

struct reg {
	struct reg *next;
	struct evident_manifest m;
	int fd[2]; /* artifact, reference data (or -1) */
	/* written by the I/O thread under mu (callers read them under mu) */
	enum reg_state state;
	bool ok_once;
	uint64_t seq;
	struct waiter *waiter;
	/* I/O thread only */
	unsigned attempts;
	int64_t retry_at;
	bool want_upload;
	int up_kind; /* 0 model, 1 reference data */
	uint64_t up_off;
};

struct evident_client {
	/* set by evident_client_new, then read-only */
	char *socket_path;
	char name[EVIDENT_CLIENT_NAME_MAX + 1];
	char id_prefix[EVIDENT_CLIENT_NAME_MAX + 20]; /* "<name>-<16 hex>-" */
	size_t id_prefix_len;
	size_t max_queue;
	size_t max_queue_bytes;
	size_t max_inflight;
	unsigned connect_timeout_ms;
	unsigned max_backoff_ms;
	unsigned max_retries;
	unsigned close_timeout_ms;
	void (*on_ack)(void *, const char *, uint64_t, bool);
	void (*on_error)(void *, const char *, int, const char *);
	void *userdata;
	struct slot *slots;
	size_t mask;
	int efd;
	pthread_t thread;
	bool thread_started;
	pthread_condattr_t cattr;

	/* Shared state sits on its own cache lines, apart from what the I/O thread writes per
	 * record (its counters), so a caller's call touches lines that rarely change hands. */

	/* shared, under mu */
	_Alignas(CACHE_LINE) pthread_mutex_t mu;
	pthread_cond_t flush_cv;
	uint64_t head;       /* oldest position not yet released (written by the I/O thread) */
	uint64_t tail;       /* next position to reserve */
	size_t queued_bytes; /* frame bytes of the positions in [head, tail) */
	unsigned flush_waiters;
	struct reg *regs;
	bool stopping;
	int64_t stop_deadline;
	uint64_t n_queued;
	uint64_t n_refused;

	/* shared, atomic: written by callers */
	_Alignas(CACHE_LINE) atomic_uint_fast64_t id_counter;
	/* read by callers on every call, written by the I/O thread once per batch at most */
	_Alignas(CACHE_LINE) atomic_int io_sleeping;
	atomic_uint max_frame;

	/* I/O thread only (the counters are read by evident_stats) */
	_Alignas(CACHE_LINE) atomic_uint_fast64_t st_sent, st_resent, st_acked, st_dup, st_errors,
	    st_retries, st_reconnects;
	int fd;
	enum conn_state conn;
	int64_t deadline;
	int64_t next_connect;
	unsigned backoff_ms;
	bool had_session;
	bool down_reported;
	int64_t pause_until;
	unsigned pause_ms;
	uint64_t send_pos; /* next position to consider for sending */
	uint64_t sent_hwm; /* positions below were sent at least once (or skipped) */
	size_t n_inflight;
	uint32_t retry_head, retry_tail;
	uint32_t *ht; /* request id -> slot index + 1, linear probing */
	size_t ht_mask;
	uint32_t ht_gen;
	uint8_t *wbuf;
	size_t wlen, woff, wcap;
	uint8_t *rbuf;
	uint8_t *chunk;
	struct frame_reader rd;
	struct reg *upload;
	unsigned regs_sent; /* registrations in state REG_SENT */
	bool need_advance;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Absolute CLOCK_MONOTONIC deadline timeout_ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_after(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Waits on cv until *done; returns false when the deadline passed first. */
static bool wait_done(struct evident_client *c, pthread_cond_t *cv, const bool *done,
                      int timeout_ms)
{
	struct timespec ts = deadline_after(timeout_ms > 0 ? timeout_ms : 0);

	while (!*done) {
		if (timeout_ms < 0)
			pthread_cond_wait(cv, &c->mu);
		else if (pthread_cond_timedwait(cv, &c->mu, &ts) == ETIMEDOUT)
			return *done;
	}
	return true;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void stat_inc(atomic_uint_fast64_t *x)
{
	/* only the I/O thread writes these: no read-modify-write needed */
	atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

static void wake(struct evident_client *c)
{
	uint64_t one = 1;
	ssize_t n = write(c->efd, &one, sizeof(one));

	(void)n; /* EAGAIN: the counter is already non-zero, the thread will wake */
}

static struct slot *slot_at(struct evident_client *c, uint64_t pos)
{
	return &c->slots[pos & c->mask];
}

static const char *slot_id(const struct slot *s)
{
	return (const char *)s->buf + s->len;
}

/* ------------------------------------------------------------------ error codes */

static const char *const code_names[] = {
    [EVIDENT__V1__ERROR__CODE__CODE_UNSPECIFIED] = "CODE_UNSPECIFIED",
    [EVIDENT__V1__ERROR__CODE__BAD_FRAME] = "BAD_FRAME",
    [EVIDENT__V1__ERROR__CODE__BAD_MESSAGE] = "BAD_MESSAGE",
    [EVIDENT__V1__ERROR__CODE__UNKNOWN_MODEL] = "UNKNOWN_MODEL",
    [EVIDENT__V1__ERROR__CODE__SCHEMA_MISMATCH] = "SCHEMA_MISMATCH",
    [EVIDENT__V1__ERROR__CODE__TOO_LARGE] = "TOO_LARGE",
    [EVIDENT__V1__ERROR__CODE__UNAUTHORIZED] = "UNAUTHORIZED",
    [EVIDENT__V1__ERROR__CODE__OVERLOADED] = "OVERLOADED",
    [EVIDENT__V1__ERROR__CODE__VAULT_FULL] = "VAULT_FULL",
    [EVIDENT__V1__ERROR__CODE__INTERNAL] = "INTERNAL",
    [EVIDENT__V1__ERROR__CODE__BAD_PROTOCOL_VERSION] = "BAD_PROTOCOL_VERSION",
    [EVIDENT__V1__ERROR__CODE__CONFLICT] = "CONFLICT",
};

/* The mapping documented in evident.h. */
static int err_from_code(int code)
{
	switch (code) {
	case EVIDENT__V1__ERROR__CODE__BAD_MESSAGE:
	case EVIDENT__V1__ERROR__CODE__SCHEMA_MISMATCH:
		return -EBADMSG;
	case EVIDENT__V1__ERROR__CODE__UNKNOWN_MODEL:
		return -ENOENT;
	case EVIDENT__V1__ERROR__CODE__TOO_LARGE:
		return -EMSGSIZE;
	case EVIDENT__V1__ERROR__CODE__UNAUTHORIZED:
		return -EACCES;
	case EVIDENT__V1__ERROR__CODE__OVERLOADED:
		return -EBUSY;
	case EVIDENT__V1__ERROR__CODE__VAULT_FULL:
		return -ENOSPC;
	case EVIDENT__V1__ERROR__CODE__INTERNAL:
		return -EIO;
	case EVIDENT__V1__ERROR__CODE__BAD_PROTOCOL_VERSION:
		return -EPROTONOSUPPORT;
	case EVIDENT__V1__ERROR__CODE__CONFLICT:
		return -EEXIST;
	default:
		return -EPROTO;
	}
}

static bool code_is_retryable(int code)
{
	return code == EVIDENT__V1__ERROR__CODE__OVERLOADED ||
	       code == EVIDENT__V1__ERROR__CODE__VAULT_FULL;
}

static void report_error(struct evident_client *c, const char *id, int err, const char *msg)
{
	if (c->on_error)
		c->on_error(c->userdata, id, err, msg);
}

/* ------------------------------------------------------------------ request id table */

static uint32_t hash_id(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static void ht_insert(struct evident_client *c, struct slot *s)
{
	size_t i;

	if (s->ht_gen == c->ht_gen)
		return;
	s->hash = hash_id(slot_id(s), s->id_len);
	for (i = s->hash & c->ht_mask; c->ht[i]; i = (i + 1) & c->ht_mask)
		;
	c->ht[i] = (uint32_t)(s - c->slots) + 1;
	s->ht_gen = c->ht_gen;
}

/* The first slot in the table with this id that still waits for an answer. */
static struct slot *ht_find(struct evident_client *c, const char *id)
{
	size_t n = strlen(id);
	uint32_t h = hash_id(id, n);

	for (size_t i = h & c->ht_mask; c->ht[i]; i = (i + 1) & c->ht_mask) {
		struct slot *s = &c->slots[c->ht[i] - 1];
		if (s->hash == h && s->id_len == n && memcmp(slot_id(s), id, n) == 0 &&
		    (s->state == SLOT_INFLIGHT || s->state == SLOT_RETRY))
			return s;
	}
	return NULL;
}

/* Backward-shift deletion keeps probe sequences intact without tombstones. */
static void ht_remove(struct evident_client *c, struct slot *s)
{
	uint32_t want = (uint32_t)(s - c->slots) + 1;
	size_t i, j;

	if (s->ht_gen != c->ht_gen)
		return;
	s->ht_gen = c->ht_gen - 1;
	for (i = s->hash & c->ht_mask; c->ht[i] != want; i = (i + 1) & c->ht_mask)
		if (!c->ht[i])
			return;
	for (j = i;;) {
		size_t k;
		j = (j + 1) & c->ht_mask;
		if (!c->ht[j])
			break;
		k = c->slots[c->ht[j] - 1].hash & c->ht_mask;
		/* move entry j into the hole at i unless its home k lies cyclically in (i, j] */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			c->ht[i] = c->ht[j];
			i = j;
		}
	}
	c->ht[i] = 0;
}

static void ht_clear(struct evident_client *c)
{
	memset(c->ht, 0, (c->ht_mask + 1) * sizeof(*c->ht));
	c->ht_gen += 2; /* every slot's ht_gen is now stale (ht_remove uses gen - 1) */
}

/* ------------------------------------------------------------------ completion */

static void deliver(struct waiter **wp, int err, uint64_t seq)
{
	struct waiter *w = *wp;

	if (!w)
		return;
	w->err = err;
	w->seq = seq;
	w->done = true;
	*wp = NULL;
	pthread_cond_signal(&w->cv);
}

/* A record is answered for good: callback, then its waiter, then release at head. */
static void slot_complete(struct evident_client *c, struct slot *s, int err, uint64_t seq,
                          bool duplicate, const char *msg)
{
	if (s->state == SLOT_INFLIGHT)
		c->n_inflight--;
	ht_remove(c, s);
	s->state = SLOT_DONE;
	if (err == 0) {
		stat_inc(&c->st_acked);
		if (duplicate)
			stat_inc(&c->st_dup);
		if (c->on_ack)
			c->on_ack(c->userdata, slot_id(s), seq, duplicate);
	} else {
		stat_inc(&c->st_errors);
		report_error(c, slot_id(s), err, msg);
	}
	if (s->sync) {
		pthread_mutex_lock(&c->mu);
		deliver(&s->waiter, err, seq);
		pthread_mutex_unlock(&c->mu);
	}
	c->need_advance = true;
}

/* Releases answered slots at the head of the ring so callers can reuse them. */
static void advance_head(struct evident_client *c)
{
	uint64_t h = c->head;

	if (!c->need_advance)
		return;
	c->need_advance = false;
	while (h < c->sent_hwm && slot_at(c, h)->state == SLOT_DONE)
		h++;
	if (h == c->head)
		return;
	pthread_mutex_lock(&c->mu);
	for (; c->head < h; c->head++) {
		struct slot *s = slot_at(c, c->head);
		c->queued_bytes -= s->skip ? 0 : s->len;
		s->state = SLOT_FREE;
		s->attempts = 0;
		s->sync = false;
		s->waiter = NULL;
		atomic_store_explicit(&s->ready, 0, memory_order_relaxed);
	}
	if (c->flush_waiters)
		pthread_cond_broadcast(&c->flush_cv);
	pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------------ connection */

static void conn_close(struct evident_client *c, int64_t now)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->conn = CONN_DOWN;
	c->next_connect = now + c->backoff_ms;
	c->backoff_ms =
	    c->backoff_ms * 2 > c->max_backoff_ms ? c->max_backoff_ms : c->backoff_ms * 2;
	c->wlen = c->woff = 0;
	frame_reader_deinit(&c->rd);
	frame_reader_init(&c->rd, FRAME_MAX_DEFAULT);
	ht_clear(c);
	c->n_inflight = 0;
	c->retry_head = c->retry_tail = 0;
	advance_head(c); /* release what was answered, so only the rest is resent */
	c->send_pos = c->head;
	c->pause_until = 0;
	c->upload = NULL;
	c->regs_sent = 0;
	pthread_mutex_lock(&c->mu);
	for (struct reg *g = c->regs; g; g = g->next) {
		if (g->state == REG_SENT)
			g->state = REG_NEW;
		g->want_upload = false;
	}
	pthread_mutex_unlock(&c->mu);
}

/* Closes the connection; reports once per outage (err < 0 with a message). */
static void conn_fail(struct evident_client *c, int err, const char *msg)
{
	if (!c->down_reported && msg) {
		c->down_reported = true;
		report_error(c, NULL, err, msg);
	}
	conn_close(c, mono_ms());
}

static void send_hello(struct evident_client *c);

static void conn_start(struct evident_client *c, int64_t now)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char msg[160];
	int fd;

	strcpy(sa.sun_path, c->socket_path); /* length checked in evident_client_new */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(msg, sizeof(msg), "socket: %s", strerror(e));
		conn_fail(c, -e, msg);
		return;
	}
	c->fd = fd;
	c->deadline = now + c->connect_timeout_ms;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		c->conn = CONN_HELLO;
		send_hello(c);
	} else if (errno == EINPROGRESS) {
		c->conn = CONN_CONNECTING;
	} else {
		int e = errno;
		snprintf(msg, sizeof(msg), "cannot connect to \"%s\": %s", c->socket_path,
		         strerror(e));
		conn_fail(c, -e, msg);
	}
}

/* ------------------------------------------------------------------ writing */

/* Makes room for n more bytes in the write buffer: grows it only when empty (a single frame
 * larger than the buffer), otherwise says no so the caller writes first. */
static bool wbuf_room(struct evident_client *c, size_t n)
{
	if (c->wlen + n <= c->wcap)
		return true;
	if (c->woff > 0 && c->woff == c->wlen) {
		c->wlen = c->woff = 0;
		if (n <= c->wcap)
			return true;
	}
	if (c->wlen == 0) {
		uint8_t *nb = realloc(c->wbuf, n);
		if (!nb)
			return false;
		c->wbuf = nb;
		c->wcap = n;
		return true;
	}
	return false;
}

/* Packs a Frame into the write buffer. Returns false when it does not fit yet. */
static bool append_frame(struct evident_client *c, const Evident__V1__Frame *f)
{
	size_t body = protobuf_c_message_get_packed_size(&f->base);
	uint8_t hdr[FRAME_HEADER_MAX];
	size_t hlen = frame_header_encode(body, hdr);

	if (!wbuf_room(c, hlen + body))
		return false;
	memcpy(c->wbuf + c->wlen, hdr, hlen);
	protobuf_c_message_pack(&f->base, c->wbuf + c->wlen + hlen);
	c->wlen += hlen + body;
	return true;
}

static void send_hello(struct evident_client *c)
{
	Evident__V1__Hello h = EVIDENT__V1__HELLO__INIT;
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;

	h.has_protocol_version = 1;
	h.protocol_version = PROTOCOL_VERSION;
	h.client_name = c->name;
	f.body_case = EVIDENT__V1__FRAME__BODY_HELLO;
	f.hello = &h;
	append_frame(c, &f);
}

/* Writes what the buffer holds. Returns 1 when all is written, 0 on EAGAIN, -errno. */
static int write_some(struct evident_client *c)
{
	while (c->woff < c->wlen) {
		ssize_t n =
		    send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		c->woff += (size_t)n;
	}
	c->wlen = c->woff = 0;
	return 1;
}

static void retry_push(struct evident_client *c, struct slot *s)
{
	uint32_t idx = (uint32_t)(s - c->slots) + 1;

	s->retry_next = 0;
	if (c->retry_tail)
		c->slots[c->retry_tail - 1].retry_next = idx;
	else
		c->retry_head = idx;
	c->retry_tail = idx;
}

/* Copies one record frame into the write buffer. Returns false when it does not fit yet. */
static bool send_slot(struct evident_client *c, struct slot *s, bool first)
{
	unsigned max_frame = atomic_load_explicit(&c->max_frame, memory_order_relaxed);
	uint64_t body = 0;

	if (frame_header_decode(s->buf, s->len, max_frame, &body) < 0) {
		/* queued before HelloOk announced a smaller max_frame: the daemon would close
		 * the connection on it, forever */
		slot_complete(c, s, -EMSGSIZE, 0, false,
		              "record larger than the daemon's max_frame");
		return true;
	}
	if (!wbuf_room(c, s->len))
		return false;
	memcpy(c->wbuf + c->wlen, s->buf, s->len);
	c->wlen += s->len;
	ht_insert(c, s);
	s->state = SLOT_INFLIGHT;
	c->n_inflight++;
	stat_inc(first ? &c->st_sent : &c->st_resent);
	return true;
}

/* Appends the next chunk of the upload in progress. Returns false when it did not fit. */
static bool fill_upload_chunk(struct evident_client *c)
{
	struct reg *g = c->upload;
	Evident__V1__ArtifactChunk ch = EVIDENT__V1__ARTIFACT_CHUNK__INIT;
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	uint64_t size = g->up_kind ? g->m.reference_size : g->m.artifact_size;
	unsigned max_frame = atomic_load_explicit(&c->max_frame, memory_order_relaxed);
	size_t max_data =
	    max_frame > CHUNK_SIZE + CHUNK_OVERHEAD ? CHUNK_SIZE : max_frame - CHUNK_OVERHEAD;
	size_t want = size - g->up_off < max_data ? (size_t)(size - g->up_off) : max_data;
	size_t got = 0;

	if (g->up_off > size)
		want = 0;
	if (!wbuf_room(c, want + CHUNK_OVERHEAD))
		return false;
	while (got < want) {
		ssize_t n =
		    pread(g->fd[g->up_kind], c->chunk + got, want - got, (off_t)(g->up_off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* shorter or unreadable: the daemon refuses the size */
		got += (size_t)n;
	}
	ch.model_id = g->m.model_id;
	ch.version = g->m.version;
	ch.has_kind = 1;
	ch.kind = g->up_kind ? EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA
	                     : EVIDENT__V1__ARTIFACT_CHUNK__KIND__MODEL;
	ch.has_offset = 1;
	ch.offset = g->up_off;
	ch.has_data = 1;
	ch.data.len = got;
	ch.data.data = c->chunk;
	ch.has_last = 1;
	ch.last = got < want || g->up_off + got >= size;
	f.body_case = EVIDENT__V1__FRAME__BODY_ARTIFACT_CHUNK;
	f.artifact_chunk = &ch;
	append_frame(c, &f);
	g->up_off += got;
	if (ch.last)
		c->upload = NULL;
	return true;
}

/* Fills the write buffer in priority order: registrations, artifact chunks, records to retry,
 * records to resend after a reconnect, new records. Sets *starved when it stopped only
 * because the next new record is not published yet. */
static void fill(struct evident_client *c, int64_t now, bool *starved)
{
	*starved = false;
	if (c->conn < CONN_REGISTERING)
		return;

	pthread_mutex_lock(&c->mu);
	bool gate = false;
	for (struct reg *g = c->regs; g; g = g->next) {
		/* PROTOCOL.md: one registration at a time per connection */
		if (g->state == REG_NEW && g->retry_at <= now && c->regs_sent == 0) {
			if (!wbuf_room(c, g->m.frame_len)) {
				gate = true;
				break;
			}
			memcpy(c->wbuf + c->wlen, g->m.frame, g->m.frame_len);
			c->wlen += g->m.frame_len;
			g->state = REG_SENT;
			c->regs_sent++;
		}
		if (g->state != REG_OK)
			gate = true;
		if (!c->upload && g->want_upload && g->state == REG_SENT) {
			g->want_upload = false;
			c->upload = g;
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (c->conn == CONN_REGISTERING && !gate)
		c->conn = CONN_READY;

	while (c->upload && c->wlen < WBUF_HIGH)
		if (!fill_upload_chunk(c))
			break;

	if (c->conn != CONN_READY || now < c->pause_until)
		return;
	while (c->retry_head && c->wlen < WBUF_HIGH && c->n_inflight < c->max_inflight) {
		struct slot *s = &c->slots[c->retry_head - 1];
		if (s->state == SLOT_RETRY && !send_slot(c, s, false))
			return;
		c->retry_head = s->retry_next;
		if (!c->retry_head)
			c->retry_tail = 0;
	}
	while (c->send_pos < c->sent_hwm && c->wlen < WBUF_HIGH &&
	       c->n_inflight < c->max_inflight) {
		struct slot *s = slot_at(c, c->send_pos);
		if ((s->state == SLOT_INFLIGHT || s->state == SLOT_RETRY) &&
		    !send_slot(c, s, false))
			return;
		c->send_pos++;
	}
	if (c->send_pos < c->sent_hwm)
		return;
	while (c->wlen < WBUF_HIGH && c->n_inflight < c->max_inflight) {
		struct slot *s = slot_at(c, c->send_pos);
		if (!atomic_load_explicit(&s->ready, memory_order_acquire) ||
		    s->pos != c->send_pos) {
			*starved = true;
			return;
		}
		if (s->skip) {
			s->state = SLOT_DONE;
			c->need_advance = true;
		} else if (!send_slot(c, s, true)) {
			return;
		}
		c->sent_hwm = ++c->send_pos;
	}
}

/* ------------------------------------------------------------------ reading */

static void format_error(char *buf, size_t len, const Evident__V1__Error *e)
{
	int code = e->has_code ? (int)e->code : 0;
	const char *name = code >= 0 && (size_t)code < sizeof(code_names) / sizeof(code_names[0]) &&
	                           code_names[code]
	                       ? code_names[code]
	                       : "UNKNOWN_CODE";

	snprintf(buf, len, "%s: %s", name, e->message ? e->message : "");
}

/* Callers prepend to c->regs under mu, so the list head is read under it too; the nodes'
 * states are written by this thread alone. */
static struct reg *reg_find_sent(struct evident_client *c, const char *key)
{
	struct reg *g;

	if (c->regs_sent == 0)
		return NULL; /* the common case: every Ack is a record's */
	pthread_mutex_lock(&c->mu);
	for (g = c->regs; g; g = g->next)
		if (g->state == REG_SENT && strcmp(g->m.key, key) == 0)
			break;
	pthread_mutex_unlock(&c->mu);
	return g;
}

static void reg_free(struct reg *g)
{
	if (!g)
		return;
	for (int i = 0; i < 2; i++)
		if (g->fd[i] >= 0)
			close(g->fd[i]);
	evident__manifest_deinit(&g->m);
	free(g);
}

/* Handles an Ack or Error whose request_id names a registration in flight. */
static bool reg_answer(struct evident_client *c, const char *key, const Evident__V1__Ack *ack,
                       const Evident__V1__Error *e, int64_t now)
{
	struct reg *g = reg_find_sent(c, key);
	char msg[512];
	int err;

	if (!g)
		return false;
	if (c->upload == g)
		c->upload = NULL;
	c->regs_sent--;
	if (ack) {
		pthread_mutex_lock(&c->mu);
		g->state = REG_OK;
		g->ok_once = true;
		g->seq = ack->seq;
		deliver(&g->waiter, 0, ack->seq);
		pthread_mutex_unlock(&c->mu);
		return true;
	}
	if (code_is_retryable(e->code) && g->attempts < c->max_retries) {
		unsigned delay = BACKOFF_MIN_MS << (g->attempts < 16 ? g->attempts : 16);
		g->attempts++;
		g->retry_at = now + (delay > c->max_backoff_ms ? c->max_backoff_ms : delay);
		stat_inc(&c->st_retries);
		pthread_mutex_lock(&c->mu);
		g->state = REG_NEW;
		pthread_mutex_unlock(&c->mu);
		return true;
	}
	err = err_from_code(e->code);
	format_error(msg, sizeof(msg), e);
	pthread_mutex_lock(&c->mu);
	bool waited = g->waiter != NULL;
	deliver(&g->waiter, err, 0);
	for (struct reg **p = &c->regs; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	pthread_mutex_unlock(&c->mu);
	if (!waited)
		report_error(c, key, err, msg);
	reg_free(g);
	return true;
}

static void on_error_frame(struct evident_client *c, const Evident__V1__Error *e, int64_t now)
{
	char msg[512];
	struct slot *s;
	int err;

	format_error(msg, sizeof(msg), e);
	err = err_from_code(e->has_code ? (int)e->code : 0);
	if (!e->request_id || !e->request_id[0]) {
		/* about the connection: the daemon closes it after these */
		report_error(c, NULL, err, msg);
		c->down_reported = true;
		return;
	}
	if (reg_answer(c, e->request_id, NULL, e, now))
		return;
	s = ht_find(c, e->request_id);
	if (!s) {
		report_error(c, e->request_id, err, msg); /* not ours any more: say so */
		return;
	}
	if (code_is_retryable(e->code) && s->attempts < c->max_retries) {
		s->attempts++;
		if (s->state == SLOT_INFLIGHT)
			c->n_inflight--;
		s->state = SLOT_RETRY;
		retry_push(c, s);
		stat_inc(&c->st_retries);
		/* the daemon is saturated as a whole: pause all sending, a new episode doubling
		 * the pause, answers within the same episode not */
		if (now >= c->pause_until) {
			c->pause_ms = c->pause_ms ? c->pause_ms * 2 : BACKOFF_MIN_MS;
			if (c->pause_ms > c->max_backoff_ms)
				c->pause_ms = c->max_backoff_ms;
			c->pause_until = now + c->pause_ms;
		}
		return;
	}
	slot_complete(c, s, err, 0, false, msg);
}

static void on_ack_frame(struct evident_client *c, const Evident__V1__Ack *a, int64_t now)
{
	const char *id = a->request_id ? a->request_id : "";
	struct slot *s;

	if (reg_answer(c, id, a, NULL, now))
		return;
	s = ht_find(c, id);
	if (!s)
		return; /* a late answer for a record already answered: nothing to do */
	c->pause_ms = 0;
	slot_complete(c, s, 0, a->seq, a->has_duplicate && a->duplicate, NULL);
}

static void on_artifact_request(struct evident_client *c, const Evident__V1__ArtifactRequest *q)
{
	int kind = q->kind == EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA ? 1 : 0;

	if (!q->model_id || !q->version || c->regs_sent == 0)
		return;
	pthread_mutex_lock(&c->mu);
	for (struct reg *g = c->regs; g; g = g->next) {
		if (g->state != REG_SENT || strcmp(g->m.model_id, q->model_id) != 0 ||
		    strcmp(g->m.version, q->version) != 0)
			continue;
		if (kind == 1 && g->fd[1] < 0)
			break; /* nothing to send: the daemon will refuse the registration */
		if (c->upload == g)
			c->upload = NULL;
		g->up_kind = kind;
		g->up_off = q->offset;
		g->want_upload = true;
		break;
	}
	pthread_mutex_unlock(&c->mu);
}

/* Returns false when the connection was closed. */
static bool handle_frame(struct evident_client *c, const uint8_t *body, size_t len, int64_t now)
{
	Evident__V1__Frame *f = evident__v1__frame__unpack(NULL, len, body);
	bool ok = true;

	if (!f) {
		conn_fail(c, -EPROTO, "undecodable frame from the daemon");
		return false;
	}
	switch (f->body_case) {
	case EVIDENT__V1__FRAME__BODY_HELLO_OK:
		if (c->conn != CONN_HELLO || !f->hello_ok->has_protocol_version ||
		    f->hello_ok->protocol_version != PROTOCOL_VERSION) {
			conn_fail(c, -EPROTONOSUPPORT, "unexpected HelloOk from the daemon");
			ok = false;
			break;
		}
		if (f->hello_ok->has_max_frame && f->hello_ok->max_frame > CHUNK_OVERHEAD * 2)
			atomic_store(&c->max_frame, f->hello_ok->max_frame);
		if (c->had_session)
			stat_inc(&c->st_reconnects);
		c->had_session = true;
		c->down_reported = false;
		c->backoff_ms = BACKOFF_MIN_MS;
		c->conn = CONN_REGISTERING;
		pthread_mutex_lock(&c->mu);
		for (struct reg *g = c->regs; g; g = g->next) {
			g->state = REG_NEW; /* every registration again, then records */
			g->retry_at = 0;
		}
		pthread_mutex_unlock(&c->mu);
		break;
	case EVIDENT__V1__FRAME__BODY_ACK:
		if (c->conn >= CONN_REGISTERING)
			on_ack_frame(c, f->ack, now);
		break;
	case EVIDENT__V1__FRAME__BODY_ERROR:
		on_error_frame(c, f->error, now);
		break;
	case EVIDENT__V1__FRAME__BODY_ARTIFACT_REQUEST:
		if (c->conn >= CONN_REGISTERING)
			on_artifact_request(c, f->artifact_request);
		break;
	default:
		break; /* Verdict (not exposed yet) and anything newer */
	}
	evident__v1__frame__free_unpacked(f, NULL);
	return ok;
}

/* Reads and handles what the socket holds. Returns false when the connection was closed. */
static bool read_some(struct evident_client *c, int64_t now)
{
	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = recv(c->fd, c->rbuf, RBUF_SIZE, MSG_DONTWAIT);
		const uint8_t *body;
		size_t len;
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			conn_fail(c, n == 0 ? -ECONNRESET : -errno,
			          n == 0 ? "the daemon closed the connection"
			                 : "reading from the daemon failed");
			return false;
		}
		if (frame_reader_feed(&c->rd, c->rbuf, (size_t)n) < 0) {
			conn_fail(c, -ENOMEM, "out of memory reading from the daemon");
			return false;
		}
		while ((r = frame_reader_next(&c->rd, &body, &len)) == 1)
			if (!handle_frame(c, body, len, now))
				return false;
		if (r < 0) {
			conn_fail(c, -EPROTO, "malformed frame from the daemon");
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ the I/O thread */

static int64_t min_time(int64_t a, int64_t b)
{
	return a < 0 ? b : (b < 0 ? a : (a < b ? a : b));
}

/* Records still unanswered when the client is freed: each is reported, none is silent. */
static void abandon_all(struct evident_client *c)
{
	uint64_t tail;

	pthread_mutex_lock(&c->mu);
	tail = c->tail;
	pthread_mutex_unlock(&c->mu);
	for (uint64_t p = c->head; p < tail; p++) {
		struct slot *s = slot_at(c, p);
		if (p >= c->sent_hwm &&
		    (!atomic_load_explicit(&s->ready, memory_order_acquire) || s->pos != p))
			break; /* a caller broke the contract and is still filling it */
		if (p >= c->sent_hwm) {
			c->sent_hwm = p + 1;
			if (s->skip) {
				s->state = SLOT_DONE;
				continue;
			}
		}
		if (s->state != SLOT_DONE)
			slot_complete(
			    c, s, -ECANCELED, 0, false,
			    "the client was freed before the daemon acknowledged the record");
	}
	advance_head(c);
}

static void *io_main(void *arg)
{
	struct evident_client *c = arg;

	for (;;) {
		int64_t now = mono_ms(), wake_at = -1;
		struct pollfd pfd[2] = {{.fd = c->efd, .events = POLLIN}, {.fd = -1}};
		bool starved = false, more = false, stop;
		int timeout, n;

		pthread_mutex_lock(&c->mu);
		stop = c->stopping && (c->head == c->tail || now >= c->stop_deadline);
		if (c->stopping)
			wake_at = c->stop_deadline;
		pthread_mutex_unlock(&c->mu);
		if (stop)
			break;

		if (c->conn == CONN_DOWN && now >= c->next_connect)
			conn_start(c, now);
		if ((c->conn == CONN_CONNECTING || c->conn == CONN_HELLO) && now >= c->deadline)
			conn_fail(c, -ETIMEDOUT, "timed out connecting to the daemon");
		for (int round = 0; c->fd >= 0; round++) {
			int r;
			if (round == WRITE_ROUNDS) {
				more = true; /* read acks first, then carry on at once */
				break;
			}
			if (c->conn != CONN_CONNECTING)
				fill(c, now, &starved);
			if (c->wlen == c->woff)
				break;
			r = write_some(c);
			if (r < 0) {
				/* read the answers the daemon sent before it went away first: fewer
				 * records to resend */
				if (read_some(c, now))
					conn_fail(c, r, "writing to the daemon failed");
				break;
			}
			if (r == 0)
				break;
		}
		advance_head(c);

		switch (c->conn) {
		case CONN_DOWN:
			wake_at = min_time(wake_at, c->next_connect);
			break;
		case CONN_CONNECTING:
			pfd[1] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
			wake_at = min_time(wake_at, c->deadline);
			break;
		case CONN_HELLO:
			wake_at = min_time(wake_at, c->deadline);
			__attribute__((fallthrough));
		default:
			pfd[1] = (struct pollfd){.fd = c->fd, .events = POLLIN};
			if (c->wlen > c->woff)
				pfd[1].events |= POLLOUT;
			if (c->pause_until > now)
				wake_at = min_time(wake_at, c->pause_until);
			pthread_mutex_lock(&c->mu);
			for (struct reg *g = c->regs; g; g = g->next)
				if (g->state == REG_NEW && g->retry_at > now)
					wake_at = min_time(wake_at, g->retry_at);
			pthread_mutex_unlock(&c->mu);
		}
		timeout = wake_at < 0 ? -1 : (wake_at <= now ? 0 : (int)(wake_at - now));
		if (more)
			timeout = 0;

		/* Sleep protocol with the callers (Dekker-style, all seq_cst): announce the sleep,
		 * then look at the awaited slot once more; a caller publishes, then looks at
		 * io_sleeping. At least one of the two sees the other's store. */
		if (starved) {
			struct slot *s = slot_at(c, c->send_pos);
			atomic_store(&c->io_sleeping, 1);
			if (atomic_load(&s->ready) && s->pos == c->send_pos) {
				atomic_store(&c->io_sleeping, 0);
				timeout = 0;
			}
		}
		n = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, timeout);
		atomic_store(&c->io_sleeping, 0);
		if (n < 0)
			continue; /* EINTR */
		now = mono_ms();
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			ssize_t r = read(c->efd, &v, sizeof(v));
			(void)r;
		}
		if (pfd[1].fd < 0 || !pfd[1].revents)
			continue;
		if (c->conn == CONN_CONNECTING) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				soerr = errno;
			if (soerr) {
				conn_fail(c, -soerr, "cannot connect to the daemon");
				continue;
			}
			c->conn = CONN_HELLO;
			send_hello(c);
			continue;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
			if (!read_some(c, now))
				continue;
		advance_head(c);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	abandon_all(c);
	return NULL;
}

/* ------------------------------------------------------------------ public API */

static bool valid_name(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (s[n] <= ' ' || s[n] > '~')
			return false;
	return n >= 1 && n <= EVIDENT_CLIENT_NAME_MAX;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) {
		/* entropy pool not ready (early boot): uniqueness is what matters here */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
		    ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&v;
	}
	return v;
}

static void client_destroy(struct evident_client *c)
{
	struct reg *g = c->regs;

	while (g) {
		struct reg *next = g->next;
		reg_free(g);
		g = next;
	}
	if (c->slots)
		for (size_t i = 0; i <= c->mask; i++)
			free(c->slots[i].buf);
	free(c->slots);
	free(c->ht);
	free(c->wbuf);
	free(c->rbuf);
	free(c->chunk);
	frame_reader_deinit(&c->rd);
	if (c->efd >= 0)
		close(c->efd);
	pthread_cond_destroy(&c->flush_cv);
	pthread_mutex_destroy(&c->mu);
	pthread_condattr_destroy(&c->cattr);
	free(c->socket_path);
	free(c);
}

int evident_client_new(const struct evident_options *o, struct evident_client **ret)
{
	static const char hex[] = "0123456789abcdef";
	const char *path;
	struct evident_client *c;
	sigset_t all, old;
	size_t cap = 1;
	uint64_t rnd;
	int r;

	if (!o || !ret || !valid_name(o->client_name))
		return -EINVAL;
	path = o->socket_path ? o->socket_path : EVIDENT_DEFAULT_SOCKET;
	if (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -EINVAL;
	if (o->max_queue > EVIDENT_MAX_QUEUE_LIMIT ||
	    (o->max_inflight && o->max_queue && o->max_inflight > o->max_queue))
		return -EINVAL;

	c = aligned_alloc(CACHE_LINE, (sizeof(*c) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE);
	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->efd = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&c->cattr);
	pthread_condattr_setclock(&c->cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->flush_cv, &c->cattr);
	frame_reader_init(&c->rd, FRAME_MAX_DEFAULT);

	c->max_queue = o->max_queue ? o->max_queue : EVIDENT_DEFAULT_MAX_QUEUE;
	c->max_queue_bytes =
	    o->max_queue_bytes ? o->max_queue_bytes : EVIDENT_DEFAULT_MAX_QUEUE_BYTES;
	c->max_inflight = o->max_inflight ? o->max_inflight : c->max_queue;
	if (c->max_inflight > c->max_queue)
		c->max_inflight = c->max_queue;
	c->connect_timeout_ms =
	    o->connect_timeout_ms ? o->connect_timeout_ms : EVIDENT_DEFAULT_CONNECT_TIMEOUT_MS;
	c->max_backoff_ms = o->max_backoff_ms ? o->max_backoff_ms : EVIDENT_DEFAULT_MAX_BACKOFF_MS;
	if (c->max_backoff_ms < BACKOFF_MIN_MS)
		c->max_backoff_ms = BACKOFF_MIN_MS;
	c->max_retries = o->max_retries ? o->max_retries : EVIDENT_DEFAULT_MAX_RETRIES;
	if (c->max_retries > 255)
		c->max_retries = 255;
	c->close_timeout_ms =
	    o->close_timeout_ms ? o->close_timeout_ms : EVIDENT_DEFAULT_CLOSE_TIMEOUT_MS;
	strcpy(c->name, o->client_name); /* length checked by valid_name() */
	c->on_ack = o->on_ack;
	c->on_error = o->on_error;
	c->userdata = o->userdata;
	c->backoff_ms = BACKOFF_MIN_MS;
	atomic_init(&c->max_frame, FRAME_MAX_DEFAULT);

	/* "<name>-<16 hex>-": random per client, so two clients of one process (or a restarted
	 * process) never reuse each other's ids */
	rnd = random_u64();
	c->id_prefix_len =
	    (size_t)snprintf(c->id_prefix, sizeof(c->id_prefix), "%s-", o->client_name);
	for (int i = 15; i >= 0; i--)
		c->id_prefix[c->id_prefix_len++] = hex[(rnd >> (4 * i)) & 15];
	c->id_prefix[c->id_prefix_len++] = '-';
	c->id_prefix[c->id_prefix_len] = '\0';

	while (cap < c->max_queue)
		cap <<= 1;
	c->mask = cap - 1;
	c->ht_mask = cap * 2 - 1;
	c->ht_gen = 2;
	c->socket_path = strdup(path);
	c->slots = calloc(cap, sizeof(*c->slots));
	c->ht = calloc(cap * 2, sizeof(*c->ht));
	c->wbuf = malloc(WBUF_INIT);
	c->wcap = WBUF_INIT;
	c->rbuf = malloc(RBUF_SIZE);
	c->chunk = malloc(CHUNK_SIZE);
	if (!c->socket_path || !c->slots || !c->ht || !c->wbuf || !c->rbuf || !c->chunk) {
		r = -ENOMEM;
		goto fail;
	}
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->efd < 0) {
		r = -errno;
		goto fail;
	}

	/* the I/O thread takes no signals: they stay with the application's threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&c->thread, NULL, io_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	c->thread_started = true;
	pthread_setname_np(c->thread, "evident-io");
	*ret = c;
	return 0;
fail:
	client_destroy(c);
	return r;
}

void evident_client_free(struct evident_client *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->mu);
		c->stopping = true;
		c->stop_deadline = mono_ms() + c->close_timeout_ms;
		pthread_mutex_unlock(&c->mu);
		wake(c);
		pthread_join(c->thread, NULL);
	}
	client_destroy(c);
}

/* Writes the decimal digits of v at p; returns their count. */
static size_t put_decimal(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static void publish(struct evident_client *c, struct slot *s)
{
	atomic_store(&s->ready, 1);
	if (atomic_load(&c->io_sleeping) && atomic_exchange(&c->io_sleeping, 0))
		wake(c);
}

/* A string the daemon accepts: UTF-8 (PROTOCOL.md, Strings; a C string has no NUL). NULL is
 * fine: the field is left out. */
static bool is_text(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return wire_text_check((const uint8_t *)s, n, NULL) == n;
}

/* A data subject the daemon accepts (PROTOCOL.md, Records): 1 to EVIDENT_SUBJECT_MAX bytes of
 * UTF-8 without control characters (C0, DEL, C1). */
static bool is_subject(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > EVIDENT_SUBJECT_MAX || !is_text(s))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];
		if (b < 0x20 || b == 0x7f ||
		    (b == 0xc2 && (unsigned char)s[i + 1] >= 0x80 &&
		     (unsigned char)s[i + 1] <= 0x9f))
			return false;
	}
	return true;
}

/* Encodes r into a fresh slot and publishes it. On success *ret_pos is its position. */
static int submit(struct evident_client *c, const struct evident_record *r, struct waiter *w,
                  uint64_t *ret_pos)
{
	Evident__V1__Record rec = EVIDENT__V1__RECORD__INIT;
	Evident__V1__Record__ContextEntry ctx[EVIDENT_MAP_ENTRIES_MAX];
	Evident__V1__Record__ContextEntry *ctxp[EVIDENT_MAP_ENTRIES_MAX];
	Evident__V1__Record__LabelsEntry lab[EVIDENT_MAP_ENTRIES_MAX];
	Evident__V1__Record__LabelsEntry *labp[EVIDENT_MAP_ENTRIES_MAX];
	char idbuf[sizeof(c->id_prefix) + 20];
	const char *id;
	size_t id_len, rsize, body, hlen, flen, need;
	uint8_t hdr[FRAME_HEADER_MAX], *p;
	struct slot *s;
	uint64_t pos;

	if (!c || !r || !r->model_id || !r->model_version)
		return -EINVAL;
	if (r->n_context > EVIDENT_MAP_ENTRIES_MAX || r->n_labels > EVIDENT_MAP_ENTRIES_MAX ||
	    (r->n_features && !r->features) || (r->n_scores && !r->scores) ||
	    (r->n_context && (!r->context_keys || !r->context_values)) ||
	    (r->n_labels && (!r->label_keys || !r->label_values)))
		return -EINVAL;

	if (!is_text(r->model_id) || !is_text(r->model_version) || !is_text(r->decision) ||
	    !is_text(r->trace_id) || (r->subject && !is_subject(r->subject)))
		return -EINVAL;
	if (r->request_id) {
		id = r->request_id;
		id_len = strlen(id);
		if (id_len == 0 || id_len > EVIDENT_REQUEST_ID_MAX || !is_text(id))
			return -EINVAL;
	} else {
		uint64_t n = atomic_fetch_add_explicit(&c->id_counter, 1, memory_order_relaxed);
		memcpy(idbuf, c->id_prefix, c->id_prefix_len);
		id_len = c->id_prefix_len + put_decimal(idbuf + c->id_prefix_len, n);
		idbuf[id_len] = '\0';
		id = idbuf;
	}

	/* protobuf-c's structs are not const-correct; pack() only reads through these */
	rec.model_id = (char *)r->model_id;
	rec.model_version = (char *)r->model_version;
	rec.request_id = (char *)id;
	rec.has_timestamp_unix_ns = 1;
	rec.timestamp_unix_ns = r->timestamp_unix_ns ? r->timestamp_unix_ns : realtime_ns();
	rec.n_features = r->n_features;
	rec.features = (double *)r->features;
	rec.n_scores = r->n_scores;
	rec.scores = (double *)r->scores;
	rec.decision = (char *)r->decision;
	rec.has_base_margin = r->has_base_margin;
	rec.base_margin = r->base_margin;
	for (size_t i = 0; i < r->n_context; i++) {
		if (!r->context_keys[i] || !is_text(r->context_keys[i]))
			return -EINVAL;
		ctx[i] =
		    (Evident__V1__Record__ContextEntry)EVIDENT__V1__RECORD__CONTEXT_ENTRY__INIT;
		ctx[i].key = (char *)r->context_keys[i];
		ctx[i].has_value = 1;
		ctx[i].value = r->context_values[i];
		ctxp[i] = &ctx[i];
	}
	rec.n_context = r->n_context;
	rec.context = ctxp;
	for (size_t i = 0; i < r->n_labels; i++) {
		if (!r->label_keys[i] || !r->label_values[i] || !is_text(r->label_keys[i]) ||
		    !is_text(r->label_values[i]))
			return -EINVAL;
		lab[i] = (Evident__V1__Record__LabelsEntry)EVIDENT__V1__RECORD__LABELS_ENTRY__INIT;
		lab[i].key = (char *)r->label_keys[i];
		lab[i].value = (char *)r->label_values[i];
		labp[i] = &lab[i];
	}
	rec.n_labels = r->n_labels;
	rec.labels = labp;
	rec.trace_id = (char *)r->trace_id;
	if (r->verdict_deadline_ms) {
		rec.has_verdict_deadline_ms = 1;
		rec.verdict_deadline_ms = r->verdict_deadline_ms;
	}
	rec.subject = (char *)r->subject;

	rsize = protobuf_c_message_get_packed_size(&rec.base);
	body = 1 + varint_len(rsize) + rsize;
	if (body > atomic_load_explicit(&c->max_frame, memory_order_relaxed))
		return -EMSGSIZE;
	hlen = frame_header_encode(body, hdr);
	flen = hlen + body;
	need = flen + id_len + 1;

	pthread_mutex_lock(&c->mu);
	if (c->tail - c->head >= c->max_queue ||
	    (c->queued_bytes + flen > c->max_queue_bytes && c->tail != c->head)) {
		c->n_refused++;
		pthread_mutex_unlock(&c->mu);
		return -EAGAIN;
	}
	pos = c->tail++;
	c->n_queued++;
	c->queued_bytes += flen;
	pthread_mutex_unlock(&c->mu);

	/* the slot is ours until published: nobody else reads or writes it */
	s = slot_at(c, pos);
	s->pos = pos;
	s->sync = w != NULL;
	s->waiter = w;
	s->skip = false;
	if (s->cap < need || (s->cap > SLOT_SHRINK_CAP && s->cap / 4 > need)) {
		size_t ncap = SLOT_MIN_CAP;
		uint8_t *nb;
		while (ncap < need)
			ncap *= 2;
		nb = realloc(s->buf, ncap);
		if (!nb) {
			/* the position is taken: publish it as a hole the I/O thread skips */
			s->skip = true;
			s->sync = false;
			s->waiter = NULL;
			pthread_mutex_lock(&c->mu);
			c->n_queued--;
			c->queued_bytes -= flen;
			pthread_mutex_unlock(&c->mu);
			publish(c, s);
			return -ENOMEM;
		}
		s->buf = nb;
		s->cap = (uint32_t)ncap;
	}
	p = s->buf;
	memcpy(p, hdr, hlen);
	p += hlen;
	*p++ = FRAME_TAG_RECORD;
	p += frame_header_encode(rsize, p); /* the same varint as a length prefix */
	protobuf_c_message_pack(&rec.base, p);
	memcpy(s->buf + flen, id, id_len);
	s->buf[flen + id_len] = '\0';
	s->len = (uint32_t)flen;
	s->id_len = (uint16_t)id_len;
	if (ret_pos)
		*ret_pos = pos;
	publish(c, s);
	return 0;
}

int evident_record(struct evident_client *c, const struct evident_record *r)
{
	return submit(c, r, NULL, NULL);
}

int evident_record_sync(struct evident_client *c, const struct evident_record *r, int timeout_ms,
                        uint64_t *ret_seq)
{
	struct waiter w = {0};
	uint64_t pos;
	int err;

	if (!c)
		return -EINVAL;
	pthread_cond_init(&w.cv, &c->cattr);
	err = submit(c, r, &w, &pos);
	if (err < 0) {
		pthread_cond_destroy(&w.cv);
		return err;
	}
	pthread_mutex_lock(&c->mu);
	if (!wait_done(c, &w.cv, &w.done, timeout_ms)) {
		/* detach: the record stays queued, its outcome goes to the callbacks only */
		struct slot *s = slot_at(c, pos);
		if (s->waiter == &w)
			s->waiter = NULL;
		err = -ETIMEDOUT;
	} else {
		err = w.err;
	}
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&w.cv);
	if (err == 0 && ret_seq)
		*ret_seq = w.seq;
	return err;
}

int evident_flush(struct evident_client *c, int timeout_ms)
{
	struct timespec ts = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
	uint64_t target;
	int r = 0;

	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->mu);
	target = c->tail;
	c->flush_waiters++;
	while (c->head < target) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&c->flush_cv, &c->mu);
		} else if (pthread_cond_timedwait(&c->flush_cv, &c->mu, &ts) == ETIMEDOUT) {
			if (c->head < target)
				r = -ETIMEDOUT;
			break;
		}
	}
	c->flush_waiters--;
	pthread_mutex_unlock(&c->mu);
	return r;
}

void evident_stats(struct evident_client *c, struct evident_stats *ret)
{
	pthread_mutex_lock(&c->mu);
	ret->queued = c->n_queued;
	ret->refused_queue_full = c->n_refused;
	ret->pending = c->tail - c->head;
	pthread_mutex_unlock(&c->mu);
	ret->sent = atomic_load_explicit(&c->st_sent, memory_order_relaxed);
	ret->resent = atomic_load_explicit(&c->st_resent, memory_order_relaxed);
	ret->acked = atomic_load_explicit(&c->st_acked, memory_order_relaxed);
	ret->duplicates = atomic_load_explicit(&c->st_dup, memory_order_relaxed);
	ret->errors = atomic_load_explicit(&c->st_errors, memory_order_relaxed);
	ret->retries = atomic_load_explicit(&c->st_retries, memory_order_relaxed);
	ret->reconnects = atomic_load_explicit(&c->st_reconnects, memory_order_relaxed);
}

int evident_register(struct evident_client *c, const char *manifest_json, const char *artifact_path,
                     const char *reference_path, int timeout_ms, uint64_t *ret_seq)
{
	struct reg *g;
	struct waiter w = {0};
	uint64_t seq = 0;
	int r;

	if (!c || !manifest_json || !artifact_path)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->fd[0] = open(artifact_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	g->fd[1] = -1;
	if (g->fd[0] < 0) {
		r = -errno;
		goto out;
	}
	if (reference_path) {
		g->fd[1] = open(reference_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (g->fd[1] < 0) {
			r = -errno;
			goto out;
		}
	}
	r = evident__manifest_build(manifest_json, g->fd[0], g->fd[1], &g->m, NULL, 0);
	if (r < 0)
		goto out;

	pthread_cond_init(&w.cv, &c->cattr);
	pthread_mutex_lock(&c->mu);
	for (struct reg *o = c->regs; o; o = o->next) {
		if (strcmp(o->m.key, g->m.key) != 0)
			continue;
		if (o->state == REG_OK && o->ok_once && o->m.frame_len == g->m.frame_len &&
		    memcmp(o->m.frame, g->m.frame, g->m.frame_len) == 0) {
			seq = o->seq;
			r = 1; /* known: answered before */
		} else if (o->state != REG_OK || o->waiter) {
			r = -EALREADY;
		}
		break;
	}
	if (r == 0) {
		g->state = REG_NEW;
		g->waiter = &w;
		g->next = c->regs;
		c->regs = g;
	}
	pthread_mutex_unlock(&c->mu);
	if (r != 0) {
		pthread_cond_destroy(&w.cv);
		if (r == 1) {
			r = 0;
			if (ret_seq)
				*ret_seq = seq;
		}
		goto out;
	}
	wake(c);

	pthread_mutex_lock(&c->mu);
	if (!wait_done(c, &w.cv, &w.done, timeout_ms)) {
		g->waiter = NULL; /* still listed: the I/O thread owns g from here */
		r = -ETIMEDOUT;
	} else {
		r = w.err;
		seq = w.seq;
	}
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&w.cv);
	if (r == 0 && ret_seq)
		*ret_seq = seq;
	return r;
out:
	reg_free(g);
	return r;
}
