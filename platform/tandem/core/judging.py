"""The judge service: judge a project's pairs in both orders, resumably, and store Judgments.

Every pair is judged once per (judge config, order). Judgments are written as they arrive, a
small group at a time, each in its own transaction, so a run that is stopped or killed keeps
what it finished and a re-run (or another shard of a fanned-out job: core/fanout.py) continues
with the rest; `error` verdicts (timeouts, 5xx) are retried by a re-run, `unparsable`
ones are kept (the same request gives the same reply, and the cache would answer it anyway).

A run starts its judge once (`JudgeSession`: the check's round trip, the event loop, the HTTP
client, the call cache's connection); the shards one worker runs back to back share it
(`reused_sessions`), so a fanned-out job pays that start-up once per worker, not once per shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef

from labeling.judges import JudgeConfig, JudgeError, JudgeItem, Verdict, build_judge, builtin_config
from labeling.judges.base import JudgeStats, run_sync
from labeling.records import Order
from labeling.typed_config import ConfigError

from . import configs
from .models import JudgeCall, Judgment, Pair, Project
from .services import Cancelled, ConfigInvalid, Progress, ServiceError, ShouldCancel, analyze_grown

CONFIG_FIELDS = {"name", "backend", "model", "template", "rubric", "params", "members"}


class DbCallCache:
    """The judges' CallCache protocol on the JudgeCall table (safe across workers).

    Judges call it from a thread pool (`asyncio.to_thread`). Its queries all run on one thread
    of its own that keeps one database connection for the cache's life: a connection per call
    (PostgreSQL forks a backend for each) made a 4,000-call judge job spend most of its time
    connecting. A stored reply is committed at once (not waiting for the disk flush: `_tune`),
    outside the caller's transaction: a call that was paid for stays paid for even if the
    batch that asked for it fails. A dropped connection (a database restart) is reopened and
    the query retried for up to `retry_s` seconds, so a paid reply is not lost to a blip.
    `close()` releases the connection.
    """

    def __init__(self, retry_s: float = 30.0) -> None:
        self.retry_s = retry_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge-call-cache")
        self._tuned_for = None  # the connection synchronous_commit was turned off on

    def get(self, key: str) -> dict | None:
        return self._run(lambda: JudgeCall.objects.filter(key=key).values_list("response", flat=True).first())

    def put(self, key: str, response: dict) -> None:
        # One INSERT ... ON CONFLICT DO NOTHING: another worker may have stored the same reply.
        self._run(
            lambda: JudgeCall.objects.bulk_create(
                [JudgeCall(key=key, response=response)], ignore_conflicts=True
            )
        )

    def close(self) -> None:
        # `connection.close` must be looked up on the cache's thread: the proxy binds the
        # connection of the thread that reads the attribute.
        self._thread.submit(lambda: connection.close()).result()
        self._thread.shutdown()

    def _run(self, query):
        def tuned_query():
            self._tune()
            return query()

        return self._thread.submit(_retrying, tuned_query, self.retry_s).result()

    def _tune(self) -> None:
        """Let the cache connection's commits return before PostgreSQL flushes them to disk
        (synchronous_commit off, this connection only; set again after a reconnect). Every
        stored reply is one commit, queued on this one connection: waiting for a disk flush
        each time held a judge against a fast endpoint to a few dozen replies a second on a
        durable server. A worker that dies loses nothing (the server has the commit); a server
        crash can lose the last fraction of a second of stored replies, which a re-run asks
        for again."""
        if connection.vendor != "postgresql":
            return
        connection.ensure_connection()
        if connection.connection is not self._tuned_for:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
            self._tuned_for = connection.connection


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
    pair_range: tuple[int, int] | None = None,
    batch_pairs: int | None = None,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    escalated: bool = False,
) -> JudgeSummary:
    """Judge the project's pairs (the first `limit` of them, those with ids in `pair_range`;
    with `escalated`, only those a guarantee-mode cascade left waiting for this judge and the
    blind audit pairs: core.guarantee.escalated_scope) in both orders with `config`.

    Verdicts are stored as they arrive, in small groups (`_VerdictStream`): a slow call holds
    up no other verdict. At most `2 * batch_pairs` verdicts are asked for and not yet stored,
    which bounds what a cancel lets through; progress and cancel are checked at each store.
    The default keeps an endpoint judge's connections busy: four times its `concurrency` in
    pairs. Local models judge `batch_pairs` (default 16) at a time, as their batches need.
    Pairs are read SHARD_PAIRS at a time, so memory does not grow with the project.

    Raises ServiceError when the judge cannot start (missing key, unknown model: the message
    names the setting) or `escalated` has no cascade to follow, Cancelled when asked to stop
    (stored verdicts are kept).
    """
    scope = pair_scope(project, limit, pair_range, config.name if escalated else None)
    if batch_pairs is None:
        batch_pairs = 4 * int(config.params.get("concurrency", 16)) if config.backend == "openai" else 16
    share_provider_limits()
    session, owned = _session_for(config)
    try:
        before = replace(session.judge.stats)
        summary = JudgeSummary(judge=config.name, config_hash=config.config_hash(), pairs=scope.count())
        summary.skipped = _done(scope, config.name, summary.config_hash).count()
        if should_cancel is not None and should_cancel():
            raise Cancelled("judging stopped before it began; run it again to continue")
        stream = _VerdictStream(session, config, summary, 2 * batch_pairs, progress, should_cancel)
        for first, last, _ in pending_ranges(scope, config.name, summary.config_hash, shard_pairs()):
            stream.run(_todo(scope.filter(id__range=(first, last)), config.name, summary.config_hash))
        _add_stats(summary, session.judge.stats, before)
        if pair_range is None:  # a shard's parent job does it once, for every shard's verdicts
            analyze_grown({Judgment: summary.judged})  # the next stage plans with the new verdicts
        return summary
    except Cancelled:
        raise
    except BaseException:
        if not owned:  # a session that failed is not handed to the next shard
            _forget(session)
            owned = True
        raise
    finally:
        if owned:
            session.close()


def _add_stats(summary: JudgeSummary, stats: JudgeStats, before: JudgeStats) -> None:
    """This run's share of a judge's running totals (a reused judge counts every run's)."""
    summary.calls, summary.cache_hits = stats.calls - before.calls, stats.cache_hits - before.cache_hits
    tokens = stats.prompt_tokens + stats.completion_tokens - before.prompt_tokens - before.completion_tokens
    summary.tokens, summary.cost = tokens, round(stats.cost - before.cost, 6)


class JudgeSession:
    """A judge started for one config: built, checked once, with the call cache and an event
    loop on a thread of its own that keeps the judge's HTTP client (and its shared-limit
    Redis client) between runs. Raises ServiceError when the judge cannot start (the message
    names the setting). `close()` releases the loop, the clients and the cache's connection."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self.cache = DbCallCache()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=_serve, args=(self.loop,), name="judge-loop", daemon=True)
        self._thread.start()
        try:
            self.judge = _start(config, self.cache, self.run)
        except BaseException:
            self.close()
            raise

    def run(self, coroutine):
        """Run `coroutine` on the session's loop and return its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        judge = getattr(self, "judge", None)
        if judge is not None:
            with contextlib.suppress(Exception):
                self.run(judge.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.cache.close()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run `loop` until it is stopped, then end it as asyncio.run does (pending tasks cancelled,
    async generators and the default executor shut down), which closes the judge's clients."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


_reuse = threading.local()


@contextlib.contextmanager
def reused_sessions():
    """Within the block, `judge_pairs` on this thread starts one JudgeSession per judge config
    and reuses it for every later run of that config (the shards a worker runs back to back);
    they are closed when the block ends. Nested blocks share the outermost one's."""
    if getattr(_reuse, "sessions", None) is not None:
        yield
        return
    _reuse.sessions = {}
    try:
        yield
    finally:
        sessions, _reuse.sessions = _reuse.sessions, None
        for session in sessions.values():
            session.close()


def _session_for(config: JudgeConfig) -> tuple[JudgeSession, bool]:
    """(the session to run `config` on, whether the caller owns it and so closes it)."""
    sessions = getattr(_reuse, "sessions", None)
    if sessions is None:
        return JudgeSession(config), True
    # The whole config, operational params included (config_hash leaves out concurrency).
    key = json.dumps(asdict(config), sort_keys=True, default=str)
    if key not in sessions:
        sessions[key] = JudgeSession(config)
    return sessions[key], False


def _forget(session: JudgeSession) -> None:
    """Take `session` out of this thread's reused ones (its caller closes it)."""
    sessions = getattr(_reuse, "sessions", None) or {}
    for key, held in list(sessions.items()):
        if held is session:
            del sessions[key]


def _start(config: JudgeConfig, cache: DbCallCache, run):
    try:
        judge = build_judge(config, cache=cache)
        run(judge.check())
        return judge
    except JudgeError as err:
        setting = f" (setting: {err.setting})" if err.setting else ""
        raise ServiceError(f"judge '{config.name}' cannot start: {err.message}{setting}") from err


def shard_pairs() -> int:
    """Pairs per shard of a judge job (TANDEM_JUDGE_SHARD_PAIRS): also how many pairs one
    process reads at a time."""
    from django.conf import settings

    return max(1, int(getattr(settings, "TANDEM_JUDGE_SHARD_PAIRS", 5000)))


def share_provider_limits() -> None:
    """Give this process's judge calls their providers' limits shared through Redis
    (TANDEM_LIMITS_REDIS_URL, else the Celery broker: every worker reaches it)."""
    from django.conf import settings

    from labeling.judges.limits import SharedLimitSpec, share_limits

    url = getattr(settings, "TANDEM_LIMITS_REDIS_URL", "") or settings.CELERY_BROKER_URL
    share_limits(
        {
            provider.identity: SharedLimitSpec(
                name=provider.name,
                redis_url=url,
                max_concurrency=provider.max_concurrency,
                requests_per_minute=provider.requests_per_minute,
                lease_s=provider.lease_s,
            )
            for provider in configs.judge_providers().values()
            if provider.shares_limits
        }
    )


def pair_scope(
    project: Project, limit: int | None, pair_range: tuple[int, int] | None, escalated_for: str | None = None
):
    """The project's pairs a run covers, gold items left out: the first `limit` by id, within
    `pair_range`; only those waiting for judge `escalated_for` in the guarantee cascade and the
    blind audit pairs, when given (a queryset: every shard re-derives it)."""
    if escalated_for is not None:
        from .guarantee import escalated_scope  # guarantee builds on routing, which judging need not load

        pairs = escalated_scope(project, escalated_for)
    else:
        pairs = Pair.objects.filter(project=project)
    pairs = pairs.filter(gold="")  # a gold item's answer is known: no call is spent on it (core.gold)
    if limit is not None:
        last = list(pairs.order_by("id").values_list("id", flat=True)[max(0, limit - 1) : limit])
        pairs = pairs.filter(id__lte=last[0]) if last and limit > 0 else pairs.none()
    if pair_range is not None:
        pairs = pairs.filter(id__range=pair_range)
    return pairs


def _done(scope, name: str, config_hash: str):
    """Verdicts of `name` already stored for the pairs in `scope` (errors are judged again)."""
    return Judgment.objects.filter(pair__in=scope, judge=name, config_hash=config_hash).exclude(
        status=Judgment.Status.ERROR
    )


def pending_ranges(scope, name: str, config_hash: str, size: int) -> list[tuple[int, int, int]]:
    """(first id, last id, pairs) for runs of `size` pairs in `scope` that still lack a verdict
    in one order or both, in id order. Read through a server-side cursor: a million pending
    pairs cost a million / `size` ranges in memory (tens of thousands at most), not a million ids."""
    verdicts = Judgment.objects.filter(pair=OuterRef("pk"), judge=name, config_hash=config_hash).exclude(
        status=Judgment.Status.ERROR
    )
    pending = scope.filter(
        ~Exists(verdicts.filter(order=Order.AB.value)) | ~Exists(verdicts.filter(order=Order.BA.value))
    )
    ranges: list[tuple[int, int, int]] = []
    first = count = last = None
    for pid in pending.order_by("id").values_list("id", flat=True).iterator(chunk_size=10_000):
        if count is None or count == size:
            if count:
                ranges.append((first, last, count))
            first, count = pid, 0
        last, count = pid, count + 1
    if count:
        ranges.append((first, last, count))
    return ranges


def _todo(scope, name: str, config_hash: str) -> list[tuple[int, Order]]:
    pair_ids = list(scope.order_by("id").values_list("id", flat=True))
    done = set(_done(scope, name, config_hash).values_list("pair_id", "order"))
    return [(pid, order) for pid in pair_ids for order in Order if (pid, order.value) not in done]


class _VerdictStream:
    """Judges runs of (pair, order) and stores each verdict as it arrives.

    The judge runs on its session's event loop (a thread of its own); this thread (the job's, with its
    database connection) stores what arrives every `FLUSH_S` seconds or `window` verdicts,
    whichever comes first: one bulk insert per group, not per verdict. The judge may have at
    most `window` verdicts asked for and not yet stored: they are credits, handed back as
    verdicts are stored, so a cancel (checked at each store) stops new calls at once and the
    verdicts in flight are still kept. An endpoint judge is asked one item at a time (its
    client bounds the calls in flight); a local model a group of `window` at a time.
    """

    FLUSH_S = 0.25

    def __init__(self, session: JudgeSession, config: JudgeConfig, summary: JudgeSummary, window: int,
                 progress, cancel):  # fmt: skip
        self.session, self.judge = session, session.judge
        self.config, self.summary = config, summary
        self.window = max(1, window)
        self.progress, self.should_cancel = progress, cancel
        streaming = config.backend == "openai"
        self.group = 1 if streaming else self.window
        self.workers = 2 * int(config.params.get("concurrency", 16)) if streaming else 1

    def run(self, todo: list[tuple[int, Order]]) -> None:
        """Judge and store `todo`. Raises Cancelled once asked to stop (what arrived is stored)."""
        if not todo:
            return
        arrived: queue.Queue = queue.Queue()
        stop = threading.Event()
        credits: dict = {}
        thread = threading.Thread(
            target=self._judge, args=(_items(todo), arrived, stop, credits), name="judge-loop", daemon=True
        )
        thread.start()
        cancelled = False
        left = len(todo)
        try:
            while True:
                batch, finished = self._collect(arrived, thread, left)
                if batch:
                    left -= len(batch)
                    self._store(batch)
                    cancelled = cancelled or (self.should_cancel is not None and self.should_cancel())
                    if cancelled:
                        stop.set()
                    _hand_back(credits, len(batch))
                if finished:
                    break
        finally:
            stop.set()
            _hand_back(credits, len(todo))  # wakes workers waiting for credits so they see `stop`
            thread.join()
        if "error" in credits:
            raise credits["error"]
        if cancelled:
            raise Cancelled(f"judging stopped after {self.summary.judged} verdicts; run it again to continue")

    def _collect(self, arrived: queue.Queue, thread: threading.Thread, left: int) -> tuple[list, bool]:
        """Verdicts that arrived, until `window` of them, the `left` still expected (the last
        ones are stored at once, not FLUSH_S later) or FLUSH_S after the first; and whether the
        judge thread has ended (everything it sent is then in the batch)."""
        batch: list = []
        deadline = None
        wanted = min(self.window, left) if left > 0 else self.window
        while len(batch) < wanted:
            timeout = self.FLUSH_S if deadline is None else deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                entry = arrived.get(timeout=timeout)
            except queue.Empty:
                if not thread.is_alive() and arrived.empty():
                    return batch, True
                continue
            if entry is None:  # the judge thread's last word
                return batch, True
            batch.extend(entry)
            deadline = deadline or time.monotonic() + self.FLUSH_S
        return batch, False

    def _judge(self, items: list[JudgeItem], arrived: queue.Queue, stop: threading.Event, credits: dict):
        try:
            self.session.run(self._judge_all(items, arrived, stop, credits))
        except BaseException as err:  # handed to the storing thread, which raises it
            credits["error"] = err
        finally:
            arrived.put(None)

    async def _judge_all(self, items, arrived: queue.Queue, stop: threading.Event, credits: dict) -> None:
        loop = asyncio.get_running_loop()
        window = asyncio.Semaphore(self.window)

        def release(n: int) -> None:
            loop.call_soon_threadsafe(lambda: [window.release() for _ in range(n)])

        credits["release"] = release
        pending = iter(items)

        async def worker() -> None:
            while True:
                chunk = [] if stop.is_set() else list(itertools.islice(pending, self.group))
                if not chunk:
                    return
                for _ in chunk:
                    await window.acquire()
                if stop.is_set():  # hand the credits on: the next worker waiting wakes and sees it too
                    for _ in chunk:
                        window.release()
                    return
                verdicts = await self.judge.judge_batch(chunk)
                arrived.put(list(zip(chunk, verdicts, strict=True)))

        await asyncio.gather(*(worker() for _ in range(self.workers)))

    def _store(self, batch: list[tuple[JudgeItem, Verdict]]) -> None:
        todo = []
        for item, _ in batch:
            pid, order = item.key.split(":")
            todo.append((int(pid), Order(order)))
        _store(todo, [verdict for _, verdict in batch], self.config, self.summary.config_hash, self.summary)
        if self.progress is not None:
            self.progress(self.summary.skipped + self.summary.judged, 2 * self.summary.pairs)


def _hand_back(credits: dict, n: int) -> None:
    """Return `n` credits to the judge's loop (nothing once the loop has ended)."""
    with contextlib.suppress(KeyError, RuntimeError):  # not started yet / already closed
        credits["release"](n)


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
        # A verdict that failed with an error last time is replaced by this run's, order by
        # order: the other order's verdict may be one this run stored a moment ago.
        for order in Order:
            Judgment.objects.filter(
                judge=config.name,
                config_hash=config_hash,
                status=Judgment.Status.ERROR,
                order=order.value,
                pair_id__in=[pid for pid, o in batch if o is order],
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
