/* SPDX-License-Identifier: Apache-2.0 */
/* Entry payloads for evidentctl: unpacking by entry type, the model catalog built from model
 * entries (features by name), and the JSON and text forms of payloads. Records get their own
 * rendering; every other protobuf payload goes through one descriptor-driven converter, so a
 * field added to entry.proto shows up without code here. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "ctl.h"

/* ------------------------------------------------------------------ unpacking */

static const ProtobufCMessageDescriptor *descriptor_for(uint16_t type)
{
	switch (type) {
	case VAULT_ENTRY_RECORD:
		return &evident__entry__v1__record_entry__descriptor;
	case VAULT_ENTRY_MODEL:
		return &evident__entry__v1__model_entry__descriptor;
	case VAULT_ENTRY_ARTIFACT:
		return &evident__entry__v1__artifact_entry__descriptor;
	case VAULT_ENTRY_LIFECYCLE:
		return &evident__entry__v1__lifecycle_entry__descriptor;
	case VAULT_ENTRY_CONFIG:
		return &evident__entry__v1__config_entry__descriptor;
	case VAULT_ENTRY_REVIEW:
		return &evident__entry__v1__review_entry__descriptor;
	case VAULT_ENTRY_INCIDENT:
		return &evident__entry__v1__incident_entry__descriptor;
	case VAULT_ENTRY_AUDIT:
		return &evident__entry__v1__audit_entry__descriptor;
	case VAULT_ENTRY_VERDICT:
		return &evident__entry__v1__verdict_entry__descriptor;
	case VAULT_ENTRY_NOTICE:
		return &evident__entry__v1__notice_entry__descriptor;
	case VAULT_ENTRY_HOLD:
	case VAULT_ENTRY_RELEASE:
		return &evident__entry__v1__hold_entry__descriptor;
	case VAULT_ENTRY_ERASURE:
		return &evident__entry__v1__erasure_entry__descriptor;
	default:
		return NULL;
	}
}

void ctl_payload_decode(const struct vault_entry *e, struct ctl_payload *ret)
{
	const ProtobufCMessageDescriptor *d = descriptor_for(e->leaf.type);

	*ret = (struct ctl_payload){.type = e->leaf.type};
	if (!e->payload) {
		ret->status = -ENODATA;
	} else if (d) {
		/* The payload's hash is in the hashed leaf: no allocator cap is needed here. */
		ret->msg = protobuf_c_message_unpack(d, NULL, e->payload_len, e->payload);
		ret->status = ret->msg ? 0 : -EBADMSG;
	} else if (e->leaf.type == VAULT_ENTRY_PRUNE) {
		ret->prune = malloc(sizeof(*ret->prune));
		if (!ret->prune || vault_prune_decode(e->payload, e->payload_len, ret->prune) < 0)
			ret->status = -EBADMSG;
	} else {
		ret->status = -EOPNOTSUPP;
		ret->raw = e->payload;
		ret->raw_len = e->payload_len;
	}
}

void ctl_payload_deinit(struct ctl_payload *p)
{
	if (p->msg)
		protobuf_c_message_free_unpacked(p->msg, NULL);
	free(p->prune);
	*p = (struct ctl_payload){0};
}

const Evident__Entry__V1__RecordEntry *ctl_payload_record(const struct ctl_payload *p)
{
	return p->status == 0 && p->type == VAULT_ENTRY_RECORD
	           ? (const Evident__Entry__V1__RecordEntry *)p->msg
	           : NULL;
}

const Evident__Entry__V1__ModelEntry *ctl_payload_model(const struct ctl_payload *p)
{
	return p->status == 0 && p->type == VAULT_ENTRY_MODEL
	           ? (const Evident__Entry__V1__ModelEntry *)p->msg
	           : NULL;
}

const Evident__Entry__V1__HoldEntry *ctl_payload_hold(const struct ctl_payload *p)
{
	return p->status == 0 && (p->type == VAULT_ENTRY_HOLD || p->type == VAULT_ENTRY_RELEASE)
	           ? (const Evident__Entry__V1__HoldEntry *)p->msg
	           : NULL;
}

const Evident__Entry__V1__ErasureEntry *ctl_payload_erasure(const struct ctl_payload *p)
{
	return p->status == 0 && p->type == VAULT_ENTRY_ERASURE
	           ? (const Evident__Entry__V1__ErasureEntry *)p->msg
	           : NULL;
}

const char *ctl_payload_problem(const struct ctl_payload *p)
{
	switch (p->status) {
	case 0:
	case -EOPNOTSUPP:
		return NULL;
	case -ENODATA:
		return "payload pruned";
	default:
		return "payload does not decode";
	}
}

static const char *str(const char *s)
{
	return s ? s : "";
}

/* ------------------------------------------------------------------ the model catalog */

struct ctl_model {
	uint64_t seq;
	Evident__Entry__V1__ModelEntry *entry; /* owned, with a manifest */
};

struct ctl_models {
	struct ctl_model *v;
	size_t n, cap;
};

struct ctl_models *ctl_models_new(void)
{
	return calloc(1, sizeof(struct ctl_models));
}

void ctl_models_free(struct ctl_models *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		protobuf_c_message_free_unpacked(&m->v[i].entry->base, NULL);
	free(m->v);
	free(m);
}

const Evident__V1__ModelManifest *ctl_models_find(const struct ctl_models *m, const char *id,
                                                  const char *version)
{
	for (size_t i = 0; m && i < m->n; i++) {
		const Evident__V1__ModelManifest *mf = m->v[i].entry->manifest;
		if (strcmp(str(mf->model_id), str(id)) == 0 &&
		    strcmp(str(mf->version), str(version)) == 0)
			return mf;
	}
	return NULL;
}

