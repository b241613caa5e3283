"""Freeze preference rows into an immutable, content-addressed dataset version and write it.

The version id is the sha256 of the rows' canonical JSON (sorted by pair_id, sorted keys, no
whitespace, the `version` column left out since it *is* the hash), so the same rows always get
the same id and every format written from them is byte-identical on every run: JSONL,
Parquet, an HF `datasets` folder (save_to_disk, loadable with load_from_disk) and CSV (with
spreadsheet formulas neutralized: a cell that Excel would run is prefixed with a quote).

A million rows of real text do not fit in memory twice, so `export_sorted` never holds them:
rows arrive in pair_id order, are hashed and spooled one at a time, and each format is then
written from the spool, Parquet and Arrow in bounded row groups (bench/export_memory.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.blend import PreferenceRow
from training.errors import ConfigError, EmptyDataset

COLUMNS = ("prompt", "chosen", "rejected", "source", "weight", "p_chosen", "pair_id", "version")
FLOAT_COLUMNS = ("weight", "p_chosen")
FORMATS = ("jsonl", "parquet", "hf", "csv")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ROW_GROUP_ROWS = 100_000  # rows per Parquet row group / Arrow batch, at most
ROW_GROUP_BYTES = 16 * 1024 * 1024  # characters of text per row group, at most


@dataclass(frozen=True)
class FrozenDataset:
    """Rows sorted by pair_id with `version` set to the content hash."""

    version: str
    rows: tuple[dict[str, Any], ...]


@dataclass
class ExportResult:
    version: str
    n_rows: int
    paths: dict[str, Path] = field(default_factory=dict)
    counts_by_source: dict[str, int] = field(default_factory=dict)


def _as_dict(row: PreferenceRow | Mapping[str, Any]) -> dict[str, Any]:
    data = row.to_dict() if isinstance(row, PreferenceRow) else dict(row)
    missing = [c for c in COLUMNS if c not in data and c != "version"]
    if missing:
        raise ConfigError(f"row {data.get('pair_id', '?')!r} lacks column(s) {', '.join(missing)}")
    out = {c: data.get(c, "") for c in COLUMNS}
    for c in FLOAT_COLUMNS:
        out[c] = float(out[c])
    for c in COLUMNS:
        if c not in FLOAT_COLUMNS:
            out[c] = str(out[c])
    return out


def _content_json(row: Mapping[str, Any]) -> bytes:
    """One row as it appears inside canonical_json: the content columns, sorted keys, compact."""
    content = {k: row[k] for k in COLUMNS if k != "version"}
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def canonical_json(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The bytes hashed for the version id: a JSON list of the rows' content columns, sorted keys,
    compact (the same bytes `_SortedRows` hashes one row at a time)."""
    return b"[" + b",".join(_content_json(r) for r in rows) + b"]"


class _SortedRows:
    """Hashes rows arriving in pair_id order, one at a time, into the version id: the sha256 of
    canonical_json of them all, with no row kept. Counts rows and sources on the way."""

    def __init__(self):
        self._sha = hashlib.sha256(b"[")
        self.last: str | None = None
        self.n_rows = 0
        self.sources: dict[str, int] = {}

    def add(self, row: Mapping[str, Any]) -> bytes:
        """The row's content JSON, after hashing it; ConfigError for a pair_id twice or out of order."""
        pair_id = row["pair_id"]
        if self.last is not None and pair_id <= self.last:
            if pair_id == self.last:
                raise ConfigError(f"pair_id {pair_id!r} appears twice; pair ids must be unique")
            order = f"pair_id {pair_id!r} comes after {self.last!r}"
            raise ConfigError(f"{order}; rows must be sorted by pair_id")
        content = _content_json(row)
        self._sha.update(b"," + content if self.n_rows else content)
        self.last, self.n_rows = pair_id, self.n_rows + 1
        self.sources[row["source"]] = self.sources.get(row["source"], 0) + 1
        return content

    def version(self) -> str:
        """The content hash; raises EmptyDataset when no row came."""
        if not self.n_rows:
            raise EmptyDataset("the dataset has no rows: the blend policy kept nothing (see its dry run)")
        done = self._sha.copy()
        done.update(b"]")
        return done.hexdigest()


def freeze(rows: Iterable[PreferenceRow | Mapping[str, Any]]) -> FrozenDataset:
    """Sort by pair_id, hash, stamp the version (in memory: `export` streams instead). Raises
    EmptyDataset (no rows) or ConfigError (a pair_id twice: the order, and so the hash, would be
    ambiguous)."""
    data = sorted((_as_dict(r) for r in rows), key=lambda r: r["pair_id"])
    hashed = _SortedRows()
    for row in data:
        hashed.add(row)
    version = hashed.version()
    return FrozenDataset(version=version, rows=tuple({**r, "version": version} for r in data))


