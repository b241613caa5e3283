"""The import service against a real database: all-or-nothing, idempotent, bulk."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from tandem.core import jobs, services
from tandem.core.models import HumanLabel, Judgment, Pair

pytestmark = pytest.mark.django_db

PAIR = {"prompt": "Say hi", "response_a": "Hi!", "response_b": "Go away."}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def project():
    return services.create_project("p")


def counts() -> tuple[int, int, int]:
    return Pair.objects.count(), HumanLabel.objects.count(), Judgment.objects.count()


def test_import_creates_pairs_and_labels_and_reimport_adds_nothing(tmp_path, project):
    rows = [{**PAIR, "prompt": f"q{i}", "label": "b", "annotator": "ann"} for i in range(2500)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    summary = services.import_pairs(project, path, "pairs", batch_size=1000)
    assert (summary.created, summary.labels_created, summary.invalid, summary.kept) == (2500, 2500, 0, True)
    assert counts() == (2500, 2500, 0)
    again = services.import_pairs(project, path, "pairs")
    assert (again.created, again.duplicates, again.labels_created) == (0, 2500, 0)
    assert counts() == (2500, 2500, 0)


def test_duplicate_rows_inside_one_file_become_one_pair(tmp_path, project):
    path = write_jsonl(tmp_path / "p.jsonl", [PAIR, PAIR, {**PAIR, "label": "a", "annotator": "x"}])
    summary = services.import_pairs(project, path, "pairs")
    assert (summary.created, summary.duplicates, summary.labels_created) == (1, 2, 1)


def test_a_bad_row_keeps_nothing_from_the_file(tmp_path, project):
    services.import_pairs(project, write_jsonl(tmp_path / "ok.jsonl", [PAIR]), "pairs")
    before = counts()
    rows = [{**PAIR, "prompt": f"q{i}"} for i in range(2500)]
    rows[2100] = {"prompt": "no responses"}  # in the third batch: two batches were already written
    with pytest.raises(services.ImportFailed) as failed:
        services.import_pairs(project, write_jsonl(tmp_path / "bad.jsonl", rows), "pairs", batch_size=1000)
    assert counts() == before
    summary = failed.value.summary
    assert summary.kept is False and summary.invalid == 1
    assert summary.errors == [
        {
            "file": str(tmp_path / "bad.jsonl"),
            "line": 2101,
            "field": "response_a",
            "message": "is missing; every row needs it",
        }
    ]
    assert "line 2101, field 'response_a'" in failed.value.message


def test_skip_invalid_keeps_the_good_rows_and_reports_the_bad(tmp_path, project):
    rows = [PAIR, {"prompt": "x"}, {**PAIR, "prompt": "other"}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    summary = services.import_pairs(project, path, "pairs", skip_invalid=True)
    assert (summary.created, summary.invalid, summary.kept) == (2, 1, True)
    assert summary.errors[0]["line"] == 2
    assert Pair.objects.count() == 2


def test_a_file_error_part_way_with_skip_invalid_keeps_nothing_and_says_so(tmp_path, project):
    body = "".join(json.dumps({**PAIR, "prompt": f"q{i} " + "x" * 300}) + "\n" for i in range(3000)).encode()
    whole = gzip.compress(body)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 3 // 4])  # rows stream in, then the file ends mid-block
    with pytest.raises(services.ImportFailed, match="damaged gzip file") as failed:
        services.import_pairs(project, path, "pairs", skip_invalid=True, batch_size=500)
    summary = failed.value.summary
    assert summary.valid > 500  # batches were written before the error ...
    assert (summary.kept, summary.created) == (False, 0)  # ... and rolled back: the summary agrees
    assert counts() == (0, 0, 0)


def test_unreadable_file_fails_cleanly(tmp_path, project):
    path = tmp_path / "p.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(services.ImportFailed, match="not a readable Parquet file"):
        services.import_pairs(project, path, "pairs")
    assert counts() == (0, 0, 0)


def test_cancel_rolls_everything_back(tmp_path, project):
    path = write_jsonl(tmp_path / "p.jsonl", [{**PAIR, "prompt": f"q{i}"} for i in range(3000)])
    batches = []

    def should_cancel() -> bool:
        batches.append(1)
        return len(batches) == 3  # after two batches were written

    with pytest.raises(services.Cancelled):
        services.import_pairs(project, path, "pairs", batch_size=1000, should_cancel=should_cancel)
    assert counts() == (0, 0, 0)


def test_progress_reports_rows_against_the_total(tmp_path, project):
    path = write_jsonl(tmp_path / "p.jsonl", [{**PAIR, "prompt": f"q{i}"} for i in range(2500)])
    seen = []
    services.import_pairs(project, path, "pairs", batch_size=1000, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]


def test_same_pair_in_two_projects_is_two_pairs(tmp_path, project):
    other = services.create_project("other")
    path = write_jsonl(tmp_path / "p.jsonl", [PAIR])
    services.import_pairs(project, path, "pairs")
    services.import_pairs(other, path, "pairs")
    assert Pair.objects.count() == 2


def test_trl_import_records_placement_and_a_human_label(tmp_path, project):
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "q", "chosen": "good", "rejected": "bad"}])
    services.import_pairs(project, path, "trl")
    pair = Pair.objects.get()
    label = pair.human_labels.get()
    winner = pair.response_a if label.choice == "a" else pair.response_b
    assert winner == "good" and pair.metadata["chosen"] == label.choice
    assert label.source == "imported"


@pytest.mark.parametrize(
    ("model", "columns"),
    [
        (Pair, services.PAIR_COLUMNS),
        (HumanLabel, services.LABEL_COLUMNS),
        (Judgment, services.JUDGMENT_COLUMNS),
    ],
)
def test_fast_insert_columns_match_the_model(model, columns):
    """COPY bypasses Django's Python-side defaults: a column left out would fail or go NULL, so
    the import writes every column except nullable ones without a default (NULL is their value
    until something else fills them in)."""
    fields = {f.column: f for f in model._meta.concrete_fields if not f.primary_key}
    assert set(columns) <= set(fields) and len(set(columns)) == len(columns)
    left_out = [name for name in fields if name not in columns]
    assert [name for name in left_out if fields[name].has_default() or not fields[name].null] == []


def mtbench_row(question: int, judge: str, human: str = "model_a", gpt4: str = "model_b") -> dict:
    """One MT-Bench vote: a pair (per question), a human label (per judge), GPT-4's two verdicts."""

    def conversation(answer: str) -> str:
        return repr([(f"question {question}", "user"), (answer, "assistant")])

    return {
        "question_id": question,
        "turn": 1,
        "model_a": "m1",
        "model_b": "m2",
        "category": "writing",
        "conversation_a": conversation(f"answer A{question}"),
        "conversation_b": conversation(f"answer B{question}"),
        "human_judge": judge,
        "human_winner": human,
        "gpt4_pair_winner": gpt4,
    }


