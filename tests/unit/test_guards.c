/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for daemon/guards.c: evaluation (the strictest action, the guards in
 * configuration order, the model filter, the binding per model version: a version without a
 * feature is never guarded), the firings of audit = yes, guards_unbound and guards_check. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "entry.pb-c.h"
#include "guards.h"
#include "registry.h"
#include "testutil.h"
#include "triggers.h"

static char *dir;
static struct config cfg;

static void setup(void)
{
	dir = test_tmpdir("guards");
}

static void teardown(void)
{
	config_deinit(&cfg);
	test_rmrf(dir);
	free(dir);
}

static void load(const char *text)
{
	char path[600], err[600];
	snprintf(path, sizeof(path), "%s/evidentd.conf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_msg(config_load(path, &cfg, err, sizeof(err)) == 0, "%s", err);
}

/* A model version "id@version" with the given features (a registry entry's shape). */
struct model {
	struct model_info mi;
	Evident__V1__ModelManifest man;
	Evident__V1__Feature feat[8], *featp[8];
	char key[64];
};

static void model_init(struct model *m, const char *id, const char *version, uint64_t seq,
                       const char *const *names, size_t n)
{
	memset(m, 0, sizeof(*m));
	evident__v1__model_manifest__init(&m->man);
	m->man.model_id = (char *)id;
	m->man.version = (char *)version;
	for (size_t i = 0; i < n; i++) {
		evident__v1__feature__init(&m->feat[i]);
		m->feat[i].name = (char *)names[i];
		m->featp[i] = &m->feat[i];
	}
	m->man.n_features = n;
	m->man.features = m->featp;
	snprintf(m->key, sizeof(m->key), "%s@%s", id, version);
	m->mi.key = m->key;
	m->mi.seq = seq;
	m->mi.manifest = &m->man;
}

static Evident__V1__Record rec(const char *id, const char *version, double *x, size_t n,
                               const char *decision)
{
	Evident__V1__Record r = EVIDENT__V1__RECORD__INIT;
	static double score = 0.5;
	r.model_id = (char *)id;
	r.model_version = (char *)version;
	r.request_id = "r";
	r.features = x;
	r.n_features = n;
	r.scores = &score;
	r.n_scores = 1;
	r.decision = (char *)decision;
	return r;
}

static size_t count(const struct firing *f)
{
	size_t n = 0;
	for (; f; f = f->next)
		n++;
	return n;
}

#define GUARDS                                                                              \
	"[guard big]\nmodel = fx\nwhen = feature.vol > 10\naction = review\nreason = big\n" \
	"[trigger t]\nwhen = true\n"                                                        \
	"[guard sell]\nwhen = decision == \"sell\" && feature.vol > 20\naction = hold\n"    \
	"reason = sell in a storm\naudit = yes\n"                                           \
	"[guard other]\nmodel = credit@2\nwhen = true\naction = hold\nreason = all\n"

START_TEST(guards_evaluate_gives_the_strictest_action_and_every_guard)
{
	static const char *const fx_names[] = {"price", "vol"};
	struct model fx;
	struct guards *g;
	struct guard_catch c;
	struct firing *fired = NULL;
	uint64_t lost = 0;

	load(GUARDS);
	ck_assert_int_eq(guards_new(&cfg, &g), 0);
	ck_assert_uint_eq(guards_count(g), 3);
	model_init(&fx, "fx", "1", 5, fx_names, 2);

	double calm[] = {1, 5};
	Evident__V1__Record r = rec("fx", "1", calm, 2, "sell");
	guards_evaluate(g, &fx.mi, &r, "c", 1000, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_int_eq(c.action, 0);
	ck_assert_ptr_null(fired);

	double storm[] = {1, 25};
	r = rec("fx", "1", storm, 2, "buy");
	guards_evaluate(g, &fx.mi, &r, "c", 1000, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_str_eq(c.guards[0]->name, "big");
	ck_assert_int_eq(c.action, EVIDENT__V1__VERDICT__ACTION__REVIEW);
	ck_assert_ptr_null(fired); /* big has no audit */

	r = rec("fx", "1", storm, 2, "sell");
	guards_evaluate(g, &fx.mi, &r, "c", 1000, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_str_eq(c.guards[0]->name, "big"); /* configuration order */
	ck_assert_str_eq(c.guards[1]->name, "sell");
	ck_assert_int_eq(c.action, EVIDENT__V1__VERDICT__ACTION__HOLD); /* the stricter */
	/* sell has audit = yes: one firing, an OPEN incident marked as a guard's */
	ck_assert_uint_eq(count(fired), 1);
	ck_assert(fired->open);
	size_t len;
	uint8_t *p = triggers_firing_payload(fired, 42, &len);
	Evident__Entry__V1__IncidentEntry *ie =
	    evident__entry__v1__incident_entry__unpack(NULL, len, p);
	ck_assert_ptr_nonnull(ie);
	ck_assert_str_eq(ie->trigger, "sell");
	ck_assert(ie->has_guard && ie->guard);
	ck_assert_uint_eq(ie->record_seq, 42);
	ck_assert_uint_eq(ie->n_methods, 0); /* the triggers' default methods */
	ck_assert_double_eq(ie->review_below, CONFIG_REVIEW_BELOW_DEFAULT);
	evident__entry__v1__incident_entry__free_unpacked(ie, NULL);
	free(p);
	triggers_firings_free(fired);
	fired = NULL;

	/* a missing value is a value: every comparison with NaN is false */
	double missing[] = {1, NAN};
	r = rec("fx", "1", missing, 2, "sell");
	guards_evaluate(g, &fx.mi, &r, "c", 1000, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 0);

	/* the model filter: credit@2 gets "other" only (no vol: big is fx's, sell unbound) */
	static const char *const credit_names[] = {"income", "debt"};
	struct model credit2, credit1;
	model_init(&credit2, "credit", "2", 6, credit_names, 2);
	model_init(&credit1, "credit", "1", 4, credit_names, 2);
	double x[] = {1, 2};
	r = rec("credit", "2", x, 2, "sell");
	guards_evaluate(g, &credit2.mi, &r, "c", 1000, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_str_eq(c.guards[0]->name, "other");
	ck_assert_int_eq(c.action, EVIDENT__V1__VERDICT__ACTION__HOLD);
	r = rec("credit", "1", x, 2, "sell");
	guards_evaluate(g, &credit1.mi, &r, "c", 1000, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_uint_eq(lost, 0);
	ck_assert_ptr_null(fired);
	guards_free(g);
}
END_TEST

START_TEST(guards_evaluate_never_guards_a_version_without_the_feature)
{
	static const char *const v1[] = {"vol", "price"}, *const v2[] = {"price"};
	struct model a, b;
	struct guards *g;
	struct guard_catch c;
	struct firing *fired = NULL;
	uint64_t lost = 0;

	load("[guard lo]\nmodel = fx\nwhen = !(feature.vol > 10)\naction = hold\nreason = r\n");
	ck_assert_int_eq(guards_new(&cfg, &g), 0);
	model_init(&a, "fx", "1", 1, v1, 2);
	model_init(&b, "fx", "2", 2, v2, 1);
	double x1[] = {5, 1}, x2[] = {1};
	Evident__V1__Record r = rec("fx", "1", x1, 2, "sell");
	guards_evaluate(g, &a.mi, &r, "c", 1, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 1);
	/* fx@2 has no vol: read as missing, !(NaN > 10) would be true; the guard does not
	 * apply at all instead */
	r = rec("fx", "2", x2, 1, "sell");
	guards_evaluate(g, &b.mi, &r, "c", 1, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 0);
	/* and back: the binding follows the version */
	r = rec("fx", "1", x1, 2, "sell");
	guards_evaluate(g, &a.mi, &r, "c", 1, &c, &fired, &lost);
	ck_assert_uint_eq(c.n, 1);
	guards_free(g);
}
END_TEST

static void collect(void *data, const struct config_guard *guard, const char *why)
{
	char *out = data;
	size_t n = strlen(out);
	snprintf(out + n, 2000 - n, "%s|%s\n", guard->name, why);
}

START_TEST(guards_unbound_reports_each_guard_a_version_cannot_bind)
{
	static const char *const names[] = {"price"};
	struct model m;
	struct guards *g;
	char out[2000] = "", want[800];

	load("[guard vol]\nwhen = feature.vol > 1\naction = hold\nreason = r\n"
	     "[guard ok]\nwhen = feature.price > 1\naction = hold\nreason = r\n"
	     "[guard theirs]\nmodel = other\nwhen = feature.vol > 1\naction = hold\nreason = r\n");
	ck_assert_int_eq(guards_new(&cfg, &g), 0);
	model_init(&m, "fx", "3", 1, names, 1);
	ck_assert_uint_eq(guards_unbound(g, &m.mi, collect, out), 1);
	snprintf(want, sizeof(want),
	         "vol|%s/evidentd.conf:2:8: when: feature.vol is not a feature of fx@3 (its "
	         "features: price)\n",
	         dir);
	ck_assert_str_eq(out, want);
	ck_assert_uint_eq(guards_unbound(NULL, &m.mi, collect, out), 0);
	guards_free(g);
}
END_TEST

START_TEST(guards_check_refuses_a_feature_the_newest_version_lacks)
{
	static const char *const old[] = {"vol", "price"}, *const newer[] = {"price", "qty"};
	struct registry reg;
	struct model a, b;
	struct model_info *bucket[1];
	char err[600];

	model_init(&a, "fx", "1", 10, old, 2);
	model_init(&b, "fx", "2", 20, newer, 2);
	a.mi.next = &b.mi;
	bucket[0] = &a.mi;
	reg = (struct registry){.buckets = bucket, .n_buckets = 1, .count = 2};

	/* fx's newest version (fx@2, the highest seq) has no vol */
	load("[guard g]\nmodel = fx\nwhen = feature.vol > 1\naction = hold\nreason = r\n");
	ck_assert_int_eq(guards_check(&cfg, &reg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, ":3:8: when: feature.vol is not a feature of fx@2 (its features: "
	                          "price, qty)"),
	              "%s", err);
	config_deinit(&cfg);
	/* pinned to the version that has it: fine */
	load("[guard g]\nmodel = fx@1\nwhen = feature.vol > 1\naction = hold\nreason = r\n");
	ck_assert_int_eq(guards_check(&cfg, &reg, err, sizeof(err)), 0);
	config_deinit(&cfg);
	/* every model: fine while one version has it, refused when none does */
	load("[guard g]\nwhen = feature.vol > 1\naction = hold\nreason = r\n");
	ck_assert_int_eq(guards_check(&cfg, &reg, err, sizeof(err)), 0);
	config_deinit(&cfg);
	load("[guard g]\nwhen = feature.volume > 1\naction = hold\nreason = r\n");
	ck_assert_int_eq(guards_check(&cfg, &reg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "feature.volume is not a feature of"), "%s", err);
	config_deinit(&cfg);
	/* a model not registered yet: checked when it registers */
	load("[guard g]\nmodel = later\nwhen = feature.x > 1\naction = hold\nreason = r\n");
	ck_assert_int_eq(guards_check(&cfg, &reg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(guards_action_rank_orders_hold_over_review_over_proceed)
{
	ck_assert_int_gt(guards_action_rank(EVIDENT__V1__VERDICT__ACTION__HOLD),
	                 guards_action_rank(EVIDENT__V1__VERDICT__ACTION__REVIEW));
	ck_assert_int_gt(guards_action_rank(EVIDENT__V1__VERDICT__ACTION__REVIEW),
	                 guards_action_rank(EVIDENT__V1__VERDICT__ACTION__PROCEED));
	ck_assert_int_eq(guards_action_rank(EVIDENT__V1__VERDICT__ACTION__PENDING), 0);
}
END_TEST

static Suite *guards_suite(void)
{
	Suite *s = suite_create("guards");
	TCase *tc;

	tc = tcase_create("guards_evaluate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, guards_evaluate_gives_the_strictest_action_and_every_guard);
	tcase_add_test(tc, guards_evaluate_never_guards_a_version_without_the_feature);
	suite_add_tcase(s, tc);
	tc = tcase_create("guards_unbound");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, guards_unbound_reports_each_guard_a_version_cannot_bind);
	suite_add_tcase(s, tc);
	tc = tcase_create("guards_check");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, guards_check_refuses_a_feature_the_newest_version_lacks);
	suite_add_tcase(s, tc);
	tc = tcase_create("guards_action_rank");
	tcase_add_test(tc, guards_action_rank_orders_hold_over_review_over_proceed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(guards_suite());
}
