/* SPDX-License-Identifier: Apache-2.0 */
/* Dedup keys derived from entry payloads (entry_key.h). */
#include "entry_key.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "entry.pb-c.h"
#include "wirecheck.h"

const char *entry_review_request_id(const Evident__V1__Review *rv, char buf[32])
{
	if (rv->request_id && *rv->request_id)
		return rv->request_id;
	if (rv->has_record_seq && !rv->has_incident_id)
		snprintf(buf, 32, "review-seq-%" PRIu64, rv->record_seq);
	else
		snprintf(buf, 32, "review-%" PRIu64, rv->incident_id);
	return buf;
}

static int put(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= ENTRY_KEY_MAX)
		return -EBADMSG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* A string field as protobuf-c hands it to C: its bytes up to the first NUL. */
struct wire_str {
	const uint8_t *p;
	size_t n;
	bool set;
};

/* The strings of a RecordEntry its keys are made of. */
struct record_strings {
	struct wire_str client, request, model_id, version;
	bool record;
};

static void wire_str_take(struct wire_str *s, const struct wire_field *f)
{
	const uint8_t *nul = memchr(f->value, 0, f->len);

	s->p = f->value;
	s->n = nul ? (size_t)(nul - f->value) : f->len;
	s->set = true;
}

/* Reads the strings of a RecordEntry off its encoding: most entries are records, and the
 * vault derives a dedup key and a model key from every one it appends, verifies or mirrors,
 * so this reads four strings where they are instead of unpacking the record (features,
 * scores, maps: about ten allocations). For every payload protobuf-c unpacks it gives what
 * unpacking gives (the differential fuzz target fuzz_entry_key checks it): the last
 * client_name (field 1); the record (field 3) merged over its occurrences, so the last of
 * each of its fields model_id, model_version and request_id (1, 2, 3) over all of them;
 * strings cut at a NUL byte as protobuf-c cuts them. It refuses an encoding malformed at
 * these two levels, or one of these fields with another wire type; damage deeper down, which
 * unpacking would refuse, goes unnoticed here and costs nothing: the payload's hash, not its
 * shape, is what shows it unaltered. Returns 0 or -EBADMSG. */
