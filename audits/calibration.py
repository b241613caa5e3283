"""Can the judge's confidence be trusted? Reliability, ECE, Brier, and a fitted map.

The probability audited is P(response a is better), debiased by averaging over the two
orders (p_first in order ab, 1 - p_first in order ba), against the unbiased human votes
(a = 1, b = 0; tie votes are left out because they say neither). Each vote counts.

The fitted map is `sigmoid(scale * logit(p) + bias)`: temperature scaling fixes bias at 0
(symmetric in a and b, which is right when a / b is an arbitrary labeling), Platt fits
both. It serializes to a small dict so the blend step can apply it without this package's
fitting code: `CalibrationMap.from_dict(d).apply(p)`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from audits.config import AuditConfig
from audits.frames import TIE, UNBIASED_SAMPLES, A, join_on_pair, n_pairs, p_a_debiased, sample_mask
from audits.logistic import fit_logistic, sigmoid
from audits.values import Reasons, number

METHODS = ("temperature", "platt")


@dataclass(frozen=True)
class CalibrationMap:
    """p -> sigmoid(scale * logit(clip(p, eps, 1 - eps)) + bias); identity at scale 1, bias 0."""

    method: str = "temperature"
    scale: float = 1.0
    bias: float = 0.0
    eps: float = 1e-3
    n: int = 0

    def apply(self, p) -> np.ndarray:
        """Calibrated probabilities for an array (or scalar) of raw P(a better); NaN stays NaN."""
        p = np.clip(np.asarray(p, dtype=float), self.eps, 1 - self.eps)
        return sigmoid(self.scale * np.log(p / (1 - p)) + self.bias)

    @property
    def temperature(self) -> float | None:
        return 1.0 / self.scale if self.scale > 0 else None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["temperature"] = number(self.temperature)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> CalibrationMap:
        """Rebuild from `to_dict()` output; unknown keys (e.g. temperature) are ignored."""
        return cls(
            method=data["method"],
            scale=float(data["scale"]),
            bias=float(data["bias"]),
            eps=float(data.get("eps", 1e-3)),
            n=int(data.get("n", 0)),
        )


def apply_calibration(params: dict, p) -> np.ndarray:
    """Apply a serialized map (the `calibration.map` dict of a report) to probabilities."""
    return CalibrationMap.from_dict(params).apply(p)


def fit_calibration(
    p: np.ndarray, y: np.ndarray, method: str = "temperature", eps: float = 1e-3
) -> CalibrationMap:
    """Fit the map on probabilities `p` and outcomes `y` (1 = a better, 0 = b better).

    Raises ValueError on an unknown method or empty input.
    """
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; valid methods are {list(METHODS)}")
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    z = np.log(p / (1 - p))
    beta = fit_logistic(z, np.asarray(y, dtype=float), intercept=method == "platt")
    bias, scale = (beta[0], beta[1]) if method == "platt" else (0.0, beta[0])
    return CalibrationMap(method, float(scale), float(bias), eps, len(p))


def reliability(p: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[list[dict], float, float]:
    """Equal-width bins of p: mean p, observed rate and n per non-empty bin; ECE; Brier."""
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    n = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    filled = n > 0
    gap = np.abs(sum_p[filled] - sum_y[filled])
    ece = float(gap.sum() / len(p))
    brier = float(np.mean((p - y) ** 2))
    curve = [
        {
            "bin": [i / n_bins, (i + 1) / n_bins],
            "mean_p": number(sum_p[i] / n[i]),
            "observed": number(sum_y[i] / n[i]),
            "n": int(n[i]),
        }
        for i in np.flatnonzero(filled)
    ]
    return curve, ece, brier


def calibration_pairs(units: pd.DataFrame, votes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(p_a, y) per (unit, non-tie unbiased vote) where the unit has a probability."""
    code = votes["code"].to_numpy()
    fair = np.flatnonzero(sample_mask(votes, UNBIASED_SAMPLES) & (code != TIE))
    fair_pair, n, unit_pair = votes["pair"].to_numpy().take(fair), n_pairs(units), units["pair"].to_numpy()
    labeled = np.zeros(n, dtype=bool)
    labeled[fair_pair] = True
    rows = np.flatnonzero(labeled.take(unit_pair))  # only units a vote can meet
    p = p_a_debiased(units["p_ab"].to_numpy().take(rows), units["p_ba"].to_numpy().take(rows))
    has_p = ~np.isnan(p)
    rows, p = rows[has_p], p[has_p]
    unit, vote = join_on_pair(unit_pair.take(rows), fair_pair, n)
    return p.take(unit), (code.take(fair.take(vote)) == A).astype(float)


def calibration(units: pd.DataFrame, votes: pd.DataFrame, config: AuditConfig, reasons: Reasons) -> dict:
    """The `calibration` section: curve, ECE, Brier, and the fitted map (with in-sample ECE)."""
    has_p = ~(units["p_ab"].isna() & units["p_ba"].isna()).to_numpy()
    p, y = calibration_pairs(units, votes)
    if not len(p):
        why = (
            "no judge probability (p_first) on any usable verdict"
            if not has_p.any()
            else "no non-tie human vote (audit or imported) on a pair with a judge probability"
        )
        keys = ("ece", "brier", "curve", "map", "ece_after_map")
        return {"n": 0, **{k: reasons.null(k, why) for k in keys}}
    curve, ece, brier = reliability(p, y, config.calibration_bins)
    fitted = fit_calibration(p, y, config.calibration_method)
    _, ece_after, brier_after = reliability(fitted.apply(p), y, config.calibration_bins)
    return {
        "n": len(p),
        "ece": number(ece),
        "brier": number(brier),
        "curve": curve,
        "map": fitted.to_dict(),
        "ece_after_map": number(ece_after),
        "brier_after_map": number(brier_after),
        "note": "after-map numbers are in-sample",
    }
