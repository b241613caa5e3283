"""One cached, rate-limited, retried chat-completion call against an OpenAI-compatible server.

The judge logic (openai_judge.py) decides what to ask; this module decides how: through the
call cache, inside the concurrency bound and the rate limits, with retries on 429 / 5xx /
timeouts / malformed replies that honour Retry-After.

HTTP goes through the SDK's aiohttp transport (`openai.DefaultAioHttpClient`, the
`openai[aiohttp]` extra) when it is installed: the SDK's request building, error types, timeouts
and our retries are unchanged, but aiohttp's connection pool and C HTTP parser cost about 40% less
client CPU per call than the default httpx2/httpcore2/h11/anyio stack, which bounded throughput
at high concurrency (bench/judge_client.py). Without the extra, the default httpx2 client is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import openai

from labeling.judges.base import JudgeConfig, JudgeError, JudgeStats
from labeling.judges.cache import CallCache, MemoryCallCache, request_key
from labeling.judges.limits import (
    RateLimiter,
    SharedLimit,
    backoff_delay,
    retry_after_seconds,
    shared_limit_for,
)
from labeling.judges.params import judge_params
from labeling.judges.providers import DEFAULT_BASE_URL, normalize_base_url


def base_url_of(config: JudgeConfig) -> str:
    """The normalized base URL `config`'s calls go to: its param, OPENAI_BASE_URL, or OpenAI's."""
    url = judge_params(config).base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    return normalize_base_url(url)


def endpoint_of(config: JudgeConfig) -> str:
    """Where `config`'s calls go, as provenance records it: `provider@url` for a named
    provider, else the normalized base URL."""
    provider = judge_params(config).provider
    return f"{provider}@{base_url_of(config)}" if provider else base_url_of(config)


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
    http: _Gated  # the SDK client's HTTP client, which holds the concurrency bound
    limiter: RateLimiter
    closer: Any = None  # see _close_with_loop


class OpenAICaller:
    """Makes chat-completion calls for one judge config and keeps its stats."""

    def __init__(self, config: JudgeConfig, cache: CallCache, stats: JudgeStats) -> None:
        params = judge_params(config)
        self.config = config
        self.cache = cache
        self.stats = stats
        self.endpoint = endpoint_of(config)
        self.base_url = base_url_of(config)
        self.api_key_env = params.api_key_env
        self.timeout_s = params.timeout_s
        self.max_retries = params.max_retries
        self.backoff = (params.backoff_base_s, params.backoff_max_s)
        self._rng = random.Random(params.seed)
        self._state: _LoopState | None = None

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            params = judge_params(self.config)
            http = _http_client(params.concurrency)
            spec = shared_limit_for(self.endpoint)
            http.shared = SharedLimit(spec) if spec is not None else None
            client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=os.environ.get(self.api_key_env) or "missing",
                timeout=self.timeout_s,
                max_retries=0,
                http_client=http,
            )
            self._state = _LoopState(
                loop=loop,
                client=client,
                http=http,
                limiter=RateLimiter(params.rpm, params.tpm),
                closer=_close_with_loop(client, http.shared),
            )
        return self._state

    async def aclose(self) -> None:
        """Close this loop's HTTP client now (otherwise it closes when its loop shuts down)."""
        state, self._state = self._state, None
        if state is not None and state.loop is asyncio.get_running_loop():
            await state.closer.aclose()  # its `finally` closes the client

    async def call(self, request: dict[str, Any], key_extra: dict[str, Any] | None = None) -> CallResult:
        """The reply to `request` (a chat.completions.create payload), from the cache when
        an identical request was answered before. Raises CallFailed with the reason."""
        # The endpoint is part of the key: two servers serving a model of the same name answer
        # differently, and a judge re-pointed elsewhere must not be answered from the old one.
        key = request_key(
            {"api": "chat.completions", "endpoint": self.endpoint, **request, **(key_extra or {})}
        )
        params = {k: v for k, v in request.items() if k not in {"messages", "model"}}
        in_memory = isinstance(self.cache, MemoryCallCache)  # no blocking I/O: no thread needed
        cached = self.cache.get(key) if in_memory else await asyncio.to_thread(self.cache.get, key)
        if cached is not None:
            self.stats.cache_hits += 1
            return CallResult(cached, key, cached=True, attempts=0, latency_s=0.0, params=params)
        body, attempts, latency = await self._attempts(self._loop_state(), request)
        if in_memory:
            self.cache.put(key, body)
        else:
            await asyncio.to_thread(self.cache.put, key, body)
        return CallResult(body, key, cached=False, attempts=attempts, latency_s=latency, params=params)

    async def _attempts(self, state: _LoopState, request: dict[str, Any]) -> tuple[dict, int, float]:
        """(reply body, attempts made, seconds the answered attempt took from send to reply)."""
        estimate = _estimate_tokens(request)
        for attempt in range(self.max_retries + 1):
            self.stats.calls += 1
            try:
                raw = await _post(state, request, estimate)
                body = json.loads(raw.content)
                if not body.get("choices"):
                    raise ValueError("reply has no choices")
            except _RETRYABLE as exc:
                reason = _describe(exc)
                if attempt == self.max_retries:
                    raise CallFailed(f"{reason} (gave up after {attempt + 1} attempts)", attempt + 1) from exc
                self.stats.retries += 1
                headers = getattr(getattr(exc, "response", None), "headers", None) or {}
                delay = backoff_delay(attempt, retry_after_seconds(headers), *self.backoff, self._rng)
                async with state.http.slot():  # a call backing off keeps a slot: less load when throttled
                    await asyncio.sleep(delay)
            except openai.APIStatusError as exc:
                raise CallFailed(_describe(exc), attempt + 1) from exc
            else:
                usage = body.get("usage") or {}
                state.limiter.settle(estimate, int(usage.get("total_tokens") or estimate))
                return body, attempt + 1, raw.elapsed.total_seconds()
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


