/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the auditor's status file (tools/auditor/auditor_status.h), which `evidentctl
 * fleet status` reads from a mirror folder. Whatever the bytes, parsing either refuses them
 * with a message or gives a status that, written out by the auditor's own writer and parsed
 * again, is the same status (a round trip through the one function that writes the format). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditor_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/fuzz-auditor-status-XXXXXX";

static void cleanup(void)
{
	char path[sizeof(dir) + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, AUDITOR_STATUS_FILE);
	unlink(path);
	rmdir(dir);
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same(const struct auditor_status *a, const struct auditor_status *b)
{
	if (!str_eq(a->auditor, b->auditor) || !str_eq(a->vkey, b->vkey) ||
	    a->updated_ns != b->updated_ns || a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct auditor_status_origin *x = &a->origins[i], *y = &b->origins[i];
		if (!str_eq(x->origin, y->origin) || !str_eq(x->token, y->token) ||
		    x->trusted != y->trusted || x->stopped != y->stopped ||
		    x->last_seen_ns != y->last_seen_ns ||
		    x->last_checkpoint_ns != y->last_checkpoint_ns || x->lag_ms != y->lag_ms ||
		    x->lag_p99_ms != y->lag_p99_ms || x->received != y->received ||
		    x->mirrored != y->mirrored || x->duplicates != y->duplicates ||
		    x->refused != y->refused || x->held != y->held || x->n_alerts != y->n_alerts)
			return 0;
		for (size_t k = 0; k < x->n_alerts; k++)
			if (!str_eq(x->alerts[k], y->alerts[k]))
				return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct auditor_status st = {0}, again = {0};
	char err[256];
	int rc;

	if (!ready) {
		if (!mkdtemp(dir))
			abort();
		atexit(cleanup);
		ready = 1;
	}
	err[0] = 'x';
	rc = auditor_status_parse((const char *)data, size, &st, err, sizeof(err));
	if (rc == -EBADMSG) {
		if (err[0] == '\0' || err[0] == 'x' || !memchr(err, '\0', sizeof(err)))
			abort(); /* a refusal always says why */
		return 0;
	}
	if (rc == -ENOMEM)
		return 0;
	if (rc != 0)
		abort();
	if (auditor_status_write(dir, &st) != 0)
		abort();
	rc = auditor_status_read(dir, &again, err, sizeof(err));
	if (rc != 0 || !same(&st, &again)) {
		fprintf(stderr, "round trip: %d %s\n", rc, rc ? err : "differs");
		abort();
	}
	auditor_status_free(&again);
	auditor_status_free(&st);
	return 0;
}
