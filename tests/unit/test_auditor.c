/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for evident-auditor's own formats: its status file (tools/auditor/auditor_status.c,
 * read by evidentctl fleet status) and its LMDB state (auditor_state.c: alerts with evidence,
 * stopped origins). Everything else the auditor reads comes through the fleet decoders (their
 * own tests and fuzz target) or the witness library's trust file parser (fuzz_witness). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditor_state.h"
#include "auditor_status.h"
#include "testutil.h"

START_TEST(status_round_trips)
{
	char *dir = test_tmpdir("auditor-status"), err[256];
	char *alerts[] = {"fork: 1 (last: entry 0 contradicts the mirror)", "gap: entries from 7"};
	struct auditor_status_origin o[2] = {
	    {.origin = "h1.example/a",
	     .token = "h1=2Eexample=2Fa",
	     .trusted = true,
	     .stopped = true,
	     .last_seen_ns = 1765000000123456789ull,
	     .lag_ms = 12,
	     .lag_p99_ms = 40,
	     .received = 1000,
	     .mirrored = 990,
	     .duplicates = 10,
	     .held = 3,
	     .alerts = alerts,
	     .n_alerts = 2},
	    {.origin = NULL, .token = "-", .refused = 5},
	};
	struct auditor_status st = {.auditor = "a.example/1",
	                            .vkey = "a.example/1+00000000+AA",
	                            .updated_ns = 1765000000000000000ull,
	                            .origins = o,
	                            .n = 2},
	                      got = {0};

	ck_assert_int_eq(auditor_status_write(dir, &st), 0);
	ck_assert_int_eq(auditor_status_read(dir, &got, err, sizeof(err)), 0);
	ck_assert_str_eq(got.auditor, "a.example/1");
	ck_assert_uint_eq(got.updated_ns, st.updated_ns);
	ck_assert_uint_eq(got.n, 2);
	ck_assert_str_eq(got.origins[0].origin, "h1.example/a");
	ck_assert(got.origins[0].trusted && got.origins[0].stopped);
	ck_assert_uint_eq(got.origins[0].last_seen_ns, o[0].last_seen_ns);
	ck_assert_uint_eq(got.origins[0].duplicates, 10);
	ck_assert_uint_eq(got.origins[0].n_alerts, 2);
	ck_assert_str_eq(got.origins[0].alerts[1], "gap: entries from 7");
	ck_assert_ptr_null(got.origins[1].origin);
	ck_assert_uint_eq(got.origins[1].refused, 5);
	auditor_status_free(&got);
	auditor_status_free(&got); /* a freed status is zeroed */
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(status_parse_names_the_problem)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"", "line 1"},
	    {"{\"format\":\"something else\",\"origins\":[]}", "\"format\""},
	    {"{\"format\":\"evident-auditor status 1\"}", "\"origins\" is not an array"},
	    {"{\"format\":\"evident-auditor status 1\",\"origins\":[1]}",
	     "origins[0]: not an object"},
	    {"{\"format\":\"evident-auditor status 1\",\"origins\":[{\"token\":\"t\","
	     "\"received\":-1}]}",
	     "\"received\" is not a number"},
	    {"{\"format\":\"evident-auditor status 1\",\"origins\":[{\"token\":\"t\","
	     "\"alerts\":[\"a\",2]}]}",
	     "alerts[1] is not a string"},
	    {"{\"format\":\"evident-auditor status "
	     "1\",\"origins\":[{\"origin\":3,\"token\":\"t\"}]}",
	     "\"origin\" or \"token\""},
	    {"{\"format\":\"evident-auditor status 1\",\"format\":\"x\",\"origins\":[]}", "line 1"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct auditor_status st = {0};
		char err[256] = "";
		ck_assert_int_eq(auditor_status_parse(cases[i].text, strlen(cases[i].text), &st,
		                                      err, sizeof(err)),
		                 -EBADMSG);
		ck_assert_msg(strstr(err, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err,
		              cases[i].want);
	}
}
END_TEST

START_TEST(status_read_missing_is_enoent)
{
	char *dir = test_tmpdir("auditor-status"), err[64];
	struct auditor_status st = {0};

	ck_assert_int_eq(auditor_status_read(dir, &st, err, sizeof(err)), -ENOENT);
	test_rmrf(dir);
	free(dir);
}
END_TEST

struct collected {
	struct astate_alert a[8];
	char origin[8][256], msg[8][ASTATE_MSG_MAX];
	uint8_t evidence[8][64];
	size_t n;
};

static int collect(void *ud, const struct astate_alert *al)
{
	struct collected *c = ud;

	ck_assert_uint_lt(c->n, 8);
	c->a[c->n] = *al;
	snprintf(c->origin[c->n], 256, "%s", al->origin);
	snprintf(c->msg[c->n], ASTATE_MSG_MAX, "%s", al->msg);
	memcpy(c->evidence[c->n], al->evidence, al->evidence_len < 64 ? al->evidence_len : 64);
	c->n++;
	return 0;
}

