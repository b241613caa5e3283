"""Celery tasks: each takes ids and calls one service (through the job registry)."""

from celery import shared_task

from . import jobs


@shared_task(name="tandem.core.tasks.run_job", acks_late=True)
def run_job(job_id: int) -> str:
    return jobs.execute(job_id).status
