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
        f"{base}/routing/",
        f"{base}/datasets/",
        f"{base}/runs/",
        f"{base}/jobs/",
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
    assert (
        'id="start-import"' not in page and 'id="start-judge"' not in page and "Sync with Argilla" not in page
    )
    assert "The project's engineers start it." in page
    for url in ("sync/", "routing/route/", "audit/create/", "datasets/build/", "runs/start/", "settings/"):
        assert client.post(f"/projects/{project.pk}/{url}", {"judge": "j"}).status_code == 403, url
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


def test_dataset_versions_and_runs_on_their_pages(project, user_factory, tmp_path):
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
    page = client.get(f"/projects/{project.pk}/datasets/").content.decode()
    assert version.version[:12] in page and f"/datasets/{version.version}/download.csv" in page
    assert '<canvas data-chart="version-weights"' in page and 'id="version-weights"' in page
    download = client.get(f"/projects/{project.pk}/datasets/{version.version}/download.csv")
    assert download.status_code == 200 and b"prompt,chosen,rejected" in b"".join(download.streaming_content)
    runs = client.get(f"/projects/{project.pk}/runs/").content.decode()
    assert "reward run" in runs and "accuracy 0.750" in runs
    run = client.get(f"/projects/{project.pk}/runs/{TrainingRun.objects.get().pk}/").content.decode()
    # The loss curve is drawn by Chart.js (served by the app) from the metrics per step.
    assert "/static/web/vendor/chart.umd.js" in run and '<canvas data-chart="curve-1"' in run
    assert '{"x": 1, "y": 0.7}, {"x": 2, "y": 0.5}' in run and "<th>accuracy</th>" in run


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
    urls = (f"/projects/{project.pk}/runs/", f"/projects/{project.pk}/runs/{run.pk}/")
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


def test_the_pipeline_page_shows_each_stage_and_what_to_do_next(project, user_factory):
    page = client_for(user_factory, "engineer").get(f"/projects/{project.pk}/").content.decode()
    # 60 pairs imported and judged (by "j"): nothing routed yet, so routing is next.
    assert '<div class="figure" id="pairs">60</div>' in page and "60 / 60" in page
    assert '<li class="stage done" id="stage-judge">' in page
    assert '<li class="stage next" id="stage-route">' in page and "<strong>Next: Route.</strong>" in page
    assert 'href="#start-route"' in page and "/static/web/vendor/htmx.min.js" in page


def test_a_running_job_is_polled_by_htmx_and_its_end_reloads_the_page(project, user_factory):
    client = client_for(user_factory, "auditor")
    job = Job.objects.create(kind="judge", project=project, status=Job.Status.RUNNING)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert (
        f'hx-get="/projects/{project.pk}/jobs/?watch={job.pk}&amp;"' in page
        and 'hx-trigger="every 2s"' in page
    )
    panel = client.get(f"/projects/{project.pk}/jobs/?watch={job.pk}")
    assert "HX-Refresh" not in panel and 'hx-trigger="every 2s"' in panel.content.decode()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    ended = client.get(f"/projects/{project.pk}/jobs/?watch={job.pk}")
    assert ended["HX-Refresh"] == "true" and "hx-trigger" not in ended.content.decode()


def test_an_engineer_creates_a_project_from_the_home_page(user_factory):
    from tandem.core.models import Membership, Project

    engineer = client_for(user_factory, "engineer")
    response = engineer.post("/projects/new/", {"name": "fresh", "description": "d", "rubric": ""})
    project = Project.objects.get(name="fresh")
    assert response.url == f"/projects/{project.pk}/"
    assert Membership.objects.get(project=project).user.username == "engineer-user"
    again = engineer.post("/projects/new/", {"name": "fresh"}, follow=True).content.decode()
    assert "Project not created: name: Project with this Name already exists." in again
    assert client_for(user_factory, "auditor").post("/projects/new/", {"name": "x"}).status_code == 403


def test_settings_are_checked_like_the_api_and_name_the_bad_key(project, user_factory):
    client = client_for(user_factory, "engineer")
    url = f"/projects/{project.pk}/settings/"
    bad = {"judge_config": '{"judges": {"x": {"backend": "openai", "modle": "m"}}}', "routing_config": "{}"}
    page = client.post(url, bad, follow=True).content.decode()
    assert "Settings not saved: judge_config:" in page and "modle" in page
    page = client.post(url, {"routing_config": "{not json"}, follow=True).content.decode()
    assert "routing_config: not valid JSON" in page
    good = {"rubric": "Prefer the correct answer.", "routing_config": '{"policy": {"uncertainty": 0.2}}'}
    assert "Settings saved." in client.post(url, good, follow=True).content.decode()
    project.refresh_from_db()
    assert project.routing_config == {"policy": {"uncertainty": 0.2}} and project.rubric.startswith("Prefer")


