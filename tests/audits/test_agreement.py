"""Agreement with humans and among humans, on tables whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from audits import build_report
from audits.agreement import kappa_from_cells, krippendorff_alpha_nominal, vote_counts
from tests.audits.factories import judgments_frame, labels_frame


def test_perfect_judge_agrees_fully(truth, perfect):
    agreement = build_report(perfect, labels_frame(truth))["agreement"]
    assert agreement["with_ties"] == 1.0
    assert agreement["without_ties"] == 1.0
    assert agreement["by_order"] == {"ab": 1.0, "ba": 1.0}
    assert agreement["mean_over_orders"] == 1.0
    assert agreement["cohen_kappa"] == 1.0
    assert agreement["ci95"]["with_ties"] == [1.0, 1.0]


def test_always_first_judge_agrees_only_where_first_is_right(truth, always_first):
    report = build_report(always_first, labels_frame(truth))
    share_a = np.mean(np.array(truth) == "a")
    # Orders always disagree, so the combined verdict is a tie and never matches a/b votes.
    assert report["agreement"]["with_ties"] == 0.0
    assert report["agreement"]["without_ties"] is None
    assert report["agreement"]["by_order"]["ab"] == pytest.approx(share_a)
    assert report["agreement"]["by_order"]["ba"] == pytest.approx(1 - share_a)
    assert report["agreement"]["mean_over_orders"] == pytest.approx(0.5)


def test_each_human_vote_counts_and_ties_split_the_two_rates():
    truth = ["a", "b", "a", "b"]
    judgments = judgments_frame(truth, {"ab": ["a", "b", "tie", "a"], "ba": ["a", "b", "tie", "a"]})
    labels = pd.concat(
        [labels_frame(truth, annotator="h1"), labels_frame(["a", "tie"], annotator="h2", pair_ids=[0, 1])]
    )
    agreement = build_report(judgments, labels)["agreement"]
    # 6 comparisons: pair0 a/a (x2 agree), pair1 b/b agree, b/tie no, pair2 tie/a no, pair3 a/b no.
    assert agreement["n_comparisons"] == 6
    assert agreement["with_ties"] == pytest.approx(3 / 6)
    # Without ties: pair0 x2, pair1 h1, pair3 -> 3 agree of 4.
    assert agreement["without_ties"] == pytest.approx(3 / 4)
    assert agreement["confusion"]["matrix"] == [[2, 1, 0], [0, 1, 1], [1, 0, 0]]


def test_kappa_matches_hand_computation_and_sklearn():
    judge = ["a", "a", "b", "b", "tie", "a", "b", "a"]
    human = ["a", "b", "b", "b", "a", "a", "tie", "a"]
    # Observed 5/8; expected from marginals judge (4,3,1), human (4,3,1): (16+9+1)/64.
    p_o, p_e = 5 / 8, 26 / 64
    expected = (p_o - p_e) / (1 - p_e)
    report = build_report(judgments_frame(human, {"ab": judge}), labels_frame(human))
    assert report["agreement"]["cohen_kappa"] == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(cohen_kappa_score(judge, human))


def test_kappa_is_undefined_when_both_sides_use_one_category():
    cells = np.zeros(9)
    cells[0] = 5
    assert np.isnan(kappa_from_cells(cells)[0])


def test_krippendorff_alpha_matches_krippendorffs_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha", nominal example: alpha = 0.743.
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    counts = np.zeros((12, 5))
    for row in coders:
        for unit, value in enumerate(row):
            if value is not None:
                counts[unit, value - 1] += 1
    assert krippendorff_alpha_nominal(counts) == pytest.approx(0.743, abs=5e-4)


def test_human_human_agreement_counts_vote_pairs():
    labels = pd.DataFrame(
        {
            "pair_id": [0, 0, 0, 1, 1, 2],
            "annotator": ["x", "y", "z", "x", "y", "x"],
            "choice": ["a", "a", "tie", "b", "a", "a"],
            "sample": "audit",
        }
    )
    judgments = judgments_frame(["a"] * 3, {"ab": ["a"] * 3})
    hh = build_report(judgments, labels)["human_human"]
    # Pair 0: 3 vote pairs, 1 agreeing; pair 1: 1 pair, 0 agreeing; pair 2 has one vote.
    assert hh["n_items"] == 2
    assert hh["agreement"] == pytest.approx(1 / 4)
    # Without ties: pair 0 keeps (a, a) -> 1 of 1; pair 1 (b, a) -> 0 of 1.
    assert hh["agreement_without_ties"] == pytest.approx(1 / 2)
    counts = vote_counts(pd.DataFrame({"pair_id": [0, 0, 0, 1, 1], "code": [0, 0, 2, 1, 0]}))
    # Alpha itself is pinned by the worked example above; here it must use the same votes.
    assert hh["krippendorff_alpha"] == pytest.approx(krippendorff_alpha_nominal(counts), abs=1e-6)


def test_routed_votes_are_reported_apart_as_selected(truth, perfect):
    labels = pd.concat(
        [
            labels_frame(truth[:20], pair_ids=range(20)),
            labels_frame(
                ["b" if t == "a" else "a" for t in truth[20:]], sample="routed", pair_ids=range(20, 40)
            ),
        ]
    )
    report = build_report(perfect, labels)
    assert report["agreement"]["with_ties"] == 1.0
    assert report["selected"]["with_ties"] == 0.0
    assert report["selected"]["sample"].startswith("selected")
    assert report["samples"]["votes"] == {"audit": 20, "routed": 20, "imported": 0}


def test_intervals_are_seeded_and_contain_the_estimate(truth):
    noisy = [t if i % 4 else ("b" if t == "a" else "a") for i, t in enumerate(truth)]
    judgments = judgments_frame(truth, {"ab": noisy, "ba": noisy})
    first = build_report(judgments, labels_frame(truth))["agreement"]
    again = build_report(judgments, labels_frame(truth))["agreement"]
    low, high = first["ci95"]["with_ties"]
    assert first["ci95"] == again["ci95"]
    assert low < first["with_ties"] < high