def _replace_atomically(tmp: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(tmp, target)


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n")
    _replace_atomically(tmp, path)
    return path


def arrow_schema():
    """The fixed schema of every Arrow-based format: strings, float64, in COLUMNS order."""
    import pyarrow as pa

    return pa.schema([(c, pa.float64() if c in FLOAT_COLUMNS else pa.string()) for c in COLUMNS])


def arrow_batches(rows: Iterable[Mapping[str, Any]]):
    """pyarrow Tables of consecutive rows, each up to ROW_GROUP_ROWS rows or ROW_GROUP_BYTES of
    text: the unit Parquet and the HF folder are written in, so memory holds one of them. (A
    dataset larger than one batch is written in other row groups, or Arrow buffers, than the
    single-table writer before it used: the same rows and version, not the same bytes.)"""
    import pyarrow as pa

    schema, batch, size = arrow_schema(), [], 0
    for row in rows:
        batch.append(row)
        size += len(row["prompt"]) + len(row["chosen"]) + len(row["rejected"])
        if len(batch) >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
            yield pa.Table.from_pylist(batch, schema=schema)
            batch, size = [], 0
    if batch:
        yield pa.Table.from_pylist(batch, schema=schema)


def write_parquet(rows: Iterable[Mapping[str, Any]], path: Path) -> Path:
    import pyarrow.parquet as pq

    tmp = path.with_name(path.name + ".tmp")
    with pq.ParquetWriter(tmp, arrow_schema(), compression="zstd", write_statistics=False) as writer:
        for table in arrow_batches(rows):
            writer.write_table(table)
    _replace_atomically(tmp, path)
    return path


def write_hf(rows: Iterable[Mapping[str, Any]], path: Path) -> Path:
    """save_to_disk with the version as fingerprint (a random one would break byte identity),
    then load_from_disk to prove the folder loads. The rows go first to an Arrow file that the
    dataset memory-maps, so no copy of them is held in memory."""
    import pyarrow as pa
    from datasets import Dataset, load_from_disk

    tmp, arrow = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".arrow.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_file(sink, arrow_schema()) as writer:
            for table in arrow_batches(rows):
                writer.write_table(table)
        with pa.memory_map(str(arrow)) as source:
            table = pa.ipc.open_file(source).read_all()
            version = table.column("version")[0].as_py() if table.num_rows else ""
            Dataset(table, fingerprint=version[:16]).save_to_disk(str(tmp))
            n_rows = table.num_rows
            del table
    finally:
        arrow.unlink(missing_ok=True)
    loaded = load_from_disk(str(tmp))
    if loaded.num_rows != n_rows or loaded[0]["version"] != version:
        raise OSError(f"{tmp}: the saved dataset does not read back the same")
    del loaded
    _replace_atomically(tmp, path)
    return path


def neutralize_formula(value: Any) -> Any:
    """Prefix a quote to strings a spreadsheet would evaluate (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(rows: Iterable[Mapping[str, Any]], path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: neutralize_formula(v) for k, v in row.items()})
    _replace_atomically(tmp, path)
    return path


WRITERS = {
    "jsonl": (write_jsonl, ".jsonl"),
    "parquet": (write_parquet, ".parquet"),
    "hf": (write_hf, ""),
    "csv": (write_csv, ".csv"),
}


def export(
    rows: Iterable[PreferenceRow | Mapping[str, Any]],
    out_dir: str | Path,
    formats: Sequence[str] = ("jsonl",),
    name: str = "preferences",
) -> ExportResult:
    """Freeze `rows` (in any order: they are sorted here, in memory) and write each format under
    `out_dir` as `<name>.<ext>` (`hf`: a folder `<name>`); see export_sorted."""
    _check_formats(formats)
    ordered = sorted((_as_dict(r) for r in rows), key=lambda r: r["pair_id"])
    return export_sorted(ordered, out_dir, formats, name)


def export_sorted(
    rows: Iterable[PreferenceRow | Mapping[str, Any]],
    out_dir: str | Path,
    formats: Sequence[str] = ("jsonl",),
    name: str = "preferences",
) -> ExportResult:
    """Write rows that arrive sorted by pair_id, holding one at a time: each row's content goes to
    a spool file in `out_dir` as it is hashed, and once the version id is known every format is
    written from the spool, stamped with it. Returns the version id and paths. Raises
    ConfigError (unknown format, a pair id twice or out of order) or EmptyDataset before writing
    any format."""
    _check_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spool = out / f".{name}.rows"
    try:
        hashed = _SortedRows()
        with spool.open("wb") as fh:
            for row in rows:
                fh.write(hashed.add(_as_dict(row)) + b"\n")
        version = hashed.version()
        result = ExportResult(version=version, n_rows=hashed.n_rows)
        for fmt in dict.fromkeys(formats):
            writer, suffix = WRITERS[fmt]
            result.paths[fmt] = writer(_spooled(spool, version), out / f"{name}{suffix}")
    finally:
        spool.unlink(missing_ok=True)
    result.counts_by_source = dict(sorted(hashed.sources.items()))
    return result


def _spooled(spool: Path, version: str) -> Iterator[dict[str, Any]]:
    """The spooled rows back, in order, each with its `version` (binary lines: a JSON string may
    hold a U+2028 that text-mode line splitting would cut at)."""
    with spool.open("rb") as fh:
        for line in fh:
            yield {**json.loads(line), "version": version}


def _check_formats(formats: Sequence[str]) -> None:
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise ConfigError(f"unknown export format {unknown[0]!r}; valid formats: {', '.join(FORMATS)}")


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows back from an exported JSONL file, Parquet file or HF folder (for training)."""
    path = Path(path)
    if path.is_dir():
        from datasets import load_from_disk

        return [dict(r) for r in load_from_disk(str(path))]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    raise ConfigError(f"{path}: expected a .jsonl or .parquet file or a datasets folder")
