"""Knobs of an audit, in one frozen dataclass so that a report says how it was computed."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AuditConfig:
    """How a report is computed; `build_report` copies it into the JSON under `config`.

    `min_pairs_for_ci`: below this many pairs a bootstrap interval says nothing (with one pair
    every resample is that pair), so the interval is null with a reason instead.
    `length_edges`: bucket edges, in characters, on the mean length of the two responses.
    `time_freq`: pandas period alias for the trend slice ("W" = calendar week).
    `gold_min_accuracy`: an annotator is flagged when the upper bound of the 95% interval of
    their accuracy on gold items is below it (so a few unlucky answers flag no one).
    """

    n_boot: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    min_pairs_for_ci: int = 5
    calibration_bins: int = 10
    calibration_method: str = "temperature"
    length_edges: tuple[int, ...] = (0, 500, 1000, 2000, 4000)
    time_freq: str = "W"
    max_slice_rows: int = 50
    gold_min_accuracy: float = 0.7

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
