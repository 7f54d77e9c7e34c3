/* SPDX-License-Identifier: Apache-2.0 */
/* Ed25519 keys and C2SP signed notes carrying tlog-checkpoint bodies. The only user of
 * OpenSSL's signature API in the vault.
 *
 * Note layout (c2sp.org/signed-note): text ending in '\n', one blank line, then signature
 * lines "\u2014 NAME BASE64(keyid[4] || sig[64])\n". The key id is the first four bytes of
 * SHA-256(NAME || '\n' || 0x01 || pubkey). A verifier key string is
 * "NAME+HEXID+BASE64(0x01 || pubkey)". */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define EMDASH        "\xe2\x80\x94"
/* At most this many signature lines are examined (c2sp.org/signed-note lets verifiers cap
 * the count; a note with more is refused rather than costing unbounded work). */
#define NOTE_MAX_SIGS 100

static bool valid_key_name(const char *s, size_t len)
{
	if (len == 0 || len > VAULT_ORIGIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* No whitespace, no '+', no control characters (the name sits in a key string
		 * between '+' separators and in a signature line between spaces). */
		if (c <= 0x20 || c == '+' || c == 0x7f)
			return false;
	}
	return true;
}

uint8_t vault__key_type(const struct vault_pubkey *key)
{
	return key->type ? key->type : VAULT_KEY_ED25519;
}

int vault__key_id(const char *name, uint8_t type, const uint8_t key[32], uint8_t ret[4])
{
	size_t nlen = strlen(name);
	uint8_t buf[VAULT_ORIGIN_MAX + 2 + 32], h[32];
	int rc;

	if (nlen > VAULT_ORIGIN_MAX)
		return -EINVAL;
	memcpy(buf, name, nlen);
	buf[nlen] = '\n';
	buf[nlen + 1] = type;
	memcpy(buf + nlen + 2, key, 32);
	rc = vault_sha256(buf, nlen + 2 + 32, h);
	if (rc < 0)
		return rc;
	memcpy(ret, h, 4);
	return 0;
}

int vault__pubkey_from_pkey(EVP_PKEY *pkey, const char *name, struct vault_pubkey *ret)
{
	struct vault_pubkey k = {0};
	size_t klen = 32;

	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
		return -EBADMSG;
	if (EVP_PKEY_get_raw_public_key(pkey, k.key, &klen) != 1 || klen != 32)
		return -EIO;
	if (strlen(name) > VAULT_ORIGIN_MAX)
		return -EINVAL;
	strcpy(k.name, name);
	k.type = VAULT_KEY_ED25519;
	if (vault__key_id(k.name, k.type, k.key, k.id) < 0)
		return -EIO;
	*ret = k;
	return 0;
}

int vault_pubkey_format(const struct vault_pubkey *key, char *buf, size_t size)
{
	uint8_t raw[33];
	char b64[64];
	int n;

	raw[0] = vault__key_type(key);
	memcpy(raw + 1, key->key, 32);
	vault__b64_encode(raw, sizeof(raw), b64);
	n = snprintf(buf, size, "%s+%02x%02x%02x%02x+%s", key->name, key->id[0], key->id[1],
	             key->id[2], key->id[3], b64);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

static EVP_PKEY *pkey_from_raw(const uint8_t key[32])
{
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
}

int vault_pubkey_pem(const struct vault_pubkey *key, char *buf, size_t size)
{
	EVP_PKEY *pk = pkey_from_raw(key->key);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = -EIO;

	if (!pk || !bio)
		goto out;
	if (PEM_write_bio_PUBKEY(bio, pk) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n < 0)
		goto out;
	if ((size_t)n >= size) {
		rc = -ENOBUFS;
		goto out;
	}
	memcpy(buf, data, (size_t)n);
	buf[n] = '\0';
	rc = (int)n;
out:
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return rc;
}

static int pubkey_parse_pem(const char *text, size_t len, const char *default_name,
                            struct vault_pubkey *ret)
{
	BIO *bio;
	EVP_PKEY *pk;
	int rc;

	if (len > INT32_MAX)
		return -EBADMSG;
	bio = BIO_new_mem_buf(text, (int)len);
	if (!bio)
		return -ENOMEM;
	pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!pk)
		return -EBADMSG;
	rc = vault__pubkey_from_pkey(pk, default_name ? default_name : "", ret);
	EVP_PKEY_free(pk);
	if (rc == -EINVAL || rc == -EIO)
		rc = -EBADMSG;
	return rc;
}

