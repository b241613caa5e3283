#!/usr/bin/env python
"""Benchmark: one project through every stage at several sizes, and judge throughput by workers.

Part 1, stages. For each size (`--sizes 10000,100000,1000000`) on a durable PostgreSQL (the
real fsync settings, as bench/import_pairs.py): import (generated pairs with a human label each,
bench/import_pairs.py's generator), judge (both orders, `manage.py judge`'s path, against a local
OpenAI-compatible endpoint that answers at once: bench/judge_client.py's), route, audit (JSON) and
export (JSONL). Each stage runs in a process of its own, so its peak resident memory
(`ru_maxrss` from wait4) is the stage's alone; the wall time is the stage's call, without
Django's start, after a CHECKPOINT (timed, and counted in the total) so that no stage pays for
the previous one's writes reaching the disk. The growth exponent between two sizes is
log(t2/t1) / log(n2/n1): 1.0 is linear. The last row is every stage's time and the checkpoints
added up, against the issue's 30 minutes for 1M pairs.

The judge stage either calls the endpoint (`--judge endpoint`: two calls per pair, about 115
calls/s on this machine, so 1M pairs would take hours) or replays recorded verdicts (`--judge
replay`: both orders of every pair stored as the import stores recorded verdicts, its
JUDGMENT_COLUMNS tuples through its COPY; the pairs exist, so only judgments are added). The
default calls the endpoint up to `--replay-above` pairs (100,000) and replays above; the table
names the mode of every size, and no growth exponent is given between sizes of different modes.

Part 2, judge throughput. A judge job over `--throughput-pairs` pairs, fanned out in shards of
`--shard-pairs`, run by 1, 2 and 4 Celery worker processes (scripts/worker.sh, pool solo), each
judge at concurrency 32 against an endpoint with 1 s latency: the endpoint is the bound (32
calls/s per worker). The endpoint counts the most requests it answered at once. A last run
gives the provider `max_concurrency` `--shared-limit` (below 4 x 32): that count must not exceed
it.

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--judge auto|endpoint|replay]
        [--throughput-pairs 1024] [--skip-stages] [--skip-throughput] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "platform", ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from judge_client import API_KEY, MODEL, endpoint_stats, start_endpoint  # noqa: E402

STAGES = ("import", "judge", "route", "audit", "export")
JUDGE = "bench"
WORKER_CONCURRENCY = 32
SEED = 3  # the generated pairs (bench/import_pairs.py's generator)
TARGET_TOTAL_S = 30 * 60  # issue 19: 1M pairs through every stage in 30 minutes


# -- a stage, in its own process ----------------------------------------------------------------


def run_stage(stage: str, project_name: str, path: Path, out: Path, judge_mode: str = "endpoint") -> dict:
    """Run one stage on the project; returns its seconds and what it produced."""
    import django

    django.setup()
    from django.core.management import call_command

    from tandem.core import services
    from tandem.core.models import Project

    if stage == "migrate":
        call_command("migrate", verbosity=0)
        return {}
    sink = io.StringIO()
    start = time.perf_counter()
    if stage == "import":
        project = services.create_project(project_name)
        params = {"provider": "bench", "concurrency": int(os.environ.get("BENCH_JUDGE_CONCURRENCY", "64"))}
        project.judge_config = {"judges": {JUDGE: {"backend": "openai", "model": MODEL, "params": params}}}
        project.save()
        start = time.perf_counter()
        detail = services.import_pairs(project, path, "pairs").as_dict()["created"]
    elif stage == "judge" and judge_mode == "replay":
        detail = replay_verdicts(Project.objects.get(name=project_name), JUDGE)
    elif stage == "judge":
        call_command("judge", project=project_name, judge=JUDGE, json=True, stdout=sink)
        detail = json.loads(sink.getvalue().splitlines()[-1])["judged"]
    elif stage == "route":
        call_command("route", project=project_name, judge=[JUDGE], json=True, stdout=sink)
        detail = sink.getvalue()[-200:]
    elif stage == "audit":
        call_command("audit", project=project_name, judge=JUDGE, format="json", out=str(out / "audit.json"))
        detail = (out / "audit.json").stat().st_size
    elif stage == "export":
        call_command(
            "export", project=project_name, out=str(out / "export"), judge=JUDGE, json=True, stdout=sink
        )
        detail = sum(f.stat().st_size for f in (out / "export").rglob("*") if f.is_file())
    else:
        raise SystemExit(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    seconds = time.perf_counter() - start
    Project.objects.get(name=project_name)  # the stage left the project in place
    return {"seconds": seconds, "detail": detail}


REPLAY_PAGE = 10_000  # pairs read (by id, keyset) and written per COPY


def replay_verdicts(project, judge: str) -> int:
    """Store a recorded verdict of `judge` in both orders for every pair of `project`, as the
    import stores recorded verdicts (backend `replay`, its JUDGMENT_COLUMNS, through its COPY
    in one transaction, then its ANALYZE of a grown table); returns how many. The verdicts are
    seeded: soft, with a first-position lean and some flips, so routing and the audit see the mix
    a real judge gives."""
    from django.db import connection, transaction
    from django.utils import timezone

    from tandem.core import services
    from tandem.core.models import Judgment, Pair

    fixed = {
        "judge": judge,
        "config_hash": services.replay_config_hash(judge),
        "backend": "replay",
        "created_at": connection.ops.adapt_datetimefield_value(timezone.now()),
        "detail": json.dumps({"replayed_by": "bench/scale.py"}),
        **dict.fromkeys(
            ("model", "template", "template_hash", "rationale", "error_message", "cache_key"), ""
        ),
        **dict.fromkeys(("prompt_tokens", "completion_tokens", "cost", "latency_ms"), 0),
        "params": "{}",
        "status": "ok",
    }
    columns = services.JUDGMENT_COLUMNS  # named, so a change of the import's columns cannot shift them
    varying = [columns.index(c) for c in ("pair_id", "order", "p_first", "choice")]
    if missing := set(columns) - set(fixed) - {columns[at] for at in varying}:
        raise SystemExit(
            f"replay: the import's JUDGMENT_COLUMNS has columns this benchmark does not fill: {missing}"
        )
    template = [fixed.get(column) for column in columns]

    def row(pid: int, verdict: tuple) -> tuple:
        values = template.copy()
        for at, value in zip(varying, (pid, *verdict), strict=True):
            values[at] = value
        return tuple(values)

    rng = random.Random(5)
    stored = last = 0
    with transaction.atomic():
        while True:
            page = (
                Pair.objects.filter(project=project, id__gt=last).order_by("id").values_list("id", flat=True)
            )
            ids = list(page[:REPLAY_PAGE])
            if not ids:
                break
            rows = [row(pid, verdict) for pid in ids for verdict in _recorded(rng)]
            services._insert_rows(Judgment, columns, rows)  # the import's COPY
            stored, last = stored + len(rows), ids[-1]
    services.analyze_grown({Judgment: stored})  # as the import does after its transaction
    return stored


def _recorded(rng: random.Random) -> list[tuple[str, float, str]]:
    """One pair's recorded verdicts (order, p_first, choice), order ab then ba."""
    p_a = min(0.99, max(0.01, rng.betavariate(2.0, 2.0)))
    verdicts = []
    for order, lean in (("ab", 0.06), ("ba", -0.06)):  # the first-shown answer is favoured
        p_pair_a = min(0.99, max(0.01, p_a + lean + rng.gauss(0.0, 0.08)))
        choice = "a" if p_pair_a > 0.55 else "b" if p_pair_a < 0.45 else "tie"
        p_first = p_pair_a if order == "ab" else 1.0 - p_pair_a
        verdicts.append((order, round(p_first, 4), choice))
    return verdicts