const Evident__V1__ModelManifest *ctl_models_for_record(const struct ctl_models *m,
                                                        const Evident__V1__Record *rec)
{
	return rec ? ctl_models_find(m, rec->model_id, rec->model_version) : NULL;
}

int ctl_models_add(struct ctl_models *m, const struct vault_entry *e)
{
	struct ctl_payload p;
	const Evident__V1__ModelManifest *mf;

	if (e->leaf.type != VAULT_ENTRY_MODEL)
		return 0;
	ctl_payload_decode(e, &p);
	mf = ctl_payload_model(&p) ? ctl_payload_model(&p)->manifest : NULL;
	/* A registration repeated by a restarting client carries the same manifest. */
	if (!mf || ctl_models_find(m, mf->model_id, mf->version)) {
		ctl_payload_deinit(&p);
		return 0;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct ctl_model *nv = realloc(m->v, cap * sizeof(*nv));
		if (!nv) {
			ctl_payload_deinit(&p);
			return -ENOMEM;
		}
		m->v = nv;
		m->cap = cap;
	}
	m->v[m->n++] = (struct ctl_model){e->leaf.seq, (Evident__Entry__V1__ModelEntry *)p.msg};
	p.msg = NULL; /* now owned by m */
	ctl_payload_deinit(&p);
	return 0;
}

const Evident__V1__ModelManifest *ctl_models_at(const struct ctl_models *m, size_t i,
                                                uint64_t *ret_seq)
{
	if (i >= m->n)
		return NULL;
	if (ret_seq)
		*ret_seq = m->v[i].seq;
	return m->v[i].entry->manifest;
}

int ctl_models_load(struct ctl_models *m, struct vault_reader *r, uint64_t from, uint64_t to)
{
	uint64_t seq = from;
	int rc = 0;

	/* Model entries are in the vault's type index: no scan over the records. */
	while (seq < to && (rc = vault_next_of_type(r, VAULT_ENTRY_MODEL, seq, &seq)) == 0 &&
	       seq < to) {
		struct vault_entry e;
		rc = vault_get(r, seq, &e);
		if (rc < 0)
			return rc;
		rc = ctl_models_add(m, &e);
		if (rc < 0)
			return rc;
		seq++;
	}
	return rc == -ENOENT || seq >= to ? 0 : rc;
}

size_t ctl_models_count(const struct ctl_models *m)
{
	return m->n;
}

const char *ctl_feature_name(const Evident__V1__ModelManifest *mf, size_t i, char buf[32])
{
	if (mf && i < mf->n_features && mf->features[i]->name)
		return mf->features[i]->name;
	snprintf(buf, 32, "f%zu", i);
	return buf;
}

bool ctl_same_features(const Evident__V1__ModelManifest *a, size_t na,
                       const Evident__V1__ModelManifest *b, size_t nb)
{
	char ba[32], bb[32];

	if (a)
		na = a->n_features;
	if (b)
		nb = b->n_features;
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(ctl_feature_name(a, i, ba), ctl_feature_name(b, i, bb)) != 0)
			return false;
	return true;
}

/* ------------------------------------------------------------------ descriptor-driven JSON */

static json_t *message_json(const ProtobufCMessage *m);

static size_t element_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default: /* 32-bit integers, enums, float */
		return 4;
	}
}

static json_t *enum_json(const ProtobufCFieldDescriptor *f, int value)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, value);

	return ev ? json_string(ev->name) : json_integer(value);
}

/* One value of field f stored at p. */
static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return ctl_json_u64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return ctl_json_double(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return ctl_json_double(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return enum_json(f, *(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		return ctl_json_string(*(char *const *)p);
	case PROTOBUF_C_TYPE_BYTES: {
		/* Bytes fields hold hashes: hex reads better than base64 and matches our output. */
		const ProtobufCBinaryData *b = p;
		return ctl_json_hex(b->data, b->len);
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return message_json(*(ProtobufCMessage *const *)p);
	}
	return json_null();
}

static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset) > 0;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *)(base + f->offset) != NULL;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	return true;
}

/* protobuf-c represents map<string, V> as repeated entry messages {key = 1, value = 2}. */
static bool is_string_map(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;

	return f->type == PROTOBUF_C_TYPE_MESSAGE && d->n_fields == 2 &&
	       strcmp(d->fields[0].name, "key") == 0 &&
	       d->fields[0].type == PROTOBUF_C_TYPE_STRING &&
	       strcmp(d->fields[1].name, "value") == 0;
}

static json_t *repeated_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	size_t n = *(const size_t *)(base + f->quantifier_offset), size = element_size(f);
	const char *arr = *(const char *const *)(base + f->offset);
	bool map = is_string_map(f);
	json_t *out = map ? json_object() : json_array();

	for (size_t i = 0; out && i < n; i++) {
		const void *p = arr + i * size;
		if (map) {
			const ProtobufCMessage *kv = *(ProtobufCMessage *const *)p;
			const ProtobufCFieldDescriptor *vf = &kv->descriptor->fields[1];
			const char *key =
			    *(char *const *)((const char *)kv + kv->descriptor->fields[0].offset);
			json_object_set_new(out, str(key),
			                    field_present(kv, vf)
			                        ? value_json(vf, (const char *)kv + vf->offset)
			                        : json_null());
		} else {
			json_array_append_new(out, value_json(f, p));
		}
	}
	return out;
}

/* A message as a JSON object with the .proto field names (absent fields left out). */
static json_t *message_json(const ProtobufCMessage *m)
{
	json_t *obj;

	if (!m)
		return json_null();
	obj = json_object();
	for (unsigned i = 0; obj && i < m->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
		if (!field_present(m, f))
			continue;
		ctl_json_set(obj, f->name,
		             f->label == PROTOBUF_C_LABEL_REPEATED
		                 ? repeated_json(m, f)
		                 : value_json(f, (const char *)m + f->offset));
	}
	return obj;
}

