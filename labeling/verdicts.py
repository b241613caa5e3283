"""One definition of a pair's AI verdict and of the human majority.

The audit, routing and its escalation, the routing replay, the Argilla suggestion, the blend
and the export all ask two questions of a pair: what did the AI say, and what did the humans
say. Each answer is defined here once, as a scalar function for code that handles one pair at
a time and, for the AI verdict, a vectorized twin for the audit; a property test holds them
equal (tests/labeling/test_pair_verdicts.py).

**The AI's choice (the tie rule).** A pair judged in both orders gets the side both orders
name. When the orders disagree (a against b, a side against a tie, or only the record that
they disagreed, as MT-Bench's "tie (inconsistent)") the pair is `flipped` and its verdict is a
tie. One usable order alone gives its own choice; none gives no verdict (None). This is
MT-Bench's rule rather than a margin on the averaged probability, because:

- a verdict that changes with the presentation order is position bias, not a preference; with
  this rule "flipped" and "the AI says tie" are one fact, so a flipped pair is never suggested
  to an annotator as a side, never blended as an AI preference, and counts as a tie (wrong
  against a decided human) alike in the audit and in the escalation's slice accuracy. A margin
  on the average would hand a flipped pair the side of whichever order was more extreme (0.95
  for a shown first, 0.60 for b shown first averages to 0.675: "a") and needs a tuned margin;
- it needs no probability, so recorded hard verdicts (LLMBar, MT-Bench, PandaLM) take it too;
- it is the rule of the published MT-Bench agreement figures, which the README reproduces.

**The probability.** `p_a` is P(response a is better), debiased: the mean of p_first in order
ab and 1 - p_first in order ba, over the orders that have one (None when none does). It ranks
uncertainty for routing; where an audit fitted a calibration map, the map is applied to it,
and `confidence` is the calibrated probability of the chosen side (None for a tie). A map
changes how sure the AI is, never which side it picks.

**The human majority.** The choice with the most votes; when the top count is shared (one a,
one b) the humans did not agree, which is a tie; no votes, None. Leave-one-out holds each vote
out in turn as gold and takes the majority of the others as what a routed human would say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from labeling.records import Choice

# Integer codes of choices in vectorized code (audits.frames uses the same): a, b, tie; -1 none.
CHOICE_ORDER = (Choice.A, Choice.B, Choice.TIE)
A, B, TIE, MISSING = 0, 1, 2, -1


@dataclass(frozen=True)
class PairVerdict:
    """The AI's verdict on one pair: `choice` (None: no usable verdict), the debiased `p_a`
    (None: no order gave a probability) and whether the orders disagreed (`flipped`)."""

    choice: Choice | None
    p_a: float | None
    flipped: bool

    def confidence(self, p_a: float | None = None) -> float | None:
        """P(the chosen side is better) from `p_a` (calibrated, when given) or the raw p_a."""
        return confidence(self.choice, self.p_a if p_a is None else p_a)


def debiased_p(p_ab: float | None, p_ba: float | None) -> float | None:
    """P(a better): the mean of p_ab and 1 - p_ba over those given; None when neither is."""
    sides = [p for p in (p_ab, None if p_ba is None else 1.0 - p_ba) if p is not None and p == p]
    return sum(sides) / len(sides) if sides else None


def pair_verdict(
    c_ab: Choice | str | None,
    c_ba: Choice | str | None,
    p_ab: float | None = None,
    p_ba: float | None = None,
    orders_disagree: bool = False,
) -> PairVerdict:
    """The verdict from each order's usable choice (pair's terms) and p_first (None: unusable).

    `orders_disagree` is the record that the orders disagreed without saying how (MT-Bench).
    """
    present = [Choice(c) for c in (c_ab, c_ba) if c is not None]
    flipped = bool(present) and (orders_disagree or (len(present) == 2 and present[0] != present[1]))
    choice = None if not present else Choice.TIE if flipped else present[0]
    return PairVerdict(choice, debiased_p(p_ab, p_ba), flipped)


def confidence(choice: Choice | str | None, p_a: float | None) -> float | None:
    """P(the chosen side is better): p_a for a, 1 - p_a for b; None for a tie, no choice or no p.

    It can be below 0.5 when a calibration map moved p_a across 0.5: the AI is then less sure
    of its side than of the other, and no confidence threshold keeps it.
    """
    if p_a is None or choice is None or choice == Choice.TIE:
        return None
    return p_a if choice == Choice.A else 1.0 - p_a


def verdict_codes(
    c_ab: np.ndarray, c_ba: np.ndarray, orders_disagree: np.ndarray | None = None
) -> np.ndarray:
    """`pair_verdict(...).choice` for arrays of choice codes (A, B, TIE; MISSING: unusable), as int8."""
    out = np.where(c_ab >= 0, c_ab, c_ba)
    flipped = (c_ab >= 0) & (c_ba >= 0) & (c_ab != c_ba)
    if orders_disagree is not None:
        flipped |= np.asarray(orders_disagree, dtype=bool) & (out >= 0)
    return np.where(flipped, TIE, out).astype(np.int8)


def debiased_p_array(p_ab: np.ndarray, p_ba: np.ndarray) -> np.ndarray:
    """`debiased_p` for float arrays, NaN standing for None."""
    has_ab, has_ba = ~np.isnan(p_ab), ~np.isnan(p_ba)
    total = np.where(has_ab, p_ab, 0.0) + np.where(has_ba, 1.0 - p_ba, 0.0)
    count = has_ab.astype(np.int64) + has_ba
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def human_majority(votes: Iterable[Choice | str]) -> Choice | None:
    """The humans' label: the most voted choice, a tie when the top count is shared, None without votes."""
    top = Counter(Choice(v) for v in votes).most_common(2)
    if not top:
        return None
    if len(top) > 1 and top[0][1] == top[1][1]:
        return Choice.TIE
    return top[0][0]


