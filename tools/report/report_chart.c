/* SPDX-License-Identifier: Apache-2.0 */
/* The attribution drawn (report_internal.h): an SVG waterfall in HTML, a bar chart table in
 * Markdown. */
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

#define NAME_SVG 26 /* characters of a feature name drawn in the waterfall */
#define UNIT_SVG 8  /* and of its unit */
#define MD_BAR   16 /* blocks of the longest Markdown bar */

/* ---- the SVG waterfall ---- */

#define SVG_W     920.0
#define SVG_LABEL 330.0 /* right edge of the feature labels */
#define SVG_X0    346.0 /* the plot */
#define SVG_X1    900.0
#define SVG_TOP   64.0 /* y of the base-value row */
#define SVG_ROW   30.0
#define SVG_BAR   18.0

struct scale {
	double lo, hi, k; /* px per unit */
};

static double sx(const struct scale *s, double v)
{
	return SVG_X0 + (v - s->lo) * s->k;
}

/* Tick step: 1, 2 or 5 times a power of ten, giving at most 8 ticks. */
static double tick_step(double range)
{
	double p = pow(10, floor(log10(range / 8))), steps[] = {1, 2, 5, 10};

	for (size_t i = 0; i < 4; i++)
		if (range / (steps[i] * p) <= 8)
			return steps[i] * p;
	return 10 * p;
}

/* A label clipped to max characters (UTF-8 aware), with an ellipsis. */
static void svg_clipped(struct rr *r, const char *s, size_t max)
{
	size_t chars = 0, i = 0;

	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max)
			break;
	}
	rw_text_n(r, s, i);
	if (s[i])
		rw_raw(r, "\u2026");
}

