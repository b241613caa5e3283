"""The routing policy on its own: reasons, the audit sample, the budget, reproducibility."""

from __future__ import annotations

import random
import re

import pytest

from labeling.records import Choice
from labeling.routing import PairSignals, PolicyError, Reason, RoutingPolicy, audit_sample, route
from labeling.routing_replay import ReplayItem, replay


def signals(n=1000, seed=1):
    rng = random.Random(seed)
    return [
        PairSignals(
            i,
            category=rng.choice(["math", "chat", "code"]),
            p_a=rng.random(),
            flipped=rng.random() < 0.1,
            failed=rng.random() < 0.02,
        )
        for i in range(n)
    ]


def test_every_applicable_reason_is_given():
    policy = RoutingPolicy(uncertainty=0.1, high_stakes=("medical",), audit_rate=0.0, disagreement=0.3)
    s = PairSignals(7, "medical", p_a=0.55, flipped=True, failed=True, spread=0.4)
    (decision,), _ = route([s], policy)
    assert decision.human
    assert set(decision.reasons) == {
        Reason.HIGH_STAKES,
        Reason.ERROR,
        Reason.FLIP,
        Reason.DISAGREE,
        Reason.UNCERTAIN,
    }
    confident = PairSignals(8, "chat", p_a=0.97)
    (decision,), _ = route([confident], policy)
    assert (decision.human, decision.reasons) == (False, ())


def test_same_inputs_and_seed_give_the_same_decisions_and_another_seed_another_sample():
    policy = RoutingPolicy(audit_rate=0.1, seed=3)
    first, _ = route(signals(), policy)
    again, _ = route(list(reversed(signals())), policy)
    assert {d.pair_id: d for d in first} == {d.pair_id: d for d in again}
    other, _ = route(signals(), RoutingPolicy(audit_rate=0.1, seed=4))
    assert {d.pair_id for d in first if d.blind} != {d.pair_id for d in other if d.blind}


def test_audit_sample_is_stratified_by_category():
    data = [PairSignals(i, category="big" if i < 900 else "small", p_a=0.9) for i in range(1000)]
    chosen = audit_sample(data, 0.1, seed=0)
    assert sum(1 for i in chosen if i < 900) == 90
    assert sum(1 for i in chosen if i >= 900) == 10


def test_budget_caps_the_queue_by_priority_and_never_drops_audit_items():
    policy = RoutingPolicy(audit_rate=0.05, uncertainty=0.2, budget_items=100, seed=0)
    decisions, summary = route(signals(), policy)
    audit = [d for d in decisions if Reason.AUDIT in d.reasons]
    assert audit and all(d.human and d.blind for d in audit)
    assert summary.human == 100
    assert summary.over_budget == sum(1 for d in decisions if d.reasons and not d.human)
    admitted = [d for d in decisions if d.human and not d.blind]
    dropped = [d for d in decisions if d.over_budget]
    assert min(d.priority for d in admitted) >= max(d.priority for d in dropped)
    assert all(Reason.ERROR in d.reasons or Reason.FLIP in d.reasons for d in admitted[:10])


def test_money_budget_buys_whole_labels():
    policy = RoutingPolicy(audit_rate=0.0, uncertainty=0.5, budget_money=10.0, price_per_label=0.75)
    _, summary = route(signals(100), policy)
    assert summary.human == 13


def test_audit_items_alone_can_exceed_the_budget():
    _, summary = route(
        signals(),
        RoutingPolicy(
            audit_rate=0.2, uncertainty=0.0, route_flips=False, route_errors=False, budget_items=10
        ),
    )
    assert summary.human == 200 and summary.by_reason == {"audit": 200}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"uncertainity": 0.1}, "routing policy.uncertainity: unknown key (did you mean 'uncertainty'?)"),
        ({"high_stakes": "medical"}, "routing policy.high_stakes: expected list of string"),
        ({"audit_rate": 2}, "'audit_rate' is 2"),
        ({"budget_money": 5}, "price_per_label"),
    ],
)
def test_bad_policies_name_the_key(raw, message):
    with pytest.raises(PolicyError, match=re.escape(message)):
        RoutingPolicy.from_dict(raw)


def test_replay_shows_routing_flips_beats_random_routing():
    """A judge that is wrong exactly where it flips: routing flips removes its errors."""
    rng = random.Random(0)
    items = []
    for i in range(400):
        flipped = rng.random() < 0.2
        gold = rng.choice([Choice.A, Choice.B])
        wrong = Choice.B if gold is Choice.A else Choice.A
        items.append(
            ReplayItem(PairSignals(i, p_a=0.9, flipped=flipped), wrong if flipped else gold, (gold,))
        )
    (row,) = replay(items, [RoutingPolicy(uncertainty=0.0, audit_rate=0.0)])
    assert row.errors_removed == pytest.approx(1.0)
    assert row.accuracy == pytest.approx(1.0)
    assert row.random_errors_removed == pytest.approx(row.human_share, abs=0.05)
    assert row.gain_over_random > 3


def test_leave_one_annotator_out_uses_the_others_majority():
    item = ReplayItem(PairSignals(1, p_a=0.9, flipped=True), Choice.A, (Choice.A, Choice.A, Choice.B))
    (routed,) = replay([item], [RoutingPolicy(uncertainty=0.0, audit_rate=0.0)])
    # held out A: others A,B -> tie (wrong); held out A: tie (wrong); held out B: others A,A -> A (wrong)
    assert routed.accuracy == pytest.approx(0.0)
    assert routed.ai_only_accuracy == pytest.approx(2 / 3)


