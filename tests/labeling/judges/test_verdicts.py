"""Parsing, verdict invariants, position debiasing, replay and ensembles."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from labeling.judges import (
    JudgeConfig,
    JudgeError,
    JudgeItem,
    MemoryCallCache,
    Provenance,
    ShownChoice,
    SqliteCallCache,
    Verdict,
    build_judge,
    debias,
    request_key,
    spread,
    verdict_from_record,
    winners_differ,
)
from labeling.judges.ensemble import EnsembleJudge
from labeling.judges.parsing import (
    distribution_from_logprobs,
    parse_score_text,
    parse_verdict_text,
)
from labeling.judges.replay import ReplayJudge
from labeling.records import Choice, Order, RecordedVerdict, VerdictStatus

PROV = Provenance(backend="test", model="m")


def ok(key: str, p_first: float, choice: ShownChoice) -> Verdict:
    return Verdict(key=key, status=VerdictStatus.OK, p_first=p_first, choice=choice, provenance=PROV)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", ShownChoice.FIRST),
        (" **2**\nbecause", ShownChoice.SECOND),
        ("Tie.", ShownChoice.TIE),
        ("Response 1", None),
        ("12", None),
        ("", None),
        ("1 and 2", None),
    ],
)
def test_verdict_text_is_parsed_strictly(text, expected):
    assert parse_verdict_text(text, allow_tie=True) is expected


def test_tie_is_not_a_verdict_when_the_template_offers_none():
    assert parse_verdict_text("tie", allow_tie=False) is None
    dist = distribution_from_logprobs({"1": math.log(0.3), "tie": math.log(0.6)}, False)
    assert dist == {ShownChoice.FIRST: 1.0, ShownChoice.SECOND: 0.0}


def test_score_text_is_parsed_strictly():
    assert [parse_score_text(t) for t in ("7", "10/10", "**3**", "11", "seven")] == [7, 10, 3, None, None]


def test_verdict_refuses_sentinels():
    with pytest.raises(ValueError, match="inconsistent"):
        Verdict(key="k", status=VerdictStatus.OK, p_first=None, choice=None, provenance=PROV)
    with pytest.raises(ValueError, match="inconsistent"):
        Verdict.failed("k", VerdictStatus.ERROR, "", PROV)


def test_shown_choice_maps_to_pair_terms():
    assert ShownChoice.FIRST.to_pair(Order.BA) is Choice.B
    assert ShownChoice.SECOND.to_pair(Order.AB) is Choice.B
    assert ShownChoice.from_pair(Choice.A, Order.BA) is ShownChoice.SECOND


def test_debias_averages_after_mapping_the_swap_back_and_flags_flips():
    consistent = debias(ok("ab", 0.8, ShownChoice.FIRST), ok("ba", 0.3, ShownChoice.SECOND))
    assert consistent.p_a == pytest.approx(0.75) and consistent.choice is Choice.A
    assert not consistent.flipped
    biased = debias(ok("ab", 0.9, ShownChoice.FIRST), ok("ba", 0.8, ShownChoice.FIRST))
    assert biased.p_a == pytest.approx(0.55) and biased.flipped
    failed = debias(
        ok("ab", 0.9, ShownChoice.FIRST), Verdict.failed("ba", VerdictStatus.ERROR, "HTTP 500", PROV)
    )
    assert failed.status is VerdictStatus.ERROR and failed.p_a is None
    assert failed.error == "order ba: error (HTTP 500)"


def test_replay_returns_recorded_verdicts_and_says_which_are_missing():
    record = RecordedVerdict(
        judge="gpt-4",
        order=Order.BA,
        status=VerdictStatus.OK,
        choice=Choice.A,
        p_first=None,
        rationale="A is right",
    )
    verdict = verdict_from_record("p1:ba", record)
    assert verdict.choice is ShownChoice.SECOND and verdict.p_first == 0.0
    assert verdict.provenance.p_source == "hard" and verdict.rationale == "A is right"
    judge = ReplayJudge(JudgeConfig(name="gpt-4", backend="replay"), recorded={"p1:ba": verdict})
    found, missing = judge.judge([JudgeItem("p1:ba", "q", "x", "y"), JudgeItem("p2", "q", "x", "y")])
    assert found is verdict
    assert missing.status is VerdictStatus.ERROR and "no recorded verdict for 'p2'" in missing.error


def test_ensemble_means_probabilities_and_signals_disagreement():
    item = JudgeItem("k", "q", "x", "y")
    yes = ReplayJudge(
        JudgeConfig(name="yes", backend="replay"), recorded={"k": ok("k", 0.9, ShownChoice.FIRST)}
    )
    no = ReplayJudge(
        JudgeConfig(name="no", backend="replay"), recorded={"k": ok("k", 0.3, ShownChoice.SECOND)}
    )
    both = EnsembleJudge(JudgeConfig(name="both", backend="ensemble"), members=[yes, no])
    [verdict] = both.judge([item])
    assert verdict.p_first == pytest.approx(0.6) and verdict.choice is ShownChoice.FIRST
    assert spread(verdict) == pytest.approx(0.6) and winners_differ(verdict)
    assert verdict.provenance.p_source == "mean:2"
    assert both.stats.cache_hits == 2  # totals are the members' (replay counts hits)


def test_ensemble_built_from_config_needs_members():
    with pytest.raises(JudgeError, match="has no members"):
        build_judge(JudgeConfig(name="empty", backend="ensemble"))


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(JudgeError) as err:
        build_judge(JudgeConfig(name="x", backend="opneai"))
    assert "valid backends: ensemble, hf, openai, replay" in str(err.value)


def test_config_hash_ignores_throughput_settings_but_not_answers():
    base = JudgeConfig(name="j", backend="openai", model="m", params={"temperature": 0})
    faster = JudgeConfig(
        name="j", backend="openai", model="m", params={"temperature": 0, "concurrency": 64, "rpm": 100}
    )
    other = JudgeConfig(
        name="j", backend="openai", model="m", template="pairwise_cot_v1", params={"temperature": 0}
    )
    assert base.config_hash() == faster.config_hash() != other.config_hash()


def test_caches_key_by_the_full_request(tmp_path):
    key = request_key({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert key == request_key({"messages": [{"content": "hi", "role": "user"}], "model": "m"})
    assert key != request_key({"model": "m2", "messages": [{"role": "user", "content": "hi"}]})
    for cache in (MemoryCallCache(), SqliteCallCache(tmp_path / "c.sqlite")):
        assert cache.get(key) is None
        cache.put(key, {"choices": [1]})
        assert cache.get(key) == {"choices": [1]} and len(cache) == 1
    assert SqliteCallCache(tmp_path / "c.sqlite").get(key) == {"choices": [1]}


def test_judges_package_never_imports_django_or_torch_on_import():
    code = (
        "import sys, labeling.judges, labeling.prompts; "
        "print(sorted(m for m in ('django', 'torch', 'transformers') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip() == "[]"


def test_sync_wrappers_work_where_an_event_loop_is_already_running():
    """As in a notebook: judge() inside a running loop must not raise."""
    import asyncio

    from labeling.judges.base import run_sync

    async def inner():
        async def answer():
            return 42

        return run_sync(answer())

    assert asyncio.run(inner()) == 42
