"""Guarantee mode (Trust or Escalate) on the recorded verdicts of ../shared/data (issue 18).

Validity: random calibration / test splits of each set (half and half); thresholds calibrated
on the calibration half (labeling.guarantee: a score learned on half of it, its threshold tested
on the other half), agreement with the human majority measured on the test pairs they keep. A
split succeeds when that agreement reaches the target (or nothing is kept); the guarantee
promises success with probability >= 1 - delta (0.9), the issue asks >= 85% of splits. Beside
it, on the same splits, the baseline (bench/guarantee_baseline.py: each slice certified on its
own, raw confidence). Coverage: the share of test pairs given an AI label, beside its ceiling
(the largest share that keeping whole cells of the same signals keeps at the target on the whole
set, labels known). Cost per correct label: cascades vs GPT-4 alone vs humans alone, at the
prices of PRICES. Lazy cascade: the share of test pairs the strong judge must judge when it
is called only for the pairs the cheap judge cannot settle (`assign(..., unjudged)`), against
every pair (eager) and against the cost table's assumption. PPI++ against classical intervals
at the same human n, and annotators' Dawid-Skene reliability: bench/guarantee_estimates.py.

Run: .venv/bin/python bench/guarantee.py [--data ../shared/data] [--splits 1000] [--draws 1000]
     [--tables validity cost ppi annotators lazy]
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

import guarantee_baseline as baseline  # noqa: E402
from guarantee_data import Pair, calibrated, call_tokens, cascade, llmbar_judge, llmbar_mixed, load  # noqa: E402
from guarantee_estimates import annotator_table, ppi_table  # noqa: E402

from labeling.guarantee import Calibrated, GuaranteeConfig, Waiting, assign, calibrate_cascade  # noqa: E402
from labeling.routing import wilson  # noqa: E402

TARGETS = (0.8, 0.85, 0.9)
# $ per 1M tokens (input, output): the providers' list prices for the recorded models, 2023.
# GPT-4 (8K) and gpt-3.5-turbo-0613 (4K): $30/$60 and $1.50/$2.00, as in LiteLLM's price table of
# 2023 (BerriAI/litellm model_prices_and_context_window.json at f6983223: 3e-05/6e-05 and
# 1.5e-06/2e-06 per token); OpenAI cut gpt-3.5-turbo to $1/$2 in Nov 2023. PaLM 2 (text-bison
# on Vertex AI): $0.0005 per 1,000 characters both ways until Dec 2023, about $2 per 1M tokens
# at 4 characters a token (Vertex's legacy pricing page; after the Dec 2023 cut a January 2024
# table, bardsai/performance-llm-board, lists chat-bison at $0.25/$0.50 per 1M characters).
# The GPT-4 row drives every conclusion; the other two only order the cheap first stage.
# A human label: $0.67 (Lee et al. 2023, RLAIF, their estimate of a crowd label).
PRICES = {"GPT-4": (30.0, 60.0), "ChatGPT": (1.5, 2.0), "PaLM2": (2.0, 2.0)}
HUMAN_LABEL = 0.67
TABLES = ("validity", "cost", "ppi", "annotators", "lazy")


def splits(n: int, count: int, seed: int = 0):
    rng = random.Random(seed)
    ids = list(range(n))
    for _ in range(count):
        rng.shuffle(ids)
        yield sorted(ids[: n // 2]), sorted(ids[n // 2 :])


def ceiling(items: list[Calibrated], target: float) -> float:
    """The largest share of pairs that keeping whole cells of the same signals (slice, confidence,
    other judges agreeing, longer chosen), best first, keeps at `target` agreement on the whole
    set, labels known."""
    cells: dict = defaultdict(lambda: [0, 0])
    for c in items:
        if c.confidence is not None:
            cell = (c.slice, c.confidence, c.others_agree, c.chose_longer)
            cells[cell][0] += 1
            cells[cell][1] += c.agrees
    kept = agree = best = 0
    for n, a in sorted(cells.values(), key=lambda v: -v[1] / v[0]):
        kept, agree = kept + n, agree + a
        if agree / kept >= target:
            best = kept
    return best / len(items)


def run_split(cascade: dict[str, list[Calibrated]], calib, test, config) -> list[str | None]:
    """The judge whose label is kept per test pair (None: humans), calibrated on `calib`."""
    thresholds, scores = calibrate_cascade(
        {j: [v[i] for i in calib] for j, v in cascade.items()}, config, keys=[str(i) for i in calib]
    )
    return assign({j: [v[i] for i in test] for j, v in cascade.items()}, thresholds, scores)


def baseline_split(cascade: dict[str, list[Calibrated]], calib, test, config) -> list[str | None]:
    """The same, by the baseline (each slice group certified on its own, raw confidence)."""
    table, groups = baseline.calibrate({j: [v[i] for i in calib] for j, v in cascade.items()}, config)
    return baseline.assign({j: [v[i] for i in test] for j, v in cascade.items()}, table, groups)


def validity(cascade: dict[str, list[Calibrated]], target: float, n_splits: int, min_slice: int) -> dict:
    """Per method: share of splits whose kept test pairs reach `target` (nothing kept counts as
    reaching it) with its Wilson interval, and mean coverage of the test halves."""
    config = GuaranteeConfig(target, 0.9, tuple(cascade), min_slice=min_slice)
    first = next(iter(cascade.values()))
    out = {}
    for name, method in (("learned", run_split), ("baseline", baseline_split)):
        wins, coverage = 0, []
        for calib, test in splits(len(first), n_splits):
            chosen = method(cascade, calib, test, config)
            kept = [cascade[j][i].agrees for i, j in zip(test, chosen, strict=True) if j is not None]
            wins += not kept or sum(kept) / len(kept) >= target
            coverage.append(len(kept) / len(test))
        out[name] = {"success": wins / n_splits, "interval": wilson(wins, n_splits),
                     "coverage": statistics.mean(coverage)}  # fmt: skip
    out["ceiling"] = ceiling(first, target) if len(cascade) == 1 else None
    return out


def validity_table(name: str, cascade: dict[str, list[Calibrated]], n_splits: int, min_slice: int) -> None:
    print(f"\n{name}: {len(next(iter(cascade.values())))} pairs, judges {' -> '.join(cascade)}, "
          f"min_slice {min_slice}, {n_splits} splits")  # fmt: skip
    print(f"{'target':>6} | {'learned score: splits reaching it':>34} {'coverage':>8} | "
          f"{'baseline: splits':>16} {'coverage':>8} | {'ceiling':>7}")  # fmt: skip
    for target in TARGETS:
        r = validity(cascade, target, n_splits, min_slice)
        new, old = r["learned"], r["baseline"]
        low, high = new["interval"]
        top = "-" if r["ceiling"] is None else f"{r['ceiling']:.1%}"
        print(
            f"{target:>6.0%} | {new['success']:>9.1%} [{low:.1%}, {high:.1%}] "
            f"{'PASS' if new['success'] >= 0.85 else 'MISS'}      {new['coverage']:>8.1%} | "
            f"{old['success']:>16.1%} {old['coverage']:>8.1%} | {top:>7}"
        )


def judge_cost(pairs: list[Pair], evaluator: str) -> list[float]:
    price_in, price_out = PRICES[evaluator]
    return [
        (t_in * price_in + t_out * price_out) / 1e6
        for t_in, t_out in call_tokens(pairs, llmbar_judge(evaluator))
    ]


def cost_row(
    pairs, judges: list[str], target: float, n_splits: int, min_slice: int
) -> tuple[float, float, float]:
    """(coverage, agreement of all final labels with the gold, $ per correct label) on test halves;
    a human label counts as correct (LLMBar's gold labels are experts')."""
    judged = cascade(pairs, {j: llmbar_judge(j) for j in judges})
    costs = {j: judge_cost(pairs, j) for j in judges}
    config = GuaranteeConfig(target, 0.9, tuple(judges), min_slice=min_slice)
    spent = correct = kept_total = total = 0.0
    for calib, test in splits(len(pairs), n_splits, seed=1):
        chosen = run_split(judged, calib, test, config) if judges else [None] * len(test)
        for i, judge in zip(test, chosen, strict=True):
            asked = judges if judge is None else judges[: judges.index(judge) + 1]
            spent += sum(costs[j][i] for j in asked) + (HUMAN_LABEL if judge is None else 0.0)
            correct += 1 if judge is None else judged[judge][i].agrees
            kept_total += judge is not None
            total += 1
    return kept_total / total, correct / total, spent / correct


def cost_table(pairs: list[Pair], n_splits: int, min_slice: int) -> None:
    print(f"\nCost per correct label, mixed LLMBar ({len(pairs)} pairs; test halves of {n_splits} splits)")
    print(f"{'target':>6} {'route':<32} {'AI share':>8} {'agreement':>9} {'$ / correct':>11}")
    routes = [[], ["GPT-4"], ["ChatGPT", "GPT-4"], ["PaLM2", "GPT-4"]]
    alone = calibrated(pairs, llmbar_judge("GPT-4"))
    hits = sum(c.agrees for c in alone)
    print(f"{'-':>6} {'GPT-4 alone (no guarantee)':<32} {1:>8.1%} {hits / len(pairs):>9.1%} "
          f"{sum(judge_cost(pairs, 'GPT-4')) / hits:>11.4f}")  # fmt: skip
    for target in TARGETS:
        for judges in routes:
            share, agreement, per_label = cost_row(pairs, judges, target, n_splits, min_slice)
            route = " -> ".join([*judges, "humans"]) if judges else "humans alone"
            print(f"{target:>6.0%} {route:<32} {share:>8.1%} {agreement:>9.1%} {per_label:>11.4f}")


def lazy_row(pairs: list[Pair], judges: list[str], target: float, n_splits: int, min_slice: int) -> dict:
    """A two-judge cascade run lazily on the test halves: the strong judge is first treated as not
    having judged any pair (`assign`'s `unjudged`), judges only the pairs left `Waiting` for it, and
    those are decided again with its verdicts. Returns the shares of test pairs the strong judge
    judges (lazy; the cost table's assumption: every pair the cheap judge does not keep), the share
    of final decisions equal to the eager cascade's (every judge on every pair), and $ per correct
    label eager, lazy and as the cost table counts it."""
    cheap, strong = judges
    judged = cascade(pairs, {j: llmbar_judge(j) for j in judges})
    costs = {j: judge_cost(pairs, j) for j in judges}
    config = GuaranteeConfig(target, 0.9, tuple(judges), min_slice=min_slice)
    total = lazy_calls = assumed_calls = same = correct = 0
    spent = {"eager": 0.0, "lazy": 0.0, "assumed": 0.0}
    for calib, test in splits(len(pairs), n_splits, seed=1):
        thresholds, scores = calibrate_cascade(
            {j: [v[i] for i in calib] for j, v in judged.items()}, config, keys=[str(i) for i in calib]
        )
        items = {j: [v[i] for i in test] for j, v in judged.items()}
        eager = assign(items, thresholds, scores)
        first = assign(items, thresholds, scores, {cheap: [False] * len(test), strong: [True] * len(test)})
        final = [e if isinstance(f, Waiting) else f for f, e in zip(first, eager, strict=True)]
        for k, i in enumerate(test):
            waits, assumed = isinstance(first[k], Waiting), eager[k] != cheap
            human = HUMAN_LABEL if eager[k] is None else 0.0
            spent["eager"] += costs[cheap][i] + costs[strong][i] + human
            spent["lazy"] += costs[cheap][i] + costs[strong][i] * waits + human
            spent["assumed"] += costs[cheap][i] + costs[strong][i] * assumed + human
            correct += 1 if eager[k] is None else judged[eager[k]][i].agrees
            lazy_calls += waits
            assumed_calls += assumed
            same += final[k] == eager[k]
            total += 1
    return {
        "lazy": lazy_calls / total,
        "assumed": assumed_calls / total,
        "same": same / total,
        **{f"cost_{name}": value / correct for name, value in spent.items()},
    }


def lazy_table(pairs: list[Pair], n_splits: int, min_slice: int) -> None:
    print(f"\nLazy cascade, mixed LLMBar ({len(pairs)} pairs; test halves of {n_splits} splits): "
          "share of test pairs the strong judge judges, and $ per correct label")  # fmt: skip
    print(f"{'target':>6} {'cascade':<16} {'eager':>6} {'lazy':>6} {'assumed':>7} {'lazy/assumed':>12} "
          f"{'same as eager':>13} | {'$ eager':>8} {'$ lazy':>8} {'$ assumed':>9}")  # fmt: skip
    for target in TARGETS:
        for judges in (["ChatGPT", "GPT-4"], ["PaLM2", "GPT-4"]):
            r = lazy_row(pairs, judges, target, n_splits, min_slice)
            print(
                f"{target:>6.0%} {' -> '.join(judges):<16} {1:>6.0%} {r['lazy']:>6.1%} {r['assumed']:>7.1%} "
                f"{r['lazy'] / r['assumed']:>12.2f} {r['same']:>13.1%} | "
                f"{r['cost_eager']:>8.4f} {r['cost_lazy']:>8.4f} {r['cost_assumed']:>9.4f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--splits", type=int, default=1000)
    parser.add_argument("--min-slice", type=int, default=40, help="audited pairs for a slice's own threshold")
    parser.add_argument("--draws", type=int, default=1000, help="random human samples per n (PPI table)")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    args = parser.parse_args()
    mixed = llmbar_mixed(args.data)
    gpt4 = {"GPT-4": calibrated(mixed, llmbar_judge("GPT-4"))}
    mt = load(args.data / "mtbench" / "mtbench_human_vs_gpt4pair.jsonl.gz", "mtbench")
    panda = load(args.data / "pandalm", "pandalm")
    both = ["pandalm:gpt-3.5-turbo", "pandalm:pandalm-7b"]
    cases = [
        ("LLMBar, 8 sets mixed (slice = set), GPT-4 as 2 prompts x 2 orders", gpt4, args.min_slice),
        ("LLMBar, the same, slices pooled", gpt4, len(mixed)),
        (
            "LLMBar, 8 sets mixed, cascade ChatGPT -> GPT-4 (each sees if the other agrees)",
            cascade(mixed, {j: llmbar_judge(j) for j in ("ChatGPT", "GPT-4")}),
            args.min_slice,
        ),
        (
            "LLMBar, 8 sets mixed, cascade PaLM2 -> ChatGPT -> GPT-4",
            cascade(mixed, {j: llmbar_judge(j) for j in ("PaLM2", "ChatGPT", "GPT-4")}),
            args.min_slice,
        ),
        (
            "MT-Bench humans (slice = category), GPT-4 (one merged verdict)",
            {"GPT-4": calibrated(mt, ["mtbench:gpt-4"])},
            args.min_slice,
        ),
        (
            "PandaLM, GPT-3.5 and PandaLM-7B as two annotators",
            {"both": calibrated(panda, both)},
            args.min_slice,
        ),
        (
            "PandaLM, cascade GPT-3.5 -> PandaLM-7B",
            cascade(panda, {"gpt-3.5": both[:1], "pandalm-7b": both[1:]}),
            args.min_slice,
        ),
    ]
    if "validity" in args.tables:
        for name, judged, min_slice in cases:
            validity_table(name, judged, args.splits, min_slice)
    if "cost" in args.tables:
        cost_table(mixed, max(args.splits // 5, 1), args.min_slice)
    if "lazy" in args.tables:
        lazy_table(mixed, max(args.splits // 5, 1), args.min_slice)
    if "ppi" in args.tables:
        ppi_table("LLMBar, 8 sets mixed, GPT-4 (2 prompts x 2 orders)", gpt4["GPT-4"], args.draws)
        ppi_table("MT-Bench, GPT-4 (one merged verdict)", cases[4][1]["GPT-4"], args.draws)
    if "annotators" in args.tables:
        annotator_table("MT-Bench humans", mt)
        annotator_table("PandaLM, three annotators", panda)


if __name__ == "__main__":
    main()
