#!/usr/bin/env python
"""Benchmark: the project's importer against PostgreSQL's own COPY of the same rows (the bound).

Generates N pairs shaped like the MT-Bench set (one JSONL row per human vote, 1.4 votes per pair
as in the recorded set, GPT-4's verdict in both orders), with realistic text lengths (prompts of
a few hundred characters, responses of a few hundred to a few thousand). For a durable
PostgreSQL (fsync, synchronous commit and full-page writes on, as in production) and SQLite it
times, each into empty tables after a checkpoint:
- the project: `services.import_pairs` on the whole file (pairs, human labels and judgments);
- the bound (PostgreSQL): the rows the project stored, dumped in COPY's text format beforehand
  and loaded by `psql` (its client-side COPY, one transaction) into the same tables on the same server;
- a naive loop over the first rows: one ORM save per pair, label and judgment, autocommit.
It prints pairs/s, the project's share of the bound and the targets of issue 19: >= 70% of the
bound, and 100,000 pairs (with their labels and judgments) in <= 20 s on PostgreSQL.

    .venv/bin/python bench/import_pairs.py [--pairs 100000] [--naive-rows 5000] [--db both]
        [--shape mtbench|pairs] [--repeat N]

`--shape pairs` writes the project's own pairs format (one label per pair, no judgments);
`--repeat` runs the importer and the bound in turn N times and keeps each one's best;
`--in-process` makes the importer read in its own process (no reader process). Below the table,
each run's CPU seconds: the importing process, its reader process and the server (for the bound:
psql and the server). On a machine busy with other work, wall time follows their sum.

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
from copy_bound import dump_stored_rows, empty_tables, server_cpu_seconds, stored_counts, time_copy_bound

ROOT = Path(__file__).resolve().parents[1]
DATABASES = ("sqlite", "postgres")
SHAPES = ("mtbench", "pairs")
TARGET_SHARE = 0.70
VOTES_PER_PAIR = (0.6, 0.4)  # one or two human votes: 1.4 per pair, as in the MT-Bench set
ANNOTATORS = tuple(f"author_{i}" for i in range(8))
WINNERS = ("model_a", "model_b", "tie")
TARGET_PAIRS = 100_000
TARGET_SECONDS = 20.0
MODELS = ("llama-3-8b", "mistral-7b", "qwen2-7b", "gemma-2-9b", "gpt-4o-mini", "claude-3-haiku")
CATEGORIES = ("coding", "math", "writing", "reasoning", "extraction", "roleplay", "stem", "humanities")
ONSETS = ("", *"bcdfghklmnprstvw", "st", "tr", "pl", "ch", "sh", "th")  # single letters, then clusters
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


def _conversation(prompt: str, response: str) -> str:
    """MT-Bench's conversation column: a Python literal list of (text, role) tuples."""
    return repr([(prompt, "user"), (response, "assistant")])


def _rows(shape: str, number: int, texts: tuple[str, str, str], rng: np.random.Generator) -> list[dict]:
    """One pair's rows: `mtbench`, one per human vote (1 or 2) with GPT-4's verdict; `pairs`, one
    row with the first vote as its label (the project's own format: no judgments)."""
    prompt, response_a, response_b = texts
    model_a, model_b = (MODELS[i] for i in rng.choice(len(MODELS), size=2, replace=False))
    category = CATEGORIES[rng.integers(len(CATEGORIES))]
    gpt4 = WINNERS[rng.integers(len(WINNERS))]
    votes = 1 + rng.choice(len(VOTES_PER_PAIR), p=VOTES_PER_PAIR)
    annotators = [ANNOTATORS[i] for i in rng.choice(len(ANNOTATORS), size=votes, replace=False)]
    winners = [WINNERS[rng.integers(len(WINNERS))] for _ in annotators]
    if shape == "pairs":
        label = {"model_a": "a", "model_b": "b", "tie": "tie"}[winners[0]]
        pair = {"prompt": prompt, "response_a": response_a, "response_b": response_b}
        pair |= {"model_a": model_a, "model_b": model_b, "category": category}
        return [{"id": f"bench-{number}", **pair, "label": label, "annotator": annotators[0]}]
    pair = {
        "question_id": number,
        "turn": 1,
        "category": category,
        "model_a": model_a,
        "model_b": model_b,
        "conversation_a": _conversation(prompt, response_a),
        "conversation_b": _conversation(prompt, response_b),
        "gpt4_pair_winner": gpt4,
    }
    return [{**pair, "human_judge": a, "human_winner": w} for a, w in zip(annotators, winners, strict=True)]