int vault_pubkey_parse(const char *text, size_t len, const char *default_name,
                       struct vault_pubkey *ret)
{
	struct vault_pubkey k = {0};
	const char *p1, *p2, *end;
	uint8_t raw[40], id[4];
	ssize_t n;

	if (!text)
		return -EINVAL;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
	                   text[len - 1] == '\t'))
		len--;
	if (len >= 10 && memcmp(text, "-----BEGIN", 10) == 0)
		return pubkey_parse_pem(text, len, default_name, ret);
	if (memchr(text, '\n', len))
		return -EBADMSG;
	end = text + len;
	/* Names never contain '+' but base64 may: split at the first two. */
	p1 = memchr(text, '+', len);
	if (!p1 || !valid_key_name(text, (size_t)(p1 - text)) || end - p1 < 10 || p1[9] != '+')
		return -EBADMSG;
	p2 = p1 + 9;
	for (int i = 0; i < 4; i++) {
		unsigned v;
		char hx[3] = {p1[1 + 2 * i], p1[2 + 2 * i], 0};
		if (!strchr("0123456789abcdef", hx[0]) || !strchr("0123456789abcdef", hx[1]) ||
		    !hx[0] || !hx[1] || sscanf(hx, "%2x", &v) != 1)
			return -EBADMSG;
		id[i] = (uint8_t)v;
	}
	n = vault__b64_decode(p2 + 1, (size_t)(end - p2 - 1), raw, sizeof(raw));
	if (n != 33 || (raw[0] != VAULT_KEY_ED25519 && raw[0] != VAULT_KEY_COSIGNATURE_V1))
		return -EBADMSG;
	memcpy(k.name, text, (size_t)(p1 - text));
	memcpy(k.key, raw + 1, 32);
	k.type = raw[0];
	if (vault__key_id(k.name, k.type, k.key, k.id) < 0)
		return -EBADMSG;
	if (memcmp(k.id, id, 4) != 0)
		return -EBADMSG;
	*ret = k;
	return 0;
}

/* ------------------------------------------------------------------ private key file */

int vault__key_load_or_create(const char *path, bool create, EVP_PKEY **ret)
{
	EVP_PKEY *pk = NULL;
	struct stat st;
	FILE *f;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
		if (!kctx)
			return -ENOMEM;
		if (EVP_PKEY_keygen_init(kctx) != 1 || EVP_PKEY_keygen(kctx, &pk) != 1) {
			EVP_PKEY_CTX_free(kctx);
			return -EIO;
		}
		EVP_PKEY_CTX_free(kctx);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			rc = -errno;
			EVP_PKEY_free(pk);
			return rc;
		}
		f = fdopen(fd, "w");
		if (!f) {
			rc = -errno;
			close(fd);
			unlink(path);
			EVP_PKEY_free(pk);
			return rc;
		}
		if (PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0 ||
		    fsync(fileno(f)) != 0) {
			fclose(f);
			unlink(path);
			EVP_PKEY_free(pk);
			return -EIO;
		}
		if (fclose(f) != 0) {
			unlink(path);
			EVP_PKEY_free(pk);
			return -EIO;
		}
		*ret = pk;
		return 0;
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* Like ssh: a signing key others can read is not a secret any more. */
	if (st.st_mode & 077) {
		close(fd);
		return -EPERM;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = -errno;
		close(fd);
		return rc;
	}
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pk)
		return -EBADMSG;
	if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pk);
		return -EBADMSG;
	}
	*ret = pk;
	return 0;
}

/* ------------------------------------------------------------------ signing */

