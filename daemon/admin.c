/* SPDX-License-Identifier: Apache-2.0 */
/* Hold, Release and Erase (admin.h). */
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "dispatch.h"
#include "entry.pb-c.h"
#include "holds.h"
#include "log.h"
#include "prune.h"
#include "registry.h"
#include "retry.h"
#include "session.h"
#include "writer.h"

#define E(x) EVIDENT__V1__ERROR__CODE__##x

/* Seqs an Ack's detail lists at most (the entry lists them all). */
#define DETAIL_SEQS 16

struct admin_job {
	struct job job;
	struct daemon *d;      /* loop thread (done) */
	struct holds *holds;   /* any thread */
	uint16_t type;         /* VAULT_ENTRY_HOLD, _RELEASE or _ERASURE */
	ProtobufCMessage *msg; /* a private copy of the request (Hold, Release or Erase) */
	char *client;
	struct peer peer;
	const char *request_id; /* in msg */
	/* the entry as it would be stored before any work (no seqs, no counts): compared by a
	 * retry's check, kept by a refusal's notice */
	uint8_t *probe;
	size_t probe_len;
	uint8_t *payload; /* the entry appended */
	/* the outcome (writer thread, then done) */
	dispatch_code refused;
	char why[512];
	uint64_t *seqs; /* hold: what it covers (owned by the holds once placed) */
	size_t n_seqs;
	uint64_t hold_seq; /* release: the hold entry it ends */
	/* erasure: progress, kept across its jobs */
	bool started, finished;
	uint64_t from, until;
	uint64_t entries, pruned, already;
	uint64_t *held;
	size_t n_held, cap_held;
	char **blocking;
	size_t n_blocking;
	uint32_t batch;
	char reason[1025]; /* of each prune */
	struct prune_list list;
};

static void admin_job_free(struct admin_job *aj)
{
	if (aj->msg)
		protobuf_c_message_free_unpacked(aj->msg, NULL);
	free(aj->client);
	free(aj->probe);
	free(aj->payload);
	free(aj->seqs);
	free(aj->held);
	for (size_t i = 0; i < aj->n_blocking; i++)
		free(aj->blocking[i]);
	free(aj->blocking);
	prune_list_deinit(&aj->list);
	free(aj);
}

static const Evident__V1__Hold *hold_of(const struct admin_job *aj)
{
	return aj->type == VAULT_ENTRY_HOLD ? (const Evident__V1__Hold *)aj->msg : NULL;
}

static const Evident__V1__Release *release_of(const struct admin_job *aj)
{
	return aj->type == VAULT_ENTRY_RELEASE ? (const Evident__V1__Release *)aj->msg : NULL;
}

static const Evident__V1__Erase *erase_of(const struct admin_job *aj)
{
	return aj->type == VAULT_ENTRY_ERASURE ? (const Evident__V1__Erase *)aj->msg : NULL;
}

/* The entry's payload for the request, with the seqs and counts given. */
static int entry_payload(const struct admin_job *aj, const uint64_t *seqs, size_t n,
                         const struct dispatch_erasure *what, uint8_t **ret, size_t *ret_len)
{
	static const struct dispatch_erasure none;

	if (aj->type == VAULT_ENTRY_ERASURE)
		return dispatch_erasure_payload(erase_of(aj), aj->client, &aj->peer,
		                                what ? what : &none, ret, ret_len);
	return dispatch_hold_payload(hold_of(aj), release_of(aj), aj->client, &aj->peer, seqs, n,
	                             ret, ret_len);
}

/* A NoticeEntry "admin_refused" for a refused request (its probe payload as refused). */
static int refused_notice(const char *client, const char *request_id, uint16_t type,
                          const uint8_t *probe, size_t probe_len, dispatch_code code,
                          const char *why, uint8_t **ret, size_t *ret_len)
{
	Evident__Entry__V1__NoticeEntry n = EVIDENT__ENTRY__V1__NOTICE_ENTRY__INIT;
	char detail[600];

	snprintf(detail, sizeof(detail), "%s: %s", dispatch_code_name(code), why);
	n.kind = "admin_refused";
	n.detail = detail;
	n.client_name = (char *)client;
	n.request_id = (char *)request_id;
	if (probe) {
		n.has_refused_payload = n.has_refused_type = true;
		n.refused_payload = (ProtobufCBinaryData){probe_len, (uint8_t *)probe};
		n.refused_type = type;
	}
	return dispatch_pack(&n.base, ret, ret_len);
}

