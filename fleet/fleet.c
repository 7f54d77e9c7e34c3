/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet wire contract (fleet.h, FLEET.md): subject tokens, subjects, message ids and the
 * codec of fleet.proto with every check that needs no vault. */
#include "fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evident/invariant.h"
#include "fleet.pb-c.h"
#include "wirecheck.h"

#define COSIG_DASH "\xe2\x80\x94 " /* U+2014 EM DASH and a space: a note signature line */

static int bad(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a reason (when asked for) and returns -EBADMSG. */
static int bad(char *reason, size_t size, const char *fmt, ...)
{
	if (reason && size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, size, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static void clear_reason(char *reason, size_t size)
{
	if (reason && size)
		reason[0] = '\0';
}

/* ------------------------------------------------------------------ names */

int fleet_name_check(const char *name, size_t len, char *reason, size_t reason_size)
{
	bool nul;
	size_t at;

	clear_reason(reason, reason_size);
	if (!name || len == 0) {
		bad(reason, reason_size, "empty");
		return -EINVAL;
	}
	if (len > VAULT_ORIGIN_MAX) {
		bad(reason, reason_size, "%zu bytes, over %d", len, VAULT_ORIGIN_MAX);
		return -EINVAL;
	}
	at = wire_text_check((const uint8_t *)name, len, &nul);
	if (at < len) {
		bad(reason, reason_size, "%s at byte %zu", nul ? "NUL" : "invalid UTF-8", at);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];
		if (c < 0x20 || c == 0x7f) {
			bad(reason, reason_size, "control character 0x%02x at byte %zu", c, i);
			return -EINVAL;
		}
	}
	return 0;
}

static bool token_byte(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int fleet_subject_token(const char *origin, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = origin ? strlen(origin) : 0, n = 0;

	if (fleet_name_check(origin, len, NULL, 0) < 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)origin[i];
		size_t w = token_byte(c) ? 1 : 3;
		if (n + w >= size)
			return -ENOBUFS;
		if (w == 1) {
			buf[n++] = (char)c;
		} else {
			buf[n++] = '=';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		}
	}
	if (n >= size)
		return -ENOBUFS;
	buf[n] = '\0';
	INVARIANT(n < FLEET_TOKEN_MAX);
	return (int)n;
}

static int hex_upper(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fleet_subject_origin(const char *tok, size_t len, char *buf, size_t size)
{
	char out[VAULT_ORIGIN_MAX + 1];
	size_t n = 0;

	if (!tok || len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len;) {
		uint8_t c = (uint8_t)tok[i];
		if (n == VAULT_ORIGIN_MAX)
			return -EINVAL; /* longer than any origin */
		if (token_byte(c)) {
			out[n++] = (char)c;
			i++;
			continue;
		}
		if (c != '=' || len - i < 3)
			return -EINVAL;
		int hi = hex_upper(tok[i + 1]), lo = hex_upper(tok[i + 2]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		c = (uint8_t)(hi << 4 | lo);
		if (token_byte(c))
			return -EINVAL; /* not canonical: that byte is written as itself */
		out[n++] = (char)c;
		i += 3;
	}
	if (fleet_name_check(out, n, NULL, 0) < 0)
		return -EINVAL;
	if (n + 1 > size)
		return -ENOBUFS;
	memcpy(buf, out, n);
	buf[n] = '\0';
	return (int)n;
}

/* A subject prefix: NATS tokens of [A-Za-z0-9_-] separated by single dots. */
static bool prefix_valid(const char *prefix)
{
	size_t len = prefix ? strlen(prefix) : 0;

	if (len == 0 || len > FLEET_PREFIX_MAX || prefix[0] == '.' || prefix[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)prefix[i];
		if (c == '.' ? prefix[i + 1] == '.' : !token_byte(c))
			return false;
	}
	return true;
}

/* An auditor's name is a signed-note key name too: no spaces and no '+'. */
static int auditor_check(const char *name, size_t len, char *reason, size_t reason_size)
{
	int rc = fleet_name_check(name, len, reason, reason_size);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < len; i++)
		if (name[i] == ' ' || name[i] == '+') {
			bad(reason, reason_size, "'%c' at byte %zu (a key name has none)", name[i],
			    i);
			return -EINVAL;
		}
	return 0;
}

static const char *const kind_names[] = {
    [FLEET_ENTRY] = "entry",
    [FLEET_BLOB] = "blob",
    [FLEET_CHECKPOINT] = "checkpoint",
    [FLEET_COSIG] = "cosig",
};

static bool kind_valid(enum fleet_kind kind)
{
	return kind >= FLEET_ENTRY && kind <= FLEET_COSIG;
}

int fleet_subject(const char *prefix, const char *origin, enum fleet_kind kind, const char *auditor,
                  char *buf, size_t size)
{
	char tok[FLEET_TOKEN_MAX], atok[FLEET_TOKEN_MAX];
	int n;

	if (!kind_valid(kind) || !prefix_valid(prefix) ||
	    fleet_subject_token(origin, tok, sizeof(tok)) < 0)
		return -EINVAL;
	if (kind == FLEET_COSIG) {
		if (!auditor || auditor_check(auditor, strlen(auditor), NULL, 0) < 0 ||
		    fleet_subject_token(auditor, atok, sizeof(atok)) < 0)
			return -EINVAL;
		n = snprintf(buf, size, "%s.%s.cosig.%s", prefix, tok, atok);
	} else {
		n = snprintf(buf, size, "%s.%s.%s", prefix, tok, kind_names[kind]);
	}
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= size ? -ENOBUFS : n;
}

int fleet_subject_parse(const char *prefix, const char *subject, enum fleet_kind *kind,
                        char *origin, size_t origin_size, char *auditor, size_t auditor_size)
{
	char o[VAULT_ORIGIN_MAX + 1], a[VAULT_ORIGIN_MAX + 1];
	const char *p, *tok, *end, *ktok, *kend;
	size_t plen, slen;
	enum fleet_kind k = 0;
	int olen, alen = 0;

	if (!prefix_valid(prefix) || !subject || !kind || !origin)
		return -EINVAL;
	plen = strlen(prefix);
	slen = strnlen(subject, FLEET_SUBJECT_MAX);
	if (slen >= FLEET_SUBJECT_MAX || slen <= plen + 1 || memcmp(subject, prefix, plen) != 0 ||
	    subject[plen] != '.')
		return -EINVAL;
	tok = subject + plen + 1;
	end = strchr(tok, '.');
	if (!end)
		return -EINVAL;
	ktok = end + 1;
	kend = strchr(ktok, '.');
	size_t klen = kend ? (size_t)(kend - ktok) : strlen(ktok);
	for (int i = FLEET_ENTRY; i <= FLEET_COSIG; i++)
		if (strlen(kind_names[i]) == klen && memcmp(kind_names[i], ktok, klen) == 0)
			k = i;
	if (!k)
		return -EINVAL;
	/* a cosig subject has exactly one more token, the others none */
	if ((k == FLEET_COSIG) != (kend != NULL))
		return -EINVAL;
	olen = fleet_subject_origin(tok, (size_t)(end - tok), o, sizeof(o));
	if (olen < 0)
		return -EINVAL;
	if (k == FLEET_COSIG) {
		p = kend + 1;
		if (strchr(p, '.') || !auditor)
			return -EINVAL;
		alen = fleet_subject_origin(p, strlen(p), a, sizeof(a));
		if (alen < 0 || auditor_check(a, (size_t)alen, NULL, 0) < 0)
			return -EINVAL;
		if ((size_t)alen + 1 > auditor_size)
			return -ENOBUFS;
	}
	if ((size_t)olen + 1 > origin_size)
		return -ENOBUFS;
	memcpy(origin, o, (size_t)olen + 1);
	if (k == FLEET_COSIG)
		memcpy(auditor, a, (size_t)alen + 1);
	*kind = k;
	return 0;
}

int fleet_msg_id(enum fleet_kind kind, const char *origin, uint64_t number,
                 const uint8_t hash[VAULT_HASH_LEN], const char *auditor, char *buf, size_t size)
{
	char hex[2 * VAULT_HASH_LEN + 1];
	int n;

	if (!kind_valid(kind) || !origin || fleet_name_check(origin, strlen(origin), NULL, 0) < 0)
		return -EINVAL;
	if (kind == FLEET_COSIG) {
		if (!auditor || auditor_check(auditor, strlen(auditor), NULL, 0) < 0)
			return -EINVAL;
		n = snprintf(buf, size, "%s/s/%s/%" PRIu64, origin, auditor, number);
	} else {
		if (!hash)
			return -EINVAL;
		vault_hex(hash, hex);
		if (kind == FLEET_BLOB)
			n = snprintf(buf, size, "%s/b/%s/%" PRIu64, origin, hex, number);
		else
			n = snprintf(buf, size, "%s/%c/%" PRIu64 "/%.16s", origin,
			             kind == FLEET_ENTRY ? 'e' : 'c', number, hex);
	}
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= size ? -ENOBUFS : n;
}

/* ------------------------------------------------------------------ codec helpers */

/* Packs a message into a malloc'd buffer. */
static int pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return -ENOMEM;
	INVARIANT(protobuf_c_message_pack(m, buf) == len);
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int origin_check(const char *what, const char *origin, const char *expect, char *reason,
                        size_t reason_size)
{
	char err[96];

	if (!origin)
		return bad(reason, reason_size, "%s: no origin", what);
	if (fleet_name_check(origin, strlen(origin), err, sizeof(err)) < 0)
		return bad(reason, reason_size, "%s: origin: %s", what, err);
	if (expect && strcmp(origin, expect) != 0)
		return bad(reason, reason_size,
		           "%s: origin \"%s\" is not the subject's origin \"%s\"", what, origin,
		           expect);
	return 0;
}

/* The steps every decoder takes first: the strings on the wire (protobuf-c would cut a string
 * at a NUL and checks no UTF-8), the unpack, and the origin (field "origin" of every fleet
 * message), equal to expect when that is not NULL. On error nothing is left allocated. */
static int unpack(const char *what, const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                  size_t len, const char *expect, ProtobufCMessage **ret, char *reason,
                  size_t reason_size)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(desc, "origin");
	char err[160];
	int rc;

	INVARIANT(f && f->type == PROTOBUF_C_TYPE_STRING);
	if (!buf && len)
		return bad(reason, reason_size, "%s: no bytes", what);
	rc = wire_check_strings(desc, buf, len, err, sizeof(err));
	if (rc < 0)
		return bad(reason, reason_size, "%s: %s", what, err);
	*ret = protobuf_c_message_unpack(desc, NULL, len, buf);
	if (!*ret)
		/* wire_check_strings accepted the framing: what remains is a wrong wire type, a
		 * bad varint or an allocation failure; protobuf-c does not tell them apart */
		return bad(reason, reason_size, "%s: not a %s protobuf message", what,
		           desc->short_name);
	rc = origin_check(what, *(char **)((char *)*ret + f->offset), expect, reason, reason_size);
	if (rc < 0)
		protobuf_c_message_free_unpacked(*ret, NULL);
	return rc;
}

/* ------------------------------------------------------------------ entries */

struct entry_priv {
	Evident__Fleet__FleetEntry *msg;
	struct fleet_blob_ref blobs[];
};

/* The checks encode and decode share. With hash, the payload is checked against the leaf's
 * commitment. e->decoded must hold the decoded leaf. */
static int entry_check(const struct fleet_entry *e, bool hash, char *reason, size_t reason_size)
{
	const struct vault_leaf *l = &e->decoded;

	if (l->type == 0)
		return bad(reason, reason_size, "entry %" PRIu64 ": leaf type 0", l->seq);
	if (e->payload && e->payload_len != l->payload_len)
		return bad(reason, reason_size,
		           "entry %" PRIu64 ": payload is %zu bytes, the leaf says %" PRIu64,
		           l->seq, e->payload_len, l->payload_len);
	if (e->payload && l->version == 2 && !e->nonce)
		return bad(reason, reason_size,
		           "entry %" PRIu64 ": v2 leaf with a payload but no nonce", l->seq);
	if (e->nonce && (l->version != 2 || !e->payload))
		return bad(reason, reason_size, "entry %" PRIu64 ": a nonce %s", l->seq,
		           l->version != 2 ? "with a v1 leaf" : "without its payload");
	if (!e->payload && l->type == VAULT_ENTRY_PRUNE)
		return bad(reason, reason_size,
		           "entry %" PRIu64 ": a prune entry without its payload", l->seq);
	if (e->payload && l->type == VAULT_ENTRY_PRUNE) {
		struct vault_prune_info pi;
		if (vault_prune_decode(e->payload, e->payload_len, &pi) < 0)
			return bad(reason, reason_size,
			           "entry %" PRIu64 ": prune payload does not decode", l->seq);
		if (pi.target_seq >= l->seq)
			return bad(reason, reason_size,
			           "entry %" PRIu64 ": prunes seq %" PRIu64 ", not an earlier one",
			           l->seq, pi.target_seq);
	}
	if (e->subject) {
		size_t sl = strlen(e->subject);
		if (sl == 0 || sl > VAULT_SUBJECT_MAX)
			return bad(reason, reason_size,
			           "entry %" PRIu64 ": subject is %zu bytes, not 1..%d", l->seq, sl,
			           VAULT_SUBJECT_MAX);
	}
	if (e->n_blobs > FLEET_BLOBS_MAX)
		return bad(reason, reason_size, "entry %" PRIu64 ": %zu blob references, over %d",
		           l->seq, e->n_blobs, FLEET_BLOBS_MAX);
	for (size_t i = 0; i < e->n_blobs; i++)
		if (e->blobs[i].size > FLEET_BLOB_MAX)
			return bad(reason, reason_size,
			           "entry %" PRIu64 ": blob %zu: size %" PRIu64 " over %llu",
			           l->seq, i, e->blobs[i].size, (unsigned long long)FLEET_BLOB_MAX);
	if (hash && e->payload) {
		uint8_t c[VAULT_HASH_LEN];
		int rc =
		    vault_payload_commitment(l->version, e->nonce, e->payload, e->payload_len, c);
		if (rc < 0)
			return rc == -EINVAL ? bad(reason, reason_size, "entry: commitment") : rc;
		if (memcmp(c, l->payload_hash, VAULT_HASH_LEN) != 0)
			return bad(reason, reason_size,
			           "entry %" PRIu64
			           ": payload does not match the leaf's commitment",
			           l->seq);
	}
	return 0;
}

int fleet_entry_encode(const struct fleet_entry *e, uint8_t **ret, size_t *ret_len)
{
	Evident__Fleet__FleetEntry m = EVIDENT__FLEET__FLEET_ENTRY__INIT;
	Evident__Fleet__BlobRef refs[FLEET_BLOBS_MAX], *rp[FLEET_BLOBS_MAX];
	struct fleet_entry chk;

	if (!e || !ret || !ret_len || !e->origin ||
	    fleet_name_check(e->origin, strlen(e->origin), NULL, 0) < 0 ||
	    (e->n_blobs && !e->blobs))
		return -EINVAL;
	chk = *e;
	if (vault_leaf_decode(e->leaf, VAULT_LEAF_LEN, &chk.decoded) < 0 ||
	    entry_check(&chk, false, NULL, 0) < 0)
		return -EINVAL;
	m.origin = (char *)e->origin;
	m.has_leaf = true;
	m.leaf = (ProtobufCBinaryData){VAULT_LEAF_LEN, (uint8_t *)e->leaf};
	if (e->nonce) {
		m.has_nonce = true;
		m.nonce = (ProtobufCBinaryData){VAULT_NONCE_LEN, (uint8_t *)e->nonce};
	}
	if (e->payload) {
		m.has_payload = true;
		m.payload = (ProtobufCBinaryData){e->payload_len, (uint8_t *)e->payload};
	} else {
		m.has_payload_pruned = true;
		m.payload_pruned = true;
	}
	m.subject = (char *)e->subject;
	for (size_t i = 0; i < e->n_blobs; i++) {
		evident__fleet__blob_ref__init(&refs[i]);
		refs[i].has_hash = true;
		refs[i].hash = (ProtobufCBinaryData){VAULT_HASH_LEN, (uint8_t *)e->blobs[i].hash};
		refs[i].has_size = true;
		refs[i].size = e->blobs[i].size;
		rp[i] = &refs[i];
	}
	m.n_blobs = e->n_blobs;
	m.blobs = e->n_blobs ? rp : NULL;
	m.has_sent_ns = e->sent_ns != 0;
	m.sent_ns = e->sent_ns;
	return pack(&m.base, ret, ret_len);
}

int fleet_entry_decode(const uint8_t *buf, size_t len, const char *expect_origin,
                       struct fleet_entry *ret, char *reason, size_t reason_size)
{
	Evident__Fleet__FleetEntry *m;
	struct fleet_entry e = {0};
	struct entry_priv *priv = NULL;
	int rc;

	clear_reason(reason, reason_size);
	rc = unpack("entry", &evident__fleet__fleet_entry__descriptor, buf, len, expect_origin,
	            (ProtobufCMessage **)&m, reason, reason_size);
	if (rc < 0)
		return rc;
	if (!m->has_leaf) {
		rc = bad(reason, reason_size, "entry: no leaf");
		goto fail;
	}
	if (m->leaf.len != VAULT_LEAF_LEN) {
		rc = bad(reason, reason_size, "entry: leaf is %zu bytes, not %d", m->leaf.len,
		         VAULT_LEAF_LEN);
		goto fail;
	}
	if (vault_leaf_decode(m->leaf.data, m->leaf.len, &e.decoded) < 0) {
		rc = bad(reason, reason_size, "entry: leaf version %u is not 1 or 2",
		         m->leaf.data[0]);
		goto fail;
	}
	if (m->has_payload == (m->has_payload_pruned && m->payload_pruned)) {
		rc = bad(reason, reason_size,
		         m->has_payload ? "entry %" PRIu64 ": a payload marked pruned"
		                        : "entry %" PRIu64 ": no payload and not marked pruned",
		         e.decoded.seq);
		goto fail;
	}
	if (m->has_nonce && m->nonce.len != VAULT_NONCE_LEN) {
		rc = bad(reason, reason_size, "entry %" PRIu64 ": nonce is %zu bytes, not %d",
		         e.decoded.seq, m->nonce.len, VAULT_NONCE_LEN);
		goto fail;
	}
	if (m->n_blobs > FLEET_BLOBS_MAX) {
		rc = bad(reason, reason_size, "entry %" PRIu64 ": %zu blob references, over %d",
		         e.decoded.seq, m->n_blobs, FLEET_BLOBS_MAX);
		goto fail;
	}
	priv = calloc(1, sizeof(*priv) + m->n_blobs * sizeof(priv->blobs[0]));
	if (!priv) {
		rc = -ENOMEM;
		goto fail;
	}
	priv->msg = m;
	for (size_t i = 0; i < m->n_blobs; i++) {
		const Evident__Fleet__BlobRef *b = m->blobs[i];
		if (!b->has_hash || b->hash.len != VAULT_HASH_LEN) {
			rc = bad(reason, reason_size,
			         "entry %" PRIu64 ": blob %zu: hash is %zu bytes, not %d",
			         e.decoded.seq, i, b->has_hash ? b->hash.len : 0, VAULT_HASH_LEN);
			goto fail;
		}
		memcpy(priv->blobs[i].hash, b->hash.data, VAULT_HASH_LEN);
		priv->blobs[i].size = b->size;
	}
	e.origin = m->origin;
	memcpy(e.leaf, m->leaf.data, VAULT_LEAF_LEN);
	e.nonce = m->has_nonce ? m->nonce.data : NULL;
	e.payload =
	    m->has_payload ? (m->payload.data ? m->payload.data : (const uint8_t *)"") : NULL;
	e.payload_len = m->has_payload ? m->payload.len : 0;
	e.subject = m->subject;
	e.blobs = priv->blobs;
	e.n_blobs = m->n_blobs;
	e.sent_ns = m->sent_ns;
	rc = entry_check(&e, true, reason, reason_size);
	if (rc < 0)
		goto fail;
	rc = vault_hash_leaf(e.leaf, VAULT_LEAF_LEN, e.leaf_hash);
	if (rc < 0)
		goto fail;
	e.priv = priv;
	*ret = e;
	return 0;
fail:
	free(priv);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return rc;
}

void fleet_entry_deinit(struct fleet_entry *e)
{
	struct entry_priv *priv = e ? e->priv : NULL;

	if (!priv)
		return;
	protobuf_c_message_free_unpacked(&priv->msg->base, NULL);
	free(priv);
	*e = (struct fleet_entry){0};
}

/* ------------------------------------------------------------------ blob chunks */

static int chunk_check(const struct fleet_blob_chunk *c, char *reason, size_t reason_size)
{
	uint64_t want;

	if (c->size > FLEET_BLOB_MAX)
		return bad(reason, reason_size, "blob: size %" PRIu64 " over %llu", c->size,
		           (unsigned long long)FLEET_BLOB_MAX);
	if (c->offset % FLEET_BLOB_CHUNK != 0)
		return bad(reason, reason_size, "blob: offset %" PRIu64 " is not a multiple of %u",
		           c->offset, FLEET_BLOB_CHUNK);
	if (c->offset >= c->size && !(c->offset == 0 && c->size == 0))
		return bad(reason, reason_size,
		           "blob: offset %" PRIu64 " is out of bounds (size %" PRIu64 ")",
		           c->offset, c->size);
	want = c->size - c->offset < FLEET_BLOB_CHUNK ? c->size - c->offset : FLEET_BLOB_CHUNK;
	if (c->len != want)
		return bad(reason, reason_size,
		           "blob: chunk at %" PRIu64 " holds %zu bytes, not %" PRIu64
		           " (size %" PRIu64 ")",
		           c->offset, c->len, want, c->size);
	return 0;
}

int fleet_blob_chunk_encode(const struct fleet_blob_chunk *c, uint8_t **ret, size_t *ret_len)
{
	Evident__Fleet__FleetBlobChunk m = EVIDENT__FLEET__FLEET_BLOB_CHUNK__INIT;

	if (!c || !ret || !ret_len || !c->origin ||
	    fleet_name_check(c->origin, strlen(c->origin), NULL, 0) < 0 || (c->len && !c->data) ||
	    chunk_check(c, NULL, 0) < 0)
		return -EINVAL;
	m.origin = (char *)c->origin;
	m.has_hash = true;
	m.hash = (ProtobufCBinaryData){VAULT_HASH_LEN, (uint8_t *)c->hash};
	m.has_size = true;
	m.size = c->size;
	m.has_offset = true;
	m.offset = c->offset;
	m.has_data = true;
	m.data = (ProtobufCBinaryData){c->len, (uint8_t *)c->data};
	return pack(&m.base, ret, ret_len);
}

int fleet_blob_chunk_decode(const uint8_t *buf, size_t len, const char *expect_origin,
                            struct fleet_blob_chunk *ret, char *reason, size_t reason_size)
{
	Evident__Fleet__FleetBlobChunk *m;
	struct fleet_blob_chunk c = {0};
	int rc;

	clear_reason(reason, reason_size);
	rc = unpack("blob", &evident__fleet__fleet_blob_chunk__descriptor, buf, len, expect_origin,
	            (ProtobufCMessage **)&m, reason, reason_size);
	if (rc < 0)
		return rc;
	if (!m->has_hash || m->hash.len != VAULT_HASH_LEN) {
		rc = bad(reason, reason_size, "blob: hash is %zu bytes, not %d",
		         m->has_hash ? m->hash.len : 0, VAULT_HASH_LEN);
		goto fail;
	}
	if (!m->has_size) {
		rc = bad(reason, reason_size, "blob: no size");
		goto fail;
	}
	c.origin = m->origin;
	memcpy(c.hash, m->hash.data, VAULT_HASH_LEN);
	c.size = m->size;
	c.offset = m->offset;
	c.data = m->has_data && m->data.data ? m->data.data : (const uint8_t *)"";
	c.len = m->has_data ? m->data.len : 0;
	rc = chunk_check(&c, reason, reason_size);
	if (rc < 0)
		goto fail;
	c.priv = m;
	*ret = c;
	return 0;
fail:
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return rc;
}

void fleet_blob_chunk_deinit(struct fleet_blob_chunk *c)
{
	if (!c || !c->priv)
		return;
	protobuf_c_message_free_unpacked(c->priv, NULL);
	*c = (struct fleet_blob_chunk){0};
}

/* ------------------------------------------------------------------ checkpoints */

int fleet_checkpoint_encode(const struct fleet_checkpoint *c, uint8_t **ret, size_t *ret_len)
{
	Evident__Fleet__FleetCheckpoint m = EVIDENT__FLEET__FLEET_CHECKPOINT__INIT;

	if (!c || !ret || !ret_len || !c->origin ||
	    fleet_name_check(c->origin, strlen(c->origin), NULL, 0) < 0 || !c->note ||
	    c->note_len == 0 || c->note_len > VAULT_NOTE_MAX)
		return -EINVAL;
	m.origin = (char *)c->origin;
	m.has_note = true;
	m.note = (ProtobufCBinaryData){c->note_len, (uint8_t *)c->note};
	return pack(&m.base, ret, ret_len);
}

int fleet_checkpoint_decode(const uint8_t *buf, size_t len, const char *expect_origin,
                            struct fleet_checkpoint *ret, char *reason, size_t reason_size)
{
	Evident__Fleet__FleetCheckpoint *m;
	struct fleet_checkpoint c = {0};
	int rc;

	clear_reason(reason, reason_size);
	rc = unpack("checkpoint", &evident__fleet__fleet_checkpoint__descriptor, buf, len,
	            expect_origin, (ProtobufCMessage **)&m, reason, reason_size);
	if (rc < 0)
		return rc;
	if (!m->has_note || m->note.len == 0) {
		rc = bad(reason, reason_size, "checkpoint: no note");
		goto fail;
	}
	if (m->note.len > VAULT_NOTE_MAX) {
		rc = bad(reason, reason_size, "checkpoint: note is %zu bytes, over %d", m->note.len,
		         VAULT_NOTE_MAX);
		goto fail;
	}
	if (vault_checkpoint_parse((const char *)m->note.data, m->note.len, NULL, &c.cp) < 0) {
		rc = bad(reason, reason_size, "checkpoint: note is not a signed checkpoint");
		goto fail;
	}
	if (strcmp(c.cp.origin, m->origin) != 0) {
		rc = bad(reason, reason_size, "checkpoint: note's origin \"%s\" is not \"%s\"",
		         c.cp.origin, m->origin);
		goto fail;
	}
	c.origin = m->origin;
	c.note = (const char *)m->note.data;
	c.note_len = m->note.len;
	c.priv = m;
	*ret = c;
	return 0;
fail:
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return rc;
}

void fleet_checkpoint_deinit(struct fleet_checkpoint *c)
{
	if (!c || !c->priv)
		return;
	protobuf_c_message_free_unpacked(c->priv, NULL);
	*c = (struct fleet_checkpoint){0};
}

/* ------------------------------------------------------------------ cosignatures */

static bool b64_byte(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

static int cosig_check(const struct fleet_cosig *c, char *reason, size_t reason_size)
{
	size_t alen = strlen(c->auditor), dl = strlen(COSIG_DASH), off;
	char err[96];

	if (c->size == 0)
		return bad(reason, reason_size, "cosig: size 0");
	if (auditor_check(c->auditor, alen, err, sizeof(err)) < 0)
		return bad(reason, reason_size, "cosig: auditor: %s", err);
	if (c->line_len > VAULT_SIGLINE_MAX)
		return bad(reason, reason_size, "cosig: line is %zu bytes, over %d", c->line_len,
		           VAULT_SIGLINE_MAX);
	off = dl + alen + 1;
	if (c->line_len < off + 2 || memcmp(c->line, COSIG_DASH, dl) != 0 ||
	    memcmp(c->line + dl, c->auditor, alen) != 0 || c->line[dl + alen] != ' ' ||
	    c->line[c->line_len - 1] != '\n')
		return bad(reason, reason_size, "cosig: line is not \"\\u2014 %s BASE64\\n\"",
		           c->auditor);
	for (size_t i = off; i < c->line_len - 1; i++)
		if (!b64_byte((uint8_t)c->line[i]))
			return bad(reason, reason_size, "cosig: line: byte %zu is not base64", i);
	if (c->vkey) {
		struct vault_pubkey k;
		if (vault_pubkey_parse(c->vkey, c->vkey_len, NULL, &k) < 0 ||
		    k.type != VAULT_KEY_COSIGNATURE_V1)
			return bad(reason, reason_size,
			           "cosig: vkey is not a tlog-cosignature/v1 verifier key");
		if (strcmp(k.name, c->auditor) != 0)
			return bad(reason, reason_size, "cosig: vkey is named \"%s\", not \"%s\"",
			           k.name, c->auditor);
	}
	return 0;
}

int fleet_cosig_encode(const struct fleet_cosig *c, uint8_t **ret, size_t *ret_len)
{
	Evident__Fleet__FleetCosig m = EVIDENT__FLEET__FLEET_COSIG__INIT;

	if (!c || !ret || !ret_len || !c->origin || !c->auditor || !c->line ||
	    fleet_name_check(c->origin, strlen(c->origin), NULL, 0) < 0 ||
	    cosig_check(c, NULL, 0) < 0)
		return -EINVAL;
	m.origin = (char *)c->origin;
	m.has_size = true;
	m.size = c->size;
	m.auditor = (char *)c->auditor;
	m.has_line = true;
	m.line = (ProtobufCBinaryData){c->line_len, (uint8_t *)c->line};
	if (c->vkey) {
		m.has_vkey = true;
		m.vkey = (ProtobufCBinaryData){c->vkey_len, (uint8_t *)c->vkey};
	}
	return pack(&m.base, ret, ret_len);
}

int fleet_cosig_decode(const uint8_t *buf, size_t len, const char *expect_origin,
                       struct fleet_cosig *ret, char *reason, size_t reason_size)
{
	Evident__Fleet__FleetCosig *m;
	struct fleet_cosig c = {0};
	int rc;

	clear_reason(reason, reason_size);
	rc = unpack("cosig", &evident__fleet__fleet_cosig__descriptor, buf, len, expect_origin,
	            (ProtobufCMessage **)&m, reason, reason_size);
	if (rc < 0)
		return rc;
	if (!m->auditor || !m->has_line) {
		rc = bad(reason, reason_size, "cosig: no %s", m->auditor ? "line" : "auditor");
		goto fail;
	}
	c.origin = m->origin;
	c.size = m->size;
	c.auditor = m->auditor;
	c.line = (const char *)m->line.data;
	c.line_len = m->line.len;
	c.vkey = m->has_vkey ? (const char *)m->vkey.data : NULL;
	c.vkey_len = m->has_vkey ? m->vkey.len : 0;
	if (c.vkey && !c.vkey_len)
		c.vkey = NULL;
	rc = cosig_check(&c, reason, reason_size);
	if (rc < 0)
		goto fail;
	c.priv = m;
	*ret = c;
	return 0;
fail:
	protobuf_c_message_free_unpacked(&m->base, NULL);
	return rc;
}

void fleet_cosig_deinit(struct fleet_cosig *c)
{
	if (!c || !c->priv)
		return;
	protobuf_c_message_free_unpacked(c->priv, NULL);
	*c = (struct fleet_cosig){0};
}
