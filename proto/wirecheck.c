/* SPDX-License-Identifier: Apache-2.0 */
/* String fields checked on the wire (wirecheck.h): a walk over the protobuf encoding guided by
 * protobuf-c's descriptors, so it covers every string field of every message, present and
 * future, without a list to keep in step with evident.proto. */
#include "wirecheck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Fields per message whose occurrences are counted for the [index] of repeated fields; a
 * message with more fields than this gets no index past it (none in evident.proto has 20). */
#define COUNTED_FIELDS 64
#define PATH_MAX_LEN   240

size_t wire_text_check(const uint8_t *s, size_t n, bool *ret_nul)
{
	size_t i = 0;

	if (ret_nul)
		*ret_nul = false;
	while (i < n) {
		uint8_t c = s[i], lo = 0x80, hi = 0xbf;
		size_t k;

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

struct walk {
	char path[PATH_MAX_LEN];
	char *err;
	size_t err_size;
};

__attribute__((format(printf, 4, 5))) static int fail(struct walk *w, int rc, size_t path_len,
                                                      const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!w->err || !w->err_size)
		return rc;
	n = snprintf(w->err, w->err_size, "%s%s", path_len ? w->path : "", path_len ? ": " : "");
	if (n < 0 || (size_t)n >= w->err_size)
		return rc;
	va_start(ap, fmt);
	vsnprintf(w->err + n, w->err_size - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

/* Reads a varint at p[*off..len). Returns false when it runs past len or over 10 bytes. */
static bool varint(const uint8_t *p, size_t len, size_t *off, uint64_t *ret)
{
	uint64_t v = 0;

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

/* Appends ".name" or ".name[index]" (no dot at the root) to the path that is path_len long
 * and returns the new length; a path that does not fit is cut, never overrun. */
static size_t path_push(struct walk *w, size_t path_len, const char *name, long index)
{
	int n;

	if (path_len >= sizeof(w->path) - 1)
		return path_len;
	if (index >= 0)
		n = snprintf(w->path + path_len, sizeof(w->path) - path_len, "%s%s[%ld]",
		             path_len ? "." : "", name, index);
	else
		n = snprintf(w->path + path_len, sizeof(w->path) - path_len, "%s%s",
		             path_len ? "." : "", name);
	if (n < 0)
		return path_len;
	return path_len + (size_t)n < sizeof(w->path) ? path_len + (size_t)n : sizeof(w->path) - 1;
}

static int walk(struct walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                size_t path_len, int depth)
{
	uint32_t seen[COUNTED_FIELDS] = {0};
	size_t off = 0;

	if (depth > WIRE_CHECK_DEPTH_MAX)
		return fail(w, -EBADMSG, path_len, "messages nested deeper than %d",
		            WIRE_CHECK_DEPTH_MAX);
	while (off < len) {
		size_t at = off;
		uint64_t key, flen, skip;

		if (!varint(p, len, &off, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
			return fail(w, -EBADMSG, path_len, "malformed field key at byte %zu", at);
		switch (key & 7) {
		case 0: /* varint */
			if (!varint(p, len, &off, &skip))
				return fail(w, -EBADMSG, path_len, "malformed varint at byte %zu",
				            at);
			continue;
		case 1: /* 64-bit */
		case 5: /* 32-bit */
			skip = (key & 7) == 1 ? 8 : 4;
			if (len - off < skip)
				return fail(w, -EBADMSG, path_len,
				            "fixed-size field at byte %zu runs past the end", at);
			off += skip;
			continue;
		case 2: /* length-delimited */
			break;
		default: /* groups: protobuf-c refuses them too */
			return fail(w, -EBADMSG, path_len, "wire type %u at byte %zu",
			            (unsigned)(key & 7), at);
		}
		if (!varint(p, len, &off, &flen) || flen > len - off)
			return fail(w, -EBADMSG, path_len,
			            "length-delimited field at byte %zu runs past the end", at);
		const uint8_t *v = p + off;
		off += (size_t)flen;

		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
		if (!f || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
			continue; /* unknown, bytes, or a packed array of numbers */
		size_t fi = (size_t)(f - d->fields);
		long index = -1;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			index = fi < COUNTED_FIELDS ? (long)seen[fi]++ : 0;
		size_t pl = path_push(w, path_len, f->name, index);
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			int rc = walk(w, f->descriptor, v, (size_t)flen, pl, depth + 1);
			if (rc < 0)
				return rc;
		} else {
			bool nul;
			size_t bad = wire_text_check(v, (size_t)flen, &nul);
			if (bad < flen)
				return fail(w, -EILSEQ, pl, "%s at offset %zu",
				            nul ? "NUL byte" : "invalid UTF-8", bad);
		}
		w->path[path_len] = '\0';
	}
	return 0;
}

int wire_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                       char *err, size_t err_size)
{
	struct walk w = {.err = err, .err_size = err_size};

	if (err && err_size)
		err[0] = '\0';
	return walk(&w, desc, buf, len, 0, 0);
}
