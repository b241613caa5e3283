"""The routing policy: for each judged pair, human review or the AI label alone, and why.

Pure Python and deterministic: the same signals, policy and seed give the same decisions. A pair
goes to a human for every reason that applies (its verdict flips when the responses swap, its
debiased probability is near 0.5, several judges disagree, the judge failed on it, its category
is high-stakes, one of its responses addresses the judge (labeling.injection), or it falls in the
random blind audit sample). A human budget (items, or money at a price per label) caps the queue:
audit items always go (they are the unbiased estimate of the judge's accuracy and never the ones
dropped), the rest fill the budget by priority.
"""

from __future__ import annotations

import hashlib
import json
import math
from array import array
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import numpy as np

from labeling.records import Choice
from labeling.typed_config import ConfigError, typed_record


class Reason(StrEnum):
    AUDIT = "audit"
    ESCALATED = "escalated"
    INJECTION = "injection"  # a response addresses the judge: its verdict may have been steered
    HIGH_STAKES = "high_stakes"
    ERROR = "judge_error"
    FLIP = "flip"
    DISAGREE = "judges_disagree"
    UNCERTAIN = "uncertain"
    FILL = "budget_fill"  # no other reason: the least confident pairs use up what budget is left
    # guarantee mode: no judge of the cascade reached its calibrated threshold (labeling.guarantee)
    UNCERTIFIED = "below_threshold"
    # guarantee mode, an AI-only decision: the decision's judge reached its certified threshold,
    # and only such a decision's label enters a dataset as certified (core.datasets)
    CERTIFIED = "certified"
    # a gold item (known answer): always to humans, outside the budget and any plan (core.gold)
    GOLD = "gold"


# Earlier reasons are more urgent when the budget cannot take every routed pair.
PRIORITY = [
    Reason.AUDIT,
    Reason.ESCALATED,
    Reason.INJECTION,
    Reason.HIGH_STAKES,
    Reason.ERROR,
    Reason.FLIP,
    Reason.DISAGREE,
    Reason.UNCERTAIN,
    Reason.UNCERTIFIED,
    Reason.FILL,
]


T = TypeVar("T")


class PolicyError(ValueError):
    """A routing policy that cannot be used; the message names the key and what is allowed."""


def policy_record(cls: type[T], raw: dict, where: str) -> T:
    """A policy dataclass from its JSON form, checked by labeling.typed_config (unknown keys with
    the closest valid one, types, required fields, the class's own ranges); raises PolicyError."""
    try:
        return typed_record(cls, raw, where)
    except ConfigError as error:
        raise PolicyError(str(error)) from error


