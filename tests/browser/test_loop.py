"""The whole loop in a real browser, with no manage.py call: every stage is started from the
pages and runs as a background job on a Celery worker (a thread here, consuming the default
and gpu queues), against the real services: PostgreSQL, Redis, Argilla (its own web UI, where
two annotators label) and an OpenAI-compatible judge (llama.cpp serving SmolLM2).

Each step's screenshot goes to artifacts/screenshots/loop/ (1280x800 viewport); with
TANDEM_UPDATE_SCREENSHOTS=1 to docs/screenshots/, the README's.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from tandem.celery import app as celery_app
from tandem.core import roles
from tandem.core.models import (
    ArgillaRecord,
    AuditReport,
    DatasetVersion,
    HumanLabel,
    Job,
    Project,
    TrainingRun,
)
from tests.conftest import LLAMA_ALIAS

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("TANDEM_UPDATE_SCREENSHOTS") == "1"
    else ROOT / "artifacts" / "screenshots" / "loop"
)
VIEWPORT = {"width": 1280, "height": 800}
QUESTIONS = [
    ("What is the capital of France?", "Paris.", "Berlin."),
    ("What is 2 + 2?", "4", "5"),
    ("Name a primary colour.", "Red.", "Purple."),
    ("Translate 'thank you' to French.", "Merci.", "Danke."),
    ("What is the boiling point of water at sea level?", "100 degrees Celsius.", "50 degrees Celsius."),
    ("How many legs does a spider have?", "Eight.", "Six."),
    ("What is the largest planet in the solar system?", "Jupiter.", "Mars."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare.", "Charles Dickens."),
    ("What gas do plants take in?", "Carbon dioxide.", "Helium."),
    ("What is the square root of 81?", "9", "7"),
    ("Which ocean is the largest?", "The Pacific Ocean.", "The Arctic Ocean."),
    ("What is the chemical symbol for gold?", "Au", "Ag"),
]
LABELED = 8  # the first pairs come with an expert's label (the import's human labels)


@pytest.fixture
def worker(redis_url):
    """A Celery worker thread on both queues: training goes to `gpu` (CELERY_TASK_ROUTES)."""
    celery_app.conf.update(broker_url=f"{redis_url}/0", result_backend=None, task_always_eager=False)
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=60, queues=["default", "gpu"]
    ):
        yield


@pytest.fixture
def judge_provider(settings, monkeypatch, llama_server):
    """What an operator sets up once: the OpenAI-compatible endpoint and the variable with its key."""
    monkeypatch.setenv("LOCAL_JUDGE_KEY", "sk-local")
    settings.TANDEM_JUDGE_PROVIDERS = json.dumps(
        {
            "local": {
                "base_url": llama_server.base_url,
                "api_key_env": "LOCAL_JUDGE_KEY",
                "models": [LLAMA_ALIAS],
            }
        }
    )


@pytest.fixture
def argilla_settings(settings, argilla):
    local, credentials = argilla
    settings.ARGILLA_API_URL = local.api_url
    settings.ARGILLA_API_KEY = credentials["users"]["owner"]["api_key"]
    return local, credentials


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def sign_in(browser, live_server, username: str):
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-123456")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def finish(page, kind: str, timeout: float = 300) -> Job:
    """Wait for the latest `kind` job to end (the page polls it with htmx and reloads itself
    when it ends), and check that it succeeded."""
    deadline = time.monotonic() + timeout
    job = Job.objects.filter(kind=kind).latest("created_at")
    while job.status in (Job.Status.QUEUED, Job.Status.RUNNING):
        assert time.monotonic() < deadline, f"{kind} job {job.pk} still {job.status} after {timeout} s"
        time.sleep(0.5)
        job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, f"{kind} job {job.pk}: {job.error}"
    page.wait_for_function(
        "() => ![...document.querySelectorAll('#jobs .status')].some("
        "e => ['queued', 'running'].includes(e.textContent.trim()))",
        timeout=30_000,
    )
    page.wait_for_load_state()
    return job


def label_in_argilla(browser, local, credentials, username: str, dataset_id: str, name: str) -> str:
    """An annotator signs in to Argilla's own UI and picks the correct response of the first
    record in their queue (Argilla shows the two responses in a per-record random order).
    Returns the record's prompt."""
    password = credentials["users"][username]["password"]
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{local.api_url}/sign-in?auth={auth}")
    page.wait_for_url(f"{local.api_url}/")
    page.goto(f"{local.api_url}/dataset/{dataset_id}/annotation-mode")
    first = page.locator(".text_field_component").filter(has_text="Response 1")
    first.wait_for(timeout=60_000)
    shown = page.locator(".text_field_component").filter(has_text="Prompt").inner_text()
    prompt, right = next((q, r) for q, r, _ in QUESTIONS if q in shown)
    side = "Response 1" if first.inner_text().strip().endswith(right) else "Response 2"
    page.locator("label").filter(has_text=side).click()
    page.locator("[contenteditable=true]").first.fill(f"{right} is correct")
    shot(page, name)
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Submitted").first.wait_for()
    page.context.close()
    return prompt


