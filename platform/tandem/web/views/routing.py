"""The routing page: the project's policy and its stored versions, the replay of candidate
thresholds on the pairs humans have labeled (a chart of human share against blended accuracy),
and a form that routes with the thresholds picked."""

from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from labeling.routing import RoutingPolicy
from tandem.core import routing, selectors, services
from tandem.core.models import RoutingPolicyVersion

from .. import charts, forms
from .common import form_errors, live_jobs, start


def replay_rows(project) -> tuple[list[dict], str]:
    """The routing service's replay as rows for the table and the chart; or none and the reason."""
    try:
        found, labelled, judges = routing.replay_table(project)
    except services.ServiceError as err:
        return [], err.message
    rows = [
        {
            "uncertainty": row.policy.uncertainty,
            "audit_rate": row.policy.audit_rate,
            "human_share": row.human_share,
            "accuracy": _finite(row.accuracy),
            "random_accuracy": _finite(row.random_accuracy),
            "ai_only_accuracy": _finite(row.ai_only_accuracy),
            "errors_removed": _finite(row.errors_removed),
            "gain": row.gain_over_random,
        }
        for row in found
    ]
    return rows, f"{labelled} labeled pairs, judges {', '.join(judges)}"


def _point(row: dict, key: str) -> dict:
    name = f"uncertainty {row['uncertainty']}, audit {row['audit_rate']}"
    return {"x": row["human_share"], "y": row[key], "name": name}


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


@require_safe
@login_required
def routing_page(request, pk: int):
    project = selectors.access_project(request.user, pk)
    jobs_now = live_jobs(request, project, ["route"])  # before what the jobs make: see live_jobs
    try:
        policy, policy_error = routing.project_policy(project), ""
    except services.ServiceError as err:
        policy, policy_error = RoutingPolicy(), err.message
    versions = RoutingPolicyVersion.objects.filter(project=project).annotate(
        decided=Count("decisions"), human=Count("decisions", filter=Q(decisions__human=True))
    )
    rows, replay_note = replay_rows(project)
    chart = charts.points(
        [
            {"label": "policy", "data": [_point(r, "accuracy") for r in rows]},
            {"label": "random routing, same share", "data": [_point(r, "random_accuracy") for r in rows]},
        ],
        "share of pairs sent to humans",
        "blended accuracy",
    )
    form = forms.RouteForm(
        initial={
            "uncertainty": policy.uncertainty,
            "audit_rate": policy.audit_rate,
            "budget_items": policy.budget_items,
        }
    )
    context = {
        "project": project,
        "tab": "routing",
        "policy": policy.as_dict(),
        "policy_error": policy_error,
        "versions": versions.order_by("-version"),
        "rows": rows,
        "chart": chart,
        "replay_note": replay_note,
        "form": form,
        "counts": selectors.routing_counts(project),
    } | jobs_now
    return render(request, "web/routing.html", context)


@require_POST
@login_required
def start_route(request, pk: int):
    project = selectors.access_project(request.user, pk, write=True)
    form = forms.RouteForm(request.POST)
    if not form.is_valid():
        form_errors(request, "Routing not started", form)
        return redirect("routing", pk=pk)
    try:
        policy = routing.policy_with(project, **form.cleaned_data)
    except services.ServiceError as err:
        messages.error(request, f"Routing not started: {err.message}")
        return redirect("routing", pk=pk)
    return start(
        request,
        project,
        "route",
        {"policy": policy.as_dict()},
        f"Routing (policy v{policy.version})",
        "routing",
    )
