"""The shared model loader: the offline SmolLM2 by a location-free name, converted once."""

from __future__ import annotations

import torch

from labeling import local_models
from labeling.judges import builtin_config
from labeling.local_models import SMOLLM2, load_causal_lm, resolve


def test_smollm2_loads_once_and_reloads_from_the_converted_copy_with_the_same_logits():
    model, tokenizer = load_causal_lm(SMOLLM2, device="cpu")
    assert load_causal_lm(SMOLLM2, device="cpu")[0] is model  # one copy per process
    assert model.config.num_hidden_layers == 30  # SmolLM2-135M
    source, gguf = resolve(SMOLLM2)
    cached = local_models._cache_dir(source, gguf)
    assert (cached / "config.json").is_file()
    reloaded, _ = local_models._load(source, gguf, "cpu")  # from the safetensors copy
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reloaded(ids).logits, atol=1e-5)


def test_builtin_judge_config_does_not_depend_on_the_install_location():
    config = builtin_config("smollm2")
    assert config.model == SMOLLM2
    assert config.config_hash() == builtin_config("smollm2").config_hash()
