"""Human review in Argilla: push the pairs routing sent to humans, pull their labels back.

Each project has its own Argilla workspace (`<ARGILLA_WORKSPACE>-<project>`), whose annotators
are exactly the project's annotator members; each routing policy version used is one round,
one dataset (`<project>-round<version>`). Every run pushes only pairs not pushed before
(ArgillaRecord rows, written after each batch, so a stopped push resumes) and pulls every
response of every round: a submitted response is the annotator's one current label for the
pair (an edit updates it), a draft or a discard is no label (a discard after a submit
removes it). Argilla being down is retried with backoff, then reported.

What an annotator sees is blind (labeling.argilla_review): opaque record ids in a shuffled
order, no metadata, and the AI suggestion only as the project's review config says; never on a
gold item (core.gold), which looks like a blind audit item in every mode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils.crypto import salted_hmac

from labeling.argilla_review import (
    ArgillaReview,
    RecordKey,
    ReviewConfig,
    ReviewConfigError,
    ReviewItem,
    ReviewResponse,
    SimulatedAnnotators,
)
from labeling.records import Choice
from labeling.routing import PairSignals
from labeling.verdicts import confidence

from . import selectors
from .models import (
    ArgillaRecord,
    HumanLabel,
    Membership,
    Pair,
    Project,
    RoutingDecision,
    RoutingPolicyVersion,
)
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
        lambda: ArgillaReview(api_url or settings.ARGILLA_API_URL, key),
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


def workspace_name(project: Project) -> str:
    """The project's own Argilla workspace: only its annotators see its datasets."""
    return f"{settings.ARGILLA_WORKSPACE}-{project.name}"


def review_config(project: Project) -> ReviewConfig:
    """The project's `routing_config["review"]`; raises ServiceError naming a bad key or value."""
    try:
        return ReviewConfig.from_dict((project.routing_config or {}).get("review"))
    except ReviewConfigError as err:
        raise ServiceError(f"project '{project.name}': {err}") from err


def record_key(secret: str | None = None) -> RecordKey:
    """The key behind opaque record ids, derived from SECRET_KEY (or `secret`): every process of
    a deployment (web, worker, CLI) shares it, as it must for sessions."""
    derived = salted_hmac("tandem.core.review.record_key", "argilla", secret=secret, algorithm="sha256")
    return RecordKey(derived.digest())


def _pair_of(dataset: str, pair_ids) -> dict[str, int]:
    """{opaque record id: pair id}, under SECRET_KEY and SECRET_KEY_FALLBACKS: after a key
    rotation the records pushed before it still find their pairs."""
    keys = [record_key(), *(record_key(old) for old in getattr(settings, "SECRET_KEY_FALLBACKS", []))]
    return {key.record_id(dataset, pair_id): pair_id for key in keys for pair_id in pair_ids}


def project_annotators(project: Project) -> list[str]:
    """Usernames of the project's annotators, who are its Argilla workspace's annotators."""
    members = Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR)
    return sorted(members.values_list("user__username", flat=True))


def routed_version(project: Project) -> int | None:
    """The routing policy version the last routing run decided with (None: never routed)."""
    latest = RoutingDecision.objects.filter(pair__project=project).order_by("-created_at", "-pk")
    return latest.values_list("policy__version", flat=True).first()


