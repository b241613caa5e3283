"""The audit stage: score the judges against human labels and store the report.

Every audit is stored (AuditReport) with its calibration map, the map routing and the blend
apply, so the CLI, the API, the pages and the audit job all call `create_report`, and the
pages and the API show stored reports (their trend over time is the project's reports in order).
"""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied

from . import gold, roles, selectors
from .errors import ConfigInvalid, NotReady, ServiceError
from .models import AuditReport, Project


def create_report(project: Project, *, judge: str | None = None, user=None) -> AuditReport:
    """Audit `judge` (None: every judge, pooled) on the project's labels now and store it.

    A user (pages, API) must be an engineer of the project or an admin: PermissionDenied
    otherwise; commands and jobs pass none. An annotator the report flags on gold items raises
    an Alert (core.gold). Raises NotReady when nothing is judged yet,
    ConfigInvalid (key `judge`) for a judge without judgments here, ServiceError for stored data
    the audit cannot read.
    """
    if user is not None and not roles.can_write(roles.role_on(user, project.pk)):
        raise PermissionDenied("only the project's engineers (or an admin) may run its audits")
    report = compute_report(project, judge=judge)
    stored = AuditReport.objects.create(
        project=project,
        judge=judge or "",
        report=report,
        calibration=(report.get("calibration") or {}).get("map"),
        created_by=user,
    )
    gold.annotator_alerts(project, report)  # an annotator failing gold items must be seen
    return stored


def compute_report(project: Project, *, judge: str | None = None) -> dict:
    """The audit of the project's data now, as stored JSON would hold it, without storing it
    (the pages' "as of now" download); `create_report` stores the same dict. Raises as
    `create_report` does."""
    import audits

    check_judge(project, judge)
    try:
        judgments, labels = selectors.audit_frames(project, judge)
        report = audits.build_report(judgments, labels, judge=judge)
    except audits.AuditInputError as err:
        raise ServiceError(f"cannot audit project '{project.name}': {err}") from err
    return json.loads(json.dumps({**report, "project": project.name}, default=str))


def check_judge(project: Project, judge: str | None) -> None:
    """Raises NotReady when nothing is judged yet, ConfigInvalid (key `judge`) for a judge
    without judgments in the project (the message lists those with some)."""
    if not selectors.judges_of(project):
        raise NotReady(f"project '{project.name}' has no judgments yet: judge its pairs first")
    selectors.check_judge(project, judge)


def latest_report(project: Project, judge: str | None = None) -> AuditReport | None:
    """The project's newest stored report (of `judge`, when given; "" is the pooled one)."""
    reports = AuditReport.objects.filter(project=project)
    if judge is not None:
        reports = reports.filter(judge=judge)
    return reports.order_by("-created_at", "-pk").first()


# A rendered HTML report is served with this policy (pages and API): it is built from stored data
# and needs no script and no outside request.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

RENDERERS = {"html": "render_html", "pdf": "render_pdf", "text": "render_text"}


def render(report: AuditReport, fmt: str) -> str | bytes | dict:
    """The stored report as `fmt`: json (the dict), html, pdf (bytes) or text."""
    import audits

    if fmt == "json":
        return report.report
    if fmt not in RENDERERS:
        raise ConfigInvalid(f"no audit format '{fmt}'; formats: json, {', '.join(RENDERERS)}", "format")
    return getattr(audits, RENDERERS[fmt])(report.report)


def file_name(report: AuditReport, fmt: str) -> str:
    """What a download of the report is called: audit-<project>-<judge or all>.<fmt>."""
    judge = (report.judge or "all").replace("/", "_").replace(":", "_")
    return f"audit-{report.project.name}-{judge}.{fmt}"
