/* SPDX-License-Identifier: Apache-2.0 */
/* The report's section 13, the suggested guard (report_render.h): the constraint the audit
 * proposes as a ready [guard NAME] section of evidentd's config, and its backtest. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

/* A count of the backtest, or "?" when the document lacks it. */
static void count(struct rr *r, const json_t *bt, const char *key)
{
	int64_t n;

	if (doc_get_int(bt, key, &n))
		rw_textf(r, "%" PRId64, n);
	else
		rw_text(r, "?");
}

static void backtest(struct rr *r, const json_t *bt)
{
	int64_t n, as_of, from = 0, reviews_as_of;
	double sh;
	bool b;

	rw_p_begin(r, NULL);
	rw_text(r, "Backtest on the vault as it was when the audit was recorded");
	doc_get_int(bt, "from_seq", &from);
	if (doc_get_int(bt, "as_of_seq", &as_of) && from > 0)
		rw_textf(r, " (the entries from seq %" PRId64 " to %" PRId64 ")", from, as_of - 1);
	else if (doc_get_int(bt, "as_of_seq", &as_of))
		rw_textf(r, " (the entries before seq %" PRId64 ")", as_of);
	rw_text(r, ", with the daemon's own rule code, on the records of ");
	rw_text(r, rw_or_dash(doc_get_str(bt, "model_id")));
	rw_text(r, " version ");
	rw_text(r, rw_or_dash(doc_get_str(bt, "model_version")));
	rw_text(r, ":");
	rw_p_end(r);
	if (doc_get_bool(bt, "bound", &b) && !b) {
		rw_box_begin(r, "bad", "Not evaluated:");
		rw_text(r, rw_or_dash(doc_get_str(bt, "problem")));
		rw_box_end(r);
		return;
	}
	rw_kv_begin(r);
	rw_kv_row_begin(r, "Incidents caught");
	count(r, bt, "incidents_caught");
	rw_text(r, " of ");
	count(r, bt, "incidents");
	rw_text(r, " incidents of this version");
	if (doc_get_int(bt, "incidents_unknown", &n) && n)
		rw_textf(r, " (%" PRId64 " not evaluated: their record was pruned)", n);
	rw_kv_row_end(r);
	rw_kv_row_begin(r, "Overturned by a human");
	count(r, bt, "overturned_caught");
	rw_text(r, " of those (");
	count(r, bt, "overturned");
	rw_text(r, " overturned in all");
	if (doc_get_int(bt, "reviews_as_of_seq", &reviews_as_of))
		rw_textf(r, ", by the reviews before seq %" PRId64, reviews_as_of);
	rw_text(r, ")");
	rw_kv_row_end(r);
	rw_kv_row_begin(r, "Routine decisions held");
	if (doc_get_num(bt, "routine_share", &sh))
		rw_pct(r, sh);
	else
		rw_text(r, "?");
	rw_text(r, " (");
	count(r, bt, "routine_held");
	rw_text(r, " of ");
	count(r, bt, "routine");
	rw_text(r, " records no incident names): the cost of the guard");
	rw_kv_row_end(r);
	rw_kv_row_begin(r, "The audited record");
	rw_text(r, doc_get_bool(bt, "catches_audited_record", &b)
	               ? (b ? "caught" : "NOT caught")
	               : "not evaluated (its payload was pruned)");
	rw_kv_row_end(r);
	if (doc_get_int(bt, "records_pruned", &n) && n) {
		rw_kv_row_begin(r, "Not evaluated");
		rw_textf(r, "%" PRId64 " records whose payload was pruned", n);
		rw_kv_row_end(r);
	}
	rw_kv_end(r);
}

void section_guard(struct rr *r, const struct report *rp)
{
	json_t *g = doc_get_obj(rp->doc, "suggested_guard"), *bt;
	const char *source, *section, *name;
	bool recorded;

	rw_sec_begin(r, "guard", 13, "Suggested guard");
	if (section_no_audit(r, rp))
		goto out;
	if (!g) {
		rw_para(
		    r, "muted",
		    "The audit suggests no guard: it found neither a failure region nor a "
		    "counterfactual threshold of the feature that drove the decision that catches "
		    "this record.");
		goto out;
	}
	source = doc_get_str(g, "source");
	rw_p_begin(r, NULL);
	rw_text(r, "A constraint built from what the audit found (");
	rw_text(r, !source                             ? "?"
	           : !strcmp(source, "adversarial")    ? "the failure region of its adversarial "
	                                                 "search"
	           : !strcmp(source, "counterfactual") ? "the counterfactual threshold of the "
	                                                 "feature that drove the decision"
	                                               : "the nearest flip of the feature that "
	                                                 "drove the decision");
	rw_text(r, "): decisions like this one are routed to a human (action = review) before "
	           "they take effect; with action = hold they wait for a human's review. Add it to "
	           "evidentd's config and reload it (SIGHUP) once the backtest below is "
	           "acceptable.");
	rw_p_end(r);
	section = doc_get_str(g, "section");
	if (section)
		rw_pre(r, section);
	else
		rw_kv_code(r, "when", doc_get_str(g, "when"));
	if (doc_get_bool(g, "recorded", &recorded) && !recorded)
		rw_para(
		    r, "muted",
		    "This audit was recorded by an evidentd that did not suggest guards: the rule "
		    "was built by this report from the recorded results, with the same code.");
	bt = doc_get_obj(g, "backtest");
	if (bt)
		backtest(r, bt);
	else
		rw_para(r, "muted", "The rule does not compile: no backtest.");
	name = doc_get_str(g, "name");
	rw_p_begin(r, NULL);
	rw_text(r, "Backtest it again on today's vault, and test the section before deploying it "
	           "(with this section in FILE):");
	rw_p_end(r);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "evidentctl backtest --guard %.300s --config FILE --incidents",
	         rw_or_dash(name));
	rw_pre(r, cmd);
out:
	rw_sec_end(r);
}