def write_pairs(path: Path, count: int, seed: int, shape: str) -> dict:
    """Write `count` generated pairs to `path` in `shape`; returns size and length statistics."""
    rng = np.random.default_rng(seed)
    vocabulary = Vocabulary.make(seed)
    prompt_chars = response_chars = rows = 0
    with path.open("w", encoding="utf-8") as fh:
        for number in range(count):
            prompt = vocabulary.passage(rng, _length(rng, 300, 0.5, 40, 2_000))
            response_a = vocabulary.passage(rng, _length(rng, 900, 0.7, 100, 6_000))
            response_b = vocabulary.passage(rng, _length(rng, 900, 0.7, 100, 6_000))
            for row in _rows(shape, number, (prompt, response_a, response_b), rng):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                rows += 1
            prompt_chars += len(prompt)
            response_chars += len(response_a) + len(response_b)
    with path.open("rb") as fh:
        sample = fh.read(4 << 20)
    return {
        "rows": rows,
        "megabytes": path.stat().st_size / 1e6,
        "mean_prompt_chars": prompt_chars / count,
        "mean_response_chars": response_chars / (2 * count),
        "zlib_ratio": len(sample) / len(zlib.compress(sample, 6)),
    }


# -- one database, in a worker process ---------------------------------------------------------


def cpu_now(server: bool) -> tuple[float, float, float]:
    """CPU seconds so far: this process, its ended child processes (the import's reader, psql),
    and the database server (0 on SQLite)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        time.process_time(),
        children.ru_utime + children.ru_stime,
        server_cpu_seconds() if server else 0.0,
    )


def cpu_since(before: tuple[float, float, float], server: bool) -> list[float]:
    return [round(now - then, 2) for now, then in zip(cpu_now(server), before, strict=True)]


def time_importer(path: Path, expected: int, shape: str, reader_process: bool | None) -> dict:
    """Seconds and CPU seconds (this process, its reader process, the server) for
    `services.import_pairs` on the whole file, into a fresh project, and its counts."""
    from django.db import connection

    from tandem.core import services
    from tandem.core.models import Pair

    project = services.create_project("bench-importer")
    server = connection.vendor == "postgresql"
    cpu = cpu_now(server)
    start = time.perf_counter()
    chosen = {} if reader_process is None else {"reader_process": reader_process}  # None: its own choice
    summary = services.import_pairs(project, path, shape, **chosen)
    seconds = time.perf_counter() - start
    cpu = cpu_since(cpu, server)
    stored = Pair.objects.filter(project=project).count()
    if summary.created != expected or stored != expected:
        raise SystemExit(f"importer created {summary.created} pairs ({stored} stored); expected {expected}")
    return {
        "importer_seconds": seconds,
        "importer_cpu": cpu,
        "labels": summary.labels_created,
        "judgments": summary.judgments_created,
    }


def time_naive_loop(path: Path, rows: int, shape: str) -> dict:
    """Seconds for one ORM save per pair, label and judgment (autocommit) over the file's first rows."""
    from django.conf import settings

    from labeling import importers
    from tandem.core import services
    from tandem.core.models import HumanLabel, Judgment, Pair

    project = services.create_project("bench-naive")
    pairs = set()
    start = time.perf_counter()
    for row in itertools.islice(importers.read(path, shape, settings.TANDEM_MAX_FIELD_CHARS), rows):
        p = row.pair
        fields = {"prompt": p.prompt, "response_a": p.response_a, "response_b": p.response_b}
        pair, created = Pair.objects.get_or_create(
            project=project,
            content_hash=p.content_hash(),
            defaults={**fields, "model_a": p.model_a, "model_b": p.model_b, "category": p.category},
        )
        pairs.add(pair.pk)
        for vote in row.votes:
            HumanLabel.objects.create(
                pair=pair, annotator=vote.annotator, choice=vote.choice, source="imported"
            )
        for v in row.verdicts if created else ():
            Judgment.objects.create(
                pair=pair,
                judge=v.judge,
                config_hash=services.replay_config_hash(v.judge),
                backend="replay",
                order=v.order.value,
                p_first=v.p_first,
                choice=v.choice.value,
                status=v.status.value,
                detail=v.detail,
            )
    return {"naive_seconds": time.perf_counter() - start, "naive_pairs": len(pairs)}


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


