"""How the report writes numbers, and why a number is missing.

A value that cannot be computed is `None` in the JSON and its dotted key gets an entry in the
report's top-level `reasons` dict. Sections receive a `Reasons` scoped to their own prefix, so
they never spell out full paths and a made-up default cannot slip in silently.
"""

from __future__ import annotations

import math


class Reasons:
    """Collects `dotted.key -> reason` for every null in the report."""

    def __init__(self, store: dict | None = None, prefix: str = ""):
        self._store = {} if store is None else store
        self._prefix = prefix

    def scoped(self, name: str) -> Reasons:
        """The same collector, with `name.` prepended to every key."""
        return Reasons(self._store, f"{self._prefix}{name}.")

    def null(self, key: str, reason: str) -> None:
        """Record why `key` is missing and return None, to be stored as the value."""
        self._store[f"{self._prefix}{key}"] = reason

    def as_dict(self) -> dict:
        return dict(sorted(self._store.items()))


def number(value, digits: int = 6):
    """A JSON-safe float (rounded), or None for NaN / inf / None."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, digits)


def fraction(num, den):
    """num / den as a rounded float, None when den is zero."""
    den = float(den)
    return number(float(num) / den) if den > 0 else None
