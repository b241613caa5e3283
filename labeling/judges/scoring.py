"""Direct scoring (d-RLAIF): a judge rates one response 1-10; the score is the
probability-weighted mean over the score tokens, mapped to [-1, 1] so it can serve as a reward.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from labeling.judges.base import Provenance
from labeling.judges.parsing import quote
from labeling.records import VerdictStatus

SCORES = tuple(range(1, 11))


@dataclass(frozen=True)
class ScoreItem:
    key: str
    prompt: str
    response: str
    reference: str = ""


@dataclass(frozen=True)
class ScoreVerdict:
    """A rating of one response. `reward` (in [-1, 1]) and `mean` (in [1, 10]) are set exactly
    when `status` is OK; `distribution` maps each score 1-10 to its probability (empty
    otherwise); `error` is the reason when not OK."""

    key: str
    status: VerdictStatus
    reward: float | None
    mean: float | None
    provenance: Provenance
    distribution: Mapping[int, float] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is VerdictStatus.OK


def reward_of(mean: float) -> float:
    """Map a mean score in [1, 10] linearly to [-1, 1] (5.5 -> 0)."""
    return (mean - 5.5) / 4.5


def score_distribution(mass: Mapping[int, float]) -> dict[int, float]:
    """Normalize non-negative masses over the scores 1-10; {} when there is no mass."""
    total = sum(v for k, v in mass.items() if k in SCORES and math.isfinite(v))
    if total <= 0.0:
        return {}
    return {s: mass.get(s, 0.0) / total for s in SCORES}


def score_verdict(
    key: str, distribution: Mapping[int, float], provenance: Provenance, reply: str = ""
) -> ScoreVerdict:
    """OK with the expected score when `distribution` is non-empty, else UNPARSABLE."""
    if not distribution:
        return ScoreVerdict(
            key=key,
            status=VerdictStatus.UNPARSABLE,
            reward=None,
            mean=None,
            provenance=provenance,
            error=f"no score token 1-10 in the reply {quote(reply)}",
        )
    mean = sum(s * p for s, p in distribution.items())
    return ScoreVerdict(
        key=key,
        status=VerdictStatus.OK,
        reward=reward_of(mean),
        mean=mean,
        provenance=provenance,
        distribution=dict(distribution),
    )


def failed_score(key: str, error: str, provenance: Provenance) -> ScoreVerdict:
    return ScoreVerdict(
        key=key,
        status=VerdictStatus.ERROR,
        reward=None,
        mean=None,
        provenance=provenance,
        error=error,
    )
