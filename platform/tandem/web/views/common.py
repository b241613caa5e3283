"""What every page that starts work shares: starting a job and saying how it went."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from tandem.core import jobs, roles, selectors, services
from tandem.core.models import Job, Project


def start(request, project: Project, kind: str, params: dict, what: str, back: str):
    """Start a `kind` job and go back to the page named `back`. A refusal (another job of that
    kind still running, a bad configuration) is shown as the page's error message. The form's
    `form_key` (templatetags/tandem_forms.py) is the idempotency key: the same form submitted
    twice (a double click, a reload after the POST) gets the first job back, not a second."""
    key = request.POST.get("form_key", "")[:200]
    try:
        job = jobs.start_job(kind, project=project, params=params, user=request.user, idempotency_key=key)
    except services.ServiceError as err:
        messages.error(request, f"{what} not started: {err.message}")
    else:
        messages.success(request, f"{what} started (job {job.pk}).")
    return redirect(back, pk=project.pk)


def form_errors(request, refused: str, form) -> None:
    """A form's errors as one message ("Import not started: file: ...") naming each field and
    what is wrong with it."""
    problems = "; ".join(
        f"{name if name in form.fields else 'form'}: {' '.join(errs)}" for name, errs in form.errors.items()
    )
    messages.error(request, f"{refused}: {problems}")


def can_change(request, project: Project) -> bool:
    return roles.can_write(roles.role_on(request.user, project.pk))


ACTIVE = jobs.ACTIVE  # queued or running: one definition, the job registry's


def live_jobs(request, project: Project, kinds: list[str] | None = None) -> dict:
    """The latest jobs of the project (of `kinds`, if given) with their live progress and the
    error as the reader's role may see it; `watch`: the ids still queued or running, which the
    jobs panel keeps polling for (web/_jobs.html). A page reads these before the data the jobs
    make: a job that ends in between then shows with its results, or still runs and is watched
    (read after, it would show as ended next to stale data, and nothing would reload the page)."""
    found = Job.objects.filter(project=project, parent__isnull=True)
    if kinds:
        found = found.filter(kind__in=kinds)
    role = roles.role_on(request.user, project.pk)
    shown = list(found.order_by("-created_at")[:10])
    for job in shown:
        job.error = jobs.error_for(job, role)
        job.progress_done, job.progress_total = jobs.live_progress(job)
    return {
        "jobs": shown,
        "job_kinds": kinds or [],
        "watch": [job.pk for job in shown if job.status in ACTIVE],
        "can_change": roles.can_write(role),
    }


@require_safe
@login_required
def jobs_panel(request, pk: int):
    """The jobs panel alone, for htmx to poll every 2 s while `watch` (job ids) holds a job still
    queued or running. Once one of them has ended, the answer asks htmx to reload the whole page
    (HX-Refresh), so the counts, lists and charts around the panel show what the job made."""
    project = selectors.access_project(request.user, pk)
    context = live_jobs(request, project, request.GET.getlist("kind") or None)
    watched = {int(v) for v in request.GET.getlist("watch") if v.isdigit()}
    response = render(request, "web/_jobs.html", {"project": project} | context)
    if watched - set(context["watch"]):
        response["HX-Refresh"] = "true"
    return response
