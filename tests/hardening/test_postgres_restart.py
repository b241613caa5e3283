"""PostgreSQL restarted in the middle of a judge job (a separate server, so the test's own
database is not touched): the job either fails cleanly, its row saying why, or completes;
run again it finishes with nothing lost, nothing duplicated and no call paid twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psycopg
import pytest

from scripts.services import _as_postgres, postgres_bin, start_postgres
from tests.hardening.conftest import JUDGE, ROOT, process_env
from tests.openai_endpoint import API_KEY, Chaos, FakeOpenAI

N_PAIRS = 300
CONCURRENCY = 8

RUN_JOB = """
import json, os
from tandem.core import jobs
from tandem.core.models import Job, Project
project = Project.objects.get(name="pg")
project.judge_config = {"judges": {"api": json.loads(os.environ["JUDGE_SPEC"])}}
project.save()
job = Job.objects.create(kind="judge", project=project, params={"judge": "api"})
print("job", job.pk, flush=True)
job = jobs.execute(job.pk)
print("status", job.status, job.error, flush=True)
"""


def manage(env, *args, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert not check or done.returncode == 0, done.stderr[-3000:]
    return done


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def postgres():
    server = start_postgres()
    yield server
    server.stop()


def test_a_judge_job_survives_a_postgres_restart_or_fails_cleanly(postgres, tmp_path):
    fake = FakeOpenAI(Chaos(rate=0.0))
    fake.thread.start()
    env = process_env(
        tmp_path,
        postgres.url,
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=fake.base_url,
        CACHE_URL="locmemcache://",
        # a job judges with one of the project's judges (jobs never read a config file)
        JUDGE_SPEC=json.dumps({**JUDGE, "params": {**JUDGE["params"], "concurrency": CONCURRENCY}}),
    )
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"prompt": f"SCENARIO=delay=0.1 q{i}", "response_a": f"A{i}", "response_b": f"B{i}"})
            + "\n"
            for i in range(N_PAIRS)
        )
    )
    try:
        manage(env, "migrate", "--no-input")
        manage(env, "create_project", "pg")
        manage(env, "import_pairs", "--project", "pg", str(pairs))

        log = tmp_path / "job.log"
        job = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", RUN_JOB],
            env=env,
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while sum(fake.answered.values()) < 100:
            assert job.poll() is None, f"the job ended before the restart: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(0.05)
        data = postgres.directory / "data"
        answered_at_restart = sum(fake.answered.values())
        started = time.monotonic()
        subprocess.run(
            # -l: the new server logs to its file; else it keeps pg_ctl's output open forever.
            _as_postgres(
                [
                    *(str(postgres_bin() / "pg_ctl"), "-D", str(data)),
                    *("-l", str(postgres.directory / "log"), "-m", "fast", "-w", "restart"),
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        restart_s = time.monotonic() - started
        job.wait(timeout=240)
        output = log.read_text()
        assert job.returncode == 0, output[-3000:]
        status, error = query(postgres.url, "SELECT status, error FROM core_job")[0]
        judged_first = query(postgres.url, "SELECT count(*) FROM core_judgment")[0][0]
        # Either outcome is acceptable; a job stuck "running" or an error without a reason is not.
        assert status in {"succeeded", "failed"}, (status, output[-3000:])
        if status == "failed":
            assert "database connection failed during the job" in error and "start it again" in error

        rerun = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", RUN_JOB],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert "status succeeded" in rerun.stdout, rerun.stdout[-2000:] + rerun.stderr[-3000:]
        per_pair = query(postgres.url, "SELECT pair_id, count(*) FROM core_judgment GROUP BY pair_id")
        assert len(per_pair) == N_PAIRS and {n for _, n in per_pair} == {2}
        assert query(postgres.url, "SELECT count(*) FROM core_judgment WHERE status <> 'ok'")[0][0] == 0
        cached = query(postgres.url, "SELECT count(*) FROM core_judgecall")[0][0]
        assert cached == len(fake.answered)
        assert fake.paid_twice() <= CONCURRENCY
        print(
            f"\njudge job over {N_PAIRS} pairs, PostgreSQL restarted ({restart_s:.1f} s) after "
            f"{answered_at_restart} of {2 * N_PAIRS} replies: job {status} ({error[:90]!r}), "
            f"{judged_first} verdicts kept; rerun: {2 * N_PAIRS} rows (2 per pair), {cached} calls cached, "
            f"{fake.paid_twice()} paid twice"
        )
    finally:
        fake.server.shutdown()
        fake.server.server_close()
