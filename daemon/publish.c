/* SPDX-License-Identifier: Apache-2.0 */
/* The publisher thread (publish.h): witnesses through one libcurl multi handle, and the tiles
 * copy of the log. */
#include "publish.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evident/invariant.h"
#include "evident_version.h"
#include "log.h"

#define RESPONSE_MAX   (64u << 10) /* a witness's answer: a few signature lines */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define RESYNC_MAX     3    /* 409s with a new size in a row before it counts as refusing */
#define LATENCY_KEEP   4096 /* quorum latencies kept for the percentiles (a ring) */
#define TILES_EVERY_MS 1000 /* tiles_dir is brought up to date at most this often */

enum wstate {
	WIT_OK,          /* answering with cosignatures (or not asked yet) */
	WIT_UNREACHABLE, /* no usable answer: connection, timeout, 5xx, garbage */
	WIT_REFUSED,     /* a refusal: 4xx, a fork (409 at an unexpected size, 422) */
};

static const char *const state_kind[] = {
    [WIT_OK] = "witness_ok",
    [WIT_UNREACHABLE] = "witness_unreachable",
    [WIT_REFUSED] = "witness_refused",
};

struct witness {
	struct publisher *p;
	char *name;
	char *url; /* submission prefix + "/add-checkpoint" */
	struct vault_pubkey key;
	uint32_t timeout_ms;
	CURL *easy;
	struct curl_slist *headers;
	bool busy;
	/* the request in flight */
	char *req;
	size_t req_len;
	size_t req_body_len; /* the checkpoint body's length within the note we sent */
	char *req_note;      /* that note (the body is its prefix) */
	uint64_t req_size, req_old, req_signed_ns;
	char *resp;
	size_t resp_len;
	bool resp_overflow;
	/* what we know of the witness */
	uint64_t old_size; /* the size it last cosigned, as far as we know (0: none) */
	atomic_uint_fast64_t cosigned_size; /* the newest size it cosigned in this run */
	bool nats; /* nats = yes: cosignatures arrive through the forwarder (publish_cosignature) */
	unsigned resyncs;  /* 409s in a row that named a new size */
	unsigned failures; /* attempts in a row without a cosignature */
	uint64_t next_ns;  /* monotonic: not before (0: at once) */
	enum wstate state;
};

struct event {
	struct event *next;
	char kind[32];
	char detail[600];
};

struct publisher {
	struct vault *v;
	pthread_t thread;
	bool thread_started;
	CURLM *multi;
	struct witness *w;
	size_t n;
	unsigned quorum;
	char *tiles_dir;

	pthread_mutex_t lock;
	pthread_cond_t progress; /* quorum_size or tiles_size moved */
	uint64_t latest;         /* newest signed size (lock) */
	uint64_t latest_ns;      /* when it was signed, monotonic (lock) */
	uint64_t quorum_size;    /* newest size with the quorum stored (lock) */
	uint64_t tiles_size;     /* newest size exported to tiles_dir (lock) */
	bool stop;               /* (lock) */
	bool stopping;           /* publish_stop waits: publish the final checkpoint now (lock) */
	bool waited;             /* publish_wait ran (the stopping thread only) */
	/* publisher thread only: the tiles export */
	uint64_t tiles_done;    /* size of the checkpoint in tiles_dir */
	size_t tiles_note_len;  /* its length there (grows with cosignatures) */
	uint64_t tiles_next_ns; /* not before */
	int tiles_failed;       /* the last error, logged once */
	double *lat;            /* quorum latencies, ms (lock) */
	size_t n_lat, next_lat;

	uv_async_t async; /* hands events to the loop while attached */
	bool attached;    /* (lock) */
	struct event *ev_head, *ev_tail;
	publish_notice_fn notice;
	void *data;

