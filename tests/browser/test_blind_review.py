"""Blind review in Argilla's own web UI (the local server, Chromium): an annotator of project A
signs in, sees no dataset of project B (not listed, not reachable by its address), and finds no
field, filter or metadata that tells audit items from routed ones."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from django.contrib.auth import get_user_model

from labeling.routing import Reason
from tandem.core import audits, review, roles, routing, services
from tandem.core.models import ArgillaRecord, Pair
from tests.browser.conftest import shot
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db

# Words that would give an item's routing away if the annotator could read them anywhere.
GIVEAWAYS = ("pair_id", "pair-", "blind", "routed", "reasons", *(r.value for r in Reason))


def routed_project(tmp_path, prefix: str, n: int, annotator: str, review_config: dict):
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    project = services.create_project(name, rubric="Prefer the correct answer.")
    project.routing_config = {"review": review_config}
    project.save(update_fields=["routing_config"])
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"prompt": f"{prefix} asks: what is {i} + {i}?", "response_a": str(2 * i), "response_b": "?"}
            )
            + "\n"
            for i in range(n)
        )
    )
    services.import_pairs(project, path, "pairs")
    p_ab = lambda i: 0.9 if i % 2 else 0.55  # noqa: E731 (half confident, half uncertain)
    judge_pairs(Pair.objects.filter(project=project).order_by("id"), p_ab, lambda i: 1 - p_ab(i))
    routing.route_pairs(project, routing.RoutingPolicy(uncertainty=0.1, audit_rate=0.3, seed=2))
    user, _ = get_user_model().objects.get_or_create(username=annotator)
    roles.add_member(user, project, "annotator")
    return project


def sign_in(browser, local, credentials, username: str):
    password = credentials["users"][username]["password"]
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{local.api_url}/sign-in?auth={auth}")
    page.wait_for_url(f"{local.api_url}/")
    return page


def text_of(page) -> str:
    return page.locator("body").inner_text()


def assert_nothing_gives_routing_away(text: str) -> None:
    lowered = text.lower()
    found = [word for word in GIVEAWAYS if word in lowered]
    assert not found, f"the annotator can read {found} on: {text[:300]}"


def test_annotator_of_a_sees_no_dataset_of_b_and_nothing_that_marks_audit_items(browser, argilla, tmp_path):
    local, credentials = argilla
    a = routed_project(tmp_path, "alpha", 16, "annotator1", {"suggestions": "shown"})
    b = routed_project(tmp_path, "beta", 4, "annotator3", {"suggestions": "hidden"})
    client = review.client(local.api_url, credentials["users"]["owner"]["api_key"])
    synced_a, synced_b = review.sync(a, client), review.sync(b, client)
    records = ArgillaRecord.objects.filter(pair__project=a).select_related("pair")
    audit_prompts = {r.pair.prompt for r in records if r.blind}
    assert audit_prompts and len(records) > len(audit_prompts)

    page = sign_in(browser, local, credentials, "annotator1")
    page.get_by_text(synced_a["dataset"]).first.wait_for()
    shot(page, "blind-datasets")
    home = text_of(page)
    assert synced_b["dataset"] not in home and synced_b["workspace"] not in home
    page.goto(f"{local.api_url}/dataset/{synced_b['dataset_id']}/annotation-mode")  # B by its address
    page.wait_for_timeout(3000)
    assert "beta asks" not in text_of(page)

    page.goto(f"{local.api_url}/dataset/{synced_a['dataset_id']}/annotation-mode")
    page.get_by_text("alpha asks").first.wait_for()
    page.get_by_role("button", name="Filters").click()
    page.get_by_text("Suggestions").first.wait_for()
    filters = text_of(page)
    assert "Responses" in filters and "Metadata" not in filters  # nothing to filter items by but these
    shot(page, "blind-filters")
    page.keyboard.press("Escape")
    page.get_by_label("Expand Record Dropdown for Extra Information").click()
    page.get_by_text("View metadata").click()
    page.wait_for_timeout(800)
    shot(page, "blind-record-info")
    assert_nothing_gives_routing_away(text_of(page))
    page.reload()
    page.get_by_text("alpha asks").first.wait_for()

    # Every record of the queue, as the annotator pages through it: the same fields, no words
    # that give routing away, and no suggestion on the audit items AND on some routed items.
    total = int(page.get_by_label("Total Records").inner_text().split()[-1])
    assert total == len(records)
    without_suggestion, seen = set(), set()
    for index in range(1, total + 1):
        page.get_by_label("Current Record").filter(has_text=str(index)).wait_for()
        text = text_of(page)
        prompt = next(line for line in text.splitlines() if line.startswith("alpha asks"))
        assert prompt not in seen
        seen.add(prompt)
        assert_nothing_gives_routing_away(text.replace(prompt, ""))
        assert [t for t in ("Prompt", "Response 1", "Response 2", "Tie") if t not in text] == []
        if "Suggestion" not in text:
            without_suggestion.add(prompt)
        if index < total:
            page.get_by_label("Next (→)").click()
    assert seen == {r.pair.prompt for r in records}
    assert audit_prompts < without_suggestion  # a missing suggestion does not single out audit items
    held_out = {r.pair.prompt for r in records if not r.blind and not r.suggestion_shown}
    assert without_suggestion == audit_prompts | held_out


@pytest.mark.django_db(transaction=True)
def test_the_audit_page_shows_the_anchoring_effect(browser, argilla, live_server, user_factory, tmp_path):
    """An annotator who takes every shown suggestion and contradicts the judge where it is held
    out: the auditor reads a +100-point anchoring effect on the audit page."""
    from labeling.argilla_review import shown_order
    from tests.argilla_local.conftest import Rest

    local, credentials = argilla
    project = routed_project(tmp_path, "anchor", 40, "annotator2", {"suggestions": "shown"})
    client = review.client(local.api_url, credentials["users"]["owner"]["api_key"])
    synced = review.sync(project, client)
    key = review.record_key()
    pair_of = {key.record_id(synced["dataset"], p): p for p in project.pairs.values_list("pk", flat=True)}
    rest = Rest(local.api_url, credentials["users"]["annotator2"]["api_key"])
    found = rest.http.post(
        f"/api/v1/me/datasets/{synced['dataset_id']}/records/search",
        params={"include": "suggestions", "limit": 100},
        json={},
    ).json()["items"]
    for record in (item["record"] for item in found):
        wrong = "2" if shown_order(pair_of[record["external_id"]]).value == "ab" else "1"  # the judge says a
        rest.respond(
            record["id"], "submitted", record["suggestions"][0]["value"] if record["suggestions"] else wrong
        )
    review.sync(project, client)
    audits.create_report(project, judge="j")  # what an engineer's "Create report" stores

    user_factory("auditor", project=project)
    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "auditor-user")
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/projects/{project.pk}/audit/")
    frame = page.frame_locator("#report")
    row = frame.locator("tr", has_text="Anchoring effect (shown - hidden)").first
    row.wait_for()
    assert "+100.0 pts" in row.inner_text()
    assert "agreement with AI" in frame.locator("#anchoring + table").inner_text()
    shot(page, "audit-anchoring")
