"""A test that needs a service the suite expects (PostgreSQL, Redis, Argilla, the llama.cpp
server, Chromium, the real data sets) skips where it is missing on a developer's machine, and
fails where `TANDEM_REQUIRE_SERVICES` is set: `.ci/run` sets it, so a service that silently
went missing cannot look green."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRED = os.environ.get("TANDEM_REQUIRE_SERVICES", "") not in ("", "0")


def unavailable(service: str, reason: str) -> NoReturn:
    """Skip (or, with TANDEM_REQUIRE_SERVICES set, fail) the test: `service` is missing."""
    message = f"{service} is not available: {reason}"
    if REQUIRED:
        pytest.fail(f"{message} (TANDEM_REQUIRE_SERVICES is set: this run expects it)", pytrace=False)
    pytest.skip(message)
