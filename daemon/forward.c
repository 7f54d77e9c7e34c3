/* SPDX-License-Identifier: Apache-2.0 */
/* The forwarder thread (forward.h): committed entries, blobs and checkpoints to NATS JetStream
 * through libnats's asynchronous publish, and auditors' cosignatures back. */
#include "forward.h"

#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "evident/invariant.h"
#include "fleet.h"
#include "log.h"

#define BATCH           256  /* entries read per reader snapshot */
#define POSITION_EVERY  100  /* ms: the acknowledged position is stored at most this often */
#define ACK_WAIT_MS     5000 /* an ack not back in this time counts as failed */
#define LAG_LOG_EVERY_S 30   /* the lag is logged this often while it lasts */
#define LAG_WARN_S      10   /* ... once the oldest entry not acknowledged is this old */
#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  5000
#define CONNECT_MAX_MS  10000           /* between connection attempts at most */
#define STREAM_RETRY_MS 30000           /* a stream with conflicting settings is looked at again */
#define FORWARD_NICE    10              /* the thread's nice value: ingest first */
#define BLOB_WINDOW     16              /* blob chunks (256 KiB each) in flight at most */
#define HDR_ENTRY       "Evident-Entry" /* blob chunks: the seq of the entry naming the blob */
#define HDR_GEN         "Evident-Gen"   /* the resend generation a message belongs to */

enum fstate { FS_START, FS_DOWN, FS_REFUSED, FS_OK };

struct forwarder {
	struct vault *v;
	/* Where cosignatures go (NULL once forward_cosignatures_stop ran). Read and used by the
	 * subscription's callback, on a libnats thread, only under pub_lock, so that the
	 * publisher is never freed while a callback uses it. */
	struct publisher *pub;
	pthread_mutex_t pub_lock;
	char origin[VAULT_ORIGIN_MAX + 1];
	char stream[80];
	char subj_entry[FLEET_SUBJECT_MAX], subj_blob[FLEET_SUBJECT_MAX],
	    subj_cp[FLEET_SUBJECT_MAX], subj_all[FLEET_PREFIX_MAX + 4],
	    subj_cosig[FLEET_SUBJECT_MAX];
	char durable[64];
	char url[1024];
	bool want_cosigs;          /* some [witness] has nats = yes */
	struct config_forward cfg; /* numbers only (strings are in the natsOptions) */
	uint32_t window;           /* ring slots: max_pending */

	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *cosub;
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock;
	pthread_cond_t wake;  /* to the thread: committed, an ack, stop (monotonic clock) */
	pthread_cond_t moved; /* to forward_stop: the acknowledged position moved */
	uint64_t committed;   /* entries in the vault (lock) */
	uint64_t acked;       /* entries acknowledged in order: the position (lock) */
	uint64_t next;        /* entries published (lock) */
	uint64_t fail_from;   /* lowest seq whose publication failed; UINT64_MAX: none (lock) */
	bool cp_failed;       /* a checkpoint's publication failed (lock) */
	uint32_t *ring;       /* messages in flight by seq % window (lock) */
	uint64_t inflight;    /* messages in flight (lock) */
	uint64_t cp_inflight; /* of them checkpoints (lock) */
	uint64_t gen;         /* resend generation: bumped when resending after a failure (lock) */
	uint64_t stale;       /* answers of an earlier generation or answered twice (lock) */
	uint64_t answered_ns; /* the last answer to a message in flight came (lock) */
	uint64_t blobs_inflight;      /* of them blob chunks (lock) */
	uint64_t cp_sent, cp_acked;   /* newest checkpoint size published / acknowledged (lock) */
	uint64_t fail_at, cp_fail_at; /* acked, cp_acked when publishing last failed (lock) */
	bool connected;               /* (lock) */
	bool stop;                    /* (lock) */
	bool closing;                 /* we close the connection: no "lost" (lock) */
	bool closed;                  /* libnats's last callback of the connection ran (lock) */
	bool down;                    /* not publishing: unreachable, refused (lock) */
	char err[300];                /* the last failure (lock) */
	/* forwarder thread only */
	enum fstate state;
	uint64_t stored;         /* position last written to the vault */
	uint64_t stored_ns;      /* when */
	uint64_t lag_logged_ns;  /* the lag was last logged (0: not lagging) */
	uint64_t lag_checked_ns; /* the lag was last looked at */
	uint64_t next_try_ns;    /* connection or stream attempt not before */
	unsigned failures;       /* in a row, for the backoff */
	bool stream_ok;
	int32_t max_payload;

	atomic_uint_fast64_t published, acked_msgs, failed, oversized, cosigs;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* (lock held) Waits on cond for at most ms milliseconds (monotonic). */
static void wait_ms(struct forwarder *f, pthread_cond_t *cond, uint64_t ms)
{
	uint64_t t = mono_ns() + ms * 1000000;
	struct timespec until = {.tv_sec = (time_t)(t / 1000000000),
	                         .tv_nsec = (long)(t % 1000000000)};
	pthread_cond_timedwait(cond, &f->lock, &until);
}

static const char *nats_text(natsStatus s)
{
	const char *last = nats_GetLastError(NULL);

	if (!last || !*last)
		return natsStatus_GetText(s);
	if (last[0] == '(' && strstr(last, "): "))
		last = strstr(last, "): ") + 3; /* libnats's "(file.c:123): " */
	return last;
}

/* ------------------------------------------------------------------ acks (libnats threads) */

/* The message's place: *seq (entries, blob chunks: the entry naming the blob; checkpoints: the
 * size) and its kind, from the Nats-Msg-Id we wrote ("<origin>/e/<seq>/...") and, for blob
 * chunks, our header. */
static enum fleet_kind msg_place(struct forwarder *f, natsMsg *m, uint64_t *seq)
{
	const char *id = NULL, *s;
	size_t ol = strlen(f->origin);

	*seq = 0;
	if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK || !id || strlen(id) < ol + 3)
		return 0;
	s = id + ol;
	if (s[0] != '/' || s[2] != '/')
		return 0;
	if (s[1] == 'b') {
		const char *h = NULL;
		if (natsMsgHeader_Get(m, HDR_ENTRY, &h) != NATS_OK || !h)
			return 0;
		*seq = strtoull(h, NULL, 10);
		return FLEET_BLOB;
	}
	*seq = strtoull(s + 3, NULL, 10);
	return s[1] == 'e' ? FLEET_ENTRY : s[1] == 'c' ? FLEET_CHECKPOINT : 0;
}

