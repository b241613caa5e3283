"""Human review through a real local Argilla: push routed pairs, annotators respond, labels return.

The Argilla server is shared by the whole session and keeps what earlier tests pushed, so each
test names its projects uniquely.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from labeling.argilla_review import shown_order
from scripts.services import free_port
from tandem.core import review, roles, routing, services
from tandem.core.models import ArgillaRecord, HumanLabel, Job, Pair
from tests.argilla_local.conftest import Rest
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db


def make_project(tmp_path, n: int = 12, annotators=("annotator1", "annotator2"), review_config=None):
    """A project of `n` sums, half judged confidently (a) and half unsure, routed with a 25% audit
    sample, whose annotators are `annotators`."""
    name = f"rev-{uuid.uuid4().hex[:6]}"
    project = services.create_project(name, rubric="Prefer the correct answer.")
    if review_config is not None:
        project.routing_config = {"review": review_config}
        project.save(update_fields=["routing_config"])
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"prompt": f"What is {i} + {i}?", "response_a": str(2 * i), "response_b": str(2 * i + 1)}
            )
            + "\n"
            for i in range(n)
        )
    )
    services.import_pairs(project, path, "pairs")
    p_ab = lambda i: 0.9 if i % 2 else 0.55  # noqa: E731 (half confident, half uncertain)
    judge_pairs(Pair.objects.filter(project=project).order_by("id"), p_ab, lambda i: 1 - p_ab(i))
    routing.route_pairs(project, routing.RoutingPolicy(uncertainty=0.1, audit_rate=0.25, seed=1))
    for username in annotators:
        user, _ = get_user_model().objects.get_or_create(username=username)
        roles.add_member(user, project, "annotator")
    return project


def owner_client(argilla):
    local, credentials = argilla
    return review.client(local.api_url, credentials["users"]["owner"]["api_key"])


def record_pairs(project, dataset: str) -> dict[str, int]:
    """Tandem's side of the opaque ids: record external id -> pair id."""
    key = review.record_key()
    return {key.record_id(dataset, p): p for p in project.pairs.values_list("pk", flat=True)}


def annotator_records(argilla, username: str, dataset_id: str) -> list[dict]:
    """The records an annotator gets from Argilla's search (what the UI's queue shows)."""
    local, credentials = argilla
    rest = Rest(local.api_url, credentials["users"][username]["api_key"])
    answer = rest.http.post(
        f"/api/v1/me/datasets/{dataset_id}/records/search",
        params={"include": "suggestions", "limit": 100},
        json={},
    )
    assert answer.status_code == 200, answer.text
    return [item["record"] for item in answer.json()["items"]]


def test_push_respond_pull_edit_discard_and_resync(argilla, tmp_path):
    local, credentials = argilla
    project = make_project(tmp_path)
    client = owner_client(argilla)
    first = review.sync(project, client)
    human = set(project.pairs.filter(routing_decisions__human=True).values_list("pk", flat=True))
    assert first["pushed"] == len(human) > 0 and first["note"] == ""
    assert (first["pulled"], first["labels_created"]) == (0, 0)
    assert first["workspace"] == f"tandem-{project.name}"
    pair_of = record_pairs(project, first["dataset"])
    records = {
        pair_of[r["external_id"]]: r for r in annotator_records(argilla, "annotator1", first["dataset_id"])
    }
    assert set(records) == human
    assert all(not r["suggestions"] for r in records.values())  # suggestions "hidden": the default

    # annotator1 picks the correct answer (2i, response a) on every record, whichever side shows it
    annotator = Rest(local.api_url, credentials["users"]["annotator1"]["api_key"])
    for pair_id, record in records.items():
        annotator.respond(record["id"], "submitted", "1" if shown_order(pair_id).value == "ab" else "2")
    second = review.sync(project, client)
    assert (second["pushed"], second["labels_created"]) == (0, len(human))
    assert (
        second["note"]
        == f"all {len(human)} pairs routing policy v1 sent to humans are already in {first['dataset']}"
    )
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
    assert len(annotator_records(argilla, "annotator1", first["dataset_id"])) == len(human)  # no duplicates


