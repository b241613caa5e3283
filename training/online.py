"""Online RL with a KL penalty to the starting policy: PPO, RLOO and GRPO.

The reward is either a trained reward model (`config.reward_model`) or a callable the caller
passes, typically the AI judge's direct 1-10 score (d-RLAIF). One protocol covers both:

    RewardFunction: f(prompts: list[str], completions: list[str]) -> list[float]

RLOO / GRPO take it as a TRL reward function (adapted here to TRL's keyword signature). A
reward model is wrapped the same way, scoring prompt + completion + EOS exactly as the reward
trainer saw its pairs (TRL would score it without the EOS). PPO (TRL 1.12's experimental
trainer) wants a model with a scalar head; a callable is adapted by `JudgeRewardModel`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch

from training.config import GroupTrainingConfig, OnlineTrainingConfig, PPOTrainingConfig
from training.errors import ConfigError
from training.models import load_policy, load_scalar_head, load_tokenizer, resolve_model, save_artifact
from training.reward import score
from training.runner import TrainResult, check_rows, execute, make_callbacks


class RewardFunction(Protocol):
    def __call__(self, prompts: list[str], completions: list[str]) -> list[float]: ...


def reward_model_function(model: Any, tokenizer: Any) -> RewardFunction:
    """A RewardFunction backed by a reward model, scored as in reward training."""

    def reward_model(prompts: list[str], completions: list[str]) -> list[float]:
        return score(model, tokenizer, prompts, completions)

    return reward_model


def as_trl_reward(fn: RewardFunction, name: str = "reward") -> Callable[..., list[float]]:
    """TRL's reward-function signature (keyword arguments, extra columns) around `fn`; checks
    that one finite number comes back per completion."""

    def reward(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        values = [float(v) for v in fn(list(prompts), list(completions))]
        if len(values) != len(completions):
            raise ConfigError(
                f"reward function returned {len(values)} values for {len(completions)} completions"
            )
        return values

    reward.__name__ = name
    return reward


def unique_prompts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({r["prompt"] for r in rows})


def _reward_source(config: OnlineTrainingConfig, reward_fn: RewardFunction | None) -> str | None:
    """The reward model's resolved path, or None with a reward function; exactly one of them."""
    if (config.reward_model is None) == (reward_fn is None):
        raise ConfigError(
            f"{config.method}: give exactly one reward: config.reward_model (a trained reward "
            "model's path) or a reward function f(prompts, completions) -> list[float]"
        )
    return resolve_model(config.reward_model) if config.reward_model else None


def _finish(method: str, trainer: Any, tokenizer: Any, output_dir: Path, metrics: list) -> TrainResult:
    model = getattr(trainer, "policy_model", None) or trainer.model
    final = save_artifact(model, tokenizer, output_dir / "final")
    return TrainResult(method=method, status="succeeded", metrics=metrics, artifacts={"model": str(final)})


def _train_group(
    trainer_cls: type,
    config: GroupTrainingConfig,
    rows: Sequence[Mapping[str, Any]],
    output_dir: Path,
    on_metrics: Callable | None,
    should_cancel: Callable | None,
    reward_fn: RewardFunction | None,
) -> TrainResult:
    from datasets import Dataset

    clean = check_rows(rows)
    reward_path = _reward_source(config, reward_fn)
    source = resolve_model(config.model)
    args = config.to_trl(output_dir)
    tokenizer = load_tokenizer(source, padding_side="left")
    if reward_path is not None:
        reward_tokenizer = load_tokenizer(reward_path)
        reward_fn = reward_model_function(load_scalar_head(reward_path, reward_tokenizer), reward_tokenizer)
        name = "reward_model"
    else:
        name = getattr(reward_fn, "__name__", "judge")
    metrics: list[dict[str, float]] = []
    trainer = trainer_cls(
        model=load_policy(source, tokenizer),
        args=args,
        reward_funcs=[as_trl_reward(reward_fn, name)],
        train_dataset=Dataset.from_dict({"prompt": unique_prompts(clean)}),
        processing_class=tokenizer,
        peft_config=config.lora_config("CAUSAL_LM"),
        callbacks=make_callbacks(on_metrics, should_cancel, metrics),
    )
    execute(trainer, config, output_dir, metrics)
    return _finish(config.method, trainer, tokenizer, output_dir, metrics)


def train_rloo(
    config: GroupTrainingConfig,
    rows: Sequence[Mapping[str, Any]],
    output_dir: Path,
    *,
    on_metrics: Callable | None = None,
    should_cancel: Callable | None = None,
    reward_fn: RewardFunction | None = None,
    eval_rows: Any = None,
) -> TrainResult:
    """RLOO on the rows' prompts; artifacts: `final` (policy or LoRA adapter + tokenizer)."""
    from trl import RLOOTrainer

    return _train_group(RLOOTrainer, config, rows, output_dir, on_metrics, should_cancel, reward_fn)


