"""Prediction-powered intervals (PPI++) for the judge's agreement and the blended dataset's accuracy.

The audit sample alone gives a classical interval; PPI++ (Angelopoulos, Duchi and Zrnic,
"PPI++: Efficient Prediction-Powered Inference", arXiv:2311.01453, 2023) adds every judged pair
the humans never saw, through a prediction of each pair's outcome that needs no human, and
stays valid whatever the prediction's quality: the labelled pairs measure and remove its bias,
and the power-tuning weight lambda (fitted on the data, clipped to [0, 1]) shrinks it to the
classical interval when it does not help. The estimator is the paper's for a mean, the one
`ppi_py.ppi_mean_ci` computes (tests/audits/test_ppi.py holds this module to that package's
numbers; it is not a dependency, since it pulls numba and llvmlite, about 200 MB):

    theta = lambda * mean(f over unlabelled) + mean(y - lambda * f over labelled)
    se^2  = var(lambda * f over unlabelled) / N + var(y - lambda * f over labelled) / n
    lambda = cov(y, f) / ((1 + n / N) * var(f over all pairs)), clipped to [0, 1]

What is estimated, over the judged pairs with a usable AI verdict (the population):
- `agreement`: the mean over pairs of y = 1[the AI verdict == the human majority], the verdict
  and the majority by their one definition (`labeling.verdicts`); a pair judged by several
  units (prompts, or judges when pooled) has y = the share of its units that agree, so the pair
  stays the independent unit;
- `blended_accuracy`: the share of final labels that match what the humans would say, when
  every pair with a human vote keeps the human label (counted right) and every other pair keeps
  the AI's. Its unknown part is the AI's errors on pairs no human saw: with e = 1 - y on pairs
  not routed to humans (0 on routed ones: they are human-labelled whatever the AI said),
  accuracy = 1 - mean(e) + (errors e seen on the labelled pairs) / N_population.

The labelled pairs are those with an unbiased vote (the random blind audit and imported labels,
as in the `agreement` section); intervals assume they are a uniform draw from the population,
which the blind audit is by construction and imports are when they cover the project or a
random part of it. Routed pairs are chosen for doubt and never count as labelled. The
prediction f is the judge's own probability that its verdict is right: the debiased P(its side),
raw, since the audit's calibration map is fitted on the labelled pairs and a prediction must not
be; 1 for a side given without a probability; 0 for a tie (the AI names no side, and humans
seldom answer tie).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from audits.config import AuditConfig
from audits.frames import MISSING, UNBIASED_SAMPLES, A, B, n_pairs, p_a_debiased, sample_mask
from audits.values import Reasons, number
from labeling.verdicts import majority_codes

# Below this many labelled pairs a CLT interval (classical or PPI) is not trusted.
MIN_LABELED = 30
ESTIMANDS = ("agreement", "blended_accuracy")


@dataclass(frozen=True)
class MeanInterval:
    """A mean's estimate, its normal-approximation interval and standard error."""

    estimate: float
    low: float
    high: float
    std_error: float

    @property
    def width(self) -> float:
        return self.high - self.low


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def _interval(estimate: float, std_error: float, level: float) -> MeanInterval:
    half = _z(level) * std_error
    return MeanInterval(float(estimate), float(estimate - half), float(estimate + half), float(std_error))


def classical_mean(y: np.ndarray, level: float = 0.95) -> MeanInterval:
    """The mean of the labelled outcomes with its CLT interval (`ppi_py.classical_mean_ci`)."""
    y = np.asarray(y, dtype=float)
    return _interval(y.mean(), y.std() / np.sqrt(len(y)), level)


def power_tuning(y: np.ndarray, f_labeled: np.ndarray, f_unlabeled: np.ndarray) -> float:
    """PPI++'s lambda for a mean, clipped to [0, 1]; 0 when the predictions do not vary."""
    n, big_n = len(y), len(f_unlabeled)
    cov = np.mean((y - y.mean()) * (f_labeled - f_labeled.mean()))
    var = np.var(np.concatenate([f_labeled, f_unlabeled]), ddof=1)
    if not var > 0:
        return 0.0
    return float(np.clip(cov / ((1 + n / big_n) * var), 0.0, 1.0))


