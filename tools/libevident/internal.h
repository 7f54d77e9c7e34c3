/* SPDX-License-Identifier: Apache-2.0 */
/* libevident internals shared between client.c and manifest.c. Not installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A registration ready to send: the RegisterModel frame (length prefix included) and what the
 * upload needs. Strings and frame are malloc'd and owned by the struct. */
struct evident_manifest {
	char *model_id;
	char *version;
	char *key; /* "ID@VERSION", the request_id of the daemon's answers */
	uint8_t *frame;
	size_t frame_len;
	uint64_t artifact_size;
	uint64_t reference_size;
	bool has_reference;
};

/* Parses json into a ModelManifest, fills artifact (and reference data) size and SHA-256 from
 * the descriptors when the manifest leaves them out and checks them when it names them (the
 * hash only when computed anyway: the daemon checks it), and packs the RegisterModel frame.
 * ref_fd < 0: no reference data. errbuf (may be NULL) receives a message on -EINVAL/-EBADMSG.
 * Returns 0, -EINVAL (JSON or manifest invalid, reference data named but missing), -EBADMSG
 * (a size does not match its file), -EIO (a file could not be read), -ENOMEM. */
int evident__manifest_build(const char *json, int artifact_fd, int ref_fd,
                            struct evident_manifest *ret, char *errbuf, size_t errbuf_len);

/* Frees what evident__manifest_build() filled in (takes a zeroed struct). */
void evident__manifest_deinit(struct evident_manifest *m);

/* SHA-256 of the whole file behind fd (read with pread, so the offset does not move), as 64
 * lowercase hex digits plus NUL. Returns 0, -EIO or -ENOMEM. */
int evident__sha256_fd(int fd, char hex[65]);
