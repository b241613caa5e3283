"""Prediction-powered intervals in the audit (audits.ppi): valid, narrower with a good judge,
and honest about what they cannot say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audits import build_report, render_html, render_text
from audits.ppi import MIN_LABELED, classical_mean, ppi_mean
from tests.audits.factories import labels_frame


def test_the_estimator_is_ppi_pythons():
    """Numbers from ppi-python 0.2.3 on the same data (`ppi_mean_ci`, `classical_mean_ci`,
    alpha=0.05), computed in a separate environment, since the package is not a dependency."""
    rng = np.random.default_rng(3)
    f_all = rng.uniform(0.4, 1.0, size=1000)
    y_all = (rng.random(1000) < f_all * 0.9).astype(float)
    y, f, f_unlabeled = y_all[:80], f_all[:80], f_all[80:]
    tuned, lam = ppi_mean(y, f, f_unlabeled)
    assert tuned.estimate == pytest.approx(0.62681207, abs=1e-8)
    assert (tuned.low, tuned.high) == pytest.approx((0.5275168234274241, 0.726107312691161), abs=1e-12)
    assert 0 < lam < 1
    plain, _ = ppi_mean(y, f, f_unlabeled, lam=1.0)
    assert (plain.low, plain.high) == pytest.approx((0.5261090837085274, 0.7248190243949788), abs=1e-12)
    classical = classical_mean(y)
    assert (classical.low, classical.high) == pytest.approx(
        (0.5321590580338784, 0.7428409419661215), abs=1e-12
    )


def _judge(n: int, seed: int, informative: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """A judge sure (0.99) on half the pairs and guessing (0.5) on the rest, its stated confidence
    being its real chance of being right (or, not informative, right 75% of the time throughout)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(["a", "b"], size=n)
    conf = rng.choice([0.5, 0.99], size=n)
    right = rng.random(n) < (conf if informative else 0.75)
    said = np.where(right, truth, np.where(truth == "a", "b", "a"))
    p_a = np.where(said == "a", conf, 1 - conf)
    rows = pd.DataFrame(
        {
            "pair_id": np.tile(np.arange(n), 2),
            "judge": "j",
            "order": ["ab"] * n + ["ba"] * n,
            "status": "ok",
            "choice": np.tile(said, 2),
            "p_first": np.concatenate([p_a, 1 - p_a]),
        }
    )
    return rows, list(truth)


def test_a_calibrated_judge_narrows_the_interval_and_the_gain_is_stated():
    judgments, truth = _judge(3000, seed=5)
    report = build_report(judgments, labels_frame(truth[:200]), judge="j")
    agreement = report["ppi"]["agreement"]
    ppi_width = agreement["ppi_ci95"][1] - agreement["ppi_ci95"][0]
    classical_width = agreement["classical_ci95"][1] - agreement["classical_ci95"][0]
    assert ppi_width < 0.9 * classical_width
    assert agreement["ess_gain"] > 1.25
    assert agreement["effective_n"] == pytest.approx(200 * agreement["ess_gain"], rel=1e-3)
    assert agreement["n_labeled"] == 200 and agreement["n_unlabeled"] == 2800
    text = render_text(report)
    assert "Agreement, PPI++ (audit + AI-only pairs)" in text
    assert "Blended dataset accuracy, PPI++" in text
    assert "Blended dataset accuracy, PPI++" in render_html(report)


def test_the_intervals_cover_the_truth_over_repeated_audits():
    """95% intervals, 300 audits of 100 pairs from one project of 2,000: both kinds cover the
    project's agreement in about 95% of them, also when the confidence says nothing."""
    for informative in (True, False):
        judgments, truth = _judge(2000, seed=11, informative=informative)
        said = judgments["choice"].to_numpy()[:2000]
        y = (said == np.array(truth)).astype(float)
        f = np.where(
            said == "a", judgments["p_first"].to_numpy()[:2000], 1 - judgments["p_first"].to_numpy()[:2000]
        )
        rng = np.random.default_rng(0)
        hits = {"ppi": 0, "classical": 0}
        for _ in range(300):
            pick = np.zeros(2000, dtype=bool)
            pick[rng.choice(2000, size=100, replace=False)] = True
            tuned, _ = ppi_mean(y[pick], f[pick], f[~pick])
            classical = classical_mean(y[pick])
            hits["ppi"] += tuned.low <= y.mean() <= tuned.high
            hits["classical"] += classical.low <= y.mean() <= classical.high
        assert 0.90 <= hits["ppi"] / 300 <= 0.99
        assert 0.90 <= hits["classical"] / 300 <= 0.99


def test_too_few_labels_and_routed_labels_give_reasons_not_numbers():
    judgments, truth = _judge(300, seed=2)
    few = build_report(judgments, labels_frame(truth[:10]), judge="j")
    assert few["ppi"]["agreement"]["ppi"] is None
    assert few["reasons"]["ppi.agreement.ppi"] == (
        f"10 labelled pair(s) in the unbiased sample: an interval needs at least {MIN_LABELED}"
    )
    routed = build_report(judgments, labels_frame(truth[:100], sample="routed"), judge="j")
    assert routed["ppi"]["n_labeled"] == 0  # chosen for doubt: never an unbiased sample
    assert routed["ppi"]["n_routed"] == 100
    assert routed["reasons"]["ppi.blended_accuracy.ppi"].startswith("0 labelled pair(s)")


def test_blended_accuracy_counts_human_labels_right_and_estimates_the_rest():
    judgments, truth = _judge(1000, seed=4)
    audit = labels_frame(truth[:100])
    routed = labels_frame(truth[100:400], sample="routed", pair_ids=np.arange(100, 400))
    report = build_report(judgments, pd.concat([audit, routed], ignore_index=True), judge="j")
    blend = report["ppi"]["blended_accuracy"]
    assert blend["ai_labeled_pairs"] == 600
    said = judgments["choice"].to_numpy()[:1000]
    ai_right = (said == np.array(truth))[400:].sum()
    true_accuracy = (400 + ai_right) / 1000
    low, high = blend["ppi_ci95"]
    assert low <= true_accuracy <= high
    assert blend["ppi"] > report["ppi"]["agreement"]["ppi"]  # 40% of the labels are human


def test_every_pair_labelled_leaves_nothing_to_add():
    judgments, truth = _judge(100, seed=6)
    report = build_report(judgments, labels_frame(truth, sample="imported"), judge="j")
    assert report["ppi"]["agreement"]["classical"] is not None
    assert report["reasons"]["ppi.agreement.ppi"] == (
        "every pair with a verdict has an unbiased human label: no AI-only pair to add"
    )
    assert report["ppi"]["blended_accuracy"]["ppi"] == 1.0
