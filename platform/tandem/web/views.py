"""Pages for engineers and auditors. Annotators are sent to Argilla (later: their queue)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from tandem.core import selectors
from tandem.core.models import Project


@login_required
def home(request):
    projects = selectors.projects_for(request.user)
    return render(request, "web/home.html", {"projects": projects})


@login_required
def project_detail(request, pk: int):
    if not request.user.has_perm("core.view_project"):
        raise PermissionDenied
    project = get_object_or_404(Project, pk=pk)
    counts = selectors.project_counts(project)
    return render(request, "web/project.html", {"project": project, "counts": counts})