def test_an_unreliable_slice_is_escalated_wholesale_with_an_alert():
    from labeling.routing import SliceAudit

    data = [PairSignals(i, category="adv" if i < 50 else "easy", p_a=0.95) for i in range(100)]
    audits = {"adv": SliceAudit("adv", 10, 1), "easy": SliceAudit("easy", 10, 10)}
    policy = RoutingPolicy(audit_rate=0.0, escalation_bar=0.6)
    decisions, summary = route(data, policy, audits, judge="llmbar:ChatGPT")
    escalated = {d.pair_id for d in decisions if Reason.ESCALATED in d.reasons}
    assert escalated == set(range(50)) and all(d.human for d in decisions if d.pair_id < 50)
    assert not any(d.human for d in decisions if d.pair_id >= 50)
    assert summary.alerts == [
        "llmbar:ChatGPT is unreliable on slice 'adv': audited accuracy 10% [2%, 40%] on 10 items"
    ]


def test_a_slice_with_too_few_audited_items_gets_more_audit_items():
    from labeling.routing import SliceAudit

    data = [PairSignals(i, category="new", p_a=0.95) for i in range(100)]
    decisions, _ = route(
        data, RoutingPolicy(audit_rate=0.01, min_audited=12), {"new": SliceAudit("new", 2, 2)}
    )
    assert sum(d.blind for d in decisions) == 10  # topped up from 2 audited to 12


def test_in_a_worse_than_chance_slice_flips_then_confident_verdicts_go_first():
    from labeling.routing import SliceAudit

    data = [PairSignals(0, p_a=0.5, flipped=True), PairSignals(1, p_a=0.99), PairSignals(2, p_a=0.6)]
    policy = RoutingPolicy(audit_rate=0.0, escalation_bar=0.6, budget_items=2)
    decisions, _ = route(data, policy, {"": SliceAudit("", 12, 2)})
    assert [d.pair_id for d in decisions if d.human] == [0, 1]


def test_fill_budget_spends_what_the_reasons_leave_on_the_least_confident():
    data = [PairSignals(i, p_a=0.5 + i / 200) for i in range(100)]  # p from 0.5 to 0.995
    decisions, summary = route(
        data, RoutingPolicy(audit_rate=0.0, uncertainty=0.01, budget_items=10, fill_budget=True)
    )
    assert summary.human == 10 and summary.over_budget == 0
    assert {d.pair_id for d in decisions if d.human} == set(range(10))
    assert summary.by_reason == {"uncertain": 2, "budget_fill": 8}


def hard_items(seed=0):
    """Recorded-style hard verdicts: an easy slice where the judge errs only where it flips, and
    an adversarial slice where it is consistently (confidently) wrong."""
    rng = random.Random(seed)
    items = []
    for i in range(600):
        adv = i >= 400
        flipped = not adv and rng.random() < 0.1
        gold = rng.choice([Choice.A, Choice.B])
        wrong = Choice.B if gold is Choice.A else Choice.A
        ai = Choice.TIE if flipped else wrong if adv and rng.random() < 0.9 else gold
        p_a = 0.5 if flipped else 1.0 if ai is Choice.A else 0.0
        signals = PairSignals(i, category="adv" if adv else "easy", p_a=p_a, flipped=flipped, choice=ai)
        items.append(ReplayItem(signals, ai, (gold,)))
    return items


@pytest.mark.parametrize("budget", [0.1, 0.2, 0.3])
def test_budget_routing_with_escalation_never_removes_fewer_errors_than_uncertainty_routing(budget):
    from labeling.routing_replay import budget_replay

    items = hard_items()
    for seed in range(8):
        plain = budget_replay(items, budget, "uncertainty", seed=seed)[2]
        escalated = budget_replay(items, budget, "escalation", seed=seed)[2]
        assert escalated >= plain
    if budget >= 0.2:  # room after the flips for the audit to find the adversarial slice
        assert (
            budget_replay(items, budget, "escalation")[2]
            > budget_replay(items, budget, "uncertainty")[2] + 0.1
        )


def test_on_one_slice_the_audit_is_drawn_where_uncertainty_routing_breaks_ties():
    from labeling.routing_replay import escalation_routing, uncertainty_queue

    items = [item for item in hard_items() if item.signals.category == "easy"]
    for seed in range(5):
        assert escalation_routing(items, 80, seed) == set(uncertainty_queue(items, seed, 0.1)[:80])


def test_a_plan_fed_in_chunks_decides_exactly_as_route_on_the_whole_list():
    from labeling.routing import RoutingPlan, SliceAudit

    data = signals(3000, seed=5)
    audits = {"math": SliceAudit("math", 40, 18), "code": SliceAudit("code", 2, 2)}
    for policy in (
        RoutingPolicy(audit_rate=0.05, budget_items=200, escalation_bar=0.8, min_audited=10, seed=2),
        RoutingPolicy(audit_rate=0.1, budget_items=900, fill_budget=True, uncertainty=0.05),
        RoutingPolicy(audit_rate=0.02, high_stakes=("chat",)),
    ):
        whole, summary = route(data, policy, audits)
        plan = RoutingPlan(policy, audits)
        for start in range(0, len(data), 97):
            plan.add(data[start : start + 97])
        plan.settle()
        chunked = [d for start in range(0, len(data), 211) for d in plan.decisions(start, start + 211)]
        assert chunked == whole
        assert plan.summary == summary
        assert summary.human == sum(d.human for d in whole) > 0
    with pytest.raises(RuntimeError, match="settled"):
        plan.add(data[:1])
