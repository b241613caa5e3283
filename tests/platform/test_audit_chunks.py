"""The audit reads a project in chunks: the report cannot tell how many chunks it came in."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from audits import build_report
from tandem.core import selectors, services
from tandem.core.models import (
    ArgillaRecord,
    HumanLabel,
    Judgment,
    Pair,
    RoutingDecision,
    RoutingPolicyVersion,
)
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db

CATEGORIES = ("math", "code", "writing")
MODELS = ("gpt-4o", "llama-3", "qwen2")


def make_project(tmp_path, n: int = 30):
    """`n` pairs over three categories and models, some in markdown, judged by two judges (with
    a re-run and failures), labeled by imported votes and by Argilla on routed and blind pairs."""
    project = services.create_project("chunks")
    rows = [
        {
            "prompt": f"Question {i}?",
            "response_a": f"- item {i}\n- more" if i % 4 == 0 else f"Answer {i} " * (1 + i % 5),
            "response_b": f"**B** {i}" if i % 3 == 0 else f"Other {i}",
            "category": CATEGORIES[i % 3],
            "model_a": MODELS[i % 3],
            "model_b": MODELS[(i + 1) % 3],
            **({"label": "ab"[i % 2], "annotator": f"ann{i % 3}"} if i % 5 == 0 else {}),
        }
        for i in range(n)
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    services.import_pairs(project, path, "pairs")
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    judge_pairs(
        pairs, lambda i: 0.2 + 0.6 * ((i * 7) % 10) / 10, lambda i: 0.7 - 0.4 * (i % 2), judge="gpt-judge"
    )
    judge_pairs(pairs[::2], 0.8, 0.3, judge="llama-judge")
    Judgment.objects.filter(judge="gpt-judge").update(model="gpt-4o-2024")
    Judgment.objects.filter(pair=pairs[1], judge="gpt-judge", order="ab").update(status="error", choice="")
    for pair in pairs[:3]:  # a re-run under a changed config: the later verdicts count
        for order, p, choice in (("ab", 0.1, "b"), ("ba", 0.9, "b")):
            Judgment.objects.create(
                pair=pair, judge="gpt-judge", config_hash="h2", backend="hf", order=order, p_first=p,
                choice=choice, status="ok", model="gpt-4o",
            )  # fmt: skip
    policy = RoutingPolicyVersion.objects.create(project=project, version=1, policy={})
    for i, pair in enumerate(pairs[10:22]):
        RoutingDecision.objects.create(
            pair=pair, policy=policy, human=True, blind=i % 3 == 0, judges=["gpt-judge"]
        )
        for round_, shown in enumerate((i % 2 == 0, i % 4 == 0)):  # the later round counts
            ArgillaRecord.objects.create(
                pair=pair, dataset=f"r{round_}", blind=i % 3 == 0, suggestion_shown=shown
            )
        for annotator in ("ann1", "ann2")[: 1 + i % 2]:
            HumanLabel.objects.create(pair=pair, annotator=annotator, choice="ab"[i % 2], source="argilla")
    return project, pairs


@pytest.mark.parametrize("judge", [None, "gpt-judge"])
def test_a_report_read_in_chunks_equals_one_read_at_once(tmp_path, judge):
    project, _ = make_project(tmp_path)
    at_once = selectors.audit_frames(project, judge, chunk_rows=10_000)
    chunked = selectors.audit_frames(project, judge, chunk_rows=4)
    for whole, parts in zip(at_once, chunked, strict=True):
        pd.testing.assert_frame_equal(whole, parts)
    report = build_report(*chunked, judge=judge)
    assert report["n_pairs"] == 30 and report["agreement"]["with_ties"] is not None
    assert json.dumps(report, default=str) == json.dumps(build_report(*at_once, judge=judge), default=str)


def test_votes_carry_their_sample_and_whether_the_latest_record_showed_the_suggestion(tmp_path):
    project, pairs = make_project(tmp_path)
    _, labels = selectors.audit_frames(project, chunk_rows=5)
    votes = labels.set_index("pair_id")
    sample = lambda k: set(votes.loc[[pairs[k].pk], "sample"])  # noqa: E731
    shown = lambda k: votes.loc[[pairs[k].pk], "suggestion_shown"].tolist()  # noqa: E731
    assert (sample(0), sample(13), sample(11)) == ({"imported"}, {"audit"}, {"routed"})  # 13 is blind
    # pair 14's latest round showed the suggestion; pair 12 was shown in the first round only
    assert (shown(14), shown(12), shown(0)) == ([True], [False], [False])
    assert len(labels) == 6 + 18 and labels["pair_id"].isin([p.pk for p in pairs]).all()


def test_formatting_and_lengths_come_from_each_pairs_texts(tmp_path):
    project, pairs = make_project(tmp_path)
    judgments, _ = selectors.audit_frames(project, "gpt-judge", chunk_rows=7)
    first = judgments.drop_duplicates("pair_id").set_index("pair_id")
    assert first.loc[pairs[0].pk, ["fmt_a", "fmt_b"]].tolist() == [True, True]
    assert first.loc[pairs[1].pk, ["fmt_a", "fmt_b"]].tolist() == [False, False]
    assert first.loc[pairs[2].pk, "len_a"] == len(pairs[2].response_a)
    assert first.loc[pairs[5].pk, ["category", "model_a", "judge_family"]].tolist() == [
        "writing",
        "qwen2",
        "gpt",
    ]


def test_a_judgment_stored_after_the_pairs_were_read_waits_for_the_next_audit(tmp_path):
    """A judge job storing verdicts while an audit reads: a judgment whose pair the audit had not
    read yet is left out, never given another pair's category and lengths."""
    project, _ = make_project(tmp_path)
    judgments = Judgment.objects.filter(pair__project=project)
    late = Pair.objects.filter(project=project).order_by("pk")[5]
    pairs = selectors._pair_attributes(project, judgments.exclude(pair=late), 4)  # read before it was judged
    frame = selectors._judgment_frame(judgments, pairs, 7)
    assert late.pk not in set(frame["pair_id"])
    assert len(frame) == judgments.exclude(pair=late).count()
    by_pair = Pair.objects.in_bulk()
    assert all(by_pair[p].category == c for p, c in zip(frame["pair_id"], frame["category"], strict=True))
