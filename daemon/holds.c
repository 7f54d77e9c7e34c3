/* SPDX-License-Identifier: Apache-2.0 */
/* Legal holds and open incidents (holds.h). */
#include "holds.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "entry.pb-c.h"
#include "evident/invariant.h"

/* Verdicts naming a record are written at most its verdict_deadline_ms after it (a retry's
 * PENDING later, which the record rule covers anyway): resolve looks that far, plus this. */
#define VERDICT_SLACK_NS (60ull * 1000000000)

/* ------------------------------------------------------------------ a map of seqs */

/* Open addressing, linear probing; key HOLDS_NONE marks an empty slot, TOMB a deleted one. */
#define TOMB (HOLDS_NONE - 1)

struct seqmap {
	uint64_t *keys, *vals;
	size_t cap, used; /* used counts tombstones too */
	size_t n;
};

static size_t slot_of(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k & (cap - 1);
}

static uint64_t *map_find(const struct seqmap *m, uint64_t k)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == k)
			return &m->vals[i];
		if (m->keys[i] == HOLDS_NONE)
			return NULL;
	}
}

/* Rehashes into a table sized for the live keys (tombstones go). */
static int map_grow(struct seqmap *m)
{
	size_t cap = 64;
	struct seqmap nm;

	while ((m->n + 1) * 2 >= cap)
		cap *= 2;
	nm = (struct seqmap){.cap = cap};
	nm.keys = malloc(cap * sizeof(uint64_t));
	nm.vals = malloc(cap * sizeof(uint64_t));
	if (!nm.keys || !nm.vals) {
		free(nm.keys);
		free(nm.vals);
		return -ENOMEM;
	}
	memset(nm.keys, 0xff, cap * sizeof(uint64_t)); /* HOLDS_NONE */
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i] == HOLDS_NONE || m->keys[i] == TOMB)
			continue;
		size_t j = slot_of(m->keys[i], cap);
		while (nm.keys[j] != HOLDS_NONE)
			j = (j + 1) & (cap - 1);
		nm.keys[j] = m->keys[i];
		nm.vals[j] = m->vals[i];
		nm.n++;
	}
	nm.used = nm.n;
	free(m->keys);
	free(m->vals);
	*m = nm;
	return 0;
}

/* Sets k to v (k below TOMB). Returns 0 or -ENOMEM. */
static int map_put(struct seqmap *m, uint64_t k, uint64_t v)
{
	uint64_t *p = map_find(m, k);

	INVARIANT(k < TOMB);
	if (p) {
		*p = v;
		return 0;
	}
	if ((m->used + 1) * 4 >= m->cap * 3 && map_grow(m) < 0)
		return -ENOMEM;
	size_t i = slot_of(k, m->cap);
	while (m->keys[i] != HOLDS_NONE && m->keys[i] != TOMB)
		i = (i + 1) & (m->cap - 1);
	if (m->keys[i] == HOLDS_NONE)
		m->used++;
	m->keys[i] = k;
	m->vals[i] = v;
	m->n++;
	return 0;
}

static void map_del(struct seqmap *m, uint64_t k)
{
	uint64_t *p = map_find(m, k);

	if (!p)
		return;
	m->keys[p - m->vals] = TOMB;
	INVARIANT(m->n > 0);
	m->n--;
}

static void map_deinit(struct seqmap *m)
{
	free(m->keys);
	free(m->vals);
	*m = (struct seqmap){0};
}

/* ------------------------------------------------------------------ the holds */

struct hold {
	char *hold_id;
	uint64_t hold_seq;
	uint64_t *seqs; /* sorted */
	size_t n;
	uint64_t incident_seq, record_seq; /* HOLDS_NONE unless an incident hold */
};

struct holds {
	pthread_mutex_t lock;
	struct hold *holds;
	size_t n_holds;
	struct seqmap open;    /* open incident seq -> its record seq */
	struct seqmap records; /* record seq -> open incidents on it (queued ones included) */
	uint64_t lifted;       /* smallest seq freed since holds_take_lifted */
	bool degraded;         /* an update ran out of memory: everything is held */
};

