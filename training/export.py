"""Freeze preference rows into an immutable, content-addressed dataset version and write it.

The version id is the sha256 of the rows' canonical JSON (sorted by pair_id, sorted keys, no
whitespace, the `version` column left out since it *is* the hash), so the same rows always get
the same id and every format written from them is byte-identical on every run: JSONL,
Parquet, an HF `datasets` folder (save_to_disk, loadable with load_from_disk) and CSV (with
spreadsheet formulas neutralized: a cell that Excel would run is prefixed with a quote).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.blend import PreferenceRow
from training.errors import ConfigError, EmptyDataset

COLUMNS = ("prompt", "chosen", "rejected", "source", "weight", "p_chosen", "pair_id", "version")
FLOAT_COLUMNS = ("weight", "p_chosen")
FORMATS = ("jsonl", "parquet", "hf", "csv")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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


def canonical_json(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The bytes hashed for the version id: content columns only, sorted keys, compact."""
    content = [{k: r[k] for k in COLUMNS if k != "version"} for r in rows]
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def freeze(rows: Iterable[PreferenceRow | Mapping[str, Any]]) -> FrozenDataset:
    """Sort by pair_id, hash, stamp the version. Raises EmptyDataset (no rows) or ConfigError
    (a pair_id twice: the order, and so the hash, would be ambiguous)."""
    data = sorted((_as_dict(r) for r in rows), key=lambda r: r["pair_id"])
    if not data:
        raise EmptyDataset("the dataset has no rows: the blend policy kept nothing (see its dry run)")
    for before, after in itertools.pairwise(data):
        if before["pair_id"] == after["pair_id"]:
            raise ConfigError(f"pair_id {before['pair_id']!r} appears twice; pair ids must be unique")
    version = hashlib.sha256(canonical_json(data)).hexdigest()
    return FrozenDataset(version=version, rows=tuple({**r, "version": version} for r in data))


def _replace_atomically(tmp: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(tmp, target)


def write_jsonl(frozen: FrozenDataset, path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for row in frozen.rows:
            fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n")
    _replace_atomically(tmp, path)
    return path


def arrow_table(frozen: FrozenDataset):
    """A pyarrow Table with a fixed schema (strings, float64), in COLUMNS order."""
    import pyarrow as pa

    schema = pa.schema([(c, pa.float64() if c in FLOAT_COLUMNS else pa.string()) for c in COLUMNS])
    return pa.Table.from_pylist(list(frozen.rows), schema=schema)


def write_parquet(frozen: FrozenDataset, path: Path) -> Path:
    import pyarrow.parquet as pq

    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(arrow_table(frozen), tmp, compression="zstd", write_statistics=False)
    _replace_atomically(tmp, path)
    return path


def write_hf(frozen: FrozenDataset, path: Path) -> Path:
    """save_to_disk with the version as fingerprint (a random one would break byte identity),
    then load_from_disk to prove the folder loads."""
    from datasets import Dataset, load_from_disk

    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    Dataset(arrow_table(frozen), fingerprint=frozen.version[:16]).save_to_disk(str(tmp))
    loaded = load_from_disk(str(tmp))
    if loaded.num_rows != len(frozen.rows) or loaded[0]["version"] != frozen.version:
        raise OSError(f"{tmp}: the saved dataset does not read back the same")
    del loaded
    _replace_atomically(tmp, path)
    return path


def neutralize_formula(value: Any) -> Any:
    """Prefix a quote to strings a spreadsheet would evaluate (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(frozen: FrozenDataset, path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in frozen.rows:
        writer.writerow({k: neutralize_formula(v) for k, v in row.items()})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8", newline="")
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
    """Freeze `rows` and write each format under `out_dir` as `<name>.<ext>` (`hf`: a folder
    `<name>`). Returns the version id and paths. Raises ConfigError (unknown format, duplicate
    pair ids) or EmptyDataset before writing anything."""
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise ConfigError(f"unknown export format {unknown[0]!r}; valid formats: {', '.join(FORMATS)}")
    frozen = freeze(rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(version=frozen.version, n_rows=len(frozen.rows))
    for fmt in dict.fromkeys(formats):
        writer, suffix = WRITERS[fmt]
        result.paths[fmt] = writer(frozen, out / f"{name}{suffix}")
    sources: dict[str, int] = {}
    for row in frozen.rows:
        sources[row["source"]] = sources.get(row["source"], 0) + 1
    result.counts_by_source = dict(sorted(sources.items()))
    return result


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
