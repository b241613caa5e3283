"""A provider's limits shared through a real Redis by judges in separate processes, measured at
the real OpenAI-compatible test endpoint (tests/openai_endpoint.py)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labeling.judges import JudgeConfig, JudgeItem, build_judge
from labeling.judges.limits import SharedLimit, SharedLimitSpec, share_limits
from labeling.judges.providers import Provider, parse_providers
from labeling.typed_config import ConfigError
from tests.openai_endpoint import API_KEY, MODEL

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


def judge_in_process(base_url: str, spec: SharedLimitSpec, scenario: str, count: int, tag: str) -> None:
    """One worker: a judge with its own concurrency of 16, under the provider's shared limit."""
    os.environ["OPENAI_API_KEY"] = API_KEY
    config = JudgeConfig(
        name="api",
        backend="openai",
        model=MODEL,
        params={"provider": spec.name, "base_url": base_url, "concurrency": 16},
    )
    share_limits({Provider(name=spec.name, base_url=base_url).identity: spec})
    items = [
        JudgeItem(key=str(i), prompt=f"SCENARIO={scenario} {tag} {i}", first="a", second="b")
        for i in range(count)
    ]
    verdicts = build_judge(config).judge(items)
    assert all(v.status.value == "ok" for v in verdicts), [v.error for v in verdicts]


def run_workers(fake, spec: SharedLimitSpec, scenario: str, count: int, processes: int = 2) -> None:
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=judge_in_process, args=(fake.base_url, spec, scenario, count, f"w{i}"))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0


def spec(redis_url: str, name: str, **limits) -> SharedLimitSpec:
    return SharedLimitSpec(name=name, redis_url=f"{redis_url}/7", **limits)


def test_two_processes_never_exceed_the_providers_concurrency(fake_openai, redis_url):
    # Each process alone would keep 16 calls in flight; together they may have 5.
    run_workers(fake_openai, spec(redis_url, "conc", max_concurrency=5), "delay=0.23", 30)
    assert fake_openai.calls("delay=0.23") == 60
    assert fake_openai.max_in_flight["delay=0.23"] == 5


def test_two_processes_share_the_providers_request_rate(fake_openai, redis_url):
    start = time.monotonic()
    run_workers(fake_openai, spec(redis_url, "rate", requests_per_minute=600), "delay=0.013", 20)
    arrivals = sorted(t for text, t in fake_openai.arrivals if "delay=0.013" in text)
    assert len(arrivals) == 40
    # 600 a minute is 10 a second with a burst of one second's worth: 40 calls need 3 s at least,
    # and no second sees more than the burst plus one second's rate.
    assert arrivals[-1] - arrivals[0] >= 2.8
    assert max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals) <= 20
    assert time.monotonic() - start < 60


HOLDER = """
import asyncio, sys
from labeling.judges.limits import SharedLimit, SharedLimitSpec

async def main():
    limit = SharedLimit(SharedLimitSpec(name="dead", redis_url=sys.argv[1], max_concurrency=1, lease_s=1.5))
    async with limit.slot():
        print("held", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_dead_holders_slot_comes_back_after_its_lease(redis_url):
    limit_spec = spec(redis_url, "dead", max_concurrency=1, lease_s=1.5)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, limit_spec.redis_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        time.sleep(4.0)  # over two leases: a live holder renews its slot

        async def held_and_then_taken() -> tuple[int, float]:
            limit = SharedLimit(limit_spec)
            held = await limit.held()
            os.killpg(holder.pid, signal.SIGKILL)  # dies holding the slot: no release, no renewal
            start = time.monotonic()
            async with limit.slot():
                waited = time.monotonic() - start
            await limit.aclose()
            return held, waited

        held, waited = asyncio.run(held_and_then_taken())
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert held == 1
    assert 0.3 <= waited <= 1.5 + 0.5  # the slot stayed taken until the lease ran out, then came back


def test_provider_limits_are_checked_naming_the_key():
    providers = parse_providers({"vllm": {"base_url": "http://10.0.0.5:8000/v1", "max_concurrency": 64}})
    assert providers["vllm"].max_concurrency == 64 and providers["vllm"].shares_limits
    with pytest.raises(ConfigError) as error:
        parse_providers({"vllm": {"base_url": "http://10.0.0.5:8000/v1", "requests_per_minute": 0}})
    assert error.value.key == "TANDEM_JUDGE_PROVIDERS.vllm.requests_per_minute"
    assert "positive number" in error.value.message
    with pytest.raises(ConfigError) as error:
        parse_providers({"vllm": {"base_url": "http://10.0.0.5:8000/v1", "max_concurency": 8}})
    assert "did you mean 'max_concurrency'" in str(error.value.message)