/* ------------------------------------------------------------------ entries and summaries */

json_t *ctl_entry_json(const struct vault_entry *e)
{
	const char *type = vault_entry_type_name(e->leaf.type);
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	ctl_json_set(obj, "seq", ctl_json_u64(e->leaf.seq));
	ctl_json_set(obj, "type", type ? json_string(type) : json_integer(e->leaf.type));
	ctl_json_set(obj, "timestamp", ctl_json_time(e->leaf.timestamp_ns));
	ctl_json_set(obj, "timestamp_ns", ctl_json_u64(e->leaf.timestamp_ns));
	ctl_json_set(obj, "leaf_hash", ctl_json_hex(e->leaf_hash, VAULT_HASH_LEN));
	ctl_json_set(obj, "payload_sha256", ctl_json_hex(e->leaf.payload_hash, VAULT_HASH_LEN));
	ctl_json_set(obj, "payload_len", ctl_json_u64(e->leaf.payload_len));
	ctl_json_set(obj, "pruned", json_boolean(e->payload == NULL));
	return obj;
}

static json_t *doubles_json(const double *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, ctl_json_double(v[i]));
	return arr;
}

static const char *lifecycle_event(const Evident__Entry__V1__LifecycleEntry *l)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
	    &evident__entry__v1__lifecycle_entry__event__descriptor, l->event);

	return ev ? ev->name : "unknown";
}

static json_t *u64s_json(const uint64_t *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, ctl_json_u64(v[i]));
	return arr;
}

static json_t *strings_json(char *const *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, ctl_json_string(v[i]));
	return arr;
}

/* A hold or release entry's summary fields (nothing for other payloads). */
static void hold_summary_json(const struct ctl_payload *p, json_t *obj)
{
	const Evident__Entry__V1__HoldEntry *he = ctl_payload_hold(p);

	if (he && he->hold) {
		ctl_json_set(obj, "hold_id", ctl_json_string(he->hold->hold_id));
		ctl_json_set(obj, "holder", ctl_json_string(he->hold->holder));
		ctl_json_set(obj, "reason", ctl_json_string(he->hold->reason));
		if (he->hold->has_incident_id)
			ctl_json_set(obj, "incident_id", ctl_json_u64(he->hold->incident_id));
		ctl_json_set(obj, "seqs", u64s_json(he->seqs, he->n_seqs));
	} else if (he && he->release) {
		ctl_json_set(obj, "hold_id", ctl_json_string(he->release->hold_id));
		ctl_json_set(obj, "holder", ctl_json_string(he->release->holder));
		ctl_json_set(obj, "reason", ctl_json_string(he->release->reason));
	}
}

/* An erasure entry's summary fields (nothing for other payloads). */
static void erasure_summary_json(const struct ctl_payload *p, json_t *obj)
{
	const Evident__Entry__V1__ErasureEntry *ee = ctl_payload_erasure(p);

	if (!ee)
		return;
	if (ee->erase) {
		ctl_json_set(obj, "subject", ctl_json_string(ee->erase->subject));
		ctl_json_set(obj, "requested_by", ctl_json_string(ee->erase->requested_by));
		ctl_json_set(obj, "reason", ctl_json_string(ee->erase->reason));
	}
	/* "erased", not "pruned": that key is the entry's own payload state */
	ctl_json_set(obj, "erased", ctl_json_u64(ee->pruned));
	ctl_json_set(obj, "already_pruned", ctl_json_u64(ee->already_pruned));
	ctl_json_set(obj, "held_seqs", u64s_json(ee->held_seqs, ee->n_held_seqs));
	ctl_json_set(obj, "blocking_holds", strings_json(ee->blocking_holds, ee->n_blocking_holds));
}

void ctl_summary_json(const struct ctl_payload *p, json_t *obj)
{
	const Evident__Entry__V1__RecordEntry *re = ctl_payload_record(p);
	const Evident__Entry__V1__ModelEntry *me = ctl_payload_model(p);

	if (ctl_payload_problem(p))
		ctl_json_set(obj, "payload_problem", json_string(ctl_payload_problem(p)));
	if (re && re->record) {
		ctl_json_set(obj, "model_id", ctl_json_string(re->record->model_id));
		ctl_json_set(obj, "model_version", ctl_json_string(re->record->model_version));
		ctl_json_set(obj, "request_id", ctl_json_string(re->record->request_id));
		ctl_json_set(obj, "decision", ctl_json_string(re->record->decision));
		ctl_json_set(obj, "scores", doubles_json(re->record->scores, re->record->n_scores));
		if (re->record->subject)
			ctl_json_set(obj, "subject", ctl_json_string(re->record->subject));
	} else if (me && me->manifest) {
		ctl_json_set(obj, "model_id", ctl_json_string(me->manifest->model_id));
		ctl_json_set(obj, "model_version", ctl_json_string(me->manifest->version));
		ctl_json_set(obj, "framework", ctl_json_string(me->manifest->framework));
	} else if (p->status == 0 && p->type == VAULT_ENTRY_LIFECYCLE) {
		const Evident__Entry__V1__LifecycleEntry *l = (const void *)p->msg;
		ctl_json_set(obj, "event", json_string(lifecycle_event(l)));
	} else if (p->status == 0 && p->type == VAULT_ENTRY_PRUNE) {
		ctl_json_set(obj, "target_seq", ctl_json_u64(p->prune->target_seq));
		ctl_json_set(obj, "reason", ctl_json_string(p->prune->reason));
	}
	hold_summary_json(p, obj);
	erasure_summary_json(p, obj);
}

static const char *artifact_kind(int kind)
{
	return kind == EVIDENT__V1__ARTIFACT_CHUNK__KIND__REFERENCE_DATA ? "reference data"
	                                                                 : "model artifact";
}

