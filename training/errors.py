"""Errors the training package raises: each has a stable `code` and a message saying what to do.

The platform stores `code` and `str(error)` on the TrainingRun / DatasetVersion row; nothing
here knows how they are shown.
"""

from __future__ import annotations


class TrainingError(Exception):
    """Base class: `code` is stable across releases (the platform may branch on it)."""

    code = "training_error"


class ConfigError(TrainingError, ValueError):
    """A policy or config file is unreadable, has an unknown key, or a value out of range."""

    code = "bad_config"


class EmptyDataset(TrainingError, ValueError):
    """No rows to train on (or none left after the blend policy)."""

    code = "empty_dataset"


class ModelPathError(TrainingError):
    """The model (or reward model) named in the config cannot be found."""

    code = "model_not_found"


class TrainingFailed(TrainingError):
    """Training started and then died; `last_checkpoint` is where to resume (None: none saved)."""

    code = "training_failed"

    def __init__(self, message: str, last_checkpoint: str | None = None, metrics: list | None = None):
        super().__init__(message)
        self.last_checkpoint = last_checkpoint
        self.metrics = metrics or []


class TrainingCancelled(TrainingError):
    """The caller's cancel hook said stop; a checkpoint was saved first (see `last_checkpoint`)."""

    code = "cancelled"

    def __init__(self, message: str = "training was cancelled", last_checkpoint: str | None = None):
        super().__init__(message)
        self.last_checkpoint = last_checkpoint
