"""The judge service: judge a project's pairs in both orders, resumably, and store Judgments.

Every pair is judged once per (judge config, order). Judgments are written batch by batch, each
in its own transaction, so a run that is stopped or killed keeps what it finished and a re-run
continues with the rest; `error` verdicts (timeouts, 5xx) are retried by a re-run, `unparsable`
ones are kept (the same request gives the same reply, and the cache would answer it anyway).
"""

from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction

from labeling.judges import JudgeConfig, JudgeError, JudgeItem, Verdict, build_judge, builtin_config
from labeling.judges.base import run_sync
from labeling.records import Order
from labeling.typed_config import ConfigError

from . import configs
from .models import JudgeCall, Judgment, Pair, Project
from .services import Cancelled, ConfigInvalid, Progress, ServiceError, ShouldCancel

CONFIG_FIELDS = {"name", "backend", "model", "template", "rubric", "params", "members"}


class DbCallCache:
    """The judges' CallCache protocol on the JudgeCall table (safe across workers).

    Judges call it from a thread pool (`asyncio.to_thread`). Its queries all run on one thread
    of its own that keeps one database connection for the cache's life: a connection per call
    (PostgreSQL forks a backend for each) made a 4,000-call judge job spend most of its time
    connecting. A stored reply is committed at once, outside the caller's transaction: a call
    that was paid for stays paid for even if the batch that asked for it fails. A dropped
    connection (a database restart) is reopened and the query retried for up to `retry_s`
    seconds, so a paid reply is not lost to a blip. `close()` releases the connection.
    """

    def __init__(self, retry_s: float = 30.0) -> None:
        self.retry_s = retry_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge-call-cache")

    def get(self, key: str) -> dict | None:
        return self._run(lambda: JudgeCall.objects.filter(key=key).values_list("response", flat=True).first())

    def put(self, key: str, response: dict) -> None:
        def store() -> None:
            with contextlib.suppress(IntegrityError):  # another worker stored the same reply first
                JudgeCall.objects.get_or_create(key=key, defaults={"response": response})

        self._run(store)

    def close(self) -> None:
        # `connection.close` must be looked up on the cache's thread: the proxy binds the
        # connection of the thread that reads the attribute.
        self._thread.submit(lambda: connection.close()).result()
        self._thread.shutdown()

    def _run(self, query):
        return self._thread.submit(_retrying, query, self.retry_s).result()


def _retrying(query, retry_s: float):
    """`query()`, reconnecting and trying again while the database is unreachable."""
    deadline = time.monotonic() + retry_s
    delay = 0.1
    while True:
        try:
            return query()
        except (OperationalError, InterfaceError):
            connection.close()  # a broken connection is not reused; the next query reconnects
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(2.0, delay * 2)


@dataclass
class JudgeSummary:
    judge: str
    config_hash: str
    pairs: int = 0
    judged: int = 0
    skipped: int = 0
    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    unparsable: int = 0
    tokens: int = 0
    cost: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return (
            f"judge '{self.judge}': {self.judged} verdicts on {self.pairs} pairs ({self.skipped} already "
            f"judged), {self.calls} calls, {self.cache_hits} cache hits, {self.errors} errors, "
            f"{self.unparsable} unparsable, {self.tokens} tokens, cost {self.cost:.4f}"
        )


def resolve_config(project: Project, name: str, *, allow_files: bool = False) -> JudgeConfig:
    """A judge config by name: one of the project's `judge_config["judges"]`, a built-in
    (`smollm2`), or, only where `allow_files` (the CLI's --judge), a .json config file. The
    project's rubric fills in a config without its own; an endpoint judge is bound to its
    named provider (configs.bind_provider). Names from the API and the pages are never read as
    paths.

    Raises ConfigInvalid naming the key for a config that does not check (also one stored
    before the checks existed), ServiceError for an unknown name.
    """
    try:
        return _resolve(project, name, allow_files, ())
    except ConfigError as error:
        raise ConfigInvalid(error) from error


def _resolve(project: Project, name: str, allow_files: bool, seen: tuple[str, ...]) -> JudgeConfig:
    if name in seen:
        raise ConfigError(f"judge_config.judges.{seen[-1]}.members", "ensemble members form a cycle: "
                          + " -> ".join((*seen, name)), name)  # fmt: skip
    path = Path(name)
    trusted = False
    if allow_files and path.suffix == ".json" and path.is_file():
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ServiceError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
        where, trusted = str(path), True
        configs.check_judge(raw, where, trusted=True)
        raw.setdefault("name", path.stem)
    elif name in (project.judge_config or {}).get("judges", {}):
        where = f"judge_config.judges.{name}"
        configs.check_judge(project.judge_config["judges"][name], where)
        raw = {"name": name, **project.judge_config["judges"][name]}
    else:
        try:
            config = builtin_config(name)
        except JudgeError as err:
            files = ", or a .json config file" if allow_files else ""
            raise ServiceError(f"{err.message}, or a judge of the project{files}") from err
        return config
    raw["rubric"] = raw.get("rubric") or project.rubric
    # An ensemble's members are names (resolved the same way) or inline configs.
    raw["members"] = tuple(
        _resolve(project, m, allow_files, (*seen, name))
        if isinstance(m, str)
        else JudgeConfig(**{"rubric": project.rubric, "name": f"{raw['name']}[{i}]", **m})
        for i, m in enumerate(raw.get("members", ()))
    )
    config = JudgeConfig(**{k: v for k, v in raw.items() if k in CONFIG_FIELDS})
    if trusted and config.params.get("base_url"):
        return config  # the operator's own file names its endpoint
    return configs.bind_provider(config, where)


