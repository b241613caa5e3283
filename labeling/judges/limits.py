"""Client-side limits for remote judges: request/token rate buckets, retry delays, and a
provider's concurrency and rate shared by every worker through Redis (`SharedLimit`).

The SDK's own retries are off (max_retries=0) so that every attempt passes through the rate
limiter, is counted, and waits exactly as long as the server's Retry-After asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class TokenBucket:
    """`rate_per_min` units per minute, with a burst of one second's worth (at least one
    request's worth). A request larger than the burst may drive the level negative, so the
    next callers wait it off instead of the large one waiting forever."""

    def __init__(self, rate_per_min: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_min / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` may be taken (0.0 when it may be taken now)."""
        self._refill()
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits; None means unlimited."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self._buckets = [
            (TokenBucket(rpm), True) if rpm else None,
            (TokenBucket(tpm), False) if tpm else None,
        ]

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of about `tokens` tokens fits both limits, then take it."""
        buckets = [b for b in self._buckets if b is not None]
        while True:
            wait = max((b.wait_for(1 if is_req else tokens) for b, is_req in buckets), default=0)
            if wait <= 0:
                for bucket, is_req in buckets:
                    bucket.take(1 if is_req else tokens)
                return
            await asyncio.sleep(wait)

    def settle(self, estimated: int, actual: int) -> None:
        """Charge the token bucket the difference once the real usage is known."""
        bucket = self._buckets[1]
        if bucket is not None:
            bucket[0].take(actual - estimated)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait from `retry-after-ms` or `retry-after` (seconds or an HTTP
    date); None when it sent neither or sent something unreadable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
        value = lowered.get("retry-after")
        if value is None:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (ValueError, TypeError):
        return None


def backoff_delay(
    attempt: int,
    retry_after: float | None,
    base_s: float,
    max_s: float,
    rng: random.Random,
) -> float:
    """Delay before retry number `attempt + 1`: the server's Retry-After when given (capped
    at `max_s`), else exponential backoff with equal jitter: d/2 + U(0, d/2), d = base*2^attempt.
    """
    if retry_after is not None:
        return min(retry_after, max_s)
    delay = min(max_s, base_s * 2**attempt)
    return delay / 2 + rng.uniform(0, delay / 2)


def price_of(
    prices: Mapping[str, Mapping[str, float]], model: str, prompt_tokens: int, completion: int
) -> float | None:
    """Cost in the price table's currency; prices are per million tokens, keyed by model, as
    {"input": x, "output": y}. None when the model has no entry (unknown, not free)."""
    entry = prices.get(model)
    if entry is None:
        return None
    return (prompt_tokens * entry.get("input", 0.0) + completion * entry.get("output", 0.0)) / 1e6


# -- limits shared by every process (Redis) -----------------------------------------------------

# One round trip takes a concurrency slot and a request from the rate, or neither. Slots are a
# sorted set of holders scored by lease expiry: a holder that died (kill -9, a lost machine)
# stops renewing, and its slot is swept once the lease runs out. The rate is GCRA (one key, the
# theoretical arrival time) with a burst of one second's worth, as TokenBucket allows. Times
# come from the Redis server's clock, so the workers' clocks need not agree.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local slots, lease = tonumber(ARGV[2]), tonumber(ARGV[3])
if slots > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= slots then
    return {0, 0}
  end
end
local rpm = tonumber(ARGV[4])
if rpm > 0 then
  local interval = 60000 / rpm
  local burst = math.max(1, rpm / 60) * interval
  local tat = math.max(tonumber(redis.call('GET', KEYS[2]) or now), now) + interval
  if tat - now > burst then
    return {0, math.ceil(tat - now - burst)}
  end
  redis.call('SET', KEYS[2], tostring(tat), 'PX', math.ceil(tat - now) + 1000)
end
if slots > 0 then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * lease))
end
return {1, 0}
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * tonumber(ARGV[2])))
  return 1
end
return 0
"""


@dataclass(frozen=True)
class SharedLimitSpec:
    """A provider's limits as every worker applies them: at most `max_concurrency` requests in
    flight and `requests_per_minute` sent, over all processes that use `redis_url`; a slot whose
    holder stops renewing it comes back after `lease_s`. None: that limit is not shared."""

    name: str
    redis_url: str
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    lease_s: float = 30.0


class SharedLimit:
    """`SharedLimitSpec` for the calls of one event loop (its Redis client is bound to it).

    No library fits both halves: redis-py's Lock is a mutex, not a counting semaphore, and the
    rate limiters (`limits`, pyrate-limiter) have no slots with leases. Taking both in one Lua
    script also means a request never holds a slot while it waits for the rate, nor the reverse.

    In a process only one waiting call polls Redis at a time (the others queue behind a local
    lock), so N workers poll N times per interval however many calls they have waiting. A held
    slot is renewed every third of its lease while its call runs."""

    def __init__(self, spec: SharedLimitSpec, poll_s: tuple[float, float] = (0.005, 0.05)) -> None:
        import redis.asyncio

        self.spec = spec
        self._redis = redis.asyncio.Redis.from_url(spec.redis_url)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._keys = [f"tandem:limit:{spec.name}:slots", f"tandem:limit:{spec.name}:rate"]
        self._queue = asyncio.Lock()
        self._poll_s = poll_s

    @contextlib.asynccontextmanager
    async def slot(self):
        """Hold one shared slot (and one request of the rate) for the body's duration."""
        token = uuid.uuid4().hex
        await self._take(token)
        renewer = asyncio.create_task(self._keep(token)) if self.spec.max_concurrency else None
        try:
            yield
        finally:
            if renewer is not None:
                renewer.cancel()
                await self._redis.zrem(self._keys[0], token)

    async def _take(self, token: str) -> None:
        lease_ms = self.spec.lease_s * 1000
        args = [token, self.spec.max_concurrency or 0, lease_ms, self.spec.requests_per_minute or 0]
        async with self._queue:
            delay = self._poll_s[0]
            while True:
                taken, wait_ms = await self._acquire(keys=self._keys, args=args)
                if taken:
                    return
                await asyncio.sleep(max(wait_ms / 1000, delay))
                delay = min(self._poll_s[1], delay * 2)

    async def _keep(self, token: str) -> None:
        while True:
            await asyncio.sleep(self.spec.lease_s / 3)
            await self._renew(keys=self._keys[:1], args=[token, self.spec.lease_s * 1000])

    async def held(self) -> int:
        """Slots held now over all processes (expired leases not counted)."""
        return await self._redis.zcount(self._keys[0], time.time() * 1000, "+inf")

    async def aclose(self) -> None:
        await self._redis.aclose()


_SHARED: dict[str, SharedLimitSpec] = {}


def share_limits(specs: Mapping[str, SharedLimitSpec]) -> None:
    """Make the calls of this process to each endpoint (`provider@url`, as provenance records
    it) take that endpoint's shared limits. The platform sets them from its providers before a
    judge runs; labeling used on its own shares nothing."""
    _SHARED.clear()
    _SHARED.update(specs)


def shared_limit_for(endpoint: str) -> SharedLimitSpec | None:
    return _SHARED.get(endpoint)
