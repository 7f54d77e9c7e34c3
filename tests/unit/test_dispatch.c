/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for daemon/dispatch.c: bounded decoding, Hello/manifest/record checks, canonical
 * manifests, record payloads that keep the bytes as received, and reply frames; the string check
 * on the wire (proto/wirecheck.c) through dispatch_decode and on its own; data subjects and the
 * admin messages (Hold, Release, Erase), their entry payloads and dedup keys; fields read from
 * payloads without decoding them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "entry.pb-c.h"
#include "entry_key.h"
#include "frame.h"
#include "registry.h"
#include "testutil.h"
#include "wirecheck.h"

#define E(x) EVIDENT__V1__ERROR__CODE__##x

static const char art_hex[] = "0000000000000000000000000000000000000000000000000000000000000001";

/* A valid manifest with n features; strings are static. */
static void make_manifest(Evident__V1__ModelManifest *m, Evident__V1__Feature *fs,
                          Evident__V1__Feature **fps, size_t n)
{
	static char names[8][24];
	evident__v1__model_manifest__init(m);
	m->model_id = "credit";
	m->version = "1.0";
	m->framework = "linear-json";
	m->output_space = "probability";
	m->artifact_sha256 = (char *)art_hex;
	m->has_artifact_size = true;
	m->artifact_size = 10;
	for (size_t i = 0; i < n; i++) {
		evident__v1__feature__init(&fs[i]);
		snprintf(names[i], sizeof(names[i]), "f%zu", i);
		fs[i].name = names[i];
		fps[i] = &fs[i];
	}
	m->n_features = n;
	m->features = fps;
}

static struct registry reg;

static void reg_setup(void)
{
	Evident__V1__ModelManifest m;
	Evident__V1__Feature fs[3], *fps[3];
	uint8_t *bytes, digest[32], leaf[32] = {0};
	size_t len;

	ck_assert_int_eq(registry_init(&reg), 0);
	make_manifest(&m, fs, fps, 3);
	ck_assert_int_eq(dispatch_pack(&m.base, &bytes, &len), 0);
	Evident__V1__ModelManifest *copy = evident__v1__model_manifest__unpack(NULL, len, bytes);
	free(bytes);
	ck_assert_int_eq(dispatch_manifest_digest(copy, digest), 0);
	ck_assert_int_eq(registry_add(&reg, copy, 7, leaf, digest), 0);
}

static void reg_teardown(void)
{
	registry_deinit(&reg);
}

/* ------------------------------------------------------------------ decode */

START_TEST(dispatch_decode_bounds_and_unknown_bodies)
{
	struct dispatch_msg m;
	char err[200];
	uint8_t unknown[] = {0x7a, 0x02, 0x08, 0x01}; /* field 15: not in Frame */
	uint8_t garbage[] = {0xff, 0xff, 0xff};
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__Hello h = EVIDENT__V1__HELLO__INIT;
	uint8_t *bytes;
	size_t len;

	ck_assert_int_eq(dispatch_decode(unknown, sizeof(unknown), NULL, &m, err, sizeof(err)),
	                 E(BAD_MESSAGE));
	ck_assert(strstr(err, "unknown or missing") != NULL);
	ck_assert_int_eq(dispatch_decode(garbage, sizeof(garbage), NULL, &m, err, sizeof(err)),
	                 E(BAD_MESSAGE));
	ck_assert_int_eq(dispatch_decode(NULL, 0, NULL, &m, err, sizeof(err)), E(BAD_MESSAGE));
	h.client_name = "c";
	f.body_case = EVIDENT__V1__FRAME__BODY_HELLO;
	f.hello = &h;
	ck_assert_int_eq(dispatch_pack(&f.base, &bytes, &len), 0);
	ck_assert_int_eq(dispatch_decode(bytes, len, NULL, &m, err, sizeof(err)), 0);
	ck_assert_str_eq(m.frame->hello->client_name, "c");
	ck_assert_uint_gt(m.used, 0);
	dispatch_msg_free(&m);
	/* the same through a small arena: what does not fit comes from malloc */
	uint8_t scratch[64];
	struct dispatch_arena arena = {scratch, sizeof(scratch)};
	ck_assert_int_eq(dispatch_decode(bytes, len, &arena, &m, err, sizeof(err)), 0);
	ck_assert_str_eq(m.frame->hello->client_name, "c");
	ck_assert_uint_gt(m.arena_off, 0);
	dispatch_msg_free(&m);
	free(bytes);

	/* a record claiming 100k packed doubles in a 40-byte frame cannot allocate them */
	uint8_t lie[] = {0x2a, 0x06, 0x2a, 0x84, 0xb5, 0x18, 0x00, 0x00};
	ck_assert_int_eq(dispatch_decode(lie, sizeof(lie), NULL, &m, err, sizeof(err)),
	                 E(BAD_MESSAGE));
}
END_TEST

/* Packs f, then overwrites the first occurrence of marker with repl (as many bytes): the way to
 * put bytes protobuf-c cannot pack (a NUL inside a string) into a frame. */
