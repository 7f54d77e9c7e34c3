/* SPDX-License-Identifier: Apache-2.0 */
/* fleet-pub: publishes fleet messages to NATS JetStream for the auditor's tests.
 *
 *   fleet-pub --nats URL [--stream S] [--prefix P] vault DIR [FROM [TO]]
 *       the entries FROM..TO-1 (default: all) of a stopped vault and its latest checkpoint,
 *       as evidentd's forwarder publishes them (FleetEntry, FleetCheckpoint, Nats-Msg-Id)
 *   fleet-pub --nats URL [--stream S] raw SUBJECT [MSG-ID]
 *       standard input's bytes as one message (garbage, truncated messages)
 *   fleet-pub --nats URL [--stream S] replay SUBJECT [BYTES]
 *       the last message stored on SUBJECT published again under a new Nats-Msg-Id (a replay
 *       JetStream's duplicate window does not catch); with BYTES, only its first BYTES bytes
 *       (a truncated message)
 *
 *   fleet-pub --nats URL [--stream S] get SUBJECT
 *       writes the data of the last message stored on SUBJECT to standard output
 *
 * The stream (subjects PREFIX.>) is created when missing. Exit 0 when JetStream acknowledged
 * everything, 1 otherwise. */
#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "vault.h"

static const char *stream = "EVIDENT", *prefix = "evident";
static jsCtx *js;

