"""Judge jobs fanned out to shards that any worker takes.

A judge job with more pending pairs than one shard (TANDEM_JUDGE_SHARD_PAIRS) becomes
`judge_shard` child jobs, one Celery task each. Shards are claimed through their rows
(`jobs.execute` starts only a queued job), so whichever process is free takes the next one: a
worker that finishes a shard goes on with the queued shards of the same job in the same judge
session (one judge check, event loop and HTTP client per worker, not per shard), and the
parent runs queued shards too, so one worker alone finishes the job. The last shards are
smaller, so workers finish together rather than waiting on one worker's last large shard.
Progress and cancel add up across shards; a re-run shards only what no live shard covers.
Measured by bench/scale.py (judge throughput by workers).
"""

from __future__ import annotations

import contextlib
import threading
import time

from django.core.cache import cache
from django.db import transaction

from . import services
from .jobs import JobContext, cancel_asked, execute, job_kind, progress_key, request_cancel
from .models import Job, Judgment

SHARD_POLL_S = 0.1  # how often the parent looks at its shards' rows and progress (cheap queries)
_chain = threading.local()  # set while this thread runs queued shards one after another


@job_kind("judge")
def _judge(job: Job, context: JobContext) -> dict:
    """Judges a project's pending pairs here when they fit one shard (TANDEM_JUDGE_SHARD_PAIRS),
    else fans them out to `judge_shard` jobs that any worker takes (`_judge_in_shards`)."""
    from . import judging

    config = judging.resolve_config(job.project, job.params.get("judge", "smollm2"))
    return _judge_in_shards(job, context, config)


def _judge_in_shards(job: Job, context: JobContext, config) -> dict:
    """A judge job: pending pairs in shards of TANDEM_JUDGE_SHARD_PAIRS (the last ones smaller:
    `_tapered`), each a `judge_shard` child job enqueued for any worker. The parent runs shards
    too while any is queued, then waits for the shards others run. Progress is the shards'
    summed; a cancel reaches every shard (they also watch the parent's flag); a parent re-run
    after its worker died keeps its live shards and shards only what no shard covers. Raises
    Cancelled or ServiceError (naming a failed shard) once every shard has ended; otherwise
    returns the summed summary. An `escalated` job (the pairs a guarantee cascade left waiting
    for this judge) passes the flag to its shards, and each re-derives that scope in its range."""
    from . import judging

    escalated = bool(job.params.get("escalated"))
    scope = judging.pair_scope(job.project, job.params.get("limit"), None, config.name if escalated else None)
    live = list(job.shards.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING]))
    ranges = free_ranges(scope, live, config)
    if not live and len(ranges) <= 1:  # one shard's worth: judged here, as before fan-out
        return judging.judge_pairs(
            job.project, config, limit=job.params.get("limit"), progress=context.progress,
            should_cancel=context.should_cancel, escalated=escalated,
        ).as_dict()  # fmt: skip
    shards = live + _start_shards(job, config.name, ranges, escalated)
    total = 2 * scope.count()
    with _ShardProgress(context, shards, total):
        _run_shards(job, context, shards)
    result = _shards_result(job, shards, total)
    services.analyze_grown({Judgment: result.get("judged", 0)})  # not by each shard: each holds a sliver
    return result


def free_ranges(scope, live: list[Job], config) -> list[tuple[int, int, int]]:
    """The shard ranges of `scope`'s pending pairs that no `live` shard holds. No range straddles
    a live shard, whose pairs would otherwise be judged twice (paid twice, and the second store
    fails): a parent re-run after its worker died, with some shards still running."""
    from . import judging

    def pending(pairs):
        return judging.pending_ranges(pairs, config.name, config.config_hash(), judging.shard_pairs())

    if not live:
        return _tapered(pending(scope), scope, config)
    # A shard is an id range, so each range must lie within one gap between live shards (and
    # is not tapered: the live shards already end the job).
    ranges, start = [], None
    for first, last in sorted((s.params["first_id"], s.params["last_id"]) for s in live):
        gap = scope.filter(id__lt=first) if start is None else scope.filter(id__gt=start, id__lt=first)
        ranges += pending(gap)
        start = last if start is None else max(start, last)
    return ranges + pending(scope.filter(id__gt=start))


