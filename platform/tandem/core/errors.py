"""Service errors: a class per kind of failure, each with a stable `code` and its HTTP status.

Services raise these; the CLI shows `message`, the pages show it as an error message, and the
API turns each into `{"code", "message"}` with its own `http_status` in one place
(tandem.api.errors). `message` says what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .services import ImportSummary


class ServiceError(Exception):
    """A failure the user can act on; `code` is stable, `message` says what to do."""

    code = "error"
    http_status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """What was asked for does not exist (in this project)."""

    code = "not_found"
    http_status = 404


class Conflict(ServiceError):
    """The request clashes with the current state: a job of that kind is already active for the
    project, an idempotency key was used for another request, a finished run cannot be cancelled."""

    code = "conflict"
    http_status = 409


class NotReady(ServiceError):
    """An earlier stage has not run yet (no judgments to audit, nothing routed to push)."""

    code = "not_ready"
    http_status = 409


class ConfigInvalid(ServiceError):
    """A config or input value does not check; `key` is the dotted path of the wrong value.

    Built from a config error that carries its own `key` (labeling.typed_config.ConfigError) or
    from a message and the key it is about.
    """

    code = "config_invalid"

    def __init__(self, error, key: str | None = None) -> None:
        super().__init__(str(error))
        self.key = key if key is not None else getattr(error, "key", "")


class Cancelled(ServiceError):
    """The run stopped because someone asked it to; nothing half-done was kept."""

    code = "cancelled"
    http_status = 409


class ImportFailed(ServiceError):
    """Nothing of the file was imported; `summary` lists the rows that failed and why."""

    code = "import_failed"

    def __init__(self, message: str, summary: ImportSummary):
        super().__init__(message)
        self.summary = summary
