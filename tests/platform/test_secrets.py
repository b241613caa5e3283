"""Judge and Argilla API keys never leave the server: not in pages, API responses, job results,
judge provenance, logs (at DEBUG) or exported files. And webhooks without a valid, fresh
signature are refused.

The keys get distinctive values; a judge job runs against a real HTTP endpoint speaking the
OpenAI API (tests/openai_endpoint.py, which refuses any other key: the key is really in use),
a second judge is configured with a key the endpoint rejects (error paths are where keys
leak), an Argilla sync runs against an Argilla that is down, the dataset is exported, and then
every page, API response, log record and exported file is searched for the keys.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import Client

from scripts.services import free_port
from tandem.core import datasets, jobs, review, services
from tandem.core.models import Job, Judgment, Pair
from tests import openai_endpoint
from tests.openai_endpoint import MODEL

# The judge's call cache commits on its own connections: real transactions.
pytestmark = pytest.mark.django_db(transaction=True)

JUDGE_KEY = "sk-judge-SECRET-4c1f9a7e2b"
WRONG_KEY = "sk-wrong-SECRET-d81e0c55aa"
ARGILLA_KEY = "argilla.apikey-SECRET-93b2e6f1"
SECRETS = (JUDGE_KEY, WRONG_KEY, ARGILLA_KEY)
JUDGE = {"backend": "openai", "model": MODEL, "params": {"max_retries": 0, "timeout_s": 5.0}}
LOGGERS = ["", "openai", "httpx", "httpcore", "argilla", "tandem", "labeling", "django", "celery"]


def leaks(text: str | bytes) -> list[str]:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return [s for s in SECRETS if s in text]


@pytest.fixture
def keyed(monkeypatch, settings, fake_openai, tmp_path, caplog):
    monkeypatch.setattr(openai_endpoint, "API_KEY", JUDGE_KEY)  # the endpoint accepts only this key
    monkeypatch.setenv("OPENAI_API_KEY", JUDGE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("TANDEM_WRONG_KEY", WRONG_KEY)
    # A provider whose key variable holds a key the endpoint rejects.
    settings.TANDEM_JUDGE_PROVIDERS = json.dumps(
        {"rejecting": {"base_url": fake_openai.base_url, "api_key_env": "TANDEM_WRONG_KEY"}}
    )
    settings.ARGILLA_API_KEY = ARGILLA_KEY
    settings.ARGILLA_API_URL = f"http://127.0.0.1:{free_port()}"  # an Argilla that is down
    # One try, not six over a minute (the SDK already spends ~10 s retrying a refused connection).
    monkeypatch.setattr(review.with_retries, "__defaults__", ((), None))
    settings.MEDIA_ROOT = tmp_path / "media"
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    project = services.create_project("secrets")
    project.judge_config = {
        "judges": {
            "api": JUDGE,
            "rejected": {**JUDGE, "params": {**JUDGE["params"], "provider": "rejecting"}},
        }
    }
    project.save()
    path = tmp_path / "p.jsonl"
    rows = [
        {
            "prompt": f"question {i}",
            "response_a": "Paris.",
            "response_b": "Lyon.",
            "label": "a",
            "annotator": "h1",
        }
        for i in range(6)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    services.import_pairs(project, path, "pairs")
    return project


def run_job(kind: str, project, **params) -> Job:
    """The job as the worker runs it (jobs.execute), without a broker in between."""
    return jobs.execute(Job.objects.create(kind=kind, project=project, params=params).pk)


def test_keys_never_appear_in_pages_api_logs_or_exports(keyed, api, user_factory, tmp_path, caplog):
    project = keyed
    judged = run_job("judge", project, judge="api")
    assert judged.status == Job.Status.SUCCEEDED, judged.error
    assert Judgment.objects.filter(status="ok").count() == 2 * Pair.objects.count()  # the key worked
    refused = run_job("judge", project, judge="rejected")
    assert refused.status == Job.Status.FAILED and "TANDEM_WRONG_KEY" in refused.error  # names the variable
    synced = run_job("sync_argilla", project)
    assert synced.status == Job.Status.FAILED and synced.error
    export = datasets.export_dataset(project, None, ["jsonl", "csv", "parquet"], tmp_path / "export")
    pair = Pair.objects.first()

    seen: dict[str, str | bytes] = {}
    client = api("admin")
    for url in [
        "/api/",
        "/api/projects/",
        f"/api/projects/{project.pk}/",
        f"/api/projects/{project.pk}/stats/",
        f"/api/projects/{project.pk}/pairs/",
        f"/api/projects/{project.pk}/pairs/{pair.pk}/",  # judge provenance: params, detail
        "/api/jobs/",
        f"/api/jobs/{judged.pk}/",
        f"/api/jobs/{refused.pk}/",
        f"/api/jobs/{synced.pk}/",
        "/api/schema/?format=json",
        "/api/docs/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        seen[url] = response.content
    page = Client()
    page.force_login(user_factory("admin"))
    version = export["version"]
    for url in [
        "/",
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/pairs/",
        f"/projects/{project.pk}/pairs/{pair.pk}/",
        f"/projects/{project.pk}/audit/",
        f"/projects/{project.pk}/datasets/{version}/download.jsonl",
        f"/projects/{project.pk}/datasets/{version}/download.csv",
        "/admin/core/job/",
        f"/admin/core/job/{refused.pk}/change/",
        f"/admin/core/job/{synced.pk}/change/",
        "/admin/core/judgment/",
        f"/admin/core/judgment/{Judgment.objects.first().pk}/change/",
        f"/admin/core/project/{project.pk}/change/",
    ]:
        response = page.get(url)
        assert response.status_code == 200, url
        seen[url] = b"".join(response.streaming_content) if response.streaming else response.content
    for path in Path(tmp_path / "export").rglob("*"):
        if path.is_file():
            seen[str(path)] = path.read_bytes()
    seen["log records"] = "\n".join(f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert len(caplog.records) > 10, "DEBUG logging was not captured"
    assert {where: leaks(text) for where, text in seen.items() if leaks(text)} == {}


def test_a_key_written_into_a_judge_config_is_refused(api):
    """A key pasted into the project's judge config would be served back by every project read
    and stored in each judgment's provenance: the API refuses it and says where keys go."""
    config = {"judges": {"api": {**JUDGE, "params": {"api_key": JUDGE_KEY}}}}
    response = api("engineer").post(
        "/api/projects/", {"name": "inline", "judge_config": config}, format="json"
    )
    assert response.status_code == 400
    message = response.json()["judge_config"][0]
    assert (
        "judges.api.params.api_key" in message and "TANDEM_JUDGE_PROVIDERS" in message and not leaks(message)
    )


