/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for proto/frame.c: varint length prefixes and the incremental reader. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "testutil.h"

START_TEST(frame_header_encode_known_values)
{
	uint8_t out[FRAME_HEADER_MAX];

	ck_assert_uint_eq(frame_header_encode(0, out), 1);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(frame_header_encode(127, out), 1);
	ck_assert_uint_eq(out[0], 127);
	ck_assert_uint_eq(frame_header_encode(128, out), 2);
	ck_assert_uint_eq(out[0], 0x80);
	ck_assert_uint_eq(out[1], 0x01);
	ck_assert_uint_eq(frame_header_encode(300, out), 2);
	ck_assert_uint_eq(out[0], 0xac);
	ck_assert_uint_eq(out[1], 0x02);
	ck_assert_uint_eq(frame_header_encode(UINT64_MAX, out), 10);
	ck_assert_uint_eq(out[9], 0x01);
}
END_TEST

START_TEST(frame_header_decode_round_trips)
{
	uint64_t vals[] = {
	    0,         1, 127, 128, 16383, 16384, FRAME_MAX_DEFAULT, UINT32_MAX, (1ull << 56) + 3,
	    UINT64_MAX};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t out[FRAME_HEADER_MAX];
		uint64_t got = 0;
		size_t n = frame_header_encode(vals[i], out);
		ck_assert_int_eq(frame_header_decode(out, n, UINT64_MAX, &got), (int)n);
		ck_assert_uint_eq(got, vals[i]);
		/* every strict prefix asks for more bytes */
		for (size_t k = 0; k < n; k++)
			ck_assert_int_eq(frame_header_decode(out, k, UINT64_MAX, &got), 0);
	}
}
END_TEST

START_TEST(frame_header_decode_rejects_malformed)
{
	uint8_t eleven[11];
	uint8_t tenth_big[10];
	uint64_t got = 0;

	memset(eleven, 0x80, sizeof(eleven));
	ck_assert_int_eq(frame_header_decode(eleven, sizeof(eleven), UINT64_MAX, &got), -EBADMSG);
	memset(tenth_big, 0xff, 9);
	tenth_big[9] = 0x02; /* would be bit 64 */
	ck_assert_int_eq(frame_header_decode(tenth_big, 10, UINT64_MAX, &got), -EBADMSG);
	ck_assert_int_eq(frame_header_decode(NULL, 0, UINT64_MAX, &got), 0);
}
END_TEST

START_TEST(frame_header_decode_enforces_max)
{
	uint8_t out[FRAME_HEADER_MAX];
	uint64_t got = 0;
	size_t n = frame_header_encode(1025, out);

	ck_assert_int_eq(frame_header_decode(out, n, 1024, &got), -EMSGSIZE);
	ck_assert_uint_eq(got, 1025);
	ck_assert_int_eq(frame_header_decode(out, n, 1025, &got), (int)n);
}
END_TEST

START_TEST(frame_reader_init_rejects_bad_max)
{
	struct frame_reader r;

	ck_assert_int_eq(frame_reader_init(&r, 0), -EINVAL);
	ck_assert_int_eq(frame_reader_init(&r, (uint64_t)FRAME_MAX_LIMIT + 1), -EINVAL);
	ck_assert_int_eq(frame_reader_init(&r, 16), 0);
	frame_reader_deinit(&r);
}
END_TEST

static size_t put_frame(uint8_t *buf, const void *body, size_t len)
{
	size_t h = frame_header_encode(len, buf);
	memcpy(buf + h, body, len);
	return h + len;
}

START_TEST(frame_reader_next_on_empty_reader)
{
	struct frame_reader r;
	const uint8_t *b;
	size_t bl;

	ck_assert_int_eq(frame_reader_init(&r, 64), 0);
	ck_assert_int_eq(frame_reader_next(&r, &b, &bl), 0); /* nothing fed, no buffer yet */
	ck_assert_int_eq(frame_reader_feed(&r, NULL, 0), 0);
	ck_assert_int_eq(frame_reader_next(&r, &b, &bl), 0);
	frame_reader_deinit(&r);
}
END_TEST

