"""One AI verdict per pair, wherever it is read (issue #15): the audit report, the escalation's
slice accuracy, the Argilla suggestion and the exported rows all give each pair the same choice.

Run on recorded verdicts (LLMBar Natural, MT-Bench's merged GPT-4 verdicts) and on a soft judge
added to the LLMBar pairs whose flips lean to one side on average (0.9 for a shown first, 0.6
for b shown first: the averaged p says a, the orders disagree), the case where a probability
rule and the orders' rule part ways; its audit also fitted a calibration map.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from audits import build_report
from audits.frames import CHOICES, prepare, unit_choices
from labeling.routing import RoutingPolicy
from labeling.verdicts import human_majority
from tandem.core import datasets, review, routing, selectors, services
from tandem.core.models import AuditReport, HumanLabel, Pair, RoutingDecision
from tests.factories import judge_pairs

pytestmark = [pytest.mark.django_db, pytest.mark.shared_data]
SOFT = "soft"
PLATT = {"method": "platt", "scale": 0.8, "bias": 0.2}


def soft_p_ab(i: int) -> float:
    return [0.9, 0.8, 0.3, 0.95][i % 4]


def soft_p_ba(i: int) -> float:
    # every fourth pair flips, leaning to a on average; the rest agree with order ab
    return 0.6 if i % 4 == 0 else 1 - soft_p_ab(i)


@pytest.fixture
def llmbar(shared_data):
    project = services.create_project("llmbar-natural")
    services.import_pairs(project, shared_data / "llmbar" / "LLMBar" / "Natural", "llmbar")
    judge_pairs(project.pairs.order_by("id"), soft_p_ab, soft_p_ba, judge=SOFT)
    AuditReport.objects.create(project=project, judge=SOFT, report={}, calibration=PLATT)
    return project


@pytest.fixture
def mtbench(shared_data):
    project = services.create_project("mtbench")
    path = shared_data / "mtbench" / "mtbench_human_vs_gpt4pair.jsonl.gz"
    services.import_pairs(project, path, "mtbench", skip_invalid=True)  # a few rows repeat response_a
    return project


def audit_choices(project, judge: str) -> dict[int, str | None]:
    """Per pair, the choice the audit report scores (the units it builds, `unit_choices`)."""
    units = prepare(*selectors.audit_frames(project, judge), judge).units
    codes = unit_choices(units)
    return {int(p): (CHOICES[c] if c >= 0 else None) for p, c in zip(units["pair_id"], codes, strict=True)}


def votes_of(project) -> dict[int, list[str]]:
    votes = defaultdict(list)
    for pair_id, choice in HumanLabel.objects.filter(pair__project=project).values_list("pair_id", "choice"):
        votes[pair_id].append(choice)
    return votes


def check_report(project, judge: str, ai: dict[int, str | None]) -> None:
    """The report's confusion matrix (judge x human, every vote) is the per-pair choices' one."""
    report = build_report(*selectors.audit_frames(project, judge), judge=judge)
    expected = np.zeros((3, 3), dtype=int)
    for pair_id, votes in votes_of(project).items():
        if ai.get(pair_id) is not None:
            for vote in votes:
                expected[CHOICES.index(ai[pair_id]), CHOICES.index(vote)] += 1
    assert report["agreement"]["confusion"]["matrix"] == expected.tolist()


def check_escalation(project, judge: str, ai: dict[int, str | None]) -> dict:
    """The escalation's audited accuracy per slice counts the same choices against the majority."""
    judged = routing.calibrated(project, [judge], routing.signals(project, [judge]))
    assert {s.pair_id: s.choice for s in judged} == ai
    blind = set(RoutingDecision.objects.filter(blind=True).values_list("pair_id", flat=True))
    votes, expected = votes_of(project), defaultdict(lambda: [0, 0])
    for s in judged:
        if s.pair_id in blind and s.pair_id in votes:
            expected[s.slice_key][0] += 1
            expected[s.slice_key][1] += ai[s.pair_id] is not None and ai[s.pair_id] == human_majority(
                votes[s.pair_id]
            )
    audits = routing.slice_audits(project, judged)
    assert {k: (a.n, a.correct) for k, a in audits.items()} == {k: tuple(v) for k, v in expected.items()}
    return audits


