/* SPDX-License-Identifier: Apache-2.0 */
/* The proof sections (report_internal.h): 11 Evidence (the inclusion proofs of every cited
 * entry and their checkpoint, and what retention left of each entry and the legal holds on
 * them), 12 Reproduce, and the footer. */
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

/* The witnesses who cosigned the cited checkpoint, and the quorum (documents written before
 * cosignatures have neither key: nothing is shown then). */
static void witnesses(struct rr *r, const json_t *cp)
{
	json_t *cosigs = doc_get_arr(cp, "cosignatures"), *c;
	int64_t quorum = 0;
	bool witnessed = false;
	size_t i;

	if (!cosigs)
		return;
	rw_kv_row_begin(r, "Witnesses");
	if (!json_array_size(cosigs))
		rw_text(r, "no cosignatures");
	json_array_foreach(cosigs, i, c)
	{
		if (i)
			rw_text(r, "; ");
		rw_text(r, rw_or_dash(doc_get_str(c, "name")));
		rw_text(r, " (key ");
		rw_code(r, rw_or_dash(doc_get_str(c, "key_id")));
		rw_text(r, ") at ");
		rw_text(r, rw_or_dash(doc_get_str(c, "timestamp")));
	}
	rw_kv_row_end(r);
	if (!doc_get_int(cp, "witness_quorum", &quorum) || quorum <= 0)
		return;
	doc_get_bool(cp, "witnessed", &witnessed);
	rw_kv_row_begin(r, "Witness quorum");
	rw_textf(r, "%" PRId64 " cosignatures: ", quorum);
	if (witnessed)
		rw_pill(r, "ok", "met");
	else
		rw_pill(r, "warn", "not met yet: the newest signed checkpoint is cited");
	rw_kv_row_end(r);
}

/* "pruned (erasure) at TIME by prune entry N: REASON" of a retention entry. */
static void pruned_text(struct rr *r, const json_t *e)
{
	int64_t seq;

	rw_pill(r, "warn", "pruned");
	if (doc_get_str(e, "cause"))
		rw_textf(r, " (%s)", doc_get_str(e, "cause"));
	if (doc_get(e, "pruned_unix_ns")) {
		rw_text(r, " at ");
		doc_time_ns(r, e, "pruned_unix_ns");
	}
	if (doc_get_int(e, "prune_seq", &seq))
		rw_textf(r, " by prune entry %" PRId64, seq);
	if (doc_get_str(e, "reason")) {
		rw_text(r, ": ");
		rw_text(r, doc_get_str(e, "reason"));
	}
}

/* The seqs of a JSON array of integers, comma-separated. */
static void seq_list(struct rr *r, const json_t *arr)
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (!json_is_integer(v))
			continue;
		rw_textf(r, "%s%" JSON_INTEGER_FORMAT, n++ ? ", " : "", json_integer_value(v));
	}
}

/* 11's last part: whether each cited entry's payload is still there (or which prune entry
 * removed it, when and why), and the legal holds that keep them. Documents written before
 * retention have no "retention" member: nothing is shown then. */