	atomic_uint_fast64_t submitted, cosigned, refused, unreachable, quorum_reached;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ events to the loop */

static void on_async(uv_async_t *a)
{
	struct publisher *p = a->data;
	struct event *e;

	pthread_mutex_lock(&p->lock);
	e = p->ev_head;
	p->ev_head = p->ev_tail = NULL;
	pthread_mutex_unlock(&p->lock);
	while (e) {
		struct event *next = e->next;
		p->notice(p->data, e->kind, e->detail);
		free(e);
		e = next;
	}
}

/* Publisher thread: a witness's state changed. */
static void set_state(struct witness *w, enum wstate s, const char *detail)
{
	struct publisher *p = w->p;
	struct event *e;

	if (s == w->state)
		return;
	w->state = s;
	if (s == WIT_REFUSED)
		log_error("witness %s refuses our checkpoints: %s", w->name, detail);
	else if (s == WIT_UNREACHABLE)
		log_warning("witness %s unreachable: %s; retrying with backoff", w->name, detail);
	else
		log_notice("witness %s cosigns again: %s", w->name, detail);
	e = calloc(1, sizeof(*e));
	if (!e) {
		log_error("recording the state of witness %s: out of memory", w->name);
		return;
	}
	snprintf(e->kind, sizeof(e->kind), "%s", state_kind[s]);
	snprintf(e->detail, sizeof(e->detail), "witness %s (%s): %s", w->name, w->url, detail);
	pthread_mutex_lock(&p->lock);
	if (p->attached) {
		if (p->ev_tail)
			p->ev_tail->next = e;
		else
			p->ev_head = e;
		p->ev_tail = e;
		uv_async_send(&p->async);
		e = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	free(e); /* the loop is gone: logged only */
}

/* ------------------------------------------------------------------ requests */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct witness *w = ud;
	size_t n = size * nmemb;
	char *grown;

	if (w->resp_len + n > RESPONSE_MAX) {
		w->resp_overflow = true;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	grown = realloc(w->resp, w->resp_len + n + 1);
	if (!grown)
		return 0;
	w->resp = grown;
	memcpy(w->resp + w->resp_len, data, n);
	w->resp_len += n;
	w->resp[w->resp_len] = '\0';
	return n;
}

static void request_free(struct witness *w)
{
	free(w->req);
	free(w->req_note);
	free(w->resp);
	w->req = w->req_note = w->resp = NULL;
	w->req_len = w->resp_len = 0;
	w->resp_overflow = false;
}

static void backoff(struct witness *w)
{
	unsigned shift = w->failures < 8 ? w->failures : 8;
	uint64_t ms = (uint64_t)BACKOFF_MIN_MS << shift;

	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	/* jitter, so that witnesses and daemons do not retry in step */
	ms += ms * (mono_ns() / 1000 % 25) / 100;
	w->failures++;
	w->next_ns = mono_ns() + ms * 1000000;
}

/* The add-checkpoint body: "old N\n", the proof in base64 lines, "\n", the note. */
static int build_request(struct witness *w, uint64_t size)
{
	uint8_t proof[VAULT_PROOF_MAX][VAULT_HASH_LEN];
	struct vault_reader *r;
	char *note = NULL, *req, *o;
	size_t body_len, nlen;
	int n = 0, rc;

	rc = vault_reader_begin(w->p->v, &r);
	if (rc < 0)
		return rc;
	rc = vault_checkpoint_get(r, size, &note, NULL);
	if (rc == 0 && w->old_size > 0 && w->old_size < size) {
		n = vault_prove_consistency(r, w->old_size, size, proof);
		rc = n < 0 ? n : 0;
	}
	vault_reader_end(r);
	if (rc == 0)
		rc = vault_note_split(note, strlen(note), &body_len);
	if (rc < 0) {
		free(note);
		return rc;
	}
	nlen = strlen(note);
	req = malloc(32 + (size_t)n * 46 + 1 + nlen + 1);
	if (!req) {
		free(note);
		return -ENOMEM;
	}
	o = req + sprintf(req, "old %" PRIu64 "\n", w->old_size);
	for (int i = 0; i < n; i++) {
		o += EVP_EncodeBlock((unsigned char *)o, proof[i], VAULT_HASH_LEN);
		*o++ = '\n';
	}
	*o++ = '\n';
	memcpy(o, note, nlen);
	o += nlen;
	*o = '\0';
	w->req = req;
	w->req_len = (size_t)(o - req);
	w->req_note = note;
	w->req_body_len = body_len;
	w->req_size = size;
	w->req_old = w->old_size;
	return 0;
}

static void submit(struct witness *w, uint64_t size, uint64_t signed_ns)
{
	CURL *e = w->easy;
	int rc = build_request(w, size);

	if (rc < 0) {
		log_error("witness %s: preparing the checkpoint of %" PRIu64 " entries: %s",
		          w->name, size, strerror(-rc));
		request_free(w);
		backoff(w);
		return;
	}
	w->req_signed_ns = signed_ns;
	curl_easy_setopt(e, CURLOPT_URL, w->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, w->req);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->req_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(e, CURLOPT_PRIVATE, w);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(w->timeout_ms < 5000 ? w->timeout_ms : 5000));
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "evidentd/" EVIDENT_VERSION);
	if (curl_multi_add_handle(w->p->multi, e) != CURLM_OK) {
		log_error("witness %s: libcurl refused the request", w->name);
		request_free(w);
		backoff(w);
		return;
	}
	w->busy = true;
	atomic_fetch_add(&w->p->submitted, 1);
}

