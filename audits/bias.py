"""Biases of a judge: position, verbosity, self-preference and formatting.

Position numbers need no humans. The other three ask one question each, "how often does the
side with property X win?", answered for the judge's per-order verdicts and for the human
votes (unbiased sample) on pairs where exactly one side has X, so the two rates can be read
side by side. Ties are left out of these rates: a tie does not prefer either side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audits.config import AuditConfig
from audits.frames import TIE, UNBIASED_SAMPLES, A, B, n_pairs, pair_first_unit, text_codes
from audits.intervals import bootstrap_cis, pair_sums, ratio
from audits.logistic import fit_logistic
from audits.values import Reasons, fraction, number

# Why a per-order figure is n/a on data that recorded one verdict for both orders (MT-Bench).
MERGED = (
    "only merged verdicts were recorded (one verdict copied to both orders): "
    "each order's own verdict, and so this figure, is unknown"
)
LENGTH_CURVE_EDGES = np.array([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0])


def per_order_verdicts(units: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit index, order (0 = ab) and choice of every usable verdict, both orders stacked."""
    idx, order, choice = [], [], []
    for code, name in ((0, "c_ab"), (1, "c_ba")):
        c = units[name].to_numpy()
        rows = np.flatnonzero(c >= 0)
        idx.append(rows)
        order.append(np.full(len(rows), code, dtype=np.int8))
        choice.append(c[rows])
    return np.concatenate(idx), np.concatenate(order), np.concatenate(choice)


def position(units: pd.DataFrame, config: AuditConfig, reasons: Reasons) -> dict:
    """Consistency across orders, first-position rate, flip rate and tie rate.

    consistency: share of units judged in both orders whose two verdicts are equal (a tie in
    both counts as consistent; a unit recorded as `orders_disagree` never does, even when its
    stored per-order verdicts are ties because the data did not say which way each order went).
    flip_rate: share of those units with opposite non-tie verdicts (a full reversal, the
    strongest kind of the flips that `labeling.verdicts` makes ties). first_rate: share of
    non-tie verdicts that pick the first-shown response. flip_rate and first_rate need each
    order's own verdict: merged units (`orders_merged`) are left out of them, and where every
    unit is merged the figure is null with the reason, never a made-up zero.
    """
    c_ab, c_ba = units["c_ab"].to_numpy(), units["c_ba"].to_numpy()
    both = (c_ab >= 0) & (c_ba >= 0)
    disagree, unit_merged = _unit_flag(units, "orders_disagree"), _unit_flag(units, "orders_merged")
    idx, order, choice = per_order_verdicts(units)
    merged = unit_merged[idx]
    decided = (choice != TIE) & ~merged
    first = decided & (choice == np.where(order == 0, A, B))
    per_order = both & ~unit_merged  # each order's own verdict is known
    cols = [
        (both & (c_ab == c_ba) & ~disagree, both),
        (per_order & (c_ab != TIE) & (c_ba != TIE) & (c_ab != c_ba), per_order),
    ]
    out = {
        "n_units_both_orders": int(both.sum()),
        "n_verdicts": len(choice),
        "n_orders_disagree_direction_unknown": int(np.sum(both & disagree)),
    }
    for key, (num, den) in zip(("consistency", "flip_rate"), cols, strict=True):
        out[key] = fraction(num.sum(), den.sum())
        if out[key] is None:
            reasons.null(key, _why_no_both(units, len(choice), key, np.any(both & unit_merged)))
    out["first_rate"] = fraction(first.sum(), decided.sum())
    if out["first_rate"] is None:
        why = "no usable verdict" if not len(choice) else "every verdict is a tie"
        if np.any(merged):
            why = MERGED
        reasons.null("first_rate", why)
    out["tie_rate"] = fraction((choice == TIE).sum(), len(choice))
    if out["tie_rate"] is None:
        reasons.null("tie_rate", "no usable verdict")
    out["ci95"] = _position_intervals(units, both, cols, idx, first, decided, config, reasons)
    return out


def _unit_flag(units: pd.DataFrame, column: str) -> np.ndarray:
    """A per-unit flag column as bools; all False where the units lack it."""
    return units[column].to_numpy(dtype=bool) if column in units else np.zeros(len(units), dtype=bool)


def _why_no_both(units: pd.DataFrame, n_verdicts: int, key: str, merged: bool) -> str:
    if n_verdicts == 0:
        return "no usable verdict"
    if key == "flip_rate" and merged:
        return MERGED
    return "no pair has usable verdicts in both orders"


