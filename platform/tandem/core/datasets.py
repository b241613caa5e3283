"""Blend and export: freeze what a project knows into a DatasetVersion (training: core.training).

The blend reads every pair's human votes and one judge's debiased verdict (with its flip), and,
where an audit of that judge fitted a calibration map, applies it before the confidence
threshold. In guarantee mode (core.guarantee) the AI label of a pair is the one routing certified:
that of the cascade's judge its decision kept, never another judge's, and none for a pair no judge
was certified for, so the dataset carries exactly the labels the guarantee speaks of. Versions
are content hashes of the rows: exporting the same knowledge twice gives the
same version and byte-identical files. `preview` is the dry run: the same blend, nothing written.
"""

from __future__ import annotations

import collections
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.db import connection
from django.db.models import Q, TextField
from django.db.models.functions import Cast, Collate

from . import selectors
from .errors import ConfigInvalid, NotFound, ServiceError
from .guarantee import project_guarantee
from .models import AuditReport, DatasetVersion, HumanLabel, Pair, Project, RoutingDecision


def _training():
    """The training package imports torch lazily only in trainers; blend and export are light."""
    from training import blend, errors, export

    return blend, errors, export


CHUNK_PAIRS = 2000


def pair_votes(project: Project, judge: str | None) -> Iterator:
    """PairVotes for every pair of the project, in the export's order (pair_id, the id as text),
    read CHUNK_PAIRS at a time with that chunk's human votes and the judge's verdict exactly as
    routing, the suggestion and the audit see it (`labeling.verdicts`, via `selectors`): memory
    holds one chunk, however large the project. In guarantee mode each pair's AI verdict is the
    one its routing decision certified (`certified_verdicts`)."""
    from labeling.verdicts import PairVerdict

    blend, _, _ = _training()
    guarantee = project_guarantee(project) is not None
    rows = (
        Pair.objects.filter(project=project)
        .order_by(_id_as_text())
        .values_list("id", "prompt", "response_a", "response_b", "gold")
    )
    for chunk in _chunks(rows.iterator(chunk_size=CHUNK_PAIRS), CHUNK_PAIRS):
        ids = [pair_id for pair_id, *_ in chunk]
        votes: dict[int, list[str]] = {}
        for pair_id, choice in HumanLabel.objects.filter(pair_id__in=ids).values_list("pair_id", "choice"):
            votes.setdefault(pair_id, []).append(choice)
        signals = {s.pair_id: s for s in selectors.signals(project, [judge], ids)} if judge else {}
        certified = certified_verdicts(project, ids) if guarantee else {}
        for pair_id, prompt, a, b, gold in chunk:
            signal = signals.get(pair_id)
            kept_by, ai = certified.get(pair_id, ("", None))
            if not guarantee:
                kept_by, ai = None, PairVerdict(signal.choice, signal.p_a, signal.flipped) if signal else None
            yield blend.PairVotes(
                pair_id=str(pair_id),
                prompt=prompt,
                response_a=a,
                response_b=b,
                human_votes=tuple(votes.get(pair_id, ())),
                ai=ai,
                kept_by=kept_by,
                gold=bool(gold),  # quality control: the blend drops it and counts it (`gold`)
            )


def certified_verdicts(project: Project, pair_ids: list[int]) -> dict[int, tuple[str, object]]:
    """{pair id: (judge, its PairVerdict)} for the pairs whose latest routing decision kept an AI
    label in guarantee mode: that judge's verdict, p_a through that judge's calibration map (the
    dataset's soft label; the threshold was certified on the raw confidence, core.guarantee)
    and only for a decision that certified its judge (Reason.CERTIFIED). Pairs sent to humans,
    or not decided, are absent."""
    from labeling.routing import Reason
    from labeling.verdicts import PairVerdict

    latest: dict[int, tuple[bool, list, list]] = {}
    decisions = RoutingDecision.objects.filter(pair_id__in=pair_ids).order_by("pair_id", "policy__version")
    for pair_id, human, judges, reasons in decisions.values_list("pair_id", "human", "judges", "reasons"):
        latest[pair_id] = (human, judges, reasons)
    by_judge: dict[str, list[int]] = collections.defaultdict(list)
    for pair_id, (human, judges, reasons) in latest.items():
        # only a guarantee decision that certified its judge: an AI-only decision of budget mode
        # (an earlier version, or one decided before the project turned guarantee mode on) is not
        if not human and judges and Reason.CERTIFIED.value in reasons:
            by_judge[judges[0]].append(pair_id)
    out = {}
    for judge, ids in by_judge.items():
        for s in selectors.calibrated(project, [judge], selectors.signals(project, [judge], ids)):
            out[s.pair_id] = (judge, PairVerdict(s.choice, s.p_a, s.flipped))
    return out


