"""Test data the platform tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tandem.core.models import Judgment, Pair

Prob = float | Callable[[int], float]


def judge_pairs(pairs: Iterable[Pair], p_ab: Prob, p_ba: Prob | None = None, *, judge: str = "j") -> None:
    """Store a judge's verdicts on `pairs` in both orders.

    `p_ab` / `p_ba` are the probabilities that the first-shown response is better (a number, or
    a function of the pair's index); the winner follows from them. `p_ba` defaults to `p_ab`: a
    judge that prefers whatever it is shown first, so its verdict flips under the swap.
    """
    rows = []
    for i, pair in enumerate(pairs):
        ab = p_ab(i) if callable(p_ab) else p_ab
        ba = ab if p_ba is None else p_ba(i) if callable(p_ba) else p_ba
        for order, p, first, second in (("ab", ab, "a", "b"), ("ba", ba, "b", "a")):
            rows.append(
                Judgment(
                    pair=pair,
                    judge=judge,
                    config_hash="h",
                    backend="hf",
                    order=order,
                    p_first=p,
                    choice=first if p > 0.5 else second,
                    status="ok",
                )
            )
    Judgment.objects.bulk_create(rows)
