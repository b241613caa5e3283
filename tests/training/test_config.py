"""Config files: strict keys, CPU-safe TRL arguments, rules TRL would apply silently."""

from __future__ import annotations

import pytest

from training.config import load_config
from training.errors import ConfigError


def test_unknown_key_names_it_and_lists_valid_keys(tmp_path):
    path = tmp_path / "dpo.toml"
    path.write_text('model = "m"\nlearning_rat = 0.1\n')
    expected = r"unknown key 'learning_rat' in .*dpo.toml; valid keys: .*learning_rate"
    with pytest.raises(ConfigError, match=expected):
        load_config("dpo", path)


def test_a_misspelled_key_gets_the_closest_valid_one(tmp_path):
    with pytest.raises(ConfigError, match=r"did you mean 'learning_rate'\?"):
        load_config("dpo", {"model": "m", "learning_rat": 0.1})


def test_a_wrong_type_names_the_key_and_the_expected_type():
    # Before: `"ten" <= 0` raised deep inside the range check with no key named.
    with pytest.raises(ConfigError, match=r"max_steps: expected integer, got 'ten'"):
        load_config("reward", {"model": "m", "max_steps": "ten"})
    with pytest.raises(ConfigError, match=r"use_lora: expected true/false, got 1"):
        load_config("dpo", {"model": "m", "use_lora": 1})


def test_unknown_method_and_missing_model():
    with pytest.raises(ConfigError, match="unknown training method 'sft'; valid methods: reward, dpo, ppo"):
        load_config("sft", {"model": "m"})
    with pytest.raises(ConfigError, match="`model` is required"):
        load_config("reward", {})


def test_cpu_defaults_reach_the_trl_config(tmp_path):
    args = load_config("reward", {"model": "m"}).to_trl(tmp_path)
    assert (args.use_cpu, args.bf16, args.activation_checkpointing) == (True, False, False)
    assert args.learning_rate == 5e-4
    assert args.remove_unused_columns is False


def test_label_smoothing_with_the_sigmoid_loss_is_refused_since_trl_ignores_it():
    with pytest.raises(ConfigError, match=r"label_smoothing=0\.1 is ignored by loss_type"):
        load_config("dpo", {"model": "m", "label_smoothing": 0.1})
    config = load_config("dpo", {"model": "m", "label_smoothing": 0.1, "loss_type": "robust"})
    assert config.method_kwargs()["loss_type"] == ["robust"]


def test_online_methods_need_a_kl_penalty_and_a_sound_group_size():
    with pytest.raises(ConfigError, match=r"beta .* must be > 0"):
        load_config("grpo", {"model": "m", "beta": 0.0})
    with pytest.raises(ConfigError, match="num_generations=3 must be >= 2 and divide"):
        load_config("rloo", {"model": "m", "num_generations": 3})


def test_trl_args_pass_through_but_are_checked(tmp_path):
    config = load_config("grpo", {"model": "m", "trl_args": {"top_p": 0.9}})
    assert config.to_trl(tmp_path).top_p == 0.9
    with pytest.raises(ConfigError, match="unknown key 'top_pp' in grpo config trl_args"):
        load_config("grpo", {"model": "m", "trl_args": {"top_pp": 0.9}}).to_trl(tmp_path)


def test_ppo_episodes_follow_max_steps(tmp_path):
    config = load_config("ppo", {"model": "m", "max_steps": 3, "per_device_train_batch_size": 2})
    args = config.to_trl(tmp_path)
    assert (args.total_episodes, args.kl_coef, args.num_sample_generations) == (6, 0.05, 0)


def test_shipped_accelerate_configs_parse():
    from pathlib import Path

    import yaml

    folder = Path(__file__).resolve().parents[2] / "training" / "accelerate"
    found = {p.stem: yaml.safe_load(p.read_text()) for p in folder.glob("*.yaml")}
    assert set(found) == {"single_gpu", "ddp", "fsdp", "zero2", "zero3"}
    assert found["fsdp"]["fsdp_config"]["fsdp_version"] == 2
    assert found["zero3"]["deepspeed_config"]["zero_stage"] == 3


def test_older_transformers_get_checkpointing_under_its_old_name(tmp_path):
    # transformers 5.17 (seen on a GPU machine) has gradient_checkpointing, not
    # activation_checkpointing: every run failed at start with "unexpected keyword argument".
    import dataclasses

    from trl import RewardConfig

    fields = [
        (f.name, f.type, f) for f in dataclasses.fields(RewardConfig) if f.name != "activation_checkpointing"
    ]
    older = dataclasses.make_dataclass("OlderRewardConfig", fields)
    config = load_config("reward", {"model": "m", "activation_checkpointing": True})
    config.trl_config_class = lambda: older
    args = config.to_trl(tmp_path)
    assert args.gradient_checkpointing is True
    assert not hasattr(args, "activation_checkpointing")
