"""The routing service: turn a project's judgments into routing signals and decisions.

The policy lives in the project's `routing_config["policy"]` (or a file); the judges routed on
in `routing_config["judges"]` (default: every non-replay judge, else every judge). Each run
decides only the judged pairs that have no decision under the current policy version, so
re-running after new pairs arrive never re-draws the audit sample of pairs already decided.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from django.db import transaction

from labeling.injection import scan_pair
from labeling.records import Choice
from labeling.routing import PairSignals, PolicyError, RoutingPolicy, SliceAudit, route
from labeling.routing_replay import ReplayItem
from labeling.verdicts import PairVerdict, human_majority, pair_verdict

from .models import (
    Alert,
    AuditReport,
    HumanLabel,
    Judgment,
    Pair,
    Project,
    RoutingDecision,
    RoutingPolicyVersion,
)
from .services import ServiceError

log = logging.getLogger(__name__)


def project_policy(project: Project, path: str | None = None) -> RoutingPolicy:
    try:
        if path:
            return RoutingPolicy.from_file(Path(path))
        return RoutingPolicy.from_dict((project.routing_config or {}).get("policy", {}))
    except (PolicyError, OSError) as err:
        raise ServiceError(str(err)) from err


def project_judges(project: Project, judges: list[str] | None = None) -> list[str]:
    names = judges or (project.routing_config or {}).get("judges")
    found = list(Judgment.objects.filter(pair__project=project).values_list("judge", flat=True).distinct())
    if names:
        missing = sorted(set(names) - set(found))
        if missing:
            raise ServiceError(f"no judgments from {missing}; judges with judgments: {sorted(found)}")
        return list(names)
    own = sorted(
        set(
            Judgment.objects.filter(pair__project=project)
            .exclude(backend="replay")
            .values_list("judge", flat=True)
        )
    )
    if not (own or found):
        raise ServiceError(f"project '{project.name}' has no judgments yet: run `manage.py judge` first")
    return own or sorted(set(found))


def signals(project: Project, judges: list[str]) -> list[PairSignals]:
    """One PairSignals per pair judged (in both orders, or failed) by every judge in `judges`."""
    rows = Judgment.objects.filter(pair__project=project, judge__in=judges).values_list(
        "pair_id", "pair__category", "judge", "order", "status", "p_first", "choice", "detail"
    )
    per_pair: dict[int, dict] = defaultdict(lambda: {"category": "", "judges": defaultdict(dict)})
    for pair_id, category, judge, order, status, p_first, choice, detail in rows.iterator():
        entry = per_pair[pair_id]
        entry["category"] = category
        entry["judges"][judge][order] = (status, p_first, choice, detail or {})
    out = []
    for pair_id in sorted(per_pair):
        entry = per_pair[pair_id]
        if set(entry["judges"]) != set(judges):
            continue  # not judged by every judge yet
        out.append(_pair_signals(pair_id, entry["category"], [entry["judges"][j] for j in judges]))
    return out


def _pair_signals(pair_id: int, category: str, per_judge: list[dict]) -> PairSignals:
    """The first judge's verdict (`labeling.verdicts`), any judge's flip, and the judges' spread."""
    verdicts, failed = [], False
    for orders in per_judge:
        ok = {o: v for o, v in orders.items() if v[0] == Judgment.Status.OK}
        failed |= len(ok) < len(orders) or not ok
        verdicts.append(_verdict(ok))
    first = verdicts[0]
    p_values = [v.p_a for v in verdicts if v.p_a is not None]
    spread = max(p_values) - min(p_values) if len(p_values) > 1 else None
    flipped = any(v.flipped for v in verdicts)
    return PairSignals(
        pair_id, category, p_a=first.p_a, flipped=flipped, failed=failed, spread=spread, choice=first.choice
    )


def _verdict(ok: dict) -> PairVerdict:
    """One judge's verdict from its usable orders: {order: (status, p_first, choice, detail)}."""
    ab, ba = ok.get("ab"), ok.get("ba")
    return pair_verdict(
        ab[2] or None if ab else None,
        ba[2] or None if ba else None,
        ab[1] if ab else None,
        ba[1] if ba else None,
        orders_disagree=any(bool(v[3].get("orders_disagreed")) for v in ok.values()),
    )


def _same_policy(stored: dict, policy: RoutingPolicy) -> bool:
    """A stored policy read with today's defaults (a key added since, e.g. `route_injection`,
    takes its default) equals `policy`: new policy options do not break old versions."""
    try:
        return RoutingPolicy.from_dict(stored) == policy
    except PolicyError:
        return False


def policy_version(project: Project, policy: RoutingPolicy) -> RoutingPolicyVersion:
    stored, created = RoutingPolicyVersion.objects.get_or_create(
        project=project, version=policy.version, defaults={"policy": policy.as_dict()}
    )
    if not created and not _same_policy(stored.policy, policy):
        raise ServiceError(
            f"routing policy version {policy.version} was already used with different settings "
            f"({stored.policy}); give the changed policy a new 'version'"
        )
    return stored


def slice_audits(project: Project, judged: list[PairSignals]) -> dict[str, SliceAudit]:
    """Agreement of the judge with humans on the blind audit sample so far, per slice: a pair
    counts as correct when the AI's choice (`labeling.verdicts`, a flip being a tie) equals the
    human majority, the same choice the audit report scores."""
    blind = set(
        RoutingDecision.objects.filter(pair__project=project, blind=True).values_list("pair_id", flat=True)
    )
    votes: dict[int, list[str]] = defaultdict(list)
    for pair_id, choice in HumanLabel.objects.filter(pair_id__in=blind).values_list("pair_id", "choice"):
        votes[pair_id].append(choice)
    tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in judged:
        if s.pair_id in votes:
            tallies[s.slice_key][0] += 1
            tallies[s.slice_key][1] += s.choice is not None and s.choice == human_majority(votes[s.pair_id])
    return {key: SliceAudit(key, n, correct) for key, (n, correct) in tallies.items()}


