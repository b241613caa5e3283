"""Reads: what pages, the API and the CLI show. No writes here."""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast, Coalesce

from labeling.routing import PairSignals
from labeling.verdicts import PairVerdict, pair_verdict

from . import roles
from .errors import ConfigInvalid, NotReady
from .models import AuditReport, HumanLabel, Job, Judgment, Membership, Pair, Project, RoutingDecision


def projects_for(user) -> QuerySet[Project]:
    """The projects the user may read: all for an admin, else those they engineer or audit."""
    if not (user and user.is_authenticated):
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.order_by("name")
    readable = Membership.objects.filter(user=user, role__in=roles.READ_ROLES).values("project_id")
    return Project.objects.filter(pk__in=readable).order_by("name")


def jobs_for(user) -> QuerySet[Job]:
    """The jobs of the projects the user may read (jobs of no project: admins only)."""
    if user and user.is_authenticated and user.is_superuser:
        return Job.objects.all()
    return Job.objects.filter(project__in=projects_for(user))


def access_project(user, project_id, *, write: bool = False) -> Project:
    """The project, if the user may read it (write=True: change it).

    Raises Http404 for a project the user is not a member of (another team's project does not
    exist for them, so its name never leaks) and PermissionDenied for a member whose role
    does not allow the action (an auditor starting a job, an annotator opening a page).
    """
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    pk = _as_id(project_id)
    if not (user and user.is_authenticated) or pk is None:
        raise Http404("no such project")
    # One query: the project and the user's role on it.
    member = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    project = Project.objects.filter(pk=pk).annotate(member_role=Subquery(member)).first()
    role = "admin" if project and user.is_superuser else getattr(project, "member_role", None)
    if role is None:
        raise Http404("no such project")
    if not (roles.can_write(role) if write else roles.can_read(role)):
        raise PermissionDenied(f"your role on project '{project.name}' ({role}) does not allow this")
    return project


def access_job(user, job_id, *, write: bool = False) -> Job:
    """The job, checked like its project (access_project); a job of no project is an admin's."""
    from django.http import Http404

    pk = _as_id(job_id)
    job = None if pk is None else jobs_for(user).filter(pk=pk).select_related("project").first()
    if job is None:
        raise Http404("no such job")
    if write and job.project_id is not None:
        access_project(user, job.project_id, write=True)
    return job


def _as_id(value) -> int | None:
    """A row id from a URL, or None: "null,null", "x" and "²" (a digit to str.isdigit, not to
    int) are no id, and a number past the column's range matches no row (Django 5)."""
    try:
        return int(str(value))
    except ValueError:
        return None


def members_of(project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


def project_counts(project: Project) -> dict:
    """Pipeline counts for one project, in a handful of aggregate queries.

    The jobs are read first: a job that is already finished when the page is built then has
    its rows in the counts below. Read after the counts, a job finishing in between would show
    as succeeded next to stale counts, and the page (which reloads only when it sees a job
    end) would never show them.
    """
    jobs = list(Job.objects.filter(project=project, parent__isnull=True).order_by("-created_at")[:10])
    pairs = Pair.objects.filter(project=project)
    judgments = Judgment.objects.filter(pair__project=project)
    by_judge = list(
        judgments.values("judge")
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=~Q(status=Judgment.Status.OK)),
            pairs=Count("pair", distinct=True),
        )
        .order_by("judge")
    )
    labels = HumanLabel.objects.filter(pair__project=project)
    return {
        "pairs": pairs.count(),
        "judgments": judgments.count(),
        "by_judge": by_judge,
        "human_labels": labels.count(),
        "human_labeled_pairs": labels.values("pair").distinct().count(),
        "annotators": labels.values("annotator").distinct().count(),
        "cost": judgments.aggregate(total=Sum("cost"))["total"] or 0,
        "routing": routing_counts(project),
        "jobs": jobs,
        "datasets": list(project.dataset_versions.all()[:10]),
        "alerts": [a.message for a in project.alerts.all()[:5]],
        "runs": list(project.training_runs.select_related("dataset")[:10]),
    }


