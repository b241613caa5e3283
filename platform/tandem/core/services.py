"""Writes. The CLI, the API, the admin and the background jobs all call these functions."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from labeling import importers
from labeling.importers import FormatError, ImportIssue
from labeling.records import ImportRow

from .models import HumanLabel, Judgment, Pair, Project

Progress = Callable[[int, int | None], None]
ShouldCancel = Callable[[], bool]
MAX_REPORTED_ERRORS = 1000


class ServiceError(Exception):
    """A failure the user can act on; `code` is stable, `message` says what to do."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConfigInvalid(ServiceError):
    """A judge or routing config does not check; `key` is the dotted path of the wrong value."""

    code = "config_invalid"

    def __init__(self, error) -> None:  # a labeling.typed_config.ConfigError
        super().__init__(str(error))
        self.key = error.key


class Cancelled(ServiceError):
    code = "cancelled"


class ImportFailed(ServiceError):
    code = "import_failed"

    def __init__(self, message: str, summary: ImportSummary):
        super().__init__(message)
        self.summary = summary


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
    project, _ = Project.objects.get_or_create(
        name=name, defaults={"description": description, "rubric": rubric, "created_by": user}
    )
    return project


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
    for batch in _batched(rows, batch_size):
        if should_cancel is not None and should_cancel():
            raise Cancelled("import cancelled; nothing from this file was kept")
        good = [row for row in batch if isinstance(row, ImportRow)]
        for issue in batch:
            if isinstance(issue, ImportIssue):
                _add_issue(summary, issue)
        summary.valid += len(good)
        summary.rows += len(batch) - sum(1 for i in batch if isinstance(i, ImportIssue) and i.line == 0)
        if good and (skip_invalid or not summary.errors):
            _write_batch(project, good, summary, source)
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


# The Pair columns an import writes, in the order of the tuples _insert_pairs takes (a test keeps
# this in step with the model).
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


def _write_batch(project: Project, rows: list[ImportRow], summary: ImportSummary, source: str) -> None:
    hashes = [row.pair.content_hash() for row in rows]
    known = dict(
        Pair.objects.filter(project=project, content_hash__in=set(hashes)).values_list("content_hash", "id")
    )
    existing_ids = set(known.values())
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    new: dict[str, tuple] = {}
    for row, digest in zip(rows, hashes, strict=True):
        if digest in known or digest in new:
            summary.duplicates += 1
            continue
        p = row.pair
        new[digest] = (
            project.pk,
            p.prompt,
            p.response_a,
            p.response_b,
            p.model_a,
            p.model_b,
            p.category,
            json.dumps(p.metadata, ensure_ascii=False),
            source,
            p.external_id,
            digest,
            now,
        )
    _insert_pairs(list(new.values()))
    summary.created += len(new)
    if not any(row.votes or row.verdicts for row in rows):
        return
    known.update(
        Pair.objects.filter(project=project, content_hash__in=list(new)).values_list("content_hash", "id")
    )
    pair_ids = [known[digest] for digest in hashes]
    summary.labels_created += _write_labels(rows, pair_ids, existing_ids)
    summary.judgments_created += _write_judgments(rows, pair_ids, existing_ids)


def _insert_pairs(values: list[tuple]) -> None:
    """Insert Pair rows given as PAIR_COLUMNS tuples: COPY on PostgreSQL, executemany elsewhere.

    Plain tuples skip the ORM's per-field SQL building, which was most of an import's time
    (bench/import_pairs.py: 100k pairs into PostgreSQL took 27-42 s through bulk_create).
    """
    if not values:
        return
    table = connection.ops.quote_name(Pair._meta.db_table)
    columns = ", ".join(PAIR_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # cursor.copy is psycopg's own: wrap its errors so IntegrityError reaches import_pairs.
            with connection.wrap_database_errors, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            marks = ", ".join(["%s"] * len(PAIR_COLUMNS))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)  # noqa: S608


def _write_labels(rows: list[ImportRow], pair_ids: list[int], existing_ids: set[int]) -> int:
    seen = (
        set(
            HumanLabel.objects.filter(
                pair_id__in=existing_ids, source=HumanLabel.Source.IMPORTED
            ).values_list("pair_id", "annotator")
        )
        if existing_ids
        else set()
    )
    labels = []
    for row, pair_id in zip(rows, pair_ids, strict=True):
        for vote in row.votes:
            if (pair_id, vote.annotator) in seen:
                continue
            seen.add((pair_id, vote.annotator))
            labels.append(
                HumanLabel(
                    pair_id=pair_id,
                    annotator=vote.annotator,
                    choice=vote.choice,
                    rationale=vote.rationale,
                    source=HumanLabel.Source.IMPORTED,
                )
            )
    HumanLabel.objects.bulk_create(labels, batch_size=1000)
    return len(labels)


def replay_config_hash(judge: str) -> str:
    """Recorded verdicts have no sampling config of ours: the judge name identifies them."""
    return hashlib.sha256(f"replay:{judge}".encode()).hexdigest()


def _write_judgments(rows: list[ImportRow], pair_ids: list[int], existing_ids: set[int]) -> int:
    seen = (
        set(
            Judgment.objects.filter(pair_id__in=existing_ids, backend="replay").values_list(
                "pair_id", "judge", "order"
            )
        )
        if existing_ids
        else set()
    )
    judgments = []
    for row, pair_id in zip(rows, pair_ids, strict=True):
        for v in row.verdicts:
            if (pair_id, v.judge, v.order.value) in seen:
                continue
            seen.add((pair_id, v.judge, v.order.value))
            judgments.append(
                Judgment(
                    pair_id=pair_id,
                    judge=v.judge,
                    config_hash=replay_config_hash(v.judge),
                    backend="replay",
                    model=v.model,
                    template=v.template,
                    order=v.order.value,
                    p_first=v.p_first,
                    choice=v.choice.value if v.choice else "",
                    rationale=v.rationale,
                    status=v.status.value,
                    detail=v.detail,
                )
            )
    Judgment.objects.bulk_create(judgments, batch_size=1000)
    return len(judgments)


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
