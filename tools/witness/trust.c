/* SPDX-License-Identifier: Apache-2.0 */
/* Trust files: the log verifier keys a witness accepts, one "ORIGIN+KEYID+BASE64" per line.
 * The vault parses the key; this file says where a line is wrong and how. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "witness.h"

#define VKEY_B64_LEN 44 /* base64 of 33 bytes: the type byte and the Ed25519 key */

__attribute__((format(printf, 6, 7))) static int fail(char *err, size_t err_size, const char *file,
                                                      size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err && err_size) {
		n = snprintf(err, err_size, "%s:%zu:%zu: ", file, line, col);
		if (n >= 0 && (size_t)n < err_size) {
			va_start(ap, fmt);
			vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EBADMSG;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int b64_value(unsigned char c)
{
	const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(digits, c) : NULL;
	return p ? (int)(p - digits) : -1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct vault_pubkey *)a)->name,
	              ((const struct vault_pubkey *)b)->name);
}

/* Checks one key s[0..len) (no blanks around it) at line, column col; on success *ret. */
static int parse_key(const char *s, size_t len, const char *file, size_t line, size_t col,
                     struct vault_pubkey *ret, char *err, size_t err_size)
{
	const char *plus = memchr(s, '+', len);
	size_t nlen, blen;
	const char *b64;
	int type;

	if (len >= 10 && memcmp(s, "-----BEGIN", 10) == 0)
		return fail(err, err_size, file, line, col,
		            "a PEM key: write the log's key as ORIGIN+KEYID+BASE64 (what "
		            "`evidentctl checkpoint --key` prints)");
	if (!plus)
		return fail(err, err_size, file, line, col,
		            "no '+': a verifier key ORIGIN+KEYID+BASE64 expected");
	nlen = (size_t)(plus - s);
	if (nlen == 0)
		return fail(err, err_size, file, line, col, "empty origin before the first '+'");
	if (nlen > VAULT_ORIGIN_MAX)
		return fail(err, err_size, file, line, col, "origin of %zu bytes, at most %d", nlen,
		            VAULT_ORIGIN_MAX);
	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(err, err_size, file, line, col + i,
			            "control character 0x%02x in the origin", (unsigned char)s[i]);
	for (size_t i = 1; i <= 9; i++) {
		char c = nlen + i < len ? s[nlen + i] : '\0';
		if (i < 9 ? !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) : c != '+')
			return fail(err, err_size, file, line, col + nlen + i,
			            "key id: 8 lowercase hex digits and a '+' expected after the "
			            "origin");
	}
	b64 = s + nlen + 10;
	blen = len - nlen - 10;
	for (size_t i = 0; i < blen; i++)
		if (b64_value((unsigned char)b64[i]) < 0)
			return fail(err, err_size, file, line, col + nlen + 10 + i,
			            "key: character 0x%02x is not base64", (unsigned char)b64[i]);
	if (blen != VKEY_B64_LEN)
		return fail(err, err_size, file, line, col + nlen + 10,
		            "key: %zu base64 characters, %d expected (the type byte and a 32-byte "
		            "Ed25519 key)",
		            blen, VKEY_B64_LEN);
	type = b64_value((unsigned char)b64[0]) << 2 | b64_value((unsigned char)b64[1]) >> 4;
	if (type == VAULT_KEY_COSIGNATURE_V1)
		return fail(err, err_size, file, line, col + nlen + 10,
		            "a witness cosignature key (type 0x04): a trust file lists logs' "
		            "checkpoint keys (type 0x01)");
	if (type != VAULT_KEY_ED25519)
		return fail(err, err_size, file, line, col + nlen + 10,
		            "signature type 0x%02x: a log's checkpoint key has type 0x01 (Ed25519)",
		            (unsigned)type);
	if (vault_pubkey_parse(s, len, NULL, ret) < 0)
		return fail(err, err_size, file, line, col + nlen + 1,
		            "the key id does not match the origin and the key (a typo, or another "
		            "log's key?)");
	return 0;
}

int witness_trust_parse(const char *text, size_t len, const char *filename,
                        struct witness_trust *ret, char *err, size_t err_size)
{
	const char *p = text, *end = text + len;
	struct witness_trust t = {0};
	size_t cap = 0, *lines = NULL, line = 0;
	int rc = 0;

	while (p < end && rc == 0) {
		const char *bol = p, *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *e = nl ? nl : end;
		struct vault_pubkey k;

		line++;
		p = nl ? nl + 1 : end;
		while (s < e && is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			e--;
		if (s == e || *s == '#')
			continue;
		for (const char *c = s; c < e && rc == 0; c++)
			if (is_blank(*c))
				rc =
				    fail(err, err_size, filename, line, (size_t)(c - bol) + 1,
				         "text after the key (one key a line; comments on lines of "
				         "their own)");
		if (rc == 0)
			rc = parse_key(s, (size_t)(e - s), filename, line, (size_t)(s - bol) + 1,
			               &k, err, err_size);
		for (size_t i = 0; i < t.n && rc == 0; i++)
			if (strcmp(t.keys[i].name, k.name) == 0 &&
			    memcmp(t.keys[i].key, k.key, sizeof(k.key)) == 0)
				rc = fail(err, err_size, filename, line, (size_t)(s - bol) + 1,
				          "the same key as on line %zu", lines[i]);
		if (rc == 0 && t.n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct vault_pubkey *nk = realloc(t.keys, ncap * sizeof(*nk));
			size_t *nlines = nk ? realloc(lines, ncap * sizeof(*nlines)) : NULL;
			if (nk)
				t.keys = nk;
			if (nlines)
				lines = nlines;
			if (!nk || !nlines)
				rc = -ENOMEM;
			else
				cap = ncap;
		}
		if (rc == 0) {
			lines[t.n] = line;
			t.keys[t.n++] = k;
		}
	}
	free(lines);
	if (rc < 0) {
		witness_trust_deinit(&t);
		return rc;
	}
	if (t.n > 1)
		qsort(t.keys, t.n, sizeof(*t.keys), by_name);
	*ret = t;
	return 0;
}

void witness_trust_deinit(struct witness_trust *t)
{
	free(t->keys);
	*t = (struct witness_trust){0};
}

size_t witness_trust_find(const struct witness_trust *t, const char *origin,
                          const struct vault_pubkey **ret_first)
{
	size_t lo = 0, hi = t->n, first;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(t->keys[mid].name, origin) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (hi < t->n && strcmp(t->keys[hi].name, origin) == 0)
		hi++;
	if (hi == first)
		return 0;
	*ret_first = &t->keys[first];
	return hi - first;
}

int witness_trust_load(const char *path, struct witness_trust *ret, char *err, size_t err_size)
{
	char *text = malloc(WITNESS_TRUST_MAX + 1);
	FILE *f;
	size_t len;
	int rc;

	if (!text)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		free(text);
		return rc;
	}
	len = fread(text, 1, WITNESS_TRUST_MAX + 1, f);
	rc = ferror(f) ? -EIO : len > WITNESS_TRUST_MAX ? -EFBIG : 0;
	fclose(f);
	if (rc == 0)
		rc = witness_trust_parse(text, len, path, ret, err, err_size);
	free(text);
	return rc;
}
