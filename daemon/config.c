/* SPDX-License-Identifier: Apache-2.0 */
/* Config parsing. libinih splits sections and keys; this file checks every value and
 * reports the first problem with its line and the column of the value. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "trigger.h"
#include "wirecheck.h"

struct parse {
	struct config *c;
	int column; /* > 0: the error's column within the value (a trigger expression) */
	const char *path;
	const char *text;
	char err[512];
	int err_line; /* line inih reports for our handler's failure */
	int line;     /* lines seen so far, to find the current one */
};

static int default_paths(struct config *c)
{
	const char *state = getenv("STATE_DIRECTORY"), *rt = getenv("RUNTIME_DIRECTORY");
	char buf[PATH_MAX];

	/* systemd may pass several colon-separated folders: the first is ours */
	if (state && *state) {
		snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(state, ":"), state);
		c->vault_dir = strdup(buf);
	} else {
		c->vault_dir = strdup("/var/lib/evidentd");
	}
	if (rt && *rt)
		snprintf(buf, sizeof(buf), "%.*s/ingest.sock", (int)strcspn(rt, ":"), rt);
	else
		snprintf(buf, sizeof(buf), "/run/evidentd/ingest.sock");
	c->socket_path = strdup(buf);
	return c->vault_dir && c->socket_path ? 0 : -ENOMEM;
}

int config_defaults(struct config *ret)
{
	struct config c = {
	    .socket_mode = 0660,
	    .max_frame = FRAME_MAX_DEFAULT,
	    .max_unacked = 4u << 20,
	    .max_queue = 256u << 20,
	    .max_connections = 1024,
	    .max_connections_per_uid = 256,
	    .hello_timeout_s = 10,
	    .idle_timeout_s = 3600,
	    .frame_timeout_s = 30,
	    .registration_timeout_s = 60,
	    .commit_window_us = 0,
	    .max_batch = 4096,
	    .checkpoint_interval_s = 60,
	    .checkpoint_max_unsigned = 10000,
	    .checkpoint_max_unsigned_ms = 100,
	    .disk_reserve = 1u << 20,
	    .map_size = 0,
	    .map_max = 0,
	    .workers = 2,
	    .job_queue = 1024,
	    .log_level = LOG_INFO,
	    .witness_stop_wait_ms = 5000,
	    .retention_interval_s = 60,
	    .retention_batch = 1000,
	    .forward = {.max_pending = 1024,
	                .stop_wait_ms = 10000,
	                .replicas = 1,
	                .duplicate_window_s = 600},
	};
	int rc = default_paths(&c);
	if (rc < 0) {
		config_deinit(&c);
		return rc;
	}
	*ret = c;
	return 0;
}

void config_deinit(struct config *c)
{
	free(c->path);
	free(c->text);
	free(c->vault_dir);
	free(c->socket_path);
	free(c->allow_uids);
	free(c->allow_gids);
	free(c->signing_key);
	free(c->origin);
	for (size_t i = 0; i < c->n_triggers; i++) {
		struct config_trigger *t = &c->triggers[i];
		free(t->name);
		free(t->model);
		free(t->when);
		trig_free(t->expr);
		for (size_t m = 0; m < t->n_methods; m++)
			free(t->methods[m]);
		free(t->methods);
	}
	free(c->triggers);
	for (size_t i = 0; i < c->n_guards; i++) {
		struct config_guard *g = &c->guards[i];
		free(g->name);
		free(g->model);
		free(g->when);
		trig_free(g->expr);
		free(g->reason);
	}
	free(c->guards);
	for (size_t i = 0; i < c->n_models; i++) {
		free(c->models[i].id);
		free(c->models[i].oracle);
	}
	free(c->models);
	for (size_t i = 0; i < c->n_witnesses; i++) {
		free(c->witnesses[i].name);
		free(c->witnesses[i].url);
		free(c->witnesses[i].vkey);
	}
	free(c->witnesses);
	free(c->tiles_dir);
	free(c->metrics_listen);
	struct config_forward *f = &c->forward;
	char **fs[] = {&f->nats_url,       &f->stream,   &f->subject_prefix, &f->creds_file,
	               &f->user,           &f->password, &f->token,          &f->nkey,
	               &f->nkey_seed_file, &f->tls_ca,   &f->tls_cert,       &f->tls_key,
	               &f->tls_hostname};
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		free(*fs[i]);
	free(c->admin_uids);
	for (size_t i = 0; i < c->n_retention_models; i++)
		free(c->retention_models[i].model);
	free(c->retention_models);
	*c = (struct config){0};
}

/* ------------------------------------------------------------------ value parsers */

static int fail(struct parse *p, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct parse *p, const char *name, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err[0])
		return 0;
	n = snprintf(p->err, sizeof(p->err), "%s: ", name);
	va_start(ap, fmt);
	vsnprintf(p->err + n, sizeof(p->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return 0; /* inih: stop and report this line */
}

/* "64M", "1G", "4096": bytes with an optional binary suffix. */
static bool parse_size(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'K':
	case 'k':
		mul = 1ull << 10;
		end++;
		break;
	case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'G':
		mul = 1ull << 30;
		end++;
		break;
	case 'T':
		mul = 1ull << 40;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'B' || *end == 'i')
		end += (end[0] == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || v > max / mul)
		return false;
	*ret = v * mul;
	return true;
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *ret)
{
	uint64_t v;
	if (!parse_size(s, UINT32_MAX, &v) || v < lo || v > hi)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static bool parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
	                                                                            "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*ret = !strcasecmp(s, yes[i]);
			return true;
		}
	}
	return false;
}

static int parse_ids(struct parse *p, const char *name, const char *value, bool groups, void **ret,
                     size_t *ret_n)
{
	char *copy = strdup(value), *save = NULL, *tok;
	uint32_t *ids = NULL;
	size_t n = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);
		if (*end) {
			if (groups) {
				struct group *g = getgrnam(tok);
				if (!g)
					goto bad;
				v = g->gr_gid;
			} else {
				struct passwd *pw = getpwnam(tok);
				if (!pw)
					goto bad;
				v = pw->pw_uid;
			}
		}
		uint32_t *nids = realloc(ids, (n + 1) * sizeof(*ids));
		if (!nids) {
			free(ids);
			free(copy);
			return -ENOMEM;
		}
		ids = nids;
		ids[n++] = (uint32_t)v;
		continue;
	bad:
		fail(p, name, "no %s named \"%s\"", groups ? "group" : "user", tok);
		free(ids);
		free(copy);
		return -EINVAL;
	}
	free(copy);
	*ret = ids;
	*ret_n = n;
	return 0;
}