static uint8_t *pack_patched(const Evident__V1__Frame *f, size_t *ret_len, const char *marker,
                             const char *repl)
{
	uint8_t *bytes;
	size_t n = strlen(marker);

	ck_assert_int_eq(dispatch_pack(&f->base, &bytes, ret_len), 0);
	uint8_t *at = memmem(bytes, *ret_len, marker, n);
	ck_assert_ptr_nonnull(at);
	memcpy(at, repl, n);
	return bytes;
}

/* Decodes bytes and expects BAD_MESSAGE with exactly this reason (want NULL: success). */
static void expect_decode(uint8_t *bytes, size_t len, const char *want)
{
	struct dispatch_msg m;
	char err[200] = "";
	dispatch_code rc = dispatch_decode(bytes, len, NULL, &m, err, sizeof(err));

	if (!want) {
		ck_assert_msg(rc == 0, "refused: %s", err);
		dispatch_msg_free(&m);
	} else {
		ck_assert_int_eq(rc, E(BAD_MESSAGE));
		ck_assert_str_eq(err, want);
		ck_assert_ptr_null(m.frame);
	}
	free(bytes);
}

/* expect_decode() of f packed and patched (marker replaced by repl). */
static void expect_patched(const Evident__V1__Frame *f, const char *marker, const char *repl,
                           const char *want)
{
	size_t len;
	uint8_t *bytes = pack_patched(f, &len, marker, repl);

	expect_decode(bytes, len, want);
}

/* A record frame whose strings are all ASCII placeholders of the lengths the tests patch. */
static void record_frame(Evident__V1__Frame *f, Evident__V1__Record *r,
                         Evident__V1__Record__LabelsEntry *lab,
                         Evident__V1__Record__LabelsEntry **labp)
{
	static double feats[3] = {1, 2, 3}, scores[1] = {0.5};

	evident__v1__record__init(r);
	r->model_id = "credit";
	r->model_version = "1.0";
	r->request_id = "xQone";
	r->n_features = 3;
	r->features = feats;
	r->n_scores = 1;
	r->scores = scores;
	r->decision = "approve";
	for (int i = 0; i < 2; i++) {
		evident__v1__record__labels_entry__init(&lab[i]);
		labp[i] = &lab[i];
	}
	lab[0].key = "desk";
	lab[0].value = "eu";
	lab[1].key = "note";
	lab[1].value = "ab####";
	r->n_labels = 2;
	r->labels = labp;
	evident__v1__frame__init(f);
	f->body_case = EVIDENT__V1__FRAME__BODY_RECORD;
	f->record = r;
}

