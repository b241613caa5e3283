"""`build_report`: the one entry point that turns the two input frames into the audit JSON.

Section order follows the question an auditor asks: how much data, how often the judge
agrees with humans (unbiased sample, then the selected one apart, then `ppi`: agreement and
the blended dataset's accuracy with prediction-powered intervals, `audits.ppi`), how often
humans agree with each other and how reliable each annotator is (`audits.annotators`), the
judge's biases, whether its confidence is calibrated, and slices.
Every null has an entry in `reasons` under its dotted key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audits import bias
from audits.agreement import alignment, comparisons, human_human, pair_stats
from audits.anchoring import anchoring
from audits.annotators import annotators, gold_votes
from audits.calibration import calibration
from audits.config import AuditConfig
from audits.frames import (
    SAMPLES,
    UNBIASED_SAMPLES,
    AuditFrames,
    AuditInputError,
    pair_index,
    prepare,
    text_codes,
    unit_choices,
)
from audits.ppi import ppi_section
from audits.slices import slices
from audits.values import Reasons

SCHEMA = "tandem.audit/1"
NO_VERDICT = "no usable verdict"

# Keys that dashboards and CI read; the tests pin that each is present (value or null).
REQUIRED_KEYS = (
    "n_pairs",
    "agreement.with_ties",
    "agreement.without_ties",
    "agreement.by_order",
    "agreement.mean_over_orders",
    "agreement.cohen_kappa",
    "agreement.ci95",
    "position.consistency",
    "position.first_rate",
    "human_human.agreement",
    "human_human.krippendorff_alpha",
    "anchoring.shown.agreement",
    "anchoring.hidden.agreement",
    "anchoring.difference",
    "verbosity.longer_wins_ai",
    "verbosity.longer_wins_human",
    "calibration.ece",
)


def get_path(report: dict, dotted: str):
    """The value at a dotted key; raises KeyError naming the missing part."""
    value = report
    for part in dotted.split("."):
        value = value[part]
    return value


def _why_no_agreement(frames: AuditFrames, samples, kind: str) -> str:
    statuses = frames.status_counts
    if frames.n_judgments == 0:
        return "no judgments"
    if statuses["ok"] == 0:
        return (
            f"no usable verdict: all {frames.n_judgments} judgments failed "
            f"({statuses['error']} error, {statuses['unparsable']} unparsable)"
        )
    votes = frames.votes
    if not votes["sample"].isin(list(samples)).any():
        return f"no human labels ({kind})"
    return "no human vote on a pair with a usable verdict"


def _sample_summary(votes: pd.DataFrame) -> dict:
    counts = votes["sample"].value_counts()
    fair = votes[votes["sample"].isin(list(UNBIASED_SAMPLES))]
    return {
        # gold votes appear once there are some (a project without gold items reads as before)
        "votes": {s: int(counts.get(s, 0)) for s in SAMPLES if s != "gold" or counts.get(s, 0)},
        "unbiased_pairs": int(fair["pair_id"].nunique()),
        "routed_pairs": int(votes.loc[votes["sample"] == "routed", "pair_id"].nunique()),
        "unbiased_kinds": [s for s in UNBIASED_SAMPLES if counts.get(s, 0)],
    }


def _alignment_sections(frames, units, config, reasons) -> dict:
    agreement = alignment(
        pair_stats(units, frames.votes, UNBIASED_SAMPLES),
        config,
        reasons.scoped("agreement"),
        _why_no_agreement(frames, UNBIASED_SAMPLES, "audit or imported sample"),
    )
    agreement["sample"] = "unbiased: random audit sample and imported labels"
    selected = alignment(
        pair_stats(units, frames.votes, ("routed",)),
        config,
        reasons.scoped("selected"),
        _why_no_agreement(frames, ("routed",), "routed sample"),
    )
    selected["sample"] = "selected: routed to humans for uncertainty; not an unbiased estimate"
    return {"agreement": agreement, "selected": selected}


def _used_names(values: pd.Series) -> list[str]:
    """Sorted distinct values of a (categorical) unit column, as text."""
    codes, names = text_codes(values)
    return sorted(set(names[np.unique(codes)].tolist()))


def _header(frames: AuditFrames, judge: str | None) -> dict:
    units = frames.units
    statuses = frames.status_counts
    return {
        "schema": SCHEMA,
        "judge": judge,
        "judges": _used_names(units["judge"]),
        "templates": _used_names(units["template"]),
        "n_pairs": int(pair_index(units).notna().sum()),
        "n_units": len(units),
        "n_judgments": frames.n_judgments,
        "status": {
            **statuses,
            "ok_rate": (round(statuses["ok"] / frames.n_judgments, 6) if frames.n_judgments else None),
        },
        "samples": _sample_summary(frames.votes),
    }


def build_report(
    judgments: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    judge: str | None = None,
    config: AuditConfig | None = None,
) -> dict:
    """The audit of one judge (or all judges pooled when `judge` is None) as a JSON-able dict.

    Inputs follow the contract in `audits.frames`. Raises AuditInputError when a frame breaks
    the contract or `judge` has no judgments (the message lists the judges that do).
    """
    config = config or AuditConfig()
    if judge is not None and "judge" in judgments.columns and not (judgments["judge"] == judge).any():
        known = sorted(judgments["judge"].astype(str).unique().tolist())
        raise AuditInputError(f"judge {judge!r} has no judgments; judges with judgments: {known}")
    frames = prepare(judgments, labels, judge)
    units = frames.units.assign(c_comb=unit_choices(frames.units))
    reasons = Reasons()
    report = _header(frames, judge)
    aligned = _alignment_sections(frames, units, config, reasons)
    report["agreement"], report["selected"] = aligned["agreement"], aligned["selected"]
    report["ppi"] = ppi_section(units, frames.votes, config, reasons.scoped("ppi"))
    report["human_human"] = human_human(frames.votes, config, reasons.scoped("human_human"))
    report["annotators"] = annotators(
        frames.votes, config, reasons.scoped("annotators"), gold=gold_votes(labels)
    )
    report["anchoring"] = anchoring(units, labels, config, reasons.scoped("anchoring"))
    report["position"] = bias.position(units, config, reasons.scoped("position"))
    report["verbosity"] = bias.verbosity(units, frames.votes, reasons.scoped("verbosity"))
    report["self_preference"] = bias.self_preference(units, frames.votes, reasons.scoped("self_preference"))
    report["formatting"] = bias.formatting(units, frames.votes, reasons.scoped("formatting"))
    report["calibration"] = calibration(units, frames.votes, config, reasons.scoped("calibration"))
    report["slices"] = slices(units, comparisons(units, frames.votes, UNBIASED_SAMPLES), config)
    report["config"] = config.to_dict()
    report["reasons"] = _explain_no_verdicts(reasons.as_dict(), frames)
    return report


def _explain_no_verdicts(reasons: dict, frames: AuditFrames) -> dict:
    """Say *why* there is no usable verdict (all errors?) where sections just say there is none."""
    if frames.status_counts["ok"] or not frames.n_judgments:
        return reasons
    why = _why_no_agreement(frames, UNBIASED_SAMPLES, "")
    return {k: (why if v.startswith(NO_VERDICT) else v) for k, v in reasons.items()}


def flatten(report: dict, prefix: str = "") -> dict:
    """Dotted-key view of a report (lists kept as values), handy for dashboards and diffs."""
    out = {}
    for key, value in report.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key != "reasons":
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


__all__ = ["REQUIRED_KEYS", "build_report", "flatten", "get_path"]