START_TEST(state_alerts_and_origins_round_trip)
{
	char *dir = test_tmpdir("auditor-state");
	struct astate *s, *ro;
	struct astate_origin o;
	struct collected c = {0};
	uint64_t seq;
	const uint8_t ev[] = {0x0a, 0x03, 'a', 'b', 'c'};
	struct astate_alert fork = {.time_ns = 42,
	                            .kind = ALERT_FORK,
	                            .origin = "h.example/1",
	                            .msg = "entry 3 contradicts the mirror",
	                            .evidence = ev,
	                            .evidence_len = sizeof(ev)},
	                    gap = {.time_ns = 43, .kind = ALERT_GAP, .origin = "", .msg = "gap"};

	ck_assert_int_eq(astate_open(dir, false, &s), 0);
	ck_assert_int_eq(astate_alert_add(s, &fork, &seq), 0);
	ck_assert_uint_eq(seq, 0);
	ck_assert_int_eq(astate_alert_add(s, &gap, &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(astate_origin_get(s, "h.example/1", &o), -ENOENT);
	o = (struct astate_origin){.flags = ASTATE_STOPPED, .stopped_by = 0, .open_from = 0};
	ck_assert_int_eq(astate_origin_put(s, "h.example/1", &o), 0);
	/* a reader beside the writer, as --alerts beside a running auditor */
	ck_assert_int_eq(astate_open(dir, true, &ro), 0);
	ck_assert_int_eq(astate_each_alert(ro, 0, collect, &c), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_int_eq(c.a[0].kind, ALERT_FORK);
	ck_assert_str_eq(c.origin[0], "h.example/1");
	ck_assert_str_eq(c.msg[0], "entry 3 contradicts the mirror");
	ck_assert_uint_eq(c.a[0].evidence_len, sizeof(ev));
	ck_assert_mem_eq(c.evidence[0], ev, sizeof(ev));
	ck_assert_str_eq(c.origin[1], "");
	c.n = 0;
	ck_assert_int_eq(astate_each_alert(ro, 1, collect, &c), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_int_eq(astate_origin_get(ro, "h.example/1", &o), 0);
	ck_assert_uint_eq(o.flags, ASTATE_STOPPED);
	ck_assert_int_eq(astate_alert_add(ro, &gap, NULL), -EROFS);
	astate_close(ro);
	astate_close(s);
	/* reopened: the next seq continues */
	ck_assert_int_eq(astate_open(dir, false, &s), 0);
	ck_assert_int_eq(astate_alert_add(s, &gap, &seq), 0);
	ck_assert_uint_eq(seq, 2);
	astate_close(s);
	test_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(state_decode_rejects_damage)
{
	uint8_t val[64] = {1, 0, 0, 0, 0, 0, 0, 0, 42, ALERT_GAP, 2, 'h', 'x', 0, 3, 'g', 'a', 'p'};
	size_t len = 18;
	struct astate_alert a;
	char origin[256], msg[ASTATE_MSG_MAX];

	ck_assert_int_eq(astate_alert_decode(val, len, 7, &a, origin, msg), 0);
	ck_assert_str_eq(origin, "hx");
	ck_assert_str_eq(msg, "gap");
	ck_assert_uint_eq(a.seq, 7);
	ck_assert_uint_eq(a.evidence_len, 0);
	/* every truncation is refused */
	for (size_t n = 0; n < len; n++)
		ck_assert_int_eq(astate_alert_decode(val, n, 7, &a, origin, msg), -EBADMSG);
	val[0] = 2; /* another version */
	ck_assert_int_eq(astate_alert_decode(val, len, 7, &a, origin, msg), -EBADMSG);
	val[0] = 1;
	val[9] = 0; /* no such kind */
	ck_assert_int_eq(astate_alert_decode(val, len, 7, &a, origin, msg), -EBADMSG);
	val[9] = ALERT_GAP;
	val[12] = 0; /* a NUL inside the origin */
	ck_assert_int_eq(astate_alert_decode(val, len, 7, &a, origin, msg), -EBADMSG);
	ck_assert_str_eq(alert_kind_name(ALERT_BAD_SIGNATURE), "bad-signature");
	ck_assert_ptr_null(alert_kind_name(0));
	ck_assert_ptr_null(alert_kind_name(_ALERT_KIND_MAX));
}
END_TEST

static Suite *auditor_suite(void)
{
	Suite *s = suite_create("auditor");
	TCase *tc;

	tc = tcase_create("auditor_status");
	tcase_add_test(tc, status_round_trips);
	tcase_add_test(tc, status_parse_names_the_problem);
	tcase_add_test(tc, status_read_missing_is_enoent);
	suite_add_tcase(s, tc);
	tc = tcase_create("astate");
	tcase_add_test(tc, state_alerts_and_origins_round_trip);
	tcase_add_test(tc, state_decode_rejects_damage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(auditor_suite());
}
