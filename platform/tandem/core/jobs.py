"""Background jobs: one registry of job kinds, each a thin call into a service function.

Progress and cancel requests travel through the cache (Redis in production and in the demo),
because the service may hold one long database transaction (an all-or-nothing import) during
which the job's own row cannot be updated on SQLite. The row gets the final state.

A worker can die with its job (kill -9, out of memory, a lost machine): the job would stay
`running` forever. So a running job names its worker and beats a heartbeat on its row; a job
whose worker restarted under the same name, or whose heartbeat is older than
TANDEM_JOB_STALE_SECONDS, is found by `recover_stale_jobs` (run by every worker when it starts
and then periodically) and re-queued once: every job kind continues or redoes its work without
duplicating it (judging resumes, imports and exports are all-or-nothing). A job interrupted
twice is marked failed with the reason, so one that kills its worker cannot loop.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.core.cache import cache
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from . import errors, roles, services, uploads
from .models import Job, Project

log = logging.getLogger(__name__)
Handler = Callable[[Job, "JobContext"], dict]
HANDLERS: dict[str, Handler] = {}


def job_kind(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


class JobContext:
    """What a running job reports to and asks of the outside world."""

    def __init__(self, job: Job, min_interval: float = 0.5):
        self.job_id = job.pk
        self.min_interval = min_interval
        self._last = 0.0
        self._cancelled = False

    def progress(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last >= self.min_interval or (total is not None and done >= total):
            self._last = now
            cache.set(_key(self.job_id, "progress"), (done, total), timeout=7 * 86400)

    def report(self, message: str) -> None:
        """Show `message` as the running job's error (e.g. "Argilla unreachable, retrying in 4 s");
        "" clears it. The job's final state replaces it."""
        Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING).update(error=message)

    def should_cancel(self) -> bool:
        self._cancelled = self._cancelled or bool(cache.get(_key(self.job_id, "cancel")))
        return self._cancelled


def _key(job_id: int, what: str) -> str:
    return f"tandem:job:{job_id}:{what}"


ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)


def start_job(
    kind: str,
    *,
    project: Project | None,
    params: dict,
    user=None,
    idempotency_key: str = "",
    parent: Job | None = None,
) -> Job:
    """Create a queued job and hand it to the worker once the surrounding transaction commits.

    A job started for a user (pages, API) needs that user to be an engineer of the project or
    an admin: PermissionDenied otherwise, whichever caller forgot to check. Commands pass no user.
    One job of a kind is active per project: Conflict names the active one (shards, which have
    a `parent`, are exempt). A retried request with the `idempotency_key` the same user sent
    before gets the earlier job back, whatever its state; the key of another kind of job or of
    another project is a Conflict.
    """
    if kind not in HANDLERS:
        raise services.ServiceError(f"unknown job kind '{kind}'; known: {', '.join(HANDLERS)}")
    if user is not None and not roles.can_write(roles.role_on(user, project.pk if project else None)):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("only the project's engineers (or an admin) may start its jobs")
    if idempotency_key and (earlier := _keyed(user, idempotency_key, kind, project)):
        return earlier
    try:
        with transaction.atomic():
            if parent is None and project is not None:
                _lock(project)
                # A retry that raced the first request past the check above finds its job now
                # (the lock orders them), rather than a Conflict with itself.
                if idempotency_key and (earlier := _keyed(user, idempotency_key, kind, project)):
                    return earlier
                _check_none_active(kind, project)
            job = Job.objects.create(
                kind=kind,
                project=project,
                params=params,
                created_by=user,
                idempotency_key=idempotency_key,
                parent=parent,
            )
    except IntegrityError:  # the same key in a concurrent request, which created the job first
        if idempotency_key and (earlier := _keyed(user, idempotency_key, kind, project)):
            return earlier
        raise
    _enqueue(job)
    return job


def _keyed(user, key: str, kind: str, project: Project | None) -> Job | None:
    """The job `user` started earlier with idempotency key `key`, if any (Conflict when it is
    another kind of job or another project's: a key names one request)."""
    earlier = Job.objects.filter(created_by=user, idempotency_key=key).first()
    if earlier is not None and (earlier.kind, earlier.project_id) != (kind, project.pk if project else None):
        raise errors.Conflict(
            f"Idempotency-Key '{key}' was already used for {earlier.kind} job {earlier.pk}; "
            "send a new key for a new request"
        )
    return earlier