static void retention(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Seq", "Entry", "Payload", "Legal hold"};
	json_t *rt = doc_get_obj(rp->doc, "retention"), *entries = doc_get_arr(rt, "entries"),
	       *holds = doc_get_arr(rt, "holds"), *e;
	bool open = false;
	int64_t v;
	size_t i;

	if (!rt)
		return;
	rw_sub(r, "Retention and legal holds");
	rw_p_begin(r, NULL);
	rw_text(r, "A payload may be pruned under the vault's retention policy or for a data "
	           "subject's erasure request. Its leaf stays in the tree, so the proofs above "
	           "still hold for it, but its content is gone (and with a version-2 leaf, whose "
	           "commitment is blinded by a nonce pruned with the payload, the leaf no longer "
	           "confirms a guess of it). A legal hold keeps the entries it covers from being "
	           "pruned until it is released.");
	rw_p_end(r);
	if (json_array_size(entries)) {
		rw_tab_begin(r, "data retention", 4, heads, "rlll");
		json_array_foreach(entries, i, e)
		{
			const char *state = doc_get_str(e, "payload");
			rw_tr_begin(r, NULL);
			rw_td_begin(r, "r");
			if (doc_get_int(e, "seq", &v))
				rw_textf(r, "%" PRId64, v);
			rw_td_end(r);
			rw_td_text(r, NULL, rw_or_dash(doc_get_str(e, "what")));
			rw_td_begin(r, NULL);
			if (state && !strcmp(state, "present"))
				rw_pill(r, "ok", "present");
			else if (state && !strcmp(state, "pruned"))
				pruned_text(r, e);
			else
				rw_text(r, "\u2014");
			rw_td_end(r);
			rw_td_begin(r, NULL);
			if (json_array_size(doc_get_arr(e, "holds")))
				doc_value(r, doc_get_arr(e, "holds"));
			else
				rw_text(r, "none");
			rw_td_end(r);
			rw_tr_end(r);
		}
		rw_tab_end(r);
	}
	if (json_array_size(holds)) {
		rw_ul_begin(r, NULL);
		json_array_foreach(holds, i, e)
		{
			rw_li_begin(r);
			rw_text(r, "Hold ");
			rw_strong(r, rw_or_dash(doc_get_str(e, "hold_id")));
			rw_text(r, " placed ");
			doc_time_ns(r, e, "placed_unix_ns");
			if (doc_get_int(e, "seq", &v))
				rw_textf(r, " (entry %" PRId64 ")", v);
			rw_text(r, " by ");
			rw_text(r, rw_or_dash(doc_get_str(e, "holder")));
			if (doc_get_int(e, "incident_id", &v))
				rw_textf(r, " on incident %" PRId64, v);
			rw_text(r, ", covering entries ");
			seq_list(r, doc_get_arr(e, "covers"));
			if (doc_get_str(e, "reason")) {
				rw_text(r, ": ");
				rw_text(r, doc_get_str(e, "reason"));
			}
			rw_li_end(r);
		}
		rw_ul_end(r);
	}
	if (doc_get_bool(rt, "open_incident_keeps", &open) && open)
		rw_para(r, NULL,
		        "The incident is open (no human review yet): until it is reviewed, "
		        "evidentd prunes neither its record nor the incident, audit and verdict "
		        "entries about it.");
	else if (!json_array_size(holds))
		rw_para(r, "muted",
		        "No legal hold covers these entries: each is kept as long as the retention "
		        "policy keeps entries of its type.");
}

