/* SPDX-License-Identifier: Apache-2.0 */
/* The report library's interface between its own files; its users have report_render.h.
 * The files form layers, each using only those listed before it:
 *   report_write.c    rw_       the output of both formats: text escaped for the format (the
 *                               one text writer), numbers and times, the block primitives
 *                               (sections, paragraphs, key-value lists, tables, lists)
 *   report_doc.c      doc_      reading the document (absent, null and mistyped members read as
 *                               "not there"); the record's features and the attribution
 *   report_chart.c    chart_    the SVG waterfall (HTML) and the bar chart (Markdown)
 *   report_case.c     section_  the header, the summary, 1 Decision, 2 Input
 *   report_explain.c  section_  3 Why, 4 What would change it, 5 Fragility, 6 Where else it
 *                               happens, 7 Unusual attributions
 *   report_verdict.c  section_  8 Confidence and verdict, 9 Human review, 10 Model lineage
 *   report_evidence.c section_  11 Evidence (with the retention of the cited entries and
 *                               the legal holds on them), 12 Reproduce, the footer
 *   report_guard.c    section_  13 Suggested guard (the audit's proposed [guard] section and
 *                               its backtest)
 *   report_render.c             the page: the sections in order (report_render.h)
 * Nothing here logs or allocates beyond the call; a write that fails (-EIO, -ENOMEM) is kept
 * as the first error in struct rr and later writes carry on harmlessly. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report_render.h"

#define NUM_MAX  64 /* a formatted number */
#define TIME_MAX 40 /* a formatted time */

/* ------------------------------------------------------------------ report_write.c */

/* The output being written: one format, the first error. */
struct rr {
	FILE *f;
	bool md;
	bool in_table; /* Markdown: '|' must be escaped even inside code spans */
	int err;       /* first failure: -EIO or -ENOMEM */
};

void rw_raw(struct rr *r, const char *s);
__attribute__((format(printf, 2, 3))) void rw_rawf(struct rr *r, const char *fmt, ...);
void rw_html(struct rr *r, const char *s);
void rw_md(struct rr *r, const char *s);
void rw_text_n(struct rr *r, const char *s, size_t n);
void rw_text(struct rr *r, const char *s);
__attribute__((format(printf, 2, 3))) void rw_textf(struct rr *r, const char *fmt, ...);
void rw_code(struct rr *r, const char *s);
const char *rw_fmt_num(double v, char buf[NUM_MAX]);
const char *rw_fmt_signed(double v, char buf[NUM_MAX]);
const char *rw_fmt_pct(double v, char buf[NUM_MAX]);
const char *rw_fmt_time(int64_t ns, char buf[TIME_MAX]);
void rw_num(struct rr *r, double v);
void rw_num_signed(struct rr *r, double v);
void rw_pct(struct rr *r, double v);
void rw_sec_begin(struct rr *r, const char *id, int number, const char *title);
void rw_sec_end(struct rr *r);
void rw_sub(struct rr *r, const char *title);
void rw_p_begin(struct rr *r, const char *cls);
void rw_p_end(struct rr *r);
void rw_para(struct rr *r, const char *cls, const char *s);
void rw_box_begin(struct rr *r, const char *cls, const char *label);
void rw_box_end(struct rr *r);
void rw_strong(struct rr *r, const char *s);
void rw_em(struct rr *r, const char *s);
void rw_pill(struct rr *r, const char *cls, const char *s);
void rw_kv_begin(struct rr *r);
void rw_kv_row_begin(struct rr *r, const char *key);
void rw_kv_row_end(struct rr *r);
void rw_kv_end(struct rr *r);
void rw_kv_text(struct rr *r, const char *key, const char *s);
void rw_kv_code(struct rr *r, const char *key, const char *s);
void rw_tab_begin(struct rr *r, const char *cls, size_t n, const char *const *heads,
                  const char *align);
