"""The audit page: stored reports over time with trend charts, the chosen report rendered by
the audits package's HTML renderer, downloads, and (engineers) a button that stores a new one."""

from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from tandem.core import audits as audit_service
from tandem.core import selectors, services
from tandem.core.errors import ConfigInvalid, NotReady, ServiceError
from tandem.core.models import AuditReport

from .. import charts, forms
from .common import form_errors, live_jobs, start

# Figures followed across reports: (dotted key in the report, label on the chart).
TRENDS = [
    ("agreement.with_ties", "agreement with humans"),
    ("agreement.without_ties", "agreement, ties left out"),
    ("human_human.agreement", "human-human agreement (ceiling)"),
    ("position.consistency", "consistency across orders"),
    ("position.flip_rate", "flip rate"),
    ("calibration.ece", "calibration error (ECE)"),
]


def trend(reports: list[AuditReport]) -> dict:
    """Each TRENDS figure per report, oldest first (a figure a report lacks is a gap)."""
    import audits

    flat = [audits.flatten(r.report) for r in reversed(reports)]
    series = []
    for key, label in TRENDS:
        values = [row.get(key) if isinstance(row.get(key), int | float) else None for row in flat]
        if any(v is not None for v in values):
            series.append({"key": key, "label": label, "values": values})
    labels = [f"{r.created_at:%m-%d %H:%M} {r.judge or 'all'}" for r in reversed(reports)]
    return {"labels": labels, "series": series}


@require_safe
@login_required
def audit_page(request, pk: int):
    project = selectors.access_project(request.user, pk)
    jobs_now = live_jobs(request, project, ["audit"])  # before what the jobs make: see live_jobs
    judges = selectors.judges_of(project)
    judge = request.GET.get("judge", "")
    stored = AuditReport.objects.filter(project=project)
    if judge:
        stored = stored.filter(judge=judge)
    reports = list(stored[:50])
    chosen = request.GET.get("report")
    shown = next((r for r in reports if str(r.pk) == chosen), reports[0] if reports else None)
    found_trend = trend(reports)
    context = {
        "project": project,
        "tab": "audit",
        "judges": judges,
        "judge": judge,
        "reports": reports,
        "shown": shown,
        "trend": found_trend,
        "trend_chart": charts.categories(found_trend["labels"], found_trend["series"], "report", "value"),
        "form": forms.AuditForm(initial={"judge": judge or (judges[0] if judges else "")}),
    } | jobs_now
    return render(request, "web/audit.html", context)


@require_POST
@login_required
def create_audit(request, pk: int):
    """Store a new report (the `audit` job calls tandem.core.audits.create_report)."""
    project = selectors.access_project(request.user, pk, write=True)
    form = forms.AuditForm(request.POST)
    if not form.is_valid():
        form_errors(request, "Audit not started", form)
        return redirect("audit", pk=pk)
    judge = form.cleaned_data["judge"] or None
    try:
        audit_service.check_judge(project, judge)
    except services.ServiceError as err:
        messages.error(request, f"Audit not started: {err.message}")
        return redirect("audit", pk=pk)
    return start(request, project, "audit", {"judge": judge}, "Audit", "audit")


def report_response(report: AuditReport, name: str, fmt: str, download: bool):
    """A report as JSON, PDF or HTML; HTML shown in the page's frame gets a strict policy (the
    report is rendered from stored data: no script, no outside request)."""
    rendered = audit_service.render(report, fmt)
    if fmt == "json":
        return JsonResponse(
            rendered,
            json_dumps_params={"indent": 2, "default": str},
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )
    if fmt == "pdf":
        return FileResponse(io.BytesIO(rendered), as_attachment=True, filename=f"{name}.pdf")
    response = HttpResponse(rendered)
    if download:
        response["Content-Disposition"] = f'attachment; filename="{name}.html"'
    else:
        response["X-Frame-Options"] = "SAMEORIGIN"
        response["Content-Security-Policy"] = audit_service.REPORT_CSP
    return response


@require_safe
@login_required
def stored_report(request, pk: int, report_id: int, fmt: str):
    project = selectors.access_project(request.user, pk)
    stored = get_object_or_404(AuditReport, project=project, pk=report_id)
    name = audit_service.file_name(stored, fmt).removesuffix(f".{fmt}") + f"-{stored.pk}"
    return report_response(stored, name, fmt, bool(request.GET.get("download")))


@require_safe
@login_required
def audit_download(request, pk: int, fmt: str):
    """The audit of the project's data as of now, not stored (the audit page's "create" stores
    one); computed by the audit service like every stored report."""
    project = selectors.access_project(request.user, pk)
    judge = request.GET.get("judge") or None
    try:
        report = audit_service.compute_report(project, judge=judge)
    except (NotReady, ConfigInvalid) as err:  # nothing judged, or not by that judge
        raise Http404(err.message) from err
    except ServiceError as err:  # stored data the audit cannot read: say what, not a 500
        return HttpResponse(err.message, content_type="text/plain", status=400)
    unsaved = AuditReport(project=project, judge=judge or "", report=report)
    name = audit_service.file_name(unsaved, fmt).removesuffix(f".{fmt}")
    return report_response(unsaved, name, fmt, bool(request.GET.get("download")))