def review_items(
    decisions, signals: dict[int, PairSignals], dataset: str, config: ReviewConfig
) -> list[ReviewItem]:
    """Review records for `decisions`, in the order of their opaque ids (which shuffles them, so
    audit items are not grouped); the AI suggestion comes from the routing signals of the
    judges each decision was routed on (computed once per push by the caller)."""
    pairs = Pair.objects.in_bulk([d.pair_id for d in decisions])
    key = record_key()
    items = []
    for d in decisions:
        pair = pairs[d.pair_id]
        # a gold item goes out as a blind audit item does: no AI verdict to suggest (core.gold)
        signal = None if pair.gold else signals.get(d.pair_id)
        choice = signal.choice if signal else None  # labeling.verdicts: a flipped verdict is a tie
        score = confidence(choice, signal.p_a) if signal else None
        shown = (
            config.suggestions == "shown"
            and not d.blind
            and choice is not None
            and not key.held_out(dataset, pair.pk, config.holdout)
        )
        items.append(
            ReviewItem(
                pair_id=pair.pk,
                record_id=key.record_id(dataset, pair.pk),
                prompt=pair.prompt,
                response_a=pair.response_a,
                response_b=pair.response_b,
                show_suggestion=shown,
                ai_choice=choice,
                ai_score=None if score is None else round(score, 4),
                agent=",".join(d.judges),
            )
        )
    return sorted(items, key=lambda item: item.record_id)


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
    """Give the project's workspace its annotators, push what routing sent to humans in the
    round of the policy version used (`version`: that round instead), pull every round's
    responses; returns the counts, and in `note` why nothing was pushed when nothing was.

    `retries` counts the calls that found Argilla unreachable and were tried again; `report`
    hears about each while it waits (see with_retries).
    """
    outages: list[str] = []

    def noted(message: str) -> None:
        if message:
            outages.append(message)
        if report is not None:
            report(message)

    config = review_config(project)
    version = version or routed_version(project)
    if version is None:
        return {
            **_nothing(project),
            "note": f"project '{project.name}' has no routing decisions yet: run `route`",
        }
    workspace, name = workspace_name(project), dataset_name(project, version)
    dataset, created = with_retries(
        lambda: review.dataset(name, project.rubric, min_submitted, workspace=workspace),
        "open the dataset",
        report=noted,
    )
    if created:  # a new (or wiped) Argilla: whatever was pushed before is not there any more
        ArgillaRecord.objects.filter(dataset=name, pair__project=project).delete()
    annotators = project_annotators(project)
    assigned = with_retries(lambda: review.assign(workspace, annotators), "assign annotators", report=noted)
    pushed, note = _push(project, review, dataset, version, config, batch_size, progress, noted)
    pulled, unknown = _pull_rounds(project, review, dataset, version, noted)
    counts = store_responses(project, pulled)
    return {
        "dataset": name,
        "dataset_id": str(dataset.id),
        "workspace": workspace,
        "suggestions": config.suggestions,
        "annotators": {"assigned": annotators, "added": assigned.added, "removed": assigned.removed},
        "missing_annotators": assigned.missing,
        "pushed": pushed,
        "note": note,
        "pulled": len(pulled),
        "unknown_records": unknown,
        **counts,
        "retries": len(outages),
    }


def _nothing(project: Project) -> dict:
    return {
        "dataset": None,
        "dataset_id": None,
        "workspace": workspace_name(project),
        "pushed": 0,
        "pulled": 0,
        "unknown_records": 0,
        "labels_created": 0,
        "labels_updated": 0,
        "labels_removed": 0,
        "retries": 0,
    }


# Routed pairs read, scored and pushed per chunk (keyset pagination on the pair id), so a push
# holds one chunk's texts and signals whatever the round's size.
PUSH_CHUNK_PAIRS = 2_000


def _push(project, review, dataset, version, config, batch_size, progress, report) -> tuple[int, str]:
    """(records pushed, why none were: "" when some were).

    Records go out a chunk of pairs at a time, in pair-id order across chunks and in the
    order of their opaque ids within one (which shuffles audit and routed items together).
    """
    name = dataset.name
    # By the policy's id, not a join on the project: each chunk is then an ordered index scan
    # that stops at the chunk's end (with the join, PostgreSQL sorted every remaining decision).
    policy = RoutingPolicyVersion.objects.filter(project=project, version=version).first()
    routed = RoutingDecision.objects.filter(policy=policy)
    done = ArgillaRecord.objects.filter(dataset=name, pair_id=OuterRef("pair_id"))
    pending = routed.filter(human=True).exclude(Exists(done)).order_by("pair_id")
    total = pending.count()
    if not total:
        human = routed.filter(human=True).count()
        if human:
            return 0, f"all {human} pairs routing policy v{version} sent to humans are already in {name}"
        return 0, f"routing policy v{version} sent no pair to humans ({routed.count()} decided AI only)"
    # A gold decision consulted no judge (core.gold): the round's judges are an ordinary one's.
    judges = pending.filter(pair__gold="").values_list("judges", flat=True).first()
    pushed, after = 0, 0  # pair ids start at 1
    while decisions := list(pending.filter(pair_id__gt=after)[:PUSH_CHUNK_PAIRS]):
        after = decisions[-1].pair_id
        for batch in _chunk_items(project, judges, decisions, name, config, batch_size):
            with_retries(
                lambda batch=batch: review.push(dataset, batch, batch_size), "push records", report=report
            )
            _record_pushed(batch, decisions, dataset)
            pushed += len(batch)
            if progress is not None:
                progress(pushed, total)
    return pushed, ""


