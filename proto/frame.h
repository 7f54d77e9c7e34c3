/* SPDX-License-Identifier: Apache-2.0 */
/* Framing for evidentd's wire: protobuf's standard "delimited" encoding, a base-128 varint
 * length followed by that many bytes of one message. Pure code: no I/O, no logging.
 * A length over the caller's maximum is refused before any allocation. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Default largest frame body (`max_frame`; proto/PROTOCOL.md, "Framing"). */
#define FRAME_MAX_DEFAULT (1u << 20)
/* Largest frame body any configuration may allow: keeps buffers well inside size_t and int. */
#define FRAME_MAX_LIMIT   (64u << 20)
/* A varint of a 64-bit length never needs more than 10 bytes. */
#define FRAME_HEADER_MAX  10

/* Decodes the varint length prefix at buf[0..len).
 * Returns the number of header bytes (1..10) and sets *ret_body_len; 0 when buf ends inside the
 * varint (more bytes needed); -EBADMSG when the varint is longer than 10 bytes or overflows 64
 * bits; -EMSGSIZE when the body length exceeds max (*ret_body_len is then set to the announced
 * length so the caller can report it). buf may be NULL when len is 0. */
int frame_header_decode(const uint8_t *buf, size_t len, uint64_t max, uint64_t *ret_body_len);

/* Writes the varint for body_len into out (FRAME_HEADER_MAX bytes of room) and returns its
 * length. */
size_t frame_header_encode(uint64_t body_len, uint8_t out[FRAME_HEADER_MAX]);

/* An incremental frame reader for a byte stream. Memory is bounded by max + FRAME_HEADER_MAX
 * plus one read's worth of bytes: frame_reader_feed() refuses to buffer more than that. While
 * a frame arrives, the buffer grows to the size its header announces, not beyond. r->max may
 * be raised between calls (a connection's first frame may have a smaller bound). */
struct frame_reader {
	uint8_t *buf; /* owned */
	size_t len;   /* bytes buffered */
	size_t off;   /* start of the unread part */
	size_t cap;
	uint64_t max; /* largest body accepted */
};

/* Prepares r for bodies of at most max bytes (1..FRAME_MAX_LIMIT). No allocation yet.
 * Returns 0 or -EINVAL. */
int frame_reader_init(struct frame_reader *r, uint64_t max);
/* Frees the buffer. Takes a zeroed or initialised reader. */
void frame_reader_deinit(struct frame_reader *r);

/* Appends data[0..len) to the buffer. Returns 0, -ENOBUFS when more than
 * max + FRAME_HEADER_MAX unread bytes would be buffered (the caller should have consumed
 * frames first; callers normally feed at most one read at a time), or -ENOMEM. */
int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t len);

/* Takes the next complete frame. Returns 1 and sets *ret_body and *ret_len to a view into the
 * reader's buffer, valid until the next call on r; 0 when no complete frame is buffered;
 * -EBADMSG for a malformed length prefix; -EMSGSIZE for a body over max (*ret_len then holds
 * the announced length). After an error the stream cannot be resynchronised: close it. */
int frame_reader_next(struct frame_reader *r, const uint8_t **ret_body, size_t *ret_len);

/* Bytes buffered and not yet returned by frame_reader_next(). */
size_t frame_reader_pending(const struct frame_reader *r);

/* A buffer this small is kept by frame_reader_shrink() while bytes are pending. */
#define FRAME_READER_KEEP 4096
/* Gives back memory a reader no longer needs: frees the buffer when nothing is pending, and
 * moves a small remainder into a smaller buffer (at least FRAME_READER_KEEP bytes) when the
 * buffer is more than twice the pending bytes. r->cap is then the reader's memory. */
void frame_reader_shrink(struct frame_reader *r);
