"""Calibration: ECE and Brier by hand, the fitted map, and its serialized form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audits import CalibrationMap, apply_calibration, build_report, fit_calibration
from audits.calibration import reliability
from tests.audits.factories import judgments_frame, labels_frame


def test_ece_and_brier_on_a_tiny_table():
    p = np.array([0.9, 0.9, 0.1, 0.1])
    y = np.array([1.0, 0.0, 0.0, 0.0])
    curve, ece, brier = reliability(p, y, n_bins=10)
    # Bin 0.9: mean p 0.9, observed 0.5; bin 0.1: mean p 0.1, observed 0 -> (2*0.4 + 2*0.1)/4.
    assert ece == pytest.approx(0.25)
    assert brier == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)
    assert [b["n"] for b in curve] == [2, 2]


def test_temperature_cools_an_overconfident_judge():
    rng = np.random.default_rng(0)
    p = rng.choice([0.05, 0.95], size=4000)
    y = (rng.random(4000) < np.where(p > 0.5, 0.7, 0.3)).astype(float)
    fitted = fit_calibration(p, y, "temperature")
    assert fitted.temperature > 1.0
    assert fitted.apply(0.95) == pytest.approx(0.7, abs=0.03)
    platt = fit_calibration(p, y, "platt")
    assert platt.apply(0.05) == pytest.approx(0.3, abs=0.03)


def test_map_round_trips_through_json_and_applies():
    fitted = CalibrationMap("platt", scale=0.5, bias=0.2, eps=1e-3, n=10)
    params = json.loads(json.dumps(fitted.to_dict()))
    p = np.array([0.1, 0.5, 0.9])
    assert np.allclose(apply_calibration(params, p), fitted.apply(p))
    assert CalibrationMap().apply(0.8) == pytest.approx(0.8)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"valid methods are \['temperature', 'platt'\]"):
        fit_calibration(np.array([0.5]), np.array([1.0]), "isotonic")


def test_report_uses_p_a_debiased_over_orders():
    truth = ["a", "b"] * 10
    # p_first 0.9 in ab and 0.3 in ba (so p(a) = 0.7 there): debiased p(a) = 0.8 on every pair.
    judgments = judgments_frame(truth, {"ab": truth, "ba": truth})
    judgments["p_first"] = np.where(judgments["order"] == "ab", 0.9, 0.3)
    calibration = build_report(judgments, labels_frame(truth))["calibration"]
    assert [b["mean_p"] for b in calibration["curve"]] == [0.8]
    assert calibration["ece"] == pytest.approx(abs(0.8 - 0.5))
    assert calibration["map"]["method"] == "temperature"
