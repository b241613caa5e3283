"""`manage.py route` on judged pairs: decisions stored once per policy version."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tandem.core import routing, selectors, services
from tandem.core.models import RoutingDecision
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db


def judged_project(tmp_path, n=40):
    project = services.create_project("r")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"q{i}",
                    "response_a": "a",
                    "response_b": "b",
                    "category": "math" if i % 4 == 0 else "chat",
                }
            )
            + "\n"
            for i in range(n)
        )
    )
    services.import_pairs(project, path, "pairs")
    p_ab = lambda i: [0.95, 0.55, 0.9][i % 3]  # noqa: E731 (confident, uncertain, confident)
    # every fifth verdict flips under the swap: the same p for the first-shown in both orders
    judge_pairs(project.pairs.order_by("id"), p_ab, lambda i: p_ab(i) if i % 5 == 0 else 1 - p_ab(i))
    return project


def test_route_stores_decisions_with_reasons_and_is_idempotent(tmp_path, capsys):
    project = judged_project(tmp_path)
    project.routing_config = {"policy": {"uncertainty": 0.1, "audit_rate": 0.1, "high_stakes": ["math"]}}
    project.save()
    call_command("route", project="r", json=True)
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 40 and result["human"] + result["ai_only"] == 40
    assert result["routed_by_reason"]["high_stakes"] == 10
    assert result["routed_by_reason"]["flip"] == 8
    assert RoutingDecision.objects.count() == 40
    blind = RoutingDecision.objects.filter(blind=True)
    assert blind.count() == result["routed_by_reason"]["audit"] and all("audit" in d.reasons for d in blind)
    # The project page tallies the stored decisions (one SQL aggregate) to the same figures.
    counts = selectors.routing_counts(project)
    assert counts["by_reason"] == result["routed_by_reason"]
    assert (counts["decided"], counts["human"]) == (40, result["human"])
    call_command("route", project="r", json=True)
    again = json.loads(capsys.readouterr().out)
    assert (again["pairs"], again["already_decided"]) == (0, 40)
    assert RoutingDecision.objects.count() == 40


def test_a_changed_policy_needs_a_new_version(tmp_path):
    project = judged_project(tmp_path, 8)
    routing.route_pairs(project, routing.project_policy(project))
    changed = routing.RoutingPolicy(audit_rate=0.5)
    with pytest.raises(services.ServiceError, match="new 'version'"):
        routing.route_pairs(project, changed)
    routing.route_pairs(project, routing.RoutingPolicy(audit_rate=0.5, version=2))
    assert RoutingDecision.objects.count() == 16
    with pytest.raises(CommandError, match=r"no routing policy version 7; versions: \[1, 2\]"):
        call_command("route", project=project.name, policy_version=7)
    call_command(
        "route", project=project.name, policy_version=1
    )  # re-applied as stored: nothing left to decide
    assert RoutingDecision.objects.count() == 16


def test_route_needs_judgments_first():
    services.create_project("empty")
    with pytest.raises(CommandError, match="has no judgments yet: judge its pairs first"):
        call_command("route", project="empty")


def test_replay_on_mtbench_routes_flips_better_than_random(shared_data, capsys):
    project = services.create_project("mt")
    path = shared_data / "mtbench/mtbench_human_vs_gpt4pair.jsonl.gz"
    services.import_pairs(project, path, "mtbench", skip_invalid=True)  # 8 rows repeat response_a
    call_command("route", project="mt", replay=True, json=True)
    rows = json.loads(capsys.readouterr().out)
    flips_only = next(r for r in rows if r["uncertainty"] == 0.0 and r["audit_rate"] == 0.0)
    # exactly GPT-4's "tie (inconsistent)" items go to humans: its flips, by the one verdict rule
    flipped = project.pairs.filter(judgments__detail__orders_disagreed=True).distinct().count()
    assert flipped > 180
    assert flips_only["human_share"] == pytest.approx(flipped / project.pairs.count(), abs=1e-6)
    assert flips_only["errors_removed"] > 1.5 * flips_only["random_errors_removed"]


def test_escalation_from_the_blind_audit_raises_an_alert_on_page_and_api(tmp_path, api):
    from tandem.core.models import Alert, HumanLabel

    project = judged_project(tmp_path, 40)
    routing.route_pairs(project, routing.RoutingPolicy(version=1, audit_rate=0.25, uncertainty=0.0))
    blind = RoutingDecision.objects.filter(blind=True)
    n = blind.count()
    assert 9 <= n <= 11  # a quarter of each category, stratified
    # the humans on the audit sample disagree with every verdict the judge gave
    for d in blind.select_related("pair"):
        ab = d.pair.judgments.get(order="ab")
        HumanLabel.objects.create(
            pair=d.pair, annotator="h", choice="b" if ab.p_first > 0.5 else "a", source="argilla"
        )
    chat_n = blind.filter(pair__category="chat").count()
    math_n = blind.filter(pair__category="math").count()
    result = routing.route_pairs(
        project, routing.RoutingPolicy(version=2, audit_rate=0.0, escalation_bar=0.6, min_audited=6)
    )
    # "chat" (30 pairs, 7-8 audited, all wrong) is escalated wholesale; "math" (10 pairs, 2-3
    # audited) cannot be judged on so few items: it is not escalated but gets more audit items.
    assert result["routed_by_reason"]["escalated"] == 30
    assert result["alerts"] == [Alert.objects.get().message]
    from labeling.routing import wilson

    high = wilson(0, chat_n)[1]
    assert f"on slice 'chat': audited accuracy 0% [0%, {high:.0%}] on {chat_n} items" in result["alerts"][0]
    assert result["routed_by_reason"]["audit"] == 6 - math_n
    response = api("auditor").get(f"/api/projects/{project.pk}/stats/")
    assert response.status_code == 200, response.content
    stats = response.json()
    assert stats["alerts"] == result["alerts"]


def test_routing_uses_the_calibrated_probability_when_an_audit_fitted_one(tmp_path):
    from tandem.core.models import AuditReport

    project = judged_project(tmp_path, 12)
    policy = routing.RoutingPolicy(audit_rate=0.0, uncertainty=0.3, route_flips=False)
    raw = routing.route_pairs(project, policy)
    # raw p(a) is 0.95, 0.55 or 0.9, and 0.5 where the verdict flipped (every fifth pair): the 4
    # pairs at 0.55 and the 2 other flipped ones are within 0.3 of 0.5
    assert raw["routed_by_reason"] == {"uncertain": 6}
    AuditReport.objects.create(
        project=project,
        judge="j",
        report={},
        calibration={"method": "temperature", "scale": 0.2, "bias": 0.0},
    )
    calibrated = routing.route_pairs(
        project, routing.RoutingPolicy(version=2, audit_rate=0.0, uncertainty=0.3, route_flips=False)
    )
    assert calibrated["routed_by_reason"] == {"uncertain": 12}  # a flat map: nothing is confident
