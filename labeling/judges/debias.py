"""Position debiasing: a pair judged in both orders gives one probability for `a` and a flag
for whether the winner survived the swap (a flip is a routing signal)."""

from __future__ import annotations

from dataclasses import dataclass

from labeling.judges.base import Verdict
from labeling.records import Choice, Order, VerdictStatus


@dataclass(frozen=True)
class DebiasedVerdict:
    """`p_a` (probability response_a is better) and `choice` are set exactly when both
    orders were judged OK; `flipped` is True when the two orders name different winners
    (a tie against a winner counts as different); `error` says which order failed."""

    status: VerdictStatus
    p_a: float | None
    choice: Choice | None
    flipped: bool
    error: str = ""


def debias(ab: Verdict, ba: Verdict, tie_margin: float = 0.0) -> DebiasedVerdict:
    """Combine the verdict for order `ab` (response_a shown first) with the one for `ba`.

    p_a = (p_first(ab) + (1 - p_first(ba))) / 2. The combined choice is `tie` when
    |p_a - 0.5| <= tie_margin, else the side p_a favours.
    """
    failed = [(name, v) for name, v in (("ab", ab), ("ba", ba)) if not v.ok]
    if failed:
        status = (
            VerdictStatus.ERROR
            if any(v.status is VerdictStatus.ERROR for _, v in failed)
            else VerdictStatus.UNPARSABLE
        )
        reason = "; ".join(f"order {name}: {v.status} ({v.error})" for name, v in failed)
        return DebiasedVerdict(status=status, p_a=None, choice=None, flipped=False, error=reason)
    assert ab.p_first is not None
    assert ba.p_first is not None
    p_a = (ab.p_first + (1.0 - ba.p_first)) / 2.0
    choice = Choice.TIE if abs(p_a - 0.5) <= tie_margin else Choice.A if p_a > 0.5 else Choice.B
    flipped = ab.pair_choice(Order.AB) != ba.pair_choice(Order.BA)
    return DebiasedVerdict(status=VerdictStatus.OK, p_a=p_a, choice=choice, flipped=flipped)
