"""Builders of the two audit input frames (pairs 0..n-1, known answers)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def judgments_frame(truth, verdicts_by_order, judge="j", **pair_columns) -> pd.DataFrame:
    """Rows for pairs 0..n-1; `verdicts_by_order` maps order -> list of choices (None = error)."""
    frames = []
    for order, choices in verdicts_by_order.items():
        status = ["ok" if c is not None else "error" for c in choices]
        frames.append(
            pd.DataFrame(
                {
                    "pair_id": np.arange(len(truth)),
                    "judge": judge,
                    "order": order,
                    "status": status,
                    "choice": list(choices),
                    **pair_columns,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def labels_frame(choices, sample="audit", annotator="h1", pair_ids=None) -> pd.DataFrame:
    pair_ids = np.arange(len(choices)) if pair_ids is None else pair_ids
    return pd.DataFrame(
        {"pair_id": pair_ids, "annotator": annotator, "choice": list(choices), "sample": sample}
    )
