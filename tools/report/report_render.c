/* SPDX-License-Identifier: Apache-2.0 */
/* The report document as HTML or Markdown (report_render.h): the page, its sections in order.
 * One walk over the document writes both formats through a few block primitives (section,
 * paragraph, table, list) that emit HTML or Markdown, so the two keep the same content; the
 * SVG waterfall is HTML only and Markdown gets a bar chart table instead. Every string from
 * the document goes through one text writer, which escapes it for the format being written
 * and shows bidi controls, zero-width characters, other controls and bytes that are not
 * UTF-8 as visible escapes ("<U+202E>", "<0xC0>"), so the page cannot say something other
 * than the bytes. The files of the library are listed in report_internal.h. */
#include "report_render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "report_internal.h"

static const char css[] =
    ":root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--pos:#c2410c;"
    "--neg:#1d4ed8;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    "body{margin:0;background:#eef1f4;color:var(--fg);font:15px/1.55 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue','Liberation Sans',Arial,sans-serif}\n"
    "main{max-width:1000px;margin:24px auto;background:#fff;padding:36px 52px 28px;"
    "border:1px solid var(--line);border-radius:6px}\n"
    "header{border-bottom:3px solid var(--fg);padding-bottom:14px;margin-bottom:20px}\n"
    ".eyebrow{margin:0;color:var(--muted);text-transform:uppercase;letter-spacing:.08em;"
    "font-size:12px;font-weight:600}\n"
    "h1{margin:4px 0 6px;font-size:26px;line-height:1.25}\n"
    ".meta{margin:0;color:var(--muted);font-size:14px}\n"
    "h2{font-size:19px;margin:34px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}\n"
    "h2 .n{display:inline-block;min-width:1.2em;margin-right:.5em;color:var(--muted);"
    "font-weight:500}\n"
    "h3{font-size:15px;margin:20px 0 8px}\n"
    "code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',"
    "'DejaVu Sans Mono',monospace;font-size:13px}\n"
    "code{background:var(--soft);padding:1px 4px;border-radius:3px}\n"
    ".hash code{word-break:break-all}\n"
    "pre{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:10px 12px;"
    "white-space:pre-wrap;word-break:break-all;margin:8px 0}\n"
    "pre.cmd code{background:none;padding:0}\n"
    ".summary{background:var(--soft);border:1px solid var(--line);border-left:6px solid "
    "var(--fg);border-radius:4px;padding:16px 20px}\n"
    ".verdict{display:flex;align-items:center;gap:14px;margin-bottom:8px}\n"
    ".badge{font-weight:700;letter-spacing:.06em;padding:6px 14px;border-radius:4px;color:#fff;"
    "font-size:16px}\n"
    ".badge.proceed{background:var(--ok)}.badge.review{background:var(--warn)}"
    ".badge.pending,.badge.none{background:var(--muted)}\n"
    ".vc{font-size:15px;color:var(--muted)}\n"
    "ul.sentences{margin:8px 0 12px;padding-left:20px;font-size:16px}\n"
    "ul.sentences li{margin:3px 0}\n"
    "table{border-collapse:collapse;width:100%;margin:8px 0 12px;font-size:14px}\n"
    "th,td{text-align:left;vertical-align:top;padding:5px 10px;border-bottom:1px solid "
    "var(--line)}\n"
    "thead th{background:var(--soft);font-weight:600;border-bottom:2px solid var(--line)}\n"
    "th.r,td.r{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.nowrap{white-space:nowrap}\n"
    "table.kv th{width:210px;color:var(--muted);font-weight:500}\n"
    ".summary table.kv{margin-bottom:0}.summary table.kv th,.summary table.kv td{border:0;"
    "padding:2px 10px 2px 0}\n"
    "table.narrow{width:auto;min-width:280px}\n"
    "tr.flagged td{background:#fff1f0}\n"
    "tr.quiet td{color:var(--muted)}\n"
    "tr.total td{font-weight:600;border-top:2px solid var(--line)}\n"
    "td.hash{word-break:break-all;max-width:320px}\n"
    ".pill{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;"
    "border-radius:10px;border:1px solid;white-space:nowrap}\n"
    ".pill.ok,.pill.proceed{color:var(--ok);background:#dafbe1}"
    ".pill.bad{color:var(--bad);background:#ffebe9}"
    ".pill.warn,.pill.review{color:var(--warn);background:#fff8c5}"
    ".pill.pending,.pill.none{color:var(--muted);background:var(--soft)}\n"
    ".box{border:1px solid;border-left-width:5px;border-radius:4px;padding:9px 14px;margin:10px "
    "0}\n"
    ".box.warn{border-color:#d4a72c;background:#fff8c5}.box.bad{border-color:var(--bad);"
    "background:#ffebe9}.box.ok{border-color:#4ac26b;background:#dafbe1}"
    ".box.info{border-color:var(--line);background:var(--soft)}\n"
    ".muted{color:var(--muted);font-style:italic}\n"
    "p.big{font-size:17px}\n"
    "ul.rule li{font-size:16px;margin:2px 0}\n"
    "details{margin:8px 0}summary{cursor:pointer;color:var(--neg)}\n"
    "details ol{margin:4px 0;padding-left:22px}\n"
    "figure{margin:12px 0}\n"
    "svg.waterfall{display:block;width:100%;height:auto}\n"
    "svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',Arial,"
    "sans-serif;font-size:13px;fill:var(--fg)}\n"
    "svg .fv,svg .tl,svg .legend,svg .at,svg .tlabel{fill:var(--muted)}\n"
    "svg .tl{font-size:12px}svg .at{font-size:13px}svg .tlabel{font-size:12px}\n"
    "svg .band{fill:#f6f8fa}\n"
    "svg .bar.pos,svg .key.pos{fill:var(--pos)}svg .bar.neg,svg .key.neg{fill:var(--neg)}\n"
    "svg .bar.other{opacity:.55}\n"
    "svg .vl{font-size:12px;font-weight:600}svg .vl.pos{fill:var(--pos)}"
    "svg .vl.neg{fill:var(--neg)}svg .vl.strong{font-size:14px;font-weight:700}\n"
    "svg .whisker{stroke:#24292f;stroke-width:1.3;fill:none}\n"
    "svg .conn{stroke:#8c959f;stroke-width:1;stroke-dasharray:2 2}\n"
    "svg .base{stroke:#8c959f;stroke-width:1;stroke-dasharray:4 3}\n"
    "svg .pred{stroke:var(--fg);stroke-width:1.2;stroke-dasharray:4 3}\n"
    "svg .threshold{stroke:var(--bad);stroke-width:1.2;stroke-dasharray:1 3}\n"
    "svg .tlabel{fill:var(--bad)}\n"
    "svg .axis,svg .tick{stroke:#57606a;stroke-width:1}\n"
    "svg .mark{fill:var(--fg)}\n"
    "footer{margin-top:36px;padding-top:10px;border-top:1px solid var(--line);"
    "color:var(--muted);font-size:12px}\n"
    "@page{size:A4;margin:14mm}\n"
    "@media print{body{background:#fff;font-size:11pt}main{margin:0;padding:0;border:0;"
    "max-width:none}h2{break-after:avoid}tr,.box,figure,.summary{break-inside:avoid}"
    "summary{color:var(--fg)}details::details-content{content-visibility:visible;"
    "display:block}}\n";

static int render(const json_t *doc, FILE *out, bool as_md)
{
	struct report rp = {.doc = doc};
	struct rr r = {.f = out, .md = as_md};
	int64_t id;
	int rc;

	if (!out || !json_is_object(doc))
		return -EINVAL;
	rp.incident = doc_get_obj(doc, "incident");
	rp.model = doc_get_obj(doc, "model");
	rp.record = doc_get_obj(doc, "record");
	rp.audit = doc_get_obj(doc, "audit");
	if (!rp.incident || !rp.model || !rp.record)
		return -EINVAL;
	if (doc_get_int(rp.incident, "id", &id))
		snprintf(rp.id, sizeof(rp.id), "%" PRId64, id);
	else
		snprintf(rp.id, sizeof(rp.id), "?");
	rc = doc_load_features(&rp);
	if (rc >= 0)
		rc = doc_load_attribution(&rp);
	if (rc < 0) {
		doc_report_deinit(&rp);
		return rc;
	}

	if (!as_md) {
		rw_raw(&r,
		       "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		       "style-src 'unsafe-inline'\">\n"
		       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		       "<title>Decision report: incident ");
		rw_text(&r, rp.id);
		rw_raw(&r, "</title>\n<style>\n");
		rw_raw(&r, css);
		rw_raw(&r, "</style>\n</head>\n<body>\n<main>\n");
	}
	section_header(&r, &rp);
	section_summary(&r, &rp);
	section_decision(&r, &rp);
	section_input(&r, &rp);
	section_why(&r, &rp);
	section_counterfactuals(&r, &rp);
	section_fragility(&r, &rp);
	section_region(&r, &rp);
	section_unusual(&r, &rp);
	section_confidence(&r, &rp);
	section_reviews(&r, &rp);
	section_lineage(&r, &rp);
	section_evidence(&r, &rp);
	section_reproduce(&r, &rp);
	section_guard(&r, &rp);
	section_footer(&r, &rp);
	rw_html(&r, "</main>\n</body>\n</html>\n");

	doc_report_deinit(&rp);
	if ((fflush(out) == EOF || ferror(out)) && !r.err)
		r.err = -EIO;
	return r.err;
}

int report_render_html(const json_t *doc, FILE *out)
{
	return render(doc, out, false);
}

int report_render_md(const json_t *doc, FILE *out)
{
	return render(doc, out, true);
}