/* ------------------------------------------------------------------ writer thread */

/* Refuses the request with code and why, recording the refusal (writer thread). */
static void refuse(struct admin_job *aj, struct vault *v, dispatch_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(struct admin_job *aj, struct vault *v, dispatch_code code, const char *fmt, ...)
{
	struct vault_append_result res;
	uint8_t *buf;
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(aj->why, sizeof(aj->why), fmt, ap);
	va_end(ap);
	aj->refused = code;
	if (refused_notice(aj->client, aj->request_id, aj->type, aj->probe, aj->probe_len, code,
	                   aj->why, &buf, &len) < 0)
		return;
	struct vault_entry_in in = {
	    .type = VAULT_ENTRY_NOTICE, .payload = buf, .payload_len = len, .reserved = true};
	int rc = vault_append(v, &in, 1, &res);
	if (rc < 0)
		log_error("recording a refused %s of %s: %s", vault_entry_type_name(aj->type),
		          aj->client, strerror(-rc));
	free(buf);
}

/* A retry of a request already stored: the result names the stored entry (done checks it).
 * Returns true when it was. */
static bool stored_before(struct admin_job *aj, struct vault *v)
{
	struct vault_reader *r;
	struct vault_entry e;
	uint64_t seq;

	if (vault_dedup_lookup(v, aj->client, aj->request_id, &seq) < 0)
		return false;
	aj->job.rc = vault_reader_begin(v, &r);
	if (aj->job.rc < 0)
		return true;
	aj->job.rc = vault_get(r, seq, &e);
	if (aj->job.rc == 0)
		aj->job.res1 = (struct vault_append_result){
		    .seq = seq, .timestamp_ns = e.leaf.timestamp_ns, .duplicate = true};
	if (aj->job.rc == 0)
		memcpy(aj->job.res1.leaf_hash, e.leaf_hash, VAULT_HASH_LEN);
	vault_reader_end(r);
	return true;
}

/* Appends the request's entry (aj->payload) with its dedup key. */
static void append_entry(struct admin_job *aj, struct vault *v, size_t len)
{
	aj->job.in1 = (struct vault_entry_in){.type = aj->type,
	                                      .payload = aj->payload,
	                                      .payload_len = len,
	                                      .dedup_client = aj->client,
	                                      .dedup_request = aj->request_id,
	                                      .reserved = true};
	aj->job.rc = vault_append(v, &aj->job.in1, 1, &aj->job.res1);
}

static void hold_run(struct job *j, struct vault *v)
{
	struct admin_job *aj = (struct admin_job *)j;
	const Evident__V1__Hold *h = hold_of(aj);
	struct vault_reader *r;
	uint64_t seq, rec;
	size_t len;
	int rc;

	if (stored_before(aj, v))
		return;
	if (holds_find(aj->holds, h->hold_id, &seq) == 0) {
		refuse(aj, v, E(CONFLICT),
		       "hold: hold_id \"%s\" is in force already (hold entry %" PRIu64
		       "); release it first or choose another id",
		       h->hold_id, seq);
		return;
	}
	rc = vault_reader_begin(v, &r);
	if (rc == 0) {
		rc = holds_resolve(r, h->has_incident_id,
		                   h->has_incident_id ? h->incident_id : h->seq, &aj->seqs,
		                   &aj->n_seqs, &rec, aj->why, sizeof(aj->why));
		vault_reader_end(r);
	}
	if (rc == -ENOENT || rc == -EINVAL) {
		char why[sizeof(aj->why)];
		memcpy(why, aj->why, sizeof(why));
		refuse(aj, v, E(BAD_MESSAGE), "%s", why);
		return;
	}
	if (rc < 0 ||
	    (rc = entry_payload(aj, aj->seqs, aj->n_seqs, NULL, &aj->payload, &len)) < 0) {
		j->rc = rc;
		return;
	}
	append_entry(aj, v, len);
	if (j->rc == 0 && !j->res1.duplicate) {
		uint64_t *copy = malloc((aj->n_seqs ? aj->n_seqs : 1) * sizeof(uint64_t));
		if (copy)
			memcpy(copy, aj->seqs, aj->n_seqs * sizeof(uint64_t));
		/* without memory the holds hold everything until the next start (holds.h) */
		holds_place(aj->holds, h->hold_id, j->res1.seq, copy, aj->n_seqs,
		            h->has_incident_id ? h->incident_id : HOLDS_NONE,
		            h->has_incident_id ? rec : HOLDS_NONE);
	}
}

static void release_run(struct job *j, struct vault *v)
{
	struct admin_job *aj = (struct admin_job *)j;
	const Evident__V1__Release *rl = release_of(aj);
	size_t len;
	int rc;

	if (stored_before(aj, v))
		return;
	if (holds_find(aj->holds, rl->hold_id, &aj->hold_seq) < 0) {
		refuse(aj, v, E(BAD_MESSAGE), "release: no hold \"%s\" is in force", rl->hold_id);
		return;
	}
	rc = entry_payload(aj, &aj->hold_seq, 1, NULL, &aj->payload, &len);
	if (rc < 0) {
		j->rc = rc;
		return;
	}
	append_entry(aj, v, len);
	if (j->rc == 0 && !j->res1.duplicate)
		holds_release(aj->holds, rl->hold_id);
}

static int add_blocking(struct admin_job *aj, const char *why)
{
	for (size_t i = 0; i < aj->n_blocking; i++)
		if (!strcmp(aj->blocking[i], why))
			return 0;
	char **nb = realloc(aj->blocking, (aj->n_blocking + 1) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	aj->blocking = nb;
	if (!(nb[aj->n_blocking] = strdup(why)))
		return -ENOMEM;
	aj->n_blocking++;
	return 0;
}

static int add_held(struct admin_job *aj, uint64_t seq)
{
	if (aj->n_held == aj->cap_held) {
		size_t nc = aj->cap_held ? aj->cap_held * 2 : 16;
		uint64_t *nh = realloc(aj->held, nc * sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		aj->held = nh;
		aj->cap_held = nc;
	}
	aj->held[aj->n_held++] = seq;
	return 0;
}

/* Gathers the next batch of the subject's payloads into aj->list (the held ones and those
 * pruned before are counted). Sets *ret_end when the subject has no more entries. */
static int erase_gather(struct admin_job *aj, struct vault_reader *r, bool *ret_end)
{
	const char *subject = erase_of(aj)->subject;
	struct vault_entry e;
	char why[DISPATCH_HOLD_ID_MAX + 32];
	uint64_t seq;
	int rc = 0;

	*ret_end = false;
	while (aj->list.n < aj->batch) {
		rc = vault_subject_next(r, subject, aj->from, &seq);
		if (rc == -ENOENT || (rc == 0 && seq >= aj->until)) {
			*ret_end = true;
			return 0;
		}
		if (rc < 0 || (rc = vault_get(r, seq, &e)) < 0)
			return rc;
		aj->from = seq + 1;
		if (e.leaf.type == VAULT_ENTRY_PRUNE)
			continue; /* never a subject's; a prune cannot be pruned */
		aj->entries++;
		if (!e.payload)
			aj->already++;
		else if (holds_covers(aj->holds, seq, e.leaf.type, e.payload, e.payload_len, why,
		                      sizeof(why)))
			rc = add_held(aj, seq) < 0 || add_blocking(aj, why) < 0 ? -ENOMEM : 0;
		else
			rc = prune_list_add(&aj->list, &e, aj->reason);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One batch of an erasure; the last one also appends the erasure entry. Its done() queues the
 * next batch, behind whatever was queued meanwhile. */
static void erase_run(struct job *j, struct vault *v)
{
	struct admin_job *aj = (struct admin_job *)j;
	struct vault_reader *r;
	bool end = false;
	long pruned;
	size_t len;
	int rc;

	if (!aj->started) {
		aj->started = true;
		if (stored_before(aj, v)) {
			aj->finished = true;
			return;
		}
		/* what the vault holds now: entries of the subject appended while the erasure
		 * runs are not part of it */
		aj->until = vault_size(v);
	}
	rc = vault_reader_begin(v, &r);
	if (rc == 0) {
		rc = erase_gather(aj, r, &end);
		/* the snapshot ends before the write (the list holds copies of the keys) */
		vault_reader_end(r);
	}
	if (rc == 0 && aj->list.n) {
		pruned = prune_list_commit(&aj->list, v);
		if (pruned < 0)
			rc = (int)pruned;
		else
			aj->pruned += (uint64_t)pruned;
	}
	if (rc < 0) {
		j->rc = rc;
		aj->finished = true;
		return;
	}
	if (!end)
		return;
	struct dispatch_erasure what = {.entries = aj->entries,
	                                .pruned = aj->pruned,
	                                .already_pruned = aj->already,
	                                .held_seqs = aj->held,
	                                .n_held = aj->n_held,
	                                .blocking = (const char *const *)aj->blocking,
	                                .n_blocking = aj->n_blocking};
	aj->finished = true;
	j->rc = entry_payload(aj, NULL, 0, &what, &aj->payload, &len);
	if (j->rc == 0)
		append_entry(aj, v, len);
}

/* ------------------------------------------------------------------ loop thread */

/* "10, 12, 15 and 3 more" */
static void list_seqs(char *buf, size_t size, const uint64_t *seqs, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && i < DETAIL_SEQS && off < size; i++)
		off +=
		    (size_t)snprintf(buf + off, size - off, "%s%" PRIu64, i ? ", " : "", seqs[i]);
	if (n > DETAIL_SEQS && off < size)
		snprintf(buf + off, size - off, " and %zu more", n - DETAIL_SEQS);
}

/* The counts of the erasure entry seq as stored (a retry is answered with them). */
static void stored_counts(struct vault *v, uint64_t seq, struct admin_job *aj)
{
	struct vault_reader *r;
	struct vault_entry e;

	if (vault_reader_begin(v, &r) < 0)
		return;
	if (vault_get(r, seq, &e) == 0 && e.payload) {
		Evident__Entry__V1__ErasureEntry *ee =
		    evident__entry__v1__erasure_entry__unpack(NULL, e.payload_len, e.payload);
		if (ee) {
			aj->entries = ee->entries;
			aj->pruned = ee->pruned;
			aj->already = ee->already_pruned;
			aj->n_held = ee->n_held_seqs;
			for (size_t i = 0; i < ee->n_blocking_holds; i++)
				add_blocking(aj, ee->blocking_holds[i]);
			evident__entry__v1__erasure_entry__free_unpacked(ee, NULL);
		}
	}
	vault_reader_end(r);
}

/* The Ack of a request done (or done before: a retry). */
static void ack(struct session *s, struct admin_job *aj)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__Ack a = EVIDENT__V1__ACK__INIT;
	const struct vault_append_result *res = &aj->job.res1;
	char detail[1024], list[400], holds[400] = "";
	const char *again = res->duplicate ? "done before (a retry): " : "";

	if (aj->type == VAULT_ENTRY_HOLD) {
		const Evident__V1__Hold *h = hold_of(aj);
		if (res->duplicate)
			snprintf(detail, sizeof(detail), "%shold \"%s\" (hold entry %" PRIu64 ")",
			         again, h->hold_id, res->seq);
		else {
			list_seqs(list, sizeof(list), aj->seqs, aj->n_seqs);
			snprintf(detail, sizeof(detail),
			         "hold \"%s\" in force (hold entry %" PRIu64 "): entries %s%s",
			         h->hold_id, res->seq, list,
			         h->has_incident_id ? ", and whatever names the incident's record"
			                            : "");
		}
	} else if (aj->type == VAULT_ENTRY_RELEASE) {
		if (res->duplicate)
			snprintf(detail, sizeof(detail),
			         "%srelease of hold \"%s\" (release entry %" PRIu64 ")", again,
			         release_of(aj)->hold_id, res->seq);
		else
			snprintf(detail, sizeof(detail),
			         "hold \"%s\" released (release entry %" PRIu64
			         "; it was placed by hold entry %" PRIu64 ")",
			         release_of(aj)->hold_id, res->seq, aj->hold_seq);
	} else {
		if (res->duplicate)
			stored_counts(aj->d->vault, res->seq, aj);
		for (size_t i = 0, off = 0; i < aj->n_blocking && off < sizeof(holds); i++)
			off += (size_t)snprintf(holds + off, sizeof(holds) - off, "%s%s",
			                        i ? ", " : " (", aj->blocking[i]);
		if (aj->n_blocking)
			strncat(holds, ")", sizeof(holds) - strlen(holds) - 1);
		snprintf(detail, sizeof(detail),
		         "%serasure recorded (erasure entry %" PRIu64 "): %" PRIu64
		         " entries of the subject, %" PRIu64 " payloads pruned, %" PRIu64
		         " pruned before, %zu kept under holds%s",
		         again, res->seq, aj->entries, aj->pruned, aj->already, aj->n_held, holds);
		a.has_entries = a.has_pruned = a.has_already_pruned = a.has_held = true;
		a.entries = aj->entries;
		a.pruned = aj->pruned;
		a.already_pruned = aj->already;
		a.held = aj->n_held;
	}
	a.request_id = (char *)aj->request_id;
	a.has_seq = a.has_leaf_hash = true;
	a.seq = res->seq;
	a.leaf_hash = (ProtobufCBinaryData){VAULT_HASH_LEN, (uint8_t *)res->leaf_hash};
	if (res->duplicate) {
		a.has_duplicate = true;
		a.duplicate = true;
	}
	a.detail = detail;
	f.body_case = EVIDENT__V1__FRAME__BODY_ACK;
	f.ack = &a;
	session_reply_frame(s, &f);
}

static void admin_done(struct job *j)
{
	struct admin_job *aj = (struct admin_job *)j;
	struct session *s = j->owner;
	struct daemon *d = aj->d;
	const char *what = vault_entry_type_name(aj->type);
	char why[400];

	/* the records pruned by this batch leave the audit backgrounds (registry.h) */
	registry_reservoir_forget(&d->models, aj->list.committed, aj->list.n_committed);
	aj->list.n_committed = 0;
	if (aj->type == VAULT_ENTRY_ERASURE && !aj->finished) {
		writer_submit(&d->writer, j); /* the next batch, behind what came meanwhile */
		return;
	}
	if (j->rc < 0) {
		snprintf(why, sizeof(why), "%s not recorded: %s%s", what,
		         j->rc == -ENOSPC ? "the vault is full (disk or map); retry later"
		                          : strerror(-j->rc),
		         aj->type == VAULT_ENTRY_ERASURE && aj->pruned
		             ? " (the payloads pruned so far stay pruned: send the Erase again to "
		               "finish it)"
		             : "");
		if (j->rc != -ENOSPC)
			log_error("%s %s of %s: %s", what, aj->request_id, aj->client, why);
		if (!s->closing)
			session_reply_error(s, dispatch_write_error(j->rc), why, aj->request_id);
	} else if (aj->refused) {
		d->stats.admin_refused++;
		log_warning("client %s (uid %u): %s %s refused: %s", aj->client, aj->peer.uid, what,
		            aj->request_id, aj->why);
		if (!s->closing)
			session_reply_error(s, aj->refused, aj->why, aj->request_id);
	} else {
		int rv = RETRY_SAME;
		if (j->res1.duplicate)
			rv = retry_check(d->vault, aj->type, j->res1.seq, aj->probe, aj->probe_len,
			                 aj->client, aj->request_id, why, sizeof(why));
		if (rv == RETRY_SAME) {
			if (aj->type == VAULT_ENTRY_ERASURE && !j->res1.duplicate)
				log_notice("client %s (uid %u): erasure %s recorded at %" PRIu64
				           ": %" PRIu64 " payloads pruned, %zu held",
				           aj->client, aj->peer.uid, aj->request_id, j->res1.seq,
				           aj->pruned, aj->n_held);
			else if (!j->res1.duplicate)
				log_notice("client %s (uid %u): %s %s recorded at %" PRIu64,
				           aj->client, aj->peer.uid, what, aj->request_id,
				           j->res1.seq);
			if (!s->closing)
				ack(s, aj);
		} else {
			if (rv < 0)
				snprintf(why, sizeof(why),
				         "not acknowledged: reading the stored entry %" PRIu64
				         ": %s",
				         j->res1.seq, strerror(-rv));
			else
				retry_notice(&d->writer, rv, j->res1.seq, aj->client,
				             aj->request_id, aj->type, aj->probe, aj->probe_len,
				             why);
			log_warning("client %s: %s %s: %s", aj->client, what, aj->request_id, why);
			if (!s->closing)
				session_reply_error(
				    s, rv == RETRY_CONFLICT ? E(CONFLICT) : E(INTERNAL), why,
				    aj->request_id);
		}
	}
	admin_job_free(aj);
	session_unref(s);
}

/* Keeps the reason within a prune reason's 1024 bytes, cut at a character boundary. */
static void cut_utf8(char *s)
{
	size_t n = strlen(s);

	if (n < 1024)
		return;
	n = 1024;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	s[n] = '\0';
}

/* Refuses a request on the loop (not an admin, a bad message): answered and recorded. */
static void refuse_now(struct session *s, uint16_t type, const char *request_id,
                       const uint8_t *probe, size_t probe_len, dispatch_code code, const char *why)
{
	struct daemon *d = s->d;
	uint8_t *buf;
	size_t len;

	d->stats.admin_refused++;
	log_warning("client %s (uid %u): %s %s refused: %s", s->client_name, s->peer.uid,
	            vault_entry_type_name(type), request_id ? request_id : "", why);
	if (refused_notice(s->client_name, request_id, type, probe, probe_len, code, why, &buf,
	                   &len) == 0)
		writer_append(&d->writer, VAULT_ENTRY_NOTICE, buf, len, true, NULL, NULL);
	session_reply_error(s, code, why, request_id);
}

/* Queues a request checked by check (NULL: not checked) from s, or refuses it. */
static void submit(struct session *s, uint16_t type, const ProtobufCMessage *msg,
                   const char *request_id, dispatch_code code, const char *why)
{
	struct daemon *d = s->d;
	struct admin_job *aj = calloc(1, sizeof(*aj));
	uint8_t *bytes = NULL;
	size_t len;

	if (!aj || dispatch_pack(msg, &bytes, &len) < 0 ||
	    !(aj->msg = protobuf_c_message_unpack(msg->descriptor, NULL, len, bytes)) ||
	    !(aj->client = strdup(s->client_name))) {
		free(bytes);
		if (aj)
			admin_job_free(aj);
		session_reply_error(s, E(INTERNAL), "out of memory", request_id);
		return;
	}
	free(bytes);
	aj->d = d;
	aj->holds = d->holds;
	aj->type = type;
	aj->peer = s->peer;
	aj->request_id = type == VAULT_ENTRY_HOLD ? ((Evident__V1__Hold *)aj->msg)->request_id
	                 : type == VAULT_ENTRY_RELEASE
	                     ? ((Evident__V1__Release *)aj->msg)->request_id
	                     : ((Evident__V1__Erase *)aj->msg)->request_id;
	if (entry_payload(aj, NULL, 0, NULL, &aj->probe, &aj->probe_len) < 0) {
		admin_job_free(aj);
		session_reply_error(s, E(INTERNAL), "out of memory", request_id);
		return;
	}
	if (!config_is_admin(&d->cfg, s->peer.known ? (uid_t)s->peer.uid : (uid_t)-1, geteuid())) {
		char no[200];
		snprintf(no, sizeof(no),
		         "%s is for admin peers only: uid %u is not in admin_uids (evidentd.conf "
		         "[daemon])",
		         vault_entry_type_name(type), s->peer.uid);
		refuse_now(s, type, request_id, aj->probe, aj->probe_len, E(UNAUTHORIZED), no);
		admin_job_free(aj);
		return;
	}
	if (code) {
		refuse_now(s, type, request_id, aj->probe, aj->probe_len, code, why);
		admin_job_free(aj);
		return;
	}
	if (type == VAULT_ENTRY_ERASURE) {
		const Evident__V1__Erase *e = erase_of(aj);
		aj->batch = d->cfg.retention_batch;
		snprintf(aj->reason, sizeof(aj->reason),
		         "erasure: request \"%s\" of %s, requested by %s (the erasure entry that "
		         "follows records it)",
		         e->request_id, aj->client, e->requested_by);
		cut_utf8(aj->reason);
	}
	aj->job.run = type == VAULT_ENTRY_HOLD      ? hold_run
	              : type == VAULT_ENTRY_RELEASE ? release_run
	                                            : erase_run;
	aj->job.done = admin_done;
	aj->job.owner = s;
	session_ref(s);
	writer_submit(&d->writer, &aj->job);
}

void admin_hold(struct session *s, const Evident__V1__Hold *h)
{
	char err[300];
	dispatch_code code = dispatch_check_hold(h, err, sizeof(err));

	submit(s, VAULT_ENTRY_HOLD, &h->base, h->request_id, code, err);
}

void admin_release(struct session *s, const Evident__V1__Release *r)
{
	char err[300];
	dispatch_code code = dispatch_check_release(r, err, sizeof(err));

	submit(s, VAULT_ENTRY_RELEASE, &r->base, r->request_id, code, err);
}

void admin_erase(struct session *s, const Evident__V1__Erase *e)
{
	char err[300];
	dispatch_code code = dispatch_check_erase(e, err, sizeof(err));

	submit(s, VAULT_ENTRY_ERASURE, &e->base, e->request_id, code, err);
}
