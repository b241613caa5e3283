#!/usr/bin/env python
"""Benchmark: the project's pair importer against a naive loop that saves one ORM object per row.

Generates N pairs with realistic text lengths (prompts of a few hundred characters, responses
of a few hundred to a few thousand) into a JSONL file. Then, for SQLite and for a durable
PostgreSQL (fsync, synchronous commit and full-page writes on, as in production), it imports the
whole file with `services.import_pairs` and the first rows with a loop that calls
`Pair.objects.create` once per row in autocommit mode, the way a seed script would. It prints
pairs/s for both, their ratio, and the targets of issue 2: at least 20x the naive loop, and
100,000 pairs in under 20 s on PostgreSQL.

    .venv/bin/python bench/import_pairs.py [--pairs 100000] [--naive-rows 5000] [--db both]

Django's settings can be configured once per process, so each database runs in a worker
subprocess of this script (`--worker DB --file F`) that prints one JSON line for the parent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATABASES = ("sqlite", "postgres")
TARGET_RATIO = 20.0
TARGET_PAIRS = 100_000
TARGET_SECONDS = 20.0
MODELS = ("llama-3-8b", "mistral-7b", "qwen2-7b", "gemma-2-9b", "gpt-4o-mini", "claude-3-haiku")
CATEGORIES = ("coding", "math", "writing", "reasoning", "extraction", "roleplay", "stem", "humanities")
ONSETS = (
    "",
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "st",
    "tr",
    "pl",
    "ch",
    "sh",
    "th",
)
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "y")
CODAS = ("", "", "n", "r", "s", "t", "l", "m", "nd", "ng", "ck")


def _use_repo_imports() -> None:
    """platform/ is a source root (never a package), as in manage.py; the repo root holds scripts/."""
    for path in (ROOT, ROOT / "platform"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


# -- the input file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """Made-up words with Zipf frequencies and some punctuation: text that compresses about as
    well as prose, not like a repeated sentence (which would flatter TOAST compression)."""

    tokens: np.ndarray  # the words, then the same words with a comma, then with a full stop
    cum_weights: np.ndarray

    @classmethod
    def make(cls, seed: int, size: int = 20_000) -> Vocabulary:
        rng = random.Random(seed)
        words: set[str] = set()
        while len(words) < size:
            syllables = rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
            words.add(
                "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))
            )
        ranked = sorted(words)
        rng.shuffle(ranked)
        tokens = np.array(ranked + [w + "," for w in ranked] + [w + "." for w in ranked], dtype=object)
        return cls(tokens, np.cumsum(1 / np.arange(1, size + 1)))

    def passage(self, rng: np.random.Generator, chars: int) -> str:
        count = chars // 5 + 4
        ranks = np.searchsorted(self.cum_weights, rng.random(count) * self.cum_weights[-1], side="right")
        marks = rng.choice(3, size=count, p=(0.85, 0.08, 0.07))
        text = " ".join(self.tokens[ranks + marks * len(self.cum_weights)].tolist())[:chars]
        return text[0].upper() + text[1:].rstrip(" ,") + "."


def _length(rng: np.random.Generator, median: float, sigma: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(rng.lognormal(math.log(median), sigma)))))


def write_pairs(path: Path, count: int, seed: int) -> dict:
    """Write `count` generated pair rows to `path` (JSONL); returns size and length statistics."""
    rng = np.random.default_rng(seed)
    vocabulary = Vocabulary.make(seed)
    prompt_chars = response_chars = 0
    with path.open("w", encoding="utf-8") as fh:
        for number in range(count):
            model_a, model_b = (MODELS[i] for i in rng.choice(len(MODELS), size=2, replace=False))
            row = {
                "id": f"bench-{number}",
                "prompt": vocabulary.passage(rng, _length(rng, 300, 0.5, 40, 2_000)),
                "response_a": vocabulary.passage(rng, _length(rng, 900, 0.7, 100, 6_000)),
                "response_b": vocabulary.passage(rng, _length(rng, 900, 0.7, 100, 6_000)),
                "model_a": model_a,
                "model_b": model_b,
                "category": CATEGORIES[rng.integers(len(CATEGORIES))],
            }
            prompt_chars += len(row["prompt"])
            response_chars += len(row["response_a"]) + len(row["response_b"])
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    with path.open("rb") as fh:
        sample = fh.read(4 << 20)
    return {
        "megabytes": path.stat().st_size / 1e6,
        "mean_prompt_chars": prompt_chars / count,
        "mean_response_chars": response_chars / (2 * count),
        "zlib_ratio": len(sample) / len(zlib.compress(sample, 6)),
    }


# -- one database, in a worker process ---------------------------------------------------------


def time_importer(path: Path, expected: int) -> float:
    """Seconds for `services.import_pairs` on the whole file, into a fresh project."""
    from tandem.core import services
    from tandem.core.models import Pair

    project = services.create_project("bench-importer")
    start = time.perf_counter()
    summary = services.import_pairs(project, path, "pairs")
    seconds = time.perf_counter() - start
    stored = Pair.objects.filter(project=project).count()
    if summary.created != expected or stored != expected:
        raise SystemExit(f"importer created {summary.created} pairs ({stored} stored); expected {expected}")
    return seconds


def time_naive_loop(path: Path, rows: int) -> float:
    """Seconds for one `Pair.objects.create` per row (autocommit) over the file's first rows."""
    from labeling.records import PairRecord
    from tandem.core import services
    from tandem.core.models import Pair

    project = services.create_project("bench-naive")
    start = time.perf_counter()
    with path.open(encoding="utf-8") as fh:
        for line in itertools.islice(fh, rows):
            row = json.loads(line)
            record = PairRecord(
                prompt=row["prompt"],
                response_a=row["response_a"],
                response_b=row["response_b"],
                model_a=row["model_a"],
                model_b=row["model_b"],
            )
            Pair.objects.create(
                project=project,
                prompt=record.prompt,
                response_a=record.response_a,
                response_b=record.response_b,
                model_a=record.model_a,
                model_b=record.model_b,
                category=row["category"],
                source=f"naive:{path.name}",
                external_id=row["id"],
                content_hash=record.content_hash(),
            )
    return time.perf_counter() - start