START_TEST(dispatch_decode_checks_strings_as_bytes)
{
	Evident__V1__Frame f;
	Evident__V1__Record r;
	Evident__V1__Record__LabelsEntry lab[2], *labp[2];
	size_t len;

	/* issue 11 item 4: "x\0one" and "x\0two" both read as "x" and collapsed into one record;
	 * each is refused now, naming the field and where the NUL is */
	record_frame(&f, &r, lab, labp);
	expect_patched(&f, "xQone", "x\0one", "record.request_id: NUL byte at offset 1");
	expect_patched(&f, "xQone", "x\0two", "record.request_id: NUL byte at offset 1");
	expect_patched(&f, "xQone", "xone\0", "record.request_id: NUL byte at offset 4");
	/* model_id "m\0junk" was accepted as "m" */
	r.model_id = "mQjunk";
	expect_patched(&f, "mQjunk", "m\0junk", "record.model_id: NUL byte at offset 1");
	r.model_id = "credit";
	/* map entries are messages: their strings are checked too, with the entry's index */
	expect_patched(&f, "ab####", "ab\xc0\xaf##",
	               "record.labels[1].value: invalid UTF-8 at offset 2");
	expect_patched(&f, "desk",
	               "d\xff"
	               "sk",
	               "record.labels[0].key: invalid UTF-8 at offset 1");

	/* invalid UTF-8: overlong forms, surrogates, above U+10FFFF, cut sequences, stray
	 * continuation bytes, bytes never used */
	static const char *const invalid[] = {
	    "ab\xc0\x80##",    "ab\xc1\xbf##",       "ab\xe0\x9f\xbf#",    "ab\xf0\x8f\xbf\xbf",
	    "ab\xed\xa0\x80#", "ab\xed\xbf\xbf#",    "ab\xf4\x90\x80\x80", "ab\xf5\x80\x80\x80",
	    "ab\xe2\x82##",    "ab\xe2\x82\xac\x80", "ab\x80###",          "ab\xfe###",
	    "ab\xf0\x9f\x98#",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		char want[64];
		size_t off = strcmp(invalid[i], "ab\xe2\x82\xac\x80") == 0 ? 5 : 2;
		snprintf(want, sizeof(want), "record.labels[1].value: invalid UTF-8 at offset %zu",
		         off);
		expect_patched(&f, "ab####", invalid[i], want);
	}
	/* valid: 2-, 3- and 4-byte forms and the edges of each range */
	static const char *const valid[] = {
	    "caf\xc3\xa9#",
	    "\xc2\x80\xdf\xbf##",
	    "\xe0\xa0\x80\xed\x9f\xbf",
	    "\xee\x80\x80\xef\xbf\xbf",
	    "ab\xf0\x90\x80\x80",
	    "ab\xf4\x8f\xbf\xbf",
	    "\xf0\x9f\x98\x80##",
	    "a\x01\x7f###",
	};
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		expect_patched(&f, "ab####", valid[i], NULL);

	/* a singular field sent twice: protobuf keeps the last, the check sees both */
	{
		uint8_t *a = pack_patched(&f, &len, "xQone", "x\0one"), *b;
		size_t blen;
		ck_assert_int_eq(dispatch_pack(&f.base, &b, &blen), 0);
		uint8_t *both = malloc(len + blen);
		memcpy(both, a, len);
		memcpy(both + len, b, blen);
		free(a);
		free(b);
		expect_decode(both, len + blen, "record.request_id: NUL byte at offset 1");
	}

	/* Hello: a client name with NUL and control bytes was checked as its prefix */
	Evident__V1__Hello h = EVIDENT__V1__HELLO__INIT;
	h.has_protocol_version = true;
	h.protocol_version = 1;
	h.client_name = "svcQQb";
	evident__v1__frame__init(&f);
	f.body_case = EVIDENT__V1__FRAME__BODY_HELLO;
	f.hello = &h;
	expect_patched(&f, "svcQQb",
	               "svc\0\x01"
	               "b",
	               "hello.client_name: NUL byte at offset 3");

	/* a manifest's nested strings, by their path */
	Evident__V1__ModelManifest mf;
	Evident__V1__Feature fs[5], *fps[5];
	Evident__V1__RegisterModel rm = EVIDENT__V1__REGISTER_MODEL__INIT;
	make_manifest(&mf, fs, fps, 5);
	fs[3].name = "fea#ure3";
	rm.manifest = &mf;
	evident__v1__frame__init(&f);
	f.body_case = EVIDENT__V1__FRAME__BODY_REGISTER_MODEL;
	f.register_model = &rm;
	expect_patched(&f, "fea#ure3",
	               "fea\xed\xa0\x80"
	               "e3",
	               "register_model.manifest.features[3].name: invalid UTF-8 at offset 3");
	Evident__V1__Lineage lin = EVIDENT__V1__LINEAGE__INIT;
	Evident__V1__Lineage__HyperparametersEntry hp =
	    EVIDENT__V1__LINEAGE__HYPERPARAMETERS_ENTRY__INIT;
	Evident__V1__Lineage__HyperparametersEntry *hpp = &hp;
	hp.key = "eta";
	hp.value = "0.1";
	lin.n_hyperparameters = 1;
	lin.hyperparameters = &hpp;
	mf.lineage = &lin;
	expect_patched(&f, "0.1",
	               "0\0"
	               "1",
	               "register_model.manifest.lineage.hyperparameters[0].value: NUL byte at "
	               "offset 1");

	/* a review's note; an artifact chunk's data is bytes: NUL and anything else are fine */
	Evident__V1__Review rv = EVIDENT__V1__REVIEW__INIT;
	rv.note = "fine ok";
	evident__v1__frame__init(&f);
	f.body_case = EVIDENT__V1__FRAME__BODY_REVIEW;
	f.review = &rv;
	expect_patched(&f, "fine ok", "fine\0ok", "review.note: NUL byte at offset 4");
	Evident__V1__ArtifactChunk ch = EVIDENT__V1__ARTIFACT_CHUNK__INIT;
	ch.model_id = "credit";
	ch.version = "1.0";
	ch.has_data = true;
	ch.data.data = (uint8_t *)"\0\xff\xc0\x80";
	ch.data.len = 4;
	evident__v1__frame__init(&f);
	f.body_case = EVIDENT__V1__FRAME__BODY_ARTIFACT_CHUNK;
	f.artifact_chunk = &ch;
	expect_patched(&f, "credit", "credit", NULL);
}
END_TEST

START_TEST(wire_text_check_offsets)
{
	bool nul;

	ck_assert_uint_eq(wire_text_check((const uint8_t *)"", 0, &nul), 0);
	ck_assert_uint_eq(wire_text_check((const uint8_t *)"abc", 3, &nul), 3);
	ck_assert_uint_eq(wire_text_check((const uint8_t *)"ab\0c", 4, &nul), 2);
	ck_assert(nul);
	ck_assert_uint_eq(wire_text_check((const uint8_t *)"\xe2\x82\xac\xe2\x82", 5, &nul), 3);
	ck_assert(!nul);
	ck_assert_uint_eq(wire_text_check((const uint8_t *)"\xf4\x8f\xbf\xbf", 4, NULL), 4);
	ck_assert_uint_eq(wire_text_check((const uint8_t *)"\xf4\x8f\xbf\xbf", 3, NULL), 0);
}
END_TEST