/* (lock held) One message resolved: ok or failed (with why). An answer that matches no message
 * in flight (an ack after its own timeout) is counted and dropped: JetStream dropped or
 * stored that copy, and its resend decides. */
static void resolved(struct forwarder *f, enum fleet_kind kind, uint64_t seq, bool ok,
                     const char *why)
{
	if (kind == FLEET_CHECKPOINT
	        ? f->cp_inflight == 0
	        : seq < f->acked || seq >= f->acked + f->window || f->ring[seq % f->window] == 0) {
		f->stale++;
		return;
	}
	INVARIANT(f->inflight > 0);
	f->inflight--;
	if (kind == FLEET_CHECKPOINT)
		f->cp_inflight--;
	if (kind == FLEET_BLOB)
		f->blobs_inflight--;
	if (kind == FLEET_CHECKPOINT) {
		if (ok && seq > f->cp_acked)
			f->cp_acked = seq;
		if (!ok)
			f->cp_failed = true;
	} else {
		f->ring[seq % f->window]--;
		if (!ok && seq < f->fail_from)
			f->fail_from = seq;
		while (f->acked < f->next && f->acked < f->fail_from &&
		       f->ring[f->acked % f->window] == 0)
			f->acked++;
	}
	if (!ok && why)
		snprintf(f->err, sizeof(f->err), "%s", why);
	pthread_cond_broadcast(&f->wake);
	pthread_cond_broadcast(&f->moved);
	f->answered_ns = mono_ns();
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct forwarder *f = closure;
	char why[260] = "";
	uint64_t seq;
	enum fleet_kind kind = msg_place(f, msg, &seq);

	(void)js;
	if (!pa) {
		if (pae && pae->ErrCode)
			snprintf(why, sizeof(why), "JetStream refused it: %s (error %d)",
			         pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err),
			         (int)pae->ErrCode);
		else
			snprintf(why, sizeof(why), "%s",
			         pae && pae->Err == NATS_TIMEOUT
			             ? "no acknowledgement from JetStream in time"
			         : pae ? natsStatus_GetText(pae->Err)
			               : "no acknowledgement");
		atomic_fetch_add(&f->failed, 1);
	} else {
		atomic_fetch_add(&f->acked_msgs, 1);
	}
	INVARIANT(kind != 0); /* we wrote every id */
	const char *g = NULL;
	uint64_t gen = natsMsgHeader_Get(msg, HDR_GEN, &g) == NATS_OK && g ? strtoull(g, NULL, 10)
	                                                                   : UINT64_MAX;
	pthread_mutex_lock(&f->lock);
	if (gen == f->gen)
		resolved(f, kind, seq, pa != NULL, why);
	else
		f->stale++; /* sent before the last resend */
	pthread_mutex_unlock(&f->lock);
	natsMsg_Destroy(msg);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct forwarder *f = closure;

	(void)nc;
	pthread_mutex_lock(&f->lock);
	f->connected = false;
	bool closing = f->closing;
	pthread_mutex_unlock(&f->lock);
	if (!closing)
		log_warning("forward: connection to NATS lost (%s); reconnecting, entries wait in "
		            "the vault",
		            f->url);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct forwarder *f = closure;

	(void)nc;
	pthread_mutex_lock(&f->lock);
	f->connected = true;
	pthread_cond_broadcast(&f->wake);
	pthread_mutex_unlock(&f->lock);
	log_notice("forward: reconnected to NATS (%s)", f->url);
}

