"""Importers: turn a file (or a data set's folder) into a stream of ImportRows or ImportIssues.

`read(path, fmt)` is the one entry point. Every reader streams; a bad row comes out as an
ImportIssue naming the file, line and field, and the caller decides (all-or-nothing by default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from labeling.records import ImportRow

from .errors import FormatError, ImportIssue
from .fields import DEFAULT_MAX_CHARS
from .llmbar import read_llmbar
from .mtbench import read_mtbench
from .pandalm import read_pandalm
from .readers import count_rows
from .tables import read_hh_rlhf, read_pairs, read_trl

Reader = Callable[[Path, int], Iterator[ImportRow | ImportIssue]]

FORMATS: dict[str, Reader] = {
    "pairs": read_pairs,
    "trl": read_trl,
    "llmbar": read_llmbar,
    "mtbench": read_mtbench,
    "pandalm": read_pandalm,
    "hh-rlhf": read_hh_rlhf,
}


def read(path: str | Path, fmt: str, max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[ImportRow | ImportIssue]:
    """Stream the rows of `path` in format `fmt`.

    Raises FormatError when the path is missing, the format unknown, or the file as a whole is
    unreadable in that format (before any row is produced).
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise FormatError(str(path), f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise FormatError(str(path), "does not exist")
    return _preferences_only(FORMATS[fmt](path, max_chars))


SAME_RESPONSES = (
    "is the same text as response_a: the pair carries no preference (in DPO it would be chosen == "
    "rejected); remove the row, or import with --skip-invalid to list it in the report"
)


def _preferences_only(rows: Iterator[ImportRow | ImportIssue]) -> Iterator[ImportRow | ImportIssue]:
    """Every format's rows, with a pair of two identical responses turned into an issue."""
    for row in rows:
        if isinstance(row, ImportRow) and row.pair.response_a == row.pair.response_b:
            yield ImportIssue(row.location.file, row.location.line, "response_b", SAME_RESPONSES)
        else:
            yield row


def estimate_rows(path: str | Path, fmt: str) -> int | None:
    """Rows to expect, for progress bars; None when only a full read would tell."""
    return count_rows(Path(path)) if fmt in {"pairs", "trl", "mtbench", "hh-rlhf"} else None


__all__ = ["FORMATS", "FormatError", "ImportIssue", "estimate_rows", "read"]