static void lowercase(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void record_summary(const Evident__V1__Record *rec, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s@%s %s %s", str(rec->model_id), str(rec->model_version),
	                 str(rec->request_id), rec->decision ? rec->decision : "-");

	/* Four digits identify a score in a listing; show has the exact values. */
	for (size_t i = 0; i < rec->n_scores && n > 0 && (size_t)n < size; i++)
		n += snprintf(buf + n, size - (size_t)n, "%s%.4g", i ? "," : " ", rec->scores[i]);
}

/* "case-1138 on incident 57 (3 entries) by legal@example.com: litigation" */
static void hold_summary(const Evident__Entry__V1__HoldEntry *he, char *buf, size_t size)
{
	const Evident__V1__Hold *h = he->hold;
	const Evident__V1__Release *r = he->release;
	char what[64] = "";

	if (r) {
		snprintf(buf, size, "%s by %s: %s", str(r->hold_id), r->holder ? r->holder : "?",
		         str(r->reason));
		return;
	}
	if (!h) {
		snprintf(buf, size, "(no hold)");
		return;
	}
	if (h->has_incident_id)
		snprintf(what, sizeof(what), " on incident %" PRIu64, h->incident_id);
	else if (h->has_seq)
		snprintf(what, sizeof(what), " on entry %" PRIu64, h->seq);
	snprintf(buf, size, "%s%s (%zu entr%s) by %s: %s", str(h->hold_id), what, he->n_seqs,
	         he->n_seqs == 1 ? "y" : "ies", h->holder ? h->holder : "?", str(h->reason));
}

/* "subject-7: 4 pruned, 1 already pruned, 2 held (case-1138) by dpo@example.com" */
static void erasure_summary(const Evident__Entry__V1__ErasureEntry *ee, char *buf, size_t size)
{
	const Evident__V1__Erase *er = ee->erase;
	int n =
	    snprintf(buf, size, "%s: %" PRIu64 " pruned, %" PRIu64 " already pruned, %zu held",
	             er ? str(er->subject) : "?", ee->pruned, ee->already_pruned, ee->n_held_seqs);

	for (size_t i = 0; i < ee->n_blocking_holds && n > 0 && (size_t)n < size; i++)
		n += snprintf(buf + n, size - (size_t)n, "%s%s", i ? ", " : " (",
		              str(ee->blocking_holds[i]));
	if (ee->n_blocking_holds && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ")");
	if (er && er->requested_by && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " by %s", er->requested_by);
}

void ctl_summary_text(const struct ctl_payload *p, size_t payload_len, char *buf, size_t size)
{
	const Evident__Entry__V1__RecordEntry *re = ctl_payload_record(p);
	const Evident__Entry__V1__ModelEntry *me = ctl_payload_model(p);
	const char *problem = ctl_payload_problem(p);

	if (problem) {
		snprintf(buf, size, "(%s, %zu bytes)", problem, payload_len);
	} else if (re && re->record) {
		record_summary(re->record, buf, size);
	} else if (me && me->manifest) {
		snprintf(buf, size, "%s@%s %s", str(me->manifest->model_id),
		         str(me->manifest->version), str(me->manifest->framework));
	} else if (p->type == VAULT_ENTRY_LIFECYCLE) {
		snprintf(buf, size, "%s", lifecycle_event((const void *)p->msg));
		lowercase(buf);
	} else if (p->type == VAULT_ENTRY_PRUNE) {
		snprintf(buf, size, "pruned %" PRIu64 ": %s", p->prune->target_seq,
		         p->prune->reason);
	} else if (ctl_payload_hold(p)) {
		hold_summary(ctl_payload_hold(p), buf, size);
	} else if (ctl_payload_erasure(p)) {
		erasure_summary(ctl_payload_erasure(p), buf, size);
	} else if (p->type == VAULT_ENTRY_ARTIFACT) {
		const Evident__Entry__V1__ArtifactEntry *a = (const void *)p->msg;
		snprintf(buf, size, "%s@%s %s, %" PRIu64 " bytes", str(a->model_id),
		         str(a->version), a->has_kind ? artifact_kind(a->kind) : "artifact",
		         a->size);
	} else {
		snprintf(buf, size, "%zu bytes", payload_len);
	}
}

/* ------------------------------------------------------------------ records */

static json_t *features_json(const Evident__V1__Record *rec, const Evident__V1__ModelManifest *mf)
{
	json_t *obj = json_object();
	char buf[32];

	for (size_t i = 0; obj && i < rec->n_features; i++)
		ctl_json_set(obj, ctl_feature_name(mf, i, buf), ctl_json_double(rec->features[i]));
	return obj;
}

static json_t *context_json(const Evident__V1__Record *rec)
{
	json_t *obj = json_object();

	for (size_t i = 0; obj && i < rec->n_context; i++)
		ctl_json_set(obj, str(rec->context[i]->key),
		             ctl_json_double(rec->context[i]->value));
	return obj;
}

static json_t *labels_json(const Evident__V1__Record *rec)
{
	json_t *obj = json_object();

	for (size_t i = 0; obj && i < rec->n_labels; i++)
		ctl_json_set(obj, str(rec->labels[i]->key), ctl_json_string(rec->labels[i]->value));
	return obj;
}

void ctl_record_json(const Evident__Entry__V1__RecordEntry *re,
                     const Evident__V1__ModelManifest *mf, json_t *obj)
{
	const Evident__V1__Record *rec = re->record;

	if (!rec)
		return;
	ctl_json_set(obj, "model_id", ctl_json_string(rec->model_id));
	ctl_json_set(obj, "model_version", ctl_json_string(rec->model_version));
	ctl_json_set(obj, "request_id", ctl_json_string(rec->request_id));
	ctl_json_set(obj, "client", ctl_json_string(re->client_name));
	ctl_json_set(obj, "features", features_json(rec, mf));
	ctl_json_set(obj, "scores", doubles_json(rec->scores, rec->n_scores));
	ctl_json_set(obj, "decision", ctl_json_string(rec->decision));
	ctl_json_set(obj, "context", context_json(rec));
	ctl_json_set(obj, "labels", labels_json(rec));
	ctl_json_set(obj, "trace_id", ctl_json_string(rec->trace_id));
	if (rec->subject)
		ctl_json_set(obj, "subject", ctl_json_string(rec->subject));
}

