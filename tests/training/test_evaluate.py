"""Metrics with fake judges: both orders cancel position bias; lengths sit beside win rates."""

from __future__ import annotations

import pytest

from training.errors import ConfigError, EmptyDataset
from training.evaluate import harmless_rate, reward_model_accuracy, win_rate


def test_a_judge_that_always_prefers_the_first_response_gives_a_half_win_rate():
    result = win_rate(["q1", "q2"], ["long answer", "x"], ["a", "bb"], lambda p, f, s: [1.0] * len(p))
    assert result["win_rate"] == 0.5
    assert (result["avg_len_policy"], result["avg_len_baseline"]) == (6.0, 1.5)


def test_a_length_loving_judge_shows_up_with_lengths_beside_it():
    def judge(prompts, first, second):
        return [1.0 if len(a) > len(b) else 0.0 for a, b in zip(first, second, strict=True)]

    result = win_rate(["q1", "q2"], ["longer", "longer"], ["s", "s"], judge)
    assert result["win_rate"] == 1.0
    assert result["avg_len_policy"] > result["avg_len_baseline"]


def test_reward_accuracy_counts_human_rows_only_and_ties_half():
    rows = [
        {"prompt": "q", "chosen": "good", "rejected": "bad", "source": "human"},
        {"prompt": "q", "chosen": "same", "rejected": "same", "source": "both"},
        {"prompt": "q", "chosen": "bad", "rejected": "good", "source": "ai"},
    ]
    result = reward_model_accuracy(lambda p, r: [float(x == "good") for x in r], rows)
    assert result == {"accuracy": 0.75, "n": 2.0, "ties": 1.0}
    with pytest.raises(EmptyDataset):
        reward_model_accuracy(lambda p, r: [0.0] * len(r), rows[2:])


def test_harmless_rate_and_a_judge_returning_the_wrong_count():
    result = harmless_rate(["a", "b"], ["ok", "bad"], lambda p, r: [x == "ok" for x in r])
    assert result["harmless_rate"] == 0.5
    with pytest.raises(ConfigError, match="judge returned 1 values for 2 items"):
        win_rate(["q1", "q2"], ["a", "b"], ["c", "d"], lambda p, f, s: [1.0])


def test_training_never_imports_django():
    import subprocess
    import sys

    code = (
        "import sys, training.blend, training.export, training.config, training.runner, "
        "training.evaluate;"
        "print(any(m.split('.')[0] in ('django', 'tandem') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
