#!/usr/bin/env python
"""Benchmark: one project through every stage at several sizes, and judge throughput by workers.

Part 1, stages. For each size (`--sizes 10000,100000,1000000`) on a durable PostgreSQL (the
real fsync settings, as bench/import_pairs.py): import (generated pairs with a human label each,
bench/import_pairs.py's generator), judge (both orders, `manage.py judge`'s path, against a local
OpenAI-compatible endpoint that answers at once: bench/judge_client.py's), route, audit (JSON) and
export (JSONL). Each stage runs in a process of its own, so its peak resident memory
(`ru_maxrss` from wait4) is the stage's alone; the wall time is the stage's call, without
Django's start. The growth exponent between two sizes is log(t2/t1) / log(n2/n1): 1.0 is linear.

Part 2, judge throughput. A judge job over `--throughput-pairs` pairs, fanned out in shards of
`--shard-pairs`, run by 1, 2 and 4 Celery worker processes (scripts/worker.sh, pool solo), each
judge at concurrency 32 against an endpoint with 1 s latency: the endpoint is the bound (32
calls/s per worker). The endpoint counts the most requests it answered at once. A last run
gives the provider `max_concurrency` `--shared-limit` (below 4 x 32): that count must not exceed
it.

    .venv/bin/python bench/scale.py [--sizes 10000,100000] [--throughput-pairs 1024] [--skip-stages]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import os
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


# -- a stage, in its own process ----------------------------------------------------------------


def run_stage(stage: str, project_name: str, path: Path, out: Path) -> dict:
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


def in_process(stage: str, project: str, path: Path, out: Path, env: dict) -> dict:
    """`run_stage` in a child process: (its result, its own peak RSS in MB)."""
    command = [sys.executable, __file__, "--stage", stage, "--project", project, "--file", str(path), "--out",
               str(out)]  # fmt: skip
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


def bench_stages(sizes: list[int], env: dict, workdir: Path) -> dict[int, dict]:
    from import_pairs import write_pairs

    results: dict[int, dict] = {}
    for size in sizes:
        path = workdir / f"pairs-{size}.jsonl"
        write_pairs(path, size, seed=3, shape="pairs")
        out = workdir / f"out-{size}"
        out.mkdir()
        results[size] = {}
        for stage in STAGES:
            print(f"{size:,} pairs: {stage} ...", file=sys.stderr, flush=True)
            results[size][stage] = in_process(stage, f"scale-{size}", path, out, env)
            print(f"  {results[size][stage]}", file=sys.stderr, flush=True)
        path.unlink()
    return results


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
print(json.dumps({"seconds": seconds, "shards": job.result.get("shards", 0)}))
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
        return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    finally:
        for worker in started:
            os.killpg(worker.pid, 15)
        for worker in started:
            worker.wait(timeout=60)


def exponent(t1: float, t2: float, n1: int, n2: int) -> float:
    return math.log(max(t2, 1e-9) / max(t1, 1e-9)) / math.log(n2 / n1)


def print_stages(results: dict[int, dict]) -> None:
    sizes = sorted(results)
    header = [
        "stage",
        *(f"{n:,} pairs: s / MB" for n in sizes),
        *(f"exp {a:,}->{b:,}" for a, b in itertools.pairwise(sizes)),
    ]
    print(" | ".join(header))
    print("-|-".join("-" * len(h) for h in header))
    for stage in STAGES:
        cells = [stage]
        cells += [
            f"{results[n][stage]['seconds']:.1f} s / {results[n][stage]['peak_rss_mb']:.0f} MB" for n in sizes
        ]
        cells += [
            f"{exponent(results[a][stage]['seconds'], results[b][stage]['seconds'], a, b):.2f} (mem "
            f"{exponent(results[a][stage]['peak_rss_mb'], results[b][stage]['peak_rss_mb'], a, b):.2f})"
            for a, b in itertools.pairwise(sizes)
        ]
        print(" | ".join(cells))


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
    parser.add_argument("--skip-stages", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.workers = [int(w) for w in args.workers.split(",") if w]
    return args


def main() -> None:
    args = parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.project, args.file, args.out)))
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
            stages = {} if args.skip_stages else bench_stages(args.sizes, env, workdir)
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