def _position_intervals(units, both, cols, idx, first, decided, config, reasons) -> dict:
    pair_code, n = units["pair"].to_numpy(), n_pairs(units)
    per_unit = np.column_stack([cols[0][0], both])
    stats = np.hstack(
        [
            pair_sums(pair_code, per_unit, n),
            pair_sums(pair_code[idx], np.column_stack([first, decided]), n),
        ]
    )
    cis = bootstrap_cis(
        stats,
        {"consistency": ratio(0, 1), "first_rate": ratio(2, 3)},
        config.n_boot,
        config.seed,
        config.ci_level,
    )
    for key, den in (("consistency", 1), ("first_rate", 3)):
        if (stats[:, den] > 0).sum() < config.min_pairs_for_ci:
            cis[key] = reasons.null(f"ci95.{key}", f"fewer than {config.min_pairs_for_ci} pairs")
    return cis


def pair_positions(units: pd.DataFrame, votes: pd.DataFrame) -> np.ndarray:
    """Row of `units` holding each vote's pair attributes (first unit of the pair)."""
    return pair_first_unit(units)[votes["pair"].to_numpy()]


def side_preference(units, votes, side_a: np.ndarray, side_b: np.ndarray) -> dict:
    """How often the side with a property wins, for the judge and for humans.

    `side_a` / `side_b` are per-unit booleans; only units where exactly one is True count.
    Returns rates and counts for the judge (all pairs), the judge on human-labeled pairs,
    and the humans (unbiased sample).
    """
    only_one = side_a ^ side_b
    idx, _, choice = per_order_verdicts(units)
    keep = only_one[idx] & (choice != TIE)
    ai_wins = (choice[keep] == A) == side_a[idx[keep]]
    fair = votes[votes["sample"].isin(list(UNBIASED_SAMPLES)).to_numpy()]
    rows = pair_positions(units, fair)
    code = fair["code"].to_numpy()
    hkeep = (code != TIE) & only_one[rows]
    human_wins = (code[hkeep] == A) == side_a[rows[hkeep]]
    labeled_pair = np.zeros(n_pairs(units), dtype=bool)
    labeled_pair[fair["pair"].to_numpy()[hkeep]] = True
    on_labeled = labeled_pair[units["pair"].to_numpy()][idx[keep]]
    return {
        "ai": fraction(ai_wins.sum(), len(ai_wins)),
        "n_ai": len(ai_wins),
        "human": fraction(human_wins.sum(), len(human_wins)),
        "n_human": len(human_wins),
        "ai_on_labeled": fraction(ai_wins[on_labeled].sum(), on_labeled.sum()),
    }