START_TEST(wire_check_strings_malformed)
{
	char err[200];
	/* a string whose length runs past the end; a group; field number 0 */
	static const uint8_t past[] = {0x2a, 0x03, 0x1a, 0x09, 'a'};
	static const uint8_t group[] = {0x2b, 0x2c};
	static const uint8_t zero[] = {0x02, 0x00};

	ck_assert_int_eq(wire_check_strings(&evident__v1__frame__descriptor, past, sizeof(past),
	                                    err, sizeof(err)),
	                 -EBADMSG);
	ck_assert_str_eq(err, "record: a length-delimited field that runs past the end at byte 0");
	ck_assert_int_eq(wire_check_strings(&evident__v1__frame__descriptor, group, sizeof(group),
	                                    err, sizeof(err)),
	                 -EBADMSG);
	ck_assert_int_eq(wire_check_strings(&evident__v1__frame__descriptor, zero, sizeof(zero),
	                                    err, sizeof(err)),
	                 -EBADMSG);
	/* a tiny buffer gets a cut, terminated message */
	static const uint8_t nul[] = {0x2a, 0x04, 0x1a, 0x02, 'x', 0};
	char tiny[8];
	ck_assert_int_eq(wire_check_strings(&evident__v1__frame__descriptor, nul, sizeof(nul), tiny,
	                                    sizeof(tiny)),
	                 -EILSEQ);
	ck_assert_str_eq(tiny, "record.");
}
END_TEST

/* ------------------------------------------------------------------ checks */

START_TEST(dispatch_check_hello_versions_and_names)
{
	Evident__V1__Hello h = EVIDENT__V1__HELLO__INIT;
	char err[200];

	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), E(BAD_PROTOCOL_VERSION));
	h.has_protocol_version = true;
	h.protocol_version = 2;
	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), E(BAD_PROTOCOL_VERSION));
	h.protocol_version = 1;
	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), E(BAD_MESSAGE));
	h.client_name = "has space";
	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), E(BAD_MESSAGE));
	h.client_name = "@models";
	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), E(BAD_MESSAGE));
	/* printable ASCII exactly: no control bytes, DEL or anything beyond ASCII */
	h.client_name = "svc\x01b";
	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), E(BAD_MESSAGE));
	h.client_name = "svc\x7f";
	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), E(BAD_MESSAGE));
	h.client_name = "caf\xc3\xa9";
	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), E(BAD_MESSAGE));
	h.client_name = "pricing-svc/1";
	ck_assert_int_eq(dispatch_check_hello(&h, err, sizeof(err)), 0);
}
END_TEST

START_TEST(dispatch_check_manifest_rules)
{
	Evident__V1__ModelManifest m;
	Evident__V1__Feature fs[3], *fps[3];
	char err[300];

	make_manifest(&m, fs, fps, 3);
	ck_assert_msg(dispatch_check_manifest(&m, err, sizeof(err)) == 0, "%s", err);
#define BAD(stmt, undo, what)                                                                    \
	do {                                                                                     \
		stmt;                                                                            \
		ck_assert_int_eq(dispatch_check_manifest(&m, err, sizeof(err)), E(BAD_MESSAGE)); \
		ck_assert_msg(strstr(err, what) != NULL, "%s", err);                             \
		undo;                                                                            \
	} while (0)
	BAD(m.model_id = "a@b", m.model_id = "credit", "model_id");
	BAD(m.version = "", m.version = "1.0", "version");
	BAD(m.framework = "tensorflow", m.framework = "linear-json", "framework");
	BAD(m.output_space = "logits", m.output_space = "margin", "output_space");
	BAD(fs[2].name = "f0", fs[2].name = "f2", "repeats");
	BAD((fs[1].has_min = fs[1].has_max = true, fs[1].min = 2, fs[1].max = 1),
	    (fs[1].has_min = fs[1].has_max = false), "min <= max");
	BAD(m.artifact_sha256 = "ABC", m.artifact_sha256 = (char *)art_hex, "artifact_sha256");
	BAD(m.artifact_size = 0, m.artifact_size = 10, "artifact_size");
	BAD(m.reference_data_sha256 = (char *)art_hex, m.reference_data_sha256 = NULL,
	    "reference_data_size");
	BAD(m.n_features = 0, m.n_features = 3, "features");
#undef BAD
}
END_TEST

START_TEST(dispatch_manifest_canonical_ignores_map_order)
{
	Evident__V1__ModelManifest m;
	Evident__V1__Feature fs[2], *fps[2];
	Evident__V1__Lineage lin = EVIDENT__V1__LINEAGE__INIT;
	Evident__V1__Lineage__HyperparametersEntry
	    a = EVIDENT__V1__LINEAGE__HYPERPARAMETERS_ENTRY__INIT,
	    b = EVIDENT__V1__LINEAGE__HYPERPARAMETERS_ENTRY__INIT;
	Evident__V1__Lineage__HyperparametersEntry *ab[2] = {&a, &b}, *ba[2] = {&b, &a};
	uint8_t d1[32], d2[32], d3[32];

	make_manifest(&m, fs, fps, 2);
	a.key = "eta";
	a.value = "0.1";
	b.key = "depth";
	b.value = "6";
	lin.n_hyperparameters = 2;
	m.lineage = &lin;
	lin.hyperparameters = ab;
	ck_assert_int_eq(dispatch_manifest_digest(&m, d1), 0);
	lin.hyperparameters = ba;
	ck_assert_int_eq(dispatch_manifest_digest(&m, d2), 0);
	ck_assert_mem_eq(d1, d2, 32);
	b.value = "7";
	ck_assert_int_eq(dispatch_manifest_digest(&m, d3), 0);
	ck_assert(memcmp(d1, d3, 32) != 0);
}
END_TEST