def _signed(secret: str, stamp: float, body: str) -> dict:
    from standardwebhooks.webhooks import Webhook

    signature = Webhook(secret).sign("msg_1", datetime.fromtimestamp(stamp, tz=UTC), body)
    return {
        "HTTP_WEBHOOK_ID": "msg_1",
        "HTTP_WEBHOOK_TIMESTAMP": str(int(stamp)),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
OTHER_SECRET = "whsec_" + "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXI="


@pytest.mark.parametrize(
    ("secret", "age_s"),
    [
        pytest.param(None, 0, id="no-signature-headers"),
        pytest.param(OTHER_SECRET, 0, id="signed-with-another-secret"),
        pytest.param(WEBHOOK_SECRET, 3600, id="replayed-an-hour-late"),
    ],
)
def test_webhooks_without_a_valid_fresh_signature_are_refused(settings, secret, age_s, caplog):
    """tests/platform/test_review.py covers a garbage signature and a good one; these are the
    other ways in: no signature at all, the right format with the wrong secret, a replay."""
    # The logger's own level: an in-process Celery worker earlier in the run may have raised the
    # root logger's level, which would drop the warning before caplog sees it.
    caplog.set_level(logging.WARNING, logger="tandem.api.webhooks")
    settings.ARGILLA_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = json.dumps(
        {"type": "response.created", "data": {"record": {"dataset": {"name": "secrets-round1"}}}}
    )
    headers = {} if secret is None else _signed(secret, time.time() - age_s, body)
    response = Client().post("/argilla/webhook/", body, content_type="application/json", **headers)
    assert response.status_code == 401 and response.content == b"bad signature"
    assert not Job.objects.exists()
    assert any("rejected an Argilla webhook" in r.getMessage() for r in caplog.records)
