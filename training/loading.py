"""Reading policy and config files (JSON or TOML) into dataclasses, strictly.

A typo in a config key silently falling back to a default is the classic way to train the
wrong thing for hours, so unknown keys are errors that name the key and list the valid ones.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from labeling.typed_config import ConfigError as TypedConfigError
from labeling.typed_config import typed_record
from training.errors import ConfigError

T = TypeVar("T")


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level table of a `.json` or `.toml` file. Raises ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table/object, not {type(data).__name__}")
    return data


def check_keys(data: Mapping[str, Any], valid: list[str], where: str) -> None:
    """Raise ConfigError on the first unknown key, listing the valid keys."""
    for key in data:
        if key not in valid:
            raise ConfigError(f"unknown key {key!r} in {where}; valid keys: {', '.join(sorted(valid))}")


def dataclass_from_mapping(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    """`cls` from `data` through the platform's one typed-config reader (`typed_record`): unknown
    keys (with the closest valid one), wrong types and the dataclass's own range checks all
    become a ConfigError that names `where` and the key."""
    try:
        return typed_record(cls, dict(data), where)
    except TypedConfigError as exc:
        raise ConfigError(_message(exc, where)) from exc


def _message(exc: TypedConfigError, where: str) -> str:
    key = exc.key.removeprefix(f"{where}.")
    if exc.message.startswith("unknown key"):
        suggestion = exc.message.removeprefix("unknown key").strip(" ()")
        return f"unknown key {key!r} in {where}; valid keys: {', '.join(exc.options)}" + (
            f"; {suggestion}" if suggestion else ""
        )
    return str(exc)


def load_dataclass(cls: type[T], source: str | Path | Mapping[str, Any]) -> T:
    """`cls` from a file path (JSON/TOML) or an already-parsed mapping."""
    if isinstance(source, Mapping):
        return dataclass_from_mapping(cls, source, cls.__name__)
    return dataclass_from_mapping(cls, read_mapping(source), str(source))
