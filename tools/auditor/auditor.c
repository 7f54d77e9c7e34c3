/* SPDX-License-Identifier: Apache-2.0 */
/* evident-auditor's engine. One thread fetches batches from a durable JetStream pull consumer
 * over PREFIX.>, decodes every message with the fleet library, and per origin:
 *
 *  - entries: held in seq order until they continue the mirror, then appended in one synced
 *    mirror transaction per origin and batch (vault_mirror_append); an entry below the
 *    mirror's size is a duplicate when its leaf is the stored one, else a fork;
 *  - blob chunks: streamed into the mirror's blob store in offset order; a chunk ahead of the
 *    next offset is NAKed with a delay and comes back;
 *  - checkpoints: after the batch's entries, vault_mirror_checkpoint checks signature, size
 *    and root; one above the mirror's size is held until its entries arrive; a verified one is
 *    cosigned (tlog-cosignature/v1), the cosignature stored in the mirror and published on
 *    PREFIX.<tok>.cosig.<auditor tok>.
 *
 * A message is ACKed only once what it carried is durable (the mirror transaction committed,
 * or the alert recording why it was refused), so a crash redelivers it and a duplicate is
 * harmless. Acks and NAKs are published to the message's reply subject ("+ACK", "-NAK"),
 * which is all natsMsg_Ack does, so that a held entry needs only its reply subject, not the
 * message. Anomalies go to the state (auditor_state.h) and stderr, never into a mirror. */
#include "auditor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auditor_state.h"
#include "auditor_status.h"
#include "entry_key.h"
#include "evident/invariant.h"
#include "fleet.h"
#include "log.h"
#include "metrics.h"
#include "witness.h"

#define HELD_CP_MAX           8 /* checkpoints held per origin until their entries arrive */
#define CONFLICTS_MAX         8 /* entries contradicting a held one, kept until it lands */
#define BLOBS_MAX             4 /* blobs assembled at once per origin */
#define BLOB_STALL_NS         (120ull * 1000000000u)
#define HELD_BYTES_MAX        (64u << 20) /* payload bytes held per origin */
#define EVENTS_KEPT           4  /* recent messages of an event alert kept for the status */
#define PERSIST_MAX           64 /* alerts of one kind and origin written to the state per run */
#define NAK_DELAY_NS          (1000000000ll)
#define LAG_BUCKET_MS         10
#define LAG_BUCKETS           3000 /* 10 ms buckets up to 30 s; the last one holds the rest */
#define STATUS_PERIOD_NS      (1000000000ull)
#define FETCH_WAIT_MS         50
#define FETCH_BACKLOG_WAIT_MS 500

struct held_entry {
	struct fleet_entry e;
	char *reply;
	uint64_t sseq; /* stream sequence */
	uint64_t since_ns;
};

struct held_cp {
	struct fleet_checkpoint c;
	char *reply;
	uint64_t sseq;
};

struct reply {
	char *s;
	uint64_t sseq;
};

struct blob_asm {
	bool used;
	uint8_t hash[VAULT_HASH_LEN];
	uint64_t size;
	struct vault_blob_writer *w;
	uint64_t written;
	struct reply *replies;
	size_t n_replies, cap;
	uint64_t progress_ns;
};

/* An event alert kind's open alerts of one origin: how many, and the last messages. */
struct events {
	uint64_t count;
	char last[EVENTS_KEPT][200];
	size_t n_last, next;
};

struct origin {
	char *name; /* "" for messages naming no origin */
	char tok[FLEET_TOKEN_MAX];
	bool trusted, stopped;
	const struct vault_pubkey *keys; /* into the trust's keys */
	size_t n_keys;
	struct vault *v;
	uint64_t size;
	char stop_msg[200];

	struct held_entry *held; /* sorted by seq */
	size_t n_held, cap_held, held_bytes;
	struct held_cp cps[HELD_CP_MAX];
	size_t n_cps;
	struct held_entry conflicts[CONFLICTS_MAX]; /* another leaf than a held entry's */
	size_t n_conflicts;
	struct blob_asm blobs[BLOBS_MAX];

	uint64_t start_ns, last_seen_ns, last_cp_ns;
	uint64_t received, mirrored, duplicates, refused;
	uint64_t lag_ms;
	uint32_t *lag_hist; /* LAG_BUCKETS, allocated with the first mirrored entry */
	uint64_t lag_n;

	struct metric *m_mirrored; /* evident_auditor_entries_mirrored_total{origin}; NULL: none */

	uint64_t gap_since_ns;
	bool gap_alerted, silent;
	char mirror_error[200];
	struct events events[_ALERT_KIND_MAX];
	unsigned persisted[_ALERT_KIND_MAX];
};

/* The kinds of messages of the metrics' kind label: the fleet's four, and OTHER for a subject
 * naming none. */
enum { MK_ENTRY, MK_BLOB, MK_CHECKPOINT, MK_COSIG, MK_OTHER, MK_N };
static const char *const mk_names[MK_N] = {"entry", "blob", "checkpoint", "cosig", "other"};
/* What became of the messages (the per-origin counters of the status file, summed). */
enum { MO_MIRRORED, MO_DUPLICATE, MO_REFUSED, MO_N };
static const char *const mo_names[MO_N] = {"mirrored", "duplicate", "refused"};

/* The series (cfg->metrics; all NULL without it: every update is then a no-op). Updated by
 * the auditor's thread only; read by the metrics server's thread through the atomics. */
struct auditor_metrics {
	struct metric *received[MK_N];
	struct metric *outcome[MO_N];
	uint64_t outcome_seen[MO_N]; /* the sums already added to outcome */
	struct metric *held[MK_N];
	struct metric *alerts_open[_ALERT_KIND_MAX];
	struct metric_family *mirrored;
	struct metric *lag, *fetch, *commit, *verified, *cosigned;
};

struct auditor {
	const struct auditor_config *cfg;
	const struct vault_signer *signer;
	struct auditor_flags *flags;
	char vkey[VAULT_ORIGIN_MAX + 64];
	struct witness_trust trust;
	struct astate *state;
	struct origin **origins;
	size_t n_origins;
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
	bool dirty;
	uint64_t status_ns;
	struct auditor_metrics m;
};

/* ------------------------------------------------------------------ metrics */

