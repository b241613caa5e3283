"""The import with its reader process: the same rows, errors, cancel and rollback as in one
process, and a reader that dies keeps nothing and says so."""

from __future__ import annotations

import gzip
import json
import os
import signal
import threading
from pathlib import Path

import pytest

from tandem.core import services
from tandem.core.models import HumanLabel, Judgment, Pair
from tests.platform.test_import_service import PAIR, counts, mtbench_row, write_jsonl

pytestmark = pytest.mark.django_db


def readers() -> list[int]:
    """The pids of this process's import reader processes."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"labeling.importers.pipeline" in command:
            found.append(int(entry.name))
    return found


@pytest.fixture
def project():
    return services.create_project("p")


def stored(project) -> tuple[set, set, set]:
    """Every stored pair, label and judgment by content (ids differ between two imports)."""
    pairs = Pair.objects.filter(project=project).values_list("content_hash", "prompt", "metadata", "source")
    labels = HumanLabel.objects.values_list("pair__content_hash", "annotator", "choice", "source")
    judgments = Judgment.objects.values_list("pair__content_hash", "order", "choice", "p_first", "detail")
    return (
        {(*p[:2], json.dumps(p[2], sort_keys=True), p[3]) for p in pairs},
        set(labels),
        {(*j[:4], json.dumps(j[4], sort_keys=True)) for j in judgments},
    )


def test_the_reader_process_stores_what_one_process_stores(tmp_path, project):
    # question-major rows: question 333's votes straddle the first two batches
    rows = [mtbench_row(q, judge) for q in range(500) for judge in ("x", "y", "z")]
    path = write_jsonl(tmp_path / "mt.jsonl", rows)
    summary = services.import_pairs(project, path, "mtbench", batch_size=1000, reader_process=True)
    assert (summary.created, summary.duplicates, summary.labels_created, summary.judgments_created) == (
        500,
        1000,
        1500,
        1000,
    )
    piped = stored(project)
    Pair.objects.all().delete()
    services.import_pairs(project, path, "mtbench", batch_size=1000, reader_process=False)
    assert stored(project) == piped
    again = services.import_pairs(project, path, "mtbench", batch_size=1000, reader_process=True)
    assert (again.created, again.labels_created, again.judgments_created, again.kept) == (0, 0, 0, True)
    assert counts() == (500, 1500, 1000)


def test_a_bad_row_read_in_the_reader_process_keeps_nothing(tmp_path, project):
    services.import_pairs(project, write_jsonl(tmp_path / "ok.jsonl", [PAIR]), "pairs")
    before = counts()
    rows = [{**PAIR, "prompt": f"q{i}"} for i in range(2500)]
    rows[2100] = {"prompt": "no responses"}  # in the third batch: two batches were already written
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(services.ImportFailed) as failed:
        services.import_pairs(project, path, "pairs", batch_size=1000, reader_process=True)
    assert counts() == before
    assert failed.value.summary.errors == [
        {"file": str(path), "line": 2101, "field": "response_a", "message": "is missing; every row needs it"}
    ]


def test_a_file_damaged_part_way_in_the_reader_process_keeps_nothing(tmp_path, project):
    body = "".join(json.dumps({**PAIR, "prompt": f"q{i} " + "x" * 300}) + "\n" for i in range(3000)).encode()
    whole = gzip.compress(body)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 3 // 4])
    with pytest.raises(services.ImportFailed, match="damaged gzip file") as failed:
        services.import_pairs(project, path, "pairs", skip_invalid=True, batch_size=500, reader_process=True)
    assert failed.value.summary.valid > 500 and failed.value.summary.created == 0
    assert counts() == (0, 0, 0)


def test_cancel_stops_the_reader_process_and_keeps_nothing(tmp_path, project):
    # more batches than the writer receives ahead: the receiving thread is waiting to hand one
    # over when the import is cancelled
    rows = [{**PAIR, "prompt": f"q{i} " + "x" * 200} for i in range(30_000)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    asked = []

    def should_cancel() -> bool:
        asked.append(1)
        return len(asked) == 3  # after two batches were written

    with pytest.raises(services.Cancelled):
        services.import_pairs(
            project, path, "pairs", batch_size=1000, should_cancel=should_cancel, reader_process=True
        )
    assert counts() == (0, 0, 0)
    assert readers() == []  # the reader was stopped, not left behind
    assert receivers() == []  # nor the thread that received its batches


def receivers() -> list[threading.Thread]:
    """This process's threads that receive an import reader's batches."""
    return [thread for thread in threading.enumerate() if thread.name == "import-receiver"]


def test_a_reader_process_that_dies_keeps_nothing_and_says_so(tmp_path, project):
    # far more batches than the writer receives ahead (READ_AHEAD and a pipe's buffer): the
    # reader is still sending when it is killed
    rows = [{**PAIR, "prompt": f"q{i} " + "x" * 200} for i in range(30_000)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)

    def kill_the_reader(done: int, total: int | None) -> None:
        if done == 1000:  # one batch written: the reader is preparing the next ones
            (reader,) = readers()
            os.kill(reader, signal.SIGKILL)

    with pytest.raises(services.ImportFailed, match="reader process stopped unexpectedly") as failed:
        services.import_pairs(
            project, path, "pairs", batch_size=1000, progress=kill_the_reader, reader_process=True
        )
    assert counts() == (0, 0, 0)
    summary = failed.value.summary
    assert (summary.kept, summary.created) == (False, 0)
    assert "exit code -9" in summary.errors[0]["message"]
    assert receivers() == []


def test_a_missing_file_fails_before_any_reader_process_starts(tmp_path, project):
    with pytest.raises(services.ImportFailed, match="does not exist"):
        services.import_pairs(project, tmp_path / "nope.jsonl", "pairs", reader_process=True)
    assert readers() == []