START_TEST(frame_reader_next_byte_by_byte)
{
	struct frame_reader r;
	uint8_t stream[4096];
	size_t len = 0, got_frames = 0;
	char body[300];

	memset(body, 'x', sizeof(body));
	len += put_frame(stream + len, "hello", 5);
	len += put_frame(stream + len, "", 0);
	len += put_frame(stream + len, body, sizeof(body));
	ck_assert_int_eq(frame_reader_init(&r, 1024), 0);
	for (size_t i = 0; i < len; i++) {
		const uint8_t *b;
		size_t bl;
		int rc;
		ck_assert_int_eq(frame_reader_feed(&r, stream + i, 1), 0);
		while ((rc = frame_reader_next(&r, &b, &bl)) == 1) {
			if (got_frames == 0)
				ck_assert(bl == 5 && memcmp(b, "hello", 5) == 0);
			else if (got_frames == 1)
				ck_assert_uint_eq(bl, 0);
			else
				ck_assert(bl == sizeof(body) && memcmp(b, body, bl) == 0);
			got_frames++;
		}
		ck_assert_int_eq(rc, 0);
	}
	ck_assert_uint_eq(got_frames, 3);
	ck_assert_uint_eq(frame_reader_pending(&r), 0);
	frame_reader_deinit(&r);
}
END_TEST

START_TEST(frame_reader_next_refuses_oversize_before_allocating)
{
	struct frame_reader r;
	uint8_t hdr[FRAME_HEADER_MAX];
	const uint8_t *b;
	size_t bl = 0, n = frame_header_encode(2ull << 30, hdr);

	ck_assert_int_eq(frame_reader_init(&r, 1024), 0);
	ck_assert_int_eq(frame_reader_feed(&r, hdr, n), 0);
	ck_assert_int_eq(frame_reader_next(&r, &b, &bl), -EMSGSIZE);
	ck_assert_uint_eq(bl, 2ull << 30);
	ck_assert_uint_le(r.cap, 4096); /* nothing sized after the announced length */
	frame_reader_deinit(&r);
}
END_TEST

START_TEST(frame_reader_next_reports_bad_varint)
{
	struct frame_reader r;
	uint8_t junk[12];
	const uint8_t *b;
	size_t bl;

	memset(junk, 0xff, sizeof(junk));
	ck_assert_int_eq(frame_reader_init(&r, 1024), 0);
	ck_assert_int_eq(frame_reader_feed(&r, junk, sizeof(junk)), 0);
	ck_assert_int_eq(frame_reader_next(&r, &b, &bl), -EBADMSG);
	frame_reader_deinit(&r);
}
END_TEST

START_TEST(frame_reader_feed_bounds_buffering)
{
	struct frame_reader r;
	uint8_t big[64];
	uint8_t hdr[FRAME_HEADER_MAX];
	size_t n = frame_header_encode(40, hdr);

	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(frame_reader_init(&r, 40), 0);
	ck_assert_int_eq(frame_reader_feed(&r, hdr, n), 0);
	ck_assert_int_eq(frame_reader_feed(&r, big, 39), 0); /* one short of the body */
	ck_assert_int_eq(frame_reader_feed(&r, big, 30), 0); /* completes it, plus more */
	/* Buffer now holds more than max + header of unread bytes: further feeding is refused
	 * until the caller drains frames. */
	ck_assert_int_eq(frame_reader_feed(&r, big, 1), -ENOBUFS);
	{
		const uint8_t *b;
		size_t bl;
		ck_assert_int_eq(frame_reader_next(&r, &b, &bl), 1);
		ck_assert_uint_eq(bl, 40);
	}
	ck_assert_int_eq(frame_reader_feed(&r, big, 1), 0);
	frame_reader_deinit(&r);
}
END_TEST