void rw_tr_begin(struct rr *r, const char *cls);
void rw_tr_end(struct rr *r);
void rw_td_begin(struct rr *r, const char *cls);
void rw_td_end(struct rr *r);
void rw_td_text(struct rr *r, const char *cls, const char *s);
void rw_td_num(struct rr *r, double v);
void rw_tab_end(struct rr *r);
void rw_ul_begin(struct rr *r, const char *cls);
void rw_li_begin(struct rr *r);
void rw_li_end(struct rr *r);
void rw_ul_end(struct rr *r);
bool rw_string_list(struct rr *r, const json_t *arr, const char *cls);
const char *rw_or_dash(const char *s);
void rw_pre(struct rr *r, const char *s);

/* ------------------------------------------------------------------ report_doc.c */

/* One of record.features, with its training range from the manifest. */
struct feature {
	const char *name;
	const char *unit;
	bool has_value, has_min, has_max, out_of_range;
	bool pruned; /* no value: the record's payload was pruned (record.pruned) */
	double value, min, max;
};

/* audit.attribution, checked against the features (report_render.h). */
struct attribution {
	bool ok;             /* phi usable: drawn */
	const char *problem; /* why not, when the audit has an attribution */
	const char *method, *space;
	double base, pred, threshold;
	bool has_threshold;
	double *phi, *se; /* M each; se NULL when none */
	size_t *order;    /* feature indices, |phi| descending */
};

/* The document and what the sections read from it, loaded once. */
struct report {
	const json_t *doc, *incident, *model, *record, *audit;
	struct feature *f;
	size_t M;
	struct attribution a;
	char id[32]; /* the incident id as text */
};

json_t *doc_get(const json_t *o, const char *key);
json_t *doc_get_obj(const json_t *o, const char *key);
json_t *doc_get_arr(const json_t *o, const char *key);
const char *doc_get_str(const json_t *o, const char *key);
bool doc_get_num(const json_t *o, const char *key, double *ret);
bool doc_get_bool(const json_t *o, const char *key, bool *ret);
bool doc_get_int(const json_t *o, const char *key, int64_t *ret);
void doc_value(struct rr *r, const json_t *v);
void doc_time_ns(struct rr *r, const json_t *o, const char *key);
const char *doc_feature_name(const struct report *rp, size_t j);
const struct feature *doc_feature_by_name(const struct report *rp, const char *name);
int doc_load_features(struct report *rp);
int doc_by_abs_phi(const void *pa, const void *pb, void *phi);
double *doc_numbers(const json_t *arr, size_t M, bool nulls_ok, bool *bad, int *err);
int doc_load_attribution(struct report *rp);
void doc_report_deinit(struct report *rp);

/* ------------------------------------------------------------------ report_chart.c */

/* The waterfall's rows: the top features, then the rest summed. */
struct wf_row {
	const char *name; /* NULL: the "N other features" row */
	size_t feature, others;
	double phi, se; /* se NAN: no whisker */
	double from, to;
};

void chart_svg_waterfall(struct rr *r, const struct report *rp, const struct wf_row *rows,
                         size_t n);
void chart_md_chart(struct rr *r, const struct report *rp, const struct wf_row *rows, size_t n);
size_t chart_wf_rows(const struct report *rp, struct wf_row *rows);
void chart_feature_value(struct rr *r, const struct feature *f);

/* ------------------------------------------------------------------ the sections */

/* report_case.c */
const char *section_verdict_class(const char *action);
bool section_no_audit(struct rr *r, const struct report *rp);
void section_header(struct rr *r, const struct report *rp);
void section_summary(struct rr *r, const struct report *rp);
void section_decision(struct rr *r, const struct report *rp);
void section_input(struct rr *r, const struct report *rp);
/* report_explain.c */
void section_why(struct rr *r, const struct report *rp);
void section_counterfactuals(struct rr *r, const struct report *rp);
void section_fragility(struct rr *r, const struct report *rp);
void section_region(struct rr *r, const struct report *rp);
void section_unusual(struct rr *r, const struct report *rp);
/* report_verdict.c */
void section_confidence(struct rr *r, const struct report *rp);
void section_reviews(struct rr *r, const struct report *rp);
void section_lineage(struct rr *r, const struct report *rp);
/* report_evidence.c */
void section_evidence(struct rr *r, const struct report *rp);
void section_reproduce(struct rr *r, const struct report *rp);
void section_footer(struct rr *r, const struct report *rp);
/* report_guard.c */
void section_guard(struct rr *r, const struct report *rp);
