/* SPDX-License-Identifier: Apache-2.0 */
/* Frame decoding, validation and payload building (see dispatch.h). Socket bytes are checked
 * here and answered with an error code, never asserted. */
#include "dispatch.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.pb-c.h"
#include "frame.h"
#include "wirecheck.h"

#define E(x) EVIDENT__V1__ERROR__CODE__##x

static dispatch_code fail(char *err, size_t size, dispatch_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static dispatch_code fail(char *err, size_t size, dispatch_code code, const char *fmt, ...)
{
	va_list ap;

	if (err && size) {
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* ------------------------------------------------------------------ bounded decoding */

struct hdr {
	size_t size;
	max_align_t align[];
};

static void *bounded_alloc(void *data, size_t size)
{
	struct dispatch_msg *m = data;
	struct hdr *h;

	if (size > m->cap - m->used)
		return NULL;
	if (m->arena) {
		size_t off = (m->arena_off + 15) & ~(size_t)15;
		if (off <= m->arena->cap && size <= m->arena->cap - off) {
			m->arena_off = off + size;
			m->used += size;
			return m->arena->buf + off;
		}
	}
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	m->used += size;
	return h->align;
}

static void bounded_free(void *data, void *ptr)
{
	struct dispatch_msg *m = data;
	struct hdr *h;

	if (!ptr)
		return;
	if (m->arena && (uint8_t *)ptr >= m->arena->buf &&
	    (uint8_t *)ptr < m->arena->buf + m->arena->cap)
		return; /* arena memory goes with the next decode */
	h = (struct hdr *)((char *)ptr - offsetof(struct hdr, align));
	m->used -= h->size;
	free(h);
}

dispatch_code dispatch_decode(const uint8_t *body, size_t len, struct dispatch_arena *arena,
                              struct dispatch_msg *m, char *err, size_t err_size)
{
	*m = (struct dispatch_msg){
	    .alloc = {.alloc = bounded_alloc, .free = bounded_free, .allocator_data = m},
	    .cap = len * DISPATCH_ALLOC_FACTOR + 65536,
	    .arena = arena && arena->buf ? arena : NULL,
	};
	m->frame = evident__v1__frame__unpack(&m->alloc, len, body);
	if (!m->frame)
		return fail(err, err_size, E(BAD_MESSAGE),
		            "frame does not decode as evident.v1.Frame");
	if (m->frame->body_case == EVIDENT__V1__FRAME__BODY__NOT_SET) {
		dispatch_msg_free(m);
		return fail(err, err_size, E(BAD_MESSAGE),
		            "frame has no body this daemon knows (unknown or missing oneof case)");
	}
	/* protobuf-c cut each string at its first NUL and checked no UTF-8: look at the bytes */
	if (wire_check_strings(&evident__v1__frame__descriptor, body, len, err, err_size) < 0) {
		dispatch_msg_free(m);
		return E(BAD_MESSAGE);
	}
	return 0;
}

void dispatch_msg_free(struct dispatch_msg *m)
{
	if (m->frame)
		evident__v1__frame__free_unpacked(m->frame, &m->alloc);
	m->frame = NULL;
}

/* ------------------------------------------------------------------ checks */

static bool printable_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool bounded(const char *s, size_t max)
{
	return !s || strlen(s) <= max;
}

static bool is_hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

dispatch_code dispatch_check_hello(const Evident__V1__Hello *h, char *err, size_t err_size)
{
	if (!h->has_protocol_version || h->protocol_version != PROTOCOL_VERSION)
		return fail(err, err_size, E(BAD_PROTOCOL_VERSION),
		            "protocol version %u not supported (this daemon speaks %d)",
		            h->has_protocol_version ? h->protocol_version : 0, PROTOCOL_VERSION);
	if (!printable_name(h->client_name, DISPATCH_CLIENT_MAX))
		return fail(err, err_size, E(BAD_MESSAGE),
		            "client_name must be 1-%d printable characters without spaces",
		            DISPATCH_CLIENT_MAX);
	if (h->client_name[0] == '@')
		return fail(err, err_size, E(BAD_MESSAGE),
		            "client_name may not start with '@' (reserved)");
	return 0;
}

static const char *const frameworks[] = {"xgboost-json", "lightgbm-text", "linear-json", "oracle"};

dispatch_code dispatch_check_manifest(const Evident__V1__ModelManifest *m, char *err,
                                      size_t err_size)
{
	bool fw = false;

	if (!printable_name(m->model_id, DISPATCH_ID_MAX) || strchr(m->model_id, '@'))
		return fail(err, err_size, E(BAD_MESSAGE),
		            "manifest.model_id must be 1-%d printable characters without spaces "
		            "or '@'",
		            DISPATCH_ID_MAX);
	if (!printable_name(m->version, DISPATCH_VERSION_MAX))
		return fail(err, err_size, E(BAD_MESSAGE),
		            "manifest.version must be 1-%d printable characters without spaces",
		            DISPATCH_VERSION_MAX);
	for (size_t i = 0; m->framework && i < sizeof(frameworks) / sizeof(frameworks[0]); i++)
		fw |= strcmp(m->framework, frameworks[i]) == 0;
	if (!fw)
		return fail(err, err_size, E(BAD_MESSAGE),
		            "manifest.framework \"%s\" is not one of xgboost-json, lightgbm-text, "
		            "linear-json, oracle",
		            m->framework ? m->framework : "");
	if (m->output_space && strcmp(m->output_space, "margin") != 0 &&
	    strcmp(m->output_space, "probability") != 0)
		return fail(err, err_size, E(BAD_MESSAGE),
		            "manifest.output_space must be margin or probability");
	if (m->n_features == 0 || m->n_features > DISPATCH_FEATURES_MAX)
		return fail(err, err_size, E(BAD_MESSAGE), "manifest needs 1-%d features",
		            DISPATCH_FEATURES_MAX);
	for (size_t i = 0; i < m->n_features; i++) {
		const Evident__V1__Feature *f = m->features[i];
		if (!printable_name(f->name, DISPATCH_KEY_MAX * 2))
			return fail(err, err_size, E(BAD_MESSAGE),
			            "manifest.features[%zu].name must be 1-%d printable characters "
			            "without spaces",
			            i, DISPATCH_KEY_MAX * 2);
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->features[j]->name, f->name) == 0)
				return fail(
				    err, err_size, E(BAD_MESSAGE),
				    "manifest.features[%zu].name \"%s\" repeats feature %zu", i,
				    f->name, j);
		if ((f->has_min && !isfinite(f->min)) || (f->has_max && !isfinite(f->max)) ||
		    (f->has_min && f->has_max && f->min > f->max))
			return fail(
			    err, err_size, E(BAD_MESSAGE),
			    "manifest.features[%zu] (%s): min/max must be finite, min <= max", i,
			    f->name);
	}
	if (!is_hex64(m->artifact_sha256))
		return fail(err, err_size, E(BAD_MESSAGE),
		            "manifest.artifact_sha256 must be 64 lowercase hex digits");
	if (!m->has_artifact_size || m->artifact_size == 0)
		return fail(err, err_size, E(BAD_MESSAGE),
		            "manifest.artifact_size must be given and nonzero");
	if (m->reference_data_sha256 && *m->reference_data_sha256) {
		if (!is_hex64(m->reference_data_sha256))
			return fail(
			    err, err_size, E(BAD_MESSAGE),
			    "manifest.reference_data_sha256 must be 64 lowercase hex digits");
		if (!m->has_reference_data_size || m->reference_data_size == 0)
			return fail(err, err_size, E(BAD_MESSAGE),
			            "manifest.reference_data_size must be given with the hash");
	}
	if (m->decision) {
		const Evident__V1__DecisionRule *d = m->decision;
		if (d->has_threshold && !isfinite(d->threshold))
			return fail(err, err_size, E(BAD_MESSAGE),
			            "manifest.decision.threshold must be finite");
		if (d->kind == EVIDENT__V1__DECISION_RULE__KIND__ARGMAX && d->n_class_labels < 2)
			return fail(err, err_size, E(BAD_MESSAGE),
			            "manifest.decision: argmax needs at least 2 class_labels");
	}
	if (m->lineage && m->lineage->training_data_sha256 && *m->lineage->training_data_sha256 &&
	    !is_hex64(m->lineage->training_data_sha256))
		return fail(
		    err, err_size, E(BAD_MESSAGE),
		    "manifest.lineage.training_data_sha256 must be 64 lowercase hex digits");
	return 0;
}

static int cmp_kv(const void *a, const void *b)
{
	const Evident__V1__Lineage__HyperparametersEntry *x = *(void *const *)a,
	                                                 *y = *(void *const *)b;
	return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

int dispatch_pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);

	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(m, buf);
	*ret = buf;
	*ret_len = n;
	return 0;
}