int vault__note_sign(EVP_PKEY *pkey, const struct vault_pubkey *pub, const char *body,
                     size_t body_len, char **ret_note)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t sig[4 + 64];
	size_t siglen = 64;
	char b64[((sizeof(sig) + 2) / 3) * 4 + 1];
	char *note;
	size_t nlen;
	int rc = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig + 4, &siglen, (const uint8_t *)body, body_len) != 1 ||
	    siglen != 64)
		goto out;
	memcpy(sig, pub->id, 4);
	vault__b64_encode(sig, sizeof(sig), b64);
	nlen = body_len + 1 + strlen(EMDASH) + 1 + strlen(pub->name) + 1 + strlen(b64) + 1;
	note = malloc(nlen + 1);
	if (!note) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(note, body, body_len);
	snprintf(note + body_len, nlen + 1 - body_len, "\n" EMDASH " %s %s\n", pub->name, b64);
	*ret_note = note;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int ed25519_verify(const uint8_t key[32], const uint8_t sig[64], const char *msg, size_t len)
{
	EVP_PKEY *pk = pkey_from_raw(key);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -EIO;

	if (!pk || !ctx)
		goto out;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) != 1)
		goto out;
	rc = EVP_DigestVerify(ctx, sig, 64, (const uint8_t *)msg, len) == 1 ? 0 : -EKEYREJECTED;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return rc;
}

/* ------------------------------------------------------------------ checkpoints */

int vault_checkpoint_body(const struct vault_checkpoint *cp, char *buf, size_t size)
{
	char b64[48];
	int n;

	vault__b64_encode(cp->root, 32, b64);
	n = snprintf(buf, size, "%s\n%" PRIu64 "\n%s\n", cp->origin, cp->size, b64);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

static bool parse_u64_decimal(const char *s, size_t len, uint64_t *ret)
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

/* Parses the checkpoint body text[0..len) (ends in '\n'). */
static int parse_body(const char *text, size_t len, struct vault_checkpoint *ret)
{
	struct vault_checkpoint cp = {0};
	const char *p = text, *end = text + len, *nl;
	uint8_t root[40];

	/* origin */
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || nl == p || (size_t)(nl - p) > VAULT_ORIGIN_MAX)
		return -EBADMSG;
	for (const char *c = p; c < nl; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -EBADMSG;
	memcpy(cp.origin, p, (size_t)(nl - p));
	p = nl + 1;
	/* size */
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || !parse_u64_decimal(p, (size_t)(nl - p), &cp.size))
		return -EBADMSG;
	p = nl + 1;
	/* root */
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl || vault__b64_decode(p, (size_t)(nl - p), root, sizeof(root)) != 32)
		return -EBADMSG;
	memcpy(cp.root, root, 32);
	p = nl + 1;
	/* optional extension lines: non-empty, no control characters */
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || nl == p)
			return -EBADMSG;
		for (const char *c = p; c < nl; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return -EBADMSG;
		p = nl + 1;
	}
	*ret = cp;
	return 0;
}

/* c2sp.org/signed-note: a note is valid UTF-8 without control characters other than '\n'. */
static bool valid_note_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p, need;
		uint32_t cp;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\n') || c == 0x7f)
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= need)
			return false;
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += need + 1;
	}
	return true;
}

/* Whether a signature line named name[0..nlen) with key id sig[0..4) claims to be by key. A key
 * parsed from PEM has no name: it matches any line whose id is right for that line's name. */
static bool line_is_by(const struct vault_pubkey *key, const char *name, size_t nlen,
                       const uint8_t *sig)
{
	char nbuf[VAULT_ORIGIN_MAX + 1];
	uint8_t id[4];

	if (key->name[0] != '\0')
		return nlen == strlen(key->name) && memcmp(name, key->name, nlen) == 0 &&
		       memcmp(sig, key->id, 4) == 0;
	memcpy(nbuf, name, nlen);
	nbuf[nlen] = '\0';
	return vault__key_id(nbuf, vault__key_type(key), key->key, id) == 0 &&
	       memcmp(sig, id, 4) == 0;
}

int vault_note_split(const char *note, size_t len, size_t *ret_body_len)
{
	const char *split = NULL;

	if (!note || len == 0 || len > VAULT_NOTE_MAX || note[len - 1] != '\n' ||
	    !valid_note_text(note, len))
		return -EBADMSG;
	/* The signatures follow the last blank line. */
	for (size_t i = len - 1; i > 0; i--)
		if (note[i] == '\n' && note[i - 1] == '\n') {
			split = note + i - 1;
			break;
		}
	if (!split || split == note || split + 2 >= note + len)
		return -EBADMSG; /* no text, or no signature line at all */
	*ret_body_len = (size_t)(split - note) + 1;
	return 0;
}