START_TEST(frame_reader_grows_to_the_announced_frame_and_shrinks)
{
	struct frame_reader r;
	static uint8_t body[100000];
	uint8_t hdr[FRAME_HEADER_MAX];
	size_t n = frame_header_encode(sizeof(body), hdr);
	const uint8_t *b;
	size_t bl;

	ck_assert_int_eq(frame_reader_init(&r, 1u << 20), 0);
	ck_assert_int_eq(frame_reader_feed(&r, hdr, n), 0);
	ck_assert_int_eq(frame_reader_feed(&r, body, 5000), 0);
	ck_assert_uint_eq(r.cap, 8192); /* grows by doubling while the frame is small */
	ck_assert_int_eq(frame_reader_feed(&r, body + 5000, sizeof(body) - 5001), 0);
	ck_assert_uint_eq(r.cap, n + sizeof(body)); /* not 128 KiB: the frame's own size */
	frame_reader_shrink(&r);                    /* mostly pending: kept */
	ck_assert_uint_eq(r.cap, n + sizeof(body));
	ck_assert_int_eq(frame_reader_next(&r, &b, &bl), 0);
	ck_assert_int_eq(frame_reader_feed(&r, body, 1), 0);
	ck_assert_int_eq(frame_reader_next(&r, &b, &bl), 1);
	ck_assert_uint_eq(bl, sizeof(body));
	frame_reader_shrink(&r); /* nothing pending: freed */
	ck_assert_uint_eq(r.cap, 0);
	ck_assert_ptr_null(r.buf);

	/* a big read of small frames leaves a short tail: moved into a small buffer */
	static uint8_t stream[70000];
	size_t len = 0;
	while (len + 12 <= sizeof(stream)) {
		len += frame_header_encode(10, stream + len);
		memset(stream + len, 'x', 10);
		len += 10;
	}
	len += frame_header_encode(10, stream + len); /* the start of one more */
	memset(stream + len, 'x', 4);
	len += 4;
	ck_assert_int_eq(frame_reader_feed(&r, stream, len), 0);
	while (frame_reader_next(&r, &b, &bl) == 1)
		ck_assert_uint_eq(bl, 10);
	ck_assert_uint_eq(frame_reader_pending(&r), 5);
	ck_assert_uint_ge(r.cap, 65536);
	frame_reader_shrink(&r);
	ck_assert_uint_eq(r.cap, FRAME_READER_KEEP);
	ck_assert_int_eq(frame_reader_feed(&r, (const uint8_t *)"abcdef", 6), 0);
	ck_assert_int_eq(frame_reader_next(&r, &b, &bl), 1);
	ck_assert_uint_eq(bl, 10);
	ck_assert_int_eq(memcmp(b, "xxxxabcdef", 10), 0);
	frame_reader_deinit(&r);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc;

	tc = tcase_create("frame_header_encode");
	tcase_add_test(tc, frame_header_encode_known_values);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_header_decode");
	tcase_add_test(tc, frame_header_decode_round_trips);
	tcase_add_test(tc, frame_header_decode_rejects_malformed);
	tcase_add_test(tc, frame_header_decode_enforces_max);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_reader_init");
	tcase_add_test(tc, frame_reader_init_rejects_bad_max);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_reader_next");
	tcase_add_test(tc, frame_reader_next_on_empty_reader);
	tcase_add_test(tc, frame_reader_next_byte_by_byte);
	tcase_add_test(tc, frame_reader_next_refuses_oversize_before_allocating);
	tcase_add_test(tc, frame_reader_next_reports_bad_varint);
	suite_add_tcase(s, tc);
	tc = tcase_create("frame_reader_feed");
	tcase_add_test(tc, frame_reader_feed_bounds_buffering);
	tcase_add_test(tc, frame_reader_grows_to_the_announced_frame_and_shrinks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(frame_suite());
}