static int publish(const char *subject, const void *data, size_t len, const char *id)
{
	natsMsg *m = NULL;
	jsPubAck *pa = NULL;
	jsErrCode jerr = 0;
	natsStatus s = natsMsg_Create(&m, subject, NULL, data, (int)len);

	if (s == NATS_OK && id)
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK)
		s = js_PublishMsg(&pa, js, m, NULL, &jerr);
	jsPubAck_Destroy(pa);
	natsMsg_Destroy(m);
	if (s != NATS_OK) {
		fprintf(stderr, "fleet-pub: %s: %s (%d)\n", subject, natsStatus_GetText(s), jerr);
		return 1;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pub_vault(const char *dir, uint64_t from, uint64_t to)
{
	struct vault *v = NULL;
	struct vault_reader *r = NULL;
	struct vault_info info;
	struct vault_checkpoint cp;
	char subject[FLEET_SUBJECT_MAX], id[FLEET_MSG_ID_MAX], *note = NULL;
	int rc = vault_open(dir, VAULT_OPEN_READ, NULL, &v);

	if (rc == 0)
		rc = vault_info(v, &info);
	if (rc == 0)
		rc = vault_reader_begin(v, &r);
	if (rc < 0) {
		fprintf(stderr, "fleet-pub: %s: %s\n", dir, strerror(-rc));
		vault_close(v);
		return 1;
	}
	if (to > vault_reader_size(r))
		to = vault_reader_size(r);
	fleet_subject(prefix, info.origin, FLEET_ENTRY, NULL, subject, sizeof(subject));
	for (uint64_t seq = from; seq < to && rc == 0; seq++) {
		struct vault_entry e;
		struct fleet_entry fe = {.origin = info.origin};
		uint8_t *buf = NULL;
		size_t len = 0;
		rc = vault_get(r, seq, &e);
		if (rc < 0)
			break;
		vault_leaf_encode(&e.leaf, fe.leaf);
		fe.nonce = e.payload_nonce;
		fe.payload = e.payload;
		fe.payload_len = e.payload_len;
		fe.sent_ns = now_ns();
		rc = fleet_entry_encode(&fe, &buf, &len);
		if (rc == 0) {
			fleet_msg_id(FLEET_ENTRY, info.origin, seq, e.leaf_hash, NULL, id,
			             sizeof(id));
			rc = publish(subject, buf, len, id) ? -EIO : 0;
		}
		free(buf);
	}
	if (rc == 0 && vault_checkpoint_latest(r, &note, &cp) == 0) {
		struct fleet_checkpoint fc = {
		    .origin = info.origin, .note = note, .note_len = strlen(note)};
		uint8_t *buf = NULL;
		size_t len = 0;
		rc = fleet_checkpoint_encode(&fc, &buf, &len);
		if (rc == 0) {
			fleet_subject(prefix, info.origin, FLEET_CHECKPOINT, NULL, subject,
			              sizeof(subject));
			fleet_msg_id(FLEET_CHECKPOINT, info.origin, cp.size, cp.root, NULL, id,
			             sizeof(id));
			rc = publish(subject, buf, len, id) ? -EIO : 0;
		}
		free(buf);
		free(note);
	}
	vault_reader_end(r);
	vault_close(v);
	if (rc < 0)
		fprintf(stderr, "fleet-pub: %s: %s\n", dir, strerror(-rc));
	return rc < 0 ? 1 : 0;
}

static int pub_raw(const char *subject, const char *id)
{
	static char buf[1 << 20];
	size_t len = fread(buf, 1, sizeof(buf), stdin);

	return publish(subject, buf, len, id);
}

static int pub_replay(const char *subject, size_t keep)
{
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	char id[64];
	size_t len;
	int rc;
	natsStatus s = js_GetLastMsg(&m, js, stream, subject, NULL, &jerr);

	if (s != NATS_OK) {
		fprintf(stderr, "fleet-pub: no message on %s: %s\n", subject,
		        natsStatus_GetText(s));
		return 1;
	}
	snprintf(id, sizeof(id), "replay-%" PRIu64, now_ns());
	len = (size_t)natsMsg_GetDataLength(m);
	rc = publish(subject, natsMsg_GetData(m), keep < len ? keep : len, id);
	natsMsg_Destroy(m);
	return rc;
}

static int get_last(const char *subject)
{
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetLastMsg(&m, js, stream, subject, NULL, &jerr);
	size_t len;

	if (s != NATS_OK) {
		fprintf(stderr, "fleet-pub: no message on %s: %s\n", subject,
		        natsStatus_GetText(s));
		return 1;
	}
	len = (size_t)natsMsg_GetDataLength(m);
	if (fwrite(natsMsg_GetData(m), 1, len, stdout) != len)
		len = 0;
	natsMsg_Destroy(m);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	natsConnection *nc = NULL;
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	char subjects[200];
	const char *subj[1] = {subjects};
	int i = 1, rc;

	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (!strcmp(argv[i], "--nats"))
			url = argv[i + 1];
		else if (!strcmp(argv[i], "--stream"))
			stream = argv[i + 1];
		else if (!strcmp(argv[i], "--prefix"))
			prefix = argv[i + 1];
	}
	if (!url || i >= argc) {
		fputs(
		    "usage: fleet-pub --nats URL [--stream S] [--prefix P] vault DIR [FROM [TO]] | "
		    "raw SUBJECT [MSG-ID] | replay SUBJECT [BYTES] | get SUBJECT\n",
		    stderr);
		return 2;
	}
	if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
		fprintf(stderr, "fleet-pub: %s: cannot connect\n", url);
		return 1;
	}
	snprintf(subjects, sizeof(subjects), "%s.>", prefix);
	jsStreamConfig_Init(&sc);
	sc.Name = stream;
	sc.Subjects = subj;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	if (js_GetStreamInfo(&si, js, stream, NULL, NULL) != NATS_OK)
		js_AddStream(&si, js, &sc, NULL, NULL);
	jsStreamInfo_Destroy(si);
	if (!strcmp(argv[i], "vault") && i + 1 < argc)
		rc = pub_vault(argv[i + 1], i + 2 < argc ? strtoull(argv[i + 2], NULL, 10) : 0,
		               i + 3 < argc ? strtoull(argv[i + 3], NULL, 10) : UINT64_MAX);
	else if (!strcmp(argv[i], "raw") && i + 1 < argc)
		rc = pub_raw(argv[i + 1], i + 2 < argc ? argv[i + 2] : NULL);
	else if (!strcmp(argv[i], "replay") && i + 1 < argc)
		rc = pub_replay(argv[i + 1],
		                i + 2 < argc ? strtoull(argv[i + 2], NULL, 10) : SIZE_MAX);
	else if (!strcmp(argv[i], "get") && i + 1 < argc)
		rc = get_last(argv[i + 1]);
	else
		rc = 2;
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return rc;
}
