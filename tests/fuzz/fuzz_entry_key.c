/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the dedup key of a stored payload (proto/entry_key.h), differential. A record's
 * key is read off its encoding without unpacking it; for every payload protobuf-c unpacks,
 * that must give exactly the key the unpacked RecordEntry gives (client_name and
 * record.request_id, a NUL cutting a string short), and the same refusal when a field is
 * missing or too long. The first byte picks the entry type for the other keyed types. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.pb-c.h"
#include "entry_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key as the unpacked message gives it: the reference the fast reader must match. */
static int unpacked_key(const Evident__Entry__V1__RecordEntry *e, char *client, char *request)
{
	if (!e->client_name || !e->record || !e->record->request_id || !*e->record->request_id ||
	    strlen(e->client_name) >= ENTRY_KEY_MAX ||
	    strlen(e->record->request_id) >= ENTRY_KEY_MAX)
		return -EBADMSG;
	strcpy(client, e->client_name);
	strcpy(request, e->record->request_id);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = {0, 2, 3, 6, 12, 13, 14};
	char c1[ENTRY_KEY_MAX], r1[ENTRY_KEY_MAX], c2[ENTRY_KEY_MAX], r2[ENTRY_KEY_MAX];
	char model[ENTRY_MODEL_MAX + 1];

	if (size < 1)
		return 0;
	uint16_t other = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	data++;
	size--;

	int fast = entry_dedup_key(ENTRY_KEYED_RECORD, data, size, c1, r1);
	if (fast != 1 && fast != -EBADMSG)
		abort();
	if (fast == 1 && (strlen(c1) >= ENTRY_KEY_MAX || strlen(r1) >= ENTRY_KEY_MAX || !*r1))
		abort();
	Evident__Entry__V1__RecordEntry *e =
	    evident__entry__v1__record_entry__unpack(NULL, size, data);
	if (e) {
		int ref = unpacked_key(e, c2, r2);
		if (ref != fast) {
			fprintf(stderr, "record key: read off the encoding %d, unpacked %d\n", fast,
			        ref);
			abort();
		}
		if (ref == 1 && (strcmp(c1, c2) != 0 || strcmp(r1, r2) != 0)) {
			fprintf(stderr,
			        "record key: (\"%s\", \"%s\") off the encoding, (\"%s\", "
			        "\"%s\") unpacked\n",
			        c1, r1, c2, r2);
			abort();
		}
		evident__entry__v1__record_entry__free_unpacked(e, NULL);
	}
	/* the other keyed types and the model key: no crash, results in range */
	int rc = entry_dedup_key(other, data, size, c2, r2);
	if (rc != 0 && rc != 1 && rc != -EBADMSG && rc != -ENOMEM)
		abort();
	rc = entry_model_key(ENTRY_KEYED_RECORD, data, size, model);
	if (rc != 0 && rc != 1 && rc != -EBADMSG && rc != -ENOMEM)
		abort();
	return 0;
}