def train_grpo(
    config: GroupTrainingConfig,
    rows: Sequence[Mapping[str, Any]],
    output_dir: Path,
    *,
    on_metrics: Callable | None = None,
    should_cancel: Callable | None = None,
    reward_fn: RewardFunction | None = None,
    eval_rows: Any = None,
) -> TrainResult:
    """GRPO (beta > 0: KL to the starting policy) on the rows' prompts."""
    from trl import GRPOTrainer

    return _train_group(GRPOTrainer, config, rows, output_dir, on_metrics, should_cancel, reward_fn)


class _JudgeBackbone(torch.nn.Module):
    """Decodes each (prompt + response) row, asks the reward function, and returns the score
    as a one-wide 'hidden state' at every position (PPO reads it at the last token)."""

    def __init__(self, fn: RewardFunction, tokenizer: Any, prompt_ids: Mapping[tuple[int, ...], str]):
        super().__init__()
        self.fn, self.tokenizer = fn, tokenizer
        self.prompt_ids = dict(prompt_ids)
        self.lengths = sorted({len(k) for k in self.prompt_ids}, reverse=True)
        self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the module a device

    def split(self, ids: list[int]) -> tuple[str, str]:
        for n in self.lengths:
            prompt = self.prompt_ids.get(tuple(ids[:n]))
            if prompt is not None:
                return prompt, self.tokenizer.decode(ids[n:], skip_special_tokens=True)
        raise ConfigError("PPO judge reward: a rollout does not start with a known prompt")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> Any:
        from types import SimpleNamespace

        rows = zip(input_ids, attention_mask, strict=True)
        pairs = [self.split(ids[mask.bool()].tolist()) for ids, mask in rows]
        values = as_trl_reward(self.fn)([p for p, _ in pairs], [c for _, c in pairs])
        scores = torch.tensor(values, dtype=torch.float, device=input_ids.device)
        hidden = scores[:, None, None].expand(-1, input_ids.shape[1], 1)
        return SimpleNamespace(hidden_states=(hidden,))


class JudgeRewardModel(torch.nn.Module):
    """A reward function in the shape PPO's get_reward expects (backbone + score head)."""

    base_model_prefix = "backbone"

    def __init__(self, fn: RewardFunction, tokenizer: Any, prompt_ids: Mapping[tuple[int, ...], str]):
        super().__init__()
        self.backbone = _JudgeBackbone(fn, tokenizer, prompt_ids)
        self.score = torch.nn.Identity()


def _ppo_models(
    config: PPOTrainingConfig,
    source: str,
    reward_path: str | None,
    reward_fn: Any,
    tokenizer: Any,
    prompt_ids: Mapping[tuple[int, ...], str],
) -> tuple[Any, Any]:
    """(reward model, value model); the value model starts from value_model / reward / policy."""
    reward = (
        load_scalar_head(reward_path, tokenizer)
        if reward_path is not None
        else JudgeRewardModel(reward_fn, tokenizer, prompt_ids)
    )
    value_source = resolve_model(config.value_model) if config.value_model else (reward_path or source)
    return reward, load_scalar_head(value_source, tokenizer)


def train_ppo(
    config: PPOTrainingConfig,
    rows: Sequence[Mapping[str, Any]],
    output_dir: Path,
    *,
    on_metrics: Callable | None = None,
    should_cancel: Callable | None = None,
    reward_fn: RewardFunction | None = None,
    eval_rows: Any = None,
) -> TrainResult:
    """PPO with a value model and KL (`beta`) to the starting policy; artifacts: `final`."""
    from datasets import Dataset
    from trl.experimental.ppo import PPOTrainer

    clean = check_rows(rows)
    reward_path = _reward_source(config, reward_fn)
    source = resolve_model(config.model)
    args = config.to_trl(output_dir)
    tokenizer = load_tokenizer(source, padding_side="left")
    prompts = unique_prompts(clean)
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"][-config.max_length :] for p in prompts]
    prompt_ids = {tuple(i): p for i, p in zip(ids, prompts, strict=True)}
    reward_model, value_model = _ppo_models(config, source, reward_path, reward_fn, tokenizer, prompt_ids)
    policy = load_policy(source, tokenizer)
    ref = None if config.use_lora else load_policy(source, tokenizer)
    metrics: list[dict[str, float]] = []
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=ref,
        reward_model=reward_model,
        value_model=value_model,
        train_dataset=Dataset.from_dict({"input_ids": ids}),
        peft_config=config.lora_config("CAUSAL_LM"),
        callbacks=make_callbacks(on_metrics, should_cancel, metrics),
    )
    execute(trainer, config, output_dir, metrics, accepts_resume=False)
    return _finish("ppo", trainer, tokenizer, output_dir, metrics)
