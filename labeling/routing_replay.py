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
from statistics import NormalDist

from labeling.records import Choice
from labeling.routing import PairSignals, Reason, RoutingPolicy, SliceAudit, route, unit_hash, wilson
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
    the policy's priority: failures, flips, then closeness to 0.5), or `escalation`
    (`escalation_routing`: uncertainty routing whose tie-broken tail is spent on a blind audit
    and on the slices it finds worse than the pairs they displace).
    """
    ids = [item.signals.pair_id for item in items]
    capacity = round(budget * len(items))
    ai_only = _accuracy(items, set())
    if mode == "random":
        rng = random.Random(seed)
        accuracy = sum(_accuracy(items, set(rng.sample(ids, capacity))) for _ in range(draws)) / draws
    elif mode == "uncertainty":
        accuracy = _accuracy(items, set(uncertainty_queue(items, seed, uncertainty)[:capacity]))
    elif mode == "escalation":
        accuracy = _accuracy(items, escalation_routing(items, capacity, seed, uncertainty, audit_share, bar))
    else:
        raise ValueError(f"unknown replay mode {mode!r}; use random, uncertainty or escalation")
    errors = 1 - ai_only
    return accuracy, ai_only, (accuracy - ai_only) / errors if errors else 0.0


def uncertainty_queue(items: Sequence[ReplayItem], seed: int, uncertainty: float, with_reasons=False):
    """Pair ids in the order plain uncertainty routing fills a budget: `route`'s priority
    (failures, flips, closeness to 0.5), ties broken by the seeded per-pair hash; with
    `with_reasons`, also {pair id: the reasons `route` gave it} (budget_fill alone: no reason)."""
    policy = RoutingPolicy(
        seed=seed, uncertainty=uncertainty, audit_rate=0.0, budget_items=len(items), fill_budget=True
    )
    decisions, _ = route([item.signals for item in items], policy)
    queue = [d.pair_id for d in sorted(decisions, key=lambda d: (-d.priority, unit_hash(seed, d.pair_id)))]
    return (queue, {d.pair_id: d.reasons for d in decisions}) if with_reasons else queue


def escalation_routing(
    items: Sequence[ReplayItem],
    capacity: int,
    seed: int = 0,
    uncertainty: float = 0.1,
    audit_share: float = 0.2,
    bar: float = 0.6,
) -> set[int]:
    """The pairs budget routing with audit-driven escalation sends to humans.

    Built so that it never removes fewer errors than plain uncertainty routing (b) on hard
    verdicts: (1) every pair (b) routes for a reason (failures, flips, ties, closeness to 0.5)
    goes first, in (b)'s order; (2) the blind audit takes up to `audit_share` of the budget from
    the pairs without a reason, drawn in the seeded order (b) uses to break its ties there, so
    where (b) has no better signal the audit costs nothing; (3) a slice goes ahead of (b)'s remaining
    pairs only when the audit's 95% upper bound on its accuracy is below both `bar` and the 95%
    lower bound on the accuracy of all the pairs it would displace, the slices' bounds holding
    together (Bonferroni): among fifty slices, one with three audited pairs all wrong is chance,
    not evidence enough to move budget. With soft labels (b)'s tail is ordered
    by closeness to 0.5, and the random audit can cost what it does not win back.
    """
    by_id = {item.signals.pair_id: item for item in items}
    queue, reasons = uncertainty_queue(items, seed, uncertainty, with_reasons=True)
    sure = [pid for pid in queue if reasons[pid] != (Reason.FILL,)][:capacity]
    first = set(sure)
    rest = [pid for pid in queue if pid not in first]
    n_audit = min(capacity - len(sure), round(audit_share * capacity))
    audited = sorted(rest, key=lambda pid: unit_hash(seed, pid))[:n_audit]
    hits = {pid: by_id[pid].ai_choice == human_majority(by_id[pid].votes) for pid in audited}
    floor = SliceAudit("", len(hits), sum(hits.values())).interval[0] if hits else 0.0
    audits = _slice_audits(by_id, hits)
    z = NormalDist().inv_cdf(1 - 0.025 / max(len(audits), 1))  # 95% for all slices at once
    worse = {key for key, a in audits.items() if a.n and wilson(a.correct, a.n, z)[1] < min(bar, floor)}
    taken = set(sure) | set(audited)
    left = [pid for pid in rest if pid not in taken]
    escalated = [pid for pid in left if by_id[pid].signals.slice_key in worse]
    # where the audit finds the judge wrong more often than right, its confident verdicts go first
    escalated.sort(key=lambda pid: -_confident_and_wrong(by_id[pid].signals, audits))
    tail = escalated + [pid for pid in left if by_id[pid].signals.slice_key not in worse]
    return taken | set(tail[: max(capacity - len(taken), 0)])


def _confident_and_wrong(s: PairSignals, audits: dict[str, SliceAudit]) -> float:
    accuracy = audits[s.slice_key].accuracy
    return abs(s.p_a - 0.5) if s.p_a is not None and accuracy is not None and accuracy < 0.5 else 0.0


def _slice_audits(by_id: dict[int, ReplayItem], hits: dict[int, bool]) -> dict[str, SliceAudit]:
    tallies: dict[str, list[int]] = {}
    for pid, hit in hits.items():
        tally = tallies.setdefault(by_id[pid].signals.slice_key, [0, 0])
        tally[0] += 1
        tally[1] += hit
    return {key: SliceAudit(key, n, correct) for key, (n, correct) in tallies.items()}
