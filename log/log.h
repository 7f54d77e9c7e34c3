/* SPDX-License-Identifier: Apache-2.0 */
/* The programs' log (evidentd, evident-witness, evident-auditor): one line a message, written
 * at once so that lines of several threads never interleave, each with its syslog priority.
 *
 * Where a line goes: to stderr with a "<N>" priority prefix (journald, and any supervisor,
 * reads the prefix as the priority), or, when the program runs under systemd with its stderr
 * connected to the journal (JOURNAL_STREAM names stderr's device and inode, as systemd sets
 * it), straight to journald over its native protocol (a datagram on
 * /run/systemd/journal/socket) with the fields PRIORITY, SYSLOG_IDENTIFIER, MESSAGE and the
 * message's structured fields (struct log_fields: EVIDENT_SEQ, EVIDENT_INCIDENT,
 * EVIDENT_MODEL), so that `journalctl -u evidentd EVIDENT_INCIDENT=42` finds them. A datagram
 * the journal does not take is written to stderr instead: no line is lost. For tests,
 * EVIDENT_JOURNAL_SOCKET=PATH names another socket (JOURNAL_STREAM must still match).
 *
 * A message never spans lines: newlines in it are written as spaces. Messages are cut at
 * LOG_LINE_MAX bytes. Programs log where they handle an error, once; libraries never log. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#define LOG_LINE_MAX 2048

void log_set_level(int level); /* LOG_ERR .. LOG_DEBUG; default LOG_INFO */
int log_get_level(void);
/* Parses "err"/"error", "warning", "notice", "info", "debug". Returns the level or -EINVAL. */
int log_level_from_name(const char *name);

/* What a message is about, as journal fields (on stderr they are not repeated: the message
 * says it in words). A field is sent when its has_ flag is set or, for model, when not NULL. */
struct log_fields {
	bool has_seq, has_incident;
	uint64_t seq;      /* EVIDENT_SEQ: the vault entry (a record's, an audit's, ...) */
	uint64_t incident; /* EVIDENT_INCIDENT: the incident entry's seq */
	const char *model; /* EVIDENT_MODEL: "ID@VERSION" or "ID" */
};
#define LOG_SEQ(s)      (&(const struct log_fields){.has_seq = true, .seq = (s)})
#define LOG_INCIDENT(i) (&(const struct log_fields){.has_incident = true, .incident = (i)})
#define LOG_MODEL(m)    (&(const struct log_fields){.model = (m)})
/* Several at once; 0 (never an incident's or a record's seq: entry 0 is the vault's first
 * START) and NULL leave a field out. */
#define LOG_ABOUT(seq_, incident_, model_)                            \
	(&(const struct log_fields){.has_seq = (seq_) != 0,           \
	                            .seq = (seq_),                    \
	                            .has_incident = (incident_) != 0, \
	                            .incident = (incident_),          \
	                            .model = (model_)})

/* f may be NULL. */
void log_fields_printf(int level, const struct log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)             log_printf(LOG_ERR, __VA_ARGS__)
#define log_warning(...)           log_printf(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)            log_printf(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)              log_printf(LOG_INFO, __VA_ARGS__)
#define log_debug(...)             log_printf(LOG_DEBUG, __VA_ARGS__)
/* The same about an entry: log_at(LOG_ERR, LOG_INCIDENT(seq), "...", ...). */
#define log_at(level, fields, ...) log_fields_printf(level, fields, __VA_ARGS__)
