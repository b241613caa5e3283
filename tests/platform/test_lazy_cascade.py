"""The lazy guarantee cascade: the strong judge is called only on what the cheap one did not keep.

A cheap judge (stored verdicts) is sure and right on three pairs in four and unsure and wrong on
the fourth. A strong judge behind a real OpenAI-compatible endpoint (tests/openai_endpoint.py)
prefers the longer response, here the right one (SCENARIO=longer), except on one pair in four
where it follows the position and so ties (SCENARIO=logprobs). It is run through `manage.py
judge --escalated`, and every call it makes is counted at the endpoint.
"""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import CommandError, call_command

from labeling.guarantee import assign
from tandem.celery import app as celery_app
from tandem.core import guarantee, jobs, services
from tandem.core.models import HumanLabel, Job, Judgment, Pair, RoutingDecision
from tests.factories import judge_pairs
from tests.openai_endpoint import MODEL

# The call cache commits on its own connection (a paid call stays paid for): real transactions.
pytestmark = pytest.mark.django_db(transaction=True)

STRONG = {
    "backend": "openai",
    "model": MODEL,
    "params": {"max_retries": 1, "backoff_base_s": 0.01, "timeout_s": 5.0,
               "prices": {MODEL: {"input": 1.0, "output": 2.0}}},
}  # fmt: skip
COMMAND = "python manage.py judge --project lazy --judge strong --escalated"


