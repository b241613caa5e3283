"""The pages in a real browser (Debian's chromium, headless, driven by Playwright).

Screenshots of the main pages go to artifacts/screenshots/ (CI keeps them).
"""

from __future__ import annotations

import json

import pytest
from celery.contrib.testing.worker import start_worker

from tandem.celery import app as celery_app
from tandem.core import audits, services
from tandem.core.models import Pair
from tests.browser.conftest import shot
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(redis_url):
    celery_app.conf.update(broker_url=f"{redis_url}/0", result_backend=None, task_always_eager=False)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def sign_in(browser, live_server, user_factory, role):
    user_factory(role)
    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", f"{role}-user")
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_anonymous_is_sent_to_sign_in(browser, live_server):
    page = browser.new_page()
    page.goto(f"{live_server.url}/projects/1/pairs/")
    assert "/accounts/login/" in page.url
    assert page.locator("input[name=username]").is_visible()


def test_engineer_imports_through_the_page_and_watches_the_job_finish(
    browser, live_server, user_factory, worker, tmp_path
):
    project = services.create_project("browser")
    page = sign_in(browser, live_server, user_factory, "engineer")
    page.click("text=browser")
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "response_a": "a", "response_b": "b"}) + "\n" for i in range(1200)
        )
    )
    page.set_input_files("#start-import input[type=file]", str(path))
    page.click("#start-import button[type=submit]")
    page.wait_for_selector("text=started (job")
    status = page.locator("#jobs tr[data-job] .status").first
    status.wait_for()
    page.wait_for_function(
        "document.querySelector('#jobs tr[data-job] .status').textContent === 'succeeded'", timeout=60_000
    )
    # htmx polls the jobs panel; when the job ends the page reloads and the pipeline shows the pairs.
    page.wait_for_function("document.querySelector('#pairs').textContent.trim() === '1200'", timeout=30_000)
    assert page.locator("#jobs tr[data-job] .progress").first.inner_text().startswith("1200 / 1200")
    assert Pair.objects.filter(project=project).count() == 1200
    shot(page, "project")
    page.click("nav.tabs >> text=Pairs")
    page.wait_for_selector("#pair-table")
    assert "1200 pairs" in page.content()
    shot(page, "pairs")


def test_auditor_reads_the_audit_and_cannot_change_anything(browser, live_server, user_factory, tmp_path):
    project = services.create_project("audited")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"q{i}",
                    "response_a": "a",
                    "response_b": "b",
                    "label": "a" if i % 3 else "b",
                    "annotator": "h",
                }
            )
            + "\n"
            for i in range(30)
        )
    )
    services.import_pairs(project, path, "pairs")
    judge_pairs(Pair.objects.all(), 0.8, judge="smollm2")
    audits.create_report(project, judge="smollm2")
    page = sign_in(browser, live_server, user_factory, "auditor")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    assert page.locator("#start-import").count() == 0 and page.locator("#start-judge").count() == 0
    page.goto(f"{live_server.url}/projects/{project.pk}/audit/")
    frame = page.frame_locator("#report")
    frame.locator("text=Audit of judge smollm2").wait_for()
    assert frame.locator("svg").count() >= 3
    shot(page, "audit")
    for url in (f"/projects/{project.pk}/import/", f"/projects/{project.pk}/judge/", "/api/projects/"):
        response = page.request.post(f"{live_server.url}{url}", headers={"X-CSRFToken": _csrf(page)})
        assert response.status == 403, url


def _csrf(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
