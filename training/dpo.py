"""DPO with per-example weights and soft labels, done in the data so that it survives TRL
releases (DPOTrainer's per-example loss is private API that changes between versions):

- weights: rows are drawn with replacement in proportion to `weight` (a weighted sampler,
  materialised with a seed so a run is reproducible);
- soft labels: each drawn row is flipped (chosen <-> rejected) with probability 1 - p_chosen,
  which equals the soft-label loss p*l(c>r) + (1-p)*l(r>c) in expectation.
With all weights equal and p = 1 the rows pass through unchanged: plain DPO. For noisy AI
labels, TRL's own robust losses (`loss_type='robust'` with `label_smoothing`) are in the config.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from training.config import DPOTrainingConfig
from training.models import load_policy, load_tokenizer, resolve_model, save_artifact
from training.runner import TrainResult, check_rows, execute, make_callbacks


def resample_by_weight(rows: Sequence[Mapping[str, Any]], seed: int, n: int | None = None) -> list[dict]:
    """`n` (default len(rows)) rows drawn with replacement, P(row) proportional to its weight;
    the rows unchanged when all weights are equal."""
    weights = [float(r["weight"]) for r in rows]
    if len(set(weights)) <= 1:
        return [dict(r) for r in rows]
    rng = random.Random(seed)
    return [dict(r) for r in rng.choices(list(rows), weights=weights, k=n or len(rows))]


def flip_by_probability(rows: Sequence[Mapping[str, Any]], seed: int) -> list[dict]:
    """Each row with chosen/rejected swapped with probability 1 - p_chosen (then p_chosen is
    the probability of the new orientation: 1 - p)."""
    rng = random.Random(seed + 1)
    out = []
    for row in rows:
        row = dict(row)
        p = float(row["p_chosen"])
        if p < 1.0 and rng.random() >= p:
            row["chosen"], row["rejected"], row["p_chosen"] = row["rejected"], row["chosen"], 1.0 - p
        out.append(row)
    return out


def dpo_rows(rows: Sequence[Mapping[str, Any]], config: DPOTrainingConfig) -> list[dict]:
    """The rows DPO trains on, after the configured weighting and soft-label treatment."""
    out = [dict(r) for r in rows]
    if config.weighting == "resample":
        out = resample_by_weight(out, config.seed)
    if config.soft_labels == "flip":
        out = flip_by_probability(out, config.seed)
    return out


def train_dpo(
    config: DPOTrainingConfig,
    rows: Sequence[Mapping[str, Any]],
    output_dir: Path,
    *,
    on_metrics: Callable | None = None,
    should_cancel: Callable | None = None,
    eval_rows: Sequence[Mapping[str, Any]] | None = None,
) -> TrainResult:
    """Train a policy with DPO; artifacts: `final` (model or LoRA adapter + tokenizer). The
    final evaluation is the implicit-reward accuracy on `eval_rows` when given."""
    from datasets import Dataset
    from trl import DPOTrainer

    clean = check_rows(rows)
    held_out = check_rows(eval_rows) if eval_rows else []
    source = resolve_model(config.model)
    args = config.to_trl(output_dir)
    tokenizer = load_tokenizer(source)
    model = load_policy(source, tokenizer)
    data = dpo_rows(clean, config)
    dataset = Dataset.from_dict({c: [r[c] for r in data] for c in ("prompt", "chosen", "rejected")})
    metrics: list[dict[str, float]] = []
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=config.lora_config("CAUSAL_LM"),
        callbacks=make_callbacks(on_metrics, should_cancel, metrics),
    )
    execute(trainer, config, output_dir, metrics)
    final = save_artifact(trainer.model, tokenizer, output_dir / "final")
    result = TrainResult(method="dpo", status="succeeded", metrics=metrics, artifacts={"model": str(final)})
    if held_out:
        held = Dataset.from_dict({c: [r[c] for r in held_out] for c in ("prompt", "chosen", "rejected")})
        evaluated = trainer.evaluate(eval_dataset=held)
        result.final_eval = {k: float(v) for k, v in evaluated.items() if isinstance(v, int | float)}
    return result
