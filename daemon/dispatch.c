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