static void metrics_init(struct auditor_metrics *am, struct metrics *m)
{
	const char *origin[] = {"origin", NULL};
	double lag[16], fetch[17], commit[16];

	*am = (struct auditor_metrics){0};
	if (!m)
		return;
	for (int k = 0; k < MK_N; k++) {
		am->received[k] =
		    metrics_labelled(m, METRIC_COUNTER, "evident_auditor_messages_received_total",
		                     "Messages fetched from the stream, by kind (other: a subject "
		                     "of no origin and kind of this fleet).",
		                     "kind", mk_names[k]);
		am->held[k] = metrics_labelled(
		    m, METRIC_GAUGE, "evident_auditor_messages_held",
		    "Messages waiting for earlier ones (entries ahead of a missing "
		    "one, checkpoints ahead of the mirror, chunks of a blob).",
		    "kind", mk_names[k]);
	}
	for (int k = 0; k < MO_N; k++)
		am->outcome[k] = metrics_labelled(
		    m, METRIC_COUNTER, "evident_auditor_messages_total",
		    "Messages of trusted and untrusted origins acknowledged, by outcome: "
		    "mirrored (entries appended), duplicate (already mirrored or held), "
		    "refused (an untrusted origin, a stopped mirror, a contradiction).",
		    "outcome", mo_names[k]);
	for (int k = 1; k < _ALERT_KIND_MAX; k++)
		am->alerts_open[k] = metrics_labelled(
		    m, METRIC_GAUGE, "evident_auditor_alerts_open",
		    "Alerts not cleared by an operator, by kind, over all origins (gap, "
		    "silent, mirror: origins in that state).",
		    "kind", alert_kind_name(k));
	am->mirrored = metrics_family(m, METRIC_COUNTER, "evident_auditor_entries_mirrored_total",
	                              "Entries appended to the mirror of each trusted origin.",
	                              origin, NULL, 0);
	metrics_exponential_buckets(0.001, 2, 16, lag);
	am->lag = metrics_histogram(m, "evident_auditor_mirror_lag_seconds",
	                            "From an entry's commit at its origin (the origin's clock) to "
	                            "its commit in the mirror.",
	                            lag, 16);
	metrics_exponential_buckets(1, 2, 17, fetch);
	am->fetch = metrics_histogram(m, "evident_auditor_fetch_messages",
	                              "Messages of one fetch from the stream.", fetch, 17);
	metrics_exponential_buckets(0.0001, 2, 16, commit);
	am->commit = metrics_histogram(m, "evident_auditor_mirror_commit_seconds",
	                               "Time to append a run of entries to a mirror in one synced "
	                               "transaction.",
	                               commit, 16);
	am->verified =
	    metrics_counter(m, "evident_auditor_checkpoints_verified_total",
	                    "Signed checkpoints verified against the mirror and stored.");
	am->cosigned = metrics_counter(m, "evident_auditor_checkpoints_cosigned_total",
	                               "Checkpoints cosigned and published.");
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

static bool is_event_kind(int kind)
{
	return kind != ALERT_GAP && kind != ALERT_SILENT && kind != ALERT_MIRROR;
}

/* ------------------------------------------------------------------ acks */

static void ack(struct auditor *a, const char *reply)
{
	if (reply && *reply)
		natsConnection_Publish(a->nc, reply, "+ACK", 4);
}

static void nak_later(struct auditor *a, const char *reply)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "-NAK {\"delay\": %lld}", NAK_DELAY_NS);

	if (reply && *reply)
		natsConnection_Publish(a->nc, reply, body, n);
}

/* ------------------------------------------------------------------ origins and alerts */

static struct origin *origin_find(struct auditor *a, const char *name)
{
	for (size_t i = 0; i < a->n_origins; i++)
		if (strcmp(a->origins[i]->name, name) == 0)
			return a->origins[i];
	return NULL;
}

static void origin_trust(struct auditor *a, struct origin *o)
{
	o->n_keys = *o->name ? witness_trust_find(&a->trust, o->name, &o->keys) : 0;
	o->trusted = o->n_keys > 0;
}

static struct origin *origin_get(struct auditor *a, const char *name)
{
	struct origin *o = origin_find(a, name), **v;
	struct astate_origin so;

	if (o)
		return o;
	v = realloc(a->origins, (a->n_origins + 1) * sizeof(*v));
	if (!v)
		return NULL;
	a->origins = v;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->name = strdup(name))) {
		free(o);
		return NULL;
	}
	if (*name && fleet_subject_token(name, o->tok, sizeof(o->tok)) < 0)
		snprintf(o->tok, sizeof(o->tok), "-");
	o->start_ns = now_ns();
	origin_trust(a, o);
	if (*name && astate_origin_get(a->state, name, &so) == 0 && (so.flags & ASTATE_STOPPED)) {
		o->stopped = true;
		snprintf(o->stop_msg, sizeof(o->stop_msg), "see alert #%" PRIu64, so.stopped_by);
	}
	a->origins[a->n_origins++] = o;
	a->dirty = true;
	return o;
}

static void events_add(struct events *ev, const char *msg)
{
	ev->count++;
	snprintf(ev->last[ev->next], sizeof(ev->last[0]), "%.199s", msg);
	ev->next = (ev->next + 1) % EVENTS_KEPT;
	if (ev->n_last < EVENTS_KEPT)
		ev->n_last++;
}

/* Records an alert: stderr, the state (the first PERSIST_MAX of a kind and origin per run,
 * with the evidence), and the origin's open alerts. */