static void on_closed(natsConnection *nc, void *closure)
{
	struct forwarder *f = closure;

	(void)nc;
	pthread_mutex_lock(&f->lock);
	f->closed = true;
	pthread_cond_broadcast(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

static void on_nats_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	struct forwarder *f = closure;

	(void)nc;
	(void)sub;
	log_warning("forward: NATS (%s): %s", f->url, natsStatus_GetText(err));
}

/* ------------------------------------------------------------------ cosignatures back */

static void on_cosig(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct forwarder *f = closure;
	char reason[FLEET_REASON_MAX], err[300];
	struct fleet_cosig c = {0};
	int rc;

	(void)nc;
	(void)sub;
	rc = fleet_cosig_decode((const uint8_t *)natsMsg_GetData(msg),
	                        (size_t)natsMsg_GetDataLength(msg), f->origin, &c, reason,
	                        sizeof(reason));
	if (rc < 0) {
		log_error("forward: a cosignature message on %s refused: %s",
		          natsMsg_GetSubject(msg), rc == -EBADMSG ? reason : strerror(-rc));
		natsMsg_Ack(msg, NULL); /* it never becomes valid */
		natsMsg_Destroy(msg);
		return;
	}
	pthread_mutex_lock(&f->pub_lock);
	rc = f->pub ? publish_cosignature(f->pub, c.auditor, c.size, c.line, c.line_len, err,
	                                  sizeof(err))
	            : -ESHUTDOWN;
	pthread_mutex_unlock(&f->pub_lock);
	if (rc == -ESHUTDOWN) {
		natsMsg_Nak(msg,
		            NULL); /* stopping: JetStream delivers it again at the next start */
	} else if (rc == -ENOSPC || rc == -ENOMEM) {
		log_warning("forward: cosignature of %s for %" PRIu64 " entries: %s; asked again",
		            c.auditor, c.size, err);
		natsMsg_Nak(msg, NULL);
	} else {
		if (rc < 0)
			log_error("forward: cosignature of %s for the checkpoint of %" PRIu64
			          " entries refused: %s",
			          c.auditor, c.size, err);
		else
			atomic_fetch_add(&f->cosigs, 1);
		natsMsg_Ack(msg, NULL);
	}
	fleet_cosig_deinit(&c);
	natsMsg_Destroy(msg);
}

/* ------------------------------------------------------------------ connecting */

static void set_state(struct forwarder *f, enum fstate s, const char *what)
{
	if (s == f->state)
		return;
	if (s == FS_DOWN)
		log_warning("forward: %s; retrying, entries wait in the vault", what);
	else if (s == FS_REFUSED)
		log_error("forward: %s; nothing is forwarded until it is fixed (retrying), "
		          "entries wait in the vault",
		          what);
	else if (s == FS_OK && f->state != FS_START)
		log_notice("forward: %s", what);
	else if (s == FS_OK)
		log_info("forward: %s", what);
	f->state = s;
	pthread_mutex_lock(&f->lock);
	f->down = s != FS_OK;
	f->fail_at = f->acked;
	f->cp_fail_at = f->cp_acked;
	pthread_mutex_unlock(&f->lock);
}

static void backoff(struct forwarder *f, uint64_t max_ms)
{
	unsigned shift = f->failures < 10 ? f->failures : 10;
	uint64_t ms = (uint64_t)BACKOFF_MIN_MS << shift;

	if (ms > max_ms)
		ms = max_ms;
	f->failures++;
	f->next_try_ns = mono_ns() + ms * 1000000;
}

static void disconnect(struct forwarder *f)
{
	if (f->cosub) {
		natsSubscription_Unsubscribe(f->cosub); /* the durable consumer stays */
		natsSubscription_Destroy(f->cosub);
		f->cosub = NULL;
	}
	pthread_mutex_lock(&f->lock);
	f->closing = true;
	pthread_mutex_unlock(&f->lock);
	jsCtx_Destroy(f->js);
	f->js = NULL;
	if (f->nc) {
		natsConnection_Close(f->nc);
		/* libnats runs the connection's callbacks on a thread of its own, after Close
		 * returns: the closed callback is the last of them (f must outlive them) */
		uint64_t until = mono_ns() + 5000000000ull;
		pthread_mutex_lock(&f->lock);
		while (!f->closed && mono_ns() < until)
			wait_ms(f, &f->wake, 100);
		pthread_mutex_unlock(&f->lock);
		natsConnection_Destroy(f->nc);
		f->nc = NULL;
	}
	pthread_mutex_lock(&f->lock);
	f->connected = false;
	pthread_mutex_unlock(&f->lock);
	f->stream_ok = false;
}

static bool auth_failure(natsStatus s)
{
	const char *t = nats_GetLastError(NULL);
	return s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED ||
	       (t && (strstr(t, "uthoriz") || strstr(t, "uthentic")));
}

static void try_connect(struct forwarder *f)
{
	jsOptions jo;
	char what[1400];
	natsStatus s;

	pthread_mutex_lock(&f->lock);
	f->closing = false; /* the callbacks of a closed connection are behind us */
	f->closed = false;
	pthread_mutex_unlock(&f->lock);
	s = natsConnection_Connect(&f->nc, f->opts);

	if (s != NATS_OK) {
		f->nc = NULL;
		snprintf(what, sizeof(what), "cannot connect to NATS at %s: %s%s", f->url,
		         nats_text(s),
		         auth_failure(s) ? " (check creds_file, user/password, token or nkey in "
		                           "[forward])"
		                         : "");
		set_state(f, auth_failure(s) ? FS_REFUSED : FS_DOWN, what);
		backoff(f, auth_failure(s) ? STREAM_RETRY_MS : CONNECT_MAX_MS);
		return;
	}
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)f->window + BLOB_WINDOW + 2; /* ours binds first */
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = f;
	jo.Wait = ACK_WAIT_MS;
	s = natsConnection_JetStream(&f->js, f->nc, &jo);
	if (s != NATS_OK) {
		log_error("forward: JetStream context: %s", natsStatus_GetText(s));
		disconnect(f);
		backoff(f, CONNECT_MAX_MS);
		return;
	}
	f->max_payload = (int32_t)natsConnection_GetMaxPayload(f->nc);
	pthread_mutex_lock(&f->lock);
	f->connected = true;
	pthread_mutex_unlock(&f->lock);
}

/* Does the stream subject pattern pat cover every subject under prefix (prefix.>)? */
static bool covers(const char *pat, const char *prefix)
{
	for (;;) {
		size_t pl = strcspn(pat, "."), xl = strcspn(prefix, ".");
		if (pl == 1 && pat[0] == '>')
			return true;
		if (!*prefix) /* the prefix is used up: pat must go on with ">" */
			return false;
		if (!(pl == 1 && pat[0] == '*') && (pl != xl || memcmp(pat, prefix, pl)))
			return false;
		pat += pl;
		prefix += xl;
		if (*pat != '.')
			return false; /* pat ends before reaching ">" */
		pat++;
		if (*prefix == '.')
			prefix++;
	}
}

