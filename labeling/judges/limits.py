"""Client-side limits for remote judges: request/token rate buckets and retry delays.

The SDK's own retries are off (max_retries=0) so that every attempt passes through the rate
limiter, is counted, and waits exactly as long as the server's Retry-After asks.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable, Mapping


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