int dispatch_manifest_canonical(Evident__V1__ModelManifest *m, uint8_t **ret_bytes, size_t *ret_len,
                                uint8_t digest[32])
{
	uint8_t *bytes;
	size_t len;
	unsigned hl;

	if (m->lineage && m->lineage->n_hyperparameters > 1)
		qsort(m->lineage->hyperparameters, m->lineage->n_hyperparameters,
		      sizeof(*m->lineage->hyperparameters), cmp_kv);
	if (dispatch_pack(&m->base, &bytes, &len) < 0)
		return -ENOMEM;
	if (EVP_Digest(bytes, len, digest, &hl, EVP_sha256(), NULL) != 1) {
		free(bytes);
		return -ENOMEM;
	}
	if (ret_bytes) {
		*ret_bytes = bytes;
		*ret_len = len;
	} else {
		free(bytes);
	}
	return 0;
}

int dispatch_manifest_digest(const Evident__V1__ModelManifest *m, uint8_t digest[32])
{
	uint8_t *bytes;
	size_t len;
	Evident__V1__ModelManifest *copy;
	int rc;

	/* unpack(pack(m)) is a private copy whose map can be sorted */
	if (dispatch_pack(&m->base, &bytes, &len) < 0)
		return -ENOMEM;
	copy = evident__v1__model_manifest__unpack(NULL, len, bytes);
	free(bytes);
	if (!copy)
		return -EBADMSG;
	rc = dispatch_manifest_canonical(copy, NULL, NULL, digest);
	evident__v1__model_manifest__free_unpacked(copy, NULL);
	return rc;
}

