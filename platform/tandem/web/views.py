"""Pages for engineers and auditors. Views fetch the project through selectors.access_project
(another team's project is a 404, a role too weak for the action a 403), call a selector or a
service, and render; the work is in tandem.core. Annotators have no pages here: they work in
Argilla."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from labeling.routing import Reason
from tandem.core import jobs, judging, roles, selectors, services, uploads
from tandem.core.models import DatasetVersion, Pair, TrainingRun

from .forms import ImportForm, JudgeForm


@require_safe
@login_required
def home(request):
    context = {"projects": selectors.projects_for(request.user)}
    if not context["projects"]:  # annotators: their Argilla queue and what they have labeled
        context["argilla_url"] = settings.ARGILLA_API_URL
        context["my_labels"] = selectors.annotator_progress(request.user)
    return render(request, "web/home.html", context)


@require_safe  # a page that only reads answers GET and HEAD; anything else is a 405
@login_required
def project_detail(request, pk: int):
    project = selectors.access_project(request.user, pk)
    counts = selectors.project_counts(project)
    role = roles.role_on(request.user, project.pk)
    for job in counts["jobs"]:  # auditors read that a job failed, not its raw reason
        job.error = jobs.error_for(job, role)
    context = {
        "project": project,
        "counts": counts,
        "can_change": roles.can_write(role),
        "members": selectors.members_of(project),
        "import_form": ImportForm(),
        "judge_form": JudgeForm(),
    }
    return render(request, "web/project.html", context)


@require_POST
@login_required
def start_import(request, pk: int):
    project = selectors.access_project(request.user, pk, write=True)
    try:
        uploads.check_request_size(request.META.get("CONTENT_LENGTH"))
    except uploads.UploadTooLarge as err:
        return HttpResponse(f"Import not started: {err.message}", content_type="text/plain", status=413)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, f"Import not started: {form.errors.as_text()}")
        return redirect("project-detail", pk=pk)
    upload = form.cleaned_data["file"]
    try:
        job = jobs.start_upload_import(
            project, upload, form.cleaned_data["format"], form.cleaned_data["skip_invalid"], request.user
        )
    except uploads.UploadRefused as err:
        messages.error(request, f"Import not started: {err.message}")
        return redirect("project-detail", pk=pk)
    messages.success(request, f"Import of {upload.name} started (job {job.pk}).")
    return redirect("project-detail", pk=pk)


@require_POST
@login_required
def start_judge(request, pk: int):
    project = selectors.access_project(request.user, pk, write=True)
    form = JudgeForm(request.POST)
    if form.is_valid():
        try:
            judging.resolve_config(project, form.cleaned_data["judge"])
        except services.ServiceError as err:
            messages.error(request, err.message)
            return redirect("project-detail", pk=pk)
        params = {k: v for k, v in form.cleaned_data.items() if v}
        job = jobs.start_job("judge", project=project, user=request.user, params=params)
        messages.success(request, f"Judging started (job {job.pk}).")
    return redirect("project-detail", pk=pk)


@require_safe
@login_required
def pair_list(request, pk: int):
    project = selectors.access_project(request.user, pk)
    filters = {k: request.GET.get(k, "") for k in selectors.PAIR_FILTERS}
    page = Paginator(selectors.pair_page(project, filters), 50).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(
        request,
        "web/pairs.html",
        {
            "project": project,
            "page": page,
            "filters": filters,
            "query": query,
            "judges": selectors.judges_of(project),
            "reasons": [reason.value for reason in Reason],
        },
    )


@require_safe
@login_required
def pair_detail(request, pk: int, pair_id: int):
    project = selectors.access_project(request.user, pk)
    try:
        pair = selectors.pair_detail(project, pair_id)
    except Pair.DoesNotExist:
        raise Http404("no such pair in this project") from None
    return render(request, "web/pair.html", {"project": project, "pair": pair})


@require_safe
@login_required
def audit_page(request, pk: int):
    project = selectors.access_project(request.user, pk)
    judges = selectors.judges_of(project)
    judge = request.GET.get("judge") or (judges[0] if judges else "")
    return render(request, "web/audit.html", {"project": project, "judges": judges, "judge": judge})


@require_safe
@login_required
def audit_download(request, pk: int, fmt: str):
    import audits

    project = selectors.access_project(request.user, pk)
    judge = request.GET.get("judge") or None
    if judge and judge not in selectors.judges_of(project):
        raise Http404("no judgments from that judge in this project")
    try:
        judgments, labels = selectors.audit_frames(project, judge)
        if judgments.empty:
            return HttpResponse(
                "No judgments yet: run the judge first.", content_type="text/plain", status=404
            )
        report = {**audits.build_report(judgments, labels, judge=judge), "project": project.name}
    except audits.AuditInputError as err:  # stored data the audit cannot read: say what, not a 500
        return HttpResponse(f"Cannot audit this project: {err}", content_type="text/plain", status=400)
    name = f"audit-{project.name}-{(judge or 'all').replace('/', '_').replace(':', '_')}"
    if fmt == "json":
        return JsonResponse(
            report,
            json_dumps_params={"indent": 2, "default": str},
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )
    if fmt == "pdf":
        import io

        return FileResponse(io.BytesIO(audits.render_pdf(report)), as_attachment=True, filename=f"{name}.pdf")
    response = HttpResponse(audits.render_html(report))
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{name}.html"'
    else:
        response["X-Frame-Options"] = "SAMEORIGIN"
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return response


@require_safe
@login_required
def dataset_download(request, pk: int, version: str, fmt: str):
    project = selectors.access_project(request.user, pk)
    dataset = get_object_or_404(DatasetVersion, project=project, version=version)
    path = dataset.files.get(fmt)
    if not path or not Path(path).is_file():
        raise Http404("that file is not on this server any more: export the version again")
    return FileResponse(
        open(path, "rb"),
        as_attachment=True,
        filename=f"{project.name}-{version[:12]}{Path(path).suffix}",
    )


@require_safe
@login_required
def training_run(request, pk: int, run_id: int):
    from audits.render.svg import line_chart

    project = selectors.access_project(request.user, pk)
    run = get_object_or_404(TrainingRun, project=project, pk=run_id)
    series = {}
    for point in run.metrics:
        for key, value in point.items():
            if key != "step" and isinstance(value, int | float) and ("loss" in key or "reward" in key):
                series.setdefault(key, []).append((point["step"], value))
    values = [y for points in series.values() for _, y in points]
    y_range = (min(values), max(values)) if values and min(values) < max(values) else (0.0, 1.0)
    chart = line_chart(f"{run.method} run {run.pk}", list(series.items()), "step", "value", y_range=y_range)
    can_change = roles.can_write(roles.role_on(request.user, project.pk))  # raw errors, server paths
    context = {"project": project, "run": run, "chart": chart, "can_change": can_change}
    return render(request, "web/run.html", context)
