"""Position, verbosity, self-preference and formatting biases on judges built to have them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audits import build_report, formatting_flags
from audits.frames import _FORMAT_RE
from tests.audits.factories import judgments_frame, labels_frame


def test_always_first_judge_has_first_rate_one_and_no_consistency(always_first):
    position = build_report(always_first)["position"]
    assert position["first_rate"] == 1.0
    assert position["consistency"] == 0.0
    assert position["flip_rate"] == 1.0
    assert position["ci95"]["first_rate"] == [1.0, 1.0]


def test_perfect_judge_is_consistent_and_unbiased_in_position(truth, perfect):
    position = build_report(perfect)["position"]
    assert position["consistency"] == 1.0
    assert position["flip_rate"] == 0.0
    assert position["first_rate"] == pytest.approx(0.5)  # each verdict is first once


def test_tie_in_one_order_is_inconsistent_but_not_a_flip():
    judgments = judgments_frame(["a"] * 4, {"ab": ["a", "a", "tie", "b"], "ba": ["a", "tie", "tie", "a"]})
    position = build_report(judgments)["position"]
    assert position["consistency"] == pytest.approx(2 / 4)
    assert position["flip_rate"] == pytest.approx(1 / 4)
    assert position["tie_rate"] == pytest.approx(3 / 8)


def test_longer_always_wins_for_the_judge_but_not_for_humans():
    n = 40
    len_a = np.where(np.arange(n) % 2 == 0, 900, 100)
    len_b = 1000 - len_a
    longer = np.where(len_a > len_b, "a", "b").tolist()
    shorter = np.where(len_a > len_b, "b", "a").tolist()
    judgments = judgments_frame(longer, {"ab": longer, "ba": longer}, len_a=len_a, len_b=len_b)
    verbosity = build_report(judgments, labels_frame(shorter))["verbosity"]
    assert verbosity["longer_wins_ai"] == 1.0
    assert verbosity["longer_wins_human"] == 0.0
    assert verbosity["longer_wins_ai_on_labeled"] == 1.0
    assert verbosity["regression"]["ai"]["slope"] > 1.0
    assert verbosity["regression"]["human"]["slope"] < -1.0


def test_self_preference_uses_the_judge_family_in_model_names():
    truth = ["a", "b", "a", "b"]
    judgments = judgments_frame(
        truth,
        {"ab": ["a", "a", "a", "b"]},
        judge_family="gpt-4",
        model_a=["GPT-4-0613", "gpt-4", "llama", "mistral"],
        model_b=["llama", "claude", "gpt-4-turbo", "gpt-4"],
    )
    pref = build_report(judgments, labels_frame(truth))["self_preference"]
    # Own side chosen: pair0 yes, pair1 yes, pair2 no (chose llama), pair3 yes.
    assert pref["self_wins_ai"] == pytest.approx(3 / 4)
    assert pref["self_wins_human"] == pytest.approx(2 / 4)


def test_formatting_flags_detect_lists_and_markdown():
    texts = pd.Series(
        [
            "Plain answer.",
            "- one\n- two",
            "1. first",
            "## Title",
            "a **bold** b",
            None,
            "```code```",
            "5 - 3 = 2",
        ]
    )
    assert formatting_flags(texts).tolist() == [False, True, True, True, True, False, True, False]


def test_formatted_response_preference_judge_vs_humans():
    judgments = judgments_frame(
        ["a"] * 3, {"ab": ["a", "b", "a"]}, fmt_a=[True, True, False], fmt_b=[False, False, False]
    )
    fmt = build_report(judgments, labels_frame(["b", "b", "a"]))["formatting"]
    assert fmt["formatted_wins_ai"] == pytest.approx(1 / 2)
    assert fmt["formatted_wins_human"] == pytest.approx(0.0)
    assert fmt["n_ai"] == 2


def test_recorded_disagreement_without_direction_is_inconsistent_and_has_no_first_rate():
    """MT-Bench records one merged verdict; 'tie (inconsistent)' means the orders disagreed."""
    judgments = judgments_frame(
        ["a"] * 4,
        {"ab": ["a", "tie", "b", "tie"], "ba": ["a", "tie", "b", "tie"]},
        orders_disagree=[False, True, False, False],
        orders_merged=True,
    )
    report = build_report(judgments)
    position = report["position"]
    assert position["consistency"] == pytest.approx(3 / 4)
    assert position["n_orders_disagree_direction_unknown"] == 1
    assert position["first_rate"] is None
    assert "merged" in report["reasons"]["position.first_rate"]
    # which way each order went is unknown, so a reversal count would be a made-up zero
    assert position["flip_rate"] is None
    assert "merged" in report["reasons"]["position.flip_rate"]
    assert position["tie_rate"] == pytest.approx(4 / 8)
    # the slices read the same recorded disagreement, and per-order agreement is unknown too
    assert [row["consistency"] for row in report["slices"]["judge"]["rows"]] == [pytest.approx(3 / 4)]
    by_order = build_report(judgments, labels_frame(["a"] * 4))
    assert by_order["agreement"]["by_order"] == {"ab": None, "ba": None}
    assert "merged" in by_order["reasons"]["agreement.by_order.ab"]
    assert by_order["agreement"]["with_ties"] == pytest.approx(1 / 4)  # the merged verdicts count


MARKDOWN_BITS = ["-", "*", "+", "1", "2.", ")", "#", "##", "|", "`", "**", " ", "\t", "\n", "x", "\u2003"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(MARKDOWN_BITS), max_size=30).map("".join))
def test_formatting_flags_find_what_the_markdown_pattern_finds(text):
    """The fast scan flags exactly the responses the one pattern (`_FORMAT_RE`) matches, so a
    self-preference or formatting figure cannot change with how the flags are computed."""
    assert formatting_flags(pd.Series([text])).tolist() == [bool(_FORMAT_RE.search(text))]
