"""The input contract of the audits package, and its conversion into integer-coded arrays.

The platform builds two pandas DataFrames from its database and hands them to
`audits.build_report`. Nothing else crosses the boundary, so this module is the contract.

judgments: one row per (pair, judge, template, order).

| column       | type                      | required | meaning                                           |
|--------------|---------------------------|----------|---------------------------------------------------|
| pair_id      | int or str                | yes      | the pair's id                                     |
| judge        | str                       | yes      | judge config name, e.g. "llmbar:GPT-4/CoT"        |
| order        | "ab" / "ba"               | yes      | presentation order (`labeling.records.Order`)     |
| status       | "ok"/"unparsable"/"error" | yes      | `labeling.records.VerdictStatus`                  |
| choice       | "a"/"b"/"tie" or null     | yes      | in the PAIR's terms; null unless status is ok     |
| template     | str                       | no ("")  | prompt version                                    |
| p_first      | float in [0, 1] or NaN    | no       | P(first-shown response is better)                 |
| created_at   | timestamp                 | no       | when the verdict was made (trend slice)           |
| category     | str                       | no ("")  | pair attributes, repeated on each row of the pair |
| model_a, model_b | str                   | no ("")  | models that wrote response a / b                  |
| len_a, len_b | int (characters)          | no       | response lengths (verbosity, length slices)       |
| fmt_a, fmt_b | bool                      | no       | response uses lists / markdown (`formatting_flags`) |
| judge_family | str                       | no ("")  | model family of the judge (self-preference)       |
| orders_disagree | bool                   | no (False) | the two orders were recorded as disagreeing, but  |
|              |                           |          | not which way (MT-Bench's "tie (inconsistent)")   |
| orders_merged | bool                     | no (False) | only a merged verdict was recorded, copied to     |
|              |                           |          | both orders: no first-position rate from it       |

labels: one row per human vote.

| column    | type                          | required | meaning                                          |
|-----------|-------------------------------|----------|--------------------------------------------------|
| pair_id   | int or str                    | yes      | the pair's id                                    |
| annotator | str                           | yes      | who voted                                        |
| choice    | "a"/"b"/"tie"                 | yes      | the vote, in the pair's terms                    |
| sample    | "audit"/"routed"/"imported"   | yes      | how the pair came to be labeled                  |

Rules applied here, once: a (pair, judge, template, order) seen twice keeps the latest row by
`created_at` (re-runs replace verdicts); an annotator who voted twice on a pair keeps the last
vote (so nobody agrees with themselves in the human-human ceiling); a choice on a row whose
status is not ok is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

CHOICES = ("a", "b", "tie")
A, B, TIE, MISSING = 0, 1, 2, -1
ORDERS = ("ab", "ba")
STATUSES = ("ok", "unparsable", "error")
SAMPLES = ("audit", "routed", "imported")
UNBIASED_SAMPLES = ("audit", "imported")

JUDGMENT_REQUIRED = ("pair_id", "judge", "order", "status", "choice")
JUDGMENT_OPTIONAL = {
    "template": "",
    "p_first": np.nan,
    "created_at": pd.NaT,
    "category": "",
    "model_a": "",
    "model_b": "",
    "len_a": np.nan,
    "len_b": np.nan,
    "fmt_a": np.nan,
    "fmt_b": np.nan,
    "judge_family": "",
    "orders_disagree": False,
    "orders_merged": False,
}
LABEL_REQUIRED = ("pair_id", "annotator", "choice", "sample")
UNIT_KEY = ("pair_id", "judge", "template")
PAIR_ATTRIBUTES = ("category", "model_a", "model_b", "len_a", "len_b", "fmt_a", "fmt_b")


class AuditInputError(ValueError):
    """A frame breaks the contract above; the message names the column and the valid values."""

    code = "audit_input"


@dataclass(frozen=True)
class AuditFrames:
    """The inputs, coded: one row per judged unit, and the human votes on those pairs.

    `units` has one row per (pair_id, judge, template) with `c_ab`, `c_ba` (choice codes of
    the two orders, -1 when that order has no ok verdict), `p_ab`, `p_ba` (p_first of each
    order), `created_at` (earliest verdict) and the pair attributes. `votes` has pair_id,
    annotator, `code` (choice code) and `sample`. `status_counts` counts every judgment row.
    """

    units: pd.DataFrame
    votes: pd.DataFrame
    status_counts: dict
    n_judgments: int


# Bullets, numbered items, headings, bold, code fences, table rows: what judges are said to favour.
_FORMAT_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S|^\s{0,3}#{1,6}\s|\*\*\S|```|^\s*\|.*\|", re.MULTILINE)


def formatting_flags(texts: pd.Series) -> np.ndarray:
    """True where a response uses list, heading, bold, code-fence or table markdown.

    The platform calls this to fill `fmt_a` / `fmt_b`; returns a bool array aligned to `texts`.
    """
    return texts.fillna("").astype(str).str.contains(_FORMAT_RE).to_numpy(dtype=bool)


def codes_of(values: pd.Series, allowed: tuple) -> np.ndarray:
    """Position of each value in `allowed`, -1 for null or unknown.

    Factorizes first, so the lookup runs on the few distinct values, not on every row.
    """
    codes, uniques = pd.factorize(values)
    table = np.append(pd.Index(list(allowed)).get_indexer(pd.Index(uniques)), -1)
    return table[codes].astype(np.int64)


def choice_codes(values: pd.Series) -> np.ndarray:
    """Map "a"/"b"/"tie" to 0/1/2 and anything null to -1."""
    return codes_of(values, CHOICES).astype(np.int8)


def _check_columns(frame: pd.DataFrame, required: tuple, name: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AuditInputError(f"{name} is missing columns {missing}; required columns are {list(required)}")


def _raise_on_bad(values: pd.Series, bad: np.ndarray, allowed: tuple, column: str) -> None:
    if bad.any():
        examples = sorted({str(v) for v in values[bad].head(5)})
        raise AuditInputError(f"column {column!r} has values {examples}; valid values are {list(allowed)}")


def _check_values(values: pd.Series, allowed: tuple, column: str) -> None:
    _raise_on_bad(values, codes_of(values, allowed) < 0, allowed, column)


def _with_defaults(judgments: pd.DataFrame) -> pd.DataFrame:
    frame = judgments.copy(deep=False)
    for column, default in JUDGMENT_OPTIONAL.items():
        if column not in frame.columns:
            frame[column] = default
    frame["template"] = frame["template"].fillna("")
    return frame


def _latest_rows(frame: pd.DataFrame, slot: np.ndarray) -> np.ndarray | None:
    """Rows to keep so each (unit, order) has its latest verdict; None when there are no dupes."""
    if np.bincount(slot).max(initial=0) <= 1:
        return None
    by_time = np.argsort(frame["created_at"].to_numpy(), kind="stable")
    keep = ~pd.Series(slot[by_time]).duplicated(keep="last").to_numpy()
    return np.sort(by_time[keep])


def _unit_codes(frame: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Dense code per (pair_id, judge, template), by combining per-column codes as integers."""
    combined = np.zeros(len(frame), dtype=np.int64)
    for column in UNIT_KEY:
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=False)
        combined = combined * len(uniques) + codes
    codes, uniques = pd.factorize(combined)
    return codes.astype(np.int64), len(uniques)


