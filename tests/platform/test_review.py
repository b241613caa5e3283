"""Human review through a real local Argilla: push routed pairs, annotators respond, labels return."""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command
from django.test import Client

from scripts.services import free_port
from tandem.core import review, routing, services
from tandem.core.models import ArgillaRecord, HumanLabel, Job, Pair
from tests.argilla_local.conftest import Rest
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(tmp_path):
    project = services.create_project("rev", rubric="Prefer the correct answer.")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"What is {i} + {i}?",
                    "response_a": str(2 * i),
                    "response_b": str(2 * i + 1),
                    "category": "math",
                }
            )
            + "\n"
            for i in range(12)
        )
    )
    services.import_pairs(project, path, "pairs")
    p_ab = lambda i: 0.9 if i % 2 else 0.55  # noqa: E731 (half confident, half uncertain)
    judge_pairs(Pair.objects.filter(project=project).order_by("id"), p_ab, lambda i: 1 - p_ab(i))
    routing.route_pairs(project, routing.RoutingPolicy(uncertainty=0.1, audit_rate=0.25, seed=1))
    return project


def records_by_pair(local, credentials, name) -> dict[int, dict]:
    owner = Rest(local.api_url, credentials["users"]["owner"]["api_key"])
    dataset = next(d for d in owner.get("/api/v1/me/datasets")["items"] if d["name"] == name)
    items = owner.get(f"/api/v1/datasets/{dataset['id']}/records?include=suggestions&limit=100")["items"]
    return {int(r["metadata"]["pair_id"]): r for r in items}


def test_push_respond_pull_edit_discard_and_resync(argilla, project):
    local, credentials = argilla
    client = review.client(local.api_url, credentials["users"]["owner"]["api_key"])
    first = review.sync(project, client)
    human = set(project.pairs.filter(routing_decisions__human=True).values_list("pk", flat=True))
    assert first["pushed"] == len(human) > 0
    assert (first["pulled"], first["labels_created"]) == (0, 0)
    records = records_by_pair(local, credentials, first["dataset"])
    assert set(records) == human
    blind = set(ArgillaRecord.objects.filter(blind=True).values_list("pair_id", flat=True))
    assert blind and all(not records[p]["suggestions"] for p in blind)  # audit items: no AI suggestion
    assert all(records[p]["suggestions"] for p in human - blind)

    # annotator1 picks the correct answer (2i, response a) on every record, whichever side shows it
    annotator = Rest(local.api_url, credentials["users"]["annotator1"]["api_key"])
    for record in records.values():
        shown_first_is_a = record["metadata"]["shown"] == "ab"
        annotator.respond(record["id"], "submitted", "1" if shown_first_is_a else "2")
    second = review.sync(project, client)
    assert (second["pushed"], second["labels_created"]) == (0, len(human))
    labels = HumanLabel.objects.filter(source="argilla", annotator="annotator1")
    assert set(labels.values_list("choice", flat=True)) == {"a"}

    # an edit updates the one label; a discard removes it; a draft is no label
    edited, discarded = sorted(records)[:2]
    annotator.http.put(
        f"/api/v1/responses/{_response_id(annotator, records[edited]['id'])}",
        json={"status": "submitted", "values": {"preference": {"value": "tie"}}},
    )
    annotator.http.put(
        f"/api/v1/responses/{_response_id(annotator, records[discarded]['id'])}", json={"status": "discarded"}
    )
    other = Rest(local.api_url, credentials["users"]["annotator2"]["api_key"])
    other.respond(records[edited]["id"], "draft", "2")
    third = review.sync(project, client)
    assert (third["labels_updated"], third["labels_removed"], third["labels_created"]) == (1, 1, 0)
    assert HumanLabel.objects.get(pair_id=edited, annotator="annotator1").choice == "tie"
    assert not HumanLabel.objects.filter(pair_id=discarded).exists()
    assert not HumanLabel.objects.filter(annotator="annotator2").exists()
    assert HumanLabel.objects.filter(source="argilla").count() == len(human) - 1
    assert len(records_by_pair(local, credentials, first["dataset"])) == len(human)  # no duplicates


def _response_id(rest: Rest, record_id: str) -> str:
    record = rest.get(f"/api/v1/records/{record_id}?include=responses")
    me = rest.get("/api/v1/me")["id"]
    return next(r["id"] for r in record["responses"] if r["user_id"] == me)


def test_argilla_down_is_reported_and_nothing_is_stored(project):
    client_url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(services.ServiceError, match="run it again when Argilla is back"):
        review.with_retries(lambda: review.ArgillaReview(client_url, "key"), "connect", delays=(0.1,))
    assert not ArgillaRecord.objects.exists()


def test_webhook_signatures(project, settings):
    from standardwebhooks.webhooks import Webhook

    settings.ARGILLA_WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
    body = json.dumps(
        {
            "type": "response.created",
            "timestamp": "2026-11-22T00:00:00Z",
            "data": {"record": {"dataset": {"name": "rev-round1"}}},
        }
    )
    client = Client()
    bad = client.post(
        "/argilla/webhook/",
        body,
        content_type="application/json",
        HTTP_WEBHOOK_ID="msg_1",
        HTTP_WEBHOOK_TIMESTAMP=str(int(time.time())),
        HTTP_WEBHOOK_SIGNATURE="v1,AAAA",
    )
    assert bad.status_code == 401 and not Job.objects.exists()
    stamp = time.time()
    from datetime import UTC, datetime

    signature = Webhook(settings.ARGILLA_WEBHOOK_SECRET).sign(
        "msg_2", datetime.fromtimestamp(stamp, tz=UTC), body
    )
    good = client.post(
        "/argilla/webhook/",
        body,
        content_type="application/json",
        HTTP_WEBHOOK_ID="msg_2",
        HTTP_WEBHOOK_TIMESTAMP=str(int(stamp)),
        HTTP_WEBHOOK_SIGNATURE=signature,
    )
    assert good.status_code == 202
    job = Job.objects.get()
    assert (job.kind, job.project) == ("sync_argilla", project)


def test_sync_command_needs_a_key(project, settings):
    settings.ARGILLA_API_KEY = ""
    with pytest.raises(Exception, match="ARGILLA_API_KEY is not set"):
        call_command("sync_argilla", project="rev")


def test_simulated_annotators_replay_recorded_labels_through_argilla(argilla, tmp_path):
    local, credentials = argilla
    owner_key = credentials["users"]["owner"]["api_key"]
    project = services.create_project("sim")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"q{i}",
                    "response_a": "good",
                    "response_b": f"bad {i}",
                    "label": "a" if i % 3 else "b",
                    "annotator": "expert 1",
                }
            )
            + "\n"
            for i in range(6)
        )
    )
    services.import_pairs(project, path, "pairs")
    judge_pairs(Pair.objects.filter(project=project), 0.8)
    routing.route_pairs(project, routing.RoutingPolicy(audit_rate=0.0))  # every pair flips: all human
    client = review.client(local.api_url, owner_key)
    assert review.sync(project, client)["pushed"] == 6
    result = review.simulate_annotators(project, client, owner_key)
    assert (result["submitted"], result["annotators"]) == (6, 1)
    assert review.simulate_annotators(project, client, owner_key)["submitted"] == 0  # idempotent
    pulled = review.sync(project, client)
    assert pulled["labels_created"] == 6
    simulated = dict(
        HumanLabel.objects.filter(source="argilla", annotator="sim-expert-1").values_list("pair_id", "choice")
    )
    recorded = dict(HumanLabel.objects.filter(source="imported").values_list("pair_id", "choice"))
    assert simulated == recorded  # the shown-order mapping round-trips
