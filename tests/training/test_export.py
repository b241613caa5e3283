"""Exports: content-hashed versions and byte-identical files in every format."""

from __future__ import annotations

import hashlib
import random

import pytest

from training import export as export_module
from training.blend import BlendPolicy, PairVotes, blend
from training.errors import ConfigError, EmptyDataset
from training.export import FORMATS, canonical_json, export, export_sorted, freeze, read_rows

from .conftest import preference_rows


def files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_rows_in_any_order_give_the_same_version_and_identical_bytes(tmp_path):
    rows = preference_rows(12)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    first = export(rows, tmp_path / "a", formats=FORMATS)
    second = export(shuffled, tmp_path / "b", formats=FORMATS)
    assert first.version == second.version
    assert first.counts_by_source == {"ai": 6, "human": 6}
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert set(files(tmp_path / "a")) >= {
        "preferences.jsonl",
        "preferences.parquet",
        "preferences.csv",
        "preferences/state.json",
    }


def test_version_is_the_sha256_of_canonical_row_json_and_changes_with_content():
    rows = preference_rows(4)
    frozen = freeze(rows)
    ordered = sorted(rows, key=lambda r: r["pair_id"])
    assert frozen.version == hashlib.sha256(canonical_json(ordered)).hexdigest()
    assert all(r["version"] == frozen.version for r in frozen.rows)
    changed = [dict(rows[0], weight=0.5), *rows[1:]]
    assert freeze(changed).version != frozen.version


def test_every_format_reads_back_the_same_rows(tmp_path):
    result = export(
        blend([PairVotes("x1", "Q", "A", "B", ("a",))], BlendPolicy()).rows,
        tmp_path,
        formats=("jsonl", "parquet", "hf"),
    )
    expected = list(freeze(read_rows(result.paths["jsonl"])).rows)
    assert read_rows(result.paths["parquet"]) == expected
    assert read_rows(result.paths["hf"]) == expected
    assert expected[0]["chosen"] == "A"
    assert expected[0]["source"] == "human"


def test_csv_neutralizes_spreadsheet_formulas(tmp_path):
    row = preference_rows(1)[0]
    rows = [dict(row, chosen='=HYPERLINK("http://x")', rejected="@SUM(A1)", prompt="-2+3")]
    text = export(rows, tmp_path, formats=("csv",)).paths["csv"].read_text()
    assert "'=HYPERLINK" in text
    assert "'@SUM(A1)" in text
    assert "'-2+3" in text


def test_empty_duplicate_and_unknown_format_are_errors(tmp_path):
    with pytest.raises(EmptyDataset, match="no rows"):
        export([], tmp_path)
    row = preference_rows(1)[0]
    with pytest.raises(ConfigError, match="pair_id 'p000' appears twice"):
        export([row, row], tmp_path)
    expected = "unknown export format 'xlsx'; valid formats: jsonl, parquet, hf, csv"
    with pytest.raises(ConfigError, match=expected):
        export([row], tmp_path, formats=("xlsx",))


def test_sorted_rows_stream_to_the_same_version_and_bytes_in_many_row_groups(tmp_path, monkeypatch):
    """export_sorted holds one row at a time and writes Parquet and the HF folder in batches: with
    batches of 5 rows, 12 rows give the same version and rows as the in-memory path."""
    rows = preference_rows(12)
    whole = export(rows, tmp_path / "whole", formats=FORMATS)
    monkeypatch.setattr(export_module, "ROW_GROUP_ROWS", 5)
    ordered = sorted(rows, key=lambda r: r["pair_id"])
    streamed = export_sorted(iter(ordered), tmp_path / "streamed", formats=FORMATS)
    assert streamed.version == whole.version and streamed.n_rows == 12
    assert streamed.counts_by_source == {"ai": 6, "human": 6}
    for name in ("preferences.jsonl", "preferences.csv"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "streamed" / name).read_bytes()
    import pyarrow.parquet as pq

    assert pq.ParquetFile(streamed.paths["parquet"]).num_row_groups == 3
    expected = list(freeze(rows).rows)
    for fmt in ("jsonl", "parquet", "hf"):
        assert read_rows(streamed.paths[fmt]) == expected
    assert sorted(p.name for p in (tmp_path / "streamed").iterdir()) == sorted(
        p.name for p in (tmp_path / "whole").iterdir()
    )  # no spool or Arrow scratch file is left behind


def test_rows_out_of_order_or_twice_in_a_stream_are_errors_that_write_nothing(tmp_path):
    rows = sorted(preference_rows(3), key=lambda r: r["pair_id"])
    with pytest.raises(
        ConfigError, match="pair_id 'p000' comes after 'p001'; rows must be sorted by pair_id"
    ):
        export_sorted([rows[1], rows[0]], tmp_path)
    with pytest.raises(ConfigError, match="pair_id 'p001' appears twice"):
        export_sorted([rows[0], rows[1], rows[1]], tmp_path)
    with pytest.raises(EmptyDataset, match="no rows"):
        export_sorted(iter(()), tmp_path)
    assert list(tmp_path.iterdir()) == []
