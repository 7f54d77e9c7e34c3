/* SPDX-License-Identifier: Apache-2.0 */
/* The auditor's status file (status.h). */
#include "auditor_status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static json_t *u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *origin_json(const struct auditor_status_origin *o)
{
	json_t *obj = json_object(), *alerts = json_array();

	json_object_set_new(obj, "origin", o->origin ? json_string(o->origin) : json_null());
	json_object_set_new(obj, "token", json_string(o->token ? o->token : ""));
	json_object_set_new(obj, "trusted", json_boolean(o->trusted));
	json_object_set_new(obj, "stopped", json_boolean(o->stopped));
	json_object_set_new(obj, "last_seen_ns", u64(o->last_seen_ns));
	json_object_set_new(obj, "last_checkpoint_ns", u64(o->last_checkpoint_ns));
	json_object_set_new(obj, "lag_ms", u64(o->lag_ms));
	json_object_set_new(obj, "lag_p99_ms", u64(o->lag_p99_ms));
	json_object_set_new(obj, "received", u64(o->received));
	json_object_set_new(obj, "mirrored", u64(o->mirrored));
	json_object_set_new(obj, "duplicates", u64(o->duplicates));
	json_object_set_new(obj, "refused", u64(o->refused));
	json_object_set_new(obj, "held", u64(o->held));
	for (size_t i = 0; i < o->n_alerts; i++)
		json_array_append_new(alerts, json_string(o->alerts[i]));
	json_object_set_new(obj, "alerts", alerts);
	return obj;
}