def _response_id(rest: Rest, record_id: str) -> str:
    record = rest.get(f"/api/v1/records/{record_id}?include=responses")
    me = rest.get("/api/v1/me")["id"]
    return next(r["id"] for r in record["responses"] if r["user_id"] == me)


def test_an_annotator_sees_only_their_projects_and_nothing_that_marks_audit_items(argilla, tmp_path):
    """Through Argilla's API with the annotator's own key: B's datasets are not there; A's
    records have opaque ids, no metadata and no filter, and the suggestion is missing on routed
    items too (the hold-out), so its absence does not mark the audit items."""
    local, credentials = argilla
    a = make_project(tmp_path, n=40, annotators=("annotator1",), review_config={"suggestions": "shown"})
    b = make_project(tmp_path, n=6, annotators=("annotator2",))
    client = owner_client(argilla)
    synced_a, synced_b = review.sync(a, client), review.sync(b, client)
    rest = Rest(local.api_url, credentials["users"]["annotator1"]["api_key"])

    visible = {d["name"] for d in rest.get("/api/v1/me/datasets")["items"]}
    assert synced_a["dataset"] in visible and synced_b["dataset"] not in visible
    assert rest.http.get(f"/api/v1/datasets/{synced_b['dataset_id']}").status_code == 403
    assert (
        rest.http.post(f"/api/v1/me/datasets/{synced_b['dataset_id']}/records/search", json={}).status_code
        == 403
    )
    assert {w["name"] for w in rest.get("/api/v1/me/workspaces")["items"]} >= {synced_a["workspace"]}
    assert synced_b["workspace"] not in {w["name"] for w in rest.get("/api/v1/me/workspaces")["items"]}

    assert rest.get(f"/api/v1/me/datasets/{synced_a['dataset_id']}/metadata-properties")["items"] == []
    records = annotator_records(argilla, "annotator1", synced_a["dataset_id"])
    audit = set(ArgillaRecord.objects.filter(pair__project=a, blind=True).values_list("pair_id", flat=True))
    pair_of = record_pairs(a, synced_a["dataset"])
    assert audit and len(records) > len(audit)
    for record in records:
        assert re.fullmatch(r"r[0-9a-f]{24}", record["external_id"])  # no pair id, no audit flag
        assert not record["metadata"] and not rest.get(f"/api/v1/records/{record['id']}")["metadata"]
        assert set(record["fields"]) == {"prompt", "response1", "response2"}
    without = {pair_of[r["external_id"]] for r in records if not r["suggestions"]}
    assert audit < without  # every audit item lacks it, and so do held-out routed items
    assert all(s["agent"] == "j" for r in records for s in r["suggestions"])
    shown = set(
        ArgillaRecord.objects.filter(pair__project=a, suggestion_shown=True).values_list("pair_id", flat=True)
    )
    assert shown == {pair_of[r["external_id"]] for r in records if r["suggestions"]}


def test_rounds_follow_the_routing_policy_version_used_and_an_empty_push_says_why(argilla, tmp_path):
    project = make_project(tmp_path, n=6)
    client = owner_client(argilla)
    first = review.sync(project, client)
    assert first["dataset"] == f"{project.name}-round1" and first["pushed"] > 0

    # `route --policy other.json`: a new version; sync pushes its human pairs to round 2
    other = routing.RoutingPolicy(version=2, uncertainty=0.5, audit_rate=0.0, seed=1)
    routing.route_pairs(project, other)
    second = review.sync(project, client)
    routed = project.pairs.filter(routing_decisions__policy__version=2, routing_decisions__human=True).count()
    assert (second["dataset"], second["pushed"]) == (f"{project.name}-round2", routed)

    # a version that sends nobody to humans: the sync says so instead of pushing nothing silently
    routing.route_pairs(
        project, routing.RoutingPolicy(version=3, uncertainty=0.0, audit_rate=0.0, route_flips=False)
    )
    third = review.sync(project, client)
    assert third["pushed"] == 0
    assert third["note"] == "routing policy v3 sent no pair to humans (6 decided AI only)"
    out = _command_output(project.name, argilla)
    assert (
        f"{project.name}-round3 in workspace tandem-{project.name}: pushed nothing (routing policy v3" in out
    )