static const Evident__V1__Feature *feature_of(const Evident__V1__ModelManifest *mf, size_t i)
{
	return mf && i < mf->n_features ? mf->features[i] : NULL;
}

/* Whether a present value lies outside the training range the manifest records. */
static bool out_of_range(const Evident__V1__Feature *f, double v)
{
	return f && !isnan(v) && ((f->has_min && v < f->min) || (f->has_max && v > f->max));
}

static json_t *out_of_range_json(const Evident__V1__Record *rec,
                                 const Evident__V1__ModelManifest *mf)
{
	json_t *arr = json_array();
	char buf[32];

	for (size_t i = 0; arr && i < rec->n_features; i++)
		if (out_of_range(feature_of(mf, i), rec->features[i]))
			json_array_append_new(arr, json_string(ctl_feature_name(mf, i, buf)));
	return arr;
}

static json_t *record_payload_json(const Evident__Entry__V1__RecordEntry *re,
                                   const struct ctl_models *m)
{
	const Evident__V1__Record *rec = re->record;
	const Evident__V1__ModelManifest *mf = ctl_models_for_record(m, rec);
	json_t *obj = json_object();

	if (!obj || !rec)
		return obj;
	ctl_record_json(re, mf, obj);
	ctl_json_set(obj, "feature_values", doubles_json(rec->features, rec->n_features));
	ctl_json_set(obj, "out_of_range", out_of_range_json(rec, mf));
	ctl_json_set(obj, "model_registered", json_boolean(mf != NULL));
	if (rec->has_timestamp_unix_ns && rec->timestamp_unix_ns >= 0) {
		ctl_json_set(obj, "client_timestamp",
		             ctl_json_time((uint64_t)rec->timestamp_unix_ns));
		ctl_json_set(obj, "client_timestamp_ns", json_integer(rec->timestamp_unix_ns));
	}
	if (re->has_received_unix_ns && re->received_unix_ns >= 0) {
		ctl_json_set(obj, "received", ctl_json_time((uint64_t)re->received_unix_ns));
		ctl_json_set(obj, "received_ns", json_integer(re->received_unix_ns));
	}
	if (rec->has_base_margin)
		ctl_json_set(obj, "base_margin", ctl_json_double(rec->base_margin));
	if (rec->has_verdict_deadline_ms)
		ctl_json_set(obj, "verdict_deadline_ms", json_integer(rec->verdict_deadline_ms));
	if (re->has_peer_uid)
		ctl_json_set(obj, "peer_uid", json_integer(re->peer_uid));
	if (re->has_peer_gid)
		ctl_json_set(obj, "peer_gid", json_integer(re->peer_gid));
	if (re->has_peer_pid)
		ctl_json_set(obj, "peer_pid", json_integer(re->peer_pid));
	return obj;
}

static json_t *prune_json(const struct vault_prune_info *pi)
{
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	ctl_json_set(obj, "target_seq", ctl_json_u64(pi->target_seq));
	ctl_json_set(obj, "payload_sha256", ctl_json_hex(pi->payload_hash, VAULT_HASH_LEN));
	ctl_json_set(obj, "payload_len", ctl_json_u64(pi->payload_len));
	ctl_json_set(obj, "reason", ctl_json_string(pi->reason));
	return obj;
}

#define HEAD_BYTES 64

static json_t *opaque_json(const struct ctl_payload *p)
{
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	ctl_json_set(obj, "size", ctl_json_u64(p->raw_len));
	ctl_json_set(obj, "head_hex",
	             ctl_json_hex(p->raw, p->raw_len < HEAD_BYTES ? p->raw_len : HEAD_BYTES));
	return obj;
}

json_t *ctl_payload_json(const struct ctl_payload *p, const struct ctl_models *m)
{
	json_t *obj;

	if (ctl_payload_problem(p)) {
		obj = json_object();
		if (obj)
			ctl_json_set(obj, "problem", json_string(ctl_payload_problem(p)));
		return obj;
	}
	if (p->status == -EOPNOTSUPP)
		return opaque_json(p);
	if (p->type == VAULT_ENTRY_PRUNE)
		return prune_json(p->prune);
	if (p->type == VAULT_ENTRY_RECORD)
		return record_payload_json(ctl_payload_record(p), m);
	return message_json(p->msg);
}

/* ------------------------------------------------------------------ text */

#define KEY_WIDTH 24

/* Prints a JSON value as indented "key  value" lines: objects nest, arrays of scalars join
 * on one line, arrays of objects list their items. */
static void print_value(FILE *f, const char *key, const json_t *v, int indent);

static void print_scalar(FILE *f, const json_t *v)
{
	char d[CTL_DOUBLE_MAX];

	switch (json_typeof(v)) {
	case JSON_STRING:
		fputs(json_string_value(v), f);
		break;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		fputs(ctl_double_format(json_real_value(v), d), f);
		break;
	case JSON_TRUE:
		fputs("yes", f);
		break;
	case JSON_FALSE:
		fputs("no", f);
		break;
	default:
		fputs("-", f);
		break;
	}
}

static bool is_container(const json_t *v)
{
	return json_is_object(v) || json_is_array(v);
}

static bool array_of_scalars(const json_t *v)
{
	size_t i;
	json_t *item;

	json_array_foreach(v, i, item) if (is_container(item)) return false;
	return true;
}

