"""The one definition of a pair's AI verdict and of the human majority (labeling.verdicts)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.records import Choice
from labeling.verdicts import (
    CHOICE_ORDER,
    MISSING,
    confidence,
    debiased_p,
    debiased_p_array,
    human_majority,
    leave_one_out,
    pair_verdict,
    verdict_codes,
    vote_share,
)

A, B, T = Choice.A, Choice.B, Choice.TIE


@pytest.mark.parametrize(
    ("c_ab", "c_ba", "disagree", "choice", "flipped"),
    [
        (A, A, False, A, False),  # both orders name a
        (A, B, False, T, True),  # a full reversal: position bias, no side
        (A, T, False, T, True),  # a side against a tie is a flip too
        (T, T, False, T, False),  # a tie in both orders is a consistent tie
        (B, None, False, B, False),  # one usable order: its own choice
        (None, None, False, None, False),  # no usable order: no verdict
        (T, T, True, T, True),  # MT-Bench's "tie (inconsistent)": recorded as disagreeing
    ],
)
def test_the_tie_rule(c_ab, c_ba, disagree, choice, flipped):
    verdict = pair_verdict(c_ab, c_ba, orders_disagree=disagree)
    assert (verdict.choice, verdict.flipped) == (choice, flipped)


def test_a_flipped_pair_is_a_tie_whatever_its_averaged_probability_favours():
    # 0.95 for a shown first, 0.60 for b shown first: the average (0.675) leans to a, but the
    # orders disagree, so the AI has no side to suggest, blend or score.
    verdict = pair_verdict(A, B, 0.95, 0.60)
    assert verdict.p_a == pytest.approx(0.675)
    assert (verdict.choice, verdict.flipped, verdict.confidence()) == (T, True, None)


def test_confidence_is_the_probability_of_the_chosen_side_raw_or_calibrated():
    verdict = pair_verdict(B, B, 0.2, 0.7)  # p_a = (0.2 + 0.3) / 2
    assert verdict.p_a == pytest.approx(0.25)
    assert verdict.confidence() == pytest.approx(0.75)
    assert verdict.confidence(0.4) == pytest.approx(0.6)  # a calibrated p_a
    assert confidence(A, 0.3) == pytest.approx(0.3)  # a map moved p across 0.5: less than even
    assert confidence(A, None) is None and confidence(None, 0.9) is None


def test_the_debiased_probability_uses_whichever_orders_have_one():
    assert debiased_p(0.8, 0.4) == pytest.approx(0.7)
    assert debiased_p(None, 0.4) == pytest.approx(0.6)
    assert debiased_p(0.8, float("nan")) == pytest.approx(0.8)
    assert debiased_p(None, None) is None


def test_human_majority_ties_and_leave_one_out():
    assert human_majority([]) is None
    assert human_majority(["a", "a", "b"]) is A
    assert human_majority(["a", "b"]) is T  # the humans did not agree
    assert human_majority(["tie", "tie", "a"]) is T
    assert vote_share(["a", "a", "b", "tie"], A) == pytest.approx(2 / 3)
    assert vote_share(["a", "b"], T) == 0.5
    assert leave_one_out((A,)) == [(A, A)]  # an expert's single gold label
    assert leave_one_out((A, A, B)) == [(A, T), (A, T), (B, A)]


CODES = st.sampled_from([MISSING, 0, 1, 2])
PROBS = st.one_of(st.just(float("nan")), st.floats(0.0, 1.0))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(CODES, CODES, st.booleans(), PROBS, PROBS), min_size=1, max_size=50))
def test_the_vectorized_verdict_is_exactly_the_scalar_one(rows):
    """The audit's array path and the per-pair path give the same choice and probability."""
    c_ab, c_ba, disagree, p_ab, p_ba = (np.array(col) for col in zip(*rows, strict=True))
    codes = verdict_codes(c_ab.astype(np.int8), c_ba.astype(np.int8), disagree)
    probs = debiased_p_array(p_ab.astype(float), p_ba.astype(float))
    for i, (ab, ba, flag, pab, pba) in enumerate(rows):
        verdict = pair_verdict(
            CHOICE_ORDER[ab] if ab >= 0 else None,
            CHOICE_ORDER[ba] if ba >= 0 else None,
            None if np.isnan(pab) else pab,
            None if np.isnan(pba) else pba,
            orders_disagree=flag,
        )
        expected = CHOICE_ORDER.index(verdict.choice) if verdict.choice is not None else MISSING
        assert codes[i] == expected
        if verdict.p_a is None:
            assert np.isnan(probs[i])
        else:
            assert probs[i] == pytest.approx(verdict.p_a, abs=1e-12)
