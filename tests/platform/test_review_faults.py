"""Human review under faults (issues 4 and 8): Argilla stopped in the middle of a sync job and
started again; the process pushing to Argilla killed with SIGKILL in the middle of a push.

These tests stop and restart an Argilla server, so they run their own (this module's), never the
session's shared one. Everything is counted through Argilla's REST API and Tandem's tables.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import close_old_connections, connection

from labeling.argilla_review import shown_order
from tandem.core import jobs, review, routing, services
from tandem.core.models import ArgillaRecord, HumanLabel, Job, Pair
from tests.conftest import local_argilla
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db(transaction=True)  # other threads and processes see the rows
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_argilla(redis_url, tmp_path_factory):
    """A local Argilla for this module alone (the tests stop it): (LocalArgilla, credentials)."""
    with local_argilla(Path(tmp_path_factory.mktemp("argilla-faults")), f"{redis_url}/9") as running:
        yield running


@pytest.fixture
def argilla_settings(own_argilla, settings):
    local, credentials = own_argilla
    settings.ARGILLA_API_URL = local.api_url
    settings.ARGILLA_API_KEY = credentials["users"]["owner"]["api_key"]
    return local, credentials


def routed_project(name: str, n: int, tmp_path: Path):
    """A project whose `n` pairs all go to humans (the judge flips under swap on every pair)."""
    project = services.create_project(name, rubric="Prefer the correct answer.")
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"prompt": f"What is {i} + {i}?", "response_a": f"{2 * i}", "response_b": f"{2 * i + 1}"}
            )
            + "\n"
            for i in range(n)
        )
    )
    services.import_pairs(project, path, "pairs")
    judge_pairs(Pair.objects.filter(project=project).order_by("id"), 0.8)
    routing.route_pairs(project, routing.RoutingPolicy(audit_rate=0.0))
    human = set(project.pairs.filter(routing_decisions__human=True).values_list("pk", flat=True))
    assert len(human) == n
    return project, human


def record_ids(project, dataset: str, pairs) -> dict[str, int]:
    """The opaque Argilla ids Tandem gives the pairs' records: {record id: pair id}."""
    key = review.record_key()
    return {key.record_id(dataset, pair_id): pair_id for pair_id in pairs}


class Owner:
    """Argilla's REST API as the owner: what is really stored there."""

    def __init__(self, local, credentials):
        self.http = httpx.Client(
            base_url=local.api_url,
            headers={"X-Argilla-Api-Key": credentials["users"]["owner"]["api_key"]},
            timeout=30,
        )

    def dataset_id(self, name: str) -> str | None:
        found = [d["id"] for d in self.http.get("/api/v1/me/datasets").json()["items"] if d["name"] == name]
        return found[0] if found else None

    def count(self, dataset_id: str) -> int:
        answer = self.http.post(f"/api/v1/datasets/{dataset_id}/records/search", params={"limit": 1}, json={})
        answer.raise_for_status()
        return answer.json()["total"]

    def records(self, dataset_id: str) -> list[dict]:
        records, offset = [], 0
        while True:
            answer = self.http.get(
                f"/api/v1/datasets/{dataset_id}/records", params={"offset": offset, "limit": 1000}
            )
            answer.raise_for_status()
            page = answer.json()["items"]
            records += page
            if len(page) < 1000:
                return records
            offset += 1000


class Outage(threading.Thread):
    """Stops the Argilla server as soon as `when()` holds, waits until the job's row reports the
    outage (the job is retrying), then starts the server again."""

    def __init__(self, local, job_id: int, when):
        super().__init__(daemon=True)
        self.local, self.job_id, self.when = local, job_id, when
        self.stopped = False
        self.seen: tuple[str, str] | None = None  # (status, error) of the job during the outage
        self.error: BaseException | None = None

    def run(self) -> None:
        from argilla_local import control

        try:
            deadline = time.monotonic() + 120
            while not self.when():
                assert time.monotonic() < deadline, "the sync never reached the point to stop Argilla at"
                time.sleep(0.02)
            control.stop_process(self.local, "server")
            self.stopped = True
            while self.seen is None:
                assert time.monotonic() < deadline, "the job never reported the outage"
                job = Job.objects.get(pk=self.job_id)
                if "Argilla unreachable" in job.error:
                    self.seen = (job.status, job.error)
                time.sleep(0.05)
            control.start_process(self.local, "server")
            control.wait_until_up(self.local)
        except BaseException as error:  # reported by the test's thread
            self.error = error
        finally:
            close_old_connections()
            connection.close()

    def finish(self) -> None:
        self.join(timeout=180)
        if self.error is not None:
            raise self.error