static void print_value(FILE *f, const char *key, const json_t *v, int indent)
{
	int width = KEY_WIDTH - indent > 1 ? KEY_WIDTH - indent : 1;

	if (json_is_object(v) || (json_is_array(v) && !array_of_scalars(v))) {
		const char *k;
		json_t *item;
		size_t i;

		fprintf(f, "%*s%s\n", indent, "", key);
		if (json_is_object(v)) {
			json_object_foreach((json_t *)v, k, item)
			    print_value(f, k, item, indent + 2);
		} else {
			json_array_foreach(v, i, item)
			{
				char idx[24];
				snprintf(idx, sizeof(idx), "[%zu]", i);
				print_value(f, idx, item, indent + 2);
			}
		}
		return;
	}
	fprintf(f, "%*s%-*s ", indent, "", width, key);
	if (json_is_array(v)) {
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item)
		{
			if (i)
				fputs(", ", f);
			print_scalar(f, item);
		}
	} else {
		print_scalar(f, v);
	}
	fputc('\n', f);
}

static void print_object(FILE *f, const json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) print_value(f, k, v, 0);
}

static void print_line(FILE *f, const char *key, const char *value)
{
	if (value && *value)
		fprintf(f, "%-*s %s\n", KEY_WIDTH, key, value);
}

static void print_time(FILE *f, const char *key, bool has, int64_t ns)
{
	char t[CTL_TIME_MAX];

	if (has && ns >= 0)
		print_line(f, key, ctl_time_format((uint64_t)ns, t));
}

static void print_range(FILE *f, const Evident__V1__Feature *ft)
{
	char lo[CTL_DOUBLE_MAX], hi[CTL_DOUBLE_MAX];

	if (!ft || (!ft->has_min && !ft->has_max))
		return;
	fprintf(f, "  [%s .. %s]", ft->has_min ? ctl_double_format(ft->min, lo) : "",
	        ft->has_max ? ctl_double_format(ft->max, hi) : "");
}

static void print_features(FILE *f, const Evident__V1__Record *rec,
                           const Evident__V1__ModelManifest *mf)
{
	char name[32], d[CTL_DOUBLE_MAX];

	fprintf(f, "features%s\n",
	        mf ? " (training range from the manifest; ! = outside it)"
	           : " (model not registered: names and ranges unknown)");
	for (size_t i = 0; i < rec->n_features; i++) {
		const Evident__V1__Feature *ft = feature_of(mf, i);
		double v = rec->features[i];
		bool cat = ft && ft->type == EVIDENT__V1__FEATURE__TYPE__CATEGORICAL && !isnan(v) &&
		           v >= 0 && v < (double)ft->n_categories && v == floor(v);

		fprintf(f, "%c %-*s %-12s", out_of_range(ft, v) ? '!' : ' ', KEY_WIDTH - 2,
		        ctl_feature_name(mf, i, name),
		        isnan(v) ? "missing" : ctl_double_format(v, d));
		if (cat)
			fprintf(f, " (%s)", ft->categories[(size_t)v]);
		print_range(f, ft);
		fputc('\n', f);
	}
}

