"""The datasets page: versions with rows by source, drops by reason and the weight histogram,
downloads per format, a dry-run preview of the blend and a button that builds a version."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from tandem.core import datasets, selectors, services
from tandem.core.models import DatasetVersion

from .. import charts, forms
from .common import form_errors, live_jobs, start


def _preview(project, form: forms.BlendForm) -> tuple[dict | None, str]:
    """The dry run's summary (nothing written), or why there is none."""
    if not form.is_valid():
        return None, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
    try:
        found = datasets.preview(project, policy=form.policy(), judge=form.cleaned_data["judge"] or None)
    except services.ServiceError as err:
        return None, err.message
    return found.get("summary", found), ""


def weight_chart(summary: dict) -> dict:
    return charts.bars(summary.get("weight_histogram") or {}, "training weight", "rows")


@require_safe
@login_required
def datasets_page(request, pk: int):
    project = selectors.access_project(request.user, pk)
    jobs_now = live_jobs(request, project, ["export"])  # before what the jobs make: see live_jobs
    versions = list(DatasetVersion.objects.filter(project=project).select_related("calibration")[:50])
    chosen = request.GET.get("version", "")
    shown = next(
        (v for v in versions if v.version.startswith(chosen) and chosen), versions[0] if versions else None
    )
    blend = forms.BlendForm(request.GET if "preview" in request.GET else None, auto_id="preview_%s")
    preview, preview_error = _preview(project, blend) if "preview" in request.GET else (None, "")
    context = {
        "project": project,
        "tab": "datasets",
        "versions": versions,
        "shown": shown,
        "blend_form": blend,
        "export_form": forms.ExportForm(auto_id="export_%s"),
        "preview": preview,
        "preview_error": preview_error,
        "version_chart": weight_chart(shown.counts if shown else {}),
        "preview_chart": weight_chart(preview or {}),
    } | jobs_now
    return render(request, "web/datasets.html", context)


@require_POST
@login_required
def start_export(request, pk: int):
    project = selectors.access_project(request.user, pk, write=True)
    form = forms.ExportForm(request.POST)
    if not form.is_valid():
        form_errors(request, "Dataset build not started", form)
        return redirect("datasets", pk=pk)
    params = {
        "policy": form.policy(),
        "formats": form.cleaned_data["formats"],
        "judge": form.cleaned_data["judge"] or None,
    }
    return start(request, project, "export", params, "Dataset build", "datasets")


@require_safe
@login_required
def dataset_download(request, pk: int, version: str, fmt: str):
    project = selectors.access_project(request.user, pk)
    dataset = get_object_or_404(DatasetVersion, project=project, version=version)
    try:
        path, name = datasets.version_file(dataset, fmt)
    except services.NotFound as err:
        raise Http404(err.message) from err
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name)
