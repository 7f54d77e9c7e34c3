/* SPDX-License-Identifier: Apache-2.0 */
/* stderr or the journal's native protocol (log.h). The level and the destination are the
 * process's one piece of logging state: set at start, read by every thread (an atomic, and a
 * pthread_once for the destination). */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static atomic_int max_level = LOG_INFO;

static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static int journal_fd = -1; /* written once under journal_once */
static struct sockaddr_un journal_addr;
static socklen_t journal_addr_len;

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

/* systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr is the journal; if stderr
 * is still that stream (not redirected since), the native protocol may replace it. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void journal_init(void)
{
	const char *path = getenv("EVIDENT_JOURNAL_SOCKET");

	if (!stderr_is_journal())
		return;
	if (!path || !*path)
		path = JOURNAL_SOCKET;
	if (strlen(path) >= sizeof(journal_addr.sun_path))
		return;
	journal_addr.sun_family = AF_UNIX;
	strcpy(journal_addr.sun_path, path);
	journal_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

/* Appends "NAME=value\n" (value without newlines) to buf; returns the new length. */
static size_t field(char *buf, size_t n, size_t cap, const char *name, const char *value)
{
	int m = snprintf(buf + n, cap - n, "%s=%s\n", name, value);
	return m < 0 || (size_t)m >= cap - n ? n : n + (size_t)m;
}

static bool journal_send(int level, const struct log_fields *f, const char *msg)
{
	char buf[LOG_LINE_MAX + 512], num[24];
	size_t n = 0;

	snprintf(num, sizeof(num), "%d", level);
	n = field(buf, n, sizeof(buf), "PRIORITY", num);
	n = field(buf, n, sizeof(buf), "SYSLOG_IDENTIFIER", program_invocation_short_name);
	if (f && f->has_seq) {
		snprintf(num, sizeof(num), "%" PRIu64, f->seq);
		n = field(buf, n, sizeof(buf), "EVIDENT_SEQ", num);
	}
	if (f && f->has_incident) {
		snprintf(num, sizeof(num), "%" PRIu64, f->incident);
		n = field(buf, n, sizeof(buf), "EVIDENT_INCIDENT", num);
	}
	if (f && f->model && !strpbrk(f->model, "\n"))
		n = field(buf, n, sizeof(buf), "EVIDENT_MODEL", f->model);
	n = field(buf, n, sizeof(buf), "MESSAGE", msg);
	return sendto(journal_fd, buf, n, MSG_NOSIGNAL, (struct sockaddr *)&journal_addr,
	              journal_addr_len) == (ssize_t)n;
}

static void vlog(int level, const struct log_fields *f, const char *fmt, va_list ap)
{
	char buf[LOG_LINE_MAX + 16];
	int n, m;

	if (level > atomic_load(&max_level))
		return;
	pthread_once(&journal_once, journal_init);
	n = snprintf(buf, sizeof(buf), "<%d>", level);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n = (size_t)(n + m) < sizeof(buf) - 1 ? n + m : (int)sizeof(buf) - 2;
	/* A message never spans lines: journald would take the rest for another record. */
	for (int i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n] = '\0';
	if (journal_fd >= 0 && journal_send(level, f, strchr(buf, '>') + 1))
		return;
	buf[n++] = '\n';
	/* One write a line, so lines of several threads never interleave. */
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}

void log_fields_printf(int level, const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, f, fmt, ap);
	va_end(ap);
}

void log_printf(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}
