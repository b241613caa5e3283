"""Fixtures: judges whose behaviour, and so whose audit numbers, are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audits.factories import judgments_frame


@pytest.fixture
def truth():
    rng = np.random.default_rng(1)
    return list(rng.choice(["a", "b"], size=40))


@pytest.fixture
def always_first(truth):
    """A judge that always picks whatever is shown first."""
    n = len(truth)
    return judgments_frame(truth, {"ab": ["a"] * n, "ba": ["b"] * n})


@pytest.fixture
def perfect(truth):
    return judgments_frame(truth, {"ab": truth, "ba": truth})
