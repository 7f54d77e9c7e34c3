/* SPDX-License-Identifier: Apache-2.0 */
/* stderr logging with syslog priority prefixes. The level is set once at start and read by
 * every thread: an atomic. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int max_level = LOG_INFO;

void log_set_level(int level)
{
	atomic_store(&max_level, level);
}

int log_level_from_name(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {{"err", LOG_ERR},       {"error", LOG_ERR}, {"warning", LOG_WARNING},
	             {"notice", LOG_NOTICE}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].name, name) == 0)
			return names[i].level;
	return -EINVAL;
}

void log_printf(int level, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n, m;

	if (level > atomic_load(&max_level))
		return;
	n = snprintf(buf, sizeof(buf), "<%d>", level);
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n = (size_t)(n + m) < sizeof(buf) - 1 ? n + m : (int)sizeof(buf) - 2;
	/* A message never spans lines: journald would take the rest for another record. */
	for (int i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n++] = '\n';
	/* One write a line, so lines of several threads never interleave. */
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}