static int read_record(const uint8_t *payload, size_t len, struct record_strings *r)
{
	struct wire_field f, g;
	size_t off = 0, roff;
	int rc;

	memset(r, 0, sizeof(*r));
	while ((rc = wire_next_field(payload, len, &off, &f)) == 1) {
		if (f.id != 1 && f.id != 3)
			continue;
		if (f.wire_type != 2)
			return -EBADMSG;
		if (f.id == 1) {
			wire_str_take(&r->client, &f);
			continue;
		}
		r->record = true;
		roff = 0;
		while ((rc = wire_next_field(f.value, f.len, &roff, &g)) == 1) {
			if (g.id < 1 || g.id > 3)
				continue;
			if (g.wire_type != 2)
				return -EBADMSG;
			wire_str_take(g.id == 1   ? &r->model_id
			              : g.id == 2 ? &r->version
			                          : &r->request,
			              &g);
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* A string of n bytes into dst (ENTRY_KEY_MAX bytes) as put() does. */
static int put_n(char *dst, const struct wire_str *s)
{
	if (s->n >= ENTRY_KEY_MAX)
		return -EBADMSG;
	memcpy(dst, s->p, s->n);
	dst[s->n] = '\0';
	return 0;
}

/* "ID@VERSION" into model when both are set and fit: 1, else 0. */
static int model_name_n(const char *id, size_t il, const char *ver, size_t vl, char *model)
{
	if (!il || !vl || il + 1 + vl > ENTRY_MODEL_MAX)
		return 0;
	memcpy(model, id, il);
	model[il] = '@';
	memcpy(model + il + 1, ver, vl);
	model[il + 1 + vl] = '\0';
	return 1;
}

static int model_name(const char *id, const char *ver, char *model)
{
	return model_name_n(id, id ? strlen(id) : 0, ver, ver ? strlen(ver) : 0, model);
}

int entry_model_key(uint16_t type, const uint8_t *payload, size_t len, char *model)
{
	int rc;

	if (type == ENTRY_KEYED_RECORD) {
		struct record_strings r;
		if (read_record(payload, len, &r) < 0)
			return -EBADMSG;
		return model_name_n((const char *)r.model_id.p, r.model_id.n,
		                    (const char *)r.version.p, r.version.n, model);
	}
	if (type == ENTRY_KEYED_MODEL) {
		Evident__Entry__V1__ModelEntry *e =
		    evident__entry__v1__model_entry__unpack(NULL, len, payload);
		if (!e)
			return -EBADMSG;
		rc = e->manifest ? model_name(e->manifest->model_id, e->manifest->version, model)
		                 : 0;
		evident__entry__v1__model_entry__free_unpacked(e, NULL);
		return rc;
	}
	return 0;
}

int entry_model_key_fn(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                       char *model)
{
	(void)userdata;
	return entry_model_key(type, payload, len, model);
}

int entry_dedup_key_fn(void *userdata, uint16_t type, const uint8_t *payload, size_t len,
                       char *client, char *request)
{
	(void)userdata;
	return entry_dedup_key(type, payload, len, client, request);
}

int entry_dedup_key(uint16_t type, const uint8_t *payload, size_t len, char *client, char *request)
{
	char buf[32];
	int rc = -EBADMSG;

	switch (type) {
	case ENTRY_KEYED_RECORD: {
		struct record_strings r;
		if (read_record(payload, len, &r) < 0 || !r.client.set || !r.record ||
		    r.request.n == 0 || put_n(client, &r.client) < 0 ||
		    put_n(request, &r.request) < 0)
			return -EBADMSG;
		return 1;
	}
	case ENTRY_KEYED_REVIEW: {
		Evident__Entry__V1__ReviewEntry *e =
		    evident__entry__v1__review_entry__unpack(NULL, len, payload);
		if (!e)
			return -EBADMSG;
		if (e->client_name && e->review && put(client, e->client_name) == 0)
			rc = put(request, entry_review_request_id(e->review, buf)) == 0 ? 1
			                                                                : -EBADMSG;
		evident__entry__v1__review_entry__free_unpacked(e, NULL);
		return rc;
	}
	case ENTRY_KEYED_MODEL: {
		Evident__Entry__V1__ModelEntry *e =
		    evident__entry__v1__model_entry__unpack(NULL, len, payload);
		if (!e)
			return -EBADMSG;
		const Evident__V1__ModelManifest *m = e->manifest;
		if (m && m->model_id && m->version &&
		    strlen(m->model_id) + 1 + strlen(m->version) < ENTRY_KEY_MAX) {
			strcpy(client, ENTRY_MODELS_CLIENT);
			snprintf(request, ENTRY_KEY_MAX, "%s@%s", m->model_id, m->version);
			rc = 1;
		}
		evident__entry__v1__model_entry__free_unpacked(e, NULL);
		return rc;
	}
	case ENTRY_KEYED_HOLD:
	case ENTRY_KEYED_RELEASE: {
		Evident__Entry__V1__HoldEntry *e =
		    evident__entry__v1__hold_entry__unpack(NULL, len, payload);
		if (!e)
			return -EBADMSG;
		const char *rid = type == ENTRY_KEYED_HOLD
		                      ? (e->hold ? e->hold->request_id : NULL)
		                      : (e->release ? e->release->request_id : NULL);
		if (e->client_name && rid && *rid && put(client, e->client_name) == 0)
			rc = put(request, rid) == 0 ? 1 : -EBADMSG;
		evident__entry__v1__hold_entry__free_unpacked(e, NULL);
		return rc;
	}
	case ENTRY_KEYED_ERASURE: {
		Evident__Entry__V1__ErasureEntry *e =
		    evident__entry__v1__erasure_entry__unpack(NULL, len, payload);
		if (!e)
			return -EBADMSG;
		if (e->client_name && e->erase && e->erase->request_id && *e->erase->request_id &&
		    put(client, e->client_name) == 0)
			rc = put(request, e->erase->request_id) == 0 ? 1 : -EBADMSG;
		evident__entry__v1__erasure_entry__free_unpacked(e, NULL);
		return rc;
	}
	default:
		return 0;
	}
}
