"""Background jobs: one registry of job kinds, each a thin call into a service function.

Progress and cancel requests travel through the cache (Redis in production and in the demo),
because the service may hold one long database transaction (an all-or-nothing import) during
which the job's own row cannot be updated on SQLite. The row gets the final state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from . import services
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

    def should_cancel(self) -> bool:
        self._cancelled = self._cancelled or bool(cache.get(_key(self.job_id, "cancel")))
        return self._cancelled


def _key(job_id: int, what: str) -> str:
    return f"tandem:job:{job_id}:{what}"


def start_job(kind: str, *, project: Project | None, params: dict, user=None) -> Job:
    """Create a queued job and hand it to the worker once the surrounding transaction commits."""
    if kind not in HANDLERS:
        raise services.ServiceError(f"unknown job kind '{kind}'; known: {', '.join(HANDLERS)}")
    job = Job.objects.create(kind=kind, project=project, params=params, created_by=user)
    from .tasks import run_job, run_training_job  # the task module imports this one

    # Training goes to the `gpu` queue (workers on GPU machines consume it); the rest to `default`.
    task = run_training_job if kind == "train" else run_job
    transaction.on_commit(lambda: task.delay(job.pk))
    return job


def start_upload_import(project: Project, upload, fmt: str, skip_invalid: bool, user=None) -> Job:
    """Keep an uploaded file under MEDIA_ROOT/uploads/ and import it in a background job
    (the API and the pages both start imports this way)."""
    import uuid

    from django.conf import settings

    folder = Path(settings.MEDIA_ROOT) / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / Path(upload.name).name
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    params = {"path": str(path), "format": fmt, "skip_invalid": skip_invalid}
    return start_job("import_pairs", project=project, params=params, user=user)


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


def live_progress(job: Job) -> tuple[int, int | None]:
    """The latest progress: from the cache while the job runs, from its row afterwards."""
    if job.status == Job.Status.RUNNING:
        return cache.get(_key(job.pk, "progress")) or (job.progress_done, job.progress_total)
    return job.progress_done, job.progress_total


def execute(job_id: int) -> Job:
    """Run a job to its end state. Safe to call twice: only a queued job starts."""
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now()
    )
    job = Job.objects.get(pk=job_id)
    if not claimed:
        log.info("job %s is %s, not queued: not started again", job_id, job.status)
        return job
    context = JobContext(job)
    state: dict = {"status": Job.Status.SUCCEEDED, "result": {}, "error": ""}
    try:
        state["result"] = HANDLERS[job.kind](job, context)
    except services.Cancelled as err:
        state.update(status=Job.Status.CANCELLED, error=err.message)
    except services.ImportFailed as err:
        state.update(status=Job.Status.FAILED, error=err.message, result=err.summary.as_dict())
    except services.ServiceError as err:
        state.update(status=Job.Status.FAILED, error=err.message)
    except Exception as err:
        log.exception("job %s (%s) failed", job_id, job.kind)
        state.update(status=Job.Status.FAILED, error=f"{type(err).__name__}: {err}")
    done, total = cache.get(_key(job_id, "progress")) or (0, None)
    Job.objects.filter(pk=job_id).update(
        **state, progress_done=done, progress_total=total, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


@job_kind("import_pairs")
def _import_pairs(job: Job, context: JobContext) -> dict:
    params = job.params
    summary = services.import_pairs(
        job.project,
        Path(params["path"]),
        params["format"],
        skip_invalid=bool(params.get("skip_invalid")),
        progress=context.progress,
        should_cancel=context.should_cancel,
    )
    return summary.as_dict()


@job_kind("judge")
def _judge(job: Job, context: JobContext) -> dict:
    from . import judging

    config = judging.resolve_config(job.project, job.params.get("judge", "smollm2"))
    summary = judging.judge_pairs(
        job.project,
        config,
        limit=job.params.get("limit"),
        progress=context.progress,
        should_cancel=context.should_cancel,
    )
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

    return review.sync(job.project, review.client(), progress=context.progress)


@job_kind("route")
def _route(job: Job, context: JobContext) -> dict:
    from . import routing

    return routing.route_pairs(job.project, routing.project_policy(job.project))


@job_kind("export")
def _export(job: Job, context: JobContext) -> dict:
    from django.conf import settings

    from . import datasets

    params = job.params
    out = params.get("out") or str(settings.VAR_DIR / "datasets" / job.project.name)
    return datasets.export_dataset(
        job.project, params.get("policy"), params.get("formats", ["jsonl"]), out, judge=params.get("judge")
    )


@job_kind("train")
def _train(job: Job, context: JobContext) -> dict:
    from . import datasets

    params = job.params
    version = datasets.find_version(job.project, params["dataset"])
    run = datasets.train_run(
        job.project,
        version,
        params["method"],
        params["config"],
        progress=context.progress,
        should_cancel=context.should_cancel,
    )
    return {"run": run.pk, "status": run.status, "final_eval": run.final_eval, "error": run.error}
