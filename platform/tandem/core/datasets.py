"""Blend, export and train: freeze what a project knows into a DatasetVersion and train on it.

The blend reads every pair's human votes and one judge's debiased verdict (with its flip), and,
where an audit of that judge fitted a calibration map, applies it before the confidence
threshold. Versions are content hashes of the rows: exporting the same knowledge twice gives the
same version and byte-identical files. Training runs record their config, metrics per step,
final evaluation and artifacts on a TrainingRun, and keep their last checkpoint when they fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from . import routing
from .models import AuditReport, DatasetVersion, HumanLabel, Pair, Project, TrainingRun
from .services import Progress, ServiceError, ShouldCancel


def _training():
    """The training package imports torch lazily only in trainers; blend and export are light."""
    from training import blend, errors, export

    return blend, errors, export


def pair_votes(project: Project, judge: str | None):
    """PairVotes for every pair of the project: human votes, and the judge's verdict exactly as
    routing, the suggestion and the audit see it (`labeling.verdicts`, via `routing.signals`)."""
    from labeling.verdicts import PairVerdict

    blend, _, _ = _training()
    votes: dict[int, list[str]] = {}
    for pair_id, choice in HumanLabel.objects.filter(pair__project=project).values_list("pair_id", "choice"):
        votes.setdefault(pair_id, []).append(choice)
    signals = {s.pair_id: s for s in routing.signals(project, [judge])} if judge else {}
    rows = (
        Pair.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "prompt", "response_a", "response_b")
    )
    out = []
    for pair_id, prompt, a, b in rows.iterator(chunk_size=2000):
        signal = signals.get(pair_id)
        out.append(
            blend.PairVotes(
                pair_id=str(pair_id),
                prompt=prompt,
                response_a=a,
                response_b=b,
                human_votes=tuple(votes.get(pair_id, ())),
                ai=PairVerdict(signal.choice, signal.p_a, signal.flipped) if signal else None,
            )
        )
    return out


def latest_calibration(project: Project, judge: str | None) -> AuditReport | None:
    if not judge:
        return None
    return AuditReport.objects.filter(project=project, judge=judge, calibration__isnull=False).first()


def export_dataset(
    project: Project,
    policy_source,
    formats: list[str],
    out_dir: str | Path,
    *,
    judge: str | None = None,
    dry_run: bool = False,
    user=None,
) -> dict:
    """Blend and (unless `dry_run`) export; returns the summary and, when written, the version.

    Each version's files live in `out_dir/versions/<version>/`, written in a staging folder and
    renamed into place in one step, and only then recorded as a DatasetVersion: an export killed
    half-way leaves no version and no half-written version folder, and a later export of other
    rows to the same folder cannot change a recorded version's files. `out_dir/preferences.*`
    are hard links to the latest export (what a user opening the folder looks for)."""
    blend, errors, export = _training()
    try:
        policy = blend.BlendPolicy.load(policy_source) if policy_source else blend.BlendPolicy()
    except errors.TrainingError as err:
        raise ServiceError(str(err)) from err
    judge = judge or _default_judge(project)
    calibration = latest_calibration(project, judge)
    result = blend.blend(pair_votes(project, judge), policy, calibration.calibration if calibration else None)
    summary = {**result.summary.to_dict(), "judge": judge, "calibrated": calibration is not None}
    if dry_run:
        return {"dry_run": True, "summary": summary, "text": result.summary.format()}
    out = Path(out_dir)
    _remove_abandoned_staging(out)
    staging = out / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        written = export.export(result.rows, staging, formats)
        written.paths = _publish(staging, out / "versions" / written.version, written.paths)
    except errors.TrainingError as err:
        raise ServiceError(str(err)) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _link_latest(out, written.paths)
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
        "dry_run": False,
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
        return routing.project_judges(project)[0]
    except ServiceError:
        return None  # no judgments: a human-only blend


def _policy_dict(policy) -> dict:
    from dataclasses import asdict

    return asdict(policy)


def find_version(project: Project, prefix: str) -> DatasetVersion:
    found = list(DatasetVersion.objects.filter(project=project, version__startswith=prefix)[:2])
    if len(found) != 1:
        known = (
            ", ".join(v.version[:12] for v in DatasetVersion.objects.filter(project=project)[:10]) or "none"
        )
        problem = "matches several versions" if found else "matches no version"
        raise ServiceError(f"dataset '{prefix}' {problem} of project '{project.name}'; versions: {known}")
    return found[0]


def held_out(rows: list[dict], fraction: float = 0.1) -> tuple[list[dict], list[dict]]:
    """(training rows, held-out human-labeled rows): a seeded 10% of the human rows, never trained on."""

    def is_held(row):
        digest = hashlib.sha256(f"heldout:{row['pair_id']}".encode()).digest()
        return row["source"] in ("human", "both") and digest[0] / 256 < fraction

    return [r for r in rows if not is_held(r)], [r for r in rows if is_held(r)]


def train_run(
    project: Project,
    version: DatasetVersion,
    method: str,
    config_source,
    *,
    output_dir: str | Path | None = None,
    reward_fn=None,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> TrainingRun:
    """Train `method` on the version's rows; the TrainingRun says how it went (also on failure).
    A trained policy is then evaluated against its starting model (policy_eval.evaluate_run)."""
    from training import config as tconfig
    from training import runner

    from . import policy_eval

    _, errors, export = _training()
    try:
        config = tconfig.load_config(method, config_source)
    except errors.TrainingError as err:
        raise ServiceError(str(err)) from err
    source = version.files.get("jsonl") or version.files.get("parquet") or version.files.get("hf")
    if not source or not Path(source).exists():
        raise ServiceError(
            f"dataset {version.version[:12]} has no exported file here: run `manage.py export` again"
        )
    rows, eval_rows = held_out(export.read_rows(source))
    out = Path(output_dir or Path(settings.VAR_DIR) / "runs" / f"{project.name}-{method}-{int(time.time())}")
    run = TrainingRun.objects.create(
        project=project, dataset=version, method=method, config=_config_dict(config), output_dir=str(out)
    )
    metrics: list[dict] = []

    def on_metrics(step: int, values: dict) -> None:
        metrics.append({"step": step, **values})
        TrainingRun.objects.filter(pk=run.pk).update(metrics=metrics)
        if progress is not None:
            progress(step, getattr(config, "max_steps", None))

    try:
        result = runner.train(
            config,
            rows,
            out,
            on_metrics=on_metrics,
            should_cancel=should_cancel,
            reward_fn=reward_fn,
            eval_rows=eval_rows or None,
        )
    except (errors.ConfigError, errors.EmptyDataset, errors.ModelPathError) as err:
        run.delete()  # refused before training started: nothing ran, nothing to keep
        raise ServiceError(str(err)) from err
    except errors.TrainingCancelled as err:
        _finish(
            run,
            TrainingRun.Status.CANCELLED,
            metrics,
            str(err),
            {"last_checkpoint": str(err.last_checkpoint)},
        )
    except (errors.TrainingFailed, errors.TrainingError) as err:
        last = getattr(err, "last_checkpoint", None)
        _finish(
            run, TrainingRun.Status.FAILED, metrics, str(err), {"last_checkpoint": str(last)} if last else {}
        )
    else:
        run.final_eval = {
            **result.final_eval,
            "held_out_rows": len(eval_rows),
            "seconds": round(result.seconds, 1),
        }
        if method in policy_eval.POLICY_METHODS:
            run.final_eval["policy_eval"] = (
                policy_eval.evaluate_run(project, version, config, eval_rows, result.artifacts["model"])
                if config.eval_prompts
                else {"win_rate": None, "reason": "turned off in the config (eval_prompts = 0)"}
            )
        _finish(run, TrainingRun.Status.SUCCEEDED, result.metrics or metrics, "", result.artifacts)
    return run


def _finish(run: TrainingRun, status: str, metrics: list, error: str, artifacts: dict) -> None:
    run.status, run.metrics, run.error, run.finished_at = status, metrics, error, timezone.now()
    run.artifacts = {k: str(v) for k, v in artifacts.items()}
    run.save()


def _config_dict(config) -> dict:
    from dataclasses import asdict, is_dataclass

    data = asdict(config) if is_dataclass(config) else dict(vars(config))
    return {
        k: v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)
        for k, v in data.items()
    }
