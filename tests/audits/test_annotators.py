"""Annotators measured (audits.annotators): Dawid-Skene reliability and the weighted majority."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audits import AuditConfig, AuditInputError, build_report, render_html, render_text
from audits.annotators import dawid_skene, majority_weights, weighted_majority_codes
from labeling.verdicts import majority_codes
from tests.audits.factories import judgments_frame


def _votes(truth: np.ndarray, accuracy: list[float], per_item: int, seed: int) -> np.ndarray:
    """(item, annotator, choice) rows: `per_item` distinct annotators per item, each right with
    their own accuracy and otherwise picking one of the two wrong choices at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, t in enumerate(truth):
        for w in rng.choice(len(accuracy), size=per_item, replace=False):
            said = t if rng.random() < accuracy[w] else rng.choice([c for c in range(3) if c != t])
            rows.append((i, int(w), int(said)))
    return np.array(rows)


def test_the_model_is_crowd_kits():
    """Numbers from crowd-kit 1.4.2's `DawidSkene(n_iter=100, tol=1e-5)` on the same votes,
    computed in a separate environment, since the package is not a dependency."""
    rng = np.random.default_rng(7)
    truth = rng.choice(3, size=60, p=[0.45, 0.4, 0.15])
    rows = []
    for i, t in enumerate(truth):
        for w in rng.choice(4, size=3, replace=False):
            said = (
                t if rng.random() < [0.9, 0.8, 0.6, 0.45][w] else rng.choice([c for c in range(3) if c != t])
            )
            rows.append((i, int(w), int(said)))
    votes = np.array(rows)
    model = dawid_skene(votes[:, 0], votes[:, 1], votes[:, 2])
    assert model.priors == pytest.approx([0.43296691, 0.4265676, 0.14046549], abs=1e-7)
    diagonals = [
        [0.74392772, 0.84603745, 0.60314377],
        [1.0, 0.75822989, 0.99878852],
        [0.67715788, 0.57450637, 0.74881557],
        [0.25090602, 0.31103148, 0.5911978],
    ]
    for w, expected in enumerate(diagonals):
        assert np.diag(model.errors[w]) == pytest.approx(expected, abs=1e-7)
    assert model.iterations == 52


def test_a_careless_annotator_is_found_and_weighted_out():
    truth = np.random.default_rng(0).choice(2, size=400)
    accuracy = [0.95, 0.9, 0.85, 0.15]  # the last one is worse than chance (1/3)
    votes = _votes(truth, accuracy, per_item=3, seed=1)
    item, worker, label = votes.T
    model = dawid_skene(item, worker, label)
    assert list(np.argsort(-model.accuracy)) == [0, 1, 2, 3]
    assert model.accuracy[3] < 1 / 3
    weights = majority_weights(model.accuracy, np.bincount(worker))
    assert weights[3] == 0.0  # no say at or below chance
    plain = majority_codes(np.bincount(item * 3 + label, minlength=len(truth) * 3).reshape(-1, 3))
    weighted = weighted_majority_codes(item, worker, label, weights, len(truth))
    assert (weighted == truth).mean() > (plain == truth).mean() + 0.03


def _frames(n: int = 120) -> tuple[pd.DataFrame, pd.DataFrame]:
    truth = np.random.default_rng(3).choice(["a", "b"], size=n)
    judged = judgments_frame(list(truth), {"ab": list(truth), "ba": list(truth)})
    codes = np.where(truth == "a", 0, 1)
    votes = _votes(codes, [0.95, 0.9, 0.6], per_item=2, seed=4)
    labels = pd.DataFrame(
        {
            "pair_id": votes[:, 0],
            "annotator": [f"ann{w}" for w in votes[:, 1]],
            "choice": np.array(["a", "b", "tie"])[votes[:, 2]],
            "sample": "audit",
        }
    )
    return judged, labels


def test_the_report_lists_each_annotators_reliability_most_reliable_first():
    judged, labels = _frames()
    report = build_report(judged, labels, judge="j")
    section = report["annotators"]
    assert section["n_annotators"] == 3 and section["n_items_overlapping"] == 120
    names = [row["annotator"] for row in section["by_annotator"]]
    assert names[-1] == "ann2"  # the 60% annotator
    assert all(row["n_votes"] == row["n_votes_overlapping"] > 0 for row in section["by_annotator"])
    assert sum(row["n_votes"] for row in section["by_annotator"]) == 240
    assert "Annotators (Dawid-Skene reliability" in render_text(report)
    assert "<td>ann2</td>" in render_html(report)


def test_no_overlap_says_why_there_is_no_reliability():
    judged, labels = _frames()
    single = labels.drop_duplicates("pair_id")
    report = build_report(judged, single, judge="j")
    assert report["annotators"]["by_annotator"] is None
    assert report["reasons"]["annotators.by_annotator"] == (
        "no item has two or more human votes: reliability needs overlapping labels"
    )
    assert "needs overlapping labels" in render_html(report)