@dataclass(frozen=True)
class RoutingPolicy:
    """Version it whenever it changes: decisions are stored with the version that made them."""

    version: int = 1
    seed: int = 0
    uncertainty: float = 0.1  # route when |p(a) - 0.5| < uncertainty
    route_flips: bool = True
    route_errors: bool = True
    # A pair whose response the injection detector flags goes to a human: a steered judge can be
    # confidently wrong in both orders, so neither the flip nor the uncertainty signal sees it.
    route_injection: bool = True
    disagreement: float = 0.3  # route when judges' p(a) spread (max - min) reaches this
    high_stakes: tuple[str, ...] = ()
    audit_rate: float = 0.05
    budget_items: int | None = None
    budget_money: float | None = None
    price_per_label: float = 0.0
    # Escalation: a slice whose audited accuracy's 95% upper bound is below the bar goes to
    # humans wholesale (0 turns it off); a slice with fewer audited items than `min_audited`
    # gets that many audit items.
    escalation_bar: float = 0.0
    min_audited: int = 0
    # Spend a budget that the reasons above leave unused on the least confident other pairs.
    fill_budget: bool = False

    def __post_init__(self) -> None:
        for name in ("uncertainty", "audit_rate", "disagreement", "escalation_bar"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise PolicyError(f"routing policy '{name}' is {value}; it must be between 0 and 1")
        if self.budget_money is not None and self.price_per_label <= 0:
            raise PolicyError("routing policy 'budget_money' needs a positive 'price_per_label'")

    @classmethod
    def from_dict(cls, raw: dict) -> RoutingPolicy:
        """Raises PolicyError naming an unknown key, a wrong type or a bad value."""
        return policy_record(cls, raw, "routing policy")

    @classmethod
    def from_file(cls, path: Path) -> RoutingPolicy:
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise PolicyError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err

    def as_dict(self) -> dict:
        return {**asdict(self), "high_stakes": list(self.high_stakes)}

    @property
    def capacity(self) -> float:
        """How many human labels the budget buys (infinite without a budget)."""
        limits = [math.inf]
        if self.budget_items is not None:
            limits.append(self.budget_items)
        if self.budget_money is not None:
            limits.append(math.floor(self.budget_money / self.price_per_label))
        return min(limits)


@dataclass(frozen=True)
class PairSignals:
    """What the judges said about one pair. `choice`, `p_a` and `flipped` are the routed-on
    (first) judge's verdict as `labeling.verdicts` defines it (None: no usable verdict; p_a is
    calibrated where an audit fitted a map), except that `flipped` is set when any judge's
    orders disagreed; `spread` is the max - min of several judges' p_a."""

    pair_id: int
    category: str = ""
    p_a: float | None = None
    flipped: bool = False
    failed: bool = False
    spread: float | None = None
    slice: str = ""  # the audit slice the pair belongs to (default: its category)
    injection: str = ""  # why the detector flagged a response (labeling.injection.scan_pair), or ""
    choice: Choice | None = None  # the AI's choice (a flipped pair's is a tie)

    @property
    def slice_key(self) -> str:
        return self.slice or self.category


@dataclass(frozen=True)
class Decision:
    pair_id: int
    human: bool
    reasons: tuple[Reason, ...]
    priority: float
    blind: bool  # an audit item: the annotator does not see the AI's suggestion
    over_budget: bool = False

    def as_dict(self) -> dict:
        return {**asdict(self), "reasons": [r.value for r in self.reasons]}


@dataclass
class RoutingSummary:
    pairs: int = 0
    human: int = 0
    ai_only: int = 0
    over_budget: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SliceAudit:
    """What the blind audit sample says of the judge on one slice: correct out of n."""

    slice: str
    n: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.n)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score 95% interval of k successes in n (sound for small n and k = 0 or n)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def escalations(audits: dict[str, SliceAudit], policy: RoutingPolicy, judge: str = "the judge") -> dict:
    """{slice: alert text} for the slices whose audited accuracy cannot reach the bar."""
    out = {}
    for key, audit in audits.items():
        low, high = audit.interval
        if policy.escalation_bar > 0 and audit.n and high < policy.escalation_bar:
            out[key] = (
                f"{judge} is unreliable on slice '{key or '(all)'}': audited accuracy "
                f"{audit.accuracy:.0%} [{low:.0%}, {high:.0%}] on {audit.n} items"
            )
    return out


def unit_hash(seed: int, key: int | str) -> float:
    """A stable uniform number in [0, 1) per (seed, key): the same pair is always drawn alike
    (unlike Python's hash(), which changes from process to process)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def audit_sample(
    signals: Iterable[PairSignals], rate: float, seed: int, minimum: dict[str, int] | None = None
) -> set[int]:
    """A random sample of `rate` of the pairs in each category (stratified, seeded).

    Within a category the pairs are ordered by their stable hash and the first `sample_size`
    are taken.
    """
    by_slice: dict[str, list[int]] = defaultdict(list)
    for s in signals:
        by_slice[s.slice_key].append(s.pair_id)
    chosen: set[int] = set()
    for key, ids in by_slice.items():
        count = sample_size(key, len(ids), rate, seed, minimum)
        chosen.update(sorted(ids, key=lambda pid: unit_hash(seed, pid))[:count])
    return chosen


def sample_size(key: str, n: int, rate: float, seed: int, minimum: dict[str, int] | None = None) -> int:
    """How many of a slice's `n` pairs the audit sample takes: round(rate * n), the fractional
    part settled by one seeded draw (small slices are sampled at the right rate on average), and
    at least the slice's `minimum`."""
    exact = rate * n
    count = math.floor(exact)
    if unit_hash(seed, f"category:{key}") < exact - count:
        count += 1
    return max(count, (minimum or {}).get(key, 0))