def calibrated(project: Project, judges: list[str], judged: list[PairSignals]) -> list[PairSignals]:
    """Signals with p(a) mapped through the latest audit's calibration map of the (first) judge,
    so routing thresholds mean calibrated confidence; unchanged where no map was fitted."""
    from audits import apply_calibration

    report = AuditReport.objects.filter(project=project, judge=judges[0], calibration__isnull=False).first()
    if report is None:
        return judged
    known = [s for s in judged if s.p_a is not None]
    mapped = apply_calibration(report.calibration, [s.p_a for s in known]) if known else []
    by_pair = {s.pair_id: float(p) for s, p in zip(known, mapped, strict=True)}
    return [replace(s, p_a=by_pair[s.pair_id]) if s.pair_id in by_pair else s for s in judged]


def injection_flags(pair_ids: list[int], chunk: int = 2000) -> dict[int, str]:
    """{pair id: the detector's reason} for the pairs whose responses address the judge.

    Run on the pairs being decided only (each pair once per policy version), not in `signals`,
    which exports and Argilla pushes call too and which need no response text."""
    flags = {}
    for start in range(0, len(pair_ids), chunk):
        rows = Pair.objects.filter(pk__in=pair_ids[start : start + chunk]).values_list(
            "pk", "response_a", "response_b"
        )
        for pair_id, response_a, response_b in rows.iterator():
            reason = scan_pair(response_a, response_b)
            if reason:
                flags[pair_id] = reason
    return flags


def _injection_alert(project: Project, policy: RoutingPolicy, flags: dict[int, str]) -> None:
    """One alert per routing run that flagged pairs, with every pair's reason in its data."""
    first = min(flags)
    message = (
        f"{len(flags)} pair(s) routed to human review because a response addresses the judge "
        f"(prompt injection), e.g. pair {first}: {flags[first]}"
    )
    log.warning("project %s: %s", project.name, message)
    Alert.objects.create(
        project=project,
        kind="injection",
        message=message,
        data={"policy_version": policy.version, "pairs": {str(k): v for k, v in sorted(flags.items())}},
    )


def route_pairs(project: Project, policy: RoutingPolicy, judges: list[str] | None = None) -> dict:
    """Decide every judged pair without a decision under this policy version; returns counts.

    The blind audit sample's labels so far drive escalation: a slice whose audited accuracy
    cannot reach `escalation_bar` goes to humans wholesale and raises an Alert. A project whose
    routing_config sets `target_agreement` is routed in guarantee mode (core.guarantee) instead.
    """
    from .guarantee import project_guarantee, route_with_guarantee  # it builds on this module

    config = project_guarantee(project)
    if config is not None:
        return route_with_guarantee(project, policy, config)
    judges = project_judges(project, judges)
    version = policy_version(project, policy)
    decided = set(RoutingDecision.objects.filter(policy=version).values_list("pair_id", flat=True))
    judged = calibrated(project, judges, signals(project, judges))
    audits = slice_audits(project, judged)
    pending = [s for s in judged if s.pair_id not in decided]
    flags = injection_flags([s.pair_id for s in pending]) if policy.route_injection else {}
    pending = [replace(s, injection=flags.get(s.pair_id, "")) for s in pending]
    decisions, summary = route(pending, policy, audits, judge=", ".join(judges))
    for message in summary.alerts:
        log.warning("project %s: %s", project.name, message)
        Alert.objects.create(
            project=project,
            kind="escalation",
            message=message,
            data={"policy_version": policy.version, "judges": judges},
        )
    if flags:
        _injection_alert(project, policy, flags)
    with transaction.atomic():
        RoutingDecision.objects.bulk_create(
            [
                RoutingDecision(
                    pair_id=d.pair_id,
                    policy=version,
                    judges=judges,
                    human=d.human,
                    reasons=[r.value for r in d.reasons],
                    priority=d.priority,
                    blind=d.blind,
                    over_budget=d.over_budget,
                )
                for d in decisions
            ],
            batch_size=1000,
        )
    return {
        "policy_version": policy.version,
        "judges": judges,
        "pairs": summary.pairs,
        "already_decided": len(decided),
        "human": summary.human,
        "ai_only": summary.ai_only,
        "over_budget": summary.over_budget,
        "routed_by_reason": summary.by_reason,
        "alerts": summary.alerts,
        "injection": {str(k): v for k, v in sorted(flags.items())},
    }


def replay_items(project: Project, judges: list[str]) -> list[ReplayItem]:
    """The project's judged pairs that have human votes, for routing replay."""
    votes: dict[int, list[Choice]] = defaultdict(list)
    for pair_id, choice in HumanLabel.objects.filter(pair__project=project).values_list("pair_id", "choice"):
        votes[pair_id].append(Choice(choice))
    return [
        ReplayItem(s, s.choice, tuple(votes[s.pair_id]))
        for s in signals(project, judges)
        if votes.get(s.pair_id)
    ]


def pairs_for_humans(project: Project, version: int):
    return Pair.objects.filter(
        routing_decisions__policy__project=project,
        routing_decisions__policy__version=version,
        routing_decisions__human=True,
    )
