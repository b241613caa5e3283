"""The weighted human majority and the vectorized majority (labeling.verdicts)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.records import Choice
from labeling.verdicts import CHOICE_ORDER, MISSING, human_majority, majority_codes, weighted_majority

A, B, T = Choice.A, Choice.B, Choice.TIE


def test_a_reliable_annotator_outweighs_two_unreliable_ones():
    votes = [A, B, B]
    assert human_majority(votes) is B
    assert weighted_majority(votes, [2.5, 1.0, 1.0]) is A
    assert weighted_majority(votes, [2.0, 1.0, 1.0]) is T  # shared top weight: the humans did not agree
    assert weighted_majority([], []) is None


def test_voters_all_weighted_out_say_nothing_but_a_tie():
    assert weighted_majority([A, B], [0.0, 0.0]) is T
    assert majority_codes(np.zeros((1, 3)), voted=np.array([True]))[0] == CHOICE_ORDER.index(T)
    assert majority_codes(np.zeros((1, 3)))[0] == MISSING  # no votes at all


def test_bad_weights_are_named():
    with pytest.raises(ValueError, match="2 votes but 1 weights"):
        weighted_majority([A, B], [1.0])
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        weighted_majority([A, B], [1.0, -0.5])
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        weighted_majority([A], [float("nan")])


VOTES = st.lists(st.sampled_from([A, B, T]), max_size=7)


@settings(max_examples=300, deadline=None)
@given(st.lists(VOTES, min_size=1, max_size=30))
def test_the_vectorized_majority_is_exactly_the_scalar_one(items):
    counts = np.array([[sum(v == c for v in votes) for c in CHOICE_ORDER] for votes in items])
    codes = majority_codes(counts)
    for votes, code in zip(items, codes, strict=True):
        expected = human_majority(votes)
        assert code == (MISSING if expected is None else CHOICE_ORDER.index(expected))
        assert weighted_majority(votes, [1.0] * len(votes)) == expected
