/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl fleet status|incidents --mirror DIR: the mirrors evident-auditor keeps of a fleet's
 * logs. What each mirror holds (entries, checkpoints, cosignatures) is read from the mirror
 * vault itself, read-only; what only the auditor knows (alerts, when an origin was last heard
 * from, the lag) from the status file it rewrites atomically in DIR (auditor_status.h). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "auditor_status.h"
#include "ctl.h"
#include "fleet.h"

enum {
	ARG_MIRROR = CTL_OPT_VERB,
};

static const char *arg_mirror;

static int option(struct ctl *c, int opt, const char *arg)
{
	(void)c;
	if (opt == ARG_MIRROR) {
		arg_mirror = arg;
		return 0;
	}
	return CTL_EXIT_USAGE;
}

/* One origin: a mirror folder, a line of the status file, or both. */
struct fleet_row {
	char origin[VAULT_ORIGIN_MAX + 1];
	bool no_origin; /* the status line of messages naming no origin */
	char token[FLEET_TOKEN_MAX];
	bool has_mirror;
	const struct auditor_status_origin *st; /* borrowed from the status; NULL: none */
};

struct fleet {
	struct fleet_row *v;
	size_t n, cap;
	struct auditor_status st;
	bool has_status;
	char status_problem[300];
};

static struct fleet_row *row_of(struct fleet *f, const char *token)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].token, token) == 0)
			return &f->v[i];
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct fleet_row *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n] = (struct fleet_row){0};
	snprintf(f->v[f->n].token, sizeof(f->v[f->n].token), "%s", token);
	return &f->v[f->n++];
}

static int cmp_row(const void *a, const void *b)
{
	const struct fleet_row *x = a, *y = b;
	if (x->no_origin != y->no_origin)
		return x->no_origin ? 1 : -1;
	return strcmp(x->origin, y->origin);
}

static void fleet_free(struct fleet *f)
{
	free(f->v);
	if (f->has_status)
		auditor_status_free(&f->st);
}

/* The mirrors in DIR (folders whose name is an origin token and which hold a vault) and the
 * status file's origins. Returns 0 or an exit status (printed). */