def ppi_mean(
    y: np.ndarray,
    f_labeled: np.ndarray,
    f_unlabeled: np.ndarray,
    level: float = 0.95,
    lam: float | None = None,
) -> tuple[MeanInterval, float]:
    """(PPI++ estimate and interval of the mean of y, the lambda used); power-tuned when `lam` is
    None. Raises ValueError when a side is empty or y and f_labeled differ in length."""
    y, f_lab, f_unl = (np.asarray(v, dtype=float) for v in (y, f_labeled, f_unlabeled))
    if not len(y) or not len(f_unl) or len(y) != len(f_lab):
        raise ValueError(
            f"ppi_mean needs labelled outcomes with one prediction each and unlabelled predictions; "
            f"got {len(y)} outcomes, {len(f_lab)} predictions, {len(f_unl)} unlabelled"
        )
    lam = power_tuning(y, f_lab, f_unl) if lam is None else lam
    estimate = lam * f_unl.mean() + (y - lam * f_lab).mean()
    std_error = np.sqrt(np.var(lam * f_unl) / len(f_unl) + np.var(y - lam * f_lab) / len(y))
    return _interval(estimate, std_error, level), lam


@dataclass(frozen=True)
class PairOutcomes:
    """Per pair of the population (pairs with a usable AI verdict): `y` the share of its units
    agreeing with the unbiased human majority (NaN where unlabelled), `f` the predicted share,
    `labeled` and `routed` flags."""

    y: np.ndarray
    f: np.ndarray
    labeled: np.ndarray
    routed: np.ndarray


def unit_prediction(units: pd.DataFrame) -> np.ndarray:
    """P(the unit's verdict is right) from the judge alone (module docstring); NaN: no verdict."""
    choice = units["c_comb"].to_numpy()
    p_a = p_a_debiased(units["p_ab"].to_numpy(), units["p_ba"].to_numpy())
    side = np.where(choice == A, p_a, 1.0 - p_a)
    side = np.where(np.isnan(side), 1.0, side)
    f = np.where((choice == A) | (choice == B), side, 0.0)
    return np.where(choice == MISSING, np.nan, np.clip(f, 0.0, 1.0))


