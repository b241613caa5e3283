"""The judge protocol: what goes in (JudgeItem), what comes out (Verdict), how a judge is
configured (JudgeConfig) and chosen by name (the backend registry).

Choices here are in *shown* terms (`first` / `second` / `tie`), because a judge only ever sees
the two responses in some order; `ShownChoice.to_pair(order)` maps a choice back to the pair's
`a` / `b` (labeling.records.Choice). `p_first` is likewise the probability that the
first-shown response is better.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from labeling.judges.cache import CallCache, MemoryCallCache, canonical_json
from labeling.records import Choice, Order, VerdictStatus

# Params that change how fast a judge runs but never what it answers: they are left out of
# the config hash so tuning throughput does not make every judgment look new.
OPERATIONAL_PARAMS = frozenset(
    {
        "concurrency",
        "rpm",
        "tpm",
        "timeout_s",
        "max_retries",
        "backoff_base_s",
        "backoff_max_s",
        "batch_size",
        "device",
        "prices",
        # where calls go: recorded as the judge's `endpoint` (normalized) instead
        "base_url",
        "api_key_env",
        "provider",
    }
)


class JudgeError(Exception):
    """A judge cannot run as configured. `code` is stable (e.g. `judge.openai.api_key`);
    `setting` names what the user must change."""

    def __init__(self, code: str, message: str, setting: str = "") -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.setting = setting


class ShownChoice(StrEnum):
    """A winner in presentation terms: the first-shown response, the second, or a tie."""

    FIRST = "first"
    SECOND = "second"
    TIE = "tie"

    def to_pair(self, order: Order) -> Choice:
        """The same choice in the pair's own terms (`a` / `b` / `tie`)."""
        if self is ShownChoice.TIE:
            return Choice.TIE
        first_is_a = order is Order.AB
        return Choice.A if (self is ShownChoice.FIRST) == first_is_a else Choice.B

    @classmethod
    def from_pair(cls, choice: Choice, order: Order) -> ShownChoice:
        """Inverse of `to_pair`."""
        if choice is Choice.TIE:
            return cls.TIE
        first = Choice.A if order is Order.AB else Choice.B
        return cls.FIRST if choice is first else cls.SECOND


@dataclass(frozen=True)
class JudgeItem:
    """One pair shown in one order. `key` identifies it to the caller (e.g. `pair-7:ab`)."""

    key: str
    prompt: str
    first: str
    second: str
    reference: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where a verdict came from, enough to reproduce and to bill it.

    `p_source` says how the probability was obtained: `logprobs` (verdict-token probabilities,
    from an endpoint's top_logprobs or a local model's logits), `votes:N` (N parsed sampled
    votes), `hard` (a hard choice mapped to 1 / 0 / 0.5) or `recorded` (replayed as given).
    `cost` is None only when the price table has no entry for the model.
    `latency_s` is the wall time of the exchange that produced it: the answered attempt, from
    its send to its reply, without earlier attempts, back-off or the wait for a slot (a batch
    shares one call).
    `calls` counts HTTP attempts or forward passes made for it (0 when `cached`).
    `endpoint` is where an endpoint judge's calls went (`provider@url`, or the normalized URL).
    `notes` holds what a reader must know about how this verdict was computed (for the `hf`
    backend, `prefix_reuse`: `on` or `off: <reason>`).
    """

    backend: str
    model: str
    template: str = ""
    template_sha256: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    latency_s: float = 0.0
    cache_key: str = ""
    cached: bool = False
    p_source: str = ""
    calls: int = 0
    endpoint: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A judge's answer for one JudgeItem.

    Invariants: `p_first` and `choice` are set exactly when `status` is OK; `error` is a
    non-empty reason exactly when it is not. `members` holds the member verdicts of an
    ensemble (empty otherwise).
    """

    key: str
    status: VerdictStatus
    p_first: float | None
    choice: ShownChoice | None
    provenance: Provenance
    rationale: str = ""
    error: str = ""
    members: tuple[Verdict, ...] = ()

    def __post_init__(self) -> None:
        ok = self.status is VerdictStatus.OK
        if ok != (self.p_first is not None and self.choice is not None) or ok == bool(self.error):
            raise ValueError(f"inconsistent verdict for {self.key!r}: {self.status}")

    @property
    def ok(self) -> bool:
        return self.status is VerdictStatus.OK

    def pair_choice(self, order: Order) -> Choice | None:
        """The choice in the pair's a/b terms given the order the item was shown in."""
        return self.choice.to_pair(order) if self.choice is not None else None

    @classmethod
    def failed(cls, key: str, status: VerdictStatus, error: str, provenance: Provenance) -> Verdict:
        """A verdict that carries a reason instead of an answer (UNPARSABLE or ERROR)."""
        return cls(key=key, status=status, p_first=None, choice=None, provenance=provenance, error=error)


