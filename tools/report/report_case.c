/* SPDX-License-Identifier: Apache-2.0 */
/* The report's opening (report_internal.h): the header, the plain-language summary,
 * 1 Decision and 2 Input; and two helpers every section uses. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_internal.h"

/* ---- sections ---- */

const char *section_verdict_class(const char *action)
{
	if (!action)
		return "none";
	if (!strcmp(action, "PROCEED"))
		return "proceed";
	if (!strcmp(action, "REVIEW"))
		return "review";
	return "pending";
}

/* Whether the audit may have been recorded and pruned since (pruned_audits_after). */
static bool audit_maybe_pruned(const struct report *rp)
{
	int64_t n;

	return doc_get_int(rp->doc, "pruned_audits_after", &n) && n > 0;
}

bool section_no_audit(struct rr *r, const struct report *rp)
{
	if (rp->audit)
		return false;
	rw_para(r, "muted",
	        audit_maybe_pruned(rp)
	            ? "No readable audit names this incident: audit entries written after it "
	              "were pruned since, and its audit may have been among them."
	            : "No audit recorded for this incident.");
	return true;
}

void section_header(struct rr *r, const struct report *rp)
{
	const char *trigger = doc_get_str(rp->incident, "trigger"),
	           *decision = doc_get_str(rp->record, "decision");

	if (r->md) {
		rw_raw(r, "# Decision report: incident ");
		rw_text(r, rp->id);
		rw_raw(r, "\n\n");
	} else {
		rw_raw(r, "<header>\n<p class=\"eyebrow\">Evidence report \u00b7 incident ");
		rw_text(r, rp->id);
		rw_raw(r, "</p>\n<h1>");
		if (decision) {
			rw_text(r, "Decision \u201c");
			rw_text(r, decision);
			rw_text(r, "\u201d");
		} else {
			rw_text(r, "Decision");
		}
		rw_text(r, " by ");
		rw_text(r, rw_or_dash(doc_get_str(rp->model, "id")));
		if (doc_get_str(rp->model, "version")) {
			rw_text(r, " ");
			rw_text(r, doc_get_str(rp->model, "version"));
		}
		rw_raw(r, "</h1>\n");
	}
	rw_p_begin(r, "meta");
	rw_text(r, "Trigger ");
	rw_strong(r, rw_or_dash(trigger));
	rw_text(r, " fired ");
	doc_time_ns(r, rp->incident, "fired_unix_ns");
	rw_text(r, " \u00b7 incident status ");
	rw_text(r, rw_or_dash(doc_get_str(rp->incident, "status")));
	rw_text(r, " \u00b7 report generated ");
	doc_time_ns(r, rp->doc, "generated_unix_ns");
	rw_p_end(r);
	rw_html(r, "</header>\n");
}