def pair_outcomes(units: pd.DataFrame, votes: pd.DataFrame) -> PairOutcomes:
    """The per-pair outcomes and predictions PPI needs, from the coded frames (`audits.frames`)."""
    n = n_pairs(units)
    fair = sample_mask(votes, UNBIASED_SAMPLES)
    pair_of_vote, code = votes["pair"].to_numpy(), votes["code"].to_numpy().astype(np.int64)
    counts = np.bincount(pair_of_vote[fair] * 3 + code[fair], minlength=3 * n).reshape(n, 3)
    majority = majority_codes(counts)
    routed = np.zeros(n, dtype=bool)
    routed[pair_of_vote[sample_mask(votes, ("routed",))]] = True
    f_unit = unit_prediction(units)
    usable = ~np.isnan(f_unit)
    pair = units["pair"].to_numpy()[usable]
    agrees = units["c_comb"].to_numpy()[usable] == majority[pair]
    n_units = np.bincount(pair, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.bincount(pair, weights=agrees, minlength=n) / n_units
        f = np.bincount(pair, weights=f_unit[usable], minlength=n) / n_units
    keep = n_units > 0
    labeled = (majority != MISSING) & keep
    y = np.where(labeled, y, np.nan)
    return PairOutcomes(y[keep], f[keep], labeled[keep], routed[keep])


def _estimate(y, f_lab, f_unl, shift: float, sign: float, level: float, reasons: Reasons) -> dict:
    """Classical and PPI++ intervals of `shift + sign * mean`, with the effective sample size."""
    n = len(y)
    out: dict = {"n_labeled": n, "n_unlabeled": len(f_unl)}
    if n < MIN_LABELED:
        why = f"{n} labelled pair(s) in the unbiased sample: an interval needs at least {MIN_LABELED}"
        for key in ("classical", "classical_ci95", "ppi", "ppi_ci95", "lambda", "effective_n", "ess_gain"):
            out[key] = reasons.null(key, why)
        return out
    classical = classical_mean(y, level)
    out["classical"], out["classical_ci95"] = _shifted(classical, shift, sign)
    if classical.std_error == 0:
        reasons.null(
            "classical_ci95", f"all {n} labelled pairs have the same outcome: the interval has no width"
        )
        out["classical_ci95"] = None
    if not len(f_unl):
        why = "every pair with a verdict has an unbiased human label: no AI-only pair to add"
        for key in ("ppi", "ppi_ci95", "lambda", "effective_n", "ess_gain"):
            out[key] = reasons.null(key, why)
        return out
    ppi, lam = ppi_mean(y, f_lab, f_unl, level)
    out["ppi"], out["ppi_ci95"] = _shifted(ppi, shift, sign)
    out["lambda"] = number(lam)
    if ppi.width > 0 and classical.width > 0:
        gain = (classical.width / ppi.width) ** 2
        out["effective_n"], out["ess_gain"] = number(gain * n, 1), number(gain, 4)
    else:
        why = "an interval of zero width: no ratio of widths"
        out["effective_n"], out["ess_gain"] = reasons.null("effective_n", why), reasons.null("ess_gain", why)
    return out


def _shifted(interval: MeanInterval, shift: float, sign: float) -> tuple[float | None, list | None]:
    """`shift + sign * x` of the estimate and of the interval, the interval clipped to [0, 1] (a
    share cannot leave it, so clipping keeps the coverage; widths are taken before it)."""
    ends = np.clip(sorted((shift + sign * interval.low, shift + sign * interval.high)), 0.0, 1.0)
    return number(shift + sign * interval.estimate), [number(ends[0]), number(ends[1])]


def ppi_section(units: pd.DataFrame, votes: pd.DataFrame, config: AuditConfig, reasons: Reasons) -> dict:
    """The `ppi` section: agreement and blended accuracy, PPI++ beside classical (module docstring)."""
    pairs = pair_outcomes(units, votes)
    out = {
        "n_population": len(pairs.y),
        "n_labeled": int(pairs.labeled.sum()),
        "n_routed": int(pairs.routed.sum()),
        "labeled_sample": "unbiased: random audit sample and imported labels; routed pairs never count",
        "prediction": "the judge's raw debiased probability of its side (1 without one, 0 for a tie)",
    }
    if not len(pairs.y):
        why = "no pair has a usable AI verdict"
        return {**out, **{name: reasons.null(name, why) for name in ESTIMANDS}}
    lab, unl = pairs.labeled, ~pairs.labeled
    y, level = pairs.y[lab], config.ci_level
    out["agreement"] = _estimate(y, pairs.f[lab], pairs.f[unl], 0.0, 1.0, level, reasons.scoped("agreement"))
    # e: the AI's error were the pair AI-labelled; routed pairs are human-labelled, so 0.
    e_lab = np.where(pairs.routed[lab], 0.0, 1.0 - y)
    e_pred = np.where(pairs.routed, 0.0, 1.0 - pairs.f)
    shift = 1.0 + e_lab.sum() / len(pairs.y)
    ai_labeled = int((unl & ~pairs.routed).sum())
    if ai_labeled:
        scoped = reasons.scoped("blended_accuracy")
        blend = _estimate(e_lab, e_pred[lab], e_pred[unl], shift, -1.0, level, scoped)
    else:
        blend = _all_human(len(y), int(unl.sum()), reasons.scoped("blended_accuracy"))
    out["blended_accuracy"] = {**blend, "ai_labeled_pairs": ai_labeled}
    return out


def _all_human(n: int, n_unlabeled: int, reasons: Reasons) -> dict:
    """No pair keeps an AI label: every final label is a human's, so the accuracy is 1 exactly."""
    why = "no pair keeps an AI label: every final label is human, the accuracy is exactly 1"
    out = {"n_labeled": n, "n_unlabeled": n_unlabeled, "classical": 1.0, "ppi": 1.0}
    for key in ("classical_ci95", "ppi_ci95", "lambda", "effective_n", "ess_gain"):
        out[key] = reasons.null(key, why)
    return out
