"""Gold items: pairs whose answer is known (`Pair.gold`), mixed into annotators' queues and scored.

Crowd platforms call them test questions. A gold pair is quality control, never evidence about
the judge nor training data, so each stage treats it apart: routing's signals leave it out
(`selectors.signals`: it never gets an AI label, a suggestion, or a place in the blind audit
sample); each policy version sends it to humans here, outside the budget, like an audit item;
the push shows it exactly as a blind audit record; the audit scores each annotator on it
(`audits.annotators`) and raises an Alert for one whose accuracy is too low; the blend leaves it
out (`training.blend`).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from labeling.routing import Reason

from .models import Alert, Pair, Project, RoutingDecision, RoutingPolicyVersion

ALERT_KIND = "gold"


def gold_pairs(project: Project) -> QuerySet[Pair]:
    return Pair.objects.filter(project=project).exclude(gold="")


def gold_decisions(project: Project, version: RoutingPolicyVersion) -> int:
    """Send every gold pair without a decision under `version` to humans (not blind: a gold item
    has no suggestion to hide, and the push shows none; no judges: none was consulted). Returns
    how many were decided now; a re-run decides none twice (the decision is unique per pair and
    version)."""
    decided = RoutingDecision.objects.filter(pair=OuterRef("pk"), policy=version)
    pending = list(gold_pairs(project).filter(~Exists(decided)).order_by("pk").values_list("pk", flat=True))
    RoutingDecision.objects.bulk_create(
        [
            RoutingDecision(
                pair_id=pk, policy=version, judges=[], human=True, reasons=[Reason.GOLD.value], blind=False
            )
            for pk in pending
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return len(pending)


def annotator_alerts(project: Project, report: dict) -> list[Alert]:
    """An Alert per annotator the audit `report` flags on gold items (the upper bound of their
    accuracy's interval below the bar), unless one for them is still open: a re-run audit does
    not repeat an alert an engineer has not seen yet. Returns the alerts created."""
    created = []
    for row in (report.get("annotators") or {}).get("gold") or []:
        if not row.get("flagged"):
            continue
        name = row["annotator"]
        if Alert.objects.filter(
            project=project, kind=ALERT_KIND, acknowledged_at__isnull=True, data__annotator=name
        ).exists():
            continue
        low, high = row["ci95"]
        message = (
            f"annotator {name} answered {row['correct']} of {row['answered']} gold items correctly "
            f"(accuracy {row['accuracy']:.0%}, 95% interval {low:.0%} to {high:.0%}, below the "
            f"{row['min_accuracy']:.0%} bar): review their labels or retrain them"
        )
        created.append(Alert.objects.create(project=project, kind=ALERT_KIND, message=message, data=row))
    return created