void section_evidence(struct rr *r, const struct report *rp)
{
	static const char *const heads[] = {"Seq",       "Entry",    "Leaf hash",
	                                    "Tree size", "Verified", "Audit path"};
	json_t *cp = doc_get_obj(rp->doc, "checkpoint"), *proofs = doc_get_arr(rp->doc, "proofs"),
	       *e;
	int64_t v;
	size_t i;

	rw_sec_begin(r, "evidence", 11, "Evidence");
	if (cp) {
		rw_p_begin(r, NULL);
		rw_text(
		    r,
		    "Every entry cited in this report is a leaf of the vault's append-only Merkle "
		    "tree. The signed checkpoint below commits to the whole tree; each inclusion "
		    "proof links an entry to that checkpoint's root. A witness that cosigned it "
		    "attests that this tree extends every earlier one of the log it was shown, "
		    "so the log cannot show others a different history (evidentctl verify-proof "
		    "--witness-key checks the cosignatures with the witnesses' keys).");
		rw_p_end(r);
		rw_kv_begin(r);
		rw_kv_row_begin(r, "Tree size");
		if (doc_get_int(cp, "tree_size", &v))
			rw_textf(r, "%" PRId64 " entries", v);
		else
			rw_text(r, "\u2014");
		rw_kv_row_end(r);
		rw_kv_code(r, "Root", doc_get_str(cp, "root"));
		witnesses(r, cp);
		rw_kv_end(r);
		if (doc_get_str(cp, "note")) {
			if (r->md) {
				rw_sub(r, "Signed checkpoint");
			} else {
				rw_raw(r, "<details><summary>Signed checkpoint note</summary>\n");
			}
			rw_pre(r, doc_get_str(cp, "note"));
			rw_html(r, "</details>\n");
		}
	} else {
		rw_box_begin(r, "warn", "No checkpoint.");
		rw_text(r,
		        "The report cites no signed checkpoint, so its entries cannot be tied to a "
		        "published tree head.");
		rw_box_end(r);
	}
	if (!json_array_size(proofs)) {
		rw_para(r, "muted", "No inclusion proofs are attached.");
		goto out;
	}
	rw_tab_begin(r, "data proofs", 6, heads, "rlllll");
	json_array_foreach(proofs, i, e)
	{
		json_t *path = doc_get_arr(e, "path"), *h;
		size_t k;
		bool ok;
		rw_tr_begin(r, NULL);
		rw_td_begin(r, "r");
		if (doc_get_int(e, "seq", &v))
			rw_textf(r, "%" PRId64, v);
		rw_td_end(r);
		rw_td_text(r, NULL, rw_or_dash(doc_get_str(e, "what")));
		rw_td_begin(r, "hash");
		if (doc_get_str(e, "leaf_hash"))
			rw_code(r, doc_get_str(e, "leaf_hash"));
		rw_td_end(r);
		rw_td_begin(r, "r");
		if (doc_get_int(e, "tree_size", &v))
			rw_textf(r, "%" PRId64, v);
		rw_td_end(r);
		rw_td_begin(r, NULL);
		if (doc_get_bool(e, "verified", &ok))
			rw_pill(r, ok ? "ok" : "bad", ok ? "yes" : "NO");
		else
			rw_pill(r, "warn", "not checked");
		rw_td_end(r);
		rw_td_begin(r, "hash");
		if (r->md) {
			rw_textf(r, "%zu hashes", json_array_size(path));
		} else if (json_array_size(path)) {
			rw_rawf(r, "<details><summary>%zu hash%s</summary><ol>",
			        json_array_size(path), json_array_size(path) == 1 ? "" : "es");
			json_array_foreach(path, k, h)
			{
				rw_raw(r, "<li>");
				rw_code(r, rw_or_dash(json_string_value(h)));
				rw_raw(r, "</li>");
			}
			rw_raw(r, "</ol></details>");
		} else {
			rw_text(r, "empty");
		}
		rw_td_end(r);
		rw_tr_end(r);
	}
	rw_tab_end(r);
	if (r->md) {
		rw_sub(r, "Audit paths");
		json_array_foreach(proofs, i, e)
		{
			json_t *path = doc_get_arr(e, "path"), *h;
			size_t k;
			if (!json_array_size(path))
				continue;
			rw_raw(r, "- seq ");
			if (doc_get_int(e, "seq", &v))
				rw_textf(r, "%" PRId64, v);
			rw_raw(r, ":");
			json_array_foreach(path, k, h)
			{
				rw_raw(r, " ");
				rw_code(r, rw_or_dash(json_string_value(h)));
			}
			rw_raw(r, "\n");
		}
		rw_raw(r, "\n");
	}
out:
	retention(r, rp);
	rw_sec_end(r);
}

