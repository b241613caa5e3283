"""The input frames' column types and pair id kinds change nothing in the report.

`prepare` codes text columns by dtype (pyarrow strings, object, categorical) and pair ids by
kind (compact integers by direct lookup, anything else by hashing); each route must give the
report that the plain text frame gives, nulls included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audits import AuditInputError, build_report, categorical_frames, flatten
from audits.agreement import comparison_stats, comparisons, pair_stats
from audits.frames import UNBIASED_SAMPLES, prepare, unit_choices
from tests.audits.factories import labels_frame

TEXT = ["judge", "template", "order", "status", "choice", "category", "model_a", "model_b", "judge_family"]


def mixed_frame(seed: int = 3, n_pairs: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two judges, both orders, nulls in template and attributes, some failed verdicts."""
    rng = np.random.default_rng(seed)
    rows = []
    for judge, family in (("gpt-judge", "gpt"), ("llama-judge", None)):
        for order in ("ab", "ba"):
            for pair in range(n_pairs):
                ok = rng.random() < 0.9
                rows.append(
                    {
                        "pair_id": pair,
                        "judge": judge,
                        "template": None if pair % 3 == 0 else ("" if pair % 3 == 1 else "v2"),
                        "order": order,
                        "status": "ok" if ok else "error",
                        "choice": rng.choice(["a", "b", "tie"]) if ok else None,
                        "p_first": rng.random(),
                        "category": None if pair % 4 == 0 else f"c{pair % 2}",
                        "model_a": rng.choice(["gpt-4o", "llama-3", None]),
                        "model_b": "mistral",
                        "judge_family": family,
                        "len_a": int(rng.integers(10, 3000)),
                        "len_b": int(rng.integers(10, 3000)),
                        "created_at": pd.Timestamp("2025-03-01", tz="UTC") + pd.Timedelta(days=pair % 20),
                    }
                )
    # Chunked pyarrow columns, as `pd.concat` of per-order frames leaves them.
    judgments = pd.concat([pd.DataFrame(rows[: len(rows) // 2]), pd.DataFrame(rows[len(rows) // 2 :])])
    judgments = judgments.reset_index(drop=True)
    choices = rng.choice(["a", "b", "tie"], size=n_pairs)
    labels = pd.concat(
        [
            labels_frame(choices, annotator="h1"),
            labels_frame(choices[: n_pairs // 2], annotator="h2", sample="routed"),
            labels_frame(["a", "b"], annotator="h3", pair_ids=[n_pairs + 5, 1]),  # unjudged pair, one vote
        ],
        ignore_index=True,
    )
    return judgments, labels


def comparable(report: dict) -> dict:
    return {k: v for k, v in flatten(report).items() if k != "config"}


@pytest.fixture(scope="module")
def text_report():
    judgments, labels = mixed_frame()
    return build_report(judgments, labels)


@pytest.mark.parametrize("dtype", ["object", "category"])
def test_object_and_categorical_columns_give_the_text_report(text_report, dtype):
    judgments, labels = mixed_frame()
    report = build_report(judgments.astype(dict.fromkeys(TEXT, dtype)), labels.astype(dtype))
    assert comparable(report) == comparable(text_report)


def test_null_template_is_the_default_version_and_null_category_is_none(text_report):
    assert text_report["templates"] == ["", "v2"]
    slices = {row["slice"]: row["n_units"] for row in text_report["slices"]["category"]["rows"]}
    # 60 pairs x 2 judges: every 4th pair has no category, the rest alternate c0 / c1.
    assert slices == {"(none)": 2 * 15, "c0": 2 * 15, "c1": 2 * 30}
    assert text_report["n_pairs"] == 60
    # The vote on an unjudged pair is dropped; h3's vote on pair 1 joins h1's there.
    assert text_report["samples"]["votes"] == {"audit": 61, "routed": 30, "imported": 0}


@pytest.mark.parametrize(
    "relabel",
    [
        lambda ids: ids * 10**12 + 7,  # too sparse for a lookup table: hashed
        lambda ids: ids + 2**62,  # compact, but near the top of int64
        lambda ids: ids - 1_000,  # negative
        lambda ids: 500 - ids,  # compact, but met in descending order: ranks are not codes
        lambda ids: ids.astype(np.uint32),
        lambda ids: pd.Series([f"pair-{i}" for i in ids]),  # text ids
    ],
    ids=["sparse", "huge", "negative", "descending", "unsigned", "text"],
)
def test_pair_id_kind_changes_no_number(text_report, relabel):
    judgments, labels = mixed_frame()
    judgments["pair_id"] = relabel(judgments["pair_id"]).to_numpy()
    labels["pair_id"] = relabel(labels["pair_id"]).to_numpy()
    assert comparable(build_report(judgments, labels)) == comparable(text_report)


def test_contract_categoricals_give_the_text_report(text_report):
    """`categorical_frames` (what the platform hands over) changes no number."""
    judgments, labels = categorical_frames(*mixed_frame())
    assert judgments["status"].cat.categories.tolist() == ["ok", "unparsable", "error"]
    assert comparable(build_report(judgments, labels)) == comparable(text_report)


def test_contract_categoricals_refuse_a_value_outside_the_contract():
    judgments, labels = mixed_frame()
    judgments.loc[7, "status"] = "timeout"
    with pytest.raises(AuditInputError, match=r"column 'status' has values \['timeout'\]; valid values are"):
        categorical_frames(judgments, labels)


def test_contract_categoricals_name_a_null_status_not_a_type_error():
    judgments, labels = mixed_frame()
    judgments = judgments.astype({"status": "string", "choice": "string"})  # pd.NA for nulls
    judgments.loc[3, ["status", "choice"]] = [pd.NA, "junk"]
    frames = categorical_frames(judgments, labels)  # the junk choice is not on an ok row
    with pytest.raises(AuditInputError, match=r"column 'status' has values \['null'\]"):
        build_report(*frames)


def test_contract_categoricals_ignore_a_choice_on_a_failed_verdict(text_report):
    judgments, labels = mixed_frame()
    failed = judgments.index[judgments["status"] == "error"]
    judgments.loc[failed, "choice"] = "garbled"  # ignored by `prepare` too: not a usable verdict
    assert comparable(build_report(*categorical_frames(judgments, labels))) == comparable(text_report)
    judgments.loc[judgments.index[judgments["status"] == "ok"][0], "choice"] = "garbled"
    with pytest.raises(
        AuditInputError, match=r"'choice \(on rows with status ok\)' has values \['garbled'\]"
    ):
        categorical_frames(judgments, labels)


def test_pair_statistics_equal_those_summed_over_comparisons():
    """The agreement's per-pair table, from histograms, is the comparison-by-comparison one."""
    judgments, labels = mixed_frame()
    frames = prepare(judgments, labels)
    units = frames.units.assign(c_comb=unit_choices(frames.units))
    for samples, n_pairs in ((UNBIASED_SAMPLES, 60), (("routed",), 30), (("imported",), 0)):
        expected = comparison_stats(comparisons(units, frames.votes, samples))
        assert len(expected) == n_pairs
        assert np.array_equal(pair_stats(units, frames.votes, samples), expected)


def test_a_missing_order_leaves_that_order_empty():
    judgments, labels = mixed_frame()
    dropped = judgments[~((judgments["order"] == "ba") & (judgments["pair_id"] % 5 == 0))]
    units = prepare(dropped.reset_index(drop=True), labels).units
    gone = (units["pair_id"] % 5 == 0).to_numpy()
    assert gone.sum() == 24
    assert (units["c_ba"].to_numpy()[gone] == -1).all() and units["p_ba"][gone].isna().all()
    kept = prepare(judgments, labels).units
    assert np.array_equal(units["c_ab"], kept["c_ab"])
    assert np.array_equal(units["p_ab"], kept["p_ab"], equal_nan=True)


def test_an_absent_numeric_column_is_all_nan_and_cannot_be_written_into():
    judgments, labels = mixed_frame()
    units = prepare(judgments.drop(columns=["len_a", "len_b", "created_at"]), labels).units
    assert units["len_a"].isna().all() and units["fmt_b"].isna().all() and units["created_at"].isna().all()
    with pytest.raises(ValueError, match="read-only"):
        units.loc[0, "len_a"] = 5.0
    assert units["len_b"].isna().all()  # nothing reached the other absent columns
