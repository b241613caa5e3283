"""Blend policy: who wins, what is dropped and why, and strict policy files."""

from __future__ import annotations

import json

import pytest

from labeling.verdicts import pair_verdict
from training.blend import BlendPolicy, BlendSummary, PairVotes, blend, blend_stream, human_verdict
from training.errors import ConfigError


def pair(pid="p1", votes=(), p=None, flipped=False) -> PairVotes:
    """A pair whose judge gave p(a) = p in both orders (consistently), or flipped under the swap."""
    side = "a" if p is not None and p > 0.5 else "b"
    ai = (
        None
        if p is None
        else pair_verdict(side, ("b" if side == "a" else "a") if flipped else side, p, 1 - p)
    )
    return PairVotes(pair_id=pid, prompt="Q", response_a="A", response_b="B", human_votes=tuple(votes), ai=ai)


def one(p: PairVotes, **policy):
    result = blend([p], BlendPolicy(**policy))
    return (result.rows[0] if result.rows else None), result.summary


def test_human_majority_wins_over_a_confident_ai_and_the_disagreement_is_counted():
    row, summary = one(pair(votes=["b", "b", "a"], p=0.95))
    assert (row.chosen, row.rejected, row.source, row.p_chosen, row.weight) == ("B", "A", "human", 1.0, 1.0)
    assert summary.disagreements == 1


def test_disagreement_drop_policy_drops_the_pair_with_its_reason():
    row, summary = one(pair(votes=["b"], p=0.95), disagreement="drop")
    assert row is None
    assert summary.dropped == {"disagreement": 1}


def test_human_and_confident_ai_agreeing_is_source_both():
    row, _ = one(pair(votes=["a"], p=0.9))
    assert (row.chosen, row.source) == ("A", "both")


def test_vote_share_gives_a_soft_human_label():
    row, _ = one(pair(votes=["a", "a", "b"]), human_label="vote_share")
    assert row.p_chosen == pytest.approx(2 / 3)


def test_ties_are_dropped_by_default_and_kept_as_half_when_asked():
    assert one(pair(votes=["a", "b"]))[1].dropped == {"human_tie": 1}
    row, _ = one(pair(votes=["tie", "tie", "a"]), ties="keep")
    assert (row.p_chosen, row.source) == (0.5, "human")


def test_kept_ties_are_not_always_oriented_response_a_first():
    pairs = [pair(pid=f"p{i}", votes=["tie"]) for i in range(40)]
    rows = blend(pairs, BlendPolicy(ties="keep", seed=3)).rows
    assert {r.chosen for r in rows} == {"A", "B"}
    assert [r.chosen for r in rows] == [r.chosen for r in blend(pairs, BlendPolicy(ties="keep", seed=3)).rows]


@pytest.mark.parametrize(("weighting", "expected"), [("confidence", 0.9), ("margin", 0.8), ("fixed", 0.25)])
def test_ai_only_pairs_above_threshold_are_kept_with_the_configured_weight(weighting, expected):
    row, _ = one(pair(p=0.1), ai_weight=weighting, ai_fixed_weight=0.25, ai_threshold=0.8)
    assert (row.chosen, row.source, row.p_chosen) == ("B", "ai", pytest.approx(0.9))
    assert row.weight == pytest.approx(expected)


def test_ai_only_pairs_below_threshold_or_flipped_or_unlabeled_are_dropped_with_reasons():
    result = blend([pair("p1", p=0.7), pair("p2", p=0.95, flipped=True), pair("p3")], BlendPolicy())
    assert result.rows == []
    assert result.summary.dropped == {"ai_below_threshold": 1, "ai_flipped": 1, "no_label": 1}


def test_flipped_pairs_seen_by_humans_keep_the_human_label_and_an_ai_tie_is_never_a_row():
    assert one(pair(votes=["b"], p=0.95, flipped=True))[0].source == "human"
    # a flipped verdict is a tie (labeling.verdicts): there is no side to keep, however sure p is
    row, summary = one(pair(p=0.95, flipped=True), ai_threshold=0.5)
    assert row is None and summary.dropped == {"ai_flipped": 1}
    tie = PairVotes("t", "Q", "A", "B", ai=pair_verdict("tie", "tie", 0.5, 0.5))
    assert blend([tie], BlendPolicy(ai_threshold=0.5)).summary.dropped == {"ai_tie": 1}
    with pytest.raises(ConfigError, match="keep_flipped_ai"):
        BlendPolicy.load({"keep_flipped_ai": True})


def test_calibration_map_is_applied_before_the_threshold():
    # scale 0.5 pulls 0.9 to ~0.75: below the 0.8 threshold.
    cal = {"method": "temperature", "scale": 0.5, "bias": 0.0}
    assert blend([pair(p=0.9)], BlendPolicy()).summary.rows_out == 1
    result = blend([pair(p=0.9)], BlendPolicy(), calibration=cal)
    assert result.summary.dropped == {"ai_below_threshold": 1}


def test_summary_counts_sources_weights_and_formats_for_a_dry_run():
    pairs = [pair("p3", votes=["a"]), pair("p2", p=0.85), pair("p1", votes=["a"], p=0.99)]
    result = blend(pairs, BlendPolicy(version="v7"))
    assert [r.pair_id for r in result.rows] == ["p1", "p2", "p3"]
    assert result.summary.by_source == {"ai": 1, "both": 1, "human": 1}
    assert result.summary.weight_histogram["0.8-0.9"] == 1
    assert result.summary.weight_histogram["0.9-1.0+"] == 2
    text = result.summary.format()
    assert "blend policy v7: 3 pairs in, 3 rows out" in text
    assert "by source: ai 1, both 1, human 1" in text


def test_human_verdict_plurality():
    assert human_verdict([]) == (None, 0.0)
    assert human_verdict(["a", "a", "tie"]) == ("a", 1.0)


def test_policy_file_with_unknown_key_names_it_and_the_valid_keys(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"version": "2", "ai_treshold": 0.9}))
    expected = r"unknown key 'ai_treshold' in .*policy.json; valid keys: .*ai_threshold"
    with pytest.raises(ConfigError, match=expected):
        BlendPolicy.load(path)


def test_policy_from_toml_and_bad_values(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('version = "3"\nties = "keep"\nai_threshold = 0.9\n')
    assert BlendPolicy.load(path) == BlendPolicy(version="3", ties="keep", ai_threshold=0.9)
    with pytest.raises(ConfigError, match="ties='maybe'; valid values: drop, keep"):
        BlendPolicy.load({"ties": "maybe"})
    with pytest.raises(ConfigError, match="vote 'c'"):
        pair(votes=["c"])


def test_a_streamed_blend_counts_the_same_summary_and_yields_rows_in_the_pairs_order():
    pairs = [
        pair("p3", votes=["a"], p=0.95),
        pair("p1", p=0.9),
        pair("p2", p=0.6),
        pair("p0", votes=["a", "b"], p=0.2, flipped=True),
        pair("p4", votes=["b", "b", "a"], p=0.99),
    ]
    policy = BlendPolicy(ai_weight="margin")
    summary = BlendSummary(policy_version=policy.version)
    rows = list(blend_stream(iter(pairs), summary, policy))
    whole = blend(pairs, policy)
    assert [r.pair_id for r in rows] == ["p3", "p1", "p4"]  # as read: an export reads them in order
    assert sorted(rows, key=lambda r: r.pair_id) == whole.rows
    assert summary == whole.summary
    assert summary.dropped == {"ai_below_threshold": 1, "human_tie": 1}
    assert sum(summary.weight_histogram.values()) == summary.rows_out == 3
