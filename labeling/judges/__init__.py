"""AI judges: one protocol (base), backends chosen by name (openai, hf, replay, ensemble),
position debiasing, direct scoring and the call cache. Pure Python: never imports Django."""

from labeling.judges.base import (
    Judge,
    JudgeConfig,
    JudgeError,
    JudgeItem,
    JudgeStats,
    Provenance,
    ShownChoice,
    Verdict,
    backend_names,
    build_judge,
    register_backend,
)
from labeling.judges.builtin import builtin_config, smollm2_config
from labeling.judges.cache import CallCache, MemoryCallCache, SqliteCallCache, request_key
from labeling.judges.debias import DebiasedVerdict, debias
from labeling.judges.ensemble import spread, winners_differ
from labeling.judges.replay import verdict_from_record
from labeling.judges.scoring import ScoreItem, ScoreVerdict

__all__ = [
    "CallCache",
    "DebiasedVerdict",
    "Judge",
    "JudgeConfig",
    "JudgeError",
    "JudgeItem",
    "JudgeStats",
    "MemoryCallCache",
    "Provenance",
    "ScoreItem",
    "ScoreVerdict",
    "ShownChoice",
    "SqliteCallCache",
    "Verdict",
    "backend_names",
    "build_judge",
    "builtin_config",
    "debias",
    "register_backend",
    "request_key",
    "smollm2_config",
    "spread",
    "verdict_from_record",
    "winners_differ",
]
