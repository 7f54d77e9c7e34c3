/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vault/note.c and vault/bundle.c: verifier keys, C2SP signed checkpoints
 * (including verification by OpenSSL's own command-line tool), proof bundles. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "vault.h"

static char *dir;
static struct vault *v;
static char *note;
static struct vault_info info;

static void setup(void)
{
	struct vault_options o = {.origin = "example.com/evidence"};
	dir = test_tmpdir("note");
	ck_assert_int_eq(vault_open(dir, VAULT_OPEN_WRITE | VAULT_OPEN_CREATE, &o, &v), 0);
	for (int i = 0; i < 21; i++) {
		char p[16];
		struct vault_entry_in in = {.type = VAULT_ENTRY_RECORD, .payload = p};
		struct vault_append_result res;
		in.payload_len = (size_t)snprintf(p, sizeof(p), "e%d", i);
		ck_assert_int_eq(vault_append(v, &in, 1, &res), 0);
	}
	ck_assert_int_eq(vault_checkpoint_sign(v, &note), 0);
	ck_assert_int_eq(vault_info(v, &info), 0);
}

static void teardown(void)
{
	free(note);
	vault_close(v);
	test_rmrf(dir);
	free(dir);
}

/* ------------------------------------------------------------------ keys */

START_TEST(vault_pubkey_parse_round_trips)
{
	char s[512], pem[512];
	struct vault_pubkey k, kp;

	ck_assert_int_gt(vault_pubkey_format(&info.key, s, sizeof(s)), 0);
	ck_assert(strncmp(s, "example.com/evidence+", 21) == 0);
	ck_assert_int_eq(vault_pubkey_parse(s, strlen(s), NULL, &k), 0);
	ck_assert_str_eq(k.name, "example.com/evidence");
	ck_assert_mem_eq(k.key, info.key.key, 32);
	ck_assert_mem_eq(k.id, info.key.id, 4);
	strcat(s, "\n"); /* a trailing newline, as in a file */
	ck_assert_int_eq(vault_pubkey_parse(s, strlen(s), NULL, &k), 0);
	ck_assert_int_gt(vault_pubkey_pem(&info.key, pem, sizeof(pem)), 0);
	ck_assert(strstr(pem, "BEGIN PUBLIC KEY") != NULL);
	ck_assert_int_eq(vault_pubkey_parse(pem, strlen(pem), "example.com/evidence", &kp), 0);
	ck_assert_mem_eq(kp.key, info.key.key, 32);
	ck_assert_mem_eq(kp.id, info.key.id, 4);
	ck_assert_int_eq(vault_pubkey_format(&info.key, s, 10), -ENOBUFS);
}
END_TEST

START_TEST(vault_pubkey_parse_rejects_malformed)
{
	char s[512];
	struct vault_pubkey k;
	const char *bad[] = {
	    "",
	    "noplus",
	    "name+0011223+AQ",
	    "name+zz112233+AdJi6Rcl1DRL2O9B0RI66wTAj33J/hAvcyGaIImreu/4",
	    "na me+aaa2ff6e+AdJi6Rcl1DRL2O9B0RI66wTAj33J/hAvcyGaIImreu/4",
	    "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vault_pubkey_parse(bad[i], strlen(bad[i]), NULL, &k) == -EBADMSG,
		              "accepted %s", bad[i]);
	/* right form, wrong key id */
	vault_pubkey_format(&info.key, s, sizeof(s));
	char *plus = strchr(s, '+');
	plus[1] = plus[1] == '0' ? '1' : '0';
	ck_assert_int_eq(vault_pubkey_parse(s, strlen(s), NULL, &k), -EBADMSG);
	/* wrong algorithm byte (0x02) */
	vault_pubkey_format(&info.key, s, sizeof(s));
	char *b64 = strrchr(s, '+');
	ck_assert(b64 != NULL);
	plus = strchr(s, '+');
	plus[9] = '+';
	memcpy(plus + 10, "Ag", 2); /* first base64 digits of 0x02 */
	ck_assert_int_eq(vault_pubkey_parse(s, strlen(s), NULL, &k), -EBADMSG);
}
END_TEST

/* ------------------------------------------------------------------ checkpoints */

START_TEST(vault_checkpoint_parse_verifies_signature)
{
	struct vault_checkpoint cp;
	struct vault_pubkey other = info.key;

	ck_assert_int_eq(vault_checkpoint_parse(note, strlen(note), &info.key, &cp), 0);
	ck_assert_str_eq(cp.origin, "example.com/evidence");
	ck_assert_uint_eq(cp.size, 21);
	ck_assert_mem_eq(cp.root, info.root, 32);
	/* another key of the same name: no signature by it */
	other.key[0] ^= 1;
	other.id[0] ^= 1;
	ck_assert_int_eq(vault_checkpoint_parse(note, strlen(note), &other, &cp), -ENOKEY);
	/* the right key id but another key: the signature does not verify */
	other = info.key;
	other.key[5] ^= 0x10;
	ck_assert_int_eq(vault_checkpoint_parse(note, strlen(note), &other, &cp), -EKEYREJECTED);
	/* a changed body */
	char *bad = strdup(note);
	char *nl = strchr(bad, '\n');
	nl[1] = nl[1] == '2' ? '3' : '2'; /* tree size */
	ck_assert_int_eq(vault_checkpoint_parse(bad, strlen(bad), &info.key, &cp), -EKEYREJECTED);
	free(bad);
}
END_TEST

START_TEST(vault_checkpoint_parse_rejects_malformed)
{
	struct vault_checkpoint cp;
	const char *bad[] = {
	    "",
	    "no newline",
	    "origin\n21\n",
	    "origin\n021\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o "
	    "AAAAAAA=\n",
	    "origin\n21\nAAAA\n\n\xe2\x80\x94 o AAAAAAA=\n",
	    "origin\n21\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
	    "origin\n21\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n- o AAAAAAA=\n",
	    "origin\r\n21\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o "
	    "AAAAAAA=\n",
	    "orig\xffin\n21\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o "
	    "AAAAAAA=\n",
	    "origin\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	    "\n\n\xe2\x80\x94 o "
	    "AAAAAAA=\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vault_checkpoint_parse(bad[i], strlen(bad[i]), NULL, &cp) == -EBADMSG,
		              "accepted #%zu", i);
	/* a well-formed unsigned-by-us note with an extension line parses without a key */
	const char *ok = "origin\n21\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next line\n\n"
	                 "\xe2\x80\x94 someone AAAAAAA=\n";
	ck_assert_int_eq(vault_checkpoint_parse(ok, strlen(ok), NULL, &cp), 0);
	ck_assert_int_eq(vault_checkpoint_parse(ok, strlen(ok), &info.key, &cp), -ENOKEY);
}
END_TEST

/* The signature must verify with an independent Ed25519 implementation: OpenSSL's CLI. */
START_TEST(vault_checkpoint_sign_interoperates_with_openssl)
{
	char path[600], pem[512], cmd[3000];
	const char *sep = strstr(note, "\n\n");
	const char *sigline = sep + 2;
	const char *b64 = strrchr(sigline, ' ') + 1;
	uint8_t sig[80];
	size_t body_len = (size_t)(sep - note) + 1;
	FILE *f;

	if (system("command -v openssl >/dev/null 2>&1") != 0)
		return; /* the test command installs it; tolerate a bare machine */
	/* decode base64(keyid || sig) with openssl too, to depend on nothing of ours */
	snprintf(path, sizeof(path), "%s/sig.b64", dir);
	f = fopen(path, "w");
	fprintf(f, "%.*s\n", (int)strcspn(b64, "\n"), b64);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && openssl base64 -d -in sig.b64 -out sig.raw && "
	         "tail -c 64 sig.raw > sig.bin",
	         dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/sig.raw", dir);
	size_t rawlen = 0;
	char *raw = test_read_file(path, &rawlen);
	ck_assert_uint_eq(rawlen, 68);
	memcpy(sig, raw, 4);
	ck_assert_mem_eq(sig, info.key.id, 4);
	free(raw);
	snprintf(path, sizeof(path), "%s/body.txt", dir);
	f = fopen(path, "w");
	fwrite(note, 1, body_len, f);
	fclose(f);
	/* the public key as OpenSSL derives it from the private key file */
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && openssl pkey -in signing.key -pubout -out pub.pem && "
	         "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in body.txt "
	         "-sigfile sig.bin >/dev/null",
	         dir);
	ck_assert_int_eq(system(cmd), 0);
	/* and our PEM export is the same key */
	ck_assert_int_gt(vault_pubkey_pem(&info.key, pem, sizeof(pem)), 0);
	snprintf(path, sizeof(path), "%s/pub.pem", dir);
	char *theirs = test_read_file(path, NULL);
	ck_assert_str_eq(theirs, pem);
	free(theirs);
	/* and OpenSSL rejects a changed body */
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && sed -i 's/^21$/22/' body.txt && ! openssl pkeyutl -verify -pubin "
	         "-inkey pub.pem -rawin -in body.txt -sigfile sig.bin >/dev/null 2>&1",
	         dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------ cosignatures */

/* A witness signer whose key file is DIR/FILE.key. */
static struct vault_signer *make_witness(const char *name, const char *file)
{
	char path[600];
	struct vault_signer *w;

	snprintf(path, sizeof(path), "%s/%s.key", dir, file);
	ck_assert_int_eq(vault_signer_load(path, true, name, VAULT_KEY_COSIGNATURE_V1, &w), 0);
	return w;
}

/* note || line, NUL-terminated (caller frees) */
static char *cosigned(const char *n, const char *line)
{
	char *out = malloc(strlen(n) + strlen(line) + 1);
	strcpy(out, n);
	strcat(out, line);
	return out;
}

START_TEST(vault_cosignature_round_trips)
{
	struct vault_signer *w1 = make_witness("witness.example/w1", "w1");
	struct vault_signer *w2 = make_witness("witness.example/w2", "w2");
	struct vault_pubkey keys[2] = {*vault_signer_pubkey(w1), *vault_signer_pubkey(w2)};
	struct vault_cosig_check chk[2];
	struct vault_pubkey parsed;
	char line[VAULT_SIGLINE_MAX + 1], vkey[512], *both, *all;
	size_t body_len;
	int n;

	ck_assert_int_eq(vault_note_split(note, strlen(note), &body_len), 0);
	n = vault_signer_cosign(w1, note, body_len, 1700000000, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	ck_assert(strncmp(line, "\xe2\x80\x94 witness.example/w1 ", 23) == 0);
	ck_assert_int_eq(line[n - 1], '\n');
	both = cosigned(note, line);
	/* the log's own signature still verifies, and the cosignature counts for w1 only */
	struct vault_checkpoint cp;
	ck_assert_int_eq(vault_checkpoint_parse(both, strlen(both), &info.key, &cp), 0);
	ck_assert_int_eq(vault_cosignatures_verify(both, strlen(both), keys, 2, 0, chk), 1);
	ck_assert(chk[0].valid && !chk[1].valid);
	ck_assert_uint_eq(chk[0].timestamp, 1700000000);
	ck_assert_uint_eq(chk[0].line_off, strlen(note));
	ck_assert_uint_eq(chk[0].line_len, (size_t)n);
	/* the verifier key string round-trips with its type */
	ck_assert_int_gt(vault_pubkey_format(&keys[0], vkey, sizeof(vkey)), 0);
	ck_assert_int_eq(vault_pubkey_parse(vkey, strlen(vkey), NULL, &parsed), 0);
	ck_assert_uint_eq(parsed.type, VAULT_KEY_COSIGNATURE_V1);
	ck_assert_mem_eq(parsed.id, keys[0].id, 4);
	/* a witness key never stands for the log, nor the log key for a witness */
	ck_assert_int_eq(vault_checkpoint_parse(both, strlen(both), &parsed, &cp), -EINVAL);
	ck_assert_int_eq(vault_cosignatures_verify(both, strlen(both), &info.key, 1, 0, NULL), 0);
	/* both witnesses; a repeated line counts once */
	ck_assert_int_gt(vault_signer_cosign(w2, note, body_len, 1700000001, line, sizeof(line)),
	                 0);
	all = malloc(strlen(both) * 2 + strlen(line) + 1);
	strcpy(all, both);
	strcat(all, line);
	strcat(all, both + strlen(note));
	ck_assert_int_eq(vault_cosignatures_verify(all, strlen(all), keys, 2, 0, chk), 2);
	/* a timestamp far in the future does not count; one within the skew does */
	ck_assert_int_eq(
	    vault_cosignatures_verify(all, strlen(all), keys, 2, 1700000001 - 700, chk), 0);
	ck_assert_int_eq(
	    vault_cosignatures_verify(all, strlen(all), keys, 2, 1700000000 - 500, chk), 2);
	free(all);
	free(both);
	vault_signer_free(w1);
	vault_signer_free(w2);
}
END_TEST

START_TEST(vault_cosignature_rejects_forgeries)
{
	struct vault_signer *w = make_witness("witness.example/w1", "w1");
	struct vault_pubkey key = *vault_signer_pubkey(w);
	char line[VAULT_SIGLINE_MAX + 1], *bad;
	size_t body_len;
	int n;

	ck_assert_int_eq(vault_note_split(note, strlen(note), &body_len), 0);
	n = vault_signer_cosign(w, note, body_len, 1700000000, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	/* over another body: the tree size changed */
	bad = cosigned(note, line);
	bad[strlen("example.com/evidence\n")] = '3'; /* "21" -> "31" */
	ck_assert_int_eq(vault_cosignatures_verify(bad, strlen(bad), &key, 1, 0, NULL), 0);
	free(bad);
	/* a flipped signature bit */
	bad = cosigned(note, line);
	char *b64 = strrchr(bad, ' ') + 1;
	b64[40] = b64[40] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(vault_cosignatures_verify(bad, strlen(bad), &key, 1, 0, NULL), 0);
	free(bad);
	/* timestamps beyond 2^63 - 1, short buffers, a log's key that would cosign */
	ck_assert_int_eq(
	    vault_signer_cosign(w, note, body_len, (uint64_t)INT64_MAX + 1, line, sizeof(line)),
	    -EINVAL);
	ck_assert_int_eq(vault_signer_cosign(w, note, body_len, 1, line, 20), -ENOBUFS);
	struct vault_signer *logkey;
	char path[600];
	snprintf(path, sizeof(path), "%s/signing.key", dir);
	ck_assert_int_eq(
	    vault_signer_load(path, false, "example.com/evidence", VAULT_KEY_ED25519, &logkey), 0);
	ck_assert_mem_eq(vault_signer_pubkey(logkey)->key, info.key.key, 32);
	ck_assert_int_eq(vault_signer_cosign(logkey, note, body_len, 1, line, sizeof(line)),
	                 -EINVAL);
	vault_signer_free(logkey);
	/* malformed notes */
	ck_assert_int_eq(vault_cosignatures_verify("x\n", 2, &key, 1, 0, NULL), -EBADMSG);
	ck_assert_int_eq(vault_cosignatures_verify(note, strlen(note), NULL, 1, 0, NULL), -EINVAL);
	vault_signer_free(w);
}
END_TEST

/* An independent Ed25519 implementation (OpenSSL's command-line tool) checks a cosignature
 * over the message tlog-cosignature/v1 defines. */
START_TEST(vault_cosignature_interoperates_with_openssl)
{
	struct vault_signer *w = make_witness("witness.example/w1", "w1");
	char line[VAULT_SIGLINE_MAX + 1], path[600], cmd[3000];
	size_t body_len;
	FILE *f;

	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		vault_signer_free(w);
		return;
	}
	ck_assert_int_eq(vault_note_split(note, strlen(note), &body_len), 0);
	ck_assert_int_gt(vault_signer_cosign(w, note, body_len, 1679315147, line, sizeof(line)), 0);
	snprintf(path, sizeof(path), "%s/cosig.b64", dir);
	f = fopen(path, "w");
	fprintf(f, "%.*s\n", (int)strcspn(strrchr(line, ' ') + 1, "\n"), strrchr(line, ' ') + 1);
	fclose(f);
	snprintf(path, sizeof(path), "%s/msg.txt", dir);
	f = fopen(path, "w");
	fprintf(f, "cosignature/v1\ntime 1679315147\n%.*s", (int)body_len, note);
	fclose(f);
	/* key id (4) || timestamp (8, big-endian) || signature (64) */
	snprintf(
	    cmd, sizeof(cmd),
	    "cd '%s' && openssl base64 -d -in cosig.b64 -out cosig.raw && "
	    "test $(stat -c %%s cosig.raw) = 76 && tail -c 64 cosig.raw > cosig.sig && "
	    "test $(head -c 12 cosig.raw | tail -c 8 | od -An -tx1 | tr -d ' \n') = "
	    "00000000641850cb && "
	    "openssl pkey -in w1.key -pubout -out w.pem && "
	    "openssl pkeyutl -verify -pubin -inkey w.pem -rawin -in msg.txt -sigfile cosig.sig "
	    ">/dev/null",
	    dir);
	ck_assert_int_eq(system(cmd), 0);
	vault_signer_free(w);
}
END_TEST

/* ------------------------------------------------------------------ bundles */

static void make_bundle(uint64_t seq, struct vault_proof_bundle *b)
{
	struct vault_reader *r;
	struct vault_entry e;

	memset(b, 0, sizeof(*b));
	ck_assert_int_eq(vault_reader_begin(v, &r), 0);
	ck_assert_int_eq(vault_get(r, seq, &e), 0);
	vault_leaf_encode(&e.leaf, b->leaf);
	b->index = seq;
	int n = vault_prove_inclusion(r, seq, 21, b->proof);
	ck_assert_int_ge(n, 0);
	b->proof_len = (size_t)n;
	b->note = strdup(note);
	b->note_len = strlen(note);
	vault_reader_end(r);
}

START_TEST(vault_proof_bundle_verify_round_trips)
{
	for (uint64_t seq = 0; seq < 21; seq++) {
		struct vault_proof_bundle b, p;
		struct vault_checkpoint cp;
		struct vault_leaf leaf;
		char *text;

		make_bundle(seq, &b);
		int n = vault_proof_bundle_format(&b, &text);
		ck_assert_int_gt(n, 0);
		ck_assert(strncmp(text, "c2sp.org/tlog-proof@v1\nextra ", 29) == 0);
		ck_assert_int_eq(vault_proof_bundle_parse(text, (size_t)n, &p), 0);
		ck_assert_int_eq(vault_proof_bundle_verify(&p, &info.key, &cp, &leaf), 0);
		ck_assert_uint_eq(leaf.seq, seq);
		ck_assert_uint_eq(cp.size, 21);
		/* another entry's leaf under this index, or the index of another entry */
		p.index = (seq + 1) % 21;
		ck_assert_int_eq(vault_proof_bundle_verify(&p, &info.key, NULL, NULL), -EBADMSG);
		p.index = seq;
		p.leaf[40] ^= 1; /* payload hash */
		ck_assert_int_eq(vault_proof_bundle_verify(&p, &info.key, NULL, NULL), -EBADMSG);
		p.leaf[40] ^= 1;
		if (p.proof_len) {
			p.proof[p.proof_len - 1][3] ^= 4;
			ck_assert_int_eq(vault_proof_bundle_verify(&p, &info.key, NULL, NULL),
			                 -EBADMSG);
		}
		vault_proof_bundle_deinit(&p);
		vault_proof_bundle_deinit(&b);
		free(text);
	}
}
END_TEST

/* A bundle whose checkpoint carries cosignatures (what prove writes for a witnessed
 * checkpoint) parses and verifies by the log key, and its cosignatures by the witness keys. */
START_TEST(vault_proof_bundle_carries_cosignatures)
{
	struct vault_signer *w1 = make_witness("witness.example/w1", "w1");
	struct vault_signer *w2 = make_witness("witness.example/w2", "w2");
	struct vault_pubkey keys[2] = {*vault_signer_pubkey(w1), *vault_signer_pubkey(w2)};
	char l1[VAULT_SIGLINE_MAX + 1], l2[VAULT_SIGLINE_MAX + 1], *text, *cosigned_note;
	struct vault_proof_bundle b, p;
	size_t body_len;
	int n;

	ck_assert_int_eq(vault_note_split(note, strlen(note), &body_len), 0);
	ck_assert_int_gt(vault_signer_cosign(w1, note, body_len, 1700000000, l1, sizeof(l1)), 0);
	ck_assert_int_gt(vault_signer_cosign(w2, note, body_len, 1700000001, l2, sizeof(l2)), 0);
	cosigned_note = malloc(strlen(note) + strlen(l1) + strlen(l2) + 1);
	sprintf(cosigned_note, "%s%s%s", note, l1, l2);
	make_bundle(7, &b);
	free(b.note);
	b.note = cosigned_note;
	b.note_len = strlen(cosigned_note);
	n = vault_proof_bundle_format(&b, &text);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(vault_proof_bundle_parse(text, (size_t)n, &p), 0);
	ck_assert_int_eq(vault_proof_bundle_verify(&p, &info.key, NULL, NULL), 0);
	ck_assert_str_eq(p.note, cosigned_note);
	ck_assert_int_eq(vault_cosignatures_verify(p.note, p.note_len, keys, 2, 0, NULL), 2);
	vault_proof_bundle_deinit(&p);
	vault_proof_bundle_deinit(&b);
	free(text);
	vault_signer_free(w1);
	vault_signer_free(w2);
}
END_TEST

START_TEST(vault_proof_bundle_parse_detail_names_the_line)
{
	struct vault_proof_bundle b, p;
	char *text, err[200];

	make_bundle(3, &b);
	int n = vault_proof_bundle_format(&b, &text);
	ck_assert_int_eq(vault_proof_bundle_parse_detail("x\n", 2, &p, err, sizeof(err)), -EBADMSG);
	ck_assert(strstr(err, "line 1") != NULL);
	char *idx = strstr(text, "index 3");
	idx[6] = 'x';
	ck_assert_int_eq(vault_proof_bundle_parse_detail(text, (size_t)n, &p, err, sizeof(err)),
	                 -EBADMSG);
	ck_assert_msg(strstr(err, "line 3") != NULL, "%s", err);
	idx[6] = '3';
	char *h = strchr(idx, '\n') + 1; /* first proof hash */
	h[10] = '*';
	ck_assert_int_eq(vault_proof_bundle_parse_detail(text, (size_t)n, &p, err, sizeof(err)),
	                 -EBADMSG);
	ck_assert_msg(strstr(err, "line 4") != NULL, "%s", err);
	free(text);
	vault_proof_bundle_deinit(&b);
}
END_TEST

static Suite *note_suite(void)
{
	Suite *s = suite_create("note");
	TCase *tc;

	tc = tcase_create("vault_pubkey_parse");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_pubkey_parse_round_trips);
	tcase_add_test(tc, vault_pubkey_parse_rejects_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_checkpoint_parse");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_checkpoint_parse_verifies_signature);
	tcase_add_test(tc, vault_checkpoint_parse_rejects_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_checkpoint_sign");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_checkpoint_sign_interoperates_with_openssl);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_cosignature");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_cosignature_round_trips);
	tcase_add_test(tc, vault_cosignature_rejects_forgeries);
	tcase_add_test(tc, vault_cosignature_interoperates_with_openssl);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_proof_bundle_verify");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_proof_bundle_verify_round_trips);
	tcase_add_test(tc, vault_proof_bundle_carries_cosignatures);
	suite_add_tcase(s, tc);
	tc = tcase_create("vault_proof_bundle_parse_detail");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vault_proof_bundle_parse_detail_names_the_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(note_suite());
}