async def _post(state: _LoopState, request: dict[str, Any], estimate: int) -> httpx2.Response:
    """One chat-completions exchange: the raw endpoint through the SDK's own client (auth,
    timeouts, error types), whose typed request transform and response model cost more CPU per
    call than the rest of the judge (bench/judge_client.py). The rate limits are taken once the
    request holds a slot, right before it goes out (`_Gated`)."""
    permit = _BEFORE_SEND.set(lambda: state.limiter.acquire(estimate))
    try:
        return await state.client.post("/chat/completions", body=request, cast_to=httpx.Response)
    finally:
        _BEFORE_SEND.reset(permit)


# What a call does once its request holds a slot, right before it goes out (the rate limits).
_BEFORE_SEND: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar(
    "before_send", default=None
)


class _Gated:
    """The judge's concurrency bound, around each HTTP exchange of the SDK's HTTP client.

    The SDK builds a request (URL, headers, body: most of its CPU per call) before it hands it
    to its HTTP client's `send`. Bounding `send` rather than the whole call lets the requests
    that wait for a slot be built while others are in flight, so a slot that frees is taken
    by a request ready to go. Time spent waiting here is not the call's: the SDK's timeout and
    the call's latency start when the exchange does. The rate limits are taken inside the
    slot (`_BEFORE_SEND`), so requests queued here cannot go out faster than they allow, and a
    call that backs off after a failed attempt holds a slot while it waits, as a call did when
    the bound covered the whole call. A provider with limits shared by every worker
    (`limits.SharedLimit`) is asked for one of its slots inside this worker's own, so a worker
    queues on Redis with at most `concurrency` requests, not with every request it has built.

    A caller whose exchange is done then steps aside twice before it goes on to its own work
    (reading the reply, the verdict, the cache, building its next request): once so the
    request it woke takes the slot, and once more so that request's bytes go out. aiohttp on
    Python < 3.12 writes a request body from a task it schedules, which otherwise queues
    behind every caller that finished in the same turn of the event loop. With 64 calls in
    flight on two cores this moved bench/judge_client.py from about 92% of its bound to
    96-97%, the floor a bare aiohttp loop reaches there; stepping aside once gave about 93%.
    The client's CPU per call rose from 0.8-1.1 ms to 1.35-1.75 ms (the loop turns over more
    often, with fewer events a turn), which is what shorter waits cost.
    """

    def __init__(self, concurrency: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[call-arg]  # raises RuntimeError without the extra
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self.shared: SharedLimit | None = None  # the provider's limits over all workers

    def _shared_slot(self) -> Any:
        """A slot of the provider's limit shared through Redis, inside this worker's own: a
        call waits for the provider only once this worker would send it."""
        return self.shared.slot() if self.shared is not None else contextlib.nullcontext()

    def slot(self) -> asyncio.Semaphore:
        """One of the slots, as an async context manager (held by a call that backs off)."""
        return self._slots

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        async with self._slots, self._shared_slot():
            before = _BEFORE_SEND.get()
            if before is not None:
                await before()
            response = await super().send(request, **kwargs)  # type: ignore[misc]
        await asyncio.sleep(0)  # the woken request takes the slot
        await asyncio.sleep(0)  # and its body is written (see above)
        return response


class _GatedAioHttpClient(_Gated, openai.DefaultAioHttpClient):
    pass


class _GatedHttpxClient(_Gated, openai.DefaultAsyncHttpxClient):
    pass


async def in_order(concurrency: int, work: Callable[[Any], Awaitable[Any]], items: Sequence) -> list:
    """`work` over `items`, results in order, from a pool of workers that take items in order:
    twice the concurrency, so answers from the cache never hold a connection idle and the
    requests that wait for a slot are already built (`_Gated`). A task per item would build
    every item's request before the first one is sent (0.3 s for 4,000 pairs, 2.5% of
    bench/judge_client.py's bound), and hold them all."""
    results: list = [None] * len(items)
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, item in queue:
            results[index] = await work(item)

    workers = 2 * max(1, concurrency)
    await asyncio.gather(*(worker() for _ in range(min(workers, len(items)))))
    return results


def _http_client(concurrency: int) -> _Gated:
    """The SDK's aiohttp client where the `openai[aiohttp]` extra is installed, else its default
    httpx2 client, either with `concurrency` exchanges at most in flight (`_Gated`). The pool
    keeps at least `concurrency` connections alive, so calls at the concurrency bound reuse
    them instead of opening new ones; its connection cap stays above the bound (the SDK's 1000)
    because the gate is the bound: a cap equal to it makes a call wait whenever the previous
    call's connection is handed back a moment after its slot, which cost about 1% of
    throughput in bench/judge_client.py."""
    limits = httpx2.Limits(
        max_connections=max(concurrency, 1000), max_keepalive_connections=max(concurrency, 100)
    )
    try:
        return _GatedAioHttpClient(concurrency, limits=limits)
    except RuntimeError:  # "... you must have installed the package with the `aiohttp` extra"
        return _GatedHttpxClient(concurrency, limits=limits)


def _close_with_loop(client: openai.AsyncOpenAI, shared: SharedLimit | None) -> Any:
    """An async generator, started here, whose `finally` closes `client` (and the shared limit's
    Redis client): the event loop closes
    the async generators it started when it shuts down (asyncio.run does, in
    `loop.shutdown_asyncgens()`), so each loop's client is closed in that loop, before it
    ends, without a warning about an unclosed aiohttp session. Keep the returned generator
    referenced for as long as the client is in use."""

    async def closer():
        try:
            yield
        finally:
            await client.close()
            if shared is not None:
                await shared.aclose()

    generator = closer()
    with contextlib.suppress(StopIteration):
        generator.asend(None).send(None)  # runs to the `yield`: the loop now tracks it
    return generator


def _estimate_tokens(request: dict[str, Any]) -> int:
    """Rough prompt size (4 characters a token) plus the most the reply may use."""
    chars = sum(len(m.get("content") or "") for m in request.get("messages", []))
    return chars // 4 + int(request.get("max_tokens") or 0) * int(request.get("n") or 1)


def _describe(exc: Exception) -> str:
    """A short, user-facing reason for a failed attempt."""
    if isinstance(exc, openai.APITimeoutError) and not _dropped_connection(exc):
        return "timed out (raise the judge's timeout_s param if the server is slow)"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} from the endpoint: {str(exc.message)[:200]}"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection failed: {_dropped_connection(exc) or exc}"
    return f"malformed reply from the endpoint: {str(exc)[:200]}"


def _dropped_connection(exc: BaseException) -> str:
    """The cause's text when an SDK error comes from a connection that failed without timing
    out ("" otherwise). The aiohttp transport reports every aiohttp connection error as an
    httpx2 ConnectTimeout (so the SDK raises APITimeoutError, retried like any other); a
    refused or dropped connection is still described as a connection failure."""
    try:
        import aiohttp
    except ImportError:
        return ""
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, aiohttp.ClientError):
        cause = cause.__cause__
    if cause is None or isinstance(cause, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return ""
    return str(cause) or type(cause).__name__