dispatch_code dispatch_check_record(const Evident__V1__Record *r, const struct registry *reg,
                                    const struct model_info **ret_model, char *err, size_t err_size)
{
	const struct model_info *mi;
	const Evident__V1__ModelManifest *mf;

	if (!r->request_id || !*r->request_id || strlen(r->request_id) > DISPATCH_REQUEST_MAX)
		return fail(err, err_size, E(BAD_MESSAGE), "record.request_id must be 1-%d bytes",
		            DISPATCH_REQUEST_MAX);
	if (!r->model_id || !r->model_version || !*r->model_id || !*r->model_version)
		return fail(err, err_size, E(BAD_MESSAGE),
		            "record.model_id and record.model_version are required");
	mi = registry_find(reg, r->model_id, r->model_version);
	if (!mi)
		return fail(err, err_size, E(UNKNOWN_MODEL), "model %.128s@%.64s is not registered",
		            r->model_id, r->model_version);
	mf = mi->manifest;
	if (r->n_features != mf->n_features)
		return fail(err, err_size, E(SCHEMA_MISMATCH),
		            "record has %zu features, model %s has %zu", r->n_features, mi->key,
		            mf->n_features);
	for (size_t i = 0; i < r->n_features; i++)
		if (isinf(r->features[i]))
			return fail(err, err_size, E(BAD_MESSAGE),
			            "feature %zu (%s) is infinite (NaN marks a missing value)", i,
			            mf->features[i]->name);
	if (r->n_scores == 0 || r->n_scores > DISPATCH_SCORES_MAX)
		return fail(err, err_size, E(BAD_MESSAGE), "record needs 1-%d scores",
		            DISPATCH_SCORES_MAX);
	for (size_t i = 0; i < r->n_scores; i++)
		if (!isfinite(r->scores[i]))
			return fail(err, err_size, E(BAD_MESSAGE), "score %zu is not finite", i);
	if (r->has_base_margin && !isfinite(r->base_margin))
		return fail(err, err_size, E(BAD_MESSAGE), "base_margin is not finite");
	if (!bounded(r->decision, DISPATCH_DECISION_MAX) ||
	    !bounded(r->trace_id, DISPATCH_TRACE_MAX))
		return fail(err, err_size, E(BAD_MESSAGE),
		            "decision (<= %d bytes) or trace_id (<= %d bytes) too long",
		            DISPATCH_DECISION_MAX, DISPATCH_TRACE_MAX);
	if (r->subject) {
		dispatch_code c =
		    dispatch_check_subject("record.subject", r->subject, err, err_size);
		if (c)
			return c;
	}
	if (r->n_context > DISPATCH_MAP_MAX || r->n_labels > DISPATCH_MAP_MAX)
		return fail(err, err_size, E(BAD_MESSAGE), "at most %d context and %d labels",
		            DISPATCH_MAP_MAX, DISPATCH_MAP_MAX);
	for (size_t i = 0; i < r->n_context; i++)
		if (!bounded(r->context[i]->key, DISPATCH_KEY_MAX) ||
		    !isfinite(r->context[i]->value))
			return fail(err, err_size, E(BAD_MESSAGE),
			            "context entry %zu: key over %d bytes or value not finite", i,
			            DISPATCH_KEY_MAX);
	for (size_t i = 0; i < r->n_labels; i++)
		if (!bounded(r->labels[i]->key, DISPATCH_KEY_MAX) ||
		    !bounded(r->labels[i]->value, DISPATCH_LABEL_MAX))
			return fail(err, err_size, E(BAD_MESSAGE),
			            "label entry %zu: key over %d or value over %d bytes", i,
			            DISPATCH_KEY_MAX, DISPATCH_LABEL_MAX);
	*ret_model = mi;
	return 0;
}

