"""A tiny random Llama (hidden 64, 2 layers) with SmolLM2's real tokenizer, saved once per
session, and a small preference data set that a tiny model can learn something from."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

FRUITS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "mango"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Path of a saved tiny causal LM + tokenizer (the SmolLM2 tokenizer, vocab 49152)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from labeling.local_models import SMOLLM2, load_causal_lm

    tokenizer = load_causal_lm(SMOLLM2, device="cpu")[1]
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=0)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    path = tmp_path_factory.mktemp("tiny-smollm2")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def preference_rows(n: int = 32) -> list[dict]:
    """Rows where 'chosen' is always the polite answer: learnable in a few steps."""
    rows = []
    for i in range(n):
        fruit = FRUITS[i % len(FRUITS)]
        rows.append({"prompt": f"Question {i}: name a fruit.\nAnswer:", "chosen": f" Gladly: {fruit}.",
                     "rejected": f" No. {fruit} go away!", "source": "human" if i % 2 else "ai",
                     "weight": 1.0 if i % 2 else 0.8, "p_chosen": 1.0 if i % 2 else 0.9,
                     "pair_id": f"p{i:03d}"})
    return rows


@pytest.fixture
def rows() -> list[dict]:
    return preference_rows()
