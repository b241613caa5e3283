"""How a fanned-out judge job sizes its shards, and what one worker's shards share."""

from __future__ import annotations

import pytest

from tandem.core import judging
from tandem.core.fanout import ramp
from tandem.core.models import Judgment
from tests.openai_endpoint import API_KEY
from tests.platform.test_fanout import judged_project


def count_model_lists(fake) -> list[int]:
    """Counts the endpoint's GET /models: each judge start-up checks the model there once."""
    seen = [0]
    handler = fake.server.RequestHandlerClass

    class Counting(handler):
        def do_GET(self) -> None:
            seen[0] += 1
            super().do_GET()

    fake.server.RequestHandlerClass = Counting
    return seen


def test_the_last_shards_shrink_so_workers_finish_together():
    runs = [(16 * i + 1, 16 * i + 16, 16) for i in range(8)]  # 128 pending pairs in runs of 16
    shards = ramp(runs)
    assert [count for _, _, count in shards] == [32, 32, 32, 16, 16]
    # Every pair is in exactly one shard, in id order, with no gap.
    assert [(first, last) for first, last, _ in shards] == [
        (1, 32),
        (33, 64),
        (65, 96),
        (97, 112),
        (113, 128),
    ]
    assert ramp([(7, 9, 3)]) == [(7, 9, 3)]


@pytest.mark.django_db(transaction=True)
def test_runs_back_to_back_start_the_judge_once_and_count_only_their_own_calls(
    tmp_path, fake_openai, monkeypatch
):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    project = judged_project(tmp_path, "reuse", 12, "plain")
    ids = list(project.pairs.order_by("id").values_list("id", flat=True))
    config = judging.resolve_config(project, "api")
    lists = count_model_lists(fake_openai)
    with judging.reused_sessions():
        first = judging.judge_pairs(project, config, pair_range=(ids[0], ids[5]))
        second = judging.judge_pairs(project, config, pair_range=(ids[6], ids[11]))
    assert lists[0] == 1  # one check for both runs (a run on its own checks again)
    assert (first.judged, first.calls, second.judged, second.calls) == (12, 12, 12, 12)
    assert Judgment.objects.filter(pair__project=project).count() == 24
    judging.judge_pairs(project, config)  # nothing left: it starts (checks) and judges nothing
    assert lists[0] == 2


@pytest.mark.django_db
def test_a_parent_re_run_never_shards_pairs_a_live_shard_still_holds(tmp_path, settings):
    """The parent's worker died; shard 21-40 still runs. The re-run's ranges (tapered ones too)
    cover every other pending pair once and none of 21-40, even when pending pairs lie on both
    sides of it."""
    from tandem.core.fanout import free_ranges
    from tandem.core.models import Job, Pair

    settings.TANDEM_JUDGE_SHARD_PAIRS = 10
    project = judged_project(tmp_path, "rerun", 50, "delay=0")
    ids = list(Pair.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    live = Job(kind="judge_shard", project=project, params={"first_id": ids[20], "last_id": ids[39]})
    config = judging.resolve_config(project, "api")
    ranges = free_ranges(judging.pair_scope(project, None, None), [live], config)
    sharded = [pk for first, last, _ in ranges for pk in ids if first <= pk <= last]
    assert sorted(sharded) == ids[:20] + ids[40:]  # each free pair once, no live one
    assert sum(count for _, _, count in ranges) == 30