def test_routing_page_replays_thresholds_and_routes_with_the_ones_picked(project, user_factory):
    from tandem.core import jobs
    from tandem.core.models import RoutingPolicyVersion

    client = client_for(user_factory, "engineer")
    page = client.get(f"/projects/{project.pk}/routing/").content.decode()
    assert "On 60 labeled pairs, judges j." in page  # the imported labels are the replay's humans
    assert page.count("Route with these") == 12 and '<canvas data-chart="replay-chart"' in page
    form = {"uncertainty": "0.3", "audit_rate": "0.0", "form_key": "k1"}
    client.post(f"/projects/{project.pk}/routing/route/", form)
    job = Job.objects.get(kind="route")
    # Picked settings are not the project's policy (v1, uncertainty 0.1): they get the next number,
    # so the project's own version 1 still routes with its own settings.
    assert job.params["policy"]["uncertainty"] == 0.3 and job.params["policy"]["version"] == 2
    # The same form sent twice (a double click) is one job; another route while it runs is refused.
    client.post(f"/projects/{project.pk}/routing/route/", form)
    assert Job.objects.filter(kind="route").count() == 1
    refused = client.post(f"/projects/{project.pk}/routing/route/", {**form, "form_key": "k2"}, follow=True)
    assert "Routing (policy v2) not started:" in refused.content.decode()
    jobs.execute(job.pk)
    page = client.get(f"/projects/{project.pk}/routing/").content.decode()
    assert "<td>v2</td>" in page and "60 pairs decided" in page
    # Other thresholds are a new version; the earlier one's settings are kept as they were.
    client.post(f"/projects/{project.pk}/routing/route/", {"uncertainty": "0.2", "audit_rate": "0.05"})
    assert Job.objects.filter(kind="route").latest("created_at").params["policy"]["version"] == 3
    assert RoutingPolicyVersion.objects.get(project=project, version=2).policy["uncertainty"] == 0.3
    # The project's own settings picked from the page are its own policy, under its own version.
    Job.objects.filter(kind="route").update(status=Job.Status.SUCCEEDED)
    client.post(f"/projects/{project.pk}/routing/route/", {"uncertainty": "0.1", "audit_rate": "0.05"})
    assert Job.objects.filter(kind="route").latest("created_at").params["policy"]["version"] == 1


def test_engineer_stores_audit_reports_and_the_auditor_reads_them_and_their_trend(project, user_factory):
    from tandem.core import jobs

    engineer = client_for(user_factory, "engineer")
    refused = engineer.post(f"/projects/{project.pk}/audit/create/", {"judge": "nope"}, follow=True)
    assert (
        "Audit not started: judge &#x27;nope&#x27; has no judgments here; judges: j"
        in refused.content.decode()
    )
    for _ in range(2):
        engineer.post(f"/projects/{project.pk}/audit/create/", {"judge": "j"})
        jobs.execute(Job.objects.filter(kind="audit").latest("created_at").pk)
    auditor = client_for(user_factory, "auditor")
    page = auditor.get(f"/projects/{project.pk}/audit/").content.decode()
    assert page.count('<td class="num">60</td>') == 2 and '<canvas data-chart="trend-chart"' in page
    assert "agreement with humans" in page and "Store a new report" not in page
    report = project.audit_reports.first()
    stored = auditor.get(f"/projects/{project.pk}/audit/reports/{report.pk}.json").json()
    assert stored["n_pairs"] == 60 and stored["judge"] == "j"
    pdf = auditor.get(f"/projects/{project.pk}/audit/reports/{report.pk}.pdf")
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    html = auditor.get(f"/projects/{project.pk}/audit/reports/{report.pk}.html")
    assert html["Content-Security-Policy"].startswith("default-src 'none'") and b"<svg" in html.content


