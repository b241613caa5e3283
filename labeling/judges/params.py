"""Each backend's params as a typed record: the one place their names, types and defaults live.

`judge_params(config)` checks `config.params` against its backend's record (unknown keys and
wrong types are a ConfigError naming the key) and returns the record; the backends read their
settings from it, so a default is written once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from labeling.typed_config import ConfigError, typed_record

# Params that set where calls go and how they are paid for: an operator's business (the named
# providers), never a project's. labeling accepts them (library use, the CLI's own files); the
# platform refuses them in configs that users write.
ENDPOINT_PARAMS = frozenset({"base_url", "api_key_env"})


@dataclass(frozen=True)
class PromptParams:
    """What every judging backend reads from its prompt template."""

    tie: bool = True  # may the judge answer a tie
    few_shot: tuple[dict, ...] = ()  # examples: prompt, first, second, verdict (or response, score)


@dataclass(frozen=True)
class OpenAIParams(PromptParams):
    """An OpenAI-compatible endpoint. `provider` names an operator-defined endpoint (the
    platform fills in `base_url` and `api_key_env` from it)."""

    provider: str = ""
    base_url: str = ""  # "" : OPENAI_BASE_URL, else OpenAI's
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    rpm: float | None = None
    tpm: float | None = None
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    prices: dict = field(default_factory=dict)  # model -> {"input": $/1M, "output": $/1M}
    probability: Literal["auto", "logprobs", "votes"] = "auto"
    top_logprobs: int = 20
    votes: int = 5
    vote_temperature: float = 1.0
    cot_max_tokens: int = 512
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("concurrency", "top_logprobs", "votes", "cot_max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_retries < 0 or self.timeout_s <= 0:
            raise ValueError("max_retries must be >= 0 and timeout_s > 0")


@dataclass(frozen=True)
class HFParams(PromptParams):
    """A local transformers model."""

    gguf_file: str = ""
    device: Literal["cuda", "cpu", "mps"] | None = None  # None: cuda when available
    dtype: str | None = None
    batch_size: int | None = None  # None: 8 on a GPU, 1 on a CPU (bench/judge_local.py)
    cot_max_tokens: int = 256
    share_prefix: bool = True

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class EnsembleParams(PromptParams):
    """Several member judges; their own params are checked with their own backends."""


@dataclass(frozen=True)
class ReplayParams:
    """Recorded verdicts: what the importer recorded about them."""

    judge: str = ""
    detail: dict = field(default_factory=dict)


PARAMS: dict[str, type] = {
    "openai": OpenAIParams,
    "hf": HFParams,
    "ensemble": EnsembleParams,
    "replay": ReplayParams,
}


def params_record(backend: str, params: Mapping[str, Any], where: str = "params") -> Any:
    """`params` checked against `backend`'s record. Raises ConfigError naming the key."""
    try:
        record = PARAMS[backend]
    except KeyError:
        raise ConfigError("backend", f"unknown judge backend {backend!r}", backend, tuple(PARAMS)) from None
    return typed_record(record, dict(params), where)


def judge_params(config: Any) -> Any:
    """The typed params of a JudgeConfig (checked once, then kept on the config)."""
    cached = config.__dict__.get("_typed_params")
    if cached is None:
        cached = params_record(config.backend, config.params, f"judge {config.name!r} params")
        object.__setattr__(config, "_typed_params", cached)
    return cached
