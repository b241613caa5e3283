"""Reward model (Bradley-Terry) with soft labels and per-example weights.

The RLAIF paper distils the AI judge's *probability* into the reward model, not a hard label:
loss = w * -[p * log sigmoid(rc - rr) + (1 - p) * log sigmoid(rr - rc)], averaged with the
weights. TRL's RewardTrainer has only a hard label (and a `margin`, which is not the same), so
this subclass overrides `compute_loss` and its collator passes `p_chosen` / `weight` through
(TRL's column filter would otherwise drop them). With p = 1 and w = 1 it is the stock loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from trl import RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference

from training.config import RewardTrainingConfig
from training.errors import EmptyDataset
from training.models import load_scalar_head, load_tokenizer, resolve_model, save_artifact
from training.runner import TrainResult, check_rows, execute, make_callbacks

SOFT_COLUMNS = ("p_chosen", "weight")


def soft_preference_loss(
    rewards_chosen: torch.Tensor,
    rewards_rejected: torch.Tensor,
    p: torch.Tensor | None = None,
    w: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted mean of the soft Bradley-Terry loss; p = None means 1, w = None means 1."""
    diff = rewards_chosen - rewards_rejected
    p = torch.ones_like(diff) if p is None else p.to(diff)
    w = torch.ones_like(diff) if w is None else w.to(diff)
    per_pair = -(p * F.logsigmoid(diff) + (1 - p) * F.logsigmoid(-diff))
    return (w * per_pair).sum() / w.sum().clamp_min(1e-12)


@dataclass
class SoftPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator plus float `p_chosen` and `weight` tensors when present."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        output = super().torch_call(examples)
        for name in SOFT_COLUMNS:
            if name in examples[0]:
                output[name] = torch.tensor([float(e[name]) for e in examples], dtype=torch.float)
        return output


class SoftRewardTrainer(RewardTrainer):
    """RewardTrainer whose loss reads `p_chosen` and `weight` from the batch (absent: 1)."""

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = list(dict.fromkeys([*self._signature_columns, *SOFT_COLUMNS]))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        p, w = inputs.pop("p_chosen", None), inputs.pop("weight", None)
        inputs.pop("margin", None)
        outputs = model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False
        )
        rewards_chosen, rewards_rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = soft_preference_loss(rewards_chosen, rewards_rejected, p, w)
        if self.args.center_rewards_coefficient is not None:
            centering = torch.mean((rewards_chosen + rewards_rejected) ** 2)
            loss = loss + self.args.center_rewards_coefficient * centering
        self._record(rewards_chosen, rewards_rejected)
        return (loss, outputs) if return_outputs else loss

    def _record(self, rewards_chosen: torch.Tensor, rewards_rejected: torch.Tensor) -> None:
        """The stock trainer's accuracy / margin metrics (logged by its `log`)."""
        metrics = getattr(self, "_metrics", None)
        if metrics is None:
            return
        mode = "train" if self.model.training else "eval"
        with torch.no_grad():
            accuracy = (rewards_chosen > rewards_rejected).float().mean()
            margin = (rewards_chosen - rewards_rejected).mean()
            metrics[mode]["accuracy"].append(self.accelerator.gather_for_metrics(accuracy).mean().item())
            metrics[mode]["margin"].append(self.accelerator.gather_for_metrics(margin).mean().item())


def reward_dataset(rows: Sequence[Mapping[str, Any]], config: RewardTrainingConfig) -> Any:
    """A datasets.Dataset of prompt / chosen / rejected (+ p_chosen, weight as configured)."""
    from datasets import Dataset

    data: dict[str, list] = {c: [r[c] for r in rows] for c in ("prompt", "chosen", "rejected")}
    if config.soft_labels:
        data["p_chosen"] = [float(r["p_chosen"]) for r in rows]
    if config.use_weights:
        data["weight"] = [float(r["weight"]) for r in rows]
    return Dataset.from_dict(data)


@torch.no_grad()
def score(
    model: Any, tokenizer: Any, prompts: Sequence[str], responses: Sequence[str], batch_size: int = 16
) -> list[float]:
    """Reward for each prompt + response, read as in training (EOS appended, right padding)."""
    model.eval()
    device = next(model.parameters()).device
    eos = tokenizer.eos_token or ""
    texts = [p + r if r.endswith(eos) else p + r + eos for p, r in zip(prompts, responses, strict=True)]
    out: list[float] = []
    side, tokenizer.padding_side = tokenizer.padding_side, "right"
    try:
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(
                texts[i : i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            )
            logits = model(**{k: v.to(device) for k, v in enc.items()}).logits
            out.extend(logits[:, 0].float().cpu().tolist())
    finally:
        tokenizer.padding_side = side
    return out


def reward_accuracy(model: Any, tokenizer: Any, rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Share of rows whose chosen response out-scores the rejected one (ties count half)."""
    from training.evaluate import reward_model_accuracy

    return reward_model_accuracy(lambda p, r: score(model, tokenizer, p, r), rows)


def train_reward(
    config: RewardTrainingConfig,
    rows: Sequence[Mapping[str, Any]],
    output_dir: Path,
    *,
    on_metrics: Callable | None = None,
    should_cancel: Callable | None = None,
    eval_rows: Sequence[Mapping[str, Any]] | None = None,
) -> TrainResult:
    """Train a reward model; artifacts: `final` (model or LoRA adapter + tokenizer). The final
    evaluation is accuracy on `eval_rows` (held-out human labels) when given."""
    clean = check_rows(rows)
    held_out = check_rows(eval_rows) if eval_rows else []
    source = resolve_model(config.model)
    args = config.to_trl(output_dir)
    tokenizer = load_tokenizer(source)
    model = load_scalar_head(source, tokenizer)
    metrics: list[dict[str, float]] = []
    trainer = SoftRewardTrainer(
        model=model,
        args=args,
        train_dataset=reward_dataset(clean, config),
        processing_class=tokenizer,
        data_collator=SoftPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
        peft_config=config.lora_config("SEQ_CLS"),
        callbacks=make_callbacks(on_metrics, should_cancel, metrics),
    )
    if len(trainer.train_dataset) == 0:  # TRL drops, rather than truncates, pairs over max_length
        raise EmptyDataset(f"every pair is longer than max_length={config.max_length} tokens; raise it")
    execute(trainer, config, output_dir, metrics)
    final = save_artifact(trainer.model, tokenizer, output_dir / "final")
    result = TrainResult(
        method="reward", status="succeeded", metrics=metrics, artifacts={"model": str(final)}
    )
    if held_out:
        result.final_eval = reward_accuracy(trainer.model, tokenizer, held_out)
    return result
