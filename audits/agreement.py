"""Alignment of a judge with human votes, and of humans with each other (the ceiling).

Conventions, chosen so both published ones can be read off one report:
- `with_ties` / `without_ties` / `cohen_kappa` / `confusion` use the judge's combined verdict
  per unit (MT-Bench: orders that disagree count as a tie) against every human vote on the
  pair (each vote counts, as MT-Bench's authors count). `without_ties` keeps comparisons where
  neither the judge nor the human says tie.
- `by_order` compares each order's own verdict with the votes (LLMBar reports these), and
  `mean_over_orders` is their plain mean.
- Intervals resample pairs (all votes and units of a pair move together).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audits.config import AuditConfig
from audits.frames import MISSING, TIE, UNBIASED_SAMPLES, join_on_pair, n_pairs, sample_mask
from audits.intervals import bootstrap_ci, bootstrap_cis, pair_sums, ratio
from audits.values import Reasons, fraction, number

CHOICE_LABELS = ["a", "b", "tie"]
MERGED = (
    "only merged verdicts were recorded (one verdict copied to both orders): "
    "each order's own verdict, and so its agreement, is unknown"
)
# Column layout of the per-pair statistics that every agreement number is computed from.
AGREE, N, AGREE_NT, N_NT, AGREE_AB, N_AB, AGREE_BA, N_BA, CELLS = 0, 1, 2, 3, 4, 5, 6, 7, 8


def comparisons(units: pd.DataFrame, votes: pd.DataFrame, samples) -> pd.DataFrame:
    """One row per (unit, human vote) on the same pair, for votes of the given samples.

    `unit` is the row number in `units`, so slices can look up the unit's attributes. Rows
    come in the order of a pandas inner merge on pair_id (units in order, then votes).
    """
    chosen = votes[sample_mask(votes, samples)]
    unit, vote = join_on_pair(units["pair"].to_numpy(), chosen["pair"].to_numpy(), n_pairs(units))
    out = {"pair_id": units["pair_id"].to_numpy()[unit]}
    out.update(zip(("c_comb", "c_ab", "c_ba"), _verdict_codes(units, unit), strict=True))
    out.update(unit=unit, human=chosen["code"].to_numpy()[vote], pair=units["pair"].to_numpy()[unit])
    return pd.DataFrame(out)


def pair_stats(units: pd.DataFrame, votes: pd.DataFrame, samples) -> np.ndarray:
    """`comparison_stats(comparisons(units, votes, samples))`, without forming the comparisons.

    Every statistic sums, over the (unit, vote) combinations of a pair, a function of the
    unit's verdict code and the vote's code; so per pair it is a product of two small
    histograms (verdict codes of the pair's units, vote codes of its votes). Rows are the
    labeled pairs in pair-code order, as there; the counts are whole numbers, so the sums are
    exactly equal.
    """
    n = n_pairs(units)
    chosen = sample_mask(votes, samples)
    vote_pair = votes["pair"].to_numpy()[chosen]
    if not len(vote_pair):
        return np.zeros((0, CELLS + 9))
    labeled = np.zeros(n, dtype=bool)
    labeled[vote_pair] = True
    keep = np.flatnonzero(labeled)
    m = len(keep)
    dense = np.zeros(n, dtype=np.int64)
    dense[keep] = np.arange(m)
    unit_pair = units["pair"].to_numpy()
    rows = np.flatnonzero(labeled.take(unit_pair))  # only units of labeled pairs
    row_pair = dense.take(unit_pair.take(rows))

    def histogram(pair: np.ndarray, codes: np.ndarray, shift: int) -> list[np.ndarray]:
        """Counts of codes a / b / tie per labeled pair: three length-m arrays."""
        counts = np.bincount((codes.astype(np.int64) + shift) * m + pair, minlength=(3 + shift) * m)
        return list(counts.reshape(3 + shift, m)[shift:].astype(float))

    human = histogram(dense.take(vote_pair), votes["code"].to_numpy()[chosen], 0)
    both, ab, ba = (histogram(row_pair, codes, 1) for codes in _verdict_codes(units, rows))
    n_human = human[0] + human[1] + human[2]
    out = np.empty((m, CELLS + 9))
    out[:, AGREE_NT] = both[0] * human[0] + both[1] * human[1]
    out[:, AGREE] = out[:, AGREE_NT] + both[2] * human[2]
    out[:, N] = (both[0] + both[1] + both[2]) * n_human
    out[:, N_NT] = (both[0] + both[1]) * (human[0] + human[1])
    for agree, count, side in ((AGREE_AB, N_AB, ab), (AGREE_BA, N_BA, ba)):
        out[:, agree] = side[0] * human[0] + side[1] * human[1] + side[2] * human[2]
        out[:, count] = (side[0] + side[1] + side[2]) * n_human
    for j, k in np.ndindex(3, 3):
        out[:, CELLS + 3 * j + k] = both[j] * human[k]
    return out


def _verdict_codes(units: pd.DataFrame, rows: np.ndarray) -> list[np.ndarray]:
    """Combined, ab and ba choice codes of units `rows`; a merged unit (one verdict recorded for
    both orders) has no per-order verdict of its own, so its ab / ba codes count as missing."""
    codes = [units[c].to_numpy().take(rows) for c in ("c_comb", "c_ab", "c_ba")]
    if "orders_merged" in units:
        merged = units["orders_merged"].to_numpy(dtype=bool).take(rows)
        if merged.any():
            codes[1:] = [np.where(merged, MISSING, c) for c in codes[1:]]
    return codes


def comparison_columns(comp: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-comparison indicator columns (layout above) and each comparison's pair code."""
    pair_code, _ = pd.factorize(comp["pair"].to_numpy())
    human = comp["human"].to_numpy().astype(np.int64)
    judge = comp["c_comb"].to_numpy().astype(np.int64)
    cols = np.zeros((len(comp), CELLS + 9))
    has = judge >= 0
    cols[:, AGREE] = has & (judge == human)
    cols[:, N] = has
    no_tie = has & (judge != TIE) & (human != TIE)
    cols[:, AGREE_NT] = no_tie & (judge == human)
    cols[:, N_NT] = no_tie
    for agree_col, n_col, name in ((AGREE_AB, N_AB, "c_ab"), (AGREE_BA, N_BA, "c_ba")):
        c = comp[name].to_numpy()
        cols[:, agree_col] = (c >= 0) & (c == human)
        cols[:, n_col] = c >= 0
    cell = judge.astype(np.int64) * 3 + human
    cols[np.flatnonzero(has), CELLS + cell[has]] = 1.0
    return cols, pair_code


def comparison_stats(comp: pd.DataFrame) -> np.ndarray:
    """Per-pair statistics (n_pairs x 17, layout above): the input of every estimate here."""
    cols, pair_code = comparison_columns(comp)
    n_pairs = int(pair_code.max()) + 1 if len(pair_code) else 0
    return pair_sums(pair_code, cols, n_pairs)


def kappa_from_cells(cells: np.ndarray) -> np.ndarray:
    """Cohen's kappa for each row of flattened 3x3 confusion counts (NaN when undefined)."""
    m = cells.reshape(-1, 3, 3)
    n = m.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_o = np.trace(m, axis1=1, axis2=2) / n
        p_e = np.sum(m.sum(axis=2) * m.sum(axis=1), axis=1) / n**2
        return np.where((n > 0) & (p_e < 1), (p_o - p_e) / (1 - p_e), np.nan)


def _mean_over_orders(totals: np.ndarray) -> np.ndarray:
    return (ratio(AGREE_AB, N_AB)(totals) + ratio(AGREE_BA, N_BA)(totals)) / 2


def _kappa(totals: np.ndarray) -> np.ndarray:
    return kappa_from_cells(totals[:, CELLS:])


_STATISTICS = {
    "with_ties": ratio(AGREE, N),
    "without_ties": ratio(AGREE_NT, N_NT),
    "mean_over_orders": _mean_over_orders,
    "cohen_kappa": _kappa,
}


def point_estimates(stats: np.ndarray) -> dict:
    """The four headline numbers from per-pair statistics (None where undefined)."""
    totals = stats.sum(axis=0, keepdims=True)
    return {name: number(f(totals)[0]) for name, f in _STATISTICS.items()}


def intervals(stats: np.ndarray, config: AuditConfig, reasons: Reasons, names=None) -> dict:
    """Bootstrap intervals of the headline numbers; null with a reason on too few pairs."""
    names = names or list(_STATISTICS)
    if stats.shape[0] < config.min_pairs_for_ci:
        why = f"{stats.shape[0]} pair(s): an interval needs at least {config.min_pairs_for_ci}"
        return {name: reasons.null(f"ci95.{name}", why) for name in names}
    cis = bootstrap_cis(
        stats, {n: _STATISTICS[n] for n in names}, config.n_boot, config.seed, config.ci_level
    )
    for name, ci in cis.items():
        if ci is None:
            reasons.null(f"ci95.{name}", "undefined in every resample")
    return cis


def alignment(stats: np.ndarray, config: AuditConfig, reasons: Reasons, why_empty: str) -> dict:
    """The `agreement` section from per-pair statistics (`pair_stats`): headline numbers, per
    order, kappa, confusion and intervals.

    `why_empty` is the reason given for every number when there is no comparison at all.
    """
    if not len(stats) or stats[:, N].sum() == 0:
        return _empty_alignment(reasons, why_empty)
    totals = stats.sum(axis=0)
    points = point_estimates(stats)
    out = {"n_pairs": int(stats.shape[0]), "n_comparisons": int(totals[N])}
    for name in ("with_ties", "without_ties", "cohen_kappa"):
        out[name] = points[name]
        if out[name] is None:
            reasons.null(name, _why_undefined(name, totals))
    out["by_order"] = _by_order(totals, reasons)
    out["mean_over_orders"] = points["mean_over_orders"]
    if out["mean_over_orders"] is None:
        reasons.null("mean_over_orders", _why_no_order(totals, "needs usable verdicts in both orders"))
    out["confusion"] = _confusion(totals[CELLS:])
    out["ci95"] = intervals(stats, config, reasons)
    return out


def _empty_alignment(reasons: Reasons, why: str) -> dict:
    out = {"n_pairs": 0, "n_comparisons": 0}
    for name in ("with_ties", "without_ties", "cohen_kappa", "mean_over_orders"):
        out[name] = reasons.null(name, why)
    out["by_order"] = {o: reasons.null(f"by_order.{o}", why) for o in ("ab", "ba")}
    out["confusion"] = _confusion(np.zeros(9))
    out["ci95"] = {name: reasons.null(f"ci95.{name}", why) for name in _STATISTICS}
    return out


def _why_undefined(name: str, totals: np.ndarray) -> str:
    if totals[N] == 0:
        return "no comparison has a usable verdict"
    if name == "without_ties":
        return "every comparison has a tie on the judge's or the human's side"
    return "kappa is undefined when judge and humans each use a single, identical category"


def _by_order(totals: np.ndarray, reasons: Reasons) -> dict:
    out = {}
    for order, agree, n in (("ab", AGREE_AB, N_AB), ("ba", AGREE_BA, N_BA)):
        out[order] = fraction(totals[agree], totals[n])
        if out[order] is None:
            reasons.null(f"by_order.{order}", _why_no_order(totals, f"no usable verdict in order {order}"))
    return out


def _why_no_order(totals: np.ndarray, otherwise: str) -> str:
    """Combined verdicts but no per-order one: only merged verdicts were recorded (MT-Bench)."""
    if totals[N] > 0 and totals[N_AB] == 0 and totals[N_BA] == 0:
        return MERGED
    return f"{otherwise} on labeled pairs"


def _confusion(cells: np.ndarray) -> dict:
    matrix = cells.reshape(3, 3).astype(int).tolist()
    return {"rows": "judge", "columns": "human", "labels": CHOICE_LABELS, "matrix": matrix}


def vote_counts(votes: pd.DataFrame) -> np.ndarray:
    """items x 3 counts of a/b/tie votes per pair (pairs in order of first appearance)."""
    pair_code, uniques = pd.factorize(votes["pair_id"])
    flat = pair_code * 3 + votes["code"].to_numpy().astype(np.int64)
    return np.bincount(flat, minlength=3 * len(uniques)).reshape(-1, 3)


def _pairs_agreeing(counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per item: agreeing vote pairs and all vote pairs, with and without ties."""
    choose2 = counts * (counts - 1) / 2
    total = counts.sum(axis=1)
    no_tie = counts[:, 0] + counts[:, 1]
    return (
        choose2.sum(axis=1),
        total * (total - 1) / 2,
        choose2[:, 0] + choose2[:, 1],
        no_tie * (no_tie - 1) / 2,
    )


def krippendorff_alpha_nominal(counts: np.ndarray) -> float:
    """Krippendorff's alpha (nominal) from an items x categories count matrix.

    Items with fewer than two values are not pairable and are dropped. Returns NaN when
    fewer than two values are pairable or all pairable values fall in one category.
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    n = m.sum()
    if n < 2:
        return float("nan")
    # Coincidences within units: o_ck = sum_u n_uc n_uk / (m_u - 1), minus self-pairs on c==k.
    o = np.einsum("uc,uk,u->ck", counts, counts, 1.0 / (m - 1))
    o -= np.diag((counts / (m - 1)[:, None]).sum(axis=0))
    n_c = o.sum(axis=1)
    d_o = (o.sum() - np.trace(o)) / n
    d_e = (n_c.sum() ** 2 - np.sum(n_c**2)) / (n * (n - 1))
    return float(1.0 - d_o / d_e) if d_e > 0 else float("nan")


def human_human(votes: pd.DataFrame, config: AuditConfig, reasons: Reasons) -> dict:
    """The ceiling: pairwise agreement among humans on items with >= 2 votes, and alpha."""
    votes = votes[votes["sample"].isin(list(UNBIASED_SAMPLES))]
    counts = vote_counts(votes) if len(votes) else np.zeros((0, 3), dtype=np.int64)
    counts = counts[counts.sum(axis=1) >= 2]
    out = {"n_items": len(counts), "n_votes": int(counts.sum())}
    why = "no human labels" if not len(votes) else "no pair has two or more human votes"
    agree, total, agree_nt, total_nt = _pairs_agreeing(counts)
    for key, num, den in (("agreement", agree, total), ("agreement_without_ties", agree_nt, total_nt)):
        value = fraction(num.sum(), den.sum())
        out[key] = (
            value
            if value is not None
            else reasons.null(key, why if not len(counts) else "no two votes on a pair without a tie")
        )
    alpha = number(krippendorff_alpha_nominal(counts)) if len(counts) else None
    out["krippendorff_alpha"] = (
        alpha
        if alpha is not None
        else reasons.null("krippendorff_alpha", why if not len(counts) else "all votes fall in one category")
    )
    stats = np.column_stack([agree, total])
    if len(counts) >= config.min_pairs_for_ci:
        out["ci95"] = bootstrap_ci(stats, ratio(0, 1), config.n_boot, config.seed, config.ci_level)
    else:
        out["ci95"] = reasons.null("ci95", f"{len(counts)} item(s) with two or more votes")
    return out
