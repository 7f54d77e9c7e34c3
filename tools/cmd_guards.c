/* SPDX-License-Identifier: Apache-2.0 */
/* evidentctl guards: the [guard NAME] sections in force over time, read from the vault's
 * config entries (evidentd appends the config file's text at every start and accepted
 * reload), and how often each fired: the verdict entries naming it (Verdict.guards), and the
 * records of its model it catches when evaluated again with the daemon's code. The config
 * text is read by evidentd's own parser (config.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "trigger.h"
#ifdef CTL_HAVE_CONFIG
#include "config.h"
#endif

#ifdef CTL_HAVE_CONFIG

/* One deployment: a guard's definition from the config entry that brought it until the one
 * that changed or removed it (or a start without a config file). */
struct deployment {
	char *name, *model, *when, *action, *reason;
	bool audit;
	uint64_t config_seq, from_ns;
	char sha256[CTL_HEX_MAX];
	bool ended;
	uint64_t until_seq, until_ns;
	/* verdict entries naming it while in force, by action */
	uint64_t verdicts, by_action[8];
	struct ctl_backtest b; /* evaluated again on its model's records meanwhile */
	bool evaluated;
	char *problem; /* the expression does not compile (a config evidentd accepted: damage) */
};

/* A lifecycle or config entry, in vault order. */
struct event {
	uint64_t seq, ns;
	int type;
	bool start_without_config;
	char *text; /* config entries */
	char sha256[CTL_HEX_MAX];
};

struct guards {
	struct event *ev;
	size_t n_ev, ev_cap;
	struct deployment *d;
	size_t n_d;
	char **problems; /* config entries that could not be read */
	size_t n_problems;
};

