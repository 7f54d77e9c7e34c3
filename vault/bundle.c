/* SPDX-License-Identifier: Apache-2.0 */
/* Inclusion proof bundles in the C2SP tlog-proof@v1 text form:
 *
 *   c2sp.org/tlog-proof@v1
 *   extra BASE64(leaf)          the entry's 91-byte leaf encoding (FORMAT.md §3)
 *   index N
 *   BASE64(hash)                one line per proof hash, leaf to root
 *   (blank line)
 *   the signed checkpoint note
 *
 * The leaf hash is SHA-256(0x00 || leaf), so the bundle proves both that the entry is in the
 * log and what the entry says (seq, type, time, payload hash and length). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BUNDLE_HEADER "c2sp.org/tlog-proof@v1"
#define BUNDLE_MAX    (VAULT_NOTE_MAX + 8192)

int vault_proof_bundle_format(const struct vault_proof_bundle *b, char **ret)
{
	size_t cap = 256 + b->proof_len * 46 + b->note_len;
	char *out = malloc(cap), leaf64[128], h64[48];
	size_t off;

	if (!out)
		return -ENOMEM;
	vault__b64_encode(b->leaf, VAULT_LEAF_LEN, leaf64);
	off = (size_t)snprintf(out, cap, "%s\nextra %s\nindex %" PRIu64 "\n", BUNDLE_HEADER, leaf64,
	                       b->index);
	for (size_t i = 0; i < b->proof_len; i++) {
		vault__b64_encode(b->proof[i], 32, h64);
		off += (size_t)snprintf(out + off, cap - off, "%s\n", h64);
	}
	off += (size_t)snprintf(out + off, cap - off, "\n");
	memcpy(out + off, b->note, b->note_len);
	off += b->note_len;
	out[off] = '\0';
	*ret = out;
	return (int)off;
}

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (err && size) {
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static bool parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

int vault_proof_bundle_parse_detail(const char *text, size_t len, struct vault_proof_bundle *ret,
                                    char *err, size_t err_size)
{
	struct vault_proof_bundle b = {0};
	const char *p = text, *end = text + len, *nl;
	unsigned line = 0;
	bool have_extra = false;
	ssize_t n;

	if (!text)
		return fail(err, err_size, "no input");
	if (len > BUNDLE_MAX)
		return fail(err, err_size, "bundle is %zu bytes, more than the %d allowed", len,
		            BUNDLE_MAX);
	if (memchr(text, '\0', len))
		return fail(err, err_size, "bundle contains a NUL byte");

#define NEXT_LINE()                                                                           \
	do {                                                                                  \
		line++;                                                                       \
		nl = memchr(p, '\n', (size_t)(end - p));                                      \
		if (!nl)                                                                      \
			return fail(err, err_size, "line %u: unexpected end of input", line); \
	} while (0)

	NEXT_LINE();
	if ((size_t)(nl - p) != strlen(BUNDLE_HEADER) || memcmp(p, BUNDLE_HEADER, (size_t)(nl - p)))
		return fail(err, err_size, "line 1: expected \"%s\"", BUNDLE_HEADER);
	p = nl + 1;

	NEXT_LINE();
	if (nl - p > 6 && memcmp(p, "extra ", 6) == 0) {
		uint8_t buf[VAULT_LEAF_LEN + 3];
		n = vault__b64_decode(p + 6, (size_t)(nl - p - 6), buf, sizeof(buf));
		if (n != VAULT_LEAF_LEN)
			return fail(err, err_size,
			            "line %u: extra data is not a base64 %d-byte leaf", line,
			            VAULT_LEAF_LEN);
		memcpy(b.leaf, buf, VAULT_LEAF_LEN);
		have_extra = true;
		p = nl + 1;
		NEXT_LINE();
	}
	if (!have_extra)
		return fail(err, err_size, "line %u: missing \"extra\" line with the entry's leaf",
		            line);
	if (nl - p < 7 || memcmp(p, "index ", 6) != 0 ||
	    !parse_u64(p + 6, (size_t)(nl - p - 6), &b.index))
		return fail(err, err_size, "line %u: expected \"index N\"", line);
	p = nl + 1;

	for (;;) {
		uint8_t h[35];
		NEXT_LINE();
		if (nl == p) {
			p = nl + 1;
			break;
		}
		if (b.proof_len == VAULT_PROOF_MAX)
			return fail(err, err_size, "line %u: more than %d proof hashes", line,
			            VAULT_PROOF_MAX);
		n = vault__b64_decode(p, (size_t)(nl - p), h, sizeof(h));
		if (n != 32)
			return fail(err, err_size, "line %u: not a base64 SHA-256 hash", line);
		memcpy(b.proof[b.proof_len++], h, 32);
		p = nl + 1;
	}
#undef NEXT_LINE
	b.note_len = (size_t)(end - p);
	if (b.note_len == 0)
		return fail(err, err_size, "line %u: missing checkpoint note", line + 1);
	if (b.note_len > VAULT_NOTE_MAX)
		return fail(err, err_size, "line %u: checkpoint note too long", line + 1);
	{
		struct vault_checkpoint cp;
		if (vault_checkpoint_parse(p, b.note_len, NULL, &cp) < 0)
			return fail(err, err_size, "line %u: malformed checkpoint note", line + 1);
	}
	b.note = malloc(b.note_len + 1);
	if (!b.note)
		return -ENOMEM;
	memcpy(b.note, p, b.note_len);
	b.note[b.note_len] = '\0';
	*ret = b;
	return 0;
}

int vault_proof_bundle_parse(const char *text, size_t len, struct vault_proof_bundle *ret)
{
	return vault_proof_bundle_parse_detail(text, len, ret, NULL, 0);
}

void vault_proof_bundle_deinit(struct vault_proof_bundle *b)
{
	if (!b)
		return;
	free(b->note);
	b->note = NULL;
	b->note_len = 0;
}

int vault_proof_bundle_verify(const struct vault_proof_bundle *b, const struct vault_pubkey *key,
                              struct vault_checkpoint *ret_cp, struct vault_leaf *ret_leaf)
{
	struct vault_checkpoint cp;
	struct vault_leaf leaf;
	uint8_t lh[32];
	int rc;

	if (!key)
		return -EINVAL;
	rc = vault_checkpoint_parse(b->note, b->note_len, key, &cp);
	if (rc < 0)
		return rc;
	if (vault_leaf_decode(b->leaf, VAULT_LEAF_LEN, &leaf) < 0 || leaf.seq != b->index)
		return -EBADMSG;
	rc = vault_hash_leaf(b->leaf, VAULT_LEAF_LEN, lh);
	if (rc < 0)
		return rc;
	rc = vault_merkle_verify_inclusion(b->index, cp.size, lh,
	                                   (const uint8_t(*)[VAULT_HASH_LEN])b->proof, b->proof_len,
	                                   cp.root);
	if (rc < 0)
		return rc;
	if (ret_cp)
		*ret_cp = cp;
	if (ret_leaf)
		*ret_leaf = leaf;
	return 0;
}
