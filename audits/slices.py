"""Agreement and consistency by category, length, model pair, judge, template and week.

Every unit gets one key per dimension; comparisons are grouped by their unit's key with one
sort, so a dimension costs one pass over the comparisons plus one bootstrap per slice (each
over that slice's pairs only). Each slice row carries its own `reasons` for its nulls, so a
slice of one pair says why it has no interval instead of showing a degenerate one.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from audits.agreement import N, comparison_columns, intervals, point_estimates
from audits.config import AuditConfig
from audits.frames import first_appearance, first_rows, pair_index, text_codes
from audits.intervals import pair_sums
from audits.values import Reasons, fraction

DIMENSIONS = ("category", "length", "model_pair", "judge", "template", "time")
_HEADLINE = ("with_ties", "without_ties")


def length_labels(units: pd.DataFrame, edges: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Bucket of the mean response length, e.g. "500-1000" or "4000+" (characters), coded."""
    mean_len = (
        pd.to_numeric(units["len_a"], errors="coerce") + pd.to_numeric(units["len_b"], errors="coerce")
    ).to_numpy(dtype=float) / 2
    names = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(edges)]
    names.append(f"{edges[-1]}+")
    idx = np.clip(np.digitize(mean_len, edges[1:]), 0, len(names) - 1)
    return first_appearance(np.where(np.isnan(mean_len), len(names), idx), [*names, "(unknown)"])


def _model_pair_labels(units: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """ "a vs b" with the two names sorted, so a pair and its mirror share a slice; coded.

    Labels are built once per distinct (model_a, model_b) combination.
    """
    (a_codes, a_names), (b_codes, b_names) = text_codes(units["model_a"]), text_codes(units["model_b"])
    combo, uniques = pd.factorize(a_codes * len(b_names) + b_codes)
    a, b = a_names[uniques // len(b_names)], b_names[uniques % len(b_names)]
    low, high = np.where(a <= b, a, b), np.where(a <= b, b, a)
    joined = pd.Series(low, dtype=object) + " vs " + pd.Series(high, dtype=object)
    labels = np.where((a == "") & (b == ""), "(unknown)", joined.to_numpy(dtype=object))
    return first_appearance(combo, labels)


def _time_labels(units: pd.DataFrame, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """Start date of each unit's period (e.g. its week), "(unknown)" without a time; coded.

    Periods are integer ordinals; only one timestamp per distinct period is formatted.
    """
    created = pd.DatetimeIndex(pd.to_datetime(units["created_at"], utc=True, errors="coerce"))
    periods = created.tz_localize(None).to_period(freq)
    codes, _ = pd.factorize(periods.asi8)
    first = first_rows(codes, int(codes.max()) + 1 if len(codes) else 0)
    start = periods[first].start_time.strftime("%Y-%m-%d")
    labels = np.where(created[first].isna(), "(unknown)", np.asarray(start, dtype=object))
    return first_appearance(codes, labels)


def slice_keys(units: pd.DataFrame, config: AuditConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per dimension, (code per unit, label per code) as `pd.factorize` of the unit labels gives.

    Blanks become "(none)" / "(unknown)". Labels are made from distinct values only, so no
    dimension formats or hashes a string per unit.
    """

    def text(column: str, blank: str) -> tuple[np.ndarray, np.ndarray]:
        codes, names = text_codes(units[column])
        return first_appearance(codes, np.where(names == "", blank, names))

    return {
        "category": text("category", "(none)"),
        "length": length_labels(units, config.length_edges),
        "model_pair": _model_pair_labels(units),
        "judge": text("judge", "(none)"),
        "template": text("template", "(none)"),
        "time": _time_labels(units, config.time_freq),
    }


def _slice_row(label, unit_rows, comp_rows, cols, pair_code, units, config, pair_known) -> dict:
    reasons = Reasons()
    c_ab, c_ba = units["c_ab"].to_numpy()[unit_rows], units["c_ba"].to_numpy()[unit_rows]
    both = (c_ab >= 0) & (c_ba >= 0)
    disagree = units["orders_disagree"].to_numpy(dtype=bool)[unit_rows]  # recorded, direction unknown
    seen = np.zeros(len(pair_known), dtype=bool)
    seen[units["pair"].to_numpy()[unit_rows]] = True
    row = {
        "slice": str(label),
        "n_units": len(unit_rows),
        "n_pairs": int(np.count_nonzero(seen & pair_known)),
        "consistency": fraction((both & (c_ab == c_ba) & ~disagree).sum(), both.sum()),
    }
    if row["consistency"] is None:
        reasons.null("consistency", "no pair with usable verdicts in both orders")
    _, inverse = np.unique(pair_code[comp_rows], return_inverse=True)
    stats = pair_sums(inverse, cols[comp_rows], int(inverse.max()) + 1 if len(inverse) else 0)
    row["n_labeled_pairs"] = int((stats[:, N] > 0).sum()) if len(stats) else 0
    points = point_estimates(stats) if len(stats) else dict.fromkeys(_HEADLINE)
    for name in _HEADLINE:
        row[name] = points[name]
        if row[name] is None:
            reasons.null(
                name,
                "no human-labeled comparison in this slice"
                if not len(stats)
                else "undefined on this slice's comparisons",
            )
    if len(stats):
        row["ci95"] = intervals(stats, config, reasons, list(_HEADLINE))
    else:
        row["ci95"] = {n: reasons.null(f"ci95.{n}", "no human-labeled comparison") for n in _HEADLINE}
    row["reasons"] = reasons.as_dict()
    return row


def _grouping(codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort order and group boundaries of integer group codes (one stable sort).

    Codes that fit 16 bits are sorted as int16, which numpy sorts by radix (same order).
    """
    if n_groups < 2**15:
        codes = codes.astype(np.int16)
    order = np.argsort(codes, kind="stable")
    return order, np.searchsorted(codes[order], np.arange(n_groups + 1))


def slice_dimension(keys, units, comp, cols, pair_code, config, pair_known) -> dict:
    """All slices of one dimension (largest first), capped at `max_slice_rows`.

    `keys` is (code per unit, labels) from `slice_keys`; `pair_known` flags pair codes whose
    pair_id is not null (a null id is not counted as a pair, as `nunique` would not).
    """
    codes, labels = keys
    unit_order, unit_bounds = _grouping(codes, len(labels))
    comp_codes = codes[comp["unit"].to_numpy()] if len(comp) else np.zeros(0, dtype=np.int64)
    comp_order, comp_bounds = _grouping(comp_codes, len(labels))
    chosen = np.argsort(-np.diff(unit_bounds), kind="stable")[: config.max_slice_rows]
    rows = [
        _slice_row(
            labels[i],
            unit_order[unit_bounds[i] : unit_bounds[i + 1]],
            comp_order[comp_bounds[i] : comp_bounds[i + 1]],
            cols,
            pair_code,
            units,
            config,
            pair_known,
        )
        for i in chosen
    ]
    return {"rows": rows, "n_slices": len(labels), "omitted": int(len(labels) - len(chosen))}


def slices(units: pd.DataFrame, comp: pd.DataFrame, config: AuditConfig) -> dict:
    """The `slices` section: one table per dimension in DIMENSIONS."""
    cols, pair_code = comparison_columns(comp)
    pair_known = np.asarray(pair_index(units).notna(), dtype=bool)
    out = {}
    for name, keys in slice_keys(units, config).items():
        table = slice_dimension(keys, units, comp, cols, pair_code, config, pair_known)
        if name == "time":
            table["rows"].sort(key=lambda r: r["slice"])
        out[name] = table
    return out
