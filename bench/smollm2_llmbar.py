#!/usr/bin/env python
"""Honest results: the built-in `smollm2` judge (hf backend) on LLMBar Natural, through the platform.

In a temporary TANDEM_VAR_DIR with SQLite it runs the same commands a user would:

    manage.py migrate
    manage.py import_pairs --project llmbar-natural --create-project --format llmbar <Natural>
    manage.py judge --project llmbar-natural --judge smollm2 --json
    manage.py audit --project llmbar-natural --judge smollm2 --format json

and prints, from the audit, the accuracy against the gold labels in each order and the mean over
the orders, the debiased accuracy (both orders combined), positional consistency (same winner
after the swap) and the first-position rate; the same for GPT-4's recorded Vanilla verdicts
(`llmbar:GPT-4/Vanilla_NoRules`, imported with the pairs) for comparison. The prompt is the
judge's released template, not tuned to this set.

    .venv/bin/python bench/smollm2_llmbar.py [--var-dir DIR] [--limit N]

`--var-dir` keeps the database: judging is resumable, so a second run reuses the verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TANDEM_SHARED_DATA", ROOT.parent / "shared" / "data"))
NATURAL = SHARED_DATA / "llmbar/LLMBar/Natural"
PROJECT = "llmbar-natural"
JUDGE = "smollm2"
REFERENCE = "llmbar:GPT-4/Vanilla_NoRules"


def manage(env: dict, *args: str, show_progress: bool = False) -> str:
    """stdout of `manage.py ARGS`; raises SystemExit with its stderr when it fails."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=None if show_progress else subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr or ''}{done.stdout}")
    return done.stdout


def audit(env: dict, judge: str) -> dict:
    return json.loads(manage(env, "audit", "--project", PROJECT, "--judge", judge, "--format", "json"))


def _pct(value) -> str:
    return f"{value:8.1%}" if isinstance(value, int | float) else f"{'n/a':>8}"


def print_table(reports: dict[str, dict]) -> None:
    columns = ("acc ab", "acc ba", "mean", "both", "consist.", "1st rate", "ok/unp/err")
    print(f"{'judge':40} " + " ".join(f"{c:>8}" for c in columns))
    for name, report in reports.items():
        agreement, position = report["agreement"], report["position"]
        by_order = agreement.get("by_order") or {}
        status = report.get("status") or {}
        counts = "/".join(str(status.get(s, 0)) for s in ("ok", "unparsable", "error"))
        cells = [
            _pct(by_order.get("ab")),
            _pct(by_order.get("ba")),
            _pct(agreement.get("mean_over_orders")),
            _pct(agreement.get("with_ties")),
            _pct(position.get("consistency")),
            _pct(position.get("first_rate")),
            f"{counts:>10}",
        ]
        print(f"{name:40} " + " ".join(cells))
    print()
    print("acc ab / acc ba: accuracy against the gold label with response_a / response_b shown first;")
    print("mean: their mean; both: one verdict from both orders (the audit's MT-Bench rule: orders that")
    print("disagree make a tie, which counts as wrong); consist.: same winner in both orders; 1st rate:")
    print("share of verdicts that pick the first-shown response (0.5 is unbiased); ok/unp/err: judgments.")


def run(var_dir: Path, limit: int | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # SQLite under var_dir
    env |= {"TANDEM_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "tandem.settings.base"}
    manage(env, "migrate", "-v0")
    imported = json.loads(
        manage(
            env,
            "import_pairs",
            "--project",
            PROJECT,
            "--create-project",
            "--format",
            "llmbar",
            str(NATURAL),
            "--json",
        )
    )
    print(
        f"imported: {imported['created']} new pairs ({imported['duplicates']} already there), "
        f"{imported['labels_created']} gold labels, {imported['judgments_created']} recorded verdicts"
    )
    started = time.perf_counter()
    extra = ["--limit", str(limit)] if limit else []
    summary = json.loads(
        manage(env, "judge", "--project", PROJECT, "--judge", JUDGE, "--json", *extra, show_progress=True)
    )
    seconds = time.perf_counter() - started
    print(
        f"judged: {summary['judged']} verdicts on {summary['pairs']} pairs ({summary['skipped']} "
        f"already judged) in {seconds:.0f} s, {summary['calls']} forward passes, "
        f"{summary['errors']} errors, {summary['unparsable']} unparsable"
    )
    print()
    print_table(
        {f"{JUDGE} (hf, SmolLM2-135M)": audit(env, JUDGE), f"{REFERENCE} (recorded)": audit(env, REFERENCE)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", type=Path, help="keep the database here (default: a temporary dir)")
    parser.add_argument("--limit", type=int, help="judge only the first N pairs (default: all 100)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, shared with other work (timings are "
        f"noisy); data: {NATURAL}"
    )
    if args.var_dir:
        run(args.var_dir, args.limit)
        return
    var_dir = Path(tempfile.mkdtemp(prefix="tandem-llmbar-"))
    try:
        run(var_dir, args.limit)
    except BaseException:
        # Judging takes minutes on a CPU: keep what was judged so a re-run can resume.
        print(f"kept {var_dir}; resume with --var-dir {var_dir}", file=sys.stderr)
        raise
    shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