def judge_pairs(
    project: Project,
    config: JudgeConfig,
    *,
    limit: int | None = None,
    batch_pairs: int | None = None,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> JudgeSummary:
    """Judge the project's pairs (the first `limit` of them) in both orders with `config`.

    Pairs go to the judge `batch_pairs` at a time; each batch is stored (and progress and
    cancel checked) when its slowest call returns. The default keeps an endpoint judge's
    connections busy: four times its `concurrency` in pairs, so a slow call holds up few
    others (with 16 pairs, one hung call idled most of the slots). Local models: 16.

    Raises ServiceError when the judge cannot start (missing key, unknown model: the message
    names the setting), Cancelled when asked to stop (finished batches are kept).
    """
    if batch_pairs is None:
        batch_pairs = 4 * int(config.params.get("concurrency", 16)) if config.backend == "openai" else 16
    cache = DbCallCache()
    try:
        return _judge_pairs(project, config, cache, limit, batch_pairs, progress, should_cancel)
    finally:
        cache.close()


def _judge_pairs(project, config, cache, limit, batch_pairs, progress, should_cancel) -> JudgeSummary:
    try:
        judge = build_judge(config, cache=cache)
        judge.check_sync()
        config_hash = config.config_hash()
    except JudgeError as err:
        setting = f" (setting: {err.setting})" if err.setting else ""
        raise ServiceError(f"judge '{config.name}' cannot start: {err.message}{setting}") from err
    summary = JudgeSummary(judge=config.name, config_hash=config_hash)
    pair_ids = list(Pair.objects.filter(project=project).order_by("id").values_list("id", flat=True)[:limit])
    summary.pairs = len(pair_ids)
    done = _finished(pair_ids, config.name, config_hash)
    todo = [(pid, order) for pid in pair_ids for order in Order if (pid, order.value) not in done]
    summary.skipped = 2 * len(pair_ids) - len(todo)
    step = 2 * batch_pairs
    for start in range(0, len(todo), step):
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"judging stopped after {summary.judged} verdicts; run it again to continue")
        batch = todo[start : start + step]
        verdicts = judge.judge(_items(batch))
        _store(batch, verdicts, config, config_hash, summary)
        if progress is not None:
            progress(summary.skipped + start + len(batch), 2 * len(pair_ids))
    stats = judge.stats
    summary.calls, summary.cache_hits = stats.calls, stats.cache_hits
    summary.tokens, summary.cost = stats.prompt_tokens + stats.completion_tokens, round(stats.cost, 6)
    return summary


def _finished(pair_ids: list[int], name: str, config_hash: str) -> set[tuple[int, str]]:
    rows = Judgment.objects.filter(pair_id__in=pair_ids, judge=name, config_hash=config_hash).exclude(
        status=Judgment.Status.ERROR
    )
    return set(rows.values_list("pair_id", "order"))


def _items(batch: list[tuple[int, Order]]) -> list[JudgeItem]:
    pairs = Pair.objects.in_bulk([pid for pid, _ in batch])
    items = []
    for pid, order in batch:
        pair = pairs[pid]
        first, second = (
            (pair.response_a, pair.response_b) if order is Order.AB else (pair.response_b, pair.response_a)
        )
        items.append(JudgeItem(key=f"{pid}:{order.value}", prompt=pair.prompt, first=first, second=second))
    return items


def _store(batch, verdicts: list[Verdict], config: JudgeConfig, config_hash: str, summary) -> None:
    rows = []
    for (pid, order), verdict in zip(batch, verdicts, strict=True):
        prov = verdict.provenance
        choice = verdict.pair_choice(order)
        rows.append(
            Judgment(
                pair_id=pid,
                judge=config.name,
                config_hash=config_hash,
                backend=prov.backend,
                model=prov.model or config.model,
                template=prov.template,
                template_hash=prov.template_sha256,
                order=order.value,
                p_first=verdict.p_first,
                choice=choice.value if choice else "",
                rationale=verdict.rationale,
                status=verdict.status.value,
                error_message=verdict.error,
                params=dict(prov.params),
                prompt_tokens=prov.prompt_tokens,
                completion_tokens=prov.completion_tokens,
                cost=prov.cost or 0,
                latency_ms=round(prov.latency_s * 1000),
                cache_key=prov.cache_key,
                detail={
                    "p_source": prov.p_source,
                    "cached": prov.cached,
                    "calls": prov.calls,
                    **({"endpoint": prov.endpoint} if prov.endpoint else {}),
                    **dict(prov.notes),
                },
            )
        )
        summary.judged += 1
        summary.errors += verdict.status.value == "error"
        summary.unparsable += verdict.status.value == "unparsable"
    with transaction.atomic():
        # A verdict that failed with an error last time is replaced by this run's.
        Judgment.objects.filter(
            judge=config.name,
            config_hash=config_hash,
            status=Judgment.Status.ERROR,
            pair_id__in=[pid for pid, _ in batch],
        ).delete()
        Judgment.objects.bulk_create(rows, batch_size=500)


def score_reward(project: Project, name: str):
    """A reward function for online RL from a scoring judge (d-RLAIF: the 1-10 score's expectation,
    normalized to [-1, 1]); a response the judge cannot score gets 0 (no signal) and is counted."""
    from labeling.judges import ScoreItem

    config = resolve_config(project, name)
    try:
        judge = build_judge(config, cache=DbCallCache())
    except JudgeError as err:
        raise ServiceError(f"judge '{name}' cannot score: {err.message}") from err

    def reward(prompts: list[str], completions: list[str]) -> list[float]:
        items = [
            ScoreItem(key=str(i), prompt=p, response=c)
            for i, (p, c) in enumerate(zip(prompts, completions, strict=True))
        ]
        verdicts = run_sync(judge.score_batch(items))
        return [v.reward if v.reward is not None else 0.0 for v in verdicts]

    return reward
