"""A real HTTP server that speaks the OpenAI chat API, with faults on demand (judge tests).

The behaviour is chosen per request by a `SCENARIO=name` marker in the prompt: logprobs,
no-logprobs, rate-limited (429 with Retry-After), server-error (500), slow, delay=S,
truncated JSON, no verdict, and `chaos`: a seeded share of attempts fails with one of those
faults at random (or hangs past the client's timeout), the rest answer normally (see `Chaos`).
Only the HTTP transport is fake; the judge's SDK client is real.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "judge-model"
POLICY_MODEL = "policy-model"  # answers in plain text, `n` distinct choices (generation tests)
API_KEY = "sk-test"
VOTE_PATTERN = ["1", "1", "2", "1", "tie"]


def _logprob_entry(token: str, top: dict[str, float]) -> dict:
    return {
        "token": token,
        "logprob": math.log(top.get(token, 1e-6)),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top.items()],
    }


CHAOS_FAULTS = ("rate-limited", "server-error", "timeout", "truncated", "no-verdict")


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a judge at concurrency 64 on a loaded machine then
    # meets refused connections, a fault the tests did not ask for.
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout test) hangs up before the slow answer is written:
        # expected here, so no traceback on stderr. Anything else is still printed.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class Chaos:
    """Random faults for `SCENARIO=chaos` prompts: each attempt fails with probability `rate`,
    with one of CHAOS_FAULTS picked evenly. The draw is a hash of (seed, request, attempt
    number), not a shared random stream, so the same run meets the same faults whatever order
    its concurrent calls arrive in. `hang_s` is how long a `timeout` attempt keeps the
    connection before closing it unanswered (set it past the client's per-call timeout);
    `retry_after` is the 429's Retry-After header."""

    rate: float = 0.3
    seed: int = 0
    hang_s: float = 1.0
    retry_after: str = "0.05"

    def fault(self, text: str, attempt: int) -> str | None:
        digest = hashlib.sha256(f"{self.seed}|{attempt}|{text}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        return CHAOS_FAULTS[digest[8] % len(CHAOS_FAULTS)]


class FakeOpenAI:
    """An OpenAI-compatible endpoint whose behaviour is chosen by a `SCENARIO=name` marker
    in the prompt. It records every request it is sent, what each `chaos` attempt met
    (`faults`), and how many complete replies it sent per request body (`answered`: a
    reply the client received in full is a paid call)."""

    def __init__(self, chaos: Chaos | None = None) -> None:
        self.chaos = chaos or Chaos()
        self.requests: list[dict] = []
        self.arrivals: list[tuple[str, float]] = []  # (prompt text, time.monotonic()) per chat request
        self.faults: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # complete 200 replies, by canonical request body
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()  # requests being answered, per scenario
        self.max_in_flight: Counter[str] = Counter()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def calls(self, scenario: str = "") -> int:
        """Chat requests received (for one scenario, when given)."""
        with self.lock:
            chats = [r for r in self.requests if "messages" in r]
        return sum(scenario in json.dumps(r["messages"]) for r in chats)

    def paid_twice(self) -> int:
        """Request bodies that were answered in full more than once."""
        with self.lock:
            return sum(1 for n in self.answered.values() if n > 1)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    return self._json(401, {"error": {"message": "bad key"}})
                return self._json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {"id": m, "object": "model", "created": 0, "owned_by": "test"}
                            for m in (MODEL, POLICY_MODEL)
                        ],
                    },
                )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append(body)
                    text = json.dumps(body["messages"])
                    fake.arrivals.append((text, time.monotonic()))
                    fake.attempts[text] += 1
                    attempt = fake.attempts[text]
                    match = re.search(r"SCENARIO=([\w.=-]+)", text)
                    scenario = match.group(1) if match else "logprobs"
                    fake.in_flight[scenario] += 1
                    fake.max_in_flight[scenario] = max(fake.max_in_flight[scenario], fake.in_flight[scenario])
                self._answering = scenario
                try:
                    fake.respond(self, scenario, body, attempt)
                finally:
                    self._answered()

            def _answered(self) -> None:
                # Counted out before the reply goes out: once the client has it, it may send its
                # next request before this thread runs again, which would count both in flight.
                scenario, self._answering = getattr(self, "_answering", None), None
                if scenario is not None:
                    with fake.lock:
                        fake.in_flight[scenario] -= 1

            def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                raw = json.dumps(payload).encode()
                self._answered()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler

    def respond(self, handler, scenario: str, body: dict, attempt: int) -> None:
        if scenario == "chaos":
            return self._chaos(handler, body, attempt)
        if scenario == "rate-limited" and attempt == 1:
            return handler._json(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.3"})
        if scenario == "server-error":
            return handler._json(500, {"error": {"message": "boom"}})
        if scenario == "slow":
            time.sleep(2.0)
        if scenario.startswith("delay="):
            time.sleep(float(scenario.split("=")[1]))
        if scenario == "truncated" and attempt == 1:
            raw = b'{"id": "x", "choices": [{"index": 0, "mess'
            handler._answered()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)
            return None
        return self._answer(handler, scenario, body)

    def _answer(self, handler, scenario: str, body: dict) -> None:
        handler._json(200, self.completion(scenario, body))
        with self.lock:  # counted once the whole reply is written: the client has it
            self.answered[json.dumps(body, sort_keys=True)] += 1

    def _chaos(self, handler, body: dict, attempt: int) -> None:
        fault = self.chaos.fault(json.dumps(body, sort_keys=True), attempt)
        with self.lock:
            self.faults[fault or "ok"] += 1
        if fault == "rate-limited":
            retry_after = {"Retry-After": self.chaos.retry_after}
            return handler._json(429, {"error": {"message": "slow down"}}, retry_after)
        if fault == "server-error":
            return handler._json(500, {"error": {"message": "boom"}})
        if fault == "timeout":
            time.sleep(self.chaos.hang_s)  # the client gave up meanwhile; close unanswered
            handler.close_connection = True
            return None
        if fault == "truncated":
            raw = b'{"id": "x", "choices": [{"index": 0, "mess'
            handler._answered()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)
            return None
        return self._answer(handler, "no-verdict" if fault == "no-verdict" else "logprobs", body)

    def completion(self, scenario: str, body: dict) -> dict:
        n = int(body.get("n") or 1)
        if body.get("model") == POLICY_MODEL:
            texts = self.policy_texts(scenario, body)
            return self._envelope(texts, [None] * len(texts))
        if scenario in {"no-logprobs", "ignore-n"}:
            contents = VOTE_PATTERN[:n] if scenario == "no-logprobs" else ["2"]
            logprobs = [None] * len(contents)
        else:
            contents, logprobs = self._with_logprobs(scenario, body)
        return self._envelope(contents, logprobs)

    @staticmethod
    def policy_texts(scenario: str, body: dict) -> list[str]:
        """A policy's replies: distinct per seed and choice, naming the start of the last user
        turn; one choice only under SCENARIO=ignore-n (servers that ignore `n`)."""
        n = 1 if scenario == "ignore-n" else int(body.get("n") or 1)
        last = body["messages"][-1]["content"][:40]
        return [f"Reply {body.get('seed', 0)}.{i} to: {last}" for i in range(n)]

    def _envelope(self, contents: list[str], logprobs: list) -> dict:
        choices = [
            {
                "index": i,
                "finish_reason": "stop",
                "logprobs": lp,
                "message": {"role": "assistant", "content": c},
            }
            for i, (c, lp) in enumerate(zip(contents, logprobs, strict=True))
        ]
        return {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": choices,
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": len(choices),
                "total_tokens": 100 + len(choices),
            },
        }

    def _with_logprobs(self, scenario: str, body: dict) -> tuple[list[str], list]:
        if body["max_tokens"] > 4:  # the reasoning step of a cot template
            return ["Response 1 answers the question; response 2 does not."], [None]
        if scenario == "no-verdict":
            top = {"I": 0.6, "The": 0.4}
            return ["I think"], [{"content": [_logprob_entry("I", top)]}]
        shown = re.findall(r"<response_[12]>\n(.*?)\n</response_[12]>", body["messages"][-1]["content"], re.S)
        if scenario == "longer" and len(shown) == 2:  # prefers the longer response, ties on equal
            first, second = map(len, shown)
            top = {"1": 0.9, "2": 0.1} if first > second else {"2": 0.9, "1": 0.1}
            top = {"tie": 0.9, "1": 0.05, "2": 0.05} if first == second else top
            token = max(top, key=top.get)
            return [token], [{"content": [_logprob_entry(token, top)]}]
        if scenario == "score":
            top = {"7": 0.5, "8": 0.3, "Score": 0.2}
            return ["7"], [{"content": [_logprob_entry("7", top)]}]
        if scenario == "score-ten":
            first = _logprob_entry("1", {"1": 0.6, "9": 0.4})
            second = _logprob_entry("0", {"0": 0.5, "\n": 0.5})
            return ["10"], [{"content": [first, second]}]
        top = {"1": 0.7, "2": 0.2, "tie": 0.05, "The": 0.05}
        return ["1"], [{"content": [_logprob_entry("1", top)]}]