def in_process(
    stage: str, project: str, path: Path, out: Path, env: dict, judge_mode: str = "endpoint"
) -> dict:
    """`run_stage` in a child process: (its result, its own peak RSS in MB)."""
    command = [sys.executable, __file__, "--stage", stage, "--project", project, "--file", str(path), "--out",
               str(out), "--judge-mode", judge_mode]  # fmt: skip
    child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"stage {stage} failed (exit {child.returncode}); its errors are above")
    result = json.loads(output.strip().splitlines()[-1])
    return {**result, "peak_rss_mb": usage.ru_maxrss / 1024}


# -- the benchmark --------------------------------------------------------------------------------


def environment(db_url: str, redis_url: str, base_url: str, workdir: Path, **extra: str) -> dict:
    provider = {
        "base_url": base_url,
        "api_key_env": "BENCH_API_KEY",
        **json.loads(extra.pop("provider", "{}")),
    }
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "CACHE_URL": f"rediscache://{redis_url[8:]}/1",
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
        "TANDEM_VAR_DIR": str(workdir / "var"),
        "TANDEM_LOG_LEVEL": "WARNING",
        "TANDEM_JUDGE_PROVIDERS": json.dumps({"bench": provider}),
        "BENCH_API_KEY": API_KEY,
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        **extra,
    }


