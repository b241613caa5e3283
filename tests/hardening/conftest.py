"""Fixtures for the fault tests: a chaotic OpenAI-compatible endpoint, pairs to judge, and a
Celery worker in a process of its own that a test may kill with SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tandem.core import services
from tests.openai_endpoint import API_KEY, MODEL, Chaos, FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]

# Small retries and backoff so a fault run takes seconds; the per-call timeout sits well above
# the fake's real latency (so only a hang times out) and below its hang.
JUDGE = {
    "backend": "openai",
    "model": MODEL,
    "params": {
        "concurrency": 64,
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 1.0,
        "seed": 1,
        "prices": {MODEL: {"input": 1.0, "output": 2.0}},
    },
}


@pytest.fixture
def chaos_openai(monkeypatch):
    """An endpoint of this test's own (its counters start at zero): 30% of attempts fail."""
    fake = FakeOpenAI(Chaos(rate=0.3, seed=8, hang_s=1.3))
    fake.thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def make_project(tmp_path: Path, name: str, n_pairs: int, scenario: str = "chaos"):
    """A project with `n_pairs` distinct pairs whose prompts carry the fake's scenario marker,
    and the `api` judge above."""
    project = services.create_project(name)
    project.judge_config = {"judges": {"api": JUDGE}}
    project.save()
    path = tmp_path / f"{name}.jsonl"
    with path.open("w") as fh:
        for i in range(n_pairs):
            prompt = f"SCENARIO={scenario} question {i}"
            fh.write(json.dumps({"prompt": prompt, "response_a": f"A{i}", "response_b": f"B{i}"}) + "\n")
    services.import_pairs(project, path, "pairs")
    return project


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("a job in another process needs a database server (run on PostgreSQL)")
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def process_env(tmp_path: Path, database: str, **extra: str) -> dict[str, str]:
    """The environment of a worker or command process: the same database and endpoint."""
    return {
        **os.environ,
        "DATABASE_URL": database,
        "TANDEM_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        **extra,
    }


def start_worker(tmp_path: Path, env: dict[str, str], name: str) -> subprocess.Popen:
    """scripts/worker.sh (what deployments run) with a fixed node name, in its own session so
    the test can kill its whole process group."""
    log = (tmp_path / f"{name}.log").open("ab")
    return subprocess.Popen(
        [str(ROOT / "scripts/worker.sh"), "-Q", "default", "--pool", "solo", "-n", name, "-l", "INFO"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill9(process: subprocess.Popen) -> None:
    """SIGKILL the process group: no handler runs, nothing is flushed or cleaned up."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill9(process)