@dataclass(frozen=True)
class JudgeConfig:
    """A named judge: backend, model, template, principles and backend params.

    Secrets never go here: the openai backend reads its key from the environment.
    """

    name: str
    backend: str
    model: str = ""
    template: str = "pairwise_v1"
    rubric: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[JudgeConfig, ...] = ()

    def config_hash(self) -> str:
        """sha256 over everything that can change an answer (operational params excluded),
        including the template file's own hash, so editing a template changes the judge."""
        from labeling.prompts import load_template_text

        template_sha = load_template_text(self.template)[1] if self.template else ""
        body = {
            "backend": self.backend,
            "model": self.model,
            "template": [self.template, template_sha],
            "rubric": self.rubric,
            "params": {k: v for k, v in self.params.items() if k not in OPERATIONAL_PARAMS},
            "members": [m.config_hash() for m in self.members],
        }
        if endpoint := endpoint_of(self):
            body["endpoint"] = endpoint
        return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass
class JudgeStats:
    """Running totals of one judge instance (what `judge --json` reports)."""

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add_usage(self, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.cost += cost or 0.0


class Judge:
    """Base of every backend. Subclasses implement `judge_batch`; `check` fails fast on bad
    configuration; `score_batch` exists on backends that support direct scoring."""

    backend = ""

    def __init__(self, config: JudgeConfig, cache: CallCache | None = None) -> None:
        self.config = config
        self.cache: CallCache = cache if cache is not None else MemoryCallCache()
        self.stats = JudgeStats()

    @classmethod
    def endpoint(cls, config: JudgeConfig) -> str:
        """Where this backend's calls for `config` go ("" for local backends)."""
        return ""

    async def check(self) -> None:
        """Raise JudgeError naming the setting to fix when the judge cannot run."""

    async def judge_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        """One verdict per item, in order. Failures are verdicts with a status, not raises."""
        raise NotImplementedError

    def judge(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        """Synchronous `judge_batch` (CLI, jobs, notebooks)."""
        return run_sync(self.judge_batch(items))

    def check_sync(self) -> None:
        """Synchronous `check`."""
        run_sync(self.check())

    async def aclose(self) -> None:
        """Release clients and models; the judge is unusable afterwards."""


_BACKENDS: dict[str, type[Judge]] = {}


def register_backend(name: str) -> Callable[[type[Judge]], type[Judge]]:
    """Class decorator: make `cls` the backend called `name` in JudgeConfig.backend."""

    def decorate(cls: type[Judge]) -> type[Judge]:
        cls.backend = name
        _BACKENDS[name] = cls
        return cls

    return decorate


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def run_sync(coroutine):
    """Run a coroutine to completion from synchronous code, also where this thread already runs
    an event loop (a notebook, a test browser): then it runs on a fresh thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def endpoint_of(config: JudgeConfig) -> str:
    """The endpoint identity of `config`'s backend ("" for local ones and unknown backends)."""
    import labeling.judges.backends  # noqa: F401 (registers the built-in backends)

    backend = _BACKENDS.get(config.backend)
    return backend.endpoint(config) if backend is not None else ""


def build_judge(config: JudgeConfig, cache: CallCache | None = None) -> Judge:
    """Instantiate the judge for `config` (cheap: models and clients load on first use).

    `cache` answers repeated requests (default: a fresh in-memory cache).

    Raises JudgeError(`judge.backend`) listing the valid backends for an unknown name.
    """
    import labeling.judges.backends  # noqa: F401 (registers the built-in backends)

    try:
        factory = _BACKENDS[config.backend]
    except KeyError:
        raise JudgeError(
            "judge.backend",
            f"unknown judge backend {config.backend!r} in judge {config.name!r}; "
            f"valid backends: {', '.join(backend_names())}",
            setting="backend",
        ) from None
    return factory(config, cache)
