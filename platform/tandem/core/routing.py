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
from typing import TYPE_CHECKING

from django.db import transaction

from labeling.injection import detector_version
from labeling.injection_pool import scan_pairs_shared
from labeling.records import Choice
from labeling.routing import PairSignals, PolicyError, RoutingPlan, RoutingPolicy, SliceAudit
from labeling.routing_replay import ReplayItem, ReplayRow, default_grid, replay
from labeling.verdicts import human_majority

from .errors import Cancelled, ConfigInvalid, Conflict, NotFound, NotReady
from .gold import gold_decisions
from .models import (
    Alert,
    HumanLabel,
    Pair,
    Project,
    RoutingDecision,
    RoutingPolicyVersion,
)
from .selectors import calibrated, project_judges, signal_chunks, signals

if TYPE_CHECKING:
    from .services import Progress, ShouldCancel

log = logging.getLogger(__name__)


def project_policy(project: Project, path: str | None = None) -> RoutingPolicy:
    """The policy in `path`, else the project's `routing_config["policy"]`; raises ConfigInvalid."""
    try:
        if path:
            return RoutingPolicy.from_file(Path(path))
        return RoutingPolicy.from_dict((project.routing_config or {}).get("policy", {}))
    except (PolicyError, OSError) as err:
        raise ConfigInvalid(err, _policy_key(err, "routing_config.policy")) from err


POLICY_WHERE = "routing policy"  # how RoutingPolicy.from_dict names the policy in its errors' keys


def _policy_key(err: Exception, where: str) -> str:
    """The dotted key a PolicyError is about (its cause, a typed_config.ConfigError, names it)."""
    key = getattr(err.__cause__, "key", "").removeprefix(POLICY_WHERE).lstrip(".")
    return f"{where}.{key}" if key else where


def resolve_policy(project: Project, policy: dict | None = None, version: int | None = None) -> RoutingPolicy:
    """The policy a route job applies: a stored version (re-applied as it was), an inline policy,
    or the project's. Raises NotFound for an unknown version, ConfigInvalid naming the bad key."""
    if version is not None:
        stored = RoutingPolicyVersion.objects.filter(project=project, version=version).first()
        if stored is None:
            known = list(project.routing_policies.order_by("version").values_list("version", flat=True))
            raise NotFound(
                f"project '{project.name}' has no routing policy version {version}; versions: {known}"
            )
        return stored_policy(stored.policy)
    if policy is None:
        return project_policy(project)
    if not isinstance(policy, dict):
        raise ConfigInvalid("the routing policy must be a JSON object", "policy")
    try:
        return RoutingPolicy.from_dict(policy)
    except PolicyError as err:
        raise ConfigInvalid(err, _policy_key(err, "policy")) from err


GUARANTEE_KEY = "guarantee"  # a stored version's guarantee settings, beside the policy's own keys


def stored_policy(stored: dict) -> RoutingPolicy:
    """The RoutingPolicy of a stored version's settings (its guarantee settings set aside)."""
    return RoutingPolicy.from_dict({k: v for k, v in stored.items() if k != GUARANTEE_KEY})


def _same_policy(stored: dict, policy: RoutingPolicy, guarantee: dict | None = None) -> bool:
    """A stored policy read with today's defaults (a key added since, e.g. `route_injection`,
    takes its default) equals `policy`, in the same mode: new policy options do not break old
    versions, and a version decided in budget mode is never reused in guarantee mode (or with
    another target), whose decisions the dataset takes as certified."""
    try:
        return stored_policy(stored) == policy and stored.get(GUARANTEE_KEY) == guarantee
    except PolicyError:
        return False


