"""Writes. The CLI, the API, the admin and the background jobs all call these functions."""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import logging
import operator
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.utils import timezone

from labeling import importers
from labeling.importers import FormatError, ImportIssue, batches, pipeline
from labeling.importers.batches import (  # noqa: F401 (the columns and hash are the platform's too)
    JUDGMENT_COLUMNS,
    LABEL_COLUMNS,
    PAIR_COLUMNS,
    replay_config_hash,
)
from labeling.importers.pipeline import ReaderFailed

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
logger = logging.getLogger(__name__)


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
    gold_updated: int = 0  # stored pairs whose gold answer this file set or changed
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
            + (f", {self.gold_updated} stored pairs given a gold answer" if self.gold_updated else "")
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
    reader_process: bool | None = None,
) -> ImportSummary:
    """Import one file (or data-set folder) into `project`, all-or-nothing by default.

    Streams the file and inserts in bulk inside one transaction. Any bad row rolls the whole
    file back unless `skip_invalid`, in which case good rows are kept and bad ones reported.
    Re-importing adds nothing (pairs are unique by content hash; labels and judgments by their
    natural keys). A file over READER_PROCESS_BYTES is read and prepared in a second process
    while this one writes (`reader_process` forces either way). Returns the summary; raises
    ImportFailed (with the summary) when nothing was kept because of errors, or when the reader
    process failed; Cancelled when `should_cancel` said so (nothing kept either).
    """
    summary = ImportSummary(file=str(path), format=fmt)
    aborted = False  # a file-level error rolled the transaction back: nothing was written
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    prepare = functools.partial(
        batches.prepare, project_pk=project.pk, source=f"{fmt}:{Path(path).name}", now=now
    )
    if reader_process is None:
        reader_process = _large(Path(path))
    try:
        prepared = pipeline.prepared_batches(
            path, fmt, settings.TANDEM_MAX_FIELD_CHARS, batch_size, prepare, in_process=not reader_process
        )
        total = importers.estimate_rows(path, fmt)
        if connection.vendor == "postgresql" and Pair.objects.filter(project=project).exists():
            _analyze(Pair)  # before the transaction: ANALYZE's lock lasts until its commit
        outermost = not connection.in_atomic_block
        with transaction.atomic(), contextlib.closing(prepared):
            if outermost:
                _check_pair_keys_per_statement()
            _import_rows(project, prepared, summary, skip_invalid, progress, total, should_cancel)
            if summary.errors and not skip_invalid:
                transaction.set_rollback(True)
    except (FormatError, ReaderFailed) as err:
        aborted = True
        if isinstance(err, ReaderFailed) and err.detail:
            logger.error("import of %s: the reader process failed:\n%s", path, err.detail)
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
    grown = {Pair: summary.created, HumanLabel: summary.labels_created, Judgment: summary.judgments_created}
    analyze_grown(grown)
    return summary


def analyze_grown(added: dict[type[models.Model], int]) -> None:
    """ANALYZE each table that `added` rows grew by a tenth or more, as PostgreSQL's manual asks
    after a bulk load: autovacuum would, but up to a minute later, and the next stage starts at
    once. Until then the planner sees a large import as a handful of rows and plans for that.
    A small import into a large table skips it (autovacuum's own threshold). Only the table's
    size and its foreign keys (how many rows each project or pair has: what a bulk load makes
    the planner misjudge): 0.2 s after an import of 100k MT-Bench-shaped pairs (12.8 s), where
    every column's statistics took 0.8 s. A partial ANALYZE leaves autovacuum's count of changes
    as it was, so autovacuum still takes the rest later. The work is committed by then: a table
    another session is analyzing is skipped (SKIP_LOCKED), and a failure is logged, not raised."""
    if connection.vendor != "postgresql":
        return
    grown = {model._meta.db_table: (model, rows) for model, rows in added.items() if rows}
    if not grown:
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, reltuples FROM pg_class WHERE oid = ANY(%s::regclass[])", [list(grown)]
            )
            for table, estimate in cursor.fetchall():
                model, rows = grown[table]
                keys = [
                    connection.ops.quote_name(field.column)
                    for field in model._meta.concrete_fields
                    if isinstance(field, models.ForeignKey)
                ]
                if keys and rows >= 0.1 * estimate:  # -1: never analyzed
                    name = connection.ops.quote_name(table)
                    cursor.execute(f"ANALYZE (SKIP_LOCKED) {name} ({', '.join(keys)})")
    except DatabaseError as err:
        logger.warning("ANALYZE after adding rows to %s failed (autovacuum will do it): %s", list(grown), err)