static int set_string(char **dst, const char *value)
{
	char *s = strdup(value);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* ------------------------------------------------------------------ sections */

static int daemon_key(struct parse *p, const char *name, const char *value)
{
	struct config *c = p->c;
	uint64_t u64;

	if (!strcmp(name, "vault") || !strcmp(name, "socket") || !strcmp(name, "signing_key")) {
		if (value[0] != '/')
			return fail(p, name, "must be an absolute path, not \"%s\"", value);
		char **dst = !strcmp(name, "vault")    ? &c->vault_dir
		             : !strcmp(name, "socket") ? &c->socket_path
		                                       : &c->signing_key;
		return set_string(dst, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "origin")) {
		if (!*value || strlen(value) > 255 || strpbrk(value, " \t+"))
			return fail(p, name, "must be 1-255 characters without spaces or '+'");
		return set_string(&c->origin, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "socket_mode")) {
		char *end;
		unsigned long m = strtoul(value, &end, 8);
		if (*end || !*value || m > 0777)
			return fail(p, name, "expected an octal mode such as 0660, not \"%s\"",
			            value);
		c->socket_mode = (mode_t)m;
		return 1;
	}
	if (!strcmp(name, "socket_group")) {
		char *end;
		unsigned long g = strtoul(value, &end, 10);
		if (*end) {
			struct group *gr = getgrnam(value);
			if (!gr)
				return fail(p, name, "no group named \"%s\"", value);
			g = gr->gr_gid;
		}
		c->socket_gid = (gid_t)g;
		c->has_socket_gid = true;
		return 1;
	}
	if (!strcmp(name, "allow_uids") || !strcmp(name, "allow_gids")) {
		bool groups = name[6] == 'g';
		void *ids;
		size_t n;
		if (parse_ids(p, name, value, groups, &ids, &n) < 0)
			return 0;
		if (groups) {
			free(c->allow_gids);
			c->allow_gids = ids;
			c->n_allow_gids = n;
		} else {
			free(c->allow_uids);
			c->allow_uids = ids;
			c->n_allow_uids = n;
		}
		return 1;
	}
	if (!strcmp(name, "admin_uids")) {
		void *ids;
		size_t n;
		if (parse_ids(p, name, value, false, &ids, &n) < 0)
			return 0;
		free(c->admin_uids);
		c->admin_uids = ids;
		c->n_admin_uids = n;
		c->has_admin_uids = true;
		return 1;
	}
	if (!strcmp(name, "allow_anyone"))
		return parse_bool(value, &c->allow_anyone)
		           ? 1
		           : fail(p, name, "expected yes or no, not \"%s\"", value);
	if (!strcmp(name, "max_frame"))
		return parse_u32(value, 1024, FRAME_MAX_LIMIT, &c->max_frame)
		           ? 1
		           : fail(p, name, "expected 1K..%uM, not \"%s\"", FRAME_MAX_LIMIT >> 20,
		                  value);
	if (!strcmp(name, "max_unacked") || !strcmp(name, "max_queue")) {
		if (!parse_size(value, 1ull << 40, &u64) || u64 < 64 * 1024)
			return fail(p, name, "expected a size of at least 64K, not \"%s\"", value);
		*(name[4] == 'u' ? &c->max_unacked : &c->max_queue) = u64;
		return 1;
	}
	if (!strcmp(name, "disk_reserve")) {
		if (!parse_size(value, 1ull << 40, &u64))
			return fail(p, name, "expected a size (0, 512K, 1M, ...), not \"%s\"",
			            value);
		c->disk_reserve = u64;
		return 1;
	}
	if (!strcmp(name, "map_size") || !strcmp(name, "map_max")) {
		if (!parse_size(value, 1ull << 50, &u64) || u64 < (1u << 20))
			return fail(p, name, "expected a size of at least 1M, not \"%s\"", value);
		*(name[4] == 's' ? &c->map_size : &c->map_max) = u64;
		return 1;
	}
	struct {
		const char *name;
		uint32_t *dst, lo, hi;
	} nums[] = {
	    {"max_connections", &c->max_connections, 1, 1000000},
	    {"max_connections_per_uid", &c->max_connections_per_uid, 1, 1000000},
	    {"hello_timeout", &c->hello_timeout_s, 1, 3600},
	    {"idle_timeout", &c->idle_timeout_s, 0, 86400 * 7},
	    {"frame_timeout", &c->frame_timeout_s, 1, 3600},
	    {"registration_timeout", &c->registration_timeout_s, 1, 86400},
	    {"commit_window_us", &c->commit_window_us, 0, 1000000},
	    {"max_batch", &c->max_batch, 1, 1000000},
	    {"checkpoint_interval", &c->checkpoint_interval_s, 1, 86400 * 7},
	    {"checkpoint_max_unsigned", &c->checkpoint_max_unsigned, 1, 100000000},
	    {"checkpoint_max_unsigned_ms", &c->checkpoint_max_unsigned_ms, 1, 3600000},
	    {"workers", &c->workers, 0, 256},
	    {"witness_quorum", &c->witness_quorum, 0, 255},
	    {"witness_stop_wait_ms", &c->witness_stop_wait_ms, 0, 600000},
	    {"job_queue", &c->job_queue, 1, 1000000},
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (!strcmp(name, nums[i].name))
			return parse_u32(value, nums[i].lo, nums[i].hi, nums[i].dst)
			           ? 1
			           : fail(p, name, "expected a number from %u to %u, not \"%s\"",
			                  nums[i].lo, nums[i].hi, value);
	if (!strcmp(name, "tiles_dir")) {
		if (value[0] != '/')
			return fail(p, name, "expected an absolute path, not \"%s\"", value);
		return set_string(&c->tiles_dir, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "log_level")) {
		int l = log_level_from_name(value);
		if (l < 0)
			return fail(p, name, "expected err, warning, notice, info or debug");
		c->log_level = l;
		return 1;
	}
	return fail(p, name, "unknown key in [daemon]");
}

static const char *const methods[] = {
    "treeshap", "treeshap-interventional", "linear", "kernelshap", "permutation",
    "lime",     "counterfactual",          "flip",   "adversarial"};

static int trigger_methods(struct parse *p, struct config_trigger *t, const char *name,
                           const char *value)
{
	char *copy = strdup(value), *save = NULL, *tok;

	if (!copy)
		return fail(p, name, "out of memory");
	for (size_t m = 0; m < t->n_methods; m++)
		free(t->methods[m]);
	t->n_methods = 0;
	for (tok = strtok_r(copy, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
		size_t k = 0;
		while (k < sizeof(methods) / sizeof(methods[0]) && strcmp(tok, methods[k]))
			k++;
		if (k == sizeof(methods) / sizeof(methods[0])) {
			fail(p, name, "unknown method \"%s\" (expected %s)", tok, CONFIG_METHODS);
			free(copy);
			return 0;
		}
		char **nm = realloc(t->methods, (t->n_methods + 1) * sizeof(char *));
		if (!nm || !(nm[t->n_methods] = strdup(tok))) {
			if (nm)
				t->methods = nm;
			free(copy);
			return fail(p, name, "out of memory");
		}
		t->methods = nm;
		t->n_methods++;
	}
	free(copy);
	if (!t->n_methods)
		return fail(p, name, "expected one or more of %s", CONFIG_METHODS);
	return 1;
}

/* The trigger named in section "trigger NAME", created on its first key. */
static struct config_trigger *trigger_of(struct parse *p, const char *section)
{
	struct config *c = p->c;
	const char *tname = section + 8;

	for (size_t i = 0; i < c->n_triggers; i++)
		if (!strcmp(c->triggers[i].name, tname))
			return &c->triggers[i];
	struct config_trigger *nt = realloc(c->triggers, (c->n_triggers + 1) * sizeof(*nt));
	if (!nt)
		return NULL;
	c->triggers = nt;
	nt = &c->triggers[c->n_triggers];
	*nt = (struct config_trigger){
	    .review_below = CONFIG_REVIEW_BELOW_DEFAULT, .rate_per_second = 10, .burst = 20};
	if (!(nt->name = strdup(tname)))
		return NULL;
	c->n_triggers++;
	return nt;
}

static int trigger_key(struct parse *p, const char *section, const char *name, const char *value)
{
	const char *tname = section + 8;
	struct config_trigger *t;

	if (!*tname || strspn(tname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                             "0123456789_-.") != strlen(tname))
		return fail(p, name, "[%s]: a trigger name is letters, digits, '_', '-' and '.'",
		            section);
	t = trigger_of(p, section);
	if (!t)
		return fail(p, name, "out of memory");
	if (!strcmp(name, "when")) {
		struct trig_error e;
		struct trig_expr *x;
		if (t->when)
			return fail(p, name, "given twice in [%s]", section);
		int rc = trig_compile(value, &x, &e);
		if (rc < 0) {
			p->column = (int)e.column;
			return fail(p, name, "%s", e.message);
		}
		t->expr = x;
		return set_string(&t->when, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "model")) {
		if (!*value || strpbrk(value, " \t"))
			return fail(p, name, "expected a model id (or ID@VERSION), not \"%s\"",
			            value);
		return set_string(&t->model, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "methods"))
		return trigger_methods(p, t, name, value);
	if (!strcmp(name, "review_below")) {
		char *end;
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end || !(v >= 0 && v <= 1))
			return fail(p, name, "expected a confidence from 0 to 1, not \"%s\"",
			            value);
		t->review_below = v;
		return 1;
	}
	if (!strcmp(name, "rate_limit")) {
		if (trig_rate_parse(value, &t->rate_per_second) < 0)
			return fail(p, name, "expected N/s, N/min or N/h (N > 0), not \"%s\"",
			            value);
		return 1;
	}
	if (!strcmp(name, "burst"))
		return parse_u32(value, 1, 1000000, &t->burst)
		           ? 1
		           : fail(p, name, "expected a number from 1 to 1000000, not \"%s\"",
		                  value);
	return fail(p, name,
	            "unknown key in [%s] (expected when, model, methods, review_below, "
	            "rate_limit, burst)",
	            section);
}

/* ------------------------------------------------------------------ [guard NAME] */

#define NAME_CHARS       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
#define GUARD_REASON_MAX 1024

/* The guard named in section "guard NAME", created on its first key. */
static struct config_guard *guard_of(struct parse *p, const char *section)
{
	struct config *c = p->c;
	const char *gname = section + 6;

	for (size_t i = 0; i < c->n_guards; i++)
		if (!strcmp(c->guards[i].name, gname))
			return &c->guards[i];
	struct config_guard *ng = realloc(c->guards, (c->n_guards + 1) * sizeof(*ng));
	if (!ng)
		return NULL;
	c->guards = ng;
	ng = &c->guards[c->n_guards];
	*ng = (struct config_guard){0};
	if (!(ng->name = strdup(gname)))
		return NULL;
	c->n_guards++;
	return ng;
}

/* A guard's reason travels in Verdict.reasons: protobuf strings are UTF-8, and a reason is one
 * line a client may show or log. Returns the offset of the first bad byte, or n. */
static size_t reason_check(const char *s, size_t n)
{
	size_t bad = wire_text_check((const uint8_t *)s, n, NULL);

	for (size_t i = 0; i < bad; i++) {
		unsigned char b = (unsigned char)s[i];
		if (b < 0x20 || b == 0x7f ||
		    (b == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		     (unsigned char)s[i + 1] <= 0x9f))
			return i;
	}
	return bad;
}

static int guard_key(struct parse *p, const char *section, const char *name, const char *value)
{
	const char *gname = section + 6;
	struct config_guard *g;

	if (!*gname || strspn(gname, NAME_CHARS) != strlen(gname))
		return fail(p, name, "[%s]: a guard name is letters, digits, '_', '-' and '.'",
		            section);
	g = guard_of(p, section);
	if (!g)
		return fail(p, name, "out of memory");
	if (!strcmp(name, "when")) {
		struct trig_error e;
		struct trig_expr *x;
		if (g->when)
			return fail(p, name, "given twice in [%s]", section);
		int rc = trig_compile(value, &x, &e);
		if (rc < 0) {
			p->column = (int)e.column;
			return fail(p, name, "%s", rc == -ENOMEM ? "out of memory" : e.message);
		}
		g->expr = x;
		return set_string(&g->when, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "model")) {
		if (!*value || strpbrk(value, " \t"))
			return fail(p, name, "expected a model id (or ID@VERSION), not \"%s\"",
			            value);
		return set_string(&g->model, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "action")) {
		if (!strcmp(value, "review"))
			g->action = CONFIG_GUARD_REVIEW;
		else if (!strcmp(value, "hold"))
			g->action = CONFIG_GUARD_HOLD;
		else
			return fail(p, name,
			            "expected review (route the decision to a human) or hold (the "
			            "decision waits for a human's review), not \"%s\"",
			            value);
		return 1;
	}
	if (!strcmp(name, "reason")) {
		size_t n = strlen(value), bad = reason_check(value, n);
		if (!n || n > GUARD_REASON_MAX)
			return fail(p, name,
			            "expected the text a verdict gives as the guard's reason (1 to "
			            "%d bytes)",
			            GUARD_REASON_MAX);
		if (bad < n) {
			p->column = (int)bad + 1;
			return fail(p, name,
			            "invalid UTF-8 or a control character at byte %zu (a reason is "
			            "one line of UTF-8 text)",
			            bad + 1);
		}
		return set_string(&g->reason, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "audit"))
		return parse_bool(value, &g->audit)
		           ? 1
		           : fail(p, name, "expected yes or no, not \"%s\"", value);
	return fail(p, name, "unknown key in [%s] (expected model, when, action, reason, audit)",
	            section);
}

const struct config_guard *config_guard_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_guards; i++)
		if (!strcmp(c->guards[i].name, name))
			return &c->guards[i];
	return NULL;
}