def test_judgments_and_labels_are_stored_exactly_and_a_reimport_adds_nothing(tmp_path, project):
    # question-major rows: question 333's votes straddle the first two batches
    rows = [mtbench_row(q, judge) for q in range(500) for judge in ("x", "y", "z")]
    path = write_jsonl(tmp_path / "mt.jsonl", rows)
    summary = services.import_pairs(project, path, "mtbench", batch_size=1000)
    assert (summary.created, summary.labels_created, summary.judgments_created) == (500, 1500, 1000)
    assert counts() == (500, 1500, 1000)
    judgment = Judgment.objects.get(pair__external_id="mtbench:7:1:m1:m2", order="ba")
    assert (judgment.judge, judgment.backend, judgment.choice, judgment.p_first) == (
        "mtbench:gpt-4",
        "replay",
        "b",
        1.0,  # B shown first and B won
    )
    assert judgment.detail["recorded_winner"] == "model_b" and judgment.created_at is not None
    assert judgment.config_hash == services.replay_config_hash("mtbench:gpt-4")
    label = HumanLabel.objects.get(pair__external_id="mtbench:7:1:m1:m2", annotator="y")
    assert (label.choice, label.source, label.created_at is not None) == ("a", "imported", True)

    again = services.import_pairs(project, path, "mtbench", batch_size=1000)
    assert (again.created, again.labels_created, again.judgments_created, again.kept) == (0, 0, 0, True)
    assert counts() == (500, 1500, 1000)


def test_a_batch_overlapping_stored_rows_adds_exactly_the_new_ones(tmp_path, project):
    services.import_pairs(
        project, write_jsonl(tmp_path / "a.jsonl", [mtbench_row(q, "x") for q in range(10)]), "mtbench"
    )
    pair = Pair.objects.get(external_id="mtbench:0:1:m1:m2")
    # the same annotator through Argilla is another vote (labels are unique per source)
    HumanLabel.objects.create(pair=pair, annotator="y", choice="b", source=HumanLabel.Source.ARGILLA)
    # and the same judge name under another config is another judgment
    Judgment.objects.create(
        pair=pair, judge="mtbench:gpt-4", config_hash="f" * 64, backend="hf", order="ab", status="ok"
    )
    before = counts()
    rows = [mtbench_row(q, judge) for q in range(10) for judge in ("x", "y")] + [
        mtbench_row(q, "x") for q in range(10, 15)
    ]
    summary = services.import_pairs(project, write_jsonl(tmp_path / "b.jsonl", rows), "mtbench")
    assert (summary.created, summary.duplicates) == (5, 20)
    assert (summary.labels_created, summary.judgments_created) == (10 + 5, 5 * 2)
    assert counts() == (before[0] + 5, before[1] + 15, before[2] + 10)
    assert set(pair.human_labels.values_list("annotator", "source")) == {
        ("x", "imported"),
        ("y", "imported"),
        ("y", "argilla"),
    }


