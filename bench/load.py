#!/usr/bin/env python
"""Load: the app under gunicorn on PostgreSQL, 8 clients importing and 8 reading while a judge
job runs, then a count of every row sent.

Starts a durable PostgreSQL and a Redis (scripts/services.py), migrates, serves the app with
gunicorn on 127.0.0.1 (settings `tandem.settings.base`, DEBUG off), runs a Celery worker
(scripts/worker.sh) and a local OpenAI-compatible endpoint (tests/openai_endpoint.py, the only
fake: the paid API's transport) for a judge job started through the API just before the load.
Then, for `--seconds`: 8 importer clients each upload small JSONL files of unique pairs through
the API (POST /api/projects/ID/imports/), and 8 reader clients (signed in through the sign-in
page) cycle through the project page, the pair list API and the job list API. First each kind
runs alone, one client, for a baseline. It prints requests/s, p50/p99 latency and errors per
kind under load next to the baseline, waits for every import job, and fails unless the
database holds exactly the pairs sent. Everything it started is stopped by pid.

    .venv/bin/python bench/load.py [--seconds 30] [--clients 8] [--rows-per-file 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]

from scripts.services import free_port, start_postgres, start_redis  # noqa: E402
from tests.openai_endpoint import API_KEY, MODEL, FakeOpenAI  # noqa: E402

PASSWORD = "load-" + "pw-123456"  # a throwaway user in a throwaway database
JUDGE = {
    "backend": "openai",
    "model": MODEL,
    "params": {"max_retries": 2, "timeout_s": 10.0, "concurrency": 4},
}


def configure(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def setup_rows(judge_pairs: int) -> tuple[int, str]:
    """A project with pairs for the judge, and an engineer with an API token."""
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from tandem.core import services
    from tandem.core.roles import set_roles

    user = get_user_model().objects.create_user("engineer", password=PASSWORD)
    project = services.create_project("load")
    set_roles(user, "engineer", [project])
    token = AuthToken.objects.create(user=user)[1]
    project.judge_config = {"judges": {"api": JUDGE}}
    project.save()
    path = Path(tempfile.mkdtemp()) / "judge.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"prompt": f"SCENARIO=delay=0.02 judge {i}", "response_a": "Paris.", "response_b": "Lyon."}
            )
            + "\n"
            for i in range(judge_pairs)
        )
    )
    services.import_pairs(project, path, "pairs")
    return project.pk, token


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.rows_sent = 0
        self.jobs: list[int] = []

    def record(
        self, kind: str, started: float, response: httpx.Response | None, ok: set[int], err: str = ""
    ) -> bool:
        with self.lock:
            self.latency[kind].append(time.perf_counter() - started)
            if response is None or response.status_code not in ok:
                self.errors[kind].append(err or f"{response.status_code} {response.text[:200]}")
                return False
            return True


def importer(base: str, token: str, project: int, stats: Stats, stop: float, name: str, rows: int) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=60) as client:
        n = 0
        while time.monotonic() < stop:
            body = "".join(
                json.dumps({"prompt": f"{name} file {n} row {r}", "response_a": "a", "response_b": "b"})
                + "\n"
                for r in range(rows)
            )
            started = time.perf_counter()
            try:
                response = client.post(
                    f"/api/projects/{project}/imports/",
                    files={"file": ("p.jsonl", body)},
                    data={"format": "pairs"},
                )
            except httpx.HTTPError as err:
                stats.record("import (POST)", started, None, set(), repr(err))
                continue
            if stats.record("import (POST)", started, response, {202}):
                with stats.lock:
                    stats.rows_sent += rows
                    stats.jobs.append(response.json()["id"])
            n += 1


def signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"]
    response = client.post(
        "/accounts/login/",
        data={"username": "engineer", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": base + "/accounts/login/"},
    )
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    return client


def reader(base: str, token: str, project: int, stats: Stats, stop: float) -> None:
    urls = [
        ("project page", f"/projects/{project}/", {}),
        ("pair list API", f"/api/projects/{project}/pairs/?limit=50", {"Authorization": f"Token {token}"}),
        ("job list API", "/api/jobs/?limit=20", {"Authorization": f"Token {token}"}),
    ]
    started = time.perf_counter()
    try:
        client = signed_in(base)
    except (httpx.HTTPError, RuntimeError, KeyError) as err:
        stats.record("sign-in", started, None, set(), repr(err))
        return
    try:
        i = 0
        while time.monotonic() < stop:
            kind, url, headers = urls[i % len(urls)]
            started = time.perf_counter()
            try:
                response = client.get(url, headers=headers)
            except httpx.HTTPError as err:
                stats.record(kind, started, None, set(), repr(err))
            else:
                stats.record(kind, started, response, {200})
            i += 1
    finally:
        client.close()


def run_phase(
    seconds: float, importers: int, readers: int, base: str, token: str, project: int, rows: int
) -> Stats:
    stats, stop = Stats(), time.monotonic() + seconds
    threads = [
        threading.Thread(target=importer, args=(base, token, project, stats, stop, f"c{seconds}-{i}", rows))
        for i in range(importers)
    ] + [threading.Thread(target=reader, args=(base, token, project, stats, stop)) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats


def pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000
        if len(values) > 1
        else values[0] * 1000
    )


def report(base_stats: Stats, load: Stats, seconds: float, base_seconds: float) -> None:
    head = f"{'kind':<16}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    print(f"\n{head}   alone: {'req/s':>7}{'p50 ms':>9}  p50 ratio (loaded / alone)")
    for kind in sorted(load.latency):
        lat, alone = load.latency[kind], base_stats.latency.get(kind) or [float("nan")]
        loaded = (
            f"{len(lat) / seconds:>8.1f}{pct(lat, 50):>9.1f}{pct(lat, 99):>9.1f}{len(load.errors[kind]):>8}"
        )
        ratio = pct(lat, 50) / pct(alone, 50)
        single = f"{len(alone) / base_seconds:>7.1f}{pct(alone, 50):>9.1f}"
        print(f"{kind:<16}{loaded}   alone: {single}  {ratio:>8.1f}x")
    total = sum(len(v) for v in load.latency.values())
    print(f"{'all':<16}{total / seconds:>8.1f}{'':>18}{sum(len(v) for v in load.errors.values()):>8}")
    for kind, errs in load.errors.items():
        for err in errs[:3]:
            print(f"  error ({kind}): {err}")


def wait_jobs(job_ids: list[int], timeout: float) -> dict[str, int]:
    from django.db.models import Count

    from tandem.core.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = dict(Job.objects.filter(pk__in=job_ids).values_list("status").annotate(n=Count("id")))
        if sum(states.get(s, 0) for s in ("succeeded", "failed", "cancelled")) == len(job_ids):
            return states
        time.sleep(0.5)
    return states


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--baseline-seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8, help="importers, and as many readers")
    parser.add_argument("--rows-per-file", type=int, default=5)
    parser.add_argument("--judge-pairs", type=int, default=400)
    parser.add_argument("--gunicorn-workers", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tandem-load-"))
    started: list[subprocess.Popen] = []
    pg = start_postgres(durable=True)
    redis = start_redis()
    fake = FakeOpenAI()
    fake.thread.start()
    env = {
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": pg.url,
        "CELERY_BROKER_URL": f"{redis.url}/0",
        "CACHE_URL": f"rediscache://127.0.0.1:{redis.port}/1",
        "TANDEM_VAR_DIR": str(work),
        "TANDEM_MEDIA_ROOT": str(work / "media"),
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": fake.base_url,
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        "TANDEM_LOG_LEVEL": "WARNING",
        "TANDEM_API_RATE_USER": "1000000/minute",  # the load is one user: measure the app, not the throttle
    }
    try:
        configure(env)
        project, token = setup_rows(args.judge_pairs)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        logs = {name: open(work / f"{name}.log", "w") for name in ("gunicorn", "worker")}  # noqa: SIM115
        started.append(
            subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/gunicorn"),
                    "tandem.wsgi:application",
                    "-b",
                    f"127.0.0.1:{port}",
                    "-w",
                    str(args.gunicorn_workers),
                    "--threads",
                    "4",
                    "--worker-class",
                    "gthread",
                ],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=logs["gunicorn"],
                stderr=subprocess.STDOUT,
            )
        )
        started.append(
            subprocess.Popen(
                [str(ROOT / "scripts/worker.sh"), "-Q", "default", "-c", "2", "--loglevel", "WARNING"],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=logs["worker"],
                stderr=subprocess.STDOUT,
            )
        )
        wait_http(base + "/accounts/login/")
        print(
            f"gunicorn pid {started[0].pid} ({args.gunicorn_workers} gthread workers x 4 threads) on {base}, "
            f"celery worker pid {started[1].pid} (-c 2), PostgreSQL :{pg.port} (durable), Redis :{redis.port}"
        )
        print(f"baseline: each kind alone, 1 client, {args.baseline_seconds:.0f} s")
        alone = Stats()
        for importers, readers in ((1, 0), (0, 1)):
            phase = run_phase(
                args.baseline_seconds, importers, readers, base, token, project, args.rows_per_file
            )
            for kind, values in phase.latency.items():
                alone.latency[kind] += values
            alone.rows_sent += phase.rows_sent
            alone.jobs += phase.jobs
        judge = httpx.post(
            f"{base}/api/projects/{project}/judge/",
            json={"judge": "api"},
            headers={"Authorization": f"Token {token}"},
            timeout=30,
        )
        assert judge.status_code == 202, judge.text
        print(
            f"judge job {judge.json()['id']} started over {args.judge_pairs} pairs; "
            f"load: {args.clients} importers + {args.clients} readers for {args.seconds:.0f} s"
        )
        load = run_phase(args.seconds, args.clients, args.clients, base, token, project, args.rows_per_file)
        report(alone, load, args.seconds, args.baseline_seconds)

        from tandem.core.models import Job, Judgment, Pair

        jobs = alone.jobs + load.jobs
        states = wait_jobs(jobs, timeout=300)
        sent = alone.rows_sent + load.rows_sent
        stored = Pair.objects.filter(project_id=project).exclude(prompt__startswith="SCENARIO=").count()
        judge_job = Job.objects.get(pk=judge.json()["id"])
        judged = Judgment.objects.filter(pair__project_id=project).count()
        print(f"\nimport jobs: {len(jobs)} ({states}); rows sent {sent}, pairs stored {stored}")
        print(
            f"judge job during the load: {judge_job.status}, {judged} judgments stored so far "
            "(it judges the pairs imported meanwhile too)"
        )
        expected = {"import (POST)", "project page", "pair list API", "job list API"}
        ok = (
            set(load.latency) == expected
            and stored == sent
            and states.get("succeeded", 0) == len(jobs)
            and not any(load.errors.values())
        )
        print("PASS: 0 errors, the database holds exactly the rows sent" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        for proc in reversed(started):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        from django.db import connections

        connections.close_all()
        fake.server.shutdown()
        redis.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
