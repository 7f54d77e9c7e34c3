/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the daemon's dispatch path on untrusted socket bytes, frame -> decode ->
 * validate -> payload -> vault append, on a temporary vault holding one registered model. No
 * string in a stored payload may hold a NUL byte or invalid UTF-8 (proto/wirecheck.h). The
 * admin messages (Hold, Release, Erase): an accepted one's entry carries its dedup key. The
 * payload field reader (dispatch_field_*) on the same bytes: a value it finds lies inside
 * them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "entry.pb-c.h"
#include "entry_key.h"
#include "frame.h"
#include "registry.h"
#include "vault.h"
#include "wirecheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vault *v;
static struct registry reg;
static char dir[] = "/tmp/evident-fuzz-dispatch-XXXXXX";

static void cleanup(void)
{
	char cmd[128];
	vault_close(v);
	registry_deinit(&reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_dispatch: could not remove %s\n", dir);
}

static void init_once(void)
{
	static const char hex[] = "00000000000000000000000000000000"
	                          "00000000000000000000000000000001";
	Evident__V1__ModelManifest m = EVIDENT__V1__MODEL_MANIFEST__INIT;
	Evident__V1__Feature f[3] = {EVIDENT__V1__FEATURE__INIT, EVIDENT__V1__FEATURE__INIT,
	                             EVIDENT__V1__FEATURE__INIT};
	Evident__V1__Feature *fp[3] = {&f[0], &f[1], &f[2]};
	uint8_t *bytes, digest[32], leaf[32] = {0};
	size_t len;

	if (v)
		return;
	if (!mkdtemp(dir) || vault_open(dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, NULL, &v) < 0 ||
	    registry_init(&reg) < 0)
		abort();
	f[0].name = "a";
	f[1].name = "b";
	f[2].name = "c";
	m.model_id = "m";
	m.version = "1";
	m.framework = "linear-json";
	m.artifact_sha256 = (char *)hex;
	m.has_artifact_size = true;
	m.artifact_size = 1;
	m.n_features = 3;
	m.features = fp;
	if (dispatch_pack(&m.base, &bytes, &len) < 0)
		abort();
	Evident__V1__ModelManifest *copy = evident__v1__model_manifest__unpack(NULL, len, bytes);
	free(bytes);
	if (!copy || dispatch_manifest_digest(copy, digest) < 0 ||
	    registry_add(&reg, copy, 0, leaf, digest) < 0)
		abort();
	atexit(cleanup);
}

/* An accepted admin request's entry decodes to its dedup key (client, its request id). */
static void admin_entry(const Evident__V1__Frame *f)
{
	static const uint64_t seqs[] = {1, 2};
	struct peer peer = {.uid = 0, .known = true};
	char client[ENTRY_KEY_MAX], request[ENTRY_KEY_MAX];
	const char *rid;
	uint16_t type;
	uint8_t *p;
	size_t len;
	int rc;

	if (f->body_case == EVIDENT__V1__FRAME__BODY_ERASE) {
		struct dispatch_erasure what = {.entries = 1, .held_seqs = seqs, .n_held = 2};
		rc = dispatch_erasure_payload(f->erase, "fuzz", &peer, &what, &p, &len);
		type = VAULT_ENTRY_ERASURE;
		rid = f->erase->request_id;
	} else {
		bool hold = f->body_case == EVIDENT__V1__FRAME__BODY_HOLD;
		rc = dispatch_hold_payload(hold ? f->hold : NULL, hold ? NULL : f->release, "fuzz",
		                           &peer, seqs, 2, &p, &len);
		type = hold ? VAULT_ENTRY_HOLD : VAULT_ENTRY_RELEASE;
		rid = hold ? f->hold->request_id : f->release->request_id;
	}
	if (rc < 0)
		abort();
	if (entry_dedup_key(type, p, len, client, request) != 1 || strcmp(client, "fuzz") ||
	    strcmp(request, rid))
		abort();
	free(p);
}

/* Whatever dispatch_field_* find in buf lies inside it. */
static void fields(const uint8_t *buf, size_t len)
{
	for (unsigned field = 1; field <= 16; field++) {
		const uint8_t *b;
		size_t bl;
		uint64_t u;
		if (dispatch_field_bytes(buf, len, field, &b, &bl) == 1 &&
		    (b < buf || bl > len || (size_t)(b - buf) > len - bl))
			abort();
		(void)dispatch_field_u64(buf, len, field, &u);
	}
}

static void one_frame(const uint8_t *body, size_t len)
{
	struct dispatch_msg msg;
	char err[300];
	const struct model_info *mi;
	const Evident__V1__Frame *f;

	static uint8_t scratch[4096];
	struct dispatch_arena arena = {scratch, sizeof(scratch)};

	fields(body, len);
	if (dispatch_decode(body, len, &arena, &msg, err, sizeof(err)))
		return;
	f = msg.frame;
	if ((f->body_case == EVIDENT__V1__FRAME__BODY_HOLD &&
	     dispatch_check_hold(f->hold, err, sizeof(err)) == 0) ||
	    (f->body_case == EVIDENT__V1__FRAME__BODY_RELEASE &&
	     dispatch_check_release(f->release, err, sizeof(err)) == 0) ||
	    (f->body_case == EVIDENT__V1__FRAME__BODY_ERASE &&
	     dispatch_check_erase(f->erase, err, sizeof(err)) == 0)) {
		admin_entry(f);
	} else if (f->body_case == EVIDENT__V1__FRAME__BODY_HELLO) {
		(void)dispatch_check_hello(f->hello, err, sizeof(err));
	} else if (f->body_case == EVIDENT__V1__FRAME__BODY_REGISTER_MODEL &&
	           f->register_model->manifest) {
		uint8_t d[32];
		if (dispatch_check_manifest(f->register_model->manifest, err, sizeof(err)) == 0 &&
		    dispatch_manifest_digest(f->register_model->manifest, d) < 0)
			abort();
	} else if (f->body_case == EVIDENT__V1__FRAME__BODY_RECORD &&
	           dispatch_check_record(f->record, &reg, &mi, err, sizeof(err)) == 0) {
		struct peer peer = {.uid = 1, .gid = 2, .pid = 3, .known = true};
		uint8_t *payload;
		size_t plen;
		if (dispatch_record_payload(body, len, f->record, "fuzz", &peer, 1, &payload,
		                            &plen) < 0)
			abort();
		/* decoding refused every string with a NUL byte or invalid UTF-8: what the vault
		 * would store has none, at any depth */
		if (wire_check_strings(&evident__entry__v1__record_entry__descriptor, payload, plen,
		                       NULL, 0) < 0)
			abort();
		/* what is stored must decode back to the same record */
		struct vault_entry_in in = {.type = VAULT_ENTRY_RECORD,
		                            .payload = payload,
		                            .payload_len = plen,
		                            .dedup_client = "fuzz",
		                            .dedup_request = f->record->request_id};
		struct vault_append_result res;
		if (vault_append(v, &in, 1, &res) < 0)
			abort();
		free(payload);
	}
	dispatch_msg_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader r;
	const uint8_t *body;
	size_t len;

	init_once();
	if (frame_reader_init(&r, 64 * 1024) < 0)
		abort();
	if (frame_reader_feed(&r, data, size) == 0)
		while (frame_reader_next(&r, &body, &len) == 1)
			one_frame(body, len);
	frame_reader_deinit(&r);
	return 0;
}
