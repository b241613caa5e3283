"""Celery tasks: each takes ids and calls one service (through the job registry)."""

from celery import shared_task

from . import jobs


@shared_task(name="tandem.core.tasks.run_job", acks_late=True)
def run_job(job_id: int) -> str:
    return jobs.execute(job_id).status


@shared_task(name="tandem.core.tasks.run_training_job", acks_late=True)
def run_training_job(job_id: int) -> str:
    """The same job runner, routed to the `gpu` queue (CELERY_TASK_ROUTES)."""
    return jobs.execute(job_id).status


@shared_task(name="tandem.core.tasks.sync_reviews")
def sync_reviews(project_id: int | None = None) -> list[int]:
    """Start a sync job for one project, or every project with records in Argilla (the schedule)."""
    from .models import ArgillaRecord, Job, Project

    ids = (
        [project_id]
        if project_id
        else list(ArgillaRecord.objects.values_list("pair__project_id", flat=True).distinct())
    )
    started = []
    for project in Project.objects.filter(pk__in=ids):
        busy = Job.objects.filter(
            project=project, kind="sync_argilla", status__in=[Job.Status.QUEUED, Job.Status.RUNNING]
        ).exists()
        if not busy:
            started.append(jobs.start_job("sync_argilla", project=project, params={}).pk)
    return started
