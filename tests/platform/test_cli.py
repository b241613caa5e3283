"""`manage.py import_pairs` as a user runs it: summary line, --json, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tandem.core import services
from tandem.core.models import Pair

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_json_summary(tmp_path, capsys):
    services.create_project("cli")
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "q", "response_a": "a", "response_b": "b"}) + "\n")
    call_command("import_pairs", str(path), project="cli", json=True)
    out = json.loads(capsys.readouterr().out)
    assert (out["created"], out["duplicates"], out["invalid"], out["errors"]) == (1, 0, 0, [])


def test_failed_import_prints_errors_and_exits_non_zero(tmp_path, capsys):
    services.create_project("cli")
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "q"}\n')
    with pytest.raises(CommandError) as err:
        call_command("import_pairs", str(path), project="cli", json=True)
    assert err.value.returncode == 1
    out = json.loads(capsys.readouterr().out)
    assert out["invalid"] == 1 and out["errors"][0]["field"] == "response_a"
    assert Pair.objects.count() == 0


def test_skip_invalid_writes_a_report(tmp_path, capsys):
    services.create_project("cli")
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "q", "response_a": "a", "response_b": "b"}\n{"prompt": 1}\n')
    report = tmp_path / "bad.jsonl"
    call_command("import_pairs", str(path), project="cli", skip_invalid=True, report=str(report))
    assert "1 new pairs" in capsys.readouterr().out
    assert json.loads(report.read_text())["line"] == 2


def test_unknown_project_says_how_to_create_it():
    with pytest.raises(CommandError, match="create_project nope"):
        call_command("import_pairs", "x.jsonl", project="nope")


def test_command_line_exit_status(tmp_path):
    """The real process, as a script would run it (its own SQLite database under tmp_path)."""
    env = {"TANDEM_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    run = subprocess.run(
        [*manage, "import_pairs", "--project", "x", "--create-project", str(bad)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "bad.jsonl, line 1: is not valid JSON" in run.stderr


def _create_user(*args: str) -> str:
    import io

    out = io.StringIO()
    call_command("create_user", *args, stdout=out)
    return out.getvalue()


def test_create_user_grants_roles_per_project_and_replaces_old_ones():
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    for name in ("alpha", "beta", "gamma"):
        services.create_project(name)
    first = _create_user("kim", "--role", "engineer", "--project", "alpha", "--project", "beta")
    assert "engineer   user: kim" in first and first.rstrip().endswith("on alpha, beta")
    old_token = first.split("api token: ")[1].split()[0]
    second = _create_user("kim", "--role", "auditor", "--project", "gamma")
    new_token = second.split("api token: ")[1].split()[0]
    user = get_user_model().objects.get(username="kim")
    assert list(user.memberships.values_list("project__name", "role")) == [("gamma", "auditor")]
    assert not user.groups.exists()  # no longer a creator of projects
    old, new = APIClient(), APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Token {old_token}")
    new.credentials(HTTP_AUTHORIZATION=f"Token {new_token}")
    assert old.get("/api/projects/").status_code == 401  # the old token was revoked
    assert [p["name"] for p in new.get("/api/projects/").json()["results"]] == ["gamma"]
    assert new.post("/api/projects/", {"name": "delta"}, format="json").status_code == 403


def test_create_user_names_the_unknown_project_and_the_known_ones():
    services.create_project("alpha")
    with pytest.raises(CommandError, match=r"--project nope: no such project; known: alpha"):
        _create_user("kim", "--role", "auditor", "--project", "nope")
    with pytest.raises(CommandError, match=r"--role auditor needs at least one --project NAME"):
        _create_user("kim", "--role", "auditor")
    with pytest.raises(CommandError, match=r"admin is a global role"):
        _create_user("kim", "--role", "admin", "--project", "alpha")