/* Offset of the first control character of s (C0, DEL, or C1 as UTF-8 0xc2 0x80..0x9f) with
 * its code point in *ret_cp, or -1 when there is none. */
static long control_char(const char *s, unsigned *ret_cp)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; u[i]; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f) {
			*ret_cp = u[i];
			return (long)i;
		}
		if (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) {
			*ret_cp = u[i + 1];
			return (long)i;
		}
	}
	return -1;
}

/* A required text field: 1..max bytes of UTF-8 (without control characters unless
 * controls_ok). */
static dispatch_code check_text(const char *field, const char *s, size_t max, bool controls_ok,
                                char *err, size_t err_size)
{
	size_t n = s ? strlen(s) : 0;
	bool nul;
	unsigned cp;
	long at;

	if (n == 0)
		return fail(err, err_size, E(BAD_MESSAGE), "%s is required (1-%zu bytes)", field,
		            max);
	if (n > max)
		return fail(err, err_size, E(BAD_MESSAGE), "%s is %zu bytes, over %zu", field, n,
		            max);
	/* the frame's bytes were checked as it was decoded; a message built otherwise too */
	size_t bad = wire_text_check((const uint8_t *)s, n, &nul);
	if (bad != n)
		return fail(err, err_size, E(BAD_MESSAGE), "%s: invalid UTF-8 at offset %zu", field,
		            bad);
	if (!controls_ok && (at = control_char(s, &cp)) >= 0)
		return fail(err, err_size, E(BAD_MESSAGE),
		            "%s: control character 0x%02x at offset %ld", field, cp, at);
	return 0;
}

