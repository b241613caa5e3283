"""Reads: what pages, the API and the CLI show. No writes here."""

from __future__ import annotations

import re

from django.db.models import Count, F, Q, QuerySet

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


def audit_frames(project: Project, judge: str | None = None):
    """The two frames of the audits package's contract (audits/frames.py) for one project.

    Human labels imported with a data set are an unbiased sample ("imported"); labels from
    Argilla count as "routed" (selected to be hard) until routing marks its blind audit sample.
    """
    import pandas as pd
    from django.db.models.functions import Length

    judgments = Judgment.objects.filter(pair__project=project)
    if judge:
        judgments = judgments.filter(judge=judge)
    columns = {
        "category": F("pair__category"), "model_a": F("pair__model_a"), "model_b": F("pair__model_b"),
        "len_a": Length("pair__response_a"), "len_b": Length("pair__response_b"),
    }
    names = ["pair_id", "judge", "template", "order", "status", "choice", "p_first", "created_at",
             "model", "detail"]
    frame = pd.DataFrame.from_records(
        list(judgments.values(*names, **columns)), columns=[*names, *columns]
    )
    detail = frame.pop("detail")
    frame["orders_disagree"] = detail.map(lambda d: bool((d or {}).get("orders_disagreed")))
    frame["orders_merged"] = detail.map(lambda d: bool((d or {}).get("orders_merged")))
    frame["choice"] = frame["choice"].replace("", None)
    frame["judge_family"] = frame.pop("model").map(model_family)
    flags = _formatting(frame["pair_id"].unique())
    frame["fmt_a"] = frame["pair_id"].map(flags["fmt_a"])
    frame["fmt_b"] = frame["pair_id"].map(flags["fmt_b"])
    votes = HumanLabel.objects.filter(pair__project=project).values("pair_id", "annotator", "choice", "source")
    labels = pd.DataFrame.from_records(list(votes), columns=["pair_id", "annotator", "choice", "source"])
    labels["sample"] = labels.pop("source").map(lambda s: "imported" if s == HumanLabel.Source.IMPORTED else "routed")
    return frame, labels


def model_family(model: str) -> str:
    """The family a model name belongs to, for self-preference: `gpt-4` -> `gpt`."""
    found = re.match(r"[a-z]+", (model or "").lower())
    return found.group(0) if found else ""


def _formatting(pair_ids):
    """Whether each response uses lists or markdown, computed once per pair (not per verdict)."""
    import pandas as pd
    from audits import formatting_flags

    texts = pd.DataFrame.from_records(
        list(Pair.objects.filter(pk__in=list(pair_ids)).values_list("id", "response_a", "response_b")),
        columns=["id", "a", "b"],
    ).set_index("id")
    return pd.DataFrame(
        {"fmt_a": formatting_flags(texts["a"]), "fmt_b": formatting_flags(texts["b"])}, index=texts.index
    )
