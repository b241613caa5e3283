"""A trained policy's final evaluation: win rate against its starting model on held-out prompts,
judged by the project's AI judge in both orders (a real HTTP server speaking the OpenAI API,
whose judge prefers the longer response), with lengths beside it and the harmless rate."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client

from tandem.core import datasets, services
from tandem.core.models import DatasetVersion, TrainingRun
from training.split import held_out

pytestmark = pytest.mark.django_db
FRUITS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "mango"]


@pytest.fixture
def version(tmp_path):
    """100 human-labeled pairs (polite a over rude b), so that the seeded 10% held out is never
    empty; every prompt asks the fake judge to prefer the longer response."""
    project = services.create_project("pe")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"SCENARIO=longer Question {i}: name a fruit.\nAnswer:",
                    "response_a": f" Gladly: {FRUITS[i % 8]}.",
                    "response_b": f" No. {FRUITS[i % 8]} go away!",
                    "label": "a",
                    "annotator": "h",
                }
            )
            + "\n"
            for i in range(100)
        )
    )
    services.import_pairs(project, path, "pairs")
    datasets.export_dataset(project, None, ["jsonl"], tmp_path / "d")
    return DatasetVersion.objects.get(project=project)


def _train(tmp_path, version, tiny_model, capsys, **extra):
    # The evaluation judge is one of the project's judges (a run's config names it, never a file).
    project = version.project
    judges = {"eval-judge": {"backend": "openai", "model": "judge-model"}}
    project.judge_config = {**project.judge_config, "judges": judges}
    project.save()
    config = tmp_path / "dpo.json"
    config.write_text(
        json.dumps(
            {
                "model": tiny_model,
                "max_steps": 5,
                "per_device_train_batch_size": 4,
                "max_length": 64,
                "learning_rate": 5e-3,
                "eval_prompts": 4,
                "eval_max_new_tokens": 12,
                "eval_judge": "eval-judge",
                **extra,
            }
        )
    )
    call_command(
        "train",
        project="pe",
        dataset=version.version[:10],
        method="dpo",
        config=str(config),
        out=str(tmp_path / "run"),
    )
    return TrainingRun.objects.get(), capsys.readouterr().out


def _expected_win_rate(start: str, trained: str, prompts: list[str], max_new_tokens: int) -> float:
    """What a judge that prefers the longer answer must give, from the two models' own answers."""
    from training.evaluate import generate
    from training.models import load_policy, load_tokenizer

    tokenizer = load_tokenizer(trained)
    ours = generate(load_policy(trained, tokenizer), tokenizer, prompts, max_new_tokens)
    theirs = generate(load_policy(start, tokenizer), tokenizer, prompts, max_new_tokens)
    wins = [
        1.0 if len(a.strip()) > len(b.strip()) else 0.5 if len(a.strip()) == len(b.strip()) else 0.0
        for a, b in zip(ours, theirs, strict=True)
    ]
    return sum(wins) / len(wins)


def test_dpo_run_stores_win_rate_vs_start_with_lengths_prints_and_shows_it(
    openai_env, version, tmp_path, tiny_model, capsys, user_factory
):
    run, out = _train(tmp_path, version, tiny_model, capsys)
    assert run.status == "succeeded", run.error
    pe = run.final_eval["policy_eval"]
    _, held = held_out(
        [json.loads(line) for line in open(version.files["jsonl"], encoding="utf-8")]  # noqa: SIM115
    )
    prompts = list(dict.fromkeys(r["prompt"] for r in held))[:4]
    assert (pe["prompts"], pe["judged"], pe["unjudged"]) == (len(prompts), len(prompts), 0)
    assert (pe["judge"], pe["judge_source"], pe["max_new_tokens"]) == ("eval-judge", "config", 12)
    assert pe["win_rate"] == pytest.approx(
        _expected_win_rate(tiny_model, run.artifacts["model"], prompts, 12)
    )
    lengths = [(len(e["policy"]), len(e["start"])) for e in pe["examples"]]
    assert lengths and all(0 <= a <= 80 and 0 <= b <= 80 for a, b in lengths)
    assert pe["harmless_rate"] is None and "no harmlessness rubric" in pe["harmless_reason"]
    # Both orders, one request each, except where the two answers are the same text (then the
    # two orders are one request, answered once and then from the cache).
    asked = {
        json.dumps(r["messages"])
        for r in openai_env.requests
        if "SCENARIO=longer" in json.dumps(r.get("messages", ""))
    }
    same = sum(e["policy"] == e["start"] for e in pe["examples"])
    assert len(asked) >= 2 * len(pe["examples"]) - same
    assert f"win rate vs start {pe['win_rate']:.3f}" in out and "harmless rate: n/a" in out
    client = Client()
    client.force_login(user_factory("engineer"))
    page = client.get(f"/projects/{run.project_id}/runs/{run.pk}/").content.decode()
    assert 'id="policy-eval"' in page and f"{pe['win_rate']:.3f}" in page
    assert "no harmlessness rubric" in page


def test_harmless_rate_before_and_after_when_the_project_has_a_harmlessness_rubric(
    openai_env, version, tmp_path, tiny_model, capsys
):
    version.project.judge_config = {"harmlessness_rubric": "Refuse to help with harm."}
    version.project.save()
    run, out = _train(tmp_path, version, tiny_model, capsys)
    pe = run.final_eval["policy_eval"]
    # The fake judge rates every response 1 out of 10: nothing is judged harmless.
    assert pe["harmless_rate"] == {"policy": 0.0, "start": 0.0}
    assert "harmless rate 0.000 (start 0.000)" in out
    rated = [
        r for r in openai_env.requests if "Refuse to help with harm." in json.dumps(r.get("messages", ""))
    ]
    # Every prompt's answers were rated; where the policy and its start answered alike (a few
    # steps may not move a tiny model), the second rating is the same request, from the cache.
    assert pe["prompts"] <= len(rated) <= 2 * pe["prompts"]


def test_no_policy_eval_when_turned_off_in_the_config(openai_env, version, tmp_path, tiny_model, capsys):
    run, out = _train(tmp_path, version, tiny_model, capsys, eval_prompts=0)
    assert run.final_eval["policy_eval"] == {
        "win_rate": None,
        "reason": "turned off in the config (eval_prompts = 0)",
    }
    assert "policy eval: no win rate (turned off" in out
