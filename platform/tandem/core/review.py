"""Human review in Argilla: push the pairs routing sent to humans, pull their labels back.

Every run pushes only pairs not pushed before (ArgillaRecord rows, written after each batch, so
a stopped push resumes) and pulls every response: a submitted response is the annotator's one
current label for the pair (an edit updates it), a draft or a discard is no label (a discard
after a submit removes it). Argilla being down is retried with backoff, then reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

from labeling.argilla_review import ArgillaReview, ReviewItem, ReviewResponse
from labeling.records import Choice
from labeling.routing import PairSignals
from labeling.routing_replay import ai_choice

from . import routing
from .models import ArgillaRecord, HumanLabel, Pair, Project, RoutingDecision
from .services import Progress, ServiceError

log = logging.getLogger(__name__)
RETRY_DELAYS = (1, 2, 4, 8, 16, 30)
Report = Callable[[str], None]


def client(
    api_url: str | None = None, api_key: str | None = None, report: Report | None = None
) -> ArgillaReview:
    key = api_key or settings.ARGILLA_API_KEY
    if not key:
        raise ServiceError("ARGILLA_API_KEY is not set: give the key of an Argilla owner or admin")
    return with_retries(
        lambda: ArgillaReview(api_url or settings.ARGILLA_API_URL, key, settings.ARGILLA_WORKSPACE),
        "connect to Argilla",
        report=report,
    )


def with_retries(call: Callable, what: str, delays=RETRY_DELAYS, report: Report | None = None):
    """Run `call`, retrying on connection failures with backoff; raise ServiceError at the end.

    While it waits, `report` gets a line that says Argilla is unreachable and when the next try
    is (a job shows it as its error, so the outage is visible before the job ends), and gets ""
    once a retried call succeeds. Every call it wraps is safe to repeat: pushes upsert by the
    pair's record id, pulls only read.
    """
    for attempt, delay in enumerate((*delays, None)):
        try:
            result = call()
        except Exception as err:  # the SDK raises httpx and its own errors for an outage
            if not _is_outage(err) or delay is None:
                if _is_outage(err):
                    raise ServiceError(
                        f"could not {what} at {settings.ARGILLA_API_URL} after {attempt + 1} tries ({err}); "
                        "nothing was lost: run it again when Argilla is back"
                    ) from err
                raise
            message = (
                f"Argilla unreachable ({type(err).__name__}: {err}); retrying to {what} in {delay} s "
                f"(try {attempt + 2} of {len(delays) + 1})"
            )
            log.warning(message)
            if report is not None:
                report(message)
            time.sleep(delay)
        else:
            if attempt and report is not None:
                report("")
            return result
    raise AssertionError("unreachable")


def _is_outage(err: Exception) -> bool:
    import httpx

    seen = {id(err)}
    while err is not None:
        if isinstance(err, httpx.TransportError | ConnectionError | TimeoutError):
            return True
        err = err.__cause__ or err.__context__
        if err is None or id(err) in seen:
            return False
        seen.add(id(err))
    return False


def dataset_name(project: Project, version: int) -> str:
    return f"{project.name}-round{version}"


def review_items(decisions, signals: dict[int, PairSignals]) -> list[ReviewItem]:
    """Review records for `decisions`; the AI suggestion comes from the routing signals of the
    judges each decision was routed on (computed once per push by the caller)."""
    pairs = Pair.objects.in_bulk([d.pair_id for d in decisions])
    items = []
    for d in decisions:
        pair, signal = pairs[d.pair_id], signals.get(d.pair_id)
        p_a = signal.p_a if signal else None
        choice = ai_choice(p_a)
        items.append(
            ReviewItem(
                pair_id=pair.pk,
                prompt=pair.prompt,
                response_a=pair.response_a,
                response_b=pair.response_b,
                category=pair.category,
                reasons=tuple(d.reasons),
                blind=d.blind,
                ai_choice=choice,
                ai_score=None if p_a is None else round(max(p_a, 1 - p_a), 4),
                agent=",".join(d.judges),
            )
        )
    return items


def sync(
    project: Project,
    review: ArgillaReview,
    *,
    version: int | None = None,
    batch_size: int = 100,
    min_submitted: int = 1,
    progress: Progress | None = None,
    report: Report | None = None,
) -> dict:
    """Push what routing sent to humans and pull every response; returns the counts.

    `retries` counts the calls that found Argilla unreachable and were tried again; `report`
    hears about each while it waits (see with_retries).
    """
    outages: list[str] = []

    def noted(message: str) -> None:
        if message:
            outages.append(message)
        if report is not None:
            report(message)

    version = version or routing.project_policy(project).version
    name = dataset_name(project, version)
    dataset, created = with_retries(
        lambda: review.dataset(name, project.rubric, min_submitted), "open the dataset", report=noted
    )
    if created:  # a new (or wiped) Argilla: whatever was pushed before is not there any more
        ArgillaRecord.objects.filter(dataset=name, pair__project=project).delete()
    pushed = _push(project, review, dataset, name, version, batch_size, progress, noted)
    responses = with_retries(lambda: list(review.pull(dataset)), "pull responses", report=noted)
    counts = store_responses(project, responses)
    return {"dataset": name, "pushed": pushed, "pulled": len(responses), **counts, "retries": len(outages)}


def _push(project, review, dataset, name, version, batch_size, progress, report) -> int:
    done = set(ArgillaRecord.objects.filter(dataset=name).values_list("pair_id", flat=True))
    decisions = [
        d
        for d in RoutingDecision.objects.filter(
            pair__project=project, policy__version=version, human=True
        ).order_by("-priority", "pair_id")
        if d.pair_id not in done
    ]
    judges = decisions[0].judges if decisions else []
    signals = {s.pair_id: s for s in routing.signals(project, judges)} if judges else {}
    pushed = 0
    for start in range(0, len(decisions), batch_size):
        batch = decisions[start : start + batch_size]
        items = review_items(batch, signals)
        with_retries(
            lambda items=items: review.push(dataset, items, batch_size), "push records", report=report
        )
        # Written after Argilla took the batch: a crash in between re-pushes it next time, and
        # the re-push upserts the same records (keyed by pair), so nothing is duplicated.
        ArgillaRecord.objects.bulk_create(
            [ArgillaRecord(pair_id=i.pair_id, dataset=name, blind=i.blind) for i in items],
            ignore_conflicts=True,
        )
        pushed += len(items)
        if progress is not None:
            progress(pushed, len(decisions))
    return pushed


def store_responses(project: Project, responses: list[ReviewResponse]) -> dict:
    """Make the HumanLabels match the responses: one current label per (pair, annotator).

    In a fixed number of queries whatever the number of responses (one read of the labels
    that exist, one bulk insert, one bulk update, one delete): a pull of 10,000 responses
    takes seconds, not the minutes of a query or two per response. Argilla keeps one response
    per (record, user); should a pull hold two for the same (pair, annotator), the last wins.
    """
    counts = {"labels_created": 0, "labels_updated": 0, "labels_removed": 0}
    project_pairs = set(
        Pair.objects.filter(project=project, pk__in={r.pair_id for r in responses}).values_list(
            "pk", flat=True
        )
    )
    latest = {(r.pair_id, r.annotator): r for r in responses if r.pair_id in project_pairs}
    if not latest:
        return counts
    with transaction.atomic():
        existing = {
            (label.pair_id, label.annotator): label
            for label in HumanLabel.objects.select_for_update().filter(
                pair_id__in={pair_id for pair_id, _ in latest}, source=HumanLabel.Source.ARGILLA
            )
        }
        create, update, remove = [], [], []
        for key, r in latest.items():
            label = existing.get(key)
            if r.choice is None:
                if label is not None:
                    remove.append(label.pk)
            elif label is None:
                create.append(
                    HumanLabel(
                        pair_id=r.pair_id,
                        annotator=r.annotator,
                        source=HumanLabel.Source.ARGILLA,
                        choice=r.choice.value,
                        rationale=r.rationale,
                        external_id=r.response_key,
                    )
                )
            elif (label.choice, label.rationale) != (r.choice.value, r.rationale):
                label.choice, label.rationale = r.choice.value, r.rationale
                update.append(label)
        # ignore_conflicts: a sync running beside this one (webhook and schedule) may have
        # stored the same label a moment ago; the unique (pair, annotator, source) keeps one.
        HumanLabel.objects.bulk_create(create, batch_size=1000, ignore_conflicts=True)
        HumanLabel.objects.bulk_update(update, ["choice", "rationale"], batch_size=1000)
        HumanLabel.objects.filter(pk__in=remove).delete()
    counts.update(labels_created=len(create), labels_updated=len(update), labels_removed=len(remove))
    return counts


def simulate_annotators(project: Project, review_client: ArgillaReview, owner_key: str) -> dict:
    """Submit the project's imported human labels through Argilla as simulated annotators."""
    from labeling.argilla_review import SimulatedAnnotators

    name = dataset_name(project, routing.project_policy(project).version)
    dataset = with_retries(
        lambda: review_client.client.datasets(name=name, workspace=settings.ARGILLA_WORKSPACE),
        "open the dataset",
    )
    if dataset is None:
        raise ServiceError(f"no Argilla dataset '{name}' yet: run `manage.py sync_argilla` first")
    pushed = ArgillaRecord.objects.filter(dataset=name).values_list("pair_id", flat=True)
    answers: dict[int, list[tuple[str, Choice]]] = {}
    for pair_id, annotator, choice in HumanLabel.objects.filter(
        pair_id__in=pushed, source=HumanLabel.Source.IMPORTED
    ).values_list("pair_id", "annotator", "choice"):
        answers.setdefault(pair_id, []).append((annotator, Choice(choice)))
    simulator = SimulatedAnnotators(review_client, owner_key)
    submitted = with_retries(lambda: simulator.submit(dataset, answers), "submit simulated responses")
    return {"dataset": name, "submitted": submitted, "annotators": len(simulator.keys)}
