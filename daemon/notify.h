/* SPDX-License-Identifier: Apache-2.0 */
/* The sd_notify(3) protocol without libsystemd: one datagram to $NOTIFY_SOCKET. */
#pragma once

#include <stdint.h>

/* Sends state (e.g. "READY=1\nSTATUS=...") when $NOTIFY_SOCKET is set. Returns 1 sent, 0 not
 * under systemd, negative errno on failure. */
int notify_send(const char *state);
/* The watchdog interval from $WATCHDOG_USEC (when $WATCHDOG_PID is unset or ours), else 0. */
uint64_t notify_watchdog_usec(void);