def _lock(project: Project) -> None:
    """Lock the project's row until the transaction ends, so two requests at once cannot both
    see no active job (PostgreSQL; SQLite writes one transaction at a time anyway)."""
    Project.objects.select_for_update().filter(pk=project.pk).first()


def _check_none_active(kind: str, project: Project) -> None:
    """Conflict when a job of `kind` is queued or running for the project (call under `_lock`)."""
    active = Job.objects.filter(kind=kind, project=project, status__in=ACTIVE, parent__isnull=True).first()
    if active is not None:
        raise errors.Conflict(
            f"a {kind} job ({active.pk}) is already {active.status} for project '{project.name}': "
            "wait for it to end, or cancel it, before starting another"
        )


def _enqueue(job: Job) -> None:
    from .tasks import run_job, run_training_job  # the task module imports this one

    # Training goes to the `gpu` queue (workers on GPU machines consume it); the rest to `default`.
    task = run_training_job if job.kind == "train" else run_job
    transaction.on_commit(lambda: task.delay(job.pk))


def start_upload_import(
    project: Project, upload, fmt: str, skip_invalid: bool, user=None, idempotency_key: str = ""
) -> Job:
    """Keep an uploaded file under MEDIA_ROOT/uploads/ and import it in a background job
    (the API and the pages both start imports this way). Raises uploads.UploadRefused for a
    file over a limit (nothing kept); the job deletes the file once the import has ended. A
    retried upload with the same `idempotency_key` returns the first job and keeps nothing."""
    import uuid

    from django.conf import settings

    if idempotency_key and (earlier := _keyed(user, idempotency_key, "import_pairs", project)):
        return earlier

    if upload.size is not None and upload.size > uploads.max_upload_bytes():
        raise uploads.too_large(upload.name, upload.size)
    folder = Path(settings.MEDIA_ROOT) / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / Path(upload.name).name
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    try:
        uploads.check_upload(path)
    except uploads.UploadRefused:
        uploads.delete_upload(path)
        raise
    params = {"path": str(path), "format": fmt, "skip_invalid": skip_invalid}
    try:
        return start_job(
            "import_pairs", project=project, params=params, user=user, idempotency_key=idempotency_key
        )
    except Exception:
        uploads.delete_upload(path)  # refused (another import is running): keep no orphan file
        raise


def request_cancel(job: Job) -> Job:
    cache.set(_key(job.pk, "cancel"), True, timeout=7 * 86400)
    if job.status == Job.Status.QUEUED:
        Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now(), cancel_requested=True
        )
    else:
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    job.refresh_from_db()
    return job


PUBLIC_ERRORS = {
    Job.Status.FAILED: "the job failed; the project's engineers see the reason",
    Job.Status.CANCELLED: "the job was cancelled",
}


def error_for(job: Job, role: str | None) -> str:
    """The job's error as a reader with `role` on its project may see it (roles.role_on): in
    full for the project's engineers and admins; for auditors only that it failed (raw reasons
    can hold SQL, server paths, file names)."""
    if not job.error or roles.can_write(role):
        return job.error
    return PUBLIC_ERRORS.get(job.status, "the job reported a problem; the project's engineers see it")


def live_progress(job: Job) -> tuple[int, int | None]:
    """The latest progress: from the cache while the job runs, from its row afterwards."""
    if job.status == Job.Status.RUNNING:
        return cache.get(_key(job.pk, "progress")) or (job.progress_done, job.progress_total)
    return job.progress_done, job.progress_total