def check_suggestions(project, judge: str, ai: dict[int, str | None]) -> None:
    """The AI choice each review record carries, and shows where suggestions are on, is the same."""
    project.routing_config = {**(project.routing_config or {}), "review": {"suggestions": "shown"}}
    signals = {s.pair_id: s for s in routing.signals(project, [judge])}
    decisions = list(RoutingDecision.objects.filter(pair__project=project))
    items = review.review_items(
        decisions, signals, review.dataset_name(project, 1), review.review_config(project)
    )
    assert len(items) == len(ai)
    assert {item.pair_id: item.ai_choice for item in items} == ai
    shown = [item for item in items if item.show_suggestion]
    assert shown and all(item.ai_choice == ai[item.pair_id] for item in shown)


def check_export(project, judge: str, ai: dict[int, str | None], tmp_path) -> Counter:
    """AI-only rows (the humans' labels set aside) choose exactly the AI's side; ties are left out."""
    HumanLabel.objects.filter(pair__project=project).delete()
    policy = {"ai_threshold": 0.5, "ai_weight": "fixed", "ties": "keep"}
    result = datasets.export_dataset(project, policy, ["jsonl"], tmp_path, judge=judge)
    from training.export import read_rows

    texts = {p.pk: (p.response_a, p.response_b) for p in Pair.objects.filter(project=project)}
    exported = {}
    for row in read_rows(result["files"]["jsonl"]):
        a, b = texts[int(row["pair_id"])]
        if a != b:
            exported[int(row["pair_id"])] = "a" if row["chosen"] == a else "b"
    assert exported and all(exported[p] == ai[p] for p in exported)
    decided = {p for p, c in ai.items() if c in ("a", "b") and texts[p][0] != texts[p][1]}
    dropped = result["summary"]["dropped"]
    assert len(decided - set(exported)) == dropped.get("ai_below_threshold", 0)
    return Counter(dropped)


def run_all(project, judge: str, tmp_path) -> tuple[dict, dict, Counter]:
    policy = RoutingPolicy(version=hash(judge) % 1000 + 1, uncertainty=0.0, audit_rate=0.3)
    routing.route_pairs(project, policy, [judge])
    ai = audit_choices(project, judge)
    check_report(project, judge, ai)
    audits = check_escalation(project, judge, ai)
    check_suggestions(project, judge, ai)
    return ai, audits, check_export(project, judge, ai, tmp_path)


def test_llmbar_recorded_gpt4_verdict_is_one_choice_everywhere(llmbar, tmp_path):
    ai, audits, dropped = run_all(llmbar, "llmbar:GPT-4/Vanilla_NoRules", tmp_path)
    assert len(ai) == 100 and Counter(ai.values())["tie"] == 3  # its 3 flips (97% consistent)
    assert dropped["ai_flipped"] == 3 and sum(a.n for a in audits.values()) > 0


def test_llmbar_soft_judge_flip_is_a_tie_everywhere_even_calibrated(llmbar, tmp_path):
    ai, _, dropped = run_all(llmbar, SOFT, tmp_path)
    # every fourth pair flipped: the averaged p (0.65) favours a, yet no path calls it "a"
    assert Counter(ai.values()) == {"tie": 25, "a": 50, "b": 25}
    assert dropped["ai_flipped"] == 25


def test_mtbench_merged_gpt4_verdict_is_one_choice_everywhere(mtbench, tmp_path):
    ai, audits, dropped = run_all(mtbench, "mtbench:gpt-4", tmp_path)
    disagreed = Pair.objects.filter(project=mtbench, judgments__detail__orders_disagreed=True).distinct()
    assert len(ai) == mtbench.pairs.count() > 1200
    # "tie (inconsistent)": the pairs whose orders disagreed are ties and flips alike
    assert Counter(ai.values())["tie"] >= dropped["ai_flipped"] == disagreed.count() > 180
    assert sum(a.n for a in audits.values()) > 0
