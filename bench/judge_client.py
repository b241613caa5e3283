#!/usr/bin/env python
"""Benchmark: the `openai` judge's client throughput against an endpoint with a fixed latency.

A local OpenAI-compatible server (an asyncio HTTP/1.1 server in a child process, so it does not
share the client's interpreter lock) answers every chat completion after `--latency` seconds
with a verdict token and its `top_logprobs`. Three clients do the same work, N pairs x 2 orders:

1. the project's `openai` judge (`build_judge`, `judge_batch`) at `--concurrency`;
2. a sequential loop, one call at a time with the synchronous openai SDK, the way a naive
   script does it: timed on `--sequential-calls` calls and extrapolated to all of them;
3. distilabel's `OpenAILLM`, run from a separate virtual environment (`--distilabel-python`,
   default /tmp/distilabel-venv/bin/python) in batches of `--concurrency` inputs, as a
   distilabel pipeline with `input_batch_size` = concurrency would. When that environment is
   missing or fails, the table says so.

The bound is the fastest any client can go at that concurrency: calls x latency / concurrency.
Targets (issue 3): >= 95% of the bound, >= 30x the sequential loop, not slower than distilabel.

A fourth row is the floor: the same requests POSTed by a bare aiohttp loop (no SDK, no judge),
which shows how much of the bound this machine leaves to any client.

The tandem client and the endpoint share the machine's cores, so both processes' CPU per call
is printed: the client's is what the judge's code path costs (the `openai[aiohttp]` transport
when installed, named in the table; the default httpx2 stack otherwise), the endpoint's is the
harness's share (a plain asyncio server, about 0.12 ms per call: lean already, left as it is).

    .venv/bin/python bench/judge_client.py [--pairs 2000] [--latency 0.2] [--concurrency 64]

To install the distilabel side (never into the project's .venv):
    python3 -m venv /tmp/distilabel-venv && /tmp/distilabel-venv/bin/pip install 'distilabel[openai]'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL = "bench-judge"
API_KEY = "sk-bench"
TARGET_BOUND = 0.95
TARGET_SEQUENTIAL = 30.0
DEFAULT_DISTILABEL_PYTHON = "/tmp/distilabel-venv/bin/python"


# -- the endpoint -------------------------------------------------------------------------------


def _completion_bytes() -> bytes:
    """The one reply the endpoint sends: verdict `1` with top log-probs over the verdicts."""
    top = {"1": 0.62, "2": 0.31, "tie": 0.05, "The": 0.02}
    entry = {
        "token": "1",
        "logprob": math.log(top["1"]),
        "bytes": None,
        "top_logprobs": [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in top.items()],
    }
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "logprobs": {"content": [entry]},
                "message": {"role": "assistant", "content": "1"},
            }
        ],
        "usage": {"prompt_tokens": 400, "completion_tokens": 1, "total_tokens": 401},
    }
    return json.dumps(body).encode()


def _response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class Endpoint:
    """Counts requests and the most answered at once; every chat reply waits `latency` first."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.chat = _response("200 OK", _completion_bytes())
        models = {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "x"}]}
        self.models = _response("200 OK", json.dumps(models).encode())
        self.in_flight = self.max_in_flight = self.requests = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one connection carries many requests
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if head.startswith(b"GET"):
                    writer.write(self.models)
                    continue
                if head.startswith(b"POST /stats"):
                    stats = {
                        "requests": self.requests,
                        "max_in_flight": self.max_in_flight,
                        "cpu_s": time.process_time(),  # this process's, since it started
                    }
                    self.requests = self.max_in_flight = 0
                    writer.write(_response("200 OK", json.dumps(stats).encode()))
                    continue
                self.requests += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                await asyncio.sleep(self.latency)
                self.in_flight -= 1
                writer.write(self.chat)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def run(self, port_out) -> None:
        server = await asyncio.start_server(self.serve, "127.0.0.1", 0, backlog=1024)
        port_out.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()


def _serve(latency: float, port_out) -> None:
    asyncio.run(Endpoint(latency).run(port_out))


def start_endpoint(latency: float) -> tuple[multiprocessing.Process, str]:
    """(the server process, its base URL)."""
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=_serve, args=(latency, send), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{receive.recv()}/v1"


