"""Guarantee mode in the platform: calibrate the cascade on the blind audit sample, then decide.

A project is in guarantee mode when its `routing_config` carries `target_agreement` (with
`confidence`, `cascade` and `min_slice`: labeling.guarantee.GuaranteeConfig). The policy still
draws the blind audit sample (its `audit_rate`, `min_audited`, `seed`): that sample is what the
next calibration learns from, so it never stops. Every other pair keeps the label of the first
judge of the cascade whose learned score reaches its calibrated threshold, or goes to humans.
The score hears each judge's own verdict (both orders, calibration map applied), the pair's
slice, how many other judges of the cascade chose the same side, and whether the judge chose the
longer response. The RoutingDecision of a kept pair names that judge, and the blend
(core.datasets) takes that judge's label for it. Budget mode is `routing.route_pairs` without
these keys.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Length

from labeling.guarantee import (
    GUARANTEE_KEYS,
    Calibrated,
    GuaranteeConfig,
    assign,
    calibrate_cascade,
    chose_longer,
    guarantee_text,
    others_agreeing,
    warnings,
)
from labeling.routing import PairSignals, PolicyError, Reason, RoutingPolicy, audit_sample
from labeling.verdicts import confidence, human_majority

from . import routing
from .models import Alert, HumanLabel, Judgment, Pair, Project, RoutingDecision
from .services import ServiceError

log = logging.getLogger(__name__)


def project_guarantee(project: Project) -> GuaranteeConfig | None:
    """The project's guarantee settings, or None in budget mode; ServiceError names a bad key."""
    raw = {k: v for k, v in (project.routing_config or {}).items() if k in GUARANTEE_KEYS}
    if not raw:
        return None
    try:
        return GuaranteeConfig.from_dict(raw)
    except PolicyError as err:
        raise ServiceError(f"routing_config: {err}") from err


def _audited_votes(project: Project) -> dict[int, list[str]]:
    """{pair id: human votes} on the blind audit sample so far (any policy version)."""
    blind = RoutingDecision.objects.filter(pair__project=project, blind=True).values_list(
        "pair_id", flat=True
    )
    votes: dict[int, list[str]] = defaultdict(list)
    for pair_id, choice in HumanLabel.objects.filter(pair_id__in=blind).values_list("pair_id", "choice"):
        votes[pair_id].append(choice)
    return votes


def _stage(project: Project, judge: str) -> dict[int, PairSignals]:
    """One judge's verdict per pair (both orders), its raw confidence: the audit's calibration map
    is fitted on every audited vote, the testing half's too, so a score read through it would
    have seen the labels its threshold is tested on (the learned score calibrates per cell)."""
    return {s.pair_id: s for s in routing.signals(project, [judge])}


@dataclass(frozen=True)
class Cascade:
    """What the cascade's judges said: per judge, its verdict per pair; and each pair's response
    lengths in characters (for the verbosity signal)."""

    stages: dict[str, dict[int, PairSignals]]
    lengths: dict[int, tuple[int, int]]

    @classmethod
    def read(cls, project: Project, judges: list[str]) -> Cascade:
        rows = Pair.objects.filter(project=project).annotate(
            len_a=Length("response_a"), len_b=Length("response_b")
        )
        lengths = {pid: (a, b) for pid, a, b in rows.values_list("id", "len_a", "len_b").iterator()}
        return cls({judge: _stage(project, judge) for judge in judges}, lengths)

    def calibrated(self, judge: str, pair_id: int, slice_key: str, majority=None) -> Calibrated:
        """The pair as `judge` saw it, with how many other judges of the cascade agree and whether
        it chose the longer response; `agrees` compares with the human majority when given."""
        s = self.stages[judge].get(pair_id)
        if s is None:
            return Calibrated(None, False, slice_key)
        others = [
            self.stages[j][pair_id].choice for j in self.stages if j != judge and pair_id in self.stages[j]
        ]
        return Calibrated(
            confidence(s.choice, s.p_a),
            majority is not None and s.choice is not None and s.choice == majority,
            slice_key,
            others_agreeing(s.choice, others),
            chose_longer(s.choice, *self.lengths.get(pair_id, (0, 0))),
        )


def _settings(config: GuaranteeConfig) -> dict:
    """The guarantee settings as the policy version stores them (JSON: lists, not tuples)."""
    return json.loads(json.dumps(asdict(config)))