dispatch_code dispatch_check_subject(const char *field, const char *s, char *err, size_t err_size)
{
	return check_text(field, s, DISPATCH_SUBJECT_MAX, false, err, err_size);
}

static dispatch_code check_request(const char *field, const char *s, char *err, size_t err_size)
{
	return check_text(field, s, DISPATCH_REQUEST_MAX, true, err, err_size);
}

dispatch_code dispatch_check_hold(const Evident__V1__Hold *h, char *err, size_t err_size)
{
	dispatch_code c;

	if ((c = check_request("hold.request_id", h->request_id, err, err_size)) ||
	    (c = check_text("hold.hold_id", h->hold_id, DISPATCH_HOLD_ID_MAX, false, err,
	                    err_size)))
		return c;
	if (h->has_seq == h->has_incident_id)
		return fail(
		    err, err_size, E(BAD_MESSAGE),
		    "hold needs exactly one of seq (an entry) and incident_id (an incident, "
		    "its record, audits and verdicts)");
	if ((c = check_text("hold.reason", h->reason, DISPATCH_REASON_MAX, true, err, err_size)))
		return c;
	return check_text("hold.holder", h->holder, DISPATCH_PERSON_MAX, false, err, err_size);
}

dispatch_code dispatch_check_release(const Evident__V1__Release *r, char *err, size_t err_size)
{
	dispatch_code c;

	if ((c = check_request("release.request_id", r->request_id, err, err_size)) ||
	    (c = check_text("release.hold_id", r->hold_id, DISPATCH_HOLD_ID_MAX, false, err,
	                    err_size)) ||
	    (c = check_text("release.reason", r->reason, DISPATCH_REASON_MAX, true, err, err_size)))
		return c;
	return check_text("release.holder", r->holder, DISPATCH_PERSON_MAX, false, err, err_size);
}

dispatch_code dispatch_check_erase(const Evident__V1__Erase *e, char *err, size_t err_size)
{
	dispatch_code c;

	if ((c = check_request("erase.request_id", e->request_id, err, err_size)) ||
	    (c = dispatch_check_subject("erase.subject", e->subject, err, err_size)) ||
	    (c = check_text("erase.reason", e->reason, DISPATCH_REASON_MAX, true, err, err_size)))
		return c;
	return check_text("erase.requested_by", e->requested_by, DISPATCH_PERSON_MAX, false, err,
	                  err_size);
}

/* ------------------------------------------------------------------ payloads */

/* If body is exactly one length-delimited field 5 (Frame.record), returns its bytes. */
static bool only_record_field(const uint8_t *body, size_t len, const uint8_t **ret, size_t *ret_len)
{
	uint64_t flen = 0;
	int h;

	if (len < 2 || body[0] != ((5 << 3) | 2))
		return false;
	h = frame_header_decode(body + 1, len - 1, UINT64_MAX, &flen);
	if (h <= 0 || flen != len - 1 - (size_t)h)
		return false;
	*ret = body + 1 + h;
	*ret_len = (size_t)flen;
	return true;
}

int dispatch_record_payload(const uint8_t *frame_body, size_t len, const Evident__V1__Record *rec,
                            const char *client, const struct peer *peer, int64_t received_ns,
                            uint8_t **ret, size_t *ret_len)
{
	Evident__Entry__V1__RecordEntry re = EVIDENT__ENTRY__V1__RECORD_ENTRY__INIT;
	const uint8_t *raw;
	size_t raw_len, head_len, total;
	uint8_t *buf, hdr[FRAME_HEADER_MAX];

	re.client_name = (char *)client;
	re.has_received_unix_ns = true;
	re.received_unix_ns = received_ns;
	if (peer && peer->known) {
		re.has_peer_uid = re.has_peer_gid = re.has_peer_pid = true;
		re.peer_uid = peer->uid;
		re.peer_gid = peer->gid;
		re.peer_pid = peer->pid;
	}
	if (!only_record_field(frame_body, len, &raw, &raw_len)) {
		re.record = (Evident__V1__Record *)rec;
		return dispatch_pack(&re.base, ret, ret_len);
	}
	/* Everything but the record, then field 3 with the record's bytes as received. */
	head_len = protobuf_c_message_get_packed_size(&re.base);
	size_t hl = frame_header_encode(raw_len, hdr);
	total = head_len + 1 + hl + raw_len;
	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(&re.base, buf);
	buf[head_len] = (3 << 3) | 2;
	memcpy(buf + head_len + 1, hdr, hl);
	memcpy(buf + head_len + 1 + hl, raw, raw_len);
	*ret = buf;
	*ret_len = total;
	return 0;
}

