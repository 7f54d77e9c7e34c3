/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the fleet library (fleet/fleet.h): subject tokens both ways, subjects and
 * hostile subjects, message ids, and each message's round trip and every rejection with its
 * reason. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "fleet.pb-c.h"
#include "testutil.h"
#include "vault.h"

#define ORIGIN "evidentd.local/3f9a"

/* ------------------------------------------------------------------ tokens */

static void assert_token(const char *origin, const char *want)
{
	char tok[FLEET_TOKEN_MAX], back[VAULT_ORIGIN_MAX + 1];
	int n = fleet_subject_token(origin, tok, sizeof(tok));

	ck_assert_int_eq(n, (int)strlen(want));
	ck_assert_str_eq(tok, want);
	ck_assert_int_eq(fleet_subject_origin(tok, (size_t)n, back, sizeof(back)),
	                 (int)strlen(origin));
	ck_assert_str_eq(back, origin);
}

START_TEST(fleet_subject_token_escapes_and_reverses)
{
	char tok[FLEET_TOKEN_MAX], longest[VAULT_ORIGIN_MAX + 1];

	assert_token(ORIGIN, "evidentd=2Elocal=2F3f9a");
	assert_token("a_b-C9", "a_b-C9");
	assert_token("h\xc3\xa9 x=y*>", "h=C3=A9=20x=3Dy=2A=3E");
	memset(longest, '.', VAULT_ORIGIN_MAX);
	longest[VAULT_ORIGIN_MAX] = '\0';
	ck_assert_int_eq(fleet_subject_token(longest, tok, sizeof(tok)), 3 * VAULT_ORIGIN_MAX);
	ck_assert_int_eq(fleet_subject_token(longest, tok, 3 * VAULT_ORIGIN_MAX), -ENOBUFS);
	ck_assert_int_eq(fleet_subject_token("abc", tok, 3), -ENOBUFS);
	/* what is no origin */
	ck_assert_int_eq(fleet_subject_token("", tok, sizeof(tok)), -EINVAL);
	ck_assert_int_eq(fleet_subject_token(NULL, tok, sizeof(tok)), -EINVAL);
	ck_assert_int_eq(fleet_subject_token("a\nb", tok, sizeof(tok)), -EINVAL);
	ck_assert_int_eq(fleet_subject_token("a\x7f", tok, sizeof(tok)), -EINVAL);
	ck_assert_int_eq(fleet_subject_token("\xc3(", tok, sizeof(tok)), -EINVAL);
	ck_assert_int_eq(fleet_subject_token("\xed\xa0\x80", tok, sizeof(tok)), -EINVAL);
	longest[0] = 'x';
	char over[VAULT_ORIGIN_MAX + 2];
	memset(over, 'a', sizeof(over) - 1);
	over[sizeof(over) - 1] = '\0';
	ck_assert_int_eq(fleet_subject_token(over, tok, sizeof(tok)), -EINVAL);
}
END_TEST

