"""Soft-label reward model: equal to TRL's loss on hard labels, and it trains."""

from __future__ import annotations

import math

import pytest
import torch

from training.config import load_config
from training.reward import SoftPreferenceCollator, SoftRewardTrainer, reward_dataset, soft_preference_loss
from training.runner import train


def test_soft_loss_formula_and_weighting():
    rc, rr = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    half = soft_preference_loss(rc, rr, torch.tensor([0.5, 0.5]))
    sig = 1 / (1 + math.exp(-2.0))
    expected = (-(0.5 * math.log(sig) + 0.5 * math.log(1 - sig)) + math.log(2)) / 2
    assert half.item() == pytest.approx(expected, rel=1e-5)
    only_first = soft_preference_loss(rc, rr, None, torch.tensor([1.0, 0.0]))
    assert only_first.item() == pytest.approx(-math.log(sig), rel=1e-5)


def test_soft_loss_equals_the_stock_trl_loss_with_hard_labels_and_unit_weights(tiny_model, rows, tmp_path):
    from trl import RewardTrainer

    from training.models import load_scalar_head, load_tokenizer

    config = load_config("reward", {"model": tiny_model})
    tokenizer = load_tokenizer(tiny_model)
    model = load_scalar_head(tiny_model, tokenizer)
    hard = [dict(r, p_chosen=1.0, weight=1.0) for r in rows[:8]]
    ours = SoftRewardTrainer(
        model=model,
        args=config.to_trl(tmp_path / "a"),
        processing_class=tokenizer,
        train_dataset=reward_dataset(hard, config),
        data_collator=SoftPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
    )
    stock = RewardTrainer(
        model=model,
        args=config.to_trl(tmp_path / "b"),
        processing_class=tokenizer,
        train_dataset=reward_dataset(
            hard, load_config("reward", {"model": tiny_model, "soft_labels": False, "use_weights": False})
        ),
    )
    batch = ours.data_collator([ours.train_dataset[i] for i in range(8)])
    assert set(batch) >= {"p_chosen", "weight"}
    stock_batch = stock.data_collator([stock.train_dataset[i] for i in range(8)])
    assert torch.equal(batch["input_ids"], stock_batch["input_ids"])
    with torch.no_grad():
        assert ours.compute_loss(model, dict(batch)).item() == pytest.approx(
            stock.compute_loss(model, dict(stock_batch)).item(), abs=1e-6
        )


def test_reward_model_trains_on_soft_weighted_rows_and_loads(tiny_model, rows, tmp_path):
    from transformers import AutoModelForSequenceClassification

    config = load_config("reward", {"model": tiny_model, "max_steps": 8})
    seen = []
    result = train(config, rows, tmp_path, eval_rows=rows[1:8:2], on_metrics=lambda s, m: seen.append(s))
    losses = [m["loss"] for m in result.metrics if "loss" in m]
    assert losses[-1] < losses[0] - 0.1
    assert seen[:3] == [1, 2, 3]
    assert result.final_eval["accuracy"] == 1.0
    assert result.final_eval["n"] == 4.0
    loaded = AutoModelForSequenceClassification.from_pretrained(result.artifacts["model"])
    assert loaded.config.num_labels == 1


def test_reward_model_with_lora_saves_an_adapter_that_loads(tiny_model, rows, tmp_path):
    from peft import AutoPeftModelForSequenceClassification

    config = load_config("reward", {"model": tiny_model, "max_steps": 3, "use_lora": True, "lora_r": 4})
    result = train(config, rows, tmp_path)
    assert [m["step"] for m in result.metrics if "loss" in m] == [1.0, 2.0, 3.0]
    model = AutoPeftModelForSequenceClassification.from_pretrained(result.artifacts["model"], num_labels=1)
    assert model.peft_config["default"].r == 4