int auditor_status_write(const char *dir, const struct auditor_status *st)
{
	char path[4096], tmp[4200], when[40];
	json_t *root = json_object(), *origins = json_array();
	time_t secs = (time_t)(st->updated_ns / 1000000000u);
	struct tm tm;
	char *text;
	size_t len, off = 0;
	int fd, rc = 0;

	if (!root || !origins) {
		json_decref(root);
		json_decref(origins);
		return -ENOMEM;
	}
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(root, "format", json_string(AUDITOR_STATUS_FORMAT));
	/* null for an unknown name or key, as the reader gives back NULL for it */
	json_object_set_new(root, "auditor", st->auditor ? json_string(st->auditor) : json_null());
	json_object_set_new(root, "vkey", st->vkey ? json_string(st->vkey) : json_null());
	json_object_set_new(root, "updated", json_string(when));
	json_object_set_new(root, "updated_ns", u64(st->updated_ns));
	for (size_t i = 0; i < st->n; i++)
		json_array_append_new(origins, origin_json(&st->origins[i]));
	json_object_set_new(root, "origins", origins);
	text = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if (snprintf(path, sizeof(path), "%s/" AUDITOR_STATUS_FILE, dir) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		free(text);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(text);
		return -errno;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	free(text);
	if (rc == 0 && write(fd, "\n", 1) != 1)
		rc = -EIO;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

static void set_err(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

/* An unsigned number member (absent: 0). Returns 0 or -EBADMSG. */
static int get_u64(json_t *obj, const char *key, uint64_t *ret)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		*ret = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EBADMSG;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

/* A string member copied (absent or null: NULL when nullable). Returns 0 or -EBADMSG. */
static int get_str(json_t *obj, const char *key, bool nullable, char **ret)
{
	json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if ((!v || json_is_null(v)) && nullable)
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

static int parse_origin(json_t *obj, struct auditor_status_origin *o, size_t i, char *err,
                        size_t err_size)
{
	static const char *const nums[] = {
	    "last_seen_ns", "last_checkpoint_ns", "lag_ms",  "lag_p99_ms", "received",
	    "mirrored",     "duplicates",         "refused", "held"};
	uint64_t *dst[] = {&o->last_seen_ns, &o->last_checkpoint_ns, &o->lag_ms,     &o->lag_p99_ms,
	                   &o->received,     &o->mirrored,           &o->duplicates, &o->refused,
	                   &o->held};
	json_t *alerts, *v;
	size_t j;
	int rc;

	if (!json_is_object(obj)) {
		set_err(err, err_size, "origins[%zu]: not an object", i);
		return -EBADMSG;
	}
	rc = get_str(obj, "origin", true, &o->origin);
	if (rc == 0)
		rc = get_str(obj, "token", false, &o->token);
	if (rc) {
		set_err(err, err_size, "origins[%zu]: \"origin\" or \"token\" is not a string", i);
		return rc;
	}
	for (j = 0; j < sizeof(nums) / sizeof(nums[0]); j++)
		if (get_u64(obj, nums[j], dst[j]) < 0) {
			set_err(err, err_size, "origins[%zu]: \"%s\" is not a number >= 0", i,
			        nums[j]);
			return -EBADMSG;
		}
	o->trusted = json_is_true(json_object_get(obj, "trusted"));
	o->stopped = json_is_true(json_object_get(obj, "stopped"));
	alerts = json_object_get(obj, "alerts");
	if (!alerts)
		return 0;
	if (!json_is_array(alerts)) {
		set_err(err, err_size, "origins[%zu]: \"alerts\" is not an array", i);
		return -EBADMSG;
	}
	o->alerts = calloc(json_array_size(alerts) + 1, sizeof(*o->alerts));
	if (!o->alerts)
		return -ENOMEM;
	json_array_foreach(alerts, j, v)
	{
		if (!json_is_string(v)) {
			set_err(err, err_size, "origins[%zu]: alerts[%zu] is not a string", i, j);
			return -EBADMSG;
		}
		o->alerts[o->n_alerts] = strdup(json_string_value(v));
		if (!o->alerts[o->n_alerts])
			return -ENOMEM;
		o->n_alerts++;
	}
	return 0;
}

int auditor_status_parse(const char *text, size_t len, struct auditor_status *ret, char *err,
                         size_t err_size)
{
	struct auditor_status st = {0};
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *origins, *fmt, *v;
	size_t i;
	int rc = 0;

	if (!root) {
		set_err(err, err_size, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
		return -EBADMSG;
	}
	fmt = json_object_get(root, "format");
	if (!json_is_string(fmt) || strcmp(json_string_value(fmt), AUDITOR_STATUS_FORMAT) != 0) {
		set_err(err, err_size, "\"format\" is not \"" AUDITOR_STATUS_FORMAT "\"");
		rc = -EBADMSG;
		goto out;
	}
	origins = json_object_get(root, "origins");
	if (!json_is_array(origins)) {
		set_err(err, err_size, "\"origins\" is not an array");
		rc = -EBADMSG;
		goto out;
	}
	if (get_str(root, "auditor", true, &st.auditor) || get_str(root, "vkey", true, &st.vkey) ||
	    get_u64(root, "updated_ns", &st.updated_ns)) {
		set_err(err, err_size, "\"auditor\", \"vkey\" or \"updated_ns\" has a wrong type");
		rc = -EBADMSG;
		goto out;
	}
	st.origins = calloc(json_array_size(origins) + 1, sizeof(*st.origins));
	if (!st.origins) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(origins, i, v)
	{
		rc = parse_origin(v, &st.origins[i], i, err, err_size);
		st.n = i + 1;
		if (rc)
			goto out;
	}
out:
	json_decref(root);
	if (rc)
		auditor_status_free(&st);
	else
		*ret = st;
	return rc;
}

int auditor_status_read(const char *dir, struct auditor_status *ret, char *err, size_t err_size)
{
	char path[4096], *text;
	struct stat sb;
	size_t off = 0;
	int fd, rc = 0;

	if (snprintf(path, sizeof(path), "%s/" AUDITOR_STATUS_FILE, dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || sb.st_size > AUDITOR_STATUS_MAX) {
		rc = sb.st_size > AUDITOR_STATUS_MAX ? -EFBIG : -errno;
		close(fd);
		return rc;
	}
	text = malloc((size_t)sb.st_size + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)sb.st_size) {
		ssize_t n = read(fd, text + off, (size_t)sb.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (rc == 0)
		rc = auditor_status_parse(text, off, ret, err, err_size);
	free(text);
	return rc;
}

void auditor_status_free(struct auditor_status *st)
{
	for (size_t i = 0; i < st->n; i++) {
		struct auditor_status_origin *o = &st->origins[i];
		free(o->origin);
		free(o->token);
		for (size_t j = 0; j < o->n_alerts; j++)
			free(o->alerts[j]);
		free(o->alerts);
	}
	free(st->origins);
	free(st->auditor);
	free(st->vkey);
	*st = (struct auditor_status){0};
}