def _earliest(created: pd.Series, unit: np.ndarray, n_units: int) -> np.ndarray:
    """Earliest timestamp per unit (NaT where none), as naive UTC datetime64."""
    stamps = pd.to_datetime(created, utc=True, errors="coerce").dt.tz_localize(None)
    ns = stamps.to_numpy(dtype="datetime64[ns]").view(np.int64)
    known = ns != np.iinfo(np.int64).min
    out = np.full(n_units, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, unit[known], ns[known])
    out[out == np.iinfo(np.int64).max] = np.iinfo(np.int64).min
    return out.view("datetime64[ns]")


def _build_units(frame: pd.DataFrame, coded: dict, unit: np.ndarray, n_units: int) -> pd.DataFrame:
    """One row per unit: key, pair attributes (from its first row), both orders' verdicts."""
    ok = coded["status"] == 0
    p_first = pd.to_numeric(frame["p_first"], errors="coerce").to_numpy(dtype=float)
    first_row = np.empty(n_units, dtype=np.int64)
    first_row[unit[::-1]] = np.arange(len(frame))[::-1]
    units = frame[[*UNIT_KEY, "judge_family", *PAIR_ATTRIBUTES]].iloc[first_row]
    units = units.reset_index(drop=True)
    for name, code in (("ab", 0), ("ba", 1)):
        rows = ok & (coded["order"] == code)
        c = np.full(n_units, MISSING, dtype=np.int8)
        c[unit[rows]] = coded["choice"][rows]
        p = np.full(n_units, np.nan)
        p[unit[rows]] = p_first[rows]
        units[f"c_{name}"] = c
        units[f"p_{name}"] = p
    units["created_at"] = _earliest(frame["created_at"], unit, n_units)
    disagree = np.zeros(n_units, dtype=bool)
    np.logical_or.at(disagree, unit, frame["orders_disagree"].fillna(False).to_numpy(dtype=bool))
    units["orders_disagree"] = disagree
    merged = np.zeros(n_units, dtype=bool)
    np.logical_or.at(merged, unit, frame["orders_merged"].fillna(False).to_numpy(dtype=bool))
    units["orders_merged"] = merged
    return units


