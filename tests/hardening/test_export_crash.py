"""kill -9 of `manage.py export` half-way: no dataset version is left behind, a recorded
version's files stay as they were, and the export run again gives exactly one version whose
files are byte-identical to a clean export's."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tandem.core import datasets, services
from tandem.core.models import DatasetVersion, Pair
from tests.hardening.conftest import ROOT, database_url, kill9, process_env

pytestmark = pytest.mark.django_db(transaction=True)

FORMATS = ["jsonl", "parquet", "hf", "csv"]


def labeled_project(tmp_path: Path, n: int):
    project = services.create_project("exp")
    path = tmp_path / "labeled.jsonl"
    with path.open("w") as fh:
        for i in range(n):
            # Long texts (about 25 MB per format) so that writing takes long enough to be killed.
            text = " ".join(f"w{(i * 7 + k) % 9973}" for k in range(800))
            row = {
                "prompt": f"q{i}",
                "response_a": f"good {i} {text}",
                "response_b": f"bad {i}",
                "label": "a",
            }
            fh.write(json.dumps({**row, "annotator": "h1"}) + "\n")
    services.import_pairs(project, path, "pairs")
    return project


def export_command(out: Path) -> list[str]:
    formats = [arg for fmt in FORMATS for arg in ("--format", fmt)]
    return [
        sys.executable,
        str(ROOT / "manage.py"),
        "export",
        "--project",
        "exp",
        *formats,
        "--out",
        str(out),
    ]


def files_of(version: DatasetVersion) -> dict[str, bytes]:
    """Every file of a version (the hf folder's files included), by path relative to its folder."""
    found = {}
    for path in version.files.values():
        path = Path(path)
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if f.is_file():
                found[str(f.relative_to(path.parent))] = f.read_bytes()
    return found


def test_an_export_killed_half_way_leaves_no_version_and_a_rerun_gives_one(tmp_path):
    project = labeled_project(tmp_path, 3000)
    out = tmp_path / "out"
    before = datasets.export_dataset(project, None, FORMATS, out)  # an earlier version, same folder
    old = DatasetVersion.objects.get()
    old_files = files_of(old)
    # New knowledge (a human flips one label), so the next export is another version.
    pair = Pair.objects.filter(project=project).order_by("id").first()
    pair.human_labels.update(choice="b")

    env = process_env(tmp_path, database_url())
    process = subprocess.Popen(
        export_command(out),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not any(out.glob(".partial-*/preferences.jsonl")):
        assert process.poll() is None, "the export finished before it could be killed"
        assert time.monotonic() < deadline, "the export never started writing"
        time.sleep(0.01)
    kill9(process)
    assert process.returncode == -9  # killed, not finished
    staged = [p.name for p in next(out.glob(".partial-*")).iterdir()]

    assert DatasetVersion.objects.count() == 1  # the killed export recorded nothing
    assert [p.name for p in (out / "versions").iterdir()] == [before["version"]]  # no half version
    assert files_of(DatasetVersion.objects.get()) == old_files  # the recorded version is intact

    rerun = subprocess.run(
        [*export_command(out), "--json"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    new_version = json.loads(rerun.stdout.splitlines()[-1])["version"]
    assert new_version != before["version"]
    again = subprocess.run(
        [*export_command(out), "--json"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert json.loads(again.stdout.splitlines()[-1])["version"] == new_version
    assert DatasetVersion.objects.filter(project=project, version=new_version).count() == 1
    assert DatasetVersion.objects.count() == 2
    assert not list(out.glob(".partial-*"))  # the dead export's staging folder was cleaned up

    # Byte-identical to a clean export of the same knowledge into a fresh folder.
    clean = subprocess.run(
        [*export_command(tmp_path / "clean"), "--json"], env=env, cwd=ROOT, capture_output=True
    )
    assert clean.returncode == 0
    version = DatasetVersion.objects.get(version=new_version)
    clean_files = {
        str(f.relative_to(tmp_path / "clean" / "versions" / new_version)): f.read_bytes()
        for f in sorted((tmp_path / "clean" / "versions" / new_version).rglob("*"))
        if f.is_file()
    }
    assert files_of(version) == clean_files
    assert files_of(DatasetVersion.objects.get(version=before["version"])) == old_files
    assert (out / "preferences.jsonl").read_bytes() == clean_files["preferences.jsonl"]  # latest
    print(
        f"\nexport of {version.n_rows} rows in {len(FORMATS)} formats killed (SIGKILL) with {sorted(staged)} "
        f"staged: 0 versions recorded by it, the earlier version's {len(old_files)} files unchanged; "
        f"rerun: 1 version, {len(clean_files)} files byte-identical to a clean export"
    )
