"""Plain-text report for the command line, and the summary rows the HTML and PDF reuse.

A null prints as "n/a" followed by its reason, so a reader never mistakes a missing number
for a zero.
"""

from __future__ import annotations

# (label, dotted key of the value, dotted key of its interval or None, kind)
SUMMARY = (
    ("Pairs judged", "n_pairs", None, "count"),
    ("Usable verdicts (ok rate)", "status.ok_rate", None, "pct"),
    (
        "Agreement with humans, ties (combined verdict)",
        "agreement.with_ties",
        "agreement.ci95.with_ties",
        "pct",
    ),
    ("Agreement with humans, no ties", "agreement.without_ties", "agreement.ci95.without_ties", "pct"),
    ("Agreement, order ab", "agreement.by_order.ab", None, "pct"),
    ("Agreement, order ba", "agreement.by_order.ba", None, "pct"),
    ("Agreement, mean over orders", "agreement.mean_over_orders", "agreement.ci95.mean_over_orders", "pct"),
    ("Cohen's kappa", "agreement.cohen_kappa", "agreement.ci95.cohen_kappa", "num"),
    ("Selected (routed) agreement, ties", "selected.with_ties", "selected.ci95.with_ties", "pct"),
    ("Agreement, PPI++ (audit + AI-only pairs)", "ppi.agreement.ppi", "ppi.agreement.ppi_ci95", "pct"),
    (
        "Agreement, classical (audit sample alone)",
        "ppi.agreement.classical",
        "ppi.agreement.classical_ci95",
        "pct",
    ),
    ("Agreement, PPI++ effective sample size", "ppi.agreement.effective_n", None, "count"),
    (
        "Blended dataset accuracy, PPI++",
        "ppi.blended_accuracy.ppi",
        "ppi.blended_accuracy.ppi_ci95",
        "pct",
    ),
    (
        "Blended dataset accuracy, classical",
        "ppi.blended_accuracy.classical",
        "ppi.blended_accuracy.classical_ci95",
        "pct",
    ),
    ("Blended accuracy, PPI++ effective sample size", "ppi.blended_accuracy.effective_n", None, "count"),
    ("Human-human agreement, ties (ceiling)", "human_human.agreement", "human_human.ci95", "pct"),
    ("Human-human agreement, no ties", "human_human.agreement_without_ties", None, "pct"),
    ("Krippendorff's alpha (humans)", "human_human.krippendorff_alpha", None, "num"),
    ("Anchoring: agreement, suggestion shown", "anchoring.shown.agreement", "anchoring.shown.ci95", "pct"),
    ("Anchoring: agreement, suggestion hidden", "anchoring.hidden.agreement", "anchoring.hidden.ci95", "pct"),
    ("Anchoring effect (shown - hidden)", "anchoring.difference", "anchoring.difference_ci95", "pts"),
    ("Positional consistency", "position.consistency", "position.ci95.consistency", "pct"),
    ("First-position rate (non-tie verdicts)", "position.first_rate", "position.ci95.first_rate", "pct"),
    ("Flip rate", "position.flip_rate", None, "pct"),
    ("Tie rate", "position.tie_rate", None, "pct"),
    ("Longer response wins: judge", "verbosity.longer_wins_ai", None, "pct"),
    (
        "Longer response wins: judge on human-labeled pairs",
        "verbosity.longer_wins_ai_on_labeled",
        None,
        "pct",
    ),
    ("Longer response wins: humans", "verbosity.longer_wins_human", None, "pct"),
    ("Own-family response wins: judge", "self_preference.self_wins_ai", None, "pct"),
    ("Own-family response wins: humans", "self_preference.self_wins_human", None, "pct"),
    ("Formatted response wins: judge", "formatting.formatted_wins_ai", None, "pct"),
    ("Formatted response wins: humans", "formatting.formatted_wins_human", None, "pct"),
    ("Expected calibration error", "calibration.ece", None, "num"),
    ("Brier score", "calibration.brier", None, "num"),
    ("ECE after fitted map (in-sample)", "calibration.ece_after_map", None, "num"),
)