def add_batch(project, tmp_path, start: int, n: int) -> list[Pair]:
    """`n` new pairs (response a, the longer, is right) with the cheap judge's verdicts stored:
    unsure and choosing b on pair i % 4 == 0, sure of a on the others; the strong judge ties on
    i % 4 == 3 (position-biased there) and chooses a elsewhere."""
    path = tmp_path / f"batch{start}.jsonl"
    rows = [
        {"prompt": f"SCENARIO={'logprobs' if i % 4 == 3 else 'longer'} question {i}",
         "response_a": f"a full answer, number {i:05d}", "response_b": f"short {i:05d}"}
        for i in range(start, start + n)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    services.import_pairs(project, path, "pairs")
    pairs = list(Pair.objects.filter(project=project, prompt__in=[r["prompt"] for r in rows]).order_by("id"))
    p_ab = lambda i: 0.4 if i % 4 == 0 else 0.95  # noqa: E731
    judge_pairs(pairs, p_ab, lambda i: 1 - p_ab(i), judge="cheap")
    return pairs


def lazy_project():
    project = services.create_project("lazy")
    project.judge_config = {"judges": {"strong": STRONG}}
    project.routing_config = {
        # The generated texts trip the injection classifier on a few pairs ("a full answer, number
        # 00004" scores 0.92), which would go to people whatever the cascade says: this file is
        # about the cascade (injection in guarantee mode: test_guarantee_routing.py).
        "policy": {"version": 1, "audit_rate": 1.0, "route_injection": False},
        "target_agreement": 0.9,
        "confidence": 0.9,
        "cascade": ["cheap", "strong"],
        "min_slice": 10_000,
    }
    project.save()
    return project


def route(project, capsys, version=None, audit_rate=0.05) -> str:
    if version is not None:
        project.routing_config["policy"] = {
            "version": version,
            "audit_rate": audit_rate,
            "route_injection": False,
        }
        project.save()
    call_command("route", project="lazy")
    return capsys.readouterr().out


def escalate(capsys, judge="strong") -> dict:
    call_command("judge", project="lazy", judge=judge, escalated=True, json=True)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def waits(out: str) -> tuple[int, int]:
    """(pairs waiting for strong, blind audit pairs without its verdict) from the route report."""
    found = re.search(
        rf"([\d,]+) pairs wait for strong \(the judges before it did not keep them\) and ([\d,]+) blind "
        rf"audit pairs lack its verdict: run `{re.escape(COMMAND)}`, then route again",
        out,
    )
    assert found, out
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


def calibrated_project(tmp_path, capsys):
    """600 pairs all audited (v1), labelled a by humans and judged by strong: the calibration (the
    150 cheap gives up split in two leave enough to certify strong whatever the split)."""
    project = lazy_project()
    add_batch(project, tmp_path, 0, 600)
    first = route(project, capsys)
    assert waits(first) == (0, 600)  # nothing waits; strong's calibration needs the audit judged
    for d in RoutingDecision.objects.filter(policy__version=1):
        HumanLabel.objects.create(pair_id=d.pair_id, annotator="h", choice="a", source="argilla")
    assert escalate(capsys)["judged"] == 1200
    return project


def decisions(version: int) -> dict[int, tuple]:
    rows = RoutingDecision.objects.filter(policy__version=version)
    return {d.pair_id: (d.human, d.blind, d.judges, d.reasons) for d in rows}


def test_the_strong_judge_is_called_only_on_what_the_cheap_one_gave_up(openai_env, tmp_path, capsys):
    project = calibrated_project(tmp_path, capsys)
    new = add_batch(project, tmp_path, 600, 800)
    # cheap keeps its sure verdicts whatever strong would say; its unsure ones wait for strong,
    # and no pair goes to humans before strong was asked (the audit pairs do, at once)
    out = route(project, capsys, version=2)
    v2 = RoutingDecision.objects.filter(policy__version=2)
    unsure = {p.pk for i, p in enumerate(new) if i % 4 == 0}
    waiting = {p.pk for p in new} - set(v2.values_list("pair_id", flat=True))
    assert waiting and waiting <= unsure and waits(out)[0] == len(waiting)
    assert v2.filter(human=True, blind=False).count() == 0
    assert v2.filter(human=False, judges=["cheap"], pair__in=new).count() > 500
    assert "strong judged 600 of 1,400 pairs (43%)" in out

    # --escalated judges exactly the waiting pairs and the new blind audit pairs, both orders each
    blind = set(RoutingDecision.objects.filter(blind=True).values_list("pair_id", flat=True))
    judged_before = set(Judgment.objects.filter(judge="strong").values_list("pair_id", flat=True))
    todo = (waiting | blind) - judged_before
    before = openai_env.calls()
    summary = escalate(capsys)
    assert summary["pairs"] == len(waiting | blind) and summary["judged"] == 2 * len(todo)
    assert openai_env.calls() - before == 2 * len(todo) == summary["calls"] < 800  # eager: 1,600
    judged = set(Judgment.objects.filter(judge="strong").values_list("pair_id", flat=True))
    assert judged - judged_before == todo

    # routing again decides the waiting pairs (strong is certified on them) and draws no new audit
    blind_v2 = v2.filter(blind=True).count()
    again = route(project, capsys)
    assert "wait for" not in again
    assert f"strong judged {len(judged):,} of 1,400 pairs ({len(judged) / 1400:.0%})" in again
    late = RoutingDecision.objects.filter(policy__version=2, pair_id__in=waiting)
    assert late.count() == len(waiting) and all(d.judges == ["strong"] and not d.human for d in late)
    assert v2.filter(blind=True).count() == blind_v2
    assert escalate(capsys)["calls"] == 0  # nothing is left for it


def test_lazy_decisions_equal_the_eager_cascade_once_every_judge_judged(openai_env, tmp_path, capsys):
    """A batch routed lazily under v2, then eagerly under v3 once strong has judged every pair:
    the same decision on every pair, for under half the strong judge's calls; and those are the
    decisions of `assign` without lazy marks (the cascade before it was lazy)."""
    project = calibrated_project(tmp_path, capsys)
    add_batch(project, tmp_path, 600, 800)
    route(project, capsys, version=2)
    calls = openai_env.calls()
    escalate(capsys)
    lazy_calls = openai_env.calls() - calls
    route(project, capsys)
    calls = openai_env.calls()
    call_command("judge", project="lazy", judge="strong", json=True)  # what the eager cascade adds
    eager_calls = openai_env.calls() - calls + lazy_calls
    out = route(project, capsys, version=3)
    assert "strong judged 1,400 of 1,400 pairs (100%)" in out

    lazy, eager = decisions(2), decisions(3)
    assert len(lazy) == 1400 and lazy == eager
    kept = {
        j: sum(1 for human, _, judges, _ in lazy.values() if not human and judges == [j])
        for j in ("cheap", "strong")
    }
    assert kept["cheap"] > 0 and kept["strong"] > 0, (kept, out)
    assert lazy_calls < eager_calls / 2, (lazy_calls, eager_calls, kept)

    config = guarantee.project_guarantee(project)
    cascade = guarantee.Cascade.read(project, ["cheap", "strong"])
    (thresholds, scores), _, lacking = guarantee.calibrate(project, config, cascade)
    assert not lacking  # every judge judged every audited pair: the eager thresholds
    ids = sorted(pid for pid, (_, blind, *_) in eager.items() if not blind)
    first = cascade.stages["cheap"]
    chosen = assign(
        {j: [cascade.calibrated(j, pid, first[pid].slice_key) for pid in ids] for j in ("cheap", "strong")},
        thresholds,
        scores,
    )
    assert [None if eager[pid][0] else eager[pid][2][0] for pid in ids] == chosen


def test_escalated_outside_a_guarantee_cascade_is_a_clear_error(openai_env, tmp_path, capsys):
    project = lazy_project()
    add_batch(project, tmp_path, 0, 40)
    calls = openai_env.calls()
    with pytest.raises(
        CommandError, match=r"has not been routed in guarantee mode yet: run `manage.py route"
    ):
        escalate(capsys)
    route(project, capsys)
    with pytest.raises(
        CommandError, match=r"judge 'smollm2' is not in the project's cascade \['cheap', 'strong'\]"
    ):
        escalate(capsys, judge="smollm2")
    project.routing_config = {"policy": {"version": 9}}
    project.save()
    with pytest.raises(CommandError, match="project 'lazy' is not in guarantee mode"):
        escalate(capsys)
    assert openai_env.calls() == calls


def test_an_escalated_api_job_fans_out_and_each_shard_judges_only_its_scope(
    api, openai_env, tmp_path, capsys, settings, redis_url
):
    """Shards of 10 pairs: each re-derives the escalated scope in its id range, so the pairs cheap
    kept between the waiting ones are never sent to the strong judge."""
    settings.TANDEM_JUDGE_SHARD_PAIRS = 10
    celery_app.conf.update(broker_url=f"{redis_url}/0", task_always_eager=False)  # shards are enqueued
    project = calibrated_project(tmp_path, capsys)
    new = add_batch(project, tmp_path, 600, 80)
    waiting, _ = waits(route(project, capsys, version=2, audit_rate=0.0))
    assert waiting == 20
    calls = openai_env.calls()
    response = api("engineer").post(
        f"/api/projects/{project.pk}/judge/", {"judge": "strong", "escalated": True}, format="json"
    )
    assert response.status_code == 202, response.content
    job = jobs.execute(response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    shards = Job.objects.filter(parent=job)
    assert shards.count() > 1 and all(s.params["escalated"] is True for s in shards)
    assert openai_env.calls() - calls == 2 * waiting == job.result["judged"]
    strong = set(Judgment.objects.filter(judge="strong", pair__in=new).values_list("pair_id", flat=True))
    assert strong == {p.pk for i, p in enumerate(new) if i % 4 == 0}
    assert "wait for" not in route(project, capsys)


def test_the_calibration_comes_first_when_audited_pairs_lack_a_judges_verdict(openai_env, tmp_path, capsys):
    """Audited pairs strong has not judged would be learned as disagreement with cheap, so no
    threshold is learned until strong has judged them: the new pairs wait for the calibration,
    `--escalated` judges the audit only (not the waiting pairs), and the next route decides the
    pairs without drawing them into the audit a second time."""
    project = lazy_project()
    add_batch(project, tmp_path, 0, 600)
    route(project, capsys)
    for d in RoutingDecision.objects.filter(policy__version=1):
        HumanLabel.objects.create(pair_id=d.pair_id, annotator="h", choice="a", source="argilla")
    new = add_batch(project, tmp_path, 600, 800)
    out = route(project, capsys, version=2)
    v2 = RoutingDecision.objects.filter(policy__version=2)
    blind_v2 = set(v2.filter(blind=True).values_list("pair_id", flat=True))
    assert (
        f"{1400 - len(blind_v2):,} pairs wait for the calibration: 600 audited pairs lack strong's verdict"
        in out
    )  # the 600 calibration pairs are undecided under v2 too
    assert "warning" not in out  # no threshold was tried: nothing to warn about yet
    assert len(blind_v2) > 0 and v2.count() == len(blind_v2)  # only the audit is decided
    before = openai_env.calls()
    escalate(capsys)
    audit = set(RoutingDecision.objects.filter(blind=True).values_list("pair_id", flat=True))
    assert len(audit) < 600 + len(blind_v2) < 800  # v2 drew some of v1's audit pairs again
    assert openai_env.calls() - before == 2 * len(audit)  # the audit only, not the pairs that wait
    again = route(project, capsys)
    assert "wait for the calibration" not in again
    assert set(v2.filter(blind=True).values_list("pair_id", flat=True)) == blind_v2  # drawn once
    assert v2.filter(human=False, judges=["cheap"], pair__in=new).count() > 500