def execute(job_id: int) -> Job:
    """Run a job to its end state. Safe to call twice: only a queued job starts."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, worker=worker_name(), heartbeat_at=now
    )
    job = Job.objects.get(pk=job_id)
    if not claimed:
        log.info("job %s is %s, not queued: not started again", job_id, job.status)
        return job
    context = JobContext(job)
    state: dict = {"status": Job.Status.SUCCEEDED, "result": {}, "error": ""}
    with Heartbeat(job_id):
        try:
            state["result"] = HANDLERS[job.kind](job, context)
        except services.Cancelled as err:
            state.update(status=Job.Status.CANCELLED, error=err.message)
        except services.ImportFailed as err:
            state.update(status=Job.Status.FAILED, error=err.message, result=err.summary.as_dict())
        except services.ServiceError as err:
            state.update(status=Job.Status.FAILED, error=err.message)
        except (OperationalError, InterfaceError) as err:
            log.exception("job %s (%s) lost its database", job_id, job.kind)
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            state.update(
                status=Job.Status.FAILED,
                error=f"the database connection failed during the job ({message}); "
                "start it again: finished work is kept",
            )
        except Exception as err:
            log.exception("job %s (%s) failed", job_id, job.kind)
            state.update(status=Job.Status.FAILED, error=f"{type(err).__name__}: {err}")
    done, total = cache.get(_key(job_id, "progress")) or (0, None)
    _finish(job_id, {**state, "progress_done": done, "progress_total": total, "finished_at": timezone.now()})
    job.refresh_from_db()
    return job


def _finish(job_id: int, fields: dict, retry_s: float = 60.0) -> None:
    """Write a job's end state, through a database restart: the connection the job used may be
    broken (it is dropped and reopened) and the server may take a while to come back. Only a
    job still running is written: a recovery that re-queued it meanwhile wins."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(**fields)
            return
        except (OperationalError, InterfaceError):
            connection.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def worker_name() -> str:
    """The Celery node name (`celery@host`) inside a worker, else `host:pid` (a command)."""
    from celery import current_task

    hostname = getattr(getattr(current_task, "request", None), "hostname", None)
    return hostname or f"{socket.gethostname()}:{os.getpid()}"


def _seconds(name: str, default: float) -> float:
    from django.conf import settings

    return float(getattr(settings, name, None) or os.environ.get(name) or default)


class Heartbeat:
    """Stamps the running job's `heartbeat_at` every TANDEM_JOB_HEARTBEAT_SECONDS from a thread
    of its own (a job's service may hold the main thread for minutes). A beat that cannot be
    written (SQLite locked by the job's own transaction, a database restart) is skipped."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.interval = _seconds("TANDEM_JOB_HEARTBEAT_SECONDS", 10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"job-{job_id}-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except (OperationalError, InterfaceError):
                    connection.close()
        finally:
            connection.close()


MAX_INTERRUPTIONS = 1  # re-queued this many times after its worker died, then failed


def recover_stale_jobs(restarted_worker: str | None = None, restarted_at=None) -> list[int]:
    """Re-queue (or, past MAX_INTERRUPTIONS, fail) running jobs whose worker is gone: those that
    `restarted_worker` started before `restarted_at` (a worker starting under a name cannot be
    running them any more; a job it claimed since is its own) and those whose heartbeat is older
    than TANDEM_JOB_STALE_SECONDS. Returns the job ids."""
    stale_s = _seconds("TANDEM_JOB_STALE_SECONDS", 120)
    cutoff = timezone.now() - datetime.timedelta(seconds=stale_s)
    running = Job.objects.filter(status=Job.Status.RUNNING)
    found = running.filter(heartbeat_at__lt=cutoff) | running.filter(
        heartbeat_at__isnull=True, started_at__lt=cutoff
    )
    if restarted_worker:
        before = {"started_at__lt": restarted_at} if restarted_at is not None else {}
        found = found | running.filter(worker=restarted_worker, **before)
    recovered = []
    for job in found.distinct():
        last = timezone.localtime(job.heartbeat_at or job.started_at).strftime("%Y-%m-%d %H:%M:%S")
        interruptions = int((job.result or {}).get("interrupted", 0)) + 1
        why = f"its worker {job.worker or '?'} stopped (last heartbeat {last})"
        if interruptions > MAX_INTERRUPTIONS:
            fields = {
                "status": Job.Status.FAILED,
                "error": f"{why}; interrupted {interruptions} times, so not re-queued again: "
                "start it again once the cause is fixed (finished work is kept)",
                "finished_at": timezone.now(),
            }
        else:
            fields = {"status": Job.Status.QUEUED, "error": f"{why}; re-queued to continue"}
        with transaction.atomic():
            # Only if nothing touched it since it was read (another worker recovering it too).
            claimed = Job.objects.filter(
                pk=job.pk, status=Job.Status.RUNNING, heartbeat_at=job.heartbeat_at
            ).update(result={"interrupted": interruptions}, worker="", **fields)
            if claimed and fields["status"] == Job.Status.QUEUED:
                _enqueue(job)
        if claimed:
            log.warning("job %s (%s): %s", job.pk, job.kind, fields["error"])
            recovered.append(job.pk)
    return recovered


def watch_for_stale_jobs(restarted_worker: str | None) -> threading.Thread:
    """Recover at once (the jobs this worker name ran before a restart), then every half
    TANDEM_JOB_STALE_SECONDS (jobs of workers that never came back). A daemon thread."""

    ready_at = timezone.now()  # the jobs this worker claims from now on are its own

    def loop() -> None:
        name = restarted_worker
        while True:
            try:
                recover_stale_jobs(name, ready_at)
            except Exception:  # the watcher must outlive a database blip
                log.exception("stale job check failed")
                connection.close()
            name = None
            time.sleep(_seconds("TANDEM_JOB_STALE_SECONDS", 120) / 2)

    thread = threading.Thread(target=loop, name="stale-job-watch", daemon=True)
    thread.start()
    return thread


def _on_worker_ready(sender=None, **kwargs) -> None:
    watch_for_stale_jobs(getattr(sender, "hostname", None))


def _connect_worker_signal() -> None:
    from celery.signals import worker_ready

    worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="tandem-recover-stale-jobs")


_connect_worker_signal()


@job_kind("import_pairs")
def _import_pairs(job: Job, context: JobContext) -> dict:
    params = job.params
    try:
        summary = services.import_pairs(
            job.project,
            Path(params["path"]),
            params["format"],
            skip_invalid=bool(params.get("skip_invalid")),
            progress=context.progress,
            should_cancel=context.should_cancel,
        )
    finally:  # imported, refused or cancelled: the upload has served (a crash keeps it for the retry)
        uploads.delete_upload(Path(params["path"]))
    return summary.as_dict()


@job_kind("generate")
def _generate(job: Job, context: JobContext) -> dict:
    from labeling.generation import GenerationConfig

    config = GenerationConfig(**job.params.get("config", {}))
    return services.generate_candidates(
        job.project,
        job.params["prompts"],
        config,
        progress=context.progress,
        should_cancel=context.should_cancel,
    )


@job_kind("sync_argilla")
def _sync_argilla(job: Job, context: JobContext) -> dict:
    from . import review

    return review.sync(
        job.project, review.client(report=context.report), progress=context.progress, report=context.report
    )


@job_kind("route")
def _route(job: Job, context: JobContext) -> dict:
    """params: "policy" (an inline routing policy) or "version" (a stored one, re-applied);
    neither: the project's routing_config policy."""
    from . import routing

    params = job.params
    policy = routing.resolve_policy(job.project, params.get("policy"), params.get("version"))
    return routing.route_pairs(
        job.project, policy, progress=context.progress, should_cancel=context.should_cancel
    )