def run_worker(args: argparse.Namespace) -> dict:
    """Migrate a fresh database, time the naive loop, then the importer and (PostgreSQL) the bound
    `--repeat` times in turn, each into empty tables."""
    _use_repo_imports()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    path = args.file
    result = {
        "database": args.worker,
        "importer_rows": args.pairs,
        "importer_seconds": [],
        "bound_seconds": [],
        "importer_cpu": [],  # per run: [this process, its reader process, the server]
        "bound_cpu": [],  # per run: [this process, psql, the server]
    }
    result.update(time_naive_loop(path, args.naive_rows, args.shape))
    dumps = None
    reader_process = False if args.in_process else None  # None: the importer's own choice
    for _ in range(args.repeat):
        empty_tables()
        run = time_importer(path, args.pairs, args.shape, reader_process)
        result["importer_seconds"].append(run.pop("importer_seconds"))
        result["importer_cpu"].append(run.pop("importer_cpu"))
        result.update(run)
        if args.worker == "postgres":
            stored = stored_counts()
            dumps = dumps or dump_stored_rows(path.parent)
            empty_tables()
            cpu = cpu_now(server=True)
            result["bound_seconds"].append(time_copy_bound(dumps, path.parent))
            time.sleep(1)  # psql's backend has ended: let the server reap it, which counts its CPU
            result["bound_cpu"].append(cpu_since(cpu, server=True))
            if stored_counts() != stored:
                raise SystemExit(f"the bound loaded {stored_counts()} rows; the importer stored {stored}")
    for _, _, dump in dumps or ():
        dump.unlink()
    return {**result, "peak_rss_mb": peak_memory_mb(), **describe_database()}


# -- the parent: databases, workers and the table ----------------------------------------------


def bench_database(database: str, path: Path, workdir: Path, args: argparse.Namespace) -> dict:
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
        *("--pairs", str(args.pairs), "--naive-rows", str(args.naive_rows)),
        *("--shape", args.shape, "--repeat", str(args.repeat)),
        *(["--in-process"] if args.in_process else []),
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


def _seconds(runs: list[float]) -> str:
    """The best run (these machines are noisy: the best is the least disturbed), and the range."""
    spread = f", {min(runs):.1f}-{max(runs):.1f}" if len(runs) > 1 else ""
    return f"{min(runs):.1f} s{spread}"