bool config_guard_applies(const struct config_guard *g, const char *key)
{
	if (!g->model)
		return true;
	if (strchr(g->model, '@'))
		return !strcmp(g->model, key);
	size_t n = strlen(g->model);
	return !strncmp(key, g->model, n) && key[n] == '@';
}

const char *config_guard_action_name(enum config_guard_action a)
{
	return a == CONFIG_GUARD_HOLD ? "hold" : "review";
}

static struct config_model *model_of(struct config *c, const char *id)
{
	for (size_t i = 0; i < c->n_models; i++)
		if (!strcmp(c->models[i].id, id))
			return &c->models[i];
	struct config_model *nm = realloc(c->models, (c->n_models + 1) * sizeof(*nm));
	if (!nm)
		return NULL;
	c->models = nm;
	nm = &c->models[c->n_models];
	*nm = (struct config_model){
	    .background_size = 100, .oracle_timeout_ms = 10000, .oracle_procs = 2};
	if (!(nm->id = strdup(id)))
		return NULL;
	c->n_models++;
	return nm;
}

static int model_key(struct parse *p, const char *section, const char *name, const char *value)
{
	const char *id = section + 6;
	struct config_model *m;

	if (!*id || strpbrk(id, " \t"))
		return fail(p, name, "[%s]: expected [model ID] or [model ID@VERSION]", section);
	m = model_of(p->c, id);
	if (!m)
		return fail(p, name, "out of memory");
	if (!strcmp(name, "oracle")) {
		if (!*value)
			return fail(p, name, "expected a command");
		return set_string(&m->oracle, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "background_size"))
		return parse_u32(value, 1, 100000, &m->background_size)
		           ? 1
		           : fail(p, name, "expected a number from 1 to 100000, not \"%s\"", value);
	if (!strcmp(name, "oracle_timeout_ms"))
		return parse_u32(value, 1, 3600000, &m->oracle_timeout_ms)
		           ? 1
		           : fail(p, name, "expected milliseconds from 1 to 3600000, not \"%s\"",
		                  value);
	if (!strcmp(name, "oracle_procs"))
		return parse_u32(value, 1, 256, &m->oracle_procs)
		           ? 1
		           : fail(p, name, "expected a number from 1 to 256, not \"%s\"", value);
	return fail(p, name,
	            "unknown key in [%s] (expected oracle, background_size, oracle_timeout_ms, "
	            "oracle_procs)",
	            section);
}