def _id_as_text():
    """The pair's id as the export sorts it: as a string (`pair_id`), byte by byte, so the rows
    come out of PostgreSQL in the order their content hash needs (no sort in Python)."""
    as_text = Cast("id", TextField())
    return Collate(as_text, "C") if connection.vendor == "postgresql" else as_text


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def version_file(version: DatasetVersion, fmt: str) -> tuple[Path, str]:
    """(path, download name) of the version's file in `fmt` as exported (what training reads);
    NotFound when that file is not on this server any more."""
    path = version.files.get(fmt)
    if not path or not Path(path).is_file():
        raise NotFound(f"dataset {version.version[:12]} has no {fmt} file here any more: build it again")
    return Path(path), f"{version.project.name}-{version.version[:12]}{Path(path).suffix}"


def latest_calibration(project: Project, judge: str | None) -> AuditReport | None:
    if not judge:
        return None
    return AuditReport.objects.filter(project=project, judge=judge, calibration__isnull=False).first()


def check_policy(policy_source):
    """The BlendPolicy from a mapping or a JSON/TOML file (None: the built-in one); raises
    ConfigInvalid naming the bad key and the valid ones."""
    blend, errors, _ = _training()
    try:
        return blend.BlendPolicy.load(policy_source) if policy_source else blend.BlendPolicy()
    except errors.TrainingError as err:
        raise ConfigInvalid(err, "policy") from err


def check_judge(project: Project, judge: str | None) -> None:
    """ConfigInvalid (key `judge`) for a judge without judgments here (None: routing's judge)."""
    selectors.check_judge(project, judge)


def _plan(project: Project, policy_source, judge: str | None):
    """(policy, judge, calibration report or None) of a blend of the project's knowledge now;
    raises ConfigInvalid for a policy that does not load or a judge without judgments."""
    policy = check_policy(policy_source)
    check_judge(project, judge)
    judge = judge or _default_judge(project)
    return policy, judge, latest_calibration(project, judge)


def _blend_rows(project: Project, policy, judge: str | None, calibration: AuditReport | None):
    """(the kept rows as a stream in pair_id order, the BlendSummary they fill as they pass)."""
    blend, _, _ = _training()
    summary = blend.BlendSummary(policy_version=policy.version)
    cmap = calibration.calibration if calibration else None
    return blend.blend_stream(pair_votes(project, judge), summary, policy, cmap), summary


def _summary(summary, judge: str | None, calibration: AuditReport | None) -> dict:
    return {**summary.to_dict(), "judge": judge, "calibrated": calibration is not None}


def preview(project: Project, policy=None, judge: str | None = None) -> dict:
    """What an export with `policy` (a mapping or file; None: the built-in one) would produce,
    without writing anything: pairs in, rows out, rows by source, drops by reason, the weight
    histogram, the judge and whether a calibration map applies (BlendSummary), plus `text`, the
    same in lines for a terminal. The rows stream past and are counted, never kept."""
    policy, judge, calibration = _plan(project, policy, judge)
    rows, summary = _blend_rows(project, policy, judge, calibration)
    collections.deque(rows, maxlen=0)
    return {**_summary(summary, judge, calibration), "text": summary.format()}