def judge_mode(args: argparse.Namespace, size: int) -> str:
    """`endpoint` or `replay` for the judge stage at `size` pairs (`--judge`, `--replay-above`)."""
    if args.judge != "auto":
        return args.judge
    return "endpoint" if size <= args.replay_above else "replay"


def bench_stages(args: argparse.Namespace, env: dict, workdir: Path) -> dict[int, dict]:
    from import_pairs import write_pairs

    results: dict[int, dict] = {}
    for size in args.sizes:
        path = _pairs_file(args, workdir, size, write_pairs)
        out = workdir / f"out-{size}"
        out.mkdir()
        mode = judge_mode(args, size)
        results[size] = {"judge_mode": mode}
        results[size]["checkpoint"] = 0.0
        for stage in STAGES:
            what = f"{stage} ({mode})" if stage == "judge" else stage
            print(f"{size:,} pairs: {what} ...", file=sys.stderr, flush=True)
            results[size]["checkpoint"] += checkpoint(env["DATABASE_URL"])
            results[size][stage] = in_process(stage, f"scale-{size}", path, out, env, mode)
            print(f"  {results[size][stage]}", file=sys.stderr, flush=True)
        if args.data_dir is None:
            path.unlink()
    return results


def _pairs_file(args: argparse.Namespace, workdir: Path, size: int, write_pairs) -> Path:
    """The generated pairs for `size`: written to the run's scratch folder, or kept in (and reused
    from) `--data-dir`: at 1M pairs the file is 2.8 GB and takes minutes to write."""
    folder = args.data_dir or workdir
    path = folder / f"pairs-{size}-seed{SEED}.jsonl"
    if args.data_dir is None or not path.exists():
        partial = path.with_suffix(".partial")
        write_pairs(partial, size, seed=SEED, shape="pairs")
        partial.rename(path)
    return path


def bench_throughput(args, db_url: str, redis_url: str, workdir: Path) -> list[dict]:
    """A judge job over the same pairs by 1, 2, 4 workers (and 4 under the shared limit)."""
    endpoint, base_url = start_endpoint(1.0)
    rows = []
    try:
        runs = [(n, None) for n in args.workers] + [(max(args.workers), args.shared_limit)]
        for index, (workers, limit) in enumerate(runs):
            provider = json.dumps({"max_concurrency": limit} if limit else {})
            knobs = {"TANDEM_JUDGE_SHARD_PAIRS": str(args.shard_pairs),
                     "BENCH_JUDGE_CONCURRENCY": str(WORKER_CONCURRENCY)}  # fmt: skip
            env = environment(db_url, redis_url, base_url, workdir, provider=provider, **knobs)
            if index == 0:
                in_process(
                    "import", "throughput", _throughput_file(workdir, args.throughput_pairs), workdir, env
                )
            print(f"throughput: {workers} workers, limit {limit} ...", file=sys.stderr, flush=True)
            endpoint_stats(base_url)  # resets the counts
            seconds = _judge_job(env, workers, workdir)
            stats = endpoint_stats(base_url)
            calls = 2 * args.throughput_pairs
            rows.append(
                {
                    "workers": workers,
                    "limit": limit,
                    "seconds": seconds,
                    "calls": stats["requests"],
                    "calls_per_s": calls / seconds,
                    "max_in_flight": stats["max_in_flight"],
                }
            )
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        endpoint.terminate()
    return rows


def _throughput_file(workdir: Path, pairs: int) -> Path:
    from import_pairs import write_pairs

    path = workdir / "throughput.jsonl"
    write_pairs(path, pairs, seed=4, shape="pairs")
    return path