def endpoint_stats(base_url: str) -> dict:
    """Requests since the last look and the most answered at once (then resets both)."""
    import httpx

    return httpx.post(base_url.removesuffix("/v1") + "/stats").json()


# -- the work -----------------------------------------------------------------------------------


def make_pairs(n: int) -> list[tuple[str, str, str]]:
    """Distinct pairs (so no request repeats and the call cache never answers) of realistic size."""
    filler = "The answer explains each step and gives an example. " * 8
    return [
        (
            f"Question {i}: how would you summarise topic {i} for a new engineer?",
            f"Response A{i}. {filler}",
            f"Response B{i}. {filler[::-1]}",
        )
        for i in range(n)
    ]


def judge_items(pairs):
    from labeling.judges import JudgeItem

    items = []
    for i, (prompt, a, b) in enumerate(pairs):
        items.append(JudgeItem(key=f"{i}:ab", prompt=prompt, first=a, second=b))
        items.append(JudgeItem(key=f"{i}:ba", prompt=prompt, first=b, second=a))
    return items


def run_project(base_url: str, items, concurrency: int, profile=None) -> tuple[float, float, int, str]:
    """(wall seconds, client CPU seconds, OK verdicts, which transport) for the project's
    openai judge on all items; `profile` (a cProfile.Profile) is enabled around the judging only."""
    from labeling.judges import JudgeConfig, MemoryCallCache, build_judge

    os.environ["BENCH_JUDGE_KEY"] = API_KEY
    config = JudgeConfig(
        name="bench",
        backend="openai",
        model=MODEL,
        params={"base_url": base_url, "api_key_env": "BENCH_JUDGE_KEY", "concurrency": concurrency},
    )
    judge = build_judge(config, cache=MemoryCallCache())

    async def main():
        await judge.check()
        if profile is not None:
            profile.enable()
        started, cpu = time.perf_counter(), time.process_time()
        verdicts = await judge.judge_batch(items)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profile is not None:
            profile.disable()
        import openai

        http_client = judge.caller._loop_state().client._client
        aiohttp = isinstance(http_client, openai.DefaultAioHttpClient)
        transport = "aiohttp transport" if aiohttp else "httpx2 transport"
        await judge.aclose()
        return elapsed, cpu, sum(v.ok for v in verdicts), transport

    return asyncio.run(main())


def request_messages(items) -> list[list[dict]]:
    """The messages the project's judge sends, so every client sends the same requests."""
    from labeling.judges import JudgeConfig
    from labeling.judges.messages import judge_template, pairwise_messages

    config = JudgeConfig(name="bench", backend="openai", model=MODEL)
    template = judge_template(config, "pairwise")
    return [pairwise_messages(template, config, item) for item in items]


def run_sequential(base_url: str, conversations) -> tuple[float, int]:
    """(seconds, parsed verdicts) for a plain loop: one synchronous SDK call at a time."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
    client.models.list()  # connect before timing, as the project's check() does
    started = time.perf_counter()
    parsed = 0
    for messages in conversations:
        reply = client.chat.completions.create(
            model=MODEL, messages=messages, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=5
        )
        top = {t.token: t.logprob for t in reply.choices[0].logprobs.content[0].top_logprobs}
        parsed += "1" in top or "2" in top
    return time.perf_counter() - started, parsed


def run_floor(base_url: str, conversations, concurrency: int) -> tuple[float, float, int]:
    """(wall seconds, client CPU seconds, replies) for the least a client can do: the same
    request bodies, serialized beforehand, POSTed with a bare aiohttp session at the same
    concurrency; only the reply's JSON is parsed. No SDK, no judge, no cache. What it misses of
    the bound is this machine's (scheduling, the shared cores, the endpoint), not a client's."""
    import aiohttp

    bodies = [
        json.dumps(
            {
                "model": MODEL,
                "messages": m,
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": True,
                "top_logprobs": 20,
            }
        ).encode()
        for m in conversations
    ]
    headers = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}

    async def main():
        slots = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def post(body: bytes) -> dict:
                async with (
                    slots,
                    session.post(f"{base_url}/chat/completions", data=body, headers=headers) as r,
                ):
                    return json.loads(await r.read())

            await asyncio.gather(*(post(b) for b in bodies[:concurrency]))  # connect before timing
            started, cpu = time.perf_counter(), time.process_time()
            replies = await asyncio.gather(*(post(b) for b in bodies))
            return (
                time.perf_counter() - started,
                time.process_time() - cpu,
                sum(bool(r.get("choices")) for r in replies),
            )

    return asyncio.run(main())


DISTILABEL_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
base_url, key, model, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conversations = json.load(sys.stdin)
import distilabel
try:
    from distilabel.models import OpenAILLM
except ImportError:
    from distilabel.llms import OpenAILLM
llm = OpenAILLM(model=model, base_url=base_url, api_key=key, max_retries=0)
llm.load()
kwargs = {"max_new_tokens": 1, "temperature": 0.0}
try:
    llm.generate_outputs(inputs=conversations[:1], num_generations=1, logprobs=True, top_logprobs=5, **kwargs)
    kwargs |= {"logprobs": True, "top_logprobs": 5}
except TypeError:
    pass  # this version has no logprobs argument
started = time.perf_counter()
outputs = 0
for start in range(0, len(conversations), batch):
    chunk = conversations[start:start + batch]
    outputs += len(llm.generate_outputs(inputs=chunk, num_generations=1, **kwargs))
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "outputs": outputs, "version": distilabel.__version__,
                  "logprobs": "logprobs" in kwargs}))
"""