/* One signature line of a note: the key name, and the decoded key id || signature bytes. */
struct sigline {
	const char *start; /* the line, from the em dash to its '\n' included */
	size_t len;
	const char *name;
	size_t name_len;
	uint8_t sig[4 + 8 + 64 + 4]; /* room for a cosignature; longer ones are not ours */
	ssize_t sig_len;
};

/* Calls fn for each signature line of note (after body_len + 1), stopping at the first
 * negative return. Returns 0, fn's error, or -EBADMSG for a malformed line or too many. */
static int each_sigline(const char *note, size_t len, size_t body_len,
                        int (*fn)(void *ud, const struct sigline *l), void *ud)
{
	const char *p = note + body_len + 1, *end = note + len;
	size_t mlen = strlen(EMDASH " ");
	int sigs = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		struct sigline l = {.start = p};
		int rc;

		if (!nl || ++sigs > NOTE_MAX_SIGS)
			return -EBADMSG;
		if ((size_t)(nl - p) < mlen || memcmp(p, EMDASH " ", mlen) != 0)
			return -EBADMSG;
		l.name = p + mlen;
		sp = memchr(l.name, ' ', (size_t)(nl - l.name));
		if (!sp || !valid_key_name(l.name, (size_t)(sp - l.name)))
			return -EBADMSG;
		l.name_len = (size_t)(sp - l.name);
		/* A signature longer than any we know (ML-DSA cosignatures, ...) is by a key we
		 * do not have: it is skipped, never matched. */
		if ((size_t)(nl - sp - 1) > ((sizeof(l.sig) + 2) / 3) * 4) {
			l.sig_len = 0;
		} else {
			l.sig_len =
			    vault__b64_decode(sp + 1, (size_t)(nl - sp - 1), l.sig, sizeof(l.sig));
			if (l.sig_len < 5)
				return -EBADMSG;
		}
		l.len = (size_t)(nl + 1 - p);
		rc = fn(ud, &l);
		if (rc < 0)
			return rc;
		p = nl + 1;
	}
	return 0;
}

struct parse_ctx {
	const struct vault_pubkey *key;
	const char *note;
	size_t body_len;
	bool found;
};

static int parse_line(void *ud, const struct sigline *l)
{
	struct parse_ctx *c = ud;
	int rc;

	if (!c->key || l->sig_len != 68 || !line_is_by(c->key, l->name, l->name_len, l->sig))
		return 0;
	c->found = true;
	rc = ed25519_verify(c->key->key, l->sig + 4, c->note, c->body_len);
	return rc;
}

int vault_checkpoint_parse(const char *note, size_t len, const struct vault_pubkey *key,
                           struct vault_checkpoint *ret)
{
	struct vault_checkpoint cp;
	struct parse_ctx c = {.key = key, .note = note};
	int rc;

	if (key && vault__key_type(key) != VAULT_KEY_ED25519)
		return -EINVAL; /* a witness key never stands for the log */
	rc = vault_note_split(note, len, &c.body_len);
	if (rc < 0)
		return rc;
	rc = parse_body(note, c.body_len, &cp);
	if (rc < 0)
		return rc;
	rc = each_sigline(note, len, c.body_len, parse_line, &c);
	if (rc < 0)
		return rc;
	if (key && !c.found)
		return -ENOKEY;
	*ret = cp;
	return 0;
}

/* ------------------------------------------------------------------ cosignatures */

#define COSIG_HEADER "cosignature/v1\ntime "

/* The message a tlog-cosignature/v1 signs: "cosignature/v1\ntime T\n" || body. */
static char *cosig_message(const char *body, size_t body_len, uint64_t timestamp, size_t *ret_len)
{
	char head[64];
	int h = snprintf(head, sizeof(head), COSIG_HEADER "%" PRIu64 "\n", timestamp);
	char *msg = malloc((size_t)h + body_len);

	if (!msg)
		return NULL;
	memcpy(msg, head, (size_t)h);
	memcpy(msg + h, body, body_len);
	*ret_len = (size_t)h + body_len;
	return msg;
}

struct cosig_ctx {
	const struct vault_pubkey *keys;
	size_t n;
	const char *note;
	size_t body_len;
	uint64_t now;
	struct vault_cosig_check *out; /* n elements */
};

