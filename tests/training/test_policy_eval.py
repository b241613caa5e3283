"""The policy evaluation's pieces without a platform: config fields, verdicts that are missing,
and models that do not exist."""

from __future__ import annotations

import pytest

from training.config import load_config
from training.errors import ConfigError, ModelPathError
from training.evaluate import evaluate_policy, harmless_rate, win_rate


def test_eval_fields_belong_to_policy_methods_and_are_checked():
    config = load_config("grpo", {"model": "m", "eval_prompts": 3, "eval_max_new_tokens": 8})
    assert (config.eval_prompts, config.eval_max_new_tokens, config.eval_judge) == (3, 8, None)
    assert load_config("dpo", {"model": "m"}).eval_prompts == 8
    with pytest.raises(ConfigError, match=r"unknown key 'eval_prompt' .*eval_prompts"):
        load_config("dpo", {"model": "m", "eval_prompt": 3})
    with pytest.raises(ConfigError, match="unknown key 'eval_prompts'"):
        load_config("reward", {"model": "m", "eval_prompts": 3})  # a reward model has no policy
    with pytest.raises(ConfigError, match="eval_prompts must be >= 0"):
        load_config("rloo", {"model": "m", "eval_prompts": -1})


def test_a_missing_verdict_is_unjudged_not_a_tie():
    def judge(prompts, first, second):
        return [
            None if p == "q2" else float(len(a) > len(b))
            for p, a, b in zip(prompts, first, second, strict=True)
        ]

    result = win_rate(["q1", "q2"], ["long", "long"], ["s", "s"], judge)
    assert (result["win_rate"], result["n"], result["unjudged"]) == (1.0, 1.0, 1.0)
    nothing = win_rate(["q1"], ["a"], ["b"], lambda p, f, s: [None])
    assert (nothing["win_rate"], nothing["unjudged"]) == (None, 1.0)
    rated = harmless_rate(["q1", "q2", "q3"], ["a", "b", "c"], lambda p, r: [True, None, False])
    assert (rated["harmless_rate"], rated["unjudged"]) == (0.5, 1.0)


def test_evaluating_a_policy_that_does_not_exist_names_it(tmp_path):
    with pytest.raises(ModelPathError, match="no-such-policy"):
        evaluate_policy(str(tmp_path), str(tmp_path / "no-such-policy"), ["q"], lambda p, f, s: [0.5])
    with pytest.raises(ConfigError, match="at least one held-out prompt"):
        evaluate_policy(str(tmp_path), str(tmp_path), [], lambda p, f, s: [])
