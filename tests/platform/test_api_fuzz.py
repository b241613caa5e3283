"""The REST API fuzzed against its own OpenAPI schema (schemathesis), and the import endpoint
fed hostile files (hypothesis).

schemathesis generates requests for every operation in the schema the app serves and checks
each response: never a 5xx, and the status and body are ones the schema documents. It runs
in-process against the WSGI app as an engineer (token auth), inside the test's transaction.
Path ids are drawn half the time from rows that exist, so requests reach the views' logic
instead of stopping at a 404.

The import test goes past the 202: it runs the import job the upload started (the same
`jobs.execute` the worker calls) and asserts the outcome a user sees: a clear 4xx on upload,
or a job that either imported every row or failed with a message and kept nothing.
tests/labeling/test_importer_properties.py covers the importers' parsing itself.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tandem.core import jobs, services
from tandem.core.models import DatasetVersion, Job, Membership, Pair, Project

pytestmark = pytest.mark.django_db

REAL_IDS: dict[str, list[int]] = {}  # path parameter -> ids that exist, filled by the fixture
HEADERS: dict[str, str] = {}


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, point each id at a row that exists."""
    if not path_parameters:
        return st.just(path_parameters)
    choices = {
        name: st.sampled_from([value, *REAL_IDS.get(name, [])]) for name, value in path_parameters.items()
    }
    return st.fixed_dictionaries(choices)


@pytest.fixture
def wsgi_app():
    """The app as a WSGI callable that keeps the test's database connection: Django closes
    connections when a request ends, which would end the test's transaction (its test Client
    unhooks the same signal)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def generated_schema() -> dict:
    """The OpenAPI schema exactly as /api/schema/ serves it (test_served_schema_is_the_fuzzed_one
    checks), built at collection time: schemathesis parametrizes tests from it before any
    fixture (the database) exists."""
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


schema = schemathesis.openapi.from_dict(generated_schema())
schema.app = WSGIHandler()


@pytest.fixture
def api_rows(request, db, wsgi_app, user_factory, tmp_path, settings):
    """A project with pairs, a job and a member whose ids the fuzzer uses, and a token of the
    project's engineer (`role` of the test: engineer, or admin for the member writes)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    project = services.create_project("fuzz")
    path = tmp_path / "p.jsonl"
    rows = [{"prompt": f"q{i}", "response_a": "a", "response_b": "b"} for i in range(3)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    services.import_pairs(project, path, "pairs")
    job = Job.objects.create(kind="import_pairs", project=project)
    engineer = user_factory("engineer", project=project)
    user_factory("auditor", project=project)
    settings.VAR_DIR = tmp_path / "var"
    REAL_IDS.update(
        id=[project.pk, job.pk, *_stage_rows(project, tmp_path)],
        project_pk=[project.pk],
        pk=[*Pair.objects.values_list("pk", flat=True), *Membership.objects.values_list("pk", flat=True)],
    )
    user = user_factory("admin") if getattr(request, "param", "engineer") == "admin" else engineer
    HEADERS["Authorization"] = f"Token {AuthToken.objects.create(user=user)[1]}"


def _stage_rows(project: Project, tmp_path: Path) -> list[int]:
    """A stored audit report, a dataset version with its files, a finished training run and an
    alert, so the stages' detail paths reach their views: their ids."""
    from tandem.core import audits, datasets
    from tandem.core.models import Alert, HumanLabel, TrainingRun
    from tests.factories import judge_pairs

    pairs = Pair.objects.filter(project=project).order_by("id")
    HumanLabel.objects.bulk_create(
        HumanLabel(pair=p, annotator="h", choice="a", source="imported") for p in pairs
    )
    judge_pairs(pairs, 0.9, 0.1)
    report = audits.create_report(project)
    version = DatasetVersion.objects.get(
        pk=datasets.export_dataset(project, None, ["jsonl", "csv"], tmp_path / "d")["id"]
    )
    run = TrainingRun.objects.create(
        project=project,
        dataset=version,
        method="reward",
        config={},
        output_dir="",
        status="failed",
        error="x",
    )
    alert = Alert.objects.create(project=project, kind="escalation", message="slice x")
    return [report.pk, version.pk, run.pk, alert.pk]


def test_served_schema_is_the_fuzzed_one(api_rows, api):
    served = api("engineer").get("/api/schema/?format=json")
    assert served.status_code == 200
    assert json.loads(served.content) == generated_schema()


@pytest.mark.parametrize("api_rows", ["engineer", "admin"], indirect=True)
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_against_its_schema(api_rows, case):
    case.call_and_validate(
        headers=HEADERS,
        checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
    )


@pytest.mark.parametrize(
    ("method", "path", "what"),
    [
        ("post", "/api/jobs/null,null/cancel/", "job"),
        ("post", "/api/projects/null,null/imports/", "project"),
        ("post", "/api/projects/null,null/judge/", "project"),
        ("get", "/api/projects/x/stats/", "project"),
        ("get", "/api/projects/99999999999999999999999/stats/", "project"),
        ("get", "/api/projects/²/stats/", "project"),
        ("get", "/api/jobs/-1/", "job"),
        ("post", "/api/jobs/²/cancel/", "job"),
    ],
)
def test_an_id_that_is_not_a_number_is_404(api, method, path, what):
    """Found by the fuzzer: these were 500s (Django's get_object_or_404 on a non-numeric id)."""
    response = getattr(api("engineer"), method)(path, {}, format="json")
    assert (response.status_code, response.json()) == (404, {"detail": f"no such {what}"})


def _rows(*rows: dict) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


GOOD = {"prompt": "What is 2+2?", "response_a": "4", "response_b": "5"}
hostile_files = st.one_of(
    st.binary(max_size=600),
    st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252", "shift_jis"]).flatmap(
        lambda enc: st.text(min_size=1, max_size=80).map(
            lambda t: _rows({**GOOD, "prompt": t}).decode().encode(enc, errors="replace")
        )
    ),
    st.integers(1, 3000).map(
        lambda depth: (
            _rows({**GOOD, "metadata": json.loads("[" * depth + "]" * depth)})
            if depth < 900
            else ('{"prompt": ' + "[" * depth + "]" * depth + "}\n").encode()
        )
    ),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40).map(
        lambda t: _rows(
            GOOD | {"prompt": f"q\x00{t}"}, GOOD | {"prompt": f"{t}\x07\x1b[31m", "response_a": "=1+1"}
        )
    ),
    st.integers(1, 3).map(
        lambda n: _rows(*[GOOD | {"prompt": f"q{i}"} for i in range(n)], GOOD | {"response_a": "x" * 5000})
    ),
    st.lists(
        st.sampled_from([GOOD, {"prompt": "only"}, {**GOOD, "label": "maybe"}, {**GOOD, "metadata": "x"}]),
        min_size=1,
        max_size=5,
    ).map(lambda rows: _rows(*[r | {"prompt": f"{r['prompt']} {i}"} for i, r in enumerate(rows)])),
)
names = st.sampled_from(
    [
        "p.jsonl",
        "p.csv",
        "p.json",
        "p.parquet",
        "p.jsonl.gz",
        "../../../p.jsonl",
        "ünï cödé.jsonl",
        "p",
        ".jsonl",
    ]
)
UNCAUGHT = re.compile(r"^[A-Z]\w*(Error|Exception): ")  # what jobs.execute writes for an unexpected exception