def reasons_for(
    s: PairSignals, policy: RoutingPolicy, audited: bool, escalated: bool = False
) -> tuple[Reason, ...]:
    found = []
    if audited:
        found.append(Reason.AUDIT)
    if escalated:
        found.append(Reason.ESCALATED)
    if policy.route_injection and s.injection:
        found.append(Reason.INJECTION)
    if s.category and s.category in policy.high_stakes:
        found.append(Reason.HIGH_STAKES)
    if policy.route_errors and (s.failed or s.p_a is None):
        found.append(Reason.ERROR)
    if policy.route_flips and s.flipped:
        found.append(Reason.FLIP)
    if s.spread is not None and s.spread >= policy.disagreement > 0:
        found.append(Reason.DISAGREE)
    if s.p_a is not None and abs(s.p_a - 0.5) < policy.uncertainty:
        found.append(Reason.UNCERTAIN)
    return tuple(found)


def _priority(reasons: tuple[Reason, ...], s: PairSignals, worse_than_chance: bool = False) -> float:
    """Higher first: the most urgent reason, then the closer to 0.5, then a stable tie-break.

    In an escalated slice where the audit found the judge wrong more often than right, its
    *confident* verdicts are the likeliest errors after its flips (a flip has no usable label at
    all), so there the most confident rank next instead of the least.
    """
    if not reasons:
        return 0.0
    rank = len(PRIORITY) - min(PRIORITY.index(r) for r in reasons)
    closeness = 1.0 - 2 * abs(s.p_a - 0.5) if s.p_a is not None else 1.0
    if worse_than_chance and Reason.ESCALATED in reasons:
        closeness = 1.0 if s.flipped else 1.0 - closeness
    return rank + 0.5 * closeness + 0.01 * len(reasons)


def route(
    signals: list[PairSignals],
    policy: RoutingPolicy,
    audits: dict[str, SliceAudit] | None = None,
    judge: str = "the judge",
) -> tuple[list[Decision], RoutingSummary]:
    """Decide every pair; returns decisions in input order and the counts by reason.

    `audits` is what the blind audit sample says so far, per slice: it drives escalation (whole
    slices to humans, with an alert) and tops up the audit sample where it is too thin to decide.
    """
    plan = RoutingPlan(policy, audits, judge)
    plan.add(signals)
    plan.settle()
    return plan.decisions(0, len(plan)), plan.summary


