"""Guarantee mode: keep an AI label only where a calibrated threshold says it agrees with humans.

Trust or Escalate (Jung, Brahman and Choi, ICLR 2025): a judge keeps a pair only when its
confidence reaches a threshold chosen on human-labelled pairs (Tandem's blind audit sample), so
that with probability at least `confidence` (1 - delta) the kept labels agree with the human
majority on at least `target_agreement` (1 - alpha) of them. The threshold comes from
fixed-sequence testing: from the strictest threshold down, each is tested with an exact binomial
bound (could the kept pairs' disagreement rate be alpha or more, given what the audit saw?) and
the last one that passes is kept; the first failure stops the walk, which is what makes the
sequence of tests cost no multiplicity correction. A cascade repeats this per judge on the pairs
the previous judges gave up, then sends the rest to humans.

Slices: a slice with at least `min_slice` audited pairs gets thresholds of its own; the other
slices share thresholds calibrated on their pooled pairs. Every (slice group, judge) test runs at
delta / (groups x judges), so the statement holds for all of them at once with probability
1 - delta, and hence for the kept labels as a whole. Pure Python; the platform and
bench/guarantee.py feed it `Calibrated` pairs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from labeling.records import Choice
from labeling.routing import PolicyError, policy_record
from labeling.verdicts import PairVerdict, confidence

POOLED = "(pooled)"


@dataclass(frozen=True)
class GuaranteeConfig:
    """`routing_config` keys of guarantee mode; `cascade` lists judge names, cheapest first."""

    target_agreement: float
    confidence: float = 0.9
    cascade: tuple[str, ...] = ()
    min_slice: int = 100

    def __post_init__(self) -> None:
        for name in ("target_agreement", "confidence"):
            value = getattr(self, name)
            if not 0.5 <= value < 1.0:
                raise PolicyError(f"guarantee '{name}' is {value}; it must be at least 0.5 and below 1")
        if self.min_slice < 1:
            raise PolicyError(f"guarantee 'min_slice' is {self.min_slice}; it must be at least 1")

    @classmethod
    def from_dict(cls, raw: dict) -> GuaranteeConfig:
        """Raises PolicyError naming an unknown key, a missing target or a bad value."""
        return policy_record(cls, raw, "guarantee")

    @property
    def alpha(self) -> float:
        return 1.0 - self.target_agreement

    @property
    def delta(self) -> float:
        return 1.0 - self.confidence


GUARANTEE_KEYS = tuple(f.name for f in fields(GuaranteeConfig))


@dataclass(frozen=True)
class Calibrated:
    """One audited pair as one judge saw it: its confidence in its choice (None: a tie or no
    usable verdict, never kept) and whether that choice equals the human majority."""

    confidence: float | None
    agrees: bool
    slice: str = ""


@dataclass(frozen=True)
class Threshold:
    """A judge's calibrated threshold for one slice group: keep pairs with confidence >= value
    (None: no threshold passed, the judge keeps nothing there)."""

    judge: str
    group: str
    value: float | None
    audited: int  # calibration pairs of the group that reached this judge
    kept: int  # of those, at or above the threshold
    agreement: float | None  # on the kept calibration pairs
    needed: int  # the fewest kept pairs with which a perfect record could pass the test

    @property
    def too_small(self) -> bool:
        return self.audited < self.needed


def annotator_verdict(
    verdicts: Sequence[PairVerdict], calibrate: Callable[[float], float] | None = None
) -> tuple[Choice | None, float | None]:
    """(choice, confidence) of one judge heard as several simulated annotators.

    Each prompt's `PairVerdict` (labeling.verdicts: both orders debiased, a flip at 0.5, soft
    labels where the judge gave log-probabilities) is one annotator; their mean p(a), mapped by
    the audit's calibration map when given, picks the side, and the confidence is p of that
    side. A mean of exactly 0.5 is a tie (confidence None): the annotators cancel out. With one
    prompt the choice is that prompt's verdict, a flip being a tie, as everywhere else.
    """
    p_values = [v.p_a for v in verdicts if v.choice is not None and v.p_a is not None]
    if not p_values:
        return None, None
    p_a = sum(p_values) / len(p_values)
    if calibrate is not None:
        p_a = calibrate(p_a)
    if p_a == 0.5:
        return Choice.TIE, None
    choice = Choice.A if p_a > 0.5 else Choice.B
    return choice, confidence(choice, p_a)


def binomial_tail(errors: int, n: int, alpha: float) -> float:
    """P(Bin(n, alpha) <= errors): the chance of seeing so few disagreements among n kept pairs
    if their true disagreement rate were alpha (the p-value of 'rate >= alpha'); 1 for n = 0."""
    if n == 0 or errors >= n:
        return 1.0
    log_a, log_b = math.log(alpha), math.log1p(-alpha)
    terms = [
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_a + (n - k) * log_b
        for k in range(errors + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def fewest_needed(alpha: float, delta: float) -> int:
    """The fewest kept pairs with which even a perfect record passes: (1 - alpha)^n <= delta."""
    return math.ceil(math.log(delta) / math.log1p(-alpha))


def fixed_sequence(items: Sequence[Calibrated], alpha: float, delta: float) -> float | None:
    """The lowest confidence threshold that passes fixed-sequence testing, or None.

    Candidates are the pairs' distinct confidences, strictest first, from the first that keeps
    enough pairs for a perfect record to pass (a choice made from confidences alone, never from
    agreement, so the walk stays a fixed sequence given the confidences). Each candidate passes
    when `binomial_tail` of its kept pairs' disagreements is at most delta; the first failure ends
    the walk.
    """
    scored = sorted((c.confidence, c.agrees) for c in items if c.confidence is not None)
    scored.reverse()
    needed = fewest_needed(alpha, delta)
    chosen, kept, errors, i = None, 0, 0, 0
    while i < len(scored):
        value = scored[i][0]
        while i < len(scored) and scored[i][0] == value:
            kept, errors, i = kept + 1, errors + (not scored[i][1]), i + 1
        if kept < needed:
            continue
        if binomial_tail(errors, kept, alpha) > delta:
            break
        chosen = value
    return chosen


def slice_groups(slices: Sequence[str], min_slice: int) -> dict[str, str]:
    """{slice: its group}: itself when it has `min_slice` audited pairs, else POOLED."""
    counts: dict[str, int] = defaultdict(int)
    for key in slices:
        counts[key] += 1
    return {key: key if n >= min_slice else POOLED for key, n in counts.items()}


def calibrate_cascade(
    audited: dict[str, Sequence[Calibrated]], config: GuaranteeConfig
) -> tuple[list[Threshold], dict[str, str]]:
    """Thresholds per (judge, slice group) and the slice -> group map, from the audited pairs.

    `audited` maps each judge of the cascade, in order, to the same audited pairs in the same
    order, as that judge saw them. A judge is calibrated on the pairs its predecessors did not
    keep, since those are the only ones it will be asked about.
    """
    judges = list(audited)
    if not judges:
        raise PolicyError("guarantee mode needs at least one judge in 'cascade'")
    n = len(audited[judges[0]])
    if any(len(audited[j]) != n for j in judges):
        raise PolicyError("every judge of the cascade needs a verdict on every audited pair")
    groups = slice_groups([c.slice for c in audited[judges[0]]], config.min_slice)
    names = sorted(set(groups.values())) or [POOLED]  # nothing audited yet: one empty group
    delta = config.delta / (len(names) * len(judges))
    open_ = [True] * n  # not kept by any earlier judge
    thresholds = []
    for judge in judges:
        items = audited[judge]
        for group in names:
            mine = [i for i in range(n) if open_[i] and groups[items[i].slice] == group]
            value = fixed_sequence([items[i] for i in mine], config.alpha, delta)
            kept = [i for i in mine if _keeps(value, items[i].confidence)]
            agreement = sum(items[i].agrees for i in kept) / len(kept) if kept else None
            needed = fewest_needed(config.alpha, delta)
            thresholds.append(Threshold(judge, group, value, len(mine), len(kept), agreement, needed))
            for i in kept:
                open_[i] = False
    return thresholds, groups


def _keeps(threshold: float | None, value: float | None) -> bool:
    return threshold is not None and value is not None and value >= threshold


def assign(
    pairs: dict[str, Sequence[Calibrated]], thresholds: Sequence[Threshold], groups: dict[str, str]
) -> list[str | None]:
    """Per pair, the judge of the cascade whose label is kept, or None (to humans).

    `pairs` has the shape of `calibrate_cascade`'s `audited`; a slice the audit never saw is
    pooled.
    """
    table = {(t.judge, t.group): t.value for t in thresholds}
    judges = list(pairs)
    n = len(pairs[judges[0]]) if judges else 0
    out: list[str | None] = []
    for i in range(n):
        kept = None
        for judge in judges:
            item = pairs[judge][i]
            if _keeps(table.get((judge, groups.get(item.slice, POOLED))), item.confidence):
                kept = judge
                break
        out.append(kept)
    return out


def warnings(thresholds: Sequence[Threshold], config: GuaranteeConfig) -> list[str]:
    """What the report must say when the audit sample is too small for the target."""
    out = []
    for t in thresholds:
        where = f"{t.judge} on {'pooled slices' if t.group == POOLED else 'slice ' + repr(t.group)}"
        if t.too_small:
            out.append(
                f"{where}: {t.audited} audited pairs cannot certify {config.target_agreement:.0%} "
                f"agreement at {config.confidence:.0%} confidence (it needs at least {t.needed} even "
                f"with no disagreement): raise the audit rate or lower the target"
            )
        elif t.value is None:
            out.append(
                f"{where}: no confidence threshold reaches {config.target_agreement:.0%} agreement on "
                f"{t.audited} audited pairs: every pair goes on to the next judge or to humans"
            )
    return out


def guarantee_text(config: GuaranteeConfig) -> str:
    return (
        f"with probability >= {config.confidence:.0%}, AI labels kept agree with the human majority "
        f"on >= {config.target_agreement:.0%} of them (Trust or Escalate, fixed-sequence binomial test)"
    )