int dispatch_review_payload(const Evident__V1__Review *rv, const char *client, int64_t received_ns,
                            uint8_t **ret, size_t *ret_len)
{
	Evident__Entry__V1__ReviewEntry e = EVIDENT__ENTRY__V1__REVIEW_ENTRY__INIT;

	e.client_name = (char *)client;
	e.review = (Evident__V1__Review *)rv;
	e.has_received_unix_ns = true;
	e.received_unix_ns = received_ns;
	return dispatch_pack(&e.base, ret, ret_len);
}

int dispatch_hold_payload(const Evident__V1__Hold *h, const Evident__V1__Release *r,
                          const char *client, const struct peer *peer, const uint64_t *seqs,
                          size_t n_seqs, uint8_t **ret, size_t *ret_len)
{
	Evident__Entry__V1__HoldEntry e = EVIDENT__ENTRY__V1__HOLD_ENTRY__INIT;

	e.client_name = (char *)client;
	if (peer && peer->known) {
		e.has_peer_uid = true;
		e.peer_uid = peer->uid;
	}
	e.hold = (Evident__V1__Hold *)h;
	e.release = (Evident__V1__Release *)r;
	e.n_seqs = n_seqs;
	e.seqs = (uint64_t *)seqs;
	return dispatch_pack(&e.base, ret, ret_len);
}

int dispatch_erasure_payload(const Evident__V1__Erase *er, const char *client,
                             const struct peer *peer, const struct dispatch_erasure *what,
                             uint8_t **ret, size_t *ret_len)
{
	Evident__Entry__V1__ErasureEntry e = EVIDENT__ENTRY__V1__ERASURE_ENTRY__INIT;

	e.client_name = (char *)client;
	if (peer && peer->known) {
		e.has_peer_uid = true;
		e.peer_uid = peer->uid;
	}
	e.erase = (Evident__V1__Erase *)er;
	e.has_entries = e.has_pruned = e.has_already_pruned = true;
	e.entries = what->entries;
	e.pruned = what->pruned;
	e.already_pruned = what->already_pruned;
	e.n_held_seqs = what->n_held;
	e.held_seqs = (uint64_t *)what->held_seqs;
	e.n_blocking_holds = what->n_blocking;
	e.blocking_holds = (char **)what->blocking;
	return dispatch_pack(&e.base, ret, ret_len);
}

/* ------------------------------------------------------------------ fields of payloads */

static int varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*pos >= len)
			return -EBADMSG;
		uint8_t b = buf[(*pos)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -EBADMSG;
}

/* Walks the fields of buf; finds the last one numbered field. *ret_wire is its wire type, and
 * its value a varint (*ret_v) or the bytes at *ret_off of *ret_v bytes. */