def test_a_bad_row_keeps_no_judgment_or_label_from_the_file(tmp_path, project):
    services.import_pairs(project, write_jsonl(tmp_path / "ok.jsonl", [mtbench_row(0, "x")]), "mtbench")
    before = counts()
    rows = [mtbench_row(q, "x") for q in range(2500)]
    rows[2100] = {**rows[2100], "human_winner": "maybe"}  # in the third batch: two were written
    with pytest.raises(services.ImportFailed) as failed:
        services.import_pairs(project, write_jsonl(tmp_path / "bad.jsonl", rows), "mtbench", batch_size=1000)
    assert counts() == before
    summary = failed.value.summary
    assert (summary.created, summary.labels_created, summary.judgments_created) == (0, 0, 0)
    assert (summary.errors[0]["line"], summary.errors[0]["field"]) == (2101, "human_winner")


def test_awkward_text_is_stored_exactly(tmp_path, project):
    text = 'tab\there\nnew line\r\nback\\slash \\. "quotes" émoji 🚀 ,;= \\N'
    path = write_jsonl(
        tmp_path / "w.jsonl",
        [
            {
                "prompt": text,
                "response_a": text + "a",
                "response_b": "b",
                "metadata": {"nested": {"ü": [1, "\\x"]}},
            }
        ],
    )
    services.import_pairs(project, path, "pairs")
    pair = Pair.objects.get()
    assert (pair.prompt, pair.response_a) == (text, text + "a")
    assert pair.metadata == {"nested": {"ü": [1, "\\x"]}}
    assert pair.created_at is not None


def test_an_import_inside_a_callers_transaction_leaves_its_foreign_keys_deferred(tmp_path, project):
    # the caller writes a label before its pair (Django's keys are checked at the commit): the
    # import neither checks the caller's pending rows nor changes its later statements
    with transaction.atomic():
        early = HumanLabel.objects.create(pair_id=10**9, annotator="early", choice="a")
        summary = services.import_pairs(project, write_jsonl(tmp_path / "p.jsonl", [PAIR]), "pairs")
        HumanLabel.objects.create(pair_id=10**9 + 1, annotator="early", choice="b")
        for pk in (10**9, 10**9 + 1):
            Pair.objects.create(
                pk=pk, project=project, prompt=f"q{pk}", response_a="a", response_b="b", content_hash=f"h{pk}"
            )
    assert summary.created == 1
    assert HumanLabel.objects.filter(annotator="early", pair__project=project).count() == 2
    assert HumanLabel.objects.get(pk=early.pk).pair.prompt == f"q{10**9}"


def lock_project_elsewhere(project) -> str:
    """Lock the project's row as starting a job does, from another connection; "" when it got
    the lock within a second, else the database's error."""
    outcome = []

    def lock() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
                jobs._lock(project)
            outcome.append("")
        except DatabaseError as err:
            outcome.append(str(err))
        finally:
            connection.close()

    thread = threading.Thread(target=lock)
    thread.start()
    thread.join()
    return outcome[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="row locks and per-COPY checks are PostgreSQL's"
)
def test_starting_a_job_does_not_wait_for_an_import_of_the_project(tmp_path):
    # the import checks its labels' and judgments' keys per COPY, but not its pairs' key to the
    # project: that would lock the project's row until the import commits
    project = services.create_project("p")
    rows = [mtbench_row(q, judge) for q in range(1500) for judge in ("x", "y")]
    locked = []

    def progress(done: int, total: int | None) -> None:
        if done >= 1000 and not locked:  # a batch of pairs, labels and judgments is written
            locked.append(lock_project_elsewhere(project))

    summary = services.import_pairs(
        project, write_jsonl(tmp_path / "mt.jsonl", rows), "mtbench", batch_size=1000, progress=progress
    )
    assert locked == [""]
    assert (summary.created, summary.labels_created, summary.judgments_created) == (1500, 3000, 3000)
    assert counts() == (1500, 3000, 3000)
