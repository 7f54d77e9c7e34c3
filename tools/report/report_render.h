/* SPDX-License-Identifier: Apache-2.0 */
/* Renderers of `evidentctl report ID --format html|md`: the report document (the JSON object
 * `--format json` prints, gathered by cmd_report.c) as one self-contained HTML page (inline
 * CSS and SVG; no script, no network reference) and as Markdown with the same sections.
 *
 * The document must be an object with "incident", "model" and "record" objects; every other
 * member, at any depth, may be absent, null or of an unexpected type and is then reported as
 * not recorded. Pure: no logging, no exit, no global state.
 *
 * Every string from the document is escaped for the format; bidi controls (U+061C,
 * U+200E-F, U+202A-E, U+2066-9), zero-width and other invisible characters (U+200B-D,
 * U+2060-4, U+FEFF, ...), C0/C1 controls other than the line breaks the format needs, and bytes
 * that are not UTF-8 are written as visible escapes, "<U+202E>" and "<0xC0>", so that the
 * rendered text cannot say something other than its bytes. A string may hold a NUL (shown
 * as "<U+0000>" where the renderer reads the JSON string's length: values, lists).
 *
 * Conventions read from the document (the gatherer honours them):
 * - audit.attribution.phi (and stderr, when not null) has one number per record.features
 *   entry, in that order; otherwise the attribution is not drawn and the page says why.
 * - audit.prediction[0] is the output the attribution explains, in audit.prediction_space;
 *   audit.params.threshold is drawn on the waterfall only when that space is "margin".
 * - audit.region.rule bounds are inclusive unless "lo_inclusive"/"hi_inclusive" say false.
 * - audit.lime, when the audit ran LIME, is its result as the audit recorded it: "phi"[0] and
 *   "stderr"[0] with one number per record.features entry (0: a feature LIME left out) and
 *   "lime" {r2, local_prediction, fx, samples, repeats, jaccard, vsi, csi, sign_flip (one per
 *   feature), stable}; audit.params.lime holds the parameters it ran with.
 * - suggested_guard, when the audit suggests one (daemon/audit/audit.h), is the guard with
 *   "section" (its [guard NAME] config text, shown as is), "recorded" (false: built by the
 *   report from the recorded results) and "backtest" {as_of_seq, reviews_as_of_seq,
 *   model_id, model_version, incidents, incidents_caught, incidents_unknown, overturned,
 *   overturned_caught, routine, routine_held, routine_share, records_pruned,
 *   catches_audited_record, bound, problem}; section 13 shows it.
 * - Times ("*_unix_ns") are integers, nanoseconds since the Unix epoch, shown in UTC. */
#pragma once

#include <jansson.h>
#include <stdio.h>

/* Bars drawn individually in the waterfall (and the Markdown chart); the rest of the features
 * are summed into one "N other features" bar. */
#define REPORT_TOP_FEATURES 12

/* Writes the HTML page for doc to out (both borrowed). Returns 0, -EINVAL when doc lacks
 * incident, model or record (nothing is written then), -ENOMEM, or -EIO when writing to out
 * failed (out is flushed before returning). */
int report_render_html(const json_t *doc, FILE *out);

/* As report_render_html, writing CommonMark with GitHub tables; no SVG: the attributions are
 * drawn as a text bar chart. */
int report_render_md(const json_t *doc, FILE *out);