/* The witness of section "witness NAME", created on its first key. */
static struct config_witness *witness_of(struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_witnesses; i++)
		if (!strcmp(c->witnesses[i].name, name))
			return &c->witnesses[i];
	struct config_witness *nw = realloc(c->witnesses, (c->n_witnesses + 1) * sizeof(*nw));
	if (!nw)
		return NULL;
	c->witnesses = nw;
	nw = &c->witnesses[c->n_witnesses];
	*nw = (struct config_witness){.timeout_ms = 10000};
	if (!(nw->name = strdup(name)))
		return NULL;
	c->n_witnesses++;
	return nw;
}

static int witness_key(struct parse *p, const char *section, const char *name, const char *value)
{
	const char *wname = section + 8;
	struct config_witness *w;

	if (!*wname || strpbrk(wname, " \t"))
		return fail(p, name, "[%s]: expected [witness NAME] (NAME without spaces)",
		            section);
	w = witness_of(p->c, wname);
	if (!w)
		return fail(p, name, "out of memory");
	if (!strcmp(name, "url")) {
		if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8))
			return fail(p, name,
			            "expected an http:// or https:// URL (the witness's "
			            "submission prefix), not \"%s\"",
			            value);
		return set_string(&w->url, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "vkey")) {
		if (vault_pubkey_parse(value, strlen(value), NULL, &w->key) < 0 ||
		    w->key.type != VAULT_KEY_COSIGNATURE_V1)
			return fail(
			    p, name,
			    "expected a witness verifier key NAME+KEYID+BASE64 of type 0x04 "
			    "(C2SP tlog-cosignature/v1, as `evident-witness --vkey` prints it)");
		return set_string(&w->vkey, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "timeout_ms"))
		return parse_u32(value, 100, 600000, &w->timeout_ms)
		           ? 1
		           : fail(p, name, "expected milliseconds from 100 to 600000, not \"%s\"",
		                  value);
	if (!strcmp(name, "nats"))
		return parse_bool(value, &w->nats)
		           ? 1
		           : fail(p, name, "expected yes or no, not \"%s\"", value);
	return fail(p, name, "unknown key in [%s] (expected url, vkey, timeout_ms, nats)", section);
}

/* ------------------------------------------------------------------ [retention] */

#define DAY_S  86400ull
#define YEAR_S (365 * DAY_S)

/* "400d", "5y", "12h", "30m", "45s" (a positive integer and one unit; y = 365 days) or
 * "forever" (CONFIG_KEEP_FOREVER). */
static bool parse_duration(const char *s, uint64_t *ret)
{
	static const struct {
		char unit;
		uint64_t s;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', DAY_S}, {'y', YEAR_S}};
	char *end;
	unsigned long long v;

	if (!strcmp(s, "forever")) {
		*ret = CONFIG_KEEP_FOREVER;
		return true;
	}
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || v == 0 || !end[0] || end[1])
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (*end == units[i].unit) {
			if (v > (UINT64_MAX - 1) / units[i].s / 1000000000ull)
				return false; /* the daemon works in nanoseconds */
			*ret = v * units[i].s;
			return true;
		}
	return false;
}

char *config_duration_format(uint64_t s, char *buf, size_t size)
{
	if (s == CONFIG_KEEP_FOREVER)
		snprintf(buf, size, "forever");
	else if (s && s % YEAR_S == 0)
		snprintf(buf, size, "%lluy", (unsigned long long)(s / YEAR_S));
	else if (s && s % DAY_S == 0)
		snprintf(buf, size, "%llud", (unsigned long long)(s / DAY_S));
	else if (s && s % 3600 == 0)
		snprintf(buf, size, "%lluh", (unsigned long long)(s / 3600));
	else if (s && s % 60 == 0)
		snprintf(buf, size, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, size, "%llus", (unsigned long long)s);
	return buf;
}

#define DURATION_HELP "a duration such as 400d, 5y, 12h, 30m or 45s, or forever"