def _cost_per_pair(project: Project, judges: list[str]) -> dict[str, float]:
    """Mean recorded cost of one judge's calls on a pair (both orders), per judge."""
    out = {}
    for judge in judges:
        rows = Judgment.objects.filter(pair__project=project, judge=judge)
        total = rows.aggregate(total=Sum("cost"))["total"] or 0
        pairs = rows.values("pair_id").distinct().count()
        out[judge] = float(total) / pairs if pairs else 0.0
    return out


def calibrate(project: Project, config: GuaranteeConfig, cascade: Cascade):
    """((thresholds, learned scores) of the cascade, audited pairs), from the blind audit sample's
    human votes; a pair's id decides its half of the audit (learning or testing)."""
    votes = _audited_votes(project)
    first = cascade.stages[next(iter(cascade.stages))]
    audited = sorted(pid for pid in votes if pid in first)
    by_judge = {
        judge: [
            cascade.calibrated(judge, pid, first[pid].slice_key, human_majority(votes[pid]))
            for pid in audited
        ]
        for judge in cascade.stages
    }
    return calibrate_cascade(by_judge, config, keys=[str(pid) for pid in audited]), len(audited)


def route_with_guarantee(project: Project, policy: RoutingPolicy, config: GuaranteeConfig) -> dict:
    """Decide every judged pair without a decision under this policy version; returns the
    report: the guarantee, each threshold, coverage, cost per label and warnings."""
    judges = routing.project_judges(project, list(config.cascade) or None)[: len(config.cascade) or 1]
    version = routing.policy_version(project, policy, _settings(config))
    cascade = Cascade.read(project, judges)
    (thresholds, scores), n_audited = calibrate(project, config, cascade)
    decided = set(RoutingDecision.objects.filter(policy=version).values_list("pair_id", flat=True))
    pending = [s for pid, s in sorted(cascade.stages[judges[0]].items()) if pid not in decided]
    blind = audit_sample(pending, policy.audit_rate, policy.seed)
    kept = assign(
        {j: [cascade.calibrated(j, s.pair_id, s.slice_key) for s in pending] for j in judges},
        thresholds,
        scores,
    )
    decisions = []
    for s, judge in zip(pending, kept, strict=True):
        audit = s.pair_id in blind
        human = audit or judge is None
        reasons = [Reason.AUDIT if audit else Reason.UNCERTIFIED if judge is None else Reason.CERTIFIED]
        decisions.append(
            RoutingDecision(
                pair_id=s.pair_id,
                policy=version,
                judges=judges if human else [judge],
                human=human,
                reasons=[r.value for r in reasons],
                blind=audit,
            )
        )
    notes = warnings(thresholds, config)
    with transaction.atomic():
        RoutingDecision.objects.bulk_create(decisions, batch_size=1000)
        for message in notes:
            Alert.objects.create(project=project, kind="guarantee", message=message, data={"judges": judges})
    for message in notes:
        log.warning("project %s: %s", project.name, message)
    return _report(project, policy, config, judges, decisions, thresholds, n_audited, len(decided), notes)


def _report(project, policy, config, judges, decisions, thresholds, n_audited, before, notes) -> dict:
    by_judge = {j: sum(1 for d in decisions if not d.human and d.judges == [j]) for j in judges}
    human = sum(d.human for d in decisions)
    # Every judge of the cascade has judged every pair before routing (running the strong judge
    # only on what the cheap one gave up is not wired yet): the cost is what was spent.
    judged = sum(_cost_per_pair(project, judges).values()) * len(decisions)
    spent = judged + human * policy.price_per_label
    by_reason = defaultdict(int)
    for d in decisions:
        for reason in d.reasons:
            by_reason[reason] += 1
    return {
        "mode": "guarantee",
        "policy_version": policy.version,
        "judges": judges,
        "guarantee": guarantee_text(config),
        "audited": n_audited,
        "thresholds": [asdict(t) for t in thresholds],
        "pairs": len(decisions),
        "already_decided": before,
        "human": human,
        "ai_only": len(decisions) - human,
        "kept_by_judge": by_judge,
        "coverage": (len(decisions) - human) / len(decisions) if decisions else 0.0,
        "cost_per_label": spent / len(decisions) if decisions else 0.0,
        "over_budget": 0,
        "routed_by_reason": dict(by_reason),
        "alerts": notes,
        "warnings": notes,
        "injection": {},
    }