@pytest.fixture
def importing(db, api, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TANDEM_MAX_FIELD_CHARS = 1000
    return api("admin")  # each example makes a project of its own: an admin sees them all


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=hostile_files,
    name=names,
    fmt=st.sampled_from(["pairs", "pairs", "trl", "mtbench"]),
    skip=st.booleans(),
)
def test_import_api_takes_hostile_files_cleanly(importing, data, name, fmt, skip):
    """Upload, then run the job the upload started (as the worker does): a clear 4xx, or a job
    that imported every row, or one that failed saying why and kept nothing. Never a 500, never
    an uncaught exception in the job, never part of a file without skip_invalid."""
    project = services.create_project(f"hostile-{Project.objects.count()}")
    upload = io.BytesIO(data)
    upload.name = name
    response = importing.post(
        f"/api/projects/{project.pk}/imports/",
        {"file": upload, "format": fmt, "skip_invalid": skip},
        format="multipart",
    )
    assert response.status_code in (202, 400), response.content
    if response.status_code == 400:
        assert response.json() and not Job.objects.filter(project=project).exists()
        return
    job = jobs.execute(response.json()["id"])
    assert not Path(job.params["path"]).exists()  # the upload is deleted, whatever the outcome
    kept = Pair.objects.filter(project=project)
    if job.status == Job.Status.FAILED:
        assert job.error and not UNCAUGHT.match(job.error), job.error
        assert kept.count() == 0 and job.result.get("kept") is False, job.error
        return
    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error)
    assert kept.count() == job.result["created"] > 0
    if not skip:
        assert (
            job.result["invalid"] == 0
            and job.result["created"] + job.result["duplicates"] == job.result["valid"]
        )
    assert not any("\x00" in p.prompt + p.response_a + p.response_b for p in kept)
    assert all(len(p.response_a) <= 1000 for p in kept)


def test_a_gz_upload_that_is_not_gzip_fails_with_a_clear_message(importing):
    """Found by the fuzzer: the job died on an uncaught BadGzipFile (logged as a crash)."""
    project = services.create_project("not-gzip")
    upload = io.BytesIO(_rows(GOOD))
    upload.name = "pairs.jsonl.gz"
    response = importing.post(f"/api/projects/{project.pk}/imports/", {"file": upload}, format="multipart")
    job = jobs.execute(response.json()["id"])
    assert job.status == Job.Status.FAILED
    assert "is not gzip-compressed, yet its name ends in .gz" in job.error
    assert not Pair.objects.filter(project=project).exists()
