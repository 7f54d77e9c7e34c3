/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for daemon/config.c: defaults, every [daemon] key, and errors that name the
 * file, line and column. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
	dir = test_tmpdir("config");
}

static void teardown(void)
{
	test_rmrf(dir);
	free(dir);
}

static char *write_conf(const char *text)
{
	static char path[600];
	snprintf(path, sizeof(path), "%s/evidentd.conf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *text, struct config *c, char *err)
{
	return config_load(write_conf(text), c, err, 600);
}

START_TEST(config_defaults_follow_systemd_directories)
{
	struct config c;

	setenv("STATE_DIRECTORY", "/var/lib/evidentd:/other", 1);
	setenv("RUNTIME_DIRECTORY", "/run/evidentd", 1);
	ck_assert_int_eq(config_defaults(&c), 0);
	ck_assert_str_eq(c.vault_dir, "/var/lib/evidentd");
	ck_assert_str_eq(c.socket_path, "/run/evidentd/ingest.sock");
	ck_assert_uint_eq(c.socket_mode, 0660);
	ck_assert_uint_eq(c.max_frame, 1u << 20);
	config_deinit(&c);
	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
	ck_assert_int_eq(config_defaults(&c), 0);
	ck_assert_str_eq(c.vault_dir, "/var/lib/evidentd");
	ck_assert_str_eq(c.socket_path, "/run/evidentd/ingest.sock");
	config_deinit(&c);
}
END_TEST

START_TEST(config_load_reads_every_key)
{
	struct config c;
	char err[600];
	int rc = load("; evidentd test config\n"
	              "[daemon]\n"
	              "vault = /srv/vault\n"
	              "socket = /srv/ingest.sock\n"
	              "socket_mode = 0600\n"
	              "socket_group = 0\n"
	              "allow_uids = 0, 1000 root\n"
	              "allow_gids = 0\n"
	              "max_frame = 2M\n"
	              "max_unacked = 16M\n"
	              "max_queue = 1GiB\n"
	              "max_connections = 10\n"
	              "commit_window_us = 500\n"
	              "max_batch = 100\n"
	              "checkpoint_interval = 30\n"
	              "signing_key = /srv/key.pem\n"
	              "origin = example.com/log\n"
	              "map_size = 64M\n"
	              "map_max = 2T\n"
	              "workers = 4\n"
	              "job_queue = 50\n"
	              "log_level = debug\n",
	              &c, err);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_str_eq(c.vault_dir, "/srv/vault");
	ck_assert_str_eq(c.socket_path, "/srv/ingest.sock");
	ck_assert_uint_eq(c.socket_mode, 0600);
	ck_assert(c.has_socket_gid && c.socket_gid == 0);
	ck_assert_uint_eq(c.n_allow_uids, 3);
	ck_assert_uint_eq(c.allow_uids[1], 1000);
	ck_assert_uint_eq(c.allow_uids[2], 0);
	ck_assert_uint_eq(c.n_allow_gids, 1);
	ck_assert_uint_eq(c.max_frame, 2u << 20);
	ck_assert_uint_eq(c.max_unacked, 16u << 20);
	ck_assert_uint_eq(c.max_queue, 1u << 30);
	ck_assert_uint_eq(c.max_connections, 10);
	ck_assert_uint_eq(c.commit_window_us, 500);
	ck_assert_uint_eq(c.max_batch, 100);
	ck_assert_uint_eq(c.checkpoint_interval_s, 30);
	ck_assert_str_eq(c.signing_key, "/srv/key.pem");
	ck_assert_str_eq(c.origin, "example.com/log");
	ck_assert_uint_eq(c.map_size, 64u << 20);
	ck_assert_uint_eq(c.map_max, 2ull << 40);
	ck_assert_uint_eq(c.workers, 4);
	ck_assert_uint_eq(c.job_queue, 50);
	ck_assert_int_eq(c.log_level, LOG_DEBUG);
	ck_assert_ptr_nonnull(c.path);
	ck_assert_ptr_nonnull(c.text);
	config_deinit(&c);

	/* a comment-only file means all defaults (what tmpfiles.d creates) */
	ck_assert_int_eq(load("# nothing here\n", &c, err), 0);
	ck_assert_uint_eq(c.max_frame, 1u << 20);
	config_deinit(&c);
}
END_TEST

static void expect_error(const char *text, const char *where, const char *what)
{
	struct config c;
	char err[600], want[700];
	ck_assert_int_eq(load(text, &c, err), -EINVAL);
	snprintf(want, sizeof(want), "%s/evidentd.conf:%s", dir, where);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\", want prefix \"%s\"", err,
	              want);
	ck_assert_msg(strstr(err, what) != NULL, "got \"%s\", want \"%s\"", err, what);
}

START_TEST(config_load_names_line_and_column)
{
	expect_error("[daemon]\nmax_frame = huge\n", "2:13:", "max_frame");
	expect_error("[daemon]\n\n  socket_mode =   999\n", "3:19:", "octal");
	expect_error("[daemon]\nvault = relative/path\n", "2:9:", "absolute");
	expect_error("[daemon]\nmax_fram = 1M\n", "2:12:", "unknown key");
	expect_error("[deamon]\nvault = /x\n", "2:9:", "unknown section [deamon]");
	expect_error("vault = /x\n", "1:9:", "outside any section");
	expect_error("[daemon]\nthis line has no equals sign\n", "2:1:", "syntax error");
	expect_error("[daemon]\nallow_uids = 0 no-such-user-here\n", "2:14:", "no user named");
	expect_error("[daemon]\nmax_connections = 0\n", "2:19:", "from 1 to");
	expect_error("[daemon]\nlog_level = chatty\n", "2:13:", "log_level");
	expect_error("[daemon]\norigin = has space\n", "2:10:", "origin");
	expect_error("[daemon]\nmax_unacked = 1K\n", "2:15:", "at least 64K");
	expect_error("[daemon]\nhello_timeout = 0\n", "2:17:", "from 1 to 3600");
	expect_error("[daemon]\nidle_timeout = forever\n", "2:16:", "idle_timeout");
	expect_error("[daemon]\nmax_connections_per_uid = 0\n", "2:27:", "from 1 to");
	expect_error("[daemon]\nallow_anyone = maybe\n", "2:16:", "yes or no");
}
END_TEST

START_TEST(config_load_reads_connection_limits)
{
	struct config c;
	char err[600];

	ck_assert_int_eq(load("[daemon]\n", &c, err), 0);
	ck_assert_uint_eq(c.max_connections_per_uid, 256);
	ck_assert_uint_eq(c.hello_timeout_s, 10);
	ck_assert_uint_eq(c.idle_timeout_s, 3600);
	ck_assert_uint_eq(c.frame_timeout_s, 30);
	ck_assert_uint_eq(c.registration_timeout_s, 60);
	ck_assert(!c.allow_anyone);
	config_deinit(&c);
	ck_assert_msg(load("[daemon]\nmax_connections_per_uid = 8\nhello_timeout = 2\n"
	                   "idle_timeout = 0\nframe_timeout = 5\nregistration_timeout = 600\n",
	                   &c, err) == 0,
	              "%s", err);
	ck_assert_uint_eq(c.max_connections_per_uid, 8);
	ck_assert_uint_eq(c.hello_timeout_s, 2);
	ck_assert_uint_eq(c.idle_timeout_s, 0);
	ck_assert_uint_eq(c.frame_timeout_s, 5);
	ck_assert_uint_eq(c.registration_timeout_s, 600);
	config_deinit(&c);
}
END_TEST

START_TEST(config_load_refuses_a_world_writable_socket_open_to_anyone)
{
	struct config c;
	char err[600];

	/* o+w and no allow list: refused at the socket_mode value, wherever the lists are */
	expect_error("[daemon]\nsocket_mode = 0777\n", "2:15:", "world-writable");
	expect_error("[daemon]\nallow_uids =\n\nsocket_mode = 0666\n", "4:15:", "allow_anyone");
	expect_error("[daemon]\nsocket_mode = 0777\n[trigger t]\nwhen = true\n[daemon]\n"
	             "socket_mode = 0662\n",
	             "6:15:", "socket_mode: 0662");
	/* an allow list, allow_anyone = yes, or a mode without o+w: accepted */
	const char *ok[] = {"[daemon]\nsocket_mode = 0777\nallow_uids = 0\n",
	                    "[daemon]\nsocket_mode = 0777\nallow_gids = 0\n",
	                    "[daemon]\nallow_anyone = yes\nsocket_mode = 0777\n",
	                    "[daemon]\nsocket_mode = 0775\n"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(load(ok[i], &c, err) == 0, "%s: %s", ok[i], err);
		config_deinit(&c);
	}
	ck_assert_int_eq(load("[daemon]\nallow_anyone = on\n", &c, err), 0);
	ck_assert(c.allow_anyone);
	ck_assert(config_socket_exposed(&c, 0777) == false);
	c.allow_anyone = false;
	ck_assert(config_socket_exposed(&c, 0777));
	ck_assert(!config_socket_exposed(&c, 0770));
	config_deinit(&c);
}
END_TEST

START_TEST(config_load_reads_triggers)
{
	struct config c;
	char err[600];

	ck_assert_int_eq(load("[daemon]\nworkers = 2\n"
	                      "[trigger big-fx]\n"
	                      "model = trader@2.1\n"
	                      "when = context.amount > 1e6 && label.desk in [\"fx\"]\n"
	                      "methods = treeshap, counterfactual,flip\n"
	                      "review_below = 0.7\n"
	                      "rate_limit = 120/min\n"
	                      "burst = 5\n"
	                      "[trigger any]\n"
	                      "when = score > 0.99\n",
	                      &c, err),
	                 0);
	ck_assert_uint_eq(c.n_triggers, 2);
	struct config_trigger *t = &c.triggers[0];
	ck_assert_str_eq(t->name, "big-fx");
	ck_assert_str_eq(t->model, "trader@2.1");
	ck_assert_str_eq(t->when, "context.amount > 1e6 && label.desk in [\"fx\"]");
	ck_assert_ptr_nonnull(t->expr);
	ck_assert_uint_eq(t->n_methods, 3);
	ck_assert_str_eq(t->methods[1], "counterfactual");
	ck_assert_double_eq(t->review_below, 0.7);
	ck_assert_double_eq(t->rate_per_second, 2);
	ck_assert_uint_eq(t->burst, 5);
	/* defaults */
	t = &c.triggers[1];
	ck_assert_ptr_null(t->model);
	ck_assert_uint_eq(t->n_methods, 0);
	ck_assert_double_eq(t->review_below, 0.8);
	ck_assert_double_eq(t->rate_per_second, 10);
	config_deinit(&c);

	/* expression errors point into the expression: value column + expression column - 1 */
	expect_error("[trigger t]\nwhen = feature.a > \"x\"\n", "2:20:", "needs a number");
	expect_error("[trigger t]\nwhen =   label.d > 1\n", "2:10:", "needs a number");
	expect_error("[trigger t]\nwhen = feature.a >\n", "2:19:", "unexpected end");
	expect_error("[trigger t]\nmethods = treeshap, magic\n", "2:11:", "unknown method");
	expect_error("[trigger t]\nwhen = true\nreview_below = 2\n", "3:16:", "from 0 to 1");
	expect_error("[trigger t]\nwhen = true\nrate_limit = 5/day\n", "3:14:", "N/s");
	expect_error("[trigger t]\nwhen = true\nwhen = false\n", "3:8:", "given twice");
	expect_error("[trigger t]\nwhen = true\ncolour = red\n", "3:10:", "unknown key");
	expect_error("[trigger bad name!]\nwhen = true\n", "2:8:", "trigger name");
	ck_assert_int_eq(load("[trigger t]\nmodel = m\n", &c, err), -EINVAL);
	ck_assert_msg(strstr(err, "[trigger t] has no `when`"), "%s", err);
}
END_TEST

START_TEST(config_load_reads_guards)
{
	struct config c;
	char err[600];

	ck_assert_int_eq(load("[daemon]\n"
	                      "[guard obscure-vol]\n"
	                      "model = trader\n"
	                      "when = decision == \"sell\" && feature.obscure_vol > 10.25\n"
	                      "action = hold\n"
	                      "reason = sells while the obscure index is volatile: see INC-7\n"
	                      "audit = yes\n"
	                      "[trigger big]\n"
	                      "when = score > 0.99\n"
	                      "[guard any]\n"
	                      "when = score > 0.999\n"
	                      "action = review\n"
	                      "reason = très sûr ?\n",
	                      &c, err),
	                 0);
	ck_assert_uint_eq(c.n_guards, 2);
	ck_assert_uint_eq(c.n_triggers, 1);
	const struct config_guard *g = config_guard_find(&c, "obscure-vol");
	ck_assert_ptr_eq(g, &c.guards[0]);
	ck_assert_str_eq(g->model, "trader");
	ck_assert_str_eq(g->when, "decision == \"sell\" && feature.obscure_vol > 10.25");
	ck_assert_ptr_nonnull(g->expr);
	ck_assert_int_eq(g->action, CONFIG_GUARD_HOLD);
	ck_assert_str_eq(config_guard_action_name(g->action), "hold");
	ck_assert_str_eq(g->reason, "sells while the obscure index is volatile: see INC-7");
	ck_assert(g->audit);
	ck_assert(config_guard_applies(g, "trader@1"));
	ck_assert(config_guard_applies(g, "trader@2.1"));
	ck_assert(!config_guard_applies(g, "trader2@1"));
	ck_assert(!config_guard_applies(g, "trade@1"));
	/* defaults: every model, no audit */
	g = config_guard_find(&c, "any");
	ck_assert_ptr_null(g->model);
	ck_assert_int_eq(g->action, CONFIG_GUARD_REVIEW);
	ck_assert_str_eq(config_guard_action_name(g->action), "review");
	ck_assert(!g->audit);
	ck_assert(config_guard_applies(g, "x@1"));
	ck_assert_ptr_null(config_guard_find(&c, "big"));
	config_deinit(&c);

	/* a version pins it */
	ck_assert_int_eq(
	    load("[guard g]\nmodel = m@2\nwhen = true\naction = hold\nreason = r\n", &c, err), 0);
	ck_assert(config_guard_applies(&c.guards[0], "m@2"));
	ck_assert(!config_guard_applies(&c.guards[0], "m@20"));
	ck_assert(!config_guard_applies(&c.guards[0], "m@1"));
	config_deinit(&c);
}
END_TEST

START_TEST(config_load_refuses_bad_guards)
{
	struct config c;
	char err[600];

	/* typos and bad values at file:line:column */
	expect_error("[guard g]\nwhen = true\naction = hodl\n", "3:10:", "expected review");
	expect_error("[guard g]\nwhen = true\naction = HOLD\n", "3:10:", "not \"HOLD\"");
	expect_error("[guard g]\nwhen = feature.a > \"x\"\n", "2:20:", "needs a number");
	expect_error("[guard g]\nwhen =   feature.a >\n", "2:21:", "unexpected end");
	expect_error("[guard g]\nwhen = true\nwhen = false\n", "3:8:", "given twice");
	expect_error("[guard g]\nwhen = true\naudit = perhaps\n", "3:9:", "yes or no");
	expect_error("[guard g]\nwhen = true\nmethods = treeshap\n", "3:11:", "unknown key");
	expect_error("[guard g]\nmodel = a b\n", "2:9:", "model id");
	expect_error("[guard bad name!]\nwhen = true\n", "2:8:", "guard name");
	expect_error("[guard g]\nreason = tab\there\n", "2:13:", "control character");
	expect_error("[guard g]\nreason = bad \xff byte\n", "2:14:", "invalid UTF-8");
	/* what a guard must say, at its section's line */
	expect_error("[daemon]\n[guard g]\naction = hold\nreason = r\n", "2:1:", "has no when");
	expect_error("[guard g]\nwhen = true\nreason = r\n", "1:1:", "has no action");
	expect_error("[guard g]\nwhen = true\naction = review\n", "1:1:", "has no reason");
	/* guards and triggers share their names */
	expect_error("[trigger x]\nwhen = true\n\n[guard x]\nwhen = true\naction = hold\n"
	             "reason = r\n",
	             "4:1:", "different names");

	/* features checked against a model's, with the model's list */
	ck_assert_int_eq(load("[guard g]\nmodel = m\n"
	                      "when = feature.a > 1 &&   feature.obscure > 2\n"
	                      "action = hold\nreason = r\n",
	                      &c, err),
	                 0);
	const char *const have[] = {"a", "b", "c"};
	ck_assert_int_eq(
	    config_guard_check_features(&c, &c.guards[0], "m@2", have, 3, err, sizeof(err)),
	    -EINVAL);
	char want[700];
	snprintf(want, sizeof(want),
	         "%s/evidentd.conf:3:27: when: feature.obscure is not a feature of m@2 (its "
	         "features: a, b, c)",
	         dir);
	ck_assert_str_eq(err, want);
	const char *const all[] = {"obscure", "c", "a"};
	ck_assert_int_eq(
	    config_guard_check_features(&c, &c.guards[0], "m@3", all, 3, err, sizeof(err)), 0);
	config_deinit(&c);
}
END_TEST

START_TEST(config_load_text_reads_a_config_entry)
{
	struct config c;
	char err[600];
	const char *text = "[guard g]\nwhen = true\naction = hold\nreason = r\n";

	ck_assert_int_eq(
	    config_load_text("config entry 42", text, strlen(text), &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.path, "config entry 42");
	ck_assert_uint_eq(c.n_guards, 1);
	ck_assert_str_eq(c.guards[0].name, "g");
	ck_assert_uint_eq(c.text_len, strlen(text));
	config_deinit(&c);
	text = "[guard g]\nwhen = true\naction = hodl\nreason = r\n";
	ck_assert_int_eq(
	    config_load_text("config entry 42", text, strlen(text), &c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(!strncmp(err, "config entry 42:3:10: action: expected review", 45), "%s",
	              err);
	/* a NUL inside the text is not a config */
	ck_assert_int_eq(config_load_text("e", "[daemon]\0x", 10, &c, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(config_load_reports_missing_file)
{
	struct config c;
	char err[600], path[700];

	snprintf(path, sizeof(path), "%s/nope.conf", dir);
	ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), -ENOENT);
	ck_assert(strstr(err, "nope.conf") && strstr(err, "No such file"));
}
END_TEST

START_TEST(config_load_reads_models)
{
	struct config c;
	char err[600];

	ck_assert_int_eq(load("[model scorer]\n"
	                      "oracle = /usr/bin/python3 oracle.py --output decision\n"
	                      "background_size = 50\n"
	                      "[model scorer@2]\n"
	                      "oracle = ./v2-oracle\n"
	                      "oracle_timeout_ms = 500\n"
	                      "oracle_procs = 4\n",
	                      &c, err),
	                 0);
	ck_assert_uint_eq(c.n_models, 2);
	const struct config_model *m = config_model_find(&c, "scorer", "1");
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->oracle, "/usr/bin/python3 oracle.py --output decision");
	ck_assert_uint_eq(m->background_size, 50);
	ck_assert_uint_eq(m->oracle_timeout_ms, 10000); /* defaults */
	ck_assert_uint_eq(m->oracle_procs, 2);
	/* ID@VERSION wins over ID, whatever the order of the sections */
	m = config_model_find(&c, "scorer", "2");
	ck_assert_str_eq(m->oracle, "./v2-oracle");
	ck_assert_uint_eq(m->oracle_timeout_ms, 500);
	ck_assert_uint_eq(m->oracle_procs, 4);
	ck_assert_uint_eq(m->background_size, 100);
	ck_assert_ptr_null(config_model_find(&c, "score", "1"));
	ck_assert_ptr_null(config_model_find(&c, "scorer2", "1"));
	config_deinit(&c);

	expect_error("[model m]\noracle_procs = 0\n", "2:16:", "from 1 to 256");
	expect_error("[model m]\nbackground_size = lots\n", "2:19:", "from 1 to 100000");
	expect_error("[model m]\ncolour = red\n", "2:10:", "unknown key in [model m]");
	expect_error("[model two words]\noracle = x\n", "2:10:", "[model ID]");
}
END_TEST

/* A witness verifier key (type 0x04) made in the test folder. */
static void witness_vkey(const char *name, char *out, size_t size)
{
	char path[600];
	struct vault_signer *s;

	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	ck_assert_int_eq(vault_signer_load(path, true, name, VAULT_KEY_COSIGNATURE_V1, &s), 0);
	ck_assert_int_gt(vault_pubkey_format(vault_signer_pubkey(s), out, size), 0);
	vault_signer_free(s);
}

START_TEST(config_load_reads_witnesses)
{
	char k1[300], k2[300], text[2000], err[600], logkey[300];
	struct config c;

	witness_vkey("w1.example", k1, sizeof(k1));
	witness_vkey("w2.example", k2, sizeof(k2));
	snprintf(text, sizeof(text),
	         "[daemon]\ntiles_dir = /srv/tiles\n[witness a]\nurl = http://127.0.0.1:1/\n"
	         "vkey = %s\n[witness b]\nurl = https://w2.example/prefix\nvkey = %s\n"
	         "timeout_ms = 2500\n",
	         k1, k2);
	ck_assert_int_eq(load(text, &c, err), 0);
	ck_assert_uint_eq(c.n_witnesses, 2);
	ck_assert_str_eq(c.witnesses[0].name, "a");
	ck_assert_str_eq(c.witnesses[1].url, "https://w2.example/prefix");
	ck_assert_uint_eq(c.witnesses[1].key.type, VAULT_KEY_COSIGNATURE_V1);
	ck_assert_str_eq(c.witnesses[1].key.name, "w2.example");
	ck_assert_uint_eq(c.witnesses[0].timeout_ms, 10000);
	ck_assert_uint_eq(c.witnesses[1].timeout_ms, 2500);
	ck_assert_uint_eq(c.witness_quorum, 1); /* the default with witnesses */
	ck_assert_uint_eq(c.witness_stop_wait_ms, 5000);
	ck_assert_str_eq(c.tiles_dir, "/srv/tiles");
	config_deinit(&c);

	/* errors name the line and what is wrong */
	snprintf(text, sizeof(text),
	         "[daemon]\nwitness_quorum = 2\n[witness a]\nurl = http://x\n"
	         "vkey = %s\n",
	         k1);
	expect_error(text, "2:18:", "could never be witnessed");
	expect_error("[witness a]\nurl = ftp://x\n", "2:7:", "http:// or https://");
	expect_error("[witness a]\nvkey = nonsense\n", "2:8:", "type 0x04");
	expect_error("[witness a b]\nurl = http://x\n", "2:7:", "[witness NAME]");
	expect_error("[witness a]\nurl = http://x\nport = 3\n", "3:8:", "expected url, vkey");
	expect_error("[daemon]\ntiles_dir = tiles\n", "2:13:", "absolute");
	/* a log's key (type 0x01) is not a witness key */
	struct vault_signer *ls;
	snprintf(text, sizeof(text), "%s/log.key", dir);
	ck_assert_int_eq(vault_signer_load(text, true, "log.example", VAULT_KEY_ED25519, &ls), 0);
	ck_assert_int_gt(vault_pubkey_format(vault_signer_pubkey(ls), logkey, sizeof(logkey)), 0);
	vault_signer_free(ls);
	snprintf(text, sizeof(text), "[witness a]\nurl = http://x\nvkey = %s\n", logkey);
	expect_error(text, "3:8:", "type 0x04");
	/* a section without its vkey */
	ck_assert_int_eq(load("[witness a]\nurl = http://x\n", &c, err), -EINVAL);
	ck_assert_msg(strstr(err, "[witness a] needs vkey and either url or nats = yes"), "%s",
	              err);
}
END_TEST

START_TEST(config_load_reads_forward)
{
	struct config c;
	char err[600], text[2048], k1[256];

	/* off by default; the defaults once nats_url is given */
	ck_assert_int_eq(load("[daemon]\n", &c, err), 0);
	ck_assert_ptr_null(c.forward.nats_url);
	config_deinit(&c);
	ck_assert_int_eq(load("[forward]\nnats_url = nats://127.0.0.1:4222\n", &c, err), 0);
	ck_assert_str_eq(c.forward.nats_url, "nats://127.0.0.1:4222");
	ck_assert_str_eq(c.forward.stream, "EVIDENT");
	ck_assert_str_eq(c.forward.subject_prefix, "evident");
	ck_assert_uint_eq(c.forward.max_pending, 1024);
	ck_assert_uint_eq(c.forward.stop_wait_ms, 10000);
	ck_assert_uint_eq(c.forward.replicas, 1);
	ck_assert_uint_eq(c.forward.duplicate_window_s, 600);
	ck_assert_uint_eq(c.forward.max_age_s, 0);
	config_deinit(&c);
	/* every key; a witness whose cosignatures come through NATS */
	witness_vkey("auditor.example", k1, sizeof(k1));
	snprintf(text, sizeof(text),
	         "[forward]\nnats_url = tls://a:4222, tls://b:4222\nstream = EV_1\n"
	         "subject_prefix = fleet.prod\ncreds_file = /etc/n.creds\nuser = u\n"
	         "password = p\ntoken = t\nnkey = U%055d\nnkey_seed_file = /etc/seed\n"
	         "tls_ca = /etc/ca.pem\ntls_cert = /etc/c.pem\ntls_key = /etc/k.pem\n"
	         "tls_hostname = nats.example\nmax_pending = 64\nstop_wait_ms = 0\n"
	         "max_age = 30d\nmax_bytes = 10G\nreplicas = 3\nduplicate_window = 1h\n"
	         "[witness aud]\nnats = yes\nvkey = %s\n",
	         0, k1);
	ck_assert_msg(load(text, &c, err) == 0, "%s", err);
	ck_assert_str_eq(c.forward.subject_prefix, "fleet.prod");
	ck_assert_str_eq(c.forward.stream, "EV_1");
	ck_assert_uint_eq(c.forward.max_pending, 64);
	ck_assert_uint_eq(c.forward.stop_wait_ms, 0);
	ck_assert_uint_eq(c.forward.max_age_s, 30 * 86400);
	ck_assert_uint_eq(c.forward.max_bytes, 10ull << 30);
	ck_assert_uint_eq(c.forward.replicas, 3);
	ck_assert_uint_eq(c.forward.duplicate_window_s, 3600);
	ck_assert_str_eq(c.forward.tls_hostname, "nats.example");
	ck_assert(c.witnesses[0].nats);
	ck_assert_ptr_null(c.witnesses[0].url);
	ck_assert_uint_eq(c.witness_quorum, 1);
	config_deinit(&c);

	/* errors name the line and what is wrong */
	expect_error("[forward]\nnats_url = http://x\n", "2:12:", "nats://HOST:PORT");
	expect_error("[forward]\nnats_url = nats://x\nstream = a.b\n", "3:10:", "stream name");
	expect_error("[forward]\nnats_url = nats://x\nsubject_prefix = a.*\n",
	             "3:18:", "no wildcards");
	expect_error("[forward]\nnats_url = nats://x\ncreds_file = x.creds\n", "3:14:", "absolute");
	expect_error("[forward]\nnats_url = nats://x\nmax_pending = 0\n", "3:15:", "1 to 65536");
	expect_error("[forward]\nnats_url = nats://x\nmax_bytes = 10\n", "3:13:", "at least 1M");
	expect_error("[forward]\nnats_url = nats://x\nreplicas = 9\n", "3:12:", "1 to 5");
	expect_error("[forward]\nnats_url = nats://x\nduplicate_window = forever\n",
	             "3:20:", "duration");
	expect_error("[forward]\nnats_url = nats://x\nnkey = abc\n", "3:8:", "public nkey");
	expect_error("[forward]\nnats_url = nats://x\nspeed = 3\n", "3:9:", "unknown key");
	expect_error("[forward]\nnats_url = nats://x\nuser = u\n", "3:8:", "needs password");
	snprintf(text, sizeof(text), "[witness aud]\nnats = yes\nvkey = %s\n", k1);
	ck_assert_int_eq(load(text, &c, err), -EINVAL);
	ck_assert_msg(strstr(err, "[forward] has no nats_url"), "%s", err);
	snprintf(text, sizeof(text),
	         "[forward]\nnats_url = nats://x\n[witness aud]\nnats = yes\nurl = http://w\n"
	         "vkey = %s\n",
	         k1);
	ck_assert_int_eq(load(text, &c, err), -EINVAL);
	ck_assert_msg(strstr(err, "both url and nats = yes"), "%s", err);
	ck_assert_int_eq(load("[forward]\nstream = S\n", &c, err), -EINVAL);
	ck_assert_msg(strstr(err, "[forward] needs nats_url"), "%s", err);
}
END_TEST

START_TEST(config_load_reads_retention)
{
	struct config c;
	char err[600];
	bool over;

	/* the defaults: everything kept for ever; a cycle a minute, 1000 prunes a batch */
	ck_assert_int_eq(load("[daemon]\n", &c, err), 0);
	for (int t = 1; t < _VAULT_ENTRY_TYPE_MAX; t++)
		ck_assert_uint_eq(config_keep_s(&c, t, "credit", NULL), CONFIG_KEEP_FOREVER);
	ck_assert_uint_eq(c.retention_interval_s, 60);
	ck_assert_uint_eq(c.retention_batch, 1000);
	ck_assert(!c.retention_allow_short);
	config_deinit(&c);

	ck_assert_int_eq(load("[retention]\n"
	                      "record = 400d\n"
	                      "audit = 5y\n"
	                      "verdict = 2y\n"
	                      "incident = 3y\n"
	                      "review = forever\n"
	                      "notice = 12h\n"
	                      "interval = 5m\n"
	                      "batch = 250\n"
	                      "[retention credit]\n"
	                      "record = 3y\n"
	                      "[retention fraud]\n"
	                      "audit = forever\n"
	                      "record = 200d\n",
	                      &c, err),
	                 0);
	ck_assert_uint_eq(c.keep_s[VAULT_ENTRY_RECORD], 400 * 86400ull);
	ck_assert_uint_eq(c.keep_s[VAULT_ENTRY_AUDIT], 5 * 365 * 86400ull);
	ck_assert_uint_eq(c.keep_s[VAULT_ENTRY_NOTICE], 12 * 3600ull);
	ck_assert_uint_eq(c.keep_s[VAULT_ENTRY_REVIEW], CONFIG_KEEP_FOREVER);
	ck_assert_uint_eq(c.retention_interval_s, 300);
	ck_assert_uint_eq(c.retention_batch, 250);
	ck_assert_uint_eq(c.n_retention_models, 2);
	/* a model's section decides for its records and audits, [retention] for the rest */
	ck_assert_uint_eq(config_keep_s(&c, VAULT_ENTRY_RECORD, "credit", &over),
	                  3 * 365 * 86400ull);
	ck_assert(over);
	ck_assert_uint_eq(config_keep_s(&c, VAULT_ENTRY_AUDIT, "credit", &over),
	                  5 * 365 * 86400ull);
	ck_assert(!over);
	ck_assert_uint_eq(config_keep_s(&c, VAULT_ENTRY_AUDIT, "fraud", &over),
	                  CONFIG_KEEP_FOREVER);
	ck_assert(over);
	ck_assert_uint_eq(config_keep_s(&c, VAULT_ENTRY_RECORD, "other", &over), 400 * 86400ull);
	ck_assert(!over);
	ck_assert_uint_eq(config_keep_s(&c, VAULT_ENTRY_RECORD, NULL, NULL), 400 * 86400ull);
	/* types never pruned */
	ck_assert_uint_eq(config_keep_s(&c, VAULT_ENTRY_MODEL, NULL, NULL), CONFIG_KEEP_FOREVER);
	ck_assert_uint_eq(config_keep_s(&c, VAULT_ENTRY_HOLD, NULL, NULL), CONFIG_KEEP_FOREVER);
	config_deinit(&c);

	/* short record durations need allow_short (in either order) */
	ck_assert_int_eq(load("[retention]\nrecord = 1m\nallow_short = yes\n", &c, err), 0);
	ck_assert_uint_eq(c.keep_s[VAULT_ENTRY_RECORD], 60);
	ck_assert(c.retention_allow_short);
	config_deinit(&c);
	ck_assert_int_eq(
	    load("[retention]\nallow_short = yes\n[retention m]\nrecord = 45s\n", &c, err), 0);
	ck_assert_uint_eq(config_keep_s(&c, VAULT_ENTRY_RECORD, "m", NULL), 45);
	config_deinit(&c);
	/* 180 days is the floor itself; audits may be short */
	ck_assert_int_eq(load("[retention]\nrecord = 180d\naudit = 1d\n", &c, err), 0);
	config_deinit(&c);
}
END_TEST

START_TEST(config_load_refuses_bad_retention)
{
	/* malformed durations name the line and the value's column */
	expect_error("[retention]\nrecord = 400\n", "2:10:", "expected a duration such as 400d");
	expect_error("[retention]\nrecord =   4x\n", "2:12:", "not \"4x\"");
	expect_error("[retention]\naudit = -1d\n", "2:9:", "a duration");
	expect_error("[retention]\naudit = 0d\n", "2:9:", "a duration");
	expect_error("[retention]\naudit = 1.5y\n", "2:9:", "a duration");
	expect_error("[retention]\naudit = 5 y\n", "2:9:", "a duration");
	expect_error("[retention]\naudit = 99999999999y\n", "2:9:", "a duration");
	expect_error("[retention]\naudit = \n", "2:9:", "a duration");
	/* unknown and permanent types */
	expect_error("[retention]\nrecords = 1y\n", "2:11:", "unknown key in [retention]");
	expect_error("[retention]\nmodel = 1y\n", "2:9:", "life of the vault");
	expect_error("[retention]\nprune = 1y\n", "2:9:", "life of the vault");
	expect_error("[retention]\nerasure = 1y\n", "2:11:", "life of the vault");
	expect_error("[retention]\nlifecycle = 1y\n", "2:13:", "life of the vault");
	expect_error("[retention]\ninterval = 2d\n", "2:12:", "1s to 1d");
	expect_error("[retention]\nbatch = 0\n", "2:9:", "1 to 100000");
	expect_error("[retention]\nallow_short = sure\n", "2:15:", "yes or no");
	/* per model: records and audits only, a model id without a version */
	expect_error("[retention credit]\nincident = 1y\n", "2:12:", "record and audit only");
	expect_error("[retention credit@2]\nrecord = 1y\n", "2:10:", "[retention MODEL_ID]");
	expect_error("[retention credit]\nrecord = soon\n", "2:10:", "a duration");
	/* under 180 days without allow_short: the line and column of the duration */
	expect_error("[daemon]\n[retention]\naudit = 1y\nrecord =  179d\n",
	             "4:11:", "under 180 days");
	expect_error("[retention]\nrecord = 400d\n[retention fast]\nrecord = 30d\n",
	             "4:10:", "[retention fast] is under 180 days");
	expect_error("[retention]\nallow_short = no\nrecord = 1h\n", "3:10:", "allow_short = yes");
	/* a review kept shorter than its incident would reopen it */
	expect_error("[retention]\nincident = 2y\nreview = 1y\n",
	             "3:10:", "shorter than incident (2y)");
	expect_error("[retention]\nreview = 1y\n", "2:10:", "shorter than incident (forever)");
}
END_TEST

START_TEST(config_load_reads_admin_uids)
{
	struct config c;
	char err[600];

	/* without the key: root and the daemon's own user */
	ck_assert_int_eq(load("[daemon]\n", &c, err), 0);
	ck_assert(!c.has_admin_uids);
	ck_assert(config_is_admin(&c, 0, 4242));
	ck_assert(config_is_admin(&c, 4242, 4242));
	ck_assert(!config_is_admin(&c, 1000, 4242));
	config_deinit(&c);
	/* a list replaces the default (names or uids) */
	ck_assert_int_eq(load("[daemon]\nadmin_uids = 1234, root 77\n", &c, err), 0);
	ck_assert_uint_eq(c.n_admin_uids, 3);
	ck_assert(config_is_admin(&c, 1234, 4242));
	ck_assert(config_is_admin(&c, 0, 4242));
	ck_assert(config_is_admin(&c, 77, 4242));
	ck_assert(!config_is_admin(&c, 4242, 4242));
	config_deinit(&c);
	/* empty: nobody */
	ck_assert_int_eq(load("[daemon]\nadmin_uids =\n", &c, err), 0);
	ck_assert(c.has_admin_uids);
	ck_assert(!config_is_admin(&c, 0, 0));
	config_deinit(&c);
	expect_error("[daemon]\nadmin_uids = 0 no-such-user-here\n", "2:14:", "no user named");
}
END_TEST

START_TEST(config_duration_format_writes_what_configs_say)
{
	char b[32];

	ck_assert_str_eq(config_duration_format(400 * 86400ull, b, sizeof(b)), "400d");
	ck_assert_str_eq(config_duration_format(5 * 365 * 86400ull, b, sizeof(b)), "5y");
	ck_assert_str_eq(config_duration_format(12 * 3600, b, sizeof(b)), "12h");
	ck_assert_str_eq(config_duration_format(90, b, sizeof(b)), "90s");
	ck_assert_str_eq(config_duration_format(120, b, sizeof(b)), "2m");
	ck_assert_str_eq(config_duration_format(CONFIG_KEEP_FOREVER, b, sizeof(b)), "forever");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("config_defaults");
	tcase_add_test(tc, config_defaults_follow_systemd_directories);
	suite_add_tcase(s, tc);
	tc = tcase_create("config_load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, config_load_reads_every_key);
	tcase_add_test(tc, config_load_names_line_and_column);
	tcase_add_test(tc, config_load_reads_connection_limits);
	tcase_add_test(tc, config_load_refuses_a_world_writable_socket_open_to_anyone);
	tcase_add_test(tc, config_load_reports_missing_file);
	tcase_add_test(tc, config_load_reads_triggers);
	tcase_add_test(tc, config_load_reads_guards);
	tcase_add_test(tc, config_load_refuses_bad_guards);
	tcase_add_test(tc, config_load_text_reads_a_config_entry);
	tcase_add_test(tc, config_load_reads_models);
	tcase_add_test(tc, config_load_reads_witnesses);
	tcase_add_test(tc, config_load_reads_forward);
	tcase_add_test(tc, config_load_reads_retention);
	tcase_add_test(tc, config_load_refuses_bad_retention);
	tcase_add_test(tc, config_load_reads_admin_uids);
	suite_add_tcase(s, tc);
	tc = tcase_create("config_duration_format");
	tcase_add_test(tc, config_duration_format_writes_what_configs_say);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(config_suite());
}
