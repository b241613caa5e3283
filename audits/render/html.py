"""Standalone HTML report: summary with intervals and reasons, inline SVG plots, the JSON.

One file with no external assets (no scripts, fonts or images fetched), so it can be
downloaded, mailed and archived as is. The report JSON is embedded for re-use.
"""

from __future__ import annotations

import json
from html import escape

from audits.render import figures
from audits.render.svg import interval_chart, line_chart
from audits.render.text import (
    annotator_rows,
    format_value,
    gold_heading,
    gold_rows,
    lookup,
    summary_rows,
    votes_by_sample,
)

_CSS = """body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}
td.reason{color:#a33}figure{display:inline-block;margin:0.5em}h2{margin-top:1.5em}"""


def _summary_table(report: dict) -> str:
    rows = "".join(
        f'<tr><td>{escape(label)}</td><td>{escape(text)}</td><td class="reason">{escape(reason)}</td></tr>'
        for label, text, reason in summary_rows(report)
    )
    return f"<table><tr><th>measure</th><th>value [95% CI]</th><th>why missing</th></tr>{rows}</table>"


def _confusion_table(report: dict) -> str:
    matrix = lookup(report, "agreement.confusion.matrix") or []
    labels = ["a", "b", "tie"]
    head = "".join(f"<th>human {lab}</th>" for lab in labels)
    body = "".join(
        f"<tr><th>judge {lab}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
        for lab, row in zip(labels, matrix, strict=False)
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _anchoring(report: dict) -> str:
    """Agreement with the AI with its suggestion shown vs hidden, and what the gap means."""
    rows = []
    for group in ("shown", "hidden"):
        value, ci = lookup(report, f"anchoring.{group}.agreement"), lookup(report, f"anchoring.{group}.ci95")
        text = format_value(value, "pct") + (
            f" [{format_value(ci[0], 'pct')}, {format_value(ci[1], 'pct')}]" if ci else ""
        )
        votes = lookup(report, f"anchoring.{group}.n_votes") or 0
        rows.append(f"<tr><td>suggestion {group}</td><td>{escape(text)}</td><td>{votes:,}</td></tr>")
    diff, ci = lookup(report, "anchoring.difference"), lookup(report, "anchoring.difference_ci95")
    gap = format_value(diff, "pts") + (
        f" [{format_value(ci[0], 'pts')}, {format_value(ci[1], 'pts')}]" if ci else ""
    )
    why = (report.get("reasons") or {}).get("anchoring.difference", "")
    return (
        f"<p id='anchoring'>Human agreement with the AI verdict on "
        f"{escape(str(lookup(report, 'anchoring.sample')))}. "
        "A positive gap whose interval excludes 0 means annotators follow the suggestion they see.</p>"
        "<table><tr><th>routed items</th><th>agreement with AI [95% CI]</th><th>votes</th></tr>"
        f"{''.join(rows)}<tr><td>anchoring effect (shown - hidden)</td><td>{escape(gap)}</td>"
        f'<td class="reason">{escape(why)}</td></tr></table>'
    )


def _gold(report: dict) -> str:
    """Each annotator's score on gold items, a flagged one marked, or nothing without gold votes."""
    rows = gold_rows(report)
    if not rows:
        return ""
    body = "".join(
        ("<tr class='flagged'>" if row[4] else "<tr>")
        + "".join(f"<td>{escape(v)}</td>" for v in row)
        + "</tr>"
        for row in rows
    )
    return (
        f"<p id='gold'>{escape(gold_heading(report))}.</p><table><tr><th>annotator</th><th>answered</th>"
        f"<th>correct</th><th>accuracy [95% interval]</th><th>flag</th></tr>{body}</table>"
    )


def _annotators(report: dict) -> str:
    """Each annotator's Dawid-Skene reliability and weight, or why there is none; then gold scores."""
    rows = annotator_rows(report)
    if not rows:
        why = (report.get("reasons") or {}).get("annotators.by_annotator", "no human labels")
        return f"<p id='annotators'>Not measured: {escape(why)}.</p>{_gold(report)}"
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    changes = lookup(report, "annotators.weighted_majority_changes") or 0
    return (
        "<p id='annotators'>Reliability: each annotator's estimated share of votes equal to the true "
        "label (Dawid-Skene, from overlapping labels). Weighting votes by it changes the human "
        f"majority on {changes:,} item(s).</p><table><tr><th>annotator</th><th>votes</th>"
        f"<th>overlapping</th><th>reliability</th><th>weight</th></tr>{body}</table>{_gold(report)}"
    )


def _plots(report: dict) -> str:
    series, ticks = figures.trend_series(report)
    svgs = [
        line_chart(
            "Reliability (calibration)",
            figures.reliability_series(report),
            "judge P(a better), debiased",
            "human rate of a",
            (0.0, 1.0),
            diagonal=True,
        ),
        line_chart(
            "Length difference vs verdict",
            figures.length_series(report),
            "log2 length ratio (a / b)",
            "share a wins",
            (-4.0, 4.0),
        ),
        line_chart("Trend over time", series, "period start", "rate", x_ticks=ticks),
    ]
    svgs += [
        interval_chart(f"Agreement with humans by {name}", figures.slice_intervals(report, name))
        for name in figures.SLICE_PLOTS
    ]
    return "".join(f"<figure>{svg}</figure>" for svg in svgs)


def _reasons_list(report: dict) -> str:
    items = "".join(
        f"<li><code>{escape(k)}</code>: {escape(v)}</li>" for k, v in report.get("reasons", {}).items()
    )
    return f"<ul>{items}</ul>" if items else "<p>Every value was computed.</p>"


def render_html(report: dict) -> str:
    """The report as one self-contained HTML document (str)."""
    judge = report.get("judge") or ", ".join(report.get("judges", [])) or "(none)"
    data = json.dumps(report, ensure_ascii=False).replace("</", "<\\/")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Audit: {escape(judge)}</title>"
        f"<style>{_CSS}</style></head><body><h1>Audit of judge {escape(judge)}</h1>"
        f"<p>{report.get('n_pairs', 0):,} pairs judged; human votes by sample: "
        f"{escape(votes_by_sample(report))}. Agreement uses the unbiased sample "
        "(audit + imported); routed pairs appear apart as <em>selected</em>. PPI++ rows add the "
        "pairs no human saw, through the judge's own confidence, and stay valid however good it is.</p>"
        f"<h2>Summary</h2>{_summary_table(report)}"
        f"<h2>Confusion matrix</h2>{_confusion_table(report)}"
        f"<h2>Anchoring</h2>{_anchoring(report)}"
        f"<h2>Annotators</h2>{_annotators(report)}"
        f"<h2>Plots</h2>{_plots(report)}"
        f"<h2>What could not be computed</h2>{_reasons_list(report)}"
        f'<script type="application/json" id="audit-report">{data}</script>'
        "</body></html>"
    )
