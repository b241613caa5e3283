"""Percentile bootstrap over pairs, vectorized as a weight matrix times per-pair statistics.

Every audit number is a function of sums of per-pair counts (agreements, comparisons,
confusion cells). Resampling pairs with replacement is then a multinomial weight per pair, so
one resample's totals are `weights @ stats`; a block of resamples is one matrix product. This
keeps all votes of a pair together (they are not independent) and never loops over rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

# Resamples per block: bounds the weight matrix at BLOCK x n_pairs float64.
_BLOCK_CELLS = 4_000_000


def pair_sums(pair_codes: np.ndarray, columns: np.ndarray, n_pairs: int) -> np.ndarray:
    """Sum each column of `columns` (rows x k) per pair; returns n_pairs x k.

    One bincount over (pair, column) cells instead of one per column: each cell still adds
    its rows in row order, so the sums are bit-for-bit those of a per-column loop.
    """
    columns = np.asarray(columns, dtype=float)
    if columns.ndim == 1:
        columns = columns[:, None]
    k = columns.shape[1]
    cells = (np.asarray(pair_codes, dtype=np.int64)[:, None] * k + np.arange(k)).ravel()
    sums = np.bincount(cells, weights=np.ascontiguousarray(columns).ravel(), minlength=n_pairs * k)
    return sums.reshape(n_pairs, k)


def resampled_totals(stats: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Column totals of `stats` (n_pairs x k) under `n_boot` pair resamples: n_boot x k.

    Pairs with identical statistics are interchangeable, so drawing n pairs with replacement
    is the same as drawing how many of each distinct row, a multinomial over the distinct
    rows. Per-pair counts take few distinct values, which makes this exact bootstrap cost
    O(n_boot x distinct rows) instead of O(n_boot x n_pairs).
    """
    n = stats.shape[0]
    rng = np.random.default_rng(seed)
    rows = distinct_rows(stats)
    if rows is not None and len(rows[0]) <= n // 4:
        first, counts = rows
        draws = rng.multinomial(n, counts / n, size=n_boot)
        return draws.astype(float) @ stats[first]
    return _resampled_by_index(stats, n_boot, rng)


def distinct_rows(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(index of one row per distinct row, its count), or None if rows are not small counts.

    Rows of non-negative integers are packed into one int64 key (mixed radix) and hashed,
    which is far cheaper than sorting rows; None sends the caller to plain resampling.
    """
    if not len(stats) or stats.min() < 0 or not np.array_equal(stats, np.round(stats)):
        return None
    radix = stats.max(axis=0).astype(np.int64) + 1
    if np.sum(np.log2(radix.astype(float))) > 62:
        return None
    key = np.zeros(len(stats), dtype=np.int64)
    for j in range(stats.shape[1]):
        key = key * radix[j] + stats[:, j].astype(np.int64)
    codes, uniques = pd.factorize(key)
    first = np.full(len(uniques), len(stats), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(stats)))
    return first, np.bincount(codes, minlength=len(uniques))


def _resampled_by_index(stats: np.ndarray, n_boot: int, rng) -> np.ndarray:
    """Plain resampling for many distinct rows, in blocks that bound the weight matrix."""
    n = stats.shape[0]
    block = max(1, min(n_boot, _BLOCK_CELLS // max(n, 1)))
    totals = []
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        picks = rng.integers(0, n, size=(b, n))
        flat = (picks + (np.arange(b) * n)[:, None]).ravel()
        weights = np.bincount(flat, minlength=b * n).reshape(b, n)
        totals.append(weights @ stats)
    return np.vstack(totals)


def bootstrap_cis(
    stats: np.ndarray,
    statistics: dict[str, Callable[[np.ndarray], np.ndarray]],
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, list[float] | None]:
    """Percentile intervals of each statistic (totals rows -> values), one resampling for all.

    Resamples where a statistic is undefined (NaN, e.g. no comparisons drawn) are dropped;
    its interval is None when none is defined. Rounded to 6 places for readable JSON.
    """
    totals = resampled_totals(stats, n_boot, seed)
    tail = (1.0 - level) / 2.0
    out = {}
    for name, statistic in statistics.items():
        values = statistic(totals)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            out[name] = None
            continue
        low, high = np.quantile(values, [tail, 1.0 - tail])
        out[name] = [round(float(low), 6), round(float(high), 6)]
    return out


def bootstrap_ci(stats, statistic, n_boot: int, seed: int, level: float = 0.95):
    """The interval of a single statistic (see `bootstrap_cis`)."""
    return bootstrap_cis(stats, {"value": statistic}, n_boot, seed, level)["value"]


def ratio(num: int, den: int) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic `totals[:, num] / totals[:, den]`, NaN where the denominator is zero."""

    def statistic(totals: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals[:, den] > 0, totals[:, num] / totals[:, den], np.nan)

    return statistic