def run_distilabel(python: str, base_url: str, conversations, batch: int) -> dict:
    """distilabel's result as a dict, or {"error": why} when it cannot be run here."""
    if not Path(python).is_file():
        return {"error": f"{python} not found (install distilabel[openai] into a separate venv)"}
    try:
        done = subprocess.run(
            [python, "-c", DISTILABEL_SCRIPT, base_url, API_KEY, MODEL, str(batch)],
            input=json.dumps(conversations),
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, "DISTILABEL_LOG_LEVEL": "ERROR", "HF_HUB_OFFLINE": "1"},
        )
    except subprocess.TimeoutExpired:
        return {"error": "distilabel did not finish in 30 minutes"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"distilabel failed (exit {done.returncode}): {' | '.join(tail)[:400]}"}
    return json.loads(lines[-1])


# -- the profile --------------------------------------------------------------------------------


def _package_of(filename: str) -> str:
    """Which package a profiled function belongs to (site-packages name, labeling, or stdlib)."""
    path = Path(filename)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].split(".")[0]
    if ROOT in path.parents:
        return path.relative_to(ROOT).parts[0]
    if filename.startswith("<") or filename == "~":
        return "builtins (sockets, queues, hashing)"
    if path.parent.name.startswith("python3"):
        return f"stdlib {path.stem}"
    return f"stdlib {path.parent.name}"


def print_profile(profile, calls: int) -> None:
    """Own (tottime) CPU seconds per package and the top functions, per call."""
    import pstats

    stats = pstats.Stats(profile).stats
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.items():
        package = _package_of(filename)
        by_package[package] = by_package.get(package, 0.0) + tottime
    total = sum(by_package.values())
    print(
        f"profile of the tandem run (cProfile, which itself slows it): {total:.1f} CPU s, "
        f"{total / calls * 1000:.2f} ms per call"
    )
    for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {package:40} {seconds:7.2f} s  {seconds / total:6.1%}")
    print("  functions with the most own time:")
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:12]
    for (filename, line, name), (_, _, tottime, cumtime, _) in top:
        where = f"{_package_of(filename)}: {Path(filename).name}:{line} {name}"[:80]
        own, cumulative = tottime / calls * 1000, cumtime / calls * 1000
        print(f"    {own:6.2f} ms/call own, {cumulative:6.2f} cumulative  {where}")