# Smaller files are read in the importing process: a reader process takes a few tenths of a
# second to start, more than it saves on a file of a few thousand rows.
READER_PROCESS_BYTES = 8 << 20


def _large(path: Path) -> bool:
    try:
        return path.is_dir() or path.stat().st_size >= READER_PROCESS_BYTES
    except OSError:  # missing: importers.read says so
        return False


def _first_error(summary: ImportSummary) -> str:
    return str(ImportIssue(**summary.errors[0])) if summary.errors else "no rows"


@dataclass
class _KnownPairs:
    """The project's pairs as one import's writer knows them."""

    ids: dict[str, int]  # content hash -> id: the pairs this import wrote, or found stored
    probe: bool  # the project had pairs when the import began: a hash not in `ids` may be stored

    @classmethod
    def of(cls, project: Project) -> _KnownPairs:
        # A first import asks the database nothing about pairs (a concurrent import of the same
        # rows makes its COPY fail, and import_pairs says to run it again).
        return cls({}, Pair.objects.filter(project=project).exists())


def _analyze(model: type[models.Model]) -> None:
    """Refresh the planner's statistics of `model`'s table before probing it row by row.

    Statistics taken before this project's pairs were committed (autovacuum had not run yet, or
    they held only another project's pairs) make `project_id = X` look rare, and the planner
    then probes each content hash through an index that leads with the project (it was the
    project alone; now (project, id)) instead of (project, content_hash): every probe reads the
    whole project, and a re-import of 100k pairs stalled for more than 20 minutes. ANALYZE reads
    a fixed sample (about 30,000 rows), under a second at a million pairs. Run it outside the
    import's transaction: its lock conflicts with itself until commit, so another re-import
    would wait for this whole import."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _check_pair_keys_per_statement() -> None:
    """Check the labels' and judgments' foreign keys to their pairs at the end of each statement
    (each COPY) for the rest of the import's own transaction, instead of all at the commit.

    Django's foreign keys are deferred: PostgreSQL would queue a check for every label and
    judgment and run them all at the commit, alone, once the reader is done. Per COPY they
    overlap with the reader preparing the next batches (bench/import_pairs.py), and the server
    keeps no queue of checks that grows with the file. Only these keys: an early check of the
    pairs' key to their project would lock the project's row until the commit, and starting any
    job on the project (`jobs._lock`) would wait for the whole import. Only in a transaction of
    the import's own (the caller checks): inside a caller's, SET CONSTRAINTS would also run the
    caller's pending checks and change its later statements.
    """
    if connection.vendor != "postgresql":
        return
    names = []
    with connection.cursor() as cursor:
        for model in (HumanLabel, Judgment):
            table = model._meta.db_table
            for name, constraint in connection.introspection.get_constraints(cursor, table).items():
                if constraint["foreign_key"] and constraint["columns"] == ["pair_id"]:
                    names.append(connection.ops.quote_name(name))
        if names:  # (a schema without them: the checks stay at the commit)
            cursor.execute(f"SET CONSTRAINTS {', '.join(names)} IMMEDIATE")


def _import_rows(project, prepared, summary, skip_invalid, progress, total, should_cancel) -> None:
    known = _KnownPairs.of(project)
    for batch in prepared:
        if should_cancel is not None and should_cancel():
            raise Cancelled("import cancelled; nothing from this file was kept")
        for issue in batch.issues:
            _add_issue(summary, issue)
        summary.valid += len(batch.pairs)
        summary.rows += batch.rows
        if batch.pairs and (skip_invalid or not summary.errors):
            _write_batch(project, batch, summary, known)
        if progress is not None:
            progress(summary.rows, total)


def _add_issue(summary: ImportSummary, issue: ImportIssue) -> None:
    summary.invalid += 1
    if len(summary.errors) < MAX_REPORTED_ERRORS:
        summary.errors.append(issue.as_dict())


def _write_batch(project: Project, batch: batches.Batch, summary: ImportSummary, known: _KnownPairs) -> None:
    if known.probe:
        known.ids.update(_stored_pairs(project, {d for d in batch.hashes if d not in known.ids}))
    existing_ids = {known.ids[digest] for digest in batch.hashes if digest in known.ids}
    new: dict[str, tuple] = {}
    for digest, values in zip(batch.hashes, batch.pairs, strict=True):
        if digest in known.ids or digest in new:
            summary.duplicates += 1
        else:
            new[digest] = values
    summary.gold_updated += _mark_gold(batch, known, new)
    known.ids.update(_insert_pairs(project, new))
    summary.created += len(new)
    if not (batch.labels or batch.judgments):
        return
    pair_ids = [known.ids[digest] for digest in batch.hashes]
    labels = _unseen(HumanLabel, LABEL_COLUMNS, [(pair_ids[i], *t) for i, t in batch.labels], existing_ids)
    judgments = [(pair_ids[i], *t) for i, t in batch.judgments]
    judgments = _unseen(Judgment, JUDGMENT_COLUMNS, judgments, existing_ids)
    _insert_rows(HumanLabel, LABEL_COLUMNS, labels)
    _insert_rows(Judgment, JUDGMENT_COLUMNS, judgments)
    summary.labels_created += len(labels)
    summary.judgments_created += len(judgments)


def _mark_gold(batch: batches.Batch, known: _KnownPairs, new: dict[str, tuple]) -> int:
    """Give the stored pairs of `batch` the gold answer their rows carry (a file of known answers
    for pairs imported before, or a corrected answer); a row without one leaves a stored answer
    alone. Returns how many stored pairs changed."""
    column = PAIR_COLUMNS.index("gold")
    answers: dict[str, list[int]] = collections.defaultdict(list)
    for digest, values in zip(batch.hashes, batch.pairs, strict=True):
        if values[column] and digest in known.ids and digest not in new:
            answers[values[column]].append(known.ids[digest])
    return sum(
        Pair.objects.filter(pk__in=ids).exclude(gold=answer).update(gold=answer)
        for answer, ids in answers.items()
    )


def _insert_pairs(project: Project, new: dict[str, tuple]) -> dict[str, int]:
    """Insert the new pairs (content hash -> PAIR_COLUMNS); returns their ids by hash.

    On PostgreSQL the ids come from the table's own sequence first, so the COPY writes them
    and nothing has to look them up afterwards (that lookup was an index probe per pair).
    """
    if not new:
        return {}
    if connection.vendor != "postgresql":
        _insert_rows(Pair, PAIR_COLUMNS, list(new.values()))
        return _stored_pairs(project, new)
    table = connection.ops.quote_name(Pair._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(new)]
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    _insert_rows(
        Pair, ("id", *PAIR_COLUMNS), [(pk, *values) for pk, values in zip(ids, new.values(), strict=True)]
    )
    return dict(zip(new, ids, strict=True))


def _stored_pairs(project: Project, hashes: Iterable[str]) -> dict[str, int]:
    """The ids of `project`'s pairs with these content hashes.

    On PostgreSQL, one probe of the (project, content_hash) index per hash: inside an import's
    long transaction the planner's statistics still say the table is nearly empty, and a plain
    `IN (...)` query filtered every pair of the project, once per batch: quadratic, and most of
    the database's time at 100k pairs (bench/import_pairs.py).
    """
    hashes = list(hashes)
    if not hashes:
        return {}
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
    identity = operator.itemgetter(*positions)  # keys have two columns or more: a tuple
    kept = []
    for value in values:
        if (found := identity(value)) not in stored:
            stored.add(found)
            kept.append(value)
    return kept


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
