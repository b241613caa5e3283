"""What an importer says about a row it cannot take."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ImportIssue:
    """A bad row (or a bad file, with `line` 0): where, which field, and what to do."""

    file: str
    line: int
    field: str
    message: str
    fatal: bool = False  # the reader cannot go on past this point (bad encoding, bad JSON)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("fatal")
        return d

    def __str__(self) -> str:
        parts = [self.file]
        if self.line:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return f"{', '.join(parts)}: {self.message}"


class RowError(Exception):
    """Raised inside a row parser; the reader turns it into an ImportIssue for that row."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class FormatError(Exception):
    """The file or folder as a whole cannot be read in the requested format."""

    def __init__(self, file: str, message: str):
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message