static void print_doubles(FILE *f, const char *key, const double *v, size_t n)
{
	char d[CTL_DOUBLE_MAX];

	if (!n)
		return;
	fprintf(f, "%-*s ", KEY_WIDTH, key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", ctl_double_format(v[i], d));
	fputc('\n', f);
}

static void print_record(FILE *f, const Evident__Entry__V1__RecordEntry *re,
                         const struct ctl_models *m)
{
	const Evident__V1__Record *rec = re->record;
	const Evident__V1__ModelManifest *mf = ctl_models_for_record(m, rec);
	json_t *sub;

	print_line(f, "client", re->client_name);
	print_time(f, "received", re->has_received_unix_ns, re->received_unix_ns);
	if (re->has_peer_uid || re->has_peer_pid)
		fprintf(f, "%-*s uid %u, gid %u, pid %u\n", KEY_WIDTH, "peer", re->peer_uid,
		        re->peer_gid, re->peer_pid);
	if (!rec)
		return;
	fprintf(f, "%-*s %s@%s\n", KEY_WIDTH, "model", str(rec->model_id), str(rec->model_version));
	print_line(f, "request id", rec->request_id);
	print_time(f, "client time", rec->has_timestamp_unix_ns, rec->timestamp_unix_ns);
	print_line(f, "trace id", rec->trace_id);
	print_line(f, "subject", rec->subject);
	print_line(f, "decision", rec->decision);
	print_doubles(f, "scores", rec->scores, rec->n_scores);
	if (rec->has_base_margin)
		print_doubles(f, "base margin", &rec->base_margin, 1);
	print_features(f, rec, mf);
	sub = context_json(rec);
	if (sub && json_object_size(sub))
		print_value(f, "context", sub, 0);
	json_decref(sub);
	sub = labels_json(rec);
	if (sub && json_object_size(sub))
		print_value(f, "labels", sub, 0);
	json_decref(sub);
}

static void print_opaque(FILE *f, const struct ctl_payload *p)
{
	char hex[2 * HEAD_BYTES + 1];
	size_t n = p->raw_len < HEAD_BYTES ? p->raw_len : HEAD_BYTES;

	fprintf(f, "%-*s %zu bytes (no decoder for this entry type)\n", KEY_WIDTH, "payload",
	        p->raw_len);
	fprintf(f, "%-*s %s%s\n", KEY_WIDTH, "first bytes", ctl_hex(p->raw, n, hex),
	        n < p->raw_len ? "..." : "");
}

void ctl_payload_print(FILE *f, const struct ctl_payload *p, const struct ctl_models *m)
{
	const char *problem = ctl_payload_problem(p);
	json_t *obj;

	if (problem) {
		fprintf(f, "(%s)\n", problem);
		return;
	}
	if (p->status == -EOPNOTSUPP) {
		print_opaque(f, p);
		return;
	}
	if (p->type == VAULT_ENTRY_RECORD) {
		print_record(f, ctl_payload_record(p), m);
		return;
	}
	obj = ctl_payload_json(p, m);
	if (obj)
		print_object(f, obj);
	json_decref(obj);
}

int ctl_scan_type(struct vault_reader *r, int type, uint64_t from, uint64_t to, ctl_type_fn fn,
                  void *userdata)
{
	for (uint64_t seq; from < to; from = seq + 1) {
		struct vault_entry e;
		struct ctl_payload p;
		int rc = vault_next_of_type(r, type, from, &seq);
		if (rc == -ENOENT || (rc == 0 && seq >= to))
			return 0;
		if (rc < 0 || (rc = vault_get(r, seq, &e)) < 0)
			return rc;
		ctl_payload_decode(&e, &p);
		rc = fn(userdata, &e, &p);
		ctl_payload_deinit(&p);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ retention */

/* Whether s begins with word followed by the end or a character that is not a letter. */
static bool first_word_is(const char *s, const char *word)
{
	size_t n = strlen(word);
	char c;

	if (!s || strncmp(s, word, n) != 0)
		return false;
	c = s[n];
	return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

enum ctl_prune_cause ctl_prune_cause_of(const char *reason)
{
	if (first_word_is(reason, "erasure"))
		return CTL_PRUNE_ERASURE;
	if (first_word_is(reason, "retention"))
		return CTL_PRUNE_RETENTION;
	return CTL_PRUNE_OTHER;
}

const char *ctl_prune_cause_name(enum ctl_prune_cause c)
{
	switch (c) {
	case CTL_PRUNE_RETENTION:
		return "retention";
	case CTL_PRUNE_ERASURE:
		return "erasure";
	case CTL_PRUNE_OTHER:
		break;
	}
	return "other";
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_prune(const void *a, const void *b)
{
	return cmp_u64(&((const struct ctl_prune *)a)->target_seq,
	               &((const struct ctl_prune *)b)->target_seq);
}

/* The prune entries wanted, and how many of the targets are still to be found. */
struct prune_search {
	const uint64_t *targets; /* sorted, unique */
	bool *found;             /* per target */
	size_t n, left;
	struct ctl_prunes *out;
};

static int prune_found(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct prune_search *ps = ud;
	const uint64_t *t;
	struct ctl_prune *pr;

	if (p->status != 0 || !p->prune)
		return 0;
	t = bsearch(&p->prune->target_seq, ps->targets, ps->n, sizeof(*ps->targets), cmp_u64);
	/* the vault prunes a payload once; should two entries name it, the first counts */
	if (!t || ps->found[t - ps->targets])
		return 0;
	ps->found[t - ps->targets] = true;
	pr = &ps->out->v[ps->out->n];
	*pr = (struct ctl_prune){.target_seq = *t,
	                         .seq = e->leaf.seq,
	                         .timestamp_ns = e->leaf.timestamp_ns,
	                         .cause = ctl_prune_cause_of(p->prune->reason),
	                         .reason = strdup(p->prune->reason)};
	if (!pr->reason)
		return -ENOMEM;
	ps->out->n++;
	return --ps->left == 0 ? 1 : 0;
}

int ctl_prunes_load(struct vault_reader *r, const uint64_t *targets, size_t n,
                    struct ctl_prunes *ret)
{
	_cleanup_(freep) uint64_t *sorted = NULL;
	_cleanup_(freep) bool *found = NULL;
	struct prune_search ps = {.out = ret};
	size_t k = 0;
	int rc;

	if (!n)
		return 0;
	sorted = malloc(n * sizeof(*sorted));
	found = calloc(n, sizeof(*found));
	ret->v = calloc(n, sizeof(*ret->v));
	if (!sorted || !found || !ret->v)
		return -ENOMEM;
	memcpy(sorted, targets, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (!k || sorted[k - 1] != sorted[i])
			sorted[k++] = sorted[i];
	ps.targets = sorted;
	ps.found = found;
	ps.n = ps.left = k;
	/* a prune entry comes after the entry it names */
	rc = ctl_scan_type(r, VAULT_ENTRY_PRUNE, sorted[0] + 1, vault_reader_size(r), prune_found,
	                   &ps);
	qsort(ret->v, ret->n, sizeof(*ret->v), cmp_prune);
	return rc;
}

const struct ctl_prune *ctl_prunes_find(const struct ctl_prunes *p, uint64_t target)
{
	struct ctl_prune key = {.target_seq = target};

	return p->n ? bsearch(&key, p->v, p->n, sizeof(*p->v), cmp_prune) : NULL;
}

void ctl_prunes_free(struct ctl_prunes *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].reason);
	free(p->v);
	*p = (struct ctl_prunes){0};
}

json_t *ctl_prune_json(const struct ctl_prune *p)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	ctl_json_set(o, "seq", ctl_json_u64(p->seq));
	ctl_json_set(o, "time", ctl_json_time(p->timestamp_ns));
	ctl_json_set(o, "timestamp_ns", ctl_json_u64(p->timestamp_ns));
	ctl_json_set(o, "cause", json_string(ctl_prune_cause_name(p->cause)));
	ctl_json_set(o, "reason", ctl_json_string(p->reason));
	return o;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void hold_deinit(struct ctl_hold *h)
{
	free(h->hold_id);
	free(h->holder);
	free(h->reason);
	free(h->client);
	free(h->seqs);
	free(h->release_holder);
	free(h->release_reason);
}

/* Appends the hold entry e (decoded as he) to hs. */
static int hold_add(struct ctl_holds *hs, const struct vault_entry *e,
                    const Evident__Entry__V1__HoldEntry *he)
{
	const Evident__V1__Hold *h = he->hold;
	struct ctl_hold *nh;
	size_t n = he->n_seqs ? he->n_seqs : (h->has_seq ? 1 : 0);

	if (hs->n == hs->cap) {
		size_t cap = hs->cap ? 2 * hs->cap : 16;
		struct ctl_hold *v = realloc(hs->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		hs->v = v;
		hs->cap = cap;
	}
	nh = &hs->v[hs->n];
	*nh = (struct ctl_hold){.seq = e->leaf.seq,
	                        .timestamp_ns = e->leaf.timestamp_ns,
	                        .hold_id = dup_or_null(h->hold_id),
	                        .holder = dup_or_null(h->holder),
	                        .reason = dup_or_null(h->reason),
	                        .client = dup_or_null(he->client_name),
	                        .has_target_seq = h->has_seq,
	                        .target_seq = h->seq,
	                        .has_incident_id = h->has_incident_id,
	                        .incident_id = h->incident_id,
	                        .seqs = malloc((n ? n : 1) * sizeof(uint64_t)),
	                        .n_seqs = n};
	if (!nh->seqs || (h->hold_id && !nh->hold_id) || (h->holder && !nh->holder) ||
	    (h->reason && !nh->reason) || (he->client_name && !nh->client)) {
		hold_deinit(nh);
		return -ENOMEM;
	}
	/* the entries resolved when it was placed; a hold without them names its seq */
	if (he->n_seqs)
		memcpy(nh->seqs, he->seqs, n * sizeof(uint64_t));
	else if (n)
		nh->seqs[0] = h->seq;
	qsort(nh->seqs, n, sizeof(uint64_t), cmp_u64);
	hs->n++;
	return 0;
}

/* Marks the latest hold before e with the release's hold_id released. */
static int hold_release(struct ctl_holds *hs, const struct vault_entry *e,
                        const Evident__Entry__V1__HoldEntry *he)
{
	const Evident__V1__Release *rl = he->release;

	for (size_t i = hs->n; rl->hold_id && i-- > 0;) {
		struct ctl_hold *h = &hs->v[i];
		if (h->released || h->seq > e->leaf.seq || !h->hold_id ||
		    strcmp(h->hold_id, rl->hold_id) != 0)
			continue;
		h->released = true;
		h->release_seq = e->leaf.seq;
		h->release_ns = e->leaf.timestamp_ns;
		h->release_holder = dup_or_null(rl->holder);
		h->release_reason = dup_or_null(rl->reason);
		if ((rl->holder && !h->release_holder) || (rl->reason && !h->release_reason))
			return -ENOMEM;
		return 0;
	}
	return 0; /* a release naming no active hold releases nothing */
}

static int hold_found(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	const Evident__Entry__V1__HoldEntry *he = ctl_payload_hold(p);

	/* a hold whose payload is gone or does not decode names nothing evidentctl can show */
	if (!he || !he->hold)
		return 0;
	return hold_add(ud, e, he);
}

static int release_found(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	const Evident__Entry__V1__HoldEntry *he = ctl_payload_hold(p);

	if (!he || !he->release)
		return 0;
	return hold_release(ud, e, he);
}

int ctl_holds_load(struct vault_reader *r, uint64_t to, struct ctl_holds *ret)
{
	int rc = ctl_scan_type(r, VAULT_ENTRY_HOLD, 0, to, hold_found, ret);

	/* releases in seq order, each ending the latest hold of its id placed before it */
	if (rc >= 0 && ret->n)
		rc = ctl_scan_type(r, VAULT_ENTRY_RELEASE, ret->v[0].seq + 1, to, release_found,
		                   ret);
	return rc < 0 ? rc : 0;
}

bool ctl_hold_covers(const struct ctl_hold *h, uint64_t seq)
{
	return h->n_seqs && bsearch(&seq, h->seqs, h->n_seqs, sizeof(*h->seqs), cmp_u64);
}

void ctl_holds_free(struct ctl_holds *hs)
{
	for (size_t i = 0; i < hs->n; i++)
		hold_deinit(&hs->v[i]);
	free(hs->v);
	*hs = (struct ctl_holds){0};
}

json_t *ctl_hold_json(const struct ctl_hold *h)
{
	json_t *o = json_object(), *rel;

	if (!o)
		return NULL;
	ctl_json_set(o, "hold_id", ctl_json_string(h->hold_id));
	ctl_json_set(o, "active", json_boolean(!h->released));
	ctl_json_set(o, "seq", ctl_json_u64(h->seq));
	ctl_json_set(o, "placed", ctl_json_time(h->timestamp_ns));
	ctl_json_set(o, "placed_ns", ctl_json_u64(h->timestamp_ns));
	ctl_json_set(o, "holder", ctl_json_string(h->holder));
	ctl_json_set(o, "reason", ctl_json_string(h->reason));
	ctl_json_set(o, "client", ctl_json_string(h->client));
	if (h->has_target_seq)
		ctl_json_set(o, "target_seq", ctl_json_u64(h->target_seq));
	if (h->has_incident_id)
		ctl_json_set(o, "incident_id", ctl_json_u64(h->incident_id));
	ctl_json_set(o, "seqs", u64s_json(h->seqs, h->n_seqs));
	rel = json_null();
	if (h->released) {
		rel = json_object();
		ctl_json_set(rel, "seq", ctl_json_u64(h->release_seq));
		ctl_json_set(rel, "time", ctl_json_time(h->release_ns));
		ctl_json_set(rel, "timestamp_ns", ctl_json_u64(h->release_ns));
		ctl_json_set(rel, "holder", ctl_json_string(h->release_holder));
		ctl_json_set(rel, "reason", ctl_json_string(h->release_reason));
	}
	ctl_json_set(o, "released", rel);
	return o;
}
