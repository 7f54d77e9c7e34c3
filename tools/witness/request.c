/* SPDX-License-Identifier: Apache-2.0 */
/* add-checkpoint request bodies (c2sp.org/tlog-witness), the log's signature on them, and the
 * decision against the latest cosigned checkpoint. The vault library is the authority on
 * signed notes and Merkle proofs; this file checks the body's own lines and names, line by
 * line, what a note the vault refuses gets wrong, so that a client reads what to fix. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "evident/invariant.h"
#include "witness.h"

#define HASH_B64_LEN 44 /* base64 of 32 bytes: 43 characters and one '=' */
#define QUOTE_MAX    40 /* bytes of a bad line quoted in a message */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t err_size, const char *fmt,
                                                      ...)
{
	va_list ap;

	if (err && err_size) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* s[0..len) for a message: printable ASCII as is, other bytes as \xNN, cut at QUOTE_MAX. */
static const char *quote(const char *s, size_t len, char out[4 * QUOTE_MAX + 4])
{
	size_t o = 0;

	for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
	}
	if (len > QUOTE_MAX) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* A tree size: ASCII decimal, no leading zero unless it is "0". Returns NULL, or why not. */
static const char *parse_size(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0)
		return "empty";
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - (unsigned)'0';
		if (d > 9)
			return "not a decimal number";
		if (v > (UINT64_MAX - d) / 10)
			return "larger than 2^64 - 1";
		v = v * 10 + d;
	}
	if (len > 1 && s[0] == '0')
		return "a leading zero";
	*ret = v;
	return NULL;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* One hash in standard padded base64, canonical (the two bits past the 256 are zero). Returns
 * NULL, or why not (into why). */
static const char *decode_hash(const char *s, size_t len, uint8_t out[VAULT_HASH_LEN], char why[96])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	if (len != HASH_B64_LEN) {
		snprintf(why, 96, "%zu characters, %d expected (base64 of a 32-byte hash)", len,
		         HASH_B64_LEN);
		return why;
	}
	if (s[HASH_B64_LEN - 1] != '=') {
		snprintf(why, 96, "character %d is not the padding '='", HASH_B64_LEN);
		return why;
	}
	for (size_t i = 0; i < HASH_B64_LEN - 1; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			snprintf(why, 96, "character %zu is not base64", i + 1);
			return why;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	INVARIANT(o == VAULT_HASH_LEN && bits == 2);
	if (acc & 3) {
		snprintf(why, 96, "not canonical base64 (padding bits set)");
		return why;
	}
	return NULL;
}

/* ------------------------------------------------------------------ the checkpoint note */

