"""The `ensemble` backend: several judges on the same items. The probability is the mean
over the members that answered; their disagreement is kept as a routing signal."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence

from labeling.judges.base import (
    Judge,
    JudgeConfig,
    JudgeError,
    JudgeItem,
    Provenance,
    ShownChoice,
    Verdict,
    build_judge,
    register_backend,
)
from labeling.judges.cache import CallCache
from labeling.judges.parsing import winner_of
from labeling.records import VerdictStatus


def spread(verdict: Verdict) -> float:
    """max - min of the OK members' p_first (0.0 with fewer than two)."""
    ps = [m.p_first for m in verdict.members if m.p_first is not None]
    return max(ps) - min(ps) if len(ps) > 1 else 0.0


def winners_differ(verdict: Verdict) -> bool:
    """True when the OK members do not all name the same winner."""
    return len({m.choice for m in verdict.members if m.ok}) > 1


@register_backend("ensemble")
class EnsembleJudge(Judge):
    """Members come from `config.members` (built through the registry) or are passed in."""

    def __init__(
        self,
        config: JudgeConfig,
        cache: CallCache | None = None,
        members: Sequence[Judge] | None = None,
    ) -> None:
        super().__init__(config, cache)
        self.members = (
            list(members) if members is not None else [build_judge(m, cache) for m in config.members]
        )
        if not self.members:
            raise JudgeError(
                "judge.ensemble.members",
                f"ensemble judge {config.name!r} has no members; list them in its members",
                setting="members",
            )

    async def check(self) -> None:
        await asyncio.gather(*(m.check() for m in self.members))

    async def judge_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        per_member = await asyncio.gather(*(m.judge_batch(items) for m in self.members))
        verdicts = [
            self._combine(item.key, list(votes))
            for item, votes in zip(items, zip(*per_member, strict=True), strict=True)
        ]
        self._refresh_stats()
        return verdicts

    def _refresh_stats(self) -> None:
        """Totals are the members' (what was called and paid); errors are the items on which
        every member failed."""
        fields = ("calls", "cache_hits", "retries", "prompt_tokens", "completion_tokens", "cost")
        for name in fields:
            setattr(self.stats, name, sum(getattr(m.stats, name) for m in self.members))

    def _combine(self, key: str, members: list[Verdict]) -> Verdict:
        provenance = Provenance(
            backend="ensemble",
            model="+".join(m.config.name for m in self.members),
            prompt_tokens=sum(v.provenance.prompt_tokens for v in members),
            completion_tokens=sum(v.provenance.completion_tokens for v in members),
            cost=sum(v.provenance.cost or 0.0 for v in members),
            latency_s=max(v.provenance.latency_s for v in members),
            cached=all(v.provenance.cached for v in members),
            p_source=f"mean:{sum(v.ok for v in members)}",
            calls=sum(v.provenance.calls for v in members),
        )
        ok = [v for v in members if v.ok]
        if not ok:
            self.stats.errors += 1
            reason = "; ".join(
                f"{j.config.name}: {v.error}" for j, v in zip(self.members, members, strict=True)
            )
            status = (
                VerdictStatus.ERROR
                if any(v.status is VerdictStatus.ERROR for v in members)
                else VerdictStatus.UNPARSABLE
            )
            return Verdict(
                key=key,
                status=status,
                p_first=None,
                choice=None,
                provenance=provenance,
                error=reason,
                members=tuple(members),
            )
        p_first = statistics.fmean(v.p_first for v in ok if v.p_first is not None)
        choice = winner_of({ShownChoice.FIRST: p_first, ShownChoice.SECOND: 1 - p_first})
        return Verdict(
            key=key,
            status=VerdictStatus.OK,
            p_first=p_first,
            choice=choice,
            provenance=provenance,
            members=tuple(members),
        )