/* The entry type a [retention] key names, or why it cannot be one. */
static int retention_type(struct parse *p, const char *section, const char *name)
{
	int t = vault_entry_type_from_name(name);

	switch (t) {
	case VAULT_ENTRY_RECORD:
	case VAULT_ENTRY_INCIDENT:
	case VAULT_ENTRY_AUDIT:
	case VAULT_ENTRY_REVIEW:
	case VAULT_ENTRY_VERDICT:
	case VAULT_ENTRY_NOTICE:
		return t;
	case VAULT_ENTRY_MODEL:
	case VAULT_ENTRY_ARTIFACT:
		fail(p, name,
		     "%s entries are kept for the life of the vault (the registry and every audit "
		     "need them); [%s] takes %s",
		     name, section, CONFIG_RETENTION_TYPES);
		return -1;
	case VAULT_ENTRY_LIFECYCLE:
	case VAULT_ENTRY_CONFIG:
	case VAULT_ENTRY_PRUNE:
	case VAULT_ENTRY_HOLD:
	case VAULT_ENTRY_RELEASE:
	case VAULT_ENTRY_ERASURE:
		fail(p, name,
		     "%s entries are kept for the life of the vault (they record what happened to "
		     "the evidence itself); [%s] takes %s",
		     name, section, CONFIG_RETENTION_TYPES);
		return -1;
	default:
		fail(p, name,
		     "unknown key in [%s] (expected an entry type: %s; or allow_short, interval, "
		     "batch)",
		     section, CONFIG_RETENTION_TYPES);
		return -1;
	}
}

static int retention_key(struct parse *p, const char *name, const char *value)
{
	struct config *c = p->c;
	uint64_t s;
	int t;

	if (!strcmp(name, "allow_short"))
		return parse_bool(value, &c->retention_allow_short)
		           ? 1
		           : fail(p, name, "expected yes or no, not \"%s\"", value);
	if (!strcmp(name, "interval")) {
		if (!parse_duration(value, &s) || s > DAY_S)
			return fail(
			    p, name,
			    "expected how often a retention cycle runs, 1s to 1d (e.g. 60s, "
			    "5m), not \"%s\"",
			    value);
		c->retention_interval_s = (uint32_t)s;
		return 1;
	}
	if (!strcmp(name, "batch"))
		return parse_u32(value, 1, 100000, &c->retention_batch)
		           ? 1
		           : fail(p, name,
		                  "expected prunes per writer job, 1 to 100000, not \"%s\"", value);
	t = retention_type(p, "retention", name);
	if (t < 0)
		return 0;
	if (!parse_duration(value, &s))
		return fail(p, name, "expected %s, not \"%s\"", DURATION_HELP, value);
	c->keep_s[t] = s;
	return 1;
}

static struct config_retention_model *retention_model_of(struct config *c, const char *model)
{
	for (size_t i = 0; i < c->n_retention_models; i++)
		if (!strcmp(c->retention_models[i].model, model))
			return &c->retention_models[i];
	struct config_retention_model *nm =
	    realloc(c->retention_models, (c->n_retention_models + 1) * sizeof(*nm));
	if (!nm)
		return NULL;
	c->retention_models = nm;
	nm = &c->retention_models[c->n_retention_models];
	*nm = (struct config_retention_model){0};
	if (!(nm->model = strdup(model)))
		return NULL;
	c->n_retention_models++;
	return nm;
}

static int retention_model_key(struct parse *p, const char *section, const char *name,
                               const char *value)
{
	const char *model = section + 10;
	struct config_retention_model *m;
	uint64_t s;
	int t;

	if (!*model || strpbrk(model, " \t@"))
		return fail(p, name, "[%s]: expected [retention MODEL_ID] (a model id, no version)",
		            section);
	t = retention_type(p, section, name);
	if (t < 0)
		return 0;
	if (t != VAULT_ENTRY_RECORD && t != VAULT_ENTRY_AUDIT)
		return fail(p, name,
		            "[%s] sets record and audit only (other types follow [retention])",
		            section);
	if (!parse_duration(value, &s))
		return fail(p, name, "expected %s, not \"%s\"", DURATION_HELP, value);
	m = retention_model_of(p->c, model);
	if (!m)
		return fail(p, name, "out of memory");
	*(t == VAULT_ENTRY_RECORD ? &m->record_s : &m->audit_s) = s;
	return 1;
}

uint64_t config_keep_s(const struct config *c, int type, const char *model, bool *ret_override)
{
	if (ret_override)
		*ret_override = false;
	if (type <= 0 || type >= _VAULT_ENTRY_TYPE_MAX)
		return CONFIG_KEEP_FOREVER;
	for (size_t i = 0; model && i < c->n_retention_models; i++) {
		const struct config_retention_model *m = &c->retention_models[i];
		uint64_t s = type == VAULT_ENTRY_RECORD  ? m->record_s
		             : type == VAULT_ENTRY_AUDIT ? m->audit_s
		                                         : 0;
		if (s && !strcmp(m->model, model)) {
			if (ret_override)
				*ret_override = true;
			return s;
		}
	}
	return c->keep_s[type] ? c->keep_s[type] : CONFIG_KEEP_FOREVER;
}

bool config_is_admin(const struct config *c, uid_t uid, uid_t own_uid)
{
	if (!c->has_admin_uids)
		return uid == 0 || uid == own_uid;
	for (size_t i = 0; i < c->n_admin_uids; i++)
		if (c->admin_uids[i] == uid)
			return true;
	return false;
}

const struct config_model *config_model_find(const struct config *c, const char *id,
                                             const char *version)
{
	const struct config_model *any = NULL;
	size_t il = strlen(id);

	for (size_t i = 0; i < c->n_models; i++) {
		const char *k = c->models[i].id;
		if (!strncmp(k, id, il) && k[il] == '@' && !strcmp(k + il + 1, version))
			return &c->models[i];
		if (!strcmp(k, id))
			any = &c->models[i];
	}
	return any;
}

/* ------------------------------------------------------------------ [forward] */

/* One or more NATS tokens of [A-Za-z0-9_-] separated by dots (no wildcards). */
static bool nats_subject_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") == n;
}

