/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr with syslog priority prefixes ("<3>..."), which journald turns into
 * priorities. The daemon logs where it handles an error, once; libraries never log. */
#pragma once

#include <stdarg.h>
#include <syslog.h>

void log_set_level(int level); /* LOG_ERR .. LOG_DEBUG; default LOG_INFO */
int log_get_level(void);
/* Parses "err", "warning", "notice", "info", "debug". Returns the level or -EINVAL. */
int log_level_from_name(const char *name);

void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_printf(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_printf(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_printf(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_printf(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_printf(LOG_DEBUG, __VA_ARGS__)