def test_bad_votes_are_refused_with_the_valid_codes():
    with pytest.raises(ValueError, match="choice codes 0 \\(a\\), 1 \\(b\\), 2 \\(tie\\)"):
        dawid_skene([0, 1], [0, 0], [0, 3])
    with pytest.raises(ValueError, match="aligned, non-empty"):
        dawid_skene([], [], [])


def test_gold_items_pin_their_answer_and_sharpen_the_estimate():
    """Items with a known answer (gold) are held at it throughout EM, so the annotators who
    miss them are found even when they are the majority there."""
    truth = np.random.default_rng(5).choice(2, size=60)
    votes = _votes(truth, [0.95, 0.4, 0.4], per_item=3, seed=6)
    item, worker, label = votes.T
    gold = {int(i): int(truth[i]) for i in range(60)}
    model = dawid_skene(item, worker, label, gold=gold)
    assert np.array_equal(model.posteriors[:60].argmax(axis=1), truth)
    assert model.accuracy[0] > 0.9 > 0.5 > max(model.accuracy[1], model.accuracy[2])


def _with_gold(labels: pd.DataFrame, answers: dict[str, list[str]], known: list[str]) -> pd.DataFrame:
    """`labels` plus, per annotator, votes `answers[name]` on gold items 1000.. whose known
    answers are `known` (items no judge saw, as a gold pair usually is)."""
    rows = [
        {"pair_id": 1000 + i, "annotator": name, "choice": said, "sample": "gold", "gold": known[i]}
        for name, said_list in answers.items()
        for i, said in enumerate(said_list)
    ]
    return pd.concat([labels.assign(gold=""), pd.DataFrame(rows)], ignore_index=True)


def test_gold_items_score_each_annotator_with_a_wilson_interval_and_flag_the_inaccurate():
    """2 of 10 gold items right: 20%, Wilson 95% interval [5.7%, 51.0%], wholly below the 70% bar:
    flagged. 10 of 10: [72.2%, 100%]: not. 6 of 10 (60%, interval up to 83.2%): not flagged
    either, since the bar is inside its interval."""
    judged, labels = _frames()
    known = ["a"] * 10
    answers = {"ann0": ["a"] * 10, "ann2": ["a"] * 2 + ["b"] * 8, "ann1": ["a"] * 6 + ["tie"] * 4}
    report = build_report(judged, _with_gold(labels, answers, known), judge="j")
    rows = {row["annotator"]: row for row in report["annotators"]["gold"]}
    assert [row["annotator"] for row in report["annotators"]["gold"]] == ["ann2", "ann1", "ann0"]
    assert (rows["ann2"]["correct"], rows["ann2"]["accuracy"], rows["ann2"]["flagged"]) == (2, 0.2, True)
    assert rows["ann2"]["ci95"] == pytest.approx([0.0567, 0.5098], abs=1e-3)
    assert rows["ann0"]["ci95"] == pytest.approx([0.7225, 1.0], abs=1e-3) and not rows["ann0"]["flagged"]
    assert rows["ann1"]["ci95"][1] == pytest.approx(0.8318, abs=1e-3) and not rows["ann1"]["flagged"]
    # the judge's agreement is scored on the same votes as without gold
    assert report["agreement"] == build_report(judged, labels, judge="j")["agreement"]
    stricter = build_report(
        judged, _with_gold(labels, answers, known), "j", AuditConfig(gold_min_accuracy=0.9)
    )
    assert [r["annotator"] for r in stricter["annotators"]["gold"] if r["flagged"]] == ["ann2", "ann1"]


def test_gold_answers_are_pinned_in_dawid_skene():
    """Two annotators agree on every item, a third disagrees: without gold the pair wins; gold
    items on which the third is right and the pair wrong turn the estimate round."""
    items = range(30)
    labels = pd.DataFrame(
        [
            {"pair_id": i, "annotator": name, "choice": said, "sample": "audit"}
            for i in items
            for name, said in (("x", "a"), ("y", "a"), ("z", "b"))
        ]
    )
    judged = judgments_frame(["a"] * 30, {"ab": ["a"] * 30, "ba": ["a"] * 30})
    plain = {
        r["annotator"]: r["reliability"]
        for r in build_report(judged, labels, "j")["annotators"]["by_annotator"]
    }
    assert plain["x"] > plain["z"]
    answers = {"x": ["a"] * 30, "y": ["a"] * 30, "z": ["b"] * 30}
    gold = build_report(judged, _with_gold(labels, answers, ["b"] * 30), "j")["annotators"]
    pinned = {r["annotator"]: r["reliability"] for r in gold["by_annotator"]}
    assert pinned["z"] > pinned["x"]
    report = build_report(judged, _with_gold(labels, answers, ["b"] * 30), "j")
    assert (
        "FLAGGED" in [line for line in render_text(report).splitlines() if line.strip().startswith("x ")][-1]
    )


def test_a_bad_gold_answer_is_refused_naming_the_column():
    judged, labels = _frames(10)
    with pytest.raises(
        AuditInputError, match=r"column 'gold \(on votes of sample gold\)' has values \['c'\]"
    ):
        build_report(judged, _with_gold(labels, {"ann0": ["a"]}, ["c"]), judge="j")