static int event_fn(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct guards *gs = ud;
	struct event ev = {.seq = e->leaf.seq, .ns = e->leaf.timestamp_ns, .type = e->leaf.type};

	if (p->status != 0)
		return 0;
	if (e->leaf.type == VAULT_ENTRY_LIFECYCLE) {
		const Evident__Entry__V1__LifecycleEntry *le =
		    (const Evident__Entry__V1__LifecycleEntry *)p->msg;
		if (le->event != EVIDENT__ENTRY__V1__LIFECYCLE_ENTRY__EVENT__START ||
		    le->has_config_sha256)
			return 0;
		ev.start_without_config = true;
	} else {
		const Evident__Entry__V1__ConfigEntry *ce =
		    (const Evident__Entry__V1__ConfigEntry *)p->msg;
		if (!(ev.text = strdup(ce->text ? ce->text : "")))
			return -ENOMEM;
		if (ce->has_sha256 && ce->sha256.len == 32)
			ctl_hex(ce->sha256.data, 32, ev.sha256);
	}
	if (gs->n_ev == gs->ev_cap) {
		size_t cap = gs->ev_cap ? 2 * gs->ev_cap : 16;
		struct event *nv = realloc(gs->ev, cap * sizeof(*nv));
		if (!nv) {
			free(ev.text);
			return -ENOMEM;
		}
		gs->ev = nv;
		gs->ev_cap = cap;
	}
	gs->ev[gs->n_ev++] = ev;
	return 0;
}

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int problem(struct guards *gs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int problem(struct guards *gs, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	char **nv = realloc(gs->problems, (gs->n_problems + 1) * sizeof(char *));

	if (!nv)
		return -ENOMEM;
	gs->problems = nv;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	gs->problems[gs->n_problems++] = s;
	return 0;
}

/* A config entry's text through evidentd's parser, named "config entry SEQ" in messages.
 * Returns 0, -EINVAL with err, or another negative errno. */
static int parse_text(const char *text, uint64_t seq, struct config *ret, char *err,
                      size_t err_size)
{
	char name[64];

	snprintf(name, sizeof(name), "config entry %" PRIu64, seq);
	return config_load_text(name, text, strlen(text), ret, err, err_size);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_guard(const struct deployment *d, const struct config_guard *g)
{
	return !strcmp(d->name, g->name) && same(d->model, g->model) && same(d->when, g->when) &&
	       !strcmp(d->action, config_guard_action_name(g->action)) &&
	       same(d->reason, g->reason) && d->audit == g->audit;
}

static void end_at(struct deployment *d, const struct event *ev)
{
	d->ended = true;
	d->until_seq = ev->seq;
	d->until_ns = ev->ns;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int deploy(struct guards *gs, const struct config_guard *g, const struct event *ev)
{
	struct deployment *nd = realloc(gs->d, (gs->n_d + 1) * sizeof(*nd));

	if (!nd)
		return -ENOMEM;
	gs->d = nd;
	nd = &gs->d[gs->n_d];
	*nd = (struct deployment){.name = strdup(g->name),
	                          .model = dup_or_null(g->model),
	                          .when = dup_or_null(g->when),
	                          .action = strdup(config_guard_action_name(g->action)),
	                          .reason = dup_or_null(g->reason),
	                          .audit = g->audit,
	                          .config_seq = ev->seq,
	                          .from_ns = ev->ns};
	snprintf(nd->sha256, sizeof(nd->sha256), "%s", ev->sha256);
	gs->n_d++;
	return nd->name && nd->action ? 0 : -ENOMEM;
}

/* The deployments: each config entry replaces the guards in force (a guard it keeps as it was
 * stays one deployment, across restarts too); a start without a config file ends them all. */
static int timeline(struct guards *gs)
{
	char err[1024];
	int rc = 0;

	if (gs->n_ev) /* qsort's base may not be NULL, even for nothing */
		qsort(gs->ev, gs->n_ev, sizeof(*gs->ev), cmp_event);
	for (size_t i = 0; rc >= 0 && i < gs->n_ev; i++) {
		const struct event *ev = &gs->ev[i];
		if (ev->start_without_config) {
			for (size_t k = 0; k < gs->n_d; k++)
				if (!gs->d[k].ended)
					end_at(&gs->d[k], ev);
			continue;
		}
		struct config c;
		rc = parse_text(ev->text, ev->seq, &c, err, sizeof(err));
		if (rc == -EINVAL) {
			/* evidentd accepted it: the guards it had stay as they were */
			rc = problem(
			    gs, "%s (its guards are not known: the ones before it are kept)", err);
			continue;
		}
		if (rc < 0)
			break;
		size_t before = gs->n_d;
		for (size_t k = 0; k < before; k++) {
			struct deployment *d = &gs->d[k];
			const struct config_guard *g = config_guard_find(&c, d->name);
			if (!d->ended && !(g && same_guard(d, g)))
				end_at(d, ev);
		}
		for (size_t j = 0; rc >= 0 && j < c.n_guards; j++) {
			bool kept = false;
			for (size_t k = 0; k < before && !kept; k++)
				kept = !gs->d[k].ended && same_guard(&gs->d[k], &c.guards[j]);
			if (!kept)
				rc = deploy(gs, &c.guards[j], ev);
		}
		config_deinit(&c);
	}
	return rc;
}

/* Verdict entries naming a guard, counted on the deployment of that name in force then. */
static int verdict_fn(void *ud, const struct vault_entry *e, const struct ctl_payload *p)
{
	struct guards *gs = ud;
	const Evident__Entry__V1__VerdictEntry *ve =
	    p->status == 0 ? (const Evident__Entry__V1__VerdictEntry *)p->msg : NULL;
	const Evident__V1__Verdict *v = ve ? ve->verdict : NULL;

	for (size_t i = 0; v && i < v->n_guards; i++)
		for (size_t k = 0; k < gs->n_d; k++) {
			struct deployment *d = &gs->d[k];
			if (!v->guards[i] || strcmp(d->name, v->guards[i]) ||
			    e->leaf.seq < d->config_seq ||
			    (d->ended && e->leaf.seq >= d->until_seq))
				continue;
			d->verdicts++;
			d->by_action[v->action < 8 ? v->action : 0]++;
			break;
		}
	return 0;
}

/* Each deployment's expression on the records of its model appended while it was in force. */
static int evaluate(struct ctl_vault *cv, struct guards *gs)
{
	uint64_t size = vault_reader_size(cv->r);
	int rc = 0;

	for (size_t k = 0; rc >= 0 && k < gs->n_d; k++) {
		struct deployment *d = &gs->d[k];
		struct ctl_model_filter f = {0};
		struct trig_expr *x;
		struct trig_error e;
		if (d->model) {
			const char *at = strchr(d->model, '@');
			f.id = d->model;
			f.id_len = at ? (size_t)(at - d->model) : strlen(d->model);
			f.version = at ? at + 1 : NULL;
		}
		rc = trig_compile(d->when ? d->when : "", &x, &e);
		if (rc == -EINVAL) {
			rc = asprintf(&d->problem, "when: column %u: %s", e.column, e.message) < 0
			         ? -ENOMEM
			         : 0;
			continue;
		}
		if (rc < 0)
			break;
		rc = ctl_backtest_run(cv->r, x, &f, d->config_seq, d->ended ? d->until_seq : size,
		                      0, UINT64_MAX, 5, &d->b);
		d->evaluated = rc >= 0;
		trig_free(x);
	}
	return rc;
}

static void guards_free(struct guards *gs)
{
	for (size_t i = 0; i < gs->n_ev; i++)
		free(gs->ev[i].text);
	for (size_t k = 0; k < gs->n_d; k++) {
		struct deployment *d = &gs->d[k];
		free(d->name);
		free(d->model);
		free(d->when);
		free(d->action);
		free(d->reason);
		free(d->problem);
		ctl_backtest_free(&d->b);
	}
	for (size_t i = 0; i < gs->n_problems; i++)
		free(gs->problems[i]);
	free(gs->problems);
	free(gs->ev);
	free(gs->d);
}

/* ------------------------------------------------------------------ output */

static const char *const actions[] = {"UNSPECIFIED", "PROCEED", "REVIEW", "PENDING", "HOLD"};

static uint64_t caught(const struct deployment *d, uint64_t *ret_records)
{
	uint64_t n = 0;

	*ret_records = 0;
	for (size_t i = 0; i < d->b.n; i++) {
		n += d->b.t[i].caught;
		*ret_records += d->b.t[i].records;
	}
	return n;
}

static json_t *deployment_json(const struct deployment *d)
{
	json_t *o = json_object(), *va = json_object(), *vs = json_array();
	char t[CTL_TIME_MAX];
	uint64_t records, n = caught(d, &records);

	ctl_json_set(o, "name", ctl_json_string(d->name));
	ctl_json_set(o, "model", ctl_json_string(d->model));
	ctl_json_set(o, "when", ctl_json_string(d->when));
	ctl_json_set(o, "action", ctl_json_string(d->action));
	ctl_json_set(o, "reason", ctl_json_string(d->reason));
	ctl_json_set(o, "audit", json_boolean(d->audit));
	ctl_json_set(o, "config_seq", ctl_json_u64(d->config_seq));
	ctl_json_set(o, "config_sha256", d->sha256[0] ? json_string(d->sha256) : json_null());
	ctl_json_set(o, "from", json_string(ctl_time_format(d->from_ns, t)));
	ctl_json_set(o, "from_unix_ns", ctl_json_u64(d->from_ns));
	ctl_json_set(o, "in_force", json_boolean(!d->ended));
	ctl_json_set(o, "until_seq", d->ended ? ctl_json_u64(d->until_seq) : json_null());
	ctl_json_set(o, "until",
	             d->ended ? json_string(ctl_time_format(d->until_ns, t)) : json_null());
	ctl_json_set(o, "until_unix_ns", d->ended ? ctl_json_u64(d->until_ns) : json_null());
	ctl_json_set(o, "verdicts", ctl_json_u64(d->verdicts));
	for (size_t a = 1; a < sizeof(actions) / sizeof(actions[0]); a++)
		if (d->by_action[a])
			ctl_json_set(va, actions[a], ctl_json_u64(d->by_action[a]));
	ctl_json_set(o, "verdict_actions", va);
	ctl_json_set(o, "records", ctl_json_u64(records));
	ctl_json_set(o, "caught", d->evaluated ? ctl_json_u64(n) : json_null());
	for (size_t i = 0; i < d->b.n; i++)
		json_array_append_new(vs, ctl_backtest_tally_json(&d->b.t[i]));
	ctl_json_set(o, "versions", vs);
	ctl_json_set(o, "problem", ctl_json_string(d->problem));
	return o;
}

static void deployment_text(const struct deployment *d)
{
	char t[CTL_TIME_MAX];
	uint64_t records, n = caught(d, &records);

	printf("guard %s  model %s  action %s%s\n", d->name, d->model ? d->model : "(every model)",
	       d->action, d->audit ? "  audit yes" : "");
	printf("  in force  from config entry %" PRIu64 " (%s)", d->config_seq,
	       ctl_time_format(d->from_ns, t));
	if (d->ended)
		printf(" until entry %" PRIu64 " (%s)\n", d->until_seq,
		       ctl_time_format(d->until_ns, t));
	else
		printf(", still in force\n");
	printf("  when      %s\n", d->when ? d->when : "");
	printf("  reason    %s\n", d->reason ? d->reason : "");
	printf("  fired     %" PRIu64 " verdict%s name it", d->verdicts,
	       d->verdicts == 1 ? "" : "s");
	for (size_t a = 1, k = 0; a < sizeof(actions) / sizeof(actions[0]); a++)
		if (d->by_action[a])
			printf("%s%s %" PRIu64, k++ ? ", " : " (", actions[a], d->by_action[a]);
	for (size_t a = 1; a < sizeof(actions) / sizeof(actions[0]); a++)
		if (d->by_action[a]) {
			printf(")");
			break;
		}
	if (d->problem) {
		printf("; not evaluated again: %s\n", d->problem);
		return;
	}
	printf("; evaluated again: it catches %" PRIu64 " of the %" PRIu64
	       " records of its model appended meanwhile\n",
	       n, records);
	for (size_t i = 0; i < d->b.n; i++)
		if (!d->b.t[i].bound)
			printf("  NOT EVALUATED on %s@%s: %s\n", d->b.t[i].model_id,
			       d->b.t[i].model_version, d->b.t[i].problem);
}

static int run(const struct ctl *c, int argc, char **argv)
{
	struct ctl_vault cv;
	struct guards gs = {0};
	int rc;

	(void)argc;
	(void)argv;
	rc = ctl_vault_open(c, &cv);
	if (rc)
		return rc;
	uint64_t size = vault_reader_size(cv.r);
	rc = ctl_scan_type(cv.r, VAULT_ENTRY_LIFECYCLE, 0, size, event_fn, &gs);
	if (rc >= 0)
		rc = ctl_scan_type(cv.r, VAULT_ENTRY_CONFIG, 0, size, event_fn, &gs);
	if (rc >= 0)
		rc = timeline(&gs);
	if (rc >= 0)
		rc = ctl_scan_type(cv.r, VAULT_ENTRY_VERDICT, 0, size, verdict_fn, &gs);
	if (rc >= 0)
		rc = evaluate(&cv, &gs);
	if (rc < 0) {
		rc = ctl_vault_error(&cv, "cannot read entries", rc);
	} else {
		for (size_t k = 0; k < gs.n_d; k++) {
			if (c->json) {
				_cleanup_(json_decrefp) json_t *o = deployment_json(&gs.d[k]);
				if (ctl_json_print(stdout, o, true) < 0)
					rc = CTL_EXIT_UNREADABLE;
			} else {
				deployment_text(&gs.d[k]);
			}
		}
		size_t n_cfg = 0;
		for (size_t i = 0; i < gs.n_ev; i++)
			n_cfg += gs.ev[i].type == VAULT_ENTRY_CONFIG;
		if (!c->json && !gs.n_d)
			printf("no guard was ever deployed (no [guard] section in the vault's %zu "
			       "config entr%s)\n",
			       n_cfg, n_cfg == 1 ? "y" : "ies");
		for (size_t i = 0; i < gs.n_problems; i++) {
			ctl_error("%s", gs.problems[i]);
			rc = rc ? rc : CTL_EXIT_PROBLEM;
		}
	}
	guards_free(&gs);
	ctl_vault_close(&cv);
	return rc;
}

#else /* !CTL_HAVE_CONFIG */

static int run(const struct ctl *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	return ctl_usage_error("guards: this evidentctl was built without evidentd's config "
	                       "parser (libinih-dev was missing)");
}

#endif

static const struct option options[] = {
    CTL_GLOBAL_OPTIONS,
};

const struct ctl_verb ctl_verb_guards = {
    .name = "guards",
    .summary = "the guards in force over time and how often each fired",
    .synopsis = "guards",
    .description =
        "Lists every deployment of a [guard NAME] section, from the vault alone: evidentd\n"
        "appends its config file's text at every start and accepted reload (a config\n"
        "entry), which is the record of who deployed which constraint when. Each config\n"
        "entry, read by evidentd's own parser, replaces the guards in force; a guard it\n"
        "keeps unchanged stays one deployment (restarts included), a changed one (model,\n"
        "when, action, reason or audit) starts a new one, and a start without a config\n"
        "file ends them all. A reload evidentd refused wrote no config entry and changed\n"
        "nothing.\n"
        "For each deployment: its definition, the config entry that brought it (and the\n"
        "config's SHA-256), until which entry it was in force (or that it still is), and\n"
        "how often it fired, counted two ways: the verdict entries naming it (Verdict.guards,\n"
        "by action: what evidentd did), and the records of its model appended while it was\n"
        "in force that its `when` catches, evaluated again with the daemon's code (what it\n"
        "should have done; 'evidentctl backtest --guard' on a config file before deploying\n"
        "it). A model version whose manifest lacks a feature the guard names is not\n"
        "evaluated and is named.\n"
        "With --json, one object per deployment: name, model, when, action, reason, audit,\n"
        "config_seq, config_sha256, from, from_unix_ns, in_force, until_seq, until,\n"
        "until_unix_ns (null while in force), verdicts, verdict_actions {REVIEW, HOLD, ...},\n"
        "records, caught (null when the expression does not compile), versions (per model\n"
        "version, as 'evidentctl backtest --json' writes them) and problem.",
    .options = NULL,
    .exit_status = "0  success\n"
                   "1  a config entry could not be read by this evidentctl's parser (named)\n"
                   "2  usage error\n"
                   "3  the vault could not be read",
    .examples = "evidentctl guards\n"
                "evidentctl guards --json | jq 'select(.in_force)'",
    .long_options = options,
    .run = run,
};
