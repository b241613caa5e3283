"""Reads: what pages, the API and the CLI show. No writes here."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from .models import HumanLabel, Judgment, Pair, Project


def projects_for(user) -> QuerySet[Project]:
    return Project.objects.order_by("name") if user.has_perm("core.view_project") else Project.objects.none()


def project_counts(project: Project) -> dict:
    """Pipeline counts for one project, in a handful of aggregate queries."""
    pairs = Pair.objects.filter(project=project)
    judgments = Judgment.objects.filter(pair__project=project)
    by_judge = list(
        judgments.values("judge").annotate(
            calls=Count("id"),
            errors=Count("id", filter=~Q(status=Judgment.Status.OK)),
            pairs=Count("pair", distinct=True),
        ).order_by("judge")
    )
    labels = HumanLabel.objects.filter(pair__project=project)
    return {
        "pairs": pairs.count(),
        "judgments": judgments.count(),
        "by_judge": by_judge,
        "human_labels": labels.count(),
        "human_labeled_pairs": labels.values("pair").distinct().count(),
        "annotators": labels.values("annotator").distinct().count(),
    }