WAIT_JOB = """
import json, sys, time
import django
django.setup()
from tandem.core import jobs
from tandem.celery import app
from tandem.core.models import Job, JudgeCall, Judgment, Project
while len(app.control.ping(timeout=0.5)) < int(sys.argv[1]):  # every worker is up: time the work only
    time.sleep(0.2)
project = Project.objects.get(name="throughput")
Judgment.objects.filter(pair__project=project).delete()
JudgeCall.objects.all().delete()  # every run pays for its calls
start = time.perf_counter()
job = jobs.start_job("judge", project=project, params={"judge": "bench"})
while Job.objects.get(pk=job.pk).finished_at is None:
    time.sleep(0.05)
seconds = time.perf_counter() - start
job.refresh_from_db()
assert job.status == "succeeded", job.error
assert job.result["judged"] == 2 * project.pairs.count(), job.result
# Where the time went: per worker, when its first shard started and its last ended (from the
# job's start), how many it ran; a worker that ends early waited on another's last shard.
t0 = job.started_at
spans = {}
for shard in job.shards.all():
    first, last, count = spans.get(shard.worker, (1e9, 0.0, 0))
    spans[shard.worker] = (min(first, (shard.started_at - t0).total_seconds()),
                           max(last, (shard.finished_at - t0).total_seconds()), count + 1)
timeline = {w: f"{a:.1f}-{b:.1f} s, {n} shards" for w, (a, b, n) in sorted(spans.items())}
queued = (job.started_at - job.created_at).total_seconds()
print(json.dumps({"seconds": seconds, "shards": job.result.get("shards", 0), "queued_s": round(queued, 2),
                  "timeline": timeline}))
"""