TAPERED_SHARDS = 2  # the last this many shards are split up smaller (`_tapered`)


def _tapered(ranges: list[tuple[int, int, int]], scope, config) -> list[tuple[int, int, int]]:
    """`ranges` with the last TAPERED_SHARDS re-split into shards that shrink towards the end
    (`ramp`), down to one round of an endpoint judge's calls (both orders of concurrency / 2
    pairs): when the queue runs dry, what is left is small and spread over every worker, so
    none waits on another's last large shard. Local judges are not tapered (a shard of theirs
    starts with a model load)."""
    from . import judging

    unit = max(1, int(config.params.get("concurrency", 16)) // 2)
    if config.backend != "openai" or len(ranges) < 2 or unit >= ranges[-1][2]:
        return ranges
    head, tail = ranges[:-TAPERED_SHARDS], ranges[-TAPERED_SHARDS:]
    in_tail = scope.filter(id__range=(tail[0][0], tail[-1][1]))
    return head + ramp(judging.pending_ranges(in_tail, config.name, config.config_hash(), unit))


def ramp(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Merge consecutive (first id, last id, pairs) runs into shards of 1, 1, 2, 2, 4, 4, ...
    runs counted from the end: the last shards are the smallest."""
    sizes: list[int] = []
    left, step = len(runs), 1
    while left > 0:
        sizes.append(min(step, left))
        left -= sizes[-1]
        if len(sizes) % 2 == 0:
            step *= 2
    shards, start = [], 0
    for take in reversed(sizes):
        group = runs[start : start + take]
        shards.append((group[0][0], group[-1][1], sum(count for _, _, count in group)))
        start += take
    return shards


def _start_shards(job: Job, judge: str, ranges: list[tuple[int, int, int]], escalated: bool) -> list[Job]:
    from celery import group

    from .tasks import run_job

    shards = Job.objects.bulk_create(
        Job(
            kind="judge_shard",
            project=job.project,
            parent=job,
            created_by=job.created_by,
            params={
                "judge": judge,
                "first_id": first,
                "last_id": last,
                "pairs": count,
                "escalated": escalated,
            },
        )
        for first, last, count in ranges
    )
    ids = [shard.pk for shard in shards]
    transaction.on_commit(lambda: group(run_job.si(pk) for pk in ids).apply_async())
    return shards


def _run_shards(job: Job, context: JobContext, shards: list[Job]) -> None:
    """Run queued shards here until none is left, then wait for those other workers run."""
    from . import judging

    ids = [shard.pk for shard in shards]
    with judging.reused_sessions(), _chaining():
        while True:
            if context.should_cancel():
                for shard in Job.objects.filter(pk__in=ids, finished_at__isnull=True):
                    request_cancel(shard)
            queued = Job.objects.filter(pk__in=ids, status=Job.Status.QUEUED).order_by("pk").first()
            if queued is not None:
                execute(queued.pk)  # claims it, unless another worker did first
                continue
            if not Job.objects.filter(pk__in=ids, status=Job.Status.RUNNING).exists():
                return
            time.sleep(SHARD_POLL_S)


@contextlib.contextmanager
def _chaining():
    _chain.active = True
    try:
        yield
    finally:
        _chain.active = False


def _run_queued_siblings(shard: Job) -> None:
    """Run the queued shards of `shard`'s job one after another here, until none is left or the
    job is cancelled. A worker that took one shard's task thus keeps busy while the tasks of
    shards still queued sit prefetched by a worker that is busy with another."""
    while not cancel_asked(shard.parent_id):
        queued = Job.objects.filter(parent_id=shard.parent_id, kind="judge_shard", status=Job.Status.QUEUED)
        pk = queued.order_by("pk").values_list("pk", flat=True).first()
        if pk is None:
            return
        execute(pk)


def _shards_result(job: Job, shards: list[Job], total: int) -> dict:
    """The shards' summaries summed, or the reason the parent did not succeed."""
    ended = list(Job.objects.filter(pk__in=[s.pk for s in shards]).order_by("pk"))
    failed = [s for s in ended if s.status == Job.Status.FAILED]
    summed: dict = {"shards": len(ended)}
    for shard in ended:
        for key, value in (shard.result or {}).items():
            if isinstance(value, (int, float)) and key not in {"pairs", "skipped", "interrupted"}:
                summed[key] = summed.get(key, 0) + value
    if failed:
        raise services.ServiceError(
            f"{len(failed)} of {len(ended)} shards failed (shard job {failed[0].pk}: {failed[0].error}); "
            "start the job again to judge what is left: finished verdicts are kept"
        )
    if cancel_asked(job.pk) or any(s.status == Job.Status.CANCELLED for s in ended):
        raise services.Cancelled(
            f"judging stopped after {summed.get('judged', 0)} verdicts; run it again to continue"
        )
    summed["cost"] = round(summed.get("cost", 0.0), 6)
    return {
        **summed,
        "judge": ended[0].result["judge"],
        "config_hash": ended[0].result["config_hash"],
        "pairs": total // 2,
        "skipped": total - summed.get("judged", 0),
    }


class _ShardProgress:
    """Keeps the parent's progress at the sum of its shards' from a thread of its own (the
    parent's own thread may be running a shard): a shard not started counts nothing, and
    verdicts stored before the fan-out count as done. Reads only the cache."""

    def __init__(self, context: JobContext, shards: list[Job], total: int) -> None:
        self.context, self.total = context, total
        self.keys = {progress_key(s.pk): 2 * int(s.params["pairs"]) for s in shards}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"job-{context.job_id}-shards", daemon=True)

    def __enter__(self) -> _ShardProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._report()

    def _watch(self) -> None:
        while not self._stop.wait(SHARD_POLL_S):
            self._report()

    def _report(self) -> None:
        seen = cache.get_many(list(self.keys))
        # A shard's own total counts both orders of every pair in its id range; what it
        # reports done includes what was judged before.
        left = sum(max(0, (seen[k][1] or n) - seen[k][0]) if k in seen else n for k, n in self.keys.items())
        self.context.progress(max(0, self.total - left), self.total)


@job_kind("judge_shard")
def _judge_shard(job: Job, context: JobContext) -> dict:
    """One run of a judge job's pairs (ids first_id..last_id; with `escalated`, only those of
    core.guarantee.escalated_scope in that range); stops on its own or its
    parent's cancel. A shard that a Celery task started then runs its job's queued shards in
    the same judge session (`_run_queued_siblings`)."""
    from . import judging

    params = job.params
    with judging.reused_sessions():
        config = judging.resolve_config(job.project, params["judge"])
        summary = judging.judge_pairs(
            job.project,
            config,
            pair_range=(params["first_id"], params["last_id"]),
            escalated=bool(params.get("escalated")),
            progress=context.progress,
            should_cancel=lambda: context.should_cancel() or cancel_asked(job.parent_id),
        )
        if not getattr(_chain, "active", False):
            with _chaining():
                _run_queued_siblings(job)
    return summary.as_dict()


def _load_judge_backends(**kwargs) -> None:
    """Import the judge backends (the openai SDK alone is seconds of CPU on a busy machine) as
    a worker starts, rather than in the first shard it takes, which would start late and end
    the job late. A worker that never judges pays it once, at start."""
    import labeling.judges.backends  # noqa: F401


def _connect_worker_signal() -> None:
    from celery.signals import worker_init

    worker_init.connect(_load_judge_backends, weak=False, dispatch_uid="tandem-load-judge-backends")


_connect_worker_signal()