void chart_svg_waterfall(struct rr *r, const struct report *rp, const struct wf_row *rows, size_t n)
{
	const struct attribution *a = &rp->a;
	double lo = fmin(a->base, a->pred), hi = fmax(a->base, a->pred);
	char b1[NUM_MAX], b2[NUM_MAX];

	for (size_t i = 0; i < n; i++) {
		double w = isfinite(rows[i].se) ? 1.96 * rows[i].se : 0;
		lo = fmin(lo, fmin(rows[i].from, rows[i].to - w));
		hi = fmax(hi, fmax(rows[i].from, rows[i].to + w));
	}
	if (a->has_threshold) {
		lo = fmin(lo, a->threshold);
		hi = fmax(hi, a->threshold);
	}
	if (!(hi - lo > 1e-12 * fmax(1, fabs(hi)))) {
		lo -= 1;
		hi += 1;
	}
	double pad = (hi - lo) * 0.16;
	struct scale s = {.lo = lo - pad, .hi = hi + pad};
	s.k = (SVG_X1 - SVG_X0) / (s.hi - s.lo);
	if (!isfinite(s.k) || !(s.k > 0)) {
		rw_para(r, "muted", "The attribution's values are too far apart to draw.");
		return;
	}

	double y_pred = SVG_TOP + (double)(n + 1) * SVG_ROW, y_axis = y_pred + SVG_ROW,
	       h = y_axis + 58;
	rw_rawf(r,
	        "<svg class=\"waterfall\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
	        "role=\"img\" aria-labelledby=\"wf-title\">\n<title id=\"wf-title\">",
	        SVG_W, h, SVG_W, h);
	rw_textf(r, "Attribution waterfall: from the base value %s to the prediction %s",
	         rw_fmt_num(a->base, b1), rw_fmt_num(a->pred, b2));
	rw_raw(r, "</title>\n");

	/* legend */
	rw_rawf(r,
	        "<rect class=\"key pos\" x=\"%.0f\" y=\"10\" width=\"12\" height=\"12\"/>"
	        "<text class=\"legend\" x=\"%.0f\" y=\"20\">raises the output</text>\n"
	        "<rect class=\"key neg\" x=\"%.0f\" y=\"10\" width=\"12\" height=\"12\"/>"
	        "<text class=\"legend\" x=\"%.0f\" y=\"20\">lowers the output</text>\n",
	        SVG_X0, SVG_X0 + 18, SVG_X0 + 150, SVG_X0 + 168);
	if (a->se)
		rw_rawf(r,
		        "<line class=\"whisker\" x1=\"%.0f\" x2=\"%.0f\" y1=\"16\" y2=\"16\"/>"
		        "<text class=\"legend\" x=\"%.0f\" y=\"20\">95%% interval (\u00b11.96 "
		        "s.e.)</text>\n",
		        SVG_X0 + 300, SVG_X0 + 322, SVG_X0 + 328);

	/* row bands, then the reference lines under the bars */
	for (size_t i = 0; i < n + 2; i++)
		if (i % 2 == 0)
			rw_rawf(r,
			        "<rect class=\"band\" x=\"0\" y=\"%.1f\" width=\"%.0f\" "
			        "height=\"%.0f\"/>\n",
			        SVG_TOP + (double)i * SVG_ROW - SVG_ROW / 2, SVG_W, SVG_ROW);
	if (a->has_threshold) {
		double x = sx(&s, a->threshold);
		rw_rawf(
		    r,
		    "<line class=\"threshold\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>\n"
		    "<text class=\"tlabel\" x=\"%.3f\" y=\"%.1f\" text-anchor=\"middle\">",
		    x, x, SVG_TOP - SVG_ROW / 2, y_axis, x, SVG_TOP - SVG_ROW / 2 - 6);
		rw_textf(r, "decision threshold %s", rw_fmt_num(a->threshold, b1));
		rw_raw(r, "</text>\n");
	}
	double xb = sx(&s, a->base), xp = sx(&s, a->pred);
	rw_rawf(r,
	        "<line class=\"base\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>\n"
	        "<line class=\"pred\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
	        xb, xb, SVG_TOP, y_axis, xp, xp, SVG_TOP + SVG_ROW - SVG_BAR / 2, y_axis);

	/* base value row */
	rw_rawf(r, "<text class=\"fl\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", SVG_LABEL,
	        SVG_TOP + 4);
	rw_raw(r, "base value <tspan class=\"fv\">(average output)</tspan></text>\n");
	rw_rawf(r, "<circle class=\"mark\" cx=\"%.3f\" cy=\"%.1f\" r=\"4\"/>", xb, SVG_TOP);
	rw_rawf(r, "<text class=\"vl\" x=\"%.3f\" y=\"%.1f\"%s>", xb + (xb > xp ? -8 : 8),
	        SVG_TOP + 4, xb > xp ? " text-anchor=\"end\"" : "");
	rw_text(r, rw_fmt_num(a->base, b1));
	rw_raw(r, "</text>\n");

	for (size_t i = 0; i < n; i++) {
		const struct wf_row *w = &rows[i];
		double y = SVG_TOP + (double)(i + 1) * SVG_ROW, x0 = sx(&s, w->from),
		       x1 = sx(&s, w->to), width = fabs(w->phi) * s.k;
		bool pos = w->phi >= 0;

		/* label: name = value */
		rw_rawf(r, "<text class=\"fl\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">",
		        SVG_LABEL, y + 4);
		if (w->name) {
			rw_raw(r, "<title>");
			rw_text(r, w->name);
			rw_raw(r, "</title>");
			svg_clipped(r, w->name, NAME_SVG);
			rw_raw(r, " <tspan class=\"fv\">= ");
			const struct feature *f = &rp->f[w->feature];
			if (f->has_value) {
				rw_num(r, f->value);
				if (f->unit) {
					rw_text(r, " ");
					svg_clipped(r, f->unit, UNIT_SVG);
				}
			} else {
				rw_raw(r, f->pruned ? "pruned" : "missing");
			}
			rw_raw(r, "</tspan>");
		} else {
			rw_rawf(r, "<tspan class=\"fv\">%zu other feature%s</tspan>", w->others,
			        w->others == 1 ? "" : "s");
		}
		rw_raw(r, "</text>\n");

		/* the bar: from the running total, by phi */
		rw_rawf(
		    r,
		    "<rect class=\"bar %s%s\" x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" height=\"%.0f\" "
		    "data-phi=\"%.17g\"/>\n",
		    pos ? "pos" : "neg", w->name ? "" : " other", pos ? x0 : x1, y - SVG_BAR / 2,
		    width, SVG_BAR, w->phi);
		double reach = 0;
		if (isfinite(w->se) && w->se > 0) {
			reach = 1.96 * w->se * s.k;
			rw_rawf(r,
			        "<path class=\"whisker\" d=\"M%.3f %.1fV%.1fM%.3f %.1fH%.3fM%.3f "
			        "%.1fV%.1f\"/>\n",
			        x1 - reach, y - 5, y + 5, x1 - reach, y, x1 + reach, x1 + reach,
			        y - 5, y + 5);
		}
		/* the value beside the bar's end, outside the whisker */
		double off = fmax(6, reach + 5);
		rw_rawf(r, "<text class=\"vl %s\" x=\"%.3f\" y=\"%.1f\"%s>", pos ? "pos" : "neg",
		        pos ? x1 + off : x1 - off, y + 4, pos ? "" : " text-anchor=\"end\"");
		rw_text(r, rw_fmt_signed(w->phi, b1));
		rw_raw(r, "</text>\n");
		/* connector to the next row */
		rw_rawf(r,
		        "<line class=\"conn\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
		        x1, x1, y + SVG_BAR / 2, y + SVG_ROW - SVG_BAR / 2);
	}

	/* prediction row */
	rw_rawf(r, "<text class=\"fl\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", SVG_LABEL,
	        y_pred + 4);
	rw_raw(r, "<tspan font-weight=\"700\">prediction f(x)</tspan></text>\n");
	rw_rawf(r,
	        "<path class=\"mark pred\" d=\"M%.3f %.1fl6 6l-6 6l-6 -6z\"/>"
	        "<text class=\"vl strong\" x=\"%.3f\" y=\"%.1f\"%s>",
	        xp, y_pred - 6, xp + (xp >= xb ? 10 : -10), y_pred + 4,
	        xp >= xb ? "" : " text-anchor=\"end\"");
	rw_text(r, rw_fmt_num(a->pred, b1));
	rw_raw(r, "</text>\n");

	/* axis */
	rw_rawf(r, "<line class=\"axis\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
	        SVG_X0, SVG_X1, y_axis, y_axis);
	double step = tick_step(s.hi - s.lo);
	for (double t = ceil(s.lo / step) * step; t <= s.hi + step * 1e-9; t += step) {
		double x = sx(&s, t), tv = fabs(t) < step * 1e-9 ? 0 : t;
		rw_rawf(r,
		        "<line class=\"tick\" x1=\"%.3f\" x2=\"%.3f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		        "<text class=\"tl\" x=\"%.3f\" y=\"%.1f\" text-anchor=\"middle\">",
		        x, x, y_axis, y_axis + 5, x, y_axis + 19);
		rw_text(r, rw_fmt_num(tv, b1));
		rw_raw(r, "</text>\n");
	}
	rw_rawf(r, "<text class=\"at\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"middle\">",
	        (SVG_X0 + SVG_X1) / 2, y_axis + 42);
	rw_textf(r, "model output (%s)", a->space ? a->space : "space not recorded");
	rw_raw(r, "</text>\n</svg>\n");
}

