/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the config parser (daemon/config.c over libinih) on arbitrary file contents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char path[64], err[600];
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(path, &c, err, sizeof(err)) == 0)
		config_deinit(&c);
	else if (!err[0])
		abort(); /* every refusal says why */
	close(fd);
	return 0;
}