/* Creates the stream when missing, checks it otherwise. Returns 0, or -1 with what set. */
static int ensure_stream(struct forwarder *f, char *what, size_t size)
{
	jsStreamInfo *si = NULL;
	jsErrCode je = 0;
	natsStatus s = js_GetStreamInfo(&si, f->js, f->stream, NULL, &je);

	if (s == NATS_NOT_FOUND || je == JSStreamNotFoundErr) {
		jsStreamConfig sc;
		const char *subjects[] = {f->subj_all};
		jsStreamConfig_Init(&sc);
		sc.Name = f->stream;
		sc.Description = "evidentd's vault entries, blobs, checkpoints and cosignatures";
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		/* a full stream refuses new messages (they wait in the vault) rather than dropping
		 * old ones an auditor may not have read */
		sc.Discard = js_DiscardNew;
		sc.MaxAge = (int64_t)f->cfg.max_age_s * 1000000000;
		sc.MaxBytes = f->cfg.max_bytes ? (int64_t)f->cfg.max_bytes : -1;
		sc.Replicas = f->cfg.replicas;
		sc.Duplicates = (int64_t)f->cfg.duplicate_window_s * 1000000000;
		je = 0;
		s = js_AddStream(&si, f->js, &sc, NULL, &je);
		if (s != NATS_OK) {
			snprintf(
			    what, size, "creating JetStream stream %s (subjects %s) %s: %s%s",
			    f->stream, f->subj_all, je ? "refused" : "failed", nats_text(s),
			    je == JSNotEnabledErr || je == JSNotEnabledForAccountErr
			        ? " (is JetStream enabled on the server: nats-server -js?)"
			    : je ? " (another stream over these subjects? set [forward] stream to "
			           "its name, or subject_prefix to other subjects)"
			         : "");
			return -1;
		}
		log_notice("forward: created JetStream stream %s (subjects %s, file storage)",
		           f->stream, f->subj_all);
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (s != NATS_OK) {
		snprintf(what, size, "reading JetStream stream %s: %s%s", f->stream, nats_text(s),
		         je == JSNotEnabledErr || je == JSNotEnabledForAccountErr ||
		                 s == NATS_TIMEOUT
		             ? " (is JetStream enabled on the server: nats-server -js?)"
		             : "");
		return -1;
	}
	bool covered = false;
	for (int i = 0; i < si->Config->SubjectsLen; i++)
		covered = covered || covers(si->Config->Subjects[i], f->subj_all);
	if (si->Config->Storage != js_FileStorage || !covered) {
		bool mem = si->Config->Storage != js_FileStorage;
		snprintf(what, size,
		         "JetStream stream %s has conflicting settings: %s%s%s (it needs file "
		         "storage and subjects covering %s: delete it or set [forward] stream to "
		         "another name)",
		         f->stream, mem ? "memory storage" : "", mem && !covered ? ", " : "",
		         covered ? "" : "its subjects do not cover the forwarded ones",
		         f->subj_all);
		jsStreamInfo_Destroy(si);
		return -1;
	}
	if (si->Config->Discard != js_DiscardNew)
		log_warning(
		    "forward: JetStream stream %s discards old messages when full: entries "
		    "an auditor has not read yet may be lost from the stream (the vault keeps "
		    "them)",
		    f->stream);
	jsStreamInfo_Destroy(si);
	return 0;
}

static void subscribe_cosigs(struct forwarder *f)
{
	jsSubOptions so;
	jsErrCode je = 0;
	natsStatus s;

	jsSubOptions_Init(&so);
	so.Stream = f->stream;
	so.ManualAck = true;
	so.Config.Durable = f->durable;
	so.Config.DeliverPolicy = js_DeliverAll;
	so.Config.AckPolicy = js_AckExplicit;
	s = js_Subscribe(&f->cosub, f->js, f->subj_cosig, on_cosig, f, NULL, &so, &je);
	if (s != NATS_OK) {
		f->cosub = NULL;
		log_error("forward: subscribing to cosignatures on %s: %s (error %d); retrying",
		          f->subj_cosig, nats_text(s), (int)je);
	}
}

/* ------------------------------------------------------------------ publishing */

/* Hands one message to libnats. The slot (seq's ring entry, or the checkpoint) is counted
 * before the call so that its ack, which may come at once, finds it. Returns 0 or -1 (the
 * failure is recorded as for a refused message). */
static int send_msg(struct forwarder *f, enum fleet_kind kind, uint64_t seq, const char *subj,
                    const char *id, const uint8_t *data, size_t len)
{
	jsPubOptions po;
	natsMsg *m = NULL;
	natsStatus s;
	char seqs[24], gens[24];

	pthread_mutex_lock(&f->lock);
	snprintf(gens, sizeof(gens), "%" PRIu64, f->gen);
	if (f->inflight == 0)
		f->answered_ns = mono_ns(); /* the wait for an answer starts */
	f->inflight++;
	if (kind == FLEET_CHECKPOINT)
		f->cp_inflight++;
	if (kind == FLEET_BLOB)
		f->blobs_inflight++;
	if (kind != FLEET_CHECKPOINT)
		f->ring[seq % f->window]++;
	pthread_mutex_unlock(&f->lock);
	s = natsMsg_Create(&m, subj, NULL, (const char *)data, (int)len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, HDR_GEN, gens);
	if (s == NATS_OK && kind == FLEET_BLOB) {
		snprintf(seqs, sizeof(seqs), "%" PRIu64, seq);
		s = natsMsgHeader_Set(m, HDR_ENTRY, seqs);
	}
	if (s == NATS_OK) {
		jsPubOptions_Init(&po);
		po.MaxWait = ACK_WAIT_MS;
		po.ExpectStream = f->stream;
		s = js_PublishMsgAsync(f->js, &m, &po);
	}
	if (s == NATS_OK) {
		atomic_fetch_add(&f->published, 1);
		return 0;
	}
	natsMsg_Destroy(m); /* NULL once libnats took it */
	char why[300];
	snprintf(why, sizeof(why), "publishing: %s", nats_text(s));
	atomic_fetch_add(&f->failed, 1);
	pthread_mutex_lock(&f->lock);
	resolved(f, kind, seq, false, why);
	pthread_mutex_unlock(&f->lock);
	return -1;
}

/* (lock held) Whether the thread should stop publishing for now: stopping, a failure to
 * settle, no connection. */
static bool must_pause(struct forwarder *f)
{
	return f->stop || f->fail_from != UINT64_MAX || f->cp_failed || !f->connected;
}

/* Publishes the chunks of blob hash (size bytes) for the entry at seq, each read through a
 * short snapshot of its own, at most BLOB_WINDOW in flight. Returns 0 or -1. */
static int send_blob(struct forwarder *f, uint64_t seq, const struct fleet_blob_ref *b)
{
	uint8_t *buf = malloc(FLEET_BLOB_CHUNK);
	char id[FLEET_MSG_ID_MAX];
	uint64_t off = 0;
	int rc = 0;

	if (!buf)
		return -1;
	do {
		struct fleet_blob_chunk c = {.origin = f->origin, .size = b->size, .offset = off};
		struct vault_reader *r;
		uint8_t *enc;
		size_t elen;
		ssize_t n = -EIO;

		pthread_mutex_lock(&f->lock);
		while (!must_pause(f) && f->blobs_inflight >= BLOB_WINDOW)
			wait_ms(f, &f->wake, 1000);
		bool pause = must_pause(f);
		pthread_mutex_unlock(&f->lock);
		if (pause) {
			rc = -1;
			break;
		}
		memcpy(c.hash, b->hash, VAULT_HASH_LEN);
		size_t want =
		    b->size - off < FLEET_BLOB_CHUNK ? (size_t)(b->size - off) : FLEET_BLOB_CHUNK;
		if (vault_reader_begin(f->v, &r) == 0) {
			n = want ? vault_blob_read(r, b->hash, off, buf, want) : 0;
			vault_reader_end(r);
		}
		if (n != (ssize_t)want) {
			char hex[2 * VAULT_HASH_LEN + 1];
			log_error(
			    "forward: entry %" PRIu64 " names blob %s, which the vault cannot "
			    "read (%s): forwarded without it",
			    seq, vault_hex(b->hash, hex), n < 0 ? strerror((int)-n) : "short");
			break;
		}
		c.data = buf;
		c.len = want;
		if (fleet_blob_chunk_encode(&c, &enc, &elen) < 0 ||
		    fleet_msg_id(FLEET_BLOB, f->origin, off, b->hash, NULL, id, sizeof(id)) < 0) {
			rc = -1;
			break;
		}
		if (f->max_payload > 0 && elen + 512 > (size_t)f->max_payload) {
			char hex[2 * VAULT_HASH_LEN + 1];
			log_error("forward: blob %s (named by entry %" PRIu64
			          ") is sent in chunks of %zu bytes, over the NATS server's "
			          "max_payload (%" PRId32 "): not forwarded (the vault keeps it; "
			          "raise max_payload on the server)",
			          vault_hex(b->hash, hex), seq, elen, f->max_payload);
			atomic_fetch_add(&f->oversized, 1);
			free(enc);
			break;
		}
		rc = send_msg(f, FLEET_BLOB, seq, f->subj_blob, id, enc, elen);
		free(enc);
		off += want;
	} while (rc == 0 && off < b->size);
	free(buf);
	return rc;
}

/* The blob an artifact entry names (ArtifactEntry sha256 = 4, size = 5), if any. */
static bool artifact_blob(const struct vault_entry *e, struct fleet_blob_ref *ret)
{
	const uint8_t *h;
	size_t hl;
	uint64_t size;

	if (e->leaf.type != VAULT_ENTRY_ARTIFACT || !e->payload ||
	    dispatch_field_bytes(e->payload, e->payload_len, 4, &h, &hl) != 1 ||
	    hl != VAULT_HASH_LEN || dispatch_field_u64(e->payload, e->payload_len, 5, &size) != 1)
		return false;
	memcpy(ret->hash, h, VAULT_HASH_LEN);
	ret->size = size;
	return true;
}

/* A record's data subject (RecordEntry.record = 3, Record.subject = 13) into buf. */
static const char *record_subject(const struct vault_entry *e, char *buf, size_t size)
{
	const uint8_t *rec, *s;
	size_t rl, sl;

	if (e->leaf.type != VAULT_ENTRY_RECORD || !e->payload ||
	    dispatch_field_bytes(e->payload, e->payload_len, 3, &rec, &rl) != 1 ||
	    dispatch_field_bytes(rec, rl, 13, &s, &sl) != 1 || sl == 0 || sl >= size)
		return NULL;
	memcpy(buf, s, sl);
	buf[sl] = '\0';
	return buf;
}

/* Publishes entry e (its blob first when blob_done is false and it names one). Returns 0; 1
 * when the blob must be sent outside the reader first; -1 on a failure. */
static int send_entry(struct forwarder *f, const struct vault_entry *e, bool blob_done)
{
	struct fleet_blob_ref b;
	char subject[VAULT_SUBJECT_MAX + 1], id[FLEET_MSG_ID_MAX];
	struct fleet_entry fe = {.origin = f->origin,
	                         .nonce = e->payload_nonce,
	                         .payload = e->payload,
	                         .payload_len = e->payload_len,
	                         .sent_ns = real_ns()};
	uint8_t *enc;
	size_t elen;
	int rc;

	if (artifact_blob(e, &b)) {
		if (!blob_done)
			return 1;
		fe.blobs = &b;
		fe.n_blobs = 1;
	}
	vault_leaf_encode(&e->leaf, fe.leaf);
	fe.subject = record_subject(e, subject, sizeof(subject));
	if (fleet_entry_encode(&fe, &enc, &elen) < 0)
		return -1;
	if (f->max_payload > 0 && elen + 512 > (size_t)f->max_payload) {
		/* over the server's max_payload: the leaf (and so the commitment) goes, the
		 * payload stays in the vault */
		log_error("forward: entry %" PRIu64 " is %zu bytes as a message, over the NATS "
		          "server's max_payload (%" PRId32 "): forwarded without its payload (the "
		          "vault keeps it; raise max_payload on the server)",
		          e->leaf.seq, elen, f->max_payload);
		free(enc);
		fe.payload = NULL;
		fe.nonce = NULL;
		fe.payload_len = 0;
		if (fleet_entry_encode(&fe, &enc, &elen) < 0)
			return -1;
		atomic_fetch_add(&f->oversized, 1);
	}
	if (fleet_msg_id(FLEET_ENTRY, f->origin, e->leaf.seq, e->leaf_hash, NULL, id, sizeof(id)) <
	    0) {
		free(enc);
		return -1;
	}
	pthread_mutex_lock(&f->lock);
	INVARIANT(f->next == e->leaf.seq);
	f->next = e->leaf.seq + 1;
	pthread_mutex_unlock(&f->lock);
	/* counted in the ring before next moves past it: the slot cannot complete early */
	rc = send_msg(f, FLEET_ENTRY, e->leaf.seq, f->subj_entry, id, enc, elen);
	free(enc);
	return rc;
}

static int send_checkpoint(struct forwarder *f, struct vault_reader *r, uint64_t upto)
{
	struct vault_checkpoint cp;
	char *note = NULL, id[FLEET_MSG_ID_MAX];
	uint8_t *enc;
	size_t elen;
	int rc;

	if (vault_checkpoint_at_most(r, upto, &note, &cp) < 0)
		return 0;
	pthread_mutex_lock(&f->lock);
	bool newer = cp.size > f->cp_sent;
	if (newer)
		f->cp_sent = cp.size;
	pthread_mutex_unlock(&f->lock);
	if (!newer) {
		free(note);
		return 0;
	}
	struct fleet_checkpoint fc = {.origin = f->origin, .note = note, .note_len = strlen(note)};
	rc = fleet_checkpoint_encode(&fc, &enc, &elen);
	free(note);
	if (rc < 0 ||
	    fleet_msg_id(FLEET_CHECKPOINT, f->origin, cp.size, cp.root, NULL, id, sizeof(id)) < 0) {
		if (rc == 0)
			free(enc);
		return -1;
	}
	rc = send_msg(f, FLEET_CHECKPOINT, cp.size, f->subj_cp, id, enc, elen);
	free(enc);
	return rc;
}

/* Publishes what the window allows from f->next. Returns true when it published something. */
static bool publish_some(struct forwarder *f)
{
	struct vault_reader *r;
	struct vault_iter it;
	struct vault_entry e;
	uint64_t start, room, done = 0, blob_seq = UINT64_MAX;
	struct fleet_blob_ref blob;
	int rc;

	pthread_mutex_lock(&f->lock);
	start = f->next;
	room = f->inflight >= f->window ? 0 : f->acked + f->window - f->next;
	pthread_mutex_unlock(&f->lock);
	if (room > BATCH)
		room = BATCH;
	if (vault_reader_begin(f->v, &r) < 0)
		return false;
	if (room && start < vault_reader_size(r) && vault_iter_init(r, start, &it) == 0) {
		bool blob_first = false;
		while (done < room && (rc = vault_iter_next(&it, &e)) == 1) {
			rc = send_entry(f, &e, false);
			if (rc == 1) {
				/* its blob goes first, outside this snapshot */
				blob_first = artifact_blob(&e, &blob);
				blob_seq = e.leaf.seq;
				break;
			}
			if (rc < 0)
				break;
			done++;
		}
		vault_iter_deinit(&it);
		if (!blob_first)
			blob_seq = UINT64_MAX;
	}
	pthread_mutex_lock(&f->lock);
	uint64_t sent = f->next;
	bool pause = must_pause(f);
	pthread_mutex_unlock(&f->lock);
	if (!pause)
		send_checkpoint(f, r, sent);
	vault_reader_end(r);
	if (blob_seq != UINT64_MAX && !pause && send_blob(f, blob_seq, &blob) == 0) {
		/* and the entry naming it */
		if (vault_reader_begin(f->v, &r) == 0) {
			if (vault_get(r, blob_seq, &e) == 0 && send_entry(f, &e, true) == 0)
				done++;
			vault_reader_end(r);
		}
	}
	return done > 0;
}

/* ------------------------------------------------------------------ the thread */

static void store_position(struct forwarder *f, uint64_t acked, bool force)
{
	uint64_t now = mono_ns();
	int rc;

	if (acked == f->stored || (!force && now - f->stored_ns < POSITION_EVERY * 1000000ull))
		return;
	rc = vault_forwarded_set(f->v, acked);
	if (rc < 0) {
		log_error("forward: storing the position (%" PRIu64 " entries acknowledged): %s",
		          acked, strerror(-rc));
		return;
	}
	f->stored = acked;
	f->stored_ns = now;
}

/* Logs the lag every LAG_LOG_EVERY_S while the oldest entry not acknowledged is older than
 * LAG_WARN_S, and once when it is over. */
static void watch_lag(struct forwarder *f, uint64_t acked)
{
	struct vault_reader *r;
	struct vault_entry e;
	uint64_t now = mono_ns(), size, age_s = 0;

	if (f->lag_logged_ns && now - f->lag_logged_ns < LAG_LOG_EVERY_S * 1000000000ull)
		return;
	if (!f->lag_logged_ns && now - f->lag_checked_ns < 1000000000ull)
		return; /* looked at most once a second */
	f->lag_checked_ns = now;
	if (vault_reader_begin(f->v, &r) < 0)
		return;
	size = vault_reader_size(r);
	if (acked < size && vault_get(r, acked, &e) == 0) {
		uint64_t t = real_ns();
		age_s = t > e.leaf.timestamp_ns ? (t - e.leaf.timestamp_ns) / 1000000000 : 0;
	}
	vault_reader_end(r);
	if (acked < size && age_s >= LAG_WARN_S) {
		char err[300];
		uint64_t inflight, next;
		pthread_mutex_lock(&f->lock);
		snprintf(err, sizeof(err), "%s", f->err);
		inflight = f->inflight;
		next = f->next;
		pthread_mutex_unlock(&f->lock);
		log_warning("forward: lagging: %" PRIu64
		            " entries not acknowledged by JetStream, the oldest %" PRIu64
		            " s old (%" PRIu64 " messages awaiting their ack, entries published up "
		            "to %" PRIu64 ")%s%s",
		            size - acked, age_s, inflight, next, err[0] ? "; last failure: " : "",
		            err);
		f->lag_logged_ns = now;
	} else if (f->lag_logged_ns && acked >= size) {
		log_notice("forward: caught up (%" PRIu64 " entries acknowledged)", acked);
		f->lag_logged_ns = 0;
	}
}

static void *forward_main(void *arg)
{
	struct forwarder *f = arg;
	char what[1600];
	uint64_t settle_ns = 0; /* settling after a failure since (0: not settling) */

	/* Forwarding is background work: on a busy host the writer and the connections come
	 * first (Linux: a thread's own nice value); the lag shows what it costs. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), FORWARD_NICE) < 0)
		log_debug("forward: setpriority: %s", strerror(errno));

	for (;;) {
		uint64_t now = mono_ns(), acked, inflight;
		bool stop, failed, connected, worked = false;

		pthread_mutex_lock(&f->lock);
		stop = f->stop;
		acked = f->acked;
		inflight = f->inflight;
		/* libnats answers every message (an ack, a refusal, a timeout after ACK_WAIT_MS);
		 * should one go unanswered, it must not hold the position for ever */
		if (inflight > 0 && f->fail_from == UINT64_MAX && !f->cp_failed &&
		    now > f->answered_ns + 3ull * ACK_WAIT_MS * 1000000) {
			f->fail_from = f->acked;
			snprintf(f->err, sizeof(f->err),
			         "no acknowledgement from JetStream in time");
		}
		failed = f->fail_from != UINT64_MAX || f->cp_failed;
		connected = f->connected;
		pthread_mutex_unlock(&f->lock);
		if (stop)
			break;
		store_position(f, acked, false);
		watch_lag(f, acked);
		if (now < f->next_try_ns) {
			pthread_mutex_lock(&f->lock);
			if (!f->stop)
				wait_ms(f, &f->wake, (f->next_try_ns - now) / 1000000 + 1);
			pthread_mutex_unlock(&f->lock);
			continue;
		}
		if (!f->nc) {
			try_connect(f);
			continue;
		}
		if (!f->stream_ok) {
			if (ensure_stream(f, what, sizeof(what)) < 0) {
				bool refused =
				    strstr(what, "conflicting") || strstr(what, "refused");
				set_state(f, refused ? FS_REFUSED : FS_DOWN, what);
				backoff(f, STREAM_RETRY_MS);
				continue;
			}
			f->stream_ok = true;
			f->failures = 0;
			snprintf(what, sizeof(what),
			         "publishing to JetStream stream %s at %s from entry %" PRIu64,
			         f->stream, f->url, acked);
			set_state(f, FS_OK, what);
		}
		if (f->want_cosigs && !f->cosub && connected)
			subscribe_cosigs(f);
		if (failed) {
			/* settle: every message in flight resolves (acked, refused or timed out),
			 * then resend from the first entry not acknowledged */
			if (!settle_ns)
				settle_ns = now;
			if (inflight > 0 && now < settle_ns + 2ull * ACK_WAIT_MS * 1000000) {
				pthread_mutex_lock(&f->lock);
				if (f->inflight > 0 && !f->stop)
					wait_ms(f, &f->wake, 1000);
				pthread_mutex_unlock(&f->lock);
				continue;
			}
			settle_ns = 0;
			pthread_mutex_lock(&f->lock);
			if (f->inflight > 0) {
				/* answers still missing: the generation below makes them stale */
				memset(f->ring, 0, f->window * sizeof(*f->ring));
				f->inflight = f->cp_inflight = f->blobs_inflight = 0;
			}
			snprintf(what, sizeof(what), "publishing entry %" PRIu64 " failed: %s",
			         f->acked, f->err);
			f->next = f->acked;
			f->gen++; /* what still answers from before is stale */
			f->fail_from = UINT64_MAX;
			f->cp_failed = false;
			f->cp_sent = f->cp_acked;
			for (uint32_t i = 0; i < f->window; i++)
				INVARIANT(f->ring[i] == 0);
			pthread_mutex_unlock(&f->lock);
			set_state(f, strstr(what, "refused") ? FS_REFUSED : FS_DOWN, what);
			backoff(f, BACKOFF_MAX_MS);
			continue;
		}
		if (connected) {
			worked = publish_some(f);
			pthread_mutex_lock(&f->lock);
			bool moved = f->acked > f->fail_at || f->cp_acked > f->cp_fail_at;
			pthread_mutex_unlock(&f->lock);
			if (moved && f->state != FS_OK) {
				f->failures = 0;
				set_state(f, FS_OK, "publishing again");
			}
		}
		if (worked)
			continue;
		pthread_mutex_lock(&f->lock);
		if (!f->stop && f->committed <= f->next && f->fail_from == UINT64_MAX)
			wait_ms(f, &f->wake, POSITION_EVERY);
		else if (!f->stop && f->fail_from == UINT64_MAX)
			wait_ms(f, &f->wake, 10); /* window full: an ack wakes us */
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

/* ------------------------------------------------------------------ start and stop */

static void forwarder_free(struct forwarder *f)
{
	disconnect(f);
	natsOptions_Destroy(f->opts);
	free(f->ring);
	pthread_cond_destroy(&f->wake);
	pthread_cond_destroy(&f->moved);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->pub_lock);
	free(f);
}

static int make_options(struct forwarder *f, const struct config_forward *c)
{
	natsOptions *o;
	natsStatus s = natsOptions_Create(&o);
	char name[VAULT_ORIGIN_MAX + 16];

	if (s != NATS_OK)
		return -ENOMEM;
	f->opts = o;
	snprintf(name, sizeof(name), "evidentd %s", f->origin);
	s = natsOptions_SetURL(o, c->nats_url);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, name);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 500);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, 5000);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, f);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_reconnected, f);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, on_closed, f);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_nats_error, f);
	if (s == NATS_OK && c->creds_file)
		s = natsOptions_SetUserCredentialsFromFiles(o, c->creds_file, NULL);
	if (s == NATS_OK && c->user)
		s = natsOptions_SetUserInfo(o, c->user, c->password);
	if (s == NATS_OK && c->token)
		s = natsOptions_SetToken(o, c->token);
	if (s == NATS_OK && c->nkey)
		s = natsOptions_SetNKeyFromSeed(o, c->nkey, c->nkey_seed_file);
	if (s == NATS_OK && (c->tls_ca || c->tls_cert || c->tls_hostname))
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && c->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(o, c->tls_ca);
	if (s == NATS_OK && c->tls_cert)
		s = natsOptions_LoadCertificatesChain(o, c->tls_cert, c->tls_key);
	if (s == NATS_OK && c->tls_hostname)
		s = natsOptions_SetExpectedHostname(o, c->tls_hostname);
	if (s != NATS_OK) {
		log_error("forward: [forward] options refused by libnats: %s", nats_text(s));
		return -EINVAL;
	}
	return 0;
}