def vote_share(votes: Iterable[Choice | str], choice: Choice | str) -> float:
    """Share of the decisive (a / b) votes behind `choice`; 0.5 for a tie or no decisive vote."""
    counts = Counter(Choice(v) for v in votes)
    decisive = counts[Choice.A] + counts[Choice.B]
    if choice == Choice.TIE or not decisive:
        return 0.5
    return counts[Choice(choice)] / decisive


def leave_one_out(votes: Sequence[Choice]) -> list[tuple[Choice, Choice]]:
    """(gold, what a routed human says) per held-out vote: the majority of the other votes.

    A single vote (an expert gold label) is its own answer: the routed human is taken as right.
    """
    if len(votes) == 1:
        return [(votes[0], votes[0])]
    out = []
    for i, gold in enumerate(votes):
        others = human_majority(votes[:i] + votes[i + 1 :])
        assert others is not None  # two votes or more: the others are never empty
        out.append((gold, others))
    return out


def weighted_majority(votes: Sequence[Choice | str], weights: Sequence[float]) -> Choice | None:
    """The humans' label with each vote weighted (e.g. by its annotator's Dawid-Skene reliability,
    `audits.annotators`): the choice with the largest total weight, a tie when the top total is
    shared, None without votes. Equal weights give `human_majority`.

    Raises ValueError when the weights do not match the votes one to one or one is negative or
    not finite (an annotator no better than chance gets weight 0, never a say against a side).
    """
    if len(votes) != len(weights):
        raise ValueError(
            f"weighted_majority: {len(votes)} votes but {len(weights)} weights; give one per vote"
        )
    totals = dict.fromkeys(CHOICE_ORDER, 0.0)
    for vote, weight in zip(votes, weights, strict=True):
        if not weight >= 0 or weight == float("inf"):
            raise ValueError(f"weighted_majority: weight {weight!r} must be a finite number >= 0")
        totals[Choice(vote)] += float(weight)
    if not votes:
        return None
    row = np.array([[totals[c] for c in CHOICE_ORDER]])
    return CHOICE_ORDER[int(majority_codes(row, voted=np.array([True]))[0])]


def majority_codes(counts: np.ndarray, voted: np.ndarray | None = None) -> np.ndarray:
    """`human_majority` (`weighted_majority` for weighted counts) per row of an items x 3 array of
    a / b / tie vote counts or weights, as codes: the top column, TIE when the top is shared,
    MISSING for a row without votes. `voted` says which rows have votes (default: a positive
    total); a voted row whose weights are all 0 (every voter weighted out) is a tie, its votes
    saying nothing."""
    counts = np.asarray(counts, dtype=float)
    voted = counts.sum(axis=1) > 0 if voted is None else np.asarray(voted, dtype=bool)
    top = counts.max(axis=1) if len(counts) else np.zeros(0)
    shared = (counts == top[:, None]).sum(axis=1) > 1
    out = np.where(shared, TIE, counts.argmax(axis=1) if len(counts) else np.zeros(0, dtype=np.int64))
    return np.where(voted, out, MISSING).astype(np.int8)
