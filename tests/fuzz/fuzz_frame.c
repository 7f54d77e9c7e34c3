/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the frame reader fed in pieces, each complete frame unpacked as a Frame with a
 * bounded allocator, as the daemon's session does with untrusted socket bytes. */
#include <stdlib.h>
#include <string.h>

#include "evident.pb-c.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader r;
	size_t off = 0, step;

	if (size < 1)
		return 0;
	/* The first byte chooses the read size, so splits vary with the input. */
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	if (frame_reader_init(&r, 4096) < 0)
		abort();
	while (off < size) {
		size_t n = size - off < step ? size - off : step;
		const uint8_t *body;
		size_t len;
		int rc;

		if (frame_reader_feed(&r, data + off, n) < 0)
			break;
		off += n;
		while ((rc = frame_reader_next(&r, &body, &len)) == 1) {
			if (len > r.max)
				abort();
			Evident__V1__Frame *f = evident__v1__frame__unpack(NULL, len, body);
			if (f) {
				/* re-encode: packing what was unpacked must not crash */
				size_t psize = evident__v1__frame__get_packed_size(f);
				uint8_t *out = malloc(psize ? psize : 1);
				if (evident__v1__frame__pack(f, out) != psize)
					abort();
				free(out);
				evident__v1__frame__free_unpacked(f, NULL);
			}
		}
		if (rc < 0)
			break;
	}
	frame_reader_deinit(&r);
	return 0;
}
