"""Candidates from an OpenAI-compatible policy endpoint, and critique-and-revise, end to end
through `manage.py generate` (a real HTTP server speaking the OpenAI API; a tiny local model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from labeling.prompts import released_hashes
from tandem.core import services
from tandem.core.models import Pair
from tests.openai_endpoint import API_KEY, POLICY_MODEL

pytestmark = pytest.mark.django_db


def _prompts(tmp_path, *texts):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": t, "category": "demo"}) + "\n" for t in texts))
    return str(path)


def _policy_requests(fake, text):
    """The policy requests whose messages contain `text` (the fake endpoint lives for the session)."""
    return [r for r in fake.requests if r.get("model") == POLICY_MODEL and text in json.dumps(r["messages"])]


def test_endpoint_policy_samples_n_per_prompt_imports_pairs_and_resumes(
    openai_env, tmp_path, capsys, settings
):
    settings.VAR_DIR = tmp_path / "var"
    prompts = _prompts(tmp_path, "Name a fruit.", "Name a colour, resumably.")
    call_command(
        "generate", project="g", prompts=prompts, policy=f"openai:{POLICY_MODEL}", n=3, create_project=True
    )
    assert "2 prompts (2 sampled now)" in capsys.readouterr().out
    pairs = Pair.objects.filter(project__name="g")
    assert pairs.count() == 6  # 3 distinct replies per prompt: 3 pairs each
    assert {p.model_a for p in pairs} == {POLICY_MODEL}
    assert {p.response_a for p in pairs if p.prompt == "Name a fruit."} <= {
        f"Reply 0.{i} to: Name a fruit." for i in range(3)
    }
    sent = _policy_requests(openai_env, "Name a fruit.") + _policy_requests(openai_env, "resumably")
    assert [r["n"] for r in sent] == [3, 3] and all(r["max_tokens"] == 96 for r in sent)
    call_command("generate", project="g", prompts=prompts, policy=f"openai:{POLICY_MODEL}", n=3, json=True)
    again = json.loads(capsys.readouterr().out)
    assert again["sampled_now"] == 0 and again["import"]["created"] == 0
    assert len(_policy_requests(openai_env, "Name a")) == 2  # nothing sent twice


def test_a_server_that_ignores_n_is_asked_again_with_the_next_seed(openai_env, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    prompts = _prompts(tmp_path, "SCENARIO=ignore-n say hi")
    call_command(
        "generate", project="g", prompts=prompts, policy=f"openai:{POLICY_MODEL}", n=3, create_project=True
    )
    assert [r["seed"] for r in _policy_requests(openai_env, "ignore-n say hi")] == [0, 1, 2]
    assert Pair.objects.filter(project__name="g").count() == 3


def test_base_url_flag_and_a_missing_key_named_without_printing_any_key(
    fake_openai, tmp_path, monkeypatch, settings
):
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("POLICY_KEY", raising=False)
    prompts = _prompts(tmp_path, "Name a fruit, with a key of my own.")
    services.create_project("g")
    before = len(fake_openai.requests)
    with pytest.raises(CommandError, match="set POLICY_KEY") as err:
        call_command(
            "generate",
            project="g",
            prompts=prompts,
            policy=f"openai:{POLICY_MODEL}",
            base_url=fake_openai.base_url,
            api_key_env="POLICY_KEY",
        )
    assert API_KEY not in str(err.value) and len(fake_openai.requests) == before
    monkeypatch.setenv("POLICY_KEY", API_KEY)
    with pytest.raises(CommandError, match=r"'no-such-model' is not served .* policy-model"):
        call_command(
            "generate", project="g", prompts=prompts, policy="openai:no-such-model",
            base_url=fake_openai.base_url, api_key_env="POLICY_KEY",
        )  # fmt: skip
    call_command(
        "generate", project="g", prompts=prompts, policy=f"openai:{POLICY_MODEL}",
        base_url=fake_openai.base_url, api_key_env="POLICY_KEY",
    )  # fmt: skip
    assert Pair.objects.filter(project__name="g").count() == 1


@pytest.fixture
def rated_project(tmp_path):
    project = services.create_project("rev", rubric="Be polite and name a real fruit.")
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        json.dumps({"prompt": "Name a fruit.", "response_a": "Apple.", "response_b": "No.", "model_a": "m1"})
        + "\n"
        + json.dumps({"prompt": "Name a fruit.", "response_a": "Apple.", "response_b": "Go away."})
        + "\n"
    )
    services.import_pairs(project, path, "pairs")
    return project


def test_revise_with_an_endpoint_critic_and_policy_stores_revisions_with_provenance(
    openai_env, rated_project, tmp_path, capsys, settings
):
    settings.VAR_DIR = tmp_path / "var"
    judge = tmp_path / "critic.json"
    judge.write_text(json.dumps({"backend": "openai", "model": "judge-model"}))
    call_command("generate", project="rev", revise=True, judge=str(judge), policy=f"openai:{POLICY_MODEL}")
    out = capsys.readouterr().out
    assert "3 responses (3 revised now, 0 unchanged)" in out  # "Apple." appears twice, revised once
    revised = Pair.objects.filter(project=rated_project, metadata__has_key="revision").order_by("id")
    assert revised.count() == 3
    first = revised[0]
    assert (first.response_a, first.model_a, first.model_b) == ("Apple.", "m1", f"{POLICY_MODEL} (revised)")
    provenance = first.metadata["revision"]
    assert provenance["critique"] == "Response 1 answers the question; response 2 does not."
    assert provenance["critique_template_sha256"] == released_hashes()["critique_v1"]
    assert provenance["revise_template_sha256"] == released_hashes()["revise_v1"]
    assert (provenance["critic"], provenance["policy"]) == ("judge-model", POLICY_MODEL)
    # The critic saw the project's rubric; the policy saw the critique, fenced.
    critic_asks = [r for r in openai_env.requests if r.get("model") == "judge-model" and "messages" in r]
    assert "Be polite and name a real fruit." in critic_asks[0]["messages"][1]["content"]
    revise_ask = _policy_requests(openai_env, "Rewrite the response below")[0]["messages"][1]["content"]
    assert "<critique>\nResponse 1 answers the question" in revise_ask
    assert first.response_b.startswith("Reply 0.0 to: Rewrite the response below")
    calls = len(openai_env.requests)
    call_command("generate", project="rev", revise=True, judge=str(judge), policy=f"openai:{POLICY_MODEL}")
    assert "0 revised now" in capsys.readouterr().out
    assert len(openai_env.requests) == calls and revised.count() == 3  # resumed: nothing redone


def test_revise_with_a_local_model_keeps_no_pair_for_an_empty_revision(
    rated_project, tmp_path, tiny_model, capsys, settings
):
    """The tiny random model answers greedily with nothing: the record is kept (so a re-run does
    not ask again) but no pair is made from an empty revision."""
    settings.VAR_DIR = tmp_path / "var"
    judge = tmp_path / "critic.json"
    judge.write_text(json.dumps({"backend": "hf", "model": tiny_model}))
    options = {"project": "rev", "revise": True, "judge": str(judge), "policy": tiny_model, "limit": 1}
    call_command("generate", **options, slots="b", json=True)
    result = json.loads(capsys.readouterr().out)
    assert (result["responses"], result["revised_now"], result["unchanged"]) == (1, 1, 1)
    assert result["import"]["created"] == 0
    assert not Pair.objects.filter(project=rated_project, metadata__has_key="revision").exists()
    record = json.loads(Path(result["revisions_file"]).read_text())
    assert record["item"]["response"] == "No." and record["revised"] == ""
    call_command("generate", **options, slots="b", json=True)
    assert json.loads(capsys.readouterr().out)["revised_now"] == 0


def test_revise_refuses_a_judge_that_cannot_write(rated_project, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    judge = tmp_path / "replay.json"
    judge.write_text(json.dumps({"backend": "replay", "model": "recorded"}))
    with pytest.raises(CommandError, match="cannot write critiques; use a judge on the openai or hf backend"):
        call_command("generate", project="rev", revise=True, judge=str(judge), policy="openai:x")
