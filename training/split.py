"""The held-out split: which exported rows a training run never trains on, to evaluate on.

An ML decision, so it lives with the trainers: only human-labeled rows (`human`, `both`) are
held out, since they are the labels an evaluation can trust; the choice of row is a hash of its
pair id, so every run on a dataset version holds out the same rows, on any machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

HELD_OUT_FRACTION = 0.1
HUMAN_SOURCES = ("human", "both")


def is_held_out(row: dict[str, Any], fraction: float = HELD_OUT_FRACTION) -> bool:
    digest = hashlib.sha256(f"heldout:{row['pair_id']}".encode()).digest()
    return row["source"] in HUMAN_SOURCES and digest[0] / 256 < fraction


def held_out(
    rows: Sequence[dict[str, Any]], fraction: float = HELD_OUT_FRACTION
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training rows, held-out rows): a seeded `fraction` of the human-labeled rows, never trained on."""
    held = [is_held_out(row, fraction) for row in rows]
    return [r for r, h in zip(rows, held, strict=True) if not h], [
        r for r, h in zip(rows, held, strict=True) if h
    ]