def _command_output(name: str, argilla) -> str:
    import io

    from django.test import override_settings

    local, credentials = argilla
    out = io.StringIO()
    with override_settings(
        ARGILLA_API_URL=local.api_url, ARGILLA_API_KEY=credentials["users"]["owner"]["api_key"]
    ):
        call_command("sync_argilla", project=name, stdout=out)
    return out.getvalue()


def test_workspace_members_follow_the_projects_annotators(argilla, tmp_path):
    local, credentials = argilla
    project = make_project(tmp_path, n=4, annotators=("annotator1", "annotator2", "nobody-in-argilla"))
    client = owner_client(argilla)
    first = review.sync(project, client)
    assert first["annotators"]["added"] == ["annotator1", "annotator2"]
    assert first["missing_annotators"] == ["nobody-in-argilla"]
    roles.add_member(get_user_model().objects.get(username="annotator2"), project, "auditor")  # leaves review
    second = review.sync(project, client)
    assert second["annotators"]["removed"] == ["annotator2"]
    gone = Rest(local.api_url, credentials["users"]["annotator2"]["api_key"])
    assert first["dataset"] not in {d["name"] for d in gone.get("/api/v1/me/datasets")["items"]}


def test_argilla_down_is_reported_and_nothing_is_stored(tmp_path):
    client_url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(services.ServiceError, match="run it again when Argilla is back"):
        review.with_retries(lambda: review.ArgillaReview(client_url, "key"), "connect", delays=(0.1,))
    assert not ArgillaRecord.objects.exists()


def _signed_post(settings, body: str, msg: str, signature: str | None = None):
    from standardwebhooks.webhooks import Webhook

    stamp = time.time()
    signature = signature or Webhook(settings.ARGILLA_WEBHOOK_SECRET).sign(
        msg, datetime.fromtimestamp(stamp, tz=UTC), body
    )
    return Client().post(
        "/argilla/webhook/",
        body,
        content_type="application/json",
        HTTP_WEBHOOK_ID=msg,
        HTTP_WEBHOOK_TIMESTAMP=str(int(stamp)),
        HTTP_WEBHOOK_SIGNATURE=signature,
    )


def test_webhook_signatures_and_the_project_from_the_pushed_dataset_id(tmp_path, settings):
    settings.ARGILLA_WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
    project = services.create_project("hooked")
    decoy = services.create_project("hook")  # a name inside the other's: no substring match any more
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "q", "response_a": "x", "response_b": "y"}) + "\n")
    services.import_pairs(project, path, "pairs")
    ArgillaRecord.objects.create(pair=project.pairs.get(), dataset="hooked-round1", dataset_id="ds-1234")

    def event(dataset_id: str, name: str) -> str:
        dataset = {"id": dataset_id, "name": name}
        return json.dumps({"type": "response.created", "data": {"record": {"dataset": dataset}}})

    assert _signed_post(settings, event("ds-1234", "hooked-round1"), "m1", "v1,AAAA").status_code == 401
    assert not Job.objects.exists()
    assert _signed_post(settings, event("ds-1234", "hook-round1"), "m2").status_code == 202
    assert [(j.kind, j.project) for j in Job.objects.all()] == [("sync_argilla", project)]
    answer = _signed_post(settings, event("ds-unknown", "hooked-round1"), "m3")
    assert answer.status_code == 202 and answer.json()["started"] == []
    assert not Job.objects.filter(project=decoy).exists() and Job.objects.count() == 1


def test_sync_command_needs_a_key(settings, tmp_path):
    project = services.create_project("keyless")
    settings.ARGILLA_API_KEY = ""
    with pytest.raises(Exception, match="ARGILLA_API_KEY is not set"):
        call_command("sync_argilla", project=project.name)