def peak_memory_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's, which
    Linux carries across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def describe_database() -> dict:
    """The server's version and the settings that decide how much a commit costs."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0].split(" on ")[0]
            names = (
                "fsync",
                "synchronous_commit",
                "full_page_writes",
                "wal_level",
                "shared_buffers",
                "max_wal_size",
            )
            knobs = {}
            for name in names:
                cursor.execute(f"SHOW {name}")
                knobs[name] = cursor.fetchone()[0]
            return {"version": version, "settings": knobs}
        cursor.execute("SELECT sqlite_version()")
        version = f"SQLite {cursor.fetchone()[0]}"
        knobs = {}
        for name in ("journal_mode", "synchronous"):
            cursor.execute(f"PRAGMA {name}")
            knobs[name] = cursor.fetchone()[0]
        return {"version": version, "settings": knobs}


def run_worker(database: str, path: Path, pairs: int, naive_rows: int) -> dict:
    """Migrate a fresh database, time both ways of importing, and return the measurements."""
    _use_repo_imports()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # The baseline goes first, so it never pays for the importer's 100k rows in the indexes.
    naive_seconds = time_naive_loop(path, naive_rows)
    importer_seconds = time_importer(path, pairs)
    return {
        "database": database,
        "importer_rows": pairs,
        "importer_seconds": importer_seconds,
        "naive_rows": naive_rows,
        "naive_seconds": naive_seconds,
        "peak_rss_mb": peak_memory_mb(),
        **describe_database(),
    }


# -- the parent: databases, workers and the table ----------------------------------------------


def bench_database(database: str, path: Path, workdir: Path, pairs: int, naive_rows: int) -> dict:
    """Start the database, run a worker process against it, stop the database by its pid."""
    from scripts.services import start_postgres

    os.sync()  # the previous run's dirty pages would otherwise be written back during this one
    server = None
    if database == "postgres":
        server = start_postgres(durable=True)  # the real durability settings: an honest benchmark
        url = server.url
    else:
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
        "TANDEM_VAR_DIR": str(workdir / "var"),
        "TANDEM_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        __file__,
        "--worker",
        database,
        "--file",
        str(path),
        "--pairs",
        str(pairs),
        "--naive-rows",
        str(naive_rows),
    ]
    try:
        done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    finally:
        if server is not None:
            server.stop()
        for leftover in workdir.glob("bench.sqlite3*"):
            leftover.unlink()
    if done.returncode != 0:
        raise SystemExit(f"the {database} worker failed (exit {done.returncode}); its errors are above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(results: list[dict]) -> None:
    header = (
        "database",
        "rows (importer / naive)",
        "importer pairs/s",
        "naive pairs/s",
        "ratio",
        f"importer wall for {results[0]['importer_rows']:,}",
        f"targets (>= {TARGET_RATIO:.0f}x; {TARGET_PAIRS:,} on PostgreSQL < {TARGET_SECONDS:.0f} s)",
    )
    lines = [header]
    for r in results:
        importer_rate = r["importer_rows"] / r["importer_seconds"]
        naive_rate = r["naive_rows"] / r["naive_seconds"]
        ratio = importer_rate / naive_rate
        targets = f"ratio {_mark(ratio >= TARGET_RATIO)}"
        if r["database"] == "postgres":
            projected = TARGET_PAIRS / importer_rate
            how = "" if r["importer_rows"] == TARGET_PAIRS else " projected"
            targets += f"; {TARGET_PAIRS:,} in {projected:.1f} s{how} {_mark(projected < TARGET_SECONDS)}"
        lines.append(
            (
                r["database"],
                f"{r['importer_rows']:,} / {r['naive_rows']:,}",
                f"{importer_rate:,.0f}",
                f"{naive_rate:,.0f}",
                f"{ratio:.1f}x",
                f"{r['importer_seconds']:.1f} s",
                targets,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if number == 0:
            print("-+-".join("-" * width for width in widths))


def print_context(args: argparse.Namespace, data: dict) -> None:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    print(
        f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    print(
        f"input: {args.pairs:,} pairs, {data['megabytes']:.0f} MB JSONL; mean prompt "
        f"{data['mean_prompt_chars']:,.0f} chars, mean response {data['mean_response_chars']:,.0f} "
        f"chars; zlib ratio {data['zlib_ratio']:.1f}x; seed {args.seed}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=TARGET_PAIRS, help="pairs in the generated file")
    parser.add_argument("--naive-rows", type=int, default=5_000, help="rows the naive loop saves")
    parser.add_argument("--db", choices=(*DATABASES, "both"), default="both")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--worker", choices=DATABASES, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.naive_rows = min(args.naive_rows, args.pairs)
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.file, args.pairs, args.naive_rows)))
        return
    _use_repo_imports()
    databases = DATABASES if args.db == "both" else (args.db,)
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "pairs.jsonl"
        start = time.perf_counter()
        data = write_pairs(path, args.pairs, args.seed)
        print(f"generated {path.name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        results = []
        for database in databases:
            print(f"benchmarking {database} ...", file=sys.stderr)
            results.append(bench_database(database, path, workdir, args.pairs, args.naive_rows))
    print_context(args, data)
    for r in results:
        knobs = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        print(f"{r['database']}: {r['version']} ({knobs}); worker peak RSS {r['peak_rss_mb']:.0f} MB")
    print()
    print_table(results)


if __name__ == "__main__":
    main()
