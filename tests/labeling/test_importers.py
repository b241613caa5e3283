"""The importers on their own: every format, and every kind of bad input a user will hit."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from labeling import importers
from labeling.importers import FormatError, ImportIssue
from labeling.records import Choice, ImportRow, Order, VerdictStatus


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_all(path, fmt="pairs", **kw):
    items = list(importers.read(path, fmt, **kw))
    rows = [i for i in items if isinstance(i, ImportRow)]
    issues = [i for i in items if isinstance(i, ImportIssue)]
    return rows, issues


PAIR = {"prompt": "Say hi", "response_a": "Hi!", "response_b": "Go away."}


def test_pairs_jsonl_keeps_every_field_and_the_label(tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {
                **PAIR,
                "model_a": "m1",
                "model_b": "m2",
                "category": "chat",
                "id": "x1",
                "label": "a",
                "annotator": "ann",
                "team": "red",
            },
        ],
    )
    rows, issues = read_all(path)
    assert issues == []
    (row,) = rows
    assert (row.pair.model_a, row.pair.category, row.pair.external_id) == ("m1", "chat", "x1")
    assert row.pair.metadata == {"team": "red"}  # unknown columns are kept as metadata
    assert row.votes[0].annotator == "ann" and row.votes[0].choice is Choice.A
    assert row.location.line == 1


def test_csv_parquet_json_and_hf_dataset_read_the_same_pairs(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [
        {**PAIR, "metadata": ""},
        {**PAIR, "prompt": "Say bye", "metadata": json.dumps({"k": 1})},
    ]
    with (tmp_path / "p.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["prompt", "response_a", "response_b", "metadata"])
        writer.writeheader()
        writer.writerows(records)
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "p.parquet")
    (tmp_path / "p.json").write_text(json.dumps(records))
    with gzip.open(tmp_path / "p.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    datasets.Dataset.from_list(records).save_to_disk(str(tmp_path / "hf"))
    for name in ["p.csv", "p.parquet", "p.json", "p.jsonl.gz", "hf"]:
        rows, issues = read_all(tmp_path / name)
        assert issues == [], name
        assert [r.pair.prompt for r in rows] == ["Say hi", "Say bye"], name
        assert rows[1].pair.metadata == {"k": 1}, name


def test_trl_rows_are_placed_at_random_but_stably_and_the_label_follows(tmp_path):
    rows_in = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(200)]
    path = write_jsonl(tmp_path / "t.jsonl", rows_in)
    rows, issues = read_all(path, "trl")
    assert issues == []
    chosen_in_a = sum(r.pair.response_a.startswith("good") for r in rows)
    assert 70 < chosen_in_a < 130  # both slots get the chosen answer
    for row in rows:
        winner = row.pair.response_a if row.votes[0].choice is Choice.A else row.pair.response_b
        assert winner.startswith("good")
        assert row.pair.metadata["chosen"] == row.votes[0].choice.value
    again, _ = read_all(path, "trl")
    assert [r.pair.content_hash() for r in again] == [r.pair.content_hash() for r in rows]


def test_trl_conversational_rows(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            {
                "prompt": [{"role": "user", "content": "What is 2+2?"}],
                "chosen": [{"role": "assistant", "content": "4"}],
                "rejected": [{"role": "assistant", "content": "5"}],
            }
        ],
    )
    (row,), issues = read_all(path, "trl")
    assert issues == []
    assert row.pair.prompt == "user: What is 2+2?"
    assert {row.pair.response_a, row.pair.response_b} == {"4", "5"}


@pytest.mark.parametrize(
    ("content", "line", "field", "message"),
    [
        ('{"prompt": "x", "response_a": "a"}\n', 1, "response_b", "is missing"),
        (
            '{"prompt": 3, "response_a": "a", "response_b": "b"}\n',
            1,
            "prompt",
            "must be text, got a number",
        ),
        (
            '{"prompt": "ok", "response_a": "a", "response_b": "b"}\n{"prompt": \n',
            2,
            "",
            "is not valid JSON",
        ),
        ('["prompt", "a", "b"]\n', 1, "", "must be an object"),
        ('{"prompt": "   ", "response_a": "a", "response_b": "b"}\n', 1, "prompt", "is empty"),
        ('{"prompt": "a\\u0000b", "response_a": "a", "response_b": "b"}\n', 1, "prompt", "NUL"),
        (  # a lone surrogate: the content hash could not encode it, nor the database store it
            '{"prompt": "p", "response_a": "caf\u00e9 \\ud800", "response_b": "b"}\n',
            1,
            "response_a",
            "surrogate pair (\\ud800, at character 6)",
        ),
        (
            '{"prompt": "p", "response_a": "a", "response_b": "b", "label": "maybe"}\n',
            1,
            "label",
            "expected one of",
        ),
        (
            '{"prompt": "p", "response_a": "a", "response_b": "b", "metadata": [1]}\n',
            1,
            "metadata",
            "must be a JSON object",
        ),
    ],
)
def test_bad_rows_name_line_field_and_what_was_expected(tmp_path, content, line, field, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    _, issues = read_all(path)
    assert len(issues) == 1
    issue = issues[0]
    assert (issue.file, issue.line, issue.field) == (str(path), line, field)
    assert message in issue.message


def test_wrong_encoding_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(PAIR).encode() + b"\n" + '{"prompt": "café"}'.encode("latin-1") + b"\n")
    rows, issues = read_all(path)
    assert len(rows) == 1
    assert issues[0].line == 2 and "not valid UTF-8" in issues[0].message and "UTF-8" in str(issues[0])


def test_empty_file_is_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    _, issues = read_all(tmp_path / "empty.jsonl")
    assert [i.message for i in issues] == ["is empty: no rows to import"]


def test_huge_field_is_refused_with_the_limit(tmp_path):
    path = write_jsonl(tmp_path / "big.jsonl", [{**PAIR, "response_b": "x" * 5001}])
    _, issues = read_all(path, max_chars=5000)
    assert issues[0].field == "response_b"
    assert "5,001 characters" in issues[0].message and "TANDEM_MAX_FIELD_CHARS" in issues[0].message


def test_deeply_nested_metadata_is_refused(tmp_path):
    nested: dict = {}
    for _ in range(30):
        nested = {"x": nested}
    path = write_jsonl(tmp_path / "deep.jsonl", [{**PAIR, "metadata": nested}])
    _, issues = read_all(path)
    assert issues[0].field == "metadata" and "nested" in issues[0].message


def test_formula_looking_csv_cells_stay_plain_text(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('prompt,response_a,response_b\n"=HYPERLINK(""x"")",+1,-2\n')
    (row,), issues = read_all(path)
    assert issues == []
    assert row.pair.prompt == '=HYPERLINK("x")' and row.pair.response_a == "+1"


def test_csv_with_extra_cells_names_the_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("prompt,response_a,response_b\np,a,b\np,a,b,oops\n")
    rows, issues = read_all(path)
    assert len(rows) == 1 and issues[0].line == 3 and "quote cells" in issues[0].message


def test_unknown_format_suffix_and_missing_path_fail_before_any_row(tmp_path):
    with pytest.raises(FormatError, match=r"unknown format 'xml'"):
        importers.read(tmp_path, "xml")
    with pytest.raises(FormatError, match="does not exist"):
        importers.read(tmp_path / "nope.jsonl", "pairs")
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(FormatError, match=r"unknown suffix '\.txt'"):
        list(importers.read(tmp_path / "p.txt", "pairs"))


@pytest.mark.parametrize("name", ["p.jsonl.gz", "p.csv.gz"])
def test_a_truncated_gzip_file_is_a_clear_error_naming_it(tmp_path, name):
    rows = [{**PAIR, "prompt": f"q{i} " + "x" * 200} for i in range(500)]
    body = (
        "".join(json.dumps(r) + "\n" for r in rows)
        if name.startswith("p.jsonl")
        else "prompt,response_a,response_b\n" + "".join(f"{r['prompt']},a,b\n" for r in rows)
    )
    whole = gzip.compress(body.encode())
    path = tmp_path / name
    path.write_bytes(whole[: len(whole) // 2])  # a download cut off half way
    with pytest.raises(FormatError, match=r"damaged gzip file .*truncated") as err:
        read_all(path)
    assert err.value.file == str(path)


def test_hh_rlhf_prompt_is_the_shared_dialogue(tmp_path):
    shared = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Tell me a joke"
    path = write_jsonl(
        tmp_path / "hh.jsonl",
        [
            {
                "chosen": shared + "\n\nAssistant: Why did the chicken...",
                "rejected": shared + "\n\nAssistant: No.",
            }
        ],
    )
    (row,), issues = read_all(path, "hh-rlhf")
    assert issues == []
    assert row.pair.prompt == shared.strip()
    assert {row.pair.response_a, row.pair.response_b} == {"Why did the chicken...", "No."}


def test_llmbar_folder_with_verdicts_in_both_orders(tmp_path):
    folder = tmp_path / "LLMBar" / "Natural"
    (folder / "evaluators" / "GPT-4" / "CoT").mkdir(parents=True)
    items = [{"input": "q", "output_1": "good", "output_2": "bad", "label": 1}]
    (folder / "dataset.json").write_text(json.dumps(items))
    results = [
        {
            **items[0],
            "results": [
                {
                    "swap = False": {"completion": ["(a) is better", "stop"], "winner": "1"},
                    "swap = True": {"completion": ["no idea", "stop"], "winner": None},
                }
            ],
        }
    ]
    (folder / "evaluators" / "GPT-4" / "CoT" / "result.json").write_text(json.dumps(results))
    (row,), issues = read_all(folder, "llmbar")
    assert issues == []
    assert row.pair.category == "LLMBar/Natural"
    assert row.votes[0].annotator == "llmbar:gold" and row.votes[0].choice is Choice.A
    ab, ba = row.verdicts
    assert (ab.judge, ab.order, ab.choice, ab.p_first, ab.template) == (
        "llmbar:GPT-4/CoT",
        Order.AB,
        Choice.A,
        1.0,
        "CoT",
    )
    assert (ba.order, ba.status, ba.choice, ba.p_first) == (
        Order.BA,
        VerdictStatus.UNPARSABLE,
        None,
        None,
    )


def test_llmbar_result_file_out_of_step_with_the_dataset_is_an_error(tmp_path):
    folder = tmp_path / "Set"
    (folder / "evaluators" / "X" / "P").mkdir(parents=True)
    (folder / "dataset.json").write_text(
        json.dumps([{"input": "q", "output_1": "a", "output_2": "b", "label": 2}])
    )
    (folder / "evaluators" / "X" / "P" / "result.json").write_text(
        json.dumps([{"input": "other", "output_1": "a", "output_2": "b", "results": []}])
    )
    _, (issue,) = read_all(folder, "llmbar")
    assert issue.field == "results" and "not the same pair" in issue.message


@pytest.mark.parametrize("fmt", ["pairs", "trl"])
def test_a_pair_of_identical_responses_is_refused_naming_the_line(tmp_path, fmt):
    """Two identical responses carry no preference (in DPO chosen would equal rejected)."""
    a, b = ("response_a", "response_b") if fmt == "pairs" else ("chosen", "rejected")
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"prompt": "Hi?", a: "Hello.", b: "Hi there."}) + "\n"
        + json.dumps({"prompt": "Hi?", a: "Same words.", b: "Same words."}) + "\n"
    )  # fmt: skip
    items = list(importers.read(path, fmt))
    assert isinstance(items[0], ImportRow)
    issue = items[1]
    assert isinstance(issue, ImportIssue) and (issue.file, issue.line, issue.field) == (
        str(path),
        2,
        "response_b",
    )
    assert "same text as response_a" in issue.message and "--skip-invalid" in issue.message
