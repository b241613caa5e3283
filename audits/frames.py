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
| sample    | "audit"/"routed"/"imported"/"gold" | yes | how the pair came to be labeled ("gold": a gold |
|           |                               |          | item, scored against its answer, not the judge)  |
| gold      | "a"/"b"/"tie" or ""           | no       | a gold item's known answer (audits.annotators)   |

Rules applied here, once: a (pair, judge, template, order) seen twice keeps the latest row by
`created_at` (re-runs replace verdicts); an annotator who voted twice on a pair keeps the last
vote (so nobody agrees with themselves in the human-human ceiling); a choice on a row whose
status is not ok is ignored.

Text columns may be plain strings (pandas' default pyarrow-backed `str`, or object) or
categoricals; categoricals are cheapest, since every text column is turned into integer
codes here and nothing downstream looks at a string per row. `categorical_frames` builds
them, with order / status / choice / sample in the contract's order, whose codes are then
used as they are (the platform calls it as rows arrive from the database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The codes and the debiased probability are defined once, with the AI verdict; the audits'
# modules read them here.
from labeling.verdicts import CHOICE_ORDER, MISSING, TIE, A, B, verdict_codes  # noqa: F401
from labeling.verdicts import debiased_p_array as p_a_debiased  # noqa: F401

CHOICES = tuple(c.value for c in CHOICE_ORDER)
ORDERS = ("ab", "ba")
STATUSES = ("ok", "unparsable", "error")
# "gold" last: the other samples keep their codes. A gold vote is in no sample the judge is scored
# on (UNBIASED_SAMPLES, "routed"): its pair is quality control for annotators, not a random draw.
SAMPLES = ("audit", "routed", "imported", "gold")
UNBIASED_SAMPLES = ("audit", "imported")

JUDGMENT_REQUIRED = ("pair_id", "judge", "order", "status", "choice")
# What an absent optional column stands for; applied per unit, never materialized per row.
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


class AuditInputError(ValueError):
    """A frame breaks the contract above; the message names the column and the valid values."""

    code = "audit_input"


@dataclass(frozen=True)
class AuditFrames:
    """The inputs, coded: one row per judged unit, and the human votes on those pairs.

    `units` has one row per (pair_id, judge, template), in order of first appearance, with
    `c_ab`, `c_ba` (choice codes of the two orders, -1 when that order has no ok verdict),
    `p_ab`, `p_ba` (p_first of each order), `created_at` (earliest verdict), the pair
    attributes (text ones as categoricals) and `pair`, a dense pair code (0.. in order of
    first appearance). `votes` has pair_id, annotator, `code` (choice code), `sample` and
    `pair` (the same code, so votes meet units by integer joins, never by pair id).
    `status_counts` counts every judgment row.
    """

    units: pd.DataFrame
    votes: pd.DataFrame
    status_counts: dict
    n_judgments: int


# What judges are said to favour: bullets, numbered items, headings and table rows at a line's
# start; bold and code fences anywhere. `_FORMAT_RE` is the definition; `_uses_formatting` finds
# the same texts, about 8x faster on responses without markdown (tests/audits/test_bias.py holds
# them equal).
_LINE_START = (r"\s*(?:[-*+]|\d+[.)])\s+\S", r"\s{0,3}#{1,6}\s", r"\s*\|.*\|")
_ANYWHERE = (r"\*\*\S", r"```")
_FORMAT_RE = re.compile("|".join([*(f"^{p}" for p in _LINE_START), *_ANYWHERE]), re.MULTILINE)
_LINE_START_RE = re.compile("|".join(_LINE_START))
_ANYWHERE_RE = re.compile("|".join(_ANYWHERE))


def formatting_flags(texts: pd.Series) -> np.ndarray:
    """True where a response uses list, heading, bold, code-fence or table markdown.

    The platform calls this to fill `fmt_a` / `fmt_b`; returns a bool array aligned to `texts`.
    """
    values = texts.fillna("").astype(str)
    return np.fromiter(map(_uses_formatting, values), dtype=bool, count=len(values))


def _uses_formatting(text: str) -> bool:
    """`_FORMAT_RE.search(text)`, without trying the line-start patterns at every character:
    a multi-line `^` matches only at the start and after a newline, so they are tried there."""
    if ("**" in text or "`" in text) and _ANYWHERE_RE.search(text):
        return True
    start = 0
    while start >= 0:
        if _LINE_START_RE.match(text, start):
            return True
        start = text.find("\n", start) + 1 or -1
    return False


# Text columns with a handful of distinct values; those with a fixed set keep the contract's order.
_CATEGORICAL_COLUMNS = {
    "judgments": (
        "judge",
        "template",
        "order",
        "status",
        "choice",
        "category",
        "model_a",
        "model_b",
        "judge_family",
    ),
    "labels": ("annotator", "choice", "sample"),
}
_FIXED_CATEGORIES = {"order": ORDERS, "status": STATUSES, "choice": CHOICES, "sample": SAMPLES}


def categorical_frames(
    judgments: pd.DataFrame, labels: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The two frames with their low-cardinality text columns as categoricals.

    This is the form to hand over (the platform does, as rows arrive from the database): each
    column is coded once, and order / status / choice / sample codes in the contract's order
    are used as they are. A value outside a fixed set would become null here, so it is
    checked first and reported as `prepare` reports it (a choice only on rows whose status is
    ok: elsewhere it is ignored anyway).
    """
    out = []
    for frame, name in ((judgments, "judgments"), (labels, "labels")):
        if frame is None:
            out.append(None)
            continue
        dtypes = {}
        for column in _CATEGORICAL_COLUMNS[name]:
            if column not in frame.columns or isinstance(frame[column].dtype, pd.CategoricalDtype):
                continue
            fixed = _FIXED_CATEGORIES.get(column)
            if fixed is None:
                dtypes[column] = "category"
                continue
            values = frame[column]
            unknown = values.notna().to_numpy() & ~values.isin(fixed).to_numpy()
            if name == "judgments" and column == "choice" and "status" in frame.columns:
                bad = unknown & frame["status"].eq(STATUSES[0]).to_numpy(dtype=bool, na_value=False)
                _raise_on_bad(values, bad, fixed, "choice (on rows with status ok)")
                if unknown.any():  # only on failed verdicts, where it is ignored: dropped
                    frame = frame.assign(choice=values.mask(unknown))
            else:
                _raise_on_bad(values, unknown, fixed, column)
            dtypes[column] = pd.CategoricalDtype(list(fixed))
        out.append(frame.astype(dtypes))
    return out[0], out[1]


def _arrow_strings(values: pd.Series):
    """The pyarrow array behind a pyarrow-backed string column (pandas' default `str`), else None."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    import pyarrow as pa

    return pa.array(values.array)  # no copy; chunked when the frame was concatenated


def codes_of(values: pd.Series, allowed: tuple) -> np.ndarray:
    """Position of each value in `allowed` (int8: a handful of valid values), -1 for null or unknown.

    Never hashes Python strings row by row: a categorical column maps its few categories, a
    pyarrow string column looks values up in C (`index_in`), anything else is factorized
    first so the lookup runs on the distinct values only.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        table = pd.Index(list(allowed)).get_indexer(values.cat.categories)
        if codes.dtype == np.int8 and np.array_equal(table, np.arange(len(table))):
            return codes  # categories in the contract's order (as the platform builds them)
        return np.append(table, -1).astype(np.int8).take(codes)
    arrow = _arrow_strings(values)
    if arrow is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        found = pc.index_in(arrow, value_set=pa.array(list(allowed), type=arrow.type))
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int8)
    codes, uniques = pd.factorize(values)
    table = np.append(pd.Index(list(allowed)).get_indexer(pd.Index(uniques)), -1).astype(np.int8)
    return table[codes]


def choice_codes(values: pd.Series) -> np.ndarray:
    """Map "a"/"b"/"tie" to 0/1/2 and anything null to -1."""
    return codes_of(values, CHOICES)


def first_appearance(codes: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    """Recode `labels[codes]` (codes >= 0) exactly as `pd.factorize` would code those labels.

    The result equals factorizing the per-row labels (dense codes in order of first
    appearance, equal labels merged), but hashes integers and the few distinct labels only.
    """
    labels = np.asarray(labels, dtype=object)
    dense, used = pd.factorize(codes)
    merged, names = pd.factorize(labels[used])
    return merged[dense].astype(np.int64), np.asarray(names, dtype=object)


def text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, names) with `names[codes]` equal to `values.fillna("").astype(str)`.

    Works on the categories of a categorical (what `prepare` builds) instead of per row;
    names may repeat (null and "" both give ""), codes are never -1.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy().astype(np.int64), values.cat.categories
    else:
        codes, uniques = _factorize(values)
    names = np.append(np.asarray(uniques.astype(str), dtype=object), "")
    return np.where(codes < 0, len(names) - 1, codes), names


def _constant(arrow) -> bool:
    """One non-null value throughout (a single template or judge): no hashing needed to code it.

    Comparing the ends first keeps the full comparison off columns that plainly vary.
    """
    import pyarrow.compute as pc

    if not len(arrow) or arrow.null_count or arrow[0] != arrow[len(arrow) - 1]:
        return False
    return bool(pc.all(pc.equal(arrow, arrow[0])).as_py())


def _factorize(values: pd.Series, at: np.ndarray | None = None) -> tuple[np.ndarray, pd.Index]:
    """Codes of `values` (at rows `at`, if given) and the values they stand for; nulls are -1.

    A categorical already is codes; a pyarrow string column is dictionary-encoded in C (after
    taking the rows, so only those are hashed); anything else goes through `pd.factorize`.
    Codes need not be in order of first appearance (see `first_appearance`).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()  # int8 for a few categories: kept narrow
        return (codes if at is None else codes[at]), pd.Index(values.cat.categories)
    arrow = _arrow_strings(values)
    if arrow is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if at is None and _constant(arrow):
            return np.zeros(len(arrow), dtype=np.int64), pd.Index([arrow[0].as_py()], dtype=values.dtype)
        if not len(arrow) or (at is not None and not len(at)):
            return np.zeros(0, dtype=np.int64), pd.Index([], dtype=values.dtype)
        encoded = pc.dictionary_encode(arrow if at is None else arrow.take(at))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()  # unifies the chunks' dictionaries; indices only
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return codes, pd.Index(encoded.dictionary.to_pylist(), dtype=values.dtype)
    codes, uniques = pd.factorize(values)
    codes = codes.astype(np.int64, copy=False)
    return (codes if at is None else codes[at]), pd.Index(uniques)


def _check_columns(frame: pd.DataFrame, required: tuple, name: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AuditInputError(f"{name} is missing columns {missing}; required columns are {list(required)}")


def _raise_on_bad(values: pd.Series, bad: np.ndarray, allowed: tuple, column: str) -> None:
    if bad.any():
        examples = sorted({"null" if pd.isna(v) else str(v) for v in values[bad].head(5)})
        raise AuditInputError(f"column {column!r} has values {examples}; valid values are {list(allowed)}")


class _Rows:
    """The judgments frame seen through a row selection (a judge filter, then re-run dedup).

    Columns are coded over the whole frame once and indexed after, so a selection never
    copies string columns; `None` rows means every row, without building an index.
    """

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame) if self.rows is None else len(self.rows)

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def pick(self, array: np.ndarray) -> np.ndarray:
        """A whole-frame array restricted to the selected rows."""
        return array if self.rows is None else array[self.rows]

    def series(self, column: str) -> pd.Series:
        """The selected rows of a column (a copy only when rows are selected)."""
        values = self.frame[column]
        return values if self.rows is None else values.iloc[self.rows]

    def select(self, keep: np.ndarray) -> None:
        """Narrow the selection to `keep` (positions within the current selection)."""
        self.rows = keep if self.rows is None else self.rows[keep]

    def at(self, positions: np.ndarray) -> np.ndarray:
        """Whole-frame row numbers of positions within the selection."""
        return positions if self.rows is None else self.rows[positions]


def _cell_rows(slot: np.ndarray, n_units: int) -> np.ndarray:
    """n_units x 2 table (order ab, ba) of the row holding each (unit, order) cell, -1 where none.

    Built by one scatter; where a cell has several rows the last one lands, which the caller
    detects by counting filled cells (see `_latest_rows`).
    """
    cells = np.full(2 * n_units, -1, dtype=slot.dtype)
    cells[slot] = np.arange(len(slot), dtype=slot.dtype)
    return cells.reshape(n_units, 2)


def _latest_rows(created: pd.Series | None, slot: np.ndarray, cells: np.ndarray) -> np.ndarray | None:
    """Rows to keep so each (unit, order) has its latest verdict; None when there are no dupes.

    `cells` is `_cell_rows(slot, ...)`: with no two rows in one cell, every row filled its own.
    """
    if len(slot) <= cells.size and np.count_nonzero(cells >= 0) == len(slot):
        return None
    by_time = np.arange(len(slot)) if created is None else np.argsort(created.to_numpy(), kind="stable")
    keep = ~pd.Series(slot[by_time]).duplicated(keep="last").to_numpy()
    return np.sort(by_time[keep])


def _integer_ids(values: pd.Series) -> np.ndarray | None:
    """pair_id as a plain int64 array when it is an integer column, else None."""
    dtype = values.dtype
    if not isinstance(dtype, np.dtype) or dtype.kind not in "iu" or dtype == np.uint64:
        return None
    return values.to_numpy().astype(np.int64, copy=False)


def dense_codes(keys: np.ndarray) -> np.ndarray:
    """`pd.factorize(keys)[0]` for non-negative integer keys: dense codes, first appearance first."""
    return dense_codes_and_firsts(keys)[0]


def dense_codes_and_firsts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(`dense_codes(keys)`, the row where each code first appears), both int32 where they fit.

    Keys from a small range (ids packed with judge and template codes, typically) are coded by
    direct addressing: a table of each key's first row, then a running count of first rows.
    That is a few linear passes instead of a hash table with one entry per unit; the first
    rows fall out of the same passes, in code order.
    """
    n = len(keys)
    span = int(keys.max()) + 1 if n else 0
    if span > 4 * n + 1024:
        codes = pd.factorize(keys)[0].astype(np.int64, copy=False)
        return codes, first_rows(codes, int(codes.max()) + 1 if n else 0)
    index = np.int32 if n < 2**30 else np.int64  # room for unit * 2 + order (`_slots`)
    rows = np.arange(n, dtype=index)
    first = np.full(span, n, dtype=index)
    np.minimum.at(first, keys, rows)
    first_row = first.take(keys)
    is_first = first_row == rows
    rank = np.cumsum(is_first, dtype=index)
    rank -= 1
    firsts = np.flatnonzero(is_first).astype(index, copy=False)
    return rank.take(first_row, out=first_row, mode="clip"), firsts  # into first_row's buffer: done with it


def first_rows(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Row of each code's first appearance (codes 0..n_codes-1, each present)."""
    first = np.full(n_codes, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return first


def _unit_codes(rows: _Rows, judge: np.ndarray, template: np.ndarray, n_templates: int):
    """Dense code per (pair_id, judge, template) in order of first appearance, and first rows.

    Judge and template are already small integer codes; an integer pair_id is packed with
    them into one int64 key, so pair ids are never hashed; other pair ids are factorized first.
    The key is built in place: one new array, whatever the width of the codes.
    """
    n_judges = int(judge.max(initial=-1)) + 2  # codes -1 (a null judge) .. max
    n_minor = n_judges * n_templates
    pair_id = rows.series("pair_id")
    ids = _integer_ids(pair_id)
    low, high = (int(ids.min()), int(ids.max())) if ids is not None and len(ids) else (0, 2**62)
    if (high - low + 1) * n_minor < 2**62:
        if low:
            keys = np.subtract(ids, low)  # before scaling: ids near 2**63 must not overflow
            keys *= n_minor
        else:
            keys = np.multiply(ids, n_minor)
    else:
        keys = pd.factorize(pair_id, use_na_sentinel=False)[0].astype(np.int64) * n_minor
    if n_templates > 1:
        keys += template
        keys += (judge.astype(np.int64) + 1) * n_templates
    else:
        keys += judge
        keys += 1
    return dense_codes_and_firsts(keys)


def _pair_codes(pair_id: pd.Series) -> np.ndarray:
    """Dense pair codes in order of first appearance (a null id is one pair, as in the unit key).

    Units usually meet their pairs in id order (ids are handed out as pairs are imported, and
    rows come back in that order), and then a pair's code is simply the rank of its id among
    the judged ones: a table of which ids occur, one running count, one lookup. Where the
    ranks are not in order of first appearance, `dense_codes` codes them properly.
    """
    ids = _integer_ids(pair_id)
    if ids is not None and len(ids):
        low, high = int(ids.min()), int(ids.max())
        offset = ids - low if low else ids
        if high - low < 4 * len(ids) + 1024:
            present = np.zeros(high - low + 1, dtype=bool)
            present[offset] = True
            rank = np.cumsum(present, dtype=np.int32)
            codes = rank.take(offset)
            codes -= 1
            if _in_order_of_first_appearance(codes):
                return codes
        return dense_codes(offset)
    return pd.factorize(pair_id, use_na_sentinel=False)[0].astype(np.int64)


def _in_order_of_first_appearance(codes: np.ndarray) -> bool:
    """Whether dense codes 0..k-1 first appear in increasing order: starting at 0, the running
    maximum never steps by more than one (so every code below it has been seen already)."""
    if not len(codes):
        return True
    peak = np.maximum.accumulate(codes)
    return bool(codes[0] == 0 and (np.diff(peak) <= 1).all())


def _template_codes(rows: _Rows) -> tuple[np.ndarray, pd.Index]:
    """Template codes with a null template coded as "" (the default prompt version)."""
    if not rows.has("template"):
        return np.zeros(len(rows.frame), dtype=np.int8), pd.Index([""], dtype=object)
    codes, uniques = _factorize(rows.frame["template"])
    if len(codes) and codes.min() < 0:
        blank = uniques.get_indexer([""])[0]
        if blank < 0:
            uniques, blank = pd.Index([*uniques, ""]), len(uniques)
        codes = np.where(codes < 0, np.int64(blank), codes)
    return codes, uniques


def _categorical(rows: _Rows, column: str, at: np.ndarray) -> pd.Categorical:
    """A text column at whole-frame rows `at`, as a categorical (nulls stay null).

    Coding the column once and taking codes is what keeps string handling off the hot path;
    an absent optional column is its default on every unit.
    """
    if not rows.has(column):
        return pd.Categorical.from_codes(np.zeros(len(at), dtype=np.int8), [JUDGMENT_OPTIONAL[column]])
    codes, uniques = _factorize(rows.frame[column], at)
    return pd.Categorical.from_codes(codes, categories=uniques)


def _as_ns(created: pd.Series) -> np.ndarray:
    """Timestamps as naive-UTC int64 nanoseconds, NaT as int64 min (any input the contract allows)."""
    dtype = created.dtype
    if dtype.kind == "M":
        return created.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if isinstance(dtype, pd.DatetimeTZDtype):
        stamps = created.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        stamps = pd.to_datetime(created, utc=True, errors="coerce").dt.tz_localize(None)
    return stamps.to_numpy(dtype="datetime64[ns]").view(np.int64)


class _Orders:
    """Per-order gathers through the cell table: `take(values, fill)` gives (ab, ba) arrays.

    A cell without a row, or whose row's status is not ok when `ok_only`, gets `fill`.
    """

    def __init__(self, cells: np.ndarray, status: np.ndarray):
        self.rows = [np.ascontiguousarray(cells[:, i]) for i in range(len(ORDERS))]
        self.empty = [r < 0 for r in self.rows] if (cells < 0).any() else None
        self.status = status
        self._not_ok = None

    def not_ok(self) -> list[np.ndarray]:
        if self._not_ok is None:
            self._not_ok = [self.status.take(r) != 0 for r in self.rows]
            if self.empty is not None:
                self._not_ok = [bad | empty for bad, empty in zip(self._not_ok, self.empty, strict=True)]
        return self._not_ok

    def take(self, values: np.ndarray, fill, ok_only: bool = False) -> list[np.ndarray]:
        masks = self.not_ok() if ok_only else self.empty
        out = [values.take(r) for r in self.rows]
        for array, mask in zip(out, masks or (), strict=False):
            array[mask] = fill
        return out


def _flag(rows: _Rows, column: str) -> np.ndarray:
    if not rows.has(column):
        return np.zeros(len(rows), dtype=bool)
    return rows.series(column).fillna(False).to_numpy(dtype=bool)


def _build_units(rows: _Rows, coded: dict, first_row: np.ndarray, cells: np.ndarray) -> pd.DataFrame:
    """One row per unit: key, pair attributes (from its first row), both orders' verdicts.

    Each (unit, order) has exactly one row once re-runs are dropped (`cells` says which), so
    the per-order columns are plain gathers rather than grouped aggregations. The frame is
    assembled once without consolidating (copying) same-typed columns into blocks.
    """
    n_units = len(first_row)
    at = rows.at(first_row)
    pair_id = _taken(rows.frame["pair_id"], at)
    columns = {
        "pair_id": pair_id,
        "judge": _from_codes(coded["judge"].take(first_row), coded["judges"]),
        "template": _from_codes(coded["template"].take(first_row), coded["templates"]),
        "judge_family": _categorical(rows, "judge_family", at),
        **{c: _categorical(rows, c, at) for c in ("category", "model_a", "model_b")},
        **_numerics(rows, ("len_a", "len_b", "fmt_a", "fmt_b"), at),
    }
    orders = _Orders(cells, coded["status"])
    c = orders.take(coded["choice"], MISSING, ok_only=True)
    p = orders.take(_p_first(rows), np.nan, ok_only=True)
    for i, name in enumerate(ORDERS):
        columns[f"c_{name}"] = c[i]
        columns[f"p_{name}"] = p[i]
    columns["created_at"] = _earliest(rows, orders, n_units)
    for column in ("orders_disagree", "orders_merged"):
        if rows.has(column):
            ab, ba = orders.take(_flag(rows, column), False)
            columns[column] = ab | ba
        else:
            columns[column] = np.zeros(n_units, dtype=bool)
    columns["pair"] = _pair_codes(pair_id)
    return pd.DataFrame(columns, copy=False)


def _taken(values: pd.Series, at: np.ndarray) -> pd.Series:
    """`values.iloc[at]` with a fresh range index; a plain numpy column is taken directly."""
    if isinstance(values.dtype, np.dtype):
        return pd.Series(values.to_numpy().take(at), name=values.name, copy=False)
    return values.iloc[at].reset_index(drop=True)


def _from_codes(codes: np.ndarray, categories) -> pd.Categorical:
    """A categorical from codes that are valid by construction (no range check pass)."""
    return pd.Categorical.from_codes(codes, categories=categories, validate=False)


def _numerics(rows: _Rows, names: tuple, at: np.ndarray) -> dict:
    """Numeric pair attributes at whole-frame rows `at`; an absent one is all NaN."""
    return {n: _taken(rows.frame[n], at) if rows.has(n) else _constant_column(np.nan, len(at)) for n in names}


def _constant_column(value, n: int) -> np.ndarray:
    """`n` copies of `value` as a read-only view of one element, for a column the input lacks.

    It costs no memory (a fresh all-NaN array per absent column was a fifth of the units'
    memory in bench/audit_report.py), and like every column pandas hands out it is read-only:
    writing into it raises instead of reaching other columns.
    """
    return np.broadcast_to(np.asarray(value), (n,))


def _p_first(rows: _Rows) -> np.ndarray:
    if not rows.has("p_first"):
        return np.full(len(rows), np.nan)
    if rows.frame["p_first"].dtype == np.float64:
        return rows.pick(rows.frame["p_first"].to_numpy())
    return pd.to_numeric(rows.series("p_first"), errors="coerce").to_numpy(dtype=float)


def _earliest(rows: _Rows, orders: _Orders, n_units: int) -> np.ndarray:
    """Earliest timestamp per unit (NaT where none), as naive UTC datetime64[ns]."""
    nat, never = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    if not rows.has("created_at"):
        return _constant_column(np.datetime64("NaT", "ns"), n_units)
    ns = _as_ns(rows.series("created_at"))
    ab, ba = orders.take(np.where(ns == nat, never, ns), never)
    stamps = np.minimum(ab, ba, out=ab)
    stamps[stamps == never] = nat
    return stamps.view("datetime64[ns]")


def _coded_judgments(rows: _Rows) -> dict:
    """order, status and choice as integer codes, each checked against its valid values."""
    coded = {
        "order": codes_of(rows.series("order"), ORDERS),
        "status": codes_of(rows.series("status"), STATUSES),
        "choice": codes_of(rows.series("choice"), CHOICES),
    }
    for column, allowed in (("order", ORDERS), ("status", STATUSES)):
        _raise_on_bad(rows.series(column), coded[column] < 0, allowed, column)
    bad_choice = (coded["status"] == 0) & (coded["choice"] < 0)
    _raise_on_bad(rows.series("choice"), bad_choice, CHOICES, "choice (on rows with status ok)")
    return coded


def prepare_judgments(judgments: pd.DataFrame, judge: str | None = None) -> AuditFrames:
    """Validate and code the judgments frame; raises AuditInputError on a contract breach."""
    units, status_counts, n_judgments = _prepare_units(judgments, judge)
    return AuditFrames(units, _empty_votes(), status_counts, n_judgments)


def _prepare_units(judgments: pd.DataFrame, judge: str | None) -> tuple[pd.DataFrame, dict, int]:
    """(units, status counts, number of judgments kept): `prepare_judgments` without votes."""
    _check_columns(judgments, JUDGMENT_REQUIRED, "judgments")
    rows = _Rows(judgments)
    judge_codes, judges = _factorize(judgments["judge"])
    if judge is not None:
        wanted = judges.get_indexer([judge])[0]
        rows.select(np.flatnonzero(judge_codes == wanted) if wanted >= 0 else np.zeros(0, dtype=np.int64))
    template_codes, templates = _template_codes(rows)
    coded = _coded_judgments(rows)
    coded["judge"] = rows.pick(judge_codes)
    coded["template"] = rows.pick(template_codes)
    unit, first_row = _unit_codes(rows, coded["judge"], coded["template"], len(templates))
    created = rows.series("created_at") if rows.has("created_at") else None
    slot = _slots(unit, coded["order"])
    cells = _cell_rows(slot, len(first_row))
    keep = _latest_rows(created, slot, cells)
    if keep is not None:
        rows.select(keep)
        coded = {k: v[keep] for k, v in coded.items()}
        unit, first_row = dense_codes_and_firsts(unit[keep])
        cells = _cell_rows(_slots(unit, coded["order"]), len(first_row))
    coded["judges"], coded["templates"] = judges, templates
    counts = np.bincount(coded["status"], minlength=len(STATUSES))
    status_counts = {s: int(n) for s, n in zip(STATUSES, counts, strict=True)}
    return _build_units(rows, coded, first_row, cells), status_counts, len(rows)


def _slots(unit: np.ndarray, order: np.ndarray) -> np.ndarray:
    """unit * 2 + order: the (unit, order) cell of each row, in the units' integer width."""
    slot = np.multiply(unit, 2)
    slot += order
    return slot


def _empty_votes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pair_id": pd.Series([], dtype=object),
            "annotator": pd.Series([], dtype=object),
            "code": pd.Series([], dtype=np.int8),
            "sample": pd.Series([], dtype=object),
            "pair": pd.Series([], dtype=np.int64),
        }
    )


def pair_index(units: pd.DataFrame) -> pd.Index:
    """The judged pair ids, position = the `pair` code that units and votes carry."""
    first = pair_first_unit(units)
    return pd.Index(units["pair_id"].to_numpy()[first])


def pair_first_unit(units: pd.DataFrame) -> np.ndarray:
    """Row of `units` holding each pair's attributes (its first unit), indexed by pair code."""
    return first_rows(units["pair"].to_numpy(), n_pairs(units))


def n_pairs(units: pd.DataFrame) -> int:
    """Number of distinct pair codes (pairs are coded 0..n-1 in order of first appearance)."""
    return int(units["pair"].max()) + 1 if len(units) else 0


def pair_codes_of(units: pd.DataFrame, pair_ids: pd.Series) -> np.ndarray:
    """The `pair` code of each id, -1 for a pair without judged units.

    Integer ids from a compact range are looked up in a table indexed by id, which spares
    hashing every judged pair id just to find the few thousand that humans labeled.
    """
    known, asked = _integer_ids(units["pair_id"]), _integer_ids(pair_ids)
    if known is not None and asked is not None and len(known):
        low, high = int(known.min()), int(known.max())
        if high - low < 4 * len(known) + 1024:
            table = np.full(high - low + 1, -1, dtype=np.int64)
            table[known - low] = units["pair"].to_numpy()
            inside = (asked >= low) & (asked <= high)
            out = np.full(len(asked), -1, dtype=np.int64)
            out[inside] = table[asked[inside] - low]
            return out
    if not len(units):
        return np.full(len(pair_ids), -1, dtype=np.int64)
    return pair_index(units).get_indexer(pair_ids).astype(np.int64)


def prepare_labels(labels: pd.DataFrame | None, units: pd.DataFrame) -> pd.DataFrame:
    """Human votes on the judged pairs of `units`, coded, with the same `pair` codes.

    An absent or empty frame gives an empty table.
    """
    if labels is None or len(labels) == 0:
        return _empty_votes()
    _check_columns(labels, LABEL_REQUIRED, "labels")
    choice = codes_of(labels["choice"], CHOICES)
    _raise_on_bad(labels["choice"], choice < 0, CHOICES, "choice")
    sample = codes_of(labels["sample"], SAMPLES)
    _raise_on_bad(labels["sample"], sample < 0, SAMPLES, "sample")
    pair = pair_codes_of(units, labels["pair_id"])
    annotator, names = _factorize(labels["annotator"])
    judged = np.flatnonzero(pair >= 0)
    # An annotator's last vote on a pair replaces the earlier ones.
    voter = pd.Series(pair[judged] * (len(names) + 1) + annotator[judged] + 1)
    rows = judged[~voter.duplicated(keep="last").to_numpy()]
    return pd.DataFrame(
        {
            "pair_id": labels["pair_id"].to_numpy()[rows],
            "annotator": pd.Categorical.from_codes(annotator[rows], categories=names),
            "code": choice[rows],
            "sample": pd.Categorical.from_codes(sample[rows], categories=list(SAMPLES)),
            "pair": pair[rows],
        },
        copy=False,
    )


def prepare(judgments: pd.DataFrame, labels: pd.DataFrame | None, judge: str | None = None) -> AuditFrames:
    """Both frames, coded and restricted to the judge (if given) and the judged pairs."""
    units, status_counts, n_judgments = _prepare_units(judgments, judge)
    return AuditFrames(units, prepare_labels(labels, units), status_counts, n_judgments)


def sample_mask(votes: pd.DataFrame, samples) -> np.ndarray:
    """Which votes come from one of `samples` (a bool array), from the categorical's codes."""
    values = votes["sample"]
    if isinstance(values.dtype, pd.CategoricalDtype):
        wanted = values.cat.categories.get_indexer(list(samples))
        codes = values.cat.codes.to_numpy()
        return np.isin(codes, wanted[wanted >= 0]) if len(codes) else np.zeros(0, dtype=bool)
    return values.isin(list(samples)).to_numpy()


def join_on_pair(left: np.ndarray, right: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inner join of two pair-code arrays: (left positions, right positions) of each match.

    Ordered as pandas' inner merge orders it (left rows in order, each followed by its right
    matches in order), so results built on it sum in the same order as before; a counting
    sort instead of hashing the keys.
    """
    counts = np.bincount(right, minlength=n)
    by_pair = np.argsort(right, kind="stable")
    starts = np.cumsum(counts) - counts
    hit = np.flatnonzero((counts > 0).take(left))  # most units have no vote: drop them first
    reps = counts[left[hit]]
    left_pos = np.repeat(hit, reps)
    within = np.arange(len(left_pos)) - np.repeat(np.cumsum(reps) - reps, reps)
    right_pos = by_pair[np.repeat(starts[left[hit]], reps) + within]
    return left_pos, right_pos


def unit_choices(units: pd.DataFrame) -> np.ndarray:
    """The AI's choice code per unit, by the one definition (`labeling.verdicts`): the side both
    orders name, a tie where they disagree (or were recorded as disagreeing), else the one order."""
    disagree = units["orders_disagree"].to_numpy(dtype=bool) if "orders_disagree" in units else None
    return verdict_codes(units["c_ab"].to_numpy(), units["c_ba"].to_numpy(), disagree)
