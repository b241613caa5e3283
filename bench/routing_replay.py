"""Routing replay on the recorded verdicts of ../shared/data: flip routing vs random routing.

For each set and judge: route the pairs whose recorded verdict flipped under swap (the policy
with uncertainty 0 and no audit sample), and the same number of random pairs; print the human
share, the accuracy of the blended labels against the gold labels, and the share of the AI's
errors each removes. Run: .venv/bin/python bench/routing_replay.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JUDGES = ["GPT-4", "ChatGPT", "LLaMA2", "PaLM2", "Falcon"]


def setup(var: str) -> None:
    os.environ.update(TANDEM_VAR_DIR=var, DJANGO_SETTINGS_MODULE="tandem.settings.base")
    sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    setup(tempfile.mkdtemp(prefix="tandem-replay-"))
    from labeling.routing import RoutingPolicy
    from labeling.routing_replay import replay
    from tandem.core import routing, services

    policy = RoutingPolicy(uncertainty=0.0, audit_rate=0.0)
    print(
        f"{'set':<28} {'judge':<8} {'pairs':>5} {'AI acc':>7} {'human':>6} {'acc':>6} {'rand acc':>8} "
        f"{'removed':>8} {'random':>7} {'gain':>6}"
    )
    from labeling.importers.llmbar import LLMBAR_SETS

    for name in LLMBAR_SETS[:6]:  # the six sets of the README's replay table
        project = services.create_project(name.replace("/", "-").lower())
        services.import_pairs(project, args.data / "llmbar" / name, "llmbar")
        for judge in JUDGES:
            label = f"llmbar:{judge}/Vanilla_NoRules"
            items = routing.replay_items(project, [label])
            if not items:
                continue
            (row,) = replay(items, [policy])
            gain = f"{row.gain_over_random:.1f}x" if row.gain_over_random else "-"
            print(
                f"{name:<28} {judge:<8} {len(items):>5} {row.ai_only_accuracy:>7.1%} {row.human_share:>6.1%} "
                f"{row.accuracy:>6.1%} {row.random_accuracy:>8.1%} {row.errors_removed:>8.1%} "
                f"{row.random_errors_removed:>7.1%} {gain:>6}"
            )


if __name__ == "__main__":
    main()