def _coded_judgments(frame: pd.DataFrame) -> dict:
    """order, status and choice as integer codes, each checked against its valid values."""
    coded = {
        "order": codes_of(frame["order"], ORDERS),
        "status": codes_of(frame["status"], STATUSES),
        "choice": codes_of(frame["choice"], CHOICES),
    }
    for column, allowed in (("order", ORDERS), ("status", STATUSES)):
        _raise_on_bad(frame[column], coded[column] < 0, allowed, column)
    bad_choice = (coded["status"] == 0) & (coded["choice"] < 0)
    _raise_on_bad(frame["choice"], bad_choice, CHOICES, "choice (on rows with status ok)")
    return coded


def prepare_judgments(judgments: pd.DataFrame, judge: str | None = None) -> AuditFrames:
    """Validate and code the judgments frame; raises AuditInputError on a contract breach."""
    _check_columns(judgments, JUDGMENT_REQUIRED, "judgments")
    frame = _with_defaults(judgments)
    if judge is not None:
        frame = frame[(frame["judge"] == judge).to_numpy()]
    coded = _coded_judgments(frame)
    unit, n_units = _unit_codes(frame)
    keep = _latest_rows(frame, unit * 2 + coded["order"])
    if keep is not None:
        frame, coded = frame.iloc[keep], {k: v[keep] for k, v in coded.items()}
        unit, n_units = _unit_codes(frame)
    status_counts = {s: int(np.sum(coded["status"] == i)) for i, s in enumerate(STATUSES)}
    units = _build_units(frame, coded, unit, n_units)
    return AuditFrames(units, _empty_votes(), status_counts, len(frame))


def _empty_votes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pair_id": pd.Series([], dtype=object),
            "annotator": pd.Series([], dtype=object),
            "code": pd.Series([], dtype=np.int8),
            "sample": pd.Series([], dtype=object),
        }
    )


def prepare_labels(labels: pd.DataFrame | None, pair_ids: pd.Series) -> pd.DataFrame:
    """Votes on the given pairs, coded; an absent or empty frame gives an empty table."""
    if labels is None or len(labels) == 0:
        return _empty_votes()
    _check_columns(labels, LABEL_REQUIRED, "labels")
    _check_values(labels["choice"], CHOICES, "choice")
    _check_values(labels["sample"], SAMPLES, "sample")
    votes = labels[labels["pair_id"].isin(pair_ids.unique())]
    votes = votes.drop_duplicates(["pair_id", "annotator"], keep="last")
    return pd.DataFrame(
        {
            "pair_id": votes["pair_id"].to_numpy(),
            "annotator": votes["annotator"].astype(str).to_numpy(),
            "code": choice_codes(votes["choice"]),
            "sample": votes["sample"].astype(str).to_numpy(),
        }
    )


def prepare(judgments: pd.DataFrame, labels: pd.DataFrame | None, judge: str | None = None) -> AuditFrames:
    """Both frames, coded and restricted to the judge (if given) and the judged pairs."""
    frames = prepare_judgments(judgments, judge)
    votes = prepare_labels(labels, frames.units["pair_id"])
    return AuditFrames(frames.units, votes, frames.status_counts, frames.n_judgments)


def combined_choice(c_ab: np.ndarray, c_ba: np.ndarray) -> np.ndarray:
    """One verdict per unit, MT-Bench's rule: orders that disagree make a tie.

    A unit with one usable order keeps that order's choice; with none, -1.
    """
    out = np.where(c_ab >= 0, c_ab, c_ba)
    conflict = (c_ab >= 0) & (c_ba >= 0) & (c_ab != c_ba)
    return np.where(conflict, TIE, out).astype(np.int8)


def p_a_debiased(p_ab: np.ndarray, p_ba: np.ndarray) -> np.ndarray:
    """P(response a is better), averaged over the orders that gave one (NaN when none)."""
    both = np.column_stack([p_ab, 1.0 - p_ba])
    count = np.sum(~np.isnan(both), axis=1)
    total = np.nansum(both, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
