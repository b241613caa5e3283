"""Running a training method: input checks, step metrics, cancellation, failure and results.

`train(config, rows, output_dir, ...)` is what the platform calls (inside a job, never at
start-up). Everything that can be checked before a trainer is built is checked first, so bad
input fails in seconds with a clear error, not after a model has loaded. A run saves
checkpoints every `save_steps`; when it dies, `TrainingFailed.last_checkpoint` says where it
got to, and a re-run with the same output_dir resumes from there (`resume`, on by default).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.config import BaseTrainingConfig
from training.errors import ConfigError, EmptyDataset, TrainingCancelled, TrainingFailed

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected", "pair_id")
MetricsHook = Callable[[int, dict[str, float]], None]
CancelHook = Callable[[], bool]


@dataclass
class TrainResult:
    """What a finished run returns (and the platform stores on the TrainingRun)."""

    method: str
    status: str
    metrics: list[dict[str, float]] = field(default_factory=list)
    final_eval: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "status": self.status,
            "metrics": self.metrics,
            "final_eval": self.final_eval,
            "artifacts": self.artifacts,
            "seconds": self.seconds,
        }


def check_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Plain dicts with the preference columns (weight / p_chosen default to 1). Raises
    EmptyDataset for zero rows and ConfigError naming the first row with a missing column or a
    probability/weight out of range. One source only is fine."""
    if not rows:
        raise EmptyDataset("no rows to train on: export a dataset version with at least one row")
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in REQUIRED_COLUMNS if c not in row]
        if missing:
            raise ConfigError(f"row {i} lacks column(s) {', '.join(missing)}")
        data = {c: str(row[c]) for c in REQUIRED_COLUMNS}
        data["weight"] = float(row.get("weight", 1.0))
        data["p_chosen"] = float(row.get("p_chosen", 1.0))
        if not 0.0 <= data["p_chosen"] <= 1.0 or not math.isfinite(data["weight"]) or data["weight"] < 0:
            raise ConfigError(f"row {i} (pair {data['pair_id']}): p_chosen must be in [0, 1] and weight >= 0")
        out.append(data)
    if sum(r["weight"] for r in out) <= 0:
        raise EmptyDataset("every row has weight 0: nothing to learn from")
    return out


def make_callbacks(
    on_metrics: MetricsHook | None, should_cancel: CancelHook | None, sink: list[dict[str, float]]
) -> list[Any]:
    """transformers callbacks: one records logged metrics (and forwards them), one stops the
    run when `should_cancel()` says so, after a checkpoint is saved."""
    from transformers import TrainerCallback

    class Metrics(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            numbers = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
            numbers["step"] = float(state.global_step)
            sink.append(numbers)
            if on_metrics is not None:
                on_metrics(state.global_step, numbers)

    class Cancel(TrainerCallback):
        cancelled = False

        def on_step_end(self, args, state, control, **kwargs):
            if should_cancel is not None and should_cancel():
                self.cancelled = control.should_save = control.should_training_stop = True
            return control

        def on_save(self, args, state, control, **kwargs):
            # Raising here also stops PPO, whose loop ignores should_training_stop.
            if self.cancelled:
                raise TrainingCancelled(f"cancelled at step {state.global_step}")

    return [Metrics(), Cancel()]


def last_checkpoint(output_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None


def execute(
    trainer: Any,
    config: BaseTrainingConfig,
    output_dir: Path,
    metrics: list[dict[str, float]],
    accepts_resume: bool = True,
) -> None:
    """trainer.train(), resuming from the last checkpoint when asked. Raises TrainingCancelled
    or TrainingFailed (with the last checkpoint), chained to the original error."""
    resume = last_checkpoint(output_dir) if config.resume else None
    try:
        if accepts_resume:
            trainer.train(resume_from_checkpoint=resume)
        else:
            trainer.train()
    except TrainingCancelled as exc:
        raise TrainingCancelled(str(exc), last_checkpoint(output_dir)) from exc
    except Exception as exc:
        raise TrainingFailed(
            f"{config.method} training failed: {type(exc).__name__}: {exc}",
            last_checkpoint(output_dir),
            metrics,
        ) from exc


def train(
    config: BaseTrainingConfig,
    rows: Sequence[Mapping[str, Any]],
    output_dir: str | Path,
    *,
    on_metrics: MetricsHook | None = None,
    should_cancel: CancelHook | None = None,
    reward_fn: Any = None,
    eval_rows: Sequence[Mapping[str, Any]] | None = None,
) -> TrainResult:
    """Train `config.method` on `rows` (exported preference rows) into `output_dir`.

    `reward_fn` (online methods): a RewardFunction, f(prompts, completions) -> list[float],
    used instead of `config.reward_model`. `eval_rows`: held-out human-labeled rows for the
    final evaluation. Returns a TrainResult; raises ConfigError / EmptyDataset /
    ModelPathError before training, TrainingCancelled or TrainingFailed during it.
    """
    from training import dpo, online, reward

    runners = {
        "reward": reward.train_reward,
        "dpo": dpo.train_dpo,
        "ppo": online.train_ppo,
        "rloo": online.train_rloo,
        "grpo": online.train_grpo,
    }
    if config.method not in runners:
        raise ConfigError(f"unknown method {config.method!r}; valid methods: {', '.join(runners)}")
    kwargs: dict[str, Any] = {
        "on_metrics": on_metrics,
        "should_cancel": should_cancel,
        "eval_rows": eval_rows,
    }
    if config.method in ("ppo", "rloo", "grpo"):
        kwargs["reward_fn"] = reward_fn
    elif reward_fn is not None:
        raise ConfigError(f"reward_fn is for online methods (ppo, rloo, grpo), not {config.method}")
    started = time.monotonic()
    result = runners[config.method](config, rows, Path(output_dir), **kwargs)
    result.seconds = round(time.monotonic() - started, 3)
    return result
