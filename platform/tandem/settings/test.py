"""Tests: a throwaway PostgreSQL by default (the production database), SQLite on request.

The server is started here, when the settings load, because Django creates a database
connection wrapper while it sets up its models: a database chosen any later (in a pytest
fixture) leaves that early wrapper pointing at the old one in contexts that outlive the swap
(Playwright's greenlets). `TANDEM_TEST_DB=sqlite` keeps SQLite; `TANDEM_TEST_DATABASE_URL` uses a
server that is already running. The throwaway server is stopped by its pid when the process exits.
"""

import atexit
import os
import sys
import tempfile

from .base import *  # noqa: F403
from .base import ROOT_DIR, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The operator's model folder in tests: the tiny test model (tests/conftest.py) is saved here.
TANDEM_MODEL_DIRS = [os.path.join(tempfile.gettempdir(), f"tandem-test-models-{os.getuid()}")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def _test_database() -> dict:
    if env.str("TANDEM_TEST_DATABASE_URL", default=""):
        return env.db("TANDEM_TEST_DATABASE_URL")
    sys.path.insert(0, str(ROOT_DIR))
    from scripts.services import start_postgres

    server = start_postgres()
    atexit.register(server.stop)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "tandem",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": str(server.port),
    }


if os.environ.get("TANDEM_TEST_DB", "postgres") != "sqlite":
    DATABASES = {"default": _test_database()}

# Abuse limits: the access table and the fuzzers send thousands of API requests as one user
# from one address; the throttle tests set low rates of their own.
TANDEM_API_RATES = {"user": "100000/minute", "anon": "100000/minute"}
