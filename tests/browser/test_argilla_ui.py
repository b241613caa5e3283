"""An annotator in Argilla's own web UI (the local server): their choice becomes a HumanLabel."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.auth import get_user_model

from tandem.core import review, roles, routing, services
from tandem.core.models import HumanLabel, Pair
from tests.browser.conftest import shot
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db


def test_annotator_picks_a_response_in_argilla_and_tandem_gets_the_label(browser, argilla, tmp_path):
    local, credentials = argilla
    project = services.create_project("ui", rubric="Prefer the correct answer.")
    roles.add_member(get_user_model().objects.create(username="annotator2"), project, "annotator")
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "What is 2 + 2?", "response_a": "4", "response_b": "5"}) + "\n")
    services.import_pairs(project, path, "pairs")
    pair = Pair.objects.get(project=project)
    judge_pairs([pair], 0.8)
    routing.route_pairs(project, routing.RoutingPolicy(audit_rate=0.0))  # it flips: human review
    client = review.client(local.api_url, credentials["users"]["owner"]["api_key"])
    synced = review.sync(project, client)
    assert synced["pushed"] == 1

    user = credentials["users"]["annotator2"]
    auth = base64.b64encode(f"annotator2:{user['password']}".encode()).decode()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{local.api_url}/sign-in?auth={auth}")
    page.wait_for_url(f"{local.api_url}/")
    page.goto(f"{local.api_url}/dataset/{synced['dataset_id']}/annotation-mode")
    page.get_by_text("What is 2 + 2?").wait_for()
    # The correct answer "4" is response a; find which side Argilla shows it on.
    first_shown = page.locator(".text_field_component").filter(has_text="Response 1").inner_text()
    correct = "Response 1" if first_shown.strip().endswith("4") else "Response 2"
    page.locator("label").filter(has_text=correct).click()
    page.locator("[contenteditable=true]").first.fill("4 is the sum")
    shot(page, "argilla-annotation")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Submitted").first.wait_for()
    page.wait_for_function("document.body.innerText.includes('1')")

    pulled = review.sync(project, client)
    assert pulled["labels_created"] == 1
    label = HumanLabel.objects.get(pair=pair, source="argilla")
    assert (label.annotator, label.choice, label.rationale) == ("annotator2", "a", "4 is the sum")
