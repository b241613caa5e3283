"""A tiny random Llama (hidden 64, 2 layers) with SmolLM2's real tokenizer, saved once per
session, and a small preference data set that a tiny model can learn something from."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

FRUITS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "mango"]


def preference_rows(n: int = 32) -> list[dict]:
    """Rows where 'chosen' is always the polite answer: learnable in a few steps."""
    rows = []
    for i in range(n):
        fruit = FRUITS[i % len(FRUITS)]
        rows.append(
            {
                "prompt": f"Question {i}: name a fruit.\nAnswer:",
                "chosen": f" Gladly: {fruit}.",
                "rejected": f" No. {fruit} go away!",
                "source": "human" if i % 2 else "ai",
                "weight": 1.0 if i % 2 else 0.8,
                "p_chosen": 1.0 if i % 2 else 0.9,
                "pair_id": f"p{i:03d}",
            }
        )
    return rows


@pytest.fixture
def rows() -> list[dict]:
    return preference_rows()
