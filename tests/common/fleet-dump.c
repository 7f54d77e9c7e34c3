/* SPDX-License-Identifier: Apache-2.0 */
/* fleet-dump: prints every message a JetStream stream holds on a subject filter, one JSON
 * object a line, decoded with the fleet library (the forwarder's tests read the stream back
 * with it).
 *
 *   fleet-dump --nats URL [--stream S] [--user U --password P] FILTER
 *
 * Each line: {"stream_seq":N,"subject":"...","id":"<Nats-Msg-Id>","kind":"entry|blob|
 * checkpoint|cosig|bad", then per kind: entry "seq","leaf_hash" (hex),"payload" (bool),
 * "subject" (or null),"blobs"; blob "hash","offset","len","size"; checkpoint "size";
 * bad "reason"}. Exit 0, or 1 when the stream cannot be read. */
#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "vault.h"

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void dump(natsMsg *m, uint64_t sseq, const char *prefix)
{
	const char *id = NULL, *subj = natsMsg_GetSubject(m);
	const uint8_t *d = (const uint8_t *)natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m);
	char origin[VAULT_ORIGIN_MAX + 1], aud[VAULT_ORIGIN_MAX + 1], reason[FLEET_REASON_MAX];
	char hex[2 * VAULT_HASH_LEN + 1];
	enum fleet_kind kind;
	int rc;

	natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
	printf("{\"stream_seq\":%" PRIu64 ",\"subject\":", sseq);
	json_str(subj);
	printf(",\"id\":");
	json_str(id);
	if (fleet_subject_parse(prefix, subj, &kind, origin, sizeof(origin), aud, sizeof(aud)) <
	    0) {
		printf(",\"kind\":\"bad\",\"reason\":\"subject\"}\n");
		return;
	}
	if (kind == FLEET_ENTRY) {
		struct fleet_entry e;
		rc = fleet_entry_decode(d, len, origin, &e, reason, sizeof(reason));
		if (rc == 0) {
			printf(",\"kind\":\"entry\",\"seq\":%" PRIu64 ",\"leaf_hash\":\"%s\","
			       "\"payload\":%s,\"subject\":",
			       e.decoded.seq, vault_hex(e.leaf_hash, hex),
			       e.payload ? "true" : "false");
			if (e.subject)
				json_str(e.subject);
			else
				printf("null");
			printf(",\"blobs\":%zu}\n", e.n_blobs);
			fleet_entry_deinit(&e);
			return;
		}
	} else if (kind == FLEET_BLOB) {
		struct fleet_blob_chunk c;
		rc = fleet_blob_chunk_decode(d, len, origin, &c, reason, sizeof(reason));
		if (rc == 0) {
			printf(",\"kind\":\"blob\",\"hash\":\"%s\",\"offset\":%" PRIu64
			       ",\"len\":%zu,\"size\":%" PRIu64 "}\n",
			       vault_hex(c.hash, hex), c.offset, c.len, c.size);
			fleet_blob_chunk_deinit(&c);
			return;
		}
	} else if (kind == FLEET_CHECKPOINT) {
		struct fleet_checkpoint c;
		rc = fleet_checkpoint_decode(d, len, origin, &c, reason, sizeof(reason));
		if (rc == 0) {
			printf(",\"kind\":\"checkpoint\",\"size\":%" PRIu64 "}\n", c.cp.size);
			fleet_checkpoint_deinit(&c);
			return;
		}
	} else {
		printf(",\"kind\":\"cosig\"}\n");
		return;
	}
	printf(",\"kind\":\"bad\",\"reason\":");
	json_str(rc == -EBADMSG ? reason : strerror(-rc));
	printf("}\n");
}

int main(int argc, char **argv)
{
	const char *url = NULL, *stream = "EVIDENT", *user = NULL, *password = NULL,
	           *prefix = "evident";
	const char *filter = NULL;
	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	jsCtx *js = NULL;
	jsStreamInfo *si = NULL;
	jsSubOptions so;
	natsSubscription *sub = NULL;
	jsErrCode je = 0;
	uint64_t last, seen = 0;
	natsStatus s;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--nats") && i + 1 < argc)
			url = argv[++i];
		else if (!strcmp(argv[i], "--stream") && i + 1 < argc)
			stream = argv[++i];
		else if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--user") && i + 2 < argc) {
			user = argv[++i];
			password = argv[++i];
		} else
			filter = argv[i];
	}
	if (!url || !filter) {
		fprintf(stderr, "usage: fleet-dump --nats URL [--stream S] [--prefix P] "
		                "[--user U P] FILTER\n");
		return 2;
	}
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, url);
	if (s == NATS_OK && user)
		s = natsOptions_SetUserInfo(o, user, password);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, o);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	if (s == NATS_OK)
		s = js_GetStreamInfo(&si, js, stream, NULL, &je);
	if (s != NATS_OK) {
		fprintf(stderr, "fleet-dump: %s (%d)\n", natsStatus_GetText(s), (int)je);
		return 1;
	}
	last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverAll;
	if (last > 0)
		s = js_SubscribeSync(&sub, js, filter, NULL, &so, &je);
	while (s == NATS_OK && last > 0) {
		natsMsg *m = NULL;
		jsMsgMetaData *md = NULL;
		s = natsSubscription_NextMsg(&m, sub, 5000);
		if (s == NATS_TIMEOUT) {
			s = NATS_OK; /* nothing more on this filter */
			break;
		}
		if (s != NATS_OK)
			break;
		if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
			dump(m, md->Sequence.Stream, prefix);
			seen = md->Sequence.Stream;
			bool done = md->NumPending == 0;
			jsMsgMetaData_Destroy(md);
			natsMsg_Destroy(m);
			if (done || seen >= last)
				break;
		} else
			natsMsg_Destroy(m);
	}
	if (s != NATS_OK)
		fprintf(stderr, "fleet-dump: reading: %s\n", natsStatus_GetText(s));
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	return s == NATS_OK ? 0 : 1;
}
