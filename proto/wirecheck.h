/* SPDX-License-Identifier: Apache-2.0 */
/* Checks the string fields of a protobuf message as bytes, on its encoding. protobuf-c hands
 * strings to C as NUL-terminated char *, so a string holding a NUL byte silently becomes its
 * prefix ("x\0one" reads as "x"), and it does not check UTF-8 at all. Whoever reads untrusted
 * bytes runs wire_check_strings() on them first. wire_next_field() reads an encoding one field
 * at a time. Pure code: no allocation, no I/O, no logging.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sub-messages nested deeper than this are refused (-EBADMSG); evident.proto needs 5. */
#define WIRE_CHECK_DEPTH_MAX 32

/* Checks s[0..n) as the value of a protobuf string field: UTF-8 as RFC 3629 defines it
 * (shortest forms only, no surrogates U+D800-U+DFFF, nothing above U+10FFFF) without a NUL
 * byte. Returns n when it is; otherwise the offset of the first NUL byte or of the first byte
 * of the first invalid sequence, and *ret_nul (may be NULL) says which. */
size_t wire_text_check(const uint8_t *s, size_t n, bool *ret_nul);

/* Walks buf[0..len), the encoding of one message of type desc, and checks with
 * wire_text_check() every field the descriptor declares as a string, in sub-messages too
 * (map entries included), wherever it occurs (a repeated occurrence of a singular field as
 * well). Unknown fields and bytes fields are skipped.
 * Returns 0; -EILSEQ when a string fails, with err naming it by its path of field names from
 * desc, repeated fields with their index: "record.request_id: NUL byte at offset 1",
 * "register_model.manifest.features[3].name: invalid UTF-8 at offset 7"; or -EBADMSG when
 * buf is not a well-formed encoding (a varint or length running past the end, a group, field
 * number 0) or nests deeper than WIRE_CHECK_DEPTH_MAX, with err saying where. err (may be
 * NULL) is always NUL-terminated when err_size > 0. */
int wire_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                       char *err, size_t err_size);

/* One field of an encoding as wire_next_field() reads it: its number, its wire type (0
 * varint, 1 fixed64, 2 length-delimited, 5 fixed32) and its value's bytes (for wire type 2 the
 * bytes after the length; for the others the value's encoding). value points into the buffer
 * read. */
struct wire_field {
	uint32_t id;
	unsigned wire_type;
	const uint8_t *value;
	size_t len;
};

/* Reads the field at buf[*off..len) into *f and moves *off past it: for readers that want a
 * few fields of a message without unpacking all of it. Returns 1, 0 when *off is at len (the
 * end), -EBADMSG when the field is malformed (as wire_check_strings() defines it; *off is then
 * unspecified). */
int wire_next_field(const uint8_t *buf, size_t len, size_t *off, struct wire_field *f);