/* ------------------------------------------------------------------ answers */

/* A cosignature of the checkpoint of size entries was stored: is it witnessed now? signed_ns
 * (monotonic; 0: unknown) is when that checkpoint was signed, for the latency figures. */
static void record_quorum(struct publisher *p, uint64_t size, uint64_t signed_ns)
{
	unsigned have = 0;
	double ms;

	for (size_t i = 0; i < p->n; i++)
		have += atomic_load(&p->w[i].cosigned_size) >= size;
	pthread_mutex_lock(&p->lock);
	if (signed_ns == 0 && size == p->latest)
		signed_ns = p->latest_ns;
	if (have >= p->quorum && size > p->quorum_size) {
		p->quorum_size = size;
		ms = signed_ns ? (double)(mono_ns() - signed_ns) / 1e6 : 0;
		if (!p->lat)
			p->lat = calloc(LATENCY_KEEP, sizeof(*p->lat));
		if (p->lat) {
			p->lat[p->next_lat] = ms;
			p->next_lat = (p->next_lat + 1) % LATENCY_KEEP;
			if (p->n_lat < LATENCY_KEEP)
				p->n_lat++;
		}
		atomic_fetch_add(&p->quorum_reached, 1);
		pthread_cond_broadcast(&p->progress);
	}
	pthread_mutex_unlock(&p->lock);
}

#define NO_VALID_COSIG                                                                        \
	"without a valid cosignature by its key (check vkey; a timestamp ahead of our clock " \
	"does not count)"

/* The witness's signature lines (lines[0..len), one or more, each ending in a newline) for the
 * checkpoint body[0..body_len) of size entries: its cosignature among them is checked (by its
 * key, its timestamp not ahead of our clock) and stored beside the checkpoint, and the
 * quorum looked at. For both ways cosignatures come: HTTP answers and NATS messages.
 * Returns 0; -EBADMSG (not signature lines); -EKEYREJECTED (none valid by the witness's key);
 * vault_cosignature_add's errors (logged). Any thread, one at a time per witness. */
static int store_cosignature(struct witness *w, const char *body, size_t body_len,
                             const char *lines, size_t len, uint64_t size, uint64_t signed_ns)
{
	struct publisher *p = w->p;
	struct vault_cosig_check chk;
	char *buf;
	int rc;

	/* appended to the checkpoint's body they must make a note on which the witness's key
	 * has a valid cosignature */
	if (len == 0 || lines[len - 1] != '\n')
		return -EBADMSG;
	if (!(buf = malloc(body_len + 1 + len)))
		return -ENOMEM;
	memcpy(buf, body, body_len);
	buf[body_len] = '\n';
	memcpy(buf + body_len + 1, lines, len);
	rc = vault_cosignatures_verify(buf, body_len + 1 + len, &w->key, 1, (uint64_t)time(NULL),
	                               &chk);
	if (rc != 1) {
		free(buf);
		return -EKEYREJECTED;
	}
	rc = vault_cosignature_add(p->v, size, &w->key, buf + chk.line_off, chk.line_len);
	free(buf);
	if (rc < 0) {
		log_error("witness %s: storing its cosignature of %" PRIu64 " entries: %s", w->name,
		          size, strerror(-rc));
		return rc;
	}
	if (size > atomic_load(&w->cosigned_size))
		atomic_store(&w->cosigned_size, size);
	atomic_fetch_add(&p->cosigned, 1);
	record_quorum(p, size, signed_ns);
	return 0;
}