static int fleet_load(struct fleet *f)
{
	char err[300] = "";
	struct dirent *de;
	DIR *d = opendir(arg_mirror);
	int rc;

	if (!d)
		return ctl_file_error(arg_mirror, -errno);
	while ((de = readdir(d))) {
		char origin[VAULT_ORIGIN_MAX + 1], path[4096];
		struct stat sb;
		struct fleet_row *r;
		if (fleet_subject_origin(de->d_name, strlen(de->d_name), origin, sizeof(origin)) <
		    0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/data.mdb", arg_mirror, de->d_name);
		if (stat(path, &sb) < 0)
			continue;
		r = row_of(f, de->d_name);
		if (!r) {
			closedir(d);
			return ctl_file_error(arg_mirror, -ENOMEM);
		}
		snprintf(r->origin, sizeof(r->origin), "%s", origin);
		r->has_mirror = true;
	}
	closedir(d);
	rc = auditor_status_read(arg_mirror, &f->st, err, sizeof(err));
	if (rc == 0) {
		uint64_t age = ctl_now_ns() - f->st.updated_ns;
		f->has_status = true;
		if (f->st.updated_ns < ctl_now_ns() &&
		    age > 3ull * AUDITOR_STATUS_HEARTBEAT_S * 1000000000u)
			snprintf(f->status_problem, sizeof(f->status_problem),
			         "auditor: its status was last written %" PRIu64 " s ago (is "
			         "evident-auditor running?)",
			         age / 1000000000u);
	} else if (rc == -ENOENT) {
		snprintf(f->status_problem, sizeof(f->status_problem),
		         "auditor: no " AUDITOR_STATUS_FILE " in %.200s (evident-auditor has not "
		         "run here)",
		         arg_mirror);
	} else {
		snprintf(f->status_problem, sizeof(f->status_problem),
		         "auditor: " AUDITOR_STATUS_FILE ": %.200s",
		         rc == -EBADMSG ? err : strerror(-rc));
	}
	for (size_t i = 0; f->has_status && i < f->st.n; i++) {
		const struct auditor_status_origin *so = &f->st.origins[i];
		struct fleet_row *r = row_of(f, so->origin ? so->token : "");
		if (!r)
			return ctl_file_error(arg_mirror, -ENOMEM);
		r->st = so;
		r->no_origin = !so->origin;
		if (so->origin)
			snprintf(r->origin, sizeof(r->origin), "%s", so->origin);
	}
	if (f->n)
		qsort(f->v, f->n, sizeof(*f->v), cmp_row);
	return 0;
}

/* What a mirror holds. */
struct mirror_info {
	bool ok;
	char problem[200];
	uint64_t entries, checkpoint_size, cosigned_size;
};

static void mirror_read(const struct fleet_row *r, struct mirror_info *mi)
{
	char dir[4096];
	struct vault *v = NULL;
	struct vault_reader *rd = NULL;
	struct vault_checkpoint cp;
	int rc;

	*mi = (struct mirror_info){0};
	snprintf(dir, sizeof(dir), "%s/%s", arg_mirror, r->token);
	rc = vault_open(dir, VAULT_OPEN_READ, NULL, &v);
	if (rc == 0)
		rc = vault_reader_begin(v, &rd);
	if (rc < 0) {
		snprintf(mi->problem, sizeof(mi->problem), "mirror: %s", ctl_strerror(rc));
		vault_close(v);
		return;
	}
	mi->ok = true;
	mi->entries = vault_reader_size(rd);
	if (vault_checkpoint_latest(rd, NULL, &cp) == 0)
		mi->checkpoint_size = cp.size;
	if (vault_checkpoint_witnessed(rd, 0, 1, NULL, &cp) == 0)
		mi->cosigned_size = cp.size;
	vault_reader_end(rd);
	vault_close(v);
}

static json_t *time_or_null(uint64_t ns)
{
	return ns ? ctl_json_time(ns) : json_null();
}

static int run_status(const struct ctl *c, struct fleet *f)
{
	bool any_alert = false;

	if (!c->json)
		printf("%-36s %10s %10s %10s %8s %-24s %s\n", "origin", "entries", "checkpoint",
		       "cosigned", "lag", "last seen", "alerts");
	for (size_t i = 0; i < f->n; i++) {
		const struct fleet_row *r = &f->v[i];
		const struct auditor_status_origin *so = r->st;
		struct mirror_info mi = {0};
		char path[4096], t[CTL_TIME_MAX], lag[32];
		json_t *alerts = json_array();
		size_t n_alerts;
		if (r->has_mirror)
			mirror_read(r, &mi);
		snprintf(path, sizeof(path), "%s/%s", arg_mirror, r->token);
		if (r->has_mirror && !mi.ok)
			json_array_append_new(alerts, ctl_json_string(mi.problem));
		for (size_t j = 0; so && j < so->n_alerts; j++)
			json_array_append_new(alerts, ctl_json_string(so->alerts[j]));
		if (*f->status_problem && !r->no_origin)
			json_array_append_new(alerts, ctl_json_string(f->status_problem));
		n_alerts = json_array_size(alerts);
		any_alert |= n_alerts > 0;
		if (so && so->lag_ms)
			snprintf(lag, sizeof(lag), "%.1fs", (double)so->lag_ms / 1000.0);
		else
			snprintf(lag, sizeof(lag), "-");
		if (c->json) {
			_cleanup_(json_decrefp) json_t *o = json_object();
			ctl_json_set(o, "origin",
			             r->no_origin ? json_null() : ctl_json_string(r->origin));
			ctl_json_set(o, "path",
			             r->has_mirror ? ctl_json_string(path) : json_null());
			ctl_json_set(o, "entries", ctl_json_u64(mi.entries));
			ctl_json_set(o, "checkpoint_size", ctl_json_u64(mi.checkpoint_size));
			ctl_json_set(o, "cosigned_size", ctl_json_u64(mi.cosigned_size));
			ctl_json_set(o, "last_seen", time_or_null(so ? so->last_seen_ns : 0));
			ctl_json_set(o, "last_checkpoint",
			             time_or_null(so ? so->last_checkpoint_ns : 0));
			ctl_json_set(o, "lag_ms", ctl_json_u64(so ? so->lag_ms : 0));
			ctl_json_set(o, "lag_p99_ms", ctl_json_u64(so ? so->lag_p99_ms : 0));
			ctl_json_set(o, "trusted", json_boolean(so && so->trusted));
			ctl_json_set(o, "stopped", json_boolean(so && so->stopped));
			ctl_json_set(o, "received", ctl_json_u64(so ? so->received : 0));
			ctl_json_set(o, "duplicates", ctl_json_u64(so ? so->duplicates : 0));
			ctl_json_set(o, "refused", ctl_json_u64(so ? so->refused : 0));
			ctl_json_set(o, "alerts", json_incref(alerts));
			ctl_json_print(stdout, o, true);
		} else {
			size_t j;
			json_t *a;
			printf("%-36s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %8s %-24s %s\n",
			       r->no_origin ? "(no origin)" : r->origin, mi.entries,
			       mi.checkpoint_size, mi.cosigned_size, lag,
			       so && so->last_seen_ns ? ctl_time_format(so->last_seen_ns, t) : "-",
			       n_alerts ? "" : "ok");
			json_array_foreach(alerts, j, a) printf("    ! %s\n", json_string_value(a));
		}
		json_decref(alerts);
	}
	if (!f->n && *f->status_problem) { /* nothing mirrored and no auditor heard from */
		any_alert = true;
		if (c->json) {
			_cleanup_(json_decrefp) json_t *o = json_object();
			json_t *alerts = json_array();
			json_array_append_new(alerts, ctl_json_string(f->status_problem));
			ctl_json_set(o, "origin", json_null());
			ctl_json_set(o, "path", json_null());
			ctl_json_set(o, "alerts", alerts);
			ctl_json_print(stdout, o, true);
		} else {
			printf("    ! %s\n", f->status_problem);
		}
	}
	if (!c->json)
		printf("%zu origin(s)%s\n", f->n, any_alert ? "; alerts" : "");
	return any_alert ? CTL_EXIT_PROBLEM : 0;
}

static int run_incidents(const struct ctl *c, struct fleet *f)
{
	uint64_t total = 0;
	bool header = true;
	int rc = 0;

	for (size_t i = 0; i < f->n; i++) {
		const struct fleet_row *r = &f->v[i];
		struct ctl sub = *c;
		struct ctl_vault cv;
		char dir[4096];
		uint64_t shown = 0;
		if (!r->has_mirror)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", arg_mirror, r->token);
		sub.vault_dir = dir;
		rc = ctl_vault_open(&sub, &cv);
		if (rc)
			break;
		rc = ctl_incidents_list(&sub, &cv, r->origin, CTL_INCIDENT_OPEN, header, &shown);
		ctl_vault_close(&cv);
		if (rc)
			break;
		header = false;
		total += shown;
	}
	if (rc == 0 && !c->json)
		printf("%" PRIu64 " open incident(s) in %zu mirror(s)\n", total, f->n);
	return rc;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct fleet f = {0};
	int rc;

	(void)argc;
	if (!arg_mirror)
		return ctl_usage_error("fleet: --mirror DIR is required (the auditor's --mirror)");
	if (strcmp(argv[0], "status") != 0 && strcmp(argv[0], "incidents") != 0)
		return ctl_usage_error("fleet: \"%s\": status or incidents expected", argv[0]);
	rc = fleet_load(&f);
	if (rc == 0)
		rc = strcmp(argv[0], "status") == 0 ? run_status(c, &f) : run_incidents(c, &f);
	fleet_free(&f);
	return rc;
}

static const struct option options[] = {
    {"mirror", required_argument, NULL, ARG_MIRROR},
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_fleet = {
    .name = "fleet",
    .summary = "the fleet's mirrors: status and alerts, open incidents",
    .synopsis = "fleet status|incidents --mirror DIR",
    .description =
        "Reads the mirror folder of evident-auditor (its --mirror DIR): one mirror vault\n"
        "per origin in DIR/<origin token>/, and DIR/fleet-status.json, the status the\n"
        "auditor rewrites atomically (alerts, last message, lag). --vault is not used.\n"
        "\n"
        "fleet status: per origin its mirror path, entries mirrored, the latest checkpoint's\n"
        "size, the latest cosigned checkpoint's size, the mirror lag, when the auditor last\n"
        "heard from it, and its open alerts (fork, gap, silent, malformed messages, ...; see\n"
        "evident-auditor --help). An origin the trust file does not list appears with its\n"
        "alert and no mirror; messages whose subject names no origin on a line of their\n"
        "own. A status file older than three heartbeats (the auditor is not running) is an\n"
        "alert too. With --json one object per origin: origin (null for the no-origin\n"
        "line), path (null without a mirror), entries, checkpoint_size, cosigned_size,\n"
        "last_seen, last_checkpoint (RFC 3339 or null), lag_ms, lag_p99_ms, trusted,\n"
        "stopped, received, duplicates, refused, alerts (strings).\n"
        "\n"
        "fleet incidents: the open incidents of every mirror, as 'evidentctl incidents\n"
        "--status open' lists them, with the origin first (--json: an \"origin\" key).",
    .options = "--mirror DIR\n"
               "    The auditor's mirror folder (required).",
    .exit_status = "0  success; status: no alert\n"
                   "1  status: some origin has an alert\n"
                   "2  usage error\n"
                   "3  a folder or mirror could not be read",
    .examples =
        "evidentctl fleet status --mirror /srv/fleet\n"
        "evidentctl fleet status --mirror /srv/fleet --json | jq -c 'select(.alerts != [])'\n"
        "evidentctl fleet incidents --mirror /srv/fleet",
    .long_options = options,
    .option = option,
    .min_args = 1,
    .max_args = 1,
    .args_name = "status or incidents",
    .run = run,
};
