"""Judge jobs fanned out to shards, run by real Celery worker processes on a real Redis broker,
against the real OpenAI-compatible test endpoint (tests/openai_endpoint.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from tandem.celery import app as celery_app
from tandem.core import jobs, services
from tandem.core.models import Job, Judgment, Pair
from tests.openai_endpoint import API_KEY, MODEL
from tests.platform.test_jobs import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
JUDGE = {"backend": "openai", "model": MODEL, "params": {"concurrency": 4, "timeout_s": 10.0}}


@pytest.fixture
def shared_cache(settings, redis_url):
    """Progress and cancel travel through Redis, as whenever a separate worker runs jobs."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"{redis_url}/6"}}  # fmt: skip
    celery_app.conf.update(broker_url=f"{redis_url}/0", task_always_eager=False)
    from django.core.cache import cache

    cache.clear()
    return settings


@contextlib.contextmanager
def workers(count: int, redis_url: str, fake, tmp_path: Path, shard_pairs: int):
    """`count` worker processes (scripts/worker.sh), as a deployment starts them."""
    if connection.vendor != "postgresql":
        pytest.skip("workers in other processes need a database server (run on PostgreSQL)")
    db = connection.settings_dict
    env = {
        **os.environ,
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "CACHE_URL": f"rediscache://{redis_url[8:]}/6",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TANDEM_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
        "TANDEM_JUDGE_SHARD_PAIRS": str(shard_pairs),
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": API_KEY,
    }
    celery_app.control.purge()  # messages other tests left for jobs that no longer exist
    command = [str(ROOT / "scripts/worker.sh"), "-Q", "default", "--pool", "solo", "--loglevel", "WARNING"]
    started = [
        subprocess.Popen(
            [*command, "-n", f"w{i}@%h"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for i in range(count)
    ]
    try:
        yield started
    finally:
        for worker in started:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in started:
            worker.communicate(timeout=60)


def judged_project(tmp_path, name: str, pairs: int, scenario: str):
    import json

    project = services.create_project(name)
    project.judge_config = {"judges": {"api": JUDGE}}
    project.save()
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prompt": f"SCENARIO={scenario} q{i}", "response_a": "a", "response_b": "b"}) + "\n"
            for i in range(pairs)
        )
    )
    services.import_pairs(project, path, "pairs")
    return project


def test_a_judge_job_fans_out_to_shards_that_two_worker_processes_judge(
    shared_cache, redis_url, fake_openai, tmp_path
):
    from tests.platform.test_fanout_shards import count_model_lists

    project = judged_project(tmp_path, "fan", 40, "delay=0.05")
    checks = count_model_lists(fake_openai)
    with workers(2, redis_url, fake_openai, tmp_path, shard_pairs=10):
        job = jobs.start_job("judge", project=project, params={"judge": "api"})
        finished = wait_for(job.pk, timeout=240)
    assert finished.status == Job.Status.SUCCEEDED, finished.error
    shards = list(finished.shards.order_by("pk"))
    # Shards of 10 pairs, the last two split smaller (down to 2 pairs: concurrency 4 / 2).
    assert [s.params["pairs"] for s in shards] == [10, 10, 8, 4, 4, 2, 2]
    assert {s.status for s in shards} == {Job.Status.SUCCEEDED}
    assert len({s.worker for s in shards}) == 2  # both processes took shards
    assert checks[0] <= 2  # the judge started once per worker process, not once per shard
    # Every pair judged once in each order, and the parent's figures are the shards' sums.
    per_pair = Judgment.objects.values("pair_id", "order").annotate(n=Count("id"))
    assert len(per_pair) == 80 and {row["n"] for row in per_pair} == {1}
    assert finished.result["judged"] == 80 == sum(s.result["judged"] for s in shards)
    assert finished.result["shards"] == 7 and finished.result["errors"] == 0
    assert (finished.progress_done, finished.progress_total) == (80, 80)


def test_cancelling_the_parent_stops_its_shards_and_a_new_job_judges_only_the_rest(
    shared_cache, redis_url, fake_openai, tmp_path
):
    project = judged_project(tmp_path, "stop", 30, "delay=0.4")
    with workers(1, redis_url, fake_openai, tmp_path, shard_pairs=5):
        job = jobs.start_job("judge", project=project, params={"judge": "api"})
        deadline = time.monotonic() + 120
        while not Judgment.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        jobs.request_cancel(Job.objects.get(pk=job.pk))
        cancelled = wait_for(job.pk, timeout=120)
        assert cancelled.status == Job.Status.CANCELLED, cancelled.error
        assert "run it again to continue" in cancelled.error
        assert {s.status for s in cancelled.shards.all()} == {Job.Status.CANCELLED}
        kept = Judgment.objects.count()
        assert 0 < kept < 60
        time.sleep(1.0)
        assert Judgment.objects.count() == kept  # nothing judged after the cancel

        again = jobs.start_job("judge", project=project, params={"judge": "api"})
        finished = wait_for(again.pk, timeout=240)
    assert finished.status == Job.Status.SUCCEEDED, finished.error
    assert finished.result["judged"] == 60 - kept and finished.result["skipped"] == kept
    # Shards cover only what the cancelled run left: fewer pairs than the project has.
    assert sum(s.params["pairs"] for s in finished.shards.all()) < Pair.objects.count()
    per_pair = Judgment.objects.values("pair_id", "order").annotate(n=Count("id"))
    assert len(per_pair) == 60 and {row["n"] for row in per_pair} == {1}