static int forward_key(struct parse *p, const char *name, const char *value)
{
	struct config_forward *f = &p->c->forward;
	const struct {
		const char *name;
		char **dst;
	} files[] = {{"creds_file", &f->creds_file},
	             {"nkey_seed_file", &f->nkey_seed_file},
	             {"tls_ca", &f->tls_ca},
	             {"tls_cert", &f->tls_cert},
	             {"tls_key", &f->tls_key}},
	  texts[] = {{"user", &f->user},
	             {"password", &f->password},
	             {"token", &f->token},
	             {"tls_hostname", &f->tls_hostname}};
	uint64_t u64;

	if (!strcmp(name, "nats_url")) {
		/* a comma-separated list of servers of one cluster, as libnats takes it */
		for (const char *u = value; *u;) {
			size_t n = strcspn(u, ",");
			while (*u == ' ')
				u++, n--;
			if (strncmp(u, "nats://", 7) && strncmp(u, "tls://", 6))
				return fail(p, name,
				            "expected nats://HOST:PORT or tls://HOST:PORT "
				            "(comma-separated for a cluster), not \"%s\"",
				            value);
			u += n;
			if (*u == ',')
				u++;
		}
		if (!value[0])
			return fail(p, name, "expected nats://HOST:PORT");
		return set_string(&f->nats_url, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "stream")) {
		size_t n = strlen(value);
		if (n == 0 || n > 64 ||
		    strspn(value,
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n)
			return fail(p, name,
			            "expected a JetStream stream name of 1-64 letters, digits, _ "
			            "or -, not \"%s\"",
			            value);
		return set_string(&f->stream, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "subject_prefix")) {
		if (!nats_subject_ok(value, 128))
			return fail(
			    p, name,
			    "expected NATS subject tokens of letters, digits, _ or - "
			    "separated by dots (no wildcards, at most 128 bytes), not \"%s\"",
			    value);
		return set_string(&f->subject_prefix, value) < 0 ? fail(p, name, "out of memory")
		                                                 : 1;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!strcmp(name, files[i].name)) {
			if (value[0] != '/')
				return fail(p, name, "expected an absolute path, not \"%s\"",
				            value);
			return set_string(files[i].dst, value) < 0 ? fail(p, name, "out of memory")
			                                           : 1;
		}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (!strcmp(name, texts[i].name)) {
			if (!value[0])
				return fail(p, name, "expected a value");
			return set_string(texts[i].dst, value) < 0 ? fail(p, name, "out of memory")
			                                           : 1;
		}
	if (!strcmp(name, "nkey")) {
		if (value[0] != 'U' || strlen(value) != 56)
			return fail(
			    p, name,
			    "expected the user's public nkey (56 characters starting with U)");
		return set_string(&f->nkey, value) < 0 ? fail(p, name, "out of memory") : 1;
	}
	if (!strcmp(name, "max_pending"))
		return parse_u32(value, 1, 65536, &f->max_pending)
		           ? 1
		           : fail(p, name, "expected a number from 1 to 65536, not \"%s\"", value);
	if (!strcmp(name, "stop_wait_ms"))
		return parse_u32(value, 0, 600000, &f->stop_wait_ms)
		           ? 1
		           : fail(p, name, "expected milliseconds from 0 to 600000, not \"%s\"",
		                  value);
	if (!strcmp(name, "replicas"))
		return parse_u32(value, 1, 5, &f->replicas)
		           ? 1
		           : fail(p, name, "expected 1 to 5 (JetStream's limit), not \"%s\"",
		                  value);
	if (!strcmp(name, "max_bytes")) {
		if (!parse_size(value, 1ull << 60, &u64) || (u64 && u64 < (1u << 20)))
			return fail(p, name,
			            "expected 0 (unlimited) or a size of at least 1M, not \"%s\"",
			            value);
		f->max_bytes = u64;
		return 1;
	}
	if (!strcmp(name, "max_age") || !strcmp(name, "duplicate_window")) {
		bool age = name[1] == 'a';
		if (!parse_duration(value, &u64) || (!age && u64 == CONFIG_KEEP_FOREVER))
			return fail(p, name, "expected %s, not \"%s\"",
			            age ? DURATION_HELP : "a duration such as 10m, 1h or 1d",
			            value);
		*(age ? &f->max_age_s : &f->duplicate_window_s) =
		    u64 == CONFIG_KEEP_FOREVER ? 0 : u64;
		return 1;
	}
	return fail(p, name,
	            "unknown key in [forward] (expected nats_url, stream, subject_prefix, "
	            "creds_file, user, password, token, nkey, nkey_seed_file, tls_ca, tls_cert, "
	            "tls_key, tls_hostname, max_pending, stop_wait_ms, max_age, max_bytes, "
	            "replicas, duplicate_window)");
}

/* [metrics] listen = ADDR:PORT: its syntax now (a typo is an error at load); the name is
 * resolved when the server starts (no DNS lookup in a reload on the loop). */
static int metrics_key(struct parse *p, const char *name, const char *value)
{
	char why[300];

	if (strcmp(name, "listen") != 0)
		return fail(p, name, "unknown key in [metrics] (listen)");
	if (metrics_parse_listen(value, NULL, NULL, why, sizeof(why)) < 0)
		return fail(p, name, "expected ADDR:PORT, [IPv6]:PORT or HOST:PORT: %s", why);
	return set_string(&p->c->metrics_listen, value) < 0 ? fail(p, name, "out of memory") : 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;

	if (!strcmp(section, "daemon"))
		return daemon_key(p, name, value);
	if (!strncmp(section, "trigger ", 8))
		return trigger_key(p, section, name, value);
	if (!strncmp(section, "guard ", 6))
		return guard_key(p, section, name, value);
	if (!strncmp(section, "model ", 6))
		return model_key(p, section, name, value);
	if (!strncmp(section, "witness ", 8))
		return witness_key(p, section, name, value);
	if (!strcmp(section, "forward"))
		return forward_key(p, name, value);
	if (!strcmp(section, "retention"))
		return retention_key(p, name, value);
	if (!strcmp(section, "metrics"))
		return metrics_key(p, name, value);
	if (!strncmp(section, "retention ", 10))
		return retention_model_key(p, section, name, value);
	if (!section[0])
		return fail(p, name, "key outside any section (start with [daemon])");
	return fail(p, name, "unknown section [%s]", section);
}

/* The line of the last `key = ...` in [section] of text (what inih applies), or 0. */
static int key_line(const char *text, const char *section, const char *key)
{
	size_t kl = strlen(key), sl = strlen(section);
	bool in = false;
	int found = 0;

	for (int line = 1; text && *text; line++) {
		const char *eol = strchr(text, '\n'), *t = text;
		size_t n = eol ? (size_t)(eol - text) : strlen(text);
		while (t < text + n && (*t == ' ' || *t == '\t'))
			t++;
		if (*t == '[') {
			in = t + 1 + sl < text + n && !strncmp(t + 1, section, sl) &&
			     t[1 + sl] == ']';
		} else if (in && t + kl <= text + n && !strncmp(t, key, kl)) {
			const char *u = t + kl;
			while (u < text + n && (*u == ' ' || *u == '\t'))
				u++;
			if (u < text + n && (*u == '=' || *u == ':'))
				found = line;
		}
		text = eol ? eol + 1 : NULL;
	}
	return found;
}

/* Column (1-based) of the value on line `line` of text, for error messages. */
static int value_column(const char *text, int line)
{
	const char *p = text;

	for (int l = 1; l < line && p; l++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return 1;
	const char *eol = strchr(p, '\n'),
	           *eq = memchr(p, '=', eol ? (size_t)(eol - p) : strlen(p));
	if (!eq)
		eq = memchr(p, ':', eol ? (size_t)(eol - p) : strlen(p));
	if (!eq)
		return 1;
	eq++;
	while (*eq == ' ' || *eq == '\t')
		eq++;
	return (int)(eq - p) + 1;
}

/* What one key alone cannot check: pairs, and [witness] sections with nats = yes. */
static int forward_check(struct config *c, const char *file, char *err, size_t err_size)
{
	struct config_forward *f = &c->forward;
	const struct {
		const char *a, *b;
		bool has_a, has_b;
	} pairs[] = {
	    {"user", "password", f->user != NULL, f->password != NULL},
	    {"password", "user", f->password != NULL, f->user != NULL},
	    {"nkey", "nkey_seed_file", f->nkey != NULL, f->nkey_seed_file != NULL},
	    {"nkey_seed_file", "nkey", f->nkey_seed_file != NULL, f->nkey != NULL},
	    {"tls_cert", "tls_key", f->tls_cert != NULL, f->tls_key != NULL},
	    {"tls_key", "tls_cert", f->tls_key != NULL, f->tls_cert != NULL},
	};
	int line;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (pairs[i].has_a && !pairs[i].has_b) {
			line = key_line(c->text, "forward", pairs[i].a);
			snprintf(err, err_size, "%s:%d:%d: %s: needs %s in [forward] too", file,
			         line, value_column(c->text, line), pairs[i].a, pairs[i].b);
			return -EINVAL;
		}
	if (!f->nats_url && (line = key_line(c->text, "forward", "stream") |
	                            key_line(c->text, "forward", "subject_prefix") |
	                            key_line(c->text, "forward", "max_pending"))) {
		snprintf(err, err_size,
		         "%s: [forward] needs nats_url (forwarding is off without it)", file);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_witnesses; i++) {
		const struct config_witness *w = &c->witnesses[i];
		if (w->nats && w->url) {
			snprintf(err, err_size,
			         "%s: [witness %s] has both url and nats = yes: a witness answers "
			         "over HTTP or through NATS, not both",
			         file, w->name);
			return -EINVAL;
		}
		if (w->nats && !f->nats_url) {
			snprintf(
			    err, err_size,
			    "%s: [witness %s] has nats = yes but [forward] has no nats_url: its "
			    "cosignatures could never arrive",
			    file, w->name);
			return -EINVAL;
		}
	}
	if (f->nats_url &&
	    ((!f->stream && !(f->stream = strdup(CONFIG_FORWARD_STREAM))) ||
	     (!f->subject_prefix && !(f->subject_prefix = strdup(CONFIG_FORWARD_PREFIX))))) {
		snprintf(err, err_size, "%s: out of memory", file);
		return -ENOMEM;
	}
	return 0;
}

static int read_all(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (16u << 20)) {
				rc = -EFBIG;
				break;
			}
			char *nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				rc = -EIO;
			break;
		}
	}
	fclose(f);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* The line of the header "[section]" in text, or 0. */
