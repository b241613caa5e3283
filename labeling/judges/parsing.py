"""Turn what a model said into a verdict, strictly.

A reply that does not contain an allowed verdict is UNPARSABLE, with the reply quoted in the
reason; it never becomes a default answer. Probabilities come from the allowed verdict tokens
only (Lee et al. 2023): their probabilities are renormalized over the allowed set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from labeling.judges.base import Provenance, ShownChoice, Verdict
from labeling.records import VerdictStatus

VERDICT_TOKENS: dict[str, ShownChoice] = {
    "1": ShownChoice.FIRST,
    "2": ShownChoice.SECOND,
    "tie": ShownChoice.TIE,
}
_DECORATION = " \t\r\n*_`'\".:!()[]"


def allowed_choices(allow_tie: bool) -> tuple[ShownChoice, ...]:
    return tuple(c for c in ShownChoice if allow_tie or c is not ShownChoice.TIE)


def choice_of_token(token: str, allow_tie: bool) -> ShownChoice | None:
    """The choice a single token stands for (`" 1"`, `"Tie"`), or None for any other token."""
    choice = VERDICT_TOKENS.get(token.strip().lower())
    if choice is ShownChoice.TIE and not allow_tie:
        return None
    return choice


def parse_verdict_text(text: str, allow_tie: bool) -> ShownChoice | None:
    """The verdict a completion states on its first line (`1`, `**2**`, `tie.`), else None.

    Anything longer (`Response 1`, `1 and 2`) is not a verdict: the template asks for one token.
    """
    lines = text.strip().splitlines()
    if not lines:
        return None
    return choice_of_token(lines[0].strip(_DECORATION), allow_tie)


def distribution_from_logprobs(
    top_logprobs: Mapping[str, float], allow_tie: bool
) -> dict[ShownChoice, float]:
    """Probabilities of the allowed choices renormalized over the allowed verdict tokens.

    Tokens that spell the same choice (`1`, ` 1`) are summed. Returns {} when no allowed
    verdict token is among `top_logprobs` (the caller reports that as UNPARSABLE).
    """
    mass: dict[ShownChoice, float] = {}
    for token, logprob in top_logprobs.items():
        choice = choice_of_token(token, allow_tie)
        if choice is not None and math.isfinite(logprob):
            mass[choice] = mass.get(choice, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        return {}
    return {c: mass.get(c, 0.0) / total for c in allowed_choices(allow_tie)}


def distribution_from_votes(votes: Iterable[ShownChoice], allow_tie: bool) -> dict[ShownChoice, float]:
    """Vote shares of the allowed choices; {} when there are no votes."""
    votes = list(votes)
    if not votes:
        return {}
    return {c: votes.count(c) / len(votes) for c in allowed_choices(allow_tie)}


def p_first_of(distribution: Mapping[ShownChoice, float]) -> float:
    """P(first better), counting half of the tie mass for each side."""
    return distribution.get(ShownChoice.FIRST, 0.0) + 0.5 * distribution.get(ShownChoice.TIE, 0.0)


def winner_of(distribution: Mapping[ShownChoice, float]) -> ShownChoice:
    """The most probable choice; an exact first/second draw is a tie."""
    first = distribution.get(ShownChoice.FIRST, 0.0)
    second = distribution.get(ShownChoice.SECOND, 0.0)
    tie = distribution.get(ShownChoice.TIE, 0.0)
    if (tie >= max(first, second) and tie > 0.0) or first == second:
        return ShownChoice.TIE
    return ShownChoice.FIRST if first > second else ShownChoice.SECOND


def verdict_from_distribution(
    key: str,
    distribution: Mapping[ShownChoice, float],
    provenance: Provenance,
    rationale: str = "",
    reply: str = "",
) -> Verdict:
    """An OK verdict from a non-empty distribution, else UNPARSABLE quoting the reply."""
    if not distribution:
        return Verdict.failed(
            key,
            VerdictStatus.UNPARSABLE,
            f"no allowed verdict token in the reply {quote(reply)}",
            provenance,
        )
    return Verdict(
        key=key,
        status=VerdictStatus.OK,
        p_first=p_first_of(distribution),
        choice=winner_of(distribution),
        provenance=provenance,
        rationale=rationale,
    )


def quote(text: str, limit: int = 120) -> str:
    """A reply as it appears in an error message: repr'd and cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


_SCORE_RE = re.compile(r"(10|[1-9])(?:\s*/\s*10)?")


def parse_score_text(text: str) -> int | None:
    """The 1-10 score a completion states on its first line (`7`, `7/10`, `**7**`), else None."""
    lines = text.strip().splitlines()
    if not lines:
        return None
    match = _SCORE_RE.fullmatch(lines[0].strip(_DECORATION))
    return int(match.group(1)) if match else None