void section_summary(struct rr *r, const struct report *rp)
{
	json_t *verdict = doc_get_obj(rp->doc, "verdict");
	const char *action = doc_get_str(verdict, "action"),
	           *status = doc_get_str(rp->audit, "status");
	double c;
	char b[NUM_MAX];

	/* the verdict badge: a coloured block in HTML, a bold line in Markdown */
	if (r->md) {
		rw_raw(r, "## Summary\n\n**Verdict: ");
		rw_text(r, action ? action : "no verdict recorded");
		rw_raw(r, "**");
	} else {
		rw_rawf(r,
		        "<section id=\"summary\" class=\"summary\">\n<div class=\"verdict\">"
		        "<div class=\"badge %s\">",
		        section_verdict_class(action));
		rw_text(r, action ? action : "NO VERDICT");
		rw_raw(r, "</div><div class=\"vc\">");
	}
	if (doc_get_num(verdict, "confidence", &c))
		rw_textf(r, "%sexplanation confidence C = %s", r->md ? " \u00b7 " : "",
		         rw_fmt_num(c, b));
	else if (!r->md)
		rw_text(r, verdict ? "confidence not recorded" : "no verdict recorded");
	rw_raw(r, r->md ? "\n\n" : "</div></div>\n");

	if (!rp->audit && audit_maybe_pruned(rp)) {
		rw_box_begin(r, "warn", "No readable audit.");
		rw_text(r, "No audit entry still names this incident: audit entries written after "
		           "it were pruned since, and its audit may have been among them, so there "
		           "is no explanation left to judge the decision by.");
		rw_box_end(r);
	} else if (!rp->audit) {
		rw_box_begin(r, "warn", "No audit recorded.");
		rw_text(
		    r, "The decision below was not audited, so there is no explanation to judge it "
		       "by.");
		rw_box_end(r);
	} else if (status && strcmp(status, "complete")) {
		rw_box_begin(r, "warn", "Audit incomplete.");
		rw_textf(r,
		         "The audit's status is \u201c%s\u201d: some findings below are missing.",
		         status);
		rw_box_end(r);
	}
	if (!rw_string_list(r, doc_get_arr(rp->doc, "summary"), "sentences"))
		rw_para(r, "muted", "No plain-language summary was generated.");

	/* the facts a reader wants first, computed here so they never depend on the prose */
	rw_kv_begin(r);
	rw_kv_row_begin(r, "Decision");
	rw_text(r, rw_or_dash(doc_get_str(rp->record, "decision")));
	json_t *scores = doc_get_arr(rp->record, "scores");
	if (json_array_size(scores)) {
		rw_text(r, " (score ");
		doc_value(r, scores);
		rw_text(r, ")");
	}
	rw_kv_row_end(r);
	if (rp->a.ok) {
		rw_kv_row_begin(r, "Largest contributions");
		size_t top = rp->M < 3 ? rp->M : 3;
		for (size_t i = 0; i < top; i++) {
			size_t j = rp->a.order[i];
			if (i)
				rw_text(r, ", ");
			rw_strong(r, doc_feature_name(rp, j));
			rw_text(r, " (");
			rw_num_signed(r, rp->a.phi[j]);
			rw_text(r, ")");
		}
		rw_kv_row_end(r);
	}
	json_t *flip = doc_get_obj(rp->audit, "flip");
	bool fragile;
	if (doc_get_bool(flip, "fragile", &fragile)) {
		rw_kv_row_begin(r, "Fragile");
		if (fragile)
			rw_pill(r, "bad", "yes");
		else
			rw_text(r, "no");
		rw_kv_row_end(r);
	}
	size_t oor = 0, missing = 0, pruned = 0;
	for (size_t j = 0; j < rp->M; j++) {
		oor += rp->f[j].out_of_range;
		missing += !rp->f[j].has_value && !rp->f[j].pruned;
		pruned += rp->f[j].pruned;
	}
	rw_kv_row_begin(r, "Inputs");
	if (pruned)
		rw_textf(r, "%zu feature%s, values pruned with the record's payload", rp->M,
		         rp->M == 1 ? "" : "s");
	else
		rw_textf(r, "%zu feature%s, %zu outside the training range, %zu missing", rp->M,
		         rp->M == 1 ? "" : "s", oor, missing);
	rw_kv_row_end(r);
	rw_kv_row_begin(r, "Human reviews");
	rw_textf(r, "%zu", json_array_size(doc_get_arr(rp->doc, "reviews")));
	rw_kv_row_end(r);
	rw_kv_end(r);
	rw_sec_end(r);
}

