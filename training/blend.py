"""Blend human votes and AI verdicts into preference rows (TRL's prompt / chosen / rejected).

The rules are a versioned `BlendPolicy`, stored with every dataset version so that a row can
always be explained: human majority wins; a human tie is dropped or kept (p = 0.5); an AI-only
pair is kept when its calibrated confidence (the probability of the side it chose) reaches a
threshold, weighted by a named function of that confidence; an AI verdict that flipped when the
two responses were swapped is a tie (position bias, not a preference), so it is left out unless
a human saw the pair; and a human-AI disagreement is resolved explicitly ('human' keeps the
human label, 'drop' drops the pair). The AI's verdict and the human majority are
`labeling.verdicts`'s, so the row kept is the label the audit scored and the annotator was
shown. Pure Python: no torch, no Django.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labeling.records import Choice
from labeling.verdicts import PairVerdict, human_majority, vote_share
from training.errors import ConfigError
from training.loading import load_dataclass

AI_WEIGHTS = ("confidence", "margin", "fixed")
TIES = ("drop", "keep")
DISAGREEMENT = ("human", "drop")
HUMAN_LABELS = ("hard", "vote_share")
CHOICES = ("a", "b", "tie")
WEIGHT_BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class PairVotes:
    """What the project knows about one pair: the human votes and the AI's verdict.

    `ai` is the judge's verdict as `labeling.verdicts` defines it (choice, debiased p_a and
    flip; None: no AI verdict), the one the audit scores and the annotator is shown.
    """

    pair_id: str
    prompt: str
    response_a: str
    response_b: str
    human_votes: tuple[str, ...] = ()
    ai: PairVerdict | None = None
    # Guarantee mode (labeling.guarantee): the judge of the cascade whose label routing certified
    # for this pair, `ai` being that judge's verdict with its own calibration map applied; ""
    # when no judge was certified for it; None outside guarantee mode. A certified label skips
    # the policy's map and threshold (the guarantee chose it); an uncertified pair has no AI label.
    kept_by: str | None = None
    # A gold item (known answer, mixed into annotators' queues to score them): quality control,
    # never training data; it is dropped and counted under `gold`.
    gold: bool = False

    def __post_init__(self):
        bad = [v for v in self.human_votes if v not in CHOICES]
        if bad:
            raise ConfigError(f"pair {self.pair_id}: vote {bad[0]!r} is not one of {', '.join(CHOICES)}")
        p_a = self.ai.p_a if self.ai else None
        if p_a is not None and not 0.0 <= p_a <= 1.0:
            raise ConfigError(f"pair {self.pair_id}: the AI's p_a {p_a} is outside [0, 1]")


@dataclass(frozen=True)
class BlendPolicy:
    """The blend rules; `version` names them (stored with each dataset version)."""

    version: str = "1"
    ties: str = "drop"
    human_label: str = "hard"
    human_weight: float = 1.0
    ai_threshold: float = 0.8
    ai_weight: str = "confidence"
    ai_fixed_weight: float = 0.5
    disagreement: str = "human"
    seed: int = 0

    def __post_init__(self):
        for name, value, valid in (
            ("ties", self.ties, TIES),
            ("ai_weight", self.ai_weight, AI_WEIGHTS),
            ("disagreement", self.disagreement, DISAGREEMENT),
            ("human_label", self.human_label, HUMAN_LABELS),
        ):
            if value not in valid:
                raise ConfigError(f"blend policy: {name}={value!r}; valid values: {', '.join(valid)}")
        if not 0.5 <= self.ai_threshold <= 1.0:
            raise ConfigError(f"blend policy: ai_threshold={self.ai_threshold} must be in [0.5, 1]")
        if self.human_weight <= 0 or self.ai_fixed_weight <= 0:
            raise ConfigError("blend policy: human_weight and ai_fixed_weight must be > 0")

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any]) -> BlendPolicy:
        """From a JSON/TOML file or a mapping; unknown keys raise ConfigError listing valid keys."""
        return load_dataclass(cls, source)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def weight_for(self, confidence: float) -> float:
        """Weight of an AI-only row: its confidence, its margin 2c - 1, or a fixed value."""
        if self.ai_weight == "confidence":
            return confidence
        if self.ai_weight == "margin":
            return 2.0 * confidence - 1.0
        return self.ai_fixed_weight


@dataclass(frozen=True)
class PreferenceRow:
    """One training row; `version` is filled in when the rows are frozen (export.freeze)."""

    prompt: str
    chosen: str
    rejected: str
    source: str
    weight: float
    p_chosen: float
    pair_id: str
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BlendSummary:
    """What a policy produced (or would produce, in a dry run)."""

    policy_version: str
    pairs_in: int = 0
    rows_out: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    disagreements: int = 0
    weight_histogram: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def count(self, row: PreferenceRow | None, reason: str, disagree: bool) -> None:
        """Add one pair's outcome (blend_pair's triple), so a streamed blend keeps no rows to count."""
        self.pairs_in += 1
        self.disagreements += disagree
        if row is None:
            self.dropped[reason] = self.dropped.get(reason, 0) + 1
            return
        self.rows_out += 1
        self.by_source[row.source] = self.by_source.get(row.source, 0) + 1
        if not self.weight_histogram:
            self.weight_histogram = weight_histogram(())
        self.weight_histogram[weight_bin(row.weight)] += 1

    def sort(self) -> None:
        """Counts in key order (what a reader and the stored summary see), bins all present."""
        self.by_source = dict(sorted(self.by_source.items()))
        self.dropped = dict(sorted(self.dropped.items()))
        self.weight_histogram = self.weight_histogram or weight_histogram(())

    def format(self) -> str:
        """Human-readable lines for a CLI dry run."""
        lines = [
            f"blend policy {self.policy_version}: {self.pairs_in} pairs in, {self.rows_out} rows out",
            "by source: " + _fmt_counts(self.by_source),
            "dropped: " + _fmt_counts(self.dropped),
            f"human-AI disagreements: {self.disagreements}",
            "weights:",
        ]
        lines += [f"  {b:>9} {n:6d} {'#' * min(n, 60)}" for b, n in self.weight_histogram.items()]
        return "\n".join(lines)


@dataclass
class BlendResult:
    rows: list[PreferenceRow]
    summary: BlendSummary


def _fmt_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def human_verdict(votes: Iterable[str]) -> tuple[str | None, float]:
    """(the human majority, `labeling.verdicts`, or None without votes; share of a/b votes behind it)."""
    votes = tuple(votes)
    majority = human_majority(votes)
    if majority is None:
        return None, 0.0
    return majority.value, vote_share(votes, majority)


def calibrator(calibration: Mapping[str, Any] | None) -> Callable[[float | None], float | None]:
    """p -> calibrated p for a serialized calibration map (audits.calibration); identity for None."""
    if calibration is None:
        return lambda p: p
    from audits.calibration import CalibrationMap

    cmap = CalibrationMap.from_dict(dict(calibration))
    return lambda p: None if p is None else float(cmap.apply(p))


def _orient(
    pair: PairVotes, choice: str, p_chosen: float, source: str, weight: float, policy: BlendPolicy
) -> PreferenceRow:
    """A row with `choice` as chosen; a kept tie gets a seeded, per-pair orientation so that
    response_a is not always 'chosen' (position would leak into a p = 0.5 row otherwise)."""
    if choice == "tie":
        digest = hashlib.sha256(f"{policy.seed}:{pair.pair_id}".encode()).digest()
        choice = "a" if digest[0] % 2 == 0 else "b"
    a_first = choice == "a"
    return PreferenceRow(
        prompt=pair.prompt,
        chosen=pair.response_a if a_first else pair.response_b,
        rejected=pair.response_b if a_first else pair.response_a,
        source=source,
        weight=float(weight),
        p_chosen=float(p_chosen),
        pair_id=pair.pair_id,
    )


def _ai_verdict(pair: PairVotes, p: float | None) -> tuple[str | None, float, str]:
    """(AI choice or None, its calibrated confidence, reason it is unusable or '')."""
    if pair.ai is None or pair.ai.choice is None:
        return None, 0.0, "no_label"
    if pair.ai.flipped:  # its choice is a tie: position bias, not a preference
        return None, 0.0, "ai_flipped"
    if pair.ai.choice == Choice.TIE:
        return None, 0.0, "ai_tie"
    sure = pair.ai.confidence(p)
    if sure is None:
        return None, 0.0, "ai_no_probability"
    return pair.ai.choice.value, sure, ""


def blend_pair(
    pair: PairVotes,
    policy: BlendPolicy,
    calibrate: Callable[[float | None], float | None] = lambda p: p,
) -> tuple[PreferenceRow | None, str, bool]:
    """(row or None, reason it was dropped or '', whether humans and AI disagreed)."""
    if pair.gold:
        return None, "gold", False
    human, share = human_verdict(pair.human_votes)
    p_a = pair.ai.p_a if pair.ai else None
    ai, confidence, ai_reason = _ai_verdict(pair, p_a if pair.kept_by else calibrate(p_a))
    if pair.kept_by == "":
        ai, ai_reason = None, "uncertified"
    elif ai is not None and confidence < policy.ai_threshold and not pair.kept_by:
        ai, ai_reason = None, "ai_below_threshold"
    if human is None:
        if ai is None:
            return None, ai_reason, False
        return _orient(pair, ai, confidence, "ai", policy.weight_for(confidence), policy), "", False
    if human == "tie":
        if policy.ties == "drop":
            return None, "human_tie", False
        return _orient(pair, "tie", 0.5, "human", policy.human_weight, policy), "", False
    disagree = ai is not None and ai != human
    if disagree and policy.disagreement == "drop":
        return None, "disagreement", True
    p_chosen = share if policy.human_label == "vote_share" else 1.0
    source = "both" if ai == human else "human"
    return _orient(pair, human, p_chosen, source, policy.human_weight, policy), "", disagree


WEIGHT_LABELS = tuple(
    f"{lo:.1f}-{hi:.1f}" if hi < 1.0 else f"{lo:.1f}-{hi:.1f}+" for lo, hi in itertools.pairwise(WEIGHT_BINS)
)


def weight_bin(weight: float) -> str:
    """The histogram bin [lo, hi) of width 0.1 a weight falls in; weights >= 1 share the last."""
    return WEIGHT_LABELS[min(int(weight * 10 + 1e-9), len(WEIGHT_LABELS) - 1)]


def weight_histogram(weights: Iterable[float]) -> dict[str, int]:
    """Counts per bin [lo, hi) of width 0.1 over [0, 1]; weights >= 1 share the last bin."""
    counts = dict.fromkeys(WEIGHT_LABELS, 0)
    for w in weights:
        counts[weight_bin(w)] += 1
    return counts


def blend_stream(
    pairs: Iterable[PairVotes],
    summary: BlendSummary,
    policy: BlendPolicy | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Iterator[PreferenceRow]:
    """The kept rows, one per pair in the pairs' order, counting every pair into `summary` as it
    goes: an export of a million pairs holds one pair at a time, not the blend. `summary` is
    complete (and its counts sorted) once the rows are exhausted."""
    policy = policy or BlendPolicy()
    calibrate = calibrator(calibration)
    for pair in pairs:
        row, reason, disagree = blend_pair(pair, policy, calibrate)
        summary.count(row, reason, disagree)
        if row is not None:
            yield row
    summary.sort()


def blend(
    pairs: Iterable[PairVotes],
    policy: BlendPolicy | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> BlendResult:
    """Rows (sorted by pair_id) and a summary; `calibration` is a CalibrationMap dict applied to
    every AI probability first. Nothing is written: a dry run is this call plus summary.format()."""
    policy = policy or BlendPolicy()
    summary = BlendSummary(policy_version=policy.version)
    rows = sorted(blend_stream(pairs, summary, policy, calibration), key=lambda r: r.pair_id)
    return BlendResult(rows=rows, summary=summary)