def test_a_bad_review_config_is_named(argilla, tmp_path):
    project = make_project(tmp_path, n=2, review_config={"suggestion": "shown"})
    named = r"routing_config\.review\.suggestion: unknown key \(did you mean 'suggestions'\?\)"
    with pytest.raises(services.ServiceError, match=named):
        review.sync(project, owner_client(argilla))


def test_anchoring_reaches_the_audit_download(argilla, tmp_path, client, admin_user):
    """An annotator who takes the shown suggestion and, where it is hidden, picks the response
    the judge did not: the audit JSON and HTML carry agreement with the AI in both groups and
    the gap."""
    local, credentials = argilla
    project = make_project(tmp_path, n=40, annotators=("annotator3",), review_config={"suggestions": "shown"})
    synced = review.sync(project, owner_client(argilla))
    pair_of = record_pairs(project, synced["dataset"])
    rest = Rest(local.api_url, credentials["users"]["annotator3"]["api_key"])
    for record in annotator_records(argilla, "annotator3", synced["dataset_id"]):
        pair_id = pair_of[record["external_id"]]
        wrong = "2" if shown_order(pair_id).value == "ab" else "1"  # the judge picks response a
        rest.respond(
            record["id"], "submitted", record["suggestions"][0]["value"] if record["suggestions"] else wrong
        )
    review.sync(project, owner_client(argilla))
    client.force_login(admin_user)
    report = client.get(f"/projects/{project.pk}/audit/report.json").json()
    anchoring = report["anchoring"]
    assert anchoring["shown"]["agreement"] == 1.0 and anchoring["shown"]["n_votes"] > 0
    assert anchoring["hidden"]["n_votes"] > 0 and anchoring["hidden"]["agreement"] == 0.0
    assert anchoring["difference"] == 1.0
    page = client.get(f"/projects/{project.pk}/audit/report.html").content.decode()
    assert "<h2>Anchoring</h2>" in page


def test_simulated_annotators_replay_recorded_labels_through_argilla(argilla, tmp_path):
    local, credentials = argilla
    owner_key = credentials["users"]["owner"]["api_key"]
    project = services.create_project(f"sim-{uuid.uuid4().hex[:6]}")
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


def test_a_push_in_chunks_sends_each_routed_pair_once_and_resumes_after_a_stop(
    argilla, tmp_path, monkeypatch
):
    """A round larger than one chunk goes out chunk by chunk (pair ids ascending); a push stopped
    after two chunks resumes with the rest, and Argilla ends with one record per routed pair."""
    monkeypatch.setattr(review, "PUSH_CHUNK_PAIRS", 3)
    project = make_project(tmp_path, n=40, review_config={"suggestions": "shown"})
    human = set(project.pairs.filter(routing_decisions__human=True).values_list("pk", flat=True))
    client = owner_client(argilla)
    real_push, calls = client.push, []

    def push_then_stop(dataset, items, batch_size):
        if len(calls) == 2:
            raise RuntimeError("worker stopped")
        calls.append([item.pair_id for item in items])
        return real_push(dataset, items, batch_size)

    monkeypatch.setattr(client, "push", push_then_stop)
    with pytest.raises(RuntimeError, match="worker stopped"):
        review.sync(project, client)
    assert [len(c) for c in calls] == [3, 3] and max(calls[0]) < min(calls[1])
    assert set(ArgillaRecord.objects.filter(pair__project=project).values_list("pair_id", flat=True)) == {
        *calls[0],
        *calls[1],
    }

    monkeypatch.setattr(client, "push", real_push)
    steps = []
    second = review.sync(project, client, progress=lambda done, total: steps.append((done, total)))
    left = len(human) - 6
    assert second["pushed"] == left and steps[-1] == (left, left) and len(steps) == -(-left // 3)
    records = annotator_records(argilla, "annotator1", second["dataset_id"])
    pair_of = record_pairs(project, second["dataset"])
    assert sorted(pair_of[r["external_id"]] for r in records) == sorted(human)
    shown = set(
        ArgillaRecord.objects.filter(pair__project=project, suggestion_shown=True).values_list(
            "pair_id", flat=True
        )
    )
    assert shown and shown == {pair_of[r["external_id"]] for r in records if r["suggestions"]}
