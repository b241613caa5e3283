"""Checks for one field of one row; each failure is a RowError that says what was expected."""

from __future__ import annotations

import json
import re
from typing import Any

from labeling.records import Choice

from .errors import RowError

DEFAULT_MAX_CHARS = 200_000
SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair: JSON and Python escapes allow one alone


def text(row: dict, name: str, *, max_chars: int, required: bool = True, blank_ok: bool = False) -> str:
    """A string field: present, a string, not too long, no NUL and no lone surrogate (a JSON
    escape like "\\ud800" without its pair: neither UTF-8 nor a database can hold them)."""
    if name not in row or row[name] is None:
        if required:
            raise RowError(name, "is missing; every row needs it")
        return ""
    value = row[name]
    if not isinstance(value, str):
        raise RowError(name, f"must be text, got {_kind(value)}")
    if "\x00" in value:
        raise RowError(name, "contains a NUL character (\\x00), which cannot be stored; remove it")
    if not value.isascii() and (half := SURROGATE.search(value)):
        raise RowError(
            name,
            f"contains half of a UTF-16 surrogate pair (\\u{ord(half.group()):04x}, at character "
            f"{half.start() + 1:,}), which is not text and cannot be stored; re-export the file",
        )
    if len(value) > max_chars:
        raise RowError(
            name,
            f"is {len(value):,} characters long; the limit is {max_chars:,} "
            "(raise TANDEM_MAX_FIELD_CHARS if this is intended)",
        )
    if required and not blank_ok and not value.strip():
        raise RowError(name, "is empty")
    return value


def label(value: Any, name: str, mapping: dict[str, Choice]) -> Choice:
    key = str(value).strip().lower() if value is not None else ""
    if key not in mapping:
        allowed = ", ".join(repr(k) for k in mapping)
        raise RowError(name, f"is {value!r}; expected one of {allowed}")
    return mapping[key]


def metadata(row: dict, name: str = "metadata") -> dict:
    """A JSON object, given as an object (JSONL) or as JSON text (CSV)."""
    value = row.get(name)
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise RowError(name, f"is not valid JSON ({err.msg}); give a JSON object") from err
    if not isinstance(value, dict):
        raise RowError(name, f"must be a JSON object, got {_kind(value)}")
    _check_depth(value, name)
    return value


def _check_depth(value: Any, name: str, depth: int = 0) -> None:
    if depth > 20:
        raise RowError(name, "is nested more than 20 levels deep; flatten it")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, name, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, name, depth + 1)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )
