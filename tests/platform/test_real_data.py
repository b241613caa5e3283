"""The four real data sets import with the counts their README gives."""

from __future__ import annotations

import pytest
from django.db.models import Count

from tandem.core import services
from tandem.core.models import HumanLabel, Judgment, Pair

pytestmark = [pytest.mark.django_db, pytest.mark.shared_data]


def load(project_name, path, fmt, skip_invalid=False):
    project = services.create_project(project_name)
    summary = services.import_pairs(project, path, fmt, skip_invalid=skip_invalid)
    return project, summary


@pytest.mark.parametrize(
    ("folder", "pairs", "same"),
    [
        ("LLMBar/Natural", 100, 0),
        ("Processed/MT-Bench", 200, 0),
        ("Processed/FairEval", 66, 0),
        ("Processed/LLMEval2", 199, 1),  # one pair's two outputs are the same text
    ],
)
def test_llmbar_sets(shared_data, folder, pairs, same):
    project, summary = load("llmbar", shared_data / "llmbar" / folder, "llmbar", skip_invalid=True)
    assert (summary.created, summary.invalid) == (pairs, same)
    assert HumanLabel.objects.filter(pair__project=project, annotator="llmbar:gold").count() == pairs
    judges = dict(Judgment.objects.values_list("judge").annotate(n=Count("id")))
    assert judges["llmbar:GPT-4/Vanilla_NoRules"] == 2 * pairs  # both orders


def test_llmbar_adversarial_sets_together(shared_data):
    project = services.create_project("adv")
    for name in ["Neighbor", "GPTInst", "GPTOut", "Manual"]:
        services.import_pairs(project, shared_data / "llmbar/LLMBar/Adversarial" / name, "llmbar")
    assert Pair.objects.filter(project=project).count() == 319
    cot = Judgment.objects.filter(judge="llmbar:ChatGPT/CoT", pair__project=project)
    assert set(cot.values_list("order", flat=True)) == {"ab", "ba"}
    assert cot.count() == 2 * 319  # unparsable verdicts are kept too, with their status
    assert cot.filter(status="unparsable").count() == 4  # as recorded (winner null)


def test_mtbench(shared_data):
    _, summary = load("mt", shared_data / "mtbench/mtbench_human_vs_gpt4pair.jsonl.gz", "mtbench", True)
    # 10 rows compare two models that wrote the same text: no preference, listed as invalid.
    assert (summary.rows, summary.invalid, summary.created) == (1751, 10, 1224)
    assert summary.labels_created == 1741
    assert {e["field"] for e in summary.errors} == {"response_b"}
    inconsistent = Judgment.objects.filter(judge="mtbench:gpt-4", detail__orders_disagreed=True)
    pairs = Pair.objects.filter(judgments__in=inconsistent).distinct().count()
    assert inconsistent.count() == 2 * pairs
    assert inconsistent.exclude(choice="tie").count() == 0
    assert HumanLabel.objects.values("annotator").distinct().count() > 10


def test_pandalm(shared_data):
    _, summary = load("panda", shared_data / "pandalm", "pandalm")
    assert (summary.created, summary.labels_created, summary.invalid) == (999, 3 * 999, 0)
    per_judge = dict(Judgment.objects.values_list("judge").annotate(n=Count("id")))
    assert per_judge == {"pandalm:gpt-3.5-turbo": 999, "pandalm:pandalm-7b": 999}
    garbage = Judgment.objects.filter(judge="pandalm:gpt-3.5-turbo", status="unparsable")
    assert garbage.count() == 25  # the recorded "garbage" verdicts stay unparsable, never a guess


def test_hh_rlhf(shared_data):
    _, summary = load("hh", shared_data / "hh-rlhf/harmless-base-test.jsonl.gz", "hh-rlhf")
    assert (summary.created, summary.labels_created, summary.invalid) == (2312, 2312, 0)
