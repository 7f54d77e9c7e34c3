/* SPDX-License-Identifier: Apache-2.0 */
/* The wall clock as the vault records times: nanoseconds since the Unix epoch
 * (CLOCK_REALTIME). Deadlines sent by clients are on this clock too. Any thread. */
#pragma once

#include <stdint.h>
#include <time.h>

static inline int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
