#!/usr/bin/env python
"""Benchmark: wall time and peak memory of an export (issue 19: <= 2 GB at 1M pairs, linear growth).

For each size (`--sizes 100000,1000000`) it loads that many generated MT-Bench-shaped pairs
(bench/import_pairs.py's generator: human votes and GPT-4's verdict in both orders, texts of a
few hundred to a few thousand characters) into a durable PostgreSQL with the project's importer,
then exports the project (`datasets.export_dataset`, `--formats`) in a process of its own and
reports its wall time and peak resident memory (VmHWM). `--baseline-rev REV` also exports with
the export code of a git revision (training/blend.py, training/export.py, core/datasets.py at
REV laid over a copy of today's tree), e.g. c75c93a, the last that held every pair in memory;
both must produce the same version id.

    .venv/bin/python bench/export_memory.py [--sizes 100000] [--formats jsonl,parquet,csv,hf]
        [--baseline-rev c75c93a]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from import_pairs import peak_memory_mb, write_pairs

ROOT = Path(__file__).resolve().parents[1]
EXPORT_FILES = ("training/blend.py", "training/export.py", "platform/tandem/core/datasets.py")
TARGET_MB = 2048


def _django(workdir: Path) -> None:
    """Configure Django in this worker process (the parent passes DATABASE_URL)."""
    for path in (ROOT, ROOT / "platform"):
        if str(path) not in sys.path:
            sys.path.append(str(path))
    import django

    django.setup()


def load_worker(args: argparse.Namespace) -> dict:
    """Migrate, then import the generated file into project `bench`; returns the counts."""
    _django(args.workdir)
    from django.core.management import call_command

    from tandem.core import services

    call_command("migrate", verbosity=0)
    project = services.create_project("bench")
    start = time.perf_counter()
    summary = services.import_pairs(project, args.file, "mtbench")
    return {"pairs": summary.created, "import_seconds": time.perf_counter() - start}


def export_worker(args: argparse.Namespace) -> dict:
    """Export project `bench` once; the wall time of the call and this process's peak memory."""
    _django(args.workdir)
    from tandem.core import datasets
    from tandem.core.models import Project

    project = Project.objects.get(name="bench")
    start = time.perf_counter()
    result = datasets.export_dataset(project, None, args.formats.split(","), args.workdir / args.label)
    seconds = time.perf_counter() - start
    return {
        "version": result["version"],
        "rows": result["rows"],
        "seconds": seconds,
        "peak_mb": peak_memory_mb(),
        "code": datasets.__file__,
    }


def _run(
    mode: str, args: argparse.Namespace, env: dict, extra: list[str], pythonpath: Path | None = None
) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--workdir", str(args.workdir), *extra]
    command += ["--formats", args.formats]
    env = {**env, "PYTHONPATH": f"{pythonpath}:{pythonpath / 'platform'}"} if pythonpath else env
    done = subprocess.run(
        command, env=env, cwd=pythonpath or ROOT, stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the {mode} worker failed (exit {done.returncode}); its errors are above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline_tree(rev: str, workdir: Path) -> Path:
    """A copy of today's training/ and platform/ with the export files as they were at `rev`."""
    tree = workdir / f"baseline-{rev}"
    if tree.exists():
        return tree
    for folder in ("training", "labeling", "audits", "platform"):
        shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__", "var"))
    for name in EXPORT_FILES:
        old = subprocess.run(["git", "show", f"{rev}:{name}"], cwd=ROOT, capture_output=True, check=True)
        (tree / name).write_bytes(old.stdout)
    return tree


def bench_size(pairs: int, args: argparse.Namespace) -> list[dict]:
    from scripts.services import start_postgres

    data = args.workdir / f"pairs-{pairs}.jsonl"
    if not data.exists():
        write_pairs(data, pairs, seed=19, shape="mtbench")
    server = start_postgres(durable=True)
    env = {
        **os.environ,
        "DATABASE_URL": server.url,
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
        "TANDEM_VAR_DIR": str(args.workdir / "var"),
        "TANDEM_LOG_LEVEL": "WARNING",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    }
    try:
        loaded = _run("load", args, env, ["--file", str(data)])
        print(f"{pairs} pairs: imported {loaded['pairs']} in {loaded['import_seconds']:.1f} s", flush=True)
        runs = []
        if args.baseline_rev:
            tree = baseline_tree(args.baseline_rev, args.workdir)
            old = _run("export", args, env, ["--label", f"old-{pairs}"], pythonpath=tree)
            if not old["code"].startswith(str(tree)):
                raise SystemExit(f"the baseline ran {old['code']}, not the copy at {args.baseline_rev}")
            runs.append({**old, "code": f"baseline {args.baseline_rev}", "pairs": pairs})
        new = _run("export", args, env, ["--label", f"new-{pairs}"])
        runs.append({**new, "code": "project", "pairs": pairs})
        if len({r["version"] for r in runs}) != 1:
            raise SystemExit(f"the baseline and the project exported different versions: {runs}")
        return runs
    finally:
        server.stop()


def print_table(runs: list[dict], formats: str) -> None:
    print(f"\nexport ({formats}) on durable PostgreSQL; peak = the export process's VmHWM")
    print(
        f"{'code':<20} {'pairs':>9} {'rows':>9} {'seconds':>9} {'peak MB':>9} {'<= 2 GB':>8} {'time exp.':>9}"
    )
    for run in runs:
        before = [r for r in runs if r["code"] == run["code"] and r["pairs"] < run["pairs"]]
        growth = ""
        if before:
            first = before[-1]
            growth = (
                f"{math.log(run['seconds'] / first['seconds']) / math.log(run['pairs'] / first['pairs']):.2f}"
            )
        ok = "yes" if run["peak_mb"] <= TARGET_MB else "NO"
        print(
            f"{run['code']:<20} {run['pairs']:>9} {run['rows']:>9} {run['seconds']:>9.1f}"
            f" {run['peak_mb']:>9.0f} {ok:>8} {growth:>9}"
        )
    print(f"version ids equal per size; {runs[0]['version'][:12]}… at {runs[0]['pairs']} pairs")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--formats", default="jsonl,parquet,csv,hf")
    parser.add_argument(
        "--baseline-rev", default="", help="also export with the export code at this revision"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep generated files here (default: a temp dir)"
    )
    parser.add_argument("--worker", choices=("load", "export"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps((load_worker if args.worker == "load" else export_worker)(args)))
        return
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="tandem-export-bench-") as tmp:
        args.workdir = args.workdir or Path(tmp)
        args.workdir.mkdir(parents=True, exist_ok=True)
        runs = [run for size in args.sizes.split(",") for run in bench_size(int(size), args)]
    print_table(runs, args.formats)


if __name__ == "__main__":
    main()
