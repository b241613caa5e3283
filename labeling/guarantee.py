"""Guarantee mode: keep an AI label only where a calibrated threshold says it agrees with humans.

Trust or Escalate (Jung, Brahman and Choi, ICLR 2025) with a learned confidence (Learn then
Test, Angelopoulos et al. 2021): with probability at least `confidence` (1 - delta) the AI labels
kept agree with the human majority on at least `target_agreement` (1 - alpha) of them.

Confidence from every signal Tandem records: each pair is a cell of discrete signals (the
judge's confidence, binned: its soft probabilities, both orders and its prompts heard as
simulated annotators, `annotator_verdict`; whether it chose the longer response, the verbosity
bias the audit measures; how many other judges of the cascade chose the same side; the slice).
The blind audit sample is split at random (a hash of each pair's key) into two halves. On the
*learning* half each cell's agreement with humans is estimated, shrunk toward its coarser cells
(`AgreementScore`); a slice with fewer than `min_slice` audited pairs has no cells of its own. On
the *testing* half, which the score never saw, fixed-sequence testing picks the threshold on that
score: from the strictest candidate down, each is tested with an exact binomial bound (could the
kept pairs' disagreement rate be alpha or more, given what the audit saw?) and the last that
passes is kept; the first failure stops the walk, so the sequence costs no multiplicity
correction. Which candidates are walked is decided from the scores alone (`fixed_sequence`).
Given the learning half the score is a fixed function, the testing half is a fresh random
sample, and the test is the one of plain Trust or Escalate: the statement holds. Learning on the
testing half too would make the score depend on the pairs that test it, which the bound does
not allow; two-fold cross-fitting stays valid only with each fold's rule tested at delta / 2 and
each new pair sent to one rule at random, which keeps no more pairs than one split.

Certifying the kept labels as a whole, rather than each slice at the target on its own, is what
lets a slice whose sure verdicts agree 86% of the time be kept beside one at 100%. A cascade
learns and tests each judge on the pairs the previous judges did not keep, each judge's test at
delta / judges, then sends the rest to humans. Pure Python; the platform and
bench/guarantee.py feed it `Calibrated` pairs.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace

from labeling.records import Choice
from labeling.routing import PolicyError, policy_record
from labeling.verdicts import PairVerdict, confidence

POOLED = "(pooled)"
LEARN_SHARE = 0.5  # of the audited pairs, the share that learns the score; the rest tests it
SPLIT_SEED = 18  # the audit's random split into learning and testing halves
PRIOR_PAIRS = 4.0  # a cell's estimate is pulled toward its coarser cell as if by 4 pairs
CONFIDENCE_BINS = 20  # soft confidences are binned by 0.05 into cells


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
    """One pair as one judge saw it: its confidence in its choice (None: a tie or no usable
    verdict, never kept), whether that choice equals the human majority (audited pairs only),
    its slice, `others_agree`: how many other judges of the cascade chose the same side, and
    `chose_longer`: whether it chose the longer response (None: a tie or equal lengths), the
    verbosity bias the audit measures, which makes a judge wrong where long answers miss the point."""

    confidence: float | None
    agrees: bool
    slice: str = ""
    others_agree: int = 0
    chose_longer: bool | None = None


def chose_longer(choice: Choice | None, len_a: int, len_b: int) -> bool | None:
    """Whether `choice` names the longer response (in characters, as the audit's verbosity bias
    counts them); None for a tie, no choice or responses of equal length."""
    if choice not in (Choice.A, Choice.B) or len_a == len_b:
        return None
    return (choice == Choice.A) == (len_a > len_b)


def others_agreeing(choice: Choice | None, others: Sequence[Choice | None]) -> int:
    """How many of the other judges' choices name the same side as `choice` (0 for a tie)."""
    if choice not in (Choice.A, Choice.B):
        return 0
    return sum(1 for other in others if other == choice)


@dataclass(frozen=True)
class Threshold:
    """A judge's calibrated threshold on its learned score (an agreement estimate): keep pairs
    scoring >= value (None: no threshold passed, the judge keeps nothing)."""

    judge: str
    group: str  # the slices the threshold covers: all of them (POOLED), certified as a whole
    value: float | None
    audited: int  # testing-half pairs that reached this judge: what the bound is computed on
    kept: int  # of those, at or above the threshold
    agreement: float | None  # on the kept testing pairs
    needed: int  # the fewest kept pairs with which a perfect record could pass the test
    learned: int = 0  # learning-half pairs that reached this judge: what the score was fitted on

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