def _chunk_items(project, judges, decisions, dataset: str, config, batch_size: int):
    """One chunk's review items in batches of `batch_size`."""
    # The suggestion's score is the calibrated confidence (where an audit fitted a map), the
    # number the blend keeps for the same pair; the side comes from the verdict either way.
    pair_ids = [d.pair_id for d in decisions]
    judged = (
        selectors.calibrated(project, judges, selectors.signals(project, judges, pair_ids)) if judges else []
    )
    items = review_items(decisions, {s.pair_id: s for s in judged}, dataset, config)
    return [items[start : start + batch_size] for start in range(0, len(items), batch_size)]


def _record_pushed(batch: list[ReviewItem], decisions, dataset) -> None:
    """Written after Argilla took the batch: a crash in between re-pushes it next time, and the
    re-push upserts the same records (keyed by dataset and pair), so nothing is duplicated."""
    blind = {d.pair_id: d.blind for d in decisions}
    ArgillaRecord.objects.bulk_create(
        [
            ArgillaRecord(
                pair_id=i.pair_id,
                dataset=dataset.name,
                dataset_id=str(dataset.id),
                blind=blind[i.pair_id],
                suggestion_shown=i.show_suggestion,
            )
            for i in batch
        ],
        ignore_conflicts=True,
    )


def _pull_rounds(project, review, current, version, report) -> tuple[list[ReviewResponse], int]:
    """Responses of every round the project pushed to, and how many records matched no pair.

    Record ids are mapped back through the secret: for the current round over every pair the
    policy sent to humans (a push stopped before Tandem recorded it is matched too), for
    earlier rounds over the pairs recorded there.
    """
    rounds: dict[str, tuple[str, set[int]]] = {str(current.id): (current.name, set())}
    for name, dataset_id, pair_id in (
        ArgillaRecord.objects.filter(pair__project=project)
        .exclude(dataset_id="")
        .values_list("dataset", "dataset_id", "pair_id")
    ):
        rounds.setdefault(dataset_id, (name, set()))[1].add(pair_id)
    rounds[str(current.id)][1].update(
        RoutingDecision.objects.filter(
            pair__project=project, policy__version=version, human=True
        ).values_list("pair_id", flat=True)
    )
    responses, unknown = [], 0
    for dataset_id, (name, pairs) in rounds.items():
        pair_of = _pair_of(name, pairs)
        pulled = with_retries(lambda: review.pull(dataset_id, pair_of), "pull responses", report=report)  # noqa: B023
        responses += pulled.responses
        unknown += len(pulled.unknown_records)
    if unknown:
        log.warning(
            "%d Argilla records of project %s match no pair (was SECRET_KEY changed?)", unknown, project
        )
    return responses, unknown


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
    """Submit the project's imported human labels through Argilla as simulated annotators
    (members of the project's workspace), in the round of the policy version used."""
    version = routed_version(project)
    if version is None:
        raise ServiceError(
            f"project '{project.name}' has no routing decisions yet: run `route`, then `sync_argilla`"
        )
    name = dataset_name(project, version)
    records = ArgillaRecord.objects.filter(dataset=name, pair__project=project).exclude(dataset_id="")
    dataset_id = records.values_list("dataset_id", flat=True).first()
    if dataset_id is None:
        raise ServiceError(f"no Argilla dataset '{name}' yet: run `manage.py sync_argilla` first")
    pushed = list(records.values_list("pair_id", flat=True))
    pair_of = _pair_of(name, pushed)
    answers: dict[int, list[tuple[str, Choice]]] = {}
    for pair_id, annotator, choice in HumanLabel.objects.filter(
        pair_id__in=pushed, source=HumanLabel.Source.IMPORTED
    ).values_list("pair_id", "annotator", "choice"):
        answers.setdefault(pair_id, []).append((annotator, Choice(choice)))
    simulator = SimulatedAnnotators(review_client, owner_key, workspace_name(project))
    submitted = with_retries(
        lambda: simulator.submit(dataset_id, answers, pair_of), "submit simulated responses"
    )
    return {"dataset": name, "submitted": submitted, "annotators": len(simulator.keys)}
