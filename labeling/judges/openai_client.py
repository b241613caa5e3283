"""One cached, rate-limited, retried chat-completion call against an OpenAI-compatible server.

The judge logic (openai_judge.py) decides what to ask; this module decides how: through the
call cache, inside the concurrency bound and the rate limits, with retries on 429 / 5xx /
timeouts / malformed replies that honour Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from labeling.judges.base import JudgeConfig, JudgeError, JudgeStats
from labeling.judges.cache import CallCache, MemoryCallCache, request_key
from labeling.judges.limits import RateLimiter, backoff_delay, retry_after_seconds

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.APIResponseValidationError,
    ValueError,  # a 200 whose body is not JSON (json.JSONDecodeError) or not a completion
)


class CallFailed(Exception):
    """A call that ended without a reply; `reason` is stored on the verdict."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


@dataclass(frozen=True)
class CallResult:
    body: dict[str, Any]
    key: str
    cached: bool
    attempts: int
    latency_s: float
    params: dict[str, Any]  # the request's sampling params (no messages)


@dataclass
class _LoopState:
    """Objects bound to one event loop (asyncio primitives and the httpx pool are)."""

    loop: asyncio.AbstractEventLoop
    client: openai.AsyncOpenAI
    semaphore: asyncio.Semaphore
    limiter: RateLimiter


class OpenAICaller:
    """Makes chat-completion calls for one judge config and keeps its stats."""

    def __init__(self, config: JudgeConfig, cache: CallCache, stats: JudgeStats) -> None:
        params = config.params
        self.config = config
        self.cache = cache
        self.stats = stats
        self.base_url = str(params.get("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.api_key_env = str(params.get("api_key_env", "OPENAI_API_KEY"))
        self.timeout_s = float(params.get("timeout_s", 60.0))
        self.max_retries = int(params.get("max_retries", 5))
        self.backoff = (
            float(params.get("backoff_base_s", 0.5)),
            float(params.get("backoff_max_s", 60.0)),
        )
        self._rng = random.Random(params.get("seed"))
        self._state: _LoopState | None = None

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            params = self.config.params
            self._state = _LoopState(
                loop=loop,
                client=openai.AsyncOpenAI(
                    base_url=self.base_url,
                    api_key=os.environ.get(self.api_key_env) or "missing",
                    timeout=self.timeout_s,
                    max_retries=0,
                ),
                semaphore=asyncio.Semaphore(int(params.get("concurrency", 16))),
                limiter=RateLimiter(params.get("rpm"), params.get("tpm")),
            )
        return self._state

    async def call(self, request: dict[str, Any], key_extra: dict[str, Any] | None = None) -> CallResult:
        """The reply to `request` (a chat.completions.create payload), from the cache when
        an identical request was answered before. Raises CallFailed with the reason."""
        key = request_key({"api": "chat.completions", **request, **(key_extra or {})})
        params = {k: v for k, v in request.items() if k not in {"messages", "model"}}
        in_memory = isinstance(self.cache, MemoryCallCache)  # no blocking I/O: no thread needed
        cached = self.cache.get(key) if in_memory else await asyncio.to_thread(self.cache.get, key)
        if cached is not None:
            self.stats.cache_hits += 1
            return CallResult(cached, key, cached=True, attempts=0, latency_s=0.0, params=params)
        state = self._loop_state()
        async with state.semaphore:
            started = time.perf_counter()
            body, attempts = await self._attempts(state, request)
            latency = time.perf_counter() - started
        if in_memory:
            self.cache.put(key, body)
        else:
            await asyncio.to_thread(self.cache.put, key, body)
        return CallResult(body, key, cached=False, attempts=attempts, latency_s=latency, params=params)

    async def _attempts(self, state: _LoopState, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
        estimate = _estimate_tokens(request)
        for attempt in range(self.max_retries + 1):
            await state.limiter.acquire(estimate)
            self.stats.calls += 1
            try:
                # The raw endpoint through the SDK's own client (auth, timeouts, error types): its
                # typed request transform and response model cost more CPU per call than the rest
                # of the judge, which bounded throughput (bench/judge_client.py).
                raw = await state.client.post("/chat/completions", body=request, cast_to=httpx.Response)
                body = json.loads(raw.content)
                if not body.get("choices"):
                    raise ValueError("reply has no choices")
            except _RETRYABLE as exc:
                reason = _describe(exc)
                if attempt == self.max_retries:
                    raise CallFailed(f"{reason} (gave up after {attempt + 1} attempts)", attempt + 1) from exc
                self.stats.retries += 1
                headers = getattr(getattr(exc, "response", None), "headers", None) or {}
                await asyncio.sleep(
                    backoff_delay(attempt, retry_after_seconds(headers), *self.backoff, self._rng)
                )
            except openai.APIStatusError as exc:
                raise CallFailed(_describe(exc), attempt + 1) from exc
            else:
                usage = body.get("usage") or {}
                state.limiter.settle(estimate, int(usage.get("total_tokens") or estimate))
                return body, attempt + 1
        raise AssertionError("unreachable: the loop returns or raises")

    async def check(self) -> None:
        """Fail fast, naming the setting, on a missing key, an unreachable server or a model
        the server does not list. Servers without /models skip the model check."""
        if not os.environ.get(self.api_key_env):
            raise JudgeError(
                "judge.openai.api_key",
                f"judge {self.config.name!r}: set {self.api_key_env} (servers that need no key "
                "accept any non-empty value)",
                setting=self.api_key_env,
            )
        if not self.config.model:
            raise JudgeError(
                "judge.openai.model", f"judge {self.config.name!r} names no model", setting="model"
            )
        served = await self._served_models()
        if served is not None and self.config.model not in served:
            raise JudgeError(
                "judge.openai.model",
                f"judge {self.config.name!r}: model {self.config.model!r} is not served by "
                f"{self.base_url}; available: {', '.join(sorted(served)) or 'none'}",
                setting="model",
            )

    async def _served_models(self) -> set[str] | None:
        client = self._loop_state().client
        try:
            return {m.id async for m in client.models.list(timeout=min(self.timeout_s, 10.0))}
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise JudgeError(
                "judge.openai.unreachable",
                f"judge {self.config.name!r}: cannot reach {self.base_url} ({_describe(exc)}); "
                "check OPENAI_BASE_URL (or the judge's base_url param)",
                setting="OPENAI_BASE_URL",
            ) from exc
        except openai.AuthenticationError as exc:
            raise JudgeError(
                "judge.openai.api_key",
                f"judge {self.config.name!r}: {self.base_url} rejected the key in "
                f"{self.api_key_env}; set a valid key",
                setting=self.api_key_env,
            ) from exc
        except openai.NotFoundError:
            return None


def _estimate_tokens(request: dict[str, Any]) -> int:
    """Rough prompt size (4 characters a token) plus the most the reply may use."""
    chars = sum(len(m.get("content") or "") for m in request.get("messages", []))
    return chars // 4 + int(request.get("max_tokens") or 0) * int(request.get("n") or 1)


def _describe(exc: Exception) -> str:
    """A short, user-facing reason for a failed attempt."""
    if isinstance(exc, openai.APITimeoutError):
        return "timed out (raise the judge's timeout_s param if the server is slow)"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} from the endpoint: {str(exc.message)[:200]}"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection failed: {exc}"
    return f"malformed reply from the endpoint: {str(exc)[:200]}"