def lookup(report: dict, dotted: str):
    """Value at a dotted key, or None where any part is absent or null."""
    value = report
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def format_value(value, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "pts":
        return f"{100 * value:+.1f} pts"
    if kind == "count":
        return f"{int(value):,}"
    return f"{value:.3f}"


def summary_rows(report: dict) -> list[tuple[str, str, str]]:
    """(label, formatted value with interval, reason if null) for each summary line."""
    rows = []
    for label, key, ci_key, kind in SUMMARY:
        value = lookup(report, key)
        text = format_value(value, kind)
        interval = lookup(report, ci_key) if ci_key else None
        if value is not None and interval:
            text += f"  [{format_value(interval[0], kind)}, {format_value(interval[1], kind)}]"
        reason = report.get("reasons", {}).get(key, "") if value is None else ""
        rows.append((label, text, reason))
    return rows


def _slice_lines(report: dict) -> list[str]:
    lines = []
    for name, table in report.get("slices", {}).items():
        lines.append(
            f"\nBy {name} ({table['n_slices']} slices"
            + (f", {table['omitted']} smallest omitted)" if table["omitted"] else ")")
        )
        for row in table["rows"]:
            ci = row["ci95"].get("with_ties")
            ci_text = f" [{format_value(ci[0], 'pct')}, {format_value(ci[1], 'pct')}]" if ci else ""
            lines.append(
                f"  {row['slice'][:40]:<40} units={row['n_units']:<7} "
                f"labeled={row['n_labeled_pairs']:<6} "
                f"agree={format_value(row['with_ties'], 'pct')}{ci_text} "
                f"consistency={format_value(row['consistency'], 'pct')}"
            )
    return lines


def annotator_rows(report: dict) -> list[tuple[str, str, str, str, str]]:
    """(annotator, votes, overlapping votes, reliability, weight) per annotator, most reliable first."""
    return [
        (
            row["annotator"],
            f"{row['n_votes']:,}",
            f"{row['n_votes_overlapping']:,}",
            format_value(row["reliability"], "pct"),
            format_value(row["weight"], "num"),
        )
        for row in lookup(report, "annotators.by_annotator") or []
    ]


def gold_rows(report: dict) -> list[tuple[str, str, str, str, str]]:
    """(annotator, answered, correct, accuracy with its 95% interval, "FLAGGED" or "") per
    annotator who answered gold items, least accurate first."""
    return [
        (
            row["annotator"],
            f"{row['answered']:,}",
            f"{row['correct']:,}",
            f"{format_value(row['accuracy'], 'pct')} [{format_value(row['ci95'][0], 'pct')}, "
            f"{format_value(row['ci95'][1], 'pct')}]",
            "FLAGGED" if row["flagged"] else "",
        )
        for row in lookup(report, "annotators.gold") or []
    ]


def gold_heading(report: dict) -> str:
    bar = lookup(report, "annotators.gold_min_accuracy")
    return (
        f"Gold items (known answers): accuracy with its 95% Wilson interval; flagged when the "
        f"interval lies below {format_value(bar, 'pct')}"
    )


def _gold_lines(report: dict) -> list[str]:
    rows = gold_rows(report)
    if not rows:
        return []
    lines = [f"\n{gold_heading(report)}", f"  {'annotator':<30} {'answered':>8} {'correct':>7}  accuracy"]
    lines.extend(f"  {a[:30]:<30} {n:>8} {c:>7}  {acc} {flag}".rstrip() for a, n, c, acc, flag in rows)
    return lines


def _annotator_lines(report: dict) -> list[str]:
    if "annotators" not in report:
        return []
    rows = annotator_rows(report)
    if not rows:
        why = report.get("reasons", {}).get("annotators.by_annotator", "")
        return [f"\nAnnotators (Dawid-Skene): n/a ({why})", *_gold_lines(report)]
    changes = lookup(report, "annotators.weighted_majority_changes")
    lines = [
        f"\nAnnotators (Dawid-Skene reliability; the weighted majority differs from the plain one "
        f"on {changes:,} item(s))",
        f"  {'annotator':<30} {'votes':>7} {'overlap':>7} {'reliability':>11} {'weight':>7}",
    ]
    lines.extend(f"  {a[:30]:<30} {n:>7} {o:>7} {r:>11} {w:>7}" for a, n, o, r, w in rows)
    return [*lines, *_gold_lines(report)]


def votes_by_sample(report: dict) -> str:
    """Human votes per sample in words ("audit 12, routed 30, imported 0"), never a Python repr."""
    votes = lookup(report, "samples.votes") or {}
    return ", ".join(f"{name} {int(count):,}" for name, count in votes.items()) or "none"


def render_text(report: dict) -> str:
    """The report as aligned plain text: header, summary with intervals and reasons, slices."""
    judge = report.get("judge") or ", ".join(report.get("judges", [])) or "(none)"
    lines = [f"Audit of judge: {judge}", f"Human votes by sample: {votes_by_sample(report)}", ""]
    width = max(len(label) for label, _, _ in summary_rows(report))
    for label, text, reason in summary_rows(report):
        lines.append(f"{label:<{width}}  {text}" + (f"  ({reason})" if reason else ""))
    matrix = lookup(report, "agreement.confusion.matrix")
    if matrix:
        lines.append("\nConfusion (rows judge a/b/tie, columns human a/b/tie):")
        lines.extend("  " + " ".join(f"{v:>8}" for v in row) for row in matrix)
    lines.extend(_annotator_lines(report))
    lines.extend(_slice_lines(report))
    return "\n".join(lines) + "\n"
