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


def client(api_url: str | None = None, api_key: str | None = None) -> ArgillaReview:
    key = api_key or settings.ARGILLA_API_KEY
    if not key:
        raise ServiceError("ARGILLA_API_KEY is not set: give the key of an Argilla owner or admin")
    return with_retries(
        lambda: ArgillaReview(api_url or settings.ARGILLA_API_URL, key, settings.ARGILLA_WORKSPACE),
        "connect to Argilla",
    )


def with_retries(call: Callable, what: str, delays=RETRY_DELAYS):
    """Run `call`, retrying on connection failures with backoff; raise ServiceError at the end."""
    for attempt, delay in enumerate((*delays, None)):
        try:
            return call()
        except Exception as err:  # the SDK raises httpx and its own errors for an outage
            if not _is_outage(err) or delay is None:
                if _is_outage(err):
                    raise ServiceError(
                        f"could not {what} at {settings.ARGILLA_API_URL} after {attempt + 1} tries ({err}); "
                        "nothing was lost: run it again when Argilla is back"
                    ) from err
                raise
            log.warning("Argilla unreachable (%s); retrying %s in %s s", err, what, delay)
            time.sleep(delay)
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
) -> dict:
    """Push what routing sent to humans and pull every response; returns the counts."""
    version = version or routing.project_policy(project).version
    name = dataset_name(project, version)
    dataset, created = with_retries(
        lambda: review.dataset(name, project.rubric, min_submitted), "open the dataset"
    )
    if created:  # a new (or wiped) Argilla: whatever was pushed before is not there any more
        ArgillaRecord.objects.filter(dataset=name, pair__project=project).delete()
    pushed = _push(project, review, dataset, name, version, batch_size, progress)
    responses = with_retries(lambda: list(review.pull(dataset)), "pull responses")
    counts = store_responses(project, responses)
    return {"dataset": name, "pushed": pushed, "pulled": len(responses), **counts}


def _push(project, review, dataset, name, version, batch_size, progress) -> int:
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
        with_retries(lambda items=items: review.push(dataset, items, batch_size), "push records")
        ArgillaRecord.objects.bulk_create(
            [ArgillaRecord(pair_id=i.pair_id, dataset=name, blind=i.blind) for i in items],
            ignore_conflicts=True,
        )
        pushed += len(items)
        if progress is not None:
            progress(pushed, len(decisions))
    return pushed


def store_responses(project: Project, responses: list[ReviewResponse]) -> dict:
    """Make the HumanLabels match the responses: one current label per (pair, annotator)."""
    counts = {"labels_created": 0, "labels_updated": 0, "labels_removed": 0}
    project_pairs = set(
        Pair.objects.filter(project=project, pk__in={r.pair_id for r in responses}).values_list(
            "pk", flat=True
        )
    )
    with transaction.atomic():
        for r in responses:
            if r.pair_id not in project_pairs:
                continue
            current = HumanLabel.objects.filter(
                pair_id=r.pair_id, annotator=r.annotator, source=HumanLabel.Source.ARGILLA
            )
            if r.choice is None:
                counts["labels_removed"] += current.delete()[0]
                continue
            label, created = current.get_or_create(
                pair_id=r.pair_id,
                annotator=r.annotator,
                source=HumanLabel.Source.ARGILLA,
                defaults={"choice": r.choice.value, "rationale": r.rationale, "external_id": r.response_key},
            )
            if created:
                counts["labels_created"] += 1
            elif (label.choice, label.rationale) != (r.choice.value, r.rationale):
                label.choice, label.rationale = r.choice.value, r.rationale
                label.save(update_fields=["choice", "rationale"])
                counts["labels_updated"] += 1
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
