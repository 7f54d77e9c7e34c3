/* SPDX-License-Identifier: Apache-2.0 */
/* The judgement sections (report_internal.h): 8 Confidence and verdict, 9 Human review,
 * 10 Model lineage. */
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

/* One row of the confidence table; detail (may be empty) is printed after the meaning. */
static void component(struct rr *r, const json_t *c, const char *key, const char *label,
                      const char *what, const char *detail)
{
	double v;
	bool b;

	rw_tr_begin(r, NULL);
	rw_td_text(r, NULL, label);
	rw_td_begin(r, "r");
	if (doc_get_num(c, key, &v))
		rw_num(r, v);
	else if (doc_get_bool(c, key, &b))
		rw_pill(r, b == !strcmp(key, "gate") ? "ok" : "bad", b ? "yes" : "no");
	else
		rw_text(r, "\u2014");
	rw_td_end(r);
	rw_td_begin(r, NULL);
	rw_text(r, what);
	if (*detail) {
		rw_text(r, " (");
		rw_text(r, detail);
		rw_text(r, ")");
	}
	rw_td_end(r);
	rw_tr_end(r);
}

void section_confidence(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Component", "Value", "Meaning"};
	json_t *c = doc_get_obj(rp->audit, "confidence"), *v = doc_get_obj(rp->doc, "verdict");
	double cv, below;

	rw_sec_begin(r, "confidence", 8, "Confidence and verdict");
	if (!rp->audit) {
		section_no_audit(r, rp);
	} else if (!c) {
		rw_para(r, "muted", "No explanation confidence was computed.");
	} else {
		rw_p_begin(r, "big");
		rw_text(r, "Explanation confidence C = ");
		rw_html(r, "<strong>");
		rw_md(r, "**");
		if (doc_get_num(c, "c", &cv))
			rw_num(r, cv);
		else
			rw_text(r, "not recorded");
		rw_html(r, "</strong>");
		rw_md(r, "**");
		rw_p_end(r);
		rw_tab_begin(r, "data", 3, heads, "lrl");
		json_t *gates = doc_get_arr(c, "gates_failed"), *g;
		char neighbours[64] = "", against[160] = "", failed[160] = "";
		int64_t nb;
		size_t i;
		if (doc_get_int(c, "noise_neighbours", &nb))
			snprintf(neighbours, sizeof(neighbours), "%" PRId64 " neighbours", nb);
		if (doc_get_str(c, "a_method_against"))
			snprintf(against, sizeof(against), "against %s",
			         doc_get_str(c, "a_method_against"));
		json_array_foreach(gates, i, g)
		{
			size_t o = strlen(failed);
			if (json_is_string(g) && o < sizeof(failed))
				snprintf(failed + o, sizeof(failed) - o, "%s%s",
				         o ? ", " : "failed: ", json_string_value(g));
		}
		component(r, c, "p_est", "P_est", "the top features reappear when recomputed", "");
		component(r, c, "p_noise", "P_noise",
		          "the top features reappear on inputs changed by measurement noise",
		          neighbours);
		component(r, c, "a_method", "A_method", "an independent method agrees", against);
		component(r, c, "gate", "Gates passed",
		          "efficiency, a deterministic model, the recorded score", failed);
		component(r, c, "fragile", "Fragile", "a low-importance feature flips the decision",
		          "");
		component(r, c, "capped", "Capped", "C was lowered to 0.3 because of fragility",
		          "");
		rw_tab_end(r);
		if (doc_get_str(c, "meaning")) {
			rw_box_begin(r, "info", "What C means:");
			rw_text(r, doc_get_str(c, "meaning"));
			rw_box_end(r);
		}
	}

	rw_sub(r, "Verdict");
	if (!v) {
		rw_para(r, "muted", "No verdict was sent.");
		goto out;
	}
	rw_p_begin(r, NULL);
	rw_pill(r, section_verdict_class(doc_get_str(v, "action")),
	        rw_or_dash(doc_get_str(v, "action")));
	if (doc_get_num(v, "confidence", &cv))
		rw_textf(r, " with confidence %s", rw_fmt_num(cv, (char[NUM_MAX]){0}));
	rw_text(r, ", sent ");
	doc_time_ns(r, v, "sent_unix_ns");
	bool delivered;
	if (doc_get_bool(v, "delivered", &delivered))
		rw_text(r, delivered ? " and delivered to the client"
		                     : ", not delivered to the client");
	rw_text(r, ".");
	if (doc_get_num(rp->incident, "review_below", &below))
		rw_textf(r, " The rule asks for human review when C is below %s.",
		         rw_fmt_num(below, (char[NUM_MAX]){0}));
	rw_p_end(r);
	rw_string_list(r, doc_get_arr(v, "reasons"), NULL);
out:
	rw_sec_end(r);
}

void section_reviews(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Seq", "Received (UTC)", "Reviewer", "Outcome", "Note"};
	json_t *rv = doc_get_arr(rp->doc, "reviews"), *e;
	size_t i;
	int64_t seq;

	rw_sec_begin(r, "review", 9, "Human review");
	if (!json_array_size(rv)) {
		rw_para(r, "muted", "No human review recorded.");
		goto out;
	}
	rw_tab_begin(r, "data", 5, heads, "rllll");
	json_array_foreach(rv, i, e)
	{
		rw_tr_begin(r, NULL);
		rw_td_begin(r, "r");
		if (doc_get_int(e, "seq", &seq))
			rw_textf(r, "%" PRId64, seq);
		rw_td_end(r);
		rw_td_begin(r, "nowrap");
		doc_time_ns(r, e, "received_unix_ns");
		rw_td_end(r);
		rw_td_text(r, NULL, rw_or_dash(doc_get_str(e, "reviewer")));
		rw_td_begin(r, NULL);
		rw_strong(r, rw_or_dash(doc_get_str(e, "outcome")));
		rw_td_end(r);
		rw_td_text(r, NULL, doc_get_str(e, "note"));
		rw_tr_end(r);
	}
	rw_tab_end(r);
out:
	rw_sec_end(r);
}

void section_lineage(struct rr *r, const struct report *rp)
{
	static const struct {
		const char *key, *label;
		bool mono;
	} fields[] = {
	    {"training_data_uri", "Training data", false},
	    {"training_data_sha256", "Training data SHA-256", true},
	    {"code_uri", "Code", false},
	    {"code_commit", "Code commit", true},
	    {"parent_version", "Parent version", false},
	    {"created_at", "Created", false},
	    {"created_by", "Created by", false},
	    {"notes", "Notes", false},
	};
	json_t *lin = doc_get_obj(rp->model, "lineage"),
	       *w = doc_get_arr(rp->model, "lineage_warnings"), *e;
	size_t i;

	rw_sec_begin(r, "lineage", 10, "Model lineage");
	json_array_foreach(w, i, e)
	{
		if (!json_is_string(e))
			continue;
		rw_box_begin(r, "warn", "Lineage warning:");
		rw_text(r, json_string_value(e));
		rw_box_end(r);
	}
	if (!lin) {
		rw_para(r, "muted", "No lineage was registered with this model version.");
		goto out;
	}
	rw_kv_begin(r);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *v = doc_get(lin, fields[i].key);
		if (fields[i].mono && json_is_string(v)) {
			rw_kv_code(r, fields[i].label, json_string_value(v));
			continue;
		}
		rw_kv_row_begin(r, fields[i].label);
		if (v)
			doc_value(r, v);
		else
			rw_em(r, "not recorded");
		rw_kv_row_end(r);
	}
	rw_kv_end(r);
out:
	rw_sec_end(r);
}