def test_the_whole_loop_from_the_pages(
    browser,
    live_server,
    user_factory,
    worker,
    judge_provider,
    argilla_settings,
    tiny_model,
    settings,
    tmp_path,
):
    local, credentials = argilla_settings
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = tmp_path / "media"
    user_factory("engineer", name="engineer", project=[])  # may create projects; owns none yet
    page = sign_in(browser, live_server, "engineer")
    project = create_project(page)
    # The team: an admin adds two annotators and an auditor (the admin pages or the API do).
    for name, role in (("annotator1", "annotator"), ("annotator2", "annotator"), ("auditor", "auditor")):
        roles.add_member(user_factory(None, name=name), project, role)

    import_and_judge(page, tmp_path)
    store_audit(page)  # the first report: the imported labels are its humans
    routed = route(page, project)
    dataset_id = push_to_argilla(page, project, routed)
    prompts = [
        label_in_argilla(browser, local, credentials, name, dataset_id, f"{n:02d}-argilla-{name}")
        for n, name in ((7, "annotator1"), (8, "annotator2"))
    ]
    pull_labels(page, project, routed, prompts)
    store_audit(page)  # the second report, with the annotators' labels: a trend
    assert AuditReport.objects.filter(project=project).count() == 2
    auditor_reads_the_audit(browser, live_server)
    build_and_download(page, project)
    train(page, project, tiny_model)
    page.click("nav.tabs >> text=capitals: pipeline")
    assert page.locator("#stage-training.done").count() == 1
    shot(page, "13-pipeline-after-training")


def create_project(page) -> Project:
    """The engineer creates a project and names its judge (the endpoint the operator defined)."""
    shot(page, "01-home")
    page.fill("#create-project [name=name]", "capitals")
    page.fill("#create-project [name=description]", "Short factual answers: the correct one wins.")
    page.click("#create-project button[type=submit]")
    page.wait_for_selector("text=Project capitals created")
    assert "<strong>Next: Import.</strong>" in page.content()
    page.click("#settings summary")
    judge = {"backend": "openai", "model": LLAMA_ALIAS, "params": {"provider": "local", "timeout_s": 60}}
    page.fill("#settings-form [name=judge_config]", json.dumps({"judges": {"local-server": judge}}))
    page.fill("#settings-form [name=rubric]", "Prefer the factually correct answer.")
    page.click("#settings-form button[type=submit]")
    page.wait_for_selector("text=Settings saved.")
    return Project.objects.get(name="capitals")


def import_and_judge(page, tmp_path) -> None:
    """Upload a small JSONL (the first pairs carry an expert's label), then judge every pair in
    both orders on the OpenAI-compatible server, watching the job run."""
    path = tmp_path / "capitals.jsonl"
    rows = []
    for i, (prompt, right, wrong) in enumerate(QUESTIONS):
        row = {"prompt": prompt, "response_a": right, "response_b": wrong, "category": "facts"}
        if i < LABELED:
            row |= {"label": "a", "annotator": "expert"}
        rows.append(json.dumps(row) + "\n")
    path.write_text("".join(rows))
    page.set_input_files("#start-import input[type=file]", str(path))
    page.click("#start-import button[type=submit]")
    finish(page, "import_pairs")
    page.wait_for_function(f"document.querySelector('#pairs').textContent.trim() === '{len(QUESTIONS)}'")
    assert "<strong>Next: Judge.</strong>" in page.content()
    shot(page, "02-pipeline-imported")
    page.fill("#start-judge [name=judge]", "local-server")
    page.click("#start-judge button[type=submit]")
    page.wait_for_selector("text=Judging started")
    shot(page, "03-judging-live")
    finish(page, "judge")
    page.wait_for_selector("#stage-judge.done")
    assert f"{len(QUESTIONS)} / {len(QUESTIONS)}" in page.locator("#stage-judge").inner_text()
    shot(page, "04-pipeline-judged")


def store_audit(page) -> None:
    page.click("nav.tabs >> text=Audit")
    page.fill("#audit-form [name=judge]", "local-server")
    page.click("#audit-form button[type=submit]")
    finish(page, "audit")