@job_kind("audit")
def _audit(job: Job, context: JobContext) -> dict:
    from . import audits

    report = audits.create_report(job.project, judge=job.params.get("judge"), user=job.created_by)
    return {"report": report.pk, "judge": report.judge, "calibrated": report.calibration is not None}


@job_kind("export")
def _export(job: Job, context: JobContext) -> dict:
    from django.conf import settings

    from . import datasets

    params = job.params
    out = params.get("out") or str(settings.VAR_DIR / "datasets" / job.project.name)
    formats = list(params.get("formats") or ["jsonl"])
    formats = formats if "jsonl" in formats else ["jsonl", *formats]  # training reads the JSONL
    return datasets.export_dataset(
        job.project, params.get("policy"), formats, out, judge=params.get("judge"), user=job.created_by
    )


@job_kind("train")
def _train(job: Job, context: JobContext) -> dict:
    """params: "dataset" (a version's hash prefix or its id), "method", "config" (a mapping)."""
    from . import datasets, training

    params = job.params

    def record_run(run) -> None:  # so the run's cancel finds the job driving it
        Job.objects.filter(pk=job.pk).update(result={"run": run.pk})

    version = datasets.find_version(job.project, params["dataset"])
    run = training.train_run(
        job.project,
        version,
        params["method"],
        params["config"],
        progress=context.progress,
        should_cancel=context.should_cancel,
        on_start=record_run,
    )
    return {"run": run.pk, "status": run.status, "final_eval": run.final_eval, "error": run.error}


def cancel_asked(job_id: int | None) -> bool:
    """Whether a cancel was asked for the job (through the cache, as JobContext reads it)."""
    return job_id is not None and bool(cache.get(_key(job_id, "cancel")))


def progress_key(job_id: int) -> str:
    """The cache key under which a running job's (done, total) progress is kept."""
    return _key(job_id, "progress")


# The judge job and its shards (registered on import; fanout imports this module's registry).
from . import fanout  # noqa: E402, F401