START_TEST(dispatch_check_record_rules)
{
	Evident__V1__Record r = EVIDENT__V1__RECORD__INIT;
	const struct model_info *mi;
	double feats[3] = {1, NAN, 3}, scores[2] = {0.5, 0.5};
	char err[300];

	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	r.request_id = "r1";
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	r.model_id = "credit";
	r.model_version = "2.0";
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(UNKNOWN_MODEL));
	r.model_version = "1.0";
	r.n_features = 2;
	r.features = feats;
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)),
	                 E(SCHEMA_MISMATCH));
	ck_assert(strstr(err, "2 features") && strstr(err, "has 3"));
	r.n_features = 3;
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert(strstr(err, "scores") != NULL); /* NaN feature fine, no scores not */
	r.n_scores = 1;
	r.scores = scores;
	ck_assert_msg(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(mi->seq, 7);
	scores[0] = NAN;
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	scores[0] = 0.5;
	feats[1] = INFINITY;
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert(strstr(err, "f1") != NULL);
	feats[1] = NAN;
	char longdec[300];
	memset(longdec, 'd', sizeof(longdec) - 1);
	longdec[sizeof(longdec) - 1] = 0;
	r.decision = longdec;
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
}
END_TEST

START_TEST(dispatch_check_subject_rules)
{
	Evident__V1__Record r = EVIDENT__V1__RECORD__INIT;
	const struct model_info *mi;
	double feats[3] = {1, 2, 3}, scores[1] = {0.5};
	char err[300], big[DISPATCH_SUBJECT_MAX + 2];

	r.request_id = "r1";
	r.model_id = "credit";
	r.model_version = "1.0";
	r.n_features = 3;
	r.features = feats;
	r.n_scores = 1;
	r.scores = scores;
	r.subject = "s-42";
	ck_assert_msg(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)) == 0, "%s", err);
	r.subject = "Ã©lise-\xe2\x82\xac"; /* any UTF-8 without control characters */
	ck_assert_msg(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)) == 0, "%s", err);
	memset(big, 's', sizeof(big) - 1);
	big[DISPATCH_SUBJECT_MAX] = '\0';
	r.subject = big; /* 128 bytes: the most */
	ck_assert_msg(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)) == 0, "%s", err);
	big[DISPATCH_SUBJECT_MAX] = 's';
	big[DISPATCH_SUBJECT_MAX + 1] = '\0';
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "record.subject is 129 bytes, over 128");
	r.subject = "";
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "record.subject is required (1-128 bytes)");
	r.subject = "a\nb";
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "record.subject: control character 0x0a at offset 1");
	r.subject = "ab\x7f";
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "record.subject: control character 0x7f at offset 2");
	r.subject = "x\xc2\x85y"; /* U+0085, a C1 control */
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "record.subject: control character 0x85 at offset 1");
	r.subject = "ok\xff"; /* not UTF-8 (a message built without dispatch_decode) */
	ck_assert_int_eq(dispatch_check_record(&r, &reg, &mi, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "record.subject: invalid UTF-8 at offset 2");
	ck_assert_int_eq(dispatch_check_subject("erase.subject", "\t", err, sizeof(err)),
	                 E(BAD_MESSAGE));
	ck_assert_str_eq(err, "erase.subject: control character 0x09 at offset 0");
}
END_TEST

/* ------------------------------------------------------------------ admin messages */