@dataclass(frozen=True)
class AgreementScore:
    """A judge's learned confidence: per cell of signals, how often humans agreed with it on the
    learning half. A cell's rate is shrunk toward its coarser cell (PRIOR_PAIRS): the confidence
    bin alone, then with whether the longer response was chosen, then with how many other judges
    agree, then within the slice (for slices in `slices` only), so a cell seen a few times is
    never ranked on those few pairs alone."""

    counts: dict[tuple, tuple[int, int]] = field(default_factory=dict)  # cell: (pairs, agreeing)
    slices: frozenset[str] = frozenset()
    base: float = 0.5  # agreement over the whole learning half, Laplace-smoothed

    @classmethod
    def learn(cls, items: Sequence[Calibrated], slices: frozenset[str]) -> AgreementScore:
        seen = [c for c in items if c.confidence is not None]
        counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for item in seen:
            for cell in _cells(item, slices):
                counts[cell][0] += 1
                counts[cell][1] += item.agrees
        base = (sum(c.agrees for c in seen) + 1) / (len(seen) + 2)
        return cls({k: (n, a) for k, (n, a) in counts.items()}, slices, base)

    def __call__(self, item: Calibrated) -> float | None:
        """The item's estimated agreement; None where it has no confidence (never kept)."""
        if item.confidence is None:
            return None
        rate = self.base
        for cell in _cells(item, self.slices):
            n, agree = self.counts.get(cell, (0, 0))
            rate = (agree + PRIOR_PAIRS * rate) / (n + PRIOR_PAIRS)
        return rate

    def scored(self, item: Calibrated) -> Calibrated:
        """The item with its score in place of its confidence (what thresholds are tested on)."""
        return replace(item, confidence=self(item))


def _cells(item: Calibrated, slices: frozenset[str]) -> list[tuple]:
    """The item's cells, coarse to fine."""
    level = math.floor(item.confidence * CONFIDENCE_BINS) / CONFIDENCE_BINS
    out = [(level,), (level, item.chose_longer), (level, item.chose_longer, item.others_agree)]
    if item.slice in slices:
        out.append((*out[-1], item.slice))
    return out


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


def fixed_sequence(
    items: Sequence[Calibrated], alpha: float, delta: float, predicted: bool = False
) -> float | None:
    """The lowest confidence threshold that passes fixed-sequence testing, or None.

    Candidates are the pairs' distinct confidences, strictest first, from the first that keeps
    enough pairs for a perfect record to pass. With `predicted` (the confidences being a learned
    agreement estimate, `AgreementScore`) a candidate is tested only where the estimate predicts
    it passes (its kept pairs' expected disagreements, rounded up, pass the bound): a walk that
    started on the first dozen pairs would end on their first two disagreements, although the
    hundred pairs after them would have passed. Both choices are made from confidences alone,
    never from agreement, so the walk stays a fixed sequence given the confidences. Each
    candidate passes when `binomial_tail` of its kept pairs' disagreements is at most delta; the
    first failure ends the walk.
    """
    scored = sorted((c.confidence, c.agrees) for c in items if c.confidence is not None)
    scored.reverse()
    needed = fewest_needed(alpha, delta)
    chosen, kept, errors, expected, i = None, 0, 0, 0.0, 0
    while i < len(scored):
        value = scored[i][0]
        while i < len(scored) and scored[i][0] == value:
            kept, errors, i = kept + 1, errors + (not scored[i][1]), i + 1
            expected += 1.0 - value
        if kept < needed:
            continue
        if predicted and binomial_tail(math.ceil(expected - 1e-9), kept, alpha) > delta:
            continue
        if binomial_tail(errors, kept, alpha) > delta:
            break
        chosen = value
    return chosen


def own_slices(slices: Sequence[str], min_slice: int) -> frozenset[str]:
    """The slices with at least `min_slice` audited pairs: those get cells of their own."""
    counts: dict[str, int] = defaultdict(int)
    for key in slices:
        counts[key] += 1
    return frozenset(key for key, n in counts.items() if n >= min_slice)


def learning_half(keys: Sequence[str]) -> list[bool]:
    """Per audited pair, whether it learns the score (else it tests the threshold): a seeded
    hash of its key, so the split is random, never looks at labels, and a pair keeps its half
    as the audit grows."""
    cut = LEARN_SHARE * 2**32
    return [random.Random(f"{SPLIT_SEED}:{key}").getrandbits(32) < cut for key in keys]


