"""The pages as each role sees them, and how many queries the list pages cost."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tandem.core import services
from tandem.core.models import Job, Pair
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(tmp_path):
    project = services.create_project("web")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"q{i}",
                    "response_a": "a",
                    "response_b": "b",
                    "category": "math",
                    "label": "a",
                    "annotator": "h",
                }
            )
            + "\n"
            for i in range(60)
        )
    )
    services.import_pairs(project, path, "pairs")
    judge_pairs(Pair.objects.all(), 0.8)
    return project


def client_for(user_factory, role):
    client = Client()
    if role:
        client.force_login(user_factory(role))
    return client


def pages(project):
    pair = Pair.objects.first()
    base = f"/projects/{project.pk}"
    return [
        "/",
        f"{base}/",
        f"{base}/pairs/",
        f"{base}/pairs/{pair.pk}/",
        f"{base}/audit/",
        f"{base}/audit/report.json",
        f"{base}/audit/report.html",
    ]


def test_anonymous_is_sent_to_sign_in(project):
    for url in pages(project):
        response = Client().get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/"), url


@pytest.mark.parametrize(("role", "status"), [("annotator", 403), ("auditor", 200), ("engineer", 200)])
def test_project_pages_by_role(project, user_factory, role, status):
    client = client_for(user_factory, role)
    for url in pages(project)[1:]:
        assert client.get(url).status_code == status, url
    assert client.get("/").status_code == 200


def test_auditor_cannot_start_jobs_even_by_typing_urls(project, user_factory):
    client = client_for(user_factory, "auditor")
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "import-form" not in page and "judge-form" not in page
    assert client.post(f"/projects/{project.pk}/judge/", {"judge": "smollm2"}).status_code == 403
    assert client.post(f"/projects/{project.pk}/import/", {}).status_code == 403
    assert not Job.objects.exists()


def test_engineer_uploads_a_file_from_the_page_and_sees_the_job(project, user_factory, tmp_path):
    client = client_for(user_factory, "engineer")
    path = tmp_path / "new.jsonl"
    path.write_text(json.dumps({"prompt": "new", "response_a": "x", "response_b": "y"}) + "\n")
    with path.open("rb") as fh:
        response = client.post(f"/projects/{project.pk}/import/", {"file": fh, "format": "pairs"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert (job.kind, job.params["format"]) == ("import_pairs", "pairs")
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert f'data-job="{job.pk}"' in page and "started (job" in page


def test_pair_list_costs_the_same_queries_for_50_or_10_rows(project, user_factory):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(user_factory, "auditor")
    client.get(f"/projects/{project.pk}/pairs/")  # warm the session and permission caches
    counts = []
    for page_number, rows in ((1, 50), (2, 10)):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(f"/projects/{project.pk}/pairs/?page={page_number}").content.decode()
        assert page.count(f'<tr><td><a href="/projects/{project.pk}/pairs/') == rows
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8
    filtered = client.get(f"/projects/{project.pk}/pairs/?disagree=1&judge=j").content.decode()
    assert "60 pairs" in filtered  # every pair: the judge says b in order ba, humans say a


def test_pair_page_shows_both_orders_and_the_label(project, user_factory):
    pair = Pair.objects.first()
    page = (
        client_for(user_factory, "auditor").get(f"/projects/{project.pk}/pairs/{pair.pk}/").content.decode()
    )
    assert "A shown first" in page and "B shown first" in page and "0.800" in page
    assert "<td>h</td><td>a</td><td>imported</td>" in page


def test_audit_downloads(project, user_factory):
    client = client_for(user_factory, "auditor")
    report = client.get(f"/projects/{project.pk}/audit/report.json?judge=j").json()
    assert report["n_pairs"] == 60 and report["position"]["first_rate"] == 1.0
    html = client.get(f"/projects/{project.pk}/audit/report.html?judge=j&download=1")
    assert html["Content-Disposition"].startswith("attachment") and b"<svg" in html.content
    assert client.get(f"/projects/{project.pk}/audit/report.json?judge=nope").status_code == 404


def test_audit_of_data_the_audit_cannot_read_says_why(project, user_factory):
    from tandem.core.models import Judgment

    Judgment.objects.filter(pk=Judgment.objects.first().pk).update(status="timeout")  # not a status
    response = client_for(user_factory, "auditor").get(f"/projects/{project.pk}/audit/report.json?judge=j")
    assert response.status_code == 400
    assert "column 'status' has values ['timeout']" in response.content.decode()


def test_dataset_versions_and_runs_on_the_project_page(project, user_factory, tmp_path):
    from tandem.core import datasets
    from tandem.core.models import DatasetVersion, TrainingRun

    datasets.export_dataset(project, None, ["jsonl", "csv"], tmp_path)
    version = DatasetVersion.objects.get()
    TrainingRun.objects.create(
        project=project,
        dataset=version,
        method="reward",
        config={},
        status="succeeded",
        metrics=[{"step": 1, "loss": 0.7}, {"step": 2, "loss": 0.5}],
        final_eval={"accuracy": 0.75},
        output_dir=str(tmp_path),
    )
    client = client_for(user_factory, "auditor")
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert version.version[:12] in page and "reward" in page
    download = client.get(f"/projects/{project.pk}/datasets/{version.version}/download.csv")
    assert download.status_code == 200 and b"prompt,chosen,rejected" in b"".join(download.streaming_content)
    run = client.get(f"/projects/{project.pk}/runs/{TrainingRun.objects.get().pk}/").content.decode()
    assert "<svg" in run and "accuracy" in run


def test_annotators_get_their_argilla_link_and_progress_and_nothing_else(project, user_factory, settings):
    from tandem.core.models import HumanLabel

    settings.ARGILLA_API_URL = "http://argilla.example:6900"
    annotator = user_factory("annotator", name="annotator1")
    HumanLabel.objects.create(pair=Pair.objects.first(), annotator="annotator1", choice="a", source="argilla")
    client = Client()
    client.force_login(annotator)
    page = client.get("/").content.decode()
    assert 'href="http://argilla.example:6900"' in page
    assert "<td>web</td><td>1</td>" in page
    assert client.get(f"/projects/{project.pk}/").status_code == 403


def test_an_upload_over_the_limits_from_the_page_is_refused_and_says_why(
    project, user_factory, settings, tmp_path
):
    settings.TANDEM_MAX_UPLOAD_MB = 0.25
    settings.TANDEM_MAX_LINE_KB = 8
    settings.MEDIA_ROOT = tmp_path / "media"
    client = client_for(user_factory, "engineer")
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 600_000)
    with big.open("rb") as fh:
        refused = client.post(f"/projects/{project.pk}/import/", {"file": fh, "format": "pairs"})
    assert refused.status_code == 413
    assert "over the limit of 0.25 MB (TANDEM_MAX_UPLOAD_MB)" in refused.content.decode()
    long = tmp_path / "long.jsonl"
    long.write_text(json.dumps({"prompt": "q", "response_a": "a" * 20_000, "response_b": "b"}) + "\n")
    with long.open("rb") as fh:
        response = client.post(
            f"/projects/{project.pk}/import/", {"file": fh, "format": "pairs"}, follow=True
        )
    assert "Import not started: long.jsonl, line 1: the line is longer than 8 KB" in response.content.decode()
    assert not Job.objects.exists() and not any((tmp_path / "media").rglob("*.jsonl"))


def test_the_project_page_lists_its_members_and_admins_get_the_link_to_manage_them(project, user_factory):
    user_factory("auditor")
    engineer_page = client_for(user_factory, "engineer").get(f"/projects/{project.pk}/").content.decode()
    assert "<td>auditor-user</td><td>auditor</td>" in engineer_page
    assert "<td>engineer-user</td><td>engineer</td>" in engineer_page
    assert "Manage members" not in engineer_page
    admin_page = client_for(user_factory, "admin").get(f"/projects/{project.pk}/").content.decode()
    assert f'href="/admin/core/project/{project.pk}/change/">Manage members' in admin_page


def test_a_failed_training_run_shows_its_reason_and_folder_to_engineers_only(project, user_factory):
    from tandem.core.models import DatasetVersion, TrainingRun

    dataset = DatasetVersion.objects.create(project=project, version="ef" * 32, policy={}, n_rows=1, files={})
    run = TrainingRun.objects.create(
        project=project,
        dataset=dataset,
        method="dpo",
        config={},
        status="failed",
        error="OSError: [Errno 28] No space left on device: '/srv/tandem/runs/7/ckpt'",
        output_dir="/srv/tandem/runs/7",
    )
    urls = (f"/projects/{project.pk}/", f"/projects/{project.pk}/runs/{run.pk}/")
    for role, shown in (("engineer", True), ("auditor", False)):
        client = client_for(user_factory, role)
        for url in urls:
            page = client.get(url).content.decode()
            assert ("/srv/tandem/runs/7" in page) is shown, (role, url)
            assert shown or "engineers see the reason" in page, url


def test_an_admin_adds_a_member_on_the_projects_admin_page(project, user_factory):
    from tandem.core.models import Membership

    newcomer = user_factory(None, name="newcomer")
    admin = client_for(user_factory, "admin")
    url = f"/admin/core/project/{project.pk}/change/"
    assert "Memberships" in admin.get(url).content.decode()
    form = {
        "name": project.name,
        "description": "",
        "rubric": "",
        "judge_config": "{}",
        "routing_config": "{}",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-user": str(newcomer.pk),
        "memberships-0-role": "auditor",
        "memberships-0-project": str(project.pk),
    }
    response = admin.post(url, form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert Membership.objects.get(user=newcomer).role == "auditor"
    page = Client()
    page.force_login(newcomer)
    assert page.get(f"/projects/{project.pk}/").status_code == 200