class RoutingPlan:
    """`route` for a project too large to hold as PairSignals, in two passes.

    `add` takes the pairs a chunk at a time and keeps, per pair, only what the decision needs
    (its reasons as bits, its priority with and without the audit reason, its stable hash: about
    50 bytes); `settle` draws the audit sample and cuts the budget over all pairs at once, as the
    budget must; `decisions` then gives them out a range at a time, the same as `route` on the
    whole list (which is this plan with a single chunk).
    """

    def __init__(
        self, policy: RoutingPolicy, audits: dict[str, SliceAudit] | None = None, judge: str = "the judge"
    ):
        self.policy = policy
        self.audits = audits or {}
        self.alerts = escalations(self.audits, policy, judge)
        self.summary = RoutingSummary(alerts=list(self.alerts.values()))
        self._slices: dict[str, int] = {}
        self._pair, self._slice, self._reasons = array("q"), array("q"), array("q")
        self._priority, self._audit_priority, self._hash = array("d"), array("d"), array("d")
        self._audited = self._human = None

    def __len__(self) -> int:
        return len(self._pair)

    def add(self, signals: Iterable[PairSignals]) -> None:
        """Stage more pairs (in the order their decisions come out). Raises RuntimeError once settled."""
        if self._audited is not None:
            raise RuntimeError("this routing plan is settled: add every pair before settle()")
        policy = self.policy
        for s in signals:
            key = s.slice_key
            escalated = key in self.alerts
            reasons = reasons_for(s, policy, False, escalated)
            worse = escalated and (self.audits[key].accuracy or 0.0) < 0.5
            self._pair.append(s.pair_id)
            self._slice.append(self._slices.setdefault(key, len(self._slices)))
            self._reasons.append(sum(1 << PRIORITY.index(r) for r in reasons))
            self._priority.append(_priority(reasons or self._fill, s, worse))
            self._audit_priority.append(_priority((Reason.AUDIT, *reasons), s, worse))
            self._hash.append(unit_hash(policy.seed, s.pair_id))

    @property
    def _fill(self) -> tuple[Reason, ...]:
        """The reasons of a pair that has none (and is not audited)."""
        return (Reason.FILL,) if self.policy.fill_budget and self.policy.capacity != math.inf else ()

    def settle(self) -> None:
        """Draw the audit sample (per slice, topped up where the audit is thin) and admit the
        other routed pairs by priority into what the budget has left."""
        policy, audits = self.policy, self.audits
        codes, hashes = np.frombuffer(self._slice, np.int64), np.frombuffer(self._hash, np.float64)
        by_hash = np.argsort(hashes, kind="stable")  # ties stay in input order, as sorted() keeps them
        audited = np.zeros(len(self), dtype=bool)
        for key, code in self._slices.items():
            thin = policy.min_audited - audits[key].n if key in audits else policy.min_audited
            members = by_hash[codes[by_hash] == code]
            count = sample_size(key, len(members), policy.audit_rate, policy.seed, {key: thin})
            audited[members[:count]] = True
        routed = (np.frombuffer(self._reasons, np.int64) != 0) | bool(self._fill)
        queue = by_hash[(routed & ~audited)[by_hash]]
        queue = queue[np.argsort(-np.frombuffer(self._priority, np.float64)[queue], kind="stable")]
        capacity = policy.capacity - int(audited.sum())
        human = audited.copy()
        human[queue if capacity == math.inf else queue[: max(int(capacity), 0)]] = True
        self._audited, self._human = audited, human

    def decisions(self, start: int, stop: int) -> list[Decision]:
        """The decisions of the pairs added `start` to `stop` (0-based, in the order added), counted
        into `summary` (ask for each range once). Raises RuntimeError before `settle`."""
        if self._audited is None:
            raise RuntimeError("settle() the routing plan before asking for its decisions")
        out, summary = [], self.summary
        for i in range(start, min(stop, len(self))):
            audit, human = bool(self._audited[i]), bool(self._human[i])
            mask = self._reasons[i]
            reasons = tuple(r for bit, r in enumerate(PRIORITY) if mask >> bit & 1)
            if audit:
                reasons, priority = (Reason.AUDIT, *reasons), self._audit_priority[i]
            else:
                reasons, priority = reasons or self._fill, self._priority[i]
            over = bool(reasons) and not human and reasons != (Reason.FILL,)
            out.append(
                Decision(self._pair[i], human, reasons, round(priority, 6), blind=audit, over_budget=over)
            )
            summary.pairs += 1
            summary.human += human
            summary.ai_only += not human
            summary.over_budget += over
            for reason in reasons:
                if reason is not Reason.FILL or human:
                    summary.by_reason[reason.value] = summary.by_reason.get(reason.value, 0) + 1
        return out