def calibrate_cascade(
    audited: dict[str, Sequence[Calibrated]], config: GuaranteeConfig, keys: Sequence[str] | None = None
) -> tuple[list[Threshold], dict[str, AgreementScore]]:
    """Per judge, its threshold and its learned score, from the audited pairs.

    `audited` maps each judge of the cascade, in order, to the same audited pairs in the same
    order, as that judge saw them; `keys` name the pairs (default: their positions) for the
    split into learning and testing halves. A judge learns and is tested on the pairs its
    predecessors did not keep, since those are the only ones it will be asked about.
    """
    judges = list(audited)
    if not judges:
        raise PolicyError("guarantee mode needs at least one judge in 'cascade'")
    n = len(audited[judges[0]])
    if any(len(audited[j]) != n for j in judges):
        raise PolicyError("every judge of the cascade needs a verdict on every audited pair")
    learn = learning_half(keys if keys is not None else [str(i) for i in range(n)])
    slices = own_slices([c.slice for c in audited[judges[0]]], config.min_slice)
    delta = config.delta / len(judges)
    open_ = [True] * n  # not kept by any earlier judge
    thresholds, scores = [], {}
    for judge in judges:
        items = audited[judge]
        mine = [i for i in range(n) if open_[i]]
        score = AgreementScore.learn([items[i] for i in mine if learn[i]], slices)
        tested = [score.scored(items[i]) for i in mine if not learn[i]]
        value = fixed_sequence(tested, config.alpha, delta, predicted=True)
        kept = [c.agrees for c in tested if _keeps(value, c.confidence)]
        agreement = sum(kept) / len(kept) if kept else None
        needed = fewest_needed(config.alpha, delta)
        learned = sum(1 for i in mine if learn[i])
        thresholds.append(Threshold(judge, POOLED, value, len(tested), len(kept), agreement, needed, learned))
        scores[judge] = score
        for i in mine:
            open_[i] = not _keeps(value, score(items[i]))
    return thresholds, scores


def _keeps(threshold: float | None, value: float | None) -> bool:
    return threshold is not None and value is not None and value >= threshold


@dataclass(frozen=True)
class Waiting:
    """A pair of a lazy cascade that gets no decision until `judge` has judged it."""

    judge: str


def assign(
    pairs: dict[str, Sequence[Calibrated]],
    thresholds: Sequence[Threshold],
    scores: dict[str, AgreementScore],
    unjudged: dict[str, Sequence[bool]] | None = None,
) -> list[str | Waiting | None]:
    """Per pair, the judge of the cascade whose label is kept, None (to humans), or, in a lazy
    cascade, `Waiting` for the judge that must judge it first.

    `pairs` has the shape of `calibrate_cascade`'s `audited`; a slice the audit never saw is
    scored by its coarser cells. `unjudged` (lazy cascade) marks per judge the pairs it has not
    judged yet (their items are placeholders). A judge's score hears how many of the others
    agree with it, so a later judge's missing verdict can change it: a judge keeps a pair only
    where it would keep it whatever the missing judges will say (each may agree or not), and a
    pair it would keep for some of their answers only waits for the first of them. Every
    decision made is thus the one the eager cascade (every judge on every pair) makes, and
    once every judge has judged a pair its decision is exactly the eager one.
    """
    table = {t.judge: t.value for t in thresholds}
    judges = list(pairs)
    n = len(pairs[judges[0]]) if judges else 0
    out: list[str | Waiting | None] = []
    for i in range(n):
        missing = [j for j in judges if unjudged is not None and unjudged[j][i]]
        out.append(_outcome(judges, i, pairs, table, scores, missing))
    return out


def _outcome(judges, i, pairs, table, scores, missing) -> str | Waiting | None:
    for k, judge in enumerate(judges):
        if judge in missing:
            # nobody from here on can keep anything (no threshold passed): to humans now
            return Waiting(judge) if any(table.get(j) is not None for j in judges[k:]) else None
        item = pairs[judge][i]
        later = [j for j in judges[k + 1 :] if j in missing]
        keeps = {
            _keeps(table.get(judge), scores[judge](replace(item, others_agree=item.others_agree + extra)))
            for extra in range(len(later) + 1)
        }
        if keeps == {True}:
            return judge
        if True in keeps:
            return Waiting(later[0])
    return None


def warnings(thresholds: Sequence[Threshold], config: GuaranteeConfig) -> list[str]:
    """What the report must say when the audit sample is too small for the target."""
    out = []
    for t in thresholds:
        if t.too_small:
            out.append(
                f"{t.judge}: {t.audited} audited pairs in the testing half cannot certify "
                f"{config.target_agreement:.0%} agreement at {config.confidence:.0%} confidence (it needs at "
                f"least {t.needed} even with no disagreement, and as many again to learn the score): "
                f"raise the audit rate or lower the target"
            )
        elif t.value is None:
            out.append(
                f"{t.judge}: no threshold reaches {config.target_agreement:.0%} agreement on the "
                f"{t.audited} audited pairs of the testing half: every pair goes on to the next judge "
                f"or to humans"
            )
    return out


def guarantee_text(config: GuaranteeConfig) -> str:
    return (
        f"with probability >= {config.confidence:.0%}, AI labels kept agree with the human majority "
        f"on >= {config.target_agreement:.0%} of them (Trust or Escalate: a score learned on half "
        f"the audit, its threshold by a fixed-sequence binomial test on the other half)"
    )
