"""Writes. The CLI, the API, the admin and the background jobs all call these functions."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from labeling import importers
from labeling.importers import FormatError, ImportIssue
from labeling.records import ImportRow

from .errors import (  # noqa: F401 (callers import the error classes from here too)
    Cancelled,
    ConfigInvalid,
    Conflict,
    ImportFailed,
    NotFound,
    NotReady,
    ServiceError,
)
from .models import Alert, HumanLabel, Judgment, Pair, Project

Progress = Callable[[int, int | None], None]
ShouldCancel = Callable[[], bool]
MAX_REPORTED_ERRORS = 1000


@dataclass
class ImportSummary:
    file: str
    format: str
    rows: int = 0
    valid: int = 0
    created: int = 0
    duplicates: int = 0
    invalid: int = 0
    labels_created: int = 0
    judgments_created: int = 0
    kept: bool = False
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        state = "imported" if self.kept else "NOT imported (nothing kept)"
        return (
            f"{self.file}: {state}: {self.rows} rows, {self.created} new pairs, "
            f"{self.duplicates} duplicates, {self.invalid} invalid, "
            f"{self.labels_created} human labels, {self.judgments_created} judgments"
        )


def create_project(name: str, *, description: str = "", rubric: str = "", user=None) -> Project:
    """The project named `name`, created if new (the CLI's `--create-project` re-runs)."""
    project, _ = Project.objects.get_or_create(
        name=name, defaults={"description": description, "rubric": rubric, "created_by": user}
    )
    return project


def new_project(
    name: str,
    *,
    user,
    description: str = "",
    rubric: str = "",
    judge_config: dict | None = None,
    routing_config: dict | None = None,
) -> Project:
    """A new project for `user` (pages and API): its creator becomes its engineer (an admin
    sees every project anyway). Never an existing one: taking another team's project by its
    name would make the creator its engineer. The configs were checked by the caller's form or
    serializer (`configs.check_*`). Raises Conflict when the name is taken."""
    from . import roles
    from .models import Membership

    try:
        with transaction.atomic():
            project = Project.objects.create(
                name=name,
                description=description,
                rubric=rubric,
                judge_config=judge_config or {},
                routing_config=routing_config or {},
                created_by=user,
            )
    except IntegrityError as err:
        raise Conflict(f"a project named '{name}' exists already: choose another name") from err
    if not user.is_superuser:
        roles.add_member(user, project, Membership.Role.ENGINEER)
    return project


def acknowledge_alert(alert: Alert, user=None) -> Alert:
    """Mark the alert seen (by `user`); acknowledging it again keeps the first acknowledgement."""
    if alert.acknowledged_at is None:
        Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=user
        )
        alert.refresh_from_db()
    return alert


def import_pairs(
    project: Project,
    path: str | Path,
    fmt: str,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    batch_size: int = 1000,
) -> ImportSummary:
    """Import one file (or data-set folder) into `project`, all-or-nothing by default.

    Streams the file and inserts in bulk inside one transaction. Any bad row rolls the whole
    file back unless `skip_invalid`, in which case good rows are kept and bad ones reported.
    Re-importing adds nothing (pairs are unique by content hash; labels and judgments by their
    natural keys). Returns the summary; raises ImportFailed (with the summary) when nothing was
    kept because of errors, Cancelled when `should_cancel` said so (nothing kept either).
    """
    summary = ImportSummary(file=str(path), format=fmt)
    aborted = False  # a file-level error rolled the transaction back: nothing was written
    try:
        rows = importers.read(path, fmt, settings.TANDEM_MAX_FIELD_CHARS)
        total = importers.estimate_rows(path, fmt)
        with transaction.atomic():
            _import_rows(
                project,
                rows,
                summary,
                skip_invalid,
                progress,
                total,
                should_cancel,
                batch_size,
                source=f"{fmt}:{Path(path).name}",
            )
            if summary.errors and not skip_invalid:
                transaction.set_rollback(True)
    except FormatError as err:
        aborted = True
        _add_issue(summary, ImportIssue(err.file, 0, "", err.message))
    except IntegrityError as err:
        aborted = True
        _add_issue(
            summary,
            ImportIssue(
                str(path),
                0,
                "",
                f"another import wrote the same pairs at the same time ({err}); run it again",
            ),
        )
    summary.kept = not aborted and summary.valid > 0 and (skip_invalid or not summary.errors)
    if not summary.kept:
        # rolled back: what the batches before the error wrote is gone, so say none was created
        summary.created = summary.labels_created = summary.judgments_created = 0
        raise ImportFailed(
            f"{path}: nothing imported ({summary.invalid} errors; the first: {_first_error(summary)})",
            summary,
        )
    return summary


