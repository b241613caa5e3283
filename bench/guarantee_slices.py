"""Can the slice (category = LLMBar set) buy coverage at 0.85 and stay valid? A prototype, not
guarantee mode: `labeling.guarantee` certifies every slice group at the target on its own, so a
slice whose kept pairs agree 86% of the time can never pass the bound there, although mixed
with a 100% slice the kept labels as a whole would reach 85%.

The prototype certifies the kept labels as a whole, over a score that ranks (slice, confidence)
cells by how often humans agreed with them. The score must not see the pairs that test it, so
each calibration half is split again: on one part each cell's agreement (Laplace-smoothed; a cell
unseen there takes its confidence level's pooled rate) becomes the score; on the other part one
fixed-sequence binomial test (`labeling.guarantee.fixed_sequence`, full delta: one group, one
judge) picks the threshold on that score. Given the score, the test is the same as guarantee
mode's, so the statement (kept labels agree >= target with probability >= 1 - delta) holds.

Ceiling: the largest share of pairs that keeping whole cells, best first, can keep at the target
on the whole set with labels known.

Run: .venv/bin/python bench/guarantee_slices.py [--data ../shared/data] [--splits 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from guarantee import TARGETS, splits  # noqa: E402
from guarantee_data import calibrated, llmbar_judge, llmbar_mixed  # noqa: E402

from labeling.guarantee import Calibrated, fixed_sequence  # noqa: E402
from labeling.routing import wilson  # noqa: E402

DELTA = 0.1


def cell_scores(items: list[Calibrated]) -> tuple[dict, dict]:
    """({(slice, confidence): smoothed agreement}, {confidence: pooled smoothed agreement})."""
    cells: dict = defaultdict(lambda: [0, 0])
    levels: dict = defaultdict(lambda: [0, 0])
    for c in items:
        if c.confidence is None:
            continue
        for table, key in ((cells, (c.slice, c.confidence)), (levels, c.confidence)):
            table[key][0] += 1
            table[key][1] += c.agrees
    smooth = {k: (a + 1) / (n + 2) for k, (n, a) in cells.items()}
    return smooth, {k: (a + 1) / (n + 2) for k, (n, a) in levels.items()}


def scored(items: list[Calibrated], scores: tuple[dict, dict]) -> list[Calibrated]:
    """The items with the cell score as their confidence (None stays None: a tie is never kept)."""
    cells, levels = scores
    return [
        Calibrated(
            None if c.confidence is None else cells.get((c.slice, c.confidence), levels.get(c.confidence)),
            c.agrees,
            c.slice,
        )
        for c in items
    ]


def run(items: list[Calibrated], target: float, n_splits: int) -> dict:
    wins, coverage = 0, []
    rng = random.Random(2)
    for calib, test in splits(len(items), n_splits):
        calib = list(calib)
        rng.shuffle(calib)
        half = len(calib) // 2
        scores = cell_scores([items[i] for i in calib[:half]])
        threshold = fixed_sequence(scored([items[i] for i in calib[half:]], scores), 1 - target, DELTA)
        kept = [
            c.agrees
            for c in scored([items[i] for i in test], scores)
            if threshold is not None and c.confidence is not None and c.confidence >= threshold
        ]
        wins += not kept or sum(kept) / len(kept) >= target
        coverage.append(len(kept) / len(test))
    return {
        "success": wins / n_splits,
        "interval": wilson(wins, n_splits),
        "coverage": statistics.mean(coverage),
    }


def ceiling(items: list[Calibrated], target: float) -> float:
    cells: dict = defaultdict(lambda: [0, 0])
    for c in items:
        if c.confidence is not None:
            cells[(c.slice, c.confidence)][0] += 1
            cells[(c.slice, c.confidence)][1] += c.agrees
    kept = agree = best = 0
    for n, a in sorted(cells.values(), key=lambda v: -v[1] / v[0]):
        kept, agree = kept + n, agree + a
        if agree / kept >= target:
            best = kept
    return best / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--splits", type=int, default=1000)
    args = parser.parse_args()
    mixed = llmbar_mixed(args.data)
    for evaluator in ("GPT-4", "ChatGPT"):
        items = calibrated(mixed, llmbar_judge(evaluator))
        print(f"\nLLMBar, 8 sets mixed, {evaluator}: cells (slice, confidence) scored, kept certified whole")
        print(f"{'target':>6} {'splits reaching it':>26}      {'coverage':>8} {'cell ceiling':>12}")
        for target in TARGETS:
            r = run(items, target, args.splits)
            low, high = r["interval"]
            print(
                f"{target:>6.0%} {r['success']:>9.1%} [{low:.1%}, {high:.1%}] "
                f"{'PASS' if r['success'] >= 0.85 else 'MISS'} {r['coverage']:>8.1%} "
                f"{ceiling(items, target):>12.1%}"
            )


if __name__ == "__main__":
    main()