def _row(r: dict) -> tuple[str, ...]:
    importer, bounds = r["importer_seconds"], r["bound_seconds"]
    r = {**r, "importer_seconds": min(importer), "bound_seconds": min(bounds) if bounds else None}
    importer_rate = r["importer_rows"] / r["importer_seconds"]
    naive_rate = r["naive_pairs"] / r["naive_seconds"]
    bound, share, targets = "-", "-", "-"
    if r["bound_seconds"] is not None:
        fraction = r["bound_seconds"] / r["importer_seconds"]
        projected = r["importer_seconds"] * TARGET_PAIRS / r["importer_rows"]
        how = "" if r["importer_rows"] == TARGET_PAIRS else " projected"
        bound = f"{_seconds(bounds)} ({r['importer_rows'] / r['bound_seconds']:,.0f} pairs/s)"
        share = f"{fraction:.0%}"
        targets = (
            f"share {_mark(fraction >= TARGET_SHARE)}; "
            f"{TARGET_PAIRS:,} in {projected:.1f} s{how} {_mark(projected <= TARGET_SECONDS)}"
        )
    return (
        r["database"],
        f"{r['importer_rows']:,} / {r['labels']:,} / {r['judgments']:,}",
        f"{_seconds(importer)} ({importer_rate:,.0f} pairs/s)",
        bound,
        share,
        f"{naive_rate:,.0f} pairs/s ({importer_rate / naive_rate:.1f}x)",
        targets,
    )


def print_table(results: list[dict]) -> None:
    header = (
        "database",
        "pairs / labels / judgments",
        "importer",
        "bound: psql COPY of the same rows",
        "share of bound",
        "naive loop (importer's ratio)",
        f"targets (>= {TARGET_SHARE:.0%} of the bound; {TARGET_PAIRS:,} pairs <= {TARGET_SECONDS:.0f} s)",
    )
    lines = [header, *map(_row, results)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if number == 0:
            print("-+-".join("-" * width for width in widths))


def print_cpu(results: list[dict]) -> None:
    """Where the CPU went in each run: on a machine with few cores the importer can only
    overlap its reading with the server's work, never skip either."""
    for r in results:
        for run, (own, reader, server) in enumerate(r["importer_cpu"], start=1):
            print(
                f"{r['database']} run {run}: importer {r['importer_seconds'][run - 1]:.1f} s wall; CPU: "
                f"importing process {own:.1f} s, its reader process {reader:.1f} s, server {server:.1f} s"
            )
        for run, (_, psql, server) in enumerate(r["bound_cpu"], start=1):
            print(
                f"{r['database']} run {run}: bound {r['bound_seconds'][run - 1]:.1f} s wall; CPU: "
                f"psql {psql:.1f} s, server {server:.1f} s"
            )


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
        f"input: {args.pairs:,} pairs in {data['rows']:,} {args.shape} rows, "
        f"{data['megabytes']:.0f} MB JSONL; mean prompt "
        f"{data['mean_prompt_chars']:,.0f} chars, mean response {data['mean_response_chars']:,.0f} "
        f"chars; zlib ratio {data['zlib_ratio']:.1f}x; seed {args.seed}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=TARGET_PAIRS, help="pairs in the generated file")
    parser.add_argument("--naive-rows", type=int, default=5_000, help="rows (votes) the naive loop saves")
    parser.add_argument("--db", choices=(*DATABASES, "both"), default="both")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument(
        "--shape", choices=SHAPES, default="mtbench", help="MT-Bench rows, or the pairs format (no judgments)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="importer and bound runs, in turn (best kept)")
    parser.add_argument(
        "--in-process", action="store_true", help="read in the importing process (no reader process)"
    )
    parser.add_argument("--worker", choices=DATABASES, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.naive_rows = min(args.naive_rows, args.pairs)
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    _use_repo_imports()
    databases = DATABASES if args.db == "both" else (args.db,)
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "pairs.jsonl"
        start = time.perf_counter()
        data = write_pairs(path, args.pairs, args.seed, args.shape)
        print(f"generated {path.name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        results = []
        for database in databases:
            print(f"benchmarking {database} ...", file=sys.stderr)
            results.append(bench_database(database, path, workdir, args))
    print_context(args, data)
    for r in results:
        knobs = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        print(f"{r['database']}: {r['version']} ({knobs}); worker peak RSS {r['peak_rss_mb']:.0f} MB")
    print()
    print_table(results)
    print_cpu(results)


if __name__ == "__main__":
    main()