def policy_version(
    project: Project, policy: RoutingPolicy, guarantee: dict | None = None
) -> RoutingPolicyVersion:
    """The stored version of `policy` (with `guarantee`, guarantee mode's settings, or None in
    budget mode); Conflict when that version number was used with other settings."""
    settings = {**policy.as_dict(), **({GUARANTEE_KEY: guarantee} if guarantee else {})}
    stored, created = RoutingPolicyVersion.objects.get_or_create(
        project=project, version=policy.version, defaults={"policy": settings}
    )
    if not created and not _same_policy(stored.policy, policy, guarantee):
        raise Conflict(
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


def audit_signals(project: Project, judges: list[str]) -> list[PairSignals]:
    """The calibrated signals of the blind audit sample's labelled pairs: all `slice_audits`
    reads, so routing need not hold every pair's signals to compute them."""
    voted = HumanLabel.objects.filter(pair__project=project).values("pair_id")
    blind = RoutingDecision.objects.filter(pair__project=project, blind=True, pair_id__in=voted)
    ids = sorted(set(blind.values_list("pair_id", flat=True)))
    return calibrated(project, judges, signals(project, judges, ids)) if ids else []


def injection_flags(pair_ids: list[int], chunk: int = 2000) -> dict[int, str]:
    """{pair id: the detector's reason} for the pairs whose responses address the judge.

    Run on the pairs being decided only, not in `signals`, which exports and Argilla pushes call
    too and which need no response text. Each pair's result is stored on it (`injection_scan`,
    with the detector's version) as soon as it is known, so another policy version, or a run
    resumed after a cancel or a crash, reads it instead of scanning again."""
    detector = detector_version()
    flags = {}
    for start in range(0, len(pair_ids), chunk):
        ids = pair_ids[start : start + chunk]
        scans = dict(Pair.objects.filter(pk__in=ids).values_list("pk", "injection_scan"))
        stale = [pk for pk, scan in scans.items() if not scan or scan.get("detector") != detector]
        scans.update(_scan(stale, detector))
        flags.update((pk, scans[pk]["reason"]) for pk in ids if scans[pk]["reason"])
    return flags


def _scan(pair_ids: list[int], detector: str) -> dict[int, dict]:
    """Scan the pairs' responses (a text repeated across pairs once; half of a large chunk in a
    helper process, labeling.injection_pool) and store each result."""
    if not pair_ids:
        return {}
    rows = list(Pair.objects.filter(pk__in=pair_ids).values_list("pk", "response_a", "response_b"))
    reasons = scan_pairs_shared([(response_a, response_b) for _, response_a, response_b in rows])
    scans = {
        pk: {"detector": detector, "reason": reason} for (pk, _, _), reason in zip(rows, reasons, strict=True)
    }
    Pair.objects.bulk_update(
        [Pair(pk=pk, injection_scan=scan) for pk, scan in scans.items()], ["injection_scan"], batch_size=500
    )
    return scans


def injection_alert(project: Project, policy: RoutingPolicy, flags: dict[int, str]) -> None:
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


CHUNK = 2000  # pairs read, scanned and written per round trip: memory is a chunk's, not the project's


def route_pairs(
    project: Project,
    policy: RoutingPolicy,
    judges: list[str] | None = None,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    chunk: int = CHUNK,
) -> dict:
    """Decide every judged pair without a decision under this policy version; returns counts.

    Gold pairs (core.gold) go to humans under this version too, outside the budget; the result
    counts them under `gold`. The blind audit sample's labels so far drive escalation: a slice
    whose audited accuracy cannot reach `escalation_bar` goes to humans wholesale and raises an
    Alert. A project whose routing_config sets `target_agreement` is routed in guarantee mode
    (core.guarantee) instead.

    Streams: the pending pairs are read `chunk` at a time into a RoutingPlan (labeling.routing),
    which keeps a few numbers per pair, and its decisions are written a chunk at a time, all in
    one transaction. Raises Cancelled (nothing written) when `should_cancel` says so.
    """
    from .guarantee import project_guarantee, route_with_guarantee  # it builds on this module

    config = project_guarantee(project)
    if config is not None:
        return route_with_guarantee(project, policy, config)
    judges = project_judges(project, judges)
    version = policy_version(project, policy)
    already = RoutingDecision.objects.filter(policy=version).count()
    gold = gold_decisions(project, version)  # outside the plan and its budget, like audit items
    plan = RoutingPlan(policy, slice_audits(project, audit_signals(project, judges)), judge=", ".join(judges))
    flags = _stage(project, judges, version, plan, chunk, progress, should_cancel)
    plan.settle()
    for message in plan.alerts.values():
        log.warning("project %s: %s", project.name, message)
        Alert.objects.create(
            project=project,
            kind="escalation",
            message=message,
            data={"policy_version": policy.version, "judges": judges},
        )
    if flags:
        injection_alert(project, policy, flags)
    with transaction.atomic():
        for start in range(0, len(plan), chunk):
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
                    for d in plan.decisions(start, start + chunk)
                ],
                batch_size=1000,
            )
    summary = plan.summary
    return {
        "policy_version": policy.version,
        "judges": judges,
        "pairs": summary.pairs,
        "already_decided": already,
        "human": summary.human,
        "ai_only": summary.ai_only,
        "over_budget": summary.over_budget,
        "routed_by_reason": summary.by_reason,
        "alerts": summary.alerts,
        "injection": {str(k): v for k, v in sorted(flags.items())},
        "gold": gold,
    }