def test_argilla_stopped_mid_sync_is_retried_reported_and_loses_nothing(argilla_settings, tmp_path):
    local, credentials = argilla_settings
    owner = Owner(local, credentials)
    project, human = routed_project("outage", 250, tmp_path)

    # 1. Argilla stops once the first batch of 100 is recorded (the second is in flight and the
    # server finishes it before it exits; the third finds it down): the job waits, says so, goes on.
    job = Job.objects.create(kind="sync_argilla", project=project, params={})
    outage = Outage(local, job.pk, when=lambda: ArgillaRecord.objects.filter(pair__project=project).exists())
    outage.start()
    pushed = jobs.execute(job.pk)
    outage.finish()
    assert outage.stopped and outage.seen is not None
    status, error = outage.seen
    assert status == "running" and "retrying to push records" in error, error
    assert pushed.status == Job.Status.SUCCEEDED, pushed.error
    assert pushed.error == ""  # the outage notice is gone once it is over
    assert pushed.result["pushed"] == 250 and pushed.result["retries"] >= 1
    dataset_id = owner.dataset_id(pushed.result["dataset"])
    external = [r["external_id"] for r in owner.records(dataset_id)]
    assert len(external) == len(set(external)) == 250  # nothing lost, nothing twice
    assert set(external) == set(record_ids(project, pushed.result["dataset"], human))
    assert set(ArgillaRecord.objects.filter(pair__project=project).values_list("pair_id", flat=True)) == human

    # 2. Two annotators answer every record (written in bulk, as the owner, for speed); Argilla
    # stops as soon as the next sync job is running.
    records = owner.records(dataset_id)
    users = {u["username"]: u["id"] for u in owner.http.get("/api/v1/users").json()["items"]}
    values = {"annotator1": "1", "annotator2": "tie"}
    for start in range(0, len(records), 125):
        items = [
            {
                "id": r["id"],
                "responses": [
                    {"user_id": users[a], "status": "submitted", "values": {"preference": {"value": v}}}
                    for a, v in values.items()
                ],
            }
            for r in records[start : start + 125]
        ]
        answer = owner.http.put(f"/api/v1/datasets/{dataset_id}/records/bulk", json={"items": items})
        answer.raise_for_status()
    answers = {}
    pair_of = record_ids(project, pushed.result["dataset"], human)
    for r in records:
        pair_id = pair_of[r["external_id"]]
        answers[(pair_id, "annotator1")] = shown_order(pair_id).value[0]  # response 1 is the first shown
        answers[(pair_id, "annotator2")] = "tie"
    job = Job.objects.create(kind="sync_argilla", project=project, params={})
    outage = Outage(local, job.pk, when=lambda: Job.objects.filter(pk=job.pk, status="running").exists())
    outage.start()
    pulled = jobs.execute(job.pk)
    outage.finish()
    assert outage.seen is not None and outage.seen[0] == "running"
    assert pulled.status == Job.Status.SUCCEEDED and pulled.error == "", pulled.error
    result = pulled.result
    assert (result["pushed"], result["pulled"], result["labels_created"]) == (0, 500, 500)
    labels = HumanLabel.objects.filter(pair__project=project, source="argilla")
    assert {(p, a): c for p, a, c in labels.values_list("pair_id", "annotator", "choice")} == answers

    # 3. Once more with Argilla up: every response was imported exactly once.
    again = review.sync(project, review.client())
    assert (again["pulled"], again["labels_created"], again["labels_updated"]) == (500, 0, 0)
    assert again["retries"] == 0
    assert labels.count() == 500


def test_push_killed_with_sigkill_then_pushed_again_leaves_no_duplicates(argilla_settings, tmp_path):
    """The process pushing (`manage.py sync_argilla`) is killed between Argilla taking a batch and
    Tandem recording it: the next push sends that batch again, and Argilla upserts it."""
    local, credentials = argilla_settings
    if connection.vendor != "postgresql":
        pytest.skip("a pushing process beside the test needs a database server (run on PostgreSQL)")
    owner = Owner(local, credentials)
    project, human = routed_project("crash", 300, tmp_path)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
        "TANDEM_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,  # one deployment: one key (opaque record ids)
        "ARGILLA_API_URL": local.api_url,
        "ARGILLA_API_KEY": credentials["users"]["owner"]["api_key"],
    }
    with open(tmp_path / "push.log", "wb") as log:
        pusher = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "sync_argilla", "--project", "crash", "--json"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    recorded = ArgillaRecord.objects.filter(pair__project=project)
    name = review.dataset_name(project, routing.project_policy(project).version)
    try:
        deadline, dataset_id = time.monotonic() + 180, None
        while True:  # kill once Argilla holds records that Tandem has not recorded yet
            assert time.monotonic() < deadline and pusher.poll() is None, "the push ended before the kill"
            dataset_id = dataset_id or owner.dataset_id(name)
            rows = recorded.count()
            in_argilla = owner.count(dataset_id) if dataset_id else 0
            if in_argilla > rows:
                os.killpg(pusher.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if pusher.poll() is None:
            os.killpg(pusher.pid, signal.SIGKILL)
        pusher.wait(timeout=30)
    assert pusher.returncode == -signal.SIGKILL
    rows_at_kill, in_argilla_at_kill = recorded.count(), owner.count(dataset_id)
    assert rows_at_kill < in_argilla_at_kill < 300  # killed mid-push, inside the unrecorded window

    again = review.sync(project, review.client())
    assert again["pushed"] == 300 - rows_at_kill  # the unrecorded batch went again, upserted
    external = [r["external_id"] for r in owner.records(dataset_id)]
    assert len(external) == len(set(external)) == 300 == owner.count(dataset_id)
    assert set(external) == set(record_ids(project, name, human))
    assert set(recorded.values_list("pair_id", flat=True)) == human and recorded.count() == 300
