"""`manage.py judge` against a real OpenAI-compatible HTTP endpoint and the real SmolLM2."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tandem.core import judging, services
from tandem.core.models import JudgeCall, Judgment, Pair
from tests.openai_endpoint import MODEL

# The call cache commits on its own connections (a paid call stays paid for), so these tests
# run in real transactions and the tables are emptied after each test.
pytestmark = pytest.mark.django_db(transaction=True)

JUDGE = {
    "backend": "openai",
    "model": MODEL,
    "params": {
        "max_retries": 1,
        "backoff_base_s": 0.01,
        "timeout_s": 5.0,
        "prices": {MODEL: {"input": 1.0, "output": 2.0}},
    },
}


def make_project(tmp_path, name, scenarios):
    project = services.create_project(name)
    project.judge_config = {"judges": {"api": JUDGE}}
    project.save()
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"prompt": f"SCENARIO={s} question {name}{i}", "response_a": "Paris.", "response_b": "Lyon."}
            )
            + "\n"
            for i, s in enumerate(scenarios)
        )
    )
    services.import_pairs(project, path, "pairs")
    return project


def run_judge(project, **opts) -> dict:
    out = []
    call_command("judge", project=project.name, judge="api", json=True, stdout=_Sink(out), **opts)
    return json.loads(out[-1])


class _Sink:
    def __init__(self, lines):
        self.lines = lines

    def write(self, text):
        self.lines.append(text)

    def flush(self):
        pass


def test_every_pair_is_judged_in_both_orders_with_soft_labels_and_provenance(openai_env, tmp_path):
    project = make_project(tmp_path, "soft", ["logprobs"] * 3)
    summary = run_judge(project)
    assert (summary["pairs"], summary["judged"], summary["errors"]) == (3, 6, 0)
    rows = Judgment.objects.filter(judge="api")
    assert sorted(rows.values_list("order", flat=True)) == ["ab"] * 3 + ["ba"] * 3
    ab = rows.filter(order="ab").first()
    assert ab.p_first == pytest.approx(0.7 / 0.95 + 0.5 * 0.05 / 0.95, abs=1e-3)  # 1, 2, tie renormalized
    assert ab.choice == "a"
    assert rows.filter(order="ba").first().choice == "b"  # "1" means the first shown: response b
    assert (
        ab.detail["p_source"] == "logprobs" and ab.template == "pairwise_v1" and len(ab.template_hash) == 64
    )
    assert ab.prompt_tokens > 0 and ab.cost > 0 and ab.cache_key
    again = run_judge(project)
    assert (again["judged"], again["skipped"], again["calls"]) == (0, 6, 0)


def test_failures_are_stored_with_reasons_and_a_rerun_retries_only_them(openai_env, tmp_path):
    project = make_project(tmp_path, "faults", ["logprobs", "server-error", "no-verdict"])
    first = run_judge(project)
    assert (first["judged"], first["errors"], first["unparsable"]) == (6, 2, 2)
    failed = Judgment.objects.filter(status="error")
    assert failed.count() == 2 and all(
        "500" in m or "boom" in m for m in failed.values_list("error_message", flat=True)
    )
    assert Judgment.objects.filter(status="unparsable").exclude(error_message="").count() == 2
    calls_before = openai_env.calls()
    second = run_judge(project)
    assert (second["judged"], second["skipped"]) == (2, 4)  # only the two errors again
    assert openai_env.calls() - calls_before == 2 * 2  # each retried once more (max_retries=1)
    assert Judgment.objects.filter(judge="api").count() == 6


def test_a_call_is_never_paid_twice(openai_env, tmp_path):
    project = make_project(tmp_path, "cache", ["logprobs"] * 2)
    run_judge(project)
    assert JudgeCall.objects.count() == 4
    Judgment.objects.all().delete()  # e.g. a new project with the same pairs
    calls_before = openai_env.calls()
    summary = run_judge(project)
    assert (summary["judged"], summary["cache_hits"], openai_env.calls() - calls_before) == (4, 4, 0)


def test_missing_api_key_fails_at_start_naming_the_setting(openai_env, tmp_path, monkeypatch):
    project = make_project(tmp_path, "nokey", ["logprobs"])
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(CommandError, match="OPENAI_API_KEY"):
        run_judge(project)
    assert not Judgment.objects.exists()


def test_unknown_judge_name_lists_what_exists(tmp_path):
    project = services.create_project("p")
    with pytest.raises(services.ServiceError, match="smollm2"):
        judging.resolve_config(project, "nope")


def test_cancel_keeps_finished_batches_and_a_rerun_finishes(openai_env, tmp_path):
    project = make_project(tmp_path, "cancel", ["logprobs"] * 4)
    config = judging.resolve_config(project, "api")
    asked = []
    with pytest.raises(services.Cancelled):
        judging.judge_pairs(
            project, config, batch_pairs=1, should_cancel=lambda: len(asked.append(1) or asked) > 2
        )
    assert Judgment.objects.count() == 4  # two batches of one pair, both orders
    summary = judging.judge_pairs(project, config, batch_pairs=1)
    assert (summary.skipped, summary.judged) == (4, 4)


def test_builtin_smollm2_judge_runs_offline_and_shows_its_position_bias(tmp_path):
    project = services.create_project("smol")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"prompt": "What is the capital of France?", "response_a": "Paris.", "response_b": "Berlin."},
                {"prompt": "What is 2 + 2?", "response_a": "5", "response_b": "4"},
            ]
        )
    )
    services.import_pairs(project, path, "pairs")
    summary = judging.judge_pairs(project, judging.resolve_config(project, "smollm2"))
    assert (summary.judged, summary.errors, summary.unparsable) == (4, 0, 0)
    rows = Judgment.objects.filter(judge="smollm2")
    assert set(rows.values_list("backend", flat=True)) == {"hf"}
    assert Pair.objects.count() == 2
    # SmolLM2-135M's verdict follows the position, not the content (the README's demo notes):
    # in each pair the winner changes when the two responses swap places, even where one answer
    # is plainly wrong ("5" for 2 + 2). An unbiased judge would name the same winner twice.
    winners = {(j.pair_id, j.order): j.choice for j in rows}
    assert all(winners[(pid, "ab")] != winners[(pid, "ba")] for pid, _ in winners)


def test_gold_pairs_are_not_judged(openai_env, tmp_path):
    """A gold item's answer is known: the judge job spends no call on it (core.gold)."""
    project = make_project(tmp_path, "withgold", ["logprobs"] * 4)
    gold = project.pairs.order_by("id").first()
    gold.gold = "a"
    gold.save()
    summary = run_judge(project)
    assert (summary["pairs"], summary["judged"]) == (3, 6)
    assert not Judgment.objects.filter(pair=gold).exists()
    assert Judgment.objects.filter(judge="api").values("pair_id").distinct().count() == 3