static void on_cosigned(struct witness *w)
{
	char detail[160];
	int rc = store_cosignature(w, w->req_note, w->req_body_len, w->resp, w->resp_len,
	                           w->req_size, w->req_signed_ns);

	if (rc == -EBADMSG || rc == -EKEYREJECTED) {
		set_state(w, WIT_UNREACHABLE,
		          rc == -EBADMSG ? "answered 200 without signature lines"
		                         : "answered 200 " NO_VALID_COSIG);
		backoff(w);
		return;
	}
	if (rc < 0) {
		backoff(w);
		return;
	}
	w->old_size = w->req_size;
	w->resyncs = w->failures = 0;
	w->next_ns = 0;
	snprintf(detail, sizeof(detail), "cosigned the checkpoint of %" PRIu64 " entries",
	         w->req_size);
	set_state(w, WIT_OK, detail);
}

int publish_cosignature(struct publisher *p, const char *name, uint64_t size, const char *line,
                        size_t len, char *err, size_t err_size)
{
	struct witness *w = NULL;
	struct vault_reader *r;
	char *note = NULL, detail[200];
	size_t body_len;
	int rc;

	for (size_t i = 0; p && i < p->n && !w; i++)
		if (p->w[i].nats && !strcmp(p->w[i].key.name, name))
			w = &p->w[i];
	if (!w) {
		snprintf(err, err_size,
		         "no [witness] section with nats = yes has a vkey named \"%s\"", name);
		return -ENOENT;
	}
	rc = vault_reader_begin(p->v, &r);
	if (rc == 0) {
		rc = vault_checkpoint_get(r, size, &note, NULL);
		vault_reader_end(r);
	}
	if (rc == 0)
		rc = vault_note_split(note, strlen(note), &body_len);
	if (rc == 0)
		rc = store_cosignature(w, note, body_len, line, len, size, 0);
	free(note);
	if (rc == -ENOENT)
		snprintf(err, err_size, "this vault signed no checkpoint of %" PRIu64 " entries",
		         size);
	else if (rc == -EKEYREJECTED || rc == -EBADMSG)
		snprintf(err, err_size, "witness %s: a line " NO_VALID_COSIG, w->name);
	else if (rc < 0)
		snprintf(err, err_size, "%s", strerror(-rc));
	if (rc == -EKEYREJECTED || rc == -EBADMSG) {
		atomic_fetch_add(&p->refused, 1);
		set_state(w, WIT_REFUSED, err);
	} else if (rc == 0) {
		snprintf(detail, sizeof(detail), "cosigned the checkpoint of %" PRIu64 " entries",
		         size);
		set_state(w, WIT_OK, detail);
	}
	return rc;
}

/* A 409's body: the size the witness last cosigned, in decimal, and a newline. */
static bool parse_size_body(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len < 2 || len > 21 || s[len - 1] != '\n' || (s[0] == '0' && len > 2))
		return false;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