def _lengths(units: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return (
        pd.to_numeric(units["len_a"], errors="coerce").to_numpy(dtype=float),
        pd.to_numeric(units["len_b"], errors="coerce").to_numpy(dtype=float),
    )


def verbosity(units: pd.DataFrame, votes: pd.DataFrame, reasons: Reasons) -> dict:
    """Longer-wins rates (judge, humans, judge on the humans' pairs) and the length regression."""
    len_a, len_b = _lengths(units)
    known = ~(np.isnan(len_a) | np.isnan(len_b))
    if not known.any():
        why = "response lengths (len_a, len_b) unknown"
        keys = ("longer_wins_ai", "longer_wins_human", "longer_wins_ai_on_labeled", "regression", "curve")
        return {k: reasons.null(k, why) for k in keys}
    pref = side_preference(units, votes, known & (len_a > len_b), known & (len_b > len_a))
    out = {
        "longer_wins_ai": pref["ai"],
        "n_ai": pref["n_ai"],
        "longer_wins_human": pref["human"],
        "n_human": pref["n_human"],
        "longer_wins_ai_on_labeled": pref["ai_on_labeled"],
    }
    _explain_side_nulls(out, reasons, "longer_wins", "no usable verdict on a pair of unequal lengths")
    x = np.log2((len_a + 1.0) / (len_b + 1.0))
    out["regression"] = _length_regression(units, votes, x, known, reasons)
    out["curve"] = _length_curve(units, votes, x, known)
    return out


def _explain_side_nulls(out: dict, reasons: Reasons, prefix: str, why_ai: str) -> None:
    whys = {
        f"{prefix}_ai": why_ai,
        f"{prefix}_human": "no non-tie human vote (audit or imported) on such a pair",
        f"{prefix}_ai_on_labeled": "no usable verdict on such a pair with a human vote",
    }
    for key, why in whys.items():
        if out[key] is None:
            reasons.null(key, why)


def _verdict_xy(units, votes, x, known) -> dict:
    """(x, y = side a won) for the judge's non-tie verdicts and for unbiased human votes."""
    idx, _, choice = per_order_verdicts(units)
    keep = known[idx] & (choice != TIE)
    fair = votes[votes["sample"].isin(list(UNBIASED_SAMPLES)).to_numpy()]
    rows = pair_positions(units, fair)
    code = fair["code"].to_numpy()
    hkeep = (code != TIE) & known[rows]
    return {"ai": (x[idx[keep]], choice[keep] == A), "human": (x[rows[hkeep]], code[hkeep] == A)}


def _length_regression(units, votes, x, known, reasons: Reasons) -> dict:
    """Logistic fit of P(a wins) on log2(len_a / len_b); slope = log-odds per doubling."""
    out = {"feature": "log2((len_a + 1) / (len_b + 1))"}
    for who, (xs, ys) in _verdict_xy(units, votes, x, known).items():
        if len(xs) < 2 or np.ptp(xs) == 0:
            out[who] = reasons.null(f"regression.{who}", "fewer than two verdicts with varying length")
            continue
        b0, b1 = fit_logistic(xs, ys.astype(float))
        out[who] = {
            "intercept": number(b0),
            "slope": number(b1),
            "odds_ratio_per_doubling": number(np.exp(b1)),
            "n": len(xs),
        }
    return out


def _length_curve(units, votes, x, known) -> dict:
    """Share of 'a wins' per bin of log2 length ratio, for the judge and humans (for a plot)."""
    out = {"x_label": "log2 length ratio (a / b)", "edges": LENGTH_CURVE_EDGES.tolist()}
    for who, (xs, ys) in _verdict_xy(units, votes, x, known).items():
        bins = np.clip(np.digitize(xs, LENGTH_CURVE_EDGES[1:-1]), 0, len(LENGTH_CURVE_EDGES) - 2)
        k = len(LENGTH_CURVE_EDGES) - 1
        n = np.bincount(bins, minlength=k)
        wins = np.bincount(bins, weights=ys.astype(float), minlength=k)
        sx = np.bincount(bins, weights=xs, minlength=k)
        out[who] = [
            {"x": number(sx[i] / n[i]), "a_wins": number(wins[i] / n[i]), "n": int(n[i])}
            for i in range(k)
            if n[i] > 0
        ]
    return out


def _family_match(families: tuple, models: tuple) -> np.ndarray:
    """True where the judge's family name appears in the model name (case-insensitive).

    Both arguments are (codes, names) from `text_codes`; the test runs once per distinct
    (family, model) combination, not once per unit.
    """
    (f_codes, f_names), (m_codes, m_names) = families, models
    combos, uniques = pd.factorize(f_codes * len(m_names) + m_codes)
    fams, mods = f_names[uniques // len(m_names)], m_names[uniques % len(m_names)]
    pairs = zip(fams, mods, strict=True)
    hits = np.array([bool(f) and bool(m) and f.lower() in m.lower() for f, m in pairs], dtype=bool)
    return hits[combos] if len(combos) else np.zeros(0, dtype=bool)


def _any_text(codes: np.ndarray, names: np.ndarray) -> bool:
    return bool(len(codes)) and bool(np.any(names[np.unique(codes)] != ""))


def self_preference(units: pd.DataFrame, votes: pd.DataFrame, reasons: Reasons) -> dict:
    """How often the judge picks its own family's response, next to the humans' rate."""
    keys = ("self_wins_ai", "self_wins_human", "self_wins_ai_on_labeled")
    family = text_codes(units["judge_family"])
    if not _any_text(*family):
        return {k: reasons.null(k, "judge_family unknown") for k in keys}
    model_a, model_b = text_codes(units["model_a"]), text_codes(units["model_b"])
    if not (_any_text(*model_a) or _any_text(*model_b)):
        return {k: reasons.null(k, "model names unknown") for k in keys}
    own_a = _family_match(family, model_a)
    own_b = _family_match(family, model_b)
    pref = side_preference(units, votes, own_a, own_b)
    out = {
        "self_wins_ai": pref["ai"],
        "n_ai": pref["n_ai"],
        "self_wins_human": pref["human"],
        "n_human": pref["n_human"],
        "self_wins_ai_on_labeled": pref["ai_on_labeled"],
    }
    _explain_side_nulls(
        out,
        reasons,
        "self_wins",
        "no usable verdict on a pair with exactly one response from the judge's family",
    )
    return out


def formatting(units: pd.DataFrame, votes: pd.DataFrame, reasons: Reasons) -> dict:
    """How often the formatted (lists / markdown) response wins, judge vs humans."""
    keys = ("formatted_wins_ai", "formatted_wins_human", "formatted_wins_ai_on_labeled")
    fa = pd.to_numeric(units["fmt_a"], errors="coerce").to_numpy(dtype=float)
    fb = pd.to_numeric(units["fmt_b"], errors="coerce").to_numpy(dtype=float)
    known = ~(np.isnan(fa) | np.isnan(fb))
    if not known.any():
        return {k: reasons.null(k, "formatting flags (fmt_a, fmt_b) unknown") for k in keys}
    pref = side_preference(units, votes, known & (fa > 0), known & (fb > 0))
    out = {
        "formatted_wins_ai": pref["ai"],
        "n_ai": pref["n_ai"],
        "formatted_wins_human": pref["human"],
        "n_human": pref["n_human"],
        "formatted_wins_ai_on_labeled": pref["ai_on_labeled"],
    }
    _explain_side_nulls(
        out, reasons, "formatted_wins", "no usable verdict on a pair where exactly one response is formatted"
    )
    return out
