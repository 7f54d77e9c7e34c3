/* SPDX-License-Identifier: Apache-2.0 */
/* evident-witness's log: stderr, one line a message, each with its syslog priority as a
 * "<N>" prefix (journald reads it as the priority; the daemon's convention). The program logs
 * where it handles an error, once; the witness library never logs. */
#pragma once

#include <syslog.h>

void log_set_level(int level); /* LOG_ERR .. LOG_DEBUG; default LOG_INFO */
/* Parses "err"/"error", "warning", "notice", "info", "debug". Returns the level or -EINVAL. */
int log_level_from_name(const char *name);

void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_printf(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_printf(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_printf(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_printf(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_printf(LOG_DEBUG, __VA_ARGS__)