static void on_conflict(struct witness *w)
{
	char detail[300];
	uint64_t s;

	if (!parse_size_body(w->resp, w->resp_len, &s)) {
		set_state(w, WIT_UNREACHABLE, "answered 409 without a size (text/x.tlog.size)");
		backoff(w);
		return;
	}
	if (s == w->req_old || s > w->req_size) {
		/* It says it cosigned exactly what we claimed (so it holds another tree at that
		 * size), or a larger tree than this vault has ever signed: either way our history
		 * is not the one it saw. */
		snprintf(detail, sizeof(detail),
		         "409: it last cosigned size %" PRIu64 " (we sent old %" PRIu64
		         " for the checkpoint of %" PRIu64 " entries): %s",
		         s, w->req_old, w->req_size,
		         s > w->req_size ? "larger than this log: the vault was rolled back or "
		                           "another log signs with its origin and key"
		                         : "it holds another tree at that size: a forked log");
		atomic_fetch_add(&w->p->refused, 1);
		set_state(w, WIT_REFUSED, detail);
		w->old_size = s > w->req_size ? w->old_size : s;
		backoff(w);
		return;
	}
	/* It last cosigned another size (a restart, a lost answer): prove from there. */
	w->old_size = s;
	if (++w->resyncs > RESYNC_MAX) {
		snprintf(detail, sizeof(detail),
		         "409 %u times in a row, last naming size %" PRIu64
		         " for the checkpoint of "
		         "%" PRIu64 " entries",
		         w->resyncs, s, w->req_size);
		atomic_fetch_add(&w->p->refused, 1);
		set_state(w, WIT_REFUSED, detail);
		backoff(w);
		return;
	}
	w->next_ns = 0;
}

