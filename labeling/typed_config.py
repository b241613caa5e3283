"""Typed configuration records: a JSON object checked against a frozen dataclass.

Configs arrive as JSON from the API, the pages, the admin and files. A misspelled key that is
silently ignored still changes a config's hash, and a wrong type surfaces later as a
`TypeError` deep inside a job; so every config is read through `typed_record`, which refuses
unknown keys (suggesting the closest valid one), checks each value's type against the field's
annotation and fills in the one default the dataclass declares.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is wrong. `key` is its dotted path (`judges.gpt.params.concurrency`),
    `value` what was given, `options` the valid choices where there is a closed set."""

    def __init__(self, key: str, message: str, value: Any = None, options: tuple[str, ...] = ()) -> None:
        hint = f"; valid: {', '.join(options)}" if options else ""
        super().__init__(f"{key}: {message}{hint}")
        self.key = key
        self.value = value
        self.options = options
        self.message = message


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (tuple, list):
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        return "object"
    return {type(None): "null", bool: "true/false", int: "integer", float: "number", str: "string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _coerce(annotation: Any, value: Any, key: str) -> Any:
    """`value` as `annotation` wants it (a JSON list becomes the annotated tuple or list), or ConfigError."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _coerce(option, value, key)
            except ConfigError:
                continue
    elif origin is Literal:
        options = typing.get_args(annotation)
        if value in options:
            return value
        raise ConfigError(key, f"{value!r} is not one of the choices", value, tuple(map(str, options)))
    elif origin in (tuple, list):
        if isinstance(value, list | tuple):
            (item,) = typing.get_args(annotation)[:1] or (Any,)
            return origin(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    elif origin in (dict, Mapping) or annotation in (dict, Mapping):
        if isinstance(value, dict):
            return value
    elif annotation is Any:
        return value
    elif annotation is type(None):
        if value is None:
            return None
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif annotation in (int, str):
        if isinstance(value, annotation) and not isinstance(value, bool):
            return value
    else:
        raise TypeError(f"typed_record cannot check {annotation!r} ({key})")
    raise ConfigError(key, f"expected {_type_name(annotation)}, got {value!r}", value)


def typed_record(cls: type[T], raw: Any, where: str, **known: Any) -> T:
    """An instance of the frozen dataclass `cls` from the JSON object `raw`.

    `where` is the dotted path of `raw` in its config, used in every error. `known` supplies
    fields that are not read from `raw`. Raises ConfigError naming the key, the value and the
    valid options (unknown keys: the valid keys, the closest first).
    """
    if not isinstance(raw, dict):
        raise ConfigError(where, f"expected an object, got {raw!r}", raw)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in known}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in fields:
            close = difflib.get_close_matches(str(name), list(fields), n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}.{name}", f"unknown key{suggestion}", value, tuple(sorted(fields)))
        values[name] = _coerce(hints[name], value, f"{where}.{name}")
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    if missing:
        raise ConfigError(f"{where}.{missing[0]}", "is required", None)
    try:
        return cls(**values, **known)
    except ConfigError as error:  # a field's own check, keyed by the field
        raise ConfigError(f"{where}.{error.key}", error.message, error.value, error.options) from error
    except ValueError as error:  # the dataclass's own range checks (__post_init__)
        raise ConfigError(where, str(error)) from error
