/* SPDX-License-Identifier: Apache-2.0 */
/* Varint-delimited framing (see frame.h). */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int frame_header_decode(const uint8_t *buf, size_t len, uint64_t max, uint64_t *ret_body_len)
{
	uint64_t v = 0;

	for (size_t i = 0; i < FRAME_HEADER_MAX; i++) {
		if (i >= len)
			return 0;
		uint64_t b = buf[i] & 0x7f;
		/* The tenth byte may only carry the top bit of a 64-bit value. */
		if (i == FRAME_HEADER_MAX - 1 && b > 1)
			return -EBADMSG;
		v |= b << (7 * i);
		if (!(buf[i] & 0x80)) {
			*ret_body_len = v;
			if (v > max)
				return -EMSGSIZE;
			return (int)i + 1;
		}
	}
	return -EBADMSG;
}

size_t frame_header_encode(uint64_t body_len, uint8_t out[FRAME_HEADER_MAX])
{
	size_t n = 0;

	while (body_len >= 0x80) {
		out[n++] = (uint8_t)(body_len | 0x80);
		body_len >>= 7;
	}
	out[n++] = (uint8_t)body_len;
	return n;
}

int frame_reader_init(struct frame_reader *r, uint64_t max)
{
	if (max == 0 || max > FRAME_MAX_LIMIT)
		return -EINVAL;
	*r = (struct frame_reader){.max = max};
	return 0;
}

void frame_reader_deinit(struct frame_reader *r)
{
	free(r->buf);
	*r = (struct frame_reader){0};
}

size_t frame_reader_pending(const struct frame_reader *r)
{
	return r->len - r->off;
}

/* Bytes of the frame starting at r->off (header and body) when its header is among the
 * pending bytes followed by data[0..len), else 0. */
static size_t frame_end(const struct frame_reader *r, const uint8_t *data, size_t len)
{
	uint8_t h[FRAME_HEADER_MAX];
	size_t pending = r->len - r->off, n = 0;
	uint64_t body = 0;

	for (; n < FRAME_HEADER_MAX && n < pending; n++)
		h[n] = r->buf[r->off + n];
	for (size_t i = 0; n < FRAME_HEADER_MAX && i < len; i++)
		h[n++] = data[i];
	int hl = frame_header_decode(h, n, r->max, &body);
	return hl > 0 ? (size_t)hl + (size_t)body : 0;
}

int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t len)
{
	size_t pending = r->len - r->off;

	if (len == 0)
		return 0;
	/* Bound: one whole frame may sit in the buffer plus the bytes of the current read. The
	 * caller drains complete frames before feeding again, so anything beyond a full frame
	 * plus this read means the caller is misusing the reader. */
	if (pending > r->max + FRAME_HEADER_MAX)
		return -ENOBUFS;
	if (r->off > 0 && r->off == r->len) {
		r->off = r->len = 0;
		pending = 0;
	}
	if (r->len + len > r->cap) {
		if (r->off > 0) {
			memmove(r->buf, r->buf + r->off, pending);
			r->len = pending;
			r->off = 0;
		}
		if (r->len + len > r->cap) {
			size_t want = r->cap ? r->cap : 4096, end = frame_end(r, data, len);
			while (want < r->len + len)
				want *= 2;
			/* a frame that is still arriving needs exactly its own size, not the next
			 * power of two */
			if (end >= r->len + len && want > end)
				want = end;
			uint8_t *nb = realloc(r->buf, want);
			if (!nb)
				return -ENOMEM;
			r->buf = nb;
			r->cap = want;
		}
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **ret_body, size_t *ret_len)
{
	size_t avail = r->len - r->off;
	const uint8_t *p;
	uint64_t body_len = 0;
	int h;

	if (avail == 0)
		return 0; /* nothing buffered (buf may still be NULL) */
	p = r->buf + r->off;
	h = frame_header_decode(p, avail, r->max, &body_len);
	if (h == -EMSGSIZE) {
		*ret_len = (size_t)(body_len > SIZE_MAX ? SIZE_MAX : body_len);
		return h;
	}
	if (h <= 0)
		return h;
	if (avail - (size_t)h < body_len)
		return 0;
	*ret_body = p + h;
	*ret_len = (size_t)body_len;
	r->off += (size_t)h + (size_t)body_len;
	if (r->off == r->len)
		r->off = r->len = 0;
	return 1;
}

void frame_reader_shrink(struct frame_reader *r)
{
	size_t pending = r->len - r->off;

	if (pending == 0) {
		free(r->buf);
		r->buf = NULL;
		r->len = r->off = r->cap = 0;
		return;
	}
	if (r->cap <= FRAME_READER_KEEP || r->cap <= 2 * pending)
		return;
	memmove(r->buf, r->buf + r->off, pending);
	r->len = pending;
	r->off = 0;
	size_t want = pending > FRAME_READER_KEEP ? pending : FRAME_READER_KEEP;
	uint8_t *nb = realloc(r->buf, want);
	if (nb) { /* else the larger buffer stays: still correct */
		r->buf = nb;
		r->cap = want;
	}
}
