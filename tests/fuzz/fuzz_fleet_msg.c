/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the fleet's untrusted inputs (fleet/fleet.h): every NATS message an auditor or
 * a forwarder receives is tried as each of the four messages, and as a subject and a subject
 * token. Whatever a decoder accepts must encode again and decode to the same message, and a
 * subject or token accepted must be the one its parts format back to (the canonical form). */
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const uint8_t *data, size_t size)
{
	struct fleet_entry e, again;
	char reason[FLEET_REASON_MAX], id[FLEET_MSG_ID_MAX];
	uint8_t *buf;
	size_t len;

	if (fleet_entry_decode(data, size, NULL, &e, reason, sizeof(reason)) < 0) {
		if (!reason[0])
			abort(); /* every refusal says why */
		return;
	}
	if (fleet_entry_encode(&e, &buf, &len) < 0 ||
	    fleet_entry_decode(buf, len, e.origin, &again, NULL, 0) < 0)
		abort();
	if (memcmp(again.leaf, e.leaf, VAULT_LEAF_LEN) != 0 || !again.payload != !e.payload ||
	    again.payload_len != e.payload_len ||
	    (e.payload && memcmp(again.payload, e.payload, e.payload_len) != 0) ||
	    again.n_blobs != e.n_blobs || !again.subject != !e.subject ||
	    (e.subject && strcmp(again.subject, e.subject) != 0))
		abort();
	if (fleet_msg_id(FLEET_ENTRY, e.origin, e.decoded.seq, e.leaf_hash, NULL, id, sizeof(id)) <
	    0)
		abort();
	fleet_entry_deinit(&again);
	fleet_entry_deinit(&e);
	free(buf);
}

static void check_blob(const uint8_t *data, size_t size)
{
	struct fleet_blob_chunk c, again;
	char id[FLEET_MSG_ID_MAX];
	uint8_t *buf;
	size_t len;

	if (fleet_blob_chunk_decode(data, size, NULL, &c, NULL, 0) < 0)
		return;
	if (c.offset + c.len > c.size && c.size > 0)
		abort();
	if (fleet_blob_chunk_encode(&c, &buf, &len) < 0 ||
	    fleet_blob_chunk_decode(buf, len, c.origin, &again, NULL, 0) < 0 ||
	    again.len != c.len || memcmp(again.data, c.data, c.len) != 0 ||
	    fleet_msg_id(FLEET_BLOB, c.origin, c.offset, c.hash, NULL, id, sizeof(id)) < 0)
		abort();
	fleet_blob_chunk_deinit(&again);
	fleet_blob_chunk_deinit(&c);
	free(buf);
}

static void check_checkpoint(const uint8_t *data, size_t size)
{
	struct fleet_checkpoint c, again;
	uint8_t *buf;
	size_t len;

	if (fleet_checkpoint_decode(data, size, NULL, &c, NULL, 0) < 0)
		return;
	if (strcmp(c.cp.origin, c.origin) != 0 || fleet_checkpoint_encode(&c, &buf, &len) < 0 ||
	    fleet_checkpoint_decode(buf, len, c.origin, &again, NULL, 0) < 0 ||
	    again.cp.size != c.cp.size)
		abort();
	fleet_checkpoint_deinit(&again);
	fleet_checkpoint_deinit(&c);
	free(buf);
}

static void check_cosig(const uint8_t *data, size_t size)
{
	struct fleet_cosig c, again;
	char id[FLEET_MSG_ID_MAX], subject[FLEET_SUBJECT_MAX];
	uint8_t *buf;
	size_t len;

	if (fleet_cosig_decode(data, size, NULL, &c, NULL, 0) < 0)
		return;
	if (fleet_cosig_encode(&c, &buf, &len) < 0 ||
	    fleet_cosig_decode(buf, len, c.origin, &again, NULL, 0) < 0 ||
	    again.line_len != c.line_len ||
	    fleet_msg_id(FLEET_COSIG, c.origin, c.size, NULL, c.auditor, id, sizeof(id)) < 0 ||
	    fleet_subject("evident", c.origin, FLEET_COSIG, c.auditor, subject, sizeof(subject)) <
	        0)
		abort();
	fleet_cosig_deinit(&again);
	fleet_cosig_deinit(&c);
	free(buf);
}

static void check_subject(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), origin[VAULT_ORIGIN_MAX + 1], auditor[VAULT_ORIGIN_MAX + 1];
	char again[FLEET_SUBJECT_MAX], tok[FLEET_TOKEN_MAX];
	enum fleet_kind kind;
	int n;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (fleet_subject_parse("evident", s, &kind, origin, sizeof(origin), auditor,
	                        sizeof(auditor)) == 0) {
		n = fleet_subject("evident", origin, kind, auditor, again, sizeof(again));
		if (n < 0 || strcmp(again, s) != 0)
			abort();
	}
	n = fleet_subject_origin((const char *)data, size, origin, sizeof(origin));
	if (n >= 0) {
		if (fleet_subject_token(origin, tok, sizeof(tok)) != (int)size ||
		    memcmp(tok, data, size) != 0)
			abort();
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_entry(data, size);
	check_blob(data, size);
	check_checkpoint(data, size);
	check_cosig(data, size);
	check_subject(data, size);
	return 0;
}
