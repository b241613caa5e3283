"""Gold items end to end: imported with a known answer, routed to humans only, shown like a blind
audit item, scored per annotator, never in the judge's audit nor in a dataset."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tandem.core import audits, datasets, review, roles, routing, services
from tandem.core.models import Alert, ArgillaRecord, HumanLabel, Pair, RoutingDecision
from tests.factories import judge_pairs
from tests.platform.test_review import annotator_records, owner_client, record_pairs

pytestmark = pytest.mark.django_db


def write_pairs(path, n: int, gold: dict[int, str], labels: dict[int, str] | None = None):
    """`n` sums (response a is right); row i carries `gold[i]` and a human `labels[i]` if given."""
    rows = [
        {
            "prompt": f"What is {i} + {i}?",
            "response_a": str(2 * i),
            "response_b": str(2 * i + 1),
            **({"gold": gold[i]} if i in gold else {}),
            **({"label": labels[i], "annotator": "h"} if labels and i in labels else {}),
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def gold_project(tmp_path, n=20, gold=(0, 5, 10, 15), judge_gold=True, **project):
    """`n` pairs, those at `gold` with known answer `a`; every ordinary pair judged (confident on
    odd rows, unsure on even ones), and the gold pairs too when `judge_gold`."""
    name = f"gold-{uuid.uuid4().hex[:6]}"
    p = services.create_project(name, rubric="Prefer the correct answer.")
    if project:
        p.routing_config = project
        p.save(update_fields=["routing_config"])
    services.import_pairs(p, write_pairs(tmp_path / f"{name}.jsonl", n, dict.fromkeys(gold, "a")), "pairs")
    pairs = Pair.objects.filter(project=p).order_by("id")
    p_ab = lambda i: 0.9 if i % 2 else 0.55  # noqa: E731
    judge_pairs(pairs if judge_gold else pairs.filter(gold=""), p_ab, lambda i: 1 - p_ab(i))
    return p


def test_a_bad_gold_value_names_file_line_field_and_what_to_write(tmp_path):
    project = services.create_project("bad-gold")
    path = write_pairs(tmp_path / "g.jsonl", 3, {0: "b", 1: "maybe"})
    with pytest.raises(services.ImportFailed) as failed:
        services.import_pairs(project, path, "pairs")
    message = str(failed.value)
    assert f"{path}, line 2, field 'gold': is 'maybe'; write a / b / tie (or 1 / 2 / 0" in message
    assert not Pair.objects.filter(project=project).exists()


@pytest.mark.parametrize("reader_process", [False, True])
def test_gold_answers_are_imported_in_every_spelling_and_a_reimport_keeps_them(tmp_path, reader_process):
    project = services.create_project(f"gold-import-{int(reader_process)}")
    path = write_pairs(tmp_path / "g.jsonl", 5, {0: "a", 1: "2", 2: "TIE", 3: ""})
    services.import_pairs(project, path, "pairs", reader_process=reader_process)
    services.import_pairs(project, path, "pairs", reader_process=reader_process)
    stored = list(Pair.objects.filter(project=project).order_by("id").values_list("gold", flat=True))
    assert stored == ["a", "b", "tie", "", ""]
    csv = tmp_path / "g.csv"
    csv.write_text("prompt,response_a,response_b,gold\nq,x,y,1\n")
    services.import_pairs(project, csv, "pairs", reader_process=reader_process)
    assert Pair.objects.get(project=project, prompt="q").gold == "a"


def test_gold_pairs_go_to_humans_outside_the_budget_never_ai_only_never_blind(tmp_path):
    project = gold_project(tmp_path)
    gold = set(Pair.objects.filter(project=project).exclude(gold="").values_list("pk", flat=True))
    policy = routing.RoutingPolicy(uncertainty=0.1, audit_rate=0.5, budget_items=3, seed=1)
    result = routing.route_pairs(project, policy)
    assert result["gold"] == 4 and result["pairs"] == 16  # the plan and its budget see no gold pair
    assert result["human"] + result["ai_only"] == 16
    decisions = RoutingDecision.objects.filter(pair_id__in=gold)
    assert decisions.count() == 4
    assert all(d.human and not d.blind and d.reasons == ["gold"] and d.judges == [] for d in decisions)
    assert not RoutingDecision.objects.filter(pair__project=project, blind=True, pair_id__in=gold).exists()
    assert routing.route_pairs(project, policy)["gold"] == 0  # decided once per version
    again = routing.route_pairs(project, routing.RoutingPolicy(audit_rate=1.0, version=2))
    assert again["gold"] == 4 and again["routed_by_reason"]["audit"] == 16  # all but gold are audited
    assert routing.pairs_for_humans(project, 2).filter(pk__in=gold).count() == 4


def test_the_dataset_leaves_gold_pairs_out_and_counts_them(tmp_path):
    project = gold_project(tmp_path)
    for pair in Pair.objects.filter(project=project):  # humans labelled everything, gold included
        HumanLabel.objects.create(pair=pair, annotator="h", choice="a", source="imported")
    summary = datasets.preview(project)
    assert summary["pairs_in"] == 20 and summary["dropped"]["gold"] == 4 and summary["rows_out"] == 16
    assert "gold 4" in summary["text"]
    exported = datasets.export_dataset(project, None, ["jsonl"], tmp_path / "out")
    rows = [json.loads(line) for line in Path(exported["files"]["jsonl"]).read_text().splitlines()]
    gold_prompts = set(Pair.objects.filter(project=project).exclude(gold="").values_list("prompt", flat=True))
    assert len(rows) == 16 and not gold_prompts & {row["prompt"] for row in rows}


def vote(pair, annotator, choice):
    HumanLabel.objects.create(pair=pair, annotator=annotator, choice=choice, source="argilla")


def test_gold_votes_change_no_judge_figure(tmp_path):
    """Votes on gold items that contradict the judge leave agreement, calibration, bias and PPI
    as they were: they score annotators only."""
    project = gold_project(tmp_path)
    routing.route_pairs(project, routing.RoutingPolicy(audit_rate=1.0, seed=1))
    for pair in Pair.objects.filter(project=project, gold=""):
        vote(pair, "ann1", "a" if pair.pk % 3 else "b")
    before = audits.compute_report(project)
    for pair in Pair.objects.filter(project=project).exclude(gold=""):
        vote(pair, "ann1", "b")  # the judge says a on every gold pair
    after = audits.compute_report(project)
    for section in ("agreement", "selected", "ppi", "calibration", "verbosity", "position", "slices"):
        assert after[section] == before[section], section
    assert after["samples"]["votes"]["gold"] == 4 and "gold" not in before["samples"]["votes"]
    assert after["annotators"]["gold"][0]["answered"] == 4


def test_an_annotator_failing_gold_items_is_flagged_with_an_alert(tmp_path):
    """2 of 10 right: accuracy 20%, Wilson 95% interval [5.7%, 51.0%], below 70%: flagged, one
    alert however often the audit runs. 10 of 10: [72.2%, 100%], not flagged."""
    project = gold_project(tmp_path, n=30, gold=range(10), judge_gold=False)
    gold = list(Pair.objects.filter(project=project).exclude(gold="").order_by("pk"))
    for i, pair in enumerate(gold):
        vote(pair, "careless", "a" if i < 2 else "b")
        vote(pair, "careful", "a")
    stored = audits.create_report(project)
    rows = {row["annotator"]: row for row in stored.report["annotators"]["gold"]}
    careless, careful = rows["careless"], rows["careful"]
    assert (careless["answered"], careless["correct"], careless["accuracy"]) == (10, 2, 0.2)
    assert careless["ci95"] == pytest.approx([0.0567, 0.5098], abs=1e-3) and careless["flagged"]
    assert (careful["correct"], careful["flagged"]) == (10, False)
    assert careful["ci95"] == pytest.approx([0.7225, 1.0], abs=1e-3)
    alert = Alert.objects.get(project=project, kind="gold")
    assert alert.message.startswith("annotator careless answered 2 of 10 gold items correctly")
    audits.create_report(project)
    assert Alert.objects.filter(project=project, kind="gold").count() == 1  # still open: not repeated
    # Dawid-Skene pins the gold answers: the careful annotator is the reliable one
    by_annotator = {row["annotator"]: row for row in stored.report["annotators"]["by_annotator"]}
    assert by_annotator["careful"]["reliability"] > 0.95 > by_annotator["careless"]["reliability"]
    text, html = audits.render(stored, "text"), audits.render(stored, "html")
    careless_line = [line for line in text.splitlines() if line.strip().startswith("careless")][-1]
    assert "20.0% [5.7%, 51.0%] FLAGGED" in careless_line
    assert "below 70.0%" in text
    assert "<tr class='flagged'><td>careless</td>" in html


def test_engineers_see_gold_on_a_pair_and_annotators_reach_no_pair(tmp_path, api):
    project = gold_project(tmp_path, n=4, gold=(1,))
    pair = Pair.objects.get(project=project, gold="a")
    detail = api("engineer").get(f"/api/projects/{project.pk}/pairs/{pair.pk}/")
    assert detail.status_code == 200 and detail.json()["gold"] == "a"
    listed = api("auditor").get(f"/api/projects/{project.pk}/pairs/").json()["results"]
    assert sorted(p["gold"] for p in listed) == ["", "", "", "a"]
    assert api("annotator").get(f"/api/projects/{project.pk}/pairs/{pair.pk}/").status_code == 403


def test_a_gold_record_looks_like_a_blind_audit_record_even_with_suggestions_shown(argilla, tmp_path):
    project = gold_project(tmp_path, n=40, gold=range(0, 40, 5), review={"suggestions": "shown"})
    routing.route_pairs(project, routing.RoutingPolicy(uncertainty=0.1, audit_rate=0.25, seed=1))
    user, _ = get_user_model().objects.get_or_create(username="annotator1")
    roles.add_member(user, project, "annotator")
    synced = review.sync(project, owner_client(argilla))
    pair_of = record_pairs(project, synced["dataset"])
    records = {
        pair_of[r["external_id"]]: r for r in annotator_records(argilla, "annotator1", synced["dataset_id"])
    }
    gold = set(Pair.objects.filter(project=project).exclude(gold="").values_list("pk", flat=True))
    blind = set(
        ArgillaRecord.objects.filter(pair__project=project, blind=True).values_list("pair_id", flat=True)
    )
    assert gold <= set(records) and blind
    assert any(r["suggestions"] for r in records.values())  # routed items still carry theirs
    shape = {(tuple(sorted(records[p]["fields"])), json.dumps(records[p]["metadata"])) for p in blind}
    assert shape == {(("prompt", "response1", "response2"), "null")}  # no metadata at all
    for pair_id in gold:
        record = records[pair_id]
        assert not record["suggestions"]
        assert (tuple(sorted(record["fields"])), json.dumps(record["metadata"])) in shape
    shown = ArgillaRecord.objects.filter(pair_id__in=gold, suggestion_shown=True)
    assert not shown.exists()


def test_a_file_of_known_answers_marks_pairs_imported_before_and_corrects_one(tmp_path):
    """Pairs imported plain, then a file of the same pairs with answers: the stored pairs become gold
    items (no pair is added), a changed answer is corrected, and a row without one leaves it."""
    project = services.create_project("gold-later")
    services.import_pairs(project, write_pairs(tmp_path / "plain.jsonl", 4, {}), "pairs")
    marked = services.import_pairs(
        project, write_pairs(tmp_path / "gold.jsonl", 4, {0: "a", 1: "b"}), "pairs"
    )
    assert (marked.created, marked.duplicates, marked.gold_updated) == (0, 4, 2)
    assert marked.line().endswith(", 2 stored pairs given a gold answer")
    fixed = services.import_pairs(project, write_pairs(tmp_path / "fix.jsonl", 4, {1: "tie"}), "pairs")
    assert fixed.gold_updated == 1
    stored = list(Pair.objects.filter(project=project).order_by("id").values_list("gold", flat=True))
    assert stored == ["a", "tie", "", ""]


def test_guarantee_mode_never_certifies_nor_audits_a_gold_pair(tmp_path):
    """Guarantee mode reads the same signals: a judged gold pair gets no AI-only (certified)
    decision and no place in the blind audit sample it calibrates on."""
    project = gold_project(
        tmp_path,
        n=60,
        gold=range(0, 60, 3),
        policy={"version": 1, "audit_rate": 0.5},
        target_agreement=0.9,
        confidence=0.9,
        cascade=["j"],
        min_slice=1000,
    )
    routing.route_pairs(project, routing.project_policy(project))
    gold = Pair.objects.filter(project=project).exclude(gold="")
    decided = RoutingDecision.objects.filter(pair__in=gold)
    assert not decided.filter(human=False).exists() and not decided.filter(blind=True).exists()
    assert RoutingDecision.objects.filter(pair__project=project, blind=True).exists()


def test_gold_items_leave_the_guarantee_cost_per_label_alone(tmp_path):
    """Every ordinary pair audited at $1 a label, judge calls free: $1 per label, however many
    gold items the annotators also answer (quality control is not a label the route bought)."""
    policy = {"version": 1, "audit_rate": 1.0, "price_per_label": 1.0}
    config = {"target_agreement": 0.9, "confidence": 0.9, "cascade": ["j"], "min_slice": 1000}
    project = gold_project(tmp_path, n=60, gold=range(0, 60, 3), judge_gold=False, policy=policy, **config)
    result = routing.route_pairs(project, routing.project_policy(project))
    assert result["gold"] == 20 and result["human"] == 40
    assert result["cost_per_label"] == pytest.approx(1.0)