int forward_start(struct forwarder **ret, struct vault *v, const struct config *cfg,
                  struct publisher *pub)
{
	const struct config_forward *c = &cfg->forward;
	struct vault_reader *r;
	struct forwarder *f;
	struct vault_info info;
	pthread_condattr_t ca;
	char tok[FLEET_TOKEN_MAX];
	uint64_t pos = 0;
	int rc;

	*ret = NULL;
	if (!c->nats_url)
		return 0;
	rc = vault_info(v, &info);
	if (rc < 0)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->pub_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &ca);
	pthread_cond_init(&f->moved, &ca);
	pthread_condattr_destroy(&ca);
	f->v = v;
	f->pub = pub;
	f->cfg = *c;
	f->window = c->max_pending;
	f->fail_from = UINT64_MAX;
	snprintf(f->origin, sizeof(f->origin), "%s", info.origin);
	snprintf(f->stream, sizeof(f->stream), "%s", c->stream);
	snprintf(f->url, sizeof(f->url), "%s", c->nats_url);
	for (size_t i = 0; i < cfg->n_witnesses; i++)
		f->want_cosigs = f->want_cosigs || cfg->witnesses[i].nats;
	rc = -EINVAL;
	if (fleet_subject(c->subject_prefix, f->origin, FLEET_ENTRY, NULL, f->subj_entry,
	                  sizeof(f->subj_entry)) < 0 ||
	    fleet_subject(c->subject_prefix, f->origin, FLEET_BLOB, NULL, f->subj_blob,
	                  sizeof(f->subj_blob)) < 0 ||
	    fleet_subject(c->subject_prefix, f->origin, FLEET_CHECKPOINT, NULL, f->subj_cp,
	                  sizeof(f->subj_cp)) < 0 ||
	    fleet_subject_token(f->origin, tok, sizeof(tok)) < 0) {
		log_error("forward: the vault's origin \"%s\" cannot name NATS subjects",
		          f->origin);
		goto fail;
	}
	snprintf(f->subj_all, sizeof(f->subj_all), "%s.>", c->subject_prefix);
	snprintf(f->subj_cosig, sizeof(f->subj_cosig), "%s.%s.cosig.*", c->subject_prefix, tok);
	{
		/* durable names allow no dots: the origin's hash names this host's consumer */
		uint8_t h[VAULT_HASH_LEN];
		char hex[2 * VAULT_HASH_LEN + 1];
		vault_sha256(f->origin, strlen(f->origin), h);
		snprintf(f->durable, sizeof(f->durable), "evidentd-cosig-%.16s", vault_hex(h, hex));
	}
	rc = -ENOMEM;
	f->ring = calloc(f->window, sizeof(*f->ring));
	if (!f->ring)
		goto fail;
	rc = make_options(f, c);
	if (rc < 0)
		goto fail;
	rc = vault_reader_begin(v, &r);
	if (rc == 0) {
		rc = vault_forwarded(r, &pos);
		if (rc >= 0 && pos > vault_reader_size(r)) {
			log_warning("forward: the stored position (%" PRIu64
			            " entries) is past the vault's end (%" PRIu64
			            "): forwarding from the start",
			            pos, vault_reader_size(r));
			pos = 0;
		}
		f->committed = vault_reader_size(r);
		vault_reader_end(r);
	}
	if (rc < 0) {
		log_error("forward: reading the stored position: %s", strerror(-rc));
		goto fail;
	}
	f->acked = f->next = pos;
	/* never recorded: the thread records 0 at once, so that status shows a forwarder that
	 * has not reached NATS yet */
	f->stored = rc == 1 ? pos : UINT64_MAX;
	rc = -pthread_create(&f->thread, NULL, forward_main, f);
	if (rc < 0) {
		log_error("forward: starting the thread: %s", strerror(-rc));
		goto fail;
	}
	f->thread_started = true;
	log_info("forward: to %s, stream %s, subjects %s.%s.*, from entry %" PRIu64 " of %" PRIu64,
	         f->url, f->stream, c->subject_prefix, tok, pos, f->committed);
	*ret = f;
	return 0;
