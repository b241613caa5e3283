"""The openai backend against a real OpenAI-compatible server: llama.cpp serving SmolLM2.

The fake endpoint (tests/openai_endpoint.py) plays the faults a real server cannot be made to
produce; these tests prove the backend reads what a real server actually sends: its
`top_logprobs` for the verdict token, its token usage, its `/v1/models` listing.
"""

from __future__ import annotations

import asyncio

import pytest

from labeling.judges import JudgeError, JudgeItem, ScoreItem, SqliteCallCache, build_judge
from labeling.judges.base import JudgeConfig
from labeling.records import VerdictStatus
from tests.conftest import LLAMA_ALIAS

ITEMS = [
    JudgeItem(key="capital", prompt="What is the capital of France?", first="Paris.", second="Berlin."),
    JudgeItem(key="sum", prompt="What is 2 + 2?", first="5", second="4"),
    JudgeItem(key="greet", prompt="Say hello in Spanish.", first="Hola.", second="Bonjour."),
]


@pytest.fixture
def llama_env(monkeypatch, llama_server):
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")  # llama.cpp accepts any key
    return llama_server


def config(**params) -> JudgeConfig:
    return JudgeConfig(
        name="llama",
        backend="openai",
        model=LLAMA_ALIAS,
        params={"timeout_s": 60.0, "concurrency": 2, "prices": {LLAMA_ALIAS: {"input": 0.1, "output": 0.2}}}
        | params,
    )


def test_soft_labels_come_from_the_servers_logprobs(llama_env):
    judge = build_judge(config())
    judge.check_sync()  # /v1/models lists the alias
    verdicts = judge.judge(ITEMS)
    assert [v.status for v in verdicts] == [VerdictStatus.OK] * 3
    for verdict in verdicts:
        prov = verdict.provenance
        # a real distribution over the verdict tokens, not a hard 0/1 from the text
        assert 0.0 < verdict.p_first < 1.0
        assert (prov.p_source, prov.backend, prov.model, prov.calls) == ("logprobs", "openai", LLAMA_ALIAS, 1)
        assert prov.prompt_tokens > 50 and prov.completion_tokens == 1  # the server's own usage
        assert prov.cost == pytest.approx((prov.prompt_tokens * 0.1 + 0.2) / 1e6)
        assert prov.latency_s > 0 and len(prov.cache_key) == 64
    assert judge.stats.calls == 3 and judge.stats.errors == 0


def test_a_rerun_is_answered_from_the_cache_with_identical_probabilities(llama_env, tmp_path):
    cache = tmp_path / "calls.sqlite"
    fresh = build_judge(config(), SqliteCallCache(cache)).judge(ITEMS[:2])
    again = build_judge(config(), SqliteCallCache(cache))
    replayed = again.judge(ITEMS[:2])
    assert again.stats.calls == 0 and again.stats.cache_hits == 2 and again.stats.cost == 0
    assert [v.p_first for v in replayed] == [v.p_first for v in fresh]


def test_greedy_verdicts_are_deterministic_across_calls(llama_env):
    """temperature 0 against the same server: the same probabilities twice (no cache)."""
    first = build_judge(config()).judge(ITEMS[:1])
    second = build_judge(config()).judge(ITEMS[:1])
    assert first[0].p_first == pytest.approx(second[0].p_first, abs=1e-6)


def test_an_unknown_model_fails_at_start_and_names_the_served_one(llama_env):
    wrong = JudgeConfig(name="typo", backend="openai", model="smollm2-typo", params={"timeout_s": 30.0})
    with pytest.raises(JudgeError) as err:
        build_judge(wrong).check_sync()
    assert err.value.setting == "model" and LLAMA_ALIAS in str(err.value)


def test_direct_scores_are_a_distribution_over_1_to_10(llama_env):
    judge = build_judge(
        JudgeConfig(
            name="s", backend="openai", model=LLAMA_ALIAS, template="score_v1", params={"timeout_s": 60.0}
        )
    )
    [score] = asyncio.run(
        judge.score_batch([ScoreItem(key="s", prompt="What is the capital of France?", response="Paris.")])
    )
    assert score.status is VerdictStatus.OK, score.error
    assert sum(score.distribution.values()) == pytest.approx(1.0)
    assert 1.0 <= score.mean <= 10.0 and -1.0 <= score.reward <= 1.0
    assert score.reward == pytest.approx((score.mean - 5.5) / 4.5)


def test_the_server_build_runs_on_any_x86_64_server_cpu():
    """`make llama` builds llama.cpp with GGML_NATIVE=OFF: no AVX-512 (zmm registers) and no AMX
    (tile) instruction, which VMs may advertise without allowing (the native build died on its
    first completion there). A natively built wheel reused from a cache fails this."""
    import platform
    import shutil
    import subprocess

    from scripts.services import LLAMA_PYTHON

    if platform.machine() != "x86_64":
        pytest.skip("the instruction check is for x86_64 builds")
    assert shutil.which("objdump"), "objdump (binutils) is needed to read the build"
    found = sorted(LLAMA_PYTHON.parents[1].glob("lib/python3*/site-packages/llama_cpp/lib/libggml-cpu.so"))
    assert found, f"no libggml-cpu.so under {LLAMA_PYTHON.parents[1]}: run `make llama`"
    cpu = found[0]
    code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(cpu)], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert "ymm" in code  # AVX2 is used: the build is not a slow generic one
    assert "zmm" not in code
    assert not any(op in code for op in ("ldtilecfg", "tdpbssd", "tdpbf16ps"))
