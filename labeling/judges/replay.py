"""The `replay` backend: verdicts some judge already gave (imported from LLMBar, MT-Bench,
PandaLM...), served through the same protocol so every later stage treats them like fresh
ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from labeling.judges.base import (
    Judge,
    JudgeConfig,
    JudgeItem,
    Provenance,
    ShownChoice,
    Verdict,
    register_backend,
)
from labeling.judges.cache import CallCache
from labeling.records import RecordedVerdict, VerdictStatus, hard_p_first


def verdict_from_record(key: str, record: RecordedVerdict) -> Verdict:
    """A Verdict (shown terms) from an importer's RecordedVerdict (pair terms + order).

    The probability is the recorded one when the data set has it (`p_source="recorded"`),
    else the hard choice's 1 / 0 / 0.5 (`"hard"`).
    """
    provenance = Provenance(
        backend="replay",
        model=record.model or record.judge,
        params={"judge": record.judge, **record.detail},
        p_source="recorded" if record.p_first is not None else "hard",
    )
    if record.status is not VerdictStatus.OK or record.choice is None:
        reason = record.detail.get("error") or f"the recorded verdict is {record.status}"
        status = VerdictStatus.UNPARSABLE if record.status is VerdictStatus.OK else record.status
        return Verdict.failed(key, status, str(reason), provenance)
    p_first = record.p_first if record.p_first is not None else hard_p_first(record.choice, record.order)
    return Verdict(
        key=key,
        status=VerdictStatus.OK,
        p_first=p_first,
        choice=ShownChoice.from_pair(record.choice, record.order),
        provenance=provenance,
        rationale=record.rationale,
    )


@register_backend("replay")
class ReplayJudge(Judge):
    """Answers each item with the verdict recorded under its key; an item with none gets an
    ERROR verdict saying so (it was never judged by that judge)."""

    def __init__(
        self,
        config: JudgeConfig,
        cache: CallCache | None = None,
        recorded: Mapping[str, Verdict] | None = None,
    ) -> None:
        super().__init__(config, cache)
        self.recorded: dict[str, Verdict] = dict(recorded or {})

    def add(self, verdicts: Mapping[str, Verdict]) -> None:
        """Record more verdicts (the platform loads them from its rows)."""
        self.recorded.update(verdicts)

    async def judge_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        out = []
        for item in items:
            found = self.recorded.get(item.key)
            if found is None:
                self.stats.errors += 1
                found = Verdict.failed(
                    item.key,
                    VerdictStatus.ERROR,
                    f"judge {self.config.name!r} has no recorded verdict for {item.key!r}",
                    Provenance(backend="replay", model=self.config.model),
                )
            else:
                self.stats.cache_hits += 1
            out.append(found)
        return out