/* Newlines in s[0..len): how many lines further the byte after them is. */
static size_t count_lines(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

/* Names what the vault's note parser refused in note[0..len), starting at body line `line`. */
static int diagnose_note(const char *note, size_t len, size_t line, char *err, size_t err_size)
{
	const char *p = note, *end = note + len, *split = NULL;
	static const char *const what[] = {"origin", "tree size", "root hash"};
	char q[4 * QUOTE_MAX + 4], why[96];
	size_t n = 0;

	for (size_t i = 0, l = line; i < len; i++) {
		unsigned char c = (unsigned char)note[i];
		if (c == '\n')
			l++;
		else if (c == '\r' && i + 1 < len && note[i + 1] == '\n')
			return fail(err, err_size,
			            "line %zu: carriage return before the newline (lines end in "
			            "\\n alone)",
			            l);
		else if (c < 0x20 || c == 0x7f)
			return fail(err, err_size,
			            "line %zu: control character 0x%02x in the checkpoint note", l,
			            c);
	}
	if (note[len - 1] != '\n')
		return fail(err, err_size,
		            "line %zu: the checkpoint note does not end in a newline",
		            line + count_lines(note, len));
	for (size_t i = len - 1; i > 0; i--)
		if (note[i] == '\n' && note[i - 1] == '\n') {
			split = note + i;
			break;
		}
	if (!split)
		return fail(err, err_size,
		            "line %zu: the checkpoint note has no blank line before its signature "
		            "lines",
		            line);
	if (split + 1 == end)
		return fail(err, err_size,
		            "line %zu: the checkpoint note has no signature line after its blank "
		            "line",
		            line);
	/* The text: origin, size, root hash, then optional non-empty extension lines. */
	for (; p < split; n++) {
		const char *nl = memchr(p, '\n', (size_t)(split - p));
		size_t ll = (size_t)(nl - p);
		uint64_t size;
		const char *bad;
		uint8_t h[VAULT_HASH_LEN];

		if (n == 0 && ll == 0)
			return fail(err, err_size, "line %zu: empty origin line", line);
		if (n == 0 && ll > VAULT_ORIGIN_MAX)
			return fail(err, err_size, "line %zu: origin of %zu bytes, at most %d",
			            line, ll, VAULT_ORIGIN_MAX);
		if (n == 1 && (bad = parse_size(p, ll, &size)))
			return fail(err, err_size, "line %zu: checkpoint tree size \"%s\": %s",
			            line + n, quote(p, ll, q), bad);
		if (n == 2 && decode_hash(p, ll, h, why))
			return fail(err, err_size, "line %zu: checkpoint root hash: %s", line + n,
			            why);
		if (n > 2 && ll == 0)
			return fail(err, err_size,
			            "line %zu: empty extension line in the checkpoint", line + n);
		p = nl + 1;
	}
	if (n < 3)
		return fail(
		    err, err_size,
		    "line %zu: the checkpoint has %zu lines before its signatures, 3 expected "
		    "(%s)",
		    line + n, n, what[n]);
	if (vault_note_split(note, len, &n) < 0)
		return fail(err, err_size, "line %zu: the checkpoint note is not valid UTF-8",
		            line);
	return fail(err, err_size,
	            "line %zu: malformed signature line in the checkpoint note "
	            "(\"\xe2\x80\x94 NAME BASE64\" expected)",
	            line + count_lines(note, (size_t)(split + 1 - note)));
}

static int parse_note(const char *note, size_t len, size_t line, struct witness_request *r,
                      char *err, size_t err_size)
{
	size_t text_len;

	if (len == 0)
		return fail(err, err_size, "line %zu: no checkpoint after the blank line", line);
	if (len > VAULT_NOTE_MAX)
		return fail(err, err_size, "line %zu: the checkpoint note is %zu bytes, at most %d",
		            line, len, VAULT_NOTE_MAX);
	if (vault_checkpoint_parse(note, len, NULL, &r->cp) < 0 ||
	    vault_note_split(note, len, &text_len) < 0)
		return diagnose_note(note, len, line, err, err_size);
	r->note = note;
	r->note_len = len;
	r->note_text_len = text_len;
	r->note_line = line;
	return 0;
}

/* ------------------------------------------------------------------ the body */

int witness_request_parse(const char *body, size_t len, struct witness_request *ret, char *err,
                          size_t err_size)
{
	const char *p = body, *end = body + len, *nl, *bad;
	char q[4 * QUOTE_MAX + 4], why[96];
	/* Large, and *ret is written only on success: the request is built here first. */
	struct witness_request r = {0};
	size_t line = 1, ll;
	int rc;

	if (len > WITNESS_BODY_MAX) {
		fail(err, err_size, "body of %zu bytes, at most %d", len, WITNESS_BODY_MAX);
		return -EMSGSIZE;
	}
	if (len == 0)
		return fail(err, err_size, "empty body: \"old N\" expected on line 1");
	nl = memchr(p, '\n', len);
	if (!nl)
		return fail(err, err_size, "line 1: no newline (every line ends in \\n)");
	ll = (size_t)(nl - p);
	if (ll > 0 && p[ll - 1] == '\r')
		return fail(err, err_size,
		            "line 1: carriage return before the newline (lines end in \\n alone)");
	if (ll < 4 || memcmp(p, "old ", 4) != 0)
		return fail(err, err_size, "line 1: \"%s\": \"old N\" (the previous size) expected",
		            quote(p, ll, q));
	if ((bad = parse_size(p + 4, ll - 4, &r.old_size)))
		return fail(err, err_size, "line 1: old size \"%s\": %s", quote(p + 4, ll - 4, q),
		            bad);
	p = nl + 1;
	/* Proof lines up to the first empty line (a hash line is never empty). */
	for (;;) {
		line++;
		nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (!nl)
			return fail(
			    err, err_size,
			    "line %zu: the body ends before the blank line that precedes the "
			    "checkpoint",
			    line);
		ll = (size_t)(nl - p);
		if (ll == 0)
			break;
		if (r.proof_len == WITNESS_PROOF_MAX)
			return fail(err, err_size, "line %zu: more than %d consistency proof lines",
			            line, WITNESS_PROOF_MAX);
		if (p[ll - 1] == '\r')
			return fail(
			    err, err_size,
			    "line %zu: carriage return before the newline (lines end in \\n "
			    "alone)",
			    line);
		if (decode_hash(p, ll, r.proof[r.proof_len], why))
			return fail(
			    err, err_size, "line %zu: proof hash: %s%s", line, why,
			    line == 2 ? " (is the blank line before the checkpoint missing?)" : "");
		r.proof_len++;
		p = nl + 1;
	}
	if (r.old_size == 0 && r.proof_len > 0)
		return fail(err, err_size,
		            "line 2: a consistency proof with old size 0 (the proof from an empty "
		            "tree is empty)");
	p = nl + 1;
	line++;
	rc = parse_note(p, (size_t)(end - p), line, &r, err, err_size);
	if (rc < 0)
		return rc;
	if (r.old_size > r.cp.size)
		return fail(err, err_size,
		            "line 1: old size %" PRIu64
		            " is larger than the checkpoint's size %" PRIu64,
		            r.old_size, r.cp.size);
	*ret = r;
	return 0;
}

/* ------------------------------------------------------------------ the log's signature */

int witness_request_verify(const struct witness_request *req, const struct vault_pubkey *keys,
                           size_t n, char *err, size_t err_size)
{
	struct vault_checkpoint cp;
	char q[4 * QUOTE_MAX + 4];
	bool verified = false;

	for (size_t i = 0; i < n; i++) {
		int rc = vault_checkpoint_parse(req->note, req->note_len, &keys[i], &cp);
		if (rc == -ENOKEY)
			continue;
		if (rc == -EKEYREJECTED) {
			char vkey[VAULT_ORIGIN_MAX + 64];
			if (vault_pubkey_format(&keys[i], vkey, sizeof(vkey)) < 0)
				vkey[0] = '\0';
			fail(err, err_size,
			     "origin \"%s\": the signature by trusted key %s does not verify",
			     quote(req->cp.origin, strlen(req->cp.origin), q), vkey);
			return -EKEYREJECTED;
		}
		if (rc < 0) {
			fail(err, err_size, "origin \"%s\": cannot verify the signature: %s",
			     quote(req->cp.origin, strlen(req->cp.origin), q), strerror(-rc));
			return rc;
		}
		verified = true;
	}
	if (!verified) {
		fail(err, err_size, "origin \"%s\": no signature by a key trusted for it",
		     quote(req->cp.origin, strlen(req->cp.origin), q));
		return -ENOKEY;
	}
	return 0;
}

/* ------------------------------------------------------------------ the decision */

enum witness_verdict witness_check(const struct witness_log_state *latest,
                                   const struct witness_request *req)
{
	const struct vault_checkpoint *cp = &req->cp;
	uint64_t latest_size = latest->known ? latest->size : 0;

	/* witness_request_parse refused both: an old size past the checkpoint, a proof from 0. */
	INVARIANT(req->old_size <= cp->size);
	INVARIANT(req->old_size > 0 || req->proof_len == 0);
	/* First what the checkpoint says whatever the old size: a smaller tree than the one
	 * cosigned, or another tree of the same size, is worth keeping. */
	if (cp->size < latest_size)
		return WITNESS_ROLLBACK;
	if (latest->known && cp->size == latest->size &&
	    memcmp(cp->root, latest->root, VAULT_HASH_LEN) != 0)
		return WITNESS_FORK;
	if (req->old_size != latest_size)
		return WITNESS_STALE;
	/* From an empty tree (a log never cosigned, or cosigned at size 0) anything follows, and
	 * the proof is empty (parse). */
	if (req->old_size == 0)
		return WITNESS_COSIGN;
	/* old == the latest size > 0. With old == size the roots are equal (not a fork), and the
	 * vault requires the proof to be empty: a re-submission is cosigned again. */
	INVARIANT(latest->known);
	if (vault_merkle_verify_consistency(req->old_size, cp->size, latest->root, cp->root,
	                                    (const uint8_t(*)[VAULT_HASH_LEN])req->proof,
	                                    req->proof_len) < 0)
		return WITNESS_BAD_PROOF;
	return WITNESS_COSIGN;
}

int witness_verdict_status(enum witness_verdict v)
{
	switch (v) {
	case WITNESS_COSIGN:
		return 200;
	case WITNESS_STALE:
	case WITNESS_ROLLBACK:
	case WITNESS_FORK:
		return 409;
	case WITNESS_BAD_PROOF:
		return 422;
	case _WITNESS_VERDICT_MAX:
		break;
	}
	INVARIANT(!"a verdict out of range");
	return 500;
}

bool witness_verdict_is_evidence(enum witness_verdict v)
{
	return v == WITNESS_ROLLBACK || v == WITNESS_FORK || v == WITNESS_BAD_PROOF;
}

const char *witness_verdict_name(enum witness_verdict v)
{
	static const char *const names[] = {
	    [WITNESS_COSIGN] = "cosign",       [WITNESS_STALE] = "stale",
	    [WITNESS_ROLLBACK] = "rollback",   [WITNESS_FORK] = "fork",
	    [WITNESS_BAD_PROOF] = "bad-proof",
	};
	return (unsigned)v < _WITNESS_VERDICT_MAX ? names[v] : NULL;
}
