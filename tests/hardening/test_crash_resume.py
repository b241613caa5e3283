"""kill -9 in the middle of work: a judge job's Celery worker, and an export command.

Nothing may be lost or duplicated: a job whose worker died must not stay `running` forever (a
new worker finds it by its stopped heartbeat and re-queues it; it resumes where the dead one
stopped), and an export killed half-way must leave no dataset version behind."""

from __future__ import annotations

import time

import pytest
from django.db.models import Count

from tandem.celery import app as celery_app
from tandem.core import jobs
from tandem.core.models import Job, JudgeCall, Judgment
from tests.hardening.conftest import JUDGE, database_url, kill9, make_project, process_env, start_worker, stop
from tests.openai_endpoint import API_KEY, Chaos, FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

N_PAIRS = 400
CONCURRENCY = 8


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.fixture
def slow_openai():
    fake = FakeOpenAI(Chaos(rate=0.0))
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_kill9_of_the_worker_mid_judge_job_is_recovered_and_resumed(redis_url, slow_openai, tmp_path):
    fake = slow_openai
    project = make_project(tmp_path, "crash", N_PAIRS, scenario="delay=0.1")
    project.judge_config = {
        "judges": {"api": {**JUDGE, "params": {**JUDGE["params"], "concurrency": CONCURRENCY}}}
    }
    project.save()
    env = process_env(
        tmp_path,
        database_url(),
        CELERY_BROKER_URL=f"{redis_url}/0",
        CACHE_URL=f"rediscache://{redis_url[8:]}/6",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=fake.base_url,
        TANDEM_JOB_HEARTBEAT_SECONDS="1",
        TANDEM_JOB_STALE_SECONDS="4",
    )
    celery_app.conf.update(broker_url=f"{redis_url}/0", task_always_eager=False)
    rows = Judgment.objects.filter(pair__project=project, judge="api")
    first = start_worker(tmp_path, env, "first@%h")
    second = None
    try:
        job = jobs.start_job("judge", project=project, params={"judge": "api"})
        wait_until(lambda: rows.count() >= 4 * 2 * 16, 120, "the first worker judged four batches")
        kill9(first)
        at_kill = rows.count()
        assert 0 < at_kill < 2 * N_PAIRS
        stuck = Job.objects.get(pk=job.pk)
        assert stuck.status == Job.Status.RUNNING and stuck.worker.startswith("first@")

        # A new worker (another name: the first one's machine may never come back) notices the
        # stopped heartbeat, re-queues the job and finishes it.
        second = start_worker(tmp_path, env, "second@%h")
        done = wait_until(
            lambda: Job.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first(),
            180,
            "the job was recovered and finished",
        )
    finally:
        kill9(first)
        if second is not None:
            stop(second)
    assert done.status == Job.Status.SUCCEEDED, done.error
    assert done.result["skipped"] == at_kill  # resumed: what the dead worker stored was kept
    assert done.result["judged"] == 2 * N_PAIRS - at_kill
    assert done.worker.startswith("second@")
    assert rows.count() == 2 * N_PAIRS  # nothing lost, nothing duplicated: 2 rows per pair
    per_pair = rows.values("pair_id").annotate(n=Count("id")).values_list("n", flat=True)
    assert set(per_pair) == {2} and len(per_pair) == N_PAIRS
    assert not rows.exclude(status="ok").exists()
    # A paid reply is cached as soon as it arrives; a kill can only lose the replies in flight
    # (at most `concurrency`), which the resumed job pays for again.
    assert fake.paid_twice() <= CONCURRENCY
    assert JudgeCall.objects.count() == len(fake.answered)
    print(
        f"\njudge job over {N_PAIRS} pairs: worker killed (SIGKILL) after {at_kill} of "
        f"{2 * N_PAIRS} verdicts; "
        f"recovered by a new worker, job {done.result['judged']} judged + {done.result['skipped']} kept; "
        f"{rows.count()} rows (2 per pair), {len(fake.answered)} calls answered, "
        f"{fake.paid_twice()} paid twice"
    )


def test_a_restarted_worker_requeues_its_own_jobs_at_once_and_fails_them_the_second_time(redis_url):
    """A worker restarting under its old name cannot be running anything yet: its running jobs
    are re-queued without waiting for the heartbeat to go stale; a job interrupted twice fails
    with the reason instead of looping."""
    from django.utils import timezone

    celery_app.conf.update(broker_url=f"{redis_url}/9", task_always_eager=False)  # no consumer
    now = timezone.now()
    job = Job.objects.create(
        kind="route", status="running", worker="w1@host", started_at=now, heartbeat_at=now
    )
    other = Job.objects.create(
        kind="route", status="running", worker="w2@host", started_at=now, heartbeat_at=now
    )
    assert jobs.recover_stale_jobs("w1@host") == [job.pk]
    job.refresh_from_db()
    assert (
        job.status == Job.Status.QUEUED and "worker w1@host stopped" in job.error and "re-queued" in job.error
    )
    assert Job.objects.get(pk=other.pk).status == Job.Status.RUNNING  # alive: left alone
    Job.objects.filter(pk=job.pk).update(status="running", worker="w1@host", heartbeat_at=now)
    assert jobs.recover_stale_jobs("w1@host") == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "interrupted 2 times" in job.error
    assert "not re-queued again" in job.error and job.finished_at is not None