static int section_line(const char *text, const char *section)
{
	size_t sl = strlen(section);

	for (int line = 1; text && *text; line++) {
		const char *eol = strchr(text, '\n'), *t = text;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t == '[' && !strncmp(t + 1, section, sl) && t[1 + sl] == ']')
			return line;
		text = eol ? eol + 1 : NULL;
	}
	return 0;
}

/* What a [guard] section must say (when, action, reason), and a name no trigger has. */
static int guards_check(const struct config *c, const char *file, char *err, size_t err_size)
{
	char section[300];

	for (size_t i = 0; i < c->n_guards; i++) {
		const struct config_guard *g = &c->guards[i];
		const char *missing = !g->expr     ? "when"
		                      : !g->action ? "action (review or hold)"
		                      : !g->reason ? "reason"
		                                   : NULL;
		snprintf(section, sizeof(section), "guard %s", g->name);
		if (missing) {
			snprintf(err, err_size,
			         "%s:%d:1: [guard %s] has no %s (a guard needs when, action and "
			         "reason)",
			         file, section_line(c->text, section), g->name, missing);
			return -EINVAL;
		}
		for (size_t t = 0; t < c->n_triggers; t++)
			if (!strcmp(c->triggers[t].name, g->name)) {
				snprintf(err, err_size,
				         "%s:%d:1: [guard %s]: a [trigger %s] has that name too "
				         "(incidents and verdicts name their rule: guards and "
				         "triggers need different names)",
				         file, section_line(c->text, section), g->name, g->name);
				return -EINVAL;
			}
	}
	return 0;
}

int config_guard_check_features(const struct config *c, const struct config_guard *g,
                                const char *key, const char *const *features, size_t n, char *err,
                                size_t err_size)
{
	size_t nf = trig_n_features(g->expr);
	char section[300];

	for (size_t i = 0; i < nf; i++) {
		unsigned col = 0;
		const char *name = trig_feature(g->expr, i, &col);
		size_t j = 0;
		while (j < n && (!features[j] || strcmp(features[j], name)))
			j++;
		if (j < n)
			continue;
		snprintf(section, sizeof(section), "guard %s", g->name);
		int line = key_line(c->text, section, "when");
		int at =
		    snprintf(err, err_size,
		             "%s:%d:%d: when: feature.%s is not a feature of %s (its features: ",
		             c->path ? c->path : CONFIG_DEFAULT_PATH, line,
		             value_column(c->text, line) + (col ? (int)col - 1 : 0), name, key);
		for (size_t k = 0; k < n && at > 0 && (size_t)at < err_size; k++)
			at += snprintf(err + at, err_size - (size_t)at, "%s%s", k ? ", " : "",
			               features[k] ? features[k] : "");
		if (at > 0 && (size_t)at < err_size)
			snprintf(err + at, err_size - (size_t)at, "%s)", n ? "" : "none");
		return -EINVAL;
	}
	return 0;
}

/* One record duration of section `section`: under CONFIG_RECORD_MIN_S it needs allow_short. */
static int short_record(const struct config *c, const char *file, const char *section, uint64_t s,
                        char *err, size_t err_size)
{
	char d[32];
	int line;

	if (!s || s == CONFIG_KEEP_FOREVER || s >= CONFIG_RECORD_MIN_S || c->retention_allow_short)
		return 0;
	line = key_line(c->text, section, "record");
	snprintf(err, err_size,
	         "%s:%d:%d: record: %s in [%s] is under 180 days, the least the EU AI Act (Art. 19 "
	         "and 26(6)) lets deployers keep the logs of a high-risk system; say allow_short "
	         "= yes in [retention] if these records are not such logs (or for a test)",
	         file, line, value_column(c->text, line), config_duration_format(s, d, sizeof(d)),
	         section);
	return -EINVAL;
}