fail:
	forwarder_free(f);
	return rc;
}

void forward_committed(struct forwarder *f, uint64_t size)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	if (size > f->committed) {
		f->committed = size;
		pthread_cond_signal(&f->wake);
	}
	pthread_mutex_unlock(&f->lock);
}

void forward_get_stats(struct forwarder *f, struct forward_stats *ret)
{
	*ret = (struct forward_stats){0};
	if (!f)
		return;
	ret->published = atomic_load(&f->published);
	ret->acked = atomic_load(&f->acked_msgs);
	ret->failed = atomic_load(&f->failed);
	ret->oversized = atomic_load(&f->oversized);
	ret->cosignatures = atomic_load(&f->cosigs);
	pthread_mutex_lock(&f->lock);
	ret->position = f->acked;
	pthread_mutex_unlock(&f->lock);
}

void forward_drain(struct forwarder *f, uint32_t wait_ms_)
{
	struct vault_reader *r;
	struct vault_checkpoint cp = {0};
	uint64_t size = 0, until, acked, cp_acked;

	if (!f)
		return;
	if (vault_reader_begin(f->v, &r) == 0) {
		size = vault_reader_size(r);
		if (vault_checkpoint_latest(r, NULL, &cp) < 0)
			cp.size = 0;
		vault_reader_end(r);
	}
	until = mono_ns() + (uint64_t)wait_ms_ * 1000000;
	pthread_mutex_lock(&f->lock);
	if (size > f->committed)
		f->committed = size;
	pthread_cond_broadcast(&f->wake);
	/* not while NATS is unreachable or refusing: that does not end in a few seconds */
	while ((f->acked < size || f->cp_acked < cp.size) && !f->down && mono_ns() < until) {
		uint64_t left = (until - mono_ns()) / 1000000 + 1;
		wait_ms(f, &f->moved, left < 100 ? left : 100);
	}
	acked = f->acked;
	cp_acked = f->cp_acked;
	bool down = f->down;
	pthread_mutex_unlock(&f->lock);
	if (acked < size || cp_acked < cp.size)
		log_warning(
		    "forward: stopping with %" PRIu64 " of %" PRIu64
		    " entries not acknowledged by JetStream%s (%s; they are sent at the next "
		    "start, from the vault)",
		    size - acked, size,
		    cp_acked < cp.size ? " and the final checkpoint not acknowledged" : "",
		    down ? "not forwarding now: see above" : "waited stop_wait_ms");
	else
		log_info("forward: JetStream acknowledged all %" PRIu64
		         " entries and the final checkpoint",
		         size);
}

void forward_cosignatures_stop(struct forwarder *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->pub_lock); /* waits for a callback using the publisher */
	f->pub = NULL;
	pthread_mutex_unlock(&f->pub_lock);
}

void forward_stop(struct forwarder *f)
{
	uint64_t acked;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->wake);
	pthread_mutex_unlock(&f->lock);
	if (f->thread_started)
		pthread_join(f->thread, NULL);
	/* the messages still in flight go with the connection: the position stored is what
	 * JetStream acknowledged in order */
	disconnect(f);
	pthread_mutex_lock(&f->lock);
	acked = f->acked;
	uint64_t stale = f->stale;
	pthread_mutex_unlock(&f->lock);
	store_position(f, acked, true);
	struct forward_stats st;
	forward_get_stats(f, &st);
	log_notice("forward: %" PRIu64 " messages published, %" PRIu64 " acknowledged, %" PRIu64
	           " failed and resent, %" PRIu64 " late answers dropped, %" PRIu64
	           " entries without their payload (too large), %" PRIu64
	           " cosignatures stored; position %" PRIu64,
	           st.published, st.acked, st.failed, stale, st.oversized, st.cosignatures,
	           st.position);
	forwarder_free(f);
}
