/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 (RFC 6962 leaf and node hashing), hex and base64. The only users of OpenSSL's
 * digest API in the vault. Hot paths keep one EVP_MD_CTX with a pre-fetched EVP_MD: OpenSSL 3
 * otherwise looks the algorithm up on every call, which costs more than hashing 100 bytes. */
#include <errno.h>
#include <string.h>

#include "internal.h"

int vault__hasher_init(struct vault__hasher *h, const EVP_MD *md)
{
	h->md = md ? md : EVP_sha256();
	h->ctx = EVP_MD_CTX_new();
	return h->ctx ? 0 : -ENOMEM;
}

void vault__hasher_deinit(struct vault__hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int vault__sha256_2(struct vault__hasher *h, const void *a, size_t alen, const void *b, size_t blen,
                    uint8_t out[32])
{
	unsigned int n = 0;

	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 ||
	    (alen && EVP_DigestUpdate(h->ctx, a, alen) != 1) ||
	    (blen && EVP_DigestUpdate(h->ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != 32)
		return -EIO;
	return 0;
}

int vault__sha256(struct vault__hasher *h, const void *data, size_t len, uint8_t out[32])
{
	return vault__sha256_2(h, data, len, NULL, 0, out);
}

int vault__hash_leaf(struct vault__hasher *h, const void *data, size_t len, uint8_t out[32])
{
	static const uint8_t zero = 0x00;
	return vault__sha256_2(h, &zero, 1, data, len, out);
}

int vault__hash_children(struct vault__hasher *h, const uint8_t l[32], const uint8_t r[32],
                         uint8_t out[32])
{
	uint8_t buf[65];

	buf[0] = 0x01;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	return vault__sha256(h, buf, sizeof(buf), out);
}

/* Public one-shot versions: a context per call keeps them thread-safe without globals. */
#define ONE_SHOT(call)                                 \
	do {                                           \
		struct vault__hasher h;                \
		int r_ = vault__hasher_init(&h, NULL); \
		if (r_ < 0)                            \
			return r_;                     \
		r_ = (call);                           \
		vault__hasher_deinit(&h);              \
		return r_;                             \
	} while (0)

int vault_sha256(const void *data, size_t len, uint8_t ret[VAULT_HASH_LEN])
{
	ONE_SHOT(vault__sha256(&h, data, len, ret));
}

int vault_hash_leaf(const void *data, size_t len, uint8_t ret[VAULT_HASH_LEN])
{
	ONE_SHOT(vault__hash_leaf(&h, data, len, ret));
}

int vault_hash_children(const uint8_t left[VAULT_HASH_LEN], const uint8_t right[VAULT_HASH_LEN],
                        uint8_t ret[VAULT_HASH_LEN])
{
	ONE_SHOT(vault__hash_children(&h, left, right, ret));
}

void vault_hash_empty(uint8_t ret[VAULT_HASH_LEN])
{
	static const uint8_t empty[32] = {
	    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	    0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	    0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	memcpy(ret, empty, 32);
}

char *vault_hex(const uint8_t h[VAULT_HASH_LEN], char out[2 * VAULT_HASH_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < VAULT_HASH_LEN; i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 15];
	}
	out[2 * VAULT_HASH_LEN] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vault_unhex(const char *s, size_t len, uint8_t ret[VAULT_HASH_LEN])
{
	uint8_t tmp[VAULT_HASH_LEN];

	if (!s || len != 2 * VAULT_HASH_LEN)
		return -EINVAL;
	for (size_t i = 0; i < VAULT_HASH_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(ret, tmp, sizeof(tmp));
	return 0;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t vault__b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = b64chars[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

ssize_t vault__b64_decode(const char *in, size_t len, uint8_t *out, size_t out_size)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -EBADMSG;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -EBADMSG; /* data after padding */
			v[k] = b64val(in[i + k]);
			if (v[k] < 0)
				return -EBADMSG;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		             (uint32_t)v[3];
		/* Canonical form: bits beyond the data must be zero. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -EBADMSG;
		size_t n = 3 - (size_t)pad;
		if (o + n > out_size)
			return -EBADMSG;
		out[o++] = (uint8_t)(w >> 16);
		if (n > 1)
			out[o++] = (uint8_t)(w >> 8);
		if (n > 2)
			out[o++] = (uint8_t)w;
	}
	return (ssize_t)o;
}
