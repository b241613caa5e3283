"""The training runs page: the runs, one run's loss and accuracy curves, its evaluation (win
rate against its starting model, with lengths) and artifacts; start a small run, cancel one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from tandem.core import selectors, services, training
from tandem.core.models import DatasetVersion, TrainingRun

from .. import charts, forms
from .common import can_change, form_errors, live_jobs, start


def methods() -> list[str]:
    from training.config import CONFIGS

    return list(CONFIGS)


def curves(run: TrainingRun) -> list[dict]:
    """The run's numeric metrics per step as Chart.js configs, one chart per kind: losses, then accuracies and
    rewards (the scales differ, so they do not share an axis)."""
    groups = {"loss": {}, "accuracy / reward": {}}
    for point in run.metrics:
        for key, value in point.items():
            if key == "step" or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            group = (
                "loss"
                if "loss" in key
                else "accuracy / reward"
                if ("acc" in key or "reward" in key)
                else None
            )
            if group:
                groups[group].setdefault(key, []).append({"x": point["step"], "y": value})
    found = [(title, series) for title, series in groups.items() if series]
    return [
        {
            "title": title,
            "id": f"curve-{i}",
            "config": charts.lines([{"label": k, "data": v} for k, v in series.items()], "step", title),
        }
        for i, (title, series) in enumerate(found, start=1)
    ]


@require_safe
@login_required
def runs_page(request, pk: int):
    project = selectors.access_project(request.user, pk)
    jobs_now = live_jobs(request, project, ["train"])  # before what the jobs make: see live_jobs
    versions = DatasetVersion.objects.filter(project=project)[:20]
    context = {
        "project": project,
        "tab": "runs",
        "runs": TrainingRun.objects.filter(project=project).select_related("dataset")[:50],
        "form": forms.TrainForm(versions=versions, methods=methods()),
        "has_versions": versions.exists(),
    } | jobs_now
    return render(request, "web/runs.html", context)


@require_safe
@login_required
def training_run(request, pk: int, run_id: int):
    project = selectors.access_project(request.user, pk)
    run = get_object_or_404(TrainingRun.objects.select_related("dataset"), project=project, pk=run_id)
    context = {
        "project": project,
        "tab": "runs",
        "run": run,
        "charts": curves(run),
        "can_change": can_change(request, project),  # raw errors and server paths: engineers only
    }
    return render(request, "web/run.html", context)


@require_POST
@login_required
def start_train(request, pk: int):
    project = selectors.access_project(request.user, pk, write=True)
    versions = DatasetVersion.objects.filter(project=project)[:20]
    form = forms.TrainForm(request.POST, versions=versions, methods=methods())
    if not form.is_valid():
        form_errors(request, "Training not started", form)
        return redirect("training-runs", pk=pk)
    params = {key: form.cleaned_data[key] for key in ("dataset", "method", "config")}
    try:  # a misspelled config key is refused here, named, rather than by a failed job
        training.check_config(params["method"], params["config"], project=project)
    except services.ServiceError as err:
        messages.error(request, f"Training not started: {err.message}")
        return redirect("training-runs", pk=pk)
    return start(request, project, "train", params, f"Training ({params['method']})", "training-runs")


@require_POST
@login_required
def cancel_run(request, pk: int, run_id: int):
    """Ask the job training the run to stop: it saves a checkpoint and the run ends cancelled."""
    project = selectors.access_project(request.user, pk, write=True)
    run = get_object_or_404(TrainingRun, project=project, pk=run_id)
    try:
        job = training.cancel_run(run)
    except services.ServiceError as err:
        messages.error(request, f"Not cancelled: {err.message}")
    else:
        messages.success(
            request, f"Cancel requested for run {run.pk} (job {job.pk}): it stops at its next step."
        )
    return redirect("training-run", pk=pk, run_id=run_id)