def route(page, project: Project) -> int:
    """The replay of the labeled pairs, then thresholds picked from it; returns how many pairs
    go to humans."""
    page.click("nav.tabs >> text=Routing")
    page.wait_for_selector("#replay")
    assert page.locator("#replay tr").count() == 13  # the header and 12 threshold pairs
    assert page.locator("canvas[data-chart=replay-chart]").is_visible()
    shot(page, "05-routing")
    page.fill("#route-form [name=uncertainty]", "0.5")
    page.fill("#route-form [name=audit_rate]", "0.5")
    page.click("#route-form button[type=submit]")
    finish(page, "route")
    # Thresholds other than the project's policy (v1) are stored under the next version.
    assert "v2" in page.locator("#versions").inner_text()
    routed = project.routing_policies.get().decisions.filter(human=True).count()
    assert routed >= 2
    return routed


def push_to_argilla(page, project: Project, routed: int) -> str:
    """Sync from the pipeline page; returns the Argilla dataset's id."""
    page.click("nav.tabs >> text=capitals: pipeline")
    page.click("#start-review button[type=submit]")
    finish(page, "sync_argilla")
    pushed = ArgillaRecord.objects.filter(pair__project=project)
    assert pushed.count() == routed
    assert f"0 / {routed}" in page.locator("#stage-review").inner_text()
    shot(page, "06-pipeline-pushed")
    return pushed.first().dataset_id


def pull_labels(page, project: Project, routed: int, prompts: list[str]) -> None:
    """The annotators' labels arrive with the next sync, started from the page."""
    page.click("#start-review button[type=submit]")
    finish(page, "sync_argilla")
    labels = HumanLabel.objects.filter(pair__project=project, source="argilla")
    assert sorted(labels.values_list("annotator", flat=True)) == ["annotator1", "annotator2"]
    assert {label.pair.prompt for label in labels} == set(prompts)
    assert {label.choice for label in labels} == {"a"}  # the correct answer is response a
    assert f"2 / {routed}" in page.locator("#stage-review").inner_text()
    shot(page, "09-pipeline-labels-arrived")


def auditor_reads_the_audit(browser, live_server) -> None:
    """The auditor opens the stored report and the trend across reports; no button to change."""
    auditor = sign_in(browser, live_server, "auditor")
    auditor.click("text=capitals")
    assert auditor.locator("#start-import").count() == 0
    auditor.click("nav.tabs >> text=Audit")
    assert auditor.locator("#reports tr").count() == 3  # the header and two reports
    assert auditor.locator("canvas[data-chart=trend-chart]").is_visible()
    auditor.frame_locator("#report").locator("text=Audit of judge local-server").wait_for()
    assert auditor.locator("#audit-form").count() == 0
    shot(auditor, "10-audit-auditor")
    auditor.context.close()


def build_and_download(page, project: Project) -> None:
    """Preview the blend (a dry run), build a dataset version, download its JSONL."""
    page.click("nav.tabs >> text=Datasets")
    page.click("#preview-form button[type=submit]")
    page.wait_for_selector("#preview")
    assert not DatasetVersion.objects.exists()  # a dry run writes nothing
    page.click("#export-form button[type=submit]")
    finish(page, "export")
    version = DatasetVersion.objects.get(project=project)
    page.wait_for_selector(f"text={version.version[:12]}")
    assert page.locator("canvas[data-chart=version-weights]").is_visible()
    shot(page, "11-datasets")
    with page.expect_download() as download:
        page.locator("#datasets a.download", has_text="jsonl").click()
    downloaded = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert len(downloaded) == version.n_rows > 0
    assert {"prompt", "chosen", "rejected", "source", "weight"} <= set(downloaded[0])


def train(page, project: Project, tiny_model: str) -> None:
    """A small reward-model run on the version (on the gpu queue); its curve and evaluation."""
    page.click("nav.tabs >> text=Training")
    page.select_option("#train-form [name=method]", "reward")
    config = {"model": tiny_model, "max_steps": 6, "per_device_train_batch_size": 4, "logging_steps": 1}
    page.fill("#train-form [name=config]", json.dumps(config | {"max_length": 64}, indent=2))
    page.click("#train-form button[type=submit]")
    finish(page, "train", timeout=600)
    run = TrainingRun.objects.get(project=project)
    assert run.status == "succeeded" and len(run.metrics) >= 3, run.error
    page.click(f"text=reward run {run.pk}")
    page.wait_for_selector("canvas[data-chart=curve-1]")
    assert "held_out_rows" in page.locator("#evaluation").inner_text()
    shot(page, "12-training-run")
