/* SPDX-License-Identifier: Apache-2.0 */
/* Dedup keys derived from entry payloads (entry_key.h). */
#include "entry_key.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "entry.pb-c.h"

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

/* "ID@VERSION" into model when both are set and fit: 1, else 0. */
static int model_name(const char *id, const char *ver, char *model)
{
	size_t il = id ? strlen(id) : 0, vl = ver ? strlen(ver) : 0;

	if (!il || !vl || il + 1 + vl > ENTRY_MODEL_MAX)
		return 0;
	memcpy(model, id, il);
	model[il] = '@';
	memcpy(model + il + 1, ver, vl + 1);
	return 1;
}

int entry_model_key(uint16_t type, const uint8_t *payload, size_t len, char *model)
{
	int rc;

	if (type == ENTRY_KEYED_RECORD) {
		Evident__Entry__V1__RecordEntry *e =
		    evident__entry__v1__record_entry__unpack(NULL, len, payload);
		if (!e)
			return -EBADMSG;
		rc = e->record ? model_name(e->record->model_id, e->record->model_version, model)
		               : 0;
		evident__entry__v1__record_entry__free_unpacked(e, NULL);
		return rc;
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
		Evident__Entry__V1__RecordEntry *e =
		    evident__entry__v1__record_entry__unpack(NULL, len, payload);
		if (!e)
			return -EBADMSG;
		if (e->client_name && e->record && e->record->request_id &&
		    *e->record->request_id && put(client, e->client_name) == 0)
			rc = put(request, e->record->request_id) == 0 ? 1 : -EBADMSG;
		evident__entry__v1__record_entry__free_unpacked(e, NULL);
		return rc;
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
