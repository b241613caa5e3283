"""`manage.py judge` end to end against a real OpenAI-compatible server (llama.cpp + SmolLM2)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from tandem.core import services
from tandem.core.models import JudgeCall, Judgment
from tests.conftest import LLAMA_ALIAS

pytestmark = pytest.mark.django_db(transaction=True)

PAIRS = [
    ("What is the capital of France?", "Paris.", "Berlin."),
    ("What is 2 + 2?", "4", "5"),
    ("Name a primary colour.", "Red.", "Purple."),
    ("Translate 'thank you' to French.", "Merci.", "Danke."),
]


def judge(project, **opts) -> dict:
    out = io.StringIO()
    call_command("judge", project=project.name, judge="local-server", json=True, stdout=out, **opts)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_judge_command_labels_every_pair_in_both_orders_and_a_rerun_pays_nothing(
    monkeypatch, settings, llama_server, tmp_path
):
    monkeypatch.setenv("LOCAL_JUDGE_KEY", "sk-local")
    # The operator defines the endpoint; the project names it.
    settings.TANDEM_JUDGE_PROVIDERS = json.dumps(
        {
            "local": {
                "base_url": llama_server.base_url,
                "api_key_env": "LOCAL_JUDGE_KEY",
                "models": [LLAMA_ALIAS],
            }
        }
    )
    project = services.create_project("llama")
    project.judge_config = {
        "judges": {
            "local-server": {
                "backend": "openai",
                "model": LLAMA_ALIAS,
                "params": {"provider": "local", "timeout_s": 60},
            }
        }
    }
    project.save()
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": p, "response_a": a, "response_b": b}) + "\n" for p, a, b in PAIRS)
    )
    services.import_pairs(project, path, "pairs")

    first = judge(project, limit=3)
    assert (first["judged"], first["errors"], first["cache_hits"]) == (6, 0, 0)
    assert first["calls"] == 6 and first["tokens"] > 6 * 50
    rows = Judgment.objects.filter(pair__project=project, judge="local-server")
    assert sorted(rows.values_list("order", flat=True)) == ["ab"] * 3 + ["ba"] * 3
    for row in rows:
        assert 0.0 < row.p_first < 1.0 and row.status == Judgment.Status.OK
        assert (row.detail["p_source"], row.backend, row.model) == ("logprobs", "openai", LLAMA_ALIAS)
        assert row.prompt_tokens > 50 and row.completion_tokens == 1 and len(row.cache_key) == 64
        assert "sk-local" not in json.dumps([row.params, row.detail])
        assert row.detail["endpoint"] == f"local@{llama_server.base_url}"

    # The rest of the project: only the fourth pair is new; nothing already judged is paid again.
    calls_before = JudgeCall.objects.count()
    rest = judge(project)
    assert (rest["judged"], rest["skipped"], rest["calls"]) == (2, 6, 2)
    assert JudgeCall.objects.count() == calls_before + 2
    assert rows.all().count() == 8  # a fresh query: `rows` was evaluated above