void section_decision(struct rr *r, const struct report *rp)
{
	const json_t *m = rp->model, *rec = rp->record, *au = rp->audit;
	int64_t seq;

	rw_sec_begin(r, "decision", 1, "Decision");
	rw_kv_begin(r);
	rw_kv_row_begin(r, "Model");
	rw_text(r, rw_or_dash(doc_get_str(m, "id")));
	if (doc_get_str(m, "version")) {
		rw_text(r, " version ");
		rw_text(r, doc_get_str(m, "version"));
	}
	if (doc_get_int(m, "seq", &seq))
		rw_textf(r, " (registered at seq %" PRId64 ")", seq);
	rw_kv_row_end(r);
	rw_kv_text(r, "Framework", doc_get_str(m, "framework"));
	rw_kv_code(r, "Artifact SHA-256", doc_get_str(m, "artifact_sha256"));
	rw_kv_text(r, "Decision rule", doc_get_str(m, "decision_rule"));
	rw_kv_row_begin(r, "Recorded output");
	doc_value(r, doc_get_arr(rec, "scores"));
	if (doc_get_str(m, "output_space"))
		rw_textf(r, " (%s)", doc_get_str(m, "output_space"));
	rw_kv_row_end(r);
	rw_kv_row_begin(r, "Decision");
	rw_strong(r, rw_or_dash(doc_get_str(rec, "decision")));
	rw_kv_row_end(r);
	if (au) {
		rw_kv_row_begin(r, "Audit recomputed");
		json_t *pred = doc_get_arr(au, "prediction");
		doc_value(r, pred);
		if (doc_get_str(au, "prediction_space"))
			rw_textf(r, " (%s)", doc_get_str(au, "prediction_space"));
		const char *d = doc_get_str(au, "decision"), *rd = doc_get_str(rec, "decision");
		if (d) {
			rw_text(r, " \u2192 ");
			rw_text(r, d);
			if (rd && strcmp(d, rd)) {
				rw_text(r, " ");
				rw_pill(r, "bad", "differs from the recorded decision");
			} else if (rd) {
				rw_text(r, " ");
				rw_pill(r, "ok", "matches");
			}
		}
		rw_kv_row_end(r);
	}
	rw_kv_row_begin(r, "Record");
	if (doc_get_int(rec, "seq", &seq))
		rw_textf(r, "seq %" PRId64, seq);
	else
		rw_text(r, "\u2014");
	if (doc_get_str(rec, "request_id")) {
		rw_text(r, ", request ");
		rw_code(r, doc_get_str(rec, "request_id"));
	}
	rw_kv_row_end(r);
	rw_kv_text(r, "Client", doc_get_str(rec, "client_name"));
	rw_kv_row_begin(r, "Time (UTC)");
	doc_time_ns(r, rec, "timestamp_unix_ns");
	rw_kv_row_end(r);
	if (json_object_size(doc_get_obj(rec, "context"))) {
		rw_kv_row_begin(r, "Context");
		doc_value(r, doc_get_obj(rec, "context"));
		rw_kv_row_end(r);
	}
	if (json_object_size(doc_get_obj(rec, "labels"))) {
		rw_kv_row_begin(r, "Labels");
		doc_value(r, doc_get_obj(rec, "labels"));
		rw_kv_row_end(r);
	}
	rw_kv_row_begin(r, "Trigger");
	rw_text(r, rw_or_dash(doc_get_str(rp->incident, "trigger")));
	if (doc_get_str(rp->incident, "when")) {
		rw_text(r, ": ");
		rw_code(r, doc_get_str(rp->incident, "when"));
	}
	rw_kv_row_end(r);
	rw_kv_row_begin(r, "Audit methods");
	doc_value(r, doc_get_arr(rp->incident, "methods"));
	rw_kv_row_end(r);
	bool recovered;
	if (doc_get_bool(rp->incident, "recovered", &recovered) && recovered)
		rw_kv_text(r, "Recovered",
		           "yes: the incident was completed after a daemon restart");
	rw_kv_end(r);
	rw_sec_end(r);
}

static void range(struct rr *r, const struct feature *f)
{
	if (f->has_min && f->has_max) {
		rw_num(r, f->min);
		rw_text(r, " \u2013 ");
		rw_num(r, f->max);
	} else if (f->has_min) {
		rw_text(r, "\u2265 ");
		rw_num(r, f->min);
	} else if (f->has_max) {
		rw_text(r, "\u2264 ");
		rw_num(r, f->max);
	} else {
		rw_em(r, "not recorded");
	}
}

void section_input(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Feature", "Value", "Training range", "Flag"};

	bool pruned = false;

	rw_sec_begin(r, "input", 2, "Input");
	if (doc_get_bool(rp->record, "pruned", &pruned) && pruned) {
		rw_box_begin(r, "warn", "Record pruned.");
		rw_text(r,
		        "The record's payload was removed from the vault (section 11 says when and "
		        "why): its input values are gone. Its leaf stays, so the proof that it was "
		        "recorded still holds; the names and training ranges below come from the "
		        "model's manifest.");
		rw_box_end(r);
	}
	if (!rp->M) {
		rw_para(r, "muted", "The record carries no features.");
		rw_sec_end(r);
		return;
	}
	rw_tab_begin(r, "data", 4, heads, "lrrl");
	for (size_t j = 0; j < rp->M; j++) {
		const struct feature *f = &rp->f[j];
		rw_tr_begin(r, f->out_of_range ? "flagged" : NULL);
		rw_td_text(r, "name", doc_feature_name(rp, j));
		rw_td_begin(r, "r");
		chart_feature_value(r, f);
		rw_td_end(r);
		rw_td_begin(r, "r");
		range(r, f);
		rw_td_end(r);
		rw_td_begin(r, NULL);
		if (f->out_of_range)
			rw_pill(r, "bad", "out of range");
		else if (!f->has_value && !f->pruned)
			rw_pill(r, "warn", "missing");
		rw_td_end(r);
		rw_tr_end(r);
	}
	rw_tab_end(r);
	rw_sec_end(r);
}