/* A printable excerpt of an error answer, for logs. */
static void excerpt(const struct witness *w, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < w->resp_len && o + 1 < size && o < 120; i++) {
		unsigned char c = (unsigned char)w->resp[i];
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static void on_done(struct witness *w, CURLcode result)
{
	long code = 0;
	char detail[400], ex[128];

	curl_multi_remove_handle(w->p->multi, w->easy);
	w->busy = false;
	if (result != CURLE_OK) {
		snprintf(detail, sizeof(detail), "%s",
		         w->resp_overflow ? "answer over 64 KiB" : curl_easy_strerror(result));
		atomic_fetch_add(&w->p->unreachable, 1);
		set_state(w, WIT_UNREACHABLE, detail);
		backoff(w);
		request_free(w);
		return;
	}
	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
	excerpt(w, ex, sizeof(ex));
	switch (code) {
	case 200:
		on_cosigned(w);
		break;
	case 409:
		on_conflict(w);
		break;
	case 422:
		snprintf(detail, sizeof(detail),
		         "422: the consistency proof from size %" PRIu64 " to %" PRIu64
		         " does not verify against the tree it cosigned at size %" PRIu64
		         ": a forked log",
		         w->req_old, w->req_size, w->req_old);
		atomic_fetch_add(&w->p->refused, 1);
		set_state(w, WIT_REFUSED, detail);
		backoff(w);
		break;
	case 400:
	case 403:
	case 404:
	case 405:
	case 413:
		snprintf(detail, sizeof(detail), "HTTP %ld%s%s%s", code,
		         code == 403   ? " (it does not trust our log key)"
		         : code == 404 ? " (it does not know our origin)"
		                       : "",
		         ex[0] ? ": " : "", ex);
		atomic_fetch_add(&w->p->refused, 1);
		set_state(w, WIT_REFUSED, detail);
		backoff(w);
		break;
	default:
		snprintf(detail, sizeof(detail), "HTTP %ld%s%s", code, ex[0] ? ": " : "", ex);
		atomic_fetch_add(&w->p->unreachable, 1);
		set_state(w, WIT_UNREACHABLE, detail);
		backoff(w);
		break;
	}
	request_free(w);
}

/* ------------------------------------------------------------------ tiles */

/* Brings tiles_dir up to the newest checkpoint with the cosignatures stored so far. An export
 * costs a few fsyncs beside the writer's, so it runs at most every TILES_EVERY_MS (and at
 * once when the newest checkpoint is the final one: publish_stop waits for it). Returns how
 * long until the next export is due (ms; 0: nothing pending). */
static long export_tiles(struct publisher *p, uint64_t latest)
{
	struct vault_tiles_stats st;
	struct vault_checkpoint cp;
	struct vault_reader *r;
	uint64_t now = mono_ns();
	char *note = NULL;
	size_t len = 0;
	bool stopping;
	int rc;

	if (latest == 0)
		return 0;
	pthread_mutex_lock(&p->lock);
	stopping = p->stopping;
	pthread_mutex_unlock(&p->lock);
	if (!stopping && now < p->tiles_next_ns)
		return (long)((p->tiles_next_ns - now) / 1000000) + 1;
	rc = vault_reader_begin(p->v, &r);
	if (rc == 0) {
		rc = vault_checkpoint_latest(r, &note, &cp);
		if (rc == 0 && cp.size == p->tiles_done && strlen(note) == p->tiles_note_len) {
			vault_reader_end(r);
			free(note);
			return 0; /* no new checkpoint, no new cosignature */
		}
		if (rc == 0) {
			len = strlen(note);
			rc = vault_tiles_export(r, note, len, p->tiles_dir, 0, &st);
		}
		vault_reader_end(r);
	}
	free(note);
	p->tiles_next_ns = now + (uint64_t)TILES_EVERY_MS * 1000000;
	if (rc == -EALREADY) {
		/* the folder holds a newer checkpoint of this log (an evidentctl export ran
		 * ahead of us): nothing to publish until the log passes it */
		rc = 0;
		st.files_written = 0;
	}
	if (rc < 0) {
		if (rc != p->tiles_failed)
			log_error("tiles_dir %s: exporting the checkpoint of %" PRIu64
			          " entries failed: %s; retrying",
			          p->tiles_dir, latest, strerror(-rc));
		p->tiles_failed = rc;
		return TILES_EVERY_MS;
	}
	if (p->tiles_failed)
		log_notice("tiles_dir %s: exporting again", p->tiles_dir);
	p->tiles_failed = 0;
	p->tiles_done = cp.size;
	p->tiles_note_len = len;
	log_debug("tiles_dir %s: checkpoint of %" PRIu64 " entries, %" PRIu64 " files written",
	          p->tiles_dir, cp.size, st.files_written);
	pthread_mutex_lock(&p->lock);
	p->tiles_size = cp.size;
	pthread_cond_broadcast(&p->progress);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ------------------------------------------------------------------ the thread */

static void *publish_main(void *arg)
{
	struct publisher *p = arg;

	for (;;) {
		uint64_t latest, latest_ns, now;
		long wait_ms = 1000;
		int running, left;
		CURLMsg *m;
		bool stop;

		pthread_mutex_lock(&p->lock);
		latest = p->latest;
		latest_ns = p->latest_ns;
		stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		now = mono_ns();
		for (size_t i = 0; i < p->n; i++) {
			struct witness *w = &p->w[i];
			if (w->nats || w->busy || latest == 0 ||
			    atomic_load(&w->cosigned_size) >= latest)
				continue;
			if (now >= w->next_ns)
				submit(w, latest, latest_ns);
			else if ((long)((w->next_ns - now) / 1000000) + 1 < wait_ms)
				wait_ms = (long)((w->next_ns - now) / 1000000) + 1;
		}
		curl_multi_perform(p->multi, &running);
		while ((m = curl_multi_info_read(p->multi, &left))) {
			struct witness *w = NULL;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&w);
			INVARIANT(w && w->easy == m->easy_handle);
			on_done(w, m->data.result);
			wait_ms = 0; /* look again at once: a resync or the next checkpoint */
		}
		if (p->tiles_dir) {
			long t = export_tiles(p, latest);
			if (t > 0 && t < wait_ms)
				wait_ms = t;
		}
		if (wait_ms > 0)
			curl_multi_poll(p->multi, NULL, 0, (int)wait_ms, NULL);
	}
	return NULL;
}

/* ------------------------------------------------------------------ start and stop */

static void publisher_free(struct publisher *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct witness *w = &p->w[i];
		if (w->easy) {
			if (w->busy)
				curl_multi_remove_handle(p->multi, w->easy);
			curl_easy_cleanup(w->easy);
		}
		curl_slist_free_all(w->headers);
		request_free(w);
		free(w->name);
		free(w->url);
	}
	free(p->w);
	if (p->multi)
		curl_multi_cleanup(p->multi);
	for (struct event *e = p->ev_head, *next; e; e = next) {
		next = e->next;
		free(e);
	}
	free(p->lat);
	free(p->tiles_dir);
	pthread_cond_destroy(&p->progress);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int witness_init(struct publisher *p, struct witness *w, const struct config_witness *cw)
{
	size_t ul;

	w->p = p;
	w->key = cw->key;
	w->timeout_ms = cw->timeout_ms;
	w->name = strdup(cw->name);
	if (cw->nats) {
		/* nothing to ask: its cosignatures come through the forwarder */
		w->nats = true;
		w->url = strdup("NATS");
		return w->name && w->url ? 0 : -ENOMEM;
	}
	ul = strlen(cw->url);
	w->url = malloc(ul + sizeof("/add-checkpoint"));
	w->easy = curl_easy_init();
	if (!w->name || !w->url || !w->easy)
		return -ENOMEM;
	while (ul > 0 && cw->url[ul - 1] == '/')
		ul--; /* the prefix with or without its slash */
	memcpy(w->url, cw->url, ul);
	strcpy(w->url + ul, "/add-checkpoint");
	/* no "Expect: 100-continue" round trip; the body is plain text */
	w->headers = curl_slist_append(NULL, "Expect:");
	if (w->headers)
		w->headers =
		    curl_slist_append(w->headers, "Content-Type: text/plain; charset=utf-8");
	return w->headers ? 0 : -ENOMEM;
}

static int record_quorum_in_vault(struct vault *v, unsigned quorum)
{
	struct vault_reader *r;
	unsigned have = 0;
	int rc = vault_reader_begin(v, &r);

	if (rc < 0)
		return rc;
	rc = vault_witness_quorum(r, &have);
	vault_reader_end(r);
	if (rc == 0 && have == quorum)
		return 0;
	return vault_witness_quorum_set(v, quorum);
}

int publish_start(struct publisher **ret, uv_loop_t *loop, struct vault *v,
                  const struct config *cfg, publish_notice_fn notice, void *data)
{
	struct publisher *p;
	struct vault_info info;
	int rc;

	*ret = NULL;
	/* libcurl's global state, once, before any other thread uses it (thread-safe since
	 * 7.84; Debian 12 has 7.88) */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	rc = record_quorum_in_vault(v, cfg->n_witnesses ? cfg->witness_quorum : 0);
	if (rc < 0) {
		log_error("recording the witness quorum in the vault: %s", strerror(-rc));
		return rc;
	}
	if (!cfg->n_witnesses && !cfg->tiles_dir)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->progress, NULL);
	p->v = v;
	p->quorum = cfg->witness_quorum;
	p->notice = notice;
	p->data = data;
	rc = -ENOMEM;
	if (cfg->tiles_dir && !(p->tiles_dir = strdup(cfg->tiles_dir)))
		goto fail;
	p->multi = curl_multi_init();
	p->w = calloc(cfg->n_witnesses ? cfg->n_witnesses : 1, sizeof(*p->w));
	if (!p->multi || !p->w)
		goto fail;
	for (size_t i = 0; i < cfg->n_witnesses; i++, p->n++)
		if ((rc = witness_init(p, &p->w[i], &cfg->witnesses[i])) < 0)
			goto fail;
	/* the newest checkpoint at start is the first to publish */
	if (vault_info(v, &info) == 0 && info.has_checkpoint) {
		p->latest = info.checkpoint_size;
		p->latest_ns = mono_ns();
	}
	rc = uv_async_init(loop, &p->async, on_async);
	if (rc < 0)
		goto fail;
	p->async.data = p;
	p->attached = true;
	rc = -pthread_create(&p->thread, NULL, publish_main, p);
	if (rc < 0) {
		publish_detach(p);
		log_error("starting the publisher thread: %s", strerror(-rc));
		*ret = p; /* freed by publish_stop once the handle is closed */
		return rc;
	}
	p->thread_started = true;
	log_info("publishing checkpoints to %zu witness(es), quorum %u%s%s", p->n, p->quorum,
	         p->tiles_dir ? ", tiles in " : "", p->tiles_dir ? p->tiles_dir : "");
	*ret = p;
	return 0;
fail:
	log_error("starting the publisher: %s", strerror(-rc));
	publisher_free(p);
	return rc;
}