def _first_error(summary: ImportSummary) -> str:
    return str(ImportIssue(**summary.errors[0])) if summary.errors else "no rows"


def _import_rows(
    project, rows, summary, skip_invalid, progress, total, should_cancel, batch_size, source
) -> None:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    prepare = functools.partial(_prepare, project_pk=project.pk, source=source, now=now)
    for batch in map(prepare, _batched(rows, batch_size)):
        if should_cancel is not None and should_cancel():
            raise Cancelled("import cancelled; nothing from this file was kept")
        for issue in batch.issues:
            _add_issue(summary, issue)
        summary.valid += len(batch.pairs)
        summary.rows += batch.rows
        if batch.pairs and (skip_invalid or not summary.errors):
            _write_batch(project, batch, summary)
        if progress is not None:
            progress(summary.rows, total)


def _batched(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _add_issue(summary: ImportSummary, issue: ImportIssue) -> None:
    summary.invalid += 1
    if len(summary.errors) < MAX_REPORTED_ERRORS:
        summary.errors.append(issue.as_dict())


# The columns an import writes, in the order of the tuples _insert_rows takes (a test keeps each
# in step with its model). Django's field defaults live in Python, so COPY needs every column.
PAIR_COLUMNS = (
    "project_id",
    "prompt",
    "response_a",
    "response_b",
    "model_a",
    "model_b",
    "category",
    "metadata",
    "source",
    "external_id",
    "content_hash",
    "created_at",
)
LABEL_COLUMNS = ("pair_id", "annotator", "choice", "rationale", "source", "external_id", "created_at")
JUDGMENT_COLUMNS = (
    "pair_id",
    "judge",
    "config_hash",
    "order",
    "backend",
    "model",
    "template",
    "template_hash",
    "p_first",
    "choice",
    "rationale",
    "status",
    "error_message",
    "params",
    "detail",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "latency_ms",
    "cache_key",
    "created_at",
)


@dataclass
class _Batch:
    """A batch of read rows as the tuples _insert_rows takes, made before the database is asked
    which pairs exist; labels and judgments get their pair's id once it is known."""

    rows: int  # rows read (a file-level issue is not a row)
    issues: list[ImportIssue]
    hashes: list[str]  # one per good row
    pairs: list[tuple]  # PAIR_COLUMNS, one per good row
    labels: list[tuple[int, tuple]]  # (good row's index, LABEL_COLUMNS without pair_id)
    judgments: list[tuple[int, tuple]]  # (good row's index, JUDGMENT_COLUMNS without pair_id)


def _prepare(items: list, *, project_pk: int, source: str, now) -> _Batch:
    """Split read items into issues and rows, and turn each row into its tuples."""
    issues = [item for item in items if isinstance(item, ImportIssue)]
    good = [item for item in items if isinstance(item, ImportRow)]
    batch = _Batch(len(items) - sum(1 for i in issues if i.line == 0), issues, [], [], [], [])
    for index, row in enumerate(good):
        p = row.pair
        digest = p.content_hash()
        batch.hashes.append(digest)
        metadata = json.dumps(p.metadata, ensure_ascii=False)
        batch.pairs.append(
            (
                project_pk,
                p.prompt,
                p.response_a,
                p.response_b,
                p.model_a,
                p.model_b,
                p.category,
                metadata,
                source,
                p.external_id,
                digest,
                now,
            )
        )
        batch.labels.extend((index, tail) for tail in _label_tails(row, now))
        batch.judgments.extend((index, tail) for tail in _judgment_tails(row, now))
    return batch


def _write_batch(project: Project, batch: _Batch, summary: ImportSummary) -> None:
    known = _stored_pairs(project, set(batch.hashes))
    existing_ids = set(known.values())
    new: dict[str, tuple] = {}
    for digest, values in zip(batch.hashes, batch.pairs, strict=True):
        if digest in known or digest in new:
            summary.duplicates += 1
        else:
            new[digest] = values
    _insert_rows(Pair, PAIR_COLUMNS, list(new.values()))
    summary.created += len(new)
    if not (batch.labels or batch.judgments):
        return
    known.update(_stored_pairs(project, new))
    pair_ids = [known[digest] for digest in batch.hashes]
    labels = _unseen(HumanLabel, LABEL_COLUMNS, [(pair_ids[i], *t) for i, t in batch.labels], existing_ids)
    judgments = [(pair_ids[i], *t) for i, t in batch.judgments]
    judgments = _unseen(Judgment, JUDGMENT_COLUMNS, judgments, existing_ids)
    _insert_rows(HumanLabel, LABEL_COLUMNS, labels)
    _insert_rows(Judgment, JUDGMENT_COLUMNS, judgments)
    summary.labels_created += len(labels)
    summary.judgments_created += len(judgments)


def _stored_pairs(project: Project, hashes: Iterable[str]) -> dict[str, int]:
    """The ids of `project`'s pairs with these content hashes.

    On PostgreSQL, one probe of the (project, content_hash) index per hash: inside an import's
    long transaction the planner's statistics still say the table is nearly empty, and a plain
    `IN (...)` query filtered every pair of the project, once per batch: quadratic, and most of
    the database's time at 100k pairs (bench/import_pairs.py).
    """
    hashes = list(hashes)
    if connection.vendor != "postgresql":
        return dict(
            Pair.objects.filter(project=project, content_hash__in=hashes).values_list("content_hash", "id")
        )
    table = connection.ops.quote_name(Pair._meta.db_table)
    probe = f"SELECT id FROM {table} WHERE project_id = %s AND content_hash = h"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT h, ({probe}) FROM unnest(%s::text[]) AS h", [project.pk, hashes])  # noqa: S608
        return {digest: pk for digest, pk in cursor.fetchall() if pk is not None}


def _insert_rows(model: type[models.Model], columns: tuple[str, ...], values: list[tuple]) -> None:
    """Insert rows given as tuples in `columns` order: COPY on PostgreSQL, executemany elsewhere.

    Plain tuples skip the ORM's per-field SQL building, which was most of an import's time, and
    COPY is PostgreSQL's own bulk path (bench/import_pairs.py measures it against psql's COPY).
    COPY cannot skip a conflicting row, so callers pass only rows that _unseen kept.
    """
    if not values:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # cursor.copy is psycopg's own: wrap its errors so IntegrityError reaches import_pairs.
            with connection.wrap_database_errors, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)  # noqa: S608