def test_datasets_page_previews_without_writing_and_builds_a_version(
    project, user_factory, settings, tmp_path
):
    from tandem.core import jobs
    from tandem.core.models import DatasetVersion

    settings.VAR_DIR = tmp_path / "var"
    client = client_for(user_factory, "engineer")
    page = client.get(f"/projects/{project.pk}/datasets/?preview=1&ai_threshold=0.9").content.decode()
    assert (
        "<strong>60</strong> rows would come out of 60 pairs" in page
        and '<th>human</th><td class="num">60' in page
    )
    assert not DatasetVersion.objects.exists() and not (tmp_path / "var").exists()
    bad = client.get(f"/projects/{project.pk}/datasets/?preview=1&ai_threshold=0.2").content.decode()
    assert "Preview failed: ai_threshold: Ensure this value is greater than or equal to 0.5." in bad
    client.post(f"/projects/{project.pk}/datasets/build/", {"formats": ["jsonl", "csv"]})
    jobs.execute(Job.objects.get(kind="export").pk)
    version = DatasetVersion.objects.get()
    page = client.get(f"/projects/{project.pk}/datasets/").content.decode()
    assert "download.jsonl" in page and "download.csv" in page and version.version[:12] in page


def test_a_training_config_with_a_misspelled_key_is_refused_before_any_job(project, user_factory):
    from tandem.core.models import DatasetVersion

    DatasetVersion.objects.create(project=project, version="ab" * 32, policy={}, n_rows=1, files={})
    client = client_for(user_factory, "engineer")
    form = {"dataset": "ab" * 32, "method": "reward", "config": '{"model": "m", "max_stepz": 3}'}
    page = client.post(f"/projects/{project.pk}/runs/start/", form, follow=True).content.decode()
    assert "Training not started:" in page and "max_stepz" in page and not Job.objects.exists()
    form["config"] = '{"model": "m", "max_steps": 3}'
    client.post(f"/projects/{project.pk}/runs/start/", form)
    config = {"model": "m", "max_steps": 3}
    assert Job.objects.get().params == {"dataset": "ab" * 32, "method": "reward", "config": config}


def test_alerts_show_on_the_pipeline_page_and_engineers_acknowledge_them(project, user_factory):
    from tandem.core.models import Alert

    alert = Alert.objects.create(project=project, kind="slice", message="judge unreliable on math")
    auditor = client_for(user_factory, "auditor")
    assert "judge unreliable on math" in auditor.get(f"/projects/{project.pk}/").content.decode()
    url = f"/projects/{project.pk}/alerts/{alert.pk}/acknowledge/"
    assert auditor.post(url).status_code == 403
    page = client_for(user_factory, "engineer").post(url, follow=True).content.decode()
    assert "Alert acknowledged: judge unreliable on math" in page and "acknowledged by engineer-user" in page
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "engineer-user"


def test_an_engineer_cancels_a_running_training_run_from_its_page(project, user_factory):
    from tandem.core.models import DatasetVersion, TrainingRun

    dataset = DatasetVersion.objects.create(project=project, version="cd" * 32, policy={}, n_rows=1, files={})
    run = TrainingRun.objects.create(
        project=project, dataset=dataset, method="dpo", config={}, output_dir="/x"
    )
    job = Job.objects.create(kind="train", project=project, status=Job.Status.RUNNING, result={"run": run.pk})
    client = client_for(user_factory, "engineer")
    page = client.get(f"/projects/{project.pk}/runs/{run.pk}/").content.decode()
    assert 'id="cancel-run"' in page
    done = client.post(f"/projects/{project.pk}/runs/{run.pk}/cancel/", follow=True).content.decode()
    assert f"Cancel requested for run {run.pk} (job {job.pk}): it stops at its next step." in done
    job.refresh_from_db()
    assert job.cancel_requested
    TrainingRun.objects.filter(pk=run.pk).update(status="cancelled")
    again = client.post(f"/projects/{project.pk}/runs/{run.pk}/cancel/", follow=True).content.decode()
    assert f"Not cancelled: training run {run.pk} is cancelled, not running" in again


def test_while_the_stage_to_do_runs_the_page_says_so_and_names_no_later_step(user_factory):
    fresh = services.create_project("fresh")
    Job.objects.create(kind="import_pairs", project=fresh, status=Job.Status.RUNNING)
    page = client_for(user_factory, "engineer").get(f"/projects/{fresh.pk}/").content.decode()
    assert "<strong>Import is running.</strong>" in page and "Next:" not in page
    assert '<li class="stage running" id="stage-import">' in page
    assert '<li class="stage todo" id="stage-judge">' in page
