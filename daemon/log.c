/* SPDX-License-Identifier: Apache-2.0 */
/* stderr logging with syslog priority prefixes. The level is the daemon's one piece of
 * process-wide state: logging is process-wide by nature (stderr). */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int max_level = LOG_INFO;

void log_set_level(int level)
{
	atomic_store(&max_level, level);
}

int log_get_level(void)
{
	return atomic_load(&max_level);
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
	int n;

	if (level > atomic_load(&max_level))
		return;
	n = snprintf(buf, sizeof(buf), "<%d>", level);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* one write per line, so lines of several threads never interleave */
	size_t len = strlen(buf);
	buf[len++] = '\n';
	fwrite(buf, 1, len, stderr);
}