void section_reproduce(struct rr *r, const struct report *rp)
{
	json_t *params = doc_get_obj(rp->audit, "params"), *bg = doc_get_obj(params, "background"),
	       *tm = doc_get_obj(rp->audit, "timings_ms"), *v;
	const char *k;
	double d;
	int64_t seq;

	rw_sec_begin(r, "reproduce", 12, "Reproduce");
	rw_p_begin(r, NULL);
	rw_text(
	    r, "Rerun this incident's audit from the vault and compare it with what was recorded:");
	rw_p_end(r);
	if (r->md) {
		rw_raw(r, "```sh\nevidentctl replay ");
		rw_text(r, rp->id);
		rw_raw(r, "\n```\n\n");
	} else {
		rw_raw(r, "<pre class=\"cmd\"><code>evidentctl replay ");
		rw_text(r, rp->id);
		rw_raw(r, "</code></pre>\n");
	}
	if (section_no_audit(r, rp))
		goto out;
	json_t *missing = doc_get_arr(doc_get_obj(rp->doc, "retention"), "replay_missing"), *m;
	if (json_array_size(missing)) {
		size_t i;
		rw_box_begin(r, "warn", "Not reproducible bit for bit.");
		rw_text(r, "Inputs the audit used were pruned since, so a replay can no longer "
		           "recompute it (evidentctl replay names them and fails): ");
		json_array_foreach(missing, i, m)
		{
			json_t *pr = doc_get_obj(m, "prune");
			if (i)
				rw_text(r, ", ");
			rw_text(r, rw_or_dash(doc_get_str(m, "what")));
			if (doc_get_int(m, "seq", &seq))
				rw_textf(r, " %" PRId64, seq);
			if (doc_get_str(pr, "cause"))
				rw_textf(r, " (%s)", doc_get_str(pr, "cause"));
		}
		rw_text(r, ". The recorded results below stand as recorded.");
		rw_box_end(r);
	}
	rw_kv_begin(r);
	if (doc_get_int(rp->audit, "seq", &seq)) {
		rw_kv_row_begin(r, "Audit entry");
		rw_textf(r, "seq %" PRId64, seq);
		rw_kv_row_end(r);
	}
	rw_kv_row_begin(r, "Methods");
	doc_value(r, doc_get(params, "methods"));
	rw_kv_row_end(r);
	rw_kv_row_begin(r, "Seed");
	doc_value(r, doc_get(params, "seed"));
	rw_kv_row_end(r);
	json_t *lp = doc_get_obj(params, "lime");
	if (lp) {
		char b[NUM_MAX], b2[NUM_MAX];
		double n, runs, w, feats, alpha;
		rw_kv_row_begin(r, "LIME");
		if (doc_get_num(lp, "samples", &n) && doc_get_num(lp, "repeats", &runs))
			rw_textf(r, "%s samples in each of %s runs, ", rw_fmt_num(n, b),
			         rw_fmt_num(runs, b2));
		if (doc_get_num(lp, "features", &feats))
			rw_textf(r, "%s features", rw_fmt_num(feats, b));
		if (doc_get_str(lp, "selection"))
			rw_textf(r, " (%s)", doc_get_str(lp, "selection"));
		if (doc_get_num(lp, "kernel_width", &w))
			rw_textf(r, ", kernel width %s", rw_fmt_num(w, b));
		if (doc_get_num(lp, "alpha", &alpha))
			rw_textf(r, ", ridge %s", rw_fmt_num(alpha, b));
		rw_text(r, "; seeds from the seed above");
		rw_kv_row_end(r);
	}
	rw_kv_row_begin(r, "Decision threshold");
	doc_value(r, doc_get(params, "threshold"));
	rw_kv_row_end(r);
	rw_kv_row_begin(r, "Background");
	if (bg) {
		rw_text(r, rw_or_dash(doc_get_str(bg, "source")));
		if (doc_get_num(bg, "rows", &d))
			rw_textf(r, ", %s rows", rw_fmt_num(d, (char[NUM_MAX]){0}));
	} else {
		rw_text(r, "\u2014");
	}
	rw_kv_row_end(r);
	if (doc_get_str(bg, "digest"))
		rw_kv_code(r, "Background digest", doc_get_str(bg, "digest"));
	rw_kv_text(r, "Software", doc_get_str(params, "software"));
	rw_kv_end(r);
	if (json_object_size(tm)) {
		static const char *const heads[] = {"Phase", "Time (ms)"};
		rw_sub(r, "Timings");
		rw_tab_begin(r, "data narrow", 2, heads, "lr");
		json_object_foreach(tm, k, v)
		{
			if (!json_is_number(v))
				continue;
			rw_tr_begin(r, !strcmp(k, "total") ? "total" : NULL);
			rw_td_text(r, NULL, k);
			rw_td_num(r, json_number_value(v));
			rw_tr_end(r);
		}
		rw_tab_end(r);
	}
out:
	rw_sec_end(r);
}

void section_footer(struct rr *r, const struct report *rp)
{
	int64_t v;

	rw_html(r, "<footer>");
	rw_md(r, "---\n\n");
	rw_text(r, "Generated by ");
	rw_text(r, rw_or_dash(doc_get_str(rp->doc, "generated_by")));
	rw_text(r, " at ");
	doc_time_ns(r, rp->doc, "generated_unix_ns");
	rw_text(r, " from vault ");
	rw_text(r, rw_or_dash(doc_get_str(rp->doc, "vault_origin")));
	if (doc_get_int(rp->doc, "report_version", &v))
		rw_textf(r, " \u00b7 report format %" PRId64, v);
	rw_text(r, ". All times are UTC.");
	rw_raw(r, r->md ? "\n" : "</footer>\n");
}
