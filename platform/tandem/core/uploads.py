"""Limits on uploaded pair files, checked before an import job is queued.

The importers stream, but a line is read whole: a gzip holding one line of gigabytes would be
inflated into the worker's memory. So an upload is refused (and deleted) when the file as sent,
or unpacked, is over TANDEM_MAX_UPLOAD_MB (413), or a line of a line-based format (JSONL, CSV)
is longer than TANDEM_MAX_LINE_KB (400, naming the line). The scan reads fixed-size pieces, so
checking costs one pass over the file and no more memory than a line's cap.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from pathlib import Path

from django.conf import settings

from labeling.importers.readers import base_suffix

from .services import ServiceError

LINE_FORMATS = {".jsonl", ".ndjson", ".csv"}
PIECE = 1 << 20
FORM_SLACK = 64 * 1024  # a multipart body carries boundaries and the other form fields too


class UploadRefused(ServiceError):
    """An upload over a limit; `http_status` is what the API and pages answer."""

    code = "upload_refused"
    http_status = 400


class UploadTooLarge(UploadRefused):
    code = "upload_too_large"
    http_status = 413


class LineTooLong(UploadRefused):
    code = "line_too_long"


def max_upload_bytes() -> int:
    return int(settings.TANDEM_MAX_UPLOAD_MB * 1024 * 1024)


def max_line_bytes() -> int:
    return int(settings.TANDEM_MAX_LINE_KB * 1024)


def too_large(name: str, size: int | None) -> UploadTooLarge:
    return UploadTooLarge(
        f"{name}: the upload is {size / 1024 / 1024:.1f} MB, over the limit of "
        f"{settings.TANDEM_MAX_UPLOAD_MB} MB (TANDEM_MAX_UPLOAD_MB); split it into smaller files, "
        "or import it from the server's disk with `manage.py import_pairs`"
        if size is not None
        else f"{name}: the upload is over the limit of {settings.TANDEM_MAX_UPLOAD_MB} MB "
        "(TANDEM_MAX_UPLOAD_MB); split it into smaller files"
    )


def check_request_size(content_length: str | None) -> None:
    """Refuse a request whose declared body is over the cap before reading any of it."""
    try:
        size = int(content_length or 0)
    except ValueError:
        return
    if size > max_upload_bytes() + FORM_SLACK:
        raise too_large("request", size)


def check_upload(path: Path) -> None:
    """Raise UploadTooLarge / UploadRefused if the saved upload at `path` breaks a limit."""
    cap = max_upload_bytes()
    if path.stat().st_size > cap:
        raise too_large(path.name, path.stat().st_size)
    line_cap = max_line_bytes() if base_suffix(path) in LINE_FORMATS else None
    try:
        with _open(path) as fh:
            _scan(fh, path.name, cap, line_cap)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        return  # a damaged gzip: the importer reports it with the file's name and what to do


def _open(path: Path):
    if path.suffix == ".gz":
        with path.open("rb") as fh:
            if fh.read(2) == b"\x1f\x8b":
                return gzip.open(path, "rb")
    return path.open("rb")


def _scan(fh, name: str, cap: int, line_cap: int | None) -> None:
    total, line, line_len = 0, 1, 0
    while piece := fh.read(PIECE):
        total += len(piece)
        if total > cap:
            raise too_large(f"{name} (unpacked)", None)
        if line_cap is None:
            continue
        start = 0
        while (end := piece.find(b"\n", start)) != -1:
            if line_len + end - start > line_cap:
                raise _long_line(name, line, line_cap)
            line, line_len, start = line + 1, 0, end + 1
        line_len += len(piece) - start
        if line_len > line_cap:
            raise _long_line(name, line, line_cap)


def _long_line(name: str, line: int, line_cap: int) -> LineTooLong:
    return LineTooLong(
        f"{name}, line {line}: the line is longer than {line_cap // 1024} KB (TANDEM_MAX_LINE_KB); "
        "a pair row is one line of a few texts: check the file's line breaks, or raise the limit"
    )


def delete_upload(path: Path) -> None:
    """Remove an imported upload and its folder (MEDIA_ROOT/uploads/<id>/), nothing else."""
    root = (Path(settings.MEDIA_ROOT) / "uploads").resolve()
    folder = path.resolve().parent
    if folder.parent != root:
        return  # a path outside the upload area (a command's import): never ours to delete
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: something else is in there, leave it
        folder.rmdir()
