"""Guarantee mode into the dataset: a pair's AI row carries the label of the judge routing certified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from tandem.core import datasets, services
from tandem.core.models import HumanLabel, Pair, RoutingDecision
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db


def cascade_project(tmp_path, n=400):
    """Two judges. 'cheap' (first in the cascade and the blend's default judge) is sure of b
    everywhere and always wrong; 'strong' is sure of a, and right, except on every fourth pair,
    where it is unsure. The humans of the blind audit say a."""
    project = services.create_project("g")
    path = tmp_path / "p.jsonl"
    rows = [
        {"prompt": f"q{i}", "response_a": f"good {i:04d}", "response_b": f"poor {i:04d}"} for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    services.import_pairs(project, path, "pairs")
    pairs = Pair.objects.filter(project=project).order_by("id")
    judge_pairs(pairs, 0.1, 0.9, judge="cheap")  # b in both orders, confidence 0.9
    strong = lambda i: 0.6 if i % 4 == 0 else 0.95  # noqa: E731
    judge_pairs(pairs, strong, lambda i: 1 - strong(i), judge="strong")
    project.routing_config = {
        "policy": {"version": 1, "audit_rate": 0.5},
        "target_agreement": 0.9,
        "cascade": ["cheap", "strong"],
    }
    project.save()
    return project


def test_a_pair_kept_by_the_second_judge_carries_its_label_and_an_uncertified_one_none(tmp_path, capsys):
    project = cascade_project(tmp_path)
    call_command("route", project="g")
    for k, d in enumerate(RoutingDecision.objects.filter(blind=True).order_by("pair_id")):
        unsure = d.pair.judgments.get(judge="strong", order="ab").p_first < 0.9
        choice = "b" if unsure and k % 2 else "a"
        HumanLabel.objects.create(pair=d.pair, annotator="h", choice=choice, source="argilla")
    project.routing_config["policy"] = {"version": 2, "audit_rate": 0.05}
    project.save()
    call_command("route", project="g")
    capsys.readouterr()
    decided = RoutingDecision.objects.filter(policy__version=2)
    kept = {d.pair_id for d in decided.filter(human=False)}
    assert kept and all(d.judges == ["strong"] for d in decided.filter(human=False))

    result = datasets.export_dataset(project, None, ["jsonl"], tmp_path / "out")
    with open(result["files"]["jsonl"]) as lines:
        rows = [json.loads(line) for line in lines]
    ai_rows = [r for r in rows if r["source"] == "ai"]
    labelled = set(HumanLabel.objects.values_list("pair_id", flat=True))
    # every AI row is a pair routing kept (humans win where they labelled it), with strong's label
    # (a, 0.95), never cheap's (b, 0.9), although cheap is the blend's judge outside guarantee mode
    assert {int(r["pair_id"]) for r in ai_rows} == kept - labelled
    assert all(r["chosen"].startswith("good") and r["p_chosen"] == pytest.approx(0.95) for r in ai_rows)
    # a pair sent to humans and not labelled yet has no AI row, though cheap was 90% sure of it
    waiting = decided.filter(human=True, pair__human_labels__isnull=True).count()
    assert waiting > 0 and result["summary"]["dropped"]["uncertified"] == waiting
    assert len(rows) == len(kept - labelled) + len(labelled)


def test_budget_mode_decisions_are_never_exported_as_certified(tmp_path, capsys):
    """Budget mode decided v1 with a judge that is sure and always wrong. Turning guarantee mode
    on under the same version is refused (its decisions would be taken for certified ones); under
    a new version nothing is certified, so the dataset has no AI row at all."""
    from django.core.management.base import CommandError

    project = services.create_project("switch")
    path = tmp_path / "p.jsonl"
    rows = [
        {"prompt": f"q{i}", "response_a": f"good {i:04d}", "response_b": f"poor {i:04d}"} for i in range(200)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    services.import_pairs(project, path, "pairs")
    judge_pairs(Pair.objects.filter(project=project).order_by("id"), 0.1, 0.9, judge="cheap")  # sure of b
    project.routing_config = {"policy": {"version": 1, "audit_rate": 0.1}}
    project.save()
    call_command("route", project="switch")
    assert RoutingDecision.objects.filter(policy__version=1, human=False).count() > 100  # budget kept many
    for d in RoutingDecision.objects.filter(blind=True):
        HumanLabel.objects.create(pair=d.pair, annotator="h", choice="a", source="argilla")
    guarantee = {"target_agreement": 0.9, "cascade": ["cheap"]}
    project.routing_config = {"policy": {"version": 1, "audit_rate": 0.1}, **guarantee}
    project.save()
    with pytest.raises(CommandError, match="version 1 was already used with different settings"):
        call_command("route", project="switch")
    project.routing_config = {"policy": {"version": 2, "audit_rate": 0.1}, **guarantee}
    project.save()
    call_command("route", project="switch")
    second = RoutingDecision.objects.filter(policy__version=2)
    assert second.count() == 200 and not second.filter(human=False).exists()  # the wrong judge keeps nothing
    result = datasets.export_dataset(project, None, ["jsonl"], tmp_path / "out")
    exported = [json.loads(line) for line in Path(result["files"]["jsonl"]).read_text().splitlines()]
    assert not [r for r in exported if r["source"] == "ai"]
