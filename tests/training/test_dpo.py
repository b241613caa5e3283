"""DPO: weights and soft labels live in the data; the run trains and its model loads."""

from __future__ import annotations

from training.config import load_config
from training.dpo import dpo_rows, flip_by_probability, resample_by_weight
from training.runner import train


def test_equal_weights_and_hard_labels_leave_rows_untouched(rows):
    hard = [dict(r, p_chosen=1.0, weight=1.0) for r in rows]
    assert dpo_rows(hard, load_config("dpo", {"model": "m"})) == hard


def test_resampling_follows_weights_and_flipping_follows_one_minus_p():
    rows = [{"pair_id": "heavy", "weight": 3.0}, {"pair_id": "light", "weight": 1.0}]
    drawn = resample_by_weight(rows, seed=0, n=4000)
    share = sum(r["pair_id"] == "heavy" for r in drawn) / len(drawn)
    assert 0.72 < share < 0.78
    soft = [{"chosen": "c", "rejected": "r", "p_chosen": 0.8}] * 4000
    flipped = flip_by_probability(soft, seed=0)
    share = sum(r["chosen"] == "r" for r in flipped) / len(flipped)
    assert 0.17 < share < 0.23
    assert flip_by_probability(soft, seed=0) == flipped


def test_dpo_trains_and_the_policy_loads(tiny_model, rows, tmp_path):
    from transformers import AutoModelForCausalLM

    config = load_config(
        "dpo",
        {
            "model": tiny_model,
            "max_steps": 4,
            "per_device_train_batch_size": 4,
            "loss_type": "robust",
            "label_smoothing": 0.1,
        },
    )
    train_rows, held_out = rows[:16], rows[16:24]
    assert not {r["pair_id"] for r in train_rows} & {r["pair_id"] for r in held_out}
    result = train(config, train_rows, tmp_path, eval_rows=held_out)
    losses = [m["loss"] for m in result.metrics if "loss" in m]
    assert losses[-1] < losses[0]
    # On pairs it never trained on, the policy already prefers the polite answer more than the
    # reference does (the margin is the DPO reward of chosen over rejected).
    assert result.final_eval["eval_rewards/margins"] > 0
    assert AutoModelForCausalLM.from_pretrained(result.artifacts["model"]).config.num_hidden_layers == 2