START_TEST(dispatch_check_admin_messages)
{
	Evident__V1__Hold h = EVIDENT__V1__HOLD__INIT;
	Evident__V1__Release rl = EVIDENT__V1__RELEASE__INIT;
	Evident__V1__Erase e = EVIDENT__V1__ERASE__INIT;
	char err[300], big[DISPATCH_REASON_MAX + 2];

	ck_assert_int_eq(dispatch_check_hold(&h, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "hold.request_id is required (1-256 bytes)");
	h.request_id = "h1";
	ck_assert_int_eq(dispatch_check_hold(&h, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "hold.hold_id is required (1-128 bytes)");
	h.hold_id = "case\n1";
	ck_assert_int_eq(dispatch_check_hold(&h, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "hold.hold_id: control character 0x0a at offset 4");
	h.hold_id = "case-1138";
	ck_assert_int_eq(dispatch_check_hold(&h, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert(strstr(err, "exactly one of seq") != NULL);
	h.has_seq = h.has_incident_id = true; /* both: which one? */
	ck_assert_int_eq(dispatch_check_hold(&h, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert(strstr(err, "exactly one of seq") != NULL);
	h.has_incident_id = false;
	h.seq = 0; /* entry 0 is an entry like any other */
	ck_assert_int_eq(dispatch_check_hold(&h, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "hold.reason is required (1-1024 bytes)");
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	h.reason = big;
	ck_assert_int_eq(dispatch_check_hold(&h, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "hold.reason is 1025 bytes, over 1024");
	h.reason = "litigation Doe v. Bank,\ncase 24-1138"; /* a reason may span lines */
	ck_assert_int_eq(dispatch_check_hold(&h, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "hold.holder is required (1-256 bytes)");
	h.holder = "legal@bank.example";
	ck_assert_msg(dispatch_check_hold(&h, err, sizeof(err)) == 0, "%s", err);

	ck_assert_int_eq(dispatch_check_release(&rl, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "release.request_id is required (1-256 bytes)");
	rl.request_id = "r1";
	rl.hold_id = "case-1138";
	rl.reason = "settled";
	ck_assert_int_eq(dispatch_check_release(&rl, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "release.holder is required (1-256 bytes)");
	rl.holder = "legal\x01";
	ck_assert_int_eq(dispatch_check_release(&rl, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "release.holder: control character 0x01 at offset 5");
	rl.holder = "legal@bank.example";
	ck_assert_msg(dispatch_check_release(&rl, err, sizeof(err)) == 0, "%s", err);

	e.request_id = "e1";
	ck_assert_int_eq(dispatch_check_erase(&e, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "erase.subject is required (1-128 bytes)");
	e.subject = "s-42";
	e.reason = "GDPR Art. 17 request of 2026-12-01";
	ck_assert_int_eq(dispatch_check_erase(&e, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "erase.requested_by is required (1-256 bytes)");
	e.requested_by = "dpo@bank.example";
	ck_assert_msg(dispatch_check_erase(&e, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(dispatch_decode_admin_frames)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__Erase e = EVIDENT__V1__ERASE__INIT;
	struct dispatch_msg m;
	uint8_t *bytes;
	size_t len;
	char err[300];

	e.request_id = "e1";
	e.subject = "s-XX";
	e.reason = "r";
	e.requested_by = "dpo";
	f.body_case = EVIDENT__V1__FRAME__BODY_ERASE;
	f.erase = &e;
	ck_assert_int_eq(dispatch_pack(&f.base, &bytes, &len), 0);
	ck_assert_int_eq(dispatch_decode(bytes, len, NULL, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.frame->body_case, EVIDENT__V1__FRAME__BODY_ERASE);
	ck_assert_str_eq(m.frame->erase->subject, "s-XX");
	dispatch_msg_free(&m);
	/* a NUL inside the subject is found on the wire, naming the field */
	uint8_t *at = memmem(bytes, len, "s-XX", 4);
	ck_assert_ptr_nonnull(at);
	at[2] = '\0';
	ck_assert_int_eq(dispatch_decode(bytes, len, NULL, &m, err, sizeof(err)), E(BAD_MESSAGE));
	ck_assert_str_eq(err, "erase.subject: NUL byte at offset 2");
	free(bytes);
}
END_TEST

START_TEST(dispatch_admin_payloads_carry_their_dedup_keys)
{
	Evident__V1__Hold h = EVIDENT__V1__HOLD__INIT;
	Evident__V1__Release rl = EVIDENT__V1__RELEASE__INIT;
	Evident__V1__Erase e = EVIDENT__V1__ERASE__INIT;
	struct peer peer = {.uid = 0, .known = true};
	uint64_t seqs[] = {10, 12, 15}, held[] = {15};
	const char *blocking[] = {"case-1138"};
	char client[ENTRY_KEY_MAX], request[ENTRY_KEY_MAX];
	uint8_t *p;
	size_t len;

	h.request_id = "h1";
	h.hold_id = "case-1138";
	h.has_incident_id = true;
	h.incident_id = 12;
	h.reason = "litigation";
	h.holder = "legal";
	ck_assert_int_eq(dispatch_hold_payload(&h, NULL, "dpo-tool", &peer, seqs, 3, &p, &len), 0);
	Evident__Entry__V1__HoldEntry *he = evident__entry__v1__hold_entry__unpack(NULL, len, p);
	ck_assert_ptr_nonnull(he);
	ck_assert_str_eq(he->client_name, "dpo-tool");
	ck_assert(he->has_peer_uid && he->peer_uid == 0);
	ck_assert_str_eq(he->hold->hold_id, "case-1138");
	ck_assert_ptr_null(he->release);
	ck_assert_uint_eq(he->n_seqs, 3);
	ck_assert_uint_eq(he->seqs[2], 15);
	evident__entry__v1__hold_entry__free_unpacked(he, NULL);
	ck_assert_int_eq(entry_dedup_key(VAULT_ENTRY_HOLD, p, len, client, request), 1);
	ck_assert_str_eq(client, "dpo-tool");
	ck_assert_str_eq(request, "h1");
	free(p);

	rl.request_id = "r1";
	rl.hold_id = "case-1138";
	ck_assert_int_eq(dispatch_hold_payload(NULL, &rl, "dpo-tool", &peer, seqs, 1, &p, &len), 0);
	ck_assert_int_eq(entry_dedup_key(VAULT_ENTRY_RELEASE, p, len, client, request), 1);
	ck_assert_str_eq(request, "r1");
	/* the same bytes read as a hold entry carry no hold: no key */
	ck_assert_int_eq(entry_dedup_key(VAULT_ENTRY_HOLD, p, len, client, request), -EBADMSG);
	free(p);

	e.request_id = "e1";
	e.subject = "s-42";
	struct dispatch_erasure what = {.entries = 5,
	                                .pruned = 3,
	                                .already_pruned = 1,
	                                .held_seqs = held,
	                                .n_held = 1,
	                                .blocking = blocking,
	                                .n_blocking = 1};
	ck_assert_int_eq(dispatch_erasure_payload(&e, "dpo-tool", &peer, &what, &p, &len), 0);
	Evident__Entry__V1__ErasureEntry *ee =
	    evident__entry__v1__erasure_entry__unpack(NULL, len, p);
	ck_assert_ptr_nonnull(ee);
	ck_assert_uint_eq(ee->entries, 5);
	ck_assert_uint_eq(ee->pruned, 3);
	ck_assert_uint_eq(ee->already_pruned, 1);
	ck_assert_uint_eq(ee->n_held_seqs, 1);
	ck_assert_str_eq(ee->blocking_holds[0], "case-1138");
	ck_assert_str_eq(ee->erase->subject, "s-42");
	evident__entry__v1__erasure_entry__free_unpacked(ee, NULL);
	ck_assert_int_eq(entry_dedup_key(VAULT_ENTRY_ERASURE, p, len, client, request), 1);
	ck_assert_str_eq(request, "e1");
	free(p);
}
END_TEST

START_TEST(dispatch_field_reads_one_field)
{
	Evident__Entry__V1__AuditEntry a = EVIDENT__ENTRY__V1__AUDIT_ENTRY__INIT;
	Evident__Entry__V1__ReviewEntry rv = EVIDENT__ENTRY__V1__REVIEW_ENTRY__INIT;
	Evident__V1__Review review = EVIDENT__V1__REVIEW__INIT;
	const uint8_t *b;
	uint8_t *p;
	size_t len, bl;
	uint64_t v;

	a.has_incident_seq = a.has_record_seq = a.has_status = true;
	a.incident_seq = 300;
	a.record_seq = 1ull << 40;
	a.document = "{\"model_id\": \"credit\"}";
	ck_assert_int_eq(dispatch_pack(&a.base, &p, &len), 0);
	ck_assert_int_eq(dispatch_field_u64(p, len, 1, &v), 1);
	ck_assert_uint_eq(v, 300);
	ck_assert_int_eq(dispatch_field_u64(p, len, 2, &v), 1);
	ck_assert_uint_eq(v, 1ull << 40);
	ck_assert_int_eq(dispatch_field_bytes(p, len, 4, &b, &bl), 1);
	ck_assert_uint_eq(bl, strlen(a.document));
	ck_assert_mem_eq(b, a.document, bl);
	ck_assert_int_eq(dispatch_field_u64(p, len, 5, &v), 0);            /* absent */
	ck_assert_int_eq(dispatch_field_u64(p, len, 4, &v), -EBADMSG);     /* not a varint */
	ck_assert_int_eq(dispatch_field_u64(p, len - 1, 4, &v), -EBADMSG); /* cut short */
	free(p);
	/* nested: a review's incident */
	review.has_incident_id = true;
	review.incident_id = 77;
	rv.review = &review;
	rv.client_name = "c";
	ck_assert_int_eq(dispatch_pack(&rv.base, &p, &len), 0);
	ck_assert_int_eq(dispatch_field_bytes(p, len, 2, &b, &bl), 1);
	ck_assert_int_eq(dispatch_field_u64(b, bl, 1, &v), 1);
	ck_assert_uint_eq(v, 77);
	free(p);
	/* garbage: a varint that never ends, a length beyond the end, field number 0 */
	static const uint8_t g1[] = {0x08, 0xff, 0xff}, g2[] = {0x12, 0x05, 'a'}, g3[] = {0x00, 1};
	ck_assert_int_eq(dispatch_field_u64(g1, sizeof(g1), 1, &v), -EBADMSG);
	ck_assert_int_eq(dispatch_field_bytes(g2, sizeof(g2), 2, &b, &bl), -EBADMSG);
	ck_assert_int_eq(dispatch_field_u64(g3, sizeof(g3), 1, &v), -EBADMSG);
	ck_assert_int_eq(dispatch_field_u64(NULL, 0, 1, &v), 0);
}
END_TEST

/* ------------------------------------------------------------------ payloads and replies */

START_TEST(dispatch_record_payload_keeps_received_bytes)
{
	Evident__V1__Frame f = EVIDENT__V1__FRAME__INIT;
	Evident__V1__Record r = EVIDENT__V1__RECORD__INIT;
	double feats[3] = {1, 2, 3}, scores[1] = {0.25};
	struct peer peer = {.uid = 1000, .gid = 100, .pid = 42, .known = true};
	uint8_t *frame, *payload;
	size_t flen, plen;

	r.model_id = "credit";
	r.model_version = "1.0";
	r.request_id = "r9";
	r.n_features = 3;
	r.features = feats;
	r.n_scores = 1;
	r.scores = scores;
	f.body_case = EVIDENT__V1__FRAME__BODY_RECORD;
	f.record = &r;
	ck_assert_int_eq(dispatch_pack(&f.base, &frame, &flen), 0);
	ck_assert_int_eq(
	    dispatch_record_payload(frame, flen, &r, "svc", &peer, 123, &payload, &plen), 0);
	Evident__Entry__V1__RecordEntry *re =
	    evident__entry__v1__record_entry__unpack(NULL, plen, payload);
	ck_assert_ptr_nonnull(re);
	ck_assert_str_eq(re->client_name, "svc");
	ck_assert_int_eq(re->received_unix_ns, 123);
	ck_assert_uint_eq(re->peer_uid, 1000);
	ck_assert_str_eq(re->record->request_id, "r9");
	ck_assert_uint_eq(re->record->n_features, 3);
	/* the record's bytes are a verbatim suffix of the payload */
	size_t rlen = flen - 2; /* tag + 1-byte length */
	ck_assert_mem_eq(payload + plen - rlen, frame + 2, rlen);
	evident__entry__v1__record_entry__free_unpacked(re, NULL);
	free(payload);
	free(frame);
}
END_TEST

START_TEST(dispatch_reply_ack_and_error_decode)
{
	uint8_t *buf = NULL, leaf[32];
	size_t len = 0, cap = 0;
	uint64_t blen;

	memset(leaf, 0xab, sizeof(leaf));
	ck_assert_int_eq(dispatch_reply_ack(&buf, &len, &cap, "r1", 99, leaf, true), 0);
	ck_assert_int_eq(dispatch_reply_error(&buf, &len, &cap, E(UNKNOWN_MODEL), "no", "r2"), 0);
	int h = frame_header_decode(buf, len, 1 << 20, &blen);
	ck_assert_int_gt(h, 0);
	Evident__V1__Frame *a = evident__v1__frame__unpack(NULL, blen, buf + h);
	ck_assert_int_eq(a->body_case, EVIDENT__V1__FRAME__BODY_ACK);
	ck_assert_uint_eq(a->ack->seq, 99);
	ck_assert(a->ack->duplicate);
	ck_assert_mem_eq(a->ack->leaf_hash.data, leaf, 32);
	size_t off = (size_t)h + blen;
	h = frame_header_decode(buf + off, len - off, 1 << 20, &blen);
	Evident__V1__Frame *e = evident__v1__frame__unpack(NULL, blen, buf + off + h);
	ck_assert_int_eq(e->error->code, E(UNKNOWN_MODEL));
	ck_assert_str_eq(e->error->request_id, "r2");
	ck_assert_str_eq(dispatch_code_name(E(UNKNOWN_MODEL)), "UNKNOWN_MODEL");
	evident__v1__frame__free_unpacked(a, NULL);
	evident__v1__frame__free_unpacked(e, NULL);
	free(buf);
}
END_TEST

static Suite *dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc;

	tc = tcase_create("dispatch_decode");
	tcase_add_test(tc, dispatch_decode_bounds_and_unknown_bodies);
	tcase_add_test(tc, dispatch_decode_checks_strings_as_bytes);
	suite_add_tcase(s, tc);
	tc = tcase_create("wire_check_strings");
	tcase_add_test(tc, wire_text_check_offsets);
	tcase_add_test(tc, wire_check_strings_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_check_hello");
	tcase_add_test(tc, dispatch_check_hello_versions_and_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_check_manifest");
	tcase_add_test(tc, dispatch_check_manifest_rules);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_manifest_canonical");
	tcase_add_test(tc, dispatch_manifest_canonical_ignores_map_order);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_check_record");
	tcase_add_checked_fixture(tc, reg_setup, reg_teardown);
	tcase_add_test(tc, dispatch_check_record_rules);
	tcase_add_test(tc, dispatch_check_subject_rules);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_check_admin");
	tcase_add_test(tc, dispatch_check_admin_messages);
	tcase_add_test(tc, dispatch_decode_admin_frames);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_admin_payloads");
	tcase_add_test(tc, dispatch_admin_payloads_carry_their_dedup_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_field");
	tcase_add_test(tc, dispatch_field_reads_one_field);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_record_payload");
	tcase_add_test(tc, dispatch_record_payload_keeps_received_bytes);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch_reply_ack");
	tcase_add_test(tc, dispatch_reply_ack_and_error_decode);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(dispatch_suite());
}