def _stage(
    project, judges, version, plan: RoutingPlan, chunk: int, progress, should_cancel
) -> dict[int, str]:
    """Add every pending pair to `plan`, a chunk at a time, scanning its responses for injection
    when the policy routes on it; returns the flagged pairs' reasons."""
    flags: dict[int, str] = {}
    total = Pair.objects.filter(project=project).count()
    for pending in signal_chunks(project, judges, chunk, skip_policy=version):
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"routing cancelled after {len(plan)} pairs; nothing was decided")
        found = injection_flags([s.pair_id for s in pending]) if plan.policy.route_injection else {}
        flags.update(found)
        plan.add(replace(s, injection=found.get(s.pair_id, "")) for s in pending)
        if progress is not None:
            progress(len(plan), total)
    return flags


def replay_items(project: Project, judges: list[str]) -> list[ReplayItem]:
    """The project's judged pairs that have human votes, for routing replay."""
    votes: dict[int, list[Choice]] = defaultdict(list)
    for pair_id, choice in HumanLabel.objects.filter(pair__project=project).values_list("pair_id", "choice"):
        votes[pair_id].append(Choice(choice))
    # Calibrated as route_pairs sees them, so a replayed threshold routes what routing would.
    return [
        ReplayItem(s, s.choice, tuple(votes[s.pair_id]))
        for s in calibrated(project, judges, signals(project, judges))
        if votes.get(s.pair_id)
    ]


def replay_table(project: Project, judges: list[str] | None = None) -> tuple[list[ReplayRow], int, list[str]]:
    """The replay of the default threshold grid on the project's human-labelled pairs (what
    `route --replay` prints and the routing page charts): (rows, labelled pairs, judges).
    Raises NotReady when no judged pair has a human label yet."""
    judges = project_judges(project, judges)
    items = replay_items(project, judges) if judges else []
    if not items:
        raise NotReady(
            f"no judged pair of project '{project.name}' has a human label yet: the replay needs "
            "labelled pairs (import labels, or review in Argilla)"
        )
    return replay(items, default_grid()), len(items), judges


def policy_with(project: Project, **thresholds) -> RoutingPolicy:
    """The project's policy with the thresholds picked (from the replay), under the stored version
    that has exactly these settings, else under a new one (a stored version never changes).
    Raises ConfigInvalid naming a threshold out of range."""
    base = project_policy(project)
    try:
        picked = replace(base, **thresholds)
    except PolicyError as err:
        raise ConfigInvalid(err, _policy_key(err, "policy")) from err
    if picked == base:
        return base  # the project's own policy, under its own version
    stored = list(RoutingPolicyVersion.objects.filter(project=project).order_by("version"))
    for version in stored:
        if _same_policy(version.policy, replace(picked, version=version.version)):
            return replace(picked, version=version.version)
    # Above the project's own version too, stored or not: that number belongs to its settings.
    newest = max([v.version for v in stored] + [base.version])
    return replace(picked, version=newest + 1)


def pairs_for_humans(project: Project, version: int):
    return Pair.objects.filter(
        routing_decisions__policy__project=project,
        routing_decisions__policy__version=version,
        routing_decisions__human=True,
    )