def _unseen(
    model: type[models.Model], columns: tuple[str, ...], values: list[tuple], existing_ids: set[int]
) -> list[tuple]:
    """The rows whose unique key (the model's UniqueConstraint) is neither stored nor earlier in
    `values`. Only pairs that existed before this batch can hold stored rows, so a first import
    asks the database nothing; a concurrent import of the same rows makes the COPY fail, and
    import_pairs says to run it again (filtering was faster than staging into a temporary table
    and INSERT ... ON CONFLICT DO NOTHING: see the README's import benchmark)."""
    (constraint,) = (c for c in model._meta.constraints if isinstance(c, models.UniqueConstraint))
    key = [model._meta.get_field(name).attname for name in constraint.fields]
    positions = [columns.index(name) for name in key]
    stored = set()
    if existing_ids and values:
        # only rows that could match: the batch's values of every other key column (a pair may
        # also hold labels from Argilla, or judgments of other judges)
        candidates = {
            f"{name}__in": {value[i] for value in values}
            for name, i in zip(key, positions, strict=True)
            if name != "pair_id"
        }
        stored = set(model.objects.filter(pair_id__in=existing_ids, **candidates).values_list(*key))
    kept = []
    for value in values:
        identity = tuple(value[i] for i in positions)
        if identity not in stored:
            stored.add(identity)
            kept.append(value)
    return kept


