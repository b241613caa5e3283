"""Routing replay: simulate routing policies on pairs that already have human labels.

For each policy: the share of pairs sent to humans, and the accuracy of the blended labels (the
human label where routed, the AI label elsewhere) against held-out human labels. Where a pair
has several human votes, each vote in turn is held out as the gold label and the majority of the
others is what the routed human would have said (leave-one-annotator-out); a pair with one vote
(an expert gold label) is taken as answered correctly when routed. The same number of randomly
chosen pairs is routed as a baseline: a policy is only worth its thresholds if it removes more
of the AI's errors than random routing at the same human budget. The AI's verdict (a flip is a
tie), the majority and leave-one-out are `labeling.verdicts`'s, as everywhere else.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from labeling.records import Choice
from labeling.routing import PairSignals, RoutingPolicy, route
from labeling.verdicts import human_majority, leave_one_out


@dataclass(frozen=True)
class ReplayItem:
    signals: PairSignals
    ai_choice: Choice | None  # the judge's verdict, `labeling.verdicts` (None: no usable verdict)
    votes: tuple[Choice, ...]  # every human vote on the pair


@dataclass(frozen=True)
class ReplayRow:
    policy: RoutingPolicy
    human_share: float
    accuracy: float  # blended labels vs held-out humans
    ai_only_accuracy: float
    random_accuracy: float  # the same number of pairs routed at random
    errors_removed: float  # share of the AI-only errors the policy's routing removes
    random_errors_removed: float

    @property
    def gain_over_random(self) -> float | None:
        if self.random_errors_removed <= 0:
            return None
        return self.errors_removed / self.random_errors_removed


def _accuracy(items: Sequence[ReplayItem], routed: set[int]) -> float:
    hits = total = 0
    for item in items:
        for gold, human in leave_one_out(item.votes):
            label = human if item.signals.pair_id in routed else item.ai_choice
            hits += label == gold
            total += 1
    return hits / total if total else float("nan")


def replay(
    items: Sequence[ReplayItem], policies: Sequence[RoutingPolicy], draws: int = 20
) -> list[ReplayRow]:
    signals = [item.signals for item in items]
    ai_only = _accuracy(items, set())
    rows = []
    for policy in policies:
        decisions, _ = route(signals, policy)
        routed = {d.pair_id for d in decisions if d.human}
        rng = random.Random(policy.seed)
        ids = [s.pair_id for s in signals]
        random_acc = sum(_accuracy(items, set(rng.sample(ids, len(routed)))) for _ in range(draws)) / draws
        accuracy = _accuracy(items, routed)
        errors = 1 - ai_only
        rows.append(
            ReplayRow(
                policy=policy,
                human_share=len(routed) / len(items),
                accuracy=accuracy,
                ai_only_accuracy=ai_only,
                random_accuracy=random_acc,
                errors_removed=(accuracy - ai_only) / errors if errors else 0.0,
                random_errors_removed=(random_acc - ai_only) / errors if errors else 0.0,
            )
        )
    return rows


def default_grid(seed: int = 0) -> list[RoutingPolicy]:
    """Uncertainty thresholds x audit rates, flips routed; no budget (the share is the output)."""
    return [
        RoutingPolicy(seed=seed, uncertainty=u, audit_rate=a)
        for u in (0.0, 0.1, 0.2, 0.3)
        for a in (0.0, 0.05, 0.1)
    ]


def format_table(rows: list[ReplayRow]) -> str:
    lines = [
        f"{'uncertainty':>11} {'audit':>6} {'human':>6} {'accuracy':>9} {'random':>7} "
        f"{'AI only':>8} {'errors removed':>15} {'random':>7} {'gain':>5}"
    ]
    for r in rows:
        gain = f"{r.gain_over_random:.1f}x" if r.gain_over_random else "-"
        lines.append(
            f"{r.policy.uncertainty:>11.2f} {r.policy.audit_rate:>6.2f} {r.human_share:>6.1%} "
            f"{r.accuracy:>9.1%} {r.random_accuracy:>7.1%} {r.ai_only_accuracy:>8.1%} "
            f"{r.errors_removed:>15.1%} {r.random_errors_removed:>7.1%} {gain:>5}"
        )
    return "\n".join(lines)


def budget_replay(
    items: Sequence[ReplayItem],
    budget: float,
    mode: str,
    *,
    seed: int = 0,
    uncertainty: float = 0.1,
    audit_share: float = 0.2,
    bar: float = 0.6,
    draws: int = 20,
) -> tuple[float, float, float]:
    """(accuracy, AI-only accuracy, share of the AI-only errors removed) at a human budget.

    Every mode spends the whole budget (`fill_budget`), so they compare at equal cost.
    `mode`: `random` (budget spent on random pairs, averaged over `draws`), `uncertainty` (by
    the policy's priority: failures, flips, then closeness to 0.5), or `escalation` (a random
    blind audit sample of `audit_share` of the budget first, which counts against it; slices
    whose audited accuracy's upper bound is below `bar` are escalated; the rest by priority).
    """
    ids = [item.signals.pair_id for item in items]
    capacity = round(budget * len(items))
    ai_only = _accuracy(items, set())
    if mode == "random":
        rng = random.Random(seed)
        accuracy = sum(_accuracy(items, set(rng.sample(ids, capacity))) for _ in range(draws)) / draws
    elif mode == "uncertainty":
        policy = RoutingPolicy(
            seed=seed, uncertainty=uncertainty, audit_rate=0.0, budget_items=capacity, fill_budget=True
        )
        accuracy = _accuracy(items, _routed(items, policy))
    elif mode == "escalation":
        accuracy = _accuracy(items, _escalation_routing(items, capacity, seed, uncertainty, audit_share, bar))
    else:
        raise ValueError(f"unknown replay mode {mode!r}; use random, uncertainty or escalation")
    errors = 1 - ai_only
    return accuracy, ai_only, (accuracy - ai_only) / errors if errors else 0.0


def _routed(items: Sequence[ReplayItem], policy: RoutingPolicy, audits=None) -> set[int]:
    decisions, _ = route([item.signals for item in items], policy, audits)
    return {d.pair_id for d in decisions if d.human}


def _escalation_routing(items, capacity, seed, uncertainty, audit_share, bar) -> set[int]:
    from labeling.routing import SliceAudit

    rng = random.Random(seed)
    n_audit = min(capacity, max(1, round(audit_share * capacity))) if capacity else 0
    audited = rng.sample(range(len(items)), n_audit)
    by_slice: dict[str, list[bool]] = {}
    for i in audited:
        item = items[i]
        by_slice.setdefault(item.signals.slice_key, []).append(item.ai_choice == human_majority(item.votes))
    audits = {key: SliceAudit(key, len(hits), sum(hits)) for key, hits in by_slice.items()}
    rest = [item for i, item in enumerate(items) if i not in set(audited)]
    policy = RoutingPolicy(
        seed=seed,
        uncertainty=uncertainty,
        audit_rate=0.0,
        budget_items=capacity - n_audit,
        escalation_bar=bar,
        fill_budget=True,
    )
    return {items[i].signals.pair_id for i in audited} | _routed(rest, policy, audits)
