"""What each plot shows, as plain data, so the HTML (SVG) and PDF (matplotlib) agree."""

from __future__ import annotations

from audits.render.text import lookup

SLICE_PLOTS = ("category", "length", "model_pair", "judge", "template")


def reliability_series(report: dict) -> list[tuple[str, list]]:
    curve = lookup(report, "calibration.curve") or []
    return [("judge P(a better) vs human rate", [(b["mean_p"], b["observed"]) for b in curve])]


def length_series(report: dict) -> list[tuple[str, list]]:
    curve = lookup(report, "verbosity.curve") or {}
    return [
        (who, [(b["x"], b["a_wins"]) for b in curve.get(key) or []])
        for who, key in (("judge", "ai"), ("humans", "human"))
    ]


def trend_series(report: dict) -> tuple[list[tuple[str, list]], list[tuple[int, str]]]:
    """Agreement and consistency per period, x = period index; plus tick labels."""
    rows = [r for r in (lookup(report, "slices.time.rows") or []) if r["slice"] != "(unknown)"]
    series = [
        ("agreement with humans (ties)", [(i, r["with_ties"]) for i, r in enumerate(rows)]),
        ("positional consistency", [(i, r["consistency"]) for i, r in enumerate(rows)]),
    ]
    step = max(1, len(rows) // 6)
    ticks = [(i, r["slice"]) for i, r in enumerate(rows) if i % step == 0]
    return series, ticks


def slice_intervals(report: dict, name: str) -> list[tuple]:
    """(label, agreement with ties, its interval, labeled pairs) per slice of a dimension."""
    rows = lookup(report, f"slices.{name}.rows") or []
    return [(r["slice"], r["with_ties"], r["ci95"].get("with_ties"), r["n_labeled_pairs"]) for r in rows]
