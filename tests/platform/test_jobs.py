"""Background jobs through a real Celery worker on a real Redis broker."""

from __future__ import annotations

import io
import json
import time

import pytest
from celery.contrib.testing.worker import start_worker

from tandem.celery import app as celery_app
from tandem.core import jobs, services
from tandem.core.models import Job, Pair

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(redis_url):
    celery_app.conf.update(broker_url=f"{redis_url}/0", result_backend=None, task_always_eager=False)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def wait_for(job_id: int, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in {Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED}:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout} s")


def upload(rows: list[dict]) -> io.BytesIO:
    data = io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())
    data.name = "pairs.jsonl"
    return data


def test_api_upload_is_imported_by_the_worker_and_then_deleted(worker, api, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    project = services.create_project("jobs")
    rows = [{"prompt": f"q{i}", "response_a": "a", "response_b": "b"} for i in range(1500)]
    response = api("engineer").post(
        f"/api/projects/{project.pk}/imports/", {"file": upload(rows), "format": "pairs"}, format="multipart"
    )
    assert response.status_code == 202
    job = wait_for(response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["created"] == 1500
    assert (job.progress_done, job.progress_total) == (1500, 1500)
    assert Pair.objects.filter(project=project).count() == 1500
    seen = api("auditor").get(f"/api/jobs/{job.pk}/").json()
    assert seen["status"] == "succeeded" and seen["progress"] == {"done": 1500, "total": 1500}
    assert list((tmp_path / "uploads").iterdir()) == []  # the uploaded file is gone once imported


def test_a_failed_import_job_keeps_nothing_and_says_why(worker, api):
    project = services.create_project("jobs")
    rows = [{"prompt": "q", "response_a": "a", "response_b": "b"}, {"prompt": "only"}]
    response = api("engineer").post(
        f"/api/projects/{project.pk}/imports/", {"file": upload(rows), "format": "pairs"}, format="multipart"
    )
    job = wait_for(response.json()["id"])
    assert job.status == Job.Status.FAILED
    assert "line 2, field 'response_a': is missing" in job.error
    assert job.result["errors"][0]["line"] == 2
    assert Pair.objects.count() == 0


def test_auditors_read_that_a_job_failed_and_engineers_read_why(api, user_factory):
    """A raw failure (here a database error's text) names tables and server paths: the
    project's engineers need it, its auditors only that the job failed."""
    from django.test import Client

    project = services.create_project("jobs")
    raw = 'ProgrammingError: relation "core_pair" does not exist at /srv/tandem/var/media/uploads/x.jsonl'
    job = Job.objects.create(kind="import_pairs", project=project, status=Job.Status.FAILED, error=raw)
    assert api("engineer").get(f"/api/jobs/{job.pk}/").json()["error"] == raw
    assert api("admin").get(f"/api/jobs/{job.pk}/").json()["error"] == raw
    seen = api("auditor").get(f"/api/jobs/{job.pk}/").json()["error"]
    assert seen == "the job failed; the project's engineers see the reason"
    assert api("auditor").get("/api/jobs/").json()["results"][0]["error"] == seen
    page = Client()
    page.force_login(user_factory("auditor"))
    html = page.get(f"/projects/{project.pk}/").content.decode()
    assert seen.replace("'", "&#x27;") in html and "core_pair" not in html and "/srv/" not in html


def test_cancel_stops_the_job_and_keeps_nothing(tmp_path, redis_url):
    from django.core.cache import cache

    project = services.create_project("jobs")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "response_a": "a", "response_b": "b"}) + "\n" for i in range(5000)
        )
    )
    job = Job.objects.create(
        kind="import_pairs", project=project, params={"path": str(path), "format": "pairs"}
    )
    jobs.request_cancel(job)  # a queued job is cancelled at once and never starts
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    running = Job.objects.create(
        kind="import_pairs", project=project, params={"path": str(path), "format": "pairs"}
    )
    cache.set(f"tandem:job:{running.pk}:cancel", True)  # what request_cancel does for a running job
    finished = jobs.execute(running.pk)
    assert finished.status == Job.Status.CANCELLED
    assert "nothing from this file was kept" in finished.error
    assert Pair.objects.count() == 0
    assert jobs.execute(running.pk).status == Job.Status.CANCELLED  # never restarted


def test_the_worker_script_runs_jobs_in_its_own_process(redis_url, tmp_path):
    """scripts/worker.sh (what `make demo` and deployments start) as a separate process."""
    import os
    import signal
    import subprocess
    from pathlib import Path

    from django.db import connection

    root = Path(__file__).resolve().parents[2]
    db = connection.settings_dict
    env = {
        **os.environ,
        "CELERY_BROKER_URL": f"{redis_url}/0",  # the broker the app above already uses
        "CACHE_URL": f"rediscache://{redis_url[8:]}/6",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TANDEM_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
    }
    if connection.vendor != "postgresql":
        pytest.skip("a worker in another process needs a database server (run on PostgreSQL)")
    worker = subprocess.Popen(
        [str(root / "scripts/worker.sh"), "-Q", "default", "--pool", "solo", "--loglevel", "WARNING"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        celery_app.conf.update(broker_url=f"{redis_url}/0", task_always_eager=False)
        project = services.create_project("jobs")
        path = tmp_path / "p.jsonl"
        path.write_text(
            "".join(
                json.dumps({"prompt": f"q{i}", "response_a": "a", "response_b": "b"}) + "\n"
                for i in range(50)
            )
        )
        job = jobs.start_job("import_pairs", project=project, params={"path": str(path), "format": "pairs"})
        finished = wait_for(job.pk, timeout=120)
        assert finished.status == Job.Status.SUCCEEDED, finished.error
        assert Pair.objects.filter(project=project).count() == 50
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        output = worker.communicate(timeout=30)[0].decode()
    assert "Unable to load celery application" not in output