START_TEST(fleet_subject_origin_refuses_malformed_tokens)
{
	static const char *const bad[] = {
	    "",                             /* empty */
	    "=",                            /* truncated escapes */
	    "a=2",      "=2e",              /* lowercase hex */
	    "=4A",                          /* 'J' needs no escape: not canonical */
	    "=5F",                          /* '_' likewise */
	    "=GG",      "a.b",              /* a dot is a token separator */
	    "a b",      "a*",  "a>", "=00", /* NUL */
	    "=0A",                          /* control character */
	    "=C3",                          /* a lone UTF-8 lead byte */
	    "=C0=AF",                       /* overlong */
	    "\xc3\xa9",                     /* raw non-ASCII */
	};
	char out[VAULT_ORIGIN_MAX + 1], many[4 * VAULT_ORIGIN_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(fleet_subject_origin(bad[i], strlen(bad[i]), out, sizeof(out)) ==
		                  -EINVAL,
		              "token \"%s\" accepted", bad[i]);
	/* longer than any origin */
	memset(many, 'a', VAULT_ORIGIN_MAX + 1);
	ck_assert_int_eq(fleet_subject_origin(many, VAULT_ORIGIN_MAX + 1, out, sizeof(out)),
	                 -EINVAL);
	ck_assert_int_eq(fleet_subject_origin(many, VAULT_ORIGIN_MAX, out, sizeof(out)),
	                 VAULT_ORIGIN_MAX);
	ck_assert_int_eq(fleet_subject_origin("abc", 3, out, 3), -ENOBUFS);
	/* the length given is what is read: a NUL inside it is refused */
	ck_assert_int_eq(fleet_subject_origin("ab\0c", 4, out, sizeof(out)), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ subjects */

START_TEST(fleet_subject_formats_and_parses)
{
	static const struct {
		enum fleet_kind kind;
		const char *subject;
	} cases[] = {
	    {FLEET_ENTRY, "evident.evidentd=2Elocal=2F3f9a.entry"},
	    {FLEET_BLOB, "evident.evidentd=2Elocal=2F3f9a.blob"},
	    {FLEET_CHECKPOINT, "evident.evidentd=2Elocal=2F3f9a.checkpoint"},
	    {FLEET_COSIG, "evident.evidentd=2Elocal=2F3f9a.cosig.audit=2Eexample"},
	};
	char buf[FLEET_SUBJECT_MAX], origin[VAULT_ORIGIN_MAX + 1], auditor[VAULT_ORIGIN_MAX + 1];
	enum fleet_kind kind;

	for (size_t i = 0; i < 4; i++) {
		int n = fleet_subject("evident", ORIGIN, cases[i].kind, "audit.example", buf,
		                      sizeof(buf));
		ck_assert_int_eq(n, (int)strlen(cases[i].subject));
		ck_assert_str_eq(buf, cases[i].subject);
		auditor[0] = '\0';
		ck_assert_int_eq(fleet_subject_parse("evident", buf, &kind, origin, sizeof(origin),
		                                     auditor, sizeof(auditor)),
		                 0);
		ck_assert_int_eq(kind, cases[i].kind);
		ck_assert_str_eq(origin, ORIGIN);
		if (kind == FLEET_COSIG)
			ck_assert_str_eq(auditor, "audit.example");
	}
	/* a prefix of several tokens */
	ck_assert_int_gt(fleet_subject("org.fleet-1", ORIGIN, FLEET_ENTRY, NULL, buf, sizeof(buf)),
	                 0);
	ck_assert_str_eq(buf, "org.fleet-1.evidentd=2Elocal=2F3f9a.entry");
	ck_assert_int_eq(
	    fleet_subject_parse("org.fleet-1", buf, &kind, origin, sizeof(origin), NULL, 0), 0);
	/* bad arguments */
	ck_assert_int_eq(fleet_subject("ev.*", ORIGIN, FLEET_ENTRY, NULL, buf, sizeof(buf)),
	                 -EINVAL);
	ck_assert_int_eq(fleet_subject("ev..x", ORIGIN, FLEET_ENTRY, NULL, buf, sizeof(buf)),
	                 -EINVAL);
	ck_assert_int_eq(fleet_subject(".ev", ORIGIN, FLEET_ENTRY, NULL, buf, sizeof(buf)),
	                 -EINVAL);
	ck_assert_int_eq(fleet_subject("", ORIGIN, FLEET_ENTRY, NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(fleet_subject("ev", ORIGIN, 9, NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(fleet_subject("ev", ORIGIN, FLEET_COSIG, NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(fleet_subject("ev", ORIGIN, FLEET_COSIG, "a b", buf, sizeof(buf)),
	                 -EINVAL);
	ck_assert_int_eq(fleet_subject("ev", ORIGIN, FLEET_ENTRY, NULL, buf, 10), -ENOBUFS);
}
END_TEST

START_TEST(fleet_subject_parse_refuses_hostile_subjects)
{
	static const char *const bad[] = {
	    "",
	    "evident",
	    "evident.",
	    "evident.x",
	    "evident..entry",
	    "evident.x.",
	    "evident.x.entry.",
	    "evident.x.entry.more",
	    "evident.x.ENTRY",
	    "evident.x.entries",
	    "evident.x.cosig",
	    "evident.x.cosig.",
	    "evident.x.cosig.a.b",
	    "evident.x.cosig.a=20b", /* an auditor's name has no space */
	    "evident.x.cosig.a=2Bb", /* nor '+' */
	    "evidentx.x.entry",
	    "evident2.x.entry",
	    "other.x.entry",
	    "evident.=2e.entry",
	    "evident.=41.entry",
	    "evident.=00.entry",
	    "evident.a b.entry",
	    "evident.>",
	    "evident.*.entry",
	    "EVIDENT.x.entry",
	    ".evident.x.entry",
	};
	char origin[VAULT_ORIGIN_MAX + 1], auditor[VAULT_ORIGIN_MAX + 1];
	enum fleet_kind kind = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(fleet_subject_parse("evident", bad[i], &kind, origin, sizeof(origin),
		                                  auditor, sizeof(auditor)) == -EINVAL,
		              "subject \"%s\" accepted", bad[i]);
	ck_assert_int_eq(kind, 0); /* nothing written */
	/* a cosig subject without room for the auditor */
	ck_assert_int_eq(fleet_subject_parse("evident", "evident.x.cosig.a", &kind, origin,
	                                     sizeof(origin), NULL, 0),
	                 -EINVAL);
	ck_assert_int_eq(fleet_subject_parse("evident", "evident.x.cosig.abc", &kind, origin,
	                                     sizeof(origin), auditor, 3),
	                 -ENOBUFS);
	ck_assert_int_eq(
	    fleet_subject_parse("evident", "evident.abc.entry", &kind, origin, 3, NULL, 0),
	    -ENOBUFS);
	/* longer than any subject fleet_subject writes */
	char *huge = malloc(FLEET_SUBJECT_MAX + 16);
	memset(huge, 'a', FLEET_SUBJECT_MAX + 15);
	memcpy(huge, "evident.", 8);
	strcpy(huge + FLEET_SUBJECT_MAX + 2, ".entry");
	ck_assert_int_eq(
	    fleet_subject_parse("evident", huge, &kind, origin, sizeof(origin), NULL, 0), -EINVAL);
	free(huge);
}
END_TEST

/* ------------------------------------------------------------------ message ids */

START_TEST(fleet_msg_id_formats_each_kind)
{
	uint8_t h[VAULT_HASH_LEN];
	char buf[FLEET_MSG_ID_MAX];

	for (int i = 0; i < VAULT_HASH_LEN; i++)
		h[i] = (uint8_t)(0xa0 + i);
	ck_assert_int_gt(fleet_msg_id(FLEET_ENTRY, ORIGIN, 42, h, NULL, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ORIGIN "/e/42/a0a1a2a3a4a5a6a7");
	ck_assert_int_gt(fleet_msg_id(FLEET_CHECKPOINT, ORIGIN, 1000, h, NULL, buf, sizeof(buf)),
	                 0);
	ck_assert_str_eq(buf, ORIGIN "/c/1000/a0a1a2a3a4a5a6a7");
	ck_assert_int_gt(fleet_msg_id(FLEET_BLOB, ORIGIN, 262144, h, NULL, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf,
	                 ORIGIN "/b/a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbd"
	                        "bebf/262144");
	ck_assert_int_gt(
	    fleet_msg_id(FLEET_COSIG, ORIGIN, 7, NULL, "audit.example", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ORIGIN "/s/audit.example/7");
	ck_assert_int_eq(fleet_msg_id(FLEET_ENTRY, ORIGIN, 1, NULL, NULL, buf, sizeof(buf)),
	                 -EINVAL);
	ck_assert_int_eq(fleet_msg_id(FLEET_COSIG, ORIGIN, 1, h, NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(fleet_msg_id(FLEET_ENTRY, "", 1, h, NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(fleet_msg_id(0, ORIGIN, 1, h, NULL, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(fleet_msg_id(FLEET_ENTRY, ORIGIN, 1, h, NULL, buf, 10), -ENOBUFS);
}
END_TEST

/* ------------------------------------------------------------------ entries */

/* A leaf as the vault writes it for payload, with a fixed nonce for v2. */
static void make_leaf(uint8_t version, uint64_t seq, uint16_t type, const void *payload, size_t len,
                      const uint8_t *nonce, uint8_t out[VAULT_LEAF_LEN])
{
	struct vault_leaf l = {.version = version,
	                       .seq = seq,
	                       .type = type,
	                       .timestamp_ns = 1700000000000000000ull + seq,
	                       .payload_len = len};
	ck_assert_int_eq(vault_payload_commitment(version, nonce, payload, len, l.payload_hash), 0);
	memset(l.prev_hash, 0x11, VAULT_HASH_LEN);
	vault_leaf_encode(&l, out);
}

static const uint8_t NONCE[VAULT_NONCE_LEN] = "0123456789abcdef";

/* A valid v2 entry with a payload, a subject and a blob reference. */
static void good_entry(struct fleet_entry *e, uint8_t *leaf_out, struct fleet_blob_ref *ref)
{
	static const char payload[] = "a decision";
	make_leaf(2, 5, VAULT_ENTRY_RECORD, payload, sizeof(payload) - 1, NONCE, leaf_out);
	memset(ref->hash, 0xbb, VAULT_HASH_LEN);
	ref->size = 1234;
	*e = (struct fleet_entry){.origin = ORIGIN,
	                          .nonce = NONCE,
	                          .payload = (const uint8_t *)payload,
	                          .payload_len = sizeof(payload) - 1,
	                          .subject = "alice",
	                          .blobs = ref,
	                          .n_blobs = 1,
	                          .sent_ns = 99};
	memcpy(e->leaf, leaf_out, VAULT_LEAF_LEN);
}

/* Decoding must fail with -EBADMSG and a reason holding want. */
static void assert_entry_refused(const uint8_t *buf, size_t len, const char *expect,
                                 const char *want)
{
	struct fleet_entry d;
	char reason[FLEET_REASON_MAX];
	int rc = fleet_entry_decode(buf, len, expect, &d, reason, sizeof(reason));

	ck_assert_msg(rc == -EBADMSG, "accepted (%d), wanted \"%s\"", rc, want);
	ck_assert_msg(strstr(reason, want), "reason \"%s\" lacks \"%s\"", reason, want);
}

/* Encodes a FleetEntry field by field, bypassing fleet_entry_encode's checks. */
static size_t raw_entry(const char *origin, size_t olen, const uint8_t *leaf, size_t leaf_len,
                        const uint8_t *nonce, size_t nonce_len, const void *payload, size_t plen,
                        int pruned, uint8_t *out)
{
	Evident__Fleet__FleetEntry m = EVIDENT__FLEET__FLEET_ENTRY__INIT;
	char *o = NULL;

	if (origin) {
		o = malloc(olen + 1);
		memcpy(o, origin, olen + 1);
		m.origin = o;
	}
	if (leaf) {
		m.has_leaf = true;
		m.leaf = (ProtobufCBinaryData){leaf_len, (uint8_t *)leaf};
	}
	if (nonce) {
		m.has_nonce = true;
		m.nonce = (ProtobufCBinaryData){nonce_len, (uint8_t *)nonce};
	}
	if (payload) {
		m.has_payload = true;
		m.payload = (ProtobufCBinaryData){plen, (uint8_t *)payload};
	}
	if (pruned >= 0) {
		m.has_payload_pruned = true;
		m.payload_pruned = pruned;
	}
	size_t n = evident__fleet__fleet_entry__pack(&m, out);
	free(o);
	return n;
}

START_TEST(fleet_entry_round_trips)
{
	uint8_t leaf[VAULT_LEAF_LEN], *buf, h[VAULT_HASH_LEN];
	struct fleet_blob_ref ref;
	struct fleet_entry e, d;
	char reason[FLEET_REASON_MAX];
	size_t len;

	good_entry(&e, leaf, &ref);
	ck_assert_int_eq(fleet_entry_encode(&e, &buf, &len), 0);
	ck_assert_int_eq(fleet_entry_decode(buf, len, ORIGIN, &d, reason, sizeof(reason)), 0);
	ck_assert_str_eq(d.origin, ORIGIN);
	ck_assert_mem_eq(d.leaf, leaf, VAULT_LEAF_LEN);
	ck_assert_mem_eq(d.nonce, NONCE, VAULT_NONCE_LEN);
	ck_assert_uint_eq(d.payload_len, e.payload_len);
	ck_assert_mem_eq(d.payload, e.payload, e.payload_len);
	ck_assert_str_eq(d.subject, "alice");
	ck_assert_uint_eq(d.n_blobs, 1);
	ck_assert_mem_eq(d.blobs[0].hash, ref.hash, VAULT_HASH_LEN);
	ck_assert_uint_eq(d.blobs[0].size, 1234);
	ck_assert_uint_eq(d.sent_ns, 99);
	ck_assert_uint_eq(d.decoded.seq, 5);
	ck_assert_int_eq(vault_hash_leaf(leaf, VAULT_LEAF_LEN, h), 0);
	ck_assert_mem_eq(d.leaf_hash, h, VAULT_HASH_LEN);
	fleet_entry_deinit(&d);
	fleet_entry_deinit(&d); /* twice is harmless */
	free(buf);

	/* pruned before it was sent: no payload, no nonce; v1 leaves have no nonce; an empty
	 * payload is a payload */
	e.payload = NULL;
	e.nonce = NULL;
	e.subject = NULL;
	e.n_blobs = 0;
	ck_assert_int_eq(fleet_entry_encode(&e, &buf, &len), 0);
	ck_assert_int_eq(fleet_entry_decode(buf, len, NULL, &d, reason, sizeof(reason)), 0);
	ck_assert_ptr_null(d.payload);
	ck_assert_ptr_null(d.nonce);
	ck_assert_ptr_null(d.subject);
	fleet_entry_deinit(&d);
	free(buf);
	make_leaf(1, 0, VAULT_ENTRY_MODEL, "", 0, NULL, e.leaf);
	e.payload = (const uint8_t *)"";
	e.payload_len = 0;
	ck_assert_int_eq(fleet_entry_encode(&e, &buf, &len), 0);
	ck_assert_int_eq(fleet_entry_decode(buf, len, NULL, &d, reason, sizeof(reason)), 0);
	ck_assert_ptr_nonnull(d.payload);
	ck_assert_uint_eq(d.payload_len, 0);
	fleet_entry_deinit(&d);
	free(buf);

	/* encode refuses what decode would */
	e.nonce = NONCE; /* a nonce with a v1 leaf */
	ck_assert_int_eq(fleet_entry_encode(&e, &buf, &len), -EINVAL);
	e.nonce = NULL;
	e.origin = "";
	ck_assert_int_eq(fleet_entry_encode(&e, &buf, &len), -EINVAL);
}
END_TEST

START_TEST(fleet_entry_decode_refuses_with_a_reason)
{
	uint8_t leaf[VAULT_LEAF_LEN], leaf1[VAULT_LEAF_LEN], buf[4096], *enc;
	static const char payload[] = "a decision";
	const size_t pl = sizeof(payload) - 1;
	struct fleet_blob_ref ref;
	struct fleet_entry e;
	size_t n;

	make_leaf(2, 5, VAULT_ENTRY_RECORD, payload, pl, NONCE, leaf);
	make_leaf(1, 5, VAULT_ENTRY_RECORD, payload, pl, NULL, leaf1);

	assert_entry_refused((const uint8_t *)"\xff\xff\xff", 3, NULL, "entry: ");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 12, NONCE, 16, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry: leaf is 12 bytes, not 91");
	n = raw_entry(ORIGIN, strlen(ORIGIN), NULL, 0, NULL, 0, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry: no leaf");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NONCE, 8, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: nonce is 8 bytes, not 16");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NULL, 0, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: v2 leaf with a payload but no nonce");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf1, 91, NONCE, 16, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: a nonce with a v1 leaf");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NONCE, 16, NULL, 0, 1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: a nonce without its payload");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NONCE, 16, "a decisioN", pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: payload does not match the leaf's commitment");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NONCE, 16, payload, pl - 1, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: payload is 9 bytes, the leaf says 10");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NONCE, 16, payload, pl, 1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: a payload marked pruned");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NULL, 0, NULL, 0, 0, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: no payload and not marked pruned");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NULL, 0, NULL, 0, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: no payload and not marked pruned");
	/* origins: absent, NUL inside, bad UTF-8, control characters, another subject's */
	n = raw_entry(NULL, 0, leaf, 91, NONCE, 16, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry: no origin");
	/* raw_entry packs a C string: the NUL is written in by hand */
	n = raw_entry("aXb", 3, leaf, 91, NONCE, 16, payload, pl, -1, buf);
	ck_assert_int_eq(buf[0], 0x0a);
	ck_assert_int_eq(buf[1], 3);
	buf[3] = 0;
	assert_entry_refused(buf, n, NULL, "entry: origin: NUL byte at offset 1");
	n = raw_entry("a\xc3(b", 4, leaf, 91, NONCE, 16, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry: origin: invalid UTF-8 at offset 1");
	n = raw_entry("a\tb", 3, leaf, 91, NONCE, 16, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry: origin: control character 0x09 at byte 1");
	n = raw_entry(ORIGIN, strlen(ORIGIN), leaf, 91, NONCE, 16, payload, pl, -1, buf);
	assert_entry_refused(buf, n, "other.example", "is not the subject's origin");
	/* a leaf of another version, or of type 0 */
	uint8_t bad_leaf[VAULT_LEAF_LEN];
	memcpy(bad_leaf, leaf, sizeof(bad_leaf));
	bad_leaf[0] = 3;
	n = raw_entry(ORIGIN, strlen(ORIGIN), bad_leaf, 91, NONCE, 16, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry: leaf version 3 is not 1 or 2");
	make_leaf(2, 5, 0, payload, pl, NONCE, bad_leaf);
	n = raw_entry(ORIGIN, strlen(ORIGIN), bad_leaf, 91, NONCE, 16, payload, pl, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: leaf type 0");
	/* prune entries: with their payload, naming an earlier entry */
	make_leaf(2, 5, VAULT_ENTRY_PRUNE, "x", 1, NONCE, bad_leaf);
	n = raw_entry(ORIGIN, strlen(ORIGIN), bad_leaf, 91, NULL, 0, NULL, 0, 1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: a prune entry without its payload");
	n = raw_entry(ORIGIN, strlen(ORIGIN), bad_leaf, 91, NONCE, 16, "x", 1, -1, buf);
	assert_entry_refused(buf, n, NULL, "entry 5: prune payload does not decode");
	uint8_t prune[51] = {1};
	prune[8] = 9; /* names seq 9, after its own 5 */
	make_leaf(2, 5, VAULT_ENTRY_PRUNE, prune, sizeof(prune), NONCE, bad_leaf);
	n = raw_entry(ORIGIN, strlen(ORIGIN), bad_leaf, 91, NONCE, 16, prune, sizeof(prune), -1,
	              buf);
	assert_entry_refused(buf, n, NULL, "entry 5: prunes seq 9, not an earlier one");
	prune[8] = 2;
	make_leaf(2, 5, VAULT_ENTRY_PRUNE, prune, sizeof(prune), NONCE, bad_leaf);
	n = raw_entry(ORIGIN, strlen(ORIGIN), bad_leaf, 91, NONCE, 16, prune, sizeof(prune), -1,
	              buf);
	struct fleet_entry ok;
	ck_assert_int_eq(fleet_entry_decode(buf, n, NULL, &ok, NULL, 0), 0);
	fleet_entry_deinit(&ok);

	/* subjects and blob references: encode them, then break the encoding */
	good_entry(&e, leaf, &ref);
	char subject[VAULT_SUBJECT_MAX + 2];
	memset(subject, 's', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	e.subject = subject;
	ck_assert_int_eq(fleet_entry_encode(&e, &enc, &n), -EINVAL);
	e.subject = "alice";
	ck_assert_int_eq(fleet_entry_encode(&e, &enc, &n), 0);
	/* the blob's hash is the last 32 bytes before sent_ns's 2 bytes and the size's 3 */
	uint8_t *p = memmem(enc, n, ref.hash, VAULT_HASH_LEN);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p[-1], VAULT_HASH_LEN);
	p[-1] = 31; /* the hash now 31 bytes, its last one read as the next key */
	ck_assert_int_eq(fleet_entry_decode(enc, n, NULL, &e, NULL, 0), -EBADMSG);
	free(enc);
}
END_TEST

/* ------------------------------------------------------------------ blob chunks */

START_TEST(fleet_blob_chunk_round_trips_and_checks_bounds)
{
	static uint8_t data[FLEET_BLOB_CHUNK + 1];
	struct fleet_blob_chunk c = {.origin = ORIGIN,
	                             .size = FLEET_BLOB_CHUNK + 10,
	                             .offset = FLEET_BLOB_CHUNK,
	                             .data = data,
	                             .len = 10},
	                        d;
	char reason[FLEET_REASON_MAX];
	uint8_t *buf;
	size_t len;

	memset(c.hash, 0xcc, VAULT_HASH_LEN);
	ck_assert_int_eq(fleet_blob_chunk_encode(&c, &buf, &len), 0);
	ck_assert_int_eq(fleet_blob_chunk_decode(buf, len, ORIGIN, &d, reason, sizeof(reason)), 0);
	ck_assert_uint_eq(d.size, c.size);
	ck_assert_uint_eq(d.offset, c.offset);
	ck_assert_uint_eq(d.len, 10);
	ck_assert_mem_eq(d.hash, c.hash, VAULT_HASH_LEN);
	fleet_blob_chunk_deinit(&d);
	free(buf);
	/* the first chunk is full; an empty blob is one empty chunk */
	c.offset = 0;
	c.len = FLEET_BLOB_CHUNK;
	ck_assert_int_eq(fleet_blob_chunk_encode(&c, &buf, &len), 0);
	ck_assert_int_eq(fleet_blob_chunk_decode(buf, len, NULL, &d, reason, sizeof(reason)), 0);
	fleet_blob_chunk_deinit(&d);
	free(buf);
	c.size = 0;
	c.len = 0;
	ck_assert_int_eq(fleet_blob_chunk_encode(&c, &buf, &len), 0);
	ck_assert_int_eq(fleet_blob_chunk_decode(buf, len, NULL, &d, reason, sizeof(reason)), 0);
	fleet_blob_chunk_deinit(&d);
	free(buf);

	/* every other shape is refused, by encode and by decode with its reason */
	static const struct {
		uint64_t size, offset;
		size_t len;
		const char *why;
	} bad[] = {
	    {100, 100, 0, "blob: offset 100 is not a multiple of 262144"},
	    {100, FLEET_BLOB_CHUNK, 0, "is out of bounds (size 100)"},
	    {FLEET_BLOB_CHUNK, FLEET_BLOB_CHUNK, 0, "is out of bounds"},
	    {100, 0, 99, "blob: chunk at 0 holds 99 bytes, not 100 (size 100)"},
	    {100, 0, 101, "holds 101 bytes, not 100"},
	    {FLEET_BLOB_CHUNK + 1, 0, FLEET_BLOB_CHUNK + 1, "not 262144"},
	    {FLEET_BLOB_CHUNK + 1, 0, 100, "not 262144"},
	    {FLEET_BLOB_MAX + 1, 0, FLEET_BLOB_CHUNK, "blob: size"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Evident__Fleet__FleetBlobChunk m = EVIDENT__FLEET__FLEET_BLOB_CHUNK__INIT;
		static uint8_t raw[FLEET_BLOB_CHUNK + 128];
		c = (struct fleet_blob_chunk){.origin = ORIGIN,
		                              .size = bad[i].size,
		                              .offset = bad[i].offset,
		                              .data = data,
		                              .len = bad[i].len};
		ck_assert_int_eq(fleet_blob_chunk_encode(&c, &buf, &len), -EINVAL);
		m.origin = (char *)ORIGIN;
		m.has_hash = m.has_size = m.has_offset = m.has_data = true;
		m.hash = (ProtobufCBinaryData){32, c.hash};
		m.size = bad[i].size;
		m.offset = bad[i].offset;
		m.data = (ProtobufCBinaryData){bad[i].len, data};
		len = evident__fleet__fleet_blob_chunk__pack(&m, raw);
		ck_assert_int_eq(
		    fleet_blob_chunk_decode(raw, len, NULL, &d, reason, sizeof(reason)), -EBADMSG);
		ck_assert_msg(strstr(reason, bad[i].why), "%zu: \"%s\" lacks \"%s\"", i, reason,
		              bad[i].why);
	}
	/* a short hash, another origin */
	Evident__Fleet__FleetBlobChunk m = EVIDENT__FLEET__FLEET_BLOB_CHUNK__INIT;
	uint8_t raw[256];
	m.origin = (char *)ORIGIN;
	m.has_hash = m.has_size = true;
	m.hash = (ProtobufCBinaryData){20, data};
	len = evident__fleet__fleet_blob_chunk__pack(&m, raw);
	ck_assert_int_eq(fleet_blob_chunk_decode(raw, len, NULL, &d, reason, sizeof(reason)),
	                 -EBADMSG);
	ck_assert_str_eq(reason, "blob: hash is 20 bytes, not 32");
	m.hash.len = 32;
	len = evident__fleet__fleet_blob_chunk__pack(&m, raw);
	ck_assert_int_eq(fleet_blob_chunk_decode(raw, len, "x.example", &d, reason, sizeof(reason)),
	                 -EBADMSG);
	ck_assert_str_eq(reason,
	                 "blob: origin \"" ORIGIN "\" is not the subject's origin \"x.example\"");
}
END_TEST

/* ------------------------------------------------------------------ checkpoints, cosigs */

/* A signed checkpoint of a small temporary vault with this origin. */
static char *signed_note(const char *origin, char **ret_dir)
{
	struct vault_options opts = {.origin = origin};
	struct vault_entry_in in = {.type = VAULT_ENTRY_RECORD, .payload = "x", .payload_len = 1};
	struct vault_append_result res;
	struct vault *v;
	char *note;

	*ret_dir = test_tmpdir("fleetcp");
	ck_assert_int_eq(vault_open(*ret_dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, &opts, &v), 0);
	ck_assert_int_eq(vault_append(v, &in, 1, &res), 0);
	ck_assert_int_eq(vault_checkpoint_sign(v, &note), 0);
	vault_close(v);
	return note;
}

START_TEST(fleet_checkpoint_round_trips_and_checks_the_note)
{
	char *dir, *note = signed_note(ORIGIN, &dir), reason[FLEET_REASON_MAX];
	struct fleet_checkpoint c = {.origin = ORIGIN, .note = note, .note_len = strlen(note)}, d;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(fleet_checkpoint_encode(&c, &buf, &len), 0);
	ck_assert_int_eq(fleet_checkpoint_decode(buf, len, ORIGIN, &d, reason, sizeof(reason)), 0);
	ck_assert_uint_eq(d.note_len, strlen(note));
	ck_assert_mem_eq(d.note, note, d.note_len);
	ck_assert_uint_eq(d.cp.size, 1);
	ck_assert_str_eq(d.cp.origin, ORIGIN);
	fleet_checkpoint_deinit(&d);
	free(buf);
	/* the note names another origin than the message */
	c.origin = "other.example";
	ck_assert_int_eq(fleet_checkpoint_encode(&c, &buf, &len), 0);
	ck_assert_int_eq(fleet_checkpoint_decode(buf, len, NULL, &d, reason, sizeof(reason)),
	                 -EBADMSG);
	ck_assert_str_eq(reason,
	                 "checkpoint: note's origin \"" ORIGIN "\" is not \"other.example\"");
	free(buf);
	/* not a note */
	c.origin = ORIGIN;
	c.note = "hello\n";
	c.note_len = 6;
	ck_assert_int_eq(fleet_checkpoint_encode(&c, &buf, &len), 0);
	ck_assert_int_eq(fleet_checkpoint_decode(buf, len, NULL, &d, reason, sizeof(reason)),
	                 -EBADMSG);
	ck_assert_str_eq(reason, "checkpoint: note is not a signed checkpoint");
	free(buf);
	c.note_len = 0;
	ck_assert_int_eq(fleet_checkpoint_encode(&c, &buf, &len), -EINVAL);
	ck_assert_int_eq(fleet_checkpoint_decode((const uint8_t *)"\x0a\x01x", 3, NULL, &d, reason,
	                                         sizeof(reason)),
	                 -EBADMSG);
	ck_assert_str_eq(reason, "checkpoint: no note");
	free(note);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(fleet_cosig_round_trips_and_checks_the_line)
{
	char *dir = test_tmpdir("fleetcs"), path[4096], line[VAULT_SIGLINE_MAX + 1], vkey[512];
	char reason[FLEET_REASON_MAX];
	struct vault_signer *w, *logkey;
	struct fleet_cosig c, d;
	static const char body[] = ORIGIN "\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	uint8_t *buf;
	size_t len;

	snprintf(path, sizeof(path), "%s/w.key", dir);
	ck_assert_int_eq(
	    vault_signer_load(path, true, "audit.example", VAULT_KEY_COSIGNATURE_V1, &w), 0);
	int ll = vault_signer_cosign(w, body, sizeof(body) - 1, 1700000000, line, sizeof(line));
	ck_assert_int_gt(ll, 0);
	int vl = vault_pubkey_format(vault_signer_pubkey(w), vkey, sizeof(vkey));
	ck_assert_int_gt(vl, 0);
	c = (struct fleet_cosig){.origin = ORIGIN,
	                         .size = 3,
	                         .auditor = "audit.example",
	                         .line = line,
	                         .line_len = (size_t)ll,
	                         .vkey = vkey,
	                         .vkey_len = (size_t)vl};
	ck_assert_int_eq(fleet_cosig_encode(&c, &buf, &len), 0);
	ck_assert_int_eq(fleet_cosig_decode(buf, len, ORIGIN, &d, reason, sizeof(reason)), 0);
	ck_assert_uint_eq(d.size, 3);
	ck_assert_str_eq(d.auditor, "audit.example");
	ck_assert_uint_eq(d.line_len, (size_t)ll);
	ck_assert_mem_eq(d.line, line, d.line_len);
	ck_assert_uint_eq(d.vkey_len, (size_t)vl);
	fleet_cosig_deinit(&d);
	free(buf);

	/* each broken part: encode refuses it; decode names it */
	struct {
		struct fleet_cosig c;
		const char *why;
	} bad[] = {
	    {c, "cosig: size 0"},
	    {c, "cosig: auditor: "},
	    {c, "cosig: line is not"},
	    {c, "cosig: line is not"},
	    {c, "cosig: line: byte"},
	    {c, "cosig: vkey is not a tlog-cosignature/v1 verifier key"},
	    {c, "cosig: vkey is named \"audit.example\", not \"other.example\""},
	};
	bad[0].c.size = 0;
	bad[1].c.auditor = "audit example";
	bad[2].c.line_len--; /* no newline */
	bad[3].c.auditor = "other.example";
	bad[3].c.vkey = NULL;
	char mangled[VAULT_SIGLINE_MAX + 1];
	memcpy(mangled, line, (size_t)ll);
	mangled[ll - 3] = '*';
	bad[4].c.line = mangled;
	char logvkey[512];
	snprintf(path, sizeof(path), "%s/log.key", dir);
	ck_assert_int_eq(vault_signer_load(path, true, "audit.example", VAULT_KEY_ED25519, &logkey),
	                 0);
	int lvl = vault_pubkey_format(vault_signer_pubkey(logkey), logvkey, sizeof(logvkey));
	bad[5].c.vkey = logvkey;
	bad[5].c.vkey_len = (size_t)lvl;
	char other_line[VAULT_SIGLINE_MAX + 1];
	memcpy(other_line, "\xe2\x80\x94 other.example ", 18);
	memcpy(other_line + 18, line + 18, (size_t)ll - 18);
	bad[6].c.auditor = "other.example";
	bad[6].c.line = other_line;
	bad[6].c.line_len = (size_t)ll;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Evident__Fleet__FleetCosig m = EVIDENT__FLEET__FLEET_COSIG__INIT;
		uint8_t raw[2048];
		ck_assert_int_eq(fleet_cosig_encode(&bad[i].c, &buf, &len), -EINVAL);
		m.origin = (char *)ORIGIN;
		m.has_size = m.has_line = true;
		m.size = bad[i].c.size;
		m.auditor = (char *)bad[i].c.auditor;
		m.line = (ProtobufCBinaryData){bad[i].c.line_len, (uint8_t *)bad[i].c.line};
		if (bad[i].c.vkey) {
			m.has_vkey = true;
			m.vkey = (ProtobufCBinaryData){bad[i].c.vkey_len, (uint8_t *)bad[i].c.vkey};
		}
		len = evident__fleet__fleet_cosig__pack(&m, raw);
		ck_assert_int_eq(fleet_cosig_decode(raw, len, NULL, &d, reason, sizeof(reason)),
		                 -EBADMSG);
		ck_assert_msg(strstr(reason, bad[i].why), "%zu: \"%s\" lacks \"%s\"", i, reason,
		              bad[i].why);
	}
	ck_assert_int_eq(
	    fleet_cosig_decode((const uint8_t *)"", 0, NULL, &d, reason, sizeof(reason)), -EBADMSG);
	ck_assert_str_eq(reason, "cosig: no origin");
	vault_signer_free(w);
	vault_signer_free(logkey);
	test_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *fleet_suite(void)
{
	Suite *s = suite_create("fleet");
	TCase *tc;

	tc = tcase_create("fleet_subject_token");
	tcase_add_test(tc, fleet_subject_token_escapes_and_reverses);
	tcase_add_test(tc, fleet_subject_origin_refuses_malformed_tokens);
	suite_add_tcase(s, tc);
	tc = tcase_create("fleet_subject");
	tcase_add_test(tc, fleet_subject_formats_and_parses);
	tcase_add_test(tc, fleet_subject_parse_refuses_hostile_subjects);
	suite_add_tcase(s, tc);
	tc = tcase_create("fleet_msg_id");
	tcase_add_test(tc, fleet_msg_id_formats_each_kind);
	suite_add_tcase(s, tc);
	tc = tcase_create("fleet_entry");
	tcase_add_test(tc, fleet_entry_round_trips);
	tcase_add_test(tc, fleet_entry_decode_refuses_with_a_reason);
	suite_add_tcase(s, tc);
	tc = tcase_create("fleet_blob_chunk");
	tcase_add_test(tc, fleet_blob_chunk_round_trips_and_checks_bounds);
	suite_add_tcase(s, tc);
	tc = tcase_create("fleet_checkpoint");
	tcase_add_test(tc, fleet_checkpoint_round_trips_and_checks_the_note);
	suite_add_tcase(s, tc);
	tc = tcase_create("fleet_cosig");
	tcase_add_test(tc, fleet_cosig_round_trips_and_checks_the_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(fleet_suite());
}
