"""The pipeline page's reading of a project: each stage of the loop, its state, and the one
thing to do next. Stage order is the loop's: import, judge, route, review in Argilla, audit,
dataset, training. A stage is "done" when its output covers its input (every pair judged,
every judged pair routed, every routed pair labeled...); the first stage not done is next."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F, Max

from tandem.core.models import ArgillaRecord, AuditReport, HumanLabel, Job, Project

from .views.common import ACTIVE


@dataclass
class Stage:
    key: str  # also the id of the form that starts it (#start-<key>)
    title: str
    figure: str  # the one number to read at a glance
    detail: str
    done: bool
    job: Job | None = None  # the stage's latest job
    link: tuple[str, str] | None = None  # (url name, label) of the stage's own page
    state: str = field(default="todo")

    @property
    def advice(self) -> str:
        return NEXT_STEP[self.key]

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.status in ACTIVE


JOB_KINDS = {
    "import": "import_pairs",
    "judge": "judge",
    "route": "route",
    "review": "sync_argilla",
    "audit": "audit",
    "dataset": "export",
    "training": "train",
}

NEXT_STEP = {
    "import": "Upload pairs (JSONL, CSV or a known data set's format).",
    "judge": "Judge the pairs not judged yet, in both orders.",
    "route": "Route the judged pairs: the unsure ones go to humans, the rest keep the AI label.",
    "review": "Push the pairs routed to humans to Argilla; once annotators have labeled them, sync again "
    "to pull the labels.",
    "audit": "Audit the judge against the human labels (stores a report with its calibration map).",
    "dataset": "Build a dataset version from the blended labels.",
    "training": "Start a training run on the latest dataset version.",
}


def last_jobs(project: Project) -> dict[str, Job]:
    """The latest job of each kind (one query: the newest id per kind, then those rows)."""
    newest = Job.objects.filter(project=project, parent__isnull=True).values("kind").annotate(last=Max("id"))
    found = Job.objects.filter(pk__in=[row["last"] for row in newest])
    return {job.kind: job for job in found}


def stages(project: Project, counts: dict) -> list[Stage]:
    jobs = last_jobs(project)
    pairs = counts["pairs"]
    judged = max((j["pairs"] for j in counts["by_judge"]), default=0)
    routing = counts["routing"]
    pushed = ArgillaRecord.objects.filter(pair__project=project).values("pair").distinct().count()
    labeled = (
        HumanLabel.objects.filter(pair__project=project, source=HumanLabel.Source.ARGILLA)
        .values("pair")
        .distinct()
        .count()
    )
    reports = AuditReport.objects.filter(project=project)
    latest_report = reports.first()
    latest_label = HumanLabel.objects.filter(pair__project=project).aggregate(last=Max("created_at"))["last"]
    datasets = counts["datasets"]
    runs = counts["runs"]
    found = [
        Stage(
            "import", "Import", f"{pairs}", "pairs imported", pairs > 0, link=("pair-list", "Browse pairs")
        ),
        Stage(
            "judge",
            "Judge",
            f"{judged} / {pairs}",
            f"pairs judged; {counts['judgments']} verdicts, cost {counts['cost']:.4f}",
            pairs > 0 and judged >= pairs,
        ),
        Stage(
            "route",
            "Route",
            f"{routing['human']}",
            f"of {routing['decided']} decided pairs go to humans",
            judged > 0 and routing["decided"] >= judged,
            link=("routing", "Routing and replay"),
        ),
        Stage(
            "review",
            "Review in Argilla",
            f"{labeled} / {pushed}",
            f"pushed pairs labeled; {counts['human_labels']} labels by {counts['annotators']} annotators",
            (routing["human"] == 0 and routing["decided"] > 0)
            or (pushed >= routing["human"] > 0 and labeled >= pushed),
        ),
        Stage(
            "audit",
            "Audit",
            f"{reports.count()}",
            f"stored reports; latest {latest_report.created_at:%m-%d %H:%M}"
            if latest_report
            else "no report yet",
            latest_report is not None and (latest_label is None or latest_report.created_at >= latest_label),
            link=("audit", "Audit reports"),
        ),
        Stage(
            "dataset",
            "Dataset",
            f"{len(datasets)}",
            f"versions; latest {datasets[0].n_rows} rows" if datasets else "no version yet",
            bool(datasets) and (latest_report is None or datasets[0].created_at >= latest_report.created_at),
            link=("datasets", "Datasets"),
        ),
        Stage(
            "training",
            "Training",
            f"{len(runs)}",
            f"runs; latest {runs[0].status}" if runs else "no run yet",
            bool(runs) and (not datasets or runs[0].created_at >= datasets[0].created_at),
            link=("training-runs", "Training runs"),
        ),
    ]
    waiting = False  # on the first stage not done: nothing after it is "next"
    for stage in found:
        stage.job = jobs.get(JOB_KINDS[stage.key])
        if stage.running:
            stage.state = "running"
            waiting = waiting or not stage.done
        elif stage.done:
            stage.state = "done"
        elif not waiting:
            stage.state, waiting = "next", True
    return found


def next_stage(found: list[Stage]) -> Stage | None:
    """The stage to look at: the first one not done, running or to start (None: all done)."""
    return next((s for s in found if s.state == "next" or (s.running and not s.done)), None)


def alerts(project: Project):
    """Open alerts first, then the acknowledged ones (newest first in each)."""
    order = (F("acknowledged_at").asc(nulls_first=True), "-created_at")
    return list(project.alerts.select_related("acknowledged_by").order_by(*order)[:20])
