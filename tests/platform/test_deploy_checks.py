"""Production settings pass Django's deployment checks; without a secret key they refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, **env):
    environment = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "tandem.settings.prod", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    run = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY="x" * 20 + "-production-secret-key-of-enough-length-and-variety-123",
        TANDEM_VAR_DIR=str(tmp_path),
        DJANGO_ALLOWED_HOSTS="tandem.example.org",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    run = manage("check", TANDEM_VAR_DIR=str(tmp_path))
    assert run.returncode != 0
    assert "DJANGO_SECRET_KEY" in run.stderr