# -- the table ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the endpoint waits per call")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sequential-calls", type=int, default=100, help="calls the sequential loop times")
    parser.add_argument("--distilabel-python", default=DEFAULT_DISTILABEL_PYTHON)
    parser.add_argument("--skip-distilabel", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile the tandem run (slows it)")
    return parser.parse_args()


def print_rows(rows, calls: int, bound: float, distilabel: dict) -> None:
    """One line per client: wall time, calls/s, share of the bound, the most calls in flight."""
    columns = ("wall s", "calls/s", "of bound", "in flight", "verdicts")
    print(f"{'client':28} " + " ".join(f"{c:>9}" for c in columns) + "  note")
    for name, secs, done, in_flight, note in rows:
        cells = f"{secs:9.2f} {calls / secs:9.1f} {bound / secs:9.1%} {in_flight:9d} {done:9d}"
        print(f"{name:28} {cells}  {note}")
    if "error" in distilabel:
        print(f"{'distilabel OpenAILLM':28} {'n/a':>9}  {distilabel['error']}")
    print()


def print_targets(
    seconds: float, cpu: float, endpoint_cpu: float, calls: int, bound: float, seq_total: float, distilabel
) -> None:
    print(
        f"tandem client process CPU: {cpu:.2f} s ({cpu / calls * 1000:.2f} ms per call; the bound leaves "
        f"{bound / calls * 1000:.2f} ms of wall time per call for all client work)"
    )
    print(
        f"endpoint process CPU in that run: {endpoint_cpu:.2f} s ({endpoint_cpu / calls * 1000:.2f} ms "
        "per call, on the same cores)"
    )
    vs_bound, vs_seq = bound / seconds, seq_total / seconds
    print(
        f"tandem vs bound:      {vs_bound:6.1%}  (target >= {TARGET_BOUND:.0%}: "
        f"{'met' if vs_bound >= TARGET_BOUND else 'MISSED'})"
    )
    print(
        f"tandem vs sequential: {vs_seq:6.1f}x  (target >= {TARGET_SEQUENTIAL:.0f}x: "
        f"{'met' if vs_seq >= TARGET_SEQUENTIAL else 'MISSED'})"
    )
    if "error" in distilabel:
        print("tandem vs distilabel: not measured (see above)")
        return
    vs_dl = distilabel["seconds"] / seconds
    print(f"tandem vs distilabel: {vs_dl:6.2f}x  (target >= 1x: {'met' if vs_dl >= 1 else 'MISSED'})")


def main() -> None:
    args = parse_args()
    server, base_url = start_endpoint(args.latency)
    items = judge_items(make_pairs(args.pairs))
    calls = len(items)
    bound = calls * args.latency / args.concurrency
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, shared with other work (timings are "
        f"noisy); python {platform.python_version()}; endpoint: asyncio server in a child process"
    )
    print(
        f"work: {args.pairs} pairs x 2 orders = {calls} calls, latency {args.latency * 1000:.0f} ms, "
        f"concurrency {args.concurrency}; bound = calls x latency / concurrency = {bound:.2f} s"
    )
    print()
    conversations = request_messages(items)

    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
    endpoint_cpu = endpoint_stats(base_url)["cpu_s"]
    seconds, cpu, ok, transport = run_project(base_url, items, args.concurrency, profile)
    seen = endpoint_stats(base_url)
    endpoint_cpu = seen["cpu_s"] - endpoint_cpu
    rows = [("tandem openai judge", seconds, ok, seen["max_in_flight"], f"measured, {transport}")]

    floor_seconds, floor_cpu, floor_ok = run_floor(base_url, conversations, args.concurrency)
    seen = endpoint_stats(base_url)
    note = f"measured, {floor_cpu / calls * 1000:.2f} ms CPU per call: this machine's floor"
    rows.append(("bare aiohttp POST loop", floor_seconds, floor_ok, seen["max_in_flight"], note))

    sub = conversations[: args.sequential_calls]
    seq_seconds, seq_ok = run_sequential(base_url, sub)
    endpoint_stats(base_url)
    seq_total = seq_seconds * calls / len(sub)
    note = f"extrapolated from {len(sub)} calls ({seq_seconds:.1f} s)"
    rows.append(("sequential openai SDK loop", seq_total, seq_ok * calls // len(sub), 1, note))

    if args.skip_distilabel:
        distilabel = {"error": "skipped (--skip-distilabel)"}
    else:
        distilabel = run_distilabel(args.distilabel_python, base_url, conversations, args.concurrency)
    if "error" not in distilabel:
        seen = endpoint_stats(base_url)
        note = f"measured, v{distilabel['version']}, batches of {args.concurrency}"
        if not distilabel["logprobs"]:
            note += ", no logprobs arg"
        in_flight = seen["max_in_flight"]
        rows.append(("distilabel OpenAILLM", distilabel["seconds"], distilabel["outputs"], in_flight, note))
    server.terminate()
    if profile is not None:
        print_profile(profile, calls)
        print()
    print_rows(rows, calls, bound, distilabel)
    print_targets(seconds, cpu, endpoint_cpu, calls, bound, seq_total, distilabel)


if __name__ == "__main__":
    main()
