"""The guarantee mode Tandem shipped before the learned score, kept as the benchmark's baseline.

Each slice with `min_slice` audited pairs, and the other slices pooled, gets its own threshold
on the judge's raw confidence, certified at the target on its own by fixed-sequence testing at
delta / (groups x judges) (`labeling.guarantee.fixed_sequence`, the same test). It is valid, but
a slice whose sure verdicts agree 86% of the time can never be certified at 85% there, which is
what bench/guarantee.py measures against `labeling.guarantee.calibrate_cascade`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from labeling.guarantee import POOLED, Calibrated, GuaranteeConfig, fixed_sequence


def slice_groups(slices: Sequence[str], min_slice: int) -> dict[str, str]:
    """{slice: its group}: itself when it has `min_slice` audited pairs, else POOLED."""
    counts: dict[str, int] = defaultdict(int)
    for key in slices:
        counts[key] += 1
    return {key: key if n >= min_slice else POOLED for key, n in counts.items()}


def calibrate(audited: dict[str, Sequence[Calibrated]], config: GuaranteeConfig):
    """({(judge, group): threshold on confidence}, slice -> group) from the audited pairs."""
    judges = list(audited)
    n = len(audited[judges[0]])
    groups = slice_groups([c.slice for c in audited[judges[0]]], config.min_slice)
    names = sorted(set(groups.values())) or [POOLED]
    delta = config.delta / (len(names) * len(judges))
    open_ = [True] * n
    table = {}
    for judge in judges:
        items = audited[judge]
        for group in names:
            mine = [i for i in range(n) if open_[i] and groups[items[i].slice] == group]
            value = fixed_sequence([items[i] for i in mine], config.alpha, delta)
            table[(judge, group)] = value
            for i in mine:
                open_[i] = open_[i] and not _keeps(value, items[i].confidence)
    return table, groups


def _keeps(threshold: float | None, value: float | None) -> bool:
    return threshold is not None and value is not None and value >= threshold


def assign(pairs: dict[str, Sequence[Calibrated]], table: dict, groups: dict[str, str]) -> list[str | None]:
    """Per pair, the judge whose label is kept, or None (to humans)."""
    judges = list(pairs)
    out: list[str | None] = []
    for i in range(len(pairs[judges[0]])):
        out.append(
            next(
                (
                    j
                    for j in judges
                    if _keeps(table.get((j, groups.get(pairs[j][i].slice, POOLED))), pairs[j][i].confidence)
                ),
                None,
            )
        )
    return out