static void alert(struct auditor *a, struct origin *o, enum alert_kind kind, const void *evidence,
                  size_t evidence_len, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void alert(struct auditor *a, struct origin *o, enum alert_kind kind, const void *evidence,
                  size_t evidence_len, const char *fmt, ...)
{
	char msg[ASTATE_MSG_MAX];
	va_list ap;
	uint64_t seq = 0;
	int rc = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_printf(kind == ALERT_FORK || kind == ALERT_ROLLBACK || kind == ALERT_BAD_SIGNATURE
	               ? LOG_ERR
	               : LOG_WARNING,
	           "origin %s: %s: %s", *o->name ? o->name : "(none)", alert_kind_name(kind), msg);
	if (o->persisted[kind] < PERSIST_MAX) {
		struct astate_alert al = {
		    .time_ns = now_ns(),
		    .kind = kind,
		    .origin = o->name,
		    .msg = msg,
		    .evidence = evidence,
		    .evidence_len = evidence_len,
		};
		rc = astate_alert_add(a->state, &al, &seq);
		if (rc < 0)
			log_error("--state %s: cannot record the alert: %s", a->cfg->state_dir,
			          strerror(-rc));
		o->persisted[kind]++;
		if (o->persisted[kind] == PERSIST_MAX)
			log_warning("origin %s: %s: %d alerts recorded in this run; the next ones "
			            "are counted only",
			            o->name, alert_kind_name(kind), PERSIST_MAX);
	}
	if (is_event_kind(kind))
		events_add(&o->events[kind], msg);
	if (kind == ALERT_FORK || kind == ALERT_ROLLBACK) {
		struct astate_origin so = {.flags = ASTATE_STOPPED, .stopped_by = seq};
		struct astate_origin old;
		if (astate_origin_get(a->state, o->name, &old) == 0)
			so.open_from = old.open_from;
		o->stopped = true;
		snprintf(o->stop_msg, sizeof(o->stop_msg), "%.199s", msg);
		rc = astate_origin_put(a->state, o->name, &so);
		if (rc < 0)
			log_error("--state %s: cannot record that the mirror of %s stopped: %s",
			          a->cfg->state_dir, o->name, strerror(-rc));
	}
	a->dirty = true;
}

/* ------------------------------------------------------------------ mirrors */

/* Opens the origin's mirror (created at the first entry). Returns 0 or -1 (alerted). */
static int mirror_open(struct auditor *a, struct origin *o)
{
	char dir[4096], err[256] = "";
	int rc = -EKEYREJECTED;

	if (o->v)
		return 0;
	if (snprintf(dir, sizeof(dir), "%s/%s", a->cfg->mirror_dir, o->tok) >= (int)sizeof(dir))
		return -1;
	/* Several keys may name the origin (a rotation): the mirror records the one it was
	 * created with. */
	for (size_t i = 0; i < o->n_keys && rc == -EKEYREJECTED; i++) {
		struct vault_options opts = {
		    .origin = o->name,
		    .mirror_key = &o->keys[i],
		    .mirror_dedup_key = entry_dedup_key_fn,
		};
		rc =
		    vault_open_detail(dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE | VAULT_OPEN_MIRROR,
		                      &opts, &o->v, err, sizeof(err));
	}
	if (rc < 0) {
		if (!*o->mirror_error)
			alert(a, o, ALERT_MIRROR, NULL, 0, "mirror %s cannot be opened: %s%s%s",
			      dir, strerror(-rc), *err ? ": " : "", err);
		snprintf(o->mirror_error, sizeof(o->mirror_error), "mirror %.120s: %.60s", dir,
		         strerror(-rc));
		o->v = NULL;
		return -1;
	}
	o->mirror_error[0] = '\0';
	o->size = vault_size(o->v);
	return 0;
}

static void mirror_close(struct origin *o)
{
	vault_close(o->v);
	o->v = NULL;
}

/* The mirror lag of an entry: from its commit at the origin (the leaf's timestamp, the
 * origin's clock) to its commit in the mirror. */
static void lag_add(struct auditor *a, struct origin *o, uint64_t committed_ns, uint64_t now)
{
	uint64_t ms = committed_ns && now > committed_ns ? (now - committed_ns) / 1000000u : 0;
	size_t b = ms / LAG_BUCKET_MS;

	o->lag_ms = ms;
	metric_observe(a->m.lag, (double)(now > committed_ns ? now - committed_ns : 0) / 1e9);
	if (!o->lag_hist && !(o->lag_hist = calloc(LAG_BUCKETS, sizeof(*o->lag_hist))))
		return;
	o->lag_hist[b < LAG_BUCKETS ? b : LAG_BUCKETS - 1]++;
	o->lag_n++;
}

static uint64_t lag_p99(const struct origin *o)
{
	uint64_t want, seen = 0;

	if (!o->lag_n)
		return 0;
	want = o->lag_n - o->lag_n / 100;
	for (size_t b = 0; b < LAG_BUCKETS; b++) {
		seen += o->lag_hist[b];
		if (seen >= want)
			return (uint64_t)(b + 1) * LAG_BUCKET_MS;
	}
	return (uint64_t)LAG_BUCKETS * LAG_BUCKET_MS;
}

/* ------------------------------------------------------------------ entries */

static void held_free(struct held_entry *h)
{
	fleet_entry_deinit(&h->e);
	free(h->reply);
}

static void held_remove(struct origin *o, size_t from, size_t n)
{
	INVARIANT(from + n <= o->n_held);
	if (n == 0)
		return; /* o->held may be NULL: nothing was ever held */
	for (size_t i = from; i < from + n; i++) {
		o->held_bytes -= o->held[i].e.payload_len;
		held_free(&o->held[i]);
	}
	memmove(o->held + from, o->held + from + n, (o->n_held - from - n) * sizeof(*o->held));
	o->n_held -= n;
}

/* Drops everything the origin holds (its mirror stopped): ACKed, they are refused. */
static void origin_drop_held(struct auditor *a, struct origin *o)
{
	for (size_t i = 0; i < o->n_held; i++)
		ack(a, o->held[i].reply);
	o->refused += o->n_held;
	held_remove(o, 0, o->n_held);
	for (size_t i = 0; i < o->n_cps; i++) {
		ack(a, o->cps[i].reply);
		fleet_checkpoint_deinit(&o->cps[i].c);
		free(o->cps[i].reply);
	}
	o->refused += o->n_cps;
	o->n_cps = 0;
	for (size_t i = 0; i < o->n_conflicts; i++) {
		ack(a, o->conflicts[i].reply);
		held_free(&o->conflicts[i]);
	}
	o->refused += o->n_conflicts;
	o->n_conflicts = 0;
}

static void fork_entry(struct auditor *a, struct origin *o, const struct fleet_entry *e,
                       const char *why)
{
	uint8_t *bytes = NULL;
	size_t len = 0;

	if (fleet_entry_encode(e, &bytes, &len) < 0)
		len = 0;
	alert(a, o, ALERT_FORK, bytes, len,
	      "entry %" PRIu64 " contradicts the mirror (%s); kept as evidence, not merged; the "
	      "mirror takes nothing more from this origin until an operator clears it",
	      e->decoded.seq, why);
	free(bytes);
	origin_drop_held(a, o);
}

/* Takes a decoded entry (ownership of e moves in). */
static void entry_add(struct auditor *a, struct origin *o, struct fleet_entry *e, const char *reply,
                      uint64_t sseq)
{
	uint64_t seq = e->decoded.seq;
	size_t lo = 0, hi = o->n_held;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (o->held[mid].e.decoded.seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < o->n_held && o->held[lo].e.decoded.seq == seq) {
		struct held_entry *h = &o->held[lo];
		if (memcmp(h->e.leaf, e->leaf, VAULT_LEAF_LEN) != 0) {
			/* A contradiction: judged after the batch's entries that continue the
			 * mirror have landed (origin_land), so that they are kept. */
			if (o->n_conflicts < CONFLICTS_MAX) {
				o->conflicts[o->n_conflicts++] = (struct held_entry){
				    .e = *e, .reply = strdup(reply ? reply : ""), .sseq = sseq};
				*e = (struct fleet_entry){0};
			} else {
				o->refused++;
				ack(a, reply);
				fleet_entry_deinit(e);
			}
			return;
		}
		if (h->sseq == sseq) { /* a redelivery of the message held: keep its newest reply */
			char *r = strdup(reply ? reply : "");
			if (r) {
				free(h->reply);
				h->reply = r;
			}
		} else { /* another copy: the one held lands it */
			o->duplicates++;
			ack(a, reply);
		}
		fleet_entry_deinit(e);
		return;
	}
	if (o->n_held >= a->cfg->hold_max || o->held_bytes + e->payload_len > HELD_BYTES_MAX) {
		/* Too far ahead: JetStream keeps it and delivers it again later. */
		nak_later(a, reply);
		fleet_entry_deinit(e);
		return;
	}
	if (o->n_held == o->cap_held) {
		size_t cap = o->cap_held ? 2 * o->cap_held : 256;
		struct held_entry *v = realloc(o->held, cap * sizeof(*v));
		if (!v) {
			nak_later(a, reply);
			fleet_entry_deinit(e);
			return;
		}
		o->held = v;
		o->cap_held = cap;
	}
	memmove(o->held + lo + 1, o->held + lo, (o->n_held - lo) * sizeof(*o->held));
	o->held[lo] = (struct held_entry){.e = *e, .sseq = sseq, .since_ns = now_ns()};
	o->held[lo].reply = strdup(reply ? reply : "");
	o->n_held++;
	o->held_bytes += e->payload_len;
	*e = (struct fleet_entry){0};
}

/* Lands the held entries that continue the mirror, in one transaction. */
/* Held entries below the mirror's size (they sort first): a duplicate when the stored leaf is
 * theirs, else a fork. Returns false when the origin stopped or the mirror failed. */
static bool entries_below(struct auditor *a, struct origin *o)
{
	uint8_t stored[VAULT_LEAF_LEN];
	int rc;

	while (o->n_held && o->held[0].e.decoded.seq < o->size) {
		struct held_entry *h = &o->held[0];
		struct fleet_entry e;
		rc = vault_mirror_leaf(o->v, h->e.decoded.seq, stored, NULL);
		if (rc == 0 && memcmp(stored, h->e.leaf, VAULT_LEAF_LEN) == 0) {
			o->duplicates++;
			ack(a, h->reply);
			held_remove(o, 0, 1);
			continue;
		}
		if (rc < 0 && rc != -EBADMSG) {
			snprintf(o->mirror_error, sizeof(o->mirror_error),
			         "reading entry %" PRIu64 ": %s", h->e.decoded.seq, strerror(-rc));
			return false;
		}
		ack(a, h->reply);
		e = h->e;
		h->e = (struct fleet_entry){0};
		held_remove(o, 0, 1);
		fork_entry(a, o, &e, "another leaf is stored at this seq");
		fleet_entry_deinit(&e);
		return false;
	}
	return true;
}

/* Appends the held entries that continue the mirror, in one synced transaction, then ACKs
 * them. Those below the mirror's size (k of them, first) are left for entries_below. */
static void entries_append(struct auditor *a, struct origin *o)
{
	struct vault_mirror_in *in;
	struct vault_mirror_result res = {0};
	size_t k = 0, n = 0, good;
	uint64_t now, t0;
	int rc;

	while (k < o->n_held && o->held[k].e.decoded.seq < o->size)
		k++;
	while (k + n < o->n_held && o->held[k + n].e.decoded.seq == o->size + n)
		n++;
	if (!n)
		return;
	in = calloc(n, sizeof(*in));
	if (!in)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct fleet_entry *e = &o->held[k + i].e;
		in[i] = (struct vault_mirror_in){e->leaf, e->nonce, e->payload, e->payload_len,
		                                 e->subject};
	}
	t0 = clock_ns(CLOCK_MONOTONIC);
	rc = vault_mirror_append(o->v, in, n, &res);
	good = n;
	if (rc == -EBADMSG && res.index < n) {
		/* The entries before the bad one continue the mirror; the bad one contradicts
		 * it (its previous-leaf hash, time or prune). */
		good = res.index;
		rc = good ? vault_mirror_append(o->v, in, good, &res) : 0;
	}
	free(in);
	if (rc == 0 && good)
		metric_observe(a->m.commit, (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9);
	if (rc < 0) {
		if (!*o->mirror_error)
			alert(a, o, ALERT_MIRROR, NULL, 0,
			      "cannot append %zu entries from %" PRIu64 ": %s (held; retried)", n,
			      o->size, strerror(-rc));
		snprintf(o->mirror_error, sizeof(o->mirror_error), "append at %" PRIu64 ": %s",
		         o->size, strerror(-rc));
		if (rc == -ESTALE || rc == -EAGAIN)
			o->size = vault_size(o->v);
		return;
	}
	o->mirror_error[0] = '\0';
	now = now_ns();
	for (size_t i = k; i < k + good; i++) {
		ack(a, o->held[i].reply);
		lag_add(a, o, o->held[i].e.decoded.timestamp_ns, now);
	}
	o->size += good;
	o->mirrored += good;
	if (a->m.mirrored && !o->m_mirrored) {
		const char *values[] = {o->name};
		o->m_mirrored = metric_family_get(a->m.mirrored, values);
	}
	metric_add(o->m_mirrored, good);
	held_remove(o, k, good);
	INVARIANT(o->size == vault_size(o->v));
	a->dirty = true;
	if (good < n) {
		struct fleet_entry e = o->held[k].e;
		ack(a, o->held[k].reply);
		o->held[k].e = (struct fleet_entry){0};
		held_remove(o, k, 1);
		fork_entry(a, o, &e,
		           "its previous-leaf hash, time or payload does not continue the mirror");
		fleet_entry_deinit(&e);
	}
}

/* ------------------------------------------------------------------ checkpoints */

static void cosig_publish(struct auditor *a, struct origin *o, uint64_t size, const char *line,
                          size_t line_len)
{
	struct fleet_cosig c = {
	    .origin = o->name,
	    .size = size,
	    .auditor = a->cfg->name,
	    .line = line,
	    .line_len = line_len,
	    .vkey = a->vkey,
	    .vkey_len = strlen(a->vkey),
	};
	char subject[FLEET_SUBJECT_MAX], id[FLEET_MSG_ID_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	natsMsg *m = NULL;
	natsStatus s;

	if (fleet_cosig_encode(&c, &buf, &len) < 0 ||
	    fleet_subject(a->cfg->prefix, o->name, FLEET_COSIG, a->cfg->name, subject,
	                  sizeof(subject)) < 0 ||
	    fleet_msg_id(FLEET_COSIG, o->name, size, NULL, a->cfg->name, id, sizeof(id)) < 0) {
		log_error("origin %s: cannot encode the cosignature of size %" PRIu64, o->name,
		          size);
		free(buf);
		return;
	}
	s = natsMsg_Create(&m, subject, NULL, (const char *)buf, (int)len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK)
		s = js_PublishMsgAsync(a->js, &m, NULL);
	if (s != NATS_OK)
		log_warning("origin %s: cosignature of size %" PRIu64 " not published: %s "
		            "(stored in the mirror; the next checkpoint's is published)",
		            o->name, size, natsStatus_GetText(s));
	natsMsg_Destroy(m);
	free(buf);
}

/* Cosigns the mirror's stored checkpoint note of cp (verified), stores and publishes it. */
static void cosign(struct auditor *a, struct origin *o, const char *note, size_t len, uint64_t size)
{
	char line[VAULT_SIGLINE_MAX + 1];
	size_t body_len;
	int n, rc;

	rc = vault_note_split(note, len, &body_len);
	n = rc < 0 ? rc
	           : vault_signer_cosign(a->signer, note, body_len, (uint64_t)time(NULL), line,
	                                 sizeof(line));
	rc = n < 0 ? n
	           : vault_cosignature_add(o->v, size, vault_signer_pubkey(a->signer), line,
	                                   (size_t)n);
	if (rc < 0) {
		log_error("origin %s: cannot cosign the checkpoint of size %" PRIu64 ": %s",
		          o->name, size, strerror(-rc));
		return;
	}
	metric_inc(a->m.cosigned);
	cosig_publish(a, o, size, line, (size_t)n);
}

static void cp_free(struct held_cp *h)
{
	fleet_checkpoint_deinit(&h->c);
	free(h->reply);
}

/* What a checkpoint that vault_mirror_checkpoint called stale is: the one stored (a
 * duplicate), an older one agreeing with the mirror (late), or a contradiction. */
static void cp_stale(struct auditor *a, struct origin *o, const struct fleet_checkpoint *c)
{
	struct vault_reader *r = NULL;
	uint8_t root[VAULT_HASH_LEN];
	struct vault_checkpoint stored;
	char *note = NULL;
	unsigned count = 0;
	int rc = vault_reader_begin(o->v, &r);

	if (rc == 0)
		rc = vault_root(r, c->cp.size, root);
	if (rc == 0 && memcmp(root, c->cp.root, VAULT_HASH_LEN) != 0) {
		struct vault_checkpoint latest = {0};
		vault_checkpoint_latest(r, NULL, &latest);
		vault_reader_end(r);
		alert(a, o, c->cp.size < latest.size ? ALERT_ROLLBACK : ALERT_FORK, c->note,
		      c->note_len,
		      "signed checkpoint of size %" PRIu64 " has another root than the mirror at "
		      "that size (the mirror holds a checkpoint of size %" PRIu64 "); kept as "
		      "evidence, not merged",
		      c->cp.size, latest.size);
		origin_drop_held(a, o);
		return;
	}
	/* The same tree: a repeat. Cosign it when this auditor's cosignature is not stored yet
	 * (a crash between storing the checkpoint and cosigning it). */
	if (rc == 0 && vault_checkpoint_get(r, c->cp.size, &note, &stored) == 0 &&
	    vault_cosignature_count(r, c->cp.size, &count) == 0 && count == 0) {
		vault_reader_end(r);
		r = NULL;
		cosign(a, o, note, strlen(note), c->cp.size);
	}
	free(note);
	vault_reader_end(r);
	o->duplicates++;
}

static void cps_land(struct auditor *a, struct origin *o)
{
	struct held_cp forked = {0};
	size_t keep = 0;

	if (!o->n_cps || o->stopped || mirror_open(a, o) < 0)
		return;
	for (size_t i = 0; i < o->n_cps; i++) {
		struct held_cp *h = &o->cps[i];
		int rc = o->stopped ? -ECANCELED
		                    : vault_mirror_checkpoint(o->v, h->c.note, h->c.note_len);
		switch (rc) {
		case 0:
			o->last_cp_ns = now_ns();
			o->silent = false;
			metric_inc(a->m.verified);
			cosign(a, o, h->c.note, h->c.note_len, h->c.cp.size);
			a->dirty = true;
			break;
		case -ESTALE:
			o->last_cp_ns = now_ns();
			o->silent = false;
			cp_stale(a, o, &h->c);
			break;
		case -ERANGE:
			o->cps[keep++] = *h;
			continue;
		case -EXDEV:
			/* Judged after the others, so that the origin's own checkpoints of this
			 * fetch are stored before the contradiction stops the mirror. */
			if (!forked.c.note) {
				forked = *h;
				continue;
			}
			o->refused++;
			break;
		case -EBADMSG:
		case -ENOKEY:
		case -EKEYREJECTED:
			alert(a, o, ALERT_BAD_SIGNATURE, h->c.note, h->c.note_len,
			      "checkpoint of size %" PRIu64 " is not signed by the origin's key",
			      h->c.cp.size);
			break;
		case -ECANCELED:
			o->refused++;
			break;
		default:
			if (!*o->mirror_error)
				alert(a, o, ALERT_MIRROR, NULL, 0,
				      "cannot store the checkpoint of size %" PRIu64 ": %s",
				      h->c.cp.size, strerror(-rc));
			snprintf(o->mirror_error, sizeof(o->mirror_error),
			         "checkpoint %" PRIu64 ": %s", h->c.cp.size, strerror(-rc));
			o->cps[keep++] = *h;
			continue;
		}
		ack(a, h->reply);
		cp_free(h);
	}
	o->n_cps = keep;
	if (forked.c.note) {
		alert(a, o, ALERT_FORK, forked.c.note, forked.c.note_len,
		      "signed checkpoint of size %" PRIu64 " has another root than the mirror's "
		      "entries; kept as evidence, not merged",
		      forked.c.cp.size);
		ack(a, forked.reply);
		cp_free(&forked);
	}
	if (o->stopped)
		origin_drop_held(a, o);
}

static void cp_add(struct auditor *a, struct origin *o, struct fleet_checkpoint *c,
                   const char *reply, uint64_t sseq)
{
	size_t i;

	for (i = 0; i < o->n_cps; i++)
		if (o->cps[i].c.cp.size == c->cp.size && o->cps[i].c.note_len == c->note_len &&
		    memcmp(o->cps[i].c.note, c->note, c->note_len) == 0) {
			if (o->cps[i].sseq == sseq) {
				char *r = strdup(reply ? reply : "");
				if (r) {
					free(o->cps[i].reply);
					o->cps[i].reply = r;
				}
			} else {
				o->duplicates++;
				ack(a, reply);
			}
			fleet_checkpoint_deinit(c);
			return;
		}
	if (o->n_cps == HELD_CP_MAX) {
		/* Keep the larger ones: each covers what a smaller one does. */
		size_t smallest = 0;
		for (i = 1; i < o->n_cps; i++)
			if (o->cps[i].c.cp.size < o->cps[smallest].c.cp.size)
				smallest = i;
		if (o->cps[smallest].c.cp.size > c->cp.size) {
			o->duplicates++;
			ack(a, reply);
			fleet_checkpoint_deinit(c);
			return;
		}
		ack(a, o->cps[smallest].reply);
		cp_free(&o->cps[smallest]);
		o->cps[smallest] = o->cps[--o->n_cps];
	}
	/* In size order, so that the smaller lands first. */
	for (i = o->n_cps; i > 0 && o->cps[i - 1].c.cp.size > c->cp.size; i--)
		o->cps[i] = o->cps[i - 1];
	o->cps[i] = (struct held_cp){.c = *c, .reply = strdup(reply ? reply : ""), .sseq = sseq};
	o->n_cps++;
	*c = (struct fleet_checkpoint){0};
}

/* Lands what the origin holds: first the entries that continue the mirror and the
 * checkpoints they complete (so that the part of the origin's log that came with a
 * contradicting message is kept), then the contradictions and what lies below the mirror. */
static void origin_land(struct auditor *a, struct origin *o)
{
	if (o->stopped || (!o->n_held && !o->n_cps && !o->n_conflicts) || mirror_open(a, o) < 0)
		return;
	entries_append(a, o);
	cps_land(a, o);
	if (!o->stopped && o->n_conflicts) {
		struct fleet_entry e = o->conflicts[0].e;
		ack(a, o->conflicts[0].reply);
		free(o->conflicts[0].reply);
		memmove(o->conflicts, o->conflicts + 1, --o->n_conflicts * sizeof(*o->conflicts));
		fork_entry(a, o, &e, "two different entries of this seq arrived");
		fleet_entry_deinit(&e);
	}
	if (!o->stopped)
		entries_below(a, o);
}

/* ------------------------------------------------------------------ blobs */

static void blob_reset(struct blob_asm *b)
{
	vault_blob_abort(b->w);
	for (size_t i = 0; i < b->n_replies; i++)
		free(b->replies[i].s);
	free(b->replies);
	*b = (struct blob_asm){0};
}

static bool blob_stored(struct origin *o, const uint8_t hash[VAULT_HASH_LEN])
{
	struct vault_reader *r;
	uint64_t size;
	bool found = false;

	if (vault_reader_begin(o->v, &r) == 0) {
		found = vault_blob_stat(r, hash, &size) == 0;
		vault_reader_end(r);
	}
	return found;
}

static int blob_keep_reply(struct blob_asm *b, const char *reply, uint64_t sseq)
{
	if (b->n_replies == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct reply *v = realloc(b->replies, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->replies = v;
		b->cap = cap;
	}
	b->replies[b->n_replies].s = strdup(reply ? reply : "");
	b->replies[b->n_replies++].sseq = sseq;
	return 0;
}

static void blob_chunk(struct auditor *a, struct origin *o, const struct fleet_blob_chunk *c,
                       const char *reply, uint64_t sseq)
{
	struct blob_asm *b = NULL, *free_slot = NULL;
	char hex[2 * VAULT_HASH_LEN + 1];
	int rc;

	if (o->stopped) {
		o->refused++;
		ack(a, reply);
		return;
	}
	if (mirror_open(a, o) < 0) {
		nak_later(a, reply);
		return;
	}
	for (size_t i = 0; i < BLOBS_MAX; i++) {
		if (o->blobs[i].used && memcmp(o->blobs[i].hash, c->hash, VAULT_HASH_LEN) == 0)
			b = &o->blobs[i];
		else if (!o->blobs[i].used && !free_slot)
			free_slot = &o->blobs[i];
	}
	if (!b && blob_stored(o, c->hash)) {
		o->duplicates++;
		ack(a, reply);
		return;
	}
	if (!b) {
		if (c->offset != 0 || !free_slot) {
			nak_later(a, reply); /* its first chunk, or room, comes later */
			return;
		}
		b = free_slot;
		rc = vault_blob_begin(o->v, &b->w);
		if (rc < 0) {
			nak_later(a, reply);
			return;
		}
		b->used = true;
		memcpy(b->hash, c->hash, VAULT_HASH_LEN);
		b->size = c->size;
	}
	if (c->size != b->size) {
		alert(a, o, ALERT_MALFORMED, NULL, 0,
		      "blob %s: a chunk says the blob has %" PRIu64
		      " bytes, an earlier one %" PRIu64,
		      vault_hex(c->hash, hex), c->size, b->size);
		ack(a, reply);
		return;
	}
	if (c->offset < b->written) {
		for (size_t i = 0; i < b->n_replies; i++)
			if (b->replies[i].sseq == sseq)
				return; /* redelivered while held: the held reply acks it */
		o->duplicates++;
		ack(a, reply);
		return;
	}
	if (c->offset > b->written) {
		nak_later(a, reply);
		return;
	}
	rc = vault_blob_write(b->w, c->data, c->len);
	if (rc == 0)
		rc = blob_keep_reply(b, reply, sseq);
	if (rc < 0) {
		log_warning("origin %s: blob %s: %s (it starts over)", o->name,
		            vault_hex(c->hash, hex), strerror(-rc));
		nak_later(a, reply);
		blob_reset(b); /* the held chunks are redelivered: not ACKed */
		return;
	}
	b->written += c->len;
	b->progress_ns = now_ns();
	if (b->written < b->size)
		return;
	rc = vault_blob_finish(b->w, b->hash, b->size, NULL);
	b->w = NULL;
	if (rc == -EBADMSG) {
		alert(a, o, ALERT_BLOB, NULL, 0,
		      "blob %s: its %" PRIu64 " bytes of chunks do not hash to its name; dropped",
		      vault_hex(b->hash, hex), b->size);
	} else if (rc < 0) {
		log_warning("origin %s: blob %s: %s (it starts over)", o->name,
		            vault_hex(b->hash, hex), strerror(-rc));
		blob_reset(b);
		return;
	}
	for (size_t i = 0; i < b->n_replies; i++)
		ack(a, b->replies[i].s);
	blob_reset(b);
}

/* ------------------------------------------------------------------ messages */

static void refuse_untrusted(struct auditor *a, struct origin *o, const natsMsg *m,
                             const char *reply)
{
	o->refused++;
	if (!o->events[ALERT_UNKNOWN_ORIGIN].count || o->persisted[ALERT_UNKNOWN_ORIGIN] == 0)
		alert(a, o, ALERT_UNKNOWN_ORIGIN, natsMsg_GetData(m),
		      (size_t)natsMsg_GetDataLength(m),
		      "messages of an origin the trust file does not list are refused (first on "
		      "%s)",
		      natsMsg_GetSubject(m));
	else
		o->events[ALERT_UNKNOWN_ORIGIN].count++;
	ack(a, reply);
}

static void message(struct auditor *a, natsMsg *m)
{
	const char *subject = natsMsg_GetSubject(m), *reply = natsMsg_GetReply(m);
	const uint8_t *data = (const uint8_t *)natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m);
	char origin[VAULT_ORIGIN_MAX + 1], auditor[VAULT_ORIGIN_MAX + 1],
	    reason[FLEET_REASON_MAX] = "";
	jsMsgMetaData *meta = NULL;
	enum fleet_kind kind;
	struct origin *o;
	uint64_t sseq = 0;
	int rc;

	if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
		sseq = meta->Sequence.Stream;
		jsMsgMetaData_Destroy(meta);
	}
	rc = fleet_subject_parse(a->cfg->prefix, subject, &kind, origin, sizeof(origin), auditor,
	                         sizeof(auditor));
	metric_inc(a->m.received[rc < 0                     ? MK_OTHER
	                         : kind == FLEET_ENTRY      ? MK_ENTRY
	                         : kind == FLEET_BLOB       ? MK_BLOB
	                         : kind == FLEET_CHECKPOINT ? MK_CHECKPOINT
	                                                    : MK_COSIG]);
	if (rc < 0) {
		o = origin_get(a, "");
		if (o) {
			o->received++;
			o->last_seen_ns = now_ns();
			alert(a, o, ALERT_MALFORMED, data, len,
			      "subject %.200s names no origin and kind of this fleet; skipped",
			      subject);
		}
		ack(a, reply);
		return;
	}
	if (kind == FLEET_COSIG) { /* an auditor's (this one's among them) */
		ack(a, reply);
		return;
	}
	o = origin_get(a, origin);
	if (!o) {
		nak_later(a, reply);
		return;
	}
	o->received++;
	o->last_seen_ns = now_ns();
	a->dirty = true;
	if (!o->trusted) {
		refuse_untrusted(a, o, m, reply);
		return;
	}
	if (o->stopped) {
		o->refused++;
		ack(a, reply);
		return;
	}
	switch (kind) {
	case FLEET_ENTRY: {
		struct fleet_entry e = {0};
		rc = fleet_entry_decode(data, len, origin, &e, reason, sizeof(reason));
		if (rc == 0) {
			entry_add(a, o, &e, reply, sseq);
			return;
		}
		break;
	}
	case FLEET_CHECKPOINT: {
		struct fleet_checkpoint c = {0};
		rc = fleet_checkpoint_decode(data, len, origin, &c, reason, sizeof(reason));
		if (rc == 0) {
			cp_add(a, o, &c, reply, sseq);
			return;
		}
		break;
	}
	case FLEET_BLOB: {
		struct fleet_blob_chunk c = {0};
		rc = fleet_blob_chunk_decode(data, len, origin, &c, reason, sizeof(reason));
		if (rc == 0) {
			blob_chunk(a, o, &c, reply, sseq);
			fleet_blob_chunk_deinit(&c);
			return;
		}
		break;
	}
	case FLEET_COSIG:
		break;
	}
	if (rc == -ENOMEM) {
		nak_later(a, reply);
		return;
	}
	alert(a, o, ALERT_MALFORMED, data, len, "%.200s: %s; skipped", subject,
	      *reason ? reason : strerror(-rc));
	ack(a, reply);
}

/* ------------------------------------------------------------------ periodic checks */

static void checks(struct auditor *a)
{
	uint64_t now = now_ns();

	for (size_t i = 0; i < a->n_origins; i++) {
		struct origin *o = a->origins[i];
		if (!o->trusted || o->stopped)
			continue;
		/* Something held ahead of a missing entry: a gap once it lasts. */
		if (o->n_held && o->held[0].e.decoded.seq > o->size) {
			if (!o->gap_since_ns)
				o->gap_since_ns = o->held[0].since_ns;
			if (!o->gap_alerted && now - o->gap_since_ns > a->cfg->gap_after_ns) {
				alert(a, o, ALERT_GAP, NULL, 0,
				      "entries %" PRIu64 "..%" PRIu64 " missing for %" PRIu64
				      " s while %zu later ones wait",
				      o->size, o->held[0].e.decoded.seq - 1,
				      (now - o->gap_since_ns) / 1000000000u, o->n_held);
				o->gap_alerted = true;
			}
		} else {
			if (o->gap_alerted)
				log_notice("origin %s: the gap is filled (size %" PRIu64 ")",
				           o->name, o->size);
			o->gap_since_ns = 0;
			o->gap_alerted = false;
		}
		if (!o->silent &&
		    now - (o->last_cp_ns ? o->last_cp_ns : o->start_ns) > a->cfg->silent_after_ns) {
			alert(a, o, ALERT_SILENT, NULL, 0, "no checkpoint for %" PRIu64 " s",
			      (now - (o->last_cp_ns ? o->last_cp_ns : o->start_ns)) / 1000000000u);
			o->silent = true;
		}
		for (size_t j = 0; j < BLOBS_MAX; j++)
			if (o->blobs[j].used && now - o->blobs[j].progress_ns > BLOB_STALL_NS) {
				log_warning("origin %s: a blob stalled at %" PRIu64 " of %" PRIu64
				            " bytes; it starts over",
				            o->name, o->blobs[j].written, o->blobs[j].size);
				blob_reset(&o->blobs[j]);
			}
		/* Held entries or checkpoints whose landing failed (a mirror error) retry. */
		if (*o->mirror_error) {
			mirror_close(o);
			origin_land(a, o);
		}
	}
}

/* ------------------------------------------------------------------ status */

static int origin_alerts(const struct origin *o, char ***ret)
{
	char **v = calloc(_ALERT_KIND_MAX + 4, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	if (o->stopped && asprintf(&v[n], "stopped: %s", o->stop_msg) >= 0)
		n++;
	if (o->gap_alerted &&
	    asprintf(&v[n], "gap: entries from %" PRIu64 " missing", o->size) >= 0)
		n++;
	if (o->silent && asprintf(&v[n], "silent: no checkpoint received lately") >= 0)
		n++;
	if (*o->mirror_error && asprintf(&v[n], "mirror: %s", o->mirror_error) >= 0)
		n++;
	for (int k = 1; k < _ALERT_KIND_MAX; k++) {
		const struct events *ev = &o->events[k];
		if (!ev->count)
			continue;
		if (asprintf(&v[n], "%s: %" PRIu64 " (last: %s)", alert_kind_name(k), ev->count,
		             ev->last[(ev->next + EVENTS_KEPT - 1) % EVENTS_KEPT]) >= 0)
			n++;
	}
	*ret = v;
	return (int)n;
}

/* The gauges and the outcome counters, from the origins' state (with the status file). */
static void metrics_update(struct auditor *a)
{
	uint64_t sum[MO_N] = {0}, held[MK_N] = {0}, open[_ALERT_KIND_MAX] = {0};

	if (!a->cfg->metrics)
		return;
	for (size_t i = 0; i < a->n_origins; i++) {
		const struct origin *o = a->origins[i];
		sum[MO_MIRRORED] += o->mirrored;
		sum[MO_DUPLICATE] += o->duplicates;
		sum[MO_REFUSED] += o->refused;
		held[MK_ENTRY] += o->n_held + o->n_conflicts;
		held[MK_CHECKPOINT] += o->n_cps;
		for (size_t b = 0; b < BLOBS_MAX; b++)
			held[MK_BLOB] += o->blobs[b].n_replies;
		for (int k = 1; k < _ALERT_KIND_MAX; k++)
			open[k] += o->events[k].count;
		open[ALERT_GAP] += o->gap_alerted;
		open[ALERT_SILENT] += o->silent;
		open[ALERT_MIRROR] += *o->mirror_error != '\0';
	}
	for (int k = 0; k < MO_N; k++) {
		INVARIANT(sum[k] >= a->m.outcome_seen[k]);
		metric_add(a->m.outcome[k], sum[k] - a->m.outcome_seen[k]);
		a->m.outcome_seen[k] = sum[k];
	}
	for (int k = 0; k < MK_N; k++)
		metric_set(a->m.held[k], (double)held[k]);
	for (int k = 1; k < _ALERT_KIND_MAX; k++)
		metric_set(a->m.alerts_open[k], (double)open[k]);
}

static void status_write(struct auditor *a, bool force)
{
	struct auditor_status st = {.auditor = (char *)a->cfg->name, .vkey = a->vkey};
	uint64_t now = now_ns();
	int rc;

	if (!force && !(a->dirty && now - a->status_ns >= STATUS_PERIOD_NS) &&
	    now - a->status_ns < AUDITOR_STATUS_HEARTBEAT_S * 1000000000ull)
		return;
	st.updated_ns = now;
	metrics_update(a);
	st.origins = calloc(a->n_origins + 1, sizeof(*st.origins));
	if (!st.origins)
		return;
	for (size_t i = 0; i < a->n_origins; i++) {
		const struct origin *o = a->origins[i];
		struct auditor_status_origin *so = &st.origins[st.n++];
		int n;
		*so = (struct auditor_status_origin){
		    .origin = *o->name ? o->name : NULL,
		    .token = (char *)o->tok,
		    .trusted = o->trusted,
		    .stopped = o->stopped,
		    .last_seen_ns = o->last_seen_ns,
		    .last_checkpoint_ns = o->last_cp_ns,
		    .lag_ms = o->lag_ms,
		    .lag_p99_ms = lag_p99(o),
		    .received = o->received,
		    .mirrored = o->mirrored,
		    .duplicates = o->duplicates,
		    .refused = o->refused,
		    .held = o->n_held,
		};
		n = origin_alerts(o, &so->alerts);
		so->n_alerts = n > 0 ? (size_t)n : 0;
	}
	rc = auditor_status_write(a->cfg->mirror_dir, &st);
	if (rc < 0)
		log_warning("--mirror %s: cannot write " AUDITOR_STATUS_FILE ": %s",
		            a->cfg->mirror_dir, strerror(-rc));
	for (size_t i = 0; i < st.n; i++) {
		for (size_t j = 0; j < st.origins[i].n_alerts; j++)
			free(st.origins[i].alerts[j]);
		free(st.origins[i].alerts);
	}
	free(st.origins);
	a->status_ns = now;
	a->dirty = false;
}

/* Rebuilds the open event alerts of each origin from the state (those an operator has not
 * cleared), so that a restart does not hide them. */
static int reload_alert(void *ud, const struct astate_alert *al)
{
	struct auditor *a = ud;
	struct astate_origin so;
	struct origin *o;

	if (!is_event_kind(al->kind))
		return 0;
	if (astate_origin_get(a->state, al->origin, &so) == 0 && al->seq < so.open_from)
		return 0;
	o = origin_get(a, al->origin);
	if (o)
		events_add(&o->events[al->kind], al->msg);
	return 0;
}

/* ------------------------------------------------------------------ trust */

static int trust_load(const char *path, struct witness_trust *ret)
{
	char err[WITNESS_ERR_MAX + 4200];
	int rc = witness_trust_load(path, ret, err, sizeof(err));

	if (rc == -EBADMSG)
		log_error("%s", err);
	else if (rc < 0)
		log_error("--trust %s: %s", path, strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static void trust_reload(struct auditor *a)
{
	struct witness_trust t = {0};

	if (trust_load(a->cfg->trust_path, &t) < 0) {
		log_error("SIGHUP: the trust file is unchanged in use");
		return;
	}
	/* The mirrors recorded their keys; closing them all lets each reopen with the new
	 * trust's keys (a key no longer trusted cannot open its mirror). */
	for (size_t i = 0; i < a->n_origins; i++)
		mirror_close(a->origins[i]);
	witness_trust_deinit(&a->trust);
	a->trust = t;
	for (size_t i = 0; i < a->n_origins; i++) {
		struct origin *o = a->origins[i];
		bool was = o->trusted;
		origin_trust(a, o);
		if (was && !o->trusted) {
			log_notice(
			    "origin %s: no longer in the trust file: its messages are refused",
			    o->name);
			origin_drop_held(a, o);
		}
	}
	log_info("SIGHUP: trust file %s reloaded: %zu keys", a->cfg->trust_path, a->trust.n);
	a->dirty = true;
}

/* ------------------------------------------------------------------ NATS */

static void nats_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *ud)
{
	(void)nc;
	(void)sub;
	(void)ud;
	log_warning("NATS: %s", natsStatus_GetText(err));
}

static void nats_disconnected(natsConnection *nc, void *ud)
{
	struct auditor_flags *flags = ud;

	(void)nc;
	if (!atomic_load(&flags->stop))
		log_warning("NATS: disconnected; reconnecting");
}

static void nats_reconnected(natsConnection *nc, void *ud)
{
	char url[256] = "";
	(void)ud;
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	log_notice("NATS: reconnected to %s", url);
}

static int nats_connect(struct auditor *a)
{
	const struct auditor_config *c = a->cfg;
	natsOptions *opts = NULL;
	natsStatus s = natsOptions_Create(&opts);
	jsOptions jo;

	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, c->nats_url);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, c->name);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(opts, 500);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(opts, true, NULL, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(opts, nats_error, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(opts, nats_disconnected, a->flags);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, nats_reconnected, NULL);
	if (s == NATS_OK && c->creds)
		s = natsOptions_SetUserCredentialsFromFiles(opts, c->creds, NULL);
	if (s == NATS_OK && c->user)
		s = natsOptions_SetUserInfo(opts, c->user, getenv("NATS_PASSWORD"));
	if (s == NATS_OK && c->token_file) {
		char tok[4096];
		FILE *f = fopen(c->token_file, "re");
		size_t n = f ? fread(tok, 1, sizeof(tok) - 1, f) : 0;
		if (f)
			fclose(f);
		tok[n] = '\0';
		tok[strcspn(tok, "\r\n")] = '\0';
		if (!f || !*tok) {
			log_error("--token-file %s: %s", c->token_file,
			          f ? "empty" : strerror(errno));
			natsOptions_Destroy(opts);
			return -1;
		}
		s = natsOptions_SetToken(opts, tok);
	}
	if (s == NATS_OK && (c->tls_ca || c->tls_cert))
		s = natsOptions_SetSecure(opts, true);
	if (s == NATS_OK && c->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(opts, c->tls_ca);
	if (s == NATS_OK && c->tls_cert)
		s = natsOptions_LoadCertificatesChain(opts, c->tls_cert, c->tls_key);
	if (s != NATS_OK) {
		log_error("NATS options: %s: %s", natsStatus_GetText(s), nats_GetLastError(NULL));
		natsOptions_Destroy(opts);
		return -1;
	}
	s = natsConnection_Connect(&a->nc, opts);
	natsOptions_Destroy(opts);
	if (s == NATS_NOT_YET_CONNECTED) {
		log_warning("NATS %s: not reachable yet; retrying in the background", c->nats_url);
		s = NATS_OK;
	}
	if (s != NATS_OK) {
		log_error("NATS %s: %s: %s", c->nats_url, natsStatus_GetText(s),
		          nats_GetLastError(NULL));
		return -1;
	}
	jsOptions_Init(&jo);
	jo.Wait = 5000;
	s = natsConnection_JetStream(&a->js, a->nc, &jo);
	if (s != NATS_OK) {
		log_error("JetStream: %s", natsStatus_GetText(s));
		return -1;
	}
	return 0;
}

/* Creates or binds the durable consumer. Returns 0, 1 (not yet: retry) or -1 (fatal). */
static int consumer_bind(struct auditor *a, char *durable, bool *warned)
{
	char filter[FLEET_PREFIX_MAX + 3];
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	snprintf(filter, sizeof(filter), "%s.>", a->cfg->prefix);
	jsConsumerConfig_Init(&cc);
	cc.Durable = durable;
	cc.Description = "evident-auditor";
	cc.AckPolicy = js_AckExplicit;
	cc.DeliverPolicy = js_DeliverAll;
	cc.FilterSubject = filter;
	cc.AckWait = (int64_t)a->cfg->ack_wait_ns;
	cc.MaxDeliver = -1;
	cc.MaxAckPending = 1000000;
	s = js_AddConsumer(&ci, a->js, a->cfg->stream, &cc, NULL, &jerr);
	jsConsumerInfo_Destroy(ci);
	if (s != NATS_OK && jerr != JSConsumerNameExistErr) {
		if (!*warned)
			log_warning("JetStream: cannot create the consumer %s on stream %s: %s%s "
			            "(retrying; evidentd's forwarders create the stream)",
			            durable, a->cfg->stream, natsStatus_GetText(s),
			            jerr == JSStreamNotFoundErr ? ": no such stream yet" : "");
		*warned = true;
		return 1;
	}
	jsSubOptions_Init(&so);
	so.Stream = a->cfg->stream;
	so.Consumer = durable;
	s = js_PullSubscribe(&a->sub, a->js, filter, durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		if (!*warned)
			log_warning("JetStream: cannot bind consumer %s: %s (retrying)", durable,
			            natsStatus_GetText(s));
		*warned = true;
		return 1;
	}
	log_info("JetStream: consuming %s from stream %s as durable consumer %s", filter,
	         a->cfg->stream, durable);
	return 0;
}

/* ------------------------------------------------------------------ the loop */

static void batch(struct auditor *a, natsMsgList *list)
{
	metric_observe(a->m.fetch, list->Count);
	for (int i = 0; i < list->Count; i++)
		message(a, list->Msgs[i]);
	for (size_t i = 0; i < a->n_origins; i++) {
		struct origin *o = a->origins[i];
		if (!o->trusted || o->stopped)
			continue;
		origin_land(a, o);
	}
	natsConnection_Flush(a->nc);
}

static void origin_free(struct origin *o)
{
	held_remove(o, 0, o->n_held);
	free(o->held);
	for (size_t i = 0; i < o->n_cps; i++)
		cp_free(&o->cps[i]);
	for (size_t i = 0; i < o->n_conflicts; i++)
		held_free(&o->conflicts[i]);
	for (size_t i = 0; i < BLOBS_MAX; i++)
		blob_reset(&o->blobs[i]);
	mirror_close(o);
	free(o->lag_hist);
	free(o->name);
	free(o);
}

int auditor_run(const struct auditor_config *cfg, const struct vault_signer *signer,
                struct auditor_flags *flags)
{
	struct auditor a = {.cfg = cfg, .signer = signer, .flags = flags};
	char durable[FLEET_TOKEN_MAX];
	bool warned = false, bound = false, busy = false;
	uint64_t mirrored_before = 0;
	int rc = 1;

	metrics_init(&a.m, cfg->metrics);
	vault_pubkey_format(vault_signer_pubkey(signer), a.vkey, sizeof(a.vkey));
	if (fleet_subject_token(cfg->name, durable, sizeof(durable)) < 0) {
		log_error("--name %s: not a name the fleet accepts", cfg->name);
		return 1;
	}
	if (trust_load(cfg->trust_path, &a.trust) < 0)
		return 1;
	rc = astate_open(cfg->state_dir, false, &a.state);
	if (rc < 0) {
		log_error("--state %s: %s", cfg->state_dir,
		          rc == -EBADMSG ? "holds something that is not an auditor state"
		                         : strerror(-rc));
		witness_trust_deinit(&a.trust);
		return 1;
	}
	rc = astate_each_alert(a.state, 0, reload_alert, &a);
	if (rc < 0)
		log_warning("--state %s: cannot read the recorded alerts: %s", cfg->state_dir,
		            strerror(-rc));
	/* Every trusted origin is expected to speak: silence is an alert. */
	for (size_t i = 0; i < a.trust.n; i++)
		origin_get(&a, a.trust.keys[i].name);
	if (nats_connect(&a) < 0) {
		rc = 1;
		goto out;
	}
	log_info("evident-auditor: mirrors in %s, %zu trusted keys, cosigner key %s",
	         cfg->mirror_dir, a.trust.n, a.vkey);
	status_write(&a, true);
	rc = 0;
	while (!atomic_load(&flags->stop)) {
		natsMsgList list = {0};
		natsStatus s;
		if (atomic_exchange(&flags->reload, false))
			trust_reload(&a);
		if (!bound) {
			int b = consumer_bind(&a, durable, &warned);
			if (b < 0) {
				rc = 1;
				break;
			}
			bound = b == 0;
			if (!bound) {
				checks(&a);
				status_write(&a, false);
				/* The stream does not exist yet: ask again in a second. */
				usleep(1000000);
				continue;
			}
		}
		/* While messages come, take what is there (up to a batch) without waiting: the
		 * batches size themselves to the time a batch takes to write. Idle, wait for the
		 * next message (returned as soon as it arrives). A fetch shorter than the server's
		 * round trip would lose its messages until AckWait: the waits stay long. */
		if (busy) {
			jsFetchRequest req;
			jsFetchRequest_Init(&req);
			req.Batch = (int)cfg->batch;
			req.NoWait = true;
			req.Expires = FETCH_WAIT_MS * 1000000ll;
			s = natsSubscription_FetchRequest(&list, a.sub, &req);
		} else {
			s = natsSubscription_Fetch(&list, a.sub, 1, FETCH_WAIT_MS, NULL);
		}
		busy = s == NATS_OK && list.Count > 0;
		if (s == NATS_OK) {
			batch(&a, &list);
			natsMsgList_Destroy(&list);
		} else if (s != NATS_TIMEOUT) {
			/* Disconnected: libnats reconnects; the next fetch waits for it. */
			usleep(200000);
		}
		checks(&a);
		status_write(&a, false);
	}
	for (size_t i = 0; i < a.n_origins; i++)
		mirrored_before += a.origins[i]->mirrored;
	log_info("stopping: %" PRIu64 " entries mirrored in this run", mirrored_before);
	status_write(&a, true);
out:
	if (a.sub)
		natsSubscription_Destroy(a.sub);
	if (a.js) {
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MaxWait = 2000;
		js_PublishAsyncComplete(a.js, &po);
		jsCtx_Destroy(a.js);
	}
	if (a.nc) {
		natsConnection_Flush(a.nc);
		natsConnection_Destroy(a.nc);
	}
	for (size_t i = 0; i < a.n_origins; i++)
		origin_free(a.origins[i]);
	free(a.origins);
	astate_close(a.state);
	witness_trust_deinit(&a.trust);
	return rc;
}