def _judge_job(env: dict, workers: int, workdir: Path) -> float:
    """Seconds from a judge job's start to its end, with `workers` worker processes running."""
    command = [str(ROOT / "scripts/worker.sh"), "-Q", "default", "--pool", "solo", "--loglevel", "WARNING"]
    started = [
        subprocess.Popen(
            [*command, "-n", f"bench{i}@%h"],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        for i in range(workers)
    ]
    try:
        waiter = [sys.executable, "-c", WAIT_JOB, str(workers)]
        done = subprocess.run(waiter, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  shards by worker: {result}", file=sys.stderr, flush=True)
        return result["seconds"]
    finally:
        for worker in started:
            os.killpg(worker.pid, 15)
        for worker in started:
            worker.wait(timeout=60)


def checkpoint(db_url: str) -> float:
    """Seconds a CHECKPOINT takes: run before each stage, so a stage's time is its own and not the
    previous stage's writes being flushed behind it (the import's gigabytes of pairs reached the
    disk during the judge stage and made it look superlinear). The seconds count in the total."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")
    return time.perf_counter() - started


def exponent(t1: float, t2: float, n1: int, n2: int) -> float:
    return math.log(max(t2, 1e-9) / max(t1, 1e-9)) / math.log(n2 / n1)


def print_stages(results: dict[int, dict]) -> None:
    """Per stage: wall time and peak RSS at each size, the exponents between consecutive sizes;
    then the judge mode of each size and the total time against TARGET_TOTAL_S."""
    sizes = sorted(results)
    steps = list(itertools.pairwise(sizes))
    header = [
        "stage",
        *(f"{n:,} pairs: s / peak MB" for n in sizes),
        *(f"exp {a:,}->{b:,}" for a, b in steps),
    ]
    print(" | ".join(header))
    print("|".join("-" for _ in header))
    for stage in STAGES:
        cells = [stage]
        cells += [
            f"{results[n][stage]['seconds']:.1f} s / {results[n][stage]['peak_rss_mb']:.0f} MB" for n in sizes
        ]
        cells += [_exponents(results, stage, a, b) for a, b in steps]
        print(" | ".join(cells))
    modes = [results[n]["judge_mode"] for n in sizes]
    print(" | ".join(["judge mode", *(_mode_cell(results[n]) for n in sizes), *("" for _ in steps)]))
    flushes = [f"{results[n]['checkpoint']:.1f} s" for n in sizes]
    print(" | ".join(["checkpoints before the stages (in the total)", *flushes, *("" for _ in steps)]))
    totals = [sum(results[n][stage]["seconds"] for stage in STAGES) + results[n]["checkpoint"] for n in sizes]
    cells = [f"{t:.0f} s ({t / 60:.1f} min{_target(n, t)})" for n, t in zip(sizes, totals, strict=True)]
    cells += [
        f"{exponent(totals[i], totals[i + 1], a, b):.2f}"
        if modes[i] == modes[i + 1]
        else "n/a (judge mode differs)"
        for i, (a, b) in enumerate(steps)
    ]
    print(" | ".join(["total", *cells]))


def _exponents(results: dict[int, dict], stage: str, a: int, b: int) -> str:
    """Time (and memory) growth exponent of `stage` from `a` to `b` pairs."""
    if stage == "judge" and results[a]["judge_mode"] != results[b]["judge_mode"]:
        return "n/a (endpoint vs replay)"
    t = exponent(results[a][stage]["seconds"], results[b][stage]["seconds"], a, b)
    mem = exponent(results[a][stage]["peak_rss_mb"], results[b][stage]["peak_rss_mb"], a, b)
    return f"{t:.2f} (mem {mem:.2f})"


def _mode_cell(result: dict) -> str:
    if result["judge_mode"] == "replay":
        return f"replay: {result['judge']['detail']:,} recorded verdicts (COPY)"
    return f"endpoint: {result['judge']['detail']:,} verdicts (2 calls/pair, instant replies)"


def _target(size: int, seconds: float) -> str:
    if size < 1_000_000:
        return ""
    return "; <= 30 min: PASS" if seconds <= TARGET_TOTAL_S else "; <= 30 min: MISS"


def print_throughput(rows: list[dict]) -> None:
    base = rows[0]["calls_per_s"]
    print(
        "workers | provider limit | seconds | calls/s | vs 1 worker | share of bound | endpoint max in flight"
    )
    print("-|-|-|-|-|-|-")
    for r in rows:
        bound = (
            WORKER_CONCURRENCY * r["workers"]
            if not r["limit"]
            else min(r["limit"], WORKER_CONCURRENCY * r["workers"])
        )
        ok = (
            ""
            if not r["limit"]
            else (" (<= limit: PASS)" if r["max_in_flight"] <= r["limit"] else " (> limit: MISS)")
        )
        cells = [r["workers"], r["limit"] or "-", f"{r['seconds']:.1f}", f"{r['calls_per_s']:.1f}"]
        cells += [
            f"{r['calls_per_s'] / base:.2f}x",
            f"{r['calls_per_s'] / bound:.0%}",
            f"{r['max_in_flight']}{ok}",
        ]
        print(" | ".join(map(str, cells)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated pair counts")
    parser.add_argument("--throughput-pairs", type=int, default=1024)
    parser.add_argument("--shard-pairs", type=int, default=64, help="shard size for the throughput runs")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--shared-limit", type=int, default=96, help="provider max_concurrency (last run)")
    parser.add_argument(
        "--judge",
        choices=("auto", "endpoint", "replay"),
        default="auto",
        help="judge stage: call the instant endpoint, or replay recorded verdicts; auto: endpoint up to "
        "--replay-above pairs, replay above",
    )
    parser.add_argument("--replay-above", type=int, default=100_000)
    parser.add_argument(
        "--data-dir", type=Path, help="keep the generated pairs files here and reuse them in later runs"
    )
    parser.add_argument("--skip-stages", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--judge-mode", default="endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.workers = [int(w) for w in args.workers.split(",") if w]
    return args


def main() -> None:
    args = parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.project, args.file, args.out, args.judge_mode)))
        return
    from scripts.services import start_postgres, start_redis

    postgres = start_postgres(durable=True)  # the real durability settings: an honest benchmark
    redis = start_redis()
    endpoint, base_url = start_endpoint(0.0)
    try:
        with tempfile.TemporaryDirectory(prefix="tandem-scale-") as tmp:
            workdir = Path(tmp)
            env = environment(postgres.url, redis.url, base_url, workdir)
            in_process("migrate", "-", workdir, workdir, env)
            stages = {} if args.skip_stages else bench_stages(args, env, workdir)
            endpoint.terminate()
            throughput = (
                [] if args.skip_throughput else bench_throughput(args, postgres.url, redis.url, workdir)
            )
    finally:
        endpoint.terminate()
        redis.stop()
        postgres.stop()
    print(f"machine: {os.cpu_count()} cores; durable PostgreSQL; peak RSS per stage process (ru_maxrss)")
    if stages:
        print_stages(stages)
    if throughput:
        print()
        print_throughput(throughput)


if __name__ == "__main__":
    main()
