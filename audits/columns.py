"""Frames built chunk by chunk, for projects too large to hold as Python rows.

The platform reads a project's judgments, pairs and votes in chunks (server-side cursors) and
codes each chunk's text columns as categoricals at once (`categorical_frames`), so only integer
codes and a few distinct strings outlive the chunk. `concat_chunks` joins the chunks into the frame that
coding the whole input at once would give: the same values, dtypes and categories (sorted, as
`astype("category")` sorts them, or the contract's fixed order), so a report cannot tell
how many chunks its input came in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals


def concat_chunks(chunks: list[pd.DataFrame], columns: list[str] | None = None) -> pd.DataFrame:
    """The chunks as one frame with a fresh index; categoricals keep integer codes throughout.

    Chunks whose categories agree (a fixed set, or the same few values) are joined by their
    codes; otherwise the categories are merged and sorted. An empty list gives an empty frame
    with `columns`.
    """
    if not chunks:
        return pd.DataFrame(columns=columns or [])
    joined = {}
    for column in chunks[0].columns:
        parts = [chunk[column] for chunk in chunks]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            joined[column] = _join_categoricals(parts)
        else:
            joined[column] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(joined, copy=False)


def _join_categoricals(parts: list[pd.Series]) -> pd.Categorical:
    categories = parts[0].cat.categories
    if all(part.cat.categories.equals(categories) for part in parts):
        codes = np.concatenate([part.cat.codes.to_numpy() for part in parts])
        return pd.Categorical.from_codes(codes, categories=categories, validate=False)
    return union_categoricals([part.array for part in parts], sort_categories=True)


def take_rows(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """`frame.iloc[rows]` with a fresh index: categoricals are taken by code, never as strings."""
    return pd.DataFrame({c: frame[c].array.take(rows) for c in frame.columns}, copy=False)