def export_dataset(
    project: Project,
    policy_source,
    formats: list[str],
    out_dir: str | Path,
    *,
    judge: str | None = None,
    user=None,
) -> dict:
    """Blend and export; returns the summary, the version (its hash and its row's `id`), the files.

    Each version's files live in `out_dir/versions/<version>/`, written in a staging folder and
    renamed into place in one step, and only then recorded as a DatasetVersion: an export killed
    half-way leaves no version and no half-written version folder, and a later export of other
    rows to the same folder cannot change a recorded version's files. `out_dir/preferences.*`
    are hard links to the latest export (what a user opening the folder looks for)."""
    _, errors, export = _training()
    policy, judge, calibration = _plan(project, policy_source, judge)
    out = Path(out_dir)
    _remove_abandoned_staging(out)
    staging = out / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        rows, blended = _blend_rows(project, policy, judge, calibration)
        written = export.export_sorted(rows, staging, formats)
        written.paths = _publish(staging, out / "versions" / written.version, written.paths)
    except errors.TrainingError as err:
        raise ServiceError(str(err)) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _link_latest(out, written.paths)
    summary = _summary(blended, judge, calibration)
    version, _ = DatasetVersion.objects.get_or_create(
        project=project,
        version=written.version,
        defaults={
            "policy": _policy_dict(policy),
            "judge": judge or "",
            "calibration": calibration,
            "n_rows": written.n_rows,
            "counts": summary,
            "files": {k: str(v) for k, v in written.paths.items()},
            "human_labels": HumanLabel.objects.filter(pair__project=project).count(),
            "created_by": user,
        },
    )
    if version.files != {k: str(v) for k, v in written.paths.items()}:
        version.files = {**version.files, **{k: str(v) for k, v in written.paths.items()}}
        version.save(update_fields=["files"])
    return {
        "id": version.pk,
        "version": written.version,
        "rows": written.n_rows,
        "summary": summary,
        "files": version.files,
    }


STAGING_PREFIX = ".partial-"


def _remove_abandoned_staging(out: Path) -> None:
    """Staging folders of exports that died (their process is gone) are deleted."""
    for folder in out.glob(f"{STAGING_PREFIX}*"):
        pid = folder.name[len(STAGING_PREFIX) :].split("-")[0]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's live process


def _publish(staging: Path, target: Path, paths: dict[str, Path]) -> dict[str, Path]:
    """Move the staged files to the version's folder: the whole folder in one rename when the
    version is new; formats the folder lacks when it exists (its files, being the same
    version, are already byte-identical). Returns the files' final paths by format."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staging, target)
    except OSError:  # the version exists: keep its files, add missing formats
        for path in paths.values():
            if not (target / path.name).exists():
                os.rename(path, target / path.name)
    return {fmt: target / path.name for fmt, path in paths.items()}


def _link_latest(out: Path, paths: dict[str, Path]) -> None:
    """out/<name> as hard links to the version's files (each replaced in one rename)."""
    for path in paths.values():
        tmp, final = out / f"{path.name}.tmp-{os.getpid()}", out / path.name
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        if path.is_dir():
            shutil.copytree(path, tmp, copy_function=os.link)
            shutil.rmtree(final, ignore_errors=True)
        else:
            os.link(path, tmp)
        os.replace(tmp, final)


def _default_judge(project: Project) -> str | None:
    try:
        return selectors.project_judges(project)[0]
    except ServiceError:
        return None  # no judgments: a human-only blend


def _policy_dict(policy) -> dict:
    from dataclasses import asdict

    return asdict(policy)


def find_version(project: Project, ref: str | int) -> DatasetVersion:
    """The project's dataset version whose hash starts with `ref`, or whose id is `ref`.
    Raises NotFound when none matches, ServiceError when a prefix matches several."""
    versions = DatasetVersion.objects.filter(project=project)
    ref = str(ref)
    match = Q(version__startswith=ref)
    if ref.isdecimal() and len(ref) <= 18:  # an id (in a bigint) or a prefix of digits: either counts
        match |= Q(pk=int(ref))
    found = list(versions.filter(match)[:2]) if ref else []
    if len(found) != 1:
        known = ", ".join(v.version[:12] for v in versions[:10]) or "none"
        problem = "matches several versions" if found else "matches no version"
        error = ServiceError if found else NotFound
        raise error(f"dataset '{ref}' {problem} of project '{project.name}'; versions: {known}")
    return found[0]
