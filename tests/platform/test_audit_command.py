"""`manage.py audit` on imported real data and on projects where little can be computed."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tandem.core import services

pytestmark = pytest.mark.django_db


def test_mtbench_gpt4_against_expert_humans(shared_data, tmp_path):
    project = services.create_project("mt")
    path = shared_data / "mtbench/mtbench_human_vs_gpt4pair.jsonl.gz"
    summary = services.import_pairs(project, path, "mtbench", skip_invalid=True)
    assert summary.invalid == 10  # pairs whose two responses are the same text carry no preference
    out = tmp_path / "report.json"
    call_command("audit", project="mt", judge="mtbench:gpt-4", format="json", out=str(out))
    report = json.loads(out.read_text())
    # Zheng et al. 2023 report 66% (ties) and 85% (no ties); humans agree 63% / 81%.
    assert report["agreement"]["with_ties"] == pytest.approx(0.673, abs=0.005)
    assert report["agreement"]["without_ties"] == pytest.approx(0.856, abs=0.005)
    assert report["human_human"]["agreement"] == pytest.approx(0.654, abs=0.005)
    # 'tie (inconsistent)' items are flips whose direction the data does not give.
    assert report["position"]["consistency"] == pytest.approx(0.843, abs=0.005)
    assert report["position"]["first_rate"] is None
    assert report["self_preference"]["self_wins_ai"] > report["self_preference"]["self_wins_human"]
    html = tmp_path / "report.html"
    call_command("audit", project="mt", format="html", out=str(html))
    assert "<svg" in html.read_text() and "mtbench:gpt-4" in html.read_text()


def test_project_without_judgments_says_what_to_do():
    services.create_project("empty")
    with pytest.raises(CommandError, match="has no judgments yet: judge its pairs first"):
        call_command("audit", project="empty")


def test_unknown_judge_lists_the_known_ones(shared_data):
    project = services.create_project("ll")
    services.import_pairs(project, shared_data / "llmbar/LLMBar/Natural", "llmbar")
    with pytest.raises(CommandError, match="llmbar:GPT-4/CoT"):
        call_command("audit", project="ll", judge="nope")