/* What [retention] cannot say: short record durations without allow_short, and reviews
 * pruned before their incidents (an incident whose review is gone would look open again, and
 * stay held for ever). */
static int retention_check(const struct config *c, const char *file, char *err, size_t err_size)
{
	char section[VAULT_ORIGIN_MAX + 16], a[32], b[32];
	uint64_t inc = c->keep_s[VAULT_ENTRY_INCIDENT], rev = c->keep_s[VAULT_ENTRY_REVIEW];
	int line;

	if (short_record(c, file, "retention", c->keep_s[VAULT_ENTRY_RECORD], err, err_size) < 0)
		return -EINVAL;
	for (size_t i = 0; i < c->n_retention_models; i++) {
		snprintf(section, sizeof(section), "retention %s", c->retention_models[i].model);
		if (short_record(c, file, section, c->retention_models[i].record_s, err, err_size) <
		    0)
			return -EINVAL;
	}
	if (rev && (rev < (inc ? inc : CONFIG_KEEP_FOREVER))) {
		line = key_line(c->text, "retention", "review");
		snprintf(err, err_size,
		         "%s:%d:%d: review: %s is shorter than incident (%s): a review is what "
		         "closes its incident, so it must be kept at least as long",
		         file, line, value_column(c->text, line),
		         config_duration_format(rev, a, sizeof(a)),
		         config_duration_format(inc ? inc : CONFIG_KEEP_FOREVER, b, sizeof(b)));
		return -EINVAL;
	}
	return 0;
}

static int parse_text(const char *file, struct config c, struct config *ret, char *err,
                      size_t err_size);

int config_load(const char *path, struct config *ret, char *err, size_t err_size)
{
	struct config c;
	const char *file = path ? path : CONFIG_DEFAULT_PATH;
	int rc;

	err[0] = '\0';
	rc = config_defaults(&c);
	if (rc < 0)
		return rc;
	rc = read_all(file, &c.text, &c.text_len);
	if (rc == -ENOENT && !path) {
		*ret = c; /* no config file: defaults */
		return 0;
	}
	if (rc < 0) {
		snprintf(err, err_size, "%s: %s", file, strerror(-rc));
		config_deinit(&c);
		return rc;
	}
	return parse_text(file, c, ret, err, err_size);
}

int config_load_text(const char *name, const char *text, size_t len, struct config *ret, char *err,
                     size_t err_size)
{
	struct config c;
	int rc;

	err[0] = '\0';
	rc = config_defaults(&c);
	if (rc < 0)
		return rc;
	c.text = malloc(len + 1);
	if (!c.text) {
		config_deinit(&c);
		return -ENOMEM;
	}
	memcpy(c.text, text, len);
	c.text[len] = '\0';
	c.text_len = len;
	return parse_text(name, c, ret, err, err_size);
}

/* Parses c.text (c: the defaults and the text, taken) as the file `file`. */
static int parse_text(const char *file, struct config c, struct config *ret, char *err,
                      size_t err_size)
{
	struct parse p = {0};
	int line;

	if (memchr(c.text, '\0', c.text_len)) {
		snprintf(err, err_size, "%s: contains a NUL byte, not a text file", file);
		config_deinit(&c);
		return -EINVAL;
	}
	c.path = strdup(file);
	unsigned int hl;
	if (!c.path || EVP_Digest(c.text, c.text_len, c.sha256, &hl, EVP_sha256(), NULL) != 1) {
		config_deinit(&c);
		return -ENOMEM;
	}
	p.c = &c;
	p.path = file;
	p.text = c.text;
	line = ini_parse_string(c.text, handler, &p);
	if (line != 0) {
		if (line < 0)
			snprintf(err, err_size, "%s: cannot parse", file);
		else if (p.err[0])
			snprintf(err, err_size, "%s:%d:%d: %s", file, line,
			         value_column(c.text, line) + (p.column > 0 ? p.column - 1 : 0),
			         p.err);
		else
			snprintf(err, err_size,
			         "%s:%d:1: syntax error (expected [section] or key = value)", file,
			         line);
		config_deinit(&c);
		return -EINVAL;
	}
	for (size_t i = 0; i < c.n_triggers; i++)
		if (!c.triggers[i].expr) {
			snprintf(err, err_size, "%s: [trigger %s] has no `when` expression", file,
			         c.triggers[i].name);
			config_deinit(&c);
			return -EINVAL;
		}
	if (guards_check(&c, file, err, err_size) < 0) {
		config_deinit(&c);
		return -EINVAL;
	}
	if (forward_check(&c, file, err, err_size) < 0) {
		config_deinit(&c);
		return -EINVAL;
	}
	for (size_t i = 0; i < c.n_witnesses; i++)
		if ((!c.witnesses[i].url && !c.witnesses[i].nats) || !c.witnesses[i].vkey) {
			snprintf(err, err_size,
			         "%s: [witness %s] needs vkey and either url or nats = yes", file,
			         c.witnesses[i].name);
			config_deinit(&c);
			return -EINVAL;
		}
	if (c.witness_quorum > c.n_witnesses) {
		line = key_line(c.text, "daemon", "witness_quorum");
		snprintf(err, err_size,
		         "%s:%d:%d: witness_quorum: %u cosignatures asked of %zu [witness] "
		         "section(s): a checkpoint could never be witnessed",
		         file, line, value_column(c.text, line), c.witness_quorum, c.n_witnesses);
		config_deinit(&c);
		return -EINVAL;
	}
	/* witnesses without a quorum: one cosignature makes a checkpoint witnessed */
	if (c.n_witnesses && !key_line(c.text, "daemon", "witness_quorum"))
		c.witness_quorum = 1;
	if (retention_check(&c, file, err, err_size) < 0) {
		config_deinit(&c);
		return -EINVAL;
	}
	if (config_socket_exposed(&c, c.socket_mode)) {
		line = key_line(c.text, "daemon", "socket_mode");
		snprintf(err, err_size, "%s:%d:%d: socket_mode: %04o: %s", file, line,
		         value_column(c.text, line), (unsigned)c.socket_mode, CONFIG_EXPOSED_MSG);
		config_deinit(&c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

bool config_socket_exposed(const struct config *c, mode_t mode)
{
	return (mode & S_IWOTH) && !c->n_allow_uids && !c->n_allow_gids && !c->allow_anyone;
}
