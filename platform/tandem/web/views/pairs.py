"""The pair browser and one pair's page: verdicts, human labels, routing decisions."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from labeling.routing import Reason
from tandem.core import selectors
from tandem.core.models import Pair


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
            "tab": "pairs",
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
    return render(request, "web/pair.html", {"project": project, "tab": "pairs", "pair": pair})