static int find_field(const uint8_t *buf, size_t len, unsigned field, unsigned *ret_wire,
                      uint64_t *ret_v, size_t *ret_off)
{
	size_t pos = 0;
	int found = 0;

	while (pos < len) {
		uint64_t key, v = 0;
		size_t off = 0;
		if (varint(buf, len, &pos, &key) < 0 || key >> 3 == 0)
			return -EBADMSG;
		switch (key & 7) {
		case 0:
			if (varint(buf, len, &pos, &v) < 0)
				return -EBADMSG;
			break;
		case 1:
		case 5: {
			size_t n = (key & 7) == 1 ? 8 : 4;
			if (len - pos < n)
				return -EBADMSG;
			pos += n;
			break;
		}
		case 2:
			if (varint(buf, len, &pos, &v) < 0 || v > len - pos)
				return -EBADMSG;
			off = pos;
			pos += (size_t)v;
			break;
		default:
			return -EBADMSG; /* groups are not used by our schemas */
		}
		if (key >> 3 == field) {
			*ret_wire = (unsigned)(key & 7);
			*ret_v = v;
			*ret_off = off;
			found = 1;
		}
	}
	return found;
}

int dispatch_field_u64(const uint8_t *buf, size_t len, unsigned field, uint64_t *ret)
{
	unsigned wire;
	uint64_t v;
	size_t off;
	int rc = find_field(buf, len, field, &wire, &v, &off);

	if (rc <= 0)
		return rc;
	if (wire != 0)
		return -EBADMSG;
	*ret = v;
	return 1;
}

int dispatch_field_bytes(const uint8_t *buf, size_t len, unsigned field, const uint8_t **ret,
                         size_t *ret_len)
{
	unsigned wire;
	uint64_t v;
	size_t off;
	int rc = find_field(buf, len, field, &wire, &v, &off);

	if (rc <= 0)
		return rc;
	if (wire != 2)
		return -EBADMSG;
	*ret = buf + off;
	*ret_len = (size_t)v;
	return 1;
}

/* ------------------------------------------------------------------ replies */

static int grow(uint8_t **buf, size_t *len, size_t *cap, size_t need)
{
	if (*len + need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 512;
	while (ncap < *len + need)
		ncap *= 2;
	uint8_t *nb = realloc(*buf, ncap);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = ncap;
	return 0;
}

int dispatch_reply_frame(uint8_t **buf, size_t *len, size_t *cap, const Evident__V1__Frame *f)
{
	size_t n = evident__v1__frame__get_packed_size(f);
	uint8_t hdr[FRAME_HEADER_MAX];
	size_t hl = frame_header_encode(n, hdr);

	if (grow(buf, len, cap, hl + n) < 0)
		return -ENOMEM;
	memcpy(*buf + *len, hdr, hl);
	evident__v1__frame__pack(f, *buf + *len + hl);
	*len += hl + n;
	return 0;
}

int dispatch_reply_ack(uint8_t **buf, size_t *len, size_t *cap, const char *request_id,
                       uint64_t seq, const uint8_t leaf_hash[32], bool duplicate)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__Ack a = EVIDENT__V1__ACK__INIT;

	a.request_id = (char *)request_id;
	a.has_seq = true;
	a.seq = seq;
	a.has_leaf_hash = true;
	a.leaf_hash.data = (uint8_t *)leaf_hash;
	a.leaf_hash.len = 32;
	if (duplicate) {
		a.has_duplicate = true;
		a.duplicate = true;
	}
	f.body_case = EVIDENT__V1__FRAME__BODY_ACK;
	f.ack = &a;
	return dispatch_reply_frame(buf, len, cap, &f);
}

int dispatch_reply_error(uint8_t **buf, size_t *len, size_t *cap, dispatch_code code,
                         const char *message, const char *request_id)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__Error e = EVIDENT__V1__ERROR__INIT;

	e.has_code = true;
	e.code = code;
	e.message = (char *)message;
	e.request_id = (char *)request_id;
	f.body_case = EVIDENT__V1__FRAME__BODY_ERROR;
	f.error = &e;
	return dispatch_reply_frame(buf, len, cap, &f);
}

dispatch_code dispatch_write_error(int rc)
{
	return rc == -ENOSPC ? EVIDENT__V1__ERROR__CODE__VAULT_FULL
	                     : EVIDENT__V1__ERROR__CODE__INTERNAL;
}

const char *dispatch_code_name(dispatch_code c)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&evident__v1__error__code__descriptor, (int)c);
	return v ? v->name : "UNKNOWN";
}
