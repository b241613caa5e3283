"""The openai backend's HTTP transport: the SDK's aiohttp client (the `openai[aiohttp]` extra),
closed with its event loop, with the SDK's error types, timeouts and our retries unchanged
(the scenario tests in test_openai_judge.py run through it too)."""

from __future__ import annotations

import gc
import socket
import threading
import time
import warnings

import openai
import pytest

from labeling.judges import build_judge
from labeling.records import VerdictStatus
from tests.labeling.judges.conftest import items, openai_config


def _client(judge) -> openai.AsyncOpenAI:
    return judge.caller._state.client


def test_calls_go_through_the_aiohttp_client_closed_with_its_loop(openai_env):
    judge = build_judge(openai_config())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [verdict] = judge.judge(items("logprobs", tag="aiohttp"))
        client = _client(judge)
        gc.collect()
    assert verdict.ok
    assert isinstance(client._client, openai.DefaultAioHttpClient)
    assert client.is_closed()  # asyncio.run's shutdown closed it, in its own loop
    # Only this client's leaks count: the collection may also find other tests' sockets.
    port = openai_env.base_url.split(":")[2].split("/")[0]
    leaks = [
        str(w.message)
        for w in caught
        if "Unclosed client session" in str(w.message)
        or "Unclosed connector" in str(w.message)
        or ("unclosed <socket" in str(w.message) and f"', {port})" in str(w.message))
    ]
    assert not leaks, leaks


def test_each_loop_gets_its_own_client_and_aclose_closes_it(openai_env):
    import asyncio

    judge = build_judge(openai_config())
    judge.judge(items("logprobs", tag="loop1"))
    first = _client(judge)

    async def run_then_close():
        verdicts = await judge.judge_batch(items("logprobs", tag="loop2"))
        client = _client(judge)
        await judge.caller.aclose()
        return verdicts, client

    [verdict], second = asyncio.run(run_then_close())
    assert verdict.ok and second is not first
    assert first.is_closed() and second.is_closed()


def test_retry_after_and_timeouts_through_the_aiohttp_client(openai_env):
    judge = build_judge(openai_config(timeout_s=0.3, max_retries=1))
    started = time.perf_counter()
    [limited] = judge.judge(items("rate-limited", tag="aio-retry-after"))
    assert limited.ok and limited.provenance.calls == 2
    assert time.perf_counter() - started >= 0.3  # Retry-After: 0.3
    started = time.perf_counter()
    [slow] = judge.judge(items("slow", tag="aio-timeout"))
    assert slow.status is VerdictStatus.ERROR and "timed out" in slow.error
    assert slow.provenance.calls == 2 and time.perf_counter() - started < 1.5
    assert isinstance(_client(judge)._client, openai.DefaultAioHttpClient)


@pytest.fixture
def hanging_up_server():
    """A TCP server that reads each request and closes the connection without an answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join()
    listener.close()


def test_a_dropped_connection_is_a_connection_failure_not_a_timeout(openai_env, hanging_up_server):
    # aiohttp's errors reach the SDK as httpx2 ConnectTimeout (so as APITimeoutError, retried
    # like the rest); the reason still says what happened.
    judge = build_judge(openai_config(base_url=hanging_up_server, max_retries=1))
    [verdict] = judge.judge(items("logprobs", tag="dropped"))
    assert verdict.status is VerdictStatus.ERROR
    assert "connection failed" in verdict.error and "timed out" not in verdict.error
    assert "gave up after 2 attempts" in verdict.error


def test_without_the_aiohttp_extra_the_default_httpx2_client_is_used(openai_env, monkeypatch):
    def missing(self, **_kwargs):  # what the SDK's client does when the extra is not installed
        raise RuntimeError("To use the aiohttp client you must have installed the `aiohttp` extra")

    monkeypatch.setattr(openai.DefaultAioHttpClient, "__init__", missing)
    judge = build_judge(openai_config(timeout_s=0.3, max_retries=1))
    [verdict] = judge.judge(items("logprobs", tag="httpx2"))
    assert verdict.ok
    assert isinstance(_client(judge)._client, openai.DefaultAsyncHttpxClient)
    [slow] = judge.judge(items("slow", tag="httpx2-timeout"))
    assert "timed out" in slow.error