def _label_tails(row: ImportRow, now) -> list[tuple]:
    """LABEL_COLUMNS after pair_id for every vote of `row`, stored as imported labels."""
    source = HumanLabel.Source.IMPORTED.value
    return [(vote.annotator, vote.choice.value, vote.rationale, source, "", now) for vote in row.votes]


@functools.cache
def replay_config_hash(judge: str) -> str:
    """Recorded verdicts have no sampling config of ours: the judge name identifies them."""
    return hashlib.sha256(f"replay:{judge}".encode()).hexdigest()


def _judgment_tails(row: ImportRow, now) -> list[tuple]:
    """JUDGMENT_COLUMNS after pair_id for every recorded verdict of `row` (backend `replay`)."""
    tails = []
    details: dict[int, str] = {}  # a set's rows share one provenance dict for both orders
    for v in row.verdicts:
        if id(v.detail) not in details:
            details[id(v.detail)] = json.dumps(v.detail, ensure_ascii=False)
        tails.append(
            (
                v.judge,
                replay_config_hash(v.judge),
                v.order.value,
                "replay",
                v.model,
                v.template,
                "",
                v.p_first,
                v.choice.value if v.choice else "",
                v.rationale,
                v.status.value,
                "",
                "{}",
                details[id(v.detail)],
                0,
                0,
                0,
                0,
                "",
                now,
            )
        )
    return tails


def generate_candidates(
    project: Project,
    prompts_path: str | Path,
    config,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> dict:
    """Sample `config.n` responses per prompt with a policy and import every pair of them.

    The policy is a local model or an OpenAI-compatible endpoint (`openai:MODEL`). Samples are
    kept under var/generated/ one prompt at a time, so a stopped run resumes and never samples
    a prompt twice; the import is the ordinary all-or-nothing import. Raises ServiceError when
    the policy cannot run (the message names the setting: key variable, base URL, model).
    """
    from labeling import generation
    from labeling.chat import GenerationError

    try:
        rows = generation.read_prompts(Path(prompts_path))
    except (OSError, ValueError) as err:
        raise ServiceError(str(err)) from err
    folder = Path(settings.VAR_DIR) / "generated"
    folder.mkdir(parents=True, exist_ok=True)
    # The endpoint is not in the config's repr (a local policy keeps its old resume file).
    identity = repr((project.pk, str(Path(prompts_path).resolve()), config))
    identity += f"@{config.base_url}" if config.base_url else ""
    key = hashlib.sha256(identity.encode()).hexdigest()[:12]
    samples, pairs = (
        folder / f"{project.name}-{key}.samples.jsonl",
        folder / f"{project.name}-{key}.pairs.jsonl",
    )
    try:
        sampled = generation.generate_pairs(
            rows, samples, config, progress=progress, should_cancel=should_cancel
        )
    except GenerationError as err:
        raise ServiceError(str(err)) from err
    if should_cancel is not None and should_cancel():
        raise Cancelled(f"generation cancelled after {sampled} prompts; run it again to continue")
    generation.flatten(samples, pairs)
    summary = import_pairs(project, pairs, "pairs")
    return {
        "prompts": len(rows),
        "sampled_now": sampled,
        "policy": config.model,
        "samples_file": str(samples),
        "import": summary.as_dict(),
    }