static int cosig_line(void *ud, const struct sigline *l)
{
	struct cosig_ctx *c = ud;

	if (l->sig_len != 4 + 8 + 64)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		const struct vault_pubkey *k = &c->keys[i];
		uint64_t ts;
		size_t mlen;
		char *msg;
		int rc;

		if (c->out[i].valid || vault__key_type(k) != VAULT_KEY_COSIGNATURE_V1 ||
		    !line_is_by(k, l->name, l->name_len, l->sig))
			continue;
		ts = vault__rd64(l->sig + 4);
		if (ts > INT64_MAX || (c->now && ts > c->now + VAULT_COSIG_MAX_SKEW))
			continue;
		msg = cosig_message(c->note, c->body_len, ts, &mlen);
		if (!msg)
			return -ENOMEM;
		rc = ed25519_verify(k->key, l->sig + 12, msg, mlen);
		free(msg);
		if (rc == -EKEYREJECTED)
			continue;
		if (rc < 0)
			return rc;
		c->out[i] = (struct vault_cosig_check){
		    .valid = true,
		    .timestamp = ts,
		    .line_off = (size_t)(l->start - c->note),
		    .line_len = l->len,
		};
	}
	return 0;
}

int vault_cosignatures_verify(const char *note, size_t len, const struct vault_pubkey *keys,
                              size_t n, uint64_t now, struct vault_cosig_check *ret)
{
	struct vault_checkpoint cp;
	struct cosig_ctx c = {.keys = keys, .n = n, .note = note, .now = now};
	int rc, count = 0;

	if (n > 0 && !keys)
		return -EINVAL;
	rc = vault_note_split(note, len, &c.body_len);
	if (rc < 0)
		return rc;
	rc = parse_body(note, c.body_len, &cp);
	if (rc < 0)
		return rc;
	c.out = calloc(n ? n : 1, sizeof(*c.out));
	if (!c.out)
		return -ENOMEM;
	rc = each_sigline(note, len, c.body_len, cosig_line, &c);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			count += c.out[i].valid;
		if (ret)
			memcpy(ret, c.out, n * sizeof(*ret));
	}
	free(c.out);
	return rc < 0 ? rc : count;
}

struct vault_signer {
	EVP_PKEY *pkey;
	struct vault_pubkey pub;
};

int vault_signer_load(const char *path, bool create, const char *name, uint8_t type,
                      struct vault_signer **ret)
{
	struct vault_signer *s;
	int rc;

	if (!path || !name || !valid_key_name(name, strlen(name)) ||
	    (type != VAULT_KEY_ED25519 && type != VAULT_KEY_COSIGNATURE_V1))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rc = vault__key_load_or_create(path, create, &s->pkey);
	if (rc == 0)
		rc = vault__pubkey_from_pkey(s->pkey, name, &s->pub);
	if (rc == 0) {
		s->pub.type = type;
		rc = vault__key_id(name, type, s->pub.key, s->pub.id) < 0 ? -EIO : 0;
	}
	if (rc < 0) {
		vault_signer_free(s);
		return rc;
	}
	*ret = s;
	return 0;
}

void vault_signer_free(struct vault_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->pkey);
	free(s);
}

const struct vault_pubkey *vault_signer_pubkey(const struct vault_signer *s)
{
	return &s->pub;
}

int vault_signer_cosign(const struct vault_signer *s, const char *body, size_t body_len,
                        uint64_t timestamp, char *line, size_t size)
{
	EVP_MD_CTX *ctx;
	uint8_t sig[4 + 8 + 64];
	size_t siglen = 64, mlen;
	char b64[((sizeof(sig) + 2) / 3) * 4 + 1], *msg;
	int rc = -EIO, n;

	if (s->pub.type != VAULT_KEY_COSIGNATURE_V1 || timestamp > INT64_MAX)
		return -EINVAL;
	msg = cosig_message(body, body_len, timestamp, &mlen);
	ctx = EVP_MD_CTX_new();
	if (!msg || !ctx) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig + 12, &siglen, (const uint8_t *)msg, mlen) != 1 || siglen != 64)
		goto out;
	memcpy(sig, s->pub.id, 4);
	vault__be64(sig + 4, timestamp);
	vault__b64_encode(sig, sizeof(sig), b64);
	n = snprintf(line, size, EMDASH " %s %s\n", s->pub.name, b64);
	rc = n < 0 || (size_t)n >= size ? -ENOBUFS : n;
out:
	EVP_MD_CTX_free(ctx);
	free(msg);
	return rc;
}