int holds_new(struct holds **ret)
{
	struct holds *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	h->lifted = HOLDS_NONE;
	*ret = h;
	return 0;
}

static void hold_deinit(struct hold *x)
{
	free(x->hold_id);
	free(x->seqs);
}

void holds_free(struct holds *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_holds; i++)
		hold_deinit(&h->holds[i]);
	free(h->holds);
	map_deinit(&h->open);
	map_deinit(&h->records);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void lift(struct holds *h, uint64_t seq)
{
	if (seq < h->lifted)
		h->lifted = seq;
}

static struct hold *find_locked(struct holds *h, const char *hold_id)
{
	for (size_t i = 0; i < h->n_holds; i++)
		if (!strcmp(h->holds[i].hold_id, hold_id))
			return &h->holds[i];
	return NULL;
}

int holds_find(struct holds *h, const char *hold_id, uint64_t *ret_seq)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&h->lock);
	struct hold *x = find_locked(h, hold_id);
	if (x) {
		*ret_seq = x->hold_seq;
		rc = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static void place_locked(struct holds *h, const char *hold_id, uint64_t hold_seq, uint64_t *seqs,
                         size_t n, uint64_t incident_seq, uint64_t record_seq)
{
	struct hold *nh = realloc(h->holds, (h->n_holds + 1) * sizeof(*nh));
	char *id = strdup(hold_id);

	if (n && !seqs)
		h->degraded = true; /* the caller could not copy them */
	if (!nh || !id) {
		if (nh)
			h->holds = nh;
		free(id);
		free(seqs);
		h->degraded = true;
		return;
	}
	h->holds = nh;
	h->holds[h->n_holds++] = (struct hold){.hold_id = id,
	                                       .hold_seq = hold_seq,
	                                       .seqs = seqs,
	                                       .n = n,
	                                       .incident_seq = incident_seq,
	                                       .record_seq = record_seq};
}

void holds_place(struct holds *h, const char *hold_id, uint64_t hold_seq, uint64_t *seqs, size_t n,
                 uint64_t incident_seq, uint64_t record_seq)
{
	pthread_mutex_lock(&h->lock);
	INVARIANT(!find_locked(h, hold_id)); /* the caller checked it under the writer's order */
	place_locked(h, hold_id, hold_seq, seqs, n, incident_seq, record_seq);
	pthread_mutex_unlock(&h->lock);
}

static int release_locked(struct holds *h, const char *hold_id)
{
	struct hold *x = find_locked(h, hold_id);

	if (!x)
		return -ENOENT;
	if (x->n)
		lift(h, x->seqs[0]);
	if (x->record_seq != HOLDS_NONE)
		lift(h, x->record_seq);
	if (x->incident_seq != HOLDS_NONE)
		lift(h, x->incident_seq);
	hold_deinit(x);
	*x = h->holds[--h->n_holds];
	return 0;
}

int holds_release(struct holds *h, const char *hold_id)
{
	pthread_mutex_lock(&h->lock);
	int rc = release_locked(h, hold_id);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static bool has_seq(const struct hold *x, uint64_t seq)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->seqs[mid] == seq)
			return true;
		if (x->seqs[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* What an entry is about: the record (rec), the incident (inc), the entry a notice names
 * (ent); HOLDS_NONE when it names none. */
struct about {
	uint64_t rec, inc, ent;
};

static struct about about_of(uint64_t seq, uint16_t type, const uint8_t *p, size_t len)
{
	struct about a = {HOLDS_NONE, HOLDS_NONE, HOLDS_NONE};
	const uint8_t *sub;
	size_t sub_len;
	uint64_t v;

	switch (type) {
	case VAULT_ENTRY_RECORD:
		a.rec = seq;
		break;
	case VAULT_ENTRY_INCIDENT: /* IncidentEntry.record_seq = 1 */
		a.inc = seq;
		if (dispatch_field_u64(p, len, 1, &v) == 1)
			a.rec = v;
		break;
	case VAULT_ENTRY_AUDIT: /* AuditEntry.incident_seq = 1, record_seq = 2 */
		if (dispatch_field_u64(p, len, 1, &v) == 1)
			a.inc = v;
		if (dispatch_field_u64(p, len, 2, &v) == 1)
			a.rec = v;
		break;
	case VAULT_ENTRY_VERDICT: /* VerdictEntry.record_seq = 1, incident_seq = 2 (0: none) */
		if (dispatch_field_u64(p, len, 1, &v) == 1)
			a.rec = v;
		if (dispatch_field_u64(p, len, 2, &v) == 1 && v)
			a.inc = v;
		break;
	case VAULT_ENTRY_REVIEW: /* ReviewEntry.review = 2, Review.incident_id = 1 */
		if (dispatch_field_bytes(p, len, 2, &sub, &sub_len) == 1 &&
		    dispatch_field_u64(sub, sub_len, 1, &v) == 1)
			a.inc = v;
		break;
	case VAULT_ENTRY_NOTICE: /* NoticeEntry.incident_seq = 2, entry_seq = 4 */
		if (dispatch_field_u64(p, len, 2, &v) == 1)
			a.inc = v;
		if (dispatch_field_u64(p, len, 4, &v) == 1)
			a.ent = v;
		break;
	default:
		break;
	}
	for (uint64_t *x = &a.rec; x <= &a.ent; x++)
		if (*x >= TOMB)
			*x = HOLDS_NONE; /* never a key of the maps */
	return a;
}

/* The open incident on record rec (for a reason): one of them. */
static uint64_t open_incident_of(const struct holds *h, uint64_t rec)
{
	for (size_t i = 0; i < h->open.cap; i++)
		if (h->open.keys[i] < TOMB && h->open.vals[i] == rec)
			return h->open.keys[i];
	return HOLDS_NONE;
}

static bool open_record(const struct holds *h, uint64_t rec)
{
	const uint64_t *n = rec == HOLDS_NONE ? NULL : map_find(&h->records, rec);
	return n && *n > 0;
}

bool holds_covers(struct holds *h, uint64_t seq, uint16_t type, const uint8_t *payload, size_t len,
                  char *why, size_t why_size)
{
	struct about a = about_of(seq, type, payload, len);
	bool held = false;

	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_holds && !held; i++) {
		const struct hold *x = &h->holds[i];
		held = has_seq(x, seq) || (a.ent != HOLDS_NONE && has_seq(x, a.ent)) ||
		       (x->record_seq != HOLDS_NONE && a.rec == x->record_seq) ||
		       (x->incident_seq != HOLDS_NONE && a.inc == x->incident_seq);
		if (held && why)
			snprintf(why, why_size, "%s", x->hold_id);
	}
	if (!held) {
		/* an open incident: the entry is one, names one, or is about its record */
		uint64_t inc = HOLDS_NONE, rec = HOLDS_NONE;
		if (a.inc != HOLDS_NONE && map_find(&h->open, a.inc))
			inc = a.inc;
		else if (a.ent != HOLDS_NONE && map_find(&h->open, a.ent))
			inc = a.ent;
		else if (open_record(h, a.rec))
			rec = a.rec;
		else if (open_record(h, a.ent))
			rec = a.ent;
		held = inc != HOLDS_NONE || rec != HOLDS_NONE;
		/* which incident (a walk over the open ones) only when asked */
		if (held && why && inc == HOLDS_NONE)
			inc = open_incident_of(h, rec);
		if (held && why) {
			if (inc != HOLDS_NONE)
				snprintf(why, why_size, "open incident %" PRIu64, inc);
			else /* queued, its seq not known yet */
				snprintf(why, why_size, "open incident (being written)");
		}
	}
	if (!held && h->degraded) {
		held = true;
		if (why)
			snprintf(why, why_size, "everything (out of memory for the holds)");
	}
	pthread_mutex_unlock(&h->lock);
	return held;
}

uint64_t holds_take_lifted(struct holds *h)
{
	pthread_mutex_lock(&h->lock);
	uint64_t s = h->lifted;
	h->lifted = HOLDS_NONE;
	pthread_mutex_unlock(&h->lock);
	return s;
}

void holds_counts(struct holds *h, size_t *ret_holds, size_t *ret_open_incidents)
{
	pthread_mutex_lock(&h->lock);
	*ret_holds = h->n_holds;
	*ret_open_incidents = h->open.n;
	pthread_mutex_unlock(&h->lock);
}

bool holds_degraded(struct holds *h)
{
	pthread_mutex_lock(&h->lock);
	bool d = h->degraded;
	pthread_mutex_unlock(&h->lock);
	return d;
}

/* ------------------------------------------------------------------ incidents */

static void record_add(struct holds *h, uint64_t rec, int delta)
{
	uint64_t *n = map_find(&h->records, rec);

	if (delta > 0) {
		if (map_put(&h->records, rec, (n ? *n : 0) + 1) < 0)
			h->degraded = true;
		return;
	}
	if (!n)
		return;
	if (*n > 1) {
		(*n)--;
		return;
	}
	map_del(&h->records, rec);
	lift(h, rec);
}

void holds_incident_queued(struct holds *h, uint64_t record_seq)
{
	if (record_seq >= TOMB)
		return;
	pthread_mutex_lock(&h->lock);
	record_add(h, record_seq, 1);
	pthread_mutex_unlock(&h->lock);
}

void holds_incident_written(struct holds *h, uint64_t record_seq, uint64_t incident_seq,
                            bool written)
{
	if (record_seq >= TOMB)
		return;
	pthread_mutex_lock(&h->lock);
	if (!written)
		record_add(h, record_seq, -1);
	else if (incident_seq < TOMB && map_put(&h->open, incident_seq, record_seq) < 0)
		h->degraded = true;
	pthread_mutex_unlock(&h->lock);
}

static void reviewed_locked(struct holds *h, uint64_t incident_seq)
{
	uint64_t *rec = map_find(&h->open, incident_seq);

	if (!rec)
		return; /* reviewed before, rate limited, or not an incident */
	uint64_t r = *rec;
	map_del(&h->open, incident_seq);
	record_add(h, r, -1);
	lift(h, incident_seq < r ? incident_seq : r);
}

void holds_incident_reviewed(struct holds *h, uint64_t incident_seq)
{
	pthread_mutex_lock(&h->lock);
	reviewed_locked(h, incident_seq);
	pthread_mutex_unlock(&h->lock);
}

/* ------------------------------------------------------------------ resolving a Hold */

static int push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		uint64_t *na = realloc(*a, nc * sizeof(**a));
		if (!na)
			return -ENOMEM;
		*a = na;
		*cap = nc;
	}
	(*a)[(*n)++] = v;
	return 0;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* The entries of type `type` from seq `from` whose field `field` is `value`, up to timestamp
 * until_ns (0: the end). */
static int naming(struct vault_reader *r, int type, uint64_t from, unsigned field, uint64_t value,
                  uint64_t until_ns, uint64_t **a, size_t *n, size_t *cap)
{
	struct vault_entry e;
	uint64_t seq, v;
	int rc;

	while ((rc = vault_next_of_type(r, type, from, &seq)) == 0) {
		rc = vault_get(r, seq, &e);
		if (rc < 0)
			return rc;
		if (until_ns && e.leaf.timestamp_ns > until_ns)
			break;
		if (e.payload && dispatch_field_u64(e.payload, e.payload_len, field, &v) == 1 &&
		    v == value && push(a, n, cap, seq) < 0)
			return -ENOMEM;
		from = seq + 1;
	}
	return rc == -ENOENT || rc == 0 ? 0 : rc;
}

int holds_resolve(struct vault_reader *r, bool incident, uint64_t seq, uint64_t **ret_seqs,
                  size_t *ret_n, uint64_t *ret_record, char *why, size_t why_size)
{
	struct vault_entry e;
	uint64_t *a = NULL, rec = HOLDS_NONE, v;
	size_t n = 0, cap = 0;
	int rc = vault_get(r, seq, &e);

	if (rc == -ENOENT) {
		snprintf(why, why_size,
		         "hold: no %s %" PRIu64 " (the vault holds %" PRIu64 " entries)",
		         incident ? "incident" : "entry", seq, vault_reader_size(r));
		return -ENOENT;
	}
	if (rc < 0)
		return rc;
	if (incident && e.leaf.type != VAULT_ENTRY_INCIDENT) {
		const char *t = vault_entry_type_name(e.leaf.type);
		snprintf(why, why_size,
		         "hold: entry %" PRIu64 " is not an incident (it is a %s entry)", seq,
		         t ? t : "unknown");
		return -EINVAL;
	}
	if (push(&a, &n, &cap, seq) < 0)
		return -ENOMEM;
	if (incident && e.payload && dispatch_field_u64(e.payload, e.payload_len, 1, &v) == 1 &&
	    v < seq)
		rec = v;
	if (incident) {
		/* the audits of the incident (AuditEntry.incident_seq) */
		rc = naming(r, VAULT_ENTRY_AUDIT, seq + 1, 1, seq, 0, &a, &n, &cap);
		if (rc == 0 && rec != HOLDS_NONE && (rc = push(&a, &n, &cap, rec)) == 0 &&
		    (rc = vault_get(r, rec, &e)) == 0 && e.payload) {
			/* the verdicts of its record, written within its deadline */
			const uint8_t *recmsg;
			size_t rl;
			uint64_t deadline_ms = 0;
			if (dispatch_field_bytes(e.payload, e.payload_len, 3, &recmsg, &rl) == 1 &&
			    dispatch_field_u64(recmsg, rl, 12, &deadline_ms) == 1 && deadline_ms)
				rc = naming(r, VAULT_ENTRY_VERDICT, rec + 1, 1, rec,
				            e.leaf.timestamp_ns + deadline_ms * 1000000 +
				                VERDICT_SLACK_NS,
				            &a, &n, &cap);
		}
		if (rc < 0) {
			free(a);
			return rc == -ENOENT ? -EIO : rc;
		}
	}
	qsort(a, n, sizeof(*a), cmp_u64);
	*ret_seqs = a;
	*ret_n = n;
	*ret_record = rec;
	return 0;
}

/* ------------------------------------------------------------------ loading */

/* An event of the rebuild, in seq order. */
struct event {
	uint64_t seq;
	uint16_t type;
};

static int cmp_event(const void *x, const void *y)
{
	uint64_t a = ((const struct event *)x)->seq, b = ((const struct event *)y)->seq;
	return a < b ? -1 : a > b;
}

static int collect(struct vault_reader *r, int type, struct event **ev, size_t *n, size_t *cap)
{
	uint64_t from = 0, seq;
	int rc;

	while ((rc = vault_next_of_type(r, type, from, &seq)) == 0) {
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			struct event *ne = realloc(*ev, nc * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			*ev = ne;
			*cap = nc;
		}
		(*ev)[(*n)++] = (struct event){seq, (uint16_t)type};
		from = seq + 1;
	}
	return rc == -ENOENT ? 0 : rc;
}

/* Applies one hold or release entry. */
static int load_hold(struct holds *h, struct vault_reader *r, uint64_t seq, uint16_t type,
                     const struct vault_entry *e)
{
	Evident__Entry__V1__HoldEntry *he =
	    evident__entry__v1__hold_entry__unpack(NULL, e->payload_len, e->payload);
	int rc = 0;

	if (!he)
		return -EBADMSG;
	if (type == VAULT_ENTRY_RELEASE) {
		if (he->release && he->release->hold_id)
			release_locked(h, he->release->hold_id);
		else
			rc = -EBADMSG;
	} else if (!he->hold || !he->hold->hold_id) {
		rc = -EBADMSG;
	} else if (!find_locked(h, he->hold->hold_id)) {
		uint64_t *seqs = malloc((he->n_seqs ? he->n_seqs : 1) * sizeof(uint64_t));
		uint64_t inc = HOLDS_NONE, rec = HOLDS_NONE, v;
		struct vault_entry ie;
		if (!seqs) {
			rc = -ENOMEM;
		} else {
			if (he->n_seqs) {
				memcpy(seqs, he->seqs, he->n_seqs * sizeof(uint64_t));
				qsort(seqs, he->n_seqs, sizeof(uint64_t), cmp_u64);
			}
			if (he->hold->has_incident_id && he->hold->incident_id < TOMB) {
				inc = he->hold->incident_id;
				if (vault_get(r, inc, &ie) == 0 && ie.payload &&
				    dispatch_field_u64(ie.payload, ie.payload_len, 1, &v) == 1 &&
				    v < inc)
					rec = v;
			}
			place_locked(h, he->hold->hold_id, seq, seqs, he->n_seqs, inc, rec);
		}
	}
	evident__entry__v1__hold_entry__free_unpacked(he, NULL);
	return rc;
}

/* Applies one incident (OPEN ones) or review entry. */
static int load_incident(struct holds *h, uint64_t seq, uint16_t type, const struct vault_entry *e)
{
	const uint8_t *sub;
	size_t sub_len;
	uint64_t status = 0, rec, inc;

	if (type == VAULT_ENTRY_REVIEW) {
		if (dispatch_field_bytes(e->payload, e->payload_len, 2, &sub, &sub_len) == 1 &&
		    dispatch_field_u64(sub, sub_len, 1, &inc) == 1 && inc < seq)
			reviewed_locked(h, inc);
		return 0;
	}
	/* IncidentEntry: record_seq = 1, status = 4 (OPEN = 0 by default) */
	if (dispatch_field_u64(e->payload, e->payload_len, 1, &rec) != 1 ||
	    dispatch_field_u64(e->payload, e->payload_len, 4, &status) < 0)
		return -EBADMSG;
	if (status != EVIDENT__ENTRY__V1__INCIDENT_ENTRY__STATUS__OPEN || rec >= seq)
		return 0;
	record_add(h, rec, 1);
	if (map_put(&h->open, seq, rec) < 0)
		return -ENOMEM;
	return 0;
}

int holds_load(struct holds *h, struct vault *v, char *err, size_t err_size)
{
	static const int types[] = {VAULT_ENTRY_HOLD, VAULT_ENTRY_RELEASE, VAULT_ENTRY_INCIDENT,
	                            VAULT_ENTRY_REVIEW};
	struct vault_reader *r;
	struct event *ev = NULL;
	size_t n = 0, cap = 0;
	int rc;

	err[0] = '\0';
	rc = vault_reader_begin(v, &r);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && rc == 0; i++)
		rc = collect(r, types[i], &ev, &n, &cap);
	if (rc == 0 && n)
		qsort(ev, n, sizeof(*ev), cmp_event);
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct vault_entry e;
		rc = vault_get(r, ev[i].seq, &e);
		if (rc < 0 || !e.payload)
			continue; /* pruned (an incident no longer open, a review of one) */
		if (ev[i].type == VAULT_ENTRY_HOLD || ev[i].type == VAULT_ENTRY_RELEASE)
			rc = load_hold(h, r, ev[i].seq, ev[i].type, &e);
		else
			rc = load_incident(h, ev[i].seq, ev[i].type, &e);
		if (rc == -EBADMSG)
			snprintf(err, err_size, "the %s entry %" PRIu64 " does not decode",
			         vault_entry_type_name(ev[i].type), ev[i].seq);
	}
	h->lifted = HOLDS_NONE;
	pthread_mutex_unlock(&h->lock);
	free(ev);
	vault_reader_end(r);
	return rc;
}
