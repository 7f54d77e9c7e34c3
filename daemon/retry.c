/* SPDX-License-Identifier: Apache-2.0 */
/* Retries checked against the stored entry (retry.h). */
#include "retry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "entry.pb-c.h"
#include "entry_key.h"
#include "log.h"
#include "writer.h"

static int cmp_context(const void *a, const void *b)
{
	const Evident__V1__Record__ContextEntry *x = *(Evident__V1__Record__ContextEntry *const *)a,
	                                        *y = *(Evident__V1__Record__ContextEntry *const *)b;
	int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
	return c ? c : memcmp(&x->value, &y->value, sizeof(x->value));
}

static int cmp_labels(const void *a, const void *b)
{
	const Evident__V1__Record__LabelsEntry *x = *(Evident__V1__Record__LabelsEntry *const *)a,
	                                       *y = *(Evident__V1__Record__LabelsEntry *const *)b;
	int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
	return c ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

/* The part of a payload a client sent (a Record, Review, Hold, Release or Erase), packed
 * canonically: protobuf-c
 * writes fields in number order, and map entries, whose order on the wire carries no meaning
 * (a client library may send them in any order), are sorted first. So two encodings of the
 * same message compare equal. Returns 0 with *ret (malloc'd), -EBADMSG, -ENOMEM. */
static int sent_part(int type, const uint8_t *payload, size_t len, uint8_t **ret, size_t *ret_len)
{
	const ProtobufCMessage *m = NULL;
	ProtobufCMessage *outer = NULL;
	int rc;

	if (type == VAULT_ENTRY_RECORD) {
		Evident__Entry__V1__RecordEntry *e =
		    evident__entry__v1__record_entry__unpack(NULL, len, payload);
		outer = e ? &e->base : NULL;
		m = e && e->record ? &e->record->base : NULL;
		if (m) {
			Evident__V1__Record *r = e->record;
			if (r->n_context > 1)
				qsort(r->context, r->n_context, sizeof(*r->context), cmp_context);
			if (r->n_labels > 1)
				qsort(r->labels, r->n_labels, sizeof(*r->labels), cmp_labels);
		}
	} else if (type == VAULT_ENTRY_REVIEW) {
		Evident__Entry__V1__ReviewEntry *e =
		    evident__entry__v1__review_entry__unpack(NULL, len, payload);
		outer = e ? &e->base : NULL;
		m = e && e->review ? &e->review->base : NULL;
	} else if (type == VAULT_ENTRY_HOLD || type == VAULT_ENTRY_RELEASE) {
		Evident__Entry__V1__HoldEntry *e =
		    evident__entry__v1__hold_entry__unpack(NULL, len, payload);
		outer = e ? &e->base : NULL;
		if (e && type == VAULT_ENTRY_HOLD)
			m = e->hold ? &e->hold->base : NULL;
		else if (e)
			m = e->release ? &e->release->base : NULL;
	} else if (type == VAULT_ENTRY_ERASURE) {
		Evident__Entry__V1__ErasureEntry *e =
		    evident__entry__v1__erasure_entry__unpack(NULL, len, payload);
		outer = e ? &e->base : NULL;
		m = e && e->erase ? &e->erase->base : NULL;
	}
	rc = m ? dispatch_pack(m, ret, ret_len) : -EBADMSG;
	if (outer)
		protobuf_c_message_free_unpacked(outer, NULL);
	return rc;
}

int retry_check(struct vault *v, int type, uint64_t seq, const uint8_t *payload, size_t len,
                const char *client, const char *request, char *why, size_t why_size)
{
	char kc[ENTRY_KEY_MAX], kr[ENTRY_KEY_MAX];
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	struct vault_reader *r;
	struct vault_entry e;
	int rc;

	rc = vault_reader_begin(v, &r);
	if (rc < 0)
		return rc;
	rc = vault_get(r, seq, &e);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	if (rc == -ENOENT || !e.payload ||
	    entry_dedup_key(e.leaf.type, e.payload, e.payload_len, kc, kr) != 1 ||
	    strcmp(kc, client) != 0 || strcmp(kr, request) != 0) {
		snprintf(why, why_size,
		         "the dedup index names entry %" PRIu64 " for client \"%.64s\" request "
		         "\"%.64s\", but that entry %s",
		         seq, client, request,
		         rc == -ENOENT ? "does not exist"
		         : !e.payload  ? "was pruned"
		                       : "carries another key");
		rc = RETRY_MISMATCH;
		goto out;
	}
	if (e.leaf.type != type) {
		/* the client used one request id for two kinds of entries */
		const char *t = vault_entry_type_name(e.leaf.type);
		snprintf(why, why_size,
		         "request_id \"%.64s\" of client \"%.64s\" was stored at seq %" PRIu64
		         " by a %s entry; this %s is refused (recorded in a notice entry): use "
		         "another request id",
		         request, client, seq, t ? t : "another", vault_entry_type_name(type));
		rc = RETRY_CONFLICT;
		goto out;
	}
	rc = sent_part(type, e.payload, e.payload_len, &a, &alen);
	if (rc == 0)
		rc = sent_part(type, payload, len, &b, &blen);
	if (rc == -EBADMSG) {
		snprintf(why, why_size, "entry %" PRIu64 " does not decode", seq);
		rc = RETRY_MISMATCH;
	} else if (rc == 0 && (alen != blen || memcmp(a, b, alen) != 0)) {
		snprintf(why, why_size,
		         "request_id \"%.64s\" of client \"%.64s\" was stored at seq %" PRIu64
		         " with different content; the first stands and this one is refused "
		         "(recorded in a notice entry)",
		         request, client, seq);
		rc = RETRY_CONFLICT;
	}
out:
	free(a);
	free(b);
	vault_reader_end(r);
	return rc;
}

void retry_notice(struct writer *w, enum retry_verdict verdict, uint64_t seq, const char *client,
                  const char *request, int type, const uint8_t *payload, size_t len,
                  const char *why)
{
	Evident__Entry__V1__NoticeEntry n = EVIDENT__ENTRY__V1__NOTICE_ENTRY__INIT;
	uint8_t *buf;
	size_t plen;

	n.kind = verdict == RETRY_CONFLICT ? "retry_conflict" : "dedup_mismatch";
	n.detail = (char *)why;
	n.has_entry_seq = true;
	n.entry_seq = seq;
	n.client_name = (char *)client;
	n.request_id = (char *)request;
	n.has_refused_payload = n.has_refused_type = true;
	n.refused_payload = (ProtobufCBinaryData){len, (uint8_t *)payload};
	n.refused_type = (uint32_t)type;
	if (dispatch_pack(&n.base, &buf, &plen) < 0) {
		log_error("recording a %s notice: out of memory", n.kind);
		return;
	}
	writer_append(w, VAULT_ENTRY_NOTICE, buf, plen, true, NULL, NULL);
}