/* The Markdown chart: one row per waterfall row, bars scaled to the largest |phi|. */
static void md_bar(struct rr *r, double v, double max, bool raises)
{
	if (v == 0 || (v > 0) != raises)
		return;
	long blocks = max > 0 ? lround(fabs(v) / max * MD_BAR) : 0;
	if (!blocks)
		rw_raw(r, "\u258f"); /* too small for a block, but not zero */
	for (long i = 0; i < blocks; i++)
		rw_raw(r, "\u2588");
}

void chart_md_chart(struct rr *r, const struct report *rp, const struct wf_row *rows, size_t n)
{
	static const char *const heads[] = {"Feature", "Value", "Contribution", "Lowers", "Raises"};
	double max = 0;

	for (size_t i = 0; i < n; i++)
		max = fmax(max, fabs(rows[i].phi));
	rw_tab_begin(r, "", 5, heads, "lrrrl");
	for (size_t i = 0; i < n; i++) {
		rw_tr_begin(r, NULL);
		rw_td_begin(r, NULL);
		if (rows[i].name)
			rw_text(r, rows[i].name);
		else
			rw_textf(r, "%zu other feature%s", rows[i].others,
			         rows[i].others == 1 ? "" : "s");
		rw_td_end(r);
		rw_td_begin(r, "r");
		if (rows[i].name)
			chart_feature_value(r, &rp->f[rows[i].feature]);
		rw_td_end(r);
		rw_td_begin(r, "r");
		rw_num_signed(r, rows[i].phi);
		if (isfinite(rows[i].se)) {
			char b[NUM_MAX];
			rw_textf(r, " \u00b1 %s", rw_fmt_num(1.96 * rows[i].se, b));
		}
		rw_td_end(r);
		rw_td_begin(r, NULL);
		md_bar(r, rows[i].phi, max, false);
		rw_td_end(r);
		rw_td_begin(r, NULL);
		md_bar(r, rows[i].phi, max, true);
		rw_td_end(r);
		rw_tr_end(r);
	}
	rw_tab_end(r);
}

size_t chart_wf_rows(const struct report *rp, struct wf_row *rows)
{
	const struct attribution *a = &rp->a;
	size_t shown = rp->M < REPORT_TOP_FEATURES ? rp->M : REPORT_TOP_FEATURES, n = 0;
	double cum = a->base;

	for (size_t i = 0; i < shown; i++) {
		size_t j = a->order[i];
		rows[n] = (struct wf_row){.name = doc_feature_name(rp, j),
		                          .feature = j,
		                          .phi = a->phi[j],
		                          .se = a->se ? a->se[j] : NAN,
		                          .from = cum};
		cum += a->phi[j];
		rows[n++].to = cum;
	}
	if (rp->M > shown) {
		double rest = 0;
		for (size_t i = shown; i < rp->M; i++)
			rest += a->phi[a->order[i]];
		rows[n] = (struct wf_row){
		    .others = rp->M - shown, .phi = rest, .se = NAN, .from = cum, .to = cum + rest};
		n++;
	}
	return n;
}

void chart_feature_value(struct rr *r, const struct feature *f)
{
	if (!f->has_value) {
		rw_em(r, f->pruned ? "pruned" : "missing");
		return;
	}
	rw_num(r, f->value);
	if (f->unit) {
		rw_text(r, " ");
		rw_text(r, f->unit);
	}
}
