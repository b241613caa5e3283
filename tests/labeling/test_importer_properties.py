"""Importers under arbitrary input: every outcome is rows or issues naming a line, never a crash."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeling import importers
from labeling.importers import FormatError, ImportIssue
from labeling.records import ImportRow

SUFFIXES = [".jsonl", ".csv", ".json", ".parquet"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def outcome(data: bytes, suffix: str, fmt: str = "pairs") -> list:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        try:
            return list(importers.read(path, fmt, max_chars=10_000))
        except FormatError as err:
            return [ImportIssue(err.file, 0, "", err.message)]


def assert_clean(items: list) -> None:
    assert items, "an empty outcome would be a silent no-op"
    for item in items:
        assert isinstance(item, ImportRow | ImportIssue)
        if isinstance(item, ImportIssue):
            assert item.message and item.line >= 0
        else:
            assert "\x00" not in item.pair.prompt + item.pair.response_a + item.pair.response_b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes(data, suffix):
    assert_clean(outcome(data, suffix))


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(["prompt", "response_a", "response_b", "label", "metadata", "category", "x"]),
            json_values,
            max_size=6,
        ),
        min_size=1,
        max_size=5,
    ),
    fmt=st.sampled_from(["pairs", "trl", "hh-rlhf", "mtbench"]),
)
def test_arbitrary_json_rows(rows, fmt):
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    items = outcome(data, ".jsonl", fmt)
    assert_clean(items)
    assert len(items) == len(rows)  # one row or one issue per line, nothing dropped silently


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200))
def test_control_characters_and_formulas_survive_or_are_refused(text):
    row = {"prompt": text, "response_a": "=1+1", "response_b": "@SUM(A1)"}
    (item,) = outcome((json.dumps(row) + "\n").encode(), ".jsonl")
    if isinstance(item, ImportRow):
        assert item.pair.prompt == text and item.pair.response_a == "=1+1"
    else:
        assert item.field == "prompt" and ("NUL" in item.message or "empty" in item.message)


def test_deeply_nested_json_line_is_an_issue_not_a_crash(tmp_path):
    items = outcome(("[" * 100_000 + "]" * 100_000 + "\n").encode(), ".jsonl")
    assert len(items) == 1 and isinstance(items[0], ImportIssue)