_REASON_COUNTS = {
    # Each decision's reasons are a JSON array: unnest it in SQL and count, one query.
    "postgresql": "SELECT r.reason, count(DISTINCT p.id) FROM {d} d JOIN {p} p ON p.id = d.pair_id, "
    "jsonb_array_elements_text(d.reasons) AS r(reason) WHERE p.project_id = %s AND d.human GROUP BY 1",
    "sqlite": "SELECT r.value, count(DISTINCT p.id) FROM {d} d JOIN {p} p ON p.id = d.pair_id, "
    "json_each(d.reasons) r WHERE p.project_id = %s AND d.human GROUP BY 1",
}


def routing_counts(project: Project) -> dict:
    decisions = RoutingDecision.objects.filter(pair__project=project)
    sql = _REASON_COUNTS[connection.vendor].format(d=RoutingDecision._meta.db_table, p=Pair._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        by_reason = dict(sorted(cursor.fetchall()))
    # Pairs, not decisions: each policy version decides a pair again (a pair sent to humans by
    # any version was sent, and counts once).
    pairs = decisions.values("pair").distinct()
    return {
        "decided": pairs.count(),
        "human": pairs.filter(human=True).count(),
        "over_budget": pairs.filter(over_budget=True).count(),
        "by_reason": dict(sorted(by_reason.items())),
    }


def policy_versions(project: Project) -> QuerySet:
    """The routing policy versions used on the project, newest first, each with how many pairs
    it decided (`n_decisions`), sent to humans (`n_human`) and left to the AI (`n_ai_only`)."""
    from .models import RoutingPolicyVersion

    return (
        RoutingPolicyVersion.objects.filter(project=project)
        .annotate(
            n_decisions=Count("decisions"),
            n_human=Count("decisions", filter=Q(decisions__human=True)),
            n_ai_only=Count("decisions", filter=Q(decisions__human=False)),
        )
        .order_by("-version")
    )


PAIR_FILTERS = ("category", "reason", "judge", "source", "flipped", "disagree")


def pair_page(project: Project, filters: dict) -> QuerySet[Pair]:
    """The pair browser's rows: filtered in SQL, with the counts each row shows annotated."""
    pairs = Pair.objects.filter(project=project)
    if filters.get("category"):
        pairs = pairs.filter(category=filters["category"])
    if filters.get("reason"):
        pairs = pairs.filter(routing_decisions__human=True, **_has_reason(filters["reason"]))
    if filters.get("judge"):
        pairs = pairs.filter(judgments__judge=filters["judge"])
    if filters.get("source"):
        pairs = pairs.filter(human_labels__source=filters["source"])
    if filters.get("flipped") == "1":
        pairs = pairs.filter(**_has_reason("flip"))
    if filters.get("disagree") == "1":
        pairs = pairs.filter(Exists(_disagreeing_labels(filters.get("judge"))))
    return (
        pairs.distinct()
        .annotate(
            n_judgments=Count("judgments", distinct=True),
            n_labels=Count("human_labels", distinct=True),
        )
        .order_by("id")
    )


def _disagreeing_labels(judge: str | None) -> QuerySet[HumanLabel]:
    """Human labels of the outer pair that some usable verdict (of `judge`, if given) contradicts."""
    verdicts = Judgment.objects.filter(pair=OuterRef("pair"), status=Judgment.Status.OK).exclude(
        choice=OuterRef("choice")
    )
    if judge:
        verdicts = verdicts.filter(judge=judge)
    return HumanLabel.objects.filter(pair=OuterRef("pk")).filter(Exists(verdicts))


def _has_reason(reason: str) -> dict:
    # JSON `contains` is not available on SQLite; reasons come from a fixed vocabulary of plain
    # words, so the quoted word inside the JSON text matches exactly one list element.
    return {"routing_decisions__reasons__icontains": f'"{reason}"'}


def pair_detail(project: Project, pair_id: int) -> Pair:
    return (
        Pair.objects.filter(project=project)
        .prefetch_related("judgments", "human_labels", "routing_decisions__policy")
        .get(pk=pair_id)
    )


def judges_of(project: Project) -> list[str]:
    return sorted(set(Judgment.objects.filter(pair__project=project).values_list("judge", flat=True)))


def check_judge(project: Project, judge: str | None) -> list[str]:
    """The project's judges; ConfigInvalid (key `judge`) when `judge` is named and has no
    judgments here (the message lists those with some). None names no judge."""
    judges = judges_of(project)
    if judge and judge not in judges:
        known = ", ".join(judges) or "none yet"
        raise ConfigInvalid(f"judge '{judge}' has no judgments here; judges: {known}", "judge")
    return judges


# Rows per round trip of the audit's server-side cursors. Only integer codes and numbers outlive a
# chunk, never a row's text or a Python object per row (README, "Running at scale": 1M pairs).
AUDIT_CHUNK_ROWS = 20_000
_JUDGMENT_FIELDS = ("pair_id", "judge", "template", "order", "status", "choice", "p_first", "created_at")
_JUDGMENT_COLUMNS = (*_JUDGMENT_FIELDS, "model", "orders_disagree", "orders_merged")
_PAIR_ATTRIBUTES = ("category", "model_a", "model_b", "len_a", "len_b", "fmt_a", "fmt_b")


def audit_frames(project: Project, judge: str | None = None, *, chunk_rows: int = AUDIT_CHUNK_ROWS):
    """The two frames of the audits package's contract (audits/frames.py) for one project.

    Human labels imported with a data set are an unbiased sample ("imported"); labels from
    Argilla on a pair of the blind audit sample are "audit" (unbiased too); any other Argilla
    label is "routed" (selected because the judge was unsure: reported apart).
    Rows are read `chunk_rows` at a time (server-side cursors on PostgreSQL) and coded as they
    arrive, each response's text once per pair, so memory does not hold the project's rows.
    """
    judgments = Judgment.objects.filter(pair__project=project)
    if judge:
        judgments = judgments.filter(judge=judge)
    pairs = _pair_attributes(project, judgments, max(1, chunk_rows // 4))
    return _judgment_frame(judgments, pairs, chunk_rows), _label_frame(project, chunk_rows)


def _chunks(rows, size: int):
    """Lists of `size` rows from an iterator (the last one shorter)."""
    rows = iter(rows)
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _judgment_frame(judgments: QuerySet[Judgment], pairs, chunk_rows: int):
    """One row per judgment in id order, text columns coded chunk by chunk (`categorical_frames`)."""
    import numpy as np
    import pandas as pd

    from audits import categorical_frames, concat_chunks, take_rows

    # The flags come as JSON text, decoded once per distinct value: Django would parse every row's.
    flags = {f: Cast(KeyTransform(f, "detail"), TextField()) for f in ("orders_disagreed", "orders_merged")}
    rows = judgments.order_by("pk").annotate(**flags).values_list(*_JUDGMENT_FIELDS, "model", *flags)
    rows = rows.iterator(chunk_size=chunk_rows)
    pair_ids = pairs["id"].to_numpy()
    chunks = []
    for batch in _chunks(rows, chunk_rows):
        frame = pd.DataFrame.from_records(batch, columns=_JUDGMENT_COLUMNS)
        # A judgment stored after the pairs were read (a judge job running beside the audit) is
        # left to the next audit: its pair's attributes were not read.
        at = np.searchsorted(pair_ids, frame["pair_id"].to_numpy())
        known = at < len(pair_ids)
        known[known] = pair_ids[at[known]] == frame["pair_id"].to_numpy()[known]
        if not known.all():
            frame = frame[known].reset_index(drop=True)
        frame["p_first"] = frame["p_first"].astype(float)
        frame["choice"] = frame["choice"].replace("", None)
        for column in ("orders_disagree", "orders_merged"):
            codes, texts = pd.factorize(frame[column])
            frame[column] = np.append([_json_truthy(t) for t in texts], False)[codes]
        codes, models = pd.factorize(frame.pop("model"))
        frame["judge_family"] = np.asarray([model_family(m) for m in models], dtype=object)[codes]
        attributes = take_rows(pairs, np.searchsorted(pair_ids, frame["pair_id"].to_numpy()))
        for column in _PAIR_ATTRIBUTES:
            frame[column] = attributes[column]
        chunks.append(categorical_frames(frame)[0])
    columns = [*_JUDGMENT_FIELDS, "orders_disagree", "orders_merged", "judge_family", *_PAIR_ATTRIBUTES]
    return concat_chunks(chunks, columns)


def _json_truthy(text: str) -> bool:
    """Whether a detail flag read as JSON text is set, as `bool(value)` says; SQLite hands a
    JSON string over unquoted, so text that is not JSON is that string."""
    try:
        return bool(json.loads(text))
    except ValueError:
        return bool(text)


def _pair_attributes(project: Project, judgments: QuerySet[Judgment], chunk_rows: int):
    """Per judged pair, by id: category, models (categoricals), response lengths in characters and
    whether each uses lists or markdown (`audits.formatting_flags`)."""
    import numpy as np
    import pandas as pd

    from audits import concat_chunks, formatting_flags

    # The judged pairs' ids first, then their rows by id, a chunk at a time. One query with
    # `pk IN (judged)` through a server-side cursor let PostgreSQL pick a fast-start plan that ran
    # the subquery again for every pair: minutes for MT-Bench's 1,200 pairs.
    ids = np.unique(
        np.fromiter(judgments.values_list("pair_id", flat=True).iterator(chunk_size=chunk_rows), np.int64)
    )
    columns = ("id", "category", "model_a", "model_b", "response_a", "response_b")
    chunks = []
    for start in range(0, len(ids), chunk_rows):
        batch = Pair.objects.filter(pk__in=ids[start : start + chunk_rows].tolist()).order_by("pk")
        frame = pd.DataFrame.from_records(
            list(batch.values_list(*columns)), columns=["id", "category", "model_a", "model_b", "a", "b"]
        )
        for side in ("a", "b"):
            texts = frame.pop(side)
            frame[f"len_{side}"] = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            frame[f"fmt_{side}"] = formatting_flags(texts)
        chunks.append(frame.astype({"category": "category", "model_a": "category", "model_b": "category"}))
    return concat_chunks(chunks, ["id", *_PAIR_ATTRIBUTES])


def _label_frame(project: Project, chunk_rows: int):
    """One row per human vote in id order: pair_id, annotator, choice, sample, suggestion_shown,
    gold (the pair's known answer, "" for an ordinary pair)."""
    import pandas as pd

    from audits import categorical_frames, concat_chunks

    columns = ["pair_id", "annotator", "choice", "sample", "suggestion_shown", "gold"]
    votes = (
        HumanLabel.objects.filter(pair__project=project)
        .order_by("pk")
        .annotate(sample=_vote_sample(), suggestion_shown=_suggestion_shown(), gold=F("pair__gold"))
        .values_list(*columns)
    )
    chunks = [
        categorical_frames(None, pd.DataFrame.from_records(batch, columns=columns))[1]
        for batch in _chunks(votes.iterator(chunk_size=chunk_rows), chunk_rows)
    ]
    return concat_chunks(chunks, columns)


def _vote_sample():
    """SQL for a vote's sample: "gold" on a gold pair (scored against its known answer, never
    against the judge), "imported" with a data set, "audit" on a pair of the blind audit sample,
    else "routed"."""
    blind = RoutingDecision.objects.filter(pair=OuterRef("pair_id"), blind=True)
    return Case(
        When(~Q(pair__gold=""), then=Value("gold")),
        When(source=HumanLabel.Source.IMPORTED, then=Value("imported")),
        When(Exists(blind), then=Value("audit")),
        default=Value("routed"),
        output_field=CharField(),
    )


def _suggestion_shown():
    """SQL for whether a vote's Argilla record showed the AI suggestion (the anchoring measure);
    a pair pushed in several rounds counts as its latest record. Other sources never show one."""
    from .models import ArgillaRecord

    latest = ArgillaRecord.objects.filter(pair=OuterRef("pair_id")).order_by("-pushed_at", "-pk")
    return Case(
        When(
            source=HumanLabel.Source.ARGILLA,
            then=Coalesce(Subquery(latest.values("suggestion_shown")[:1]), Value(False)),
        ),
        default=Value(False),
        output_field=BooleanField(),
    )


def model_family(model: str) -> str:
    """The family a model name belongs to, for self-preference: `gpt-4` -> `gpt`."""
    found = re.match(r"[a-z]+", (model or "").lower())
    return found.group(0) if found else ""


def annotator_progress(user) -> list[dict]:
    """An annotator's labels in Tandem, per project they are a member of (their Argilla user
    name is their name here; a project of another team is not named, even with a label)."""
    return list(
        HumanLabel.objects.filter(
            annotator=user.username,
            source=HumanLabel.Source.ARGILLA,
            pair__project__memberships__user=user,
        )
        .values("pair__project__name")
        .annotate(labels=Count("id"))
        .order_by("pair__project__name")
    )


# Routing signals: the judges' verdicts per pair as routing, the Argilla push and the blend read
# them (one definition, so the three see the same AI choice).


def project_judges(project: Project, judges: list[str] | None = None) -> list[str]:
    """The judges routing, the review push and the blend read: `judges`, else the project's
    `routing_config["judges"]`, else every non-replay judge (else every judge). Raises
    ConfigInvalid for a named judge without judgments, NotReady when nothing is judged yet."""
    names = judges or (project.routing_config or {}).get("judges")
    found = list(Judgment.objects.filter(pair__project=project).values_list("judge", flat=True).distinct())
    if names:
        missing = sorted(set(names) - set(found))
        if missing:
            raise ConfigInvalid(
                f"no judgments from {missing}; judges with judgments: {sorted(found)}", "judges"
            )
        return list(names)
    own = sorted(
        set(
            Judgment.objects.filter(pair__project=project)
            .exclude(backend="replay")
            .values_list("judge", flat=True)
        )
    )
    if not (own or found):
        raise NotReady(f"project '{project.name}' has no judgments yet: judge its pairs first")
    return own or sorted(set(found))


def signals(project: Project, judges: list[str], pair_ids: list[int] | None = None) -> list[PairSignals]:
    """One PairSignals per pair judged (in both orders, or failed) by every judge in `judges`;
    of the pairs `pair_ids` only, when given (a streaming stage reads a chunk at a time). Gold
    pairs (core.gold) have none: their answer is known, so no AI label, suggestion or audit."""
    per_pair: dict[int, dict] = defaultdict(lambda: {"category": "", "judges": defaultdict(dict)})
    columns = ("judge", "order", "status", "p_first", "choice", "detail")
    if pair_ids is None:
        rows = Judgment.objects.filter(pair__project=project, pair__gold="", judge__in=judges)
        rows = rows.values_list("pair_id", "pair__category", *columns).iterator()
    else:
        # The chunk's pairs first, by primary key alone (project and gold checked here), then
        # their judgments by pair id. Any condition on the project let the planner, its statistics
        # taken before a large import, walk every pair of the project for each chunk instead (as
        # one join: a first route of 1M fresh pairs took 25 s a chunk).
        found = Pair.objects.filter(pk__in=pair_ids).values_list("pk", "category", "project_id", "gold")
        categories = {pk: category for pk, category, owner, gold in found if owner == project.pk and not gold}
        judged = Judgment.objects.filter(pair_id__in=list(categories), judge__in=judges)
        rows = ((row[0], categories[row[0]], *row[1:]) for row in judged.values_list("pair_id", *columns))
    for pair_id, category, judge, order, status, p_first, choice, detail in rows:
        entry = per_pair[pair_id]
        entry["category"] = category
        entry["judges"][judge][order] = (status, p_first, choice, detail or {})
    out = []
    for pair_id in sorted(per_pair):
        entry = per_pair[pair_id]
        if set(entry["judges"]) != set(judges):
            continue  # not judged by every judge yet
        out.append(_pair_signals(pair_id, entry["category"], [entry["judges"][j] for j in judges]))
    return out


def signal_chunks(
    project: Project, judges: list[str], size: int, skip_policy=None
) -> Iterator[list[PairSignals]]:
    """`calibrated(signals(...))` of the project's pairs, `size` pairs at a time in pair id order
    (keyset pagination: memory stays that of one chunk), leaving out the pairs that routing
    policy version `skip_policy` (a RoutingPolicyVersion) has decided, and gold pairs."""
    pairs = Pair.objects.filter(project=project, gold="")
    if skip_policy is not None:
        # NOT EXISTS, which PostgreSQL runs as an anti-join; Django's exclude() over the relation
        # writes NOT IN (subquery), which it cannot, and which scans every decision per pair once
        # the decisions outgrow work_mem (a re-route after new pairs arrive).
        decided = RoutingDecision.objects.filter(pair=OuterRef("pk"), policy=skip_policy)
        pairs = pairs.filter(~Exists(decided))
    last = 0
    while ids := list(pairs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]):
        last = ids[-1]
        yield calibrated(project, judges, signals(project, judges, ids))


def _pair_signals(pair_id: int, category: str, per_judge: list[dict]) -> PairSignals:
    """The first judge's verdict (`labeling.verdicts`), any judge's flip, and the judges' spread."""
    verdicts, failed = [], False
    for orders in per_judge:
        ok = {o: v for o, v in orders.items() if v[0] == Judgment.Status.OK}
        failed |= len(ok) < len(orders) or not ok
        verdicts.append(_verdict(ok))
    first = verdicts[0]
    p_values = [v.p_a for v in verdicts if v.p_a is not None]
    spread = max(p_values) - min(p_values) if len(p_values) > 1 else None
    flipped = any(v.flipped for v in verdicts)
    return PairSignals(
        pair_id, category, p_a=first.p_a, flipped=flipped, failed=failed, spread=spread, choice=first.choice
    )


def _verdict(ok: dict) -> PairVerdict:
    """One judge's verdict from its usable orders: {order: (status, p_first, choice, detail)}."""
    ab, ba = ok.get("ab"), ok.get("ba")
    return pair_verdict(
        ab[2] or None if ab else None,
        ba[2] or None if ba else None,
        ab[1] if ab else None,
        ba[1] if ba else None,
        orders_disagree=any(bool(v[3].get("orders_disagreed")) for v in ok.values()),
    )


def calibrated(project: Project, judges: list[str], judged: list[PairSignals]) -> list[PairSignals]:
    """Signals with p(a) mapped through the latest audit's calibration map of the (first) judge,
    so routing thresholds mean calibrated confidence; unchanged where no map was fitted."""
    from audits import apply_calibration

    report = AuditReport.objects.filter(project=project, judge=judges[0], calibration__isnull=False).first()
    if report is None:
        return judged
    known = [s for s in judged if s.p_a is not None]
    mapped = apply_calibration(report.calibration, [s.p_a for s in known]) if known else []
    by_pair = {s.pair_id: float(p) for s, p in zip(known, mapped, strict=True)}
    return [replace(s, p_a=by_pair[s.pair_id]) if s.pair_id in by_pair else s for s in judged]
