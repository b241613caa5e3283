"""Home, a new project, and the pipeline page: each stage's state, what to do next, the forms
that start each stage, live job progress and the alerts panel."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from tandem.core import judging, roles, selectors, services, uploads
from tandem.core.models import Alert

from .. import forms, pipeline
from .common import can_change, form_errors, live_jobs, start


@require_safe
@login_required
def home(request):
    context = {"projects": selectors.projects_for(request.user)}
    context["may_create"] = roles.may_create_projects(request.user)
    context["create_form"] = forms.ProjectForm()
    if not context["projects"] and not context["may_create"]:  # annotators: their queue, their labels
        context["argilla_url"] = settings.ARGILLA_API_URL
        context["my_labels"] = selectors.annotator_progress(request.user)
    return render(request, "web/home.html", context)


@require_POST
@login_required
def project_create(request):
    """Creators (the global engineer group) and admins; the creator becomes its engineer."""
    if not roles.may_create_projects(request.user):
        raise PermissionDenied("only engineers (the global role) and admins may create projects")
    form = forms.ProjectForm(request.POST)
    if not form.is_valid():
        form_errors(request, "Project not created", form)
        return redirect("home")
    try:
        project = services.new_project(**form.cleaned_data, user=request.user)
    except services.Conflict as err:  # taken between the form's check and the insert
        messages.error(request, err.message)
        return redirect("home")
    messages.success(request, f"Project {project.name} created: import pairs to start.")
    return redirect("project-detail", pk=project.pk)


@require_safe  # a page that only reads answers GET and HEAD; anything else is a 405
@login_required
def project_detail(request, pk: int):
    project = selectors.access_project(request.user, pk)
    jobs_now = live_jobs(request, project)  # before what the jobs make: see live_jobs
    counts = selectors.project_counts(project)
    found = pipeline.stages(project, counts)
    context = {
        "project": project,
        "tab": "pipeline",
        "counts": counts,
        "stages": found,
        "next": pipeline.next_stage(found),
        "can_change": can_change(request, project),
        "members": selectors.members_of(project),
        "alerts": pipeline.alerts(project),
        "import_form": forms.ImportForm(),
        "judge_form": forms.JudgeForm(),
        "settings_form": forms.SettingsForm(project),
    } | jobs_now
    return render(request, "web/project.html", context)


@require_POST
@login_required
def project_settings(request, pk: int):
    """The project's description, rubric and judge / routing configs, checked as the API checks
    them (a misspelled key is named in the message)."""
    project = selectors.access_project(request.user, pk, write=True)
    form = forms.SettingsForm(project, request.POST)
    if form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
    else:
        messages.error(request, f"Settings not saved: {form.problems()}")
    return redirect("project-detail", pk=pk)


@require_POST
@login_required
def start_import(request, pk: int):
    project = selectors.access_project(request.user, pk, write=True)
    try:
        uploads.check_request_size(request.META.get("CONTENT_LENGTH"))
    except uploads.UploadTooLarge as err:
        return HttpResponse(f"Import not started: {err.message}", content_type="text/plain", status=413)
    form = forms.ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        form_errors(request, "Import not started", form)
        return redirect("project-detail", pk=pk)
    from tandem.core import jobs

    upload = form.cleaned_data["file"]
    try:
        job = jobs.start_upload_import(
            project, upload, form.cleaned_data["format"], form.cleaned_data["skip_invalid"], request.user
        )
    except (uploads.UploadRefused, services.ServiceError) as err:
        messages.error(request, f"Import not started: {err.message}")
        return redirect("project-detail", pk=pk)
    messages.success(request, f"Import of {upload.name} started (job {job.pk}).")
    return redirect("project-detail", pk=pk)


@require_POST
@login_required
def start_judge(request, pk: int):
    project = selectors.access_project(request.user, pk, write=True)
    form = forms.JudgeForm(request.POST)
    if not form.is_valid():
        form_errors(request, "Judging not started", form)
        return redirect("project-detail", pk=pk)
    try:
        judging.resolve_config(project, form.cleaned_data["judge"])
    except services.ServiceError as err:
        messages.error(request, f"Judging not started: {err.message}")
        return redirect("project-detail", pk=pk)
    params = {k: v for k, v in form.cleaned_data.items() if v}
    return start(request, project, "judge", params, "Judging", "project-detail")


@require_POST
@login_required
def start_sync(request, pk: int):
    """Push the pairs routed to humans to Argilla and pull the labels given there."""
    project = selectors.access_project(request.user, pk, write=True)
    return start(request, project, "sync_argilla", {}, "Argilla sync", "project-detail")


@require_POST
@login_required
def alert_acknowledge(request, pk: int, alert_id: int):
    project = selectors.access_project(request.user, pk, write=True)
    alert = get_object_or_404(Alert, project=project, pk=alert_id)
    services.acknowledge_alert(alert, user=request.user)
    messages.success(request, f"Alert acknowledged: {alert.message[:80]}")
    return redirect("project-detail", pk=pk)