void publish_signed(struct publisher *p, uint64_t size)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (size > p->latest) {
		p->latest = size;
		p->latest_ns = mono_ns();
	}
	pthread_mutex_unlock(&p->lock);
	curl_multi_wakeup(p->multi);
}

static void on_async_closed(uv_handle_t *h)
{
	(void)h;
}

void publish_detach(struct publisher *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	bool was = p->attached;
	p->attached = false;
	pthread_mutex_unlock(&p->lock);
	if (was) {
		on_async(&p->async); /* what is queued is still recorded */
		uv_close((uv_handle_t *)&p->async, on_async_closed);
	}
}

/* (lock held) Whether the newest checkpoint is out: the quorum stored, the tiles written. */
static bool published(const struct publisher *p)
{
	return (p->n == 0 || p->quorum == 0 || p->quorum_size >= p->latest) &&
	       (!p->tiles_dir || p->tiles_size >= p->latest);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void publish_get_stats(struct publisher *p, struct publish_stats *ret)
{
	double *s = NULL;
	size_t n;

	*ret = (struct publish_stats){0};
	if (!p)
		return;
	ret->submitted = atomic_load(&p->submitted);
	ret->cosigned = atomic_load(&p->cosigned);
	ret->refused = atomic_load(&p->refused);
	ret->unreachable = atomic_load(&p->unreachable);
	ret->quorum_reached = atomic_load(&p->quorum_reached);
	pthread_mutex_lock(&p->lock);
	ret->witnessed_size = p->quorum_size;
	n = p->n_lat;
	if (n && (s = malloc(n * sizeof(*s))))
		memcpy(s, p->lat, n * sizeof(*s));
	pthread_mutex_unlock(&p->lock);
	if (!s)
		return;
	qsort(s, n, sizeof(*s), cmp_double);
	ret->quorum_ms_p50 = s[n / 2];
	ret->quorum_ms_p99 = s[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	ret->quorum_ms_max = s[n - 1];
	free(s);
}

void publish_wait(struct publisher *p, uint32_t wait_ms)
{
	struct timespec until;
	uint64_t latest, quorum_size;

	if (!p || p->waited)
		return;
	p->waited = true;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_mutex_unlock(&p->lock);
	curl_multi_wakeup(p->multi);
	pthread_mutex_lock(&p->lock);
	while (p->thread_started && !published(p) &&
	       pthread_cond_timedwait(&p->progress, &p->lock, &until) != ETIMEDOUT)
		;
	latest = p->latest;
	quorum_size = p->quorum_size;
	if (p->n && p->quorum && quorum_size < latest)
		log_warning("stopping before the final checkpoint (%" PRIu64
		            " entries) was witnessed: the newest witnessed one covers %" PRIu64
		            " (waited %" PRIu32 " ms for %u cosignature(s))",
		            latest, quorum_size, wait_ms, p->quorum);
	pthread_mutex_unlock(&p->lock);
}

void publish_stop(struct publisher *p, uint32_t wait_ms)
{
	if (!p)
		return;
	publish_wait(p, wait_ms);
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_mutex_unlock(&p->lock);
	if (p->thread_started) {
		curl_multi_wakeup(p->multi);
		pthread_join(p->thread, NULL);
	}
	if (p->n) {
		struct publish_stats st;
		publish_get_stats(p, &st);
		/* one line for operators and for tests/bench/witness-bench.sh */
		log_notice(
		    "witnesses: %" PRIu64 " submissions, %" PRIu64 " cosignatures, %" PRIu64
		    " refusals, %" PRIu64 " failed attempts; quorum of %u reached for %" PRIu64
		    " checkpoints, signed to quorum stored p50 %.1f ms p99 %.1f ms max %.1f ms",
		    st.submitted, st.cosigned, st.refused, st.unreachable, p->quorum,
		    st.quorum_reached, st.quorum_ms_p50, st.quorum_ms_p99, st.quorum_ms_max);
	}
	publisher_free(p);
}
