"""Anchoring: do annotators agree with the AI more when they are shown its suggestion?

A reviewer who sees the AI's answer tends to take it; if so, labels collected with the
suggestion shown overstate the judge's agreement with humans. The platform records, per
human vote, whether the record showed the suggestion (labels column `suggestion_shown`).

The comparison is made on routed votes only: with suggestions shown, the platform hides the
suggestion on a random share of routed items (the hold-out), so the two groups are drawn from
the same items by chance and differ only in what the annotator saw. Audit items never show
a suggestion and are selected differently (at random, not for uncertainty), so mixing them
in would confound anchoring with difficulty.

Agreement is the judge's combined verdict against each vote, ties included, as in the
`agreement` section. Intervals resample pairs within each group; the difference's interval
pairs the two groups' resamples (independent groups of pairs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audits.agreement import AGREE, N, pair_stats
from audits.config import AuditConfig
from audits.frames import AuditInputError, prepare_labels
from audits.intervals import resampled_totals
from audits.values import Reasons, fraction, number

SHOWN_COLUMN = "suggestion_shown"
SAMPLE = "routed: AI suggestion shown vs hidden at random (hold-out); audit items excluded"
GROUPS = ("shown", "hidden")


def _group_stats(units: pd.DataFrame, labels: pd.DataFrame, shown: np.ndarray, want: bool) -> np.ndarray:
    """Per labeled pair [agreements, comparisons] of the routed votes with `suggestion_shown == want`."""
    votes = prepare_labels(labels[shown == want], units)
    stats = pair_stats(units, votes, ("routed",))
    return stats[:, [AGREE, N]] if len(stats) else np.zeros((0, 2))


def _rates(totals: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals[:, 1] > 0, totals[:, 0] / totals[:, 1], np.nan)


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return [round(float(low), 6), round(float(high), 6)]


def _shown_flags(labels: pd.DataFrame) -> np.ndarray | None:
    """The column as bools; None when it is absent. Raises AuditInputError naming a bad value."""
    if SHOWN_COLUMN not in labels.columns:
        return None
    column = labels[SHOWN_COLUMN]
    bad = column[~column.isin([True, False])]
    if len(bad):
        raise AuditInputError(
            f"labels column {SHOWN_COLUMN!r} must be true or false; row {bad.index[0]} holds {bad.iloc[0]!r}"
        )
    return column.to_numpy(dtype=bool)


def anchoring(
    units: pd.DataFrame, labels: pd.DataFrame | None, config: AuditConfig, reasons: Reasons
) -> dict:
    """The `anchoring` section: agreement with the AI where the suggestion was shown vs hidden.

    Returns per group `agreement`, `ci95`, `n_votes` (comparisons) and `n_pairs`, and
    `difference` (shown minus hidden) with its `difference_ci95`; every null has a reason.
    """
    out: dict = {"sample": SAMPLE}
    shown = _shown_flags(labels) if labels is not None and len(labels) else None
    if shown is None:
        why = "no human label says whether its record showed the AI suggestion"
        stats = {g: np.zeros((0, 2)) for g in GROUPS}
    else:
        stats = {g: _group_stats(units, labels, shown, g == "shown") for g in GROUPS}
        why = ""
    boots = {}
    for index, group in enumerate(GROUPS):
        section, totals = {}, stats[group].sum(axis=0) if len(stats[group]) else np.zeros(2)
        section["n_pairs"], section["n_votes"] = len(stats[group]), int(totals[1])
        section["agreement"] = fraction(totals[0], totals[1])
        scoped = reasons.scoped(group)
        if section["agreement"] is None:
            scoped.null("agreement", why or f"no routed vote on an item that had the suggestion {group}")
        if len(stats[group]) < config.min_pairs_for_ci:
            section["ci95"] = scoped.null(
                "ci95", f"{len(stats[group])} labeled pairs; an interval needs {config.min_pairs_for_ci}"
            )
        else:
            boots[group] = _rates(resampled_totals(stats[group], config.n_boot, config.seed + index))
            section["ci95"] = _interval(boots[group], config.ci_level)
        out[group] = section
    both = [out[g]["agreement"] for g in GROUPS]
    out["difference"] = number(both[0] - both[1]) if None not in both else None
    if out["difference"] is None:
        reasons.null("difference", "needs routed votes both with and without the suggestion")
    if len(boots) == 2:
        out["difference_ci95"] = _interval(boots["shown"] - boots["hidden"], config.ci_level)
    else:
        out["difference_ci95"] = reasons.null(
            "difference_ci95", f"needs {config.min_pairs_for_ci} labeled pairs in each group"
        )
    return out
