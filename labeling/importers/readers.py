"""Streaming readers: yield (line, row dict) from JSONL, CSV, Parquet, JSON arrays, HF datasets.

Nothing here loads a whole file: JSONL and CSV go line by line, Parquet by record batch,
JSON arrays through ijson, HF datasets through the memory-mapped Arrow table. `.gz` files are
decompressed on the fly. Decoding is strict UTF-8: a wrong encoding is an error naming the line,
never silently replaced characters.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import FormatError, ImportIssue

Row = tuple[int, Any]  # (line or 1-based row number, the decoded row)

csv.field_size_limit(sys.maxsize)


class _CheckedGzip(gzip.GzipFile):
    """A gzip stream whose damage is a FormatError naming the file, not an EOFError or
    zlib.error traceback from deep inside a reader (a truncated download, a corrupt block)."""

    def _checked(self, method, *args):
        try:
            return method(*args)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            message = f"is a damaged gzip file ({err}); it may be truncated: compress or download it again"
            raise FormatError(self.name, message) from err

    def read(self, size=-1):
        return self._checked(super().read, size)

    def read1(self, size=-1):
        return self._checked(super().read1, size)

    def readline(self, size=-1):
        return self._checked(super().readline, size)

    def readinto(self, buffer):
        return self._checked(super().readinto, buffer)

    def peek(self, n):
        return self._checked(super().peek, n)


def open_binary(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        with path.open("rb") as fh:  # not gzip at all: say so, not a BadGzipFile traceback mid-import
            if fh.read(2) != b"\x1f\x8b":
                raise FormatError(str(path), "is not gzip-compressed, yet its name ends in .gz")
        return _CheckedGzip(str(path), "rb")
    return path.open("rb")


def base_suffix(path: Path) -> str:
    """The format suffix, ignoring a trailing .gz (`pairs.jsonl.gz` -> `.jsonl`)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _encoding_issue(path: Path, line: int, err: UnicodeDecodeError) -> ImportIssue:
    return ImportIssue(
        str(path),
        line,
        "",
        f"is not valid UTF-8 (byte 0x{err.object[err.start]:02x} at column {err.start + 1}); "
        "re-save the file as UTF-8",
        fatal=True,
    )


def read_jsonl(path: Path) -> Iterator[Row | ImportIssue]:
    with open_binary(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw or raw.isspace():  # (strip() would copy every line)
                continue
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                yield _encoding_issue(path, number, err)
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as err:
                yield ImportIssue(
                    str(path),
                    number,
                    "",
                    f"is not valid JSON ({err.msg} at column {err.colno}); each line must be one JSON object",
                )
            except RecursionError:
                yield ImportIssue(str(path), number, "", "is nested too deeply to be a pair row")


def read_csv(path: Path) -> Iterator[Row | ImportIssue]:
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        reader = csv.DictReader(text)
        try:
            for record in reader:
                if None in record:  # more cells than header columns
                    yield ImportIssue(
                        str(path),
                        reader.line_num,
                        "",
                        f"has {len(record) - 1 + len(record[None])} cells but the header has "
                        f"{len(reader.fieldnames or [])} columns; quote cells that contain commas",
                    )
                    continue
                yield reader.line_num, record
        except UnicodeDecodeError as err:
            yield _encoding_issue(path, reader.line_num + 1, err)
        except csv.Error as err:
            yield ImportIssue(str(path), reader.line_num, "", f"is not valid CSV ({err})", True)


def read_parquet(path: Path) -> Iterator[Row | ImportIssue]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a bad file
        raise FormatError(str(path), f"is not a readable Parquet file ({err})") from err
    number = 0
    for batch in parquet.iter_batches(batch_size=2048):
        for record in batch.to_pylist():
            number += 1
            yield number, record


def read_hf_dataset(path: Path) -> Iterator[Row | ImportIssue]:
    import datasets

    try:
        data = datasets.load_from_disk(str(path))
    except Exception as err:  # datasets raises FileNotFoundError or its own errors
        raise FormatError(
            str(path), f"is not a Hugging Face dataset saved with save_to_disk ({err})"
        ) from err
    if isinstance(data, datasets.DatasetDict):
        raise FormatError(str(path), f"holds several splits ({', '.join(data)}); point at one split's folder")
    yield from enumerate(data, start=1)


def read_json_array(path: Path) -> Iterator[Row | ImportIssue]:
    """Items of a top-level JSON array, streamed with ijson (row numbers are 1-based items)."""
    import ijson

    with open_binary(path) as fh:
        number = 0
        try:
            for number, item in enumerate(ijson.items(fh, "item", use_float=True), start=1):
                yield number, item
        except UnicodeDecodeError as err:
            yield _encoding_issue(path, number + 1, err)
        except ijson.JSONError as err:
            yield ImportIssue(
                str(path),
                number + 1,
                "",
                f"is not valid JSON after item {number} ({err}); the file must be one JSON array",
                fatal=True,
            )


def read_table(path: Path) -> Iterator[Row | ImportIssue]:
    """Pick the reader from the file's suffix (a folder is an HF dataset)."""
    if path.is_dir():
        return read_hf_dataset(path)
    suffix = base_suffix(path)
    readers = {
        ".jsonl": read_jsonl,
        ".ndjson": read_jsonl,
        ".csv": read_csv,
        ".parquet": read_parquet,
        ".json": read_json_array,
    }
    if suffix not in readers:
        raise FormatError(
            str(path),
            f"has an unknown suffix '{suffix}'; use .jsonl, .csv, .parquet, .json "
            "(optionally .gz) or a Hugging Face dataset folder",
        )
    return readers[suffix](path)


def count_rows(path: Path) -> int | None:
    """A cheap row count for progress bars, or None where it would mean reading everything."""
    if path.is_dir():
        return None
    suffix = base_suffix(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # a broken file is reported by the reader itself
            return None
    if suffix in {".jsonl", ".ndjson", ".csv"} and path.suffix != ".gz":
        with path.open("rb") as fh:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        return max(lines - (1 if suffix == ".csv" else 0), 0)
    return None
