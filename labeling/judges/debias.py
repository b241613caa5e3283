"""Position debiasing: a pair judged in both orders gives one verdict, by the one definition in
`labeling.verdicts` (the debiased probability, the flip, the choice with its tie rule)."""

from __future__ import annotations

from dataclasses import dataclass

from labeling.judges.base import Verdict
from labeling.records import Choice, Order, VerdictStatus
from labeling.verdicts import pair_verdict


@dataclass(frozen=True)
class DebiasedVerdict:
    """`p_a` (probability response_a is better) and `choice` are set exactly when both
    orders were judged OK; `flipped` is True when the two orders name different winners
    (a tie against a winner counts as different), and then `choice` is a tie; `error` says
    which order failed."""

    status: VerdictStatus
    p_a: float | None
    choice: Choice | None
    flipped: bool
    error: str = ""


def debias(ab: Verdict, ba: Verdict) -> DebiasedVerdict:
    """Combine the verdict for order `ab` (response_a shown first) with the one for `ba`.

    p_a = (p_first(ab) + (1 - p_first(ba))) / 2; the choice is the side both orders name, a tie
    when they disagree (`labeling.verdicts.pair_verdict`).
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
    verdict = pair_verdict(ab.pair_choice(Order.AB), ba.pair_choice(Order.BA), ab.p_first, ba.p_first)
    return DebiasedVerdict(
        status=VerdictStatus.OK, p_a=verdict.p_a, choice=verdict.choice, flipped=verdict.flipped
    )
