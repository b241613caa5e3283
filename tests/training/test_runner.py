"""Bad input fails before training; cancel and crash keep the last checkpoint; reruns resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_config
from training.errors import ConfigError, EmptyDataset, ModelPathError, TrainingCancelled, TrainingFailed
from training.runner import train


def test_zero_rows_is_an_error_before_any_model_loads(tmp_path):
    with pytest.raises(EmptyDataset, match="no rows to train on"):
        train(load_config("dpo", {"model": "/no/such/model"}), [], tmp_path)
    assert not any(tmp_path.iterdir())


def test_missing_model_path_and_missing_columns(rows, tmp_path):
    with pytest.raises(ModelPathError, match="model path '/no/such/model' does not exist"):
        train(load_config("reward", {"model": "/no/such/model"}), rows, tmp_path)
    with pytest.raises(ConfigError, match="row 0 lacks column"):
        train(load_config("reward", {"model": "/no/such/model"}), [{"prompt": "q"}], tmp_path)


def test_online_methods_need_exactly_one_reward(tiny_model, rows, tmp_path):
    with pytest.raises(ConfigError, match="give exactly one reward"):
        train(load_config("grpo", {"model": tiny_model, "num_generations": 2}), rows, tmp_path)
    with pytest.raises(ConfigError, match="reward_fn is for online methods"):
        train(load_config("dpo", {"model": tiny_model}), rows, tmp_path, reward_fn=lambda p, c: [0.0])


def test_one_source_only_is_fine(tiny_model, rows, tmp_path):
    only_ai = [r for r in rows if r["source"] == "ai"]
    result = train(load_config("reward", {"model": tiny_model, "max_steps": 1}), only_ai, tmp_path)
    assert result.status == "succeeded"


def test_cancel_saves_a_checkpoint_and_stops(tiny_model, rows, tmp_path):
    steps = []
    config = load_config("reward", {"model": tiny_model, "max_steps": 50, "save_steps": 100})
    with pytest.raises(TrainingCancelled) as caught:
        train(
            config,
            rows,
            tmp_path,
            on_metrics=lambda s, m: steps.append(s),
            should_cancel=lambda: len(steps) >= 2,
        )
    # asked after step 2's metrics were logged: step 3 finishes, is saved, and nothing runs after it
    assert Path(caught.value.last_checkpoint).name == "checkpoint-3"
    assert max(steps) == 3


def test_a_run_that_dies_keeps_its_last_checkpoint_and_a_rerun_resumes(tiny_model, rows, tmp_path):
    def crash_at_5(step, metrics):
        if step == 5:
            raise RuntimeError("GPU fell off the bus")

    config = load_config("reward", {"model": tiny_model, "max_steps": 6, "save_steps": 2})
    with pytest.raises(TrainingFailed, match="GPU fell off the bus") as caught:
        train(config, rows, tmp_path, on_metrics=crash_at_5)
    assert Path(caught.value.last_checkpoint).name == "checkpoint-4"
    assert caught.value.code == "training_failed"
    resumed = train(config, rows, tmp_path)
    assert [m["step"] for m in resumed.metrics if "loss" in m] == [5.0, 6.0]
