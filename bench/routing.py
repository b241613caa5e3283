"""Budget routing measured against random and plain uncertainty routing on ../shared/data (issues 9, 18).

For each recorded judge and set (and the five LLMBar sets mixed in one project, slice = set), at
human budgets of 10%, 20% and 30% of the pairs: the share of the AI-only errors removed by (a)
random routing, (b) uncertainty routing alone (failures, flips, ties, closeness to 0.5) and (c)
uncertainty + audit-driven escalation (`labeling.routing_replay.escalation_routing`: (b)'s
reasons first, a blind audit of up to 20% of the budget where (b) breaks ties, then slices the
audit proves worse than what they displace). (c) - (b) must never be negative. Accuracy is of
the combined verdict (a flip is a tie) against gold labels (leave-one-annotator-out where several
humans labeled a pair).

Run: .venv/bin/python bench/routing.py [--data ../shared/data] [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from routing_replay import setup

ROOT = Path(__file__).resolve().parents[1]
LLMBAR = [
    "LLMBar/Natural",
    "LLMBar/Adversarial/Neighbor",
    "LLMBar/Adversarial/GPTInst",
    "LLMBar/Adversarial/GPTOut",
    "LLMBar/Adversarial/Manual",
]
EVALUATORS = ["GPT-4", "ChatGPT", "LLaMA2", "PaLM2", "Falcon"]
BUDGETS = (0.1, 0.2, 0.3)


def cases(data: Path):
    """(set name, judge name, replay items) for every recorded judge and set."""
    from tandem.core import routing, services

    for name in LLMBAR:
        project = services.create_project(name.replace("/", "-").lower())
        services.import_pairs(project, data / "llmbar" / name, "llmbar")
        for evaluator in EVALUATORS:
            judge = f"llmbar:{evaluator}/Vanilla_NoRules"
            yield name, evaluator, routing.replay_items(project, [judge])
    mixed = services.create_project("llmbar-mixed")
    for name in LLMBAR:  # one project, category = set: escalation has slices to tell apart
        services.import_pairs(mixed, data / "llmbar" / name, "llmbar")
    for evaluator in EVALUATORS:
        yield (
            "LLMBar, 5 sets mixed",
            evaluator,
            routing.replay_items(mixed, [f"llmbar:{evaluator}/Vanilla_NoRules"]),
        )
    mt = services.create_project("mtbench")
    # skip_invalid: a few MT-Bench rows repeat response_a as response_b (no preference to learn)
    services.import_pairs(
        mt, data / "mtbench" / "mtbench_human_vs_gpt4pair.jsonl.gz", "mtbench", skip_invalid=True
    )
    yield "MT-Bench (humans)", "GPT-4", routing.replay_items(mt, ["mtbench:gpt-4"])
    panda = services.create_project("pandalm")
    services.import_pairs(panda, data / "pandalm", "pandalm", skip_invalid=True)
    for judge in ("gpt-3.5-turbo", "pandalm-7b"):
        yield "PandaLM", judge, routing.replay_items(panda, [f"pandalm:{judge}"])


def measure(items, budget: float, seeds: int) -> tuple[float, float, float, float]:
    from labeling.routing_replay import budget_replay

    removed = {
        mode: statistics.mean(budget_replay(items, budget, mode, seed=s)[2] for s in range(seeds))
        for mode in ("random", "uncertainty", "escalation")
    }
    ai_only = budget_replay(items, budget, "uncertainty")[1]
    return ai_only, removed["random"], removed["uncertainty"], removed["escalation"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=5, help="seeds for the audit sample and ties")
    args = parser.parse_args()
    import tempfile

    setup(tempfile.mkdtemp(prefix="tandem-routing-"))
    print(
        f"{'set':<28} {'judge':<14} {'AI acc':>6} {'budget':>6} {'(a) random':>10} {'(b) uncert.':>11} "
        f"{'(c) +escal.':>11} {'(c)/(a)':>7} {'(c)-(b)':>7}  target"
    )
    misses = losses = 0
    for name, judge, items in cases(args.data):
        for budget in BUDGETS:
            ai_only, rand, unc, esc = measure(items, budget, args.seeds)
            ratio = esc / rand if rand > 0 else float("inf")
            need = 2.0 if ai_only >= 0.6 else 1.0
            ok = ratio >= need - 1e-9
            misses += not ok
            losses += esc < unc - 1e-9
            print(
                f"{name:<28} {judge:<14} {ai_only:>6.1%} {budget:>6.0%} {rand:>10.1%} {unc:>11.1%} "
                f"{esc:>11.1%} {ratio:>6.1f}x {100 * (esc - unc):>+6.1f}  "
                f"{'PASS' if ok else 'MISS'} (>= {need:.0f}x)"
            )
    print(f"\n{misses} rows miss their target; (c) removes fewer errors than (b) in {losses} rows")


if __name__ == "__main__":
    main()
